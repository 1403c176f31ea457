//! IPv4 headers: checked view, builder and the Internet checksum.
//!
//! Options are accepted and skipped. Fragments are reported as
//! [`Error::Fragment`] by [`Repr::parse`] so the caller can count them: feed
//! handlers never reassemble (exchange feeds do not fragment; a fragment is a
//! misconfigured path, not data).

use core::fmt;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// IP protocol number of UDP.
pub const PROTOCOL_UDP: u8 = 17;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// An IPv4 address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Address(pub [u8; 4]);

impl Address {
    pub const fn new(a: u8, b: u8, c: u8, d: u8) -> Address {
        Address([a, b, c, d])
    }

    /// In 224.0.0.0/4.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0xf0 == 0xe0
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d] = self.0;
        write!(f, "{a}.{b}.{c}.{d}")
    }
}

/// Errors from parsing or building IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header or the total length claim.
    Truncated,
    /// Version field not 4.
    Version(u8),
    /// IHL below 5, or total length below the header length.
    BadLength,
    BadChecksum,
    /// More-fragments set or a non-zero fragment offset.
    Fragment,
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
    /// Payload too large for the 16-bit total length.
    PayloadTooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("IPv4 packet truncated"),
            Error::Version(v) => write!(f, "IP version {v}, expected 4"),
            Error::BadLength => f.write_str("IPv4 header or total length invalid"),
            Error::BadChecksum => f.write_str("IPv4 header checksum mismatch"),
            Error::Fragment => f.write_str("IPv4 fragment"),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer of {available} bytes, need {needed}")
            }
            Error::PayloadTooLong => f.write_str("IPv4 payload exceeds 65515 bytes"),
        }
    }
}

/// Adds `data` to a running one's-complement sum (big-endian 16-bit words;
/// an odd trailing byte is padded with zero). Chain calls, then
/// [`checksum_finish`]. Only the last chunk may have odd length.
///
/// Sums 32-bit words into a 64-bit accumulator: since 2^16 ≡ 1 (mod 2^16 − 1),
/// that folds to the same 16-bit one's-complement sum with half the additions.
pub fn checksum_add(mut sum: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        sum += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    match words.remainder() {
        [a, b, c] => sum += u64::from(u16::from_be_bytes([*a, *b])) + (u64::from(*c) << 8),
        [a, b] => sum += u64::from(u16::from_be_bytes([*a, *b])),
        [a] => sum += u64::from(*a) << 8,
        _ => {}
    }
    sum
}

/// Folds a running sum into the 16-bit Internet checksum (complemented).
pub fn checksum_finish(mut sum: u64) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The Internet checksum (RFC 1071) of `data`. Over a header whose checksum
/// field is filled in correctly, the result is 0.
pub fn checksum(data: &[u8]) -> u16 {
    checksum_finish(checksum_add(0, data))
}

/// Zero-copy view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version, header length and total length against the buffer.
    /// The buffer may be longer than the total length (Ethernet padding).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(h) = b.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let version = h[0] >> 4;
        if version != 4 {
            return Err(Error::Version(version));
        }
        let header_len = usize::from(h[0] & 0x0f) * 4;
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if header_len < HEADER_LEN || total_len < header_len {
            return Err(Error::BadLength);
        }
        if b.len() < total_len {
            return Err(Error::Truncated);
        }
        Ok(Packet { buffer })
    }

    fn head(&self) -> [u8; HEADER_LEN] {
        // Verified present by `new_checked`.
        self.buffer
            .as_ref()
            .first_chunk::<HEADER_LEN>()
            .copied()
            .unwrap_or([0; HEADER_LEN])
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.head()[field::VER_IHL] & 0x0f) * 4
    }

    pub fn dscp_ecn(&self) -> u8 {
        self.head()[field::DSCP_ECN]
    }

    pub fn total_len(&self) -> usize {
        let h = self.head();
        usize::from(u16::from_be_bytes([h[2], h[3]]))
    }

    pub fn ident(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[4], h[5]])
    }

    fn flags_offset(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[6], h[7]])
    }

    pub fn dont_frag(&self) -> bool {
        self.flags_offset() & 0x4000 != 0
    }

    pub fn more_frags(&self) -> bool {
        self.flags_offset() & 0x2000 != 0
    }

    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.flags_offset() & 0x1fff) << 3
    }

    /// MF set or offset non-zero.
    pub fn is_fragment(&self) -> bool {
        self.flags_offset() & 0x3fff != 0
    }

    pub fn ttl(&self) -> u8 {
        self.head()[field::TTL]
    }

    pub fn protocol(&self) -> u8 {
        self.head()[field::PROTOCOL]
    }

    pub fn checksum(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[10], h[11]])
    }

    pub fn src_addr(&self) -> Address {
        let h = self.head();
        Address([h[12], h[13], h[14], h[15]])
    }

    pub fn dst_addr(&self) -> Address {
        let h = self.head();
        Address([h[16], h[17], h[18], h[19]])
    }

    /// Header options (empty without).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// True when the header checksum (options included) is right.
    pub fn verify_checksum(&self) -> bool {
        self.buffer
            .as_ref()
            .get(..self.header_len())
            .is_some_and(|h| checksum(h) == 0)
    }

    /// Bytes between the header and the total length (padding excluded).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..self.total_len())
            .unwrap_or(&[])
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The payload, borrowed for the buffer's whole lifetime.
    pub fn into_payload(self) -> &'a [u8] {
        self.buffer
            .get(self.header_len()..self.total_len())
            .unwrap_or(&[])
    }
}

/// Header fields for building a packet (always without options, DF set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Address,
    pub dst_addr: Address,
    pub protocol: u8,
    pub payload_len: usize,
    pub ttl: u8,
    pub ident: u16,
    pub dscp_ecn: u8,
}

impl Repr {
    /// Validates a checked packet: header checksum right and not a fragment.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        if !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(Error::Fragment);
        }
        Ok(Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: packet.total_len() - packet.header_len(),
            ttl: packet.ttl(),
            ident: packet.ident(),
            dscp_ecn: packet.dscp_ecn(),
        })
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the 20-byte header (checksum included) to the start of `buf`;
    /// the payload goes after it. Returns the header length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let total =
            u16::try_from(HEADER_LEN + self.payload_len).map_err(|_| Error::PayloadTooLong)?;
        let available = buf.len();
        let h = buf
            .first_chunk_mut::<HEADER_LEN>()
            .ok_or(Error::BufferTooSmall {
                needed: HEADER_LEN,
                available,
            })?;
        h[field::VER_IHL] = 0x45;
        h[field::DSCP_ECN] = self.dscp_ecn;
        h[field::LENGTH].copy_from_slice(&total.to_be_bytes());
        h[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        h[field::FLG_OFF].copy_from_slice(&0x4000u16.to_be_bytes());
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        h[field::CHECKSUM].copy_from_slice(&[0, 0]);
        h[field::SRC_ADDR].copy_from_slice(&self.src_addr.0);
        h[field::DST_ADDR].copy_from_slice(&self.dst_addr.0);
        let c = checksum(&h[..]);
        h[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec::Vec;

    fn repr() -> Repr {
        Repr {
            src_addr: Address::new(10, 1, 2, 3),
            dst_addr: Address::new(233, 54, 12, 111),
            protocol: PROTOCOL_UDP,
            payload_len: 8,
            ttl: 64,
            ident: 0x1234,
            dscp_ecn: 0,
        }
    }

    /// RFC 1071 worked example: words 0001 f203 f4f5 f6f7 fold to the sum
    /// 0xddf2, so the checksum is its complement 0x220d.
    #[test]
    fn checksum_known_answer() {
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // Odd length pads with a zero byte.
        assert_eq!(checksum(&[0x01]), !0x0100);
    }

    #[test]
    fn emit_parse_round_trip() {
        let mut buf = [0u8; 28];
        assert_eq!(repr().emit(&mut buf), Ok(20));
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.dont_frag() && !p.is_fragment());
        assert_eq!(Repr::parse(&p), Ok(repr()));
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn bad_checksum_detected() {
        let mut buf = [0u8; 28];
        repr().emit(&mut buf).unwrap();
        buf[8] ^= 1; // TTL
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::BadChecksum));
    }

    fn with_flags(flags_offset: u16) -> Vec<u8> {
        let mut buf = std::vec![0u8; 28];
        repr().emit(&mut buf).unwrap();
        buf[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        buf[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&buf[..20]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        buf
    }

    #[test]
    fn fragments_refused() {
        for fo in [0x2000u16, 0x0001, 0x2010, 0x1fff] {
            let b = with_flags(fo);
            let p = Packet::new_checked(&b[..]).unwrap();
            assert!(p.is_fragment());
            assert_eq!(Repr::parse(&p), Err(Error::Fragment));
        }
        let b = with_flags(0x0001);
        assert_eq!(Packet::new_checked(&b[..]).unwrap().frag_offset(), 8);
        // DF alone is not a fragment.
        let b = with_flags(0x4000);
        assert!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).is_ok());
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6: one 4-byte option word (NOPs + end of list).
        let mut buf = std::vec![0u8; 24 + 8];
        repr().emit(&mut buf).unwrap();
        let payload: Vec<u8> = (0..8).collect();
        buf[0] = 0x46;
        buf[2..4].copy_from_slice(&32u16.to_be_bytes());
        buf[20..24].copy_from_slice(&[1, 1, 1, 0]);
        buf[24..32].copy_from_slice(&payload);
        buf[10..12].copy_from_slice(&[0, 0]);
        let c = checksum(&buf[..24]);
        buf[10..12].copy_from_slice(&c.to_be_bytes());
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert_eq!(p.options(), &[1, 1, 1, 0]);
        assert_eq!(p.payload(), &payload[..]);
        assert_eq!(Repr::parse(&p).map(|r| r.payload_len), Ok(8));
    }

    #[test]
    fn length_errors() {
        let mut buf = [0u8; 28];
        repr().emit(&mut buf).unwrap();
        assert_eq!(
            Packet::new_checked(&buf[..19]).err(),
            Some(Error::Truncated)
        );
        assert_eq!(
            Packet::new_checked(&buf[..27]).err(),
            Some(Error::Truncated)
        );
        // Ethernet padding after the total length is fine.
        let mut padded = [0u8; 46];
        padded[..28].copy_from_slice(&buf);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload().len(), 8);
        let mut b = buf;
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength));
        let mut b = buf;
        b[0] = 0x65;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Version(6)));
        let mut b = buf;
        b[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Repr::parse(&p);
                let _ = (p.options(), p.payload(), p.frag_offset(), p.src_addr());
                prop_assert!(p.header_len() + p.payload().len() <= bytes.len());
            }
        }

        /// The 32-bit-word sum equals the textbook 16-bit-word sum, also when
        /// chained over even-length pieces.
        #[test]
        fn checksum_matches_16_bit_reference(
            data in proptest::collection::vec(any::<u8>(), 0..200), cut in any::<usize>()
        ) {
            let mut reference: u64 = 0;
            for w in data.chunks(2) {
                reference += u64::from(u16::from_be_bytes([w[0], w.get(1).copied().unwrap_or(0)]));
            }
            prop_assert_eq!(checksum(&data), checksum_finish(reference));
            let cut = (cut % (data.len() + 1)) & !1;
            let chained = checksum_finish(checksum_add(checksum_add(0, &data[..cut]), &data[cut..]));
            prop_assert_eq!(chained, checksum_finish(reference));
        }

        #[test]
        fn emitted_checksum_always_verifies(
            src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(), len in 0usize..1480,
            ttl in any::<u8>(), ident in any::<u16>(), proto in any::<u8>()
        ) {
            let r = Repr { src_addr: Address(src), dst_addr: Address(dst), protocol: proto,
                payload_len: len, ttl, ident, dscp_ecn: 0 };
            let mut buf = std::vec![0u8; 20 + len];
            r.emit(&mut buf).unwrap();
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert_eq!(Repr::parse(&p), Ok(r));
        }
    }
}
