//! ITCH 5.0 decode throughput: this crate vs `itchy` 0.3.4 vs `itch5` 0.1.5,
//! over the same in-memory NASDAQ-format buffer, in one run.
//!
//! The buffer holds ~1 M messages in the mix of a real NASDAQ day (A 44 %,
//! D 43 %, U 7.4 %, E 2.2 %, X 1.3 %, I 1.0 %, F 0.5 %, P 0.4 %, L, C and a
//! sprinkling of S R H Y Q B N V W K J), built with this crate's encoders from
//! a fixed xorshift seed. `h` and `O` are left out of the shared buffer
//! because `itchy` panics on them (`unreachable!`); a second buffer with them
//! mixed in measures this crate alone (`protocol_all_types`).
//!
//! Each decoder must touch the same fields: the stock locate of every
//! message and the order reference of every order message (A F E C X D U),
//! summed into a checksum that is compared across decoders before timing.
//!
//! One criterion iteration decodes the whole buffer, so the reported time per
//! iteration in milliseconds divided by the message count (printed at start)
//! gives ns/msg; with exactly 1,000,000 messages ms/iter == ns/msg.
//!
//! Run: `cargo bench -p protocol --bench itch_decode -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::ops::ControlFlow;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use protocol::itch::*;
use types::{Price, Side, Symbol};

const MESSAGES: usize = 1_000_000;

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SYMBOLS: [&str; 8] = [
    "AAPL", "MSFT", "AMZN", "NVDA", "TSLA", "QQQ", "SPY", "GOOGL",
];

/// Builds one message of the given type with plausible, itchy-acceptable
/// field values.
fn make(t: u8, rng: &mut XorShift, n: u64) -> MessageRepr {
    let header = Header {
        stock_locate: 1 + rng.below(8_800) as u16,
        tracking_number: rng.below(4) as u16,
        timestamp: 34_200_000_000_000 + n * 23_400,
    };
    let stock = Symbol::new(SYMBOLS[rng.below(8) as usize]).unwrap();
    let price = Price(1_0000 + rng.below(500_0000) as i64);
    let side = if rng.next() & 1 == 0 {
        Side::Buy
    } else {
        Side::Sell
    };
    let order_ref = n * 4 + rng.below(4);
    let shares = 1 + rng.below(1_000) as u32;
    match t {
        b'A' => AddOrderRepr {
            header,
            order_ref,
            side,
            shares,
            stock,
            price,
        }
        .into(),
        b'F' => AddOrderMpidRepr {
            header,
            order_ref,
            side,
            shares,
            stock,
            price,
            attribution: *b"GSCO",
        }
        .into(),
        b'D' => OrderDeleteRepr { header, order_ref }.into(),
        b'U' => OrderReplaceRepr {
            header,
            original_order_ref: order_ref,
            new_order_ref: order_ref + 1,
            shares,
            price,
        }
        .into(),
        b'E' => OrderExecutedRepr {
            header,
            order_ref,
            executed_shares: shares,
            match_number: n,
        }
        .into(),
        b'X' => OrderCancelRepr {
            header,
            order_ref,
            cancelled_shares: shares,
        }
        .into(),
        b'C' => OrderExecutedWithPriceRepr {
            header,
            order_ref,
            executed_shares: shares,
            match_number: n,
            printable: b'Y',
            execution_price: price,
        }
        .into(),
        b'P' => TradeRepr {
            header,
            order_ref: 0,
            side: Side::Buy,
            shares,
            stock,
            price,
            match_number: n,
        }
        .into(),
        b'I' => NoiiRepr {
            header,
            paired_shares: shares as u64,
            imbalance_shares: rng.below(10_000),
            imbalance_direction: b'B',
            stock,
            far_price: price,
            near_price: price,
            current_reference_price: price,
            cross_type: b'C',
            price_variation_indicator: b'L',
        }
        .into(),
        b'L' => MarketParticipantPositionRepr {
            header,
            mpid: *b"GSCO",
            stock,
            primary_market_maker: b'Y',
            market_maker_mode: b'N',
            market_participant_state: b'A',
        }
        .into(),
        b'S' => SystemEventRepr {
            header,
            event_code: b'Q',
        }
        .into(),
        b'R' => StockDirectoryRepr {
            header,
            stock,
            market_category: b'Q',
            financial_status: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_subtype: *b"C ",
            authenticity: b'P',
            short_sale_threshold: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
        .into(),
        b'H' => StockTradingActionRepr {
            header,
            stock,
            trading_state: b'T',
            reserved: b' ',
            reason: *b"    ",
        }
        .into(),
        b'Y' => RegShoRestrictionRepr {
            header,
            stock,
            reg_sho_action: b'0',
        }
        .into(),
        b'Q' => CrossTradeRepr {
            header,
            shares: shares as u64,
            stock,
            cross_price: price,
            match_number: n,
            cross_type: b'O',
        }
        .into(),
        b'B' => BrokenTradeRepr {
            header,
            match_number: n,
        }
        .into(),
        b'N' => RetailPriceImprovementRepr {
            header,
            stock,
            interest_flag: b'B',
        }
        .into(),
        b'V' => MwcbDeclineLevelRepr {
            header,
            level1: 1,
            level2: 2,
            level3: 3,
        }
        .into(),
        b'W' => MwcbStatusRepr {
            header,
            breached_level: b'1',
        }
        .into(),
        b'K' => IpoQuotingPeriodUpdateRepr {
            header,
            stock,
            release_time: 34_200,
            release_qualifier: b'A',
            ipo_price: price,
        }
        .into(),
        b'J' => LuldAuctionCollarRepr {
            header,
            stock,
            reference_price: price,
            upper_price: price,
            lower_price: price,
            extension: 0,
        }
        .into(),
        b'h' => OperationalHaltRepr {
            header,
            stock,
            market_code: b'Q',
            halt_action: b'H',
        }
        .into(),
        b'O' => DirectListingPriceDiscoveryRepr {
            header,
            stock,
            open_eligibility_status: b'Y',
            min_allowable_price: price,
            max_allowable_price: price,
            near_execution_price: price,
            near_execution_time: 0,
            lower_price_range_collar: price,
            upper_price_range_collar: price,
        }
        .into(),
        other => panic!("no generator for {}", other as char),
    }
}

/// Mix in parts per 100,000 (a real day's shares, rare types rounded up).
const MIX: &[(u8, u64)] = &[
    (b'A', 44_000),
    (b'D', 43_000),
    (b'U', 7_400),
    (b'E', 2_200),
    (b'X', 1_300),
    (b'I', 1_000),
    (b'F', 500),
    (b'P', 400),
    (b'L', 50),
    (b'C', 40),
    (b'S', 10),
    (b'R', 20),
    (b'H', 10),
    (b'Y', 10),
    (b'Q', 10),
    (b'B', 5),
    (b'N', 10),
    (b'V', 5),
    (b'W', 5),
    (b'K', 5),
    (b'J', 5),
];

fn build(with_h_and_o: bool) -> Vec<u8> {
    let total: u64 = MIX.iter().map(|(_, w)| w).sum::<u64>() + if with_h_and_o { 20 } else { 0 };
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut buf = Vec::with_capacity(MESSAGES * 32);
    let mut tmp = [0u8; 64];
    for n in 0..MESSAGES as u64 {
        let mut pick = rng.below(total);
        let mut t = if with_h_and_o {
            if rng.next() & 1 == 0 {
                b'h'
            } else {
                b'O'
            }
        } else {
            b'A'
        };
        for &(ty, w) in MIX {
            if pick < w {
                t = ty;
                break;
            }
            pick -= w;
        }
        let len = write_framed(&make(t, &mut rng, n), &mut tmp).unwrap();
        buf.extend_from_slice(&tmp[..len]);
    }
    buf
}

// ----- the three decoders, each returning (messages, checksum) -------------

fn ours(buf: &[u8]) -> (u64, u64) {
    let mut n = 0u64;
    let mut sum = 0u64;
    for raw in FileReader::new(buf) {
        let Ok(raw) = raw else { break };
        let Ok(msg) = Message::parse(raw) else {
            continue;
        };
        n += 1;
        sum = sum.wrapping_add(msg.stock_locate() as u64);
        let order = match msg {
            Message::AddOrder(m) => m.order_ref(),
            Message::AddOrderMpid(m) => m.order_ref(),
            Message::OrderExecuted(m) => m.order_ref(),
            Message::OrderExecutedWithPrice(m) => m.order_ref(),
            Message::OrderCancel(m) => m.order_ref(),
            Message::OrderDelete(m) => m.order_ref(),
            Message::OrderReplace(m) => m.original_order_ref(),
            _ => 0,
        };
        sum = sum.wrapping_add(order);
    }
    (n, sum)
}

fn itchy_decode(buf: &[u8]) -> (u64, u64) {
    let mut n = 0u64;
    let mut sum = 0u64;
    for msg in itchy::MessageStream::from_reader(buf) {
        let Ok(msg) = msg else { break };
        n += 1;
        sum = sum.wrapping_add(msg.stock_locate as u64);
        let order = match &msg.body {
            itchy::Body::AddOrder(a) => a.reference,
            itchy::Body::OrderExecuted { reference, .. } => *reference,
            itchy::Body::OrderExecutedWithPrice { reference, .. } => *reference,
            itchy::Body::OrderCancelled { reference, .. } => *reference,
            itchy::Body::DeleteOrder { reference } => *reference,
            itchy::Body::ReplaceOrder(r) => r.old_reference,
            _ => 0,
        };
        sum = sum.wrapping_add(order);
    }
    (n, sum)
}

#[derive(Default)]
struct Itch5Sum {
    n: u64,
    sum: u64,
}

impl Itch5Sum {
    fn add(&mut self, locate: u16, order: u64) -> ControlFlow<()> {
        self.n += 1;
        self.sum = self.sum.wrapping_add(locate as u64).wrapping_add(order);
        ControlFlow::Continue(())
    }
}

macro_rules! itch5_locate_only {
    ($($method:ident($ty:ty) => $locate:ident;)*) => {
        $( fn $method(&mut self, m: &$ty) -> ControlFlow<()> { self.add(m.$locate(), 0) } )*
    };
}

impl itch5::MessageHandler for Itch5Sum {
    fn on_add_order_no_mpid_attribution(
        &mut self,
        m: &itch5::messages::AddOrderNoMPIDAttribution,
    ) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_add_order_with_mpid_attribution(
        &mut self,
        m: &itch5::messages::AddOrderWithMPIDAttribution,
    ) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_order_executed(&mut self, m: &itch5::messages::OrderExecuted) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_order_executed_with_price(
        &mut self,
        m: &itch5::messages::OrderExecutedWithPrice,
    ) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_order_cancel(&mut self, m: &itch5::messages::OrderCancel) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_order_delete(&mut self, m: &itch5::messages::OrderDelete) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.order_reference_number())
    }
    fn on_order_replace(&mut self, m: &itch5::messages::OrderReplace) -> ControlFlow<()> {
        self.add(m.stock_locate(), m.original_order_reference_number())
    }
    itch5_locate_only! {
        on_system_event(itch5::messages::SystemEvent) => stock_locate;
        on_stock_directory(itch5::messages::StockDirectory) => stock_locate;
        on_stock_trading_action(itch5::messages::StockTradingAction) => stock_locate;
        on_reg_sho_restriction(itch5::messages::RegSHORestriction) => locate_code;
        on_market_participant_position(itch5::messages::MarketParticipantPosition) => stock_locate;
        on_mwcb_decline_level(itch5::messages::MWCBDeclineLevel) => stock_locate;
        on_mwcb_status(itch5::messages::MWCBStatus) => stock_locate;
        on_quoting_period_update(itch5::messages::QuotingPeriodUpdate) => stock_locate;
        on_luld_auction_collar(itch5::messages::LULDAuctionCollar) => stock_locate;
        on_operational_halt(itch5::messages::OperationalHalt) => stock_locate;
        on_trade(itch5::messages::Trade) => stock_locate;
        on_cross_trade(itch5::messages::CrossTrade) => stock_locate;
        on_broken_trade(itch5::messages::BrokenTrade) => stock_locate;
        on_net_order_imbalance_indicator(itch5::messages::NetOrderImbalanceIndicator) => stock_locate;
        on_retail_price_improvement_indicator(itch5::messages::RetailPriceImprovementIndicator) => stock_locate;
        on_direct_listing_with_capital_raise_price_discovery(itch5::messages::DirectListingwithCapitalRaisePriceDiscovery) => stock_locate;
    }
}

fn itch5_decode(buf: &[u8]) -> (u64, u64) {
    let mut h = Itch5Sum::default();
    itch5::Parser::new(buf).parse_stream(&mut h).unwrap();
    (h.n, h.sum)
}

/// On a shared, loaded machine criterion's mean is inflated by other
/// processes; the fastest of several whole-buffer passes, with the decoders
/// interleaved round-robin so they see the same background load, is the
/// steadier comparison. Printed before the criterion groups.
fn best_of_rounds(shared: &[u8], all: &[u8]) {
    type Decoder = fn(&[u8]) -> (u64, u64);
    let runs: [(&str, Decoder, &[u8]); 4] = [
        ("protocol", ours, shared),
        ("itchy", itchy_decode, shared),
        ("itch5", itch5_decode, shared),
        ("protocol_all_types", ours, all),
    ];
    let mut best = [f64::MAX; 4];
    for _ in 0..15 {
        for (i, (_, f, buf)) in runs.iter().enumerate() {
            let t = std::time::Instant::now();
            let (n, _) = black_box(f(black_box(buf)));
            best[i] = best[i].min(t.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    for (i, (name, _, _)) in runs.iter().enumerate() {
        eprintln!("itch_decode best-of-15 {name:>20}: {:6.2} ns/msg", best[i]);
    }
}

fn bench(c: &mut Criterion) {
    let shared = build(false);
    let all = build(true);
    let expected = ours(&shared);
    assert_eq!(expected.0, MESSAGES as u64);
    assert_eq!(itchy_decode(&shared), expected, "itchy disagrees");
    assert_eq!(itch5_decode(&shared), expected, "itch5 disagrees");
    assert_eq!(ours(&all).0, MESSAGES as u64);
    eprintln!(
        "itch_decode: {MESSAGES} messages, {} bytes ({:.1} B/msg incl. prefix); ms/iter == ns/msg",
        shared.len(),
        shared.len() as f64 / MESSAGES as f64
    );

    best_of_rounds(&shared, &all);

    let mut g = c.benchmark_group("itch_decode");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.sample_size(10);
    g.bench_function("protocol", |b| b.iter(|| ours(black_box(&shared))));
    g.bench_function("itchy", |b| b.iter(|| itchy_decode(black_box(&shared))));
    g.bench_function("itch5", |b| b.iter(|| itch5_decode(black_box(&shared))));
    g.bench_function("protocol_all_types", |b| b.iter(|| ours(black_box(&all))));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
