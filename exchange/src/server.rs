//! The venue on the network: FIX sessions over TCP, the feed over UDP.
//!
//! One thread runs one event loop that owns the venue, so nothing is shared
//! and a run is reproducible up to network timing. Each client session has
//! its own listening port (as dedicated order-entry ports at real venues);
//! the FIX session object outlives TCP connections, so sequence numbers and
//! the resend store survive a reconnect. Reports produced while a session is
//! logged out wait in a backlog and go out after the next logon.
//!
//! A session's input is worked through as a venue works through it: the
//! reports already made go out first, then each message is answered before
//! the next is read. So everything the venue did while a client was logged
//! on reaches it before the venue's Logout, and the client's position and
//! the venue's agree at the end of a session.
//!
//! The feed leaves as raw Ethernet frames in UDP datagrams (QEMU's `dgram`
//! netdev carries one frame per datagram), on line A and line B, with
//! configurable loss per line. Frames coming back on that socket are
//! MoldUDP64 retransmission requests to the venue's recovery address, which
//! are answered as a real MoldUDP64 server answers them: by unicast, from
//! the recovery address and port to the address and port the request came
//! from.

use crate::feed::FeedLine;
use crate::matching::Owner;
use crate::venue::{ExecKind, ExecutionState, Report, Venue};
use gateway::session::{
    Event as SessionEvent, Role, Session, SessionBuffers, SessionConfig, SessionState,
};
use protocol::filter::UdpFrameRepr;
use protocol::fix::messages::{
    BusinessMessageReject, CxlRejResponseTo, ExecType, ExecutionReport, MassCancelScope,
    NewOrderSingle, OrdStatus, OrdType, OrderCancelReject, OrderCancelReplaceRequest,
    OrderCancelRequest, OrderMassCancelReport, OrderMassCancelRequest, MAX_AFFECTED_ORDERS,
};
use protocol::fix::{find_frame, msg_type, FixMessage, FixVersion, FrameStatus, UtcTime};
use protocol::moldudp64::RequestRepr;
use protocol::{ethernet, ipv4, udp};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// One client FIX session.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    pub listen: SocketAddr,
    pub version: FixVersion,
    /// Our SenderCompID.
    pub venue_comp_id: String,
    /// The client's SenderCompID.
    pub client_comp_id: String,
    pub heart_bt_int_s: u32,
    pub cancel_on_disconnect: bool,
    /// The session takes OrderMassCancelRequest (q), answered by an
    /// OrderMassCancelReport (r) after the canceled orders' own reports;
    /// without it, a BusinessMessageReject (unsupported message type).
    pub mass_cancel: bool,
    pub owner: Owner,
}

/// Which packets a line loses: packet numbers (1-based, per line) in
/// `drop_ranges`, and every `drop_every`-th packet.
#[derive(Debug, Clone, Default)]
pub struct Loss {
    pub drop_every: u64,
    pub drop_ranges: Vec<std::ops::RangeInclusive<u64>>,
}

impl Loss {
    fn drops(&self, packet: u64) -> bool {
        (self.drop_every != 0 && packet.is_multiple_of(self.drop_every))
            || self.drop_ranges.iter().any(|r| r.contains(&packet))
    }
}

/// Where the feed goes.
#[derive(Debug)]
pub struct FeedSpec {
    /// Bound locally; frames go to `guest`.
    pub socket: UdpSocket,
    pub guest: SocketAddr,
    pub loss_a: Loss,
    pub loss_b: Loss,
    /// The recovery server's address as the guest sees it.
    pub recovery_addr: ipv4::Address,
    pub recovery_port: u16,
    /// Heartbeat when nothing was published for this long.
    pub heartbeat_every: Duration,
    /// Frames from the guest addressed to another venue's recovery server
    /// (IPv4 address) are passed on to that venue's feed socket, as the
    /// switch of a shared feed network would: the guest's feed NIC has one
    /// far end in QEMU.
    pub forward: Vec<(ipv4::Address, SocketAddr)>,
}

#[derive(Debug, Clone, Copy)]
pub struct FlowRate {
    /// Background actions per listing per second (0: none).
    pub actions_per_second: u32,
}

/// Counters the lab shows and tests check.
#[derive(Debug, Clone, Default)]
pub struct ServerStats {
    pub logons: u64,
    pub connections: u64,
    pub disconnects: u64,
    pub orders_received: u64,
    pub cancels_received: u64,
    pub replaces_received: u64,
    /// OrderMassCancelRequests taken, and the orders they canceled.
    pub mass_cancels_received: u64,
    pub mass_canceled_orders: u64,
    pub mass_answers_sent: u64,
    pub reports_sent: u64,
    pub canceled_on_disconnect: u64,
    pub feed_packets: u64,
    pub feed_dropped_a: u64,
    pub feed_dropped_b: u64,
    pub retransmit_requests: u64,
    pub retransmitted_packets: u64,
    /// Guest frames passed on to another venue (see [`FeedSpec::forward`]).
    pub forwarded_frames: u64,
    pub malformed_inbound_frames: u64,
    pub session_errors: u64,
    /// Connections the lab dropped on purpose.
    pub dropped_connections: u64,
    /// Trading days opened after the first, and the session orders that
    /// expired at their close.
    pub new_days: u64,
    pub session_orders_expired: u64,
    /// Busts and corrections of session fills reported.
    pub busts_sent: u64,
    pub corrections_sent: u64,
}

struct Slot {
    spec: SessionSpec,
    listener: TcpListener,
    session: Session<'static>,
    stream: Option<TcpStream>,
    backlog: Vec<Report>,
}

/// Best price (price4) and size of one side.
pub type Touch = Option<(i64, u64)>;

/// What the loop shares with whoever watches it.
#[derive(Debug, Clone, Default)]
pub struct Shared {
    pub stats: ServerStats,
    /// (symbol, best bid, best ask) per listing.
    pub tops: Vec<(String, Touch, Touch)>,
    /// Executions of the FIX sessions' orders so far.
    pub session_fills: usize,
    /// The FIX sessions' orders resting on the book now.
    pub session_open_orders: usize,
}

pub struct Server {
    pub venue: Venue,
    slots: Vec<Slot>,
    feed: Option<FeedSpec>,
    flow: FlowRate,
    stats: ServerStats,
    packets_a: u64,
    packets_b: u64,
    last_feed: Instant,
    started: Instant,
    actions_done: u64,
    /// When set, every session's TCP connection is dropped at the next poll
    /// (a network failure, for the lab's reconnect scenario).
    drop_switch: Option<Arc<AtomicBool>>,
    /// Raw bytes written into every session's stream at the next poll, as
    /// they are (garbled FIX for the lab's bad-input scenario).
    injector: Option<Arc<Mutex<Vec<u8>>>>,
    /// When set, the trading day ends at the next poll and the next one
    /// opens with a new feed session and new stock locates.
    new_day_switch: Option<Arc<AtomicBool>>,
    /// Busts and corrections for the next poll (see [`Adjustment`]).
    adjustments: Option<Arc<Mutex<Vec<Adjustment>>>>,
}

/// What the lab asks the venue to do to the first session's last standing
/// fill.
pub use crate::venue::Adjustment;

fn utc_now() -> UtcTime {
    UtcTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    )
}

fn leak(len: usize) -> &'static mut [u8] {
    Box::leak(vec![0u8; len].into_boxed_slice())
}

impl Server {
    /// Binds every session's port. Session buffers live as long as the
    /// process (the lab runs one server per venue).
    pub fn new(
        venue: Venue,
        sessions: Vec<SessionSpec>,
        feed: Option<FeedSpec>,
        flow: FlowRate,
    ) -> std::io::Result<Server> {
        let mut slots = Vec::new();
        for spec in sessions {
            let listener = TcpListener::bind(spec.listen)?;
            listener.set_nonblocking(true)?;
            let mut config = SessionConfig::new(
                Role::Acceptor,
                spec.version,
                &spec.venue_comp_id,
                &spec.client_comp_id,
            )
            .ok_or_else(|| std::io::Error::new(ErrorKind::InvalidInput, "CompID too long"))?;
            config.heart_bt_int_s = spec.heart_bt_int_s;
            let buffers = SessionBuffers {
                rx: leak(64 << 10),
                tx: leak(16 << 10),
                store: leak(4 << 20),
                queue: leak(1 << 20),
                decoder: Box::leak(Box::default()),
            };
            let session = Session::new(config, SessionState::default(), buffers)
                .map_err(|e| std::io::Error::new(ErrorKind::InvalidInput, format!("{e:?}")))?;
            slots.push(Slot {
                spec,
                listener,
                session,
                stream: None,
                backlog: Vec::new(),
            });
        }
        if let Some(f) = &feed {
            f.socket.set_nonblocking(true)?;
        }
        Ok(Server {
            venue,
            slots,
            feed,
            flow,
            stats: ServerStats::default(),
            packets_a: 0,
            packets_b: 0,
            last_feed: Instant::now(),
            started: Instant::now(),
            actions_done: 0,
            drop_switch: None,
            injector: None,
            new_day_switch: None,
            adjustments: None,
        })
    }

    /// A flag that, when set, drops every session's connection once (no
    /// Logout: the peer sees the TCP connection close).
    pub fn with_drop_switch(mut self, flag: Arc<AtomicBool>) -> Server {
        self.drop_switch = Some(flag);
        self
    }

    /// Ends the day and opens the next whenever `flag` is set (then cleared).
    pub fn with_new_day_switch(mut self, flag: Arc<AtomicBool>) -> Server {
        self.new_day_switch = Some(flag);
        self
    }

    /// Busts and corrections of the first session's last standing fill,
    /// applied at the next poll in the order queued.
    pub fn with_adjustments(mut self, queue: Arc<Mutex<Vec<Adjustment>>>) -> Server {
        self.adjustments = Some(queue);
        self
    }

    /// A buffer whose bytes, when non-empty, are written raw (no session
    /// framing, no sequence number) into the sessions' streams.
    pub fn with_injector(mut self, bytes: Arc<Mutex<Vec<u8>>>) -> Server {
        self.injector = Some(bytes);
        self
    }

    /// Local addresses of the session listeners, in spec order.
    pub fn session_addrs(&self) -> Vec<SocketAddr> {
        self.slots
            .iter()
            .filter_map(|s| s.listener.local_addr().ok())
            .collect()
    }

    /// The MsgSeqNum session `index` expects next from its client: one
    /// above the last number the client sent.
    pub fn expected_from_client(&self, index: usize) -> Option<u64> {
        self.slots
            .get(index)
            .map(|slot| slot.session.state().next_in)
    }

    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// Runs until `stop` is set; returns the server for inspection.
    pub fn run(mut self, stop: Arc<AtomicBool>, shared: Option<Arc<Mutex<Shared>>>) -> Server {
        let mut last_share = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let busy = self.poll();
            if let Some(shared) = &shared {
                if last_share.elapsed() >= Duration::from_millis(50) {
                    last_share = Instant::now();
                    if let Ok(mut s) = shared.lock() {
                        s.stats = self.stats.clone();
                        s.session_fills = self.venue.fills().len();
                        s.session_open_orders = self
                            .slots
                            .iter()
                            .map(|slot| self.venue.open_orders(slot.spec.owner))
                            .sum();
                        s.tops = self
                            .venue
                            .listings()
                            .iter()
                            .map(|l| {
                                let side = |side| {
                                    l.engine
                                        .best(side)
                                        .map(|(p, q): (types::Price, u64)| (p.0, q))
                                };
                                (
                                    l.symbol.as_str().to_string(),
                                    side(types::Side::Buy),
                                    side(types::Side::Sell),
                                )
                            })
                            .collect();
                    }
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        // Leave cleanly: tell logged-on clients.
        let now = utc_now();
        for i in 0..self.slots.len() {
            let slot = &mut self.slots[i];
            let mut out = Vec::new();
            slot.session.logout(now, Some(b"venue closing"), |e| {
                if let SessionEvent::Send(b) = e {
                    out.extend_from_slice(b)
                }
            });
            if let Some(s) = slot.stream.as_mut() {
                let _ = s.write_all(&out);
            }
        }
        self
    }

    /// One pass over everything; true when anything happened.
    pub fn poll(&mut self) -> bool {
        let mut busy = false;
        let now = utc_now();
        self.venue.set_time(nanos_since_midnight(now));
        if self
            .new_day_switch
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::AcqRel))
        {
            self.next_day();
            busy = true;
        }
        let queued: Vec<Adjustment> = self
            .adjustments
            .as_ref()
            .map(|q| std::mem::take(&mut *q.lock().unwrap_or_else(|e| e.into_inner())))
            .unwrap_or_default();
        for adjustment in queued {
            busy |= self.adjust(adjustment);
        }
        busy |= self.background();
        for i in 0..self.slots.len() {
            busy |= self.poll_session(i, now);
        }
        busy |= self.poll_feed();
        busy
    }

    /// Applies one [`Adjustment`] to the first session's last standing
    /// fill; false when it has none.
    fn adjust(&mut self, adjustment: Adjustment) -> bool {
        let Some(owner) = self.slots.first().map(|s| s.spec.owner) else {
            return false;
        };
        if self.venue.adjust_last_fill(owner, adjustment).is_none() {
            return false;
        }
        match adjustment {
            Adjustment::Bust => self.stats.busts_sent += 1,
            Adjustment::CorrectBy(_) => self.stats.corrections_sent += 1,
        }
        true
    }

    /// Closes the trading day and opens the next, as an exchange does
    /// overnight: the day's last messages and the old session's end go out
    /// on both lines, every resting order expires, and the new session
    /// starts from sequence 1 with every listing under the locate of the
    /// next one (so each stock's number changes and each old number names
    /// another stock).
    fn next_day(&mut self) {
        self.stats.session_orders_expired += self.venue.close_day() as u64;
        self.poll_feed();
        if let Some(feed) = self.feed.as_ref() {
            let end = self.venue.feed.end_of_session();
            for line in [FeedLine::A, FeedLine::B] {
                let _ = feed
                    .socket
                    .send_to(&self.venue.feed.frame(line, &end), feed.guest);
            }
        }
        let day = self.venue.day() + 1;
        let mut session = self.venue.feed.config().session;
        session[4] = b'0' + (day / 10 % 10) as u8;
        session[5] = b'0' + (day % 10) as u8;
        let mut locates: Vec<_> = self.venue.listings().iter().map(|l| l.locate).collect();
        locates.rotate_left(1);
        self.venue.open_day(session, &locates);
        self.stats.new_days += 1;
    }

    fn background(&mut self) -> bool {
        if self.flow.actions_per_second == 0 {
            return false;
        }
        let due = (self.started.elapsed().as_micros() as u64) * self.flow.actions_per_second as u64
            / 1_000_000;
        let mut any = false;
        // Catch up in bounded steps so a stall does not produce a burst of
        // thousands of actions at once.
        let mut budget = 64;
        while self.actions_done < due && budget > 0 {
            self.venue.step_background();
            self.actions_done += 1;
            budget -= 1;
            any = true;
        }
        if self.actions_done < due.saturating_sub(1000) {
            self.actions_done = due - 1000;
        }
        any
    }

    /// Carries out session `i`'s `actions` (what it just delivered, in
    /// order) and appends their answers to `out`: rejects, then every
    /// report the venue holds for the session (its fills from the
    /// market's flow too), then the answers to mass cancels (after the
    /// reports of the orders they canceled). True when the session ended.
    fn answer(
        &mut self,
        i: usize,
        now: UtcTime,
        actions: &mut Vec<Action>,
        out: &mut Vec<u8>,
    ) -> bool {
        let mut closed = false;
        let Some(slot) = self.slots.get(i) else {
            return false;
        };
        let owner = slot.spec.owner;
        let takes_mass_cancel = slot.spec.mass_cancel;
        // Answers to mass cancels, sent after the reports of the orders
        // they canceled.
        let mut mass_answers = Vec::new();
        for action in actions.drain(..) {
            match action {
                Action::MassCancel {
                    cl_ord_id,
                    scope,
                    symbol,
                    ..
                } if takes_mass_cancel => {
                    let affected = self.venue.mass_cancel(owner, symbol.as_deref());
                    self.stats.mass_cancels_received += 1;
                    self.stats.mass_canceled_orders += affected as u64;
                    mass_answers.push((cl_ord_id, scope, affected));
                }
                Action::MassCancel { seq, .. } => {
                    let slot = &mut self.slots[i];
                    let reject = BusinessMessageReject {
                        ref_seq_num: Some(seq),
                        ref_msg_type: msg_type::ORDER_MASS_CANCEL_REQUEST,
                        business_reject_ref_id: None,
                        reason: 3,
                        text: Some(b"unsupported message type"),
                    };
                    let _ = slot.session.send(now, &reject, |e| {
                        if let SessionEvent::Send(b) = e {
                            out.extend_from_slice(b)
                        }
                    });
                }
                Action::Order(order) => self.apply_order(owner, order),
                Action::LoggedOn => {
                    self.stats.logons += 1;
                }
                Action::Disconnect => closed = true,
                Action::SessionError => self.stats.session_errors += 1,
                Action::Unsupported { seq, msg_type } => {
                    let slot = &mut self.slots[i];
                    let reject = BusinessMessageReject {
                        ref_seq_num: Some(seq),
                        ref_msg_type: &msg_type,
                        business_reject_ref_id: None,
                        reason: 3,
                        text: Some(b"unsupported message type"),
                    };
                    let _ = slot.session.send(now, &reject, |e| {
                        if let SessionEvent::Send(b) = e {
                            out.extend_from_slice(b)
                        }
                    });
                }
            }
        }
        // Reports for this session.
        self.send_reports(i, now, out);
        let slot = &mut self.slots[i];
        for (cl_ord_id, scope, affected) in mass_answers {
            self.stats.mass_answers_sent += 1;
            let order_id = format!("MC{}", self.stats.mass_answers_sent);
            let report = OrderMassCancelReport {
                cl_ord_id: Some(cl_ord_id.as_bytes()),
                order_id: order_id.as_bytes(),
                scope,
                // Accepted: MassCancelResponse echoes the request's type.
                response: match scope {
                    MassCancelScope::Security => b'1',
                    MassCancelScope::All => b'7',
                },
                reject_reason: None,
                total_affected_orders: Some(affected as u32),
                affected: [None; MAX_AFFECTED_ORDERS],
                affected_count: 0,
            };
            let _ = slot.session.send(now, &report, |e| {
                if let SessionEvent::Send(b) = e {
                    out.extend_from_slice(b)
                }
            });
        }
        closed
    }

    /// Appends to `out` the reports waiting for session `i` (its backlog,
    /// then what the venue made since), in order; those its session cannot
    /// send now (not logged on) stay in the backlog.
    fn send_reports(&mut self, i: usize, now: UtcTime, out: &mut Vec<u8>) {
        let Some(slot) = self.slots.get_mut(i) else {
            return;
        };
        let mut reports = std::mem::take(&mut slot.backlog);
        reports.extend(self.venue.take_reports(slot.spec.owner));
        for report in reports {
            if send_report(&mut slot.session, now, &report, out) {
                self.stats.reports_sent += 1;
            } else {
                slot.backlog.push(report);
            }
        }
    }

    fn poll_session(&mut self, i: usize, now: UtcTime) -> bool {
        let mut busy = false;
        let dropping = self
            .drop_switch
            .as_ref()
            .is_some_and(|f| f.swap(false, Ordering::AcqRel));
        let slot = &mut self.slots[i];
        if dropping && slot.stream.is_some() {
            slot.stream = None;
            slot.session.disconnected();
            self.stats.disconnects += 1;
            self.stats.dropped_connections += 1;
            if slot.spec.cancel_on_disconnect {
                self.stats.canceled_on_disconnect +=
                    self.venue.cancel_all_of(slot.spec.owner) as u64;
            }
            return true;
        }
        if let Ok((stream, _)) = slot.listener.accept() {
            busy = true;
            if slot.stream.is_some() {
                // One connection per session: refuse a second.
                drop(stream);
            } else if stream.set_nonblocking(true).is_ok() {
                let _ = stream.set_nodelay(true);
                slot.stream = Some(stream);
                self.stats.connections += 1;
                slot.session.connect(now, |_| {});
            }
        }
        let mut inbound = Vec::new();
        let mut closed = false;
        if let Some(stream) = slot.stream.as_mut() {
            let mut buf = [0u8; 16 << 10];
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => inbound.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
        }
        let mut actions: Vec<Action> = Vec::new();
        let mut out = Vec::new();
        if slot.stream.is_some() {
            if let Some(Ok(mut raw)) = self.injector.as_ref().map(|m| m.lock()) {
                out.append(&mut raw);
            }
        }
        if !inbound.is_empty() {
            busy = true;
            // What the venue did before these bytes were read goes out
            // before their answers: a Logout among them would otherwise
            // end the session ahead of the reports, which then never go
            // out (the fills they report stay in the venue's position).
            self.send_reports(i, now, &mut out);
            // One message at a time, each answered before the next is
            // read, as a venue works through its input: an order read
            // together with a Logout is answered before the Logout.
            let mut rest = &inbound[..];
            while !rest.is_empty() {
                let piece = match find_frame(rest) {
                    FrameStatus::Complete(n) | FrameStatus::Garbage(n) => n.clamp(1, rest.len()),
                    FrameStatus::Incomplete => rest.len(),
                };
                let (message, after) = rest.split_at(piece);
                rest = after;
                self.slots[i]
                    .session
                    .on_bytes(now, message, |e| collect(e, &mut out, &mut actions));
                closed |= self.answer(i, now, &mut actions, &mut out);
            }
        }
        self.slots[i]
            .session
            .on_tick(now, |e| collect(e, &mut out, &mut actions));
        closed |= self.answer(i, now, &mut actions, &mut out);
        let slot = &mut self.slots[i];
        let owner = slot.spec.owner;
        if !out.is_empty() {
            busy = true;
            if let Some(stream) = slot.stream.as_mut() {
                if write_all_blocking(stream, &out).is_err() {
                    closed = true;
                }
            }
        }
        if closed && slot.stream.is_some() {
            slot.stream = None;
            slot.session.disconnected();
            self.stats.disconnects += 1;
            if slot.spec.cancel_on_disconnect {
                self.stats.canceled_on_disconnect += self.venue.cancel_all_of(owner) as u64;
            }
            busy = true;
        }
        busy
    }

    fn apply_order(&mut self, owner: Owner, order: OrderAction) {
        match order {
            OrderAction::New {
                cl_ord_id,
                symbol,
                side,
                qty,
                price,
                tif,
            } => {
                self.stats.orders_received += 1;
                let _ = self
                    .venue
                    .new_order(owner, &cl_ord_id, &symbol, side, qty, price, tif);
            }
            OrderAction::Cancel { orig, cl_ord_id } => {
                self.stats.cancels_received += 1;
                let _ = self.venue.cancel(owner, &orig, &cl_ord_id);
            }
            OrderAction::Replace {
                orig,
                cl_ord_id,
                price,
                qty,
            } => {
                self.stats.replaces_received += 1;
                let _ = self.venue.replace(owner, &orig, &cl_ord_id, price, qty);
            }
        }
    }

    fn poll_feed(&mut self) -> bool {
        let Some(feed) = self.feed.as_ref() else {
            return false;
        };
        let mut busy = false;
        let packets = self.venue.feed.take_packets();
        if packets.is_empty() && self.last_feed.elapsed() >= feed.heartbeat_every {
            let hb = self.venue.feed.heartbeat();
            for line in [FeedLine::A, FeedLine::B] {
                let frame = self.venue.feed.frame(line, &hb);
                let _ = feed.socket.send_to(&frame, feed.guest);
            }
            self.last_feed = Instant::now();
        }
        for payload in packets {
            busy = true;
            self.last_feed = Instant::now();
            self.stats.feed_packets += 1;
            self.packets_a += 1;
            self.packets_b += 1;
            if feed.loss_a.drops(self.packets_a) {
                self.stats.feed_dropped_a += 1;
            } else {
                let _ = feed
                    .socket
                    .send_to(&self.venue.feed.frame(FeedLine::A, &payload), feed.guest);
            }
            if feed.loss_b.drops(self.packets_b) {
                self.stats.feed_dropped_b += 1;
            } else {
                let _ = feed
                    .socket
                    .send_to(&self.venue.feed.frame(FeedLine::B, &payload), feed.guest);
            }
        }
        // Frames from the guest: retransmission requests.
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = feed.socket.recv_from(&mut buf) {
            busy = true;
            match parse_request(&buf[..n], feed.recovery_addr, feed.recovery_port) {
                Some((request, from)) => {
                    self.stats.retransmit_requests += 1;
                    for payload in self.venue.feed.retransmit(&request) {
                        self.stats.retransmitted_packets += 1;
                        let answer = UdpFrameRepr {
                            src_mac: RECOVERY_MAC,
                            dst_mac: from.mac,
                            vlan: None,
                            src_addr: feed.recovery_addr,
                            dst_addr: from.addr,
                            src_port: feed.recovery_port,
                            dst_port: from.port,
                            ttl: 64,
                            ident: self.stats.retransmitted_packets as u16,
                            udp_checksum: true,
                        };
                        let mut frame = vec![0u8; answer.frame_len(payload.len())];
                        if let Ok(len) = answer.emit(&payload, &mut frame) {
                            frame.truncate(len);
                            let _ = feed.socket.send_to(&frame, feed.guest);
                        }
                    }
                }
                None => match forward_to(&buf[..n], &feed.forward) {
                    Some(to) => {
                        self.stats.forwarded_frames += 1;
                        let _ = feed.socket.send_to(&buf[..n], to);
                    }
                    None => self.stats.malformed_inbound_frames += 1,
                },
            }
        }
        busy
    }
}

/// Where an IPv4 frame for another venue goes, by destination address.
fn forward_to(frame: &[u8], forward: &[(ipv4::Address, SocketAddr)]) -> Option<SocketAddr> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV4 {
        return None;
    }
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    forward
        .iter()
        .find(|(addr, _)| *addr == ip.dst_addr())
        .map(|(_, to)| *to)
}

fn nanos_since_midnight(now: UtcTime) -> u64 {
    now.0 % (86_400 * 1_000_000_000)
}

/// The recovery server's MAC address on the lab's feed segment.
const RECOVERY_MAC: ethernet::Address = ethernet::Address([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);

/// Where a request came from: the answer goes back there.
struct Requester {
    mac: ethernet::Address,
    addr: ipv4::Address,
    port: u16,
}

/// A MoldUDP64 request in an Ethernet/IPv4/UDP frame addressed to the
/// recovery server, and who sent it; `None` for anything else.
fn parse_request(frame: &[u8], addr: ipv4::Address, port: u16) -> Option<(RequestRepr, Requester)> {
    let eth = ethernet::Frame::new_checked(frame).ok()?;
    if eth.ethertype() != ethernet::ethertype::IPV4 {
        return None;
    }
    let mac = eth.src_addr();
    let ip = ipv4::Packet::new_checked(eth.payload()).ok()?;
    if ip.dst_addr() != addr || ip.protocol() != ipv4::PROTOCOL_UDP {
        return None;
    }
    let datagram = udp::Packet::new_checked(ip.payload()).ok()?;
    if datagram.dst_port() != port {
        return None;
    }
    let from = Requester {
        mac,
        addr: ip.src_addr(),
        port: datagram.src_port(),
    };
    Some((RequestRepr::parse(datagram.payload()).ok()?, from))
}

fn write_all_blocking(stream: &mut TcpStream, mut data: &[u8]) -> std::io::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_micros(100))
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

enum OrderAction {
    New {
        cl_ord_id: String,
        symbol: Vec<u8>,
        side: types::Side,
        qty: u32,
        price: types::Price,
        tif: types::TimeInForce,
    },
    Cancel {
        orig: String,
        cl_ord_id: String,
    },
    Replace {
        orig: String,
        cl_ord_id: String,
        price: types::Price,
        qty: u32,
    },
}

enum Action {
    Order(OrderAction),
    MassCancel {
        seq: u64,
        cl_ord_id: String,
        scope: MassCancelScope,
        symbol: Option<Vec<u8>>,
    },
    LoggedOn,
    Disconnect,
    SessionError,
    Unsupported {
        seq: u64,
        msg_type: Vec<u8>,
    },
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn collect(event: SessionEvent<'_>, out: &mut Vec<u8>, actions: &mut Vec<Action>) {
    match event {
        SessionEvent::Send(bytes) => out.extend_from_slice(bytes),
        SessionEvent::LoggedOn => actions.push(Action::LoggedOn),
        SessionEvent::Disconnect(_) => actions.push(Action::Disconnect),
        SessionEvent::Dropped(_) => actions.push(Action::SessionError),
        SessionEvent::Deliver(msg) => actions.push(decode_order(msg)),
        SessionEvent::LoggedOut | SessionEvent::PeerReject(_) | SessionEvent::PeerLogout(_) => {}
    }
}

fn decode_order(msg: &FixMessage<'_>) -> Action {
    let t = msg.msg_type();
    let order = if t == msg_type::NEW_ORDER_SINGLE {
        NewOrderSingle::parse(msg).ok().map(|o| {
            // Market orders trade as immediate-or-cancel at any price.
            let (price, tif) = match (o.ord_type, o.price) {
                (OrdType::Limit, Some(p)) => (p, o.time_in_force),
                _ => {
                    let p = if o.side == types::Side::Buy {
                        types::Price(u32::MAX as i64 / 100 * 100)
                    } else {
                        types::Price(100)
                    };
                    (p, types::TimeInForce::ImmediateOrCancel)
                }
            };
            OrderAction::New {
                cl_ord_id: text(o.cl_ord_id),
                symbol: o.symbol.to_vec(),
                side: o.side,
                qty: o.order_qty,
                price,
                tif,
            }
        })
    } else if t == msg_type::ORDER_CANCEL_REQUEST {
        OrderCancelRequest::parse(msg)
            .ok()
            .map(|c| OrderAction::Cancel {
                orig: text(c.orig_cl_ord_id),
                cl_ord_id: text(c.cl_ord_id),
            })
    } else if t == msg_type::ORDER_CANCEL_REPLACE_REQUEST {
        OrderCancelReplaceRequest::parse(msg).ok().and_then(|r| {
            Some(OrderAction::Replace {
                orig: text(r.orig_cl_ord_id),
                cl_ord_id: text(r.cl_ord_id),
                price: r.price?,
                qty: r.order_qty,
            })
        })
    } else if t == msg_type::ORDER_MASS_CANCEL_REQUEST {
        if let Ok(q) = OrderMassCancelRequest::parse(msg) {
            return Action::MassCancel {
                seq: msg.seq_num().unwrap_or(0),
                cl_ord_id: text(q.cl_ord_id),
                scope: q.scope,
                symbol: q.symbol.map(<[u8]>::to_vec),
            };
        }
        None
    } else {
        None
    };
    match order {
        Some(o) => Action::Order(o),
        None => Action::Unsupported {
            seq: msg.seq_num().unwrap_or(0),
            msg_type: t.to_vec(),
        },
    }
}

fn ord_status(e: &ExecutionState) -> OrdStatus {
    match e.kind {
        ExecKind::Rejected => OrdStatus::Rejected,
        ExecKind::Canceled => OrdStatus::Canceled,
        ExecKind::Expired => OrdStatus::Expired,
        _ if e.cum_qty >= e.order_qty && e.order_qty > 0 => OrdStatus::Filled,
        _ if e.cum_qty > 0 => OrdStatus::PartiallyFilled,
        _ => OrdStatus::New,
    }
}

/// A report's numbers as the text fields of its FIX message.
pub struct ReportIds {
    order_id: String,
    exec_id: String,
    exec_ref_id: Option<String>,
}

impl ReportIds {
    pub fn of(report: &Report) -> ReportIds {
        match report {
            Report::Execution(e) => ReportIds {
                order_id: e.order_id.to_string(),
                exec_id: e.exec_id.to_string(),
                exec_ref_id: e.exec_ref_id.map(|id| id.to_string()),
            },
            Report::CancelReject { order_id, .. } => ReportIds {
                order_id: order_id.to_string(),
                exec_id: String::new(),
                exec_ref_id: None,
            },
        }
    }
}

/// A report as the FIX message the venue sends a session.
pub enum ReportBody<'a> {
    Execution(ExecutionReport<'a>),
    CancelReject(OrderCancelReject<'a>),
}

/// The FIX message of `report` (with `ids`, [`ReportIds::of`] it), sent at
/// `now`.
pub fn report_body<'a>(report: &'a Report, ids: &'a ReportIds, now: UtcTime) -> ReportBody<'a> {
    match report {
        Report::Execution(e) => ReportBody::Execution(execution_report(e, ids, now)),
        Report::CancelReject {
            cl_ord_id,
            orig_cl_ord_id,
            replace,
            reason,
            ..
        } => ReportBody::CancelReject(OrderCancelReject {
            order_id: ids.order_id.as_bytes(),
            cl_ord_id: cl_ord_id.as_bytes(),
            orig_cl_ord_id: orig_cl_ord_id.as_bytes(),
            ord_status: OrdStatus::Rejected,
            response_to: if *replace {
                CxlRejResponseTo::Replace
            } else {
                CxlRejResponseTo::Cancel
            },
            reason: Some(1),
            text: Some(reason.as_bytes()),
        }),
    }
}

fn execution_report<'a>(
    e: &'a ExecutionState,
    ids: &'a ReportIds,
    now: UtcTime,
) -> ExecutionReport<'a> {
    let exec_type = match e.kind {
        ExecKind::New => ExecType::New,
        ExecKind::Fill => ExecType::Trade,
        ExecKind::Canceled => ExecType::Canceled,
        ExecKind::Replaced => ExecType::Replaced,
        ExecKind::Rejected => ExecType::Rejected,
        ExecKind::Expired => ExecType::Expired,
        ExecKind::TradeCancel => ExecType::TradeCancel,
        ExecKind::TradeCorrect => ExecType::TradeCorrect,
    };
    // A fill, and a bust or correction, say the execution's terms.
    let traded = matches!(
        e.kind,
        ExecKind::Fill | ExecKind::TradeCancel | ExecKind::TradeCorrect
    );
    ExecutionReport {
        order_id: ids.order_id.as_bytes(),
        cl_ord_id: Some(e.cl_ord_id.as_bytes()),
        orig_cl_ord_id: e.orig_cl_ord_id.as_deref().map(str::as_bytes),
        exec_id: ids.exec_id.as_bytes(),
        exec_ref_id: ids.exec_ref_id.as_deref().map(str::as_bytes),
        exec_type,
        ord_status: ord_status(e),
        symbol: e.symbol.as_bytes(),
        side: e.side,
        order_qty: Some(e.order_qty),
        price: Some(e.price),
        last_qty: traded.then_some(e.last_qty),
        last_px: traded.then_some(e.last_px),
        leaves_qty: e.leaves_qty,
        cum_qty: e.cum_qty,
        avg_px: e.avg_px,
        transact_time: Some(now),
        text: e.text.map(str::as_bytes),
    }
}

/// Sends one report; false when the session is not logged on (kept for later).
fn send_report(
    session: &mut Session<'static>,
    now: UtcTime,
    report: &Report,
    out: &mut Vec<u8>,
) -> bool {
    let mut sink = |e: SessionEvent<'_>| {
        if let SessionEvent::Send(b) = e {
            out.extend_from_slice(b)
        }
    };
    let ids = ReportIds::of(report);
    let result = match report_body(report, &ids, now) {
        ReportBody::Execution(body) => session.send(now, &body, &mut sink),
        ReportBody::CancelReject(body) => session.send(now, &body, &mut sink),
    };
    result.is_ok()
}
