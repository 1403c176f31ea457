//! How the trading loop reaches the outside world without locks: console
//! lines, journal events and its published view travel to the housekeeping
//! core, which alone touches the serial console and the mailbox.
//!
//! - **Lines** (`say!`): formatted on the trading core into a framed
//!   `bbqueue` (one producer: the trading core; one consumer: housekeeping).
//!   A full queue drops the line and counts it; the loop never waits.
//! - **Journal events** (FIX sequence reservations, fills): encoded with the
//!   mailbox's own frame format into a second framed queue, so housekeeping
//!   forwards them byte for byte. A full queue is reported to the caller,
//!   which keeps the event for its next turn: nothing durable is dropped.
//! - **The view** (positions, counters, risk usage, open orders, latency
//!   histograms, NIC state): filled in place every 100 ms into a
//!   [`kernel::latest::Latest`] double buffer and copied into the mailbox's
//!   snapshots by housekeeping.
//! - **Done**: the exit code, set after the last line and event are queued;
//!   housekeeping drains everything and then ends the run.
//!
//! The other direction, [`DOWNLINK`], carries what the companion applied
//! (a new configuration: risk limits, strategy parameters) to the trading
//! loop, through
//! another [`Latest`] cell: the loop looks once per turn (one load) and
//! adopts a new value between two messages.
//!
//! With one CPU the trading loop runs on core 0 and performs the
//! housekeeping step itself each turn ([`Housekeeper::step`]); the channel
//! is the same, so there is one code path for both layouts.

use bbqueue::nicknames::Churrasco;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};
use heapless::Vec;
use kernel::boot::Platform;
use kernel::latest::Latest;
use kernel::println;
use protocol::mailbox::config::ApplianceConfig;
use protocol::mailbox::message::{Event, Message};
use protocol::mailbox::snapshot::{
    Counter, KillSwitch, Label, NicStatus, OpenOrder, Position, RiskLimit, StageLatency,
};

use crate::telemetry::{EMPTY_STAGE, STAGES};

/// Longest console line the trading loop sends (longer ones are cut).
pub const MAX_LINE: usize = 1024;
const TEXT_BYTES: usize = 16 * 1024;
const EVENT_BYTES: usize = 8 * 1024;
/// Counters, risk limits and open orders the view carries at most.
pub const MAX_COUNTERS: usize = 48;
pub const MAX_LIMITS: usize = 8;
pub const MAX_ORDERS: usize = 64;
pub const MAX_NICS: usize = 2;

/// What the trading loop shows the companion, published every 100 ms.
pub struct TradingView {
    pub positions: Vec<Position, 1>,
    pub counters: Vec<Counter, MAX_COUNTERS>,
    pub kill: KillSwitch,
    pub limits: Vec<RiskLimit, MAX_LIMITS>,
    pub orders: Vec<OpenOrder, MAX_ORDERS>,
    pub stages: [StageLatency; STAGES],
    pub nics: [Option<NicStatus>; MAX_NICS],
}

const EMPTY_VIEW: TradingView = TradingView {
    positions: Vec::new(),
    counters: Vec::new(),
    kill: KillSwitch {
        engaged: false,
        reason: Label([0; 16]),
        since_ns: 0,
    },
    limits: Vec::new(),
    orders: Vec::new(),
    stages: [EMPTY_STAGE; STAGES],
    nics: [None; MAX_NICS],
};

/// Exit codes carried by [`Uplink::finish`].
const RUNNING: u8 = 0;
const DONE_OK: u8 = 1;
const DONE_FAILED: u8 = 2;

pub struct Uplink {
    text: Churrasco<TEXT_BYTES>,
    events: Churrasco<EVENT_BYTES>,
    view: Latest<TradingView>,
    lines_dropped: AtomicU32,
    done: AtomicU8,
}

/// The one uplink: one trading loop per image.
pub static UPLINK: Uplink = Uplink {
    text: Churrasco::new(),
    events: Churrasco::new(),
    view: Latest::from_slots(EMPTY_VIEW, EMPTY_VIEW),
    lines_dropped: AtomicU32::new(0),
    done: AtomicU8::new(RUNNING),
};

/// Housekeeping → trading loop.
pub struct Downlink {
    /// The newest applied configuration, with its generation.
    pub config: Latest<Option<(u64, ApplianceConfig)>>,
}

pub static DOWNLINK: Downlink = Downlink {
    config: Latest::from_slots(None, None),
};

/// A console line from the trading loop, through the uplink.
macro_rules! say {
    ($($arg:tt)*) => {
        {
            let _ = $crate::uplink::UPLINK.line(format_args!($($arg)*));
        }
    };
}
pub(crate) use say;

impl Uplink {
    /// Queues a console line; dropped and counted when the queue is full.
    pub fn line(&self, args: core::fmt::Arguments<'_>) -> bool {
        let mut text: heapless::String<MAX_LINE> = heapless::String::new();
        let _ = text.write_fmt(args);
        self.push_line(text.as_bytes())
    }

    fn push_line(&self, bytes: &[u8]) -> bool {
        match self.text.framed_producer().grant(bytes.len() as u16) {
            Ok(mut grant) => {
                grant[..bytes.len()].copy_from_slice(bytes);
                grant.commit(bytes.len() as u16);
                true
            }
            Err(_) => {
                self.lines_dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A console line that must not be lost (the run's summary): waits for
    /// room, calling `meanwhile` (the housekeeping step when this core is
    /// also the one that drains). Not for the hot path.
    pub fn line_waiting(&self, args: core::fmt::Arguments<'_>, meanwhile: &mut dyn FnMut()) {
        let mut text: heapless::String<MAX_LINE> = heapless::String::new();
        let _ = text.write_fmt(args);
        let bytes = text.as_bytes();
        loop {
            if let Ok(mut grant) = self.text.framed_producer().grant(bytes.len() as u16) {
                grant[..bytes.len()].copy_from_slice(bytes);
                grant.commit(bytes.len() as u16);
                return;
            }
            meanwhile();
            core::hint::spin_loop();
        }
    }

    /// Queues a journal event; `false` when the queue is full (keep it and
    /// try again next turn).
    pub fn event(&self, event: Event) -> bool {
        let mut buf = [0u8; 128];
        let Ok(len) = Message::Event(event).encode(&mut buf) else {
            return false;
        };
        match self.events.framed_producer().grant(len as u16) {
            Ok(mut grant) => {
                grant[..len].copy_from_slice(&buf[..len]);
                grant.commit(len as u16);
                true
            }
            Err(_) => false,
        }
    }

    /// Publishes the view (filled in place); `false` when housekeeping is
    /// reading the slot this would overwrite: the caller tries next turn.
    pub fn publish(&self, fill: impl FnOnce(&mut TradingView)) -> bool {
        self.view.publish(fill)
    }

    /// The trading loop is over with `ok`; housekeeping ends the run once it
    /// has drained what was queued before this call.
    pub fn finish(&self, ok: bool) {
        let code = if ok { DONE_OK } else { DONE_FAILED };
        self.done.store(code, Ordering::Release);
    }

    pub fn lines_dropped(&self) -> u32 {
        self.lines_dropped.load(Ordering::Relaxed)
    }
}

/// The consumer side, on whichever core does housekeeping.
pub struct Housekeeper {
    platform: &'static Platform,
    seen_view: u32,
    /// An event the mailbox's ring refused, to offer again first.
    pending: Option<Event>,
    /// Events that never reached the mailbox (it was absent or kept full).
    pub events_lost: u64,
    /// The configuration generation last handed to the trading loop.
    forwarded_config: u64,
}

/// What [`Housekeeper::step`] found about the trading loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Running,
    /// The loop finished; everything it queued before has been handled.
    Finished {
        ok: bool,
    },
}

impl Housekeeper {
    pub fn new(platform: &'static Platform) -> Housekeeper {
        Housekeeper {
            platform,
            seen_view: 0,
            pending: None,
            events_lost: 0,
            forwarded_config: 0,
        }
    }

    /// One round: the mailbox's own duties, then up to `max_lines` console
    /// lines, the queued journal events the mailbox takes, and the newest
    /// view. Once the loop has finished, drains everything before saying so.
    pub fn step(&mut self, max_lines: usize) -> Verdict {
        kernel::mailbox::service(self.platform);
        // Read `done` first: whatever was queued before it was set is in the
        // queues now, so draining after this load sees all of it.
        let done = UPLINK.done.load(Ordering::Acquire);
        let lines = if done == RUNNING {
            max_lines
        } else {
            usize::MAX
        };
        self.print_lines(lines);
        self.forward_events(done != RUNNING);
        self.publish_view();
        self.forward_config();
        match done {
            RUNNING => Verdict::Running,
            code => Verdict::Finished {
                ok: code == DONE_OK,
            },
        }
    }

    fn print_lines(&mut self, max: usize) {
        let consumer = UPLINK.text.framed_consumer();
        for _ in 0..max {
            let Ok(grant) = consumer.read() else { break };
            match core::str::from_utf8(&grant) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    let valid = &grant[..e.valid_up_to()];
                    println!("{}", core::str::from_utf8(valid).unwrap_or(""));
                }
            }
            grant.release();
        }
        let dropped = UPLINK.lines_dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            println!("trade: {dropped} console line(s) dropped (uplink full)");
        }
    }

    /// Hands queued events to the mailbox's event ring. When the loop has
    /// finished, waits up to a second for a full ring to drain (the
    /// companion persists them) before counting what is left as lost.
    fn forward_events(&mut self, final_drain: bool) {
        let present = kernel::mailbox::is_present();
        let deadline = self.platform.now_ns() + 1_000_000_000;
        let consumer = UPLINK.events.framed_consumer();
        loop {
            let event = match self.pending.take() {
                Some(e) => e,
                None => {
                    let Ok(grant) = consumer.read() else { return };
                    let decoded = match Message::decode(&grant) {
                        Ok(Message::Event(e)) => Some(e),
                        _ => None,
                    };
                    grant.release();
                    match decoded {
                        Some(e) => e,
                        None => continue,
                    }
                }
            };
            if !present {
                self.events_lost += 1;
                continue;
            }
            let sent = kernel::mailbox::with_endpoint(|end| end.event(event).is_ok());
            if sent != Some(true) {
                if final_drain && self.platform.now_ns() < deadline {
                    self.pending = Some(event);
                    kernel::mailbox::service(self.platform);
                    core::hint::spin_loop();
                    continue;
                }
                if final_drain {
                    self.events_lost += 1;
                    continue;
                }
                self.pending = Some(event);
                return;
            }
        }
    }

    /// A configuration the companion applied since the last look goes down
    /// to the trading loop (retried next step if the loop is reading the
    /// slot this would fill).
    fn forward_config(&mut self) {
        let generation = kernel::mailbox::config_generation();
        if generation == self.forwarded_config {
            return;
        }
        let config = kernel::mailbox::CONFIG.lock();
        let Some(config) = config.as_ref() else {
            return;
        };
        if DOWNLINK
            .config
            .publish(|slot| *slot = Some((generation, config.clone())))
        {
            self.forwarded_config = generation;
        }
    }

    fn publish_view(&mut self) {
        if !kernel::mailbox::is_present() {
            return;
        }
        UPLINK.view.read_newer(&mut self.seen_view, |v| {
            for (i, nic) in v.nics.iter().enumerate() {
                if let Some(status) = nic {
                    kernel::mailbox::report_nic(i, *status);
                }
            }
            kernel::mailbox::with_endpoint(|end| {
                let _ = end.publish_orders(&v.orders);
                let _ = end.publish_risk(&v.kill, &v.limits);
                let _ = end.publish_positions(&v.positions);
                let _ = end.publish_counters(&v.counters);
                let _ = end.publish_latency(&v.stages);
            });
        });
    }
}
