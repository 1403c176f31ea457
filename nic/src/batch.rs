//! A batch of packet buffers in caller-provided, fixed-capacity storage.
//!
//! A receive call fills a batch at the back; the caller drains it from the
//! front (or hands it to a transmit call, which drains it from the front).
//! That is all a batch does, so it is not a ring: the live packets are the
//! slots `start..end`, filling appends at `end`, draining takes at `start`,
//! and an emptied batch starts again at slot 0. Every operation is an index
//! check, a 16-byte move and an increment — no modular arithmetic and no
//! full/empty flag as in a general double-ended queue, which cost a third of
//! the driver's instructions per packet when batches were `heapless::Deque`.
//! Slots hold `Option<PacketBuf>` (the same size as `PacketBuf`), so the batch
//! needs no unsafe code and dropping it returns every buffer to its pool.

use crate::mempool::PacketBuf;

pub struct PacketBatch<'p, const N: usize> {
    slots: [Option<PacketBuf<'p>>; N],
    /// First live slot.
    start: usize,
    /// One past the last live slot; `start <= end <= N`.
    end: usize,
}

impl<'p, const N: usize> PacketBatch<'p, N> {
    pub const fn new() -> Self {
        PacketBatch {
            slots: [const { None }; N],
            start: 0,
            end: 0,
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len() == N
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    /// Appends `buf`; hands it back when the batch is full.
    #[inline(always)]
    pub fn push_back(&mut self, buf: PacketBuf<'p>) -> Result<(), PacketBuf<'p>> {
        if self.end == N {
            if self.start == 0 {
                return Err(buf);
            }
            self.compact();
        }
        match self.slots.get_mut(self.end) {
            Some(slot) => {
                // Slots past `end` are always empty: nothing to drop there,
                // so skip the check an assignment would make.
                let old = slot.replace(buf);
                debug_assert!(old.is_none());
                core::mem::forget(old);
                self.end += 1;
                Ok(())
            }
            None => Err(buf),
        }
    }

    /// Takes the oldest packet.
    #[inline(always)]
    pub fn pop_front(&mut self) -> Option<PacketBuf<'p>> {
        if self.start == self.end {
            return None;
        }
        let buf = self.slots.get_mut(self.start).and_then(Option::take);
        self.start += 1;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        buf
    }

    /// Puts `buf` back in front (a transmit call returning what its ring
    /// could not take); hands it back when the batch is full.
    pub fn push_front(&mut self, buf: PacketBuf<'p>) -> Result<(), PacketBuf<'p>> {
        if self.start == 0 {
            if self.end == N {
                return Err(buf);
            }
            // Make room at slot 0: move the live slots up by one.
            self.slots[..=self.end].rotate_right(1);
            self.end += 1;
        } else {
            self.start -= 1;
        }
        self.slots[self.start] = Some(buf);
        Ok(())
    }

    /// The oldest packet, without taking it.
    pub fn front(&self) -> Option<&PacketBuf<'p>> {
        if self.is_empty() {
            return None;
        }
        self.slots.get(self.start).and_then(Option::as_ref)
    }

    /// Drops every packet (their buffers go back to their pools).
    pub fn clear(&mut self) {
        for slot in &mut self.slots[self.start..self.end] {
            *slot = None;
        }
        self.start = 0;
        self.end = 0;
    }

    /// Packets oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &PacketBuf<'p>> {
        self.slots[self.start..self.end].iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut PacketBuf<'p>> {
        self.slots[self.start..self.end].iter_mut().flatten()
    }

    /// The empty slots behind the live packets, for a receive call to fill
    /// in place, front to back, without a capacity check per packet: all
    /// `N - len()` of them (a partly drained front is moved to slot 0
    /// first). The call then makes the filled ones live with
    /// [`PacketBatch::filled`].
    #[inline(always)]
    pub(crate) fn spare_mut(&mut self) -> &mut [Option<PacketBuf<'p>>] {
        if self.start != 0 {
            self.compact();
        }
        self.slots.get_mut(self.end..).unwrap_or_default()
    }

    /// The first `n` slots of [`PacketBatch::spare_mut`] were filled: they
    /// become the newest packets.
    #[inline(always)]
    pub(crate) fn filled(&mut self, n: usize) {
        debug_assert!(n <= N - self.end);
        self.end = (self.end + n).min(N);
    }

    /// The live slots, oldest first, for a transmit call to take packets
    /// from without a check per packet; it then drops the slots it emptied
    /// with [`PacketBatch::drained`].
    #[inline(always)]
    pub(crate) fn live_mut(&mut self) -> &mut [Option<PacketBuf<'p>>] {
        self.slots.get_mut(self.start..self.end).unwrap_or_default()
    }

    /// The oldest `n` live slots were emptied (taken from
    /// [`PacketBatch::live_mut`]): they are no longer part of the batch.
    #[inline(always)]
    pub(crate) fn drained(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start >= self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Moves the live slots to the front (only when appending to a batch
    /// whose front was partly drained and whose back is at the end).
    fn compact(&mut self) {
        let len = self.len();
        self.slots.rotate_left(self.start);
        self.start = 0;
        self.end = len;
    }
}

impl<const N: usize> Default for PacketBatch<'_, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for PacketBatch<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dma::HeapDma;
    use crate::mempool::Mempool;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::vec::Vec;

    /// Random pushes (back and front), pops and clears against `VecDeque`:
    /// same packets in the same order, and every buffer back in the pool at
    /// the end.
    #[derive(Debug, Clone)]
    enum Op {
        PushBack,
        PushFront,
        Pop,
        Clear,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => Just(Op::PushBack),
            1 => Just(Op::PushFront),
            4 => Just(Op::Pop),
            1 => Just(Op::Clear),
        ]
    }

    proptest! {
        #[test]
        fn behaves_as_a_bounded_fifo(ops in proptest::collection::vec(op(), 0..200)) {
            let pool = Mempool::new(&mut HeapDma::default(), 64, 2048).unwrap();
            let total = pool.free_count();
            {
                let mut batch: PacketBatch<'_, 8> = PacketBatch::new();
                let mut model: VecDeque<u32> = VecDeque::new();
                for op in ops {
                    match op {
                        Op::PushBack | Op::PushFront => {
                            let buf = pool.alloc().unwrap();
                            let index = buf.index();
                            let r = if matches!(op, Op::PushBack) {
                                batch.push_back(buf)
                            } else {
                                batch.push_front(buf)
                            };
                            if model.len() == 8 {
                                prop_assert!(r.is_err());
                            } else {
                                prop_assert!(r.is_ok());
                                if matches!(op, Op::PushBack) {
                                    model.push_back(index);
                                } else {
                                    model.push_front(index);
                                }
                            }
                        }
                        Op::Pop => {
                            prop_assert_eq!(batch.pop_front().map(|b| b.index()), model.pop_front());
                        }
                        Op::Clear => {
                            batch.clear();
                            model.clear();
                        }
                    }
                    prop_assert_eq!(batch.len(), model.len());
                    prop_assert_eq!(batch.is_full(), model.len() == 8);
                    prop_assert_eq!(batch.front().map(|b| b.index()), model.front().copied());
                    let seen: Vec<u32> = batch.iter().map(|b| b.index()).collect();
                    prop_assert_eq!(seen, model.iter().copied().collect::<Vec<_>>());
                }
            }
            prop_assert_eq!(pool.free_count(), total, "every buffer returned");
        }
    }

    #[test]
    fn an_emptied_batch_starts_over_and_a_partly_drained_one_compacts() {
        let pool = Mempool::new(&mut HeapDma::default(), 16, 2048).unwrap();
        let mut batch: PacketBatch<'_, 4> = PacketBatch::new();
        for _ in 0..4 {
            batch.push_back(pool.alloc().unwrap()).unwrap();
        }
        assert!(batch.push_back(pool.alloc().unwrap()).is_err());
        let first = batch.pop_front().unwrap().index();
        // Back at the end, front drained by one: appending compacts.
        let extra = pool.alloc().unwrap();
        let extra_index = extra.index();
        batch.push_back(extra).unwrap();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch.iter().last().map(|b| b.index()), Some(extra_index));
        assert_ne!(batch.front().map(|b| b.index()), Some(first));
        while batch.pop_front().is_some() {}
        assert!(batch.is_empty());
        assert_eq!(pool.free_count(), 16);
    }
}
