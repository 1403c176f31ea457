//! The `split` target: a script of operations on a two-venue pipeline whose
//! taker sends orders larger than one venue shows, so the smart order router
//! splits them into one child order per venue (`pipeline::split`).
//!
//! The pipeline is built as `pipeline/tests/split.rs` builds it: the primary
//! venue's feed drives the book the strategy sees (`on_itch`), the away
//! venue's keeps an away book only the router reads (`on_away_itch`), and one
//! `SignalTrader` with a constant model buys (or, by the first byte, sells)
//! a fixed quantity, IOC, at the primary's touch whenever it has no order
//! open and its position limit allows, and flattens its whole position
//! (however large over-fills made it) when the limit does not, or on a
//! timer tick once it has held it for a second. The first byte also picks
//! the risk limits (unlimited; a duplicate window of a second with a cap of
//! 1,000 shares entered a second; a per-order
//! quantity or notional limit that refuses the whole while each child would
//! pass; a strategy throttle that refuses a second child; small open-order
//! caps; `Limits::example`, with collars and a duplicate window, and a daily
//! loss of 0 that trips at the first loss), the quantity, the away venue's
//! fee and the position limit. Then each operation is an opcode and its
//! operands, from small tables that include the edges:
//! - ITCH adds, deletes, executions and partial cancels on either book, at a
//!   few prices around the touch (or 1 and `u32::MAX`), of 0 to `u32::MAX`
//!   shares, so the taker decides and its orders split, or go whole (one
//!   venue's liquidity suffices, one venue is usable, or none is displayed);
//! - execution reports for any child the OMS issued, under its ClOrdID, its
//!   cancel's, another child's or garbage (this, earlier and later boots'),
//!   of every `ExecType`: acknowledgements, fills with any
//!   LastQty/CumQty/LeavesQty (over-fills included), cancels, rejects,
//!   replace and pending answers, busts and corrections by ExecRefID,
//!   repeated ExecIDs, from the child's venue, another or none; well-formed
//!   venue answers (acknowledge, fill part or all, cancel the IOC's rest,
//!   reject); and every working child's venue finishing its IOC (the rest
//!   canceled, or filled first), one report at a time;
//! - the kill switch (`kill`, `close_session`), re-arm (refused while the
//!   daily loss lasts), venue loss with and without cancel-on-disconnect,
//!   sessions down and up, time passing with and without a timer tick (the
//!   kill's retries, the taker's flatten), a new limit set;
//! - messages that cannot be sent: a venue whose messages the `send`
//!   closure refuses, or the next one or two messages refused.
//!
//! Checked after every input (see `Run::after`):
//! - the new orders one input hands out are one decision of the taker,
//!   made on a primary book update or a tick while the switch was not
//!   engaged: one side, at most one child per venue, every venue's session
//!   up, quantities adding up to exactly the parent's (its quantity or its
//!   flatten), each at or inside the limit (the primary's touch); two or
//!   more are counted as one split with that many children, one as none;
//! - nothing but new orders and cancels goes out, cancels only while the
//!   switch is engaged (the taker cancels nothing) and each of a child at
//!   its venue; ClOrdIDs rise; every message handed over is counted as sent
//!   or unsent as the closure answered, new orders per venue, delivered
//!   cancels as the kill's;
//! - risk refuses an order as a duplicate only of one that went out (some
//!   child of it) within the window, with the same terms (or terms a child
//!   shares): an order no venue got leaves the window;
//! - the OMS and risk agree on the open orders and on the position and open
//!   quantity of the symbol (what the open orders leave), and the taker's
//!   position is the OMS's (it hears its children's fills through the split
//!   table, and a late child's fill directly);
//! - the taker has an order open exactly when a child of it still works in
//!   the OMS (a split parent counts once); `live_splits()` is the number of
//!   splits with a child still working (never above `MAX_SPLITS`);
//! - while the switch is engaged and its sweep has run (always, after an
//!   input that runs it), every open order has a cancel in flight, or its
//!   cancel could not be sent (the retry timer sends it again), or the venue
//!   refused `KILL_CANCEL_ATTEMPTS` of them;
//! - every counter of the pipeline, the OMS and risk only grows.
//!
//! Each run ends with a heal: every message is delivered from then on and
//! every child still open is answered `Canceled` (under its cancel's ClOrdID
//! when one is in flight); then no split is live, the taker has no order
//! open, risk has no open order and no open quantity, and positions agree.
//!
//! Every run builds its pipeline, two books' per-locate tables included
//! (~15 MiB each): that, not the script, is most of a run's time.

use std::collections::{BTreeSet, HashMap};

use crate::script::Script;
use gateway::oms::{ClOrdId, ExecKey, ExecReport, ExecType, Outbound};
use pipeline::split::MAX_SPLITS;
use pipeline::{Pipeline, PipelineStats};
use protocol::itch::{MessageRepr, OrderCancelRepr, OrderDeleteRepr, OrderExecutedRepr};
use risk::{Limits, SymbolLimits, Throttle, VolumeLimit};
use strategy::engine::Hosted;
use strategy::features::FeatureParams;
use strategy::model::Logistic;
use strategy::signal::{SignalParams, SignalTrader};
use types::{
    DepthView, Nanos, OrderId, Price, RejectReason, Side, StrategyId, Symbol, TimeInForce, VenueId,
};

use crate::reports::{fresh_exec_id, pick_recent};
use crate::two_venues::{
    self, check_counted, check_issued, check_kill, check_open_orders, fill, itch_message,
    note_kill_cancel, venue_answer, venue_cancel, venue_report, About, Counters, Names, Wire, AWAY,
    HEAL_ROUNDS, IOC_EXEC_TYPES, PRIMARY, REFS, SHARES, T0, TICK, VENUES,
};

/// `SPLIT_TRACE=1` prints every operation and what it handed out (for
/// reading a finding: `cargo test` or the fuzz target run on the one input).
macro_rules! trace {
    ($($arg:tt)*) => {
        trace_if!("SPLIT_TRACE", $($arg)*)
    };
}

const LOCATE: u16 = 1;
const TRADER: StrategyId = StrategyId(2);
/// $100.00, in price4 (a cent is `TICK`).
const TOUCH: i64 = 100_0000;
/// A position the taker holds this long (feed time) it flattens on a tick.
const HOLD_NS: u64 = 1_000_000_000;

const STEPS_NS: [u64; 8] = [
    1,
    1_000,
    1_000_000,
    10_000_000,
    100_000_000,
    500_000_000,
    1_000_000_000,
    5_000_000_000,
];
const QTYS: [u32; 4] = [400, 400, 250, 1_000];
const AWAY_TAKE_FEES: [i64; 2] = [3_000, 2_000];

fn symbol() -> Symbol {
    Symbol(*b"AAA     ")
}

/// A price for a book order of `side`: mostly on a five-level ladder from
/// the touch outwards (so both books show depth where the taker looks, and
/// the venues' levels meet), sometimes anywhere near it (the book crosses),
/// sometimes an edge of what ITCH carries.
fn book_price(s: &mut Script, side: Side) -> Price {
    let b = s.byte();
    let level = i64::from(b % 5);
    Price(match b % 32 {
        0..=28 => match side {
            Side::Buy => TOUCH - TICK - level * TICK,
            Side::Sell => TOUCH + level * TICK,
        },
        29 => TOUCH + (i64::from(b >> 5) - 4) * TICK,
        30 => 1,
        _ => Price::ITCH_MAX.0,
    })
}

/// The limit sets a script starts under or switches to.
fn limits(preset: u8) -> Limits {
    let unlimited = Limits::unlimited();
    match preset % 8 {
        0 => unlimited,
        // The same order again within a second is a duplicate, and at
        // most 1,000 shares are entered a second: a split whole is taken
        // back before its children enter (or are taken back in turn).
        1 => Limits {
            duplicate_window_ns: 1_000_000_000,
            entered_volume: Some(VolumeLimit {
                max_qty: 1_000,
                max_notional: u64::MAX,
                window_ns: 1_000_000_000,
            }),
            ..unlimited
        },
        // Each child of a 400-share order (at most 300 shown at one venue
        // in the ladders) may pass where the whole may not.
        2 => Limits {
            default_symbol: SymbolLimits {
                max_order_qty: 300,
                ..SymbolLimits::UNLIMITED
            },
            ..unlimited
        },
        3 => Limits {
            default_symbol: SymbolLimits {
                max_notional: 300 * TOUCH as u64,
                ..SymbolLimits::UNLIMITED
            },
            ..unlimited
        },
        // One order a second: a split's second child is refused, and the
        // first is taken back.
        4 => Limits {
            strategy_order_rate: Some(Throttle {
                max_msgs: 1,
                window_ns: 1_000_000_000,
            }),
            ..unlimited
        },
        // One order open at a time, or two in the symbol: a split fits
        // only in the second.
        5 => Limits {
            max_open_orders: 1,
            ..unlimited
        },
        6 => Limits {
            default_symbol: SymbolLimits {
                max_open_orders: 2,
                ..SymbolLimits::UNLIMITED
            },
            strategy_order_rate: Some(Throttle {
                max_msgs: 3,
                window_ns: 1_000_000,
            }),
            ..unlimited
        },
        // Collars against the primary's mid, a duplicate window, and a
        // daily loss of 0: the first loss (a mark below a buy) trips the
        // switch, and re-arming is refused while it lasts.
        _ => Limits {
            max_daily_loss: 0,
            ..Limits::example()
        },
    }
}

/// What the first byte configures.
#[derive(Debug, Clone, Copy)]
struct Config {
    side: Side,
    qty: u32,
    max_position: i64,
}

/// A taker whose constant model always says "up" (or always "down"): once
/// the primary's book is two-sided it takes `qty` at the touch, IOC,
/// whenever it has no order open and its position allows; a position it
/// cannot add to, or on a timer tick one held for `HOLD_NS`, it flattens
/// (whatever its size: over-fills make it large).
fn trader(config: Config) -> SignalTrader {
    let intercept = match config.side {
        Side::Buy => 5.0,
        Side::Sell => -5.0,
    };
    let Ok(model) = Logistic::constant(intercept) else {
        panic!("the harness's model is valid");
    };
    let built = SignalTrader::new(
        TRADER,
        LOCATE,
        symbol(),
        FeatureParams::default_for_tick(TICK),
        model,
        SignalParams {
            threshold: 0.8,
            qty: config.qty,
            max_position: config.max_position,
            cooldown_ns: 0,
            hold_ns: HOLD_NS,
            warmup_updates: 1,
        },
    );
    match built {
        Ok(t) => t,
        Err(e) => panic!("the harness's trader is valid: {e:?}"),
    }
}

/// Two venues that charge alike (or the away one less for taking).
fn pipeline(limits: Limits, config: Config, away_take_fee: i64) -> Pipeline<4, 8> {
    two_venues::pipeline(
        Hosted::Signal(trader(config)),
        limits,
        [(3_000, -2_000), (away_take_fee, -2_000)],
    )
}

/// A child order the OMS issued, as the script knows it.
#[derive(Debug, Clone, Copy)]
struct Child {
    id: OrderId,
    venue: VenueId,
    /// The ClOrdID of the last cancel of it that went out.
    cancel: Option<ClOrdId>,
    /// The venue context and ExecID of its last fill the OMS applied (for
    /// busts and corrections to name).
    last_exec: Option<(Option<VenueId>, ExecKey)>,
}

/// What an operation did, for the checks after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A primary book update: the taker may enter or flatten; the kill's
    /// sweep ran.
    Decides,
    /// A timer tick: the taker may flatten; the kill's sweep ran.
    Ticks,
    /// The pipeline ran its after-input step (the kill's sweep) but no
    /// strategy decided.
    Sweeps,
    /// Neither (venue loss, sessions, the away feed, re-arm, limits).
    Quiet,
}

/// State before an operation.
struct Before {
    tripped: bool,
    /// Orders risk refused as duplicates so far.
    duplicates: u64,
    /// The taker's position.
    position: i64,
    /// Each venue's session (in `VENUES` order).
    up: [bool; 2],
    stats: PipelineStats,
}

/// What a run reached, for the test that makes sure scripts get somewhere.
#[derive(Debug, Default, Clone, Copy)]
pub struct Reach {
    pub whole_orders: u64,
    pub splits: u64,
    pub child_fills: u64,
    pub adjustments: u64,
    pub unsent_children: u64,
    pub limit_refusals: u64,
    pub kill_cancels: u64,
    pub canceled_on_disconnect: u64,
    pub parents_ended: u64,
    pub healed_children: u64,
}

struct Run {
    p: Pipeline<4, 8>,
    wire: Wire,
    config: Config,
    now: u64,
    children: Vec<Child>,
    by_id: HashMap<u64, usize>,
    /// Each split's children as they went out (indexes into `children`).
    splits: Vec<Vec<usize>>,
    last_issued: Option<ClOrdId>,
    /// Orders whose kill cancel could not be sent: swept again at the
    /// retry timer, not at once.
    kill_unsent: BTreeSet<OrderId>,
    /// Fresh ExecIDs for well-formed fills.
    exec_seq: u32,
    /// Terms (side, limit, shares) of the decisions some child of which
    /// went out, and when: risk keeps them in its duplicate window.
    went_out: Vec<(Side, Price, u32, u64)>,
    /// The longest duplicate window any limit set had.
    longest_window: u64,
    /// `live_splits()` after the last input (parents that ended since are
    /// counted as reached).
    live_splits: usize,
    counters: Counters,
    reach: Reach,
}

/// Runs one script; returns what it reached.
pub fn run(data: &[u8]) -> Reach {
    let mut script = Script(data);
    let setup = script.byte();
    let qty = QTYS[usize::from(setup >> 4) & 3];
    let config = Config {
        side: if setup & 8 == 0 {
            Side::Buy
        } else {
            Side::Sell
        },
        qty,
        max_position: if setup & 0x80 == 0 {
            100_000
        } else {
            2 * i64::from(qty)
        },
    };
    let away_take_fee = AWAY_TAKE_FEES[usize::from(setup >> 6) & 1];
    let start = limits(setup);
    let longest_window = start.duplicate_window_ns;
    let p = pipeline(start, config, away_take_fee);
    let counters = Counters::new(p.stats());
    let mut run = Run {
        p,
        wire: Wire::default(),
        config,
        now: T0,
        children: Vec::new(),
        by_id: HashMap::new(),
        splits: Vec::new(),
        last_issued: None,
        kill_unsent: BTreeSet::new(),
        exec_seq: 0,
        went_out: Vec::new(),
        longest_window,
        live_splits: 0,
        counters,
        reach: Reach::default(),
    };
    run.check_counters();
    while !script.0.is_empty() {
        let before = run.before();
        if let Some(kind) = run.step(&mut script) {
            run.after(kind, &before);
        }
    }
    run.heal();
    run.reach
}

impl Run {
    fn before(&self) -> Before {
        let up = VENUES.map(|v| {
            self.p
                .router()
                .venue(v)
                .is_some_and(|state| state.session_up)
        });
        let position = match self.p.strategies.get(TRADER) {
            Some(Hosted::Signal(trader)) => trader.position(),
            _ => panic!("the trader is hosted"),
        };
        Before {
            tripped: self.p.risk.tripped().is_some(),
            duplicates: self.p.risk.reject_count(RejectReason::DuplicateOrder),
            position,
            up,
            stats: self.p.stats(),
        }
    }

    /// One operation; `None` when it checked its own steps (one input at a
    /// time).
    fn step(&mut self, s: &mut Script) -> Option<Kind> {
        let op = s.byte() % 32;
        trace!("op {op}");
        let kind = match op {
            0..=7 => self.itch(PRIMARY, s),
            8..=11 => self.itch(AWAY, s),
            12..=16 => self.report(s),
            17..=19 => self.answer(s),
            20 | 21 => {
                self.finish_iocs(s);
                return None;
            }
            22 => {
                two_venues::kill_or_close(&mut self.p, &mut self.wire, s, self.now);
                Kind::Sweeps
            }
            23 | 24 => {
                two_venues::rearm(&mut self.p, &mut self.kill_unsent);
                Kind::Quiet
            }
            25 => {
                let venue = s.pick(VENUES);
                let now = Nanos(self.now);
                let Run { p, wire, .. } = self;
                match s.byte() % 8 {
                    0 => p.venue_lost(venue, true, now, &mut |o| wire.hand(o)),
                    1 => p.venue_lost(venue, false, now, &mut |o| wire.hand(o)),
                    2 => p.set_session(venue, false),
                    _ => p.set_session(venue, true),
                }
                Kind::Quiet
            }
            26 | 27 => {
                self.now += s.pick(STEPS_NS);
                self.timer()
            }
            28 => {
                // Time passes with no tick: what waits for the timer waits.
                self.now += s.pick(STEPS_NS);
                Kind::Quiet
            }
            29 => {
                two_venues::wire_change(&mut self.wire, s);
                Kind::Quiet
            }
            30 => {
                let new = limits(s.byte());
                self.longest_window = self.longest_window.max(new.duplicate_window_ns);
                let applied = self.p.risk.apply_limits(new, Nanos(self.now));
                assert!(applied.is_ok(), "the presets validate: {applied:?}");
                self.p.strategies.on_limits_changed();
                Kind::Quiet
            }
            _ => self.report(s),
        };
        Some(kind)
    }

    fn timer(&mut self) -> Kind {
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_timer(now, &mut |o| wire.hand(o));
        Kind::Ticks
    }

    /// One ITCH message on `venue`'s book: the primary's through `on_itch`
    /// (the taker decides), the away venue's through `on_away_itch`.
    fn itch(&mut self, venue: VenueId, s: &mut Script) -> Kind {
        let header = two_venues::header(LOCATE, self.now);
        let order_ref = u64::from(1 + s.byte() % REFS);
        let repr = match s.byte() % 8 {
            0..=3 => two_venues::add_order(s, header, order_ref, symbol(), &mut book_price),
            4 | 5 => MessageRepr::OrderDelete(OrderDeleteRepr { header, order_ref }),
            6 => MessageRepr::OrderExecuted(OrderExecutedRepr {
                header,
                order_ref,
                executed_shares: s.pick(SHARES),
                match_number: self.now,
            }),
            _ => MessageRepr::OrderCancel(OrderCancelRepr {
                header,
                order_ref,
                cancelled_shares: s.pick(SHARES),
            }),
        };
        let mut bytes = [0u8; 64];
        let msg = itch_message(&repr, &mut bytes);
        trace!("  {venue:?} {repr:?}");
        if venue == AWAY {
            self.p.on_away_itch(AWAY, &msg);
            return Kind::Quiet;
        }
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_itch(&msg, now, &mut |o| wire.hand(o));
        Kind::Decides
    }

    /// One of the children the OMS issued: a recent one mostly, any one
    /// sometimes.
    fn pick_child(&self, b: u8) -> Option<Child> {
        pick_recent(&self.children, b)
    }

    /// An execution report from a venue: about a child (under its
    /// ClOrdID, its cancel's, any issued) or garbage, of any ExecType, with
    /// quantities chosen around the child's terms.
    fn report(&mut self, s: &mut Script) -> Kind {
        let exec_type = s.pick(IOC_EXEC_TYPES);
        let child = self.pick_child(s.byte());
        let names = Names::read(s, &self.p.oms, child.map(|c| c.id), TRADER);
        let (current, first) = (names.current, names.first);
        let cl = match names.naming % 8 {
            0..=2 => current.or(first),
            3 => child.and_then(|c| c.cancel).or(current),
            4 => first,
            5 => self.pick_child(names.b).map(|c| ClOrdId(c.id.0)),
            6 => Some(names.garbage),
            _ => None,
        };
        let terms = child
            .and_then(|c| self.p.oms.terms(c.id))
            .unwrap_or((0, 0, 0, Price::ZERO));
        let about = child.map(|c| About {
            venue: c.venue,
            last_exec: c.last_exec,
        });
        let rep = names.report(s, exec_type, cl, about, terms, self.now, |d| {
            let none = (Price::ZERO, 0);
            [none, none, none, (Price(TOUCH), d)]
        });
        self.deliver(&rep, child);
        Kind::Sweeps
    }

    /// A well-formed answer from a child's venue: acknowledge it, fill part
    /// or all of what it works, cancel the IOC's rest, or refuse it.
    fn answer(&mut self, s: &mut Script) -> Kind {
        let Some(child) = self.pick_child(s.byte()) else {
            return self.timer();
        };
        let Some((mut rep, current, (qty, cum, leaves, price))) =
            venue_answer(&self.p.oms, child.id, child.venue, self.now)
        else {
            return self.timer();
        };
        match s.byte() % 6 {
            0 => rep.leaves_qty = leaves,
            1 | 2 => {
                let last = if s.byte() & 1 == 0 {
                    leaves / 2 + 1
                } else {
                    leaves
                };
                fill(&mut rep, &mut self.exec_seq, last, price, (qty, cum));
            }
            3 | 4 => {
                rep.exec_type = ExecType::Canceled;
                rep.cl_ord_id = child.cancel.or(Some(current));
                rep.orig_cl_ord_id = Some(current);
                rep.cum_qty = cum;
            }
            _ => rep.exec_type = ExecType::Rejected,
        }
        self.deliver(&rep, Some(child));
        Kind::Sweeps
    }

    /// What a venue does with an IOC order once it has taken what it
    /// could: every child still working is canceled (its rest), or filled
    /// in full first, each venue's report one input, checked on its own.
    fn finish_iocs(&mut self, s: &mut Script) {
        let fill_first = s.byte();
        let working: Vec<Child> = self
            .children
            .iter()
            .filter(|c| self.working(c.id))
            .copied()
            .collect();
        for (k, child) in working.into_iter().enumerate() {
            let Some((qty, cum, _, price)) = self.p.oms.terms(child.id) else {
                continue;
            };
            let Some(current) = self.p.oms.current_cl_ord_id(child.id) else {
                continue;
            };
            let mut rep = venue_report(current, ExecType::Canceled, child.venue, self.now);
            rep.cum_qty = cum;
            if fill_first >> (k % 8) & 1 != 0 {
                rep.exec_type = ExecType::Trade;
                rep.exec_id = fresh_exec_id(&mut self.exec_seq);
                rep.last_qty = qty.saturating_sub(cum);
                rep.last_px = price;
                rep.cum_qty = qty;
            }
            // One input each, as the venues' reports arrive.
            let before = self.before();
            self.deliver(&rep, Some(child));
            self.after(Kind::Sweeps, &before);
        }
    }

    /// One report through the pipeline; a fill it applied to `child` is
    /// remembered for busts to name.
    fn deliver(&mut self, rep: &ExecReport, child: Option<Child>) {
        let cum_before = child.and_then(|c| self.p.oms.terms(c.id)).map(|t| t.1);
        let busts = self.p.oms.stats().busts + self.p.oms.stats().corrections;
        trace!("  {rep:?}");
        let now = Nanos(self.now);
        let Run { p, wire, .. } = self;
        p.on_exec_report(rep, now, &mut |o| wire.hand(o));
        let cum_after = child.and_then(|c| self.p.oms.terms(c.id)).map(|t| t.1);
        let is_fill = matches!(
            rep.exec_type,
            ExecType::PartialFill | ExecType::Fill | ExecType::Trade
        );
        if let (true, Some(c), Some(before), Some(after)) = (is_fill, child, cum_before, cum_after)
        {
            if after > before {
                self.reach.child_fills += 1;
                if let (Some(key), Some(i)) = (rep.exec_id, self.by_id.get(&c.id.0)) {
                    if let Some(known) = self.children.get_mut(*i) {
                        known.last_exec = Some((rep.venue, key));
                    }
                }
            }
        }
        if self.p.oms.stats().busts + self.p.oms.stats().corrections > busts {
            self.reach.adjustments += 1;
        }
    }

    fn after(&mut self, kind: Kind, before: &Before) {
        let handed = std::mem::take(&mut self.wire.handed);
        trace!(
            "  {kind:?} at {}: handed {handed:?}; tripped {:?}, splits {}, open {}, position {}",
            self.now,
            self.p.risk.tripped(),
            self.p.live_splits(),
            self.p.risk.open_orders(),
            self.p.risk.position(LOCATE)
        );
        self.check_handed(&handed, kind, before);
        self.learn(&handed);
        self.check_books();
        check_kill(&self.p, &self.kill_unsent, kind != Kind::Quiet);
        self.check_counters();
    }

    /// The messages one operation handed to `send`, and what the
    /// pipeline counted of them.
    fn check_handed(&mut self, handed: &[(Outbound, bool)], kind: Kind, before: &Before) {
        let (was, stats) = (&before.stats, self.p.stats());
        let delivered = |new: bool| {
            handed
                .iter()
                .filter(|(out, d)| *d && matches!(out, Outbound::New { .. }) == new)
                .count() as u64
        };
        check_counted(handed, was, &stats);
        // Every cancel is the kill switch's (the taker cancels nothing).
        assert_eq!(
            stats.kill_cancels - was.kill_cancels,
            delivered(false),
            "kill cancels counted, of {handed:?}"
        );
        let tripped = before.tripped || self.p.risk.tripped().is_some();
        for (out, _) in handed {
            let cl = match *out {
                Outbound::New { cl_ord_id, .. } => cl_ord_id,
                Outbound::Cancel {
                    order,
                    cl_ord_id,
                    venue,
                    ..
                } => {
                    assert!(tripped, "a cancel nobody asked for: {out:?}");
                    let child = self.by_id.get(&order.0).and_then(|&i| self.children.get(i));
                    assert_eq!(
                        child.map(|c| c.venue),
                        Some(venue),
                        "a cancel of no child of ours, or at another venue: {out:?}"
                    );
                    cl_ord_id
                }
                _ => panic!("only new orders and cancels go out: {out:?}"),
            };
            check_issued(out, cl, TRADER, self.p.oms.epoch(), &mut self.last_issued);
        }
        self.check_decision(handed, kind, before);
        self.check_duplicates(kind, before);
    }

    /// The new orders one operation handed out: one decision of the
    /// taker's, split or whole.
    fn check_decision(&mut self, handed: &[(Outbound, bool)], kind: Kind, before: &Before) {
        let (was, stats) = (&before.stats, self.p.stats());
        let news: Vec<(VenueId, Side, Price, u32, bool)> = handed
            .iter()
            .filter_map(|&(out, delivered)| match out {
                Outbound::New {
                    order,
                    cl_ord_id,
                    venue,
                    locate,
                    side,
                    price,
                    qty,
                    tif,
                    ..
                } => {
                    assert_eq!(order, OrderId(cl_ord_id.0), "a child is named by its id");
                    assert_eq!((locate, tif), (LOCATE, TimeInForce::ImmediateOrCancel));
                    Some((venue, side, price, qty, delivered))
                }
                _ => None,
            })
            .collect();
        let splits = stats.splits - was.splits;
        let children = stats.split_children - was.split_children;
        let Some(&(_, side, ..)) = news.first() else {
            assert_eq!((splits, children), (0, 0), "a split with no child sent");
            return;
        };
        assert!(
            matches!(kind, Kind::Decides | Kind::Ticks),
            "new orders outside a decision: {news:?}"
        );
        assert!(
            !before.tripped,
            "new orders while the kill switch was engaged: {news:?}"
        );
        let parent = self
            .parents(kind, before.position)
            .into_iter()
            .flatten()
            .filter(|&(s, _)| s == side)
            .map(|(_, qty)| u64::from(qty))
            .collect::<Vec<u64>>();
        // The taker's limit: the primary's touch it decided on (its book
        // is as the input left it).
        let Some(limit) = self.touch(side) else {
            panic!("orders {news:?} with no touch to take");
        };
        let mut venues = BTreeSet::new();
        let mut total = 0u64;
        for &(venue, child_side, price, qty, _) in &news {
            assert_eq!(child_side, side, "children of one decision: {news:?}");
            let slot = VENUES.iter().position(|&v| v == venue);
            assert!(
                slot.is_some_and(|slot| before.up[slot]),
                "a child to {venue:?}, whose session was down: {news:?}"
            );
            assert!(venues.insert(venue), "two children at {venue:?}: {news:?}");
            assert!(
                inside(side, price, limit) && price.0 > 0,
                "a child beyond the limit {limit:?}: {news:?}"
            );
            assert!(qty > 0, "an empty child: {news:?}");
            total += u64::from(qty);
        }
        // Every share of the parent goes with some child (what no displayed
        // liquidity covers, with the cheapest venue's).
        assert!(
            parent.contains(&total),
            "children {news:?} of a parent of {parent:?} shares (position {})",
            before.position
        );
        if news.len() > 1 {
            assert_eq!(
                (splits, children),
                (1, news.len() as u64),
                "a split of {news:?} counted"
            );
        } else {
            assert_eq!((splits, children), (0, 0), "one order counted as a split");
        }
        if news.iter().any(|n| n.4) {
            let qty = u32::try_from(total).unwrap_or(u32::MAX);
            self.went_out.push((side, limit, qty, self.now));
        }
    }

    /// An order risk refused as a duplicate repeats one that went out
    /// within the window: an order that reached no venue is no order (a
    /// whole one that could not be sent leaves the window; so must a split
    /// none of whose children could be).
    fn check_duplicates(&self, kind: Kind, before: &Before) {
        let refused = self.p.risk.reject_count(RejectReason::DuplicateOrder) - before.duplicates;
        if refused == 0 {
            return;
        }
        let recent = |&&(_, _, _, at): &&(Side, Price, u32, u64)| {
            self.now.saturating_sub(at) <= self.longest_window
        };
        let explained = self
            .parents(kind, before.position)
            .into_iter()
            .flatten()
            .any(|(side, qty)| {
                let Some(limit) = self.touch(side) else {
                    return false;
                };
                // The whole's terms, or (a split's child refused) an
                // earlier order's that one child shares.
                self.went_out
                    .iter()
                    .filter(recent)
                    .any(|&(s, price, q, _)| {
                        s == side
                            && ((price, q) == (limit, qty)
                                || (q < qty && inside(side, price, limit)))
                    })
            });
        assert!(
            explained,
            "{refused} orders refused as duplicates of none that went out (of {:?})",
            self.went_out.iter().filter(recent).collect::<Vec<_>>()
        );
    }

    /// The primary's touch the taker takes on `side`.
    fn touch(&self, side: Side) -> Option<Price> {
        let bbo = self.p.book.bbo(LOCATE);
        let level = match side {
            Side::Buy => bbo.ask,
            Side::Sell => bbo.bid,
        };
        level.map(|l| l.price)
    }

    /// What the taker may have asked for (side, shares) with `position`
    /// held: on a book update, its quantity in its direction while the
    /// position limit has room; a flatten of the whole position on a book
    /// update without that room (or without a prediction) and on a tick.
    fn parents(&self, kind: Kind, position: i64) -> [Option<(Side, u32)>; 2] {
        let qty = i64::from(self.config.qty);
        let max = self.config.max_position;
        let room = match self.config.side {
            Side::Buy => position.saturating_add(qty) <= max,
            Side::Sell => position.saturating_sub(qty) >= -max,
        };
        let entry = (kind == Kind::Decides && room).then_some((self.config.side, self.config.qty));
        let decides = matches!(kind, Kind::Decides | Kind::Ticks);
        let flatten = (decides && position != 0).then(|| {
            let side = if position > 0 { Side::Sell } else { Side::Buy };
            (
                side,
                u32::try_from(position.unsigned_abs()).unwrap_or(u32::MAX),
            )
        });
        [entry, flatten]
    }

    /// Takes note of the children and cancels that went out.
    fn learn(&mut self, handed: &[(Outbound, bool)]) {
        let tripped = self.p.risk.tripped().is_some();
        let mut split = Vec::new();
        for &(out, delivered) in handed {
            match out {
                Outbound::New { order, venue, .. } => {
                    self.by_id.insert(order.0, self.children.len());
                    split.push(self.children.len());
                    self.children.push(Child {
                        id: order,
                        venue,
                        cancel: None,
                        last_exec: None,
                    });
                    if !delivered {
                        self.reach.unsent_children += 1;
                    }
                }
                Outbound::Cancel {
                    order, cl_ord_id, ..
                } => {
                    let known = self.by_id.get(&order.0).copied();
                    if let Some(child) = known.and_then(|i| self.children.get_mut(i)) {
                        if delivered {
                            child.cancel = Some(cl_ord_id);
                        }
                    }
                    if note_kill_cancel(&mut self.kill_unsent, order, delivered, tripped) {
                        self.reach.kill_cancels += 1;
                    }
                }
                _ => {}
            }
        }
        match split.len() {
            0 => {}
            1 => self.reach.whole_orders += 1,
            _ => {
                self.splits.push(split);
                self.reach.splits += 1;
            }
        }
    }

    /// Whether the OMS still works `id` (entered, not finished).
    fn working(&self, id: OrderId) -> bool {
        self.p.oms.state(id).is_some_and(|s| !s.is_terminal())
    }

    /// OMS, risk, the split table and the taker agree.
    fn check_books(&mut self) {
        let p = &self.p;
        let oms_open = check_open_orders(p);
        assert_eq!(p.open_orders(), oms_open as usize);
        let (mut buy, mut sell, mut open, mut the_traders) = (0u64, 0u64, 0u32, 0usize);
        for o in p.oms.open_orders() {
            assert_eq!(o.locate, LOCATE, "{o:?}");
            match o.side {
                Side::Buy => buy += u64::from(o.leaves),
                Side::Sell => sell += u64::from(o.leaves),
            }
            open += 1;
            the_traders += usize::from(o.strategy == TRADER);
        }
        assert_eq!(open, oms_open, "an unfinished order with nothing left");
        let Some(position) = p.oms.position(LOCATE) else {
            panic!("no position record at {LOCATE}");
        };
        assert_eq!(
            (position.open_buy, position.open_sell),
            (buy, sell),
            "the OMS's open quantity is what its open orders leave"
        );
        assert_eq!(
            p.risk.open_qty(LOCATE),
            (buy, sell),
            "risk's open quantity is the OMS's"
        );
        assert_eq!(p.risk.position(LOCATE), position.qty, "risk's position");
        assert_eq!(p.risk.net_position(), position.qty, "risk's net position");
        let Some(Hosted::Signal(trader)) = p.strategies.get(TRADER) else {
            panic!("the trader is hosted");
        };
        assert_eq!(
            trader.position(),
            position.qty,
            "the taker's position is the OMS's"
        );
        assert_eq!(
            trader.open_orders(),
            usize::from(the_traders > 0),
            "the taker has an order open exactly when a child of it works ({the_traders} do)"
        );
        let live = p.live_splits();
        assert!(live <= MAX_SPLITS);
        let working = self
            .splits
            .iter()
            .filter(|kids| {
                kids.iter()
                    .filter_map(|&i| self.children.get(i))
                    .any(|c| self.working(c.id))
            })
            .count();
        assert_eq!(
            live, working,
            "live splits: the pipeline's and those with a child still working"
        );
        if live < self.live_splits {
            self.reach.parents_ended += (self.live_splits - live) as u64;
        }
        self.live_splits = live;
    }

    /// Counters only grow.
    fn check_counters(&mut self) {
        self.counters.check(&self.p);
        self.reach.limit_refusals = self.p.risk.reject_count(RejectReason::MaxOrderQty)
            + self.p.risk.reject_count(RejectReason::MaxNotional)
            + self.p.risk.reject_count(RejectReason::OrderRateThrottle)
            + self.p.risk.reject_count(RejectReason::MaxOpenOrders);
        self.reach.canceled_on_disconnect = self.p.oms.stats().canceled_on_disconnect;
    }

    /// Every message goes out from now on, and every child still working is
    /// canceled by its venue: the split table, the taker and risk must all
    /// end with nothing open.
    fn heal(&mut self) {
        self.wire.deliver_all();
        for _ in 0..HEAL_ROUNDS {
            let open: Vec<Child> = self
                .children
                .iter()
                .filter(|c| self.working(c.id))
                .copied()
                .collect();
            if open.is_empty() {
                break;
            }
            for child in open {
                let before = self.before();
                let cancel = venue_cancel(
                    &self.p.oms,
                    TRADER,
                    child.id,
                    child.cancel,
                    child.venue,
                    self.now,
                );
                let Some(rep) = cancel else {
                    continue;
                };
                self.deliver(&rep, Some(child));
                self.after(Kind::Sweeps, &before);
                assert!(
                    !self.working(child.id),
                    "{child:?} still works after its venue canceled it"
                );
                self.reach.healed_children += 1;
            }
        }
        let p = &self.p;
        assert_eq!(p.live_splits(), 0, "a split outlived its children");
        let Some(Hosted::Signal(trader)) = p.strategies.get(TRADER) else {
            panic!("the trader is hosted");
        };
        assert_eq!(
            trader.open_orders(),
            0,
            "the taker still waits for an order"
        );
        assert_eq!(p.risk.open_orders(), 0, "risk still counts an open order");
        assert_eq!(p.risk.open_qty(LOCATE), (0, 0), "risk's open quantity");
        let position = p.oms.position(LOCATE).map_or(0, |pos| pos.qty);
        assert_eq!(
            (p.risk.position(LOCATE), trader.position()),
            (position, position)
        );
    }
}

/// Whether `price` is at or inside `limit` for an order on `side`.
fn inside(side: Side, price: Price, limit: Price) -> bool {
    match side {
        Side::Buy => price <= limit,
        Side::Sell => price >= limit,
    }
}
