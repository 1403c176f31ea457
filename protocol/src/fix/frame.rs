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
        // belong to the next messages. If a complete trailer followed by the
        // start of another message is already visible, the length is wrong.
        if let Some(at) = find(&buf[body_start..], b"\x0110=") {
            let trailer = body_start + at + 1;
            if buf.len() >= trailer + TRAILER_LEN + START.len()
                && buf[trailer + TRAILER_LEN..].starts_with(START)
            {
                return FrameStatus::Garbage(1);
            }
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
        // too long, but the next message is visible → garbage now
        let mut buf = [0u8; 80];
        let long = b"8=FIX.4.4\x019=50\x0135=0\x0110=000\x01";
        buf[..long.len()].copy_from_slice(long);
        buf[long.len()..long.len() + MSG.len()].copy_from_slice(MSG);
        assert_eq!(
            find_frame(&buf[..long.len() + MSG.len()]),
            FrameStatus::Garbage(1)
        );
        // too long and nothing after it yet: wait
        assert_eq!(find_frame(long), FrameStatus::Incomplete);
        // missing 9 entirely
        assert_eq!(
            find_frame(b"8=FIX.4.4\x0135=0\x0110=000\x01"),
            FrameStatus::Garbage(1)
        );
    }

    #[test]
    fn oversized_length_is_garbage() {
        assert_eq!(
            find_frame(b"8=FIX.4.4\x019=999999\x0135=0"),
            FrameStatus::Garbage(1)
        );
    }
}
