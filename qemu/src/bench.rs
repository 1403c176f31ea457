//! Summaries for `cargo qemu bench-boot`.

use std::time::Duration;

/// Minimum, median and maximum of a set of timings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spread {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
    pub samples: usize,
}

impl Spread {
    /// `None` for no samples. An even count takes the mean of the middle two.
    pub fn of(samples: &[Duration]) -> Option<Spread> {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let (min, max) = (*sorted.first()?, *sorted.last()?);
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        Some(Spread {
            min,
            median,
            max,
            samples: n,
        })
    }

    /// `self.median / base.median`.
    pub fn median_ratio(&self, base: &Spread) -> f64 {
        self.median.as_secs_f64() / base.median.as_secs_f64()
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms_list(v: &[u64]) -> Vec<Duration> {
        v.iter().map(|&m| Duration::from_millis(m)).collect()
    }

    #[test]
    fn odd_and_even_medians() {
        let s = Spread::of(&ms_list(&[30, 10, 20])).expect("spread");
        assert_eq!(
            (s.min, s.median, s.max),
            (ms_list(&[10])[0], ms_list(&[20])[0], ms_list(&[30])[0])
        );
        let s = Spread::of(&ms_list(&[40, 10, 20, 30])).expect("spread");
        assert_eq!(s.median, Duration::from_millis(25));
        assert_eq!(s.samples, 4);
        assert!(Spread::of(&[]).is_none());
    }

    #[test]
    fn ratio_of_medians() {
        let bare = Spread::of(&ms_list(&[100, 100, 100])).expect("spread");
        let app = Spread::of(&ms_list(&[150, 140, 160])).expect("spread");
        assert!((app.median_ratio(&bare) - 1.5).abs() < 1e-9);
    }
}
