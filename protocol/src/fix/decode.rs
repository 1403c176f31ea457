//! Zero-copy validating decoder.
//!
//! [`FixMessage::parse`] makes one pass over the fields, recording each
//! field's tag and value range in a fixed array and the first occurrence of
//! each tag in a small open-addressing hash index, so `get(tag)` is a hash
//! probe rather than a scan. Nothing is allocated; the view borrows the input.

use super::{tag, FixError, FixVersion, UtcTime, MAX_MESSAGE_LEN, SOH};
use types::Price;

/// Most fields one message may carry (header and trailer included).
pub const MAX_FIELDS: usize = 96;
const INDEX_SLOTS: usize = 256;
const EMPTY: u8 = 0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Field {
    tag: u32,
    start: u16,
    end: u16,
}

/// A validated FIX message borrowed from a byte slice.
#[derive(Clone)]
pub struct FixMessage<'a> {
    buf: &'a [u8],
    version: FixVersion,
    body_start: u16,
    count: u8,
    fields: [Field; MAX_FIELDS],
    /// `index[h] == i + 1` when `fields[i]` is the first field with its tag.
    index: [u8; INDEX_SLOTS],
}

#[inline(always)]
fn slot_of(tag: u32) -> usize {
    (tag.wrapping_mul(0x9E37_79B1) >> 24) as usize
}

impl<'a> FixMessage<'a> {
    /// Validates the envelope (BeginString, exact BodyLength, CheckSum),
    /// field syntax and that MsgType(35) is the first body field. Does not
    /// require the standard header fields; see [`FixMessage::new_checked`].
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        // A fresh view needs no clearing (and on error it is dropped).
        let mut msg = FixMessage::empty();
        msg.reparse_inner(buf)?;
        Ok(msg)
    }

    /// An empty view (no fields) to be filled by [`FixMessage::reparse`].
    pub const fn empty() -> FixMessage<'static> {
        FixMessage {
            buf: &[],
            version: FixVersion::Fix44,
            body_start: 0,
            count: 0,
            fields: [Field {
                tag: 0,
                start: 0,
                end: 0,
            }; MAX_FIELDS],
            index: [EMPTY; INDEX_SLOTS],
        }
    }

    /// [`FixMessage::parse`] into an existing view, so a hot loop can keep
    /// one view and avoid moving ~1 KiB per message. On error the view is
    /// left empty (every lookup answers `None`).
    pub fn reparse(&mut self, buf: &'a [u8]) -> Result<(), FixError> {
        self.buf = &[];
        self.count = 0;
        self.index = [EMPTY; INDEX_SLOTS];
        let r = self.reparse_inner(buf);
        if r.is_err() {
            self.buf = &[];
            self.count = 0;
            self.index = [EMPTY; INDEX_SLOTS];
        }
        r
    }

    #[inline(always)]
    fn reparse_inner(&mut self, buf: &'a [u8]) -> Result<(), FixError> {
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

        let msg = self;
        msg.buf = buf;
        msg.version = version;
        msg.body_start = body_start as u16;
        let mut pos = body_start;
        let mut n = 0usize;
        while pos < body_end {
            // tag: 1..=9 digits, no leading zero, then '='
            let tag_start = pos;
            let (t, eq) = read_tag(&buf[..body_end], pos).ok_or(FixError::MalformedField)?;
            if eq == tag_start || t == 0 || buf[tag_start] == b'0' {
                return Err(FixError::MalformedField);
            }
            pos = eq + 1;
            let v_start = pos;
            let v_end = find_soh(&buf[..body_end], v_start).ok_or(FixError::MalformedField)?;
            if v_end == v_start {
                return Err(FixError::MalformedField);
            }
            if n == MAX_FIELDS {
                return Err(FixError::TooManyFields);
            }
            if n == 0 && t != tag::MSG_TYPE {
                return Err(FixError::MissingMsgType);
            }
            msg.fields[n] = Field {
                tag: t,
                start: v_start as u16,
                end: v_end as u16,
            };
            msg.insert_index(t, n);
            n += 1;
            pos = v_end + 1;
        }
        if n == 0 {
            return Err(FixError::MissingMsgType);
        }
        msg.count = n as u8;
        Ok(())
    }

    /// [`FixMessage::parse`] plus the standard header: SenderCompID(49),
    /// TargetCompID(56), MsgSeqNum(34, a positive integer) and SendingTime(52).
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<FixMessage<'a>, FixError> {
        let mut msg = FixMessage::empty();
        msg.reparse_inner(buf)?;
        msg.check_header()?;
        Ok(msg)
    }

    /// Checks the standard header fields after [`FixMessage::parse`].
    pub fn check_header(&self) -> Result<(), FixError> {
        for t in [
            tag::SENDER_COMP_ID,
            tag::TARGET_COMP_ID,
            tag::MSG_SEQ_NUM,
            tag::SENDING_TIME,
        ] {
            if self.get(t).is_none() {
                return Err(FixError::MissingField(t));
            }
        }
        match self.seq_num() {
            Some(s) if s > 0 => Ok(()),
            _ => Err(FixError::InvalidValue(tag::MSG_SEQ_NUM)),
        }
    }

    #[inline(always)]
    fn insert_index(&mut self, t: u32, i: usize) {
        let mut s = slot_of(t);
        loop {
            let e = self.index[s];
            if e == EMPTY {
                self.index[s] = (i + 1) as u8;
                return;
            }
            if self.fields[e as usize - 1].tag == t {
                return; // keep the first occurrence
            }
            s = (s + 1) % INDEX_SLOTS;
        }
    }

    /// Position in field order of the first field with `t`.
    fn position_of(&self, t: u32) -> Option<usize> {
        let mut s = slot_of(t);
        loop {
            let e = self.index[s];
            if e == EMPTY {
                return None;
            }
            let i = e as usize - 1;
            if self.fields[i].tag == t {
                return Some(i);
            }
            s = (s + 1) % INDEX_SLOTS;
        }
    }

    fn value_at(&self, i: usize) -> &'a [u8] {
        let f = self.fields[i];
        self.buf
            .get(f.start as usize..f.end as usize)
            .unwrap_or(&[])
    }

    /// The whole message as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }

    pub fn version(&self) -> FixVersion {
        self.version
    }

    pub fn msg_type(&self) -> &'a [u8] {
        self.value_at(0)
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
        self.position_of(t).map(|i| self.value_at(i))
    }

    /// Fields in wire order as `(tag, value)`.
    pub fn fields(&self) -> impl Iterator<Item = (u32, &'a [u8])> + '_ {
        (0..self.count as usize).map(move |i| (self.fields[i].tag, self.value_at(i)))
    }

    /// An unsigned integer field: `Ok(None)` when absent.
    pub fn get_uint(&self, t: u32) -> Result<Option<u64>, FixError> {
        match self.get(t) {
            None => Ok(None),
            Some(v) => parse_uint(v).map(Some).ok_or(FixError::InvalidValue(t)),
        }
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
    pub fn seq_num(&self) -> Option<u64> {
        self.get(tag::MSG_SEQ_NUM).and_then(parse_uint)
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
    /// (0 is valid). An absent count field is an empty group.
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
        while i < n && self.fields[i].tag == delimiter {
            seen += 1;
            i += 1;
            while i < n && self.fields[i].tag != delimiter && members.contains(&self.fields[i].tag)
            {
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
            while i < end && msg.fields[i].tag != delimiter {
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
            .find(|&i| self.msg.fields[i].tag == t)
            .map(|i| self.msg.value_at(i))
    }
}

/// Position of the first SOH in `hay[from..]`, scanning eight bytes at a
/// time (values are short, but a word compare still beats a byte loop).
#[inline(always)]
fn find_soh(hay: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while let Some(chunk) = hay.get(i..i + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        // XOR with SOH turns SOH bytes into zero bytes; the classic
        // "has zero byte" test then flags them. Bits above the first true
        // zero may be false positives, so only the lowest flag is used.
        let x = u64::from_le_bytes(word) ^ ONES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    hay.get(i..)?.iter().position(|&b| b == SOH).map(|p| i + p)
}

/// Reads a tag starting at `from`: returns its value and the position of
/// the `=` that ends it. Short tags (up to 7 digits, i.e. all real ones) are
/// read from one 8-byte word; longer ones fall back to a byte loop.
#[inline(always)]
fn read_tag(hay: &[u8], from: usize) -> Option<(u32, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const EQ: u64 = 0x3D3D_3D3D_3D3D_3D3D;
    if let Some(Ok(word)) = hay.get(from..from + 8).map(<[u8; 8]>::try_from) {
        let w = u64::from_le_bytes(word);
        let x = w ^ EQ;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            let len = (found.trailing_zeros() / 8) as usize;
            let mut t: u32 = 0;
            for k in 0..len {
                let d = ((w >> (8 * k)) as u8).wrapping_sub(b'0');
                if d > 9 {
                    return None;
                }
                t = t * 10 + d as u32;
            }
            return Some((t, from + len));
        }
    }
    let mut t: u32 = 0;
    let mut pos = from;
    loop {
        let b = *hay.get(pos)?;
        if b == b'=' {
            return Some((t, pos));
        }
        let d = b.wrapping_sub(b'0');
        if d > 9 || pos - from >= 9 {
            return None;
        }
        t = t * 10 + d as u32;
        pos += 1;
    }
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
    let mut frac = 0i64;
    for (i, &b) in frac_part.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        if i < 4 {
            frac = frac * 10 + d as i64;
        } else if d != 0 {
            return None;
        }
    }
    for _ in frac_part.len()..4 {
        frac *= 10;
    }
    let units = i64::try_from(int).ok()?.checked_mul(Price::SCALE)?;
    let raw = units.checked_add(frac)?;
    Some(Price(if neg { -raw } else { raw }))
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

/// Parses `YYYYMMDD-HH:MM:SS[.sss|.ssssss|.sssssssss]` (UTC).
pub fn parse_timestamp(v: &[u8]) -> Option<UtcTime> {
    if v.len() < 17 || v[8] != b'-' || v[11] != b':' || v[14] != b':' {
        return None;
    }
    let year = digits_n(&v[0..4])?;
    let month = digits_n(&v[4..6])?;
    let day = digits_n(&v[6..8])?;
    let hour = digits_n(&v[9..11])?;
    let min = digits_n(&v[12..14])?;
    let sec = digits_n(&v[15..17])?;
    if !(1970..=2500).contains(&year)
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
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

    #[test]
    fn too_many_fields() {
        let mut body = [0u8; 1024];
        let mut n = 0;
        body[..5].copy_from_slice(b"35=0\x01");
        n += 5;
        for _ in 0..MAX_FIELDS {
            body[n..n + 5].copy_from_slice(b"58=x\x01");
            n += 5;
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
        Some(out)
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn field_split_matches_reference(
            fields in proptest::collection::vec(
                (proptest::prop_oneof![proptest::strategy::Just(std::string::String::from("35")), "[0-9]{1,4}", "[0-9=a]{0,3}"],
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
        }
    }

    proptest::proptest! {
        #[test]
        fn read_tag_matches_naive(hay in proptest::collection::vec(proptest::prop_oneof![0x30u8..0x3a, proptest::strategy::Just(b'='), proptest::strategy::Just(1u8), proptest::strategy::Just(b'a')], 0..16), from in 0usize..18) {
            let naive = (|| {
                let mut t: u32 = 0;
                let mut pos = from;
                loop {
                    let b = *hay.get(pos)?;
                    if b == b'=' { return Some((t, pos)); }
                    let d = b.wrapping_sub(b'0');
                    if d > 9 || pos - from >= 9 { return None; }
                    t = t * 10 + d as u32;
                    pos += 1;
                }
            })();
            proptest::prop_assert_eq!(read_tag(&hay, from), naive);
        }

        #[test]
        fn find_soh_matches_naive(hay in proptest::collection::vec(0u8..4, 0..40), from in 0usize..45) {
            let naive = hay.get(from..).and_then(|h| h.iter().position(|&b| b == SOH)).map(|p| p + from);
            proptest::prop_assert_eq!(find_soh(&hay, from), naive);
        }
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
