//! The pipeline on scripted markets: quotes out, acknowledgements and fills
//! back, risk refusals, the kill switch, and replay determinism.

use book::{Book, BookConfig};
use gateway::oms::{ExecReport, ExecType, Oms, OmsConfig, Outbound};
use pipeline::Pipeline;
use protocol::itch::{AddOrderRepr, Header, Message, MessageRepr, OrderDeleteRepr};
use risk::{Capacity, Limits, RiskEngine};
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{DepthView, Nanos, Price, Side, StrategyId, Symbol, VenueId};

const LOCATE: u16 = 1;

fn pipeline(limits: Limits) -> Pipeline<4, 8> {
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
    let risk = RiskEngine::new(
        Capacity {
            symbols: 16,
            orders: 1024,
            duplicate_slots: 64,
        },
        limits,
    )
    .unwrap();
    let oms = Oms::new(OmsConfig {
        orders: 1024,
        symbols: 16,
        last_epoch: 0,
    })
    .unwrap();
    Pipeline::new(book, strategies, risk, oms, VenueId(1))
}

fn itch(repr: MessageRepr) -> Vec<u8> {
    let mut b = vec![0u8; repr.len()];
    repr.emit(&mut b).unwrap();
    b
}

fn add(order_ref: u64, side: Side, price: Price, shares: u32, ts: u64) -> Vec<u8> {
    itch(MessageRepr::AddOrder(AddOrderRepr {
        header: Header {
            stock_locate: LOCATE,
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

#[test]
fn quotes_go_out_and_fills_come_back() {
    let mut p = pipeline(Limits::unlimited());
    let sent = feed(&mut p, &two_sided());
    let news: Vec<_> = sent
        .iter()
        .filter(|o| matches!(o, Outbound::New { .. }))
        .collect();
    assert_eq!(news.len(), 2, "a bid and an ask quote: {sent:?}");
    let (buy_cl, buy_qty, buy_px) = sent
        .iter()
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
        .unwrap();
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
