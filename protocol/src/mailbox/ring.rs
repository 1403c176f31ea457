//! Single-producer single-consumer rings of fixed-size slots inside the region.
//!
//! ```text
//! offset +0    head: u64   frames ever published (written only by the producer)
//! offset +64   tail: u64   frames ever consumed  (written only by the consumer)
//! offset +128  slot[0] .. slot[count-1], each `slot_size` bytes:
//!              len: u64, then `len` payload bytes (zero-padded to a word)
//! ```
//!
//! Head and tail sit on separate cache lines so the two sides do not bounce
//! one line between them. Each side keeps its own index in private memory and
//! only *publishes* it to the region; the other side's index is read and
//! validated on every call (`head - tail` must lie in `0..=count`), so a
//! scribbled index yields [`RingError::CorruptIndex`], never an out-of-range
//! slot access. A frame length larger than the slot is skipped and counted.
//!
//! Ordering: the producer writes the slot with relaxed stores and publishes
//! with a release store of `head`; the consumer loads `head` with acquire
//! before reading the slot and releases the slot with a release store of
//! `tail`, which the producer loads with acquire before reusing the slot.

use super::raw::{Region, WORD};
use core::sync::atomic::Ordering;

/// Bytes before the first slot: head and tail on their own cache lines.
pub const RING_HEADER_BYTES: usize = 128;
const HEAD: usize = 0;
const TAIL: usize = 64;

/// Where a ring lives and how it is cut into slots; taken from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingDesc {
    pub offset: usize,
    pub slot_size: usize,
    pub slot_count: usize,
}

impl RingDesc {
    /// Total bytes of the ring part, header included.
    pub const fn bytes(&self) -> usize {
        RING_HEADER_BYTES + self.slot_size * self.slot_count
    }

    /// Largest payload one slot carries.
    pub const fn max_payload(&self) -> usize {
        self.slot_size - WORD
    }

    fn head_off(&self) -> usize {
        self.offset + HEAD
    }

    fn tail_off(&self) -> usize {
        self.offset + TAIL
    }

    fn slot_off(&self, index: u64) -> usize {
        // `slot_count` is non-zero (validated by the layout), and the result is
        // below `slot_count`, so the multiplication stays inside the ring.
        self.offset + RING_HEADER_BYTES + (index % self.slot_count as u64) as usize * self.slot_size
    }
}

/// Why a ring operation did nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingError {
    /// No free slot (producer) — try again later or count a drop.
    Full,
    /// The payload does not fit in one slot.
    TooLarge,
    /// The other side's index is impossible (`head - tail` outside `0..=count`).
    CorruptIndex,
    /// A frame claimed a length larger than its slot; it was skipped.
    Oversize,
    /// The caller's buffer is smaller than the frame; nothing was consumed.
    BufferTooSmall,
    /// The region is shorter than the ring descriptor claims.
    OutOfRegion,
}

/// Counters a ring endpoint keeps about what it refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingStats {
    pub frames: u64,
    pub full: u64,
    pub corrupt_index: u64,
    pub oversize: u64,
}

/// The writing end of a ring. Exactly one may exist per ring.
#[derive(Debug)]
pub struct Producer {
    region: Region,
    desc: RingDesc,
    head: u64,
    pub stats: RingStats,
}

impl Producer {
    /// Takes over the producer side, continuing from the head in the region
    /// (so a restarted producer does not replay or skip). An impossible head
    /// is reset to the consumer's tail.
    pub fn attach(region: Region, desc: RingDesc) -> Producer {
        let head = region.load(desc.head_off(), Ordering::Acquire).unwrap_or(0);
        let tail = region.load(desc.tail_off(), Ordering::Acquire).unwrap_or(0);
        let mut p = Producer {
            region,
            desc,
            head,
            stats: RingStats::default(),
        };
        if head.wrapping_sub(tail) > desc.slot_count as u64 {
            p.head = tail;
            region.store(desc.head_off(), tail, Ordering::Release);
        }
        p
    }

    /// Publishes one frame.
    pub fn try_send(&mut self, payload: &[u8]) -> Result<(), RingError> {
        if payload.len() > self.desc.max_payload() {
            return Err(RingError::TooLarge);
        }
        let tail = self
            .region
            .load(self.desc.tail_off(), Ordering::Acquire)
            .ok_or(RingError::OutOfRegion)?;
        let used = self.head.wrapping_sub(tail);
        if used > self.desc.slot_count as u64 {
            self.stats.corrupt_index += 1;
            return Err(RingError::CorruptIndex);
        }
        if used == self.desc.slot_count as u64 {
            self.stats.full += 1;
            return Err(RingError::Full);
        }
        let slot = self.desc.slot_off(self.head);
        if !self.region.write_bytes(slot + WORD, payload) {
            return Err(RingError::OutOfRegion);
        }
        self.region
            .store(slot, payload.len() as u64, Ordering::Relaxed);
        self.head = self.head.wrapping_add(1);
        self.region
            .store(self.desc.head_off(), self.head, Ordering::Release);
        self.stats.frames += 1;
        Ok(())
    }

    /// Free slots as of now.
    pub fn free(&self) -> usize {
        let tail = self
            .region
            .load(self.desc.tail_off(), Ordering::Acquire)
            .unwrap_or(self.head);
        (self.desc.slot_count as u64).saturating_sub(self.head.wrapping_sub(tail)) as usize
    }

    pub fn desc(&self) -> RingDesc {
        self.desc
    }
}

/// The reading end of a ring. Exactly one may exist per ring.
#[derive(Debug)]
pub struct Consumer {
    region: Region,
    desc: RingDesc,
    tail: u64,
    pub stats: RingStats,
}

impl Consumer {
    /// Takes over the consumer side, continuing from the tail in the region.
    pub fn attach(region: Region, desc: RingDesc) -> Consumer {
        let tail = region.load(desc.tail_off(), Ordering::Acquire).unwrap_or(0);
        Consumer {
            region,
            desc,
            tail,
            stats: RingStats::default(),
        }
    }

    /// Drops everything pending: tail := head. Used after a corrupt index or
    /// when a fresh reader wants only new frames.
    pub fn skip_to_head(&mut self) {
        if let Some(head) = self.region.load(self.desc.head_off(), Ordering::Acquire) {
            self.tail = head;
            self.region
                .store(self.desc.tail_off(), head, Ordering::Release);
        }
    }

    /// Frames waiting, or `CorruptIndex`.
    pub fn pending(&self) -> Result<usize, RingError> {
        let head = self
            .region
            .load(self.desc.head_off(), Ordering::Acquire)
            .ok_or(RingError::OutOfRegion)?;
        let avail = head.wrapping_sub(self.tail);
        if avail > self.desc.slot_count as u64 {
            return Err(RingError::CorruptIndex);
        }
        Ok(avail as usize)
    }

    /// Takes the next frame into `buf`, returning the filled prefix, or
    /// `Ok(None)` when the ring is empty.
    pub fn try_recv<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, RingError> {
        let avail = match self.pending() {
            Ok(n) => n,
            Err(e) => {
                if e == RingError::CorruptIndex {
                    self.stats.corrupt_index += 1;
                }
                return Err(e);
            }
        };
        if avail == 0 {
            return Ok(None);
        }
        let slot = self.desc.slot_off(self.tail);
        let len = self
            .region
            .load(slot, Ordering::Relaxed)
            .ok_or(RingError::OutOfRegion)?;
        if len > self.desc.max_payload() as u64 {
            self.stats.oversize += 1;
            self.release_slot();
            return Err(RingError::Oversize);
        }
        let len = len as usize;
        let Some(dst) = buf.get_mut(..len) else {
            return Err(RingError::BufferTooSmall);
        };
        if !self.region.read_bytes(slot + WORD, dst) {
            return Err(RingError::OutOfRegion);
        }
        self.release_slot();
        self.stats.frames += 1;
        Ok(Some(&buf[..len]))
    }

    fn release_slot(&mut self) {
        self.tail = self.tail.wrapping_add(1);
        self.region
            .store(self.desc.tail_off(), self.tail, Ordering::Release);
    }

    pub fn desc(&self) -> RingDesc {
        self.desc
    }
}

/// Zeroes the ring's indices (the owner of the region does this at format time).
pub(crate) fn format(region: &Region, desc: RingDesc) -> bool {
    region.zero(desc.offset, desc.bytes())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::mailbox::raw::TestMem;

    #[test]
    fn frames_round_trip_and_wrap() {
        let mem = TestMem::new(8192);
        let r = mem.region();
        let desc = RingDesc {
            offset: 0,
            slot_size: 64,
            slot_count: 4,
        };
        assert!(format(&r, desc));
        let mut p = Producer::attach(r, desc);
        let mut c = Consumer::attach(r, desc);
        let mut buf = [0u8; 56];
        for round in 0u32..10 {
            for i in 0..4u32 {
                let msg = (round * 4 + i).to_le_bytes();
                p.try_send(&msg).unwrap();
            }
            assert_eq!(p.try_send(b"x"), Err(RingError::Full));
            for i in 0..4u32 {
                let got = c.try_recv(&mut buf).unwrap().unwrap();
                assert_eq!(got, &(round * 4 + i).to_le_bytes());
            }
            assert_eq!(c.try_recv(&mut buf), Ok(None));
        }
        assert_eq!(p.try_send(&[0u8; 57]), Err(RingError::TooLarge));
        p.try_send(&[1u8; 56]).unwrap();
        let mut small = [0u8; 10];
        assert_eq!(c.try_recv(&mut small), Err(RingError::BufferTooSmall));
        assert_eq!(c.try_recv(&mut buf).unwrap().unwrap(), &[1u8; 56][..]);
    }

    #[test]
    fn scribbled_indices_and_lengths_are_rejected() {
        let mem = TestMem::new(8192);
        let r = mem.region();
        let desc = RingDesc {
            offset: 0,
            slot_size: 64,
            slot_count: 4,
        };
        format(&r, desc);
        let mut c = Consumer::attach(r, desc);
        let mut buf = [0u8; 56];
        r.store(desc.head_off(), 1_000_000, Ordering::Relaxed);
        assert_eq!(c.try_recv(&mut buf), Err(RingError::CorruptIndex));
        assert_eq!(c.stats.corrupt_index, 1);
        r.store(desc.head_off(), 1, Ordering::Relaxed);
        r.store(desc.slot_off(0), u64::MAX, Ordering::Relaxed);
        assert_eq!(c.try_recv(&mut buf), Err(RingError::Oversize));
        assert_eq!(c.try_recv(&mut buf), Ok(None));
        // A producer facing an impossible tail refuses instead of overwriting.
        let mut p = Producer::attach(r, desc);
        r.store(desc.tail_off(), 99, Ordering::Relaxed);
        assert_eq!(p.try_send(b"x"), Err(RingError::CorruptIndex));
    }
}
