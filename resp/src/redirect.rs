//! `-MOVED <slot> <host:port>` and `-ASK <slot> <host:port>`: built and parsed in one place.

use std::fmt;

use crate::error_code::ErrorCode;
use crate::Frame;

/// Which redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// The slot lives at the address from now on.
    Moved,
    /// Only this command should go there (after `ASKING`).
    Ask,
}

/// A parsed redirect reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub slot: u16,
    /// `host:port` (as sent; IPv6 hosts are not bracketed, as Redis).
    pub addr: String,
}

impl Redirect {
    pub fn moved(slot: u16, addr: impl Into<String>) -> Redirect {
        Redirect {
            kind: RedirectKind::Moved,
            slot,
            addr: addr.into(),
        }
    }

    /// Parses an error reply's text (without the leading `-`); `None` unless it is a
    /// well-formed `MOVED`/`ASK` with a slot below 16384 and an address.
    pub fn parse(msg: &str) -> Option<Redirect> {
        let mut words = msg.split(' ');
        let kind = match ErrorCode::from_name(words.next()?)? {
            ErrorCode::Moved => RedirectKind::Moved,
            ErrorCode::Ask => RedirectKind::Ask,
            _ => return None,
        };
        let slot: u16 = words.next()?.parse().ok().filter(|s| *s < 16384)?;
        let addr = words.next().filter(|a| !a.is_empty())?;
        if words.next().is_some() {
            return None;
        }
        Some(Redirect {
            kind,
            slot,
            addr: addr.to_string(),
        })
    }

    pub fn code(&self) -> ErrorCode {
        match self.kind {
            RedirectKind::Moved => ErrorCode::Moved,
            RedirectKind::Ask => ErrorCode::Ask,
        }
    }

    /// The error reply.
    pub fn to_frame(&self) -> Frame {
        Frame::error(self.code(), format!("{} {}", self.slot, self.addr))
    }
}

impl fmt::Display for Redirect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code(), self.slot, self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_build() {
        let r = Redirect::parse("MOVED 866 127.0.0.1:7002").expect("moved");
        assert_eq!(r, Redirect::moved(866, "127.0.0.1:7002"));
        assert_eq!(
            r.to_frame(),
            Frame::Error("MOVED 866 127.0.0.1:7002".into())
        );
        assert_eq!(
            Redirect::parse("ASK 1 h:1").map(|r| r.kind),
            Some(RedirectKind::Ask)
        );
        for bad in [
            "TRYAGAIN no leader",
            "MOVED",
            "MOVED 866",
            "MOVED x h:1",
            "MOVED 16384 h:1",
            "MOVED 1 h:1 extra",
            "moved 1 h:1",
        ] {
            assert_eq!(Redirect::parse(bad), None, "{bad}");
        }
    }
}
