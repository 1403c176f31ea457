//! The Linux baseline: the appliance's trading path (`boot/src/trade.rs`)
//! as an ordinary Linux process on kernel sockets, against the lab's
//! simulated exchange running in the same process on its own thread.
//!
//! - Feed: the venue sends one raw Ethernet frame per UDP datagram (the lab's
//!   wire format) to a UDP socket bound on 127.0.0.1; retransmission requests
//!   go back the same way, as raw frames, to the venue's feed socket.
//! - Orders: a FIX 4.4 initiator session (APPL → EXCH) over a non-blocking
//!   `TcpStream` with `TCP_NODELAY` to the venue's acceptor on 127.0.0.1.
//! - One busy-polling loop: filter (lines A/B) → MoldUDP64 sequencer → ITCH →
//!   pipeline (book → market maker → risk/OMS) → FIX encode → `write`.
//!
//! [`run`] measures the socket path's tick-to-trade (from `recv_from`
//! returning a datagram to the `write` returning that carried the orders the
//! datagram caused); [`replay`] runs the captured frames through a fresh,
//! identical pipeline with no sockets (frame in → order bytes in a buffer).

#![deny(unsafe_code)]

use exchange::feed::{LAB_LINE_A, LAB_LINE_B};
use exchange::matching::Owner;
use exchange::server::{FeedSpec, FlowRate, Loss, Server, SessionSpec};
use exchange::venue::Venue;
use gateway::fixmap::{exec_report, send_outbound, FixSender};
use gateway::oms::{ExecReport, ExecType, Oms, OmsConfig, Outbound};
use gateway::session::{Event, Role, Session, SessionBuffers, SessionConfig, SessionState};
use pipeline::Pipeline;
use protocol::filter::{Filter, Subscription, UdpFrameRepr};
use protocol::fix::messages::{ExecutionReport, FixBody};
use protocol::fix::{msg_type, FixDecoder, FixVersion, UtcTime};
use protocol::itch::Message;
use protocol::mailbox::histogram::LatencyHistogram;
use protocol::moldudp64::{Config as SeqConfig, Endpoint, Line, Sequencer};
use protocol::{ethernet, ipv4};
use risk::{Capacity, Limits, RiskEngine};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{Nanos, StrategyId, Symbol, VenueId};

/// The baseline's FIX session owner at the venue (the appliance's, in the lab).
pub const OWNER: Owner = Owner(1);
/// The traded listing (locate 1 at the venue).
pub const SYMBOL: &str = "AAA";

const RECOVERY: Endpoint = Endpoint {
    addr: [10, 0, 2, 200],
    port: 26500,
};
/// The source MAC of our retransmission-request frames.
const FEED_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x00, 0x00, 0x01];

type Seq = Sequencer<256, 1536>;
type Pipe = Pipeline<4, 8>;

fn io_err(what: &str) -> std::io::Error {
    std::io::Error::other(what.to_string())
}

/// The lab's venue on its own thread, wired to loopback sockets.
pub struct Exchange {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Server>>,
    /// Our end of the feed: the venue sends frames here.
    pub feed: UdpSocket,
    /// The venue's feed socket (retransmission requests go here).
    pub venue_feed: SocketAddr,
    /// The venue's FIX acceptor.
    pub fix: SocketAddr,
}

impl Exchange {
    /// Opens the venue as `qemu::lab::TradingLab::start` does (same feed
    /// groups, recovery server, listings, session), with the feed's guest
    /// address a UDP socket of ours on 127.0.0.1.
    pub fn start(background_per_second: u32, seed: u64) -> std::io::Result<Exchange> {
        Exchange::start_with_loss(
            background_per_second,
            seed,
            Loss::default(),
            Loss::default(),
        )
    }

    /// [`Exchange::start`] with packets lost on lines A and B.
    pub fn start_with_loss(
        background_per_second: u32,
        seed: u64,
        loss_a: Loss,
        loss_b: Loss,
    ) -> std::io::Result<Exchange> {
        let listings = [
            ("AAA", types::Price(100_0000)),
            ("BBB", types::Price(20_0000)),
        ];
        let venue = Venue::on_lab_feed(*b"LABDAY0001", &listings, seed);
        let ours = UdpSocket::bind("127.0.0.1:0")?;
        let theirs = UdpSocket::bind("127.0.0.1:0")?;
        let venue_feed = theirs.local_addr()?;
        let feed = FeedSpec {
            socket: theirs,
            guest: ours.local_addr()?,
            loss_a,
            loss_b,
            recovery_addr: ipv4::Address(RECOVERY.addr),
            recovery_port: RECOVERY.port,
            heartbeat_every: Duration::from_millis(200),
            forward: Vec::new(),
        };
        let session = SessionSpec {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            version: FixVersion::Fix44,
            venue_comp_id: "EXCH".into(),
            client_comp_id: "APPL".into(),
            heart_bt_int_s: 5,
            cancel_on_disconnect: true,
            mass_cancel: true,
            owner: OWNER,
        };
        let flow = FlowRate {
            actions_per_second: background_per_second,
        };
        let server = Server::new(venue, vec![session], Some(feed), flow)?;
        let fix = server
            .session_addrs()
            .first()
            .copied()
            .ok_or_else(|| io_err("venue has no FIX acceptor"))?;
        ours.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let handle = {
            let stop = stop.clone();
            std::thread::spawn(move || server.run(stop, None))
        };
        Ok(Exchange {
            stop,
            handle: Some(handle),
            feed: ours,
            venue_feed,
            fix,
        })
    }

    /// Closes the venue and returns it with its records.
    pub fn stop(mut self) -> Option<Server> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().and_then(|h| h.join().ok())
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The appliance's pipeline, built exactly as `boot/src/trade.rs` builds it
/// (one market maker on AAA, order size limit 1 000, 64 open orders).
pub fn build_pipeline() -> std::io::Result<Pipe> {
    let book = book::Book::with_capacity(book::BookConfig {
        max_orders: 65_536,
        max_levels: 8_192,
    });
    let mut strategies: Engine<4, 8> = Engine::new();
    let symbol = Symbol::new(SYMBOL).unwrap_or_default();
    let mm = MarketMaker::new(StrategyId(1), 1, symbol, MmParams::default_for_cent_tick())
        .map_err(|_| io_err("market maker parameters"))?;
    strategies
        .add(Hosted::MarketMaker(mm))
        .map_err(|_| io_err("strategy engine"))?;
    let mut limits = Limits::unlimited();
    limits.default_symbol.max_order_qty = 1_000;
    limits.max_open_orders = 64;
    let risk = RiskEngine::new(
        Capacity {
            symbols: 16,
            orders: 4_096,
            duplicate_slots: 256,
        },
        limits,
    )
    .map_err(|_| io_err("risk limits"))?;
    let oms = Oms::new(OmsConfig {
        orders: 4_096,
        symbols: 16,
        last_epoch: 0,
    })
    .map_err(|_| io_err("oms"))?;
    let mut pipeline = Pipeline::new(book, strategies, risk, oms, VenueId(1));
    pipeline.set_trading(false);
    Ok(pipeline)
}

/// Our feed address and the port retransmission requests leave from: the
/// recovery server answers there, by unicast (as the appliance).
const FEED_ADDR: ipv4::Address = ipv4::Address([10, 0, 2, 16]);
const REQUEST_PORT: u16 = 40_000;

/// Lines A and B (subscriptions 0 and 1), then the recovery server's
/// answers (2).
fn new_filter() -> Filter<4> {
    let mut filter = Filter::new();
    let _ = filter.subscribe(LAB_LINE_A);
    let _ = filter.subscribe(LAB_LINE_B);
    let _ = filter.subscribe(Subscription {
        group: FEED_ADDR,
        port: REQUEST_PORT,
    });
    filter
}

/// The sequencer's line for a datagram the filter accepted.
fn line_of(subscription: usize) -> Line {
    match subscription {
        0 => Line::A,
        1 => Line::B,
        _ => Line::Retransmission,
    }
}

fn new_sequencer() -> Box<Seq> {
    Box::new(Sequencer::new(SeqConfig::new(RECOVERY)))
}

/// Owned storage for one FIX session.
struct FixStorage {
    rx: Vec<u8>,
    tx: Vec<u8>,
    store: Vec<u8>,
    queue: Vec<u8>,
    decoder: Box<FixDecoder>,
}

impl FixStorage {
    fn new() -> FixStorage {
        FixStorage {
            rx: vec![0; 65_536],
            tx: vec![0; 16_384],
            store: vec![0; 1 << 20],
            queue: vec![0; 1 << 18],
            decoder: Box::default(),
        }
    }

    fn session(&mut self, role: Role, sender: &str, target: &str) -> std::io::Result<Session<'_>> {
        let mut config = SessionConfig::new(role, FixVersion::Fix44, sender, target)
            .ok_or_else(|| io_err("CompIDs"))?;
        config.heart_bt_int_s = 2;
        let buffers = SessionBuffers {
            rx: &mut self.rx,
            tx: &mut self.tx,
            store: &mut self.store,
            queue: &mut self.queue,
            decoder: &mut self.decoder,
        };
        Session::new(config, SessionState::default(), buffers)
            .map_err(|e| io_err(&format!("{e:?}")))
    }
}

/// Session output collected into a buffer (as on the appliance).
struct Sends<'a, 's> {
    session: &'a mut Session<'s>,
    out: &'a mut Vec<u8>,
    now: UtcTime,
}

impl FixSender for Sends<'_, '_> {
    type Out = bool;
    fn send<B: FixBody>(&mut self, body: &B) -> bool {
        let out = &mut *self.out;
        self.session
            .send(self.now, body, |e| {
                if let Event::Send(bytes) = e {
                    out.extend_from_slice(bytes);
                }
            })
            .is_ok()
    }
}

fn utc_now() -> UtcTime {
    UtcTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    )
}

/// Outbound messages by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OrderCounts {
    pub new: u64,
    pub cancel: u64,
    pub replace: u64,
    pub mass_cancel: u64,
}

impl OrderCounts {
    fn count(&mut self, o: &Outbound) {
        match o {
            Outbound::New { .. } => self.new += 1,
            Outbound::Cancel { .. } => self.cancel += 1,
            Outbound::Replace { .. } => self.replace += 1,
            Outbound::MassCancel { .. } => self.mass_cancel += 1,
        }
    }

    pub fn total(&self) -> u64 {
        self.new + self.cancel + self.replace + self.mass_cancel
    }
}

/// What one run of the socket path did and measured.
#[derive(Debug, Default)]
pub struct RunReport {
    pub logged_on: bool,
    pub logged_out: bool,
    /// Orders, cancels and replaces handed to the session and sent.
    pub sent: OrderCounts,
    /// Orders the pipeline decided that the session refused or that came
    /// while not logged on.
    pub unsent: u64,
    pub exec_reports: u64,
    pub feed_frames: u64,
    pub feed_dropped: u64,
    pub itch_messages: u64,
    pub itch_malformed: u64,
    pub gaps: u64,
    pub retransmit_requests: u64,
    pub fix_dropped: u64,
    /// The pipeline's position in AAA.
    pub position: i64,
    /// `recv_from` returned → `write` of the resulting order bytes returned (ns).
    pub tick_to_trade: LatencyHistogram,
    /// `recv_from` returned → the order bytes encoded, before the `write`
    /// (the same span as the in-process replay's, on the live loop) (ns).
    pub rx_to_encoded: LatencyHistogram,
    /// How long the loop ran, logout included.
    pub elapsed: Duration,
    /// The first raw feed frames, for [`replay`].
    pub frames: Vec<Vec<u8>>,
    /// Every execution report that reported shares executed or taken back
    /// (fills, busts, corrections), as received: what to hold against the
    /// venue's own fills when the positions disagree.
    pub executions: Vec<SeenExecution>,
}

/// An execution report the loop received that moved a position, in the
/// venue's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenExecution {
    pub exec_id: String,
    pub exec_ref_id: Option<String>,
    pub cl_ord_id: Option<String>,
    pub exec_type: protocol::fix::messages::ExecType,
    pub side: types::Side,
    pub last_qty: u32,
    pub cum_qty: u32,
}

impl SeenExecution {
    fn of(r: &ExecutionReport<'_>) -> Option<SeenExecution> {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (r.last_qty.unwrap_or(0) > 0 || r.exec_ref_id.is_some()).then(|| SeenExecution {
            exec_id: text(r.exec_id),
            exec_ref_id: r.exec_ref_id.map(text),
            cl_ord_id: r.cl_ord_id.map(text),
            exec_type: r.exec_type,
            side: r.side,
            last_qty: r.last_qty.unwrap_or(0),
            cum_qty: r.cum_qty,
        })
    }
}

/// Runs the trading loop against `exchange` for `duration`, then logs out
/// (waiting up to 3 s for the venue's confirmation). Keeps up to `capture`
/// raw feed frames.
pub fn run(exchange: &Exchange, duration: Duration, capture: usize) -> std::io::Result<RunReport> {
    let mut report = RunReport::default();
    let mut pipeline = build_pipeline()?;
    let mut filter = new_filter();
    let mut sequencer = new_sequencer();
    let mut storage = FixStorage::new();
    let mut session = storage.session(Role::Initiator, "APPL", "EXCH")?;

    let mut tcp = TcpStream::connect(exchange.fix)?;
    tcp.set_nodelay(true)?;
    tcp.set_nonblocking(true)?;

    let start = Instant::now();
    let end = start + duration;
    let mut out: Vec<u8> = Vec::with_capacity(65_536);
    let mut exec_buf: Vec<ExecReport> = Vec::with_capacity(64);
    let mut datagram = vec![0u8; 65_536];
    let mut inbound = vec![0u8; 65_536];
    let mut logged_on = false;
    let mut logout_sent = false;
    let mut closed = false;
    // The receive time of the oldest datagram whose orders are not yet
    // fully written.
    let mut pending_rx: Option<Instant> = None;
    report.frames.reserve(capture.min(65_536));

    {
        let utc = utc_now();
        session.connect(utc, |e| {
            if let Event::Send(bytes) = e {
                out.extend_from_slice(bytes);
            }
        });
    }

    loop {
        let now_i = Instant::now();
        let now = Nanos(now_i.duration_since(start).as_nanos() as u64);
        let utc = utc_now();

        // Market data: drain what the kernel has.
        loop {
            let n = match exchange.feed.recv_from(&mut datagram) {
                Ok((n, _)) => n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let rx = Instant::now();
            let frame = &datagram[..n];
            report.feed_frames += 1;
            // Kept for the replay, outside the timed span.
            let keep = report.frames.len() < capture;
            let Some(d) = filter.process(frame) else {
                report.feed_dropped += 1;
                if keep {
                    report.frames.push(frame.to_vec());
                }
                continue;
            };
            let line = line_of(d.subscription);
            let before = out.len();
            let mut sends = Sends {
                session: &mut session,
                out: &mut out,
                now: utc,
            };
            let (sent, unsent, malformed) = (
                &mut report.sent,
                &mut report.unsent,
                &mut report.itch_malformed,
            );
            sequencer.on_packet(
                line,
                d.payload,
                now,
                &mut |_, msg| match Message::parse(msg) {
                    Ok(m) => {
                        pipeline.on_itch(&m, now, &mut |o: &Outbound| {
                            if logged_on && send_outbound(o, utc, &mut sends) {
                                sent.count(o);
                            } else {
                                *unsent += 1;
                            }
                        });
                    }
                    Err(_) => *malformed += 1,
                },
            );
            if out.len() > before {
                report.rx_to_encoded.record(rx.elapsed().as_nanos() as u64);
                if pending_rx.is_none() {
                    pending_rx = Some(rx);
                }
            }
            // Orders go out as soon as the datagram is handled.
            if pending_rx.is_some() {
                flush(
                    &mut tcp,
                    &mut out,
                    &mut pending_rx,
                    &mut report.tick_to_trade,
                )?;
            }
            if keep {
                report.frames.push(datagram[..n].to_vec());
            }
        }
        if let Some(req) = sequencer.poll(now) {
            report.retransmit_requests += 1;
            let mut payload = [0u8; 20];
            if req.request.emit(&mut payload).is_ok() {
                let repr = UdpFrameRepr {
                    src_mac: ethernet::Address(FEED_MAC),
                    dst_mac: ethernet::Address([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]),
                    vlan: None,
                    src_addr: FEED_ADDR,
                    dst_addr: ipv4::Address(req.server.addr),
                    src_port: REQUEST_PORT,
                    dst_port: req.server.port,
                    ttl: 64,
                    ident: report.retransmit_requests as u16,
                    udp_checksum: true,
                };
                let mut frame = vec![0u8; repr.frame_len(payload.len())];
                if repr.emit(&payload, &mut frame).is_ok() {
                    // A lost request is retried by the sequencer.
                    let _ = exchange.feed.send_to(&frame, exchange.venue_feed);
                }
            }
        }

        // Order path.
        flush(
            &mut tcp,
            &mut out,
            &mut pending_rx,
            &mut report.tick_to_trade,
        )?;
        let mut session_ended = false;
        let mut sink = |e: Event<'_>| match e {
            Event::Send(bytes) => out.extend_from_slice(bytes),
            Event::LoggedOn => {
                logged_on = true;
                report.logged_on = true;
            }
            Event::LoggedOut => {
                logged_on = false;
                report.logged_out = true;
            }
            Event::Disconnect(_) => session_ended = true,
            Event::Dropped(_) => report.fix_dropped += 1,
            Event::Deliver(m) if m.msg_type() == msg_type::EXECUTION_REPORT => {
                if let Ok(r) = ExecutionReport::parse(m) {
                    report.executions.extend(SeenExecution::of(&r));
                    if let Ok(rep) = exec_report(&r) {
                        exec_buf.push(rep);
                    }
                }
            }
            _ => {}
        };
        if !closed {
            match tcp.read(&mut inbound) {
                Ok(0) => closed = true,
                Ok(n) => session.on_bytes(utc, &inbound[..n], &mut sink),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                Err(_) => closed = true,
            }
        }
        session.on_tick(utc, &mut sink);
        if closed || session_ended {
            logged_on = false;
        }
        if pipeline.is_trading() != (logged_on && !logout_sent) {
            pipeline.set_trading(logged_on && !logout_sent);
        }
        report.exec_reports += exec_buf.len() as u64;
        for rep in exec_buf.drain(..) {
            let mut sends = Sends {
                session: &mut session,
                out: &mut out,
                now: utc,
            };
            let sent = &mut report.sent;
            pipeline.on_exec_report(&rep, now, &mut |o: &Outbound| {
                if send_outbound(o, utc, &mut sends) {
                    sent.count(o);
                }
            });
        }
        if now_i >= end && !logout_sent {
            logout_sent = true;
            session.logout(utc, Some(b"trading window over"), |e| {
                if let Event::Send(bytes) = e {
                    out.extend_from_slice(bytes);
                }
            });
        }
        if !closed {
            flush(
                &mut tcp,
                &mut out,
                &mut pending_rx,
                &mut report.tick_to_trade,
            )?;
        }
        if logout_sent && (!logged_on || closed || now_i >= end + Duration::from_secs(3)) {
            break;
        }
        if closed && !logout_sent {
            return Err(io_err("the venue closed the FIX connection"));
        }
    }

    report.elapsed = start.elapsed();
    let s = pipeline.stats();
    let c = sequencer.counters();
    report.itch_messages = s.messages;
    report.gaps = c.gaps;
    report.position = pipeline.oms.position(1).map_or(0, |p| p.qty);
    Ok(report)
}

/// Writes what `out` holds; when it empties, the oldest waiting datagram's
/// tick-to-trade is recorded.
fn flush(
    tcp: &mut TcpStream,
    out: &mut Vec<u8>,
    pending_rx: &mut Option<Instant>,
    hist: &mut LatencyHistogram,
) -> std::io::Result<()> {
    while !out.is_empty() {
        match tcp.write(out) {
            Ok(0) => return Err(io_err("FIX connection closed while writing")),
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if let Some(rx) = pending_rx.take() {
        hist.record(rx.elapsed().as_nanos() as u64);
    }
    Ok(())
}

/// What the in-process replay did and measured.
#[derive(Debug, Default)]
pub struct ReplayReport {
    pub frames: u64,
    pub sent: OrderCounts,
    /// Frame handed to the filter → the order bytes it caused in the buffer (ns).
    pub frame_to_order: LatencyHistogram,
}

/// The venue's acknowledgement of `o`, as the OMS expects it; none for a
/// mass cancel, which no order's report answers.
fn synthetic_ack(o: &Outbound) -> Option<ExecReport> {
    Some(match *o {
        Outbound::New {
            cl_ord_id,
            price,
            qty,
            ..
        } => ExecReport {
            leaves_qty: qty,
            order_qty: qty,
            price,
            ..ExecReport::new(cl_ord_id, ExecType::New)
        },
        Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            ..
        } => ExecReport {
            orig_cl_ord_id: Some(orig_cl_ord_id),
            ..ExecReport::new(cl_ord_id, ExecType::Canceled)
        },
        Outbound::Replace {
            cl_ord_id,
            orig_cl_ord_id,
            price,
            qty,
            ..
        } => ExecReport {
            orig_cl_ord_id: Some(orig_cl_ord_id),
            leaves_qty: qty,
            order_qty: qty,
            price,
            ..ExecReport::new(cl_ord_id, ExecType::Replaced)
        },
        Outbound::MassCancel { .. } => return None,
    })
}

/// The in-process path: `frames` through a fresh pipeline built like
/// [`run`]'s, with a FIX initiator logged on in memory (its Logon answered
/// by an acceptor-side [`Session`]), encoding into a `Vec<u8>` instead of
/// a socket. Every order, cancel and replace is acknowledged at once
/// (outside the timed region) so the market maker keeps quoting as it does
/// against the venue; there are no fills.
///
/// `pace`: `None` replays back to back (caches and predictors stay warm);
/// `Some(gap)` spins `gap` before each frame, as the live loop waits
/// between datagrams.
pub fn replay(frames: &[Vec<u8>], pace: Option<Duration>) -> std::io::Result<ReplayReport> {
    let mut report = ReplayReport::default();
    let mut pipeline = build_pipeline()?;
    let mut filter = new_filter();
    let mut sequencer = new_sequencer();
    let mut storage = FixStorage::new();
    let mut session = storage.session(Role::Initiator, "APPL", "EXCH")?;
    let mut venue_storage = FixStorage::new();
    let mut venue = venue_storage.session(Role::Acceptor, "EXCH", "APPL")?;

    // Logon in memory.
    let utc = utc_now();
    let (mut to_venue, mut to_us) = (Vec::new(), Vec::new());
    session.connect(utc, |e| {
        if let Event::Send(b) = e {
            to_venue.extend_from_slice(b)
        }
    });
    venue.connect(utc, |_| {});
    venue.on_bytes(utc, &to_venue, |e| {
        if let Event::Send(b) = e {
            to_us.extend_from_slice(b)
        }
    });
    let mut logged_on = false;
    session.on_bytes(utc, &to_us, |e| {
        if let Event::LoggedOn = e {
            logged_on = true
        }
    });
    if !logged_on {
        return Err(io_err("in-memory logon failed"));
    }
    pipeline.set_trading(true);

    let start = Instant::now();
    let mut out: Vec<u8> = Vec::with_capacity(65_536);
    let mut decided: Vec<Outbound> = Vec::with_capacity(64);
    let mut acks: Vec<Outbound> = Vec::with_capacity(64);
    for frame in frames {
        if let Some(gap) = pace {
            let until = Instant::now() + gap;
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        out.clear();
        decided.clear();
        let t0 = Instant::now();
        let now = Nanos(t0.duration_since(start).as_nanos() as u64);
        report.frames += 1;
        let Some(d) = filter.process(frame) else {
            continue;
        };
        let line = line_of(d.subscription);
        let mut sends = Sends {
            session: &mut session,
            out: &mut out,
            now: utc,
        };
        sequencer.on_packet(line, d.payload, now, &mut |_, msg| {
            if let Ok(m) = Message::parse(msg) {
                pipeline.on_itch(&m, now, &mut |o: &Outbound| {
                    if send_outbound(o, utc, &mut sends) {
                        decided.push(*o);
                    }
                });
            }
        });
        if !out.is_empty() {
            report.frame_to_order.record(t0.elapsed().as_nanos() as u64);
        }
        // Untimed: the venue's acknowledgements, and whatever they cause.
        for o in &decided {
            report.sent.count(o);
        }
        let mut queue: Vec<Outbound> = decided.clone();
        let mut rounds = 0;
        while !queue.is_empty() && rounds < 8 {
            rounds += 1;
            acks.clear();
            for o in &queue {
                let Some(ack) = synthetic_ack(o) else {
                    continue;
                };
                let mut sends = Sends {
                    session: &mut session,
                    out: &mut out,
                    now: utc,
                };
                pipeline.on_exec_report(&ack, now, &mut |o2: &Outbound| {
                    if send_outbound(o2, utc, &mut sends) {
                        acks.push(*o2);
                    }
                });
            }
            for o in &acks {
                report.sent.count(o);
            }
            queue.clone_from(&acks);
        }
    }
    Ok(report)
}

/// `count mean p50 p99 p99.9 max` in ns, one line.
pub fn summary(h: &LatencyHistogram) -> String {
    let q = |x: f64| h.quantile(x).unwrap_or(0);
    format!(
        "count {:>7} mean {:>7} p50 {:>7} p99 {:>7} p99.9 {:>8} max {:>9}",
        h.count,
        h.mean().unwrap_or(0),
        q(0.5),
        q(0.99),
        q(0.999),
        h.max
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_path_trades_and_agrees_with_the_venue() {
        let exchange = Exchange::start(300, 21).expect("exchange");
        let report = run(&exchange, Duration::from_secs(3), 10_000).expect("run");
        let server = exchange.stop().expect("venue thread");
        let stats = server.stats();
        assert!(report.logged_on, "{report:?}");
        assert!(report.logged_out, "{report:?}");
        assert!(report.sent.new > 0, "{report:?}");
        assert!(report.tick_to_trade.count > 0);
        assert_eq!(stats.orders_received, report.sent.new);
        assert_eq!(stats.cancels_received, report.sent.cancel);
        assert_eq!(stats.replaces_received, report.sent.replace);
        let symbol = Symbol::new(SYMBOL).unwrap_or_default();
        // Should they ever disagree, both sides' executions say which one
        // the other lacks. (Once, under heavy load, the venue had 0 and the
        // pipeline 100. Two likely causes, both since mended in the venue
        // server, where a fill could go unreported: one its flow made in
        // the pass that read our Logout, and one of an order written
        // together with the Logout, as orders that answer an execution
        // report are here. See the exchange's tests
        // `reports_made_before_a_logout_go_out_before_the_venues_logout`
        // and `an_order_read_with_a_logout_is_answered_before_the_logout`.)
        let venue_fills: Vec<_> = server
            .venue
            .fills()
            .iter()
            .filter(|f| f.owner == OWNER)
            .map(|f| (f.exec_id, &f.cl_ord_id, f.side, f.qty, f.busted))
            .collect();
        assert_eq!(
            server.venue.position(OWNER, symbol),
            report.position,
            "venue fills (ExecID, ClOrdID, side, qty, busted): {venue_fills:?}\n\
             reports the pipeline received: {:?}",
            report.executions
        );

        let replayed = replay(&report.frames, None).expect("replay");
        assert!(replayed.sent.new > 0, "{replayed:?}");
        assert!(replayed.frame_to_order.count > 0);
    }

    #[test]
    fn feed_loss_on_both_lines_is_recovered_through_the_venue() {
        let loss = Loss {
            drop_every: 0,
            drop_ranges: vec![40..=45, 200..=203],
        };
        let exchange = Exchange::start_with_loss(300, 7, loss.clone(), loss).expect("exchange");
        let report = run(&exchange, Duration::from_secs(2), 0).expect("run");
        let server = exchange.stop().expect("venue thread");
        assert!(report.gaps > 0, "{report:?}");
        assert!(report.retransmit_requests > 0, "{report:?}");
        assert!(server.stats().retransmit_requests > 0);
        assert!(server.stats().retransmitted_packets > 0);
        assert_eq!(report.feed_dropped, 0);
        assert!(report.logged_on && report.logged_out, "{report:?}");
        assert_eq!(server.stats().orders_received, report.sent.new);
    }
}
