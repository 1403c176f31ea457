//! Fixed-capacity byte arenas used by the session.
//!
//! - [`SentStore`]: a circular log of the application messages we sent
//!   (sequence number, original SendingTime, MsgType, body bytes), kept for
//!   answering ResendRequests. When full, the oldest records are evicted;
//!   anything no longer in the ring is answered with a GapFill.
//! - [`InboundQueue`]: messages received ahead of a sequence gap, kept until
//!   the gap is filled so they can be processed in order.

use protocol::fix::UtcTime;

const RECORD_HEADER: usize = 24; // seq 8, time 8, msg type 2, pad 2, body len 4

/// `at` (a position in the ring plus at most its capacity) back into
/// `0..cap`: a compare where `%` would divide, on every message sent.
#[inline]
fn wrap(at: usize, cap: usize) -> usize {
    debug_assert!(at < 2 * cap);
    if at >= cap {
        at - cap
    } else {
        at
    }
}

/// One stored outbound application message.
#[derive(Debug, Clone, Copy)]
pub struct SentRecord<'s> {
    pub seq: u64,
    pub orig_sending_time: UtcTime,
    msg_type: [u8; 2],
    /// The body split in two when it wraps around the end of the ring.
    pub body: (&'s [u8], &'s [u8]),
}

impl SentRecord<'_> {
    pub fn msg_type(&self) -> &[u8] {
        let n = if self.msg_type[1] == 0 { 1 } else { 2 };
        &self.msg_type[..n]
    }
}

/// Circular log of sent application messages.
pub struct SentStore<'a> {
    buf: &'a mut [u8],
    head: usize,
    used: usize,
    count: usize,
}

impl<'a> SentStore<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        SentStore {
            buf,
            head: 0,
            used: 0,
            count: 0,
        }
    }

    pub fn clear(&mut self) {
        self.head = 0;
        self.used = 0;
        self.count = 0;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn write_at(&mut self, at: usize, bytes: &[u8]) {
        let cap = self.buf.len();
        let first = bytes.len().min(cap - at);
        self.buf[at..at + first].copy_from_slice(&bytes[..first]);
        self.buf[..bytes.len() - first].copy_from_slice(&bytes[first..]);
    }

    fn read_at(&self, at: usize, out: &mut [u8]) {
        let cap = self.buf.len();
        let first = out.len().min(cap - at);
        out[..first].copy_from_slice(&self.buf[at..at + first]);
        let rest = out.len() - first;
        out[first..].copy_from_slice(&self.buf[..rest]);
    }

    /// The body length in the header of the record at `at`.
    fn body_len_at(&self, at: usize) -> usize {
        let at = wrap(at + 20, self.buf.len());
        // One load where the four bytes do not wrap (every push evicts a
        // record and reads this): `read_at` copies in two calls.
        let mut len = [0u8; 4];
        match self.buf.get(at..).and_then(|b| b.first_chunk::<4>()) {
            Some(bytes) => len = *bytes,
            None => self.read_at(at, &mut len),
        }
        u32::from_le_bytes(len) as usize
    }

    fn record_at(&self, at: usize) -> (SentRecord<'_>, usize) {
        let mut h = [0u8; RECORD_HEADER];
        self.read_at(at, &mut h);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&h[0..8]);
        let mut time = [0u8; 8];
        time.copy_from_slice(&h[8..16]);
        let mut len = [0u8; 4];
        len.copy_from_slice(&h[20..24]);
        let body_len = u32::from_le_bytes(len) as usize;
        let cap = self.buf.len();
        let body_at = wrap(at + RECORD_HEADER, cap);
        let first = body_len.min(cap - body_at);
        let body = (
            &self.buf[body_at..body_at + first],
            &self.buf[..body_len - first],
        );
        (
            SentRecord {
                seq: u64::from_le_bytes(seq),
                orig_sending_time: UtcTime(u64::from_le_bytes(time)),
                msg_type: [h[16], h[17]],
                body,
            },
            RECORD_HEADER + body_len,
        )
    }

    /// Stores a message; evicts the oldest records to make room. Returns
    /// false when the record is larger than the whole ring (it is then not
    /// kept and will be gap-filled if requested).
    pub fn push(
        &mut self,
        seq: u64,
        orig_sending_time: UtcTime,
        msg_type: &[u8],
        body: &[u8],
    ) -> bool {
        let cap = self.buf.len();
        let need = RECORD_HEADER + body.len();
        if need > cap || msg_type.is_empty() || msg_type.len() > 2 {
            return false;
        }
        while cap - self.used < need {
            // The oldest record goes: only its length is read.
            let len = RECORD_HEADER + self.body_len_at(self.head);
            self.head = wrap(self.head + len, cap);
            self.used -= len;
            self.count -= 1;
        }
        let tail = wrap(self.head + self.used, cap);
        let mut h = [0u8; RECORD_HEADER];
        h[0..8].copy_from_slice(&seq.to_le_bytes());
        h[8..16].copy_from_slice(&orig_sending_time.0.to_le_bytes());
        h[16] = msg_type[0];
        h[17] = msg_type.get(1).copied().unwrap_or(0);
        h[20..24].copy_from_slice(&(body.len() as u32).to_le_bytes());
        match self.buf.get_mut(tail..tail + need) {
            // The usual case: the record does not wrap (the header's 24
            // bytes then go as a few moves, not a copy call).
            Some(record) => {
                let (header, rest) = record.split_at_mut(RECORD_HEADER);
                header.copy_from_slice(&h);
                rest.copy_from_slice(body);
            }
            None => {
                self.write_at(tail, &h);
                self.write_at(wrap(tail + RECORD_HEADER, cap), body);
            }
        }
        self.used += need;
        self.count += 1;
        true
    }

    /// Records oldest first (ascending sequence numbers).
    pub fn iter(&self) -> impl Iterator<Item = SentRecord<'_>> + '_ {
        let mut at = self.head;
        let mut left = self.count;
        core::iter::from_fn(move || {
            if left == 0 {
                return None;
            }
            let (rec, len) = self.record_at(at);
            at = wrap(at + len, self.buf.len());
            left -= 1;
            Some(rec)
        })
    }
}

/// Messages received ahead of a gap, in arrival order.
pub struct InboundQueue<'a> {
    buf: &'a mut [u8],
    len: usize,
    dropped: u64,
}

const QUEUE_HEADER: usize = 12; // seq 8, len 4

impl<'a> InboundQueue<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        InboundQueue {
            buf,
            len: 0,
            dropped: 0,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Messages that did not fit (they will come back through the resend).
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    pub fn push(&mut self, seq: u64, message: &[u8]) -> bool {
        let need = QUEUE_HEADER + message.len();
        if self.len + need > self.buf.len() {
            self.dropped += 1;
            return false;
        }
        let at = self.len;
        self.buf[at..at + 8].copy_from_slice(&seq.to_le_bytes());
        self.buf[at + 8..at + 12].copy_from_slice(&(message.len() as u32).to_le_bytes());
        self.buf[at + 12..at + need].copy_from_slice(message);
        self.len += need;
        true
    }

    fn entries(&self) -> impl Iterator<Item = (usize, u64, &[u8])> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            if at + QUEUE_HEADER > self.len {
                return None;
            }
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&self.buf[at..at + 8]);
            let mut len = [0u8; 4];
            len.copy_from_slice(&self.buf[at + 8..at + 12]);
            let n = u32::from_le_bytes(len) as usize;
            let start = at;
            at += QUEUE_HEADER + n;
            Some((
                start,
                u64::from_le_bytes(seq),
                &self.buf[start + QUEUE_HEADER..start + QUEUE_HEADER + n],
            ))
        })
    }

    /// The queued message with sequence number `seq`, as (position, bytes).
    pub fn find(&self, seq: u64) -> Option<(usize, &[u8])> {
        self.entries().find(|e| e.1 == seq).map(|e| (e.0, e.2))
    }

    /// Marks the entry at `position` as consumed; empties the arena once
    /// nothing live remains at or above `next_in`.
    pub fn consume(&mut self, position: usize, next_in: u64) {
        if let Some(slot) = self.buf.get_mut(position..position + 8) {
            slot.copy_from_slice(&0u64.to_le_bytes());
        }
        if self.entries().all(|e| e.1 < next_in) {
            self.len = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    #[test]
    fn ring_keeps_newest_and_wraps() {
        let mut buf = [0u8; 200];
        let mut s = SentStore::new(&mut buf);
        for seq in 1..=20u64 {
            let body: Vec<u8> = (0..(seq as u8 % 7 + 10)).map(|i| i + seq as u8).collect();
            assert!(s.push(seq, UtcTime(seq * 10), b"D", &body));
            // every stored record reads back intact and in order
            let recs: Vec<_> = s.iter().collect();
            assert!(!recs.is_empty());
            assert_eq!(recs.last().unwrap().seq, seq);
            for w in recs.windows(2) {
                assert_eq!(w[0].seq + 1, w[1].seq);
            }
            for r in &recs {
                let mut whole = r.body.0.to_vec();
                whole.extend_from_slice(r.body.1);
                let want: Vec<u8> = (0..(r.seq as u8 % 7 + 10))
                    .map(|i| i + r.seq as u8)
                    .collect();
                assert_eq!(whole, want);
                assert_eq!(r.orig_sending_time, UtcTime(r.seq * 10));
                assert_eq!(r.msg_type(), b"D");
            }
        }
        assert!(s.len() < 20, "old records were evicted");
        assert!(
            !s.push(21, UtcTime(0), b"D", &[0u8; 300]),
            "oversized record refused"
        );
        assert!(s.push(22, UtcTime(0), b"AB", b"x"));
        assert_eq!(s.iter().last().unwrap().msg_type(), b"AB");
    }

    proptest::proptest! {
        /// Whatever the ring's size and the records' (so wherever a
        /// record, its header or the length in it wraps), the ring holds
        /// exactly the newest records that fit, intact: what a list that
        /// drops its oldest until the bytes fit holds.
        #[test]
        fn ring_holds_the_newest_records_that_fit(
            cap in 40usize..160,
            sizes in proptest::collection::vec(0usize..50, 1..60),
        ) {
            let mut buf = std::vec![0u8; cap];
            let mut s = SentStore::new(&mut buf);
            let mut model: std::collections::VecDeque<(u64, Vec<u8>)> = Default::default();
            for (i, &n) in sizes.iter().enumerate() {
                let seq = i as u64 + 1;
                let body: Vec<u8> = (0..n).map(|k| (k as u64 * 7 + seq) as u8).collect();
                let kept = s.push(seq, UtcTime(seq), b"D", &body);
                proptest::prop_assert_eq!(kept, RECORD_HEADER + n <= cap);
                if kept {
                    model.push_back((seq, body));
                    while model.iter().map(|(_, b)| RECORD_HEADER + b.len()).sum::<usize>() > cap {
                        model.pop_front();
                    }
                }
                let held: Vec<(u64, Vec<u8>)> = s
                    .iter()
                    .map(|r| {
                        let mut whole = r.body.0.to_vec();
                        whole.extend_from_slice(r.body.1);
                        (r.seq, whole)
                    })
                    .collect();
                proptest::prop_assert_eq!(&held, &Vec::from(model.clone()));
            }
        }
    }

    #[test]
    fn queue_finds_and_empties() {
        let mut buf = [0u8; 64];
        let mut q = InboundQueue::new(&mut buf);
        assert!(q.push(5, b"five"));
        assert!(q.push(6, b"six"));
        assert!(!q.push(7, &[0u8; 40]));
        assert_eq!(q.dropped(), 1);
        let (p, m) = q.find(5).unwrap();
        assert_eq!(m, b"five");
        q.consume(p, 6);
        assert!(!q.is_empty());
        let (p, m) = q.find(6).unwrap();
        assert_eq!(m, b"six");
        q.consume(p, 7);
        assert!(q.is_empty());
    }
}
