//! FIX codec benchmarks.
//!
//! cargo bench -p protocol --bench fix -- --warm-up-time 1 --measurement-time 3
//!
//! Targets: encode NewOrderSingle ≤ 40 ns, decode ExecutionReport ≤ 80 ns,
//! intent → encoded FIX bytes ≤ 150 ns. The comparison against `fefix` lives
//! in `benches/fix-peer` (outside the workspace) and runs both in one run.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use protocol::fix::encode::HeaderTemplate;
use protocol::fix::messages::{cl_ord_id_text, encode, ExecutionReport, NewOrderSingle, OrdType};
use protocol::fix::{find_frame, FixDecoder, FixMessage, FixVersion, FrameStatus, UtcTime};
use std::hint::black_box;
use types::{OrderIntent, Price, Side, StrategyId, Symbol, TimeInForce};

mod support {
    pub mod exec_reports;
    pub mod new_orders;
}
use support::exec_reports::{mix, partial_fill, T0};
use support::new_orders::sample_new_order;

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("fix");
    g.throughput(Throughput::Elements(1));

    // Encode NewOrderSingle: header template + body + BodyLength/CheckSum.
    let mut header = HeaderTemplate::new(FixVersion::Fix44, b"CLIENT", b"VENUE").unwrap();
    let mut buf = [0u8; 512];
    let mut seq = 1u64;
    let mut t = T0;
    g.bench_function("encode_new_order_single", |b| {
        b.iter(|| {
            seq += 1;
            t += 1_000;
            let nos = sample_new_order(UtcTime(t));
            let bytes = encode(&mut header, &mut buf, seq, UtcTime(t), black_box(&nos)).unwrap();
            black_box(bytes.len())
        })
    });

    // Decode ExecutionReport: validating view (checksum, body length, field index).
    let er44 = partial_fill(FixVersion::Fix44);
    g.bench_function("decode_execution_report_view", |b| {
        b.iter(|| {
            let m = FixMessage::new_checked(black_box(&er44)).unwrap();
            black_box(m.get(151))
        })
    });
    // Through a decoder that has learned the message's field layout: the
    // view returned, and (how the session decodes) a fresh view per message
    // filled in place, which saves copying the view out.
    let mut decoder = FixDecoder::new();
    g.bench_function("decode_execution_report_decoder", |b| {
        b.iter(|| {
            let m = decoder.new_checked(black_box(&er44)).unwrap();
            black_box(m.get(151))
        })
    });
    g.bench_function("decode_execution_report_decoder_in_place", |b| {
        b.iter(|| {
            let mut m = FixMessage::empty();
            decoder.reparse(&mut m, black_box(&er44), true).unwrap();
            black_box(m.get(151).map(|v| v.len()))
        })
    });
    // An order's life, four reports in two layouts, in turn: per message.
    let life = mix(FixVersion::Fix44);
    let mut turn = 0usize;
    g.bench_function("decode_execution_report_decoder_in_place_mix", |b| {
        b.iter(|| {
            turn = (turn + 1) & 3;
            let mut m = FixMessage::empty();
            decoder
                .reparse(&mut m, black_box(&life[turn]), true)
                .unwrap();
            black_box(m.get(151).map(|v| v.len()))
        })
    });
    g.bench_function("decode_execution_report_view_mix", |b| {
        b.iter(|| {
            turn = (turn + 1) & 3;
            let m = FixMessage::new_checked(black_box(&life[turn])).unwrap();
            black_box(m.get(151))
        })
    });
    // Same, into a view kept across messages (how a session loop uses it).
    let mut view = FixMessage::empty();
    g.bench_function("decode_execution_report_reparse", |b| {
        b.iter(|| {
            view.reparse(black_box(&er44)).unwrap();
            view.check_header().unwrap();
            black_box(view.get(151))
        })
    });
    let mut view2 = FixMessage::empty();
    g.bench_function("decode_execution_report_reparse_typed", |b| {
        b.iter(|| {
            view2.reparse(black_box(&er44)).unwrap();
            view2.check_header().unwrap();
            let er = ExecutionReport::parse(&view2).unwrap();
            black_box(er.leaves_qty)
        })
    });
    // ... plus the typed parse into an ExecutionReport struct.
    g.bench_function("decode_execution_report_typed", |b| {
        b.iter(|| {
            let m = FixMessage::new_checked(black_box(&er44)).unwrap();
            let er = ExecutionReport::parse(&m).unwrap();
            black_box(er.leaves_qty)
        })
    });
    let er42 = partial_fill(FixVersion::Fix42);
    g.bench_function("decode_execution_report_typed_fix42", |b| {
        b.iter(|| {
            let m = FixMessage::new_checked(black_box(&er42)).unwrap();
            let er = ExecutionReport::parse(&m).unwrap();
            black_box(er.leaves_qty)
        })
    });
    // Framing a stream of messages.
    let stream: Vec<u8> = (0..16).flat_map(|_| er44.iter().copied()).collect();
    g.bench_function("frame_execution_report", |b| {
        b.iter(|| {
            let mut rest = black_box(&stream[..]);
            let mut n = 0;
            while let FrameStatus::Complete(len) = find_frame(rest) {
                rest = &rest[len..];
                n += 1;
            }
            black_box(n)
        })
    });

    // Intent → bytes: what the order path does after risk and routing.
    let intent = OrderIntent::New {
        strategy: StrategyId(3),
        locate: 13,
        symbol: Symbol::new("AAPL").unwrap(),
        side: Side::Sell,
        price: Price(1_912_600),
        qty: 200,
        tif: TimeInForce::ImmediateOrCancel,
    };
    let mut order_id = 1_700_000_000_000_000u64;
    let mut header2 = HeaderTemplate::new(FixVersion::Fix44, b"CLIENT", b"VENUE").unwrap();
    g.bench_function("intent_to_fix_bytes", |b| {
        b.iter(|| {
            order_id += 1;
            seq += 1;
            t += 1_000;
            let OrderIntent::New {
                symbol,
                side,
                price,
                qty,
                tif,
                ..
            } = black_box(intent)
            else {
                unreachable!()
            };
            let mut id = [0u8; 20];
            let nos = NewOrderSingle {
                cl_ord_id: cl_ord_id_text(order_id, &mut id),
                account: None,
                symbol: symbol.as_bytes(),
                side,
                order_qty: qty,
                ord_type: OrdType::Limit,
                price: Some(price),
                time_in_force: tif,
                transact_time: UtcTime(t),
            };
            let bytes = encode(&mut header2, &mut buf, seq, UtcTime(t), &nos).unwrap();
            black_box(bytes.len())
        })
    });
    g.finish();
}

criterion_group!(fix, benches);
criterion_main!(fix);
