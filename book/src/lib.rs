//! Full-depth (L3) order book for the whole market, driven by ITCH 5.0.
//!
//! One [`Book`] holds every stock locate (1..=65,535) of a feed: directory
//! data, trading state, cross status, and for each side a price-ordered
//! array of levels, each with a FIFO queue of orders. Applying a message
//! yields [`BookEvent`]s into a caller-provided bounded [`EventSink`].
//!
//! # Memory
//! All storage is allocated once in [`Book::with_capacity`] (this is the only
//! use of `alloc`: `Box<[T]>` tables built at start-up). Nothing allocates
//! afterwards; running out of a pool is counted in [`Counters`] and the
//! message is dropped. At the default capacity (4 Mi orders, 1 Mi levels,
//! 65,536 locates) the book uses about 724 MB (690 MiB; see
//! [`Book::memory_bytes`]): order table 512 MiB (8 Mi direct slots of 32 B,
//! a 4 Mi-slot spill pool and its 128 MiB hash map, both nearly untouched on
//! a real day but sized so that any reference pattern fills the book to its
//! capacity), level slots 32 MiB (32 B each), the level arrays' arena 64 MiB
//! (8 entries of 8 B per level of capacity) and as much again for compacting
//! it (touched only then), per-locate side ends 4 MiB (one
//! cache line per instrument), status ~11 MiB and the directory's symbol
//! index 2 MiB ([`Book::locate_of`]). What a day actually
//! touches is far less: the live orders' lines, the levels, and the ends and
//! arrays of the ~9,000 instruments that trade. A bare-metal image should
//! back these tables with large pages (the host tools do, through the
//! `hugealloc` crate): with 4 KiB pages nearly every random read of a table
//! this size is also a TLB miss.
//!
//! # Cost (see `benches/` and BENCHMARKS.md, "Market data")
//! A message touches a handful of cache lines that are mostly not in the
//! cache (its order, the order's level and queue neighbours, the
//! instrument's side ends, a few lines of the side's level array when a
//! level comes or goes or is searched for). Decoded up front into a
//! [`Pending`], it can have those misses started a few messages ahead by
//! [`Book::prefetch`] (three stages, each reading only what the previous
//! one loaded) and then be [`Book::apply`]d; the replay tool keeps 12
//! messages in flight that way. What remains is mostly instructions and
//! branch mispredictions (a message's type decides every step).
//!
//! # Structure and why
//! - Orders live *in* the order table (see `orders`), 32 bytes each, two per
//!   cache line: reference, remaining shares, level, queue links, locate and
//!   side. The table is indexed directly by the low bits of the reference;
//!   ITCH issues references in increasing order, so recent orders (most
//!   executions, cancels and deletes name a recent order) sit together in a
//!   window of the table that stays in the cache, and a lookup is one line,
//!   the order itself. An order whose direct slot is still held by an older
//!   live order goes to a spill pool found through a small hash map (5.5 % of
//!   adds on a generated 100 M-message day). Slots never move while live.
//! - A level's FIFO queue is an intrusive doubly linked list of order slots,
//!   so removal from the middle is O(1) and queue position is well defined.
//! - Levels live in a pool of 32-byte slots that never move while live, so
//!   orders can point at them. Each side of each instrument keeps a sorted
//!   array of (price, level slot) pairs, best *last*, in a segment of a
//!   buddy arena (see `arena`): a power-of-two number of cache lines that
//!   doubles when full and halves at a quarter. Finding a price is a binary
//!   search over a few contiguous lines (an add at the best price, the
//!   commonest, needs none: the side ends keep the best's price), and a new
//!   or removed level shifts only the entries between it and the best —
//!   levels come and go mostly near the touch, so that is a few dozen bytes
//!   moved in cache rather than a walk of a linked list, one cache miss per
//!   level, or a hash table and its rehash-free deletion.
//!   [`Counters::level_shifts`] counts the entries moved (about 5 per
//!   message on a generated day). The side ends, one cache line per
//!   instrument, also keep the best level's size, so BBO is one line and
//!   top-N reads N entries from the end of the array.
//!
//! # Anomalies
//! Nothing in the input can make the book panic. Unknown references,
//! duplicate adds, over-executions, zero quantities, out-of-range prices,
//! locate 0, full pools and crossed books are counted in [`Counters`] and the
//! corresponding operation reports an [`Anomaly`].
#![no_std]
#![deny(unsafe_code)]

extern crate alloc;

mod arena;
mod instrument;
pub mod itch;
mod map;
#[cfg(any(test, feature = "model"))]
pub mod model;
mod orders;
mod sink;
mod symbols;

use alloc::boxed::Box;
use alloc::vec;
use types::prefetch;

pub use instrument::{CrossStatus, Directory, Imbalance, InstrumentStatus};
pub use sink::{CountingSink, EventSink, NullSink, MAX_EVENTS_PER_MESSAGE};
pub use types::{Bbo, BookEvent, DepthView, Level, Nanos, Price, Side, StockLocate, TradingState};

use arena::{Arena, BLOCK, MAX_ORDER};
use map::NIL;
use orders::{NewOrder, OrderTable};
use symbols::SymbolIndex;

/// Number of locate slots (locate 0 is never used by ITCH and is rejected).
pub const LOCATES: usize = 1 << 16;

/// Largest accepted order capacity (indices are `u32`; the order table holds
/// up to three slots per order of capacity).
pub const MAX_ORDER_CAPACITY: usize = 1 << 29;

/// Largest accepted level capacity (the level arrays' arena, 8 entries per
/// level, stops at 2^29 entries; a real day peaks near 1 Mi levels).
pub const MAX_LEVEL_CAPACITY: usize = 1 << 26;

/// Capacities fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BookConfig {
    /// Live orders the book can hold at once (a real day peaks at 1.65 M).
    pub max_orders: usize,
    /// Live price levels over all instruments and sides.
    pub max_levels: usize,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig {
            max_orders: 4 << 20,
            max_levels: 1 << 20,
        }
    }
}

impl BookConfig {
    /// The capacities actually used: orders in `1..=MAX_ORDER_CAPACITY`,
    /// levels in `1..=MAX_LEVEL_CAPACITY`.
    fn clamped(self) -> (usize, usize) {
        (
            self.max_orders.clamp(1, MAX_ORDER_CAPACITY),
            self.max_levels.clamp(1, MAX_LEVEL_CAPACITY),
        )
    }
}

/// Anomaly and activity counters. Anomalies never stop the book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Operations applied (every call of an input method).
    pub messages: u64,
    /// Execute/cancel/delete/replace of a reference that is not live.
    pub unknown_order: u64,
    /// Add (or replace's new reference) of a reference that is already live.
    pub duplicate_order: u64,
    /// Execute or cancel of more shares than remain; clamped to what remains.
    pub negative_quantity: u64,
    /// Add, execute, cancel or replace with zero shares; ignored.
    pub zero_quantity: u64,
    /// Book price outside the ITCH range 0..=u32::MAX; ignored.
    pub bad_price: u64,
    /// Locate 0; ignored.
    pub bad_locate: u64,
    /// Updates after which the instrument's best bid ≥ best ask.
    pub crossed_book: u64,
    /// Adds dropped because the order pool was full.
    pub order_table_full: u64,
    /// Adds dropped because the level pool was full.
    pub level_pool_full: u64,
    /// Events the sink refused.
    pub events_dropped: u64,
    /// ITCH messages that do not concern the book (see [`itch`]).
    pub ignored: u64,
    /// Entries of the sorted level arrays moved to make room for a new
    /// level or close the gap of a removed one (cost measure).
    pub level_shifts: u64,
    /// Times the level arrays' arena was compacted because a side could not
    /// grow (see `arena`; a pause of two passes over all sides and a copy of
    /// every array each time).
    pub level_compactions: u64,
    /// High-water marks.
    pub peak_orders: u64,
    pub peak_levels: u64,
}

/// Why an operation was (wholly or partly) not applied; always also counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anomaly {
    UnknownOrder,
    DuplicateOrder,
    /// More shares executed/cancelled than remained: the order was removed
    /// (the clamped change *was* applied).
    NegativeQuantity,
    ZeroQuantity,
    BadPrice,
    BadLocate,
    OrderTableFull,
    LevelPoolFull,
}

/// Where an order stands in its level's FIFO queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueInfo {
    pub locate: StockLocate,
    pub side: Side,
    pub price: Price,
    /// The order's remaining shares.
    pub qty: u32,
    /// Orders queued before this one at the same price.
    pub orders_ahead: u32,
    /// Shares of those orders.
    pub shares_ahead: u64,
    pub level_orders: u32,
    pub level_qty: u64,
}

/// Number of stages of [`Book::prefetch`]; stage `s` for message `i` should
/// run (roughly) when message `i - (PREFETCH_STAGES - s) * distance` is applied.
pub const PREFETCH_STAGES: u8 = 3;

/// Most messages one group of [`Book::prefetch_group`] holds: the misses of
/// a whole-market book's stage (one or two lines per message) fit the
/// core's outstanding-miss buffers several times over, and the group's
/// decoded state (48 bytes a message) stays in the first-level cache.
pub const PREFETCH_GROUP: usize = 32;

/// One book operation decoded once (from ITCH see [`itch::pending`]), with
/// its prefetch progress: the caller runs the stages of [`Book::prefetch`]
/// on it while it waits in a lookahead window, then [`Book::apply`]s it.
/// What a stage found, the next one need not look up again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// What the prefetch stages follow (`LOOK_*`).
    kind: u8,
    /// What [`Book::apply`] does (`OP_*`).
    op: u8,
    /// Add: side index; replace: learnt at stage 1.
    side: u8,
    /// Execute with price: printable.
    printable: bool,
    locate: StockLocate,
    /// Order slot (execute/cancel/delete/replace; stage 1) or level (add;
    /// stage 1 or 2) a prefetch stage found; `NIL` if none.
    found: u32,
    /// Shares (add, execute, cancel, replace).
    qty: u32,
    /// Price of the new order (add, replace) or of the execution (execute
    /// with price), as given.
    price: i64,
    /// The order looked up (old one for a replace; new one for an add).
    key: u64,
    /// Replace: the new reference.
    new_key: u64,
    ts: u64,
}

const LOOK_NONE: u8 = 0;
const LOOK_ORDER: u8 = 1;
const LOOK_ADD: u8 = 2;
const LOOK_REPLACE: u8 = 3;

const OP_NONE: u8 = 0;
const OP_ADD: u8 = 1;
const OP_EXECUTE: u8 = 2;
const OP_EXECUTE_AT: u8 = 3;
const OP_CANCEL: u8 = 4;
const OP_DELETE: u8 = 5;
const OP_REPLACE: u8 = 6;

impl Pending {
    /// Nothing to prefetch or apply.
    pub const NONE: Pending = Pending {
        kind: LOOK_NONE,
        op: OP_NONE,
        side: 0,
        printable: false,
        locate: 0,
        found: NIL,
        qty: 0,
        price: 0,
        key: 0,
        new_key: 0,
        ts: 0,
    };

    /// [`Book::add_order`].
    #[inline(always)]
    pub fn add(
        locate: StockLocate,
        order_ref: u64,
        side: Side,
        price: Price,
        qty: u32,
        ts: Nanos,
    ) -> Pending {
        Pending {
            kind: LOOK_ADD,
            op: OP_ADD,
            side: side_index(side) as u8,
            locate,
            qty,
            price: price.0,
            key: order_ref,
            ts: ts.0,
            ..Pending::NONE
        }
    }

    #[inline(always)]
    fn take(op: u8, order_ref: u64, qty: u32, ts: Nanos) -> Pending {
        Pending {
            kind: LOOK_ORDER,
            op,
            qty,
            key: order_ref,
            ts: ts.0,
            ..Pending::NONE
        }
    }

    /// [`Book::execute`].
    #[inline(always)]
    pub fn execute(order_ref: u64, qty: u32, ts: Nanos) -> Pending {
        Pending::take(OP_EXECUTE, order_ref, qty, ts)
    }

    /// [`Book::execute_with_price`].
    #[inline(always)]
    pub fn execute_with_price(
        order_ref: u64,
        qty: u32,
        price: Price,
        printable: bool,
        ts: Nanos,
    ) -> Pending {
        Pending {
            price: price.0,
            printable,
            ..Pending::take(OP_EXECUTE_AT, order_ref, qty, ts)
        }
    }

    /// [`Book::cancel`].
    #[inline(always)]
    pub fn cancel(order_ref: u64, qty: u32, ts: Nanos) -> Pending {
        Pending::take(OP_CANCEL, order_ref, qty, ts)
    }

    /// [`Book::delete`].
    #[inline(always)]
    pub fn delete(order_ref: u64, ts: Nanos) -> Pending {
        Pending::take(OP_DELETE, order_ref, 0, ts)
    }

    /// [`Book::replace`].
    #[inline(always)]
    pub fn replace(old_ref: u64, new_ref: u64, price: Price, qty: u32, ts: Nanos) -> Pending {
        Pending {
            kind: LOOK_REPLACE,
            op: OP_REPLACE,
            qty,
            price: price.0,
            key: old_ref,
            new_key: new_ref,
            ts: ts.0,
            ..Pending::NONE
        }
    }

    /// True for [`Pending::NONE`]: nothing to prefetch or apply.
    #[inline(always)]
    pub const fn is_empty(&self) -> bool {
        self.op == OP_NONE
    }

    /// The new order's price as the book stores it, if it is in range.
    #[inline(always)]
    fn book_price(&self) -> Option<u32> {
        u32::try_from(self.price).ok()
    }
}

/// A live order as the book sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderInfo {
    pub locate: StockLocate,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
}

/// A price level: 32 bytes, two per cache line.
#[derive(Clone, Copy)]
#[repr(C, align(32))]
struct LevelSlot {
    qty: u64,
    price: u32,
    /// Orders queued; 0 only while the slot is free (a level goes with its
    /// last order).
    orders: u32,
    head: u32,
    tail: u32,
    /// Which side of which instrument the level belongs to, so that a slot
    /// found ahead of time (see [`Book::prefetch`]) can be checked.
    locate: StockLocate,
    side: u8,
    _pad: u8,
    /// Next free slot while free.
    next_free: u32,
}

const FREE_LEVEL: LevelSlot = LevelSlot {
    qty: 0,
    price: 0,
    orders: 0,
    head: NIL,
    tail: NIL,
    locate: 0,
    side: 0,
    _pad: 0,
    next_free: NIL,
};

/// One side of one instrument: where its sorted level array is, with a
/// copy of the best level's price and size so that BBO checks and events
/// read neither the array nor a level slot.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C, align(32))]
struct SideEnds {
    /// Level slot of the best level; `NIL` while the side is empty.
    best: u32,
    /// Price of `best` (meaningless while the side is empty).
    best_price: u32,
    /// Shares and orders at `best`.
    best_qty: u64,
    best_orders: u32,
    /// First block of the side's array in the [`Arena`] (while `cap != 0`).
    seg: u32,
    /// Levels in the array.
    len: u32,
    /// Entries the segment holds (`BLOCK << order`), 0 without a segment.
    cap: u32,
}

const EMPTY_SIDE: SideEnds = SideEnds {
    best: NIL,
    best_price: 0,
    best_qty: 0,
    best_orders: 0,
    seg: 0,
    len: 0,
    cap: 0,
};

/// Both sides of one instrument: one cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Sides([SideEnds; 2]);

const EMPTY_SIDES: Sides = Sides([EMPTY_SIDE; 2]);

impl SideEnds {
    /// Arena order of the side's segment (only meaningful while `cap != 0`).
    #[inline(always)]
    fn order(&self) -> u8 {
        (self.cap as usize / BLOCK).trailing_zeros() as u8
    }

    #[inline(always)]
    fn top(&self) -> Option<Level> {
        if self.best == NIL {
            None
        } else {
            Some(Level {
                price: Price(self.best_price as i64),
                qty: self.best_qty,
                orders: self.best_orders,
            })
        }
    }
}

/// The sort key of `price` on side `s`: the arrays are ascending by key
/// with the best level last, so bids use the price and asks its complement.
#[inline(always)]
fn side_key(s: usize, price: u32) -> u32 {
    if s == 0 {
        price
    } else {
        !price
    }
}

/// An array entry: key above, level slot below, so that entries sort by key.
#[inline(always)]
fn array_entry(key: u32, level: u32) -> u64 {
    (key as u64) << 32 | level as u64
}

#[inline(always)]
fn entry_key(entry: u64) -> u32 {
    (entry >> 32) as u32
}

#[inline(always)]
fn entry_level(entry: u64) -> u32 {
    entry as u32
}

/// Index of the first entry whose key is not below `key`.
#[inline(always)]
fn position(entries: &[u64], key: u32) -> usize {
    let probe = array_entry(key, 0);
    entries.partition_point(|&e| e < probe)
}

/// [`position`], without a search when `key` is above every entry: a new
/// best, the usual place for a new level.
#[inline(always)]
fn insert_position(entries: &[u64], key: u32) -> usize {
    match entries.last() {
        Some(&last) if entry_key(last) >= key => position(entries, key),
        _ => entries.len(),
    }
}

#[inline(always)]
fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

#[inline(always)]
fn side_of(index: u8) -> Side {
    if index == 0 {
        Side::Buy
    } else {
        Side::Sell
    }
}

#[inline(always)]
fn level_of(view: &LevelSlot) -> Level {
    Level {
        price: Price(view.price as i64),
        qty: view.qty,
        orders: view.orders,
    }
}

#[inline(always)]
fn emit<S: EventSink + ?Sized>(counters: &mut Counters, sink: &mut S, event: BookEvent) {
    if !sink.push(event) {
        counters.events_dropped += 1;
    }
}

/// The whole-market L3 book. See the crate documentation.
pub struct Book {
    orders: OrderTable,
    levels: Box<[LevelSlot]>,
    level_free: u32,
    level_high_water: u32,
    live_levels: usize,
    /// The sorted level arrays of every side.
    arena: Arena,
    sides: Box<[Sides; LOCATES]>,
    status: Box<[InstrumentStatus; LOCATES]>,
    /// The directory entries of `status`, by symbol ([`Book::locate_of`]).
    symbols: SymbolIndex,
    counters: Counters,
}

impl Default for Book {
    fn default() -> Self {
        Book::with_capacity(BookConfig::default())
    }
}

fn boxed_array<T: Clone, const N: usize>(value: T) -> Box<[T; N]> {
    let slice = vec![value; N].into_boxed_slice();
    match slice.try_into() {
        Ok(array) => array,
        // The vector has exactly N elements; this arm cannot be taken.
        Err(_) => unreachable!("boxed slice of length N"),
    }
}

impl Book {
    /// Allocates every table once. Capacities are clamped to
    /// `1..=MAX_ORDER_CAPACITY` orders and `1..=MAX_LEVEL_CAPACITY` levels.
    pub fn with_capacity(config: BookConfig) -> Book {
        let (max_orders, max_levels) = config.clamped();
        Book {
            orders: OrderTable::with_capacity(max_orders),
            levels: vec![FREE_LEVEL; max_levels].into_boxed_slice(),
            level_free: NIL,
            level_high_water: 0,
            live_levels: 0,
            arena: Arena::with_entries(Self::arena_entries(max_levels)),
            sides: boxed_array(EMPTY_SIDES),
            status: boxed_array(InstrumentStatus::INITIAL),
            symbols: SymbolIndex::new(),
            counters: Counters::default(),
        }
    }

    /// Forgets every order, level, status and counter without reallocating
    /// (start of a new day or a replay).
    pub fn clear(&mut self) {
        self.orders.clear();
        // Slots ever used go back to free, so that a level a prefetch stage
        // found before the clear can never pass for a live one.
        let used = self.level_high_water as usize;
        if let Some(used) = self.levels.get_mut(..used) {
            used.fill(FREE_LEVEL);
        }
        self.level_free = NIL;
        self.level_high_water = 0;
        self.live_levels = 0;
        self.arena.clear();
        self.sides.fill(EMPTY_SIDES);
        self.status.fill(InstrumentStatus::INITIAL);
        self.symbols.clear();
        self.counters = Counters::default();
    }

    /// Bytes of all tables owned by the book.
    pub fn memory_bytes(&self) -> usize {
        core::mem::size_of::<Book>()
            + self.orders.memory_bytes()
            + self.levels.len() * core::mem::size_of::<LevelSlot>()
            + self.arena.memory_bytes()
            + core::mem::size_of::<[Sides; LOCATES]>()
            + core::mem::size_of::<[InstrumentStatus; LOCATES]>()
            + SymbolIndex::memory_bytes()
    }

    /// What [`Book::memory_bytes`] will report for `config`, without building it.
    pub fn memory_bytes_for(config: BookConfig) -> usize {
        let (max_orders, max_levels) = config.clamped();
        core::mem::size_of::<Book>()
            + OrderTable::memory_bytes_for(max_orders)
            + max_levels * core::mem::size_of::<LevelSlot>()
            + Arena::memory_bytes_for(Self::arena_entries(max_levels))
            + core::mem::size_of::<[Sides; LOCATES]>()
            + core::mem::size_of::<[InstrumentStatus; LOCATES]>()
            + SymbolIndex::memory_bytes()
    }

    /// Arena entries for `max_levels` levels: a side's array is more than a
    /// quarter full or a single block of 8, so a side with n levels holds at
    /// most max(8, 4n) ≤ 8n entries, and all arrays together never need
    /// more than the 8 per level of capacity the arena has (on a real day
    /// far fewer: most sides have many levels). An empty side may keep one
    /// block for its next level, outside that reckoning; the compaction a
    /// full arena runs takes those back first. Shrinking gives back the
    /// upper half of a segment in place and cannot fail. When fragmentation
    /// of the buddy arena leaves a growing side without a segment, the
    /// arena is compacted (counted in [`Counters::level_compactions`]),
    /// after which the growth fits: the other arrays (≤ 8 per level), the
    /// side's full old segment (n entries) and its new one (2n) come to at
    /// most 8 per level of capacity.
    fn arena_entries(max_levels: usize) -> usize {
        max_levels.saturating_mul(8).max(4 * BLOCK)
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }

    /// Live orders whose direct slot was taken when they arrived (kept in
    /// the order table's spill pool; see the crate documentation).
    pub fn spilled_orders(&self) -> usize {
        self.orders.spilled()
    }

    pub fn live_levels(&self) -> usize {
        self.live_levels
    }

    pub fn order_capacity(&self) -> usize {
        self.orders.capacity()
    }

    pub fn level_capacity(&self) -> usize {
        self.levels.len()
    }

    /// Directory, trading state and cross status of `locate`.
    pub fn status(&self, locate: StockLocate) -> &InstrumentStatus {
        &self.status[locate as usize]
    }

    /// The locate the current directory gives `symbol` (the directory read
    /// backwards, one lookup in a hash index). `None` when no locate names
    /// it, and when two named it at once (a bad feed: which one is the
    /// stock is unknown) until every locate naming it has been renamed or
    /// the book is cleared.
    pub fn locate_of(&self, symbol: &types::Symbol) -> Option<StockLocate> {
        self.symbols.get(symbol)
    }

    /// Symbols the current directory names (one naming two locates counts
    /// once); 0 before a feed's directory and after [`Book::clear`].
    pub fn named_symbols(&self) -> usize {
        self.symbols.len()
    }

    pub fn trading_state(&self, locate: StockLocate) -> TradingState {
        self.status[locate as usize].trading_state
    }

    // ----- level pool --------------------------------------------------------

    #[inline]
    fn alloc_level(&mut self) -> Option<u32> {
        if self.level_free != NIL {
            let index = self.level_free;
            self.level_free = self.levels[index as usize].next_free;
            Some(index)
        } else if (self.level_high_water as usize) < self.levels.len() {
            let index = self.level_high_water;
            self.level_high_water += 1;
            Some(index)
        } else {
            None
        }
    }

    #[inline]
    fn free_level(&mut self, index: u32) {
        self.levels[index as usize] = LevelSlot {
            next_free: self.level_free,
            ..FREE_LEVEL
        };
        self.level_free = index;
    }

    // ----- levels ------------------------------------------------------------

    #[inline(always)]
    fn ends(&self, locate: StockLocate, s: usize) -> &SideEnds {
        &self.sides[locate as usize].0[s & 1]
    }

    #[inline(always)]
    fn ends_mut(&mut self, locate: StockLocate, s: usize) -> &mut SideEnds {
        &mut self.sides[locate as usize].0[s & 1]
    }

    #[inline(always)]
    fn top(&self, locate: StockLocate, s: usize) -> Option<Level> {
        self.ends(locate, s).top()
    }

    /// Refreshes the copy of the best level's size after level `index` of
    /// (`locate`, `s`) changed.
    #[inline(always)]
    fn sync_best(&mut self, locate: StockLocate, s: usize, index: u32) {
        if self.ends(locate, s).best == index {
            let level = self.levels[index as usize];
            let ends = self.ends_mut(locate, s);
            ends.best_qty = level.qty;
            ends.best_orders = level.orders;
        }
    }

    /// Finds the level or creates it in sorted position. `hint` is a slot
    /// a prefetch stage found for it (`NIL` if none), used if it checks out.
    #[inline]
    fn level_for(&mut self, locate: StockLocate, s: usize, price: u32, hint: u32) -> Option<u32> {
        if let Some(slot) = self.levels.get(hint as usize) {
            // Live levels are unique per (locate, side, price).
            if slot.orders != 0
                && slot.price == price
                && slot.locate == locate
                && slot.side as usize == s
            {
                return Some(hint);
            }
        }
        // One search finds the level or the place of a new one.
        let at = match self.search_level(locate, s, price) {
            Ok(level) => return Some(level),
            Err(at) => at,
        };
        let index = self.alloc_level()?;
        if !self.link_level(locate, s, index, price, at) {
            self.free_level(index);
            return None;
        }
        self.levels[index as usize] = LevelSlot {
            price,
            locate,
            side: s as u8,
            ..FREE_LEVEL
        };
        self.live_levels += 1;
        self.counters.peak_levels = self.counters.peak_levels.max(self.live_levels as u64);
        Some(index)
    }

    /// Moves the array of (`locate`, `s`) to a new segment of `order` (its
    /// first, or a larger one); false (and nothing changed) if the arena has
    /// none.
    fn move_array(&mut self, locate: StockLocate, s: usize, order: u8) -> bool {
        let ends = *self.ends(locate, s);
        let Some(seg) = self.arena.alloc(order) else {
            return false;
        };
        if ends.cap != 0 {
            self.arena.copy(ends.seg, seg, ends.len as usize);
            self.arena.free(ends.seg, ends.order());
        }
        let ends = self.ends_mut(locate, s);
        ends.seg = seg;
        ends.cap = (BLOCK << order) as u32;
        true
    }

    /// Packs every side's level array to the front of the arena, largest
    /// first (see `arena`). Cold: only a fragmented arena gets here.
    #[cold]
    #[inline(never)]
    fn compact_arena(&mut self) {
        self.counters.level_compactions += 1;
        // Two passes over the sides: count the segments of each order (the
        // arena places the largest first), then move each one.
        let mut segments = [0u32; MAX_ORDER + 1];
        // Empty sides give back the block they kept (see `remove_level`):
        // after a compaction every segment holds levels, which is what the
        // arena's size is reckoned on (`arena_entries`).
        for ends in self.sides.iter_mut().flat_map(|sides| sides.0.iter_mut()) {
            if ends.len == 0 {
                ends.cap = 0;
            }
        }
        for ends in self.sides.iter().flat_map(|sides| sides.0.iter()) {
            if ends.cap != 0 {
                if let Some(count) = segments.get_mut(ends.order() as usize) {
                    *count += 1;
                }
            }
        }
        self.arena.start_packing(&segments);
        for ends in self.sides.iter_mut().flat_map(|sides| sides.0.iter_mut()) {
            if ends.cap != 0 {
                ends.seg = self.arena.pack(ends.seg, ends.order(), ends.len as usize);
            }
        }
        self.arena.finish_packing();
    }

    /// Enters new level `index` at `price` into its side's array at `at`
    /// (its [`insert_position`]); false if the array had to grow and the
    /// arena had no room.
    fn link_level(
        &mut self,
        locate: StockLocate,
        s: usize,
        index: u32,
        price: u32,
        at: usize,
    ) -> bool {
        let ends = *self.ends(locate, s);
        if ends.len == ends.cap {
            if ends.cap != 0 && self.arena.grow_in_place(ends.seg, ends.order()) {
                self.ends_mut(locate, s).cap *= 2;
            } else {
                let order = if ends.cap == 0 { 0 } else { ends.order() + 1 };
                // A fragmented arena is compacted once and asked again; the
                // arena holds all arrays at their largest (see
                // `arena_entries`), so only a pool beyond its capacity fails.
                if !self.move_array(locate, s, order) {
                    self.compact_arena();
                    if !self.move_array(locate, s, order) {
                        return false;
                    }
                }
            }
        }
        let ends = *self.ends(locate, s);
        let len = ends.len as usize;
        let key = side_key(s, price);
        let entries = self.arena.get_mut(ends.seg, len + 1);
        if entries.len() <= len {
            // Unreachable: the segment holds more than `len` entries here.
            return false;
        }
        let at = at.min(len);
        // A new best (the usual new level) moves nothing: no call at all.
        if at < len {
            entries.copy_within(at..len, at + 1);
        }
        entries[at] = array_entry(key, index);
        self.counters.level_shifts += (len - at) as u64;
        let ends = self.ends_mut(locate, s);
        ends.len = len as u32 + 1;
        if at == len {
            // The new best; its size is copied in once the order has joined it.
            ends.best = index;
            ends.best_price = price;
            ends.best_qty = 0;
            ends.best_orders = 0;
        }
        true
    }

    /// Takes empty level `index` out of its side's array and frees it.
    fn remove_level(&mut self, locate: StockLocate, s: usize, index: u32) {
        let price = self.levels[index as usize].price;
        let ends = *self.ends(locate, s);
        let len = ends.len as usize;
        let entries = self.arena.get_mut(ends.seg, len);
        // The best is the last entry; anything else is searched for.
        let at = if ends.best == index {
            len.wrapping_sub(1)
        } else {
            position(entries, side_key(s, price))
        };
        if entries.get(at).map(|&e| entry_level(e)) == Some(index) {
            // Removing the best (the usual case) moves nothing.
            if at + 1 < len {
                entries.copy_within(at + 1..len, at);
            }
            let len = len - 1;
            self.counters.level_shifts += (len - at) as u64;
            let new_best = if at == len {
                len.checked_sub(1).map(|i| entry_level(entries[i]))
            } else {
                None
            };
            if len == 0 {
                // The side keeps one block (its array's smallest segment)
                // for its next level: a side that empties and fills again,
                // as a thin name's does all day, needs no segment from the
                // arena and gives none back (each a chain of buddy splits or
                // merges). A larger segment shrinks to that block in place;
                // compaction takes the blocks of empty sides back.
                let mut order = ends.order();
                while order > 0 {
                    order -= 1;
                    self.arena.free(ends.seg + (1 << order), order);
                }
                *self.ends_mut(locate, s) = SideEnds {
                    seg: ends.seg,
                    cap: BLOCK as u32,
                    ..EMPTY_SIDE
                };
            } else {
                if let Some(best) = new_best {
                    let level = self.levels[best as usize];
                    let ends = self.ends_mut(locate, s);
                    ends.best = best;
                    ends.best_price = level.price;
                    ends.best_qty = level.qty;
                    ends.best_orders = level.orders;
                }
                self.ends_mut(locate, s).len = len as u32;
                // Down to a quarter: the lower half of the segment keeps the
                // array, the upper half goes back (a buddy segment of its own,
                // so this needs no copy and cannot fail).
                if ends.cap as usize > BLOCK && len <= ends.cap as usize / 4 {
                    let order = ends.order() - 1;
                    self.arena.free(ends.seg + (1 << order), order);
                    self.ends_mut(locate, s).cap = (BLOCK << order) as u32;
                }
            }
        }
        self.live_levels -= 1;
        self.free_level(index);
    }

    // ----- orders ------------------------------------------------------------

    /// Takes `qty` shares (clamped by the caller) off live order `index`;
    /// removes the order and, if empty, its level. Returns the level's state
    /// afterwards.
    #[inline(always)]
    fn reduce(&mut self, index: u32, qty: u32) -> Level {
        let order = *self.orders.get(index);
        let (locate, s) = (order.locate, order.side as usize);
        let level_index = order.level;
        let remaining = order.qty - qty;
        let level = &mut self.levels[level_index as usize];
        level.qty -= qty as u64;
        if remaining > 0 {
            let view = level_of(level);
            if let Some(slot) = self.orders.get_mut(index) {
                slot.qty = remaining;
            }
            self.sync_best(locate, s, level_index);
            return view;
        }
        level.orders -= 1;
        if order.prev == NIL {
            level.head = order.next;
        }
        if order.next == NIL {
            level.tail = order.prev;
        }
        let view = level_of(level);
        if let Some(prev) = self.orders.get_mut(order.prev) {
            prev.next = order.next;
        }
        if let Some(next) = self.orders.get_mut(order.next) {
            next.prev = order.prev;
        }
        self.orders.remove(index);
        if view.orders == 0 {
            self.remove_level(locate, s, level_index);
        } else {
            self.sync_best(locate, s, level_index);
        }
        view
    }

    /// Appends a new order; the caller has validated everything but
    /// capacity. Gives the level's index and state afterwards.
    #[inline(always)]
    fn insert_order(
        &mut self,
        locate: StockLocate,
        order_ref: u64,
        s: usize,
        price: u32,
        qty: u32,
        hint: u32,
    ) -> Result<(u32, Level), Anomaly> {
        if self.orders.is_full() {
            self.counters.order_table_full += 1;
            return Err(Anomaly::OrderTableFull);
        }
        let Some(level_index) = self.level_for(locate, s, price, hint) else {
            self.counters.level_pool_full += 1;
            return Err(Anomaly::LevelPoolFull);
        };
        let tail = self.levels[level_index as usize].tail;
        let new = NewOrder {
            qty,
            level: level_index,
            prev: tail,
            locate,
            side: s as u8,
        };
        let Some(index) = self.orders.insert(order_ref, new) else {
            // Unreachable: callers check for duplicates and capacity.
            if self.levels[level_index as usize].orders == 0 {
                self.remove_level(locate, s, level_index);
            }
            self.counters.order_table_full += 1;
            return Err(Anomaly::OrderTableFull);
        };
        self.counters.peak_orders = self.counters.peak_orders.max(self.orders.len() as u64);
        let level = &mut self.levels[level_index as usize];
        level.tail = index;
        if tail == NIL {
            level.head = index;
        }
        level.qty += qty as u64;
        level.orders += 1;
        let view = level_of(level);
        if let Some(tail) = self.orders.get_mut(tail) {
            tail.next = index;
        }
        self.sync_best(locate, s, level_index);
        Ok((level_index, view))
    }

    #[inline]
    fn check_crossed(&mut self, locate: StockLocate) {
        let [bid, ask] = self.sides[locate as usize].0;
        if bid.best != NIL && ask.best != NIL && bid.best_price >= ask.best_price {
            self.counters.crossed_book += 1;
        }
    }

    #[inline]
    fn emit_bbo_if_changed<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        s: usize,
        before: Option<Level>,
        ts: Nanos,
        sink: &mut S,
    ) {
        if self.top(locate, s) != before {
            self.emit_bbo(locate, ts, sink);
        }
    }

    #[inline(always)]
    fn emit_bbo<S: EventSink + ?Sized>(&mut self, locate: StockLocate, ts: Nanos, sink: &mut S) {
        let bbo = self.bbo(locate);
        emit(&mut self.counters, sink, BookEvent::Bbo { locate, bbo, ts });
    }

    // ----- input API ---------------------------------------------------------

    /// Counts a message the book has no use for.
    pub fn note_ignored(&mut self) {
        self.counters.ignored += 1;
    }

    /// A new displayed order joins the back of its price level (ITCH `A`/`F`).
    // One argument per field of the ITCH message, plus the sink.
    #[allow(clippy::too_many_arguments)]
    pub fn add_order<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        order_ref: u64,
        side: Side,
        price: Price,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.add_order_hinted(locate, order_ref, side, price, qty, NIL, ts, sink)
    }

    /// [`Book::add_order`] with the level a prefetch stage found (`NIL`: none).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn add_order_hinted<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        order_ref: u64,
        side: Side,
        price: Price,
        qty: u32,
        hint: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        let Ok(raw_price) = u32::try_from(price.0) else {
            self.counters.bad_price += 1;
            return Err(Anomaly::BadPrice);
        };
        if qty == 0 {
            self.counters.zero_quantity += 1;
            return Err(Anomaly::ZeroQuantity);
        }
        if self.orders.find(order_ref).is_some() {
            self.counters.duplicate_order += 1;
            return Err(Anomaly::DuplicateOrder);
        }
        let s = side_index(side);
        let (level_index, level) = self.insert_order(locate, order_ref, s, raw_price, qty, hint)?;
        emit(
            &mut self.counters,
            sink,
            BookEvent::Level {
                locate,
                side,
                level,
                ts,
            },
        );
        // Shares were added to this level: the BBO changed iff it is the
        // best now (a new best, or more at the old one).
        if self.ends(locate, s).best == level_index {
            self.emit_bbo(locate, ts, sink);
        }
        self.check_crossed(locate);
        Ok(())
    }

    /// Shared body of execute / execute-with-price / cancel / delete.
    /// `qty == None` removes the whole order. `print` is the trade price to
    /// report (`Some(None)`: at the order's price; `None`: no trade event).
    #[inline(always)]
    fn take<S: EventSink + ?Sized>(
        &mut self,
        order_ref: u64,
        hint: u32,
        qty: Option<u32>,
        print: Option<Option<Price>>,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if qty == Some(0) {
            self.counters.zero_quantity += 1;
            return Err(Anomaly::ZeroQuantity);
        }
        let Some(index) = self.orders.find_hinted(order_ref, hint) else {
            self.counters.unknown_order += 1;
            return Err(Anomaly::UnknownOrder);
        };
        let order = *self.orders.get(index);
        let (locate, s) = (order.locate, order.side as usize);
        let side = side_of(order.side);
        let mut result = Ok(());
        let take = match qty {
            Some(q) if q > order.qty => {
                self.counters.negative_quantity += 1;
                result = Err(Anomaly::NegativeQuantity);
                order.qty
            }
            Some(q) => q,
            None => order.qty,
        };
        if let Some(trade_price) = print {
            let price = trade_price
                .unwrap_or_else(|| Price(self.levels[order.level as usize].price as i64));
            let status = &mut self.status[locate as usize];
            status.last_trade = Some((price, take));
            status.volume = status.volume.saturating_add(take as u64);
            emit(
                &mut self.counters,
                sink,
                BookEvent::Trade {
                    locate,
                    price,
                    qty: take,
                    resting_side: Some(side),
                    ts,
                },
            );
        }
        // At least one share leaves this level: the BBO changes iff it was
        // the best.
        let was_best = self.ends(locate, s).best == order.level;
        let after = self.reduce(index, take);
        emit(
            &mut self.counters,
            sink,
            BookEvent::Level {
                locate,
                side,
                level: after,
                ts,
            },
        );
        if was_best {
            self.emit_bbo(locate, ts, sink);
        }
        result
    }

    /// A resting order executed at its own price (ITCH `E`).
    pub fn execute<S: EventSink + ?Sized>(
        &mut self,
        order_ref: u64,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.take(order_ref, NIL, Some(qty), Some(None), ts, sink)
    }

    /// A resting order executed at a different price (ITCH `C`). A
    /// non-printable execution reduces the order but yields no trade event
    /// and no volume.
    pub fn execute_with_price<S: EventSink + ?Sized>(
        &mut self,
        order_ref: u64,
        qty: u32,
        price: Price,
        printable: bool,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        let print = if printable { Some(Some(price)) } else { None };
        self.take(order_ref, NIL, Some(qty), print, ts, sink)
    }

    /// Part of an order is cancelled (ITCH `X`); cancelling all that remains
    /// removes the order.
    pub fn cancel<S: EventSink + ?Sized>(
        &mut self,
        order_ref: u64,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.take(order_ref, NIL, Some(qty), None, ts, sink)
    }

    /// The whole order is gone (ITCH `D`).
    pub fn delete<S: EventSink + ?Sized>(
        &mut self,
        order_ref: u64,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.take(order_ref, NIL, None, None, ts, sink)
    }

    /// Cancel-replace (ITCH `U`): the old order leaves, a new one with a new
    /// reference, price and size joins the back of its level on the same side
    /// and instrument (queue position is lost even at the same price).
    ///
    /// Applied all or nothing when the old reference is unknown, the new
    /// reference is live (other than the old one), the price is out of range
    /// or the size is zero. If the level pool is exhausted, the old order is
    /// removed and the new one dropped (counted).
    pub fn replace<S: EventSink + ?Sized>(
        &mut self,
        old_ref: u64,
        new_ref: u64,
        price: Price,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.replace_hinted(old_ref, NIL, new_ref, price, qty, ts, sink)
    }

    // The replace's fields, the old order's slot if a prefetch stage found it.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn replace_hinted<S: EventSink + ?Sized>(
        &mut self,
        old_ref: u64,
        hint: u32,
        new_ref: u64,
        price: Price,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        let Some(index) = self.orders.find_hinted(old_ref, hint) else {
            self.counters.unknown_order += 1;
            return Err(Anomaly::UnknownOrder);
        };
        let Ok(raw_price) = u32::try_from(price.0) else {
            self.counters.bad_price += 1;
            return Err(Anomaly::BadPrice);
        };
        if qty == 0 {
            self.counters.zero_quantity += 1;
            return Err(Anomaly::ZeroQuantity);
        }
        if new_ref != old_ref && self.orders.find(new_ref).is_some() {
            self.counters.duplicate_order += 1;
            return Err(Anomaly::DuplicateOrder);
        }
        let order = *self.orders.get(index);
        let (locate, s) = (order.locate, order.side as usize);
        let side = side_of(order.side);
        let before = self.top(locate, s);
        let after_remove = self.reduce(index, order.qty);
        emit(
            &mut self.counters,
            sink,
            BookEvent::Level {
                locate,
                side,
                level: after_remove,
                ts,
            },
        );
        let result = match self.insert_order(locate, new_ref, s, raw_price, qty, NIL) {
            Ok((_, level)) => {
                emit(
                    &mut self.counters,
                    sink,
                    BookEvent::Level {
                        locate,
                        side,
                        level,
                        ts,
                    },
                );
                Ok(())
            }
            Err(anomaly) => Err(anomaly),
        };
        self.emit_bbo_if_changed(locate, s, before, ts, sink);
        self.check_crossed(locate);
        result
    }

    /// A trade against a non-displayed order (ITCH `P`): reported, book unchanged.
    pub fn trade<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        side: Side,
        price: Price,
        qty: u32,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        let status = &mut self.status[locate as usize];
        status.last_trade = Some((price, qty));
        status.volume = status.volume.saturating_add(qty as u64);
        emit(
            &mut self.counters,
            sink,
            BookEvent::Trade {
                locate,
                price,
                qty,
                resting_side: Some(side),
                ts,
            },
        );
        Ok(())
    }

    /// A cross print (ITCH `Q`): opening, closing, halt/IPO cross. Ends the
    /// pending imbalance period. Shares are `u64` as in ITCH.
    pub fn cross_trade<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        price: Price,
        shares: u64,
        cross_type: u8,
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        let qty = u32::try_from(shares).unwrap_or(u32::MAX);
        let status = &mut self.status[locate as usize];
        status.cross.imbalance = None;
        status.cross.last_cross = Some((price, shares, cross_type, ts));
        status.last_trade = Some((price, qty));
        status.volume = status.volume.saturating_add(shares);
        emit(
            &mut self.counters,
            sink,
            BookEvent::Trade {
                locate,
                price,
                qty,
                resting_side: None,
                ts,
            },
        );
        Ok(())
    }

    /// Stock directory (ITCH `R`).
    pub fn set_directory(
        &mut self,
        locate: StockLocate,
        directory: Directory,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        let entry = &mut self.status[locate as usize].directory;
        let before = entry.map(|d| d.symbol);
        *entry = Some(directory);
        if before != Some(directory.symbol) {
            if let Some(old) = before {
                self.symbols.remove(&old);
            }
            // A symbol another locate names too stays in the entry, but
            // `locate_of` gives neither (see `symbols`).
            let _ = self.symbols.insert(&directory.symbol, locate);
        }
        Ok(())
    }

    /// Trading action (ITCH `H`): emits a state event when the state changes.
    pub fn set_trading_state<S: EventSink + ?Sized>(
        &mut self,
        locate: StockLocate,
        state: TradingState,
        reason: [u8; 4],
        ts: Nanos,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        let status = &mut self.status[locate as usize];
        status.trading_reason = reason;
        if status.trading_state != state {
            status.trading_state = state;
            emit(
                &mut self.counters,
                sink,
                BookEvent::State { locate, state, ts },
            );
        }
        Ok(())
    }

    /// Net order imbalance indicator (ITCH `I`): a cross is pending.
    pub fn set_imbalance(
        &mut self,
        locate: StockLocate,
        imbalance: Imbalance,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        self.status[locate as usize].cross.imbalance = Some(imbalance);
        Ok(())
    }

    // ----- prefetch ----------------------------------------------------------

    /// Starts the cache misses an upcoming message will take, without
    /// changing anything. A message needs up to three *dependent* loads, so
    /// prefetching runs in [`PREFETCH_STAGES`] stages, each reading only what
    /// the previous stage started loading and recording in `ahead` what it
    /// found:
    ///
    /// | stage | execute/cancel/delete | add | replace |
    /// |---|---|---|---|
    /// | 0 | order's slot | order's slot, instrument's side ends | both orders' slots |
    /// | 1 | its level, queue neighbours, side ends | the best level if the price is the best, else the lines of the side's level array a search reads | old order's level, neighbours, side ends |
    /// | 2 | if the level will empty: the side's level array (spilled order: its slot) | order at the level's queue tail, or the level the search finds | as execute/cancel/delete; the new price's level or array |
    ///
    /// Calling stage `s` for message `i + (3 − s)·d` while applying message
    /// `i` keeps the misses of `3·d` messages in flight. Stale findings are
    /// harmless: prefetching never changes the book, and [`Book::apply`]
    /// checks what it is handed (an order slot by its reference, a level by
    /// its instrument, side and price) and otherwise looks it up again.
    #[inline(always)]
    pub fn prefetch(&self, p: &mut Pending, stage: u8) {
        match (p.kind, stage) {
            (LOOK_ORDER, 0) => self.orders.prefetch_home(p.key),
            (LOOK_ORDER, 1) => {
                p.found = self.prefetch_order(p.key).map_or(NIL, |(index, _)| index);
            }
            (LOOK_ORDER, _) => match p.found {
                NIL => {
                    if let Some(index) = self.orders.find(p.key) {
                        self.orders.prefetch(index);
                    }
                }
                found => self.prefetch_level_removal(found),
            },
            (LOOK_ADD, 0) => {
                self.orders.prefetch_home(p.key);
                prefetch::prefetch(&self.sides[p.locate as usize]);
            }
            (LOOK_ADD, 1) => {
                p.found = NIL;
                let Some(price) = p.book_price() else {
                    return;
                };
                p.found = self.prefetch_price(self.ends(p.locate, p.side as usize), price);
            }
            (LOOK_ADD, _) => match self.levels.get(p.found as usize) {
                Some(level) => self.orders.prefetch(level.tail),
                None => {
                    let found = p
                        .book_price()
                        .and_then(|price| self.find_level(p.locate, p.side as usize, price));
                    if let Some(level) = found {
                        p.found = level;
                        prefetch::prefetch(&self.levels[level as usize]);
                    }
                }
            },
            (LOOK_REPLACE, 0) => {
                self.orders.prefetch_home(p.key);
                self.orders.prefetch_home(p.new_key);
            }
            (LOOK_REPLACE, 1) => {
                p.found = NIL;
                if let Some((index, order)) = self.prefetch_order(p.key) {
                    p.found = index;
                    p.locate = order.locate;
                    p.side = order.side;
                }
            }
            (LOOK_REPLACE, _) if p.found != NIL => {
                self.prefetch_level_removal(p.found);
                if let Some(price) = p.book_price() {
                    self.prefetch_price(self.ends(p.locate, p.side as usize), price);
                }
            }
            _ => {}
        }
    }

    /// Warms the cache for a group of messages about to be applied one by
    /// one through [`Book::apply_itch`] (a receive batch of feed frames, the
    /// messages of one MoldUDP64 packet), where no lookahead ring can hold
    /// them. Each message is decoded (ITCH bytes without a length prefix),
    /// then every stage of [`Book::prefetch`] runs for the whole group
    /// before the next stage starts, so the misses of a stage overlap
    /// across the group instead of following each other message by
    /// message. Groups of more than [`PREFETCH_GROUP`] messages are taken
    /// [`PREFETCH_GROUP`] at a time.
    ///
    /// Nothing changes: bytes that are not an order message, or are
    /// malformed, are skipped (applying reports them). A lone message is
    /// not prefetched (its own lookup would take the same misses in the
    /// same order); the call then costs one decode. Returns the number of
    /// messages prefetched.
    pub fn prefetch_group<'m, I>(&self, messages: I) -> usize
    where
        I: IntoIterator<Item = &'m [u8]>,
    {
        let mut messages = messages.into_iter();
        let mut group = [Pending::NONE; PREFETCH_GROUP];
        let mut warmed = 0;
        loop {
            let mut n = 0;
            for bytes in messages.by_ref() {
                let Some(p) = itch::pending_from_bytes(bytes) else {
                    continue;
                };
                group[n] = p;
                n += 1;
                if n == PREFETCH_GROUP {
                    break;
                }
            }
            if n < 2 {
                return warmed;
            }
            for stage in 0..PREFETCH_STAGES {
                for p in group[..n].iter_mut() {
                    self.prefetch(p, stage);
                }
            }
            warmed += n;
            if n < PREFETCH_GROUP {
                return warmed;
            }
        }
    }

    /// Applies a decoded operation (see [`Pending`]); the same as calling
    /// the input method it was built for.
    #[inline(always)]
    pub fn apply<S: EventSink + ?Sized>(
        &mut self,
        p: &Pending,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        let ts = Nanos(p.ts);
        match p.op {
            OP_ADD => self.add_order_hinted(
                p.locate,
                p.key,
                side_of(p.side),
                Price(p.price),
                p.qty,
                p.found,
                ts,
                sink,
            ),
            OP_DELETE => self.take(p.key, p.found, None, None, ts, sink),
            OP_EXECUTE => self.take(p.key, p.found, Some(p.qty), Some(None), ts, sink),
            OP_EXECUTE_AT => {
                let print = if p.printable {
                    Some(Some(Price(p.price)))
                } else {
                    None
                };
                self.take(p.key, p.found, Some(p.qty), print, ts, sink)
            }
            OP_CANCEL => self.take(p.key, p.found, Some(p.qty), None, ts, sink),
            OP_REPLACE => {
                self.replace_hinted(p.key, p.found, p.new_key, Price(p.price), p.qty, ts, sink)
            }
            _ => Ok(()),
        }
    }

    /// Stage 1 for an order known by reference: if its direct slot (loaded
    /// by stage 0) holds it, starts loading its level, queue neighbours and
    /// side ends and gives the slot; for a spilled order, starts loading its
    /// hash map entry.
    #[inline(always)]
    fn prefetch_order(&self, order_ref: u64) -> Option<(u32, &orders::OrderSlot)> {
        let (index, slot) = self.orders.home_slot(order_ref);
        if slot.key == order_ref && slot.qty != 0 {
            if let Some(level) = self.levels.get(slot.level as usize) {
                prefetch::prefetch(level);
            }
            self.orders.prefetch(slot.prev);
            self.orders.prefetch(slot.next);
            prefetch::prefetch(&self.sides[slot.locate as usize]);
            return Some((index, slot));
        }
        if slot.spilled != 0 {
            self.orders.prefetch_spill_entry(order_ref);
        }
        None
    }

    /// Stage 2 of an order about to be reduced: if it is its level's only
    /// order, the level will go too; start loading what removing it touches
    /// (the side's level array; for the best level, the line of its
    /// successor's entry).
    #[inline(always)]
    fn prefetch_level_removal(&self, order_index: u32) {
        let order = self.orders.get(order_index);
        let Some(level) = self.levels.get(order.level as usize) else {
            return;
        };
        if level.orders != 1 {
            return;
        }
        let ends = self.ends(order.locate, order.side as usize);
        if ends.best == order.level {
            self.arena
                .prefetch(ends.seg, (ends.len as usize).saturating_sub(2));
        } else {
            self.prefetch_array(ends);
        }
    }

    /// For a new order at `price` on a side: the best level if that is its
    /// price (and gives it), else the lines a search of the array reads
    /// (and gives `NIL`).
    #[inline(always)]
    fn prefetch_price(&self, ends: &SideEnds, price: u32) -> u32 {
        if ends.best != NIL && ends.best_price == price {
            prefetch::prefetch(&self.levels[ends.best as usize]);
            ends.best
        } else {
            self.prefetch_array(ends);
            NIL
        }
    }

    /// The lines of a side's level array that a binary search over it reads
    /// first (all of it up to 32 levels), and its end, where the best is.
    #[inline(always)]
    fn prefetch_array(&self, ends: &SideEnds) {
        let len = ends.len as usize;
        if len == 0 {
            return;
        }
        self.arena.prefetch(ends.seg, len - 1);
        self.arena.prefetch(ends.seg, len / 2);
        self.arena.prefetch(ends.seg, len / 4);
        self.arena.prefetch(ends.seg, len * 3 / 4);
    }

    /// The level of (`locate`, side `s`, `price`) if it exists.
    #[inline(always)]
    fn find_level(&self, locate: StockLocate, s: usize, price: u32) -> Option<u32> {
        self.search_level(locate, s, price).ok()
    }

    /// The level of (`locate`, side `s`, `price`), or where in the side's
    /// array a new level at that price goes. The best price needs no search.
    #[inline(always)]
    fn search_level(&self, locate: StockLocate, s: usize, price: u32) -> Result<u32, usize> {
        let ends = self.ends(locate, s);
        if ends.best != NIL && price == ends.best_price {
            return Ok(ends.best);
        }
        let entries = self.array(ends);
        let key = side_key(s, price);
        let at = insert_position(entries, key);
        match entries.get(at) {
            Some(&e) if entry_key(e) == key => Ok(entry_level(e)),
            _ => Err(at),
        }
    }

    /// The side's level array.
    #[inline(always)]
    fn array(&self, ends: &SideEnds) -> &[u64] {
        self.arena.get(ends.seg, ends.len as usize)
    }

    // ----- queries -----------------------------------------------------------

    /// The live order with this reference.
    pub fn order(&self, order_ref: u64) -> Option<OrderInfo> {
        let order = self.orders.get(self.orders.find(order_ref)?);
        let level = &self.levels[order.level as usize];
        Some(OrderInfo {
            locate: order.locate,
            side: side_of(order.side),
            price: Price(level.price as i64),
            qty: order.qty,
        })
    }

    /// Shares and orders ahead of `order_ref` in its level's FIFO queue.
    /// Walks the queue from the front: O(orders ahead) (the queue is not on
    /// the per-message path, and levels hold a handful of orders typically).
    pub fn queue_position(&self, order_ref: u64) -> Option<QueueInfo> {
        let index = self.orders.find(order_ref)?;
        let order = self.orders.get(index);
        let level = &self.levels[order.level as usize];
        let mut orders_ahead = 0u32;
        let mut shares_ahead = 0u64;
        let mut cursor = level.head;
        while cursor != index && cursor != NIL {
            let ahead = self.orders.get(cursor);
            orders_ahead += 1;
            shares_ahead += ahead.qty as u64;
            cursor = ahead.next;
        }
        Some(QueueInfo {
            locate: order.locate,
            side: side_of(order.side),
            price: Price(level.price as i64),
            qty: order.qty,
            orders_ahead,
            shares_ahead,
            level_orders: level.orders,
            level_qty: level.qty,
        })
    }

    /// Levels of one side, best first.
    pub fn levels(&self, locate: StockLocate, side: Side) -> LevelIter<'_> {
        let ends = self.ends(locate, side_index(side));
        LevelIter {
            book: self,
            entries: self.array(ends),
        }
    }

    /// Remaining sizes of the orders at one price, front of the queue first.
    pub fn queue(&self, locate: StockLocate, side: Side, price: Price) -> QueueIter<'_> {
        let cursor = u32::try_from(price.0)
            .ok()
            .and_then(|p| self.find_level(locate, side_index(side), p))
            .map_or(NIL, |level| self.levels[level as usize].head);
        QueueIter { book: self, cursor }
    }

    /// True when best bid ≥ best ask.
    pub fn is_crossed(&self, locate: StockLocate) -> bool {
        match (self.top(locate, 0), self.top(locate, 1)) {
            (Some(bid), Some(ask)) => bid.price >= ask.price,
            _ => false,
        }
    }
}

impl DepthView for Book {
    #[inline]
    fn bbo(&self, locate: StockLocate) -> Bbo {
        let [bid, ask] = &self.sides[locate as usize].0;
        Bbo {
            bid: bid.top(),
            ask: ask.top(),
        }
    }

    fn depth(&self, locate: StockLocate, side: Side, out: &mut [Level]) -> usize {
        let mut n = 0;
        for (slot, level) in out.iter_mut().zip(self.levels(locate, side)) {
            *slot = level;
            n += 1;
        }
        n
    }
}

/// Iterator over a side's levels, best first.
pub struct LevelIter<'a> {
    book: &'a Book,
    /// The levels not visited yet (the best is last).
    entries: &'a [u64],
}

impl Iterator for LevelIter<'_> {
    type Item = Level;

    fn next(&mut self) -> Option<Level> {
        let (&last, rest) = self.entries.split_last()?;
        self.entries = rest;
        self.book
            .levels
            .get(entry_level(last) as usize)
            .map(level_of)
    }
}

/// Iterator over remaining order sizes in one level's FIFO queue.
pub struct QueueIter<'a> {
    book: &'a Book,
    cursor: u32,
}

impl Iterator for QueueIter<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        if self.cursor == NIL {
            return None;
        }
        let order = self.book.orders.get(self.cursor);
        self.cursor = order.next;
        Some(order.qty)
    }
}

#[cfg(test)]
impl Book {
    /// Test helper: the side's array is sorted best last, names live levels
    /// of this side at their prices, fits its segment, and the side's copy
    /// of the best agrees with its last entry.
    fn side_is_consistent(&self, locate: StockLocate, side: Side) -> bool {
        let s = side_index(side);
        let ends = self.ends(locate, s);
        let entries = self.array(ends);
        if entries.len() != ends.len as usize || ends.len > ends.cap {
            return false;
        }
        if ends.cap != 0 && (!ends.cap.is_power_of_two() || (ends.cap as usize) < BLOCK) {
            return false;
        }
        if ends.cap as usize > BLOCK && (ends.len as usize) * 4 <= ends.cap as usize {
            return false;
        }
        // An empty side keeps at most one block.
        if ends.len == 0 && ends.cap as usize > BLOCK {
            return false;
        }
        let sorted = entries
            .windows(2)
            .all(|w| entry_key(w[0]) < entry_key(w[1]));
        let levels_match = entries.iter().all(|&e| {
            self.levels.get(entry_level(e) as usize).is_some_and(|l| {
                l.orders != 0
                    && l.locate == locate
                    && l.side as usize == s
                    && side_key(s, l.price) == entry_key(e)
            })
        });
        let best_matches = match entries.last() {
            None => ends.best == NIL,
            Some(&e) => self.levels.get(entry_level(e) as usize).is_some_and(|l| {
                ends.best == entry_level(e)
                    && ends.best_price == l.price
                    && ends.best_qty == l.qty
                    && ends.best_orders == l.orders
            }),
        };
        sorted && levels_match && best_matches
    }

    /// Test helper: the segments of all sides and the arena's free segments
    /// add up to the whole arena (no segment leaked or counted twice).
    fn arena_accounts(&self) -> bool {
        let held: usize = self
            .sides
            .iter()
            .flat_map(|sides| sides.0.iter())
            .map(|ends| ends.cap as usize)
            .sum();
        held + self.arena.free_entries() == self.arena.len()
    }
}

#[cfg(test)]
mod tests;
