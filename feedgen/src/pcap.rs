//! Classic pcap files (written and read by hand: the format is 24 + 16 bytes
//! of little headers) and the MoldUDP64 feed writer that fills them.
//!
//! Files are written with the nanosecond magic `0xa1b23c4d`, little endian,
//! link type 1 (Ethernet). The reader accepts both magics in both byte
//! orders.

use std::io::{self, Write};

use protocol::filter::{Subscription, UdpFrameRepr};
use protocol::ipv4;
use protocol::itch::FileReader;
use protocol::moldudp64::{self, PacketBuilder, SessionId};

/// Nanosecond-resolution pcap magic.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Microsecond-resolution pcap magic.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// DLT_EN10MB.
pub const LINKTYPE_ETHERNET: u32 = 1;
pub const GLOBAL_HEADER_LEN: usize = 24;
pub const RECORD_HEADER_LEN: usize = 16;

/// Where the generated feed appears to come from and go to.
pub const FEED_GROUP: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 1]),
    port: 26_400,
};
pub const FEED_SOURCE: ipv4::Address = ipv4::Address([10, 10, 0, 1]);
pub const FEED_SOURCE_PORT: u16 = 26_400;
pub const FEED_SOURCE_MAC: protocol::ethernet::Address =
    protocol::ethernet::Address([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);

/// UDP payload that keeps a frame within a 1500-byte MTU.
pub const MAX_UDP_PAYLOAD: usize = 1500 - ipv4::HEADER_LEN - 8;

/// Midnight of the generated day as a Unix time (2019-01-30 00:00 US
/// Eastern = 05:00 UTC), added to ITCH timestamps for pcap record times.
pub const DAY_EPOCH_SECONDS: u64 = 1_548_824_400;

/// Writes the pcap global header.
pub fn write_global_header<W: Write>(out: &mut W) -> io::Result<()> {
    let mut h = [0u8; GLOBAL_HEADER_LEN];
    h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
    h[4..6].copy_from_slice(&2u16.to_le_bytes());
    h[6..8].copy_from_slice(&4u16.to_le_bytes());
    // thiszone 0, sigfigs 0
    h[16..20].copy_from_slice(&65_535u32.to_le_bytes());
    h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
    out.write_all(&h)
}

/// Writes one record (time in ns since the Unix epoch).
pub fn write_record<W: Write>(out: &mut W, unix_ns: u64, frame: &[u8]) -> io::Result<()> {
    let mut h = [0u8; RECORD_HEADER_LEN];
    let secs = (unix_ns / 1_000_000_000) as u32;
    let nanos = (unix_ns % 1_000_000_000) as u32;
    let len = frame.len() as u32;
    h[0..4].copy_from_slice(&secs.to_le_bytes());
    h[4..8].copy_from_slice(&nanos.to_le_bytes());
    h[8..12].copy_from_slice(&len.to_le_bytes());
    h[12..16].copy_from_slice(&len.to_le_bytes());
    out.write_all(&h)?;
    out.write_all(frame)
}

/// Packs ITCH messages into MoldUDP64 packets in Ethernet/IPv4/UDP frames and
/// writes them as pcap records.
///
/// A packet is closed when the next message would not fit the MTU or when
/// the next message is more than the hold time ([`MoldPcapWriter::MAX_HOLD_NS`]
/// unless set with [`MoldPcapWriter::with_max_hold_ns`]) younger than the
/// packet's first (a publisher does not hold messages back for long; a
/// longer hold packs more messages a packet, as a busy feed's do).
/// [`MoldPcapWriter::finish`] sends the rest and an end-of-session packet.
pub struct MoldPcapWriter<W: Write> {
    out: W,
    frame: UdpFrameRepr,
    session: SessionId,
    next_sequence: u64,
    /// Pending message blocks in the MoldUDP64 framing (u16 length + body).
    staged: Vec<u8>,
    staged_count: u16,
    first_ts: u64,
    last_ts: u64,
    max_hold_ns: u64,
    packet: Vec<u8>,
    frame_buf: Vec<u8>,
    frames: u64,
    bytes: u64,
}

impl<W: Write> MoldPcapWriter<W> {
    pub const MAX_HOLD_NS: u64 = 20_000;
    const MAX_BLOCKS: usize = MAX_UDP_PAYLOAD - moldudp64::HEADER_LEN;

    /// Writes the global header and prepares the first packet (sequence 1).
    pub fn new(mut out: W, session: SessionId) -> io::Result<Self> {
        write_global_header(&mut out)?;
        Ok(MoldPcapWriter {
            out,
            frame: UdpFrameRepr::multicast(
                FEED_SOURCE_MAC,
                FEED_SOURCE,
                FEED_SOURCE_PORT,
                FEED_GROUP,
            ),
            session,
            next_sequence: 1,
            staged: Vec::with_capacity(MAX_UDP_PAYLOAD),
            staged_count: 0,
            first_ts: 0,
            last_ts: 0,
            max_hold_ns: Self::MAX_HOLD_NS,
            packet: vec![0; MAX_UDP_PAYLOAD],
            frame_buf: vec![0; 1600],
            frames: 0,
            bytes: GLOBAL_HEADER_LEN as u64,
        })
    }

    /// How long a packet may hold its first message before it is sent.
    pub fn with_max_hold_ns(mut self, ns: u64) -> Self {
        self.max_hold_ns = ns;
        self
    }

    /// Adds one ITCH message (bytes without length prefix) sent at `ts`
    /// (ns since midnight).
    pub fn push(&mut self, msg: &[u8], ts: u64) -> io::Result<()> {
        let full = self.staged.len() + 2 + msg.len() > Self::MAX_BLOCKS;
        let stale = self.staged_count > 0 && ts.saturating_sub(self.first_ts) > self.max_hold_ns;
        if full || stale {
            self.flush_packet()?;
        }
        if self.staged_count == 0 {
            self.first_ts = ts;
        }
        self.last_ts = ts;
        let len = u16::try_from(msg.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "message too long"))?;
        self.staged.extend_from_slice(&len.to_be_bytes());
        self.staged.extend_from_slice(msg);
        self.staged_count += 1;
        Ok(())
    }

    fn emit_frame(&mut self, payload_len: usize, ts: u64) -> io::Result<()> {
        self.frame.ident = self.frame.ident.wrapping_add(1);
        let n = self
            .frame
            .emit(&self.packet[..payload_len], &mut self.frame_buf)
            .map_err(|e| io::Error::other(format!("frame: {e:?}")))?;
        write_record(
            &mut self.out,
            DAY_EPOCH_SECONDS * 1_000_000_000 + ts,
            &self.frame_buf[..n],
        )?;
        self.frames += 1;
        self.bytes += (RECORD_HEADER_LEN + n) as u64;
        Ok(())
    }

    fn flush_packet(&mut self) -> io::Result<()> {
        if self.staged_count == 0 {
            return Ok(());
        }
        let mut builder = PacketBuilder::new(&mut self.packet, self.session, self.next_sequence)
            .map_err(|e| io::Error::other(format!("moldudp64: {e:?}")))?;
        for msg in FileReader::new(&self.staged) {
            let msg = msg.map_err(|e| io::Error::other(format!("staging: {e:?}")))?;
            builder
                .push(msg)
                .map_err(|e| io::Error::other(format!("moldudp64: {e:?}")))?;
        }
        let len = builder.finish();
        self.next_sequence += u64::from(self.staged_count);
        self.staged.clear();
        self.staged_count = 0;
        self.emit_frame(len, self.last_ts)
    }

    /// Sends pending messages and an end-of-session packet; returns the
    /// inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_packet()?;
        let len =
            moldudp64::emit_end_of_session(&mut self.packet, self.session, self.next_sequence)
                .map_err(|e| io::Error::other(format!("moldudp64: {e:?}")))?;
        let ts = self.last_ts;
        self.emit_frame(len, ts)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes written so far (headers included).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

/// Why a pcap file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcapError {
    /// Shorter than the global header.
    NoHeader,
    BadMagic(u32),
    /// Not Ethernet.
    LinkType(u32),
    /// A record header or body runs past the end of the file.
    TruncatedRecord {
        offset: usize,
    },
}

impl std::fmt::Display for PcapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PcapError::NoHeader => write!(f, "file is shorter than a pcap header"),
            PcapError::BadMagic(m) => write!(f, "not a pcap file (magic {m:#010x})"),
            PcapError::LinkType(t) => write!(f, "link type {t} is not Ethernet (1)"),
            PcapError::TruncatedRecord { offset } => {
                write!(f, "truncated record at byte {offset}")
            }
        }
    }
}

impl std::error::Error for PcapError {}

/// Zero-copy reader over a whole pcap file in memory.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    offset: usize,
    big_endian: bool,
    nanos: bool,
}

/// One captured frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Capture time, ns since the Unix epoch.
    pub unix_ns: u64,
    pub frame: &'a [u8],
}

impl<'a> PcapReader<'a> {
    pub fn new(data: &'a [u8]) -> Result<Self, PcapError> {
        let header: &[u8; GLOBAL_HEADER_LEN] = data.first_chunk().ok_or(PcapError::NoHeader)?;
        let magic_le = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let (big_endian, nanos) = match magic_le {
            MAGIC_NANOS => (false, true),
            MAGIC_MICROS => (false, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m => return Err(PcapError::BadMagic(m)),
        };
        let reader = PcapReader {
            data,
            offset: GLOBAL_HEADER_LEN,
            big_endian,
            nanos,
        };
        let link = reader.u32_of([header[20], header[21], header[22], header[23]]);
        if link != LINKTYPE_ETHERNET {
            return Err(PcapError::LinkType(link));
        }
        Ok(reader)
    }

    /// A header field in the file's byte order.
    #[inline(always)]
    fn u32_of(&self, bytes: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        }
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Record<'a>, PcapError>;

    fn next(&mut self) -> Option<Self::Item> {
        let start = self.offset;
        let rest = self.data.get(start..).filter(|r| !r.is_empty())?;
        // The record header read once (secs, fraction, included length,
        // original length).
        let Some(h) = rest.first_chunk::<RECORD_HEADER_LEN>() else {
            self.offset = self.data.len();
            return Some(Err(PcapError::TruncatedRecord { offset: start }));
        };
        let secs = u64::from(self.u32_of([h[0], h[1], h[2], h[3]]));
        let frac = u64::from(self.u32_of([h[4], h[5], h[6], h[7]]));
        let incl = self.u32_of([h[8], h[9], h[10], h[11]]) as usize;
        let body = start + RECORD_HEADER_LEN;
        let Some(frame) = body
            .checked_add(incl)
            .and_then(|end| self.data.get(body..end))
        else {
            self.offset = self.data.len();
            return Some(Err(PcapError::TruncatedRecord { offset: start }));
        };
        self.offset = body + incl;
        let unix_ns = secs * 1_000_000_000 + if self.nanos { frac } else { frac * 1_000 };
        Some(Ok(Record { unix_ns, frame }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Messages 1 µs apart: a packet takes those within the hold time of
    /// its first, up to the MTU.
    #[test]
    fn the_hold_time_decides_how_many_messages_share_a_packet() {
        let frames = |hold: Option<u64>| {
            let mut w = MoldPcapWriter::new(Vec::new(), *b"TESTSESS01").unwrap();
            if let Some(ns) = hold {
                w = w.with_max_hold_ns(ns);
            }
            for i in 0..400u64 {
                w.push(&[b'Z'; 30], 1_000_000 + i * 1_000).unwrap();
            }
            let bytes = w.finish().unwrap();
            // Data frames, the end of session left out.
            PcapReader::new(&bytes).unwrap().count() - 1
        };
        assert_eq!(frames(Some(0)), 400);
        // The default 20 µs: 21 messages a packet (0..=20 µs after the first).
        assert_eq!(frames(None), 400_usize.div_ceil(21));
        // A long hold: as many as fit the MTU (32 bytes a message).
        let per_packet = (MAX_UDP_PAYLOAD - moldudp64::HEADER_LEN) / 32;
        assert_eq!(frames(Some(1_000_000)), 400_usize.div_ceil(per_packet));
    }

    #[test]
    fn writer_output_reads_back() {
        let mut w = MoldPcapWriter::new(Vec::new(), *b"TESTSESS01").unwrap();
        for i in 0..200u32 {
            let msg = [b'Z'; 30];
            w.push(&msg, 1_000 + u64::from(i) * 100).unwrap();
        }
        assert!(w.frames() >= 4, "200 × 32 bytes need several packets");
        let bytes = w.finish().unwrap();
        let records: Vec<Record> = PcapReader::new(&bytes)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let mut seq = 1;
        let mut seen = 0;
        for (i, r) in records.iter().enumerate() {
            let mut filter = protocol::filter::Filter::<1>::new();
            filter.subscribe(FEED_GROUP).unwrap();
            let dg = filter.classify(r.frame).unwrap();
            let p = moldudp64::Packet::new_checked(dg.payload).unwrap();
            assert_eq!(p.session(), *b"TESTSESS01");
            if i + 1 == records.len() {
                assert_eq!(p.kind(), moldudp64::PacketKind::EndOfSession);
                assert_eq!(p.sequence(), 201);
            } else {
                assert_eq!(p.sequence(), seq);
                for m in p.messages() {
                    assert_eq!(m.unwrap().1, &[b'Z'; 30]);
                    seen += 1;
                }
                seq += u64::from(p.count());
            }
        }
        assert_eq!(seen, 200);
    }

    #[test]
    fn bad_files_are_errors() {
        assert_eq!(PcapReader::new(&[0u8; 3]).err(), Some(PcapError::NoHeader));
        assert!(matches!(
            PcapReader::new(&[0u8; 24]).err(),
            Some(PcapError::BadMagic(0))
        ));
        let mut v = Vec::new();
        write_global_header(&mut v).unwrap();
        write_record(&mut v, 5, &[1, 2, 3]).unwrap();
        v.truncate(v.len() - 1);
        let r: Vec<_> = PcapReader::new(&v).unwrap().collect();
        assert_eq!(r, vec![Err(PcapError::TruncatedRecord { offset: 24 })]);
    }

    proptest! {
        #[test]
        fn reader_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut v = Vec::new();
            write_global_header(&mut v).unwrap();
            v.extend_from_slice(&data);
            if let Ok(r) = PcapReader::new(&v) {
                for _ in r {}
            }
            if let Ok(r) = PcapReader::new(&data) {
                for _ in r {}
            }
        }
    }
}
