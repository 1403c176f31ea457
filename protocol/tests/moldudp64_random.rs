//! The sequencer under random A/B traffic: overlapping packets of 1–5
//! messages on either line, packets starting before the next expected
//! number, heartbeats, late, partial and lost retransmission answers, and
//! random request settings. Every run must deliver messages 1..=40 exactly
//! once, in order, with their own bodies, and never ask for a number that
//! was not published or flood the server.

use protocol::moldudp64::{
    emit_heartbeat, Config, Endpoint, Line, PacketBuilder, RequestRepr, Sequencer, SessionId,
};
use types::Nanos;

const SESSION: SessionId = *b"SESSION001";
const TOTAL: u64 = 40;

fn body(seq: u64) -> Vec<u8> {
    let mut m = vec![b'm'];
    m.extend_from_slice(&seq.to_be_bytes());
    m
}

fn packet(first: u64, n: u64) -> Vec<u8> {
    let mut buf = vec![0u8; 1500];
    let mut b = PacketBuilder::new(&mut buf, SESSION, first).expect("room");
    for s in first..first + n {
        b.push(&body(s)).expect("room");
    }
    let len = b.finish();
    buf.truncate(len);
    buf
}

fn heartbeat(next: u64) -> Vec<u8> {
    let mut b = vec![0u8; 20];
    emit_heartbeat(&mut b, SESSION, next).expect("room");
    b
}

/// xorshift64: deterministic by seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
    fn line(&mut self) -> Line {
        if self.below(2) == 0 {
            Line::A
        } else {
            Line::B
        }
    }
}

fn run(seed: u64) {
    let mut r = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut config = Config::new(Endpoint::default());
    config.request_delay_ns = r.below(3) * 5;
    config.request_timeout_ns = 1 + r.below(50);
    config.max_outstanding = 1 + r.below(4) as usize;
    config.max_request_count = 1 + r.below(6) as u16;
    let mut s = Sequencer::<8, 16>::new(config);
    let mut published = 0u64;
    let mut got: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut asked: Vec<RequestRepr> = Vec::new();
    let mut now = 0u64;
    for _ in 0..200 {
        now += r.below(10);
        if published < TOTAL && r.below(3) == 0 {
            published = (published + 1 + r.below(4)).min(TOTAL);
        }
        let mut deliver = |q: u64, m: &[u8]| got.push((q, m.to_vec()));
        match r.below(6) {
            0..=2 if published > 0 => {
                let first = 1 + r.below(published);
                let n = (1 + r.below(5)).min(published + 1 - first);
                let line = r.line();
                s.on_packet(line, &packet(first, n), Nanos(now), &mut deliver);
            }
            3 => {
                let next = 1 + r.below(published + 1);
                let line = r.line();
                s.on_packet(line, &heartbeat(next), Nanos(now), &mut deliver);
            }
            4 if !asked.is_empty() => {
                let q = asked.swap_remove(r.below(asked.len() as u64) as usize);
                let end = (q.sequence + u64::from(q.count)).min(published + 1);
                // Some answers are lost, some cut short.
                if end > q.sequence && r.below(4) != 0 {
                    let n = end - q.sequence;
                    let pkt = packet(q.sequence, n);
                    s.on_packet(Line::Retransmission, &pkt, Nanos(now), &mut deliver);
                }
            }
            _ => {}
        }
        while let Some(q) = s.poll(Nanos(now)) {
            assert!(
                q.request.sequence + u64::from(q.request.count) <= published + 1,
                "seed {seed}: asked for unpublished {:?}",
                q.request
            );
            asked.push(q.request);
            assert!(asked.len() < 10_000, "seed {seed}: request flood");
        }
    }
    // Everything is published and the server answers every request.
    let mut deliver = |q: u64, m: &[u8]| got.push((q, m.to_vec()));
    s.on_packet(Line::A, &heartbeat(TOTAL + 1), Nanos(now), &mut deliver);
    for _ in 0..2_000 {
        now += 100;
        while let Some(q) = s.poll(Nanos(now)) {
            asked.push(q.request);
        }
        for q in asked.drain(..) {
            let pkt = packet(q.sequence, u64::from(q.count));
            s.on_packet(Line::Retransmission, &pkt, Nanos(now), &mut deliver);
        }
        if !s.has_gap() {
            break;
        }
    }
    let seqs: Vec<u64> = got.iter().map(|(q, _)| *q).collect();
    assert_eq!(seqs, (1..=TOTAL).collect::<Vec<_>>(), "seed {seed}");
    for (q, m) in &got {
        assert_eq!(m, &body(*q), "seed {seed}: body of {q}");
    }
    assert_eq!(s.counters().delivered, TOTAL, "seed {seed}");
}

#[test]
fn random_ab_traffic_delivers_every_message_once_in_order() {
    for seed in 1..=3_000 {
        run(seed);
    }
}
