//! Fixed-size bitset with an incrementally maintained Zobrist hash, the
//! "linearized set" of the WGL search.

/// A set of op indices `0..n` plus a hash maintained on every change, so a
/// cache lookup never rehashes the whole set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    hash: u64,
    /// Words before `lo` are all ones (maintained on every change, so
    /// [`Bitset::compact`] costs O(compact size), not O(n)).
    lo: usize,
    /// Words from `hi` on are all zeros.
    hi: usize,
}

/// Per-element random key (splitmix64 of the index).
#[inline]
pub fn zobrist(i: u32) -> u64 {
    let mut z = (i as u64)
        .wrapping_add(1)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Bitset {
    pub fn new(n: usize) -> Self {
        Bitset {
            words: vec![0; n.div_ceil(64).max(1)],
            hash: 0,
            lo: 0,
            hi: 0,
        }
    }

    #[inline]
    pub fn set(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        debug_assert!(self.words[w] & (1 << b) == 0);
        self.words[w] |= 1 << b;
        self.hash ^= zobrist(i);
        if w >= self.hi {
            self.hi = w + 1;
        }
        while self.lo < self.words.len() && self.words[self.lo] == u64::MAX {
            self.lo += 1;
        }
    }

    #[inline]
    pub fn clear(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        debug_assert!(self.words[w] & (1 << b) != 0);
        self.words[w] &= !(1 << b);
        self.hash ^= zobrist(i);
        if w < self.lo {
            self.lo = w;
        }
        while self.hi > 0 && self.words[self.hi - 1] == 0 {
            self.hi -= 1;
        }
    }

    #[inline]
    pub fn get(&self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.words[w] & (1 << b) != 0
    }

    #[inline]
    pub fn hash(&self) -> u64 {
        self.hash
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }

    /// Compact form `(lo, words[lo..hi])`: words before `lo` are all ones,
    /// words from `hi` on are all zeros. Linearized sets are mostly a
    /// prefix of the history, so this is a few words even for huge partitions.
    pub fn compact(&self) -> (u32, &[u64]) {
        let lo = self.lo;
        let hi = self.hi.max(lo);
        (lo as u32, &self.words[lo..hi])
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The incrementally kept compact bounds equal a full scan's.
    #[test]
    fn compact_bounds_match_a_scan() {
        let mut b = Bitset::new(700);
        let mut x: u64 = 7;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let i = (x % 700) as u32;
            if b.get(i) {
                b.clear(i)
            } else {
                b.set(i)
            }
            let lo = b
                .words
                .iter()
                .position(|&w| w != u64::MAX)
                .unwrap_or(b.words.len());
            let hi = b
                .words
                .iter()
                .rposition(|&w| w != 0)
                .map_or(0, |i| i + 1)
                .max(lo);
            assert_eq!(b.compact(), (lo as u32, &b.words[lo..hi]));
        }
    }
}
