//! MoldUDP64: downstream packets, retransmission requests, and a sans-IO
//! [`Sequencer`] that turns A/B multicast lines plus a retransmission server
//! into one gap-free, in-order message stream.
//!
//! # Wire format
//! ```text
//! session(10) sequence(u64 BE) count(u16 BE) { length(u16 BE) message }*count
//! ```
//! `sequence` numbers the first message in the packet; a count of 0 is a
//! heartbeat and 0xFFFF ends the session (both carry the next sequence number
//! to come). A retransmission request is the bare 20-byte header: the first
//! sequence wanted and how many messages.

use core::fmt;
use types::Nanos;

/// Length of the downstream header and of a retransmission request.
pub const HEADER_LEN: usize = 20;
/// Length of the session identifier.
pub const SESSION_LEN: usize = 10;
/// Message count of a heartbeat.
pub const HEARTBEAT_COUNT: u16 = 0;
/// Message count that marks the end of a session.
pub const END_OF_SESSION_COUNT: u16 = 0xFFFF;
/// Largest number of messages a data packet may carry.
pub const MAX_MESSAGE_COUNT: u16 = 0xFFFE;

/// A MoldUDP64 session identifier (ten bytes, usually alphanumeric).
pub type SessionId = [u8; SESSION_LEN];

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::{Range, RangeFrom};
    pub const SESSION: Range<usize> = 0..10;
    pub const SEQUENCE: Range<usize> = 10..18;
    pub const COUNT: Range<usize> = 18..20;
    pub const PAYLOAD: RangeFrom<usize> = 20..;
}

/// Errors from parsing or building MoldUDP64.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the 20-byte header.
    TooShort { len: usize },
    /// A retransmission request that is not exactly 20 bytes.
    RequestLength { len: usize },
    /// Message block `index` (0-based) runs past the end of the packet.
    MessageTruncated { index: u16, offset: usize },
    /// `sequence + count` overflows u64.
    SequenceOverflow,
    /// The output buffer cannot take the header or the next message.
    BufferTooSmall { needed: usize, available: usize },
    /// A message longer than a u16 length prefix.
    MessageTooLong { len: usize },
    /// The packet already holds [`MAX_MESSAGE_COUNT`] messages.
    TooManyMessages,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::TooShort { len } => write!(f, "MoldUDP64 packet of {len} bytes, header is 20"),
            Error::RequestLength { len } => {
                write!(f, "MoldUDP64 request of {len} bytes, expected 20")
            }
            Error::MessageTruncated { index, offset } => {
                write!(f, "MoldUDP64 message {index} truncated at offset {offset}")
            }
            Error::SequenceOverflow => f.write_str("MoldUDP64 sequence + count overflows"),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer of {available} bytes, need {needed}")
            }
            Error::MessageTooLong { len } => write!(f, "message of {len} bytes exceeds u16"),
            Error::TooManyMessages => f.write_str("MoldUDP64 packet message count is full"),
        }
    }
}

/// What a downstream packet is, from its count field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// `n` messages (1..=0xFFFE).
    Data(u16),
    Heartbeat,
    EndOfSession,
}

/// Zero-copy view of a downstream packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` after checking it holds the whole header. The message
    /// blocks are checked lazily by [`Packet::messages`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::TooShort { len });
        }
        Ok(Packet { buffer })
    }

    /// The header in place (each field read is one load, not a copy of
    /// the header).
    #[inline(always)]
    fn header(&self) -> &[u8; HEADER_LEN] {
        // Length checked in `new_checked`; the fallback is never taken.
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .unwrap_or(&[0; HEADER_LEN])
    }

    pub fn session(&self) -> SessionId {
        let h = self.header();
        let mut s = [0u8; SESSION_LEN];
        s.copy_from_slice(&h[field::SESSION]);
        s
    }

    /// Sequence number of the first message (for heartbeats and end of
    /// session: of the next message to come).
    pub fn sequence(&self) -> u64 {
        let h = self.header();
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[field::SEQUENCE]);
        u64::from_be_bytes(b)
    }

    pub fn count(&self) -> u16 {
        let h = self.header();
        u16::from_be_bytes([h[18], h[19]])
    }

    pub fn kind(&self) -> PacketKind {
        match self.count() {
            HEARTBEAT_COUNT => PacketKind::Heartbeat,
            END_OF_SESSION_COUNT => PacketKind::EndOfSession,
            n => PacketKind::Data(n),
        }
    }

    /// Bytes after the header.
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(field::PAYLOAD).unwrap_or(&[])
    }

    /// The message blocks with their sequence numbers. Stops after `count`
    /// messages, or after yielding one error if a block is truncated. Bytes
    /// after the last block are ignored (padding is legal on the wire).
    pub fn messages(&self) -> Messages<'_> {
        let remaining = match self.kind() {
            PacketKind::Data(n) => n,
            _ => 0,
        };
        Messages {
            rest: self.payload(),
            offset: HEADER_LEN,
            index: 0,
            remaining,
            sequence: self.sequence(),
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Iterator over the message blocks of a [`Packet`]; see [`Packet::messages`].
#[derive(Debug, Clone)]
pub struct Messages<'a> {
    rest: &'a [u8],
    offset: usize,
    index: u16,
    remaining: u16,
    sequence: u64,
}

impl<'a> Iterator for Messages<'a> {
    /// (sequence number, message bytes)
    type Item = Result<(u64, &'a [u8]), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let truncated = Error::MessageTruncated {
            index: self.index,
            offset: self.offset,
        };
        let Some((len, body)) = self.rest.split_first_chunk::<2>() else {
            self.remaining = 0;
            return Some(Err(truncated));
        };
        let len = u16::from_be_bytes(*len) as usize;
        if body.len() < len {
            self.remaining = 0;
            return Some(Err(truncated));
        }
        let (msg, tail) = body.split_at(len);
        let seq = self.sequence;
        self.rest = tail;
        self.offset += 2 + len;
        self.index += 1;
        self.remaining -= 1;
        self.sequence = self.sequence.wrapping_add(1);
        Some(Ok((seq, msg)))
    }
}

fn write_header(out: &mut [u8; HEADER_LEN], session: &SessionId, sequence: u64, count: u16) {
    out[field::SESSION].copy_from_slice(session);
    out[field::SEQUENCE].copy_from_slice(&sequence.to_be_bytes());
    out[field::COUNT].copy_from_slice(&count.to_be_bytes());
}

fn header_mut(buf: &mut [u8]) -> Result<&mut [u8; HEADER_LEN], Error> {
    let available = buf.len();
    buf.first_chunk_mut::<HEADER_LEN>()
        .ok_or(Error::BufferTooSmall {
            needed: HEADER_LEN,
            available,
        })
}

/// Builds a data packet in a caller buffer.
///
/// ```
/// # use protocol::moldudp64::*;
/// let mut buf = [0u8; 1500];
/// let mut b = PacketBuilder::new(&mut buf, *b"SESSION001", 7).unwrap();
/// b.push(b"hello").unwrap();
/// b.reserve(3).unwrap().copy_from_slice(b"abc");
/// let len = b.finish();
/// let p = Packet::new_checked(&buf[..len]).unwrap();
/// assert_eq!(p.count(), 2);
/// ```
#[derive(Debug)]
pub struct PacketBuilder<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u16,
}

impl<'a> PacketBuilder<'a> {
    pub fn new(buf: &'a mut [u8], session: SessionId, sequence: u64) -> Result<Self, Error> {
        write_header(header_mut(buf)?, &session, sequence, 0);
        Ok(PacketBuilder {
            buf,
            len: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends a length prefix for `len` bytes and returns the space for the
    /// message, to be filled by the caller (e.g. by an ITCH `emit`).
    pub fn reserve(&mut self, len: usize) -> Result<&mut [u8], Error> {
        if self.count >= MAX_MESSAGE_COUNT {
            return Err(Error::TooManyMessages);
        }
        let prefix = u16::try_from(len).map_err(|_| Error::MessageTooLong { len })?;
        let start = self.len;
        let end = start + 2 + len;
        let available = self.buf.len();
        if end > available {
            return Err(Error::BufferTooSmall {
                needed: end,
                available,
            });
        }
        self.count += 1;
        self.len = end;
        if let Some(c) = self.buf.get_mut(field::COUNT) {
            c.copy_from_slice(&self.count.to_be_bytes());
        }
        // `start + 2 <= end <= available`, checked above.
        let block = &mut self.buf[start..end];
        let (p, body) = block.split_at_mut(2);
        p.copy_from_slice(&prefix.to_be_bytes());
        Ok(body)
    }

    /// Appends one message.
    pub fn push(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.reserve(msg.len())?.copy_from_slice(msg);
        Ok(())
    }

    /// Whether a message of `len` bytes still fits.
    pub fn fits(&self, len: usize) -> bool {
        self.count < MAX_MESSAGE_COUNT && self.len + 2 + len <= self.buf.len()
    }

    pub fn count(&self) -> u16 {
        self.count
    }

    /// Packet length so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: the header is always there.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Ends the packet; returns its length.
    pub fn finish(self) -> usize {
        self.len
    }
}

/// Writes a heartbeat (count 0) announcing `next_sequence`; returns 20.
pub fn emit_heartbeat(
    buf: &mut [u8],
    session: SessionId,
    next_sequence: u64,
) -> Result<usize, Error> {
    write_header(header_mut(buf)?, &session, next_sequence, HEARTBEAT_COUNT);
    Ok(HEADER_LEN)
}

/// Writes an end-of-session packet (count 0xFFFF); returns 20.
pub fn emit_end_of_session(
    buf: &mut [u8],
    session: SessionId,
    next_sequence: u64,
) -> Result<usize, Error> {
    write_header(
        header_mut(buf)?,
        &session,
        next_sequence,
        END_OF_SESSION_COUNT,
    );
    Ok(HEADER_LEN)
}

/// A retransmission request: `count` messages from `sequence` in `session`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestRepr {
    pub session: SessionId,
    pub sequence: u64,
    pub count: u16,
}

impl RequestRepr {
    pub const LEN: usize = HEADER_LEN;

    /// Parses a request datagram (exactly 20 bytes).
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let h: &[u8; HEADER_LEN] = bytes
            .try_into()
            .map_err(|_| Error::RequestLength { len: bytes.len() })?;
        let p = Packet::new_checked(&h[..])?;
        Ok(RequestRepr {
            session: p.session(),
            sequence: p.sequence(),
            count: p.count(),
        })
    }

    /// Writes the request; returns 20.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        write_header(header_mut(buf)?, &self.session, self.sequence, self.count);
        Ok(HEADER_LEN)
    }
}

// ----------------------------------------------------------------------------
// Sequencer
// ----------------------------------------------------------------------------

/// Where a packet came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Line {
    A,
    B,
    /// An answer from the retransmission server.
    Retransmission,
}

/// A counter kept per [`Line`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PerLine {
    pub a: u64,
    pub b: u64,
    pub retransmission: u64,
}

impl PerLine {
    fn bump(&mut self, line: Line, by: u64) {
        match line {
            Line::A => self.a += by,
            Line::B => self.b += by,
            Line::Retransmission => self.retransmission += by,
        }
    }

    pub fn get(&self, line: Line) -> u64 {
        match line {
            Line::A => self.a,
            Line::B => self.b,
            Line::Retransmission => self.retransmission,
        }
    }

    pub fn total(&self) -> u64 {
        self.a + self.b + self.retransmission
    }
}

/// An IPv4 address and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Endpoint {
    pub addr: [u8; 4],
    pub port: u16,
}

/// Most retransmission requests that can be outstanding at once.
pub const MAX_OUTSTANDING: usize = 8;

/// Sequencer settings. Times are nanoseconds on the clock the caller passes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Where retransmission requests go (returned with each request).
    pub server: Endpoint,
    /// First sequence expected when a session is adopted. `Some(1)`: recover
    /// the session from its start through retransmission. `None`: join late,
    /// starting at the first packet seen (earlier messages are never asked for).
    pub initial_sequence: Option<u64>,
    /// How long a gap must stay open before it is requested, so the other
    /// line can fill it first (A/B arbitration). 0 requests at once. Measured
    /// from when the oldest missing message became the next one expected
    /// (the gap appeared, or the gap before it was filled), so every hole
    /// gets at least the whole delay: a second hole that opens while the
    /// first is being recovered is asked for without a new delay only while
    /// the first is still open.
    pub request_delay_ns: u64,
    /// How long to wait for an answer before asking again.
    pub request_timeout_ns: u64,
    /// Cap on requests in flight (at most [`MAX_OUTSTANDING`]).
    pub max_outstanding: usize,
    /// Largest `count` in one request (servers cap it; ≥ 1).
    pub max_request_count: u16,
}

impl Config {
    pub const fn new(server: Endpoint) -> Self {
        Config {
            server,
            initial_sequence: Some(1),
            request_delay_ns: 0,
            request_timeout_ns: 1_000_000_000,
            max_outstanding: 4,
            max_request_count: 1_000,
        }
    }
}

/// A request the caller must send (as one UDP datagram, see
/// [`RequestRepr::emit`]) to `server`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetransmitRequest {
    pub server: Endpoint,
    pub request: RequestRepr,
}

/// What the sequencer counted. Every packet and every message ends up in
/// exactly one place here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets received per line (all of them, good or bad).
    pub packets: PerLine,
    /// Messages already delivered or already buffered, per line.
    pub duplicates: PerLine,
    /// Messages handed to the consumer.
    pub delivered: u64,
    pub heartbeats: u64,
    pub end_of_session: u64,
    /// Times a sequence number beyond everything known arrived (a new hole).
    pub gaps: u64,
    pub requests_sent: u64,
    /// Requests not answered within the timeout (each is asked again).
    pub request_timeouts: u64,
    /// Messages stored out of order.
    pub buffered: u64,
    /// Messages too far ahead of the next expected one to buffer.
    pub out_of_window: u64,
    /// Out-of-order messages larger than a slot (they are asked for again).
    pub oversize: u64,
    /// Packets with a short header, a truncated block or an overflowing
    /// sequence. Blocks before the damage are still used.
    pub malformed: u64,
    /// Packets of a session that was replaced.
    pub stale_session: u64,
    /// Packets on line A or B of a session other than the current one that
    /// did not (yet) make the sequencer switch to it (see "Sessions").
    pub unconfirmed_session: u64,
    /// Retransmission answers for a session other than the current one.
    pub foreign_session: u64,
    pub session_changes: u64,
    /// Messages known to exist in a replaced session but never delivered.
    pub abandoned: u64,
    /// Messages numbered at or after a seen end of session.
    pub after_end: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Outstanding {
    first: u64,
    count: u64,
    sent_at: Nanos,
}

impl Outstanding {
    fn end(&self) -> u64 {
        self.first.saturating_add(self.count)
    }
    fn covers(&self, s: u64) -> bool {
        s >= self.first && s < self.end()
    }
}

/// What [`Sequencer::on_packet`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Used (its new messages delivered or buffered; duplicates counted).
    Accepted,
    /// Heartbeat or end of session.
    Control,
    /// Started a new session (and was then used).
    NewSession,
    Malformed,
    StaleSession,
    ForeignSession,
    /// A packet of another session that is not (yet) reason to switch.
    UnconfirmedSession,
}

const EMPTY: u64 = u64::MAX;

/// Packets of another session in a row, with none of the current session
/// between them, after which a one-line feed switches to it (see
/// `Sequencer::switches_to`).
pub const SWITCH_AFTER_PACKETS: u32 = 16;

/// Sans-IO MoldUDP64 sequencer with A/B arbitration and gap recovery.
///
/// * Feed every packet from line A, line B and the retransmission server to
///   [`on_packet`](Self::on_packet) with its arrival time. Messages reach the
///   `deliver` callback strictly in sequence order, each exactly once; the
///   first copy to arrive wins and later copies are counted as duplicates of
///   the line they came on.
/// * Call [`poll`](Self::poll) after each batch (and from a timer) and send
///   every request it returns. There is no clock inside: the times passed in
///   drive the request delay and the re-request timeout.
/// * Out-of-order messages within `WINDOW` sequence numbers of the next
///   expected one are copied into a fixed arena of `WINDOW` slots of
///   `SLOT` bytes (ITCH needs `SLOT ≥ 50`). Anything further ahead is dropped
///   and counted, and will be asked for again once the window moves.
///
/// # Sessions
/// The first data packet or heartbeat from line A or B fixes the session;
/// the expected sequence then starts at [`Config::initial_sequence`] (or at
/// that packet's sequence when it is `None`). Another session id on A or B
/// starts a new session the same way once there is reason to believe it:
/// the current session has ended (its end-of-session packet was seen), or
/// the other id has come on both lines, or in [`SWITCH_AFTER_PACKETS`]
/// packets with none of the current session between them (a one-line feed
/// whose end of session was lost). Until then its packets are counted
/// (`unconfirmed_session`) and dropped, so a line lagging across a roll or
/// a stray packet cannot take the sequencer away from the live session;
/// an end-of-session packet never starts one. On a switch, buffered
/// messages and outstanding requests of the old session are discarded
/// (counted in `abandoned`), and the old id is remembered so its late
/// packets are dropped (`stale_session`) instead of switching back.
/// Retransmission answers never switch sessions.
/// An end-of-session packet marks its sequence as the end; once everything
/// before it is delivered, [`is_finished`](Self::is_finished) is true.
///
/// # Memory
/// Everything lives inline (about `WINDOW × (SLOT + 10)` bytes); `new` is a
/// `const fn` so a sequencer can sit in a `static`.
pub struct Sequencer<const WINDOW: usize, const SLOT: usize> {
    config: Config,
    session: Option<SessionId>,
    retired: Option<SessionId>,
    /// Another session seen on the feed lines while the current one has
    /// not ended: its id, the lines it came on (bit 0 A, bit 1 B) and the
    /// packets of it since the last packet of the current session.
    candidate: Option<(SessionId, u8, u32)>,
    next: u64,
    /// One past the highest sequence number known to exist.
    highest: u64,
    end: Option<u64>,
    gap_since: Option<Nanos>,
    slot_seq: [u64; WINDOW],
    slot_len: [u16; WINDOW],
    slot_data: [[u8; SLOT]; WINDOW],
    held: usize,
    outstanding: [Option<Outstanding>; MAX_OUTSTANDING],
    counters: Counters,
}

impl<const WINDOW: usize, const SLOT: usize> Sequencer<WINDOW, SLOT> {
    pub const fn new(mut config: Config) -> Self {
        const { assert!(WINDOW > 0 && SLOT > 0 && SLOT <= u16::MAX as usize) };
        // Settings that would stall or spin are taken at their least
        // working value: a request timeout of 0 would count every request
        // as timed out at once (a `poll` loop would never end), no request
        // in flight would never recover a gap, and MoldUDP64 numbers
        // messages from 1.
        if config.request_timeout_ns == 0 {
            config.request_timeout_ns = 1;
        }
        if config.max_outstanding == 0 {
            config.max_outstanding = 1;
        }
        if let Some(0) = config.initial_sequence {
            config.initial_sequence = Some(1);
        }
        Sequencer {
            config,
            session: None,
            retired: None,
            candidate: None,
            next: 0,
            highest: 0,
            end: None,
            gap_since: None,
            slot_seq: [EMPTY; WINDOW],
            slot_len: [0; WINDOW],
            slot_data: [[0; SLOT]; WINDOW],
            held: 0,
            outstanding: [None; MAX_OUTSTANDING],
            counters: Counters {
                packets: PerLine {
                    a: 0,
                    b: 0,
                    retransmission: 0,
                },
                duplicates: PerLine {
                    a: 0,
                    b: 0,
                    retransmission: 0,
                },
                delivered: 0,
                heartbeats: 0,
                end_of_session: 0,
                gaps: 0,
                requests_sent: 0,
                request_timeouts: 0,
                buffered: 0,
                out_of_window: 0,
                oversize: 0,
                malformed: 0,
                stale_session: 0,
                unconfirmed_session: 0,
                foreign_session: 0,
                session_changes: 0,
                abandoned: 0,
                after_end: 0,
            },
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The current session, once one has been seen.
    pub fn session(&self) -> Option<SessionId> {
        self.session
    }

    /// What the next packets will deliver, seen before they are taken (see
    /// [`Lookahead`]).
    pub fn lookahead(&self) -> Lookahead {
        Lookahead {
            session: self.session,
            next: self.next,
            end: self.end.unwrap_or(EMPTY),
        }
    }

    /// Sequence number of the next message to deliver.
    pub fn next_expected(&self) -> u64 {
        self.next
    }

    /// One past the highest sequence number known to exist.
    pub fn highest_known(&self) -> u64 {
        self.highest
    }

    /// Messages held out of order right now.
    pub fn held(&self) -> usize {
        self.held
    }

    /// True when the session's end has been seen and everything before it delivered.
    pub fn is_finished(&self) -> bool {
        matches!(self.end, Some(end) if self.next >= end)
    }

    /// True while some message before `highest_known` is missing.
    pub fn has_gap(&self) -> bool {
        self.next < self.highest
    }

    /// Takes one packet. `deliver(sequence, message)` is called for every
    /// message that becomes deliverable, in order; messages in the packet
    /// are passed straight from `packet` without copying.
    pub fn on_packet<F: FnMut(u64, &[u8])>(
        &mut self,
        line: Line,
        packet: &[u8],
        now: Nanos,
        deliver: &mut F,
    ) -> Outcome {
        self.counters.packets.bump(line, 1);
        let Ok(pkt) = Packet::new_checked(packet) else {
            self.counters.malformed += 1;
            return Outcome::Malformed;
        };
        let seq = pkt.sequence();
        let kind = pkt.kind();
        let n = match kind {
            PacketKind::Data(n) => n as u64,
            _ => 0,
        };
        // The last number a packet implies must stay below u64::MAX, the
        // empty-slot marker (and no real session gets near it).
        if seq.checked_add(n).is_none_or(|end| end == EMPTY) {
            self.counters.malformed += 1;
            return Outcome::Malformed;
        }

        let session = pkt.session();
        let mut outcome = Outcome::Accepted;
        if self.session != Some(session) {
            if self.retired == Some(session) {
                self.counters.stale_session += 1;
                return Outcome::StaleSession;
            }
            if line == Line::Retransmission {
                self.counters.foreign_session += 1;
                return Outcome::ForeignSession;
            }
            if !self.switches_to(session, line, kind) {
                self.counters.unconfirmed_session += 1;
                return Outcome::UnconfirmedSession;
            }
            self.start_session(session, seq);
            outcome = Outcome::NewSession;
        } else if let Some(c) = self.candidate.as_mut() {
            // The current session is still alive: the other one's run of
            // packets starts again.
            c.2 = 0;
        }

        match kind {
            PacketKind::Heartbeat => {
                self.counters.heartbeats += 1;
                self.observe(seq, seq, now);
                return if outcome == Outcome::NewSession {
                    outcome
                } else {
                    Outcome::Control
                };
            }
            PacketKind::EndOfSession => {
                self.counters.end_of_session += 1;
                if self.end.is_none() {
                    self.end = Some(seq);
                }
                self.observe(seq, seq, now);
                return if outcome == Outcome::NewSession {
                    outcome
                } else {
                    Outcome::Control
                };
            }
            PacketKind::Data(_) => {}
        }

        for item in pkt.messages() {
            match item {
                Ok((s, msg)) => self.accept(line, s, msg, now, deliver),
                Err(_) => {
                    self.counters.malformed += 1;
                    break;
                }
            }
        }
        outcome
    }

    /// Whether a packet of `session` (not the current one, not the retired
    /// one) on feed line `line` is reason to switch to it. The first
    /// session ever seen is taken from its first data packet or heartbeat.
    /// After that, a feed may show another session for reasons other than
    /// a new day's — one line lagging across a roll, a stray packet — so
    /// the sequencer switches only when the current session has ended, or
    /// when the other session has come on both lines, or in
    /// `SWITCH_AFTER_PACKETS` packets with none of the current session
    /// between them (a one-line feed whose end of session was lost). An
    /// end-of-session packet never starts a session: it says nothing about
    /// what comes next.
    fn switches_to(&mut self, session: SessionId, line: Line, kind: PacketKind) -> bool {
        let (switch, candidate) = self.judge_switch(session, line, kind);
        if let Some(c) = candidate {
            self.candidate = Some(c);
        }
        switch
    }

    /// [`Self::switches_to`] without changing anything: the decision, and
    /// the candidate record it would leave (`None`: unchanged).
    fn judge_switch(
        &self,
        session: SessionId,
        line: Line,
        kind: PacketKind,
    ) -> (bool, Option<(SessionId, u8, u32)>) {
        if kind == PacketKind::EndOfSession {
            return (false, None);
        }
        if self.session.is_none() || self.end.is_some() {
            return (true, None);
        }
        let bit = match line {
            Line::A => 1,
            Line::B => 2,
            Line::Retransmission => 0,
        };
        let (lines, run) = match self.candidate {
            Some((c, lines, run)) if c == session => (lines | bit, run.saturating_add(1)),
            _ => (bit, 1),
        };
        let switch = lines == 3 || run >= SWITCH_AFTER_PACKETS;
        (switch, Some((session, lines, run)))
    }

    /// Whether [`Self::on_packet`] would end the current session for
    /// `packet` (and start the one it carries) before delivering anything
    /// from it. Changes nothing. A caller that keeps state per session (a
    /// book) resets it when this says so, before passing the packet on.
    /// False for the first session ever seen (nothing to end).
    pub fn would_replace_session(&self, line: Line, packet: &[u8]) -> bool {
        let Ok(pkt) = Packet::new_checked(packet) else {
            return false;
        };
        let session = pkt.session();
        let n = match pkt.kind() {
            PacketKind::Data(n) => n as u64,
            _ => 0,
        };
        let sane = pkt
            .sequence()
            .checked_add(n)
            .is_some_and(|end| end != EMPTY);
        sane && self.session.is_some()
            && self.session != Some(session)
            && self.retired != Some(session)
            && line != Line::Retransmission
            && self.judge_switch(session, line, pkt.kind()).0
    }

    fn start_session(&mut self, session: SessionId, seq: u64) {
        self.candidate = None;
        if let Some(old) = self.session {
            self.retired = Some(old);
            self.counters.session_changes += 1;
            // Saturating: a garbled heartbeat can claim a sequence near
            // u64::MAX (found by the `moldudp64` fuzz target).
            self.counters.abandoned = self
                .counters
                .abandoned
                .saturating_add(self.highest.saturating_sub(self.next));
        }
        self.session = Some(session);
        self.next = self.config.initial_sequence.unwrap_or(seq);
        self.highest = self.next;
        self.end = None;
        self.gap_since = None;
        self.slot_seq = [EMPTY; WINDOW];
        self.held = 0;
        self.outstanding = [None; MAX_OUTSTANDING];
    }

    /// Notes that sequence numbers up to `end` exist; `first_new` is the
    /// lowest one this packet tells us about.
    fn observe(&mut self, first_new: u64, end: u64, now: Nanos) {
        if first_new > self.highest.max(self.next) {
            self.counters.gaps += 1;
        }
        if end > self.highest {
            self.highest = end;
        }
        if self.has_gap() {
            if self.gap_since.is_none() {
                self.gap_since = Some(now);
            }
        } else {
            self.gap_since = None;
        }
    }

    fn slot(&self, s: u64) -> usize {
        (s % WINDOW as u64) as usize
    }

    fn is_held(&self, s: u64) -> bool {
        self.slot_seq[self.slot(s)] == s
    }

    fn accept<F: FnMut(u64, &[u8])>(
        &mut self,
        line: Line,
        s: u64,
        msg: &[u8],
        now: Nanos,
        deliver: &mut F,
    ) {
        if matches!(self.end, Some(end) if s >= end) {
            self.counters.after_end += 1;
            return;
        }
        if s < self.next {
            self.counters.duplicates.bump(line, 1);
            return;
        }
        // `s + 1` cannot overflow: on_packet checked sequence + count.
        self.observe(s, s + 1, now);
        if s == self.next {
            deliver(s, msg);
            self.counters.delivered += 1;
            self.next += 1;
            self.drain(deliver);
            // The oldest gap is now a later one: it gets its own full
            // delay from here (the other line may still fill it).
            self.gap_since = self.has_gap().then_some(now);
            return;
        }
        if s - self.next >= WINDOW as u64 {
            self.counters.out_of_window += 1;
            return;
        }
        let i = self.slot(s);
        if self.slot_seq[i] == s {
            self.counters.duplicates.bump(line, 1);
            return;
        }
        if msg.len() > SLOT {
            self.counters.oversize += 1;
            return;
        }
        // `i < WINDOW` (a remainder), and `msg.len() <= SLOT`.
        self.slot_data[i][..msg.len()].copy_from_slice(msg);
        self.slot_len[i] = msg.len() as u16;
        self.slot_seq[i] = s;
        self.held += 1;
        self.counters.buffered += 1;
    }

    fn drain<F: FnMut(u64, &[u8])>(&mut self, deliver: &mut F) {
        loop {
            let i = self.slot(self.next);
            if self.slot_seq[i] != self.next {
                break;
            }
            let len = (self.slot_len[i] as usize).min(SLOT);
            deliver(self.next, &self.slot_data[i][..len]);
            self.slot_seq[i] = EMPTY;
            self.held -= 1;
            self.counters.delivered += 1;
            self.next += 1;
        }
        if !self.has_gap() {
            self.gap_since = None;
        }
    }

    /// Returns the next retransmission request to send now, if any; call it
    /// until it returns `None`.
    ///
    /// A request covers the lowest run of missing messages that no request
    /// in flight covers, limited to the window and `max_request_count`. It is
    /// only made once a gap has been open for `request_delay_ns`, and while
    /// fewer than `max_outstanding` requests are in flight. A request not
    /// fully answered within `request_timeout_ns` is dropped from the
    /// in-flight set, so whatever is still missing is asked for again.
    pub fn poll(&mut self, now: Nanos) -> Option<RetransmitRequest> {
        let session = self.session?;
        let mut in_flight = 0;
        for o in self.outstanding.iter_mut() {
            if let Some(r) = *o {
                if r.end() <= self.next {
                    *o = None;
                } else if now.saturating_sub(r.sent_at) >= self.config.request_timeout_ns {
                    *o = None;
                    self.counters.request_timeouts += 1;
                } else {
                    in_flight += 1;
                }
            }
        }
        if !self.has_gap() {
            return None;
        }
        let since = self.gap_since?;
        if now.saturating_sub(since) < self.config.request_delay_ns {
            return None;
        }
        if in_flight >= self.config.max_outstanding.min(MAX_OUTSTANDING) {
            return None;
        }
        let limit = self.highest.min(self.next.saturating_add(WINDOW as u64));
        let covered_until = |s: u64| -> Option<u64> {
            self.outstanding
                .iter()
                .flatten()
                .find(|o| o.covers(s))
                .map(Outstanding::end)
        };
        let mut first = self.next;
        while first < limit {
            if let Some(end) = covered_until(first) {
                first = end;
            } else if self.is_held(first) {
                first += 1;
            } else {
                break;
            }
        }
        if first >= limit {
            return None;
        }
        let max = u64::from(self.config.max_request_count.max(1));
        let mut end = first + 1;
        while end < limit && end - first < max && !self.is_held(end) && covered_until(end).is_none()
        {
            end += 1;
        }
        let count = end - first;
        let slot = self.outstanding.iter_mut().find(|o| o.is_none())?;
        *slot = Some(Outstanding {
            first,
            count,
            sent_at: now,
        });
        self.counters.requests_sent += 1;
        Some(RetransmitRequest {
            server: self.config.server,
            request: RequestRepr {
                session,
                sequence: first,
                // count ≤ max_request_count, a u16.
                count: count as u16,
            },
        })
    }
}

/// A look at packets before [`Sequencer::on_packet`] takes them: which of
/// their messages it will deliver as it takes them, in order. A receive
/// batch uses it to warm what applying those messages will touch (a book's
/// lines) before the first of them is applied. Taken from the sequencer by
/// [`Sequencer::lookahead`]; changes nothing in it.
///
/// A packet counts only if it is a data packet of the current session that
/// starts at or before the next message due (one after a gap would be held,
/// not delivered); its messages from the next one due on are fresh, and the
/// cursor moves past them, so the same packet on lines A and B counts once.
/// A fresh message the sequencer already holds from an earlier packet is
/// delivered as that copy (the same bytes on a sound feed; a garbled one
/// may have sent other bytes under the number).
/// Messages the sequencer holds out of order, which a packet may release,
/// are not seen; nor is a change of session inside the batch (once a day:
/// what is named after it may not be delivered).
#[derive(Debug, Clone, Copy)]
pub struct Lookahead {
    session: Option<SessionId>,
    next: u64,
    /// The session's end, once announced: nothing at or after it is
    /// delivered.
    end: u64,
}

impl Lookahead {
    /// The fresh messages of `packet` (none if it is malformed, of another
    /// session, not a data packet, or after a gap), and moves the cursor
    /// past them.
    pub fn fresh<'p>(&mut self, packet: &'p [u8]) -> FreshMessages<'p> {
        let none = FreshMessages {
            messages: Messages {
                rest: &[],
                offset: HEADER_LEN,
                index: 0,
                remaining: 0,
                sequence: 0,
            },
            from: 0,
        };
        let Ok(pkt) = Packet::new_checked(packet) else {
            return none;
        };
        let PacketKind::Data(n) = pkt.kind() else {
            return none;
        };
        let first = pkt.sequence();
        // (A packet reaching the empty-slot marker is refused whole.)
        let Some(end) = first.checked_add(u64::from(n)).filter(|&e| e != EMPTY) else {
            return none;
        };
        let end = end.min(self.end);
        if self.session != Some(pkt.session()) || first > self.next || end <= self.next {
            return none;
        }
        let from = self.next;
        self.next = end;
        FreshMessages {
            messages: Messages {
                rest: packet.get(HEADER_LEN..).unwrap_or(&[]),
                offset: HEADER_LEN,
                index: 0,
                // Up to the session's end, if it comes first.
                remaining: u16::try_from(end - first).unwrap_or(n),
                sequence: first,
            },
            from,
        }
    }
}

/// The messages of one packet that [`Lookahead::fresh`] found the
/// sequencer will deliver from it (bytes without the length prefix). Ends
/// at a truncated block.
#[derive(Debug, Clone)]
pub struct FreshMessages<'p> {
    messages: Messages<'p>,
    from: u64,
}

impl<'p> FreshMessages<'p> {
    /// The same messages with their sequence numbers.
    pub fn sequenced(self) -> impl Iterator<Item = (u64, &'p [u8])> {
        let from = self.from;
        self.messages
            .map_while(Result::ok)
            .filter(move |&(seq, _)| seq >= from)
    }
}

impl<'p> Iterator for FreshMessages<'p> {
    type Item = &'p [u8];

    fn next(&mut self) -> Option<&'p [u8]> {
        loop {
            match self.messages.next()? {
                Ok((seq, msg)) if seq >= self.from => return Some(msg),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

impl<const WINDOW: usize, const SLOT: usize> fmt::Debug for Sequencer<WINDOW, SLOT> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sequencer")
            .field("session", &self.session)
            .field("next", &self.next)
            .field("highest", &self.highest)
            .field("held", &self.held)
            .field("counters", &self.counters)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const S1: SessionId = *b"SESSION001";
    const S2: SessionId = *b"SESSION002";
    const SERVER: Endpoint = Endpoint {
        addr: [10, 0, 0, 9],
        port: 9000,
    };

    fn msg(seq: u64) -> Vec<u8> {
        // Message bodies encode their own sequence number so tests can check
        // that the right bytes arrive under the right number.
        let mut m = vec![b'm'];
        m.extend_from_slice(&seq.to_be_bytes());
        m
    }

    fn packet(session: SessionId, first: u64, n: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 1500];
        let mut b = PacketBuilder::new(&mut buf, session, first).unwrap();
        for s in first..first + n {
            b.push(&msg(s)).unwrap();
        }
        let len = b.finish();
        buf.truncate(len);
        buf
    }

    fn heartbeat(session: SessionId, next: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 20];
        emit_heartbeat(&mut buf, session, next).unwrap();
        buf
    }

    type Seq = Sequencer<16, 16>;

    struct Harness {
        seq: Seq,
        got: Vec<(u64, Vec<u8>)>,
    }

    impl Harness {
        fn new(config: Config) -> Self {
            Harness {
                seq: Seq::new(config),
                got: Vec::new(),
            }
        }
        fn feed(&mut self, line: Line, pkt: &[u8], now: u64) -> Outcome {
            let got = &mut self.got;
            self.seq
                .on_packet(line, pkt, Nanos(now), &mut |s, m| got.push((s, m.to_vec())))
        }
        fn seqs(&self) -> Vec<u64> {
            self.got.iter().map(|(s, _)| *s).collect()
        }
        fn check_bodies(&self) {
            for (s, m) in &self.got {
                assert_eq!(m, &msg(*s), "body of {s}");
            }
        }
    }

    fn cfg() -> Config {
        Config::new(SERVER)
    }

    fn end_of_session(session: SessionId, next: u64) -> Vec<u8> {
        let mut buf = vec![0u8; 20];
        emit_end_of_session(&mut buf, session, next).unwrap();
        buf
    }

    /// The sequence number a test message body carries.
    fn seq_of(body: &[u8]) -> u64 {
        u64::from_be_bytes(body[1..9].try_into().unwrap())
    }

    /// What the lookahead finds in a batch, before the sequencer takes it.
    fn look(h: &Harness, batch: &[(Line, Vec<u8>)]) -> Vec<u64> {
        let mut ahead = h.seq.lookahead();
        batch
            .iter()
            .flat_map(|(_, p)| ahead.fresh(p).map(seq_of).collect::<Vec<_>>())
            .collect()
    }

    /// A batch of packets: the lookahead names exactly the messages the
    /// sequencer then delivers straight from them, in order, each once
    /// (lines A and B both carry them), and nothing of a packet after a
    /// gap, of another session, a heartbeat or a malformed packet.
    #[test]
    fn lookahead_names_what_the_batch_delivers_from_its_packets() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 3), 0);
        let mut truncated = packet(S1, 9, 2);
        truncated.truncate(truncated.len() - 3);
        let batch = vec![
            (Line::A, packet(S1, 4, 2)),
            (Line::B, packet(S1, 4, 2)),
            (Line::B, packet(S1, 5, 3)),
            (Line::A, heartbeat(S1, 8)),
            (Line::A, packet(S2, 1, 4)),
            (Line::A, vec![0u8; 7]),
            (Line::A, packet(S1, 3, 1)),
            (Line::A, packet(S1, 8, 1)),
            (Line::A, truncated),
        ];
        let ahead = look(&h, &batch);
        assert_eq!(ahead, vec![4, 5, 6, 7, 8, 9]);
        let before = h.got.len();
        for (line, p) in &batch {
            h.feed(*line, p, 1);
        }
        let delivered: Vec<u64> = h.seqs()[before..].to_vec();
        assert_eq!(delivered, ahead);
        h.check_bodies();
        // After a gap: held, not delivered, so not named.
        assert!(look(&h, &[(Line::A, packet(S1, 20, 2))]).is_empty());
        h.feed(Line::A, &packet(S1, 20, 2), 2);
        // The packet that fills the gap: its messages are named, and 20 and
        // 21 are delivered as the copies held (the same bytes).
        let fill = vec![(Line::B, packet(S1, 10, 12))];
        let ahead = look(&h, &fill);
        assert_eq!(ahead, (10..22).collect::<Vec<_>>());
        let before = h.got.len();
        h.feed(Line::B, &fill[0].1, 3);
        assert_eq!(h.seqs()[before..].to_vec(), ahead);
        h.check_bodies();
        // Before any session: nothing is known to come.
        let fresh = Harness::new(cfg());
        assert!(look(&fresh, &[(Line::A, packet(S1, 1, 2))]).is_empty());
    }

    /// After an announced end of session nothing at or after it is named
    /// (the sequencer delivers none of it), nor anything of a packet
    /// reaching the empty-slot number (refused whole).
    #[test]
    fn lookahead_names_nothing_past_the_end_of_session() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 3), 0);
        h.feed(Line::A, &end_of_session(S1, 6), 1);
        let batch = vec![(Line::A, packet(S1, 4, 4))];
        let ahead = look(&h, &batch);
        assert_eq!(ahead, vec![4, 5]);
        let before = h.got.len();
        h.feed(Line::A, &batch[0].1, 2);
        assert_eq!(h.seqs()[before..].to_vec(), ahead);
        assert!(look(&h, &[(Line::A, packet(S1, 6, 1))]).is_empty());
        let mut g = Harness::new(cfg());
        g.feed(Line::A, &heartbeat(S1, u64::MAX - 2), 0);
        assert!(look(&g, &[(Line::A, packet(S1, u64::MAX - 2, 2))]).is_empty());
    }

    proptest! {
        /// Whatever a batch holds (short of a session change), the
        /// lookahead never names a message the sequencer does not deliver
        /// from that batch, and names them in the order they are delivered.
        #[test]
        fn lookahead_names_only_what_is_delivered_in_order(
            batches in proptest::collection::vec(
                proptest::collection::vec((any::<bool>(), 0u64..40, 1u64..5, any::<bool>()), 1..12),
                1..8),
        ) {
            let mut h = Harness::new(cfg());
            h.feed(Line::A, &packet(S1, 1, 1), 0);
            for (t, batch) in batches.iter().enumerate() {
                let batch: Vec<(Line, Vec<u8>)> = batch
                    .iter()
                    .map(|&(a, first, n, other)| {
                        let line = if a { Line::A } else { Line::B };
                        (line, packet(if other && first % 7 == 0 { S2 } else { S1 }, first, n))
                    })
                    .collect();
                let ahead = look(&h, &batch);
                let before = h.got.len();
                let changes = h.seq.counters().session_changes;
                for (line, p) in &batch {
                    h.feed(*line, p, t as u64);
                }
                if h.seq.counters().session_changes != changes {
                    // Not foreseen (see `Lookahead`).
                    continue;
                }
                let delivered = &h.seqs()[before..];
                let mut rest = delivered.iter();
                for s in &ahead {
                    prop_assert!(rest.any(|d| d == s), "{} named but not delivered in order: {:?} / {:?}", s, ahead, delivered);
                }
            }
        }
    }

    /// Start-up during a roll from S1 to S2 with line B a packet behind A:
    /// S1's end of session on B must not take the sequencer back to S1.
    #[test]
    fn a_lagging_line_at_a_session_roll_does_not_lock_out_the_new_session() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S2, 1, 2), 0);
        assert_eq!(
            h.feed(Line::B, &end_of_session(S1, 500), 1),
            Outcome::UnconfirmedSession
        );
        // B's last packets of S1, then S2 on both lines.
        assert_eq!(
            h.feed(Line::B, &packet(S1, 498, 2), 1),
            Outcome::UnconfirmedSession
        );
        h.feed(Line::A, &packet(S2, 3, 1), 2);
        h.feed(Line::B, &packet(S2, 3, 2), 3);
        assert_eq!(h.seq.session(), Some(S2));
        assert_eq!(h.seqs(), vec![1, 2, 3, 4]);
        assert!(!h.seq.has_gap());
        assert_eq!(h.seq.counters().unconfirmed_session, 2);
    }

    /// A single stray packet of another session changes nothing; the real
    /// next session is taken at once after the current one's end.
    #[test]
    fn sessions_switch_at_the_end_or_when_confirmed() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 2), 0);
        let stray = *b"SESSION999";
        assert_eq!(
            h.feed(Line::A, &packet(stray, 1, 1), 1),
            Outcome::UnconfirmedSession
        );
        h.feed(Line::A, &packet(S1, 3, 1), 2);
        assert_eq!(h.seq.session(), Some(S1));
        // The end of S1, then S2 on one line only: taken at once.
        h.feed(Line::A, &end_of_session(S1, 4), 3);
        assert_eq!(h.feed(Line::A, &packet(S2, 1, 1), 4), Outcome::NewSession);
        assert_eq!(h.seqs(), vec![1, 2, 3, 1]);
        // A one-line feed whose end of session was lost switches after a
        // run of the new session's packets with none of the old between.
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        for i in 0..SWITCH_AFTER_PACKETS - 1 {
            assert_eq!(
                h.feed(Line::A, &heartbeat(S2, 1), u64::from(i) + 1),
                Outcome::UnconfirmedSession
            );
        }
        h.feed(Line::A, &heartbeat(S1, 2), 100); // S1 still alive: run restarts
        for i in 0..SWITCH_AFTER_PACKETS - 1 {
            assert_eq!(
                h.feed(Line::A, &heartbeat(S2, 1), 200 + u64::from(i)),
                Outcome::UnconfirmedSession
            );
        }
        assert_eq!(h.feed(Line::A, &packet(S2, 1, 1), 300), Outcome::NewSession);
        assert_eq!(h.seq.session(), Some(S2));
    }

    /// A packet whose last number would reach u64::MAX (the empty-slot
    /// marker) is malformed: nothing delivered, nothing panics.
    #[test]
    fn numbers_near_u64_max_are_malformed() {
        let mut config = cfg();
        config.initial_sequence = None;
        let mut h = Harness::new(config);
        assert_eq!(
            h.feed(Line::A, &packet(S1, u64::MAX - 1, 1), 0),
            Outcome::Malformed
        );
        assert_eq!(
            h.feed(Line::A, &heartbeat(S1, u64::MAX), 0),
            Outcome::Malformed
        );
        assert!(h.got.is_empty());
        h.feed(Line::A, &packet(S1, u64::MAX - 3, 2), 1);
        assert_eq!(h.seqs(), vec![u64::MAX - 3, u64::MAX - 2]);
    }

    /// Every hole gets the whole request delay: one that became the oldest
    /// when the line filled the hole before it is not asked for at once.
    #[test]
    fn every_gap_gets_the_whole_request_delay() {
        let mut config = cfg();
        config.request_delay_ns = 100;
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 3, 1), 0); // {2} missing from 0
        h.feed(Line::A, &packet(S1, 5, 1), 90); // {4} missing from 90
        h.feed(Line::B, &packet(S1, 2, 1), 95); // B fills {2}
        assert_eq!(h.seq.poll(Nanos(100)), None, "B still has time for {{4}}");
        let r = h.seq.poll(Nanos(195)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (4, 1));
    }

    /// Settings that would stall or spin are taken at their least working
    /// value: a `poll` loop ends with a request timeout of 0.
    #[test]
    fn a_zero_timeout_does_not_make_poll_spin() {
        let mut config = cfg();
        config.request_timeout_ns = 0;
        config.max_outstanding = 0;
        config.initial_sequence = Some(0);
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 3, 1), 0);
        let mut n = 0;
        while h.seq.poll(Nanos(5)).is_some() {
            n += 1;
            assert!(n < 10, "{n} requests for one missing message");
        }
        assert_eq!(n, 1);
        assert_eq!(h.seqs(), vec![1]);
    }

    #[test]
    fn packet_view_and_builder() {
        let p = packet(S1, 5, 3);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.session(), S1);
        assert_eq!(v.sequence(), 5);
        assert_eq!(v.count(), 3);
        assert_eq!(v.kind(), PacketKind::Data(3));
        let items: Vec<_> = v.messages().map(|r| r.unwrap()).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[2], (7, &msg(7)[..]));
        // Layout: 20-byte header, then 2-byte length prefixes.
        assert_eq!(&p[..10], &S1);
        assert_eq!(&p[10..18], &5u64.to_be_bytes());
        assert_eq!(&p[18..20], &[0, 3]);
        assert_eq!(&p[20..22], &[0, 9]);
        assert_eq!(p.len(), 20 + 3 * 11);
    }

    #[test]
    fn heartbeat_and_end_of_session_kinds() {
        let mut buf = [0u8; 20];
        emit_heartbeat(&mut buf, S1, 9).unwrap();
        let v = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(v.kind(), PacketKind::Heartbeat);
        assert_eq!(v.messages().count(), 0);
        emit_end_of_session(&mut buf, S1, 9).unwrap();
        let v = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(v.kind(), PacketKind::EndOfSession);
        assert_eq!(v.count(), 0xFFFF);
        assert_eq!(v.messages().count(), 0);
    }

    #[test]
    fn truncated_block_stops_iteration_with_error() {
        let mut p = packet(S1, 1, 3);
        p.truncate(p.len() - 1);
        let v = Packet::new_checked(&p[..]).unwrap();
        let items: Vec<_> = v.messages().collect();
        assert_eq!(items.len(), 3);
        assert!(items[0].is_ok() && items[1].is_ok());
        assert_eq!(
            items[2],
            Err(Error::MessageTruncated {
                index: 2,
                offset: 42
            })
        );
        assert_eq!(
            Packet::new_checked(&p[..19]).err(),
            Some(Error::TooShort { len: 19 })
        );
    }

    #[test]
    fn request_round_trip_and_length() {
        let r = RequestRepr {
            session: S2,
            sequence: 0x0102_0304_0506_0708,
            count: 513,
        };
        let mut buf = [0u8; 20];
        assert_eq!(r.emit(&mut buf), Ok(20));
        assert_eq!(&buf[10..18], &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(&buf[18..20], &[2, 1]);
        assert_eq!(RequestRepr::parse(&buf), Ok(r));
        assert_eq!(
            RequestRepr::parse(&buf[..19]),
            Err(Error::RequestLength { len: 19 })
        );
        assert_eq!(
            r.emit(&mut buf[..10]),
            Err(Error::BufferTooSmall {
                needed: 20,
                available: 10
            })
        );
    }

    #[test]
    fn builder_limits() {
        let mut buf = [0u8; 30];
        let mut b = PacketBuilder::new(&mut buf, S1, 1).unwrap();
        assert!(b.fits(8));
        assert!(!b.fits(9));
        b.push(&[1; 8]).unwrap();
        assert_eq!(
            b.push(&[1]),
            Err(Error::BufferTooSmall {
                needed: 33,
                available: 30
            })
        );
        assert_eq!(b.count(), 1);
        assert_eq!(b.finish(), 30);
        let mut small = [0u8; 19];
        assert!(PacketBuilder::new(&mut small, S1, 1).is_err());
    }

    #[test]
    fn in_order_delivery() {
        let mut h = Harness::new(cfg());
        assert_eq!(h.feed(Line::A, &packet(S1, 1, 3), 0), Outcome::NewSession);
        assert_eq!(h.feed(Line::A, &packet(S1, 4, 2), 1), Outcome::Accepted);
        assert_eq!(h.seqs(), vec![1, 2, 3, 4, 5]);
        h.check_bodies();
        assert_eq!(h.seq.next_expected(), 6);
        assert_eq!(h.seq.counters().delivered, 5);
        assert_eq!(h.seq.counters().gaps, 0);
        assert_eq!(h.seq.poll(Nanos(2)), None);
    }

    #[test]
    fn gap_request_and_fill_from_retransmission() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 2), 0);
        h.feed(Line::A, &packet(S1, 6, 2), 10); // 3..=5 lost
        assert_eq!(h.seqs(), vec![1, 2]);
        assert_eq!(h.seq.held(), 2);
        assert_eq!(h.seq.counters().gaps, 1);
        let r = h.seq.poll(Nanos(10)).unwrap();
        assert_eq!(r.server, SERVER);
        assert_eq!(
            r.request,
            RequestRepr {
                session: S1,
                sequence: 3,
                count: 3
            }
        );
        assert_eq!(h.seq.poll(Nanos(11)), None, "already in flight");
        h.feed(Line::Retransmission, &packet(S1, 3, 3), 20);
        assert_eq!(h.seqs(), (1..=7).collect::<Vec<_>>());
        h.check_bodies();
        assert_eq!(h.seq.held(), 0);
        assert!(!h.seq.has_gap());
        assert_eq!(h.seq.counters().requests_sent, 1);
        assert_eq!(h.seq.poll(Nanos(10_000_000_000)), None);
        assert_eq!(h.seq.counters().request_timeouts, 0);
    }

    #[test]
    fn ab_interleaving_with_loss_on_each_line() {
        let mut h = Harness::new(cfg());
        // Packets of 2 messages: 1-2, 3-4, 5-6, 7-8, 9-10.
        let pkts: Vec<_> = (0..5).map(|i| packet(S1, 1 + 2 * i, 2)).collect();
        // A loses packet 1 (3-4); B loses packet 3 (7-8); B lags A.
        h.feed(Line::A, &pkts[0], 0);
        h.feed(Line::B, &pkts[0], 1);
        h.feed(Line::A, &pkts[2], 2); // 5-6 buffered
        h.feed(Line::B, &pkts[1], 3); // fills 3-4, drains 5-6
        h.feed(Line::A, &pkts[3], 4);
        h.feed(Line::B, &pkts[2], 5);
        h.feed(Line::A, &pkts[4], 6);
        h.feed(Line::B, &pkts[4], 7);
        assert_eq!(h.seqs(), (1..=10).collect::<Vec<_>>());
        h.check_bodies();
        let c = h.seq.counters();
        assert_eq!(c.duplicates.a, 0);
        assert_eq!(c.duplicates.b, 2 + 2 + 2);
        assert_eq!(c.packets.a, 4);
        assert_eq!(c.packets.b, 4);
        assert_eq!(c.delivered, 10);
        assert_eq!(c.requests_sent, 0);
    }

    #[test]
    fn request_delay_lets_other_line_fill() {
        let mut config = cfg();
        config.request_delay_ns = 100;
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 3, 1), 10);
        assert_eq!(h.seq.poll(Nanos(50)), None, "within delay");
        h.feed(Line::B, &packet(S1, 2, 1), 60);
        assert_eq!(h.seq.poll(Nanos(200)), None, "B filled it");
        assert_eq!(h.seqs(), vec![1, 2, 3]);

        h.feed(Line::A, &packet(S1, 5, 1), 300);
        assert_eq!(h.seq.poll(Nanos(399)), None);
        let r = h.seq.poll(Nanos(400)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (4, 1));
    }

    #[test]
    fn duplicates_on_every_line_are_counted() {
        let mut h = Harness::new(cfg());
        let p = packet(S1, 1, 3);
        h.feed(Line::A, &p, 0);
        h.feed(Line::A, &p, 1);
        h.feed(Line::B, &p, 2);
        h.feed(Line::Retransmission, &p, 3);
        assert_eq!(h.seqs(), vec![1, 2, 3]);
        let c = h.seq.counters();
        assert_eq!(
            c.duplicates,
            PerLine {
                a: 3,
                b: 3,
                retransmission: 3
            }
        );
        // A duplicate of a *buffered* message is counted too.
        h.feed(Line::A, &packet(S1, 6, 1), 4);
        h.feed(Line::B, &packet(S1, 6, 1), 5);
        assert_eq!(h.seq.counters().duplicates.b, 4);
        assert_eq!(h.seq.held(), 1);
    }

    #[test]
    fn out_of_window_dropped_then_recovered() {
        let mut h = Harness::new(cfg()); // window 16
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 2 + 16, 1), 1); // 18: 2 + 16 is outside [2, 18)
        h.feed(Line::A, &packet(S1, 17, 1), 2); // inside
        let c = *h.seq.counters();
        assert_eq!(c.out_of_window, 1);
        assert_eq!(c.buffered, 1);
        assert_eq!(h.seq.highest_known(), 19);
        // The request stops at the window edge and skips the held message.
        let r = h.seq.poll(Nanos(3)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (2, 15));
        h.feed(Line::Retransmission, &packet(S1, 2, 15), 4);
        assert_eq!(h.seqs(), (1..=17).collect::<Vec<_>>());
        // 18 is still missing and now inside the window: asked for next.
        let r = h.seq.poll(Nanos(5)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (18, 1));
        h.feed(Line::Retransmission, &packet(S1, 18, 1), 6);
        assert_eq!(h.seq.next_expected(), 19);
        h.check_bodies();
    }

    #[test]
    fn oversize_out_of_order_message_is_counted_not_stored() {
        let mut h = Harness::new(cfg()); // slots of 16 bytes
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        let mut buf = vec![0u8; 100];
        let mut b = PacketBuilder::new(&mut buf, S1, 3).unwrap();
        b.push(&[7u8; 17]).unwrap();
        let n = b.finish();
        h.feed(Line::A, &buf[..n], 1);
        assert_eq!(h.seq.counters().oversize, 1);
        assert_eq!(h.seq.held(), 0);
        // In order, the same message needs no slot.
        h.feed(Line::B, &packet(S1, 2, 1), 2);
        h.feed(Line::B, &buf[..n], 3);
        assert_eq!(h.got.last().map(|(s, m)| (*s, m.len())), Some((3, 17)));
    }

    #[test]
    fn heartbeat_reveals_tail_loss() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 2), 0);
        assert_eq!(h.feed(Line::A, &heartbeat(S1, 3), 1), Outcome::Control);
        assert!(!h.seq.has_gap());
        assert_eq!(h.seq.poll(Nanos(1)), None);
        // Messages 3-4 lost; the next heartbeat says 5 comes next.
        h.feed(Line::A, &heartbeat(S1, 5), 2);
        assert_eq!(h.seq.counters().heartbeats, 2);
        assert_eq!(h.seq.counters().gaps, 1);
        let r = h.seq.poll(Nanos(2)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (3, 2));
    }

    #[test]
    fn end_of_session_finishes_after_last_message() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 2), 0);
        let mut eos = [0u8; 20];
        emit_end_of_session(&mut eos, S1, 4).unwrap();
        assert_eq!(h.feed(Line::A, &eos, 1), Outcome::Control);
        assert!(!h.seq.is_finished(), "message 3 still missing");
        let r = h.seq.poll(Nanos(1)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (3, 1));
        h.feed(Line::Retransmission, &packet(S1, 3, 1), 2);
        assert!(h.seq.is_finished());
        // Anything numbered at or after the end is not a message of this session.
        h.feed(Line::B, &packet(S1, 4, 1), 3);
        assert_eq!(h.seq.counters().after_end, 1);
        assert_eq!(h.seqs(), vec![1, 2, 3]);
        assert_eq!(h.seq.counters().end_of_session, 1);
    }

    #[test]
    fn session_change_starts_new_sequence_and_drops_stale() {
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S1, 1, 2), 0);
        h.feed(Line::A, &packet(S1, 5, 1), 1); // 3-4 missing, 5 held
                                               // S1 has not ended: S2 on one line is not yet reason to switch…
        assert_eq!(
            h.feed(Line::A, &packet(S2, 1, 2), 2),
            Outcome::UnconfirmedSession
        );
        assert_eq!(h.seq.session(), Some(S1));
        // …on both lines it is.
        assert_eq!(h.feed(Line::B, &packet(S2, 1, 2), 2), Outcome::NewSession);
        assert_eq!(h.seq.session(), Some(S2));
        assert_eq!(h.seq.held(), 0);
        assert_eq!(h.seq.counters().abandoned, 3);
        assert_eq!(h.seq.counters().session_changes, 1);
        // Line B still on the old session: dropped, no switch back.
        assert_eq!(h.feed(Line::B, &packet(S1, 3, 2), 3), Outcome::StaleSession);
        assert_eq!(h.seq.session(), Some(S2));
        // A retransmission answer for some other session never switches.
        assert_eq!(
            h.feed(Line::Retransmission, &packet(*b"SESSION003", 1, 1), 4),
            Outcome::ForeignSession
        );
        h.feed(Line::B, &packet(S2, 3, 1), 5);
        assert_eq!(h.seqs(), vec![1, 2, 1, 2, 3]);
        // New session joined mid-stream with initial_sequence Some(1): 1..=2 asked for.
        let mut h = Harness::new(cfg());
        h.feed(Line::A, &packet(S2, 3, 1), 0);
        let r = h.seq.poll(Nanos(0)).unwrap();
        assert_eq!(
            (r.request.session, r.request.sequence, r.request.count),
            (S2, 1, 2)
        );
    }

    #[test]
    fn abandoned_counter_saturates_on_absurd_sequences() {
        let mut h = Harness::new(cfg());
        for (i, s) in [S1, S2, *b"SESSION003", *b"SESSION004"].iter().enumerate() {
            // (Both lines: a session change is confirmed by both.)
            h.feed(Line::A, &heartbeat(*s, u64::MAX - 1), i as u64);
            h.feed(Line::B, &heartbeat(*s, u64::MAX - 1), i as u64);
        }
        assert_eq!(h.seq.counters().session_changes, 3);
        assert_eq!(h.seq.counters().abandoned, u64::MAX);
    }

    #[test]
    fn late_join_starts_at_first_packet() {
        let mut config = cfg();
        config.initial_sequence = None;
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1000, 2), 0);
        assert_eq!(h.seqs(), vec![1000, 1001]);
        assert_eq!(h.seq.poll(Nanos(0)), None);
    }

    #[test]
    fn request_timeout_re_requests_what_is_still_missing() {
        let mut config = cfg();
        config.request_timeout_ns = 1_000;
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 6, 1), 0); // 2..=5 missing
        let r = h.seq.poll(Nanos(0)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (2, 4));
        assert_eq!(h.seq.poll(Nanos(999)), None);
        // Partial answer: 2-3 only.
        h.feed(Line::Retransmission, &packet(S1, 2, 2), 500);
        assert_eq!(h.seq.poll(Nanos(999)), None, "request still in flight");
        let r = h.seq.poll(Nanos(1_000)).unwrap();
        assert_eq!((r.request.sequence, r.request.count), (4, 2));
        assert_eq!(h.seq.counters().request_timeouts, 1);
        assert_eq!(h.seq.counters().requests_sent, 2);
    }

    #[test]
    fn outstanding_requests_are_capped_and_split_by_max_count() {
        let mut config = cfg();
        config.max_outstanding = 2;
        config.max_request_count = 2;
        let mut h = Harness::new(config);
        h.feed(Line::A, &packet(S1, 1, 1), 0);
        h.feed(Line::A, &packet(S1, 10, 1), 0); // 2..=9 missing
        let a = h.seq.poll(Nanos(0)).unwrap().request;
        let b = h.seq.poll(Nanos(0)).unwrap().request;
        assert_eq!((a.sequence, a.count), (2, 2));
        assert_eq!((b.sequence, b.count), (4, 2));
        assert_eq!(h.seq.poll(Nanos(0)), None, "cap of 2 reached");
        h.feed(Line::Retransmission, &packet(S1, 2, 2), 1);
        let c = h.seq.poll(Nanos(1)).unwrap().request;
        assert_eq!((c.sequence, c.count), (6, 2));
    }

    #[test]
    fn malformed_packets_are_counted_and_prefix_used() {
        let mut h = Harness::new(cfg());
        assert_eq!(h.feed(Line::A, &[0u8; 5], 0), Outcome::Malformed);
        let mut p = packet(S1, 1, 3);
        p.truncate(p.len() - 2);
        h.feed(Line::A, &p, 1);
        assert_eq!(h.seqs(), vec![1, 2]);
        assert_eq!(h.seq.counters().malformed, 2);
        // sequence + count overflowing u64
        let mut over = vec![0u8; 100];
        let mut b = PacketBuilder::new(&mut over, S1, u64::MAX).unwrap();
        b.push(b"x").unwrap();
        b.push(b"y").unwrap();
        let n = b.finish();
        assert_eq!(h.feed(Line::A, &over[..n], 2), Outcome::Malformed);
        assert_eq!(h.seq.counters().malformed, 3);
    }

    /// Model check: a random permutation of packets over A, B and
    /// retransmission, with random drops and duplicates, always delivers a
    /// strictly increasing, gap-free prefix with the right bodies; and after
    /// answering every request the whole range arrives exactly once.
    fn model_run(order: &[(u8, u8)], total_pkts: u64) {
        let mut h = Harness::new(cfg());
        let pkts: Vec<_> = (0..total_pkts).map(|i| packet(S1, 1 + 3 * i, 3)).collect();
        for (t, (line, idx)) in order.iter().enumerate() {
            let line = match line % 3 {
                0 => Line::A,
                1 => Line::B,
                _ => Line::Retransmission,
            };
            let p = &pkts[*idx as usize % pkts.len()];
            h.feed(line, p, t as u64);
        }
        let got = h.seqs();
        for (i, s) in got.iter().enumerate() {
            assert_eq!(*s, 1 + i as u64);
        }
        h.check_bodies();
        // Serve requests until nothing is missing.
        let mut now = order.len() as u64;
        for _ in 0..200 {
            now += 2_000_000_000;
            let Some(r) = h.seq.poll(Nanos(now)) else {
                if !h.seq.has_gap() {
                    break;
                }
                continue;
            };
            let mut buf = vec![0u8; 1500];
            let mut b = PacketBuilder::new(&mut buf, S1, r.request.sequence).unwrap();
            for s in r.request.sequence..r.request.sequence + r.request.count as u64 {
                b.push(&msg(s)).unwrap();
            }
            let n = b.finish();
            h.feed(Line::Retransmission, &buf[..n], now);
        }
        assert!(!h.seq.has_gap());
        let got = h.seqs();
        assert_eq!(got, (1..h.seq.next_expected()).collect::<Vec<_>>());
        assert_eq!(h.seq.counters().delivered, got.len() as u64);
        h.check_bodies();
    }

    proptest! {
        #[test]
        fn sequencer_model(order in proptest::collection::vec((0u8..3, 0u8..12), 0..60)) {
            model_run(&order, 12);
        }

        #[test]
        fn packet_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = (p.session(), p.sequence(), p.kind());
                for m in p.messages() { let _ = m; }
            }
            let _ = RequestRepr::parse(&bytes);
        }

        /// `would_replace_session` predicts exactly when `on_packet` ends
        /// a session, whatever the lines, sessions and packet kinds.
        #[test]
        fn a_session_change_is_predicted_before_the_packet(
            pkts in proptest::collection::vec((0u8..3, 0usize..3, 0u8..4, 1u64..6), 1..80)
        ) {
            let sessions = [S1, S2, *b"SESSION003"];
            let mut h = Harness::new(cfg());
            for (i, (line, session, kind, seq)) in pkts.into_iter().enumerate() {
                let line = [Line::A, Line::B, Line::Retransmission][line as usize];
                let session = sessions[session];
                let pkt = match kind {
                    0 | 1 => packet(session, seq, 1),
                    2 => heartbeat(session, seq),
                    _ => end_of_session(session, seq),
                };
                let had = h.seq.session().is_some();
                let predicted = h.seq.would_replace_session(line, &pkt);
                let outcome = h.feed(line, &pkt, i as u64);
                prop_assert_eq!(predicted, had && outcome == Outcome::NewSession);
            }
        }

        #[test]
        fn sequencer_never_panics(
            pkts in proptest::collection::vec(
                (0u8..3, proptest::collection::vec(any::<u8>(), 0..80), any::<u64>()), 0..20)
        ) {
            let mut s = Sequencer::<8, 16>::new(Config { max_request_count: 0, ..cfg() });
            let mut delivered = 0u64;
            for (line, mut bytes, now) in pkts {
                // Steer some packets into the current session to reach deep paths.
                if bytes.len() >= 10 && line == 0 { bytes[..10].copy_from_slice(&S1); }
                let line = [Line::A, Line::B, Line::Retransmission][line as usize];
                s.on_packet(line, &bytes, Nanos(now), &mut |_, _| delivered += 1);
                while s.poll(Nanos(now)).is_some() {}
            }
            prop_assert_eq!(s.counters().delivered, delivered);
        }
    }
}
