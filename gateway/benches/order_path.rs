//! Intent → encoded FIX bytes, the appliance's order path after the
//! strategy has decided: the smart order router picks the venue, the OMS
//! takes the order through every pre-trade risk check and records it,
//! `fixmap` renders it as a NewOrderSingle and the logged-on FIX session
//! frames it (header template, sequence number, SendingTime, BodyLength,
//! CheckSum), keeps it in its resend ring and hands the bytes over, as the
//! appliance's `trade.rs` does. Target: ≤ 150 ns per order.
//!
//! Every limit is on (sizes, notional, collars, positions, gross, net,
//! credit, duplicate window, order throttles per strategy and venue), with
//! a 4 Ki-order risk table (a strategy core's share). Orders are finished
//! between timed chunks of 1,024 (the venue's cancels, untimed), so the
//! tables stay in their steady state. `examples/order_loop.rs` runs the
//! same rig on the thread CPU clock.
//!
//! `cargo bench -p gateway --bench order_path -- --warm-up-time 2 --measurement-time 10`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

#[path = "rig/order_path.rs"]
mod rig;

use rig::{Buffers, Rig, CHUNK};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("order_path");
    // One venue (a single-venue appliance, or one session up), and the
    // lab's two, where the router weighs both (neither shows liquidity to
    // take: the order rests on the better rebate).
    for (name, venues) in [
        ("intent_to_fix_bytes", 1u8),
        ("intent_to_fix_bytes_two_venues", 2),
    ] {
        let (mut ours, mut theirs) = (Buffers::new(), Buffers::new());
        let mut rig = Rig::new(&mut ours, &mut theirs, venues);
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let batch = rig.intents(n);
                    let start = Instant::now();
                    rig.send(&batch);
                    total += start.elapsed();
                    rig.settle();
                    done += n;
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(order_path, bench);
criterion_main!(order_path);
