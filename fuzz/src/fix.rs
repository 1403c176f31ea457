//! The `fix` target: the framer, the plain parser and the layout-learning
//! [`FixDecoder`] on arbitrary bytes. The decoder documents that it "accepts
//! and refuses exactly what [`FixMessage::parse`] / [`FixMessage::new_checked`]
//! do, with the same errors, and fills the same view"; it is held to that on
//! every message, through all three of its entry points, with one decoder
//! (and one kept view) per run so that what it learned from one message
//! meets the next.
//!
//! A learned layout only matters for a message that looks like an earlier
//! one, which random bytes almost never do. So each run first feeds valid
//! messages built by the encoder (several layouts per MsgType, two FIX
//! versions), then near misses: those same messages with edits taken from
//! the input, either inside a re-sealed envelope (BodyLength and CheckSum
//! recomputed, so the edit reaches the field checks) or left unsealed.

use std::sync::OnceLock;

use protocol::fix::decode::DIRECT_TAGS;
use protocol::fix::messages::{
    encode, ExecType, ExecutionReport, Heartbeat, Logon, NewOrderSingle, OrdStatus, OrdType,
};
use protocol::fix::{
    find_frame, tag, FixDecoder, FixError, FixMessage, FixVersion, FrameStatus, HeaderTemplate,
    Masked, UtcTime, SOH,
};
use types::{Price, Side, TimeInForce};

/// Tags past the direct table, up to the largest a tag can be: lookups of
/// these go through the presence mask and the field scan.
const FAR_TAGS: [u32; 10] = [
    999,
    1_000,
    9_999,
    65_535,
    65_536,
    1_000_000,
    9_999_999,
    99_999_999,
    999_999_999,
    u32::MAX,
];

/// Everything a caller can see of two views must be the same: bytes,
/// version, MsgType, fields in order, and the lookup of every present tag
/// and some far ones; with `every_tag`, of every directly indexed tag too
/// (what a stale or mis-copied lookup table would answer wrongly; a few
/// hundred lookups, so only where a table is copied or kept).
fn same_view(what: &str, got: &FixMessage<'_>, want: &FixMessage<'_>, every_tag: bool) {
    assert_eq!(got.as_bytes(), want.as_bytes(), "{what}: bytes");
    assert_eq!(got.version(), want.version(), "{what}: version");
    assert_eq!(got.msg_type(), want.msg_type(), "{what}: MsgType");
    assert_eq!(got.field_count(), want.field_count(), "{what}: field count");
    assert_eq!(got.body(), want.body(), "{what}: body");
    assert!(got.fields().eq(want.fields()), "{what}: fields");
    let present = want.fields().map(|(t, _)| t);
    let direct = if every_tag {
        0..DIRECT_TAGS as u32 + 1
    } else {
        0..0
    };
    for t in direct.chain(FAR_TAGS).chain(present) {
        assert_eq!(got.get(t), want.get(t), "{what}: get({t})");
    }
    assert_eq!(got.seq_num(), want.seq_num(), "{what}: MsgSeqNum");
    assert_eq!(got.poss_dup(), want.poss_dup(), "{what}: PossDupFlag");
}

/// `msg` is what was decoded, shown (SOH as '|') when the results differ.
fn same_result(
    what: &str,
    msg: &[u8],
    got: &Result<FixMessage<'_>, FixError>,
    want: &Result<FixMessage<'_>, FixError>,
    every_tag: bool,
) {
    match (got, want) {
        (Ok(g), Ok(w)) => same_view(what, g, w, every_tag),
        (Err(g), Err(w)) => assert_eq!(g, w, "{what}: error on {:?}", Masked(msg)),
        _ => panic!(
            "{what}: got {:?}, want {:?} on {:?}",
            got.as_ref().err(),
            want.as_ref().err(),
            Masked(msg)
        ),
    }
}

/// What the plain parser's view promises on its own: `get(t)` is the first
/// field with tag `t`, and MsgType is the first body field.
fn plain_view_consistent(msg: &FixMessage<'_>) {
    let fields: Vec<(u32, &[u8])> = msg.fields().collect();
    assert_eq!(fields.len(), msg.field_count());
    for (t, _) in &fields {
        let first = fields.iter().find(|(u, _)| u == t).map(|(_, v)| *v);
        assert_eq!(msg.get(*t), first, "get({t}) is not the first field");
    }
    assert_eq!(msg.get(35), Some(msg.msg_type()));
}

/// One run's decoder and the view it keeps across messages.
struct Run<'a> {
    decoder: FixDecoder,
    kept: FixMessage<'a>,
    plain_kept: FixMessage<'a>,
}

impl<'a> Run<'a> {
    fn message(&mut self, msg: &'a [u8], in_place_checked: bool) {
        let plain = FixMessage::parse(msg);
        let checked = FixMessage::new_checked(msg);
        // `new_checked` is `parse` plus `check_header`.
        match &plain {
            Ok(p) => {
                plain_view_consistent(p);
                let header = p.check_header().map(|()| p.clone());
                same_result(
                    "new_checked vs parse + check_header",
                    msg,
                    &checked,
                    &header,
                    false,
                );
            }
            Err(e) => assert_eq!(checked.as_ref().err(), Some(e), "new_checked vs parse"),
        }
        // The plain in-place form fills the same view.
        let r = self.plain_kept.reparse(msg);
        assert_eq!(
            r.err(),
            plain.as_ref().err().copied(),
            "FixMessage::reparse"
        );
        if let Ok(p) = &plain {
            same_view("FixMessage::reparse", &self.plain_kept, p, true);
        }

        let got = self.decoder.parse(msg);
        same_result("FixDecoder::parse", msg, &got, &plain, true);
        let got = self.decoder.new_checked(msg);
        same_result("FixDecoder::new_checked", msg, &got, &checked, true);

        let want = if in_place_checked { &checked } else { &plain };
        let r = self.decoder.reparse(&mut self.kept, msg, in_place_checked);
        match want {
            Ok(w) => {
                assert_eq!(r, Ok(()), "FixDecoder::reparse");
                same_view("FixDecoder::reparse", &self.kept, w, true);
            }
            Err(e) => {
                assert_eq!(r, Err(*e), "FixDecoder::reparse");
                // Documented: on error the view is left empty.
                assert_eq!(self.kept.field_count(), 0);
                assert_eq!(self.kept.fields().count(), 0);
                for t in (0..DIRECT_TAGS as u32 + 1).chain(FAR_TAGS) {
                    assert_eq!(self.kept.get(t), None, "emptied view answers get({t})");
                }
            }
        }
    }
}

/// The framer on a stream: every answer stays inside the buffer and makes
/// progress; gives the complete frames.
fn frames(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        match find_frame(rest) {
            FrameStatus::Complete(n) => {
                assert!(n > 0 && n <= rest.len(), "Complete({n}) of {}", rest.len());
                out.push(&rest[..n]);
                rest = &rest[n..];
            }
            FrameStatus::Garbage(n) => {
                assert!(n > 0 && n <= rest.len(), "Garbage({n}) of {}", rest.len());
                rest = &rest[n..];
            }
            FrameStatus::Incomplete => return out,
        }
    }
}

/// Valid messages of several layouts, built once.
fn templates() -> &'static [Vec<u8>] {
    static TEMPLATES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        let t0 = UtcTime(1_700_000_000_250_000_000);
        let report = ExecutionReport {
            order_id: b"V-1",
            cl_ord_id: Some(b"100001"),
            orig_cl_ord_id: None,
            exec_id: b"E-9",
            exec_ref_id: None,
            exec_type: ExecType::Trade,
            ord_status: OrdStatus::PartiallyFilled,
            symbol: b"AAPL",
            side: Side::Sell,
            order_qty: Some(300),
            price: Some(Price(1_912_500)),
            last_qty: Some(100),
            last_px: Some(Price(1_912_400)),
            leaves_qty: 200,
            cum_qty: 100,
            avg_px: Price(1_912_400),
            transact_time: Some(t0),
            text: None,
        };
        // An acknowledgement and a cancel: other layouts of MsgType 8, more
        // than the decoder keeps per MsgType.
        let ack = ExecutionReport {
            exec_type: ExecType::New,
            ord_status: OrdStatus::New,
            last_qty: None,
            last_px: None,
            leaves_qty: 300,
            cum_qty: 0,
            avg_px: Price(0),
            ..report
        };
        let cancel = ExecutionReport {
            exec_type: ExecType::Canceled,
            ord_status: OrdStatus::Canceled,
            orig_cl_ord_id: Some(b"100000"),
            text: Some(b"user cancel"),
            ..ack
        };
        let order = NewOrderSingle {
            cl_ord_id: b"100001",
            account: Some(b"ACC1"),
            symbol: b"AAPL",
            side: Side::Buy,
            order_qty: 300,
            ord_type: OrdType::Limit,
            price: Some(Price(1_912_500)),
            time_in_force: TimeInForce::Day,
            transact_time: t0,
        };
        let logon = Logon {
            heart_bt_int: 30,
            reset_seq_num: true,
            username: Some(b"user"),
            password: Some(b"secret"),
        };
        let mut out = Vec::new();
        for version in [FixVersion::Fix44, FixVersion::Fix42] {
            let mut h = HeaderTemplate::new(version, b"VENUE", b"CLIENT").expect("CompIDs");
            let mut buf = [0u8; 512];
            let mut seq = 1;
            let mut push = |m: Result<&[u8], FixError>| {
                out.push(m.expect("template encodes").to_vec());
            };
            push(encode(&mut h, &mut buf, seq, t0, &report));
            seq += 1;
            push(encode(&mut h, &mut buf, seq, t0, &ack));
            seq += 1;
            push(encode(&mut h, &mut buf, seq, t0, &cancel));
            seq += 1;
            push(encode(&mut h, &mut buf, seq, t0, &order));
            seq += 1;
            push(encode(&mut h, &mut buf, seq, t0, &logon));
            seq += 1;
            push(encode(
                &mut h,
                &mut buf,
                seq,
                t0,
                &Heartbeat {
                    test_req_id: Some(b"T1"),
                },
            ));
            seq += 1;
            push(encode(
                &mut h,
                &mut buf,
                seq,
                t0,
                &Heartbeat { test_req_id: None },
            ));
            seq += 1;
            // Data fields whose values hold SOHs and things that look like
            // fields (their lengths say where they end), one in the
            // trailer's place, and a repeating group: edits of these reach
            // the length and repetition checks.
            let mut m = h.begin(&mut buf, b"B", seq, t0).expect("header");
            m.str(tag::TEXT, b"headline");
            m.data(tag::RAW_DATA_LENGTH, b"a\x01b=\x0158=c\x01");
            m.data(tag::XML_DATA_LEN, b"<x>\x0110=000\x01</x>");
            m.str(tag::CL_ORD_ID, b"after");
            m.data(tag::SIGNATURE_LENGTH, b"\x01\x01");
            push(m.finish());
            seq += 1;
            let mut m = h.begin(&mut buf, b"r", seq, t0).expect("header");
            m.str(tag::ORDER_ID, b"O1");
            m.uint(tag::NO_AFFECTED_ORDERS, 2);
            m.str(tag::ORIG_CL_ORD_ID, b"A");
            m.str(tag::AFFECTED_ORDER_ID, b"X1");
            m.str(tag::ORIG_CL_ORD_ID, b"B");
            m.str(tag::TEXT, b"done");
            push(m.finish());
        }
        out
    })
}

/// Where a valid message's body starts (after the BodyLength field's SOH)
/// and ends (before "10=").
fn body_range(msg: &[u8]) -> (usize, usize) {
    let mut sohs = msg.iter().enumerate().filter(|(_, b)| **b == SOH);
    let start = sohs.nth(1).map_or(0, |(i, _)| i + 1);
    (start, msg.len() - 7)
}

/// `begin` (the "8=...<SOH>" field), then BodyLength, `body` and the
/// CheckSum, recomputed.
fn seal(begin: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = begin.to_vec();
    out.extend_from_slice(format!("9={}\x01", body.len()).as_bytes());
    out.extend_from_slice(body);
    let sum = out.iter().fold(0u8, |s, b| s.wrapping_add(*b));
    out.extend_from_slice(format!("10={sum:03}\x01").as_bytes());
    out
}

/// Bytes that make near-miss FIX syntax: SOH, '=', digits.
const ALPHABET: &[u8] = b"\x01=0123456789A";

/// Applies edits `[op, at, byte]` to `bytes`: overwrite, insert or delete
/// one byte at `at` (scaled to the length), the byte raw or from
/// [`ALPHABET`].
fn edit(bytes: &mut Vec<u8>, edits: &[u8]) {
    for e in edits.chunks_exact(3) {
        let (op, at, b) = (e[0], e[1], e[2]);
        let len = bytes.len();
        let at = usize::from(at) * (len + 1) / 256;
        let sym = ALPHABET[usize::from(b) % ALPHABET.len()];
        match op % 5 {
            0 if at < len => bytes[at] = b,
            1 if at < len => bytes[at] = sym,
            2 => bytes.insert(at, b),
            3 => bytes.insert(at, sym),
            4 if at < len => {
                bytes.remove(at);
            }
            _ => {}
        }
    }
}

/// See the module documentation. The input is read three ways: as a stream
/// for the framer (each complete frame is a message), as one message, and
/// split at 0xFF into pieces whose first byte picks either "the rest is a
/// message" (< 0x40) or a template edited by the rest (bit 5: re-sealed),
/// fed between two copies of the template itself: the first teaches the
/// decoder its layout, the second must still decode the same afterwards.
/// (One more template, picked by the input's length, leads the stream; not
/// all of them: each message costs hundreds of compared lookups, and under
/// the sanitizer that is most of a run's time.)
/// Gives the decoder's `layout_hits` (for the test that checks learned
/// layouts are actually exercised).
pub fn run(data: &[u8]) -> (u64, u64) {
    let templates = templates();
    let mut messages = vec![
        templates[data.len() % templates.len()].clone(),
        data.to_vec(),
    ];
    for piece in data.split(|&b| b == 0xFF) {
        let Some((&sel, rest)) = piece.split_first() else {
            continue;
        };
        if sel < 0x40 {
            messages.push(rest.to_vec());
            continue;
        }
        let template = &templates[usize::from(sel) % templates.len()];
        messages.push(template.clone());
        if sel & 0x20 != 0 {
            let (start, end) = body_range(template);
            let mut body = template[start..end].to_vec();
            edit(&mut body, rest);
            let begin_end = template.iter().position(|&b| b == SOH).map_or(0, |i| i + 1);
            messages.push(seal(&template[..begin_end], &body));
        } else {
            let mut m = template.clone();
            edit(&mut m, rest);
            messages.push(m);
        }
        messages.push(template.clone());
    }

    let mut run = Run {
        decoder: FixDecoder::new(),
        kept: FixMessage::empty(),
        plain_kept: FixMessage::empty(),
    };
    for (i, m) in messages.iter().enumerate() {
        run.message(m, i % 2 == 0);
    }
    for frame in frames(data) {
        run.message(frame, true);
    }
    run.decoder.layout_hits()
}
