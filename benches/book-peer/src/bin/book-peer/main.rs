//! `book-peer`: our L3 order book (`book` crate) against NautilusTrader's
//! Rust order book (`nautilus-model` 0.57.0, `OrderBook` with
//! `BookType::L3_MBO`) on the same ITCH 5.0 data, in the same process run.
//!
//! ```text
//! cd benches/book-peer
//! cargo run --release --bin book-peer -- /tmp/bt10m.itch [--symbol SYM] [--rounds 3]
//! cargo run --release --bin book-peer -- /tmp/day20m.itch --whole-market [--prefetch 4]
//! cargo run --release --bin book-peer -- --callgrind-table --repeat 1000
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*counted_*' \
//!     target/release/book-peer --instructions add --impl ours-itch --repeat 1000
//! ```
//!
//! # Replay (the user-meaningful figure)
//! 1. The NASDAQ-format file (u16 big-endian length, then the message) is
//!    memory-mapped. By default the locate with the most messages is chosen
//!    (as the `backtest` binary chooses it; `--symbol` picks one from the
//!    `R` directory); its order messages — `A`, `F` (add), `E`, `C`
//!    (executed), `X` (cancel), `D` (delete), `U` (replace) — plus its `R`
//!    message and the system messages (locate 0) are copied, in the file
//!    format, into one buffer: our input. `--whole-market` takes the order
//!    messages of every locate (and every `R`). Other message types (trades
//!    `P`, crosses `Q`, trading actions, imbalances...) are left out for
//!    both.
//! 2. Nautilus's input is built from that buffer once, outside every timed
//!    region: `A`/`F` → `add` (side; price = the ITCH price4 integer as a
//!    `Price` of precision 4 built with `Price::from_raw(price4 × 10^5)`,
//!    exact — `Price::new(price4 / 10^4, 4)` rounds to the same raw value,
//!    and the run checks that for every distinct price; size a `Quantity`
//!    of precision 0 from its raw value; order id = ITCH order reference);
//!    `E`/`C`/`X` → `update` to the remaining size, or `delete` when nothing
//!    remains; `D` → `delete`; `U` → `delete` of the old order + `add` of
//!    the new one on the same side. The converter tracks each live order's
//!    locate, side, price and remaining shares, and drops exactly what ours
//!    rejects (unknown reference, duplicate add, zero shares, locate 0;
//!    counted and printed). Flags are 0, `sequence` is the message's index
//!    in the stream, `ts_event` its ITCH timestamp.
//! 3. Rounds alternate (default 3). Ours: a fresh `book::Book` at the
//!    capacity the replay tool uses by default (4 Mi orders, 1 Mi levels;
//!    `--max-orders`/`--max-levels`), built and prefaulted outside the
//!    clock; timed: walking the buffer's framing, decoding each message
//!    (`Message::parse`) and applying it (`Book::apply_itch`) with the
//!    events collected as the appliance's pipeline collects them (a
//!    `heapless::Vec` of up to four `BookEvent`s, cleared per message).
//!    Nautilus: fresh `OrderBook`s (one; with `--whole-market`, one per
//!    locate in a `Vec`, the operation carrying the index of its book),
//!    timed: `add`/`update`/`delete` of every pre-built operation. Both
//!    figures are divided by the same count, the number of order messages;
//!    ns per Nautilus operation is printed too. Setup (building the books)
//!    and teardown (dropping them) are timed apart and shown in the
//!    "incl. new + drop" line. Wall and thread CPU time are both measured.
//! 4. With `--prefetch D`, a third side: ours through feedgen's `Replayer`
//!    with the book's prefetch pipeline at distance D, the path the replay
//!    tool takes by default (it also counts per-type and BBO changes).
//!
//! # Checks
//! Untimed, before the rounds: a pass applies the stream message by message
//! to a fresh book of each side and, after every message, compares the
//! touched locate's best bid and best ask on both: price, total shares at
//! the level, number of orders there and the shares of the order at the
//! front of the queue (Nautilus's `best_bid_size` in an L3 book is that
//! front order's size, not the level's; the level total is
//! `BookLevel::size_raw`). Moments when our book is crossed for that locate
//! are skipped and counted. At the end of that pass and of every timed
//! round, each book's state — live orders, number of levels per side and
//! the top five levels per side (price, shares, orders) of every locate —
//! must equal the other side's (and the pass's). Ours must not have run out
//! of capacity. Any difference prints `SANITY MISMATCH` and exits non-zero;
//! otherwise `SANITY OK`. The pass also counts the heap bytes the Nautilus
//! books hold (at the end and at most), with a counting wrapper around the
//! global allocator that is only switched on for that pass.
//!
//! # Fairness notes
//! - Ours decodes the raw ITCH bytes inside its timed loop (framing, exact
//!   length and side checks, field reads); Nautilus gets pre-built
//!   `BookOrder` operations with the book index resolved — its decoding and
//!   the bookkeeping a user would need to turn ITCH's executions and
//!   cancels (which carry only the shares taken) into its absolute-size
//!   updates are excluded, a favour to it; so is the lookup of an order's
//!   book in the whole-market run (resolved at conversion; ours finds the
//!   instrument from the order). The one-off conversion cost is printed.
//! - What ours maintains per message (read `book/src/lib.rs`): the order's
//!   32-byte slot in a table indexed by the reference (plus a spill pool
//!   and its hash map), an intrusive doubly linked FIFO queue per level
//!   (exact queue position; `Book::queue_position`), the level's shares and
//!   order count, a sorted array of levels per side (best last) and a copy
//!   of the best level's price, shares and orders per side (BBO in one
//!   cache line); events for strategies (a level event per touched level,
//!   a BBO event when the best changes, a trade event with last-trade price
//!   and cumulative volume per instrument for `E` and printable `C`), a
//!   crossed-book
//!   check after adds and replaces, anomaly counters and high-water marks,
//!   the directory with its symbol index for `R`. One `Book` holds the whole
//!   market (65,536 locates), also in the single-symbol run.
//! - What Nautilus maintains (`src/orderbook/book.rs`, `ladder.rs`,
//!   `level.rs`): per side a std `HashMap` (SipHash) from order id to price
//!   and a `BTreeMap` from price to level; each level an `IndexMap` of its
//!   orders in insertion (FIFO) order, a delete being a `shift_remove`
//!   (moves every later order of the level); sizes are summed on demand,
//!   not maintained; per book the last sequence, timestamp and an update
//!   count, with out-of-order warnings (`log`, no logger installed). It
//!   emits no events and keeps no trades or volume. It allocates as it
//!   grows (level maps, hash tables); ours allocates nothing after
//!   `Book::with_capacity`, whose ~690 MiB are prefaulted outside the clock
//!   (its cost is printed).
//! - Both run in one process, on one thread, alternately, under the same
//!   global allocator: `hugealloc::HugeAlloc` (as feedgen's replay tool),
//!   so Nautilus's blocks of 2 MiB and more (grown hash tables) are on
//!   prefaulted huge pages too; smaller ones come from the system
//!   allocator. The byte-counting wrapper adds a relaxed load and a
//!   not-taken branch to each allocation and release while it is off; ours
//!   makes none per message, Nautilus a few per level created or removed
//!   and per hash table growth.
//!
//! # Instructions per operation
//! `--instructions add|update|update-size|delete|new --impl ... --repeat N`
//! runs one operation N times for callgrind, and `--callgrind-table` runs
//! valgrind itself over all of them at N and 2N; see `instructions.rs` for
//! what is counted.
#![deny(unsafe_code)]

mod alloc;
mod convert;
mod instructions;
mod sanity;
mod stream;

use std::fs::File;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use book::{Book, BookConfig};
use clap::Parser;
use feedgen::replay::{map_file, Replayer};
use hugealloc::{best_and_median, elapsed_ns, thread_cpu_ns};
use nautilus_model::orderbook::OrderBook;
use protocol::itch::{FileReader, Message};

use crate::convert::Converted;
use crate::sanity::{first_difference, Events, Snapshot};

// As feedgen's replay tool: large tables on 2 MiB pages, prefaulted (with a
// byte counter that only the check pass switches on).
#[global_allocator]
static ALLOC: alloc::Counted = alloc::Counted;

/// Our L3 book and NautilusTrader's `OrderBook` (L3_MBO) on the same ITCH
/// stream; or instruction counts of single operations under callgrind.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// NASDAQ file format ITCH 5.0 (2-byte big-endian length + message).
    #[arg(required_unless_present_any = ["instructions", "callgrind_table"])]
    input: Option<PathBuf>,
    /// Replay this symbol (default: the locate with the most messages).
    #[arg(long, conflicts_with = "whole_market")]
    symbol: Option<String>,
    /// Replay every locate (Nautilus: one `OrderBook` per locate).
    #[arg(long)]
    whole_market: bool,
    /// Timed runs of each side, alternating.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Our book's capacity: live orders.
    #[arg(long, default_value_t = BookConfig::default().max_orders)]
    max_orders: usize,
    /// Our book's capacity: live price levels.
    #[arg(long, default_value_t = BookConfig::default().max_levels)]
    max_levels: usize,
    /// Also time ours through feedgen's `Replayer` with this prefetch
    /// distance (0: not).
    #[arg(long, default_value_t = 0)]
    prefetch: usize,
    /// Instruction-count mode: perform this operation --repeat times.
    #[arg(long, value_enum)]
    instructions: Option<instructions::Op>,
    /// Instruction-count mode: which book and path.
    #[arg(long = "impl", value_enum, default_value = "ours-itch")]
    implementation: instructions::Impl,
    /// Instruction-count mode: repetitions (N).
    #[arg(long, default_value_t = 1000)]
    repeat: u64,
    /// Run valgrind (callgrind) on this binary for every operation and
    /// implementation at N and 2N repetitions and print the table.
    #[arg(long)]
    callgrind_table: bool,
}

fn per(ns: u64, n: u64) -> f64 {
    ns as f64 / n.max(1) as f64
}

fn mib(bytes: f64) -> f64 {
    bytes / f64::from(1u32 << 20)
}

/// Ours' timed loop: framing, decode, apply, events collected per message.
#[inline(never)]
fn replay_ours(book: &mut Book, stream: &[u8], events: &mut Events) -> (u64, u64) {
    let mut messages = 0u64;
    let mut n_events = 0u64;
    for m in FileReader::new(stream) {
        let Ok(b) = m else {
            break;
        };
        messages += 1;
        if let Ok(msg) = Message::parse(b) {
            let _ = book.apply_itch(&msg, events);
        }
        n_events += events.len() as u64;
        black_box(&*events);
        events.clear();
    }
    (messages, n_events)
}

/// One timed run of a side.
struct Run {
    setup_ns: u64,
    wall_ns: u64,
    cpu_ns: u64,
    drop_ns: u64,
    snapshot: Snapshot,
    note: String,
}

/// One side's run: its `setup` timed on the wall clock, its `replay` on the
/// wall and the thread CPU clock, then the `report` (the snapshot the
/// sanity check compares, and a note) read from what the replay left, and
/// the drop of it all timed. A setup that fails gives its reason as the
/// note, and zero times.
fn timed_run<S, R>(
    setup: impl FnOnce() -> Result<S, String>,
    replay: impl FnOnce(&mut S) -> R,
    report: impl FnOnce(&S, R) -> (Snapshot, String),
) -> Run {
    let t = Instant::now();
    let state = setup();
    let setup_ns = elapsed_ns(t);
    let mut state = match state {
        Ok(state) => state,
        Err(note) => {
            return Run {
                setup_ns,
                wall_ns: 0,
                cpu_ns: 0,
                drop_ns: 0,
                snapshot: Snapshot {
                    live_orders: 0,
                    books: Vec::new(),
                },
                note,
            }
        }
    };
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let replayed = replay(&mut state);
    let wall_ns = elapsed_ns(t0);
    let cpu_ns = thread_cpu_ns() - c0;
    let (snapshot, note) = report(&state, replayed);
    let t = Instant::now();
    drop(state);
    let drop_ns = elapsed_ns(t);
    Run {
        setup_ns,
        wall_ns,
        cpu_ns,
        drop_ns,
        snapshot,
        note,
    }
}

fn run_ours(stream: &[u8], c: &Converted, config: BookConfig) -> Run {
    let mut events = Events::new();
    timed_run(
        || Ok(Book::with_capacity(config)),
        |book| replay_ours(book, stream, &mut events),
        |book, (messages, n_events)| {
            (
                sanity::snapshot_ours(book, c),
                format!("{messages} msgs, {n_events} events"),
            )
        },
    )
}

fn run_prefetched(stream: &[u8], c: &Converted, config: BookConfig, distance: usize) -> Run {
    timed_run(
        || {
            Replayer::<std::io::Sink>::new(config, None)
                .map_err(|_| "Replayer::new failed".to_string())
        },
        |replayer| replayer.replay_nasdaq_prefetched(stream, distance),
        |replayer, ()| {
            (
                sanity::snapshot_ours(replayer.book(), c),
                format!(
                    "{} msgs, {} BBO changes",
                    replayer.counters().messages,
                    replayer.counters().bbo_changes
                ),
            )
        },
    )
}

fn run_nautilus(c: &Converted) -> Run {
    timed_run(
        || Ok(convert::new_books(c)),
        |books: &mut Vec<OrderBook>| convert::replay(books, &c.ops),
        |books, ()| {
            (
                sanity::snapshot_nautilus(books, c),
                format!("{} ops", c.ops.len()),
            )
        },
    )
}

/// Per-round figures of one side.
#[derive(Default)]
struct Figures {
    wall: Vec<f64>,
    cpu: Vec<f64>,
    total: Vec<f64>,
}

impl Figures {
    fn push(&mut self, r: &Run, n: u64) {
        self.wall.push(per(r.wall_ns, n));
        self.cpu.push(per(r.cpu_ns, n));
        self.total.push(per(r.setup_ns + r.wall_ns + r.drop_ns, n));
    }
}

fn print_round(round: usize, side: &str, r: &Run, n: u64, extra: &str) {
    println!(
        "round {round} {side:<10} {:8.1} ns/msg wall {:8.1} CPU{extra} | {:.3} s | new {:.1} ms, drop {:.1} ms | {}",
        per(r.wall_ns, n),
        per(r.cpu_ns, n),
        r.wall_ns as f64 / 1e9,
        r.setup_ns as f64 / 1e6,
        r.drop_ns as f64 / 1e6,
        r.note
    );
}

fn replay(args: &Args, input: &PathBuf) -> Result<(), String> {
    let path = |e: std::io::Error| format!("{}: {e}", input.display());
    let file = File::open(input).map_err(path)?;
    let data = map_file(&file).map_err(path)?;
    let config = BookConfig {
        max_orders: args.max_orders,
        max_levels: args.max_levels,
    };

    let load_before = hugealloc::load_average();
    let t = Instant::now();
    let stream = stream::select(&data, args.symbol.as_deref(), args.whole_market)?;
    let select_s = t.elapsed().as_secs_f64();
    let n = stream.order_messages;
    println!(
        "input            {} ({} messages, {} malformed)",
        input.display(),
        stream.file_messages,
        stream.file_malformed
    );
    let what = match stream.locate {
        Some(l) => format!(
            "{} (locate {l})",
            stream.names.get(&l).map_or("?", |s| s.as_str().trim_end())
        ),
        None => "whole market".to_string(),
    };
    let types: Vec<String> = b"AFECXDURS"
        .iter()
        .filter(|&&t| stream.per_type[usize::from(t)] > 0)
        .map(|&t| format!("{} {}", char::from(t), stream.per_type[usize::from(t)]))
        .collect();
    println!(
        "stream           {what}: {n} order messages (+ {} directory/system messages, ours only), {:.1} MiB, selected in {select_s:.2} s; {}",
        stream.messages - n,
        mib(stream.bytes.len() as f64),
        types.join(", ")
    );

    // The conversion for Nautilus: once, outside every timed region.
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let conv = convert::convert(&stream.bytes, &stream.names);
    let conv_wall = elapsed_ns(t0);
    let conv_cpu = thread_cpu_ns() - c0;
    let n_ops = conv.ops.len() as u64;
    println!(
        "conversion       {n_ops} Nautilus operations ({} add, {} update, {} delete) for {} book(s) in {:.0} ms wall, {:.0} ms CPU ({:.1} ns/message; not in any figure below)",
        conv.adds,
        conv.updates,
        conv.deletes,
        conv.books.len(),
        conv_wall as f64 / 1e6,
        conv_cpu as f64 / 1e6,
        per(conv_wall, n)
    );
    println!(
        "                 order messages without an operation {} (unknown reference {}, duplicate add {}, zero shares {}, locate 0 {}); over-executions clamped {}; live orders at end {}",
        conv.no_op,
        conv.unknown_ref,
        conv.duplicate,
        conv.zero_shares,
        conv.bad_locate,
        conv.over_executed,
        conv.live_at_end
    );
    println!(
        "prices           {} distinct; Price::from_raw(price4 x 10^5, 4) used; Price::new(price4 / 10^4 as f64, 4) differs for {} of them",
        conv.distinct_prices, conv.float_price_mismatches
    );
    println!(
        "method           ours: raw ITCH bytes, framing + decode (Message::parse) + Book::apply_itch + events, all inside the timed loop; Nautilus: the pre-built operations above (its decoding and conversion excluded, a favour to it); same divisor: {n} order messages"
    );
    let mut problems: Vec<String> = Vec::new();

    // Untimed message-by-message check.
    let t = Instant::now();
    let check = sanity::check_path(&stream.bytes, &conv, config);
    let check_s = t.elapsed().as_secs_f64();
    println!(
        "check pass       BBO (price, level shares, orders, front order's shares) compared after {} messages, {} skipped while our book was crossed: {} mismatches ({check_s:.1} s)",
        check.compared, check.crossed_skipped, check.mismatches
    );
    if let Some(f) = &check.first {
        problems.push(format!("per-message BBO: first mismatch {f}"));
    }
    let oc = &check.ours_counters;
    println!(
        "ours counters    messages {}, unknown ref {}, duplicate {}, over-executed {}, zero qty {}, crossed after update {}, order table full {}, level pool full {}, peak orders {}, peak levels {}, level shifts {}",
        oc.messages,
        oc.unknown_order,
        oc.duplicate_order,
        oc.negative_quantity,
        oc.zero_quantity,
        oc.crossed_book,
        oc.order_table_full,
        oc.level_pool_full,
        oc.peak_orders,
        oc.peak_levels,
        oc.level_shifts
    );
    if oc.order_table_full > 0 || oc.level_pool_full > 0 {
        problems.push("ours ran out of capacity (raise --max-orders/--max-levels)".into());
    }
    println!(
        "end state        live orders: ours {}, Nautilus {}; {} locate(s), top 5 levels per side and level counts compared",
        check.ours.live_orders,
        check.nautilus.live_orders,
        check.ours.books.len()
    );
    if let Some(d) = first_difference(&check.ours, &check.nautilus) {
        problems.push(format!("end state, ours vs Nautilus: {d}"));
    }
    println!(
        "memory           ours: {:.0} MiB allocated and prefaulted at Book::with_capacity ({} orders, {} levels); Nautilus books' heap: {:.1} MiB at the end, {:.1} MiB at most (counted in the check pass)",
        mib(Book::memory_bytes_for(config) as f64),
        config.max_orders,
        config.max_levels,
        mib(check.nautilus_live_bytes as f64),
        mib(check.nautilus_peak_bytes as f64)
    );
    let (ours_ref, nt_ref) = (check.ours, check.nautilus);

    let mut ours = Figures::default();
    let mut nt = Figures::default();
    let mut pf = Figures::default();
    let mut nt_per_op = Vec::new();
    for round in 1..=args.rounds.max(1) {
        let r = run_ours(&stream.bytes, &conv, config);
        print_round(round, "ours", &r, n, "");
        if let Some(d) = first_difference(&r.snapshot, &ours_ref) {
            problems.push(format!(
                "round {round} ours: end state differs from the check pass: {d}"
            ));
        }
        ours.push(&r, n);
        drop(r);

        let r = run_nautilus(&conv);
        let op = per(r.wall_ns, n_ops);
        print_round(round, "Nautilus", &r, n, &format!(" ({op:.1} ns/op)"));
        if let Some(d) = first_difference(&r.snapshot, &nt_ref) {
            problems.push(format!(
                "round {round} Nautilus: end state differs from the check pass: {d}"
            ));
        }
        nt.push(&r, n);
        nt_per_op.push(op);
        drop(r);

        if args.prefetch > 0 {
            let r = run_prefetched(&stream.bytes, &conv, config, args.prefetch);
            print_round(round, "ours pf", &r, n, "");
            if let Some(d) = first_difference(&r.snapshot, &ours_ref) {
                problems.push(format!(
                    "round {round} ours (Replayer): end state differs from the check pass: {d}"
                ));
            }
            pf.push(&r, n);
        }
    }

    let (ob, om) = best_and_median(&ours.wall);
    let (obc, omc) = best_and_median(&ours.cpu);
    let (nb, nm) = best_and_median(&nt.wall);
    let (nbc, nmc) = best_and_median(&nt.cpu);
    let (otb, otm) = best_and_median(&ours.total);
    let (ntb, ntm) = best_and_median(&nt.total);
    let (opb, opm) = best_and_median(&nt_per_op);
    println!(
        "summary          ns per order message ({n} messages; Nautilus {n_ops} operations); best / median of {} rounds",
        ours.wall.len()
    );
    println!("  ours           best {ob:8.1} median {om:8.1} wall | best {obc:8.1} median {omc:8.1} CPU   (decode + apply + events)");
    println!("  Nautilus       best {nb:8.1} median {nm:8.1} wall | best {nbc:8.1} median {nmc:8.1} CPU   (pre-built operations; {opb:.1} / {opm:.1} ns per operation)");
    if !pf.wall.is_empty() {
        let (pb, pm) = best_and_median(&pf.wall);
        let (pbc, pmc) = best_and_median(&pf.cpu);
        println!(
            "  ours pf        best {pb:8.1} median {pm:8.1} wall | best {pbc:8.1} median {pmc:8.1} CPU   (feedgen Replayer, prefetch distance {})",
            args.prefetch
        );
    }
    println!(
        "  ratio          Nautilus / ours: best {:.2}x median {:.2}x wall | best {:.2}x median {:.2}x CPU",
        nb / ob,
        nm / om,
        nbc / obc,
        nmc / omc
    );
    println!(
        "  incl. new+drop ours best {otb:8.1} median {otm:8.1} | Nautilus best {ntb:8.1} median {ntm:8.1} wall ns/msg (building and dropping the books counted in)"
    );
    println!(
        "  + conversion   Nautilus best {:8.1} median {:8.1} wall ns/msg (with the one-off ITCH conversion, {:.1} ns/msg)",
        nb + per(conv_wall, n),
        nm + per(conv_wall, n),
        per(conv_wall, n)
    );

    println!(
        "machine          load average before: {load_before}; after: {}",
        hugealloc::load_average()
    );
    if problems.is_empty() {
        println!(
            "SANITY OK        BBO agrees after every compared message; live orders, level counts and top 5 levels per side agree at the end of the check pass and of every round"
        );
        Ok(())
    } else {
        for p in &problems {
            println!("SANITY MISMATCH  {p}");
        }
        Err(format!("{} sanity check(s) failed", problems.len()))
    }
}

fn run(args: Args) -> Result<(), String> {
    if args.callgrind_table {
        return instructions::table(
            args.repeat,
            BookConfig {
                max_orders: args.max_orders,
                max_levels: args.max_levels,
            },
        );
    }
    if let Some(op) = args.instructions {
        return instructions::run(
            op,
            args.implementation,
            args.repeat,
            BookConfig {
                max_orders: args.max_orders,
                max_levels: args.max_levels,
            },
        );
    }
    match &args.input {
        Some(input) => replay(&args, input),
        None => Err("an input file is required".into()),
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("book-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
