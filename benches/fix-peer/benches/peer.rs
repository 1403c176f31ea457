//! Our FIX codec (`protocol::fix`) against `fefix` 0.7 on the same messages,
//! in one criterion run.
//!
//!   cd benches/fix-peer && cargo bench --bench peer -- --warm-up-time 1 --measurement-time 3
//!
//! Fairness notes: fefix is given its timestamps and price already as text
//! (it has no price4 type, and its chrono support is an optional feature),
//! so its encode does strictly less work than ours, which formats SendingTime,
//! TransactTime and the price from integers. Both encoders write into a
//! buffer reused across iterations. Both decoders validate the checksum and
//! index every field; ours also checks BodyLength exactly and the standard
//! header, and answers a by-tag lookup after decoding. `ours_session_decoder`
//! is ours as the FIX session runs it: a `FixDecoder` that has learned the
//! report's field layout (tags in order) checks each tag with one masked
//! compare instead of reading it; fefix keeps no such state.
//!
//! With `--features quickfix`, QuickFIX/C++ 1.15 (Debian's libquickfix-dev)
//! runs in the same groups through a C shim (`quickfix/shim.cpp`): handed its
//! field values as text like fefix, encoding with BodyLength and CheckSum
//! computed, decoding with both checked (`setString(.., true)`) and one
//! by-tag lookup. `quickfix` builds a new message per order or report, as
//! applications of its API do; `quickfix_reused_message` overwrites one
//! message kept across iterations, its best case.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use fefix::prelude::*;
use fefix::tagvalue::{Config, Decoder, Encoder, FvWrite};
use protocol::fix::encode::HeaderTemplate;
use protocol::fix::messages::encode;
use protocol::fix::{FixDecoder, FixMessage, FixVersion, UtcTime};
use std::hint::black_box;

/// The same messages as the codec's own benchmarks.
#[path = "../../../protocol/benches/support/exec_reports.rs"]
mod exec_reports;
#[path = "../../../protocol/benches/support/new_orders.rs"]
mod new_orders;
use exec_reports::{partial_fill, T0};
use new_orders::sample_new_order;

#[cfg(feature = "quickfix")]
use fix_peer::quickfix;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("fix_peer");
    g.throughput(Throughput::Elements(1));

    // ---------------------------------------------------------------- encode
    let mut header = HeaderTemplate::new(FixVersion::Fix44, b"CLIENT", b"VENUE").unwrap();
    let mut buf = [0u8; 512];
    let mut seq = 1u64;
    let mut t = T0;
    g.bench_function("encode_new_order_single/ours", |b| {
        b.iter(|| {
            seq += 1;
            t += 1_000;
            let nos = sample_new_order(UtcTime(t));
            let bytes = encode(&mut header, &mut buf, seq, UtcTime(t), black_box(&nos)).unwrap();
            black_box(bytes.len())
        })
    });
    // Same fields and order as ours produce.
    let mut fe_enc = Encoder::<Config>::new(Config::default());
    let mut fe_buf: Vec<u8> = Vec::with_capacity(512);
    let mut fe_seq = 1u64;
    g.bench_function("encode_new_order_single/fefix", |b| {
        b.iter(|| {
            fe_seq += 1;
            fe_buf.clear();
            let mut m = fe_enc.start_message(b"FIX.4.4", &mut fe_buf, b"D");
            m.set_fv(&49u32, b"CLIENT" as &[u8]);
            m.set_fv(&56u32, b"VENUE" as &[u8]);
            m.set_fv(&34u32, black_box(fe_seq));
            m.set_fv(&52u32, b"20231114-22:13:20.123" as &[u8]);
            m.set_fv(&11u32, b"1700000000000042" as &[u8]);
            m.set_fv(&21u32, b"1" as &[u8]);
            m.set_fv(&55u32, b"AAPL" as &[u8]);
            m.set_fv(&54u32, b"1" as &[u8]);
            m.set_fv(&60u32, b"20231114-22:13:20.123" as &[u8]);
            m.set_fv(&38u32, black_box(300u32));
            m.set_fv(&40u32, b"2" as &[u8]);
            m.set_fv(&44u32, b"191.25" as &[u8]);
            m.set_fv(&59u32, b"0" as &[u8]);
            black_box(m.wrap().len())
        })
    });

    #[cfg(feature = "quickfix")]
    {
        // Sanity: QuickFIX writes the fields ours does, given the same
        // values (our encode at T0 formats T0 as the text it is handed); it
        // orders the body by tag, so the two are compared as field sets (the
        // same fields give the same BodyLength and CheckSum).
        let mut h = HeaderTemplate::new(FixVersion::Fix44, b"CLIENT", b"VENUE").unwrap();
        let mut ours = [0u8; 512];
        let nos = sample_new_order(UtcTime(T0));
        let ours = encode(&mut h, &mut ours, 2, UtcTime(T0), &nos).unwrap();
        quickfix::encode(2, false);
        let fields = |bytes: &[u8]| {
            let mut f: Vec<String> = String::from_utf8_lossy(bytes)
                .split('\x01')
                .map(str::to_string)
                .collect();
            f.sort();
            f
        };
        assert_eq!(
            fields(&quickfix::last_encoded()),
            fields(ours),
            "QuickFIX and ours encode the same order"
        );
        for (name, reuse) in [("quickfix", false), ("quickfix_reused_message", true)] {
            let mut qf_seq = 1u64;
            g.bench_function(format!("encode_new_order_single/{name}"), |b| {
                b.iter(|| {
                    qf_seq += 1;
                    black_box(quickfix::encode(black_box(qf_seq), reuse))
                })
            });
        }
    }

    // ---------------------------------------------------------------- decode
    let er = partial_fill(FixVersion::Fix44);
    g.bench_function("decode_execution_report/ours", |b| {
        b.iter(|| {
            let m = FixMessage::new_checked(black_box(&er)).unwrap();
            black_box(m.get(151).map(|v| v.len()))
        })
    });
    let mut view = FixMessage::empty();
    g.bench_function("decode_execution_report/ours_reused_view", |b| {
        b.iter(|| {
            view.reparse(black_box(&er)).unwrap();
            view.check_header().unwrap();
            black_box(view.get(151).map(|v| v.len()))
        })
    });
    // Through the decoder the session uses, which has learned the
    // report's field layout.
    let mut decoder = FixDecoder::new();
    g.bench_function("decode_execution_report/ours_session_decoder", |b| {
        b.iter(|| {
            let mut m = FixMessage::empty();
            decoder.reparse(&mut m, black_box(&er), true).unwrap();
            black_box(m.get(151).map(|v| v.len()))
        })
    });
    let mut fe_dec = Decoder::<Config>::new(Dictionary::fix44());
    fe_dec.config_mut().set_verify_checksum(true);
    // Sanity: fefix accepts our bytes.
    {
        let m = fe_dec
            .decode(&er[..])
            .expect("fefix decodes our ExecutionReport");
        assert_eq!(m.fv_raw(&151u32), Some(&b"200"[..]));
    }
    g.bench_function("decode_execution_report/fefix", |b| {
        b.iter(|| {
            let m = fe_dec.decode(black_box(&er[..])).unwrap();
            black_box(m.fv_raw(&151u32).map(|v| v.len()))
        })
    });
    #[cfg(feature = "quickfix")]
    for (name, reuse) in [("quickfix", false), ("quickfix_reused_message", true)] {
        // Sanity: QuickFIX accepts our bytes and finds LeavesQty 200; it
        // refuses them with one byte of the body changed (CheckSum).
        assert_eq!(quickfix::decode_leaves_qty(&er, reuse), 3);
        let mut bad = er.clone();
        let i = bad.len() - 12;
        bad[i] ^= 1;
        assert_eq!(quickfix::decode_leaves_qty(&bad, reuse), -1);
        g.bench_function(format!("decode_execution_report/{name}"), |b| {
            b.iter(|| black_box(quickfix::decode_leaves_qty(black_box(&er), reuse)))
        });
    }
    g.finish();
}

criterion_group!(peer, bench);
criterion_main!(peer);
