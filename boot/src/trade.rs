//! `trade=SECONDS` mode: the whole pipeline on the boot core.
//!
//! Feed NIC (virtio-net at PCI slot 5): frames → multicast filter (lines A
//! and B) → MoldUDP64 sequencer (A/B arbitration, gap → retransmission
//! request to the venue's recovery server as a raw frame) → ITCH → pipeline
//! (book → market maker → risk/OMS). Order NIC (slot 6): smoltcp TCP → FIX
//! 4.4 session to the venue; execution reports go back into the pipeline.
//! The companion's kill switch is honoured. At the end: logout and a summary
//! line the lab compares with the venue's own records.

use crate::echo::{open_virtio_net_at, KernelDma};
use core::sync::atomic::{AtomicBool, Ordering};
use gateway::fixmap::{exec_report, send_outbound, FixSender};
use gateway::oms::{Oms, OmsConfig, Outbound};
use gateway::session::{Event, Role, Session, SessionBuffers, SessionConfig, SessionState};
use gateway::tcp::{Backoff, LinkConfig, LinkEvent, NicDevice, TcpLink};
use heapless::Vec;
use kernel::arch::cpu;
use kernel::arch::exit::{exit, ExitCode};
use kernel::boot::Platform;
use kernel::{print, println};
use nic::mempool::{Mempool, PacketBatch};
use nic::Nic;
use pipeline::Pipeline;
use protocol::filter::{Filter, Subscription, UdpFrameRepr};
use protocol::fix::messages::{ExecutionReport, FixBody};
use protocol::fix::{msg_type, FixVersion, UtcTime};
use protocol::itch::Message;
use protocol::moldudp64::{Config as SeqConfig, Endpoint, Line, Sequencer};
use protocol::{ethernet, ipv4};
use risk::{Capacity, Limits, RiskEngine};
use smoltcp::iface::SocketStorage;
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{Nanos, StrategyId, Symbol, VenueId};

use crate::telemetry::{InFlight, Stage, Telemetry, EMPTY_STAGE, STAGES};
use protocol::mailbox::message::{Event as MailboxEvent, FillRecord, FixSeqRecord};
use protocol::mailbox::snapshot::{
    Counter, KillSwitch, Label, NicStatus, OpenOrder, Position, RiskLimit, StageLatency,
};

const LINE_A: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 1]),
    port: 26400,
};
const LINE_B: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 2]),
    port: 26401,
};
const RECOVERY: Endpoint = Endpoint {
    addr: [10, 0, 2, 200],
    port: 26500,
};
const FEED_SLOT: u8 = 5;
const ORDER_SLOT: u8 = 6;

type Seq = Sequencer<256, 1536>;

struct Statics {
    sequencer: Seq,
    tcp_rx: [u8; 65_536],
    tcp_tx: [u8; 65_536],
    fix_rx: [u8; 65_536],
    fix_tx: [u8; 16_384],
    store: [u8; 1 << 20],
    queue: [u8; 1 << 18],
    stages: [StageLatency; STAGES],
}

static mut STATICS: Statics = Statics {
    sequencer: Sequencer::new(SeqConfig::new(RECOVERY)),
    tcp_rx: [0; 65_536],
    tcp_tx: [0; 65_536],
    fix_rx: [0; 65_536],
    fix_tx: [0; 16_384],
    store: [0; 1 << 20],
    queue: [0; 1 << 18],
    stages: [EMPTY_STAGE; STAGES],
};
static TAKEN: AtomicBool = AtomicBool::new(false);

fn statics() -> Option<&'static mut Statics> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let p = &raw mut STATICS;
    // SAFETY: the flag hands out the one and only reference, once.
    #[allow(unsafe_code)]
    Some(unsafe { &mut *p })
}

fn fail(why: &str) -> ! {
    println!("trade: FAILED: {why}");
    exit(ExitCode::Failure)
}

/// Session output collected into a buffer for the TCP link.
struct Sends<'a, 's> {
    session: &'a mut Session<'s>,
    out: &'a mut Vec<u8, 65_536>,
    now: UtcTime,
}

impl FixSender for Sends<'_, '_> {
    type Out = bool;
    fn send<B: FixBody>(&mut self, body: &B) -> bool {
        let out = &mut *self.out;
        let r = self.session.send(self.now, body, |e| {
            if let Event::Send(bytes) = e {
                let _ = out.extend_from_slice(bytes);
            }
        });
        r.is_ok()
    }
}

#[derive(Default)]
struct Tally {
    orders: u64,
    refused_unsent: u64,
    feed_frames: u64,
    feed_dropped: u64,
    requests: u64,
    /// ITCH messages inside good MoldUDP64 packets that failed to parse.
    itch_malformed: u64,
    /// FIX input the session dropped (garbled framing, bad checksum).
    fix_dropped: u64,
}

/// Reports of the same kind printed at most this many times.
const REPORT_LIMIT: u64 = 8;

pub fn run(platform: &'static Platform, seconds: u64) -> ! {
    let Some(st) = statics() else {
        fail("statics taken")
    };
    let mut dma = KernelDma(&platform.dma);
    let feed_pool = Mempool::new(&mut dma, 1024, 2048).unwrap_or_else(|_| fail("feed pool"));
    let order_pool = Mempool::new(&mut dma, 512, 2048).unwrap_or_else(|_| fail("order pool"));
    let mut feed =
        open_virtio_net_at(platform, FEED_SLOT, &feed_pool, &mut dma).unwrap_or_else(|e| fail(e));
    let orders_nic =
        open_virtio_net_at(platform, ORDER_SLOT, &order_pool, &mut dma).unwrap_or_else(|e| fail(e));
    let feed_mac = feed.mac_address().0;
    let order_mac = orders_nic.mac_address().0;

    // The pipeline: one market maker on AAA (locate 1, cent tick).
    let book = book::Book::with_capacity(book::BookConfig {
        max_orders: 65_536,
        max_levels: 8_192,
    });
    let mut strategies: Engine<4, 8> = Engine::new();
    let symbol = Symbol::new("AAA").unwrap_or_default();
    let mm = MarketMaker::new(StrategyId(1), 1, symbol, MmParams::default_for_cent_tick())
        .unwrap_or_else(|_| fail("market maker parameters"));
    if strategies.add(Hosted::MarketMaker(mm)).is_err() {
        fail("strategy engine");
    }
    let mut limits = Limits::unlimited();
    // `risk-max-qty=N` tightens the per-order size limit (the lab's risk test).
    limits.default_symbol.max_order_qty =
        match platform.info.value_of("risk-max-qty").map(str::parse) {
            Some(Ok(n)) => n,
            Some(Err(_)) => fail("risk-max-qty= takes a whole number"),
            None => 1_000,
        };
    limits.max_open_orders = 64;
    let risk = RiskEngine::new(
        Capacity {
            symbols: 16,
            orders: 4_096,
            duplicate_slots: 256,
        },
        limits,
    )
    .unwrap_or_else(|_| fail("risk limits"));
    // `journal-wait=N`: ask the companion for the journal (FIX sequence
    // numbers, fills, ClOrdID epoch) and wait up to N s for it before
    // logging on, so a restart continues the venue session where it stood.
    let journal_wait = match platform
        .info
        .value_of("journal-wait")
        .map(str::parse::<u64>)
    {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => fail("journal-wait= takes whole seconds"),
        None => None,
    };
    if journal_wait.is_some() && !kernel::mailbox::is_present() {
        fail("journal-wait= needs the mailbox");
    }
    let handed_back = journal_wait.is_some_and(|secs| await_journal(platform, secs));
    let (session_state, last_epoch) = if handed_back {
        let h = kernel::mailbox::HANDBACK.lock();
        let seq = h.fix_seq.iter().find(|r| r.venue == VenueId(1));
        let fill_epoch = h
            .fills
            .iter()
            .map(|f| gateway::oms::ClOrdId(f.order.0).epoch())
            .max()
            .unwrap_or(0);
        (
            seq.map_or(SessionState::default(), |r| SessionState {
                next_out: r.next_out,
                next_in: r.next_in,
            }),
            seq.map_or(0, |r| r.epoch).max(fill_epoch),
        )
    } else {
        (SessionState::default(), 0)
    };
    let oms = Oms::new(OmsConfig {
        orders: 4_096,
        symbols: 16,
        last_epoch,
    })
    .unwrap_or_else(|_| fail("oms"));
    let mut pipeline: Pipeline<4, 8> = Pipeline::new(book, strategies, risk, oms, VenueId(1));
    let mut exec_seq = 0;
    if handed_back {
        let h = kernel::mailbox::HANDBACK.lock();
        let mut applied = 0;
        for f in h
            .fills
            .iter()
            .filter(|f| f.venue == VenueId(1) && f.locate == 1)
        {
            pipeline
                .oms
                .restore_fill(f.locate, f.side, f.qty, f.price, &mut pipeline.risk);
            exec_seq = exec_seq.max(f.exec_seq);
            applied += 1;
        }
        println!(
            "trade: journal applied: {applied} fills, position AAA {}, FIX next out {} next in {}, ClOrdID epoch {}",
            pipeline.oms.position(1).map_or(0, |p| p.qty),
            session_state.next_out,
            session_state.next_in,
            pipeline.oms.epoch()
        );
    }
    // No decisions until the venue session is up.
    pipeline.set_trading(false);

    // The order path. `venue=IP:PORT` names the FIX acceptor; the default is
    // the address the `fix-probe` mode's `guestfwd` wiring uses.
    let venue = match platform
        .info
        .value_of("venue")
        .map(str::parse::<core::net::SocketAddrV4>)
    {
        None => ([10, 0, 2, 100], 9878),
        Some(Ok(a)) => (a.ip().octets(), a.port()),
        Some(Err(_)) => fail("venue= takes IPv4:PORT, e.g. venue=10.0.2.2:9878"),
    };
    let mut device = NicDevice::new(orders_nic);
    let mut storage = [SocketStorage::EMPTY];
    let link_config = LinkConfig {
        mac: order_mac,
        address: [10, 0, 2, 15],
        prefix_len: 24,
        gateway: [10, 0, 2, 2],
        remote: venue,
        local_port: 49_152,
        seed: cpu::rdtsc(),
    };
    let mut link = TcpLink::new(
        &mut device,
        link_config,
        Backoff::new(100_000_000, 2_000_000_000),
        &mut storage,
        &mut st.tcp_rx,
        &mut st.tcp_tx,
        platform.now_ns(),
    );
    let mut config = SessionConfig::new(Role::Initiator, FixVersion::Fix44, "APPL", "EXCH")
        .unwrap_or_else(|| fail("CompIDs"));
    // Short heartbeats: a silently dead connection (no FIN reaches us through
    // some NATs, QEMU's user network among them) is found in seconds.
    config.heart_bt_int_s = 2;
    let buffers = SessionBuffers {
        rx: &mut st.fix_rx,
        tx: &mut st.fix_tx,
        store: &mut st.store,
        queue: &mut st.queue,
    };
    let mut session =
        Session::new(config, session_state, buffers).unwrap_or_else(|_| fail("session"));

    let mut filter: Filter<4> = Filter::new();
    let _ = filter.subscribe(LINE_A);
    let _ = filter.subscribe(LINE_B);
    let sequencer = &mut st.sequencer;

    kernel::HEAP.seal();
    println!(
        "trade: feed NIC {:02x?}, order NIC {:02x?}; trading AAA for {seconds} s; heap sealed",
        feed_mac, order_mac
    );
    defmt::info!("trade: started for {=u64} s", seconds);

    let end = platform.now_ns() + seconds * 1_000_000_000;
    // `panic-after=N`: a deliberate panic N seconds in (the lab's crash test).
    let panic_at = match platform.info.value_of("panic-after").map(str::parse::<u64>) {
        Some(Ok(n)) => Some(platform.now_ns() + n * 1_000_000_000),
        Some(Err(_)) => fail("panic-after= takes whole seconds"),
        None => None,
    };
    let mut out: Vec<u8, 65_536> = Vec::new();
    let mut inbound = [0u8; 8192];
    let mut frames: PacketBatch<'_, 32> = PacketBatch::new();
    let mut tally = Tally::default();
    let mut logged_on = false;
    let mut killed = false;
    let mut logout_sent = false;
    let mut link_lost = false;
    let mut session_ended = false;
    let mut exec_buf: Vec<gateway::oms::ExecReport, 32> = Vec::new();
    let mut telemetry = Telemetry::new(&platform.clock, &mut st.stages);
    pipeline.set_clock(cpu::rdtsc);
    // Start-up is over: the companion sees the appliance running.
    kernel::mailbox::set_running();
    // The first order of the current loop turn, until its doorbell.
    let mut in_flight: Option<InFlight> = None;
    let mut last_publish_ns = 0;
    // When the kill switch was first seen engaged (for the companion).
    let mut tripped_at: Option<u64> = None;
    let journaling = journal_wait.is_some();
    let mut journal = JournalOut {
        fills: Vec::new(),
        recorded: None,
        overflow: 0,
    };
    loop {
        let now_ns = platform.now_ns();
        let now = Nanos(now_ns);
        let utc = UtcTime(platform.utc_ns());
        kernel::mailbox::service(platform);
        if now_ns.saturating_sub(last_publish_ns) >= 100_000_000 {
            last_publish_ns = now_ns;
            if tripped_at.is_none() && pipeline.risk.tripped().is_some() {
                tripped_at = Some(now_ns);
            }
            publish(
                &pipeline, &tally, &filter, sequencer, &session, &telemetry, tripped_at,
            );
            report_nic(0, &mut feed);
            report_nic(1, device.nic());
        }

        // Market data.
        feed.rx_batch(0, &mut frames);
        let rx_tsc = cpu::rdtsc();
        while let Some(frame) = frames.pop_front() {
            tally.feed_frames += 1;
            let Some(d) = filter.process(frame.data()) else {
                tally.feed_dropped += 1;
                continue;
            };
            let line = if d.subscription == 0 {
                Line::A
            } else {
                Line::B
            };
            let mut sends = Sends {
                session: &mut session,
                out: &mut out,
                now: utc,
            };
            sequencer.on_packet(
                line,
                d.payload,
                now,
                &mut |_, msg| match Message::parse(msg) {
                    Ok(m) => {
                        let decoded = cpu::rdtsc();
                        let mut encoded = 0;
                        pipeline.on_itch(&m, now, &mut |o: &Outbound| {
                            if logged_on && send_outbound(o, utc, &mut sends) {
                                tally.orders += 1;
                                if encoded == 0 {
                                    encoded = cpu::rdtsc();
                                }
                            } else {
                                tally.refused_unsent += 1;
                            }
                        });
                        let s = pipeline.stamps();
                        telemetry.record(Stage::RxDecode, rx_tsc, decoded);
                        telemetry.record(Stage::Book, decoded, s.book);
                        if encoded != 0 && s.risk != 0 {
                            telemetry.record(Stage::Strategy, s.book, s.strategy);
                            telemetry.record(Stage::RiskOms, s.strategy, s.risk);
                            telemetry.record(Stage::FixEncode, s.risk, encoded);
                            if in_flight.is_none() {
                                in_flight = Some(InFlight {
                                    rx: rx_tsc,
                                    encoded,
                                });
                            }
                        }
                    }
                    Err(e) => {
                        tally.itch_malformed += 1;
                        if tally.itch_malformed <= REPORT_LIMIT {
                            println!("trade: malformed ITCH message dropped: {e:?}");
                        }
                    }
                },
            );
        }
        if let Some(req) = sequencer.poll(now) {
            tally.requests += 1;
            let mut payload = [0u8; 20];
            if req.request.emit(&mut payload).is_ok() {
                let repr = UdpFrameRepr {
                    src_mac: ethernet::Address(feed_mac),
                    dst_mac: ethernet::Address([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]),
                    vlan: None,
                    src_addr: ipv4::Address([10, 0, 2, 16]),
                    dst_addr: ipv4::Address(req.server.addr),
                    src_port: 40_000,
                    dst_port: req.server.port,
                    ttl: 64,
                    ident: tally.requests as u16,
                    udp_checksum: true,
                };
                if let Some(mut buf) = feed_pool.alloc() {
                    let len = repr.frame_len(payload.len());
                    if buf.set_len(len) && repr.emit(&payload, buf.data_mut()).is_ok() {
                        let mut batch: PacketBatch<'_, 1> = PacketBatch::new();
                        let _ = batch.push_back(buf);
                        feed.tx_batch(0, &mut batch);
                    }
                }
            }
        }

        // Order path. Orders decided above go out in this turn's poll (one
        // doorbell).
        flush_out(&mut link, &mut out);
        let polled = link.poll(&mut device, now_ns);
        if let Some(order) = in_flight.take() {
            telemetry.sent(order, cpu::rdtsc());
        }
        let mut sink = |e: Event<'_>| match e {
            Event::Send(bytes) => {
                let _ = out.extend_from_slice(bytes);
            }
            Event::LoggedOn => {
                println!("trade: logged on to the venue");
                logged_on = true
            }
            Event::LoggedOut => {
                println!("trade: logged out");
                logged_on = false
            }
            Event::Disconnect(r) => {
                println!("trade: session ended: {r:?}");
                session_ended = true;
            }
            Event::Dropped(e) => {
                tally.fix_dropped += 1;
                if tally.fix_dropped <= REPORT_LIMIT {
                    println!("trade: FIX input dropped: {e:?}");
                }
            }
            Event::Deliver(m) if m.msg_type() == msg_type::EXECUTION_REPORT => {
                if let Ok(r) = ExecutionReport::parse(m) {
                    if let Ok(rep) = exec_report(&r) {
                        let _ = exec_buf.push(rep);
                    }
                }
            }
            _ => {}
        };
        match polled {
            Some(LinkEvent::Connected) => session.connect(utc, &mut sink),
            Some(LinkEvent::Disconnected) if logout_sent => {
                // Done: no new session after our own Logout.
                println!("trade: connection to the venue closed");
                link.close();
                link_lost = true;
                session.disconnected();
            }
            Some(LinkEvent::Disconnected) => {
                println!("trade: connection to the venue lost; reconnecting");
                link_lost = true;
                session.disconnected();
            }
            None => {}
        }
        let n = link.recv(&mut inbound);
        if n > 0 {
            session.on_bytes(utc, &inbound[..n], &mut sink);
        }
        session.on_tick(utc, &mut sink);
        if session_ended && !logout_sent {
            // The session gave up on the venue (no heartbeat answer): drop
            // the TCP connection too and log on again on a new one.
            println!("trade: connection to the venue lost; reconnecting");
            link.reset(now_ns);
            link_lost = true;
        }
        session_ended = false;
        if link_lost {
            // No decisions until the session is back.
            logged_on = false;
            link_lost = false;
        }
        if pipeline.is_trading() != (logged_on && !logout_sent) {
            pipeline.set_trading(logged_on && !logout_sent);
        }
        for rep in exec_buf.iter() {
            let mut sends = Sends {
                session: &mut session,
                out: &mut out,
                now: utc,
            };
            let before = pipeline.oms.position(1).map_or(0, |p| p.qty);
            pipeline.on_exec_report(rep, now, &mut |o: &Outbound| {
                if send_outbound(o, utc, &mut sends) {
                    tally.orders += 1;
                }
            });
            let moved = pipeline.oms.position(1).map_or(0, |p| p.qty) - before;
            if journaling && moved != 0 {
                exec_seq += 1;
                journal.fill(FillRecord {
                    exec_seq,
                    order: types::OrderId(rep.cl_ord_id.map_or(0, |c| c.0)),
                    venue: VenueId(1),
                    locate: 1,
                    symbol,
                    side: if moved > 0 {
                        types::Side::Buy
                    } else {
                        types::Side::Sell
                    },
                    qty: moved.unsigned_abs() as u32,
                    price: rep.last_px,
                    ts_ns: utc.0,
                });
            }
        }
        exec_buf.clear();
        if journaling {
            journal.flush(session.state(), pipeline.oms.epoch());
        }
        if !killed && kernel::mailbox::KILL_SWITCH.load(Ordering::Acquire) {
            killed = true;
            let mut sends = Sends {
                session: &mut session,
                out: &mut out,
                now: utc,
            };
            pipeline.kill(now, &mut |o: &Outbound| {
                send_outbound(o, utc, &mut sends);
            });
            println!("trade: kill switch engaged; open orders cancelled");
        }
        if now_ns >= end && !logout_sent {
            logout_sent = true;
            session.logout(utc, Some(b"trading window over"), |e| {
                if let Event::Send(bytes) = e {
                    let _ = out.extend_from_slice(bytes);
                }
            });
        }
        flush_out(&mut link, &mut out);
        if logout_sent && (!logged_on || now_ns >= end + 3_000_000_000) {
            let s = pipeline.stats();
            let position = pipeline.oms.position(1).map_or(0, |p| p.qty);
            let c = sequencer.counters();
            println!(
                "trade: done: messages {} book-anomalies {} orders-sent {} unsent {} risk-rejects {} reports {} position AAA {} feed-gaps {} retransmit-requests {} delivered {}",
                s.messages,
                s.book_anomalies,
                tally.orders,
                tally.refused_unsent,
                s.risk_rejects,
                s.reports,
                position,
                c.gaps,
                tally.requests,
                c.delivered
            );
            let d = filter.drops();
            let fs = session.stats();
            println!(
                "trade: drops: feed-truncated {} feed-not-ipv4 {} feed-ipv4-malformed {} feed-ipv4-checksum {} feed-udp-malformed {} feed-udp-checksum {} feed-not-subscribed {} moldudp64-malformed {} itch-malformed {} fix-garbled {} fix-rejects-sent {} fix-resend-requests {} fix-resent {}",
                d.ethernet_truncated,
                d.not_ipv4,
                d.ipv4_malformed,
                d.ipv4_checksum,
                d.udp_malformed,
                d.udp_checksum,
                d.not_subscribed,
                c.malformed,
                tally.itch_malformed,
                fs.garbled,
                fs.rejects_sent,
                fs.resend_requests_sent,
                fs.messages_resent
            );
            print!("trade: book AAA");
            for side in [types::Side::Buy, types::Side::Sell] {
                let mut levels = [types::Level::default(); 5];
                let n = types::DepthView::depth(&pipeline.book, 1, side, &mut levels);
                print!(
                    " {}",
                    if side == types::Side::Buy {
                        "bids"
                    } else {
                        "asks"
                    }
                );
                for l in &levels[..n] {
                    print!(" {}@{}", l.qty, l.price.0);
                }
            }
            println!();
            if tripped_at.is_none() && pipeline.risk.tripped().is_some() {
                tripped_at = Some(now_ns);
            }
            publish(
                &pipeline, &tally, &filter, sequencer, &session, &telemetry, tripped_at,
            );
            if journaling {
                journal.flush(session.state(), pipeline.oms.epoch());
                if journal.overflow > 0 || !journal.fills.is_empty() {
                    println!(
                        "trade: journal: {} fills not delivered to the companion",
                        journal.overflow + journal.fills.len() as u64
                    );
                }
            }
            exit(ExitCode::Success);
        }
        if panic_at.is_some_and(|t| now_ns >= t) {
            panic!("deliberate panic during trading (panic-after)");
        }
    }
}

/// Hands queued FIX bytes to TCP; what does not fit waits for the next turn.
fn flush_out(link: &mut TcpLink<'_>, out: &mut Vec<u8, 65_536>) {
    if !out.is_empty() {
        let sent = link.send(out);
        let rest = out.len() - sent;
        out.copy_within(sent.., 0);
        out.truncate(rest);
    }
}

/// Positions (PnL marked at the book's mid), counters and stage latencies
/// for the companion; skipped without a mailbox.
fn publish(
    pipeline: &Pipeline<4, 8>,
    tally: &Tally,
    filter: &Filter<4>,
    sequencer: &Seq,
    session: &Session<'_>,
    telemetry: &Telemetry<'_>,
    tripped_at: Option<u64>,
) {
    if !kernel::mailbox::is_present() {
        return;
    }
    let mut positions: Vec<Position, 1> = Vec::new();
    if let Some(p) = pipeline.oms.position(1) {
        let mark = types::DepthView::bbo(&pipeline.book, 1)
            .mid()
            .unwrap_or(p.mark);
        let qty = p.qty as i128;
        let avg_px = if p.qty == 0 { 0 } else { p.cost / qty };
        let unrealized = qty * mark.0 as i128 - p.cost;
        let _ = positions.push(Position {
            locate: 1,
            symbol: Symbol::new("AAA").unwrap_or_default(),
            qty: p.qty,
            avg_px: types::Price(avg_px as i64),
            realized_pnl: p.realized.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            unrealized_pnl: unrealized.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        });
    }
    let s = pipeline.stats();
    let d = filter.drops();
    let c = sequencer.counters();
    let fs = session.stats();
    let counters = [
        ("itch-messages", s.messages),
        ("book-anomalies", s.book_anomalies),
        ("orders-sent", tally.orders),
        ("orders-unsent", tally.refused_unsent),
        ("risk-rejects", s.risk_rejects),
        ("exec-reports", s.reports),
        ("feed-frames", tally.feed_frames),
        ("feed-dropped", d.total()),
        ("feed-gaps", c.gaps),
        ("mold-malformed", c.malformed),
        ("itch-malformed", tally.itch_malformed),
        ("retransmit-reqs", tally.requests),
        ("fix-garbled", fs.garbled),
        ("fix-rejects-sent", fs.rejects_sent),
        ("fix-resend-reqs", fs.resend_requests_sent),
    ]
    .map(|(name, value)| Counter {
        name: Label::new(name),
        value,
    });
    let r = &pipeline.risk;
    let l = r.limits();
    let cap = |v: u64| v.min(i64::MAX as u64) as i64;
    let clamp = |v: i128| v.clamp(0, i64::MAX as i128) as i64;
    let loss = clamp(-(pipeline.oms.realized_pnl() + pipeline.oms.unrealized_pnl()));
    let limits = [
        (
            "open-orders",
            l.max_open_orders as i64,
            r.open_orders() as i64,
        ),
        (
            "net-position",
            cap(l.max_net_position),
            r.net_position().abs(),
        ),
        (
            "AAA-position",
            cap(l.default_symbol.max_position),
            r.position(1).abs(),
        ),
        ("credit", cap(l.credit_limit), clamp(r.credit_used())),
        ("daily-loss", cap(l.max_daily_loss), loss),
    ]
    .map(|(name, limit, usage)| RiskLimit {
        name: Label::new(name),
        limit,
        usage,
    });
    let kill = KillSwitch {
        engaged: r.tripped().is_some(),
        reason: Label::new(match r.tripped() {
            Some(risk::TripCause::Manual) => "operator",
            Some(risk::TripCause::DailyLoss) => "daily loss",
            Some(risk::TripCause::RejectRate) => "reject rate",
            None => "",
        }),
        since_ns: tripped_at.unwrap_or(0),
    };
    let mut orders: Vec<OpenOrder, 64> = Vec::new();
    for o in pipeline.oms.open_orders() {
        let _ = orders.push(OpenOrder {
            id: o.id,
            symbol: o.symbol,
            locate: o.locate,
            side: o.side,
            strategy: o.strategy,
            venue: o.venue,
            price: o.price,
            qty: o.qty,
            leaves: o.leaves,
            entered_ns: o.entered.0,
        });
    }
    kernel::mailbox::with_endpoint(|end| {
        let _ = end.publish_orders(&orders);
        let _ = end.publish_risk(&kill, &limits);
        let _ = end.publish_positions(&positions);
        let _ = end.publish_counters(&counters);
        let _ = end.publish_latency(telemetry.stages());
    });
}

/// Asks the companion for the journal and services the mailbox until it is
/// whole or `seconds` pass; whether it arrived whole.
fn await_journal(platform: &'static Platform, seconds: u64) -> bool {
    kernel::mailbox::HANDBACK.lock().clear();
    let asked = kernel::mailbox::with_endpoint(|e| e.event(MailboxEvent::JournalRequest).is_ok());
    if asked != Some(true) {
        println!("trade: could not ask for the journal; starting fresh");
        return false;
    }
    println!("trade: waiting up to {seconds} s for the journal");
    let deadline = platform.now_ns() + seconds * 1_000_000_000;
    while platform.now_ns() < deadline {
        kernel::mailbox::service(platform);
        if kernel::mailbox::HANDBACK.lock().complete {
            return true;
        }
        core::hint::spin_loop();
    }
    println!("trade: no journal within {seconds} s; starting with a fresh session");
    false
}

/// Durable state on its way to the companion's journal: fills in order,
/// and the session's sequence numbers whenever they move.
struct JournalOut {
    fills: Vec<FillRecord, 64>,
    /// The last sequence numbers the companion was sent.
    recorded: Option<SessionState>,
    /// Fills that found the queue full (reported at the end).
    overflow: u64,
}

impl JournalOut {
    fn fill(&mut self, f: FillRecord) {
        if self.fills.push(f).is_err() {
            self.overflow += 1;
        }
    }

    /// Sends what the event ring takes now; the rest waits for the next turn.
    fn flush(&mut self, state: SessionState, epoch: u32) {
        kernel::mailbox::with_endpoint(|e| {
            while let Some(f) = self.fills.first() {
                if e.event(MailboxEvent::Fill(*f)).is_err() {
                    return;
                }
                self.fills.remove(0);
            }
            if self.recorded != Some(state) {
                let record = FixSeqRecord {
                    venue: VenueId(1),
                    next_in: state.next_in,
                    next_out: state.next_out,
                    epoch,
                };
                if e.event(MailboxEvent::FixSeq(record)).is_ok() {
                    self.recorded = Some(state);
                }
            }
        });
    }
}

/// One NIC's link and counters for the companion's `status`.
fn report_nic<'p>(index: usize, nic: &mut impl Nic<'p>) {
    let stats = nic.stats();
    let link = nic.link();
    kernel::mailbox::report_nic(
        index,
        NicStatus {
            link_up: link.is_up(),
            speed_mbps: match link {
                nic::LinkState::Up(nic::LinkSpeed::Mbps100) => 100,
                nic::LinkState::Up(nic::LinkSpeed::Gbps1) => 1_000,
                nic::LinkState::Up(nic::LinkSpeed::Gbps10) => 10_000,
                _ => 0,
            },
            mac: nic.mac_address().0,
            rx_packets: stats.rx_packets,
            rx_bytes: stats.rx_bytes,
            rx_dropped: stats.rx_dropped + stats.rx_fragmented_dropped + stats.rx_no_buffer,
            rx_errors: stats.rx_errors,
            tx_packets: stats.tx_packets,
            tx_bytes: stats.tx_bytes,
            // Our loops keep what a full ring refused and retry; the
            // closest thing to a drop is the ring having been full.
            tx_dropped: stats.tx_ring_full,
            tx_errors: stats.tx_errors,
        },
    );
}
