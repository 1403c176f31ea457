//! The replay path: exact BBO CSV for a hand-built day, and generator →
//! replay end to end (NASDAQ format and pcap) without book anomalies.

use book::BookConfig;
use feedgen::pcap::{MoldPcapWriter, FEED_GROUP};
use feedgen::replay::{book_anomalies, Replayer};
use feedgen::{session_for_seed, write_day, Config, Generator};
use protocol::itch::{
    write_framed, write_framed_raw, AddOrderRepr, Header, MessageRepr, OrderCancelRepr,
    OrderDeleteRepr, OrderExecutedRepr, OrderReplaceRepr, StockDirectoryRepr,
};
use types::{Price, Side, Symbol};

fn header(locate: u16, ts: u64) -> Header {
    Header {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: ts,
    }
}

fn directory(locate: u16, name: &str) -> MessageRepr {
    StockDirectoryRepr::common_stock(header(locate, 1), Symbol::new(name).unwrap()).into()
}

fn add(locate: u16, order_ref: u64, side: Side, shares: u32, price: i64) -> MessageRepr {
    AddOrderRepr {
        header: header(locate, 10 + order_ref),
        order_ref,
        side,
        shares,
        stock: Symbol::new("TEST").unwrap(),
        price: Price(price),
    }
    .into()
}

fn framed(messages: &[MessageRepr]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 64];
    for m in messages {
        let n = write_framed(m, &mut buf).unwrap();
        out.extend_from_slice(&buf[..n]);
    }
    out
}

fn small_book() -> BookConfig {
    BookConfig {
        max_orders: 1 << 12,
        max_levels: 1 << 10,
    }
}

#[test]
fn hand_built_day_gives_the_exact_bbo_csv_and_depth() {
    let mut file = framed(&[
        directory(1, "TEST"),                // 1: no BBO change
        add(1, 1, Side::Buy, 100, 100_000),  // 2: bid appears
        add(1, 2, Side::Sell, 200, 100_500), // 3: ask appears
        add(1, 3, Side::Buy, 50, 99_900),    // 4: behind the bid: no line
        OrderCancelRepr {
            header: header(1, 20),
            order_ref: 1,
            cancelled_shares: 30,
        }
        .into(), // 5: bid size 70
        OrderExecutedRepr {
            header: header(1, 21),
            order_ref: 2,
            executed_shares: 200,
            match_number: 1,
        }
        .into(), // 6: ask gone
    ]);
    // 7: a type outside ITCH 5.0 is skipped but still counts as a message.
    let mut buf = [0u8; 64];
    let n = write_framed_raw(b"z\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00", &mut buf).unwrap();
    file.extend_from_slice(&buf[..n]);
    file.extend_from_slice(&framed(&[
        OrderDeleteRepr {
            header: header(1, 22),
            order_ref: 1,
        }
        .into(), // 8: bid falls back to 9.99 × 50
        OrderReplaceRepr {
            header: header(1, 23),
            original_order_ref: 3,
            new_order_ref: 4,
            shares: 60,
            price: Price(100_100),
        }
        .into(), // 9: bid moves to 10.01 × 60
        add(2, 5, Side::Sell, 10, 5_000), // 10: a locate without a directory
    ]));

    let mut replayer = Replayer::new(small_book(), Some(Vec::new())).unwrap();
    replayer.replay_nasdaq(&file);
    let mut depth = Vec::new();
    replayer.write_depth(3, &mut depth).unwrap();
    let done = replayer.finish().unwrap();
    let (book, counters) = (done.book, done.counters);
    assert_eq!(counters.messages, 10);
    assert_eq!(counters.unknown, 1);
    assert_eq!(counters.malformed, 0);
    assert_eq!(book_anomalies(book.counters()), 0);
    let csv = String::from_utf8(done.bbo_out.unwrap()).unwrap();
    assert_eq!(
        csv,
        "msg_index,locate,stock,bid_px,bid_qty,ask_px,ask_qty\n\
         2,1,TEST,100000,100,,\n\
         3,1,TEST,100000,100,100500,200\n\
         5,1,TEST,100000,70,100500,200\n\
         6,1,TEST,100000,70,,\n\
         8,1,TEST,99900,50,,\n\
         9,1,TEST,100100,60,,\n\
         10,2,,,,5000,10\n"
    );
    assert_eq!(
        String::from_utf8(depth).unwrap(),
        "locate,stock,side,level,price,qty,orders\n\
         1,TEST,B,1,100100,60,1\n\
         2,,S,1,5000,10,1\n"
    );
}

#[test]
fn generated_day_replays_without_anomalies_from_file_and_pcap() {
    let config = Config {
        seed: 77,
        symbols: 400,
        messages: 150_000,
        peak_live: 20_000,
        ..Default::default()
    };
    let mut generator = Generator::new(config).unwrap();
    let mut nasdaq = Vec::new();
    let mut pcap = MoldPcapWriter::new(Vec::new(), session_for_seed(77)).unwrap();
    write_day(&mut generator, Some(&mut nasdaq), Some(&mut pcap), |_| {}).unwrap();
    let pcap = pcap.finish().unwrap();
    let stats = generator.stats().clone();

    let capacity = BookConfig {
        max_orders: 1 << 16,
        max_levels: 1 << 16,
    };
    let mut from_file = Replayer::new(capacity, Some(Vec::new())).unwrap();
    from_file.replay_nasdaq(&nasdaq);
    let mut from_pcap = Replayer::new(capacity, Some(Vec::new())).unwrap();
    from_pcap.replay_pcap(&pcap, FEED_GROUP).unwrap();

    let mut csvs = Vec::new();
    for r in [from_file, from_pcap] {
        let c = r.counters().clone();
        assert_eq!(c.messages, stats.messages);
        assert_eq!(c.per_type, stats.per_type);
        assert_eq!((c.unknown, c.malformed, c.truncated_tail), (0, 0, 0));
        assert_eq!(
            (c.gap_messages, c.duplicate_messages, c.mold_errors),
            (0, 0, 0)
        );
        let b = *r.book().counters();
        assert_eq!(book_anomalies(&b), 0, "book anomalies: {b:?}");
        assert_eq!(b.peak_orders, stats.peak_live_orders);
        assert_eq!(r.book().live_orders() as u64, stats.live_orders);
        assert!(c.bbo_changes > 10_000);
        csvs.push(r.finish().unwrap().bbo_out.unwrap());
    }
    assert_eq!(csvs[0], csvs[1], "both inputs give the same BBO stream");
}

#[test]
fn pcap_with_duplicates_and_a_gap_is_sequenced() {
    let config = Config {
        seed: 3,
        symbols: 50,
        messages: 20_000,
        peak_live: 2_000,
        ..Default::default()
    };
    let mut generator = Generator::new(config).unwrap();
    let mut pcap = MoldPcapWriter::new(Vec::new(), session_for_seed(3)).unwrap();
    write_day::<Vec<u8>, _>(&mut generator, None, Some(&mut pcap), |_| {}).unwrap();
    let pcap = pcap.finish().unwrap();
    // Rebuild the file: every record twice (an A/B pair), record 5 missing.
    let records: Vec<_> = feedgen::pcap::PcapReader::new(&pcap)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    let mut doubled = Vec::new();
    feedgen::pcap::write_global_header(&mut doubled).unwrap();
    let mut missing = 0;
    for (i, r) in records.iter().enumerate() {
        if i == 5 {
            let payload = &r.frame[42..];
            missing = u64::from(u16::from_be_bytes([payload[18], payload[19]]));
            continue;
        }
        feedgen::pcap::write_record(&mut doubled, r.unix_ns, r.frame).unwrap();
        feedgen::pcap::write_record(&mut doubled, r.unix_ns, r.frame).unwrap();
    }
    let mut replayer = Replayer::<Vec<u8>>::new(small_book(), None).unwrap();
    replayer.replay_pcap(&doubled, FEED_GROUP).unwrap();
    let c = replayer.counters().clone();
    assert!(missing > 0);
    assert_eq!(c.gap_messages, missing);
    assert_eq!(c.messages, 20_000 - missing);
    assert!(c.duplicate_messages >= 20_000 - missing - 100);
    assert_eq!(c.end_of_session, 2);
    // The prefetch pipeline across packets sequences identically.
    for distance in [1, 5, 16] {
        let mut fast = Replayer::<Vec<u8>>::new(small_book(), None).unwrap();
        fast.replay_pcap_prefetched(&doubled, FEED_GROUP, distance)
            .unwrap();
        let f = fast.counters();
        assert_eq!(
            (f.messages, f.gap_messages, f.duplicate_messages, f.frames),
            (c.messages, c.gap_messages, c.duplicate_messages, c.frames)
        );
        assert_eq!(fast.book().counters(), replayer.book().counters());
    }
    // Feeding the same packets one by one through `on_packet` agrees too.
    let mut by_packet = Replayer::<Vec<u8>>::new(small_book(), None).unwrap();
    let mut filter = protocol::filter::Filter::<1>::new();
    filter.subscribe(FEED_GROUP).unwrap();
    for r in feedgen::pcap::PcapReader::new(&doubled).unwrap() {
        by_packet.on_packet(filter.classify(r.unwrap().frame).unwrap().payload);
    }
    let p = by_packet.counters();
    assert_eq!(
        (p.messages, p.gap_messages, p.duplicate_messages),
        (c.messages, c.gap_messages, c.duplicate_messages)
    );
    assert_eq!(by_packet.book().counters(), replayer.book().counters());
}

#[test]
fn prefetched_replay_gives_the_same_results() {
    let config = Config {
        seed: 8,
        symbols: 200,
        messages: 60_000,
        peak_live: 8_000,
        ..Default::default()
    };
    let mut generator = Generator::new(config).unwrap();
    let mut nasdaq = Vec::new();
    write_day::<_, Vec<u8>>(&mut generator, Some(&mut nasdaq), None, |_| {}).unwrap();
    // A torn last message must be counted the same way on both paths.
    nasdaq.truncate(nasdaq.len() - 3);
    let capacity = BookConfig {
        max_orders: 1 << 15,
        max_levels: 1 << 15,
    };
    let mut plain = Replayer::new(capacity, Some(Vec::new())).unwrap();
    plain.replay_nasdaq(&nasdaq);
    let plain = plain.finish().unwrap();
    assert_eq!(plain.counters.truncated_tail, 1);
    for distance in [1, 4, 16, 100] {
        let mut fast = Replayer::new(capacity, Some(Vec::new())).unwrap();
        fast.replay_nasdaq_prefetched(&nasdaq, distance);
        let fast = fast.finish().unwrap();
        assert_eq!(fast.counters.messages, plain.counters.messages);
        assert_eq!(fast.counters.per_type, plain.counters.per_type);
        assert_eq!(fast.counters.truncated_tail, 1);
        assert_eq!(fast.book.counters(), plain.book.counters());
        assert_eq!(fast.bbo_out, plain.bbo_out, "distance {distance}");
    }
}

mod garbage {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Arbitrary bytes as a NASDAQ file, a MoldUDP64 payload or a pcap
        /// body: never a panic, and the prefetched path agrees with the plain
        /// one.
        #[test]
        fn replay_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            let capacity = BookConfig { max_orders: 256, max_levels: 256 };
            let mut plain = Replayer::new(capacity, Some(Vec::new())).unwrap();
            plain.replay_nasdaq(&data);
            plain.on_packet(&data);
            let mut pcap = Vec::new();
            feedgen::pcap::write_global_header(&mut pcap).unwrap();
            pcap.extend_from_slice(&data);
            plain.replay_pcap(&pcap, FEED_GROUP).unwrap();
            let mut piped = Replayer::<Vec<u8>>::new(capacity, None).unwrap();
            piped.replay_pcap_prefetched(&pcap, FEED_GROUP, 3).unwrap();
            let mut unpiped = Replayer::<Vec<u8>>::new(capacity, None).unwrap();
            unpiped.replay_pcap(&pcap, FEED_GROUP).unwrap();
            prop_assert_eq!(piped.counters().messages, unpiped.counters().messages);
            prop_assert_eq!(piped.counters().frames, unpiped.counters().frames);
            let mut fast = Replayer::new(capacity, Some(Vec::new())).unwrap();
            fast.replay_nasdaq_prefetched(&data, 2);
            let mut first = Replayer::new(capacity, Some(Vec::new())).unwrap();
            first.replay_nasdaq(&data);
            let (fast, first) = (fast.finish().unwrap(), first.finish().unwrap());
            prop_assert_eq!(fast.counters.messages, first.counters.messages);
            prop_assert_eq!(fast.bbo_out, first.bbo_out);
            prop_assert_eq!(fast.book.counters(), first.book.counters());
        }
    }

    fn generated_day() -> &'static [u8] {
        static DAY: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        DAY.get_or_init(|| {
            let config = Config {
                seed: 2,
                symbols: 20,
                messages: 3_000,
                peak_live: 300,
                ..Default::default()
            };
            let mut generator = Generator::new(config).unwrap();
            let mut out = Vec::new();
            write_day::<_, Vec<u8>>(&mut generator, Some(&mut out), None, |_| {}).unwrap();
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// A real day with a few bytes garbled (lengths, types, references,
        /// prices, sides): counted as malformed or as book anomalies, never a
        /// panic.
        #[test]
        fn garbled_day_never_panics(
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..20)
        ) {
            let mut day = generated_day().to_vec();
            for (at, byte) in flips {
                let i = at.index(day.len());
                day[i] = byte;
            }
            let capacity = BookConfig { max_orders: 1 << 12, max_levels: 1 << 12 };
            let mut r = Replayer::new(capacity, Some(Vec::new())).unwrap();
            r.replay_nasdaq_prefetched(&day, 4);
            let done = r.finish().unwrap();
            prop_assert!(done.counters.messages > 0);
        }
    }
}
