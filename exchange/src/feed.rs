//! Publishing the venue's book: ITCH 5.0 in MoldUDP64 over UDP, two lines.
//!
//! Every message gets the next MoldUDP64 sequence number and is kept for
//! the whole session, so any gap can be answered by the retransmission
//! server. Packets carry as many messages as fit in the configured payload
//! size. The same packet goes out on line A and line B (different multicast
//! groups); the lab drops packets per line to test arbitration and recovery.

use crate::matching::Event;
use protocol::ethernet;
use protocol::filter::{Subscription, UdpFrameRepr};
use protocol::ipv4;
use protocol::itch::{
    AddOrderRepr, Header, MessageRepr, OrderCancelRepr, OrderDeleteRepr, OrderExecutedRepr,
    OrderReplaceRepr,
};
use protocol::moldudp64::{self, PacketBuilder, RequestRepr, SessionId};
use types::{StockLocate, Symbol};

/// Where the feed comes from and goes to.
#[derive(Debug, Clone, Copy)]
pub struct FeedConfig {
    pub session: SessionId,
    pub src_mac: ethernet::Address,
    pub src_addr: ipv4::Address,
    pub src_port: u16,
    pub line_a: Subscription,
    pub line_b: Subscription,
    /// Largest MoldUDP64 payload (header included) per packet.
    pub max_payload: usize,
}

/// The lab's feed line A (multicast group and port).
pub const LAB_LINE_A: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 1]),
    port: 26400,
};
/// The lab's feed line B.
pub const LAB_LINE_B: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 2]),
    port: 26401,
};

impl FeedConfig {
    /// The lab's (first) venue's feed under `session`: from
    /// 02:00:00:00:00:09, 10.0.2.100:5000, on [`LAB_LINE_A`] and
    /// [`LAB_LINE_B`], packets of up to 1,200 bytes.
    pub const fn lab(session: SessionId) -> FeedConfig {
        FeedConfig {
            session,
            src_mac: ethernet::Address([2, 0, 0, 0, 0, 9]),
            src_addr: ipv4::Address([10, 0, 2, 100]),
            src_port: 5000,
            line_a: LAB_LINE_A,
            line_b: LAB_LINE_B,
            max_payload: 1200,
        }
    }
}

/// Which copy of the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedLine {
    A,
    B,
}

/// A session's messages, numbered from 1, and the packing state.
pub struct Publisher {
    config: FeedConfig,
    /// Message `n` (1-based sequence) is `store[n - 1]`.
    store: Vec<Vec<u8>>,
    /// First sequence number not yet packed into a packet.
    unsent: u64,
    tracking: u16,
}

/// Converts an engine event into the ITCH message other participants see.
/// Immediate-or-cancel remainders never rested and are not published.
pub fn itch_for(
    event: &Event,
    locate: StockLocate,
    symbol: Symbol,
    tracking: u16,
    ts_ns: u64,
) -> Option<MessageRepr> {
    let header = Header {
        stock_locate: locate,
        tracking_number: tracking,
        timestamp: ts_ns,
    };
    Some(match *event {
        Event::Added {
            order_ref,
            side,
            price,
            qty,
            ..
        } => MessageRepr::AddOrder(AddOrderRepr {
            header,
            order_ref,
            side,
            shares: qty,
            stock: symbol,
            price,
        }),
        Event::Executed {
            resting_ref,
            qty,
            match_number,
            ..
        } => MessageRepr::OrderExecuted(OrderExecutedRepr {
            header,
            order_ref: resting_ref,
            executed_shares: qty,
            match_number,
        }),
        Event::Canceled {
            order_ref,
            leaves: 0,
            ..
        } => MessageRepr::OrderDelete(OrderDeleteRepr { header, order_ref }),
        Event::Canceled { order_ref, qty, .. } => MessageRepr::OrderCancel(OrderCancelRepr {
            header,
            order_ref,
            cancelled_shares: qty,
        }),
        // A replace to the same price and size changes nothing on the book
        // (ITCH has no zero-share cancel).
        Event::Replaced {
            old_ref,
            new_ref,
            qty,
            previous_leaves,
            ..
        } if old_ref == new_ref && qty == previous_leaves => return None,
        Event::Replaced {
            old_ref,
            new_ref,
            qty,
            previous_leaves,
            ..
        } if old_ref == new_ref => MessageRepr::OrderCancel(OrderCancelRepr {
            header,
            order_ref: old_ref,
            cancelled_shares: previous_leaves.saturating_sub(qty),
        }),
        Event::Replaced {
            old_ref,
            new_ref,
            price,
            qty,
            ..
        } => MessageRepr::OrderReplace(OrderReplaceRepr {
            header,
            original_order_ref: old_ref,
            new_order_ref: new_ref,
            shares: qty,
            price,
        }),
        Event::Expired { .. } => return None,
    })
}

impl Publisher {
    pub fn new(config: FeedConfig) -> Publisher {
        Publisher {
            config,
            store: Vec::new(),
            unsent: 1,
            tracking: 0,
        }
    }

    pub fn config(&self) -> &FeedConfig {
        &self.config
    }

    /// Sequence number the next message will get.
    pub fn next_sequence(&self) -> u64 {
        self.store.len() as u64 + 1
    }

    /// Appends one message; returns its sequence number.
    pub fn publish(&mut self, msg: &MessageRepr) -> Result<u64, protocol::itch::Error> {
        let mut bytes = vec![0u8; msg.len()];
        msg.emit(&mut bytes)?;
        self.store.push(bytes);
        self.tracking = self.tracking.wrapping_add(1);
        Ok(self.store.len() as u64)
    }

    /// Tracking number for the next message.
    pub fn tracking(&self) -> u16 {
        self.tracking
    }

    /// The stored message with sequence number `seq`.
    pub fn message(&self, seq: u64) -> Option<&[u8]> {
        self.store
            .get(usize::try_from(seq.checked_sub(1)?).ok()?)
            .map(Vec::as_slice)
    }

    /// Packs stored messages from `first` on into one MoldUDP64 payload, at
    /// most `max_count` messages; returns the payload and how many it holds.
    fn pack(&self, first: u64, max_count: u64) -> (Vec<u8>, u64) {
        let mut buf = vec![0u8; self.config.max_payload];
        let Ok(mut builder) = PacketBuilder::new(&mut buf, self.config.session, first) else {
            return (Vec::new(), 0);
        };
        let mut count = 0u64;
        while count < max_count {
            let Some(msg) = self.message(first + count) else {
                break;
            };
            if !builder.fits(msg.len()) || builder.push(msg).is_err() {
                break;
            }
            count += 1;
        }
        let len = builder.finish();
        buf.truncate(len);
        (buf, count)
    }

    /// Packets for every message published since the last call.
    pub fn take_packets(&mut self) -> Vec<Vec<u8>> {
        let mut packets = Vec::new();
        while self.unsent <= self.store.len() as u64 {
            let (payload, count) = self.pack(self.unsent, u64::MAX);
            if count == 0 {
                break;
            }
            self.unsent += count;
            packets.push(payload);
        }
        packets
    }

    /// A heartbeat carrying the next expected sequence number.
    pub fn heartbeat(&self) -> Vec<u8> {
        let mut buf = vec![0u8; moldudp64::HEADER_LEN];
        let n = moldudp64::emit_heartbeat(&mut buf, self.config.session, self.next_sequence())
            .unwrap_or(0);
        buf.truncate(n);
        buf
    }

    /// The end-of-session marker: no message follows in this session.
    pub fn end_of_session(&self) -> Vec<u8> {
        let mut buf = vec![0u8; moldudp64::HEADER_LEN];
        let n = moldudp64::emit_end_of_session(&mut buf, self.config.session, self.next_sequence())
            .unwrap_or(0);
        buf.truncate(n);
        buf
    }

    /// Answers a retransmission request: packets covering as much of the
    /// requested range as exists, or nothing for another session or a range
    /// that starts beyond what was published.
    pub fn retransmit(&self, request: &RequestRepr) -> Vec<Vec<u8>> {
        if request.session != self.config.session {
            return Vec::new();
        }
        let mut packets = Vec::new();
        let mut seq = request.sequence;
        let end = request.sequence.saturating_add(request.count as u64);
        while seq < end && self.message(seq).is_some() {
            let (payload, count) = self.pack(seq, end - seq);
            if count == 0 {
                break;
            }
            seq += count;
            packets.push(payload);
        }
        packets
    }

    /// The Ethernet frame carrying `payload` on `line`.
    pub fn frame(&self, line: FeedLine, payload: &[u8]) -> Vec<u8> {
        let group = match line {
            FeedLine::A => self.config.line_a,
            FeedLine::B => self.config.line_b,
        };
        let repr = UdpFrameRepr::multicast(
            self.config.src_mac,
            self.config.src_addr,
            self.config.src_port,
            group,
        );
        let mut buf = vec![0u8; repr.frame_len(payload.len())];
        match repr.emit(payload, &mut buf) {
            Ok(n) => buf.truncate(n),
            Err(_) => buf.clear(),
        }
        buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::{Engine, Owner, Sequences};
    use protocol::filter::Filter;
    use protocol::itch::Message;
    use protocol::moldudp64::Packet;
    use types::{Price, Side, TimeInForce};

    fn config() -> FeedConfig {
        FeedConfig {
            session: *b"LAB0000001",
            src_mac: ethernet::Address([2, 0, 0, 0, 0, 1]),
            src_addr: ipv4::Address([10, 0, 0, 1]),
            src_port: 5000,
            line_a: Subscription {
                group: ipv4::Address([233, 54, 12, 1]),
                port: 26400,
            },
            line_b: Subscription {
                group: ipv4::Address([233, 54, 12, 2]),
                port: 26401,
            },
            max_payload: 1400,
        }
    }

    fn run_engine(publisher: &mut Publisher) {
        let mut engine = Engine::new(Price(100));
        let mut seq = Sequences::new(0);
        let mut events = Vec::new();
        let symbol = Symbol::new("LAB").unwrap();
        for i in 0..200i64 {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let price = Price(100_0000 + (i % 7 - 3) * 100);
            engine
                .submit(
                    &mut seq,
                    Owner(i as u32 % 3),
                    side,
                    price,
                    100,
                    TimeInForce::Day,
                    &mut events,
                )
                .unwrap();
        }
        for (n, e) in events.iter().enumerate() {
            if let Some(msg) = itch_for(
                e,
                7,
                symbol,
                publisher.tracking(),
                34_200_000_000_000 + n as u64,
            ) {
                publisher.publish(&msg).unwrap();
            }
        }
    }

    #[test]
    fn packets_carry_every_message_once_in_order() {
        let mut p = Publisher::new(config());
        run_engine(&mut p);
        let total = p.next_sequence() - 1;
        let executions = (1..=total)
            .filter(|&s| p.message(s).unwrap()[0] == b'E')
            .count();
        assert!(
            total >= 200 && executions > 10,
            "{total} messages, {executions} executions"
        );
        let packets = p.take_packets();
        assert!(packets.len() > 1, "messages span several packets");
        let mut expected = 1u64;
        for payload in &packets {
            assert!(payload.len() <= 1400);
            let packet = Packet::new_checked(&payload[..]).unwrap();
            assert_eq!(packet.sequence(), expected);
            for msg in packet.messages() {
                let (seq, msg) = msg.unwrap();
                assert_eq!(seq, expected);
                assert_eq!(msg, p.message(expected).unwrap());
                assert!(Message::parse(msg).is_ok());
                expected += 1;
            }
        }
        assert_eq!(expected, total + 1);
        assert!(p.take_packets().is_empty(), "nothing is sent twice");
    }

    #[test]
    fn retransmission_answers_the_requested_range_only() {
        let mut p = Publisher::new(config());
        run_engine(&mut p);
        let req = RequestRepr {
            session: config().session,
            sequence: 40,
            count: 30,
        };
        let answers = p.retransmit(&req);
        let mut seqs = Vec::new();
        for a in &answers {
            let packet = Packet::new_checked(&a[..]).unwrap();
            for m in packet.messages() {
                let (seq, msg) = m.unwrap();
                assert_eq!(msg, p.message(seq).unwrap());
                seqs.push(seq);
            }
        }
        assert_eq!(seqs, (40..70).collect::<Vec<_>>());
        let wrong_session = RequestRepr {
            session: *b"OTHER00001",
            ..req
        };
        assert!(p.retransmit(&wrong_session).is_empty());
        let beyond = RequestRepr {
            sequence: p.next_sequence() + 5,
            ..req
        };
        assert!(p.retransmit(&beyond).is_empty());
    }

    #[test]
    fn frames_pass_the_appliance_filter_on_their_line() {
        let mut p = Publisher::new(config());
        run_engine(&mut p);
        let payload = p.take_packets().remove(0);
        let mut filter = Filter::<4>::new();
        filter.subscribe(config().line_a).unwrap();
        filter.subscribe(config().line_b).unwrap();
        for (line, index) in [(FeedLine::A, 0), (FeedLine::B, 1)] {
            let frame = p.frame(line, &payload);
            let datagram = filter
                .process(&frame)
                .unwrap_or_else(|| panic!("{line:?} dropped: {:?}", filter.drops()));
            assert_eq!(datagram.payload, &payload[..]);
            assert_eq!(datagram.subscription, index);
        }
    }

    #[test]
    fn heartbeat_announces_the_next_sequence() {
        let mut p = Publisher::new(config());
        run_engine(&mut p);
        let hb = p.heartbeat();
        let packet = Packet::new_checked(&hb[..]).unwrap();
        assert_eq!(packet.count(), 0);
        assert_eq!(packet.sequence(), p.next_sequence());
    }
}
