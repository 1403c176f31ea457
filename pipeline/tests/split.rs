//! Orders the router splits across venues: one child per venue goes out,
//! risk sees the order whole first, and the strategy that asked sees one
//! order from entry to end — fills, the kill switch, refusals and messages
//! that could not be sent included.

mod common;

use common::itch;

use book::{Book, BookConfig};
use gateway::oms::{ClOrdId, ExecReport, ExecType, Outbound};
use gateway::router::{Router, RouterConfig, VenueConfig};
use pipeline::Pipeline;
use protocol::itch::{AddOrderRepr, Header, Message, MessageRepr};
use risk::{Limits, Throttle};
use strategy::engine::{Engine, Hosted};
use strategy::features::FeatureParams;
use strategy::model::Logistic;
use strategy::signal::{SignalParams, SignalTrader};
use types::{Nanos, Price, RejectReason, Side, StrategyId, Symbol, TimeInForce, VenueId};

const LOCATE: u16 = 1;
const TRADER: StrategyId = StrategyId(2);
const PRIMARY: VenueId = VenueId(1);
const AWAY: VenueId = VenueId(2);
/// The primary's ask: 300 shares at 100.01.
const ASK: Price = Price(100_0100);
/// The away venue's ask: 200 shares at 100.00.
const AWAY_ASK: Price = Price(100_0000);
const QTY: u32 = 400;

/// A taker whose model always says "up": once the book is two-sided it buys `QTY` at the primary's ask, IOC, whenever it has no
/// order open — more than the primary shows there.
fn trader() -> SignalTrader {
    let always_up = Logistic::constant(5.0).unwrap();
    SignalTrader::new(
        TRADER,
        LOCATE,
        Symbol::new("AAA").unwrap(),
        FeatureParams::default_for_tick(100),
        always_up,
        SignalParams {
            threshold: 0.8,
            qty: QTY,
            max_position: 100_000,
            cooldown_ns: 0,
            hold_ns: u64::MAX / 2,
            warmup_updates: 1,
        },
    )
    .unwrap()
}

/// Two venues that charge the same, the primary's feed in `book` and the
/// away venue's in an away book.
fn split_pipeline(limits: Limits) -> Pipeline<4, 8> {
    let book = Book::with_capacity(BookConfig {
        max_orders: 1024,
        max_levels: 256,
    });
    let mut strategies: Engine<4, 8> = Engine::new();
    strategies.add(Hosted::Signal(trader())).unwrap();
    let (risk, oms) = common::risk_and_oms(limits);
    let mut router = Router::new(RouterConfig::default());
    for id in [PRIMARY, AWAY] {
        router
            .add_venue(VenueConfig {
                id,
                take_fee: 3_000,
                make_fee: -2_000,
                mass_cancel: false,
            })
            .unwrap();
        router.set_session(id, true);
    }
    let mut p = Pipeline::with_router(book, strategies, risk, oms, PRIMARY, router);
    assert!(p.add_away_book(
        AWAY,
        Book::with_capacity(BookConfig {
            max_orders: 1024,
            max_levels: 256,
        })
    ));
    p
}

fn add(order_ref: u64, side: Side, price: Price, shares: u32) -> Vec<u8> {
    let repr = MessageRepr::AddOrder(AddOrderRepr {
        header: Header {
            stock_locate: LOCATE,
            tracking_number: 0,
            timestamp: order_ref,
        },
        order_ref,
        side,
        shares,
        stock: Symbol::new("AAA").unwrap(),
        price,
    });
    itch(repr)
}

/// The away venue shows 200 at 100.00; then the primary's book fills in
/// (bid 99.99, ask 300 at 100.01) and the trader decides. Returns what
/// was sent, each message with whether `deliver` let it go out.
fn market(p: &mut Pipeline<4, 8>, deliver: impl Fn(&Outbound) -> bool) -> Vec<Outbound> {
    p.on_away_itch(
        AWAY,
        &Message::parse(&add(50, Side::Sell, AWAY_ASK, 200)).unwrap(),
    );
    let mut sent = Vec::new();
    for (i, m) in [
        add(1, Side::Buy, Price(99_9900), 300),
        add(2, Side::Sell, ASK, 300),
    ]
    .iter()
    .enumerate()
    {
        p.on_itch(
            &Message::parse(m).unwrap(),
            Nanos(1_000 + i as u64),
            &mut |o| {
                sent.push(*o);
                deliver(o)
            },
        );
    }
    sent
}

/// Another top-of-book update on the primary (the trader decides again
/// if it has no order open).
fn tick(p: &mut Pipeline<4, 8>, order_ref: u64, now: u64) -> Vec<Outbound> {
    let mut sent = Vec::new();
    let m = add(order_ref, Side::Buy, Price(99_9900 + order_ref as i64), 100);
    p.on_itch(&Message::parse(&m).unwrap(), Nanos(now), &mut |o| {
        sent.push(*o)
    });
    sent
}

/// (venue, ClOrdID, qty, price) of every new order sent.
fn news(sent: &[Outbound]) -> Vec<(VenueId, ClOrdId, u32, Price)> {
    sent.iter()
        .filter_map(|o| match *o {
            Outbound::New {
                venue,
                cl_ord_id,
                qty,
                price,
                tif,
                ..
            } => {
                assert_eq!(tif, TimeInForce::ImmediateOrCancel);
                Some((venue, cl_ord_id, qty, price))
            }
            _ => None,
        })
        .collect()
}

fn report(p: &mut Pipeline<4, 8>, rep: &ExecReport, now: u64) -> Vec<Outbound> {
    let mut sent = Vec::new();
    p.on_exec_report(rep, Nanos(now), &mut |o| sent.push(*o));
    sent
}

fn ack(cl: ClOrdId, qty: u32) -> ExecReport {
    let mut r = ExecReport::new(cl, ExecType::New);
    r.leaves_qty = qty;
    r
}

fn fill(cl: ClOrdId, price: Price, last: u32, cum: u32, leaves: u32) -> ExecReport {
    let mut r = ExecReport::new(cl, ExecType::Trade);
    r.last_qty = last;
    r.last_px = price;
    r.cum_qty = cum;
    r.leaves_qty = leaves;
    r
}

fn the_trader(p: &Pipeline<4, 8>) -> &SignalTrader {
    match p.strategies.get(TRADER) {
        Some(Hosted::Signal(s)) => s,
        _ => panic!("the trader is hosted"),
    }
}

#[test]
fn an_order_larger_than_one_venue_shows_goes_to_each_as_one_order() {
    let mut p = split_pipeline(Limits::unlimited());
    let sent = market(&mut p, |_| true);
    let children = news(&sent);
    // The cheaper venue's 200 first, the rest where it is displayed next.
    assert_eq!(
        children
            .iter()
            .map(|&(v, _, q, px)| (v, q, px))
            .collect::<Vec<_>>(),
        vec![(AWAY, 200, AWAY_ASK), (PRIMARY, 200, ASK)],
        "{sent:?}"
    );
    let s = p.stats();
    assert_eq!((s.splits, s.split_children, s.orders_sent), (1, 2, 2));
    assert_eq!(s.orders_by_venue[..2], [1, 1]);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (1, 1));
    assert_eq!(p.risk.open_qty(LOCATE), (400, 0));

    let (away, primary) = (children[0].1, children[1].1);
    report(&mut p, &ack(away, 200), 10_000);
    report(&mut p, &ack(primary, 200), 10_000);
    report(&mut p, &fill(away, AWAY_ASK, 200, 200, 0), 11_000);
    // One child done, the other works: still one order open, and a new
    // top of book brings no second order.
    assert_eq!(the_trader(&p).open_orders(), 1);
    assert!(news(&tick(&mut p, 3, 12_000)).is_empty());
    report(&mut p, &fill(primary, ASK, 150, 150, 50), 13_000);
    assert_eq!(the_trader(&p).position(), 350);
    // The IOC's rest is canceled: the order is over, the trader free.
    report(
        &mut p,
        &ExecReport::new(primary, ExecType::Canceled),
        14_000,
    );
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(the_trader(&p).position(), 350);
    assert_eq!(p.oms.position(LOCATE).unwrap().qty, 350);
    assert_eq!((p.risk.open_orders(), p.risk.open_qty(LOCATE)), (0, (0, 0)));
    // It decides again, and splits again (the books did not change).
    assert_eq!(news(&tick(&mut p, 4, 15_000)).len(), 2);
}

#[test]
fn risk_sees_a_split_order_whole() {
    // Each child (200) is within 300 shares; the order (400) is not.
    let mut limits = Limits::unlimited();
    limits.default_symbol.max_order_qty = 300;
    let mut p = split_pipeline(limits);
    let sent = market(&mut p, |_| true);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(p.risk.reject_count(RejectReason::MaxOrderQty), 1);
    assert_eq!((p.stats().splits, p.stats().risk_rejects), (0, 1));
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(p.risk.open_orders(), 0);
}

#[test]
fn a_refused_child_takes_its_siblings_back() {
    // The order passes whole; its second child is one order too many for
    // the strategy's throttle, so neither goes.
    let mut limits = Limits::unlimited();
    limits.strategy_order_rate = Some(Throttle {
        max_msgs: 1,
        window_ns: 1_000_000_000,
    });
    let mut p = split_pipeline(limits);
    let sent = market(&mut p, |_| true);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(p.risk.reject_count(RejectReason::OrderRateThrottle), 1);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!((p.risk.open_orders(), p.risk.open_qty(LOCATE)), (0, (0, 0)));
    assert_eq!(p.oms.open_orders().count(), 0);
    assert_eq!(p.oms.stats().unsent, 0, "nothing failed to send");
    // The first child's throttle record was taken back: an order of one
    // child passes (the same order again is not a duplicate either).
    let mut limits = p.risk.limits().clone();
    limits.strategy_order_rate = Some(Throttle {
        max_msgs: 2,
        window_ns: 1_000_000_000,
    });
    p.risk.apply_limits(limits, Nanos(2_000)).unwrap();
    assert_eq!(news(&tick(&mut p, 3, 3_000)).len(), 2);
}

#[test]
fn the_kill_switch_cancels_each_child_and_the_strategy_hears_one_end() {
    let mut p = split_pipeline(Limits::unlimited());
    let children = news(&market(&mut p, |_| true));
    assert_eq!(children.len(), 2);
    let mut sent = Vec::new();
    p.kill(Nanos(5_000), &mut |o| sent.push(*o));
    let mut canceled: Vec<ClOrdId> = sent
        .iter()
        .filter_map(|o| match *o {
            Outbound::Cancel { orig_cl_ord_id, .. } => Some(orig_cl_ord_id),
            _ => None,
        })
        .collect();
    canceled.sort();
    let mut expected: Vec<ClOrdId> = children.iter().map(|c| c.1).collect();
    expected.sort();
    assert_eq!(canceled, expected);
    report(
        &mut p,
        &ExecReport::new(children[0].1, ExecType::Canceled),
        6_000,
    );
    assert_eq!(the_trader(&p).open_orders(), 1, "one child still works");
    report(
        &mut p,
        &ExecReport::new(children[1].1, ExecType::Canceled),
        7_000,
    );
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(p.risk.open_orders(), 0);
}

#[test]
fn a_child_that_cannot_be_sent_is_undone_and_the_others_go() {
    let mut p = split_pipeline(Limits::unlimited());
    let sent = market(&mut p, |o| o.venue() != AWAY);
    let children = news(&sent);
    assert_eq!(children.len(), 2, "both were handed over: {sent:?}");
    let s = p.stats();
    assert_eq!((s.unsent, s.orders_sent), (1, 1));
    assert_eq!(p.risk.open_qty(LOCATE), (200, 0));
    assert_eq!(the_trader(&p).open_orders(), 1);
    // The one that went fills in full: that ends the order.
    let primary = children[1].1;
    report(&mut p, &fill(primary, ASK, 200, 200, 0), 10_000);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(the_trader(&p).position(), 200);

    // None could go: the order is refused as a whole, nothing stays open.
    let mut p = split_pipeline(Limits::unlimited());
    let sent = market(&mut p, |_| false);
    assert_eq!(news(&sent).len(), 2);
    assert_eq!(p.stats().unsent, 2);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(p.risk.open_orders(), 0);
}

#[test]
fn a_venue_that_refuses_its_child_leaves_the_order_to_the_other() {
    let mut p = split_pipeline(Limits::unlimited());
    let children = news(&market(&mut p, |_| true));
    let (away, primary) = (children[0].1, children[1].1);
    report(&mut p, &ExecReport::new(away, ExecType::Rejected), 10_000);
    assert_eq!(the_trader(&p).open_orders(), 1);
    report(&mut p, &ack(primary, 200), 11_000);
    report(&mut p, &fill(primary, ASK, 200, 200, 0), 12_000);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(the_trader(&p).position(), 200);
    // Both refused: the strategy hears its order refused.
    let mut p = split_pipeline(Limits::unlimited());
    let children = news(&market(&mut p, |_| true));
    for (_, cl, _, _) in children {
        report(&mut p, &ExecReport::new(cl, ExecType::Rejected), 10_000);
    }
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(the_trader(&p).position(), 0);
}

#[test]
fn splits_are_replayed_the_same() {
    let run = || {
        let mut p = split_pipeline(Limits::unlimited());
        let sent = market(&mut p, |_| true);
        news(&sent)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_venue_lost_mid_split_ends_its_child_and_the_order_goes_on_at_the_other() {
    let mut p = split_pipeline(Limits::unlimited());
    let children = news(&market(&mut p, |_| true));
    let (away, primary) = (children[0].1, children[1].1);
    report(&mut p, &ack(away, 200), 10_000);
    report(&mut p, &ack(primary, 200), 10_000);
    // The away venue's session drops; it cancels on disconnect.
    let mut sent = Vec::new();
    p.venue_lost(AWAY, true, Nanos(11_000), &mut |o| sent.push(*o));
    assert!(news(&sent).is_empty(), "nothing new while the order works");
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (1, 1));
    assert_eq!(p.risk.open_qty(LOCATE), (200, 0));
    // The primary fills its child: the order is over.
    report(&mut p, &fill(primary, ASK, 200, 200, 0), 12_000);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    assert_eq!(the_trader(&p).position(), 200);
    assert_eq!(p.risk.open_orders(), 0);
}

#[test]
fn a_split_none_of_whose_children_went_out_may_go_again_at_once() {
    // Found by the `split` fuzz target. A whole order that cannot be sent
    // leaves risk's duplicate window (the strategy may send it again at
    // once); a split none of whose children could be sent kept the whole's
    // terms there, so the same order at the next top of book was refused
    // as a duplicate of an order no venue ever had (and counted toward
    // the reject rate).
    let mut p = split_pipeline(limits_with_window());
    let sent = market(&mut p, |_| false);
    assert_eq!(news(&sent).len(), 2);
    assert_eq!((p.live_splits(), the_trader(&p).open_orders()), (0, 0));
    let again = news(&tick(&mut p, 3, 3_000));
    assert_eq!(p.risk.reject_count(RejectReason::DuplicateOrder), 0);
    assert_eq!(again.len(), 2, "the same order, split the same way");
    // Once a child has gone out the order is at a venue: the same order
    // again within the window is a duplicate, however it is split.
    let mut p = split_pipeline(limits_with_window());
    let sent = market(&mut p, |o| o.venue() != AWAY);
    assert_eq!(p.stats().unsent, 1);
    let primary = news(&sent)[1].1;
    report(&mut p, &ExecReport::new(primary, ExecType::Canceled), 2_500);
    assert_eq!(the_trader(&p).open_orders(), 0);
    assert!(news(&tick(&mut p, 3, 3_000)).is_empty());
    assert_eq!(p.risk.reject_count(RejectReason::DuplicateOrder), 1);
}

/// No limit but a duplicate window of a second.
fn limits_with_window() -> Limits {
    let mut limits = Limits::unlimited();
    limits.duplicate_window_ns = 1_000_000_000;
    limits
}
