//! The latest value of a record that one core publishes and another reads.
//!
//! A hot core publishes its view (positions, counters, latency histograms)
//! every 100 ms for the housekeeping core to copy into the mailbox, and the
//! housekeeping core hands new risk limits the other way. Neither side may
//! block the other, and a hot core may not take a lock. [`Latest`] keeps two
//! slots: the writer fills the one that is not published and then publishes
//! it; the reader announces the slot it reads, re-checks that it is still the
//! published one, and reads it in place. A writer that finds the reader on
//! the slot it wants skips this publication (returns `false`) and tries again
//! later, so the writer never waits and the reader never sees a slot while it
//! is written. Values are written and read in place, so a large record is
//! never copied through a stack.
//!
//! Why sequentially consistent: each side stores its own word and then loads
//! the other's (the reader: `reading` then `published`; the writer:
//! `published` after checking `reading`). Only a single total order of those
//! operations rules out both sides missing each other's store.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU32, AtomicU8, Ordering::SeqCst};

const NOT_READING: u8 = u8::MAX;

/// See the module documentation. One writer core and one reader core.
pub struct Latest<T> {
    slots: [UnsafeCell<T>; 2],
    /// `generation << 1 | slot`; generation 0 means nothing published yet.
    published: AtomicU32,
    /// The slot the reader holds, or `NOT_READING`.
    reading: AtomicU8,
}

// SAFETY: a slot is only written by the single writer while it is neither
// published nor held by the reader, and only read while it is published and
// held (see `publish` and `read_newer`), so no slot is accessed from two
// cores at once. `T: Send` because values cross cores.
unsafe impl<T: Send> Sync for Latest<T> {}

impl<T> Latest<T> {
    /// Both slots start as `initial` (a copy), nothing is published.
    pub const fn new(initial: T) -> Latest<T>
    where
        T: Copy,
    {
        Latest::from_slots(initial, initial)
    }

    /// For records that are not `Copy`: the two slots' initial contents
    /// (equal in practice), nothing published.
    pub const fn from_slots(first: T, second: T) -> Latest<T> {
        Latest {
            slots: [UnsafeCell::new(first), UnsafeCell::new(second)],
            published: AtomicU32::new(0),
            reading: AtomicU8::new(NOT_READING),
        }
    }

    /// Writer side (one core only): `fill` updates the free slot, which then
    /// becomes the latest value. `false` (nothing written) when the reader
    /// holds that slot right now; call again later.
    pub fn publish(&self, fill: impl FnOnce(&mut T)) -> bool {
        let current = self.published.load(SeqCst);
        let generation = current >> 1;
        let target = if generation == 0 {
            0
        } else {
            (current & 1) as usize ^ 1
        };
        if self.reading.load(SeqCst) as usize == target {
            return false;
        }
        // SAFETY: `target` is not the published slot, so a reader that
        // starts now re-checks `published`, sees the other slot and never
        // touches this one; a reader that announced this slot earlier was
        // seen in `reading` above. Only this (single) writer writes.
        fill(unsafe { &mut *self.slots[target].get() });
        let next = generation.wrapping_add(1).max(1);
        self.published.store(next << 1 | target as u32, SeqCst);
        true
    }

    /// Reader side (one core only): runs `read` on the latest value when it
    /// is newer than the generation in `seen` (0 = nothing seen yet), and
    /// records its generation there. `false` when there is nothing new.
    pub fn read_newer(&self, seen: &mut u32, read: impl FnOnce(&T)) -> bool {
        loop {
            let current = self.published.load(SeqCst);
            let generation = current >> 1;
            if generation == 0 || generation == *seen {
                return false;
            }
            let slot = (current & 1) as usize;
            self.reading.store(slot as u8, SeqCst);
            if self.published.load(SeqCst) != current {
                // Published again meanwhile: the slot may be the writer's now.
                self.reading.store(NOT_READING, SeqCst);
                continue;
            }
            // SAFETY: the slot is published and announced in `reading`; the
            // writer only writes the unpublished slot and skips one the
            // reader holds (see `publish`).
            read(unsafe { &*self.slots[slot].get() });
            self.reading.store(NOT_READING, SeqCst);
            *seen = generation;
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn nothing_until_published_then_each_generation_once() {
        let cell = Latest::new([0u64; 4]);
        let mut seen = 0;
        assert!(!cell.read_newer(&mut seen, |_| panic!("nothing published")));
        assert!(cell.publish(|v| *v = [1; 4]));
        let mut got = [0; 4];
        assert!(cell.read_newer(&mut seen, |v| got = *v));
        assert_eq!(got, [1; 4]);
        assert!(!cell.read_newer(&mut seen, |_| panic!("already seen")));
        assert!(cell.publish(|v| *v = [2; 4]));
        assert!(cell.publish(|v| *v = [3; 4]));
        assert!(cell.read_newer(&mut seen, |v| got = *v));
        assert_eq!(got, [3; 4], "the reader gets the newest, not every value");
    }

    #[test]
    fn writer_skips_the_slot_the_reader_holds() {
        let cell = Latest::new(0u32);
        assert!(cell.publish(|v| *v = 1));
        let mut seen = 0;
        // While the reader holds the published slot, the writer can still
        // publish once (into the other slot), but not a second time.
        cell.read_newer(&mut seen, |v| {
            assert_eq!(*v, 1);
            assert!(cell.publish(|v| *v = 2));
            assert!(
                !cell.publish(|v| *v = 3),
                "would overwrite the slot being read"
            );
        });
        assert!(cell.read_newer(&mut seen, |v| assert_eq!(*v, 2)));
        assert!(cell.publish(|v| *v = 3));
        assert!(cell.read_newer(&mut seen, |v| assert_eq!(*v, 3)));
    }

    /// Two threads hammer the cell; every value the reader sees must be
    /// whole (all words equal) and generations must only grow.
    #[test]
    fn concurrent_reads_never_see_a_torn_value() {
        const WORDS: usize = 64;
        let cell = Arc::new(Latest::new([0u64; WORDS]));
        let writer = {
            let cell = Arc::clone(&cell);
            std::thread::spawn(move || {
                let mut n = 0u64;
                let mut skipped = 0u64;
                while n < 200_000 {
                    if cell.publish(|v| {
                        for w in v.iter_mut() {
                            *w = n + 1;
                        }
                    }) {
                        n += 1;
                    } else {
                        skipped += 1;
                    }
                }
                skipped
            })
        };
        let mut seen = 0;
        let mut last = 0;
        let mut reads = 0u64;
        while last < 200_000 {
            cell.read_newer(&mut seen, |v| {
                let first = v[0];
                assert!(v.iter().all(|&w| w == first), "torn read: {v:?}");
                assert!(first > last, "went back from {last} to {first}");
                last = first;
                reads += 1;
            });
        }
        let _ = writer.join().unwrap();
        assert!(reads > 0);
    }
}
