//! Avellaneda–Stoikov market making.
//!
//! # Model (constant-horizon variant)
//!
//! With mid `s`, inventory `q` (in quote lots, signed), risk aversion `γ`,
//! variance rate `σ²` (price² per second, estimated on line from mid
//! changes by [`VarianceRate`]), order-arrival decay `κ` and horizon `τ`:
//!
//! - reservation price `r = s − q·γ·σ²·τ`
//! - optimal total spread `δ = γ·σ²·τ + (2/γ)·ln(1 + γ/κ)`
//! - quotes `bid = r − δ/2`, `ask = r + δ/2`.
//!
//! The paper's `T − t` shrinks to zero at the end of a session; a continuously
//! running quoter would then quote ever tighter and carry inventory for free.
//! We use a constant rolling horizon `τ = horizon_secs` instead (the usual
//! stationary variant): the inventory penalty and spread stay the same at any
//! time of day. Prices are in currency units, `κ` in 1/currency, `γ` in
//! 1/(currency·lot).
//!
//! # Order handling
//!
//! - Quotes are post-only, rounded away from the market onto the tick grid and
//!   never placed through the opposite best price; our bid stays below our
//!   ask, and when both move, the one ahead moves first (no self-match).
//! - σ is estimated from mid changes clipped at `sigma_clip` (winsorised): a
//!   jump of a thin book counts as a large move, not as a variance outlier
//!   that would widen the spread and the inventory skew for minutes.
//! - A resting quote is only replaced when the target moved by at least
//!   `requote_ticks`, or by `requote_ticks_good_queue` when the estimated
//!   queue ahead of it is at most `good_queue_shares` (a good spot in the
//!   queue is worth keeping through small moves).
//! - A side whose fill would take the position beyond `max_position` is not
//!   quoted (and its resting quote is cancelled).
//! - Fast markets — the mid moving more than `fast_move` within
//!   `fast_window_ns` (measured against an anchor renewed every window, so
//!   moves up to twice the window are caught), or the spread reaching
//!   `wide_spread` — pull both quotes or widen them (per `fast_action`) until
//!   `cooldown_ns` after the last trigger.
//! - Halts and pauses pull both quotes.
//! - A quote risk or the venue refused is not sent again at the next
//!   event: that side is held off (its resting order, if any, kept where
//!   it is) until what refused it may have changed — a fill or an order
//!   of ours finishing for an exposure limit, a quote nearer the mid for
//!   the collar — or a backoff in the feed's time has passed, doubling
//!   with each refusal in a row from `refusal_hold_ns` up to
//!   `refusal_hold_max_ns` (see [`crate::refusal`]). The other side keeps
//!   quoting.

use types::{
    Bbo, BookEvent, DepthView, Level, Nanos, OrderEvent, Price, Side, StockLocate, StrategyId,
    Symbol, TimeInForce, TradingState,
};

use crate::orders::{own_fill, swapped, OrderUpdate, OwnOrders};
use crate::refusal::{Backoff, Hold};
use crate::stats::VarianceRate;
use crate::tick::{grid_above, grid_below, round_passive, two_sided_prices};
use crate::{positive, Intents, ParamError, Strategy};

/// What to do in a fast market.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FastAction {
    /// Cancel both quotes.
    Pull,
    /// Multiply the spread by this factor (≥ 1).
    Widen(f64),
}

/// Operator-settable parameters of a [`MarketMaker`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmParams {
    /// `false` pulls both quotes (at the next event or timer tick) and
    /// sends none until enabled again; positions and state are kept.
    pub enabled: bool,
    /// Risk aversion γ, 1/(currency·lot).
    pub gamma: f64,
    /// Order-arrival intensity decay κ, 1/currency.
    pub kappa: f64,
    /// Constant horizon τ in seconds.
    pub horizon_secs: f64,
    /// Weight of the newest mid change in the variance estimate, (0, 1].
    pub sigma_alpha: f64,
    /// Lower bound on σ (currency/√s) so a quiet start still quotes sanely.
    pub sigma_floor: f64,
    /// Largest mid change (price4) the variance estimate takes at face
    /// value: larger ones count as `±sigma_clip` (winsorised), so a single
    /// jump of a thin book does not blow σ — and with it the inventory skew
    /// and the spread — up for minutes. 0 disables the clip.
    pub sigma_clip: i64,
    /// Shares per quote; also the inventory unit `q` is counted in.
    pub quote_qty: u32,
    /// Least half-spread around the reservation price, in ticks (0: the
    /// model's spread alone). The operator's floor for thin, fast names.
    pub min_half_spread_ticks: i64,
    /// Absolute position limit in shares.
    pub max_position: i64,
    /// Tick size in price4 units.
    pub tick: i64,
    /// Minimum target move (ticks) that replaces a quote.
    pub requote_ticks: i64,
    /// Minimum target move (ticks) that replaces a quote holding a good queue
    /// position (≥ `requote_ticks`).
    pub requote_ticks_good_queue: i64,
    /// Queue ahead (shares) at or below which a position counts as good.
    pub good_queue_shares: u64,
    /// Mid move (price4) that counts as a fast market...
    pub fast_move: i64,
    /// ...within this many nanoseconds.
    pub fast_window_ns: u64,
    /// Spread (price4) at or beyond which the market counts as fast.
    pub wide_spread: i64,
    pub fast_action: FastAction,
    /// How long fast-market handling lasts after the last trigger.
    pub cooldown_ns: u64,
    /// How long a side is held off after a refusal (the first in a row;
    /// each further one doubles it), unless what refused it changed first.
    /// 0 holds nothing: a refused quote is sent again at once.
    pub refusal_hold_ns: u64,
    /// The longest such hold (≥ `refusal_hold_ns`): how late a limit
    /// lifted behind the maker's back (a re-armed kill switch, another
    /// strategy's fill) is found.
    pub refusal_hold_max_ns: u64,
}

impl MmParams {
    /// Reasonable values for a $10–$200 stock on a one-cent grid.
    pub const fn default_for_cent_tick() -> Self {
        MmParams {
            enabled: true,
            gamma: 0.1,
            kappa: 100.0,
            horizon_secs: 60.0,
            sigma_alpha: 0.05,
            sigma_floor: 0.001,
            sigma_clip: 300,
            quote_qty: 100,
            min_half_spread_ticks: 0,
            max_position: 500,
            tick: 100,
            requote_ticks: 1,
            requote_ticks_good_queue: 3,
            good_queue_shares: 300,
            fast_move: 1_000,
            fast_window_ns: 100_000_000,
            wide_spread: 2_000,
            fast_action: FastAction::Pull,
            cooldown_ns: 500_000_000,
            // From a quarter of a second, doubling, to a minute: a side
            // refused for good costs 8 refusals in its first minute and one
            // a minute after (risk's reject-rate limit counts them).
            refusal_hold_ns: 250_000_000,
            refusal_hold_max_ns: 60_000_000_000,
        }
    }

    pub fn validate(&self) -> Result<(), ParamError> {
        positive("gamma", self.gamma)?;
        positive("kappa", self.kappa)?;
        positive("horizon_secs", self.horizon_secs)?;
        positive("sigma_alpha", self.sigma_alpha)?;
        if self.sigma_alpha > 1.0 {
            return Err(ParamError::new("sigma_alpha", "must be <= 1"));
        }
        if !(self.sigma_floor.is_finite() && self.sigma_floor >= 0.0) {
            return Err(ParamError::new("sigma_floor", "must be finite and >= 0"));
        }
        if self.sigma_clip < 0 {
            return Err(ParamError::new("sigma_clip", "must be >= 0"));
        }
        if self.quote_qty == 0 {
            return Err(ParamError::new("quote_qty", "must be > 0"));
        }
        if !(0..=1_000_000).contains(&self.min_half_spread_ticks) {
            return Err(ParamError::new(
                "min_half_spread_ticks",
                "must be in 0..=1_000_000",
            ));
        }
        if self.max_position < 0 {
            return Err(ParamError::new("max_position", "must be >= 0"));
        }
        if self.tick <= 0 || self.tick > crate::tick::MAX_TICK {
            return Err(ParamError::new("tick", "must be in 1..=1_000_000"));
        }
        if self.requote_ticks < 1 {
            return Err(ParamError::new("requote_ticks", "must be >= 1"));
        }
        if self.requote_ticks_good_queue < self.requote_ticks {
            return Err(ParamError::new(
                "requote_ticks_good_queue",
                "must be >= requote_ticks",
            ));
        }
        if self.fast_move <= 0 {
            return Err(ParamError::new("fast_move", "must be > 0"));
        }
        if self.fast_window_ns == 0 {
            return Err(ParamError::new("fast_window_ns", "must be > 0"));
        }
        if self.wide_spread <= 0 {
            return Err(ParamError::new("wide_spread", "must be > 0"));
        }
        if let FastAction::Widen(f) = self.fast_action {
            if !(f.is_finite() && f >= 1.0) {
                return Err(ParamError::new("fast_action", "widen factor must be >= 1"));
            }
        }
        if self.refusal_hold_max_ns < self.refusal_hold_ns {
            return Err(ParamError::new(
                "refusal_hold_max_ns",
                "must be >= refusal_hold_ns",
            ));
        }
        Ok(())
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            first_ns: self.refusal_hold_ns,
            max_ns: self.refusal_hold_max_ns,
        }
    }

    /// `(2/γ)·ln(1 + γ/κ)`: the part of the spread that does not depend on
    /// volatility, precomputed when parameters change.
    fn intensity_spread(&self) -> f64 {
        (2.0 / self.gamma) * libm::log(1.0 + self.gamma / self.kappa)
    }

    /// The terms of the quoting math that depend on the parameters alone,
    /// computed once per parameter change by the same expressions the
    /// per-event path used to evaluate (so the results are bit-identical).
    fn derived(&self) -> Derived {
        Derived {
            intensity_spread: self.intensity_spread(),
            var_floor: self.sigma_floor * self.sigma_floor,
            spread_floor: 2.0 * (self.min_half_spread_ticks * self.tick) as f64
                / Price::SCALE as f64,
            sigma_clip: self.sigma_clip as f64 / Price::SCALE as f64,
            warm_up_changes: libm::ceil(1.0 / self.sigma_alpha) as u32,
        }
    }
}

/// Parameter-only terms of the quoting math (see [`MmParams::derived`]).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Derived {
    /// `(2/γ)·ln(1 + γ/κ)`.
    intensity_spread: f64,
    /// `sigma_floor²`: the least variance rate quoted with.
    var_floor: f64,
    /// Least total spread (currency units): `2·min_half_spread_ticks·tick`.
    spread_floor: f64,
    /// `sigma_clip` in currency units.
    sigma_clip: f64,
    /// Mid changes before the variance estimate is quoted with.
    warm_up_changes: u32,
}

/// Reservation price `r = s − q·γ·σ²·τ`.
pub fn reservation_price(mid: f64, q: f64, gamma: f64, var: f64, tau: f64) -> f64 {
    mid - q * gamma * var * tau
}

/// Optimal total spread `δ = γ·σ²·τ + (2/γ)·ln(1 + γ/κ)`.
pub fn optimal_spread(gamma: f64, var: f64, tau: f64, kappa: f64) -> f64 {
    gamma * var * tau + (2.0 / gamma) * libm::log(1.0 + gamma / kappa)
}

/// Counters an operator watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmStats {
    pub quotes_sent: u64,
    pub replaces_sent: u64,
    pub cancels_sent: u64,
    /// Target moved, but less than the refresh threshold.
    pub refreshes_skipped: u64,
    pub fast_market_triggers: u64,
    /// Sides not quoted because of the inventory limit (per evaluation).
    pub inventory_blocks: u64,
    pub fills: u64,
    /// Quotes and replaces refused (by risk or a venue).
    pub refusals: u64,
    /// Targets a side held off after a refusal did not move to: no quote
    /// placed, or its resting quote left at another price (per evaluation;
    /// moves below the refresh threshold count too).
    pub held_after_refusal: u64,
}

/// One Avellaneda–Stoikov quoter on one instrument.
#[derive(Debug, Clone)]
pub struct MarketMaker {
    id: StrategyId,
    locates: [StockLocate; 1],
    symbol: Symbol,
    params: MmParams,
    derived: Derived,
    orders: OwnOrders<4>,
    position: i64,
    vol: VarianceRate,
    last_mid: Option<i64>,
    last_ts: Nanos,
    anchor: Option<(Nanos, i64)>,
    fast_until: Option<Nanos>,
    trading: bool,
    stats: MmStats,
    /// Bumped whenever the volatility estimate changes (part of the
    /// quote memo's key).
    vol_epoch: u64,
    /// The last computed targets and what they were computed from.
    memo: Option<QuoteMemo>,
    /// The last decision that left both orders alone, and its inputs.
    work_memo: Option<WorkMemo>,
    /// What the last decision read of our orders (valid while the slots'
    /// version is the same).
    held: Option<Held>,
    /// Each side's hold after refusals, `[bid, ask]` (see [`crate::refusal`]).
    refusal_holds: [Hold; 2],
    /// Moves whenever our exposure may have shrunk or grown: a fill, an
    /// order of ours finishing. Holds for an exposure limit wait on it.
    exposure_epoch: u64,
}

/// Index of `side` in `[bid, ask]` arrays.
#[inline(always)]
fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// Each side's order slot and working price as a decision reads them, for
/// one [`OwnOrders::version`] of the slots: they are functions of the
/// slots alone, so an unchanged version gives them again without a scan.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Held {
    orders_version: u64,
    bid_slot: Option<usize>,
    ask_slot: Option<usize>,
    own_bid: Option<i64>,
    own_ask: Option<i64>,
}

/// A decision of [`MarketMaker::work_targets`] that sent nothing and changed
/// nothing (both sides kept, waiting or absent), with everything it read:
/// the targets and the order slots (by [`OwnOrders::version`]); the
/// parameters it also reads reset it when they change. The same inputs
/// give the same decision again: only its counters are replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
struct WorkMemo {
    bid: Option<Price>,
    ask: Option<Price>,
    orders_version: u64,
    /// Refreshes it skipped (0–2).
    skipped: u64,
}

/// The targets of the last quote computation and everything they depend
/// on. Most book events change only sizes at the touch: the market's
/// prices, our position, the volatility estimate and the fast-market state
/// stay, and so do the targets, so they are not computed again.
#[derive(Debug, Clone, Copy, PartialEq)]
struct QuoteMemo {
    best_bid: i64,
    best_ask: i64,
    position: i64,
    vol_epoch: u64,
    fast: bool,
    /// Targets after rounding, caps, inventory limits and keeping apart.
    bid: Option<Price>,
    ask: Option<Price>,
    /// Sides the inventory limit blocked (counted per evaluation).
    blocked: u64,
}

impl MarketMaker {
    pub fn new(
        id: StrategyId,
        locate: StockLocate,
        symbol: Symbol,
        params: MmParams,
    ) -> Result<Self, ParamError> {
        params.validate()?;
        Ok(MarketMaker {
            id,
            locates: [locate],
            symbol,
            params,
            derived: params.derived(),
            orders: OwnOrders::new(id),
            position: 0,
            vol: VarianceRate::new(params.sigma_alpha),
            last_mid: None,
            last_ts: Nanos(0),
            anchor: None,
            fast_until: None,
            trading: true,
            stats: MmStats::default(),
            vol_epoch: 0,
            memo: None,
            work_memo: None,
            held: None,
            refusal_holds: [Hold::default(); 2],
            exposure_epoch: 0,
        })
    }

    /// The hold after refusals of `side`'s quotes.
    pub fn refusal_hold(&self, side: Side) -> &Hold {
        &self.refusal_holds[side_index(side)]
    }

    pub fn position(&self) -> i64 {
        self.position
    }

    pub fn stats(&self) -> MmStats {
        self.stats
    }

    pub fn orders(&self) -> &OwnOrders<4> {
        &self.orders
    }

    fn locate(&self) -> StockLocate {
        self.locates[0]
    }

    /// The instrument it quotes.
    pub fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// Its instrument is now under locate `b` if it was under `a` (and
    /// the other way round): a new feed session's numbering. Its own
    /// orders follow; what it learnt of the market (volatility, position)
    /// stays, it is the same instrument.
    pub fn swap_locates(&mut self, a: StockLocate, b: StockLocate) {
        for l in self.locates.iter_mut() {
            *l = swapped(*l, a, b);
        }
        self.orders.swap_locates(a, b);
        self.memo = None;
        self.work_memo = None;
        self.held = None;
    }

    /// True while fast-market handling is in force at `now`.
    pub fn is_fast(&self, now: Nanos) -> bool {
        self.fast_until.is_some_and(|t| now < t)
    }

    /// σ² per second as used for quoting (estimate, floored). The estimate
    /// counts once it rests on about `1/sigma_alpha` mid changes (its
    /// effective sample): two changes a few nanoseconds apart at the open
    /// would otherwise make a variance rate of thousands of dollars² per
    /// second, and quotes thousands of dollars away.
    pub fn variance(&self) -> f64 {
        let floor = self.derived.var_floor;
        match self.vol.variance_per_sec() {
            Some(v) if v > floor && self.vol.updates() >= self.derived.warm_up_changes => v,
            _ => floor,
        }
    }

    /// Model quotes (currency units) for the current state, before rounding.
    pub fn model_quotes(&self, mid: f64, now: Nanos) -> (f64, f64) {
        let p = &self.params;
        let var = self.variance();
        let q = self.position as f64 / p.quote_qty as f64;
        let r = reservation_price(mid, q, p.gamma, var, p.horizon_secs);
        let mut delta = p.gamma * var * p.horizon_secs + self.derived.intensity_spread;
        if let (true, FastAction::Widen(f)) = (self.is_fast(now), p.fast_action) {
            delta *= f;
        }
        delta = delta.max(self.derived.spread_floor);
        (r - delta / 2.0, r + delta / 2.0)
    }

    fn trigger_fast(&mut self, now: Nanos) {
        self.stats.fast_market_triggers += 1;
        self.fast_until = Some(Nanos(now.0.saturating_add(self.params.cooldown_ns)));
    }

    /// Takes the best prices of a [`two_sided_prices`] market.
    #[inline(always)]
    fn observe_bbo(&mut self, sides: Option<(i64, i64)>, ts: Nanos) {
        self.last_ts = ts;
        let Some((bid, ask)) = sides else {
            return;
        };
        let mid2 = bid + ask;
        let mid = mid2.div_euclid(2);
        if ask - bid >= self.params.wide_spread {
            self.trigger_fast(ts);
        }
        match self.anchor {
            Some((t0, m0)) if ts.saturating_sub(t0) <= self.params.fast_window_ns => {
                if (mid - m0).abs() > self.params.fast_move {
                    self.trigger_fast(ts);
                    self.anchor = Some((ts, mid));
                }
            }
            _ => self.anchor = Some((ts, mid)),
        }
        if self.last_mid != Some(mid) {
            let scale = Price::SCALE as f64;
            self.vol_epoch = self.vol_epoch.wrapping_add(1);
            self.vol
                .update_clipped(mid2 as f64 / (2.0 * scale), ts.0, self.derived.sigma_clip);
            self.last_mid = Some(mid);
        }
    }

    fn cancel_all<const N: usize>(&mut self, out: &mut Intents<N>) {
        for side in [Side::Buy, Side::Sell] {
            self.cancel_side(side, out);
        }
    }

    fn cancel_side<const N: usize>(&mut self, side: Side, out: &mut Intents<N>) {
        if let Some(slot) = self.orders.find(self.locate(), side) {
            if self.orders.cancel(slot, out) {
                self.stats.cancels_sent += 1;
            }
        }
    }

    /// Recomputes quotes for `bbo` at `now` and sends what changed.
    fn requote<const N: usize>(&mut self, bbo: &Bbo, now: Nanos, out: &mut Intents<N>) {
        self.requote_sides(two_sided_prices(bbo), now, out)
    }

    /// [`MarketMaker::requote`] for the best prices of a market already
    /// checked by [`two_sided_prices`] (a book event's is checked once for
    /// both uses).
    #[inline(always)]
    fn requote_sides<const N: usize>(
        &mut self,
        sides: Option<(i64, i64)>,
        now: Nanos,
        out: &mut Intents<N>,
    ) {
        // No quotes into a one-sided, crossed or locked market.
        let Some((best_bid, best_ask)) = sides.filter(|(b, a)| b < a) else {
            self.cancel_all(out);
            return;
        };
        if !self.params.enabled
            || !self.trading
            || (self.is_fast(now) && self.params.fast_action == FastAction::Pull)
        {
            self.cancel_all(out);
            return;
        }
        let fast = self.is_fast(now);
        let (bid, ask) = match &self.memo {
            Some(m)
                if m.best_bid == best_bid
                    && m.best_ask == best_ask
                    && m.position == self.position
                    && m.vol_epoch == self.vol_epoch
                    && m.fast == fast =>
            {
                self.stats.inventory_blocks += m.blocked;
                (m.bid, m.ask)
            }
            _ => {
                let blocked = self.stats.inventory_blocks;
                let (bid, ask) = self.targets(best_bid, best_ask, now);
                self.memo = Some(QuoteMemo {
                    best_bid,
                    best_ask,
                    position: self.position,
                    vol_epoch: self.vol_epoch,
                    fast,
                    bid,
                    ask,
                    blocked: self.stats.inventory_blocks - blocked,
                });
                (bid, ask)
            }
        };
        // One test while nothing is held (the usual case).
        let (bid, ask) = if self.refusal_holds[0].is_set() | self.refusal_holds[1].is_set() {
            self.held_targets(bid, ask, now)
        } else {
            (bid, ask)
        };
        self.work_targets(bid, ask, out);
    }

    /// The targets with each side still held after a refusal at `now`
    /// made to stay as it is: its live order at its own price, or no
    /// order (a held side's order is still cancelled when its target is
    /// none). Holds whose time is up, or whose cause changed, are lifted
    /// first. Working the result sends no new order or replace on a held
    /// side, and is a decision on targets like any other (the work memo
    /// keeps working).
    #[cold]
    #[inline(never)]
    fn held_targets(
        &mut self,
        bid: Option<Price>,
        ask: Option<Price>,
        now: Nanos,
    ) -> (Option<Price>, Option<Price>) {
        (
            self.held_target(Side::Buy, bid, now),
            self.held_target(Side::Sell, ask, now),
        )
    }

    fn held_target(&mut self, side: Side, target: Option<Price>, now: Nanos) -> Option<Price> {
        let epoch = self.exposure_epoch;
        let off = self.off_mid(target);
        let wanted = target?;
        if !self.refusal_holds[side_index(side)].lift_if_due(now, epoch, off) {
            return target;
        }
        let resting = self
            .orders
            .find(self.locate(), side)
            .and_then(|slot| self.orders.get(slot))
            .map(|o| (o.is_live(), o.replace_refused, o.price));
        let (stays, sent) = match resting {
            // In flight: nothing would be sent for it anyway.
            Some((false, _, _)) => (None, false),
            // The venue refused its replace: a move pulls it (a cancel),
            // which a hold does not stop.
            Some((true, true, _)) => return target,
            Some((true, false, price)) => (Some(price), price != wanted),
            None => (None, true),
        };
        if sent {
            self.stats.held_after_refusal += 1;
        }
        stays
    }

    /// How far `price` is from the mid (price4), when both are known: what
    /// the collar measures.
    fn off_mid(&self, price: Option<Price>) -> Option<i64> {
        Some(price?.0.saturating_sub(self.last_mid?).saturating_abs())
    }

    /// Our quote (or replace) on `side` at `price` was refused for `reason`.
    fn on_refused(&mut self, side: Side, price: Price, reason: types::RejectReason) {
        self.stats.refusals += 1;
        let off = self.off_mid(Some(price));
        self.refusal_holds[side_index(side)].refused(
            reason,
            self.last_ts,
            self.params.backoff(),
            self.exposure_epoch,
            off,
        );
    }

    /// Target quotes for a two-sided market `best_bid` < `best_ask` at
    /// `now`: the model's prices rounded away from the market, kept inside
    /// it, dropped where a fill would break the inventory limit and kept
    /// apart from each other.
    fn targets(
        &mut self,
        best_bid: i64,
        best_ask: i64,
        now: Nanos,
    ) -> (Option<Price>, Option<Price>) {
        let mid = (best_bid + best_ask) as f64 / (2.0 * Price::SCALE as f64);
        let (bid, ask) = self.model_quotes(mid, now);
        let tick = self.params.tick;
        // Post-only: stay strictly inside our side of the market, on the grid
        // (the book's prices themselves need not be on our grid): a bid is
        // capped at the largest grid price below the best ask, an ask floored
        // at the smallest grid price above the best bid. A rounded quote is
        // on the grid, so one already strictly inside is at or within that
        // bound and stays as it is: the bound is only computed when needed.
        let bid = round_passive(Side::Buy, bid, tick)
            .map(|p| {
                if p.0 < best_ask {
                    p
                } else {
                    Price(grid_below(best_ask, tick))
                }
            })
            .filter(|p| p.0 > 0);
        let ask = round_passive(Side::Sell, ask, tick).map(|p| {
            if p.0 > best_bid {
                p
            } else {
                Price(grid_above(best_bid, tick))
            }
        });
        // What a fill could add on each side: the quote size, or more if a
        // larger order still rests there (its size may predate a smaller
        // `quote_qty`; a requote keeps it until its price moves).
        let resting = |side: Side| {
            let locate = self.locate();
            self.orders
                .find(locate, side)
                .and_then(|slot| self.orders.get(slot))
                .map_or(0, |o| i64::from(o.leaves))
        };
        let quote = i64::from(self.params.quote_qty);
        let (bid_qty, ask_qty) = (
            quote.max(resting(Side::Buy)),
            quote.max(resting(Side::Sell)),
        );
        let bid = if self.position.saturating_add(bid_qty) <= self.params.max_position {
            bid
        } else {
            self.stats.inventory_blocks += 1;
            None
        };
        let ask = if self.position.saturating_sub(ask_qty) >= -self.params.max_position {
            ask
        } else {
            self.stats.inventory_blocks += 1;
            None
        };
        self.apart(bid, ask)
    }

    /// Works both sides towards their targets.
    #[inline(always)]
    fn work_targets<const N: usize>(
        &mut self,
        bid: Option<Price>,
        ask: Option<Price>,
        out: &mut Intents<N>,
    ) {
        let version = self.orders.version();
        if let Some(m) = &self.work_memo {
            if m.bid == bid && m.ask == ask && m.orders_version == version {
                self.stats.refreshes_skipped += m.skipped;
                return;
            }
        }
        let targets = (bid, ask);
        // Each side's order is looked up at most once per decision (not at
        // all while the slots stay as they were). Working one side never
        // changes the other's slot, nor (see `below_own`) the price the
        // other side must stay off.
        let held = match self.held {
            Some(h) if h.orders_version == version => h,
            _ => {
                let locate = self.locate();
                let bid_slot = self.orders.find(locate, Side::Buy);
                let ask_slot = self.orders.find(locate, Side::Sell);
                let h = Held {
                    orders_version: version,
                    bid_slot,
                    ask_slot,
                    own_bid: self.working_price(bid_slot, Side::Buy),
                    own_ask: self.working_price(ask_slot, Side::Sell),
                };
                self.held = Some(h);
                h
            }
        };
        let Held {
            bid_slot,
            ask_slot,
            own_bid,
            own_ask,
            ..
        } = held;
        // Moving up, the ask moves first; moving down, the bid: a quote
        // never passes our own other quote on the way (risk would refuse
        // the self-match).
        let up = match (bid, own_bid) {
            (Some(b), Some(w)) => b.0 > w,
            _ => false,
        };
        let bid = (Side::Buy, bid_slot, self.below_own(Side::Buy, bid, own_ask));
        let ask = (
            Side::Sell,
            ask_slot,
            self.below_own(Side::Sell, ask, own_bid),
        );
        // One call site per position (not four): each is inlined once.
        let (first, second) = if up { (ask, bid) } else { (bid, ask) };
        let first = self.work_side(first.0, first.1, first.2, out);
        let second = self.work_side(second.0, second.1, second.2, out);
        self.work_memo = match (first, second) {
            // Nothing changed: the slots are as they were read.
            (Some(a), Some(b)) => Some(WorkMemo {
                bid: targets.0,
                ask: targets.1,
                orders_version: version,
                skipped: a + b,
            }),
            _ => None,
        };
    }

    /// `target` kept off our own order on the other side (a tick short of
    /// `other`, that order's most aggressive price): it follows once that
    /// order has moved. Computing it before the other side is worked is
    /// exact: a replace moving that order away leaves its most aggressive
    /// price where it was until the venue confirms, and a new order there
    /// has a target already kept apart from this one (`apart`).
    fn below_own(&self, side: Side, target: Option<Price>, other: Option<i64>) -> Option<Price> {
        let tick = self.params.tick;
        let t = target?;
        let p = match (side, other) {
            (Side::Buy, Some(a)) if t.0 >= a => a - tick,
            (Side::Sell, Some(b)) if t.0 <= b => b + tick,
            _ => t.0,
        };
        Some(Price(p)).filter(|p| p.0 > 0)
    }

    /// The most aggressive price our order in `slot` (on `side`) may have at
    /// the venue: its price, or the price of a replace in flight if that is
    /// more aggressive (what risk checks a self-match against).
    fn working_price(&self, slot: Option<usize>, side: Side) -> Option<i64> {
        let o = slot.and_then(|slot| self.orders.get(slot))?;
        let pending = match o.state {
            crate::orders::OrderState::PendingReplace { price, .. } => Some(price.0),
            _ => None,
        };
        let p = o.price.0;
        Some(match (side, pending) {
            (Side::Buy, Some(q)) => p.max(q),
            (Side::Sell, Some(q)) => p.min(q),
            _ => p,
        })
        .filter(|&p| p > 0)
    }

    /// The two targets never meet: when they do, the side that would grow
    /// the position gives way by a tick.
    fn apart(&self, bid: Option<Price>, ask: Option<Price>) -> (Option<Price>, Option<Price>) {
        let tick = self.params.tick;
        match (bid, ask) {
            (Some(b), Some(a)) if b.0 >= a.0 => {
                if self.position > 0 {
                    (Some(Price(a.0 - tick)).filter(|p| p.0 > 0), ask)
                } else {
                    (bid, Some(Price(b.0 + tick)))
                }
            }
            _ => (bid, ask),
        }
    }

    /// Moves our order on `side` (found in `slot`) to `target`: places,
    /// replaces or cancels it, or leaves it where it is. `Some(skipped
    /// refreshes)` when it tried to send nothing (and so changed nothing),
    /// `None` when it tried to send something.
    #[inline(always)]
    fn work_side<const N: usize>(
        &mut self,
        side: Side,
        slot: Option<usize>,
        target: Option<Price>,
        out: &mut Intents<N>,
    ) -> Option<u64> {
        let locate = self.locate();
        let Some(target) = target else {
            // Only a live order is cancelled (`slot` is the one
            // `cancel_side` finds unless the other side sent something).
            let live = slot
                .and_then(|slot| self.orders.get(slot))
                .is_some_and(|o| o.is_live());
            self.cancel_side(side, out);
            return if live { None } else { Some(0) };
        };
        let Some(slot) = slot else {
            let sent = self.orders.submit_new(
                locate,
                self.symbol,
                side,
                target,
                self.params.quote_qty,
                TimeInForce::PostOnly,
                out,
            );
            if sent.is_some() {
                self.stats.quotes_sent += 1;
            }
            return None;
        };
        // Read in place: the order is not copied out of its slot.
        let Some(order) = self.orders.get(slot) else {
            return Some(0);
        };
        if !order.is_live() {
            // Something is in flight for this side: wait for its answer.
            return Some(0);
        }
        let moved = (target.0 - order.price.0).abs();
        if moved == 0 {
            return Some(0);
        }
        let threshold = if order.queue_ahead <= self.params.good_queue_shares {
            self.params.requote_ticks_good_queue
        } else {
            self.params.requote_ticks
        };
        if moved < threshold.saturating_mul(self.params.tick) {
            self.stats.refreshes_skipped += 1;
            return Some(1);
        }
        if order.replace_refused {
            // The venue refused the last replace (a size not above what
            // has filled, say): the same one would be refused again, and
            // again. Pull the order; the next quote is a new one.
            self.cancel_side(side, out);
            return None;
        }
        if self
            .orders
            .replace(slot, target, self.params.quote_qty, out)
        {
            self.stats.replaces_sent += 1;
        }
        None
    }

    /// A newly placed order joins behind everything displayed at its price
    /// (the book may not show our own order yet; if it does, the estimate
    /// is pessimistic by our size until trades and cancels shrink it).
    fn estimate_queue<D: DepthView + ?Sized>(&mut self, slot: usize, depth: &D) {
        if let Some(o) = self.orders.get(slot).copied() {
            let ahead = self.displayed_at(depth, o.side, o.price);
            self.orders.set_queue_ahead(slot, ahead);
        }
    }

    /// Shares displayed at `price` on `side` (our order not yet counted).
    fn displayed_at<D: DepthView + ?Sized>(&self, depth: &D, side: Side, price: Price) -> u64 {
        let mut levels = [Level::default(); 8];
        let n = depth.depth(self.locate(), side, &mut levels);
        levels
            .iter()
            .take(n)
            .find(|l| l.price == price)
            .map_or(0, |l| l.qty)
    }
}

impl Strategy for MarketMaker {
    type Params = MmParams;

    fn id(&self) -> StrategyId {
        self.id
    }

    fn locates(&self) -> &[StockLocate] {
        &self.locates
    }

    fn on_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &BookEvent,
        _depth: &D,
        out: &mut Intents<N>,
    ) {
        // The per-event case first, with its own locate test.
        if let BookEvent::Bbo {
            locate,
            ref bbo,
            ts,
        } = *event
        {
            if locate == self.locate() {
                let sides = two_sided_prices(bbo);
                self.observe_bbo(sides, ts);
                self.requote_sides(sides, ts, out);
            }
            return;
        }
        if event.locate() != self.locate() {
            return;
        }
        match *event {
            BookEvent::Bbo { .. } => {}
            BookEvent::Level { side, level, .. } => {
                self.orders.on_level(self.locate(), side, &level);
            }
            BookEvent::Trade {
                price,
                qty,
                resting_side: Some(side),
                ..
            } => self.orders.on_trade(self.locate(), price, qty, side),
            BookEvent::Trade { .. } => {}
            BookEvent::State { state, ts, .. } => {
                self.last_ts = ts;
                self.trading = state == TradingState::Trading;
                if !self.trading {
                    self.cancel_all(out);
                }
            }
        }
    }

    fn on_order<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &OrderEvent,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        let mut filled = false;
        if let Some((locate, shares)) = own_fill(event, self.id) {
            if locate == self.locate() {
                self.position = self.position.saturating_add(shares);
                self.stats.fills += 1;
                self.exposure_epoch = self.exposure_epoch.wrapping_add(1);
                filled = true;
            }
        }
        let update = self.orders.on_event(event, out);
        match update {
            OrderUpdate::Entered { slot }
            | OrderUpdate::Accepted { slot }
            | OrderUpdate::Replaced { slot } => {
                // It passed: that side's run of refusals is over.
                if let Some(o) = self.orders.get(slot) {
                    self.refusal_holds[side_index(o.side)].passed();
                }
            }
            // An order of ours finished: the exposure risk counts moved.
            OrderUpdate::Canceled { .. } => {
                self.exposure_epoch = self.exposure_epoch.wrapping_add(1);
            }
            OrderUpdate::Rejected { side, price, .. } => {
                if let OrderEvent::Rejected { order: Some(_), .. } = event {
                    // An order the venue had (or risk counted) is gone.
                    self.exposure_epoch = self.exposure_epoch.wrapping_add(1);
                }
                if let (
                    OrderEvent::Rejected { reason, .. } | OrderEvent::AmendRejected { reason, .. },
                    Some(price),
                ) = (event, price)
                {
                    self.on_refused(side, price, *reason);
                }
            }
            _ => {}
        }
        match update {
            OrderUpdate::Accepted { slot } => self.estimate_queue(slot, depth),
            // A price change lost our place (the tracker marks it).
            OrderUpdate::Replaced { slot }
                if self
                    .orders
                    .get(slot)
                    .is_some_and(|o| o.queue_ahead == u64::MAX) =>
            {
                self.estimate_queue(slot, depth)
            }
            OrderUpdate::Ignored if !filled => return,
            // Sent, not yet answered: nothing to requote for.
            OrderUpdate::Entered { .. } => return,
            _ => {}
        }
        // Fills change the skew; cancels and rejects free a side to requote.
        let bbo = depth.bbo(self.locate());
        self.requote(&bbo, self.last_ts, out);
    }

    fn on_timer<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    ) {
        if !self.params.enabled {
            // Disabled by the operator: quotes come down at the next tick.
            self.cancel_all(out);
            return;
        }
        let fast_over = self.fast_until.is_some_and(|until| now >= until);
        if fast_over {
            self.fast_until = None;
        }
        // A hold whose time is up is lifted at the next decision: make
        // one now, or a quiet market would keep that side away.
        let hold_over = self
            .refusal_holds
            .iter()
            .any(|h| h.until().is_some_and(|until| now >= until));
        if fast_over || hold_over {
            self.last_ts = now;
            let bbo = depth.bbo(self.locate());
            self.requote(&bbo, now, out);
        }
    }

    fn on_limits_changed(&mut self) {
        self.refusal_holds = [Hold::default(); 2];
    }

    fn on_restored_fill(&mut self, leg: usize, side: Side, qty: u32) {
        if leg == 0 {
            // The quote memo keys on the position: the next decision is
            // made afresh.
            self.position = self
                .position
                .saturating_add(side.sign().saturating_mul(qty as i64));
        }
    }

    fn params(&self) -> &MmParams {
        &self.params
    }

    fn set_params(&mut self, params: MmParams) -> Result<(), ParamError> {
        params.validate()?;
        self.params = params;
        self.derived = params.derived();
        self.vol.set_alpha(params.sigma_alpha);
        self.memo = None;
        self.work_memo = None;
        // What was refused (its size, say) may not be what is sent next.
        self.refusal_holds = [Hold::default(); 2];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depth::SnapshotDepth;
    use types::{OrderId, OrderIntent};

    const ID: StrategyId = StrategyId(3);
    const LOC: StockLocate = 42;
    const SEC: u64 = 1_000_000_000;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn reservation_price_and_spread_hand_computed() {
        // r = 100 − 2·0.1·0.0004·60 = 99.9952
        assert!(close(
            reservation_price(100.0, 2.0, 0.1, 0.0004, 60.0),
            99.9952
        ));
        assert!(close(
            reservation_price(100.0, -2.0, 0.1, 0.0004, 60.0),
            100.0048
        ));
        // δ = 0.1·0.0004·60 + 20·ln(1.001) = 0.0024 + 0.01999000666166...
        let ln = 0.000_999_500_333_083_533_4;
        assert!(close(
            optimal_spread(0.1, 0.0004, 60.0, 100.0),
            0.0024 + 20.0 * ln
        ));
    }

    struct Rig {
        mm: MarketMaker,
        depth: SnapshotDepth<2, 8>,
        out: Intents,
        next_id: u64,
    }

    fn params() -> MmParams {
        MmParams {
            requote_ticks: 2,
            requote_ticks_good_queue: 4,
            good_queue_shares: 300,
            wide_spread: 2_500,
            // κ = 50 puts the intensity half-spread at 0.01998, clear of the
            // one-cent grid, and a 1 ms horizon makes the volatility term
            // negligible, so expected quotes are exactly mid ± 2 cents.
            kappa: 50.0,
            horizon_secs: 0.001,
            ..MmParams::default_for_cent_tick()
        }
    }

    impl Rig {
        fn new(p: MmParams) -> Rig {
            Rig {
                mm: MarketMaker::new(ID, LOC, Symbol::new("XYZ").unwrap(), p).unwrap(),
                depth: SnapshotDepth::new(),
                out: Intents::new(),
                next_id: 1,
            }
        }

        /// Sets the book to `bid`/`ask` (price4) with `qty` each, sends a BBO
        /// event, returns the intents.
        fn bbo(&mut self, bid: i64, ask: i64, ts: u64) -> heapless::Vec<OrderIntent, 8> {
            self.bbo_sized((bid, 1000), (ask, 1000), ts)
        }

        /// Like [`Rig::bbo`] with the touch sizes given.
        fn bbo_sized(
            &mut self,
            (bid, bid_qty): (i64, u64),
            (ask, ask_qty): (i64, u64),
            ts: u64,
        ) -> heapless::Vec<OrderIntent, 8> {
            self.depth
                .set_top(LOC, (bid, bid_qty), (ask, ask_qty))
                .unwrap();
            let ev = BookEvent::Bbo {
                locate: LOC,
                bbo: self.depth.bbo(LOC),
                ts: Nanos(ts),
            };
            self.out.clear();
            self.mm.on_book(&ev, &self.depth, &mut self.out);
            self.out.drain().collect()
        }

        fn order(&mut self, ev: OrderEvent) -> heapless::Vec<OrderIntent, 8> {
            self.out.clear();
            self.mm.on_order(&ev, &self.depth, &mut self.out);
            self.out.drain().collect()
        }

        fn accept(&mut self) -> OrderId {
            let (id, r) = self.accept_any();
            assert!(r.is_empty(), "{r:?}");
            id
        }

        fn accept_any(&mut self) -> (OrderId, heapless::Vec<OrderIntent, 8>) {
            let id = OrderId(self.next_id);
            self.next_id += 1;
            let r = self.order(OrderEvent::Accepted {
                strategy: ID,
                order: id,
            });
            (id, r)
        }

        fn timer(&mut self, ts: u64) -> heapless::Vec<OrderIntent, 8> {
            self.out.clear();
            self.mm.on_timer(Nanos(ts), &self.depth, &mut self.out);
            self.out.drain().collect()
        }
    }

    fn new_at(side: Side, px: i64) -> OrderIntent {
        OrderIntent::New {
            strategy: ID,
            locate: LOC,
            symbol: Symbol::new("XYZ").unwrap(),
            side,
            price: Price(px),
            qty: 100,
            tif: TimeInForce::PostOnly,
        }
    }

    #[test]
    fn places_rounded_quotes_around_the_reservation_price() {
        let mut rig = Rig::new(params());
        // Mid 100.00 inside a 20-cent market. σ at its floor (0.001):
        // δ = 0.1·1e-6·0.001 + 20·ln(1.002) = 0.0399600..., half ≈ 0.019980,
        // bid 99.98002 → floor 99.98; ask 100.01998 → ceil 100.02.
        let r = rig.bbo(999_000, 1_001_000, SEC);
        assert_eq!(
            &r[..],
            &[new_at(Side::Buy, 999_800), new_at(Side::Sell, 1_000_200)]
        );
        // Nothing more while both are awaiting acknowledgement.
        assert!(rig.bbo(999_100, 1_001_100, 2 * SEC).is_empty());
    }

    #[test]
    fn quotes_never_cross_the_opposite_best() {
        let mut rig = Rig::new(params());
        // One-cent market: the model wants 99.99/100.01 around 100.00 but the
        // best ask is 100.005 → bid capped one tick under the ask.
        let r = rig.bbo(999_950, 1_000_050, 1_000);
        match (r[0], r[1]) {
            (OrderIntent::New { price: bid, .. }, OrderIntent::New { price: ask, .. }) => {
                assert!(bid.0 < 1_000_050 && ask.0 > 999_950, "{r:?}");
                assert_eq!(bid.0 % 100, 0);
                assert_eq!(ask.0 % 100, 0);
            }
            _ => panic!("{r:?}"),
        }
    }

    #[test]
    fn small_moves_keep_the_queue_large_moves_requote() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        // Depth shows 1000 shares at each of our prices → poor queue spot.
        let lvl = |p| Level {
            price: Price(p),
            qty: 1000,
            orders: 5,
        };
        rig.depth.set_side(LOC, Side::Buy, &[lvl(999_800)]).unwrap();
        rig.depth
            .set_side(LOC, Side::Sell, &[lvl(1_000_200)])
            .unwrap();
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        assert_eq!(rig.mm.orders().get(0).unwrap().queue_ahead, 1000);
        // One-cent move (< requote_ticks = 2): nothing sent.
        assert!(rig.bbo(999_100, 1_001_100, 2 * SEC).is_empty());
        assert_eq!(rig.mm.stats().refreshes_skipped, 2);
        // Five-cent move (mid 100.05): both replaced. Moving up, the ask
        // goes first (to its target 100.07); the bid stops a tick below our
        // ask still working at 100.02 (its target 100.03 would self-match
        // until that replace is done).
        let r = rig.bbo(999_500, 1_001_500, 3 * SEC);
        assert_eq!(
            &r[..],
            &[
                OrderIntent::Replace {
                    strategy: ID,
                    order: ask_id,
                    price: Price(1_000_700),
                    qty: 100
                },
                OrderIntent::Replace {
                    strategy: ID,
                    order: bid_id,
                    price: Price(1_000_100),
                    qty: 100
                },
            ]
        );
        // The replace moved us to the back of the 700 shares at 100.01.
        rig.depth
            .set_side(
                LOC,
                Side::Buy,
                &[Level {
                    qty: 700,
                    ..lvl(1_000_100)
                }],
            )
            .unwrap();
        rig.order(OrderEvent::Replaced {
            strategy: ID,
            order: bid_id,
            price: Price(1_000_100),
            qty: 100,
            leaves: 100,
        });
        let bid = rig.mm.orders().get(0).unwrap();
        assert_eq!((bid.price, bid.queue_ahead), (Price(1_000_100), 700));
    }

    #[test]
    fn good_queue_position_survives_a_larger_move() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        // Nothing displayed at our prices when accepted: first in line.
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        assert_eq!(rig.mm.orders().get(0).unwrap().queue_ahead, 0);
        // Three-cent move: ≥ requote_ticks (2) but < requote_ticks_good_queue (4).
        assert!(rig.bbo(999_300, 1_001_300, 2 * SEC).is_empty());
        // Seven cents: the ask moves first (the bid's target would meet it)...
        let r = rig.bbo(999_700, 1_001_700, 3 * SEC);
        assert!(
            matches!(r[..], [OrderIntent::Replace { order, price, .. }] if order == ask_id && price == Price(1_000_900)),
            "{r:?}"
        );
        // ...and once it has, even a good spot of the bid is given up.
        let r = rig.order(OrderEvent::Replaced {
            strategy: ID,
            order: ask_id,
            price: Price(1_000_900),
            qty: 100,
            leaves: 100,
        });
        assert!(
            matches!(r[..], [OrderIntent::Replace { order, price, .. }] if order == bid_id && price == Price(1_000_500)),
            "{r:?}"
        );
    }

    /// A restart: the journal hands back a long position of 100. The maker
    /// quotes from it (no bid that would pass its limit, the ask skewed
    /// down), not as if it were flat.
    #[test]
    fn a_restored_position_is_quoted_from() {
        let params = MmParams {
            max_position: 150,
            ..params()
        };
        let mut flat = Rig::new(params);
        let quotes = flat.bbo(999_000, 1_001_000, 1_000);
        let ask = |r: &[OrderIntent]| {
            r.iter().find_map(|i| match *i {
                OrderIntent::New {
                    side: Side::Sell,
                    price,
                    ..
                } => Some(price),
                _ => None,
            })
        };
        let bids = |r: &[OrderIntent]| {
            r.iter()
                .filter(|i| {
                    matches!(
                        i,
                        OrderIntent::New {
                            side: Side::Buy,
                            ..
                        }
                    )
                })
                .count()
        };
        assert_eq!(bids(&quotes), 1);
        let mut long = Rig::new(params);
        long.mm.on_restored_fill(0, Side::Buy, 100);
        long.mm.on_restored_fill(1, Side::Buy, 100); // no such leg
        assert_eq!(long.mm.position(), 100);
        let quotes_long = long.bbo(999_000, 1_001_000, 1_000);
        assert_eq!(bids(&quotes_long), 0, "{quotes_long:?}");
        let (Some(a_flat), Some(a_long)) = (ask(&quotes), ask(&quotes_long)) else {
            panic!("asks: {quotes:?} {quotes_long:?}")
        };
        assert!(
            a_long <= a_flat,
            "long inventory leans the ask down: {a_long:?} vs {a_flat:?}"
        );
    }

    #[test]
    fn inventory_limit_stops_the_growing_side() {
        let mut rig = Rig::new(MmParams {
            max_position: 150,
            ..params()
        });
        rig.bbo(999_000, 1_001_000, 1_000);
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        // Bid filled completely: long 100; another bid would make 200 > 150.
        let r = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: bid_id,
            locate: LOC,
            side: Side::Buy,
            price: Price(999_900),
            qty: 100,
            leaves: 0,
        });
        assert_eq!(rig.mm.position(), 100);
        assert!(
            !r.iter().any(|i| matches!(
                i,
                OrderIntent::New {
                    side: Side::Buy,
                    ..
                }
            )),
            "{r:?}"
        );
        // The ask is still quoted (long inventory is what it reduces).
        assert!(rig.mm.orders().find(LOC, Side::Sell).is_some());
        assert!(rig.mm.stats().inventory_blocks > 0);
        // Ask filled 100 → flat: the bid comes back.
        let r = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: ask_id,
            locate: LOC,
            side: Side::Sell,
            price: Price(1_000_100),
            qty: 100,
            leaves: 0,
        });
        assert_eq!(rig.mm.position(), 0);
        assert!(r.iter().any(|i| matches!(
            i,
            OrderIntent::New {
                side: Side::Buy,
                ..
            }
        )));
    }

    #[test]
    fn inventory_limit_cancels_a_resting_quote() {
        let mut rig = Rig::new(MmParams {
            max_position: 100,
            ..params()
        });
        rig.bbo(999_000, 1_001_000, 1_000);
        rig.accept();
        let ask_id = rig.accept();
        // Half the ask fills: short 50; a further 100 would make −150.
        let r = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: ask_id,
            locate: LOC,
            side: Side::Sell,
            price: Price(1_000_100),
            qty: 50,
            leaves: 50,
        });
        assert_eq!(rig.mm.position(), -50);
        assert!(
            r.contains(&OrderIntent::Cancel {
                strategy: ID,
                order: ask_id
            }),
            "{r:?}"
        );
    }

    /// The operator disables the strategy: both quotes come down at the
    /// next timer tick, nothing is quoted while disabled, and enabling it
    /// brings quotes back at the next market event.
    #[test]
    fn disabled_pulls_quotes_and_enabled_brings_them_back() {
        let p = params();
        let mut rig = Rig::new(p);
        rig.bbo(999_000, 1_001_000, 1_000);
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        rig.mm
            .set_params(MmParams {
                enabled: false,
                ..p
            })
            .unwrap();
        let r = rig.timer(2_000);
        assert_eq!(
            &r[..],
            &[
                OrderIntent::Cancel {
                    strategy: ID,
                    order: bid_id
                },
                OrderIntent::Cancel {
                    strategy: ID,
                    order: ask_id
                }
            ]
        );
        // Cancels in flight are not sent twice.
        assert!(rig.timer(3_000).is_empty());
        for order in [bid_id, ask_id] {
            rig.order(OrderEvent::Canceled {
                strategy: ID,
                order,
            });
        }
        assert!(
            rig.bbo(999_500, 1_001_500, 4_000).is_empty(),
            "no quotes while disabled"
        );
        rig.mm.set_params(p).unwrap();
        let r = rig.bbo(999_000, 1_001_000, 5_000);
        assert_eq!(r.len(), 2, "quotes back: {r:?}");
    }

    /// A half-spread floor of 5 ticks widens the model's 2-cent quotes
    /// (99.98 / 100.02 around a 100.00 mid) to 99.95 / 100.05.
    #[test]
    fn minimum_half_spread_widens_the_quotes() {
        let p = MmParams {
            min_half_spread_ticks: 5,
            ..params()
        };
        let mut rig = Rig::new(p);
        let r = rig.bbo(999_000, 1_001_000, 1_000);
        let prices: heapless::Vec<(Side, i64), 2> = r
            .iter()
            .filter_map(|i| match *i {
                OrderIntent::New { side, price, .. } => Some((side, price.0)),
                _ => None,
            })
            .collect();
        assert_eq!(
            &prices[..],
            &[(Side::Buy, 999_500), (Side::Sell, 1_000_500)]
        );
        assert!(MmParams {
            min_half_spread_ticks: -1,
            ..params()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn fast_market_pulls_quotes_for_the_cooldown() {
        let p = params();
        let mut rig = Rig::new(p);
        rig.bbo(999_000, 1_001_000, 1_000);
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        // Mid jumps 15 cents (> fast_move 10 cents) 1 ms later.
        let r = rig.bbo(1_000_500, 1_002_500, 1_000_000);
        assert_eq!(
            &r[..],
            &[
                OrderIntent::Cancel {
                    strategy: ID,
                    order: bid_id
                },
                OrderIntent::Cancel {
                    strategy: ID,
                    order: ask_id
                }
            ]
        );
        rig.order(OrderEvent::Canceled {
            strategy: ID,
            order: bid_id,
        });
        rig.order(OrderEvent::Canceled {
            strategy: ID,
            order: ask_id,
        });
        // Calm again but still inside the cooldown: stay out.
        assert!(rig.bbo(1_000_500, 1_002_500, 2_000_000).is_empty());
        assert!(rig.timer(1_000_000 + p.cooldown_ns - 1).is_empty());
        // Cooldown over: quotes return.
        let r = rig.timer(1_000_000 + p.cooldown_ns);
        assert_eq!(r.len(), 2);
        assert!(matches!(
            r[0],
            OrderIntent::New {
                side: Side::Buy,
                ..
            }
        ));
    }

    #[test]
    fn slow_drift_is_not_a_fast_market() {
        let mut rig = Rig::new(params());
        // 15 cents over 1 s in 1-cent steps every 70 ms: never > 10 cents per 100 ms.
        for i in 0..15 {
            rig.bbo(
                999_000 + i * 100,
                1_001_000 + i * 100,
                i as u64 * 70_000_000,
            );
        }
        assert_eq!(rig.mm.stats().fast_market_triggers, 0);
    }

    #[test]
    fn spread_blowout_widens_when_configured() {
        let mut rig = Rig::new(MmParams {
            fast_action: FastAction::Widen(3.0),
            ..params()
        });
        rig.bbo(999_000, 1_001_000, 1_000);
        let bid_id = rig.accept();
        rig.accept();
        // Spread 30 cents ≥ wide_spread (25 cents), mid unchanged: half
        // spread 3 × 0.01998 = 0.05994 → bid 99.94006 → 99.94. The 4-tick
        // move reaches requote_ticks_good_queue, so the quote moves.
        let r = rig.bbo(998_500, 1_001_500, 2_000);
        assert_eq!(rig.mm.stats().fast_market_triggers, 1);
        assert_eq!(
            r[0],
            OrderIntent::Replace {
                strategy: ID,
                order: bid_id,
                price: Price(999_400),
                qty: 100
            }
        );
    }

    #[test]
    fn long_inventory_skews_both_quotes_down() {
        // σ = 0.1 (floor), τ = 10 s, γ = 0.1: skew q·γσ²τ = 1 cent per lot;
        // δ = 0.01 + 20·ln(1.002) = 0.04996, half 0.02498.
        let mut rig = Rig::new(MmParams {
            sigma_floor: 0.1,
            horizon_secs: 10.0,
            requote_ticks: 1,
            requote_ticks_good_queue: 1,
            ..params()
        });
        let r = rig.bbo(999_000, 1_001_000, SEC);
        assert_eq!(
            &r[..],
            &[new_at(Side::Buy, 999_700), new_at(Side::Sell, 1_000_300)]
        );
        let bid_id = rig.accept();
        let ask_id = rig.accept();
        // Long one lot: r = 99.99 → bid 99.96502 → 99.96, ask 100.01498 → 100.02.
        let r = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: bid_id,
            locate: LOC,
            side: Side::Buy,
            price: Price(999_700),
            qty: 100,
            leaves: 0,
        });
        assert_eq!(
            &r[..],
            &[
                new_at(Side::Buy, 999_600),
                OrderIntent::Replace {
                    strategy: ID,
                    order: ask_id,
                    price: Price(1_000_200),
                    qty: 100
                }
            ]
        );
    }

    #[test]
    fn halt_cancels_everything() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, 1_000);
        rig.accept();
        rig.accept();
        rig.out.clear();
        let ev = BookEvent::State {
            locate: LOC,
            state: TradingState::Halted,
            ts: Nanos(5_000),
        };
        rig.mm.on_book(&ev, &rig.depth, &mut rig.out);
        assert_eq!(rig.out.len(), 2);
        assert!(rig
            .out
            .as_slice()
            .iter()
            .all(|i| matches!(i, OrderIntent::Cancel { .. })));
        // Events for another instrument are not ours.
        rig.out.clear();
        let other = BookEvent::Bbo {
            locate: LOC + 1,
            bbo: rig.depth.bbo(LOC),
            ts: Nanos(6_000),
        };
        rig.mm.on_book(&other, &rig.depth, &mut rig.out);
        assert!(rig.out.is_empty());
    }

    #[test]
    fn runtime_parameter_change_good_and_bad() {
        let mut rig = Rig::new(params());
        let before = *rig.mm.params();
        let bad = MmParams {
            gamma: -1.0,
            quote_qty: 500,
            ..before
        };
        assert_eq!(
            rig.mm.set_params(bad),
            Err(ParamError::new("gamma", "must be finite and > 0"))
        );
        assert_eq!(*rig.mm.params(), before, "old parameters kept whole");
        let bad = MmParams {
            requote_ticks_good_queue: 1,
            ..before
        };
        assert!(rig.mm.set_params(bad).is_err());
        assert!(rig
            .mm
            .set_params(MmParams {
                sigma_alpha: f64::NAN,
                ..before
            })
            .is_err());
        // A good change takes effect on the next quote.
        rig.mm
            .set_params(MmParams {
                quote_qty: 300,
                ..before
            })
            .unwrap();
        let r = rig.bbo(999_000, 1_001_000, 1_000);
        assert!(matches!(r[0], OrderIntent::New { qty: 300, .. }));
    }

    #[test]
    fn volatility_widens_the_spread() {
        let mut rig = Rig::new(MmParams {
            horizon_secs: 60.0,
            sigma_clip: 0,
            ..params()
        });
        // Mid alternates ±5 cents every 10 ms: σ² ≈ 0.0025/0.01 = 0.25/s.
        for i in 0..50u64 {
            let off = if i % 2 == 0 { 0 } else { 500 };
            rig.bbo(999_000 + off, 1_001_000 + off, i * 10_000_000);
        }
        assert!(rig.mm.variance() > 0.1, "{}", rig.mm.variance());
        let (b, a) = rig.mm.model_quotes(100.0, Nanos(0));
        assert!(a - b > 1.0, "{b} {a}");
    }

    /// Two mid changes nanoseconds apart at the open: the variance estimate
    /// has no effective sample yet, so the quotes stay near the market.
    #[test]
    fn a_burst_at_the_open_does_not_quote_far_away() {
        let mut rig = Rig::new(MmParams {
            horizon_secs: 60.0,
            ..MmParams::default_for_cent_tick()
        });
        rig.bbo(999_000, 1_001_000, 1);
        rig.bbo(999_400, 1_001_000, 2);
        let out = rig.bbo(999_400, 1_001_400, 20);
        assert!(
            rig.mm.variance() <= 0.001 * 0.001 + f64::EPSILON,
            "{}",
            rig.mm.variance()
        );
        for intent in out {
            if let OrderIntent::New { price, .. } | OrderIntent::Replace { price, .. } = intent {
                assert!(
                    (price.0 - 100_0400).abs() <= 2_000,
                    "a quote 20 cents or more from the 100.04 mid: {price:?}"
                );
            }
        }
        // Once it rests on enough changes, the estimate counts (σ² ≈ 0.25/s
        // here, diluted by the quiet second before).
        for i in 0..40u64 {
            let off = if i % 2 == 0 { 0 } else { 500 };
            rig.bbo(
                999_000 + off,
                1_001_000 + off,
                1_000_000_000 + i * 10_000_000,
            );
        }
        assert!(rig.mm.variance() > 0.01, "{}", rig.mm.variance());
    }

    #[test]
    fn one_jump_does_not_blow_up_sigma() {
        let mut rig = Rig::new(params());
        // A cent every 100 ms for 5 s...
        for i in 0..50u64 {
            let off = (i % 2) as i64 * 100;
            rig.bbo(999_000 + off, 1_001_000 + off, i * 100_000_000);
        }
        let calm = rig.mm.variance();
        // ...then the book jumps $5 and stays there.
        rig.bbo(1_049_000, 1_051_000, 5_000_000_000);
        rig.bbo(1_049_100, 1_051_100, 5_100_000_000);
        // Counted as a 3-cent move: σ² at most a few times the calm one
        // (unclipped: (5/0.1)²·α ≈ 125× more).
        assert!(
            rig.mm.variance() < 4.0 * calm,
            "{} vs {calm}",
            rig.mm.variance()
        );
    }

    /// A replace the venue refused (a size not above what has filled) is
    /// not sent again: the order is pulled and quoted afresh.
    #[test]
    fn a_refused_replace_is_not_sent_again() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, 1_000);
        let bid_id = rig.accept();
        let _ask = rig.accept();
        rig.order(OrderEvent::Filled {
            strategy: ID,
            order: bid_id,
            locate: LOC,
            side: Side::Buy,
            price: Price(999_800),
            qty: 60,
            leaves: 40,
        });
        let p = MmParams {
            quote_qty: 50,
            ..*rig.mm.params()
        };
        rig.mm.set_params(p).unwrap();
        let r = rig.bbo(998_500, 1_000_500, 2_000);
        let rep = *r
            .iter()
            .find(|i| matches!(i, OrderIntent::Replace { order, .. } if *order == bid_id))
            .unwrap_or_else(|| panic!("{r:?}"));
        let r = rig.order(OrderEvent::AmendRejected {
            strategy: ID,
            order: bid_id,
            reason: types::RejectReason::VenueReject,
        });
        assert!(!r.contains(&rep), "the refused replace again: {r:?}");
        let r = if r.is_empty() {
            rig.bbo(998_400, 1_000_500, 3_000)
        } else {
            r
        };
        assert!(
            r.iter()
                .any(|i| matches!(i, OrderIntent::Cancel { order, .. } if *order == bid_id)),
            "the order is pulled instead: {r:?}"
        );
    }

    /// The inventory limit counts a resting order at its own size, not the
    /// (smaller) quote size it would be sent at today.
    #[test]
    fn a_resting_quote_larger_than_the_quote_size_counts_in_full() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, 1_000);
        let first_bid = rig.accept();
        let _ask = rig.accept();
        let q = rig.mm.params().quote_qty;
        // The bid fills: long q; the maker bids q again.
        rig.order(OrderEvent::Filled {
            strategy: ID,
            order: first_bid,
            locate: LOC,
            side: Side::Buy,
            price: Price(999_000),
            qty: q,
            leaves: 0,
        });
        let _ = rig.bbo(999_000, 1_001_000, 1_500);
        let bid_id = rig.accept();
        // A smaller quote size and limit: a fill of the resting bid (q)
        // would make 2q, above 1.5q.
        let p = MmParams {
            quote_qty: q / 2,
            max_position: i64::from(q) * 3 / 2,
            ..*rig.mm.params()
        };
        rig.mm.set_params(p).unwrap();
        let r = rig.timer(2_000);
        let r = if r.is_empty() {
            rig.bbo(999_000, 1_001_000, 3_000)
        } else {
            r
        };
        assert!(
            r.iter()
                .any(|i| matches!(i, OrderIntent::Cancel { order, .. } if *order == bid_id)),
            "a fill of the resting bid would break the limit: {r:?}"
        );
    }

    /// Risk refuses the maker's quote on `side` (the oldest one waiting
    /// for its id) for `reason`; returns what the maker sends in answer.
    fn refuse_oldest(rig: &mut Rig, reason: types::RejectReason) -> heapless::Vec<OrderIntent, 8> {
        rig.order(OrderEvent::Rejected {
            strategy: ID,
            order: None,
            reason,
        })
    }

    fn news_on(r: &[OrderIntent], want: Side) -> usize {
        r.iter()
            .filter(|i| matches!(i, OrderIntent::New { side, .. } if *side == want))
            .count()
    }

    /// A bid risk refuses for a position limit is not sent again in
    /// answer, nor at the book events after; the ask keeps quoting (and
    /// moving); a fill, which changes the exposure, brings the bid back.
    #[test]
    fn a_bid_refused_for_a_limit_is_held_until_a_fill() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        let r = refuse_oldest(&mut rig, types::RejectReason::SymbolPositionLimit);
        assert_eq!(news_on(&r, Side::Buy), 0, "not again in answer: {r:?}");
        let ask_id = rig.accept();
        for i in 1..=20u64 {
            let off = (i % 2) as i64 * 500;
            let r = rig.bbo(999_000 + off, 1_001_000 + off, SEC + i * 1_000);
            assert_eq!(news_on(&r, Side::Buy), 0, "event {i}: {r:?}");
            if !r.is_empty() {
                // The ask moves with the market.
                assert!(
                    r.iter().all(
                        |x| matches!(x, OrderIntent::Replace { order, .. } if *order == ask_id)
                    ),
                    "{r:?}"
                );
                rig.order(OrderEvent::AmendRejected {
                    strategy: ID,
                    order: ask_id,
                    reason: types::RejectReason::NotSent,
                });
            }
        }
        let stats = rig.mm.stats();
        assert_eq!(stats.refusals, 1 + stats.replaces_sent);
        assert!(stats.held_after_refusal >= 20, "{stats:?}");
        assert_eq!(rig.mm.refusal_hold(Side::Buy).strikes(), 1);
        // Part of the ask fills: the bid is tried again at once.
        let r = rig.order(OrderEvent::Filled {
            strategy: ID,
            order: ask_id,
            locate: LOC,
            side: Side::Sell,
            price: Price(1_000_200),
            qty: 10,
            leaves: 90,
        });
        assert_eq!(news_on(&r, Side::Buy), 1, "{r:?}");
        // It passes: the next refusal starts from the first hold again.
        rig.order(OrderEvent::Entered {
            strategy: ID,
            order: OrderId(99),
        });
        assert_eq!(rig.mm.refusal_hold(Side::Buy).strikes(), 0);
    }

    /// A quote refused by a throttle comes back once its hold is over, on
    /// a timer tick in a quiet market; refused again, it waits twice as
    /// long.
    #[test]
    fn a_throttled_quote_comes_back_after_its_hold_doubling() {
        let p = params();
        let mut rig = Rig::new(p);
        rig.bbo(999_000, 1_001_000, SEC);
        refuse_oldest(&mut rig, types::RejectReason::OrderRateThrottle);
        rig.accept();
        let hold = p.refusal_hold_ns;
        assert!(rig.timer(SEC + hold - 1).is_empty());
        assert!(rig.bbo(999_000, 1_001_000, SEC + hold - 1).is_empty());
        let r = rig.timer(SEC + hold);
        assert_eq!(&r[..], &[new_at(Side::Buy, 999_800)]);
        let r = refuse_oldest(&mut rig, types::RejectReason::OrderRateThrottle);
        assert!(r.is_empty(), "{r:?}");
        let again = SEC + hold + 2 * hold;
        assert!(rig.timer(again - 1).is_empty());
        assert_eq!(news_on(&rig.timer(again), Side::Buy), 1);
    }

    /// A replace risk refused is not sent again at the next move either:
    /// the order stays where it is until the hold is over.
    #[test]
    fn a_refused_replace_is_held_off_too() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        let bid_id = rig.accept();
        let _ask = rig.accept();
        // Moving down, the bid moves first.
        let r = rig.bbo(998_500, 1_000_500, SEC + 1);
        assert!(
            r.iter()
                .any(|i| matches!(i, OrderIntent::Replace { order, .. } if *order == bid_id)),
            "{r:?}"
        );
        rig.order(OrderEvent::AmendRejected {
            strategy: ID,
            order: bid_id,
            reason: types::RejectReason::PriceCollar,
        });
        // The market moves on (short of a fast market), the bid's
        // distance to the mid stays.
        for i in 2..6u64 {
            let off = (i as i64) * 50;
            let r = rig.bbo(998_500 - off, 1_000_500 - off, SEC + i);
            assert!(
                !r.iter()
                    .any(|x| matches!(x, OrderIntent::Replace { order, .. } if *order == bid_id)),
                "{r:?}"
            );
        }
        assert!(rig.mm.orders().get(0).unwrap().is_live());
        assert_eq!(rig.mm.refusal_hold(Side::Buy).strikes(), 1);
    }

    /// A quote the venue could not be sent is not sent again in answer
    /// (round after round within one step), but at the next event.
    #[test]
    fn an_unsent_quote_goes_again_at_the_next_event() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        let r = refuse_oldest(&mut rig, types::RejectReason::NotSent);
        assert!(r.is_empty(), "{r:?}");
        let r = rig.bbo(999_000, 1_001_000, SEC + 1);
        assert_eq!(news_on(&r, Side::Buy), 1, "{r:?}");
        assert_eq!(rig.mm.refusal_hold(Side::Buy).strikes(), 0);
    }

    /// New risk limits (or a re-armed kill switch), or new parameters,
    /// lift every hold: what was refused may pass now.
    #[test]
    fn new_limits_or_parameters_lift_the_holds() {
        let mut rig = Rig::new(params());
        rig.bbo(999_000, 1_001_000, SEC);
        refuse_oldest(&mut rig, types::RejectReason::RestrictedSymbol);
        refuse_oldest(&mut rig, types::RejectReason::RestrictedSymbol);
        assert!(rig.bbo(999_000, 1_001_000, SEC + 1).is_empty());
        rig.mm.on_limits_changed();
        let r = rig.bbo(999_000, 1_001_000, SEC + 2);
        assert_eq!(r.len(), 2, "{r:?}");
        refuse_oldest(&mut rig, types::RejectReason::MaxOrderQty);
        refuse_oldest(&mut rig, types::RejectReason::MaxOrderQty);
        assert!(rig.bbo(999_000, 1_001_000, SEC + 3).is_empty());
        let p = MmParams {
            quote_qty: 50,
            ..*rig.mm.params()
        };
        rig.mm.set_params(p).unwrap();
        let r = rig.bbo(999_000, 1_001_000, SEC + 4);
        assert_eq!(r.len(), 2, "{r:?}");
    }

    /// With no first hold (0), a refused quote is sent again at once, as
    /// before holds existed.
    #[test]
    fn a_zero_hold_sends_a_refused_quote_again_at_once() {
        let mut rig = Rig::new(MmParams {
            refusal_hold_ns: 0,
            ..params()
        });
        rig.bbo(999_000, 1_001_000, SEC);
        let r = refuse_oldest(&mut rig, types::RejectReason::SymbolPositionLimit);
        assert_eq!(&r[..], &[new_at(Side::Buy, 999_800)]);
        assert!(MmParams {
            refusal_hold_max_ns: 1,
            ..params()
        }
        .validate()
        .is_err());
    }

    mod props {
        use super::*;
        use proptest::prelude::{prop_assert, prop_oneof, proptest, Just};
        use proptest::strategy::Strategy as Gen;

        #[derive(Debug, Clone)]
        enum Step {
            Book { bid: i64, width: i64, dt: u64 },
            Accept,
            Fill { nth: usize, qty: u32 },
            Cancelled { nth: usize },
            Timer { dt: u64 },
        }

        fn step() -> impl Gen<Value = Step> {
            prop_oneof![
                (500_000i64..1_500_000, 1i64..5_000, 0u64..200_000_000)
                    .prop_map(|(bid, width, dt)| Step::Book { bid, width, dt }),
                Just(Step::Accept),
                (0usize..4, 1u32..150).prop_map(|(nth, qty)| Step::Fill { nth, qty }),
                (0usize..4).prop_map(|nth| Step::Cancelled { nth }),
                (0u64..1_000_000_000).prop_map(|dt| Step::Timer { dt }),
            ]
        }

        #[derive(Debug, Clone)]
        enum MemoStep {
            /// New prices (and sizes).
            Book {
                bid: i64,
                width: i64,
                qty: u64,
                dt: u64,
            },
            /// The same prices, other sizes: what the memo is for.
            Sizes {
                bid_qty: u64,
                ask_qty: u64,
                dt: u64,
            },
            /// The same mid, a wider or narrower market.
            Reshape {
                by: i64,
                dt: u64,
            },
            /// A crossed book (no quoting, but the volatility estimate sees
            /// the mid move), before the market comes back.
            Crossed {
                dt: u64,
            },
            Accept,
            Fill {
                nth: usize,
                qty: u32,
            },
            Timer {
                dt: u64,
            },
            /// The level of our `nth` order shrinks to `qty` (the queue
            /// estimate drops, which moves the refresh threshold).
            Queue {
                nth: usize,
                qty: u64,
            },
            /// A print at our `nth` order's price.
            Print {
                nth: usize,
                qty: u32,
            },
            /// Risk refuses the oldest quote waiting for its id (the side
            /// is held off: decisions depend on the time as well).
            Refuse {
                reason: usize,
            },
        }

        /// Reasons of each kind of hold.
        const REFUSALS: [types::RejectReason; 4] = [
            types::RejectReason::SymbolPositionLimit,
            types::RejectReason::PriceCollar,
            types::RejectReason::OrderRateThrottle,
            types::RejectReason::NotSent,
        ];

        fn memo_step() -> impl Gen<Value = MemoStep> {
            prop_oneof![
                (
                    900_000i64..1_100_000,
                    100i64..3_000,
                    1u64..5_000,
                    0u64..300_000_000
                )
                    .prop_map(|(bid, width, qty, dt)| MemoStep::Book {
                        bid,
                        width,
                        qty,
                        dt
                    }),
                (1u64..5_000, 1u64..5_000, 0u64..300_000_000).prop_map(|(bid_qty, ask_qty, dt)| {
                    MemoStep::Sizes {
                        bid_qty,
                        ask_qty,
                        dt,
                    }
                }),
                (-300i64..300, 0u64..300_000_000).prop_map(|(by, dt)| MemoStep::Reshape { by, dt }),
                (0u64..300_000_000).prop_map(|dt| MemoStep::Crossed { dt }),
                Just(MemoStep::Accept),
                (0usize..4, 1u32..150).prop_map(|(nth, qty)| MemoStep::Fill { nth, qty }),
                (0u64..2_000_000_000).prop_map(|dt| MemoStep::Timer { dt }),
                (0usize..4, 0u64..1_000).prop_map(|(nth, qty)| MemoStep::Queue { nth, qty }),
                (0usize..4, 1u32..500).prop_map(|(nth, qty)| MemoStep::Print { nth, qty }),
                (0usize..REFUSALS.len()).prop_map(|reason| MemoStep::Refuse { reason }),
            ]
        }

        /// Runs `steps` on `rig`; `fresh` forgets the memos before each step,
        /// so every target and every decision is computed from scratch.
        fn run_memo(rig: &mut Rig, steps: &[MemoStep], fresh: bool) -> std::vec::Vec<OrderIntent> {
            let mut all = std::vec::Vec::new();
            let (mut ts, mut prices) = (0u64, (1_000_000i64, 1_001_000i64));
            let mut live: heapless::Vec<OrderId, 64> = heapless::Vec::new();
            for s in steps {
                if fresh {
                    rig.mm.memo = None;
                    rig.mm.work_memo = None;
                    rig.mm.held = None;
                }
                let nth_order = |rig: &Rig, nth: usize| {
                    live.get(nth).and_then(|id| {
                        rig.mm
                            .orders()
                            .iter()
                            .find(|(_, o)| o.id == *id)
                            .map(|(_, o)| *o)
                    })
                };
                let out = match *s {
                    MemoStep::Book {
                        bid,
                        width,
                        qty,
                        dt,
                    } => {
                        ts += dt;
                        prices = (bid, bid + width);
                        rig.bbo_sized((bid, qty), (bid + width, qty), ts)
                    }
                    MemoStep::Sizes {
                        bid_qty,
                        ask_qty,
                        dt,
                    } => {
                        ts += dt;
                        rig.bbo_sized((prices.0, bid_qty), (prices.1, ask_qty), ts)
                    }
                    MemoStep::Reshape { by, dt } => {
                        ts += dt;
                        if prices.1 - prices.0 + 2 * by > 0 {
                            prices = (prices.0 - by, prices.1 + by);
                        }
                        rig.bbo_sized((prices.0, 500), (prices.1, 500), ts)
                    }
                    MemoStep::Crossed { dt } => {
                        ts += dt;
                        rig.bbo_sized((prices.1 + 700, 500), (prices.0, 500), ts)
                    }
                    MemoStep::Accept => {
                        if rig
                            .mm
                            .orders()
                            .iter()
                            .any(|(_, o)| o.state == crate::orders::OrderState::PendingNew)
                        {
                            let (id, out) = rig.accept_any();
                            let _ = live.push(id);
                            out
                        } else {
                            heapless::Vec::new()
                        }
                    }
                    MemoStep::Fill { nth, qty } => {
                        let found = live.get(nth).and_then(|id| {
                            rig.mm
                                .orders()
                                .iter()
                                .find(|(_, o)| o.id == *id)
                                .map(|(_, o)| *o)
                        });
                        match found {
                            Some(o) => {
                                let q = qty.min(o.leaves);
                                rig.order(OrderEvent::Filled {
                                    strategy: ID,
                                    order: o.id,
                                    locate: LOC,
                                    side: o.side,
                                    price: o.price,
                                    qty: q,
                                    leaves: o.leaves - q,
                                })
                            }
                            None => heapless::Vec::new(),
                        }
                    }
                    MemoStep::Timer { dt } => {
                        ts += dt;
                        rig.timer(ts)
                    }
                    MemoStep::Queue { nth, qty } => match nth_order(rig, nth) {
                        Some(o) => {
                            let ev = BookEvent::Level {
                                locate: LOC,
                                side: o.side,
                                level: Level {
                                    price: o.price,
                                    qty,
                                    orders: 1,
                                },
                                ts: Nanos(ts),
                            };
                            rig.out.clear();
                            rig.mm.on_book(&ev, &rig.depth, &mut rig.out);
                            rig.out.drain().collect()
                        }
                        None => heapless::Vec::new(),
                    },
                    MemoStep::Refuse { reason } => {
                        if rig
                            .mm
                            .orders()
                            .iter()
                            .any(|(_, o)| o.state == crate::orders::OrderState::PendingNew)
                        {
                            rig.order(OrderEvent::Rejected {
                                strategy: ID,
                                order: None,
                                reason: REFUSALS[reason % REFUSALS.len()],
                            })
                        } else {
                            heapless::Vec::new()
                        }
                    }
                    MemoStep::Print { nth, qty } => match nth_order(rig, nth) {
                        Some(o) => {
                            let ev = BookEvent::Trade {
                                locate: LOC,
                                price: o.price,
                                qty,
                                resting_side: Some(o.side),
                                ts: Nanos(ts),
                            };
                            rig.out.clear();
                            rig.mm.on_book(&ev, &rig.depth, &mut rig.out);
                            rig.out.drain().collect()
                        }
                        None => heapless::Vec::new(),
                    },
                };
                all.extend(out);
            }
            all
        }

        proptest! {
            /// The memo never changes a decision: with and without it the
            /// maker sends the same intents and counts the same blocks.
            #[test]
            fn memoized_targets_equal_fresh_ones(steps in proptest::collection::vec(memo_step(), 1..120)) {
                // The test parameters (volatility negligible) and the
                // appliance's (volatility and inventory skew matter).
                let widen = MmParams {
                    fast_action: FastAction::Widen(3.0),
                    ..MmParams::default_for_cent_tick()
                };
                for p in [params(), MmParams::default_for_cent_tick(), widen] {
                    let p = MmParams { max_position: 200, ..p };
                    let (mut memo, mut fresh) = (Rig::new(p), Rig::new(p));
                    let a = run_memo(&mut memo, &steps, false);
                    let b = run_memo(&mut fresh, &steps, true);
                    prop_assert!(a == b, "memo {a:?}\nfresh {b:?}");
                    prop_assert!(memo.mm.stats() == fresh.mm.stats());
                }
            }

            #[test]
            fn never_crosses_never_breaches_limits(steps in proptest::collection::vec(step(), 1..80)) {
                let p = MmParams { max_position: 200, ..params() };
                let mut rig = Rig::new(p);
                let mut ts = 0u64;
                let mut live: heapless::Vec<OrderId, 64> = heapless::Vec::new();
                for s in steps {
                    let out = match s {
                        Step::Book { bid, width, dt } => {
                            ts += dt;
                            rig.bbo(bid, bid + width, ts)
                        }
                        Step::Accept => {
                            if rig.mm.orders().iter().any(|(_, o)| o.state == crate::orders::OrderState::PendingNew) {
                                let (id, out) = rig.accept_any();
                                let _ = live.push(id);
                                out
                            } else {
                                heapless::Vec::new()
                            }
                        }
                        Step::Fill { nth, qty } => match live.get(nth).copied() {
                            Some(id) => {
                                let found = rig.mm.orders().iter().find(|(_, o)| o.id == id).map(|(_, o)| *o);
                                match found {
                                Some(o) => {
                                    let q = qty.min(o.leaves);
                                    rig.order(OrderEvent::Filled { strategy: ID, order: id, locate: LOC, side: o.side, price: o.price, qty: q, leaves: o.leaves - q })
                                }
                                None => heapless::Vec::new(),
                            }},
                            None => heapless::Vec::new(),
                        },
                        Step::Cancelled { nth } => match live.get(nth).copied() {
                            Some(id) => rig.order(OrderEvent::Canceled { strategy: ID, order: id }),
                            None => heapless::Vec::new(),
                        },
                        Step::Timer { dt } => { ts += dt; rig.timer(ts) }
                    };
                    let bbo = rig.depth.bbo(LOC);
                    let pos = rig.mm.position();
                    for i in out {
                        match i {
                            OrderIntent::New { side, price, qty, .. } => {
                                prop_assert!(price.0 % 100 == 0 && price.0 > 0);
                                match side {
                                    Side::Buy => {
                                        prop_assert!(price < bbo.ask.unwrap().price);
                                        prop_assert!(pos + i64::from(qty) <= 200);
                                    }
                                    Side::Sell => {
                                        prop_assert!(price > bbo.bid.unwrap().price);
                                        prop_assert!(pos - i64::from(qty) >= -200);
                                    }
                                }
                            }
                            OrderIntent::Replace { price, .. } => prop_assert!(price.0 % 100 == 0 && price.0 > 0),
                            OrderIntent::Cancel { .. } => {}
                        }
                    }
                    prop_assert!(rig.mm.position().abs() <= 200 + 150);
                }
            }
        }
    }
}
