//! Random selection shared by SRANDMEMBER, HRANDFIELD, ZRANDMEMBER, RANDOMKEY (reads) and
//! SPOP (a write).
//!
//! Reads never enter the log, so they may draw from a per-process stream ([`read_rng`]): two
//! calls give different answers, as with Redis. A write is applied on every replica and must
//! pick the same members everywhere, so [`write_rng`] seeds from what every replica agrees on —
//! the entry's stamped time, the key and the collection's size — and never from a clock or a
//! process counter. (Redis replicates SPOP as the SREMs it made; a replicated-command system
//! has to make the choice itself deterministic instead.)

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use crate::resp::Frame;

/// Calls of a random read so far in this process: mixed into each call's seed.
static READ_CALLS: AtomicU64 = AtomicU64::new(0);

/// Largest number of elements one call with a negative count (repetitions allowed) returns:
/// the reply is built in memory before it is sent, so an unbounded count could exhaust it.
pub(crate) const MAX_REPEAT: u64 = 1 << 20;

/// A fresh stream for a read at `now_ms`.
pub(crate) fn read_rng(now_ms: u64) -> sdr_seeded::Rng {
    let calls = READ_CALLS.fetch_add(1, Ordering::Relaxed);
    sdr_seeded::Rng::new(now_ms ^ calls.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// The stream of a write on `key` holding `len` elements at stamped time `now_ms`: equal on
/// every replica that applies the same entry.
pub(crate) fn write_rng(now_ms: u64, key: &[u8], len: usize) -> sdr_seeded::Rng {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in key {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
    }
    sdr_seeded::Rng::new(
        h ^ now_ms.rotate_left(17) ^ (len as u64).wrapping_mul(0xD6E8_FEB8_6659_FD93),
    )
}

/// The error for a negative count whose repetitions would exceed [`MAX_REPEAT`].
pub(crate) fn too_many_repeats() -> Frame {
    Frame::err(format!(
        "count is out of range: sdr returns at most {MAX_REPEAT} elements with repetitions"
    ))
}

/// Indices into a collection of `len` elements for Redis's `count` rules: `count >= 0` picks
/// `min(count, len)` distinct indices (all of them, in order, when `count >= len`); a negative
/// count picks `|count|` indices with repetitions. `len == 0` picks nothing. The caller has
/// checked a negative count against [`MAX_REPEAT`].
pub(crate) fn pick(rng: &mut sdr_seeded::Rng, len: usize, count: i64) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    if count < 0 {
        let n = count.unsigned_abs();
        return (0..n).map(|_| rng.below(len as u64) as usize).collect();
    }
    let n = count as u64;
    if n >= len as u64 {
        return (0..len).collect();
    }
    let mut idx: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut idx);
    idx.truncate(n as usize);
    idx
}

/// Parses an optional count argument the way Redis's RANDMEMBER family does
/// (`getRangeLongFromObjectOrReply(-LONG_MAX, LONG_MAX)`).
pub(crate) fn count_arg(b: &Bytes) -> Result<i64, Frame> {
    let n = super::int_arg(b)?;
    if n == i64::MIN {
        return Err(Frame::err(
            "value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_follows_the_count_rules() {
        let mut rng = sdr_seeded::Rng::new(1);
        assert!(pick(&mut rng, 0, 5).is_empty());
        assert!(pick(&mut rng, 5, 0).is_empty());
        assert_eq!(pick(&mut rng, 3, 10), vec![0, 1, 2]);
        let mut d = pick(&mut rng, 10, 4);
        assert_eq!(d.len(), 4);
        d.sort();
        d.dedup();
        assert_eq!(d.len(), 4, "positive counts are distinct");
        let r = pick(&mut rng, 2, -50);
        assert_eq!(r.len(), 50);
        assert!(r.iter().all(|&i| i < 2));
        assert!(r.contains(&0) && r.contains(&1), "repetitions cover both");
    }

    #[test]
    fn write_streams_agree_and_depend_on_their_inputs() {
        let a = write_rng(5, b"k", 10).next_u64();
        assert_eq!(a, write_rng(5, b"k", 10).next_u64());
        assert_ne!(a, write_rng(6, b"k", 10).next_u64());
        assert_ne!(a, write_rng(5, b"j", 10).next_u64());
        assert_ne!(a, write_rng(5, b"k", 11).next_u64());
    }

    #[test]
    fn count_arg_rejects_long_min() {
        assert_eq!(count_arg(&Bytes::from_static(b"-3")), Ok(-3));
        assert!(count_arg(&Bytes::from_static(b"-9223372036854775808")).is_err());
        assert!(count_arg(&Bytes::from_static(b"x")).is_err());
    }
}
