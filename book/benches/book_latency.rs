//! Per-message latency distribution (p50/p99/p99.9 by message type), mean
//! throughput without per-message timing, memory footprint and level-walk cost,
//! for the same whole-market flow as the criterion bench.
//!
//! `cargo bench -p book --bench book_latency`
//!
//! Each message is bracketed by `rdtsc`; the bracket's own cost (measured with
//! an empty body) is subtracted, and cycles are converted to ns with a TSC
//! rate calibrated against `Instant` over the run.

mod common;

use std::time::Instant;

use book::{Book, BookConfig, Nanos};
use common::{apply, reset, Events, Flow, KIND_NAMES};

#[inline(always)]
fn tsc() -> u64 {
    // SAFETY: `rdtsc` only reads the time-stamp counter; every x86_64 CPU has it.
    #[allow(unused_unsafe)]
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
}

const BUCKETS: usize = 1 << 16;

struct Histogram {
    counts: Vec<u64>,
    n: u64,
    sum: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            n: 0,
            sum: 0,
        }
    }
    fn record(&mut self, cycles: u64) {
        self.counts[(cycles as usize).min(BUCKETS - 1)] += 1;
        self.n += 1;
        self.sum += cycles;
    }
    fn quantile(&self, q: f64) -> u64 {
        let target = ((self.n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (c, &k) in self.counts.iter().enumerate() {
            seen += k;
            if seen >= target.max(1) {
                return c as u64;
            }
        }
        BUCKETS as u64
    }
}

fn main() {
    let measured = 3_000_000;
    let t0 = Instant::now();
    let flow = Flow::generate(0xB00C, measured);
    eprintln!(
        "generated {} prefill + {} ops in {:?}",
        flow.prefill.len(),
        flow.ops.len(),
        t0.elapsed()
    );
    let config = BookConfig::default();
    let mut book = Book::with_capacity(config);
    let mut events = Events::new();

    // Throughput: no per-message timing, best of 3 passes.
    let mut best_ns = f64::MAX;
    let mut scan_steps = 0;
    for _ in 0..3 {
        reset(&mut book, &flow);
        let before = book.counters().level_scan_steps;
        let start = Instant::now();
        for (i, op) in flow.ops.iter().enumerate() {
            apply(&mut book, op, Nanos(i as u64), &mut events);
            std::hint::black_box(&events);
        }
        let ns = start.elapsed().as_nanos() as f64 / flow.ops.len() as f64;
        best_ns = best_ns.min(ns);
        scan_steps = book.counters().level_scan_steps - before;
    }

    // Latency: rdtsc around each message.
    reset(&mut book, &flow);
    let mut overhead = u64::MAX;
    for _ in 0..100_000 {
        let a = tsc();
        let b = tsc();
        overhead = overhead.min(b - a);
    }
    let mut per_kind: Vec<Histogram> = (0..5).map(|_| Histogram::new()).collect();
    let mut all = Histogram::new();
    let wall = Instant::now();
    let tsc_start = tsc();
    for (i, op) in flow.ops.iter().enumerate() {
        let a = tsc();
        apply(&mut book, op, Nanos(i as u64), &mut events);
        let b = tsc();
        std::hint::black_box(&events);
        let cycles = (b - a).saturating_sub(overhead);
        per_kind[op.kind()].record(cycles);
        all.record(cycles);
    }
    let ghz = (tsc() - tsc_start) as f64 / wall.elapsed().as_nanos() as f64;
    let ns = |c: u64| c as f64 / ghz;

    let c = book.counters();
    println!(
        "book whole-market mix: {} measured msgs after {} prefill adds, {} locates",
        flow.ops.len(),
        flow.prefill.len(),
        common::LOCATES
    );
    println!(
        "live orders at end {}, live levels {}, peak orders {}, peak levels {}",
        book.live_orders(),
        book.live_levels(),
        c.peak_orders,
        c.peak_levels
    );
    println!(
        "memory: {} bytes ({:.1} MiB) at {} order / {} level capacity + 65,536 locates",
        book.memory_bytes(),
        book.memory_bytes() as f64 / (1 << 20) as f64,
        book.order_capacity(),
        book.level_capacity()
    );
    println!(
        "throughput (untimed loop, best of 3): {:.1} ns/msg = {:.1} M msg/s",
        best_ns,
        1e3 / best_ns
    );
    println!(
        "level-list walk: {:.4} steps/msg ({} steps)",
        scan_steps as f64 / flow.ops.len() as f64,
        scan_steps
    );
    println!(
        "anomalies: unknown {} duplicate {} negative {} table_full {} level_full {} crossed {} dropped_events {}",
        c.unknown_order, c.duplicate_order, c.negative_quantity, c.order_table_full, c.level_pool_full, c.crossed_book, c.events_dropped
    );
    println!(
        "tsc {:.3} GHz, rdtsc pair overhead {} cycles (subtracted)",
        ghz, overhead
    );
    println!("| op | share | mean ns | p50 ns | p99 ns | p99.9 ns |");
    println!("|---|---|---|---|---|---|");
    for (k, h) in per_kind.iter().enumerate() {
        if h.n == 0 {
            continue;
        }
        println!(
            "| {} | {:.1}% | {:.1} | {:.0} | {:.0} | {:.0} |",
            KIND_NAMES[k],
            100.0 * h.n as f64 / all.n as f64,
            ns(h.sum) / h.n as f64,
            ns(h.quantile(0.5)),
            ns(h.quantile(0.99)),
            ns(h.quantile(0.999))
        );
    }
    println!(
        "| all | 100% | {:.1} | {:.0} | {:.0} | {:.0} |",
        ns(all.sum) / all.n as f64,
        ns(all.quantile(0.5)),
        ns(all.quantile(0.99)),
        ns(all.quantile(0.999))
    );
}
