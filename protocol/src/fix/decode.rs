//! Zero-copy validating decoder.
//!
//! [`FixMessage::parse`] reads a message eight bytes at a time (portable
//! integer code), but for the SOHs of the body and its byte sum, which go
//! sixteen bytes a step with SSE2 on x86-64, the appliance included (see
//! `scan_body`; the appliance's kernel enables SSE before any decode).
//! BeginString and BodyLength are checked from the first two words, the
//! trailer as one word; the CheckSum is a word-wide byte sum. Then the SOH
//! offsets of the body are collected a word at a time, and each field's
//! tag is read from the four bytes at its start: digits validated, '='
//! located and the value multiplied out without a byte loop or a variable
//! shift (a four-entry table keyed by the tag's length). Field starts come
//! from the recorded offsets, not from the previous field, so no field
//! waits on the loads of the one before it. A field is recorded as the
//! offset of its closing SOH only; a lookup by tag knows the tag's length.
//!
//! The fast pass only ever says "valid, here are the fields" or "not sure".
//! Anything it does not handle (every malformed message, and the rare valid
//! one with an 8- or 9-digit tag) goes to a plain byte-at-a-time parser
//! that decides the exact result and error, so the two cannot disagree on
//! what is accepted; a property test holds them to that.
//!
//! Lookups go through a table indexed directly by tag for tags below
//! [`DIRECT_TAGS`] (every header and order-entry tag we read, so `get` is a
//! load and a compare, not a hash probe), and by a scan of the field list,
//! gated by a 64-bit presence mask, for larger tags. Nothing is allocated;
//! the view borrows the input.

use super::{tag, FixError, FixVersion, UtcTime, MAX_MESSAGE_LEN, SOH};
use types::Price;

mod layout;
#[cfg(any(fix_scan = "sse2", fix_scan = "asm", all(test, target_arch = "x86_64")))]
mod sse2;
pub use layout::FixDecoder;

/// Most fields one message may carry (header and trailer included).
pub const MAX_FIELDS: usize = 96;
/// Tags below this are looked up through a directly indexed table.
pub const DIRECT_TAGS: usize = 256;

// A field is recorded as the offset of its closing SOH (a u16: a message
// is at most 16 KiB). Field `i` is `fields[i + 1]` and starts right after
// `fields[i]`; `fields[0]` is the SOH before the body. Its tag is where it
// starts: a lookup by tag knows the tag's length, and the rare walk over
// the fields (iteration, groups, tags past the direct table) reads tags
// back from the message. A view is then ~470 bytes to clear and to move.
const _: () = assert!(MAX_MESSAGE_LEN <= u16::MAX as usize);

/// A validated FIX message borrowed from a byte slice.
#[derive(Clone)]
pub struct FixMessage<'a> {
    buf: &'a [u8],
    version: FixVersion,
    body_start: u16,
    count: u8,
    /// Bit `t % 64` is set when a field with a tag `t >= DIRECT_TAGS` is
    /// present: most lookups of an absent large tag end here.
    large_tags: u64,
    /// The SOH before the body, then the end (closing SOH) of each field in
    /// wire order.
    fields: [u16; MAX_FIELDS + 1],
    /// `direct[t] == i + 1` when field `i` (ending at `fields[i + 1]`) is the
    /// first field with tag `t` (`t < DIRECT_TAGS`); 0 when no field has it.
    direct: [u8; DIRECT_TAGS],
}

impl<'a> FixMessage<'a> {
    /// Validates the envelope (BeginString, exact BodyLength, CheckSum),
    /// field syntax and that MsgType(35) is the first body field. Does not
    /// require the standard header fields; see [`FixMessage::new_checked`].
    #[inline(always)]
    pub fn parse(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        Self::filled(buf, false, None)
    }

    /// [`FixMessage::parse`] plus the standard header: SenderCompID(49),
    /// TargetCompID(56), MsgSeqNum(34, a positive integer) and SendingTime(52).
    #[inline(always)]
    pub fn new_checked(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        Self::filled(buf, true, None)
    }

    /// A fresh view, parsed into where it was made. The whole fast path is
    /// inlined and no reference to the view reaches an out-of-line call
    /// (the slow path returns a view by value), so the compiler can build it
    /// in the caller's frame: one copy fewer than filling a local in an
    /// out-of-line function, and that copy read back right after the
    /// parser's small stores stalled on store forwarding.
    #[inline(always)]
    fn filled(
        buf: &'a [u8],
        check_header: bool,
        layouts: Option<&mut FixDecoder>,
    ) -> Result<FixMessage<'a>, FixError> {
        // The view is filled where the result lives: a view filled on its
        // own and then wrapped in `Ok` is copied whole (its address reaches
        // the cold paths, so the copy cannot be elided). A fresh view needs
        // no clearing (and on error it is dropped).
        let mut out = Ok(FixMessage::empty());
        if let Ok(msg) = &mut out {
            let checked = match msg.reparse_inner(buf, layouts) {
                Ok(()) if check_header => msg.check_header(),
                r => r,
            };
            if let Err(e) = checked {
                out = Err(e);
            }
        }
        out
    }

    /// An empty view (no fields) to be filled by [`FixMessage::reparse`].
    pub const fn empty() -> FixMessage<'static> {
        FixMessage {
            buf: &[],
            version: FixVersion::Fix44,
            body_start: 0,
            count: 0,
            large_tags: 0,
            fields: [0; MAX_FIELDS + 1],
            direct: [0; DIRECT_TAGS],
        }
    }

    /// [`FixMessage::parse`] into an existing view, so a hot loop can keep
    /// one view and avoid moving it per message. On error the view is left
    /// empty (every lookup answers `None`).
    pub fn reparse(&mut self, buf: &'a [u8]) -> Result<(), FixError> {
        self.clear();
        self.reparse_ended(buf, None)
    }

    /// [`FixMessage::reparse_inner`] into a view that may hold a message
    /// still (it is left empty on error).
    #[inline(always)]
    fn reparse_ended(
        &mut self,
        buf: &'a [u8],
        layouts: Option<&mut FixDecoder>,
    ) -> Result<(), FixError> {
        let r = self.reparse_inner(buf, layouts);
        if r.is_err() {
            self.clear();
        }
        r
    }

    /// Forgets every field. Stale `fields` entries need no clearing: they
    /// are only reached through `count` and `direct`.
    #[inline(always)]
    fn clear(&mut self) {
        self.buf = &[];
        self.count = 0;
        self.large_tags = 0;
        self.direct = [0; DIRECT_TAGS];
    }

    /// Fills a view from `buf`. Without `layouts` the view must be empty
    /// (its lookup table clear); with them only the lookup table needs to
    /// be left as it was, or clear: the layouts clear it before the tag
    /// pass, or overwrite it.
    #[inline(always)]
    fn reparse_inner(
        &mut self,
        buf: &'a [u8],
        layouts: Option<&mut FixDecoder>,
    ) -> Result<(), FixError> {
        if self.parse_fast(buf, layouts).is_some() {
            return Ok(());
        }
        // By value: see `filled`.
        *self = Self::exact(buf)?;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn exact(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        let mut msg = FixMessage::empty();
        msg.parse_exact(buf, false)?;
        Ok(msg)
    }

    /// For a session that must answer a message the strict parse refused
    /// with an error that is not garbling ([`FixError::is_garbled`]: a
    /// repeated tag, an envelope tag in the body, a bad data field): the
    /// envelope and CheckSum checked as always, then the fields up to the
    /// first bad one after MsgType, repeated tags allowed (the first
    /// occurrence wins), a data field with a wrong length read up to its
    /// first SOH. Enough to read the header (MsgSeqNum, MsgType…) and
    /// answer with a Reject; never for acting on the message.
    #[cold]
    pub fn parse_lenient(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        let mut msg = FixMessage::empty();
        msg.parse_exact(buf, true)?;
        Ok(msg)
    }

    /// The word-at-a-time pass. `Some` means `buf` is valid and the view is
    /// filled exactly as [`FixMessage::parse_exact`] would fill it; `None`
    /// means "let the exact parser decide" and may leave the view partly
    /// filled.
    #[inline(always)]
    fn parse_fast(&mut self, buf: &'a [u8], layouts: Option<&mut FixDecoder>) -> Option<()> {
        if buf.len() > MAX_MESSAGE_LEN {
            return None;
        }
        // "8=FIX.4.2<SOH>9=" or "8=FIX.4.4<SOH>9=", then the BodyLength
        // digits and their SOH: the first two words.
        let head = buf.first_chunk::<16>()?;
        let (w0, w1) = (
            u64::from_le_bytes(*head.first_chunk::<8>()?),
            u64::from_le_bytes(*head.last_chunk::<8>()?),
        );
        if w0 != u64::from_le_bytes(*b"8=FIX.4.")
            || w1 & 0xFFFF_FF00 != u64::from(u32::from_le_bytes([0, SOH, b'9', b'=']))
        {
            return None;
        }
        let version = match w1 as u8 {
            b'4' => FixVersion::Fix44,
            b'2' => FixVersion::Fix42,
            _ => return None,
        };
        // BodyLength: 1 to 3 digits from the same word, else from the next.
        let (body_len, digits) = match short_number((w1 >> 32) as u32, SOH) {
            Some(r) => r,
            None => long_body_length(buf)?,
        };
        let body_start = 12 + digits as usize + 1;
        let body_end = body_start + body_len as usize;
        if buf.len() != body_end + 7 {
            return None;
        }
        // The body's last SOH and the trailer are exactly one word:
        // SOH "10=" d d d SOH.
        let trailer = load_word(buf, body_end - 1)?;
        if trailer & 0xFF00_0000_FFFF_FFFF
            != u64::from_le_bytes([SOH, b'1', b'0', b'=', 0, 0, 0, SOH])
        {
            return None;
        }
        let declared = three_digits((trailer >> 32) as u32)?;
        // The CheckSum: the header from the two words already loaded (or,
        // after a long BodyLength, on its own), the body from its scan.
        let head_sum = if body_start <= 16 {
            word_sum(w0).wrapping_add(word_sum(w1 & low_bytes(body_start - 8)))
        } else {
            byte_sum(buf.get(..body_start)?)
        };
        let n = match layouts {
            Some(layouts) => layouts.index(self, buf, body_start, body_end, head_sum, declared)?,
            None => {
                let (n, body_sum) =
                    scan_body(&mut self.fields, buf, body_start, body_end, &mut |_, _| {})?;
                if head_sum.wrapping_add(body_sum) as u8 as u32 != declared {
                    return None;
                }
                self.index_tags(buf, body_end, n)?;
                n
            }
        };
        self.buf = buf;
        self.version = version;
        self.body_start = body_start as u16;
        self.count = n as u8;
        Some(())
    }

    /// The tag pass of [`FixMessage::parse_fast`]: reads the tag of each of
    /// the `n` fields whose ends [`scan_body`] recorded, checks it and its
    /// value, and fills the lookup table, which must be clear.
    ///
    /// Each field's tag is read from the four bytes at its start, found from
    /// the offsets recorded, not from the field before: no field waits on
    /// another's loads. (One merged pass, each SOH closing a field and
    /// reading the next tag, runs fewer instructions but slower: each
    /// field's table store then waits on the tag read in the iteration
    /// before.) A false SOH flag from the scan makes a field that starts
    /// with 0x00, refused here.
    ///
    /// The table is written in wire order without looking first, so a
    /// repeated tag would leave its last occurrence there; the slots
    /// overwritten are OR-ed together, and only when one was already set is
    /// the repetition checked (only repeating-group members may repeat,
    /// see [`REPEATING_GROUPS`]) and the table redone from the end (first
    /// occurrence wins). A message with an envelope tag in its body or
    /// with a data field (whose value may hold SOHs the scan took for
    /// field ends) is left to the exact parser: the first is refused, the
    /// second is rare.
    #[inline(always)]
    fn index_tags(&mut self, buf: &[u8], body_end: usize, n: usize) -> Option<()> {
        let FixMessage {
            fields,
            direct,
            large_tags,
            ..
        } = self;
        // Each field from the pair (previous end, its end).
        let tags = buf.get(..body_end + 4)?;
        let mut dup = 0u8;
        let mut large_dup = 0u64;
        for (i, pair) in fields.get(..=n)?.windows(2).enumerate() {
            let (start, end) = (pair[0] as usize + 1, pair[1] as usize);
            let (t, k) = field_tag(tags, start)?;
            // The value starts after the tag and its '='; the SOH cannot
            // come before the '=' (it would have ended the tag).
            if start + k + 1 >= end {
                return None; // empty value
            }
            match direct.get_mut(t as usize) {
                Some(slot) => {
                    dup |= *slot;
                    // i < MAX_FIELDS < 256
                    *slot = (i + 1) as u8;
                }
                None => {
                    // A large tag whose bit is set already may be repeated
                    // (or share the bit): looked at in `rare_fields`.
                    let bit = 1 << (t % 64);
                    large_dup |= *large_tags & bit;
                    *large_tags |= bit;
                }
            }
        }
        // MsgType must be the first field (a repeated one is refused
        // either way).
        if direct.get(tag::MSG_TYPE as usize) != Some(&1) {
            return None;
        }
        // The rare cases, one test for all: a repeated tag, an envelope
        // tag in the body, a data field or its length (see `rare_tags`).
        self.rare_check(u64::from(dup) | large_dup, tags, n)
    }

    /// [`rare_tags`] and, when it or `repeats` (a slot of the lookup
    /// table or a bit of the large-tag mask set twice) says so,
    /// [`rare_fields`]: out of line, so that the tag pass's loop keeps its
    /// registers.
    #[inline(never)]
    fn rare_check(&mut self, repeats: u64, tags: &[u8], n: usize) -> Option<()> {
        if repeats != 0 || rare_tags(&self.direct, self.large_tags) {
            return rare_fields(&self.fields, &mut self.direct, tags, n);
        }
        Some(())
    }

    /// Records field `i` with tag `t` in the lookup structures (first
    /// occurrence wins).
    #[inline(always)]
    fn index(&mut self, t: u32, i: usize) {
        match self.direct.get_mut(t as usize) {
            Some(slot) => {
                if *slot == 0 {
                    // i < MAX_FIELDS < 256
                    *slot = (i + 1) as u8;
                }
            }
            None => self.large_tags |= 1 << (t % 64),
        }
    }

    /// The reference parser: byte at a time, every check in order, exact
    /// errors. Runs when the fast pass declines. `lenient` (for a session
    /// that must answer a message the strict parse refused, see
    /// [`FixMessage::parse_lenient`]) lets tags repeat, takes a data field
    /// whose length is wrong to end at the first SOH, and stops at the
    /// first bad field after MsgType instead of refusing the message.
    fn parse_exact(&mut self, buf: &'a [u8], lenient: bool) -> Result<(), FixError> {
        if buf.len() > MAX_MESSAGE_LEN {
            return Err(FixError::BadBodyLength);
        }
        if !buf.starts_with(b"8=") {
            return Err(FixError::BadBeginString);
        }
        let bs_end = match buf.iter().take(16).position(|&b| b == SOH) {
            Some(p) => p,
            None => return Err(FixError::BadBeginString),
        };
        let version =
            FixVersion::from_begin_string(&buf[2..bs_end]).ok_or(FixError::BadBeginString)?;
        let rest = &buf[bs_end + 1..];
        if !rest.starts_with(b"9=") {
            return Err(FixError::BadBodyLength);
        }
        let digits_end = rest
            .iter()
            .take(8)
            .position(|&b| b == SOH)
            .ok_or(FixError::BadBodyLength)?;
        let body_len = parse_uint(&rest[2..digits_end]).ok_or(FixError::BadBodyLength)? as usize;
        let body_start = bs_end + 1 + digits_end + 1;
        let body_end = body_start + body_len;
        if buf.len() != body_end + 7 {
            return Err(FixError::BadBodyLength);
        }
        let trailer = &buf[body_end..];
        if body_len == 0
            || buf[body_end - 1] != SOH
            || !trailer.starts_with(b"10=")
            || trailer[6] != SOH
        {
            return Err(FixError::BadBodyLength);
        }
        let declared = parse_uint(&trailer[3..6]).ok_or(FixError::BadChecksum)?;
        if checksum(&buf[..body_end]) as u64 != declared {
            return Err(FixError::BadChecksum);
        }

        self.fields[0] = (body_start - 1) as u16;
        let mut pos = body_start;
        let mut n = 0usize;
        let mut repeats = Repeats::new();
        // After a data field's length field: (length tag, data tag, length).
        let mut pending: Option<(u32, u32, usize)> = None;
        // A lenient parse stops at the first bad field after MsgType and
        // keeps the fields before it.
        macro_rules! fail {
            ($e:expr) => {{
                if lenient && n > 0 {
                    break;
                }
                return Err($e);
            }};
        }
        while pos < body_end {
            // tag: 1..=9 digits, no leading zero, then '='
            let tag_start = pos;
            let mut t: u32 = 0;
            let mut tag_ok = true;
            loop {
                let Some(&b) = buf[..body_end].get(pos) else {
                    tag_ok = false;
                    break;
                };
                if b == b'=' {
                    break;
                }
                let d = b.wrapping_sub(b'0');
                if d > 9 || pos - tag_start >= 9 {
                    tag_ok = false;
                    break;
                }
                t = t * 10 + d as u32;
                pos += 1;
            }
            if !tag_ok || pos == tag_start || t == 0 || buf[tag_start] == b'0' {
                fail!(FixError::MalformedField);
            }
            let v_start = pos + 1;
            let next_soh = |from: usize| {
                buf.get(from..body_end)
                    .and_then(|rest| rest.iter().position(|&b| b == SOH))
                    .map(|p| from + p)
            };
            // A data field's value is as long as its length field said,
            // and must end at an SOH; anything else ends at the first SOH.
            let data = match pending.take() {
                Some((len_tag, data_tag, len)) => {
                    let end = v_start.saturating_add(len);
                    if t == data_tag && end < body_end && buf[end] == SOH {
                        Some(end)
                    } else if lenient {
                        None
                    } else {
                        return Err(FixError::BadDataLength(len_tag));
                    }
                }
                None => {
                    if let (Some(len_tag), false, true) = (tag::length_of_data(t), lenient, n > 0) {
                        return Err(FixError::MissingDataLength(len_tag));
                    }
                    None
                }
            };
            let v_end = match data.or_else(|| next_soh(v_start)) {
                Some(e) => e,
                None => fail!(FixError::MalformedField),
            };
            if v_end == v_start {
                fail!(FixError::MalformedField);
            }
            if n == MAX_FIELDS {
                fail!(FixError::TooManyFields);
            }
            if n == 0 && t != tag::MSG_TYPE {
                return Err(FixError::MissingMsgType);
            }
            if let Some(data_tag) = tag::data_of_length(t) {
                // A positive number; a length past the message runs past
                // the body all the same.
                match parse_uint(&buf[v_start..v_end]) {
                    Some(len) if len > 0 => {
                        let len = len.min(MAX_MESSAGE_LEN as u64) as usize;
                        pending = Some((t, data_tag, len));
                    }
                    _ if lenient => {}
                    _ => return Err(FixError::BadDataLength(t)),
                }
            }
            if !lenient {
                repeats.see(t)?;
            }
            self.fields[n + 1] = v_end as u16;
            self.index(t, n);
            n += 1;
            pos = v_end + 1;
        }
        if n == 0 {
            return Err(FixError::MissingMsgType);
        }
        if let (Some((len_tag, _, _)), false) = (pending, lenient) {
            // A length field with no data field after it.
            return Err(FixError::BadDataLength(len_tag));
        }
        self.buf = buf;
        self.version = version;
        self.body_start = body_start as u16;
        self.count = n as u8;
        Ok(())
    }

    /// Checks the standard header fields after [`FixMessage::parse`].
    #[inline]
    pub fn check_header(&self) -> Result<(), FixError> {
        for t in [
            tag::SENDER_COMP_ID,
            tag::TARGET_COMP_ID,
            tag::MSG_SEQ_NUM,
            tag::SENDING_TIME,
        ] {
            if self.position_of(t).is_none() {
                return Err(FixError::MissingField(t));
            }
        }
        match self.seq_num() {
            Some(s) if s > 0 => Ok(()),
            _ => Err(FixError::InvalidValue(tag::MSG_SEQ_NUM)),
        }
    }

    /// Position in field order of the first field with `t`.
    #[inline(always)]
    fn position_of(&self, t: u32) -> Option<usize> {
        if let Some(&d) = self.direct.get(t as usize) {
            return (d as usize).checked_sub(1);
        }
        if self.large_tags & (1 << (t % 64)) == 0 {
            return None;
        }
        (0..self.count as usize).find(|&i| self.tag_at(i) == t)
    }

    /// Offset of the first byte of field `i` (its tag).
    #[inline(always)]
    fn field_start(&self, i: usize) -> usize {
        self.fields.get(i).map_or(0, |&prev| prev as usize + 1)
    }

    /// `(tag, digits)` of field `i`, read back from the message (the
    /// parsers checked it); `None` past the last field.
    fn tag_and_len(&self, i: usize) -> Option<(u32, usize)> {
        if i >= self.count as usize {
            return None;
        }
        let start = self.field_start(i);
        if let Some(r) = self
            .buf
            .get(start..start + 4)
            .and_then(|w| short_tag(u32::from_le_bytes(*w.first_chunk::<4>()?)))
        {
            return Some((r.0, r.1 as usize));
        }
        // 4 to 9 digits
        let digits = self.buf.get(start..)?.iter().take_while(|&&b| b != b'=');
        Some(digits.fold((0u32, 0usize), |(t, k), &b| {
            (
                t.wrapping_mul(10).wrapping_add(b.wrapping_sub(b'0') as u32),
                k + 1,
            )
        }))
    }

    /// The tag of field `i` (0 past the last field).
    #[inline]
    fn tag_at(&self, i: usize) -> u32 {
        self.tag_and_len(i).map_or(0, |(t, _)| t)
    }

    /// Offsets of the value of field `i`, whose tag has `k` digits.
    #[inline(always)]
    fn value_range(&self, i: usize, k: usize) -> Option<(usize, usize)> {
        let end = *self.fields.get(i + 1)? as usize;
        let prev = *self.fields.get(i)? as usize;
        // The field starts after the entry before it: tag, '=', value.
        Some((prev + 2 + k, end))
    }

    /// The value of field `i`, whose tag has `k` digits.
    #[inline(always)]
    fn value(&self, i: usize, k: usize) -> Option<&'a [u8]> {
        let (start, end) = self.value_range(i, k)?;
        self.buf.get(start..end)
    }

    /// The value of field `i` (empty past the last field).
    fn value_at(&self, i: usize) -> &'a [u8] {
        self.tag_and_len(i)
            .and_then(|(_, k)| self.value(i, k))
            .unwrap_or(&[])
    }

    /// The value of the first field with tag `t` as an unsigned integer
    /// ([`parse_uint`]): up to eight digits from one word of the message.
    /// `Some(None)` when there is no such field, `None` when its value is
    /// not an integer.
    #[inline(always)]
    fn uint_of(&self, t: u32) -> Option<Option<u64>> {
        let Some(i) = self.position_of(t) else {
            return Some(None);
        };
        let (start, end) = self.value_range(i, tag_digits(t))?;
        let len = end.wrapping_sub(start);
        if len.wrapping_sub(1) < 8 {
            // Every value is followed by at least the trailer's seven bytes.
            if let Some(w) = load_word(self.buf, start) {
                return digits_word(w, len).map(Some);
            }
        }
        parse_uint(self.buf.get(start..end)?).map(Some)
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn version(&self) -> FixVersion {
        self.version
    }

    pub fn msg_type(&self) -> &'a [u8] {
        // Field 0 is MsgType(35).
        self.value(0, 2).filter(|_| self.count > 0).unwrap_or(&[])
    }

    /// Number of body fields (MsgType onwards, CheckSum excluded).
    pub fn field_count(&self) -> usize {
        self.count as usize
    }

    /// The body bytes from MsgType(35) up to (not including) CheckSum(10).
    pub fn body(&self) -> &'a [u8] {
        self.buf
            .get(self.body_start as usize..self.buf.len().saturating_sub(7))
            .unwrap_or(&[])
    }

    /// Value of the first field with tag `t`.
    #[inline]
    pub fn get(&self, t: u32) -> Option<&'a [u8]> {
        self.position_of(t)
            .and_then(|i| self.value(i, tag_digits(t)))
    }

    /// Fields in wire order as `(tag, value)`.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        (0..self.count as usize).map(move |i| (self.tag_at(i), self.value_at(i)))
    }

    /// An unsigned integer field: `Ok(None)` when absent.
    pub fn get_uint(&self, t: u32) -> Result<Option<u64>, FixError> {
        self.uint_of(t).ok_or(FixError::InvalidValue(t))
    }

    /// A required unsigned integer field.
    pub fn req_uint(&self, t: u32) -> Result<u64, FixError> {
        self.get_uint(t)?.ok_or(FixError::MissingField(t))
    }

    /// A required field's raw value.
    pub fn req(&self, t: u32) -> Result<&'a [u8], FixError> {
        self.get(t).ok_or(FixError::MissingField(t))
    }

    /// A price field: `Ok(None)` when absent.
    pub fn get_price(&self, t: u32) -> Result<Option<Price>, FixError> {
        match self.get(t) {
            None => Ok(None),
            Some(v) => parse_price(v).map(Some).ok_or(FixError::InvalidValue(t)),
        }
    }

    /// A price a venue computed, rounded to price4 past four decimals
    /// (see [`parse_price_rounded`]): `Ok(None)` when absent.
    pub fn get_price_rounded(&self, t: u32) -> Result<Option<Price>, FixError> {
        match self.get(t) {
            None => Ok(None),
            Some(v) => parse_price_rounded(v)
                .map(Some)
                .ok_or(FixError::InvalidValue(t)),
        }
    }

    /// A Y/N field: absent → `Ok(None)`.
    pub fn get_bool(&self, t: u32) -> Result<Option<bool>, FixError> {
        match self.get(t) {
            None => Ok(None),
            Some(b"Y") => Ok(Some(true)),
            Some(b"N") => Ok(Some(false)),
            Some(_) => Err(FixError::InvalidValue(t)),
        }
    }

    /// A UTCTimestamp field: absent → `Ok(None)`.
    pub fn get_timestamp(&self, t: u32) -> Result<Option<UtcTime>, FixError> {
        match self.get(t) {
            None => Ok(None),
            Some(v) => parse_timestamp(v)
                .map(Some)
                .ok_or(FixError::InvalidValue(t)),
        }
    }

    /// MsgSeqNum(34), when present and numeric.
    #[inline]
    pub fn seq_num(&self) -> Option<u64> {
        self.uint_of(tag::MSG_SEQ_NUM).flatten()
    }

    pub fn sender_comp_id(&self) -> Option<&'a [u8]> {
        self.get(tag::SENDER_COMP_ID)
    }

    pub fn target_comp_id(&self) -> Option<&'a [u8]> {
        self.get(tag::TARGET_COMP_ID)
    }

    /// PossDupFlag(43) == Y.
    pub fn poss_dup(&self) -> bool {
        self.get(tag::POSS_DUP_FLAG) == Some(b"Y")
    }

    /// A repeating group introduced by the count field `count_tag`, whose
    /// entries start with `members[0]` and consist of fields whose tags are
    /// in `members`. Validates that the number of entries equals the count
    /// (0 is valid). An absent count field is an empty group. (A member
    /// twice in one entry is refused when the message is decoded, for the
    /// groups in [`REPEATING_GROUPS`]; for any other group, as any
    /// repeated tag.)
    pub fn group<'m>(
        &'m self,
        count_tag: u32,
        members: &'m [u32],
    ) -> Result<Group<'m, 'a>, FixError> {
        let Some(&delimiter) = members.first() else {
            return Err(FixError::GroupCount(count_tag));
        };
        let Some(at) = self.position_of(count_tag) else {
            return Ok(Group {
                msg: self,
                members,
                first: 0,
                end: 0,
                count: 0,
            });
        };
        let declared = parse_uint(self.value_at(at)).ok_or(FixError::InvalidValue(count_tag))?;
        let n = self.count as usize;
        let mut i = at + 1;
        let mut seen = 0u64;
        while i < n && self.tag_at(i) == delimiter {
            seen += 1;
            i += 1;
            while i < n && self.tag_at(i) != delimiter && members.contains(&self.tag_at(i)) {
                i += 1;
            }
        }
        if seen != declared {
            return Err(FixError::GroupCount(count_tag));
        }
        Ok(Group {
            msg: self,
            members,
            first: at + 1,
            end: i,
            count: seen as usize,
        })
    }
}

impl core::fmt::Debug for FixMessage<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never print the password: go through the masking renderer.
        write!(f, "FixMessage({})", super::Masked(self.buf))
    }
}

/// A validated repeating group (see [`FixMessage::group`]).
#[derive(Clone, Copy)]
pub struct Group<'m, 'a> {
    msg: &'m FixMessage<'a>,
    members: &'m [u32],
    first: usize,
    end: usize,
    count: usize,
}

impl<'m, 'a> Group<'m, 'a> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn entries(&self) -> impl Iterator<Item = GroupEntry<'m, 'a>> + '_ {
        let msg = self.msg;
        let delimiter = self.members.first().copied().unwrap_or(0);
        let end = self.end;
        let mut i = self.first;
        core::iter::from_fn(move || {
            if i >= end {
                return None;
            }
            let start = i;
            i += 1;
            while i < end && msg.tag_at(i) != delimiter {
                i += 1;
            }
            Some(GroupEntry { msg, start, end: i })
        })
    }
}

/// One entry of a repeating group.
#[derive(Clone, Copy)]
pub struct GroupEntry<'m, 'a> {
    msg: &'m FixMessage<'a>,
    start: usize,
    end: usize,
}

impl<'a> GroupEntry<'_, 'a> {
    pub fn get(&self, t: u32) -> Option<&'a [u8]> {
        (self.start..self.end)
            .find(|&i| self.msg.tag_at(i) == t)
            .map(|i| self.msg.value_at(i))
    }
}

/// The repeating groups the decoder knows: the NumInGroup tag, then the
/// member tags, the delimiter (the first tag of every entry) first. Their
/// members may repeat from one entry to the next (never within one); any
/// other tag may appear once per message. A group missing here has its
/// repeated members refused as repeated tags ([`FixError::RepeatedTag`]).
/// Nested groups are not supported.
pub const REPEATING_GROUPS: [(u32, &[u32]); 4] = [
    // NoAffectedOrders: OrigClOrdID, AffectedOrderID, AffectedSecondaryOrderID
    (
        tag::NO_AFFECTED_ORDERS,
        &[
            tag::ORIG_CL_ORD_ID,
            tag::AFFECTED_ORDER_ID,
            tag::AFFECTED_SECONDARY_ORDER_ID,
        ],
    ),
    // NoPartyIDs: PartyID, PartyIDSource, PartyRole
    (453, &[448, 447, 452]),
    // NoMiscFees: MiscFeeAmt, MiscFeeCurr, MiscFeeType, MiscFeeBasis
    (136, &[137, 138, 139, 891]),
    // NoContraBrokers: ContraBroker, ContraTrader, ContraTradeQty,
    // ContraTradeTime, ContraLegRefID
    (382, &[375, 337, 437, 438, 655]),
];

/// Whether the lookup table or the large-tag mask shows one of the tags
/// the tag pass leaves to [`rare_fields`]: BeginString(8), BodyLength(9),
/// CheckSum(10) (never in a body), a data field or its length field. A few
/// loads and masks, no branch; the large-tag mask may say yes for another
/// tag with the same bit, which `rare_fields` then finds harmless.
#[inline(always)]
fn rare_tags(direct: &[u8; DIRECT_TAGS], large_tags: u64) -> bool {
    // Whole-word loads at fixed offsets (in bounds: `direct` has 256).
    let word = |at: usize| {
        direct
            .get(at..)
            .and_then(|b| b.first_chunk::<8>())
            .map_or(0, |b| u64::from_le_bytes(*b))
    };
    // 8, 9, 10; 89, 90, 91, 93, 95, 96 (of 89..=96); 212, 213
    let envelope = word(8) & 0x00FF_FFFF;
    let low = word(89) & 0xFFFF_00FF_00FF_FFFF;
    let xml = word(212) & 0xFFFF;
    (envelope | low | xml) != 0 || large_tags & LARGE_DATA_BITS != 0
}

/// The large-tag mask bits of the data fields and lengths past the direct
/// table: 348..=359 and 445, 446.
const LARGE_DATA_BITS: u64 = {
    let mut bits = 0u64;
    let mut i = 0;
    while i < tag::DATA_FIELDS.len() {
        let (len, data) = tag::DATA_FIELDS[i];
        if len as usize >= DIRECT_TAGS {
            bits |= 1 << (len % 64);
        }
        if data as usize >= DIRECT_TAGS {
            bits |= 1 << (data % 64);
        }
        i += 1;
    }
    bits
};

/// Whether `t` is a data field or the length field of one.
#[inline]
fn is_data_or_length(t: u32) -> bool {
    tag::DATA_FIELDS
        .iter()
        .any(|&(len, data)| t == len || t == data)
}

/// The rare part of the tag pass (see [`FixMessage::index_tags`]), for
/// the `n` fields ending at `fields[1..=n]`: `None` (the exact parser
/// decides) at an envelope tag, a data field or its length, or a tag
/// repeated where it may not be; else the table is redone from the end,
/// so that the first occurrence of a repeated tag wins.
#[cold]
#[inline(never)]
fn rare_fields(
    fields: &[u16; MAX_FIELDS + 1],
    direct: &mut [u8; DIRECT_TAGS],
    tags: &[u8],
    n: usize,
) -> Option<()> {
    let mut repeats = Repeats::new();
    let starts = fields.get(..n)?;
    for &prev in starts {
        let (t, _) = field_tag(tags, prev as usize + 1)?;
        if is_data_or_length(t) {
            return None;
        }
        repeats.see(t).ok()?;
    }
    for (i, &prev) in starts.iter().enumerate().rev() {
        let (t, _) = field_tag(tags, prev as usize + 1)?;
        if let Some(slot) = direct.get_mut(t as usize) {
            // i < MAX_FIELDS < 256
            *slot = (i + 1) as u8;
        }
    }
    Some(())
}

/// The tags this codec reads or writes (every tag of [`tag`]), sorted. A
/// second occurrence of one of them outside a repeating group would give a
/// message two meanings, and is refused ([`FixError::RepeatedTag`]). Any
/// other tag may repeat and is passed over as before: it may be a member of
/// a repeating group the decoder has no dictionary for (a venue's own, or
/// one nested in a known group, such as NoPartySubIDs in NoPartyIDs), and
/// refusing it would refuse valid traffic.
pub const INTERPRETED_TAGS: [u32; 81] = [
    tag::ACCOUNT,
    tag::AVG_PX,
    tag::BEGIN_SEQ_NO,
    tag::BEGIN_STRING,
    tag::BODY_LENGTH,
    tag::CHECK_SUM,
    tag::CL_ORD_ID,
    tag::CUM_QTY,
    tag::END_SEQ_NO,
    tag::EXEC_ID,
    tag::EXEC_INST,
    tag::EXEC_REF_ID,
    tag::EXEC_TRANS_TYPE,
    tag::HANDL_INST,
    tag::LAST_PX,
    tag::LAST_QTY,
    tag::MSG_SEQ_NUM,
    tag::MSG_TYPE,
    tag::NEW_SEQ_NO,
    tag::ORDER_ID,
    tag::ORDER_QTY,
    tag::ORD_STATUS,
    tag::ORD_TYPE,
    tag::ORIG_CL_ORD_ID,
    tag::POSS_DUP_FLAG,
    tag::PRICE,
    tag::REF_SEQ_NUM,
    tag::SENDER_COMP_ID,
    tag::SENDING_TIME,
    tag::SIDE,
    tag::SYMBOL,
    tag::TARGET_COMP_ID,
    tag::TEXT,
    tag::TIME_IN_FORCE,
    tag::TRANSACT_TIME,
    tag::SIGNATURE,
    tag::SECURE_DATA_LEN,
    tag::SECURE_DATA,
    tag::SIGNATURE_LENGTH,
    tag::RAW_DATA_LENGTH,
    tag::RAW_DATA,
    tag::ENCRYPT_METHOD,
    tag::CXL_REJ_REASON,
    tag::HEART_BT_INT,
    tag::TEST_REQ_ID,
    tag::ORIG_SENDING_TIME,
    tag::GAP_FILL_FLAG,
    tag::RESET_SEQ_NUM_FLAG,
    tag::EXEC_TYPE,
    tag::LEAVES_QTY,
    tag::XML_DATA_LEN,
    tag::XML_DATA,
    tag::ENCODED_ISSUER_LEN,
    tag::ENCODED_ISSUER,
    tag::ENCODED_SECURITY_DESC_LEN,
    tag::ENCODED_SECURITY_DESC,
    tag::ENCODED_LIST_EXEC_INST_LEN,
    tag::ENCODED_LIST_EXEC_INST,
    tag::ENCODED_TEXT_LEN,
    tag::ENCODED_TEXT,
    tag::ENCODED_SUBJECT_LEN,
    tag::ENCODED_SUBJECT,
    tag::ENCODED_HEADLINE_LEN,
    tag::ENCODED_HEADLINE,
    tag::REF_TAG_ID,
    tag::REF_MSG_TYPE,
    tag::SESSION_REJECT_REASON,
    tag::BUSINESS_REJECT_REF_ID,
    tag::BUSINESS_REJECT_REASON,
    tag::CXL_REJ_RESPONSE_TO,
    tag::ENCODED_LIST_STATUS_TEXT_LEN,
    tag::ENCODED_LIST_STATUS_TEXT,
    tag::MASS_CANCEL_REQUEST_TYPE,
    tag::MASS_CANCEL_RESPONSE,
    tag::MASS_CANCEL_REJECT_REASON,
    tag::TOTAL_AFFECTED_ORDERS,
    tag::NO_AFFECTED_ORDERS,
    tag::AFFECTED_ORDER_ID,
    tag::AFFECTED_SECONDARY_ORDER_ID,
    tag::USERNAME,
    tag::PASSWORD,
];

const _: () = {
    let mut i = 1;
    while i < INTERPRETED_TAGS.len() {
        assert!(INTERPRETED_TAGS[i - 1] < INTERPRETED_TAGS[i]);
        i += 1;
    }
};

/// Whether a repeat of `t` is refused (see [`INTERPRETED_TAGS`]).
pub fn interpreted(t: u32) -> bool {
    INTERPRETED_TAGS.binary_search(&t).is_ok()
}

/// The tags of a message seen so far, in wire order, for the checks that
/// no tag repeats outside a repeating group ([`REPEATING_GROUPS`]) nor
/// within one entry of a group, and that no envelope tag is in the body.
/// Constant work per tag: a bitmap for the directly indexed tags, a small
/// open-addressed set for the others (a message has at most
/// [`MAX_FIELDS`] of them).
struct Repeats {
    low: [u64; DIRECT_TAGS / 64],
    high: [u32; 128],
    /// The members of the group being read, and of its current entry the
    /// members seen (bit `k` for `members[k]`; 0 before the first entry).
    group: Option<&'static [u32]>,
    entry: u64,
}

const _: () = assert!(MAX_FIELDS < 128);

impl Repeats {
    fn new() -> Repeats {
        Repeats {
            low: [0; DIRECT_TAGS / 64],
            high: [0; 128],
            group: None,
            entry: 0,
        }
    }

    /// Takes the next tag; the error for a tag that may not be here.
    fn see(&mut self, t: u32) -> Result<(), FixError> {
        if matches!(t, tag::BEGIN_STRING | tag::BODY_LENGTH | tag::CHECK_SUM) {
            return Err(FixError::TagOutOfOrder(t));
        }
        if let Some(members) = self.group {
            match members.iter().position(|&m| m == t) {
                Some(0) => {
                    self.entry = 1;
                    return Ok(());
                }
                Some(k) if self.entry != 0 => {
                    let bit = 1u64 << (k % 64);
                    if self.entry & bit != 0 {
                        return Err(FixError::RepeatedTag(t));
                    }
                    self.entry |= bit;
                    return Ok(());
                }
                // Not a member (or one before the first entry): the group
                // is over.
                _ => self.group = None,
            }
        }
        if !self.first_time(t) && interpreted(t) {
            return Err(FixError::RepeatedTag(t));
        }
        if let Some(&(_, members)) = REPEATING_GROUPS.iter().find(|g| g.0 == t) {
            self.group = Some(members);
            self.entry = 0;
        }
        Ok(())
    }

    /// Records `t` (not 0); false when it was recorded before.
    fn first_time(&mut self, t: u32) -> bool {
        if let Some(word) = self.low.get_mut(t as usize / 64) {
            let bit = 1u64 << (t % 64);
            let fresh = *word & bit == 0;
            *word |= bit;
            return fresh;
        }
        let mut at = (t.wrapping_mul(0x9E37_79B1) >> 25) as usize;
        // Fewer tags than slots: a free slot is always found.
        for _ in 0..self.high.len() {
            match self.high.get_mut(at % 128) {
                Some(slot) if *slot == t => return false,
                Some(slot) if *slot == 0 => {
                    *slot = t;
                    return true;
                }
                _ => at += 1,
            }
        }
        false
    }
}

/// `(tag, digits)` of the field starting at `at` (tags of up to seven
/// digits; `None` for anything else).
#[inline(always)]
fn field_tag(buf: &[u8], at: usize) -> Option<(u32, usize)> {
    match short_tag(u32::from_le_bytes(*buf.get(at..)?.first_chunk::<4>()?)) {
        Some((t, k)) => Some((t, k as usize)),
        None => long_tag(buf, at),
    }
}

/// What [`short_tag`] needs to know about a tag of `k` digits (0..=3):
/// where its '=' must be and the multiplier that moves its digits to the
/// top of the word and pairs them up in one go. (Padded to 16 bytes.)
struct ShortTag {
    eq_mask: u32,
    eq: u32,
    mul: u32,
    _pad: u32,
}

const SHORT_TAGS: [ShortTag; 4] = {
    let mut t = [const {
        // k = 0: the field starts with a non-digit; `eq` can never match.
        ShortTag {
            eq_mask: 0,
            eq: 1,
            mul: 0,
            _pad: 0,
        }
    }; 4];
    let mut k = 1;
    while k < 4 {
        t[k] = ShortTag {
            eq_mask: 0xFF << (8 * k),
            eq: (b'=' as u32) << (8 * k),
            // Shifting the digits up by 32 - 8k bytes drops what follows
            // them; as a multiply it folds into the pairing multiply
            // (both are taken mod 2^32).
            mul: (1 + (10 << 8)) << (32 - 8 * k),
            _pad: 0,
        };
        k += 1;
    }
    t
};

/// `(tag, digits)` of a field whose tag has 1..=3 digits, from the
/// first four bytes of the field (`w`): 32-bit operations, no variable
/// shift. `None` when the tag is longer or the field malformed.
#[inline(always)]
fn short_tag(w: u32) -> Option<(u32, u32)> {
    // Digits become 0..=9, then every byte that cannot be in a tag gets
    // its high bit set: the first byte must be 1..=9 (d - 1 in 0..=8: the
    // 0x77 below), the others 0..=9. The lowest flag is exact (a carry out
    // of a byte needs that byte ≥ 0x8A, itself flagged) and is where the
    // tag ends: it must be '=' and not the first byte. The top flag is
    // forced, so that a fourth digit there fails the '=' test.
    let d = w ^ 0x3030_3030;
    let dm = d.wrapping_sub(1);
    let not_tag = (dm.wrapping_add(0x7676_7677) | dm | 0x8000_0000) & 0x8080_8080;
    let k = not_tag.trailing_zeros() / 8;
    let e = &SHORT_TAGS[k as usize & 3];
    if w & e.eq_mask != e.eq {
        return None;
    }
    let pairs = (d.wrapping_mul(e.mul) >> 8) & 0x00FF_00FF;
    let t = pairs.wrapping_mul(1 + (100 << 16)) >> 16;
    Some((t, k))
}

/// `(value, digits)` of a 1- to 3-digit number without a leading zero
/// followed by `term`, in the low bytes of `w`; `None` otherwise.
#[inline(always)]
fn short_number(w: u32, term: u8) -> Option<(u32, u32)> {
    // See `short_tag`.
    let d = w ^ 0x3030_3030;
    let dm = d.wrapping_sub(1);
    let not_digit = (dm.wrapping_add(0x7676_7677) | dm | 0x8000_0000) & 0x8080_8080;
    let k = not_digit.trailing_zeros() / 8;
    if k == 0 || (w >> (8 * k)) as u8 != term {
        return None;
    }
    let pairs = ((d << (32 - 8 * k)).wrapping_mul(1 + (10 << 8)) >> 8) & 0x00FF_00FF;
    Some((pairs.wrapping_mul(1 + (100 << 16)) >> 16, k))
}

/// The value of three ASCII digits in the low bytes of `w` (the byte above
/// them is ignored); `None` unless all three are digits.
#[inline(always)]
fn three_digits(w: u32) -> Option<u32> {
    let d = (w ^ 0x0030_3030) & 0x00FF_FFFF;
    // A digit plus 0x76 stays below 0x80; a byte that carries out is
    // itself ≥ 0x80 and caught by `| d`.
    if (d.wrapping_add(0x0076_7676) | d) & 0x0080_8080 != 0 {
        return None;
    }
    let pairs = ((d << 8).wrapping_mul(1 + (10 << 8)) >> 8) & 0x00FF_00FF;
    Some(pairs.wrapping_mul(1 + (100 << 16)) >> 16)
}

/// `(value, digits)` of a BodyLength of up to 5 digits (leading zeros
/// allowed), from the word after "9=".
#[cold]
#[inline(never)]
fn long_body_length(buf: &[u8]) -> Option<(u32, u32)> {
    let w = load_word(buf, 12)?;
    let digits = first_byte(low_zero_byte(w ^ SOH_WORD))?;
    if digits > 5 {
        return None;
    }
    Some((digits_word(w, digits)? as u32, digits as u32))
}

/// [`short_tag`] for tags of 4 to 7 digits, from a word at `at`; `None`
/// for anything else (8- and 9-digit tags are left to the exact parser).
#[cold]
#[inline(never)]
fn long_tag(buf: &[u8], at: usize) -> Option<(u32, usize)> {
    let w = load_word(buf, at)?;
    let d = w ^ (ONES * b'0' as u64);
    let dm = d.wrapping_sub(1);
    let not_tag = (dm.wrapping_add(ONES * 0x76 + 1) | dm) & HIGHS;
    let shift = not_tag.trailing_zeros() & 0x38;
    if shift == 0 || (w >> shift) as u8 != b'=' {
        return None;
    }
    Some((digits_value(d << (64 - shift)) as u32, (shift / 8) as usize))
}

/// The SOH pass of [`FixMessage::parse_fast`] over the body
/// `buf[body_start..body_end]` (whose envelope has been checked: it ends
/// with an SOH and `buf` holds the 7-byte trailer after it): records the
/// offset of every SOH in `fields[1..]` (`fields[0]` is the SOH before the
/// body) and returns how many there are, and the byte sum of the body for
/// the CheckSum (mod 256 in its low byte); `None` past [`MAX_FIELDS`].
/// `on_soh(n, at)` is told of each SOH as it is recorded in `fields[n]`
/// (the field it closes is the `n`th, the next one starts at `at + 1`).
///
/// Sixteen bytes a step with SSE2 on x86-64, the SOHs and the sum from
/// one load; else a word at a time with integer operations, with the sum a
/// pass of its own. Which one is fixed at compile time (`build.rs` sets
/// `fix_scan`): SSE2 intrinsics where the target enables SSE2 (hosts), the
/// same instructions as inline assembly on the soft-float appliance target
/// (`x86_64-unknown-none`; its kernel enables SSE on every core before
/// any FIX decode, `kernel::arch::cpu::enable_sse`), words elsewhere. Tests
/// hold all of them to the same result, and run the decoder's property
/// tests on each (see `tests::each_scan`).
#[inline(always)]
fn scan_body<H: FnMut(usize, usize)>(
    fields: &mut [u16; MAX_FIELDS + 1],
    buf: &[u8],
    body_start: usize,
    body_end: usize,
    on_soh: &mut H,
) -> Option<(usize, u32)> {
    #[cfg(test)]
    {
        match tests::forced_scan() {
            Some(Scan::Words) => return scan_body_words(fields, buf, body_start, body_end, on_soh),
            #[cfg(target_arch = "x86_64")]
            Some(Scan::Asm) => return scan_body_asm(fields, buf, body_start, body_end, on_soh),
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            Some(Scan::Sse2) => return scan_body_sse2(fields, buf, body_start, body_end, on_soh),
            None => {}
        }
    }
    #[cfg(fix_scan = "sse2")]
    {
        scan_body_sse2(fields, buf, body_start, body_end, on_soh)
    }
    #[cfg(fix_scan = "asm")]
    {
        scan_body_asm(fields, buf, body_start, body_end, on_soh)
    }
    #[cfg(not(any(fix_scan = "sse2", fix_scan = "asm")))]
    {
        scan_body_words(fields, buf, body_start, body_end, on_soh)
    }
}

/// The SOH scans there are, for tests to pick one.
#[cfg(test)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scan {
    Words,
    #[cfg(target_arch = "x86_64")]
    Asm,
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    Sse2,
}

/// Records the SOHs flagged in `sohs` (`BITS_PER_BYTE` bits for each byte
/// from `base`, the lowest set bit of a byte's group the flag) after the
/// `n` already in `fields`, and tells `on_soh` of each; `None` past
/// [`MAX_FIELDS`].
#[inline(always)]
fn record_sohs<const BITS_PER_BYTE: u32, H: FnMut(usize, usize)>(
    fields: &mut [u16; MAX_FIELDS + 1],
    n: &mut usize,
    base: usize,
    mut sohs: u64,
    on_soh: &mut H,
) -> Option<()> {
    while sohs != 0 {
        *n += 1;
        let at = base + (sohs.trailing_zeros() / BITS_PER_BYTE) as usize;
        *fields.get_mut(*n)? = at as u16;
        on_soh(*n, at);
        sohs &= sohs - 1;
    }
    Some(())
}

/// [`scan_body`] a word at a time. The last, partial word reads into the
/// trailer and is masked. A false flag (a 0x00 byte right after an SOH,
/// see [`low_zero_byte`]) makes a field that starts with 0x00, which the
/// tag checks refuse. The byte sum is a tight pass of its own (taken from
/// the same loads it costs more).
#[inline(always)]
fn scan_body_words<H: FnMut(usize, usize)>(
    fields: &mut [u16; MAX_FIELDS + 1],
    buf: &[u8],
    body_start: usize,
    body_end: usize,
    on_soh: &mut H,
) -> Option<(usize, u32)> {
    fields[0] = (body_start - 1) as u16;
    let words = buf.get(..body_end)?;
    let sum = byte_sum(words.get(body_start..)?);
    let mut n = 0usize;
    let mut base = body_start;
    while base + 8 <= words.len() {
        let w = u64::from_le_bytes(*words[base..base + 8].first_chunk::<8>()?);
        record_sohs::<8, _>(fields, &mut n, base, low_zero_byte(w ^ SOH_WORD), on_soh)?;
        base += 8;
    }
    if base < body_end {
        // The byte after the body is the trailer's '1': no false flag
        // starts there.
        let w = load_word(buf, base)?;
        let sohs = low_zero_byte(w ^ SOH_WORD) & low_bytes(body_end - base);
        record_sohs::<8, _>(fields, &mut n, base, sohs, on_soh)?;
    }
    Some((n, sum))
}

/// [`scan_body`] sixteen bytes at a time: a compare and a mask move give
/// one bit per byte, exact (no false flags), and a sum of absolute
/// differences against zero adds the block's bytes. A body of 16 bytes or
/// more ends with one block flush with its end, its bytes already seen
/// left out; a shorter one is done a word at a time.
#[cfg(any(
    fix_scan = "sse2",
    all(test, target_arch = "x86_64", target_feature = "sse2")
))]
#[inline(always)]
fn scan_body_sse2<H: FnMut(usize, usize)>(
    fields: &mut [u16; MAX_FIELDS + 1],
    buf: &[u8],
    body_start: usize,
    body_end: usize,
    on_soh: &mut H,
) -> Option<(usize, u32)> {
    if body_end < body_start + 16 {
        return scan_body_words(fields, buf, body_start, body_end, on_soh);
    }
    fields[0] = (body_start - 1) as u16;
    let bytes = buf.get(..body_end)?;
    let mut sum = sse2::ByteSum::new();
    let mut n = 0usize;
    let mut base = body_start;
    while base + 16 <= bytes.len() {
        let sohs = sse2::scan_block(bytes[base..base + 16].first_chunk::<16>()?, 0, &mut sum);
        record_sohs::<1, _>(fields, &mut n, base, u64::from(sohs), on_soh)?;
        base += 16;
    }
    if base < body_end {
        let last = body_end - 16;
        let block = bytes.get(last..)?.first_chunk::<16>()?;
        let sohs = sse2::scan_block(block, base - last, &mut sum);
        record_sohs::<1, _>(fields, &mut n, base, u64::from(sohs), on_soh)?;
    }
    Some((n, sum.total() as u32))
}

/// [`scan_body`] with the SSE2 of [`scan_body_sse2`] as inline assembly,
/// for the soft-float appliance target (see `decode/sse2.rs`): one `asm!`
/// block writes a 16-bit SOH mask per block and returns the byte sum; the
/// masks are then recorded as [`scan_body_sse2`] records them. A body
/// shorter than 16 bytes is done a word at a time.
///
/// SSE must be enabled on the running core (the appliance's kernel does it
/// at bring-up on every core, before any FIX decode).
#[cfg(any(fix_scan = "asm", all(test, target_arch = "x86_64")))]
#[inline(always)]
fn scan_body_asm<H: FnMut(usize, usize)>(
    fields: &mut [u16; MAX_FIELDS + 1],
    buf: &[u8],
    body_start: usize,
    body_end: usize,
    on_soh: &mut H,
) -> Option<(usize, u32)> {
    if body_end < body_start + 16 {
        return scan_body_words(fields, buf, body_start, body_end, on_soh);
    }
    fields[0] = (body_start - 1) as u16;
    let body = buf.get(body_start..body_end)?;
    let mut room = sse2::BlockMasks::new();
    let (full, masks, sum) = sse2::scan_asm(body, &mut room)?;
    let mut n = 0usize;
    let mut base = body_start;
    for i in 0..full {
        record_sohs::<1, _>(fields, &mut n, base, u64::from(masks.get(i)?), on_soh)?;
        base += 16;
    }
    // The last block ends with the body; its bytes before `base` were in
    // the block before.
    let seen = base - (body_end - 16);
    let sohs = u64::from(masks.get(full)?) >> seen;
    record_sohs::<1, _>(fields, &mut n, base, sohs, on_soh)?;
    Some((n, sum as u32))
}

/// The number of decimal digits of `t`.
#[inline(always)]
fn tag_digits(t: u32) -> usize {
    let mut k = 1;
    let mut x = t;
    while x >= 10 {
        x /= 10;
        k += 1;
    }
    k
}

// ------------------------------------------------------------------ SWAR
//
// Byte-parallel helpers on little-endian u64 words: byte `k` of a word is
// the byte at offset `k` of the slice it was loaded from.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;
const SOH_WORD: u64 = ONES * SOH as u64;
/// The even bytes of a word, as four 16-bit lanes for byte sums.
const LANE_LOW: u64 = 0x00FF_00FF_00FF_00FF;
/// The eight bytes at `buf[at..at + 8]`, if they are all there.
#[inline(always)]
fn load_word(buf: &[u8], at: usize) -> Option<u64> {
    buf.get(at..)?
        .first_chunk::<8>()
        .map(|b| u64::from_le_bytes(*b))
}

/// High bit set in every zero byte of `x`, and possibly in a 0x01 byte
/// right above a flagged one (the borrow of the subtraction runs on): the
/// lowest flag is always exact. Four operations, where an exact test needs
/// six; the callers refuse what the extra flags could cause.
#[inline(always)]
fn low_zero_byte(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Offset of the lowest flagged byte of a mask from the functions above.
#[inline(always)]
fn first_byte(mask: u64) -> Option<usize> {
    if mask == 0 {
        None
    } else {
        Some((mask.trailing_zeros() / 8) as usize)
    }
}

/// A mask of the low `k` bytes, `k` in 0..=8.
#[inline(always)]
fn low_bytes(k: usize) -> u64 {
    u64::MAX
        .checked_shr(64u32.wrapping_sub(8 * k as u32))
        .unwrap_or(0)
}

/// The value of the `len` (1..=8) ASCII digits in the low bytes of `w`
/// (first digit in byte 0); `None` when one of them is not a digit or
/// `len` is out of range. Bytes above `len` are ignored.
#[inline(always)]
fn digits_word(w: u64, len: usize) -> Option<u64> {
    // Shifting the digits to the top drops the bytes above them and leaves
    // zero bytes (leading zeros) below; a shift of 64 (len 0) or more fails.
    let v = (w ^ (ONES * b'0' as u64)).checked_shl(64u32.wrapping_sub(8 * len as u32))?;
    // A digit is now 0..=9: high nibble clear, and adding 6 leaves it clear.
    // (A carry out of a byte needs that byte ≥ 0xFA, which already fails.)
    if (v | v.wrapping_add(ONES * 6)) & (ONES * 0xF0) != 0 {
        return None;
    }
    Some(digits_value(v))
}

/// The number whose decimal digits (values 0..=9, most significant first)
/// are the bytes of `v`.
#[inline(always)]
fn digits_value(v: u64) -> u64 {
    // Pairs, then quads, then all eight: one multiply puts 10^k times the
    // more significant (lower) half plus the other half in the upper half
    // of each lane, which the shift brings down. No lane overflows (99,
    // 9999, 99_999_999), so nothing carries into its neighbour.
    let v = (v.wrapping_mul(1 + (10 << 8)) >> 8) & LANE_LOW;
    let v = (v.wrapping_mul(1 + (100 << 16)) >> 16) & 0x0000_FFFF_0000_FFFF;
    v.wrapping_mul(1 + (10_000 << 32)) >> 32
}

/// Sum of `bytes` modulo 256 (the low byte of the result; the rest is
/// not the full sum), eight bytes per step, for the CheckSum.
#[inline(always)]
fn byte_sum(bytes: &[u8]) -> u32 {
    let mut total = 0u32;
    // Blocks of at most 32 words: a 16-bit lane of `even` or of the odd
    // columns below then stays under 32 × 255 × 2, so that the lanes add up
    // in one multiply without a carry between them.
    let mut blocks = bytes.chunks_exact(8 * 32);
    for block in &mut blocks {
        total = total.wrapping_add(words_sum(block));
    }
    let rest = blocks.remainder();
    total = total.wrapping_add(words_sum(rest));
    let tail = rest.len() % 8;
    if tail != 0 {
        match bytes.last_chunk::<8>() {
            // The last eight bytes, of which the top `tail` are not summed
            // yet.
            Some(w) => {
                total = total.wrapping_add(word_sum(u64::from_le_bytes(*w) >> (64 - 8 * tail)))
            }
            None => {
                for &b in &rest[rest.len() - tail..] {
                    total = total.wrapping_add(b as u32);
                }
            }
        }
    }
    total
}

/// Sum (mod 256) of the whole words of at most 32 words of bytes.
#[inline(always)]
fn words_sum(block: &[u8]) -> u32 {
    let mut even = 0u64;
    let mut all = 0u64;
    for c in block.chunks_exact(8) {
        let mut b = [0u8; 8];
        b.copy_from_slice(c);
        let w = u64::from_le_bytes(b);
        // `even` holds the byte columns 0, 2, 4, 6 in 16-bit lanes; `all`
        // is the plain wrapping sum, so `all - even` is the odd columns a
        // byte up (the top one only mod 256: enough here).
        even += w & LANE_LOW;
        all = all.wrapping_add(w);
    }
    add_lanes(even + (all.wrapping_sub(even) >> 8))
}

/// The sum (mod 2^16) of the four 16-bit lanes of `lanes`, when the first
/// three add up to less than 2^16: one multiply gathers them in the top
/// lane.
#[inline(always)]
fn add_lanes(lanes: u64) -> u32 {
    (lanes.wrapping_mul(0x0001_0001_0001_0001) >> 48) as u32
}

/// Sum of the eight bytes of `w`.
#[inline(always)]
fn word_sum(w: u64) -> u32 {
    add_lanes((w & LANE_LOW) + ((w >> 8) & LANE_LOW))
}

/// Sum of bytes modulo 256, the FIX CheckSum.
#[inline]
pub fn checksum(bytes: &[u8]) -> u8 {
    // Summing into u32 lanes lets the compiler vectorise; the modulo is taken once.
    let mut sum: u32 = 0;
    for &b in bytes {
        sum = sum.wrapping_add(b as u32);
    }
    sum as u8
}

/// Parses a non-empty run of ASCII digits (at most 18) as `u64`.
#[inline]
pub fn parse_uint(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 18 {
        return None;
    }
    let mut acc = 0u64;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = acc * 10 + d as u64;
    }
    Some(acc)
}

/// Parses a decimal price into price4 units. More than four decimals are
/// accepted only when the extra digits are zeros (no silent rounding).
pub fn parse_price(v: &[u8]) -> Option<Price> {
    parse_decimal(v, false)
}

/// Parses a decimal price a venue computed into price4 units, rounding
/// digits past the fourth decimal half away from zero: an average price
/// (10.166667 after fills at 10 and 10.5) or a sub-penny execution price
/// is a real value the book-keeping needs, not an input error.
pub fn parse_price_rounded(v: &[u8]) -> Option<Price> {
    parse_decimal(v, true)
}

fn parse_decimal(v: &[u8], round: bool) -> Option<Price> {
    let (neg, digits) = match v.first() {
        Some(b'-') => (true, &v[1..]),
        _ => (false, v),
    };
    let (int_part, frac_part) = match digits.iter().position(|&b| b == b'.') {
        Some(p) => (&digits[..p], &digits[p + 1..]),
        None => (digits, &digits[digits.len()..]),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let int = if int_part.is_empty() {
        0
    } else {
        parse_uint(int_part)?
    };
    let mut frac = 0i128;
    let mut round_up = false;
    for (i, &b) in frac_part.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if i < 4 {
            frac = frac * 10 + d as i128;
        } else if i == 4 && round {
            round_up = d >= 5;
        } else if d != 0 && !round {
            return None;
        }
    }
    for _ in frac_part.len()..4 {
        frac *= 10;
    }
    // The magnitude in i128, so that i64::MIN (whose magnitude is one past
    // i64::MAX) is read back as the encoder writes it.
    let magnitude = int as i128 * Price::SCALE as i128 + frac + round_up as i128;
    i64::try_from(if neg { -magnitude } else { magnitude })
        .ok()
        .map(Price)
}

/// Days in `month` (1–12) of `year`, Gregorian leap years included.
const fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub const fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn digits_n(v: &[u8]) -> Option<u32> {
    let mut acc = 0u32;
    for &b in v {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = acc * 10 + d as u32;
    }
    Some(acc)
}

/// The eight ASCII digits of `w` as four two-digit values in 16-bit lanes
/// (first pair in the low lane); `None` unless all eight are digits.
#[inline(always)]
fn digit_pairs(w: u64) -> Option<u64> {
    let d = w ^ (ONES * b'0' as u64);
    // See `digits_word`.
    if (d | d.wrapping_add(ONES * 6)) & (ONES * 0xF0) != 0 {
        return None;
    }
    Some((d.wrapping_mul(1 + (10 << 8)) >> 8) & LANE_LOW)
}

/// Parses `YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]` (UTC).
pub fn parse_timestamp(v: &[u8]) -> Option<UtcTime> {
    // Two words: the date, and the time with its colons squeezed out
    // ("HH:MM:SS" → "HHMMSS00"), each checked and paired up at once.
    let date = load_word(v, 0)?;
    let time = load_word(v, 9)?;
    if v.get(8) != Some(&b'-') || (time >> 16) as u8 != b':' || (time >> 40) as u8 != b':' {
        return None;
    }
    let date = digit_pairs(date)?;
    let hms = (time & 0xFFFF)
        | ((time >> 8) & 0xFFFF_0000)
        | ((time >> 16) & 0xFFFF_0000_0000)
        | (ONES * b'0' as u64) << 48;
    let hms = digit_pairs(hms)?;
    let lane = |w: u64, k: u32| ((w >> (16 * k)) & 0xFFFF) as u32;
    let year = lane(date, 0) * 100 + lane(date, 1);
    let (month, day) = (lane(date, 2), lane(date, 3));
    let (hour, min, sec) = (lane(hms, 0), lane(hms, 1), lane(hms, 2));
    if !(1970..=2500).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let frac_ns = match &v[17..] {
        [] => 0,
        [b'.', f @ ..] if matches!(f.len(), 3 | 6 | 9) => {
            let raw = digits_n(f)? as u64;
            raw * 10u64.pow(9 - f.len() as u32)
        }
        _ => return None,
    };
    let days = days_from_civil(year as i64, month, day);
    let secs = days as u64 * 86_400 + hour as u64 * 3600 + min as u64 * 60 + sec as u64;
    Some(UtcTime(secs * UtcTime::NANOS_PER_SEC + frac_ns))
}

#[cfg(test)]
pub(crate) mod tests {
    extern crate std;
    use super::*;
    use crate::fix::encode::HeaderTemplate;

    /// Every SOH scan this build has: the portable one, and on x86-64 the
    /// appliance's (inline assembly) and, where SSE2 is a target feature,
    /// the intrinsics.
    pub(crate) const SCANS: &[Scan] = &[
        Scan::Words,
        #[cfg(target_arch = "x86_64")]
        Scan::Asm,
        #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
        Scan::Sse2,
    ];

    std::thread_local! {
        static FORCED: core::cell::Cell<Option<Scan>> = const { core::cell::Cell::new(None) };
    }

    /// The scan [`with_scan`] forces on this thread, if any.
    pub(crate) fn forced_scan() -> Option<Scan> {
        FORCED.with(|f| f.get())
    }

    /// `f()` with `scan` in [`scan_body`] (this thread only).
    pub(crate) fn with_scan<R>(scan: Scan, f: impl FnOnce() -> R) -> R {
        struct Unforce(Option<Scan>);
        impl Drop for Unforce {
            fn drop(&mut self) {
                FORCED.with(|c| c.set(self.0));
            }
        }
        let _restore = Unforce(FORCED.with(|c| c.replace(Some(scan))));
        f()
    }

    /// Runs `f` once with each of [`SCANS`] in [`scan_body`]; stops at the
    /// first error, which names the scan.
    pub(crate) fn each_scan(
        mut f: impl FnMut() -> Result<(), proptest::test_runner::TestCaseError>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        for &scan in SCANS {
            with_scan(scan, &mut f).map_err(|e| {
                proptest::test_runner::TestCaseError::fail(std::format!("{scan:?} scan: {e}"))
            })?;
        }
        Ok(())
    }

    fn sample(buf: &mut [u8]) -> &[u8] {
        let mut h = HeaderTemplate::new(crate::fix::FixVersion::Fix44, b"BUY", b"SELL").unwrap();
        let mut m = h
            .begin(buf, b"r", 7, UtcTime::from_secs(1_700_000_000))
            .unwrap();
        m.str(tag::CL_ORD_ID, b"C1");
        m.uint(tag::NO_AFFECTED_ORDERS, 2);
        m.str(tag::ORIG_CL_ORD_ID, b"A");
        m.str(tag::AFFECTED_ORDER_ID, b"X1");
        m.str(tag::ORIG_CL_ORD_ID, b"B");
        m.str(tag::TEXT, b"after");
        m.finish().unwrap()
    }

    #[test]
    fn parses_header_and_lookup() {
        let mut buf = [0u8; 256];
        let bytes = sample(&mut buf);
        let msg = FixMessage::new_checked(bytes).unwrap();
        assert_eq!(msg.version(), FixVersion::Fix44);
        assert_eq!(msg.msg_type(), b"r");
        assert_eq!(msg.seq_num(), Some(7));
        assert_eq!(msg.sender_comp_id(), Some(&b"BUY"[..]));
        assert_eq!(msg.target_comp_id(), Some(&b"SELL"[..]));
        assert_eq!(msg.get(tag::TEXT), Some(&b"after"[..]));
        assert_eq!(msg.get(9999), None);
        assert_eq!(
            msg.get_timestamp(tag::SENDING_TIME).unwrap(),
            Some(UtcTime::from_secs(1_700_000_000))
        );
        // first occurrence wins
        assert_eq!(msg.get(tag::ORIG_CL_ORD_ID), Some(&b"A"[..]));
    }

    #[test]
    fn groups_validate_count() {
        let mut buf = [0u8; 256];
        let bytes = sample(&mut buf);
        let msg = FixMessage::new_checked(bytes).unwrap();
        let members = [tag::ORIG_CL_ORD_ID, tag::AFFECTED_ORDER_ID];
        let g = msg.group(tag::NO_AFFECTED_ORDERS, &members).unwrap();
        assert_eq!(g.len(), 2);
        let mut it = g.entries();
        let e1 = it.next().unwrap();
        assert_eq!(e1.get(tag::ORIG_CL_ORD_ID), Some(&b"A"[..]));
        assert_eq!(e1.get(tag::AFFECTED_ORDER_ID), Some(&b"X1"[..]));
        let e2 = it.next().unwrap();
        assert_eq!(e2.get(tag::ORIG_CL_ORD_ID), Some(&b"B"[..]));
        assert_eq!(e2.get(tag::AFFECTED_ORDER_ID), None);
        assert!(it.next().is_none());
        // absent group is empty
        assert!(msg.group(999, &members).unwrap().is_empty());
    }

    #[test]
    fn group_count_mismatch_and_zero() {
        let mut h = HeaderTemplate::new(FixVersion::Fix42, b"A", b"B").unwrap();
        let members = [tag::ORIG_CL_ORD_ID, tag::AFFECTED_ORDER_ID];
        for (declared, entries, ok) in [
            (0u64, 0usize, true),
            (1, 0, false),
            (0, 1, false),
            (3, 2, false),
            (2, 2, true),
        ] {
            let mut buf = [0u8; 256];
            let mut m = h.begin(&mut buf, b"r", 1, UtcTime(0)).unwrap();
            m.uint(tag::NO_AFFECTED_ORDERS, declared);
            for _ in 0..entries {
                m.str(tag::ORIG_CL_ORD_ID, b"O");
            }
            m.str(tag::TEXT, b"t");
            let bytes = m.finish().unwrap();
            let msg = FixMessage::new_checked(bytes).unwrap();
            let r = msg.group(tag::NO_AFFECTED_ORDERS, &members);
            assert_eq!(r.is_ok(), ok, "declared {declared} entries {entries}");
            if let Ok(g) = r {
                assert_eq!(g.len(), entries);
                assert_eq!(g.entries().count(), entries);
            }
        }
    }

    #[test]
    fn rejects_bad_envelopes() {
        let good = b"8=FIX.4.2\x019=5\x0135=0\x0110=161\x01";
        assert!(
            FixMessage::parse(good).is_ok(),
            "{:?}",
            FixMessage::parse(good).err()
        );
        let cases: &[(&[u8], FixError)] = &[
            (
                b"8=FIX.4.2\x019=5\x0135=0\x0110=162\x01",
                FixError::BadChecksum,
            ),
            (
                b"8=FIX.4.2\x019=5\x0135=0\x0110=16x\x01",
                FixError::BadChecksum,
            ),
            (
                b"8=FIX.4.3\x019=5\x0135=0\x0110=161\x01",
                FixError::BadBeginString,
            ),
            (b"9=5\x0135=0\x0110=161\x01", FixError::BadBeginString),
            (
                b"8=FIX.4.2\x019=6\x0135=0\x0110=161\x01",
                FixError::BadBodyLength,
            ),
            (
                b"8=FIX.4.2\x019=4\x0135=0\x0110=161\x01",
                FixError::BadBodyLength,
            ),
            (
                b"8=FIX.4.2\x019=5\x0135=0\x0110=161\x01x",
                FixError::BadBodyLength,
            ),
            (b"8=FIX.4.2\x01", FixError::BadBodyLength),
        ];
        for (bytes, err) in cases {
            assert_eq!(
                FixMessage::parse(bytes).err(),
                Some(*err),
                "{:?}",
                super::super::Masked(bytes)
            );
        }
    }

    #[test]
    fn rejects_bad_fields() {
        // build bodies with a correct envelope around them
        let bodies: &[(&[u8], FixError)] = &[
            (b"34=1\x0135=0\x01", FixError::MissingMsgType),
            (b"35=0\x01=1\x01", FixError::MalformedField),
            (b"35=0\x0134=\x01", FixError::MalformedField),
            (b"35=0\x0103=1\x01", FixError::MalformedField),
            (b"35=0\x013a=1\x01", FixError::MalformedField),
            (b"35=0\x010=1\x01", FixError::MalformedField),
        ];
        for (body, err) in bodies {
            let mut buf = [0u8; 128];
            let n = wrap(body, &mut buf);
            assert_eq!(FixMessage::parse(&buf[..n]).err(), Some(*err));
        }
        let mut buf = [0u8; 128];
        let n = wrap(b"35=0\x0134=1\x01", &mut buf);
        assert_eq!(
            FixMessage::new_checked(&buf[..n]).err(),
            Some(FixError::MissingField(tag::SENDER_COMP_ID))
        );
    }

    pub(crate) fn wrap(body: &[u8], out: &mut [u8]) -> usize {
        let mut n = 0;
        let mut put = |b: &[u8], n: &mut usize| {
            out[*n..*n + b.len()].copy_from_slice(b);
            *n += b.len();
        };
        put(b"8=FIX.4.4\x019=", &mut n);
        let mut tmp = [0u8; 20];
        let len = crate::fix::encode::format_uint(body.len() as u64, &mut tmp);
        put(&tmp[20 - len..], &mut n);
        put(b"\x01", &mut n);
        put(body, &mut n);
        let sum = checksum(&out[..n]);
        let ck = [
            b'1',
            b'0',
            b'=',
            b'0' + sum / 100,
            b'0' + sum / 10 % 10,
            b'0' + sum % 10,
            SOH,
        ];
        out[n..n + 7].copy_from_slice(&ck);
        n + 7
    }

    /// Every decode path on one message, with each SOH scan: the plain
    /// parser (fresh and reused view), and a `FixDecoder` (fresh view,
    /// view kept, header checked or not), fed twice so a learned layout is
    /// tried too. All must agree; returns the plain parser's result.
    fn every_path(msg: &[u8]) -> Result<std::vec::Vec<(u32, std::vec::Vec<u8>)>, FixError> {
        let first = with_scan(SCANS[0], || every_path_one_scan(msg));
        for &scan in &SCANS[1..] {
            assert_eq!(
                with_scan(scan, || every_path_one_scan(msg)),
                first,
                "{scan:?}"
            );
        }
        first
    }

    fn every_path_one_scan(
        msg: &[u8],
    ) -> Result<std::vec::Vec<(u32, std::vec::Vec<u8>)>, FixError> {
        let fields = |m: &FixMessage<'_>| {
            m.fields()
                .map(|(t, v)| (t, v.to_vec()))
                .collect::<std::vec::Vec<_>>()
        };
        let plain = FixMessage::parse(msg).map(|m| fields(&m));
        let mut reused = FixMessage::empty();
        assert_eq!(reused.reparse(msg).map(|()| fields(&reused)), plain);
        let mut exact = FixMessage::empty();
        assert_eq!(
            exact.parse_exact(msg, false).map(|()| fields(&exact)),
            plain
        );
        let mut decoder = crate::fix::FixDecoder::new();
        for _ in 0..2 {
            assert_eq!(decoder.parse(msg).map(|m| fields(&m)), plain);
            let mut view = FixMessage::empty();
            assert_eq!(
                decoder
                    .reparse(&mut view, msg, false)
                    .map(|()| fields(&view)),
                plain
            );
        }
        assert_eq!(
            decoder.new_checked(msg).map(|m| fields(&m)).err(),
            FixMessage::new_checked(msg).err()
        );
        plain
    }

    fn header_then(body: &[u8]) -> std::vec::Vec<u8> {
        let mut b = b"35=8\x0149=V\x0156=C\x0134=7\x0152=20261202-14:00:00.000\x01".to_vec();
        b.extend_from_slice(body);
        let mut buf = std::vec![0u8; b.len() + 64];
        let n = wrap(&b, &mut buf);
        buf.truncate(n);
        buf
    }

    #[test]
    fn data_fields_keep_their_sohs_on_every_path() {
        let cases: &[(&[u8], u32, &[u8])] = &[
            (
                b"95=8\x0196=a\x01b\x0158=\x01\x0158=x\x01",
                96,
                b"a\x01b\x0158=\x01",
            ),
            (b"212=3\x01213=\x01\x01\x01\x01", 213, b"\x01\x01\x01"),
            (b"354=4\x01355=\x0110=\x0158=t\x01", 355, b"\x0110="),
            (b"58=t\x0193=2\x0189=\x01\x01\x01", 89, b"\x01\x01"),
            (b"445=1\x01446=\x01\x01", 446, b"\x01"),
            (b"90=5\x0191=12345\x01", 91, b"12345"),
        ];
        for &(body, data_tag, want) in cases {
            let msg = header_then(body);
            let fields = every_path(&msg).unwrap();
            let m = FixMessage::new_checked(&msg).unwrap();
            assert_eq!(m.get(data_tag), Some(want));
            assert_eq!(fields.iter().filter(|f| f.0 == data_tag).count(), 1);
            // the field after the data, if any, is found
            if body.ends_with(b"58=t\x01") {
                assert_eq!(m.get(58), Some(&b"t"[..]));
            }
            // no fast pass takes a data field (the scans took its
            // SOHs for field ends): both leave it to the exact parser
            let body_start = msg.iter().skip(10).position(|&b| b == SOH).unwrap() + 11;
            let body_end = msg.len() - 7;
            let mut view = FixMessage::empty();
            let (n, _) =
                scan_body_words(&mut view.fields, &msg, body_start, body_end, &mut |_, _| {})
                    .unwrap();
            assert!(view.index_tags(&msg, body_end, n).is_none());
            #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
            {
                let mut view = FixMessage::empty();
                let (n, _) =
                    scan_body_sse2(&mut view.fields, &msg, body_start, body_end, &mut |_, _| {})
                        .unwrap();
                assert!(view.index_tags(&msg, body_end, n).is_none());
            }
            #[cfg(target_arch = "x86_64")]
            {
                let mut view = FixMessage::empty();
                let (n, _) =
                    scan_body_asm(&mut view.fields, &msg, body_start, body_end, &mut |_, _| {})
                        .unwrap();
                assert!(view.index_tags(&msg, body_end, n).is_none());
            }
        }
    }

    #[test]
    fn bad_data_lengths_are_refused_precisely() {
        let cases: &[(&[u8], FixError)] = &[
            // no length before the data
            (b"96=ab\x01", FixError::MissingDataLength(95)),
            (b"95=2\x0158=x\x0196=ab\x01", FixError::BadDataLength(95)),
            (b"58=x\x0189=ab\x01", FixError::MissingDataLength(93)),
            // the length of another data field
            (b"95=2\x01213=ab\x01", FixError::BadDataLength(95)),
            // not a positive number
            (b"95=x\x0196=ab\x01", FixError::BadDataLength(95)),
            (b"95=-2\x0196=ab\x01", FixError::BadDataLength(95)),
            (b"95=0\x0196=ab\x01", FixError::BadDataLength(95)),
            // too short, too long (no SOH where it ends), past the body
            (b"95=1\x0196=ab\x01", FixError::BadDataLength(95)),
            (b"95=3\x0196=ab\x0158=x\x01", FixError::BadDataLength(95)),
            (b"95=9\x0196=ab\x01", FixError::BadDataLength(95)),
            (
                b"95=99999999999999999\x0196=ab\x01",
                FixError::BadDataLength(95),
            ),
            // a length with no data field after it
            (b"95=2\x01", FixError::BadDataLength(95)),
            (b"354=2\x0158=ab\x01", FixError::BadDataLength(354)),
        ];
        for &(body, err) in cases {
            let msg = header_then(body);
            assert_eq!(
                every_path(&msg).err(),
                Some(err),
                "{:?}",
                super::super::Masked(body)
            );
            assert!(!err.is_garbled());
            // the header can still be read, to answer with a Reject
            let lenient = FixMessage::parse_lenient(&msg).unwrap();
            assert_eq!(lenient.seq_num(), Some(7));
            assert_eq!(lenient.msg_type(), b"8");
        }
    }

    #[test]
    fn repeated_and_misplaced_tags_are_refused() {
        let cases: &[(&[u8], FixError)] = &[
            // envelope tags in the body
            (b"8=FIX.4.4\x01", FixError::TagOutOfOrder(8)),
            (b"9=12\x01", FixError::TagOutOfOrder(9)),
            (b"58=x\x0110=123\x01", FixError::TagOutOfOrder(10)),
            // a header tag twice
            (b"34=8\x01", FixError::RepeatedTag(34)),
            (b"11=a\x0149=W\x01", FixError::RepeatedTag(49)),
            // a body tag twice
            (b"58=x\x0111=a\x0158=y\x01", FixError::RepeatedTag(58)),
            (b"5000=x\x0111=a\x0111=b\x01", FixError::RepeatedTag(11)),
            // a member twice in one entry of a group
            (
                b"534=2\x0141=A\x01535=X\x01535=Y\x0141=B\x01",
                FixError::RepeatedTag(535),
            ),
            // a member outside its group is an ordinary tag
            (
                b"534=1\x0141=A\x0158=x\x01535=X\x01535=Y\x01",
                FixError::RepeatedTag(535),
            ),
            // the count field twice
            (
                b"534=1\x0141=A\x01534=1\x0141=B\x01",
                FixError::RepeatedTag(534),
            ),
            // the order of checks: the first problem in wire order
            (b"58=x\x0158=y\x019=1\x01", FixError::RepeatedTag(58)),
        ];
        for &(body, err) in cases {
            let msg = header_then(body);
            assert_eq!(
                every_path(&msg).err(),
                Some(err),
                "{:?}",
                super::super::Masked(body)
            );
            assert!(!err.is_garbled());
            let lenient = FixMessage::parse_lenient(&msg).unwrap();
            assert_eq!(lenient.seq_num(), Some(7), "first occurrence wins");
            assert_eq!(lenient.sender_comp_id(), Some(&b"V"[..]));
        }
        // Members repeating from entry to entry, a member also outside
        // the group, and two groups: accepted, first occurrence wins.
        let msg = header_then(
            b"41=O\x01534=2\x0141=A\x01535=X\x01536=S\x0141=B\x01535=Y\x01453=1\x01448=P\x01447=D\x01452=1\x0158=x\x01",
        );
        every_path(&msg).unwrap();
        let m = FixMessage::new_checked(&msg).unwrap();
        assert_eq!(m.get(41), Some(&b"O"[..]));
        assert_eq!(m.get(535), Some(&b"X"[..]));
        let g = m
            .group(534, &crate::fix::messages::AFFECTED_ORDERS_GROUP)
            .unwrap();
        assert_eq!(g.len(), 2);
        // Two parties each with a nested NoPartySubIDs group (802: 523,
        // 803), which the decoder has no dictionary for, and a venue's own
        // repeated tag: tags this codec does not read may repeat.
        let msg = header_then(
            b"453=2\x01448=P1\x01447=D\x01452=1\x01802=1\x01523=S1\x01803=4\x01448=P2\x01447=D\x01452=3\x01802=1\x01523=S2\x01803=4\x019001=a\x019001=b\x0158=x\x01",
        );
        every_path(&msg).unwrap();
    }

    #[test]
    fn too_many_fields() {
        let mut body = [0u8; 1024];
        let mut n = 0;
        body[..5].copy_from_slice(b"35=0\x01");
        n += 5;
        for i in 0..MAX_FIELDS {
            // distinct tags 1000, 1001, …
            body[n..n + 7].copy_from_slice(b"1000=x\x01");
            body[n + 2] = b'0' + (i / 10) as u8;
            body[n + 3] = b'0' + (i % 10) as u8;
            n += 7;
        }
        let mut buf = [0u8; 1100];
        let len = wrap(&body[..n], &mut buf);
        assert_eq!(
            FixMessage::parse(&buf[..len]).err(),
            Some(FixError::TooManyFields)
        );
    }

    fn parse_tag(digits: &[u8]) -> Option<u32> {
        if digits.is_empty() || digits.len() > 9 || digits[0] == b'0' {
            return None;
        }
        let mut t = 0u32;
        for &b in digits {
            let d = b.wrapping_sub(b'0');
            if d > 9 {
                return None;
            }
            t = t * 10 + d as u32;
        }
        Some(t)
    }

    /// Straightforward reference splitter: the fields of a body, or None.
    fn reference_fields(body: &[u8]) -> Option<std::vec::Vec<(u32, std::vec::Vec<u8>)>> {
        let mut out = std::vec::Vec::new();
        if body.last() != Some(&SOH) {
            return None;
        }
        for field in body[..body.len() - 1].split(|&b| b == SOH) {
            let eq = field.iter().position(|&b| b == b'=')?;
            let t = parse_tag(&field[..eq])?;
            let v = &field[eq + 1..];
            if v.is_empty() {
                return None;
            }
            out.push((t, v.to_vec()));
        }
        reference_rules(&out)?;
        Some(out)
    }

    /// The rules past field syntax, plainly (values here hold no SOH): no
    /// envelope tag in the body; a data field right after its length
    /// field, as long as it says, and a length field only before its data
    /// field; no tag twice outside the known repeating groups, no member
    /// twice within one entry of a group.
    pub(crate) fn reference_rules(fields: &[(u32, std::vec::Vec<u8>)]) -> Option<()> {
        let mut seen = std::vec::Vec::new();
        let mut group: Option<&[u32]> = None;
        let mut entry: std::vec::Vec<u32> = std::vec::Vec::new();
        for (i, (t, v)) in fields.iter().enumerate() {
            if [8, 9, 10].contains(t) {
                return None;
            }
            if let Some(data) = tag::data_of_length(*t) {
                let next = fields.get(i + 1)?;
                let len: usize = core::str::from_utf8(v).ok()?.parse().ok()?;
                if !v.iter().all(u8::is_ascii_digit) || next.0 != data || len != next.1.len() {
                    return None;
                }
            }
            if let Some(len_tag) = tag::length_of_data(*t) {
                if i == 0 || fields[i - 1].0 != len_tag {
                    return None;
                }
            }
            if let Some(members) = group {
                if *t == members[0] {
                    entry = std::vec![*t];
                    continue;
                }
                if members.contains(t) && !entry.is_empty() {
                    if entry.contains(t) {
                        return None;
                    }
                    entry.push(*t);
                    continue;
                }
                group = None;
            }
            if seen.contains(t) && interpreted(*t) {
                return None;
            }
            seen.push(*t);
            if let Some(g) = REPEATING_GROUPS.iter().find(|g| g.0 == *t) {
                group = Some(g.1);
                entry.clear();
            }
        }
        Some(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn field_split_matches_reference(
            fields in proptest::collection::vec(
                (proptest::prop_oneof![proptest::strategy::Just(std::string::String::from("35")), "[0-9]{1,4}", "[0-9]{7,10}", "[0-9=a]{0,3}"],
                 "[a-z0-9=]{0,12}"), 1..30)
        ) {
            let mut body = std::vec::Vec::new();
            for (t, v) in &fields {
                body.extend_from_slice(t.as_bytes());
                body.push(b'=');
                body.extend_from_slice(v.as_bytes());
                body.push(SOH);
            }
            let mut buf = [0u8; 1024];
            let n = wrap(&body, &mut buf);
            each_scan(|| {
                let ours = FixMessage::parse(&buf[..n]);
                match reference_fields(&body) {
                    Some(want) if want.len() <= MAX_FIELDS && want[0].0 == tag::MSG_TYPE => {
                        let m = ours.unwrap();
                        let got: std::vec::Vec<(u32, std::vec::Vec<u8>)> = m.fields().map(|(t, v)| (t, v.to_vec())).collect();
                        proptest::prop_assert_eq!(&got, &want);
                        for (t, v) in &want {
                            let first = want.iter().find(|f| f.0 == *t).unwrap();
                            proptest::prop_assert_eq!(m.get(*t), Some(&first.1[..]));
                            let _ = v;
                        }
                    }
                    _ => proptest::prop_assert!(ours.is_err()),
                }
                Ok(())
            })?;
        }
    }

    /// Both parsers on fresh views: when the fast pass accepts, the exact
    /// parser accepts too and fills an identical view; when the exact parser
    /// accepts a message whose tags all have at most 7 digits, so does the
    /// fast pass (it is not allowed to hand valid traffic to the slow path).
    fn check_fast_against_exact(bytes: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        let mut fast = FixMessage::empty();
        let fast_ok = fast.parse_fast(bytes, None).is_some();
        let mut exact = FixMessage::empty();
        let exact_r = exact.parse_exact(bytes, false);
        if fast_ok {
            proptest::prop_assert!(exact_r.is_ok(), "fast accepted, exact said {:?}", exact_r);
            proptest::prop_assert_eq!(fast.buf, exact.buf);
            proptest::prop_assert_eq!(fast.version, exact.version);
            proptest::prop_assert_eq!(fast.body_start, exact.body_start);
            proptest::prop_assert_eq!(fast.count, exact.count);
            proptest::prop_assert_eq!(fast.large_tags, exact.large_tags);
            let n = fast.count as usize;
            proptest::prop_assert_eq!(&fast.fields[..=n], &exact.fields[..=n]);
            proptest::prop_assert_eq!(&fast.direct[..], &exact.direct[..]);
        } else if exact_r.is_ok() {
            // Tags of 8 or 9 digits, and data fields (rare), are left to
            // the exact parser.
            let long_tag = exact
                .fields()
                .any(|(t, _)| t >= 10_000_000 || is_data_or_length(t));
            proptest::prop_assert!(long_tag, "valid message left to the slow path");
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn fast_pass_agrees_with_exact_parser(
            fields in proptest::collection::vec(
                (proptest::prop_oneof![
                    3 => proptest::strategy::Just(std::string::String::from("35")),
                    6 => "[1-9][0-9]{0,2}",
                    2 => "[0-9]{1,10}",
                    1 => "[0-9=a\x01]{0,3}",
                 ],
                 proptest::prop_oneof![
                    8 => "[a-z0-9=.:-]{0,14}",
                    1 => "[\\x00-\\x02=\\x7f-\\xff]{0,12}",
                    1 => "\\PC{0,20}",
                 ]), 1..40),
            // 0: as built; 1: BodyLength off by ±1; 2: CheckSum off by one;
            // 3: one byte replaced; 4: version byte; 5: cut short
            corruption in 0u8..6,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            byte in proptest::prelude::any::<u8>(),
        ) {
            let mut body = std::vec::Vec::new();
            for (t, v) in &fields {
                body.extend_from_slice(t.as_bytes());
                body.push(b'=');
                body.extend_from_slice(v.as_bytes());
                body.push(SOH);
            }
            let mut buf = std::vec![0u8; body.len() + 64];
            let n = wrap(&body, &mut buf);
            let mut msg = buf[..n].to_vec();
            match corruption {
                1 => {
                    let mut buf2 = std::vec![0u8; body.len() + 64];
                    let extra = if byte % 2 == 0 { &b"x\x01"[..] } else { &b""[..] };
                    let mut b2 = body.clone();
                    b2.extend_from_slice(extra);
                    let n2 = wrap(&b2, &mut buf2);
                    // the envelope of one body around another
                    let head_end = msg.iter().skip(10).position(|&b| b == SOH).unwrap() + 11;
                    let head2_end = buf2.iter().skip(10).position(|&b| b == SOH).unwrap() + 11;
                    msg = [&buf2[..head2_end], &msg[head_end..]].concat();
                    let _ = n2;
                }
                2 => {
                    let l = msg.len();
                    msg[l - 2] = if msg[l - 2] == b'9' { b'0' } else { msg[l - 2] + 1 };
                }
                3 => {
                    let i = at.index(msg.len());
                    msg[i] = byte;
                }
                4 => msg[8] = byte,
                5 => msg.truncate(at.index(msg.len())),
                _ => {}
            }
            each_scan(|| {
                check_fast_against_exact(&msg)?;
                // and through the public entry points
                let via_parse = FixMessage::parse(&msg).map(|m| m.fields().map(|(t, v)| (t, v.to_vec())).collect::<std::vec::Vec<_>>());
                let mut exact = FixMessage::empty();
                let via_exact = exact.parse_exact(&msg, false).map(|()| exact.fields().map(|(t, v)| (t, v.to_vec())).collect::<std::vec::Vec<_>>());
                proptest::prop_assert_eq!(via_parse, via_exact);
                Ok(())
            })?;
        }

        /// The vector scans (intrinsics and assembly) find exactly the SOHs
        /// the word scan finds (no false flags there, and none here that a
        /// later check would not refuse: compared on bodies whose 0x00
        /// bytes never follow an SOH), and the same byte sum.
        #[cfg(target_arch = "x86_64")]
        #[test]
        fn vector_scan_matches_word_scan(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
        ) {
            // About one SOH in six, some 0x00 bytes, the rest anything.
            let mut body: std::vec::Vec<u8> = bytes
                .iter()
                .map(|&b| match b {
                    0..=41 => SOH,
                    42..=51 => 0,
                    b => b,
                })
                .collect();
            for i in 1..body.len() {
                if body[i] == 0 && body[i - 1] == SOH {
                    body[i] = b'x';
                }
            }
            body.push(SOH);
            let mut buf = b"8=FIX.4.4\x019=000\x01".to_vec();
            let body_start = buf.len();
            buf.extend_from_slice(&body);
            let body_end = buf.len();
            buf.extend_from_slice(b"10=000\x01");
            let mut words = [0u16; MAX_FIELDS + 1];
            let mut vector = [0u16; MAX_FIELDS + 1];
            let (mut seen_w, mut seen_v) = (std::vec::Vec::new(), std::vec::Vec::new());
            let w = scan_body_words(&mut words, &buf, body_start, body_end, &mut |n, at| seen_w.push((n, at)));
            let v = scan_body_asm(&mut vector, &buf, body_start, body_end, &mut |n, at| seen_v.push((n, at)));
            proptest::prop_assert_eq!(&seen_w, &seen_v);
            proptest::prop_assert_eq!(w.map(|(n, sum)| (n, sum as u8)), v.map(|(n, sum)| (n, sum as u8)));
            if let Some((n, _)) = w {
                proptest::prop_assert_eq!(&words[..=n], &vector[..=n]);
            }
            #[cfg(target_feature = "sse2")]
            {
                let mut vector = [0u16; MAX_FIELDS + 1];
                seen_v.clear();
                let v = scan_body_sse2(&mut vector, &buf, body_start, body_end, &mut |n, at| seen_v.push((n, at)));
                proptest::prop_assert_eq!(&seen_w, &seen_v);
                proptest::prop_assert_eq!(w.map(|(n, sum)| (n, sum as u8)), v.map(|(n, sum)| (n, sum as u8)));
                if let Some((n, _)) = w {
                    proptest::prop_assert_eq!(&words[..=n], &vector[..=n]);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_after_a_valid_prefix(tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64)) {
            let mut msg = b"8=FIX.4.4\x019=".to_vec();
            msg.extend_from_slice(&tail);
            each_scan(|| check_fast_against_exact(&msg))?;
        }
    }

    fn naive_digits(bytes: &[u8]) -> Option<u64> {
        if bytes.is_empty() || bytes.len() > 8 {
            return None;
        }
        let mut v = 0u64;
        for &b in bytes {
            if !b.is_ascii_digit() {
                return None;
            }
            v = v * 10 + (b - b'0') as u64;
        }
        Some(v)
    }

    fn interesting_byte() -> impl proptest::strategy::Strategy<Value = u8> {
        proptest::prop_oneof![
            4 => b'0'..=b'9',
            1 => proptest::strategy::Just(b'='),
            1 => proptest::strategy::Just(SOH),
            1 => proptest::strategy::Just(0u8),
            1 => proptest::strategy::Just(b'0'),
            1 => proptest::strategy::Just(b'<'),
            1 => proptest::strategy::Just(b'/'),
            1 => proptest::strategy::Just(b':'),
            1 => 0xF0u8..=0xFF,
            1 => proptest::prelude::any::<u8>(),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        #[test]
        fn zero_byte_flags_match_naive(bytes in proptest::array::uniform8(interesting_byte()), pat in proptest::prop_oneof![proptest::strategy::Just(SOH), proptest::strategy::Just(b'='), proptest::prelude::any::<u8>()]) {
            let flags = low_zero_byte(u64::from_le_bytes(bytes) ^ (ONES * pat as u64));
            let flagged = |k: usize| flags & (0x80u64 << (8 * k)) != 0;
            proptest::prop_assert_eq!(flags & !HIGHS, 0);
            for k in 0..8 {
                // every match is flagged; any other flag is the byte `pat ^ 1`
                // right above a flagged byte
                if bytes[k] == pat {
                    proptest::prop_assert!(flagged(k));
                } else if flagged(k) {
                    proptest::prop_assert!(k > 0 && flagged(k - 1) && bytes[k] == pat ^ 1, "{:?} {}", bytes, k);
                }
            }
            proptest::prop_assert_eq!(first_byte(flags), bytes.iter().position(|&b| b == pat));
        }

        #[test]
        fn digits_word_matches_naive(bytes in proptest::array::uniform8(interesting_byte()), len in 0usize..10) {
            let w = u64::from_le_bytes(bytes);
            let want = if len <= 8 { naive_digits(&bytes[..len]) } else { None };
            proptest::prop_assert_eq!(digits_word(w, len), want);
        }

        #[test]
        fn short_tag_and_number_match_naive(bytes in proptest::array::uniform4(interesting_byte()), term in proptest::prop_oneof![proptest::strategy::Just(b'='), proptest::strategy::Just(SOH)]) {
            let w = u32::from_le_bytes(bytes);
            // 1..=3 digits, the first not '0', then `term`
            let want = bytes.iter().position(|&b| !b.is_ascii_digit()).and_then(|k| {
                if k == 0 || bytes[0] == b'0' || bytes[k] != term {
                    return None;
                }
                Some((naive_digits(&bytes[..k])? as u32, k as u32))
            });
            proptest::prop_assert_eq!(short_number(w, term), want);
            if term == b'=' {
                proptest::prop_assert_eq!(short_tag(w), want);
            }
        }

        #[test]
        fn get_uint_matches_parse_uint(value in proptest::collection::vec(proptest::prop_oneof![8 => b'0'..=b'9', 1 => b'a'..=b'z', 1 => proptest::strategy::Just(b'=')], 1..21), seq in "[0-9]{1,12}") {
            let mut body = b"35=0\x0134=".to_vec();
            body.extend_from_slice(seq.as_bytes());
            body.extend_from_slice(b"\x01380=");
            body.extend_from_slice(&value);
            body.push(SOH);
            let mut buf = [0u8; 128];
            let n = wrap(&body, &mut buf);
            let m = FixMessage::parse(&buf[..n]).unwrap();
            proptest::prop_assert_eq!(m.get_uint(380), parse_uint(&value).map(Some).ok_or(FixError::InvalidValue(380)));
            proptest::prop_assert_eq!(m.seq_num(), parse_uint(seq.as_bytes()));
        }

        #[test]
        fn three_digits_matches_naive(bytes in proptest::array::uniform4(interesting_byte())) {
            let want = naive_digits(&bytes[..3]).map(|v| v as u32);
            proptest::prop_assert_eq!(three_digits(u32::from_le_bytes(bytes)), want);
        }

        #[test]
        fn byte_sum_matches_naive_mod_256(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..5000)) {
            let plain = bytes.iter().fold(0u32, |a, &b| a.wrapping_add(b as u32));
            proptest::prop_assert_eq!(byte_sum(&bytes) as u8, plain as u8);
        }

        #[test]
        fn word_sum_and_low_bytes_match_naive(bytes in proptest::prelude::any::<[u8; 8]>(), k in 0usize..=8) {
            let w = u64::from_le_bytes(bytes);
            let want: u32 = bytes[..k].iter().map(|&b| b as u32).sum();
            proptest::prop_assert_eq!(word_sum(w & low_bytes(k)), want);
            proptest::prop_assert_eq!(load_word(&bytes, 0), Some(w));
            proptest::prop_assert_eq!(load_word(&bytes, 1), None);
        }
    }

    #[test]
    fn long_high_byte_messages_checksum_across_lane_folds() {
        // Values of 0xFF bytes make the 16-bit checksum lanes fold many
        // times; a message near the size limit must still validate, and a
        // checksum off by one must still be caught.
        for fill in [0xFFu8, 0x80, b'z'] {
            for size in [9usize, 700, 1500, 4000, MAX_MESSAGE_LEN - 64] {
                let mut body = b"35=0\x0158=".to_vec();
                body.resize(size, fill);
                body.push(SOH);
                let mut buf = std::vec![0u8; body.len() + 64];
                let n = wrap(&body, &mut buf);
                let msg = &mut buf[..n];
                if msg.len() > MAX_MESSAGE_LEN {
                    assert_eq!(FixMessage::parse(msg).err(), Some(FixError::BadBodyLength));
                    continue;
                }
                each_scan(|| {
                    let m = FixMessage::parse(msg).unwrap();
                    assert_eq!(m.get(58).map(|v| v.len()), Some(size - 8));
                    check_fast_against_exact(msg)
                })
                .unwrap();
                let l = msg.len();
                msg[l - 2] = if msg[l - 2] == b'9' {
                    b'0'
                } else {
                    msg[l - 2] + 1
                };
                for &scan in SCANS {
                    assert_eq!(
                        with_scan(scan, || FixMessage::parse(msg).err()),
                        Some(FixError::BadChecksum),
                        "{scan:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn large_and_long_tags() {
        let mut buf = [0u8; 256];
        let n = wrap(
            b"35=0\x015000=a\x01123456789=b\x0112345678=c\x015064=d\x015192=e\x01255=f\x01256=g\x01",
            &mut buf,
        );
        let m = FixMessage::parse(&buf[..n]).unwrap();
        assert_eq!(m.get(5000), Some(&b"a"[..]));
        assert_eq!(m.get(123_456_789), Some(&b"b"[..]));
        assert_eq!(m.get(12_345_678), Some(&b"c"[..]));
        assert_eq!(m.get(5064), Some(&b"d"[..]), "same presence bit as 5000");
        assert_eq!(m.get(255), Some(&b"f"[..]));
        assert_eq!(m.get(256), Some(&b"g"[..]));
        assert_eq!(m.get(5128), None, "presence bit set, tag absent");
        assert_eq!(m.get(5001), None);
        assert_eq!(m.get(u32::MAX), None);
        // a large tag repeated, with and without another of the same bit
        // between, and a long one: tags this codec does not read may
        // repeat (a group it has no dictionary for); the first is found
        for body in [
            &b"35=0\x015000=a\x015000=e\x01"[..],
            b"35=0\x015000=a\x015064=d\x015000=e\x01",
            b"35=0\x01123456789=b\x015000=a\x01123456789=c\x01",
        ] {
            let n = wrap(body, &mut buf);
            let m = FixMessage::parse(&buf[..n]).expect("repeats of unread tags pass");
            assert_eq!(m.get(5000), Some(&b"a"[..]));
            if body.starts_with(b"35=0\x0112") {
                assert_eq!(m.get(123_456_789), Some(&b"b"[..]));
            }
        }
        // a ten-digit tag is malformed
        let n = wrap(b"35=0\x011234567890=x\x01", &mut buf);
        assert_eq!(
            FixMessage::parse(&buf[..n]).err(),
            Some(FixError::MalformedField)
        );
    }

    #[test]
    fn reused_view_forgets_the_previous_message() {
        let mut a = [0u8; 256];
        let mut b = [0u8; 256];
        let na = wrap(b"35=0\x0158=first\x015000=x\x01", &mut a);
        let nb = wrap(b"35=1\x01112=id\x01", &mut b);
        let mut view = FixMessage::empty();
        view.reparse(&a[..na]).unwrap();
        assert_eq!(view.get(58), Some(&b"first"[..]));
        view.reparse(&b[..nb]).unwrap();
        assert_eq!(view.get(58), None);
        assert_eq!(view.get(5000), None);
        assert_eq!(view.get(112), Some(&b"id"[..]));
        assert_eq!(
            view.reparse(&a[..na - 1]).err(),
            Some(FixError::BadBodyLength)
        );
        assert_eq!(view.get(112), None);
        assert_eq!(view.field_count(), 0);
    }

    #[test]
    fn price_parsing() {
        let cases: &[(&[u8], Option<i64>)] = &[
            (b"12.34", Some(123_400)),
            (b"12", Some(120_000)),
            (b"0.0001", Some(1)),
            (b".5", Some(5_000)),
            (b"-1.5", Some(-15_000)),
            (b"1.23450", Some(12_345)),
            (b"1.23456", None),
            (b"1.2.3", None),
            (b"", None),
            (b".", None),
            (b"abc", None),
            (b"99999999999999999", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_price(text).map(|p| p.0), *want, "{text:?}");
        }
    }

    /// The byte-at-a-time timestamp parser this module used to have.
    fn reference_timestamp(v: &[u8]) -> Option<UtcTime> {
        if v.len() < 17 || v[8] != b'-' || v[11] != b':' || v[14] != b':' {
            return None;
        }
        let year = digits_n(&v[0..4])?;
        let month = digits_n(&v[4..6])?;
        let day = digits_n(&v[6..8])?;
        let hour = digits_n(&v[9..11])?;
        let min = digits_n(&v[12..14])?;
        let sec = digits_n(&v[15..17])?;
        // Real calendar days only (no 31 February).
        let month_days = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
        let last_day = match month {
            2 if leap => 29,
            1..=12 => month_days[month as usize - 1],
            _ => 0,
        };
        if !(1970..=2500).contains(&year)
            || !(1..=12).contains(&month)
            || !(1..=last_day).contains(&day)
            || hour > 23
            || min > 59
            || sec > 60
        {
            return None;
        }
        let frac_ns = match &v[17..] {
            [] => 0,
            [b'.', f @ ..] if matches!(f.len(), 3 | 6 | 9) => {
                let raw = digits_n(f)? as u64;
                raw * 10u64.pow(9 - f.len() as u32)
            }
            _ => return None,
        };
        let days = days_from_civil(year as i64, month, day);
        let secs = days as u64 * 86_400 + hour as u64 * 3600 + min as u64 * 60 + sec as u64;
        Some(UtcTime(secs * UtcTime::NANOS_PER_SEC + frac_ns))
    }

    #[test]
    fn impossible_dates_are_refused() {
        for bad in [
            &b"20230231-12:00:00"[..],
            b"20230431-12:00:00",
            b"20230229-00:00:00",
            b"21000229-00:00:00",
        ] {
            assert_eq!(
                parse_timestamp(bad),
                None,
                "{}",
                core::str::from_utf8(bad).unwrap_or("?")
            );
        }
        for good in [
            &b"20240229-00:00:00"[..],
            b"20000229-23:59:59",
            b"20231231-23:59:60",
        ] {
            assert!(
                parse_timestamp(good).is_some(),
                "{}",
                core::str::from_utf8(good).unwrap_or("?")
            );
        }
    }

    #[test]
    fn venue_prices_round_to_price4_and_ours_stay_exact() {
        assert_eq!(
            parse_price(b"10.166667"),
            None,
            "our own prices: no rounding"
        );
        assert_eq!(parse_price_rounded(b"10.166667"), Some(Price(10_1667)));
        assert_eq!(parse_price_rounded(b"10.16664"), Some(Price(10_1666)));
        assert_eq!(parse_price_rounded(b"-10.16665"), Some(Price(-10_1667)));
        assert_eq!(parse_price_rounded(b"0.99995"), Some(Price(1_0000)));
        assert_eq!(parse_price_rounded(b"12.5"), Some(Price(12_5000)));
        assert_eq!(parse_price_rounded(b"1.2x"), None);
        // i64::MIN as the encoder writes it reads back.
        assert_eq!(parse_price(b"-922337203685477.5808"), Some(Price(i64::MIN)));
        assert_eq!(parse_price(b"-922337203685477.5809"), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5000))]
        #[test]
        fn timestamp_parser_matches_reference(
            base in 0u64..(16_700_000_000u64 * 1_000_000),
            frac in 0usize..4,
            edits in proptest::collection::vec((0usize..30, proptest::prop_oneof![b'0'..=b'9', proptest::strategy::Just(b':'), proptest::strategy::Just(b'-'), proptest::strategy::Just(b'.'), proptest::prelude::any::<u8>()]), 0..3),
            cut in 0usize..32,
        ) {
            let mut out = [0u8; 24];
            let n = crate::fix::encode::format_timestamp(UtcTime(base * 1000), crate::fix::encode::TimestampPrecision::Micros, &mut out);
            let mut v = out[..n].to_vec();
            match frac {
                0 => v.truncate(17),
                1 => v.truncate(21),
                2 => {}
                _ => v.extend_from_slice(b"789"),
            }
            for (at, b) in edits {
                if let Some(slot) = v.get_mut(at) {
                    *slot = b;
                }
            }
            if cut < v.len() && cut % 3 == 0 {
                v.truncate(cut);
            }
            proptest::prop_assert_eq!(parse_timestamp(&v), reference_timestamp(&v));
        }
    }

    #[test]
    fn timestamp_parsing() {
        assert_eq!(parse_timestamp(b"19700101-00:00:00"), Some(UtcTime(0)));
        assert_eq!(
            parse_timestamp(b"20231114-22:13:20.123"),
            Some(UtcTime(1_700_000_000_123_000_000))
        );
        assert_eq!(
            parse_timestamp(b"20231114-22:13:20.123456"),
            Some(UtcTime(1_700_000_000_123_456_000))
        );
        assert_eq!(
            parse_timestamp(b"20000229-12:00:00"),
            Some(UtcTime::from_secs(951_825_600))
        );
        for bad in [
            &b"20231114 22:13:20"[..],
            b"20231314-22:13:20",
            b"20231114-22:13:20.12",
            b"2023",
        ] {
            assert_eq!(parse_timestamp(bad), None);
        }
    }
}
