//! Finding message boundaries in a TCP byte stream.
//!
//! The framer trusts only the envelope: `8=FIX.x.y<SOH>9=<len><SOH>` (or
//! `FIXT.x.y`) then `len` bytes then `10=ddd<SOH>`. It does not verify the checksum (the
//! decoder does, so a frame with a bad checksum is still consumed as one
//! garbled message and does not desynchronise the stream).

use super::{MAX_MESSAGE_LEN, SOH};

const START: &[u8] = b"8=FIX";
/// Longest BeginString value we look for its SOH in ("FIXT.1.1" + slack).
const MAX_BEGIN_STRING_FIELD: usize = 16;
const MAX_BODY_LENGTH_DIGITS: usize = 6;
const TRAILER_LEN: usize = 7; // "10=ddd<SOH>"

/// Result of looking for a message at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// `buf[..len]` is one complete message envelope.
    Complete(usize),
    /// More bytes are needed; nothing may be discarded yet.
    Incomplete,
    /// `buf[..skip]` is not the start of a valid message and must be dropped
    /// (garbage before `8=`, or a broken envelope: skip and resynchronise).
    Garbage(usize),
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut from = 0;
    while let Some(off) = haystack.get(from..)?.iter().position(|&b| b == first) {
        let at = from + off;
        if haystack.get(at..at + needle.len())? == needle {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// Length of the longest suffix of `buf` that is a proper prefix of "8=FIX":
/// those bytes may become the start of a message once more data arrives.
fn partial_start_suffix(buf: &[u8]) -> usize {
    for keep in (1..START.len()).rev() {
        if buf.len() >= keep && buf[buf.len() - keep..] == START[..keep] {
            return keep;
        }
    }
    0
}

/// Whether `value` is a BeginString value (`FIX.d.d` or `FIXT.d.d`), or —
/// with `partial` — could still become one as more bytes arrive. A stray
/// `8=FIX` (the start of a message cut short, say) followed by a real
/// message must not be taken for one frame that swallows the real one.
fn begin_string_shape(value: &[u8], partial: bool) -> bool {
    let shape: &[u8] = if value.get(3) == Some(&b'T') {
        b"FIXT.d.d"
    } else {
        b"FIX.d.d"
    };
    if value.len() > shape.len() || (!partial && value.len() != shape.len()) {
        return false;
    }
    value.iter().zip(shape).all(|(&b, &s)| match s {
        b'd' => b.is_ascii_digit(),
        _ => b == s,
    })
}

fn parse_small_uint(digits: &[u8]) -> Option<usize> {
    if digits.is_empty() || digits.len() > MAX_BODY_LENGTH_DIGITS {
        return None;
    }
    let mut v = 0usize;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (d - b'0') as usize;
    }
    Some(v)
}

/// Whether `buf` (a message whose BodyLength reaches beyond it) holds,
/// after `body_start`, a trailer that ends this very message — its CheckSum
/// is the sum of every byte before it, as the sender computed it — with
/// the start of another message right after. A trailer inside a data field
/// (RawData holding a whole FIX message, say) sums only its own message,
/// so it is not taken for ours (but for one chance in 256); then the
/// framer waits for the BodyLength's bytes, as it would anyway.
fn own_trailer_then_next(buf: &[u8], body_start: usize) -> bool {
    let mut from = body_start;
    while let Some(at) = buf.get(from..).and_then(|rest| find(rest, b"\x0110=")) {
        let trailer = from + at + 1;
        let Some(after) = buf.get(trailer + TRAILER_LEN..) else {
            return false;
        };
        if after.len() < START.len() {
            return false;
        }
        let digits = &buf[trailer + 3..trailer + 6];
        if buf[trailer + 6] == SOH && after.starts_with(START) {
            let stated = parse_small_uint(digits);
            let sum = buf[..trailer].iter().fold(0u8, |s, &b| s.wrapping_add(b));
            if stated == Some(usize::from(sum)) {
                return true;
            }
        }
        from = trailer;
    }
    false
}

/// Looks for one message envelope at the start of `buf`.
pub fn find_frame(buf: &[u8]) -> FrameStatus {
    if !buf.starts_with(START) {
        if buf.len() < START.len() && START.starts_with(buf) {
            return FrameStatus::Incomplete;
        }
        return match find(buf, START) {
            Some(at) => FrameStatus::Garbage(at),
            None => {
                let drop = buf.len() - partial_start_suffix(buf);
                if drop == 0 {
                    FrameStatus::Incomplete
                } else {
                    FrameStatus::Garbage(drop)
                }
            }
        };
    }
    // BeginString value ends at the first SOH.
    let window = &buf[..buf.len().min(MAX_BEGIN_STRING_FIELD)];
    let Some(bs_soh) = window.iter().position(|&b| b == SOH) else {
        return if buf.len() >= MAX_BEGIN_STRING_FIELD || !begin_string_shape(&buf[2..], true) {
            FrameStatus::Garbage(1)
        } else {
            FrameStatus::Incomplete
        };
    };
    if !begin_string_shape(&buf[2..bs_soh], false) {
        return FrameStatus::Garbage(1);
    }
    let bl_start = bs_soh + 1;
    let rest = &buf[bl_start..];
    // "9=" + up to 6 digits + SOH
    let needed = 2 + MAX_BODY_LENGTH_DIGITS + 1;
    let scan = &rest[..rest.len().min(needed)];
    if scan.len() < 2 {
        return if b"9=".starts_with(scan) {
            FrameStatus::Incomplete
        } else {
            FrameStatus::Garbage(1)
        };
    }
    if &scan[..2] != b"9=" {
        return FrameStatus::Garbage(1);
    }
    let Some(soh) = scan[2..].iter().position(|&b| b == SOH) else {
        return if scan.len() >= needed || scan[2..].iter().any(|b| !b.is_ascii_digit()) {
            FrameStatus::Garbage(1)
        } else {
            FrameStatus::Incomplete
        };
    };
    let Some(body_len) = parse_small_uint(&scan[2..2 + soh]) else {
        return FrameStatus::Garbage(1);
    };
    let body_start = bl_start + 2 + soh + 1;
    let body_end = body_start + body_len;
    let total = body_end + TRAILER_LEN;
    if total > MAX_MESSAGE_LEN {
        return FrameStatus::Garbage(1);
    }
    if buf.len() < total {
        // A wrong (too large) BodyLength would make us wait for bytes that
        // belong to the next messages: if this message's own trailer is
        // already visible, followed by the start of another, the length is
        // wrong.
        if own_trailer_then_next(buf, body_start) {
            return FrameStatus::Garbage(1);
        }
        return FrameStatus::Incomplete;
    }
    let trailer = &buf[body_end..total];
    let body_ends_with_soh = body_len > 0 && buf[body_end - 1] == SOH;
    if !body_ends_with_soh
        || &trailer[..3] != b"10="
        || trailer[6] != SOH
        || !trailer[3..6].iter().all(u8::is_ascii_digit)
    {
        return FrameStatus::Garbage(1);
    }
    FrameStatus::Complete(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"8=FIX.4.4\x019=5\x0135=0\x0110=000\x01";

    #[test]
    fn complete_message() {
        assert_eq!(find_frame(MSG), FrameStatus::Complete(MSG.len()));
        let mut two = [0u8; 64];
        two[..MSG.len()].copy_from_slice(MSG);
        two[MSG.len()..MSG.len() * 2].copy_from_slice(MSG);
        assert_eq!(
            find_frame(&two[..MSG.len() * 2]),
            FrameStatus::Complete(MSG.len())
        );
    }

    #[test]
    fn every_prefix_is_incomplete() {
        for n in 0..MSG.len() {
            assert_eq!(find_frame(&MSG[..n]), FrameStatus::Incomplete, "prefix {n}");
        }
    }

    #[test]
    fn garbage_before_start_is_skipped() {
        let mut buf = [0u8; 64];
        buf[..4].copy_from_slice(b"xx\x01y");
        buf[4..4 + MSG.len()].copy_from_slice(MSG);
        assert_eq!(find_frame(&buf[..4 + MSG.len()]), FrameStatus::Garbage(4));
        assert_eq!(find_frame(b"hello"), FrameStatus::Garbage(5));
        // keeps a possible start at the end
        assert_eq!(find_frame(b"hello8=F"), FrameStatus::Garbage(5));
        assert_eq!(find_frame(b"8=F"), FrameStatus::Incomplete);
    }

    #[test]
    fn a_cut_start_does_not_swallow_the_next_message() {
        // "8=FIX" of a message cut short, then a whole message: the
        // BeginString "FIX8=FIX.4.4" is no BeginString.
        let mut buf = [0u8; 96];
        buf[..5].copy_from_slice(b"8=FIX");
        buf[5..5 + MSG.len()].copy_from_slice(MSG);
        assert_eq!(find_frame(&buf[..5 + MSG.len()]), FrameStatus::Garbage(1));
        assert_eq!(
            find_frame(&buf[5..5 + MSG.len()]),
            FrameStatus::Complete(MSG.len())
        );
        // Known to be wrong before its SOH arrives: no waiting.
        assert_eq!(find_frame(b"8=FIX8"), FrameStatus::Garbage(1));
        assert_eq!(find_frame(b"8=FIX.4."), FrameStatus::Incomplete);
        assert_eq!(find_frame(b"8=FIXT.1"), FrameStatus::Incomplete);
        assert_eq!(
            find_frame(b"8=FIX.4.44\x019=5\x0135=0\x0110=000\x01"),
            FrameStatus::Garbage(1)
        );
        assert_eq!(
            find_frame(b"8=FIXT.1.1\x019=5\x0135=0\x0110=000\x01"),
            FrameStatus::Complete(27)
        );
    }

    #[test]
    fn bad_body_length_resyncs() {
        // length too short: trailer not where it should be
        let bad = b"8=FIX.4.4\x019=3\x0135=0\x0110=000\x01";
        assert_eq!(find_frame(bad), FrameStatus::Garbage(1));
        // non-digit length
        assert_eq!(
            find_frame(b"8=FIX.4.4\x019=x\x0135=0\x0110=000\x01"),
            FrameStatus::Garbage(1)
        );
        // too long, but its own trailer (the CheckSum of its bytes, as
        // the sender wrote it) and the next message are visible → garbage
        // now
        let long = with_checksum(b"8=FIX.4.4\x019=50\x0135=0\x01");
        let mut buf = long.clone();
        buf.extend_from_slice(MSG);
        assert_eq!(find_frame(&buf), FrameStatus::Garbage(1));
        // too long and nothing after it yet: wait
        assert_eq!(find_frame(&long), FrameStatus::Incomplete);
        // a trailer whose CheckSum is not this message's is not its end
        let mut wrong = b"8=FIX.4.4\x019=50\x0135=0\x0110=000\x01".to_vec();
        wrong.extend_from_slice(MSG);
        assert_eq!(find_frame(&wrong), FrameStatus::Incomplete);
        // missing 9 entirely
        assert_eq!(
            find_frame(b"8=FIX.4.4\x0135=0\x0110=000\x01"),
            FrameStatus::Garbage(1)
        );
    }

    /// `head` (a message up to its body's last SOH) with its trailer.
    fn with_checksum(head: &[u8]) -> std::vec::Vec<u8> {
        let sum = head.iter().fold(0u8, |s, &b| s.wrapping_add(b));
        let mut m = head.to_vec();
        m.extend_from_slice(std::format!("10={sum:03}\x01").as_bytes());
        m
    }

    /// A data field (RawData, 95/96) holding whole FIX messages: while the
    /// outer message is still arriving, the inner trailers followed by an
    /// inner "8=FIX" are not taken for the end of the outer one (their
    /// CheckSums sum the inner messages only), so the outer message is
    /// waited for and then framed whole.
    #[test]
    fn a_data_field_holding_messages_does_not_resync() {
        let inner = with_checksum(b"8=FIX.4.4\x019=5\x0135=0\x01");
        let mut data = inner.clone();
        data.extend_from_slice(&inner);
        data.extend_from_slice(b"tail");
        let mut body = std::format!("35=8\x0195={}\x0196=", data.len()).into_bytes();
        body.extend_from_slice(&data);
        body.extend_from_slice(b"\x0158=x\x01");
        let mut head = std::format!("8=FIX.4.4\x019={}\x01", body.len()).into_bytes();
        head.extend_from_slice(&body);
        let outer = with_checksum(&head);
        let mut stream = outer.clone();
        stream.extend_from_slice(MSG);
        for cut in 1..outer.len() {
            assert_eq!(
                find_frame(&stream[..cut]),
                FrameStatus::Incomplete,
                "cut at {cut}: {:?}",
                std::string::String::from_utf8_lossy(&stream[..cut])
            );
        }
        assert_eq!(find_frame(&stream), FrameStatus::Complete(outer.len()));
    }

    #[test]
    fn oversized_length_is_garbage() {
        assert_eq!(
            find_frame(b"8=FIX.4.4\x019=999999\x0135=0"),
            FrameStatus::Garbage(1)
        );
    }
}
