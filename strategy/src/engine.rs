//! Hosts several strategies on several instruments and routes events to them.
//!
//! Capacities are fixed: `S` strategies and `R` (instrument, strategy)
//! subscriptions. Book events are dispatched by stock locate through a sorted
//! route table (binary search, then every subscriber of that locate in the
//! order they were added); order events go to the strategy named in them;
//! timer ticks go to every strategy. All intents of one call land in the
//! caller's buffer in dispatch order.
//!
//! Strategies are held by value in an enum, not behind `dyn`: no allocation,
//! and each callback is a direct, inlinable call. A [`PairsTrader`] carries
//! its 4 KiB sample ring inline, so an engine for 16 strategies is ~70 KiB:
//! keep it in a `static` or on a large stack, not in a small task stack.

use heapless::Vec;
use types::{BookEvent, DepthView, Nanos, OrderEvent, Side, StockLocate, StrategyId, Symbol};

use crate::mm::{MarketMaker, MmParams};
use crate::model::ModelError;
use crate::signal::{SignalParams, SignalTrader};
use crate::statarb::{PairsParams, PairsTrader, SpreadTrader};
use crate::{Intents, ParamError, Strategy};

/// A strategy the engine can host.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // held by value on purpose: no allocation
pub enum Hosted {
    MarketMaker(MarketMaker),
    Pairs(PairsTrader),
    /// Y against two hedge legs.
    Basket3(SpreadTrader<3>),
    Signal(SignalTrader),
}

/// Parameters for one hosted strategy, matching its kind (`Pairs` also
/// serves baskets).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnyParams {
    MarketMaker(MmParams),
    Pairs(PairsParams),
    Signal(SignalParams),
}

/// Why the engine refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineError {
    /// No room for another strategy.
    StrategiesFull,
    /// No room for its subscriptions; nothing was added.
    RoutesFull,
    /// A strategy with this id is already hosted.
    DuplicateId(StrategyId),
    UnknownStrategy(StrategyId),
    /// The parameters are for another kind of strategy.
    KindMismatch,
    /// The parameters failed validation; the old ones stay.
    Param(ParamError),
    /// The weights file was refused; the old model stays.
    Model(ModelError),
    /// Only signal strategies have a model.
    NoModel,
}

/// Counters an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub book_events: u64,
    /// Book events for instruments no strategy trades.
    pub unrouted_book_events: u64,
    /// Order events naming a strategy that is not hosted.
    pub orphan_order_events: u64,
    /// Fills of an earlier run no hosted strategy could take (see
    /// [`Engine::restore_fill`]): risk and the OMS hold them, no strategy's
    /// position shows them.
    pub unattributed_fills: u64,
}

macro_rules! dispatch {
    ($hosted:expr, $s:ident => $body:expr) => {
        match $hosted {
            Hosted::MarketMaker($s) => $body,
            Hosted::Pairs($s) => $body,
            Hosted::Basket3($s) => $body,
            Hosted::Signal($s) => $body,
        }
    };
}

impl Hosted {
    pub fn id(&self) -> StrategyId {
        dispatch!(self, s => s.id())
    }

    pub fn locates(&self) -> &[StockLocate] {
        dispatch!(self, s => s.locates())
    }

    /// The instrument of leg `i` (the order of [`Hosted::locates`]).
    pub fn leg_symbol(&self, i: usize) -> Option<Symbol> {
        match self {
            Hosted::MarketMaker(s) => (i == 0).then(|| s.symbol()),
            Hosted::Signal(s) => (i == 0).then(|| s.symbol()),
            Hosted::Pairs(s) => s.leg_symbol(i),
            Hosted::Basket3(s) => s.leg_symbol(i),
        }
    }

    /// Locates `a` and `b` exchanged in every leg and own order.
    pub fn swap_locates(&mut self, a: StockLocate, b: StockLocate) {
        dispatch!(self, s => s.swap_locates(a, b))
    }
}

/// A bit for each of `legs` legs (at most 8: strategies have no more).
fn legs_mask(legs: usize) -> u8 {
    match legs {
        0 => 0,
        n if n >= 8 => u8::MAX,
        n => (1u8 << n) - 1,
    }
}

fn order_event_strategy(e: &OrderEvent) -> StrategyId {
    match *e {
        OrderEvent::Entered { strategy, .. }
        | OrderEvent::Accepted { strategy, .. }
        | OrderEvent::Filled { strategy, .. }
        | OrderEvent::FillAdjusted { strategy, .. }
        | OrderEvent::Replaced { strategy, .. }
        | OrderEvent::Canceled { strategy, .. }
        | OrderEvent::Rejected { strategy, .. }
        | OrderEvent::AmendRejected { strategy, .. } => strategy,
    }
}

/// Up to `S` strategies with up to `R` instrument subscriptions in total.
#[derive(Debug, Clone)]
pub struct Engine<const S: usize, const R: usize> {
    strategies: Vec<Hosted, S>,
    /// (locate, index into `strategies`), sorted by locate, stable; only
    /// strategies with no stale leg.
    routes: Vec<(StockLocate, u8), R>,
    /// Per strategy (same index), a bit per leg whose locate is not known
    /// in the current feed session (see [`Engine::unbind_all`]).
    stale: Vec<u8, S>,
    /// A bit per locate modulo [`ROUTE_FILTER_BITS`], set for every locate
    /// in `routes`: a whole-market feed's events are nearly all for
    /// instruments no strategy trades, and a clear bit says so with one
    /// load instead of a search of `routes`.
    route_filter: [u64; ROUTE_FILTER_BITS / 64],
    stats: EngineStats,
}

/// Bits of [`Engine`]'s route filter (two cache lines).
const ROUTE_FILTER_BITS: usize = 1024;

/// Word and bit of `locate` in the route filter.
#[inline(always)]
fn filter_bit(locate: StockLocate) -> (usize, u64) {
    let bit = usize::from(locate) % ROUTE_FILTER_BITS;
    (bit / 64, 1 << (bit % 64))
}

impl<const S: usize, const R: usize> Default for Engine<S, R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const S: usize, const R: usize> Engine<S, R> {
    pub const fn new() -> Self {
        const { assert!(S <= 255, "strategy indices are stored as u8") };
        Engine {
            strategies: Vec::new(),
            routes: Vec::new(),
            stale: Vec::new(),
            route_filter: [0; ROUTE_FILTER_BITS / 64],
            stats: EngineStats {
                book_events: 0,
                unrouted_book_events: 0,
                orphan_order_events: 0,
                unattributed_fills: 0,
            },
        }
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    pub fn len(&self) -> usize {
        self.strategies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.strategies.is_empty()
    }

    /// Adds a strategy and subscribes it to its instruments.
    pub fn add(&mut self, strategy: Hosted) -> Result<(), EngineError> {
        let id = strategy.id();
        if self.strategies.iter().any(|s| s.id() == id) {
            return Err(EngineError::DuplicateId(id));
        }
        if self.strategies.is_full() {
            return Err(EngineError::StrategiesFull);
        }
        if R - self.routes.len() < strategy.locates().len() {
            return Err(EngineError::RoutesFull);
        }
        let index = self.strategies.len() as u8;
        for &locate in strategy.locates() {
            // Insert after existing subscribers of the same locate.
            let at = self.routes.partition_point(|&(l, _)| l <= locate);
            self.routes
                .insert(at, (locate, index))
                .map_err(|_| EngineError::RoutesFull)?;
            let (word, bit) = filter_bit(locate);
            self.route_filter[word] |= bit;
        }
        // `stale` has room: it holds one entry per strategy.
        let _ = self.stale.push(0);
        self.strategies
            .push(strategy)
            .map_err(|_| EngineError::StrategiesFull)
    }

    // ---------------------------------------------------------- feed sessions
    //
    // A new feed session numbers instruments anew: a locate of the old one
    // may name another instrument now. Strategies keep their symbols; their
    // locates go stale at the session change and are looked up again as the
    // new directory names their symbols. A strategy with a stale leg hears
    // no book event and no timer tick (it decides nothing: no order for a
    // locate that may be another instrument's); its order events still
    // reach it (its trackers wait for them).

    /// Every leg of every strategy goes stale (the feed starts a new
    /// session): no strategy decides until [`Engine::bind`] has found all
    /// of its legs again.
    pub fn unbind_all(&mut self) {
        for (s, stale) in self.strategies.iter().zip(self.stale.iter_mut()) {
            *stale = legs_mask(s.locates().len());
        }
        self.rebuild_routes();
    }

    /// Stale legs under locate `a` are from now on under `b` and the other
    /// way round, with their own orders: the same renumbering the caller
    /// gives risk and the OMS for state whose instrument has no locate in
    /// the new session yet. Legs already bound are left alone.
    pub fn swap_stale(&mut self, a: StockLocate, b: StockLocate) {
        for (s, stale) in self.strategies.iter_mut().zip(self.stale.iter()) {
            if *stale != 0 {
                s.swap_locates(a, b);
            }
        }
    }

    /// The new session's directory names `symbol` at `locate`: every stale
    /// leg trading `symbol` is bound to it (its orders follow, see
    /// [`Hosted::swap_locates`]); a strategy whose legs are all bound
    /// decides again from the next event. How many legs were bound.
    pub fn bind(&mut self, symbol: &Symbol, locate: StockLocate) -> usize {
        let mut bound = 0;
        for (s, stale) in self.strategies.iter_mut().zip(self.stale.iter_mut()) {
            for leg in 0..s.locates().len().min(8) {
                if *stale & (1 << leg) == 0 || s.leg_symbol(leg).as_ref() != Some(symbol) {
                    continue;
                }
                let old = s.locates().get(leg).copied().unwrap_or(locate);
                if old != locate {
                    s.swap_locates(old, locate);
                }
                *stale &= !(1 << leg);
                bound += 1;
            }
        }
        if bound > 0 {
            self.rebuild_routes();
        }
        bound
    }

    /// Whether strategy `id` has a leg whose locate is not known.
    pub fn is_stale(&self, id: StrategyId) -> bool {
        self.strategies
            .iter()
            .zip(self.stale.iter())
            .any(|(s, stale)| s.id() == id && *stale != 0)
    }

    /// Legs whose locate is not known, over every strategy.
    pub fn stale_legs(&self) -> usize {
        self.stale.iter().map(|m| m.count_ones() as usize).sum()
    }

    /// Each stale leg: its locate now and its symbol.
    pub fn stale_legs_iter(&self) -> impl Iterator<Item = (StockLocate, Symbol)> + '_ {
        self.strategies
            .iter()
            .zip(self.stale.iter())
            .flat_map(|(s, stale)| {
                s.locates()
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| *i < 8 && *stale & (1 << i) != 0)
                    .filter_map(move |(i, &l)| s.leg_symbol(i).map(|sym| (l, sym)))
            })
    }

    /// The route table from the strategies with no stale leg (it has room:
    /// [`Engine::add`] made room for every leg).
    fn rebuild_routes(&mut self) {
        self.routes.clear();
        self.route_filter = [0; ROUTE_FILTER_BITS / 64];
        for (index, (s, stale)) in self.strategies.iter().zip(self.stale.iter()).enumerate() {
            if *stale != 0 {
                continue;
            }
            for &locate in s.locates() {
                let at = self.routes.partition_point(|&(l, _)| l <= locate);
                let _ = self.routes.insert(at, (locate, index as u8));
                let (word, bit) = filter_bit(locate);
                self.route_filter[word] |= bit;
            }
        }
    }

    pub fn get(&self, id: StrategyId) -> Option<&Hosted> {
        self.strategies.iter().find(|s| s.id() == id)
    }

    fn get_mut(&mut self, id: StrategyId) -> Option<&mut Hosted> {
        self.strategies.iter_mut().find(|s| s.id() == id)
    }

    /// Routes a book event to every strategy trading its instrument. An
    /// event for an instrument nobody trades (nearly every event of a
    /// whole-market feed) costs a load and a test.
    #[inline(always)]
    pub fn on_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &BookEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        self.stats.book_events += 1;
        let locate = event.locate();
        let (word, bit) = filter_bit(locate);
        if self.route_filter[word] & bit == 0 {
            self.stats.unrouted_book_events += 1;
            return;
        }
        self.route_book(locate, event, depth, out);
    }

    /// [`Engine::on_book`] past the route filter: the strategies routed
    /// `locate`, if any (another locate may share its filter bit).
    fn route_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        locate: StockLocate,
        event: &BookEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let start = self.routes.partition_point(|&(l, _)| l < locate);
        let mut routed = false;
        for &(l, index) in self.routes.get(start..).unwrap_or(&[]) {
            if l != locate {
                break;
            }
            routed = true;
            if let Some(s) = self.strategies.get_mut(usize::from(index)) {
                dispatch!(s, s => s.on_book(event, depth, out));
            }
        }
        if !routed {
            self.stats.unrouted_book_events += 1;
        }
    }

    /// Hands an order event to the strategy that owns the order.
    pub fn on_order<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &OrderEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        match self.get_mut(order_event_strategy(event)) {
            Some(s) => dispatch!(s, s => s.on_order(event, depth, out)),
            None => self.stats.orphan_order_events += 1,
        }
    }

    /// A clock tick for every strategy.
    pub fn on_timer<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        for (s, stale) in self.strategies.iter_mut().zip(self.stale.iter()) {
            if *stale == 0 {
                dispatch!(s, s => s.on_timer(now, depth, out));
            }
        }
    }

    /// A fill from an earlier run (the journal's hand-back, or a venue's
    /// resend after a crash) of `symbol`, for the strategy whose order it
    /// was, or — `None`, a record naming no strategy — for the only strategy
    /// trading `symbol`: that strategy's position in it moves (see
    /// [`Strategy::on_restored_fill`]). `false`, counted in
    /// [`EngineStats::unattributed_fills`], when no strategy (or several,
    /// none named) trades it.
    pub fn restore_fill(
        &mut self,
        strategy: Option<StrategyId>,
        symbol: &Symbol,
        side: Side,
        qty: u32,
    ) -> bool {
        let mut found = None;
        let mut matches = 0;
        for (i, s) in self.strategies.iter().enumerate() {
            if strategy.is_some_and(|id| id != s.id()) {
                continue;
            }
            for leg in 0..s.locates().len() {
                if s.leg_symbol(leg).as_ref() == Some(symbol) {
                    found = Some((i, leg));
                    matches += 1;
                }
            }
        }
        match (found, matches) {
            (Some((i, leg)), 1) => {
                if let Some(s) = self.strategies.get_mut(i) {
                    dispatch!(s, s => s.on_restored_fill(leg, side, qty));
                }
                true
            }
            _ => {
                self.stats.unattributed_fills += 1;
                false
            }
        }
    }

    /// Risk's limits changed or its kill switch was re-armed: every
    /// strategy may try what it held off after a refusal.
    pub fn on_limits_changed(&mut self) {
        for s in self.strategies.iter_mut() {
            dispatch!(s, s => s.on_limits_changed());
        }
    }

    /// Validates and applies new parameters to one strategy atomically; on
    /// any error its current parameters stay in force.
    pub fn set_params(&mut self, id: StrategyId, params: AnyParams) -> Result<(), EngineError> {
        let s = self.get_mut(id).ok_or(EngineError::UnknownStrategy(id))?;
        let r = match (s, params) {
            (Hosted::MarketMaker(s), AnyParams::MarketMaker(p)) => s.set_params(p),
            (Hosted::Pairs(s), AnyParams::Pairs(p)) => s.set_params(p),
            (Hosted::Basket3(s), AnyParams::Pairs(p)) => s.set_params(p),
            (Hosted::Signal(s), AnyParams::Signal(p)) => s.set_params(p),
            _ => return Err(EngineError::KindMismatch),
        };
        r.map_err(EngineError::Param)
    }

    /// Replaces a signal strategy's model from a weights file, atomically.
    pub fn load_model(&mut self, id: StrategyId, json: &[u8]) -> Result<(), EngineError> {
        match self.get_mut(id) {
            Some(Hosted::Signal(s)) => s.load_model(json).map_err(EngineError::Model),
            Some(_) => Err(EngineError::NoModel),
            None => Err(EngineError::UnknownStrategy(id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::SnapshotDepth;
    use crate::statarb::Leg;
    use types::{OrderId, OrderIntent, Side, Symbol};

    fn mm(id: u16, locate: StockLocate) -> Hosted {
        Hosted::MarketMaker(
            MarketMaker::new(
                StrategyId(id),
                locate,
                Symbol::new("MM").unwrap(),
                MmParams::default_for_cent_tick(),
            )
            .unwrap(),
        )
    }

    fn pairs(id: u16, y: StockLocate, x: StockLocate) -> Hosted {
        let leg = |locate| Leg {
            locate,
            symbol: Symbol::new("P").unwrap(),
            tick: 100,
        };
        Hosted::Pairs(
            PairsTrader::new(
                StrategyId(id),
                leg(y),
                leg(x),
                PairsParams::avellaneda_lee(),
            )
            .unwrap(),
        )
    }

    fn bbo(depth: &SnapshotDepth<4, 4>, locate: StockLocate) -> BookEvent {
        BookEvent::Bbo {
            locate,
            bbo: depth.bbo(locate),
            ts: Nanos(1),
        }
    }

    #[test]
    fn routes_by_locate_to_every_subscriber() {
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        e.add(mm(2, 20)).unwrap();
        e.add(mm(3, 10)).unwrap();
        e.add(pairs(4, 10, 20)).unwrap();
        let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
        d.set_top(10, (999_500, 100), (1_000_500, 100)).unwrap();
        d.set_top(20, (499_000, 100), (501_000, 100)).unwrap();
        let mut out: Intents = Intents::new();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        // Both locate-10 market makers quote both sides; nobody else acts.
        let owners: heapless::Vec<u16, 8> = out.as_slice().iter().map(|i| i.strategy().0).collect();
        assert_eq!(&owners[..], &[1, 1, 3, 3]);
        out.clear();
        e.on_book(&bbo(&d, 99), &d, &mut out);
        assert!(out.is_empty());
        assert_eq!(e.stats().unrouted_book_events, 1);
    }

    /// A locate sharing a routed locate's filter bit is still not routed;
    /// stale strategies leave the filter with their routes, and come back
    /// into it when bound again.
    #[test]
    fn the_route_filter_follows_the_routes() {
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
        let shares_a_bit = 10 + ROUTE_FILTER_BITS as u16;
        for l in [10, shares_a_bit, 11] {
            d.set_top(l, (999_500, 100), (1_000_500, 100)).unwrap();
        }
        let mut out: Intents = Intents::new();
        e.on_book(&bbo(&d, shares_a_bit), &d, &mut out);
        e.on_book(&bbo(&d, 11), &d, &mut out);
        assert!(out.is_empty());
        assert_eq!(e.stats().unrouted_book_events, 2);
        e.unbind_all();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        assert!(out.is_empty(), "a stale strategy hears nothing");
        assert_eq!(e.stats().unrouted_book_events, 3);
        assert_eq!(e.route_filter, [0; ROUTE_FILTER_BITS / 64]);
        let Some(Hosted::MarketMaker(m)) = e.get(StrategyId(1)) else {
            panic!()
        };
        let symbol = m.symbol();
        // The new session names the symbol at locate 11.
        assert_eq!(e.bind(&symbol, 11), 1);
        e.on_book(&bbo(&d, 10), &d, &mut out);
        assert!(out.is_empty());
        e.on_book(&bbo(&d, 11), &d, &mut out);
        assert_eq!(out.len(), 2, "quotes both sides at its new locate");
        assert_eq!(e.stats().unrouted_book_events, 4);
        assert_eq!(e.stats().book_events, 5);
    }

    #[test]
    fn order_events_reach_their_owner_only() {
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        e.add(mm(2, 10)).unwrap();
        let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
        d.set_top(10, (999_500, 100), (1_000_500, 100)).unwrap();
        let mut out: Intents = Intents::new();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        out.clear();
        let acc = |s, o| OrderEvent::Accepted {
            strategy: StrategyId(s),
            order: OrderId(o),
        };
        e.on_order(&acc(2, 70), &d, &mut out);
        let Some(Hosted::MarketMaker(m2)) = e.get(StrategyId(2)) else {
            panic!()
        };
        assert_eq!(m2.orders().get(0).unwrap().id, OrderId(70));
        let Some(Hosted::MarketMaker(m1)) = e.get(StrategyId(1)) else {
            panic!()
        };
        assert!(!m1.orders().get(0).unwrap().is_live());
        e.on_order(&acc(9, 71), &d, &mut out);
        assert_eq!(e.stats().orphan_order_events, 1);
        assert!(out.is_empty());
    }

    #[test]
    fn capacity_and_duplicates_are_refused() {
        let mut e: Engine<2, 3> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        assert_eq!(
            e.add(mm(1, 11)),
            Err(EngineError::DuplicateId(StrategyId(1)))
        );
        e.add(pairs(2, 10, 20)).unwrap();
        assert_eq!(e.add(mm(3, 12)), Err(EngineError::StrategiesFull));
        let mut e: Engine<4, 2> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        assert_eq!(e.add(pairs(2, 10, 20)), Err(EngineError::RoutesFull));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn runtime_parameters_through_the_engine() {
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm(1, 10)).unwrap();
        e.add(pairs(2, 10, 20)).unwrap();
        let good = MmParams {
            quote_qty: 200,
            ..MmParams::default_for_cent_tick()
        };
        e.set_params(StrategyId(1), AnyParams::MarketMaker(good))
            .unwrap();
        let bad = MmParams { tick: 0, ..good };
        assert_eq!(
            e.set_params(StrategyId(1), AnyParams::MarketMaker(bad)),
            Err(EngineError::Param(ParamError::new(
                "tick",
                "must be in 1..=1_000_000"
            )))
        );
        assert_eq!(
            e.set_params(StrategyId(2), AnyParams::MarketMaker(good)),
            Err(EngineError::KindMismatch)
        );
        assert_eq!(
            e.set_params(StrategyId(7), AnyParams::MarketMaker(good)),
            Err(EngineError::UnknownStrategy(StrategyId(7)))
        );
        let Some(Hosted::MarketMaker(m)) = e.get(StrategyId(1)) else {
            panic!()
        };
        assert_eq!(m.params().quote_qty, 200);
        // The new size is used for the next quote.
        let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
        d.set_top(10, (999_500, 100), (1_000_500, 100)).unwrap();
        let mut out: Intents = Intents::new();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        assert!(matches!(
            out.as_slice()[0],
            OrderIntent::New { qty: 200, .. }
        ));
    }

    #[test]
    fn model_reload_through_the_engine() {
        use crate::features::{FeatureParams, FEATURE_NAMES};
        use crate::model::Logistic;
        let sig = SignalTrader::new(
            StrategyId(5),
            3,
            Symbol::new("S").unwrap(),
            FeatureParams::default_for_tick(100),
            Logistic::constant(0.0).unwrap(),
            SignalParams {
                threshold: 0.6,
                qty: 1,
                max_position: 1,
                cooldown_ns: 0,
                hold_ns: 1,
                warmup_updates: 0,
            },
        )
        .unwrap();
        let mut e: Engine<2, 2> = Engine::new();
        e.add(Hosted::Signal(sig)).unwrap();
        e.add(mm(1, 10)).unwrap();
        let mut json: heapless::String<512> = heapless::String::new();
        json.push_str("{\"format\":\"strategy-logistic-v1\",\"features\":[")
            .unwrap();
        for (i, n) in FEATURE_NAMES.iter().enumerate() {
            if i > 0 {
                json.push(',').unwrap();
            }
            json.push('"').unwrap();
            json.push_str(n).unwrap();
            json.push('"').unwrap();
        }
        json.push_str("],\"mean\":[0,0,0,0,0,0,0],\"scale\":[1,1,1,1,1,1,1],\"weights\":[1,0,0,0,0,0,0],\"intercept\":0.5}").unwrap();
        e.load_model(StrategyId(5), json.as_bytes()).unwrap();
        let Some(Hosted::Signal(s)) = e.get(StrategyId(5)) else {
            panic!()
        };
        assert_eq!(s.model().intercept(), 0.5);
        assert_eq!(
            e.load_model(StrategyId(5), b"{}"),
            Err(EngineError::Model(ModelError::Json))
        );
        let Some(Hosted::Signal(s)) = e.get(StrategyId(5)) else {
            panic!()
        };
        assert_eq!(s.model().weights()[0], 1.0, "old model kept");
        assert_eq!(
            e.load_model(StrategyId(1), json.as_bytes()),
            Err(EngineError::NoModel)
        );
        assert_eq!(
            e.load_model(StrategyId(9), json.as_bytes()),
            Err(EngineError::UnknownStrategy(StrategyId(9)))
        );
    }

    fn mm_on(id: u16, locate: StockLocate, symbol: &str) -> Hosted {
        Hosted::MarketMaker(
            MarketMaker::new(
                StrategyId(id),
                locate,
                Symbol::new(symbol).unwrap(),
                MmParams::default_for_cent_tick(),
            )
            .unwrap(),
        )
    }

    fn pair_on(id: u16, y: (StockLocate, &str), x: (StockLocate, &str)) -> Hosted {
        let leg = |(locate, name): (StockLocate, &str)| Leg {
            locate,
            symbol: Symbol::new(name).unwrap(),
            tick: 100,
        };
        Hosted::Pairs(
            PairsTrader::new(
                StrategyId(id),
                leg(y),
                leg(x),
                PairsParams::avellaneda_lee(),
            )
            .unwrap(),
        )
    }

    /// Fills of an earlier run go to the strategy whose order it was, on
    /// the leg trading the symbol; one naming no strategy goes to the only
    /// strategy trading the symbol, and to none when several do.
    #[test]
    fn restored_fills_move_the_owning_strategys_position() {
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm_on(1, 10, "AAA")).unwrap();
        e.add(pair_on(2, (10, "AAA"), (20, "BBB"))).unwrap();
        let aaa = Symbol::new("AAA").unwrap();
        let bbb = Symbol::new("BBB").unwrap();
        let mm_position = |e: &Engine<4, 8>| match e.get(StrategyId(1)) {
            Some(Hosted::MarketMaker(m)) => m.position(),
            _ => panic!("no maker"),
        };
        let pair_positions = |e: &Engine<4, 8>| match e.get(StrategyId(2)) {
            Some(Hosted::Pairs(p)) => p.positions(),
            _ => panic!("no pair"),
        };
        assert!(e.restore_fill(Some(StrategyId(1)), &aaa, Side::Buy, 300));
        assert!(e.restore_fill(Some(StrategyId(1)), &aaa, Side::Sell, 100));
        assert_eq!(mm_position(&e), 200);
        assert!(e.restore_fill(Some(StrategyId(2)), &bbb, Side::Sell, 40));
        assert!(e.restore_fill(Some(StrategyId(2)), &aaa, Side::Buy, 30));
        assert_eq!(pair_positions(&e), [30, -40]);
        // BBB has one trader: a fill naming none is the pair's.
        assert!(e.restore_fill(None, &bbb, Side::Buy, 15));
        assert_eq!(pair_positions(&e), [30, -25]);
        // AAA has two: nobody's, counted.
        assert!(!e.restore_fill(None, &aaa, Side::Buy, 5));
        // A symbol the named strategy does not trade, or nobody does.
        assert!(!e.restore_fill(Some(StrategyId(1)), &bbb, Side::Buy, 5));
        assert!(!e.restore_fill(None, &Symbol::new("ZZZ").unwrap(), Side::Buy, 5));
        assert_eq!(e.stats().unattributed_fills, 3);
        assert_eq!((mm_position(&e), pair_positions(&e)), (200, [30, -25]));
    }

    /// A new feed session: every strategy goes quiet (no book event, no
    /// timer reaches it) until the new directory names each of its
    /// symbols; then it trades under the new locates, its own orders with
    /// it, and never on the locate its symbol had the day before.
    #[test]
    fn strategies_go_quiet_at_a_new_session_and_resume_under_new_locates() {
        use crate::orders::OwnOrder;
        let mut e: Engine<4, 8> = Engine::new();
        e.add(mm_on(1, 10, "AAA")).unwrap();
        e.add(pair_on(2, (10, "AAA"), (20, "BBB"))).unwrap();
        let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
        d.set_top(10, (999_500, 100), (1_000_500, 100)).unwrap();
        d.set_top(20, (499_000, 100), (501_000, 100)).unwrap();
        let mut out: Intents = Intents::new();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        let bid = out.as_slice()[0];
        assert!(matches!(
            bid,
            OrderIntent::New {
                locate: 10,
                side: Side::Buy,
                ..
            }
        ));
        // The bid is entered and acknowledged as order 7.
        out.clear();
        e.on_order(
            &OrderEvent::Entered {
                strategy: StrategyId(1),
                order: OrderId(7),
            },
            &d,
            &mut out,
        );
        e.on_order(
            &OrderEvent::Accepted {
                strategy: StrategyId(1),
                order: OrderId(7),
            },
            &d,
            &mut out,
        );
        let mm_orders = |e: &Engine<4, 8>| match e.get(StrategyId(1)) {
            Some(Hosted::MarketMaker(m)) => m.orders().clone(),
            _ => panic!("the maker"),
        };
        assert!(mm_orders(&e).find(10, Side::Buy).is_some());

        e.unbind_all();
        assert_eq!(e.stale_legs(), 3);
        assert!(e.is_stale(StrategyId(1)) && e.is_stale(StrategyId(2)));
        let stale: heapless::Vec<(StockLocate, Symbol), 4> = e.stale_legs_iter().collect();
        assert_eq!(stale.len(), 3);
        // The new day has BBB at 10 and AAA at 20: nobody acts on either.
        out.clear();
        d.set_top(10, (499_000, 100), (501_000, 100)).unwrap();
        d.set_top(20, (999_000, 100), (1_001_000, 100)).unwrap();
        e.on_book(&bbo(&d, 10), &d, &mut out);
        e.on_book(&bbo(&d, 20), &d, &mut out);
        e.on_timer(Nanos(5_000_000_000), &d, &mut out);
        assert!(out.is_empty(), "{:?}", out.as_slice());
        assert_eq!(e.stats().unrouted_book_events, 2);

        // AAA's entry: the maker trades it at 20, with its bid.
        assert_eq!(e.bind(&Symbol::new("AAA").unwrap(), 20), 2);
        assert!(!e.is_stale(StrategyId(1)) && e.is_stale(StrategyId(2)));
        let orders = mm_orders(&e);
        let slot = orders.find(20, Side::Buy).expect("the bid follows AAA");
        assert!(orders.find(10, Side::Buy).is_none());
        let o: &OwnOrder = orders.get(slot).unwrap();
        assert_eq!(o.id, OrderId(7));
        e.on_book(&bbo(&d, 10), &d, &mut out);
        assert!(
            out.is_empty(),
            "BBB at 10 is nobody's yet: {:?}",
            out.as_slice()
        );
        e.on_book(&bbo(&d, 20), &d, &mut out);
        assert!(!out.is_empty());
        for i in out.as_slice() {
            assert_eq!(i.strategy(), StrategyId(1));
            if let OrderIntent::New { locate, .. } = *i {
                assert_eq!(locate, 20, "{i:?}");
            }
        }
        // BBB's entry: the pair is whole again, AAA at 20 and BBB at 10.
        assert_eq!(e.bind(&Symbol::new("BBB").unwrap(), 10), 1);
        assert_eq!(e.stale_legs(), 0);
        assert_eq!(e.get(StrategyId(2)).unwrap().locates(), &[20, 10]);
        assert_eq!(e.bind(&Symbol::new("BBB").unwrap(), 10), 0, "nothing stale");
    }

    mod soup {
        use super::*;
        use crate::features::{FeatureParams, FEATURE_COUNT};
        use crate::model::Logistic;
        use crate::signal::SignalParams;
        use proptest::prelude::{any, prop_assert, prop_oneof, proptest};
        use proptest::strategy::Strategy as Gen;
        use std::collections::{HashMap, HashSet, VecDeque};
        use std::vec::Vec as StdVec;
        use types::{Level, Price, RejectReason, Side, TradingState};

        #[derive(Debug, Clone)]
        enum Step {
            Book {
                locate: StockLocate,
                bid: i64,
                bq: u64,
                ask: i64,
                aq: u64,
                dt: u64,
            },
            Level {
                locate: StockLocate,
                buy: bool,
                px: i64,
                qty: u64,
            },
            Trade {
                locate: StockLocate,
                px: i64,
                qty: u32,
                side: u8,
            },
            State {
                locate: StockLocate,
                halt: bool,
            },
            Timer {
                dt: u64,
            },
            /// Answer the oldest outstanding intent of strategy `s`.
            Answer {
                s: u16,
                how: u8,
                qty: u32,
            },
            /// An event the OMS should never send.
            Garbage {
                s: u16,
                id: u64,
                how: u8,
            },
        }

        fn price() -> impl Gen<Value = i64> {
            prop_oneof![990_000i64..1_010_000, any::<i64>(), 0i64..10]
        }

        fn step() -> impl Gen<Value = Step> {
            prop_oneof![
                4 => (1u16..4, price(), any::<u64>(), price(), any::<u64>(), 0u64..2_000_000_000)
                    .prop_map(|(locate, bid, bq, ask, aq, dt)| Step::Book { locate, bid, bq: bq % 2000, ask, aq: aq % 2000, dt }),
                1 => (1u16..4, any::<bool>(), price(), any::<u64>())
                    .prop_map(|(locate, buy, px, qty)| Step::Level { locate, buy, px, qty }),
                1 => (1u16..3, price(), any::<u32>(), 0u8..3)
                    .prop_map(|(locate, px, qty, side)| Step::Trade { locate, px, qty, side }),
                1 => (1u16..3, any::<bool>()).prop_map(|(locate, halt)| Step::State { locate, halt }),
                1 => (0u64..5_000_000_000).prop_map(|dt| Step::Timer { dt }),
                4 => (0u16..5, 0u8..5, 1u32..300).prop_map(|(s, how, qty)| Step::Answer { s, how, qty }),
                1 => (0u16..6, any::<u64>(), 0u8..5).prop_map(|(s, id, how)| Step::Garbage { s, id, how }),
            ]
        }

        fn engine() -> Engine<5, 12> {
            let mut e: Engine<5, 12> = Engine::new();
            e.add(mm(0, 1)).unwrap();
            e.add(pairs(1, 1, 2)).unwrap();
            let mut w = [0.0; FEATURE_COUNT];
            w[0] = 5.0;
            let sig = SignalTrader::new(
                StrategyId(2),
                2,
                Symbol::new("S").unwrap(),
                FeatureParams::default_for_tick(100),
                Logistic::new([0.0; FEATURE_COUNT], [1.0; FEATURE_COUNT], w, 0.0).unwrap(),
                SignalParams {
                    threshold: 0.6,
                    qty: 100,
                    max_position: 300,
                    cooldown_ns: 0,
                    hold_ns: 1_000_000,
                    warmup_updates: 0,
                },
            )
            .unwrap();
            e.add(Hosted::Signal(sig)).unwrap();
            e.add(mm(3, 2)).unwrap();
            let leg = |locate| Leg {
                locate,
                symbol: Symbol::new("B").unwrap(),
                tick: 100,
            };
            let basket = SpreadTrader::with_legs(
                StrategyId(4),
                [leg(1), leg(2), leg(3)],
                PairsParams {
                    window: 10,
                    sample_interval_ns: 1_000_000,
                    ..PairsParams::avellaneda_lee()
                },
            )
            .unwrap();
            e.add(Hosted::Basket3(basket)).unwrap();
            e
        }

        type LiveOrder = (OrderId, StockLocate, Side, Price, u32);

        /// What a simple OMS knows about each strategy's orders.
        #[derive(Default)]
        struct Oms {
            unacked: HashMap<u16, VecDeque<(StockLocate, Side, Price, u32)>>,
            live: HashMap<u16, StdVec<LiveOrder>>,
            accepted: HashSet<(u16, u64)>,
            next_id: u64,
        }

        proptest! {
            #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
            #[test]
            fn event_soup_never_panics_and_never_touches_unknown_orders(steps in proptest::collection::vec(step(), 1..150)) {
                let mut e = engine();
                let mut d: SnapshotDepth<4, 4> = SnapshotDepth::new();
                let mut out: Intents = Intents::new();
                let mut oms = Oms { next_id: 1, ..Oms::default() };
                let mut ts = 0u64;
                for st in steps {
                    out.clear();
                    let mut order_events: StdVec<OrderEvent> = StdVec::new();
                    match st {
                        Step::Book { locate, bid, bq, ask, aq, dt } => {
                            ts += dt;
                            let lv = |p, q| Level { price: Price(p), qty: q, orders: 1 };
                            d.set_side(locate, Side::Buy, &[lv(bid, bq)]).unwrap();
                            d.set_side(locate, Side::Sell, &[lv(ask, aq)]).unwrap();
                            e.on_book(&BookEvent::Bbo { locate, bbo: d.bbo(locate), ts: Nanos(ts) }, &d, &mut out);
                        }
                        Step::Level { locate, buy, px, qty } => {
                            let side = if buy { Side::Buy } else { Side::Sell };
                            e.on_book(&BookEvent::Level { locate, side, level: Level { price: Price(px), qty, orders: 1 }, ts: Nanos(ts) }, &d, &mut out);
                        }
                        Step::Trade { locate, px, qty, side } => {
                            let resting_side = [None, Some(Side::Buy), Some(Side::Sell)][usize::from(side)];
                            e.on_book(&BookEvent::Trade { locate, price: Price(px), qty, resting_side, ts: Nanos(ts) }, &d, &mut out);
                        }
                        Step::State { locate, halt } => {
                            let state = if halt { TradingState::Halted } else { TradingState::Trading };
                            e.on_book(&BookEvent::State { locate, state, ts: Nanos(ts) }, &d, &mut out);
                        }
                        Step::Timer { dt } => {
                            ts += dt;
                            e.on_timer(Nanos(ts), &d, &mut out);
                        }
                        Step::Answer { s, how, qty } => {
                            let sid = StrategyId(s);
                            if let Some((locate, side, price, q)) = oms.unacked.get_mut(&s).and_then(|v| v.pop_front()) {
                                if how == 0 {
                                    order_events.push(OrderEvent::Rejected { strategy: sid, order: None, reason: RejectReason::PriceCollar });
                                } else {
                                    let id = OrderId(oms.next_id);
                                    oms.next_id += 1;
                                    oms.accepted.insert((s, id.0));
                                    oms.live.entry(s).or_default().push((id, locate, side, price, q));
                                    order_events.push(OrderEvent::Accepted { strategy: sid, order: id });
                                }
                            } else if let Some(v) = oms.live.get_mut(&s) {
                                if !v.is_empty() {
                                    let (id, locate, side, price, leaves) = v.remove(0);
                                    match how {
                                        0 | 1 => {
                                            let f = qty.min(leaves);
                                            if leaves > f { v.push((id, locate, side, price, leaves - f)); }
                                            order_events.push(OrderEvent::Filled { strategy: sid, order: id, locate, side, price, qty: f, leaves: leaves - f });
                                        }
                                        2 => order_events.push(OrderEvent::Canceled { strategy: sid, order: id }),
                                        3 => {
                                            v.push((id, locate, side, price, leaves));
                                            order_events.push(OrderEvent::AmendRejected { strategy: sid, order: id, reason: RejectReason::CancelRateThrottle });
                                        }
                                        _ => {
                                            v.push((id, locate, side, price, leaves));
                                            order_events.push(OrderEvent::Replaced { strategy: sid, order: id, price, qty: leaves, leaves });
                                        }
                                    }
                                }
                            }
                        }
                        Step::Garbage { s, id, how } => {
                            let sid = StrategyId(s);
                            let order = OrderId(id);
                            let ev = match how {
                                0 => {
                                    oms.accepted.insert((s, id));
                                    OrderEvent::Accepted { strategy: sid, order }
                                }
                                1 => OrderEvent::Canceled { strategy: sid, order },
                                2 => OrderEvent::Replaced { strategy: sid, order, price: Price(id as i64), qty: id as u32, leaves: id as u32 },
                                3 => OrderEvent::Rejected { strategy: sid, order: Some(order), reason: RejectReason::UnknownOrder },
                                _ => OrderEvent::Filled { strategy: sid, order, locate: 1, side: Side::Buy, price: Price(1), qty: id as u32, leaves: 0 },
                            };
                            order_events.push(ev);
                        }
                    }
                    for ev in order_events {
                        e.on_order(&ev, &d, &mut out);
                    }
                    for i in out.as_slice() {
                        let s = i.strategy().0;
                        match *i {
                            OrderIntent::New { locate, side, price, qty, .. } => {
                                prop_assert!(price.0 > 0 && price.0 <= Price::ITCH_MAX.0, "{i:?}");
                                prop_assert!(qty > 0);
                                oms.unacked.entry(s).or_default().push_back((locate, side, price, qty));
                            }
                            OrderIntent::Cancel { order, .. } => {
                                prop_assert!(oms.accepted.contains(&(s, order.0)), "cancel of unknown {i:?}");
                            }
                            OrderIntent::Replace { order, price, qty, .. } => {
                                prop_assert!(oms.accepted.contains(&(s, order.0)), "replace of unknown {i:?}");
                                prop_assert!(price.0 > 0 && price.0 <= Price::ITCH_MAX.0 && qty > 0);
                            }
                        }
                    }
                }
            }
        }
    }
}
