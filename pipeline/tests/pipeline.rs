//! The pipeline on scripted markets: quotes out, acknowledgements and fills
//! back, risk refusals, the kill switch, and replay determinism.

mod common;

use common::itch;

use book::{Book, BookConfig};
use gateway::oms::{ClOrdId, ExecReport, ExecType, Outbound};
use pipeline::Pipeline;
use protocol::itch::{AddOrderRepr, Header, Message, MessageRepr, OrderDeleteRepr};
use risk::Limits;
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{DepthView, Nanos, Price, Side, StrategyId, Symbol, VenueId};

const LOCATE: u16 = 1;

fn pipeline(limits: Limits) -> Pipeline<4, 8> {
    pipeline_with(limits, MmParams::default_for_cent_tick())
}

fn pipeline_with(limits: Limits, mm: MmParams) -> Pipeline<4, 8> {
    let book = Book::with_capacity(BookConfig {
        max_orders: 4096,
        max_levels: 1024,
    });
    let mut strategies: Engine<4, 8> = Engine::new();
    let mm = MarketMaker::new(StrategyId(1), LOCATE, Symbol::new("AAA").unwrap(), mm).unwrap();
    strategies.add(Hosted::MarketMaker(mm)).unwrap();
    let (risk, oms) = common::risk_and_oms(limits);
    Pipeline::new(book, strategies, risk, oms, VenueId(1))
}

fn add(order_ref: u64, side: Side, price: Price, shares: u32, ts: u64) -> Vec<u8> {
    add_at(LOCATE, order_ref, side, price, shares, ts)
}

/// An order at `locate` (the symbol field is not the book's concern).
fn add_at(locate: u16, order_ref: u64, side: Side, price: Price, shares: u32, ts: u64) -> Vec<u8> {
    itch(MessageRepr::AddOrder(AddOrderRepr {
        header: Header {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: ts,
        },
        order_ref,
        side,
        shares,
        stock: Symbol::new("AAA").unwrap(),
        price,
    }))
}

fn delete(order_ref: u64, ts: u64) -> Vec<u8> {
    itch(MessageRepr::OrderDelete(OrderDeleteRepr {
        header: Header {
            stock_locate: LOCATE,
            tracking_number: 0,
            timestamp: ts,
        },
        order_ref,
    }))
}

/// Feeds `msgs`, returning every order message sent.
fn feed(p: &mut Pipeline<4, 8>, msgs: &[Vec<u8>]) -> Vec<Outbound> {
    let mut sent = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        let msg = Message::parse(m).unwrap();
        p.on_itch(&msg, Nanos(1_000_000 * (i as u64 + 1)), &mut |o| {
            sent.push(*o)
        });
    }
    sent
}

fn two_sided() -> Vec<Vec<u8>> {
    vec![
        add(1, Side::Buy, Price(100_0000), 500, 1),
        add(2, Side::Sell, Price(100_1000), 500, 2),
    ]
}

/// The bid quote among `sent`: its ClOrdID, quantity and price.
fn bid_of(sent: &[Outbound]) -> (ClOrdId, u32, Price) {
    sent.iter()
        .find_map(|o| match *o {
            Outbound::New {
                cl_ord_id,
                side: Side::Buy,
                qty,
                price,
                ..
            } => Some((cl_ord_id, qty, price)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a bid quote: {sent:?}"))
}

#[test]
fn quotes_go_out_and_fills_come_back() {
    let mut p = pipeline(Limits::unlimited());
    let sent = feed(&mut p, &two_sided());
    let news: Vec<_> = sent
        .iter()
        .filter(|o| matches!(o, Outbound::New { .. }))
        .collect();
    assert_eq!(news.len(), 2, "a bid and an ask quote: {sent:?}");
    let (buy_cl, buy_qty, buy_px) = bid_of(&sent);
    assert!(
        buy_px < Price(100_1000),
        "the bid quote does not cross the ask"
    );
    // The venue acknowledges both, then fills 100 of the bid.
    let mut more = Vec::new();
    for o in &sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(10_000_000), &mut |o| more.push(*o));
        }
    }
    let mut fill = ExecReport::new(buy_cl, ExecType::Trade);
    fill.last_qty = 100;
    fill.last_px = buy_px;
    fill.cum_qty = 100;
    fill.leaves_qty = buy_qty - 100;
    p.on_exec_report(&fill, Nanos(11_000_000), &mut |o| more.push(*o));
    let pos = p.oms.position(LOCATE).unwrap();
    assert_eq!(pos.qty, 100);
    assert_eq!(p.stats().reports, 3);
    assert_eq!(p.stats().risk_rejects, 0);
}

#[test]
fn risk_refuses_quotes_that_break_a_limit_and_nothing_is_sent() {
    let mut limits = Limits::unlimited();
    limits.default_symbol.max_order_qty = 50; // below the market maker's 100-share quotes
    let mut p = pipeline(limits);
    let sent = feed(&mut p, &two_sided());
    assert!(sent.is_empty(), "{sent:?}");
    assert!(p.stats().risk_rejects >= 2);
    assert!(p.risk.reject_count(types::RejectReason::MaxOrderQty) >= 2);
}

#[test]
fn kill_switch_cancels_every_open_order_and_blocks_new_ones() {
    let mut p = pipeline(Limits::unlimited());
    let sent = feed(&mut p, &two_sided());
    for o in &sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
        }
    }
    let mut cancels = Vec::new();
    p.kill(Nanos(12_000_000), &mut |o| cancels.push(*o));
    assert_eq!(
        cancels
            .iter()
            .filter(|o| matches!(o, Outbound::Cancel { .. }))
            .count(),
        2,
        "{cancels:?}"
    );
    // The market moves; the strategy wants to requote; nothing new leaves.
    let after = feed(
        &mut p,
        &[delete(1, 20), add(3, Side::Buy, Price(100_0500), 500, 21)],
    );
    assert!(
        after.iter().all(|o| !matches!(o, Outbound::New { .. })),
        "{after:?}"
    );
}

/// The single-venue pipeline, its venue taking order mass cancels.
fn mass_cancel_pipeline() -> Pipeline<4, 8> {
    mass_cancel_pipeline_with(MmParams::default_for_cent_tick())
}

/// [`mass_cancel_pipeline`] with a maker of parameters `mm`.
fn mass_cancel_pipeline_with(mm: MmParams) -> Pipeline<4, 8> {
    let single = pipeline_with(Limits::unlimited(), mm);
    let mut router = gateway::router::Router::new(gateway::router::RouterConfig::default());
    router
        .add_venue(gateway::router::VenueConfig {
            id: VenueId(1),
            take_fee: 0,
            make_fee: 0,
            mass_cancel: true,
        })
        .unwrap();
    router.set_session(VenueId(1), true);
    let Pipeline {
        book,
        strategies,
        risk,
        oms,
        ..
    } = single;
    Pipeline::with_router(book, strategies, risk, oms, VenueId(1), router)
}

/// Quotes out and acknowledged: the two quotes' ClOrdIDs, bid first.
fn quoting(p: &mut Pipeline<4, 8>) -> [ClOrdId; 2] {
    let sent = feed(p, &two_sided());
    let mut ids = Vec::new();
    for o in &sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
            ids.push(cl_ord_id);
        }
    }
    let bid = bid_of(&sent).0;
    let ask = ids
        .iter()
        .copied()
        .find(|&c| c != bid)
        .expect("an ask quote");
    [bid, ask]
}

/// The kill's one mass cancel among `sent`, and that nothing else went.
fn the_mass_cancel(sent: &[Outbound]) -> ClOrdId {
    match sent {
        [Outbound::MassCancel { cl_ord_id, venue }] if *venue == VenueId(1) => *cl_ord_id,
        _ => panic!("one mass cancel and nothing else: {sent:?}"),
    }
}

fn canceled_ids(sent: &[Outbound]) -> Vec<ClOrdId> {
    sent.iter()
        .filter_map(|o| match *o {
            Outbound::Cancel { orig_cl_ord_id, .. } => Some(orig_cl_ord_id),
            _ => None,
        })
        .collect()
}

fn canceled(cl: ClOrdId) -> ExecReport {
    ExecReport::new(cl, ExecType::Canceled)
}

/// At a venue that takes them, the kill asks for one mass cancel and no
/// order's own cancel; what the venue's answer leaves open is canceled
/// order by order then. A second trip asks again.
#[test]
fn the_kill_switch_asks_a_venue_for_a_mass_cancel_and_cancels_what_it_left() {
    let mut p = mass_cancel_pipeline();
    let [bid, ask] = quoting(&mut p);
    let mut sent = Vec::new();
    p.kill(Nanos(12_000_000), &mut |o| sent.push(*o));
    let request = the_mass_cancel(&sent);
    // While the answer is awaited, the timer sends nothing.
    let mut quiet = Vec::new();
    for ms in [13, 100, 500] {
        p.on_timer(Nanos(ms * 1_000_000), &mut |o| quiet.push(*o));
    }
    assert!(quiet.is_empty(), "{quiet:?}");
    // The venue cancels the bid only (the ask, say, was on its way).
    let mut after = Vec::new();
    p.on_exec_report(&canceled(bid), Nanos(501_000_000), &mut |o| after.push(*o));
    let answer = gateway::fixmap::MassCancelAnswer {
        cl_ord_id: Some(request),
        accepted: true,
        affected: 1,
    };
    p.on_mass_cancel_answer(VenueId(1), &answer, Nanos(502_000_000), &mut |o| {
        after.push(*o)
    });
    assert_eq!(canceled_ids(&after), [ask], "{after:?}");
    p.on_exec_report(&canceled(ask), Nanos(503_000_000), &mut |_| {});
    assert_eq!(p.open_orders(), 0);
    let s = p.stats();
    assert_eq!(
        (
            s.mass_cancels,
            s.mass_cancels_accepted,
            s.mass_canceled_orders,
            s.kill_cancels
        ),
        (1, 1, 1, 1)
    );
    // The same answer again is not awaited any more.
    p.on_mass_cancel_answer(VenueId(1), &answer, Nanos(504_000_000), &mut |_| {});
    assert_eq!(p.stats().mass_cancel_stray_answers, 1);

    // Re-armed, quoting again, killed again: a new mass cancel.
    p.rearm().unwrap();
    let mut requotes = Vec::new();
    p.on_timer(Nanos(600_000_000), &mut |o| requotes.push(*o));
    let more = feed(
        &mut p,
        &[delete(1, 30), add(3, Side::Buy, Price(100_0100), 500, 31)],
    );
    requotes.extend(more);
    assert!(
        requotes.iter().any(|o| matches!(o, Outbound::New { .. })),
        "{requotes:?}"
    );
    let mut second = Vec::new();
    p.kill(Nanos(700_000_000), &mut |o| second.push(*o));
    assert_ne!(the_mass_cancel(&second), request);
}

/// The close asks for a mass cancel like the kill; its answer is awaited
/// (for the logout to wait on) even once every order of ours is canceled,
/// until it comes or the wait runs out.
#[test]
fn the_close_awaits_the_mass_cancel_answer_after_the_last_cancel() {
    let answer_to = |request| gateway::fixmap::MassCancelAnswer {
        cl_ord_id: Some(request),
        accepted: true,
        affected: 2,
    };
    for answered in [true, false] {
        let mut p = mass_cancel_pipeline();
        let [bid, ask] = quoting(&mut p);
        assert!(!p.mass_cancels_unanswered(Nanos(11_000_000)));
        let mut sent = Vec::new();
        let t0 = 12_000_000;
        p.close_session(Nanos(t0), &mut |o| sent.push(*o));
        let request = the_mass_cancel(&sent);
        assert!(p.mass_cancels_unanswered(Nanos(t0)));
        for cl in [bid, ask] {
            p.on_exec_report(&canceled(cl), Nanos(t0 + 1_000_000), &mut |_| {});
        }
        assert_eq!(p.open_orders(), 0);
        assert!(
            p.mass_cancels_unanswered(Nanos(t0 + 2_000_000)),
            "no order open, the answer still due"
        );
        if answered {
            p.on_mass_cancel_answer(
                VenueId(1),
                &answer_to(request),
                Nanos(t0 + 3_000_000),
                &mut |_| {},
            );
            assert!(!p.mass_cancels_unanswered(Nanos(t0 + 3_000_000)));
            assert_eq!(p.stats().mass_cancels_accepted, 1);
        } else {
            let ends = t0 + pipeline::MASS_CANCEL_WAIT_NS;
            assert!(p.mass_cancels_unanswered(Nanos(ends - 1)));
            assert!(!p.mass_cancels_unanswered(Nanos(ends)), "the wait ran out");
        }
    }
}

/// No answer: once the wait runs out, the venue's orders are canceled
/// order by order; an answer after that is stray.
#[test]
fn without_an_answer_the_kill_cancels_order_by_order_after_the_wait() {
    let mut p = mass_cancel_pipeline();
    let [bid, ask] = quoting(&mut p);
    let mut sent = Vec::new();
    let t0 = 12_000_000;
    p.kill(Nanos(t0), &mut |o| sent.push(*o));
    let request = the_mass_cancel(&sent);
    let mut before = Vec::new();
    p.on_timer(Nanos(t0 + 1_000_000), &mut |o| before.push(*o));
    p.on_timer(Nanos(t0 + pipeline::MASS_CANCEL_WAIT_NS - 1), &mut |o| {
        before.push(*o)
    });
    assert!(before.is_empty(), "{before:?}");
    let mut after = Vec::new();
    p.on_timer(Nanos(t0 + pipeline::MASS_CANCEL_WAIT_NS), &mut |o| {
        after.push(*o)
    });
    let mut got = canceled_ids(&after);
    got.sort();
    let mut want = vec![bid, ask];
    want.sort();
    assert_eq!(got, want, "{after:?}");
    assert_eq!(p.stats().mass_cancel_timeouts, 1);
    let late = gateway::fixmap::MassCancelAnswer {
        cl_ord_id: Some(request),
        accepted: true,
        affected: 2,
    };
    p.on_mass_cancel_answer(VenueId(1), &late, Nanos(t0 + 1_000_000_000), &mut |_| {});
    assert_eq!(
        (
            p.stats().mass_cancel_stray_answers,
            p.stats().mass_cancels_accepted
        ),
        (1, 0)
    );
}

/// A venue that refuses the mass cancel (its report says so, or it
/// rejects the message type) has every order canceled on its own at once;
/// an answer naming another request changes nothing.
#[test]
fn a_refused_mass_cancel_cancels_order_by_order_at_once() {
    for unsupported in [false, true] {
        let mut p = mass_cancel_pipeline();
        quoting(&mut p);
        let mut sent = Vec::new();
        p.kill(Nanos(12_000_000), &mut |o| sent.push(*o));
        let request = the_mass_cancel(&sent);
        let mut after = Vec::new();
        let other = gateway::fixmap::MassCancelAnswer {
            cl_ord_id: Some(ClOrdId(request.0 + 1)),
            accepted: true,
            affected: 2,
        };
        p.on_mass_cancel_answer(VenueId(1), &other, Nanos(13_000_000), &mut |o| {
            after.push(*o)
        });
        assert!(after.is_empty(), "{after:?}");
        if unsupported {
            p.on_mass_cancel_unsupported(VenueId(1), Nanos(14_000_000), &mut |o| after.push(*o));
        } else {
            let refused = gateway::fixmap::MassCancelAnswer {
                cl_ord_id: Some(request),
                accepted: false,
                affected: 0,
            };
            p.on_mass_cancel_answer(VenueId(1), &refused, Nanos(14_000_000), &mut |o| {
                after.push(*o)
            });
        }
        assert_eq!(canceled_ids(&after).len(), 2, "{after:?}");
        let s = p.stats();
        assert_eq!(
            (
                s.mass_cancels_refused,
                s.mass_cancel_stray_answers,
                s.kill_cancels
            ),
            (1, 1, 2)
        );
    }
}

/// A venue that does not take mass cancels gets the order-by-order sweep.
#[test]
fn a_venue_without_mass_cancels_gets_a_cancel_per_order() {
    let mut p = pipeline(Limits::unlimited());
    quoting(&mut p);
    let mut sent = Vec::new();
    p.kill(Nanos(12_000_000), &mut |o| sent.push(*o));
    assert_eq!(canceled_ids(&sent).len(), 2, "{sent:?}");
    assert!(!sent
        .iter()
        .any(|o| matches!(o, Outbound::MassCancel { .. })));
    assert_eq!(p.stats().mass_cancels, 0);
}

#[test]
fn same_inputs_same_orders() {
    let mut msgs = two_sided();
    for (next_ref, i) in (10u64..).zip(0..200u64) {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let px = if side == Side::Buy {
            100_0000 - (i as i64 % 5) * 100
        } else {
            100_1000 + (i as i64 % 5) * 100
        };
        msgs.push(add(next_ref, side, Price(px), 100 + i as u32, 100 + i));
        if i % 3 == 0 {
            msgs.push(delete(next_ref, 101 + i));
        }
    }
    let a = feed(&mut pipeline(Limits::unlimited()), &msgs);
    let b = feed(&mut pipeline(Limits::unlimited()), &msgs);
    assert!(!a.is_empty());
    assert_eq!(a, b);
}

#[test]
fn no_decisions_while_the_venue_is_unreachable() {
    let mut p = pipeline(Limits::unlimited());
    p.set_trading(false);
    let quiet = feed(&mut p, &two_sided());
    assert!(quiet.is_empty(), "{quiet:?}");
    assert_eq!(
        p.book.bbo(LOCATE).bid.map(|l| l.price),
        Some(Price(100_0000)),
        "the book kept up"
    );
    p.set_trading(true);
    let sent = feed(&mut p, &[add(5, Side::Buy, Price(100_0500), 100, 30)]);
    assert!(
        sent.iter().any(|o| matches!(o, Outbound::New { .. })),
        "quotes once trading: {sent:?}"
    );
}

static TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A clock that advances by one at every read.
fn ticking_clock() -> u64 {
    TICKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1
}

#[test]
fn stage_stamps_follow_the_stages_and_change_no_decision() {
    let msgs = two_sided();
    let plain = feed(&mut pipeline(Limits::unlimited()), &msgs);
    let mut p = pipeline(Limits::unlimited());
    p.set_clock(ticking_clock);
    // The first message books a bid only: no order, so no risk stamp.
    let mut sent = Vec::new();
    let first = Message::parse(&msgs[0]).unwrap();
    p.on_itch(&first, Nanos(1_000_000), &mut |o| sent.push(*o));
    let s = p.stamps();
    assert!(s.book > 0 && s.strategy > s.book, "{s:?}");
    assert_eq!(s.risk, 0, "no order passed risk: {s:?}");
    let second = Message::parse(&msgs[1]).unwrap();
    p.on_itch(&second, Nanos(2_000_000), &mut |o| sent.push(*o));
    let s = p.stamps();
    assert!(!sent.is_empty(), "the two-sided book makes the maker quote");
    assert!(
        s.book > 0 && s.strategy > s.book && s.risk > s.strategy,
        "{s:?}"
    );
    assert_eq!(sent, plain, "stamping changed what was sent");
}

// ------------------------------------------------------------------ venues

use gateway::router::{Router, RouterConfig, VenueConfig};

/// Venue 1 pays a $0.0010 rebate, venue 2 a $0.0030 one.
fn two_venue_pipeline() -> Pipeline<4, 8> {
    two_venue_pipeline_with(MmParams::default_for_cent_tick())
}

/// A maker that sends a refused quote again at once (no hold after a
/// refusal), for tests of what the pipeline and the router make of a run
/// of refusals.
fn retrying_at_once() -> MmParams {
    MmParams {
        refusal_hold_ns: 0,
        ..MmParams::default_for_cent_tick()
    }
}

/// [`two_venue_pipeline`] with a maker of parameters `mm`.
fn two_venue_pipeline_with(mm: MmParams) -> Pipeline<4, 8> {
    let single = pipeline_with(Limits::unlimited(), mm);
    let mut router = Router::new(RouterConfig::default());
    for (id, make_fee) in [(1, -1_000), (2, -3_000)] {
        router
            .add_venue(VenueConfig {
                id: VenueId(id),
                take_fee: 3_000,
                make_fee,
                mass_cancel: false,
            })
            .unwrap();
        router.set_session(VenueId(id), true);
    }
    let Pipeline {
        book,
        strategies,
        risk,
        oms,
        ..
    } = single;
    let mut p = Pipeline::with_router(book, strategies, risk, oms, VenueId(1), router);
    assert!(p.add_away_book(
        VenueId(2),
        Book::with_capacity(BookConfig {
            max_orders: 1024,
            max_levels: 256,
        })
    ));
    p
}

fn news(sent: &[Outbound]) -> Vec<(types::VenueId, gateway::oms::ClOrdId, u32)> {
    sent.iter()
        .filter_map(|o| match *o {
            Outbound::New {
                venue,
                cl_ord_id,
                qty,
                ..
            } => Some((venue, cl_ord_id, qty)),
            _ => None,
        })
        .collect()
}

#[test]
fn quotes_rest_on_the_best_rebate_and_leave_a_venue_that_goes_down() {
    let mut p = two_venue_pipeline();
    let first = news(&feed(&mut p, &two_sided()));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first.iter().all(|(v, _, _)| *v == VenueId(2)),
        "the better rebate wins: {first:?}"
    );
    assert_eq!(p.stats().orders_by_venue[1], 2);
    // Venue 2 acknowledges 8 ms after entry: the router learns the latency.
    for (_, cl, qty) in &first {
        let mut ack = ExecReport::new(*cl, ExecType::New);
        ack.leaves_qty = *qty;
        p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
    }
    let lat = p.router().venue(VenueId(2)).unwrap().latency_ns;
    assert!(
        (8_000_000..=9_000_000).contains(&lat),
        "entered at 1–2 ms, acknowledged at 10 ms: {lat}"
    );
    // Venue 2's session drops; it cancels our orders on disconnect.
    p.set_session(VenueId(2), false);
    let mut again = Vec::new();
    for (_, cl, _) in &first {
        let cancel = ExecReport::new(*cl, ExecType::Canceled);
        p.on_exec_report(&cancel, Nanos(20_000_000), &mut |o| again.push(*o));
    }
    let again = news(&again);
    assert_eq!(again.len(), 2, "the maker quotes again: {again:?}");
    assert!(
        again.iter().all(|(v, _, _)| *v == VenueId(1)),
        "nothing goes to a venue that is down: {again:?}"
    );
}

#[test]
fn with_every_venue_down_intents_are_refused_and_nothing_leaves() {
    let mut p = two_venue_pipeline();
    p.set_session(VenueId(1), false);
    p.set_session(VenueId(2), false);
    let sent = feed(&mut p, &two_sided());
    assert!(sent.is_empty(), "{sent:?}");
    assert!(p.stats().unroutable >= 2, "{:?}", p.stats());
    assert!(
        p.risk.open_orders() == 0,
        "refused intents are not counted as open"
    );
    // A session comes back: the maker's next decision goes out there.
    p.set_session(VenueId(1), true);
    let sent = news(&feed(
        &mut p,
        &[add(5, Side::Buy, Price(100_0500), 100, 30)],
    ));
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|(v, _, _)| *v == VenueId(1)), "{sent:?}");
}

#[test]
fn acknowledgements_out_of_entry_order_bind_to_the_right_orders() {
    // A one-tick lift of the mid moves both quotes in the same step.
    let mut p = requoting(Limits::unlimited());
    let sent = feed(&mut p, &two_sided());
    let quotes: Vec<(Side, gateway::oms::ClOrdId, u32)> = sent
        .iter()
        .filter_map(|o| match *o {
            Outbound::New {
                side,
                cl_ord_id,
                qty,
                ..
            } => Some((side, cl_ord_id, qty)),
            _ => None,
        })
        .collect();
    assert_eq!(quotes.len(), 2);
    // The venue answers the later order (the ask) first.
    for (_, cl, qty) in quotes.iter().rev() {
        let mut ack = ExecReport::new(*cl, ExecType::New);
        ack.leaves_qty = *qty;
        p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
    }
    // The market lifts; the maker moves both quotes. Each modification
    // names an order by id, and the OMS sends it with that order's side: if
    // the ids had been bound to the wrong slots, the bid's new price would
    // go out on the sell order and the ask's on the buy order.
    let steps = [add(20, Side::Buy, Price(100_0200), 500, 40_000_000)];
    let mut both_sides_moved = 0;
    for (i, m) in (40u64..).zip(&steps) {
        let mut moved = Vec::new();
        let msg = Message::parse(m).unwrap();
        p.on_itch(&msg, Nanos(i * 1_000_000), &mut |o| moved.push(*o));
        let price_of = |want: Side| {
            moved.iter().find_map(|o| match *o {
                Outbound::Replace { side, price, .. } if side == want => Some(price),
                _ => None,
            })
        };
        assert!(
            moved.iter().all(|o| !matches!(o, Outbound::Cancel { .. })),
            "{moved:?}"
        );
        if let (Some(bid), Some(ask)) = (price_of(Side::Buy), price_of(Side::Sell)) {
            both_sides_moved += 1;
            assert!(
                bid < ask,
                "bid {bid:?} on the buy order, ask {ask:?} on the sell order"
            );
        }
    }
    assert!(
        both_sides_moved > 0,
        "the maker moved both quotes at least once"
    );
}

#[test]
fn another_venues_feed_keeps_its_own_book_and_makes_no_decision() {
    let mut p = two_venue_pipeline();
    let msg = add(1, Side::Sell, Price(99_9000), 300, 1);
    p.on_away_itch(VenueId(2), &Message::parse(&msg).unwrap());
    let away = p.away_book(VenueId(2)).unwrap();
    assert_eq!(away.bbo(LOCATE).ask.map(|l| l.price), Some(Price(99_9000)));
    assert_eq!(
        p.book.bbo(LOCATE).ask,
        None,
        "the primary book is untouched"
    );
    assert_eq!(p.stats().away_messages, 1);
    assert_eq!(p.stats().intents, 0);
}

/// Each venue's feed numbers its own stocks: an away book is consulted
/// for an instrument only where its directory names the same stock. Venue
/// 2's feed has ZZZ (bid 300.00) where the primary has AAA: that bid must
/// not keep the maker's post-only ask near 100 off venue 2, the better
/// rebate; AAA's own bid at 300.00 there does.
#[test]
fn an_away_book_is_consulted_only_where_it_names_the_same_stock() {
    for (away_name, ask_venue) in [("ZZZ", VenueId(2)), ("AAA", VenueId(1))] {
        let mut p = two_venue_pipeline();
        for msg in [
            directory_of(away_name),
            add(9, Side::Buy, Price(300_0000), 100, 1),
        ] {
            p.on_away_itch(VenueId(2), &Message::parse(&msg).unwrap());
        }
        let mut msgs = vec![directory_aaa()];
        msgs.extend(two_sided());
        let sent = feed(&mut p, &msgs);
        assert_eq!(
            ask_venue_of(&sent),
            Some(ask_venue),
            "away book names {away_name}: {sent:?}"
        );
    }
}

/// The venue the maker's new ask went to, if it sent one.
fn ask_venue_of(sent: &[Outbound]) -> Option<VenueId> {
    sent.iter().find_map(|o| match *o {
        Outbound::New {
            side: Side::Sell,
            venue,
            ..
        } => Some(venue),
        _ => None,
    })
}

/// Feeds `msgs` to venue 2's away book.
fn feed_away(p: &mut Pipeline<4, 8>, msgs: &[Vec<u8>]) {
    for m in msgs {
        p.on_away_itch(VenueId(2), &Message::parse(m).unwrap());
    }
}

/// A bid at 300.00 on venue 2 at `locate`: if the router takes it for
/// AAA's, the maker's post-only ask near 100 would cross it there and goes
/// to venue 1; otherwise to venue 2, the better rebate.
fn away_bid_at(locate: u16) -> Vec<u8> {
    add_at(locate, 9, Side::Buy, Price(300_0000), 100, 1)
}

/// Venue 2's feed numbers AAA 5 and has ZZZ at the primary's AAA locate:
/// the router reads venue 2's AAA under 5, and ZZZ's bid at the primary's
/// number never stands in for AAA's.
#[test]
fn an_away_venue_numbering_the_stock_differently_is_read_under_its_own_locate() {
    for (bid_at, ask_venue) in [(5, VenueId(1)), (LOCATE, VenueId(2))] {
        let mut p = two_venue_pipeline();
        feed_away(
            &mut p,
            &[
                directory_at("ZZZ", LOCATE),
                directory_at("AAA", 5),
                away_bid_at(bid_at),
            ],
        );
        let mut msgs = vec![directory_aaa()];
        msgs.extend(two_sided());
        let sent = feed(&mut p, &msgs);
        assert_eq!(p.away_locate(VenueId(2), LOCATE), Some(5));
        assert_eq!(
            ask_venue_of(&sent),
            Some(ask_venue),
            "venue 2's bid at {bid_at}: {sent:?}"
        );
    }
}

/// Venue 2 acknowledges and then cancels every quote in `sent`; what the
/// maker sends in answer.
fn cancel_quotes(p: &mut Pipeline<4, 8>, sent: &[Outbound], now: u64) -> Vec<Outbound> {
    let mut again = Vec::new();
    for (_, cl, qty) in news(sent) {
        let mut ack = ExecReport::new(cl, ExecType::New);
        ack.leaves_qty = qty;
        p.on_exec_report(&ack, Nanos(now), &mut |o| again.push(*o));
        let cancel = ExecReport::new(cl, ExecType::Canceled);
        p.on_exec_report(&cancel, Nanos(now + 1), &mut |o| again.push(*o));
    }
    again
}

/// Venue 2's feed starts a new day numbering AAA 6 and giving AAA's old
/// number to ZZZ: the router follows AAA to 6 and never reads ZZZ's bid
/// under yesterday's translation, nor anything between the two sessions.
#[test]
fn the_away_translation_follows_the_symbol_into_a_new_away_session() {
    let mut p = two_venue_pipeline();
    feed_away(&mut p, &[directory_at("AAA", 5), away_bid_at(5)]);
    let mut msgs = vec![directory_aaa()];
    msgs.extend(two_sided());
    let sent = feed(&mut p, &msgs);
    assert_eq!(ask_venue_of(&sent), Some(VenueId(1)), "{sent:?}");
    p.reset_away(VenueId(2));
    assert_eq!(
        p.away_locate(VenueId(2), LOCATE),
        None,
        "no directory on venue 2 yet"
    );
    feed_away(
        &mut p,
        &[
            directory_at("ZZZ", 5),
            directory_at("AAA", 6),
            away_bid_at(5),
        ],
    );
    assert_eq!(p.away_locate(VenueId(2), LOCATE), Some(6));
    let again = cancel_quotes(&mut p, &sent, 10_000_000);
    assert_eq!(
        ask_venue_of(&again),
        Some(VenueId(2)),
        "ZZZ's bid is not AAA's: {again:?}"
    );
    // AAA's own bid on venue 2, under its new number, is seen.
    p.on_away_itch(
        VenueId(2),
        &Message::parse(&add_at(6, 10, Side::Buy, Price(300_0000), 100, 2)).unwrap(),
    );
    let last = cancel_quotes(&mut p, &again, 20_000_000);
    assert_eq!(ask_venue_of(&last), Some(VenueId(1)), "{last:?}");
}

/// The primary feed starts a new day numbering AAA 2 and giving AAA's old
/// number to BBB: the router finds venue 2's AAA (5) under AAA's new number
/// and venue 2's BBB (7) under BBB's, nothing in between.
#[test]
fn the_away_translation_follows_the_symbol_into_a_new_primary_session() {
    let mut p = two_venue_pipeline();
    feed_away(
        &mut p,
        &[
            directory_at("AAA", 5),
            directory_at("BBB", 7),
            away_bid_at(5),
        ],
    );
    feed(&mut p, &[directory_aaa(), directory_at("BBB", 2)]);
    assert_eq!(p.away_locate(VenueId(2), LOCATE), Some(5));
    assert_eq!(p.away_locate(VenueId(2), 2), Some(7));
    p.reset_feed(Nanos(1));
    assert_eq!(p.away_locate(VenueId(2), LOCATE), None);
    assert_eq!(p.away_locate(VenueId(2), 2), None);
    let mut msgs = vec![directory_at("BBB", LOCATE), directory_at("AAA", 2)];
    msgs.extend([
        add_at(2, 1, Side::Buy, Price(100_0000), 500, 1),
        add_at(2, 2, Side::Sell, Price(100_1000), 500, 2),
    ]);
    let sent = feed(&mut p, &msgs);
    assert_eq!(p.away_locate(VenueId(2), LOCATE), Some(7));
    assert_eq!(p.away_locate(VenueId(2), 2), Some(5));
    assert_eq!(
        ask_venue_of(&sent),
        Some(VenueId(1)),
        "the maker trades AAA under 2 now, and venue 2's AAA bid keeps its ask off: {sent:?}"
    );
}

/// A directory naming AAA at two locates (a bad feed) leaves which one is
/// AAA unknown: the router sees no depth for AAA on venue 2, whichever
/// feed's directory it is, and each such entry is counted.
#[test]
fn a_symbol_named_twice_in_a_directory_gets_no_away_depth() {
    // Venue 2 names AAA at the primary's number, with the bid, and at 7.
    let mut p = two_venue_pipeline();
    feed_away(
        &mut p,
        &[
            directory_at("AAA", LOCATE),
            directory_at("AAA", 7),
            away_bid_at(LOCATE),
        ],
    );
    let mut msgs = vec![directory_aaa()];
    msgs.extend(two_sided());
    let sent = feed(&mut p, &msgs);
    assert_eq!(p.away_locate(VenueId(2), LOCATE), None);
    assert_eq!(ask_venue_of(&sent), Some(VenueId(2)), "{sent:?}");
    assert_eq!(p.stats().duplicate_symbols, 1);
    // The primary names AAA at its number and at 3.
    let mut p = two_venue_pipeline();
    feed_away(&mut p, &[directory_at("AAA", 5), away_bid_at(5)]);
    let mut msgs = vec![directory_aaa(), directory_at("AAA", 3)];
    msgs.extend(two_sided());
    let sent = feed(&mut p, &msgs);
    assert_eq!(p.away_locate(VenueId(2), LOCATE), None);
    assert_eq!(ask_venue_of(&sent), Some(VenueId(2)), "{sent:?}");
    assert_eq!(p.stats().duplicate_symbols, 1);
}

#[test]
fn a_venue_that_cancels_on_disconnect_frees_its_orders_for_the_other_venue() {
    let mut p = two_venue_pipeline();
    let first = news(&feed(&mut p, &two_sided()));
    assert!(first.iter().all(|(v, _, _)| *v == VenueId(2)));
    for (_, cl, qty) in &first {
        let mut ack = ExecReport::new(*cl, ExecType::New);
        ack.leaves_qty = *qty;
        p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
    }
    assert_eq!(p.risk.open_orders(), 2);
    let mut moved = Vec::new();
    p.venue_lost(VenueId(2), true, Nanos(20_000_000), &mut |o| moved.push(*o));
    let moved = news(&moved);
    assert_eq!(p.oms.stats().canceled_on_disconnect, 2);
    assert_eq!(moved.len(), 2, "requoted at once: {moved:?}");
    assert!(moved.iter().all(|(v, _, _)| *v == VenueId(1)), "{moved:?}");
    assert_eq!(p.risk.open_orders(), 2, "only the new quotes are open");
    // After the reconnect venue 2's backlog arrives: a fill executed before
    // the drop still counts, its cancel changes nothing.
    let (_, cl, qty) = first[0];
    let mut fill = ExecReport::new(cl, ExecType::Trade);
    fill.last_qty = 10;
    fill.last_px = Price(100_0000);
    fill.cum_qty = 10;
    fill.leaves_qty = qty - 10;
    let before = p.oms.position(LOCATE).map_or(0, |x| x.qty);
    p.on_exec_report(&fill, Nanos(30_000_000), &mut |_| {});
    let after = p.oms.position(LOCATE).map_or(0, |x| x.qty);
    assert_eq!((after - before).abs(), 10, "the fill moved the position");
    let mut late = Vec::new();
    let cancel = ExecReport::new(first[1].1, ExecType::Canceled);
    p.on_exec_report(&cancel, Nanos(31_000_000), &mut |o| late.push(*o));
    assert!(news(&late).is_empty(), "{late:?}");
    assert!(p.oms.stats().late_reports >= 1);
}

#[test]
fn a_venue_that_keeps_orders_across_a_disconnect_keeps_them_open() {
    let mut p = two_venue_pipeline();
    let first = news(&feed(&mut p, &two_sided()));
    for (_, cl, qty) in &first {
        let mut ack = ExecReport::new(*cl, ExecType::New);
        ack.leaves_qty = *qty;
        p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
    }
    let mut moved = Vec::new();
    p.venue_lost(VenueId(2), false, Nanos(20_000_000), &mut |o| {
        moved.push(*o)
    });
    assert!(moved.is_empty(), "{moved:?}");
    assert_eq!(p.risk.open_orders(), 2, "still open at venue 2");
    assert_eq!(p.oms.stats().canceled_on_disconnect, 0);
    assert!(!p.router().venue(VenueId(2)).unwrap().session_up);
}

fn directory_aaa() -> Vec<u8> {
    directory_of("AAA")
}

/// The directory entry naming `name` at `LOCATE`.
fn directory_of(name: &str) -> Vec<u8> {
    directory_at(name, LOCATE)
}

/// The directory entry naming `name` at `locate`.
fn directory_at(name: &str, locate: u16) -> Vec<u8> {
    itch(MessageRepr::StockDirectory(
        protocol::itch::StockDirectoryRepr::common_stock(
            Header {
                stock_locate: locate,
                tracking_number: 0,
                timestamp: 0,
            },
            Symbol::new(name).unwrap(),
        ),
    ))
}

fn risk_config(max_order_qty: u32, restricted: &[&str]) -> protocol::mailbox::config::RiskConfig {
    let mut restricted_symbols = heapless::Vec::new();
    for s in restricted {
        restricted_symbols
            .push(heapless::String::try_from(*s).unwrap())
            .unwrap();
    }
    protocol::mailbox::config::RiskConfig {
        max_order_qty,
        max_order_notional: 1_000_000_000_000,
        max_position_qty: 100_000,
        max_gross_notional: 10_000_000_000_000,
        max_open_orders: 100,
        max_orders_per_sec: 1_000,
        price_collar_bps: 1_000,
        max_daily_loss: 1_000_000_000_000,
        max_rejects_per_min: 200,
        restricted_symbols,
        entered_volume: None,
        self_match: Default::default(),
    }
}

/// The companion's configuration changes the limits between two messages:
/// quotes above the new size limit, then quotes in a restricted symbol, are
/// refused with their reasons; a looser configuration replaces both.
#[test]
fn risk_configuration_applies_at_run_time() {
    let mut p = pipeline(Limits::unlimited());
    feed(&mut p, &[directory_aaa()]);
    // The market maker quotes 100 shares.
    p.apply_risk_config(&risk_config(50, &[]), 16, Nanos(1))
        .unwrap();
    let sent = feed(&mut p, &two_sided());
    assert!(sent.is_empty(), "nothing above 50 shares: {sent:?}");
    assert!(p.risk.reject_count(types::RejectReason::MaxOrderQty) >= 2);

    let mapping = p
        .apply_risk_config(&risk_config(1_000, &["AAA", "NOPE"]), 16, Nanos(1))
        .unwrap();
    assert_eq!(mapping.unknown_symbols, 1, "NOPE is not in the directory");
    let sent = feed(&mut p, &[add(3, Side::Buy, Price(100_0100), 300, 3)]);
    assert!(sent.is_empty(), "AAA is restricted: {sent:?}");
    assert!(p.risk.reject_count(types::RejectReason::RestrictedSymbol) >= 1);

    // A looser configuration replaces both: no restricted symbol is left.
    p.apply_risk_config(&risk_config(1_000, &[]), 16, Nanos(1))
        .unwrap();
    assert!(p.risk.limits().overrides.is_empty());
    assert!(!p.risk.limits().for_symbol(LOCATE).restricted);
    assert_eq!(p.risk.limits().default_symbol.max_order_qty, 1_000);
}

fn mm_entry(id: u16, symbol: &str, enabled: bool) -> protocol::mailbox::config::StrategyConfig {
    let mut symbols = heapless::Vec::new();
    symbols
        .push(heapless::String::try_from(symbol).unwrap())
        .unwrap();
    protocol::mailbox::config::StrategyConfig {
        id,
        name: heapless::String::try_from("mm").unwrap(),
        kind: protocol::mailbox::config::StrategyKind::MarketMaker,
        enabled,
        venue: 1,
        symbols,
        quote_qty: 200,
        spread_ticks: 0,
        max_inventory: 1_000,
    }
}

/// The companion disables the market maker: its acknowledged quotes are
/// cancelled at once and nothing new is quoted; entries for other ids or
/// symbols change nothing; enabling it brings 200-share quotes back.
#[test]
fn strategy_configuration_pulls_and_restores_quotes() {
    let mut p = pipeline(Limits::unlimited());
    feed(&mut p, &[directory_aaa()]);
    let sent = feed(&mut p, &two_sided());
    let mut quotes = Vec::new();
    for o in &sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
            quotes.push(cl_ord_id);
        }
    }
    assert_eq!(quotes.len(), 2);
    let mut out = Vec::new();
    let m = p.apply_strategy_config(
        &[mm_entry(7, "AAA", false), mm_entry(1, "ZZZ", false)],
        Nanos(11_000_000),
        &mut |o| out.push(*o),
    );
    assert_eq!((m.applied, m.not_running, m.other_symbols), (0, 1, 1));
    assert!(out.is_empty(), "{out:?}");

    let m = p.apply_strategy_config(&[mm_entry(1, "AAA", false)], Nanos(12_000_000), &mut |o| {
        out.push(*o)
    });
    assert_eq!(m.applied, 1);
    let cancels = out
        .iter()
        .filter(|o| matches!(o, Outbound::Cancel { .. }))
        .count();
    assert_eq!(cancels, 2, "both quotes pulled: {out:?}");
    // The venue confirms (the report names the cancel's ClOrdID and the
    // quote's as the original).
    for o in out.clone() {
        if let Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            ..
        } = o
        {
            let mut done = ExecReport::new(cl_ord_id, ExecType::Canceled);
            done.orig_cl_ord_id = Some(orig_cl_ord_id);
            p.on_exec_report(&done, Nanos(12_500_000), &mut |o| out.push(*o));
        }
    }
    assert!(
        !out.iter().any(|o| matches!(o, Outbound::New { .. })),
        "no requote after the cancels: {out:?}"
    );
    out.clear();
    feed(&mut p, &[add(5, Side::Buy, Price(100_0100), 300, 13)])
        .into_iter()
        .for_each(|o| out.push(o));
    assert!(
        !out.iter().any(|o| matches!(o, Outbound::New { .. })),
        "nothing quoted while disabled: {out:?}"
    );

    p.apply_strategy_config(&[mm_entry(1, "AAA", true)], Nanos(14_000_000), &mut |_| {});
    let sent = feed(&mut p, &[add(6, Side::Sell, Price(100_0800), 300, 15)]);
    assert!(
        sent.iter()
            .any(|o| matches!(o, Outbound::New { qty: 200, .. })),
        "quotes back at the configured size: {sent:?}"
    );
}

/// Acknowledges every `New` in `sent` (the venue took them).
fn ack_all(p: &mut Pipeline<4, 8>, sent: &[Outbound], now: u64) -> Vec<Outbound> {
    let mut more = Vec::new();
    for o in sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(now), &mut |o| more.push(*o));
        }
    }
    more
}

const SECOND: u64 = 1_000_000_000;

/// A maker that moves its quotes on a one-tick move of the mid, however
/// good their place in the queue.
fn requoting(limits: Limits) -> Pipeline<4, 8> {
    pipeline_with(
        limits,
        MmParams {
            requote_ticks_good_queue: 1,
            ..MmParams::default_for_cent_tick()
        },
    )
}

/// A market whose ticks are a second apart (the maker's volatility estimate
/// wants real time between mid changes), fed at the same times.
fn feed_at(p: &mut Pipeline<4, 8>, msgs: &[(u64, Vec<u8>)]) -> Vec<Outbound> {
    let mut sent = Vec::new();
    for (t, m) in msgs {
        let msg = Message::parse(m).unwrap();
        p.on_itch(&msg, Nanos(*t), &mut |o| sent.push(*o));
    }
    sent
}

fn report(p: &mut Pipeline<4, 8>, rep: ExecReport, now: u64) -> Vec<Outbound> {
    let mut sent = Vec::new();
    p.on_exec_report(&rep, Nanos(now), &mut |o| sent.push(*o));
    sent
}

fn cancels_of(sent: &[Outbound]) -> Vec<(types::OrderId, ClOrdId, ClOrdId)> {
    sent.iter()
        .filter_map(|o| match *o {
            Outbound::Cancel {
                order,
                cl_ord_id,
                orig_cl_ord_id,
                ..
            } => Some((order, cl_ord_id, orig_cl_ord_id)),
            _ => None,
        })
        .collect()
}

/// One of the maker's orders: its id and the ClOrdID it went out with.
#[derive(Debug, Clone, Copy)]
struct Quote {
    order: types::OrderId,
    cl_ord_id: ClOrdId,
}

/// A 100.00 / 100.10 market a second apart; the maker's two quotes (bid
/// 100.04, ask 100.06), both acknowledged: (bid, ask).
fn two_quotes_acked(p: &mut Pipeline<4, 8>) -> (Quote, Quote) {
    let sent = feed_at(
        p,
        &[
            (SECOND, add(1, Side::Buy, Price(100_0000), 500, SECOND)),
            (
                2 * SECOND,
                add(2, Side::Sell, Price(100_1000), 500, 2 * SECOND),
            ),
        ],
    );
    assert!(ack_all(p, &sent, 2 * SECOND + 1).is_empty());
    let quote = |want: Side| {
        sent.iter()
            .find_map(|o| match *o {
                Outbound::New {
                    order,
                    cl_ord_id,
                    side,
                    ..
                } if side == want => Some(Quote { order, cl_ord_id }),
                _ => None,
            })
            .unwrap_or_else(|| panic!("a {want:?} quote: {sent:?}"))
    };
    (quote(Side::Buy), quote(Side::Sell))
}

/// The venue confirms `cancels` (as [`cancels_of`] lists them); nothing
/// is sent in answer.
fn confirm_cancels(
    p: &mut Pipeline<4, 8>,
    cancels: &[(types::OrderId, ClOrdId, ClOrdId)],
    now: u64,
) {
    for &(_, cl, orig) in cancels {
        let mut done = ExecReport::new(cl, ExecType::Canceled);
        done.orig_cl_ord_id = Some(orig);
        assert!(report(p, done, now).is_empty());
    }
}

/// A maker with a $1 daily loss limit whose bid was filled: long 100 at
/// 100.04, the mid at 100.05, the ask still open. Returns the ask.
fn long_100_under_a_one_dollar_loss_limit() -> (Pipeline<4, 8>, Quote) {
    let mut limits = Limits::unlimited();
    limits.max_daily_loss = Price::SCALE as u64; // $1
    let mut p = pipeline(limits);
    let (bid, ask) = two_quotes_acked(&mut p);
    let mut fill = ExecReport::new(bid.cl_ord_id, ExecType::Fill);
    fill.last_qty = 100;
    fill.last_px = Price(100_0400);
    fill.cum_qty = 100;
    let after_fill = report(&mut p, fill, 2 * SECOND + 2);
    let _ = ack_all(&mut p, &after_fill, 2 * SECOND + 3);
    (p, ask)
}

/// Two acknowledged quotes, then the ask is replaced (100.06 -> 100.07):
/// returns (the bid's id, the ask's id, the ask's ClOrdID, the replace's).
/// `p` must requote a good queue on a one-tick move ([`requoting`]).
fn quoting_with_a_replace_in_flight(
    p: &mut Pipeline<4, 8>,
) -> (types::OrderId, types::OrderId, ClOrdId, ClOrdId) {
    let (bid, ask) = two_quotes_acked(p);
    // A one-tick lift of the mid (100.05 -> 100.06).
    let moved = feed_at(
        p,
        &[(
            3 * SECOND,
            add(3, Side::Buy, Price(100_0200), 500, 3 * SECOND),
        )],
    );
    let replace = moved
        .iter()
        .find_map(|o| match *o {
            Outbound::Replace {
                order, cl_ord_id, ..
            } if order == ask.order => Some(cl_ord_id),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the ask is replaced: {moved:?}"));
    (bid.order, ask.order, ask.cl_ord_id, replace)
}

/// The venue takes the replace before the kill's cancel, which then names
/// a ClOrdID it no longer knows and is refused: the kill switch cancels
/// again under the replace's ClOrdID, and nothing is left open.
#[test]
fn kill_with_a_replace_in_flight_cancels_under_the_new_clordid() {
    let mut p = requoting(Limits::unlimited());
    let (bid, ask, ask_cl, replace) = quoting_with_a_replace_in_flight(&mut p);
    let mut sent = Vec::new();
    p.kill(Nanos(6 * SECOND), &mut |o| sent.push(*o));
    let kill = cancels_of(&sent);
    assert_eq!(kill.len(), 2, "one cancel per open order: {sent:?}");
    let (_, ask_cancel, orig) = *kill.iter().find(|c| c.0 == ask).unwrap();
    assert_eq!(
        orig, ask_cl,
        "the kill's cancel names the ask as the OMS knows it"
    );
    let bid_cancel = *kill.iter().find(|c| c.0 == bid).unwrap();

    // The venue's answers, in its order: the replace, then the refused cancel.
    let mut replaced = ExecReport::new(replace, ExecType::Replaced);
    replaced.orig_cl_ord_id = Some(ask_cl);
    replaced.price = Price(100_0700);
    replaced.order_qty = 100;
    replaced.leaves_qty = 100;
    assert!(cancels_of(&report(&mut p, replaced, 6 * SECOND + 1)).is_empty());
    let mut refused = ExecReport::new(ask_cancel, ExecType::CancelRejected);
    refused.orig_cl_ord_id = Some(ask_cl);
    let again = cancels_of(&report(&mut p, refused, 6 * SECOND + 2));
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(
        (again[0].0, again[0].2),
        (ask, replace),
        "canceled as replaced"
    );

    confirm_cancels(&mut p, &[bid_cancel, again[0]], 6 * SECOND + 3);
    assert_eq!(p.oms.open_orders().count(), 0);
    assert_eq!(p.risk.open_orders(), 0);
    assert_eq!(p.stats().kill_cancels, 3);
    // Latched: the market moves, nothing new leaves.
    let after = feed_at(
        &mut p,
        &[(
            7 * SECOND,
            add(5, Side::Sell, Price(100_0800), 100, 7 * SECOND),
        )],
    );
    assert!(after.is_empty(), "{after:?}");
}

/// The venue refuses the maker's replace, so the maker pulls the order
/// instead; the venue refuses that cancel too (the order was on its way
/// to a fill, say). The maker does not send the refused replace again,
/// which the venue would refuse again (each refusal feeding the reject
/// rate that trips the kill switch): it keeps pulling the order.
#[test]
fn after_a_refused_replace_and_a_refused_cancel_the_replace_is_not_sent_again() {
    let mut p = pipeline_with(
        Limits::unlimited(),
        MmParams {
            requote_ticks_good_queue: 1,
            ..retrying_at_once()
        },
    );
    let (_, ask, ask_cl, replace) = quoting_with_a_replace_in_flight(&mut p);
    let replaces_of_the_ask = |sent: &[Outbound]| {
        sent.iter()
            .filter(|o| matches!(o, Outbound::Replace { order, .. } if *order == ask))
            .count()
    };
    let mut refused = ExecReport::new(replace, ExecType::ReplaceRejected);
    refused.orig_cl_ord_id = Some(ask_cl);
    let pulled = report(&mut p, refused, 4 * SECOND);
    assert_eq!(replaces_of_the_ask(&pulled), 0, "{pulled:?}");
    let cancels = cancels_of(&pulled);
    let Some(&(_, cancel, _)) = cancels.iter().find(|c| c.0 == ask) else {
        panic!("the ask is pulled: {pulled:?}");
    };
    let mut too_late = ExecReport::new(cancel, ExecType::CancelRejected);
    too_late.orig_cl_ord_id = Some(ask_cl);
    let after = report(&mut p, too_late, 4 * SECOND + 1);
    assert_eq!(
        replaces_of_the_ask(&after),
        0,
        "the refused replace sent again: {after:?}"
    );
    assert!(
        cancels_of(&after).iter().any(|c| c.0 == ask),
        "the ask is pulled again: {after:?}"
    );
}

/// A strategy's cancel of an order whose cancel is already in flight (the
/// kill switch's here) is neither sent again nor counted as a refusal: the
/// strategy hears of the order when the venue answers the cancel in flight.
#[test]
fn a_cancel_already_in_flight_is_not_sent_again_nor_refused() {
    let mut p = pipeline(Limits::unlimited());
    let _ = two_quotes_acked(&mut p);
    let mut sent = Vec::new();
    p.kill(Nanos(3 * SECOND), &mut |o| sent.push(*o));
    let kill = cancels_of(&sent);
    assert_eq!(kill.len(), 2, "{sent:?}");
    let before = p.stats();
    // Disabling the maker makes it pull both quotes at once.
    let mut out = Vec::new();
    let m = p.apply_strategy_config(
        &[mm_entry(1, "AAA", false)],
        Nanos(3 * SECOND + 1),
        &mut |o| out.push(*o),
    );
    assert_eq!(m.applied, 1);
    assert!(out.is_empty(), "nothing sent twice: {out:?}");
    let after = p.stats();
    assert_eq!(after.cancels_in_flight, before.cancels_in_flight + 2);
    assert_eq!(after.risk_rejects, before.risk_rejects, "not refusals");
    // The venue confirms the kill's cancels: nothing is left, nothing new goes.
    confirm_cancels(&mut p, &kill, 3 * SECOND + 2);
    assert_eq!(p.oms.open_orders().count(), 0);
    assert_eq!(p.risk.open_orders(), 0);
}

/// A venue that refuses every cancel gets a bounded number of them per
/// order, and the orders it kept are reported as abandoned.
#[test]
fn kill_cancels_to_a_venue_that_refuses_them_are_bounded() {
    let mut p = pipeline(Limits::unlimited());
    two_quotes_acked(&mut p);
    let mut out = Vec::new();
    p.kill(Nanos(3 * SECOND), &mut |o| out.push(*o));
    let mut pending = cancels_of(&out);
    let mut total = pending.len();
    let mut t = 3 * SECOND;
    while let Some((_, cl, orig)) = pending.pop() {
        t += 1;
        let mut refused = ExecReport::new(cl, ExecType::CancelRejected);
        refused.orig_cl_ord_id = Some(orig);
        let more = cancels_of(&report(&mut p, refused, t));
        total += more.len();
        pending.extend(more);
        assert!(total <= 100, "unbounded cancel/refusal loop");
    }
    assert_eq!(total, 2 * usize::from(risk::KILL_CANCEL_ATTEMPTS));
    assert_eq!(p.risk.kill_abandoned(), 2);
    assert_eq!(p.oms.open_orders().count(), 2, "the venue kept them");
}

/// A loss beyond the daily limit, from marking the position at the moving
/// mid (no fill needed), trips the kill switch: every open order is
/// canceled at once and nothing new leaves. Re-arming is refused while the
/// loss stands and accepted once the market recovers; quoting resumes.
#[test]
fn a_daily_loss_trip_cancels_every_open_order_and_rearms_after_recovery() {
    let (mut p, ask) = long_100_under_a_one_dollar_loss_limit();
    assert_eq!(p.risk.tripped(), None);
    let open_before: Vec<_> = p.oms.open_orders().map(|o| o.id).collect();
    assert!(open_before.contains(&ask.order), "{open_before:?}");

    // An offer at 100.04 takes the mid to 100.02 (calm: no fast-market
    // pull): marked there, the position loses $2.
    let fall = feed_at(
        &mut p,
        &[(
            3 * SECOND,
            add(10, Side::Sell, Price(100_0400), 500, 3 * SECOND),
        )],
    );
    assert_eq!(p.risk.tripped(), Some(risk::TripCause::DailyLoss));
    let canceled: Vec<_> = cancels_of(&fall).iter().map(|c| c.0).collect();
    for id in &open_before {
        assert!(canceled.contains(id), "{id:?} not canceled: {fall:?}");
    }
    assert_eq!(
        p.stats().kill_cancels,
        open_before.len() as u64,
        "the kill sent them"
    );
    let tripped_at = fall
        .iter()
        .position(|o| matches!(o, Outbound::Cancel { .. }))
        .unwrap();
    assert!(
        fall[tripped_at..]
            .iter()
            .all(|o| matches!(o, Outbound::Cancel { .. })),
        "nothing but cancels after the trip: {fall:?}"
    );
    assert_eq!(p.rearm(), Err(risk::RearmError::LossStillBreached));
    confirm_cancels(&mut p, &cancels_of(&fall), 3 * SECOND + 1);
    assert_eq!(p.oms.open_orders().count(), 0);

    // The offer goes, the mid is back at 100.05; re-armed, the maker quotes again.
    let _ = feed_at(&mut p, &[(4 * SECOND, delete(10, 4 * SECOND))]);
    assert_eq!(p.rearm(), Ok(()));
    let resumed = feed_at(
        &mut p,
        &[(
            5 * SECOND,
            add(14, Side::Buy, Price(100_0100), 100, 5 * SECOND),
        )],
    );
    assert!(
        resumed.iter().any(|o| matches!(o, Outbound::New { .. })),
        "quotes again after the re-arm: {resumed:?}"
    );
}

/// A replace's new price is collared against the market like a new
/// order's: both are measured against the book's mid; a cancel is not.
#[test]
fn replaces_are_collared_against_the_mid_like_new_orders() {
    let mut p = pipeline(Limits::unlimited());
    let (bid, _) = two_quotes_acked(&mut p);
    let (order, strategy) = (bid.order, StrategyId(1));
    let mid = Some(Price(100_0500));
    let replace = types::OrderIntent::Replace {
        strategy,
        order,
        price: Price(120_0000),
        qty: 100,
    };
    assert_eq!(p.collar_reference(&replace), mid);
    let new = types::OrderIntent::New {
        strategy,
        locate: LOCATE,
        symbol: Symbol::new("AAA").unwrap(),
        side: Side::Buy,
        price: Price(120_0000),
        qty: 100,
        tif: types::TimeInForce::Day,
    };
    assert_eq!(p.collar_reference(&new), mid);
    let cancel = types::OrderIntent::Cancel { strategy, order };
    assert_eq!(p.collar_reference(&cancel), None);
    // An order the OMS does not know has no instrument, hence no reference.
    let unknown = types::OrderIntent::Replace {
        strategy,
        order: types::OrderId(7),
        price: Price(120_0000),
        qty: 100,
    };
    assert_eq!(p.collar_reference(&unknown), None);
}

/// The close of the trading window cancels every open order and stops the
/// strategies, so the sessions can log out with nothing resting.
#[test]
fn closing_the_session_cancels_everything_and_quotes_nothing_more() {
    let mut p = pipeline(Limits::unlimited());
    two_quotes_acked(&mut p);
    assert_eq!(p.open_orders(), 2);
    let mut out = Vec::new();
    p.close_session(Nanos(3 * SECOND), &mut |o| out.push(*o));
    let cancels = cancels_of(&out);
    assert_eq!(cancels.len(), 2, "{out:?}");
    assert_eq!(p.risk.tripped(), Some(risk::TripCause::EndOfSession));
    let later = feed_at(
        &mut p,
        &[(
            4 * SECOND,
            add(3, Side::Buy, Price(100_0300), 500, 4 * SECOND),
        )],
    );
    assert!(later.is_empty(), "{later:?}");
    confirm_cancels(&mut p, &cancels, 4 * SECOND + 1);
    assert_eq!(p.open_orders(), 0);
}

/// With decisions paused (a feed gap, say), marking still runs: a daily
/// loss trips the kill switch and the open orders are cancelled at once.
#[test]
fn a_daily_loss_trips_and_cancels_while_decisions_are_paused() {
    let (mut p, _) = long_100_under_a_one_dollar_loss_limit();
    let open = p.open_orders();
    assert!(open > 0);
    p.set_trading(false);
    let fall = feed_at(
        &mut p,
        &[(
            3 * SECOND,
            add(10, Side::Sell, Price(100_0400), 500, 3 * SECOND),
        )],
    );
    assert_eq!(p.risk.tripped(), Some(risk::TripCause::DailyLoss));
    assert_eq!(cancels_of(&fall).len(), open, "{fall:?}");
}

/// Quotes out (bid and ask) and acknowledged; returns them.
fn quoted_and_acked(p: &mut Pipeline<4, 8>) -> Vec<Outbound> {
    let sent = feed(p, &two_sided());
    for o in &sent {
        if let Outbound::New { cl_ord_id, qty, .. } = *o {
            let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
        }
    }
    sent
}

#[test]
fn orders_the_caller_cannot_send_are_undone_and_quoted_again_once_it_can() {
    let mut p = pipeline(Limits::unlimited());
    let mut tried = Vec::new();
    for (i, m) in two_sided().iter().enumerate() {
        let msg = Message::parse(m).unwrap();
        p.on_itch(&msg, Nanos(1_000_000 * (i as u64 + 1)), &mut |o| {
            tried.push(*o);
            false
        });
    }
    let news = tried
        .iter()
        .filter(|o| matches!(o, Outbound::New { .. }))
        .count();
    assert!(news >= 2, "the quotes were tried: {tried:?}");
    assert_eq!(p.stats().unsent, tried.len() as u64);
    assert_eq!(p.stats().orders_sent, 0);
    assert_eq!(p.open_orders(), 0, "risk counts nothing live");
    assert_eq!(p.oms.open_orders().count(), 0);
    assert_eq!(p.oms.stats().unsent, tried.len() as u64);
    assert_eq!(p.risk.open_qty(LOCATE), (0, 0));
    // The caller can send again: the market maker quotes both sides.
    let sent = feed(&mut p, &[add(3, Side::Buy, Price(100_0100), 100, 3)]);
    let live = sent
        .iter()
        .filter(|o| matches!(o, Outbound::New { .. }))
        .count();
    assert_eq!(live, 2, "{sent:?}");
    assert_eq!(p.open_orders(), 2);
    assert_eq!(p.oms.open_orders().count(), 2);
}

#[test]
fn while_paused_answers_to_reports_are_refused_but_cancels_go() {
    let mut p = pipeline(Limits::unlimited());
    let sent = quoted_and_acked(&mut p);
    let (bid, bid_qty, bid_px) = bid_of(&sent);
    // The same fill with trading on and with trading paused: what the
    // market maker answers goes out only in the first case.
    let fill = |qty: u32| {
        let mut f = ExecReport::new(bid, ExecType::Trade);
        f.last_qty = qty;
        f.last_px = bid_px;
        f.cum_qty = qty;
        f.leaves_qty = bid_qty - qty;
        f
    };
    let mut twin = pipeline(Limits::unlimited());
    quoted_and_acked(&mut twin);
    let mut answered = Vec::new();
    twin.on_exec_report(&fill(bid_qty), Nanos(11_000_000), &mut |o| {
        answered.push(*o)
    });
    assert!(
        answered
            .iter()
            .any(|o| !matches!(o, Outbound::Cancel { .. })),
        "trading, the maker answers a fill with new quotes: {answered:?}"
    );
    p.set_trading(false);
    let mut out = Vec::new();
    p.on_exec_report(&fill(bid_qty), Nanos(11_000_000), &mut |o| out.push(*o));
    assert!(
        out.iter().all(|o| matches!(o, Outbound::Cancel { .. })),
        "paused: only cancels leave: {out:?}"
    );
    assert!(p.stats().paused >= 1);
    assert_eq!(p.oms.position(LOCATE).unwrap().qty, bid_qty as i64);
}

#[test]
fn kill_cancels_that_cannot_be_sent_go_at_the_next_timer() {
    let mut p = pipeline(Limits::unlimited());
    quoted_and_acked(&mut p);
    let mut tried = Vec::new();
    p.kill(Nanos(12_000_000), &mut |o| {
        tried.push(*o);
        false
    });
    assert_eq!(
        tried.len(),
        2,
        "each open order's cancel tried once: {tried:?}"
    );
    assert_eq!(p.stats().kill_cancels, 0);
    assert_eq!(p.open_orders(), 2);
    // Paused (the session cannot send, so the loop stops decisions), market
    // data does not retry the kill's cancels: no storm of attempts per
    // message...
    p.set_trading(false);
    let mut during = Vec::new();
    for (i, m) in [delete(1, 20)].iter().enumerate() {
        let msg = Message::parse(m).unwrap();
        p.on_itch(&msg, Nanos(13_000_000 + i as u64), &mut |o| {
            during.push(*o);
            false
        });
    }
    assert!(during.is_empty(), "{during:?}");
    // ...the timer does, however often the sends failed before, less and
    // less often while they keep failing: 10 ms after the last try, then
    // 20, 40, ... up to a second.
    let mut now = 14_000_000;
    let mut tries = Vec::new();
    for _ in 0..2 * risk::KILL_CANCEL_ATTEMPTS {
        let mut again = 0;
        p.on_timer(Nanos(now), &mut |_| {
            again += 1;
            false
        });
        assert_eq!(again, 2);
        tries.push(now);
        // Nothing more until the wait is over.
        let wait = 10_000_000u64 << (tries.len() - 1);
        let wait = wait.min(1_000_000_000);
        let mut early = 0;
        p.on_timer(Nanos(now + wait - 1), &mut |_| {
            early += 1;
            false
        });
        assert_eq!(early, 0, "tried again before {wait} ns");
        now += wait;
    }
    let mut cancels = Vec::new();
    p.on_timer(Nanos(now), &mut |o| cancels.push(*o));
    assert_eq!(
        cancels
            .iter()
            .filter(|o| matches!(o, Outbound::Cancel { .. }))
            .count(),
        2,
        "{cancels:?}"
    );
    assert_eq!(p.stats().kill_cancels, 2);
    assert_eq!(p.risk.kill_abandoned(), 0);
}

#[test]
fn refused_cancels_do_not_count_against_the_venue() {
    let mut p = pipeline(Limits::unlimited());
    quoted_and_acked(&mut p);
    let ppm = |p: &Pipeline<4, 8>| p.router().venues()[0].reject_ppm;
    assert_eq!(ppm(&p), 0);
    let mut cancels = Vec::new();
    p.kill(Nanos(12_000_000), &mut |o| cancels.push(*o));
    assert_eq!(cancels.len(), 2);
    // The venue refuses both (a race with fills, say): the router learns
    // nothing about new orders from it.
    for o in &cancels {
        if let Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            ..
        } = *o
        {
            let mut refusal = ExecReport::new(cl_ord_id, ExecType::CancelRejected);
            refusal.orig_cl_ord_id = Some(orig_cl_ord_id);
            p.on_exec_report(&refusal, Nanos(13_000_000), &mut |_| {});
        }
    }
    assert_eq!(ppm(&p), 0);
    // A refused new order does count.
    let mut q = pipeline(Limits::unlimited());
    let sent = feed(&mut q, &two_sided());
    let Some(Outbound::New { cl_ord_id, .. }) = sent.first().copied() else {
        panic!("{sent:?}")
    };
    q.on_exec_report(
        &ExecReport::new(cl_ord_id, ExecType::Rejected),
        Nanos(10_000_000),
        &mut |_| {},
    );
    assert!(ppm(&q) > 0);
}

#[test]
fn after_a_rearm_a_new_trip_retries_unsent_cancels_from_the_shortest_wait() {
    let mut p = pipeline(Limits::unlimited());
    quoted_and_acked(&mut p);
    p.set_trading(false);
    let mut fail = |_: &Outbound| false;
    p.kill(Nanos(1_000_000_000), &mut fail);
    // Eight failed retries: the wait has grown to a second.
    let mut now = 1_000_000_000;
    for _ in 0..8 {
        now += 1_000_000_000;
        p.on_timer(Nanos(now), &mut fail);
    }
    p.rearm().expect("re-arm");
    p.on_timer(Nanos(now + 1), &mut fail);
    p.kill(Nanos(now + 2), &mut fail);
    let mut again = 0;
    p.on_timer(Nanos(now + 2 + 10_000_000), &mut |_| {
        again += 1;
        false
    });
    assert_eq!(again, 2, "retried after 10 ms, not a second");
}

/// New orders and replaces the maker has decided on so far.
fn quotes_decided(p: &Pipeline<4, 8>) -> u64 {
    match p.strategies.get(StrategyId(1)) {
        Some(Hosted::MarketMaker(m)) => m.stats().quotes_sent + m.stats().replaces_sent,
        other => panic!("the maker: {other:?}"),
    }
}

/// The kill switch's sweep runs after an input's rounds; a strategy
/// answering a refusal of one of its cancels (here the maker, told its
/// replace in flight came to nothing when the sweep's cancel of that order
/// could not be sent, replaces again at once) has that answer taken through
/// risk in the same input, while the switch is engaged. Left for the next
/// input, a replace decided on while tripped would go out after a re-arm
/// without the maker deciding it again.
#[test]
fn what_a_strategy_answers_during_the_kill_sweep_does_not_outlive_the_input() {
    let mut p = mass_cancel_pipeline_with(MmParams {
        requote_ticks_good_queue: 1,
        ..retrying_at_once()
    });
    let (bid, ask) = two_quotes_acked(&mut p);
    // A one-tick lift: both quotes are replaced; the venue takes the
    // bid's at once, the ask's stays in flight.
    let moved = feed_at(
        &mut p,
        &[(
            3 * SECOND,
            add(3, Side::Buy, Price(100_0200), 500, 3 * SECOND),
        )],
    );
    let replace_of = |order: types::OrderId| {
        moved
            .iter()
            .find_map(|o| match *o {
                Outbound::Replace {
                    order: o,
                    cl_ord_id,
                    price,
                    ..
                } if o == order => Some((cl_ord_id, price)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{order:?} is replaced: {moved:?}"))
    };
    let (bid_replace, bid_price) = replace_of(bid.order);
    let (ask_replace, ask_price) = replace_of(ask.order);
    let ack = |cl: ClOrdId, orig: ClOrdId, price: Price| {
        let mut r = ExecReport::new(cl, ExecType::Replaced);
        r.orig_cl_ord_id = Some(orig);
        r.price = price;
        r.order_qty = 100;
        r.leaves_qty = 100;
        r
    };
    let answered = report(
        &mut p,
        ack(bid_replace, bid.cl_ord_id, bid_price),
        3 * SECOND + 1,
    );
    assert!(answered.is_empty(), "{answered:?}");

    // The kill asks the venue for a mass cancel; refused, the orders are
    // canceled one by one, in the sweep after the answer's input, and
    // those cancels cannot be sent: the maker hears its ask's replace
    // came to nothing, and replaces again.
    let mut sent = Vec::new();
    p.kill(Nanos(4 * SECOND), &mut |o| sent.push(*o));
    let request = the_mass_cancel(&sent);
    let refused = gateway::fixmap::MassCancelAnswer {
        cl_ord_id: Some(request),
        accepted: false,
        affected: 0,
    };
    let decided = quotes_decided(&p);
    let mut tried = Vec::new();
    p.on_mass_cancel_answer(VenueId(1), &refused, Nanos(4 * SECOND + 1), &mut |o| {
        tried.push(*o);
        !matches!(o, Outbound::Cancel { .. })
    });
    assert_eq!(cancels_of(&tried).len(), 2, "{tried:?}");
    assert!(
        tried.iter().all(|o| matches!(o, Outbound::Cancel { .. })),
        "nothing but cancels while tripped: {tried:?}"
    );
    assert!(
        quotes_decided(&p) > decided,
        "the maker answered the sweep's refusal with a replace"
    );

    // Re-armed, the venue takes the ask's replace: whatever new order or
    // replace leaves now, the maker decided in this input.
    p.rearm().expect("re-arm");
    let decided = quotes_decided(&p);
    let after = report(
        &mut p,
        ack(ask_replace, ask.cl_ord_id, ask_price),
        5 * SECOND,
    );
    let quotes_out = after
        .iter()
        .filter(|o| matches!(o, Outbound::New { .. } | Outbound::Replace { .. }))
        .count() as u64;
    assert!(
        quotes_out <= quotes_decided(&p) - decided,
        "a quote decided while the switch was engaged went out after the re-arm: {after:?}"
    );
}

/// A symbol restricted before its directory entry arrives (a configuration
/// applied at boot, before the day's directory) is restricted from that
/// entry on: no order for it goes out.
#[test]
fn a_symbol_restricted_before_its_directory_entry_stays_restricted() {
    let mut p = pipeline(Limits::unlimited());
    let m = p
        .apply_risk_config(&risk_config(1_000, &["AAA"]), 16, Nanos(1))
        .unwrap();
    assert_eq!(m.unknown_symbols, 1, "AAA is not in the directory yet");
    feed(&mut p, &[directory_aaa()]);
    assert!(p.risk.limits().for_symbol(LOCATE).restricted);
    let sent = feed(&mut p, &two_sided());
    assert!(
        !sent.iter().any(|o| matches!(o, Outbound::New { .. })),
        "nothing for a restricted symbol: {sent:?}"
    );
    assert!(p.risk.reject_count(types::RejectReason::RestrictedSymbol) >= 1);
    assert_eq!(p.stats().config_refusals, 0);
}

/// What the mailbox's validation accepts, the strategies accept too: a
/// configuration is never answered Ok and then applied in part. Spread
/// bounds on both sides of the market maker's limit.
#[test]
fn a_configuration_that_validates_is_applied_whole() {
    for spread in [
        1,
        100,
        protocol::mailbox::config::MAX_SPREAD_TICKS,
        2_000_000,
    ] {
        let mut p = pipeline(Limits::unlimited());
        feed(&mut p, &[directory_aaa()]);
        let mut cfg = protocol::mailbox::config::example();
        cfg.risk = risk_config(500, &[]);
        let mut entry = mm_entry(1, "AAA", true);
        entry.spread_ticks = spread;
        entry.quote_qty = 100;
        cfg.strategies.clear();
        cfg.strategies.push(entry).unwrap();
        match cfg.validate() {
            Ok(()) => {
                p.apply_risk_config(&cfg.risk, 16, Nanos(1)).unwrap();
                let m = p.apply_strategy_config(&cfg.strategies, Nanos(2), &mut |_| {});
                assert_eq!(m.refused, 0, "spread {spread}: validated, then refused");
            }
            Err(e) => assert_eq!(e.field.as_str(), "strategies[0].spread_ticks"),
        }
    }
}

/// A venue that refused a run of orders is shut out by the router; once
/// its rate has aged on the timer (it gets no orders, so no new results)
/// the market maker's next quote goes there again.
#[test]
fn a_venue_shut_out_for_rejects_gets_orders_again() {
    // Venue 2 pays the better rebate. (A maker that holds a refused side
    // off would give the venue no run of orders to refuse.)
    let mut p = two_venue_pipeline_with(retrying_at_once());
    let mut sent = feed(&mut p, &two_sided());
    let mut t = 10_000_000u64;
    for _ in 0..20 {
        let to_2: Vec<_> = news(&sent)
            .into_iter()
            .filter(|n| n.0 == VenueId(2))
            .collect();
        if to_2.is_empty() {
            break;
        }
        sent.clear();
        for (_, cl, _) in to_2 {
            t += 1_000_000;
            p.on_exec_report(
                &ExecReport::new(cl, ExecType::Rejected),
                Nanos(t),
                &mut |o| sent.push(*o),
            );
        }
    }
    let max = gateway::router::RouterConfig::default().max_reject_ppm;
    assert!(p.router().venue(VenueId(2)).unwrap().reject_ppm > max);
    assert!(
        news(&sent).iter().all(|(v, _, _)| *v == VenueId(1)),
        "shut out: {sent:?}"
    );
    // A minute of timer ticks, then the quotes at venue 1 are cancelled:
    // the market maker quotes again, at venue 2.
    for s in 1..=60u64 {
        p.on_timer(Nanos(t + s * 1_000_000_000), &mut |_| {});
    }
    let later = t + 61_000_000_000;
    let mut again = Vec::new();
    for (_, cl, _) in news(&sent).into_iter().filter(|n| n.0 == VenueId(1)) {
        p.on_exec_report(
            &ExecReport::new(cl, ExecType::Canceled),
            Nanos(later),
            &mut |o| again.push(*o),
        );
    }
    assert!(
        news(&again).iter().any(|(v, _, _)| *v == VenueId(2)),
        "venue 2 tried again: {again:?}"
    );
}

/// A new feed session (a new trading day) clears the book before its first
/// message; restricted symbols are looked up again in the new directory
/// (locates are per day): until the symbol's new entry arrives the old
/// locate carries no restriction, and from that entry on the new one does.
#[test]
fn a_new_feed_session_clears_the_book_and_looks_restrictions_up_again() {
    let mut p = pipeline(Limits::unlimited());
    p.apply_risk_config(&risk_config(1_000, &["AAA"]), 16, Nanos(1))
        .unwrap();
    feed(&mut p, &[directory_aaa()]);
    assert!(p.risk.limits().for_symbol(LOCATE).restricted);
    feed(&mut p, &two_sided());
    assert!(p.book.bbo(LOCATE).bid.is_some());
    p.reset_feed(Nanos(2));
    assert!(
        p.book.bbo(LOCATE).bid.is_none(),
        "the old day's book is gone"
    );
    assert!(p.book.status(LOCATE).directory.is_none());
    assert!(!p.risk.limits().for_symbol(LOCATE).restricted);
    feed(&mut p, &[directory_aaa()]);
    assert!(p.risk.limits().for_symbol(LOCATE).restricted);
    assert_eq!(p.stats().feed_resets, 1);
}

/// When a venue drops, the strategies' answers go through the same order
/// as every input: refusals deferred from the last step first. Otherwise
/// an acknowledgement is paired with the tracker slot of a dropped intent
/// (the maker tracked a live sell as its bid).
#[test]
fn a_venue_drop_keeps_every_tracked_order_on_its_own_side() {
    // A maker that answers a refusal with the same order again, so that
    // one step leaves a refusal deferred.
    let mut p = two_venue_pipeline_with(retrying_at_once());
    let first = feed(&mut p, &two_sided());
    assert!(news(&first).iter().all(|(v, _, _)| *v == VenueId(2)));
    for (_, cl, qty) in news(&first) {
        let mut ack = ExecReport::new(cl, ExecType::New);
        ack.leaves_qty = qty;
        p.on_exec_report(&ack, Nanos(10_000_000), &mut |_| {});
    }
    let (bid_cl, bid_qty, bid_px) = bid_of(&first);
    // Paused: the bid fills, the maker's new bid is refused round after
    // round, the last one is dropped and its refusal deferred.
    p.set_trading(false);
    let mut f = ExecReport::new(bid_cl, ExecType::Trade);
    f.last_qty = bid_qty;
    f.last_px = bid_px;
    f.cum_qty = bid_qty;
    p.on_exec_report(&f, Nanos(11_000_000), &mut |_| {});
    assert!(p.stats().intents_dropped > 0, "{:?}", p.stats());
    // Trading again; venue 2 drops and cancels our ask: the maker quotes
    // on venue 1.
    p.set_trading(true);
    let mut moved = Vec::new();
    p.venue_lost(VenueId(2), true, Nanos(20_000_000), &mut |o| moved.push(*o));
    p.on_timer(Nanos(21_000_000), &mut |o| moved.push(*o));
    let strategy::engine::Hosted::MarketMaker(mm) = p.strategies.get(StrategyId(1)).unwrap() else {
        panic!("the market maker")
    };
    for (_, o) in mm.orders().iter() {
        if let Some(view) = p.oms.open_orders().find(|v| v.id == o.id) {
            assert_eq!(view.side, o.side, "{o:?} tracks {view:?}; sent {moved:?}");
        }
    }
}

/// Strategies measure every interval on one clock, the feed's: a timer
/// tick at the caller's `now` (time since boot on the appliance) reaches
/// them as the last message's ITCH time plus what the caller's clock moved
/// since, so a holding time or a cooldown never spans two clocks.
#[test]
fn timer_ticks_reach_strategies_on_the_feeds_clock() {
    let mut p = pipeline(Limits::unlimited());
    assert_eq!(p.feed_time(Nanos(5)), Nanos(5), "no message yet");
    let ten_am = 10 * 3_600 * 1_000_000_000u64;
    let msg = add(1, Side::Buy, Price(100_0000), 100, ten_am);
    let m = Message::parse(&msg).unwrap();
    let mut sent = Vec::new();
    p.on_itch(&m, Nanos(5_000_000_000), &mut |o| sent.push(*o));
    assert_eq!(
        p.feed_time(Nanos(6_000_000_000)),
        Nanos(ten_am + 1_000_000_000)
    );
}

/// The maker's bid is filled under a risk position limit of 150 shares:
/// long 100, another 100-share bid would make 200. Returns the pipeline
/// (its maker quoting the ask alone), the ask and the time of the fill.
fn long_100_under_a_150_share_risk_limit(limits: Limits) -> (Pipeline<4, 8>, Quote, u64) {
    let mut limits = limits;
    limits.default_symbol.max_position = 150;
    let mut p = pipeline(limits);
    let (bid, ask) = two_quotes_acked(&mut p);
    let mut fill = ExecReport::new(bid.cl_ord_id, ExecType::Fill);
    fill.last_qty = 100;
    fill.last_px = Price(100_0400);
    fill.cum_qty = 100;
    let now = 2 * SECOND + 2;
    let after_fill = report(&mut p, fill, now);
    let _ = ack_all(&mut p, &after_fill, now + 1);
    assert_eq!(p.oms.position(LOCATE).unwrap().qty, 100);
    (p, ask, now + 1)
}

/// `n` book events `gap` ns apart from `from` on: orders joining the best
/// bid (the touch's size changes, its prices stay; order references from
/// `from` on, so calls at other times do not collide). Returns what was
/// sent.
fn touch_sizes(p: &mut Pipeline<4, 8>, n: u64, from: u64, gap: u64) -> Vec<Outbound> {
    let msgs: Vec<_> = (0..n)
        .map(|i| {
            let t = from + i * gap;
            (t, add(from + i, Side::Buy, Price(100_0000), 10, t))
        })
        .collect();
    feed_at(p, &msgs)
}

fn bids_sent(sent: &[Outbound]) -> usize {
    sent.iter()
        .filter(|o| {
            matches!(
                o,
                Outbound::New {
                    side: Side::Buy,
                    ..
                }
            )
        })
        .count()
}

/// A bid risk refuses for the position limit is not sent again at every
/// book event (nor round after round within one): the maker holds that
/// side off, keeps its ask, and bids again once a fill of the ask brings
/// the position back.
#[test]
fn a_bid_refused_for_the_position_limit_is_held_off_until_a_fill_frees_room() {
    let (mut p, ask, t) = long_100_under_a_150_share_risk_limit(Limits::unlimited());
    let refused = p
        .risk
        .reject_count(types::RejectReason::SymbolPositionLimit);
    assert!(refused >= 1, "the maker's new bid was refused");
    // 200 book events over two seconds.
    let sent = touch_sizes(&mut p, 200, t + 1_000_000, 10_000_000);
    assert_eq!(bids_sent(&sent), 0, "{sent:?}");
    let again = p
        .risk
        .reject_count(types::RejectReason::SymbolPositionLimit)
        - refused;
    assert!(
        again <= 4,
        "{again} refusals over 200 book events: the bid was sent blindly"
    );
    assert_eq!(p.stats().intents_dropped, 0);
    let strategy::engine::Hosted::MarketMaker(mm) = p.strategies.get(StrategyId(1)).unwrap() else {
        panic!("the market maker")
    };
    assert!(mm.stats().held_after_refusal > 0, "{:?}", mm.stats());
    assert!(
        mm.orders().find(LOCATE, Side::Sell).is_some(),
        "the ask stays"
    );
    // The ask fills: flat again, and the bid comes back at once.
    let mut fill = ExecReport::new(ask.cl_ord_id, ExecType::Fill);
    fill.last_qty = 100;
    fill.last_px = Price(100_0600);
    fill.cum_qty = 100;
    let back = report(&mut p, fill, t + 3 * SECOND);
    assert_eq!(p.oms.position(LOCATE).unwrap().qty, 0);
    assert_eq!(bids_sent(&back), 1, "quoting resumes: {back:?}");
}

/// Refusals count toward the reject-rate limit (risk's as well as the
/// venue's): a maker re-sending a refused bid at every book event trips
/// the kill switch within a few events. Held off, it stays well inside a
/// limit of 20 a minute.
#[test]
fn a_held_off_bid_does_not_trip_the_reject_rate_kill_switch() {
    let mut limits = Limits::unlimited();
    limits.reject_rate = Some(risk::Throttle {
        max_msgs: 20,
        window_ns: 60 * SECOND,
    });
    let (mut p, _, t) = long_100_under_a_150_share_risk_limit(limits);
    // A minute of book events, ten a second.
    touch_sizes(&mut p, 600, t + 1_000_000, 100_000_000);
    assert_eq!(p.risk.tripped(), None, "{:?}", p.stats());
}

/// A bid refused by the order-rate throttle is tried again once time has
/// passed (the throttle's window), not at every book event before.
#[test]
fn a_bid_refused_by_the_order_throttle_is_tried_again_after_a_while() {
    let mut limits = Limits::unlimited();
    // Two quotes and a replace or two a second, no more.
    limits.strategy_order_rate = Some(risk::Throttle {
        max_msgs: 2,
        window_ns: SECOND,
    });
    let mut p = pipeline(limits);
    let (bid, _ask) = two_quotes_acked(&mut p);
    // The bid fills; its replacement is throttled (two orders within the
    // last second).
    let mut fill = ExecReport::new(bid.cl_ord_id, ExecType::Fill);
    fill.last_qty = 100;
    fill.last_px = Price(100_0400);
    fill.cum_qty = 100;
    let t = 2 * SECOND + 2;
    let answered = report(&mut p, fill, t);
    assert_eq!(bids_sent(&answered), 0, "{answered:?}");
    let refused = p.risk.reject_count(types::RejectReason::OrderRateThrottle);
    assert!(refused >= 1);
    // Book events within the next 100 ms: the bid is not tried at each.
    let sent = touch_sizes(&mut p, 100, t + 1_000, 1_000_000);
    assert_eq!(bids_sent(&sent), 0, "{sent:?}");
    let again = p.risk.reject_count(types::RejectReason::OrderRateThrottle) - refused;
    assert!(again <= 2, "{again} refusals in 100 ms of book events");
    // Later, the window has passed: the bid goes out.
    let later = touch_sizes(&mut p, 40, t + 200_000_000, 100_000_000);
    assert_eq!(bids_sent(&later), 1, "{later:?}");
}

/// An order table of 12 slots, 8 of which `Oms::tidy` keeps clean after
/// each input: round after round the venue fills both quotes whole and the
/// maker quotes again, so every new order needs a finished order's slot
/// back. Nothing is refused for capacity, and every fill is applied.
#[test]
fn a_small_order_table_keeps_quoting_as_finished_orders_are_reclaimed() {
    let book = Book::with_capacity(BookConfig {
        max_orders: 4096,
        max_levels: 1024,
    });
    let mut strategies: Engine<4, 8> = Engine::new();
    let mm = MarketMaker::new(
        StrategyId(1),
        LOCATE,
        Symbol::new("AAA").unwrap(),
        MmParams::default_for_cent_tick(),
    )
    .unwrap();
    strategies.add(Hosted::MarketMaker(mm)).unwrap();
    let (risk, _) = common::risk_and_oms(Limits::unlimited());
    let oms = gateway::oms::Oms::new(gateway::oms::OmsConfig {
        orders: 12,
        symbols: 16,
        last_epoch: 0,
    })
    .unwrap();
    let mut p = Pipeline::new(book, strategies, risk, oms, VenueId(1));
    let mut t = 1_000_000u64;
    let on_itch = |p: &mut Pipeline<4, 8>, bytes: &[u8], t: u64| {
        let mut sent = Vec::new();
        let msg = Message::parse(bytes).unwrap();
        p.on_itch(&msg, Nanos(t), &mut |o| sent.push(*o));
        sent
    };
    let mut sent = Vec::new();
    for m in two_sided() {
        t += 1_000_000;
        sent.extend(on_itch(&mut p, &m, t));
    }
    let first = bid_of(&sent);
    let mut filled = 0u64;
    for round in 0..40u64 {
        let news: Vec<(ClOrdId, u32, Price)> = sent
            .iter()
            .filter_map(|o| match *o {
                Outbound::New {
                    cl_ord_id,
                    qty,
                    price,
                    ..
                } => Some((cl_ord_id, qty, price)),
                _ => None,
            })
            .collect();
        assert!(
            !news.is_empty(),
            "round {round}: the maker quotes: {sent:?}"
        );
        let mut next = Vec::new();
        for (cl, qty, price) in news {
            t += 1_000_000;
            let mut ack = ExecReport::new(cl, ExecType::New);
            ack.leaves_qty = qty;
            p.on_exec_report(&ack, Nanos(t), &mut |o| next.push(*o));
            let mut fill = ExecReport::new(cl, ExecType::Trade);
            (fill.last_qty, fill.last_px, fill.cum_qty, fill.leaves_qty) = (qty, price, qty, 0);
            p.on_exec_report(&fill, Nanos(t), &mut |o| next.push(*o));
            filled += 1;
        }
        // The market moves a little: the maker quotes again.
        t += 100_000_000;
        let touch = add(1_000 + round, Side::Buy, Price(100_0000), 100, t);
        next.extend(on_itch(&mut p, &touch, t));
        sent = next;
    }
    let capacity = types::RejectReason::CapacityExhausted;
    assert_eq!(p.oms.reject_count(capacity), 0);
    assert_eq!(p.risk.reject_count(capacity), 0);
    assert_eq!(p.oms.stats().unknown_cl_ord_id, 0);
    assert!(filled > 12, "more orders than slots: {filled}");
    assert_eq!(p.stats().unsent, 0);
    // A late report for the first order, whose slot other orders have had
    // since: unknown, and nothing of it lands on the slot's new order.
    let held = p.oms.position(LOCATE).map(|q| q.qty);
    let (cl, qty, price) = first;
    let mut late = ExecReport::new(cl, ExecType::Trade);
    (late.last_qty, late.last_px, late.cum_qty, late.leaves_qty) = (qty, price, qty + 1, 0);
    p.on_exec_report(&late, Nanos(t + 1_000_000), &mut |_| {});
    assert_eq!(p.oms.stats().unknown_cl_ord_id, 1);
    assert_eq!(p.oms.position(LOCATE).map(|q| q.qty), held);
}

/// A trading action for the maker's stock: `state` is ITCH's `H`, `P`,
/// `Q` or `T`.
fn trading_action(state: u8, ts: u64) -> Vec<u8> {
    itch(MessageRepr::StockTradingAction(
        protocol::itch::StockTradingActionRepr {
            header: Header {
                stock_locate: LOCATE,
                tracking_number: 0,
                timestamp: ts,
            },
            stock: Symbol::new("AAA").unwrap(),
            trading_state: state,
            reserved: b' ',
            reason: *b"T1  ",
        },
    ))
}

/// The stock is halted while trading is paused (the venue's session
/// reconnecting, say): the book keeps up, and the maker still hears the
/// halt — it pulls its quotes (cancels go while paused) and, once orders
/// can go again, quotes nothing into the halted stock. Found by the
/// `quoting` fuzz target: the halt's state event was never told to the
/// strategies while paused (the book reports a state change once), so
/// the maker quoted into the halt as soon as trading resumed.
#[test]
fn a_halt_while_trading_is_paused_pulls_the_quotes_and_none_follow() {
    let mut p = pipeline(Limits::unlimited());
    let quotes = feed(&mut p, &two_sided());
    assert_eq!(news(&quotes).len(), 2, "{quotes:?}");
    assert!(ack_all(&mut p, &quotes, 3_000_000).is_empty());
    p.set_trading(false);
    let mut sent = Vec::new();
    let halt = trading_action(b'H', 4);
    p.on_itch(
        &Message::parse(&halt).unwrap(),
        Nanos(4_000_000),
        &mut |o| sent.push(*o),
    );
    let cancels = cancels_of(&sent);
    assert_eq!(cancels.len(), 2, "both quotes pulled at the halt: {sent:?}");
    confirm_cancels(&mut p, &cancels, 5_000_000);
    p.set_trading(true);
    let moved = feed_at(
        &mut p,
        &[(
            6_000_000,
            add(3, Side::Buy, Price(100_0200), 300, 6_000_000),
        )],
    );
    assert!(
        news(&moved).is_empty(),
        "no quote into a halted stock: {moved:?}"
    );
    // Trading again: the maker quotes again.
    let resumed = feed_at(&mut p, &[(7_000_000, trading_action(b'T', 7_000_000))]);
    let again = feed_at(
        &mut p,
        &[(
            8_000_000,
            add(4, Side::Sell, Price(100_0900), 300, 8_000_000),
        )],
    );
    assert_eq!(
        news(&resumed).len() + news(&again).len(),
        2,
        "quotes back once trading resumes: {resumed:?} {again:?}"
    );
}

/// Refusals the pipeline could not answer within an input (a maker that
/// sends a refused quote again at once, refused round after round) are
/// answered at the next input. When that input is a book update, the
/// maker answers them on the book it has seen, before the message changes
/// it: given the changed book before its events, it priced a quote off a
/// top of book it had not yet taken for a fast market — here a bid of
/// $214,798 once the last ask near $100 traded away and the next was at
/// ITCH's largest price. Found by the `quoting` fuzz target.
#[test]
fn answers_deferred_to_a_book_update_are_decided_on_the_book_before_it() {
    let mut p = pipeline_with(
        Limits::unlimited(),
        MmParams {
            requote_ticks_good_queue: 1,
            ..retrying_at_once()
        },
    );
    let mut quotes = feed(&mut p, &two_sided());
    quotes.extend(feed_at(
        &mut p,
        &[(
            3_000_000,
            add(3, Side::Sell, Price::ITCH_MAX, 100, 3_000_000),
        )],
    ));
    let _ = ack_all(&mut p, &quotes, 4_000_000);
    // The mid moves a tick; the session holds every message back: each
    // requote is refused, sent again at once, until the input's rounds
    // are spent.
    let lift = add(4, Side::Buy, Price(100_0200), 500, 5_000_000);
    p.on_itch(
        &Message::parse(&lift).unwrap(),
        Nanos(5_000_000),
        &mut |_| false,
    );
    assert!(p.stats().intents_dropped > 0, "{:?}", p.stats());
    // The ask at $100.10 trades away: the next is at ITCH's largest price.
    let gone = itch(MessageRepr::OrderDelete(OrderDeleteRepr {
        header: Header {
            stock_locate: LOCATE,
            tracking_number: 0,
            timestamp: 6_000_000,
        },
        order_ref: 2,
    }));
    let mut sent = Vec::new();
    p.on_itch(
        &Message::parse(&gone).unwrap(),
        Nanos(6_000_000),
        &mut |o| sent.push(*o),
    );
    for o in &sent {
        if let Outbound::New { price, .. } | Outbound::Replace { price, .. } = *o {
            assert!(
                price < Price::new(1_000, 0),
                "a quote priced off a book the maker had not seen: {sent:?}"
            );
        }
    }
}

/// New limits already breached trip the kill switch between inputs; the
/// next input's sweep cancels every open order. A timer tick while
/// trading is paused is such an input too: it swept nothing, and the
/// orders stayed open until a market data message or a report came.
/// Found by the `quoting` fuzz target.
#[test]
fn a_tick_while_paused_sweeps_a_trip_made_between_inputs() {
    let mut p = pipeline(Limits::unlimited());
    let quotes = feed(&mut p, &two_sided());
    assert!(ack_all(&mut p, &quotes, 3_000_000).is_empty());
    p.set_trading(false);
    let mut limits = Limits::unlimited();
    limits.max_daily_loss = 0;
    // A loss already made: the daily loss limit of 0 trips at once.
    p.risk.on_pnl(-1);
    p.risk.apply_limits(limits, Nanos(4_000_000)).unwrap();
    assert!(p.risk.tripped().is_some());
    let mut sent = Vec::new();
    p.on_timer(Nanos(5_000_000), &mut |o| sent.push(*o));
    assert_eq!(
        cancels_of(&sent).len(),
        2,
        "both quotes canceled at the tick: {sent:?}"
    );
}
