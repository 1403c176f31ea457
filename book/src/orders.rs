//! The order table: order reference → order data, with the data stored in the
//! table itself and slots that never move while their order is live.
//!
//! # Shape
//! - **Direct slots.** A power-of-two array indexed by the low bits of the
//!   reference (`ref & (N − 1)`), N ≥ twice the order capacity. ITCH
//!   references are unique per day and issued in increasing order, so the
//!   orders added recently sit side by side in a window of the array that
//!   moves through it, two per cache line. Most orders die young (on a
//!   generated day half of all removals name an order less than 2^17
//!   references old, 77 % less than 2^20), so most lookups land in that
//!   window, which stays in the cache, instead of anywhere in a table of
//!   hundreds of MiB as with a scrambling hash. Looking an order up is one
//!   cache line, the order itself; there is no separate index.
//! - **Spill.** When the direct slot of a new order is still held by an older
//!   live order (one that outlived N references: 5.5 % of adds on a generated
//!   100 M-message day with N = 2^23), the new order goes to a spill pool slot
//!   and a small hash map (`map::U64Map`) records reference → slot. The direct
//!   slot counts the spilled orders whose home it is, so a lookup consults
//!   the map only when that count is non-zero: a reference that was never
//!   spilled costs one line whether it is live or not.
//! - **Stable slots.** Nothing moves while live (no eviction, no shifting), so
//!   slot indices can be the links of the level queues (`prev`/`next`) and the
//!   book never has to fix links behind the table's back. The spill pool
//!   holds as many slots as the capacity, so even references that all share
//!   one home slot (any stride that is a multiple of N) fill the book to
//!   exactly its capacity, each then costing one hash lookup more.
//!
//! Every operation is O(1): one direct slot, plus for spilled orders one
//! probe sequence of the map (load factor ≤ 0.5, backward-shift deletion).

use alloc::boxed::Box;
use alloc::vec;

use crate::map::{U64Map, NIL};

/// One order: 32 bytes, two per cache line. `qty == 0` marks a free slot (a
/// live order always has shares: zero-share adds are refused and an order
/// reduced to zero is removed).
#[derive(Clone, Copy)]
#[repr(C, align(32))]
pub(crate) struct OrderSlot {
    /// Order reference (meaningless while free).
    pub(crate) key: u64,
    /// Remaining shares; 0 while free.
    pub(crate) qty: u32,
    /// Level slot of the order's price.
    pub(crate) level: u32,
    /// Previous order (towards the front) in the level's FIFO queue.
    pub(crate) prev: u32,
    /// Next order in the queue; next free slot while a free spill slot.
    pub(crate) next: u32,
    pub(crate) locate: u16,
    /// 0 bid, 1 ask.
    pub(crate) side: u8,
    _pad: u8,
    /// Direct slots only: live spilled orders whose home is this slot.
    pub(crate) spilled: u32,
}

const FREE: OrderSlot = OrderSlot {
    key: 0,
    qty: 0,
    level: NIL,
    prev: NIL,
    next: NIL,
    locate: 0,
    side: 0,
    _pad: 0,
    spilled: 0,
};

/// What a new order holds besides its reference.
#[derive(Clone, Copy)]
pub(crate) struct NewOrder {
    pub(crate) qty: u32,
    pub(crate) level: u32,
    pub(crate) prev: u32,
    pub(crate) locate: u16,
    pub(crate) side: u8,
}

pub(crate) struct OrderTable {
    /// Direct slots `0..direct`, then the spill pool.
    slots: Box<[OrderSlot]>,
    mask: usize,
    spill_map: U64Map,
    /// Head of the spill pool's free list (linked through `next`).
    spill_free: u32,
    /// Spill slots never used yet start here.
    spill_high_water: u32,
    capacity: usize,
    len: usize,
}

impl OrderTable {
    /// A table for `capacity` live orders (`1..=2^29`, checked by the caller).
    pub(crate) fn with_capacity(capacity: usize) -> OrderTable {
        let direct = Self::direct_slots(capacity);
        OrderTable {
            slots: vec![FREE; direct + capacity].into_boxed_slice(),
            mask: direct - 1,
            spill_map: U64Map::with_capacity(capacity),
            spill_free: NIL,
            spill_high_water: direct as u32,
            capacity,
            len: 0,
        }
    }

    fn direct_slots(capacity: usize) -> usize {
        (capacity.max(2) * 2).next_power_of_two()
    }

    pub(crate) fn memory_bytes_for(capacity: usize) -> usize {
        (Self::direct_slots(capacity) + capacity) * core::mem::size_of::<OrderSlot>()
            + U64Map::memory_bytes_for(capacity)
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<OrderSlot>() + self.spill_map.memory_bytes()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.fill(FREE);
        self.spill_map.clear();
        self.spill_free = NIL;
        self.spill_high_water = (self.mask + 1) as u32;
        self.len = 0;
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub(crate) fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Live orders currently in the spill pool.
    pub(crate) fn spilled(&self) -> usize {
        self.spill_map.len()
    }

    #[inline(always)]
    fn home(&self, key: u64) -> usize {
        key as usize & self.mask
    }

    /// The slot at `index` (any index from this table; `NIL` and other
    /// out-of-range values give a free slot's contents).
    #[inline(always)]
    pub(crate) fn get(&self, index: u32) -> &OrderSlot {
        self.slots.get(index as usize).unwrap_or(&FREE)
    }

    #[inline(always)]
    pub(crate) fn get_mut(&mut self, index: u32) -> Option<&mut OrderSlot> {
        self.slots.get_mut(index as usize)
    }

    /// The slot of live order `key`.
    #[inline(always)]
    pub(crate) fn find(&self, key: u64) -> Option<u32> {
        let home = self.home(key);
        let slot = self.slots.get(home)?;
        if slot.key == key && slot.qty != 0 {
            return Some(home as u32);
        }
        if slot.spilled == 0 {
            return None;
        }
        self.spill_map.get(key)
    }

    /// [`OrderTable::find`] that first tries `hint` (a slot a prefetch stage
    /// found for `key`; the slot holds the order iff its key matches and it
    /// is live, since live keys are unique).
    #[inline(always)]
    pub(crate) fn find_hinted(&self, key: u64, hint: u32) -> Option<u32> {
        let slot = self.get(hint);
        if slot.key == key && slot.qty != 0 {
            return Some(hint);
        }
        self.find(key)
    }

    /// Stores a new live order; the caller has checked that `key` is not
    /// live and the table is not full. `None` only if that was not so.
    #[inline(always)]
    pub(crate) fn insert(&mut self, key: u64, order: NewOrder) -> Option<u32> {
        if self.is_full() {
            return None;
        }
        let home = self.home(key);
        let value = OrderSlot {
            key,
            qty: order.qty,
            level: order.level,
            prev: order.prev,
            next: NIL,
            locate: order.locate,
            side: order.side,
            _pad: 0,
            spilled: 0,
        };
        let slot = self.slots.get_mut(home)?;
        if slot.qty == 0 {
            *slot = OrderSlot {
                spilled: slot.spilled,
                ..value
            };
            self.len += 1;
            return Some(home as u32);
        }
        // Home taken by an older live order: spill.
        let index = if self.spill_free != NIL {
            let index = self.spill_free;
            self.spill_free = self.get(index).next;
            index
        } else if (self.spill_high_water as usize) < self.slots.len() {
            let index = self.spill_high_water;
            self.spill_high_water += 1;
            index
        } else {
            return None;
        };
        if !self.spill_map.insert(key, index) {
            // Unreachable: the map holds at most `capacity` keys.
            self.free_spill(index);
            return None;
        }
        if let Some(home_slot) = self.slots.get_mut(home) {
            home_slot.spilled += 1;
        }
        if let Some(slot) = self.slots.get_mut(index as usize) {
            *slot = value;
        }
        self.len += 1;
        Some(index)
    }

    fn free_spill(&mut self, index: u32) {
        let free = self.spill_free;
        if let Some(slot) = self.slots.get_mut(index as usize) {
            *slot = OrderSlot { next: free, ..FREE };
            self.spill_free = index;
        }
    }

    /// Frees the slot of live order `index` (found by [`OrderTable::find`]).
    #[inline(always)]
    pub(crate) fn remove(&mut self, index: u32) {
        if index as usize <= self.mask {
            if let Some(slot) = self.slots.get_mut(index as usize) {
                slot.qty = 0;
                self.len -= 1;
            }
            return;
        }
        let key = self.get(index).key;
        if self.spill_map.remove(key).is_some() {
            let home = self.home(key);
            if let Some(home_slot) = self.slots.get_mut(home) {
                home_slot.spilled -= 1;
            }
            self.free_spill(index);
            self.len -= 1;
        }
    }

    /// Starts loading the direct slot of `key`.
    #[inline(always)]
    pub(crate) fn prefetch_home(&self, key: u64) {
        crate::prefetch::prefetch(self.get(self.home(key) as u32));
    }

    /// Starts loading the slot at `index` (nothing for `NIL`).
    #[inline(always)]
    pub(crate) fn prefetch(&self, index: u32) {
        if let Some(slot) = self.slots.get(index as usize) {
            crate::prefetch::prefetch(slot);
        }
    }

    /// Starts loading the spill map entry of `key` (for a key whose direct
    /// slot counts spilled orders).
    #[inline(always)]
    pub(crate) fn prefetch_spill_entry(&self, key: u64) {
        self.spill_map.prefetch_slot(key);
    }

    /// The direct slot of `key`, for prefetch stages that read it once it
    /// has been loaded.
    #[inline(always)]
    pub(crate) fn home_slot(&self, key: u64) -> (u32, &OrderSlot) {
        let home = self.home(key) as u32;
        (home, self.get(home))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;

    fn new(qty: u32) -> NewOrder {
        NewOrder {
            qty,
            level: 0,
            prev: NIL,
            locate: 1,
            side: 0,
        }
    }

    /// Random inserts and removes, keys drawn so that many share a home slot,
    /// against a std map; slots never move while live.
    #[test]
    fn matches_std_hashmap_and_slots_are_stable() {
        let mut table = OrderTable::with_capacity(100);
        let n = (table.mask + 1) as u64;
        let mut reference: HashMap<u64, u32> = HashMap::new();
        let mut x: u64 = 0x9876_5432;
        let mut spilled_seen = 0;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 7) + n * (x >> 40) % (n * 50);
            match reference.get(&key) {
                Some(&index) => {
                    assert_eq!(table.find(key), Some(index));
                    assert_eq!(table.get(index).key, key);
                    table.remove(index);
                    reference.remove(&key);
                    assert_eq!(table.find(key), None);
                }
                None => {
                    assert_eq!(table.find(key), None);
                    if table.is_full() {
                        assert_eq!(reference.len(), 100);
                        assert_eq!(table.insert(key, new(step | 1)), None);
                    } else {
                        let index = table.insert(key, new(step | 1)).expect("room");
                        reference.insert(key, index);
                    }
                }
            }
            spilled_seen = spilled_seen.max(table.spilled());
            assert_eq!(table.len(), reference.len());
            if step % 997 == 0 {
                for (&k, &i) in &reference {
                    assert_eq!(table.find(k), Some(i));
                }
            }
        }
        assert!(spilled_seen > 10, "{spilled_seen}");
    }

    #[test]
    fn all_keys_on_one_home_fill_to_capacity() {
        let mut table = OrderTable::with_capacity(64);
        let n = (table.mask + 1) as u64;
        let indices: std::vec::Vec<u32> = (0..64u64)
            .map(|i| table.insert(i * n, new(1)).expect("room"))
            .collect();
        assert!(table.is_full());
        assert_eq!(table.spilled(), 63);
        assert_eq!(table.insert(64 * n, new(1)), None);
        for (i, &index) in indices.iter().enumerate() {
            assert_eq!(table.find(i as u64 * n), Some(index));
        }
        // Free the direct one: spilled keys stay findable through the count.
        table.remove(indices[0]);
        assert_eq!(table.find(0), None);
        assert_eq!(table.find(5 * n), Some(indices[5]));
        for &index in &indices[1..] {
            table.remove(index);
        }
        assert_eq!((table.len(), table.spilled()), (0, 0));
        assert_eq!(table.get(0).spilled, 0);
    }
}
