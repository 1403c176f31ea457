//! The current directory read backwards: symbol → the locate naming it.
//!
//! A feed numbers its own stocks (ITCH locates are per venue and per day),
//! so whoever matches one feed's instrument with another's goes through the
//! symbol. The book keeps this index beside its directory entries
//! ([`crate::Book::set_directory`]) and clears it with them, so it always
//! describes the directory the book holds.
//!
//! Why this shape:
//! - Open addressing with linear probing and backward-shift deletion, like
//!   the order table's spill map (`map`): a lookup is one cache line, and a
//!   day of directory corrections never leaves tombstones behind.
//! - One entry per symbol, however many locates name it: an entry counts
//!   its locates, so there are never more entries than locates with a
//!   directory entry (≤ 65,535) and the 2^17 slots stay at most half full
//!   whatever the feed sends. 2 MiB, allocated once.
//! - A symbol two locates named at once (a bad feed) is *ambiguous*: which
//!   locate is the stock is unknown, so no lookup answers for it until
//!   every locate naming it has been renamed or the book is cleared. The
//!   entry does not remember its locates (that would need a list per
//!   entry); staying ambiguous until none is left is the safe side.

use alloc::boxed::Box;
use alloc::vec;

use types::{StockLocate, Symbol};

/// Slots: twice the most entries there can be (one per locate).
const SLOTS: usize = 2 * crate::LOCATES;
const MASK: usize = SLOTS - 1;
const SHIFT: u32 = 64 - SLOTS.trailing_zeros();

#[derive(Clone, Copy)]
struct Slot {
    symbol: u64,
    /// The locate naming the symbol, while it is not ambiguous.
    locate: StockLocate,
    /// Locates naming the symbol now; 0: a free slot.
    named: u16,
    /// Two locates named it at once since the entry was made.
    ambiguous: bool,
}

const FREE: Slot = Slot {
    symbol: 0,
    locate: 0,
    named: 0,
    ambiguous: false,
};

#[inline(always)]
fn key(symbol: &Symbol) -> u64 {
    u64::from_le_bytes(symbol.0)
}

/// Fibonacci hashing of the folded key, as in `map`: symbols sharing their
/// first letters still spread over the table.
#[inline(always)]
fn home(key: u64) -> usize {
    ((key ^ (key >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> SHIFT) as usize
}

pub(crate) struct SymbolIndex {
    slots: Box<[Slot]>,
    len: usize,
}

impl SymbolIndex {
    pub(crate) fn new() -> SymbolIndex {
        SymbolIndex {
            slots: vec![FREE; SLOTS].into_boxed_slice(),
            len: 0,
        }
    }

    /// Symbols some locate names (one naming two locates counts once).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) const fn memory_bytes() -> usize {
        SLOTS * core::mem::size_of::<Slot>()
    }

    pub(crate) fn clear(&mut self) {
        if self.len > 0 {
            self.slots.fill(FREE);
            self.len = 0;
        }
    }

    /// The slot of `key`, or of the free slot ending its probe run; `None`
    /// only if the table were full, which the entry count rules out.
    fn find(&self, key: u64) -> Option<usize> {
        let mut i = home(key);
        for _ in 0..SLOTS {
            let slot = self.slots.get(i)?;
            if slot.named == 0 || slot.symbol == key {
                return Some(i);
            }
            i = (i + 1) & MASK;
        }
        None
    }

    /// The one locate naming `symbol`: `None` when none does or it is
    /// ambiguous.
    pub(crate) fn get(&self, symbol: &Symbol) -> Option<StockLocate> {
        let slot = self.slots.get(self.find(key(symbol))?)?;
        (slot.named > 0 && !slot.ambiguous).then_some(slot.locate)
    }

    /// `locate` names `symbol` now (and named another symbol, removed
    /// first, or none before). Returns `false` when this makes `symbol`
    /// ambiguous or it already was.
    pub(crate) fn insert(&mut self, symbol: &Symbol, locate: StockLocate) -> bool {
        let key = key(symbol);
        let Some(i) = self.find(key) else {
            return false;
        };
        let Some(slot) = self.slots.get_mut(i) else {
            return false;
        };
        if slot.named == 0 {
            *slot = Slot {
                symbol: key,
                locate,
                named: 1,
                ambiguous: false,
            };
            self.len += 1;
            return true;
        }
        slot.named = slot.named.saturating_add(1);
        slot.ambiguous = true;
        false
    }

    /// One locate that named `symbol` names it no more.
    pub(crate) fn remove(&mut self, symbol: &Symbol) {
        let Some(i) = self.find(key(symbol)) else {
            return;
        };
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        if slot.named == 0 {
            return;
        }
        slot.named -= 1;
        if slot.named > 0 {
            return;
        }
        // Backward-shift deletion: later members of the probe run move into
        // the hole unless their home is cyclically inside (hole, j].
        let mut hole = i;
        let mut j = i;
        for _ in 0..SLOTS {
            j = (j + 1) & MASK;
            let Some(&next) = self.slots.get(j) else {
                break;
            };
            if next.named == 0 {
                break;
            }
            let from_home = j.wrapping_sub(home(next.symbol)) & MASK;
            let from_hole = j.wrapping_sub(hole) & MASK;
            if from_home >= from_hole {
                if let Some(h) = self.slots.get_mut(hole) {
                    *h = next;
                }
                hole = j;
            }
        }
        if let Some(h) = self.slots.get_mut(hole) {
            *h = FREE;
        }
        self.len -= 1;
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::collections::HashMap;
    use std::format;
    use std::vec::Vec;

    fn sym(n: u32) -> Symbol {
        Symbol::new(&format!("S{n}")).unwrap()
    }

    /// Against a plain model: every locate's symbol, the index answering
    /// for a symbol exactly when one locate names it and none other did
    /// at the same time since it was last unnamed.
    #[test]
    fn matches_a_model_under_renames() {
        let mut index = SymbolIndex::new();
        let mut named: HashMap<StockLocate, Symbol> = HashMap::new();
        let mut ambiguous: HashMap<Symbol, bool> = HashMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Few symbols over few locates: many renames and duplicates.
            let locate = 1 + (x % 700) as StockLocate;
            let symbol = sym(((x >> 20) % 1000) as u32);
            if named.get(&locate) == Some(&symbol) {
                continue;
            }
            if let Some(old) = named.insert(locate, symbol) {
                index.remove(&old);
                if !named.values().any(|s| *s == old) {
                    ambiguous.remove(&old);
                }
            }
            let twice = named.values().filter(|s| **s == symbol).count() > 1;
            let flag = ambiguous.entry(symbol).or_insert(false);
            *flag |= twice;
            assert_eq!(index.insert(&symbol, locate), !*flag, "step {step}");
            if step % 5000 == 0 {
                for n in 0..1000 {
                    let s = sym(n);
                    let at: Vec<_> = named.iter().filter(|(_, v)| **v == s).collect();
                    let want = match (at.as_slice(), ambiguous.get(&s)) {
                        ([(l, _)], Some(false)) => Some(**l),
                        _ => None,
                    };
                    assert_eq!(index.get(&s), want, "step {step}: {s:?}");
                }
            }
        }
        let distinct = named.values().collect::<std::collections::HashSet<_>>();
        assert_eq!(index.len, distinct.len());
        index.clear();
        assert_eq!(index.get(&sym(1)), None);
    }

    /// Every locate naming its own symbol: the table at its most entries
    /// stays half full and answers for each.
    #[test]
    fn holds_a_symbol_at_every_locate() {
        let mut index = SymbolIndex::new();
        for locate in 1..=u16::MAX {
            assert!(index.insert(&sym(locate as u32), locate));
        }
        for locate in (1..=u16::MAX).step_by(97) {
            assert_eq!(index.get(&sym(locate as u32)), Some(locate));
        }
        assert_eq!(index.len, u16::MAX as usize);
    }
}
