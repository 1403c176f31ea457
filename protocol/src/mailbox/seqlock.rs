//! Seqlock-protected snapshots: one writer (the appliance) republishes a
//! block of words; readers copy it out and keep the copy only if the sequence
//! word was even and unchanged around the copy.
//!
//! ```text
//! offset +0   seq: u64       odd while a write is in progress
//! offset +8   used: u64      payload words written by the last publish
//! offset +16  checksum: u64  over `used` and the payload words
//! offset +24  payload words[capacity]
//! ```
//!
//! The writer keeps its sequence number privately, so a reader scribbling on
//! `seq` cannot confuse it. Readers retry a bounded number of times and then
//! report [`SnapshotError::Busy`]: a writer that died mid-publish (the seq
//! stays odd) must not hang the reader. The checksum catches a region that
//! was never written or was overwritten by something other than the writer.
//!
//! Orders: writer `seq=odd` (relaxed), release fence, payload (relaxed),
//! `seq=even` (release). Reader `seq` (acquire), payload (relaxed), acquire
//! fence, `seq` (relaxed) — the standard fence-based seqlock.

use super::raw::{Region, WORD};
use core::sync::atomic::{fence, Ordering};

/// Words before the payload.
pub const SNAPSHOT_HEADER_WORDS: usize = 3;
/// How often a reader retries a snapshot that is being written.
pub const READ_ATTEMPTS: usize = 10_000;

/// Where a snapshot lives: offset of its `seq` word and payload capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotDesc {
    pub offset: usize,
    pub capacity_words: usize,
}

impl SnapshotDesc {
    pub const fn bytes(&self) -> usize {
        (SNAPSHOT_HEADER_WORDS + self.capacity_words) * WORD
    }
    fn payload(&self) -> usize {
        self.offset + SNAPSHOT_HEADER_WORDS * WORD
    }
}

/// Why a snapshot could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotError {
    /// The writer kept the snapshot busy for every attempt (or died mid-write).
    Busy,
    /// The payload did not match its checksum.
    Checksum,
    /// `used` exceeds the capacity, or the caller's scratch is too small.
    BadLength,
    /// More words were pushed than the snapshot holds.
    Overflow,
    /// The descriptor points outside the region.
    OutOfRegion,
    /// Never published since the region was formatted.
    Empty,
    /// The words were intact but did not decode as this snapshot kind.
    Malformed,
    /// This end no longer writes the snapshot: its writer was handed out
    /// (the panic report's, to a `PanicReporter`).
    Detached,
}

/// The single writer of one snapshot.
#[derive(Debug)]
pub struct SnapshotWriter {
    region: Region,
    desc: SnapshotDesc,
    seq: u64,
}

/// Collects the payload words of one publish, storing them straight into the region.
pub struct WordSink<'a> {
    region: &'a Region,
    desc: SnapshotDesc,
    used: usize,
    overflow: bool,
    acc: [u64; 1],
}

impl WordSink<'_> {
    /// Appends one word; past the capacity the word is dropped and the publish fails.
    pub fn push(&mut self, word: u64) {
        if self.used >= self.desc.capacity_words {
            self.overflow = true;
            return;
        }
        self.region.store(
            self.desc.payload() + self.used * WORD,
            word,
            Ordering::Relaxed,
        );
        self.acc[0] = (self.acc[0].rotate_left(5) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.used += 1;
    }

    /// Appends `n` zero words (fixed-size records with nothing to say).
    pub fn push_zeros(&mut self, n: usize) {
        for _ in 0..n {
            self.push(0);
        }
    }

    /// Room left, in words.
    pub fn remaining(&self) -> usize {
        self.desc.capacity_words - self.used
    }
}

impl SnapshotWriter {
    /// Becomes the writer of `desc`; the snapshot reads as [`SnapshotError::Empty`] until the first publish.
    pub fn new(region: Region, desc: SnapshotDesc) -> SnapshotWriter {
        region.zero(desc.offset, SNAPSHOT_HEADER_WORDS * WORD);
        SnapshotWriter {
            region,
            desc,
            seq: 0,
        }
    }

    /// Republishes the snapshot with the words `fill` pushes.
    pub fn publish(
        &mut self,
        fill: impl FnOnce(&mut WordSink<'_>),
    ) -> Result<usize, SnapshotError> {
        if self
            .desc
            .offset
            .checked_add(self.desc.bytes())
            .is_none_or(|end| end > self.region.len())
        {
            return Err(SnapshotError::OutOfRegion);
        }
        self.seq = self.seq.wrapping_add(1) | 1;
        self.region
            .store(self.desc.offset, self.seq, Ordering::Relaxed);
        fence(Ordering::Release);
        let mut sink = WordSink {
            region: &self.region,
            desc: self.desc,
            used: 0,
            overflow: false,
            acc: [0],
        };
        sink.acc[0] = 0x5EC1_0C4B;
        fill(&mut sink);
        let used = sink.used;
        let overflow = sink.overflow;
        // The checksum seeds with the length, which is only known now: fold it in last.
        let sum = finish_checksum(sink.acc[0], used);
        self.region
            .store(self.desc.offset + WORD, used as u64, Ordering::Relaxed);
        self.region
            .store(self.desc.offset + 2 * WORD, sum, Ordering::Relaxed);
        self.seq = self.seq.wrapping_add(1);
        self.region
            .store(self.desc.offset, self.seq, Ordering::Release);
        if overflow {
            Err(SnapshotError::Overflow)
        } else {
            Ok(used)
        }
    }
}

fn finish_checksum(acc: u64, used: usize) -> u64 {
    (acc ^ (used as u64).wrapping_mul(0xA24B_AED4_963E_E407)).rotate_left(17)
}

/// Checksum of a payload as the writer computes it (multiplicative mixing;
/// it only has to catch accidents and garbage, not adversaries — an adversary
/// can also write a valid snapshot, which decoding then validates).
pub fn payload_checksum(words: &[u64]) -> u64 {
    let mut acc = 0x5EC1_0C4B_u64;
    for &w in words {
        acc = (acc.rotate_left(5) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    finish_checksum(acc, words.len())
}

/// Copies a consistent snapshot into `scratch`, returning the used prefix.
pub fn read<'s>(
    region: &Region,
    desc: SnapshotDesc,
    scratch: &'s mut [u64],
) -> Result<&'s [u64], SnapshotError> {
    if desc
        .offset
        .checked_add(desc.bytes())
        .is_none_or(|end| end > region.len())
    {
        return Err(SnapshotError::OutOfRegion);
    }
    for _ in 0..READ_ATTEMPTS {
        let s1 = region
            .load(desc.offset, Ordering::Acquire)
            .ok_or(SnapshotError::OutOfRegion)?;
        if s1 & 1 == 1 {
            core::hint::spin_loop();
            continue;
        }
        let used = region
            .load(desc.offset + WORD, Ordering::Relaxed)
            .ok_or(SnapshotError::OutOfRegion)?;
        let sum = region
            .load(desc.offset + 2 * WORD, Ordering::Relaxed)
            .ok_or(SnapshotError::OutOfRegion)?;
        let n = (used as usize).min(desc.capacity_words).min(scratch.len());
        let Some(dst) = scratch.get_mut(..n) else {
            return Err(SnapshotError::BadLength);
        };
        if !region.read_words(desc.payload(), dst) {
            return Err(SnapshotError::OutOfRegion);
        }
        fence(Ordering::Acquire);
        let s2 = region
            .load(desc.offset, Ordering::Relaxed)
            .ok_or(SnapshotError::OutOfRegion)?;
        if s1 != s2 {
            core::hint::spin_loop();
            continue;
        }
        if s1 == 0 {
            return Err(SnapshotError::Empty);
        }
        if used as usize != n {
            return Err(SnapshotError::BadLength);
        }
        let words = &scratch[..n];
        if payload_checksum(words) != sum {
            return Err(SnapshotError::Checksum);
        }
        return Ok(words);
    }
    Err(SnapshotError::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_then_read_and_detect_damage() {
        let mem = crate::mailbox::raw::TestMem::new(8192);
        let r = mem.region();
        let desc = SnapshotDesc {
            offset: 64,
            capacity_words: 16,
        };
        let mut w = SnapshotWriter::new(r, desc);
        let mut scratch = [0u64; 16];
        assert_eq!(read(&r, desc, &mut scratch), Err(SnapshotError::Empty));
        w.publish(|s| (1..=5).for_each(|i| s.push(i))).unwrap();
        assert_eq!(read(&r, desc, &mut scratch).unwrap(), &[1, 2, 3, 4, 5]);
        assert_eq!(
            w.publish(|s| (0..17).for_each(|i| s.push(i))),
            Err(SnapshotError::Overflow)
        );
        // Damage a payload word behind the writer's back.
        r.store(desc.payload(), 99, Ordering::Relaxed);
        assert_eq!(read(&r, desc, &mut scratch), Err(SnapshotError::Checksum));
        // A writer stuck mid-publish: the reader gives up instead of hanging.
        r.store(desc.offset, 7, Ordering::Relaxed);
        assert_eq!(read(&r, desc, &mut scratch), Err(SnapshotError::Busy));
        // Garbage length.
        w.publish(|s| s.push(1)).unwrap();
        r.store(desc.offset + WORD, u64::MAX, Ordering::Relaxed);
        assert_eq!(read(&r, desc, &mut scratch), Err(SnapshotError::BadLength));
    }
}
