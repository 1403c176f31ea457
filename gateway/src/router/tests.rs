extern crate std;

use super::*;
use types::Bbo;

/// A venue's book for one symbol: levels per side, best first.
#[derive(Default, Clone)]
struct Book {
    bids: std::vec::Vec<Level>,
    asks: std::vec::Vec<Level>,
}

impl Book {
    fn asks(levels: &[(i64, u64)]) -> Book {
        Book {
            bids: std::vec::Vec::new(),
            asks: levels
                .iter()
                .map(|&(p, q)| Level {
                    price: Price(p),
                    qty: q,
                    orders: 1,
                })
                .collect(),
        }
    }
    fn bids(levels: &[(i64, u64)]) -> Book {
        let b = Book::asks(levels);
        Book {
            bids: b.asks,
            asks: std::vec::Vec::new(),
        }
    }
}

impl DepthView for Book {
    fn bbo(&self, _: StockLocate) -> Bbo {
        Bbo {
            bid: self.bids.first().copied(),
            ask: self.asks.first().copied(),
        }
    }
    fn depth(&self, _: StockLocate, side: Side, out: &mut [Level]) -> usize {
        let src = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

const A: VenueId = VenueId(1);
const B: VenueId = VenueId(2);
const C: VenueId = VenueId(3);
const TEN: i64 = 100_000; // $10.0000

fn router(venues: &[(VenueId, i64, i64)]) -> Router {
    let mut r = Router::new(RouterConfig::default());
    for &(id, take, make) in venues {
        r.add_venue(VenueConfig {
            id,
            take_fee: take,
            make_fee: make,
            mass_cancel: false,
        })
        .unwrap();
        r.set_session(id, true);
    }
    r
}

fn buy(qty: u32, price: i64) -> RouteRequest {
    RouteRequest {
        locate: 1,
        side: Side::Buy,
        price: Price(price),
        qty,
        tif: TimeInForce::Day,
    }
}

fn child(venue: VenueId, qty: u32, price: i64) -> ChildOrder {
    ChildOrder {
        venue,
        qty,
        price: Price(price),
    }
}

fn route(r: &Router, req: RouteRequest, books: &[Book]) -> std::vec::Vec<ChildOrder> {
    let views: std::vec::Vec<&dyn DepthView> = books.iter().map(|b| b as &dyn DepthView).collect();
    r.route(&req, &views).expect("routed").into_iter().collect()
}

#[test]
fn down_venue_is_never_used() {
    let mut r = router(&[(A, 3_000, -2_000), (B, 3_000, -2_000)]);
    let books = [Book::asks(&[(TEN - 100, 500)]), Book::asks(&[(TEN, 500)])];
    assert_eq!(route(&r, buy(100, TEN), &books), [child(A, 100, TEN - 100)]);
    r.set_session(A, false);
    assert_eq!(route(&r, buy(100, TEN), &books), [child(B, 100, TEN)]);
    // Even the residual never goes to a down venue.
    assert_eq!(route(&r, buy(700, TEN), &books), [child(B, 700, TEN)]);
    r.set_session(B, false);
    let views: [&dyn DepthView; 2] = [&books[0], &books[1]];
    assert_eq!(r.route(&buy(1, TEN), &views), Err(RejectReason::NoVenue));
}

#[test]
fn splits_when_size_exceeds_the_best_venue() {
    let r = router(&[(A, 3_000, -2_000), (B, 3_000, -2_000)]);
    let books = [
        Book::asks(&[(TEN, 100), (TEN + 100, 1_000)]),
        Book::asks(&[(TEN, 200)]),
    ];
    // 250 at $10: A's 100 and B's 200 are both at $10; A first by id, then B.
    assert_eq!(
        route(&r, buy(250, TEN), &books),
        [child(A, 100, TEN), child(B, 150, TEN)]
    );
    // 400 up to $10.01: both $10 levels, then A's second level.
    assert_eq!(
        route(&r, buy(400, TEN + 100), &books),
        [child(A, 200, TEN + 100), child(B, 200, TEN)]
    );
}

#[test]
fn residual_rests_on_the_best_rebate_at_the_limit() {
    let r = router(&[(A, 3_000, -2_000), (B, 3_000, -3_200)]);
    let books = [Book::asks(&[(TEN, 100)]), Book::asks(&[])];
    assert_eq!(
        route(&r, buy(300, TEN), &books),
        [child(A, 100, TEN), child(B, 200, TEN)]
    );
    let ioc = RouteRequest {
        tif: TimeInForce::ImmediateOrCancel,
        ..buy(300, TEN)
    };
    assert_eq!(route(&r, ioc, &books), [child(A, 100, TEN)]);
    let post = RouteRequest {
        tif: TimeInForce::PostOnly,
        ..buy(300, TEN - 100)
    };
    assert_eq!(route(&r, post, &books), [child(B, 300, TEN - 100)]);
}

#[test]
fn post_only_rests_where_it_would_not_cross() {
    let r = router(&[(A, 3_000, -2_000), (B, 3_000, -3_200)]);
    let post = |price| RouteRequest {
        tif: TimeInForce::PostOnly,
        ..buy(100, price)
    };
    // B pays more, but its ask is already at our bid: it would cross there.
    let books = [Book::asks(&[(TEN + 100, 100)]), Book::asks(&[(TEN, 100)])];
    assert_eq!(route(&r, post(TEN), &books), [child(A, 100, TEN)]);
    // Below both asks: the better rebate again.
    assert_eq!(
        route(&r, post(TEN - 100), &books),
        [child(B, 100, TEN - 100)]
    );
    // Through both: no venue would rest it; the best rebate is asked.
    assert_eq!(
        route(&r, post(TEN + 100), &books),
        [child(B, 100, TEN + 100)]
    );
}

#[test]
fn fees_decide_between_equal_prices_and_can_beat_a_better_price() {
    let r = router(&[(A, 3_000, 0), (B, 1_000, 0)]);
    let same = [Book::asks(&[(TEN, 500)]), Book::asks(&[(TEN, 500)])];
    assert_eq!(route(&r, buy(100, TEN), &same), [child(B, 100, TEN)]);
    // A is one tick of price4 (100 micro) cheaper but 2,000 micro dearer in fees.
    let books = [Book::asks(&[(TEN - 1, 500)]), Book::asks(&[(TEN, 500)])];
    assert_eq!(route(&r, buy(100, TEN), &books), [child(B, 100, TEN)]);
    // A cent cheaper (10,000 micro) beats the fee difference.
    let books = [Book::asks(&[(TEN - 100, 500)]), Book::asks(&[(TEN, 500)])];
    assert_eq!(route(&r, buy(100, TEN), &books), [child(A, 100, TEN - 100)]);
}

#[test]
fn sells_take_the_highest_bid_net_of_fees() {
    let r = router(&[(A, 3_000, 0), (B, 1_000, 0)]);
    let books = [Book::bids(&[(TEN + 1, 50)]), Book::bids(&[(TEN, 500)])];
    let sell = RouteRequest {
        side: Side::Sell,
        ..buy(100, TEN)
    };
    // A pays 100 micro more but charges 2,000 more: B first, A never needed.
    assert_eq!(route(&r, sell, &books), [child(B, 100, TEN)]);
    let sell = RouteRequest {
        side: Side::Sell,
        ..buy(600, TEN)
    };
    // B's 500, A's 50 at $10.0001, and the last 50 rest at the limit on A
    // (make fees tie, A has the lower id), merged into A's child at $10.
    assert_eq!(
        route(&r, sell, &books),
        [child(B, 500, TEN), child(A, 100, TEN)]
    );
}

#[test]
fn latency_and_rejects_count_as_cost_and_health() {
    let mut r = router(&[(A, 3_000, 0), (B, 3_000, 0)]);
    let books = [Book::asks(&[(TEN, 500)]), Book::asks(&[(TEN, 500)])];
    r.on_latency_sample(A, 500_000, Nanos(0)); // 500 µs × 10 = 5,000 micro
    assert_eq!(route(&r, buy(100, TEN), &books), [child(B, 100, TEN)]);
    r.on_latency_sample(B, 800_000, Nanos(0));
    assert_eq!(route(&r, buy(100, TEN), &books), [child(A, 100, TEN)]);
    // B's latency EWMA falls toward fast samples.
    for _ in 0..64 {
        r.on_latency_sample(B, 1_000, Nanos(0));
    }
    assert!(r.venue(B).unwrap().latency_ns < 10_000);
    assert_eq!(route(&r, buy(100, TEN), &books), [child(B, 100, TEN)]);
    // A string of rejects makes B unhealthy: skipped entirely.
    for _ in 0..16 {
        r.on_order_result(B, true);
    }
    assert!(r.venue(B).unwrap().reject_ppm > RouterConfig::default().max_reject_ppm);
    assert_eq!(route(&r, buy(100, TEN), &books), [child(A, 100, TEN)]);
    for _ in 0..200 {
        r.on_order_result(B, false);
    }
    assert_eq!(route(&r, buy(100, TEN), &books), [child(B, 100, TEN)]);
}

#[test]
fn ties_break_deterministically_by_venue_id() {
    let books = [
        Book::asks(&[(TEN, 100)]),
        Book::asks(&[(TEN, 100)]),
        Book::asks(&[(TEN, 100)]),
    ];
    let r1 = router(&[(C, 0, 0), (A, 0, 0), (B, 0, 0)]);
    let first = route(&r1, buy(150, TEN), &books);
    assert_eq!(first, [child(A, 100, TEN), child(B, 50, TEN)]);
    for _ in 0..10 {
        assert_eq!(route(&r1, buy(150, TEN), &books), first);
    }
    // Registration order does not matter.
    let r2 = router(&[(B, 0, 0), (A, 0, 0), (C, 0, 0)]);
    assert_eq!(route(&r2, buy(150, TEN), &books), first);
    // Residual ties also go to the lowest id.
    assert_eq!(
        route(&r1, buy(400, TEN), &books),
        [child(A, 200, TEN), child(B, 100, TEN), child(C, 100, TEN)]
    );
}

#[test]
fn never_beyond_the_limit_and_bad_requests() {
    let r = router(&[(A, 0, 0)]);
    let books = [Book::asks(&[(TEN + 1, 1_000)])];
    assert_eq!(route(&r, buy(100, TEN), &books), [child(A, 100, TEN)]);
    let views: [&dyn DepthView; 1] = [&books[0]];
    assert_eq!(
        r.route(&buy(0, TEN), &views),
        Err(RejectReason::InvalidOrder)
    );
    assert_eq!(r.route(&buy(1, 0), &views), Err(RejectReason::InvalidOrder));
    // No book at all: everything rests.
    assert_eq!(
        r.route(&buy(5, TEN), &[]).unwrap().as_slice(),
        [child(A, 5, TEN)]
    );
}

/// `route_into` replaces what the caller's children held, on one venue
/// and across several, and leaves them empty when it refuses.
#[test]
fn route_into_replaces_the_callers_children() {
    let stale = child(C, 9, 1);
    for venues in [&[(A, 0, 0)][..], &[(A, 0, 0), (B, 0, 0)][..]] {
        let r = router(venues);
        let books = [Book::asks(&[(TEN, 60)]), Book::asks(&[(TEN, 60)])];
        let views: [&dyn DepthView; 2] = [&books[0], &books[1]];
        let mut children = Children::new();
        children.push(stale).unwrap();
        r.route_into(&buy(100, TEN), &views, &mut children)
            .expect("routed");
        assert_eq!(Ok(children.clone()), r.route(&buy(100, TEN), &views));
        assert!(!children.contains(&stale), "{children:?}");
        children.push(stale).unwrap();
        assert_eq!(
            r.route_into(&buy(0, TEN), &views, &mut children),
            Err(RejectReason::InvalidOrder)
        );
        assert!(children.is_empty(), "nothing left from before a refusal");
    }
}

#[test]
fn venue_registration_limits() {
    let mut r = router(&[(A, 0, 0)]);
    assert_eq!(
        r.add_venue(VenueConfig {
            id: A,
            take_fee: 0,
            make_fee: 0,
            mass_cancel: false,
        }),
        Err(RouterError::DuplicateVenue)
    );
    for i in 10..(10 + MAX_VENUES as u8 - 1) {
        r.add_venue(VenueConfig {
            id: VenueId(i),
            take_fee: 0,
            make_fee: 0,
            mass_cancel: false,
        })
        .unwrap();
    }
    assert_eq!(
        r.add_venue(VenueConfig {
            id: VenueId(99),
            take_fee: 0,
            make_fee: 0,
            mass_cancel: false,
        }),
        Err(RouterError::TooManyVenues)
    );
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    fn tif() -> impl Strategy<Value = TimeInForce> {
        prop_oneof![
            Just(TimeInForce::Day),
            Just(TimeInForce::ImmediateOrCancel),
            Just(TimeInForce::PostOnly),
        ]
    }

    proptest! {
        /// With one venue usable, the direct answer is the general one's:
        /// the same children for any book, side, limit, size and TIF.
        #[test]
        fn one_usable_venue_routes_as_the_general_path_would(
            levels in proptest::collection::vec((TEN - 500..TEN + 500, 0u64..400), 0..12),
            up in 0usize..3,
            qty in 1u32..5_000,
            limit in TEN - 300..TEN + 300,
            sell in any::<bool>(),
            tif in tif(),
        ) {
            let mut r = Router::new(RouterConfig::default());
            for i in 0..3u8 {
                r.add_venue(VenueConfig { id: VenueId(i), take_fee: 3_000, make_fee: -2_000, mass_cancel: false }).unwrap();
                r.set_session(VenueId(i), usize::from(i) == up);
            }
            let mut sorted = levels.clone();
            sorted.sort_by_key(|x| if sell { -x.0 } else { x.0 });
            let book = if sell { Book::bids(&sorted) } else { Book::asks(&sorted) };
            let books = [book.clone(), book.clone(), book];
            let views: std::vec::Vec<&dyn DepthView> = books.iter().map(|b| b as &dyn DepthView).collect();
            let req = RouteRequest { locate: 1, side: if sell { Side::Sell } else { Side::Buy }, price: Price(limit), qty, tif };
            let mut across = Children::new();
            r.route_across(&req, &views, &mut across);
            prop_assert_eq!(r.route(&req, &views), Ok(across));
        }

        #[test]
        fn children_cover_the_order_within_limit_on_up_venues(
            levels in proptest::collection::vec(proptest::collection::vec((TEN - 500..TEN + 500, 0u64..400), 0..10), 3),
            up in proptest::collection::vec(any::<bool>(), 3),
            fees in proptest::collection::vec((-3_000i64..3_000, -3_000i64..3_000), 3),
            qty in 1u32..5_000,
            limit in TEN - 300..TEN + 300,
            sell in any::<bool>(),
        ) {
            let (r, books) = three_venues(&levels, &up, &fees, sell);
            let views: std::vec::Vec<&dyn DepthView> = books.iter().map(|b| b as &dyn DepthView).collect();
            let req = RouteRequest { locate: 1, side: if sell { Side::Sell } else { Side::Buy }, price: Price(limit), qty, tif: TimeInForce::Day };
            match r.route(&req, &views) {
                Ok(children) => {
                    prop_assert_eq!(children.iter().map(|c| c.qty as u64).sum::<u64>(), qty as u64);
                    for c in &children {
                        prop_assert!(up[c.venue.0 as usize], "routed to a down venue");
                        prop_assert!(c.qty > 0);
                        match req.side {
                            Side::Buy => prop_assert!(c.price <= req.price),
                            Side::Sell => prop_assert!(c.price >= req.price),
                        }
                    }
                    prop_assert_eq!(r.route(&req, &views).unwrap(), children, "deterministic");
                }
                Err(e) => {
                    prop_assert_eq!(e, RejectReason::NoVenue);
                    prop_assert!(up.iter().all(|u| !u));
                }
            }
        }

        /// Whatever the venues' fees, sessions, latencies and reject
        /// rates, both sides' books, the order's side, limit, size and
        /// TIF: the router's children are the plain rules' (its shortcuts
        /// for one venue, for an order that will rest and for post-only
        /// orders change nothing). Displayed levels have shares, as a
        /// real book's do.
        #[test]
        fn every_order_routes_as_the_plain_rules_say(
            taking in proptest::collection::vec(proptest::collection::vec((TEN - 500..TEN + 500, 1u64..400), 0..10), 3),
            resting in proptest::collection::vec(proptest::collection::vec((TEN - 500..TEN + 500, 1u64..400), 0..4), 3),
            up in proptest::collection::vec(any::<bool>(), 3),
            fees in proptest::collection::vec((-3i64..3, -3i64..3), 3),
            latencies in proptest::collection::vec(0u64..3, 3),
            rejects in proptest::collection::vec(0u32..12, 3),
            qty in 1u32..5_000,
            limit in TEN - 300..TEN + 300,
            sell in any::<bool>(),
            tif in tif(),
        ) {
            // Fees of a few steps of 1,000, latencies of a few µs and a
            // handful of rejects: ties and near ties between venues.
            let fees: std::vec::Vec<(i64, i64)> = fees.iter().map(|&(t, m)| (t * 1_000, m * 1_000)).collect();
            let (mut r, mut books) = three_venues(&taking, &up, &fees, sell);
            for (i, (&l, &n)) in latencies.iter().zip(&rejects).enumerate() {
                let id = VenueId(i as u8);
                if l > 0 {
                    r.on_latency_sample(id, l * 1_000, Nanos(1));
                }
                for k in 0..n {
                    r.on_order_result(id, k % 2 == 0);
                }
            }
            // The side an order of the other direction would take: what a
            // post-only order must not cross.
            for (book, levels) in books.iter_mut().zip(&resting) {
                let mut l = levels.clone();
                l.sort_by_key(|x| if sell { x.0 } else { -x.0 });
                let other = if sell { Book::asks(&l) } else { Book::bids(&l) };
                if sell {
                    book.asks = other.asks;
                } else {
                    book.bids = other.bids;
                }
            }
            let views: std::vec::Vec<&dyn DepthView> = books.iter().map(|b| b as &dyn DepthView).collect();
            let req = RouteRequest { locate: 1, side: if sell { Side::Sell } else { Side::Buy }, price: Price(limit), qty, tif };
            let routed = r.route(&req, &views).map(|c| c.into_iter().collect::<std::vec::Vec<_>>());
            prop_assert_eq!(routed, plain_route(&r, &req, &views));
        }

        #[test]
        fn an_ioc_order_goes_somewhere_whenever_a_venue_is_up(
            levels in proptest::collection::vec(proptest::collection::vec((TEN - 500..TEN + 500, 0u64..400), 0..10), 3),
            up in proptest::collection::vec(any::<bool>(), 3),
            fees in proptest::collection::vec((-3_000i64..3_000, -3_000i64..3_000), 3),
            qty in 1u32..5_000,
            limit in TEN - 300..TEN + 300,
            sell in any::<bool>(),
        ) {
            let (r, books) = three_venues(&levels, &up, &fees, sell);
            let views: std::vec::Vec<&dyn DepthView> = books.iter().map(|b| b as &dyn DepthView).collect();
            let side = if sell { Side::Sell } else { Side::Buy };
            let req = RouteRequest { locate: 1, side, price: Price(limit), qty, tif: TimeInForce::ImmediateOrCancel };
            match r.route(&req, &views) {
                Ok(children) => {
                    prop_assert!(!children.is_empty(), "a venue is up: the order goes somewhere");
                    let routed: u64 = children.iter().map(|c| c.qty as u64).sum();
                    prop_assert!(routed <= qty as u64);
                    for c in &children {
                        prop_assert!(up[c.venue.0 as usize], "routed to a down venue");
                        prop_assert!(c.qty > 0);
                        prop_assert!(!side.is_better(c.price, req.price), "beyond the limit");
                    }
                }
                Err(e) => {
                    prop_assert_eq!(e, RejectReason::NoVenue);
                    prop_assert!(up.iter().all(|u| !u));
                }
            }
        }
    }
}

/// The module's rules written plainly, for the property test below: every
/// usable venue's displayed levels at or inside the limit ranked by all-in
/// cost (then latency, venue id, better price), taken until the order is
/// covered; the rest, unless IOC, posted at the limit on the cheapest
/// venue to make on (post-only: where it would not cross, when some venue
/// allows); an IOC order that took nothing goes whole to the cheapest
/// venue to take on. No shortcut of the router's: all levels are read.
fn plain_route(
    r: &Router,
    req: &RouteRequest,
    books: &[&dyn DepthView],
) -> Result<std::vec::Vec<ChildOrder>, RejectReason> {
    if req.qty == 0 || req.price.0 <= 0 {
        return Err(RejectReason::InvalidOrder);
    }
    let usable: std::vec::Vec<(usize, &VenueState)> = r
        .venues()
        .iter()
        .enumerate()
        .filter(|(_, v)| v.session_up && v.reject_ppm <= r.config.max_reject_ppm)
        .collect();
    if usable.is_empty() {
        return Err(RejectReason::NoVenue);
    }
    let penalty = |v: &VenueState| Router::penalty_of(&r.config, v);
    let mut children = Children::new();
    let mut remaining = req.qty as u64;
    if req.tif != TimeInForce::PostOnly {
        let mut cands = std::vec::Vec::new();
        for &(slot, v) in &usable {
            let Some(book) = books.get(slot) else {
                continue;
            };
            let mut levels = [Level::default(); 64];
            let n = book.depth(req.locate, req.side.opposite(), &mut levels);
            for level in levels.iter().take(n.min(DEPTH_LEVELS)) {
                let inside = match req.side {
                    Side::Buy => level.price <= req.price,
                    Side::Sell => level.price >= req.price,
                };
                if !inside || level.qty == 0 || level.price.0 <= 0 {
                    continue;
                }
                let px = level.price.0 as i128 * 100;
                let signed = if req.side == Side::Buy { px } else { -px };
                let cost = signed + v.config.take_fee as i128 + penalty(v);
                let better_first = if req.side == Side::Buy {
                    level.price.0
                } else {
                    -level.price.0
                };
                cands.push((
                    (cost, v.latency_ns, v.config.id, better_first),
                    level.price,
                    level.qty,
                ));
            }
        }
        cands.sort_by_key(|c| c.0);
        for (key, price, qty) in cands {
            let take = remaining.min(qty);
            if take == 0 {
                break;
            }
            remaining -= take;
            add_child(&mut children, key.2, take, price, req.side);
        }
    }
    let cheapest = |fee: fn(&VenueConfig) -> i64, venues: &[&(usize, &VenueState)]| {
        venues
            .iter()
            .min_by_key(|(_, v)| {
                (
                    fee(&v.config) as i128 + penalty(v),
                    v.latency_ns,
                    v.config.id,
                )
            })
            .map(|(_, v)| v.config.id)
    };
    let all: std::vec::Vec<&(usize, &VenueState)> = usable.iter().collect();
    if remaining > 0 && req.tif != TimeInForce::ImmediateOrCancel {
        let rests: std::vec::Vec<&(usize, &VenueState)> = usable
            .iter()
            .filter(|(slot, _)| {
                req.tif != TimeInForce::PostOnly
                    || books.get(*slot).is_none_or(|b| {
                        let bbo = b.bbo(req.locate);
                        match req.side {
                            Side::Buy => bbo.ask.is_none_or(|l| l.price > req.price),
                            Side::Sell => bbo.bid.is_none_or(|l| l.price < req.price),
                        }
                    })
            })
            .collect();
        let venue = cheapest(|c| c.make_fee, &rests).or(cheapest(|c| c.make_fee, &all));
        if let Some(venue) = venue {
            add_child(&mut children, venue, remaining, req.price, req.side);
        }
    } else if children.is_empty() {
        if let Some(venue) = cheapest(|c| c.take_fee, &all) {
            add_child(&mut children, venue, remaining, req.price, req.side);
        }
    }
    Ok(children.into_iter().collect())
}

/// Three venues (id = index) with these fees and sessions, each showing
/// its `levels` on the side a buy (or, `sell`, a sell) takes, best first.
fn three_venues(
    levels: &[std::vec::Vec<(i64, u64)>],
    up: &[bool],
    fees: &[(i64, i64)],
    sell: bool,
) -> (Router, std::vec::Vec<Book>) {
    let mut r = Router::new(RouterConfig::default());
    for (i, (&(take_fee, make_fee), &up)) in fees.iter().zip(up).enumerate() {
        let id = VenueId(i as u8);
        r.add_venue(VenueConfig {
            id,
            take_fee,
            make_fee,
            mass_cancel: false,
        })
        .unwrap();
        r.set_session(id, up);
    }
    let books = levels
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.sort_by_key(|x| if sell { -x.0 } else { x.0 });
            if sell {
                Book::bids(&l)
            } else {
                Book::asks(&l)
            }
        })
        .collect();
    (r, books)
}

/// A venue shut out for its reject rate gets no orders, so no new results:
/// the rate ages on the timer and the venue is tried again within seconds
/// (and shut out again at once if it still refuses); a reconnected session
/// starts clean.
#[test]
fn a_venue_shut_out_for_rejects_is_tried_again() {
    let mut r = Router::new(RouterConfig::default());
    for v in [A, B] {
        r.add_venue(VenueConfig {
            id: v,
            take_fee: 0,
            make_fee: 0,
            mass_cancel: false,
        })
        .unwrap();
        r.set_session(v, true);
    }
    for _ in 0..10 {
        r.on_order_result(B, true);
    }
    let shut = r.venue(B).unwrap().reject_ppm;
    assert!(shut > RouterConfig::default().max_reject_ppm);
    r.on_timer(Nanos(0));
    let mut t = 0;
    while r.venue(B).unwrap().reject_ppm > RouterConfig::default().max_reject_ppm {
        t += 1_000_000_000;
        r.on_timer(Nanos(t));
        assert!(t < 60_000_000_000, "still shut out after a minute");
    }
    assert!(t <= 20_000_000_000, "tried again within 20 s, not {t} ns");
    // Still refusing: shut out at once.
    for _ in 0..3 {
        r.on_order_result(B, true);
    }
    assert!(r.venue(B).unwrap().reject_ppm > RouterConfig::default().max_reject_ppm);
    // A reconnect starts clean.
    r.set_session(B, false);
    r.set_session(B, true);
    assert_eq!(r.venue(B).unwrap().reject_ppm, 0);
    r.set_session(B, true);
    r.on_order_result(B, true);
    assert!(
        r.venue(B).unwrap().reject_ppm > 0,
        "only a reconnect cleans it"
    );
}

/// One slow acknowledgement does not price a venue out for the day: an
/// estimate without samples for 10 s eases; a fresh one does not.
#[test]
fn a_stale_latency_estimate_eases() {
    let mut r = Router::new(RouterConfig::default());
    r.add_venue(VenueConfig {
        id: A,
        take_fee: 0,
        make_fee: 0,
        mass_cancel: false,
    })
    .unwrap();
    r.on_latency_sample(A, 50_000_000, Nanos(0)); // 50 ms, once
    r.on_timer(Nanos(5_000_000_000));
    assert_eq!(
        r.venue(A).unwrap().latency_ns,
        50_000_000,
        "fresh: unchanged"
    );
    let mut t = 5_000_000_000;
    while r.venue(A).unwrap().latency_ns > 100_000 {
        t += 1_000_000_000;
        r.on_timer(Nanos(t));
        assert!(t < 120_000_000_000, "never eased");
    }
}

/// A book that counts how often its depth is read.
struct Counting<'a> {
    book: &'a Book,
    depth_reads: core::cell::Cell<u32>,
}

impl DepthView for Counting<'_> {
    fn bbo(&self, locate: StockLocate) -> Bbo {
        self.book.bbo(locate)
    }
    fn depth(&self, locate: StockLocate, side: Side, out: &mut [Level]) -> usize {
        self.depth_reads.set(self.depth_reads.get() + 1);
        self.book.depth(locate, side, out)
    }
}

#[test]
fn an_order_that_will_rest_is_routed_from_the_best_alone() {
    let asks = [
        Book::asks(&[(TEN, 100), (TEN + 100, 1_000)]),
        Book::asks(&[(TEN + 100, 200)]),
    ];
    let counting = |b| Counting {
        book: b,
        depth_reads: core::cell::Cell::new(0),
    };
    let reads = |views: &[Counting<'_>]| views.iter().map(|v| v.depth_reads.get()).sum::<u32>();
    for venues in [
        &[(A, 3_000, -2_000)][..],
        &[(A, 3_000, -2_000), (B, 3_000, -1_000)],
    ] {
        let r = router(venues);
        let views = [counting(&asks[0]), counting(&asks[1])];
        let dyns: [&dyn DepthView; 2] = [&views[0], &views[1]];
        // Below every ask: rests at the limit, no level below a best read.
        let children = r.route(&buy(300, TEN - 100), &dyns).expect("routed");
        assert_eq!(children.as_slice(), [child(A, 300, TEN - 100)]);
        assert_eq!(reads(&views), 0, "{} venue(s)", venues.len());
        // At A's best: takes there, from the depth of the venues it can take at.
        let children = r.route(&buy(300, TEN), &dyns).expect("routed");
        assert_eq!(
            children.as_slice(),
            [child(A, 300, TEN)],
            "100 taken, 200 rest on the better rebate"
        );
        assert_eq!(reads(&views), 1, "{} venue(s)", venues.len());
    }
}

/// An IOC order with nothing displayed to take is not dropped: it goes
/// whole at its limit to the venue where taking costs least, which
/// decides (its book may hold what ours does not show yet, or hidden
/// liquidity). One some displayed liquidity covers takes just that.
#[test]
fn an_ioc_order_with_nothing_displayed_to_take_goes_where_taking_costs_least() {
    let ioc = |qty, price| RouteRequest {
        tif: TimeInForce::ImmediateOrCancel,
        ..buy(qty, price)
    };
    let asks = [
        Book::asks(&[(TEN + 100, 100)]),
        Book::asks(&[(TEN + 200, 500)]),
    ];
    // B takes for less: the order goes there, whole, at its limit.
    let mut r = router(&[(A, 3_000, -2_000), (B, 2_500, -1_000)]);
    assert_eq!(route(&r, ioc(300, TEN), &asks), [child(B, 300, TEN)]);
    assert_eq!(route(&r, ioc(300, TEN), &[]), [child(B, 300, TEN)]);
    // Only A up: there (the single-venue path).
    r.set_session(B, false);
    assert_eq!(route(&r, ioc(300, TEN), &asks), [child(A, 300, TEN)]);
    // Equal fees: the lower latency estimate, then the lower id.
    let r = router(&[(A, 3_000, -2_000), (B, 3_000, -2_000)]);
    assert_eq!(route(&r, ioc(300, TEN), &asks), [child(A, 300, TEN)]);
    // Displayed liquidity within the limit: that is taken, nothing more.
    assert_eq!(
        route(&r, ioc(300, TEN + 100), &asks),
        [child(A, 100, TEN + 100)]
    );
    // Every venue down: refused as before.
    let mut r = router(&[(A, 3_000, -2_000)]);
    r.set_session(A, false);
    let views: [&dyn DepthView; 1] = [&asks[0]];
    assert_eq!(r.route(&ioc(300, TEN), &views), Err(RejectReason::NoVenue));
}
