//! Order management: the order state machine, ClOrdIDs, positions and PnL.
//!
//! The OMS is the single door between strategies and venues. Intents come in
//! through [`Oms::submit`], which gives each order its id, runs pre-trade
//! risk and returns the [`Outbound`] message for the FIX encoder; execution
//! reports come back through [`Oms::on_exec_report`], which moves the order
//! through its states, keeps positions and PnL, feeds risk and returns the
//! [`OrderEvent`] for the owning strategy.
//!
//! # Order states
//! ```text
//!  submit ─► PendingNew ─New─► New ─fill─► PartiallyFilled ─fill─► Filled
//!                │              │  ▲              │
//!              Rejected   cancel│  │replace ack   ├─ cancel ─► PendingCancel ─► Canceled
//!                               ▼  │              └─ replace ► PendingReplace ─► Replaced
//!                     PendingCancel/PendingReplace ──reject──► back to the working state
//!          Expired (ExecType Expired / DoneForDay) from any open state
//! ```
//! The working state is derived from the facts (acknowledged, cumulative
//! quantity, requests in flight) rather than stored, so reports arriving in
//! any order lead to the same state: a fill before the `New` acknowledgement
//! moves the order straight to `PartiallyFilled` (counted as out of order)
//! and the late `New` changes nothing. Fills are applied by cumulative
//! quantity, so a repeated fill is recognised and dropped, and a missed one
//! is caught up by the next.
//!
//! # ClOrdID scheme
//! Every message we originate (new, cancel, replace) gets a fresh
//! [`ClOrdId`]: a 20-bit **boot epoch** and a 42-bit **sequence**, written as
//! 12 upper-case base-36 characters (`0-9A-Z`, fixed width: 36^12 > 2^62).
//! The epoch comes from persisted state: at start the companion hands back
//! the last epoch used, the OMS takes the next one (the companion must
//! persist it before the first order goes out) and counts from 1. The
//! sequence's low 6 bits name the strategy the message is for, the rest
//! count: ids therefore never repeat across restarts while fewer than 2^20
//! boots and 2^36 messages per boot happen (19 hours at a million messages
//! a second). A fill of an earlier boot's order that reaches a new boot
//! without a journal record (a crash before it was written) still names
//! its strategy ([`ClOrdId::strategy`]).
//! An order's [`OrderId`] is the numeric value of the ClOrdID of its `New`;
//! it stays the same across replaces while the ClOrdID changes.
//!
//! # Money
//! Prices are price4 (1/10,000 currency). Positions keep an exact signed cost
//! (Σ quantity × price, price4·shares). Closing part of a position removes
//! cost in proportion, rounded toward zero; the rounding residue stays in the
//! cost and is realized when the position goes flat, so realized PnL is exact
//! over any round trip. PnL figures are price4·shares (divide by 10,000 for
//! currency). The average price shown is cost / quantity rounded half away
//! from zero. Unrealized PnL = position × mark − cost, with the mark set by
//! the last fill or by [`Oms::mark`].
//!
//! # Busts and corrections
//! A venue may bust (FIX 4.4 ExecType H, FIX 4.2 ExecTransType 1) or correct
//! (G, ExecTransType 2) an execution it reported, naming it by ExecRefID.
//! To undo one the OMS remembers recent executions in one global ring of
//! [`EXECUTIONS_PER_ORDER`] × `orders` entries, indexed by a 64-bit hash of
//! the ExecID ([`ExecKey`]): venue ExecIDs are strings of any length, and a
//! hash keeps the entry fixed-size; two ExecIDs that collide must also name
//! the same order to be confused. Each entry holds the order, the strategy,
//! the symbol and side, the quantity and price, and what the fill did to its
//! position (cost and realized PnL), so a bust takes exactly that back out:
//! exact when the busted fill is the symbol's latest (the usual case), and
//! otherwise exact for the position, the cost flow and total PnL, with the
//! split between realized and unrealized as the fill's own effect left it.
//! A correction is a bust of the old values and a fill of the new ones
//! (LastQty/LastPx); the correcting ExecID then names the trade, and the old
//! one leads to it. Busts and corrections are remembered by their own
//! ExecID, so a repeat (a resend, PossDup or not) is counted as a duplicate
//! and not applied twice, and so is a bust of a fill already busted; a fill
//! whose ExecID is remembered for its order is a duplicate too (a resend of
//! a busted fill would otherwise pass the cumulative-quantity test).
//! The ring overwrites its oldest entry when full: a bust or correction of
//! an execution no longer (or never) remembered is not applied and is
//! counted in [`OmsStats::unknown_exec_refs`] for the operator to reconcile.
//! The venue's CumQty and LeavesQty on the report are authoritative for the
//! order: an open order keeps working LeavesQty (done when 0 or when its
//! OrdStatus says so); a finished order stays finished — one the venue says
//! works again is counted in [`OmsStats::reopened_by_bust`] and not reopened
//! (its later fills still move the position: fills apply to finished orders).
//! Risk hears the position change ([`RiskEngine::on_fill_adjusted`]), the
//! order's open quantity and the new PnL (a correction can trip the daily
//! loss limit like a fill); the strategy hears [`OrderEvent::FillAdjusted`].
//!
//! # Memory
//! The order table, the ClOrdID map, the execution ring and the per-symbol
//! position table are allocated once in [`Oms::new`] (`alloc` at start-up
//! only).

use alloc::boxed::Box;
use alloc::vec;

use risk::{CheckContext, Fill, IdMap, OrderRef, RiskEngine, RiskSlot};
use types::{
    Nanos, OrderEvent, OrderId, OrderIntent, Price, RejectReason, Side, StockLocate, StrategyId,
    Symbol, TimeInForce, VenueId,
};

// ------------------------------------------------------------------ ClOrdID

/// Characters of an encoded [`ClOrdId`].
pub const CL_ORD_ID_LEN: usize = 12;
const EPOCH_BITS: u32 = 20;
const SEQ_BITS: u32 = 42;
const _: () = assert!(
    36u128.pow(CL_ORD_ID_LEN as u32) >= 1 << (EPOCH_BITS + SEQ_BITS),
    "every id fits the text"
);
/// Largest boot epoch.
pub const MAX_EPOCH: u32 = (1 << EPOCH_BITS) - 1;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;
/// Low bits of the sequence that name the strategy.
const STRATEGY_BITS: u32 = 6;
const _: () = assert!(1 << STRATEGY_BITS == risk::MAX_STRATEGIES);
/// Messages one boot can originate.
const MAX_COUNT: u64 = SEQ_MASK >> STRATEGY_BITS;
const DIGITS: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
/// Every two-digit base-36 number, `00` to `ZZ`.
const DIGIT_PAIRS: [[u8; 2]; 36 * 36] = {
    let mut pairs = [[0u8; 2]; 36 * 36];
    let mut i = 0;
    while i < 36 * 36 {
        pairs[i] = [DIGITS[i / 36], DIGITS[i % 36]];
        i += 1;
    }
    pairs
};

/// The boot epoch to count from when no journal handed one back
/// ([`OmsConfig::last_epoch`]): boots without a journal would otherwise all
/// use epoch 1 and reissue the last boot's ClOrdIDs, which a venue's late
/// report could then match. The top half of the epoch range is taken from
/// the wall clock in seconds (`utc_ns`: nanoseconds since the Unix epoch),
/// so a boot in another second gets another epoch, wrapping after 2^19 − 1
/// seconds (about six days, longer than a venue keeps ClOrdIDs); epochs
/// counted up from a journal's start at 1 stay in the bottom half while
/// fewer than 2^19 journaled boots happen. The OMS takes the epoch after
/// this one, which is at most [`MAX_EPOCH`].
pub const fn epoch_from_clock(utc_ns: u64) -> u32 {
    const HALF: u64 = 1 << (EPOCH_BITS - 1);
    const _: () = assert!(2 * HALF - 2 < MAX_EPOCH as u64);
    (HALF + (utc_ns / 1_000_000_000) % (HALF - 1)) as u32
}

/// Our client order id: `epoch << 42 | count << 6 | strategy` (see the
/// module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClOrdId(pub u64);

impl ClOrdId {
    pub const fn new(epoch: u32, seq: u64) -> ClOrdId {
        ClOrdId(((epoch as u64) << SEQ_BITS) | (seq & SEQ_MASK))
    }

    pub const fn epoch(self) -> u32 {
        (self.0 >> SEQ_BITS) as u32
    }

    pub const fn seq(self) -> u64 {
        self.0 & SEQ_MASK
    }

    /// The id of the `count`th message (from 1) the OMS originates in boot
    /// `epoch`, for `strategy`; `None` for a strategy beyond
    /// [`risk::MAX_STRATEGIES`] or a count beyond what the sequence holds.
    pub const fn issued(epoch: u32, count: u64, strategy: StrategyId) -> Option<ClOrdId> {
        if strategy.0 as usize >= risk::MAX_STRATEGIES || count > MAX_COUNT {
            return None;
        }
        Some(ClOrdId::new(
            epoch,
            count << STRATEGY_BITS | strategy.0 as u64,
        ))
    }

    /// The strategy an id [`ClOrdId::issued`] was issued for.
    pub const fn strategy(self) -> StrategyId {
        StrategyId((self.0 & ((1 << STRATEGY_BITS) - 1)) as u16)
    }

    /// Fixed-width base-36 text for tag 11/41 (of the value modulo 36^12:
    /// every id the OMS issues is below 2^62, which fits).
    ///
    /// On every order's path: two halves of six digits, each in 32-bit
    /// arithmetic, two digits per step from a table (six divisions by a
    /// constant instead of twelve 64-bit ones).
    pub fn encode(self) -> [u8; CL_ORD_ID_LEN] {
        const HALF: u64 = 36u64.pow(6);
        let v = self.0 % (HALF * HALF);
        // Both below 36^6 < 2^32.
        let halves = [(v / HALF) as u32, (v % HALF) as u32];
        let mut out = [b'0'; CL_ORD_ID_LEN];
        for (chunk, half) in out.chunks_exact_mut(6).zip(halves) {
            let mut h = half;
            for pair in chunk.chunks_exact_mut(2).rev() {
                pair.copy_from_slice(&DIGIT_PAIRS[(h % 1296) as usize]);
                h /= 1296;
            }
        }
        out
    }

    /// Parses text produced by [`ClOrdId::encode`]; `None` for anything else
    /// (wrong length, lower case, other characters, out of range), which is
    /// how ClOrdIDs not issued by this OMS are recognised.
    pub fn parse(text: &[u8]) -> Option<ClOrdId> {
        if text.len() != CL_ORD_ID_LEN {
            return None;
        }
        let mut v: u64 = 0;
        for &c in text {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'A'..=b'Z' => c - b'A' + 10,
                _ => return None,
            };
            v = v.checked_mul(36)?.checked_add(d as u64)?;
        }
        if v >> (EPOCH_BITS + SEQ_BITS) != 0 {
            return None;
        }
        Some(ClOrdId(v))
    }
}

// ------------------------------------------------------------ exec reports

// -------------------------------------------------------------- ExecIDs

/// A venue's ExecID (tag 17/19) as the OMS remembers it: a 64-bit hash of
/// its bytes (FNV-1a with a final mix), never 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExecKey(pub core::num::NonZeroU64);

impl ExecKey {
    /// The key of ExecID `text`; `None` for an empty one.
    pub fn of(text: &[u8]) -> Option<ExecKey> {
        if text.is_empty() {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for &b in text {
            h ^= b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Length and a final avalanche, so short ids spread over all bits.
        h ^= text.len() as u64;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        core::num::NonZeroU64::new(h)
            .or(core::num::NonZeroU64::new(1))
            .map(ExecKey)
    }

    const fn get(self) -> u64 {
        self.0.get()
    }
}

/// A bust (`qty` 0) or correction of one of our executions, as applied
/// ([`Oms::take_adjustment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillAdjustment {
    pub order: OrderId,
    /// `None` for an earlier boot's execution (its strategy is not known).
    pub strategy: Option<StrategyId>,
    /// The bust's or correction's own ExecID, and the ExecID of the
    /// execution it adjusts (ExecRefID): a journal keeps both, so a restart
    /// knows what was taken back.
    pub exec: Option<ExecKey>,
    pub of: Option<ExecKey>,
    pub locate: StockLocate,
    /// The execution's side.
    pub side: Side,
    pub was_qty: u32,
    pub was_price: Price,
    /// 0 for a bust.
    pub qty: u32,
    pub price: Price,
}

impl FillAdjustment {
    /// The adjustment as fills (side, quantity, price) for a journal that
    /// records fills only: the old execution taken back by an opposite one
    /// at its price, then the corrected one, if any. Replayed through
    /// [`Oms::restore_fill`] they give the position and the total PnL the
    /// adjustment gave (the cash each moves is exactly the old
    /// execution's, then the new one's); the split between realized and
    /// unrealized is the replay's own.
    pub fn as_fills(&self) -> [Option<(Side, u32, Price)>; 2] {
        [
            (self.was_qty > 0).then_some((self.side.opposite(), self.was_qty, self.was_price)),
            (self.qty > 0).then_some((self.side, self.qty, self.price)),
        ]
    }
}

/// What [`Oms::order_named`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NamedOrder {
    pub order: OrderId,
    pub venue: VenueId,
    /// Its limit price now.
    pub price: Price,
    pub strategy: StrategyId,
}

/// A fill of an earlier boot's order: one on the books (the journal handed
/// it back), which [`Oms::remember_journaled`] keeps so that a resend of its
/// report is known and a bust or correction of it after the restart can
/// take it back; or one a venue reported that is not on the books yet
/// ([`Oms::earlier_fill`]), with the venue that reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournaledFill {
    pub venue: VenueId,
    pub cl_ord_id: ClOrdId,
    pub exec: ExecKey,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: u32,
    pub price: Price,
}

/// What the OMS keeps of an execution of an earlier boot's order, by
/// [`journaled_key`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Earlier {
    /// A fill on the books, with its ExecID and terms.
    Fill {
        exec: ExecKey,
        symbol: Symbol,
        side: Side,
        qty: u32,
        price: Price,
    },
    /// A fill a bust or correction took back: the adjustment's own key
    /// (a correction's leads to its fill; 0 when it had no ExecID).
    TakenBack(u64),
    /// A bust's own report (nothing of it to take back).
    Bust,
}

/// A bust or correction of an earlier boot's fill that is on the books
/// (see [`Oms::earlier_adjustment`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EarlierAdjustment {
    pub venue: VenueId,
    pub cl_ord_id: ClOrdId,
    /// The adjustment's own ExecID.
    pub exec: Option<ExecKey>,
    /// The entry it takes back, and that execution's ExecID (where
    /// corrections led, which may not be the ExecRefID).
    of: u64,
    pub of_exec: ExecKey,
    pub symbol: Symbol,
    pub side: Side,
    pub was_qty: u32,
    pub was_price: Price,
    /// 0 for a bust.
    pub qty: u32,
    pub price: Price,
}

/// An execution of an earlier boot's order, as [`Oms::remember_journaled`]
/// keeps it: its ExecID's hash mixed with the venue and the order's boot
/// epoch. A venue keeps its ExecIDs unique within a day at least, and one
/// boot trades one day, so neither a counter-style ExecID of another day
/// (another boot) nor the same text from another venue matches.
fn journaled_key(venue: VenueId, cl_ord_id: ClOrdId, exec: ExecKey) -> u64 {
    let context = u64::from(cl_ord_id.epoch()) << 8 | u64::from(venue.0);
    exec.get() ^ context.wrapping_mul(0xD6E8_FEB8_6659_FD93)
}

/// An execution of this boot as the execution ring remembers it: its
/// ExecID's hash mixed with the venue that reported it (none for reports
/// that name no venue). A venue keeps its ExecIDs unique, but not across
/// venues: two venues that number their executions alike must not name
/// each other's fills, or a bust from one would undo the other's.
fn venue_key(venue: Option<VenueId>, exec: ExecKey) -> u64 {
    let context = venue.map_or(0, |v| u64::from(v.0) + 1);
    match exec.get() ^ context.wrapping_mul(0x9E37_79B9_7F4A_7C15) {
        // 0 marks an empty entry.
        0 => 1,
        key => key,
    }
}

/// What an execution report says happened (FIX tag 150, plus the two
/// answers of an OrderCancelReject, 35=9, told apart by CxlRejResponseTo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecType {
    PendingNew,
    New,
    /// FIX 4.2 ExecType 1.
    PartialFill,
    /// FIX 4.2 ExecType 2.
    Fill,
    /// FIX 4.4 ExecType F (partial or full, told apart by leaves).
    Trade,
    PendingCancel,
    Canceled,
    PendingReplace,
    Replaced,
    Rejected,
    Expired,
    DoneForDay,
    /// OrderCancelReject answering a cancel request.
    CancelRejected,
    /// OrderCancelReject answering a cancel/replace request.
    ReplaceRejected,
    /// A bust of the execution `exec_ref_id` names (FIX 4.4 ExecType H,
    /// FIX 4.2 ExecTransType 1).
    TradeCancel,
    /// A correction of the execution `exec_ref_id` names to `last_qty` at
    /// `last_px` (FIX 4.4 ExecType G, FIX 4.2 ExecTransType 2).
    TradeCorrect,
    /// Anything else (restatements, order status): counted and ignored.
    Other,
}

/// Order state as the OMS sees it (FIX OrdStatus values we act on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderState {
    PendingNew,
    New,
    PartiallyFilled,
    Filled,
    PendingCancel,
    Canceled,
    PendingReplace,
    /// Working under terms changed by an acknowledged replace, no fill since.
    Replaced,
    Rejected,
    Expired,
}

impl OrderState {
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled | OrderState::Canceled | OrderState::Rejected | OrderState::Expired
        )
    }
}

/// An execution report, independent of FIX text. The FIX codec maps tags
/// onto it: 11 → `cl_ord_id`, 41 → `orig_cl_ord_id`, 150 → `exec_type`,
/// 39 → `ord_status`, 32/31 → `last_qty`/`last_px`, 151 → `leaves_qty`,
/// 14 → `cum_qty`, 44/38 → `price`/`order_qty`, 60 → `transact_time`,
/// 17/19 → `exec_id`/`exec_ref_id` (as [`ExecKey`]s), 54/55 → `side`/
/// `symbol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecReport {
    /// `None` when the text is not a ClOrdID this OMS issued.
    pub cl_ord_id: Option<ClOrdId>,
    pub orig_cl_ord_id: Option<ClOrdId>,
    pub exec_type: ExecType,
    /// The venue's view; informational (the OMS derives its own state).
    pub ord_status: Option<OrderState>,
    pub last_qty: u32,
    pub last_px: Price,
    pub leaves_qty: u32,
    pub cum_qty: u32,
    /// Order price after a replace (`Price::ZERO` when absent).
    pub price: Price,
    /// Order quantity after a replace (0 when absent).
    pub order_qty: u32,
    pub transact_time: Nanos,
    /// ExecID(17); `None` when absent.
    pub exec_id: Option<ExecKey>,
    /// ExecRefID(19): the execution a bust or correction refers to.
    pub exec_ref_id: Option<ExecKey>,
    /// Side(54) and Symbol(55) as the venue states them. The OMS takes an
    /// order's own from its record; these matter only for a fill of an
    /// order it no longer has (see [`Oms::earlier_fill`]).
    pub side: Option<Side>,
    pub symbol: Option<Symbol>,
    /// The venue whose session delivered it, where the caller says (the
    /// FIX text does not): venues number their ExecIDs independently, so
    /// only an earlier boot's fill is told apart by it.
    pub venue: Option<VenueId>,
}

impl ExecReport {
    /// A report of `exec_type` for `cl_ord_id` with every other field empty.
    pub const fn new(cl_ord_id: ClOrdId, exec_type: ExecType) -> ExecReport {
        ExecReport {
            cl_ord_id: Some(cl_ord_id),
            orig_cl_ord_id: None,
            exec_type,
            ord_status: None,
            last_qty: 0,
            last_px: Price::ZERO,
            leaves_qty: 0,
            cum_qty: 0,
            price: Price::ZERO,
            order_qty: 0,
            transact_time: Nanos(0),
            exec_id: None,
            exec_ref_id: None,
            side: None,
            symbol: None,
            venue: None,
        }
    }
}

// ----------------------------------------------------------------- outbound

/// A message for the venue, produced by [`Oms::submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outbound {
    New {
        order: OrderId,
        cl_ord_id: ClOrdId,
        venue: VenueId,
        locate: StockLocate,
        symbol: Symbol,
        side: Side,
        price: Price,
        qty: u32,
        tif: TimeInForce,
    },
    Cancel {
        order: OrderId,
        cl_ord_id: ClOrdId,
        orig_cl_ord_id: ClOrdId,
        venue: VenueId,
        symbol: Symbol,
        side: Side,
        qty: u32,
    },
    Replace {
        order: OrderId,
        cl_ord_id: ClOrdId,
        orig_cl_ord_id: ClOrdId,
        venue: VenueId,
        symbol: Symbol,
        side: Side,
        price: Price,
        qty: u32,
        tif: TimeInForce,
    },
    /// Cancel every order of ours at `venue` (OrderMassCancelRequest, all
    /// orders of the session), produced by [`Oms::mass_cancel`] for the
    /// kill switch at venues that support it. No order changes state on
    /// sending it: the venue's execution reports cancel each order.
    MassCancel { cl_ord_id: ClOrdId, venue: VenueId },
}

impl Outbound {
    /// The venue the message goes to.
    pub fn venue(&self) -> VenueId {
        match *self {
            Outbound::New { venue, .. }
            | Outbound::Cancel { venue, .. }
            | Outbound::Replace { venue, .. }
            | Outbound::MassCancel { venue, .. } => venue,
        }
    }
}

// ------------------------------------------------------------------- tables

/// An open order as [`Oms::open_orders`] shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOrderView {
    pub id: OrderId,
    pub strategy: StrategyId,
    pub venue: VenueId,
    pub locate: StockLocate,
    pub symbol: Symbol,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
    pub leaves: u32,
    pub entered: Nanos,
}

/// ClOrdIDs an order may be mapped under at once (see `OrderRecord::ids`).
const IDS_PER_ORDER: usize = 5;

/// Free slots [`Oms::tidy`] keeps ready: enough for the orders of one turn
/// of the loop (a strategy's burst, or a split's children).
pub const SPARE_SLOTS: usize = 8;

/// Executions remembered per order slot, for busts and corrections (see
/// the module docs): the ring holds `EXECUTIONS_PER_ORDER × orders`.
pub const EXECUTIONS_PER_ORDER: usize = 4;

/// Corrections of corrections followed from an ExecRefID to the trade.
const MAX_CORRECTION_CHAIN: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq)]
enum ExecState {
    /// Counted in the position.
    Live,
    /// Taken out by a bust.
    Busted,
    /// Replaced by the correction remembered under this key.
    Corrected(u64),
    /// The ExecID of a bust report (kept to recognise its repeats).
    BustReport,
}

/// One remembered execution (see the module docs).
#[derive(Clone, Copy)]
struct Execution {
    /// `ExecKey` of its ExecID; 0 for an empty entry.
    key: u64,
    order: OrderId,
    strategy: StrategyId,
    locate: StockLocate,
    side: Side,
    state: ExecState,
    qty: u32,
    price: Price,
    /// What the fill added to its position's cost and realized PnL.
    d_cost: i128,
    d_realized: i128,
}

impl Execution {
    const EMPTY: Execution = Execution {
        key: 0,
        order: OrderId(0),
        strategy: StrategyId(0),
        locate: 0,
        side: Side::Buy,
        state: ExecState::BustReport,
        qty: 0,
        price: Price::ZERO,
        d_cost: 0,
        d_realized: 0,
    };
}

#[derive(Clone, Copy)]
struct OrderRecord {
    id: OrderId,
    /// ClOrdID the venue currently knows the order by.
    current: ClOrdId,
    /// The ClOrdID the last replace superseded, still mapped: a fill the
    /// venue made under it before the replace took effect may be reported
    /// late under it. (The order's first ClOrdID, its id, stays mapped for
    /// good.)
    previous: Option<ClOrdId>,
    /// Replace in flight: (ClOrdID, price, total qty).
    replace: Option<(ClOrdId, Price, u32)>,
    cancel: Option<ClOrdId>,
    strategy: StrategyId,
    venue: VenueId,
    locate: StockLocate,
    symbol: Symbol,
    side: Side,
    tif: TimeInForce,
    price: Price,
    qty: u32,
    cum_qty: u32,
    acked: bool,
    replaced: bool,
    terminal: Option<OrderState>,
    in_use: bool,
    /// When the order was submitted.
    entered: Nanos,
    /// Where risk holds the order (its check's answer): risk is told of
    /// the order's events by [`OrderRecord::risk_ref`].
    risk: RiskSlot,
}

/// A cancel of the order is in flight: another cancel, or a replace,
/// conflicts with it.
fn cancel_pending(r: &OrderRecord) -> bool {
    r.cancel.is_some()
}

impl OrderRecord {
    /// The order as risk knows it.
    fn risk_ref(&self) -> OrderRef {
        OrderRef::new(self.id, self.risk)
    }

    const EMPTY: OrderRecord = OrderRecord {
        id: OrderId(0),
        current: ClOrdId(0),
        previous: None,
        replace: None,
        cancel: None,
        strategy: StrategyId(0),
        venue: VenueId(0),
        locate: 0,
        symbol: Symbol([b' '; 8]),
        side: Side::Buy,
        tif: TimeInForce::Day,
        price: Price::ZERO,
        qty: 0,
        cum_qty: 0,
        acked: false,
        replaced: false,
        terminal: None,
        in_use: false,
        entered: Nanos(0),
        risk: RiskSlot::NONE,
    };

    /// The ClOrdID of the request in flight that a refusal of `kind`
    /// (`CancelRejected`, else a replace's) would answer.
    fn pending(&self, kind: ExecType) -> Option<ClOrdId> {
        match kind {
            ExecType::CancelRejected => self.cancel,
            _ => self.replace.map(|r| r.0),
        }
    }

    fn leaves(&self) -> u32 {
        if self.terminal.is_some() {
            0
        } else {
            self.qty.saturating_sub(self.cum_qty)
        }
    }

    fn state(&self) -> OrderState {
        if let Some(t) = self.terminal {
            return t;
        }
        if self.cancel.is_some() {
            OrderState::PendingCancel
        } else if self.replace.is_some() {
            OrderState::PendingReplace
        } else if self.replaced {
            OrderState::Replaced
        } else if self.cum_qty > 0 {
            OrderState::PartiallyFilled
        } else if self.acked {
            OrderState::New
        } else {
            OrderState::PendingNew
        }
    }

    /// Every ClOrdID the order may be mapped under, each once (the
    /// current one is the first until a replace).
    fn ids(&self) -> [Option<ClOrdId>; IDS_PER_ORDER] {
        let first = ClOrdId(self.id.0);
        [
            Some(first),
            (self.current != first).then_some(self.current),
            self.previous,
            self.replace.map(|r| r.0),
            self.cancel,
        ]
    }
}

/// A symbol's position and the open orders on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Shares; negative when short.
    pub qty: i64,
    /// Σ signed quantity × price of the open position (price4·shares).
    pub cost: i128,
    /// Realized PnL (price4·shares).
    pub realized: i128,
    /// Last fill or marked price.
    pub mark: Price,
    /// Open (leaves) quantity of our buy and sell orders.
    pub open_buy: u64,
    pub open_sell: u64,
    /// Σ leaves × price of open buys and sells (price4·shares).
    pub open_buy_notional: i128,
    pub open_sell_notional: i128,
}

impl Position {
    pub fn unrealized(&self) -> i128 {
        (self.qty as i128 * self.mark.0 as i128).saturating_sub(self.cost)
    }

    /// Average entry price, rounded half away from zero; `None` when flat.
    pub fn avg_price(&self) -> Option<Price> {
        if self.qty == 0 {
            return None;
        }
        let q = self.qty as i128;
        let twice = 2 * self.cost / q;
        let avg = (twice + twice.signum()) / 2;
        i64::try_from(avg).ok().map(Price)
    }
}

/// Why [`Oms::new`] refused its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OmsConfigError {
    /// The persisted epoch is the last one the ClOrdID scheme can encode.
    EpochExhausted,
    TooManySymbols,
}

/// Sizes and the persisted epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OmsConfig {
    /// Orders (open and recently finished) kept at once.
    pub orders: usize,
    /// Locates `0..symbols` (at most 65,536).
    pub symbols: usize,
    /// The epoch the previous boot used (0 on the very first boot).
    pub last_epoch: u32,
}

/// Counters for reports the OMS could not apply as they came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OmsStats {
    pub reports: u64,
    /// ClOrdID not ours or no longer in the table.
    pub unknown_cl_ord_id: u64,
    /// Reports from one venue naming an order of ours at another (a
    /// venue's bug): not applied, so no venue can finish, fill or reopen
    /// an order it does not hold.
    pub wrong_venue: u64,
    /// Reports that arrived before an earlier step (fill before New, ...).
    pub out_of_order: u64,
    /// Fills whose cumulative quantity we had already applied.
    pub duplicate_fills: u64,
    /// Fills whose cumulative quantity jumped past `last_qty` (a missed
    /// fill), and busts and corrections whose CumQty is not ours moved by
    /// the change.
    pub fill_gaps: u64,
    /// Non-fill reports for an order already finished.
    pub late_reports: u64,
    /// `ExecType::Other`.
    pub ignored: u64,
    /// Orders taken as cancelled because their venue's session dropped and
    /// the venue cancels on disconnect (see [`Oms::venue_lost`]).
    pub canceled_on_disconnect: u64,
    /// Messages [`Oms::submit`] returned that never reached the venue
    /// (see [`Oms::unsent`]).
    pub unsent: u64,
    /// Busts applied (FIX 4.4 ExecType H, FIX 4.2 ExecTransType 1).
    pub busts: u64,
    /// Corrections applied (ExecType G, ExecTransType 2).
    pub corrections: u64,
    /// Busts and corrections not applied because their ExecRefID names no
    /// execution remembered for the order (absent, never seen, too old for
    /// the ring, a bust's own id, or another order's): the position may
    /// still hold the execution — reconcile by hand.
    pub unknown_exec_refs: u64,
    /// Busts and corrections seen before (their own ExecID remembered) or
    /// of an execution already busted: not applied again.
    pub duplicate_adjustments: u64,
    /// Busts after which the venue says a finished order works again
    /// (LeavesQty > 0): the OMS keeps it finished (risk no longer counts
    /// it); its later fills still count.
    pub reopened_by_bust: u64,
    /// Fills of an earlier boot's orders applied from the venue's reports
    /// (see [`Oms::earlier_fill`]): the journal did not have them.
    pub earlier_fills_recovered: u64,
    /// Fills of an earlier boot's orders the journal had (or that were
    /// recovered already): not applied again.
    pub earlier_fills_known: u64,
    /// Fills of an earlier boot's orders that could not be applied: no
    /// ExecID, Side, Symbol or price on the report, or (counted by the
    /// caller's [`Oms::unplaced_earlier_fill`]) no locate to hold them.
    /// Reconcile by hand.
    pub earlier_fills_unusable: u64,
    /// Executions [`Oms::remember_journaled`] or a recovery could not
    /// remember (the table was full): a resend of one would apply again.
    pub journaled_table_full: u64,
}

/// The position after `at` in a ring of `len` (> `at`): a compare where
/// `%` would divide, on every order's path.
#[inline]
fn ring_next(at: usize, len: usize) -> usize {
    if at + 1 >= len {
        0
    } else {
        at + 1
    }
}

/// `at + n` in a ring of `len`, both below `len`.
#[inline]
fn ring_add(at: usize, n: usize, len: usize) -> usize {
    let sum = at + n;
    if sum >= len {
        sum - len
    } else {
        sum
    }
}

/// The order management system.
pub struct Oms {
    epoch: u32,
    next_seq: u64,
    orders: Box<[OrderRecord]>,
    free: Box<[u32]>,
    free_len: usize,
    /// Finished orders, oldest first, reclaimed only when (almost) no slot
    /// is free, so late reports still find them ([`Oms::tidy`] keeps
    /// [`SPARE_SLOTS`] free ahead of need).
    retired: Box<[u32]>,
    retired_head: usize,
    retired_len: usize,
    ids: IdMap,
    positions: Box<[Position]>,
    /// Recent executions (a ring, oldest overwritten) and their index by
    /// `ExecKey`.
    execs: Box<[Execution]>,
    exec_head: usize,
    exec_index: IdMap,
    /// Executions of earlier boots' orders that are on the books already
    /// (handed back by the journal, or recovered since), by
    /// [`journaled_key`].
    journaled: IdMap,
    /// The entries `journaled` indexes; `earlier_len` of them in use.
    earlier: Box<[Earlier]>,
    earlier_len: usize,
    /// Earlier boots' fills are recovered only from orders of this epoch
    /// on: the journal's records of older ones carry no ExecID to tell a
    /// resend of a journaled fill from a lost one.
    recover_from_epoch: u32,
    realized_total: i128,
    unrealized_total: i128,
    stats: OmsStats,
    /// The bust or correction the last report applied, until taken
    /// ([`Oms::take_adjustment`]).
    last_adjustment: Option<FillAdjustment>,
    reject_counts: [u64; RejectReason::ALL.len()],
}

impl Oms {
    /// Builds the OMS; the only allocation. The new epoch is
    /// `config.last_epoch + 1`: persist [`Oms::epoch`] before sending orders.
    pub fn new(config: OmsConfig) -> Result<Oms, OmsConfigError> {
        if config.last_epoch >= MAX_EPOCH {
            return Err(OmsConfigError::EpochExhausted);
        }
        if config.symbols > 1 << 16 {
            return Err(OmsConfigError::TooManySymbols);
        }
        let n = config.orders.max(1);
        Ok(Oms {
            epoch: config.last_epoch + 1,
            next_seq: 1,
            orders: vec![OrderRecord::EMPTY; n].into_boxed_slice(),
            free: (0..n as u32).rev().collect(),
            free_len: n,
            retired: vec![0; n].into_boxed_slice(),
            retired_head: 0,
            retired_len: 0,
            // Orig, current, replace and cancel ids of every order.
            ids: IdMap::new(IDS_PER_ORDER * n),
            positions: vec![Position::default(); config.symbols].into_boxed_slice(),
            execs: vec![Execution::EMPTY; EXECUTIONS_PER_ORDER * n].into_boxed_slice(),
            exec_head: 0,
            exec_index: IdMap::new(EXECUTIONS_PER_ORDER * n),
            journaled: IdMap::new(n),
            earlier: vec![Earlier::Bust; n].into_boxed_slice(),
            earlier_len: 0,
            recover_from_epoch: 0,
            realized_total: 0,
            unrealized_total: 0,
            stats: OmsStats::default(),
            last_adjustment: None,
            reject_counts: [0; RejectReason::ALL.len()],
        })
    }

    /// Orders still open at the venue (not terminal, something left), in
    /// slot order: for the companion's `orders` view.
    pub fn open_orders(&self) -> impl Iterator<Item = OpenOrderView> + '_ {
        self.orders
            .iter()
            .filter(|r| r.in_use && r.terminal.is_none() && r.leaves() > 0)
            .map(|r| OpenOrderView {
                id: r.id,
                strategy: r.strategy,
                venue: r.venue,
                locate: r.locate,
                symbol: r.symbol,
                side: r.side,
                price: r.price,
                qty: r.qty,
                leaves: r.leaves(),
                entered: r.entered,
            })
    }

    /// A fill from an earlier boot (the journal's hand-back): moves the
    /// position, its PnL and risk's view of them as the original fill did.
    pub fn restore_fill(
        &mut self,
        locate: StockLocate,
        side: Side,
        qty: u32,
        price: Price,
        risk: &mut RiskEngine,
    ) {
        self.apply_position(locate, side, qty, price);
        risk.restore_fill(&Fill {
            order: OrderRef::unheld(OrderId(0)),
            locate,
            side,
            qty,
            price,
        });
        risk.on_pnl(self.total_pnl_i64());
    }

    /// The bust or correction the last report applied, if it was one (once:
    /// taking it clears it). For a journal of fills, which holds it as
    /// [`FillAdjustment::as_fills`].
    pub fn take_adjustment(&mut self) -> Option<FillAdjustment> {
        self.last_adjustment.take()
    }

    /// A fill of an earlier boot's order that the journal handed back (and
    /// [`Oms::restore_fill`] applied): should the venue report it again,
    /// [`Oms::earlier_fill`] knows it is on the books, and a bust or
    /// correction of it can take it back ([`Oms::earlier_adjustment`]).
    /// Remembered again, its terms are replaced (a correction's fill
    /// follows the record of what it took back). `false` when the table
    /// (as many entries as orders) is full, counted in
    /// [`OmsStats::journaled_table_full`].
    pub fn remember_journaled(&mut self, fill: &JournaledFill) -> bool {
        self.keep_earlier(
            journaled_key(fill.venue, fill.cl_ord_id, fill.exec),
            Earlier::Fill {
                exec: fill.exec,
                symbol: fill.symbol,
                side: fill.side,
                qty: fill.qty,
                price: fill.price,
            },
        )
    }

    /// The journal handed back the record of a bust or correction (`exec`,
    /// its own ExecID) taking back execution `of` of `cl_ord_id`'s boot:
    /// that execution is no longer on the books, and a resend of the
    /// adjustment is known. (A correction's new fill comes as its own
    /// record, [`Oms::remember_journaled`] under `exec`.)
    pub fn journaled_adjustment(
        &mut self,
        venue: VenueId,
        cl_ord_id: ClOrdId,
        exec: Option<ExecKey>,
        of: ExecKey,
    ) {
        let own = exec.map(|e| journaled_key(venue, cl_ord_id, e));
        if let Some(own) = own {
            if self.journaled.get(own).is_none() {
                self.keep_earlier(own, Earlier::Bust);
            }
        }
        let taken = journaled_key(venue, cl_ord_id, of);
        if let Some(e) = self.earlier_entry(taken) {
            *e = Earlier::TakenBack(own.unwrap_or(0));
        }
    }

    /// Keeps `entry` under `key` (replacing what was there); `false` when
    /// the table is full.
    fn keep_earlier(&mut self, key: u64, entry: Earlier) -> bool {
        if let Some(e) = self.earlier_entry(key) {
            *e = entry;
            return true;
        }
        let at = self.earlier_len;
        let inserted = at < self.earlier.len()
            && u32::try_from(at).is_ok_and(|i| self.journaled.insert(key, i).is_ok());
        match self.earlier.get_mut(at).filter(|_| inserted) {
            Some(e) => {
                *e = entry;
                self.earlier_len += 1;
                true
            }
            None => {
                self.stats.journaled_table_full += 1;
                false
            }
        }
    }

    fn earlier_entry(&mut self, key: u64) -> Option<&mut Earlier> {
        let i = self.journaled.get(key)?;
        self.earlier.get_mut(i as usize)
    }

    /// The fill entry `key` leads to (through corrections), with its key.
    fn earlier_fill_at(&self, mut key: u64) -> Result<(u64, Earlier), Earlier> {
        for _ in 0..MAX_CORRECTION_CHAIN {
            let Some(&e) = self
                .journaled
                .get(key)
                .and_then(|i| self.earlier.get(i as usize))
            else {
                return Err(Earlier::TakenBack(0));
            };
            match e {
                Earlier::Fill { .. } => return Ok((key, e)),
                Earlier::TakenBack(next) if next != 0 => key = next,
                other => return Err(other),
            }
        }
        Err(Earlier::TakenBack(0))
    }

    /// The journal handed back a fill of `cl_ord_id` with no ExecID (a
    /// record from before they were kept): fills of that boot's orders and
    /// older ones are not recovered from the venue's reports, since a
    /// resend of that very fill could not be told apart. They are counted
    /// in [`OmsStats::earlier_fills_unusable`] instead.
    pub fn journaled_without_exec_id(&mut self, cl_ord_id: ClOrdId) {
        self.recover_from_epoch = self.recover_from_epoch.max(cl_ord_id.epoch() + 1);
    }

    /// A report of a fill of an order an earlier boot sent (its ClOrdID's
    /// epoch is below this boot's, and the OMS has no such order): what a
    /// venue resends after a crash, for the reports whose fills the journal
    /// may not hold — the boot that got them stopped before its journal
    /// record was written. [`Oms::on_exec_report`] cannot apply it (the
    /// order is gone); the caller finds the instrument's locate by the
    /// report's symbol and applies it with [`Oms::recover_fill`].
    ///
    /// `None` when the report is anything else, and when the execution is
    /// on the books already (journaled, or recovered before; counted in
    /// [`OmsStats::earlier_fills_known`]). A fill without the ExecID, Side,
    /// Symbol and price (LastPx, else Price) to apply it by is counted in
    /// [`OmsStats::earlier_fills_unusable`] and not applied.
    pub fn earlier_fill(&mut self, rep: &ExecReport) -> Option<JournaledFill> {
        if !matches!(
            rep.exec_type,
            ExecType::PartialFill | ExecType::Fill | ExecType::Trade
        ) || rep.last_qty == 0
        {
            return None;
        }
        let cl_ord_id = rep.cl_ord_id.or(rep.orig_cl_ord_id)?;
        let ours = |c: Option<ClOrdId>| c.is_some_and(|c| self.ids.get(c.0).is_some());
        if cl_ord_id.epoch() >= self.epoch || ours(rep.cl_ord_id) || ours(rep.orig_cl_ord_id) {
            return None;
        }
        let price = if rep.last_px.0 > 0 {
            rep.last_px
        } else {
            rep.price
        };
        let (Some(exec), Some(side), Some(symbol), true) = (
            rep.exec_id,
            rep.side,
            rep.symbol,
            price.0 > 0 && cl_ord_id.epoch() >= self.recover_from_epoch,
        ) else {
            self.stats.earlier_fills_unusable += 1;
            return None;
        };
        // The venue the report came from (its ExecIDs are its own); a
        // caller that does not say is taken as one venue, 0.
        let venue = rep.venue.unwrap_or(VenueId(0));
        if self
            .journaled
            .get(journaled_key(venue, cl_ord_id, exec))
            .is_some()
        {
            self.stats.earlier_fills_known += 1;
            return None;
        }
        Some(JournaledFill {
            venue,
            cl_ord_id,
            exec,
            symbol,
            side,
            qty: rep.last_qty,
            price,
        })
    }

    /// Applies a fill [`Oms::earlier_fill`] found, held under `locate` (the
    /// instrument's today): the position, its PnL and risk's view move as
    /// the original fill would have moved them, and the execution is
    /// remembered so a second report of it is not applied again.
    pub fn recover_fill(
        &mut self,
        fill: &JournaledFill,
        locate: StockLocate,
        risk: &mut RiskEngine,
    ) {
        self.remember_journaled(fill);
        self.restore_fill(locate, fill.side, fill.qty, fill.price, risk);
        self.stats.earlier_fills_recovered += 1;
    }

    /// A bust or correction of an earlier boot's fill that is on the books
    /// (journaled, or recovered since): the venue broke or re-priced a
    /// trade made before our restart. [`Oms::on_exec_report`] cannot apply
    /// it (neither the order nor the execution is in its tables); the
    /// caller finds the instrument's locate by the fill's symbol and
    /// applies it with [`Oms::recover_adjustment`].
    ///
    /// `None` when the report is anything else; when its own ExecID is
    /// known (a resend) or the fill was already taken back, counted in
    /// [`OmsStats::duplicate_adjustments`]; and when the fill is not on the
    /// books (counted by [`Oms::on_exec_report`] as an unknown ExecRefID).
    pub fn earlier_adjustment(&mut self, rep: &ExecReport) -> Option<EarlierAdjustment> {
        let correct = match rep.exec_type {
            ExecType::TradeCancel => false,
            ExecType::TradeCorrect => true,
            _ => return None,
        };
        let (cl_ord_id, venue) = self.earlier_context(rep)?;
        let of = rep.exec_ref_id?;
        let key = |k: ExecKey| journaled_key(venue, cl_ord_id, k);
        if rep
            .exec_id
            .is_some_and(|e| self.journaled.get(key(e)).is_some())
        {
            self.stats.duplicate_adjustments += 1;
            return None;
        }
        let (of, old) = match self.earlier_fill_at(key(of)) {
            Ok(found) => found,
            Err(Earlier::TakenBack(0)) if self.journaled.get(key(of)).is_none() => return None,
            Err(_) => {
                self.stats.duplicate_adjustments += 1;
                return None;
            }
        };
        let Earlier::Fill {
            exec: of_exec,
            symbol,
            side,
            qty: was_qty,
            price: was_price,
        } = old
        else {
            return None;
        };
        let (qty, price) = match correct {
            true if rep.last_px.0 > 0 => (rep.last_qty, rep.last_px),
            true => (rep.last_qty, was_price),
            false => (0, was_price),
        };
        Some(EarlierAdjustment {
            venue,
            cl_ord_id,
            exec: rep.exec_id,
            of,
            of_exec,
            symbol,
            side,
            was_qty,
            was_price,
            qty,
            price,
        })
    }

    /// Applies what [`Oms::earlier_adjustment`] found, held under `locate`:
    /// the fill comes out of the position (an opposite fill at its price)
    /// and the corrected one, if any, goes in, so position and cash are as
    /// the venue's; risk follows. It is journaled like a bust of this
    /// boot's ([`Oms::take_adjustment`], with the strategy its ClOrdID names).
    pub fn recover_adjustment(
        &mut self,
        adj: &EarlierAdjustment,
        locate: StockLocate,
        risk: &mut RiskEngine,
    ) {
        if adj.was_qty > 0 {
            self.restore_fill(
                locate,
                adj.side.opposite(),
                adj.was_qty,
                adj.was_price,
                risk,
            );
        }
        if adj.qty > 0 {
            self.restore_fill(locate, adj.side, adj.qty, adj.price, risk);
        }
        let own = adj.exec.map(|e| journaled_key(adj.venue, adj.cl_ord_id, e));
        let corrected = |exec| Earlier::Fill {
            exec,
            symbol: adj.symbol,
            side: adj.side,
            qty: adj.qty,
            price: adj.price,
        };
        match (own, adj.exec) {
            (Some(own), Some(exec)) => {
                let entry = if adj.qty > 0 {
                    corrected(exec)
                } else {
                    Earlier::Bust
                };
                self.keep_earlier(own, entry);
                if let Some(e) = self.earlier_entry(adj.of) {
                    *e = Earlier::TakenBack(own);
                }
            }
            // No ExecID of its own: a correction is kept in place.
            _ => {
                let entry = if adj.qty > 0 {
                    corrected(adj.of_exec)
                } else {
                    Earlier::TakenBack(0)
                };
                if let Some(e) = self.earlier_entry(adj.of) {
                    *e = entry;
                }
            }
        }
        if adj.qty > 0 {
            self.stats.corrections += 1;
        } else {
            self.stats.busts += 1;
        }
        self.last_adjustment = Some(FillAdjustment {
            order: OrderId(adj.cl_ord_id.0),
            strategy: Some(adj.cl_ord_id.strategy()),
            exec: adj.exec,
            of: Some(adj.of_exec),
            locate,
            side: adj.side,
            was_qty: adj.was_qty,
            was_price: adj.was_price,
            qty: adj.qty,
            price: adj.price,
        });
    }

    /// A bust or correction naming (by ExecRefID or its own ExecID) an
    /// earlier boot's execution the OMS keeps.
    fn is_earlier_journaled(&self, rep: &ExecReport) -> bool {
        let Some((cl, venue)) = self.earlier_context(rep) else {
            return false;
        };
        [rep.exec_ref_id, rep.exec_id]
            .into_iter()
            .flatten()
            .any(|k| self.journaled.get(journaled_key(venue, cl, k)).is_some())
    }

    /// The report's ClOrdID, if an earlier boot's order this OMS does not
    /// have, and the venue it came from (0 when the caller did not say).
    fn earlier_context(&self, rep: &ExecReport) -> Option<(ClOrdId, VenueId)> {
        let cl_ord_id = rep.cl_ord_id.or(rep.orig_cl_ord_id)?;
        let ours = |c: Option<ClOrdId>| c.is_some_and(|c| self.ids.get(c.0).is_some());
        if cl_ord_id.epoch() >= self.epoch || ours(rep.cl_ord_id) || ours(rep.orig_cl_ord_id) {
            return None;
        }
        Some((cl_ord_id, rep.venue.unwrap_or(VenueId(0))))
    }

    /// A fill [`Oms::earlier_fill`] found that the caller had no locate to
    /// hold under: counted as unusable (reconcile by hand).
    pub fn unplaced_earlier_fill(&mut self) {
        self.stats.earlier_fills_unusable += 1;
    }

    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The next ClOrdID, for `strategy`: `InvalidOrder` for a strategy no
    /// id can name (risk refuses those too), `CapacityExhausted` once the
    /// boot's ids are used up.
    fn next_cl_ord_id(&mut self, strategy: StrategyId) -> Result<ClOrdId, RejectReason> {
        if strategy.0 as usize >= risk::MAX_STRATEGIES {
            return Err(RejectReason::InvalidOrder);
        }
        let id = ClOrdId::issued(self.epoch, self.next_seq, strategy)
            .ok_or(RejectReason::CapacityExhausted)?;
        self.next_seq += 1;
        Ok(id)
    }

    /// An OrderMassCancelRequest for every order of ours at `venue`, under
    /// a ClOrdID of its own (issued like an order's, so it never names
    /// one; strategy 0, which no fill of it can reach). The OMS keeps no
    /// record of it: the caller matches the venue's answer by that ClOrdID,
    /// and each order it cancels comes back as an ordinary cancel report.
    /// `CapacityExhausted` once the boot's ClOrdIDs are used up.
    pub fn mass_cancel(&mut self, venue: VenueId) -> Result<Outbound, RejectReason> {
        let cl_ord_id = self.next_cl_ord_id(StrategyId(0))?;
        Ok(Outbound::MassCancel { cl_ord_id, venue })
    }

    fn refuse(&mut self, reason: RejectReason) -> RejectReason {
        if let Some(c) = self.reject_counts.get_mut(reason.index()) {
            *c += 1;
        }
        reason
    }

    /// Refuses a new order or replace before risk sees it: while risk is
    /// tripped, for what the trip refuses (the kill switch, or the end of
    /// the trading session), whatever else is wrong with it — risk, which
    /// would see it next, refuses it for that first thing — so an operator
    /// reads one reason for everything a trip held back.
    #[cold]
    fn refuse_opening(&mut self, reason: RejectReason, risk: &RiskEngine) -> RejectReason {
        self.refuse(risk.tripped().map_or(reason, |cause| cause.refusal()))
    }

    /// Rejections decided by the OMS itself (risk counts its own).
    pub fn reject_count(&self, reason: RejectReason) -> u64 {
        self.reject_counts.get(reason.index()).copied().unwrap_or(0)
    }

    /// Whether risk would take `intent`, a new order, as it stands, at
    /// `venue`, without entering it: what the smart order router splits
    /// into one child order per venue is checked whole first, so that
    /// children each within a per-order limit (quantity, notional) cannot
    /// carry an order past it, nor a collar, duplicate or self-match test
    /// pass in pieces that the whole fails (a self-match judged at `venue`
    /// alone under `SelfMatchScope::Venue`; each child is judged at its
    /// own when it is submitted). A refusal counts (per reason
    /// and toward the reject rate) like any other; a pass leaves only the
    /// whole's terms in risk's duplicate window
    /// ([`RiskEngine::take_back_entry`]). Each child is then submitted on
    /// its own ([`Oms::submit`]).
    pub fn check_whole(
        &mut self,
        intent: &OrderIntent,
        venue: VenueId,
        reference: Option<Price>,
        risk: &mut RiskEngine,
        now: Nanos,
    ) -> Result<(), RejectReason> {
        let OrderIntent::New { locate, .. } = *intent else {
            return Err(self.refuse(RejectReason::InvalidOrder));
        };
        if locate as usize >= self.positions.len() {
            return Err(self.refuse_opening(RejectReason::InvalidOrder, risk));
        }
        // An id no ClOrdID can be (they stay below 2^62), entered and
        // taken back at once.
        let order = OrderId(u64::MAX);
        let ctx = CheckContext {
            order,
            held: None,
            venue,
            reference,
        };
        let held = risk.check(intent, &ctx, now)?;
        risk.take_back_entry(OrderRef::new(order, held));
        Ok(())
    }

    /// Takes back a new order [`Oms::submit`] returned that the caller
    /// decided not to send after all (another child of the same split was
    /// refused): as [`Oms::unsent`], without counting it as unsent — no
    /// session failed. Call it for the newest first.
    pub fn withdraw(&mut self, out: &Outbound, risk: &mut RiskEngine) {
        let unsent = self.stats.unsent;
        let _ = self.unsent(out, risk);
        self.stats.unsent = unsent;
    }

    /// Takes a strategy's intent through risk and, if it passes, records it
    /// and returns the message to send. `venue` is where the router sent a
    /// new order (ignored for cancel/replace); `reference` feeds the collars.
    pub fn submit(
        &mut self,
        intent: &OrderIntent,
        venue: VenueId,
        reference: Option<Price>,
        risk: &mut RiskEngine,
        now: Nanos,
    ) -> Result<Outbound, RejectReason> {
        match *intent {
            OrderIntent::New {
                strategy,
                locate,
                symbol,
                side,
                price,
                qty,
                tif,
            } => {
                if self.free_len == 0 && self.retired_len == 0 {
                    return Err(self.refuse_opening(RejectReason::CapacityExhausted, risk));
                }
                if locate as usize >= self.positions.len() {
                    return Err(self.refuse_opening(RejectReason::InvalidOrder, risk));
                }
                let cl = self
                    .next_cl_ord_id(strategy)
                    .map_err(|reason| self.refuse_opening(reason, risk))?;
                let order = OrderId(cl.0);
                // The id map's line for the new id loads while risk checks.
                self.ids.prefetch(cl.0);
                let ctx = CheckContext {
                    order,
                    held: None,
                    venue,
                    reference,
                };
                let held = risk.check(intent, &ctx, now)?;
                let Some(slot) = self.alloc_slot() else {
                    // Checked above; keep risk consistent if it ever happens.
                    risk.on_canceled(OrderRef::new(order, held));
                    return Err(self.refuse(RejectReason::CapacityExhausted));
                };
                if self.ids.insert(cl.0, slot).is_err() {
                    risk.on_canceled(OrderRef::new(order, held));
                    self.release_slot(slot);
                    return Err(self.refuse(RejectReason::CapacityExhausted));
                }
                let rec = OrderRecord {
                    id: order,
                    current: cl,
                    strategy,
                    venue,
                    locate,
                    symbol,
                    side,
                    tif,
                    price,
                    qty,
                    in_use: true,
                    entered: now,
                    risk: held,
                    ..OrderRecord::EMPTY
                };
                if let Some(r) = self.orders.get_mut(slot as usize) {
                    *r = rec;
                }
                self.account_open(slot, true);
                Ok(Outbound::New {
                    order,
                    cl_ord_id: cl,
                    venue,
                    locate,
                    symbol,
                    side,
                    price,
                    qty,
                    tif,
                })
            }
            OrderIntent::Cancel { strategy, order } => {
                let (slot, rec, cl) = self
                    .prepare_amend(strategy, order, cancel_pending)
                    .map_err(|reason| self.refuse(reason))?;
                let ctx = CheckContext {
                    order,
                    held: Some(rec.risk),
                    venue: rec.venue,
                    reference,
                };
                risk.check(intent, &ctx, now)?;
                if self.ids.insert(cl.0, slot).is_err() {
                    risk.on_cancel_rejected(rec.risk_ref());
                    return Err(self.refuse(RejectReason::CapacityExhausted));
                }
                if let Some(r) = self.orders.get_mut(slot as usize) {
                    r.cancel = Some(cl);
                }
                Ok(Outbound::Cancel {
                    order,
                    cl_ord_id: cl,
                    orig_cl_ord_id: rec.current,
                    venue: rec.venue,
                    symbol: rec.symbol,
                    side: rec.side,
                    qty: rec.qty,
                })
            }
            OrderIntent::Replace {
                strategy,
                order,
                price,
                qty,
            } => {
                let (slot, rec, cl) = self
                    .prepare_amend(strategy, order, |r| {
                        cancel_pending(r) || r.replace.is_some()
                    })
                    .map_err(|reason| self.refuse_opening(reason, risk))?;
                let ctx = CheckContext {
                    order,
                    held: Some(rec.risk),
                    venue: rec.venue,
                    reference,
                };
                risk.check(intent, &ctx, now)?;
                if self.ids.insert(cl.0, slot).is_err() {
                    risk.on_replace_rejected(rec.risk_ref());
                    return Err(self.refuse(RejectReason::CapacityExhausted));
                }
                if let Some(r) = self.orders.get_mut(slot as usize) {
                    r.replace = Some((cl, price, qty));
                }
                Ok(Outbound::Replace {
                    order,
                    cl_ord_id: cl,
                    orig_cl_ord_id: rec.current,
                    venue: rec.venue,
                    symbol: rec.symbol,
                    side: rec.side,
                    price,
                    qty,
                    tif: rec.tif,
                })
            }
        }
    }

    /// The gate a cancel and a replace share before risk sees them, in one
    /// place so that both refuse the same cases for the same reasons: not
    /// the strategy's working order, a request it `conflicts` with still in
    /// flight, no ClOrdID left. Returns the slot, the record and the new
    /// request's ClOrdID, or the reason, which the caller counts.
    fn prepare_amend(
        &mut self,
        strategy: StrategyId,
        order: OrderId,
        conflicts: fn(&OrderRecord) -> bool,
    ) -> Result<(u32, OrderRecord, ClOrdId), RejectReason> {
        let slot = self.working_slot(strategy, order)?;
        let Some(rec) = self.orders.get(slot as usize).copied() else {
            return Err(RejectReason::UnknownOrder);
        };
        if conflicts(&rec) {
            return Err(RejectReason::InvalidOrder);
        }
        let cl = self.next_cl_ord_id(strategy)?;
        Ok((slot, rec, cl))
    }

    fn working_slot(&self, strategy: StrategyId, order: OrderId) -> Result<u32, RejectReason> {
        match self.ids.get(order.0) {
            Some(slot) => match self.orders.get(slot as usize) {
                Some(r) if r.id == order && r.strategy == strategy && r.terminal.is_none() => {
                    Ok(slot)
                }
                _ => Err(RejectReason::UnknownOrder),
            },
            None => Err(RejectReason::UnknownOrder),
        }
    }

    fn alloc_slot(&mut self) -> Option<u32> {
        if self.free_len > 0 {
            self.free_len -= 1;
            return self.free.get(self.free_len).copied();
        }
        self.reclaim_oldest()
    }

    /// The slot of the oldest finished order, its ids no longer mapped to
    /// it (late reports for it are then unknown); `None` if none finished.
    #[inline]
    fn reclaim_oldest(&mut self) -> Option<u32> {
        if self.retired_len == 0 {
            return None;
        }
        let slot = self.retired.get(self.retired_head).copied()?;
        self.retired_head = ring_next(self.retired_head, self.retired.len());
        self.retired_len -= 1;
        if let Some(old) = self.orders.get(slot as usize) {
            for id in old.ids().into_iter().flatten() {
                self.ids.remove_if(id.0, slot);
            }
        }
        Some(slot)
    }

    /// Work kept off the order path, for when a turn's messages are on
    /// their way: keeps [`SPARE_SLOTS`] slots free by reclaiming the oldest
    /// finished orders, so that [`Oms::submit`] takes a clean slot instead
    /// of unmapping a reclaimed one's ids (random probes of the id map)
    /// between the intent and its bytes. Finished orders are kept as long
    /// as before but for these few; without calls, `submit` reclaims as it
    /// goes.
    #[inline]
    pub fn tidy(&mut self) {
        while self.free_len < SPARE_SLOTS {
            let Some(slot) = self.reclaim_oldest() else {
                return;
            };
            // Out of use is all a free slot needs to be: `submit` writes
            // the whole record.
            if let Some(r) = self.orders.get_mut(slot as usize) {
                r.in_use = false;
            }
            if let Some(f) = self.free.get_mut(self.free_len) {
                *f = slot;
                self.free_len += 1;
            }
        }
    }

    fn release_slot(&mut self, slot: u32) {
        if let Some(r) = self.orders.get_mut(slot as usize) {
            *r = OrderRecord::EMPTY;
        }
        if let Some(f) = self.free.get_mut(self.free_len) {
            *f = slot;
            self.free_len += 1;
        }
    }

    /// Adds or removes an order's leaves from its symbol's open exposure.
    fn account_open(&mut self, slot: u32, add: bool) {
        let Some(r) = self.orders.get(slot as usize) else {
            return;
        };
        let leaves = r.leaves() as u64;
        let notional = r.price.notional(r.leaves());
        let side = r.side;
        let Some(p) = self.positions.get_mut(r.locate as usize) else {
            return;
        };
        let (q, n) = match side {
            Side::Buy => (&mut p.open_buy, &mut p.open_buy_notional),
            Side::Sell => (&mut p.open_sell, &mut p.open_sell_notional),
        };
        if add {
            *q += leaves;
            *n += notional;
        } else {
            *q -= leaves;
            *n -= notional;
        }
    }

    fn finish(&mut self, slot: u32, state: OrderState, risk: &mut RiskEngine) {
        let Some(r) = self.orders.get_mut(slot as usize) else {
            return;
        };
        if r.terminal.is_some() {
            return;
        }
        let held = r.risk_ref();
        // Exposure leaves with the order; the record stays for late reports.
        self.account_open(slot, false);
        if let Some(r) = self.orders.get_mut(slot as usize) {
            r.terminal = Some(state);
        }
        if risk.is_open(held) {
            risk.on_canceled(held);
        }
        let cap = self.retired.len();
        if self.retired_len < cap {
            let tail = ring_add(self.retired_head, self.retired_len, cap);
            if let Some(t) = self.retired.get_mut(tail) {
                *t = slot;
                self.retired_len += 1;
            }
        }
    }

    /// Applies one execution report. Returns the event for the strategy
    /// owning the order, if the report changed anything it should know.
    /// `now` is the appliance clock at receipt (the reject-rate window runs
    /// on it, not on the venue's `transact_time`).
    pub fn on_exec_report(
        &mut self,
        rep: &ExecReport,
        now: Nanos,
        risk: &mut RiskEngine,
    ) -> Option<OrderEvent> {
        self.stats.reports += 1;
        let found = rep
            .cl_ord_id
            .and_then(|c| self.ids.get(c.0).map(|s| (s, c)))
            .or_else(|| {
                rep.orig_cl_ord_id
                    .and_then(|c| self.ids.get(c.0).map(|s| (s, c)))
            });
        if matches!(
            rep.exec_type,
            ExecType::TradeCancel | ExecType::TradeCorrect
        ) {
            // An earlier boot's execution the journal holds: the caller
            // applies it (`earlier_adjustment`), not counted unknown here.
            if found.is_none() && self.is_earlier_journaled(rep) {
                return None;
            }
            // Found by ExecRefID: applies to a finished order, and to one
            // whose record is gone (the position still holds the fill).
            return self.apply_adjustment(rep, found.map(|f| f.0), risk);
        }
        let Some((slot, matched)) = found else {
            self.stats.unknown_cl_ord_id += 1;
            return None;
        };
        let rec = *self.orders.get(slot as usize)?;
        if rep.venue.is_some_and(|v| v != rec.venue) {
            self.stats.wrong_venue += 1;
            return None;
        }
        let strategy = rec.strategy;
        let order = rec.id;
        let is_fill = matches!(
            rep.exec_type,
            ExecType::PartialFill | ExecType::Fill | ExecType::Trade
        );
        if rec.terminal.is_some() && !is_fill {
            self.stats.late_reports += 1;
            return None;
        }
        match rep.exec_type {
            ExecType::PendingNew | ExecType::PendingCancel | ExecType::PendingReplace => {
                // Our own state already says pending; confirmations change nothing.
                if rep.exec_type == ExecType::PendingNew && rec.state() != OrderState::PendingNew {
                    self.stats.out_of_order += 1;
                }
                None
            }
            ExecType::New => {
                if rec.acked || rec.cum_qty > 0 {
                    self.stats.out_of_order += 1;
                }
                if rec.acked {
                    return None;
                }
                self.acknowledge(slot, risk);
                Some(OrderEvent::Accepted { strategy, order })
            }
            ExecType::PartialFill | ExecType::Fill | ExecType::Trade => {
                self.apply_fill(slot, rep, risk)
            }
            ExecType::Canceled => {
                if rec.cancel != Some(matched) && rec.cancel.is_some() {
                    self.stats.out_of_order += 1;
                }
                self.finish(slot, OrderState::Canceled, risk);
                Some(OrderEvent::Canceled { strategy, order })
            }
            ExecType::Expired | ExecType::DoneForDay => {
                self.finish(slot, OrderState::Expired, risk);
                Some(OrderEvent::Canceled { strategy, order })
            }
            ExecType::Replaced => self.apply_replace(slot, matched, rep, risk),
            ExecType::Rejected => {
                if rec.pending(ExecType::ReplaceRejected) == Some(matched) {
                    return self.request_rejected(
                        slot,
                        ExecType::ReplaceRejected,
                        risk,
                        RejectReason::VenueReject,
                    );
                }
                if rec.pending(ExecType::CancelRejected) == Some(matched) {
                    return self.request_rejected(
                        slot,
                        ExecType::CancelRejected,
                        risk,
                        RejectReason::VenueReject,
                    );
                }
                if rec.acked || rec.cum_qty > 0 {
                    // The venue took the order (acknowledged or filled it):
                    // this refusal is not of the order. Without a ClOrdID
                    // of ours it can only answer the request in flight;
                    // otherwise it repeats one already answered (a PossDup
                    // of a replace's or cancel's refusal, whose ClOrdID is
                    // gone and whose OrigClOrdID names the order). Taking it
                    // for the order's would forget an order still working.
                    let ours = rep.cl_ord_id == Some(matched);
                    for kind in [ExecType::ReplaceRejected, ExecType::CancelRejected] {
                        if !ours && rec.pending(kind).is_some() {
                            return self.request_rejected(
                                slot,
                                kind,
                                risk,
                                RejectReason::VenueReject,
                            );
                        }
                    }
                    self.stats.late_reports += 1;
                    return None;
                }
                // Venue reject first: it retires the order in risk and feeds
                // the reject-rate limit; `finish` then skips the risk call.
                risk.on_rejected(rec.risk_ref(), now);
                self.finish(slot, OrderState::Rejected, risk);
                Some(OrderEvent::Rejected {
                    strategy,
                    order: Some(order),
                    reason: RejectReason::VenueReject,
                })
            }
            ExecType::CancelRejected | ExecType::ReplaceRejected => {
                // Only an answer to the request in flight: a late or repeated
                // refusal (its own ClOrdID gone, matched by the order's)
                // must not clear a newer request. A refusal without a
                // ClOrdID of ours can only be taken as the answer to the
                // one in flight.
                if rec.pending(rep.exec_type) != Some(matched) && rep.cl_ord_id.is_some() {
                    self.stats.late_reports += 1;
                    return None;
                }
                self.request_rejected(slot, rep.exec_type, risk, RejectReason::VenueReject)
            }
            ExecType::TradeCancel | ExecType::TradeCorrect => {
                self.apply_adjustment(rep, Some(slot), risk)
            }
            ExecType::Other => {
                self.stats.ignored += 1;
                None
            }
        }
    }

    /// `venue`'s session dropped and the venue cancels a session's orders on
    /// disconnect (its rules say so; the lab's venue does): every order still
    /// open there, acknowledged or not, is finished as cancelled and
    /// `event` hears a `Canceled` for each, so risk frees its exposure and
    /// the strategies may trade elsewhere at once. Fills the venue reports
    /// later (executed before the drop) still count: fills apply to
    /// finished orders. Its late `Canceled` reports are counted as late.
    ///
    /// For a venue that keeps orders across a disconnect, do not call this:
    /// the orders stay open until the venue reports on them.
    pub fn venue_lost(
        &mut self,
        venue: VenueId,
        risk: &mut RiskEngine,
        mut event: impl FnMut(&OrderEvent),
    ) {
        for slot in 0..self.orders.len() {
            let Some(r) = self.orders.get(slot) else {
                continue;
            };
            if !r.in_use || r.terminal.is_some() || r.venue != venue {
                continue;
            }
            let (strategy, order) = (r.strategy, r.id);
            self.finish(slot as u32, OrderState::Canceled, risk);
            self.stats.canceled_on_disconnect += 1;
            event(&OrderEvent::Canceled { strategy, order });
        }
    }

    /// `out`, which [`Oms::submit`] returned, never reached the venue: its
    /// session was down or held the message back. The OMS and risk go back
    /// to where they were before it. A new order is finished as rejected —
    /// without feeding the reject-rate limit: no venue refused anything —
    /// and its exposure is freed; a cancel or a replace is forgotten and
    /// the order keeps its terms (a kill's cancel is retried, see
    /// [`RiskEngine::on_cancel_unsent`]). Returns the event for the owning
    /// strategy, a `Rejected` with [`RejectReason::NotSent`]; `None` when
    /// `out` is not the latest message of an open order.
    pub fn unsent(&mut self, out: &Outbound, risk: &mut RiskEngine) -> Option<OrderEvent> {
        let (cl, kind) = match *out {
            Outbound::New { cl_ord_id, .. } => (cl_ord_id, ExecType::Rejected),
            Outbound::Cancel { cl_ord_id, .. } => (cl_ord_id, ExecType::CancelRejected),
            Outbound::Replace { cl_ord_id, .. } => (cl_ord_id, ExecType::ReplaceRejected),
            // Changed no order when it went: nothing to undo.
            Outbound::MassCancel { .. } => return None,
        };
        let slot = self.ids.get(cl.0)?;
        let rec = *self.orders.get(slot as usize)?;
        if rec.terminal.is_some() {
            return None;
        }
        let latest = match kind {
            ExecType::Rejected => rec.current == cl,
            _ => rec.pending(kind) == Some(cl),
        };
        if !latest {
            return None;
        }
        self.stats.unsent += 1;
        if kind != ExecType::Rejected {
            return self.request_rejected(slot, kind, risk, RejectReason::NotSent);
        }
        risk.on_new_unsent(rec.risk_ref());
        self.finish(slot, OrderState::Rejected, risk);
        Some(OrderEvent::Rejected {
            strategy: rec.strategy,
            order: Some(rec.id),
            reason: RejectReason::NotSent,
        })
    }

    fn acknowledge(&mut self, slot: u32, risk: &mut RiskEngine) {
        if let Some(r) = self.orders.get_mut(slot as usize) {
            if !r.acked {
                r.acked = true;
                risk.on_accepted(r.risk_ref());
            }
        }
    }

    fn apply_fill(
        &mut self,
        slot: u32,
        rep: &ExecReport,
        risk: &mut RiskEngine,
    ) -> Option<OrderEvent> {
        let rec = *self.orders.get(slot as usize)?;
        // An execution already applied (its ExecID remembered for this
        // order): a resend, which after a bust of it would otherwise pass
        // the cumulative test below.
        if let Some(k) = rep.exec_id {
            if self
                .exec_at(venue_key(rep.venue, k))
                .is_some_and(|(_, e)| e.order == rec.id)
            {
                self.stats.duplicate_fills += 1;
                return None;
            }
        }
        // Cumulative quantity is the truth; venues that leave it out get
        // last_qty added to what we have.
        let cum = if rep.cum_qty > 0 {
            rep.cum_qty
        } else {
            rec.cum_qty.saturating_add(rep.last_qty)
        };
        if cum <= rec.cum_qty {
            self.stats.duplicate_fills += 1;
            return None;
        }
        let qty = cum - rec.cum_qty;
        if qty != rep.last_qty {
            self.stats.fill_gaps += 1;
        }
        if rec.terminal.is_some() {
            self.stats.out_of_order += 1;
        }
        if !rec.acked && rec.terminal.is_none() {
            // A fill before the New acknowledgement: the venue has the order.
            self.stats.out_of_order += 1;
            self.acknowledge(slot, risk);
        }
        let price = if rep.last_px.0 > 0 {
            rep.last_px
        } else {
            rec.price
        };
        let open = rec.terminal.is_none();
        // A replace in flight to more than has now filled may have been
        // taken by the venue (a fill under its ClOrdID says it was): the
        // order is not finished on its old size until the replace is
        // answered (a refused one finishes it then, see
        // `request_rejected`), or shares still working would be forgotten.
        let replace_above = rec.replace.filter(|r| r.2 > cum);
        let replace_taken = replace_above.filter(|r| rep.cl_ord_id == Some(r.0));
        if open {
            self.account_open(slot, false);
        }
        if let Some(r) = self.orders.get_mut(slot as usize) {
            r.cum_qty = cum;
            r.replaced = false;
            // An overfill grows the order so leaves never go negative.
            r.qty = r.qty.max(cum);
        }
        if open {
            self.account_open(slot, true);
        }
        let (d_cost, d_realized) = self.apply_position(rec.locate, rec.side, qty, price);
        if let Some(k) = rep.exec_id {
            // (Not indexed only on a hash collision: then not bustable.)
            let _ = self.remember(Execution {
                key: venue_key(rep.venue, k),
                order: rec.id,
                strategy: rec.strategy,
                locate: rec.locate,
                side: rec.side,
                state: ExecState::Live,
                qty,
                price,
                d_cost,
                d_realized,
            });
        }
        risk.on_fill(&Fill {
            order: rec.risk_ref(),
            locate: rec.locate,
            side: rec.side,
            qty,
            price,
        });
        risk.on_pnl(self.total_pnl_i64());
        let own_leaves = self.orders.get(slot as usize).map_or(0, |r| r.leaves());
        if open && own_leaves == 0 && replace_above.is_none() {
            self.finish(slot, OrderState::Filled, risk);
        }
        // What the venue works: under the replace's size once it took it.
        // An order kept open only by a replace in flight (filled in full on
        // its old size) works that size's rest if the venue takes it: told
        // as done, its owner would stop tracking an order that may still
        // work, and quote that side again beside it.
        let leaves = match (replace_taken, replace_above) {
            (Some((_, _, req_qty)), _) if open => req_qty - cum,
            (_, Some((_, _, req_qty))) if open && own_leaves == 0 => req_qty - cum,
            _ => own_leaves,
        };
        Some(OrderEvent::Filled {
            strategy: rec.strategy,
            order: rec.id,
            locate: rec.locate,
            side: rec.side,
            price,
            qty,
            leaves,
        })
    }

    /// Keeps `e` in the execution ring, over its oldest entry; false when
    /// it could not be indexed.
    fn remember(&mut self, e: Execution) -> bool {
        let len = self.execs.len();
        if len == 0 {
            return false;
        }
        let at = self.exec_head.min(len - 1);
        self.exec_head = ring_next(at, len);
        if let Some(old) = self.execs.get(at) {
            if old.key != 0 {
                self.exec_index.remove_if(old.key, at as u32);
            }
        }
        // A key already present (a hash collision: repeats are caught
        // before) leaves the entry empty rather than shadow the other.
        let indexed = e.key != 0 && self.exec_index.insert(e.key, at as u32).is_ok();
        if let Some(slot) = self.execs.get_mut(at) {
            *slot = if indexed { e } else { Execution::EMPTY };
        }
        indexed
    }

    /// The remembered execution with ExecID key `key`, and where it is.
    fn exec_at(&self, key: u64) -> Option<(usize, Execution)> {
        let at = self.exec_index.get(key)? as usize;
        self.execs
            .get(at)
            .filter(|e| e.key == key)
            .map(|e| (at, *e))
    }

    /// The trade ExecRefID `key` names: through the corrections made to it
    /// since, to its latest version.
    fn traded(&self, key: Option<u64>) -> Option<(usize, Execution)> {
        let mut key = key?;
        for _ in 0..MAX_CORRECTION_CHAIN {
            let (at, e) = self.exec_at(key)?;
            match e.state {
                ExecState::Corrected(next) => key = next,
                _ => return Some((at, e)),
            }
        }
        None
    }

    /// A bust (`TradeCancel`) or correction (`TradeCorrect`) of the
    /// execution `rep.exec_ref_id` names (see the module docs). `found` is
    /// the slot the report's ClOrdID maps to, if any.
    fn apply_adjustment(
        &mut self,
        rep: &ExecReport,
        found: Option<u32>,
        risk: &mut RiskEngine,
    ) -> Option<OrderEvent> {
        let correct = rep.exec_type == ExecType::TradeCorrect;
        if rep
            .exec_id
            .is_some_and(|k| self.exec_at(venue_key(rep.venue, k)).is_some())
        {
            self.stats.duplicate_adjustments += 1;
            return None;
        }
        let Some((at, old)) = self.traded(rep.exec_ref_id.map(|k| venue_key(rep.venue, k))) else {
            self.stats.unknown_exec_refs += 1;
            return None;
        };
        match old.state {
            ExecState::Live => {}
            ExecState::Busted => {
                self.stats.duplicate_adjustments += 1;
                return None;
            }
            ExecState::Corrected(_) | ExecState::BustReport => {
                self.stats.unknown_exec_refs += 1;
                return None;
            }
        }
        // A report naming an order of ours must name the execution's.
        let named = found
            .and_then(|s| self.orders.get(s as usize))
            .filter(|r| r.in_use)
            .map(|r| r.id);
        if named.is_some_and(|id| id != old.order) {
            self.stats.unknown_exec_refs += 1;
            return None;
        }
        let (qty, price) = match correct {
            true if rep.last_px.0 > 0 => (rep.last_qty, rep.last_px),
            true => (rep.last_qty, old.price),
            false => (0, old.price),
        };
        // The position: the old execution out, the corrected one in, at
        // the mark it had.
        self.undo_position(&old);
        let mut new = Execution {
            key: rep.exec_id.map_or(0, |k| venue_key(rep.venue, k)),
            state: ExecState::Live,
            qty,
            price,
            d_cost: 0,
            d_realized: 0,
            ..old
        };
        if qty > 0 {
            let mark = self.positions.get(old.locate as usize).map(|p| p.mark);
            (new.d_cost, new.d_realized) = self.apply_position(old.locate, old.side, qty, price);
            if let Some(mark) = mark {
                self.set_mark(old.locate, mark);
            }
        }
        // (Risk moves only the position here; the order's open quantity
        // follows by `set_leaves`.)
        let fill = |qty, price| Fill {
            order: OrderRef::unheld(old.order),
            locate: old.locate,
            side: old.side,
            qty,
            price,
        };
        risk.on_fill_adjusted(&fill(old.qty, old.price), &fill(qty, price));
        // The ring: the old execution busted, or led to its correction
        // (corrected in place when the correction has no ExecID); the
        // report's own ExecID kept against repeats.
        if let Some(e) = self.execs.get_mut(at) {
            match (correct, new.key) {
                (false, _) => e.state = ExecState::Busted,
                (true, 0) => *e = Execution { key: e.key, ..new },
                (true, k) => e.state = ExecState::Corrected(k),
            }
        }
        if new.key != 0 {
            if !correct {
                new.state = ExecState::BustReport;
            }
            if !self.remember(new) && correct {
                // Not indexed (a hash collision): the old entry, if still
                // there, carries the correction itself.
                if let Some(e) = self.execs.get_mut(at).filter(|e| e.key == old.key) {
                    *e = Execution {
                        key: old.key,
                        ..new
                    };
                }
            }
        }
        if correct {
            self.stats.corrections += 1;
        } else {
            self.stats.busts += 1;
        }
        let leaves = self.adjust_order(&old, qty, rep, risk);
        risk.on_pnl(self.total_pnl_i64());
        self.last_adjustment = Some(FillAdjustment {
            order: old.order,
            strategy: Some(old.strategy),
            exec: rep.exec_id,
            of: rep.exec_ref_id,
            locate: old.locate,
            side: old.side,
            was_qty: old.qty,
            was_price: old.price,
            qty,
            price,
        });
        Some(OrderEvent::FillAdjusted {
            strategy: old.strategy,
            order: old.order,
            locate: old.locate,
            side: old.side,
            was_qty: old.qty,
            was_price: old.price,
            qty,
            price,
            leaves,
        })
    }

    /// The order of execution `old`, now `qty` shares, as the venue's
    /// report of the change says it stands (CumQty, LeavesQty, OrdStatus):
    /// an open order works LeavesQty, or is done; a finished one stays
    /// finished. Returns the order's leaves (0 when its record is gone).
    fn adjust_order(
        &mut self,
        old: &Execution,
        qty: u32,
        rep: &ExecReport,
        risk: &mut RiskEngine,
    ) -> u32 {
        let Some(slot) = self.ids.get(old.order.0) else {
            return 0;
        };
        let Some(rec) = self
            .orders
            .get(slot as usize)
            .filter(|r| r.in_use && r.id == old.order)
            .copied()
        else {
            return 0;
        };
        let ours = (rec.cum_qty as i64 + qty as i64 - old.qty as i64).clamp(0, u32::MAX as i64);
        if rep.cum_qty as i64 != ours {
            self.stats.fill_gaps += 1;
        }
        let cum = rep.cum_qty;
        // What it works, within the order (risk counts no more than that).
        let leaves = rep.leaves_qty.min(rec.qty.saturating_sub(cum));
        let done = leaves == 0 || rep.ord_status.is_some_and(|s| s.is_terminal());
        if rec.terminal.is_some() {
            if let Some(r) = self.orders.get_mut(slot as usize) {
                r.cum_qty = cum;
                r.qty = r.qty.max(cum);
            }
            if !done {
                self.stats.reopened_by_bust += 1;
            }
            return 0;
        }
        self.account_open(slot, false);
        if let Some(r) = self.orders.get_mut(slot as usize) {
            r.cum_qty = cum;
            r.qty = if done {
                r.qty.max(cum)
            } else {
                cum.saturating_add(leaves)
            };
        }
        self.account_open(slot, true);
        if done {
            let state = match rep.ord_status {
                Some(OrderState::Expired) => OrderState::Expired,
                Some(OrderState::Filled) => OrderState::Filled,
                _ => OrderState::Canceled,
            };
            self.finish(slot, state, risk);
            return 0;
        }
        risk.set_leaves(rec.risk_ref(), cum, leaves);
        leaves
    }

    fn apply_replace(
        &mut self,
        slot: u32,
        matched: ClOrdId,
        rep: &ExecReport,
        risk: &mut RiskEngine,
    ) -> Option<OrderEvent> {
        let rec = *self.orders.get(slot as usize)?;
        let Some((cl, req_price, req_qty)) = rec.replace else {
            // A Replaced we did not ask for (or already applied).
            self.stats.out_of_order += 1;
            return None;
        };
        if matched != cl && rep.cl_ord_id != Some(cl) {
            // Named by another ClOrdID of this order: a repeat of an earlier
            // replace's answer, not the answer to this one. (Without a
            // ClOrdID of ours, only the OrigClOrdID, it can only be this one.)
            if rep.cl_ord_id == Some(matched) {
                self.stats.late_reports += 1;
                return None;
            }
            self.stats.out_of_order += 1;
        }
        let price = if rep.price.0 > 0 {
            rep.price
        } else {
            req_price
        };
        let qty = if rep.order_qty > 0 {
            rep.order_qty
        } else {
            req_qty
        };
        self.account_open(slot, false);
        let old_current = rec.current;
        // The ClOrdID superseded now stays mapped (late fills under it);
        // the one superseded before it goes, unless it is the order id.
        let superseded = (old_current.0 != rec.id.0).then_some(old_current);
        if let Some(r) = self.orders.get_mut(slot as usize) {
            r.replace = None;
            r.current = cl;
            r.previous = superseded;
            r.price = price;
            r.qty = qty.max(r.cum_qty);
            r.replaced = true;
            r.acked = true;
        }
        if let Some(gone) = rec.previous {
            if gone.0 != rec.id.0 && self.ids.get(gone.0) == Some(slot) {
                self.ids.remove(gone.0);
            }
        }
        self.account_open(slot, true);
        risk.on_replaced(rec.risk_ref(), price, qty.max(rec.cum_qty));
        let leaves = self.orders.get(slot as usize).map_or(0, |r| r.leaves());
        if leaves == 0 {
            // Replaced to no more than has filled: done, and its owner
            // hears it is gone (told `Replaced`, it would take the order as
            // working the new quantity, and wait on it for ever).
            self.finish(slot, OrderState::Filled, risk);
            return Some(OrderEvent::Canceled {
                strategy: rec.strategy,
                order: rec.id,
            });
        }
        // What the venue works now is the replace's total less what has
        // filled (not the total: a tracker taking that would count shares
        // of an order part filled that nobody works).
        Some(OrderEvent::Replaced {
            strategy: rec.strategy,
            order: rec.id,
            price,
            qty,
            leaves,
        })
    }

    /// A cancel or replace of the order in `slot` is over without effect:
    /// refused by the venue (`VenueReject`) or never sent (`NotSent`).
    fn request_rejected(
        &mut self,
        slot: u32,
        kind: ExecType,
        risk: &mut RiskEngine,
        reason: RejectReason,
    ) -> Option<OrderEvent> {
        let rec = *self.orders.get(slot as usize)?;
        let Some(ClOrdId(pending)) = rec.pending(kind) else {
            self.stats.out_of_order += 1;
            return None;
        };
        if let Some(r) = self.orders.get_mut(slot as usize) {
            match kind {
                ExecType::CancelRejected => r.cancel = None,
                _ => r.replace = None,
            }
        }
        if self.ids.get(pending) == Some(slot) {
            self.ids.remove(pending);
        }
        match (kind, reason) {
            (ExecType::CancelRejected, RejectReason::NotSent) => {
                risk.on_cancel_unsent(rec.risk_ref())
            }
            (ExecType::CancelRejected, _) => risk.on_cancel_rejected(rec.risk_ref()),
            _ => risk.on_replace_rejected(rec.risk_ref()),
        }
        // A refused replace of an order that filled in full meanwhile (kept
        // open while the replace could still have grown it): done now, and
        // its owner hears it is gone (an order's refused request leaves it
        // standing, which this one does not).
        if kind != ExecType::CancelRejected
            && self
                .orders
                .get(slot as usize)
                .is_some_and(|r| r.leaves() == 0)
        {
            self.finish(slot, OrderState::Filled, risk);
            return Some(OrderEvent::Canceled {
                strategy: rec.strategy,
                order: rec.id,
            });
        }
        Some(OrderEvent::AmendRejected {
            strategy: rec.strategy,
            order: rec.id,
            reason,
        })
    }

    // ------------------------------------------------------------- positions

    /// Moves `locate`'s position by a fill; returns what it added to the
    /// position's cost and realized PnL.
    fn apply_position(
        &mut self,
        locate: StockLocate,
        side: Side,
        qty: u32,
        price: Price,
    ) -> (i128, i128) {
        let Some(p) = self.positions.get_mut(locate as usize) else {
            return (0, 0);
        };
        let old_unrealized = p.unrealized();
        let old_realized = p.realized;
        let old_cost = p.cost;
        let sign = side.sign();
        let mut remaining = qty as i64;
        // Closing part: against the opposite-signed position.
        // Venue values are not trusted to be sane (a broken venue can
        // over-fill at any LastPx the parser accepts): the sums saturate
        // instead of overflowing, and the share of the cost a close
        // removes, `cost × close / |qty|`, is formed from the average
        // (`cost / |qty|`, an i64-sized price) and the remainder, so no
        // product exceeds ~2^96. (Exactly equal to the direct form.)
        if p.qty != 0 && p.qty.signum() != sign {
            let close = remaining.min(p.qty.abs());
            let held = p.qty.unsigned_abs() as i128;
            let (avg, rest) = (p.cost / held, p.cost % held);
            let removed = avg
                .saturating_mul(close as i128)
                .saturating_add(rest * close as i128 / held);
            let value = close as i128 * price.0 as i128;
            p.realized = p.realized.saturating_add(if p.qty > 0 {
                value.saturating_sub(removed)
            } else {
                removed.saturating_neg().saturating_sub(value)
            });
            p.cost = p.cost.saturating_sub(removed);
            p.qty += sign * close;
            remaining -= close;
        }
        if remaining > 0 {
            let added = sign as i128 * remaining as i128 * price.0 as i128;
            p.cost = p.cost.saturating_add(added);
            p.qty = p.qty.saturating_add(sign * remaining);
        }
        p.mark = price;
        let moved = (
            p.cost.saturating_sub(old_cost),
            p.realized.saturating_sub(old_realized),
        );
        self.realized_total = self
            .realized_total
            .saturating_add(p.realized.saturating_sub(old_realized));
        self.unrealized_total = self
            .unrealized_total
            .saturating_add(p.unrealized().saturating_sub(old_unrealized));
        moved
    }

    /// Takes a remembered execution back out of its position: its shares,
    /// and the cost and realized PnL it added (the mark stays). A position
    /// left flat realizes what cost remains, as a closing fill would.
    fn undo_position(&mut self, e: &Execution) {
        let Some(p) = self.positions.get_mut(e.locate as usize) else {
            return;
        };
        let old_unrealized = p.unrealized();
        let old_realized = p.realized;
        p.qty = p.qty.saturating_sub(e.side.sign() * e.qty as i64);
        p.cost = p.cost.saturating_sub(e.d_cost);
        p.realized = p.realized.saturating_sub(e.d_realized);
        if p.qty == 0 {
            p.realized = p.realized.saturating_sub(p.cost);
            p.cost = 0;
        }
        self.realized_total = self
            .realized_total
            .saturating_add(p.realized.saturating_sub(old_realized));
        self.unrealized_total = self
            .unrealized_total
            .saturating_add(p.unrealized().saturating_sub(old_unrealized));
    }

    /// Sets `locate`'s mark for unrealized PnL (no risk call).
    fn set_mark(&mut self, locate: StockLocate, price: Price) {
        let Some(p) = self.positions.get_mut(locate as usize) else {
            return;
        };
        let old = p.unrealized();
        p.mark = price;
        self.unrealized_total = self
            .unrealized_total
            .saturating_add(p.unrealized().saturating_sub(old));
    }

    /// Marks `locate` at `price` (last trade or mid) for unrealized PnL and
    /// passes the new total to risk (daily loss limit).
    pub fn mark(&mut self, locate: StockLocate, price: Price, risk: &mut RiskEngine) {
        if self.positions.get(locate as usize).is_none() {
            return;
        }
        self.set_mark(locate, price);
        risk.set_mark(locate, price);
        risk.on_pnl(self.total_pnl_i64());
    }

    pub fn position(&self, locate: StockLocate) -> Option<&Position> {
        self.positions.get(locate as usize)
    }

    // --------------------------------------------------------- feed sessions

    /// Locates `0..symbol_capacity()` have a position record.
    pub fn symbol_capacity(&self) -> usize {
        self.positions.len()
    }

    /// Every locate this OMS holds something under, with the symbol where an
    /// order names it: each open order's (with its symbol), then each
    /// position record that is not empty (shares, cost, realized PnL or open
    /// quantity). A locate may come more than once. One pass over each
    /// table: for a feed session change, not the order path.
    pub fn held_locates(&self, mut f: impl FnMut(StockLocate, Option<Symbol>)) {
        for r in self.orders.iter() {
            if r.in_use && r.terminal.is_none() {
                f(r.locate, Some(r.symbol));
            }
        }
        for (i, p) in self.positions.iter().enumerate() {
            if *p != Position::default() {
                f(i as StockLocate, None);
            }
        }
    }

    /// Exchanges what is held under locates `a` and `b` (a new feed session
    /// numbers instruments anew): their positions, and the locate every
    /// order record names, open or finished, so fills and marks keep
    /// landing on the instrument's own position. Totals do not change.
    /// Unknown locates change nothing.
    pub fn swap_symbols(&mut self, a: StockLocate, b: StockLocate) {
        let n = self.positions.len();
        if a == b || a as usize >= n || b as usize >= n {
            return;
        }
        self.positions.swap(a as usize, b as usize);
        for r in self.orders.iter_mut().filter(|r| r.in_use) {
            if r.locate == a {
                r.locate = b;
            } else if r.locate == b {
                r.locate = a;
            }
        }
    }

    pub fn realized_pnl(&self) -> i128 {
        self.realized_total
    }

    pub fn unrealized_pnl(&self) -> i128 {
        self.unrealized_total
    }

    fn total_pnl_i64(&self) -> i64 {
        let total = self.realized_total.saturating_add(self.unrealized_total);
        total.clamp(i64::MIN as i128, i64::MAX as i128) as i64
    }

    // ------------------------------------------------------------ inspection

    pub fn state(&self, order: OrderId) -> Option<OrderState> {
        let slot = self.ids.get(order.0)?;
        self.orders
            .get(slot as usize)
            .filter(|r| r.in_use && r.id == order)
            .map(|r| r.state())
    }

    /// Whether `strategy`'s working order `order` has a cancel in flight
    /// (its own, or one the kill switch or the close of the trading window
    /// sent): a second cancel would only be refused, by the same test.
    pub fn cancel_in_flight(&self, strategy: StrategyId, order: OrderId) -> bool {
        self.working_slot(strategy, order)
            .ok()
            .and_then(|slot| self.orders.get(slot as usize))
            .is_some_and(cancel_pending)
    }

    /// (order qty, cumulative filled, leaves, price) of `order`.
    pub fn terms(&self, order: OrderId) -> Option<(u32, u32, u32, Price)> {
        let slot = self.ids.get(order.0)?;
        self.orders
            .get(slot as usize)
            .filter(|r| r.in_use && r.id == order)
            .map(|r| (r.qty, r.cum_qty, r.leaves(), r.price))
    }

    /// The venue `order` was sent to and when it was entered (for the
    /// router's latency estimate).
    pub fn venue_of(&self, order: OrderId) -> Option<(VenueId, Nanos)> {
        self.record_of(order).map(|r| (r.venue, r.entered))
    }

    /// How risk knows `order` (for telling risk of an event the OMS did
    /// not see, such as a kill cancel held back), while its record stays.
    pub fn risk_ref(&self, order: OrderId) -> Option<OrderRef> {
        self.record_of(order).map(OrderRecord::risk_ref)
    }

    /// The instrument of a working `order`.
    pub fn locate_of(&self, order: OrderId) -> Option<StockLocate> {
        self.record_of(order).map(|r| r.locate)
    }

    /// `order`'s record, while its slot still holds it.
    fn record_of(&self, order: OrderId) -> Option<&OrderRecord> {
        let slot = self.ids.get(order.0)?;
        self.orders
            .get(slot as usize)
            .filter(|r| r.in_use && r.id == order)
    }

    /// The order one of our ClOrdIDs names — its first, the current one,
    /// the one its last replace superseded, or that of a cancel or replace
    /// in flight — with its venue, price and strategy, while its slot still
    /// holds it: what a report under any of them is about (a fill's journal
    /// record).
    pub fn order_named(&self, cl: ClOrdId) -> Option<NamedOrder> {
        let slot = self.ids.get(cl.0)?;
        let r = self.orders.get(slot as usize).filter(|r| r.in_use)?;
        let named = r.id.0 == cl.0
            || r.current == cl
            || r.previous == Some(cl)
            || r.cancel == Some(cl)
            || r.replace.is_some_and(|(id, _, _)| id == cl);
        named.then_some(NamedOrder {
            order: r.id,
            venue: r.venue,
            price: r.price,
            strategy: r.strategy,
        })
    }

    /// The ClOrdID the venue currently knows `order` by.
    pub fn current_cl_ord_id(&self, order: OrderId) -> Option<ClOrdId> {
        let slot = self.ids.get(order.0)?;
        self.orders.get(slot as usize).map(|r| r.current)
    }

    pub fn stats(&self) -> &OmsStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests;
