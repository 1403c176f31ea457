//! TSC-based monotonic time.
//!
//! The appliance's only clock is the time-stamp counter: invariant on every
//! CPU we target, readable in ~20 cycles, and the same counter on all cores.
//! Its frequency comes from CPUID (leaf 0x15, else 0x16), a hypervisor timing
//! leaf, or a measurement against the PIT. Conversion to nanoseconds is one
//! multiply and shift with a precomputed factor, never a division.

/// Input clock of the 8254 PIT in Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Where the TSC frequency came from, in order of trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TscSource {
    /// CPUID 0x15: crystal frequency × TSC/crystal ratio.
    Cpuid15,
    /// CPUID 0x16: processor base frequency (MHz).
    Cpuid16,
    /// Hypervisor timing leaf 0x4000_0010 (kHz).
    Hypervisor,
    /// Measured against PIT channel 2.
    Pit,
}

impl TscSource {
    pub const fn name(self) -> &'static str {
        match self {
            TscSource::Cpuid15 => "cpuid-15h",
            TscSource::Cpuid16 => "cpuid-16h",
            TscSource::Hypervisor => "hypervisor",
            TscSource::Pit => "pit",
        }
    }
}

/// TSC Hz from CPUID 0x15 (`eax` denominator, `ebx` numerator, `ecx` crystal Hz).
/// `None` when the leaf does not enumerate the crystal.
pub fn hz_from_cpuid15(denominator: u32, numerator: u32, crystal_hz: u32) -> Option<u64> {
    if denominator == 0 || numerator == 0 || crystal_hz == 0 {
        return None;
    }
    Some(crystal_hz as u64 * numerator as u64 / denominator as u64)
}

/// TSC Hz from CPUID 0x16 `eax` (base frequency in MHz).
pub fn hz_from_cpuid16(base_mhz: u32) -> Option<u64> {
    let mhz = base_mhz & 0xffff;
    (mhz != 0).then_some(mhz as u64 * 1_000_000)
}

/// TSC Hz from a hypervisor's timing leaf (`eax` = TSC kHz).
pub fn hz_from_hypervisor(tsc_khz: u32) -> Option<u64> {
    (tsc_khz != 0).then_some(tsc_khz as u64 * 1000)
}

/// TSC Hz from `tsc_delta` ticks counted while the PIT counted `pit_ticks`.
pub fn hz_from_pit(tsc_delta: u64, pit_ticks: u64) -> Option<u64> {
    if pit_ticks == 0 || tsc_delta == 0 {
        return None;
    }
    u64::try_from(tsc_delta as u128 * PIT_HZ as u128 / pit_ticks as u128).ok()
}

/// Frequencies outside this range are measurement errors, not CPUs.
pub const PLAUSIBLE_HZ: core::ops::RangeInclusive<u64> = 50_000_000..=10_000_000_000;

/// Fractional bits of the conversion factors: 2^-40 relative error keeps an
/// hour within 10 ns, and for every plausible frequency a factor fits in
/// 45 bits so `ticks × factor` fits in a u128.
const FRACTION_BITS: u32 = 40;

/// Converts TSC ticks to nanoseconds since a base reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    base_tsc: u64,
    hz: u64,
    /// Nanoseconds per tick with `FRACTION_BITS` fractional bits.
    ns_per_tick: u64,
    /// Ticks per nanosecond with `FRACTION_BITS` fractional bits.
    ticks_per_ns: u64,
    source: TscSource,
}

impl Clock {
    /// `None` for a frequency outside [`PLAUSIBLE_HZ`].
    pub fn new(hz: u64, base_tsc: u64, source: TscSource) -> Option<Clock> {
        if !PLAUSIBLE_HZ.contains(&hz) {
            return None;
        }
        Some(Clock {
            base_tsc,
            hz,
            ns_per_tick: ((1_000_000_000u128 << FRACTION_BITS) / hz as u128) as u64,
            ticks_per_ns: ((hz as u128) << FRACTION_BITS).div_ceil(1_000_000_000) as u64,
            source,
        })
    }

    pub const fn hz(&self) -> u64 {
        self.hz
    }

    pub const fn source(&self) -> TscSource {
        self.source
    }

    pub const fn base_tsc(&self) -> u64 {
        self.base_tsc
    }

    /// Nanoseconds for a tick count (a duration).
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        ((ticks as u128 * self.ns_per_tick as u128) >> FRACTION_BITS) as u64
    }

    /// Ticks for a duration in nanoseconds, rounded up so deadlines never fire early.
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        let ticks = (ns as u128 * self.ticks_per_ns as u128).div_ceil(1 << FRACTION_BITS);
        u64::try_from(ticks).unwrap_or(u64::MAX)
    }

    /// Nanoseconds since the base reading for a TSC value (0 if earlier).
    pub fn ns_since_base(&self, tsc: u64) -> u64 {
        self.ticks_to_ns(tsc.saturating_sub(self.base_tsc))
    }
}

/// A point in TSC time after which a bounded wait gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at_tsc: u64,
}

impl Deadline {
    pub fn after_ns(clock: &Clock, now_tsc: u64, ns: u64) -> Deadline {
        Deadline {
            at_tsc: now_tsc.saturating_add(clock.ns_to_ticks(ns)),
        }
    }

    pub const fn expired(&self, now_tsc: u64) -> bool {
        now_tsc >= self.at_tsc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid15_uses_crystal_and_ratio() {
        // Skylake-style: 24 MHz crystal, ratio 216/2 → 2.592 GHz.
        assert_eq!(hz_from_cpuid15(2, 216, 24_000_000), Some(2_592_000_000));
        assert_eq!(hz_from_cpuid15(2, 216, 0), None);
        assert_eq!(hz_from_cpuid15(0, 216, 24_000_000), None);
    }

    #[test]
    fn other_sources() {
        assert_eq!(hz_from_cpuid16(3000), Some(3_000_000_000));
        assert_eq!(hz_from_cpuid16(0), None);
        assert_eq!(hz_from_hypervisor(2_100_000), Some(2_100_000_000));
        // 10 ms of PIT (11932 ticks) while the TSC advanced 30 M ticks ≈ 3 GHz.
        let hz = hz_from_pit(30_000_000, 11_932).unwrap();
        assert!((2_999_000_000..=3_001_000_000).contains(&hz), "{hz}");
        assert_eq!(hz_from_pit(1, 0), None);
    }

    #[test]
    fn conversion_is_exact_enough_and_monotonic() {
        for hz in [1_000_000_000u64, 2_592_000_000, 3_333_333_333, 100_000_000] {
            let clock = Clock::new(hz, 1000, TscSource::Pit).unwrap();
            // One hour of ticks converts to one hour within 1 µs.
            let hour_ticks = hz * 3600;
            let ns = clock.ticks_to_ns(hour_ticks);
            assert!(ns.abs_diff(3_600_000_000_000) < 1_000, "{hz}: {ns}");
            // Round trip never undershoots.
            for d in [0u64, 1, 999, 1_000_000, 123_456_789_012] {
                assert!(clock.ticks_to_ns(clock.ns_to_ticks(d)) >= d.saturating_sub(1));
            }
            let mut last = 0;
            for t in (1000..1_000_000).step_by(7919) {
                let n = clock.ns_since_base(t);
                assert!(n >= last);
                last = n;
            }
            assert_eq!(clock.ns_since_base(0), 0);
        }
    }

    #[test]
    fn implausible_frequencies_are_refused() {
        assert!(Clock::new(0, 0, TscSource::Pit).is_none());
        assert!(Clock::new(20_000_000_000, 0, TscSource::Pit).is_none());
    }

    #[test]
    fn deadlines() {
        let clock = Clock::new(2_000_000_000, 0, TscSource::Cpuid15).unwrap();
        let d = Deadline::after_ns(&clock, 100, 1_000);
        assert!(!d.expired(100));
        assert!(!d.expired(2099));
        assert!(d.expired(2100));
        assert!(!Deadline::after_ns(&clock, u64::MAX - 1, 10).expired(u64::MAX - 1));
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's
/// days-from-civil algorithm; valid for every year ≥ 1).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A wall-clock reading (from the CMOS real-time clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CivilTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl CivilTime {
    /// Seconds since the Unix epoch; `None` for an impossible date.
    pub fn unix_seconds(&self) -> Option<u64> {
        let valid = (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 61
            && self.year >= 1970;
        if !valid {
            return None;
        }
        let days = days_from_civil(self.year, self.month, self.day);
        u64::try_from(days * 86_400 + (self.hour * 3600 + self.minute * 60 + self.second) as i64)
            .ok()
    }
}

/// UTC from the real-time clock at boot plus the TSC since then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallClock {
    epoch_ns_at_base: u64,
}

impl WallClock {
    /// `unix_seconds` read when the monotonic clock was at `tsc`.
    pub fn new(clock: &Clock, unix_seconds: u64, tsc: u64) -> WallClock {
        let at_read = unix_seconds.saturating_mul(1_000_000_000);
        WallClock {
            epoch_ns_at_base: at_read.saturating_sub(clock.ns_since_base(tsc)),
        }
    }

    /// Nanoseconds since the Unix epoch at TSC value `tsc`.
    pub fn unix_ns(&self, clock: &Clock, tsc: u64) -> u64 {
        self.epoch_ns_at_base + clock.ns_since_base(tsc)
    }
}

#[cfg(test)]
mod civil_tests {
    use super::*;

    #[test]
    fn civil_dates_to_unix_time() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 25), 20_782);
        let t = CivilTime {
            year: 2026,
            month: 11,
            day: 25,
            hour: 3,
            minute: 4,
            second: 5,
        };
        assert_eq!(
            t.unix_seconds(),
            Some(20_782 * 86_400 + 3 * 3600 + 4 * 60 + 5)
        );
        assert_eq!(CivilTime { month: 13, ..t }.unix_seconds(), None);
        assert_eq!(CivilTime { year: 1969, ..t }.unix_seconds(), None);
        // 2024-02-29 exists, the day after is March 1st.
        assert_eq!(
            days_from_civil(2024, 3, 1) - days_from_civil(2024, 2, 29),
            1
        );
    }

    #[test]
    fn wall_clock_advances_with_the_tsc() {
        let clock = Clock::new(1_000_000_000, 0, TscSource::Pit).unwrap();
        let wall = WallClock::new(&clock, 1_000, 5_000_000_000);
        assert_eq!(wall.unix_ns(&clock, 5_000_000_000), 1_000_000_000_000);
        assert_eq!(wall.unix_ns(&clock, 6_000_000_000), 1_001_000_000_000);
    }
}
