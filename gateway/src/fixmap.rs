//! Between the OMS and FIX: order messages out, execution reports in.
//!
//! [`write_outbound`] renders an [`Outbound`] as the FIX message body the
//! session sends (NewOrderSingle, OrderCancelRequest or
//! OrderCancelReplaceRequest) with the OMS's 12-character ClOrdIDs;
//! [`exec_report`] turns a venue's ExecutionReport (4.2 or 4.4) into the
//! OMS's [`ExecReport`]. ClOrdIDs that are not ours come back as `None`, so
//! the OMS counts them instead of guessing.

use crate::oms::{ClOrdId, ExecReport, ExecType, OrderState, Outbound};
use protocol::fix::messages::{
    self as fixmsg, FixBody, NewOrderSingle, OrdType, OrderCancelReplaceRequest, OrderCancelRequest,
};
use protocol::fix::{FixError, UtcTime};
use types::{Nanos, Price};

/// Sends one FIX body (typically through `Session::send` into a buffer).
pub trait FixSender {
    type Out;
    fn send<B: FixBody>(&mut self, body: &B) -> Self::Out;
}

/// Renders `out` as its FIX message and hands it to `sender`.
pub fn send_outbound<S: FixSender>(
    out: &Outbound,
    transact_time: UtcTime,
    sender: &mut S,
) -> S::Out {
    match *out {
        Outbound::New {
            cl_ord_id,
            symbol,
            side,
            price,
            qty,
            tif,
            ..
        } => {
            let id = cl_ord_id.encode();
            sender.send(&NewOrderSingle {
                cl_ord_id: &id,
                account: None,
                symbol: symbol.as_bytes(),
                side,
                order_qty: qty,
                ord_type: OrdType::Limit,
                price: Some(price),
                time_in_force: tif,
                transact_time,
            })
        }
        Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            symbol,
            side,
            qty,
            ..
        } => {
            let (id, orig) = (cl_ord_id.encode(), orig_cl_ord_id.encode());
            sender.send(&OrderCancelRequest {
                orig_cl_ord_id: &orig,
                cl_ord_id: &id,
                order_id: None,
                symbol: symbol.as_bytes(),
                side,
                order_qty: qty,
                transact_time,
            })
        }
        Outbound::Replace {
            cl_ord_id,
            orig_cl_ord_id,
            symbol,
            side,
            price,
            qty,
            tif,
            ..
        } => {
            let (id, orig) = (cl_ord_id.encode(), orig_cl_ord_id.encode());
            sender.send(&OrderCancelReplaceRequest {
                orig_cl_ord_id: &orig,
                cl_ord_id: &id,
                order_id: None,
                symbol: symbol.as_bytes(),
                side,
                order_qty: qty,
                ord_type: OrdType::Limit,
                price: Some(price),
                time_in_force: tif,
                transact_time,
            })
        }
    }
}

/// The OMS's view of a venue's ExecutionReport.
pub fn exec_report(r: &fixmsg::ExecutionReport<'_>) -> Result<ExecReport, FixError> {
    let exec_type = match r.exec_type {
        fixmsg::ExecType::PendingNew => ExecType::PendingNew,
        fixmsg::ExecType::New => ExecType::New,
        fixmsg::ExecType::Trade => ExecType::Trade,
        fixmsg::ExecType::PendingCancel => ExecType::PendingCancel,
        fixmsg::ExecType::Canceled => ExecType::Canceled,
        fixmsg::ExecType::PendingReplace => ExecType::PendingReplace,
        fixmsg::ExecType::Replaced => ExecType::Replaced,
        fixmsg::ExecType::Rejected => ExecType::Rejected,
        fixmsg::ExecType::Expired => ExecType::Expired,
        fixmsg::ExecType::DoneForDay => ExecType::DoneForDay,
        fixmsg::ExecType::OrderStatus => ExecType::Other,
    };
    let ord_status = Some(match r.ord_status {
        fixmsg::OrdStatus::New => OrderState::New,
        fixmsg::OrdStatus::PartiallyFilled => OrderState::PartiallyFilled,
        fixmsg::OrdStatus::Filled => OrderState::Filled,
        fixmsg::OrdStatus::Canceled | fixmsg::OrdStatus::DoneForDay => OrderState::Canceled,
        fixmsg::OrdStatus::Replaced => OrderState::Replaced,
        fixmsg::OrdStatus::PendingCancel => OrderState::PendingCancel,
        fixmsg::OrdStatus::Rejected => OrderState::Rejected,
        fixmsg::OrdStatus::PendingNew => OrderState::PendingNew,
        fixmsg::OrdStatus::Expired => OrderState::Expired,
        fixmsg::OrdStatus::PendingReplace => OrderState::PendingReplace,
    });
    Ok(ExecReport {
        cl_ord_id: r.cl_ord_id.and_then(ClOrdId::parse),
        orig_cl_ord_id: r.orig_cl_ord_id.and_then(ClOrdId::parse),
        exec_type,
        ord_status,
        last_qty: r.last_qty.unwrap_or(0),
        last_px: r.last_px.unwrap_or(Price::ZERO),
        leaves_qty: r.leaves_qty,
        cum_qty: r.cum_qty,
        price: r.price.unwrap_or(Price::ZERO),
        order_qty: r.order_qty.unwrap_or(0),
        transact_time: Nanos(r.transact_time.map_or(0, |t| t.0)),
    })
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use protocol::fix::{FixMessage, HeaderTemplate};
    use std::vec::Vec;
    use types::{Side, Symbol, TimeInForce, VenueId};

    /// Encodes with a plain header template, as a session would.
    struct Encoder(Vec<Vec<u8>>);

    impl FixSender for Encoder {
        type Out = ();
        fn send<B: FixBody>(&mut self, body: &B) {
            let mut header =
                HeaderTemplate::new(protocol::fix::FixVersion::Fix44, b"APPL", b"EXCH").unwrap();
            let mut buf = [0u8; 1024];
            let mut m = header
                .begin(&mut buf, B::MSG_TYPE, 7, UtcTime(1_700_000_000_000_000_000))
                .unwrap();
            body.write_body(&mut m, protocol::fix::FixVersion::Fix44);
            let (s, e) = m.finish_range().unwrap();
            self.0.push(buf[s..e].to_vec());
        }
    }

    #[test]
    fn outbound_orders_become_their_fix_messages() {
        let cl = ClOrdId::new(3, 41);
        let orig = ClOrdId::new(3, 40);
        let symbol = Symbol::new("AAA").unwrap();
        let mut enc = Encoder(Vec::new());
        let t = UtcTime(1_700_000_000_000_000_000);
        let new = Outbound::New {
            order: types::OrderId(orig.0),
            cl_ord_id: cl,
            venue: VenueId(1),
            locate: 1,
            symbol,
            side: Side::Buy,
            price: Price(100_0100),
            qty: 300,
            tif: TimeInForce::PostOnly,
        };
        send_outbound(&new, t, &mut enc);
        let cancel = Outbound::Cancel {
            order: types::OrderId(orig.0),
            cl_ord_id: cl,
            orig_cl_ord_id: orig,
            venue: VenueId(1),
            symbol,
            side: Side::Sell,
            qty: 200,
        };
        send_outbound(&cancel, t, &mut enc);
        let m = FixMessage::parse(&enc.0[0]).unwrap();
        let nos = NewOrderSingle::parse(&m).unwrap();
        assert_eq!(ClOrdId::parse(nos.cl_ord_id), Some(cl));
        assert_eq!(
            (nos.side, nos.order_qty, nos.price, nos.time_in_force),
            (Side::Buy, 300, Some(Price(100_0100)), TimeInForce::PostOnly)
        );
        assert_eq!(nos.symbol, b"AAA");
        let m = FixMessage::parse(&enc.0[1]).unwrap();
        let c = OrderCancelRequest::parse(&m).unwrap();
        assert_eq!(
            (
                ClOrdId::parse(c.cl_ord_id),
                ClOrdId::parse(c.orig_cl_ord_id)
            ),
            (Some(cl), Some(orig))
        );
    }

    #[test]
    fn execution_reports_map_for_the_oms() {
        let cl = ClOrdId::new(3, 41).encode();
        let report = fixmsg::ExecutionReport {
            order_id: b"77",
            cl_ord_id: Some(&cl),
            orig_cl_ord_id: Some(b"not-ours"),
            exec_id: b"9",
            exec_type: fixmsg::ExecType::Trade,
            ord_status: fixmsg::OrdStatus::PartiallyFilled,
            symbol: b"AAA",
            side: Side::Buy,
            order_qty: Some(300),
            price: Some(Price(100_0100)),
            last_qty: Some(100),
            last_px: Some(Price(100_0100)),
            leaves_qty: 200,
            cum_qty: 100,
            avg_px: Price(100_0100),
            transact_time: Some(UtcTime(5)),
            text: None,
        };
        let r = exec_report(&report).unwrap();
        assert_eq!(r.cl_ord_id, Some(ClOrdId::new(3, 41)));
        assert_eq!(
            r.orig_cl_ord_id, None,
            "a ClOrdID that is not ours maps to None"
        );
        assert_eq!(
            (r.exec_type, r.last_qty, r.leaves_qty, r.cum_qty),
            (ExecType::Trade, 100, 200, 100)
        );
        assert_eq!(r.ord_status, Some(OrderState::PartiallyFilled));
        assert_eq!(r.transact_time, Nanos(5));
    }
}
