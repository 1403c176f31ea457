//! The `order_path` target: a script of operations on one OMS and the risk
//! engine it feeds, checked after every operation for what the two
//! document about themselves and about each other.
//!
//! The first byte picks the table sizes (an OMS of 4 or 16 orders, risk of
//! 16 or 8, so either one fills first and slots are reused) and the limits
//! to start under; then each operation is an opcode and its operands:
//! new orders, cancels and replaces of the script's orders (or of orders
//! it does not own), execution reports of every type naming any ClOrdID the
//! OMS issued or garbage, time, limit sets, the kill switch, mass cancel,
//! venue loss, `tidy`, marks, messages that never reached the venue, the
//! kill's retry timer and whole-order checks. Operands come from small
//! tables that include the edges (zero, negative and huge prices and
//! quantities, invalid strategies, venues and locates). While the kill
//! switch is engaged the harness sweeps its cancels after every operation,
//! as the pipeline does.
//!
//! Checked (see `Run::check_*`):
//! - every `Outbound::New`/`Replace` was passed while the switch was not
//!   tripped and keeps the per-order limits in force (size, notional,
//!   restricted list, both collars against the reference given), crosses no
//!   open order of ours, breaks no open-order cap and repeats no order
//!   inside the duplicate window; while tripped every new order and
//!   replace is refused for the trip's cause, whatever else is wrong;
//! - an order is open in the OMS exactly when risk tracks it, so the open
//!   counts agree after every operation; the OMS's open quantity per
//!   symbol is what its open orders leave, and never more than risk
//!   counts (equal unless a replace may be in flight); risk's gross
//!   exposure and credit used are their definitions recomputed from the
//!   positions, open quantities and notionals and the marks;
//! - fills follow CumQty as the truth: applied exactly when it moves past
//!   what the OMS had (or, without one, by LastQty), by the difference, at
//!   LastPx or the order's price, counted as a gap when that differs from
//!   LastQty; a repeat of an ExecID already applied to the order may be
//!   dropped instead. Each symbol's position equals the signed sum of the
//!   fills and adjustments the OMS reported, and risk's position; busts
//!   never take back more than an order executed;
//! - PnL totals are the sums over symbols;
//! - after the kill's sweep every order risk still tracks has a cancel in
//!   flight, unless its cancel never left (until the retry timer) or the
//!   venue refused it `KILL_CANCEL_ATTEMPTS` times;
//! - ClOrdIDs are never issued twice and rise in order, in this boot's
//!   epoch and for the strategy the message is for; every counter of the
//!   OMS and of risk only grows.

use std::collections::{BTreeSet, HashMap};

use crate::reports::{ord_status, pick_index, Qty, QtyTables, Quantities};
use crate::script::Script;
use gateway::oms::{
    ClOrdId, ExecKey, ExecReport, ExecType, Oms, OmsConfig, OmsStats, OrderState, Outbound,
};
use risk::{
    Capacity, Limits, RiskEngine, SelfMatchScope, SymbolLimits, Throttle, TripCause, VolumeLimit,
};
use types::{
    Nanos, OrderEvent, OrderId, OrderIntent, Price, RejectReason, Side, StockLocate, StrategyId,
    Symbol, TimeInForce, VenueId,
};

/// Locates with a position record (in the OMS and in risk).
const SYMBOLS: usize = 4;
/// The reference price passed for collars: $100 in price4.
const REF: i64 = 1_000_000;
const TICK: i64 = 100;
/// The boot before this one; ClOrdIDs of epochs below 42 are an earlier
/// boot's.
const LAST_EPOCH: u32 = 41;
const T0: u64 = 1_000_000_000;
/// Rounds of four cancels a kill's sweep may take: every risk slot, each
/// refused up to `KILL_CANCEL_ATTEMPTS` times, with room to spare.
const SWEEP_ROUNDS: usize = 256;

const STRATEGIES: [u16; 16] = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 63, 64];
const VENUES: [u8; 16] = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 16];
const LOCATES: [StockLocate; 16] = [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 3, 4, u16::MAX];
const STEPS_NS: [u64; 8] = [
    1,
    100,
    1_000,
    4_999,
    10_000,
    100_000,
    1_000_000,
    1_000_000_000,
];

const EXEC_TYPES: [ExecType; 24] = [
    ExecType::PendingNew,
    ExecType::New,
    ExecType::New,
    ExecType::PartialFill,
    ExecType::PartialFill,
    ExecType::Fill,
    ExecType::Trade,
    ExecType::Trade,
    ExecType::PendingCancel,
    ExecType::Canceled,
    ExecType::PendingReplace,
    ExecType::Replaced,
    ExecType::Replaced,
    ExecType::Rejected,
    ExecType::Expired,
    ExecType::DoneForDay,
    ExecType::CancelRejected,
    ExecType::CancelRejected,
    ExecType::ReplaceRejected,
    ExecType::ReplaceRejected,
    ExecType::TradeCancel,
    ExecType::TradeCorrect,
    ExecType::TradeCorrect,
    ExecType::Other,
];

/// A report's LastQty, CumQty and LeavesQty, around its order's terms:
/// for CumQty and LeavesQty, what the order would leave at the reported
/// CumQty, what it had left (a venue that does not work busted shares
/// again), none, any.
#[rustfmt::skip]
const QTYS_REPORTED: QtyTables = QtyTables {
    last: [Qty::Zero, Qty::One, Qty::Leaves, Qty::HalfLeavesPlus1, Qty::Total, Qty::D7, Qty::Max,
        Qty::LeavesPlus1],
    cum: [Qty::Zero, Qty::CumPlusLast, Qty::CumPlusLast, Qty::Cum, Qty::CumMinus1, Qty::Total,
        Qty::TotalPlus1, Qty::D],
    leaves: [Qty::TotalMinusCum, Qty::TotalMinusCum, Qty::Zero, Qty::D, Qty::Leaves, Qty::Leaves,
        Qty::TotalMinusCum, Qty::LeavesMinusLast],
};

/// The instrument at `locate` (earlier boots' fills are placed by it).
fn symbol_of(locate: usize) -> Symbol {
    let mut name = *b"S0      ";
    name[1] += (locate % 10) as u8;
    Symbol(name)
}

fn locate_of_symbol(symbol: Symbol) -> Option<StockLocate> {
    (0..SYMBOLS)
        .find(|&l| symbol_of(l) == symbol)
        .map(|l| l as StockLocate)
}

/// A limit price for `side`: mostly on a short ladder behind the
/// reference (repeats, for duplicates), sometimes anywhere near it
/// (self-matches), beyond a collar or absurd.
fn limit_price(s: &mut Script, side: Side) -> Price {
    let (mode, d) = (s.byte(), s.byte());
    let near = i64::from(d as i8);
    Price(match mode % 8 {
        0..=3 => REF - side.sign() * i64::from(1 + d % 16) * TICK,
        4 => REF + near * TICK,
        5 => REF + near * 10 * TICK,
        _ => [
            0,
            -1,
            1,
            i64::MAX,
            i64::MIN,
            REF * 105 / 100,
            REF * 105 / 100 + 1,
            REF * 99 / 100,
            REF * 99 / 100 - 1,
            REF + 50 * TICK,
            REF + 50 * TICK + 1,
            2 * REF,
        ][usize::from(d) % 12],
    })
}

fn order_qty(s: &mut Script) -> u32 {
    let (mode, d) = (s.byte(), s.byte());
    match mode % 8 {
        0..=2 => 100 * (1 + u32::from(d % 4)),
        3 => u32::from(d),
        _ => [0, 1, 500, 501, 10_000, 10_001, u32::MAX, u32::MAX / 2][usize::from(d) % 8],
    }
}

fn reference(s: &mut Script) -> Option<Price> {
    s.pick([
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF)),
        Some(Price(REF + 10 * TICK)),
        Some(Price(REF - 10 * TICK)),
        None,
        Some(Price(0)),
        Some(Price(i64::MAX)),
    ])
}

/// The limit sets a script switches between.
fn limits(preset: u8) -> Limits {
    match preset % 8 {
        0 | 4 => Limits::example(),
        // Self-match judged at the order's venue only.
        5 => Limits {
            self_match: SelfMatchScope::Venue,
            ..Limits::example()
        },
        1 | 6 => {
            let rate = Some(Throttle {
                max_msgs: 3,
                window_ns: 10_000,
            });
            let mut l = Limits {
                default_symbol: SymbolLimits {
                    restricted: false,
                    max_order_qty: 500,
                    max_notional: 500 * REF as u64,
                    collar_bps: Some(100),
                    collar_ticks: Some(50),
                    tick_size: TICK,
                    max_position: 2_000,
                    max_open_orders: 3,
                },
                max_gross_position: 5_000,
                max_net_position: 3_000,
                credit_limit: 2_000 * REF as u64,
                max_open_orders: 6,
                duplicate_window_ns: 5_000,
                strategy_order_rate: rate,
                strategy_cancel_rate: rate,
                venue_order_rate: rate,
                venue_cancel_rate: rate,
                // $5,000 in price4·shares.
                max_daily_loss: 50_000_000,
                // 1,500 shares or $150,000 entered within 20 µs.
                entered_volume: Some(VolumeLimit {
                    max_qty: 1_500,
                    max_notional: 1_500 * REF as u64,
                    window_ns: 20_000,
                }),
                reject_rate: Some(Throttle {
                    max_msgs: 6,
                    window_ns: 50_000,
                }),
                ..Limits::unlimited()
            };
            let restricted = SymbolLimits {
                restricted: true,
                ..l.default_symbol
            };
            // Fits: two of MAX_OVERRIDES.
            let _ = l.overrides.push((1, restricted));
            let _ = l.overrides.push((2, SymbolLimits::UNLIMITED));
            if preset % 8 == 6 {
                l.self_match = SelfMatchScope::Venue;
            }
            l
        }
        2 | 3 => Limits::unlimited(),
        // A hair trigger: any loss or any refusal trips the switch.
        _ => {
            let mut l = Limits {
                max_daily_loss: 0,
                reject_rate: Some(Throttle {
                    max_msgs: 0,
                    window_ns: 1,
                }),
                ..Limits::example()
            };
            let restricted = SymbolLimits {
                restricted: true,
                ..l.default_symbol
            };
            let _ = l.overrides.push((3, restricted));
            l
        }
    }
}

/// An order the OMS entered, as the script knows it.
#[derive(Debug, Clone, Copy)]
struct Placed {
    id: OrderId,
    strategy: StrategyId,
    venue: VenueId,
    locate: StockLocate,
    side: Side,
    /// Terms of the last replace sent for it.
    asked: Option<(Price, u32)>,
    /// The ClOrdID of the last message sent for it (new, cancel, replace).
    newest: ClOrdId,
    /// The ExecID of its last execution the OMS applied (for busts and
    /// corrections to name).
    last_exec: Option<ExecKey>,
    /// Shares executed as the OMS reported them (fills, less what busts
    /// and corrections took back).
    executed: i64,
}

/// Duplicate-window key: strategy, locate, side, price, quantity.
type Terms = (u16, StockLocate, Side, i64, u32);

/// What a run reached, for the test that makes sure scripts get somewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reach {
    pub orders: u64,
    pub fills: u64,
    pub adjustments: u64,
    pub replaced: u64,
    pub trips: u64,
    pub kill_cancels: u64,
    pub unsent: u64,
    pub earlier_fills: u64,
}

struct Run {
    oms: Oms,
    risk: RiskEngine,
    now: u64,
    orders: Vec<Placed>,
    by_id: HashMap<u64, usize>,
    issued: Vec<ClOrdId>,
    /// Orders whose record the OMS may still hold.
    held: BTreeSet<usize>,
    /// Σ of signed fills and adjustments the OMS reported, per locate.
    positions: [i64; SYMBOLS],
    /// The price risk values each position at: the last positive price
    /// of a fill (or of an earlier boot's fill restored) or a mark.
    marks: [i64; SYMBOLS],
    /// (venue, ExecID) pairs applied to each order (fills, and the own ids
    /// of busts and corrections): a report repeating one may be dropped.
    executions: BTreeSet<(Option<u8>, u64, OrderId)>,
    /// Terms of new orders risk entered (or checked whole), when, and the
    /// duplicate table's retention then.
    entered: HashMap<Terms, (u64, u64)>,
    /// Longest duplicate window configured so far.
    retain_ns: u64,
    last_out: Option<Outbound>,
    /// Orders whose cancel never left while the switch was engaged: swept
    /// again at the retry timer.
    unsent_kill: BTreeSet<OrderId>,
    oms_counters: Vec<u64>,
    risk_counters: Vec<u64>,
    reach: Reach,
}

/// Every counter of `OmsStats`, named so that a new field breaks the build
/// here until it is checked too.
pub(crate) fn oms_stats(s: &OmsStats) -> Vec<u64> {
    every_counter!(
        OmsStats,
        *s,
        [
            reports,
            unknown_cl_ord_id,
            wrong_venue,
            out_of_order,
            duplicate_fills,
            fill_gaps,
            late_reports,
            ignored,
            canceled_on_disconnect,
            unsent,
            busts,
            corrections,
            unknown_exec_refs,
            duplicate_adjustments,
            reopened_by_bust,
            earlier_fills_recovered,
            earlier_fills_known,
            earlier_fills_unusable,
            journaled_table_full,
        ]
    )
}

/// Runs one script; returns what it reached.
pub fn run(data: &[u8]) -> Reach {
    let mut script = Script(data);
    let sizes = script.byte();
    let oms_orders = if sizes & 1 == 0 { 16 } else { 4 };
    let risk_orders = if sizes & 2 == 0 { 16 } else { 8 };
    let start = limits(sizes >> 2);
    let retain_ns = start.duplicate_window_ns;
    let (Ok(oms), Ok(risk)) = (
        Oms::new(OmsConfig {
            orders: oms_orders,
            symbols: SYMBOLS,
            last_epoch: LAST_EPOCH,
        }),
        RiskEngine::new(
            Capacity {
                symbols: SYMBOLS,
                orders: risk_orders,
                duplicate_slots: 64,
            },
            start,
        ),
    ) else {
        panic!("the harness's own configuration is valid");
    };
    let mut run = Run {
        oms,
        risk,
        now: T0,
        orders: Vec::new(),
        by_id: HashMap::new(),
        issued: Vec::new(),
        held: BTreeSet::new(),
        positions: [0; SYMBOLS],
        marks: [0; SYMBOLS],
        executions: BTreeSet::new(),
        entered: HashMap::new(),
        retain_ns,
        last_out: None,
        unsent_kill: BTreeSet::new(),
        oms_counters: Vec::new(),
        risk_counters: Vec::new(),
        reach: Reach::default(),
    };
    run.check_counters();
    while !script.0.is_empty() {
        run.step(&mut script);
        run.after_step();
    }
    run.reach.trips = run.risk.trips();
    run.reach
}

impl Run {
    fn step(&mut self, s: &mut Script) {
        match s.byte() % 32 {
            0..=7 => self.new_order(s),
            8 | 9 => self.cancel(s),
            10 | 11 => self.replace(s),
            12..=21 => self.report(s),
            22 | 23 => self.now += s.pick(STEPS_NS),
            24 => {
                let new = limits(s.byte());
                self.retain_ns = self.retain_ns.max(new.duplicate_window_ns);
                let applied = self.risk.apply_limits(new, Nanos(self.now));
                assert!(applied.is_ok(), "the presets validate: {applied:?}");
            }
            25 => self.risk.trip(s.pick([
                TripCause::Manual,
                TripCause::Manual,
                TripCause::DailyLoss,
                TripCause::RejectRate,
                TripCause::EndOfSession,
            ])),
            26 | 27 => {
                if self.risk.rearm().is_ok() {
                    self.unsent_kill.clear();
                }
            }
            28 | 29 => self.housekeeping(s),
            30 => self.unsent(s),
            _ => {
                self.risk.retry_unsent_kill_cancels();
                self.unsent_kill.clear();
            }
        }
    }

    /// One of the script's orders: a recent one mostly, any one sometimes.
    fn pick_order(&self, b: u8) -> Option<usize> {
        pick_index(self.orders.len(), b, 8)
    }

    fn placed(&self, i: Option<usize>) -> Option<Placed> {
        i.and_then(|i| self.orders.get(i)).copied()
    }

    fn new_order(&mut self, s: &mut Script) {
        let side = s.side();
        let intent = OrderIntent::New {
            strategy: StrategyId(s.pick(STRATEGIES)),
            locate: s.pick(LOCATES),
            symbol: symbol_of(usize::from(s.byte()) % SYMBOLS),
            side,
            price: limit_price(s, side),
            qty: order_qty(s),
            tif: TimeInForce::Day,
        };
        let venue = VenueId(s.pick(VENUES));
        let reference = reference(s);
        let _ = self.submit(&intent, venue, reference);
    }

    /// The script's order `i` (or a bogus id), by its own strategy or
    /// another.
    fn target(&self, s: &mut Script) -> (StrategyId, OrderId) {
        let (which, whose) = (s.byte(), s.byte());
        match self.placed(self.pick_order(which)) {
            Some(p) if whose % 8 != 0 => (p.strategy, p.id),
            Some(p) => (StrategyId(p.strategy.0 ^ 1), p.id),
            None => (StrategyId(0), OrderId(u64::from(whose))),
        }
    }

    fn cancel(&mut self, s: &mut Script) {
        let (strategy, order) = self.target(s);
        let intent = OrderIntent::Cancel { strategy, order };
        let reference = reference(s);
        let _ = self.submit(&intent, VenueId(0), reference);
    }

    fn replace(&mut self, s: &mut Script) {
        let (strategy, order) = self.target(s);
        let terms = self.oms.terms(order);
        let side = self
            .placed(self.by_id.get(&order.0).copied())
            .map_or(Side::Buy, |p| p.side);
        let qty = match (s.byte() % 4, terms) {
            (0, Some((qty, ..))) => qty.saturating_add(100),
            (1, Some((_, cum, ..))) => cum.saturating_add(1),
            (2, Some((qty, ..))) => qty.saturating_sub(100),
            _ => order_qty(s),
        };
        let intent = OrderIntent::Replace {
            strategy,
            order,
            price: limit_price(s, side),
            qty,
        };
        let reference = reference(s);
        let _ = self.submit(&intent, VenueId(0), reference);
    }

    /// An intent through the OMS, with what its result must satisfy.
    fn submit(
        &mut self,
        intent: &OrderIntent,
        venue: VenueId,
        reference: Option<Price>,
    ) -> Result<Outbound, RejectReason> {
        let tripped = self.risk.tripped();
        let amended = match *intent {
            OrderIntent::Cancel { order, .. } | OrderIntent::Replace { order, .. } => Some(order),
            OrderIntent::New { .. } => None,
        };
        let orig = amended.and_then(|o| self.oms.current_cl_ord_id(o));
        let result = self
            .oms
            .submit(intent, venue, reference, &mut self.risk, Nanos(self.now));
        if let (Some(cause), OrderIntent::New { .. } | OrderIntent::Replace { .. }) =
            (tripped, intent)
        {
            assert_eq!(
                result,
                Err(cause.refusal()),
                "while tripped ({cause:?}) {intent:?}"
            );
        }
        let Ok(out) = result else {
            return result;
        };
        self.last_out = Some(out);
        match (out, *intent) {
            (
                Outbound::New {
                    order,
                    cl_ord_id,
                    venue: sent_to,
                    locate,
                    side,
                    price,
                    qty,
                    ..
                },
                OrderIntent::New {
                    strategy,
                    locate: l,
                    side: sd,
                    price: p,
                    qty: q,
                    ..
                },
            ) => {
                assert_eq!((locate, side, price, qty, sent_to), (l, sd, p, q, venue));
                assert_eq!(
                    order,
                    OrderId(cl_ord_id.0),
                    "an order is named by its first id"
                );
                self.issue(cl_ord_id, strategy);
                self.check_opening(locate, side, price, qty, venue, reference);
                self.check_duplicate((strategy.0, locate, side, price.0, qty));
                let index = self.orders.len();
                self.orders.push(Placed {
                    id: order,
                    strategy,
                    venue,
                    locate,
                    side,
                    asked: None,
                    newest: cl_ord_id,
                    last_exec: None,
                    executed: 0,
                });
                self.by_id.insert(order.0, index);
                self.held.insert(index);
                self.check_open_caps(locate);
                self.reach.orders += 1;
            }
            (
                Outbound::Replace {
                    order,
                    cl_ord_id,
                    orig_cl_ord_id,
                    price,
                    qty,
                    ..
                },
                OrderIntent::Replace {
                    strategy,
                    order: o,
                    price: p,
                    qty: q,
                },
            ) => {
                assert_eq!((order, price, qty), (o, p, q));
                assert_eq!(Some(orig_cl_ord_id), orig);
                self.issue(cl_ord_id, strategy);
                let index = self.by_id.get(&order.0).copied();
                let placed = self.placed(index);
                let Some((i, p)) = index.zip(placed) else {
                    panic!("a replace of an order the OMS never entered: {out:?}");
                };
                self.check_opening(p.locate, p.side, price, qty, p.venue, reference);
                if let Some(placed) = self.orders.get_mut(i) {
                    placed.asked = Some((price, qty));
                    placed.newest = cl_ord_id;
                }
            }
            (
                Outbound::Cancel {
                    order,
                    cl_ord_id,
                    orig_cl_ord_id,
                    venue: sent_to,
                    ..
                },
                OrderIntent::Cancel { strategy, order: o },
            ) => {
                assert_eq!(order, o);
                assert_eq!(Some(orig_cl_ord_id), orig);
                let index = self.by_id.get(&order.0).copied();
                assert_eq!(
                    self.placed(index).map(|p| p.venue),
                    Some(sent_to),
                    "{out:?}"
                );
                self.issue(cl_ord_id, strategy);
                if let Some(placed) = index.and_then(|i| self.orders.get_mut(i)) {
                    placed.newest = cl_ord_id;
                }
            }
            _ => panic!("{intent:?} sent as {out:?}"),
        }
        result
    }

    /// A ClOrdID the OMS just issued for `strategy`: this boot's, above
    /// every earlier one (so never a repeat).
    fn issue(&mut self, cl: ClOrdId, strategy: StrategyId) {
        assert_eq!(cl.epoch(), self.oms.epoch());
        assert_eq!(cl.epoch(), LAST_EPOCH + 1);
        assert_eq!(cl.strategy(), strategy);
        if let Some(&last) = self.issued.last() {
            assert!(cl > last, "{cl:?} issued after {last:?}");
        }
        self.issued.push(cl);
    }

    /// A new order or replace risk let through, judged against the limits
    /// in force (which the check did not change) by their definitions.
    #[allow(clippy::too_many_arguments)]
    fn check_opening(
        &self,
        locate: StockLocate,
        side: Side,
        price: Price,
        qty: u32,
        venue: VenueId,
        reference: Option<Price>,
    ) {
        assert_eq!(self.risk.tripped(), None);
        let l = *self.risk.limits().for_symbol(locate);
        let what = (locate, side, price, qty, reference);
        assert!(usize::from(locate) < SYMBOLS, "{what:?}");
        assert!(!l.restricted, "restricted: {what:?}");
        assert!(qty > 0 && qty <= l.max_order_qty, "size: {what:?}");
        assert!(price.0 > 0, "price: {what:?}");
        assert!(
            i128::from(price.0) * i128::from(qty) <= i128::from(l.max_notional),
            "notional: {what:?}"
        );
        if l.collar_bps.is_some() || l.collar_ticks.is_some() {
            let r = reference.map_or(0, |r| r.0);
            assert!(r > 0, "collar without a reference: {what:?}");
            let diff = i128::from(price.0.abs_diff(r));
            if let Some(bps) = l.collar_bps {
                assert!(
                    diff * 10_000 <= i128::from(bps) * i128::from(r),
                    "bps collar: {what:?}"
                );
            }
            if let Some(ticks) = l.collar_ticks {
                assert!(
                    diff <= i128::from(ticks) * i128::from(l.tick_size),
                    "tick collar: {what:?}"
                );
            }
        }
        // Self-match: risk's best own price on the other side is at least
        // as aggressive as any open order there (it also counts a replace
        // in flight at its worse terms); under the venue scope, of the
        // open orders at the order's venue.
        let per_venue = self.risk.limits().self_match == SelfMatchScope::Venue;
        for o in self.oms.open_orders() {
            if o.locate == locate && o.side != side && (!per_venue || o.venue == venue) {
                let crosses = match side {
                    Side::Buy => price >= o.price,
                    Side::Sell => price <= o.price,
                };
                assert!(!crosses, "self-match with {o:?}: {what:?}");
            }
        }
    }

    /// Risk just entered `terms`: none entered within the duplicate window
    /// (as long as the table was bound to keep it).
    fn check_duplicate(&mut self, terms: Terms) {
        let window = self.risk.limits().duplicate_window_ns;
        if let Some(&(at, retained)) = self.entered.get(&terms) {
            let age = self.now - at;
            assert!(
                window == 0 || age >= window.min(retained),
                "duplicate of {terms:?} entered {age} ns ago, window {window}"
            );
        }
        self.entered.insert(terms, (self.now, self.retain_ns));
    }

    fn check_open_caps(&self, locate: StockLocate) {
        let l = self.risk.limits();
        assert!(self.risk.open_orders() <= l.max_open_orders);
        let here = self
            .held
            .iter()
            .filter_map(|&i| self.orders.get(i))
            .filter(|p| p.locate == locate && self.risk.holds_id(p.id))
            .count();
        assert!(here as u64 <= u64::from(l.for_symbol(locate).max_open_orders));
    }

    /// An execution report from a venue: about one of the script's orders
    /// (under its current ClOrdID, its first, any ClOrdID issued) or
    /// garbage, with quantities chosen around the order's terms.
    fn report(&mut self, s: &mut Script) {
        let exec_type = s.pick(EXEC_TYPES);
        let index = self.pick_order(s.byte());
        let placed = self.placed(index);
        let current = placed.and_then(|p| self.oms.current_cl_ord_id(p.id));
        let first = placed.map(|p| ClOrdId(p.id.0));
        let any_issued = |b: u8| {
            let n = self.issued.len();
            self.issued.get(usize::from(b) % n.max(1)).copied()
        };
        let (naming, b) = (s.byte(), s.byte());
        let garbage = || {
            let epoch = [0, LAST_EPOCH, LAST_EPOCH + 1, LAST_EPOCH + 2][usize::from(b) % 4];
            ClOrdId::new(epoch, u64::from(b) << 6 | u64::from(b % 5))
        };
        let cl = match naming % 8 {
            0 | 1 => current.or(first),
            2 | 3 => placed.map(|p| p.newest),
            4 => first,
            5 => any_issued(b),
            6 => Some(garbage()),
            _ => None,
        };
        let orig = match naming >> 3 & 3 {
            0 => first,
            1 => current,
            2 if cl.is_none() => Some(garbage()),
            _ => None,
        };
        let (qty, cum, leaves, price) =
            placed
                .and_then(|p| self.oms.terms(p.id))
                .unwrap_or((0, 0, 0, Price::ZERO));
        let Quantities {
            d,
            last_qty,
            cum_qty,
            leaves_qty,
        } = QTYS_REPORTED.read(s, (qty, cum, leaves));
        let last_px = s.pick([
            Price::ZERO,
            Price::ZERO,
            price,
            price,
            price,
            price,
            Price(REF),
            Price(REF),
            Price(REF + i64::from(d % 16) * TICK),
            Price(REF - i64::from(d % 16) * TICK),
            Price(REF + i64::from(d) * TICK),
            Price(REF - i64::from(d) * 1_000),
            Price(1),
            Price(i64::MAX),
        ]);
        let asked = placed.and_then(|p| p.asked);
        let (new_price, order_qty) = match s.byte() % 4 {
            0 | 1 => (Price::ZERO, 0),
            2 => asked.unwrap_or((Price::ZERO, 0)),
            _ => (Price(REF + i64::from(d) * TICK), d),
        };
        let ord_status = ord_status(s);
        let exec_id = s.exec_id();
        let exec_ref_id = match s.byte() & 1 {
            0 => placed.and_then(|p| p.last_exec),
            _ => s.exec_id(),
        };
        let venue = match s.byte() % 8 {
            0 | 1 => None,
            7 => Some(VenueId(s.pick(VENUES))),
            _ => placed.map(|p| p.venue),
        };
        let with_instrument = s.byte();
        let rep = ExecReport {
            cl_ord_id: cl,
            orig_cl_ord_id: orig,
            exec_type,
            ord_status,
            last_qty,
            last_px,
            leaves_qty,
            cum_qty,
            price: new_price,
            order_qty,
            transact_time: Nanos(self.now),
            exec_id,
            exec_ref_id,
            side: (with_instrument & 1 != 0).then(|| placed.map_or(Side::Buy, |p| p.side)),
            symbol: (with_instrument & 2 != 0)
                .then(|| symbol_of(placed.map_or(usize::from(b), |p| usize::from(p.locate)))),
            venue,
        };
        self.deliver(&rep);
    }

    /// One report through the OMS (and, as the pipeline does, an earlier
    /// boot's fill or adjustment it could not apply), with its effect
    /// checked against what the OMS documents.
    fn deliver(&mut self, rep: &ExecReport) {
        // What the OMS will find the report about: the order its ClOrdID
        // names, else the one its OrigClOrdID does.
        let named = rep
            .cl_ord_id
            .and_then(|c| self.oms.order_named(c))
            .or_else(|| rep.orig_cl_ord_id.and_then(|c| self.oms.order_named(c)));
        let order = named.map(|n| n.order);
        let index = order.and_then(|o| self.by_id.get(&o.0).copied());
        let placed = self.placed(index);
        let before_terms = order.and_then(|o| self.oms.terms(o));
        let before_state = order.and_then(|o| self.oms.state(o));
        let stats = *self.oms.stats();
        let event = self
            .oms
            .on_exec_report(rep, Nanos(self.now), &mut self.risk);
        let after = *self.oms.stats();
        assert_eq!(after.reports, stats.reports + 1);
        if let (Some(o), None) = (order, placed) {
            panic!("a report found order {o:?}, which the OMS never entered");
        }

        let adjustment = matches!(
            rep.exec_type,
            ExecType::TradeCancel | ExecType::TradeCorrect
        );
        let is_fill = matches!(
            rep.exec_type,
            ExecType::PartialFill | ExecType::Fill | ExecType::Trade
        );
        let venue_ok = match (rep.venue, placed) {
            (Some(v), Some(p)) => v == p.venue,
            _ => true,
        };
        match (placed, before_terms, before_state) {
            _ if adjustment => {}
            (None, ..) => {
                assert_eq!(event, None, "{rep:?}");
                assert_eq!(after.unknown_cl_ord_id, stats.unknown_cl_ord_id + 1);
            }
            (Some(_), ..) if !venue_ok => {
                assert_eq!(event, None, "{rep:?}");
                assert_eq!(after.wrong_venue, stats.wrong_venue + 1);
            }
            (Some(p), Some(terms), Some(_)) if is_fill => {
                self.check_fill(rep, p, terms, event, &stats, &after);
            }
            (Some(_), _, Some(state)) if state.is_terminal() => {
                assert_eq!(event, None, "late {rep:?}");
                assert_eq!(after.late_reports, stats.late_reports + 1);
            }
            (Some(p), _, Some(_)) => match rep.exec_type {
                ExecType::Canceled | ExecType::Expired | ExecType::DoneForDay => {
                    assert_eq!(
                        event,
                        Some(OrderEvent::Canceled {
                            strategy: p.strategy,
                            order: p.id
                        })
                    );
                    assert!(self.oms.state(p.id).is_some_and(OrderState::is_terminal));
                    assert!(!self.risk.holds_id(p.id));
                }
                ExecType::Other => {
                    assert_eq!(event, None);
                    assert_eq!(after.ignored, stats.ignored + 1);
                }
                ExecType::Replaced => {
                    if let Some(OrderEvent::Replaced {
                        price, qty, leaves, ..
                    }) = event
                    {
                        let Some((asked_price, asked_qty)) = p.asked else {
                            panic!("replaced without a replace sent: {rep:?}");
                        };
                        let want_price = if rep.price.0 > 0 {
                            rep.price
                        } else {
                            asked_price
                        };
                        let want_qty = if rep.order_qty > 0 {
                            rep.order_qty
                        } else {
                            asked_qty
                        };
                        assert_eq!((price, qty), (want_price, want_qty), "{rep:?}");
                        if let Some((q, cum, open, px)) = self.oms.terms(p.id) {
                            assert_eq!((q, px), (want_qty.max(cum), want_price));
                            // What the owner hears the venue works is what
                            // the OMS counts open: the total less what filled.
                            assert_eq!(leaves, open, "{rep:?}");
                        }
                        self.reach.replaced += 1;
                    }
                }
                _ => {}
            },
            // Found by name but with no terms or state: the record is
            // gone, which `order_named` does not answer for.
            (Some(_), ..) => panic!("named order without a record: {rep:?}"),
        }

        match event {
            Some(OrderEvent::Filled {
                order,
                locate,
                side,
                qty,
                price,
                ..
            }) => {
                self.executed(order, locate, side, i64::from(qty));
                self.marked(locate, price);
            }
            Some(OrderEvent::FillAdjusted {
                order,
                locate,
                side,
                was_qty,
                qty,
                ..
            }) => {
                self.reach.adjustments += 1;
                let moved = i64::from(qty) - i64::from(was_qty);
                self.executed(order, locate, side, moved);
                let p = self.placed(self.by_id.get(&order.0).copied());
                assert!(
                    p.is_some_and(|p| p.executed >= 0),
                    "an adjustment took back more than {order:?} executed: {rep:?}"
                );
                if let Some(k) = rep.exec_id {
                    self.executions
                        .insert((rep.venue.map(|v| v.0), k.0.get(), order));
                }
            }
            Some(_) => {}
            None => self.earlier(rep),
        }
    }

    /// A fill of the script's order `p`, which the OMS held with `terms`
    /// (qty, cum, leaves, price) before the report.
    fn check_fill(
        &mut self,
        rep: &ExecReport,
        p: Placed,
        terms: (u32, u32, u32, Price),
        event: Option<OrderEvent>,
        stats: &OmsStats,
        after: &OmsStats,
    ) {
        let (qty, cum, _, price) = terms;
        let new_cum = if rep.cum_qty > 0 {
            rep.cum_qty
        } else {
            cum.saturating_add(rep.last_qty)
        };
        let key = rep
            .exec_id
            .map(|k| (rep.venue.map(|v| v.0), k.0.get(), p.id));
        let maybe_repeat = key.is_some_and(|k| self.executions.contains(&k));
        let now_terms = self.oms.terms(p.id);
        match event {
            Some(OrderEvent::Filled {
                order,
                locate,
                side,
                price: px,
                qty: filled,
                ..
            }) => {
                assert!(new_cum > cum, "applied without moving CumQty: {rep:?}");
                assert_eq!(filled, new_cum - cum, "{rep:?}");
                assert_eq!((order, locate, side), (p.id, p.locate, p.side));
                let want_px = if rep.last_px.0 > 0 {
                    rep.last_px
                } else {
                    price
                };
                assert_eq!(px, want_px);
                let gap = u64::from(filled != rep.last_qty);
                assert_eq!(after.fill_gaps, stats.fill_gaps + gap);
                let Some((q, c, ..)) = now_terms else {
                    panic!("a filled order lost its record: {rep:?}");
                };
                assert_eq!((q, c), (qty.max(new_cum), new_cum), "{rep:?}");
                if let Some(k) = key {
                    self.executions.insert(k);
                }
                let index = self.by_id.get(&p.id.0).copied();
                if let (Some(placed), Some(k)) =
                    (index.and_then(|i| self.orders.get_mut(i)), rep.exec_id)
                {
                    placed.last_exec = Some(k);
                }
                self.reach.fills += 1;
            }
            None => {
                assert!(
                    new_cum <= cum || maybe_repeat,
                    "a fill moving CumQty {cum} -> {new_cum} was dropped: {rep:?}"
                );
                assert_eq!(after.duplicate_fills, stats.duplicate_fills + 1);
                assert_eq!(now_terms, Some(terms), "a dropped fill changed the order");
            }
            Some(other) => panic!("{other:?} for the fill {rep:?}"),
        }
    }

    /// `order` executed `qty` more shares (negative: taken back).
    fn executed(&mut self, order: OrderId, locate: StockLocate, side: Side, qty: i64) {
        let index = self.by_id.get(&order.0).copied();
        let Some(p) = index.and_then(|i| self.orders.get_mut(i)) else {
            panic!("an execution of {order:?}, which the OMS never entered");
        };
        assert_eq!((locate, side), (p.locate, p.side));
        p.executed += qty;
        let Some(pos) = self.positions.get_mut(usize::from(locate)) else {
            panic!("an order at locate {locate}");
        };
        *pos += side.sign() * qty;
    }

    /// What the OMS did not apply may be an earlier boot's fill or an
    /// adjustment of one, which the caller places by its symbol.
    fn earlier(&mut self, rep: &ExecReport) {
        if let Some(fill) = self.oms.earlier_fill(rep) {
            let Some(locate) = locate_of_symbol(fill.symbol) else {
                self.oms.unplaced_earlier_fill();
                return;
            };
            self.oms.recover_fill(&fill, locate, &mut self.risk);
            self.moved(locate, fill.side, i64::from(fill.qty));
            self.marked(locate, fill.price);
            self.reach.earlier_fills += 1;
        } else if let Some(adj) = self.oms.earlier_adjustment(rep) {
            let Some(locate) = locate_of_symbol(adj.symbol) else {
                self.oms.unplaced_earlier_fill();
                return;
            };
            self.oms.recover_adjustment(&adj, locate, &mut self.risk);
            self.moved(
                locate,
                adj.side,
                i64::from(adj.qty) - i64::from(adj.was_qty),
            );
            // Replayed as fills: the old one taken back at its price, then
            // the corrected one.
            if adj.was_qty > 0 {
                self.marked(locate, adj.was_price);
            }
            if adj.qty > 0 {
                self.marked(locate, adj.price);
            }
        }
    }

    /// Risk values `locate`'s position at `price` from now, if positive.
    fn marked(&mut self, locate: StockLocate, price: Price) {
        if let (Some(mark), true) = (self.marks.get_mut(usize::from(locate)), price.0 > 0) {
            *mark = price.0;
        }
    }

    fn moved(&mut self, locate: StockLocate, side: Side, qty: i64) {
        if let Some(pos) = self.positions.get_mut(usize::from(locate)) {
            *pos += side.sign() * qty;
        }
    }

    fn housekeeping(&mut self, s: &mut Script) {
        match s.byte() % 6 {
            0 => {
                let venue = VenueId(s.pick(VENUES));
                if let Ok(out) = self.oms.mass_cancel(venue) {
                    let Outbound::MassCancel { cl_ord_id, .. } = out else {
                        panic!("mass cancel sent as {out:?}");
                    };
                    self.issue(cl_ord_id, StrategyId(0));
                    self.last_out = Some(out);
                }
            }
            1 => {
                let venue = VenueId(s.pick(VENUES));
                let mut canceled = Vec::new();
                self.oms
                    .venue_lost(venue, &mut self.risk, |e| canceled.push(*e));
                for e in canceled {
                    let OrderEvent::Canceled { order, .. } = e else {
                        panic!("{e:?} on losing a venue");
                    };
                    let p = self.placed(self.by_id.get(&order.0).copied());
                    assert_eq!(p.map(|p| p.venue), Some(venue));
                }
                assert!(self.oms.open_orders().all(|o| o.venue != venue));
            }
            2 | 3 => self.oms.tidy(),
            4 => {
                let locate = s.pick(LOCATES);
                let price = limit_price(s, Side::Buy);
                self.oms.mark(locate, price, &mut self.risk);
                self.marked(locate, price);
            }
            _ => {
                let side = s.side();
                let intent = OrderIntent::New {
                    strategy: StrategyId(s.pick(STRATEGIES)),
                    locate: s.pick(LOCATES),
                    symbol: symbol_of(0),
                    side,
                    price: limit_price(s, side),
                    qty: order_qty(s),
                    tif: TimeInForce::Day,
                };
                let venue = VenueId(s.pick(VENUES));
                let reference = reference(s);
                let tripped = self.risk.tripped();
                let open = self.risk.open_orders();
                let whole = self.oms.check_whole(
                    &intent,
                    venue,
                    reference,
                    &mut self.risk,
                    Nanos(self.now),
                );
                assert_eq!(self.risk.open_orders(), open, "a whole check left an order");
                if let Some(cause) = tripped {
                    assert_eq!(whole, Err(cause.refusal()));
                }
                if let (
                    Ok(()),
                    OrderIntent::New {
                        strategy,
                        locate,
                        side,
                        price,
                        qty,
                        ..
                    },
                ) = (whole, intent)
                {
                    self.check_opening(locate, side, price, qty, venue, reference);
                    self.check_duplicate((strategy.0, locate, side, price.0, qty));
                }
            }
        }
    }

    /// The last message never reached its venue (or, a new order, is
    /// withdrawn).
    fn unsent(&mut self, s: &mut Script) {
        let Some(out) = self.last_out.take() else {
            return;
        };
        let tripped = self.risk.tripped().is_some();
        match out {
            Outbound::New {
                order,
                locate,
                side,
                price,
                qty,
                ..
            } => {
                let before = self.oms.state(order);
                if s.byte() & 1 == 0 {
                    self.oms.withdraw(&out, &mut self.risk);
                } else {
                    let _ = self.oms.unsent(&out, &mut self.risk);
                }
                let after = self.oms.state(order);
                if before != after {
                    assert_eq!(after, Some(OrderState::Rejected));
                    assert!(!self.risk.holds_id(order));
                    // Its terms left the duplicate window.
                    let strategy = self.placed(self.by_id.get(&order.0).copied());
                    if let Some(p) = strategy {
                        self.entered
                            .remove(&(p.strategy.0, locate, side, price.0, qty));
                    }
                    self.reach.unsent += 1;
                }
            }
            Outbound::Cancel { order, .. } => {
                let event = self.oms.unsent(&out, &mut self.risk);
                if event.is_some() {
                    assert!(!self.oms.cancel_in_flight(
                        self.placed(self.by_id.get(&order.0).copied())
                            .map_or(StrategyId(0), |p| p.strategy),
                        order
                    ));
                    if tripped {
                        self.unsent_kill.insert(order);
                    }
                    self.reach.unsent += 1;
                }
            }
            Outbound::Replace { .. } | Outbound::MassCancel { .. } => {
                let _ = self.oms.unsent(&out, &mut self.risk);
            }
        }
    }

    /// While the switch is engaged the pipeline sweeps its cancels after
    /// every input; so does the harness, then checks what it promises.
    fn after_step(&mut self) {
        if self.risk.tripped().is_some() {
            self.sweep();
            self.check_kill();
        }
        self.check_orders();
        self.check_positions();
        self.check_counters();
    }

    fn sweep(&mut self) {
        let mut cancels = [OrderIntent::Cancel {
            strategy: StrategyId(0),
            order: OrderId(0),
        }; 4];
        // Each order comes once per sweep, and again only after a refusal
        // (at most `KILL_CANCEL_ATTEMPTS` times): far fewer rounds than this.
        for _ in 0..SWEEP_ROUNDS {
            let n = self.risk.kill_cancels(&mut cancels);
            if n == 0 {
                assert!(!self.risk.kill_cancels_due());
                return;
            }
            for intent in cancels.iter().take(n) {
                if self.submit(intent, VenueId(0), None).is_ok() {
                    self.reach.kill_cancels += 1;
                }
            }
        }
        panic!("the kill's sweep does not end");
    }

    /// After the sweep: every order risk tracks has a cancel in flight,
    /// or its cancel waits for the retry timer, or the venue refused it
    /// too often.
    fn check_kill(&self) {
        let uncovered = self
            .held
            .iter()
            .filter_map(|&i| self.orders.get(i))
            .filter(|p| {
                self.risk.holds_id(p.id)
                    && !self.oms.cancel_in_flight(p.strategy, p.id)
                    && !self.unsent_kill.contains(&p.id)
            })
            .count();
        assert!(
            uncovered <= self.risk.kill_abandoned(),
            "{uncovered} open orders without a cancel after the kill's sweep, {} abandoned",
            self.risk.kill_abandoned()
        );
    }

    /// An order is open in the OMS exactly when risk tracks it.
    fn check_orders(&mut self) {
        let mut gone = Vec::new();
        let mut open = 0u32;
        for &i in &self.held {
            let Some(p) = self.orders.get(i) else {
                continue;
            };
            let tracked = self.risk.holds_id(p.id);
            match self.oms.state(p.id) {
                None => {
                    assert!(!tracked, "risk tracks {:?}, whose record is gone", p.id);
                    gone.push(i);
                }
                Some(state) => {
                    assert_eq!(
                        !state.is_terminal(),
                        tracked,
                        "{:?} is {state:?} in the OMS; risk tracks it: {tracked}",
                        p.id
                    );
                    open += u32::from(tracked);
                }
            }
        }
        for i in gone {
            self.held.remove(&i);
        }
        assert_eq!(self.risk.open_orders(), open);
        let mut oms_open = 0u32;
        self.oms.held_locates(|_, symbol| {
            oms_open += u32::from(symbol.is_some());
        });
        assert_eq!(oms_open, open);
    }

    fn check_positions(&self) {
        let (mut net, mut realized, mut unrealized) = (0i64, 0i128, 0i128);
        let (mut gross, mut credit, mut amending_anywhere) = (0i128, 0i128, false);
        for (l, &want) in self.positions.iter().enumerate() {
            let locate = l as StockLocate;
            let Some(p) = self.oms.position(locate) else {
                panic!("no position record at {locate}");
            };
            assert_eq!(p.qty, want, "OMS position at {locate}");
            assert_eq!(
                self.risk.position(locate),
                want,
                "risk position at {locate}"
            );
            net += want;
            realized += p.realized;
            unrealized += p.unrealized();

            // Open quantity: what the OMS's open orders leave, never more
            // than risk counts, and equal when no replace can be in
            // flight (risk counts one at its worse terms).
            let (mut buy, mut sell, mut buy_n, mut sell_n) = (0u64, 0u64, 0i128, 0i128);
            for o in self.oms.open_orders().filter(|o| o.locate == locate) {
                match o.side {
                    Side::Buy => {
                        buy += u64::from(o.leaves);
                        buy_n += o.price.notional(o.leaves);
                    }
                    Side::Sell => {
                        sell += u64::from(o.leaves);
                        sell_n += o.price.notional(o.leaves);
                    }
                }
            }
            assert_eq!((p.open_buy, p.open_sell), (buy, sell), "at {locate}");
            assert_eq!(
                (p.open_buy_notional, p.open_sell_notional),
                (buy_n, sell_n),
                "at {locate}"
            );
            let (risk_buy, risk_sell) = self.risk.open_qty(locate);
            assert!(
                buy <= risk_buy && sell <= risk_sell,
                "the OMS works {buy}/{sell} at {locate}, risk counts {risk_buy}/{risk_sell}"
            );
            let amending = self
                .held
                .iter()
                .filter_map(|&i| self.orders.get(i))
                .any(|o| {
                    o.locate == locate
                        && matches!(
                            self.oms.state(o.id),
                            Some(OrderState::PendingReplace | OrderState::PendingCancel)
                        )
                });
            if !amending {
                assert_eq!((buy, sell), (risk_buy, risk_sell), "at {locate}");
            }
            amending_anywhere |= amending;

            // Risk's rooms, recomputed from their definitions: the worst
            // case if every open order of one side filled, and open
            // notional plus the position valued at the mark.
            let (long, short) = (
                i128::from(want) + i128::from(risk_buy),
                i128::from(risk_sell) - i128::from(want),
            );
            gross += long.max(short).max(0);
            let mark = self.marks.get(l).copied().unwrap_or(0);
            credit += buy_n + sell_n + i128::from(want.unsigned_abs()) * i128::from(mark);
        }
        assert_eq!(self.risk.gross_exposure(), gross, "gross exposure");
        if amending_anywhere {
            assert!(self.risk.credit_used() >= credit, "credit used");
        } else {
            assert_eq!(self.risk.credit_used(), credit, "credit used");
        }
        assert_eq!(self.risk.net_position(), net);
        assert_eq!(self.oms.realized_pnl(), realized);
        assert_eq!(self.oms.unrealized_pnl(), unrealized);
    }

    /// Counters only grow.
    fn check_counters(&mut self) {
        let mut oms = oms_stats(self.oms.stats());
        let mut risk = vec![self.risk.unknown_events(), self.risk.trips()];
        for reason in RejectReason::ALL {
            oms.push(self.oms.reject_count(reason));
            risk.push(self.risk.reject_count(reason));
        }
        for (was, now) in [(&self.oms_counters, &oms), (&self.risk_counters, &risk)] {
            for (i, (a, b)) in was.iter().zip(now.iter()).enumerate() {
                assert!(b >= a, "counter {i} went from {a} to {b}");
            }
        }
        self.oms_counters = oms;
        self.risk_counters = risk;
    }
}
