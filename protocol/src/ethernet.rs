//! Ethernet II frames with an optional 802.1Q VLAN tag.

use core::fmt;

/// Length of an untagged header.
pub const HEADER_LEN: usize = 14;
/// Length of an 802.1Q tag.
pub const VLAN_TAG_LEN: usize = 4;

/// Byte ranges of the header fields.
pub mod field {
    use core::ops::Range;
    pub const DESTINATION: Range<usize> = 0..6;
    pub const SOURCE: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// With an 802.1Q tag: tag control information, then the inner EtherType.
    pub const VLAN_TCI: Range<usize> = 14..16;
    pub const VLAN_ETHERTYPE: Range<usize> = 16..18;
}

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Address(pub [u8; 6]);

impl Address {
    pub const BROADCAST: Address = Address([0xff; 6]);

    /// Group bit set (multicast or broadcast).
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 1 == 1
    }

    /// The MAC address an IPv4 multicast group maps to (RFC 1112:
    /// 01:00:5e + the low 23 bits of the group).
    pub const fn from_ipv4_multicast(group: [u8; 4]) -> Address {
        Address([0x01, 0x00, 0x5e, group[1] & 0x7f, group[2], group[3]])
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// EtherType values this crate knows about.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const VLAN: u16 = 0x8100;
    pub const IPV6: u16 = 0x86dd;
}

/// An 802.1Q tag: priority, drop-eligible bit and VLAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanTag {
    /// Priority code point, 0..=7.
    pub pcp: u8,
    pub dei: bool,
    /// VLAN id, 0..=4095.
    pub vid: u16,
}

impl VlanTag {
    pub const fn from_tci(tci: u16) -> VlanTag {
        VlanTag {
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            vid: tci & 0x0fff,
        }
    }

    /// Tag control information; out-of-range `pcp`/`vid` bits are masked off.
    pub const fn tci(&self) -> u16 {
        ((self.pcp as u16 & 7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
}

/// Errors from parsing or building frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the header (including the VLAN tag when present).
    Truncated {
        len: usize,
        needed: usize,
    },
    BufferTooSmall {
        needed: usize,
        available: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { len, needed } => {
                write!(f, "Ethernet frame of {len} bytes, header needs {needed}")
            }
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer of {available} bytes, need {needed}")
            }
        }
    }
}

/// Zero-copy view of an Ethernet II frame (FCS already stripped by the NIC).
#[derive(Debug, Clone, Copy)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Checks that the whole header (with its VLAN tag, if any) is present.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        let len = b.len();
        let Some(head) = b.first_chunk::<HEADER_LEN>() else {
            return Err(Error::Truncated {
                len,
                needed: HEADER_LEN,
            });
        };
        if u16::from_be_bytes([head[12], head[13]]) == ethertype::VLAN
            && len < HEADER_LEN + VLAN_TAG_LEN
        {
            return Err(Error::Truncated {
                len,
                needed: HEADER_LEN + VLAN_TAG_LEN,
            });
        }
        Ok(Frame { buffer })
    }

    fn bytes<const OFF: usize, const W: usize>(&self) -> [u8; W] {
        // Offsets are within the header that `new_checked` verified; the
        // fallback is unreachable.
        let mut out = [0u8; W];
        if let Some(s) = self.buffer.as_ref().get(OFF..OFF + W) {
            out.copy_from_slice(s);
        }
        out
    }

    pub fn dst_addr(&self) -> Address {
        Address(self.bytes::<0, 6>())
    }

    pub fn src_addr(&self) -> Address {
        Address(self.bytes::<6, 6>())
    }

    /// The outer EtherType (0x8100 for a tagged frame).
    pub fn outer_ethertype(&self) -> u16 {
        u16::from_be_bytes(self.bytes::<12, 2>())
    }

    /// The 802.1Q tag, if the frame carries one.
    pub fn vlan(&self) -> Option<VlanTag> {
        (self.outer_ethertype() == ethertype::VLAN)
            .then(|| VlanTag::from_tci(u16::from_be_bytes(self.bytes::<14, 2>())))
    }

    /// The EtherType of the payload (the inner one for a tagged frame).
    pub fn ethertype(&self) -> u16 {
        if self.outer_ethertype() == ethertype::VLAN {
            u16::from_be_bytes(self.bytes::<16, 2>())
        } else {
            self.outer_ethertype()
        }
    }

    pub fn header_len(&self) -> usize {
        if self.outer_ethertype() == ethertype::VLAN {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Everything after the header (may include padding to 60 bytes).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(self.header_len()..).unwrap_or(&[])
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<'a> Frame<&'a [u8]> {
    /// The payload, borrowed for the buffer's whole lifetime.
    pub fn into_payload(self) -> &'a [u8] {
        self.buffer.get(self.header_len()..).unwrap_or(&[])
    }
}

/// Header fields for building a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src_addr: Address,
    pub dst_addr: Address,
    pub vlan: Option<VlanTag>,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        Repr {
            src_addr: frame.src_addr(),
            dst_addr: frame.dst_addr(),
            vlan: frame.vlan(),
            ethertype: frame.ethertype(),
        }
    }

    pub const fn header_len(&self) -> usize {
        if self.vlan.is_some() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// Writes the header to the start of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let n = self.header_len();
        let available = buf.len();
        let out = buf.get_mut(..n).ok_or(Error::BufferTooSmall {
            needed: n,
            available,
        })?;
        out[field::DESTINATION].copy_from_slice(&self.dst_addr.0);
        out[field::SOURCE].copy_from_slice(&self.src_addr.0);
        match self.vlan {
            Some(tag) => {
                out[field::ETHERTYPE].copy_from_slice(&ethertype::VLAN.to_be_bytes());
                out[field::VLAN_TCI].copy_from_slice(&tag.tci().to_be_bytes());
                out[field::VLAN_ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes());
            }
            None => out[field::ETHERTYPE].copy_from_slice(&self.ethertype.to_be_bytes()),
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn untagged_and_tagged_round_trip() {
        let mut repr = Repr {
            src_addr: Address([2, 0, 0, 0, 0, 1]),
            dst_addr: Address::from_ipv4_multicast([233, 54, 12, 111]),
            vlan: None,
            ethertype: ethertype::IPV4,
        };
        let mut buf = [0u8; 64];
        assert_eq!(repr.emit(&mut buf), Ok(14));
        assert_eq!(&buf[..6], &[0x01, 0x00, 0x5e, 0x36, 0x0c, 0x6f]);
        assert_eq!(&buf[12..14], &[0x08, 0x00]);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f), repr);
        assert_eq!(f.payload().len(), 50);
        assert!(f.dst_addr().is_multicast());

        repr.vlan = Some(VlanTag {
            pcp: 5,
            dei: true,
            vid: 0x123,
        });
        assert_eq!(repr.emit(&mut buf), Ok(18));
        assert_eq!(&buf[12..18], &[0x81, 0x00, 0xb1, 0x23, 0x08, 0x00]);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&f), repr);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.ethertype(), ethertype::IPV4);
        assert_eq!(f.outer_ethertype(), ethertype::VLAN);
    }

    #[test]
    fn truncated_headers() {
        assert_eq!(
            Frame::new_checked(&[0u8; 13][..]).err(),
            Some(Error::Truncated {
                len: 13,
                needed: 14
            })
        );
        let mut b = [0u8; 17];
        b[12] = 0x81;
        assert_eq!(
            Frame::new_checked(&b[..]).err(),
            Some(Error::Truncated {
                len: 17,
                needed: 18
            })
        );
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(f) = Frame::new_checked(&bytes[..]) {
                let _ = (f.vlan(), f.ethertype(), f.src_addr(), f.dst_addr());
                prop_assert!(f.header_len() + f.payload().len() == bytes.len());
            }
        }
    }
}
