//! Turning model prices (f64, currency units) into order prices (price4
//! integers on the tick grid). This is the only place strategy floats become
//! order-path integers.

use types::Price;

/// Slack, in ticks, that absorbs binary rounding of prices that are meant to
/// sit exactly on the grid (e.g. 12.34 × 10⁴ = 123399.99999999999).
const GRID_SLACK: f64 = 1e-9;

fn to_ticks(price: f64, tick: i64) -> Option<f64> {
    if !price.is_finite() || tick <= 0 {
        return None;
    }
    Some(price * Price::SCALE as f64 / tick as f64)
}

fn in_range(ticks: f64, tick: i64) -> Option<Price> {
    let raw = ticks * tick as f64;
    if raw < tick as f64 || raw > Price::ITCH_MAX.0 as f64 {
        return None;
    }
    Some(Price(ticks as i64 * tick))
}

/// Largest grid price ≤ `price` (for bids: never more aggressive than the
/// model asked). `None` when not finite, not positive or beyond ITCH range.
pub fn floor_to_tick(price: f64, tick: i64) -> Option<Price> {
    let t = to_ticks(price, tick)?;
    in_range(libm::floor(t + GRID_SLACK), tick)
}

/// Smallest grid price ≥ `price` (for asks).
pub fn ceil_to_tick(price: f64, tick: i64) -> Option<Price> {
    let t = to_ticks(price, tick)?;
    in_range(libm::ceil(t - GRID_SLACK), tick)
}

/// Rounds a quote for `side` away from the market.
pub fn round_passive(side: types::Side, price: f64, tick: i64) -> Option<Price> {
    match side {
        types::Side::Buy => floor_to_tick(price, tick),
        types::Side::Sell => ceil_to_tick(price, tick),
    }
}

/// Price4 to currency units.
#[inline]
pub fn to_f64(p: Price) -> f64 {
    p.0 as f64 / Price::SCALE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_to_grid_away_from_market() {
        assert_eq!(floor_to_tick(12.3456, 100), Some(Price(123400)));
        assert_eq!(ceil_to_tick(12.3456, 100), Some(Price(123500)));
        // Exactly on the grid after binary rounding stays put.
        assert_eq!(floor_to_tick(12.34, 100), Some(Price(123400)));
        assert_eq!(ceil_to_tick(12.34, 100), Some(Price(123400)));
        assert_eq!(floor_to_tick(0.015, 1), Some(Price(150)));
    }

    #[test]
    fn refuses_nonsense() {
        assert_eq!(floor_to_tick(f64::NAN, 100), None);
        assert_eq!(floor_to_tick(f64::INFINITY, 100), None);
        assert_eq!(floor_to_tick(-1.0, 100), None);
        assert_eq!(floor_to_tick(0.001, 100), None);
        assert_eq!(ceil_to_tick(1e9, 100), None);
        assert_eq!(floor_to_tick(1.0, 0), None);
    }
}
