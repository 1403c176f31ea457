//! The backtest on generated and scripted markets: determinism, the market
//! maker earning the spread (scripted, and on quiet generated days),
//! inventory limits under a trend (scripted, and on trending generated
//! days), and the venue's queue model.

use backtest::{Backtest, Config, Fill, Venue};
use book::{Book, BookConfig, NullSink};
use gateway::oms::{ClOrdId, ExecReport, Outbound};
use protocol::itch::{
    write_framed, AddOrderRepr, Header, Message, MessageRepr, OrderDeleteRepr, OrderExecutedRepr,
    TradeRepr,
};
use strategy::mm::MmParams;
use types::{OrderId, Price, Side, Symbol, TimeInForce, VenueId};

const LOCATE: u16 = 1;

fn sym() -> Symbol {
    Symbol::new("AAA").unwrap()
}

fn header(ts: u64) -> Header {
    Header {
        stock_locate: LOCATE,
        tracking_number: 0,
        timestamp: ts,
    }
}

fn bytes(repr: MessageRepr) -> Vec<u8> {
    let mut b = vec![0u8; repr.len()];
    repr.emit(&mut b).unwrap();
    b
}

fn add(order_ref: u64, side: Side, price: i64, shares: u32, ts: u64) -> Vec<u8> {
    bytes(MessageRepr::AddOrder(AddOrderRepr {
        header: header(ts),
        order_ref,
        side,
        shares,
        stock: sym(),
        price: Price(price),
    }))
}

fn exec(order_ref: u64, shares: u32, ts: u64) -> Vec<u8> {
    bytes(MessageRepr::OrderExecuted(OrderExecutedRepr {
        header: header(ts),
        order_ref,
        executed_shares: shares,
        match_number: ts,
    }))
}

fn delete(order_ref: u64, ts: u64) -> Vec<u8> {
    bytes(MessageRepr::OrderDelete(OrderDeleteRepr {
        header: header(ts),
        order_ref,
    }))
}

fn trade(side: Side, price: i64, shares: u32, ts: u64) -> Vec<u8> {
    bytes(MessageRepr::Trade(TradeRepr {
        header: header(ts),
        order_ref: 0,
        side,
        shares,
        stock: sym(),
        price: Price(price),
        match_number: ts,
    }))
}

fn small_config(locate: u16) -> Config {
    let mut c = Config::new(locate, sym());
    c.book = BookConfig {
        max_orders: 1 << 16,
        max_levels: 1 << 14,
    };
    c.bucket_ns = 100_000_000;
    c
}

fn run(config: Config, msgs: &[Vec<u8>]) -> Backtest {
    let mut bt = Backtest::new(config).unwrap();
    for m in msgs {
        bt.on_message(m);
    }
    bt
}

/// A tiny deterministic LCG for the scripts.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn same_input_same_order_log() {
    let generator = feedgen::Generator::new(feedgen::Config {
        seed: 7,
        symbols: 4,
        messages: 60_000,
        peak_live: 5_000,
        ..Default::default()
    })
    .unwrap();
    let mut msgs = Vec::new();
    let mut buf = [0u8; 64];
    for m in generator {
        let n = write_framed(&m.message, &mut buf).unwrap();
        msgs.push(buf[2..n].to_vec());
    }
    // Trade the busiest locate.
    let mut counts = [0u64; 8];
    for m in &msgs {
        let l = usize::from(Message::parse(m).unwrap().stock_locate());
        if l < counts.len() {
            counts[l] += 1;
        }
    }
    let locate = (1..counts.len()).max_by_key(|&l| counts[l]).unwrap() as u16;
    let a = run(small_config(locate), &msgs).finish_with_log().1;
    let b = run(small_config(locate), &msgs).finish_with_log().1;
    assert!(a.lines().count() > 10, "the strategy traded: {a}");
    assert_eq!(a, b);
}

/// A stable two-sided book (100.00 / 100.10) with executions at both
/// touches, chosen at random, each touch refilled after it trades.
fn quiet_market(events: usize) -> Vec<Vec<u8>> {
    let mut msgs = vec![
        add(1, Side::Buy, 100_0000, 5_000, 1_000),
        add(2, Side::Sell, 100_1000, 5_000, 2_000),
    ];
    let mut rng = Lcg(42);
    let (mut bid_ref, mut ask_ref) = (1u64, 2u64);
    for (next_ref, i) in (3u64..).zip(0..events as u64) {
        let ts = 1_000_000 + i * 2_000_000;
        let (r, side, px) = if rng.next() & 1 == 0 {
            (&mut bid_ref, Side::Buy, 100_0000)
        } else {
            (&mut ask_ref, Side::Sell, 100_1000)
        };
        msgs.push(exec(*r, 100, ts));
        // Refill the touch to keep the book stable.
        msgs.push(delete(*r, ts + 1_000));
        *r = next_ref;
        msgs.push(add(*r, side, px, 5_000, ts + 2_000));
    }
    msgs
}

#[test]
fn market_maker_earns_the_spread_in_a_quiet_market() {
    let bt = run(small_config(LOCATE), &quiet_market(3_000));
    let limit = small_config(LOCATE).mm.max_position;
    let report = bt.finish();
    let s = report.stats;
    eprintln!(
        "quiet market: total {} fees {} bought {} sold {} position {}..{}",
        backtest::money(report.total),
        backtest::money(report.fees),
        s.bought,
        s.sold,
        s.min_position,
        s.max_position
    );
    assert!(s.bought > 0 && s.sold > 0, "{s:?}");
    assert!(s.min_position >= -limit && s.max_position <= limit, "{s:?}");
    assert!(report.total > 0, "pnl {} ({report:?})", report.total);
    assert!(report.fees > 0, "maker rebates earned: {}", report.fees);
    assert_eq!(s.taker_fills, 0, "{s:?}");
}

#[test]
fn inventory_stays_within_limits_under_a_trend() {
    // Prices step up a cent every 50 ms (slow enough not to count as a fast
    // market); buyers lift the ask in between.
    let mut msgs = Vec::new();
    let (mut bid, mut ask) = (1u64, 2u64);
    let mut next_ref = 3u64;
    let mut px = 100_0000i64;
    msgs.push(add(bid, Side::Buy, px, 1_000, 1_000));
    msgs.push(add(ask, Side::Sell, px + 500, 1_000, 2_000));
    for i in 0..2_000u64 {
        let ts = 1_000_000 + i * 50_000_000;
        // Buyers take the ask and sweep 10 cents above the bid.
        msgs.push(exec(ask, 200, ts));
        msgs.push(trade(Side::Sell, px + 1_000, 300, ts + 500));
        // The market steps up a cent, staying two-sided throughout.
        px += 100;
        let (old_bid, old_ask) = (bid, ask);
        bid = next_ref;
        ask = next_ref + 1;
        next_ref += 2;
        msgs.push(add(ask, Side::Sell, px + 500, 1_000, ts + 1_000));
        msgs.push(add(bid, Side::Buy, px, 1_000, ts + 2_000));
        msgs.push(delete(old_ask, ts + 3_000));
        msgs.push(delete(old_bid, ts + 4_000));
    }
    let config = small_config(LOCATE);
    let limit = config.mm.max_position;
    assert_eq!(limit, MmParams::default_for_cent_tick().max_position);
    let bt = run(config, &msgs);
    let (report, log) = bt.finish_with_log();
    assert!(!log.is_empty());
    let s = report.stats;
    eprintln!(
        "trend: sold {} bought {} position {}..{} risk rejections {}",
        s.sold, s.bought, s.min_position, s.max_position, report.risk_rejects
    );
    assert_eq!(
        s.min_position, -limit,
        "the trend pushed the maker to its limit"
    );
    assert!(
        s.min_position >= -limit && s.max_position <= limit,
        "inventory {}..{} beyond ±{limit}",
        s.min_position,
        s.max_position
    );
}

/// The backtest's venue model with a book of its own, fed market data in
/// the order `Backtest::on_message` feeds it (venue, book, then the venue's
/// second look), so that the queue tests see what a backtest would.
struct SimVenue {
    book: Book,
    venue: Venue,
    reports: Vec<ExecReport>,
    fills: Vec<Fill>,
}

impl SimVenue {
    fn new() -> SimVenue {
        SimVenue {
            book: Book::with_capacity(BookConfig {
                max_orders: 1024,
                max_levels: 256,
            }),
            venue: Venue::new(LOCATE),
            reports: Vec::new(),
            fills: Vec::new(),
        }
    }

    fn market(&mut self, msgs: impl IntoIterator<Item = Vec<u8>>) {
        for m in msgs {
            let msg = Message::parse(&m).unwrap();
            self.venue
                .on_market(&msg, &self.book, &mut self.reports, &mut self.fills);
            self.book.apply_itch(&msg, &mut NullSink).unwrap();
            self.venue.after_market(&msg, &self.book);
        }
    }

    fn order(&mut self, out: &Outbound) {
        self.venue
            .on_order(out, &self.book, &mut self.reports, &mut self.fills);
    }
}

/// A new order of ours for 100 shares, as the OMS sends it.
fn new_order(cl_ord_id: u64, side: Side, price: i64, tif: TimeInForce) -> Outbound {
    Outbound::New {
        order: OrderId(cl_ord_id),
        cl_ord_id: ClOrdId(cl_ord_id),
        venue: VenueId(1),
        locate: LOCATE,
        symbol: sym(),
        side,
        price: Price(price),
        qty: 100,
        tif,
    }
}

#[test]
fn queue_position_decides_the_fill() {
    let mut v = SimVenue::new();
    v.market([
        add(1, Side::Buy, 100_0000, 500, 1),
        add(2, Side::Sell, 100_0100, 500, 2),
    ]);
    v.order(&new_order(77, Side::Buy, 100_0000, TimeInForce::Day));
    assert_eq!(v.venue.orders()[0].ahead, 500, "joined behind 500 shares");
    // An order behind ours does not change the queue ahead.
    v.market([add(3, Side::Buy, 100_0000, 400, 3)]);
    // 300 shares execute against the order ahead: not ours.
    v.market([exec(1, 300, 4)]);
    assert!(v.fills.is_empty(), "{:?}", v.fills);
    assert_eq!(v.venue.orders()[0].ahead, 200);
    // The next 300 (volume rule, a trade at our price): 200 ahead, then
    // 100 fill ours in full.
    v.market([trade(Side::Buy, 100_0000, 300, 5)]);
    assert_eq!(v.fills.len(), 1, "{:?}", v.fills);
    assert_eq!(v.fills[0].qty, 100);
    assert_eq!(v.fills[0].price, Price(100_0000));
    assert!(v.fills[0].maker);
    assert!(v.venue.orders().is_empty());
}

#[test]
fn cancels_ahead_move_us_up_cancels_behind_do_not() {
    let mut v = SimVenue::new();
    v.market([
        add(1, Side::Sell, 100_0100, 300, 1),
        add(2, Side::Sell, 100_0100, 200, 2),
    ]);
    v.order(&new_order(5, Side::Sell, 100_0100, TimeInForce::Day));
    assert_eq!(v.venue.orders()[0].ahead, 500);
    v.market([
        add(3, Side::Sell, 100_0100, 700, 3),
        delete(3, 4),
        delete(1, 5),
    ]);
    assert_eq!(
        v.venue.orders()[0].ahead,
        200,
        "only the cancel ahead counted"
    );
    // An execution of the order behind would have met ours first.
    assert!(v.fills.is_empty());
}

#[test]
fn a_crossing_order_takes_displayed_liquidity_at_the_touch() {
    let mut v = SimVenue::new();
    v.market([
        add(1, Side::Sell, 100_0100, 60, 1),
        add(2, Side::Sell, 100_0200, 30, 2),
        add(3, Side::Buy, 100_0000, 500, 3),
    ]);
    v.order(&new_order(9, Side::Buy, 100_0200, TimeInForce::Day));
    let got: Vec<_> = v.fills.iter().map(|f| (f.price, f.qty, f.maker)).collect();
    assert_eq!(
        got,
        vec![(Price(100_0100), 60, false), (Price(100_0200), 30, false)]
    );
    // The remaining 10 rest at 100.02 with nothing ahead on the bid side.
    assert_eq!(v.venue.orders()[0].leaves, 10);
    assert_eq!(v.venue.orders()[0].ahead, 0);
    // A second crossing order finds the shares already taken.
    v.fills.clear();
    v.order(&new_order(10, Side::Buy, 100_0200, TimeInForce::Day));
    assert!(v.fills.is_empty(), "{:?}", v.fills);
}

#[test]
fn a_post_only_replace_that_would_cross_is_refused() {
    let mut v = SimVenue::new();
    v.market([
        add(1, Side::Sell, 100_0100, 60, 1),
        add(2, Side::Buy, 100_0000, 500, 2),
    ]);
    v.order(&new_order(1, Side::Buy, 99_9900, TimeInForce::PostOnly));
    let replace = |cl: u64, orig: u64, side: Side, price: i64| Outbound::Replace {
        order: OrderId(1),
        cl_ord_id: ClOrdId(cl),
        orig_cl_ord_id: ClOrdId(orig),
        venue: VenueId(1),
        symbol: sym(),
        side,
        price: Price(price),
        qty: 100,
        tif: TimeInForce::PostOnly,
    };
    v.reports.clear();
    // Through the ask: refused, nothing taken, the bid keeps working.
    v.order(&replace(2, 1, Side::Buy, 100_0200));
    assert!(v.fills.is_empty(), "{:?}", v.fills);
    assert_eq!(v.reports.len(), 1);
    assert_eq!(
        v.reports[0].exec_type,
        gateway::oms::ExecType::ReplaceRejected
    );
    assert_eq!(v.venue.orders()[0].price, Price(99_9900));
    // The wrong side: refused too.
    v.reports.clear();
    v.order(&replace(3, 1, Side::Sell, 100_0500));
    assert_eq!(
        v.reports[0].exec_type,
        gateway::oms::ExecType::ReplaceRejected
    );
    // Up to the bid (still below the ask): replaced and resting.
    v.reports.clear();
    v.order(&replace(4, 1, Side::Buy, 100_0000));
    assert_eq!(v.reports[0].exec_type, gateway::oms::ExecType::Replaced);
    assert_eq!(v.venue.orders()[0].price, Price(100_0000));
    assert!(v.fills.is_empty());
}

/// A generated day of 12 symbols (250 k messages) and its busiest symbol,
/// with the fair prices' volatility and drift as given (see
/// `feedgen::Config`).
fn generated_day(seed: u64, volatility_percent: u32, drift_bp: i32) -> (Vec<Vec<u8>>, Config) {
    let mut generator = feedgen::Generator::new(feedgen::Config {
        seed,
        symbols: 12,
        messages: 250_000,
        peak_live: 25_000,
        volatility_percent,
        drift_bp,
    })
    .unwrap();
    let mut msgs = Vec::new();
    let mut counts = [0u64; 13];
    let mut buf = [0u8; 64];
    for m in generator.by_ref() {
        let n = write_framed(&m.message, &mut buf).unwrap();
        let b = buf[2..n].to_vec();
        if let Ok(msg) = Message::parse(&b) {
            if let Some(c) = counts.get_mut(usize::from(msg.stock_locate())) {
                *c += 1;
            }
        }
        msgs.push(b);
    }
    let locate = (1..=12u16).max_by_key(|&l| counts[usize::from(l)]).unwrap();
    let symbol = generator.symbol(locate).unwrap();
    let mut config = Config::new(locate, symbol);
    config.book = BookConfig {
        max_orders: 1 << 16,
        max_levels: 1 << 15,
    };
    (msgs, config)
}

/// The market maker on generated days (several seeds, the busiest symbol):
/// post-only quotes never take, the inventory stays within its limit, no
/// risk rejections (no self-match), and it does trade. The PnL floor is
/// loose on purpose and documents the state, not a target: on these small
/// days the generated fair price walks through the maker's one-tick quotes
/// and adverse selection costs it 6–14 ¢ per share (seeds 3 and 8); the
/// floor (−25 ¢ per share traded) only catches mechanics that break
/// outright. The 2 M-message days in BENCHMARKS.md do better.
#[test]
fn market_maker_on_generated_days() {
    for seed in [3, 8, 21] {
        let (msgs, config) = generated_day(seed, 100, 0);
        let locate = config.locate;
        let r = run(config, &msgs).finish();
        let s = r.stats;
        let traded = s.maker_shares + s.taker_shares;
        let per_share = r.total as f64 / 10_000.0 / traded.max(1) as f64;
        let what = format!(
            "seed {seed} locate {locate}: {s:?} total {} per share {per_share:.4}",
            backtest::money(r.total)
        );
        assert_eq!(s.taker_fills, 0, "{what}");
        assert!(s.maker_fills >= 20, "{what}");
        assert!(s.min_position >= -500 && s.max_position <= 500, "{what}");
        assert_eq!(r.risk_rejects, 0, "{what}");
        assert!(per_share >= -0.25, "{what}");
        eprintln!("{what}");
    }
}

/// A quiet generated day (fair prices stand still; the book churns, trades
/// hit both touches): the market maker earns the spread on every seed,
/// only as a maker, within its inventory limit.
#[test]
fn market_maker_earns_the_spread_on_a_quiet_generated_day() {
    for seed in [3, 8, 21] {
        let (msgs, config) = generated_day(seed, 0, 0);
        let (locate, limit) = (config.locate, config.mm.max_position);
        let r = run(config, &msgs).finish();
        let s = r.stats;
        let what = format!(
            "seed {seed} locate {locate}: {s:?} total {} fees {}",
            backtest::money(r.total),
            backtest::money(r.fees)
        );
        eprintln!("{what}");
        assert!(s.bought > 0 && s.sold > 0, "{what}");
        assert_eq!(s.taker_fills, 0, "{what}");
        assert!(
            s.min_position >= -limit && s.max_position <= limit,
            "{what}"
        );
        assert_eq!(r.risk_rejects, 0, "{what}");
        assert!(r.total > 0, "{what}");
    }
}

/// Trending generated days (every fair price rises or falls 3% or 10% over
/// the day, nothing else moves it): the trend runs the market maker's
/// inventory against it up to the limit, and never beyond.
#[test]
fn inventory_stays_within_limits_on_a_trending_generated_day() {
    for (seed, drift_bp) in [(3, 300), (8, -300), (21, 1000), (3, -1000)] {
        let (msgs, config) = generated_day(seed, 0, drift_bp);
        let (locate, limit) = (config.locate, config.mm.max_position);
        let r = run(config, &msgs).finish();
        let s = r.stats;
        let what = format!(
            "seed {seed} drift {drift_bp} bp locate {locate}: {s:?} total {}",
            backtest::money(r.total)
        );
        eprintln!("{what}");
        assert!(
            s.min_position >= -limit && s.max_position <= limit,
            "{what}"
        );
        // A rise sells the maker short, a fall makes it buy, until the
        // limit stops it.
        let against = if drift_bp > 0 {
            -s.min_position
        } else {
            s.max_position
        };
        assert!(
            10 * against >= 9 * limit,
            "the trend reached the limit: {what}"
        );
        assert_eq!(s.taker_fills, 0, "{what}");
    }
}
