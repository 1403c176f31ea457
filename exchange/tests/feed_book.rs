//! The venue's feed rebuilds the venue's book: every message the background
//! flow causes (adds, deletes, partial cancels, replaces that keep or lose
//! priority, executions) is applied to the appliance's L3 book with no
//! anomaly, and the book's depth equals the matching engine's after every
//! batch of actions.

use book::{Book, BookConfig, NullSink};
mod common;

use exchange::venue::Venue;
use protocol::itch::Message;
use types::{Price, Side};

fn venue(seed: u64) -> Venue {
    common::venue(
        b"BOOKTEST01",
        &[("AAA", Price(100_0000)), ("BBB", Price(20_0000))],
        seed,
    )
}

#[test]
fn the_feed_rebuilds_the_venue_s_book_without_anomalies() {
    for seed in [1, 21] {
        let mut venue = venue(seed);
        let mut book = Book::with_capacity(BookConfig {
            max_orders: 1 << 14,
            max_levels: 1 << 12,
        });
        let mut next = 1u64;
        let mut applied = 0u64;
        for batch in 0..200 {
            for _ in 0..100 {
                venue.step_background();
            }
            while let Some(bytes) = venue.feed.message(next) {
                let msg = Message::parse(bytes).expect("the venue publishes valid ITCH");
                if let Err(anomaly) = book.apply_itch(&msg, &mut NullSink) {
                    panic!("seed {seed} message {next} {msg:?}: {anomaly:?}");
                }
                next += 1;
                applied += 1;
            }
            for listing in venue.listings() {
                for side in [Side::Buy, Side::Sell] {
                    let ours: Vec<(Price, u64, usize)> = book
                        .levels(listing.locate, side)
                        .map(|l| (l.price, l.qty, l.orders as usize))
                        .collect();
                    let theirs = listing.engine.depth(side, usize::MAX);
                    assert_eq!(
                        ours, theirs,
                        "seed {seed} batch {batch} {} {side:?}",
                        listing.symbol
                    );
                }
            }
        }
        assert!(applied > 40_000, "{applied} messages");
    }
}
