//! Log-linear latency histogram: 16 linear sub-buckets per power of two, so
//! any recorded value is reported within 1/16 (6.25 %) of its true value.
//! Values are nanoseconds (or cycles); the top bucket absorbs everything above
//! about 2^40 (18 minutes), where precision no longer matters.
//!
//! Recording is two instructions of arithmetic and one increment, no branches
//! on the hot path beyond the small-value case; the appliance records into a
//! per-core histogram and core 0 publishes merged copies as snapshots.

/// Sub-bucket bits: 2^4 = 16 sub-buckets per octave.
pub const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Highest octave with its own buckets (values below 2^(MAX_EXP+1)).
pub const MAX_EXP: u32 = 39;
/// Number of buckets.
pub const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB as usize;

/// Bucket index of a value.
pub const fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (v >> (exp - SUB_BITS)) - SUB;
    ((exp - SUB_BITS + 1) as usize) * SUB as usize + sub as usize
}

/// Inclusive value range `(low, high)` covered by bucket `index` (`index < BUCKETS`).
pub const fn bucket_range(index: usize) -> (u64, u64) {
    if index < SUB as usize {
        return (index as u64, index as u64);
    }
    let octave = (index / SUB as usize) as u32;
    let exp = octave + SUB_BITS - 1;
    let sub = (index % SUB as usize) as u64 + SUB;
    let shift = exp - SUB_BITS;
    (sub << shift, ((sub + 1) << shift) - 1)
}

/// Counts per bucket plus exact count, sum and maximum.
#[derive(Clone, PartialEq, Eq)]
pub struct LatencyHistogram {
    pub buckets: [u64; BUCKETS],
    pub count: u64,
    pub sum: u64,
    pub max: u64,
}

impl core::fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LatencyHistogram")
            .field("count", &self.count)
            .field("p50", &self.quantile(0.5))
            .field("p99", &self.quantile(0.99))
            .field("max", &self.max)
            .finish()
    }
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            buckets: [0; BUCKETS],
            count: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl LatencyHistogram {
    pub fn record(&mut self, v: u64) {
        self.buckets[bucket_of(v)] += 1;
        self.count += 1;
        self.sum = self.sum.wrapping_add(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, other: &LatencyHistogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a = a.wrapping_add(*b);
        }
        self.count = self.count.wrapping_add(other.count);
        self.sum = self.sum.wrapping_add(other.sum);
        self.max = self.max.max(other.max);
    }

    /// Value at quantile `q` (0..=1): the upper edge of the bucket holding the
    /// q-th sample, capped at the exact maximum. `None` when empty.
    ///
    /// Computed from the bucket counts, not from `count`, so a histogram read
    /// from a hostile region cannot make this loop or index out of range.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total: u64 = self.buckets.iter().fold(0u64, |a, &b| a.saturating_add(b));
        if total == 0 {
            return None;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // Rank of the wanted sample, 1-based; ceil without libm.
        let exact = q * total as f64;
        let mut rank = exact as u64;
        if (rank as f64) < exact {
            rank += 1;
        }
        let rank = rank.clamp(1, total);
        let mut seen = 0u64;
        for (i, &c) in self.buckets.iter().enumerate() {
            seen = seen.saturating_add(c);
            if seen >= rank {
                return Some(bucket_range(i).1.min(self.max.max(bucket_range(i).0)));
            }
        }
        Some(self.max)
    }

    pub fn mean(&self) -> Option<u64> {
        self.sum.checked_div(self.count)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::boxed::Box;
    use std::vec::Vec;

    #[test]
    fn buckets_tile_the_value_range() {
        let mut next = 0u64;
        for i in 0..BUCKETS {
            let (lo, hi) = bucket_range(i);
            assert_eq!(lo, next, "bucket {i}");
            assert!(hi >= lo);
            assert_eq!(bucket_of(lo), i);
            assert_eq!(bucket_of(hi), i);
            next = hi + 1;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    proptest! {
        #[test]
        fn bucket_error_is_within_one_sixteenth(v in 0u64..(1 << 40)) {
            let (lo, hi) = bucket_range(bucket_of(v));
            prop_assert!(lo <= v && v <= hi);
            prop_assert!((hi - lo) * 16 <= lo.max(16));
        }

        #[test]
        fn quantiles_match_sorted_reference(mut values in proptest::collection::vec(0u64..10_000_000, 1..500), q in 0.0f64..=1.0) {
            let mut h = Box::<LatencyHistogram>::default();
            values.iter().for_each(|&v| h.record(v));
            values.sort_unstable();
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let truth = values[rank - 1];
            let got = h.quantile(q).unwrap();
            let (lo, hi) = bucket_range(bucket_of(truth));
            prop_assert!(got >= lo && got <= hi, "q={} truth={} got={}", q, truth, got);
            prop_assert_eq!(h.quantile(1.0).unwrap(), *values.last().unwrap());
            let _: Vec<u64> = Vec::new();
        }
    }
}
