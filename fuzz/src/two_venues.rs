//! What the harnesses that drive a two-venue `Pipeline` (`split`,
//! `quoting`, `pairs`) share: the venues, the `send` closure's side, the
//! operations on the switch, the venues and the wire, the feed messages,
//! the reports a venue sends (garbled ones built from the script,
//! well-formed answers, fills and busts, the heal's cancels), the limit
//! presets, the kill's sweep check, the hold marks and the counters that
//! only grow.

use std::collections::BTreeSet;

use book::{Book, BookConfig};
use gateway::oms::{ClOrdId, ExecKey, ExecReport, ExecType, Oms, OmsConfig, Outbound};
use gateway::router::{Router, RouterConfig, VenueConfig};
use pipeline::{Pipeline, PipelineStats};
use protocol::itch::{
    AddOrderRepr, Header, Message, MessageRepr, OrderCancelRepr, OrderDeleteRepr,
    OrderExecutedRepr, OrderReplaceRepr, StockTradingActionRepr, TradeRepr,
};
use risk::{Capacity, Limits, RiskEngine, SymbolLimits, Throttle};
use strategy::engine::{Engine, Hosted};
use types::{Nanos, OrderId, Price, RejectReason, Side, StockLocate, StrategyId, Symbol, VenueId};

use crate::order_path::oms_stats;
use crate::reports::{fresh_exec_id, ord_status, Qty, QtyTables};
use crate::script::Script;

/// The primary venue, whose feed drives the book the strategies see, and
/// the away venue, whose feed keeps an away book only the router reads.
pub(crate) const PRIMARY: VenueId = VenueId(1);
pub(crate) const AWAY: VenueId = VenueId(2);
/// Both venues, in the router's order (the slot of each in
/// `PipelineStats::orders_by_venue` and `Wire::refusing`).
pub(crate) const VENUES: [VenueId; 2] = [PRIMARY, AWAY];
/// One cent, in price4: both harnesses' tick.
pub(crate) const TICK: i64 = 100;
/// 09:30, in ITCH nanoseconds since midnight: the feed's clock and ours.
pub(crate) const T0: u64 = 34_200_000_000_000;
/// Order references per stock in each book: adds reuse them, so deletes,
/// executions (and replaces) find orders and some adds are duplicates.
pub(crate) const REFS: u8 = 16;
/// Rounds of answers the heal may take to cancel everything.
pub(crate) const HEAL_ROUNDS: usize = 8;
/// Book order sizes: mostly below `split`'s taker's quantity (one venue's
/// touch rarely covers it), sometimes enough for the whole, or an edge.
#[rustfmt::skip]
pub(crate) const SHARES: [u32; 16] = [
    100, 200, 300, 100, 50, 200, 150, 100, 300, 50, 200, 100, 1_000, 1, 0, u32::MAX,
];

/// A pipeline hosting `strategy` alone under `limits`, with the two venues
/// (each's take and make fee, in `VENUES` order) up: the primary's feed in
/// the pipeline's book and the away venue's in an away book; the OMS small
/// enough that finished orders' slots are reused.
pub(crate) fn pipeline(strategy: Hosted, limits: Limits, fees: [(i64, i64); 2]) -> Pipeline<4, 8> {
    let books = || {
        Book::with_capacity(BookConfig {
            max_orders: 64,
            max_levels: 32,
        })
    };
    let mut strategies: Engine<4, 8> = Engine::new();
    assert!(strategies.add(strategy).is_ok(), "one strategy fits");
    let (Ok(risk), Ok(oms)) = (
        RiskEngine::new(
            Capacity {
                symbols: 16,
                orders: 64,
                duplicate_slots: 64,
            },
            limits,
        ),
        Oms::new(OmsConfig {
            orders: 16,
            symbols: 16,
            last_epoch: 0,
        }),
    ) else {
        panic!("the harness's risk and OMS configuration is valid");
    };
    let mut router = Router::new(RouterConfig::default());
    for (id, (take_fee, make_fee)) in VENUES.into_iter().zip(fees) {
        let added = router.add_venue(VenueConfig {
            id,
            take_fee,
            make_fee,
            mass_cancel: false,
        });
        assert!(added.is_ok(), "two venues fit");
        router.set_session(id, true);
    }
    let mut p = Pipeline::with_router(books(), strategies, risk, oms, PRIMARY, router);
    assert!(p.add_away_book(AWAY, books()));
    p
}

/// `repr` as the feed sends it, in `bytes`.
pub(crate) fn itch_message<'a>(repr: &MessageRepr, bytes: &'a mut [u8; 64]) -> Message<'a> {
    let Ok(n) = repr.emit(bytes) else {
        panic!("the harness's ITCH message encodes: {repr:?}");
    };
    let Ok(msg) = Message::parse(&bytes[..n]) else {
        panic!("the harness's ITCH message parses: {repr:?}");
    };
    msg
}

/// An order's terms as the OMS has them: its total quantity, what has
/// executed, what it leaves, its price.
pub(crate) type Terms = (u32, u32, u32, Price);

/// The `send` closure's side: whether each message goes out, and what was
/// handed over during the current operation.
#[derive(Default)]
pub(crate) struct Wire {
    /// Per venue (in `VENUES` order): its session holds every message back.
    pub(crate) refusing: [bool; 2],
    /// The next this many messages are held back, whatever their venue.
    pub(crate) refuse_next: u8,
    pub(crate) handed: Vec<(Outbound, bool)>,
}

impl Wire {
    pub(crate) fn hand(&mut self, out: &Outbound) -> bool {
        let refusing = VENUES
            .iter()
            .position(|&v| v == out.venue())
            .is_some_and(|slot| self.refusing[slot]);
        let delivered = if self.refuse_next > 0 {
            self.refuse_next -= 1;
            false
        } else {
            !refusing
        };
        self.handed.push((*out, delivered));
        delivered
    }

    /// Every message goes out from now on (the heal).
    pub(crate) fn deliver_all(&mut self) {
        self.refusing = [false; 2];
        self.refuse_next = 0;
    }
}

/// What one operation `handed` to `send` is what the pipeline counted in
/// its stats (from `was` to `now`): as sent or unsent as the closure
/// answered, and the new orders delivered per venue.
pub(crate) fn check_counted(handed: &[(Outbound, bool)], was: &PipelineStats, now: &PipelineStats) {
    let sent = handed.iter().filter(|(_, d)| *d).count() as u64;
    assert_eq!(
        (now.orders_sent - was.orders_sent, now.unsent - was.unsent),
        (sent, handed.len() as u64 - sent),
        "messages counted as sent and unsent, of {handed:?}"
    );
    for (slot, venue) in VENUES.iter().enumerate() {
        let here = handed
            .iter()
            .filter(|(out, d)| *d && matches!(out, Outbound::New { venue: v, .. } if v == venue))
            .count() as u64;
        assert_eq!(
            now.orders_by_venue[slot] - was.orders_by_venue[slot],
            here,
            "new orders counted at {venue:?}, of {handed:?}"
        );
    }
}

/// `cl`, the ClOrdID of `out`, is `strategy`'s, of this boot (`epoch`),
/// and above every one issued before it (`last_issued`, which it becomes).
pub(crate) fn check_issued(
    out: &Outbound,
    cl: ClOrdId,
    strategy: StrategyId,
    epoch: u32,
    last_issued: &mut Option<ClOrdId>,
) {
    assert_eq!(cl.strategy(), strategy, "{out:?}");
    assert_eq!(cl.epoch(), epoch, "{out:?}");
    if let Some(last) = *last_issued {
        assert!(cl > last, "{cl:?} issued after {last:?}");
    }
    *last_issued = Some(cl);
}

/// Every counter of `PipelineStats`, named so that a new field breaks the
/// build here until it is checked too.
pub(crate) fn pipeline_stats(s: &PipelineStats) -> Vec<u64> {
    every_counter!(
        PipelineStats,
        *s,
        [
            messages,
            book_anomalies,
            book_events,
            intents,
            orders_sent,
            unsent,
            paused,
            risk_rejects,
            reports,
            intents_dropped,
            unroutable,
            away_messages,
            duplicate_symbols,
            splits,
            split_children,
            splits_unplaced,
            split_replaces_refused,
            kill_cancels,
            mass_cancels,
            mass_cancels_accepted,
            mass_canceled_orders,
            mass_cancels_refused,
            mass_cancel_timeouts,
            mass_cancel_stray_answers,
            config_refusals,
            feed_resets,
            relocated,
            carry_overflow,
            carry_stuck,
            stale_refusals,
            cancels_in_flight,
        ],
        arrays[orders_by_venue]
    )
}

/// The counters of the pipeline, the OMS and risk as the last check saw
/// them: each only grows.
pub(crate) struct Counters {
    pub(crate) stats: PipelineStats,
    oms: Vec<u64>,
    risk: Vec<u64>,
}

impl Counters {
    pub(crate) fn new(stats: PipelineStats) -> Counters {
        Counters {
            stats,
            oms: Vec::new(),
            risk: Vec::new(),
        }
    }

    /// Checks that no counter went down since the last check.
    pub(crate) fn check<const A: usize, const B: usize>(&mut self, p: &Pipeline<A, B>) {
        let stats = p.stats();
        for (i, (was, now)) in pipeline_stats(&self.stats)
            .iter()
            .zip(pipeline_stats(&stats))
            .enumerate()
        {
            assert!(now >= *was, "pipeline counter {i} went from {was} to {now}");
        }
        self.stats = stats;
        let mut oms = oms_stats(p.oms.stats());
        let mut risk = vec![p.risk.unknown_events(), p.risk.trips()];
        for reason in RejectReason::ALL {
            oms.push(p.oms.reject_count(reason));
            risk.push(p.risk.reject_count(reason));
        }
        grows("OMS", &self.oms, &oms);
        grows("risk", &self.risk, &risk);
        self.oms = oms;
        self.risk = risk;
    }
}

/// Each counter in `now` is at least what it was.
pub(crate) fn grows(name: &str, was: &[u64], now: &[u64]) {
    for (i, (a, b)) in was.iter().zip(now.iter()).enumerate() {
        assert!(b >= a, "{name} counter {i} went from {a} to {b}");
    }
}

/// While the switch is engaged: after an input that runs its sweep
/// (`swept`) the sweep has finished; once it has run (a trip by a limit
/// applied between inputs is swept at the next one, as
/// `apply_risk_config` documents), every open order has a cancel in
/// flight, or its cancel waits for the retry timer (it is in
/// `kill_unsent`), or the venue refused it too often.
pub(crate) fn check_kill<const A: usize, const B: usize>(
    p: &Pipeline<A, B>,
    kill_unsent: &BTreeSet<OrderId>,
    swept: bool,
) {
    if p.risk.tripped().is_none() {
        return;
    }
    if swept {
        assert!(
            !p.risk.kill_cancels_due(),
            "the kill's sweep did not finish after an input"
        );
    }
    if p.risk.kill_cancels_due() {
        return;
    }
    let uncovered: Vec<OrderId> = p
        .oms
        .open_orders()
        .filter(|o| !p.oms.cancel_in_flight(o.strategy, o.id))
        .filter(|o| !kill_unsent.contains(&o.id))
        .map(|o| o.id)
        .collect();
    assert!(
        uncovered.len() <= p.risk.kill_abandoned(),
        "open orders {uncovered:?} without a cancel after the kill's sweep, {} abandoned",
        p.risk.kill_abandoned()
    );
}

/// Takes note of a cancel of `order` that went out (`delivered`) or could
/// not, the switch engaged or not (`tripped`): one not sent while tripped
/// waits for the kill's retry timer (in `kill_unsent`) until one is.
/// Whether it is a kill cancel that went out.
pub(crate) fn note_kill_cancel(
    kill_unsent: &mut BTreeSet<OrderId>,
    order: OrderId,
    delivered: bool,
    tripped: bool,
) -> bool {
    if delivered {
        kill_unsent.remove(&order);
    } else if tripped {
        kill_unsent.insert(order);
    }
    delivered && tripped
}

/// A report from `venue` naming `cl`, sent at `now`.
pub(crate) fn venue_report(
    cl: ClOrdId,
    exec_type: ExecType,
    venue: VenueId,
    now: u64,
) -> ExecReport {
    let mut rep = ExecReport::new(cl, exec_type);
    rep.venue = Some(venue);
    rep.transact_time = Nanos(now);
    rep
}

/// A well-formed answer from the venue of order `id` (an acknowledgement
/// to start from) under its current ClOrdID, with that ClOrdID and its
/// terms (total, executed, leaves, price); none for an order the OMS does
/// not know.
pub(crate) fn venue_answer(
    oms: &Oms,
    id: OrderId,
    venue: VenueId,
    now: u64,
) -> Option<(ExecReport, ClOrdId, Terms)> {
    let terms = oms.terms(id)?;
    let current = oms.current_cl_ord_id(id)?;
    Some((
        venue_report(current, ExecType::New, venue, now),
        current,
        terms,
    ))
}

/// The heal's report for an order of `strategy` still working: its venue
/// cancels it, under the ClOrdID of its cancel (`cancel`, the last one
/// that went out) if the OMS has one in flight, else under its own.
pub(crate) fn venue_cancel(
    oms: &Oms,
    strategy: StrategyId,
    id: OrderId,
    cancel: Option<ClOrdId>,
    venue: VenueId,
    now: u64,
) -> Option<ExecReport> {
    let current = oms.current_cl_ord_id(id)?;
    let named = match (oms.cancel_in_flight(strategy, id), cancel) {
        (true, Some(cancel)) => cancel,
        _ => current,
    };
    let mut rep = venue_report(named, ExecType::Canceled, venue, now);
    rep.orig_cl_ord_id = Some(current);
    Some(rep)
}

/// A ClOrdID that is `strategy`'s garbage (from the byte `b`): this boot's
/// numbers never issued, an earlier boot's (no Side or Symbol: never
/// applied as an earlier fill), a later one's.
pub(crate) fn garbage(epoch: u32, b: u8, strategy: StrategyId) -> ClOrdId {
    ClOrdId::new(
        [epoch, epoch, epoch - 1, epoch + 1][usize::from(b) % 4],
        u64::from(b) << 6 | u64::from(strategy.0),
    )
}

/// A garbled report's OrigClOrdID (from its naming byte): none, the
/// order's first ClOrdID, its current one, or garbage.
pub(crate) fn orig_named(
    naming: u8,
    first: Option<ClOrdId>,
    current: Option<ClOrdId>,
    garbage: ClOrdId,
) -> Option<ClOrdId> {
    match (naming >> 3) % 4 {
        0 => None,
        1 => first,
        2 => current,
        _ => Some(garbage),
    }
}

/// A garbled report's LastQty, CumQty and LeavesQty, around its order's
/// terms (over-fills included): both harnesses'.
#[rustfmt::skip]
pub(crate) const QTYS_REPORTED: QtyTables = QtyTables {
    last: [Qty::Zero, Qty::One, Qty::Leaves, Qty::HalfLeavesPlus1, Qty::Total, Qty::D7, Qty::Max,
        Qty::LeavesPlus1],
    cum: [Qty::CumPlusLast, Qty::CumPlusLast, Qty::CumPlusLast, Qty::Cum, Qty::CumMinus1,
        Qty::Total, Qty::TotalPlus1, Qty::D],
    leaves: [Qty::TotalMinusCum, Qty::TotalMinusCum, Qty::TotalMinusCum, Qty::Zero, Qty::D,
        Qty::Leaves, Qty::LeavesMinusLast, Qty::Max],
};

/// What a garbled report is about, as the harness chose it.
pub(crate) struct Garbled {
    pub(crate) exec_type: ExecType,
    pub(crate) cl_ord_id: Option<ClOrdId>,
    pub(crate) orig_cl_ord_id: Option<ClOrdId>,
    /// The order's terms, zeros for none.
    pub(crate) terms: Terms,
    /// The order's venue.
    pub(crate) venue: Option<VenueId>,
    /// The venue context and ExecID of the order's last fill.
    pub(crate) last_exec: Option<(Option<VenueId>, ExecKey)>,
    pub(crate) now: u64,
}

/// A report of any ExecType about an order (or garbage), with quantities
/// from `tables` chosen around its terms, a LastPx near its price, a new
/// price and quantity from `amend` (given the quantities' operand), any
/// OrdStatus, ExecID and ExecRefID, from the order's venue, another or
/// none.
pub(crate) fn garbled_report(
    s: &mut Script,
    g: Garbled,
    tables: &QtyTables,
    amend: impl FnOnce(u32) -> [(Price, u32); 4],
) -> ExecReport {
    let (qty, cum, leaves, price) = g.terms;
    let q = tables.read(s, (qty, cum, leaves));
    let last_px = s.pick([
        Price::ZERO,
        price,
        price,
        price,
        Price(price.0 - TICK),
        Price(price.0 + TICK),
        Price(1),
        Price::ITCH_MAX,
    ]);
    let (new_price, order_qty) = s.pick(amend(q.d));
    let ord_status = ord_status(s);
    let exec_id = s.exec_id();
    let (ref_venue, exec_ref_id) = match (s.byte() % 4, g.last_exec) {
        (0..=2, Some((venue, key))) => (Some(venue), Some(key)),
        _ => (None, s.exec_id()),
    };
    let venue = match s.byte() % 8 {
        0 => None,
        1 => Some(AWAY),
        2 => Some(PRIMARY),
        _ => g.venue,
    };
    // A bust or correction names its fill in the venue context the fill
    // came in (venues number their ExecIDs independently).
    let adjusts = matches!(g.exec_type, ExecType::TradeCancel | ExecType::TradeCorrect);
    ExecReport {
        cl_ord_id: g.cl_ord_id,
        orig_cl_ord_id: g.orig_cl_ord_id,
        exec_type: g.exec_type,
        ord_status,
        last_qty: q.last_qty,
        last_px,
        leaves_qty: q.leaves_qty,
        cum_qty: q.cum_qty,
        price: new_price,
        order_qty,
        transact_time: Nanos(g.now),
        exec_id,
        exec_ref_id,
        side: None,
        symbol: None,
        venue: adjusts.then_some(ref_venue).flatten().unwrap_or(venue),
    }
}

/// Time steps a script moves the clock on (`quoting`, `pairs`): from a
/// nanosecond to past every hold and throttle window.
#[rustfmt::skip]
pub(crate) const STEPS_NS: [u64; 8] =
    [1, 1_000, 1_000_000, 10_000_000, 100_000_000, 300_000_000, 1_000_000_000, 70_000_000_000];

/// Report types weighted towards what an IOC order meets (`split`,
/// `pairs`): fills and cancels, and every other type.
#[rustfmt::skip]
pub(crate) const IOC_EXEC_TYPES: [ExecType; 24] = {
    use ExecType::*;
    [
        PendingNew, New, New, PartialFill, PartialFill, Fill, Trade, Trade,
        PendingCancel, Canceled, Canceled, PendingReplace, Replaced, Rejected, Rejected, Expired,
        DoneForDay, CancelRejected, ReplaceRejected, TradeCancel, TradeCancel, TradeCorrect,
        TradeCorrect, Other,
    ]
};

const SECOND_NS: u64 = 1_000_000_000;

/// Limits under which the same order again within a second is a
/// duplicate.
pub(crate) fn duplicate_window() -> Limits {
    Limits {
        duplicate_window_ns: SECOND_NS,
        ..Limits::unlimited()
    }
}

/// Limits of two orders (or replaces) and two cancels a second.
pub(crate) fn throttled() -> Limits {
    let two = Some(Throttle {
        max_msgs: 2,
        window_ns: SECOND_NS,
    });
    Limits {
        strategy_order_rate: two,
        strategy_cancel_rate: two,
        ..Limits::unlimited()
    }
}

/// Limits refusing orders above 150 shares, under which more than three
/// refusals a second trip the switch.
pub(crate) fn refusing_large() -> Limits {
    Limits {
        default_symbol: SymbolLimits {
            max_order_qty: 150,
            ..SymbolLimits::UNLIMITED
        },
        reject_rate: Some(Throttle {
            max_msgs: 3,
            window_ns: SECOND_NS,
        }),
        ..Limits::unlimited()
    }
}

/// `Limits::example` (collars, a duplicate window, throttles) with a daily
/// loss of 0: the first loss trips the switch, and re-arming is refused
/// while it lasts.
pub(crate) fn losing() -> Limits {
    Limits {
        max_daily_loss: 0,
        ..Limits::example()
    }
}

/// What an operation on a pipeline hosting one strategy did, for the
/// checks after it (`quoting`, `pairs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An execution report: answers deferred from the last input reach the
    /// strategy first, it may decide, the kill's sweep runs.
    Report,
    /// A book update, a tick or a configuration (which ticks): the same,
    /// while trading is not paused; the sweep runs either way.
    Decides,
    /// The kill switch or the close: the sweep runs, nothing else.
    Kill,
    /// A venue lost with cancel-on-disconnect: the strategy hears its
    /// orders canceled and may decide (while trading); no sweep.
    Lost,
    /// No decision at all (sessions, re-arm, limits, pausing, the wire,
    /// time without a tick): nothing may go out.
    Quiet,
}

impl Kind {
    /// Whether an intent's refusal deferred from an earlier input is
    /// still waiting after this one (`was`; `dropped`: this input left
    /// one over), trading having been on before it or not.
    pub(crate) fn still_deferred(self, was: bool, dropped: bool, trading: bool) -> bool {
        let handed_over = match self {
            Kind::Report => true,
            Kind::Decides | Kind::Lost => trading,
            Kind::Kill | Kind::Quiet => false,
        };
        dropped || (was && !handed_over)
    }

    /// Whether the kill's sweep ran in this input.
    pub(crate) fn swept(self) -> bool {
        matches!(self, Kind::Report | Kind::Decides | Kind::Kill)
    }
}

/// The kill switch engaged, or a quarter of the time (one byte) the
/// session closed.
pub(crate) fn kill_or_close(p: &mut Pipeline<4, 8>, wire: &mut Wire, s: &mut Script, now: u64) {
    let now = Nanos(now);
    if s.byte().is_multiple_of(4) {
        p.close_session(now, &mut |o| wire.hand(o));
    } else {
        p.kill(now, &mut |o| wire.hand(o));
    }
}

/// Re-arms the switch; once it is, no kill cancel waits for its timer.
pub(crate) fn rearm(p: &mut Pipeline<4, 8>, kill_unsent: &mut BTreeSet<OrderId>) -> bool {
    let rearmed = p.rearm().is_ok();
    if rearmed {
        kill_unsent.clear();
    }
    rearmed
}

/// A venue (one byte) lost with or without cancel-on-disconnect, its
/// session down or up (another); whether it was lost canceling.
pub(crate) fn venue_change(
    p: &mut Pipeline<4, 8>,
    wire: &mut Wire,
    s: &mut Script,
    now: u64,
) -> bool {
    let venue = s.pick(VENUES);
    let now = Nanos(now);
    match s.byte() % 8 {
        0 => {
            p.venue_lost(venue, true, now, &mut |o| wire.hand(o));
            return true;
        }
        1 => p.venue_lost(venue, false, now, &mut |o| wire.hand(o)),
        2 | 3 => p.set_session(venue, false),
        _ => p.set_session(venue, true),
    }
    false
}

/// What the `send` closure refuses from now on (one byte): a venue's
/// messages (toggled), the next one or two, or nothing.
pub(crate) fn wire_change(wire: &mut Wire, s: &mut Script) {
    match s.byte() % 6 {
        0 => wire.refusing[0] ^= true,
        1 => wire.refusing[1] ^= true,
        2 => wire.refuse_next = 1,
        3 => wire.refuse_next = 2,
        _ => wire.deliver_all(),
    }
}

/// `repr` from the primary venue's feed through the pipeline.
pub(crate) fn feed(p: &mut Pipeline<4, 8>, wire: &mut Wire, repr: &MessageRepr, now: u64) {
    let mut bytes = [0u8; 64];
    let msg = itch_message(repr, &mut bytes);
    p.on_itch(&msg, Nanos(now), &mut |o| wire.hand(o));
}

/// One primary-feed message about `stock` (`locate`) at `now`, from the
/// script: an add at a price `price` picks for its side, a delete, an
/// execution, a partial cancel, a replace, or a trade print against hidden
/// liquidity; order references from `REFS` per stock, so deletes and
/// executions find orders and some adds are duplicates.
pub(crate) fn book_message(
    s: &mut Script,
    locate: StockLocate,
    stock: Symbol,
    now: u64,
    mut price: impl FnMut(&mut Script, Side) -> Price,
) -> MessageRepr {
    let header = header(locate, now);
    let refs = |b: u8| u64::from(1 + b % REFS) + u64::from(locate) * 100;
    let order_ref = refs(s.byte());
    match s.byte() % 12 {
        0..=3 => add_order(s, header, order_ref, stock, &mut price),
        4 | 5 => MessageRepr::OrderDelete(OrderDeleteRepr { header, order_ref }),
        6 => MessageRepr::OrderExecuted(OrderExecutedRepr {
            header,
            order_ref,
            executed_shares: s.pick(SHARES),
            match_number: now,
        }),
        7 => MessageRepr::OrderCancel(OrderCancelRepr {
            header,
            order_ref,
            cancelled_shares: s.pick(SHARES),
        }),
        8 | 9 => {
            let new_order_ref = refs(s.byte());
            // The book keeps the side; a price of either side's ladder
            // moves the order or crosses.
            let side = s.side();
            MessageRepr::OrderReplace(OrderReplaceRepr {
                header,
                original_order_ref: order_ref,
                new_order_ref,
                shares: s.pick(SHARES),
                price: price(s, side),
            })
        }
        _ => {
            // A print against hidden liquidity.
            let side = s.side();
            MessageRepr::Trade(TradeRepr {
                header,
                order_ref: 0,
                side,
                shares: s.pick(SHARES),
                stock,
                price: price(s, side),
                match_number: now,
            })
        }
    }
}

/// An ITCH header for `locate` at `now`.
pub(crate) fn header(locate: StockLocate, now: u64) -> Header {
    Header {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: now,
    }
}

/// An add of `order_ref` to the book of `stock`: its side, its shares
/// from `SHARES` and a price `price` picks for the side, from the script.
pub(crate) fn add_order(
    s: &mut Script,
    header: Header,
    order_ref: u64,
    stock: Symbol,
    price: &mut impl FnMut(&mut Script, Side) -> Price,
) -> MessageRepr {
    let side = s.side();
    MessageRepr::AddOrder(AddOrderRepr {
        header,
        order_ref,
        side,
        shares: s.pick(SHARES),
        stock,
        price: price(s, side),
    })
}

/// A trading action (`state`, ITCH's letter) on `stock` at `now`.
pub(crate) fn trading_action(
    locate: StockLocate,
    stock: Symbol,
    state: u8,
    now: u64,
) -> MessageRepr {
    MessageRepr::StockTradingAction(StockTradingActionRepr {
        header: header(locate, now),
        stock,
        trading_state: state,
        reserved: b' ',
        reason: *b"T1  ",
    })
}

/// An order a harness issued, as a garbled report about it needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct About {
    pub(crate) venue: VenueId,
    /// The venue context and ExecID of its last fill the OMS applied.
    pub(crate) last_exec: Option<(Option<VenueId>, ExecKey)>,
}

/// The names a garbled report about an order may go by: its current and
/// first ClOrdIDs, and garbage; read with the naming byte and the byte
/// that picks garbage (or another order).
pub(crate) struct Names {
    pub(crate) naming: u8,
    pub(crate) b: u8,
    pub(crate) current: Option<ClOrdId>,
    pub(crate) first: Option<ClOrdId>,
    pub(crate) garbage: ClOrdId,
}

impl Names {
    /// Two bytes of the script, about `order` of `strategy`.
    pub(crate) fn read(
        s: &mut Script,
        oms: &Oms,
        order: Option<OrderId>,
        strategy: StrategyId,
    ) -> Names {
        let (naming, b) = (s.byte(), s.byte());
        Names {
            naming,
            b,
            current: order.and_then(|o| oms.current_cl_ord_id(o)),
            first: order.map(|o| ClOrdId(o.0)),
            garbage: garbage(oms.epoch(), b, strategy),
        }
    }

    /// The report (see `garbled_report`), under `cl` and an OrigClOrdID
    /// the naming byte picks, about `order` with `terms`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn report(
        &self,
        s: &mut Script,
        exec_type: ExecType,
        cl: Option<ClOrdId>,
        order: Option<About>,
        terms: Terms,
        now: u64,
        amend: impl FnOnce(u32) -> [(Price, u32); 4],
    ) -> ExecReport {
        garbled_report(
            s,
            Garbled {
                exec_type,
                cl_ord_id: cl,
                orig_cl_ord_id: orig_named(self.naming, self.first, self.current, self.garbage),
                terms,
                venue: order.map(|o| o.venue),
                last_exec: order.and_then(|o| o.last_exec),
                now,
            },
            &QTYS_REPORTED,
            amend,
        )
    }
}

/// `rep` becomes a fill of `last` shares at `price` under a fresh ExecID
/// (`seq`), of an order of `total` shares `cum` of which had executed.
pub(crate) fn fill(
    rep: &mut ExecReport,
    seq: &mut u32,
    last: u32,
    price: Price,
    (total, cum): (u32, u32),
) {
    rep.exec_type = ExecType::Trade;
    rep.exec_id = fresh_exec_id(seq);
    rep.last_qty = last;
    rep.last_px = price;
    rep.cum_qty = cum.saturating_add(last);
    rep.leaves_qty = total.saturating_sub(rep.cum_qty);
}

/// `rep` becomes a bust of the fill `last` names or (by a byte) its
/// correction to `corrected` shares at `price`, under a fresh ExecID
/// (`seq`), the order left working `leaves`.
pub(crate) fn bust_or_correct(
    s: &mut Script,
    rep: &mut ExecReport,
    seq: &mut u32,
    (venue, key): (Option<VenueId>, ExecKey),
    (corrected, price, leaves): (u32, Price, u32),
) {
    rep.exec_type = if s.byte() & 1 == 0 {
        ExecType::TradeCancel
    } else {
        rep.last_qty = corrected;
        rep.last_px = price;
        ExecType::TradeCorrect
    };
    rep.venue = venue;
    rep.exec_id = fresh_exec_id(seq);
    rep.exec_ref_id = Some(key);
    rep.leaves_qty = leaves;
}

/// A new order `out` is named by its id and goes to a venue whose session
/// is up.
pub(crate) fn check_new_named(p: &Pipeline<4, 8>, out: &Outbound) {
    let Outbound::New {
        order,
        cl_ord_id,
        venue,
        ..
    } = *out
    else {
        return;
    };
    assert_eq!(order, OrderId(cl_ord_id.0), "an order is named by its id");
    let up = p
        .router()
        .venue(venue)
        .is_some_and(|state| state.session_up);
    assert!(up, "an order to {venue:?}, whose session is down: {out:?}");
}

/// Risk counts an open order for every one the OMS has not finished; how
/// many.
pub(crate) fn check_open_orders<const A: usize, const B: usize>(p: &Pipeline<A, B>) -> u32 {
    let mut unfinished = 0u32;
    p.oms
        .held_locates(|_, symbol| unfinished += u32::from(symbol.is_some()));
    assert_eq!(
        p.risk.open_orders(),
        unfinished,
        "open orders: risk and the OMS"
    );
    unfinished
}

/// What the hold checks (`quoting`, `pairs`) follow: the inputs in which
/// the strategy's exposure may have moved (a fill, an order of its own
/// finishing), and for each of its two holds (a side's, a leg's) the end
/// it had when last seen and that count then. An exposure hold lifts at
/// the strategy's next decision after its exposure moved, however many
/// inputs later.
#[derive(Default)]
pub(crate) struct HoldMarks {
    exposure_moves: u64,
    marks: [(Option<Nanos>, u64); 2],
}

impl HoldMarks {
    /// After an input: whether the exposure `moved` in it, and each hold's
    /// end now. A hold set (or moved) during the input may have come after
    /// what moved in it.
    pub(crate) fn learn(&mut self, moved: bool, untils: [Option<Nanos>; 2]) {
        let moves_before = self.exposure_moves;
        self.exposure_moves += u64::from(moved);
        for (mark, until) in self.marks.iter_mut().zip(untils) {
            if mark.0 != until {
                *mark = (until, moves_before);
            }
        }
    }

    /// Whether hold `slot`, which ended at `until` before this input, may
    /// have lifted for its exposure: it moved in this input (`moved`), or
    /// since the hold was set.
    pub(crate) fn exposure_lifts(&self, slot: usize, until: Option<Nanos>, moved: bool) -> bool {
        let (marked_until, moves_then) = self.marks.get(slot).copied().unwrap_or_default();
        moved || (marked_until == until && self.exposure_moves > moves_then)
    }
}
