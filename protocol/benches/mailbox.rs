//! Mailbox costs on the appliance's side (core 0): ring send/receive, frame
//! encode/decode, snapshot publish, histogram record; and the companion's
//! snapshot read. Run: `cargo bench -p protocol --bench mailbox -- --warm-up-time 1 --measurement-time 3`.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use protocol::mailbox::histogram::LatencyHistogram;
use protocol::mailbox::ring::{Consumer, Producer};
use protocol::mailbox::*;
use std::hint::black_box;
use types::{Price, Symbol};

const BYTES: usize = 1 << 20;

/// Heap memory standing in for the shared region for the whole bench run.
fn region() -> Region {
    let mem: &'static mut [u64] = Box::leak(vec![0u64; BYTES / 8].into_boxed_slice());
    // SAFETY: leaked, so it lives for the whole process, and is only touched through the region.
    #[allow(unsafe_code)]
    unsafe {
        Region::new(mem.as_mut_ptr().cast(), BYTES).unwrap()
    }
}

fn benches(c: &mut Criterion) {
    let r = region();
    let mut app = ApplianceEnd::format(r, &LayoutParams::default(), 1, 0).unwrap();
    let layout = *app.layout();

    let mut g = c.benchmark_group("ring");
    g.throughput(Throughput::Elements(1));
    let mut p = Producer::attach(r, layout.logs);
    let mut cons = Consumer::attach(r, layout.logs);
    let frame = [0x5Au8; 64];
    let mut buf = [0u8; 256];
    g.bench_function("send+recv 64 B frame", |b| {
        b.iter(|| {
            p.try_send(black_box(&frame)).unwrap();
            black_box(cons.try_recv(&mut buf).unwrap());
        })
    });
    g.finish();

    let mut g = c.benchmark_group("frame");
    let req = Request {
        id: 7,
        command: Command::Kill { reason: "operator" },
    };
    let mut out = [0u8; 128];
    let n = req.encode(&mut out).unwrap();
    g.bench_function("encode Kill", |b| {
        b.iter(|| black_box(req).encode(&mut out).unwrap())
    });
    let enc = out;
    g.bench_function("decode Kill", |b| {
        b.iter(|| Request::decode(black_box(&enc[..n])).unwrap())
    });
    g.finish();

    let mut comp = CompanionEnd::attach(r, 1).unwrap();
    let mut g = c.benchmark_group("command");
    let mut scratch = [0u8; 128];
    let mut cbuf = vec![0u8; layout.commands.max_payload()];
    let mut rbuf = vec![0u8; layout.replies.max_payload()];
    g.bench_function("ping round trip (send, serve, reply, receive)", |b| {
        b.iter(|| {
            let id = comp.send(Command::Ping { nonce: 1 }, &mut scratch).unwrap();
            let Some(req) = app.poll_command(&mut cbuf).unwrap() else { panic!("no command") };
            let Command::Ping { nonce } = req.command else { panic!("not a ping") };
            app.reply(req.id, Reply::Pong { nonce }).unwrap();
            assert!(matches!(comp.poll_message(&mut rbuf).unwrap(), Some(Message::Reply { id: got, .. }) if got == id));
        })
    });
    g.finish();

    let mut g = c.benchmark_group("snapshot");
    let positions: Vec<Position> = (0..256u16)
        .map(|i| Position {
            locate: i,
            symbol: Symbol::new("AAPL").unwrap(),
            qty: i as i64,
            avg_px: Price(1),
            realized_pnl: 0,
            unrealized_pnl: 0,
        })
        .collect();
    g.bench_function("publish 256 positions", |b| {
        b.iter(|| app.publish_positions(black_box(&positions)).unwrap())
    });
    let mut words = vec![0u64; comp.scratch_words()];
    g.bench_function("read 256 positions", |b| {
        b.iter(|| comp.read_positions(&mut words).unwrap().len())
    });
    let status = StatusSnapshot {
        core_count: 4,
        nic_count: 2,
        ..Default::default()
    };
    g.bench_function("publish status", |b| {
        b.iter(|| app.publish_status(black_box(&status)).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("histogram");
    let mut h = Box::<LatencyHistogram>::default();
    let mut v = 1u64;
    g.bench_function("record", |b| {
        b.iter(|| {
            v = v
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            h.record(black_box(v >> 44));
        })
    });
    g.bench_function("p99.9 of 592 buckets", |b| {
        b.iter_batched(
            || (),
            |_| black_box(h.quantile(0.999)),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(mailbox, benches);
criterion_main!(mailbox);
