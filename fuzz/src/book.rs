//! The `book` target: an ITCH stream applied to the L3 book, checked after
//! every message against a deliberately plain model of the same book (a map
//! of orders and, per price, the FIFO of their references) and against the
//! invariants the book documents.
//!
//! Two books are driven: `main` through [`Book::apply_itch`], and `twin`
//! through the decoded path the replay tool uses ([`itch::pending_from_bytes`],
//! the three [`Book::prefetch`] stages run *ahead* of earlier messages in a
//! small window, then [`Book::apply`]). The book documents that stale
//! prefetch findings are harmless, so the two must agree message by message.
//!
//! Building a book allocates and fills ~80 MiB of per-locate tables
//! (`LOCATES` is fixed), and even [`Book::clear`] rewrites ~15 MiB: a few
//! milliseconds a run. So one pair of books lives per thread and each run
//! ends by deleting every order it left live, which must empty the book
//! (checked). Counters are compared as differences from the run's start.
//! A run that panicked leaves its book dirty; the next run then clears it.

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};

use book::itch::{pending, pending_from_bytes};
use book::model::Model;
use book::{
    Anomaly, Bbo, Book, BookConfig, BookEvent, Counters, DepthView, EventSink, Level, Pending,
    Price, Side, MAX_EVENTS_PER_MESSAGE, PREFETCH_STAGES,
};
use protocol::itch::{FileReader, Message, MESSAGE_SIZES};

/// Small pools, so that "order table full" and "level pool full" are
/// reached within a few dozen messages.
const MAX_ORDERS: usize = 16;
const MAX_LEVELS: usize = 12;

/// Levels compared through [`DepthView::depth`] (the top-N view).
const DEPTH: usize = 4;

/// An [`EventSink`] that holds exactly [`MAX_EVENTS_PER_MESSAGE`] events:
/// the book promises never to yield more per message, so a refusal (counted
/// in `events_dropped`) is a finding.
#[derive(Default)]
struct Events(Vec<BookEvent>);

impl EventSink for Events {
    fn push(&mut self, event: BookEvent) -> bool {
        if self.0.len() >= MAX_EVENTS_PER_MESSAGE {
            return false;
        }
        self.0.push(event);
        true
    }
}

/// `now - base` for the counters that are running totals; the high-water
/// marks and the cost measure are left out (zero).
fn counters_since(now: &Counters, base: &Counters) -> Counters {
    Counters {
        messages: now.messages - base.messages,
        unknown_order: now.unknown_order - base.unknown_order,
        duplicate_order: now.duplicate_order - base.duplicate_order,
        negative_quantity: now.negative_quantity - base.negative_quantity,
        zero_quantity: now.zero_quantity - base.zero_quantity,
        bad_price: now.bad_price - base.bad_price,
        bad_locate: now.bad_locate - base.bad_locate,
        crossed_book: now.crossed_book - base.crossed_book,
        order_table_full: now.order_table_full - base.order_table_full,
        level_pool_full: now.level_pool_full - base.level_pool_full,
        events_dropped: now.events_dropped - base.events_dropped,
        ignored: now.ignored - base.ignored,
        level_shifts: 0,
        level_compactions: 0,
        peak_orders: 0,
        peak_levels: 0,
    }
}

/// One run's state around the thread's two books.
struct Run<'b> {
    main: &'b mut Book,
    twin: &'b mut Book,
    main_base: Counters,
    twin_base: Counters,
    model: Model,
    /// Every locate a message named, to check at the end of the run.
    locates: BTreeSet<u16>,
    events: Events,
    twin_events: Events,
    /// Decoded messages waiting for the twin, prefetched as they wait.
    window: VecDeque<Pending>,
    /// How many messages the twin may lag behind (0..=3).
    lag: usize,
    /// `main`'s result for each message still in `window`, in order.
    expected: VecDeque<Result<(), Anomaly>>,
}

impl Run<'_> {
    /// One message's bytes (without its length prefix) through both books.
    fn message(&mut self, raw: &[u8]) {
        let parsed = Message::parse(raw).ok();
        // The direct decoder agrees with parse + `pending` (documented, and
        // what lets the replay tool skip `Message::parse`).
        let decoded = pending_from_bytes(raw);
        assert_eq!(
            decoded,
            parsed.as_ref().and_then(pending),
            "pending_from_bytes"
        );
        let Some(msg) = parsed else { return };

        let locate = self.model.locate_of(&msg);
        let before = self.model.bbo(locate);
        let want = self.model.apply(&msg);
        self.locates.insert(locate);
        self.events.0.clear();
        let got = self.main.apply_itch(&msg, &mut self.events);
        assert_eq!(got, want, "result of {msg:?}");
        self.check_events(locate, before);
        self.check_locate(locate);
        self.check_counters();
        for r in refs_of(&msg) {
            self.check_order(r);
        }

        match decoded {
            Some(mut p) => {
                // Stages 0 and 1 now, on a twin that has not yet applied the
                // messages ahead in the window: what they find may be stale
                // by the time the message is applied.
                self.twin.prefetch(&mut p, 0);
                self.twin.prefetch(&mut p, 1);
                self.window.push_back(p);
                self.expected.push_back(got);
                while self.window.len() > self.lag {
                    self.twin_apply_front();
                }
            }
            None => {
                // Messages without a `Pending` keep their place in the stream.
                self.twin_flush();
                self.twin_events.0.clear();
                let twin_got = self.twin.apply_itch(&msg, &mut self.twin_events);
                assert_eq!(twin_got, got, "twin result of {msg:?}");
            }
        }
    }

    fn twin_apply_front(&mut self) {
        let Some(mut p) = self.window.pop_front() else {
            return;
        };
        for stage in 2..PREFETCH_STAGES {
            self.twin.prefetch(&mut p, stage);
        }
        self.twin_events.0.clear();
        let got = self.twin.apply(&p, &mut self.twin_events);
        let want = self.expected.pop_front().expect("a result per pending");
        assert_eq!(got, want, "twin (prefetched, applied) result of {p:?}");
    }

    fn twin_flush(&mut self) {
        while !self.window.is_empty() {
            self.twin_apply_front();
        }
    }

    /// A BBO event iff the BBO changed, once, with the new BBO; level events
    /// for the message's instrument only, never a zero-sized live level.
    fn check_events(&self, locate: u16, before: Bbo) {
        let after = self.model.bbo(locate);
        let mut bbos = Vec::new();
        for event in &self.events.0 {
            match *event {
                BookEvent::Bbo { locate: l, bbo, .. } => {
                    assert_eq!(l, locate, "BBO event for another instrument");
                    bbos.push(bbo);
                }
                BookEvent::Level {
                    locate: l, level, ..
                } => {
                    assert_eq!(l, locate, "level event for another instrument");
                    // Shares are positive per order: a level has shares iff
                    // it has orders (a removed level reports both zero).
                    assert_eq!(level.qty == 0, level.orders == 0, "{level:?}");
                }
                _ => {}
            }
        }
        if before == after {
            assert!(bbos.is_empty(), "BBO event without a change: {bbos:?}");
        } else {
            assert_eq!(bbos, [after], "BBO change not reported once");
        }
    }

    /// Both sides of one instrument: every level, the top-N view, the BBO,
    /// each level's queue, the crossed state.
    fn check_locate(&self, locate: u16) {
        for side in [Side::Buy, Side::Sell] {
            let want = self.model.top_levels(locate, side, usize::MAX);
            let got: Vec<Level> = self.main.levels(locate, side).collect();
            assert_eq!(got, want, "levels of {locate} {side:?}");
            // What the model's construction implies, spelled out: strictly
            // sorted best first, no empty level.
            for pair in got.windows(2) {
                assert!(side.is_better(pair[0].price, pair[1].price), "{got:?}");
            }
            for level in &got {
                assert!(level.qty > 0 && level.orders > 0, "{level:?}");
                let queue: Vec<u64> = self
                    .main
                    .queue(locate, side, level.price)
                    .map(u64::from)
                    .collect();
                let want: Vec<u64> = self
                    .model
                    .queue(locate, side, level.price.0)
                    .iter()
                    .filter_map(|&r| self.model.order(r))
                    .map(|o| o.qty as u64)
                    .collect();
                assert_eq!(queue, want, "queue at {level:?}");
            }
            let mut top = [Level::default(); DEPTH];
            let n = self.main.depth(locate, side, &mut top);
            assert_eq!(&top[..n], &want[..want.len().min(DEPTH)], "top {DEPTH}");
        }
        let bbo = self.model.bbo(locate);
        assert_eq!(self.main.bbo(locate), bbo, "BBO of {locate}");
        let crossed = self.model.crossed(locate);
        assert_eq!(self.main.is_crossed(locate), crossed);
        if crossed {
            // A crossed book is allowed, but only ever as a counted anomaly.
            assert!(self.main.counters().crossed_book > self.main_base.crossed_book);
        }
        assert_eq!(self.main.live_orders(), self.model.live_orders());
        assert_eq!(self.main.live_levels(), self.model.live_levels());
    }

    fn check_counters(&self) {
        let c = self.main.counters();
        assert_eq!(counters_since(c, &self.main_base), self.model.counters);
        // High-water marks are at least what is live now.
        assert!(c.peak_orders >= self.main.live_orders() as u64);
        assert!(c.peak_levels >= self.main.live_levels() as u64);
    }

    /// A reference is live in the book iff in the model, with the same
    /// instrument, side, price, size and queue position.
    fn check_order(&self, order_ref: u64) {
        let Some(o) = self.model.order(order_ref) else {
            assert_eq!(self.main.order(order_ref), None, "ref {order_ref}");
            assert_eq!(self.main.queue_position(order_ref), None);
            return;
        };
        let info = self.main.order(order_ref).expect("live order");
        assert_eq!(
            (info.locate, info.side, info.price, info.qty),
            (o.locate, o.side, Price(o.price), o.qty)
        );
        let q = self.main.queue_position(order_ref).expect("live order");
        let queue = self.model.queue(o.locate, o.side, o.price);
        let (ahead, shares) = self.model.queue_position(order_ref).expect("queued");
        assert_eq!((q.orders_ahead, q.shares_ahead), (ahead, shares));
        assert_eq!((q.level_orders as usize, q.qty), (queue.len(), o.qty));
    }

    /// End of the run: the twin catches up and must hold the same book;
    /// then every live order is deleted from both, which must leave them
    /// empty (and ready for the next run).
    fn finish(mut self) {
        self.twin_flush();
        for &locate in &self.locates {
            self.check_locate(locate);
            for side in [Side::Buy, Side::Sell] {
                assert!(
                    self.main
                        .levels(locate, side)
                        .eq(self.twin.levels(locate, side)),
                    "twin levels of {locate} {side:?}"
                );
            }
            assert_eq!(self.main.bbo(locate), self.twin.bbo(locate));
        }
        let refs: Vec<u64> = self.model.order_refs().collect();
        for &r in &refs {
            self.check_order(r);
        }
        self.check_counters();
        assert_eq!(
            counters_since(self.twin.counters(), &self.twin_base),
            self.model.counters,
            "twin counters"
        );
        for book in [&mut *self.main, &mut *self.twin] {
            for &r in &refs {
                assert_eq!(book.delete(r, book::Nanos(0), &mut book::NullSink), Ok(()));
            }
            assert_eq!((book.live_orders(), book.live_levels()), (0, 0));
            for &locate in &self.locates {
                assert_eq!(book.bbo(locate), Bbo::default());
            }
        }
    }
}

/// The order references a message names (to check them afterwards).
fn refs_of(msg: &Message<'_>) -> Vec<u64> {
    match msg {
        Message::AddOrder(m) => vec![m.order_ref()],
        Message::AddOrderMpid(m) => vec![m.order_ref()],
        Message::OrderExecuted(m) => vec![m.order_ref()],
        Message::OrderExecutedWithPrice(m) => vec![m.order_ref()],
        Message::OrderCancel(m) => vec![m.order_ref()],
        Message::OrderDelete(m) => vec![m.order_ref()],
        Message::OrderReplace(m) => vec![m.original_order_ref(), m.new_order_ref()],
        _ => Vec::new(),
    }
}

/// Wire size of an ITCH message type.
fn wire_size(ty: u8) -> usize {
    MESSAGE_SIZES
        .iter()
        .find(|(t, _)| *t == ty)
        .map_or(0, |(_, n)| *n)
}

/// Four input bytes `[k, a, b, c]` as one well-formed book message, so that
/// most of a run reaches the book instead of failing to parse: `k` picks the
/// type (adds most often) and the locate (mostly 1..=3, sometimes 0), `a` the order
/// reference(s) from 32 values (twice the order capacity), `b` side and price from 16 close prices
/// (both sides share them, so books cross), `c` the quantity. `shift`
/// spreads references so that they share direct slots of the order table
/// (the spill path) or are huge.
fn structured(op: [u8; 4], shift: u32, out: &mut [u8; 64]) -> usize {
    let [k, a, b, c] = op;
    // Adds outnumber removals, so the order table fills up.
    let ty = b"AAAAAAFECXDUUPQH"[usize::from(k & 15)];
    let locate: u16 = [1, 1, 2, 3, 1, 2, 3, 0][usize::from(k >> 4) & 7];
    let order_ref = u64::from(a & 31) << shift;
    let new_ref = u64::from(a >> 3) << shift;
    let side = if b & 1 == 0 { b'B' } else { b'S' };
    let price: u32 = match (b >> 1) & 15 {
        14 => 0,
        15 => u32::MAX,
        p => 100 + u32::from(p),
    };
    let qty: u32 = match c {
        0 => 0,
        255 => u32::MAX,
        c => u32::from(c % 8) + 1,
    };
    let n = wire_size(ty);
    out.fill(b' ');
    out[0] = ty;
    out[1..3].copy_from_slice(&locate.to_be_bytes());
    out[3..11].fill(0);
    match ty {
        b'A' | b'F' | b'P' => {
            out[11..19].copy_from_slice(&order_ref.to_be_bytes());
            out[19] = side;
            out[20..24].copy_from_slice(&qty.to_be_bytes());
            out[24..32].copy_from_slice(b"FUZZ    ");
            out[32..36].copy_from_slice(&price.to_be_bytes());
        }
        b'E' | b'C' | b'X' | b'D' => {
            out[11..19].copy_from_slice(&order_ref.to_be_bytes());
            if ty != b'D' {
                out[19..23].copy_from_slice(&qty.to_be_bytes());
            }
            if ty == b'C' {
                out[31] = if b & 1 == 0 { b'Y' } else { b'N' };
                out[32..36].copy_from_slice(&price.to_be_bytes());
            }
        }
        b'U' => {
            out[11..19].copy_from_slice(&order_ref.to_be_bytes());
            out[19..27].copy_from_slice(&new_ref.to_be_bytes());
            out[27..31].copy_from_slice(&qty.to_be_bytes());
            out[31..35].copy_from_slice(&price.to_be_bytes());
        }
        b'Q' => {
            out[11..19].copy_from_slice(&u64::from(qty).to_be_bytes());
            out[27..31].copy_from_slice(&price.to_be_bytes());
        }
        // `H`, a trading action: halted, paused, quotation only, trading,
        // or a code the book ignores.
        _ => out[19] = b"HPQTZ"[c as usize % 5],
    }
    n
}

thread_local! {
    static BOOKS: RefCell<Option<(Book, Book, bool)>> = const { RefCell::new(None) };
}

fn small_book() -> Book {
    Book::with_capacity(BookConfig {
        max_orders: MAX_ORDERS,
        max_levels: MAX_LEVELS,
    })
}

/// First byte: bit 0 picks raw (the rest is a NASDAQ-format file) or
/// structured (the rest is 4-byte operations, see [`structured`]); bits 1–2
/// the twin's lag; bits 3–4 the reference spread of structured operations;
/// for a raw stream, bits 3–7 the size of the groups `main` warms before
/// applying them ([`Book::prefetch_group`]).
/// Gives what the run's messages did, as the model counted it (for the
/// tests that check the harness reaches the book's anomaly paths).
pub fn run(data: &[u8]) -> Counters {
    let Some((&mode, rest)) = data.split_first() else {
        return Counters::default();
    };
    BOOKS.with(|cell| {
        let mut cell = cell.borrow_mut();
        let (main, twin, clean) = cell.get_or_insert_with(|| (small_book(), small_book(), true));
        if !*clean {
            main.clear();
            twin.clear();
        }
        *clean = false;
        let mut run = Run {
            main_base: *main.counters(),
            twin_base: *twin.counters(),
            main,
            twin,
            model: Model::new(MAX_ORDERS, MAX_LEVELS),
            locates: BTreeSet::new(),
            events: Events::default(),
            twin_events: Events::default(),
            window: VecDeque::new(),
            lag: usize::from((mode >> 1) & 3),
            expected: VecDeque::new(),
        };
        if mode & 1 == 0 {
            // `main` warms each group of messages before applying them, as
            // the appliance warms a receive batch: warming must change
            // nothing the model would see.
            let raws: Vec<&[u8]> = FileReader::new(rest).map_while(Result::ok).collect();
            let group = 1 + usize::from(mode >> 3);
            for chunk in raws.chunks(group) {
                let warmed = run.main.prefetch_group(chunk.iter().copied());
                assert!(warmed <= chunk.len(), "warmed {warmed} of {}", chunk.len());
                for raw in chunk {
                    run.message(raw);
                }
            }
        } else {
            // 0: the ITCH pattern; 3: four home slots; 5: one home slot for
            // all (every order but one spills); 59: references near 2^64.
            let shift = [0, 3, 5, 59][usize::from((mode >> 3) & 3)];
            let mut buf = [0u8; 64];
            for op in rest.chunks_exact(4) {
                let n = structured([op[0], op[1], op[2], op[3]], shift, &mut buf);
                run.message(&buf[..n]);
            }
        }
        let counters = run.model.counters;
        run.finish();
        *clean = true;
        counters
    })
}
