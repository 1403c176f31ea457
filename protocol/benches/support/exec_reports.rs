//! Execution reports for the decode benchmarks (shared by `benches/fix.rs`,
//! `examples/fix_loop.rs` and `benches/fix-peer`).

use protocol::fix::encode::HeaderTemplate;
use protocol::fix::messages::{encode, ExecType, ExecutionReport, OrdStatus};
use protocol::fix::{FixVersion, UtcTime};
use types::{Price, Side};

pub const T0: u64 = 1_700_000_000_123_456_789;

fn report(
    exec_type: ExecType,
    ord_status: OrdStatus,
    last: Option<u32>,
    leaves: u32,
) -> ExecutionReport<'static> {
    ExecutionReport {
        order_id: b"V-000123456",
        cl_ord_id: Some(b"1700000000000042"),
        orig_cl_ord_id: None,
        exec_id: b"E-000987654",
        exec_ref_id: None,
        exec_type,
        ord_status,
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: Some(300),
        price: Some(Price(1_912_500)),
        last_qty: last,
        last_px: last.map(|_| Price(1_912_400)),
        leaves_qty: leaves,
        cum_qty: 300 - leaves,
        avg_px: Price(1_912_400),
        transact_time: Some(UtcTime(T0)),
        text: None,
    }
}

/// The benchmark's partial fill (100 of 300 filled).
pub fn partial_fill(version: FixVersion) -> Vec<u8> {
    mix(version).swap_remove(0)
}

/// What a venue sends for an order's life: the partial fill, then an
/// acknowledgement, a fill and a cancel acknowledgement (two field
/// layouts: with and without LastQty/LastPx), with consecutive MsgSeqNums.
pub fn mix(version: FixVersion) -> Vec<Vec<u8>> {
    let mut h = HeaderTemplate::new(version, b"VENUE", b"CLIENT").unwrap();
    let reports = [
        report(ExecType::Trade, OrdStatus::PartiallyFilled, Some(100), 200),
        report(ExecType::New, OrdStatus::New, None, 300),
        report(ExecType::Trade, OrdStatus::Filled, Some(200), 0),
        report(ExecType::Canceled, OrdStatus::Canceled, None, 0),
    ];
    reports
        .iter()
        .enumerate()
        .map(|(i, er)| {
            let mut buf = [0u8; 512];
            encode(&mut h, &mut buf, 4242 + i as u64, UtcTime(T0), er)
                .unwrap()
                .to_vec()
        })
        .collect()
}
