//! Fixed-size bitset with an incrementally maintained Zobrist hash, the
//! "linearized set" of the WGL search.

/// A set of op indices `0..n` plus a hash maintained on every change, so a
/// cache lookup never rehashes the whole set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    hash: u64,
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
        }
    }

    #[inline]
    pub fn set(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        debug_assert!(self.words[w] & (1 << b) == 0);
        self.words[w] |= 1 << b;
        self.hash ^= zobrist(i);
    }

    #[inline]
    pub fn clear(&mut self, i: u32) {
        let (w, b) = ((i / 64) as usize, i % 64);
        debug_assert!(self.words[w] & (1 << b) != 0);
        self.words[w] &= !(1 << b);
        self.hash ^= zobrist(i);
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
        let lo = self
            .words
            .iter()
            .position(|&w| w != u64::MAX)
            .unwrap_or(self.words.len());
        let hi = self
            .words
            .iter()
            .rposition(|&w| w != 0)
            .map_or(0, |i| i + 1)
            .max(lo);
        (lo as u32, &self.words[lo..hi])
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}
