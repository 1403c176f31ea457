//! Pre-trade risk checks and the kill switch (SEC Rule 15c3-5 style).
//!
//! [`RiskEngine::check`] decides every new order, cancel and replace before
//! it can reach a venue. Exposure is counted from **orders entered**: the
//! moment a new order passes, its full quantity counts against position,
//! gross, net and credit limits as if it would fill, until a fill, cancel or
//! reject reported through the `on_*` methods says otherwise.
//!
//! # Feeding the engine
//! | event (from the OMS)                  | call                         |
//! |---------------------------------------|------------------------------|
//! | check passed                          | (recorded by `check` itself; it answers the order's [`RiskSlot`]) |
//! | venue acknowledged the new order      | [`RiskEngine::on_accepted`]  |
//! | execution (partial or full)           | [`RiskEngine::on_fill`]      |
//! | execution busted or corrected         | [`RiskEngine::on_fill_adjusted`], then [`RiskEngine::set_leaves`] for an order still open |
//! | order canceled, expired, done for day | [`RiskEngine::on_canceled`]  |
//! | venue rejected the new order          | [`RiskEngine::on_rejected`]  |
//! | replace acknowledged / refused        | [`RiskEngine::on_replaced`] / [`RiskEngine::on_replace_rejected`] |
//! | cancel refused                        | [`RiskEngine::on_cancel_rejected`] |
//! | realized + unrealized PnL changed     | [`RiskEngine::on_pnl`]       |
//! | new mark price for position notional  | [`RiskEngine::set_mark`]     |
//!
//! Every event, and every cancel or replace (through
//! [`CheckContext::held`]), names its order by [`OrderRef`]: the id and the
//! slot the new order's check answered.
//!
//! While a replace is in flight the order counts at the worse of its old and
//! new terms (larger open quantity, larger notional, more aggressive price
//! for self-match) until the venue answers.
//!
//! # Memory
//! All tables are allocated once by [`RiskEngine::new`] with `alloc` (the
//! appliance's start-up allocator); no method allocates afterwards. The
//! per-symbol table is indexed directly by stock locate (up to 65,536
//! records of one cache line each), the open orders are one cache line each
//! too, so a check is a handful of indexed loads.
//!
//! # Cost
//! Every check is O(1): direct indexing by locate, strategy, venue and
//! order slot, and one bucket of the duplicate table. Risk keeps no map of
//! order ids: a new order's check answers the slot it is held at
//! ([`RiskSlot`]), and the caller names the order by it from then on
//! ([`OrderRef`]; the OMS keeps it in its own record, found through its
//! own id map).
//! Only the bookkeeping after the last own order at the best own price leaves
//! a symbol walks that symbol's open orders (as many as its open-order
//! limit allowed when they were entered; a limit lowered later leaves those
//! already open), and so does, under [`SelfMatchScope::Venue`], an order
//! that crosses one of ours at some venue, to find whether one at its own
//! venue is crossed (off the path: the path compares with our best prices
//! at every venue; once our own orders cross each other across venues,
//! which that scope allows, every order crossing one of them walks).
//!
//! The new-order path is written for few instructions, loads and branches
//! (all its data sits in L1/L2; smaller tables are no faster). Its time
//! does not simply follow its instruction count: of its ~20 ns (before
//! the id map left it; ~17.5 ns since) the
//! duplicate check took 4.4 and the two order throttles 2.7, and the
//! duplicate bucket's eight compares alone 1.3 (a bucket whose entries
//! have all expired now skips them), while other cuts of as many
//! instructions changed nothing (BENCHMARKS.md, "2026-12-06"). Its shape:
//! - limits are read in a derived form (`Rule`, `Rates`) rebuilt whenever
//!   they change: a tick collar is a ready span, "no throttle" a throttle
//!   that never refuses, nothing on the path tests an `Option`; gross, net
//!   and credit limits are kept as the room left (`Room`), exact in 128
//!   bits, with a 64-bit copy the path compares with (one compare each) and
//!   takes accepted orders from, the exact rooms catching up off the path;
//!   the symbol's position terms are 64-bit too, with an overflow test;
//!   a zero quantity, the restricted list and the size limit are one
//!   compare against a per-rule cap (0 when restricted), the reason sorted
//!   out off the path;
//! - products in 64 bits where every real order fits, exact forms off the
//!   path beyond: the notional a signed `imul` below 2^63, the bps collar
//!   two `imul`s for prices below 2^46;
//! - there is one copy of the path per side, with the side a constant, and
//!   the exposure arithmetic is written once for both sides;
//! - the checks are judged in the order that decides a refusal's reason,
//!   changing nothing, then a free slot is taken and the order entered through
//!   the symbol record and duplicate bucket the checks looked up (one
//!   bounds check each); each refusal site produces its reason in a cold
//!   function of its own, so an accepted order carries no reason code;
//! - duplicates: a fingerprint of two multiplications, its top bits pick a
//!   bucket of seven ways; a bucket whose newest entry has left the longest
//!   window (most of them, in a table larger than the orders a window
//!   holds) gives the order its first way at once, and only a bucket with
//!   a live entry is searched, with one compare and branch per way;
//! - throttles: a message counter per window next to the engine's other hot
//!   fields, the ring of times in one boxed array;
//! - entered volume (`volume`): the shares and notional left in the window,
//!   one compare each, and what an order enters taken from them (what the
//!   current bucket holds follows from its rooms); moving on to the next
//!   bucket, which forgets the oldest, is off the path (at most once a
//!   bucket, a seventh of a window).
//!
//! `examples/check_loop.rs` drives the benchmark's stream for callgrind.
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

pub mod idmap;
pub mod limits;
mod volume;
mod window;

use alloc::boxed::Box;
use alloc::vec;
use types::prefetch;

pub use idmap::{IdMap, InsertError};
pub use limits::{
    Limits, LimitsError, SelfMatchScope, SymbolLimits, Throttle, VolumeLimit, MAX_OVERRIDES,
    MAX_THROTTLE_MSGS,
};
pub use types::Nanos;
use types::{OrderId, OrderIntent, Price, RejectReason, Side, StockLocate, StrategyId, VenueId};
use volume::VolumeWindow;
use window::{Rate, Window, Windows};

/// `return Err(reason)` from a check on the order path, with the reason
/// produced off it (see [`refused`]).
macro_rules! refuse {
    ($reason:ident) => {
        return Err(refused::<{ RejectReason::$reason.index() as u8 }>())
    };
}

/// Most open orders an engine can be built for (`Capacity::orders`): what
/// keeps every sum of open quantities below 2^62.
pub const MAX_ORDERS: usize = 1 << 30;

/// Strategies are numbered `0..MAX_STRATEGIES`; others are refused as invalid.
pub const MAX_STRATEGIES: usize = 64;
/// Venues are numbered `0..MAX_VENUES`; others are refused as invalid.
pub const MAX_VENUES: usize = 16;

const NIL: u32 = u32::MAX;
/// `Side as usize` of each side, for tables indexed by side.
const BUY: usize = Side::Buy as usize;
const SELL: usize = Side::Sell as usize;
/// Ways per duplicate-table bucket (two cache lines with the bucket's
/// newest time): with 7 ways a bucket only fills when 7 live orders hash
/// to it, which at sane load factors does not happen in practice (4 ways
/// refused about 1 order in 28,000 at 5 % load in the benchmark).
const DUP_WAYS: usize = 7;

/// Table sizes, fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    /// Locates `0..symbols` are tradable (at most 65,536); others are invalid.
    pub symbols: usize,
    /// Most open orders tracked at once (a hard cap below
    /// `Limits::max_open_orders`), at most [`MAX_ORDERS`].
    pub orders: usize,
    /// Entries of the duplicate-order table, at least (whole buckets of
    /// seven, a power of two of them: 4,096 give 1,024 buckets, 128 KiB).
    /// When one of its buckets has no expired entry left, new orders
    /// hashing there are refused with `CapacityExhausted`. A table that
    /// holds many times the orders entered within the duplicate window is
    /// faster too: most buckets then hold no live entry, which the check
    /// sees from one time per bucket.
    pub duplicate_slots: usize,
}

impl Capacity {
    /// Every ITCH locate, 64 Ki open orders, 64 Ki duplicate entries.
    pub const FULL: Capacity = Capacity {
        symbols: 65_536,
        orders: 65_536,
        duplicate_slots: 65_536,
    };
}

/// Where risk keeps an order: what [`RiskEngine::check`] answers for a
/// new order it accepts. The caller keeps it with its own record of the
/// order and names the order by it from then on ([`OrderRef`]), so risk
/// finds an order by indexing, with no map of ids of its own (the OMS
/// already has one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RiskSlot(pub u32);

impl RiskSlot {
    /// A slot no order has: what to name an order risk never held by (a
    /// fill replayed from an earlier boot).
    pub const NONE: RiskSlot = RiskSlot(u32::MAX);
}

/// An order as the caller names it to risk after the check: its id and the
/// slot the check gave it. A reference whose slot holds no open order of
/// that id (the order finished, and the slot may hold another since) names
/// an unknown order: it changes no order, and the events that report
/// something of the order count it as unknown (`unknown_events`;
/// [`RiskEngine::set_leaves`] and [`RiskEngine::is_open`] only ask).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrderRef {
    pub id: OrderId,
    pub slot: RiskSlot,
}

impl OrderRef {
    pub const fn new(id: OrderId, slot: RiskSlot) -> OrderRef {
        OrderRef { id, slot }
    }

    /// An order risk never held (see [`RiskSlot::NONE`]).
    pub const fn unheld(id: OrderId) -> OrderRef {
        OrderRef {
            id,
            slot: RiskSlot::NONE,
        }
    }
}

/// What the caller knows about an order that the intent does not carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckContext {
    /// Id the OMS will give a new order if it passes (ignored for
    /// cancel/replace, which name their order in the intent). No two open
    /// orders may share an id, which is the caller's to keep (the OMS
    /// issues each ClOrdID once; its whole-order probe reuses one id, for
    /// an order taken back at once): risk keeps the id with the order to
    /// tell a stale [`OrderRef`] from a live one, and does not look ids up.
    pub order: OrderId,
    /// Cancel/replace: where risk holds the order the intent names (the
    /// slot its check answered when it was new); `None`, or a slot that
    /// holds no open order of that id and strategy, is an unknown order.
    /// Ignored for a new order.
    pub held: Option<RiskSlot>,
    /// Venue the order is routed to (per-venue throttles). Ignored for
    /// cancel/replace, which go where the order lives.
    pub venue: VenueId,
    /// Reference for price collars: BBO mid or last trade, as the caller
    /// chooses. `None` refuses orders in symbols with a collar configured.
    pub reference: Option<Price>,
}

/// An execution as the OMS reports it. Position changes even when `order` is
/// unknown to risk (e.g. a fill that outran its acknowledgement across a
/// restart), so the symbol and side travel with the fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    /// The order filled ([`OrderRef::unheld`] for one risk never held).
    /// Only [`RiskEngine::on_fill`] reads it: [`RiskEngine::on_fill_adjusted`]
    /// moves the position and touches no order.
    pub order: OrderRef,
    pub locate: StockLocate,
    pub side: Side,
    pub qty: u32,
    pub price: Price,
}

/// Why the kill switch tripped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TripCause {
    DailyLoss,
    RejectRate,
    /// An operator command.
    Manual,
    /// The trading window closed: nothing new goes out, every open order
    /// is canceled before the session logs out (not a fault: nothing to
    /// re-arm in the same run).
    EndOfSession,
}

impl TripCause {
    /// What a new order or replace refused while tripped for this cause is
    /// refused for: the end of the session is no kill.
    pub const fn refusal(self) -> RejectReason {
        match self {
            TripCause::EndOfSession => RejectReason::TradingClosed,
            TripCause::DailyLoss | TripCause::RejectRate | TripCause::Manual => {
                RejectReason::KillSwitch
            }
        }
    }
}

/// The refusal of a new order or replace while `tripped`: out of line,
/// like the order path's other refusals (see [`refused`]), and reading the
/// cause there, off the order path.
#[cold]
#[inline(never)]
fn refused_while_tripped(tripped: &Option<TripCause>) -> RejectReason {
    // Through `black_box`: the compiler would otherwise pass the cause by
    // value, loaded on the order path ahead of its test.
    core::hint::black_box(tripped).map_or(RejectReason::KillSwitch, TripCause::refusal)
}

/// Why [`RiskEngine::rearm`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RearmError {
    NotTripped,
    /// The last PnL reported still breaches `max_daily_loss`: raise the
    /// limit (with `apply_limits`) or flatten first.
    LossStillBreached,
}

/// One cache line per locate.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct SymbolState {
    position: i64,
    /// Open (entered, not filled or canceled) shares, `[buy, sell]`
    /// (indexed by `Side as usize`, so one side's code serves both).
    open: [u64; 2],
    /// Price (price4) used to value the position for the credit limit.
    mark: i64,
    /// Most aggressive own open buy (`i64::MIN` when none).
    own_bid: i64,
    /// Most aggressive own open sell (`i64::MAX` when none).
    own_ask: i64,
    head: u32,
    open_orders: u32,
    /// The rule the order path reads: `override_slot`, or [`UNMAPPED_SLOT`]
    /// while `unmapped`.
    limits_slot: u16,
    /// 0: default limits; i: `limits.overrides[i - 1]` (what `install` set
    /// for this locate).
    override_slot: u16,
    /// The state held here belongs to an instrument whose locate in the
    /// current feed session is not known (see [`RiskEngine::set_unmapped`]).
    unmapped: bool,
}

impl SymbolState {
    const EMPTY: SymbolState = SymbolState {
        position: 0,
        open: [0; 2],
        mark: 0,
        own_bid: i64::MIN,
        own_ask: i64::MAX,
        head: NIL,
        open_orders: 0,
        limits_slot: 0,
        override_slot: 0,
        unmapped: false,
    };

    /// The rule slot the order path reads for this record.
    fn slot(&self) -> u16 {
        if self.unmapped {
            UNMAPPED_SLOT
        } else {
            self.override_slot
        }
    }

    /// Holds a position or open orders (what a feed session change must
    /// not leave behind under an old locate).
    fn has_state(&self) -> bool {
        self.position != 0 || self.open_orders != 0 || self.head != NIL
    }

    /// Worst-case absolute position if every open order of one side filled.
    #[inline]
    fn worst(&self) -> i128 {
        worst(self.position, self.open[BUY], self.open[SELL])
    }

    #[inline]
    fn position_notional(&self) -> i128 {
        self.position.unsigned_abs() as i128 * self.mark as i128
    }
}

#[inline]
fn worst(position: i64, open_buy: u64, open_sell: u64) -> i128 {
    let long = position as i128 + open_buy as i128;
    let short = open_sell as i128 - position as i128;
    long.max(short).max(0)
}

/// One cache line per open order.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct OrderSlot {
    id: u64,
    price: i64,
    /// Replace in flight: price and total quantity, see [`OrderSlot::pending`]
    /// (not an `Option`, whose tag would push the slot past one cache line).
    pending_price: i64,
    pending_qty: u32,
    qty: u32,
    filled: u32,
    prev: u32,
    next: u32,
    /// A `StrategyId` and a `StockLocate`, widened: the order path holds
    /// them widened (for indexing) and stores them from there.
    strategy: u32,
    locate: u32,
    side: Side,
    venue: u8,
    live: bool,
    acked: bool,
    pending_cancel: bool,
    /// Cancels the venue refused while the kill switch was engaged: each
    /// one sends the kill's cancel again (see [`RiskEngine::kill_cancels`]),
    /// up to [`KILL_CANCEL_ATTEMPTS`].
    kill_refusals: u8,
}

/// How many cancels the kill switch sends one order before leaving it to
/// the venue's cancel-on-disconnect and the operator: a venue that refuses
/// every cancel must not draw an endless cancel/refusal loop.
pub const KILL_CANCEL_ATTEMPTS: u8 = 4;

impl OrderSlot {
    const EMPTY: OrderSlot = OrderSlot {
        id: 0,
        price: 0,
        pending_price: 0,
        pending_qty: 0,
        qty: 0,
        filled: 0,
        prev: NIL,
        next: NIL,
        strategy: 0,
        locate: 0,
        side: Side::Buy,
        venue: 0,
        live: false,
        acked: false,
        pending_cancel: false,
        kill_refusals: 0,
    };

    fn leaves(&self) -> u32 {
        self.qty.saturating_sub(self.filled)
    }

    /// Replace in flight: (price, total quantity). A replace always asks for
    /// more than is filled, so a pending quantity of 0 means none.
    #[inline]
    fn pending(&self) -> Option<(i64, u32)> {
        (self.pending_qty != 0).then_some((self.pending_price, self.pending_qty))
    }

    #[inline]
    fn set_pending(&mut self, pending: Option<(i64, u32)>) {
        (self.pending_price, self.pending_qty) = pending.unwrap_or((0, 0));
    }

    /// What this order counts for: (open qty, notional, self-match price).
    fn exposure(&self) -> Exposure {
        self.exposure_with(self.pending())
    }

    /// What this order would count for with `pending` in flight.
    fn exposure_with(&self, pending: Option<(i64, u32)>) -> Exposure {
        let leaves = self.leaves();
        let mut e = Exposure {
            qty: leaves as u64,
            notional: self.price as i128 * leaves as i128,
            match_price: self.price,
        };
        if let Some((p, q)) = pending {
            let pl = q.saturating_sub(self.filled);
            e.qty = e.qty.max(pl as u64);
            e.notional = e.notional.max(p as i128 * pl as i128);
            e.match_price = match self.side {
                Side::Buy => e.match_price.max(p),
                Side::Sell => e.match_price.min(p),
            };
        }
        e
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Exposure {
    qty: u64,
    notional: i128,
    match_price: i64,
}

/// The account-wide limits as room left (limit − used), kept as exposure
/// changes and moved by a limit's change when limits change, so that the
/// order path compares what an order adds against one number per limit
/// (`used + add > limit` ⇔ `add > limit − used`, exact in i128).
#[derive(Clone, Copy)]
struct Room {
    /// `max_net_position − (net_position + Σ open buys)` and
    /// `max_net_position − (Σ open sells − net_position)`, `[buy, sell]`.
    net: [i128; 2],
    /// `max_gross_position − Σ over symbols of the worst-case absolute position`.
    gross: i128,
    /// `credit_limit −` (open-order notional plus position notional, price4 units).
    credit: i128,
    /// The same rooms as the new-order path compares them, and takes
    /// accepted orders from: only this copy moves on that path.
    fast: FastRoom,
    /// `fast` as it was when the exact rooms were last brought up to date
    /// (`settle`): what the path took since is `synced − fast`, still to be
    /// taken from the exact rooms.
    synced: FastRoom,
}

/// The account's rooms in 64 bits, for the new-order path: each exact room
/// clamped into `i64` (credit: into `u64`), by [`Room::sync`] after every
/// change made off the path. What a new order adds fits them (a quantity
/// or a worst-case growth of at most that quantity: below 2^32; a notional
/// of at least 1 and at most `u64::MAX`), so comparing it with the clamped
/// room decides exactly as with the exact one: a room beyond the type's
/// maximum has room for anything, one below its minimum for nothing (a
/// credit room of 0 or less has none for a notional of 1 or more). An
/// accepted order takes what it adds from this copy only; the exact rooms
/// catch up (`Room::settle`) before they are read or synced again. When
/// an exact room was beyond the maximum, the copy runs below it after an
/// order (never above) until the next change off the path syncs it.
#[derive(Clone, Copy)]
struct FastRoom {
    net: [i64; 2],
    gross: i64,
    credit: u64,
}

/// `x` clamped into `i64`.
fn clamp_i64(x: i128) -> i64 {
    x.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// `x` clamped into `u64`.
fn clamp_u64(x: i128) -> u64 {
    x.clamp(0, u64::MAX as i128) as u64
}

impl Room {
    /// Takes what the new-order path took from the fast copy since the
    /// last settle from the exact rooms too (exact: each difference is at
    /// most what the copy held).
    fn settle(&mut self) {
        let (fast, synced) = (self.fast, self.synced);
        for s in [BUY, SELL] {
            self.net[s] -= synced.net[s] as i128 - fast.net[s] as i128;
        }
        self.gross -= synced.gross as i128 - fast.gross as i128;
        self.credit -= synced.credit as i128 - fast.credit as i128;
        self.synced = fast;
    }

    /// The exact rooms as of now (what `settle` would make them).
    fn settled(&self) -> Room {
        let mut room = *self;
        room.settle();
        room
    }

    /// Brings the exact rooms up to date and the order path's copy back to
    /// them; after every change made off the path (the changes themselves
    /// are additions, right whether or not the rooms were settled first).
    fn sync(&mut self) {
        self.settle();
        self.fast = FastRoom {
            net: self.net.map(clamp_i64),
            gross: clamp_i64(self.gross),
            credit: clamp_u64(self.credit),
        };
        self.synced = self.fast;
    }

    /// The copy never offers more room than there is, and equals the
    /// exact room unless it was clamped at its last sync (see
    /// [`FastRoom`]): only a clamp, at the type's maximum, leaves the copy
    /// below the exact room, by what was clamped off, until the next sync.
    #[cfg(debug_assertions)]
    fn fast_is_faithful(&self) -> bool {
        let faithful = |fast: i128, exact: i128, synced: i128, max: i128| {
            fast <= exact && (fast == exact || synced == max)
        };
        let (fast, synced, exact) = (self.fast, self.synced, self.settled());
        let i64_max = i64::MAX.into();
        faithful(
            fast.net[BUY].into(),
            clamp_i64(exact.net[BUY]).into(),
            synced.net[BUY].into(),
            i64_max,
        ) && faithful(
            fast.net[SELL].into(),
            clamp_i64(exact.net[SELL]).into(),
            synced.net[SELL].into(),
            i64_max,
        ) && faithful(
            fast.gross.into(),
            clamp_i64(exact.gross).into(),
            synced.gross.into(),
            i64_max,
        ) && faithful(
            fast.credit.into(),
            clamp_u64(exact.credit).into(),
            synced.credit.into(),
            u64::MAX.into(),
        )
    }

    /// [`Room::check`] for a new order (it always grows and never shrinks),
    /// in 64 bits: the symbol's terms with an overflow test each, and the
    /// account's rooms through their 64-bit copy. Decides and explains
    /// exactly as [`Room::check`] does for every position within ±2^60
    /// shares (open quantities are below 2^62, see [`RiskEngine::new`], so
    /// `2 × position + open + quantity` stays inside `i64`); a position
    /// that far beyond every real one, towards the range where `on_fill`
    /// saturates, may overflow them, and an overflow refuses the order as
    /// beyond the symbol's position limit (fails closed).
    #[inline(always)]
    fn check_new_order(
        &self,
        rule: &Rule,
        sym: &SymbolState,
        side: Side,
        qty: u32,
        notional: u64,
    ) -> Result<u64, RejectReason> {
        let s = side as usize;
        let (mine, other) = (sym.open[s] as i64, sym.open[s ^ 1] as i64);
        let add = qty as i64;
        let p = sym.position;
        // `ahead = d + mine + add`, `behind = other − d`, with `d` the
        // position seen from `side`.
        let (ahead, behind) = match side {
            Side::Buy => (p.checked_add(mine + add), other.checked_sub(p)),
            Side::Sell => ((mine + add).checked_sub(p), other.checked_add(p)),
        };
        let (Some(ahead), Some(behind)) = (ahead, behind) else {
            refuse!(SymbolPositionLimit);
        };
        let Some(x) = ahead.checked_sub(behind) else {
            refuse!(SymbolPositionLimit);
        };
        if ahead > rule.max_position_i64 {
            refuse!(SymbolPositionLimit);
        }
        let worst_delta = if x >= add {
            add
        } else if x > 0 {
            x
        } else {
            0
        };
        if worst_delta > self.fast.gross {
            refuse!(GrossPositionLimit);
        }
        if add > self.fast.net[s] {
            refuse!(NetPositionLimit);
        }
        // (A notional is at least 1: no room at 0.)
        if notional > self.fast.credit {
            refuse!(CreditLimit);
        }
        Ok(worst_delta as u64)
    }

    /// Position, gross, net and credit limits for `add` more open shares on
    /// `side` and `add_notional` more open notional in `sym`; returns the
    /// growth of the gross worst case. Gross and credit are always judged;
    /// position and net when the order `grows` (adds shares or notional: a
    /// new order always does, a replace may not), so a replace that adds no
    /// exposure is not refused for a share limit already exceeded, and one
    /// that adds any is judged against every limit.
    ///
    /// Written once for both sides: with `d` the position seen from `side`
    /// (long for a buy, short for a sell), the symbol's worst case is
    /// `max(ahead, behind, 0)` with `ahead = d + open(side)` and `behind =
    /// open(other side) − d`. Their sum is the open quantity (≥ 0), so the
    /// `0` never wins, and adding `add` to `ahead` grows the worst case by
    /// `ahead + add − behind` clamped to `0..=add`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn check(
        &self,
        rule: &Rule,
        sym: &SymbolState,
        side: Side,
        add: u64,
        add_notional: i128,
        grows: bool,
        shrinkable: bool,
    ) -> Result<u64, RejectReason> {
        let s = side as usize;
        let (mine, other) = (sym.open[s], sym.open[s ^ 1]);
        let d = match side {
            Side::Buy => sym.position as i128,
            Side::Sell => -(sym.position as i128),
        };
        let ahead = d + (mine + add) as i128;
        if grows && ahead > rule.max_position as i128 {
            refuse!(SymbolPositionLimit);
        }
        let behind = other as i128 - d;
        // `(ahead − behind)` clamped to `0..=add`, chosen among u64 values
        // (the clamped i128 would carry a high word that is always 0).
        let x = ahead - behind;
        let worst_delta = if x >= add as i128 {
            add
        } else if x > 0 {
            x as u64
        } else {
            0
        };
        // Gross, net and credit: what the order adds against the room left
        // (`used + add > limit` ⇔ `add > limit − used`, exact in i128). A
        // limit already exceeded (lowered at run time, or a mark that moved)
        // leaves negative room. A replace (`shrinkable`) is then refused
        // only for what it adds, so one that shrinks an order still goes;
        // a new order is refused outright until the exposure is back
        // within the limit (fails closed, and keeps the new-order path to
        // one compare per limit).
        let room = self.settled();
        if worst_delta as i128 > room.gross && (!shrinkable || worst_delta != 0) {
            refuse!(GrossPositionLimit);
        }
        if grows && add as i128 > room.net[s] {
            refuse!(NetPositionLimit);
        }
        if add_notional > room.credit && (!shrinkable || add_notional > 0) {
            refuse!(CreditLimit);
        }
        Ok(worst_delta)
    }
}

/// A [`SymbolLimits`] record as the order path reads it, derived by
/// `install` whenever limits change: the tick collar is a ready span (no
/// multiplication per order), the optional collars are flags, and the
/// record fits one cache line. `SymbolLimits` stays the configuration.
#[derive(Clone, Copy)]
#[repr(align(64))]
struct Rule {
    max_notional: u64,
    max_position: u64,
    /// `max_position` clamped into `i64`, for the new-order path's 64-bit
    /// terms (which never exceed `i64::MAX`).
    max_position_i64: i64,
    /// `collar_ticks × tick_size`, saturated at `u64::MAX` (beyond any
    /// difference of two positive `i64` prices); `u64::MAX` without a tick collar.
    tick_span: u64,
    /// `collar_bps`, or 0 without a bps collar.
    bps: u32,
    /// 10,000 with a bps collar, 0 without: the collar refuses when
    /// `diff × bps_scale > bps × reference`, which without one is `0 > 0`
    /// (no test of a flag on the path).
    bps_scale: u32,
    /// 1 when some collar is configured (orders need a positive reference
    /// price), `i64::MIN` when none is (any reference, or none, will do).
    min_reference: i64,
    /// `max_order_qty`, or 0 for a restricted symbol: with the quantity
    /// less one (wrapping) one compare refuses a zero quantity, a
    /// restricted symbol and too large an order (the reason is sorted out
    /// off the path, see [`qty_refusal`]).
    qty_cap: u32,
    max_open_orders: u32,
    restricted: bool,
}

impl Rule {
    /// What a slot that does not exist would mean: nothing passes.
    const REFUSE_ALL: Rule = Rule {
        max_notional: 0,
        max_position: 0,
        max_position_i64: 0,
        tick_span: 0,
        bps: 0,
        bps_scale: 10_000,
        min_reference: 1,
        qty_cap: 0,
        max_open_orders: 0,
        restricted: true,
    };

    fn new(s: &SymbolLimits) -> Rule {
        debug_assert!(s.collar_bps.is_none_or(|b| b <= 100_000), "validated");
        Rule {
            max_notional: s.max_notional,
            max_position: s.max_position,
            max_position_i64: s.max_position.min(i64::MAX as u64) as i64,
            tick_span: match s.collar_ticks {
                // `validate` guarantees tick_size > 0.
                Some(t) => (t as u64).saturating_mul(s.tick_size.unsigned_abs()),
                None => u64::MAX,
            },
            // At most 100,000 (validated): `beyond_bps` relies on it.
            bps: s.collar_bps.unwrap_or(0),
            bps_scale: if s.collar_bps.is_some() { 10_000 } else { 0 },
            min_reference: if s.collar_bps.is_some() || s.collar_ticks.is_some() {
                1
            } else {
                i64::MIN
            },
            qty_cap: if s.restricted { 0 } else { s.max_order_qty },
            max_open_orders: s.max_open_orders,
            restricted: s.restricted,
        }
    }
}

/// Entries of the rule table: a power of two above `MAX_OVERRIDES + 1`, so
/// that a slot is masked into it rather than bounds-checked.
const RULE_SLOTS: usize = (MAX_OVERRIDES + 1).next_power_of_two();

/// The slot of a locate whose state is unmapped: a rule no `install`
/// writes, so it refuses every new order and replace (as restricted), on
/// the order path's own compare, at no cost to it.
const UNMAPPED_SLOT: u16 = (RULE_SLOTS - 1) as u16;
const _: () = assert!(RULE_SLOTS - 1 > MAX_OVERRIDES, "a slot no override names");

/// The rule of a symbol's `limits_slot`. Slots only ever name rules
/// `install` wrote (`0..=MAX_OVERRIDES`); the table's other entries, which
/// no slot names, refuse everything.
#[inline(always)]
fn rule_of(rules: &[Rule; RULE_SLOTS], slot: u16) -> &Rule {
    &rules[slot as usize % RULE_SLOTS]
}

/// One bucket of the duplicate table: seven (fingerprint, time) pairs and
/// the time of its newest entry, in two adjacent cache lines. The
/// fingerprint is a 64-bit hash of strategy, locate, side, price and
/// quantity; two different orders share one with probability 2^-64, which
/// at worst refuses a non-duplicate (fails closed).
#[derive(Clone, Copy)]
#[repr(C, align(128))]
struct DupBucket {
    /// The time of the newest entry remembered (an entry forgotten since
    /// may have been it: never earlier than any entry held). Once it is
    /// older than the longest duplicate window, every entry is: no order
    /// can be a duplicate of one, and a new order takes its first way
    /// without comparing the others (seven compares, 1.3 ns of a ~20 ns
    /// check). A fingerprint may then stand in more than one way; only its
    /// newest entry counts.
    newest: u64,
    fp: [u64; DUP_WAYS],
    ts: [u64; DUP_WAYS],
}

/// The way of a bucket where the search for a free way starts, from bits 1
/// to 16 of the fingerprint: always starting at way 0 would keep refilling
/// way 0, which is then often still live, and the branch leaving the search
/// mispredicted. (A multiplication maps the bits onto `0..DUP_WAYS`
/// without a division.)
#[inline(always)]
fn first_way(fp: u64) -> usize {
    ((((fp >> 1) & 0xffff) * DUP_WAYS as u64) >> 16) as usize
}

impl DupBucket {
    const EMPTY: DupBucket = DupBucket {
        newest: 0,
        fp: [0; DUP_WAYS],
        ts: [0; DUP_WAYS],
    };

    /// Does a way hold `fp`? A compare and branch per way (not `contains`:
    /// that one compiles to a loop, 19 instructions more per order).
    #[inline(always)]
    #[allow(clippy::manual_contains)]
    fn holds(&self, fp: u64) -> bool {
        self.fp.iter().any(|&f| f == fp)
    }

    /// `fp` is in the bucket: refused as a duplicate when one of its
    /// entries (so its newest) was remembered less than `window` ns before
    /// `now`, else a way of it (to refresh, which makes that entry the
    /// newest). Off the path of a new order, which is not in its bucket.
    #[inline(always)]
    fn seen(&self, fp: u64, now: u64, window: u64) -> Result<usize, RejectReason> {
        let mut found = None;
        for (way, (&f, &ts)) in self.fp.iter().zip(&self.ts).enumerate() {
            if f == fp {
                if window > 0 && now.saturating_sub(ts) < window {
                    return Err(RejectReason::DuplicateOrder);
                }
                found.get_or_insert(way);
            }
        }
        Ok(found.unwrap_or(0))
    }

    /// [`DupTable::probe`] in a bucket without a free way: `fp` is in it
    /// (see [`DupBucket::found`]), or the bucket is full.
    #[cold]
    #[inline(never)]
    fn no_free_way(
        &mut self,
        fp: u64,
        now: u64,
        window: u64,
    ) -> Result<(&mut DupBucket, usize), RejectReason> {
        match self.holds(fp) {
            true => self.found(fp, now, window),
            false => Err(refused::<{ RejectReason::CapacityExhausted.index() as u8 }>()),
        }
    }

    /// [`DupTable::probe`] where `fp` is in the bucket: a duplicate, or
    /// its way to refresh (off the path of a new order).
    #[cold]
    #[inline(never)]
    fn found(
        &mut self,
        fp: u64,
        now: u64,
        window: u64,
    ) -> Result<(&mut DupBucket, usize), RejectReason> {
        self.seen(fp, now, window).map(|way| (self, way))
    }

    /// Forgets `fp`, wherever it is in the bucket.
    fn forget(&mut self, fp: u64) {
        for (f, t) in self.fp.iter_mut().zip(self.ts.iter_mut()) {
            if *f == fp {
                *f = 0;
                *t = 0;
            }
        }
    }

    /// Way `way` (of [`DupTable::probe`]) now remembers `fp` at `now`.
    #[inline(always)]
    fn remember(&mut self, way: usize, fp: u64, now: u64) {
        if let (Some(f), Some(t)) = (self.fp.get_mut(way), self.ts.get_mut(way)) {
            *f = fp;
            *t = now;
        }
        self.newest = self.newest.max(now);
    }
}

/// The duplicate-order table.
struct DupTable {
    buckets: Box<[DupBucket]>,
    /// 32 − log2(buckets): a fingerprint's bucket is its top bits.
    shift: u32,
    /// Longest duplicate window ever configured: entries younger than this
    /// are never evicted, so widening the window at run time loses nothing.
    retain_ns: u64,
}

impl DupTable {
    /// A table of at least `slots` ways (whole buckets, a power of two of
    /// them).
    fn new(slots: usize) -> DupTable {
        let buckets = slots.div_ceil(DUP_WAYS).max(1).next_power_of_two();
        DupTable {
            buckets: vec![DupBucket::EMPTY; buckets].into_boxed_slice(),
            // (Beyond 2^32 buckets only the first 2^32 would be used.)
            shift: 32u32.saturating_sub(buckets.trailing_zeros()),
            retain_ns: 0,
        }
    }

    /// The bucket of fingerprint `fp`, its top bits (two shifts: a single
    /// table of one bucket keeps none of the 64 bits).
    #[inline(always)]
    fn bucket_of(&self, fp: u64) -> usize {
        (fp >> 32 >> self.shift) as usize
    }

    /// Starts loading the bucket of fingerprint `fp` (both its lines).
    #[inline(always)]
    fn prefetch(&self, fp: u64) {
        if let Some(b) = self.buckets.get(self.bucket_of(fp)) {
            prefetch::prefetch(&b.newest);
            prefetch::prefetch(&b.ts);
        }
    }

    /// Looks for a duplicate of the order with fingerprint `fp` (within
    /// `window` ns) and a way to remember it in: its bucket and way. In a
    /// bucket whose newest entry has left the longest window, that is the
    /// first way, at once. Otherwise the free way is looked for first (it
    /// is usually the first way looked at), then the ways are compared.
    #[inline(always)]
    fn probe(
        &mut self,
        fp: u64,
        now: u64,
        window: u64,
    ) -> Result<(&mut DupBucket, usize), RejectReason> {
        let bucket = self.bucket_of(fp);
        let Some(b) = self.buckets.get_mut(bucket) else {
            refuse!(CapacityExhausted);
        };
        let start = first_way(fp);
        // (A clock that went back reads as "not expired".)
        if now.saturating_sub(b.newest) >= self.retain_ns {
            return Ok((b, start));
        }
        let mut way = start;
        let free = loop {
            match (b.fp.get(way), b.ts.get(way)) {
                (Some(&f), Some(&ts)) if f == 0 || now.saturating_sub(ts) >= self.retain_ns => {
                    break way
                }
                _ => {}
            }
            way = if way + 1 < DUP_WAYS { way + 1 } else { 0 };
            if way == start {
                // No free way: a duplicate, a refresh, or a full bucket.
                return b.no_free_way(fp, now, window);
            }
        };
        // A new order: not in the bucket (a compare and branch per way),
        // and remembered in the free way. (Each exit of the search above
        // tests the bucket on its own, so that this one needs no test of
        // `free`.)
        if b.holds(fp) {
            return b.found(fp, now, window);
        }
        Ok((b, free))
    }
}

/// The reason with index `R`. Each refusal site of the order path goes
/// through its own instance of this cold function, which keeps the sites
/// apart: with plain `return Err(reason)` the compiler merges them into one
/// exit and loads every site's reason code ahead of that site's branch, on
/// the path of every accepted order too. Its constant goes through
/// `black_box`, so the compiler cannot fold an instance's call into that
/// constant and merge the sites again after all.
#[cold]
#[inline(never)]
fn refused<const R: u8>() -> RejectReason {
    match RejectReason::ALL.get(core::hint::black_box(R) as usize) {
        Some(&reason) => reason,
        None => RejectReason::InvalidOrder,
    }
}

/// The pre-trade risk engine. One per hot core; `&mut self` everywhere, so
/// a limit change is atomic with respect to checks by construction.
pub struct RiskEngine {
    limits: Limits,
    /// `limits.default_symbol` at 0, `limits.overrides[i]` at `i + 1`, in
    /// the order path's form; indexed by `SymbolState::limits_slot`.
    rules: Box<[Rule; RULE_SLOTS]>,
    symbols: Box<[SymbolState]>,
    orders: Box<[OrderSlot]>,
    free: Box<[u32]>,
    free_len: usize,
    dup: DupTable,
    /// `[strategy orders, strategy cancels, venue orders, venue cancels]` windows.
    windows: Windows<W_TOTAL>,
    /// The four message throttles of `limits`, "none" as `NO_THROTTLE`.
    rates: Rates,
    reject_window: Box<Window>,
    /// Shares and notional entered within the `entered_volume` window.
    volume: VolumeWindow,

    net_position: i64,
    /// Gross, net and credit limits as room left.
    room: Room,
    open_orders: u32,

    tripped: Option<TripCause>,
    last_pnl: i64,
    kill_cursor: usize,
    /// The first order whose kill cancel was not sent (see
    /// [`RiskEngine::on_cancel_unsent`]); the sweep comes back to it at
    /// [`RiskEngine::retry_unsent_kill_cancels`].
    kill_unsent: Option<usize>,

    reject_counts: [u64; RejectReason::ALL.len()],
    unknown_events: u64,
    trips: u64,
}

/// A throttle that never refuses: more than a window can count.
#[cfg(test)]
const NO_THROTTLE: Throttle = Throttle {
    max_msgs: u32::MAX,
    window_ns: 0,
};

/// The message throttles as the order path reads them: no `Option` to
/// test, "none" is [`Rate::NONE`], "none allowed" needs no test of its own.
#[derive(Clone, Copy)]
struct Rates {
    strategy_order: Rate,
    strategy_cancel: Rate,
    venue_order: Rate,
    venue_cancel: Rate,
}

impl Rates {
    fn new(l: &Limits) -> Rates {
        Rates {
            strategy_order: Rate::new(l.strategy_order_rate),
            strategy_cancel: Rate::new(l.strategy_cancel_rate),
            venue_order: Rate::new(l.venue_order_rate),
            venue_cancel: Rate::new(l.venue_cancel_rate),
        }
    }
}

const W_STRAT_ORDER: usize = 0;
const W_STRAT_CANCEL: usize = MAX_STRATEGIES;
const W_VENUE_ORDER: usize = 2 * MAX_STRATEGIES;
const W_VENUE_CANCEL: usize = 2 * MAX_STRATEGIES + MAX_VENUES;
const W_TOTAL: usize = 2 * MAX_STRATEGIES + 2 * MAX_VENUES;

impl RiskEngine {
    /// Builds an engine; the only place that allocates. Fails if `limits`
    /// do not validate, `capacity.symbols` exceeds 65,536 or
    /// `capacity.orders` exceeds [`MAX_ORDERS`].
    pub fn new(capacity: Capacity, limits: Limits) -> Result<RiskEngine, LimitsError> {
        if capacity.symbols > 1 << 16 {
            return Err(LimitsError {
                field: "capacity.symbols",
                override_index: None,
                why: "at most 65536 locates",
            });
        }
        // Order slots are named by u32 indices (the free list), and the
        // new-order path's 64-bit sums of open quantities rely on this
        // bound: 2^30 orders of fewer than 2^32 shares stay below 2^62.
        if capacity.orders > MAX_ORDERS {
            return Err(LimitsError {
                field: "capacity.orders",
                override_index: None,
                why: "at most 1073741824 open orders",
            });
        }
        limits.validate(capacity.symbols)?;
        let orders = capacity.orders.max(1);
        let mut engine = RiskEngine {
            limits: Limits::unlimited(),
            // Built on the heap (32 KiB), not on the stack.
            rules: match vec![Rule::REFUSE_ALL; RULE_SLOTS]
                .into_boxed_slice()
                .try_into()
            {
                Ok(rules) => rules,
                Err(_) => unreachable!("RULE_SLOTS rules"),
            },
            symbols: vec![SymbolState::EMPTY; capacity.symbols].into_boxed_slice(),
            orders: vec![OrderSlot::EMPTY; orders].into_boxed_slice(),
            free: (0..orders as u32).rev().collect(),
            free_len: orders,
            dup: DupTable::new(capacity.duplicate_slots),
            windows: Windows::new(),
            rates: Rates::new(&Limits::unlimited()),
            reject_window: Box::new(Window::new()),
            volume: VolumeWindow::new(None),
            net_position: 0,
            // Nothing used yet, against `Limits::unlimited()` (moved to the
            // real limits by `install`).
            room: Room {
                net: [u64::MAX as i128; 2],
                gross: u64::MAX as i128,
                credit: u64::MAX as i128,
                fast: FastRoom {
                    net: [i64::MAX; 2],
                    gross: i64::MAX,
                    credit: u64::MAX,
                },
                synced: FastRoom {
                    net: [i64::MAX; 2],
                    gross: i64::MAX,
                    credit: u64::MAX,
                },
            },
            open_orders: 0,
            tripped: None,
            last_pnl: 0,
            kill_cursor: 0,
            kill_unsent: None,
            reject_counts: [0; RejectReason::ALL.len()],
            unknown_events: 0,
            trips: 0,
        };
        engine.install(limits, 0);
        engine.prefault();
        Ok(engine)
    }

    /// Writes every table entry once so that no page fault (first touch of
    /// zeroed memory) can happen on the order path later.
    fn prefault(&mut self) {
        use core::hint::black_box;
        for s in self.symbols.iter_mut() {
            *s = black_box(*s);
        }
        for o in self.orders.iter_mut() {
            *o = black_box(*o);
        }
        for b in self.dup.buckets.iter_mut() {
            *b = black_box(*b);
        }
        self.windows.prefault();
        for f in self.free.iter_mut() {
            *f = black_box(*f);
        }
    }

    // ----------------------------------------------------------------- limits

    /// Replaces every limit in one step after validating the new set; on
    /// error the old limits stay in force. Exposure already entered is kept
    /// and judged against the new limits from the next check on. A limit
    /// that trips the kill switch is judged at once, at `now`: a daily loss
    /// already beyond the new `max_daily_loss`, or more refusals in the
    /// last window than the new `reject_rate` allows, trips it here rather
    /// than at the next fill or refusal.
    pub fn apply_limits(&mut self, new: Limits, now: Nanos) -> Result<(), LimitsError> {
        new.validate(self.symbols.len())?;
        self.install(new, now.0);
        if self.loss_breached() {
            self.trip(TripCause::DailyLoss);
        }
        if let Some(t) = self.limits.reject_rate {
            // More than `max_msgs` in the window: the (max_msgs + 1)-th
            // newest refusal is inside it. The ring keeps the newest
            // `MAX_THROTTLE_MSGS`, so a limit of that many is judged at the
            // next refusal instead.
            if t.max_msgs < MAX_THROTTLE_MSGS {
                let one_more = Throttle {
                    max_msgs: t.max_msgs + 1,
                    window_ns: t.window_ns,
                };
                if self.reject_window.would_exceed(&one_more, now.0) {
                    self.trip(TripCause::RejectRate);
                }
            }
        }
        Ok(())
    }

    fn install(&mut self, new: Limits, now: u64) {
        for (locate, _) in self.limits.overrides.iter() {
            if let Some(s) = self.symbols.get_mut(*locate as usize) {
                s.override_slot = 0;
                s.limits_slot = s.slot();
            }
        }
        for (i, (locate, _)) in new.overrides.iter().enumerate() {
            if let Some(s) = self.symbols.get_mut(*locate as usize) {
                s.override_slot = (i + 1) as u16;
                s.limits_slot = s.slot();
            }
        }
        for (rule, limits) in self
            .rules
            .iter_mut()
            .zip(core::iter::once(&new.default_symbol).chain(new.overrides.iter().map(|(_, s)| s)))
        {
            *rule = Rule::new(limits);
        }
        self.rates = Rates::new(&new);
        // The rooms move by each limit's change (exact in i128).
        let moved = |new: u64, old: u64| new as i128 - old as i128;
        let net = moved(new.max_net_position, self.limits.max_net_position);
        self.room.net = self.room.net.map(|r| r + net);
        self.room.gross += moved(new.max_gross_position, self.limits.max_gross_position);
        self.room.credit += moved(new.credit_limit, self.limits.credit_limit);
        self.room.sync();
        self.dup.retain_ns = self.dup.retain_ns.max(new.duplicate_window_ns);
        self.volume.set_limit(new.entered_volume, now);
        self.limits = new;
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The rule of a symbol's `limits_slot`.
    #[inline(always)]
    fn rule(&self, slot: u16) -> &Rule {
        rule_of(&self.rules, slot)
    }

    // ------------------------------------------------------ feed sessions

    /// Locates `0..symbol_capacity()` have a record.
    pub fn symbol_capacity(&self) -> usize {
        self.symbols.len()
    }

    /// Whether `locate` holds a position or open orders.
    pub fn has_state(&self, locate: StockLocate) -> bool {
        self.symbols
            .get(locate as usize)
            .is_some_and(SymbolState::has_state)
    }

    /// Marks the state held under `locate` as belonging to an instrument
    /// whose locate in the current feed session is not known yet (a new
    /// session renumbers instruments): while it is, every new order and
    /// replace in `locate` is refused (`RestrictedSymbol`), whatever the
    /// limits say; cancels pass. Limits applied meanwhile keep it. Off the
    /// order path, which reads the same rule slot as ever.
    pub fn set_unmapped(&mut self, locate: StockLocate, unmapped: bool) {
        if let Some(s) = self.symbols.get_mut(locate as usize) {
            s.unmapped = unmapped;
            s.limits_slot = s.slot();
        }
    }

    pub fn is_unmapped(&self, locate: StockLocate) -> bool {
        self.symbols
            .get(locate as usize)
            .is_some_and(|s| s.unmapped)
    }

    /// Exchanges what is held under locates `a` and `b`: position, open
    /// orders (which from now on name their new locate), mark, own best
    /// prices and the unmapped mark travel; the limits stay with the locate
    /// (they are configured per locate of the current session). Totals
    /// (net, gross, credit, open orders) do not change: the same state,
    /// renumbered. Walks both symbols' open orders; nothing allocates.
    /// Unknown locates change nothing.
    pub fn swap_symbols(&mut self, a: StockLocate, b: StockLocate) {
        let (ia, ib) = (a as usize, b as usize);
        if ia == ib || ia >= self.symbols.len() || ib >= self.symbols.len() {
            return;
        }
        let (sa, sb) = (self.symbols[ia], self.symbols[ib]);
        let moved = |from: SymbolState, to: SymbolState| SymbolState {
            override_slot: to.override_slot,
            ..from
        };
        for (i, mut s) in [(ia, moved(sb, sa)), (ib, moved(sa, sb))] {
            s.limits_slot = s.slot();
            self.symbols[i] = s;
            let mut idx = s.head;
            for _ in 0..self.orders.len() {
                let Some(o) = self.orders.get_mut(idx as usize) else {
                    break;
                };
                o.locate = i as u32;
                idx = o.next;
            }
        }
    }

    // ------------------------------------------------------------------ check

    /// Decides one intent at time `now`. On `Ok` the intent counts as
    /// entered: a new order's full quantity is exposure from this moment.
    /// On `Err` nothing changes except the per-reason counter and the
    /// reject-rate window (which may trip the kill switch).
    ///
    /// `Ok` carries where risk holds the order: for a new order, the slot
    /// to name it by from now on ([`OrderRef`]); for a cancel or replace,
    /// `ctx.held` again.
    pub fn check(
        &mut self,
        intent: &OrderIntent,
        ctx: &CheckContext,
        now: Nanos,
    ) -> Result<RiskSlot, RejectReason> {
        let result = match *intent {
            // One copy of the new-order path per side, each with its side a
            // constant: no selecting between the sides' fields at run time.
            OrderIntent::New {
                strategy,
                locate,
                side: Side::Buy,
                price,
                qty,
                ..
            } => self.check_new(strategy, locate, Side::Buy, price, qty, ctx, now),
            OrderIntent::New {
                strategy,
                locate,
                side: Side::Sell,
                price,
                qty,
                ..
            } => self.check_new(strategy, locate, Side::Sell, price, qty, ctx, now),
            OrderIntent::Cancel { strategy, order } => {
                self.check_cancel(strategy, order, ctx.held, now)
            }
            OrderIntent::Replace {
                strategy,
                order,
                price,
                qty,
            } => self.check_replace(strategy, order, ctx.held, price, qty, ctx, now),
        };
        if let Err(reason) = result {
            self.count_reject(reason, now);
        }
        result
    }

    /// A new order: every check in the order that decides which reason a
    /// refusal carries (a free order slot last), then the order is entered.
    /// The records it changes (symbol, duplicate bucket) are looked up
    /// once, for the checks and the entry alike; nothing changes before
    /// the last check passed.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn check_new(
        &mut self,
        strategy: StrategyId,
        locate: StockLocate,
        side: Side,
        price: Price,
        qty: u32,
        ctx: &CheckContext,
        now: Nanos,
    ) -> Result<RiskSlot, RejectReason> {
        if self.tripped.is_some() {
            return Err(refused_while_tripped(&self.tripped));
        }
        let sid = strategy.0 as usize;
        let vid = ctx.venue.0 as usize;
        // (A zero quantity is refused as invalid by `check_terms`.)
        if price.0 <= 0 || sid >= MAX_STRATEGIES || vid >= MAX_VENUES {
            refuse!(InvalidOrder);
        }
        // The hash-addressed line the check ends in, asked for now.
        let fp = dup_fingerprint(sid, locate, side, price, qty);
        self.dup.prefetch(fp);
        let Some(sym) = self.symbols.get_mut(locate as usize) else {
            refuse!(InvalidOrder);
        };
        let rule = rule_of(&self.rules, sym.limits_slot);
        let scope = (&self.limits, &self.orders, ctx.venue.0);
        let notional = check_terms_in_scope(rule, sym, side, price.0, qty, ctx.reference, scope)?;
        if sym.open_orders >= rule.max_open_orders
            || self.open_orders >= self.limits.max_open_orders
        {
            refuse!(MaxOpenOrders);
        }
        #[cfg(debug_assertions)]
        debug_assert!(self.room.fast_is_faithful(), "a room change not synced");
        let worst_delta = self.room.check_new_order(rule, sym, side, qty, notional)?;
        if !self.volume.admits(now.0, qty as u64, notional) {
            refuse!(EnteredVolumeLimit);
        }
        let (bucket, way) = self.dup.probe(fp, now.0, self.limits.duplicate_window_ns)?;
        let (w_strategy, w_venue) = (W_STRAT_ORDER + sid, W_VENUE_ORDER + vid);
        if self
            .windows
            .would_exceed(w_strategy, &self.rates.strategy_order, now.0)
            || self
                .windows
                .would_exceed(w_venue, &self.rates.venue_order, now.0)
        {
            refuse!(OrderRateThrottle);
        }
        // Last check: a free slot (`free_len - 1` wraps beyond the list when
        // there is none: one bounds check).
        let Some(&idx) = self.free.get(self.free_len.wrapping_sub(1)) else {
            refuse!(CapacityExhausted);
        };

        // Commit: everything below succeeds.
        self.free_len -= 1;
        bucket.remember(way, fp, now.0);
        self.volume.enter(qty as u64, notional);
        self.windows.record(w_strategy, now.0);
        self.windows.record(w_venue, now.0);
        let head = sym.head;
        if let Some(o) = self.orders.get_mut(idx as usize) {
            // A free slot is `OrderSlot::EMPTY` (the initial state, and what
            // `retire` leaves): only the fields a new order sets are written.
            debug_assert!(!o.live && o.filled == 0 && o.pending().is_none() && o.prev == NIL);
            o.id = ctx.order.0;
            o.price = price.0;
            o.qty = qty;
            o.next = head;
            o.strategy = sid as u32;
            o.locate = locate as u32;
            o.side = side;
            o.venue = ctx.venue.0;
            o.live = true;
        }
        if let Some(h) = self.orders.get_mut(head as usize) {
            h.prev = idx;
        }
        // Exposure of a new order is known from the checks: add it directly
        // (same effect as `add_exposure`, without recomputing).
        let q = qty as u64;
        sym.head = idx;
        sym.open_orders += 1;
        sym.open[side as usize] += q;
        match side {
            Side::Buy => sym.own_bid = sym.own_bid.max(price.0),
            Side::Sell => sym.own_ask = sym.own_ask.min(price.0),
        }
        // From the order path's copy of the rooms, which had room for all
        // of it (the exact rooms follow at the next `settle`).
        self.room.fast.net[side as usize] -= q as i64;
        self.open_orders += 1;
        self.room.fast.credit -= notional;
        self.room.fast.gross -= worst_delta as i64;
        Ok(RiskSlot(idx))
    }

    fn check_cancel(
        &mut self,
        strategy: StrategyId,
        order: OrderId,
        held: Option<RiskSlot>,
        now: Nanos,
    ) -> Result<RiskSlot, RejectReason> {
        let idx = self.owned(strategy, order, held)?;
        let Some(o) = self.orders.get(idx as usize) else {
            return Err(RejectReason::UnknownOrder);
        };
        if o.pending_cancel {
            return Err(RejectReason::InvalidOrder);
        }
        let sid = strategy.0 as usize;
        let vid = o.venue as usize;
        // Throttles never hold back the cancels that follow a kill switch.
        let throttled = self.throttled(W_STRAT_CANCEL + sid, &self.rates.strategy_cancel, now)
            || self.throttled(W_VENUE_CANCEL + vid, &self.rates.venue_cancel, now);
        if throttled && self.tripped.is_none() {
            return Err(RejectReason::CancelRateThrottle);
        }
        self.record(W_STRAT_CANCEL + sid, now.0);
        self.record(W_VENUE_CANCEL + vid, now.0);
        if let Some(o) = self.orders.get_mut(idx as usize) {
            o.pending_cancel = true;
        }
        Ok(RiskSlot(idx))
    }

    #[allow(clippy::too_many_arguments)]
    fn check_replace(
        &mut self,
        strategy: StrategyId,
        order: OrderId,
        held: Option<RiskSlot>,
        price: Price,
        qty: u32,
        ctx: &CheckContext,
        now: Nanos,
    ) -> Result<RiskSlot, RejectReason> {
        if self.tripped.is_some() {
            return Err(refused_while_tripped(&self.tripped));
        }
        let idx = self.owned(strategy, order, held)?;
        // Records are read in place: a copy of a cache-aligned record would
        // make this function (and `check`, which inlines it) realign its stack.
        let Some(o) = self.orders.get(idx as usize) else {
            return Err(RejectReason::UnknownOrder);
        };
        if o.pending_cancel || o.pending().is_some() || price.0 <= 0 || qty <= o.filled {
            return Err(RejectReason::InvalidOrder);
        }
        let before = o.exposure();
        let after = o.exposure_with(Some((price.0, qty)));
        let (side, venue) = (o.side, o.venue);
        let Some(sym) = self.symbols.get(o.locate as usize) else {
            return Err(RejectReason::InvalidOrder);
        };
        let rule = self.rule(sym.limits_slot);
        // price > 0 was checked above.
        let scope = (&self.limits, &self.orders, venue);
        check_terms_in_scope(rule, sym, side, price.0, qty, ctx.reference, scope)?;
        let (add, add_notional) = (after.qty - before.qty, after.notional - before.notional);
        self.room.check(
            rule,
            sym,
            side,
            add,
            add_notional,
            add > 0 || add_notional > 0,
            true,
        )?;
        // A replace enters what it adds to the order (a larger size, or a
        // higher notional), nothing for what it takes away.
        let entered_notional = clamp_u64(add_notional);
        if !self.volume.admits(now.0, add, entered_notional) {
            return Err(RejectReason::EnteredVolumeLimit);
        }
        let sid = strategy.0 as usize;
        let vid = venue as usize;
        if self.throttled(W_STRAT_ORDER + sid, &self.rates.strategy_order, now)
            || self.throttled(W_VENUE_ORDER + vid, &self.rates.venue_order, now)
        {
            return Err(RejectReason::OrderRateThrottle);
        }
        self.volume.enter(add, entered_notional);
        self.record(W_STRAT_ORDER + sid, now.0);
        self.record(W_VENUE_ORDER + vid, now.0);
        self.remove_exposure(idx);
        if let Some(slot) = self.orders.get_mut(idx as usize) {
            slot.set_pending(Some((price.0, qty)));
        }
        self.add_exposure(idx);
        Ok(RiskSlot(idx))
    }

    /// Slot of a live order `order` that belongs to `strategy`, held at
    /// `held`; another strategy's order is reported as unknown so
    /// strategies cannot touch each other's.
    fn owned(
        &self,
        strategy: StrategyId,
        order: OrderId,
        held: Option<RiskSlot>,
    ) -> Result<u32, RejectReason> {
        let idx = held
            .and_then(|slot| self.held(OrderRef::new(order, slot)))
            .ok_or(RejectReason::UnknownOrder)?;
        match self.orders.get(idx as usize) {
            Some(o) if o.strategy == strategy.0 as u32 => Ok(idx),
            _ => Err(RejectReason::UnknownOrder),
        }
    }

    #[inline]
    fn throttled(&self, i: usize, t: &Rate, now: Nanos) -> bool {
        self.windows.would_exceed(i, t, now.0)
    }

    #[inline]
    fn record(&mut self, i: usize, now: u64) {
        self.windows.record(i, now);
    }

    // --------------------------------------------------------------- exposure

    fn add_exposure(&mut self, idx: u32) {
        self.apply_exposure(idx, true);
    }

    fn remove_exposure(&mut self, idx: u32) {
        self.apply_exposure(idx, false);
    }

    fn apply_exposure(&mut self, idx: u32, add: bool) {
        // Fields, not a copy of the slot: copying a cache-aligned record
        // makes the function realign its stack.
        let Some(o) = self.orders.get(idx as usize) else {
            return;
        };
        let (e, locate, side) = (o.exposure(), o.locate, o.side);
        let Some(sym) = self.symbols.get_mut(locate as usize) else {
            return;
        };
        let old_worst = sym.worst();
        let field = &mut sym.open[side as usize];
        let net_room = &mut self.room.net[side as usize];
        if add {
            *field += e.qty;
            *net_room -= e.qty as i128;
            self.room.credit -= e.notional;
            match side {
                Side::Buy => sym.own_bid = sym.own_bid.max(e.match_price),
                Side::Sell => sym.own_ask = sym.own_ask.min(e.match_price),
            }
        } else {
            *field -= e.qty;
            *net_room += e.qty as i128;
            self.room.credit += e.notional;
        }
        self.room.gross -= sym.worst() - old_worst;
        self.room.sync();
        // Removing the order that defines our best own price: find the next.
        if !add {
            let best = match side {
                Side::Buy => sym.own_bid,
                Side::Sell => sym.own_ask,
            };
            if best == e.match_price {
                self.recompute_own(locate, idx);
            }
        }
    }

    /// `qty` more shares of order `idx` filled: its open quantity and
    /// notional shrink. Its price, and so its symbol's best own price
    /// (always the exact best over the open orders), stay as they are.
    fn reduce_open(&mut self, idx: u32, qty: u32) {
        let Some(o) = self.orders.get_mut(idx as usize) else {
            return;
        };
        let before = o.exposure();
        o.filled = o.filled.saturating_add(qty);
        let after = o.exposure();
        let (locate, side) = (o.locate, o.side);
        let Some(sym) = self.symbols.get_mut(locate as usize) else {
            return;
        };
        let old_worst = sym.worst();
        // More filled never means more open: `after.qty ≤ before.qty`.
        sym.open[side as usize] -= before.qty - after.qty;
        self.room.net[side as usize] += (before.qty - after.qty) as i128;
        self.room.credit -= after.notional - before.notional;
        self.room.gross -= sym.worst() - old_worst;
        self.room.sync();
    }

    /// Recomputes the best own prices of `locate`, ignoring order `skip`.
    fn recompute_own(&mut self, locate: u32, skip: u32) {
        let Some(sym) = self.symbols.get(locate as usize) else {
            return;
        };
        let (bid, ask) = own_best(&self.orders, sym.head, skip, None);
        if let Some(sym) = self.symbols.get_mut(locate as usize) {
            sym.own_bid = bid;
            sym.own_ask = ask;
        }
    }

    /// Takes a finished order out of every table.
    fn retire(&mut self, idx: u32) {
        let Some(o) = self.orders.get(idx as usize) else {
            return;
        };
        if !o.live {
            return;
        }
        let (prev, next, locate) = (o.prev, o.next, o.locate);
        self.remove_exposure(idx);
        if let Some(p) = self.orders.get_mut(prev as usize) {
            p.next = next;
        } else if let Some(s) = self.symbols.get_mut(locate as usize) {
            s.head = next;
        }
        if let Some(n) = self.orders.get_mut(next as usize) {
            n.prev = prev;
        }
        if let Some(s) = self.symbols.get_mut(locate as usize) {
            s.open_orders -= 1;
        }
        self.open_orders -= 1;
        if let Some(slot) = self.orders.get_mut(idx as usize) {
            *slot = OrderSlot::EMPTY;
        }
        if let Some(f) = self.free.get_mut(self.free_len) {
            *f = idx;
            self.free_len += 1;
        }
    }

    /// The slot of `order` if it is open there; an unknown order is counted.
    fn live_slot(&mut self, order: OrderRef) -> Option<u32> {
        match self.held(order) {
            Some(idx) => Some(idx),
            None => {
                self.unknown_events += 1;
                None
            }
        }
    }

    /// The slot of `order` if it is open there.
    fn held(&self, order: OrderRef) -> Option<u32> {
        let idx = order.slot.0;
        self.orders
            .get(idx as usize)
            .filter(|o| o.live && o.id == order.id.0)
            .map(|_| idx)
    }

    // ------------------------------------------------------------ OMS events

    /// The venue acknowledged a new order. Exposure is unchanged: it has
    /// counted since the check passed.
    pub fn on_accepted(&mut self, order: OrderRef) {
        if let Some(idx) = self.live_slot(order) {
            if let Some(o) = self.orders.get_mut(idx as usize) {
                o.acked = true;
            }
        }
    }

    /// A fill from an earlier boot (handed back from the journal at start):
    /// moves the position as [`RiskEngine::on_fill`] does; its order is
    /// long gone, which is expected here and not counted as unknown.
    pub fn restore_fill(&mut self, fill: &Fill) {
        let unknown = self.unknown_events;
        self.on_fill(fill);
        self.unknown_events = unknown;
    }

    /// An execution: moves the position (always) and reduces the order's
    /// open quantity (when the order is known). An order with nothing left
    /// open and no replace in flight is finished.
    pub fn on_fill(&mut self, fill: &Fill) {
        let Some(sym) = self.symbols.get(fill.locate as usize) else {
            self.unknown_events += 1;
            return;
        };
        let idx = self.held(fill.order);
        if idx.is_none() {
            self.unknown_events += 1;
        }
        let old_pn = sym.position_notional();
        if let Some(idx) = idx {
            self.reduce_open(idx, fill.qty);
        }
        let Some(sym) = self.symbols.get_mut(fill.locate as usize) else {
            return;
        };
        // reduce_open already moved gross for the open-qty change; this
        // accounts for the position change on top.
        let before = sym.worst();
        let delta = fill.side.sign() * fill.qty as i64;
        sym.position = sym.position.saturating_add(delta);
        // A fill price of 0 or below is no mark (see `set_mark`).
        if fill.price.0 > 0 {
            sym.mark = fill.price.0;
        }
        let net = self.net_position.saturating_add(delta);
        let moved = net as i128 - self.net_position as i128;
        self.net_position = net;
        self.room.net[BUY] -= moved;
        self.room.net[SELL] += moved;
        self.room.gross -= sym.worst() - before;
        self.room.credit -= sym.position_notional() - old_pn;
        self.room.sync();
        if let Some(idx) = idx {
            let done = self
                .orders
                .get(idx as usize)
                .is_some_and(|o| o.leaves() == 0 && o.pending().is_none());
            if done {
                self.retire(idx);
            }
        }
    }

    /// The venue busted or corrected an execution reported through
    /// [`RiskEngine::on_fill`]: the position moves back by `old` and
    /// forward by `new` (`new.qty` 0 for a bust) — the exact reversal of
    /// the position part of `on_fill`, with net, gross and credit room
    /// following. The mark stays (a corrected price is no newer price), and
    /// the order's open quantity is left to [`RiskEngine::set_leaves`]
    /// (the venue decides what it still works). The daily loss follows at
    /// the next [`RiskEngine::on_pnl`], which trips the kill switch as for
    /// a fill.
    pub fn on_fill_adjusted(&mut self, old: &Fill, new: &Fill) {
        let back = old.side.sign().saturating_mul(old.qty as i64);
        let forth = new.side.sign().saturating_mul(new.qty as i64);
        if new.locate == old.locate {
            self.shift_position(old.locate, forth.saturating_sub(back));
        } else {
            self.shift_position(old.locate, back.saturating_neg());
            self.shift_position(new.locate, forth);
        }
    }

    /// Moves `locate`'s position by `delta` shares and the account's room
    /// with it, as a fill does, without touching any order or the mark.
    fn shift_position(&mut self, locate: StockLocate, delta: i64) {
        let Some(sym) = self.symbols.get_mut(locate as usize) else {
            self.unknown_events += 1;
            return;
        };
        let old_pn = sym.position_notional();
        let before = sym.worst();
        sym.position = sym.position.saturating_add(delta);
        let net = self.net_position.saturating_add(delta);
        let moved = net as i128 - self.net_position as i128;
        self.net_position = net;
        self.room.net[BUY] -= moved;
        self.room.net[SELL] += moved;
        self.room.gross -= sym.worst() - before;
        self.room.credit -= sym.position_notional() - old_pn;
        self.room.sync();
    }

    /// The venue says `order` has `filled` shares executed (CumQty) and
    /// works `leaves` more, after a bust or correction changed what
    /// filled: the order becomes `filled + leaves` shares of which
    /// `filled` executed, as the OMS's does. Its open quantity, and so its
    /// exposure, is then `leaves`, and a replace to a new total later
    /// works that total less `filled` — not less shares a bust took back,
    /// which the venue may not work again. An order left with nothing
    /// open and no replace in flight is finished. Unknown orders are
    /// ignored (finished ones stay finished).
    pub fn set_leaves(&mut self, order: OrderRef, filled: u32, leaves: u32) {
        let Some(idx) = self.held(order) else {
            return;
        };
        let Some(o) = self.orders.get(idx as usize) else {
            return;
        };
        let qty = filled.saturating_add(leaves);
        if (o.qty, o.filled) != (qty, filled) {
            self.remove_exposure(idx);
            if let Some(o) = self.orders.get_mut(idx as usize) {
                o.qty = qty;
                o.filled = filled;
            }
            self.add_exposure(idx);
        }
        let done = self
            .orders
            .get(idx as usize)
            .is_some_and(|o| o.leaves() == 0 && o.pending().is_none());
        if done {
            self.retire(idx);
        }
    }

    /// A new order passed [`RiskEngine::check`] but never reached the
    /// venue: it leaves as if it had not been checked. Its fingerprint
    /// leaves the duplicate window (the strategy may send the same order
    /// again at once), the order throttles take back their newest record
    /// and the entered volume its size and notional (call this right after
    /// the check, before the strategy or the venue checks another new
    /// order), and its exposure is freed.
    pub fn on_new_unsent(&mut self, order: OrderRef) {
        let Some(idx) = self.live_slot(order) else {
            return;
        };
        let Some(o) = self.orders.get(idx as usize).copied() else {
            return;
        };
        self.forget_duplicate(
            StrategyId(o.strategy as u16),
            o.locate as StockLocate,
            o.side,
            Price(o.price),
            o.qty,
        );
        self.take_back_entry(order);
    }

    /// A new order passed [`RiskEngine::check`] only to be checked whole
    /// before the pieces it is sent as are checked one by one (an order
    /// the router splits across venues): it leaves as [`RiskEngine::on_new_unsent`]
    /// says, except that its terms stay in the duplicate window (the same
    /// order again within the window is a duplicate, however it is split).
    pub fn take_back_entry(&mut self, order: OrderRef) {
        let Some(idx) = self.live_slot(order) else {
            return;
        };
        let Some(o) = self.orders.get(idx as usize).copied() else {
            return;
        };
        self.windows.unrecord(W_STRAT_ORDER + o.strategy as usize);
        self.windows.unrecord(W_VENUE_ORDER + o.venue as usize);
        // What `check` entered: the order's size and its notional (which
        // passed `max_notional`, so it fits).
        self.volume
            .take_back(o.qty.into(), (o.price as u64).saturating_mul(o.qty.into()));
        self.on_canceled(order);
    }

    /// Terms of a new order leave the duplicate window: the same order may
    /// pass at once. For the pieces of a split order, which may share
    /// terms at two venues (the whole was tested), and for a whole whose
    /// pieces did not all pass.
    pub fn forget_duplicate(
        &mut self,
        strategy: StrategyId,
        locate: StockLocate,
        side: Side,
        price: Price,
        qty: u32,
    ) {
        let fp = dup_fingerprint(strategy.0 as usize, locate, side, price, qty);
        let bucket = self.dup.bucket_of(fp);
        if let Some(b) = self.dup.buckets.get_mut(bucket) {
            b.forget(fp);
        }
    }

    /// The order is finished without (further) fills: canceled, expired or
    /// done for the day.
    pub fn on_canceled(&mut self, order: OrderRef) {
        if let Some(idx) = self.live_slot(order) {
            self.retire(idx);
        }
    }

    /// The venue refused a new order. Counts toward the reject-rate limit.
    pub fn on_rejected(&mut self, order: OrderRef, now: Nanos) {
        if let Some(idx) = self.live_slot(order) {
            self.retire(idx);
        }
        self.count_reject(RejectReason::VenueReject, now);
    }

    /// The venue applied the replace in flight, with the terms it reports
    /// (normally those requested; if they differ, the venue's count).
    pub fn on_replaced(&mut self, order: OrderRef, price: Price, qty: u32) {
        let Some(idx) = self.live_slot(order) else {
            return;
        };
        self.remove_exposure(idx);
        let (done, locate) = match self.orders.get_mut(idx as usize) {
            Some(o) => {
                o.set_pending(None);
                o.price = price.0;
                o.qty = qty;
                (o.leaves() == 0, o.locate)
            }
            None => return,
        };
        self.add_exposure(idx);
        if done {
            self.retire(idx);
        } else {
            // The confirmed price may be less aggressive than the worst case.
            self.recompute_own(locate, NIL);
        }
    }

    /// The venue refused the replace in flight; the old terms stand.
    pub fn on_replace_rejected(&mut self, order: OrderRef) {
        let Some(idx) = self.live_slot(order) else {
            return;
        };
        self.remove_exposure(idx);
        let (done, locate) = match self.orders.get_mut(idx as usize) {
            Some(o) => {
                o.set_pending(None);
                (o.leaves() == 0, o.locate)
            }
            None => return,
        };
        self.add_exposure(idx);
        if done {
            self.retire(idx);
        } else {
            self.recompute_own(locate, NIL);
        }
    }

    /// The venue refused a cancel; the order stays open. While the kill
    /// switch is engaged the order goes back into the kill's sweep.
    pub fn on_cancel_rejected(&mut self, order: OrderRef) {
        if let Some(idx) = self.live_slot(order) {
            if let Some(o) = self.orders.get_mut(idx as usize) {
                o.pending_cancel = false;
                if self.tripped.is_some() {
                    o.kill_refusals = o.kill_refusals.saturating_add(1);
                    self.kill_cursor = self.kill_cursor.min(idx as usize);
                }
            }
        }
    }

    /// A cancel passed risk but never reached the venue (its session was
    /// down, or held the message back): the order stays open and may be
    /// canceled again. Unlike a venue's refusal, this does not count
    /// toward [`KILL_CANCEL_ATTEMPTS`], and the kill's sweep does not come
    /// back to the order at once — a session that cannot send would be
    /// asked again and again in one sweep — but at the next
    /// [`RiskEngine::retry_unsent_kill_cancels`].
    pub fn on_cancel_unsent(&mut self, order: OrderRef) {
        if let Some(idx) = self.live_slot(order) {
            if let Some(o) = self.orders.get_mut(idx as usize) {
                o.pending_cancel = false;
                if self.tripped.is_some() {
                    let idx = idx as usize;
                    self.kill_unsent = Some(self.kill_unsent.map_or(idx, |u| u.min(idx)));
                }
            }
        }
    }

    /// Puts the orders whose kill cancel was not sent back into the sweep
    /// (the caller's timer: a session that could not send may by now).
    /// Returns whether there were any.
    pub fn retry_unsent_kill_cancels(&mut self) -> bool {
        match self.kill_unsent.take() {
            Some(idx) if self.tripped.is_some() => {
                self.kill_cursor = self.kill_cursor.min(idx);
                true
            }
            _ => false,
        }
    }

    /// Sets the price used to value `locate`'s position for the credit limit
    /// (fills set it to the fill price). A price of 0 or below is no mark
    /// (it would shrink the credit used) and is ignored.
    pub fn set_mark(&mut self, locate: StockLocate, price: Price) {
        if price.0 <= 0 {
            return;
        }
        if let Some(sym) = self.symbols.get_mut(locate as usize) {
            let old = sym.position_notional();
            sym.mark = price.0;
            self.room.credit -= sym.position_notional() - old;
            self.room.sync();
        }
    }

    /// Realized + unrealized PnL of the day (price4 units), as the OMS
    /// computes it. A loss beyond `max_daily_loss` trips the kill switch.
    pub fn on_pnl(&mut self, total_pnl: i64) {
        self.last_pnl = total_pnl;
        if self.loss_breached() {
            self.trip(TripCause::DailyLoss);
        }
    }

    fn loss_breached(&self) -> bool {
        (self.last_pnl as i128) < -(self.limits.max_daily_loss as i128)
    }

    /// Off the accept path: kept out of `check` so that its code (the
    /// reject-rate window, the trip) does not weigh on the registers of
    /// the path every accepted order takes.
    #[cold]
    #[inline(never)]
    fn count_reject(&mut self, reason: RejectReason, now: Nanos) {
        if let Some(c) = self.reject_counts.get_mut(reason.index()) {
            *c += 1;
        }
        if matches!(
            reason,
            RejectReason::KillSwitch | RejectReason::TradingClosed
        ) {
            return;
        }
        if let Some(t) = self.limits.reject_rate {
            let trips = self.reject_window.would_exceed(&t, now.0);
            self.reject_window.record(now.0);
            if trips {
                self.trip(TripCause::RejectRate);
            }
        } else {
            self.reject_window.record(now.0);
        }
    }

    // ------------------------------------------------------------ kill switch

    /// Trips the kill switch: new orders and replaces are refused until
    /// [`RiskEngine::rearm`]; cancels still pass. Collect the cancels for
    /// every open order with [`RiskEngine::kill_cancels`].
    pub fn trip(&mut self, cause: TripCause) {
        if self.tripped.is_none() {
            self.tripped = Some(cause);
            self.trips += 1;
            self.kill_cursor = 0;
        }
    }

    pub fn tripped(&self) -> Option<TripCause> {
        self.tripped
    }

    /// Writes a cancel intent for each open order not already being
    /// canceled into `out`; returns how many. Call until it returns 0 (each
    /// order appears once per trip, and again after the venue refuses its
    /// cancel: an order replaced while the kill's cancel was on its way is
    /// then canceled under its new ClOrdID). Submit the cancels through
    /// [`RiskEngine::check`] like any other: they pass while tripped.
    pub fn kill_cancels(&mut self, out: &mut [OrderIntent]) -> usize {
        if self.tripped.is_none() {
            return 0;
        }
        let mut n = 0;
        while n < out.len() {
            let Some(o) = self.orders.get(self.kill_cursor) else {
                break;
            };
            self.kill_cursor += 1;
            if o.live && !o.pending_cancel && o.kill_refusals < KILL_CANCEL_ATTEMPTS {
                if let Some(slot) = out.get_mut(n) {
                    *slot = OrderIntent::Cancel {
                        strategy: StrategyId(o.strategy as u16),
                        order: OrderId(o.id),
                    };
                    n += 1;
                }
            }
        }
        n
    }

    /// True while the kill switch is engaged and [`RiskEngine::kill_cancels`]
    /// has cancels to give (a test of one field when the switch is not
    /// engaged: callers ask after every input).
    #[inline]
    pub fn kill_cancels_due(&self) -> bool {
        self.tripped.is_some() && self.kill_cursor < self.orders.len()
    }

    /// Orders the kill switch gave up on: the venue refused
    /// [`KILL_CANCEL_ATTEMPTS`] cancels of each, and they are still open.
    pub fn kill_abandoned(&self) -> usize {
        self.orders
            .iter()
            .filter(|o| o.live && o.kill_refusals >= KILL_CANCEL_ATTEMPTS)
            .count()
    }

    /// The daily loss still exceeds `max_daily_loss` (a re-arm would be refused).
    pub fn daily_loss_breached(&self) -> bool {
        self.loss_breached()
    }

    /// Re-arms a tripped kill switch (an explicit operator command). Clears
    /// the reject-rate window so old rejects cannot trip it again at once.
    pub fn rearm(&mut self) -> Result<(), RearmError> {
        if self.tripped.is_none() {
            return Err(RearmError::NotTripped);
        }
        if self.loss_breached() {
            return Err(RearmError::LossStillBreached);
        }
        self.tripped = None;
        self.kill_unsent = None;
        self.reject_window.clear();
        // The next trip counts its own refusals (an operator action: the
        // scan is not on any order's path).
        for o in self.orders.iter_mut() {
            o.kill_refusals = 0;
        }
        Ok(())
    }

    // ------------------------------------------------------------- inspection

    pub fn reject_count(&self, reason: RejectReason) -> u64 {
        self.reject_counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// Events naming an order risk does not track (late, duplicated or foreign).
    pub fn unknown_events(&self) -> u64 {
        self.unknown_events
    }

    pub fn trips(&self) -> u64 {
        self.trips
    }

    pub fn position(&self, locate: StockLocate) -> i64 {
        self.symbols.get(locate as usize).map_or(0, |s| s.position)
    }

    /// Open (entered, not yet filled or canceled) buy and sell shares in `locate`.
    pub fn open_qty(&self, locate: StockLocate) -> (u64, u64) {
        self.symbols
            .get(locate as usize)
            .map_or((0, 0), |s| (s.open[BUY], s.open[SELL]))
    }

    pub fn open_orders(&self) -> u32 {
        self.open_orders
    }

    pub fn net_position(&self) -> i64 {
        self.net_position
    }

    /// Σ over symbols of the worst-case absolute position (shares).
    pub fn gross_exposure(&self) -> i128 {
        self.limits.max_gross_position as i128 - self.room.settled().gross
    }

    /// Open-order notional plus position notional (price4 units).
    /// Shares and notional (price4 units) the `entered_volume` limit counts
    /// now: what was entered within its window, and possibly what was
    /// entered up to a seventh of a window before (see [`VolumeLimit`]).
    pub fn entered_volume(&self) -> (u64, u64) {
        self.volume.entered()
    }

    pub fn credit_used(&self) -> i128 {
        self.limits.credit_limit as i128 - self.room.settled().credit
    }

    /// Is `order` tracked as open?
    pub fn is_open(&self, order: OrderRef) -> bool {
        self.held(order).is_some()
    }

    /// Is an order of this id tracked as open, at whatever slot? A scan of
    /// the whole order table, for tests and diagnostics that know only the
    /// id (the order path names orders by [`OrderRef`]).
    pub fn holds_id(&self, order: OrderId) -> bool {
        self.orders.iter().any(|o| o.live && o.id == order.0)
    }
}

/// Restricted list, size, notional, collar and self-match: the checks that
/// depend only on the order's own terms (`price > 0`) and our resting
/// orders. Returns the order's notional (`price × qty`, which passed
/// `max_notional` and so fits a u64).
#[inline(always)]
fn check_terms(
    rule: &Rule,
    sym: &SymbolState,
    side: Side,
    price: i64,
    qty: u32,
    reference: Option<Price>,
) -> Result<u64, RejectReason> {
    // Restricted list and size, and a zero quantity (caught here rather
    // than with the other invalid terms: nothing between them refuses).
    if qty.wrapping_sub(1) >= rule.qty_cap {
        return Err(qty_refusal(rule, qty));
    }
    // A signed 64-bit product (one `imul` and its overflow flag) below
    // 2^63; the unsigned one off the path, beyond u64 beyond every limit.
    let notional = match price.checked_mul(qty as i64) {
        Some(n) => n as u64,
        None => notional_wide(price, qty)?,
    };
    if notional > rule.max_notional {
        refuse!(MaxNotional);
    }
    // None reads as 0: one test of the value for both. Without a collar
    // every reference passes, and the collars below cannot refuse (a tick
    // span of `u64::MAX`, a bps scale of 0), so no flag is tested.
    let reference = reference.map_or(0, |r| r.0);
    if reference < rule.min_reference {
        refuse!(NoReferencePrice);
    }
    let reference = reference as u64;
    // With a collar both are positive: the difference fits a u64 and
    // ×10,000 a u128.
    let diff = (price as u64).abs_diff(reference);
    if beyond_bps(diff, reference, rule) {
        refuse!(PriceCollar);
    }
    if diff > rule.tick_span {
        refuse!(PriceCollar);
    }
    if crosses_own(side, price, sym.own_bid, sym.own_ask) {
        refuse!(SelfMatch);
    }
    Ok(notional)
}

/// Would an order on `side` at `price` trade with our own best bid or ask?
#[inline(always)]
fn crosses_own(side: Side, price: i64, own_bid: i64, own_ask: i64) -> bool {
    match side {
        Side::Buy => price >= own_ask,
        Side::Sell => price <= own_bid,
    }
}

/// Our best own (bid, ask) among the open orders of the symbol list that
/// starts at `head` (at their most aggressive terms, a replace in flight
/// included), leaving out order `skip`, and counting only orders at
/// `venue` when one is given; `(i64::MIN, i64::MAX)` for none.
fn own_best(orders: &[OrderSlot], head: u32, skip: u32, venue: Option<u8>) -> (i64, i64) {
    let (mut bid, mut ask) = (i64::MIN, i64::MAX);
    let mut cur = head;
    // A list longer than the table would be a broken link: stop there.
    for _ in 0..orders.len() {
        let Some(o) = orders.get(cur as usize) else {
            break;
        };
        if cur != skip && o.live && venue.is_none_or(|v| o.venue == v) {
            let p = o.exposure().match_price;
            match o.side {
                Side::Buy => bid = bid.max(p),
                Side::Sell => ask = ask.min(p),
            }
        }
        cur = o.next;
    }
    (bid, ask)
}

/// [`check_terms`] with the self-match judged in its scope: `scope` is
/// (the limits in force, our orders, the venue the order goes to), read
/// only off the path.
// The box by reference, not the slice: its address costs nothing, where
// the slice's pointer and length would be loaded on the path, to be used
// only off it.
#[allow(clippy::borrowed_box)]
#[inline(always)]
fn check_terms_in_scope(
    rule: &Rule,
    sym: &SymbolState,
    side: Side,
    price: i64,
    qty: u32,
    reference: Option<Price>,
    (limits, orders, venue): (&Limits, &Box<[OrderSlot]>, u8),
) -> Result<u64, RejectReason> {
    match check_terms(rule, sym, side, price, qty, reference) {
        Ok(notional) => Ok(notional),
        // Off the path: a refusal, or a self-match judged at the venue.
        Err(reason) => scoped_self_match(
            reason,
            limits.self_match,
            orders,
            sym.head,
            side,
            price,
            qty,
            venue,
        ),
    }
}

/// After [`check_terms`] refused an order with `reason`: under
/// [`SelfMatchScope::Venue`] a [`RejectReason::SelfMatch`] (judged there
/// against our orders at every venue) stands only if one of our open
/// orders on the other side, at `venue`, crosses `price` (at its most
/// aggressive terms, a replace in flight included; the walk of the
/// symbol's open orders runs only for an order that crosses one of ours
/// somewhere). Then the order
/// passes [`check_terms`], whose self-match test is its last: its notional
/// (which passed `max_notional`) is returned. Any other refusal stands.
#[cold]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn scoped_self_match(
    reason: RejectReason,
    scope: SelfMatchScope,
    orders: &[OrderSlot],
    head: u32,
    side: Side,
    price: i64,
    qty: u32,
    venue: u8,
) -> Result<u64, RejectReason> {
    if reason != RejectReason::SelfMatch || scope != SelfMatchScope::Venue {
        return Err(reason);
    }
    let (bid, ask) = own_best(orders, head, NIL, Some(venue));
    if crosses_own(side, price, bid, ask) {
        return Err(RejectReason::SelfMatch);
    }
    // price > 0 and price × qty ≤ max_notional, a u64.
    Ok((price as u64).saturating_mul(qty.into()))
}

/// `diff × bps_scale > bps × reference` (with a bps collar: `diff ×
/// 10,000 > bps × reference`; without one, never), exactly. With both below
/// 2^46 (some 7 billion in price4 units, so every real price) both
/// products fit 64 bits: `bps` is at most 100,000, below 2^17
/// (`Limits::validate`, which every installed limit passes); beyond, the
/// 128-bit form off the path.
#[inline(always)]
fn beyond_bps(diff: u64, reference: u64, rule: &Rule) -> bool {
    if (diff | reference) >> 46 == 0 {
        diff * rule.bps_scale as u64 > rule.bps as u64 * reference
    } else {
        beyond_bps_wide(diff, reference, rule.bps.into(), rule.bps_scale.into())
    }
}

#[cold]
#[inline(never)]
fn beyond_bps_wide(diff: u64, reference: u64, bps: u64, scale: u64) -> bool {
    diff as u128 * scale as u128 > bps as u128 * reference as u128
}

/// `price × qty` from 2^63 (a positive price and a quantity the signed
/// product overflowed with): refused as beyond every `max_notional` when
/// it does not fit a u64.
#[cold]
#[inline(never)]
fn notional_wide(price: i64, qty: u32) -> Result<u64, RejectReason> {
    (price as u64)
        .checked_mul(qty as u64)
        .ok_or(RejectReason::MaxNotional)
}

/// Why `check_terms` refused a quantity of `qty` under `rule`: a zero
/// quantity is invalid whatever the symbol; then the restricted list, then
/// the size limit (the order in which they are judged).
#[cold]
#[inline(never)]
fn qty_refusal(rule: &Rule, qty: u32) -> RejectReason {
    if qty == 0 {
        RejectReason::InvalidOrder
    } else if rule.restricted {
        RejectReason::RestrictedSymbol
    } else {
        RejectReason::MaxOrderQty
    }
}

/// 64-bit fingerprint of an order's duplicate key (never 0: 0 marks an
/// empty way). The strategy (below [`MAX_STRATEGIES`]), locate, side and
/// quantity pack into one word without loss; that word times an odd
/// constant, xor the price, times another odd constant: two keys share a
/// fingerprint only if they agree after the xor (the multiplications are
/// one-to-one), and the top bits, which pick the bucket, depend on every
/// bit of both, so orders differing in one field spread over the table.
#[inline(always)]
fn dup_fingerprint(
    strategy: usize,
    locate: StockLocate,
    side: Side,
    price: Price,
    qty: u32,
) -> u64 {
    const _: () = assert!(MAX_STRATEGIES <= 1 << 6, "strategy gets 6 bits");
    let side = match side {
        Side::Buy => 0u64,
        Side::Sell => 1u64,
    };
    let key = qty as u64 | (locate as u64) << 32 | (strategy as u64 & 63) << 48 | side << 54;
    let mixed = key.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ price.0 as u64;
    mixed.wrapping_mul(0xBF58_476D_1CE4_E5B9) | 1
}

#[cfg(test)]
mod tests;
