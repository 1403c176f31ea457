//! Criterion: ns per message for a realistic whole-market mix through the
//! semantic API (see `common` for the flow's shape).
//!
//! `cargo bench -p book --bench book -- --warm-up-time 1 --measurement-time 3`

mod common;

// Tables on 2 MiB pages, prefaulted, as on the appliance (see `hugealloc`).
#[global_allocator]
static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;

use std::time::{Duration, Instant};

use book::{Book, BookConfig};
use common::{reset, run_pipelined, Events, Flow};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

fn whole_market_mix(c: &mut Criterion) {
    let flow = Flow::generate(0xB00C, 3_000_000);
    let mut book = Book::with_capacity(BookConfig::default());
    reset(&mut book, &flow);
    let mut cursor = 0usize;
    let mut events = Events::new();
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(1));
    for (name, distance) in [
        ("whole_market_mix_per_msg", 0usize),
        ("whole_market_mix_per_msg_prefetch8", 8),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut elapsed = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    if cursor == flow.ops.len() {
                        reset(&mut book, &flow);
                        cursor = 0;
                    }
                    let n = left.min((flow.ops.len() - cursor) as u64) as usize;
                    let start = Instant::now();
                    run_pipelined(
                        &mut book,
                        &flow.ops[cursor..cursor + n],
                        distance,
                        &mut events,
                    );
                    elapsed += start.elapsed();
                    cursor += n;
                    left -= n as u64;
                }
                elapsed
            })
        });
    }
    group.finish();
    let c = book.counters();
    eprintln!(
        "live orders {}, live levels {}, anomalies: unknown {} duplicate {} negative {} full {}/{}; memory {} MiB",
        book.live_orders(),
        book.live_levels(),
        c.unknown_order,
        c.duplicate_order,
        c.negative_quantity,
        c.order_table_full,
        c.level_pool_full,
        book.memory_bytes() >> 20
    );
}

criterion_group!(benches, whole_market_mix);
criterion_main!(benches);
