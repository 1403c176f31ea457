//! Between the OMS and FIX: order messages out, execution reports in.
//!
//! [`send_outbound`] renders an [`Outbound`] as the FIX message body the
//! session sends (NewOrderSingle, OrderCancelRequest or
//! OrderCancelReplaceRequest) with the OMS's 12-character ClOrdIDs;
//! [`exec_report`] turns a venue's ExecutionReport (4.2 or 4.4) into the
//! OMS's [`ExecReport`] (busts and corrections too: ExecType H/G, in FIX
//! 4.2 ExecTransType 1/2, with ExecID and ExecRefID as [`ExecKey`]s), and
//! [`cancel_reject`] an OrderCancelReject (the
//! venue refusing a cancel or a replace: without it the order would wait
//! in pending-cancel for good). ClOrdIDs that are not ours come back as
//! `None`, so the OMS counts them instead of guessing.

use crate::oms::{ClOrdId, ExecKey, ExecReport, ExecType, OrderState, Outbound};
use protocol::fix::messages::{
    self as fixmsg, FixBody, MassCancelScope, NewOrderSingle, OrdType, OrderCancelReplaceRequest,
    OrderCancelRequest, OrderMassCancelRequest,
};
use protocol::fix::{FixError, UtcTime};
use types::{Nanos, Price, Symbol};

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
        Outbound::MassCancel { cl_ord_id, .. } => {
            let id = cl_ord_id.encode();
            sender.send(&OrderMassCancelRequest {
                cl_ord_id: &id,
                scope: MassCancelScope::All,
                symbol: None,
                side: None,
                transact_time,
            })
        }
    }
}

/// A venue's answer to our OrderMassCancelRequest (its
/// OrderMassCancelReport).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MassCancelAnswer {
    /// The request's ClOrdID; `None` when the report names none of ours.
    pub cl_ord_id: Option<ClOrdId>,
    /// MassCancelResponse(531) other than 0: the venue cancels the orders
    /// (their own execution reports say which).
    pub accepted: bool,
    /// TotalAffectedOrders(533), or the group's length without it.
    pub affected: u32,
}

/// The pipeline's view of an OrderMassCancelReport.
pub fn mass_cancel_answer(r: &fixmsg::OrderMassCancelReport<'_>) -> MassCancelAnswer {
    MassCancelAnswer {
        cl_ord_id: r.cl_ord_id.and_then(ClOrdId::parse),
        accepted: r.response != b'0',
        affected: r
            .total_affected_orders
            .unwrap_or(r.affected_count.min(u32::MAX as usize) as u32),
    }
}

/// The OMS's view of a venue's ExecutionReport.
pub fn exec_report(r: &fixmsg::ExecutionReport<'_>) -> Result<ExecReport, FixError> {
    let exec_type = match r.exec_type {
        fixmsg::ExecType::PendingNew => ExecType::PendingNew,
        fixmsg::ExecType::New => ExecType::New,
        fixmsg::ExecType::Trade => ExecType::Trade,
        fixmsg::ExecType::TradeCancel => ExecType::TradeCancel,
        fixmsg::ExecType::TradeCorrect => ExecType::TradeCorrect,
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
        exec_id: ExecKey::of(r.exec_id),
        exec_ref_id: r.exec_ref_id.and_then(ExecKey::of),
        side: Some(r.side),
        symbol: core::str::from_utf8(r.symbol)
            .ok()
            .filter(|s| !s.is_empty())
            .and_then(Symbol::new),
        venue: None,
    })
}

/// The OMS's view of a venue's OrderCancelReject: a `CancelRejected` or
/// `ReplaceRejected` report for the request's own ClOrdID.
pub fn cancel_reject(r: &fixmsg::OrderCancelReject<'_>) -> ExecReport {
    let exec_type = match r.response_to {
        fixmsg::CxlRejResponseTo::Cancel => ExecType::CancelRejected,
        fixmsg::CxlRejResponseTo::Replace => ExecType::ReplaceRejected,
    };
    // Every other field empty, as `ExecReport::new` leaves them (its id is
    // replaced: a reject's ClOrdID may not be ours).
    ExecReport {
        cl_ord_id: ClOrdId::parse(r.cl_ord_id),
        orig_cl_ord_id: ClOrdId::parse(r.orig_cl_ord_id),
        ..ExecReport::new(ClOrdId(0), exec_type)
    }
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
    fn a_mass_cancel_asks_for_every_order_and_its_report_maps_back() {
        let cl = ClOrdId::new(3, 42);
        let mut enc = Encoder(Vec::new());
        let out = Outbound::MassCancel {
            cl_ord_id: cl,
            venue: VenueId(2),
        };
        assert_eq!(out.venue(), VenueId(2));
        send_outbound(&out, UtcTime(1_700_000_000_000_000_000), &mut enc);
        let m = FixMessage::parse(&enc.0[0]).unwrap();
        let q = fixmsg::OrderMassCancelRequest::parse(&m).unwrap();
        assert_eq!(ClOrdId::parse(q.cl_ord_id), Some(cl));
        assert_eq!(
            (q.scope, q.symbol, q.side),
            (MassCancelScope::All, None, None)
        );

        let text = cl.encode();
        let mut report = fixmsg::OrderMassCancelReport {
            cl_ord_id: Some(&text),
            order_id: b"m1",
            scope: MassCancelScope::All,
            response: b'7',
            reject_reason: None,
            total_affected_orders: Some(3),
            affected: [None; fixmsg::MAX_AFFECTED_ORDERS],
            affected_count: 0,
        };
        let answer = |r: &fixmsg::OrderMassCancelReport<'_>| {
            let mut enc = Encoder(Vec::new());
            enc.send(r);
            let m = FixMessage::parse(&enc.0[0]).unwrap();
            mass_cancel_answer(&fixmsg::OrderMassCancelReport::parse(&m).unwrap())
        };
        assert_eq!(
            answer(&report),
            MassCancelAnswer {
                cl_ord_id: Some(cl),
                accepted: true,
                affected: 3
            }
        );
        // Refused (531=0), with the affected orders counted from the group.
        report.response = b'0';
        report.reject_reason = Some(1);
        report.total_affected_orders = None;
        report.affected[0] = Some(fixmsg::AffectedOrder {
            orig_cl_ord_id: b"x",
            affected_order_id: None,
        });
        assert_eq!(
            answer(&report),
            MassCancelAnswer {
                cl_ord_id: Some(cl),
                accepted: false,
                affected: 1
            }
        );
        // A ClOrdID that is not ours.
        report.cl_ord_id = Some(b"someone");
        assert_eq!(answer(&report).cl_ord_id, None);
    }

    #[test]
    fn execution_reports_map_for_the_oms() {
        let cl = ClOrdId::new(3, 41).encode();
        let report = fixmsg::ExecutionReport {
            order_id: b"77",
            cl_ord_id: Some(&cl),
            orig_cl_ord_id: Some(b"not-ours"),
            exec_id: b"9",
            exec_ref_id: None,
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

    #[test]
    fn cancel_rejects_map_to_the_request_they_answer() {
        let request = ClOrdId::new(3, 42).encode();
        let order = ClOrdId::new(3, 41).encode();
        for (to, exec_type) in [
            (fixmsg::CxlRejResponseTo::Cancel, ExecType::CancelRejected),
            (fixmsg::CxlRejResponseTo::Replace, ExecType::ReplaceRejected),
        ] {
            let reject = fixmsg::OrderCancelReject {
                order_id: b"77",
                cl_ord_id: &request,
                orig_cl_ord_id: &order,
                ord_status: fixmsg::OrdStatus::New,
                response_to: to,
                reason: Some(1),
                text: Some(b"unknown order"),
            };
            let r = cancel_reject(&reject);
            assert_eq!(r.exec_type, exec_type);
            assert_eq!(r.cl_ord_id, Some(ClOrdId::new(3, 42)));
            assert_eq!(r.orig_cl_ord_id, Some(ClOrdId::new(3, 41)));
        }
    }

    /// A venue ExecutionReport of `exec_type` as bytes on the wire in
    /// `version`, parsed back as the session would hand it over.
    fn wire(
        version: protocol::fix::FixVersion,
        exec_type: fixmsg::ExecType,
        exec_id: &[u8],
        exec_ref_id: Option<&[u8]>,
        (last_qty, last_px, cum, leaves): (u32, i64, u32, u32),
        cl: &[u8],
    ) -> Vec<u8> {
        let body = fixmsg::ExecutionReport {
            order_id: b"V-77",
            cl_ord_id: Some(cl),
            orig_cl_ord_id: None,
            exec_id,
            exec_ref_id,
            exec_type,
            ord_status: if leaves > 0 {
                fixmsg::OrdStatus::PartiallyFilled
            } else {
                fixmsg::OrdStatus::Filled
            },
            symbol: b"AAA",
            side: Side::Buy,
            order_qty: Some(100),
            price: Some(Price(100_0000)),
            last_qty: Some(last_qty),
            last_px: Some(Price(last_px)),
            leaves_qty: leaves,
            cum_qty: cum,
            avg_px: Price(last_px),
            transact_time: Some(UtcTime(1_700_000_000_000_000_000)),
            text: None,
        };
        let mut header = HeaderTemplate::new(version, b"EXCH", b"APPL").unwrap();
        let mut buf = [0u8; 1024];
        protocol::fix::messages::encode(&mut header, &mut buf, 9, UtcTime(1), &body)
            .unwrap()
            .to_vec()
    }

    fn decoded(bytes: &[u8]) -> ExecReport {
        let m = FixMessage::parse(bytes).unwrap();
        exec_report(&fixmsg::ExecutionReport::parse(&m).unwrap()).unwrap()
    }

    /// A small OMS and risk with no limits, and a Day buy of 100 AAA at
    /// 100.0000 (with its price) to submit to them.
    fn an_oms_and_a_buy() -> (crate::oms::Oms, risk::RiskEngine, Price, types::OrderIntent) {
        use crate::oms::{Oms, OmsConfig};
        use risk::{Capacity, Limits, RiskEngine};
        let oms = Oms::new(OmsConfig {
            orders: 16,
            symbols: 16,
            last_epoch: 0,
        })
        .unwrap();
        let risk = RiskEngine::new(
            Capacity {
                symbols: 16,
                orders: 64,
                duplicate_slots: 64,
            },
            Limits::unlimited(),
        )
        .unwrap();
        let px = Price(100_0000);
        let new = types::OrderIntent::New {
            strategy: types::StrategyId(1),
            locate: 1,
            symbol: Symbol::new("AAA").unwrap(),
            side: Side::Buy,
            price: px,
            qty: 100,
            tif: TimeInForce::Day,
        };
        (oms, risk, px, new)
    }

    /// FIX 4.2 says bust / correct with ExecTransType 1 / 2 (ExecType as a
    /// trade's), FIX 4.4 with ExecType H / G; both reach the OMS as the
    /// same reports, ExecID and ExecRefID included, and move its books.
    #[test]
    fn busts_and_corrections_map_from_the_wire_in_both_versions() {
        use protocol::fix::FixVersion;
        use types::OrderEvent;
        for (version, cancel_text, correct_text) in [
            (
                FixVersion::Fix42,
                &b"\x0120=1\x01"[..],
                &b"\x0120=2\x01"[..],
            ),
            (
                FixVersion::Fix44,
                &b"\x01150=H\x01"[..],
                &b"\x01150=G\x01"[..],
            ),
        ] {
            let (mut oms, mut risk, px, new) = an_oms_and_a_buy();
            let Ok(Outbound::New { cl_ord_id, .. }) =
                oms.submit(&new, VenueId(1), Some(px), &mut risk, Nanos(1))
            else {
                panic!("new order refused")
            };
            let cl = cl_ord_id.encode();
            let fill = wire(
                version,
                fixmsg::ExecType::Trade,
                b"EX-1",
                None,
                (60, 100_0000, 60, 40),
                &cl,
            );
            let r = decoded(&fill);
            assert_eq!(
                (r.exec_type, r.exec_id, r.exec_ref_id),
                (ExecType::Trade, ExecKey::of(b"EX-1"), None)
            );
            // What a fill of a forgotten order is applied by.
            assert_eq!((r.side, r.symbol), (Some(Side::Buy), Symbol::new("AAA")));
            oms.on_exec_report(&r, Nanos(2), &mut risk);
            assert_eq!(risk.position(1), 60);

            // Corrected to 50 at 99.9900.
            let correct = wire(
                version,
                fixmsg::ExecType::TradeCorrect,
                b"EX-2",
                Some(b"EX-1"),
                (50, 99_9900, 50, 40),
                &cl,
            );
            assert!(correct
                .windows(correct_text.len())
                .any(|w| w == correct_text));
            assert!(correct.windows(9).any(|w| w == b"\x0119=EX-1\x01"));
            let r = decoded(&correct);
            assert_eq!(r.exec_type, ExecType::TradeCorrect);
            assert_eq!(
                (r.exec_id, r.exec_ref_id, r.last_qty, r.last_px),
                (
                    ExecKey::of(b"EX-2"),
                    ExecKey::of(b"EX-1"),
                    50,
                    Price(99_9900)
                )
            );
            assert!(matches!(
                oms.on_exec_report(&r, Nanos(3), &mut risk),
                Some(OrderEvent::FillAdjusted {
                    was_qty: 60,
                    qty: 50,
                    leaves: 40,
                    ..
                })
            ));
            let p = *oms.position(1).unwrap();
            assert_eq!((p.qty, p.cost), (50, 50 * 99_9900));
            assert_eq!(risk.position(1), 50);

            // Busted (named by the correction's ExecID).
            let bust = wire(
                version,
                fixmsg::ExecType::TradeCancel,
                b"EX-3",
                Some(b"EX-2"),
                (50, 99_9900, 0, 40),
                &cl,
            );
            assert!(bust.windows(cancel_text.len()).any(|w| w == cancel_text));
            let r = decoded(&bust);
            assert_eq!(r.exec_type, ExecType::TradeCancel);
            assert_eq!(r.exec_ref_id, ExecKey::of(b"EX-2"));
            assert!(oms.on_exec_report(&r, Nanos(4), &mut risk).is_some());
            // Its repeat changes nothing.
            assert_eq!(
                oms.on_exec_report(&decoded(&bust), Nanos(5), &mut risk),
                None
            );
            let p = *oms.position(1).unwrap();
            assert_eq!((p.qty, p.cost, oms.realized_pnl()), (0, 0, 0));
            assert_eq!(risk.position(1), 0);
            let stats = oms.stats();
            assert_eq!(
                (
                    stats.busts,
                    stats.corrections,
                    stats.duplicate_adjustments,
                    stats.ignored
                ),
                (1, 1, 1, 0)
            );
        }
    }

    /// The race a kill or the close meets: a replace in flight renames the
    /// order at the venue, so a cancel naming the old ClOrdID is refused.
    /// Told of the refusal, risk hands the kill's sweep the order again,
    /// and the next cancel names the replaced order.
    #[test]
    fn a_refused_kill_cancel_is_sent_again_under_the_replaced_id() {
        use risk::TripCause;
        use types::{OrderId, OrderIntent, StrategyId};
        let (mut oms, mut risk, px, new) = an_oms_and_a_buy();
        let Ok(Outbound::New {
            order, cl_ord_id, ..
        }) = oms.submit(&new, VenueId(1), Some(px), &mut risk, Nanos(1))
        else {
            panic!("new order refused")
        };
        oms.on_exec_report(
            &ExecReport::new(cl_ord_id, ExecType::New),
            Nanos(2),
            &mut risk,
        );
        let replace = OrderIntent::Replace {
            strategy: StrategyId(1),
            order,
            price: Price(100_0100),
            qty: 100,
        };
        let Ok(Outbound::Replace {
            cl_ord_id: renamed, ..
        }) = oms.submit(&replace, VenueId(1), Some(px), &mut risk, Nanos(3))
        else {
            panic!("replace refused")
        };
        risk.trip(TripCause::Manual);
        let mut cancels = [OrderIntent::Cancel {
            strategy: StrategyId(0),
            order: OrderId(0),
        }; 4];
        assert_eq!(risk.kill_cancels(&mut cancels), 1);
        let Ok(Outbound::Cancel {
            cl_ord_id: first,
            orig_cl_ord_id,
            ..
        }) = oms.submit(&cancels[0], VenueId(1), None, &mut risk, Nanos(4))
        else {
            panic!("cancel refused")
        };
        assert_eq!(
            orig_cl_ord_id, cl_ord_id,
            "names the order as last acknowledged"
        );
        // The venue had the replace first: Replaced, then the cancel refused.
        let mut replaced = ExecReport::new(renamed, ExecType::Replaced);
        replaced.orig_cl_ord_id = Some(cl_ord_id);
        replaced.price = Price(100_0100);
        replaced.order_qty = 100;
        replaced.leaves_qty = 100;
        oms.on_exec_report(&replaced, Nanos(5), &mut risk);
        let (first_text, orig_text) = (first.encode(), cl_ord_id.encode());
        let refusal = fixmsg::OrderCancelReject {
            order_id: b"77",
            cl_ord_id: &first_text,
            orig_cl_ord_id: &orig_text,
            ord_status: fixmsg::OrdStatus::Replaced,
            response_to: fixmsg::CxlRejResponseTo::Cancel,
            reason: Some(1),
            text: None,
        };
        oms.on_exec_report(&cancel_reject(&refusal), Nanos(6), &mut risk);
        assert_eq!(
            risk.kill_cancels(&mut cancels),
            1,
            "the order is swept again"
        );
        let Ok(Outbound::Cancel { orig_cl_ord_id, .. }) =
            oms.submit(&cancels[0], VenueId(1), None, &mut risk, Nanos(7))
        else {
            panic!("second cancel refused")
        };
        assert_eq!(orig_cl_ord_id, renamed);
    }
}
