//! The `session` target: two FIX sessions, us (an initiator) and the venue
//! (an acceptor), connected by a channel that the input drives and garbles.
//! The input is a script: the first two bytes configure the pair (version,
//! gap policy, buffer sizes, heartbeat interval, credentials…), then each
//! operation is an op code and its argument bytes: deliver pending bytes
//! intact, with a byte flipped, or cut; drop or repeat a stretch of what is
//! in flight; inject raw bytes, or a message built by the encoder (so its
//! BodyLength and CheckSum are right and it reaches the session rules) with
//! a chosen MsgType, MsgSeqNum (relative to what the receiver expects),
//! PossDupFlag, SendingTime, CompIDs and version; move the clock; send
//! application messages; narrow the transport's room, its capacity or the
//! sequence limit; log out, reset the sequence numbers, drop and re-open
//! the connection.
//!
//! After every call into a session, what it did is held to what the
//! session layer promises (see `Watch`): every message it hands over is
//! one valid FIX message of its own version and CompIDs, fits the room it
//! was told, carries the next new MsgSeqNum (or 1 on a reset Logon), never
//! one at or past its limit; an application message comes only from `send`,
//! under the number it returns, no longer than the capacity, and is found
//! again by `sent_cl_ord_id`; a PossDup message is a GapFill that ends at or
//! before the next new number and never covers an application message the
//! resend ring still holds (and whose resend would fit the capacity), or a
//! resend identical to the application message first sent under that
//! number; `state()` moves only as the
//! messages it sent and received allow (the expected MsgSeqNum drops only
//! on a reset Logon the session was given); counters never go down; the
//! logon state it reports is the one its events announced; nothing is sent
//! after it asked for a disconnect; resends owed are all out once the
//! transport has room, and with room `send` is never refused for room.
//!
//! Each run ends with a heal: room and limits lifted, and (unless the
//! connection is intact and was never garbled, and heartbeats run) a fresh
//! connection; then bytes are exchanged and the clock moved until the pair
//! is either logged on with matching sequence numbers, where one order and
//! one report must then go through, or has disconnected cleanly (one side
//! asked to; on a fresh connection only over sequence numbers, see
//! `Pair::parted`). Anything else is a finding, and so are two sessions
//! that never stop sending to each other.

use std::collections::BTreeMap;

use gateway::session::{
    DisconnectReason, Event, GapPolicy, Password, Role, SendError, Session, SessionBuffers,
    SessionConfig, SessionState, SessionStats,
};
use protocol::fix::encode::TimestampPrecision;
use protocol::fix::messages::{
    ExecType, ExecutionReport, FixBody, Heartbeat, Logon, Logout, NewOrderSingle, OrdStatus,
    OrdType, OrderCancelRequest, Reject, ResendRequest, SequenceReset, TestRequest,
};
use protocol::fix::{
    find_frame, msg_type, tag, FixDecoder, FixError, FixMessage, FixVersion, FrameStatus,
    HeaderTemplate, UtcTime,
};
use types::{Price, Side, TimeInForce};

/// `SESSION_TRACE=1` prints every operation and event (for reading a
/// finding: `cargo test` or the fuzz target run on the one input).
macro_rules! trace {
    ($($arg:tt)*) => {
        trace_if!("SESSION_TRACE", $($arg)*)
    };
}

const US: usize = 0;
const VENUE: usize = 1;
const NAMES: [&str; 2] = ["us", "venue"];
const COMP_IDS: [&str; 2] = ["CLIENT", "VENUE"];
const SEC: u64 = 1_000_000_000;
/// 2023-11-14 22:13:20 UTC.
const T0: UtcTime = UtcTime(1_700_000_000 * SEC);
/// A transport with at least this much room is treated as unbounded.
const UNBOUNDED: usize = 1 << 48;
/// Store size with which the ring evicts within a few messages.
const SMALL_STORE: usize = 600;
const LARGE_STORE: usize = 64 * 1024;
/// Heal: clock steps, and deliveries within one step, before the pair must
/// have settled.
const HEAL_ROUNDS: usize = 8;
const MAX_EXCHANGES: usize = 64;

/// The input, read a byte at a time; zeros once it is used up.
struct Script<'d> {
    data: &'d [u8],
    at: usize,
}

impl Script<'_> {
    fn done(&self) -> bool {
        self.at >= self.data.len()
    }

    fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    fn bytes(&mut self, n: usize) -> &[u8] {
        let start = self.at.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.at = start + n;
        &self.data[start..end]
    }
}

/// An [`Event`], owned, so it can be checked after the call returns.
#[derive(Debug)]
enum Ev {
    Send(Vec<u8>),
    Deliver(Vec<u8>),
    PeerReject(Vec<u8>),
    PeerLogout(Vec<u8>),
    LoggedOn,
    LoggedOut,
    Disconnect(DisconnectReason),
    Dropped(FixError),
}

impl Ev {
    fn own(e: Event<'_>) -> Ev {
        match e {
            Event::Send(b) => Ev::Send(b.to_vec()),
            Event::Deliver(m) => Ev::Deliver(m.as_bytes().to_vec()),
            Event::PeerReject(m) => Ev::PeerReject(m.as_bytes().to_vec()),
            Event::PeerLogout(m) => Ev::PeerLogout(m.as_bytes().to_vec()),
            Event::LoggedOn => Ev::LoggedOn,
            Event::LoggedOut => Ev::LoggedOut,
            Event::Disconnect(r) => Ev::Disconnect(r),
            Event::Dropped(e) => Ev::Dropped(e),
        }
    }
}

/// Header fields a resend adds or rewrites; the rest of an application
/// message must come back unchanged.
const RESEND_HEADER: [u32; 7] = [
    tag::MSG_TYPE,
    tag::SENDER_COMP_ID,
    tag::TARGET_COMP_ID,
    tag::MSG_SEQ_NUM,
    tag::SENDING_TIME,
    tag::POSS_DUP_FLAG,
    tag::ORIG_SENDING_TIME,
];

/// The most a resend is longer than the message first sent: "43=Y", "122="
/// and a timestamp (21 bytes, 24 in µs), two SOHs, a BodyLength digit.
const RESEND_GROWTH: usize = 4 + 4 + 24 + 2 + 1;

/// An application message as first sent, to hold its resends to.
#[derive(Debug)]
struct AppSent {
    /// Its length on the wire.
    len: usize,
    msg_type: Vec<u8>,
    sending_time: Vec<u8>,
    body: Vec<(u32, Vec<u8>)>,
}

fn app_body(m: &FixMessage<'_>) -> Vec<(u32, Vec<u8>)> {
    m.fields()
        .filter(|(t, _)| !RESEND_HEADER.contains(t))
        .map(|(t, v)| (t, v.to_vec()))
        .collect()
}

/// Counts, in the bytes delivered to a session since it connected, the
/// Logons with ResetSeqNumFlag=Y: the only messages that may lower what a
/// session expects next (or restart its own numbering unannounced). Every
/// "8=FIX" is tried as a frame start on its own, so this finds at least
/// every frame the session can have seen, whatever its receive buffer
/// dropped when it overflowed.
#[derive(Default)]
struct ResetScan {
    stream: Vec<u8>,
    /// Where the search for "8=FIX" goes on.
    cursor: usize,
    /// Frame starts that need more bytes to tell.
    open: Vec<usize>,
    /// Reset Logons with MsgSeqNum 1 (a mid-session reset), and with any,
    /// over the session's life.
    seq_one: u64,
    any: u64,
}

impl ResetScan {
    /// A new connection: the session's receive buffer starts empty.
    fn reconnected(&mut self) {
        self.stream.clear();
        self.cursor = 0;
        self.open.clear();
    }

    fn push(&mut self, bytes: &[u8]) {
        self.stream.extend_from_slice(bytes);
        let open = std::mem::take(&mut self.open);
        for start in open {
            self.try_frame(start);
        }
        while let Some(off) = self.stream[self.cursor..]
            .windows(5)
            .position(|w| w == b"8=FIX")
        {
            let start = self.cursor + off;
            self.try_frame(start);
            self.cursor = start + 1;
        }
        // A start cut by the chunk's end is found with the next chunk.
        self.cursor = self.cursor.max(self.stream.len().saturating_sub(4));
    }

    fn try_frame(&mut self, start: usize) {
        let rest = &self.stream[start..];
        match find_frame(rest) {
            FrameStatus::Complete(n) => {
                let frame = &rest[..n];
                let msg = FixMessage::parse(frame).or_else(|_| FixMessage::parse_lenient(frame));
                if let Ok(m) = msg {
                    if m.msg_type() == msg_type::LOGON
                        && m.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y")
                    {
                        self.any += 1;
                        if m.seq_num() == Some(1) {
                            self.seq_one += 1;
                        }
                    }
                }
            }
            FrameStatus::Incomplete => self.open.push(start),
            FrameStatus::Garbage(_) => {}
        }
    }
}

/// What the harness knows of one session, to hold it to its promises.
struct Watch {
    side: usize,
    version: FixVersion,
    /// MsgSeqNum of the next new (not PossDup) message.
    expect_out: u64,
    next_in: u64,
    stats: SessionStats,
    /// As announced by LoggedOn / LoggedOut.
    logged_on: bool,
    /// Between `connect` and the session's Disconnect (or `disconnected`).
    connected: bool,
    asked_disconnect: Option<DisconnectReason>,
    /// The room and limit told to the session, less what it sent since.
    room: usize,
    limit: u64,
    /// Told with `set_out_capacity`: no application message or resend is
    /// longer.
    capacity: usize,
    /// Application messages sent since the resend ring was last emptied.
    app_sent: BTreeMap<u64, AppSent>,
    /// An upper bound of the bytes those take in the ring (24-byte record
    /// header plus the body, less than the whole message).
    ring_bytes: usize,
    ring_capacity: usize,
    /// The last application message delivered.
    last_delivered: Option<u64>,
    scan: ResetScan,
    /// Reset Logons from `scan` already taken to explain a drop.
    used_seq_one: u64,
    used_any: u64,
    /// `scan.any` before the bytes of the call now under way, and before
    /// those of the last call that delivered: a delivery that goes back in
    /// sequence needs a reset Logon since.
    any_before_call: u64,
    any_before_delivery: u64,
}

impl Watch {
    fn new(side: usize, version: FixVersion, ring_capacity: usize) -> Watch {
        Watch {
            side,
            version,
            expect_out: 1,
            next_in: 1,
            stats: SessionStats::default(),
            logged_on: false,
            connected: false,
            asked_disconnect: None,
            room: usize::MAX,
            limit: u64::MAX,
            capacity: usize::MAX,
            app_sent: BTreeMap::new(),
            ring_bytes: 0,
            ring_capacity,
            last_delivered: None,
            scan: ResetScan::default(),
            used_seq_one: 0,
            used_any: 0,
            any_before_call: 0,
            any_before_delivery: 0,
        }
    }

    fn name(&self) -> &'static str {
        NAMES[self.side]
    }

    /// No record can have been evicted from the resend ring yet.
    fn ring_keeps_all(&self) -> bool {
        self.ring_bytes <= self.ring_capacity
    }

    fn ring_emptied(&mut self) {
        self.app_sent.clear();
        self.ring_bytes = 0;
    }
}

/// What a call into a session was, for the checks after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Connect { resets: bool },
    Bytes,
    Tick,
    Send(Result<u64, SendError>),
    Logout(bool),
    ResetSequence(bool),
}

/// What a run reached (for the tests that check the harness goes deep).
#[derive(Debug, Default, Clone, Copy)]
pub struct Reach {
    pub logons: u64,
    pub app_sent: u64,
    pub delivered: u64,
    pub resent: u64,
    pub gap_filled: u64,
    pub rejects: u64,
    pub resets: u64,
    pub disconnects: u64,
    pub queued: u64,
    pub room_waits: u64,
    pub held_back: u64,
    pub lost_with_connection: u64,
    pub healed_in_place: bool,
    pub converged: bool,
}

struct Pair<'a> {
    sessions: [Session<'a>; 2],
    watch: [Watch; 2],
    /// Bytes each side wrote that the other has not been given yet.
    wire: [Vec<u8>; 2],
    link_up: bool,
    /// Since the connection opened, the channel lost, changed or added
    /// bytes.
    tampered: bool,
    now: UtcTime,
    version: FixVersion,
    heart_bt_int_s: u32,
    credentials: bool,
    orders: u64,
    reach: Reach,
    /// Why the sessions asked to disconnect, in order.
    disconnects: Vec<DisconnectReason>,
}

/// One session's storage.
struct Buffers {
    rx: Vec<u8>,
    tx: Vec<u8>,
    store: Vec<u8>,
    queue: Vec<u8>,
    decoder: Box<FixDecoder>,
}

impl Buffers {
    fn new(rx: usize, store: usize, queue: usize) -> Buffers {
        Buffers {
            rx: vec![0; rx],
            tx: vec![0; 4096],
            store: vec![0; store],
            queue: vec![0; queue],
            decoder: Box::default(),
        }
    }

    fn session(&mut self, config: SessionConfig) -> Session<'_> {
        Session::new(
            config,
            SessionState::default(),
            SessionBuffers {
                rx: &mut self.rx,
                tx: &mut self.tx,
                store: &mut self.store,
                queue: &mut self.queue,
                decoder: &mut self.decoder,
            },
        )
        .expect("session config")
    }
}

fn other(version: FixVersion) -> FixVersion {
    match version {
        FixVersion::Fix42 => FixVersion::Fix44,
        FixVersion::Fix44 => FixVersion::Fix42,
    }
}

/// See the module documentation. Gives what the run reached.
pub fn run(data: &[u8]) -> Reach {
    let mut script = Script { data, at: 0 };
    let shape = script.byte();
    let extra = script.byte();
    let version = if shape & 1 != 0 {
        FixVersion::Fix42
    } else {
        FixVersion::Fix44
    };
    let heart_bt_int_s = [30, 1, 5, 0][usize::from(shape >> 4 & 3)];
    let credentials = extra & 1 != 0;
    let configs = [(Role::Initiator, US), (Role::Acceptor, VENUE)].map(|(role, side)| {
        let mut c =
            SessionConfig::new(role, version, COMP_IDS[side], COMP_IDS[1 - side]).expect("CompIDs");
        c.heart_bt_int_s = heart_bt_int_s;
        c.gap_policy = if shape & 2 != 0 {
            GapPolicy::Discard
        } else {
            GapPolicy::Queue
        };
        c.reset_on_logon = role == Role::Initiator && shape & 4 != 0;
        if credentials {
            c.username = Some("alice".try_into().expect("short"));
            c.password = Password::new("s3cret");
        }
        if extra & 2 != 0 {
            c.sending_time_tolerance_ns = None;
        }
        if extra & 4 != 0 {
            c.precision = TimestampPrecision::Micros;
        }
        c
    });
    let store = if shape & 8 != 0 {
        SMALL_STORE
    } else {
        LARGE_STORE
    };
    let rx = if shape & 0x40 != 0 { 1024 } else { 8192 };
    let queue = if shape & 0x80 != 0 { 512 } else { 8192 };
    let mut ours = Buffers::new(rx, store, queue);
    let mut theirs = Buffers::new(rx, store, queue);
    let [us_config, venue_config] = configs;
    let mut pair = Pair {
        sessions: [ours.session(us_config), theirs.session(venue_config)],
        watch: [
            Watch::new(US, version, store),
            Watch::new(VENUE, version, store),
        ],
        wire: [Vec::new(), Vec::new()],
        link_up: false,
        tampered: false,
        now: T0,
        version,
        heart_bt_int_s,
        credentials,
        orders: 0,
        reach: Reach::default(),
        disconnects: Vec::new(),
    };
    pair.reconnect();
    while !script.done() {
        pair.step(&mut script);
    }
    pair.heal();
    for w in &pair.watch {
        pair.reach.queued += w.stats.queued;
        pair.reach.room_waits += w.stats.room_waits;
        pair.reach.held_back += w.stats.held_back;
        pair.reach.lost_with_connection += w.stats.lost_with_connection;
        pair.reach.rejects += w.stats.rejects_sent;
    }
    pair.reach
}

impl<'a> Pair<'a> {
    /// One operation of the script.
    fn step(&mut self, script: &mut Script<'_>) {
        let op = script.byte();
        let arg = script.byte();
        let side = usize::from(arg & 1);
        let code = op % 22;
        trace!(
            "op {code} arg {arg} at +{} ms",
            (self.now.0 - T0.0) / 1_000_000
        );
        match code {
            0..=2 => {
                let n = match arg >> 1 {
                    127 => usize::MAX,
                    k => (usize::from(k) + 1) * 16,
                };
                self.deliver(side, n, None);
            }
            3 => {
                for from in [US, VENUE] {
                    self.deliver(from, usize::MAX, None);
                }
            }
            4 => {
                let n = (usize::from(arg >> 1) + 1) * 16;
                let at = usize::from(script.u16());
                let xor = script.byte().max(1);
                self.deliver(side, n, Some((at, xor)));
            }
            5 | 6 => {
                let at = usize::from(script.u16());
                let len = usize::from(arg >> 1) + 1;
                self.cut(side, at, len, code == 6);
            }
            7 => {
                let len = usize::from(arg >> 1);
                let bytes = script.bytes(len).to_vec();
                if self.link_up {
                    self.wire[side].extend_from_slice(&bytes);
                    self.tampered = true;
                }
            }
            8 | 9 => self.inject(side, arg >> 1, script),
            10 => self.advance(u64::from(arg) * 10_000_000),
            11 => self.advance(u64::from(arg) * 5 * SEC),
            12 | 13 => {
                let _ = self.send_app(side, arg >> 1);
            }
            14 => self.set_room(side, usize::from(arg >> 1) * 8),
            15 => self.set_room(side, usize::MAX),
            16 => {
                let text: Option<&[u8]> = if arg & 2 != 0 { Some(b"bye") } else { None };
                self.call(side, |s, now, sink| {
                    let sent = s.logout(now, text, sink);
                    (Call::Logout(sent), ())
                });
            }
            17 => {
                self.call(side, |s, now, sink| {
                    let sent = s.reset_sequence(now, sink);
                    (Call::ResetSequence(sent), ())
                });
            }
            18 => {
                // The connection drops (in-flight bytes lost) and opens again;
                // with bit 1, we forget what we sent, as the appliance does
                // for a venue that cancels on disconnect.
                self.drop_link();
                if arg & 2 != 0 {
                    self.sessions[US].forget_sent();
                    self.watch[US].ring_emptied();
                }
                self.reconnect();
            }
            19 => {
                if !self.link_up {
                    self.reconnect();
                }
            }
            20 => {
                let limit = match arg >> 1 {
                    127 => u64::MAX,
                    k => self.sessions[side].state().next_out + u64::from(k % 8),
                };
                self.sessions[side].set_out_limit(limit);
                self.watch[side].limit = limit;
            }
            _ => {
                let capacity = match arg >> 1 {
                    127 => usize::MAX,
                    k => 256 + usize::from(k) * 16,
                };
                self.sessions[side].set_out_capacity(capacity);
                self.watch[side].capacity = capacity;
            }
        }
    }

    /// Calls into one session, then checks what it did (see `Watch`).
    /// `f` gives the call as it turned out (a send's result…).
    fn call<R>(
        &mut self,
        side: usize,
        f: impl FnOnce(&mut Session<'a>, UtcTime, &mut dyn FnMut(Event<'_>)) -> (Call, R),
    ) -> R {
        let was_logged_on = self.sessions[side].is_logged_on();
        let mut events = Vec::new();
        let (call, r) = f(&mut self.sessions[side], self.now, &mut |e: Event<'_>| {
            trace!("  {} {e:?}", NAMES[side]);
            events.push(Ev::own(e))
        });
        trace!(
            "  {} state {:?} logged on {}",
            NAMES[side],
            self.sessions[side].state(),
            self.sessions[side].is_logged_on()
        );
        self.observe(side, call, was_logged_on, events);
        self.settle();
        r
    }

    fn observe(&mut self, side: usize, call: Call, was_logged_on: bool, events: Vec<Ev>) {
        let now = self.now;
        let peer = COMP_IDS[1 - side].as_bytes();
        let mut new_app: Option<(u64, AppSent, usize)> = None;
        let mut reset_logon_sent = false;
        let mut delivered = false;
        let mut peer_logout = false;
        let w = &mut self.watch[side];
        let name = w.name();
        for ev in events {
            match ev {
                Ev::Send(bytes) => {
                    assert!(w.connected, "{name} sent after its disconnect");
                    let sent = check_sent(w, &bytes, now, peer, &mut self.reach);
                    match sent {
                        Sent::App(seq, app) => {
                            assert!(
                                matches!(call, Call::Send(_)) && new_app.is_none(),
                                "{name}: application message {seq} outside its send"
                            );
                            new_app = Some((seq, app, bytes.len()));
                        }
                        Sent::ResetLogon => reset_logon_sent = true,
                        Sent::Other => {}
                    }
                    if self.link_up {
                        self.wire[side].extend_from_slice(&bytes);
                    }
                }
                Ev::Deliver(bytes) => {
                    let m = FixMessage::parse(&bytes)
                        .unwrap_or_else(|e| panic!("{name} delivered a message it refused: {e:?}"));
                    assert!(
                        !msg_type::is_admin(m.msg_type()),
                        "{name} delivered an admin message"
                    );
                    let seq = m.seq_num().expect("delivered without MsgSeqNum");
                    if let Some(last) = w.last_delivered.filter(|&last| seq <= last) {
                        assert!(
                            w.scan.any > w.any_before_delivery,
                            "{name} delivered {seq} after {last} without a reset Logon between"
                        );
                    }
                    w.last_delivered = Some(seq);
                    delivered = true;
                    self.reach.delivered += 1;
                }
                Ev::PeerReject(bytes) => {
                    let m = FixMessage::parse(&bytes).expect("a peer's Reject parses");
                    assert_eq!(m.msg_type(), msg_type::REJECT);
                }
                Ev::PeerLogout(bytes) => {
                    let m = FixMessage::parse(&bytes).expect("a peer's Logout parses");
                    assert_eq!(m.msg_type(), msg_type::LOGOUT);
                    assert!(w.connected, "{name}: a peer's Logout after its disconnect");
                    peer_logout = true;
                }
                Ev::LoggedOn => {
                    assert!(!w.logged_on, "{name}: LoggedOn twice");
                    w.logged_on = true;
                    self.reach.logons += 1;
                }
                Ev::LoggedOut => {
                    assert!(w.logged_on, "{name}: LoggedOut while not logged on");
                    w.logged_on = false;
                }
                Ev::Disconnect(reason) => {
                    assert!(w.connected, "{name}: Disconnect twice");
                    assert!(
                        !peer_logout
                            || matches!(
                                reason,
                                DisconnectReason::LogonRejected
                                    | DisconnectReason::LogoutCompleted
                                    | DisconnectReason::LogoutReceived
                            ),
                        "{name}: the peer's Logout ended in {reason:?}"
                    );
                    assert!(!w.logged_on, "{name}: Disconnect before LoggedOut");
                    w.connected = false;
                    w.asked_disconnect = Some(reason);
                    self.reach.disconnects += 1;
                    self.disconnects.push(reason);
                }
                Ev::Dropped(e) => assert!(
                    e.is_garbled() || e.session_reject().is_some(),
                    "{name} dropped input for {e:?}"
                ),
            }
        }
        assert!(
            !peer_logout || !w.connected,
            "{name}: the peer's Logout was handed over, and the session went on"
        );

        match (call, new_app) {
            (Call::Send(Ok(seq)), Some((sent_seq, app, len))) => {
                assert_eq!(seq, sent_seq, "{name}: send's number is not the one sent");
                assert!(was_logged_on, "{name}: sent while not logged on");
                // Kept in the ring (a record is 24 bytes and the body), the
                // message is found by its number, with its ClOrdID, as a
                // session-level Reject of it is traced back to the order.
                if 24 + len <= w.ring_capacity {
                    let mut id = [0u8; 64];
                    let found = self.sessions[side].sent_cl_ord_id(seq, &mut id);
                    let cl_ord_id = app.body.iter().find(|(t, _)| *t == tag::CL_ORD_ID);
                    let want = cl_ord_id.map(|(_, v)| (&v[..], &app.msg_type[..]));
                    let got = found.as_ref().map(|(v, kind)| {
                        let n = if kind[1] == 0 { 1 } else { 2 };
                        (*v, &kind[..n])
                    });
                    assert_eq!(got, want, "{name}: sent_cl_ord_id({seq})");
                }
                w.app_sent.insert(seq, app);
                w.ring_bytes += 24 + len;
                self.reach.app_sent += 1;
            }
            (Call::Send(Ok(seq)), None) => panic!("{name}: send gave {seq} but sent nothing"),
            (_, Some((seq, ..))) => panic!("{name}: sent {seq} yet send refused"),
            (Call::ResetSequence(true), _) => {
                assert!(
                    reset_logon_sent,
                    "{name}: reset_sequence sent no reset Logon"
                );
            }
            _ => {}
        }

        // Sequence numbers: only a reset may lower them, and a reset the
        // session did not announce on the wire needs a reset Logon it was
        // given (or its own reset-on-logon connect).
        let state = self.sessions[side].state();
        if delivered {
            w.any_before_delivery = w.any_before_call;
        }
        let mut reset = false;
        if state.next_out != w.expect_out {
            assert!(
                state.next_out == 1 && w.expect_out > 1,
                "{name}: next_out {} but {} expected from what it sent",
                state.next_out,
                w.expect_out
            );
            reset = true;
            w.expect_out = 1;
            w.ring_emptied();
        }
        if state.next_in < w.next_in {
            reset = true;
        }
        if reset && call != (Call::Connect { resets: true }) {
            let s = &w.scan;
            if was_logged_on {
                assert!(
                    s.seq_one > w.used_seq_one,
                    "{name}: next_in {} -> {}, next_out {} without a reset Logon at MsgSeqNum 1",
                    w.next_in,
                    state.next_in,
                    state.next_out
                );
                w.used_seq_one += 1;
            } else {
                assert!(
                    s.any > w.used_any,
                    "{name}: next_in {} -> {} at logon without a reset Logon",
                    w.next_in,
                    state.next_in
                );
            }
            w.used_any += 1;
            self.reach.resets += 1;
        }
        w.next_in = state.next_in;

        let stats = self.sessions[side].stats();
        let before = w.stats;
        for (now, then, what) in [
            (stats.garbled, before.garbled, "garbled"),
            (stats.rejects_sent, before.rejects_sent, "rejects_sent"),
            (
                stats.resend_requests_sent,
                before.resend_requests_sent,
                "resend_requests_sent",
            ),
            (
                stats.messages_resent,
                before.messages_resent,
                "messages_resent",
            ),
            (
                stats.gap_fills_sent,
                before.gap_fills_sent,
                "gap_fills_sent",
            ),
            (
                stats.duplicates_ignored,
                before.duplicates_ignored,
                "duplicates_ignored",
            ),
            (stats.queued, before.queued, "queued"),
            (stats.held_back, before.held_back, "held_back"),
            (stats.room_waits, before.room_waits, "room_waits"),
            (
                stats.lost_with_connection,
                before.lost_with_connection,
                "lost_with_connection",
            ),
        ] {
            assert!(now >= then, "{name}: {what} went from {then} to {now}");
        }
        w.stats = stats;

        assert_eq!(
            self.sessions[side].is_logged_on(),
            w.logged_on,
            "{name}: logon state not as announced"
        );
        if w.connected && w.room >= UNBOUNDED && matches!(call, Call::Bytes | Call::Tick) {
            assert!(
                !self.sessions[side].resends_owed(),
                "{name}: resends still owed with room in the transport"
            );
        }
        if w.connected && w.room >= UNBOUNDED {
            // Whatever waited for room (resends, the answer to a reset)
            // goes ahead of a new message once there is room.
            assert!(
                !matches!(call, Call::Send(Err(SendError::TransportFull))),
                "{name}: a send refused for room with room in the transport"
            );
        }
    }

    /// A side that asked for a disconnect closes the connection: what it
    /// wrote still reaches the peer (a close after the data), then the peer
    /// sees the end. What the peer writes then is lost.
    fn settle(&mut self) {
        if !self.link_up {
            return;
        }
        let Some(closing) = (0..2).find(|&i| self.watch[i].asked_disconnect.is_some()) else {
            return;
        };
        self.link_up = false;
        self.disconnected(closing);
        let peer = 1 - closing;
        let last = std::mem::take(&mut self.wire[closing]);
        if self.watch[peer].connected && !last.is_empty() {
            self.watch[peer].any_before_call = self.watch[peer].scan.any;
            self.watch[peer].scan.push(&last);
            self.call(peer, |s, now, sink| {
                s.on_bytes(now, &last, sink);
                (Call::Bytes, ())
            });
        }
        self.disconnected(peer);
        self.wire = [Vec::new(), Vec::new()];
    }

    fn disconnected(&mut self, side: usize) {
        self.sessions[side].disconnected();
        let w = &mut self.watch[side];
        w.connected = false;
        w.logged_on = false;
        w.asked_disconnect = None;
        assert!(!self.sessions[side].resends_owed());
        assert!(!self.sessions[side].is_logged_on());
    }

    /// The connection is lost at once, both ways, with what was in flight.
    fn drop_link(&mut self) {
        if self.link_up {
            self.link_up = false;
            self.disconnected(US);
            self.disconnected(VENUE);
        }
        self.wire = [Vec::new(), Vec::new()];
    }

    fn reconnect(&mut self) {
        assert!(!self.link_up);
        self.link_up = true;
        self.tampered = false;
        for side in [VENUE, US] {
            let w = &mut self.watch[side];
            w.connected = true;
            w.scan.reconnected();
            let resets = self.sessions[side].config().reset_on_logon && side == US;
            self.call(side, |s, now, sink| {
                s.connect(now, sink);
                (Call::Connect { resets }, ())
            });
            if !self.link_up {
                return;
            }
        }
    }

    /// Up to `n` bytes `from` one side reach the other, with one of them
    /// changed when `flip` says where and how.
    fn deliver(&mut self, from: usize, n: usize, flip: Option<(usize, u8)>) {
        if !self.link_up || self.wire[from].is_empty() {
            return;
        }
        let n = n.min(self.wire[from].len());
        let mut chunk: Vec<u8> = self.wire[from].drain(..n).collect();
        if let Some((at, xor)) = flip {
            let i = at % chunk.len();
            chunk[i] ^= xor;
            self.tampered = true;
        }
        self.feed(1 - from, &chunk);
    }

    fn feed(&mut self, to: usize, bytes: &[u8]) {
        self.watch[to].any_before_call = self.watch[to].scan.any;
        self.watch[to].scan.push(bytes);
        self.call(to, |s, now, sink| {
            s.on_bytes(now, bytes, sink);
            (Call::Bytes, ())
        });
    }

    /// Loses (or, with `repeat`, doubles) `len` bytes in flight from `side`.
    fn cut(&mut self, side: usize, at: usize, len: usize, repeat: bool) {
        let wire = &mut self.wire[side];
        if !self.link_up || wire.is_empty() {
            return;
        }
        let at = at % wire.len();
        let end = (at + len).min(wire.len());
        if repeat {
            let copy = wire[at..end].to_vec();
            wire.splice(end..end, copy);
        } else {
            wire.drain(at..end);
        }
        self.tampered = true;
    }

    fn advance(&mut self, nanos: u64) {
        self.now = self.now.saturating_add_nanos(nanos);
        for side in [US, VENUE] {
            self.call(side, |s, now, sink| {
                s.on_tick(now, sink);
                (Call::Tick, ())
            });
        }
    }

    fn set_room(&mut self, side: usize, bytes: usize) {
        self.sessions[side].set_out_room(bytes);
        self.watch[side].room = bytes;
    }

    /// An application message from `side`: an order or a cancel from us, a
    /// report from the venue, some long (for the ring), and now and then a
    /// session-level body, which `send` must refuse.
    fn send_app(&mut self, side: usize, kind: u8) -> Result<u64, SendError> {
        self.orders += 1;
        let id = format!("{}", 100_000 + self.orders);
        let long = "X".repeat(usize::from(kind >> 2) * 24);
        let now = self.now;
        let result = match (side, kind & 3) {
            (_, 3) => {
                let r = self.send_body(side, &Heartbeat { test_req_id: None });
                assert!(
                    matches!(r, Err(SendError::NotLoggedOn | SendError::AdminMsgType)),
                    "an admin body sent as application: {r:?}"
                );
                r
            }
            (US, 2) => self.send_body(
                side,
                &OrderCancelRequest {
                    orig_cl_ord_id: b"100001",
                    cl_ord_id: id.as_bytes(),
                    order_id: None,
                    symbol: b"AAPL",
                    side: Side::Sell,
                    order_qty: 100,
                    transact_time: now,
                },
            ),
            (US, k) => self.send_body(
                side,
                &order(id.as_bytes(), (k == 1).then_some(long.as_bytes()), now),
            ),
            (_, k) => self.send_body(
                side,
                &acknowledgement(id.as_bytes(), (k != 0).then_some(long.as_bytes()), now),
            ),
        };
        if let Err(e) = result {
            assert!(
                e != SendError::TooLarge || self.watch[side].capacity != usize::MAX,
                "{}: {e:?} with no capacity set",
                NAMES[side]
            );
        }
        result
    }

    fn send_body<B: FixBody>(&mut self, side: usize, body: &B) -> Result<u64, SendError> {
        self.call(side, |s, now, sink| {
            let r = s.send(now, body, sink);
            (Call::Send(r), r)
        })
    }

    /// A message built by the encoder as if `from` sent it, put in flight
    /// after what `from` wrote.
    fn inject(&mut self, from: usize, kind: u8, script: &mut Script<'_>) {
        let seq_pick = script.byte();
        let flags = script.byte();
        let n = script.u16();
        if !self.link_up {
            return;
        }
        let to = 1 - from;
        let receiver = self.sessions[to].state();
        let small = u64::from(n % 16);
        let seq = match seq_pick % 8 {
            0 | 1 => receiver.next_in,
            2 => receiver.next_in.saturating_sub(1 + small),
            3 => receiver.next_in + 1 + small,
            4 => 1,
            5 => u64::from(n),
            6 => u64::MAX - small % 2,
            _ => receiver.next_in.saturating_add(u64::from(n) << 16),
        };
        let new_seq_no = match seq_pick >> 3 & 7 {
            0 | 1 => receiver.next_in + 1 + small,
            2 => receiver.next_in,
            3 => receiver.next_in.saturating_sub(1 + small),
            4 => seq.saturating_add(1 + small),
            5 => u64::MAX - small % 2,
            6 => seq,
            _ => u64::from(n),
        };
        let version = if flags & 0x10 != 0 {
            other(self.version)
        } else {
            self.version
        };
        let sender = if flags & 0x08 != 0 {
            "INTRUDER"
        } else {
            COMP_IDS[from]
        };
        let Ok(mut header) =
            HeaderTemplate::new(version, sender.as_bytes(), COMP_IDS[to].as_bytes())
        else {
            return;
        };
        let sending_time = match flags >> 5 & 3 {
            1 => UtcTime(self.now.0.saturating_sub(300 * SEC)),
            2 => self.now.saturating_add_nanos(300 * SEC),
            _ => self.now,
        };
        let mt: &[u8] = match kind % 15 {
            0 => msg_type::HEARTBEAT,
            1 | 2 => msg_type::TEST_REQUEST,
            3 | 4 => msg_type::RESEND_REQUEST,
            5 => msg_type::REJECT,
            6 | 7 => msg_type::SEQUENCE_RESET,
            8 => msg_type::LOGOUT,
            9 | 10 => msg_type::LOGON,
            11 | 12 => {
                if from == VENUE {
                    msg_type::EXECUTION_REPORT
                } else {
                    msg_type::NEW_ORDER_SINGLE
                }
            }
            13 => b"j",
            _ => [&b"0"[..], b"A", b"4", b"2", b"8", b"D", b"ZZ", b"B"][usize::from(n % 8)],
        };
        let mut buf = vec![0u8; 8192];
        let Ok(mut m) = header.begin(&mut buf, mt, seq, sending_time) else {
            return;
        };
        match flags & 3 {
            1 => {
                m.bool(tag::POSS_DUP_FLAG, true);
                let orig = UtcTime(sending_time.0.saturating_sub(u64::from(n) * 1_000_000));
                m.time(tag::ORIG_SENDING_TIME, orig);
            }
            2 => {
                m.bool(tag::POSS_DUP_FLAG, true);
                m.time(
                    tag::ORIG_SENDING_TIME,
                    sending_time.saturating_add_nanos(SEC),
                );
            }
            3 => m.bool(tag::POSS_DUP_FLAG, true),
            _ => {}
        }
        let id = format!("T{n}");
        let credentials = self.credentials && flags & 4 == 0;
        match kind % 15 {
            0 => Heartbeat {
                test_req_id: (n & 1 != 0).then_some(id.as_bytes()),
            }
            .write_body(&mut m, version),
            1 => TestRequest {
                test_req_id: id.as_bytes(),
            }
            .write_body(&mut m, version),
            3 => {
                // The range is about what the receiver sent.
                let last = receiver.next_out;
                let begin = match n % 5 {
                    0 => 1,
                    1 => last.saturating_sub(1 + small),
                    2 => last,
                    3 => last + small,
                    _ => 0,
                };
                let end = match n >> 4 & 7 {
                    0 | 1 => 0,
                    2 => 999_999,
                    3 => begin + small,
                    4 => begin.saturating_sub(1),
                    5 => u64::MAX,
                    _ => last.saturating_sub(1),
                };
                ResendRequest {
                    begin_seq_no: begin,
                    end_seq_no: end,
                }
                .write_body(&mut m, version);
            }
            4 => {
                // Missing or malformed fields.
                match n % 3 {
                    0 => m.uint(tag::BEGIN_SEQ_NO, 1),
                    1 => m.str(tag::END_SEQ_NO, b"0"),
                    _ => {
                        m.str(tag::BEGIN_SEQ_NO, b"x1");
                        m.uint(tag::END_SEQ_NO, 0);
                    }
                }
            }
            5 => Reject {
                ref_seq_num: u64::from(n),
                ref_tag_id: Some(58),
                ref_msg_type: Some(b"D"),
                reason: Some(5),
                text: Some(b"no"),
            }
            .write_body(&mut m, version),
            6 | 7 => {
                let gap_fill = kind % 15 == 6;
                match n % 8 {
                    // NewSeqNo missing or malformed.
                    0 if n & 8 != 0 => {
                        if gap_fill {
                            m.bool(tag::GAP_FILL_FLAG, true);
                        }
                    }
                    0 => {
                        if gap_fill {
                            m.bool(tag::GAP_FILL_FLAG, true);
                        }
                        m.str(tag::NEW_SEQ_NO, b"-3");
                    }
                    _ => SequenceReset {
                        gap_fill,
                        new_seq_no,
                    }
                    .write_body(&mut m, version),
                }
            }
            8 => Logout {
                text: (n & 1 != 0).then_some(b"bye"),
            }
            .write_body(&mut m, version),
            9 | 10 => Logon {
                heart_bt_int: [30, 1, 0, 5][usize::from(n % 4)],
                reset_seq_num: kind % 15 == 10,
                username: credentials.then_some(b"alice"),
                password: credentials.then_some(b"s3cret"),
            }
            .write_body(&mut m, version),
            11 | 12 => {
                if from == VENUE {
                    acknowledgement(id.as_bytes(), None, sending_time).write_body(&mut m, version);
                } else {
                    order(id.as_bytes(), None, sending_time).write_body(&mut m, version);
                }
                if kind % 15 == 12 {
                    // A tag twice: refused by the decoder, rejected with
                    // reason 13 (or, before logon, ends the attempt).
                    m.str(tag::TEXT, b"one");
                    m.str(tag::TEXT, b"two");
                }
            }
            13 => {
                m.str(tag::TEXT, b"business");
                m.uint(379, u64::from(n));
            }
            // 2, and arbitrary fields from the input (within a re-sealed
            // envelope).
            _ => {
                let len = usize::from(n >> 8);
                m.raw(script.bytes(len));
            }
        }
        if let Ok(bytes) = m.finish() {
            self.wire[from].extend_from_slice(bytes);
            self.tampered = true;
        }
    }

    /// Everything in flight delivered, both ways, until nothing is left.
    fn exchange(&mut self) {
        for _ in 0..MAX_EXCHANGES {
            if !self.link_up || self.wire.iter().all(|w| w.is_empty()) {
                return;
            }
            for from in [US, VENUE] {
                self.deliver(from, usize::MAX, None);
            }
        }
        panic!(
            "the sessions never stop talking: {} and {} bytes in flight",
            self.wire[US].len(),
            self.wire[VENUE].len()
        );
    }

    fn converged(&self) -> bool {
        let [us, venue] = [US, VENUE].map(|i| &self.sessions[i]);
        us.is_logged_on()
            && venue.is_logged_on()
            && !us.resends_owed()
            && !venue.resends_owed()
            && us.state().next_out == venue.state().next_in
            && venue.state().next_out == us.state().next_in
    }

    /// See the module documentation.
    fn heal(&mut self) {
        for side in [US, VENUE] {
            self.set_room(side, usize::MAX);
            self.sessions[side].set_out_limit(u64::MAX);
            self.watch[side].limit = u64::MAX;
            self.sessions[side].set_out_capacity(usize::MAX);
            self.watch[side].capacity = usize::MAX;
        }
        let in_place = self.link_up && !self.tampered && self.heart_bt_int_s > 0;
        self.reach.healed_in_place = in_place;
        if !in_place {
            self.drop_link();
            self.reconnect();
        }
        self.disconnects.clear();
        let step = u64::from(self.heart_bt_int_s.max(1)) * SEC;
        for _ in 0..HEAL_ROUNDS {
            self.exchange();
            // What waited for room or a number goes from the timer.
            self.advance(0);
            self.exchange();
            if !self.link_up {
                self.parted(in_place);
                return;
            }
            if self.converged() {
                self.reach.converged = true;
                self.one_each_way();
                return;
            }
            self.advance(step);
        }
        self.exchange();
        if self.link_up && !self.converged() {
            let [us, venue] = [US, VENUE].map(|i| &self.sessions[i]);
            panic!(
                "no convergence ({}): us {:?} logged on {} owed {}, venue {:?} logged on {} owed {}",
                if in_place {
                    "in place"
                } else {
                    "after reconnecting"
                },
                us.state(),
                us.is_logged_on(),
                us.resends_owed(),
                venue.state(),
                venue.is_logged_on(),
                venue.resends_owed(),
            );
        }
        if self.link_up {
            self.reach.converged = true;
            self.one_each_way();
        } else {
            self.parted(in_place);
        }
    }

    /// A fresh connection, with room and numbers to spare and nothing
    /// garbled, ends only over sequence numbers the two sides no longer
    /// agree on (what injected or repeated messages did): one side sees a
    /// number too low and logs out, the other takes that Logout as the
    /// answer to its Logon or as a logout. (Healed in place, the sessions
    /// may be anywhere: logging out, given up on after a silence…)
    fn parted(&self, in_place: bool) {
        if in_place {
            return;
        }
        for reason in &self.disconnects {
            assert!(
                matches!(
                    reason,
                    DisconnectReason::SeqTooLow
                        | DisconnectReason::LogonRejected
                        | DisconnectReason::LogoutReceived
                ),
                "a fresh connection ended: {:?}",
                self.disconnects
            );
        }
    }

    /// Once converged, an order and a report each reach the other side, as
    /// the next message in sequence.
    fn one_each_way(&mut self) {
        for (from, kind) in [(US, 0), (VENUE, 0)] {
            let to = 1 - from;
            let delivered = self.reach.delivered;
            let seq = self
                .send_app(from, kind)
                .unwrap_or_else(|e| panic!("{} cannot send once converged: {e:?}", NAMES[from]));
            self.exchange();
            assert_eq!(
                self.reach.delivered,
                delivered + 1,
                "{}'s message {seq} not delivered once",
                NAMES[from]
            );
            assert_eq!(self.sessions[to].state().next_in, seq + 1);
        }
    }
}

/// What a message a session handed over was.
enum Sent {
    /// A new application message (its number, and it as first sent).
    App(u64, AppSent),
    /// A Logon with ResetSeqNumFlag=Y: numbering starts again.
    ResetLogon,
    Other,
}

/// Checks one message `w`'s session handed to the transport and moves the
/// watch on (see the module documentation).
fn check_sent(w: &mut Watch, bytes: &[u8], now: UtcTime, peer: &[u8], reach: &mut Reach) -> Sent {
    let name = w.name();
    assert_eq!(
        find_frame(bytes),
        FrameStatus::Complete(bytes.len()),
        "{name} sent not one frame"
    );
    let m = FixMessage::new_checked(bytes)
        .unwrap_or_else(|e| panic!("{name} sent invalid FIX ({e:?}): {bytes:?}"));
    assert_eq!(m.version(), w.version, "{name}: BeginString");
    assert_eq!(
        m.sender_comp_id(),
        Some(COMP_IDS[w.side].as_bytes()),
        "{name}: SenderCompID"
    );
    assert_eq!(m.target_comp_id(), Some(peer), "{name}: TargetCompID");
    let sending_time = match m.get_timestamp(tag::SENDING_TIME) {
        Ok(Some(t)) => t,
        other => panic!("{name}: SendingTime {other:?}"),
    };
    assert!(
        sending_time <= now && now.0 - sending_time.0 < 1_000_000,
        "{name}: SendingTime {sending_time:?} at {now:?}"
    );
    assert!(
        bytes.len() <= w.room,
        "{name}: {} bytes handed over with room for {}",
        bytes.len(),
        w.room
    );
    w.room -= bytes.len();
    let seq = m.seq_num().expect("checked header");
    let mt = m.msg_type();
    if m.poss_dup() {
        assert!(
            seq < w.expect_out,
            "{name}: PossDup {seq} at or past the next new number {}",
            w.expect_out
        );
        match m.get_timestamp(tag::ORIG_SENDING_TIME) {
            Ok(Some(orig)) => assert!(orig <= sending_time, "{name}: OrigSendingTime later"),
            other => panic!("{name}: PossDup without OrigSendingTime: {other:?}"),
        }
        if mt == msg_type::SEQUENCE_RESET {
            assert_eq!(
                m.get(tag::GAP_FILL_FLAG),
                Some(&b"Y"[..]),
                "{name}: PossDup reset"
            );
            let new = m
                .get_uint(tag::NEW_SEQ_NO)
                .ok()
                .flatten()
                .unwrap_or_else(|| panic!("{name}: GapFill without NewSeqNo"));
            assert!(
                new > seq && new <= w.expect_out,
                "{name}: GapFill {seq} -> {new} with next new number {}",
                w.expect_out
            );
            // A resend adds PossDupFlag and OrigSendingTime (and maybe a
            // BodyLength digit): one that surely fits the capacity is owed.
            let fits = |a: &AppSent| a.len + RESEND_GROWTH <= w.capacity;
            if w.ring_keeps_all() {
                if let Some((kept, _)) = w.app_sent.range(seq..new).find(|(_, a)| fits(a)) {
                    panic!(
                        "{name}: application message {kept} gap-filled though the ring keeps it"
                    );
                }
            }
            reach.gap_filled += 1;
        } else {
            let first = w
                .app_sent
                .get(&seq)
                .unwrap_or_else(|| panic!("{name}: resent {seq}, never sent as application"));
            assert_eq!(mt, &first.msg_type[..], "{name}: resend {seq} MsgType");
            assert_eq!(
                m.get(tag::ORIG_SENDING_TIME),
                Some(&first.sending_time[..]),
                "{name}: resend {seq} OrigSendingTime"
            );
            assert_eq!(app_body(&m), first.body, "{name}: resend {seq} body");
            assert!(
                bytes.len() <= w.capacity,
                "{name}: resend past the capacity"
            );
            reach.resent += 1;
        }
        return Sent::Other;
    }
    assert!(
        seq < w.limit,
        "{name}: new MsgSeqNum {seq} at limit {}",
        w.limit
    );
    if mt == msg_type::LOGON && m.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y") {
        assert_eq!(seq, 1, "{name}: reset Logon");
        w.expect_out = 2;
        w.ring_emptied();
        return Sent::ResetLogon;
    }
    assert_eq!(seq, w.expect_out, "{name}: {:?} out of sequence", mt);
    w.expect_out += 1;
    if msg_type::is_admin(mt) {
        return Sent::Other;
    }
    assert!(bytes.len() <= w.capacity, "{name}: {seq} past the capacity");
    Sent::App(
        seq,
        AppSent {
            len: bytes.len(),
            msg_type: mt.to_vec(),
            sending_time: m.get(tag::SENDING_TIME).unwrap_or_default().to_vec(),
            body: app_body(&m),
        },
    )
}

/// The script's order, ClOrdID `id`: sent through `send` and injected
/// alike.
fn order<'a>(id: &'a [u8], account: Option<&'a [u8]>, time: UtcTime) -> NewOrderSingle<'a> {
    NewOrderSingle {
        cl_ord_id: id,
        account,
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: 100,
        ord_type: OrdType::Limit,
        price: Some(Price(1_000_000)),
        time_in_force: TimeInForce::Day,
        transact_time: time,
    }
}

/// The venue's acknowledgement of order 100001 under order and execution
/// id `id`: sent through `send` and injected alike.
fn acknowledgement<'a>(id: &'a [u8], text: Option<&'a [u8]>, time: UtcTime) -> ExecutionReport<'a> {
    ExecutionReport {
        order_id: id,
        cl_ord_id: Some(b"100001"),
        orig_cl_ord_id: None,
        exec_id: id,
        exec_ref_id: None,
        exec_type: ExecType::New,
        ord_status: OrdStatus::New,
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: Some(100),
        price: Some(Price(1_000_000)),
        last_qty: None,
        last_px: None,
        leaves_qty: 100,
        cum_qty: 0,
        avg_px: Price(0),
        transact_time: Some(time),
        text,
    }
}
