//! defmt logging for every core.
//!
//! Each core encodes its own frames (no lock shared between cores) into a
//! staging buffer, and on `release` commits the whole frame to its own
//! single-producer bip-buffer (`bbqueue`). The housekeeping core drains all
//! queues into the mailbox's log ring, one mailbox frame per defmt frame,
//! prefixed with the core number; the companion decodes them with the
//! image's defmt table. A full queue drops the frame and counts it: logging
//! never blocks a hot core. Timestamps are microseconds of the TSC clock.
#![allow(unsafe_code)]

use crate::smp::{self, MAX_CORES};
use bbqueue::nicknames::Churrasco;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// Largest encoded frame kept; longer frames are dropped and counted.
pub const MAX_FRAME: usize = 240;
const QUEUE_BYTES: usize = 8 * 1024;

struct CoreLog {
    taken: AtomicBool,
    /// Set when a frame did not fit its staging buffer or was nested.
    discard: UnsafeCell<bool>,
    encoder: UnsafeCell<defmt::Encoder>,
    stage: UnsafeCell<[u8; MAX_FRAME]>,
    len: UnsafeCell<usize>,
    queue: Churrasco<QUEUE_BYTES>,
    dropped: AtomicU32,
}

// SAFETY: the cells are only touched by the core that owns the slot, while
// it holds `taken`; the queue is a lock-free SPSC buffer (producer: the
// owning core, consumer: housekeeping).
unsafe impl Sync for CoreLog {}

impl CoreLog {
    const fn new() -> CoreLog {
        CoreLog {
            taken: AtomicBool::new(false),
            discard: UnsafeCell::new(false),
            encoder: UnsafeCell::new(defmt::Encoder::new()),
            stage: UnsafeCell::new([0; MAX_FRAME]),
            len: UnsafeCell::new(0),
            queue: Churrasco::new(),
            dropped: AtomicU32::new(0),
        }
    }
}

static LOGS: [CoreLog; MAX_CORES] = [const { CoreLog::new() }; MAX_CORES];
/// The slot acquired by the core currently logging, per core index.
static CURRENT: [AtomicU32; MAX_CORES] = [const { AtomicU32::new(0) }; MAX_CORES];

fn my_slot() -> usize {
    smp::current_core().unwrap_or(0).min(MAX_CORES - 1)
}

/// Appends encoded bytes to the staging buffer of `log`.
///
/// # Safety
/// The caller holds `log.taken` on the core that owns `log`.
unsafe fn stage(log: &CoreLog, bytes: &[u8]) {
    // SAFETY: exclusive per the caller's contract.
    let (stage, len, discard) = unsafe {
        (
            &mut *log.stage.get(),
            &mut *log.len.get(),
            &mut *log.discard.get(),
        )
    };
    match stage.get_mut(*len..*len + bytes.len()) {
        Some(dst) => {
            dst.copy_from_slice(bytes);
            *len += bytes.len();
        }
        None => *discard = true,
    }
}

#[defmt::global_logger]
struct Logger;

// SAFETY: `acquire` gives each core exclusive use of its own slot (a core
// that logs while already logging, e.g. from an exception handler, gets its
// nested frame discarded rather than interleaved), and `release` ends it.
unsafe impl defmt::Logger for Logger {
    fn acquire() {
        let slot = my_slot();
        let log = &LOGS[slot];
        let nested = log.taken.swap(true, Ordering::Acquire);
        CURRENT[slot].store(nested as u32, Ordering::Relaxed);
        if nested {
            return;
        }
        // SAFETY: we just took the slot.
        unsafe {
            *log.len.get() = 0;
            *log.discard.get() = false;
            (*log.encoder.get()).start_frame(|b| stage(log, b));
        }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        let slot = my_slot();
        let log = &LOGS[slot];
        if CURRENT[slot].load(Ordering::Relaxed) == 1 {
            CURRENT[slot].store(0, Ordering::Relaxed);
            log.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // SAFETY: this core holds the slot since `acquire`.
        unsafe {
            (*log.encoder.get()).end_frame(|b| stage(log, b));
            let len = *log.len.get();
            if *log.discard.get() {
                log.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                match log.queue.framed_producer().grant(len as u16) {
                    Ok(mut grant) => {
                        let staged: &[u8; MAX_FRAME] = &*log.stage.get();
                        grant[..len].copy_from_slice(&staged[..len]);
                        grant.commit(len as u16);
                    }
                    Err(_) => {
                        log.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
        log.taken.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        let slot = my_slot();
        let log = &LOGS[slot];
        if CURRENT[slot].load(Ordering::Relaxed) == 1 {
            return;
        }
        // SAFETY: this core holds the slot since `acquire`.
        unsafe { (*log.encoder.get()).write(bytes, |b| stage(log, b)) };
    }
}

defmt::timestamp!(
    "{=u64:us}",
    crate::boot::platform().map_or(0, |p| p.now_ns() / 1000)
);

/// Hands up to `max` queued frames, oldest first per core, to `sink(core,
/// frame)`; returns how many. Housekeeping only (the single consumer).
pub fn drain(max: usize, mut sink: impl FnMut(u8, &[u8]) -> bool) -> usize {
    let mut n = 0;
    for (core, log) in LOGS.iter().enumerate() {
        while n < max {
            let Ok(grant) = log.queue.framed_consumer().read() else {
                break;
            };
            let delivered = sink(core as u8, &grant);
            if delivered {
                grant.release();
                n += 1;
            } else {
                // The sink is full: keep the frame for the next round.
                grant.keep();
                return n;
            }
        }
    }
    n
}

/// Frames dropped so far (queue full, too long, or nested), all cores.
pub fn dropped() -> u32 {
    LOGS.iter().map(|l| l.dropped.load(Ordering::Relaxed)).sum()
}
