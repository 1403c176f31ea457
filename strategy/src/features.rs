//! Order-book features shared by the appliance (inference) and the host
//! trainer: one implementation, so a model sees in production exactly the
//! numbers it was fitted on.
//!
//! Feed every [`BookEvent`] of one instrument to [`FeatureState::on_event`]
//! in order, then read [`FeatureState::vector`] whenever a prediction is
//! wanted. The vector is dimensionless (shares cancel out, prices are in
//! ticks) so one model can serve instruments of different size.
//!
//! | # | name | definition |
//! |---|------|------------|
//! | 0 | `imbalance_l1` | `(q_b − q_a)/(q_b + q_a)` at the best bid/ask |
//! | 1 | `imbalance_depth` | same over the top `depth_levels` levels, level `i` (0-based) weighted `depth_decay^i` |
//! | 2 | `microprice_dev` | `(micro − mid)/tick`, `micro = (p_b·q_a + p_a·q_b)/(q_a + q_b)` |
//! | 3 | `ofi` | EWMA of Cont–Kukanov–Stoikov order-flow imbalance `e_n` per BBO update, divided by the EWMA of the mean top-of-book size |
//! | 4 | `trade_imbalance` | EWMA of signed traded volume over EWMA of traded volume, in [−1, 1] |
//! | 5 | `spread` | `(p_a − p_b)/tick` |
//! | 6 | `volatility` | `sqrt(EWMA((Δmid/tick)²))` per BBO update |
//!
//! OFI (Cont, Kukanov & Stoikov 2014): from the previous best `(P_b', q_b',
//! P_a', q_a')` to the current one,
//! `e_n = 1[P_b ≥ P_b']·q_b − 1[P_b ≤ P_b']·q_b' − 1[P_a ≤ P_a']·q_a + 1[P_a ≥ P_a']·q_a'`.
//!
//! Trade sign: a print against a resting sell is buyer-initiated (+1), against
//! a resting buy seller-initiated (−1); when the feed does not say, a price at
//! or above the ask is +1, at or below the bid −1, otherwise 0.

use types::{Bbo, BookEvent, DepthView, Level, Side, StockLocate};

use crate::stats::Ewma;
use crate::tick::two_sided;
use crate::{positive, ParamError};

/// Number of features.
pub const FEATURE_COUNT: usize = 7;

/// Feature names in vector order; a weights file must list exactly these.
pub const FEATURE_NAMES: [&str; FEATURE_COUNT] = [
    "imbalance_l1",
    "imbalance_depth",
    "microprice_dev",
    "ofi",
    "trade_imbalance",
    "spread",
    "volatility",
];

/// A feature vector in [`FEATURE_NAMES`] order.
pub type FeatureVector = [f64; FEATURE_COUNT];

/// Most levels [`FeatureParams::depth_levels`] may ask for.
pub const MAX_DEPTH_LEVELS: usize = 10;

/// Feature definitions' parameters. Changing them changes the features: a
/// model must be used with the parameters it was trained with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FeatureParams {
    /// Instrument tick in price4 units.
    pub tick: i64,
    /// Levels per side in `imbalance_depth`, 1..=[`MAX_DEPTH_LEVELS`].
    pub depth_levels: usize,
    /// Weight ratio between consecutive levels, (0, 1].
    pub depth_decay: f64,
    /// EWMA weights of the newest observation, (0, 1].
    pub ofi_alpha: f64,
    pub trade_alpha: f64,
    pub vol_alpha: f64,
}

impl FeatureParams {
    pub const fn default_for_tick(tick: i64) -> Self {
        FeatureParams {
            tick,
            depth_levels: 5,
            depth_decay: 0.5,
            ofi_alpha: 0.2,
            trade_alpha: 0.1,
            vol_alpha: 0.05,
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        if self.tick <= 0 {
            return Err(ParamError::new("tick", "must be > 0"));
        }
        if !(1..=MAX_DEPTH_LEVELS).contains(&self.depth_levels) {
            return Err(ParamError::new("depth_levels", "must be in 1..=10"));
        }
        for (name, v) in [
            ("depth_decay", self.depth_decay),
            ("ofi_alpha", self.ofi_alpha),
            ("trade_alpha", self.trade_alpha),
            ("vol_alpha", self.vol_alpha),
        ] {
            positive(name, v)?;
            if v > 1.0 {
                return Err(ParamError::new(name, "must be <= 1"));
            }
        }
        Ok(())
    }
}

/// Best bid and ask as numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Top {
    bid: i64,
    bid_qty: f64,
    ask: i64,
    ask_qty: f64,
}

fn top(bbo: &Bbo) -> Option<Top> {
    match two_sided(bbo) {
        Some((b, a)) if b.qty > 0 && a.qty > 0 => Some(Top {
            bid: b.price.0,
            bid_qty: b.qty as f64,
            ask: a.price.0,
            ask_qty: a.qty as f64,
        }),
        _ => None,
    }
}

/// Cont–Kukanov–Stoikov order-flow contribution of one BBO update.
pub fn ofi_event(
    prev_bid: (i64, f64),
    prev_ask: (i64, f64),
    bid: (i64, f64),
    ask: (i64, f64),
) -> f64 {
    let mut e = 0.0;
    if bid.0 >= prev_bid.0 {
        e += bid.1;
    }
    if bid.0 <= prev_bid.0 {
        e -= prev_bid.1;
    }
    if ask.0 <= prev_ask.0 {
        e -= ask.1;
    }
    if ask.0 >= prev_ask.0 {
        e += prev_ask.1;
    }
    e
}

/// Rolling state of the features of one instrument.
#[derive(Debug, Clone)]
pub struct FeatureState {
    params: FeatureParams,
    inv_tick: f64,
    locate: StockLocate,
    prev: Option<Top>,
    ofi: Ewma,
    top_size: Ewma,
    signed_volume: Ewma,
    volume: Ewma,
    mid_var: Ewma,
    bbo_updates: u64,
}

impl FeatureState {
    pub fn new(locate: StockLocate, params: FeatureParams) -> Result<Self, ParamError> {
        params.validate()?;
        Ok(FeatureState {
            params,
            inv_tick: 1.0 / params.tick as f64,
            locate,
            prev: None,
            ofi: Ewma::new(params.ofi_alpha),
            top_size: Ewma::new(params.ofi_alpha),
            signed_volume: Ewma::new(params.trade_alpha),
            volume: Ewma::new(params.trade_alpha),
            mid_var: Ewma::new(params.vol_alpha),
            bbo_updates: 0,
        })
    }

    pub fn params(&self) -> &FeatureParams {
        &self.params
    }

    pub fn locate(&self) -> StockLocate {
        self.locate
    }

    /// The instrument is now under `locate` (a new feed session).
    pub fn set_locate(&mut self, locate: StockLocate) {
        self.locate = locate;
    }

    /// Two-sided BBO updates seen (the EWMAs are meaningful after a few).
    pub fn bbo_updates(&self) -> u64 {
        self.bbo_updates
    }

    /// Updates the rolling state from one event of this instrument (events
    /// of other instruments are ignored).
    #[inline]
    pub fn on_event(&mut self, event: &BookEvent) {
        match *event {
            BookEvent::Bbo { locate, bbo, .. } if locate == self.locate => {
                let Some(now) = top(&bbo) else {
                    return;
                };
                if let Some(prev) = self.prev {
                    let e = ofi_event(
                        (prev.bid, prev.bid_qty),
                        (prev.ask, prev.ask_qty),
                        (now.bid, now.bid_qty),
                        (now.ask, now.ask_qty),
                    );
                    self.ofi.update(e);
                    let dmid =
                        ((now.bid + now.ask) - (prev.bid + prev.ask)) as f64 * 0.5 * self.inv_tick;
                    self.mid_var.update(dmid * dmid);
                }
                self.top_size.update(0.5 * (now.bid_qty + now.ask_qty));
                self.prev = Some(now);
                self.bbo_updates += 1;
            }
            BookEvent::Trade {
                locate,
                price,
                qty,
                resting_side,
                ..
            } if locate == self.locate => {
                let sign = match resting_side {
                    Some(Side::Sell) => 1.0,
                    Some(Side::Buy) => -1.0,
                    None => match self.prev {
                        Some(t) if price.0 >= t.ask => 1.0,
                        Some(t) if price.0 <= t.bid => -1.0,
                        _ => 0.0,
                    },
                };
                let q = f64::from(qty);
                self.signed_volume.update(sign * q);
                self.volume.update(q);
            }
            _ => {}
        }
    }

    /// The feature vector now; `None` without a two-sided book.
    #[inline]
    pub fn vector<D: DepthView + ?Sized>(&self, depth: &D) -> Option<FeatureVector> {
        let t = top(&depth.bbo(self.locate))?;
        let l1 = (t.bid_qty - t.ask_qty) / (t.bid_qty + t.ask_qty);

        let mut levels = [Level::default(); MAX_DEPTH_LEVELS];
        let n = self.params.depth_levels;
        let (mut wb, mut wa) = (0.0, 0.0);
        let nb = depth.depth(self.locate, Side::Buy, &mut levels[..n]);
        let mut w = 1.0;
        for l in levels.iter().take(nb) {
            wb += w * l.qty as f64;
            w *= self.params.depth_decay;
        }
        let na = depth.depth(self.locate, Side::Sell, &mut levels[..n]);
        let mut w = 1.0;
        for l in levels.iter().take(na) {
            wa += w * l.qty as f64;
            w *= self.params.depth_decay;
        }
        let deep = if wb + wa > 0.0 {
            (wb - wa) / (wb + wa)
        } else {
            0.0
        };

        // micro − mid = (p_a − p_b)/2 · (q_b − q_a)/(q_b + q_a): the same
        // number without a second division or the cancellation of
        // subtracting two nearby prices.
        let spread = (t.ask - t.bid) as f64 * self.inv_tick;
        let micro_dev = 0.5 * spread * l1;

        let size = self.top_size.value();
        let ofi = if size > 0.0 {
            self.ofi.value() / size
        } else {
            0.0
        };
        let vol_traded = self.volume.value();
        let trades = if vol_traded > 0.0 {
            self.signed_volume.value() / vol_traded
        } else {
            0.0
        };
        let vol = libm::sqrt(self.mid_var.value());
        Some([l1, deep, micro_dev, ofi, trades, spread, vol])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::SnapshotDepth;
    use types::{Nanos, Price};

    const LOC: StockLocate = 3;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    fn lvl(p: i64, q: u64) -> Level {
        Level {
            price: Price(p),
            qty: q,
            orders: 1,
        }
    }

    fn bbo_event(depth: &SnapshotDepth<1, 10>) -> BookEvent {
        BookEvent::Bbo {
            locate: LOC,
            bbo: depth.bbo(LOC),
            ts: Nanos(0),
        }
    }

    #[test]
    fn ofi_cases_by_hand() {
        // Bid up: whole new bid size counts as buying pressure.
        assert_eq!(
            ofi_event((100, 5.0), (101, 7.0), (101, 3.0), (102, 7.0)),
            3.0 + 7.0
        );
        // Same prices: size changes only. bid 5→8 (+3), ask 7→4 (−4 +7 = +3).
        assert_eq!(
            ofi_event((100, 5.0), (101, 7.0), (100, 8.0), (101, 4.0)),
            3.0 + 3.0
        );
        // Bid down: old bid size removed; ask down: new ask size is selling.
        assert_eq!(
            ofi_event((100, 5.0), (101, 7.0), (99, 2.0), (100, 6.0)),
            -5.0 - 6.0
        );
    }

    #[test]
    fn every_feature_by_hand() {
        let p = FeatureParams {
            tick: 100,
            depth_levels: 3,
            depth_decay: 0.5,
            ofi_alpha: 0.5,
            trade_alpha: 0.5,
            vol_alpha: 0.5,
        };
        let mut f = FeatureState::new(LOC, p).unwrap();
        let mut d: SnapshotDepth<1, 10> = SnapshotDepth::new();
        assert!(f.vector(&d).is_none());

        d.set_side(
            LOC,
            Side::Buy,
            &[lvl(10_000, 300), lvl(9_900, 200), lvl(9_800, 400)],
        )
        .unwrap();
        d.set_side(
            LOC,
            Side::Sell,
            &[lvl(10_200, 100), lvl(10_300, 600), lvl(10_400, 800)],
        )
        .unwrap();
        f.on_event(&bbo_event(&d));
        // Second update: bid size 300 → 500 at the same price, ask up one tick
        // with 200: e = +500 − 300 + 100 (old ask size leaves) = 300.
        d.set_side(
            LOC,
            Side::Buy,
            &[lvl(10_000, 500), lvl(9_900, 200), lvl(9_800, 400)],
        )
        .unwrap();
        d.set_side(
            LOC,
            Side::Sell,
            &[lvl(10_300, 200), lvl(10_400, 800), lvl(10_500, 50)],
        )
        .unwrap();
        f.on_event(&bbo_event(&d));
        // Trades: 100 buyer-initiated, 300 seller-initiated, 50 unsigned at
        // the ask (→ buyer).
        let trade = |qty, resting_side, price| BookEvent::Trade {
            locate: LOC,
            price: Price(price),
            qty,
            resting_side,
            ts: Nanos(0),
        };
        f.on_event(&trade(100, Some(Side::Sell), 10_300));
        f.on_event(&trade(300, Some(Side::Buy), 10_000));
        f.on_event(&trade(50, None, 10_300));
        // Another instrument's events change nothing.
        f.on_event(&BookEvent::Trade {
            locate: LOC + 1,
            price: Price(1),
            qty: 1_000_000,
            resting_side: Some(Side::Buy),
            ts: Nanos(0),
        });

        let v = f.vector(&d).unwrap();
        // l1: (500 − 200)/(700)
        assert!(close(v[0], 300.0 / 700.0));
        // depth: bids 500 + 0.5·200 + 0.25·400 = 700; asks 200 + 400 + 12.5 = 612.5
        assert!(close(v[1], (700.0 - 612.5) / 1312.5));
        // micro = (10000·200 + 10300·500)/700 = 10214.2857...; mid 10150 → /100
        let micro = (10_000.0 * 200.0 + 10_300.0 * 500.0) / 700.0;
        assert!(close(v[2], (micro - 10_150.0) / 100.0));
        // ofi EWMA(α=.5, from 0): first update has no predecessor, second
        // e = 300 → 150. Top size EWMA of 200 then 350: 100 → 225.
        assert!(close(v[3], 150.0 / 225.0));
        // trades: signed 0→50→−125→−37.5; volume 0→50→175→112.5
        assert!(close(v[4], -37.5 / 112.5));
        // spread 300/100
        assert!(close(v[5], 3.0));
        // Δmid = (20300 − 20200)/2 = 50 = 0.5 tick; EWMA(α=.5) of 0.25 → 0.125
        assert!(close(v[6], 0.125f64.sqrt()));
    }

    #[test]
    fn degenerate_books_give_no_vector_and_no_nan() {
        let mut f = FeatureState::new(LOC, FeatureParams::default_for_tick(1)).unwrap();
        let mut d: SnapshotDepth<1, 10> = SnapshotDepth::new();
        d.set_side(LOC, Side::Buy, &[lvl(100, 0)]).unwrap();
        d.set_side(LOC, Side::Sell, &[lvl(101, 10)]).unwrap();
        f.on_event(&bbo_event(&d));
        assert!(f.vector(&d).is_none());
        d.set_top(LOC, (100, 10), (101, 10)).unwrap();
        f.on_event(&bbo_event(&d));
        let v = f.vector(&d).unwrap();
        assert!(v.iter().all(|x| x.is_finite()));
    }

    #[test]
    fn parameters_are_validated() {
        let good = FeatureParams::default_for_tick(100);
        assert!(FeatureState::new(LOC, good).is_ok());
        for bad in [
            FeatureParams { tick: 0, ..good },
            FeatureParams {
                depth_levels: 0,
                ..good
            },
            FeatureParams {
                depth_levels: 11,
                ..good
            },
            FeatureParams {
                ofi_alpha: 1.5,
                ..good
            },
            FeatureParams {
                depth_decay: f64::NAN,
                ..good
            },
        ] {
            assert!(FeatureState::new(LOC, bad).is_err(), "{bad:?}");
        }
    }
}
