//! Harness bodies shared by the libFuzzer targets (`fuzz_targets/*.rs`) and
//! by the stable-Rust proptest runner in this file's tests. Each one feeds
//! arbitrary bytes to a parser and checks invariants that must hold for any
//! input; a panic anywhere is a finding.

use protocol::filter::{Filter, Subscription};
use protocol::moldudp64::{Config, Endpoint, Line, Packet, RequestRepr, Sequencer};
use protocol::{ethernet, ipv4, itch, udp};
use types::Nanos;

/// Raw bytes as an Ethernet frame through every layer and the feed filter.
pub fn frames(data: &[u8]) {
    if let Ok(f) = ethernet::Frame::new_checked(data) {
        let _ = ethernet::Repr::parse(&f);
        if let Ok(ip) = ipv4::Packet::new_checked(f.payload()) {
            let _ = ipv4::Repr::parse(&ip);
            if let Ok(u) = udp::Packet::new_checked(ip.payload()) {
                let _ = udp::Repr::parse(&u, ip.src_addr(), ip.dst_addr());
            }
        }
    }
    let mut filter = Filter::<2>::new();
    // Subscribe to whatever the frame's own destination would be, so the
    // accept path is reached without the fuzzer guessing a group.
    let group = data.get(30..34).and_then(|b| <[u8; 4]>::try_from(b).ok());
    let port = data.get(36..38).map(|b| u16::from_be_bytes([b[0], b[1]]));
    if let (Some(g), Some(p)) = (group, port) {
        let _ = filter.subscribe(Subscription {
            group: ipv4::Address(g),
            port: p,
        });
    }
    if let Some(d) = filter.process(data) {
        let range = data.as_ptr_range();
        assert!(range.contains(&d.payload.as_ptr()) || d.payload.is_empty());
    }
    assert_eq!(filter.accepted() + filter.drops().total(), 1);
}

/// Bytes cut into packets (1 byte line, 1 byte length, then the packet) for
/// one sequencer; delivery must stay strictly in order without holes.
pub fn moldudp64(data: &[u8]) {
    let _ = RequestRepr::parse(data);
    if let Ok(p) = Packet::new_checked(data) {
        for m in p.messages() {
            let _ = m;
        }
    }
    let mut config = Config::new(Endpoint::default());
    config.request_timeout_ns = 10;
    let mut seq = Sequencer::<16, 64>::new(config);
    let mut last: Option<u64> = None;
    let mut rest = data;
    let mut now = 0u64;
    while let [line, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (pkt, tail) = tail.split_at(n);
        rest = tail;
        now += 7;
        let line = match line % 3 {
            0 => Line::A,
            1 => Line::B,
            _ => Line::Retransmission,
        };
        seq.on_packet(line, pkt, Nanos(now), &mut |s, _| {
            if let Some(prev) = last {
                assert!(s == prev + 1 || s <= prev, "hole: {prev} then {s}");
            }
            last = Some(s);
        });
        while seq.poll(Nanos(now)).is_some() {}
    }
}

/// Bytes as a NASDAQ file; every message that decodes must re-encode to the
/// same bytes.
pub fn itch(data: &[u8]) {
    let _ = itch::Message::parse(data);
    let mut buf = [0u8; 64];
    for raw in itch::FileReader::new(data) {
        let Ok(raw) = raw else { break };
        if let Ok(msg) = itch::Message::parse(raw) {
            let _ = msg.stock_locate();
            if let Some(repr) = msg.to_repr() {
                let n = repr.emit(&mut buf).expect("decoded message must encode");
                assert_eq!(&buf[..n], raw);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        #[test]
        fn frames(data in proptest::collection::vec(any::<u8>(), 0..128)) { super::frames(&data) }
        #[test]
        fn moldudp64(data in proptest::collection::vec(any::<u8>(), 0..512)) { super::moldudp64(&data) }
        #[test]
        fn itch(data in proptest::collection::vec(any::<u8>(), 0..256)) { super::itch(&data) }
    }
}
