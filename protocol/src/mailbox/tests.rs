//! Whole-mailbox tests: both ends over one region, concurrency, hostile contents.
extern crate std;

use super::histogram::LatencyHistogram;
use super::layout::{field, Part};
use super::ring::{Consumer, Producer};
use super::seqlock::{self, SnapshotDesc, SnapshotWriter};
use super::*;
use core::sync::atomic::Ordering;
use proptest::prelude::*;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::vec;
use std::vec::Vec;
use types::{OrderId, Price, Side, StrategyId, Symbol, VenueId};

const REGION_BYTES: usize = 1 << 20;

struct Mem(super::raw::TestMem);

impl Mem {
    fn new() -> Mem {
        Mem(super::raw::TestMem::new(REGION_BYTES))
    }
    fn region(&self) -> Region {
        self.0.region()
    }
}

fn small_params() -> LayoutParams {
    LayoutParams {
        command_slots: 4,
        command_slot_size: 4096,
        reply_slots: 8,
        reply_slot_size: 512,
        log_slots: 16,
        log_slot_size: 128,
        ..LayoutParams::default()
    }
}

#[test]
fn command_reply_round_trip_and_snapshots() {
    let mem = Mem::new();
    let r = mem.region();
    let mut app = ApplianceEnd::format(r, &LayoutParams::default(), 42, 3_000_000_000).unwrap();
    let mut comp = CompanionEnd::attach(r, 1000).unwrap();
    assert_eq!(comp.boot_id(), 42);
    assert_eq!(comp.liveness().state, Some(ApplianceState::Booting));
    app.set_state(ApplianceState::Running);
    app.heartbeat(5, 6);
    let live = comp.liveness();
    assert_eq!(
        (
            live.state,
            live.heartbeat,
            live.heartbeat_ns,
            live.heartbeat_tsc
        ),
        (Some(ApplianceState::Running), 1, 5, 6)
    );

    let mut scratch = vec![0u8; 64];
    let id = comp
        .send(Command::Kill { reason: "test" }, &mut scratch)
        .unwrap();
    let mut buf = vec![0u8; app.layout().commands.max_payload()];
    let req = app.poll_command(&mut buf).unwrap().unwrap();
    assert_eq!(
        req,
        Request {
            id,
            command: Command::Kill { reason: "test" }
        }
    );
    app.reply(id, Reply::Ok).unwrap();
    app.event(Event::StateChanged {
        from: ApplianceState::Running,
        to: ApplianceState::Killed,
    })
    .unwrap();
    let mut mbuf = vec![0u8; 1024];
    assert_eq!(
        comp.poll_message(&mut mbuf).unwrap(),
        Some(Message::Reply {
            id,
            reply: Reply::Ok
        })
    );
    assert!(matches!(
        comp.poll_message(&mut mbuf).unwrap(),
        Some(Message::Event(Event::StateChanged { .. }))
    ));
    assert_eq!(comp.poll_message(&mut mbuf).unwrap(), None);

    let mut status = StatusSnapshot {
        uptime_ns: 77,
        config_generation: 3,
        core_count: 2,
        nic_count: 1,
        ..Default::default()
    };
    status.cores[1] = CoreStatus {
        state: CoreState::Running,
        heartbeat: 9,
        last_beat_ns: 70,
    };
    status.nics[0] = NicStatus {
        link_up: true,
        speed_mbps: 10_000,
        mac: [2, 0, 0, 0, 0, 1],
        rx_packets: 11,
        ..Default::default()
    };
    app.publish_status(&status).unwrap();
    assert_eq!(comp.read_status().unwrap(), status);

    let pos = Position {
        locate: 13,
        symbol: Symbol::new("AAPL").unwrap(),
        qty: -300,
        avg_px: Price::new(187, 5),
        realized_pnl: 12,
        unrealized_pnl: -4,
    };
    app.publish_positions(&[pos, pos]).unwrap();
    let ord = OpenOrder {
        id: OrderId(5),
        symbol: Symbol::new("MSFT").unwrap(),
        locate: 14,
        side: Side::Buy,
        strategy: StrategyId(3),
        venue: VenueId(1),
        price: Price::new(400, 0),
        qty: 100,
        leaves: 40,
        entered_ns: 99,
    };
    app.publish_orders(&[ord]).unwrap();
    let kill = KillSwitch {
        engaged: true,
        reason: Label::new("operator"),
        since_ns: 5,
    };
    app.publish_risk(
        &kill,
        &[RiskLimit {
            name: Label::new("open_orders"),
            limit: 200,
            usage: 1,
        }],
    )
    .unwrap();
    app.publish_counters(&[Counter {
        name: Label::new("itch_msgs"),
        value: 1 << 40,
    }])
    .unwrap();
    let mut h = LatencyHistogram::default();
    (1..=1000u64).for_each(|v| h.record(v * 10));
    app.publish_latency(&[StageLatency {
        name: Label::new("tick_to_trade"),
        histogram: h.clone(),
    }])
    .unwrap();

    let mut words = vec![0u64; comp.scratch_words()];
    let v = comp.read_positions(&mut words).unwrap();
    assert_eq!(v.len(), 2);
    assert_eq!(v.get(1).unwrap(), pos);
    assert_eq!(comp.read_orders(&mut words).unwrap().get(0).unwrap(), ord);
    let (k, limits) = comp.read_risk(&mut words).unwrap();
    assert_eq!(k, kill);
    assert_eq!(limits.get(0).unwrap().name.as_str(), Some("open_orders"));
    assert_eq!(
        comp.read_counters(&mut words)
            .unwrap()
            .get(0)
            .unwrap()
            .value,
        1 << 40
    );
    let lat = comp.read_latency(&mut words).unwrap().get(0).unwrap();
    assert_eq!(lat.histogram, h);
    let p99 = lat.histogram.quantile(0.99).unwrap();
    assert!((9_900..=9_900 + 9_900 / 16).contains(&p99), "{p99}");

    app.report_panic(&PanicReport::new(
        ApplianceState::Panicked,
        2,
        1234,
        "index out of bounds at book.rs:10",
    ))
    .unwrap();
    assert_eq!(comp.liveness().state, Some(ApplianceState::Panicked));
    let p = comp.read_panic().unwrap();
    assert_eq!((p.core, p.text()), (2, "index out of bounds at book.rs:10"));

    // A log frame.
    app.log(b"hello").unwrap();
    let mut lbuf = vec![0u8; 256];
    assert_eq!(comp.poll_log(&mut lbuf).unwrap(), Some(&b"hello"[..]));
}

/// A fatal report must not wait for the end: the reporter, split off, writes
/// while another thread keeps the end busy publishing status, and the end
/// itself can no longer write the panic snapshot (one writer per snapshot).
#[test]
fn split_panic_reporter_writes_while_the_end_is_busy() {
    let mem = Mem::new();
    let r = mem.region();
    let mut app = ApplianceEnd::format(r, &LayoutParams::default(), 7, 1_000_000_000).unwrap();
    let comp = CompanionEnd::attach(r, 1).unwrap();
    let mut reporter = app.take_panic_reporter().expect("first take");
    assert!(app.take_panic_reporter().is_none(), "one writer only");
    let report = PanicReport::new(ApplianceState::Faulted, 1, 99, "vector 6 at rip 0x1000");
    assert_eq!(app.report_panic(&report), Err(SnapshotError::Detached));
    assert_eq!(comp.read_panic().map(|p| p.core), Err(SnapshotError::Empty));

    app.set_state(ApplianceState::Running);
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (stop2, published2) = (stop.clone(), published.clone());
    let busy_end = std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            let s = StatusSnapshot {
                uptime_ns: published2.load(Ordering::Relaxed),
                ..Default::default()
            };
            app.publish_status(&s).unwrap();
            published2.fetch_add(1, Ordering::Release);
        }
        app
    });
    // Report in the middle of the end's publishing.
    while published.load(Ordering::Acquire) < 100 {
        std::thread::yield_now();
    }
    reporter.report(&report).unwrap();
    assert_eq!(comp.liveness().state, Some(ApplianceState::Faulted));
    let p = comp.read_panic().unwrap();
    assert_eq!(
        (p.kind, p.core, p.at_ns, p.text()),
        (ApplianceState::Faulted, 1, 99, "vector 6 at rip 0x1000")
    );
    stop.store(true, Ordering::Relaxed);
    let _app = busy_end.join().unwrap();
    assert!(comp.read_status().is_ok(), "status still readable");
    drop(mem);
}

#[test]
fn malformed_command_is_reported_with_its_id_and_counted() {
    let mem = Mem::new();
    let r = mem.region();
    let mut app = ApplianceEnd::format(r, &small_params(), 1, 0).unwrap();
    let layout = *app.layout();
    let mut p = Producer::attach(r, layout.commands);
    let mut frame = 77u64.to_le_bytes().to_vec();
    frame.extend_from_slice(&999u16.to_le_bytes());
    p.try_send(&frame).unwrap();
    let mut buf = vec![0u8; layout.commands.max_payload()];
    assert_eq!(
        app.poll_command(&mut buf),
        Err(CommandError::Frame {
            id: Some(77),
            error: FrameError::UnknownKind(999)
        })
    );
    assert_eq!(app.stats.malformed_commands, 1);
    assert_eq!(app.poll_command(&mut buf), Ok(None));
}

#[test]
fn ring_under_two_threads_loses_and_duplicates_nothing() {
    let mem = Mem::new();
    let r = mem.region();
    let app = ApplianceEnd::format(r, &small_params(), 1, 0).unwrap();
    let desc = app.layout().logs;
    const N: u64 = 2_000_000;
    let producer = std::thread::spawn(move || {
        let mut p = Producer::attach(r, desc);
        let mut frame = [0u8; 120];
        for i in 0..N {
            let len = 8 + (i % 100) as usize;
            frame[..8].copy_from_slice(&i.to_le_bytes());
            frame[8..len].fill(i as u8);
            while p.try_send(&frame[..len]).is_err() {
                std::thread::yield_now();
            }
        }
        p.stats
    });
    let mut c = Consumer::attach(r, desc);
    let mut buf = [0u8; 120];
    let mut next = 0u64;
    while next < N {
        match c.try_recv(&mut buf).unwrap() {
            Some(f) => {
                let seq = u64::from_le_bytes(f[..8].try_into().unwrap());
                assert_eq!(seq, next, "lost or duplicated frame");
                assert_eq!(f.len(), 8 + (seq % 100) as usize);
                assert!(f[8..].iter().all(|&b| b == seq as u8), "torn frame {seq}");
                next += 1;
            }
            None => std::thread::yield_now(),
        }
    }
    let stats = producer.join().unwrap();
    assert_eq!(stats.frames, N);
    assert_eq!(c.try_recv(&mut buf).unwrap(), None);
    assert_eq!((c.stats.corrupt_index, c.stats.oversize), (0, 0));
    drop(mem);
}

#[test]
fn seqlock_readers_never_see_a_torn_snapshot() {
    let mem = Mem::new();
    let r = mem.region();
    let desc = SnapshotDesc {
        offset: 4096,
        capacity_words: 2000,
    };
    let mut w = SnapshotWriter::new(r, desc);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut k = 0u64;
        while !stop2.load(Ordering::Relaxed) {
            k += 1;
            // Variable length too, so `used` changes under the reader.
            let n = 100 + (k % 1800) as usize;
            w.publish(|s| {
                s.push(k);
                (1..n).for_each(|i| s.push(k.wrapping_mul(i as u64 + 0x9E37)));
                // Internal checksum, independent of the seqlock's own.
                s.push((1..n).fold(k, |a, i| a ^ k.wrapping_mul(i as u64 + 0x9E37)));
            })
            .unwrap();
            // Leave readers a window now and then; overlap still happens constantly.
            if k.is_multiple_of(4) {
                (0..2_000).for_each(|_| core::hint::spin_loop());
            }
        }
        k
    });
    let mut scratch = vec![0u64; 2000];
    let (mut ok, mut busy, mut last) = (0u64, 0u64, 0u64);
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(1000);
    while std::time::Instant::now() < deadline || ok < 200 {
        match seqlock::read(&r, desc, &mut scratch) {
            Ok(words) => {
                let k = words[0];
                let n = words.len() - 1;
                assert_eq!(n, 100 + (k % 1800) as usize, "length torn");
                for (i, &w) in words[1..n].iter().enumerate() {
                    assert_eq!(
                        w,
                        k.wrapping_mul(i as u64 + 1 + 0x9E37),
                        "torn word {i} in snapshot {k}"
                    );
                }
                let sum = (1..n).fold(k, |a, i| a ^ k.wrapping_mul(i as u64 + 0x9E37));
                assert_eq!(words[n], sum);
                assert!(k >= last, "went back in time");
                last = k;
                ok += 1;
            }
            Err(SnapshotError::Busy) | Err(SnapshotError::Empty) => busy += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        ok >= 200 && written > 1000,
        "ok={ok} busy={busy} written={written}"
    );
    drop(mem);
}

/// Everything a companion or appliance would read, run against the region.
fn exercise_readers(r: Region) {
    if let Ok(mut comp) = CompanionEnd::attach(r, 1) {
        let l = *comp.layout();
        for part in Part::ALL {
            let (off, bytes, _, _) = l.part(part);
            assert!(off + bytes <= r.len());
        }
        let _ = comp.liveness();
        let _ = comp.read_status();
        let _ = comp.read_panic().map(|p| p.text().len());
        let mut words = vec![0u64; comp.scratch_words()];
        if let Ok(v) = comp.read_positions(&mut words) {
            v.iter().for_each(|p| assert!(p.is_ok() || p.is_err()));
        }
        if let Ok(v) = comp.read_orders(&mut words) {
            v.iter().for_each(|p| assert!(p.is_ok() || p.is_err()));
        }
        if let Ok((_, v)) = comp.read_risk(&mut words) {
            v.iter().for_each(|p| assert!(p.is_ok() || p.is_err()));
        }
        if let Ok(v) = comp.read_latency(&mut words) {
            for s in v.iter().flatten() {
                let _ = s.histogram.quantile(0.999);
            }
        }
        let mut buf = vec![0u8; 1 << 16];
        for _ in 0..20 {
            let _ = comp.poll_message(&mut buf);
            let _ = comp.poll_log(&mut buf);
        }
        let _ = comp.send(Command::Ping { nonce: 1 }, &mut buf);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_region_bytes_are_rejected_not_trusted(bytes in proptest::collection::vec(any::<u8>(), 0..4096), magic in any::<bool>()) {
        let mem = Mem::new();
        let r = mem.region();
        r.write_bytes(0, &bytes);
        if magic {
            r.store(field::MAGIC, layout::MAGIC, Ordering::Relaxed);
            r.store(field::VERSION, layout::VERSION, Ordering::Relaxed);
        }
        // Almost every random header is refused outright; the rest must still be safe.
        exercise_readers(r);
    }

    #[test]
    fn scribbles_over_a_live_region_never_panic(
        scribbles in proptest::collection::vec((0usize..REGION_BYTES / 8, any::<u64>()), 1..64),
        appliance_turn in any::<bool>(),
    ) {
        let mem = Mem::new();
        let r = mem.region();
        let mut app = ApplianceEnd::format(r, &small_params(), 7, 0).unwrap();
        app.publish_status(&StatusSnapshot::default()).unwrap();
        app.publish_positions(&[Position { locate: 1, symbol: Symbol::new("A").unwrap(), qty: 1, avg_px: Price(1), realized_pnl: 0, unrealized_pnl: 0 }]).unwrap();
        app.reply(1, Reply::Ok).unwrap();
        app.log(b"x").unwrap();
        // Bias half the scribbles into the header and ring indices, where damage matters most.
        for (i, (word, value)) in scribbles.iter().enumerate() {
            let off = if i % 2 == 0 { (word % 64) * 8 } else { word * 8 };
            r.store(off, *value, Ordering::Relaxed);
        }
        exercise_readers(r);
        if appliance_turn {
            let mut buf = vec![0u8; app.layout().commands.max_payload()];
            for _ in 0..8 {
                let _ = app.poll_command(&mut buf);
            }
            let _ = app.reply(2, Reply::Ok);
            let _ = app.log(b"after");
            app.publish_status(&StatusSnapshot::default()).unwrap();
        }
    }

    #[test]
    fn random_command_frames_are_refused_or_decoded(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..8)) {
        let mem = Mem::new();
        let r = mem.region();
        let mut app = ApplianceEnd::format(r, &small_params(), 7, 0).unwrap();
        let mut p = Producer::attach(r, app.layout().commands);
        let mut buf = vec![0u8; app.layout().commands.max_payload()];
        for f in &frames {
            if p.try_send(f).is_err() {
                break;
            }
            match app.poll_command(&mut buf) {
                Ok(Some(req)) => {
                    let mut again = vec![0u8; 4096];
                    let n = req.encode(&mut again).unwrap();
                    prop_assert_eq!(&again[..n], &f[..]);
                }
                Ok(None) => prop_assert!(false, "frame vanished"),
                Err(CommandError::Frame { .. }) => {}
                Err(e) => prop_assert!(false, "{:?}", e),
            }
        }
        let _: Vec<u8> = Vec::new();
    }
}

#[test]
fn layout_table_damage_is_refused() {
    let mem = Mem::new();
    let r = mem.region();
    ApplianceEnd::format(r, &LayoutParams::default(), 1, 0).unwrap();
    assert!(CompanionEnd::attach(r, 1).is_ok());
    // Commands ring offset pointing past the end.
    let cmd_off = field::PARTS + 2 * field::PART_WORDS * 8;
    let good = r.load(cmd_off, Ordering::Relaxed).unwrap();
    r.store(cmd_off, REGION_BYTES as u64, Ordering::Relaxed);
    assert_eq!(
        CompanionEnd::attach(r, 1).unwrap_err(),
        LayoutError::BadPart(Part::Commands)
    );
    // Overlapping the reply ring.
    let reply_off = r
        .load(cmd_off + field::PART_WORDS * 8, Ordering::Relaxed)
        .unwrap();
    r.store(cmd_off, reply_off, Ordering::Relaxed);
    assert!(matches!(
        CompanionEnd::attach(r, 1).unwrap_err(),
        LayoutError::BadPart(_)
    ));
    r.store(cmd_off, good, Ordering::Relaxed);
    r.store(field::VERSION, 9, Ordering::Relaxed);
    assert_eq!(
        CompanionEnd::attach(r, 1).unwrap_err(),
        LayoutError::UnsupportedVersion(9)
    );
    r.store(field::MAGIC, 0, Ordering::Relaxed);
    assert_eq!(
        CompanionEnd::attach(r, 1).unwrap_err(),
        LayoutError::BadMagic
    );
}

#[test]
fn labels_with_control_characters_are_malformed() {
    let mem = Mem::new();
    let r = mem.region();
    let mut app = ApplianceEnd::format(r, &LayoutParams::default(), 1, 0).unwrap();
    let comp = CompanionEnd::attach(r, 1).unwrap();
    let mut words = vec![0u64; comp.scratch_words()];
    app.publish_counters(&[
        Counter {
            name: Label::new("ok"),
            value: 1,
        },
        Counter {
            name: Label::new("\x1b[2Jevil"),
            value: 2,
        },
    ])
    .unwrap();
    let v = comp.read_counters(&mut words).unwrap();
    assert!(v.get(0).is_ok());
    assert_eq!(v.get(1), Err(SnapshotError::Malformed));
}

#[test]
fn default_layout_fits_one_mebibyte() {
    let l = Layout::compute(&LayoutParams::default()).unwrap();
    assert!(l.total_bytes <= REGION_BYTES, "{}", l.total_bytes);
    assert!(Layout::compute(&LayoutParams {
        command_slot_size: 12,
        ..LayoutParams::default()
    })
    .is_err());
    assert!(Layout::compute(&LayoutParams {
        log_slots: 0,
        ..LayoutParams::default()
    })
    .is_err());
}
