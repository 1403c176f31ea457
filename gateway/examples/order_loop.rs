//! The order path (`benches/order_path.rs`) on the thread CPU clock, for a
//! figure a loaded machine disturbs less than criterion's wall-clock mean:
//! the chunk of 1,024 orders at the 10th percentile, and the median chunk
//! (the fast chunks are the ones other tenants disturbed least). That is
//! the whole cost of an order, the work after its bytes are handed over
//! included; printed also net of the clock's own cost (a system call,
//! ~0.5 ns of each of a chunk's orders on the project's VM).
//!
//! Then the latency: each order timed with the time stamp counter from its
//! intent to its bytes handed to the transport (what follows, the resend
//! ring's copy and the OMS readying its next slots, is not on that path),
//! as percentiles, beside the same two reads of the counter with nothing
//! between them.
//!
//! ```text
//! cargo run --release -p gateway --example order_loop -- [venues 1|2] [chunks]
//! ```

#[path = "../benches/rig/order_path.rs"]
mod rig;

use hugealloc::{thread_cpu_ns, tsc};
use rig::{tsc_after, Buffers, Rig, CHUNK};
use std::time::Instant;

/// `sorted`'s value at quantile `q`.
fn at<T: Copy>(sorted: &[T], q: f64) -> T {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let venues: u8 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let chunks: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2_000);
    let (mut ours, mut theirs) = (Buffers::new(), Buffers::new());
    let mut rig = Rig::new(&mut ours, &mut theirs, venues);
    // Warm-up: the tables reach their steady state (every slot reused).
    for _ in 0..16 {
        let batch = rig.intents(CHUNK);
        rig.send(&batch);
        rig.settle();
    }
    let mut per_order: Vec<f64> = Vec::with_capacity(chunks);
    for _ in 0..chunks {
        let batch = rig.intents(CHUNK);
        let start = thread_cpu_ns();
        rig.send(&batch);
        per_order.push((thread_cpu_ns() - start) as f64 / CHUNK as f64);
        rig.settle();
    }
    per_order.sort_by(|a, b| a.total_cmp(b));
    // The thread CPU clock is a system call whose own cost counts as CPU
    // time, once per chunk (see `hugealloc::thread_cpu_clock_cost_ns`).
    let clock = hugealloc::thread_cpu_clock_cost_ns() as f64 / CHUNK as f64;
    println!(
        "order path, {venues} venue(s), {chunks} chunks of {CHUNK}: thread CPU per order p10 chunk {:.1} ns, median chunk {:.1} ns; net of the clock's own cost ({:.0} ns a chunk): {:.1} / {:.1} ns",
        at(&per_order, 0.10),
        at(&per_order, 0.50),
        clock * CHUNK as f64,
        at(&per_order, 0.10) - clock,
        at(&per_order, 0.50) - clock,
    );

    // Latency: the counter's ticks per nanosecond from the same span. This
    // VM's counter moves in steps of ~10 ns, so single orders are timed to
    // that step; a chunk's mean is not (its orders start at every phase of
    // the step), and the chunks' means are the figure, as above.
    let mut ticks: Vec<u64> = Vec::with_capacity(chunks * CHUNK as usize);
    let mut chunk_means: Vec<f64> = Vec::with_capacity(chunks);
    let mut empty: Vec<u64> = Vec::with_capacity(chunks * CHUNK as usize);
    let (started, tsc0) = (Instant::now(), tsc());
    for _ in 0..chunks {
        let batch = rig.intents(CHUNK);
        let from = ticks.len();
        rig.send_stamped(&batch, Some(&mut ticks));
        chunk_means.push(ticks[from..].iter().sum::<u64>() as f64 / CHUNK as f64);
        rig.settle();
        for _ in 0..CHUNK {
            let start = tsc();
            empty.push(tsc_after().wrapping_sub(start));
        }
    }
    let per_ns = (tsc() - tsc0) as f64 / started.elapsed().as_nanos() as f64;
    ticks.sort_unstable();
    chunk_means.sort_by(|a, b| a.total_cmp(b));
    let empty_mean = empty.iter().sum::<u64>() as f64 / empty.len() as f64;
    let reads = empty_mean / per_ns;
    let (p10, median) = (
        at(&chunk_means, 0.10) / per_ns,
        at(&chunk_means, 0.50) / per_ns,
    );
    println!(
        "order path, {venues} venue(s), intent to bytes handed over ({} orders): mean per chunk p10 {p10:.1} ns, median {median:.1} ns; per order p50 {:.0} ns, p99 {:.0} ns (two counter reads alone: mean {reads:.1} ns, included above; {per_ns:.3} ticks/ns)",
        ticks.len(),
        at(&ticks, 0.50) as f64 / per_ns,
        at(&ticks, 0.99) as f64 / per_ns,
    );
    println!(
        "order path, {venues} venue(s), intent to bytes handed over, net of the counter reads: mean per chunk p10 {:.1} ns, median {:.1} ns",
        p10 - reads,
        median - reads
    );
    // The phase of a shared host the figures above were taken in.
    if let Some(ghz) = hugealloc::core_clock_ghz(100) {
        println!("core clock after the run: {ghz:.2} GHz");
    }
}
