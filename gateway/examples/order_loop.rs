//! The order path (`benches/order_path.rs`) on the thread CPU clock, for a
//! figure a loaded machine disturbs less than criterion's wall-clock mean:
//! the chunk of 1,024 orders at the 10th percentile, and the median chunk
//! (the fast chunks are the ones other tenants disturbed least).
//!
//! ```text
//! cargo run --release -p gateway --example order_loop -- [venues 1|2] [chunks]
//! ```

#[path = "../benches/rig/order_path.rs"]
mod rig;

use rig::{Buffers, Rig, CHUNK};

/// This thread's CPU time, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
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
    let at = |q: f64| per_order[((per_order.len() - 1) as f64 * q) as usize];
    println!(
        "order path, {venues} venue(s), {chunks} chunks of {CHUNK}: thread CPU per order p10 chunk {:.1} ns, median chunk {:.1} ns",
        at(0.10),
        at(0.50)
    );
}
