//! What the venue's integration tests share: a venue on the lab's feed,
//! open for trading.

use exchange::venue::Venue;
use types::Price;

/// A venue listing `listings` (symbol, first price) on a one-cent grid,
/// its feed session `session`, its background flow from `seed`; open.
pub fn venue(session: &[u8; 10], listings: &[(&str, Price)], seed: u64) -> Venue {
    Venue::on_lab_feed(*session, listings, seed)
}
