//! A fixed-capacity open-addressing map from 64-bit identifiers to table
//! slots, used wherever the order path must find an order by id in O(1).
//!
//! Linear probing with backward-shift deletion keeps probe sequences short
//! without tombstones, so the cost of a lookup does not grow as orders come
//! and go over a trading day. The table is sized once, at construction, to at
//! least twice the number of entries it may hold, so the load factor never
//! exceeds one half.

use alloc::boxed::Box;
use alloc::vec;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Entry {
    key: u64,
    value: u32,
}

/// Map from `u64` keys to `u32` values (slot indices). `value == u32::MAX` is
/// reserved to mark empty buckets.
pub struct IdMap {
    entries: Box<[Entry]>,
    mask: usize,
    /// 64 − log2(buckets): `hash` keeps the product's top bits.
    shift: u32,
    len: usize,
    max_len: usize,
}

/// Why an insertion was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertError {
    /// The key is already present (its value is left unchanged).
    Exists,
    /// The map already holds as many entries as it was built for.
    Full,
}

/// Fibonacci hashing: the top `64 − shift` bits of the key times 2^64/φ.
/// Sequential order ids land far apart, so probe runs stay short. (Identity
/// hashing would keep recent ids in one cache line but turns the ids of a
/// burst into one long run, and backward-shift deletion scans to the end of
/// a run.) The top bits of the product depend on every bit of the key, so
/// no further mixing is needed.
#[inline]
fn hash(key: u64, shift: u32) -> usize {
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) as usize
}

impl IdMap {
    /// A map able to hold `max_len` entries. Allocates once; never again.
    pub fn new(max_len: usize) -> IdMap {
        let buckets = (max_len.max(1) * 2).next_power_of_two();
        IdMap {
            entries: vec![
                Entry {
                    key: 0,
                    value: EMPTY
                };
                buckets
            ]
            .into_boxed_slice(),
            mask: buckets - 1,
            // At least 2 buckets, so the shift is at most 63.
            shift: 64 - buckets.trailing_zeros(),
            len: 0,
            max_len: max_len.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    fn home(&self, key: u64) -> usize {
        hash(key, self.shift)
    }

    /// Starts loading the line where a probe for `key` begins.
    #[inline(always)]
    pub fn prefetch(&self, key: u64) {
        if let Some(e) = self.entries.get(self.home(key)) {
            crate::prefetch::prefetch(e);
        }
    }

    #[inline]
    pub fn get(&self, key: u64) -> Option<u32> {
        let mut i = self.home(key);
        loop {
            let e = self.entries.get(i)?;
            if e.value == EMPTY {
                return None;
            }
            if e.key == key {
                return Some(e.value);
            }
            i = (i + 1) & self.mask;
        }
    }

    #[inline(always)]
    pub fn insert(&mut self, key: u64, value: u32) -> Result<(), InsertError> {
        debug_assert!(value != EMPTY);
        let mut i = self.home(key);
        loop {
            let Some(e) = self.entries.get_mut(i) else {
                return Err(InsertError::Full);
            };
            if e.value == EMPTY {
                if self.len >= self.max_len {
                    return Err(InsertError::Full);
                }
                *e = Entry { key, value };
                self.len += 1;
                return Ok(());
            }
            if e.key == key {
                return Err(InsertError::Exists);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: u64) -> Option<u32> {
        let i = self.find(key)?;
        let value = self.entries.get(i)?.value;
        self.remove_at(i);
        Some(value)
    }

    /// Removes `key` only if it maps to `value` (one probe, where a `get`
    /// then a `remove` would make two); whether it did.
    pub fn remove_if(&mut self, key: u64, value: u32) -> bool {
        match self.find(key) {
            Some(i) if self.entries.get(i).is_some_and(|e| e.value == value) => {
                self.remove_at(i);
                true
            }
            _ => false,
        }
    }

    /// Where `key` is, if present.
    fn find(&self, key: u64) -> Option<usize> {
        let mut i = self.home(key);
        loop {
            let e = *self.entries.get(i)?;
            if e.value == EMPTY {
                return None;
            }
            if e.key == key {
                return Some(i);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Empties the entry at `i` (occupied).
    fn remove_at(&mut self, i: usize) {
        // Backward-shift: pull later members of the probe run into the hole
        // when their home position allows it, so lookups never stop early.
        let mut hole = i;
        let mut j = (i + 1) & self.mask;
        loop {
            let e = self.entries[j];
            if e.value == EMPTY {
                break;
            }
            let home = self.home(e.key);
            // Distance from home to j versus from home to hole (cyclic).
            let dist_j = j.wrapping_sub(home) & self.mask;
            let dist_hole = hole.wrapping_sub(home) & self.mask;
            if dist_hole < dist_j {
                self.entries[hole] = e;
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        self.entries[hole] = Entry {
            key: 0,
            value: EMPTY,
        };
        self.len -= 1;
    }

    /// Writes every bucket once so no page is first touched later.
    pub fn prefault(&mut self) {
        for e in self.entries.iter_mut() {
            *e = core::hint::black_box(*e);
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        for e in self.entries.iter_mut() {
            e.value = EMPTY;
        }
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;
    use std::vec::Vec;

    #[test]
    fn insert_get_remove() {
        let mut m = IdMap::new(4);
        assert_eq!(m.insert(7, 1), Ok(()));
        assert_eq!(m.insert(7, 2), Err(InsertError::Exists));
        assert_eq!(m.get(7), Some(1));
        assert_eq!(m.remove(7), Some(1));
        assert_eq!(m.get(7), None);
        assert_eq!(m.remove(7), None);
        for k in 0..4 {
            m.insert(k, k as u32).unwrap();
        }
        assert_eq!(m.insert(99, 0), Err(InsertError::Full));
    }

    proptest! {
        #[test]
        fn matches_hashmap(ops in proptest::collection::vec((0u8..4, 0u64..64), 0..400)) {
            let mut m = IdMap::new(40);
            let mut model: HashMap<u64, u32> = HashMap::new();
            for (n, (op, key)) in ops.into_iter().enumerate() {
                match op {
                    0 => {
                        let r = m.insert(key, n as u32);
                        if model.contains_key(&key) {
                            prop_assert_eq!(r, Err(InsertError::Exists));
                        } else if model.len() >= 40 {
                            prop_assert_eq!(r, Err(InsertError::Full));
                        } else {
                            prop_assert_eq!(r, Ok(()));
                            model.insert(key, n as u32);
                        }
                    }
                    1 => prop_assert_eq!(m.remove(key), model.remove(&key)),
                    // Removes only where the key holds this value (the
                    // values inserted are op indexes: some match, most not).
                    2 => {
                        let value = (key % 7) as u32 * 50;
                        let holds = model.get(&key) == Some(&value);
                        prop_assert_eq!(m.remove_if(key, value), holds);
                        if holds {
                            model.remove(&key);
                        }
                        if let Some(&v) = model.get(&key) {
                            prop_assert!(m.remove_if(key, v));
                            model.remove(&key);
                        }
                    }
                    _ => prop_assert_eq!(m.get(key), model.get(&key).copied()),
                }
                prop_assert_eq!(m.len(), model.len());
            }
            let keys: Vec<u64> = model.keys().copied().collect();
            for k in keys {
                prop_assert_eq!(m.get(k), model.get(&k).copied());
            }
        }
    }
}
