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
#![no_std]
#![deny(unsafe_code)]

use book::Book;
use gateway::oms::{ExecReport, Oms, Outbound};
use protocol::itch::Message;
use risk::{RiskEngine, TripCause};
use strategy::engine::Engine;
use strategy::sink::Intents;
use types::{BookEvent, DepthView, Nanos, OrderEvent, OrderIntent, VenueId};

/// Intents one input may produce before the excess is counted and dropped.
pub const INTENTS: usize = 64;
/// Book events one ITCH message can produce (the book emits at most 4).
const EVENTS: usize = 8;
/// Rounds of "intent rejected → strategy reacts with new intents" per input.
const MAX_ROUNDS: usize = 4;

/// What the pipeline did, for the companion and the tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineStats {
    pub messages: u64,
    pub book_anomalies: u64,
    pub book_events: u64,
    pub intents: u64,
    pub orders_sent: u64,
    pub risk_rejects: u64,
    pub reports: u64,
    /// Intents left over after `MAX_ROUNDS` rounds in one step.
    pub intents_dropped: u64,
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

/// Book, strategies, risk and OMS for one venue.
pub struct Pipeline<const S: usize, const R: usize> {
    pub book: Book,
    pub strategies: Engine<S, R>,
    pub risk: RiskEngine,
    pub oms: Oms,
    venue: VenueId,
    intents: Intents<INTENTS>,
    events: heapless::Vec<BookEvent, EVENTS>,
    stats: PipelineStats,
    /// Strategies see the market only while orders can reach the venue.
    trading: bool,
    clock: fn() -> u64,
    stamps: StageStamps,
}

impl<const S: usize, const R: usize> Pipeline<S, R> {
    pub fn new(
        book: Book,
        strategies: Engine<S, R>,
        risk: RiskEngine,
        oms: Oms,
        venue: VenueId,
    ) -> Self {
        Pipeline {
            book,
            strategies,
            risk,
            oms,
            venue,
            intents: Intents::new(),
            events: heapless::Vec::new(),
            stats: PipelineStats::default(),
            trading: true,
            clock: no_clock,
            stamps: StageStamps::default(),
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

    /// Whether orders can reach the venue (its session is logged on). While
    /// not, the book keeps up with the feed but no strategy is asked to
    /// decide: an order it made could not be sent, yet risk and the OMS
    /// would count it as live.
    pub fn set_trading(&mut self, trading: bool) {
        self.trading = trading;
    }

    pub fn is_trading(&self) -> bool {
        self.trading
    }

    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// One market-data message.
    pub fn on_itch(&mut self, msg: &Message<'_>, now: Nanos, send: &mut impl FnMut(&Outbound)) {
        self.stats.messages += 1;
        self.events.clear();
        self.stamps = StageStamps::default();
        if self.book.apply_itch(msg, &mut self.events).is_err() {
            self.stats.book_anomalies += 1;
        }
        self.stamps.book = (self.clock)();
        self.stats.book_events += self.events.len() as u64;
        if !self.trading {
            return;
        }
        for i in 0..self.events.len() {
            let event = self.events[i];
            self.strategies
                .on_book(&event, &self.book, &mut self.intents);
        }
        self.stamps.strategy = (self.clock)();
        self.process(now, send);
    }

    /// One execution report from the venue.
    pub fn on_exec_report(
        &mut self,
        report: &ExecReport,
        now: Nanos,
        send: &mut impl FnMut(&Outbound),
    ) {
        self.stats.reports += 1;
        if let Some(event) = self.oms.on_exec_report(report, now, &mut self.risk) {
            self.strategies
                .on_order(&event, &self.book, &mut self.intents);
        }
        self.process(now, send);
    }

    /// A clock tick (strategies' timers).
    pub fn on_timer(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound)) {
        if !self.trading {
            return;
        }
        self.strategies.on_timer(now, &self.book, &mut self.intents);
        self.process(now, send);
    }

    /// Engages the kill switch and sends a cancel for every open order.
    pub fn kill(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound)) {
        self.risk.trip(TripCause::Manual);
        let mut cancels = [OrderIntent::Cancel {
            strategy: types::StrategyId(0),
            order: types::OrderId(0),
        }; INTENTS];
        let n = self.risk.kill_cancels(&mut cancels);
        for intent in cancels.iter().take(n) {
            self.submit(intent, now, send);
        }
    }

    /// Takes every pending intent through risk and the OMS. A refusal is
    /// told to the strategy at once, which may answer with new intents:
    /// bounded rounds, the rest counted.
    fn process(&mut self, now: Nanos, send: &mut impl FnMut(&Outbound)) {
        for _ in 0..MAX_ROUNDS {
            let mut batch: heapless::Vec<OrderIntent, INTENTS> = heapless::Vec::new();
            for intent in self.intents.drain() {
                let _ = batch.push(intent);
            }
            if batch.is_empty() {
                return;
            }
            for intent in &batch {
                self.submit(intent, now, send);
            }
        }
        let left = self.intents.drain().count();
        self.stats.intents_dropped += left as u64;
    }

    fn submit(&mut self, intent: &OrderIntent, now: Nanos, send: &mut impl FnMut(&Outbound)) {
        self.stats.intents += 1;
        let reference = match *intent {
            OrderIntent::New { locate, .. } => self.book.bbo(locate).mid(),
            _ => None,
        };
        match self
            .oms
            .submit(intent, self.venue, reference, &mut self.risk, now)
        {
            Ok(out) => {
                self.stats.orders_sent += 1;
                if self.stamps.risk == 0 {
                    self.stamps.risk = (self.clock)();
                }
                send(&out);
            }
            Err(reason) => {
                self.stats.risk_rejects += 1;
                let order = match *intent {
                    OrderIntent::New { .. } => None,
                    OrderIntent::Cancel { order, .. } | OrderIntent::Replace { order, .. } => {
                        Some(order)
                    }
                };
                let event = OrderEvent::Rejected {
                    strategy: intent.strategy(),
                    order,
                    reason,
                };
                self.strategies
                    .on_order(&event, &self.book, &mut self.intents);
            }
        }
    }
}
