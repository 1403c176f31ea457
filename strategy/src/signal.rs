//! A taker driven by the logistic next-move model.
//!
//! On every BBO update of its instrument it computes the feature vector and
//! `p = P(next mid move is up)`. With nothing in flight and outside the
//! cool-down after its last order, it buys at the ask when `p > threshold`
//! and sells at the bid when `p < 1 − threshold` (IOC), as long as the
//! position stays within `max_position`. A position held for `hold_ns`
//! without a fresh signal in its favour is flattened.
//!
//! The model can be replaced at run time from a weights file; a file that
//! fails validation leaves the current model in force.

use types::{
    BookEvent, DepthView, Nanos, OrderEvent, Price, Side, StockLocate, StrategyId, Symbol,
    TimeInForce, TradingState,
};

use crate::features::{FeatureParams, FeatureState};
use crate::model::{sigmoid, Logistic, ModelError};
use crate::orders::{own_fill, swapped, OrderUpdate, OwnOrders};
use crate::tick::two_sided;
use crate::{Intents, ParamError, Strategy};

/// Operator-settable parameters of a [`SignalTrader`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignalParams {
    /// Trade when `p > threshold` (buy) or `p < 1 − threshold` (sell); in (0.5, 1).
    pub threshold: f64,
    pub qty: u32,
    pub max_position: i64,
    /// Minimum time between two orders.
    pub cooldown_ns: u64,
    /// Flatten a position this long after the last entry in its direction.
    pub hold_ns: u64,
    /// BBO updates to see before trading (the feature EWMAs warm up).
    pub warmup_updates: u64,
}

impl SignalParams {
    pub fn validate(&self) -> Result<(), ParamError> {
        if !(self.threshold > 0.5 && self.threshold < 1.0) {
            return Err(ParamError::new("threshold", "must be in (0.5, 1)"));
        }
        if self.qty == 0 {
            return Err(ParamError::new("qty", "must be > 0"));
        }
        if self.max_position < i64::from(self.qty) {
            return Err(ParamError::new("max_position", "must be >= qty"));
        }
        if self.hold_ns == 0 {
            return Err(ParamError::new("hold_ns", "must be > 0"));
        }
        Ok(())
    }
}

/// Counters an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SignalStats {
    pub predictions: u64,
    pub buys: u64,
    pub sells: u64,
    pub flattens: u64,
    pub model_reloads: u64,
    pub model_rejects: u64,
}

/// One model-driven taker on one instrument.
#[derive(Debug, Clone)]
pub struct SignalTrader {
    id: StrategyId,
    locates: [StockLocate; 1],
    symbol: Symbol,
    params: SignalParams,
    features: FeatureState,
    model: Logistic,
    orders: OwnOrders<4>,
    position: i64,
    last_order: Option<Nanos>,
    last_entry: Nanos,
    /// Latest log-odds of an up move.
    last_logit: Option<f64>,
    /// `ln(threshold / (1 − threshold))`: comparing log-odds against it is
    /// the same decision as comparing `p` against the threshold (the
    /// logistic function is strictly increasing), without an `exp` per event.
    logit_threshold: f64,
    trading: bool,
    stats: SignalStats,
}

impl SignalTrader {
    pub fn new(
        id: StrategyId,
        locate: StockLocate,
        symbol: Symbol,
        features: FeatureParams,
        model: Logistic,
        params: SignalParams,
    ) -> Result<Self, ParamError> {
        params.validate()?;
        Ok(SignalTrader {
            id,
            locates: [locate],
            symbol,
            params,
            features: FeatureState::new(locate, features)?,
            model,
            orders: OwnOrders::new(id),
            position: 0,
            last_order: None,
            last_entry: Nanos(0),
            last_logit: None,
            logit_threshold: logit_of(params.threshold),
            trading: true,
            stats: SignalStats::default(),
        })
    }

    pub fn position(&self) -> i64 {
        self.position
    }

    /// Its orders not finished yet (it decides only while there are none).
    pub fn open_orders(&self) -> usize {
        self.orders.active_count()
    }

    /// The latest prediction, P(next mid move is up).
    pub fn probability(&self) -> Option<f64> {
        self.last_logit.map(sigmoid)
    }

    pub fn stats(&self) -> SignalStats {
        self.stats
    }

    pub fn model(&self) -> &Logistic {
        &self.model
    }

    /// Replaces the model from a weights file; on error the old one stays.
    pub fn load_model(&mut self, json: &[u8]) -> Result<(), ModelError> {
        match Logistic::from_json(json) {
            Ok(m) => {
                self.model = m;
                self.stats.model_reloads += 1;
                Ok(())
            }
            Err(e) => {
                self.stats.model_rejects += 1;
                Err(e)
            }
        }
    }

    fn send<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        side: Side,
        qty: u32,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) -> bool {
        let Some((bid, ask)) = two_sided(&depth.bbo(self.locates[0])) else {
            return false;
        };
        let level = match side {
            Side::Buy => ask,
            Side::Sell => bid,
        };
        let sent = self
            .orders
            .submit_new(
                self.locates[0],
                self.symbol,
                side,
                Price(level.price.0),
                qty,
                TimeInForce::ImmediateOrCancel,
                out,
            )
            .is_some();
        if sent {
            self.last_order = Some(now);
        }
        sent
    }

    fn decide<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        if !self.trading || self.orders.active_count() > 0 {
            return;
        }
        if self
            .last_order
            .is_some_and(|t| now.saturating_sub(t) < self.params.cooldown_ns)
        {
            return;
        }
        let p = self.params;
        let qty = i64::from(p.qty);
        if let Some(z) = self.last_logit {
            // p > threshold ⇔ z > logit(threshold); p < 1 − threshold ⇔ z < −logit(threshold).
            if z > self.logit_threshold && self.position.saturating_add(qty) <= p.max_position {
                if self.send(Side::Buy, p.qty, now, depth, out) {
                    self.stats.buys += 1;
                    self.last_entry = now;
                }
                return;
            }
            if z < -self.logit_threshold && self.position.saturating_sub(qty) >= -p.max_position {
                if self.send(Side::Sell, p.qty, now, depth, out) {
                    self.stats.sells += 1;
                    self.last_entry = now;
                }
                return;
            }
        }
        if self.position != 0 && now.saturating_sub(self.last_entry) >= p.hold_ns {
            let side = if self.position > 0 {
                Side::Sell
            } else {
                Side::Buy
            };
            let qty = u32::try_from(self.position.unsigned_abs()).unwrap_or(u32::MAX);
            if self.send(side, qty, now, depth, out) {
                self.stats.flattens += 1;
            }
        }
    }
}

impl SignalTrader {
    /// The instrument it trades.
    pub fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Its instrument is now under locate `b` if it was under `a` (and
    /// the other way round): a new feed session's numbering. Its orders
    /// and features follow.
    pub fn swap_locates(&mut self, a: StockLocate, b: StockLocate) {
        self.locates[0] = swapped(self.locates[0], a, b);
        self.orders.swap_locates(a, b);
        self.features.set_locate(self.locates[0]);
    }
}

impl Strategy for SignalTrader {
    type Params = SignalParams;

    fn id(&self) -> StrategyId {
        self.id
    }

    fn locates(&self) -> &[StockLocate] {
        &self.locates
    }

    #[inline]
    fn on_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &BookEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        if event.locate() != self.locates[0] {
            return;
        }
        self.features.on_event(event);
        match *event {
            BookEvent::Bbo { ts, .. } => {
                if self.features.bbo_updates() < self.params.warmup_updates {
                    return;
                }
                if let Some(x) = self.features.vector(depth) {
                    let z = self.model.logit(&x);
                    self.last_logit = z.is_finite().then_some(z);
                    self.stats.predictions += 1;
                }
                self.decide(ts, depth, out);
            }
            BookEvent::State { state, .. } => self.trading = state == TradingState::Trading,
            _ => {}
        }
    }

    fn on_order<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &OrderEvent,
        _depth: &D,
        out: &mut Intents<N>,
    ) {
        if let Some((locate, shares)) = own_fill(event, self.id) {
            if locate == self.locates[0] {
                self.position = self.position.saturating_add(shares);
            }
        }
        let _: OrderUpdate = self.orders.on_event(event, out);
    }

    fn on_timer<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        // Only the holding limit is time driven; signals need fresh books.
        let saved = self.last_logit.take();
        self.decide(now, depth, out);
        self.last_logit = saved;
    }

    fn on_restored_fill(&mut self, leg: usize, side: Side, qty: u32) {
        if leg == 0 {
            self.position = self
                .position
                .saturating_add(side.sign().saturating_mul(qty as i64));
        }
    }

    fn params(&self) -> &SignalParams {
        &self.params
    }

    fn set_params(&mut self, params: SignalParams) -> Result<(), ParamError> {
        params.validate()?;
        self.params = params;
        self.logit_threshold = logit_of(params.threshold);
        Ok(())
    }
}

fn logit_of(p: f64) -> f64 {
    libm::log(p / (1.0 - p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::SnapshotDepth;
    use crate::features::FEATURE_COUNT;
    use types::{OrderId, OrderIntent};

    const ID: StrategyId = StrategyId(5);
    const LOC: StockLocate = 8;

    /// p = σ(4·imbalance_l1).
    fn imbalance_model() -> Logistic {
        let mut weights = [0.0; FEATURE_COUNT];
        weights[0] = 4.0;
        Logistic::new([0.0; FEATURE_COUNT], [1.0; FEATURE_COUNT], weights, 0.0).unwrap()
    }

    fn params() -> SignalParams {
        SignalParams {
            threshold: 0.8,
            qty: 100,
            max_position: 100,
            cooldown_ns: 1_000,
            hold_ns: 1_000_000,
            warmup_updates: 2,
        }
    }

    fn trader() -> SignalTrader {
        SignalTrader::new(
            ID,
            LOC,
            Symbol::new("SIG").unwrap(),
            FeatureParams::default_for_tick(100),
            imbalance_model(),
            params(),
        )
        .unwrap()
    }

    fn book(
        t: &mut SignalTrader,
        d: &mut SnapshotDepth<1, 4>,
        bid_qty: u64,
        ask_qty: u64,
        ts: u64,
    ) -> heapless::Vec<OrderIntent, 4> {
        d.set_top(LOC, (10_000, bid_qty), (10_100, ask_qty))
            .unwrap();
        let mut out: Intents = Intents::new();
        let ev = BookEvent::Bbo {
            locate: LOC,
            bbo: d.bbo(LOC),
            ts: Nanos(ts),
        };
        t.on_book(&ev, d, &mut out);
        out.drain().collect()
    }

    /// The venue's answers to the first buy the trader sends (100 at the
    /// ask): acknowledged, then filled in full.
    fn buy_accepted_and_filled(t: &mut SignalTrader, d: &SnapshotDepth<1, 4>, out: &mut Intents) {
        t.on_order(
            &OrderEvent::Accepted {
                strategy: ID,
                order: OrderId(1),
            },
            d,
            out,
        );
        t.on_order(
            &OrderEvent::Filled {
                strategy: ID,
                order: OrderId(1),
                locate: LOC,
                side: Side::Buy,
                price: Price(10_100),
                qty: 100,
                leaves: 0,
            },
            d,
            out,
        );
    }

    /// A new feed session puts the instrument under another locate: the
    /// trader's features, orders and fills follow, and the old locate's
    /// book (another instrument's now) moves nothing.
    #[test]
    fn a_new_locate_carries_features_orders_and_position() {
        const NEW: StockLocate = LOC + 5;
        let mut t = trader();
        let mut d = SnapshotDepth::new();
        book(&mut t, &mut d, 100, 100, 1);
        book(&mut t, &mut d, 900, 100, 2);
        let mut out: Intents = Intents::new();
        buy_accepted_and_filled(&mut t, &d, &mut out);
        assert_eq!(t.position(), 100);
        t.swap_locates(LOC, NEW);
        assert_eq!(t.locates(), &[NEW]);
        assert_eq!(t.features.locate(), NEW);
        assert_eq!(t.symbol(), Symbol::new("SIG").unwrap());
        // The old locate's events are not its instrument's any more.
        let updates = t.features.bbo_updates();
        assert!(book(&mut t, &mut d, 100, 900, 3).is_empty());
        assert_eq!(t.features.bbo_updates(), updates);
        // A fill reported under the new locate is its own.
        t.on_order(
            &OrderEvent::Filled {
                strategy: ID,
                order: OrderId(1),
                locate: NEW,
                side: Side::Sell,
                price: Price(10_000),
                qty: 40,
                leaves: 0,
            },
            &d,
            &mut out,
        );
        assert_eq!(t.position(), 60);
    }

    #[test]
    fn strong_bid_imbalance_buys_at_the_ask_then_respects_the_limit() {
        let mut t = trader();
        let mut d = SnapshotDepth::new();
        assert!(book(&mut t, &mut d, 100, 100, 1).is_empty());
        // Warm-up done, balanced book: p = 0.5, nothing.
        assert!(book(&mut t, &mut d, 100, 100, 2).is_empty());
        assert_eq!(t.probability(), Some(0.5));
        // imbalance 0.3 → p = σ(1.2) ≈ 0.77 < 0.8: not enough.
        assert!(book(&mut t, &mut d, 650, 350, 3).is_empty());
        assert!((t.probability().unwrap() - 1.0 / (1.0 + (-1.2f64).exp())).abs() < 1e-12);
        // imbalance (900−100)/1000 = 0.8 → p = σ(3.2) ≈ 0.961 > 0.8
        let r = book(&mut t, &mut d, 900, 100, 4);
        assert_eq!(
            &r[..],
            &[OrderIntent::New {
                strategy: ID,
                locate: LOC,
                symbol: Symbol::new("SIG").unwrap(),
                side: Side::Buy,
                price: Price(10_100),
                qty: 100,
                tif: TimeInForce::ImmediateOrCancel
            }]
        );
        let mut out: Intents = Intents::new();
        buy_accepted_and_filled(&mut t, &d, &mut out);
        assert_eq!(t.position(), 100);
        // Still bullish but at the limit: nothing more.
        assert!(book(&mut t, &mut d, 900, 100, 10_000).is_empty());
        // Strongly bearish: sells.
        let r = book(&mut t, &mut d, 100, 900, 20_000);
        assert!(matches!(
            r[0],
            OrderIntent::New {
                side: Side::Sell,
                price: Price(10_000),
                ..
            }
        ));
    }

    #[test]
    fn holding_limit_flattens_on_the_timer() {
        let mut t = trader();
        let mut d = SnapshotDepth::new();
        book(&mut t, &mut d, 100, 100, 1);
        book(&mut t, &mut d, 900, 100, 2);
        let mut out: Intents = Intents::new();
        buy_accepted_and_filled(&mut t, &d, &mut out);
        t.on_timer(Nanos(500_000), &d, &mut out);
        assert!(out.is_empty());
        t.on_timer(Nanos(2 + 1_000_000), &d, &mut out);
        assert!(matches!(
            out.as_slice()[0],
            OrderIntent::New {
                side: Side::Sell,
                qty: 100,
                ..
            }
        ));
    }

    #[test]
    fn bad_model_file_keeps_the_old_model() {
        let mut t = trader();
        let before = *t.model();
        assert!(t.load_model(b"{\"format\":\"nope\"}").is_err());
        assert_eq!(*t.model(), before);
        assert_eq!(t.stats().model_rejects, 1);
        assert!(t
            .set_params(SignalParams {
                threshold: 0.4,
                ..params()
            })
            .is_err());
        assert!(t
            .set_params(SignalParams {
                max_position: 10,
                ..params()
            })
            .is_err());
        assert_eq!(*t.params(), params());
    }
}
