//! FIX session layer: a sans-IO state machine.
//!
//! The caller moves bytes and time in and out: [`Session::on_bytes`] with
//! what TCP delivered, [`Session::on_tick`] periodically, [`Session::send`]
//! for application messages. Every outcome is reported through a sink
//! closure as an [`Event`]: bytes to write ([`Event::Send`], encoded into
//! the session's own tx buffer), application messages in sequence order
//! ([`Event::Deliver`]), logon/logout, and disconnect requests. The session
//! owns no socket and reads no clock; all storage is caller-provided slices
//! sized at start-up ([`SessionBuffers`]), so nothing allocates.
//!
//! Behaviour follows the FIX session-level rules (see `ARCHITECTURE.md` and
//! the shared notes §5). Decisions where the rules leave a choice:
//! - Messages received ahead of a gap are queued (bounded) and processed
//!   once the gap is filled ([`GapPolicy::Queue`]); with
//!   [`GapPolicy::Discard`] they are dropped and come back via the resend.
//! - A second Logon while logged on without ResetSeqNumFlag is answered
//!   with Logout and a disconnect; with ResetSeqNumFlag=Y it resets both
//!   sequence numbers (acceptor answers with its own Logon 141=Y).
//! - PossDupFlag=Y with OrigSendingTime later than SendingTime gets a
//!   session Reject (reason 10) and the sequence number is consumed; no Logout.
//! - A PossDup GapFill whose MsgSeqNum is below the one expected is a
//!   duplicate, but the part of it past what we expect still counts: with
//!   [`GapPolicy::Queue`] the answer to a ResendRequest may begin on numbers
//!   the queue already gave, and cover ones the queue had no room for.
//! - Before logon nothing is rejected: a garbled message is ignored (the
//!   logon timeout ends the attempt), but a well-framed one refused for
//!   what it holds (a repeated or misplaced tag, a bad data field) ends the
//!   attempt at once — a Logon as an invalid one, with a Logout naming the
//!   problem; the venue's Logout as a refused logon; anything else as a
//!   first message that is not a Logon.
//!
//! # A ceiling on outgoing sequence numbers
//!
//! [`Session::set_out_limit`] bounds the MsgSeqNum of every *new* message,
//! admin or application: a number at or above the limit is never sent.
//! The appliance sets it to what its journal has confirmed on disk, so
//! that a crash can never bring the session back below a number the venue
//! has seen (see [`reservation`]). A message that would need a number past
//! the limit is held back, never sent with a reused or unjournaled number:
//! [`Session::send`] refuses with [`SendError::SeqNotDurable`]; an
//! initiator's Logon waits in [`Session::logon_held`] until the limit
//! allows it; a heartbeat or TestRequest is tried again on the next tick,
//! the Heartbeat answering the peer's TestRequest with whatever comes
//! first (see below); a ResendRequest at the next out-of-sequence message. Resends and GapFills
//! reuse numbers already sent and are not limited. Each time the session
//! reaches the limit is counted ([`SessionStats::held_back`]).
//!
//! # Room in the transport
//!
//! A caller whose transport buffer is bounded tells the session its free
//! space ([`Session::set_out_room`]). Nothing is handed to the sink that
//! would not fit, so no message is ever lost between the session and the
//! wire after taking its number: an application send is refused with
//! [`SendError::TransportFull`] before taking one, an admin message waits
//! as at the limit, and the answer to a ResendRequest goes out as far as
//! the room allows and continues from whichever of [`Session::on_tick`],
//! [`Session::on_bytes`] and [`Session::send`] comes first once there is
//! room again, as does a Logon owed in answer to the peer's mid-session
//! reset (new messages wait behind both, so the peer gets its gap filled,
//! or its reset answered, in order), and then the Heartbeat owed to the
//! peer's TestRequest, whose wait for it is timed. Each wait is counted
//! ([`SessionStats::room_waits`]).

pub mod reservation;
pub mod store;
#[cfg(test)]
mod tests;

use core::fmt;
use heapless::String;
use protocol::fix::encode::{HeaderTemplate, MsgBuilder, TimestampPrecision};
use protocol::fix::messages::{self, FixBody, Logon, ResendRequest};
use protocol::fix::{
    find_frame, msg_type, reject_reason, tag, FixDecoder, FixError, FixMessage, FixVersion,
    FrameStatus, UtcTime, SOH,
};
use store::{InboundQueue, SentRecord, SentStore};

/// Which side opened the TCP connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Initiator,
    Acceptor,
}

/// What to do with messages that arrive ahead of a sequence gap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GapPolicy {
    /// Keep them (bounded by the queue buffer) and process them in order
    /// once the gap is filled.
    Queue,
    /// Drop them; the ResendRequest asks for them again.
    Discard,
}

/// A password that never prints.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Password(String<64>);

impl Password {
    /// `None` when longer than 64 bytes.
    pub fn new(text: &str) -> Option<Password> {
        String::try_from(text).ok().map(Password)
    }

    /// The secret itself, for putting on the wire only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Session configuration. `Debug` never shows the password.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub role: Role,
    pub version: FixVersion,
    pub sender_comp_id: String<32>,
    pub target_comp_id: String<32>,
    /// HeartBtInt(108) we propose (initiator) or accept as default.
    pub heart_bt_int_s: u32,
    /// Maximum |SendingTime − now| accepted; `None` disables the check.
    pub sending_time_tolerance_ns: Option<u64>,
    /// Initiator: sent in Logon. Acceptor: required in the peer's Logon when set.
    pub username: Option<String<64>>,
    pub password: Option<Password>,
    /// Initiator: send ResetSeqNumFlag=Y on every Logon (both sides start at 1).
    pub reset_on_logon: bool,
    pub logon_timeout_ns: u64,
    pub logout_timeout_ns: u64,
    pub precision: TimestampPrecision,
    pub gap_policy: GapPolicy,
}

/// What a session's Logon carries and checks: an initiator's username,
/// password and proposed HeartBtInt; the credentials an acceptor requires
/// of its peer. `Debug` never shows the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogonTerms {
    pub username: Option<String<64>>,
    pub password: Option<Password>,
    pub heart_bt_int_s: u32,
}

impl SessionConfig {
    /// The terms the next Logon carries (see [`Session::set_logon_terms`]).
    pub fn logon_terms(&self) -> LogonTerms {
        LogonTerms {
            username: self.username.clone(),
            password: self.password.clone(),
            heart_bt_int_s: self.heart_bt_int_s,
        }
    }

    /// Reasonable defaults: 30 s heartbeat, 2 min SendingTime tolerance,
    /// 10 s logon/logout timeouts, ms timestamps, queue ahead-of-gap messages.
    pub fn new(role: Role, version: FixVersion, sender: &str, target: &str) -> Option<Self> {
        Some(SessionConfig {
            role,
            version,
            sender_comp_id: String::try_from(sender).ok()?,
            target_comp_id: String::try_from(target).ok()?,
            heart_bt_int_s: 30,
            sending_time_tolerance_ns: Some(120 * 1_000_000_000),
            username: None,
            password: None,
            reset_on_logon: false,
            logon_timeout_ns: 10 * 1_000_000_000,
            logout_timeout_ns: 10 * 1_000_000_000,
            precision: TimestampPrecision::Millis,
            gap_policy: GapPolicy::Queue,
        })
    }
}

/// Sequence numbers to persist between runs and restore at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionState {
    /// MsgSeqNum of the next message we send.
    pub next_out: u64,
    /// MsgSeqNum we expect next from the peer.
    pub next_in: u64,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            next_out: 1,
            next_in: 1,
        }
    }
}

/// Caller-provided storage.
pub struct SessionBuffers<'a> {
    /// Reassembly of the inbound TCP stream; at least one maximum message.
    pub rx: &'a mut [u8],
    /// Scratch for outgoing messages; one message at a time.
    pub tx: &'a mut [u8],
    /// Ring of sent application messages for resends.
    pub store: &'a mut [u8],
    /// Inbound messages held back by a gap.
    pub queue: &'a mut [u8],
    /// The inbound decoder with the field layouts it has learned (about
    /// 9 KiB: kept out of the session so that moving a session is cheap).
    pub decoder: &'a mut FixDecoder,
}

/// Why the session wants the transport closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    /// We sent Logout and the peer confirmed.
    LogoutCompleted,
    /// The peer sent Logout and we answered.
    LogoutReceived,
    /// The peer answered our Logon with Logout.
    LogonRejected,
    /// First message was not a Logon.
    FirstMessageNotLogon,
    /// Logon carried bad fields (HeartBtInt, EncryptMethod, credentials…).
    InvalidLogon,
    CompIdMismatch,
    BeginStringMismatch,
    /// MsgSeqNum lower than expected without PossDupFlag.
    SeqTooLow,
    MissingSeqNum,
    SendingTimeAccuracy,
    DuplicateLogon,
    TestRequestTimeout,
    LogonTimeout,
    LogoutTimeout,
    /// An acceptor could not answer a Logon: no outgoing sequence number
    /// below the limit ([`Session::set_out_limit`]).
    SeqNotDurable,
    /// An acceptor could not answer a Logon: no room in the transport
    /// ([`Session::set_out_room`]).
    TransportFull,
}

/// What happened; delivered to the sink in order.
pub enum Event<'m> {
    /// Write these bytes to the transport.
    Send(&'m [u8]),
    /// An application message, in sequence order.
    Deliver(&'m FixMessage<'m>),
    /// A session-level Reject(3) from the peer.
    PeerReject(&'m FixMessage<'m>),
    /// The peer's Logout(5), ahead of the `Disconnect` it leads to. Its
    /// Text(58), when there is one, is the peer's reason (a venue refusing a
    /// Logon says why there, e.g. "MsgSeqNum too low, expecting 6 but
    /// received 3"): the one place a user learns what to fix.
    PeerLogout(&'m FixMessage<'m>),
    LoggedOn,
    LoggedOut,
    /// Close the transport (after writing any `Send` that preceded it).
    Disconnect(DisconnectReason),
    /// Input dropped without consuming a sequence number (garbled, bad
    /// BodyLength/CheckSum, receive buffer overflow).
    Dropped(FixError),
}

impl fmt::Debug for Event<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Send(b) => write!(f, "Send({})", protocol::fix::Masked(b)),
            Event::Deliver(m) => write!(f, "Deliver({m:?})"),
            Event::PeerReject(m) => write!(f, "PeerReject({m:?})"),
            Event::PeerLogout(m) => write!(f, "PeerLogout({m:?})"),
            Event::LoggedOn => f.write_str("LoggedOn"),
            Event::LoggedOut => f.write_str("LoggedOut"),
            Event::Disconnect(r) => write!(f, "Disconnect({r:?})"),
            Event::Dropped(e) => write!(f, "Dropped({e:?})"),
        }
    }
}

/// Why [`Session::send`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    NotLoggedOn,
    /// Application sends must not use session-level message types.
    AdminMsgType,
    Encode(FixError),
    /// The next MsgSeqNum is not below the limit set with
    /// [`Session::set_out_limit`]; nothing was sent or consumed.
    SeqNotDurable,
    /// The transport has no room for the message now
    /// ([`Session::set_out_room`]), or resends owed to the peer wait for
    /// it; nothing was sent or consumed.
    TransportFull,
    /// The message is longer than the transport could ever take
    /// ([`Session::set_out_capacity`]); nothing was sent or consumed.
    TooLarge,
}

/// Counters for telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    pub garbled: u64,
    pub rejects_sent: u64,
    pub resend_requests_sent: u64,
    pub messages_resent: u64,
    pub gap_fills_sent: u64,
    pub duplicates_ignored: u64,
    pub queued: u64,
    /// Times the session reached its limit ([`Session::set_out_limit`]) and
    /// held messages back: once per episode, however many it held (an
    /// application send refused is also told to the caller).
    pub held_back: u64,
    /// Times a message waited for room in the transport
    /// ([`Session::set_out_room`]): once per episode.
    pub room_waits: u64,
    /// Application messages forgotten with a lost connection
    /// ([`Session::forget_sent`]) that the peer then asked for: it never
    /// got them, and they were gap-filled.
    pub lost_with_connection: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Disconnected,
    /// Acceptor, connected, waiting for the peer's Logon.
    AwaitingLogon,
    /// Initiator, connected; the Logon waits for a MsgSeqNum below the limit.
    LogonHeld,
    /// Initiator, Logon sent at the given time.
    LogonSent(UtcTime),
    Active,
    /// We sent Logout at the given time and wait for the answer.
    LogoutSent(UtcTime),
}

/// Outbound side: header template, tx scratch, sequence, timers.
struct Outbound<'a> {
    header: HeaderTemplate,
    tx: &'a mut [u8],
    next_out: u64,
    /// No new message is sent with a MsgSeqNum at or above this.
    limit: u64,
    /// Times the session reached `limit` (copied into the session's stats).
    held_back: u64,
    /// At `limit` now: the next refusal is not a new episode.
    holding: bool,
    /// Bytes the transport can take now ([`Session::set_out_room`]); each
    /// message handed to the sink uses its length.
    room: usize,
    /// The most the transport can ever take at once
    /// ([`Session::set_out_capacity`]): a resend longer than this is
    /// gap-filled, an application message longer is refused.
    capacity: usize,
    /// Times a message waited for room (copied into the session's stats).
    room_waits: u64,
    /// Waiting for room now: the next refusal is not a new episode.
    short: bool,
    /// Resends still owed to the peer's ResendRequest: (next MsgSeqNum to
    /// resend or gap-fill, last one asked for). New messages wait behind
    /// them, so the peer receives its gap filled in sequence order.
    owed: Option<(u64, u64)>,
    /// The peer reset the sequence numbers mid-session and our Logon 141=Y
    /// answering it could not go yet (limit or room): it is tried again at
    /// every `on_tick`, `on_bytes` and `send`, and nothing else may take
    /// MsgSeqNum 1 before it.
    reset_answer_owed: bool,
    last_sent: UtcTime,
}

impl Outbound<'_> {
    /// Whether the next MsgSeqNum may be used; counts the first refusal
    /// at a limit.
    fn may_send(&mut self) -> bool {
        let ok = self.next_out < self.limit;
        if !ok {
            self.hold();
        }
        ok
    }

    fn hold(&mut self) {
        if !self.holding {
            self.holding = true;
            self.held_back += 1;
        }
    }

    /// Whether a new message may go out now: not while resends are owed
    /// (they keep the sequence order) and not at the limit.
    fn may_send_new(&mut self) -> bool {
        if self.reset_answer_owed {
            // Held by whatever holds the answer (counted when it failed).
            return false;
        }
        if self.owed.is_some() {
            self.wait_for_room();
            return false;
        }
        self.may_send()
    }

    fn wait_for_room(&mut self) {
        if !self.short {
            self.short = true;
            self.room_waits += 1;
        }
    }

    /// Hands `tx[s..e]` to the sink if the transport has room for it;
    /// `false` (nothing handed over) if not.
    fn deliver<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        (s, e): (usize, usize),
        sink: &mut F,
    ) -> bool {
        let len = e - s;
        if len > self.room {
            self.wait_for_room();
            return false;
        }
        self.room -= len;
        self.short = false;
        self.last_sent = now;
        sink(Event::Send(&self.tx[s..e]));
        true
    }

    /// Encodes an admin message with the next sequence number and hands it
    /// to the sink; `false` when it was not sent (the limit, no room in the
    /// transport, resends still owed, or an encoding failure) and the
    /// number is still free.
    fn send_admin<B: FixBody, F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        body: &B,
        sink: &mut F,
    ) -> bool {
        if !self.may_send_new() {
            return false;
        }
        let seq = self.next_out;
        let version = self.header.version();
        let result = self
            .header
            .begin(self.tx, B::MSG_TYPE, seq, now)
            .and_then(|mut m| {
                body.write_body(&mut m, version);
                m.finish_range()
            });
        // Admin messages are small and built from validated values; an
        // encoding failure means the tx buffer is misconfigured. The sequence
        // number is not consumed so the stream stays consistent.
        match result {
            Ok(range) if self.deliver(now, range, sink) => {
                self.next_out += 1;
                true
            }
            _ => false,
        }
    }

    /// Resends a stored message (PossDupFlag, OrigSendingTime). A message
    /// whose resend no longer encodes (the added fields overflow the tx
    /// buffer) or is longer than the transport could ever take is
    /// gap-filled instead, so the peer is never left waiting for it.
    fn resend<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        rec: &SentRecord<'_>,
        sink: &mut F,
    ) -> Resent {
        let result = self
            .header
            .begin(self.tx, rec.msg_type(), rec.seq, now)
            .and_then(|mut m| {
                m.bool(tag::POSS_DUP_FLAG, true);
                m.time(tag::ORIG_SENDING_TIME, rec.orig_sending_time);
                m.raw(rec.body.0);
                m.raw(rec.body.1);
                m.finish_range()
            });
        let range = match result {
            Ok((s, e)) if e - s <= self.capacity => (s, e),
            _ => {
                return match self.gap_fill(now, rec.seq, rec.seq + 1, sink) {
                    true => Resent::GapFilled,
                    false => Resent::NoRoom,
                };
            }
        };
        match self.deliver(now, range, sink) {
            true => Resent::Message,
            false => Resent::NoRoom,
        }
    }

    /// A SequenceReset-GapFill from `seq` to `new_seq_no`; `false` if the
    /// transport has no room for it now.
    fn gap_fill<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        seq: u64,
        new_seq_no: u64,
        sink: &mut F,
    ) -> bool {
        let result = self
            .header
            .begin(self.tx, msg_type::SEQUENCE_RESET, seq, now)
            .and_then(|mut m| {
                m.bool(tag::POSS_DUP_FLAG, true);
                m.time(tag::ORIG_SENDING_TIME, now);
                m.bool(tag::GAP_FILL_FLAG, true);
                m.uint(tag::NEW_SEQ_NO, new_seq_no);
                m.finish_range()
            });
        // A GapFill is ~100 bytes of validated values: it fails to encode
        // only with a tx buffer below `MIN_BUFFER`, which `new` refuses.
        match result {
            Ok(range) => self.deliver(now, range, sink),
            Err(_) => {
                debug_assert!(false, "a GapFill always encodes");
                true
            }
        }
    }
}

/// What became of a stored message the peer asked for again.
enum Resent {
    Message,
    /// Sent as a GapFill over its number (see [`Outbound::resend`]).
    GapFilled,
    /// No room in the transport now: nothing was sent.
    NoRoom,
}

/// Forgotten application messages whose loss a later ResendRequest can
/// still tell (the newest; a connection rarely loses more in flight).
const FORGOTTEN: usize = 256;

/// Session state that message handling mutates (everything but rx/queue).
struct Core<'a> {
    config: SessionConfig,
    out: Outbound<'a>,
    store: SentStore<'a>,
    phase: Phase,
    next_in: u64,
    heart_bt_int_ns: u64,
    last_received: UtcTime,
    /// Sent TestRequest: (when, id counter).
    test_request: Option<(UtcTime, u64)>,
    test_request_counter: u64,
    /// Highest sequence number a pending ResendRequest of ours covers.
    resend_until: Option<u64>,
    /// We sent Logon 141=Y mid-session and wait for the peer's Logon 141=Y.
    reset_requested: bool,
    /// The TestReqID of a TestRequest whose Heartbeat could not go yet
    /// (limit or room): answered as soon as one can go (see
    /// `send_what_waited_for_room`). An ID longer than this
    /// holds is left unanswered (the peer asks again or gives up).
    test_answer_owed: Option<heapless::Vec<u8, 128>>,
    /// The numbers of the newest application messages [`Session::forget_sent`]
    /// forgot: a later ResendRequest over one says the peer never got it.
    forgotten: heapless::Deque<u64, FORGOTTEN>,
    stats: SessionStats,
    /// Inbound decoding, with the field layouts the peer's messages use.
    decoder: &'a mut FixDecoder,
}

/// A FIX session (see the module docs).
pub struct Session<'a> {
    core: Core<'a>,
    rx: &'a mut [u8],
    rx_len: usize,
    queue: InboundQueue<'a>,
}

impl fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("config", &self.core.config)
            .field("phase", &self.core.phase)
            .field("state", &self.state())
            .field("stats", &self.core.stats)
            .finish()
    }
}

/// Why a session could not be created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// A CompID is empty, longer than 32 bytes or not printable ASCII.
    CompId,
    /// rx or tx buffer smaller than [`MIN_BUFFER`].
    BufferTooSmall,
    /// A sequence number of 0.
    SeqNum,
}

/// Smallest rx/tx buffer accepted.
pub const MIN_BUFFER: usize = 1024;

impl<'a> Session<'a> {
    pub fn new(
        config: SessionConfig,
        state: SessionState,
        buffers: SessionBuffers<'a>,
    ) -> Result<Self, ConfigError> {
        let header = HeaderTemplate::new(
            config.version,
            config.sender_comp_id.as_bytes(),
            config.target_comp_id.as_bytes(),
        )
        .map_err(|_| ConfigError::CompId)?
        .with_precision(config.precision);
        if buffers.rx.len() < MIN_BUFFER || buffers.tx.len() < MIN_BUFFER {
            return Err(ConfigError::BufferTooSmall);
        }
        if state.next_in == 0 || state.next_out == 0 {
            return Err(ConfigError::SeqNum);
        }
        let heart_bt_int_ns = config.heart_bt_int_s as u64 * 1_000_000_000;
        Ok(Session {
            core: Core {
                config,
                out: Outbound {
                    header,
                    tx: buffers.tx,
                    next_out: state.next_out,
                    limit: u64::MAX,
                    held_back: 0,
                    holding: false,
                    room: usize::MAX,
                    capacity: usize::MAX,
                    room_waits: 0,
                    short: false,
                    owed: None,
                    reset_answer_owed: false,
                    last_sent: UtcTime(0),
                },
                store: SentStore::new(buffers.store),
                phase: Phase::Disconnected,
                next_in: state.next_in,
                heart_bt_int_ns,
                last_received: UtcTime(0),
                test_request: None,
                test_request_counter: 0,
                resend_until: None,
                reset_requested: false,
                test_answer_owed: None,
                forgotten: heapless::Deque::new(),
                stats: SessionStats::default(),
                decoder: buffers.decoder,
            },
            rx: buffers.rx,
            rx_len: 0,
            queue: InboundQueue::new(buffers.queue),
        })
    }

    /// Sequence numbers to persist.
    pub fn state(&self) -> SessionState {
        SessionState {
            next_out: self.core.out.next_out,
            next_in: self.core.next_in,
        }
    }

    pub fn stats(&self) -> SessionStats {
        SessionStats {
            held_back: self.core.out.held_back,
            room_waits: self.core.out.room_waits,
            ..self.core.stats
        }
    }

    /// The transport can take `bytes` more now (for example the free space
    /// of the buffer the caller writes [`Event::Send`] bytes into). Every
    /// message handed to the sink uses its length from this, until the
    /// caller sets it again; a message that does not fit is not sent and
    /// takes no sequence number: [`Session::send`] refuses with
    /// [`SendError::TransportFull`], admin messages are tried again from
    /// [`Session::on_tick`] like those held by the limit, and resends owed
    /// to a ResendRequest continue from where they stopped (new messages
    /// wait behind them). `usize::MAX`, the default, is a transport that
    /// takes everything (a blocking socket).
    pub fn set_out_room(&mut self, bytes: usize) {
        let out = &mut self.core.out;
        if bytes > out.room {
            // Room came back: a wait after this is a new episode.
            out.short = false;
        }
        out.room = bytes;
    }

    /// The most the transport can ever take at once (its buffer's size;
    /// `usize::MAX`, the default, for no bound). A resend longer than this
    /// — a resend carries PossDupFlag and OrigSendingTime on top of the
    /// original — is gap-filled rather than owed forever, and an
    /// application message longer is refused ([`SendError::TooLarge`]).
    pub fn set_out_capacity(&mut self, bytes: usize) {
        self.core.out.capacity = bytes;
    }

    /// Resends owed to the peer's ResendRequest are still waiting for room
    /// in the transport.
    pub fn resends_owed(&self) -> bool {
        self.core.out.owed.is_some()
    }

    /// No new message — admin or application — goes out with a MsgSeqNum
    /// at or above `limit` (see the module docs); `u64::MAX`, the default,
    /// is no limit. The appliance passes what its journal has confirmed.
    pub fn set_out_limit(&mut self, limit: u64) {
        let out = &mut self.core.out;
        out.limit = limit;
        if out.next_out < limit {
            out.holding = false;
        }
    }

    /// The limit in force ([`Session::set_out_limit`]).
    pub fn out_limit(&self) -> u64 {
        self.core.out.limit
    }

    /// An initiator is connected and its Logon waits for the limit to
    /// allow a MsgSeqNum (sent from [`Session::on_tick`] once it does).
    pub fn logon_held(&self) -> bool {
        self.core.phase == Phase::LogonHeld
    }

    pub fn config(&self) -> &SessionConfig {
        &self.core.config
    }

    /// New terms for the next Logon (a venue's rotated password, another
    /// username, another heartbeat interval), from a configuration applied
    /// while the session runs. A session that is logged on is not disturbed:
    /// credentials are only ever checked at logon, and the heartbeat
    /// interval agreed at logon stays in force until the next one. A Logon
    /// that is held back (see [`Session::logon_held`]) has not been sent yet
    /// and goes out with the new terms.
    pub fn set_logon_terms(&mut self, terms: LogonTerms) {
        let c = &mut self.core;
        c.config.username = terms.username;
        c.config.password = terms.password;
        c.config.heart_bt_int_s = terms.heart_bt_int_s;
        if c.phase == Phase::LogonHeld {
            c.heart_bt_int_ns = terms.heart_bt_int_s as u64 * 1_000_000_000;
        }
    }

    pub fn is_logged_on(&self) -> bool {
        matches!(self.core.phase, Phase::Active | Phase::LogoutSent(_))
    }

    /// Heartbeat interval in force (the peer's for an acceptor).
    pub fn heart_bt_int_ns(&self) -> u64 {
        self.core.heart_bt_int_ns
    }

    /// The transport is connected: an initiator sends Logon, an acceptor
    /// waits for one.
    pub fn connect<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, mut sink: F) {
        self.rx_len = 0;
        self.queue.clear();
        let c = &mut self.core;
        c.last_received = now;
        c.test_request = None;
        c.resend_until = None;
        c.reset_requested = false;
        c.test_answer_owed = None;
        c.out.reset_answer_owed = false;
        // What was owed belonged to the old connection: the peer asks again.
        c.out.owed = None;
        match c.config.role {
            Role::Acceptor => c.phase = Phase::AwaitingLogon,
            Role::Initiator => {
                let reset = c.config.reset_on_logon;
                if reset {
                    c.out.next_out = 1;
                    c.next_in = 1;
                    c.forget_sent();
                }
                c.heart_bt_int_ns = c.config.heart_bt_int_s as u64 * 1_000_000_000;
                c.phase = if c.send_logon(now, reset, &mut sink) {
                    Phase::LogonSent(now)
                } else {
                    Phase::LogonHeld
                };
            }
        }
    }

    /// The transport closed (by us after `Disconnect`, or by the peer).
    pub fn disconnected(&mut self) {
        self.core.phase = Phase::Disconnected;
        self.core.out.owed = None;
        self.core.out.reset_answer_owed = false;
        self.core.test_answer_owed = None;
        self.rx_len = 0;
        self.queue.clear();
    }

    /// Application messages sent so far are never resent: a ResendRequest
    /// that covers them is answered with a GapFill. For a venue that
    /// cancels on disconnect, once the connection is lost: the OMS has
    /// finished every order sent before (as the venue has), and a
    /// NewOrderSingle resent after the next Logon — the venue never got it,
    /// or got it and cancelled it — would rest at the venue with nothing on
    /// our side tracking it.
    pub fn forget_sent(&mut self) {
        let c = &mut self.core;
        for rec in c.store.iter() {
            if c.forgotten.is_full() {
                c.forgotten.pop_front();
            }
            let _ = c.forgotten.push_back(rec.seq);
        }
        c.store.clear();
    }

    /// The ClOrdID (11) and MsgType of the application message we sent
    /// under `seq`, while it is kept for resends: what a session-level
    /// Reject (RefSeqNum 45) refused. The ClOrdID is copied into `buf`
    /// (`None` when the message has none, or it does not fit).
    pub fn sent_cl_ord_id<'b>(&self, seq: u64, buf: &'b mut [u8]) -> Option<(&'b [u8], [u8; 2])> {
        let rec = self.core.store.iter().find(|r| r.seq == seq)?;
        let mut kind = [0u8; 2];
        kind[..rec.msg_type().len()].copy_from_slice(rec.msg_type());
        // The body may wrap around the ring's end: look for "\x0111=" (or
        // "11=" at its very start) across both parts.
        let part = |i: usize| {
            if i < rec.body.0.len() {
                rec.body.0.get(i).copied()
            } else {
                rec.body.1.get(i - rec.body.0.len()).copied()
            }
        };
        let len = rec.body.0.len() + rec.body.1.len();
        let mut i = 0;
        while i + 3 <= len {
            let starts = i == 0 || part(i - 1) == Some(SOH);
            if starts
                && part(i) == Some(b'1')
                && part(i + 1) == Some(b'1')
                && part(i + 2) == Some(b'=')
            {
                let mut n = 0;
                let mut j = i + 3;
                while let Some(b) = part(j) {
                    if b == SOH {
                        break;
                    }
                    *buf.get_mut(n)? = b;
                    n += 1;
                    j += 1;
                }
                return Some((&buf[..n], kind));
            }
            i += 1;
        }
        None
    }

    /// Initiates a Logout; `false` when none was sent (not logged on, or
    /// held back by the limit: the caller may close the transport instead).
    pub fn logout<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        text: Option<&[u8]>,
        mut sink: F,
    ) -> bool {
        if self.core.phase != Phase::Active {
            return false;
        }
        self.core.continue_resend(now, &mut sink);
        let sent = self
            .core
            .out
            .send_admin(now, &messages::Logout { text }, &mut sink);
        if sent {
            self.core.phase = Phase::LogoutSent(now);
        }
        sent
    }

    /// Mid-session sequence reset: sends Logon with ResetSeqNumFlag=Y and
    /// MsgSeqNum 1; both sides continue from 1 once the peer answers in kind.
    /// `false` when nothing was sent (not logged on, an earlier reset still
    /// waiting for the peer's answer, MsgSeqNum 1 not below the limit, no
    /// room in the transport, or resends or the answer to the peer's own
    /// reset still owed) and the sequence numbers are unchanged.
    pub fn reset_sequence<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, mut sink: F) -> bool {
        let c = &mut self.core;
        if c.phase != Phase::Active || c.reset_requested {
            // A second reset before the answer to the first draws a second
            // answer, which would be taken for a reset of the peer's own and
            // answered: two sessions would trade resets for ever.
            return false;
        }
        if c.out.limit <= 1 {
            c.out.hold();
            return false;
        }
        c.continue_resend(now, &mut sink);
        // Nothing changes unless the Logon goes: a number 1 taken without
        // it would reach the peer as a number far too low.
        let before = c.out.next_out;
        c.out.next_out = 1;
        if !c.send_logon(now, true, &mut sink) {
            c.out.next_out = before;
            return false;
        }
        c.forget_sent();
        c.reset_requested = true;
        true
    }

    /// Sends an application message; returns its MsgSeqNum.
    pub fn send<B: FixBody, F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        body: &B,
        mut sink: F,
    ) -> Result<u64, SendError> {
        let c = &mut self.core;
        if c.phase != Phase::Active {
            return Err(SendError::NotLoggedOn);
        }
        if msg_type::is_admin(B::MSG_TYPE) {
            return Err(SendError::AdminMsgType);
        }
        // Resends owed first: the room may have come back since. So may an
        // owed answer to the peer's reset, which takes MsgSeqNum 1.
        c.send_what_waited_for_room(now, &mut sink);
        if c.out.reset_answer_owed {
            // MsgSeqNum 1 belongs to the Logon answering the peer's reset.
            return Err(if c.out.limit <= 1 {
                SendError::SeqNotDurable
            } else {
                SendError::TransportFull
            });
        }
        if c.out.owed.is_some() {
            c.out.wait_for_room();
            return Err(SendError::TransportFull);
        }
        if !c.out.may_send() {
            return Err(SendError::SeqNotDurable);
        }
        let seq = c.out.next_out;
        let version = c.out.header.version();
        let mut m: MsgBuilder<'_, '_> = c
            .out
            .header
            .begin(c.out.tx, B::MSG_TYPE, seq, now)
            .map_err(SendError::Encode)?;
        let body_start = m.position();
        body.write_body(&mut m, version);
        let (s, e) = m.finish_range().map_err(SendError::Encode)?;
        if e - s > c.out.capacity {
            return Err(SendError::TooLarge);
        }
        if e - s > c.out.room {
            c.out.wait_for_room();
            return Err(SendError::TransportFull);
        }
        c.out.next_out += 1;
        // The bytes go to the transport first; keeping them for resends is
        // bookkeeping, done once they are on their way. (The room was
        // checked above: `deliver` hands them over.)
        c.out.deliver(now, (s, e), &mut sink);
        // A record too large for the ring is simply not kept; a resend
        // request for it is answered with a GapFill.
        let _ = c
            .store
            .push(seq, now, B::MSG_TYPE, &c.out.tx[body_start..e - 7]);
        Ok(seq)
    }

    /// Feeds bytes received from the transport.
    pub fn on_bytes<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, mut data: &[u8], mut sink: F) {
        // Resends owed first: the room may have come back since, and the
        // answers to these messages must not wait behind them needlessly.
        if matches!(self.core.phase, Phase::Active | Phase::LogoutSent(_)) {
            self.core.send_what_waited_for_room(now, &mut sink);
        }
        while !data.is_empty() {
            let room = self.rx.len() - self.rx_len;
            let take = room.min(data.len());
            self.rx[self.rx_len..self.rx_len + take].copy_from_slice(&data[..take]);
            self.rx_len += take;
            data = &data[take..];
            self.process_rx(now, &mut sink);
            if self.rx_len == self.rx.len() {
                // A frame larger than the buffer can never complete: drop it.
                self.core.stats.garbled += 1;
                sink(Event::Dropped(FixError::BadBodyLength));
                self.rx_len = 0;
            }
            if self.core.phase == Phase::Disconnected {
                return;
            }
        }
    }

    fn process_rx<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, sink: &mut F) {
        let mut at = 0;
        while at < self.rx_len && self.core.phase != Phase::Disconnected {
            let pending = &self.rx[at..self.rx_len];
            match find_frame(pending) {
                FrameStatus::Complete(n) => {
                    let frame = &pending[..n];
                    self.core
                        .handle_frame(now, frame, Some(&mut self.queue), sink);
                    at += n;
                    self.core.drain_queue(now, &mut self.queue, sink);
                }
                FrameStatus::Garbage(n) => {
                    self.core.stats.garbled += 1;
                    sink(Event::Dropped(FixError::BadBodyLength));
                    at += n;
                }
                FrameStatus::Incomplete => break,
            }
        }
        self.rx.copy_within(at..self.rx_len, 0);
        self.rx_len -= at;
    }

    /// Drives the timers: heartbeats, test requests, logon/logout timeouts.
    pub fn on_tick<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, mut sink: F) {
        let c = &mut self.core;
        if matches!(c.phase, Phase::Active | Phase::LogoutSent(_)) {
            c.send_what_waited_for_room(now, &mut sink);
        }
        match c.phase {
            Phase::Disconnected | Phase::AwaitingLogon => {}
            Phase::LogonHeld => {
                let reset = c.config.reset_on_logon;
                if c.send_logon(now, reset, &mut sink) {
                    c.phase = Phase::LogonSent(now);
                }
            }
            Phase::LogonSent(at) => {
                if now.nanos_since(at) >= c.config.logon_timeout_ns {
                    c.disconnect(DisconnectReason::LogonTimeout, &mut sink);
                }
            }
            Phase::LogoutSent(at) => {
                if now.nanos_since(at) >= c.config.logout_timeout_ns {
                    c.disconnect(DisconnectReason::LogoutTimeout, &mut sink);
                }
            }
            Phase::Active => {
                let hb = c.heart_bt_int_ns;
                if hb == 0 {
                    return;
                }
                if let Some((sent, _)) = c.test_request {
                    if now.nanos_since(sent) >= hb {
                        c.disconnect(DisconnectReason::TestRequestTimeout, &mut sink);
                        return;
                    }
                } else if now.nanos_since(c.last_received) >= hb + hb / 5 {
                    // Nothing heard for HeartBtInt plus 20% transmission slack.
                    c.test_request_counter += 1;
                    let mut id = [0u8; 24];
                    let text = test_req_id(c.test_request_counter, &mut id);
                    let request = messages::TestRequest { test_req_id: text };
                    // Held back or not, the peer has a HeartBtInt more to
                    // show it is alive before the session gives up on it.
                    c.out.send_admin(now, &request, &mut sink);
                    c.test_request = Some((now, c.test_request_counter));
                    return;
                }
                if now.nanos_since(c.out.last_sent) >= hb {
                    c.out
                        .send_admin(now, &messages::Heartbeat { test_req_id: None }, &mut sink);
                }
            }
        }
    }
}

fn test_req_id(counter: u64, out: &mut [u8; 24]) -> &[u8] {
    out[..4].copy_from_slice(b"TEST");
    let mut digits = [0u8; 20];
    let n = protocol::fix::encode::format_uint(counter, &mut digits);
    out[4..4 + n].copy_from_slice(&digits[20 - n..]);
    &out[..4 + n]
}

/// Outcome of the sequence-number check for one message.
enum SeqCheck {
    Expected,
    TooHigh,
    TooLow,
}

impl Core<'_> {
    /// The sent messages are gone with a sequence reset: nothing is kept
    /// for resends and nothing is owed.
    fn forget_sent(&mut self) {
        self.store.clear();
        self.out.owed = None;
    }

    /// Sends what a ResendRequest asked for, from where it stopped, while
    /// the transport has room; clears `owed` when all is out.
    fn continue_resend<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, sink: &mut F) {
        let Some((mut cursor, end)) = self.out.owed else {
            return;
        };
        let out = &mut self.out;
        let stats = &mut self.stats;
        for rec in self.store.iter() {
            if rec.seq < cursor {
                continue;
            }
            if rec.seq > end {
                break;
            }
            if rec.seq > cursor {
                if !out.gap_fill(now, cursor, rec.seq, sink) {
                    out.owed = Some((cursor, end));
                    return;
                }
                stats.gap_fills_sent += 1;
                cursor = rec.seq;
            }
            match out.resend(now, &rec, sink) {
                Resent::Message => stats.messages_resent += 1,
                Resent::GapFilled => stats.gap_fills_sent += 1,
                Resent::NoRoom => {
                    out.owed = Some((cursor, end));
                    return;
                }
            }
            cursor = rec.seq + 1;
        }
        if cursor <= end {
            if !out.gap_fill(now, cursor, end + 1, sink) {
                out.owed = Some((cursor, end));
                return;
            }
            stats.gap_fills_sent += 1;
        }
        out.owed = None;
    }

    /// What waited for room and goes ahead of anything new, in order: the
    /// resends owed to a ResendRequest, an owed answer to the peer's reset,
    /// then the Heartbeat owed to the peer's TestRequest (`on_tick`,
    /// `on_bytes` and `send` each start with it, so the peer, whose wait
    /// for that Heartbeat is timed, does not wait for our next timer).
    #[inline(always)]
    fn send_what_waited_for_room<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, sink: &mut F) {
        // (One test on the order path; the rest is off it.)
        if self.out.owed.is_some() || self.out.reset_answer_owed || self.test_answer_owed.is_some()
        {
            self.send_what_waited(now, sink);
        }
    }

    #[cold]
    #[inline(never)]
    fn send_what_waited<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, sink: &mut F) {
        self.continue_resend(now, sink);
        if self.out.reset_answer_owed {
            self.answer_reset(now, sink);
        }
        // Behind both: `send_admin` holds it while either is still owed.
        if let Some(id) = self.test_answer_owed.take() {
            let answer = messages::Heartbeat {
                test_req_id: Some(&id),
            };
            if !self.out.send_admin(now, &answer, sink) {
                self.test_answer_owed = Some(id);
            }
        }
    }

    /// Answers the peer's mid-session reset with our Logon 141=Y at
    /// MsgSeqNum 1, or owes it (see `Outbound::reset_answer_owed`).
    fn answer_reset<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, sink: &mut F) {
        self.out.reset_answer_owed = false;
        self.out.reset_answer_owed = !self.send_logon(now, true, sink);
    }

    fn disconnect<F: FnMut(Event<'_>)>(&mut self, reason: DisconnectReason, sink: &mut F) {
        let was_logged_on = matches!(self.phase, Phase::Active | Phase::LogoutSent(_));
        self.phase = Phase::Disconnected;
        if was_logged_on {
            sink(Event::LoggedOut);
        }
        sink(Event::Disconnect(reason));
    }

    fn logout_and_disconnect<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        text: &[u8],
        reason: DisconnectReason,
        sink: &mut F,
    ) {
        self.out
            .send_admin(now, &messages::Logout { text: Some(text) }, sink);
        self.disconnect(reason, sink);
    }

    fn send_logon<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, reset: bool, sink: &mut F) -> bool {
        let (username, password) = match self.config.role {
            Role::Initiator => (
                self.config.username.as_ref().map(|u| u.as_bytes()),
                self.config.password.as_ref().map(|p| p.expose().as_bytes()),
            ),
            Role::Acceptor => (None, None),
        };
        let logon = Logon {
            heart_bt_int: (self.heart_bt_int_ns / 1_000_000_000) as u32,
            reset_seq_num: reset,
            username,
            password,
        };
        self.out.send_admin(now, &logon, sink)
    }

    fn reject<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        ref_tag: Option<u32>,
        reason: u32,
        text: &[u8],
        sink: &mut F,
    ) {
        let r = messages::Reject {
            ref_seq_num: msg.seq_num().unwrap_or(0),
            ref_tag_id: ref_tag,
            ref_msg_type: Some(msg.msg_type()),
            reason: Some(reason),
            text: Some(text),
        };
        if self.out.send_admin(now, &r, sink) {
            self.stats.rejects_sent += 1;
        }
    }

    /// Rejects a message that fails a session-level check; its sequence
    /// number, if it was the one expected, is used up all the same (the
    /// peer must not resend it).
    #[allow(clippy::too_many_arguments)]
    fn reject_consuming<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        ref_tag: Option<u32>,
        reason: u32,
        text: &[u8],
        sink: &mut F,
    ) {
        self.reject(now, msg, ref_tag, reason, text, sink);
        if seq == self.next_in {
            self.advance_in(seq + 1);
        }
    }

    fn request_resend<F: FnMut(Event<'_>)>(&mut self, now: UtcTime, seen: u64, sink: &mut F) {
        if let Some(until) = self.resend_until {
            // Our outstanding request runs to infinity: it covers this one too.
            self.resend_until = Some(until.max(seen));
            return;
        }
        let rr = ResendRequest {
            begin_seq_no: self.next_in,
            end_seq_no: 0,
        };
        // Held back, it is asked for again at the next message out of
        // sequence (or the peer's heartbeat, whose number shows the gap).
        if self.out.send_admin(now, &rr, sink) {
            self.resend_until = Some(seen);
            self.stats.resend_requests_sent += 1;
        }
    }

    fn advance_in(&mut self, to: u64) {
        self.next_in = to;
        if self.resend_until.is_some_and(|until| to > until) {
            self.resend_until = None;
        }
    }

    fn drain_queue<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        queue: &mut InboundQueue<'_>,
        sink: &mut F,
    ) {
        while !queue.is_empty() && self.phase != Phase::Disconnected {
            let next = self.next_in;
            let Some((pos, bytes)) = queue.find(next) else {
                break;
            };
            self.handle_frame(now, bytes, None, sink);
            queue.consume(pos, self.next_in);
            if self.next_in == next {
                break; // not consumed (e.g. rejected without consuming): stop
            }
        }
    }

    /// One framed message from the wire (or from the gap queue when `queue` is None).
    fn handle_frame<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        frame: &[u8],
        queue: Option<&mut InboundQueue<'_>>,
        sink: &mut F,
    ) {
        // A fresh view filled in place (returned by value, the view would be
        // copied whole).
        let mut msg = FixMessage::empty();
        // A message refused for what it holds (a repeated tag, an envelope
        // tag in the body, a bad data field), not because it is garbled,
        // is answered with a Reject that uses up its sequence number: read
        // leniently, it goes through the checks below like any other and
        // is rejected where it would have been acted on.
        let mut refused = None;
        if let Err(e) = self.decoder.reparse(&mut msg, frame, false) {
            let lenient = match (e.session_reject(), self.phase) {
                (Some(_), Phase::Active | Phase::LogoutSent(_)) => {
                    FixMessage::parse_lenient(frame).ok()
                }
                (Some(_), Phase::AwaitingLogon | Phase::LogonSent(_)) => {
                    // Nothing is rejected before logon: a well-framed first
                    // message refused for what it holds ends the attempt at
                    // once, below, as any other bad first message does
                    // (rather than leaving it to the logon timeout). The
                    // error is reported first.
                    let m = FixMessage::parse_lenient(frame).ok();
                    if m.is_some() {
                        sink(Event::Dropped(e));
                    }
                    m
                }
                _ => None,
            };
            match lenient {
                Some(m) => {
                    msg = m;
                    refused = Some(e);
                }
                None => {
                    // Garbled (or refused before logon): ignore, do not
                    // consume a sequence number.
                    self.stats.garbled += 1;
                    sink(Event::Dropped(e));
                    return;
                }
            }
        }
        if self.phase == Phase::Disconnected {
            return;
        }
        self.last_received = now;
        self.test_request = None;
        let logged_on = matches!(self.phase, Phase::Active | Phase::LogoutSent(_));

        if msg.version() != self.config.version {
            if logged_on {
                self.logout_and_disconnect(
                    now,
                    b"Incorrect BeginString",
                    DisconnectReason::BeginStringMismatch,
                    sink,
                );
            } else {
                self.disconnect(DisconnectReason::BeginStringMismatch, sink);
            }
            return;
        }
        let Some(seq) = msg.seq_num().filter(|&s| s > 0) else {
            if logged_on {
                self.logout_and_disconnect(
                    now,
                    b"MsgSeqNum(34) missing",
                    DisconnectReason::MissingSeqNum,
                    sink,
                );
            } else {
                self.disconnect(DisconnectReason::MissingSeqNum, sink);
            }
            return;
        };
        let mt = msg.msg_type();

        if !logged_on {
            match self.phase {
                Phase::LogonSent(_) if mt == msg_type::LOGOUT => {
                    // In sequence, the refusal consumed the peer's number
                    // (a venue keeps it): the next Logon's answer follows on
                    // without a gap to recover.
                    if seq == self.next_in {
                        self.advance_in(seq + 1);
                    }
                    sink(Event::PeerLogout(&msg));
                    self.disconnect(DisconnectReason::LogonRejected, sink);
                }
                Phase::LogonSent(_) | Phase::AwaitingLogon if mt == msg_type::LOGON => {
                    match refused {
                        None => self.handle_logon(now, &msg, seq, sink),
                        // Answered as an invalid Logon, naming the problem.
                        Some(e) => {
                            let mut text = String::<96>::new();
                            // The longest reason fits; a write that did not
                            // would only shorten the text.
                            let _ = fmt::Write::write_fmt(
                                &mut text,
                                format_args!("Invalid Logon: {e}"),
                            );
                            self.logout_and_disconnect(
                                now,
                                text.as_bytes(),
                                DisconnectReason::InvalidLogon,
                                sink,
                            );
                        }
                    }
                }
                _ => self.disconnect(DisconnectReason::FirstMessageNotLogon, sink),
            }
            return;
        }

        // CompIDs: Reject (reason 9), then Logout and disconnect.
        let comp_problem = if msg.sender_comp_id() != Some(self.config.target_comp_id.as_bytes()) {
            Some(tag::SENDER_COMP_ID)
        } else if msg.target_comp_id() != Some(self.config.sender_comp_id.as_bytes()) {
            Some(tag::TARGET_COMP_ID)
        } else {
            None
        };
        if let Some(t) = comp_problem {
            self.reject_consuming(
                now,
                &msg,
                seq,
                Some(t),
                reject_reason::COMP_ID_PROBLEM,
                b"CompID problem",
                sink,
            );
            self.logout_and_disconnect(
                now,
                b"CompID problem",
                DisconnectReason::CompIdMismatch,
                sink,
            );
            return;
        }

        // SendingTime present, well formed, and accurate.
        let sending_time = match msg.get_timestamp(tag::SENDING_TIME) {
            Ok(Some(t)) => t,
            Ok(None) | Err(_) => {
                let reason = if msg.get(tag::SENDING_TIME).is_none() {
                    reject_reason::REQUIRED_TAG_MISSING
                } else {
                    reject_reason::INCORRECT_DATA_FORMAT
                };
                self.reject_consuming(
                    now,
                    &msg,
                    seq,
                    Some(tag::SENDING_TIME),
                    reason,
                    b"SendingTime(52) missing or malformed",
                    sink,
                );
                return;
            }
        };
        if let Some(tol) = self.config.sending_time_tolerance_ns {
            let skew = now.0.abs_diff(sending_time.0);
            if skew > tol {
                self.reject_consuming(
                    now,
                    &msg,
                    seq,
                    Some(tag::SENDING_TIME),
                    reject_reason::SENDING_TIME_ACCURACY,
                    b"SendingTime accuracy problem",
                    sink,
                );
                self.logout_and_disconnect(
                    now,
                    b"SendingTime accuracy problem",
                    DisconnectReason::SendingTimeAccuracy,
                    sink,
                );
                return;
            }
        }

        let is_reset_mode =
            mt == msg_type::SEQUENCE_RESET && msg.get(tag::GAP_FILL_FLAG) != Some(b"Y");
        // PossDup: OrigSendingTime required (except SequenceReset-Reset, which ignores
        // sequencing) and not later than SendingTime.
        if msg.poss_dup() && !is_reset_mode {
            match msg.get_timestamp(tag::ORIG_SENDING_TIME) {
                Ok(Some(orig)) if orig > sending_time => {
                    self.reject_consuming(
                        now,
                        &msg,
                        seq,
                        Some(tag::ORIG_SENDING_TIME),
                        reject_reason::SENDING_TIME_ACCURACY,
                        b"OrigSendingTime later than SendingTime",
                        sink,
                    );
                    return;
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    self.reject_consuming(
                        now,
                        &msg,
                        seq,
                        Some(tag::ORIG_SENDING_TIME),
                        reject_reason::REQUIRED_TAG_MISSING,
                        b"OrigSendingTime(122) required with PossDupFlag",
                        sink,
                    );
                    return;
                }
            }
        }

        if let Some(e) = refused {
            let reset_logon =
                mt == msg_type::LOGON && msg.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y");
            if is_reset_mode || reset_logon {
                // The two resets below, which take no part in sequencing:
                // answered now instead of acted on.
                self.reject_refused(now, &msg, seq, e, sink);
                return;
            }
        }
        if is_reset_mode {
            self.handle_sequence_reset_reset(now, &msg, sink);
            return;
        }
        if mt == msg_type::LOGON && msg.get(tag::RESET_SEQ_NUM_FLAG) == Some(b"Y") {
            // A reset Logon restarts numbering at 1 whatever we expected.
            self.handle_mid_session_reset(now, &msg, seq, queue, sink);
            return;
        }

        let check = if seq == self.next_in {
            SeqCheck::Expected
        } else if seq > self.next_in {
            SeqCheck::TooHigh
        } else {
            SeqCheck::TooLow
        };
        match check {
            SeqCheck::TooLow => {
                if msg.poss_dup() {
                    self.stats.duplicates_ignored += 1;
                    // A GapFill over numbers the gap queue has already
                    // given us (a resend answers from where the gap began)
                    // may reach past them, over messages that did not fit
                    // in the queue: ignored whole, those would never be
                    // asked for again, and the session would stall.
                    if mt == msg_type::SEQUENCE_RESET && refused.is_none() {
                        let beyond = msg.get_uint(tag::NEW_SEQ_NO).ok().flatten();
                        if let Some(new) = beyond.filter(|&new| new > self.next_in) {
                            self.advance_in(new);
                        }
                    }
                } else {
                    let mut text = [0u8; 80];
                    let t = too_low_text(self.next_in, seq, &mut text);
                    self.logout_and_disconnect(now, t, DisconnectReason::SeqTooLow, sink);
                }
            }
            SeqCheck::TooHigh => {
                if mt == msg_type::LOGOUT {
                    // Answer and close; the gap is recovered on the next logon.
                    self.handle_logout(now, &msg, sink);
                    return;
                }
                if mt == msg_type::RESEND_REQUEST {
                    // Serve the peer's request before asking for our own gap.
                    self.handle_resend_request(now, &msg, sink);
                    self.request_resend(now, seq, sink);
                    return;
                }
                self.request_resend(now, seq, sink);
                if self.config.gap_policy == GapPolicy::Queue {
                    if let Some(q) = queue {
                        if q.push(seq, frame) {
                            self.stats.queued += 1;
                        }
                    }
                }
            }
            SeqCheck::Expected => match refused {
                Some(e) => self.reject_refused(now, &msg, seq, e, sink),
                None => self.dispatch(now, &msg, seq, sink),
            },
        }
    }

    /// Rejects a message the decoder refused for what it holds (see
    /// `handle_frame`), with the SessionRejectReason the error calls for
    /// (13 for a repeated tag, 14 for an envelope tag in the body…); its
    /// sequence number, if expected, is used up.
    fn reject_refused<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        e: FixError,
        sink: &mut F,
    ) {
        let (reason, ref_tag) = e
            .session_reject()
            .unwrap_or((reject_reason::VALUE_INCORRECT, None));
        let text: &[u8] = match e {
            FixError::RepeatedTag(_) => b"Tag appears more than once",
            FixError::TagOutOfOrder(_) => b"Tag specified out of required order",
            FixError::MissingDataLength(_) => b"Data field without its length field",
            FixError::BadDataLength(_) => b"Incorrect data length",
            _ => b"Invalid message",
        };
        self.reject_consuming(now, msg, seq, ref_tag, reason, text, sink);
    }

    fn dispatch<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        sink: &mut F,
    ) {
        match msg.msg_type() {
            msg_type::HEARTBEAT => self.advance_in(seq + 1),
            msg_type::TEST_REQUEST => {
                self.advance_in(seq + 1);
                match msg.get(tag::TEST_REQ_ID) {
                    Some(id) => {
                        let answered = self.out.send_admin(
                            now,
                            &messages::Heartbeat {
                                test_req_id: Some(id),
                            },
                            sink,
                        );
                        self.test_answer_owed = match answered {
                            true => None,
                            false => heapless::Vec::from_slice(id).ok(),
                        };
                    }
                    None => self.reject(
                        now,
                        msg,
                        Some(tag::TEST_REQ_ID),
                        reject_reason::REQUIRED_TAG_MISSING,
                        b"TestReqID(112) missing",
                        sink,
                    ),
                }
            }
            msg_type::RESEND_REQUEST => {
                self.advance_in(seq + 1);
                self.handle_resend_request(now, msg, sink);
            }
            msg_type::REJECT => {
                self.advance_in(seq + 1);
                sink(Event::PeerReject(msg));
            }
            msg_type::SEQUENCE_RESET => self.handle_gap_fill(now, msg, seq, sink),
            msg_type::LOGOUT => {
                self.advance_in(seq + 1);
                self.handle_logout(now, msg, sink);
            }
            msg_type::LOGON => {
                self.advance_in(seq + 1);
                self.logout_and_disconnect(
                    now,
                    b"Duplicate Logon",
                    DisconnectReason::DuplicateLogon,
                    sink,
                );
            }
            _ => {
                self.advance_in(seq + 1);
                sink(Event::Deliver(msg));
            }
        }
    }

    fn handle_logon<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        sink: &mut F,
    ) {
        if msg.sender_comp_id() != Some(self.config.target_comp_id.as_bytes())
            || msg.target_comp_id() != Some(self.config.sender_comp_id.as_bytes())
        {
            self.logout_and_disconnect(
                now,
                b"CompID problem",
                DisconnectReason::CompIdMismatch,
                sink,
            );
            return;
        }
        let logon = match Logon::parse(msg) {
            Ok(l) => l,
            Err(_) => {
                self.logout_and_disconnect(
                    now,
                    b"Invalid Logon (EncryptMethod/HeartBtInt)",
                    DisconnectReason::InvalidLogon,
                    sink,
                );
                return;
            }
        };
        if let Some(tol) = self.config.sending_time_tolerance_ns {
            let ok = matches!(msg.get_timestamp(tag::SENDING_TIME), Ok(Some(t)) if now.0.abs_diff(t.0) <= tol);
            if !ok {
                self.logout_and_disconnect(
                    now,
                    b"SendingTime accuracy problem",
                    DisconnectReason::SendingTimeAccuracy,
                    sink,
                );
                return;
            }
        }
        if self.config.role == Role::Acceptor {
            let user_ok = match &self.config.username {
                None => true,
                Some(u) => logon.username == Some(u.as_bytes()),
            };
            let pass_ok = match &self.config.password {
                None => true,
                Some(p) => logon.password == Some(p.expose().as_bytes()),
            };
            if !user_ok || !pass_ok {
                self.logout_and_disconnect(
                    now,
                    b"Invalid credentials",
                    DisconnectReason::InvalidLogon,
                    sink,
                );
                return;
            }
        }
        if logon.reset_seq_num {
            self.next_in = 1;
            self.resend_until = None;
            if self.config.role == Role::Acceptor {
                self.out.next_out = 1;
                self.forget_sent();
            }
        }
        if seq < self.next_in {
            let mut text = [0u8; 80];
            let t = too_low_text(self.next_in, seq, &mut text);
            self.logout_and_disconnect(now, t, DisconnectReason::SeqTooLow, sink);
            return;
        }
        if self.config.role == Role::Acceptor {
            self.heart_bt_int_ns = logon.heart_bt_int as u64 * 1_000_000_000;
            if !self.send_logon(now, logon.reset_seq_num, sink) {
                let reason = if self.out.next_out >= self.out.limit {
                    DisconnectReason::SeqNotDurable
                } else {
                    DisconnectReason::TransportFull
                };
                self.disconnect(reason, sink);
                return;
            }
        }
        self.phase = Phase::Active;
        sink(Event::LoggedOn);
        if seq == self.next_in {
            self.advance_in(seq + 1);
        } else {
            self.request_resend(now, seq, sink);
        }
    }

    fn handle_mid_session_reset<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        queue: Option<&mut InboundQueue<'_>>,
        sink: &mut F,
    ) {
        if seq != 1 {
            // Not a reset: a number other than the one expected is not
            // used up (taken as the next, it would move back over messages
            // already delivered, or forward over a gap never asked for).
            self.reject_consuming(
                now,
                msg,
                seq,
                Some(tag::MSG_SEQ_NUM),
                reject_reason::VALUE_INCORRECT,
                b"Logon with ResetSeqNumFlag must have MsgSeqNum 1",
                sink,
            );
            return;
        }
        self.next_in = 2;
        self.resend_until = None;
        // What waits behind a gap was numbered before the reset: kept, it
        // would be delivered as new once the new numbers reached its own.
        if let Some(q) = queue {
            q.clear();
        }
        if self.reset_requested {
            self.reset_requested = false; // the peer confirmed our reset
        } else {
            self.out.next_out = 1;
            self.forget_sent();
            self.answer_reset(now, sink);
        }
    }

    fn handle_logout<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        sink: &mut F,
    ) {
        sink(Event::PeerLogout(msg));
        if let Phase::LogoutSent(_) = self.phase {
            self.disconnect(DisconnectReason::LogoutCompleted, sink);
        } else {
            self.out
                .send_admin(now, &messages::Logout { text: None }, sink);
            self.disconnect(DisconnectReason::LogoutReceived, sink);
        }
    }

    fn handle_resend_request<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        sink: &mut F,
    ) {
        let rr = match ResendRequest::parse(msg) {
            Ok(rr) => rr,
            Err(FixError::MissingField(t)) => {
                self.reject(
                    now,
                    msg,
                    Some(t),
                    reject_reason::REQUIRED_TAG_MISSING,
                    b"Required tag missing",
                    sink,
                );
                return;
            }
            Err(e) => {
                let t = match e {
                    FixError::InvalidValue(t) => Some(t),
                    _ => None,
                };
                self.reject(
                    now,
                    msg,
                    t,
                    reject_reason::INCORRECT_DATA_FORMAT,
                    b"Incorrect data format",
                    sink,
                );
                return;
            }
        };
        let last_sent = self.out.next_out - 1;
        let begin = rr.begin_seq_no.max(1);
        let end = rr.end().min(last_sent);
        if begin > end {
            return;
        }
        // Forgotten application messages it asks for never reached it.
        let before = self.forgotten.len();
        let mut kept = heapless::Deque::<u64, FORGOTTEN>::new();
        for &seq in self.forgotten.iter() {
            if !(begin..=end).contains(&seq) {
                let _ = kept.push_back(seq);
            }
        }
        self.stats.lost_with_connection += (before - kept.len()) as u64;
        self.forgotten = kept;
        // A request while earlier resends are still owed widens them: the
        // peer gets everything either asked for, once, in order.
        self.out.owed = Some(match self.out.owed {
            Some((cursor, owed_end)) => (cursor.min(begin), owed_end.max(end)),
            None => (begin, end),
        });
        self.continue_resend(now, sink);
    }

    /// SequenceReset in GapFill mode, MsgSeqNum == expected.
    fn handle_gap_fill<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        seq: u64,
        sink: &mut F,
    ) {
        match msg.get_uint(tag::NEW_SEQ_NO) {
            Ok(Some(new)) if new > seq => self.advance_in(new),
            Ok(Some(_)) => {
                // NewSeqNo must move forward; the sequence number is not consumed.
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::VALUE_INCORRECT,
                    b"NewSeqNo must be greater than MsgSeqNum",
                    sink,
                );
            }
            Ok(None) => {
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::REQUIRED_TAG_MISSING,
                    b"NewSeqNo(36) missing",
                    sink,
                );
                self.advance_in(seq + 1);
            }
            Err(_) => {
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::INCORRECT_DATA_FORMAT,
                    b"NewSeqNo(36) malformed",
                    sink,
                );
                self.advance_in(seq + 1);
            }
        }
    }

    /// SequenceReset in Reset mode: MsgSeqNum is ignored.
    fn handle_sequence_reset_reset<F: FnMut(Event<'_>)>(
        &mut self,
        now: UtcTime,
        msg: &FixMessage<'_>,
        sink: &mut F,
    ) {
        match msg.get_uint(tag::NEW_SEQ_NO) {
            Ok(Some(new)) if new > self.next_in => self.advance_in(new),
            Ok(Some(new)) if new == self.next_in => {} // nothing to do
            Ok(Some(_)) => {
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::VALUE_INCORRECT,
                    b"Attempt to lower sequence number",
                    sink,
                );
            }
            Ok(None) => {
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::REQUIRED_TAG_MISSING,
                    b"NewSeqNo(36) missing",
                    sink,
                );
            }
            Err(_) => {
                self.reject(
                    now,
                    msg,
                    Some(tag::NEW_SEQ_NO),
                    reject_reason::INCORRECT_DATA_FORMAT,
                    b"NewSeqNo(36) malformed",
                    sink,
                );
            }
        }
    }
}

/// "MsgSeqNum too low, expecting X but received Y"
fn too_low_text(expected: u64, got: u64, out: &mut [u8; 80]) -> &[u8] {
    let mut n = 0;
    let mut put = |b: &[u8], n: &mut usize| {
        let end = (*n + b.len()).min(out.len());
        out[*n..end].copy_from_slice(&b[..end - *n]);
        *n = end;
    };
    let mut d = [0u8; 20];
    put(b"MsgSeqNum too low, expecting ", &mut n);
    let k = protocol::fix::encode::format_uint(expected, &mut d);
    put(&d[20 - k..], &mut n);
    put(b" but received ", &mut n);
    let k = protocol::fix::encode::format_uint(got, &mut d);
    put(&d[20 - k..], &mut n);
    &out[..n]
}
