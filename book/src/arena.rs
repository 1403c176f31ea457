//! Storage for the sorted level arrays of every instrument side: one buddy
//! arena of `u64` entries, allocated once.
//!
//! Each side of each instrument keeps its levels in one contiguous segment
//! of the arena (see [`crate::Book`]). Segments hold `BLOCK << order`
//! entries; a side whose array fills up doubles its segment in place (when
//! the buddy above it is free) or moves to one twice the size, one that
//! falls to a quarter gives back the upper half of its segment, and an empty
//! side keeps one block for its next level (compaction takes it back).
//! Segments never hold pointers, only (key, level) pairs, so moving one is a
//! copy.
//!
//! Why a buddy allocator: sides need very different and changing amounts of
//! room (a busy name hundreds of levels, most a dozen), and a pool of one
//! size would either waste most of its memory or fail. Power-of-two segments
//! split from and merge back into their buddies, so freed room becomes
//! usable for every size again, and allocation and release cost at most one
//! step per order (≤ 30), with no search.
//!
//! A buddy arena can still fragment: free room scattered in blocks whose
//! buddies are in use, none large enough for a side that must grow. Since
//! segments hold no pointers, the book then compacts: every live segment is
//! copied, largest first, into a second buffer of the same size (each lands
//! on a multiple of its own size, so the layout is a valid buddy layout),
//! the buffers swap, and everything after the last segment is free again in
//! the largest aligned pieces. That is a pause (two passes over the
//! 131,072 sides, the copies, one pass over the per-block table), on a
//! pattern no real day produces, instead of a refused level; the second
//! buffer is never touched otherwise.
//!
//! Free segments are kept in one doubly linked list per order, threaded
//! through their own first entry (next in the low half, previous in the high
//! half); `free_order` records, per block, the order + 1 of the free segment
//! that starts there (0: none), which is what merging consults.

use alloc::boxed::Box;
use alloc::vec;

use crate::map::NIL;

/// Entries in the smallest segment: one cache line.
pub(crate) const BLOCK: usize = 8;

/// Orders above this are never needed (`BLOCK << 26` entries is 512 Mi).
pub(crate) const MAX_ORDER: usize = 26;

pub(crate) struct Arena {
    /// `base..` is the arena proper: `base` skips to the first entry on a
    /// cache-line boundary, so that every block is exactly one line.
    entries: Box<[u64]>,
    base: usize,
    /// The buffer compaction copies into (then swapped with `entries`).
    spare: Box<[u64]>,
    spare_base: usize,
    /// Compaction under way: where the next segment of each order goes,
    /// and the blocks all packed segments take.
    pack_at: [u32; MAX_ORDER + 1],
    packed: u32,
    /// Per order, the first free segment (block index) or `NIL`.
    free_head: [u32; MAX_ORDER + 1],
    /// Per block: order + 1 of the free segment starting there, or 0.
    free_order: Box<[u8]>,
    /// Order of the whole arena.
    top: u8,
}

#[inline(always)]
fn links(next: u32, prev: u32) -> u64 {
    next as u64 | (prev as u64) << 32
}

impl Arena {
    /// Index in `entries` of the first entry of `block`.
    #[inline(always)]
    fn start(&self, block: u32) -> usize {
        self.base + block as usize * BLOCK
    }

    /// An arena of at least `entries` entries (rounded up to a power of two
    /// number of blocks, at least one).
    pub(crate) fn with_entries(entries: usize) -> Arena {
        let blocks = Self::blocks_for(entries);
        let (entries, base) = Self::buffer(blocks);
        let (spare, spare_base) = Self::buffer(blocks);
        let mut arena = Arena {
            entries,
            base,
            spare,
            spare_base,
            pack_at: [0; MAX_ORDER + 1],
            packed: 0,
            free_head: [NIL; MAX_ORDER + 1],
            free_order: vec![0; blocks].into_boxed_slice(),
            top: blocks.trailing_zeros() as u8,
        };
        arena.clear();
        arena
    }

    /// A buffer of `blocks` blocks and the offset of its first line-aligned entry.
    fn buffer(blocks: usize) -> (Box<[u64]>, usize) {
        let buffer: Box<[u64]> = vec![0; blocks * BLOCK + BLOCK - 1].into_boxed_slice();
        let misalign = buffer.as_ptr() as usize % (BLOCK * 8);
        (buffer, (BLOCK * 8 - misalign) % (BLOCK * 8) / 8)
    }

    fn blocks_for(entries: usize) -> usize {
        entries
            .div_ceil(BLOCK)
            .next_power_of_two()
            .clamp(1, 1 << MAX_ORDER)
    }

    pub(crate) fn memory_bytes_for(entries: usize) -> usize {
        let blocks = Self::blocks_for(entries);
        2 * (blocks * BLOCK + BLOCK - 1) * core::mem::size_of::<u64>() + blocks
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        (self.entries.len() + self.spare.len()) * core::mem::size_of::<u64>()
            + self.free_order.len()
    }

    /// Starts a compaction given how many live segments there are of each
    /// order: the largest go first, so that each lands on a multiple of its
    /// size. The caller then hands every live segment to [`Arena::pack`]
    /// (in any order) and ends with [`Arena::finish_packing`].
    pub(crate) fn start_packing(&mut self, segments: &[u32; MAX_ORDER + 1]) {
        let mut at = 0u32;
        for order in (0..=MAX_ORDER).rev() {
            self.pack_at[order] = at;
            at = at.saturating_add(segments[order].saturating_mul(1 << order));
        }
        self.packed = at;
    }

    /// Copies the first `len` entries of live segment `block` of `order`
    /// into its place in the new layout; gives its new block.
    pub(crate) fn pack(&mut self, block: u32, order: u8, len: usize) -> u32 {
        let Some(next) = self.pack_at.get_mut(order as usize) else {
            return block;
        };
        let to = *next;
        *next += 1 << order;
        let from = self.start(block);
        let into = self.spare_base + to as usize * BLOCK;
        if let (Some(src), Some(dst)) = (
            self.entries.get(from..from + len),
            self.spare.get_mut(into..into + len),
        ) {
            dst.copy_from_slice(src);
        }
        to
    }

    /// Makes the packed layout the arena: everything after the last packed
    /// segment is free, in the largest aligned segments that fit.
    pub(crate) fn finish_packing(&mut self) {
        core::mem::swap(&mut self.entries, &mut self.spare);
        core::mem::swap(&mut self.base, &mut self.spare_base);
        self.free_head = [NIL; MAX_ORDER + 1];
        self.free_order.fill(0);
        let total = 1u32 << self.top;
        let mut at = self.packed;
        while at < total {
            let mut order = at.trailing_zeros().min(self.top as u32) as u8;
            while at + (1 << order) > total {
                order -= 1;
            }
            self.push(at, order);
            at += 1 << order;
        }
    }

    /// Everything free again: one segment of the top order.
    pub(crate) fn clear(&mut self) {
        self.free_head = [NIL; MAX_ORDER + 1];
        self.free_order.fill(0);
        self.push(0, self.top);
    }

    /// The entries of the segment starting at `block`, `len` of them.
    #[inline(always)]
    pub(crate) fn get(&self, block: u32, len: usize) -> &[u64] {
        let start = self.start(block);
        self.entries.get(start..start + len).unwrap_or(&[])
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, block: u32, len: usize) -> &mut [u64] {
        let start = self.start(block);
        self.entries.get_mut(start..start + len).unwrap_or(&mut [])
    }

    /// Copies the first `len` entries of segment `from` to segment `to`.
    #[inline]
    pub(crate) fn copy(&mut self, from: u32, to: u32, len: usize) {
        let start = self.start(from);
        let to = self.start(to);
        if start + len <= self.entries.len() && to + len <= self.entries.len() {
            self.entries.copy_within(start..start + len, to);
        }
    }

    /// Starts loading the line holding entry `at` of the segment at `block`.
    #[inline(always)]
    pub(crate) fn prefetch(&self, block: u32, at: usize) {
        if let Some(entry) = self.entries.get(self.start(block) + at) {
            crate::prefetch::prefetch(entry);
        }
    }

    /// A free segment of `BLOCK << order` entries (its first block), or
    /// `None` when no free segment of that order or above is left.
    pub(crate) fn alloc(&mut self, order: u8) -> Option<u32> {
        let mut from = order;
        while self.free_head.get(from as usize)? == &NIL {
            from += 1;
        }
        let block = self.free_head[from as usize];
        self.unlink(block, from);
        // Split down to the order asked for; the upper halves stay free.
        while from > order {
            from -= 1;
            self.push(block + (1 << from), from);
        }
        Some(block)
    }

    /// Doubles the segment at `block` of `order` where it stands if its
    /// buddy above it is free as a whole; false (nothing changed) if not.
    pub(crate) fn grow_in_place(&mut self, block: u32, order: u8) -> bool {
        let buddy = block ^ (1 << order);
        if buddy < block
            || order >= self.top
            || self.free_order.get(buddy as usize) != Some(&(order + 1))
        {
            return false;
        }
        self.unlink(buddy, order);
        true
    }

    /// Gives back the segment at `block` of `order` (from [`Arena::alloc`]),
    /// merging it with its buddy while the buddy is free as a whole.
    pub(crate) fn free(&mut self, block: u32, order: u8) {
        let (mut block, mut order) = (block, order);
        while order < self.top {
            let buddy = block ^ (1 << order);
            if self.free_order.get(buddy as usize) != Some(&(order + 1)) {
                break;
            }
            self.unlink(buddy, order);
            block = block.min(buddy);
            order += 1;
        }
        self.push(block, order);
    }

    fn push(&mut self, block: u32, order: u8) {
        let head = self.free_head[order as usize];
        if head != NIL {
            let at = self.start(head);
            self.entries[at] = links(self.entries[at] as u32, block);
        }
        let at = self.start(block);
        self.entries[at] = links(head, NIL);
        self.free_head[order as usize] = block;
        self.free_order[block as usize] = order + 1;
    }

    fn unlink(&mut self, block: u32, order: u8) {
        let word = self.entries[self.start(block)];
        let (next, prev) = (word as u32, (word >> 32) as u32);
        if prev == NIL {
            self.free_head[order as usize] = next;
        } else {
            let at = self.start(prev);
            self.entries[at] = links(next, (self.entries[at] >> 32) as u32);
        }
        if next != NIL {
            let at = self.start(next);
            self.entries[at] = links(self.entries[at] as u32, prev);
        }
        self.free_order[block as usize] = 0;
    }

    /// Entries in free segments (for tests).
    #[cfg(test)]
    pub(crate) fn free_entries(&self) -> usize {
        self.free_order
            .iter()
            .map(|&o| if o == 0 { 0 } else { BLOCK << (o - 1) })
            .sum()
    }

    /// Total entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.free_order.len() * BLOCK
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    struct Rng(u64);
    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn segments_never_overlap_and_everything_merges_back() {
        let mut arena = Arena::with_entries(BLOCK << 10);
        // Every block is one whole cache line.
        assert_eq!(arena.get(0, 1).as_ptr() as usize % (BLOCK * 8), 0);
        let total = arena.len();
        assert_eq!(arena.free_entries(), total);
        let mut rng = Rng(0x9E37_79B9);
        // (block, order, fill value) of every live segment.
        let mut live: Vec<(u32, u8, u64)> = Vec::new();
        let (mut grown, mut halved) = (0, 0);
        for step in 0..200_000u64 {
            if live.is_empty() || rng.below(100) < 55 {
                let order = rng.below(6) as u8;
                // Sometimes double a live segment in place instead.
                if rng.below(4) == 0 && !live.is_empty() {
                    let at = rng.below(live.len() as u64) as usize;
                    let (block, order, value) = live[at];
                    if arena.grow_in_place(block, order) {
                        let len = BLOCK << (order + 1);
                        arena.get_mut(block, len).fill(value);
                        live[at] = (block, order + 1, value);
                        grown += 1;
                    }
                } else if let Some(block) = arena.alloc(order) {
                    let len = BLOCK << order;
                    arena.get_mut(block, len).fill(step);
                    live.push((block, order, step));
                } else {
                    // Refused only when no free segment that large exists.
                    let largest = (order..=arena.top).any(|o| arena.free_head[o as usize] != NIL);
                    assert!(!largest, "step {step}: refused with room");
                }
            } else if rng.below(4) == 0 && live.iter().any(|&(_, o, _)| o > 0) {
                // Halve a live segment in place: its upper half goes back.
                let at = live.iter().position(|&(_, o, _)| o > 0).unwrap_or(0);
                let (block, order, value) = live[at];
                arena.free(block + (1 << (order - 1)), order - 1);
                live[at] = (block, order - 1, value);
                halved += 1;
            } else {
                let at = rng.below(live.len() as u64) as usize;
                let (block, order, value) = live.swap_remove(at);
                let len = BLOCK << order;
                // Nobody else wrote into it while it was live.
                assert!(
                    arena.get(block, len).iter().all(|&e| e == value),
                    "step {step}"
                );
                arena.free(block, order);
            }
            let used: usize = live.iter().map(|&(_, o, _)| BLOCK << o).sum();
            assert_eq!(used + arena.free_entries(), total, "step {step}");
        }
        assert!(grown > 1000 && halved > 1000, "{grown} {halved}");
        for (block, order, _) in live.drain(..) {
            arena.free(block, order);
        }
        // All merged back into the one top segment.
        assert_eq!(arena.free_head[arena.top as usize], 0);
        assert_eq!(arena.free_entries(), total);
        assert_eq!(arena.alloc(arena.top), Some(0));
        assert_eq!(arena.alloc(0), None);
    }

    #[test]
    fn packing_places_segments_largest_first_and_frees_the_rest_whole() {
        let mut arena = Arena::with_entries(BLOCK << 6);
        let total = arena.len();
        // Fragment it: orders 0..3 scattered, every other one freed.
        let mut live = Vec::new();
        for i in 0..40u64 {
            let order = (i % 3) as u8;
            if let Some(block) = arena.alloc(order) {
                let len = BLOCK << order;
                arena.get_mut(block, len).fill(i);
                live.push((block, order, i));
            }
        }
        let mut kept = Vec::new();
        for (n, seg) in live.into_iter().enumerate() {
            if n % 2 == 0 {
                arena.free(seg.0, seg.1);
            } else {
                kept.push(seg);
            }
        }
        let used: usize = kept.iter().map(|&(_, o, _)| BLOCK << o).sum();
        let mut segments = [0u32; MAX_ORDER + 1];
        for &(_, order, _) in &kept {
            segments[order as usize] += 1;
        }
        // Handed over smallest first: the layout must not depend on it.
        kept.sort_by_key(|&(_, o, _)| o);
        arena.start_packing(&segments);
        let moved: Vec<(u32, u8, u64)> = kept
            .iter()
            .map(|&(block, order, v)| (arena.pack(block, order, BLOCK << order), order, v))
            .collect();
        arena.finish_packing();
        for &(block, order, v) in &moved {
            assert_eq!(block % (1 << order), 0, "aligned to its size");
            assert!(arena.get(block, BLOCK << order).iter().all(|&e| e == v));
        }
        assert_eq!(arena.free_entries() + used, total);
        // The free room is whole: the largest free segment fits it all.
        for (block, order, _) in moved {
            arena.free(block, order);
        }
        assert_eq!(arena.alloc(arena.top), Some(0));
    }

    #[test]
    fn refuses_beyond_its_size_and_clear_frees_everything() {
        let mut arena = Arena::with_entries(BLOCK * 4);
        assert_eq!(arena.alloc(3), None);
        let a = arena.alloc(1).unwrap();
        let b = arena.alloc(1).unwrap();
        assert_ne!(a, b);
        assert_eq!(arena.alloc(0), None);
        arena.clear();
        assert_eq!(arena.alloc(2), Some(0));
    }
}
