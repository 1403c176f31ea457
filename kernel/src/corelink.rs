//! Core-to-core messages and heartbeat supervision.
//!
//! Each hot core shares one [`CoreLink`] with the housekeeping core: two
//! single-producer single-consumer `bbqueue` bip-buffers, one per direction,
//! carrying framed messages (commands down; telemetry and log lines up). A
//! full queue never blocks the hot core: the message is dropped and counted.
//!
//! [`Watchdog`] turns per-core heartbeat counters into health: a core whose
//! counter stops advancing for longer than the limit is reported stalled.

use bbqueue::nicknames::Churrasco;
use core::sync::atomic::{AtomicU32, Ordering};

/// Bytes in each direction's queue.
pub const QUEUE_BYTES: usize = 4096;
/// Longest payload a frame carries.
pub const MAX_PAYLOAD: usize = 240;

/// Message kinds (first byte of every frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Housekeeping → core: answer with `Pong` carrying the same sequence.
    Ping = 1,
    /// Core → housekeeping: sequence echoed, then the core's heartbeat.
    Pong = 2,
    /// Core → housekeeping: a UTF-8 log line.
    Log = 3,
    /// Housekeeping → core: raise a deliberate exception (fault isolation test).
    Fault = 4,
    /// Core → housekeeping: telemetry counters (little-endian u64s).
    Telemetry = 5,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Ping,
            2 => Kind::Pong,
            3 => Kind::Log,
            4 => Kind::Fault,
            5 => Kind::Telemetry,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue had no room; the message was dropped and counted.
    Full,
    TooLong,
}

/// One direction: a framed bip-buffer plus a drop counter.
pub struct Channel {
    queue: Churrasco<QUEUE_BYTES>,
    dropped: AtomicU32,
    malformed: AtomicU32,
}

impl Channel {
    pub const fn new() -> Channel {
        Channel {
            queue: Churrasco::new(),
            dropped: AtomicU32::new(0),
            malformed: AtomicU32::new(0),
        }
    }

    /// Producer side. Only one core may send on a channel.
    pub fn send(&self, kind: Kind, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(SendError::TooLong);
        }
        let len = payload.len() as u16 + 1;
        match self.queue.framed_producer().grant(len) {
            Ok(mut grant) => {
                grant[0] = kind as u8;
                grant[1..len as usize].copy_from_slice(payload);
                grant.commit(len);
                Ok(())
            }
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Err(SendError::Full)
            }
        }
    }

    /// Consumer side: hands the oldest message to `f`. Returns false when
    /// the queue is empty. Only one core may receive on a channel.
    pub fn receive(&self, f: impl FnOnce(Kind, &[u8])) -> bool {
        let Ok(grant) = self.queue.framed_consumer().read() else {
            return false;
        };
        match grant.first().copied().and_then(Kind::from_u8) {
            Some(kind) => f(kind, &grant[1..]),
            None => {
                self.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
        grant.release();
        true
    }

    pub fn dropped(&self) -> u32 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn malformed(&self) -> u32 {
        self.malformed.load(Ordering::Relaxed)
    }
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}

/// Both directions between housekeeping and one hot core.
pub struct CoreLink {
    /// Housekeeping → core.
    pub down: Channel,
    /// Core → housekeeping.
    pub up: Channel,
}

impl CoreLink {
    pub const fn new() -> CoreLink {
        CoreLink {
            down: Channel::new(),
            up: Channel::new(),
        }
    }
}

impl Default for CoreLink {
    fn default() -> Self {
        Self::new()
    }
}

/// Health of one core as the watchdog sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Alive,
    /// No heartbeat for `for_ticks` TSC ticks.
    Stalled {
        for_ticks: u64,
    },
}

/// Per-core heartbeat supervision for `N` cores.
pub struct Watchdog<const N: usize> {
    last_beat: [u64; N],
    last_change: [u64; N],
    limit_ticks: u64,
}

impl<const N: usize> Watchdog<N> {
    /// A core is stalled after `limit_ticks` without a heartbeat change.
    pub fn new(now: u64, limit_ticks: u64) -> Self {
        Watchdog {
            last_beat: [0; N],
            last_change: [now; N],
            limit_ticks,
        }
    }

    /// Records core `index`'s heartbeat at time `now` and judges it.
    pub fn observe(&mut self, index: usize, heartbeat: u64, now: u64) -> Health {
        let (Some(last), Some(changed)) = (
            self.last_beat.get_mut(index),
            self.last_change.get_mut(index),
        ) else {
            return Health::Alive;
        };
        if heartbeat != *last {
            *last = heartbeat;
            *changed = now;
            return Health::Alive;
        }
        let silent = now.saturating_sub(*changed);
        if silent > self.limit_ticks {
            Health::Stalled { for_ticks: silent }
        } else {
            Health::Alive
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::sync::Arc;

    #[test]
    fn messages_round_trip_in_order() {
        let link = CoreLink::new();
        link.down.send(Kind::Ping, &7u64.to_le_bytes()).unwrap();
        link.down.send(Kind::Fault, &[]).unwrap();
        let mut got = std::vec::Vec::new();
        while link.down.receive(|k, p| got.push((k, p.to_vec()))) {}
        assert_eq!(
            got,
            [
                (Kind::Ping, 7u64.to_le_bytes().to_vec()),
                (Kind::Fault, std::vec![])
            ]
        );
        assert!(!link.up.receive(|_, _| unreachable!()));
        assert_eq!(
            link.down.send(Kind::Log, &[0; MAX_PAYLOAD + 1]),
            Err(SendError::TooLong)
        );
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let ch = Channel::new();
        let mut sent = 0;
        while ch.send(Kind::Log, &[b'x'; 100]).is_ok() {
            sent += 1;
        }
        assert!(sent >= QUEUE_BYTES / 110 - 1, "{sent}");
        assert_eq!(ch.dropped(), 1);
        assert!(ch.receive(|k, p| assert_eq!((k, p.len()), (Kind::Log, 100))));
        assert!(
            ch.send(Kind::Log, &[b'y'; 10]).is_ok(),
            "space is reusable after a read"
        );
    }

    #[test]
    fn two_threads_lose_and_duplicate_nothing() {
        const COUNT: u64 = 1_000_000;
        let ch = Arc::new(Channel::new());
        let producer = {
            let ch = ch.clone();
            std::thread::spawn(move || {
                let mut i = 0u64;
                while i < COUNT {
                    let len = (i % 16) as usize + 8;
                    let mut payload = [0u8; 24];
                    payload[..8].copy_from_slice(&i.to_le_bytes());
                    if ch.send(Kind::Telemetry, &payload[..len]).is_ok() {
                        i += 1;
                    } else {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut expected = 0u64;
        while expected < COUNT {
            let got = ch.receive(|kind, p| {
                assert_eq!(kind, Kind::Telemetry);
                assert_eq!(p.len(), (expected % 16) as usize + 8);
                let seq = u64::from_le_bytes(p[..8].try_into().unwrap());
                assert_eq!(seq, expected, "lost or duplicated message");
                expected += 1;
            });
            if !got {
                std::thread::yield_now();
            }
        }
        producer.join().unwrap();
        assert!(!ch.receive(|_, _| {}));
        assert_eq!(ch.malformed(), 0);
    }

    #[test]
    fn watchdog_flags_a_silent_core_only() {
        let mut w: Watchdog<3> = Watchdog::new(0, 100);
        for t in (10..=300).step_by(10) {
            assert_eq!(w.observe(0, t, t), Health::Alive);
            // Core 1 beats once (5 at t = 10), then falls silent.
            let h = w.observe(1, 5, t);
            if t - 10 > 100 {
                assert_eq!(h, Health::Stalled { for_ticks: t - 10 });
            } else {
                assert_eq!(h, Health::Alive);
            }
        }
        // A beat revives it.
        assert_eq!(w.observe(1, 6, 310), Health::Alive);
        assert_eq!(
            w.observe(9, 1, 310),
            Health::Alive,
            "out of range is ignored"
        );
    }
}
