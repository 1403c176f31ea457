//! One trading step per input, the same on the appliance and in host replay.
//!
//! An ITCH message goes into the L3 book; every book event goes to the
//! strategies that trade that instrument; every intent they produce goes
//! through pre-trade risk and the OMS, and what passes is handed to the
//! caller as an [`Outbound`] order message (which the caller encodes as FIX
//! for its venue). Execution reports come back through the OMS, which tells
//! risk and the owning strategy. Nothing allocates after construction and
//! nothing reads a clock: time is an input, so a replay of the same inputs
//! makes the same decisions.
//!
//! # Venues
//!
//! The **primary** venue's feed drives the book the strategies see. Each
//! new order goes to the venue the smart order router picks
//! ([`gateway::router`]): the cheapest all-in price for displayed liquidity
//! it can take, else the best venue to rest on (fees, rebates, latency
//! estimate, reject rate), never a venue whose session is down. Other
//! venues' feeds keep **away books** ([`Pipeline::add_away_book`]) that only
//! the router reads. Each venue's feed numbers its own stocks (ITCH locates
//! are per venue and per day), so the router sees an away book under the
//! locate that venue's directory gives the same symbol
//! ([`Pipeline::away_locate`]); where that venue's directory does not name
//! the stock, or a directory names it twice, it sees no depth there, never
//! another stock's.
//!
//! # Splits
//!
//! A new order the router gives to one venue goes there whole, at the
//! strategy's price. One it splits (displayed liquidity at one venue cannot
//! cover it) goes out as one **child** order per venue, each at the price
//! the router gave it (never beyond the strategy's limit); an IOC order's
//! shares no displayed liquidity covers go with the cheapest venue's child
//! at the limit price. Risk checks the order whole first
//! ([`Oms::check_whole`]): children each within a per-order limit cannot
//! carry it past one. Then each child is checked and entered on its own,
//! and if any is refused none goes (the strategy hears the refusal). The
//! strategy sees one order, the **parent**, named by its first child's id:
//! [`split`] turns what the OMS says of each child into what the strategy
//! hears of the parent, a cancel of the parent goes to every child still
//! working, and a replace of it is refused
//! ([`types::RejectReason::NotReplaceable`]). While [`split::MAX_SPLITS`]
//! parents are live, a further order that would split goes whole to the
//! first child's venue (counted).
//!
//! # Sending
//!
//! Every step takes a `send` closure that gets each [`Outbound`] message.
//! It answers whether the message went out ([`Delivery`]): a closure
//! returning `()` always delivers (a replay, a test); the appliance returns
//! `false` when the venue's session is down or held the message back
//! (no outgoing sequence number its journal has confirmed). An undelivered
//! message is undone in the OMS and risk ([`Oms::unsent`]) and its strategy
//! hears a refusal with `RejectReason::NotSent`, so nothing is counted as
//! live that no venue has.
#![no_std]
#![deny(unsafe_code)]

pub mod config;
pub mod split;

use book::Book;
use gateway::fixmap::MassCancelAnswer;
use gateway::oms::{ClOrdId, ExecReport, Oms, Outbound};
use gateway::router::{Children, RouteRequest, Router, RouterConfig, VenueConfig, MAX_VENUES};
use protocol::itch::Message;
use risk::{RiskEngine, TripCause};
use split::{Routed, Splits};
use strategy::engine::Engine;
use strategy::sink::Intents;
use types::{
    Bbo, BookEvent, DepthView, Level, Nanos, OrderEvent, OrderIntent, Side, StockLocate, Symbol,
    VenueId,
};

/// Intents one input may produce before the excess is counted and dropped.
pub const INTENTS: usize = 64;
/// Book events one ITCH message can produce (the book emits at most 4).
const EVENTS: usize = 8;
/// The first wait before unsent kill cancels are tried again, and the
/// longest (it doubles while they still cannot be sent).
const KILL_RETRY_MIN_NS: u64 = 10_000_000;
const KILL_RETRY_MAX_NS: u64 = 1_000_000_000;
/// How long the kill switch waits for a venue's answer to its mass cancel
/// before it cancels that venue's orders one by one after all.
pub const MASS_CANCEL_WAIT_NS: u64 = 500_000_000;
/// Rounds of "intent rejected → strategy reacts with new intents" per input.
const MAX_ROUNDS: usize = 4;
/// Instruments whose state a new feed session can carry over to their new
/// locates (see [`Pipeline::reset_feed`]).
pub const CARRY: usize = 256;

/// Whether a message handed to the caller's `send` went out.
pub trait Delivery {
    fn delivered(self) -> bool;
}

/// A sink that cannot fail (replay, tests).
impl Delivery for () {
    fn delivered(self) -> bool {
        true
    }
}

impl Delivery for bool {
    fn delivered(self) -> bool {
        self
    }
}

/// The kill switch's mass cancel at one venue, during one trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MassCancel {
    /// Not asked (yet) during this trip.
    Idle,
    /// Asked under `cl_ord_id`: the venue's orders get no cancel of their
    /// own until it answers, or until `until`.
    Asked { cl_ord_id: ClOrdId, until: Nanos },
    /// Answered, refused or timed out: whatever of ours is still open
    /// there is canceled order by order.
    Done,
}

/// What the pipeline did, for the companion and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub messages: u64,
    pub book_anomalies: u64,
    pub book_events: u64,
    pub intents: u64,
    /// Messages that passed risk and the OMS and went out.
    pub orders_sent: u64,
    /// Messages that passed risk and the OMS but the caller could not send
    /// (see [`Oms::unsent`]).
    pub unsent: u64,
    /// New orders and replaces refused because trading was paused when a
    /// strategy answered an execution report (see [`Pipeline::set_trading`]).
    pub paused: u64,
    pub risk_rejects: u64,
    pub reports: u64,
    /// Intents left over after `MAX_ROUNDS` rounds in one step.
    pub intents_dropped: u64,
    /// New-order intents no venue could take (every session down).
    pub unroutable: u64,
    /// Messages applied to away books (other venues' feeds).
    pub away_messages: u64,
    /// Directory entries, of the primary feed or an away one, naming a
    /// symbol another locate of the same directory names too (a bad feed):
    /// the router sees no away depth for that symbol until no locate
    /// names it or the feed starts a new session ([`Book::locate_of`]).
    pub duplicate_symbols: u64,
    /// New orders sent, per venue slot (the router's order of venues);
    /// each child of a split counts at its venue.
    pub orders_by_venue: [u64; MAX_VENUES],
    /// New orders the router split across venues and that went out as
    /// child orders, and how many children they had.
    pub splits: u64,
    pub split_children: u64,
    /// New orders the router would have split, sent whole to the first
    /// child's venue because [`split::MAX_SPLITS`] parents were live.
    pub splits_unplaced: u64,
    /// Replaces of a split order, refused (`NotReplaceable`).
    pub split_replaces_refused: u64,
    /// Cancels the kill switch sent (engaged by the operator or tripped by
    /// risk), first sweeps and resends after a refusal.
    pub kill_cancels: u64,
    /// Order mass cancels the kill switch sent (one per trip to each venue
    /// that takes them, see [`VenueConfig::mass_cancel`]), and how they
    /// ended: accepted (with the orders the venue said it canceled),
    /// refused (a report saying so, or the message type rejected), or no
    /// answer within [`MASS_CANCEL_WAIT_NS`]; and answers to none we wait for.
    pub mass_cancels: u64,
    pub mass_cancels_accepted: u64,
    pub mass_canceled_orders: u64,
    pub mass_cancels_refused: u64,
    pub mass_cancel_timeouts: u64,
    pub mass_cancel_stray_answers: u64,
    /// A risk configuration re-applied when a restricted symbol's directory
    /// entry arrived, and refused (its previous limits stayed).
    pub config_refusals: u64,
    /// Books cleared because their feed started a new session.
    pub feed_resets: u64,
    /// Instruments whose state (position, orders, strategy legs) moved to
    /// their locate in a new feed session's directory.
    pub relocated: u64,
    /// Locates holding state at a feed session change that found no room
    /// in the carry table: their state stays where it is and is refused
    /// new orders for the rest of the run.
    pub carry_overflow: u64,
    /// Old state moved out of a locate the new directory gave another
    /// instrument found no free locate to go to: the new instrument is
    /// refused new orders there.
    pub carry_stuck: u64,
    /// New orders and replaces refused because their strategy's locates
    /// are not all known in the current feed session.
    pub stale_refusals: u64,
    /// A strategy's cancels of an order whose cancel was already in flight
    /// (sent by the kill switch, the close of the trading window, or the
    /// strategy itself): not sent again and not a refusal; the strategy
    /// hears of the order when the venue answers the cancel in flight.
    pub cancels_in_flight: u64,
}

/// Where the last input's time went, read from the caller's clock (see
/// [`Pipeline::set_clock`]); 0 when no clock is set. Stamps never influence
/// a decision, so replay stays deterministic with or without them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageStamps {
    /// The book had applied the message.
    pub book: u64,
    /// The strategies had decided.
    pub strategy: u64,
    /// The first order of this input had passed risk and the OMS (0 when
    /// none did).
    pub risk: u64,
}

fn no_clock() -> u64 {
    0
}

/// Book, strategies, risk, OMS and the router.
pub struct Pipeline<const S: usize, const R: usize> {
    pub book: Book,
    pub strategies: Engine<S, R>,
    pub risk: RiskEngine,
    pub oms: Oms,
    /// The venue whose feed `book` follows.
    venue: VenueId,
    router: Router,
    /// Other venues' books, for the router only.
    away: heapless::Vec<(VenueId, Book), { MAX_VENUES - 1 }>,
    intents: Intents<INTENTS>,
    /// Refusals of intents dropped at the end of a step (see `process`).
    deferred: heapless::Vec<OrderEvent, INTENTS>,
    events: heapless::Vec<BookEvent, EVENTS>,
    /// Live parents of orders the router split (see the module docs).
    splits: Splits,
    stats: PipelineStats,
    /// Strategies see the market only while orders can reach the venue.
    trading: bool,
    /// Unsent kill cancels are tried again from this time on (see
    /// [`Pipeline::on_timer`]), after `kill_backoff_ns`.
    kill_retry_at: Nanos,
    kill_backoff_ns: u64,
    /// Each venue's mass cancel (by router slot) during the trip counted
    /// `mass_cancel_trip` (risk's trip count; a new trip starts afresh).
    mass_cancel: [MassCancel; MAX_VENUES],
    mass_cancel_trip: u64,
    clock: fn() -> u64,
    stamps: StageStamps,
    /// The risk configuration in force (and the symbol count it was
    /// applied with), kept to be applied again when a restricted symbol's
    /// directory entry arrives after it ([`Pipeline::on_itch`]) or a new
    /// feed session starts a new directory ([`Pipeline::reset_feed`]).
    risk_config: Option<(protocol::mailbox::config::RiskConfig, usize)>,
    /// The feed's clock (ITCH nanoseconds since midnight) at the last
    /// message, and the caller's clock then: strategies get their timer
    /// ticks on the feed's clock, the one their book events carry (see
    /// [`Pipeline::on_timer`]).
    feed_clock: Option<(u64, Nanos)>,
    /// Some restricted symbol of `risk_config` is not in the directory yet:
    /// directory entries are checked against them, so a symbol restricted
    /// before the day's directory is restricted from its first message on.
    restricted_waiting: bool,
    /// State of an earlier feed session waiting for its instrument's entry
    /// in the current directory: the symbol (`None`: held under a locate
    /// nobody could name) and the locate it is held under now, in risk, the
    /// OMS and the stale legs of the strategies alike (see
    /// [`Pipeline::reset_feed`]).
    carry: heapless::Vec<(Option<Symbol>, StockLocate), CARRY>,
    /// `carry` holds something or a strategy has a stale leg: directory
    /// entries are looked at (one compare per message otherwise).
    rebinding: bool,
    /// Some strategy has a stale leg: its new orders and replaces are
    /// refused (one compare per intent otherwise).
    stale_strategies: bool,
}

impl<const S: usize, const R: usize> Pipeline<S, R> {
    /// One venue, `venue`, whose session counts as up and which charges no
    /// fees: every order goes there.
    pub fn new(
        book: Book,
        strategies: Engine<S, R>,
        risk: RiskEngine,
        oms: Oms,
        venue: VenueId,
    ) -> Self {
        let mut router = Router::new(RouterConfig::default());
        let _ = router.add_venue(VenueConfig {
            id: venue,
            take_fee: 0,
            make_fee: 0,
            mass_cancel: false,
        });
        router.set_session(venue, true);
        Self::with_router(book, strategies, risk, oms, venue, router)
    }

    /// Several venues: `router` knows each (sessions as it says; tell it
    /// with [`Pipeline::set_session`]), `venue` is the primary one whose feed
    /// `book` follows.
    pub fn with_router(
        book: Book,
        strategies: Engine<S, R>,
        risk: RiskEngine,
        oms: Oms,
        venue: VenueId,
        router: Router,
    ) -> Self {
        Pipeline {
            book,
            strategies,
            risk,
            oms,
            venue,
            router,
            away: heapless::Vec::new(),
            intents: Intents::new(),
            deferred: heapless::Vec::new(),
            events: heapless::Vec::new(),
            splits: Splits::new(),
            stats: PipelineStats::default(),
            trading: true,
            kill_retry_at: Nanos(0),
            kill_backoff_ns: 0,
            mass_cancel: [MassCancel::Idle; MAX_VENUES],
            mass_cancel_trip: 0,
            clock: no_clock,
            stamps: StageStamps::default(),
            risk_config: None,
            feed_clock: None,
            restricted_waiting: false,
            carry: heapless::Vec::new(),
            rebinding: false,
            stale_strategies: false,
        }
    }

    /// A clock for stage stamps (the appliance passes its TSC read).
    pub fn set_clock(&mut self, clock: fn() -> u64) {
        self.clock = clock;
    }

    /// Stage stamps of the last input.
    pub fn stamps(&self) -> StageStamps {
        self.stamps
    }

    /// Whether orders can reach the venue (its session is logged on, the
    /// book is whole, the journal has room). While not, the book keeps up
    /// with the feed but no strategy is asked to decide — only a change of
    /// a stock's trading state still reaches them (the book reports it
    /// once) — and a new order or a replace a strategy makes in answer to
    /// an event is refused (`RejectReason::NotSent`); cancels still go.
    pub fn set_trading(&mut self, trading: bool) {
        self.trading = trading;
    }

    pub fn is_trading(&self) -> bool {
        self.trading
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// Orders the router split across venues that have not ended yet.
    pub fn live_splits(&self) -> usize {
        self.splits.len()
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Another venue's book, kept by [`Pipeline::on_away_itch`]; `false`
    /// when there is no room or the venue has one already.
    pub fn add_away_book(&mut self, venue: VenueId, book: Book) -> bool {
        if venue == self.venue || self.away.iter().any(|(v, _)| *v == venue) {
            return false;
        }
        self.away.push((venue, book)).is_ok()
    }

    pub fn away_book(&self, venue: VenueId) -> Option<&Book> {
        self.away.iter().find(|(v, _)| *v == venue).map(|(_, b)| b)
    }

    /// Where the router looks in `venue`'s away book for the stock the
    /// primary feed numbers `locate`: the locate `venue`'s feed gives the
    /// same symbol, found in the two directories as they stand (each
    /// book's own index, [`Book::locate_of`], kept with its directory and
    /// cleared with it when its feed starts a new session: no translation
    /// outlives either directory). `None` — the router sees no depth there
    /// — when `venue` has no away book, its directory does not name the
    /// stock, or either directory names it at two locates (which one is
    /// the stock is unknown). Only where neither feed has sent a directory
    /// at all (a replay or test without one) are the venues taken to share
    /// the number, as before directories were looked at; once either has
    /// one, a locate the primary's does not name gets no away depth.
    pub fn away_locate(&self, venue: VenueId, locate: StockLocate) -> Option<StockLocate> {
        self.away_book(venue)
            .and_then(|away| self.translate(away, locate))
    }

    /// [`Pipeline::away_locate`] in `away`. Cost per new order and away
    /// venue: the primary's status line (in the cache after the first
    /// venue) and two probes of symbol indexes, one line each, where
    /// comparing the two books' entries at the same locate read two status
    /// lines.
    fn translate(&self, away: &Book, locate: StockLocate) -> Option<StockLocate> {
        match self.book.status(locate).directory {
            Some(ours) => {
                if self.book.locate_of(&ours.symbol) != Some(locate) {
                    return None;
                }
                away.locate_of(&ours.symbol)
            }
            None => {
                let no_directories = self.book.named_symbols() == 0 && away.named_symbols() == 0;
                no_directories.then_some(locate)
            }
        }
    }

    /// Whether orders can reach `venue` (its session is logged on): the
    /// router sends nothing to a venue that is down.
    pub fn set_session(&mut self, venue: VenueId, up: bool) {
        self.router.set_session(venue, up);
    }

    /// `venue`'s session dropped. The router stops sending there; when the
    /// venue cancels on disconnect, its open orders are finished as
    /// cancelled ([`Oms::venue_lost`]) and the strategies, told so, may
    /// trade on the other venues at once.
    pub fn venue_lost<D: Delivery>(
        &mut self,
        venue: VenueId,
        venue_cancels: bool,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        self.router.set_session(venue, false);
        if !venue_cancels {
            return;
        }
        // Answers deferred from the last step first, as every input does:
        // a strategy's tracker pairs outcomes with its requests in order,
        // and a deferred refusal behind this step's events would be paired
        // with the wrong request.
        if self.trading {
            self.deliver_deferred();
        }
        let Pipeline {
            oms,
            risk,
            strategies,
            book,
            intents,
            splits,
            ..
        } = self;
        oms.venue_lost(venue, risk, |event| {
            tell_owner(splits, strategies, book, intents, event)
        });
        if self.trading {
            self.process(now, send);
        } else {
            // No decisions while no venue is up: what the strategies asked
            // for is answered as refused at the next step.
            self.drop_intents();
        }
    }

    /// One message of another venue's feed: its away book only, no decision.
    pub fn on_away_itch(&mut self, venue: VenueId, msg: &Message<'_>) {
        self.stats.away_messages += 1;
        let Some((_, book)) = self.away.iter_mut().find(|(v, _)| *v == venue) else {
            return;
        };
        self.events.clear();
        if book.apply_itch(msg, &mut self.events).is_err() {
            self.stats.book_anomalies += 1;
        }
        if let Message::StockDirectory(d) = msg {
            if names_a_duplicate(book, d.stock_locate()) {
                self.stats.duplicate_symbols += 1;
            }
        }
    }

    /// Warms the book for messages about to come through
    /// [`Pipeline::on_itch`] one at a time (see
    /// [`book::Book::prefetch_group`]): the appliance names the fresh
    /// messages of a receive batch (ITCH bytes, no length prefix) before it
    /// applies the first, so their cache misses overlap instead of each
    /// stalling its own step. Changes nothing; returns the number of
    /// messages warmed (none for a lone message).
    pub fn prefetch_itch<'m>(&self, messages: impl IntoIterator<Item = &'m [u8]>) -> usize {
        self.book.prefetch_group(messages)
    }

    /// One market-data message.
    pub fn on_itch<D: Delivery>(
        &mut self,
        msg: &Message<'_>,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        self.stats.messages += 1;
        self.events.clear();
        self.stamps = StageStamps::default();
        if self.trading {
            // Answers deferred from the last step first, as every input
            // does, and on the book the strategies have seen: given the
            // book this message changes, before its events reach them, a
            // strategy would decide on a market whose events it has not
            // seen (a quote priced off a top of book it has not yet taken
            // for a fast market, or into a stock it does not yet know is
            // halted).
            self.deliver_deferred();
        }
        if self.book.apply_itch(msg, &mut self.events).is_err() {
            self.stats.book_anomalies += 1;
        }
        if let Some(ts) = msg.timestamp() {
            self.feed_clock = Some((ts, now));
        }
        if let Message::StockDirectory(d) = msg {
            let locate = d.stock_locate();
            if names_a_duplicate(&self.book, locate) {
                self.stats.duplicate_symbols += 1;
            }
            if self.rebinding {
                self.rebind(locate);
            }
            if self.restricted_waiting {
                self.on_directory(locate, now);
            }
        }
        self.stamps.book = (self.clock)();
        self.stats.book_events += self.events.len() as u64;
        self.mark_positions();
        if !self.trading {
            // No decisions, but a trading state change still reaches the
            // strategies: one they missed (a halt) would have them quote
            // into a halted stock once orders can go again. What they make
            // of it goes as a pause allows (cancels). And a trip from the
            // marking still cancels.
            self.tell_states(now, send);
            self.after_input(now, send);
            return;
        }
        for event in self.events.iter() {
            self.strategies
                .on_book(event, &self.book, &mut self.intents);
        }
        self.stamps.strategy = (self.clock)();
        self.process(now, send);
        self.after_input(now, send);
    }

    /// The trading state changes among this message's book events, to the
    /// strategies, while no decision is asked of them (trading paused).
    #[cold]
    fn tell_states<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        if !self
            .events
            .iter()
            .any(|e| matches!(e, BookEvent::State { .. }))
        {
            return;
        }
        // Answers deferred from the last step first, as every input that
        // asks strategies anything does (trackers pair them in order).
        self.deliver_deferred();
        for i in 0..self.events.len() {
            let event = self.events[i];
            if let BookEvent::State { .. } = event {
                self.strategies
                    .on_book(&event, &self.book, &mut self.intents);
            }
        }
        self.process(now, send);
    }

    /// Marks what we hold at the new mid whenever the top of the book moves,
    /// so the daily loss limit sees unrealized losses as the market makes
    /// them, not only at our next fill. One compare per book event when we
    /// hold nothing in that symbol.
    fn mark_positions(&mut self) {
        for event in self.events.iter() {
            let BookEvent::Bbo { locate, bbo, .. } = *event else {
                continue;
            };
            // (Never state whose instrument has no locate in this feed
            // session: this book may be another instrument's.)
            let held = self.oms.position(locate).is_some_and(|p| p.qty != 0)
                && !self.risk.is_unmapped(locate);
            if let (true, Some(mid)) = (held, bbo.mid()) {
                self.oms.mark(locate, mid, &mut self.risk);
            }
        }
    }

    /// One execution report from the venue.
    pub fn on_exec_report<D: Delivery>(
        &mut self,
        report: &ExecReport,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        self.stats.reports += 1;
        self.deliver_deferred();
        if let Some(event) = self.oms.on_exec_report(report, now, &mut self.risk) {
            self.learn(&event, now);
            self.tell(&event);
        } else if let Some(fill) = self.oms.earlier_fill(report) {
            self.recover_fill(&fill);
        } else if let Some(adjustment) = self.oms.earlier_adjustment(report) {
            self.recover_adjustment(&adjustment);
        }
        self.process(now, send);
        self.after_input(now, send);
    }

    /// A fill of an earlier boot's order that the journal did not have (the
    /// venue resent its report after a crash; see [`Oms::earlier_fill`]):
    /// applied to the instrument the report names, wherever its state is
    /// held now — carried from an earlier session, at its locate in the
    /// current directory, or, when the directory has not named it yet,
    /// carried under a free locate until it does (as journaled state is at
    /// the start of a run).
    #[cold]
    fn recover_fill(&mut self, fill: &gateway::oms::JournaledFill) {
        let Some(locate) = self.locate_for_earlier(fill.symbol) else {
            self.oms.unplaced_earlier_fill();
            return;
        };
        self.oms.recover_fill(fill, locate, &mut self.risk);
        // The order's ClOrdID names the strategy it was for.
        self.strategies.restore_fill(
            Some(fill.cl_ord_id.strategy()),
            &fill.symbol,
            fill.side,
            fill.qty,
        );
    }

    /// A bust or correction of an earlier boot's fill (see
    /// [`Oms::earlier_adjustment`]): the fill comes out of the stock's
    /// position and the corrected one goes in, wherever the stock's state
    /// is held, and the strategy the order's ClOrdID names hears the same.
    #[cold]
    fn recover_adjustment(&mut self, adjustment: &gateway::oms::EarlierAdjustment) {
        let Some(locate) = self.locate_for_earlier(adjustment.symbol) else {
            self.oms.unplaced_earlier_fill();
            return;
        };
        self.oms
            .recover_adjustment(adjustment, locate, &mut self.risk);
        let symbol = adjustment.symbol;
        let strategy = Some(adjustment.cl_ord_id.strategy());
        if adjustment.was_qty > 0 {
            self.strategies.restore_fill(
                strategy,
                &symbol,
                adjustment.side.opposite(),
                adjustment.was_qty,
            );
        }
        if adjustment.qty > 0 {
            self.strategies
                .restore_fill(strategy, &symbol, adjustment.side, adjustment.qty);
        }
    }

    /// Where an earlier boot's execution of `symbol` is held: carried from
    /// an earlier session, at its locate in the current directory, or, when
    /// the directory has not named it yet, carried under a free locate
    /// until it does (as journaled state is at the start of a run). `None`
    /// when there is no room to carry it.
    fn locate_for_earlier(&mut self, symbol: Symbol) -> Option<StockLocate> {
        let carried = self
            .carry
            .iter()
            .find(|(s, _)| *s == Some(symbol))
            .map(|(_, l)| *l);
        if let Some(locate) = carried.or_else(|| self.book.locate_of(&symbol)) {
            return Some(locate);
        }
        let free = self.free_locate()?;
        if self.carry.push((Some(symbol), free)).is_err() {
            self.stats.carry_overflow += 1;
            return None;
        }
        self.risk.set_unmapped(free, true);
        self.rebinding = true;
        Some(free)
    }

    /// What the router learns from a venue's answer: the round trip of an
    /// acknowledgement, and the reject rate.
    fn learn(&mut self, event: &OrderEvent, now: Nanos) {
        let (order, rejected) = match *event {
            OrderEvent::Accepted { order, .. } => (order, false),
            OrderEvent::Rejected {
                order: Some(order), ..
            } => (order, true),
            _ => return,
        };
        if let Some((venue, entered)) = self.oms.venue_of(order) {
            self.router.on_order_result(venue, rejected);
            if !rejected {
                self.router
                    .on_latency_sample(venue, now.0.saturating_sub(entered.0), now);
            }
        }
    }

    /// A clock tick (strategies' timers). It also sends again the kill
    /// switch's cancels that could not go out before (a session down or
    /// holding messages back), paused or not.
    pub fn on_timer<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        self.router.on_timer(now);
        if self.risk.tripped().is_none() {
            // Re-armed: the next trip's retries start from the shortest wait.
            self.kill_backoff_ns = 0;
            self.kill_retry_at = Nanos(0);
        }
        if now >= self.kill_retry_at && self.risk.retry_unsent_kill_cancels() {
            let unsent = self.stats.unsent;
            self.after_input(now, send);
            // A session that still cannot send (a venue down, a journal
            // stalled) is asked less and less often, up to once a second;
            // one that took them is asked at the next tick again.
            self.kill_backoff_ns = if self.stats.unsent > unsent {
                (self.kill_backoff_ns * 2).clamp(KILL_RETRY_MIN_NS, KILL_RETRY_MAX_NS)
            } else {
                0
            };
            self.kill_retry_at = Nanos(now.0.saturating_add(self.kill_backoff_ns));
            // Orders waiting for their venue's answer to a mass cancel are
            // looked at again when the first wait ends (or the answer comes).
            if let Some(until) = self.mass_cancel_wait_ends() {
                self.kill_retry_at = self.kill_retry_at.max(until);
            }
        }
        if !self.trading {
            // No decisions; but a trip since the last input (new limits
            // already breached) is swept as after any input, paused or not.
            self.after_input(now, send);
            return;
        }
        self.deliver_deferred();
        let feed_now = self.feed_time(now);
        self.strategies
            .on_timer(feed_now, &self.book, &mut self.intents);
        self.process(now, send);
        self.after_input(now, send);
    }

    /// `now` (the caller's clock) on the feed's clock, which strategies
    /// measure every interval on (their book events carry ITCH times): the
    /// last message's ITCH time plus what the caller's clock moved since.
    /// On the appliance the caller's clock counts from boot, in replay it is
    /// the ITCH time itself; either way a strategy never mixes the two.
    /// Before any message, `now` as it is.
    pub fn feed_time(&self, now: Nanos) -> Nanos {
        match self.feed_clock {
            Some((ts, at)) => Nanos(ts.saturating_add(now.0.saturating_sub(at.0))),
            None => now,
        }
    }

    /// Applies the companion's risk configuration in one step (mapping in
    /// [`config`]) at `now`; restricted symbols are found in the book's
    /// directory. On an error the limits in force stay. A limit already
    /// breached (daily loss, reject rate) trips the kill switch at once;
    /// the next input's sweep cancels the open orders. Scans the directory: an
    /// operator action, not a per-message cost.
    pub fn apply_risk_config(
        &mut self,
        cfg: &protocol::mailbox::config::RiskConfig,
        symbols: usize,
        now: Nanos,
    ) -> Result<config::RiskMapping, risk::LimitsError> {
        let book = &self.book;
        let (limits, mapping) = config::risk_limits(cfg, self.risk.limits(), symbols, |name| {
            (1..=u16::MAX).find(|&locate| {
                book.status(locate)
                    .directory
                    .is_some_and(|d| d.symbol.as_str() == name)
            })
        })?;
        self.risk.apply_limits(limits, now)?;
        // Orders held off after a refusal may pass under the new limits.
        self.strategies.on_limits_changed();
        self.risk_config = Some((cfg.clone(), symbols));
        self.restricted_waiting = mapping.unknown_symbols > 0;
        Ok(mapping)
    }

    /// The primary feed starts a new session (a new trading day, say): the
    /// book of the old one is cleared before the new session's first
    /// message, and the risk configuration's restricted symbols are looked
    /// up again in the new directory as it arrives (locates are per day).
    /// Orders at the venue are the OMS's and stay as they are.
    ///
    /// # Locates are per session; what is held follows the symbol
    ///
    /// The new session may give a locate of the old one to another
    /// instrument, and each instrument a new locate. So:
    ///
    /// - **Strategies** go stale ([`Engine::unbind_all`]): no book event,
    ///   timer tick or order of theirs is acted on (a new order or replace
    ///   one makes answering an execution report is refused, `NotSent`)
    ///   until the new directory names every symbol they trade; then they
    ///   trade under the new locates ([`Engine::bind`]).
    /// - **Positions and open orders** belong to the instrument, not to
    ///   the number: a position limit reached yesterday still binds today,
    ///   and a fill of an order entered yesterday moves the position of the
    ///   stock it was for. Every locate holding something (risk's position
    ///   or open orders, the OMS's position record or open orders, a
    ///   strategy leg) is carried, under the symbol the old directory gave
    ///   it, in a fixed table of [`CARRY`] entries, and marked *unmapped*
    ///   in risk: new orders and replaces in it are refused
    ///   (`RestrictedSymbol`) while cancels pass (the kill switch still
    ///   works). When the new directory names the symbol, its state (risk,
    ///   OMS and the strategies' own orders, all renumbered the same way)
    ///   moves to the new locate and trades again under that locate's
    ///   limits. State held under a locate the new directory gives another
    ///   instrument first moves to a free locate (no directory entry, no
    ///   state), still unmapped. An instrument missing from the new
    ///   directory keeps its state unmapped: its position still counts in
    ///   the totals (gross, net, credit), its orders can be cancelled, and
    ///   nothing new is traded in it.
    /// - State nobody can name (no directory entry, no order or strategy
    ///   naming a symbol), state beyond the table, and a new instrument
    ///   whose locate still holds state that found no free locate, are
    ///   refused for good (counted: [`PipelineStats::carry_overflow`],
    ///   [`PipelineStats::carry_stuck`]): refusing is the safe side.
    ///
    /// Scans every locate once: a session change, not a per-message cost.
    /// Nothing allocates.
    pub fn reset_feed(&mut self, now: Nanos) {
        self.stats.feed_resets += 1;
        self.begin_directory(now);
    }

    /// The start of trading, before the feed's first message: as at a new
    /// feed session ([`Pipeline::reset_feed`]), no strategy decides until
    /// the directory names its instruments, whatever locates they were
    /// built with, and state restored from a journal — held under the
    /// locates it was recorded with, `named` by the symbols the journal
    /// kept — follows its instrument to today's locate.
    pub fn start_session(&mut self, now: Nanos, named: &[(StockLocate, Symbol)]) {
        for &(locate, symbol) in named {
            match self.carry.iter_mut().find(|(_, l)| *l == locate) {
                Some(entry) => entry.0 = Some(symbol),
                None => {
                    if self.carry.push((Some(symbol), locate)).is_err() {
                        self.stats.carry_overflow += 1;
                    }
                }
            }
            self.risk.set_unmapped(locate, true);
        }
        self.begin_directory(now);
    }

    /// One fill record of the journal's hand-back, before the run starts.
    /// With `held_at`, the fill is one this run holds: its position, PnL and
    /// risk move under that locate (then [`Pipeline::start_session`] names
    /// it), and the strategy whose order it was — or the stock's only
    /// trader — hears it. Every record, held or not, tells the OMS which
    /// executions of earlier boots are on the books (and, for a bust's or
    /// correction's, what it took back), so that a venue's resend of one
    /// after a crash is not applied twice and a bust of one after the
    /// restart finds it (see [`Oms::earlier_fill`],
    /// [`Oms::earlier_adjustment`]).
    pub fn restore_journaled(
        &mut self,
        f: &protocol::mailbox::FillRecord,
        held_at: Option<StockLocate>,
    ) {
        if let Some(locate) = held_at {
            self.oms
                .restore_fill(locate, f.side, f.qty, f.price, &mut self.risk);
            self.strategies
                .restore_fill(f.strategy, &f.symbol, f.side, f.qty);
        }
        let cl = gateway::oms::ClOrdId(f.order.0);
        let exec = core::num::NonZeroU64::new(f.exec_key).map(gateway::oms::ExecKey);
        match (core::num::NonZeroU64::new(f.adjusts), exec) {
            (Some(of), _) => {
                self.oms
                    .journaled_adjustment(f.venue, cl, exec, gateway::oms::ExecKey(of))
            }
            (None, Some(exec)) => {
                self.oms.remember_journaled(&gateway::oms::JournaledFill {
                    venue: f.venue,
                    cl_ord_id: cl,
                    exec,
                    symbol: f.symbol,
                    side: f.side,
                    qty: f.qty,
                    price: f.price,
                });
            }
            (None, None) => self.oms.journaled_without_exec_id(cl),
        }
    }

    /// Everything waits for the (new) directory: see [`Pipeline::reset_feed`].
    fn begin_directory(&mut self, now: Nanos) {
        self.strategies.unbind_all();
        self.carry_state();
        self.book.clear();
        self.stale_strategies = self.strategies.stale_legs() > 0;
        self.rebinding = !self.carry.is_empty() || self.stale_strategies;
        if let Some((cfg, symbols)) = self.risk_config.take() {
            if self.apply_risk_config(&cfg, symbols, now).is_err() {
                self.stats.config_refusals += 1;
                self.risk_config = Some((cfg, symbols));
            }
        }
    }

    /// Everything held under a locate goes into `carry` (see
    /// [`Pipeline::reset_feed`]), unmapped in risk, named while the old
    /// directory is still in the book. Locates carried already (a second
    /// session change before the first was caught up with) stay as they are.
    fn carry_state(&mut self) {
        let Pipeline {
            book,
            risk,
            oms,
            strategies,
            carry,
            stats,
            ..
        } = self;
        let mut add = |risk: &mut RiskEngine, locate: StockLocate, named: Option<Symbol>| {
            if let Some((symbol, _)) = carry.iter_mut().find(|(_, l)| *l == locate) {
                if symbol.is_none() {
                    *symbol = named;
                }
                return;
            }
            let symbol = book.status(locate).directory.map(|d| d.symbol).or(named);
            if carry.push((symbol, locate)).is_err() && !risk.is_unmapped(locate) {
                stats.carry_overflow += 1;
            }
            risk.set_unmapped(locate, true);
        };
        let symbols = risk.symbol_capacity().min(1 << 16);
        for locate in 0..symbols {
            if risk.has_state(locate as StockLocate) {
                add(risk, locate as StockLocate, None);
            }
        }
        oms.held_locates(|locate, symbol| add(risk, locate, symbol));
        for (locate, symbol) in strategies.stale_legs_iter() {
            add(risk, locate, Some(symbol));
        }
    }

    /// The current session's directory names an instrument at `locate`
    /// (see [`Pipeline::reset_feed`]): state of another instrument held
    /// there moves to a free locate, the instrument's own carried state
    /// moves here and is mapped again, and its strategies' legs are bound.
    #[cold]
    fn rebind(&mut self, locate: StockLocate) {
        let Some(symbol) = self.book.status(locate).directory.map(|d| d.symbol) else {
            return;
        };
        if let Some(i) = self
            .carry
            .iter()
            .position(|(s, l)| *l == locate && *s != Some(symbol))
        {
            match self.free_locate() {
                Some(free) => {
                    self.swap_everywhere(locate, free);
                    if let Some(entry) = self.carry.get_mut(i) {
                        entry.1 = free;
                    }
                }
                None => self.stats.carry_stuck += 1,
            }
        }
        if let Some(i) = self.carry.iter().position(|(s, _)| *s == Some(symbol)) {
            let from = self.carry.get(i).map_or(locate, |(_, l)| *l);
            let occupied = self.carry.iter().any(|(_, l)| *l == locate);
            if from == locate || !occupied {
                self.swap_everywhere(from, locate);
                self.risk.set_unmapped(locate, false);
                self.carry.swap_remove(i);
                self.stats.relocated += 1;
            }
        }
        self.strategies.bind(&symbol, locate);
        self.stale_strategies = self.strategies.stale_legs() > 0;
        self.rebinding = !self.carry.is_empty() || self.stale_strategies;
    }

    /// Locates `a` and `b` exchange what they hold, in risk, the OMS and
    /// the strategies' stale legs alike.
    fn swap_everywhere(&mut self, a: StockLocate, b: StockLocate) {
        if a == b {
            return;
        }
        self.risk.swap_symbols(a, b);
        self.oms.swap_symbols(a, b);
        self.strategies.swap_stale(a, b);
    }

    /// A locate nothing is held under and the current directory has not
    /// named, highest first (feeds number from 1 upwards).
    fn free_locate(&self) -> Option<StockLocate> {
        let n = self
            .risk
            .symbol_capacity()
            .min(self.oms.symbol_capacity())
            .min(1 << 16);
        (0..n).rev().map(|l| l as StockLocate).find(|&l| {
            !self.carry.iter().any(|(_, c)| *c == l)
                && self.book.status(l).directory.is_none()
                && !self.risk.has_state(l)
                && !self.risk.is_unmapped(l)
                && self
                    .oms
                    .position(l)
                    .is_none_or(|p| *p == gateway::oms::Position::default())
        })
    }

    /// Instruments of an earlier feed session still waiting for their
    /// entry in the current directory: symbol (`None`: unnamed) and the
    /// locate their state is held under meanwhile.
    pub fn carried(&self) -> &[(Option<Symbol>, StockLocate)] {
        &self.carry
    }

    /// `venue`'s feed starts a new session: its book is cleared, and with
    /// it the directory the router finds the primary's stocks in there
    /// ([`Pipeline::away_locate`]): no depth until the new one names them.
    pub fn reset_away(&mut self, venue: VenueId) {
        if let Some((_, book)) = self.away.iter_mut().find(|(v, _)| *v == venue) {
            book.clear();
            self.stats.feed_resets += 1;
        }
    }

    /// A directory entry arrived while restricted symbols wait for theirs:
    /// if it names one of them, the configuration is applied again (the
    /// symbol is restricted before any strategy sees it). Off the path of
    /// every other message: one compare while nothing waits.
    #[cold]
    fn on_directory(&mut self, locate: StockLocate, now: Nanos) {
        let Some((cfg, symbols)) = self.risk_config.take() else {
            self.restricted_waiting = false;
            return;
        };
        let named = self.book.status(locate).directory.is_some_and(|d| {
            cfg.restricted_symbols
                .iter()
                .any(|n| n.as_str() == d.symbol.as_str())
        });
        if !named {
            self.risk_config = Some((cfg, symbols));
            return;
        }
        // The same limits already passed validation; re-applying them can
        // only fail if the engine's override table is full, and then the
        // previous limits stay (counted as an anomaly of the config).
        if self.apply_risk_config(&cfg, symbols, now).is_err() {
            self.stats.config_refusals += 1;
            self.risk_config = Some((cfg, symbols));
        }
    }

    /// Retunes running strategies from the companion's configuration
    /// (mapping in [`config`]), then gives every strategy a timer tick so a
    /// disabled one pulls its quotes at once.
    pub fn apply_strategy_config<D: Delivery>(
        &mut self,
        entries: &[protocol::mailbox::config::StrategyConfig],
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) -> config::StrategyMapping {
        use protocol::mailbox::config::StrategyKind;
        use strategy::engine::{AnyParams, Hosted};
        use strategy::Strategy;
        let mut mapping = config::StrategyMapping::default();
        for entry in entries {
            let id = types::StrategyId(entry.id);
            let current = match (entry.kind, self.strategies.get(id)) {
                (StrategyKind::MarketMaker, Some(Hosted::MarketMaker(mm))) => {
                    // Its own symbol: its locate may be stale (a new feed
                    // session whose directory has not named it yet).
                    let traded = mm.symbol();
                    let named = entry.symbols.iter().any(|s| traded.as_str() == s.as_str());
                    if !named {
                        mapping.other_symbols += 1;
                        continue;
                    }
                    *mm.params()
                }
                _ => {
                    mapping.not_running += 1;
                    continue;
                }
            };
            let params = config::mm_params(entry, &current);
            match self
                .strategies
                .set_params(id, AnyParams::MarketMaker(params))
            {
                Ok(()) => mapping.applied += 1,
                Err(_) => mapping.refused += 1,
            }
        }
        self.on_timer(now, send);
        mapping
    }

    /// Engages the kill switch and sends a cancel for every open order.
    pub fn kill<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        self.risk.trip(TripCause::Manual);
        self.sweep_kill(now, send);
    }

    /// The trading window is over: strategies stop (as under the kill
    /// switch, which this engages with `TripCause::EndOfSession`) and every
    /// open order is canceled, so nothing rests at a venue that keeps
    /// orders after the session logs out. Log out once
    /// [`Pipeline::open_orders`] is 0 (or after a grace period).
    pub fn close_session<D: Delivery>(
        &mut self,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        self.risk.trip(TripCause::EndOfSession);
        self.sweep_kill(now, send);
    }

    /// Orders entered and not yet finished, at any venue (risk's count).
    pub fn open_orders(&self) -> usize {
        self.risk.open_orders() as usize
    }

    /// Re-arms the kill switch (the operator's command): strategies may
    /// quote again. Refused while the daily loss is still beyond its limit.
    pub fn rearm(&mut self) -> Result<(), risk::RearmError> {
        self.risk.rearm()?;
        // What the kill switch refused may go now.
        self.strategies.on_limits_changed();
        Ok(())
    }

    /// While the kill switch is engaged, however it was (the operator, the
    /// daily loss, the reject rate): the cancels risk still has to give.
    /// Every open order gets one, and another if the venue refuses it (an
    /// order replaced while the cancel was on its way is canceled under
    /// its new ClOrdID), within `risk::KILL_CANCEL_ATTEMPTS`.
    ///
    /// A venue that takes order mass cancels is asked once per trip to
    /// cancel every order of ours (one message, and it reaches orders the
    /// appliance may not know of); its orders get no cancel of their own
    /// until it answers, or for [`MASS_CANCEL_WAIT_NS`]. What is still
    /// open there then, and everything at the other venues, is canceled
    /// order by order.
    ///
    /// A cancel refused on the spot (it could not be sent, say) is told to
    /// its strategy, which may answer with intents. Those go through risk
    /// now, in the input that made them, while the switch is engaged: risk
    /// refuses new orders and replaces (and the strategy hears so), cancels
    /// go. Left for the next input, a new order or replace decided on while
    /// tripped, on this input's market, would go out after a re-arm in
    /// between.
    fn sweep_kill<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        self.send_kill_cancels(now, send);
        if !self.intents.is_empty() {
            // Answers deferred so far first (intents dropped earlier in this
            // step, or in the last one before an input that hands none
            // over): those intents are older than these, and a tracker
            // pairs the answers to new orders with its requests in order.
            // It also keeps the deferred queue within one step's drops.
            self.deliver_deferred();
            self.process(now, send);
        }
    }

    /// The sweep's mass cancels and the cancels risk gives (see
    /// [`Pipeline::sweep_kill`]).
    fn send_kill_cancels<D: Delivery>(
        &mut self,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        self.ask_mass_cancels(now, send);
        let mut cancels = [OrderIntent::Cancel {
            strategy: types::StrategyId(0),
            order: types::OrderId(0),
        }; INTENTS];
        loop {
            let n = self.risk.kill_cancels(&mut cancels);
            if n == 0 {
                return;
            }
            for intent in cancels.iter().take(n) {
                if let OrderIntent::Cancel { order, .. } = *intent {
                    if self.awaits_mass_cancel(order, now) {
                        // Back into the sweep at the next retry.
                        if let Some(held) = self.oms.risk_ref(order) {
                            self.risk.on_cancel_unsent(held);
                        }
                        continue;
                    }
                }
                if self.submit(intent, now, send) {
                    self.stats.kill_cancels += 1;
                }
            }
        }
    }

    /// Sends the trip's mass cancel to each venue that takes them, is up
    /// and was not asked yet during this trip.
    fn ask_mass_cancels<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        let trips = self.risk.trips();
        if self.mass_cancel_trip != trips {
            self.mass_cancel_trip = trips;
            self.mass_cancel = [MassCancel::Idle; MAX_VENUES];
        }
        for slot in 0..self.router.venues().len() {
            let Some(&v) = self.router.venues().get(slot) else {
                break;
            };
            let idle = self.mass_cancel.get(slot) == Some(&MassCancel::Idle);
            if !v.config.mass_cancel || !v.session_up || !idle {
                continue;
            }
            // No ClOrdID left: the orders are canceled one by one.
            let Ok(out) = self.oms.mass_cancel(v.config.id) else {
                continue;
            };
            let Outbound::MassCancel { cl_ord_id, .. } = out else {
                continue;
            };
            if send(&out).delivered() {
                self.stats.mass_cancels += 1;
                if let Some(m) = self.mass_cancel.get_mut(slot) {
                    *m = MassCancel::Asked {
                        cl_ord_id,
                        until: Nanos(now.0.saturating_add(MASS_CANCEL_WAIT_NS)),
                    };
                }
            }
        }
    }

    /// Whether `order`'s kill cancel waits for its venue's answer to the
    /// trip's mass cancel (a wait that has run out ends here).
    fn awaits_mass_cancel(&mut self, order: types::OrderId, now: Nanos) -> bool {
        let Some(slot) = self
            .oms
            .venue_of(order)
            .and_then(|(venue, _)| self.venue_slot(venue))
        else {
            return false;
        };
        match self.mass_cancel.get(slot) {
            Some(MassCancel::Asked { until, .. }) if now < *until => true,
            Some(MassCancel::Asked { .. }) => {
                self.stats.mass_cancel_timeouts += 1;
                self.mass_cancel[slot] = MassCancel::Done;
                false
            }
            _ => false,
        }
    }

    /// Whether a venue's answer to a mass cancel is still awaited at `now`
    /// (asked, not answered, its wait not run out). The close logs out
    /// only once none is: the venue's report of what it canceled (orders
    /// the appliance may not know of among them) comes before the Logout,
    /// not after it, when it would be lost.
    pub fn mass_cancels_unanswered(&self, now: Nanos) -> bool {
        self.mass_cancel
            .iter()
            .any(|m| matches!(*m, MassCancel::Asked { until, .. } if now < until))
    }

    /// When the first wait for a mass cancel's answer runs out, if any.
    fn mass_cancel_wait_ends(&self) -> Option<Nanos> {
        self.mass_cancel
            .iter()
            .filter_map(|m| match *m {
                MassCancel::Asked { until, .. } => Some(until),
                _ => None,
            })
            .min()
    }

    /// The router's slot of `venue`.
    fn venue_slot(&self, venue: VenueId) -> Option<usize> {
        self.router
            .venues()
            .iter()
            .position(|v| v.config.id == venue)
    }

    /// `venue`'s OrderMassCancelReport. An answer to the trip's mass
    /// cancel ends the wait: the venue's own execution reports have
    /// canceled what it canceled, and whatever of ours is still open there
    /// is canceled order by order now. Any other answer is counted and
    /// changes nothing.
    pub fn on_mass_cancel_answer<D: Delivery>(
        &mut self,
        venue: VenueId,
        answer: &MassCancelAnswer,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        let awaited = self.venue_slot(venue).filter(|&slot| {
            matches!(
                self.mass_cancel.get(slot),
                Some(MassCancel::Asked { cl_ord_id, .. }) if answer.cl_ord_id == Some(*cl_ord_id)
            )
        });
        let Some(slot) = awaited else {
            self.stats.mass_cancel_stray_answers += 1;
            return;
        };
        if answer.accepted {
            self.stats.mass_cancels_accepted += 1;
            self.stats.mass_canceled_orders += u64::from(answer.affected);
        } else {
            self.stats.mass_cancels_refused += 1;
        }
        self.end_mass_cancel_wait(slot, now, send);
    }

    /// `venue` rejected the mass cancel's message type (a
    /// BusinessMessageReject naming OrderMassCancelRequest): it does not
    /// take them, and its orders are canceled order by order now.
    pub fn on_mass_cancel_unsupported<D: Delivery>(
        &mut self,
        venue: VenueId,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        let awaited = self
            .venue_slot(venue)
            .filter(|&slot| matches!(self.mass_cancel.get(slot), Some(MassCancel::Asked { .. })));
        let Some(slot) = awaited else {
            self.stats.mass_cancel_stray_answers += 1;
            return;
        };
        self.stats.mass_cancels_refused += 1;
        self.end_mass_cancel_wait(slot, now, send);
    }

    fn end_mass_cancel_wait<D: Delivery>(
        &mut self,
        slot: usize,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        if let Some(m) = self.mass_cancel.get_mut(slot) {
            *m = MassCancel::Done;
        }
        if self.risk.retry_unsent_kill_cancels() {
            self.after_input(now, send);
        }
    }

    /// After every input: a compare each unless the kill switch has cancels
    /// to send or the OMS is short of free slots.
    #[inline]
    fn after_input<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        if self.risk.kill_cancels_due() {
            self.sweep_kill(now, send);
        }
        // The turn's messages are on their way: the OMS readies the slots
        // the next turn's orders will take.
        self.oms.tidy();
    }

    /// The price risk's collar measures `intent` against: the mid of our
    /// book in the order's instrument, for a new order and for a replace
    /// (a replace's new price is collared like a new order's); none for a
    /// cancel, or without a two-sided market.
    pub fn collar_reference(&self, intent: &OrderIntent) -> Option<types::Price> {
        let locate = match *intent {
            OrderIntent::New { locate, .. } => locate,
            OrderIntent::Replace { order, .. } => self.oms.locate_of(order)?,
            OrderIntent::Cancel { .. } => return None,
        };
        self.book.bbo(locate).mid()
    }

    /// Takes every pending intent through risk and the OMS. A refusal is
    /// told to the strategy at once, which may answer with new intents:
    /// bounded rounds, the rest counted.
    #[inline(always)]
    fn process<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        // Most inputs (a market-data message in an instrument nobody
        // trades) leave nothing to do: no call.
        if self.intents.is_empty() {
            return;
        }
        self.process_intents(now, send);
    }

    fn process_intents<D: Delivery>(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound) -> D) {
        for _ in 0..MAX_ROUNDS {
            let mut batch: heapless::Vec<OrderIntent, INTENTS> = heapless::Vec::new();
            for intent in self.intents.drain() {
                let _ = batch.push(intent);
            }
            if batch.is_empty() {
                return;
            }
            for intent in &batch {
                self.submit_intent(intent, now, send);
            }
        }
        self.drop_intents();
    }

    /// Every dropped intent still gets its answer (the strategies' trackers
    /// wait for one), at the next input (or before the kill's sweep takes
    /// intents of its own through risk, see [`Pipeline::sweep_kill`]):
    /// answering now would only start another round.
    fn drop_intents(&mut self) {
        for intent in self.intents.drain() {
            self.stats.intents_dropped += 1;
            let answer = refusal(&intent, types::RejectReason::CapacityExhausted);
            // Cannot overflow: at most `INTENTS` are left per step and the
            // queue is emptied at the start of every step (and before the
            // kill's sweep processes intents).
            let _ = self.deferred.push(answer);
        }
    }

    /// Answers deferred from the previous step, before this step's input.
    fn deliver_deferred(&mut self) {
        for i in 0..self.deferred.len() {
            let event = self.deferred[i];
            self.strategies
                .on_order(&event, &self.book, &mut self.intents);
        }
        self.deferred.clear();
    }

    /// A strategy's intent. A cancel or a replace of a split order's parent
    /// is decided here (see the module docs); everything else goes to
    /// [`Pipeline::submit`].
    fn submit_intent<D: Delivery>(
        &mut self,
        intent: &OrderIntent,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        if !self.splits.is_empty() {
            match *intent {
                OrderIntent::Cancel { strategy, order } if self.is_parent(strategy, order) => {
                    self.stats.intents += 1;
                    self.cancel_split(strategy, order, now, send);
                    return;
                }
                OrderIntent::Replace {
                    strategy, order, ..
                } if self.is_parent(strategy, order) => {
                    self.stats.intents += 1;
                    self.stats.split_replaces_refused += 1;
                    // Told as it is: the parent's id is its first child's,
                    // and this refusal is the parent's.
                    let event = refusal(intent, types::RejectReason::NotReplaceable);
                    self.strategies
                        .on_order(&event, &self.book, &mut self.intents);
                    return;
                }
                _ => {}
            }
        }
        let _ = self.submit(intent, now, send);
    }

    fn is_parent(&self, strategy: types::StrategyId, order: types::OrderId) -> bool {
        self.splits
            .get(order)
            .is_some_and(|s| s.strategy == strategy)
    }

    /// The strategy cancels a split order: every child still working gets
    /// a cancel (one already in flight, the kill switch's say, is waited
    /// for instead), and the strategy hears the parent's outcome when the
    /// last of them is answered ([`split`]).
    fn cancel_split<D: Delivery>(
        &mut self,
        strategy: types::StrategyId,
        parent: types::OrderId,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) {
        let children = self.splits.cancel_asked(parent);
        if children.is_empty() {
            // (A parent leaves the table with its last child: not reached.)
            let event = OrderEvent::AmendRejected {
                strategy,
                order: parent,
                reason: types::RejectReason::UnknownOrder,
            };
            self.strategies
                .on_order(&event, &self.book, &mut self.intents);
            return;
        }
        let mut in_flight = 0;
        for &child in &children {
            if self.oms.cancel_in_flight(strategy, child) {
                in_flight += 1;
                continue;
            }
            // Its refusal, if any, is the child's: told through the table.
            let cancel = OrderIntent::Cancel {
                strategy,
                order: child,
            };
            let _ = self.place(&cancel, self.venue, now, send);
        }
        if in_flight == children.len() {
            self.stats.cancels_in_flight += 1;
        }
    }

    /// One intent through the router, risk and the OMS to `send`; whether
    /// a message went out. A strategy's intent comes through
    /// [`Pipeline::submit_intent`]; the kill switch's cancels come here
    /// directly, one per order at a venue (a split order's children each).
    fn submit<D: Delivery>(
        &mut self,
        intent: &OrderIntent,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) -> bool {
        self.stats.intents += 1;
        if !self.trading && !matches!(intent, OrderIntent::Cancel { .. }) {
            self.stats.paused += 1;
            self.refuse(intent, types::RejectReason::NotSent);
            return false;
        }
        if self.stale_strategies
            && !matches!(intent, OrderIntent::Cancel { .. })
            && self.strategies.is_stale(intent.strategy())
        {
            // Its locates may name other instruments in this feed session.
            self.stats.stale_refusals += 1;
            self.refuse(intent, types::RejectReason::NotSent);
            return false;
        }
        if let OrderIntent::Cancel { strategy, order } = *intent {
            if self.oms.cancel_in_flight(strategy, order) {
                self.stats.cancels_in_flight += 1;
                return false;
            }
        }
        let Some(request) = RouteRequest::of(intent) else {
            // The OMS sends cancels and replaces where the order rests.
            return self.place(intent, self.venue, now, send);
        };
        let mut children = Children::new();
        if let Err(reason) = self.route(&request, &mut children) {
            self.stats.unroutable += 1;
            self.refuse(intent, reason);
            return false;
        }
        let Some(first) = children.first() else {
            // (The router gives every valid order a child where a venue is
            // usable, and refuses it otherwise: not reached.)
            self.stats.unroutable += 1;
            self.refuse(intent, types::RejectReason::NoVenue);
            return false;
        };
        if children.len() > 1 {
            if self.splits.has_room() {
                return self.submit_split(intent, &children, now, send);
            }
            self.stats.splits_unplaced += 1;
        }
        let venue = first.venue;
        self.place(intent, venue, now, send)
    }

    /// One message through risk and the OMS to `send`: a new order at
    /// `venue` (the strategy hears it entered once it has gone), a cancel or
    /// a replace where its order rests (the OMS knows; `venue` is unused).
    fn place<D: Delivery>(
        &mut self,
        intent: &OrderIntent,
        venue: VenueId,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) -> bool {
        let reference = self.collar_reference(intent);
        match self
            .oms
            .submit(intent, venue, reference, &mut self.risk, now)
        {
            Ok(out) => {
                self.stamp_risk();
                // The bytes first: the strategy hears its order entered
                // once it is on its way (before any refusal of the send,
                // which it hears after).
                let delivered = send(&out).delivered();
                if let Outbound::New { order, .. } = out {
                    let entered = OrderEvent::Entered {
                        strategy: intent.strategy(),
                        order,
                    };
                    self.strategies
                        .on_order(&entered, &self.book, &mut self.intents);
                }
                self.account_delivery(&out, delivered)
            }
            Err(reason) => {
                self.stats.risk_rejects += 1;
                self.refuse(intent, reason);
                false
            }
        }
    }

    /// A new order the router split into `children` (see the module
    /// docs): checked whole, then each child checked and entered, and
    /// either every child goes or none does.
    fn submit_split<D: Delivery>(
        &mut self,
        intent: &OrderIntent,
        children: &Children,
        now: Nanos,
        send: &mut impl FnMut(&Outbound) -> D,
    ) -> bool {
        let OrderIntent::New {
            strategy,
            locate,
            symbol,
            side,
            price,
            qty,
            tif,
        } = *intent
        else {
            return false;
        };
        let Some(first) = children.first() else {
            return false;
        };
        let reference = self.collar_reference(intent);
        if let Err(reason) =
            self.oms
                .check_whole(intent, first.venue, reference, &mut self.risk, now)
        {
            self.stats.risk_rejects += 1;
            self.refuse(intent, reason);
            return false;
        }
        // What no displayed liquidity covers (an IOC order's rest) goes
        // with the cheapest venue's child, at the limit.
        let routed: u64 = children.iter().map(|c| u64::from(c.qty)).sum();
        let rest = u64::from(qty).saturating_sub(routed) as u32;
        let mut outs: heapless::Vec<Outbound, MAX_VENUES> = heapless::Vec::new();
        let mut ids: heapless::Vec<(types::OrderId, u32), MAX_VENUES> = heapless::Vec::new();
        for (i, c) in children.iter().enumerate() {
            let (qty, price) = if i == 0 && rest > 0 {
                (c.qty.saturating_add(rest), price)
            } else {
                (c.qty, c.price)
            };
            let child = OrderIntent::New {
                strategy,
                locate,
                symbol,
                side,
                price,
                qty,
                tif,
            };
            match self
                .oms
                .submit(&child, c.venue, reference, &mut self.risk, now)
            {
                Ok(out) => {
                    // Two children may share terms at two venues: the
                    // whole's terms are the duplicate test's.
                    self.risk
                        .forget_duplicate(strategy, locate, side, price, qty);
                    if let Outbound::New { order, .. } = out {
                        let _ = ids.push((order, qty));
                    }
                    let _ = outs.push(out);
                }
                Err(reason) => {
                    self.withdraw_split(intent, &outs);
                    self.stats.risk_rejects += 1;
                    self.refuse(intent, reason);
                    return false;
                }
            }
        }
        let Some(parent) = self.splits.open(strategy, &ids) else {
            // Room was checked by the caller; refuse rather than lose track.
            self.withdraw_split(intent, &outs);
            self.refuse(intent, types::RejectReason::CapacityExhausted);
            return false;
        };
        self.stats.splits += 1;
        self.stats.split_children += outs.len() as u64;
        self.stamp_risk();
        let entered = OrderEvent::Entered {
            strategy,
            order: parent,
        };
        self.strategies
            .on_order(&entered, &self.book, &mut self.intents);
        let mut any = false;
        for out in &outs {
            any |= self.deliver(out, send);
        }
        if !any {
            // No child went out: no venue has the order, and like a whole
            // order that could not be sent it may go again at once (its
            // children's terms left the window as they were undone).
            self.risk
                .forget_duplicate(strategy, locate, side, price, qty);
        }
        any
    }

    /// Takes back the children of a split entered so far (none was sent),
    /// newest first, and the whole's terms from the duplicate window.
    fn withdraw_split(&mut self, intent: &OrderIntent, outs: &[Outbound]) {
        for out in outs.iter().rev() {
            self.oms.withdraw(out, &mut self.risk);
        }
        if let OrderIntent::New {
            strategy,
            locate,
            side,
            price,
            qty,
            ..
        } = *intent
        {
            self.risk
                .forget_duplicate(strategy, locate, side, price, qty);
        }
    }

    fn stamp_risk(&mut self) {
        if self.stamps.risk == 0 {
            self.stamps.risk = (self.clock)();
        }
    }

    /// Hands `out`, which passed risk and the OMS, to `send`; whether it
    /// went out. One that did not is undone ([`Oms::unsent`]) and its
    /// owner told.
    fn deliver<D: Delivery>(
        &mut self,
        out: &Outbound,
        send: &mut impl FnMut(&Outbound) -> D,
    ) -> bool {
        let delivered = send(out).delivered();
        self.account_delivery(out, delivered)
    }

    /// What follows handing `out` to `send`: counted if `delivered`,
    /// else undone and its owner told; returns `delivered`.
    fn account_delivery(&mut self, out: &Outbound, delivered: bool) -> bool {
        if !delivered {
            self.stats.unsent += 1;
            if let Some(event) = self.oms.unsent(out, &mut self.risk) {
                self.tell(&event);
            }
            return false;
        }
        self.stats.orders_sent += 1;
        if let Outbound::New { venue, .. } = *out {
            if let Some(slot) = self.venue_slot(venue) {
                self.stats.orders_by_venue[slot] += 1;
            }
        }
        true
    }

    /// Tells the strategy its intent was refused before reaching a venue
    /// (a split's child's refusal becomes what the strategy hears of the
    /// parent, see [`split`]).
    fn refuse(&mut self, intent: &OrderIntent, reason: types::RejectReason) {
        let event = refusal(intent, reason);
        self.tell(&event);
    }

    /// What the OMS says of an order, to the strategy that owns it.
    fn tell(&mut self, event: &OrderEvent) {
        tell_owner(
            &mut self.splits,
            &mut self.strategies,
            &self.book,
            &mut self.intents,
            event,
        );
    }

    /// The router's children for a new order, into `children` (see the
    /// module docs on splits).
    fn route(
        &self,
        request: &RouteRequest,
        children: &mut Children,
    ) -> Result<(), types::RejectReason> {
        // Each venue's feed numbers its own stocks: the router asks every
        // venue under the primary's locate, and an away book answers from
        // the locate its own directory gives the same symbol
        // ([`Pipeline::away_locate`]); where it names no such stock (or a
        // directory names it twice) the router sees no depth there rather
        // than another stock's.
        let locate = request.locate;
        let mut views: heapless::Vec<VenueDepth<'_>, MAX_VENUES> = heapless::Vec::new();
        for v in self.router.venues() {
            let at = if v.config.id == self.venue {
                Some((&self.book, locate))
            } else {
                self.away
                    .iter()
                    .find(|(id, _)| *id == v.config.id)
                    .and_then(|(_, away)| Some((away, self.translate(away, locate)?)))
            };
            let _ = views.push(VenueDepth { locate, at });
        }
        let mut books: heapless::Vec<&dyn DepthView, MAX_VENUES> = heapless::Vec::new();
        for view in &views {
            let _ = books.push(view);
        }
        self.router.route_into(request, &books, children)
    }
}

/// Gives `event`, of an order of the OMS's, to the strategy that owns it:
/// as it is, or — a child of a split order — as what it means for the
/// parent ([`Splits::route`]).
fn tell_owner<const S: usize, const R: usize>(
    splits: &mut Splits,
    strategies: &mut Engine<S, R>,
    book: &Book,
    intents: &mut Intents<INTENTS>,
    event: &OrderEvent,
) {
    // One compare while no split order is live.
    if splits.is_empty() {
        strategies.on_order(event, book, intents);
        return;
    }
    match splits.route(event) {
        Routed::Direct => strategies.on_order(event, book, intents),
        Routed::Parent(events) => {
            for event in events.iter().flatten() {
                strategies.on_order(event, book, intents);
            }
        }
    }
}

/// What a strategy hears of an intent refused before it reached a venue: a
/// new order never became one; a cancel or replace leaves the order as it
/// stands.
fn refusal(intent: &OrderIntent, reason: types::RejectReason) -> OrderEvent {
    match *intent {
        OrderIntent::New { strategy, .. } => OrderEvent::Rejected {
            strategy,
            order: None,
            reason,
        },
        OrderIntent::Cancel { strategy, order }
        | OrderIntent::Replace {
            strategy, order, ..
        } => OrderEvent::AmendRejected {
            strategy,
            order,
            reason,
        },
    }
}

/// Whether the directory entry at `locate` names a symbol another locate
/// of the same directory names too (then [`Book::locate_of`] gives neither).
fn names_a_duplicate(book: &Book, locate: StockLocate) -> bool {
    book.status(locate)
        .directory
        .is_some_and(|d| book.locate_of(&d.symbol) != Some(locate))
}

/// One venue's depth in the stock being routed, as the router asks for it:
/// under the primary feed's `locate`. `at` is the venue's book and its own
/// locate for that stock; `None` for a venue whose book the appliance does
/// not follow or that does not name the stock: nothing displayed. Asked
/// under any other locate it shows nothing, so it can never show another
/// stock.
struct VenueDepth<'a> {
    locate: StockLocate,
    at: Option<(&'a Book, StockLocate)>,
}

impl VenueDepth<'_> {
    fn book_at(&self, locate: StockLocate) -> Option<(&Book, StockLocate)> {
        self.at.filter(|_| locate == self.locate)
    }
}

impl DepthView for VenueDepth<'_> {
    fn bbo(&self, locate: StockLocate) -> Bbo {
        self.book_at(locate)
            .map_or_else(Bbo::default, |(book, at)| book.bbo(at))
    }

    fn depth(&self, locate: StockLocate, side: Side, out: &mut [Level]) -> usize {
        self.book_at(locate)
            .map_or(0, |(book, at)| book.depth(at, side, out))
    }
}

/// Whether a MoldUDP64 payload is a data packet of more than `than`
/// messages.
pub fn packet_holds_more_than(payload: &[u8], than: u16) -> bool {
    protocol::moldudp64::Packet::new_checked(payload)
        .is_ok_and(|p| matches!(p.kind(), protocol::moldudp64::PacketKind::Data(n) if n > than))
}

/// Whether the datagrams of a receive batch are worth warming together
/// ([`Pipeline::prefetch_itch`]): several frames, or one packet of several
/// messages. A lone message would only add work before its own lookup.
pub fn batch_worth_warming(datagrams: &[Option<protocol::filter::Datagram<'_>>]) -> bool {
    match datagrams {
        [] => false,
        [Some(d)] => packet_holds_more_than(d.payload, 1),
        [_] => false,
        _ => true,
    }
}
