//! Durations written with a unit, as scenario files spell them.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// A duration written with a unit: `500ms`, `10s`, `2m`, `1h` (also `1.5s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn parse(s: &str) -> Result<Dur, String> {
        let s = s.trim();
        let split = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        let (num, unit) = s.split_at(split);
        if num.is_empty() {
            return Err(format!(
                "bad duration {s:?}: expected a number and a unit, like 500ms, 10s or 2m"
            ));
        }
        let n: f64 = num
            .parse()
            .map_err(|_| format!("bad duration {s:?}: {num:?} is not a number"))?;
        let mult = match unit.trim() {
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "" => {
                return Err(format!(
                    "bad duration {s:?}: a unit is required (ms, s, m, h)"
                ))
            }
            u => {
                return Err(format!(
                    "bad duration {s:?}: unknown unit {u:?} (use ms, s, m or h)"
                ))
            }
        };
        let secs = n * mult;
        if !secs.is_finite() || secs > 1e9 {
            return Err(format!("bad duration {s:?}: out of range"));
        }
        Ok(Dur(Duration::from_secs_f64(secs)))
    }
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms % 60_000 == 0 && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms % 1000 == 0 {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, like 500ms, 10s or 2m")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                Dur::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s or {v}ms)"
                )))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s or {v}ms)"
                )))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "bad duration {v}: a unit is required (like {v}s)"
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A signed duration (`+30s`, `-2m`, `500ms`), for clock offsets; kept in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offset(pub i64);

impl Offset {
    pub fn parse(s: &str) -> Result<Offset, String> {
        let t = s.trim();
        let (neg, rest) = match t.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let d = Dur::parse(rest)?;
        let ms = i64::try_from(d.0.as_millis()).map_err(|_| format!("offset {s} is too large"))?;
        Ok(Offset(if neg { -ms } else { ms }))
    }
}

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "+" };
        write!(
            f,
            "{sign}{}",
            Dur(Duration::from_millis(self.0.unsigned_abs()))
        )
    }
}

impl Serialize for Offset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Offset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Offset, D::Error> {
        let s = String::deserialize(d)
            .map_err(|_| de::Error::custom("a signed duration with a unit, like +30s or -2m"))?;
        Offset::parse(&s).map_err(de::Error::custom)
    }
}

/// A percentage (`10%`, or a bare number of percent), 0–100.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percent(pub f64);

impl Percent {
    pub fn parse(s: &str) -> Result<Percent, String> {
        let t = s.trim();
        let n = t.strip_suffix('%').unwrap_or(t).trim();
        let v: f64 = n
            .parse()
            .map_err(|_| format!("bad percentage {s:?} (like 10% or 0.5%)"))?;
        if !(0.0..=100.0).contains(&v) {
            return Err(format!("percentage {s} is not within 0%–100%"));
        }
        Ok(Percent(v))
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

impl Serialize for Percent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Percent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Percent, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Percent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a percentage like 10%")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Percent, E> {
                Percent::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Percent, E> {
                Percent::parse(&v.to_string()).map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Dur::parse("500ms").unwrap().0, Duration::from_millis(500));
        assert_eq!(Dur::parse("10s").unwrap().0, Duration::from_secs(10));
        assert_eq!(Dur::parse("2m").unwrap().0, Duration::from_secs(120));
        assert_eq!(Dur::parse("1.5s").unwrap().0, Duration::from_millis(1500));
        assert!(Dur::parse("10").unwrap_err().contains("unit is required"));
        assert!(Dur::parse("10 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(Dur::parse("s").is_err());
        assert_eq!(Dur(Duration::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Dur(Duration::from_secs(120)).to_string(), "2m");
    }

    #[test]
    fn offsets_and_percentages() {
        assert_eq!(Offset::parse("+30s").unwrap().0, 30_000);
        assert_eq!(Offset::parse("-2m").unwrap().0, -120_000);
        assert_eq!(Offset::parse("500ms").unwrap().0, 500);
        assert!(Offset::parse("-30").is_err());
        assert_eq!(Offset(-90_000).to_string(), "-90s");
        assert_eq!(Percent::parse("10%").unwrap().0, 10.0);
        assert_eq!(Percent::parse("0.5 %").unwrap().0, 0.5);
        assert!(Percent::parse("101%").is_err());
        assert!(Percent::parse("lots").is_err());
    }
}
