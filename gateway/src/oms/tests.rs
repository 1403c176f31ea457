extern crate std;

use super::*;
use risk::{Capacity, Limits, TripCause};
use std::vec::Vec;

const SYM: StockLocate = 7;
/// $10.0000
const PX: Price = Price(100_000);

/// A day order for ACME (at `SYM`) from `strategy`.
fn acme(strategy: StrategyId, side: Side, price: Price, qty: u32) -> OrderIntent {
    OrderIntent::New {
        strategy,
        locate: SYM,
        symbol: Symbol::new("ACME").unwrap(),
        side,
        price,
        qty,
        tif: TimeInForce::Day,
    }
}

struct H {
    oms: Oms,
    risk: RiskEngine,
    now: u64,
}

impl H {
    fn new() -> H {
        H::with_limits(Limits::unlimited(), 64)
    }

    fn with_limits(limits: Limits, orders: usize) -> H {
        H {
            oms: Oms::new(OmsConfig {
                orders,
                symbols: 16,
                last_epoch: 41,
            })
            .unwrap(),
            risk: RiskEngine::new(
                Capacity {
                    symbols: 16,
                    orders: 256,
                    duplicate_slots: 256,
                },
                limits,
            )
            .unwrap(),
            now: 1_000,
        }
    }

    /// Whether risk holds `order` open: as the OMS names it to risk, and
    /// by a scan of risk's whole order table, which must agree.
    fn risk_open(&self, order: OrderId) -> bool {
        let by_ref = self
            .oms
            .risk_ref(order)
            .is_some_and(|held| self.risk.is_open(held));
        assert_eq!(
            by_ref,
            self.risk.holds_id(order),
            "risk holds {order:?} elsewhere"
        );
        by_ref
    }

    fn submit(&mut self, intent: OrderIntent) -> Result<Outbound, RejectReason> {
        self.now += 10;
        self.oms.submit(
            &intent,
            VenueId(1),
            Some(PX),
            &mut self.risk,
            Nanos(self.now),
        )
    }

    fn new_order(&mut self, side: Side, price: Price, qty: u32) -> (OrderId, ClOrdId) {
        match self.submit(acme(StrategyId(3), side, price, qty)) {
            Ok(Outbound::New {
                order, cl_ord_id, ..
            }) => (order, cl_ord_id),
            other => panic!("new order not sent: {other:?}"),
        }
    }

    fn report(&mut self, rep: ExecReport) -> Option<OrderEvent> {
        self.now += 10;
        self.oms
            .on_exec_report(&rep, Nanos(self.now), &mut self.risk)
    }

    fn ack(&mut self, cl: ClOrdId) -> Option<OrderEvent> {
        self.report(ExecReport::new(cl, ExecType::New))
    }

    fn fill(
        &mut self,
        cl: ClOrdId,
        last: u32,
        cum: u32,
        leaves: u32,
        px: Price,
    ) -> Option<OrderEvent> {
        let mut r = ExecReport::new(
            cl,
            if leaves == 0 {
                ExecType::Fill
            } else {
                ExecType::PartialFill
            },
        );
        r.last_qty = last;
        r.cum_qty = cum;
        r.leaves_qty = leaves;
        r.last_px = px;
        self.report(r)
    }

    /// The venue confirms the cancel `cancel` of the order named `orig`.
    fn canceled(&mut self, cancel: ClOrdId, orig: ClOrdId) -> Option<OrderEvent> {
        let mut done = ExecReport::new(cancel, ExecType::Canceled);
        done.orig_cl_ord_id = Some(orig);
        self.report(done)
    }

    fn cancel(&mut self, order: OrderId) -> ClOrdId {
        match self.submit(OrderIntent::Cancel {
            strategy: StrategyId(3),
            order,
        }) {
            Ok(Outbound::Cancel { cl_ord_id, .. }) => cl_ord_id,
            other => panic!("cancel not sent: {other:?}"),
        }
    }

    fn replace(&mut self, order: OrderId, price: Price, qty: u32) -> ClOrdId {
        match self.submit(OrderIntent::Replace {
            strategy: StrategyId(3),
            order,
            price,
            qty,
        }) {
            Ok(Outbound::Replace { cl_ord_id, .. }) => cl_ord_id,
            other => panic!("replace not sent: {other:?}"),
        }
    }
}

// ------------------------------------------------------------------ ClOrdID

#[test]
fn cl_ord_id_round_trips_and_is_fixed_width() {
    let id = ClOrdId::new(42, 1);
    let text = id.encode();
    assert_eq!(text.len(), CL_ORD_ID_LEN);
    assert_eq!(ClOrdId::parse(&text), Some(id));
    assert_eq!((id.epoch(), id.seq()), (42, 1));
    let max = ClOrdId::new(MAX_EPOCH, (1 << 42) - 1);
    assert_eq!(ClOrdId::parse(&max.encode()), Some(max));
    assert_eq!(&ClOrdId(0).encode(), b"000000000000");
}

/// Every message the OMS sends for an order carries the strategy's id in
/// its ClOrdID; ids stay distinct and increasing across strategies.
#[test]
fn each_cl_ord_id_names_the_strategy_it_was_sent_for() {
    let mut h = H::new();
    let (id, new) = h.new_order(Side::Buy, PX, 100);
    h.ack(new);
    let replace = h.replace(id, Price(100_100), 100);
    let cancel = h.cancel(id);
    for cl in [new, replace, cancel] {
        assert_eq!((cl.epoch(), cl.strategy()), (42, StrategyId(3)));
    }
    assert!(new < replace && replace < cancel);
    let other = h
        .submit(acme(StrategyId(63), Side::Buy, Price(PX.0 - 100), 10))
        .unwrap();
    let Outbound::New { cl_ord_id, .. } = other else {
        panic!("{other:?}")
    };
    assert_eq!(cl_ord_id.strategy(), StrategyId(63));
    assert!(cl_ord_id > cancel);
}

#[test]
fn cl_ord_ids_end_where_the_sequence_does() {
    let last = (1u64 << 36) - 1;
    let id = ClOrdId::issued(MAX_EPOCH, last, StrategyId(63)).unwrap();
    assert_eq!(ClOrdId::parse(&id.encode()), Some(id));
    assert_eq!((id.epoch(), id.strategy()), (MAX_EPOCH, StrategyId(63)));
    assert_eq!(ClOrdId::issued(1, last + 1, StrategyId(0)), None);
    assert_eq!(ClOrdId::issued(1, 1, StrategyId(64)), None);
    // A strategy no ClOrdID can name is refused; its limit is risk's.
    let mut h = H::new();
    let beyond = acme(StrategyId(64), Side::Buy, PX, 10);
    assert_eq!(h.submit(beyond), Err(RejectReason::InvalidOrder));
}

#[test]
fn cl_ord_id_refuses_foreign_text() {
    assert_eq!(ClOrdId::parse(b"00000000001"), None, "short");
    assert_eq!(ClOrdId::parse(b"0000000000001"), None, "long");
    assert_eq!(ClOrdId::parse(b"00000000000a"), None, "lower case");
    assert_eq!(ClOrdId::parse(b"00000000000-"), None);
    assert_eq!(ClOrdId::parse(b"ZZZZZZZZZZZZ"), None, "beyond 60 bits");
}

/// A boot without a journal counts from an epoch taken from the clock:
/// boots in different seconds never reuse each other's ClOrdIDs, the epoch
/// stays in the top half of the range (clear of epochs counted up from a
/// journal's 1), and the OMS can always take the next one.
#[test]
fn an_epoch_from_the_clock_differs_by_the_second_and_leaves_room() {
    const SEC: u64 = 1_000_000_000;
    let half = 1u32 << 19;
    // 2026-12-04 12:00 UTC, and the moments around a wrap of the range.
    let day = 1_796_385_600 * SEC;
    let period = (half as u64 - 1) * SEC;
    for t in [0, SEC - 1, day, day + SEC / 2, day + period - 1, u64::MAX] {
        let e = epoch_from_clock(t);
        assert!((half..MAX_EPOCH).contains(&e), "{t}: {e}");
        let oms = Oms::new(OmsConfig {
            orders: 4,
            symbols: 16,
            last_epoch: e,
        })
        .expect("room for the next epoch");
        assert_eq!(oms.epoch(), e + 1);
    }
    assert_eq!(
        epoch_from_clock(day),
        epoch_from_clock(day + SEC - 1),
        "same second"
    );
    assert_ne!(
        epoch_from_clock(day),
        epoch_from_clock(day + SEC),
        "next second"
    );
    assert_eq!(
        epoch_from_clock(day),
        epoch_from_clock(day + period),
        "wraps after 2^19 - 1 seconds, about six days"
    );
    // Six days of boots a second apart: every epoch different.
    let mut seen = std::collections::HashSet::new();
    for s in 0..(half as u64 - 1) {
        assert!(seen.insert(epoch_from_clock(day + s * SEC)));
    }
}

#[test]
fn epochs_make_ids_unique_across_restarts() {
    let first = Oms::new(OmsConfig {
        orders: 4,
        symbols: 16,
        last_epoch: 0,
    })
    .unwrap();
    assert_eq!(first.epoch(), 1);
    let mut a = H::new();
    let (_, cl_a) = a.new_order(Side::Buy, PX, 1);
    assert_eq!(Some(cl_a), ClOrdId::issued(42, 1, StrategyId(3)));
    // Next boot: the companion hands back epoch 42.
    let mut b = H::new();
    b.oms = Oms::new(OmsConfig {
        orders: 4,
        symbols: 16,
        last_epoch: 42,
    })
    .unwrap();
    let (_, cl_b) = b.new_order(Side::Buy, PX, 1);
    assert_eq!(cl_b.epoch(), 43);
    assert_ne!(cl_a, cl_b);
    assert_eq!(
        Oms::new(OmsConfig {
            orders: 4,
            symbols: 16,
            last_epoch: MAX_EPOCH
        })
        .err(),
        Some(OmsConfigError::EpochExhausted)
    );
}

// --------------------------------------------------------- state machine

#[test]
fn new_ack_partial_fill_fill() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    assert_eq!(id.0, cl.0, "order id is the first ClOrdID");
    assert_eq!(h.oms.state(id), Some(OrderState::PendingNew));
    assert!(h.risk_open(id), "entered orders count in risk at once");
    assert_eq!(h.report(ExecReport::new(cl, ExecType::PendingNew)), None);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingNew));
    assert_eq!(
        h.ack(cl),
        Some(OrderEvent::Accepted {
            strategy: StrategyId(3),
            order: id
        })
    );
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert_eq!(h.oms.position(SYM).unwrap().open_buy, 100);

    let ev = h.fill(cl, 30, 30, 70, PX);
    assert_eq!(
        ev,
        Some(OrderEvent::Filled {
            strategy: StrategyId(3),
            order: id,
            locate: SYM,
            side: Side::Buy,
            price: PX,
            qty: 30,
            leaves: 70
        })
    );
    assert_eq!(h.oms.state(id), Some(OrderState::PartiallyFilled));
    assert_eq!(h.risk.open_qty(SYM), (70, 0));
    assert_eq!(h.oms.position(SYM).unwrap().open_buy, 70);

    let mut last = ExecReport::new(cl, ExecType::Trade);
    last.last_qty = 70;
    last.cum_qty = 100;
    last.last_px = Price(100_100);
    h.report(last);
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert!(!h.risk_open(id));
    assert_eq!(h.risk.position(SYM), 100);
    let p = h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.open_buy, p.open_buy_notional), (100, 0, 0));
    assert_eq!(p.cost, 30 * 100_000 + 70 * 100_100);
}

#[test]
fn cancel_and_cancel_reject() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Sell, PX, 50);
    h.ack(cl);
    let c1 = h.cancel(id);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingCancel));
    assert_eq!(h.report(ExecReport::new(c1, ExecType::PendingCancel)), None);
    // Refused: back to New, and risk allows a new cancel.
    let ev = h.report(ExecReport::new(c1, ExecType::CancelRejected));
    assert!(
        matches!(ev, Some(OrderEvent::AmendRejected { order: o, reason: RejectReason::VenueReject, .. }) if o == id)
    );
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    let c2 = h.cancel(id);
    assert_ne!(c1, c2);
    assert_eq!(
        h.canceled(c2, cl),
        Some(OrderEvent::Canceled {
            strategy: StrategyId(3),
            order: id
        })
    );
    assert_eq!(h.oms.state(id), Some(OrderState::Canceled));
    assert!(!h.risk_open(id));
    assert_eq!(h.oms.position(SYM).unwrap().open_sell, 0);
    // A second cancel of a finished order is refused by the OMS.
    assert_eq!(
        h.submit(OrderIntent::Cancel {
            strategy: StrategyId(3),
            order: id
        }),
        Err(RejectReason::UnknownOrder)
    );
}

#[test]
fn replace_then_fill_on_new_and_old_ids() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill(cl, 10, 10, 90, PX);
    let r = h.replace(id, Price(100_500), 200);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingReplace));
    assert_eq!(
        h.risk.open_qty(SYM),
        (190, 0),
        "worst of old and new while pending"
    );
    assert_eq!(h.report(ExecReport::new(r, ExecType::PendingReplace)), None);
    let mut ack = ExecReport::new(r, ExecType::Replaced);
    ack.orig_cl_ord_id = Some(cl);
    ack.price = Price(100_500);
    ack.order_qty = 200;
    ack.cum_qty = 10;
    ack.leaves_qty = 190;
    assert_eq!(
        h.report(ack),
        Some(OrderEvent::Replaced {
            strategy: StrategyId(3),
            order: id,
            price: Price(100_500),
            qty: 200,
            leaves: 190,
        })
    );
    assert_eq!(h.oms.state(id), Some(OrderState::Replaced));
    assert_eq!(h.oms.current_cl_ord_id(id), Some(r));
    assert_eq!(h.oms.terms(id), Some((200, 10, 190, Price(100_500))));
    assert_eq!(
        h.oms.position(SYM).unwrap().open_buy_notional,
        190 * 100_500
    );
    // Fill reported under the new ClOrdID, then a late one under the original.
    h.fill(r, 40, 50, 150, Price(100_500));
    assert_eq!(h.oms.state(id), Some(OrderState::PartiallyFilled));
    h.fill(cl, 50, 100, 100, Price(100_500));
    assert_eq!(h.oms.terms(id), Some((200, 100, 100, Price(100_500))));
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
}

/// Every ClOrdID an order went by names it (with its venue and price) for
/// as long as its slot holds it: a fill under a replace's ClOrdID is
/// journaled as the order's, at its venue.
#[test]
fn every_cl_ord_id_of_an_order_names_it() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    let (_, other) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    let r = h.replace(id, Price(100_500), 200);
    let venue = h.oms.venue_of(id).map(|(v, _)| v).unwrap();
    assert_eq!(h.oms.order_named(cl), Some(named(id, venue, PX)));
    assert_eq!(
        h.oms.order_named(r),
        Some(named(id, venue, PX)),
        "replace in flight"
    );
    let mut ack = ExecReport::new(r, ExecType::Replaced);
    ack.orig_cl_ord_id = Some(cl);
    ack.price = Price(100_500);
    ack.order_qty = 200;
    ack.leaves_qty = 200;
    h.report(ack);
    assert_eq!(h.oms.order_named(r), Some(named(id, venue, Price(100_500))));
    assert_eq!(
        h.oms.order_named(cl),
        Some(named(id, venue, Price(100_500)))
    );
    let c = h.cancel(id);
    assert_eq!(
        h.oms.order_named(c).map(|n| n.order),
        Some(id),
        "cancel in flight"
    );
    assert_ne!(h.oms.order_named(other).map(|n| n.order), Some(id));
    assert_eq!(h.oms.order_named(ClOrdId::new(7, 999_999)), None);
}

#[test]
fn replace_rejected_keeps_old_terms() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    let r = h.replace(id, Price(99_000), 300);
    // Some venues answer a refused replace with ExecType Rejected on the new id.
    let ev = h.report(ExecReport::new(r, ExecType::Rejected));
    assert!(matches!(ev, Some(OrderEvent::AmendRejected { order: o, .. }) if o == id));
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert_eq!(h.oms.terms(id), Some((100, 0, 100, PX)));
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
    assert_eq!(h.oms.current_cl_ord_id(id), Some(cl));
    // The dead request id no longer resolves.
    h.report(ExecReport::new(r, ExecType::Replaced));
    assert_eq!(h.oms.stats().unknown_cl_ord_id, 1);
    // And the replace-reject message form works too.
    let r2 = h.replace(id, Price(99_000), 300);
    h.report(ExecReport::new(r2, ExecType::ReplaceRejected));
    assert_eq!(h.oms.state(id), Some(OrderState::New));
}

#[test]
fn venue_reject_of_new_order() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    let ev = h.report(ExecReport::new(cl, ExecType::Rejected));
    assert_eq!(
        ev,
        Some(OrderEvent::Rejected {
            strategy: StrategyId(3),
            order: Some(id),
            reason: RejectReason::VenueReject
        })
    );
    assert_eq!(h.oms.state(id), Some(OrderState::Rejected));
    assert!(!h.risk_open(id));
    assert_eq!(h.risk.reject_count(RejectReason::VenueReject), 1);
    assert_eq!(h.oms.position(SYM).unwrap().open_buy, 0);
}

#[test]
fn expired_and_done_for_day() {
    for kind in [ExecType::Expired, ExecType::DoneForDay] {
        let mut h = H::new();
        let (id, cl) = h.new_order(Side::Buy, PX, 100);
        h.ack(cl);
        h.fill(cl, 10, 10, 90, PX);
        assert!(matches!(
            h.report(ExecReport::new(cl, kind)),
            Some(OrderEvent::Canceled { .. })
        ));
        assert_eq!(h.oms.state(id), Some(OrderState::Expired));
        assert!(!h.risk_open(id));
        assert_eq!(h.risk.position(SYM), 10);
    }
}

#[test]
fn fill_before_new_ack() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    let ev = h.fill(cl, 40, 40, 60, PX);
    assert!(matches!(
        ev,
        Some(OrderEvent::Filled {
            qty: 40,
            leaves: 60,
            ..
        })
    ));
    assert_eq!(h.oms.state(id), Some(OrderState::PartiallyFilled));
    assert_eq!(h.oms.stats().out_of_order, 1);
    // The late New changes nothing and is counted.
    assert_eq!(h.ack(cl), None);
    assert_eq!(h.oms.state(id), Some(OrderState::PartiallyFilled));
    assert_eq!(h.oms.stats().out_of_order, 2);
    // A late PendingNew as well.
    assert_eq!(h.report(ExecReport::new(cl, ExecType::PendingNew)), None);
    assert_eq!(h.oms.stats().out_of_order, 3);
}

#[test]
fn duplicate_and_gapped_fills() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Sell, PX, 100);
    h.ack(cl);
    h.fill(cl, 10, 10, 90, PX);
    assert_eq!(h.fill(cl, 10, 10, 90, PX), None, "same cum again");
    assert_eq!(h.oms.stats().duplicate_fills, 1);
    // cum jumps from 10 to 40 though last_qty says 10: a fill was missed.
    let ev = h.fill(cl, 10, 40, 60, PX);
    assert!(matches!(
        ev,
        Some(OrderEvent::Filled {
            qty: 30,
            leaves: 60,
            ..
        })
    ));
    assert_eq!(h.oms.stats().fill_gaps, 1);
    assert_eq!(h.risk.position(SYM), -40);
    assert_eq!(h.oms.terms(id), Some((100, 40, 60, PX)));
}

#[test]
fn unknown_cl_ord_ids_are_counted() {
    let mut h = H::new();
    let mut foreign = ExecReport::new(ClOrdId(0), ExecType::Fill);
    foreign.cl_ord_id = None;
    foreign.last_qty = 5;
    foreign.cum_qty = 5;
    assert_eq!(h.report(foreign), None);
    assert_eq!(
        h.report(ExecReport::new(ClOrdId::new(9, 9), ExecType::New)),
        None
    );
    assert_eq!(h.oms.stats().unknown_cl_ord_id, 2);
    assert_eq!(h.risk.position(SYM), 0);
    // Found through OrigClOrdID when ClOrdID is unknown.
    let (id, cl) = h.new_order(Side::Buy, PX, 10);
    let mut via_orig = ExecReport::new(ClOrdId::new(9, 10), ExecType::Canceled);
    via_orig.orig_cl_ord_id = Some(cl);
    assert!(h.report(via_orig).is_some());
    assert_eq!(h.oms.state(id), Some(OrderState::Canceled));
}

#[test]
fn late_reports_after_finish() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 10);
    h.ack(cl);
    let c = h.cancel(id);
    h.report(ExecReport::new(c, ExecType::Canceled));
    assert_eq!(h.report(ExecReport::new(cl, ExecType::New)), None);
    assert_eq!(h.report(ExecReport::new(c, ExecType::Canceled)), None);
    assert_eq!(h.oms.stats().late_reports, 2);
    // A fill that raced the cancel still moves the position.
    assert!(h.fill(cl, 5, 5, 0, PX).is_some());
    assert_eq!(h.risk.position(SYM), 5);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 5);
    assert_eq!(h.oms.state(id), Some(OrderState::Canceled));
    assert_eq!(h.report(ExecReport::new(cl, ExecType::Other)), None);
}

#[test]
fn other_exec_types_are_ignored() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 10);
    assert_eq!(h.report(ExecReport::new(cl, ExecType::Other)), None);
    assert_eq!(h.oms.stats().ignored, 1);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingNew));
}

#[test]
fn risk_rejects_pass_through_and_nothing_is_recorded() {
    let mut l = Limits::unlimited();
    l.default_symbol.max_order_qty = 10;
    let mut h = H::with_limits(l, 8);
    let r = h.submit(acme(StrategyId(3), Side::Buy, PX, 11));
    assert_eq!(r, Err(RejectReason::MaxOrderQty));
    assert_eq!(h.oms.position(SYM).unwrap().open_buy, 0);
    assert_eq!(h.risk.open_orders(), 0);
}

#[test]
fn finished_orders_are_reclaimed_when_the_table_is_full() {
    let mut h = H::with_limits(Limits::unlimited(), 2);
    let (a, ca) = h.new_order(Side::Buy, PX, 1);
    let (_b, _) = h.new_order(Side::Buy, PX, 2);
    let full = h.submit(OrderIntent::New {
        strategy: StrategyId(3),
        locate: SYM,
        symbol: Symbol::default(),
        side: Side::Buy,
        price: PX,
        qty: 3,
        tif: TimeInForce::Day,
    });
    assert_eq!(full, Err(RejectReason::CapacityExhausted));
    assert_eq!(h.oms.reject_count(RejectReason::CapacityExhausted), 1);
    h.fill(ca, 1, 1, 0, PX);
    assert_eq!(
        h.oms.state(a),
        Some(OrderState::Filled),
        "kept for late reports"
    );
    let (c, _) = h.new_order(Side::Buy, PX, 3);
    assert_eq!(h.oms.state(a), None, "reclaimed");
    assert_eq!(h.oms.state(c), Some(OrderState::PendingNew));
    h.fill(ca, 1, 2, 0, PX);
    assert_eq!(h.oms.stats().unknown_cl_ord_id, 1);
}

#[test]
fn tidy_reclaims_the_oldest_finished_orders_ahead_of_the_order_path() {
    let n = SPARE_SLOTS + 4;
    let mut h = H::with_limits(Limits::unlimited(), n);
    let orders: Vec<(OrderId, ClOrdId)> = (0..n)
        .map(|k| h.new_order(Side::Buy, PX, 1 + k as u32))
        .collect();
    // A table with free slots left alone: nothing finished is reclaimed.
    h.oms.tidy();
    for &(_, cl) in &orders {
        h.ack(cl);
    }
    // All but the last finish, oldest first.
    for &(_, cl) in &orders[..n - 1] {
        h.report(ExecReport::new(cl, ExecType::Canceled));
    }
    h.oms.tidy();
    // The oldest SPARE_SLOTS are reclaimed, the rest kept for late reports.
    for (k, &(id, _)) in orders.iter().enumerate() {
        let expected = match k {
            k if k < SPARE_SLOTS => None,
            k if k < n - 1 => Some(OrderState::Canceled),
            _ => Some(OrderState::New),
        };
        assert_eq!(h.oms.state(id), expected, "order {k}");
    }
    h.fill(orders[0].1, 1, 1, 0, PX);
    assert_eq!(h.oms.stats().unknown_cl_ord_id, 1, "its ids were unmapped");
    // New orders take the spare slots: the orders kept stay known.
    for k in 0..SPARE_SLOTS {
        let (id, _) = h.new_order(Side::Buy, PX, 100 + k as u32);
        assert_eq!(h.oms.state(id), Some(OrderState::PendingNew));
    }
    for &(id, _) in &orders[SPARE_SLOTS..n - 1] {
        assert_eq!(h.oms.state(id), Some(OrderState::Canceled), "still kept");
    }
    // A second tidy finds the rest; with nothing finished left it stops.
    h.oms.tidy();
    for &(id, _) in &orders[SPARE_SLOTS..n - 1] {
        assert_eq!(h.oms.state(id), None, "reclaimed");
    }
    assert_eq!(h.oms.state(orders[n - 1].0), Some(OrderState::New));
    h.oms.tidy();
    let (id, _) = h.new_order(Side::Buy, PX, 200);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingNew));
}

// ----------------------------------------------------------------- PnL

#[test]
fn average_price_and_realized_pnl() {
    let mut h = H::new();
    let (_, a) = h.new_order(Side::Buy, Price(100_000), 100);
    h.fill(a, 100, 100, 0, Price(100_000));
    let (_, b) = h.new_order(Side::Buy, Price(110_000), 100);
    h.fill(b, 100, 100, 0, Price(110_000));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!(p.avg_price(), Some(Price(105_000)));
    assert_eq!(p.unrealized(), 200 * 110_000 - 200 * 105_000);
    // Sell 150 at $12: realized 150 × (12 − 10.5) = $225.
    let (_, c) = h.new_order(Side::Sell, Price(120_000), 150);
    h.fill(c, 150, 150, 0, Price(120_000));
    assert_eq!(h.oms.realized_pnl(), 225 * 10_000);
    // Sell 100 at $9: closes 50 (−$75) and opens a 50 short at $9.
    let (_, d) = h.new_order(Side::Sell, Price(90_000), 100);
    h.fill(d, 100, 100, 0, Price(90_000));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!(h.oms.realized_pnl(), (225 - 75) * 10_000);
    assert_eq!((p.qty, p.cost), (-50, -50 * 90_000));
    assert_eq!(p.avg_price(), Some(Price(90_000)));
    assert_eq!(h.oms.unrealized_pnl(), 0);
    h.oms.mark(SYM, Price(80_000), &mut h.risk);
    assert_eq!(h.oms.unrealized_pnl(), 50 * 10_000 * 10_000 / 10_000);
}

#[test]
fn rounding_residue_is_realized_when_flat() {
    let mut h = H::new();
    // Buy 3 at 10.0000, 10.0000, 10.0001: cost 300,001 over 3 shares.
    for px in [100_000, 100_000, 100_001] {
        let (_, c) = h.new_order(Side::Buy, Price(px), 1);
        h.fill(c, 1, 1, 0, Price(px));
    }
    assert_eq!(
        h.oms.position(SYM).unwrap().avg_price(),
        Some(Price(100_000))
    );
    // Sell one at a time at 10.0000.
    for _ in 0..3 {
        let (_, c) = h.new_order(Side::Sell, Price(100_000), 1);
        h.fill(c, 1, 1, 0, Price(100_000));
    }
    let p = h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (0, 0));
    assert_eq!(p.realized, -1, "exactly the one price4 unit overpaid");
}

#[test]
fn daily_loss_through_the_oms_trips_the_kill_switch() {
    let mut l = Limits::unlimited();
    l.max_daily_loss = 100 * 10_000; // $100
    let mut h = H::with_limits(l, 16);
    let (_, a) = h.new_order(Side::Buy, PX, 100);
    h.fill(a, 100, 100, 0, PX);
    let (open, oc) = h.new_order(Side::Sell, Price(110_000), 100);
    h.ack(oc);
    h.oms.mark(SYM, Price(90_000), &mut h.risk); // −$100: at the limit
    assert_eq!(h.risk.tripped(), None);
    h.oms.mark(SYM, Price(89_999), &mut h.risk);
    assert_eq!(h.risk.tripped(), Some(TripCause::DailyLoss));
    let refused = h.submit(OrderIntent::New {
        strategy: StrategyId(3),
        locate: SYM,
        symbol: Symbol::default(),
        side: Side::Sell,
        price: PX,
        qty: 1,
        tif: TimeInForce::Day,
    });
    assert_eq!(refused, Err(RejectReason::KillSwitch));
    let mut cancels = [OrderIntent::Cancel {
        strategy: StrategyId(0),
        order: OrderId(0),
    }; 4];
    let n = h.risk.kill_cancels(&mut cancels);
    assert_eq!(n, 1);
    let sent = h.submit(cancels[0]);
    assert!(matches!(sent, Ok(Outbound::Cancel { order, .. }) if order == open));
}

#[test]
fn a_late_cancel_reject_does_not_clear_a_newer_request() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Sell, PX, 50);
    h.ack(cl);
    let c1 = h.cancel(id);
    assert!(h
        .report(ExecReport::new(c1, ExecType::CancelRejected))
        .is_some());
    let c2 = h.cancel(id);
    // The first refusal again (a resend, a duplicate): its ClOrdID is gone,
    // and the order's own id must not stand in for it.
    let mut late = ExecReport::new(c1, ExecType::CancelRejected);
    late.orig_cl_ord_id = Some(cl);
    assert_eq!(h.report(late), None);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingCancel));
    assert!(h.oms.stats().late_reports >= 1);
    // A refusal naming only the order answers the cancel in flight.
    let mut bare = ExecReport::new(c2, ExecType::CancelRejected);
    bare.cl_ord_id = None;
    bare.orig_cl_ord_id = Some(cl);
    assert!(h.report(bare).is_some());
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    let c3 = h.cancel(id);
    // The answer to the cancel in flight still counts.
    assert!(h.canceled(c3, cl).is_some());
    assert_eq!(h.oms.state(id), Some(OrderState::Canceled));
}

// ------------------------------------------------------------ unsent

#[test]
fn an_unsent_new_order_is_rejected_and_frees_its_exposure() {
    let mut l = Limits::unlimited();
    // Any reject within a second trips the kill switch; one order a second
    // per strategy and per venue; the same order twice in a second is a
    // duplicate.
    let second = 1_000_000_000;
    l.reject_rate = Some(risk::Throttle {
        max_msgs: 0,
        window_ns: second,
    });
    let one_a_second = Some(risk::Throttle {
        max_msgs: 1,
        window_ns: second,
    });
    l.strategy_order_rate = one_a_second;
    l.venue_order_rate = one_a_second;
    l.duplicate_window_ns = second;
    let mut h = H::with_limits(l, 16);
    let intent = acme(StrategyId(3), Side::Buy, PX, 100);
    let out = h.submit(intent).unwrap();
    let Outbound::New { order, .. } = out else {
        panic!("{out:?}")
    };
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
    assert_eq!(
        h.oms.unsent(&out, &mut h.risk),
        Some(OrderEvent::Rejected {
            strategy: StrategyId(3),
            order: Some(order),
            reason: RejectReason::NotSent
        })
    );
    assert_eq!(h.oms.state(order), Some(OrderState::Rejected));
    assert!(!h.risk_open(order));
    assert_eq!(h.risk.open_qty(SYM), (0, 0));
    assert_eq!(h.oms.position(SYM).unwrap().open_buy, 0);
    assert_eq!(h.oms.stats().unsent, 1);
    // No venue refused anything: the reject-rate limit is not fed (a
    // venue reject would have tripped it, see below).
    assert_eq!(h.risk.reject_count(RejectReason::VenueReject), 0);
    assert_eq!(h.risk.tripped(), None);
    // Told twice, nothing changes the second time.
    assert_eq!(h.oms.unsent(&out, &mut h.risk), None);
    assert_eq!(h.oms.stats().unsent, 1);
    // The same order again at once: neither a duplicate nor over the
    // throttles, since the first one never went out.
    let Ok(Outbound::New { cl_ord_id: cl, .. }) = h.submit(intent) else {
        panic!("the order again")
    };
    let _ = cl;
    // That one went out: another is refused by the throttle.
    let other = match intent {
        OrderIntent::New { .. } => acme(StrategyId(3), Side::Buy, PX, 101),
        _ => unreachable!(),
    };
    assert_eq!(h.submit(other), Err(RejectReason::OrderRateThrottle));
    assert_eq!(h.risk.tripped(), Some(TripCause::RejectRate));
}

#[test]
fn an_unsent_cancel_leaves_the_order_open_and_cancelable() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Sell, PX, 50);
    h.ack(cl);
    let out = h
        .submit(OrderIntent::Cancel {
            strategy: StrategyId(3),
            order: id,
        })
        .unwrap();
    assert_eq!(h.oms.state(id), Some(OrderState::PendingCancel));
    let ev = h.oms.unsent(&out, &mut h.risk);
    assert!(
        matches!(ev, Some(OrderEvent::AmendRejected { order: o, reason: RejectReason::NotSent, .. }) if o == id)
    );
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert!(h.risk_open(id));
    assert_eq!(h.risk.open_qty(SYM), (0, 50));
    // The unsent cancel's id is dead; a new cancel goes.
    let c2 = h.cancel(id);
    assert!(h.canceled(c2, cl).is_some());
    assert!(!h.risk_open(id));
}

#[test]
fn an_unsent_replace_keeps_the_old_terms() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    let out = h
        .submit(OrderIntent::Replace {
            strategy: StrategyId(3),
            order: id,
            price: Price(99_000),
            qty: 300,
        })
        .unwrap();
    assert_eq!(h.risk.open_qty(SYM), (300, 0), "worst case while pending");
    assert!(h.oms.unsent(&out, &mut h.risk).is_some());
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert_eq!(h.oms.terms(id), Some((100, 0, 100, PX)));
    assert_eq!(h.oms.current_cl_ord_id(id), Some(cl));
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
}

#[test]
fn a_kill_cancel_not_sent_is_retried_without_counting_as_a_refusal() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.risk.trip(TripCause::Manual);
    let mut cancels = [OrderIntent::Cancel {
        strategy: StrategyId(0),
        order: OrderId(0),
    }; 4];
    for _ in 0..2 * risk::KILL_CANCEL_ATTEMPTS {
        assert_eq!(h.risk.kill_cancels(&mut cancels), 1);
        let out = h.submit(cancels[0]).unwrap();
        h.oms.unsent(&out, &mut h.risk);
        // Not offered again in the same sweep...
        assert_eq!(h.risk.kill_cancels(&mut cancels), 0);
        // ...but after the retry, however often it failed.
        assert!(h.risk.retry_unsent_kill_cancels());
    }
    assert_eq!(h.risk.kill_abandoned(), 0);
    assert_eq!(h.risk.kill_cancels(&mut cancels), 1);
    assert!(matches!(cancels[0], OrderIntent::Cancel { order, .. } if order == id));
}

/// A trip sends a cancel for each open order; a strategy that then moves
/// its quote is refused for the trip — the kill switch, or the close of the
/// trading window — whatever else is wrong with the replace (here: the
/// cancel in flight, or not its order). Before the trip the same replace
/// is an invalid order. A cancel keeps its own reason: trips let cancels
/// through.
#[test]
fn a_replace_after_a_trip_is_refused_for_the_trip_first() {
    for (cause, reason) in [
        (TripCause::Manual, RejectReason::KillSwitch),
        (TripCause::EndOfSession, RejectReason::TradingClosed),
    ] {
        let mut h = H::new();
        let (id, cl) = h.new_order(Side::Buy, PX, 100);
        h.ack(cl);
        h.cancel(id);
        let replace = |strategy| OrderIntent::Replace {
            strategy,
            order: id,
            price: Price(100_100),
            qty: 100,
        };
        assert_eq!(
            h.submit(replace(StrategyId(3))),
            Err(RejectReason::InvalidOrder)
        );
        h.risk.trip(cause);
        assert_eq!(h.submit(replace(StrategyId(3))), Err(reason));
        assert_eq!(h.submit(replace(StrategyId(4))), Err(reason));
        assert_eq!(
            (
                h.oms.reject_count(RejectReason::InvalidOrder),
                h.oms.reject_count(reason)
            ),
            (1, 2)
        );
        let cancel = OrderIntent::Cancel {
            strategy: StrategyId(3),
            order: id,
        };
        assert_eq!(h.submit(cancel), Err(RejectReason::InvalidOrder));
    }
}

#[test]
fn a_new_order_after_a_trip_is_refused_for_the_trip_first() {
    for (cause, reason) in [
        (TripCause::Manual, RejectReason::KillSwitch),
        (TripCause::EndOfSession, RejectReason::TradingClosed),
    ] {
        let mut h = H::with_limits(Limits::unlimited(), 1);
        let (_, cl) = h.new_order(Side::Buy, PX, 100);
        h.ack(cl);
        let another = acme(StrategyId(3), Side::Buy, PX, 100);
        assert_eq!(h.submit(another), Err(RejectReason::CapacityExhausted));
        h.risk.trip(cause);
        assert_eq!(h.submit(another), Err(reason));
    }
}

// ------------------------------------------------------------ properties

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn exec_type(i: u8) -> ExecType {
        [
            ExecType::PendingNew,
            ExecType::New,
            ExecType::PartialFill,
            ExecType::Fill,
            ExecType::Trade,
            ExecType::PendingCancel,
            ExecType::Canceled,
            ExecType::PendingReplace,
            ExecType::Replaced,
            ExecType::Rejected,
            ExecType::Expired,
            ExecType::DoneForDay,
            ExecType::CancelRejected,
            ExecType::ReplaceRejected,
            ExecType::Other,
            ExecType::TradeCancel,
            ExecType::TradeCorrect,
        ][i as usize % 17]
    }

    proptest! {
        /// Any sequence of intents and (garbled, duplicated, reordered)
        /// reports: no panic, open exposure in the OMS equals open exposure
        /// in risk whenever no request is in flight, leaves never exceed qty.
        #[test]
        fn random_reports_keep_books_consistent(
            ops in proptest::collection::vec((0u8..6, any::<u8>(), 0u32..120, 0u32..200, 0u8..4), 1..300)
        ) {
            let mut h = H::with_limits(Limits::unlimited(), 16);
            let mut sent: Vec<(OrderId, ClOrdId)> = Vec::new();
            for (op, pick, a, b, which) in ops {
                match op {
                    0 | 1 => {
                        let side = if pick % 2 == 0 { Side::Buy } else { Side::Sell };
                        let px = Price(if side == Side::Buy { 90_000 } else { 110_000 } + pick as i64);
                        if let Ok(Outbound::New { order, cl_ord_id, .. }) = h.submit(OrderIntent::New {
                            strategy: StrategyId(3), locate: SYM, symbol: Symbol::default(),
                            side, price: px, qty: a + 1, tif: TimeInForce::Day,
                        }) {
                            sent.push((order, cl_ord_id));
                        }
                    }
                    2 if !sent.is_empty() => {
                        let (order, _) = sent[pick as usize % sent.len()];
                        if let Ok(Outbound::Cancel { order, cl_ord_id, .. }) =
                            h.submit(OrderIntent::Cancel { strategy: StrategyId(3), order })
                        {
                            sent.push((order, cl_ord_id));
                        }
                    }
                    3 if !sent.is_empty() => {
                        let (order, _) = sent[pick as usize % sent.len()];
                        if let Ok(Outbound::Replace { order, cl_ord_id, .. }) = h.submit(OrderIntent::Replace {
                            strategy: StrategyId(3), order, price: Price(100_000), qty: a + 1,
                        }) {
                            sent.push((order, cl_ord_id));
                        }
                    }
                    _ if !sent.is_empty() => {
                        let (_, cl) = sent[pick as usize % sent.len()];
                        let mut r = ExecReport::new(cl, exec_type(pick.wrapping_add(which)));
                        r.last_qty = a;
                        r.cum_qty = b;
                        r.last_px = Price(100_000);
                        r.price = Price(100_000 + a as i64);
                        r.order_qty = b;
                        if which == 0 { r.cl_ord_id = None; r.orig_cl_ord_id = Some(cl); }
                        // ExecIDs from a small pool, so that busts and
                        // corrections find (and repeat) executions.
                        r.exec_id = ExecKey::of(&[b'E', pick % 16]);
                        r.exec_ref_id = ExecKey::of(&[b'E', (a as u8) % 16]);
                        r.leaves_qty = b % 64;
                        r.ord_status = (which == 1).then_some(OrderState::Filled);
                        h.report(r);
                    }
                    _ => {}
                }
                let p = *h.oms.position(SYM).unwrap();
                prop_assert_eq!(p.qty, h.risk.position(SYM));
                // The totals follow the position through busts too; flat
                // means no cost left.
                prop_assert_eq!(h.oms.realized_pnl(), p.realized);
                prop_assert_eq!(h.oms.unrealized_pnl(), p.unrealized());
                prop_assert!(p.qty != 0 || p.cost == 0);
                for (order, _) in &sent {
                    if let Some((qty, cum, leaves, _)) = h.oms.terms(*order) {
                        prop_assert!(leaves <= qty && cum <= qty);
                    }
                }
                let quiet = sent.iter().all(|(o, _)| !matches!(
                    h.oms.state(*o),
                    Some(OrderState::PendingCancel | OrderState::PendingReplace)
                ));
                if quiet {
                    prop_assert_eq!(h.risk.open_qty(SYM), (p.open_buy, p.open_sell));
                }
            }
        }

        #[test]
        fn cl_ord_id_parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..20)) {
            if let Some(id) = ClOrdId::parse(&bytes) {
                prop_assert_eq!(&id.encode()[..], &bytes[..]);
            }
        }

        #[test]
        fn cl_ord_id_text_is_base_36_of_the_value(v in any::<u64>()) {
            // Digit by digit, the plain way: the table-driven encoder
            // writes the same text (the value modulo 36^12).
            let mut expected = [b'0'; 12];
            let mut rest = v;
            for byte in expected.iter_mut().rev() {
                *byte = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[(rest % 36) as usize];
                rest /= 36;
            }
            prop_assert_eq!(ClOrdId(v).encode(), expected);
        }

        #[test]
        fn cl_ord_id_round_trip(epoch in 0u32..=MAX_EPOCH, seq in 0u64..(1 << 42)) {
            let id = ClOrdId::new(epoch, seq);
            prop_assert_eq!(ClOrdId::parse(&id.encode()), Some(id));
            prop_assert_eq!((id.epoch(), id.seq()), (epoch, seq));
        }

        #[test]
        fn issued_cl_ord_ids_keep_their_strategy_and_order(
            epoch in 0u32..=MAX_EPOCH,
            count in 0u64..(1 << 36) - 1,
            a in 0u16..64,
            b in 0u16..64,
        ) {
            let (x, y) = (
                ClOrdId::issued(epoch, count, StrategyId(a)).unwrap(),
                ClOrdId::issued(epoch, count + 1, StrategyId(b)).unwrap(),
            );
            prop_assert_eq!((x.strategy(), y.strategy()), (StrategyId(a), StrategyId(b)));
            prop_assert_eq!((x.epoch(), y.epoch()), (epoch, epoch));
            prop_assert!(x < y);
            prop_assert_eq!(ClOrdId::parse(&y.encode()), Some(y));
        }
    }
}

#[test]
fn restored_fills_rebuild_the_position_as_live_fills_do() {
    // Live: buy 100 @ PX, sell 40 @ PX + 50.
    let mut live = H::new();
    let (_, buy) = live.new_order(Side::Buy, PX, 100);
    live.ack(buy);
    live.fill(buy, 100, 100, 0, PX);
    let (_, sell) = live.new_order(Side::Sell, Price(PX.0 + 50), 40);
    live.ack(sell);
    live.fill(sell, 40, 40, 0, Price(PX.0 + 50));
    // Restored from the journal after a restart.
    let mut restored = H::new();
    restored
        .oms
        .restore_fill(SYM, Side::Buy, 100, PX, &mut restored.risk);
    restored
        .oms
        .restore_fill(SYM, Side::Sell, 40, Price(PX.0 + 50), &mut restored.risk);
    let (a, b) = (
        *live.oms.position(SYM).unwrap(),
        *restored.oms.position(SYM).unwrap(),
    );
    assert_eq!((b.qty, b.cost, b.realized), (a.qty, a.cost, a.realized));
    assert_eq!(b.qty, 60);
    assert_eq!(restored.risk.position(SYM), live.risk.position(SYM));
    assert_eq!(restored.oms.realized_pnl(), live.oms.realized_pnl());
}

#[test]
fn open_orders_lists_what_is_live_with_its_leaves() {
    let mut h = H::new();
    let (a, ca) = h.new_order(Side::Buy, PX, 100);
    let (b, cb) = h.new_order(Side::Sell, Price(PX.0 + 100), 50);
    h.ack(ca);
    h.ack(cb);
    h.fill(ca, 30, 30, 70, PX);
    let open: Vec<_> = h.oms.open_orders().collect();
    assert_eq!(open.len(), 2);
    let buy = open.iter().find(|o| o.id == a).unwrap();
    assert_eq!(
        (buy.side, buy.price, buy.qty, buy.leaves),
        (Side::Buy, PX, 100, 70)
    );
    // Filled away: no longer listed.
    h.fill(cb, 50, 50, 0, Price(PX.0 + 100));
    let open: Vec<_> = h.oms.open_orders().map(|o| o.id).collect();
    assert_eq!(open, vec![a]);
    assert!(!open.contains(&b));
}

// ------------------------------------------------------------ found in review

fn replaced(cl: ClOrdId, orig: ClOrdId, px: Price, qty: u32) -> ExecReport {
    let mut r = ExecReport::new(cl, ExecType::Replaced);
    r.orig_cl_ord_id = Some(orig);
    r.price = px;
    r.order_qty = qty;
    r
}

/// A repeat (PossDup) of a replace refusal sent as ExecType=Rejected: the
/// refused request's ClOrdID is gone and OrigClOrdID names the order, which
/// is still working; it must not be finished as a rejected new order.
#[test]
fn a_repeated_refusal_of_a_replace_leaves_the_working_order_alone() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    let c = h.replace(id, Price(99_000), 300);
    let mut rej = ExecReport::new(c, ExecType::Rejected);
    rej.orig_cl_ord_id = Some(a);
    assert!(matches!(
        h.report(rej),
        Some(OrderEvent::AmendRejected { .. })
    ));
    assert_eq!(h.report(rej), None, "the repeat changes nothing");
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert!(h.risk_open(id));
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
}

/// A refusal (150=8) without a ClOrdID of ours while a replace is in
/// flight answers the replace, not the acknowledged order.
#[test]
fn a_refusal_named_only_by_the_order_answers_the_replace_in_flight() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    h.replace(id, Price(99_000), 300);
    let mut rej = ExecReport::new(a, ExecType::Rejected);
    rej.cl_ord_id = None;
    rej.orig_cl_ord_id = Some(a);
    assert!(matches!(
        h.report(rej),
        Some(OrderEvent::AmendRejected { .. })
    ));
    assert_eq!(h.oms.state(id), Some(OrderState::New));
}

/// A repeated Replaced of an earlier, applied replace is not the answer to
/// the replace now in flight.
#[test]
fn a_repeated_replaced_does_not_answer_a_newer_replace() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    let b = h.replace(id, Price(100_100), 200);
    h.report(replaced(b, a, Price(100_100), 200));
    let c = h.replace(id, Price(100_200), 300);
    assert_eq!(h.report(replaced(b, a, Price(100_100), 200)), None);
    assert_eq!(h.oms.state(id), Some(OrderState::PendingReplace));
    assert_eq!(h.oms.current_cl_ord_id(id), Some(b));
    assert!(matches!(
        h.report(replaced(c, b, Price(100_200), 300)),
        Some(OrderEvent::Replaced {
            qty: 300,
            leaves: 300,
            ..
        })
    ));
    assert_eq!(h.oms.current_cl_ord_id(id), Some(c));
}

/// `Replaced` tells the owner what the venue works after the replace, the
/// new total less what has filled (the fill under the replace's ClOrdID
/// before its acknowledgement included), not the new total.
#[test]
fn a_replaced_order_part_filled_is_told_its_leaves() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    h.fill(a, 30, 30, 70, PX);
    let b = h.replace(id, Price(100_100), 120);
    h.fill(b, 20, 50, 70, PX);
    assert_eq!(
        h.report(replaced(b, a, Price(100_100), 120)),
        Some(OrderEvent::Replaced {
            strategy: StrategyId(3),
            order: id,
            price: Price(100_100),
            qty: 120,
            leaves: 70,
        })
    );
    assert_eq!(h.oms.terms(id), Some((120, 50, 70, Price(100_100))));
}

/// A fill under the ClOrdID of the replace in flight, before its Replaced:
/// the venue took the replace, so the order is not finished on its old size.
#[test]
fn a_fill_under_the_replace_before_its_ack_keeps_the_order_working() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    let c = h.replace(id, PX, 200);
    assert!(matches!(
        h.fill(c, 100, 100, 100, PX),
        Some(OrderEvent::Filled { leaves: 100, .. })
    ));
    assert!(h.risk_open(id), "risk still counts the shares working");
    h.report(replaced(c, a, PX, 200));
    assert_eq!(
        h.oms.terms(id).map(|t| t.2),
        Some(100),
        "leaves at the venue"
    );
    assert!(h.risk_open(id));
    assert_eq!(h.risk.open_qty(SYM), (100, 0));
}

/// Absurd venue values (over-fills at any LastPx the parser accepts) never
/// overflow the position arithmetic.
#[test]
fn absurd_fills_saturate_instead_of_overflowing() {
    let mut h = H::new();
    let (_, b1) = h.new_order(Side::Buy, PX, 1);
    let (_, b2) = h.new_order(Side::Buy, PX, 2);
    let (_, s) = h.new_order(Side::Sell, Price(PX.0 + 100), 3);
    h.fill(b1, u32::MAX, u32::MAX, 0, Price(i64::MAX));
    h.fill(b2, u32::MAX, u32::MAX, 0, Price(i64::MAX));
    h.fill(s, u32::MAX, u32::MAX, 0, PX);
    let _ = h.oms.realized_pnl();
}

#[test]
fn a_position_flips_through_zero_in_one_fill() {
    let mut h = H::new();
    let (_, a) = h.new_order(Side::Buy, Price(100_000), 100);
    h.fill(a, 100, 100, 0, Price(100_000));
    let (_, b) = h.new_order(Side::Sell, Price(110_000), 250);
    h.fill(b, 250, 250, 0, Price(110_000));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!(
        (p.qty, p.cost, p.realized),
        (-150, -150 * 110_000, 100 * 10_000)
    );
    assert_eq!(p.avg_price(), Some(Price(110_000)));
    let (_, c) = h.new_order(Side::Buy, Price(100_000), 200);
    h.fill(c, 200, 200, 0, Price(100_000));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!(
        (p.qty, p.cost, p.realized),
        (50, 50 * 100_000, 100 * 10_000 + 150 * 10_000)
    );
    assert_eq!(h.oms.unrealized_pnl(), 0);
}

/// A fill the venue made under the ClOrdID of the replace before last,
/// reported after the next replace took effect, still counts.
#[test]
fn a_late_fill_under_the_superseded_cl_ord_id_counts() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 100);
    h.ack(a);
    let b = h.replace(id, PX, 200);
    h.report(replaced(b, a, PX, 200));
    let c = h.replace(id, PX, 300);
    h.report(replaced(c, b, PX, 300));
    assert!(matches!(
        h.fill(b, 50, 50, 250, PX),
        Some(OrderEvent::Filled { qty: 50, .. })
    ));
    let x = h.cancel(id);
    h.canceled(x, c);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 50, "bought 50");
    assert_eq!(h.risk.position(SYM), 50);
}

/// The order fills in full on its old size while a replace to more is in
/// flight: it stays open until the replace is answered, and a refused
/// replace then finishes it, risk and the OMS agreeing throughout. (Found
/// by `random_reports_keep_books_consistent`.) Its owner hears the order
/// still working what the replace would leave (the venue may have taken
/// it), then, at the refusal, that it is gone (found by the `quoting` fuzz
/// target: told "filled, nothing left", the market maker forgot an order
/// that could still work and quoted that side again beside it).
#[test]
fn a_refused_replace_finishes_an_order_filled_meanwhile() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 1);
    h.ack(a);
    let c = h.replace(id, PX, 77);
    let fill = h.fill(a, 1, 1, 0, PX);
    assert!(
        matches!(fill, Some(OrderEvent::Filled { leaves: 76, .. })),
        "{fill:?}"
    );
    assert_eq!(h.oms.state(id), Some(OrderState::PendingReplace));
    let mut refused = ExecReport::new(c, ExecType::ReplaceRejected);
    refused.orig_cl_ord_id = Some(a);
    let answer = h.report(refused);
    assert!(
        matches!(answer, Some(OrderEvent::Canceled { order, .. }) if order == id),
        "the owner hears the order gone: {answer:?}"
    );
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert!(!h.risk_open(id));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!(h.risk.open_qty(SYM), (p.open_buy, p.open_sell));
    assert_eq!((p.open_buy, p.qty), (0, 1));
}

/// A replace the venue takes to no more than has filled (its answer names
/// an OrderQty at or below the CumQty, after an over-fill, say) leaves
/// nothing working: the order is done, and its owner hears it gone, not
/// replaced (told `Replaced`, a tracker would take it as working the new
/// quantity and wait on it for ever). Found by the `quoting` fuzz target.
#[test]
fn a_replace_to_no_more_than_has_filled_finishes_the_order() {
    let mut h = H::new();
    let (id, a) = h.new_order(Side::Buy, PX, 200);
    h.ack(a);
    h.fill(a, 150, 150, 50, PX);
    let b = h.replace(id, PX, 180);
    let answer = h.report(replaced(b, a, PX, 150));
    assert!(
        matches!(answer, Some(OrderEvent::Canceled { order, .. }) if order == id),
        "the owner hears the order gone: {answer:?}"
    );
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert!(!h.risk_open(id));
    assert_eq!(h.risk.open_qty(SYM), (0, 0));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 150);
}

// ------------------------------------------------------ busts and corrections

fn key(text: &str) -> Option<ExecKey> {
    ExecKey::of(text.as_bytes())
}

impl H {
    /// A fill with ExecID `exec`.
    fn fill_id(
        &mut self,
        cl: ClOrdId,
        exec: &str,
        last: u32,
        cum: u32,
        leaves: u32,
        px: Price,
    ) -> Option<OrderEvent> {
        let mut r = ExecReport::new(cl, ExecType::Trade);
        r.exec_id = key(exec);
        r.last_qty = last;
        r.cum_qty = cum;
        r.leaves_qty = leaves;
        r.last_px = px;
        self.report(r)
    }

    /// A bust (`qty` None) or correction to `qty` at `px` of execution
    /// `of`, reported as `exec`, with the venue's view of the order after.
    #[allow(clippy::too_many_arguments)]
    fn adjust(
        &mut self,
        cl: ClOrdId,
        exec: &str,
        of: &str,
        new: Option<(u32, Price)>,
        cum: u32,
        leaves: u32,
        status: OrderState,
    ) -> Option<OrderEvent> {
        let kind = match new {
            None => ExecType::TradeCancel,
            Some(_) => ExecType::TradeCorrect,
        };
        let mut r = ExecReport::new(cl, kind);
        r.exec_id = key(exec);
        r.exec_ref_id = key(of);
        if let Some((q, px)) = new {
            r.last_qty = q;
            r.last_px = px;
        }
        r.cum_qty = cum;
        r.leaves_qty = leaves;
        r.ord_status = Some(status);
        self.report(r)
    }

    /// OMS and risk agree on the position and on open shares.
    fn books_agree(&self) {
        let p = self.oms.position(SYM).unwrap();
        assert_eq!(p.qty, self.risk.position(SYM), "position");
        assert_eq!(
            self.risk.open_qty(SYM),
            (p.open_buy, p.open_sell),
            "open shares"
        );
    }
}

#[test]
fn a_bust_of_a_partial_fill_takes_it_out_of_position_and_order() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 40, 40, 60, PX);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 40);
    // Busted; the venue keeps working the 60 left.
    let ev = h.adjust(cl, "B1", "E1", None, 0, 60, OrderState::New);
    assert_eq!(
        ev,
        Some(OrderEvent::FillAdjusted {
            strategy: StrategyId(3),
            order: id,
            locate: SYM,
            side: Side::Buy,
            was_qty: 40,
            was_price: PX,
            qty: 0,
            price: PX,
            leaves: 60,
        })
    );
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost, p.realized, p.avg_price()), (0, 0, 0, None));
    assert_eq!((h.oms.realized_pnl(), h.oms.unrealized_pnl()), (0, 0));
    assert_eq!(h.oms.terms(id), Some((60, 0, 60, PX)));
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert_eq!(p.open_buy, 60);
    h.books_agree();
    assert_eq!(h.risk.net_position(), 0);
    assert_eq!(h.oms.stats().busts, 1);
    assert_eq!(h.oms.stats().fill_gaps, 0);
    // The next fill counts from the venue's new cumulative quantity.
    assert!(h.fill_id(cl, "E2", 60, 60, 0, PX).is_some());
    assert_eq!(h.oms.position(SYM).unwrap().qty, 60);
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    h.books_agree();
}

/// The lab's sequence: a fill under the order's first ClOrdID, a replace,
/// then the venue busts the fill and names the order by the replace's
/// ClOrdID; the rest fills later. The position ends at what is left filled.
#[test]
fn a_bust_named_by_a_later_cl_ord_id_of_the_order_applies_to_it() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 84, 84, 16, PX);
    let r = h.replace(id, Price(100_500), 100);
    let mut ack = ExecReport::new(r, ExecType::Replaced);
    ack.orig_cl_ord_id = Some(cl);
    ack.price = Price(100_500);
    ack.order_qty = 100;
    ack.cum_qty = 84;
    ack.leaves_qty = 16;
    assert!(h.report(ack).is_some());
    // Busted; the venue works the 16 left.
    let ev = h.adjust(r, "B1", "E1", None, 0, 16, OrderState::New);
    assert!(matches!(
        ev,
        Some(OrderEvent::FillAdjusted { order, was_qty: 84, qty: 0, leaves: 16, .. }) if order == id
    ));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 0);
    assert_eq!(h.oms.state(id), Some(OrderState::Replaced));
    assert_eq!(h.oms.terms(id).map(|t| (t.0, t.1, t.2)), Some((16, 0, 16)));
    h.books_agree();
    h.fill_id(r, "E2", 16, 16, 0, Price(100_500));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 16);
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert_eq!(h.oms.stats().fill_gaps, 0);
    h.books_agree();
}

/// Two venues number their executions alike: a fill at each under the
/// same ExecID text. A bust (and before it a correction) from the second
/// venue applies to its own fill, never to the first venue's, and a
/// resend of the first venue's fill is still a duplicate of that one only.
#[test]
fn executions_are_known_by_venue_and_exec_id() {
    let mut h = H::new();
    let at = |venue: u8, mut r: ExecReport| {
        r.venue = Some(VenueId(venue));
        r
    };
    let fill = |cl, qty| {
        let mut r = ExecReport::new(cl, ExecType::Trade);
        r.exec_id = key("7");
        r.last_qty = qty;
        r.cum_qty = qty;
        r.last_px = PX;
        r
    };
    let (_, a) = h.new_order(Side::Buy, PX, 100);
    h.report(at(1, ExecReport::new(a, ExecType::New)));
    // The second order goes to venue 2 (`H` sends to venue 1).
    h.now += 10;
    let Ok(Outbound::New {
        order: b_id,
        cl_ord_id: b,
        ..
    }) = h.oms.submit(
        &acme(StrategyId(3), Side::Buy, PX, 50),
        VenueId(2),
        Some(PX),
        &mut h.risk,
        Nanos(h.now),
    )
    else {
        panic!("the second order is sent");
    };
    h.report(at(2, ExecReport::new(b, ExecType::New)));
    h.report(at(1, fill(a, 100)));
    h.report(at(2, fill(b, 50)));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 150);
    // The second venue corrects its fill to 30, then busts the correction.
    let mut correct = ExecReport::new(b, ExecType::TradeCorrect);
    correct.exec_id = key("8");
    correct.exec_ref_id = key("7");
    correct.last_qty = 30;
    correct.last_px = PX;
    correct.cum_qty = 30;
    let ev = h.report(at(2, correct));
    assert!(
        matches!(ev, Some(OrderEvent::FillAdjusted { order, was_qty: 50, qty: 30, .. }) if order == b_id),
        "{ev:?}"
    );
    assert_eq!(h.oms.position(SYM).unwrap().qty, 130);
    let mut bust = ExecReport::new(b, ExecType::TradeCancel);
    bust.exec_id = key("9");
    bust.exec_ref_id = key("8");
    h.report(at(2, bust));
    assert_eq!(
        h.oms.position(SYM).unwrap().qty,
        100,
        "the first venue's fill stands"
    );
    // The first venue's fill resent: a duplicate, applied once.
    h.report(at(1, fill(a, 100)));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 100);
    let stats = h.oms.stats();
    assert_eq!(
        (stats.unknown_exec_refs, stats.busts, stats.corrections),
        (0, 1, 1)
    );
    h.books_agree();
}

/// A report from another venue than the order's does not touch it: the
/// order stays working (a cancel or fill from the wrong venue would leave
/// it live where it is, unknown to us).
#[test]
fn a_report_from_another_venue_does_not_touch_the_order() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    let from = |venue: u8, mut r: ExecReport| {
        r.venue = Some(VenueId(venue));
        r
    };
    // `H` sends every order to venue 1.
    assert_eq!(
        h.report(from(2, ExecReport::new(cl, ExecType::Canceled))),
        None
    );
    let mut fill = ExecReport::new(cl, ExecType::Trade);
    fill.last_qty = 100;
    fill.cum_qty = 100;
    fill.last_px = PX;
    assert_eq!(h.report(from(2, fill)), None);
    assert_eq!(h.oms.state(id), Some(OrderState::New));
    assert_eq!(h.oms.position(SYM).map_or(0, |p| p.qty), 0);
    assert_eq!(h.oms.stats().wrong_venue, 2);
    // From its own venue, it applies.
    assert!(h.report(from(1, fill)).is_some());
    assert_eq!(h.oms.position(SYM).unwrap().qty, 100);
    h.books_agree();
}

#[test]
fn a_bust_of_a_full_fill_leaves_the_order_done() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 60, 60, 40, Price(100_000));
    h.fill_id(cl, "E2", 40, 100, 0, Price(101_000));
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    // The venue busts the last fill and reports the order done.
    let ev = h.adjust(cl, "B2", "E2", None, 60, 0, OrderState::Filled);
    assert!(matches!(
        ev,
        Some(OrderEvent::FillAdjusted {
            was_qty: 40,
            qty: 0,
            leaves: 0,
            ..
        })
    ));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (60, 60 * 100_000));
    assert_eq!(p.avg_price(), Some(Price(100_000)));
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert_eq!(h.oms.terms(id).map(|t| (t.1, t.2)), Some((60, 0)));
    h.books_agree();
    assert_eq!(h.risk.open_orders(), 0);
    assert_eq!(h.oms.stats().reopened_by_bust, 0);
    // Busting the other one as well: flat, nothing realized.
    h.adjust(cl, "B1", "E1", None, 0, 0, OrderState::Canceled);
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost, h.oms.realized_pnl()), (0, 0, 0));
    h.books_agree();
}

#[test]
fn a_bust_the_venue_says_reopens_an_order_is_counted_not_reopened() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Sell, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 100, 100, 0, PX);
    h.adjust(cl, "B1", "E1", None, 0, 100, OrderState::New);
    assert_eq!(h.oms.state(id), Some(OrderState::Filled));
    assert_eq!(h.oms.stats().reopened_by_bust, 1);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 0);
    h.books_agree();
}

/// Finding of the `order_path` fuzz target's open-quantity check: an
/// over-fill while a replace to more is in flight grows the order, which
/// stays open for the replace; the venue busts that fill and works the
/// whole grown size, then refuses the replace. The OMS worked 101 shares
/// while risk, which had kept the size first entered, counted 100.
#[test]
fn risk_counts_what_a_bust_reopens_on_an_overfilled_order() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    let replace = h.replace(id, PX, 200);
    assert!(h.fill_id(cl, "E1", 101, 101, 99, PX).is_some());
    assert_eq!(h.oms.state(id), Some(OrderState::PendingReplace));
    assert!(h
        .adjust(cl, "B1", "E1", None, 0, 101, OrderState::New)
        .is_some());
    assert!(h
        .report(ExecReport::new(replace, ExecType::ReplaceRejected))
        .is_some());
    assert_eq!(h.oms.terms(id), Some((101, 0, 101, PX)));
    assert_eq!(h.risk.open_qty(SYM), (101, 0));
    h.books_agree();
}

/// Finding of the `order_path` fuzz target's open-quantity check: a
/// partial fill busted while the venue keeps working only what was left,
/// then a replace. The OMS takes the venue's CumQty (0) and re-sizes the
/// order to 60; risk had kept 100 with the busted 40 as filled, so a
/// replace to 80 worked 80 at the venue and counted 40 in risk, and one
/// to 30 was refused as not above what filled.
#[test]
fn after_a_bust_risk_counts_a_replace_as_the_venue_works_it() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 40, 40, 60, PX);
    assert!(h
        .adjust(cl, "B1", "E1", None, 0, 60, OrderState::New)
        .is_some());
    h.books_agree();
    let down = h.replace(id, PX, 30);
    assert!(h
        .report(ExecReport::new(down, ExecType::ReplaceRejected))
        .is_some());
    let up = h.replace(id, PX, 80);
    let mut ack = ExecReport::new(up, ExecType::Replaced);
    ack.order_qty = 80;
    ack.leaves_qty = 80;
    assert!(h.report(ack).is_some());
    assert_eq!(h.oms.terms(id), Some((80, 0, 80, PX)));
    assert_eq!(h.risk.open_qty(SYM), (80, 0));
    h.books_agree();
}

#[test]
fn a_busted_closing_fill_gives_back_its_realized_pnl() {
    let mut h = H::new();
    let (_, a) = h.new_order(Side::Buy, Price(100_000), 100);
    h.fill_id(a, "E1", 100, 100, 0, Price(100_000));
    let (_, b) = h.new_order(Side::Sell, Price(120_000), 100);
    h.fill_id(b, "E2", 100, 100, 0, Price(120_000));
    assert_eq!(h.oms.realized_pnl(), 100 * 20_000);
    h.adjust(b, "B2", "E2", None, 0, 0, OrderState::Canceled);
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (100, 100 * 100_000));
    assert_eq!(p.avg_price(), Some(Price(100_000)));
    assert_eq!(h.oms.realized_pnl(), 0);
    h.books_agree();
}

#[test]
fn corrections_down_and_up_replace_the_fill() {
    let mut h = H::new();
    let (id, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 50, 50, 50, Price(100_000));
    // Down: 50 at 10.00 becomes 30 at 9.90; the venue works 50 still.
    let ev = h.adjust(
        cl,
        "C1",
        "E1",
        Some((30, Price(99_000))),
        30,
        50,
        OrderState::PartiallyFilled,
    );
    assert!(matches!(
        ev,
        Some(OrderEvent::FillAdjusted {
            was_qty: 50,
            was_price: Price(100_000),
            qty: 30,
            price: Price(99_000),
            leaves: 50,
            ..
        })
    ));
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (30, 30 * 99_000));
    assert_eq!(h.oms.terms(id).map(|t| (t.1, t.2)), Some((30, 50)));
    h.books_agree();
    // Up, naming the original ExecID (it leads to the correction): 70 at
    // 10.10; the venue works the 10 left of the 80 it keeps (more would
    // be beyond the order: taken as 10 all the same).
    h.adjust(
        cl,
        "C2",
        "E1",
        Some((70, Price(101_000))),
        70,
        30,
        OrderState::PartiallyFilled,
    );
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (70, 70 * 101_000));
    assert_eq!(p.avg_price(), Some(Price(101_000)));
    assert_eq!(h.oms.terms(id).map(|t| (t.1, t.2)), Some((70, 10)));
    assert_eq!(h.oms.stats().corrections, 2);
    h.books_agree();
    // The trade, now named by the latest correction, busted.
    h.adjust(cl, "B1", "C2", None, 0, 10, OrderState::New);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 0);
    assert_eq!(h.oms.stats().busts, 1);
    h.books_agree();
}

#[test]
fn a_correction_can_trip_the_daily_loss_kill_switch() {
    let mut l = Limits::unlimited();
    l.max_daily_loss = 10_000; // $1
    let mut h = H::with_limits(l, 16);
    let (_, cl) = h.new_order(Side::Buy, PX, 100);
    h.fill_id(cl, "E1", 100, 100, 0, PX);
    h.oms.mark(SYM, PX, &mut h.risk);
    // Corrected to 10.0100: −$1, at the limit.
    h.adjust(
        cl,
        "C1",
        "E1",
        Some((100, Price(100_100))),
        100,
        0,
        OrderState::Filled,
    );
    assert_eq!(h.oms.unrealized_pnl(), -10_000);
    assert_eq!(h.risk.tripped(), None);
    // Corrected again to 10.0101: past the limit.
    h.adjust(
        cl,
        "C2",
        "C1",
        Some((100, Price(100_101))),
        100,
        0,
        OrderState::Filled,
    );
    assert_eq!(h.risk.tripped(), Some(TripCause::DailyLoss));
    assert_eq!(h.risk.position(SYM), 100);
}

#[test]
fn unknown_exec_refs_are_counted_and_not_applied() {
    // One order slot: the ring remembers four executions.
    let mut h = H::with_limits(Limits::unlimited(), 1);
    let (_, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    for i in 1..=5u32 {
        h.fill_id(cl, &std::format!("E{i}"), 10, 10 * i, 100 - 10 * i, PX);
    }
    let before = *h.oms.position(SYM).unwrap();
    assert_eq!(before.qty, 50);
    // Never seen; no ExecRefID at all; fallen out of the ring.
    assert_eq!(
        h.adjust(cl, "B1", "NOPE", None, 40, 50, OrderState::New),
        None
    );
    let mut none = ExecReport::new(cl, ExecType::TradeCancel);
    none.exec_id = key("B2");
    assert_eq!(h.report(none), None);
    assert_eq!(
        h.adjust(cl, "B3", "E1", None, 40, 50, OrderState::New),
        None
    );
    // A bust naming a bust: no trade.
    assert!(h
        .adjust(cl, "B4", "E5", None, 40, 50, OrderState::New)
        .is_some());
    assert_eq!(
        h.adjust(cl, "B5", "B4", None, 30, 50, OrderState::New),
        None
    );
    assert_eq!(h.oms.stats().unknown_exec_refs, 4);
    assert_eq!(h.oms.stats().busts, 1);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 40);
    h.books_agree();
}

#[test]
fn an_execution_of_another_order_is_not_adjusted_through_this_one() {
    let mut h = H::new();
    let (_, a) = h.new_order(Side::Buy, PX, 100);
    let (_, b) = h.new_order(Side::Buy, PX, 100);
    h.fill_id(a, "E1", 100, 100, 0, PX);
    assert_eq!(
        h.adjust(b, "B1", "E1", None, 0, 0, OrderState::Canceled),
        None
    );
    assert_eq!(h.oms.stats().unknown_exec_refs, 1);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 100);
}

#[test]
fn a_repeated_bust_is_applied_once() {
    let mut h = H::new();
    let (_, cl) = h.new_order(Side::Buy, PX, 100);
    h.ack(cl);
    h.fill_id(cl, "E1", 30, 30, 70, PX);
    h.fill_id(cl, "E2", 30, 60, 40, PX);
    assert!(h
        .adjust(cl, "B1", "E1", None, 30, 40, OrderState::PartiallyFilled)
        .is_some());
    // The same report again (a PossDup resend), and another bust of E1.
    assert_eq!(
        h.adjust(cl, "B1", "E1", None, 30, 40, OrderState::PartiallyFilled),
        None
    );
    assert_eq!(
        h.adjust(cl, "B9", "E1", None, 30, 40, OrderState::PartiallyFilled),
        None
    );
    // A resend of the busted fill itself (cumulative 30 passes the
    // cumulative test now).
    assert_eq!(h.fill_id(cl, "E1", 30, 30, 70, PX), None);
    assert_eq!(h.oms.stats().duplicate_adjustments, 2);
    assert_eq!(h.oms.stats().busts, 1);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 30);
    h.books_agree();
    // A correction repeated likewise.
    let c = Some((20, PX));
    assert!(h
        .adjust(cl, "C1", "E2", c, 20, 40, OrderState::PartiallyFilled)
        .is_some());
    assert_eq!(
        h.adjust(cl, "C1", "E2", c, 20, 40, OrderState::PartiallyFilled),
        None
    );
    assert_eq!(h.oms.position(SYM).unwrap().qty, 20);
    assert_eq!(h.oms.stats().duplicate_adjustments, 3);
    h.books_agree();
}

#[test]
fn a_bust_after_the_order_left_the_table_still_fixes_the_position() {
    // Two slots: the filled order's record is reclaimed by later orders.
    let mut h = H::with_limits(Limits::unlimited(), 2);
    let (_, cl) = h.new_order(Side::Buy, PX, 100);
    h.fill_id(cl, "E1", 100, 100, 0, PX);
    for _ in 0..3 {
        let (_, c) = h.new_order(Side::Sell, Price(110_000), 1);
        h.canceled(c, c);
    }
    assert_eq!(h.oms.state(OrderId(cl.0)), None, "record reclaimed");
    let ev = h.adjust(cl, "B1", "E1", None, 0, 0, OrderState::Canceled);
    assert!(matches!(
        ev,
        Some(OrderEvent::FillAdjusted { leaves: 0, .. })
    ));
    assert_eq!(h.oms.position(SYM).unwrap().qty, 0);
    h.books_agree();
}

// ------------------------------------------------ earlier boots' fills

/// A fill of order `seq` of boot `epoch` (this OMS is boot 42), as a
/// venue resends it after a crash.
fn earlier(epoch: u32, seq: u64, exec: &[u8], side: Side, qty: u32) -> ExecReport {
    let mut r = ExecReport::new(ClOrdId::new(epoch, seq), ExecType::Trade);
    r.last_qty = qty;
    r.last_px = PX;
    r.exec_id = ExecKey::of(exec);
    r.side = Some(side);
    r.symbol = Symbol::new("ACME");
    r.venue = Some(VenueId(1));
    r
}

#[test]
fn an_earlier_boots_fill_is_recovered_once_unless_journaled() {
    let mut h = H::new();
    h.oms.restore_fill(SYM, Side::Buy, 100, PX, &mut h.risk);
    assert!(h
        .oms
        .remember_journaled(&acme_fill(ClOrdId::new(41, 1), ExecKey::of(b"X1").unwrap())));
    // The OMS itself cannot apply it: the order is not in its table.
    let journaled = earlier(41, 1, b"X1", Side::Buy, 100);
    assert_eq!(
        h.oms.on_exec_report(&journaled, Nanos(5), &mut h.risk),
        None
    );
    assert_eq!(h.oms.earlier_fill(&journaled), None);
    assert_eq!(h.oms.stats().earlier_fills_known, 1);

    let lost = earlier(41, 2, b"X2", Side::Sell, 30);
    let fill = h.oms.earlier_fill(&lost).expect("not journaled");
    assert_eq!(
        (fill.symbol, fill.side, fill.qty, fill.price),
        (Symbol::new("ACME").unwrap(), Side::Sell, 30, PX)
    );
    h.oms.recover_fill(&fill, SYM, &mut h.risk);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 70);
    assert_eq!(h.risk.position(SYM), 70);
    assert_eq!(h.oms.earlier_fill(&lost), None, "recovered once only");
    assert_eq!(h.oms.stats().earlier_fills_recovered, 1);
    assert_eq!(h.oms.stats().earlier_fills_known, 2);

    // The same ExecID text on another boot's order is another execution
    // (venues that count ExecIDs from 1 each day).
    assert!(h
        .oms
        .earlier_fill(&earlier(40, 1, b"X1", Side::Buy, 5))
        .is_some());
    // This boot's orders, and reports that are no fills, are not earlier
    // fills.
    assert_eq!(
        h.oms.earlier_fill(&earlier(42, 9, b"X9", Side::Buy, 5)),
        None
    );
    let mut ack = earlier(41, 3, b"X3", Side::Buy, 0);
    ack.exec_type = ExecType::New;
    assert_eq!(h.oms.earlier_fill(&ack), None);
    assert_eq!(h.oms.stats().earlier_fills_unusable, 0);
}

#[test]
fn an_earlier_fill_without_what_it_needs_is_counted_not_applied() {
    let mut h = H::new();
    let mut no_exec = earlier(41, 1, b"X1", Side::Buy, 10);
    no_exec.exec_id = None;
    let mut no_side = earlier(41, 2, b"X2", Side::Buy, 10);
    no_side.side = None;
    let mut no_symbol = earlier(41, 3, b"X3", Side::Buy, 10);
    no_symbol.symbol = None;
    let mut no_price = earlier(41, 4, b"X4", Side::Buy, 10);
    no_price.last_px = Price::ZERO;
    for r in [no_exec, no_side, no_symbol, no_price] {
        assert_eq!(h.oms.earlier_fill(&r), None, "{r:?}");
    }
    assert_eq!(h.oms.stats().earlier_fills_unusable, 4);
    // Without LastPx the order's Price serves.
    let mut priced = earlier(41, 5, b"X5", Side::Buy, 10);
    priced.last_px = Price::ZERO;
    priced.price = Price(PX.0 + 1);
    assert_eq!(
        h.oms.earlier_fill(&priced).map(|f| f.price),
        Some(Price(PX.0 + 1))
    );
}

#[test]
fn a_journal_without_exec_ids_stops_recovery_for_its_boots() {
    let mut h = H::new();
    // A record from before ExecIDs were journaled, of boot 40's order.
    h.oms.journaled_without_exec_id(ClOrdId::new(40, 1));
    for epoch in [39, 40] {
        assert_eq!(
            h.oms.earlier_fill(&earlier(epoch, 1, b"X1", Side::Buy, 10)),
            None
        );
    }
    assert_eq!(h.oms.stats().earlier_fills_unusable, 2);
    assert!(h
        .oms
        .earlier_fill(&earlier(41, 1, b"X1", Side::Buy, 10))
        .is_some());
}

#[test]
fn a_full_journaled_table_is_counted() {
    let mut h = H::with_limits(Limits::unlimited(), 2);
    for seq in 1..=2 {
        assert!(h.oms.remember_journaled(&acme_fill(
            ClOrdId::new(41, seq),
            ExecKey::of(&[b'a' + seq as u8]).unwrap()
        )));
    }
    assert!(!h
        .oms
        .remember_journaled(&acme_fill(ClOrdId::new(41, 3), ExecKey::of(b"z").unwrap())));
    assert_eq!(h.oms.stats().journaled_table_full, 1);
    // Remembering one again is no new entry.
    assert!(h
        .oms
        .remember_journaled(&acme_fill(ClOrdId::new(41, 1), ExecKey::of(b"b").unwrap())));
}

fn named(order: OrderId, venue: VenueId, price: Price) -> NamedOrder {
    NamedOrder {
        order,
        venue,
        price,
        strategy: StrategyId(3),
    }
}

/// A journal that records fills only holds busts and corrections as the
/// fills `FillAdjustment::as_fills` gives; replayed into a fresh OMS after a
/// restart they give the live OMS's position and total PnL, at any mark.
#[test]
fn adjustments_journaled_as_fills_replay_to_the_same_position_and_pnl() {
    let mut h = H::new();
    let mut journal: Vec<(Side, u32, Price)> = Vec::new();
    let (_, cl) = h.new_order(Side::Buy, PX, 300);
    h.ack(cl);
    for (exec, last, cum, px) in [("E1", 100, 100, PX), ("E2", 50, 150, Price(PX.0 + 100))] {
        h.fill_id(cl, exec, last, cum, 300 - cum, px);
        assert_eq!(h.oms.take_adjustment(), None, "a fill is no adjustment");
        journal.push((Side::Buy, last, px));
    }
    let (_, sell) = h.new_order(Side::Sell, Price(PX.0 + 300), 40);
    h.ack(sell);
    h.fill_id(sell, "E3", 40, 40, 0, Price(PX.0 + 300));
    journal.push((Side::Sell, 40, Price(PX.0 + 300)));
    // E1 corrected to 80 at a lower price, E2 busted, E3 corrected in
    // price only (the position does not move: its journal record must).
    let corrections = [
        ("C1", "E1", Some((80, Price(PX.0 - 50))), 130, 170),
        ("B2", "E2", None, 80, 170),
        ("C3", "E3", Some((40, Price(PX.0 + 250))), 40, 0),
    ];
    for (exec, of, new, cum, leaves) in corrections {
        let order = if of == "E3" { sell } else { cl };
        let status = if leaves == 0 {
            OrderState::Filled
        } else {
            OrderState::PartiallyFilled
        };
        assert!(h
            .adjust(order, exec, of, new, cum, leaves, status)
            .is_some());
        let a = h.oms.take_adjustment().expect("applied");
        assert_eq!(h.oms.take_adjustment(), None, "taken once");
        journal.extend(a.as_fills().into_iter().flatten());
    }
    h.oms.mark(SYM, Price(PX.0 + 77), &mut h.risk);
    let live = *h.oms.position(SYM).unwrap();

    let mut replay = H::new();
    for (side, qty, px) in journal {
        replay
            .oms
            .restore_fill(SYM, side, qty, px, &mut replay.risk);
    }
    replay.oms.mark(SYM, Price(PX.0 + 77), &mut replay.risk);
    let restored = *replay.oms.position(SYM).unwrap();
    assert_eq!(restored.qty, live.qty);
    assert_eq!(restored.qty, 80 - 40);
    assert_eq!(
        restored.realized + restored.unrealized(),
        live.realized + live.unrealized(),
        "total PnL"
    );
    assert_eq!(replay.risk.position(SYM), h.risk.position(SYM));
}

/// A journaled buy of 100 ACME at `PX` on venue 1.
fn acme_fill(cl_ord_id: ClOrdId, exec: ExecKey) -> JournaledFill {
    JournaledFill {
        venue: VenueId(1),
        cl_ord_id,
        exec,
        symbol: Symbol::new("ACME").unwrap(),
        side: Side::Buy,
        qty: 100,
        price: PX,
    }
}

/// A bust (`new` None) or correction of execution `of` of an earlier
/// boot's order `cl`, reported by venue 1 as `exec`.
fn earlier_adjust(cl: ClOrdId, exec: &[u8], of: &[u8], new: Option<(u32, Price)>) -> ExecReport {
    let kind = match new {
        None => ExecType::TradeCancel,
        Some(_) => ExecType::TradeCorrect,
    };
    let mut r = ExecReport::new(cl, kind);
    r.exec_id = ExecKey::of(exec);
    r.exec_ref_id = ExecKey::of(of);
    if let Some((q, px)) = new {
        r.last_qty = q;
        r.last_px = px;
    }
    r.venue = Some(VenueId(1));
    r
}

/// After a restart the venue busts or corrects a fill made before it: the
/// fill the journal handed back is taken back (and a correction's terms
/// put in), once; a repeat, or a bust of a fill already taken back, is a
/// duplicate; a correction's fill can be busted in turn, by its own ExecID
/// or by the first one's.
#[test]
fn an_earlier_boots_fill_busted_or_corrected_after_the_restart_is_taken_back() {
    let mut h = H::new();
    let (x1, x2) = (ExecKey::of(b"X1").unwrap(), ExecKey::of(b"X2").unwrap());
    let (o1, o2) = (
        ClOrdId::issued(41, 1, StrategyId(3)).unwrap(),
        ClOrdId::issued(41, 2, StrategyId(5)).unwrap(),
    );
    h.oms.restore_fill(SYM, Side::Buy, 100, PX, &mut h.risk);
    assert!(h.oms.remember_journaled(&acme_fill(o1, x1)));
    let dearer = Price(PX.0 + 100);
    h.oms.restore_fill(SYM, Side::Buy, 50, dearer, &mut h.risk);
    assert!(h.oms.remember_journaled(&JournaledFill {
        qty: 50,
        price: dearer,
        ..acme_fill(o2, x2)
    }));

    // X1 busted: not the OMS's to apply, and not an unknown reference.
    let bust = earlier_adjust(o1, b"B1", b"X1", None);
    assert_eq!(h.oms.on_exec_report(&bust, Nanos(5), &mut h.risk), None);
    assert_eq!(h.oms.stats().unknown_exec_refs, 0);
    let adj = h.oms.earlier_adjustment(&bust).expect("on the books");
    assert_eq!(
        (
            adj.symbol,
            adj.side,
            adj.was_qty,
            adj.was_price,
            adj.qty,
            adj.of_exec
        ),
        (Symbol::new("ACME").unwrap(), Side::Buy, 100, PX, 0, x1)
    );
    h.oms.recover_adjustment(&adj, SYM, &mut h.risk);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 50);
    assert_eq!(h.risk.position(SYM), 50);
    assert_eq!(h.oms.stats().busts, 1);
    let journal = h.oms.take_adjustment().expect("to journal");
    assert_eq!(
        (
            journal.strategy,
            journal.exec,
            journal.of,
            journal.as_fills()
        ),
        (
            Some(StrategyId(3)),
            ExecKey::of(b"B1"),
            Some(x1),
            [Some((Side::Sell, 100, PX)), None]
        )
    );
    // Its resend, and another bust of X1: duplicates.
    assert_eq!(h.oms.earlier_adjustment(&bust), None);
    assert_eq!(
        h.oms
            .earlier_adjustment(&earlier_adjust(o1, b"B9", b"X1", None)),
        None
    );
    assert_eq!(h.oms.stats().duplicate_adjustments, 2);

    // X2 corrected to 50 at PX + 50, then busted by X2's own id.
    let cheaper = Price(PX.0 + 50);
    let correct = earlier_adjust(o2, b"C2", b"X2", Some((50, cheaper)));
    let adj = h.oms.earlier_adjustment(&correct).expect("on the books");
    h.oms.recover_adjustment(&adj, SYM, &mut h.risk);
    let p = *h.oms.position(SYM).unwrap();
    assert_eq!((p.qty, p.cost), (50, 50 * cheaper.0 as i128));
    assert_eq!(h.oms.stats().corrections, 1);
    h.oms.take_adjustment();
    let adj = h
        .oms
        .earlier_adjustment(&earlier_adjust(o2, b"B2", b"X2", None))
        .expect("X2 leads to its correction");
    assert_eq!(
        (adj.was_qty, adj.was_price, adj.of_exec),
        (50, cheaper, ExecKey::of(b"C2").unwrap())
    );
    h.oms.recover_adjustment(&adj, SYM, &mut h.risk);
    assert_eq!(h.oms.position(SYM).unwrap().qty, 0);
    assert_eq!(h.risk.position(SYM), 0);

    // A fill the OMS never had stays an unknown reference.
    let unknown = earlier_adjust(o1, b"B7", b"X7", None);
    assert_eq!(h.oms.on_exec_report(&unknown, Nanos(6), &mut h.risk), None);
    assert_eq!(h.oms.stats().unknown_exec_refs, 1);
    assert_eq!(h.oms.earlier_adjustment(&unknown), None);
}

/// A journal that holds a bust of X1 (its record taking X1 back) and a
/// correction of X2 (taking X2 back, then its fill under the correction's
/// id): after the restart, resends of both are known, X1 cannot be taken
/// back again, and a bust of X2 finds the correction's fill.
#[test]
fn adjustments_journaled_before_a_restart_are_known_after_it() {
    let mut h = H::new();
    let (x1, x2, b1, c2) = (
        ExecKey::of(b"X1").unwrap(),
        ExecKey::of(b"X2").unwrap(),
        ExecKey::of(b"B1").unwrap(),
        ExecKey::of(b"C2").unwrap(),
    );
    let (o1, o2) = (
        ClOrdId::issued(41, 1, StrategyId(3)).unwrap(),
        ClOrdId::issued(41, 2, StrategyId(5)).unwrap(),
    );
    // The records, in the journal's order.
    h.oms.remember_journaled(&acme_fill(o1, x1));
    h.oms.remember_journaled(&acme_fill(o2, x2));
    h.oms.journaled_adjustment(VenueId(1), o1, Some(b1), x1);
    h.oms.journaled_adjustment(VenueId(1), o2, Some(c2), x2);
    h.oms.remember_journaled(&JournaledFill {
        qty: 60,
        ..acme_fill(o2, c2)
    });
    for resend in [
        earlier_adjust(o1, b"B1", b"X1", None),
        earlier_adjust(o2, b"C2", b"X2", Some((60, PX))),
        earlier_adjust(o1, b"B8", b"X1", None),
    ] {
        assert_eq!(h.oms.earlier_adjustment(&resend), None, "{resend:?}");
    }
    assert_eq!(h.oms.stats().duplicate_adjustments, 3);
    let adj = h
        .oms
        .earlier_adjustment(&earlier_adjust(o2, b"B2", b"X2", None))
        .expect("the correction's fill");
    assert_eq!((adj.was_qty, adj.of_exec), (60, c2));
    // And a resent fill report of X1 is known.
    assert_eq!(
        h.oms.earlier_fill(&earlier(41, 1, b"X1", Side::Buy, 100)),
        None
    );
}
