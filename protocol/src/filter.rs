//! Multicast group/port filter: raw Ethernet frame in, UDP payload of a
//! subscribed feed (or a counted drop reason) out. Also the matching frame
//! builder, for labs and tests that need to produce feed frames.

use core::fmt;

use crate::ethernet::{self, ethertype, VlanTag};
use crate::ipv4;
use crate::udp;

/// One subscribed feed: destination multicast group and UDP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Subscription {
    pub group: ipv4::Address,
    pub port: u16,
}

/// Why a frame was not handed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than an Ethernet (or 802.1Q) header.
    EthernetTruncated,
    /// Tagged with another VLAN than the filter's (or untagged when one is required).
    WrongVlan,
    /// EtherType not IPv4 (ARP, IPv6, LLDP, …).
    NotIpv4,
    /// Truncated, wrong version, bad header or total length.
    Ipv4Malformed,
    Ipv4Checksum,
    /// MF set or non-zero offset; never reassembled.
    Ipv4Fragment,
    /// IP protocol not UDP.
    NotUdp,
    /// Truncated or bad UDP length.
    UdpMalformed,
    UdpChecksum,
    /// Well-formed UDP, but no subscription matches group and port.
    NotSubscribed,
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One counter per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    pub ethernet_truncated: u64,
    pub wrong_vlan: u64,
    pub not_ipv4: u64,
    pub ipv4_malformed: u64,
    pub ipv4_checksum: u64,
    pub ipv4_fragment: u64,
    pub not_udp: u64,
    pub udp_malformed: u64,
    pub udp_checksum: u64,
    pub not_subscribed: u64,
}

impl DropCounters {
    fn slot(&mut self, reason: DropReason) -> &mut u64 {
        match reason {
            DropReason::EthernetTruncated => &mut self.ethernet_truncated,
            DropReason::WrongVlan => &mut self.wrong_vlan,
            DropReason::NotIpv4 => &mut self.not_ipv4,
            DropReason::Ipv4Malformed => &mut self.ipv4_malformed,
            DropReason::Ipv4Checksum => &mut self.ipv4_checksum,
            DropReason::Ipv4Fragment => &mut self.ipv4_fragment,
            DropReason::NotUdp => &mut self.not_udp,
            DropReason::UdpMalformed => &mut self.udp_malformed,
            DropReason::UdpChecksum => &mut self.udp_checksum,
            DropReason::NotSubscribed => &mut self.not_subscribed,
        }
    }

    pub fn record(&mut self, reason: DropReason) {
        *self.slot(reason) += 1;
    }

    pub fn get(&self, reason: DropReason) -> u64 {
        let mut copy = *self;
        *copy.slot(reason)
    }

    pub fn total(&self) -> u64 {
        self.ethernet_truncated
            + self.wrong_vlan
            + self.not_ipv4
            + self.ipv4_malformed
            + self.ipv4_checksum
            + self.ipv4_fragment
            + self.not_udp
            + self.udp_malformed
            + self.udp_checksum
            + self.not_subscribed
    }
}

/// A datagram that passed the filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Index of the matching subscription in the filter's table.
    pub subscription: usize,
    /// The UDP payload (e.g. a MoldUDP64 packet), borrowed from the frame.
    pub payload: &'a [u8],
    pub src_addr: ipv4::Address,
    pub src_port: u16,
    pub vlan: Option<VlanTag>,
}

/// The subscription table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableFull;

/// Fixed table of up to `N` subscriptions plus drop counters.
///
/// Matching is a linear scan: feed handlers subscribe to a handful of
/// groups, where a scan of a few entries beats hashing.
#[derive(Debug, Clone)]
pub struct Filter<const N: usize> {
    subs: [Subscription; N],
    len: usize,
    vlan: Option<u16>,
    verify_udp_checksum: bool,
    accepted: u64,
    drops: DropCounters,
}

impl<const N: usize> Default for Filter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Filter<N> {
    /// An empty table that accepts any VLAN and verifies UDP checksums.
    pub const fn new() -> Self {
        Filter {
            subs: [Subscription {
                group: ipv4::Address([0; 4]),
                port: 0,
            }; N],
            len: 0,
            vlan: None,
            verify_udp_checksum: true,
            accepted: 0,
            drops: DropCounters {
                ethernet_truncated: 0,
                wrong_vlan: 0,
                not_ipv4: 0,
                ipv4_malformed: 0,
                ipv4_checksum: 0,
                ipv4_fragment: 0,
                not_udp: 0,
                udp_malformed: 0,
                udp_checksum: 0,
                not_subscribed: 0,
            },
        }
    }

    /// Adds a subscription; returns its index.
    pub fn subscribe(&mut self, sub: Subscription) -> Result<usize, TableFull> {
        let slot = self.subs.get_mut(self.len).ok_or(TableFull)?;
        *slot = sub;
        self.len += 1;
        Ok(self.len - 1)
    }

    pub fn subscriptions(&self) -> &[Subscription] {
        self.subs.get(..self.len).unwrap_or(&[])
    }

    /// Only accept frames tagged with this VLAN id (`None`: any or none).
    pub fn set_vlan(&mut self, vid: Option<u16>) {
        self.vlan = vid;
    }

    /// Turn UDP checksum verification off (e.g. when the NIC already did it).
    pub fn set_verify_udp_checksum(&mut self, on: bool) {
        self.verify_udp_checksum = on;
    }

    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    pub fn accepted(&self) -> u64 {
        self.accepted
    }

    /// Classifies a frame without counting.
    pub fn classify<'a>(&self, frame: &'a [u8]) -> Result<Datagram<'a>, DropReason> {
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| DropReason::EthernetTruncated)?;
        let vlan = eth.vlan();
        if let Some(want) = self.vlan {
            if vlan.map(|t| t.vid) != Some(want) {
                return Err(DropReason::WrongVlan);
            }
        }
        if eth.ethertype() != ethertype::IPV4 {
            return Err(DropReason::NotIpv4);
        }
        let ip =
            ipv4::Packet::new_checked(eth.into_payload()).map_err(|_| DropReason::Ipv4Malformed)?;
        let ip_repr = ipv4::Repr::parse(&ip).map_err(|e| match e {
            ipv4::Error::Fragment => DropReason::Ipv4Fragment,
            ipv4::Error::BadChecksum => DropReason::Ipv4Checksum,
            _ => DropReason::Ipv4Malformed,
        })?;
        if ip_repr.protocol != ipv4::PROTOCOL_UDP {
            return Err(DropReason::NotUdp);
        }
        let dg =
            udp::Packet::new_checked(ip.into_payload()).map_err(|_| DropReason::UdpMalformed)?;
        let dst_port = dg.dst_port();
        let subscription = self
            .subscriptions()
            .iter()
            .position(|s| s.group == ip_repr.dst_addr && s.port == dst_port)
            .ok_or(DropReason::NotSubscribed)?;
        if self.verify_udp_checksum && !dg.verify_checksum(ip_repr.src_addr, ip_repr.dst_addr) {
            return Err(DropReason::UdpChecksum);
        }
        Ok(Datagram {
            subscription,
            src_addr: ip_repr.src_addr,
            src_port: dg.src_port(),
            vlan,
            payload: dg.into_payload(),
        })
    }

    /// Classifies a frame and counts the result.
    pub fn process<'a>(&mut self, frame: &'a [u8]) -> Option<Datagram<'a>> {
        match self.classify(frame) {
            Ok(d) => {
                self.accepted += 1;
                Some(d)
            }
            Err(reason) => {
                self.drops.record(reason);
                None
            }
        }
    }
}

/// Errors from [`UdpFrameRepr::emit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    BufferTooSmall { needed: usize, available: usize },
    PayloadTooLong,
}

/// Everything needed to build an Ethernet/IPv4/UDP frame around a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrameRepr {
    pub src_mac: ethernet::Address,
    pub dst_mac: ethernet::Address,
    pub vlan: Option<VlanTag>,
    pub src_addr: ipv4::Address,
    pub dst_addr: ipv4::Address,
    pub src_port: u16,
    pub dst_port: u16,
    pub ttl: u8,
    pub ident: u16,
    pub udp_checksum: bool,
}

impl UdpFrameRepr {
    /// A frame from `src` to a multicast `group`, with the group's MAC,
    /// TTL 1 (feeds do not route off the segment) and UDP checksum on.
    pub const fn multicast(
        src_mac: ethernet::Address,
        src_addr: ipv4::Address,
        src_port: u16,
        group: Subscription,
    ) -> Self {
        UdpFrameRepr {
            src_mac,
            dst_mac: ethernet::Address::from_ipv4_multicast(group.group.0),
            vlan: None,
            src_addr,
            dst_addr: group.group,
            src_port,
            dst_port: group.port,
            ttl: 1,
            ident: 0,
            udp_checksum: true,
        }
    }

    /// Frame length for a payload of `payload_len` bytes (no padding, no FCS).
    pub const fn frame_len(&self, payload_len: usize) -> usize {
        let eth = if self.vlan.is_some() {
            ethernet::HEADER_LEN + ethernet::VLAN_TAG_LEN
        } else {
            ethernet::HEADER_LEN
        };
        eth + ipv4::HEADER_LEN + udp::HEADER_LEN + payload_len
    }

    /// Writes the whole frame to the start of `buf`; returns its length.
    pub fn emit(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, BuildError> {
        let total = self.frame_len(payload.len());
        if udp::HEADER_LEN + payload.len() > usize::from(u16::MAX) - ipv4::HEADER_LEN {
            return Err(BuildError::PayloadTooLong);
        }
        let available = buf.len();
        let out = buf.get_mut(..total).ok_or(BuildError::BufferTooSmall {
            needed: total,
            available,
        })?;
        let small = |_| BuildError::BufferTooSmall {
            needed: total,
            available,
        };
        let eth = ethernet::Repr {
            src_addr: self.src_mac,
            dst_addr: self.dst_mac,
            vlan: self.vlan,
            ethertype: ethertype::IPV4,
        };
        let n = eth.emit(out).map_err(small)?;
        let (_, rest) = out.split_at_mut(n);
        let ip = ipv4::Repr {
            src_addr: self.src_addr,
            dst_addr: self.dst_addr,
            protocol: ipv4::PROTOCOL_UDP,
            payload_len: udp::HEADER_LEN + payload.len(),
            ttl: self.ttl,
            ident: self.ident,
            dscp_ecn: 0,
        };
        ip.emit(rest).map_err(|_| BuildError::PayloadTooLong)?;
        let (_, rest) = rest.split_at_mut(ipv4::HEADER_LEN);
        udp::Repr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        }
        .emit(
            rest,
            self.src_addr,
            self.dst_addr,
            payload,
            self.udp_checksum,
        )
        .map_err(|_| BuildError::PayloadTooLong)?;
        Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    const FEED_A: Subscription = Subscription {
        group: ipv4::Address([233, 54, 12, 111]),
        port: 26400,
    };
    const FEED_B: Subscription = Subscription {
        group: ipv4::Address([233, 49, 196, 111]),
        port: 26400,
    };
    const SRC_MAC: ethernet::Address = ethernet::Address([2, 0, 0, 0, 0, 1]);
    const SRC: ipv4::Address = ipv4::Address([10, 9, 8, 7]);

    fn filter() -> Filter<4> {
        let mut f = Filter::new();
        assert_eq!(f.subscribe(FEED_A), Ok(0));
        assert_eq!(f.subscribe(FEED_B), Ok(1));
        f
    }

    fn frame(repr: &UdpFrameRepr, payload: &[u8]) -> Vec<u8> {
        let mut buf = vec![0u8; repr.frame_len(payload.len())];
        assert_eq!(repr.emit(payload, &mut buf), Ok(buf.len()));
        buf
    }

    /// Recomputes the IPv4 header checksum after a test edits the header.
    fn fix_ip_checksum(f: &mut [u8], eth_len: usize) {
        f[eth_len + 10..eth_len + 12].copy_from_slice(&[0, 0]);
        let c = ipv4::checksum(&f[eth_len..eth_len + 20]);
        f[eth_len + 10..eth_len + 12].copy_from_slice(&c.to_be_bytes());
    }

    #[test]
    fn accepts_subscribed_feed_and_says_which() {
        let mut f = filter();
        let b = frame(
            &UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, FEED_B),
            b"mold",
        );
        let d = f.process(&b).unwrap();
        assert_eq!(d.subscription, 1);
        assert_eq!(d.payload, b"mold");
        assert_eq!(d.src_addr, SRC);
        assert_eq!(d.src_port, 5000);
        assert_eq!(d.vlan, None);
        assert_eq!(f.accepted(), 1);
        assert_eq!(f.drops().total(), 0);
    }

    #[test]
    fn vlan_tagged_frames() {
        let mut f = filter();
        let mut r = UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, FEED_A);
        r.vlan = Some(VlanTag {
            pcp: 3,
            dei: false,
            vid: 100,
        });
        let b = frame(&r, b"x");
        assert_eq!(
            f.process(&b).map(|d| (d.payload, d.vlan)),
            Some((&b"x"[..], r.vlan))
        );
        f.set_vlan(Some(101));
        assert_eq!(f.classify(&b), Err(DropReason::WrongVlan));
        f.set_vlan(Some(100));
        assert!(f.classify(&b).is_ok());
        let untagged = frame(&UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, FEED_A), b"x");
        assert_eq!(f.classify(&untagged), Err(DropReason::WrongVlan));
    }

    #[test]
    fn every_drop_reason_is_counted() {
        let mut f = filter();
        let good = frame(
            &UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, FEED_A),
            b"payload!",
        );
        let eth = ethernet::HEADER_LEN;

        let cases: Vec<(Vec<u8>, DropReason)> = {
            let mut v = Vec::new();
            v.push((good[..10].to_vec(), DropReason::EthernetTruncated));
            let mut arp = good.clone();
            arp[12..14].copy_from_slice(&ethertype::ARP.to_be_bytes());
            v.push((arp, DropReason::NotIpv4));
            v.push((good[..eth + 19].to_vec(), DropReason::Ipv4Malformed));
            v.push((good[..good.len() - 1].to_vec(), DropReason::Ipv4Malformed));
            let mut bad_ck = good.clone();
            bad_ck[eth + 8] = 2; // TTL changed, checksum stale
            v.push((bad_ck, DropReason::Ipv4Checksum));
            let mut frag = good.clone();
            frag[eth + 6] = 0x20; // MF
            fix_ip_checksum(&mut frag, eth);
            v.push((frag, DropReason::Ipv4Fragment));
            let mut frag2 = good.clone();
            frag2[eth + 6..eth + 8].copy_from_slice(&0x0010u16.to_be_bytes()); // offset 128
            fix_ip_checksum(&mut frag2, eth);
            v.push((frag2, DropReason::Ipv4Fragment));
            let mut tcp = good.clone();
            tcp[eth + 9] = 6;
            fix_ip_checksum(&mut tcp, eth);
            v.push((tcp, DropReason::NotUdp));
            let mut udp_len = good.clone();
            udp_len[eth + 24..eth + 26].copy_from_slice(&100u16.to_be_bytes());
            v.push((udp_len, DropReason::UdpMalformed));
            let mut udp_ck = good.clone();
            let last = udp_ck.len() - 1;
            udp_ck[last] ^= 0xff;
            v.push((udp_ck, DropReason::UdpChecksum));
            let other = Subscription {
                group: FEED_A.group,
                port: 26401,
            };
            v.push((
                frame(&UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, other), b"p"),
                DropReason::NotSubscribed,
            ));
            v
        };
        for (bytes, reason) in &cases {
            assert_eq!(f.classify(bytes), Err(*reason), "{reason:?}");
            f.process(bytes);
        }
        assert_eq!(f.drops().total(), cases.len() as u64);
        assert_eq!(f.drops().ipv4_fragment, 2);
        assert_eq!(f.drops().ipv4_malformed, 2);
        assert_eq!(f.drops().get(DropReason::UdpChecksum), 1);
        assert_eq!(f.accepted(), 0);

        // With UDP checksum verification off, the corrupted payload passes.
        f.set_verify_udp_checksum(false);
        let udp_ck = &cases
            .iter()
            .find(|c| c.1 == DropReason::UdpChecksum)
            .unwrap()
            .0;
        assert!(f.classify(udp_ck).is_ok());
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let f = filter();
        let mut b = frame(&UdpFrameRepr::multicast(SRC_MAC, SRC, 5000, FEED_A), b"ab");
        b.resize(60, 0); // minimum Ethernet frame
        assert_eq!(f.classify(&b).map(|d| d.payload), Ok(&b"ab"[..]));
    }

    #[test]
    fn table_capacity_is_fixed() {
        let mut f = Filter::<1>::new();
        assert_eq!(f.subscribe(FEED_A), Ok(0));
        assert_eq!(f.subscribe(FEED_B), Err(TableFull));
        assert_eq!(f.subscriptions(), &[FEED_A]);
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let mut f = filter();
            let _ = f.process(&bytes);
            prop_assert_eq!(f.accepted() + f.drops().total(), 1);
        }

        #[test]
        fn built_frames_pass_with_exact_payload(
            payload in proptest::collection::vec(any::<u8>(), 0..1400),
            vid in proptest::option::of(0u16..4096),
            which in any::<bool>(),
            cksum in any::<bool>(),
        ) {
            let sub = if which { FEED_B } else { FEED_A };
            let mut r = UdpFrameRepr::multicast(SRC_MAC, SRC, 1234, sub);
            r.vlan = vid.map(|vid| VlanTag { pcp: 0, dei: false, vid });
            r.udp_checksum = cksum;
            let b = frame(&r, &payload);
            let d = filter().classify(&b).unwrap();
            prop_assert_eq!(d.payload, &payload[..]);
            prop_assert_eq!(d.subscription, usize::from(which));
        }
    }
}
