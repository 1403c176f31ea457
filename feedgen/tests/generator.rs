//! The generated day: determinism, message mix, wire validity, order
//! lifecycle consistency, peak population, and pcap ⇔ NASDAQ-format
//! equivalence.

use std::collections::{BTreeMap, HashMap};

use feedgen::model::mix;
use feedgen::pcap::{MoldPcapWriter, PcapReader, FEED_GROUP};
use feedgen::{session_for_seed, write_day, Config, Generator, Stats};
use protocol::filter::Filter;
use protocol::itch::{FileReader, Message};
use protocol::moldudp64::{Packet, PacketKind};
use types::Side;

/// Runs a day into memory: (NASDAQ-format bytes, pcap bytes, stats).
fn day(config: Config, nasdaq: bool, pcap: bool) -> (Vec<u8>, Vec<u8>, Stats) {
    let mut generator = Generator::new(config).expect("config");
    let mut out = Vec::new();
    let mut writer = MoldPcapWriter::new(Vec::new(), session_for_seed(config.seed)).unwrap();
    write_day(
        &mut generator,
        nasdaq.then_some(&mut out),
        pcap.then_some(&mut writer),
        |_| {},
    )
    .unwrap();
    let pcap_bytes = writer.finish().unwrap();
    (out, pcap_bytes, generator.stats().clone())
}

fn small(seed: u64) -> Config {
    Config {
        seed,
        symbols: 300,
        messages: 60_000,
        peak_live: 8_000,
        ..Default::default()
    }
}

#[test]
fn same_seed_gives_byte_identical_output() {
    let (a, pa, _) = day(small(11), true, true);
    let (b, pb, _) = day(small(11), true, true);
    assert_eq!(a, b);
    assert_eq!(pa, pb);
    let (c, pc, _) = day(small(12), true, true);
    assert_ne!(a, c);
    assert_ne!(pa, pc);
    // Writing one format does not change the other.
    let (only_nasdaq, _, _) = day(small(11), true, false);
    assert_eq!(a, only_nasdaq);
}

/// Lifecycle tracker independent of the generator: every reference must be
/// live when named, adds never reuse a live reference, executions and
/// cancels never exceed what remains, and no add or replace crosses the
/// other side of its symbol.
#[derive(Default)]
struct Tracker {
    orders: HashMap<u64, (u16, Side, u32, u32)>,
    /// (locate, side) → price → orders resting there.
    levels: HashMap<(u16, bool), BTreeMap<u32, u32>>,
    peak: usize,
}

impl Tracker {
    fn add(&mut self, order_ref: u64, locate: u16, side: Side, price: u32, shares: u32) {
        assert!(shares > 0, "add of zero shares");
        assert!(
            self.orders
                .insert(order_ref, (locate, side, price, shares))
                .is_none(),
            "reference {order_ref} added twice"
        );
        let is_bid = side == Side::Buy;
        if let Some(opposite) = self.levels.get(&(locate, !is_bid)) {
            if is_bid {
                if let Some((&best_ask, _)) = opposite.first_key_value() {
                    assert!(price < best_ask, "bid {price} crosses ask {best_ask}");
                }
            } else if let Some((&best_bid, _)) = opposite.last_key_value() {
                assert!(price > best_bid, "ask {price} crosses bid {best_bid}");
            }
        }
        *self
            .levels
            .entry((locate, is_bid))
            .or_default()
            .entry(price)
            .or_insert(0) += 1;
        self.peak = self.peak.max(self.orders.len());
    }

    fn remove(&mut self, order_ref: u64) -> (u16, Side, u32, u32) {
        let o = self
            .orders
            .remove(&order_ref)
            .unwrap_or_else(|| panic!("reference {order_ref} is not live"));
        let book = self.levels.get_mut(&(o.0, o.1 == Side::Buy)).unwrap();
        let n = book.get_mut(&o.2).unwrap();
        *n -= 1;
        if *n == 0 {
            book.remove(&o.2);
        }
        o
    }

    fn reduce(&mut self, order_ref: u64, locate: u16, by: u32) {
        let o = self
            .orders
            .get_mut(&order_ref)
            .unwrap_or_else(|| panic!("reference {order_ref} is not live"));
        assert_eq!(o.0, locate, "message locate differs from the order's");
        assert!(by > 0 && by <= o.3, "reduce {by} of {}", o.3);
        o.3 -= by;
        if o.3 == 0 {
            self.remove(order_ref);
        }
    }

    fn apply(&mut self, msg: &Message<'_>) {
        match msg {
            Message::AddOrder(m) => self.add(
                m.order_ref(),
                m.stock_locate(),
                m.side(),
                m.price().0 as u32,
                m.shares(),
            ),
            Message::AddOrderMpid(m) => self.add(
                m.order_ref(),
                m.stock_locate(),
                m.side(),
                m.price().0 as u32,
                m.shares(),
            ),
            Message::OrderDelete(m) => {
                let o = self.remove(m.order_ref());
                assert_eq!(o.0, m.stock_locate());
            }
            Message::OrderCancel(m) => {
                let live = self.orders.get(&m.order_ref()).map(|o| o.3);
                assert!(
                    live.is_some_and(|s| m.cancelled_shares() < s),
                    "cancel must be partial (full cancels are deletes)"
                );
                self.reduce(m.order_ref(), m.stock_locate(), m.cancelled_shares());
            }
            Message::OrderExecuted(m) => {
                self.reduce(m.order_ref(), m.stock_locate(), m.executed_shares())
            }
            Message::OrderExecutedWithPrice(m) => {
                self.reduce(m.order_ref(), m.stock_locate(), m.executed_shares())
            }
            Message::OrderReplace(m) => {
                let (locate, side, _, _) = self.remove(m.original_order_ref());
                assert_eq!(locate, m.stock_locate());
                self.add(
                    m.new_order_ref(),
                    locate,
                    side,
                    m.price().0 as u32,
                    m.shares(),
                );
            }
            _ => {}
        }
    }
}

fn check_target(stats: &Stats, ty: u8, ppm: u32, tolerance: f64) {
    let share = stats.per_type[usize::from(ty)] as f64 / stats.messages as f64;
    let target = f64::from(ppm) / 1e6;
    assert!(
        (share - target).abs() <= target * tolerance,
        "type {}: share {:.4}% vs target {:.4}% (±{:.0}%)",
        char::from(ty),
        share * 100.0,
        target * 100.0,
        tolerance * 100.0
    );
}

#[test]
fn mix_matches_the_targets() {
    let config = Config {
        seed: 5,
        symbols: 2_000,
        messages: 1_000_000,
        peak_live: 100_000,
        ..Default::default()
    };
    let (_, _, stats) = day(config, false, false);
    assert_eq!(stats.messages, 1_000_000);
    for (ty, ppm) in mix::TARGETS {
        // Tight for the big types, looser where a 1 M-message day has only a
        // few hundred of a type.
        let tolerance = if ppm >= 10_000 {
            0.05
        } else if ppm >= 4_000 {
            0.10
        } else {
            0.25
        };
        check_target(&stats, ty, ppm, tolerance);
    }
    assert_eq!(stats.per_type[usize::from(b'R')], 2_000);
    assert_eq!(stats.per_type[usize::from(b'S')], 6);
    assert!(
        stats.per_type[usize::from(b'H')] > 2_000,
        "initial H per locate plus halts"
    );
}

#[test]
fn every_message_parses_and_names_only_live_orders_and_the_peak_is_reached() {
    let config = Config {
        seed: 9,
        symbols: 500,
        messages: 400_000,
        peak_live: 60_000,
        ..Default::default()
    };
    let (bytes, _, stats) = day(config, true, false);
    assert_eq!(stats.framed_bytes, bytes.len() as u64);
    let mut tracker = Tracker::default();
    let mut count = 0u64;
    let mut last_ts = 0;
    let mut per_type = [0u64; 256];
    for raw in FileReader::new(&bytes) {
        let raw = raw.expect("framing");
        let msg = Message::parse(raw).expect("every message parses");
        assert!(!matches!(msg, Message::Unknown(_)));
        let ts = u64::from_be_bytes([0, 0, raw[5], raw[6], raw[7], raw[8], raw[9], raw[10]]);
        assert!(ts >= last_ts, "timestamps never go back");
        last_ts = ts;
        per_type[usize::from(msg.msg_type())] += 1;
        tracker.apply(&msg);
        count += 1;
    }
    assert_eq!(count, 400_000);
    assert_eq!(per_type, stats.per_type);
    assert!(
        tracker.peak as u64 >= config.peak_live,
        "peak {} < {}",
        tracker.peak,
        config.peak_live
    );
    assert_eq!(tracker.peak as u64, stats.peak_live_orders);
    assert_eq!(tracker.orders.len() as u64, stats.live_orders);
}

/// All ITCH messages carried by a pcap, in sequence order, with checks of
/// every layer on the way.
fn messages_from_pcap(pcap: &[u8]) -> Vec<Vec<u8>> {
    let mut filter = Filter::<1>::new();
    filter.subscribe(FEED_GROUP).unwrap();
    filter.set_verify_udp_checksum(true);
    let mut next_seq = 1;
    let mut out = Vec::new();
    let mut ended = false;
    for record in PcapReader::new(pcap).expect("pcap header") {
        let record = record.expect("pcap record");
        assert!(!ended, "nothing after end of session");
        assert!(record.frame.len() <= 1514, "frame within the MTU");
        let datagram = filter
            .classify(record.frame)
            .expect("frame passes the filter");
        let packet = Packet::new_checked(datagram.payload).expect("MoldUDP64");
        match packet.kind() {
            PacketKind::Data(n) => {
                assert_eq!(packet.sequence(), next_seq, "sequences are contiguous");
                for item in packet.messages() {
                    let (seq, msg) = item.expect("message block");
                    assert_eq!(seq, next_seq);
                    next_seq += 1;
                    out.push(msg.to_vec());
                }
                assert!(n > 0);
            }
            PacketKind::EndOfSession => {
                assert_eq!(packet.sequence(), next_seq);
                ended = true;
            }
            PacketKind::Heartbeat => panic!("no heartbeats expected"),
        }
    }
    assert!(ended, "session ends with an end-of-session packet");
    out
}

#[test]
fn pcap_carries_exactly_the_nasdaq_file_messages() {
    let (nasdaq, pcap, stats) = day(small(21), true, true);
    let from_file: Vec<Vec<u8>> = FileReader::new(&nasdaq)
        .map(|m| m.unwrap().to_vec())
        .collect();
    let from_pcap = messages_from_pcap(&pcap);
    assert_eq!(from_file.len() as u64, stats.messages);
    assert_eq!(from_pcap, from_file);
    for m in &from_pcap {
        Message::parse(m).expect("parses");
    }
}

#[test]
fn activity_is_skewed_but_resting_books_are_spread() {
    let config = Config {
        seed: 31,
        symbols: 2_000,
        messages: 600_000,
        peak_live: 100_000,
        ..Default::default()
    };
    let (bytes, _, stats) = day(config, true, false);
    let mut live: HashMap<u64, u16> = HashMap::new();
    let mut books = vec![0i64; 2_001];
    let mut messages = vec![0u64; 2_001];
    let mut largest_at_peak = 0;
    for (i, raw) in FileReader::new(&bytes).enumerate() {
        let msg = Message::parse(raw.unwrap()).unwrap();
        let locate = usize::from(msg.stock_locate());
        messages[locate] += 1;
        match msg {
            Message::AddOrder(m) => {
                live.insert(m.order_ref(), m.stock_locate());
                books[locate] += 1;
            }
            Message::AddOrderMpid(m) => {
                live.insert(m.order_ref(), m.stock_locate());
                books[locate] += 1;
            }
            Message::OrderDelete(m) => {
                live.remove(&m.order_ref());
                books[locate] -= 1;
            }
            Message::OrderReplace(m) => {
                live.remove(&m.original_order_ref());
                live.insert(m.new_order_ref(), m.stock_locate());
            }
            // Executions are few; full fills make books slightly smaller,
            // which only loosens the bound below.
            _ => {}
        }
        if i as u64 + 1 == stats.peak_at_message {
            largest_at_peak = *books.iter().max().unwrap();
        }
    }
    // Resting share of the largest book is ~0.5% of live orders with 2,000
    // symbols; activity alone would put ~7% there.
    assert!(
        (largest_at_peak as f64) < 0.015 * stats.peak_live_orders as f64,
        "largest book {largest_at_peak} of {}",
        stats.peak_live_orders
    );
    let mut sorted = messages[1..].to_vec();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let top = *sorted.last().unwrap();
    assert!(
        top > 20 * median,
        "top symbol {top} msgs vs median {median}"
    );
}

mod any_config {
    use super::*;
    use book::BookConfig;
    use feedgen::replay::{book_anomalies, Replayer};
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        /// Any seed and shape of day: exact message count, every message
        /// parses, the independent tracker never sees a dead or reused
        /// reference or a crossing add, the peak is reached, and the book
        /// replays it without a single anomaly.
        #[test]
        fn any_day_is_consistent(
            seed in any::<u64>(),
            symbols in 1u16..60,
            messages in 8_000u64..30_000,
            peak_permille in 10u64..200,
        ) {
            let config = Config {
                seed,
                symbols,
                messages,
                peak_live: messages * peak_permille / 1_000,
                ..Default::default()
            };
            let (bytes, _, stats) = day(config, true, false);
            let mut tracker = Tracker::default();
            let mut n = 0;
            for raw in FileReader::new(&bytes) {
                tracker.apply(&Message::parse(raw.unwrap()).unwrap());
                n += 1;
            }
            prop_assert_eq!(n, messages);
            prop_assert!(tracker.peak as u64 >= config.peak_live);
            let capacity = BookConfig { max_orders: 1 << 14, max_levels: 1 << 14 };
            let mut r = Replayer::<Vec<u8>>::new(capacity, None).unwrap();
            r.replay_nasdaq(&bytes);
            prop_assert_eq!(book_anomalies(r.book().counters()), 0);
            prop_assert_eq!(r.book().live_orders() as u64, stats.live_orders);
        }
    }
}

/// The fair prices (the quotes the model steers to) of a day, per locate,
/// before and after it.
fn wanted_before_and_after(config: Config) -> Vec<([u32; 2], [u32; 2])> {
    let mut generator = Generator::new(config).expect("config");
    let before: Vec<[u32; 2]> = (1..=config.symbols)
        .map(|l| generator.quote_model(l).expect("locate").wanted)
        .collect();
    for _ in generator.by_ref() {}
    (1..=config.symbols)
        .zip(before)
        .map(|(l, b)| (b, generator.quote_model(l).expect("locate").wanted))
        .collect()
}

#[test]
fn a_quiet_day_keeps_every_fair_price_and_a_normal_day_moves_them() {
    let quiet = Config {
        volatility_percent: 0,
        ..small(5)
    };
    for (locate, (before, after)) in (1..).zip(wanted_before_and_after(quiet)) {
        assert_eq!(before, after, "locate {locate} moved on a quiet day");
    }
    let moved = wanted_before_and_after(small(5))
        .iter()
        .filter(|(b, a)| b != a)
        .count();
    assert!(moved > 100, "only {moved} of 300 fair prices moved");
}

#[test]
fn a_drift_moves_every_active_fair_price_its_way() {
    for drift_bp in [500, -500] {
        let config = Config {
            volatility_percent: 0,
            drift_bp,
            ..small(6)
        };
        let mut with_the_drift = 0;
        for (locate, (before, after)) in (1..).zip(wanted_before_and_after(config)) {
            let (b, a) = (i64::from(before[0]), i64::from(after[0]));
            assert!(
                (a - b) * i64::from(drift_bp) >= 0,
                "locate {locate}: {b} -> {a} against a drift of {drift_bp} bp"
            );
            // A 5% drift is several ticks for all but the cheapest names.
            if a != b {
                with_the_drift += 1;
            }
        }
        assert!(
            with_the_drift > 250,
            "only {with_the_drift} of 300 followed the drift"
        );
    }
}
