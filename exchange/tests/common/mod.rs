//! What the venue's integration tests share: a venue on the lab's feed
//! lines, open for trading.

use exchange::feed::{FeedConfig, Publisher};
use exchange::flow::FlowConfig;
use exchange::venue::Venue;
use protocol::filter::Subscription;
use protocol::{ethernet, ipv4};
use types::Price;

/// The feed's line A.
pub const LINE_A: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 1]),
    port: 26400,
};
/// The feed's line B.
pub const LINE_B: Subscription = Subscription {
    group: ipv4::Address([233, 54, 12, 2]),
    port: 26401,
};

/// A venue listing `listings` (symbol, first price) on a one-cent grid,
/// its feed session `session`, its background flow from `seed`; open.
pub fn venue(session: &[u8; 10], listings: &[(&str, Price)], seed: u64) -> Venue {
    let feed = Publisher::new(FeedConfig {
        session: *session,
        src_mac: ethernet::Address([2, 0, 0, 0, 0, 9]),
        src_addr: ipv4::Address([10, 0, 2, 100]),
        src_port: 5000,
        line_a: LINE_A,
        line_b: LINE_B,
        max_payload: 1200,
    });
    let mut v = Venue::new(feed, listings, Price(100), FlowConfig::default(), seed);
    v.open();
    v
}
