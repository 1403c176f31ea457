//! Turning model prices (f64, currency units) into order prices (price4
//! integers on the tick grid). This is the only place strategy floats become
//! order-path integers.

use types::Price;

/// Slack, in ticks, that absorbs binary rounding of prices that are meant to
/// sit exactly on the grid (e.g. 12.34 × 10⁴ = 123399.99999999999).
const GRID_SLACK: f64 = 1e-9;
/// The part of the slack that grows with the price: a price in ticks comes
/// from three roundings (the f64 price, × 10⁴, ÷ tick), each within 2⁻⁵³
/// of the value, so its error is below 3·2⁻⁵³ of it — at a tick of one
/// price4 unit near the ITCH maximum that is ~1e-6 of a tick, far beyond
/// `GRID_SLACK` (a price on the grid rounded up a tick), and still far
/// below the least distance of an off-grid price4 value from the grid.
const RELATIVE_SLACK: f64 = 4.0 * f64::EPSILON;

/// Largest tick size the helpers here are exact for (a $100 tick).
pub const MAX_TICK: i64 = 1_000_000;

/// Price in ticks, `None` unless finite and within (0, ITCH max].
#[inline]
fn to_ticks(price: f64, tick: i64) -> Option<f64> {
    if tick <= 0 || tick > MAX_TICK {
        return None;
    }
    let raw = price * Price::SCALE as f64;
    // Also rejects NaN.
    if !(raw > 0.0 && raw <= Price::ITCH_MAX.0 as f64) {
        return None;
    }
    Some(raw / tick as f64)
}

/// `floor` for the positive, < 2⁵³ values [`to_ticks`] lets through: a
/// truncating conversion and a compare, instead of libm's bit-twiddling
/// software floor (this sits on the per-event quoting path).
#[inline]
fn floor_small(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x {
        t - 1
    } else {
        t
    }
}

#[inline]
fn ceil_small(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) < x {
        t + 1
    } else {
        t
    }
}

#[inline]
fn on_grid(ticks: i64, tick: i64) -> Option<Price> {
    let raw = ticks.checked_mul(tick)?;
    if raw < tick || raw > Price::ITCH_MAX.0 {
        return None;
    }
    Some(Price(raw))
}

/// Largest grid price ≤ `price` (for bids: never more aggressive than the
/// model asked). `None` when not finite, not positive or beyond ITCH range.
#[inline]
pub fn floor_to_tick(price: f64, tick: i64) -> Option<Price> {
    let t = to_ticks(price, tick)?;
    on_grid(floor_small(t + (GRID_SLACK + t * RELATIVE_SLACK)), tick)
}

/// Smallest grid price ≥ `price` (for asks).
#[inline]
pub fn ceil_to_tick(price: f64, tick: i64) -> Option<Price> {
    let t = to_ticks(price, tick)?;
    on_grid(ceil_small(t - (GRID_SLACK + t * RELATIVE_SLACK)), tick)
}

/// Largest multiple of `tick` strictly below `p` (p, tick > 0, tick ≤
/// [`MAX_TICK`], p ≤ ITCH max).
///
/// Uses an `f64` division instead of a 64-bit integer division (several
/// times slower on current x86): `p` and `tick` are exact in `f64`, the
/// quotient is correctly rounded, so an exact multiple divides to an exact
/// integer, and a non-multiple stays at least `1/tick` (≥ 1e-6) away from
/// the next integer, far more than the rounding error (≤ 2⁻⁵³·4.3e9 < 5e-7).
#[inline]
pub fn grid_below(p: i64, tick: i64) -> i64 {
    (ceil_small(p as f64 / tick as f64) - 1) * tick
}

/// Smallest multiple of `tick` strictly above `p` (same domain as [`grid_below`]).
#[inline]
pub fn grid_above(p: i64, tick: i64) -> i64 {
    (floor_small(p as f64 / tick as f64) + 1) * tick
}

/// Rounds a quote for `side` away from the market.
pub fn round_passive(side: types::Side, price: f64, tick: i64) -> Option<Price> {
    match side {
        types::Side::Buy => floor_to_tick(price, tick),
        types::Side::Sell => ceil_to_tick(price, tick),
    }
}

/// Best bid and ask when both exist with prices in the ITCH range
/// (0, `u32::MAX`] and the bid below the ask. Anything else — an empty
/// side, a crossed or locked book (a transient anomaly of the feed, not a
/// price to trade against), or a nonsensical price from a damaged source —
/// is treated as no two-sided market, so no order is sent into it and later
/// arithmetic (sums, differences) cannot overflow.
#[inline]
pub fn two_sided(bbo: &types::Bbo) -> Option<(types::Level, types::Level)> {
    let ok = |p: Price| p.0 > 0 && p.0 <= Price::ITCH_MAX.0;
    match (bbo.bid, bbo.ask) {
        (Some(b), Some(a)) if ok(b.price) && ok(a.price) && b.price < a.price => Some((b, a)),
        _ => None,
    }
}

/// The best bid and ask prices (price4) of a [`two_sided`] market: the
/// same test, without copying the levels (the market maker's per-event
/// decision needs the prices only).
#[inline]
pub fn two_sided_prices(bbo: &types::Bbo) -> Option<(i64, i64)> {
    let ok = |p: Price| p.0 > 0 && p.0 <= Price::ITCH_MAX.0;
    match (&bbo.bid, &bbo.ask) {
        (Some(b), Some(a)) if ok(b.price) && ok(a.price) => Some((b.price.0, a.price.0)),
        _ => None,
    }
}

/// Mid in price4 (as `f64`, not rounded) of a [`two_sided`] market.
#[inline]
pub fn mid_f64(bbo: &types::Bbo) -> Option<f64> {
    two_sided(bbo).map(|(b, a)| (b.price.0 + a.price.0) as f64 * 0.5)
}

/// Price4 to currency units.
#[inline]
pub fn to_f64(p: Price) -> f64 {
    p.0 as f64 / Price::SCALE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the property test below: a price4 value near 2³¹ with a
    /// tick of one unit, given as f64 currency, comes back 3e-7 of a tick
    /// above itself, and was rounded up a whole tick.
    #[test]
    fn large_prices_on_the_grid_stay_put() {
        let x = 1_570_495_266_f64 / 10_000.0;
        assert_eq!(ceil_to_tick(x, 1), Some(Price(1_570_495_266)));
        assert_eq!(floor_to_tick(x, 1), Some(Price(1_570_495_266)));
        let top = Price::ITCH_MAX.0;
        assert_eq!(ceil_to_tick(top as f64 / 10_000.0, 1), Some(Price(top)));
    }

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
    fn grid_neighbours_by_hand() {
        assert_eq!(grid_below(1_000_500, 100), 1_000_400);
        assert_eq!(grid_below(1_000_550, 100), 1_000_500);
        assert_eq!(grid_above(1_000_500, 100), 1_000_600);
        assert_eq!(grid_above(1_000_550, 100), 1_000_600);
        assert_eq!(grid_below(1, 1), 0);
    }

    proptest::proptest! {
        #[test]
        fn grid_neighbours_match_integer_division(p in 1i64..=u32::MAX as i64, tick in 1i64..=MAX_TICK) {
            proptest::prop_assert_eq!(grid_below(p, tick), (p - 1).div_euclid(tick) * tick);
            proptest::prop_assert_eq!(grid_above(p, tick), (p.div_euclid(tick) + 1) * tick);
        }

        /// What the market maker relies on to skip the bound computations:
        /// a grid price strictly inside the market is within the bound.
        #[test]
        fn grid_prices_inside_the_market_are_within_the_bounds(p0 in 1i64..=u32::MAX as i64, best in 1i64..=u32::MAX as i64, tick in 1i64..=MAX_TICK) {
            // A grid price, as the rounding produces them.
            let p = (p0 / tick).max(1) * tick;
            let capped = if p < best { p } else { grid_below(best, tick) };
            proptest::prop_assert_eq!(capped, p.min(grid_below(best, tick)));
            let floored = if p > best { p } else { grid_above(best, tick) };
            proptest::prop_assert_eq!(floored, p.max(grid_above(best, tick)));
        }

        #[test]
        fn rounding_matches_exact_arithmetic(p4 in 1i64..=u32::MAX as i64, tick in 1i64..=10_000) {
            // A price4 value given as f64 currency units rounds like integers do
            // (the slack only matters for values within 1e-9 tick of the grid).
            let x = p4 as f64 / 10_000.0;
            let lo = p4.div_euclid(tick) * tick;
            let hi = if p4 % tick == 0 { p4 } else { lo + tick };
            if lo >= tick {
                proptest::prop_assert_eq!(floor_to_tick(x, tick), Some(Price(lo)));
            }
            if hi <= u32::MAX as i64 {
                proptest::prop_assert_eq!(ceil_to_tick(x, tick), Some(Price(hi)));
            }
        }
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
