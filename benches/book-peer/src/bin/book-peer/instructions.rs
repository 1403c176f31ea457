//! Instructions per book operation under callgrind, mirroring NautilusTrader's
//! `benches/book_iai.rs` (one add, one update, one delete on an L3_MBO book
//! holding one order: 100 shares bought at 100.0, updated to 2 at 101.0).
//!
//! `--instructions OP --impl IMPL --repeat N` performs the operation N times;
//! only what runs inside the `#[inline(never)]` functions named `counted_*`
//! is counted (`valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='*counted_*'`); what each repetition needs around it
//! (building a book, adding the order an update or delete acts on, deleting
//! what an add or update left, decoding the message beforehand for the
//! `-pending` variants) runs outside them, and every repetition checks that
//! the operation had its effect and that the book is back where it started.
//! `--callgrind-table` runs valgrind exactly so for every operation and
//! implementation at N and 2N repetitions and prints the totals and
//! (total(2N) − total(N)) / N, which also cancels any one-off cost of the
//! first repetition.
//!
//! The operations: `add` (ours: ITCH `A`), `update` (price and size, as
//! Nautilus's bench: ours `U` replace, the ITCH way to change a price —
//! a new reference, queue position lost, as Nautilus's price update also
//! re-queues the order: the faithful equivalent), `update-size` (size only,
//! same price: ours `X` cancel of 98 of the 100 shares, Nautilus `update`
//! at the same price; both keep the order's place in the queue), `delete`
//! (ours `D`), `new` (an empty book).
//!
//! Building our book per repetition is expensive (`Book::with_capacity`
//! allocates and prefaults ~690 MiB at the default capacity: ~57 M
//! instructions, see `new`), so the main variants use one book that each
//! repetition leaves empty again (add then delete of the same reference);
//! `ours-itch-fresh` does build one per repetition, at fewer repetitions,
//! and shows the same counts. Nautilus gets both: a fresh `OrderBook` per
//! repetition as its bench (`nautilus`; `OrderBook::new` allocates nothing,
//! the first add allocates its hash table, tree node and level map) and one
//! reused book (`nautilus-reuse`: its hash table keeps its capacity).
//!
//! Our book's sorted level arrays live in a buddy arena sized for the
//! capacity (1 Mi levels: 2^20 blocks). In an otherwise empty book the
//! arena is one free block: a side's first level splits it 20 times down to
//! one block, and removing the side's last level merges it 20 times back.
//! That is most of `ours-itch`'s add, update and delete on an empty book
//! and grows with log2 of the capacity. In a book holding anything else the
//! arena has small free blocks: the `-warm` variants keep one bid and one
//! ask of another instrument resting throughout, and a side's first level
//! then costs one split and its removal one merge. A real day is the warm
//! case.

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use book::{Book, BookConfig, Pending};
use clap::ValueEnum;
use nautilus_model::data::BookOrder;
use nautilus_model::enums::{BookType, OrderSide};
use nautilus_model::identifiers::InstrumentId;
use nautilus_model::orderbook::OrderBook;
use nautilus_model::types::{Price as NtPrice, Quantity as NtQty};
use protocol::itch::{
    AddOrderRepr, Header, Message, OrderCancelRepr, OrderDeleteRepr, OrderReplaceRepr,
};
use types::{Price, Side, Symbol};

use crate::convert::{nt_price, nt_qty};
use crate::sanity::Events;

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Add one order to an empty book.
    Add,
    /// Change the order's price and size (Nautilus `update` to a new price,
    /// as its bench does; ours: ITCH `U` replace, which is how ITCH says it).
    Update,
    /// Change the order's size only (Nautilus `update` at the same price;
    /// ours: ITCH `X` partial cancel).
    UpdateSize,
    /// Delete the order (Nautilus `delete`; ours: ITCH `D`).
    Delete,
    /// Build an empty book (ours: `Book::with_capacity` at
    /// `--max-orders`/`--max-levels`, by default the replay's capacity;
    /// Nautilus: `OrderBook::new`).
    New,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// Ours, ITCH bytes decoded and applied (`Message::parse` +
    /// `Book::apply_itch`); one book for all repetitions, emptied again by
    /// each repetition.
    OursItch,
    /// Ours, the message decoded beforehand into a `book::Pending`, applied
    /// with `Book::apply`; one book as for `ours-itch`.
    OursPending,
    /// As `ours-itch`, but a fresh book per repetition (built outside the
    /// counted function).
    OursItchFresh,
    /// As `ours-itch`, the book also holding one bid and one ask of another
    /// instrument throughout (so that its level arrays' arena is not one
    /// free block; see the module documentation).
    OursItchWarm,
    /// As `ours-pending`, with the other instrument's orders of
    /// `ours-itch-warm`.
    OursPendingWarm,
    /// Nautilus `OrderBook` (L3_MBO), a fresh book per repetition as its
    /// bench builds one per call; the operation alone is counted.
    Nautilus,
    /// Nautilus, one book for all repetitions, emptied again by each (the
    /// protocol of `ours-itch`).
    NautilusReuse,
    /// Nautilus, its bench function as a whole: instrument id from text,
    /// `OrderBook::new`, prices and sizes parsed from text, the add (and
    /// the update or delete), the book dropped. This is what its iai
    /// figures count.
    NautilusIai,
}

fn name<T: ValueEnum>(v: T) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The counted functions

#[inline(never)]
fn counted_ours_itch(book: &mut Book, bytes: &[u8], events: &mut Events) {
    if let Ok(m) = Message::parse(bytes) {
        let _ = book.apply_itch(&m, events);
    }
}

#[inline(never)]
fn counted_ours_pending(book: &mut Book, p: &Pending, events: &mut Events) {
    let _ = book.apply(p, events);
}

#[inline(never)]
fn counted_ours_new(config: BookConfig) -> Book {
    Book::with_capacity(config)
}

#[inline(never)]
fn counted_nt_add(book: &mut OrderBook, order: BookOrder, seq: u64) {
    book.add(order, 0, seq, seq.into());
}

#[inline(never)]
fn counted_nt_update(book: &mut OrderBook, order: BookOrder, seq: u64) {
    book.update(order, 0, seq, seq.into());
}

#[inline(never)]
fn counted_nt_delete(book: &mut OrderBook, order: BookOrder, seq: u64) {
    book.delete(order, 0, seq, seq.into());
}

#[inline(never)]
fn counted_nt_new(id: InstrumentId) -> OrderBook {
    OrderBook::new(id, BookType::L3_MBO)
}

/// The whole of a bench function of Nautilus's `book_iai.rs` (written here
/// from its description): everything from the instrument id to the drop.
#[inline(never)]
fn counted_nt_iai(op: Op) {
    let id = InstrumentId::from("AAPL.XNAS");
    let mut book = OrderBook::new(id, BookType::L3_MBO);
    let order = BookOrder::new(OrderSide::Buy, NtPrice::from("100.0"), NtQty::from(100), 1);
    book.add(order, 0, 1, 1.into());
    match op {
        Op::Update => {
            let new = BookOrder::new(
                OrderSide::Buy,
                NtPrice::from("101.0"),
                NtQty::from("2.0"),
                1,
            );
            book.update(new, 0, 2, 2.into());
        }
        Op::Delete => book.delete(order, 0, 2, 2.into()),
        _ => {}
    }
    black_box(&book);
}

// ---------------------------------------------------------------------------
// One run

/// The ITCH messages of a repetition: add ref 1 (100 shares at $100.00,
/// buy), replace ref 1 by ref 2 (2 shares at $101.00), cancel 98 shares of
/// ref 1, delete ref 1, delete ref 2.
struct Msgs {
    /// Locate 2's bid and ask, resting throughout the `-warm` variants.
    background: [Vec<u8>; 2],
    add: Vec<u8>,
    replace: Vec<u8>,
    cancel: Vec<u8>,
    delete1: Vec<u8>,
    delete2: Vec<u8>,
}

fn header(ts: u64) -> Header {
    header_of(1, ts)
}

fn header_of(stock_locate: u16, ts: u64) -> Header {
    Header {
        stock_locate,
        tracking_number: 0,
        timestamp: ts,
    }
}

fn emit(f: impl FnOnce(&mut [u8]) -> Result<usize, protocol::itch::Error>) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = f(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

const PRICE_ADD: i64 = 1_000_000;
const PRICE_NEW: i64 = 1_010_000;

fn msgs() -> Msgs {
    let stock = Symbol::new("AAPL").unwrap_or_default();
    let other = Symbol::new("MSFT").unwrap_or_default();
    let resting = |order_ref: u64, side: Side, price: i64| {
        emit(|b| {
            AddOrderRepr {
                header: header_of(2, 0),
                order_ref,
                side,
                shares: 100,
                stock: other,
                price: Price(price),
            }
            .emit(b)
        })
    };
    Msgs {
        background: [
            resting(1_000_001, Side::Buy, 500_000),
            resting(1_000_002, Side::Sell, 600_000),
        ],
        add: emit(|b| {
            AddOrderRepr {
                header: header(1),
                order_ref: 1,
                side: Side::Buy,
                shares: 100,
                stock,
                price: Price(PRICE_ADD),
            }
            .emit(b)
        }),
        replace: emit(|b| {
            OrderReplaceRepr {
                header: header(2),
                original_order_ref: 1,
                new_order_ref: 2,
                shares: 2,
                price: Price(PRICE_NEW),
            }
            .emit(b)
        }),
        cancel: emit(|b| {
            OrderCancelRepr {
                header: header(2),
                order_ref: 1,
                cancelled_shares: 98,
            }
            .emit(b)
        }),
        delete1: emit(|b| {
            OrderDeleteRepr {
                header: header(3),
                order_ref: 1,
            }
            .emit(b)
        }),
        delete2: emit(|b| {
            OrderDeleteRepr {
                header: header(3),
                order_ref: 2,
            }
            .emit(b)
        }),
    }
}

/// Applies a message outside the counted functions.
fn setup_apply(book: &mut Book, bytes: &[u8], events: &mut Events) {
    if let Ok(m) = Message::parse(bytes) {
        let _ = book.apply_itch(&m, events);
    }
    events.clear();
}

fn pending(bytes: &[u8]) -> Pending {
    book::itch::pending_from_bytes(bytes).unwrap_or(Pending::NONE)
}

/// One repetition on our book; checks afterwards that the operation did
/// what it should and that the book is empty again.
fn ours_once(
    book: &mut Book,
    op: Op,
    decoded: bool,
    m: &Msgs,
    events: &mut Events,
) -> Result<(), String> {
    let base = (book.live_orders(), book.live_levels());
    let counted = |book: &mut Book, bytes: &[u8], events: &mut Events| {
        if decoded {
            let p = pending(bytes);
            counted_ours_pending(book, black_box(&p), events);
        } else {
            counted_ours_itch(book, black_box(bytes), events);
        }
        events.clear();
    };
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("ours: {what} did not give the expected book"))
        }
    };
    match op {
        Op::Add => {
            counted(book, &m.add, events);
            check(book.order(1).is_some_and(|o| o.qty == 100), "add")?;
            setup_apply(book, &m.delete1, events);
        }
        Op::Update => {
            setup_apply(book, &m.add, events);
            counted(book, &m.replace, events);
            check(
                book.order(1).is_none()
                    && book
                        .order(2)
                        .is_some_and(|o| o.qty == 2 && o.price == Price(PRICE_NEW)),
                "replace",
            )?;
            setup_apply(book, &m.delete2, events);
        }
        Op::UpdateSize => {
            setup_apply(book, &m.add, events);
            counted(book, &m.cancel, events);
            check(
                book.order(1)
                    .is_some_and(|o| o.qty == 2 && o.price == Price(PRICE_ADD)),
                "cancel",
            )?;
            setup_apply(book, &m.delete1, events);
        }
        Op::Delete => {
            setup_apply(book, &m.add, events);
            counted(book, &m.delete1, events);
        }
        Op::New => return Err("ours: `new` is counted apart".into()),
    }
    check(
        book.live_orders() == base.0 && book.live_levels() == base.1,
        "the repetition",
    )
}

/// One repetition on a Nautilus book; `seq` grows across repetitions so
/// that a reused book never sees its sequence go backwards.
fn nautilus_once(book: &mut OrderBook, op: Op, seq: u64) -> Result<(), String> {
    let order = BookOrder::new(OrderSide::Buy, nt_price(1_000_000), nt_qty(100), 1);
    let moved = BookOrder::new(OrderSide::Buy, nt_price(1_010_000), nt_qty(2), 1);
    let smaller = BookOrder::new(OrderSide::Buy, nt_price(1_000_000), nt_qty(2), 1);
    let check = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!("Nautilus: {what} did not give the expected book"))
        }
    };
    let top = |b: &OrderBook| (b.best_bid_price(), b.best_bid_size());
    match op {
        Op::Add => {
            counted_nt_add(book, black_box(order), seq);
            check(top(book) == (Some(order.price), Some(order.size)), "add")?;
            book.delete(order, 0, seq + 1, (seq + 1).into());
        }
        Op::Update => {
            book.add(order, 0, seq, seq.into());
            counted_nt_update(book, black_box(moved), seq + 1);
            check(top(book) == (Some(moved.price), Some(moved.size)), "update")?;
            book.delete(moved, 0, seq + 2, (seq + 2).into());
        }
        Op::UpdateSize => {
            book.add(order, 0, seq, seq.into());
            counted_nt_update(book, black_box(smaller), seq + 1);
            check(
                top(book) == (Some(smaller.price), Some(smaller.size)),
                "size update",
            )?;
            book.delete(smaller, 0, seq + 2, (seq + 2).into());
        }
        Op::Delete => {
            book.add(order, 0, seq, seq.into());
            counted_nt_delete(book, black_box(order), seq + 1);
        }
        Op::New => return Err("Nautilus: `new` is counted apart".into()),
    }
    check(
        book.best_bid_price().is_none() && book.best_ask_price().is_none(),
        "the repetition",
    )
}

/// `--instructions OP --impl IMPL --repeat N`: the run callgrind counts.
pub fn run(op: Op, imp: Impl, repeat: u64, config: BookConfig) -> Result<(), String> {
    let m = msgs();
    let mut events = Events::new();
    let id = InstrumentId::from("AAPL.XNAS");
    match (op, imp) {
        (Op::New, Impl::OursItch) => {
            for _ in 0..repeat {
                let book = counted_ours_new(black_box(config));
                black_box(&book);
            }
        }
        (Op::New, Impl::Nautilus) => {
            for _ in 0..repeat {
                let book = counted_nt_new(black_box(id));
                black_box(&book);
            }
        }
        (Op::New, _) | (Op::UpdateSize, Impl::NautilusIai) => {
            return Err(format!("{} has no {} variant", name(imp), name(op)))
        }
        (_, Impl::OursItch | Impl::OursPending) => {
            let mut book = Book::with_capacity(config);
            for _ in 0..repeat {
                ours_once(&mut book, op, imp == Impl::OursPending, &m, &mut events)?;
            }
        }
        (_, Impl::OursItchWarm | Impl::OursPendingWarm) => {
            let mut book = Book::with_capacity(config);
            for bytes in &m.background {
                setup_apply(&mut book, bytes, &mut events);
            }
            if book.live_orders() != 2 || book.live_levels() != 2 {
                return Err("ours: the other instrument's orders are not in the book".into());
            }
            for _ in 0..repeat {
                ours_once(&mut book, op, imp == Impl::OursPendingWarm, &m, &mut events)?;
            }
        }
        (_, Impl::OursItchFresh) => {
            for _ in 0..repeat {
                let mut book = Book::with_capacity(config);
                ours_once(&mut book, op, false, &m, &mut events)?;
            }
        }
        (_, Impl::Nautilus) => {
            for r in 0..repeat {
                let mut book = OrderBook::new(id, BookType::L3_MBO);
                nautilus_once(&mut book, op, 1 + 3 * r)?;
            }
        }
        (_, Impl::NautilusReuse) => {
            let mut book = OrderBook::new(id, BookType::L3_MBO);
            for r in 0..repeat {
                nautilus_once(&mut book, op, 1 + 3 * r)?;
            }
        }
        (_, Impl::NautilusIai) => {
            for _ in 0..repeat {
                counted_nt_iai(black_box(op));
            }
        }
    }
    println!(
        "instructions {} {} x{repeat}: done, every repetition checked",
        name(op),
        name(imp)
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// The table

/// Callgrind's total of the counted functions for one run.
fn callgrind(
    exe: &Path,
    op: Op,
    imp: Impl,
    repeat: u64,
    config: BookConfig,
) -> Result<u64, String> {
    let out = std::env::temp_dir().join(format!(
        "book-peer-{}-{}-{}-{repeat}.callgrind",
        std::process::id(),
        name(op),
        name(imp)
    ));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg("--collect-atstart=no")
        .arg("--toggle-collect=*counted_*")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(exe)
        .args(["--instructions", &name(op), "--impl", &name(imp)])
        .args(["--repeat", &repeat.to_string()])
        .args(["--max-orders", &config.max_orders.to_string()])
        .args(["--max-levels", &config.max_levels.to_string()])
        .output()
        .map_err(|e| format!("valgrind: {e}"))?;
    if !status.status.success() {
        return Err(format!(
            "valgrind {} {} x{repeat} failed: {}",
            name(op),
            name(imp),
            String::from_utf8_lossy(&status.stderr)
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let total = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    total("totals:")
        .or_else(|| total("summary:"))
        .ok_or_else(|| format!("{}: no totals line", out.display()))
}

/// `--callgrind-table`: every operation and implementation at N and 2N.
pub fn table(repeat: u64, config: BookConfig) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let all = [
        Impl::OursItch,
        Impl::OursPending,
        Impl::OursItchFresh,
        Impl::OursItchWarm,
        Impl::OursPendingWarm,
        Impl::Nautilus,
        Impl::NautilusReuse,
        Impl::NautilusIai,
    ];
    let rows: Vec<(Op, Vec<Impl>)> = vec![
        (Op::Add, all.to_vec()),
        (Op::Update, all.to_vec()),
        (
            Op::UpdateSize,
            all.iter()
                .copied()
                .filter(|&i| i != Impl::NautilusIai)
                .collect(),
        ),
        (Op::Delete, all.to_vec()),
        (Op::New, vec![Impl::OursItch, Impl::Nautilus]),
    ];
    println!(
        "callgrind: instructions (Ir) inside the counted functions; per op = (Ir(2N) - Ir(N)) / N; our book at {} orders, {} levels",
        config.max_orders, config.max_levels
    );
    println!(
        "{:<12} {:<16} {:>7} {:>14} {:>14} {:>10} {:>10}",
        "operation", "implementation", "N", "Ir(N)", "Ir(2N)", "per op", "Ir(N)/N"
    );
    for (op, impls) in rows {
        for imp in impls {
            // A fresh whole-market book per repetition is slow under valgrind.
            let n = match (op, imp) {
                (_, Impl::OursItchFresh) | (Op::New, Impl::OursItch) => (repeat / 100).max(10),
                _ => repeat,
            };
            let a = callgrind(&exe, op, imp, n, config)?;
            let b = callgrind(&exe, op, imp, 2 * n, config)?;
            println!(
                "{:<12} {:<16} {:>7} {:>14} {:>14} {:>10.1} {:>10.1}",
                name(op),
                name(imp),
                n,
                a,
                b,
                (b as f64 - a as f64) / n as f64,
                a as f64 / n as f64
            );
        }
    }
    Ok(())
}
