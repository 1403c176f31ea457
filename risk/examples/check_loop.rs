//! The benchmark's accept stream without criterion, for instruction counts
//! (a shared 2-core machine makes wall and even CPU time noisy; callgrind's
//! counts are exact and repeatable).
//!
//! ```text
//! cargo build --release -p risk --example check_loop
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     --toggle-collect='*check_loop::checks' target/release/examples/check_loop
//! callgrind_annotate --auto=yes /tmp/cg.out
//! ```
//!
//! Arguments (all optional, in order): open-order capacity (4096),
//! `all` | `plain` (`plain`: no duplicate window, no order throttles),
//! symbols traded (4000), chunks of 1,024 orders (200), and the stream:
//! `accept` (every order, a buy, passes), `accept_sell` (the same with
//! sells), `max_qty` (every order is too large) or `duplicate` (every order
//! repeats one accepted earlier). The program
//! prints the number of checks; divide the collected `Ir` by it.
//!
//! Run natively it also prints the thread CPU time per check of the chunk
//! at the 10th percentile and of the median chunk, then the same and the
//! mean of all chunks net of the clock's own cost (a system call, ~510 ns
//! a chunk on the project's VM): on a loaded machine the
//! fast chunks are the ones least disturbed by other tenants, a steadier
//! figure than the mean (the very fastest is not: the thread CPU clock of a
//! virtual machine now and then under-counts a chunk).

use std::hint::black_box;

use hugealloc::thread_cpu_ns;
use risk::{Capacity, CheckContext, Limits, OrderRef, RiskEngine, RiskSlot};
use types::{
    Nanos, OrderId, OrderIntent, Price, RejectReason, Side, StrategyId, Symbol, TimeInForce,
    VenueId,
};

const REF: i64 = 1_000_000;
const CHUNK: u64 = 1_024;

/// The benchmark's limits: every check on.
fn limits(all: bool) -> Limits {
    let mut l = Limits::example();
    if !all {
        l.duplicate_window_ns = 0;
        l.strategy_order_rate = None;
        l.venue_order_rate = None;
    }
    l
}

fn intent(i: u64, qty: u32, symbols: u64) -> OrderIntent {
    intent_on(Side::Buy, i, qty, symbols)
}

/// Order `i` of the stream: buys at or below the reference, sells at or above.
fn intent_on(side: Side, i: u64, qty: u32, symbols: u64) -> OrderIntent {
    let offset = (i % 500) as i64 * 100;
    OrderIntent::New {
        strategy: StrategyId((i % 8) as u16),
        locate: (i % symbols) as u16 + 1,
        symbol: Symbol::new("BENCH").unwrap_or_default(),
        side,
        price: Price(match side {
            Side::Buy => REF - offset,
            Side::Sell => REF + offset,
        }),
        qty,
        tif: TimeInForce::Day,
    }
}

/// The measured region: one check per intent, each answer kept (where
/// risk holds an accepted order: the OMS keeps it in its record).
#[inline(never)]
fn checks(
    e: &mut RiskEngine,
    batch: &[(OrderIntent, CheckContext, Nanos)],
    answers: &mut [Result<RiskSlot, RejectReason>],
) {
    for ((intent, ctx, now), answer) in batch.iter().zip(answers.iter_mut()) {
        *answer = e.check(black_box(intent), ctx, *now);
    }
}

fn arg<T: std::str::FromStr>(n: usize, default: T) -> T {
    std::env::args()
        .nth(n)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let orders: usize = arg(1, 4_096);
    let all = arg(2, String::from("all")) != "plain";
    let symbols: u64 = arg(3, 4_000);
    let chunks: u64 = arg(4, 200);
    let stream = arg(5, String::from("accept"));
    let (qty_override, repeat, side) = match stream.as_str() {
        "accept" => (None, false, Side::Buy),
        "accept_sell" => (None, false, Side::Sell),
        "max_qty" => (Some(20_000), false, Side::Buy),
        "duplicate" => (None, true, Side::Buy),
        other => panic!("unknown stream {other}"),
    };
    let cap = Capacity {
        symbols: 65_536,
        orders,
        duplicate_slots: orders.min(8_192),
    };
    let mut e = RiskEngine::new(cap, limits(all)).expect("valid limits");
    let (mut seq, mut now) = (0u64, 1_000_000_000u64);
    let mut batch = Vec::with_capacity(CHUNK as usize);
    let mut answers = vec![Err(RejectReason::InvalidOrder); CHUNK as usize];
    let mut accepted = 0;
    let mut per_check = Vec::with_capacity(chunks as usize);
    let first_order = intent(0, 100, symbols);
    if repeat {
        let ctx = CheckContext {
            order: OrderId(u64::MAX),
            held: None,
            venue: VenueId(0),
            reference: Some(Price(REF)),
        };
        e.check(&first_order, &ctx, Nanos(now))
            .expect("first accepted");
    }
    for _ in 0..chunks {
        batch.clear();
        let first = seq;
        for _ in 0..CHUNK {
            // Repeats stay inside the duplicate window (1 ms).
            now = if repeat {
                1_000_000_000 + seq % 500_000
            } else {
                now + 10_000
            };
            let ctx = CheckContext {
                order: OrderId(seq),
                held: None,
                venue: VenueId((seq % 16) as u8),
                reference: Some(Price(REF)),
            };
            let order = match (repeat, qty_override) {
                (true, _) => first_order,
                (false, Some(qty)) => intent(seq, qty, symbols),
                (false, None) => intent_on(side, seq, 100 + (seq % 7) as u32, symbols),
            };
            batch.push((order, ctx, Nanos(now)));
            seq += 1;
        }
        let start = thread_cpu_ns();
        checks(&mut e, &batch, &mut answers);
        per_check.push((thread_cpu_ns() - start) as f64 / CHUNK as f64);
        for (id, answer) in (first..seq).zip(&answers) {
            if let Ok(slot) = *answer {
                accepted += 1;
                e.on_canceled(OrderRef::new(OrderId(id), slot));
            }
        }
    }
    let expected = if stream.starts_with("accept") {
        chunks * CHUNK
    } else {
        0
    };
    assert_eq!(accepted, expected, "every order of the {stream} stream");
    println!("{}", chunks * CHUNK);
    let mean = per_check.iter().sum::<f64>() / per_check.len().max(1) as f64;
    per_check.sort_by(f64::total_cmp);
    let at = |q: usize| per_check.get(per_check.len() * q / 100).copied();
    if let (Some(p10), Some(median)) = (at(10), at(50)) {
        eprintln!(
            "thread CPU ns per check: 10th percentile chunk {p10:.1}, median chunk {median:.1}"
        );
        // The clock is a system call whose entry and exit count as CPU
        // time (see `hugealloc::thread_cpu_clock_cost_ns`).
        let cost = hugealloc::thread_cpu_clock_cost_ns();
        let net = |x: f64| x - cost as f64 / CHUNK as f64;
        eprintln!(
            "net of the clock's own cost ({cost} ns a chunk): 10th percentile chunk {:.1}, \
             median chunk {:.1}, mean {:.1}",
            net(p10),
            net(median),
            net(mean)
        );
    }
    // The phase of a shared host the figures above were taken in.
    if let Some(ghz) = hugealloc::core_clock_ghz(100) {
        eprintln!("core clock after the run: {ghz:.2} GHz");
    }
}
