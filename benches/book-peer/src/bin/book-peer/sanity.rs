//! The checks: both books after every message (untimed), and their final
//! state (live orders, level counts, top five levels per side).

use book::{Book, BookConfig, DepthView, MAX_EVENTS_PER_MESSAGE};
use nautilus_model::orderbook::{BookLevel, OrderBook};
use protocol::itch::{FileReader, Message};
use types::{BookEvent, Side, StockLocate};

use crate::convert::{self, Converted, Kind, NO_BOOK, PRICE_RAW_PER_P4, QTY_RAW_PER_SHARE};

/// Events of one message, as the appliance's pipeline collects them.
pub type Events = heapless::Vec<BookEvent, MAX_EVENTS_PER_MESSAGE>;

/// One level as both books can report it: price4, shares, orders.
pub type LevelKey = (u32, u64, u32);

/// Top of one side: the level and the shares of the order at the front of
/// its queue.
type Top = Option<(LevelKey, u32)>;

// `QuantityRaw` is `u64` here but `u128` with Nautilus's `high-precision`
// feature: the cast keeps this correct under both.
#[allow(clippy::unnecessary_cast)]
fn nt_level(level: &BookLevel) -> LevelKey {
    (
        (level.price.value.raw / PRICE_RAW_PER_P4) as u32,
        (level.size_raw() / QTY_RAW_PER_SHARE) as u64,
        level.len() as u32,
    )
}

fn nt_top(level: Option<&BookLevel>) -> Top {
    let level = level?;
    let front = level
        .first()
        .map_or(0, |o| (o.size.raw / QTY_RAW_PER_SHARE) as u32);
    Some((nt_level(level), front))
}

fn ours_level(l: &types::Level) -> LevelKey {
    (l.price.0 as u32, l.qty, l.orders)
}

fn ours_top(book: &Book, locate: StockLocate, side: Side, level: Option<types::Level>) -> Top {
    let level = level?;
    let front = book.queue(locate, side, level.price).next().unwrap_or(0);
    Some((ours_level(&level), front))
}

/// Final state of one side of the comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub live_orders: usize,
    /// Per book of the conversion (same order on both sides): locate,
    /// number of bid and ask levels, top five bid and ask levels.
    pub books: Vec<(StockLocate, [usize; 2], [Vec<LevelKey>; 2])>,
}

pub fn snapshot_ours(book: &Book, c: &Converted) -> Snapshot {
    let books = c
        .books
        .iter()
        .map(|&(locate, _)| {
            let side = |s| {
                let n = book.levels(locate, s).count();
                let top: Vec<LevelKey> = book
                    .levels(locate, s)
                    .take(5)
                    .map(|l| ours_level(&l))
                    .collect();
                (n, top)
            };
            let (nb, tb) = side(Side::Buy);
            let (na, ta) = side(Side::Sell);
            (locate, [nb, na], [tb, ta])
        })
        .collect();
    Snapshot {
        live_orders: book.live_orders(),
        books,
    }
}

pub fn snapshot_nautilus(books: &[OrderBook], c: &Converted) -> Snapshot {
    let mut live_orders = 0;
    let books = c
        .books
        .iter()
        .zip(books)
        .map(|(&(locate, _), b)| {
            live_orders += b.bids(None).map(BookLevel::len).sum::<usize>();
            live_orders += b.asks(None).map(BookLevel::len).sum::<usize>();
            let nb = b.bids(None).count();
            let na = b.asks(None).count();
            let tb = b.bids(Some(5)).map(nt_level).collect();
            let ta = b.asks(Some(5)).map(nt_level).collect();
            (locate, [nb, na], [tb, ta])
        })
        .collect();
    Snapshot { live_orders, books }
}

/// Where two snapshots first differ (`None`: equal).
pub fn first_difference(a: &Snapshot, b: &Snapshot) -> Option<String> {
    if a.live_orders != b.live_orders {
        return Some(format!(
            "live orders {} vs {}",
            a.live_orders, b.live_orders
        ));
    }
    if a.books.len() != b.books.len() {
        return Some(format!("{} vs {} books", a.books.len(), b.books.len()));
    }
    a.books
        .iter()
        .zip(&b.books)
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!("locate {}: {x:?} vs {y:?}", x.0))
}

/// Outcome of the message-by-message pass.
pub struct PathCheck {
    pub compared: u64,
    pub crossed_skipped: u64,
    pub mismatches: u64,
    pub first: Option<String>,
    pub ours: Snapshot,
    pub nautilus: Snapshot,
    /// Heap bytes the Nautilus books held at the end and at most.
    pub nautilus_live_bytes: i64,
    pub nautilus_peak_bytes: i64,
    pub ours_counters: book::Counters,
}

/// Replays the stream through both books, one message at a time (ours
/// decodes and applies the message; Nautilus applies that message's
/// operations), and compares the touched locate's best bid and ask: price,
/// level shares, order count and the front order's shares. Moments when our
/// book is crossed for that locate are skipped and counted.
pub fn check_path(stream: &[u8], c: &Converted, config: BookConfig) -> PathCheck {
    let mut ours = Book::with_capacity(config);
    let mut events = Events::new();
    let mut books = convert::new_books(c);
    crate::alloc::start_counting();
    let (mut compared, mut crossed, mut mismatches) = (0u64, 0u64, 0u64);
    let mut first = None;
    let mut k = 0usize;
    for (i, b) in FileReader::new(stream).filter_map(Result::ok).enumerate() {
        let seq = i as u64 + 1;
        let Ok(msg) = Message::parse(b) else {
            continue;
        };
        let _ = ours.apply_itch(&msg, &mut events);
        events.clear();
        let mut touched = c
            .book_of
            .get(usize::from(msg.stock_locate()))
            .copied()
            .unwrap_or(NO_BOOK);
        while let Some(op) = c.ops.get(k).filter(|op| op.seq == seq) {
            let book = &mut books[op.book as usize];
            match op.kind {
                Kind::Add => book.add(op.order, 0, op.seq, op.ts.into()),
                Kind::Update => book.update(op.order, 0, op.seq, op.ts.into()),
                Kind::Delete => book.delete(op.order, 0, op.seq, op.ts.into()),
            }
            touched = op.book;
            k += 1;
        }
        if touched == NO_BOOK {
            continue;
        }
        let locate = c.books[touched as usize].0;
        if ours.is_crossed(locate) {
            crossed += 1;
            continue;
        }
        compared += 1;
        let bbo = ours.bbo(locate);
        let mine = (
            ours_top(&ours, locate, Side::Buy, bbo.bid),
            ours_top(&ours, locate, Side::Sell, bbo.ask),
        );
        let nb = &books[touched as usize];
        let theirs = (
            nt_top(nb.bids(Some(1)).next()),
            nt_top(nb.asks(Some(1)).next()),
        );
        if mine != theirs {
            mismatches += 1;
            first.get_or_insert_with(|| {
                format!(
                    "after message {seq} (type {}, locate {locate}): ours {mine:?}, Nautilus {theirs:?}",
                    char::from(msg.msg_type())
                )
            });
        }
    }
    let (live, peak) = crate::alloc::stop_counting();
    PathCheck {
        compared,
        crossed_skipped: crossed,
        mismatches,
        first,
        ours: snapshot_ours(&ours, c),
        nautilus: snapshot_nautilus(&books, c),
        nautilus_live_bytes: live,
        nautilus_peak_bytes: peak,
        ours_counters: *ours.counters(),
    }
}
