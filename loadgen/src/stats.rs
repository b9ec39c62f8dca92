//! Latency percentiles from the full, sorted sample set.
//!
//! Exact (nearest-rank) percentiles instead of a bucketed histogram: a 10 s run at a few
//! thousand writes/s is well under a million samples, cheap to sort, and then p99 is a real
//! observed latency rather than a bucket edge.

use std::time::Duration;

/// Summary of one (system, clients) run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub mean: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Summary {
    /// `samples` are per-operation latencies in microseconds (any order).
    pub fn from_samples(mut samples: Vec<u64>, errors: u64, secs: f64) -> Summary {
        samples.sort_unstable();
        let us = |p: f64| Duration::from_micros(percentile_sorted(&samples, p).unwrap_or(0));
        let mean = if samples.is_empty() {
            0
        } else {
            samples.iter().sum::<u64>() / samples.len() as u64
        };
        Summary {
            ops: samples.len() as u64,
            errors,
            secs,
            mean: Duration::from_micros(mean),
            p50: us(50.0),
            p90: us(90.0),
            p99: us(99.0),
            max: us(100.0),
        }
    }

    pub fn writes_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Nearest-rank percentile `p` (0..=100) of ascending `sorted`; `None` when empty.
pub fn percentile_sorted(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_sorted(&v, 50.0), Some(50));
        assert_eq!(percentile_sorted(&v, 99.0), Some(99));
        assert_eq!(percentile_sorted(&v, 100.0), Some(100));
        assert_eq!(percentile_sorted(&v, 0.0), Some(1));
        assert_eq!(percentile_sorted(&[7], 99.0), Some(7));
        assert_eq!(percentile_sorted(&[], 50.0), None);
        // 1000 samples: p99 is the 990th smallest.
        let w: Vec<u64> = (0..1000).collect();
        assert_eq!(percentile_sorted(&w, 99.0), Some(989));
    }

    #[test]
    fn summary_sorts_and_rates() {
        let s = Summary::from_samples(vec![300, 100, 200, 400], 2, 2.0);
        assert_eq!(s.ops, 4);
        assert_eq!(s.errors, 2);
        assert_eq!(s.mean, Duration::from_micros(250));
        assert_eq!(s.p50, Duration::from_micros(200));
        assert_eq!(s.p90, Duration::from_micros(400));
        assert_eq!(s.p99, Duration::from_micros(400));
        assert_eq!(s.max, Duration::from_micros(400));
        assert!((s.writes_per_sec() - 2.0).abs() < 1e-9);
    }
}
