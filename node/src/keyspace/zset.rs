//! [`ZSet`], the sorted-set value: a member → score map plus an ordered index of
//! `(score, member)`, both B-trees so every iteration (replies, snapshots) is deterministic.
//!
//! Costs: add, remove, score lookup and range seeks are O(log n); a rank (ZRANK, or the start
//! of a rank range) walks the index from the nearer end, O(min(rank, n - rank)), because
//! `BTreeSet` keeps no subtree sizes. Members are `Bytes` shared by both trees (one
//! allocation per member).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;

/// A score as ordered by Redis: IEEE doubles compared numerically, so `-0` equals `0`.
/// Never NaN (every insertion path rejects NaN), which makes the order total.
#[derive(Clone, Copy, Debug)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Score {}
impl PartialOrd for Score {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Score {
    fn cmp(&self, o: &Self) -> Ordering {
        self.0.partial_cmp(&o.0).unwrap_or(Ordering::Equal)
    }
}

/// A sorted set: members ordered by (score, member bytes), as Redis orders them.
#[derive(Clone, Debug, Default)]
pub struct ZSet {
    scores: BTreeMap<Bytes, f64>,
    order: BTreeSet<(Score, Bytes)>,
}

/// Equal when the same members carry bit-identical scores (`-0` differs from `0`: it is
/// printed differently).
impl PartialEq for ZSet {
    fn eq(&self, o: &Self) -> bool {
        self.scores.len() == o.scores.len()
            && self
                .scores
                .iter()
                .zip(o.scores.iter())
                .all(|((a, x), (b, y))| a == b && x.to_bits() == y.to_bits())
    }
}
impl Eq for ZSet {}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score (NaN is refused: returns `None` and changes nothing); returns
    /// the previous score. `-0` is stored as `0`, as Redis 7.0's listpack stores it (the
    /// encoding of every sorted set up to 128 members).
    pub fn insert(&mut self, member: Bytes, score: f64) -> Option<f64> {
        if score.is_nan() {
            return None;
        }
        let score = if score == 0.0 { 0.0 } else { score };
        let old = self.remove(&member);
        self.order.insert((Score(score), member.clone()));
        self.scores.insert(member, score);
        old
    }

    /// Removes `member`; returns its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (m, s) = self.scores.remove_entry(member)?;
        self.order.remove(&(Score(s), m));
        Some(s)
    }

    /// Members in ascending (score, member) order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + '_ {
        self.order.iter().map(|(s, m)| (m, s.0))
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let s = self.score(member)?;
        let key = (Score(s), Bytes::copy_from_slice(member));
        let below = self.order.range(..&key).count();
        Some(below)
    }

    /// Members with scores in `(lo, hi)` bounds as B-tree ranges start at the first member
    /// with score `>= lo` (used to seek; callers apply exclusivity).
    pub fn from_score(&self, lo: f64) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + '_ {
        self.order
            .range((Score(lo), Bytes::new())..)
            .map(|(s, m)| (m, s.0))
    }

    /// Members with scores strictly below `hi`, ascending (reverse score ranges seek with it).
    pub fn below_score(&self, hi: f64) -> impl DoubleEndedIterator<Item = (&Bytes, f64)> + '_ {
        self.order
            .range(..(Score(hi), Bytes::new()))
            .map(|(s, m)| (m, s.0))
    }

    /// Every (member, score) in member order (the codec's canonical order is the index's).
    pub fn by_member(&self) -> impl Iterator<Item = (&Bytes, f64)> + '_ {
        self.scores.iter().map(|(m, s)| (m, *s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_score_then_member_and_ranks() {
        let mut z = ZSet::new();
        let b = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        assert_eq!(z.insert(b("b"), 1.0), None);
        z.insert(b("a"), 1.0);
        z.insert(b("c"), -0.0);
        z.insert(b("d"), 0.0);
        assert_eq!(z.insert(b("b"), 2.0), Some(1.0));
        assert_eq!(z.insert(b("x"), f64::NAN), None);
        let got: Vec<&[u8]> = z.iter().map(|(m, _)| &m[..]).collect();
        assert_eq!(got, vec![&b"c"[..], b"d", b"a", b"b"]);
        assert_eq!(z.rank(b"a"), Some(2));
        assert_eq!(z.rank(b"zz"), None);
        assert_eq!(z.remove(b"c"), Some(-0.0));
        assert_eq!(z.len(), 3);
        let from: Vec<&[u8]> = z.from_score(1.0).map(|(m, _)| &m[..]).collect();
        assert_eq!(from, vec![&b"a"[..], b"b"]);
    }
}
