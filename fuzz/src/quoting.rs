//! The `quoting` target: a script of operations on a two-venue pipeline
//! hosting the market maker (`strategy::mm::MarketMaker`), which rests
//! post-only quotes on both sides and moves them by cancel/replace.
//!
//! The pipeline is built as `pipeline/tests/pipeline.rs` builds its
//! two-venue one: the primary venue's feed drives the book the maker sees
//! (`on_itch`), the away venue's keeps an away book only the router reads
//! (`on_away_itch`), and quotes rest where the rebate is best (the away
//! venue, unless a post-only price would not rest there or its session is
//! down). The first byte picks the maker's parameters (requoting on a
//! one-tick move or keeping a good queue, a refusal hold or none, a
//! position limit of 500, 100, 200 or 300 shares, pulling or widening in
//! a fast market), the second the risk limits (unlimited; a duplicate
//! window of a second; a symbol position limit of 200; one open order; a
//! collar of four ticks; order and cancel throttles of two a second; a
//! reject-rate limit of three a second with orders above 150 shares
//! refused; `Limits::example` with a daily loss of 0). Then each operation
//! is an opcode and its operands, from small tables that include the edges:
//! - ITCH adds, deletes, executions, partial cancels, replaces and trade
//!   prints on the maker's stock (a ladder around the touch, inner prices
//!   that lock or cross the book, far ones that make a fast market, 1 and
//!   `Price::ITCH_MAX`; 0 to `u32::MAX` shares), trading actions (halt,
//!   pause, quotation only, resume) on it, the same on a second stock the
//!   maker does not trade, and away-book updates;
//! - execution reports for any order the OMS issued, under its ClOrdID,
//!   a replace's or a cancel's, another order's or garbage (this, earlier
//!   and later boots'), of every `ExecType`, with any
//!   LastQty/CumQty/LeavesQty (over-fills included), new prices and
//!   quantities, busts and corrections by ExecRefID, repeated ExecIDs, from
//!   the order's venue, another or none; well-formed answers for one order
//!   (acknowledge, fill part or all or more, under the replace's ClOrdID,
//!   cancel or expire unsolicited, confirm or refuse its cancel or replace,
//!   refuse it, bust or correct its last fill); and a well-behaved venue
//!   answering the oldest request still outstanding, in order (mostly
//!   granting it);
//! - the kill switch (`kill`, `close_session`), re-arm, venue loss with and
//!   without cancel-on-disconnect, sessions down and up, pausing
//!   (`set_trading`), time passing with and without a timer tick, a new
//!   limit set, a strategy configuration (`apply_strategy_config`) that
//!   disables or enables the maker or changes its size, half-spread or
//!   position limit (some refused), or names another strategy or stock;
//! - messages that cannot be sent: a venue whose messages the `send`
//!   closure refuses, or the next one or two messages refused.
//!
//! Checked after every input (see `Run::after`):
//! - only new orders, cancels and replaces go out, each named by the maker
//!   with a rising ClOrdID of this boot, counted as sent or unsent as the
//!   closure answered (new orders per venue); a new order only to a venue
//!   whose session is up, cancels and replaces where their order rests;
//!   nothing from an input that makes no decision;
//! - every new order and replace is a quote the maker may send: post-only,
//!   of the maker's quote size, sent while the switch was not engaged,
//!   trading not paused, the maker enabled, its stock trading and no fast
//!   market pulling quotes; strictly inside the book's best prices (a bid
//!   below the best ask, an ask above the best bid, of a two-sided book
//!   that is neither locked nor crossed); crossing none of the maker's own
//!   working orders on the other side, at their price or the price of a
//!   replace of theirs in flight (no self-match); a side whose fill would
//!   take the maker beyond its position limit is not quoted (the market
//!   and the position as the input left them, or, for quotes the maker
//!   decided on answers deferred from the last input, as they were
//!   before it); and a side held off after a refusal gets no quote until
//!   its hold may have lifted (its time up, a fill or an order of the
//!   maker's finishing since it was set, new limits or parameters; not
//!   followed under a collar, whose holds also lift for a price nearer
//!   the mid);
//! - at most one order per side works at the venues without a cancel in
//!   flight, as the maker keeps one quote per side: the maker tracks every
//!   order of its own the OMS still works (or it has a cancel in flight),
//!   and tracks none the OMS has finished, at the OMS's side, price and
//!   leaves (after a replace too: `OrderEvent::Replaced` says what the
//!   venue works); a cancel or replace the tracker waits for is one the
//!   OMS has in flight (unless a refusal waits for the next input, as
//!   intents left after an input's last round do);
//! - the maker's position is the OMS's and risk's; the OMS and risk agree
//!   on the open orders, and on the open quantity (what the open orders
//!   leave; risk counts a replace in flight at its worst);
//! - while the switch is engaged and its sweep has run (always, after an
//!   input that runs it), every open order has a cancel in flight, or its
//!   cancel could not be sent (the retry timer sends it again), or the venue
//!   refused `KILL_CANCEL_ATTEMPTS` of them;
//! - every counter of the pipeline, the OMS, risk, the maker and its
//!   tracker only grows.
//!
//! Each run ends with a heal: every message is delivered from then on, the
//! maker is disabled by a configuration, and every order still working is
//! canceled by its venue (under its cancel's ClOrdID when one is in
//! flight); then nothing is open in the OMS, risk or the maker's tracker,
//! and the three agree on the position.
//!
//! Every run builds its pipeline, two books' per-locate tables included
//! (~15 MiB each): that, not the script, is most of a run's time.

use std::collections::{BTreeSet, HashMap};

use crate::reports::pick_recent;
use crate::script::Script;
use crate::two_venues::{
    self, bust_or_correct, check_counted, check_issued, check_kill, check_new_named,
    check_open_orders, fill, grows, itch_message, note_kill_cancel, venue_answer, venue_cancel,
    About, Counters, HoldMarks, Kind, Names, Wire, AWAY, HEAL_ROUNDS, PRIMARY, REFS, SHARES,
    STEPS_NS, T0, TICK,
};
use gateway::oms::{ClOrdId, ExecKey, ExecReport, ExecType, OrderState, Outbound};
use pipeline::{Pipeline, PipelineStats};
use protocol::itch::{MessageRepr, OrderDeleteRepr, OrderExecutedRepr};
use protocol::mailbox::config::{StrategyConfig, StrategyKind};
use risk::{Limits, SymbolLimits};
use strategy::engine::Hosted;
use strategy::mm::{FastAction, MarketMaker, MmParams, MmStats};
use strategy::orders::{OrderState as SlotState, TrackerStats};
use strategy::Strategy;
use types::{
    Bbo, DepthView, Nanos, OrderId, Price, Side, StockLocate, StrategyId, Symbol, TimeInForce,
    TradingState, VenueId,
};

/// `QUOTING_TRACE=1` prints every operation and what it handed out (for
/// reading a finding: `cargo test` or the fuzz target run on the one input).
macro_rules! trace {
    ($($arg:tt)*) => {
        trace_if!("QUOTING_TRACE", $($arg)*)
    };
}

const MAKER: StrategyId = StrategyId(1);
/// The maker's stock, and another one in the same book it does not trade.
const LOCATE: StockLocate = 1;
const OTHER: StockLocate = 2;
/// $100.00, in price4 (a cent is `TICK`).
const MID: i64 = 100_0000;
/// What each primary feed message moves the clock on: feed timestamps
/// rise, so the maker's volatility estimate sees time between mid changes.
const FEED_STEP_NS: u64 = 1_000;

/// Report types, weighted towards what a resting quote meets: fills,
/// cancels, replaces and their refusals.
const EXEC_TYPES: [ExecType; 28] = [
    ExecType::PendingNew,
    ExecType::New,
    ExecType::New,
    ExecType::PartialFill,
    ExecType::Fill,
    ExecType::Trade,
    ExecType::Trade,
    ExecType::PendingCancel,
    ExecType::Canceled,
    ExecType::Canceled,
    ExecType::PendingReplace,
    ExecType::Replaced,
    ExecType::Replaced,
    ExecType::Replaced,
    ExecType::Rejected,
    ExecType::Rejected,
    ExecType::Expired,
    ExecType::DoneForDay,
    ExecType::CancelRejected,
    ExecType::CancelRejected,
    ExecType::ReplaceRejected,
    ExecType::ReplaceRejected,
    ExecType::ReplaceRejected,
    ExecType::TradeCancel,
    ExecType::TradeCancel,
    ExecType::TradeCorrect,
    ExecType::TradeCorrect,
    ExecType::Other,
];

fn symbol() -> Symbol {
    Symbol(*b"AAA     ")
}

fn other_symbol() -> Symbol {
    Symbol(*b"BBB     ")
}

/// A price for a book order of `side`: mostly on a five-level ladder from
/// a touch two cents off the mid (the maker quotes inside it), sometimes
/// nearer (the book narrows, locks or crosses), sometimes far (a wide
/// spread or a jump of the mid: a fast market), sometimes an edge of what
/// ITCH carries.
fn book_price(s: &mut Script, side: Side) -> Price {
    let b = s.byte();
    let level = i64::from(b % 5);
    let away_from_mid = |ticks: i64| match side {
        Side::Buy => MID - ticks * TICK,
        Side::Sell => MID + ticks * TICK,
    };
    Price(match b % 32 {
        0..=23 => away_from_mid(2 + level),
        24..=27 => MID + (i64::from(b >> 5) - 4) * TICK,
        28 | 29 => away_from_mid(8 + 3 * level),
        30 => 1,
        _ => Price::ITCH_MAX.0,
    })
}

/// The maker's parameters, from the first byte.
fn maker_params(b: u8) -> MmParams {
    let default = MmParams::default_for_cent_tick();
    MmParams {
        // A good queue is kept through moves of up to three ticks, or not.
        requote_ticks_good_queue: if b & 1 == 0 { 1 } else { 3 },
        // A refused quote held off (doubling from a quarter second), or
        // sent again at once.
        refusal_hold_ns: if b & 2 == 0 {
            default.refusal_hold_ns
        } else {
            0
        },
        max_position: [500, 100, 200, 300][usize::from(b >> 2) & 3],
        fast_action: if b & 16 == 0 {
            FastAction::Pull
        } else {
            FastAction::Widen(2.0)
        },
        ..default
    }
}

/// The limit sets a script starts under or switches to.
fn limits(preset: u8) -> Limits {
    let unlimited = Limits::unlimited();
    match preset % 8 {
        0 => unlimited,
        // A quote sent again at the same price and size within a second
        // is a duplicate.
        1 => two_venues::duplicate_window(),
        // Two quotes of one side open at most (or one and a position).
        2 => Limits {
            default_symbol: SymbolLimits {
                max_position: 200,
                ..SymbolLimits::UNLIMITED
            },
            ..unlimited
        },
        // One order open at a time: the second side is refused.
        3 => Limits {
            max_open_orders: 1,
            ..unlimited
        },
        // Quotes more than four ticks from the mid are refused.
        4 => Limits {
            default_symbol: SymbolLimits {
                collar_ticks: Some(4),
                ..SymbolLimits::UNLIMITED
            },
            ..unlimited
        },
        // Two orders or replaces and two cancels a second: requotes are
        // refused, and so are pulls.
        5 => two_venues::throttled(),
        // Orders above 150 shares are refused (a configured quote size of
        // 200), and more than three refusals a second trip the switch.
        6 => two_venues::refusing_large(),
        // Collars against the mid, a duplicate window, throttles, and a
        // daily loss of 0: the first loss (a mark below a buy) trips the
        // switch, and re-arming is refused while it lasts.
        _ => two_venues::losing(),
    }
}

/// Whether `limits` collar any price (a hold after a collar refusal also
/// lifts for a quote nearer the mid, which the checks do not follow).
fn collars(limits: &Limits) -> bool {
    let collared = |s: &SymbolLimits| s.collar_bps.is_some() || s.collar_ticks.is_some();
    collared(&limits.default_symbol) || limits.overrides.iter().any(|(_, s)| collared(s))
}

/// A strategy configuration entry for the companion's
/// `apply_strategy_config`.
fn config_entry(
    id: u16,
    symbol: &str,
    enabled: bool,
    quote_qty: u32,
    spread_ticks: u32,
    max_inventory: i64,
) -> StrategyConfig {
    let mut symbols = heapless::Vec::new();
    let named = heapless::String::try_from(symbol).expect("the harness's symbols fit");
    symbols.push(named).expect("one symbol fits");
    StrategyConfig {
        id,
        name: heapless::String::try_from("mm").expect("the name fits"),
        kind: StrategyKind::MarketMaker,
        enabled,
        venue: PRIMARY.0,
        symbols,
        quote_qty,
        spread_ticks,
        max_inventory,
    }
}

/// Two venues that charge alike for taking, the away one paying the better
/// rebate for resting; the maker in the primary's book.
fn pipeline(limits: Limits, params: MmParams) -> Pipeline<4, 8> {
    let maker = match MarketMaker::new(MAKER, LOCATE, symbol(), params) {
        Ok(m) => m,
        Err(e) => panic!("the harness's maker is valid: {e:?}"),
    };
    two_venues::pipeline(
        Hosted::MarketMaker(maker),
        limits,
        [(3_000, -1_000), (3_000, -3_000)],
    )
}

/// A request the OMS sent for an order, as the script knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    New,
    Cancel(ClOrdId),
    /// Its ClOrdID, the price and the total quantity asked for.
    Replace(ClOrdId, Price, u32),
}

/// An order the OMS issued, as the script knows it.
#[derive(Debug, Clone, Copy)]
struct Known {
    id: OrderId,
    venue: VenueId,
    side: Side,
    /// The ClOrdID of the last cancel of it that went out.
    cancel: Option<ClOrdId>,
    /// The last replace of it that went out.
    replace: Option<(ClOrdId, Price, u32)>,
    /// The venue context and ExecID of its last fill the OMS applied (for
    /// busts and corrections to name).
    last_exec: Option<(Option<VenueId>, ExecKey)>,
}

/// What the maker's quotes are checked against: the book of its stock
/// and whether a fast market pulls quotes.
#[derive(Debug, Clone, Copy)]
struct Market {
    bbo: Bbo,
    trading: TradingState,
    fast: bool,
    /// The maker's position.
    position: i64,
}

impl Market {
    /// Why a quote on `side` at `price` may not go into this market: a
    /// fill of all of it (`most` shares) could take the position beyond
    /// `limit` (a side that could is not quoted), a stock not trading, a fast market that pulls quotes, a book not
    /// two-sided or locked or crossed, a price through the opposite best
    /// (post-only quotes rest strictly inside).
    fn refuses(&self, side: Side, price: Price, most: i64, limit: i64) -> Option<&'static str> {
        let within = match side {
            Side::Buy => self.position.saturating_add(most) <= limit,
            Side::Sell => self.position.saturating_sub(most) >= -limit,
        };
        if !within {
            return Some("a quote whose fill could take the position beyond the limit");
        }
        if self.trading != TradingState::Trading {
            return Some("a quote in a stock not trading");
        }
        if self.fast {
            return Some("a quote in a fast market that pulls quotes");
        }
        let (Some(bid), Some(ask)) = (self.bbo.bid, self.bbo.ask) else {
            return Some("a quote into a one-sided book");
        };
        if bid.price >= ask.price {
            return Some("a quote into a locked or crossed book");
        }
        let through = match side {
            Side::Buy => price >= ask.price,
            Side::Sell => price <= bid.price,
        };
        through.then_some("a quote through the opposite best")
    }
}

/// State before an operation.
struct Before {
    /// The maker's stock's market.
    market: Market,
    /// Answers deferred from the last input wait for this one.
    deferred: bool,
    tripped: bool,
    /// Trading was not paused.
    trading: bool,
    stats: PipelineStats,
    /// Each side's refusal hold, `[bid, ask]`: until when, if held.
    holds: [Option<Nanos>; 2],
    /// The maker's fills so far and the orders its tracker follows (an
    /// order finishing or a fill may lift a hold).
    fills: u64,
    tracked: BTreeSet<u64>,
}

/// What a run reached, for the test that makes sure scripts get somewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reach {
    pub quotes: u64,
    pub replaces_sent: u64,
    pub replaces_acked: u64,
    pub replaces_refused: u64,
    pub fills: u64,
    pub fills_during_replace: u64,
    pub cancels_refused: u64,
    pub unsolicited_cancels: u64,
    pub refusal_holds: u64,
    pub held_quotes: u64,
    pub inventory_blocks: u64,
    pub fast_markets: u64,
    pub halts: u64,
    pub disabled: u64,
    pub kill_cancels: u64,
    pub canceled_on_disconnect: u64,
    pub unsent: u64,
    pub healed: u64,
}

struct Run {
    p: Pipeline<4, 8>,
    wire: Wire,
    now: u64,
    orders: Vec<Known>,
    by_id: HashMap<u64, usize>,
    /// Requests that reached a venue, oldest first (index into `orders`);
    /// those answered are dropped as the well-behaved venue looks.
    requests: Vec<(usize, Request)>,
    last_issued: Option<ClOrdId>,
    /// Orders whose cancel could not be sent while the switch was engaged:
    /// swept again at the retry timer, not at once.
    kill_unsent: BTreeSet<OrderId>,
    /// Fresh ExecIDs for well-formed fills.
    exec_seq: u32,
    /// The limits in force collar prices.
    collared: bool,
    /// For the hold check.
    holds: HoldMarks,
    /// Some intent's refusal waits for the next input that hands deferred
    /// answers over: until then its slot in the maker's tracker waits.
    deferred: bool,
    counters: Counters,
    maker_counters: Vec<u64>,
    reach: Reach,
}

/// Runs one script; returns what it reached.
pub fn run(data: &[u8]) -> Reach {
    let mut script = Script(data);
    let params = maker_params(script.byte());
    let start = limits(script.byte());
    let collared = collars(&start);
    let p = pipeline(start, params);
    let counters = Counters::new(p.stats());
    let mut run = Run {
        p,
        wire: Wire::default(),
        now: T0,
        orders: Vec::new(),
        by_id: HashMap::new(),
        requests: Vec::new(),
        last_issued: None,
        kill_unsent: BTreeSet::new(),
        exec_seq: 0,
        collared,
        deferred: false,
        holds: HoldMarks::default(),
        counters,
        maker_counters: Vec::new(),
        reach: Reach::default(),
    };
    run.check_counters();
    while !script.0.is_empty() {
        let before = run.before();
        let (kind, lifts_holds) = run.step(&mut script);
        run.after(kind, &before, lifts_holds);
    }
    run.heal();
    run.reach
}

fn maker(p: &Pipeline<4, 8>) -> &MarketMaker {
    match p.strategies.get(MAKER) {
        Some(Hosted::MarketMaker(m)) => m,
        _ => panic!("the maker is hosted"),
    }
}

impl Run {
    fn maker(&self) -> &MarketMaker {
        maker(&self.p)
    }

    fn before(&self) -> Before {
        let m = self.maker();
        let pull = m.params().fast_action == FastAction::Pull;
        Before {
            market: Market {
                bbo: self.p.book.bbo(LOCATE),
                trading: self.p.book.trading_state(LOCATE),
                fast: m.is_fast(Nanos(self.now)) && pull,
                position: m.position(),
            },
            deferred: self.deferred,
            tripped: self.p.risk.tripped().is_some(),
            trading: self.p.is_trading(),
            stats: self.p.stats(),
            holds: [Side::Buy, Side::Sell].map(|side| m.refusal_hold(side).until()),
            fills: m.stats().fills,
            tracked: m.orders().iter().map(|(_, o)| o.id.0).collect(),
        }
    }

    /// One operation: what kind it was, and whether it may lift the maker's
    /// refusal holds behind its back (new limits or parameters, a re-arm).
    fn step(&mut self, s: &mut Script) -> (Kind, bool) {
        let op = s.byte() % 32;
        trace!("op {op}");
        let kind = match op {
            0..=6 => self.itch(LOCATE, s),
            7 => self.itch(OTHER, s),
            8 => self.trading_action(s),
            9 | 10 => self.away_itch(s),
            11..=14 => self.report(s),
            15..=17 => self.answer(s),
            18..=20 => self.well_behaved(s),
            21 => {
                two_venues::kill_or_close(&mut self.p, &mut self.wire, s, self.now);
                Kind::Kill
            }
            22 => {
                let rearmed = two_venues::rearm(&mut self.p, &mut self.kill_unsent);
                return (Kind::Quiet, rearmed);
            }
            23 => {
                if two_venues::venue_change(&mut self.p, &mut self.wire, s, self.now) {
                    return (Kind::Lost, false);
                }
                Kind::Quiet
            }
            24 | 25 => {
                self.now += s.pick(STEPS_NS);
                self.timer()
            }
            26 => {
                // Time passes with no tick: what waits for the timer waits.
                self.now += s.pick(STEPS_NS);
                Kind::Quiet
            }
            27 => {
                two_venues::wire_change(&mut self.wire, s);
                Kind::Quiet
            }
            28 => {
                let new = limits(s.byte());
                self.collared = collars(&new);
                let applied = self.p.risk.apply_limits(new, Nanos(self.now));
                assert!(applied.is_ok(), "the presets validate: {applied:?}");
                self.p.strategies.on_limits_changed();
                return (Kind::Quiet, true);
            }
            29 => return (self.configure(s), true),
            30 => {
                // Paused an eighth of the time it is toggled.
                let trading = !s.byte().is_multiple_of(8);
                self.p.set_trading(trading);
                Kind::Quiet
            }
            _ => self.report(s),
        };
        (kind, false)
    }

    fn timer(&mut self) -> Kind {
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_timer(now, &mut |o| wire.hand(o));
        Kind::Decides
    }

    /// A strategy configuration from the companion: the maker's (enabled
    /// mostly; a size, half-spread and position limit, some of which it
    /// refuses), or one for another strategy or stock, which changes
    /// nothing. The pipeline gives every strategy a tick after it.
    fn configure(&mut self, s: &mut Script) -> Kind {
        let b = s.byte();
        let enabled = b & 7 != 0;
        if !enabled {
            self.reach.disabled += 1;
        }
        let entry = config_entry(
            if b & 0x80 == 0 { MAKER.0 } else { 9 },
            if b & 0x40 == 0 { "AAA" } else { "ZZZ" },
            enabled,
            s.pick([100, 100, 50, 200, 0]),
            s.pick([0, 0, 1, 3]),
            s.pick([500, 500, 100, 200, 0, -1]),
        );
        trace!("  config {entry:?}");
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.apply_strategy_config(&[entry], now, &mut |o| wire.hand(o));
        Kind::Decides
    }

    /// One ITCH message on the primary book, about the maker's stock or the
    /// other one: the maker decides on what changes its stock's top of book.
    fn itch(&mut self, locate: StockLocate, s: &mut Script) -> Kind {
        self.now += FEED_STEP_NS;
        let stock = if locate == LOCATE {
            symbol()
        } else {
            other_symbol()
        };
        let repr = two_venues::book_message(s, locate, stock, self.now, book_price);
        self.feed(&repr);
        Kind::Decides
    }

    /// A trading action on either stock: halted, paused or quotation only
    /// (the maker pulls its quotes), or trading again.
    fn trading_action(&mut self, s: &mut Script) -> Kind {
        self.now += FEED_STEP_NS;
        let b = s.byte();
        let (locate, stock) = if b & 1 == 0 {
            (LOCATE, symbol())
        } else {
            (OTHER, other_symbol())
        };
        let state = [b'T', b'T', b'T', b'H', b'P', b'Q', b'T', b'T'][usize::from(b >> 1) % 8];
        if locate == LOCATE && state != b'T' {
            self.reach.halts += 1;
        }
        let repr = two_venues::trading_action(locate, stock, state, self.now);
        self.feed(&repr);
        Kind::Decides
    }

    fn feed(&mut self, repr: &MessageRepr) {
        trace!("  {repr:?}");
        two_venues::feed(&mut self.p, &mut self.wire, repr, self.now);
    }

    /// One message of the away venue's feed (the maker's stock): only the
    /// router reads it, whether a post-only price would rest there.
    fn away_itch(&mut self, s: &mut Script) -> Kind {
        let header = two_venues::header(LOCATE, self.now);
        let order_ref = u64::from(1 + s.byte() % REFS);
        let repr = match s.byte() % 4 {
            0 | 1 => two_venues::add_order(s, header, order_ref, symbol(), &mut book_price),
            2 => MessageRepr::OrderDelete(OrderDeleteRepr { header, order_ref }),
            _ => MessageRepr::OrderExecuted(OrderExecutedRepr {
                header,
                order_ref,
                executed_shares: s.pick(SHARES),
                match_number: self.now,
            }),
        };
        let mut bytes = [0u8; 64];
        let msg = itch_message(&repr, &mut bytes);
        trace!("  away {repr:?}");
        self.p.on_away_itch(AWAY, &msg);
        Kind::Quiet
    }

    /// One of the orders the OMS issued: a recent one mostly, any one
    /// sometimes.
    fn pick_order(&self, b: u8) -> Option<Known> {
        pick_recent(&self.orders, b)
    }

    /// The request of `order` still outstanding at its venue: a new order
    /// not acknowledged, a cancel or replace the OMS still waits for.
    fn outstanding(&self, order: &Known, request: Request) -> bool {
        if !self.working(order.id) {
            return false;
        }
        match request {
            Request::New => self.p.oms.state(order.id) == Some(OrderState::PendingNew),
            Request::Cancel(cl) => self.p.oms.order_named(cl).is_some(),
            Request::Replace(cl, ..) => {
                self.p.oms.order_named(cl).is_some()
                    && self.p.oms.current_cl_ord_id(order.id) != Some(cl)
            }
        }
    }

    /// The replace of `order` in flight, if any: its ClOrdID, price and
    /// total quantity.
    fn replace_in_flight(&self, order: &Known) -> Option<(ClOrdId, Price, u32)> {
        order
            .replace
            .filter(|&(cl, price, qty)| self.outstanding(order, Request::Replace(cl, price, qty)))
    }

    /// An execution report from a venue: about an order (under its
    /// ClOrdID, its cancel's or replace's, any issued) or garbage, of any
    /// ExecType, with quantities chosen around the order's terms.
    fn report(&mut self, s: &mut Script) -> Kind {
        let exec_type = s.pick(EXEC_TYPES);
        let order = self.pick_order(s.byte());
        let names = Names::read(s, &self.p.oms, order.map(|o| o.id), MAKER);
        let (current, first) = (names.current, names.first);
        let cl = match names.naming % 8 {
            0 | 1 => current.or(first),
            2 => order.and_then(|o| o.cancel).or(current),
            3 => order.and_then(|o| o.replace).map(|r| r.0).or(current),
            4 => first,
            5 => self.pick_order(names.b).map(|o| ClOrdId(o.id.0)),
            6 => Some(names.garbage),
            _ => None,
        };
        let terms = order
            .and_then(|o| self.p.oms.terms(o.id))
            .unwrap_or((0, 0, 0, Price::ZERO));
        let (qty, _, _, price) = terms;
        let about = order.map(|o| About {
            venue: o.venue,
            last_exec: o.last_exec,
        });
        let rep = names.report(s, exec_type, cl, about, terms, self.now, |d| {
            let none = (Price::ZERO, 0);
            [
                none,
                none,
                (Price(price.0 + TICK), d),
                (Price(price.0 - TICK), qty.saturating_add(d)),
            ]
        });
        self.deliver(&rep, order);
        Kind::Report
    }

    /// A well-formed report from an order's venue, whatever it is waiting
    /// for: acknowledge it; fill part of it, all of it or more (under the
    /// ClOrdID the venue knows it by, or a replace's it took); cancel or
    /// expire it unsolicited; confirm or refuse its cancel or replace;
    /// refuse it; bust or correct its last fill.
    fn answer(&mut self, s: &mut Script) -> Kind {
        let Some(order) = self.pick_order(s.byte()) else {
            return self.timer();
        };
        let Some((mut rep, current, (qty, cum, leaves, price))) =
            venue_answer(&self.p.oms, order.id, order.venue, self.now)
        else {
            return self.timer();
        };
        rep.cum_qty = cum;
        let replace = order.replace;
        match s.byte() % 12 {
            0 => rep.leaves_qty = leaves,
            action @ 1..=4 => {
                // Part, all, more than is left; or (a replace in flight)
                // under the replace's ClOrdID, against its quantity.
                let (named, total) = match (action, replace) {
                    (4, Some((cl, _, req_qty))) => (cl, req_qty),
                    _ => (current, qty),
                };
                let working = total.saturating_sub(cum);
                let last = match action {
                    1 => working / 2 + 1,
                    3 => working.saturating_add(50),
                    _ => working.max(1),
                };
                rep.cl_ord_id = Some(named);
                fill(&mut rep, &mut self.exec_seq, last, price, (total, cum));
            }
            5 => {
                rep.exec_type = ExecType::Canceled;
                self.reach.unsolicited_cancels += 1;
            }
            6 => {
                rep.exec_type = match order.cancel {
                    Some(cl) => {
                        rep.cl_ord_id = Some(cl);
                        rep.orig_cl_ord_id = Some(current);
                        ExecType::Canceled
                    }
                    None => ExecType::Expired,
                };
            }
            7 => {
                rep.exec_type = ExecType::Replaced;
                if let Some((cl, new_price, new_qty)) = replace {
                    rep.cl_ord_id = Some(cl);
                    rep.orig_cl_ord_id = Some(current);
                    rep.price = new_price;
                    rep.order_qty = new_qty;
                    rep.leaves_qty = new_qty.saturating_sub(cum);
                }
            }
            8 => {
                rep.exec_type = ExecType::ReplaceRejected;
                rep.cl_ord_id = replace.map(|r| r.0).or(Some(current));
                rep.orig_cl_ord_id = Some(current);
            }
            9 => {
                rep.exec_type = ExecType::CancelRejected;
                rep.cl_ord_id = order.cancel.or(Some(current));
                rep.orig_cl_ord_id = Some(current);
            }
            10 => rep.exec_type = ExecType::Rejected,
            _ => {
                let Some(last) = order.last_exec else {
                    return self.timer();
                };
                let seq = &mut self.exec_seq;
                bust_or_correct(s, &mut rep, seq, last, (50, price, leaves));
            }
        }
        self.deliver(&rep, Some(order));
        Kind::Report
    }

    /// A venue that answers every request, in the order they were sent:
    /// the oldest still outstanding is granted (mostly) or refused.
    fn well_behaved(&mut self, s: &mut Script) -> Kind {
        let grant = !s.byte().is_multiple_of(4);
        // Answered requests are forgotten; none comes back.
        let requests = std::mem::take(&mut self.requests);
        let outstanding: Vec<(usize, Request)> = requests
            .into_iter()
            .filter(|&(i, request)| {
                self.orders
                    .get(i)
                    .is_some_and(|o| self.outstanding(o, request))
            })
            .collect();
        self.requests = outstanding;
        let Some(&(i, request)) = self.requests.first() else {
            return self.timer();
        };
        let Some(order) = self.orders.get(i).copied() else {
            return self.timer();
        };
        let Some((mut rep, current, (qty, cum, _, _))) =
            venue_answer(&self.p.oms, order.id, order.venue, self.now)
        else {
            return self.timer();
        };
        rep.cum_qty = cum;
        match (request, grant) {
            (Request::New, true) => rep.leaves_qty = qty.saturating_sub(cum),
            (Request::New, false) => rep.exec_type = ExecType::Rejected,
            (Request::Cancel(cl), _) => {
                rep.cl_ord_id = Some(cl);
                rep.orig_cl_ord_id = Some(current);
                rep.exec_type = if grant {
                    ExecType::Canceled
                } else {
                    ExecType::CancelRejected
                };
            }
            (Request::Replace(cl, price, new_qty), _) => {
                rep.cl_ord_id = Some(cl);
                rep.orig_cl_ord_id = Some(current);
                if grant {
                    rep.exec_type = ExecType::Replaced;
                    rep.price = price;
                    rep.order_qty = new_qty;
                    rep.leaves_qty = new_qty.saturating_sub(cum);
                } else {
                    rep.exec_type = ExecType::ReplaceRejected;
                }
            }
        }
        self.deliver(&rep, Some(order));
        Kind::Report
    }

    /// One report through the pipeline; what it did to `order` is counted
    /// and a fill it applied remembered for busts to name.
    fn deliver(&mut self, rep: &ExecReport, order: Option<Known>) {
        let terms_before = order.and_then(|o| self.p.oms.terms(o.id));
        let current_before = order.and_then(|o| self.p.oms.current_cl_ord_id(o.id));
        let replace_before = order.and_then(|o| self.replace_in_flight(&o));
        let cancel_before = order.is_some_and(|o| self.p.oms.cancel_in_flight(MAKER, o.id));
        trace!("  {rep:?}");
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_exec_report(rep, now, &mut |o| wire.hand(o));
        let Some(o) = order else {
            return;
        };
        let terms_after = self.p.oms.terms(o.id);
        let working = self.working(o.id);
        if let (Some(before), Some(after)) = (terms_before, terms_after) {
            if after.1 > before.1 {
                self.reach.fills += 1;
                if replace_before.is_some() {
                    self.reach.fills_during_replace += 1;
                }
                if let (Some(key), Some(&i)) = (rep.exec_id, self.by_id.get(&o.id.0)) {
                    if let Some(known) = self.orders.get_mut(i) {
                        known.last_exec = Some((rep.venue, key));
                    }
                }
            }
        }
        let current_after = self.p.oms.current_cl_ord_id(o.id);
        if let Some((cl, ..)) = replace_before {
            if current_after == Some(cl) && current_before != Some(cl) {
                self.reach.replaces_acked += 1;
            } else if working && self.replace_in_flight(&o).is_none() {
                self.reach.replaces_refused += 1;
            }
        }
        if cancel_before && working && !self.p.oms.cancel_in_flight(MAKER, o.id) {
            self.reach.cancels_refused += 1;
        }
    }

    fn after(&mut self, kind: Kind, before: &Before, lifts_holds: bool) {
        let handed = std::mem::take(&mut self.wire.handed);
        trace!(
            "  {kind:?} at {}: handed {handed:?}; tripped {:?}, open {}, position {}, bbo {:?}, \
             maker {:?}, deferred answers {}",
            self.now,
            self.p.risk.tripped(),
            self.p.risk.open_orders(),
            self.p.risk.position(LOCATE),
            self.p.book.bbo(LOCATE),
            self.maker().orders().iter().collect::<Vec<_>>(),
            self.p.stats().intents_dropped,
        );
        self.check_handed(&handed, kind, before, lifts_holds);
        self.learn(&handed);
        self.learn_holds(before);
        // Intents left over after an input's last round are answered as
        // refused when the next input hands deferred answers over.
        let dropped = self.p.stats().intents_dropped > self.counters.stats.intents_dropped;
        self.deferred = kind.still_deferred(self.deferred, dropped, before.trading);
        self.check_books();
        check_kill(&self.p, &self.kill_unsent, kind.swept());
        self.check_counters();
    }

    /// The messages one operation handed to `send`, and what the pipeline
    /// counted of them.
    fn check_handed(
        &mut self,
        handed: &[(Outbound, bool)],
        kind: Kind,
        before: &Before,
        lifts_holds: bool,
    ) {
        let (was, stats) = (&before.stats, self.p.stats());
        if kind == Kind::Quiet {
            assert!(handed.is_empty(), "sent outside a decision: {handed:?}");
        }
        check_counted(handed, was, &stats);
        for &(out, delivered) in handed {
            let cl = match out {
                Outbound::New { cl_ord_id, .. } => {
                    check_new_named(&self.p, &out);
                    self.check_quote(&out, delivered, before, lifts_holds);
                    cl_ord_id
                }
                Outbound::Replace {
                    order,
                    cl_ord_id,
                    venue,
                    side,
                    ..
                } => {
                    let known = self.by_id.get(&order.0).and_then(|&i| self.orders.get(i));
                    assert_eq!(
                        known.map(|k| (k.venue, k.side)),
                        Some((venue, side)),
                        "a replace of no order of ours, or at another venue: {out:?}"
                    );
                    self.check_quote(&out, delivered, before, lifts_holds);
                    cl_ord_id
                }
                Outbound::Cancel {
                    order,
                    cl_ord_id,
                    venue,
                    ..
                } => {
                    let known = self.by_id.get(&order.0).and_then(|&i| self.orders.get(i));
                    assert_eq!(
                        known.map(|k| k.venue),
                        Some(venue),
                        "a cancel of no order of ours, or at another venue: {out:?}"
                    );
                    cl_ord_id
                }
                Outbound::MassCancel { .. } => {
                    panic!("a mass cancel to a venue that takes none: {out:?}")
                }
            };
            check_issued(&out, cl, MAKER, self.p.oms.epoch(), &mut self.last_issued);
        }
    }

    /// A new order or replace that went out is a quote the maker may send
    /// (see the module docs). The book, the maker's parameters and position
    /// are as the input left them: what it decided on.
    fn check_quote(&self, out: &Outbound, delivered: bool, before: &Before, lifts_holds: bool) {
        let (order, side, price, qty) = match *out {
            Outbound::New {
                order,
                locate,
                symbol: sym,
                side,
                price,
                qty,
                tif,
                ..
            } => {
                assert_eq!(
                    (locate, sym, tif),
                    (LOCATE, symbol(), TimeInForce::PostOnly),
                    "{out:?}"
                );
                (order, side, price, qty)
            }
            Outbound::Replace {
                order,
                side,
                price,
                qty,
                tif,
                ..
            } => {
                assert_eq!(tif, TimeInForce::PostOnly, "{out:?}");
                (order, side, price, qty)
            }
            _ => return,
        };
        let p = &self.p;
        let m = self.maker();
        let params = *m.params();
        let now = Nanos(self.now);
        assert!(
            !before.tripped,
            "a quote while the switch was engaged: {out:?}"
        );
        assert!(p.is_trading(), "a quote while trading was paused: {out:?}");
        assert!(params.enabled, "a quote from a disabled maker: {out:?}");
        assert_eq!(
            qty, params.quote_qty,
            "a quote not of the quote size: {out:?}"
        );
        assert!(price.0 > 0, "{out:?}");
        // The market as the input left it; or, where the input was a book
        // update that first handed over answers deferred from the last one,
        // as it was before (the pipeline lets the maker answer those on the
        // book it decided on, before the new message reaches the book).
        let pull = params.fast_action == FastAction::Pull;
        let after = Market {
            bbo: p.book.bbo(LOCATE),
            trading: p.book.trading_state(LOCATE),
            fast: m.is_fast(now) && pull,
            position: m.position(),
        };
        // What a fill of all of it adds (a replace's total less what has
        // filled).
        let filled = match *out {
            Outbound::Replace { .. } => p.oms.terms(order).map_or(0, |t| t.1),
            _ => 0,
        };
        let most = i64::from(qty.saturating_sub(filled));
        let limit = params.max_position;
        let mut complaints = vec![after.refuses(side, price, most, limit)];
        if before.deferred {
            complaints.push(before.market.refuses(side, price, most, limit));
        }
        assert!(
            complaints.iter().any(Option::is_none),
            "{out:?}: {complaints:?}"
        );
        // No self-match: our own orders on the other side, at their price
        // or at a replace's in flight, stay on their side of this one (one
        // the closure refused never met them: it was undone, and the maker
        // may quote the other side where it would have been).
        for o in p.oms.open_orders().filter(|_| delivered) {
            if o.id == order || o.strategy != MAKER || o.side == side {
                continue;
            }
            let mut prices = vec![o.price];
            let known = self.by_id.get(&o.id.0).and_then(|&i| self.orders.get(i));
            if let Some((_, pending, _)) = known.and_then(|k| self.replace_in_flight(k)) {
                prices.push(pending);
            }
            for theirs in prices {
                let crosses = match side {
                    Side::Buy => price >= theirs,
                    Side::Sell => price <= theirs,
                };
                assert!(
                    !crosses,
                    "{out:?} crosses our own {:?} order {:?} at {theirs:?}",
                    o.side, o.id
                );
            }
        }
        // A side held off after a refusal gets nothing until its hold may
        // have lifted: its time up, or what it waits for changed.
        let slot = match side {
            Side::Buy => 0,
            Side::Sell => 1,
        };
        let held = before.holds[slot].is_some_and(|until| until > now);
        // The maker lifts an exposure hold at its next decision after a
        // fill or an order of its own finishing, in this input or since the
        // hold was set.
        let exposure_moved =
            self.holds
                .exposure_lifts(slot, before.holds[slot], self.exposure_moved(before));
        assert!(
            !held || lifts_holds || exposure_moved || self.collared,
            "{out:?} on a side held off after a refusal until {:?} (now {now:?})",
            before.holds[slot]
        );
    }

    /// Whether the maker's exposure may have moved during this input: a
    /// fill, or an order it tracked finishing.
    fn exposure_moved(&self, before: &Before) -> bool {
        let m = self.maker();
        let tracked: BTreeSet<u64> = m.orders().iter().map(|(_, o)| o.id.0).collect();
        m.stats().fills != before.fills || !before.tracked.is_subset(&tracked)
    }

    /// Takes note of exposure moves and of holds set, for the hold check.
    fn learn_holds(&mut self, before: &Before) {
        let moved = self.exposure_moved(before);
        let m = maker(&self.p);
        let untils = [Side::Buy, Side::Sell].map(|side| m.refusal_hold(side).until());
        self.holds.learn(moved, untils);
    }

    /// Takes note of the orders, cancels and replaces that went out.
    fn learn(&mut self, handed: &[(Outbound, bool)]) {
        let tripped = self.p.risk.tripped().is_some();
        for &(out, delivered) in handed {
            if !delivered {
                self.reach.unsent += 1;
            }
            match out {
                Outbound::New {
                    order, venue, side, ..
                } => {
                    let i = self.orders.len();
                    self.by_id.insert(order.0, i);
                    self.orders.push(Known {
                        id: order,
                        venue,
                        side,
                        cancel: None,
                        replace: None,
                        last_exec: None,
                    });
                    if delivered {
                        self.reach.quotes += 1;
                        self.requests.push((i, Request::New));
                    }
                }
                Outbound::Replace {
                    order,
                    cl_ord_id,
                    price,
                    qty,
                    ..
                } => {
                    let Some(&i) = self.by_id.get(&order.0) else {
                        continue;
                    };
                    if delivered {
                        self.reach.replaces_sent += 1;
                        if let Some(known) = self.orders.get_mut(i) {
                            known.replace = Some((cl_ord_id, price, qty));
                        }
                        self.requests
                            .push((i, Request::Replace(cl_ord_id, price, qty)));
                    }
                }
                Outbound::Cancel {
                    order, cl_ord_id, ..
                } => {
                    if delivered {
                        if let Some(&i) = self.by_id.get(&order.0) {
                            if let Some(known) = self.orders.get_mut(i) {
                                known.cancel = Some(cl_ord_id);
                            }
                            self.requests.push((i, Request::Cancel(cl_ord_id)));
                        }
                    }
                    if note_kill_cancel(&mut self.kill_unsent, order, delivered, tripped) {
                        self.reach.kill_cancels += 1;
                    }
                }
                Outbound::MassCancel { .. } => {}
            }
        }
    }

    /// Whether the OMS still works `id` (entered, not finished).
    fn working(&self, id: OrderId) -> bool {
        self.p.oms.state(id).is_some_and(|s| !s.is_terminal())
    }

    /// OMS, risk and the maker (position and tracker) agree.
    fn check_books(&mut self) {
        let p = &self.p;
        let m = maker(p);
        check_open_orders(p);
        let (mut buy, mut sell) = (0u64, 0u64);
        for o in p.oms.open_orders() {
            assert_eq!((o.locate, o.strategy), (LOCATE, MAKER), "{o:?}");
            match o.side {
                Side::Buy => buy += u64::from(o.leaves),
                Side::Sell => sell += u64::from(o.leaves),
            }
        }
        let position = p.oms.position(LOCATE).copied().unwrap_or_default();
        assert_eq!(
            (position.open_buy, position.open_sell),
            (buy, sell),
            "the OMS's open quantity is what its open orders leave"
        );
        // Risk counts an order with a replace in flight at the larger of
        // what it works and what the replace would leave (its docs: the
        // worse of the old and new terms until the venue answers).
        let mut worst = [0u64; 2];
        for known in &self.orders {
            let Some((_, cum, leaves, _)) = p.oms.terms(known.id) else {
                continue;
            };
            if !self.working(known.id) {
                continue;
            }
            let replacing = self
                .replace_in_flight(known)
                .map_or(0, |(_, _, qty)| qty.saturating_sub(cum));
            worst[usize::from(known.side == Side::Sell)] += u64::from(leaves.max(replacing));
        }
        assert_eq!(
            p.risk.open_qty(LOCATE),
            (worst[0], worst[1]),
            "risk's open quantity is the OMS's (with replaces in flight at their worst; \
             the OMS's own is {:?})",
            (buy, sell)
        );
        assert_eq!(p.risk.position(LOCATE), position.qty, "risk's position");
        assert_eq!(p.risk.net_position(), position.qty, "risk's net position");
        assert_eq!(
            m.position(),
            position.qty,
            "the maker's position is the OMS's"
        );

        // The tracker follows exactly the orders the OMS works for it. (An
        // intent left over after the last round of an input is answered at
        // the next one: until then its slot waits for what never went. One
        // the maker made answering a refusal of the kill's sweep is taken
        // through risk in the same input, as any other.)
        let deferred = self.deferred;
        let mut tracked = BTreeSet::new();
        for (slot, o) in m.orders().iter() {
            if o.id == OrderId(0) {
                // Waiting for its id: only while a dropped intent's refusal
                // waits for the next input.
                assert_eq!(o.state, SlotState::PendingNew, "slot {slot}: {o:?}");
                assert!(
                    deferred,
                    "slot {slot} waits for an id no input will give: {o:?}"
                );
                continue;
            }
            assert!(tracked.insert(o.id.0), "two slots track {:?}", o.id);
            assert!(
                self.working(o.id),
                "the maker tracks {o:?} (slot {slot}), which the OMS has finished ({:?}): \
                 that side is never quoted again",
                p.oms.state(o.id)
            );
            let Some((total, cum, leaves, price)) = p.oms.terms(o.id) else {
                panic!("no terms for {o:?}");
            };
            let known = self.by_id.get(&o.id.0).and_then(|&i| self.orders.get(i));
            assert_eq!(
                (o.locate, Some(o.side), o.price),
                (LOCATE, known.map(|k| k.side), price),
                "the maker's order (slot {slot}) and the OMS's: {o:?}"
            );
            // What it works: the OMS's leaves (a replace's answer says
            // them too). An order the OMS keeps open only for a replace in
            // flight (filled in full on its old size) works the replace's
            // rest if the venue took it.
            let replacing = known
                .and_then(|k| self.replace_in_flight(k))
                .map(|(_, _, qty)| qty.saturating_sub(cum));
            assert!(
                o.leaves == leaves || Some(o.leaves) == replacing,
                "the maker's order (slot {slot}) works {} shares, the OMS's {leaves} of \
                 {total}: {o:?}",
                o.leaves
            );
            match o.state {
                _ if deferred => {}
                SlotState::PendingCancel => assert!(
                    p.oms.cancel_in_flight(MAKER, o.id),
                    "the maker waits for a cancel the OMS does not have in flight: {o:?}"
                ),
                SlotState::PendingReplace { price, qty } => {
                    let pending = known.and_then(|k| self.replace_in_flight(k));
                    assert_eq!(
                        pending.map(|(_, p, q)| (p, q)),
                        Some((price, qty)),
                        "the maker waits for a replace the OMS does not have in flight: {o:?}"
                    );
                }
                _ => {}
            }
        }
        let mut per_side = [0usize; 2];
        for known in &self.orders {
            if !self.working(known.id) {
                continue;
            }
            let canceling = p.oms.cancel_in_flight(MAKER, known.id);
            assert!(
                tracked.contains(&known.id.0) || canceling,
                "the OMS works {known:?} ({:?}), which the maker no longer tracks and \
                 nothing cancels",
                p.oms.terms(known.id)
            );
            if !canceling {
                per_side[usize::from(known.side == Side::Sell)] += 1;
            }
        }
        assert!(
            per_side[0] <= 1 && per_side[1] <= 1,
            "more than one quote on a side works without a cancel: {per_side:?}"
        );
    }

    /// Counters only grow.
    fn check_counters(&mut self) {
        self.counters.check(&self.p);
        let m = self.maker();
        let maker = maker_stats(&m.stats(), &m.orders().stats());
        grows("maker", &self.maker_counters, &maker);
        let s = m.stats();
        self.reach.refusal_holds = s.refusals;
        self.reach.held_quotes = s.held_after_refusal;
        self.reach.inventory_blocks = s.inventory_blocks;
        self.reach.fast_markets = s.fast_market_triggers;
        self.reach.canceled_on_disconnect = self.p.oms.stats().canceled_on_disconnect;
        self.maker_counters = maker;
    }

    /// Every message goes out from now on, the maker is disabled, and
    /// every order still working is canceled by its venue: the OMS, risk
    /// and the maker's tracker must all end with nothing open.
    fn heal(&mut self) {
        self.wire.deliver_all();
        self.p.set_trading(true);
        let params = *self.maker().params();
        let before = self.before();
        let entry = config_entry(
            MAKER.0,
            "AAA",
            false,
            params.quote_qty,
            u32::try_from(params.min_half_spread_ticks).unwrap_or(0),
            params.max_position,
        );
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        let mapping = p.apply_strategy_config(&[entry], now, &mut |o| wire.hand(o));
        assert_eq!(mapping.applied, 1, "the maker takes its own parameters");
        self.after(Kind::Decides, &before, true);
        for _ in 0..HEAL_ROUNDS {
            let open: Vec<Known> = self
                .orders
                .iter()
                .filter(|o| self.working(o.id))
                .copied()
                .collect();
            if open.is_empty() {
                break;
            }
            for order in open {
                let before = self.before();
                let cancel = venue_cancel(
                    &self.p.oms,
                    MAKER,
                    order.id,
                    order.cancel,
                    order.venue,
                    self.now,
                );
                let Some(rep) = cancel else {
                    continue;
                };
                self.deliver(&rep, Some(order));
                self.after(Kind::Report, &before, false);
                assert!(
                    !self.working(order.id),
                    "{order:?} still works after its venue canceled it"
                );
                self.reach.healed += 1;
            }
        }
        // A refusal deferred from the last input reaches the maker at the
        // next one.
        let before = self.before();
        self.now += 1;
        self.timer();
        self.after(Kind::Decides, &before, false);
        let p = &self.p;
        let m = self.maker();
        assert_eq!(p.risk.open_orders(), 0, "risk still counts an open order");
        assert_eq!(p.risk.open_qty(LOCATE), (0, 0), "risk's open quantity");
        assert_eq!(
            m.orders().active_count(),
            0,
            "the maker still tracks an order: {:?}",
            m.orders().iter().collect::<Vec<_>>()
        );
        let position = p.oms.position(LOCATE).map_or(0, |pos| pos.qty);
        assert_eq!(
            (p.risk.position(LOCATE), m.position()),
            (position, position)
        );
    }
}

/// Every counter of the maker and its tracker, named so that a new field
/// breaks the build here until it is checked too.
fn maker_stats(s: &MmStats, t: &TrackerStats) -> Vec<u64> {
    let mut all = every_counter!(
        MmStats,
        *s,
        [
            quotes_sent,
            replaces_sent,
            cancels_sent,
            refreshes_skipped,
            fast_market_triggers,
            inventory_blocks,
            fills,
            refusals,
            held_after_refusal,
        ]
    );
    all.extend(every_counter!(
        TrackerStats,
        *t,
        [unexpected_accepts, unknown_order_events, slots_exhausted]
    ));
    all
}
