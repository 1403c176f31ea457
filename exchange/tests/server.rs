//! The venue server over real sockets: a FIX initiator built from the same
//! session layer logs on over TCP; a UDP socket plays the guest's feed NIC.

mod common;

use exchange::feed::{LAB_LINE_A as LINE_A, LAB_LINE_B as LINE_B};
use exchange::matching::Owner;
use exchange::server::{Adjustment, FeedSpec, FlowRate, Loss, Server, SessionSpec};
use exchange::venue::Venue;
use gateway::session::{Event, Role, Session, SessionBuffers, SessionConfig, SessionState};
use protocol::filter::UdpFrameRepr;
use protocol::fix::messages::{
    BusinessMessageReject, ExecType, ExecutionReport, FixBody, MassCancelScope, NewOrderSingle,
    OrdType, OrderCancelRequest, OrderMassCancelReport, OrderMassCancelRequest,
};
use protocol::fix::{msg_type, FixMessage, FixVersion, UtcTime};
use protocol::moldudp64::{Packet, RequestRepr};
use protocol::{ethernet, ipv4};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use types::{Price, Side, TimeInForce};

const CLIENT: Owner = Owner(7);
const RECOVERY: ipv4::Address = ipv4::Address([10, 0, 2, 200]);

fn now() -> UtcTime {
    UtcTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    )
}

fn venue() -> Venue {
    common::venue(b"SRVTEST001", &[("AAA", Price(100_0000))], 3)
}

struct Client {
    session: Session<'static>,
    stream: TcpStream,
    inbox: Vec<Vec<u8>>,
    logged_on: bool,
    /// The venue answered our Logout (or sent its own).
    logged_out: bool,
}

fn leak(n: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; n].into_boxed_slice())
}

impl Client {
    fn new(addr: std::net::SocketAddr, state: SessionState) -> Client {
        let config =
            SessionConfig::new(Role::Initiator, FixVersion::Fix44, "APPL", "EXCH").unwrap();
        let buffers = SessionBuffers {
            rx: leak(65536),
            tx: leak(16384),
            store: leak(1 << 20),
            queue: leak(1 << 20),
            decoder: Box::leak(Box::default()),
        };
        let session = Session::new(config, state, buffers).unwrap();
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let mut c = Client {
            session,
            stream,
            inbox: Vec::new(),
            logged_on: false,
            logged_out: false,
        };
        let mut out = Vec::new();
        c.session.connect(now(), |e| {
            if let Event::Send(b) = e {
                out.extend_from_slice(b)
            }
        });
        c.stream.write_all(&out).unwrap();
        c
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 65536];
        let data = match self.stream.read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            Err(_) => Vec::new(),
        };
        let mut out = Vec::new();
        let (inbox, logged_on, logged_out) =
            (&mut self.inbox, &mut self.logged_on, &mut self.logged_out);
        let mut sink = |e: Event<'_>| match e {
            Event::Send(b) => out.extend_from_slice(b),
            Event::Deliver(m) => inbox.push(m.as_bytes().to_vec()),
            Event::LoggedOn => *logged_on = true,
            Event::LoggedOut => *logged_out = true,
            _ => {}
        };
        if !data.is_empty() {
            self.session.on_bytes(now(), &data, &mut sink);
        }
        self.session.on_tick(now(), &mut sink);
        if !out.is_empty() {
            self.stream.write_all(&out).unwrap();
        }
    }

    fn wait(&mut self, what: &str, mut done: impl FnMut(&Client) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; inbox {}",
                self.inbox.len()
            );
            self.pump();
        }
    }

    fn send_order(&mut self, id: &str, side: Side, qty: u32, price: Price, tif: TimeInForce) {
        let out = self.order_bytes(id, side, qty, price, tif);
        self.stream.write_all(&out).unwrap();
    }

    /// A limit order on AAA, encoded by the session (sequenced) but not sent.
    fn order_bytes(
        &mut self,
        id: &str,
        side: Side,
        qty: u32,
        price: Price,
        tif: TimeInForce,
    ) -> Vec<u8> {
        let body = NewOrderSingle {
            cl_ord_id: id.as_bytes(),
            account: None,
            symbol: b"AAA",
            side,
            order_qty: qty,
            ord_type: OrdType::Limit,
            price: Some(price),
            time_in_force: tif,
            transact_time: now(),
        };
        let mut out = Vec::new();
        self.session
            .send(now(), &body, |e| {
                if let Event::Send(b) = e {
                    out.extend_from_slice(b)
                }
            })
            .unwrap();
        out
    }

    /// Our Logout, encoded by the session but not sent.
    fn logout_bytes(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        assert!(self.session.logout(now(), Some(b"done"), |e| {
            if let Event::Send(b) = e {
                out.extend_from_slice(b)
            }
        }));
        out
    }

    fn send_body<B: FixBody>(&mut self, body: &B) {
        let mut out = Vec::new();
        self.session
            .send(now(), body, |e| {
                if let Event::Send(b) = e {
                    out.extend_from_slice(b)
                }
            })
            .unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// Types of every application message received, in order.
    fn msg_types(&self) -> Vec<Vec<u8>> {
        self.inbox
            .iter()
            .filter_map(|raw| Some(FixMessage::parse(raw).ok()?.msg_type().to_vec()))
            .collect()
    }

    fn cancel(&mut self, orig: &str, id: &str) {
        let body = OrderCancelRequest {
            orig_cl_ord_id: orig.as_bytes(),
            cl_ord_id: id.as_bytes(),
            order_id: None,
            symbol: b"AAA",
            side: Side::Buy,
            order_qty: 0,
            transact_time: now(),
        };
        let mut out = Vec::new();
        self.session
            .send(now(), &body, |e| {
                if let Event::Send(b) = e {
                    out.extend_from_slice(b)
                }
            })
            .unwrap();
        self.stream.write_all(&out).unwrap();
    }

    /// How many fills (ExecType Trade) were reported.
    fn trades(&self) -> usize {
        self.executions()
            .iter()
            .filter(|e| e.0 == ExecType::Trade)
            .count()
    }

    /// (ExecType, ClOrdID, LastQty) of every ExecutionReport received.
    fn executions(&self) -> Vec<(ExecType, String, u32)> {
        self.inbox
            .iter()
            .filter_map(|raw| {
                let m = FixMessage::parse(raw).ok()?;
                if m.msg_type() != msg_type::EXECUTION_REPORT {
                    return None;
                }
                let e = ExecutionReport::parse(&m).ok()?;
                Some((
                    e.exec_type,
                    String::from_utf8_lossy(e.cl_ord_id.unwrap_or(b"")).into_owned(),
                    e.last_qty.unwrap_or(0),
                ))
            })
            .collect()
    }
}

fn start(
    feed: Option<FeedSpec>,
    rate: u32,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<Server>,
    std::net::SocketAddr,
) {
    start_with(feed, rate, true)
}

/// [`start`], the session taking order mass cancels or not.
fn start_with(
    feed: Option<FeedSpec>,
    rate: u32,
    mass_cancel: bool,
) -> (
    Arc<AtomicBool>,
    std::thread::JoinHandle<Server>,
    std::net::SocketAddr,
) {
    let server = Server::new(
        venue(),
        vec![session_spec(mass_cancel)],
        feed,
        FlowRate {
            actions_per_second: rate,
        },
    )
    .unwrap();
    let addr = server.session_addrs()[0];
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(stop, None))
    };
    (stop, handle, addr)
}

/// The client's session at the venue, on a port of its own.
fn session_spec(mass_cancel: bool) -> SessionSpec {
    SessionSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        version: FixVersion::Fix44,
        venue_comp_id: "EXCH".into(),
        client_comp_id: "APPL".into(),
        heart_bt_int_s: 30,
        cancel_on_disconnect: true,
        mass_cancel,
        owner: CLIENT,
    }
}

/// A server driven by the test itself (no thread): one session, no feed,
/// no background flow.
fn quiet_server() -> Server {
    let flow = FlowRate {
        actions_per_second: 0,
    };
    Server::new(venue(), vec![session_spec(false)], None, flow).unwrap()
}

/// A client of `server`'s session, logged on.
fn logged_on_client(server: &mut Server) -> Client {
    let mut c = Client::new(server.session_addrs()[0], SessionState::default());
    drive(server, &mut c, "logon", |c| c.logged_on);
    c
}

/// Polls `server` and pumps `c` in turn until `done`.
fn drive(server: &mut Server, c: &mut Client, what: &str, mut done: impl FnMut(&Client) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done(c) {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        server.poll();
        c.pump();
    }
}

/// What the venue reported before it read the client's Logout goes out
/// before its own Logout. Here a bust of the client's fill, made at the
/// start of the very pass that reads the Logout: the pass answers the
/// Logout only after the report. (Sent after the answer, on a session
/// already logged out, the report could never go out, and the venue's
/// position would differ from the client's for good; the socket-path
/// baseline once saw such a difference.)
#[test]
fn reports_made_before_a_logout_go_out_before_the_venues_logout() {
    let adjustments = Arc::new(Mutex::new(Vec::new()));
    let mut server = quiet_server().with_adjustments(adjustments.clone());
    let mut c = logged_on_client(&mut server);
    c.send_order("b1", Side::Buy, 100, Price(99_0000), TimeInForce::Day);
    c.send_order(
        "s1",
        Side::Sell,
        100,
        Price(99_0000),
        TimeInForce::ImmediateOrCancel,
    );
    drive(&mut server, &mut c, "the self-cross's fills", |c| {
        c.trades() == 2
    });
    // The bust and the Logout wait for the same pass.
    adjustments.lock().unwrap().push(Adjustment::Bust);
    let logout = c.logout_bytes();
    c.stream.write_all(&logout).unwrap();
    drive(&mut server, &mut c, "the venue's Logout", |c| c.logged_out);
    let busts: Vec<_> = c
        .executions()
        .into_iter()
        .filter(|e| e.0 == ExecType::TradeCancel)
        .collect();
    assert_eq!(busts.len(), 1, "{:?}", c.executions());
    assert_eq!(busts[0].2, 100);
    assert_eq!(server.stats().busts_sent, 1);
    // One side of the self-cross stands: the venue and the client agree.
    assert_eq!(server.venue.fills().iter().filter(|f| !f.busted).count(), 1);
}

/// An order and a Logout read in one piece: the order is answered (here
/// its fills, and the fill of our resting order it trades with) before
/// the Logout. Applied only after the whole read, the order would trade
/// on a session already logged out, and its fills would never be
/// reported.
#[test]
fn an_order_read_with_a_logout_is_answered_before_the_logout() {
    let mut server = quiet_server();
    let mut c = logged_on_client(&mut server);
    c.send_order("b1", Side::Buy, 100, Price(99_0000), TimeInForce::Day);
    drive(&mut server, &mut c, "the ack", |c| {
        c.executions().len() == 1
    });
    // The crossing sell and the Logout in one write, read in one pass.
    let mut out = c.order_bytes(
        "s1",
        Side::Sell,
        100,
        Price(99_0000),
        TimeInForce::ImmediateOrCancel,
    );
    out.extend(c.logout_bytes());
    c.stream.write_all(&out).unwrap();
    drive(&mut server, &mut c, "the venue's Logout", |c| c.logged_out);
    let mut trades: Vec<_> = c
        .executions()
        .into_iter()
        .filter(|e| e.0 == ExecType::Trade)
        .map(|e| (e.1, e.2))
        .collect();
    trades.sort();
    assert_eq!(
        trades,
        [("b1".to_string(), 100), ("s1".to_string(), 100)],
        "{:?}",
        c.executions()
    );
    assert_eq!(server.venue.fills().len(), 2);
}

#[test]
fn orders_reports_cancel_on_disconnect_and_reconnect() {
    let (stop, handle, addr) = start(None, 0);
    let mut c = Client::new(addr, SessionState::default());
    c.wait("logon", |c| c.logged_on);
    c.send_order("b1", Side::Buy, 300, Price(99_0000), TimeInForce::Day);
    c.wait("ack", |c| c.executions().len() == 1);
    assert_eq!(c.executions()[0], (ExecType::New, "b1".into(), 0));
    c.send_order("b2", Side::Buy, 100, Price(98_0000), TimeInForce::Day);
    c.cancel("b2", "b2c");
    c.wait("cancel", |c| c.executions().len() == 3);
    assert_eq!(c.executions()[2], (ExecType::Canceled, "b2c".into(), 0));
    // A seller arrives through the same venue: our resting bid trades.
    c.send_order(
        "s1",
        Side::Sell,
        100,
        Price(99_0000),
        TimeInForce::ImmediateOrCancel,
    );
    c.wait("self-cross fills", |c| c.trades() == 2);
    let state = c.session.state();
    drop(c);
    // Disconnect: the rest of b1 (200) is cancelled on the venue.
    std::thread::sleep(Duration::from_millis(200));
    let mut c = Client::new(addr, state);
    c.wait("re-logon", |c| c.logged_on);
    c.wait("cancel-on-disconnect report", |c| {
        c.executions()
            .iter()
            .any(|e| e.0 == ExecType::Canceled && e.1 == "b1")
    });
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
    assert_eq!(server.stats().canceled_on_disconnect, 1);
    assert_eq!(server.stats().logons, 2);
    assert_eq!(server.venue.open_orders(CLIENT), 0);
    assert_eq!(
        server.venue.fills().len(),
        2,
        "both sides of the self-cross are ours"
    );
}

/// An OrderMassCancelRequest over the session: the session's resting
/// orders are canceled, each reported under its own ClOrdID, and then the
/// OrderMassCancelReport says how many. A session that does not take them
/// gets a BusinessMessageReject naming the message type, and keeps its
/// orders.
#[test]
fn a_mass_cancel_cancels_the_sessions_orders_and_is_answered_after_them() {
    for takes_them in [true, false] {
        let (stop, handle, addr) = start_with(None, 0, takes_them);
        let mut c = Client::new(addr, SessionState::default());
        c.wait("logon", |c| c.logged_on);
        c.send_order("b1", Side::Buy, 300, Price(99_0000), TimeInForce::Day);
        c.send_order("b2", Side::Buy, 100, Price(98_0000), TimeInForce::Day);
        c.wait("acks", |c| c.executions().len() == 2);
        c.send_body(&OrderMassCancelRequest {
            cl_ord_id: b"mc1",
            scope: MassCancelScope::All,
            symbol: None,
            side: None,
            transact_time: now(),
        });
        let answer = if takes_them {
            msg_type::ORDER_MASS_CANCEL_REPORT
        } else {
            msg_type::BUSINESS_MESSAGE_REJECT
        };
        c.wait("the answer", |c| c.msg_types().iter().any(|t| t == answer));
        let raw = c
            .inbox
            .iter()
            .find(|raw| FixMessage::parse(raw).is_ok_and(|m| m.msg_type() == answer))
            .unwrap()
            .clone();
        let m = FixMessage::parse(&raw).unwrap();
        if takes_them {
            let r = OrderMassCancelReport::parse(&m).unwrap();
            assert_eq!(
                (r.cl_ord_id, r.response, r.total_affected_orders),
                (Some(&b"mc1"[..]), b'7', Some(2))
            );
            // Both orders' cancel reports came first.
            let mut canceled: Vec<String> = c
                .executions()
                .into_iter()
                .filter(|e| e.0 == ExecType::Canceled)
                .map(|e| e.1)
                .collect();
            canceled.sort();
            assert_eq!(canceled, ["b1", "b2"]);
            let types = c.msg_types();
            assert_eq!(types.last().map(Vec::as_slice), Some(answer), "{types:?}");
        } else {
            let r = BusinessMessageReject::parse(&m).unwrap();
            assert_eq!(r.ref_msg_type, msg_type::ORDER_MASS_CANCEL_REQUEST);
            assert!(c.executions().iter().all(|e| e.0 != ExecType::Canceled));
        }
        stop.store(true, Ordering::Relaxed);
        let server = handle.join().unwrap();
        let stats = server.stats();
        let expect = if takes_them { (1, 2, 0) } else { (0, 0, 2) };
        assert_eq!(
            (
                stats.mass_cancels_received,
                stats.mass_canceled_orders,
                server.venue.open_orders(CLIENT)
            ),
            expect
        );
    }
}

fn frame_payload(frame: &[u8]) -> Option<(u16, Vec<u8>)> {
    let mut filter = protocol::filter::Filter::<2>::new();
    filter.subscribe(LINE_A).ok()?;
    filter.subscribe(LINE_B).ok()?;
    let d = filter.process(frame)?;
    Some((
        if d.subscription == 0 { 26400 } else { 26401 },
        d.payload.to_vec(),
    ))
}

#[test]
fn feed_lines_lose_independently_and_recovery_answers() {
    let guest = UdpSocket::bind("127.0.0.1:0").unwrap();
    guest
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let venue_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let venue_addr = venue_socket.local_addr().unwrap();
    let feed = FeedSpec {
        socket: venue_socket,
        guest: guest.local_addr().unwrap(),
        loss_a: Loss {
            drop_every: 3,
            drop_ranges: vec![],
        },
        loss_b: Loss {
            drop_every: 0,
            drop_ranges: vec![5..=9],
        },
        recovery_addr: RECOVERY,
        recovery_port: 26500,
        heartbeat_every: Duration::from_millis(100),
        forward: Vec::new(),
    };
    let (stop, handle, _) = start(Some(feed), 2_000);
    let mut seen_a = std::collections::BTreeSet::new();
    let mut seen_b = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while (seen_a.len() < 40 || seen_b.len() < 40) && Instant::now() < deadline {
        if let Ok(n) = guest.recv(&mut buf) {
            if let Some((port, payload)) = frame_payload(&buf[..n]) {
                let p = Packet::new_checked(&payload[..]).unwrap();
                if p.count() > 0 {
                    if port == 26400 {
                        seen_a.insert(p.sequence())
                    } else {
                        seen_b.insert(p.sequence())
                    };
                }
            }
        }
    }
    // Line A lost every third packet; B lost packets 5..=9; together: all.
    let a: Vec<u64> = seen_a.iter().copied().collect();
    let b: Vec<u64> = seen_b.iter().copied().collect();
    assert!(a.len() >= 40 && b.len() >= 40, "{} {}", a.len(), b.len());
    assert!(
        b.iter().any(|s| !a.contains(s)),
        "A must miss packets that B has"
    );
    // Ask the recovery server for the first 10 messages.
    let request = RequestRepr {
        session: *b"SRVTEST001",
        sequence: 1,
        count: 10,
    };
    let mut payload = [0u8; 20];
    request.emit(&mut payload).unwrap();
    let repr = UdpFrameRepr {
        src_mac: ethernet::Address([2, 0, 0, 0, 0, 0x42]),
        dst_mac: ethernet::Address([2, 0, 0, 0, 0, 9]),
        vlan: None,
        src_addr: ipv4::Address([10, 0, 2, 15]),
        dst_addr: RECOVERY,
        src_port: 40000,
        dst_port: 26500,
        ttl: 64,
        ident: 1,
        udp_checksum: true,
    };
    let mut frame = vec![0u8; repr.frame_len(20)];
    repr.emit(&payload, &mut frame).unwrap();
    guest.send_to(&frame, venue_addr).unwrap();
    guest
        .send_to(b"garbage that is no frame", venue_addr)
        .unwrap();
    // Answered as a MoldUDP64 server answers: by unicast, from the
    // recovery address and port to where the request came from.
    let mut answers = protocol::filter::Filter::<1>::new();
    answers
        .subscribe(protocol::filter::Subscription {
            group: ipv4::Address([10, 0, 2, 15]),
            port: 40000,
        })
        .unwrap();
    let mut recovered = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while recovered.len() < 10 && Instant::now() < deadline {
        if let Ok(n) = guest.recv(&mut buf) {
            let frame = &buf[..n];
            if let Some(d) = answers.process(frame) {
                assert_eq!((d.src_addr, d.src_port), (RECOVERY, 26500));
                assert_eq!(
                    &frame[..6],
                    &[2, 0, 0, 0, 0, 0x42],
                    "to the requester's MAC"
                );
                let p = Packet::new_checked(d.payload).unwrap();
                for m in p.messages() {
                    recovered.push(m.unwrap().0);
                }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
    assert_eq!(recovered, (1..=10).collect::<Vec<_>>());
    assert_eq!(server.stats().retransmit_requests, 1);
    assert_eq!(server.stats().malformed_inbound_frames, 1);
    assert!(server.stats().feed_dropped_a > 10 && server.stats().feed_dropped_b == 5);
}

/// The `venue` binary: a client logs on to the port it was given, trades
/// against its book and sees the orders counted; bad arguments are refused
/// before anything listens.
#[test]
fn the_venue_binary_serves_a_fix_client_and_refuses_bad_arguments() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let bad = Command::new(env!("CARGO_BIN_EXE_venue"))
        .args(["--symbol", "AAA"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("expected SYMBOL=PRICE"),
        "{bad:?}"
    );

    // A free port, given back for the venue to take.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut venue = Command::new(env!("CARGO_BIN_EXE_venue"))
        .args(["--listen", &listen, "--venue-comp-id", "EXCH"])
        .args(["--client-comp-id", "APPL", "--symbol", "AAA=100.00"])
        .args(["--background", "0", "--seconds", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(venue.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(
        first.contains(&format!("acceptor on {listen}")) && first.contains("EXCH ← APPL"),
        "{first}"
    );
    let mut c = Client::new(listen.parse().unwrap(), SessionState::default());
    c.wait("logon", |c| c.logged_on);
    // Without background flow the client's own orders trade together.
    c.send_order("b1", Side::Buy, 100, Price(100_0000), TimeInForce::Day);
    c.send_order(
        "s1",
        Side::Sell,
        100,
        Price(100_0000),
        TimeInForce::ImmediateOrCancel,
    );
    c.wait("both fills", |c| c.trades() == 2);
    assert!(venue.wait().unwrap().success());
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let last = rest.last().cloned().unwrap_or_default();
    assert!(
        last.contains("logons 1 orders 2 ") && last.contains("fills 2 resting 0"),
        "{rest:?}"
    );
}
