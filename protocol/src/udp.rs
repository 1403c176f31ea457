//! UDP datagrams: checked view and builder.
//!
//! The checksum is optional in IPv4: zero means "not computed" and is
//! accepted; any other value is verified over the pseudo-header.

use core::fmt;

use crate::ipv4::{self, checksum_add, checksum_finish, Address};

pub const HEADER_LEN: usize = 8;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Fewer bytes than the header or the length field claims.
    Truncated,
    /// Length field below the header length.
    BadLength,
    BadChecksum,
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
    PayloadTooLong,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => f.write_str("UDP datagram truncated"),
            Error::BadLength => f.write_str("UDP length below header length"),
            Error::BadChecksum => f.write_str("UDP checksum mismatch"),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer of {available} bytes, need {needed}")
            }
            Error::PayloadTooLong => f.write_str("UDP payload exceeds 65527 bytes"),
        }
    }
}

fn pseudo_header_sum(src: Address, dst: Address, udp_len: u16) -> u64 {
    let mut sum = checksum_add(0, &src.0);
    sum = checksum_add(sum, &dst.0);
    sum += u64::from(ipv4::PROTOCOL_UDP);
    sum + u64::from(udp_len)
}

/// Zero-copy view of a UDP datagram (the IPv4 payload).
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the header and that the length field fits the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let Some(h) = b.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated);
        };
        let len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        if len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if len > b.len() {
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

    pub fn src_port(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[0], h[1]])
    }

    pub fn dst_port(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[2], h[3]])
    }

    /// The length field (header + payload).
    pub fn len(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[4], h[5]])
    }

    /// Never true for a checked packet (length ≥ 8).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn checksum(&self) -> u16 {
        let h = self.head();
        u16::from_be_bytes([h[6], h[7]])
    }

    /// True when the checksum is absent (0) or right for these addresses.
    pub fn verify_checksum(&self, src: Address, dst: Address) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let Some(datagram) = self.buffer.as_ref().get(..usize::from(self.len())) else {
            return false;
        };
        let sum = checksum_add(pseudo_header_sum(src, dst, self.len()), datagram);
        checksum_finish(sum) == 0
    }

    /// Bytes after the header, up to the length field.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(HEADER_LEN..usize::from(self.len()))
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
            .get(HEADER_LEN..usize::from(self.len()))
            .unwrap_or(&[])
    }
}

/// Header fields for building a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl Repr {
    /// Reads the ports after checking the checksum (when present).
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: Address,
        dst: Address,
    ) -> Result<Repr, Error> {
        if !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
        })
    }

    /// Writes header and `payload` to the start of `buf`. With
    /// `with_checksum`, the checksum is computed over the pseudo-header
    /// (0 is sent as 0xffff); otherwise 0. Returns the datagram length.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Address,
        dst: Address,
        payload: &[u8],
        with_checksum: bool,
    ) -> Result<usize, Error> {
        let total = HEADER_LEN + payload.len();
        let len = u16::try_from(total).map_err(|_| Error::PayloadTooLong)?;
        let available = buf.len();
        let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall {
            needed: total,
            available,
        })?;
        out[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        out[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        out[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        out[field::CHECKSUM].copy_from_slice(&[0, 0]);
        out[HEADER_LEN..].copy_from_slice(payload);
        if with_checksum {
            let c = match checksum_finish(checksum_add(pseudo_header_sum(src, dst, len), out)) {
                0 => 0xffff,
                c => c,
            };
            out[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        }
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SRC: Address = Address([10, 0, 0, 1]);
    const DST: Address = Address([233, 54, 12, 111]);

    #[test]
    fn round_trip_with_and_without_checksum() {
        let r = Repr {
            src_port: 4000,
            dst_port: 26400,
        };
        let mut buf = [0u8; 64];
        for with in [false, true] {
            let n = r.emit(&mut buf, SRC, DST, b"hello", with).unwrap();
            assert_eq!(n, 13);
            let p = Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(p.checksum() != 0, with);
            assert_eq!(Repr::parse(&p, SRC, DST), Ok(r));
            assert_eq!(p.payload(), b"hello");
        }
    }

    #[test]
    fn bad_checksum_and_wrong_addresses_detected() {
        let r = Repr {
            src_port: 1,
            dst_port: 2,
        };
        let mut buf = [0u8; 64];
        let n = r.emit(&mut buf, SRC, DST, b"payload", true).unwrap();
        let mut bad = buf;
        bad[9] ^= 0x40;
        let p = Packet::new_checked(&bad[..n]).unwrap();
        assert_eq!(Repr::parse(&p, SRC, DST), Err(Error::BadChecksum));
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            Repr::parse(&p, SRC, Address([233, 54, 12, 112])),
            Err(Error::BadChecksum)
        );
    }

    #[test]
    fn length_checks() {
        let r = Repr {
            src_port: 1,
            dst_port: 2,
        };
        let mut buf = [0u8; 64];
        let n = r.emit(&mut buf, SRC, DST, b"abcd", false).unwrap();
        assert_eq!(Packet::new_checked(&buf[..7]).err(), Some(Error::Truncated));
        assert_eq!(
            Packet::new_checked(&buf[..n - 1]).err(),
            Some(Error::Truncated)
        );
        // Longer buffer than the length field: payload stops at the field.
        assert_eq!(
            Packet::new_checked(&buf[..n + 5]).unwrap().payload(),
            b"abcd"
        );
        buf[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&buf[..n]).err(), Some(Error::BadLength));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Repr::parse(&p, SRC, DST);
                prop_assert_eq!(p.payload().len() + HEADER_LEN, p.len() as usize);
            }
        }

        #[test]
        fn emitted_checksum_verifies(payload in proptest::collection::vec(any::<u8>(), 0..300),
                                     sp in any::<u16>(), dp in any::<u16>()) {
            let mut buf = std::vec![0u8; 8 + payload.len()];
            let r = Repr { src_port: sp, dst_port: dp };
            r.emit(&mut buf, SRC, DST, &payload, true).unwrap();
            let p = Packet::new_checked(&buf[..]).unwrap();
            prop_assert!(p.checksum() != 0);
            prop_assert_eq!(Repr::parse(&p, SRC, DST), Ok(r));
        }
    }
}
