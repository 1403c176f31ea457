//! Tick-to-trade telemetry of the trading loop: TSC stamps at each stage of
//! the path from a feed frame to the order bytes leaving the order NIC,
//! kept as per-stage latency histograms (nanoseconds) and published through
//! the mailbox with positions and counters for the companion.
//!
//! Stages (each the time since the previous stamp):
//! - `rx-decode`: frame batch received → ITCH message parsed (filter,
//!   MoldUDP64 sequencing, parse),
//! - `book`: the L3 book applied the message,
//! - `strategy`: the strategies decided,
//! - `risk-oms`: the first order passed pre-trade risk and the OMS,
//! - `fix-encode`: its FIX message was encoded by the session and its
//!   bytes handed to the TCP socket's buffer,
//! - `tx`: the rest of the turn (the session's copy kept for resends, the
//!   input's other orders, the OMS's bookkeeping), TCP segment built and
//!   the order NIC's doorbell written,
//! - `tick-to-trade`: frame batch received → doorbell, end to end.
//!
//! Decode and book are recorded for every message; the rest only for
//! messages that produced an order.

use kernel::time::Clock;
use protocol::mailbox::histogram::{LatencyHistogram, BUCKETS};
use protocol::mailbox::snapshot::{Label, StageLatency};

pub const STAGES: usize = 7;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    RxDecode,
    Book,
    Strategy,
    RiskOms,
    FixEncode,
    Tx,
    TickToTrade,
}

const NAMES: [&str; STAGES] = [
    "rx-decode",
    "book",
    "strategy",
    "risk-oms",
    "fix-encode",
    "tx",
    "tick-to-trade",
];

/// An unnamed, empty stage (static initialisers; the histograms are about
/// 4.7 KiB each, so they live in a static, not on the stack).
pub const EMPTY_STAGE: StageLatency = StageLatency {
    name: Label([0; 16]),
    histogram: LatencyHistogram {
        buckets: [0; BUCKETS],
        count: 0,
        sum: 0,
        max: 0,
    },
};

/// The stamps of one order on its way out, waiting for the doorbell.
#[derive(Debug, Clone, Copy)]
pub struct InFlight {
    pub rx: u64,
    pub encoded: u64,
}

pub struct Telemetry<'a> {
    stages: &'a mut [StageLatency; STAGES],
    clock: &'a Clock,
}

impl<'a> Telemetry<'a> {
    pub fn new(clock: &'a Clock, stages: &'a mut [StageLatency; STAGES]) -> Self {
        for (s, name) in stages.iter_mut().zip(NAMES) {
            s.name = Label::new(name);
        }
        Telemetry { stages, clock }
    }

    /// Records the ticks between two stamps (0 when they are out of order:
    /// the TSC of a migrated or emulated CPU may step back).
    pub fn record(&mut self, stage: Stage, from: u64, to: u64) {
        let ns = self.clock.ticks_to_ns(to.saturating_sub(from));
        self.stages[stage as usize].histogram.record(ns);
    }

    /// Records the last leg and the whole path of an order once its bytes
    /// are on the wire.
    pub fn sent(&mut self, order: InFlight, doorbell: u64) {
        self.record(Stage::Tx, order.encoded, doorbell);
        self.record(Stage::TickToTrade, order.rx, doorbell);
    }

    pub fn stages(&self) -> &[StageLatency] {
        &self.stages[..]
    }
}
