//! Pre-trade risk cost per order, and the OMS's cost per execution report.
//!
//! Every check is enabled (collars in bps and ticks, size, notional,
//! position, gross, net, credit, duplicates, strategy and venue throttles,
//! open-order limits, self-match). Accepted orders are cancelled outside the
//! timed region in chunks so the engine stays in a steady state.
//!
//! Run: `cargo bench -p risk --bench risk -- --warm-up-time 1 --measurement-time 3`
//!
//! Time is the benchmark thread's **CPU time** (`CLOCK_THREAD_CPUTIME_ID`),
//! read once per chunk of 1,024 operations: on a shared 2-core VM the wall
//! clock also counts the time other tenants hold the core (perf showed the
//! process getting 30 % of a CPU), which says nothing about the code. That
//! clock is a system call whose own cost counts as CPU time (~510 ns an
//! interval on this VM, 0.5 ns of each of 1,024 operations): it is measured
//! once at start (the smallest of 1,001 empty intervals, printed) and
//! taken off every chunk. Set `RISK_BENCH_WALL=1` to time with the wall clock
//! instead (a vDSO read, ~23 ns an interval here, taken off the same way).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use gateway::oms::{ExecReport, ExecType, Oms, OmsConfig, Outbound};
use risk::{Capacity, CheckContext, Limits, OrderRef, RiskEngine, RiskSlot};
use types::{
    Nanos, OrderId, OrderIntent, Price, RejectReason, Side, StrategyId, Symbol, TimeInForce,
    VenueId,
};

const REF: i64 = 1_000_000; // $100
const CHUNK: u64 = 1_024;
/// Every locate and 64 Ki open orders; the duplicate table holds at least
/// 8 Ki recent orders (2,048 buckets of 7, 256 KiB), ample for a 1 ms
/// window at these rates.
const CAPACITY: Capacity = Capacity {
    symbols: 65_536,
    orders: 65_536,
    duplicate_slots: 8_192,
};
/// One strategy core's share: 4 Ki open orders (the order table stays in
/// L2).
const CAPACITY_CORE: Capacity = Capacity {
    symbols: 65_536,
    orders: 4_096,
    duplicate_slots: 4_096,
};

/// A point in time: thread CPU time by default, wall clock on request.
#[derive(Clone, Copy)]
struct Stamp(Duration);

/// What timing an interval costs by itself with [`now_stamp`]'s clock (the
/// smallest of 1,001 empty intervals), measured once and printed.
fn clock_cost() -> Duration {
    static COST: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *COST.get_or_init(|| {
        let cost =
            Duration::from_nanos(hugealloc::clock_cost_ns(|| now_stamp().0.as_nanos() as u64));
        eprintln!("the clock's own cost per timed chunk: {cost:?} (taken off every chunk)");
        cost
    })
}

fn now_stamp() -> Stamp {
    static WALL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *WALL.get_or_init(|| std::env::var_os("RISK_BENCH_WALL").is_some()) {
        static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        return Stamp(START.get_or_init(std::time::Instant::now).elapsed());
    }
    Stamp(Duration::from_nanos(hugealloc::thread_cpu_ns()))
}

impl Stamp {
    /// The time since this stamp, net of the clock's own cost.
    fn elapsed(self) -> Duration {
        now_stamp()
            .0
            .saturating_sub(self.0)
            .saturating_sub(clock_cost())
    }
}

/// Runs `op` `iters` times, timing chunks of `CHUNK` and calling `between`
/// (untimed) after each chunk with the number of operations it ran.
fn timed_chunks(iters: u64, mut op: impl FnMut(), mut between: impl FnMut(u64)) -> Duration {
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let start = now_stamp();
        for _ in 0..n {
            op();
        }
        total += start.elapsed();
        between(n);
        done += n;
    }
    total
}

fn engine(l: Limits) -> RiskEngine {
    RiskEngine::new(CAPACITY, l).expect("valid limits")
}

fn engine_with(cap: Capacity, l: Limits) -> RiskEngine {
    RiskEngine::new(cap, l).expect("valid limits")
}

fn intent(i: u64, qty: u32) -> OrderIntent {
    intent_in(i, qty, 4_000)
}

/// Order `i` of a stream spread over `symbols` locates.
fn intent_in(i: u64, qty: u32, symbols: u64) -> OrderIntent {
    OrderIntent::New {
        strategy: StrategyId((i % 8) as u16),
        locate: (i % symbols) as u16 + 1,
        symbol: Symbol::new("BENCH").unwrap(),
        side: Side::Buy,
        price: Price(REF - (i % 500) as i64 * 100),
        qty,
        tif: TimeInForce::Day,
    }
}

fn bench_check(c: &mut Criterion) {
    let mut g = c.benchmark_group("risk_check");

    // The third variant switches off the duplicate table and the throttles
    // to show what they cost; the last trades 64 names, whose symbol rows
    // stay cached (a strategy core's usual universe).
    let mut plain = Limits::example();
    plain.duplicate_window_ns = 0;
    plain.strategy_order_rate = None;
    plain.venue_order_rate = None;
    for (name, cap, lim, symbols) in [
        (
            "new_order_accept/64k_orders",
            CAPACITY,
            Limits::example(),
            4_000,
        ),
        (
            "new_order_accept/4k_orders",
            CAPACITY_CORE,
            Limits::example(),
            4_000,
        ),
        (
            "new_order_accept/4k_orders_no_dup_no_throttle",
            CAPACITY_CORE,
            plain,
            4_000,
        ),
        (
            "new_order_accept/4k_orders_64_symbols",
            CAPACITY_CORE,
            Limits::example(),
            64,
        ),
    ] {
        g.bench_function(name, |b| {
            let mut e = engine_with(cap, lim.clone());
            let mut seq: u64 = 0;
            let mut now: u64 = 1_000_000_000;
            let mut batch = Vec::with_capacity(CHUNK as usize);
            // Each check's answer: where risk holds an accepted order, kept
            // as the OMS keeps it in its record.
            let mut answers: Vec<Result<RiskSlot, RejectReason>> =
                vec![Err(RejectReason::InvalidOrder); CHUNK as usize];
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut done = 0;
                while done < iters {
                    let n = CHUNK.min(iters - done);
                    let first = seq;
                    // Intents are built before the clock starts: only the
                    // checks are timed.
                    batch.clear();
                    for _ in 0..n {
                        // 8 strategies × 16 venues at 1 order / 10 µs each stay under 256 / ms.
                        now += 10_000;
                        let ctx = CheckContext {
                            order: OrderId(seq),
                            held: None,
                            venue: VenueId((seq % 16) as u8),
                            reference: Some(Price(REF)),
                        };
                        batch.push((
                            intent_in(seq, 100 + (seq % 7) as u32, symbols),
                            ctx,
                            Nanos(now),
                        ));
                        seq += 1;
                    }
                    let start = now_stamp();
                    for ((intent, ctx, t), answer) in batch.iter().zip(answers.iter_mut()) {
                        *answer = e.check(black_box(intent), ctx, *t);
                    }
                    total += start.elapsed();
                    let mut accepted = 0u64;
                    for (id, answer) in (first..seq).zip(&answers) {
                        if let Ok(slot) = *answer {
                            accepted += 1;
                            e.on_canceled(OrderRef::new(OrderId(id), slot));
                        }
                    }
                    assert_eq!(accepted, n, "the accept path must accept");
                    done += n;
                }
                total
            })
        });
    }

    g.bench_function("new_order_reject_max_qty", |b| {
        let mut e = engine(Limits::example());
        let ctx = CheckContext {
            order: OrderId(1),
            held: None,
            venue: VenueId(0),
            reference: Some(Price(REF)),
        };
        let big = intent(1, 20_000);
        let mut now = 0u64;
        b.iter_custom(|iters| {
            timed_chunks(
                iters,
                || {
                    now += 1;
                    black_box(e.check(black_box(&big), &ctx, Nanos(now))).ok();
                },
                |_| {},
            )
        });
        assert!(e.reject_count(types::RejectReason::MaxOrderQty) > 0);
    });

    g.bench_function("new_order_reject_duplicate", |b| {
        // Passes every earlier check and fails late, at the duplicate table.
        let mut e = engine(Limits::example());
        let first = intent(7, 100);
        let ctx = CheckContext {
            order: OrderId(1),
            held: None,
            venue: VenueId(0),
            reference: Some(Price(REF)),
        };
        e.check(&first, &ctx, Nanos(1)).expect("first accepted");
        let ctx = CheckContext {
            order: OrderId(2),
            ..ctx
        };
        let mut now = 1u64;
        b.iter_custom(|iters| {
            timed_chunks(
                iters,
                || {
                    now = now.wrapping_add(1) % 500_000 + 2;
                    black_box(e.check(black_box(&first), &ctx, Nanos(now))).ok();
                },
                |_| {},
            )
        });
        assert!(e.reject_count(types::RejectReason::DuplicateOrder) > 0);
        assert_eq!(e.open_orders(), 1, "no duplicate got through");
    });
    g.finish();
}

fn bench_oms(c: &mut Criterion) {
    let mut g = c.benchmark_group("oms_exec_report");
    let mut l = Limits::unlimited();
    l.max_daily_loss = u64::MAX;
    let setup = || {
        let risk = engine(l.clone());
        let oms = Oms::new(OmsConfig {
            orders: 65_536,
            symbols: 65_536,
            last_epoch: 0,
        })
        .expect("config");
        (risk, oms)
    };

    // Times `report(ack/fill)` over chunks of freshly submitted orders.
    fn run(
        risk: &mut RiskEngine,
        oms: &mut Oms,
        iters: u64,
        now: &mut u64,
        timed: impl Fn(&mut Oms, &mut RiskEngine, gateway::oms::ClOrdId, u64),
        untimed_before: impl Fn(&mut Oms, &mut RiskEngine, gateway::oms::ClOrdId, u64),
    ) -> Duration {
        let mut total = Duration::ZERO;
        let mut done = 0;
        let mut ids = Vec::with_capacity(CHUNK as usize);
        while done < iters {
            let n = CHUNK.min(iters - done);
            ids.clear();
            for i in 0..n {
                *now += 1_000;
                let out = oms
                    .submit(
                        &intent(i, 100),
                        VenueId(0),
                        Some(Price(REF)),
                        risk,
                        Nanos(*now),
                    )
                    .expect("accepted");
                let Outbound::New { cl_ord_id, .. } = out else {
                    unreachable!()
                };
                untimed_before(oms, risk, cl_ord_id, *now);
                ids.push(cl_ord_id);
            }
            let start = now_stamp();
            for &cl in &ids {
                timed(oms, risk, cl, *now);
            }
            total += start.elapsed();
            // Finish whatever is still open, outside the timing.
            for &cl in &ids {
                let mut r = ExecReport::new(cl, ExecType::Canceled);
                r.orig_cl_ord_id = Some(cl);
                oms.on_exec_report(&r, Nanos(*now), risk);
            }
            done += n;
        }
        total
    }

    g.bench_function("new_ack", |b| {
        let (mut risk, mut oms) = setup();
        let mut now = 0;
        b.iter_custom(|iters| {
            run(
                &mut risk,
                &mut oms,
                iters,
                &mut now,
                |oms, risk, cl, now| {
                    black_box(oms.on_exec_report(
                        &ExecReport::new(cl, ExecType::New),
                        Nanos(now),
                        risk,
                    ));
                },
                |_, _, _, _| {},
            )
        })
    });

    g.bench_function("partial_fill", |b| {
        let (mut risk, mut oms) = setup();
        let mut now = 0;
        b.iter_custom(|iters| {
            run(
                &mut risk,
                &mut oms,
                iters,
                &mut now,
                |oms, risk, cl, now| {
                    let mut r = ExecReport::new(cl, ExecType::PartialFill);
                    r.last_qty = 40;
                    r.cum_qty = 40;
                    r.leaves_qty = 60;
                    r.last_px = Price(REF - 100);
                    black_box(oms.on_exec_report(&r, Nanos(now), risk));
                },
                |oms, risk, cl, now| {
                    oms.on_exec_report(&ExecReport::new(cl, ExecType::New), Nanos(now), risk);
                },
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench_check, bench_oms);
criterion_main!(benches);
