//! Commands (Linux → appliance) and replies/events (appliance → Linux): the
//! byte layout of one ring frame. Little-endian, length-prefixed text, no
//! padding. Decoding borrows from the frame buffer (zero copy) and rejects
//! unknown kinds, truncation, trailing bytes and non-UTF-8 text.
//!
//! ```text
//! request:  id u64 | kind u16 | body
//! message:  class u8 (1 reply, 2 event) | reply: id u64 | kind u16 | body
//!                                        | event: kind u16 | body
//! ```

use super::layout::ApplianceState;
use types::{OrderId, Price, Side, StockLocate, StrategyId, Symbol, VenueId};

/// Why a frame could not be encoded or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// Encoding: the output buffer (ring slot) is too small.
    BufferTooSmall,
    /// Decoding: the frame ended inside a field.
    Truncated,
    /// Decoding: bytes left over after the message.
    Trailing,
    UnknownKind(u16),
    /// Text that is not UTF-8, or too long for its length prefix.
    BadText,
    /// A field outside its domain (enum value, flag).
    BadValue,
}

struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), FrameError> {
        let end = self
            .pos
            .checked_add(b.len())
            .ok_or(FrameError::BufferTooSmall)?;
        self.buf
            .get_mut(self.pos..end)
            .ok_or(FrameError::BufferTooSmall)?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
    fn u8(&mut self, v: u8) -> Result<(), FrameError> {
        self.bytes(&[v])
    }
    fn u16(&mut self, v: u16) -> Result<(), FrameError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u32(&mut self, v: u32) -> Result<(), FrameError> {
        self.bytes(&v.to_le_bytes())
    }
    fn u64(&mut self, v: u64) -> Result<(), FrameError> {
        self.bytes(&v.to_le_bytes())
    }
    fn text16(&mut self, s: &str) -> Result<(), FrameError> {
        let len = u16::try_from(s.len()).map_err(|_| FrameError::BadText)?;
        self.u16(len)?;
        self.bytes(s.as_bytes())
    }
    fn blob32(&mut self, b: &[u8]) -> Result<(), FrameError> {
        let len = u32::try_from(b.len()).map_err(|_| FrameError::BufferTooSmall)?;
        self.u32(len)?;
        self.bytes(b)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let end = self.pos.checked_add(n).ok_or(FrameError::Truncated)?;
        let s = self.buf.get(self.pos..end).ok_or(FrameError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        self.take(N)?.try_into().map_err(|_| FrameError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, FrameError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn text16(&mut self) -> Result<&'a str, FrameError> {
        let n = self.u16()? as usize;
        core::str::from_utf8(self.take(n)?).map_err(|_| FrameError::BadText)
    }
    fn blob32(&mut self) -> Result<&'a [u8], FrameError> {
        let n = self.u32()? as usize;
        self.take(n)
    }
    fn end(&self) -> Result<(), FrameError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(FrameError::Trailing)
        }
    }
}

/// A persisted FIX session position, per venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixSeqRecord {
    pub venue: VenueId,
    /// Next sequence number expected from the venue.
    pub next_in: u64,
    /// The sequence number to send next after a restart: never below one
    /// already used. The appliance journals a reservation ahead of use, so
    /// a restart may skip numbers (the venue's resend request for them is
    /// answered with a gap fill) but never reuses one.
    pub next_out: u64,
    /// ClOrdID epoch of the boot that wrote it: the next boot takes a
    /// higher one, so no ClOrdID is ever used twice with the venue.
    pub epoch: u32,
}

/// One execution, as journaled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillRecord {
    pub exec_seq: u64,
    pub order: OrderId,
    pub venue: VenueId,
    pub locate: StockLocate,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: u32,
    pub price: Price,
    pub ts_ns: u64,
    /// The venue's ExecID (17) of the execution, hashed (the OMS's
    /// `ExecKey`); 0 when the report had none. After a crash the venue
    /// resends reports whose fills the journal may or may not hold: this
    /// tells the two apart.
    pub exec_key: u64,
    /// The strategy whose order it was (for a fill of an earlier boot's
    /// order, recovered from the venue's resend, the one its ClOrdID
    /// names); `None` when the record does not say.
    pub strategy: Option<StrategyId>,
    /// For a record of a bust or correction: the ExecID key of the
    /// execution it takes back (the record then is that execution taken
    /// back, an opposite fill at its price; the correction's new fill is a
    /// record of its own with 0 here). 0 for a fill.
    pub adjusts: u64,
}

/// A piece of durable state handed back to the appliance at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalRecord {
    FixSeq(FixSeqRecord),
    Fill(FillRecord),
    /// The hand-back is complete; `records` were sent before this one.
    End {
        records: u64,
    },
}

fn put_fix_seq(w: &mut Writer<'_>, r: &FixSeqRecord) -> Result<(), FrameError> {
    w.u8(r.venue.0)?;
    w.u64(r.next_in)?;
    w.u64(r.next_out)?;
    w.u32(r.epoch)
}

fn get_fix_seq(r: &mut Reader<'_>) -> Result<FixSeqRecord, FrameError> {
    Ok(FixSeqRecord {
        venue: VenueId(r.u8()?),
        next_in: r.u64()?,
        next_out: r.u64()?,
        epoch: r.u32()?,
    })
}

fn put_fill(w: &mut Writer<'_>, f: &FillRecord) -> Result<(), FrameError> {
    w.u64(f.exec_seq)?;
    w.u64(f.order.0)?;
    w.u8(f.venue.0)?;
    w.u16(f.locate)?;
    w.bytes(&f.symbol.0)?;
    w.u8(f.side.to_itch())?;
    w.u32(f.qty)?;
    w.u64(f.price.0 as u64)?;
    w.u64(f.ts_ns)?;
    w.u64(f.exec_key)?;
    match f.strategy {
        Some(s) => {
            w.u8(1)?;
            w.u16(s.0)?;
        }
        None => w.u8(0)?,
    }
    w.u64(f.adjusts)
}

fn get_fill(r: &mut Reader<'_>) -> Result<FillRecord, FrameError> {
    Ok(FillRecord {
        exec_seq: r.u64()?,
        order: OrderId(r.u64()?),
        venue: VenueId(r.u8()?),
        locate: r.u16()?,
        symbol: Symbol(r.array()?),
        side: Side::from_itch(r.u8()?).ok_or(FrameError::BadValue)?,
        qty: r.u32()?,
        price: Price(r.u64()? as i64),
        ts_ns: r.u64()?,
        exec_key: r.u64()?,
        strategy: match r.u8()? {
            0 => None,
            1 => Some(StrategyId(r.u16()?)),
            _ => return Err(FrameError::BadValue),
        },
        adjusts: r.u64()?,
    })
}

/// Linux → appliance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    GetStatus,
    /// A configuration as JSON (see [`super::config`]).
    ApplyConfig {
        json: &'a [u8],
    },
    /// Engage the kill switch: block new orders, cancel open ones.
    Kill {
        reason: &'a str,
    },
    /// Release the kill switch.
    Rearm,
    /// Hand back persisted state at start.
    Journal(JournalRecord),
    Ping {
        nonce: u64,
    },
    /// The companion's journal now holds this record on disk (written and
    /// synced): the appliance may use outgoing sequence numbers below its
    /// `next_out` (a reservation, see the trading loop) without a crash
    /// ever making it log on again with a number it already sent.
    Persisted(FixSeqRecord),
}

/// A command with the id its reply will carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    pub id: u64,
    pub command: Command<'a>,
}

impl<'a> Request<'a> {
    /// Writes the frame into `buf`, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, FrameError> {
        let mut w = Writer { buf, pos: 0 };
        w.u64(self.id)?;
        match self.command {
            Command::GetStatus => w.u16(1)?,
            Command::ApplyConfig { json } => {
                w.u16(2)?;
                w.blob32(json)?;
            }
            Command::Kill { reason } => {
                w.u16(3)?;
                w.text16(reason)?;
            }
            Command::Rearm => w.u16(4)?,
            Command::Journal(rec) => {
                w.u16(5)?;
                match rec {
                    JournalRecord::FixSeq(r) => {
                        w.u8(1)?;
                        put_fix_seq(&mut w, &r)?;
                    }
                    JournalRecord::Fill(f) => {
                        w.u8(2)?;
                        put_fill(&mut w, &f)?;
                    }
                    JournalRecord::End { records } => {
                        w.u8(3)?;
                        w.u64(records)?;
                    }
                }
            }
            Command::Ping { nonce } => {
                w.u16(6)?;
                w.u64(nonce)?;
            }
            Command::Persisted(rec) => {
                w.u16(7)?;
                put_fix_seq(&mut w, &rec)?;
            }
        }
        Ok(w.pos)
    }

    pub fn decode(frame: &'a [u8]) -> Result<Request<'a>, FrameError> {
        let mut r = Reader { buf: frame, pos: 0 };
        let id = r.u64()?;
        let command = match r.u16()? {
            1 => Command::GetStatus,
            2 => Command::ApplyConfig { json: r.blob32()? },
            3 => Command::Kill {
                reason: r.text16()?,
            },
            4 => Command::Rearm,
            5 => Command::Journal(match r.u8()? {
                1 => JournalRecord::FixSeq(get_fix_seq(&mut r)?),
                2 => JournalRecord::Fill(get_fill(&mut r)?),
                3 => JournalRecord::End { records: r.u64()? },
                _ => return Err(FrameError::BadValue),
            }),
            6 => Command::Ping { nonce: r.u64()? },
            7 => Command::Persisted(get_fix_seq(&mut r)?),
            k => return Err(FrameError::UnknownKind(k)),
        };
        r.end()?;
        Ok(Request { id, command })
    }
}

/// The answer to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'a> {
    Ok,
    /// The command was understood but refused; `field` names what was wrong
    /// (a config path such as `risk.max_order_qty`, or empty).
    Rejected {
        field: &'a str,
        reason: &'a str,
    },
    Pong {
        nonce: u64,
    },
    Status {
        state: ApplianceState,
        uptime_ns: u64,
        config_generation: u64,
        kill_engaged: bool,
    },
    /// The frame could not be decoded (the request id is still echoed when readable).
    Malformed,
}

/// Something the appliance reports on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    StateChanged {
        from: ApplianceState,
        to: ApplianceState,
    },
    /// Persist this FIX session position.
    FixSeq(FixSeqRecord),
    /// Persist this fill.
    Fill(FillRecord),
    /// The appliance has started and wants its journal handed back.
    JournalRequest,
    ConfigApplied {
        generation: u64,
    },
}

/// One frame on the appliance → Linux ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message<'a> {
    Reply { id: u64, reply: Reply<'a> },
    Event(Event),
}

fn state_from(b: u8) -> Result<ApplianceState, FrameError> {
    ApplianceState::from_word(b as u64).ok_or(FrameError::BadValue)
}

impl<'a> Message<'a> {
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, FrameError> {
        let mut w = Writer { buf, pos: 0 };
        match *self {
            Message::Reply { id, reply } => {
                w.u8(1)?;
                w.u64(id)?;
                match reply {
                    Reply::Ok => w.u16(1)?,
                    Reply::Rejected { field, reason } => {
                        w.u16(2)?;
                        w.text16(field)?;
                        w.text16(reason)?;
                    }
                    Reply::Pong { nonce } => {
                        w.u16(3)?;
                        w.u64(nonce)?;
                    }
                    Reply::Status {
                        state,
                        uptime_ns,
                        config_generation,
                        kill_engaged,
                    } => {
                        w.u16(4)?;
                        w.u8(state as u8)?;
                        w.u64(uptime_ns)?;
                        w.u64(config_generation)?;
                        w.u8(kill_engaged as u8)?;
                    }
                    Reply::Malformed => w.u16(5)?,
                }
            }
            Message::Event(ev) => {
                w.u8(2)?;
                match ev {
                    Event::StateChanged { from, to } => {
                        w.u16(1)?;
                        w.u8(from as u8)?;
                        w.u8(to as u8)?;
                    }
                    Event::FixSeq(r) => {
                        w.u16(2)?;
                        put_fix_seq(&mut w, &r)?;
                    }
                    Event::Fill(f) => {
                        w.u16(3)?;
                        put_fill(&mut w, &f)?;
                    }
                    Event::JournalRequest => w.u16(4)?,
                    Event::ConfigApplied { generation } => {
                        w.u16(5)?;
                        w.u64(generation)?;
                    }
                }
            }
        }
        Ok(w.pos)
    }

    pub fn decode(frame: &'a [u8]) -> Result<Message<'a>, FrameError> {
        let mut r = Reader { buf: frame, pos: 0 };
        let msg = match r.u8()? {
            1 => {
                let id = r.u64()?;
                let reply = match r.u16()? {
                    1 => Reply::Ok,
                    2 => Reply::Rejected {
                        field: r.text16()?,
                        reason: r.text16()?,
                    },
                    3 => Reply::Pong { nonce: r.u64()? },
                    4 => Reply::Status {
                        state: state_from(r.u8()?)?,
                        uptime_ns: r.u64()?,
                        config_generation: r.u64()?,
                        kill_engaged: match r.u8()? {
                            0 => false,
                            1 => true,
                            _ => return Err(FrameError::BadValue),
                        },
                    },
                    5 => Reply::Malformed,
                    k => return Err(FrameError::UnknownKind(k)),
                };
                Message::Reply { id, reply }
            }
            2 => Message::Event(match r.u16()? {
                1 => Event::StateChanged {
                    from: state_from(r.u8()?)?,
                    to: state_from(r.u8()?)?,
                },
                2 => Event::FixSeq(get_fix_seq(&mut r)?),
                3 => Event::Fill(get_fill(&mut r)?),
                4 => Event::JournalRequest,
                5 => Event::ConfigApplied {
                    generation: r.u64()?,
                },
                k => return Err(FrameError::UnknownKind(k)),
            }),
            _ => return Err(FrameError::BadValue),
        };
        r.end()?;
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fill() -> FillRecord {
        FillRecord {
            exec_seq: 9,
            order: OrderId(77),
            venue: VenueId(2),
            locate: 13,
            symbol: Symbol::new("AAPL").unwrap(),
            side: Side::Sell,
            qty: 100,
            price: Price::new(187, 2500),
            ts_ns: 123,
            exec_key: 0x8000_0000_0000_0001,
            strategy: Some(StrategyId(3)),
            adjusts: 0x4000_0000_0000_0002,
        }
    }

    #[test]
    fn every_request_round_trips() {
        let cmds = [
            Command::GetStatus,
            Command::ApplyConfig { json: b"{\"a\":1}" },
            Command::Kill { reason: "operator" },
            Command::Rearm,
            Command::Journal(JournalRecord::FixSeq(FixSeqRecord {
                venue: VenueId(1),
                next_in: 5,
                next_out: 6,
                epoch: 3,
            })),
            Command::Journal(JournalRecord::Fill(fill())),
            Command::Journal(JournalRecord::End { records: 3 }),
            Command::Ping { nonce: u64::MAX },
            Command::Persisted(FixSeqRecord {
                venue: VenueId(2),
                next_in: 9,
                next_out: 300,
                epoch: 4,
            }),
        ];
        let mut buf = [0u8; 256];
        for (i, c) in cmds.into_iter().enumerate() {
            let req = Request {
                id: i as u64 + 1,
                command: c,
            };
            let n = req.encode(&mut buf).unwrap();
            assert_eq!(Request::decode(&buf[..n]), Ok(req));
            assert_eq!(
                Request::decode(&buf[..n - 1]).unwrap_err(),
                FrameError::Truncated,
                "{c:?}"
            );
        }
        assert_eq!(
            Request {
                id: 1,
                command: Command::ApplyConfig { json: &[0; 300] }
            }
            .encode(&mut buf),
            Err(FrameError::BufferTooSmall)
        );
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            Message::Reply {
                id: 1,
                reply: Reply::Ok,
            },
            Message::Reply {
                id: 2,
                reply: Reply::Rejected {
                    field: "risk.max_order_qty",
                    reason: "must be > 0",
                },
            },
            Message::Reply {
                id: 3,
                reply: Reply::Pong { nonce: 5 },
            },
            Message::Reply {
                id: 4,
                reply: Reply::Status {
                    state: ApplianceState::Killed,
                    uptime_ns: 1,
                    config_generation: 2,
                    kill_engaged: true,
                },
            },
            Message::Reply {
                id: 5,
                reply: Reply::Malformed,
            },
            Message::Event(Event::StateChanged {
                from: ApplianceState::Running,
                to: ApplianceState::Killed,
            }),
            Message::Event(Event::FixSeq(FixSeqRecord {
                venue: VenueId(1),
                next_in: 5,
                next_out: 6,
                epoch: 3,
            })),
            Message::Event(Event::Fill(fill())),
            Message::Event(Event::JournalRequest),
            Message::Event(Event::ConfigApplied { generation: 4 }),
        ];
        let mut buf = [0u8; 256];
        for m in msgs {
            let n = m.encode(&mut buf).unwrap();
            assert_eq!(Message::decode(&buf[..n]), Ok(m));
            let mut long = [0u8; 257];
            long[..n].copy_from_slice(&buf[..n]);
            assert_eq!(Message::decode(&long[..n + 1]), Err(FrameError::Trailing));
        }
    }

    proptest! {
        #[test]
        fn garbage_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Request::decode(&bytes);
            let _ = Message::decode(&bytes);
        }
    }
}
