extern crate std;
use super::*;
use crate::fix::decode::FixMessage;
use crate::fix::frame::{find_frame, FrameStatus};
use proptest::prelude::*;
use std::vec::Vec;

const T0: UtcTime = UtcTime(1_700_000_000_250_000_000);
const VERSIONS: [FixVersion; 2] = [FixVersion::Fix42, FixVersion::Fix44];

fn enc<B: FixBody>(version: FixVersion, body: &B) -> Vec<u8> {
    let mut h = HeaderTemplate::new(version, b"CLIENT", b"VENUE").unwrap();
    let mut buf = [0u8; 1024];
    encode(&mut h, &mut buf, 17, T0, body).unwrap().to_vec()
}

fn nos() -> NewOrderSingle<'static> {
    NewOrderSingle {
        cl_ord_id: b"100001",
        account: Some(b"ACC1"),
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: 300,
        ord_type: OrdType::Limit,
        price: Some(Price(1_912_500)),
        time_in_force: TimeInForce::Day,
        transact_time: T0,
    }
}

fn exec(exec_type: ExecType, leaves: u32) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: b"V-1",
        cl_ord_id: Some(b"100001"),
        orig_cl_ord_id: None,
        exec_id: b"E-9",
        exec_ref_id: None,
        exec_type,
        ord_status: if leaves > 0 {
            OrdStatus::PartiallyFilled
        } else {
            OrdStatus::Filled
        },
        symbol: b"AAPL",
        side: Side::Sell,
        order_qty: Some(300),
        price: Some(Price(1_912_500)),
        last_qty: Some(100),
        last_px: Some(Price(1_912_400)),
        leaves_qty: leaves,
        cum_qty: 300 - leaves,
        avg_px: Price(1_912_400),
        transact_time: Some(T0),
        text: None,
    }
}

macro_rules! round_trip {
    ($version:expr, $value:expr, $ty:ident) => {{
        let value = $value;
        let bytes = enc($version, &value);
        let msg = FixMessage::new_checked(&bytes).expect("valid");
        assert_eq!(msg.msg_type(), <$ty as FixBody>::MSG_TYPE);
        assert_eq!(msg.version(), $version);
        assert_eq!(msg.seq_num(), Some(17));
        let back = $ty::parse(&msg).expect("parses");
        assert_eq!(back, value, "{:?}", crate::fix::Masked(&bytes));
        bytes
    }};
}

#[test]
fn session_messages_round_trip() {
    for v in VERSIONS {
        let b = round_trip!(
            v,
            Logon {
                heart_bt_int: 30,
                reset_seq_num: true,
                username: Some(b"u"),
                password: Some(b"p")
            },
            Logon
        );
        assert!(std::format!(
            "{:?}",
            Logon::parse(&FixMessage::parse(&b).unwrap()).unwrap()
        )
        .contains("***"));
        round_trip!(
            v,
            Logon {
                heart_bt_int: 5,
                reset_seq_num: false,
                username: None,
                password: None
            },
            Logon
        );
        round_trip!(
            v,
            Heartbeat {
                test_req_id: Some(b"T1")
            },
            Heartbeat
        );
        round_trip!(v, Heartbeat { test_req_id: None }, Heartbeat);
        round_trip!(
            v,
            TestRequest {
                test_req_id: b"TEST-7"
            },
            TestRequest
        );
        round_trip!(
            v,
            ResendRequest {
                begin_seq_no: 3,
                end_seq_no: 0
            },
            ResendRequest
        );
        round_trip!(
            v,
            Reject {
                ref_seq_num: 4,
                ref_tag_id: Some(52),
                ref_msg_type: Some(b"D"),
                reason: Some(10),
                text: Some(b"late")
            },
            Reject
        );
        round_trip!(
            v,
            Reject {
                ref_seq_num: 4,
                ref_tag_id: None,
                ref_msg_type: None,
                reason: None,
                text: None
            },
            Reject
        );
        round_trip!(
            v,
            SequenceReset {
                gap_fill: true,
                new_seq_no: 9
            },
            SequenceReset
        );
        round_trip!(
            v,
            SequenceReset {
                gap_fill: false,
                new_seq_no: 1
            },
            SequenceReset
        );
        round_trip!(v, Logout { text: Some(b"bye") }, Logout);
        round_trip!(v, Logout { text: None }, Logout);
    }
}

#[test]
fn order_messages_round_trip() {
    for v in VERSIONS {
        round_trip!(v, nos(), NewOrderSingle);
        for tif in [TimeInForce::ImmediateOrCancel, TimeInForce::PostOnly] {
            round_trip!(
                v,
                NewOrderSingle {
                    time_in_force: tif,
                    account: None,
                    ..nos()
                },
                NewOrderSingle
            );
        }
        round_trip!(
            v,
            NewOrderSingle {
                ord_type: OrdType::Market,
                price: None,
                side: Side::Sell,
                ..nos()
            },
            NewOrderSingle
        );
        round_trip!(
            v,
            OrderCancelRequest {
                orig_cl_ord_id: b"100001",
                cl_ord_id: b"100002",
                order_id: Some(b"V-1"),
                symbol: b"AAPL",
                side: Side::Buy,
                order_qty: 300,
                transact_time: T0,
            },
            OrderCancelRequest
        );
        round_trip!(
            v,
            OrderCancelReplaceRequest {
                orig_cl_ord_id: b"100001",
                cl_ord_id: b"100003",
                order_id: None,
                symbol: b"AAPL",
                side: Side::Buy,
                order_qty: 200,
                ord_type: OrdType::Limit,
                price: Some(Price(1_913_000)),
                time_in_force: TimeInForce::Day,
                transact_time: T0,
            },
            OrderCancelReplaceRequest
        );
        for et in [
            ExecType::New,
            ExecType::Canceled,
            ExecType::Replaced,
            ExecType::Rejected,
            ExecType::PendingNew,
            ExecType::Expired,
        ] {
            round_trip!(v, exec(et, 300), ExecutionReport);
        }
        round_trip!(
            v,
            OrderCancelReject {
                order_id: b"V-1",
                cl_ord_id: b"100002",
                orig_cl_ord_id: b"100001",
                ord_status: OrdStatus::Filled,
                response_to: CxlRejResponseTo::Replace,
                reason: Some(0),
                text: Some(b"too late"),
            },
            OrderCancelReject
        );
        round_trip!(
            v,
            BusinessMessageReject {
                ref_seq_num: Some(5),
                ref_msg_type: b"D",
                business_reject_ref_id: Some(b"100001"),
                reason: 3,
                text: None,
            },
            BusinessMessageReject
        );
        round_trip!(
            v,
            OrderMassCancelRequest {
                cl_ord_id: b"MC1",
                scope: MassCancelScope::Security,
                symbol: Some(b"AAPL"),
                side: Some(Side::Sell),
                transact_time: T0,
            },
            OrderMassCancelRequest
        );
        round_trip!(
            v,
            OrderMassCancelRequest {
                cl_ord_id: b"MC2",
                scope: MassCancelScope::All,
                symbol: None,
                side: None,
                transact_time: T0
            },
            OrderMassCancelRequest
        );
        let mut affected = [None; MAX_AFFECTED_ORDERS];
        affected[0] = Some(AffectedOrder {
            orig_cl_ord_id: b"1",
            affected_order_id: Some(b"V-1"),
        });
        affected[1] = Some(AffectedOrder {
            orig_cl_ord_id: b"2",
            affected_order_id: None,
        });
        let report = OrderMassCancelReport {
            cl_ord_id: Some(b"MC1"),
            order_id: b"V-MC",
            scope: MassCancelScope::All,
            response: b'7',
            reject_reason: None,
            total_affected_orders: Some(2),
            affected,
            affected_count: 2,
        };
        round_trip!(v, report, OrderMassCancelReport);
        let empty = OrderMassCancelReport {
            affected: [None; MAX_AFFECTED_ORDERS],
            affected_count: 0,
            response: b'0',
            reject_reason: Some(1),
            ..report
        };
        let bytes = round_trip!(v, empty, OrderMassCancelReport);
        assert!(
            bytes.windows(6).any(|w| w == b"\x01534=0"),
            "count 0 is written"
        );
    }
}

#[test]
fn trade_exec_type_per_version() {
    // 4.2: ExecTransType present, fills are ExecType 1 (partial) / 2 (full).
    let partial = enc(FixVersion::Fix42, &exec(ExecType::Trade, 200));
    let m = FixMessage::new_checked(&partial).unwrap();
    assert_eq!(m.get(tag::EXEC_TRANS_TYPE), Some(&b"0"[..]));
    assert_eq!(m.get(tag::EXEC_TYPE), Some(&b"1"[..]));
    assert_eq!(
        ExecutionReport::parse(&m).unwrap(),
        exec(ExecType::Trade, 200)
    );
    let full = enc(FixVersion::Fix42, &exec(ExecType::Trade, 0));
    let m = FixMessage::new_checked(&full).unwrap();
    assert_eq!(m.get(tag::EXEC_TYPE), Some(&b"2"[..]));
    assert_eq!(
        ExecutionReport::parse(&m).unwrap().exec_type,
        ExecType::Trade
    );
    // 4.4: no ExecTransType, ExecType F.
    for leaves in [0, 200] {
        let b = enc(FixVersion::Fix44, &exec(ExecType::Trade, leaves));
        let m = FixMessage::new_checked(&b).unwrap();
        assert_eq!(m.get(tag::EXEC_TRANS_TYPE), None);
        assert_eq!(m.get(tag::EXEC_TYPE), Some(&b"F"[..]));
        assert_eq!(
            ExecutionReport::parse(&m).unwrap(),
            exec(ExecType::Trade, leaves)
        );
    }
}

#[test]
fn typed_parse_errors_name_the_tag() {
    let bytes = enc(FixVersion::Fix44, &nos());
    let text = std::string::String::from_utf8(bytes.clone()).unwrap();
    // Remove the Symbol field and re-wrap the body.
    let body_start = text.find("35=").unwrap();
    let body_end = text.rfind("10=").unwrap();
    let body = text[body_start..body_end].replace("55=AAPL\x01", "");
    let mut buf = [0u8; 512];
    let n = crate::fix::decode::tests::wrap(body.as_bytes(), &mut buf);
    let msg = FixMessage::new_checked(&buf[..n]).unwrap();
    assert_eq!(
        NewOrderSingle::parse(&msg),
        Err(FixError::MissingField(tag::SYMBOL))
    );
    let bad_side = text[body_start..body_end].replace("54=1", "54=9");
    let n = crate::fix::decode::tests::wrap(bad_side.as_bytes(), &mut buf);
    let msg = FixMessage::new_checked(&buf[..n]).unwrap();
    assert_eq!(
        NewOrderSingle::parse(&msg),
        Err(FixError::InvalidValue(tag::SIDE))
    );
    // Wrong type
    assert_eq!(
        ExecutionReport::parse(&msg),
        Err(FixError::InvalidValue(tag::MSG_TYPE))
    );
}

fn all_samples() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for v in VERSIONS {
        out.push(enc(v, &nos()));
        out.push(enc(v, &exec(ExecType::Trade, 100)));
        out.push(enc(
            v,
            &Logon {
                heart_bt_int: 30,
                reset_seq_num: false,
                username: Some(b"u"),
                password: Some(b"p"),
            },
        ));
        out.push(enc(
            v,
            &SequenceReset {
                gap_fill: true,
                new_seq_no: 9,
            },
        ));
    }
    out
}

fn exercise(bytes: &[u8]) {
    // framer on the raw stream
    let mut rest = bytes;
    for _ in 0..bytes.len() + 1 {
        match find_frame(rest) {
            FrameStatus::Complete(n) | FrameStatus::Garbage(n) => {
                assert!(n > 0 && n <= rest.len());
                rest = &rest[n..];
            }
            FrameStatus::Incomplete => break,
        }
    }
    if let Ok(msg) = FixMessage::parse(bytes) {
        let _ = msg.check_header();
        let _ = NewOrderSingle::parse(&msg);
        let _ = ExecutionReport::parse(&msg);
        let _ = Logon::parse(&msg);
        let _ = SequenceReset::parse(&msg);
        let _ = OrderMassCancelReport::parse(&msg);
        let _ = msg.group(tag::NO_AFFECTED_ORDERS, &AFFECTED_ORDERS_GROUP);
        for (t, v) in msg.fields() {
            assert!(t > 0 && !v.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        exercise(&bytes);
    }

    #[test]
    fn fix_like_bytes_never_panic(parts in proptest::collection::vec(
        prop_oneof![Just(&b"8=FIX.4.4\x01"[..]), Just(&b"9=12\x01"[..]), Just(&b"35=D\x01"[..]),
                    Just(&b"10=000\x01"[..]), Just(&b"\x01"[..]), Just(&b"="[..]), Just(&b"534=2\x01"[..]),
                    Just(&b"41=x\x01"[..]), Just(&b"34=1\x01"[..])], 0..20)) {
        let bytes: Vec<u8> = parts.concat();
        exercise(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(which in 0usize..8, edits in proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..6)) {
        let samples = all_samples();
        let mut bytes = samples[which % samples.len()].clone();
        for (pos, byte, op) in edits {
            if bytes.is_empty() { break; }
            let i = pos % bytes.len();
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        exercise(&bytes);
        // A mutation must never turn into a message that still validates
        // with a wrong checksum: whatever parses must have a correct one.
        if let Ok(m) = FixMessage::parse(&bytes) {
            let n = m.as_bytes().len();
            let sum = crate::fix::decode::checksum(&bytes[..n - 7]);
            let declared = crate::fix::decode::parse_uint(&bytes[n - 4..n - 1]).unwrap();
            prop_assert_eq!(sum as u64, declared);
        }
    }

    #[test]
    fn stream_split_anywhere_yields_same_frames(split in 0usize..400, junk in proptest::collection::vec(any::<u8>(), 0..10)) {
        let samples = all_samples();
        let mut stream: Vec<u8> = junk.into_iter().filter(|&b| b != b'8').collect();
        for s in &samples { stream.extend_from_slice(s); }
        let split = split % (stream.len() + 1);
        // Feed in two parts through a growing buffer, as a TCP reader would.
        let mut buf: Vec<u8> = Vec::new();
        let mut frames = 0;
        for chunk in [&stream[..split], &stream[split..]] {
            buf.extend_from_slice(chunk);
            loop {
                match find_frame(&buf) {
                    FrameStatus::Complete(n) => {
                        prop_assert!(FixMessage::new_checked(&buf[..n]).is_ok());
                        frames += 1;
                        buf.drain(..n);
                    }
                    FrameStatus::Garbage(n) => { buf.drain(..n); }
                    FrameStatus::Incomplete => break,
                }
            }
        }
        prop_assert_eq!(frames, samples.len());
    }
}

/// Builds `8=…|9=…|body|10=…|` around `body` (fields separated by SOH).
fn wrap(begin: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"8=");
    out.extend_from_slice(begin.as_bytes());
    out.extend_from_slice(std::format!("\x019={}\x01", body.len()).as_bytes());
    out.extend_from_slice(body);
    let sum = out.iter().fold(0u32, |a, &b| a + b as u32) % 256;
    out.extend_from_slice(std::format!("10={sum:03}\x01").as_bytes());
    out
}

/// An average price past four decimals (fills at 10 and 10.5) and a
/// sub-penny execution are venue values, not errors: the report parses
/// (rounded to price4) instead of being dropped with its fill.
#[test]
fn a_fill_with_a_long_average_price_is_not_lost() {
    let body = b"35=8\x0149=VENUE\x0156=CLIENT\x0134=5\x0152=20240102-14:30:00\x01\
37=V1\x0111=000000000001\x0117=E1\x01150=F\x0139=2\x0155=AAPL\x0154=1\x01\
32=1\x0131=10.50004\x01151=0\x0114=3\x016=10.166667\x01";
    let bytes = wrap("FIX.4.4", body);
    let msg = FixMessage::new_checked(&bytes).expect("valid");
    let er = ExecutionReport::parse(&msg).expect("parses");
    assert_eq!(er.avg_px, Price(10_1667));
    assert_eq!(er.last_px, Some(Price(10_5000)));
}

/// AffectedSecondaryOrderID(536) belongs to the NoAffectedOrders group.
#[test]
fn a_mass_cancel_report_with_secondary_ids_parses() {
    let body = b"35=r\x0149=VENUE\x0156=CLIENT\x0134=5\x0152=20240102-14:30:00\x01\
11=000000000009\x0137=M1\x01530=7\x01531=7\x01533=2\x01\
534=2\x0141=000000000001\x01535=X1\x01536=S1\x0141=000000000002\x01535=X2\x01536=S2\x01";
    let bytes = wrap("FIX.4.4", body);
    let msg = FixMessage::new_checked(&bytes).expect("valid");
    let report = OrderMassCancelReport::parse(&msg).expect("parses");
    assert_eq!(report.affected_count, 2);
    assert_eq!(report.affected.iter().flatten().count(), 2);
}

#[test]
fn busts_and_corrections_per_version() {
    for (exec_type, trans, type44) in [
        (ExecType::TradeCancel, &b"1"[..], &b"H"[..]),
        (ExecType::TradeCorrect, &b"2"[..], &b"G"[..]),
    ] {
        let report = ExecutionReport {
            exec_id: b"E-10",
            exec_ref_id: Some(b"E-9"),
            ..exec(exec_type, 200)
        };
        // 4.2: ExecTransType says it, ExecType is a trade's.
        let b = enc(FixVersion::Fix42, &report);
        let m = FixMessage::new_checked(&b).unwrap();
        assert_eq!(m.get(tag::EXEC_TRANS_TYPE), Some(trans));
        assert_eq!(m.get(tag::EXEC_TYPE), Some(&b"1"[..]));
        assert_eq!(m.get(tag::EXEC_REF_ID), Some(&b"E-9"[..]));
        assert_eq!(ExecutionReport::parse(&m).unwrap(), report);
        // 4.4: ExecType H / G.
        let b = enc(FixVersion::Fix44, &report);
        let m = FixMessage::new_checked(&b).unwrap();
        assert_eq!(m.get(tag::EXEC_TRANS_TYPE), None);
        assert_eq!(m.get(tag::EXEC_TYPE), Some(type44));
        assert_eq!(ExecutionReport::parse(&m).unwrap(), report);
    }
    // Any other ExecTransType is refused.
    let whole = fix42_with(&exec(ExecType::Trade, 0), "\x0120=0\x01", "\x0120=4\x01");
    let msg = FixMessage::new_checked(&whole).unwrap();
    assert_eq!(msg.version(), FixVersion::Fix42);
    assert_eq!(
        ExecutionReport::parse(&msg),
        Err(FixError::InvalidValue(tag::EXEC_TRANS_TYPE))
    );
}

/// `report` encoded as FIX 4.2 with the field `from` in its body replaced
/// by `to`, BodyLength and CheckSum made right again: a valid frame with a
/// value the encoder would not write.
fn fix42_with(report: &ExecutionReport<'_>, from: &str, to: &str) -> std::vec::Vec<u8> {
    let text = std::string::String::from_utf8(enc(FixVersion::Fix42, report)).unwrap();
    let body_start = text.find("35=").unwrap();
    let body_end = text.rfind("10=").unwrap();
    let body = text[body_start..body_end].replace(from, to);
    assert_ne!(body, text[body_start..body_end], "{from:?} is in the body");
    let mut whole = std::format!("8=FIX.4.2\x019={}\x01{body}", body.len());
    let sum = whole.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    whole.push_str(&std::format!("10={sum:03}\x01"));
    whole.into_bytes()
}

/// A status report: FIX 4.4 ExecType I; FIX 4.2 has no such ExecType, and
/// says it with ExecTransType Status (3) and the order's status as ExecType
/// (the encoder wrote `I` there before, which no 4.2 venue takes).
#[test]
fn status_reports_per_version() {
    for (ord_status, leaves, type42) in [
        (OrdStatus::PartiallyFilled, 200, &b"1"[..]),
        (OrdStatus::Filled, 0, &b"2"[..]),
    ] {
        let report = ExecutionReport {
            ord_status,
            ..exec(ExecType::OrderStatus, leaves)
        };
        let b = enc(FixVersion::Fix42, &report);
        let m = FixMessage::new_checked(&b).unwrap();
        assert_eq!(m.get(tag::EXEC_TRANS_TYPE), Some(&b"3"[..]));
        assert_eq!(m.get(tag::EXEC_TYPE), Some(type42));
        assert_eq!(ExecutionReport::parse(&m).unwrap(), report);
        let b = enc(FixVersion::Fix44, &report);
        let m = FixMessage::new_checked(&b).unwrap();
        assert_eq!(m.get(tag::EXEC_TYPE), Some(&b"I"[..]));
        assert_eq!(ExecutionReport::parse(&m).unwrap(), report);
    }
    // A 4.2 status whose ExecType is no OrdStatus is refused.
    let whole = fix42_with(
        &exec(ExecType::OrderStatus, 0),
        "\x01150=2\x01",
        "\x01150=Z\x01",
    );
    let msg = FixMessage::new_checked(&whole).unwrap();
    assert_eq!(
        ExecutionReport::parse(&msg),
        Err(FixError::InvalidValue(tag::EXEC_TYPE))
    );
}
