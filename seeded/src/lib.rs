//! `sdr-seeded`: the workspace's one seeded pseudo-random generator.
//!
//! Module map: everything is in this file — [`Rng`] (SplitMix64) and its
//! derived draws ([`Rng::below`], [`Rng::unit`], [`Rng::chance`],
//! [`Rng::fork`], [`Rng::shuffle`]).
//!
//! Contract: the sequence a seed yields is part of the harness's interface.
//! `sdr-harness run --seed N` prints and publishes seeds (docs/chaos.md), and
//! a seed must replay the same workload and fault timeline, so the algorithm
//! and every derived draw here are frozen; the `pinned_outputs` test holds
//! outputs computed before this crate existed (from the harness's own copy).
//! Add new draws as new methods; never change existing ones.
//!
//! Not cryptographic, and not meant to be: it picks keys, ops and faults.
//! No dependencies, no I/O, no global state.

/// A small deterministic RNG (SplitMix64); good enough for scheduling choices.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// The stream of `seed` (the same seed always yields the same stream).
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (modulo reduction: its tiny bias is part of the
    /// frozen sequence); `0` when `n == 0`, without consuming a draw.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p` (never for `p <= 0`); consumes one draw.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p && p > 0.0
    }

    /// A derived, independent stream (consumes one draw of this one).
    pub fn fork(&mut self, salt: u64) -> Rng {
        Rng::new(self.next_u64() ^ salt.wrapping_mul(0xD134_2543_DE82_EF95))
    }

    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    /// Outputs of seeds 7 and 0, computed with the harness's own generator
    /// (`harness/src/workload.rs`) before it moved here, checked equal to this
    /// one for seeds 0..2000 × 50 draws of every method. If this fails,
    /// published seeds no longer reproduce their runs.
    #[test]
    fn pinned_outputs() {
        let mut r = Rng::new(7);
        let x: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            x,
            [
                17_039_259_473_404_265_729,
                18_363_971_414_914_884_509,
                8_043_341_295_829_897_994
            ]
        );
        let y: Vec<u64> = (0..3).map(|_| r.below(100)).collect();
        assert_eq!(y, [79, 66, 31]);
        assert_eq!(r.unit(), 0.842_780_118_626_761_6);
        let mut v: Vec<u32> = (1..=8).collect();
        r.shuffle(&mut v);
        assert_eq!(v, [4, 8, 3, 7, 5, 6, 2, 1]);
        assert_eq!(r.fork(3).next_u64(), 205_014_583_270_125_513);
        assert_eq!(Rng::new(0).next_u64(), 7_960_286_522_194_355_700);
    }

    #[test]
    fn edge_cases() {
        let mut r = Rng::new(1);
        let before = r.clone().next_u64();
        assert_eq!(r.below(0), 0, "below(0) is 0");
        assert_eq!(r.next_u64(), before, "below(0) consumes no draw");
        assert!((0..1000).all(|_| r.below(3) < 3));
        assert!((0..1000).all(|_| !r.chance(0.0)));
        assert!((0..1000).all(|_| r.chance(1.0)));
        let u: Vec<f64> = (0..1000).map(|_| r.unit()).collect();
        assert!(u.iter().all(|x| (0.0..1.0).contains(x)));
    }
}
