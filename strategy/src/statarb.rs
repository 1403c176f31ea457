//! Pairs (and small basket) trading on a log-price spread with an
//! Ornstein–Uhlenbeck s-score.
//!
//! [`PairsTrader`] is Y against X; [`SpreadTrader`]`<L>` generalises to Y
//! against `L − 1` hedge legs, with the hedge ratios from a multiple
//! regression of `ln y` on the `ln xⱼ` (everything below reads the same with
//! `β·ln x` replaced by `Σ βⱼ·ln xⱼ`).
//!
//! # Model
//!
//! Every `sample_interval_ns` the mids of the two legs are sampled and the
//! pair `(ln x, ln y)` goes into a ring buffer of the last `window` samples.
//! A rolling OLS `ln y = α + β·ln x` gives the hedge ratio β (an elasticity:
//! one currency unit of Y is hedged with β currency units of X). The spread
//! `X_k = ln y_k − α − β·ln x_k` over the window (recomputed with the current
//! β) is fitted as an AR(1) `X_{k+1} = a + b·X_k + ζ`, the discrete form of an
//! OU process, giving `m = a/(1−b)`, `σ_eq = sqrt(var ζ / (1−b²))` and the
//! s-score `s = (X_now − m)/σ_eq`.
//!
//! This follows Avellaneda & Lee, "Statistical arbitrage in the U.S. equities
//! market" (2010), with one simplification: they regress *returns* on factor
//! returns and model the *cumulative* residual as OU; for a pair with a
//! log-price (cointegration) regression the residual itself is the OU
//! process, so it is used directly. Their cross-sectional re-centring of `m`
//! is not applied (a pair has no cross-section).
//!
//! # Signals (Avellaneda & Lee's convention)
//!
//! "Long the spread" means buy Y and sell β-worth of X. With the paper's
//! thresholds `s_bo = s_so = 1.25`, `s_sc = 0.75`, `s_bc = 0.50`:
//!
//! - open long when `s < −entry` (spread cheap), open short when `s > +entry`;
//! - close long when `s > −exit_long` (default −0.50);
//! - close short when `s < +exit_short` (default 0.75).
//!
//! (The paper names these `s_bc` = buy-to-close = close *short* at 0.75 and
//! `s_sc` = sell-to-close = close *long* at 0.50; the field names here say
//! which position they close.) Like the paper, a pair is only entered when
//! its mean-reversion time `−1/ln b` is at most `max_reversion_samples`
//! (they require it under half the estimation window).
//!
//! # Orders
//!
//! Entries and exits send both legs together as IOC limit orders at the
//! opposite touch (plus `slippage_ticks`), or neither leg when there is no
//! room. After the IOCs finish, the actual positions decide: a one-legged
//! entry is unwound at once. Exits always flatten what is actually held.
//! A bust or correction that moves a position is decided on when it
//! arrives: an open pair it leaves with a leg in the wrong direction (or
//! none) flattens the rest at once. A pair made flat (by its exit's last
//! fill, or a bust) may enter on that same decision.
//! A stop fires when `|s| > stop` or the position has been held for
//! `max_hold_ns`; after a stop no entry is made for `stop_cooldown_ns`.
//!
//! A leg whose order risk or the venue refused is held off (see
//! [`crate::refusal`]): no order on it until what refused it may have
//! changed or a backoff (`refusal_hold_ns`, doubling up to
//! `refusal_hold_max_ns`) has passed — a flattening IOC is not sent again
//! at every event, and no entry is made while any of its legs is held
//! (it would leave one leg to unwind).

use types::{
    BookEvent, DepthView, Nanos, OrderEvent, Price, Side, StockLocate, StrategyId, Symbol,
    TimeInForce, TradingState,
};

use crate::orders::{own_fill, swapped, OrderUpdate, OwnOrders};
use crate::refusal::{Backoff, Hold};
use crate::stats::{MultiFit, OuFit, RollingRegression};
use crate::tick::{mid_f64, two_sided};
use crate::{positive, Intents, ParamError, Strategy};

/// Capacity of the sample ring: the largest allowed `window`.
pub const MAX_WINDOW: usize = 256;

/// One leg of a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub locate: StockLocate,
    pub symbol: Symbol,
    /// Tick size of this instrument in price4 units.
    pub tick: i64,
}

/// Operator-settable parameters of a [`PairsTrader`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairsParams {
    /// Samples in the regression window, 3..=[`MAX_WINDOW`].
    pub window: usize,
    pub sample_interval_ns: u64,
    /// Open when `|s|` exceeds this (paper: 1.25).
    pub entry: f64,
    /// Close a long spread when `s > −exit_long` (paper: 0.50).
    pub exit_long: f64,
    /// Close a short spread when `s < exit_short` (paper: 0.75).
    pub exit_short: f64,
    /// Stop out when `|s|` exceeds this while open.
    pub stop: f64,
    pub max_hold_ns: u64,
    pub stop_cooldown_ns: u64,
    /// Only trade when the fitted mean-reversion time (in samples) is at most this.
    pub max_reversion_samples: f64,
    /// Shares of Y per entry; X is sized from β and prices.
    pub qty_y: u32,
    /// How far through the touch the IOC limit goes, in ticks.
    pub slippage_ticks: i64,
    /// How long a leg is held off after a refusal (the first in a row;
    /// each further one doubles it), unless what refused it changed
    /// first. 0 holds nothing.
    pub refusal_hold_ns: u64,
    /// The longest such hold (≥ `refusal_hold_ns`).
    pub refusal_hold_max_ns: u64,
}

impl PairsParams {
    /// Avellaneda & Lee thresholds, a 60-sample window and a 4σ stop.
    pub const fn avellaneda_lee() -> Self {
        PairsParams {
            window: 60,
            sample_interval_ns: 1_000_000_000,
            entry: 1.25,
            exit_long: 0.50,
            exit_short: 0.75,
            stop: 4.0,
            max_hold_ns: 3_600_000_000_000,
            stop_cooldown_ns: 60_000_000_000,
            max_reversion_samples: 30.0,
            qty_y: 100,
            slippage_ticks: 0,
            refusal_hold_ns: 250_000_000,
            refusal_hold_max_ns: 60_000_000_000,
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            first_ns: self.refusal_hold_ns,
            max_ns: self.refusal_hold_max_ns,
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        if !(3..=MAX_WINDOW).contains(&self.window) {
            return Err(ParamError::new("window", "must be in 3..=256"));
        }
        if self.sample_interval_ns == 0 {
            return Err(ParamError::new("sample_interval_ns", "must be > 0"));
        }
        positive("entry", self.entry)?;
        if !(self.exit_long.is_finite() && self.exit_long < self.entry) {
            return Err(ParamError::new("exit_long", "must be finite and < entry"));
        }
        if !(self.exit_short.is_finite() && self.exit_short < self.entry) {
            return Err(ParamError::new("exit_short", "must be finite and < entry"));
        }
        if !(self.stop.is_finite() && self.stop > self.entry) {
            return Err(ParamError::new("stop", "must be finite and > entry"));
        }
        if self.max_hold_ns == 0 {
            return Err(ParamError::new("max_hold_ns", "must be > 0"));
        }
        positive("max_reversion_samples", self.max_reversion_samples)?;
        if self.qty_y == 0 {
            return Err(ParamError::new("qty_y", "must be > 0"));
        }
        if self.slippage_ticks < 0 {
            return Err(ParamError::new("slippage_ticks", "must be >= 0"));
        }
        if self.refusal_hold_max_ns < self.refusal_hold_ns {
            return Err(ParamError::new(
                "refusal_hold_max_ns",
                "must be >= refusal_hold_ns",
            ));
        }
        Ok(())
    }
}

/// Direction of a spread position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Long Y, short X.
    Long,
    /// Short Y, long X.
    Short,
}

/// Where the pair stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairState {
    Flat,
    /// Entry IOCs in flight.
    Entering(Direction),
    Open {
        dir: Direction,
        since: Nanos,
    },
    /// Flattening orders in flight or still to be sent.
    Exiting,
}

/// Counters an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PairsStats {
    pub samples: u64,
    pub entries: u64,
    pub exits: u64,
    pub stops: u64,
    pub max_hold_exits: u64,
    /// Entries that filled on one leg only, and open pairs a bust or
    /// correction left on one leg, unwound.
    pub legged_unwinds: u64,
    /// Entry signals skipped: not mean reverting fast enough, no hedge, no
    /// room, a leg held off after a refusal.
    pub entries_skipped: u64,
    /// Orders refused (by risk or a venue).
    pub refusals: u64,
    /// Orders not sent because their leg is held off after a refusal.
    pub held_after_refusal: u64,
}

/// A spread of `L` legs: Y (leg 0) against `L − 1` hedge legs.
///
/// `L = 2` is a pair ([`PairsTrader`]); `L = 3..=8` a small basket, whose
/// hedge ratios come from the multiple regression
/// `ln y = α + Σⱼ βⱼ·ln xⱼ`. Leg `j` of a long spread holds
/// `−sign(βⱼ)·round(|βⱼ|·qty_y·P_y/P_j)` shares; legs that round to zero
/// shares are not traded.
#[derive(Debug, Clone)]
pub struct SpreadTrader<const L: usize> {
    id: StrategyId,
    legs: [Leg; L],
    locates: [StockLocate; L],
    params: PairsParams,
    reg: RollingRegression<MAX_WINDOW, L>,
    next_sample: Option<Nanos>,
    fit: Option<MultiFit<L>>,
    ou: Option<OuFit>,
    score: Option<f64>,
    fresh_score: bool,
    positions: [i64; L],
    /// Signed shares per leg the current entry aims for.
    plan: [i64; L],
    state: PairState,
    orders: OwnOrders<8>,
    no_entry_until: Nanos,
    now: Nanos,
    halted: [bool; L],
    stats: PairsStats,
    /// Each leg's hold after refusals (see [`crate::refusal`]).
    refusal_holds: [Hold; L],
    /// Moves with every fill and every order of ours finishing.
    exposure_epoch: u64,
}

/// One pair, Y against X.
pub type PairsTrader = SpreadTrader<2>;

const Y: usize = 0;

impl SpreadTrader<2> {
    /// A pair trader: Y against X.
    pub fn new(id: StrategyId, y: Leg, x: Leg, params: PairsParams) -> Result<Self, ParamError> {
        Self::with_legs(id, [y, x], params)
    }
}

impl<const L: usize> SpreadTrader<L> {
    /// Y (`legs[0]`) against the other legs.
    pub fn with_legs(
        id: StrategyId,
        legs: [Leg; L],
        params: PairsParams,
    ) -> Result<Self, ParamError> {
        const { assert!(L >= 2 && L <= 8, "2..=8 legs (order slots are 8)") };
        params.validate()?;
        if legs.iter().any(|l| l.tick <= 0) {
            return Err(ParamError::new("tick", "leg tick must be > 0"));
        }
        for (i, a) in legs.iter().enumerate() {
            if legs.iter().skip(i + 1).any(|b| b.locate == a.locate) {
                return Err(ParamError::new(
                    "legs",
                    "legs must be different instruments",
                ));
            }
        }
        Ok(SpreadTrader {
            id,
            legs,
            locates: legs.map(|l| l.locate),
            params,
            reg: RollingRegression::new(params.window),
            next_sample: None,
            fit: None,
            ou: None,
            score: None,
            fresh_score: false,
            positions: [0; L],
            plan: [0; L],
            state: PairState::Flat,
            orders: OwnOrders::new(id),
            no_entry_until: Nanos(0),
            now: Nanos(0),
            halted: [false; L],
            stats: PairsStats::default(),
            refusal_holds: [Hold::default(); L],
            exposure_epoch: 0,
        })
    }

    pub fn state(&self) -> PairState {
        self.state
    }

    /// Signed positions per leg in shares, Y first.
    pub fn positions(&self) -> [i64; L] {
        self.positions
    }

    /// The current regression (`beta[j]` hedges leg `j`).
    pub fn hedge(&self) -> Option<MultiFit<L>> {
        self.fit
    }

    pub fn ou(&self) -> Option<OuFit> {
        self.ou
    }

    pub fn s_score(&self) -> Option<f64> {
        self.score
    }

    pub fn stats(&self) -> PairsStats {
        self.stats
    }

    /// Its orders in flight (an order of ours being tracked blocks every
    /// decision until it finishes).
    pub fn orders(&self) -> &OwnOrders<8> {
        &self.orders
    }

    /// Leg `i`'s instrument.
    pub fn leg_symbol(&self, i: usize) -> Option<Symbol> {
        self.legs.get(i).map(|l| l.symbol)
    }

    /// Every leg under locate `a` is now under `b` and the other way
    /// round (a new feed session's numbering); its own orders follow.
    pub fn swap_locates(&mut self, a: StockLocate, b: StockLocate) {
        for (leg, l) in self.legs.iter_mut().zip(self.locates.iter_mut()) {
            leg.locate = swapped(leg.locate, a, b);
            *l = leg.locate;
        }
        self.orders.swap_locates(a, b);
    }

    fn leg_of(&self, locate: StockLocate) -> Option<usize> {
        self.locates.iter().position(|&l| l == locate)
    }

    /// The hold after refusals of leg `i`'s orders.
    pub fn refusal_hold(&self, i: usize) -> Option<&Hold> {
        self.refusal_holds.get(i)
    }

    /// Whether leg `leg` is still held off after a refusal at `now`
    /// (a hold whose time is up, or whose cause changed, is lifted).
    fn leg_held(&mut self, leg: usize, now: Nanos) -> bool {
        let epoch = self.exposure_epoch;
        self.refusal_holds
            .get_mut(leg)
            .is_some_and(|h| h.lift_if_due(now, epoch, None))
    }

    /// Takes a sample if one is due and every leg has a mid.
    fn maybe_sample<D: DepthView + ?Sized>(&mut self, now: Nanos, depth: &D) {
        if self.next_sample.is_some_and(|t| now < t) {
            return;
        }
        let mut row = [0.0; L];
        for (v, leg) in row.iter_mut().zip(&self.legs) {
            let Some(mid) = mid_f64(&depth.bbo(leg.locate)) else {
                return;
            };
            // Logs of price4 values: the unit only shifts α, not β or the s-score.
            *v = libm::log(mid);
        }
        let interval = self.params.sample_interval_ns;
        // Keep samples on a fixed grid even when events arrive late.
        let next = match self.next_sample {
            Some(t) => {
                let behind = now.0.saturating_sub(t.0) / interval;
                t.0.saturating_add((behind + 1).saturating_mul(interval))
            }
            None => now.0.saturating_add(interval),
        };
        self.next_sample = Some(Nanos(next));
        self.reg.push(row);
        self.stats.samples += 1;
        self.refit();
    }

    fn refit(&mut self) {
        self.fit = self.reg.fit();
        self.ou = None;
        self.score = None;
        let Some(fit) = self.fit else {
            return;
        };
        let spread = |row: [f64; L]| fit.residual(&row);
        self.ou = OuFit::fit(self.reg.iter().map(spread));
        if let (Some(ou), Some(last)) = (self.ou, self.reg.iter().last()) {
            let s = ou.s_score(spread(last));
            if s.is_finite() {
                self.score = Some(s);
                self.fresh_score = true;
            }
        }
    }

    fn ioc<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        leg: usize,
        side: Side,
        qty: u32,
        depth: &D,
        out: &mut Intents<N>,
    ) -> bool {
        let Some(l) = self.legs.get(leg).copied() else {
            return false;
        };
        if self.leg_held(leg, self.now) {
            self.stats.held_after_refusal += 1;
            return false;
        }
        let Some((bid, ask)) = two_sided(&depth.bbo(l.locate)) else {
            return false;
        };
        let slip = self.params.slippage_ticks.saturating_mul(l.tick);
        let price = match side {
            Side::Buy => ask.price.0.saturating_add(slip),
            Side::Sell => bid.price.0.saturating_sub(slip),
        };
        if price <= 0 || price > Price::ITCH_MAX.0 {
            return false;
        }
        self.orders
            .submit_new(
                l.locate,
                l.symbol,
                side,
                Price(price),
                qty,
                TimeInForce::ImmediateOrCancel,
                out,
            )
            .is_some()
    }

    /// Signed shares per leg for a *long* spread: `+qty_y` of Y, and
    /// `−βⱼ·qty_y·P_y/P_j` (rounded) of each hedge leg. `None` when no
    /// hedge leg gets a share or a price is missing.
    #[allow(clippy::needless_range_loop)] // j indexes legs, betas and the plan alike
    fn long_plan<D: DepthView + ?Sized>(&self, fit: &MultiFit<L>, depth: &D) -> Option<[i64; L]> {
        let py = mid_f64(&depth.bbo(self.legs[Y].locate))?;
        let mut plan = [0i64; L];
        plan[Y] = i64::from(self.params.qty_y);
        let mut hedged = false;
        for j in 1..L {
            let pj = mid_f64(&depth.bbo(self.legs[j].locate))?;
            let q = libm::round(fit.beta[j] * f64::from(self.params.qty_y) * py / pj);
            if !(q.is_finite() && libm::fabs(q) <= f64::from(u32::MAX)) {
                return None;
            }
            plan[j] = -(q as i64);
            hedged |= plan[j] != 0;
        }
        hedged.then_some(plan)
    }

    fn can_trade<D: DepthView + ?Sized>(&self, depth: &D) -> bool {
        !self.halted.iter().any(|&h| h)
            && self
                .legs
                .iter()
                .all(|l| two_sided(&depth.bbo(l.locate)).is_some())
    }

    fn try_enter<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        dir: Direction,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let mean_reverting = self
            .ou
            .is_some_and(|ou| ou.reversion_steps() <= self.params.max_reversion_samples);
        let plan = self.fit.and_then(|f| self.long_plan(&f, depth));
        let free_slots = 8 - self.orders.active_count();
        let (Some(long), true, true, true) = (
            plan,
            mean_reverting,
            out.has_room(L) && free_slots >= L,
            self.can_trade(depth),
        ) else {
            self.stats.entries_skipped += 1;
            return;
        };
        let plan = match dir {
            Direction::Long => long,
            Direction::Short => long.map(|q| -q),
        };
        // Every leg or none: a leg held off after a refusal would leave
        // the others to unwind.
        let now = self.now;
        let held = (0..L).any(|leg| plan[leg] != 0 && self.leg_held(leg, now));
        if held {
            self.stats.held_after_refusal += 1;
            self.stats.entries_skipped += 1;
            return;
        }
        let mut sent_any = false;
        for (leg, &q) in plan.iter().enumerate() {
            if q == 0 {
                continue;
            }
            let side = if q > 0 { Side::Buy } else { Side::Sell };
            let qty = u32::try_from(q.unsigned_abs()).unwrap_or(u32::MAX);
            // Room was checked, so every leg goes out; if one did not, the
            // position check after the IOCs finish unwinds what did.
            sent_any |= self.ioc(leg, side, qty, depth, out);
        }
        if sent_any {
            self.plan = plan;
            self.state = PairState::Entering(dir);
            self.stats.entries += 1;
        }
    }

    /// Sends IOCs that flatten every leg with a position.
    fn flatten<D: DepthView + ?Sized, const N: usize>(&mut self, depth: &D, out: &mut Intents<N>) {
        self.state = PairState::Exiting;
        if !self.can_trade(depth) || !out.has_room(L) {
            return;
        }
        for leg in 0..L {
            let p = self.positions[leg];
            if p != 0 {
                let side = if p > 0 { Side::Sell } else { Side::Buy };
                let qty = u32::try_from(p.unsigned_abs()).unwrap_or(u32::MAX);
                self.ioc(leg, side, qty, depth, out);
            }
        }
    }

    fn exit<D: DepthView + ?Sized, const N: usize>(&mut self, depth: &D, out: &mut Intents<N>) {
        self.stats.exits += 1;
        self.flatten(depth, out);
    }

    /// What an order event says about holds: a refused order holds its
    /// leg off, a passed one ends its leg's run of refusals, a fill or a
    /// finished order moves the exposure.
    fn note_refusals(&mut self, event: &OrderEvent, update: OrderUpdate) {
        let finished = matches!(
            update,
            OrderUpdate::Filled { .. } | OrderUpdate::Canceled { .. }
        ) || matches!(event, OrderEvent::Rejected { order: Some(_), .. });
        if finished {
            self.exposure_epoch = self.exposure_epoch.wrapping_add(1);
        }
        match update {
            OrderUpdate::Entered { slot } | OrderUpdate::Accepted { slot } => {
                let leg = self.orders.get(slot).and_then(|o| self.leg_of(o.locate));
                if let Some(h) = leg.and_then(|leg| self.refusal_holds.get_mut(leg)) {
                    h.passed();
                }
            }
            OrderUpdate::Rejected {
                locate,
                price: Some(_),
                ..
            } => {
                let (OrderEvent::Rejected { reason, .. }
                | OrderEvent::AmendRejected { reason, .. }) = *event
                else {
                    return;
                };
                self.stats.refusals += 1;
                let (now, backoff, epoch) = (self.now, self.params.backoff(), self.exposure_epoch);
                if let Some(h) = self
                    .leg_of(locate)
                    .and_then(|leg| self.refusal_holds.get_mut(leg))
                {
                    h.refused(reason, now, backoff, epoch, None);
                }
            }
            _ => {}
        }
    }

    fn decide<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let in_flight = self.orders.active_count() > 0;
        if in_flight {
            return;
        }
        let flat = self.positions.iter().all(|&p| p == 0);
        match self.state {
            PairState::Entering(dir) => {
                // Every planned leg holds shares in the planned direction.
                let expected = self
                    .positions
                    .iter()
                    .zip(&self.plan)
                    .all(|(&p, &q)| p.signum() == q.signum());
                if expected {
                    self.state = PairState::Open { dir, since: now };
                } else if flat {
                    self.state = PairState::Flat;
                } else {
                    self.stats.legged_unwinds += 1;
                    self.flatten(depth, out);
                }
            }
            PairState::Exiting => {
                if flat {
                    // Free to enter on this very decision, not the next.
                    self.state = PairState::Flat;
                    self.consider_entry(now, depth, out);
                } else {
                    self.flatten(depth, out);
                }
            }
            PairState::Open { dir, since } => {
                // A bust or correction of an entry fill can leave a leg
                // with nothing, or the other way round: the pair is no
                // longer hedged, so what is left goes at once.
                let as_planned = self
                    .positions
                    .iter()
                    .zip(&self.plan)
                    .all(|(&p, &q)| p.signum() == q.signum());
                if !as_planned {
                    if flat {
                        self.state = PairState::Flat;
                        self.consider_entry(now, depth, out);
                    } else {
                        self.stats.legged_unwinds += 1;
                        self.flatten(depth, out);
                    }
                    return;
                }
                let s = self.score;
                // No score while open means the refit found the spread no
                // longer mean reverting: that is a divergence too.
                let stop = s.is_none_or(|s| libm::fabs(s) > self.params.stop);
                let held_too_long = now.saturating_sub(since) >= self.params.max_hold_ns;
                if stop || held_too_long {
                    if stop {
                        self.stats.stops += 1;
                    } else {
                        self.stats.max_hold_exits += 1;
                    }
                    self.no_entry_until = Nanos(now.0.saturating_add(self.params.stop_cooldown_ns));
                    self.exit(depth, out);
                    return;
                }
                let close = match (dir, s) {
                    (Direction::Long, Some(s)) => s > -self.params.exit_long,
                    (Direction::Short, Some(s)) => s < self.params.exit_short,
                    (_, None) => false,
                };
                if close {
                    self.exit(depth, out);
                }
            }
            PairState::Flat => {
                if !flat {
                    // Fills we did not expect (e.g. after a restart): flatten.
                    self.flatten(depth, out);
                    return;
                }
                self.consider_entry(now, depth, out);
            }
        }
    }

    /// Flat: enters on a fresh s-score beyond the entry threshold, outside
    /// a stop's cooldown.
    fn consider_entry<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        if !self.fresh_score || now < self.no_entry_until {
            return;
        }
        self.fresh_score = false;
        match self.score {
            Some(s) if s < -self.params.entry => self.try_enter(Direction::Long, depth, out),
            Some(s) if s > self.params.entry => self.try_enter(Direction::Short, depth, out),
            _ => {}
        }
    }
}

impl<const L: usize> Strategy for SpreadTrader<L> {
    type Params = PairsParams;

    fn id(&self) -> StrategyId {
        self.id
    }

    fn locates(&self) -> &[StockLocate] {
        &self.locates
    }

    fn on_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &BookEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let Some(leg) = self.leg_of(event.locate()) else {
            return;
        };
        match *event {
            BookEvent::Bbo { ts, .. } => {
                self.now = ts;
                self.maybe_sample(ts, depth);
                self.decide(ts, depth, out);
            }
            BookEvent::State { state, ts, .. } => {
                self.now = ts;
                self.halted[leg] = state != TradingState::Trading;
            }
            BookEvent::Level { .. } | BookEvent::Trade { .. } => {}
        }
    }

    fn on_order<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &OrderEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let mut moved = false;
        if let Some((locate, shares)) = own_fill(event, self.id) {
            if let Some(leg) = self.leg_of(locate) {
                self.positions[leg] = self.positions[leg].saturating_add(shares);
                moved = shares != 0;
            }
        }
        let update = self.orders.on_event(event, out);
        self.note_refusals(event, update);
        match update {
            // A bust or correction of a long-finished order still moves
            // what is held: decide on it now, not at the next book event.
            OrderUpdate::Ignored | OrderUpdate::Entered { .. } if !moved => {}
            _ => self.decide(self.now, depth, out),
        }
    }

    fn on_timer<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        self.now = now;
        self.maybe_sample(now, depth);
        self.decide(now, depth, out);
    }

    fn on_limits_changed(&mut self) {
        self.refusal_holds = [Hold::default(); L];
    }

    fn on_restored_fill(&mut self, leg: usize, side: Side, qty: u32) {
        if let Some(p) = self.positions.get_mut(leg) {
            *p = p.saturating_add(side.sign().saturating_mul(qty as i64));
        }
    }

    fn params(&self) -> &PairsParams {
        &self.params
    }

    fn set_params(&mut self, params: PairsParams) -> Result<(), ParamError> {
        params.validate()?;
        // What was refused (its size, say) may not be what is sent next.
        self.refusal_holds = [Hold::default(); L];
        if params.window != self.params.window {
            self.reg.set_window(params.window);
            self.refit();
            self.fresh_score = false;
        }
        self.params = params;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::SnapshotDepth;
    use types::{OrderId, OrderIntent};

    const ID: StrategyId = StrategyId(9);
    const SEC: u64 = 1_000_000_000;
    const LY: StockLocate = 10;
    const LX: StockLocate = 20;

    fn legs() -> (Leg, Leg) {
        (
            Leg {
                locate: LY,
                symbol: Symbol::new("YYY").unwrap(),
                tick: 1,
            },
            Leg {
                locate: LX,
                symbol: Symbol::new("XXX").unwrap(),
                tick: 1,
            },
        )
    }

    /// Deterministic uniform noise in [−1, 1].
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
    }

    struct Rig {
        st: PairsTrader,
        depth: SnapshotDepth<2, 4>,
        out: Intents,
        k: u64,
        eps: f64,
        noise: Noise,
        next_id: u64,
    }

    /// Quiet parameters: thresholds so wide that the warm-up never trades.
    fn quiet() -> PairsParams {
        PairsParams {
            window: 30,
            entry: 100.0,
            exit_long: 0.5,
            exit_short: 0.75,
            stop: 200.0,
            ..PairsParams::avellaneda_lee()
        }
    }

    impl Rig {
        fn new() -> Rig {
            let (y, x) = legs();
            let mut rig = Rig {
                st: PairsTrader::new(ID, y, x, quiet()).unwrap(),
                depth: SnapshotDepth::new(),
                out: Intents::new(),
                k: 0,
                eps: 0.0,
                noise: Noise(0x9e37_79b9_7f4a_7c15),
                next_id: 100,
            };
            for _ in 0..40 {
                let e = 0.5 * rig.eps + 0.002 * rig.noise.next();
                let r = rig.sample(e);
                assert!(r.is_empty(), "{r:?}");
            }
            // Paper thresholds from here on (a runtime parameter change).
            rig.st
                .set_params(PairsParams {
                    window: 30,
                    ..PairsParams::avellaneda_lee()
                })
                .unwrap();
            rig
        }

        /// Next sample with spread residual `eps`: ln y = 0.2 + 1.2·ln x + eps.
        fn sample(&mut self, eps: f64) -> heapless::Vec<OrderIntent, 8> {
            let mut out = core::mem::take(&mut self.out);
            self.sample_into(eps, &mut out);
            let r = out.drain().collect();
            self.out = out;
            r
        }

        fn sample_into<const N: usize>(&mut self, eps: f64, out: &mut Intents<N>) {
            self.eps = eps;
            let k = self.k as f64;
            let lx = libm::log(50.0) + 0.05 * libm::sin(k * 0.37) + 0.0005 * k;
            let ly = 0.2 + 1.2 * lx + eps;
            let px = libm::round(libm::exp(lx) * 10_000.0) as i64;
            let py = libm::round(libm::exp(ly) * 10_000.0) as i64;
            self.depth
                .set_top(LX, (px - 50, 500), (px + 50, 500))
                .unwrap();
            self.depth
                .set_top(LY, (py - 50, 500), (py + 50, 500))
                .unwrap();
            self.k += 1;
            let ev = BookEvent::Bbo {
                locate: LY,
                bbo: self.depth.bbo(LY),
                ts: Nanos(self.k * SEC),
            };
            out.clear();
            self.st.on_book(&ev, &self.depth, out);
        }

        fn order(&mut self, ev: OrderEvent) -> heapless::Vec<OrderIntent, 8> {
            self.out.clear();
            self.st.on_order(&ev, &self.depth, &mut self.out);
            self.out.drain().collect()
        }

        fn accept(&mut self) -> OrderId {
            self.next_id += 1;
            let id = OrderId(self.next_id);
            let r = self.order(OrderEvent::Accepted {
                strategy: ID,
                order: id,
            });
            assert!(r.is_empty());
            id
        }

        /// Accepts and completely fills every intent in `sent`, in order;
        /// returns the intents the last fill produced.
        fn fill_all(&mut self, sent: &[OrderIntent]) -> heapless::Vec<OrderIntent, 8> {
            let ids: heapless::Vec<OrderId, 8> = sent.iter().map(|_| self.accept()).collect();
            let mut last = heapless::Vec::new();
            for (i, id) in sent.iter().zip(ids) {
                if let OrderIntent::New {
                    locate,
                    side,
                    price,
                    qty,
                    ..
                } = *i
                {
                    last = self.order(OrderEvent::Filled {
                        strategy: ID,
                        order: id,
                        locate,
                        side,
                        price,
                        qty,
                        leaves: 0,
                    });
                }
            }
            last
        }
    }

    fn leg_order(i: &OrderIntent) -> (StockLocate, Side, Price, u32, TimeInForce) {
        match *i {
            OrderIntent::New {
                locate,
                side,
                price,
                qty,
                tif,
                ..
            } => (locate, side, price, qty, tif),
            other => panic!("expected a new order, got {other:?}"),
        }
    }

    /// Shocks the spread down and returns the entry intents.
    fn enter_long(rig: &mut Rig) -> heapless::Vec<OrderIntent, 8> {
        let r = rig.sample(-0.008);
        let s = rig.st.s_score().unwrap();
        assert!(s < -1.25 && s > -4.0, "s = {s}");
        r
    }

    #[test]
    fn hedge_ratio_is_recovered() {
        let rig = Rig::new();
        let beta = rig.st.hedge().unwrap().beta[1];
        assert!((beta - 1.2).abs() < 0.1, "β = {beta}");
        let ou = rig.st.ou().unwrap();
        assert!(ou.b > 0.0 && ou.b < 0.9, "{ou:?}");
    }

    #[test]
    fn cheap_spread_opens_long_with_both_legs_then_closes() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        assert_eq!(r.len(), 2, "{r:?}");
        let (ly, sy, py, qy, ty) = leg_order(&r[0]);
        let (lx, sx, px, qx, tx) = leg_order(&r[1]);
        let by = rig.depth.bbo(LY);
        let bx = rig.depth.bbo(LX);
        assert_eq!(
            (ly, sy, py, qy),
            (LY, Side::Buy, by.ask.unwrap().price, 100)
        );
        assert_eq!((lx, sx, px), (LX, Side::Sell, bx.bid.unwrap().price));
        assert_eq!(
            (ty, tx),
            (
                TimeInForce::ImmediateOrCancel,
                TimeInForce::ImmediateOrCancel
            )
        );
        let beta = rig.st.hedge().unwrap().beta[1];
        let want_x =
            libm::round(beta * 100.0 * mid_f64(&by).unwrap() / mid_f64(&bx).unwrap()) as u32;
        assert_eq!(qx, want_x);
        assert!((280..=360).contains(&qx), "{qx}");
        assert_eq!(rig.st.state(), PairState::Entering(Direction::Long));
        rig.fill_all(&r);
        assert!(matches!(
            rig.st.state(),
            PairState::Open {
                dir: Direction::Long,
                ..
            }
        ));
        assert_eq!(rig.st.positions(), [100, -(qx as i64)]);
        // Still cheap: hold.
        assert!(rig.sample(-0.006).is_empty());
        // Spread back to normal: s > −0.5 closes both legs.
        let r = rig.sample(0.0);
        assert!(rig.st.s_score().unwrap() > -0.5);
        assert_eq!(r.len(), 2, "{r:?}");
        let by = rig.depth.bbo(LY);
        let bx = rig.depth.bbo(LX);
        assert_eq!(leg_order(&r[0]).0, LY);
        assert_eq!(leg_order(&r[0]).1, Side::Sell);
        assert_eq!(leg_order(&r[0]).2, by.bid.unwrap().price);
        assert_eq!(leg_order(&r[0]).3, 100);
        assert_eq!(leg_order(&r[1]).1, Side::Buy);
        assert_eq!(leg_order(&r[1]).2, bx.ask.unwrap().price);
        assert_eq!(leg_order(&r[1]).3, qx);
        rig.fill_all(&r);
        assert_eq!(rig.st.positions(), [0, 0]);
        assert_eq!(rig.st.state(), PairState::Flat);
    }

    #[test]
    fn rich_spread_opens_short() {
        let mut rig = Rig::new();
        let r = rig.sample(0.008);
        let s = rig.st.s_score().unwrap();
        assert!(s > 1.25, "s = {s}");
        assert_eq!(leg_order(&r[0]).1, Side::Sell);
        assert_eq!(leg_order(&r[1]).1, Side::Buy);
        rig.fill_all(&r);
        assert!(matches!(
            rig.st.state(),
            PairState::Open {
                dir: Direction::Short,
                ..
            }
        ));
        // s between 0.75 and 1.25: a short stays open (exit is s < 0.75).
        let mut found_hold = false;
        for _ in 0..6 {
            let eps = rig.eps * 0.85;
            let r = rig.sample(eps);
            let s = rig.st.s_score().unwrap();
            if s >= 0.75 {
                assert!(r.is_empty());
                found_hold = true;
            } else {
                assert_eq!(r.len(), 2);
                break;
            }
        }
        assert!(found_hold);
    }

    #[test]
    fn divergence_stops_out_and_blocks_reentry() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        rig.fill_all(&r);
        // The spread keeps falling: |s| > 4, or no longer mean reverting at
        // all → both legs flattened.
        let r = rig.sample(-0.05);
        assert!(rig.st.s_score().is_none_or(|s| s < -4.0));
        assert_eq!(r.len(), 2);
        assert_eq!(rig.st.stats().stops, 1);
        rig.fill_all(&r);
        assert_eq!(rig.st.state(), PairState::Flat);
        // Still far out, but inside the cooldown: no new entry.
        let r = rig.sample(-0.01);
        assert!(r.is_empty(), "{r:?}");
    }

    /// Risk refuses the flattening order of Y (a restricted symbol, say):
    /// it is not sent again in answer, nor at the next book events within
    /// its hold; X is flattened all the same; once the hold is over, Y is
    /// tried again.
    #[test]
    fn a_refused_flattening_order_is_held_off() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        rig.fill_all(&r);
        let exit = rig.sample(-0.05);
        assert_eq!(exit.len(), 2, "{exit:?}");
        assert_eq!(leg_order(&exit[0]).0, LY);
        let refused = rig.order(OrderEvent::Rejected {
            strategy: ID,
            order: None,
            reason: types::RejectReason::RestrictedSymbol,
        });
        assert!(refused.is_empty(), "not again in answer: {refused:?}");
        assert_eq!(rig.st.stats().refusals, 1);
        // X is flattened (accepted and filled): Y alone is left.
        let x = rig.accept();
        let (_, side, price, qty, _) = leg_order(&exit[1]);
        let after = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: x,
            locate: LX,
            side,
            price,
            qty,
            leaves: 0,
        });
        assert!(after.is_empty(), "Y is held: {after:?}");
        assert_eq!(rig.st.positions()[1], 0);
        assert_eq!(rig.st.state(), PairState::Exiting);
        // Book events within the hold send nothing.
        let at = rig.k * SEC;
        for dt in [1, 1_000, 100_000_000] {
            rig.out.clear();
            let ev = BookEvent::Bbo {
                locate: LY,
                bbo: rig.depth.bbo(LY),
                ts: Nanos(at + dt),
            };
            rig.st.on_book(&ev, &rig.depth, &mut rig.out);
            assert!(rig.out.is_empty(), "{:?}", rig.out.as_slice());
        }
        assert!(rig.st.stats().held_after_refusal >= 3);
        // The hold is over at the next tick a second later.
        rig.out.clear();
        rig.st.on_timer(Nanos(at + SEC), &rig.depth, &mut rig.out);
        let again = rig.out.as_slice();
        assert_eq!(again.len(), 1, "{again:?}");
        assert_eq!(leg_order(&again[0]).0, LY);
        // New risk limits lift every hold at once.
        rig.order(OrderEvent::Rejected {
            strategy: ID,
            order: None,
            reason: types::RejectReason::RestrictedSymbol,
        });
        assert!(rig.st.refusal_hold(0).unwrap().is_set());
        rig.st.on_limits_changed();
        assert!(!rig.st.refusal_hold(0).unwrap().is_set());
    }

    /// No entry while one of its legs is held off after a refusal: it
    /// would leave the other leg to unwind.
    #[test]
    fn no_entry_while_a_leg_is_held() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        assert_eq!(r.len(), 2);
        // Y refused for the position limit, X filled and unwound.
        rig.order(OrderEvent::Rejected {
            strategy: ID,
            order: None,
            reason: types::RejectReason::SymbolPositionLimit,
        });
        assert!(rig.st.refusal_hold(0).unwrap().is_set());
        let skipped = rig.st.stats().entries_skipped;
        rig.st.refusal_holds[0] = {
            // Held for a long while (a run of refusals).
            let mut h = Hold::default();
            let backoff = rig.st.params().backoff();
            for _ in 0..10 {
                h.refused(
                    types::RejectReason::RestrictedSymbol,
                    Nanos(rig.k * SEC),
                    backoff,
                    0,
                    None,
                );
            }
            h
        };
        let x = rig.accept();
        let (_, side, price, qty, _) = leg_order(&r[1]);
        let unwind = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: x,
            locate: LX,
            side,
            price,
            qty,
            leaves: 0,
        });
        rig.fill_all(&unwind);
        assert_eq!(rig.st.state(), PairState::Flat);
        // A fresh entry signal: skipped, nothing sent.
        let r = rig.sample(-0.012);
        assert!(r.is_empty(), "{r:?}");
        assert!(rig.st.stats().entries_skipped > skipped);
        assert_eq!(rig.st.stats().held_after_refusal, 1);
    }

    #[test]
    fn max_holding_time_exits() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        rig.fill_all(&r);
        let PairState::Open { since, .. } = rig.st.state() else {
            panic!()
        };
        rig.out.clear();
        let t = Nanos(since.0 + rig.st.params().max_hold_ns);
        rig.st.on_timer(t, &rig.depth, &mut rig.out);
        assert_eq!(rig.out.len(), 2);
        assert_eq!(rig.st.stats().max_hold_exits, 1);
    }

    #[test]
    fn one_legged_entry_is_unwound() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        let y_id = rig.accept();
        let x_id = rig.accept();
        rig.order(OrderEvent::Filled {
            strategy: ID,
            order: y_id,
            locate: LY,
            side: Side::Buy,
            price: leg_order(&r[0]).2,
            qty: 100,
            leaves: 0,
        });
        // The X IOC found nothing: cancelled back.
        let u = rig.order(OrderEvent::Canceled {
            strategy: ID,
            order: x_id,
        });
        assert_eq!(u.len(), 1, "{u:?}");
        assert_eq!(leg_order(&u[0]).0, LY);
        assert_eq!(leg_order(&u[0]).1, Side::Sell);
        assert_eq!(leg_order(&u[0]).3, 100);
        assert_eq!(rig.st.stats().legged_unwinds, 1);
    }

    /// The venue busts the Y fill of an open long pair (a long-finished
    /// order): X's short is no longer hedged, and is bought back at once,
    /// not at the next book event.
    #[test]
    fn a_bust_that_legs_an_open_pair_unwinds_the_rest_at_once() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        let (_, _, py, qy, _) = leg_order(&r[0]);
        let (_, _, _, qx, _) = leg_order(&r[1]);
        rig.fill_all(&r);
        assert!(matches!(rig.st.state(), PairState::Open { .. }));
        // Y's entry order was the first accepted (`fill_all` numbers them).
        let y_order = OrderId(101);
        let u = rig.order(OrderEvent::FillAdjusted {
            strategy: ID,
            order: y_order,
            locate: LY,
            side: Side::Buy,
            was_qty: qy,
            was_price: py,
            qty: 0,
            price: py,
            leaves: 0,
        });
        assert_eq!(rig.st.positions(), [0, -(qx as i64)]);
        assert_eq!(u.len(), 1, "{u:?}");
        let bx = rig.depth.bbo(LX);
        assert_eq!(
            leg_order(&u[0]),
            (
                LX,
                Side::Buy,
                bx.ask.unwrap().price,
                qx,
                TimeInForce::ImmediateOrCancel
            )
        );
        assert_eq!(rig.st.stats().legged_unwinds, 1);
        assert_eq!(rig.st.state(), PairState::Exiting);
        rig.fill_all(&u);
        assert_eq!(rig.st.positions(), [0, 0]);
        assert_eq!(rig.st.state(), PairState::Flat);
    }

    /// A long pair's exit IOCs find nothing and go again; while the second
    /// ones are out the spread turns rich past the short entry. When their
    /// fills leave the pair flat, it enters short on that same decision,
    /// not at the next book event.
    #[test]
    fn a_pair_flat_after_its_exit_enters_on_the_same_decision() {
        let mut rig = Rig::new();
        let r = enter_long(&mut rig);
        rig.fill_all(&r);
        let exit = rig.sample(0.0);
        assert_eq!(exit.len(), 2, "{exit:?}");
        let ids = [rig.accept(), rig.accept()];
        rig.order(OrderEvent::Canceled {
            strategy: ID,
            order: ids[0],
        });
        let again = rig.order(OrderEvent::Canceled {
            strategy: ID,
            order: ids[1],
        });
        assert_eq!(again.len(), 2, "flattened again: {again:?}");
        assert_eq!(rig.st.state(), PairState::Exiting);
        // The spread turns rich while they are out: nothing is sent.
        assert!(rig.sample(0.008).is_empty());
        let s = rig.st.s_score().unwrap();
        assert!(s > 1.25, "s = {s}");
        let entry = rig.fill_all(&again);
        assert_eq!(rig.st.positions(), [0, 0]);
        assert_eq!(entry.len(), 2, "{entry:?}");
        assert_eq!(leg_order(&entry[0]).1, Side::Sell);
        assert_eq!(leg_order(&entry[1]).1, Side::Buy);
        assert_eq!(rig.st.state(), PairState::Entering(Direction::Short));
        assert_eq!(rig.st.stats().entries, 2);
    }

    #[test]
    fn no_entry_without_room_for_both_legs() {
        let mut rig = Rig::new();
        let mut out: Intents<1> = Intents::new();
        rig.sample_into(-0.008, &mut out);
        assert!(rig.st.s_score().unwrap() < -1.25);
        assert!(out.is_empty(), "{:?}", out.as_slice());
        assert_eq!(out.overflowed(), 0, "nothing half-sent");
        assert_eq!(rig.st.stats().entries_skipped, 1);
        assert_eq!(rig.st.state(), PairState::Flat);
    }

    #[test]
    fn bad_parameters_are_refused_whole() {
        let mut rig = Rig::new();
        let before = *rig.st.params();
        for bad in [
            PairsParams {
                window: 2,
                ..before
            },
            PairsParams {
                window: 1000,
                ..before
            },
            PairsParams {
                stop: 1.0,
                ..before
            },
            PairsParams {
                exit_long: 2.0,
                ..before
            },
            PairsParams {
                entry: f64::NAN,
                ..before
            },
            PairsParams { qty_y: 0, ..before },
        ] {
            assert!(rig.st.set_params(bad).is_err(), "{bad:?}");
            assert_eq!(*rig.st.params(), before);
        }
        // Shrinking the window keeps the newest samples and refits.
        rig.st
            .set_params(PairsParams {
                window: 20,
                ..before
            })
            .unwrap();
        assert!(rig.st.hedge().is_some());
        let (y, x) = legs();
        assert!(PairsTrader::new(ID, y, y, before).is_err());
        assert!(PairsTrader::new(ID, y, Leg { tick: 0, ..x }, before).is_err());
    }

    #[test]
    fn basket_enters_and_exits_all_legs_with_regression_hedges() {
        const LA: StockLocate = 30;
        const LB: StockLocate = 31;
        let leg = |locate, name| Leg {
            locate,
            symbol: Symbol::new(name).unwrap(),
            tick: 1,
        };
        let mut st: SpreadTrader<3> =
            SpreadTrader::with_legs(ID, [leg(LY, "Y"), leg(LA, "A"), leg(LB, "B")], quiet())
                .unwrap();
        let mut depth: SnapshotDepth<3, 1> = SnapshotDepth::new();
        let mut out: Intents = Intents::new();
        let mut noise = Noise(0x1234_5678_9abc_def1);
        let mut eps = 0.0;
        let mut sample = |st: &mut SpreadTrader<3>, k: u64, e: f64, out: &mut Intents| {
            let kf = k as f64;
            let la = libm::log(40.0) + 0.05 * libm::sin(kf * 0.37);
            let lb = libm::log(25.0) + 0.04 * libm::cos(kf * 0.23);
            // ln y = 0.1 + 0.8·ln a − 0.4·ln b + ε
            let ly = 0.1 + 0.8 * la - 0.4 * lb + e;
            for (loc, l) in [(LY, ly), (LA, la), (LB, lb)] {
                let p = libm::round(libm::exp(l) * 10_000.0) as i64;
                depth.set_top(loc, (p - 50, 500), (p + 50, 500)).unwrap();
            }
            out.clear();
            let ev = BookEvent::Bbo {
                locate: LA,
                bbo: depth.bbo(LA),
                ts: Nanos(k * SEC),
            };
            st.on_book(&ev, &depth, out);
            (
                depth.clone(),
                out.drain().collect::<heapless::Vec<OrderIntent, 8>>(),
            )
        };
        for k in 1..=40 {
            eps = 0.5 * eps + 0.002 * noise.next();
            let (_, r) = sample(&mut st, k, eps, &mut out);
            assert!(r.is_empty());
        }
        let f = st.hedge().unwrap();
        assert!(
            (f.beta[1] - 0.8).abs() < 0.1 && (f.beta[2] + 0.4).abs() < 0.1,
            "{f:?}"
        );
        st.set_params(PairsParams {
            window: 30,
            ..PairsParams::avellaneda_lee()
        })
        .unwrap();
        let (d, r) = sample(&mut st, 41, -0.008, &mut out);
        let s = st.s_score().unwrap();
        assert!(s < -1.25 && s > -4.0, "s = {s}");
        assert_eq!(r.len(), 3, "{r:?}");
        let f = st.hedge().unwrap();
        let (py, pa, pb) = (
            mid_f64(&d.bbo(LY)).unwrap(),
            mid_f64(&d.bbo(LA)).unwrap(),
            mid_f64(&d.bbo(LB)).unwrap(),
        );
        let qa = libm::round(f.beta[1] * 100.0 * py / pa) as u32;
        let qb = libm::round(-f.beta[2] * 100.0 * py / pb) as u32;
        // Long spread: buy Y; β_A > 0 → sell A; β_B < 0 → buy B.
        assert_eq!(leg_order(&r[0]).0, LY);
        assert_eq!((leg_order(&r[0]).1, leg_order(&r[0]).3), (Side::Buy, 100));
        assert_eq!(
            (leg_order(&r[1]).0, leg_order(&r[1]).1, leg_order(&r[1]).3),
            (LA, Side::Sell, qa)
        );
        assert_eq!(
            (leg_order(&r[2]).0, leg_order(&r[2]).1, leg_order(&r[2]).3),
            (LB, Side::Buy, qb)
        );
        // Fill everything.
        let mut id = 500;
        for _ in &r {
            id += 1;
            out.clear();
            st.on_order(
                &OrderEvent::Accepted {
                    strategy: ID,
                    order: OrderId(id),
                },
                &d,
                &mut out,
            );
        }
        let mut id = 500;
        for i in &r {
            id += 1;
            let (locate, side, price, qty, _) = leg_order(i);
            out.clear();
            st.on_order(
                &OrderEvent::Filled {
                    strategy: ID,
                    order: OrderId(id),
                    locate,
                    side,
                    price,
                    qty,
                    leaves: 0,
                },
                &d,
                &mut out,
            );
        }
        assert!(matches!(
            st.state(),
            PairState::Open {
                dir: Direction::Long,
                ..
            }
        ));
        assert_eq!(st.positions(), [100, -(qa as i64), qb as i64]);
        // Back to normal: all three legs flattened.
        let (_, r) = sample(&mut st, 42, 0.0, &mut out);
        assert!(st.s_score().unwrap() > -0.5);
        assert_eq!(r.len(), 3, "{r:?}");
        assert_eq!((leg_order(&r[0]).1, leg_order(&r[0]).3), (Side::Sell, 100));
        assert_eq!((leg_order(&r[1]).1, leg_order(&r[1]).3), (Side::Buy, qa));
        assert_eq!((leg_order(&r[2]).1, leg_order(&r[2]).3), (Side::Sell, qb));
        assert!(SpreadTrader::<3>::with_legs(
            ID,
            [leg(LY, "Y"), leg(LA, "A"), leg(LY, "Y")],
            quiet()
        )
        .is_err());
    }
}
