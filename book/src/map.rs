//! Fixed-capacity open-addressing hash map from `u64` keys to `u32` pool indices.
//!
//! Used by the order table: order reference → spill slot for the few orders
//! whose direct slot was taken (see `orders`).
//!
//! Why this shape:
//! - Keys are spread by a hash, so the table is sized at twice the number of
//!   entries it may hold (load factor ≤ 0.5 at the capacity limit) and linear
//!   probes stay short.
//! - Linear probing keeps the probe sequence inside one or two cache lines; a
//!   slot is 16 bytes (key + index, padded), four per line.
//! - Deletion uses backward shifting instead of tombstones, so a day of
//!   hundreds of millions of add/delete pairs never degrades the table and
//!   never needs a rehash.
//! - Hash: one multiply by 2^64/φ after folding the high half into the low
//!   half (Fibonacci hashing), taking the top bits. Neighbouring keys (prices
//!   of one instrument, consecutive references) map to well-spread slots, and
//!   it costs ~2 cycles.
//!
//! The table allocates once in [`U64Map::with_capacity`] and never again.

use alloc::boxed::Box;
use alloc::vec;

/// Index value meaning "no entry" (also used as the pools' null link).
pub(crate) const NIL: u32 = u32::MAX;

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Slot {
    key: u64,
    val: u32,
}

const EMPTY: Slot = Slot { key: 0, val: NIL };

pub(crate) struct U64Map {
    slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
    len: usize,
}

#[inline(always)]
fn hash(key: u64, shift: u32) -> usize {
    ((key ^ (key >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl U64Map {
    /// A map able to hold `max_entries` with load factor ≤ 0.5.
    pub(crate) fn with_capacity(max_entries: usize) -> U64Map {
        let slots = (max_entries.max(4) * 2).next_power_of_two();
        debug_assert_eq!(Self::memory_bytes_for(max_entries), slots * 16);
        U64Map {
            slots: vec![EMPTY; slots].into_boxed_slice(),
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
            len: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<Slot>()
    }

    pub(crate) fn memory_bytes_for(max_entries: usize) -> usize {
        (max_entries.max(4) * 2).next_power_of_two() * core::mem::size_of::<Slot>()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.fill(EMPTY);
        self.len = 0;
    }

    /// Starts loading the home slot of `key` (no memory is read).
    #[inline]
    pub(crate) fn prefetch_slot(&self, key: u64) {
        if let Some(slot) = self.slots.get(hash(key, self.shift)) {
            crate::prefetch::prefetch(slot);
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: u64) -> Option<u32> {
        let mut i = hash(key, self.shift);
        loop {
            let slot = self.slots.get(i)?;
            if slot.val == NIL {
                return None;
            }
            if slot.key == key {
                return Some(slot.val);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Inserts `key → val`. Returns `false` (and changes nothing) if the key is
    /// present or the table is at half capacity; callers size their pools so the
    /// second case is unreachable, but it is handled rather than assumed.
    #[inline]
    pub(crate) fn insert(&mut self, key: u64, val: u32) -> bool {
        debug_assert!(val != NIL);
        if self.len * 2 >= self.slots.len() {
            return false;
        }
        let mut i = hash(key, self.shift);
        loop {
            let Some(slot) = self.slots.get_mut(i) else {
                return false;
            };
            if slot.val == NIL {
                *slot = Slot { key, val };
                self.len += 1;
                return true;
            }
            if slot.key == key {
                return false;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`, returning its value.
    #[inline]
    pub(crate) fn remove(&mut self, key: u64) -> Option<u32> {
        let mut i = hash(key, self.shift);
        let val = loop {
            let slot = self.slots.get(i)?;
            if slot.val == NIL {
                return None;
            }
            if slot.key == key {
                break slot.val;
            }
            i = (i + 1) & self.mask;
        };
        // Backward-shift deletion: pull later members of the probe run into the
        // hole whenever their home slot is not cyclically inside (hole, j].
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & self.mask;
            let Some(&next) = self.slots.get(j) else {
                break;
            };
            if next.val == NIL {
                break;
            }
            let home = hash(next.key, self.shift);
            let dist_home = j.wrapping_sub(home) & self.mask;
            let dist_hole = j.wrapping_sub(hole) & self.mask;
            if dist_home >= dist_hole {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = next;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = EMPTY;
        }
        self.len -= 1;
        Some(val)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn matches_std_hashmap_under_churn() {
        let mut map = U64Map::with_capacity(1000);
        let mut reference: HashMap<u64, u32> = HashMap::new();
        let mut x: u64 = 0x1234_5678;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small key space forces long clustered runs and many collisions.
            let key = if step % 3 == 0 {
                x % 1500
            } else {
                (x % 1500) << 40
            };
            if x.is_multiple_of(2) && reference.len() < 1000 {
                let inserted = map.insert(key, step);
                assert_eq!(inserted, !reference.contains_key(&key));
                reference.entry(key).or_insert(step);
            } else {
                assert_eq!(map.remove(key), reference.remove(&key));
            }
            assert_eq!(map.len(), reference.len());
            if step % 1000 == 0 {
                for (k, v) in &reference {
                    assert_eq!(map.get(*k), Some(*v));
                }
            }
        }
    }

    #[test]
    fn refuses_beyond_half_load() {
        let mut map = U64Map::with_capacity(4);
        let cap = map.slots.len() / 2;
        for k in 0..cap as u64 {
            assert!(map.insert(k, 1));
        }
        assert!(!map.insert(999, 1));
        assert_eq!(map.len(), cap);
    }
}
