//! The NewOrderSingle of the encode benchmarks, shared by `benches/fix.rs`
//! and `benches/fix-peer` so that the peer comparison encodes the order the
//! codec's own target is set against.

use protocol::fix::messages::{NewOrderSingle, OrdType};
use protocol::fix::UtcTime;
use types::{Price, Side, TimeInForce};

/// A day limit order to buy 300 AAPL at 191.25, sent at `t`.
pub fn sample_new_order(t: UtcTime) -> NewOrderSingle<'static> {
    NewOrderSingle {
        cl_ord_id: b"1700000000000042",
        account: None,
        symbol: b"AAPL",
        side: Side::Buy,
        order_qty: 300,
        ord_type: OrdType::Limit,
        price: Some(Price(1_912_500)),
        time_in_force: TimeInForce::Day,
        transact_time: t,
    }
}
