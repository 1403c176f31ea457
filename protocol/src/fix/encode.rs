//! Encoding into a caller buffer.
//!
//! A [`HeaderTemplate`] is built once per session with the BeginString and
//! CompIDs already rendered. [`HeaderTemplate::begin`] leaves room at the
//! front of the buffer for `8=…<SOH>9=<len><SOH>`, writes the rest of the
//! header, and returns a [`MsgBuilder`] for the body fields. `finish` then
//! writes BodyLength right-aligned against the body (so the message starts a
//! few bytes into the buffer and nothing is moved) and appends CheckSum.
//!
//! The CheckSum is kept as a running byte sum while fields are written
//! (from the values and the digits as they are produced, with the template's
//! constant parts summed once), not by reading the message back: a wide read
//! of bytes just written a few at a time stalls on store forwarding.
//!
//! Fields go in as whole words where the buffer has room past them: `tag=`
//! as one constant word, a number's digits as one word from a branch-free
//! split into digit lanes (multiplies and shifts, no division loop), short
//! strings as two overlapping loads and stores, and a field is then
//! advanced past by its real length (the next field or the trailer covers
//! the bytes written beyond it). Without that room (a tight buffer, a tag
//! of four digits or more, a number past 10^8) a field is written byte by
//! byte as before. Timestamps are formatted once per distinct value and
//! kept whole in the template: TransactTime is usually SendingTime, and
//! the next message usually only changes the sub-second digits.

use super::{decode::checksum, tag, FixError, FixVersion, UtcTime, SOH};
use types::Price;

/// Longest CompID the template accepts.
pub const MAX_COMP_ID_LEN: usize = 32;
const MAX_BEGIN_LEN: usize = 12; // "8=FIX.4.4" SOH "9="
const MAX_BODY_LEN_DIGITS: usize = 5;
/// Bytes reserved at the front of the buffer for BeginString and BodyLength.
pub const PREFIX_RESERVE: usize = MAX_BEGIN_LEN + MAX_BODY_LEN_DIGITS + 1;
const TRAILER_LEN: usize = 7;
/// Room for the CompID block `<SOH>49=…<SOH>56=…<SOH>34=`, in whole words.
const COMP_CAP: usize = (2 * MAX_COMP_ID_LEN + 12).div_ceil(8) * 8;
/// Sum of the constant bytes `begin` writes: "35=", SOH "52=" and the SOH
/// after SendingTime.
const BEGIN_FRAME: u32 =
    (b'3' + b'5' + b'=') as u32 + (SOH + b'5' + b'2' + b'=') as u32 + SOH as u32;

/// Fractional digits of UTCTimestamp fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampPrecision {
    #[default]
    Millis,
    Micros,
}

const DIGIT_PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

const ONES: u64 = 0x0101_0101_0101_0101;
/// ASCII '0' in every byte.
const ZEROS: u64 = ONES * b'0' as u64;

/// The decimal digits of `v` (< 10^8), zero-padded to eight, as values
/// 0..=9 in the bytes of a little-endian word, most significant first
/// (byte 0): the halves, the pairs and the digits are split in parallel
/// lanes, a multiply and a shift standing for each division.
#[inline(always)]
fn digits8(v: u32) -> u64 {
    let x = (v / 10_000) as u64 | ((v % 10_000) as u64) << 32;
    // Two 32-bit lanes below 10^4: x / 100 is (x * 10486) >> 20 there,
    // and the products stay in their lanes.
    let q = ((x * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let y = q | (x - q * 100) << 16;
    // Four 16-bit lanes below 100: y / 10 is (y * 103) >> 10.
    let q = ((y * 103) >> 10) & 0x000F_000F_000F_000F;
    q | (y - q * 10) << 8
}

/// [`digits8`] for `v` < 10^4, in the four bytes of a `u32`.
#[inline(always)]
fn digits4(v: u32) -> u32 {
    let q = (v * 10_486) >> 20;
    let y = q | (v - q * 100) << 16;
    let q = ((y * 103) >> 10) & 0x000F_000F;
    q | (y - q * 10) << 8
}

/// The number of decimal digits of `v` (< 10^8), by compares. Lengths
/// decide where the following bytes are stored; taken from compares (or a
/// predicted branch) rather than from the digits computed below, those
/// store addresses do not wait on the multiplies.
#[inline(always)]
fn decimal_len(v: u32) -> usize {
    if v < 10_000 {
        1 + (v >= 10) as usize + (v >= 100) as usize + (v >= 1000) as usize
    } else {
        5 + (v >= 100_000) as usize + (v >= 1_000_000) as usize + (v >= 10_000_000) as usize
    }
}

/// 0..=999 in ASCII, without leading zeros, in bytes 0..=2, and the sum of
/// those digit bytes in byte 3: one load instead of a chain of multiplies
/// for the small numbers on the CheckSum's path (BodyLength, quantities,
/// prices, early sequence numbers).
static DEC3: [u32; 1000] = {
    let mut t = [0u32; 1000];
    let mut v = 0;
    while v < 1000 {
        let (h, d, u) = (
            b'0' as u32 + v / 100,
            b'0' as u32 + v / 10 % 10,
            b'0' as u32 + v % 10,
        );
        t[v as usize] = if v >= 100 {
            h | d << 8 | u << 16 | (h + d + u) << 24
        } else if v >= 10 {
            d | u << 8 | (d + u) << 24
        } else {
            u | u << 24
        };
        v += 1;
    }
    t
};

/// 0..=255 as three zero-padded ASCII digits: the CheckSum field.
static CHECKSUM_DIGITS: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut v = 0;
    while v < 256 {
        t[v as usize] = (b'0' as u32 + v / 100)
            | (b'0' as u32 + v / 10 % 10) << 8
            | (b'0' as u32 + v % 10) << 16;
        v += 1;
    }
    t
};

/// `v` (< 10^8) in ASCII: a word whose low `n` bytes are its `n` digits
/// (the bytes above them are not specified), `n`, and the sum of those
/// `n` bytes.
#[inline(always)]
fn ascii8(v: u32) -> (u64, usize, u32) {
    if let Some(&e) = DEC3.get(v as usize) {
        let n = 1 + (v >= 10) as usize + (v >= 100) as usize;
        return ((e & 0x00FF_FFFF) as u64, n, e >> 24);
    }
    let n = decimal_len(v);
    if v < 10_000 {
        // Most values (quantities, prices, sequence numbers, lengths):
        // half the work.
        let z = digits4(v);
        let sum = (z.wrapping_mul(0x0101_0101) >> 24) + b'0' as u32 * n as u32;
        return (((z >> (8 * (4 - n))) as u64) | ZEROS, n, sum);
    }
    let z = digits8(v);
    // The digits are at most 9 each: their sum gathers in the top byte.
    let sum = (z.wrapping_mul(ONES) >> 56) as u32 + b'0' as u32 * n as u32;
    ((z >> (8 * (8 - n))) | ZEROS, n, sum)
}

/// A tag below 1000 and its '=' as the low bytes of a word, and how many
/// bytes that is (constant for a constant tag).
#[inline(always)]
const fn tag_word(t: u32) -> (u32, usize) {
    const fn digit(d: u32) -> u32 {
        b'0' as u32 + d
    }
    let eq = b'=' as u32;
    if t < 10 {
        (digit(t) | (eq << 8), 2)
    } else if t < 100 {
        (digit(t / 10) | (digit(t % 10) << 8) | (eq << 16), 3)
    } else {
        (
            digit(t / 100) | (digit(t / 10 % 10) << 8) | (digit(t % 10) << 16) | (eq << 24),
            4,
        )
    }
}

/// Sum of the eight bytes of `w`.
#[inline(always)]
fn word_sum(w: u64) -> u32 {
    const LOW: u64 = 0x00FF_00FF_00FF_00FF;
    // Four 16-bit lanes of at most 510, gathered by one multiply.
    (((w & LOW) + ((w >> 8) & LOW)).wrapping_mul(0x0001_0001_0001_0001) >> 48) as u32
}

/// Non-zero when a byte of `w` is SOH (flags the lowest exactly, and may
/// flag a 0x00 byte right above an SOH: still non-zero).
#[inline(always)]
fn soh_flags(w: u64) -> u64 {
    let x = w ^ ONES;
    x.wrapping_sub(ONES) & !x & (ONES << 7)
}

/// `dst.copy_from_slice(src)` kept out of line, so that the compiler does
/// not merge it with a fixed-size copy next to it into one `memcpy` call.
#[cold]
#[inline(never)]
fn copy_cold(dst: &mut [u8], src: &[u8]) {
    dst.copy_from_slice(src);
}

/// Stores `w` at `out[at..at + 8]` when it fits there.
#[inline(always)]
fn store8(out: &mut [u8], at: usize, w: u64) {
    match out.get_mut(at..).and_then(|d| d.first_chunk_mut::<8>()) {
        Some(d) => *d = w.to_le_bytes(),
        // Every caller has checked the room first.
        None => debug_assert!(false, "store8 out of bounds"),
    }
}

/// Stores `w` at `out[at..at + 4]` when it fits there.
#[inline(always)]
fn store4(out: &mut [u8], at: usize, w: u32) {
    match out.get_mut(at..).and_then(|d| d.first_chunk_mut::<4>()) {
        Some(d) => *d = w.to_le_bytes(),
        None => debug_assert!(false, "store4 out of bounds"),
    }
}

#[inline(always)]
fn count_digits(v: u64) -> usize {
    let mut n = 1;
    let mut x = v;
    while x >= 10_000 {
        x /= 10_000;
        n += 4;
    }
    if x >= 1000 {
        n + 3
    } else if x >= 100 {
        n + 2
    } else if x >= 10 {
        n + 1
    } else {
        n
    }
}

/// Writes the decimal digits of `v` into exactly `out` (whose length must be
/// the digit count), last digit first, two at a time; returns the sum of the
/// bytes written.
#[inline(always)]
fn write_digits(out: &mut [u8], mut v: u64) -> u32 {
    let mut i = out.len();
    let mut sum = 0u32;
    while v >= 100 && i >= 2 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        out[i - 2] = DIGIT_PAIRS[pair];
        out[i - 1] = DIGIT_PAIRS[pair + 1];
        sum += DIGIT_PAIRS[pair] as u32 + DIGIT_PAIRS[pair + 1] as u32;
        i -= 2;
    }
    if v >= 10 && i >= 2 {
        let pair = v as usize * 2;
        out[i - 2] = DIGIT_PAIRS[pair];
        out[i - 1] = DIGIT_PAIRS[pair + 1];
        sum += DIGIT_PAIRS[pair] as u32 + DIGIT_PAIRS[pair + 1] as u32;
    } else if i >= 1 {
        out[i - 1] = b'0' + v as u8;
        sum += (b'0' + v as u8) as u32;
    }
    sum
}

/// Sum of `bytes` modulo 2^32 (only its low byte matters: the CheckSum),
/// eight bytes per step from the caller's memory.
#[inline(always)]
fn byte_sum(bytes: &[u8]) -> u32 {
    const LOW: u64 = 0x00FF_00FF_00FF_00FF;
    let mut total = 0u32;
    let mut lanes = 0u64;
    let mut chunks = bytes.chunks_exact(8);
    for (n, c) in (&mut chunks).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let w = u64::from_le_bytes(w);
        // Four 16-bit lanes, each gaining at most 510 per word: fold before
        // a lane could carry into the next.
        lanes += (w & LOW) + ((w >> 8) & LOW);
        if n % 64 == 63 {
            total = total.wrapping_add(fold_lanes(lanes));
            lanes = 0;
        }
    }
    total = total.wrapping_add(fold_lanes(lanes));
    for &b in chunks.remainder() {
        total = total.wrapping_add(b as u32);
    }
    total
}

/// Adds the four 16-bit lanes of `lanes`.
#[inline(always)]
fn fold_lanes(lanes: u64) -> u32 {
    ((lanes & 0xFFFF) + ((lanes >> 16) & 0xFFFF) + ((lanes >> 32) & 0xFFFF) + (lanes >> 48)) as u32
}

/// Sum of the bytes of `tag=` and the closing SOH for tag `t` (constant for
/// the constant tags at every call site, so it folds away).
#[inline(always)]
fn tag_frame_sum(t: u32) -> u32 {
    let mut sum = b'=' as u32 + SOH as u32;
    let mut x = t;
    loop {
        sum += b'0' as u32 + x % 10;
        x /= 10;
        if x == 0 {
            return sum;
        }
    }
}

/// Formats `v` right-aligned in `out`; returns the number of digits, which
/// occupy `out[20 - n..]`.
pub fn format_uint(v: u64, out: &mut [u8; 20]) -> usize {
    // Three zero-padded groups of 4, 8 and 8 digits, right-aligned; the
    // leading zeros are then left out of the count.
    let lo = (v % 100_000_000) as u32;
    let hi = v / 100_000_000;
    let top = (hi / 100_000_000) as u32; // < 10^4
    let mid = (hi % 100_000_000) as u32;
    let words = [digits4(top) as u64, digits8(mid), digits8(lo)];
    let [a, b, c] = words.map(|z| z | ZEROS);
    out[..4].copy_from_slice(&(a as u32).to_le_bytes());
    out[4..12].copy_from_slice(&b.to_le_bytes());
    out[12..].copy_from_slice(&c.to_le_bytes());
    count_digits(v)
}

#[inline(always)]
fn write_2(out: &mut [u8], v: u32) {
    let pair = (v % 100) as usize * 2;
    out[0] = DIGIT_PAIRS[pair];
    out[1] = DIGIT_PAIRS[pair + 1];
}

/// Civil date (year, month, day) of a day count since 1970-01-01.
pub const fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

/// Length of a formatted timestamp.
pub const fn timestamp_len(precision: TimestampPrecision) -> usize {
    match precision {
        TimestampPrecision::Millis => 21,
        TimestampPrecision::Micros => 24,
    }
}

/// Formats `t` as `YYYYMMDD-HH:MM:SS.sss` or `.ssssss` into `out`; returns
/// the length written. Years past 9999 are clamped to the last representable
/// second (they cannot come from a `u64` nanosecond clock anyway).
pub fn format_timestamp(t: UtcTime, precision: TimestampPrecision, out: &mut [u8; 24]) -> usize {
    let secs = t.0 / UtcTime::NANOS_PER_SEC;
    let nanos = (t.0 % UtcTime::NANOS_PER_SEC) as u32;
    let days = (secs / 86_400) as i64;
    let sod = (secs % 86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    let year = year.clamp(0, 9999) as u32;
    write_2(&mut out[0..2], year / 100);
    write_2(&mut out[2..4], year);
    write_2(&mut out[4..6], month);
    write_2(&mut out[6..8], day);
    out[8] = b'-';
    write_2(&mut out[9..11], sod / 3600);
    out[11] = b':';
    write_2(&mut out[12..14], sod / 60 % 60);
    out[14] = b':';
    write_2(&mut out[15..17], sod % 60);
    out[17] = b'.';
    match precision {
        TimestampPrecision::Millis => {
            let ms = nanos / 1_000_000;
            out[18] = b'0' + (ms / 100) as u8;
            write_2(&mut out[19..21], ms);
            21
        }
        TimestampPrecision::Micros => {
            let us = nanos / 1000;
            write_2(&mut out[18..20], us / 10_000);
            write_2(&mut out[20..22], us / 100);
            write_2(&mut out[22..24], us);
            24
        }
    }
}

/// Bytes of a `tag=value<SOH>` field.
#[inline(always)]
fn field_len(t: u32, value_len: usize) -> usize {
    let tn = if t < 10 {
        1
    } else if t < 100 {
        2
    } else if t < 1000 {
        3
    } else {
        count_digits(t as u64)
    };
    tn + 1 + value_len + 1
}

/// Copies `src` into `dst` (of the same length) and returns a byte sum of
/// `src` whose low byte is exact (all a CheckSum needs) and whether `src`
/// contains SOH, all from one set of loads. Short values are the norm
/// (ids, symbols, CompIDs): a few words, the last one overlapping, rather
/// than a `memcpy` call and two more passes.
#[inline(always)]
fn copy_scan(dst: &mut [u8], src: &[u8]) -> (u32, bool) {
    const LOW: u64 = 0x00FF_00FF_00FF_00FF;
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let n = src.len();
    if dst.len() != n || n > 2040 {
        // (Long values: 16-bit lanes could overflow below.)
        let _ = dst.get_mut(..n).map(|d| d.copy_from_slice(src));
        return (byte_sum(src), contains_soh(src));
    }
    // SOH bytes become zero bytes; any flag means "has an SOH" (a borrow can
    // only add flags above a real one).
    let soh_flags = |w: u64| (w ^ ONES).wrapping_sub(ONES) & !(w ^ ONES) & HIGHS;
    if n >= 8 {
        let mut even = 0u64;
        let mut all = 0u64;
        let mut soh = 0u64;
        let mut i = 0;
        while i + 8 <= n {
            let w = word_at(src, i);
            put_word(dst, i, w);
            even += w & LOW;
            all = all.wrapping_add(w);
            soh |= soh_flags(w);
            i += 8;
        }
        if i < n {
            // The last eight bytes, overlapping what is already copied:
            // only their top `n - i` bytes are new to the sum.
            let w = word_at(src, n - 8);
            put_word(dst, n - 8, w);
            let fresh = w >> (8 * (8 - (n - i)));
            even += fresh & LOW;
            all = all.wrapping_add(fresh);
            soh |= soh_flags(w);
        }
        // `all - even` is the odd byte columns a byte up; 256 words keep
        // every 16-bit lane below 65536.
        let sum = fold_lanes(even) + fold_lanes(all.wrapping_sub(even) >> 8);
        return (sum, soh != 0);
    }
    if n >= 4 {
        // First four and last four, overlapping.
        let a = word4_at(src, 0);
        let b = word4_at(src, n - 4);
        put_word4(dst, 0, a);
        put_word4(dst, n - 4, b);
        let w = a as u64 | ((b as u64) >> (8 * (8 - n))) << 32;
        let sum = fold_lanes((w & LOW) + ((w >> 8) & LOW));
        let soh = soh_flags(a as u64 | (b as u64) << 32) != 0;
        return (sum, soh);
    }
    let mut sum = 0u32;
    let mut soh = false;
    for (d, &b) in dst.iter_mut().zip(src) {
        *d = b;
        sum += b as u32;
        soh |= b == SOH;
    }
    (sum, soh)
}

#[inline(always)]
fn word_at(src: &[u8], i: usize) -> u64 {
    src.get(i..)
        .and_then(|s| s.first_chunk::<8>())
        .map_or(0, |b| u64::from_le_bytes(*b))
}

#[inline(always)]
fn word4_at(src: &[u8], i: usize) -> u32 {
    src.get(i..)
        .and_then(|s| s.first_chunk::<4>())
        .map_or(0, |b| u32::from_le_bytes(*b))
}

#[inline(always)]
fn put_word(dst: &mut [u8], i: usize, w: u64) {
    if let Some(d) = dst.get_mut(i..).and_then(|d| d.first_chunk_mut::<8>()) {
        *d = w.to_le_bytes();
    }
}

#[inline(always)]
fn put_word4(dst: &mut [u8], i: usize, w: u32) {
    if let Some(d) = dst.get_mut(i..).and_then(|d| d.first_chunk_mut::<4>()) {
        *d = w.to_le_bytes();
    }
}

/// True when `value` contains SOH; eight bytes per step.
#[inline(always)]
fn contains_soh(value: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut chunks = value.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ ONES;
        if x.wrapping_sub(ONES) & !x & HIGHS != 0 {
            return true;
        }
    }
    chunks.remainder().contains(&SOH)
}

/// Writes `tag=value<SOH>` fields into a buffer, remembering the first error
/// (buffer full, or a value that would break framing) instead of panicking.
pub struct FieldWriter<'b> {
    buf: &'b mut [u8],
    pos: usize,
    error: Option<FixError>,
    /// Sum of every byte written through this writer (plus what it was
    /// started with): the CheckSum without reading the message back.
    sum: u32,
}

impl<'b> FieldWriter<'b> {
    pub fn new(buf: &'b mut [u8], pos: usize) -> FieldWriter<'b> {
        let error = if pos > buf.len() {
            Some(FixError::BufferTooSmall)
        } else {
            None
        };
        FieldWriter {
            buf,
            pos,
            error,
            sum: 0,
        }
    }

    /// Current write offset in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// First error encountered, if any.
    pub fn error(&self) -> Option<FixError> {
        self.error
    }

    fn fail(&mut self, e: FixError) {
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Reserves `n` bytes and returns them, or records `BufferTooSmall`.
    #[inline(always)]
    fn reserve(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.pos;
        if start + n > self.buf.len() {
            self.fail(FixError::BufferTooSmall);
            return None;
        }
        self.pos += n;
        self.buf.get_mut(start..start + n)
    }

    /// Reserves a whole field, writes `tag=` and the SOH, and returns the
    /// value slot, or records `BufferTooSmall`.
    #[inline(always)]
    fn tag_eq(&mut self, t: u32, value_len: usize) -> Option<&mut [u8]> {
        if self.pos + field_len(t, value_len) > self.buf.len() {
            self.fail(FixError::BufferTooSmall);
            return None;
        }
        self.slot(t, value_len)
    }

    /// [`FieldWriter::tag_eq`] that records nothing when the field does not
    /// fit (the caller decides which error that is).
    #[inline(always)]
    fn slot(&mut self, t: u32, value_len: usize) -> Option<&mut [u8]> {
        // Almost every tag has 1-3 digits: write those without a digit loop.
        let tn = if t < 10 {
            1
        } else if t < 100 {
            2
        } else if t < 1000 {
            3
        } else {
            count_digits(t as u64)
        };
        let start = self.pos;
        let out = self.buf.get_mut(start..start + tn + 1 + value_len + 1)?;
        self.pos = start + out.len();
        self.sum = self.sum.wrapping_add(tag_frame_sum(t));
        match tn {
            1 => out[0] = b'0' + t as u8,
            2 => write_2(&mut out[..2], t),
            3 => {
                out[0] = b'0' + (t / 100) as u8;
                write_2(&mut out[1..3], t);
            }
            _ => {
                let _ = write_digits(&mut out[..tn], t as u64);
            }
        }
        out[tn] = b'=';
        let last = out.len() - 1;
        out[last] = SOH;
        Some(&mut out[tn + 1..last])
    }

    /// Appends already-encoded bytes (complete fields).
    #[inline(always)]
    pub fn raw(&mut self, bytes: &[u8]) {
        if let Some(out) = self.reserve(bytes.len()) {
            let (sum, _) = copy_scan(out, bytes);
            self.sum = self.sum.wrapping_add(sum);
        }
    }

    /// A string field. Empty values and values containing SOH are refused
    /// (`InvalidValue`): they would change the message's framing.
    #[inline(always)]
    pub fn str(&mut self, t: u32, value: &[u8]) {
        if value.is_empty() {
            self.fail(FixError::InvalidValue(t));
            return;
        }
        let n = value.len();
        if t < 1000 && (4..=16).contains(&n) {
            // Ids and symbols: two loads (the second overlapping the first),
            // two stores, and the byte sum and SOH test from those loads.
            let (tag, tn) = tag_word(t);
            if let Some(w) = self.window::<24>() {
                store4(w, 0, tag);
                let (value_sum, soh) = if n >= 8 {
                    let (a, b) = (word_at(value, 0), word_at(value, n - 8));
                    store8(w, tn, a);
                    store8(w, tn + n - 8, b);
                    // only the top n - 8 bytes of `b` are new to the sum
                    let fresh = b.checked_shr(8 * (16 - n) as u32).unwrap_or(0);
                    (word_sum(a) + word_sum(fresh), soh_flags(a) | soh_flags(b))
                } else {
                    let (a, b) = (word4_at(value, 0), word4_at(value, n - 4));
                    store4(w, tn, a);
                    store4(w, tn + n - 4, b);
                    let pair = a as u64 | (b as u64) << 32;
                    let fresh = (b as u64) >> (8 * (8 - n));
                    (word_sum(a as u64 | fresh << 32), soh_flags(pair))
                };
                if soh != 0 {
                    self.fail(FixError::InvalidValue(t));
                    return;
                }
                if let Some(end) = w.get_mut(tn + n) {
                    *end = SOH;
                }
                self.wrote_field(t, tn + n + 1, value_sum);
                return;
            }
        }
        // Copied first and checked after: the copy's own loads give the
        // byte sum and whether there is an SOH. A refused value is undone.
        let (pos, sum) = (self.pos, self.sum);
        match self.slot(t, value.len()) {
            Some(out) => {
                let (value_sum, has_soh) = copy_scan(out, value);
                if has_soh {
                    (self.pos, self.sum) = (pos, sum);
                    self.fail(FixError::InvalidValue(t));
                } else {
                    self.sum = self.sum.wrapping_add(value_sum);
                }
            }
            None if contains_soh(value) => self.fail(FixError::InvalidValue(t)),
            None => self.fail(FixError::BufferTooSmall),
        }
    }

    /// Accounts for a field a fast path wrote whole into its window: `len`
    /// bytes (tag, '=', value, SOH) and the value's byte sum.
    #[inline(always)]
    fn wrote_field(&mut self, t: u32, len: usize, value_sum: u32) {
        self.pos += len;
        self.sum = self
            .sum
            .wrapping_add(tag_frame_sum(t))
            .wrapping_add(value_sum);
    }

    /// The `N` bytes at the write position, if the buffer has them. The
    /// fast paths below write whole words into such a window and advance
    /// by what the field needs: bytes past the field may be written too
    /// (the next field or the trailer overwrites them), never bytes past
    /// the window. A field that does not get its window (a tag of four or
    /// more digits, a huge value, the end of a tight buffer) is written
    /// byte-exact instead.
    #[inline(always)]
    fn window<const N: usize>(&mut self) -> Option<&mut [u8; N]> {
        // The position never passes the end once `new` accepted it; the
        // clamp says so to the compiler, which then tests only the room
        // (one compare instead of two: ~13 instructions per order).
        let len = self.buf.len();
        self.buf[self.pos.min(len)..].first_chunk_mut::<N>()
    }

    #[inline(always)]
    pub fn uint(&mut self, t: u32, v: u64) {
        if t < 1000 && v < 100_000_000 {
            let (tag, tn) = tag_word(t);
            let (digits, n, digits_sum) = ascii8(v as u32);
            if let Some(w) = self.window::<16>() {
                store4(w, 0, tag);
                store8(w, tn, digits);
                if let Some(soh) = w.get_mut(tn + n) {
                    *soh = SOH;
                }
                self.wrote_field(t, tn + n + 1, digits_sum);
                return;
            }
        }
        let n = count_digits(v);
        if let Some(out) = self.tag_eq(t, n) {
            let digits = write_digits(out, v);
            self.sum = self.sum.wrapping_add(digits);
        }
    }

    #[inline(always)]
    pub fn char(&mut self, t: u32, c: u8) {
        if c == SOH {
            self.fail(FixError::InvalidValue(t));
            return;
        }
        if t < 1000 {
            let (tag, tn) = tag_word(t);
            if let Some(w) = self.window::<8>() {
                // tag '=' c SOH in one store
                let field = tag as u64 | (c as u64 | (SOH as u64) << 8) << (8 * tn);
                *w = field.to_le_bytes();
                self.wrote_field(t, tn + 2, c as u32);
                return;
            }
        }
        if let Some(out) = self.tag_eq(t, 1) {
            out[0] = c;
            self.sum = self.sum.wrapping_add(c as u32);
        }
    }

    #[inline(always)]
    pub fn bool(&mut self, t: u32, v: bool) {
        self.char(t, if v { b'Y' } else { b'N' });
    }

    /// A data field with its length field before it: `length_tag` (e.g.
    /// RawDataLength(95)) with the length of `value`, then the data field
    /// it introduces (RawData(96), see [`tag::DATA_FIELDS`]) with `value`,
    /// which may contain SOH: a reader takes as many bytes as the length
    /// says. A tag that is no data field's length, or an empty value, is
    /// refused (`InvalidValue`); when the two fields do not fit, neither is
    /// written.
    pub fn data(&mut self, length_tag: u32, value: &[u8]) {
        let Some(data_tag) = tag::data_of_length(length_tag) else {
            self.fail(FixError::InvalidValue(length_tag));
            return;
        };
        if value.is_empty() {
            self.fail(FixError::InvalidValue(data_tag));
            return;
        }
        let n = value.len();
        let both = field_len(length_tag, count_digits(n as u64)) + field_len(data_tag, n);
        if self.pos + both > self.buf.len() {
            self.fail(FixError::BufferTooSmall);
            return;
        }
        self.uint(length_tag, n as u64);
        if let Some(out) = self.tag_eq(data_tag, n) {
            let (value_sum, _) = copy_scan(out, value);
            self.sum = self.sum.wrapping_add(value_sum);
        }
    }

    /// A price as a decimal with up to four decimals, trailing zeros dropped
    /// (`12.3400` → `12.34`, `5.0000` → `5`).
    #[inline(always)]
    pub fn price(&mut self, t: u32, p: Price) {
        let neg = p.0 < 0;
        let abs = p.0.unsigned_abs();
        let int = abs / Price::SCALE as u64;
        let mut frac = (abs % Price::SCALE as u64) as u32;
        if t < 1000 && int < 100_000_000 {
            let (tag, tn) = tag_word(t);
            let (digits, n, digits_sum) = ascii8(int as u32);
            // The four decimals; the ones dropped (trailing zeros) are the
            // top zero bytes.
            let f = digits4(frac);
            // (By compares, like `decimal_len`.)
            let frac_digits = if frac == 0 {
                0
            } else {
                1 + !frac.is_multiple_of(1000) as usize
                    + !frac.is_multiple_of(100) as usize
                    + !frac.is_multiple_of(10) as usize
            };
            let frac_sum = (f.wrapping_mul(0x0101_0101) >> 24) + b'0' as u32 * frac_digits as u32;
            let sign = neg as usize;
            if let Some(w) = self.window::<24>() {
                store4(w, 0, tag);
                if let Some(minus) = w.get_mut(tn) {
                    *minus = b'-';
                }
                let mut at = tn + sign;
                store8(w, at, digits);
                at += n;
                // '.' and the decimals, kept only when there are any
                store8(w, at, b'.' as u64 | ((f as u64) | ZEROS) << 8);
                at += if frac_digits > 0 { 1 + frac_digits } else { 0 };
                if let Some(soh) = w.get_mut(at) {
                    *soh = SOH;
                }
                let dot = if frac_digits > 0 { b'.' as u32 } else { 0 };
                let minus = if neg { b'-' as u32 } else { 0 };
                self.wrote_field(
                    t,
                    at + 1,
                    minus.wrapping_add(digits_sum).wrapping_add(dot + frac_sum),
                );
                return;
            }
        }
        let mut frac_digits = 4usize;
        if frac == 0 {
            frac_digits = 0;
        } else {
            while frac.is_multiple_of(10) {
                frac /= 10;
                frac_digits -= 1;
            }
        }
        let int_digits = count_digits(int);
        let len = neg as usize + int_digits + if frac_digits > 0 { 1 + frac_digits } else { 0 };
        if let Some(out) = self.tag_eq(t, len) {
            let mut i = 0;
            let mut sum = 0u32;
            if neg {
                out[0] = b'-';
                sum += b'-' as u32;
                i = 1;
            }
            sum += write_digits(&mut out[i..i + int_digits], int);
            i += int_digits;
            if frac_digits > 0 {
                out[i] = b'.';
                sum += b'.' as u32;
                // leading zeros of the fraction are kept by writing into a fixed width
                let field = &mut out[i + 1..i + 1 + frac_digits];
                let mut f = frac;
                for slot in field.iter_mut().rev() {
                    let d = b'0' + (f % 10) as u8;
                    *slot = d;
                    sum += d as u32;
                    f /= 10;
                }
            }
            self.sum = self.sum.wrapping_add(sum);
        }
    }

    pub fn timestamp(&mut self, t: u32, time: UtcTime, precision: TimestampPrecision) {
        let mut tmp = [0u8; 24];
        let n = format_timestamp(time, precision, &mut tmp);
        if let Some(out) = self.tag_eq(t, n) {
            out.copy_from_slice(&tmp[..n]);
            self.sum = self.sum.wrapping_add(byte_sum(&tmp[..n]));
        }
    }

    fn into_parts(self) -> (&'b mut [u8], usize, Option<FixError>, u32) {
        (self.buf, self.pos, self.error, self.sum)
    }
}

/// Per-session prefilled header.
#[derive(Clone)]
pub struct HeaderTemplate {
    version: FixVersion,
    begin: [u8; MAX_BEGIN_LEN],
    begin_len: usize,
    /// `<SOH>49=SENDER<SOH>56=TARGET<SOH>34=`
    /// (Zero-padded to whole words.)
    comp: [u8; COMP_CAP],
    comp_len: usize,
    /// Byte sums of `begin` and `comp`, for the running CheckSum.
    begin_sum: u32,
    comp_sum: u32,
    precision: TimestampPrecision,
    /// The last timestamp written (SendingTime, and TransactTime, usually
    /// the same instant).
    cache: TimeCache,
}

/// The last timestamp formatted, kept whole: SendingTime and TransactTime
/// are usually the same instant, and consecutive messages share the date
/// and second (only the sub-second digits are redone then).
#[derive(Clone, Copy)]
struct TimeCache {
    /// The time in units of the precision (ms or µs) the text is for.
    key: u64,
    /// The second the first 18 bytes (`YYYYMMDD-HH:MM:SS.`) are for.
    second: u64,
    /// The text, padded: `timestamp_len` bytes are the timestamp.
    text: [u8; 32],
    /// Byte sums of the first 18 bytes and of the whole timestamp.
    prefix_sum: u32,
    sum: u32,
}

impl TimeCache {
    const EMPTY: TimeCache = TimeCache {
        key: u64::MAX,
        second: u64::MAX,
        text: [0; 32],
        prefix_sum: 0,
        sum: 0,
    };

    /// `t` formatted (the first `timestamp_len(precision)` bytes of the
    /// text) and the sum of those bytes.
    #[inline(always)]
    fn text(&mut self, t: UtcTime, precision: TimestampPrecision) -> (&[u8; 32], u32) {
        // (Two constant divisions, not one by a variable.)
        let (key, unit) = match precision {
            TimestampPrecision::Millis => (t.0 / 1_000_000, 1_000_000),
            TimestampPrecision::Micros => (t.0 / 1_000, 1_000),
        };
        if key != self.key {
            self.refresh(t, key, unit, precision);
        }
        (&self.text, self.sum)
    }

    #[inline(never)]
    fn refresh(&mut self, t: UtcTime, key: u64, unit: u64, precision: TimestampPrecision) {
        let second = t.0 / UtcTime::NANOS_PER_SEC;
        if second != self.second {
            let mut tmp = [0u8; 24];
            format_timestamp(
                UtcTime(second * UtcTime::NANOS_PER_SEC),
                precision,
                &mut tmp,
            );
            self.text[..18].copy_from_slice(&tmp[..18]);
            self.prefix_sum = byte_sum(&self.text[..18]);
            self.second = second;
        }
        // The sub-second digits: the last 3 or 6 of eight.
        let sub = ((t.0 % UtcTime::NANOS_PER_SEC) / unit) as u32;
        let z = digits8(sub);
        let keep = timestamp_len(precision) - 18;
        let digits = z >> (8 * (8 - keep));
        store8(&mut self.text, 18, digits | ZEROS);
        self.sum =
            self.prefix_sum + (digits.wrapping_mul(ONES) >> 56) as u32 + b'0' as u32 * keep as u32;
        self.key = key;
    }
}

impl core::fmt::Debug for HeaderTemplate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HeaderTemplate")
            .field("version", &self.version)
            .field("comp", &super::Masked(&self.comp[..self.comp_len]))
            .finish()
    }
}

fn valid_comp_id(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_COMP_ID_LEN && id.iter().all(|&b| b.is_ascii_graphic())
}

impl HeaderTemplate {
    /// `sender`/`target` are our SenderCompID and the counterparty's CompID:
    /// 1..=32 printable ASCII bytes.
    pub fn new(version: FixVersion, sender: &[u8], target: &[u8]) -> Result<Self, FixError> {
        if !valid_comp_id(sender) {
            return Err(FixError::InvalidValue(super::tag::SENDER_COMP_ID));
        }
        if !valid_comp_id(target) {
            return Err(FixError::InvalidValue(super::tag::TARGET_COMP_ID));
        }
        let mut begin = [0u8; MAX_BEGIN_LEN];
        let bs = version.begin_string();
        let mut n = 0;
        for part in [&b"8="[..], bs, b"\x019="] {
            begin[n..n + part.len()].copy_from_slice(part);
            n += part.len();
        }
        let begin_len = n;
        let mut comp = [0u8; COMP_CAP];
        let mut c = 0;
        for part in [&b"\x0149="[..], sender, b"\x0156=", target, b"\x0134="] {
            comp[c..c + part.len()].copy_from_slice(part);
            c += part.len();
        }
        Ok(HeaderTemplate {
            version,
            begin,
            begin_len,
            begin_sum: byte_sum(&begin[..begin_len]),
            comp,
            comp_sum: byte_sum(&comp[..c]),
            comp_len: c,
            precision: TimestampPrecision::Millis,
            cache: TimeCache::EMPTY,
        })
    }

    /// Sets the SendingTime precision (µs are a FIX 4.4 extension; keep ms for 4.2 peers).
    pub fn with_precision(mut self, precision: TimestampPrecision) -> Self {
        self.precision = precision;
        self.cache = TimeCache::EMPTY;
        self
    }

    pub fn version(&self) -> FixVersion {
        self.version
    }

    pub fn precision(&self) -> TimestampPrecision {
        self.precision
    }

    /// Starts a message: writes MsgType, the CompIDs, MsgSeqNum and
    /// SendingTime after the reserved prefix. Further header fields
    /// (PossDupFlag, OrigSendingTime) and the body follow via the builder.
    #[inline(always)]
    pub fn begin<'b, 't>(
        &'t mut self,
        buf: &'b mut [u8],
        msg_type: &[u8],
        seq: u64,
        sending_time: UtcTime,
    ) -> Result<MsgBuilder<'b, 't>, FixError> {
        if msg_type.is_empty() || msg_type.len() > 2 || msg_type.contains(&SOH) {
            return Err(FixError::InvalidValue(super::tag::MSG_TYPE));
        }
        let (seq_word, seq_digits, seq_sum) = if seq < 100_000_000 {
            ascii8(seq as u32)
        } else {
            (0, count_digits(seq), 0)
        };
        let ts_len = timestamp_len(self.precision);
        let fixed = 3 + msg_type.len() + self.comp_len + seq_digits + 4 + ts_len + 1;
        let start = PREFIX_RESERVE;
        // Eight bytes of room past the header let the sequence number and
        // the timestamp go in as whole words (what they write past their
        // place is written over next); a buffer without them (it could not
        // hold the trailer either) gets exact writes.
        let Some(out) = buf.get_mut(start..start + fixed + 8) else {
            return self.begin_exact(buf, msg_type, seq, sending_time);
        };
        // "35=" and the type; then the CompID block a word at a time (the
        // sequence number's word covers what the last one writes past it).
        let mut mt = *b"35=\0\0\0\0\0";
        mt[3] = msg_type[0];
        mt[4] = msg_type.get(1).copied().unwrap_or(0);
        store8(out, 0, u64::from_le_bytes(mt));
        let mut i = 3 + msg_type.len();
        // (What follows the block is at least 35 bytes, so 32 fit.)
        let dst = out.get_mut(i..).and_then(|d| d.first_chunk_mut::<32>());
        match (dst, self.comp.first_chunk::<32>()) {
            (Some(dst), Some(src)) if self.comp_len <= 32 => *dst = *src,
            _ => copy_cold(&mut out[i..i + self.comp_len], &self.comp[..self.comp_len]),
        }
        i += self.comp_len;
        let seq_sum = if seq < 100_000_000 {
            store8(out, i, seq_word);
            seq_sum
        } else {
            write_digits(&mut out[i..i + seq_digits], seq)
        };
        i += seq_digits;
        store4(out, i, u32::from_le_bytes(*b"\x0152="));
        i += 4;
        let (text, ts_sum) = self.cache.text(sending_time, self.precision);
        match (
            out.get_mut(i..).and_then(|d| d.first_chunk_mut::<24>()),
            text.first_chunk::<24>(),
        ) {
            (Some(dst), Some(src)) => *dst = *src,
            _ => out[i..i + ts_len].copy_from_slice(&text[..ts_len]),
        }
        i += ts_len;
        out[i] = SOH;
        let mut w = FieldWriter::new(buf, start + fixed);
        w.sum = BEGIN_FRAME + byte_sum(msg_type) + self.comp_sum + seq_sum + ts_sum;
        Ok(MsgBuilder { w, template: self })
    }

    /// [`HeaderTemplate::begin`] into a buffer with no room to spare.
    #[cold]
    #[inline(never)]
    fn begin_exact<'b, 't>(
        &'t mut self,
        buf: &'b mut [u8],
        msg_type: &[u8],
        seq: u64,
        sending_time: UtcTime,
    ) -> Result<MsgBuilder<'b, 't>, FixError> {
        let seq_digits = count_digits(seq);
        let ts_len = timestamp_len(self.precision);
        let fixed = 3 + msg_type.len() + self.comp_len + seq_digits + 4 + ts_len + 1;
        let start = PREFIX_RESERVE;
        let Some(out) = buf.get_mut(start..start + fixed) else {
            return Err(FixError::BufferTooSmall);
        };
        let mut i = 0;
        out[..3].copy_from_slice(b"35=");
        i += 3;
        out[i..i + msg_type.len()].copy_from_slice(msg_type);
        i += msg_type.len();
        out[i..i + self.comp_len].copy_from_slice(&self.comp[..self.comp_len]);
        i += self.comp_len;
        let seq_sum = write_digits(&mut out[i..i + seq_digits], seq);
        i += seq_digits;
        out[i..i + 4].copy_from_slice(b"\x0152=");
        i += 4;
        let (text, ts_sum) = self.cache.text(sending_time, self.precision);
        out[i..i + ts_len].copy_from_slice(&text[..ts_len]);
        i += ts_len;
        out[i] = SOH;
        let mut w = FieldWriter::new(buf, start + fixed);
        w.sum = BEGIN_FRAME + byte_sum(msg_type) + self.comp_sum + seq_sum + ts_sum;
        Ok(MsgBuilder { w, template: self })
    }
}

/// A message under construction; see [`HeaderTemplate::begin`]. It
/// borrows the template (BeginString, precision, and the timestamp cache
/// that TransactTime usually shares with SendingTime) rather than copying
/// it.
pub struct MsgBuilder<'b, 't> {
    w: FieldWriter<'b>,
    template: &'t mut HeaderTemplate,
}

impl<'b> core::ops::Deref for MsgBuilder<'b, '_> {
    type Target = FieldWriter<'b>;
    fn deref(&self) -> &FieldWriter<'b> {
        &self.w
    }
}

impl core::ops::DerefMut for MsgBuilder<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.w
    }
}

impl<'b> MsgBuilder<'b, '_> {
    /// The session's timestamp precision, for TransactTime and OrigSendingTime.
    pub fn precision(&self) -> TimestampPrecision {
        self.template.precision
    }

    /// A timestamp field in the session's precision.
    #[inline(always)]
    pub fn time(&mut self, t: u32, time: UtcTime) {
        let p = self.template.precision;
        let n = timestamp_len(p);
        let (text, text_sum) = self.template.cache.text(time, p);
        if t < 1000 {
            let (tag, tn) = tag_word(t);
            // tag '=' (≤ 4), the text (24 of 32 bytes copied), SOH
            if let Some(w) = self.w.window::<32>() {
                store4(w, 0, tag);
                for k in 0..3 {
                    store8(w, tn + 8 * k, word_at(text, 8 * k));
                }
                if let Some(soh) = w.get_mut(tn + n) {
                    *soh = SOH;
                }
                self.w.wrote_field(t, tn + n + 1, text_sum);
                return;
            }
        }
        if let Some(out) = self.w.tag_eq(t, n) {
            out.copy_from_slice(&text[..n]);
            self.w.sum = self.w.sum.wrapping_add(text_sum);
        }
    }

    #[inline(always)]
    fn complete(self) -> Result<(&'b mut [u8], usize, usize), FixError> {
        let (buf, pos, error, body_sum) = self.w.into_parts();
        if let Some(e) = error {
            return Err(e);
        }
        let body_start = PREFIX_RESERVE;
        let body_len = pos - body_start;
        if body_len >= 100_000 {
            return Err(FixError::BufferTooSmall);
        }
        let n = decimal_len(body_len as u32);
        if n > MAX_BODY_LEN_DIGITS {
            return Err(FixError::BufferTooSmall);
        }
        let begin_len = self.template.begin_len;
        let start = body_start - 1 - n - begin_len;
        // BodyLength right-aligned against the body as one word ending at
        // its SOH; the bytes of the word before the digits are then covered
        // by the BeginString (12 bytes, more than the 8 - n to cover).
        let (digits, _, len_sum) = ascii8(body_len as u32);
        store8(buf, body_start - 9, digits << (8 * (8 - n)));
        if begin_len == MAX_BEGIN_LEN {
            // Every supported BeginString ("FIX.4.2", "FIX.4.4") fills the
            // array: a fixed-size copy is two moves, not a `memcpy` call.
            buf[start..start + MAX_BEGIN_LEN].copy_from_slice(&self.template.begin);
        } else {
            buf[start..start + begin_len].copy_from_slice(&self.template.begin[..begin_len]);
        }
        buf[body_start - 1] = SOH;
        let sum = body_sum
            .wrapping_add(self.template.begin_sum)
            .wrapping_add(len_sum)
            .wrapping_add(SOH as u32) as u8;
        debug_assert_eq!(sum, checksum(&buf[start..pos]));
        // The body's closing SOH and the trailer are one word.
        let Some(trailer) = buf.get_mut(pos - 1..pos + TRAILER_LEN) else {
            return Err(FixError::BufferTooSmall);
        };
        let three = CHECKSUM_DIGITS[sum as usize] as u64;
        let word = u64::from_le_bytes([SOH, b'1', b'0', b'=', 0, 0, 0, SOH]) | three << 32;
        store8(trailer, 0, word);
        Ok((buf, start, pos + TRAILER_LEN))
    }

    /// Completes the message; returns its byte range in the buffer.
    #[inline(always)]
    pub fn finish_range(self) -> Result<(usize, usize), FixError> {
        self.complete().map(|(_, s, e)| (s, e))
    }

    /// Completes the message and returns it.
    #[inline(always)]
    pub fn finish(self) -> Result<&'b [u8], FixError> {
        let (buf, start, end) = self.complete()?;
        let buf: &'b [u8] = buf;
        Ok(&buf[start..end])
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::fix::decode::{parse_price, parse_timestamp, FixMessage};
    use crate::fix::tag;
    use proptest::prelude::*;
    use std::vec;

    #[test]
    fn integers() {
        let mut out = [0u8; 20];
        for v in [0u64, 9, 10, 99, 100, 12345, 9_999_999, u64::MAX] {
            let n = format_uint(v, &mut out);
            assert_eq!(&out[20 - n..], std::format!("{v}").as_bytes());
        }
    }

    #[test]
    fn prices() {
        let cases = [
            (123_400i64, "12.34"),
            (120_000, "12"),
            (1, "0.0001"),
            (10, "0.001"),
            (-15_000, "-1.5"),
            (0, "0"),
            (4_294_967_295, "429496.7295"),
        ];
        for (raw, text) in cases {
            let mut buf = [0u8; 64];
            let mut w = FieldWriter::new(&mut buf, 0);
            w.price(44, Price(raw));
            let n = w.position();
            assert_eq!(&buf[..n], std::format!("44={text}\x01").as_bytes());
        }
    }

    #[test]
    fn timestamps() {
        let mut out = [0u8; 24];
        let t = UtcTime(1_700_000_000_123_456_789);
        let n = format_timestamp(t, TimestampPrecision::Millis, &mut out);
        assert_eq!(&out[..n], b"20231114-22:13:20.123");
        let n = format_timestamp(t, TimestampPrecision::Micros, &mut out);
        assert_eq!(&out[..n], b"20231114-22:13:20.123456");
        let n = format_timestamp(UtcTime(0), TimestampPrecision::Millis, &mut out);
        assert_eq!(&out[..n], b"19700101-00:00:00.000");
        let n = format_timestamp(
            UtcTime::from_secs(951_782_400),
            TimestampPrecision::Millis,
            &mut out,
        );
        assert_eq!(&out[..n], b"20000229-00:00:00.000");
    }

    #[test]
    fn header_template_output_is_valid() {
        let mut h = HeaderTemplate::new(FixVersion::Fix42, b"ME", b"YOU").unwrap();
        let mut buf = [0u8; 256];
        let mut m = h
            .begin(&mut buf, b"D", 42, UtcTime::from_secs(1_700_000_000))
            .unwrap();
        m.str(tag::CL_ORD_ID, b"abc");
        m.price(tag::PRICE, Price(1_234_500));
        let bytes = m.finish().unwrap();
        assert_eq!(
            bytes,
            &b"8=FIX.4.2\x019=66\x0135=D\x0149=ME\x0156=YOU\x0134=42\x0152=20231114-22:13:20.000\x0111=abc\x0144=123.45\x0110=047\x01"[..]
        );
        let msg = FixMessage::new_checked(bytes).unwrap();
        assert_eq!(msg.get(tag::CL_ORD_ID), Some(&b"abc"[..]));
    }

    #[test]
    fn transact_time_in_other_second_than_sending_time() {
        let mut h = HeaderTemplate::new(FixVersion::Fix44, b"ME", b"YOU")
            .unwrap()
            .with_precision(TimestampPrecision::Micros);
        let mut buf = [0u8; 256];
        let sending = UtcTime(1_700_000_000_999_999_000);
        for transact in [
            UtcTime(1_600_000_000_000_001_000),
            sending,
            UtcTime(1_700_000_001_000_000_000),
        ] {
            let mut m = h.begin(&mut buf, b"D", 1, sending).unwrap();
            m.time(tag::TRANSACT_TIME, transact);
            let bytes = m.finish().unwrap();
            let msg = FixMessage::new_checked(bytes).unwrap();
            assert_eq!(msg.get_timestamp(tag::SENDING_TIME).unwrap(), Some(sending));
            assert_eq!(
                msg.get_timestamp(tag::TRANSACT_TIME).unwrap(),
                Some(transact)
            );
        }
    }

    #[test]
    fn small_buffers_error_not_panic() {
        let mut h = HeaderTemplate::new(FixVersion::Fix44, b"ME", b"YOU").unwrap();
        for size in 0..140 {
            let mut buf = vec![0u8; size];
            let r = h.begin(&mut buf, b"D", 1, UtcTime(0)).and_then(|mut m| {
                m.str(tag::CL_ORD_ID, b"abcdef");
                m.uint(tag::ORDER_QTY, 100);
                m.finish().map(|b| b.len())
            });
            if let Ok(n) = r {
                assert!(n <= size);
            } else {
                assert_eq!(r, Err(FixError::BufferTooSmall));
            }
        }
    }

    #[test]
    fn bad_values_refused() {
        let mut buf = [0u8; 64];
        let mut w = FieldWriter::new(&mut buf, 0);
        w.str(58, b"a\x01b");
        assert_eq!(w.error(), Some(FixError::InvalidValue(58)));
        assert!(HeaderTemplate::new(FixVersion::Fix44, b"", b"X").is_err());
        assert!(HeaderTemplate::new(FixVersion::Fix44, b"A B", b"X").is_err());
    }

    #[test]
    fn data_fields_are_written_with_their_length() {
        let mut h = HeaderTemplate::new(FixVersion::Fix44, b"A", b"B").unwrap();
        let data = b"<x a=\"1\">\x0110=000\x01</x>";
        for (len_tag, data_tag) in [(95, 96), (212, 213), (354, 355), (93, 89)] {
            let mut buf = [0u8; 256];
            let mut m = h.begin(&mut buf, b"8", 3, UtcTime(0)).unwrap();
            m.str(58, b"before");
            m.data(len_tag, data);
            m.str(11, b"after");
            let bytes = m.finish().unwrap();
            let msg = crate::fix::FixMessage::new_checked(bytes).unwrap();
            assert_eq!(msg.get(data_tag), Some(&data[..]));
            assert_eq!(msg.get_uint(len_tag), Ok(Some(data.len() as u64)));
            assert_eq!(msg.get(11), Some(&b"after"[..]));
            let mut decoder = crate::fix::FixDecoder::new();
            assert_eq!(
                decoder.new_checked(bytes).unwrap().get(data_tag),
                Some(&data[..])
            );
        }
        // not a length tag, an empty value, no room: refused, nothing written
        let mut buf = [0u8; 32];
        let mut w = FieldWriter::new(&mut buf, 0);
        w.data(96, b"x");
        assert_eq!(w.error(), Some(FixError::InvalidValue(96)));
        let mut w = FieldWriter::new(&mut buf, 0);
        w.data(95, b"");
        assert_eq!(w.error(), Some(FixError::InvalidValue(96)));
        let mut w = FieldWriter::new(&mut buf, 0);
        w.data(95, &[b'z'; 24]);
        assert_eq!(w.error(), Some(FixError::BufferTooSmall));
        assert_eq!(w.position(), 0);
    }

    #[test]
    fn refused_value_leaves_the_writer_as_it_was() {
        let mut buf = [0u8; 64];
        let mut w = FieldWriter::new(&mut buf, 0);
        w.str(58, b"ok");
        let (pos, sum) = (w.position(), w.sum);
        w.str(58, b"abcdefghij\x01klm");
        assert_eq!(w.error(), Some(FixError::InvalidValue(58)));
        assert_eq!((w.position(), w.sum), (pos, sum));
        // a value with an SOH that would not fit either is still InvalidValue
        let mut small = [0u8; 6];
        let mut w = FieldWriter::new(&mut small, 0);
        w.str(58, b"abcdefgh\x01");
        assert_eq!(w.error(), Some(FixError::InvalidValue(58)));
        let mut w = FieldWriter::new(&mut small, 0);
        w.str(58, b"abcdefgh");
        assert_eq!(w.error(), Some(FixError::BufferTooSmall));
    }

    proptest! {
        #[test]
        fn copy_scan_matches_naive(
            src in proptest::collection::vec(prop_oneof![8 => any::<u8>(), 1 => Just(SOH), 1 => Just(0u8)], 0..40),
            long in proptest::collection::vec(any::<u8>(), 2030..2100),
            use_long in any::<bool>(),
        ) {
            let src = if use_long { long } else { src };
            let mut dst = vec![0xAAu8; src.len()];
            let (sum, soh) = copy_scan(&mut dst, &src);
            prop_assert_eq!(&dst, &src);
            let plain = src.iter().fold(0u32, |a, &b| a.wrapping_add(b as u32));
            prop_assert_eq!(sum as u8, plain as u8);
            prop_assert_eq!(soh, src.contains(&SOH));
        }

        #[test]
        fn running_byte_sum_matches_a_plain_sum(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let plain = bytes.iter().fold(0u32, |a, &b| a.wrapping_add(b as u32));
            prop_assert_eq!(byte_sum(&bytes) as u8, plain as u8);
            prop_assert_eq!(byte_sum(&bytes), plain, "exact below 2^32");
        }

        #[test]
        fn price_round_trip_at_the_extremes(raw in proptest::prop_oneof![
            Just(i64::MIN), Just(i64::MIN + 1), Just(i64::MAX), any::<i64>()
        ]) {
            let mut buf = [0u8; 64];
            let mut w = FieldWriter::new(&mut buf, 0);
            w.price(44, Price(raw));
            let n = w.position();
            prop_assert_eq!(parse_price(&buf[3..n - 1]), Some(Price(raw)));
        }

        #[test]
        fn price_round_trip(raw in -99_999_999_999i64..99_999_999_999) {
            let mut buf = [0u8; 64];
            let mut w = FieldWriter::new(&mut buf, 0);
            w.price(44, Price(raw));
            let n = w.position();
            prop_assert_eq!(parse_price(&buf[3..n - 1]), Some(Price(raw)));
        }

        #[test]
        fn timestamp_round_trip(us in 0u64..(16_700_000_000u64 * 1_000_000)) {
            let t = UtcTime(us * 1000);
            let mut out = [0u8; 24];
            let n = format_timestamp(t, TimestampPrecision::Micros, &mut out);
            prop_assert_eq!(parse_timestamp(&out[..n]), Some(t));
        }

        #[test]
        fn uint_round_trip(v in any::<u64>()) {
            let mut out = [0u8; 20];
            let n = format_uint(v, &mut out);
            prop_assert_eq!(core::str::from_utf8(&out[20 - n..]).unwrap().parse::<u64>().unwrap(), v);
        }
    }

    /// One body field for the reference model below.
    #[derive(Debug, Clone)]
    enum Field {
        Uint(u32, u64),
        Price(u32, i64),
        Char(u32, u8),
        Str(u32, std::vec::Vec<u8>),
        Time(u32, u64),
    }

    fn field_strategy() -> impl Strategy<Value = Field> {
        let tag = prop_oneof![8 => 1u32..200, 1 => 200u32..1000, 1 => 1000u32..100_000];
        let uint = prop_oneof![4 => 0u64..10_000, 2 => 0u64..100_000_000, 1 => any::<u64>()];
        let price = prop_oneof![
            4 => -10_000_000i64..10_000_000,
            2 => -1_000_000_000_000i64..1_000_000_000_000,
            1 => any::<i64>(),
        ];
        let char = prop_oneof![20 => 0x21u8..0x7f, 1 => Just(SOH), 1 => any::<u8>()];
        let text = prop_oneof![
            8 => proptest::collection::vec(0x21u8..0x7f, 1..40),
            1 => proptest::collection::vec(prop_oneof![8 => any::<u8>(), 1 => Just(SOH)], 1..24),
        ];
        let time = prop_oneof![3 => Just(0u64), 1 => 0u64..2_000_000_000, 1 => any::<u64>()];
        prop_oneof![
            (tag.clone(), uint).prop_map(|(t, v)| Field::Uint(t, v)),
            (tag.clone(), price).prop_map(|(t, v)| Field::Price(t, v)),
            (tag.clone(), char).prop_map(|(t, c)| Field::Char(t, c)),
            (tag.clone(), text).prop_map(|(t, v)| Field::Str(t, v)),
            (tag, time).prop_map(|(t, d)| Field::Time(t, d)),
        ]
    }

    fn reference_price(raw: i64) -> std::string::String {
        let abs = raw.unsigned_abs();
        let (int, frac) = (abs / 10_000, abs % 10_000);
        let sign = if raw < 0 { "-" } else { "" };
        if frac == 0 {
            std::format!("{sign}{int}")
        } else {
            let f = std::format!("{frac:04}");
            std::format!("{sign}{int}.{}", f.trim_end_matches('0'))
        }
    }

    fn reference_time(t: UtcTime, p: TimestampPrecision) -> std::vec::Vec<u8> {
        let mut out = [0u8; 24];
        let n = format_timestamp(t, p, &mut out);
        out[..n].to_vec()
    }

    /// What encoding `fields` into a buffer of `size` bytes must give,
    /// from plain formatting and the writer's documented rules: each field
    /// is written if it fits, the first error is kept (a value with an SOH
    /// is `InvalidValue` whether or not it fits), and the message starts
    /// where its BodyLength needs.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        size: usize,
        version: FixVersion,
        p: TimestampPrecision,
        seq: u64,
        sending: UtcTime,
        fields: &[Field],
    ) -> Result<std::vec::Vec<u8>, FixError> {
        let mut body = b"35=D\x0149=SENDER\x0156=TGT\x0134=".to_vec();
        body.extend_from_slice(std::format!("{seq}\x0152=").as_bytes());
        body.extend_from_slice(&reference_time(sending, p));
        body.push(SOH);
        if PREFIX_RESERVE + body.len() > size {
            return Err(FixError::BufferTooSmall);
        }
        let mut error = None;
        for f in fields {
            let (t, value, refused) = match f {
                Field::Uint(t, v) => (*t, std::format!("{v}").into_bytes(), false),
                Field::Price(t, v) => (*t, reference_price(*v).into_bytes(), false),
                Field::Char(t, c) => (*t, std::vec![*c], *c == SOH),
                Field::Str(t, v) => (*t, v.clone(), v.contains(&SOH)),
                Field::Time(t, d) => (
                    *t,
                    reference_time(UtcTime(sending.0.wrapping_add(*d) % (1 << 62)), p),
                    false,
                ),
            };
            let mut field = std::format!("{t}=").into_bytes();
            field.extend_from_slice(&value);
            field.push(SOH);
            if refused {
                error = error.or(Some(FixError::InvalidValue(t)));
            } else if PREFIX_RESERVE + body.len() + field.len() > size {
                error = error.or(Some(FixError::BufferTooSmall));
            } else {
                body.extend_from_slice(&field);
            }
        }
        if let Some(e) = error {
            return Err(e);
        }
        let mut msg = std::format!(
            "8={}\x019={}\x01",
            core::str::from_utf8(version.begin_string()).unwrap(),
            body.len()
        )
        .into_bytes();
        msg.extend_from_slice(&body);
        let sum = msg.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        msg.extend_from_slice(std::format!("10={sum:03}\x01").as_bytes());
        if PREFIX_RESERVE + body.len() + 7 > size {
            return Err(FixError::BufferTooSmall);
        }
        Ok(msg)
    }

    fn encode_fields(
        h: &mut HeaderTemplate,
        buf: &mut [u8],
        seq: u64,
        sending: UtcTime,
        fields: &[Field],
    ) -> Result<std::vec::Vec<u8>, FixError> {
        let mut m = h.begin(buf, b"D", seq, sending)?;
        for f in fields {
            match f {
                Field::Uint(t, v) => m.uint(*t, *v),
                Field::Price(t, v) => m.price(*t, Price(*v)),
                Field::Char(t, c) => m.char(*t, *c),
                Field::Str(t, v) => m.str(*t, v),
                Field::Time(t, d) => m.time(*t, UtcTime(sending.0.wrapping_add(*d) % (1 << 62))),
            }
        }
        m.finish().map(|b| b.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        /// The word-store fast paths against plain formatting, in roomy
        /// buffers and in buffers cut anywhere near the message's end (where
        /// fields fall back to exact writes or do not fit).
        #[test]
        fn encoder_matches_plain_formatting(
            fields in proptest::collection::vec(field_strategy(), 0..12),
            seq in prop_oneof![3 => 1u64..10_000, 1 => any::<u64>()],
            sending in prop_oneof![3 => 1_700_000_000_000_000_000u64..1_700_000_100_000_000_000, 1 => 0u64..(1 << 62)],
            micros in any::<bool>(),
            fix42 in any::<bool>(),
            cut in 0usize..40,
            repeat in any::<bool>(),
        ) {
            let p = if micros { TimestampPrecision::Micros } else { TimestampPrecision::Millis };
            let version = if fix42 { FixVersion::Fix42 } else { FixVersion::Fix44 };
            let mut h = HeaderTemplate::new(version, b"SENDER", b"TGT").unwrap().with_precision(p);
            let sending = UtcTime(sending);
            let want = reference(4096, version, p, seq, sending, &fields);
            let mut big = vec![0xAAu8; 4096];
            prop_assert_eq!(&encode_fields(&mut h, &mut big, seq, sending, &fields), &want);
            if repeat {
                // again through the template's timestamp cache
                prop_assert_eq!(&encode_fields(&mut h, &mut big, seq, sending, &fields), &want);
            }
            // a buffer ending up to 20 bytes after, or before, the message
            // (which ends PREFIX_RESERVE + body + trailer bytes in)
            let end = match &want {
                Ok(m) => {
                    let body_start = m.windows(4).position(|w| w == b"\x0135=").unwrap() + 1;
                    PREFIX_RESERVE + m.len() - body_start
                }
                Err(_) => 200,
            };
            let size = (end + 20).saturating_sub(cut);
            let mut small = vec![0xAAu8; size];
            let got = encode_fields(&mut h, &mut small, seq, sending, &fields);
            prop_assert_eq!(got, reference(size, version, p, seq, sending, &fields), "size {}", size);
        }
    }
}
