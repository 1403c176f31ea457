//! The market-data receive path end to end, with the crate's own builders as
//! the exchange: ITCH messages → MoldUDP64 packets → UDP multicast frames on
//! lines A and B (B VLAN-tagged), each line losing different packets and
//! carrying some garbage → feed filter → sequencer (+ retransmission server)
//! → ITCH decode. The decoded stream must equal what was sent, once, in order.

use protocol::ethernet::{self, VlanTag};
use protocol::filter::{Filter, Subscription, UdpFrameRepr};
use protocol::ipv4;
use protocol::itch::{self, AddOrderRepr, Header, Message, MessageRepr, OrderDeleteRepr};
use protocol::moldudp64::{self, Config, Endpoint, Line, PacketBuilder, Sequencer};
use types::{Nanos, Price, Side, Symbol};

const SESSION: moldudp64::SessionId = *b"0000000042";
const LINE_A: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 111]),
    port: 26477,
};
const LINE_B: Subscription = Subscription {
    group: ipv4::Address([233, 49, 196, 111]),
    port: 26477,
};
const EXCHANGE_MAC: ethernet::Address = ethernet::Address([2, 0, 0, 0, 0, 0x10]);
const EXCHANGE_IP: ipv4::Address = ipv4::Address([10, 0, 0, 10]);

fn messages() -> Vec<MessageRepr> {
    (0..300u64)
        .map(|i| {
            let header = Header {
                stock_locate: (i % 7 + 1) as u16,
                tracking_number: 0,
                timestamp: 34_200_000_000_000 + i,
            };
            if i % 3 == 2 {
                OrderDeleteRepr {
                    header,
                    order_ref: i - 1,
                }
                .into()
            } else {
                AddOrderRepr {
                    header,
                    order_ref: i,
                    side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
                    shares: 100,
                    stock: Symbol::new("AAPL").unwrap(),
                    price: Price::new(190, (i % 100) as i64),
                }
                .into()
            }
        })
        .collect()
}

/// MoldUDP64 packets of up to 5 messages each: (first sequence, bytes).
fn mold_packets(msgs: &[MessageRepr]) -> Vec<(u64, Vec<u8>)> {
    msgs.chunks(5)
        .enumerate()
        .map(|(i, chunk)| {
            let first = 1 + 5 * i as u64;
            let mut buf = vec![0u8; 1400];
            let mut b = PacketBuilder::new(&mut buf, SESSION, first).unwrap();
            for m in chunk {
                let out = b.reserve(m.len()).unwrap();
                m.emit(out).unwrap();
            }
            let n = b.finish();
            buf.truncate(n);
            (first, buf)
        })
        .collect()
}

fn frame(line: Subscription, vlan: Option<VlanTag>, payload: &[u8]) -> Vec<u8> {
    let mut repr = UdpFrameRepr::multicast(EXCHANGE_MAC, EXCHANGE_IP, 5000, line);
    repr.vlan = vlan;
    let mut buf = vec![0u8; repr.frame_len(payload.len())];
    repr.emit(payload, &mut buf).unwrap();
    buf
}

#[test]
fn ab_feed_with_loss_garbage_and_retransmission_decodes_exactly_once() {
    let sent = messages();
    let packets = mold_packets(&sent);
    let vlan_b = Some(VlanTag {
        pcp: 4,
        dei: false,
        vid: 200,
    });

    // Interleave A and B; A loses every 4th packet, B every 6th, and both
    // lose packets 30..33, which only the retransmission server can fill.
    let mut wire: Vec<Vec<u8>> = Vec::new();
    for (i, (_, p)) in packets.iter().enumerate() {
        let both_lost = (30..33).contains(&i);
        let a = (i % 4 != 1 && !both_lost).then(|| frame(LINE_A, None, p));
        let b = (i % 6 != 5 && !both_lost).then(|| frame(LINE_B, vlan_b, p));
        // Which line is ahead changes from packet to packet.
        let (first, second) = if i % 3 == 0 { (b, a) } else { (a, b) };
        wire.extend(first);
        wire.extend(second);
        if i % 10 == 0 {
            // Noise on the segment: a frame for another group, a truncated one,
            // and one with a corrupt IPv4 header.
            let other = Subscription {
                group: ipv4::Address([239, 1, 1, 1]),
                port: 26477,
            };
            wire.push(frame(other, None, p));
            let f = frame(LINE_A, None, p);
            wire.push(f[..30].to_vec());
            let mut bad = frame(LINE_A, None, p);
            bad[14 + 8] ^= 0xff;
            wire.push(bad);
        }
    }

    let mut filter = Filter::<2>::new();
    assert_eq!(filter.subscribe(LINE_A), Ok(0));
    assert_eq!(filter.subscribe(LINE_B), Ok(1));
    let server = Endpoint {
        addr: [10, 0, 0, 11],
        port: 18000,
    };
    let mut config = Config::new(server);
    config.request_delay_ns = 1_000;
    let mut seq = Sequencer::<64, 64>::new(config);

    let mut decoded: Vec<MessageRepr> = Vec::new();
    let mut seen_seq: Vec<u64> = Vec::new();
    let mut decode = |s: u64, m: &[u8]| {
        seen_seq.push(s);
        match Message::parse(m) {
            Ok(msg) => decoded.push(msg.to_repr().expect("known type")),
            Err(e) => panic!("message {s} failed to decode: {e}"),
        }
    };

    // The retransmission server answers each request from its copy.
    let answer = |req: moldudp64::RetransmitRequest| -> Vec<u8> {
        assert_eq!(req.server, server);
        let mut reqbuf = [0u8; moldudp64::HEADER_LEN];
        req.request.emit(&mut reqbuf).unwrap();
        let r = moldudp64::RequestRepr::parse(&reqbuf).unwrap();
        let mut buf = vec![0u8; 1400];
        let mut b = PacketBuilder::new(&mut buf, r.session, r.sequence).unwrap();
        for s in r.sequence..r.sequence + u64::from(r.count) {
            let Some(m) = sent.get(s as usize - 1) else {
                break;
            };
            m.emit(b.reserve(m.len()).unwrap()).unwrap();
        }
        let n = b.finish();
        buf.truncate(n);
        buf
    };

    let mut now = 0u64;
    for f in &wire {
        now += 100;
        if let Some(d) = filter.process(f) {
            let line = if d.subscription == 0 {
                Line::A
            } else {
                Line::B
            };
            seq.on_packet(line, d.payload, Nanos(now), &mut decode);
        }
        while let Some(req) = seq.poll(Nanos(now)) {
            seq.on_packet(Line::Retransmission, &answer(req), Nanos(now), &mut decode);
        }
    }
    // The wire has gone quiet; a housekeeping timer keeps polling.
    for _ in 0..5 {
        now += 1_000;
        while let Some(req) = seq.poll(Nanos(now)) {
            seq.on_packet(Line::Retransmission, &answer(req), Nanos(now), &mut decode);
        }
    }

    assert_eq!(seen_seq, (1..=sent.len() as u64).collect::<Vec<_>>());
    assert_eq!(decoded, sent);
    let c = seq.counters();
    assert_eq!(c.delivered, sent.len() as u64);
    assert!(c.requests_sent >= 1, "packets 30..33 need the server");
    assert!(c.duplicates.a > 0 && c.duplicates.b > 0);
    let drops = filter.drops();
    assert_eq!(drops.not_subscribed, 6);
    assert_eq!(drops.ipv4_malformed, 6);
    assert_eq!(drops.ipv4_checksum, 6);
    assert_eq!(drops.total(), 18);

    // The recovered stream also survives a trip through the NASDAQ file format.
    let mut file = Vec::new();
    let mut tmp = [0u8; 64];
    for m in &decoded {
        let n = itch::write_framed(m, &mut tmp).unwrap();
        file.extend_from_slice(&tmp[..n]);
    }
    let back: Vec<MessageRepr> = itch::FileReader::new(&file)
        .map(|r| Message::parse(r.unwrap()).unwrap().to_repr().unwrap())
        .collect();
    assert_eq!(back, sent);
}
