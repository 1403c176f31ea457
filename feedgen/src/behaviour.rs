//! How the generated day's participants behave, in pieces that do not
//! depend on the generator's own order book: the latent fair price and its
//! walk, where a new order rests, how large it is, and when a touch is
//! stale. [`crate::model::Generator`] is built on them, and so is the
//! simulated exchange's background flow (`exchange::flow`), so the market
//! the appliance trades against in the lab moves the way a generated day
//! does.
//!
//! Every function draws from [`Rng`] in a fixed order and uses only
//! correctly rounded float operations (+, −, ×, ÷, √, floor), so a seed
//! gives the same path on every machine.

use crate::rng::Rng;
use types::Side;

/// Large moves of the fair price (news), per symbol per day.
pub const JUMPS_PER_DAY: f64 = 2.0;

/// A symbol's latent fair price, in ticks: where the market wants its bid
/// (the ask is wanted a target spread above). It random-walks with a day's
/// variance spread over the day, jumps now and then, and may drift.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FairWalk {
    /// The fair price, in ticks (fractional: the walk moves in fractions of
    /// a tick; quotes use its floor).
    pub fair: f64,
    /// Variance over a whole day, ticks².
    pub day_variance: f64,
    /// Jump size scale, ticks (0: no jumps).
    pub jump_ticks: u32,
    /// Drift over a whole day, ticks.
    pub day_drift: f64,
}

impl FairWalk {
    /// A walk starting at `fair_ticks` with a daily standard deviation of
    /// `sigma_ticks` (jumps scale with it; none when it is 0) and a drift of
    /// `drift_ticks` over the day.
    pub fn new(fair_ticks: f64, sigma_ticks: f64, drift_ticks: f64) -> FairWalk {
        FairWalk {
            fair: fair_ticks,
            day_variance: sigma_ticks * sigma_ticks,
            jump_ticks: if sigma_ticks > 0.0 {
                ((sigma_ticks / 8.0) as u32).max(2)
            } else {
                0
            },
            day_drift: drift_ticks,
        }
    }

    /// Moves the fair price over `share` of a day (its share of the day's
    /// variance, drift and jumps), reflected into `lo..=hi` ticks.
    pub fn advance(&mut self, share: f64, lo: f64, hi: f64, rng: &mut Rng) {
        let var = self.day_variance * share;
        // Sum of four uniforms: mean 2, variance 1/3.
        let z = (rng.unit() + rng.unit() + rng.unit() + rng.unit() - 2.0) * 3f64.sqrt();
        let mut step = z * var.sqrt() + self.day_drift * share;
        if rng.unit() < share * JUMPS_PER_DAY {
            let size = f64::from(self.jump_ticks) * (1.0 + rng.unit());
            step += if rng.chance(1, 2) { size } else { -size };
        }
        let mut f = self.fair + step;
        // Reflect at the ends of the symbol's price range.
        if f < lo {
            f = (2.0 * lo - f).min(hi);
        } else if f > hi {
            f = (2.0 * hi - f).max(lo);
        }
        self.fair = f.floor().max(lo) + (f - f.floor());
    }

    /// The fair price on the tick grid, in ticks.
    pub fn bid_ticks(&self) -> u32 {
        self.fair.max(0.0) as u32
    }
}

/// Where a new resting order goes: how far behind the touch (or the wanted
/// price, when the touch is stale), in ticks before the symbol's depth
/// scale. Drawn before it is known whether the order improves the touch
/// instead, so the draws stay in one order.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    bucket: u64,
    extra: u64,
    far: u64,
}

impl Placement {
    /// Draws a placement. `draining` (the end-of-day decline) leaves out
    /// the deep tail: expiring orders are not replaced far from the quote.
    pub fn draw(rng: &mut Rng, draining: bool) -> Placement {
        Placement {
            bucket: rng.below(if draining { 65 } else { 100 }),
            extra: rng.below(200),
            far: rng.below(1 << 16),
        }
    }

    /// Ticks behind: 20% at the touch, 45% 1–4, 25% 5–24, 6% up to
    /// `deep_ticks` more, 4% 200–2,500 (stub-like quotes and deep limit
    /// orders: what makes the largest books thousands of levels long).
    pub fn ticks(&self, deep_ticks: u32) -> u64 {
        match self.bucket {
            0..=19 => 0,
            20..=64 => 1 + self.extra % 4,
            65..=89 => 5 + self.extra % 20,
            90..=95 => 25 + self.extra % u64::from(deep_ticks.max(1)),
            _ => 200 + self.far % 2_300,
        }
    }
}

/// Size of a new order: 60% 1–5 round lots, 20% odd lots, 15% 5–24 lots,
/// 5% 25–124 lots.
pub fn order_shares(rng: &mut Rng) -> u32 {
    let r = rng.below(100);
    (match r {
        0..=59 => 100 * rng.range(1, 5),
        60..=79 => rng.range(1, 99),
        80..=94 => 100 * rng.range(5, 24),
        _ => 100 * rng.range(25, 124),
    }) as u32
}

/// Side index of the bid in `[bid, ask]` pairs.
pub const BID: usize = 0;
/// Side index of the ask in `[bid, ask]` pairs.
pub const ASK: usize = 1;

/// The order side of a `[bid, ask]` index.
pub fn side_of(index: usize) -> Side {
    if index == BID {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// The `[bid, ask]` index of an order side.
pub fn index_of(side: Side) -> usize {
    match side {
        Side::Buy => BID,
        Side::Sell => ASK,
    }
}

/// The side whose touch the fair price has left (a bid at or above the fair
/// mid, an ask at or below it), if any: its touch orders are what trades
/// and cancels take next, so the book follows the walk. `touch` and
/// `wanted` are `[bid, ask]` prices; `spread` is the target spread in price
/// units; `has` says whether each side has orders at all.
pub fn stale_side(touch: [u32; 2], wanted: [u32; 2], spread: u32, has: [bool; 2]) -> Option<usize> {
    let [bid, ask] = touch;
    let [want_bid, want_ask] = wanted;
    if bid > want_bid && 2 * (bid - want_bid) >= spread && has[BID] {
        Some(BID)
    } else if ask < want_ask && 2 * (want_ask - ask) >= spread && has[ASK] {
        Some(ASK)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_still_walk_stays_and_a_drift_arrives() {
        let mut rng = Rng::new(1);
        let mut still = FairWalk::new(1_000.5, 0.0, 0.0);
        for _ in 0..1_000 {
            still.advance(0.001, 10.0, 1e9, &mut rng);
        }
        assert_eq!(still.fair, 1_000.5);
        let mut drift = FairWalk::new(1_000.0, 0.0, 50.0);
        for _ in 0..1_000 {
            drift.advance(0.001, 10.0, 1e9, &mut rng);
        }
        assert!((drift.fair - 1_050.0).abs() < 1e-6, "{}", drift.fair);
    }

    #[test]
    fn the_walk_has_the_day_s_variance() {
        // 400 days of 100 steps each: the spread of the end points is the
        // daily σ (jumps add a little; ~7% sampling error).
        let mut rng = Rng::new(2);
        let sigma = 40.0;
        let ends: Vec<f64> = (0..400)
            .map(|_| {
                let mut w = FairWalk::new(100_000.0, sigma, 0.0);
                w.jump_ticks = 0;
                for _ in 0..100 {
                    w.advance(0.01, 10.0, 1e9, &mut rng);
                }
                w.fair - 100_000.0
            })
            .collect();
        let var = ends.iter().map(|d| d * d).sum::<f64>() / ends.len() as f64;
        let measured = var.sqrt();
        assert!(
            (measured - sigma).abs() < 0.2 * sigma,
            "σ {measured} vs {sigma}"
        );
    }

    #[test]
    fn the_walk_reflects_into_its_range() {
        let mut rng = Rng::new(3);
        let mut w = FairWalk::new(12.0, 500.0, 0.0);
        for _ in 0..10_000 {
            w.advance(0.01, 10.0, 40.0, &mut rng);
            assert!((10.0..41.0).contains(&w.fair), "{}", w.fair);
        }
    }

    #[test]
    fn placements_and_sizes_follow_their_mix() {
        let mut rng = Rng::new(4);
        let n = 100_000;
        let mut at_touch = 0;
        let mut far = 0;
        for _ in 0..n {
            let t = Placement::draw(&mut rng, false).ticks(100);
            at_touch += u32::from(t == 0);
            far += u32::from(t >= 200);
            assert!(t < 2_500);
        }
        assert!((19_000..21_000).contains(&at_touch), "{at_touch}");
        assert!((3_500..4_500).contains(&far), "{far}");
        for _ in 0..n {
            let t = Placement::draw(&mut rng, true).ticks(100);
            assert!(t < 125, "draining leaves out the deep tail: {t}");
        }
        let round = (0..n)
            .map(|_| order_shares(&mut rng))
            .filter(|s| s % 100 == 0)
            .count();
        assert!((78_000..82_000).contains(&round), "{round}");
    }

    #[test]
    fn stale_sides() {
        // Wanted 100/102 (spread 2): a bid at 101 is at the fair mid.
        assert_eq!(stale_side([101, 103], [100, 102], 2, [true; 2]), Some(BID));
        assert_eq!(stale_side([99, 101], [100, 102], 2, [true; 2]), Some(ASK));
        assert_eq!(stale_side([100, 102], [100, 102], 2, [true; 2]), None);
        assert_eq!(stale_side([101, 103], [100, 102], 2, [false, true]), None);
    }
}
