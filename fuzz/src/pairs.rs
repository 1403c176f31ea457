//! The `pairs` target: a script of operations on a two-venue pipeline
//! hosting the statistical-arbitrage strategy (`strategy::statarb::
//! PairsTrader`, Y against X), which samples both legs' mids on a time grid,
//! fits a rolling hedge ratio β and an OU s-score, and enters, exits and
//! stops with IOC orders on both legs at the opposite touch.
//!
//! The pipeline is `two_venues::pipeline` (as `quoting` and `split` build
//! it), the pair's legs two stocks of the primary venue's book (Y near
//! $100, X near $50, a cent tick each). The away venue's book stays empty,
//! so the router sends every order whole. The first byte picks the pair's
//! parameters, small so that entries come within a short script: a window
//! of 5 or 8 samples, a sample every microsecond or millisecond (every
//! book update samples, or most ticks do), an entry at |s| > 0.5, exits at
//! 0.2, a stop at 2.5, a maximum hold of a second, a cooldown of 100 ms, no
//! mean-reversion-time requirement to speak of, Y's quantity (100, 40, 250
//! or 1), the slippage (0, 1 or 3 ticks) and a refusal hold of 250 ms or
//! none. The second byte picks the risk limits (unlimited; a duplicate
//! window of a second; X's position limited to 100 shares, which refuses
//! X's entry leg; Y's to 50, which refuses Y's; one open order, which
//! refuses the second leg; order and cancel throttles of two a second;
//! orders above 150 shares refused with a reject-rate limit of three a
//! second; `Limits::example` with a daily loss of 0). Then each operation
//! is an opcode and its operands, from small tables that include the
//! edges:
//! - each leg's quoting firm moving its bid and ask to a new mid (up to
//!   three ticks a move, within 30 ticks of the start, one to three ticks
//!   wide; by replaces), so the legs' mids wander, the spread moves and the
//!   s-score crosses the thresholds; ITCH adds, deletes, executions,
//!   partial cancels, replaces and trade prints on either leg's stock
//!   (a ladder two ticks and more from that mid, prices that lock or
//!   cross, the edges 1 and `Price::ITCH_MAX`; 0 to `u32::MAX` shares);
//!   trading actions (halt, pause, quotation only, resume) on either leg;
//! - execution reports for any order the OMS issued, under its ClOrdID,
//!   its cancel's, another order's or garbage (this, earlier and later
//!   boots'), of every `ExecType`, with any LastQty/CumQty/LeavesQty
//!   (over-fills included), busts and corrections by ExecRefID, repeated
//!   ExecIDs, from the order's venue, another or none; well-formed answers
//!   for one order (acknowledge, fill part or all or more, repeat its last
//!   fill's ExecID, cancel the IOC's rest, refuse it, bust or correct its
//!   last fill); and well-behaved venues finishing every working IOC,
//!   oldest first (a fill of none, part or all of each, then its rest
//!   canceled, each report one input);
//! - the kill switch (`kill`, `close_session`), re-arm, venue loss with and
//!   without cancel-on-disconnect, sessions down and up, pausing
//!   (`set_trading`), time passing with and without a timer tick (sampling
//!   and the maximum hold go by time), a new limit set;
//! - messages that cannot be sent: a venue whose messages the `send`
//!   closure refuses, or the next one or two messages refused.
//!
//! Checked after every input (see `Run::after`):
//! - only new orders and the kill's cancels go out (cancels only with the
//!   switch engaged, each of an order of ours at its venue), named by the
//!   pair with rising ClOrdIDs of this boot, counted as sent or unsent as
//!   the closure answered (new orders per venue), new orders only to a
//!   venue whose session is up; nothing from an input that decides
//!   nothing;
//! - every new order is an IOC on one of the two legs (its locate and
//!   symbol), sent while the switch was not engaged and trading not
//!   paused, both legs trading, priced exactly at the opposite touch plus
//!   `slippage_ticks` of the leg's book, two-sided and neither locked nor
//!   crossed, as the input left it (or as it was before it: answers
//!   deferred from the last input are decided before the input's own
//!   message or report changes anything); at most one order per leg goes
//!   out in an input;
//! - an entry (the entry counter moved) is one decision on a fresh s-score
//!   beyond the threshold, from a flat pair (flat before the input, or
//!   made flat by it: an exit's last fill, a bust): a buy of `qty_y` Y and a sale
//!   of `round(β·qty_y·P_y/P_x)` X for a long spread (s < −entry; the signs
//!   follow β's, and turn for a short); a leg that did not go out was
//!   refused by risk or dropped, never left out by the pair. Any other new
//!   order flattens its leg: the side that takes the pair's position on
//!   that leg (before or after the input) to zero, for all of it;
//! - no order goes to a leg held off after a refusal until its hold may
//!   have lifted (its time up, a fill or an order of the pair's finishing
//!   since it was set, new limits);
//! - a pair left entering with nothing in flight resolves at once: open
//!   with every leg in the planned direction, flat, or unwinding (counted)
//!   with a flattening order on every leg it holds, unless that leg cannot
//!   trade, is held off, or its order was refused; the same for exits,
//!   stops and maximum-hold exits, and for fills a flat pair did not
//!   expect; a pair entering has an order in flight (or a refusal waits);
//!   after a tick (the pair decides whatever happened: a late fill or a
//!   bust moves its position without a decision) a flat pair holds
//!   nothing and one exiting holds something or has an order in flight;
//! - a new order that went out keeps its leg's position within the
//!   symbol's position limit in force, counting what is open on that side
//!   (risk refuses what would not);
//! - the pair's view of its position per leg is the OMS's and risk's; the
//!   OMS and risk agree on the open orders and the open quantity per leg
//!   (what the open orders leave); at most one order per leg is open, and
//!   the pair tracks exactly the orders the OMS works for it;
//! - while the switch is engaged and its sweep has run, every open order
//!   has a cancel in flight, or its cancel could not be sent, or the venue
//!   refused `KILL_CANCEL_ATTEMPTS` of them;
//! - every counter of the pipeline, the OMS, risk and the pair only grows.
//!
//! Each run ends with a heal: every message is delivered from then on, the
//! kill switch is engaged (with trading on, the pair's flattening IOCs
//! would go on for ever) and every order still working is finished by its
//! venue (canceled, under its cancel's ClOrdID when one is in flight);
//! then nothing is open in the OMS or risk, the pair tracks no order (but
//! an intent whose refusal waits for the next input), and the three agree
//! on the positions.
//!
//! Every run builds its pipeline, two books' per-locate tables included
//! (~15 MiB each): that, not the script, is most of a run's time.

use std::collections::{BTreeSet, HashMap};

use crate::reports::pick_recent;
use crate::script::Script;
use crate::two_venues::{
    self, bust_or_correct, check_counted, check_issued, check_kill, check_new_named,
    check_open_orders, fill, grows, note_kill_cancel, venue_answer, venue_cancel, venue_report,
    About, Counters, HoldMarks, Kind, Names, Wire, HEAL_ROUNDS, IOC_EXEC_TYPES, STEPS_NS, T0, TICK,
};
use gateway::oms::{ClOrdId, ExecKey, ExecReport, ExecType, Outbound};
use pipeline::{Pipeline, PipelineStats};
use protocol::itch::{AddOrderRepr, MessageRepr, OrderReplaceRepr};
use risk::{Limits, SymbolLimits};
use strategy::engine::Hosted;
use strategy::statarb::{Direction, Leg, PairState, PairsParams, PairsStats, PairsTrader};
use strategy::tick::{mid_f64, two_sided};
use types::{
    Bbo, DepthView, Nanos, OrderId, Price, Side, StockLocate, StrategyId, Symbol, TimeInForce,
    TradingState, VenueId,
};

const PAIRS: StrategyId = StrategyId(3);
/// The legs' stocks, Y first, in the primary book.
const LEGS: [StockLocate; 2] = [1, 2];
/// The legs' mids the ladders start from, in price4 (a cent is `TICK`).
const MIDS: [i64; 2] = [100_0000, 50_0000];
/// What each feed message moves the clock on.
const FEED_STEP_NS: u64 = 1_000;

fn symbol(leg: usize) -> Symbol {
    if leg == 0 {
        Symbol(*b"YYY     ")
    } else {
        Symbol(*b"XXX     ")
    }
}

fn leg_of(locate: StockLocate) -> Option<usize> {
    LEGS.iter().position(|&l| l == locate)
}

/// A price for a book order of `side` around `center` (a leg's mid as the
/// quoting firm last left it): on a five-level ladder two ticks and more
/// from it (mostly), so the book stays two-sided as the mid wanders; a
/// price that locks or crosses it; an edge of what ITCH carries.
fn book_price(s: &mut Script, center: i64, side: Side) -> Price {
    let b = s.byte();
    let level = i64::from(b % 5);
    Price(match b % 32 {
        0..=27 => match side {
            Side::Buy => center - (2 + level) * TICK,
            Side::Sell => center + (2 + level) * TICK,
        },
        28 | 29 => center + (i64::from(b >> 5) - 4) * TICK,
        30 => 1,
        _ => Price::ITCH_MAX.0,
    })
}

/// The pair's parameters, from the first byte.
fn pair_params(b: u8) -> PairsParams {
    PairsParams {
        window: if b & 0x40 == 0 { 5 } else { 8 },
        sample_interval_ns: if b & 0x20 == 0 { 1_000 } else { 1_000_000 },
        entry: 0.5,
        exit_long: 0.2,
        exit_short: 0.2,
        stop: 2.5,
        max_hold_ns: 1_000_000_000,
        stop_cooldown_ns: 100_000_000,
        max_reversion_samples: 1e12,
        qty_y: [100, 40, 250, 1][usize::from(b & 3)],
        slippage_ticks: [0, 1, 3, 0][usize::from(b >> 2) & 3],
        refusal_hold_ns: if b & 0x10 == 0 { 250_000_000 } else { 0 },
        refusal_hold_max_ns: 60_000_000_000,
    }
}

/// Limits with `max_position` shares on `leg`'s stock alone.
fn leg_limited(leg: usize, max_position: u64) -> Limits {
    let mut limits = Limits::unlimited();
    let pushed = limits.overrides.push((
        LEGS[leg],
        SymbolLimits {
            max_position,
            ..SymbolLimits::UNLIMITED
        },
    ));
    assert!(pushed.is_ok(), "one override fits");
    limits
}

/// The limit sets a script starts under or switches to.
fn limits(preset: u8) -> Limits {
    match preset % 8 {
        0 => Limits::unlimited(),
        1 => two_venues::duplicate_window(),
        // X's entry leg (about twice Y's quantity) is refused, Y's goes.
        2 => leg_limited(1, 100),
        // Y's entry leg is refused (unless Y's quantity is small).
        3 => leg_limited(0, 50),
        // One order open at a time: the second leg is refused.
        4 => Limits {
            max_open_orders: 1,
            ..Limits::unlimited()
        },
        // Two orders a second: an unwind after an entry is refused.
        5 => two_venues::throttled(),
        // Larger legs refused; three refusals a second trip the switch.
        6 => two_venues::refusing_large(),
        _ => two_venues::losing(),
    }
}

/// The position limit `limits` put on `leg`'s stock.
fn position_limit(limits: &Limits, leg: usize) -> u64 {
    limits
        .overrides
        .iter()
        .find(|(l, _)| *l == LEGS[leg])
        .map_or(limits.default_symbol.max_position, |(_, s)| s.max_position)
}

fn pipeline(limits: Limits, params: PairsParams) -> Pipeline<4, 8> {
    let leg = |i: usize| Leg {
        locate: LEGS[i],
        symbol: symbol(i),
        tick: TICK,
    };
    let built = PairsTrader::new(PAIRS, leg(0), leg(1), params);
    let pair = built.unwrap_or_else(|e| panic!("the harness's pair is valid: {e:?}"));
    // Alike for taking and resting: the away book stays empty anyway.
    let fees = [(3_000, -2_000); 2];
    two_venues::pipeline(Hosted::Pairs(pair), limits, fees)
}

fn pair(p: &Pipeline<4, 8>) -> &PairsTrader {
    match p.strategies.get(PAIRS) {
        Some(Hosted::Pairs(t)) => t,
        _ => panic!("the pair is hosted"),
    }
}

/// An order the OMS issued, as the script knows it.
#[derive(Debug, Clone, Copy)]
struct Known {
    id: OrderId,
    venue: VenueId,
    /// The ClOrdID of the last cancel of it that went out.
    cancel: Option<ClOrdId>,
    /// The venue context and ExecID of its last fill the OMS applied.
    last_exec: Option<(Option<VenueId>, ExecKey)>,
}

/// State before an operation.
struct Before {
    bbo: [Bbo; 2],
    states: [TradingState; 2],
    tripped: bool,
    trading: bool,
    stats: PipelineStats,
    pair: PairsStats,
    state: PairState,
    positions: [i64; 2],
    /// Each leg's refusal hold: until when, if held.
    holds: [Option<Nanos>; 2],
    tracked: BTreeSet<u64>,
}

/// What a run reached, for the test that makes sure scripts get somewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reach {
    pub samples: u64,
    pub entries: u64,
    pub both_legs: u64,
    pub opened: u64,
    pub exits: u64,
    pub stops: u64,
    pub max_hold_exits: u64,
    pub legged_unwinds: u64,
    pub unsent: u64,
    pub refusals: u64,
    pub held_after_refusal: u64,
    pub healed: u64,
    pub fills: u64,
    pub halts: u64,
    pub kill_cancels: u64,
    pub canceled_on_disconnect: u64,
}

impl Reach {
    /// Every count, named.
    pub fn counts(&self) -> [(&'static str, u64); 16] {
        let r = self;
        [
            ("samples", r.samples),
            ("entries", r.entries),
            ("both legs", r.both_legs),
            ("opened", r.opened),
            ("exits", r.exits),
            ("stops", r.stops),
            ("max hold exits", r.max_hold_exits),
            ("legged unwinds", r.legged_unwinds),
            ("unsent", r.unsent),
            ("refusals", r.refusals),
            ("held after refusal", r.held_after_refusal),
            ("healed", r.healed),
            ("fills", r.fills),
            ("halts", r.halts),
            ("kill cancels", r.kill_cancels),
            ("canceled on disconnect", r.canceled_on_disconnect),
        ]
    }
}

struct Run {
    p: Pipeline<4, 8>,
    wire: Wire,
    now: u64,
    params: PairsParams,
    limits: Limits,
    orders: Vec<Known>,
    by_id: HashMap<u64, usize>,
    last_issued: Option<ClOrdId>,
    kill_unsent: BTreeSet<OrderId>,
    exec_seq: u32,
    /// The signs the current entry planned per leg (Y, X).
    plan: [i64; 2],
    /// For the hold check.
    holds: HoldMarks,
    /// Some intent's refusal waits for the next input.
    deferred: bool,
    /// Each leg's mid as its quoting firm last left it, and the order
    /// references of the firm's quotes in the book, `[leg][side]`.
    centers: [i64; 2],
    quotes: [[Option<u64>; 2]; 2],
    /// The input was a timer tick (the pair decides whatever happened).
    ticked: bool,
    /// The last tick the pair saw (trading on), and the earliest an entry
    /// may come after the last stop.
    last_tick: u64,
    no_entry_until: u64,
    reach: Reach,
    counters: Counters,
    pair_counters: Vec<u64>,
}

/// Runs one script; returns what it reached.
pub fn run(data: &[u8]) -> Reach {
    let mut script = Script(data);
    // The pair's parameters, then the limits.
    let (params, start) = (pair_params(script.byte()), limits(script.byte()));
    let p = pipeline(start.clone(), params);
    let counters = Counters::new(p.stats());
    let mut run = Run {
        p,
        wire: Wire::default(),
        now: T0,
        params,
        limits: start,
        orders: Vec::new(),
        by_id: HashMap::new(),
        last_issued: None,
        kill_unsent: BTreeSet::new(),
        exec_seq: 0,
        plan: [0; 2],
        holds: HoldMarks::default(),
        deferred: false,
        ticked: false,
        last_tick: 0,
        no_entry_until: 0,
        centers: MIDS,
        quotes: [[None; 2]; 2],
        reach: Reach::default(),
        counters,
        pair_counters: Vec::new(),
    };
    run.check_counters();
    run.play(&mut script);
    run.heal();
    run.reach
}

impl Run {
    fn pair(&self) -> &PairsTrader {
        pair(&self.p)
    }

    fn before(&self) -> Before {
        let t = self.pair();
        Before {
            bbo: LEGS.map(|l| self.p.book.bbo(l)),
            states: LEGS.map(|l| self.p.book.trading_state(l)),
            tripped: self.p.risk.tripped().is_some(),
            trading: self.p.is_trading(),
            stats: self.p.stats(),
            pair: t.stats(),
            state: t.state(),
            positions: t.positions(),
            holds: [0, 1].map(|i| t.refusal_hold(i).and_then(|h| h.until())),
            tracked: t.orders().iter().map(|(_, o)| o.id.0).collect(),
        }
    }

    /// Every operation of the script (`PAIRS_TRACE=1` prints each and what
    /// it handed out, for reading a finding).
    fn play(&mut self, s: &mut Script) {
        while !s.0.is_empty() {
            self.step(s);
        }
    }

    /// One operation, checked after it (some are several inputs, each
    /// checked on its own).
    fn step(&mut self, s: &mut Script) {
        let op = s.byte() % 32;
        trace_if!("PAIRS_TRACE", "op {op}");
        let before = self.before();
        let mut lifts_holds = false;
        let kind = match op {
            0..=3 => self.itch(0, s),
            4..=7 => self.itch(1, s),
            8..=10 => return self.move_quotes(s),
            30 if s.byte() & 1 == 0 => self.trading_action(s),
            11..=13 | 31 => self.report(s),
            14..=16 => self.answer(s),
            17..=19 => {
                if !self.finish(s.byte()) {
                    let before = self.before();
                    let kind = self.timer();
                    self.after(kind, &before, false);
                }
                return;
            }
            20 if s.byte() & 1 == 0 => {
                two_venues::kill_or_close(&mut self.p, &mut self.wire, s, self.now);
                Kind::Kill
            }
            20 | 21 => {
                two_venues::rearm(&mut self.p, &mut self.kill_unsent);
                Kind::Quiet
            }
            22 => match two_venues::venue_change(&mut self.p, &mut self.wire, s, self.now) {
                true => Kind::Lost,
                false => Kind::Quiet,
            },
            23..=26 | 30 => {
                // A tick, or (26) time passing without one: what waits for
                // the timer waits.
                self.now += s.pick(STEPS_NS);
                if op == 26 {
                    Kind::Quiet
                } else {
                    self.timer()
                }
            }
            27 => {
                two_venues::wire_change(&mut self.wire, s);
                Kind::Quiet
            }
            28 => {
                let new = limits(s.byte());
                let applied = self.p.risk.apply_limits(new.clone(), Nanos(self.now));
                assert!(applied.is_ok(), "the presets validate: {applied:?}");
                self.limits = new;
                self.p.strategies.on_limits_changed();
                lifts_holds = true;
                Kind::Quiet
            }
            _ => {
                let trading = !s.byte().is_multiple_of(8);
                self.p.set_trading(trading);
                Kind::Quiet
            }
        };
        self.after(kind, &before, lifts_holds);
    }

    fn timer(&mut self) -> Kind {
        self.ticked = true;
        let now = Nanos(self.now);
        let trading = self.p.is_trading();
        let Run { p, wire, .. } = self;
        p.on_timer(now, &mut |o| wire.hand(o));
        if trading && self.p.is_trading() {
            self.last_tick = self.now;
        }
        Kind::Decides
    }

    /// One ITCH message about `leg`'s stock.
    fn itch(&mut self, leg: usize, s: &mut Script) -> Kind {
        self.now += FEED_STEP_NS;
        let center = self.centers[leg % 2];
        let repr = two_venues::book_message(s, LEGS[leg], symbol(leg), self.now, |s, side| {
            book_price(s, center, side)
        });
        self.feed(&repr);
        Kind::Decides
    }

    /// A leg's quoting firm moves its bid and ask to a new mid (up to three
    /// ticks either way from the last, within 30 ticks of the start; one
    /// to three ticks wide): a replace of each quote it has in the book (or
    /// an add), each message one input. The legs' mids wander, so the
    /// spread's s-score crosses the thresholds.
    fn move_quotes(&mut self, s: &mut Script) {
        let b = s.byte();
        let leg = usize::from(b & 1);
        let step = i64::from(b >> 1 & 7) - 3;
        let (half, shares) = (1 + i64::from(s.byte() % 3), s.pick([100, 300, 200, 1_000]));
        let center = (self.centers[leg % 2] + step * TICK)
            .clamp(MIDS[leg % 2] - 30 * TICK, MIDS[leg % 2] + 30 * TICK);
        self.centers[leg % 2] = center;
        let locate = LEGS[leg];
        let mid = center;
        for (k, side) in [Side::Buy, Side::Sell].into_iter().enumerate() {
            self.now += FEED_STEP_NS;
            let header = two_venues::header(locate, self.now);
            let price = Price(match side {
                Side::Buy => mid - half * TICK,
                Side::Sell => mid + half * TICK,
            });
            // Two references per quote, taken in turn (out of the range
            // the other feed operations use).
            let live = self.quotes[leg % 2][k];
            let base = u64::from(locate) * 100 + 50 + 2 * k as u64;
            let next = if live == Some(base) { base + 1 } else { base };
            let repr = match live {
                Some(original_order_ref) => MessageRepr::OrderReplace(OrderReplaceRepr {
                    header,
                    original_order_ref,
                    new_order_ref: next,
                    shares,
                    price,
                }),
                None => MessageRepr::AddOrder(AddOrderRepr {
                    header,
                    order_ref: next,
                    side,
                    shares,
                    stock: symbol(leg),
                    price,
                }),
            };
            self.quotes[leg % 2][k] = Some(next);
            let before = self.before();
            self.feed(&repr);
            self.after(Kind::Decides, &before, false);
        }
    }

    /// A trading action on either leg: halted, paused or quotation only
    /// (the pair makes no order), or trading again.
    fn trading_action(&mut self, s: &mut Script) -> Kind {
        self.now += FEED_STEP_NS;
        let b = s.byte();
        let leg = usize::from(b & 1);
        let state = [b'T', b'T', b'H', b'P', b'Q', b'T', b'H', b'T'][usize::from(b >> 1) % 8];
        if state != b'T' {
            self.reach.halts += 1;
        }
        self.feed(&two_venues::trading_action(
            LEGS[leg],
            symbol(leg),
            state,
            self.now,
        ));
        Kind::Decides
    }

    fn feed(&mut self, repr: &MessageRepr) {
        trace_if!("PAIRS_TRACE", "  {repr:?}");
        two_venues::feed(&mut self.p, &mut self.wire, repr, self.now);
    }

    /// An execution report about an order (under its ClOrdID, its cancel's,
    /// another's) or garbage, of any ExecType, with quantities chosen
    /// around the order's terms.
    fn report(&mut self, s: &mut Script) -> Kind {
        let exec_type = s.pick(IOC_EXEC_TYPES);
        let order = pick_recent(&self.orders, s.byte());
        let names = Names::read(s, &self.p.oms, order.map(|o| o.id), PAIRS);
        let cl = match names.naming % 8 {
            0..=3 => names.current.or(names.first),
            4 => order.and_then(|o| o.cancel).or(names.current),
            5 => pick_recent(&self.orders, names.b).map(|o| ClOrdId(o.id.0)),
            6 => Some(names.garbage),
            _ => None,
        };
        let terms = order.and_then(|o| self.p.oms.terms(o.id));
        let price = terms.map_or(Price::ZERO, |t| t.3);
        let about = order.map(|o| About {
            venue: o.venue,
            last_exec: o.last_exec,
        });
        let rep = names.report(
            s,
            exec_type,
            cl,
            about,
            terms.unwrap_or((0, 0, 0, Price::ZERO)),
            self.now,
            |d| [(Price::ZERO, 0), (Price::ZERO, 0), (price, d), (price, 1)],
        );
        self.deliver(&rep, order);
        Kind::Report
    }

    /// A well-formed answer for one order from its venue: acknowledge it,
    /// fill one share, part, all or more of it, repeat its last fill's
    /// ExecID, cancel its rest, refuse it, bust or correct its last fill.
    fn answer(&mut self, s: &mut Script) -> Kind {
        let order = pick_recent(&self.orders, s.byte());
        let answer =
            order.and_then(|o| Some((o, venue_answer(&self.p.oms, o.id, o.venue, self.now)?)));
        let Some((order, (mut rep, current, (qty, cum, leaves, price)))) = answer else {
            return self.timer();
        };
        rep.cum_qty = cum;
        let action = s.byte() % 10;
        let last = match action {
            1 => leaves / 2 + 1,
            2 => 1,
            3 => leaves.saturating_add(50),
            _ => leaves.max(1),
        };
        match (action, order.last_exec) {
            (0, _) => rep.leaves_qty = leaves,
            (1..=4, _) => fill(&mut rep, &mut self.exec_seq, last, price, (qty, cum)),
            (5, Some((venue, key))) => {
                // Its last fill's ExecID again, as more shares.
                fill(&mut rep, &mut self.exec_seq, last, price, (qty, cum));
                rep.venue = venue;
                rep.exec_id = Some(key);
            }
            (6 | 7, _) => {
                rep.exec_type = ExecType::Canceled;
                rep.cl_ord_id = order.cancel.or(Some(current));
                rep.orig_cl_ord_id = Some(current);
            }
            (8, _) => rep.exec_type = ExecType::Rejected,
            (_, Some(fill)) => {
                let seq = &mut self.exec_seq;
                bust_or_correct(s, &mut rep, seq, fill, (1, price, leaves));
            }
            (_, None) => return self.timer(),
        }
        self.deliver(&rep, Some(order));
        Kind::Report
    }

    /// Well-behaved venues finishing every IOC still working, oldest
    /// first: a fill of none, part or all of it (two bits of `how` per
    /// order), then its rest canceled, each report one input; whether any
    /// worked.
    fn finish(&mut self, how: u8) -> bool {
        let mut working = self.orders.clone();
        working.retain(|o| self.working(o.id));
        for (k, order) in working.iter().enumerate() {
            let (Some((total, cum, leaves, price)), Some(current)) = (
                self.p.oms.terms(order.id),
                self.p.oms.current_cl_ord_id(order.id),
            ) else {
                continue;
            };
            let last = match how >> (2 * (k % 4)) & 3 {
                0 => 0,
                1 => leaves / 2 + 1,
                _ => leaves,
            };
            if last > 0 {
                let mut rep = venue_report(current, ExecType::Trade, order.venue, self.now);
                fill(&mut rep, &mut self.exec_seq, last, price, (total, cum));
                let before = self.before();
                self.deliver(&rep, Some(*order));
                self.after(Kind::Report, &before, false);
            }
            // The rest canceled (under its cancel's ClOrdID when one is in
            // flight).
            let known = self
                .by_id
                .get(&order.id.0)
                .and_then(|&i| self.orders.get(i));
            let cancel = known.and_then(|k| k.cancel);
            let rep = venue_cancel(&self.p.oms, PAIRS, order.id, cancel, order.venue, self.now);
            if let (Some(rep), true) = (rep, self.working(order.id)) {
                let before = self.before();
                self.deliver(&rep, Some(*order));
                self.after(Kind::Report, &before, false);
                assert!(
                    !self.working(order.id),
                    "{order:?} still works after its venue canceled it"
                );
            }
        }
        !working.is_empty()
    }

    /// One report through the pipeline; a fill it applied is remembered
    /// for busts to name.
    fn deliver(&mut self, rep: &ExecReport, order: Option<Known>) {
        let cum_before = order.and_then(|o| self.p.oms.terms(o.id)).map(|t| t.1);
        trace_if!("PAIRS_TRACE", "  {rep:?}");
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_exec_report(rep, now, &mut |o| wire.hand(o));
        let cum_after = order.and_then(|o| self.p.oms.terms(o.id)).map(|t| t.1);
        if let (Some(o), Some(before), Some(after)) = (order, cum_before, cum_after) {
            if after > before {
                self.reach.fills += 1;
                if let (Some(key), Some(&i)) = (rep.exec_id, self.by_id.get(&o.id.0)) {
                    if let Some(known) = self.orders.get_mut(i) {
                        known.last_exec = Some((rep.venue, key));
                    }
                }
            }
        }
    }

    fn working(&self, id: OrderId) -> bool {
        self.p.oms.state(id).is_some_and(|s| !s.is_terminal())
    }

    fn after(&mut self, kind: Kind, before: &Before, lifts_holds: bool) {
        let handed = std::mem::take(&mut self.wire.handed);
        trace_if!(
            "PAIRS_TRACE",
            "  {kind:?} at {}: handed {handed:?}; tripped {:?}, state {:?}, positions {:?}, \
             s {:?}, bbo {:?}, stats {:?}",
            self.now,
            self.p.risk.tripped(),
            self.pair().state(),
            self.pair().positions(),
            self.pair().s_score(),
            LEGS.map(|l| self.p.book.bbo(l)),
            self.pair().stats(),
        );
        self.check_handed(&handed, before, (kind, lifts_holds));
        self.check_decisions(&handed, before);
        // Intents left over after an input's last round are answered as
        // refused when the next input hands deferred answers over.
        let dropped = self.p.stats().intents_dropped > self.counters.stats.intents_dropped;
        self.deferred = kind.still_deferred(self.deferred, dropped, before.trading);
        self.learn_holds(before);
        self.learn(&handed);
        check_kill(&self.p, &self.kill_unsent, kind.swept());
        self.check_books();
        self.check_counters();
        self.ticked = false;
    }

    /// The messages one input handed to `send`.
    fn check_handed(&mut self, handed: &[(Outbound, bool)], before: &Before, op: (Kind, bool)) {
        let (kind, lifts_holds) = op;
        if kind == Kind::Quiet {
            assert!(handed.is_empty(), "sent outside a decision: {handed:?}");
        }
        check_counted(handed, &before.stats, &self.p.stats());
        let mut delivered_per_leg = [0u32; 2];
        for &(out, delivered) in handed {
            let cl = match out {
                Outbound::New {
                    cl_ord_id, locate, ..
                } => {
                    check_new_named(&self.p, &out);
                    self.check_new(&out, before, lifts_holds);
                    if let (true, Some(leg)) = (delivered, leg_of(locate)) {
                        delivered_per_leg[leg] += 1;
                    }
                    cl_ord_id
                }
                Outbound::Cancel {
                    order, cl_ord_id, ..
                } => {
                    // Only the kill's: the pair cancels nothing.
                    let tripped = self.p.risk.tripped().is_some();
                    let ours = self.orders.iter().find(|k| k.id == order);
                    let at = ours.map(|k| k.venue);
                    assert!(
                        tripped && at == Some(out.venue()),
                        "a cancel not of the kill switch (tripped {tripped}), of no order of \
                         ours or at another venue ({at:?}): {out:?}"
                    );
                    cl_ord_id
                }
                Outbound::Replace { .. } | Outbound::MassCancel { .. } => {
                    panic!("the pair replaces nothing, no venue takes a mass cancel: {out:?}")
                }
            };
            check_issued(&out, cl, PAIRS, self.p.oms.epoch(), &mut self.last_issued);
        }
        assert!(
            delivered_per_leg.iter().all(|&n| n <= 1),
            "more than one order on a leg went out in one input: {handed:?}"
        );
    }

    /// A new order that went out is one the pair may send (see the module
    /// docs).
    fn check_new(&self, out: &Outbound, before: &Before, lifts_holds: bool) {
        let Outbound::New {
            tif,
            qty,
            price,
            side,
            symbol: sym,
            locate,
            ..
        } = *out
        else {
            return;
        };
        let Some(leg) = leg_of(locate) else {
            panic!("an order on no leg of the pair: {out:?}");
        };
        assert_eq!(
            (sym, tif),
            (symbol(leg), TimeInForce::ImmediateOrCancel),
            "{out:?}"
        );
        let p = &self.p;
        let t = self.pair();
        assert!(
            !before.tripped,
            "an order while the switch was engaged: {out:?}"
        );
        assert!(p.is_trading(), "an order while trading was paused: {out:?}");
        // Both legs trading, as the input left them or (answers deferred
        // to a book update, decided before it) as they were before.
        let trading = |states: [TradingState; 2]| states == [TradingState::Trading; 2];
        let after = LEGS.map(|l| p.book.trading_state(l));
        assert!(
            trading(after) || trading(before.states),
            "an order while a leg does not trade ({after:?}, before {:?}): {out:?}",
            before.states
        );
        // At the opposite touch plus the slippage, on the book as the
        // input left it or (answers deferred to a book update) before it.
        let slip = self.params.slippage_ticks * TICK;
        // (Only a two-sided book, neither locked nor crossed, prices one.)
        let limit = |bbo: &Bbo| {
            two_sided(bbo).map(|(bid, ask)| match side {
                Side::Buy => ask.price.0 + slip,
                Side::Sell => bid.price.0 - slip,
            })
        };
        let books = [p.book.bbo(locate), before.bbo[leg]];
        assert!(
            books.iter().any(|b| limit(b) == Some(price.0)),
            "{out:?} is not at the opposite touch plus {} ticks of {books:?}",
            self.params.slippage_ticks
        );
        assert!(price.0 > 0 && price.0 <= Price::ITCH_MAX.0, "{out:?}");
        // What the order is: an entry's leg, or the flatten of its leg.
        // The position as the input left it, or (answers deferred to a
        // report, decided before the report) as it was before; one beyond
        // what an order carries (over-fills) goes in orders of `u32::MAX`.
        let pos = [t.positions()[leg], before.positions[leg]];
        let flattens = |p: i64| {
            let most = p.clamp(-i64::from(u32::MAX), i64::from(u32::MAX));
            p != 0 && most == -(i64::from(qty) * side.sign())
        };
        let s = t.stats();
        // An input that made the pair flat and entered may first have
        // flattened what it held before (deferred answers are decided
        // before the report that made it flat).
        let made_flat_after_a_flatten =
            before.positions != [0, 0] && flattens(before.positions[leg]);
        if s.entries > before.pair.entries && !made_flat_after_a_flatten {
            // (Flat before the input, or made flat by it: the entry is
            // decided on the same input.)
            assert!(
                before.positions == [0, 0] || t.positions() == [0, 0],
                "an entry from a pair that holds something ({:?} before, {:?} after): {out:?}",
                before.positions,
                t.positions()
            );
            let score = t.s_score();
            let long = match score {
                Some(sc) if sc < -self.params.entry => true,
                Some(sc) if sc > self.params.entry => false,
                _ => panic!("an entry on no s-score beyond the threshold ({score:?}): {out:?}"),
            };
            let plans: Vec<[i64; 2]> = books_plans(t, p, before, self.params.qty_y);
            let signed = i64::from(qty) * side.sign();
            assert!(
                plans.iter().any(|plan| {
                    let q = if long { plan[leg] } else { -plan[leg] };
                    q == signed
                }),
                "an entry leg not of the plan {plans:?} (long {long}): {out:?}"
            );
        } else {
            assert!(
                pos.into_iter().any(flattens),
                "not an entry, and not the flatten of the leg's position {pos:?}: {out:?}"
            );
        }
        // Not on a leg held off after a refusal until the hold may lift.
        let now = Nanos(self.now);
        let held = before.holds[leg].is_some_and(|until| until > now);

        let moved = self
            .holds
            .exposure_lifts(leg, before.holds[leg], self.exposure_moved(before));
        assert!(
            !held || lifts_holds || moved,
            "{out:?} on a leg held off after a refusal until {:?} (now {now:?})",
            before.holds[leg]
        );
    }

    /// What the decisions of one input promise: entries whole, a pair
    /// resolved once nothing is in flight, flattens on every leg held.
    fn check_decisions(&mut self, handed: &[(Outbound, bool)], before: &Before) {
        let p = &self.p;
        let t = pair(p);
        let s = t.stats();
        let stats = p.stats();
        let refused = stats.risk_rejects > before.stats.risk_rejects
            || stats.intents_dropped > before.stats.intents_dropped
            || stats.paused > before.stats.paused
            || s.refusals > before.pair.refusals;
        let legs_sent: [bool; 2] = [0, 1].map(|leg| {
            handed
                .iter()
                .any(|(o, _)| matches!(o, Outbound::New { locate, .. } if *locate == LEGS[leg]))
        });
        if s.entries > before.pair.entries {
            assert_eq!(
                s.entries,
                before.pair.entries + 1,
                "two entries in one input"
            );
            self.reach.entries += 1;
            // From a flat pair: flat before the input, or made flat by it
            // (an exit's last fill, a bust), deciding on the same input.
            let made_flat = matches!(before.state, PairState::Exiting | PairState::Open { .. })
                && t.positions() == [0, 0];
            assert!(
                before.state == PairState::Flat || made_flat,
                "an entry from {:?} holding {:?}",
                before.state,
                t.positions()
            );
            // Not within the cooldown after a stop (decided no earlier
            // than the last tick the pair saw then).
            assert!(
                self.now >= self.no_entry_until,
                "an entry at {} within the cooldown after a stop, until {}",
                self.now,
                self.no_entry_until
            );
            // The plan's signs: Y with the direction, X against β's sign
            // in a long spread (as X's leg went out, where it did).
            let long = t.s_score().is_some_and(|sc| sc < 0.0);
            let beta = t.hedge().map_or(0.0, |f| f.beta[1]);
            let long_x = if beta > 0.0 { -1 } else { 1 };
            self.plan = if long { [1, long_x] } else { [-1, -long_x] };
            for (out, _) in handed {
                if let Outbound::New { locate, side, .. } = out {
                    if *locate == LEGS[1] {
                        self.plan[1] = side.sign();
                    }
                }
            }
            if legs_sent == [true, true] {
                self.reach.both_legs += 1;
            } else {
                assert!(
                    refused,
                    "an entry with one leg left out and nothing refused: {handed:?}"
                );
            }
        }
        if s.exits > before.pair.exits {
            assert!(
                matches!(before.state, PairState::Open { .. }),
                "an exit from {:?}",
                before.state
            );
        }
        if s.stops + s.max_hold_exits > before.pair.stops + before.pair.max_hold_exits {
            let cooldown = self.params.stop_cooldown_ns;
            self.no_entry_until = self.last_tick.saturating_add(cooldown);
        }
        // Whatever flattens must flatten every leg held, unless it cannot.
        let flattens = s.legged_unwinds > before.pair.legged_unwinds
            || s.exits > before.pair.exits
            || (before.state == PairState::Flat && t.state() == PairState::Exiting);
        if flattens {
            let can_trade = LEGS.iter().all(|&l| {
                p.book.trading_state(l) == TradingState::Trading
                    && two_sided(&p.book.bbo(l)).is_some()
            });
            let slip = self.params.slippage_ticks * TICK;
            for (leg, &pos) in t.positions().iter().enumerate() {
                let held =
                    t.refusal_hold(leg).is_some_and(|h| h.is_set()) || before.holds[leg].is_some();
                // The flattening IOC's price (the opposite touch plus the
                // slippage) must be one the wire carries.
                let priceable = two_sided(&p.book.bbo(LEGS[leg])).is_some_and(|(bid, ask)| {
                    let price = if pos < 0 {
                        ask.price.0 + slip
                    } else {
                        bid.price.0 - slip
                    };
                    price > 0 && price <= Price::ITCH_MAX.0
                });
                assert!(
                    pos == 0 || legs_sent[leg] || !can_trade || !priceable || held || refused,
                    "leg {leg} holds {pos} and no order flattens it: {handed:?}"
                );
            }
        }
        // The state says what is in flight and held.
        let active = t.orders().active_count();
        let flat = t.positions() == [0, 0];
        // (A fill of an order the pair no longer tracks moves its position
        // without a decision: the next one, a tick at the latest, flattens.)
        let decided = self.ticked && p.is_trading();
        match t.state() {
            PairState::Flat => assert!(
                flat || active > 0 || !decided,
                "flat with positions {:?} and nothing in flight after a tick",
                t.positions()
            ),
            PairState::Entering(_) => assert!(
                active > 0 || self.deferred || refused,
                "entering with nothing in flight"
            ),
            // (A bust that leaves an open pair holding nothing makes it
            // flat at once: no exit of a pair with nothing to flatten.)
            PairState::Exiting => assert!(
                !flat || active > 0 || self.deferred || refused || !decided,
                "exiting with nothing held or in flight"
            ),
            PairState::Open { dir, .. } => {
                if let PairState::Entering(_) = before.state {
                    // Just opened: every planned leg holds shares in the
                    // planned direction.
                    self.reach.opened += 1;
                    let sign = match dir {
                        Direction::Long => 1,
                        Direction::Short => -1,
                    };
                    let pos = t.positions();
                    assert!(
                        pos[0].signum() == sign && pos[1].signum() == self.plan[1].signum(),
                        "opened {dir:?} on positions {pos:?}, the entry planned {:?}",
                        self.plan
                    );
                }
            }
        }
    }

    /// Whether the pair's exposure may have moved during this input: a
    /// fill or an order it tracked finishing.
    fn exposure_moved(&self, before: &Before) -> bool {
        let t = self.pair();
        let tracked: BTreeSet<u64> = t.orders().iter().map(|(_, o)| o.id.0).collect();
        t.positions() != before.positions || !before.tracked.is_subset(&tracked)
    }

    fn learn_holds(&mut self, before: &Before) {
        let moved = self.exposure_moved(before);
        let t = pair(&self.p);
        let untils = [0, 1].map(|leg| t.refusal_hold(leg).and_then(|h| h.until()));
        self.holds.learn(moved, untils);
    }

    /// Takes note of the orders and cancels that went out, and of an
    /// entry's plan.
    fn learn(&mut self, handed: &[(Outbound, bool)]) {
        let tripped = self.p.risk.tripped().is_some();
        self.reach.unsent += handed.iter().filter(|(_, delivered)| !delivered).count() as u64;
        for &(out, delivered) in handed {
            if let Outbound::New { order, venue, .. } = out {
                self.by_id.insert(order.0, self.orders.len());
                let last_exec = None;
                let cancel = None;
                let id = order;
                self.orders.push(Known {
                    id,
                    venue,
                    cancel,
                    last_exec,
                });
            } else if let Outbound::Cancel {
                order, cl_ord_id, ..
            } = out
            {
                let i = self.by_id.get(&order.0).copied();
                match i.and_then(|i| self.orders.get_mut(i)) {
                    Some(known) if delivered => known.cancel = Some(cl_ord_id),
                    _ => {}
                }
                if note_kill_cancel(&mut self.kill_unsent, order, delivered, tripped) {
                    self.reach.kill_cancels += 1;
                }
            }
        }
        // A delivered order keeps its leg within the position limit in
        // force, counting what is open on its side.
        for &(out, delivered) in handed {
            let Outbound::New { locate, side, .. } = out else {
                continue;
            };
            let (Some(leg), true) = (leg_of(locate), delivered) else {
                continue;
            };
            if !self.working(OrderId(out_order(&out))) {
                continue;
            }
            let lim = position_limit(&self.limits, leg);
            let pos = self.p.oms.position(locate).copied().unwrap_or_default();
            let ahead = match side {
                Side::Buy => i128::from(pos.qty) + i128::from(pos.open_buy),
                Side::Sell => i128::from(pos.open_sell) - i128::from(pos.qty),
            };
            assert!(
                ahead <= i128::from(lim),
                "{out:?} takes leg {leg} to {ahead} shares on its side, beyond the limit {lim}"
            );
        }
    }

    /// OMS, risk and the pair agree.
    fn check_books(&mut self) {
        let p = &self.p;
        let t = pair(p);
        check_open_orders(p);
        let mut open = [[0u64; 2]; 2];
        let mut per_leg = [0u32; 2];
        for o in p.oms.open_orders() {
            assert_eq!(o.strategy, PAIRS, "{o:?}");
            let Some(leg) = leg_of(o.locate) else {
                panic!("an open order on no leg: {o:?}");
            };
            open[leg][usize::from(o.side == Side::Sell)] += u64::from(o.leaves);
            per_leg[leg] += 1;
        }
        assert!(
            per_leg.iter().all(|&n| n <= 1),
            "more than one order open on a leg: {per_leg:?}"
        );
        let positions = t.positions();
        for (leg, &locate) in LEGS.iter().enumerate() {
            let pos = p.oms.position(locate).copied().unwrap_or_default();
            assert_eq!(
                [pos.open_buy, pos.open_sell],
                open[leg],
                "the OMS's open quantity on leg {leg} is what its open orders leave"
            );
            assert_eq!(
                p.risk.open_qty(locate),
                (open[leg][0], open[leg][1]),
                "risk's open quantity on leg {leg}"
            );
            assert_eq!(
                p.risk.position(locate),
                pos.qty,
                "risk's position, leg {leg}"
            );
            assert_eq!(
                positions[leg], pos.qty,
                "the pair's position on leg {leg} is the OMS's"
            );
        }
        // The pair tracks exactly the orders the OMS works for it.
        let ids: Vec<OrderId> = t.orders().iter().map(|(_, o)| o.id).collect();
        // A slot waits for its id only while a dropped intent's refusal
        // waits for the next input.
        let unassigned = ids.iter().filter(|id| id.0 == 0).count();
        assert!(
            unassigned == 0 || self.deferred,
            "slots wait for an id no input will give: {ids:?}"
        );
        let tracked: BTreeSet<u64> = ids.iter().map(|id| id.0).filter(|&id| id != 0).collect();
        assert_eq!(
            tracked.len() + unassigned,
            ids.len(),
            "two slots track one order: {ids:?}"
        );
        for &id in ids.iter().filter(|id| id.0 != 0) {
            let state = p.oms.state(id);
            assert!(
                self.working(id),
                "the pair tracks {id:?}, which the OMS has finished ({state:?}): it decides \
                 nothing until it finishes"
            );
        }
        for o in p.oms.open_orders() {
            assert!(
                tracked.contains(&o.id.0),
                "the OMS works {o:?}, which the pair does not track"
            );
        }
    }

    fn check_counters(&mut self) {
        self.counters.check(&self.p);
        let s = self.pair().stats();
        let all = pair_stats(&s);
        grows("pair", &self.pair_counters, &all);
        self.pair_counters = all;
        self.reach.samples = s.samples;
        self.reach.exits = s.exits;
        self.reach.stops = s.stops;
        self.reach.max_hold_exits = s.max_hold_exits;
        self.reach.legged_unwinds = s.legged_unwinds;
        self.reach.refusals = s.refusals;
        self.reach.held_after_refusal = s.held_after_refusal;
        self.reach.canceled_on_disconnect = self.p.oms.stats().canceled_on_disconnect;
    }

    /// Every message goes out from now on, the kill switch is engaged, and
    /// every order still working is finished by its venue.
    fn heal(&mut self) {
        self.wire.deliver_all();
        self.p.set_trading(true);
        let before = self.before();
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.kill(now, &mut |o| wire.hand(o));
        self.after(Kind::Kill, &before, false);
        for _ in 0..HEAL_ROUNDS {
            let open = self.p.risk.open_orders();
            if !self.finish(0) {
                break;
            }
            self.reach.healed += u64::from(open);
        }
        let before = self.before();
        self.now += 1;
        let kind = self.timer();
        self.after(kind, &before, false);
        let p = &self.p;
        let t = pair(p);
        assert_eq!(p.risk.open_orders(), 0, "risk still counts an open order");
        // (With no refusal hold, a flatten refused by the tripped switch
        // is made again at every round: the last round's intent waits for
        // its refusal at the next input, holding a slot without an id.)
        let waiting = t
            .orders()
            .iter()
            .filter(|(_, o)| o.id != OrderId(0))
            .count();
        assert!(
            waiting == 0 && (self.deferred || t.orders().active_count() == 0),
            "the pair still tracks an order: {:?}",
            t.orders().iter().collect::<Vec<_>>()
        );
        for (leg, &locate) in LEGS.iter().enumerate() {
            assert_eq!(p.risk.open_qty(locate), (0, 0), "risk's open quantity");
            let position = p.oms.position(locate).map_or(0, |pos| pos.qty);
            assert_eq!(
                (p.risk.position(locate), t.positions()[leg]),
                (position, position)
            );
        }
    }
}

fn out_order(out: &Outbound) -> u64 {
    match *out {
        Outbound::New { order, .. } => order.0,
        _ => 0,
    }
}

/// The long-spread plans the pair may have made on the books before and
/// after the input: `+qty_y` Y and `−round(β·qty_y·P_y/P_x)` X.
fn books_plans(t: &PairsTrader, p: &Pipeline<4, 8>, before: &Before, qty_y: u32) -> Vec<[i64; 2]> {
    let Some(fit) = t.hedge() else {
        return Vec::new();
    };
    [LEGS.map(|l| p.book.bbo(l)), before.bbo]
        .iter()
        .filter_map(|bbo| {
            let (py, px) = (mid_f64(&bbo[0])?, mid_f64(&bbo[1])?);
            let q = libm_round(fit.beta[1] * f64::from(qty_y) * py / px);
            Some([i64::from(qty_y), -(q as i64)])
        })
        .collect()
}

/// `f64::round` (half away from zero), as `libm::round` rounds.
fn libm_round(x: f64) -> f64 {
    x.round()
}

/// Every counter of the pair, named so that a new field breaks the build
/// here until it is checked too.
fn pair_stats(s: &PairsStats) -> Vec<u64> {
    every_counter!(
        PairsStats,
        *s,
        [
            samples,
            entries,
            exits,
            stops,
            max_hold_exits,
            legged_unwinds,
            entries_skipped,
            refusals,
            held_after_refusal,
        ]
    )
}
