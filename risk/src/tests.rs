//! Table tests for every check (at, just under and just over each limit),
//! event bookkeeping and the kill switch end to end.

extern crate std;

use super::*;
use std::collections::BTreeMap;
use std::vec::Vec;
use types::{Symbol, TimeInForce};

/// $100.0000
const REF: i64 = 1_000_000;
const SMALL: Capacity = Capacity {
    symbols: 16,
    orders: 64,
    duplicate_slots: 64,
};

struct H {
    e: RiskEngine,
    next_id: u64,
    now: u64,
    /// How risk holds each order it accepted, by id.
    held: BTreeMap<u64, OrderRef>,
}

fn new_intent(strategy: u16, locate: u16, side: Side, price: i64, qty: u32) -> OrderIntent {
    OrderIntent::New {
        strategy: StrategyId(strategy),
        locate,
        symbol: Symbol::new("TEST").unwrap_or_default(),
        side,
        price: Price(price),
        qty,
        tif: TimeInForce::Day,
    }
}

impl H {
    fn new(limits: Limits) -> H {
        H {
            e: RiskEngine::new(SMALL, limits).expect("valid limits"),
            next_id: 1,
            now: 1_000_000,
            held: BTreeMap::new(),
        }
    }

    fn with(f: impl FnOnce(&mut Limits)) -> H {
        let mut l = Limits::unlimited();
        f(&mut l);
        H::new(l)
    }

    /// Submits a new order; returns how risk holds it on acceptance.
    #[allow(clippy::too_many_arguments)]
    fn try_new_full(
        &mut self,
        strategy: u16,
        locate: u16,
        side: Side,
        price: i64,
        qty: u32,
        venue: u8,
        reference: Option<i64>,
    ) -> Result<OrderRef, RejectReason> {
        let id = OrderId(self.next_id);
        self.next_id += 1;
        let ctx = CheckContext {
            order: id,
            held: None,
            venue: VenueId(venue),
            reference: reference.map(Price),
        };
        self.e
            .check(
                &new_intent(strategy, locate, side, price, qty),
                &ctx,
                Nanos(self.now),
            )
            .map(|slot| {
                let order = OrderRef::new(id, slot);
                self.held.insert(id.0, order);
                order
            })
    }

    /// Order `id` as risk holds it (as it was never held, if risk did
    /// not accept it).
    fn order(&self, id: u64) -> OrderRef {
        self.held
            .get(&id)
            .copied()
            .unwrap_or(OrderRef::unheld(OrderId(id)))
    }

    fn try_new(&mut self, side: Side, price: i64, qty: u32) -> Result<OrderRef, RejectReason> {
        self.try_new_full(0, 1, side, price, qty, 0, Some(REF))
    }

    fn buy(&mut self, qty: u32) -> OrderRef {
        self.try_new(Side::Buy, REF, qty)
            .expect("setup order accepted")
    }

    fn cancel(&mut self, order: OrderRef) -> Result<(), RejectReason> {
        let ctx = CheckContext {
            order: order.id,
            held: Some(order.slot),
            venue: VenueId(0),
            reference: None,
        };
        self.e
            .check(
                &OrderIntent::Cancel {
                    strategy: StrategyId(0),
                    order: order.id,
                },
                &ctx,
                Nanos(self.now),
            )
            .map(|slot| assert_eq!(slot, order.slot, "a cancel answers the order's slot"))
    }

    fn replace(&mut self, order: OrderRef, price: i64, qty: u32) -> Result<(), RejectReason> {
        let ctx = CheckContext {
            order: order.id,
            held: Some(order.slot),
            venue: VenueId(0),
            reference: Some(Price(REF)),
        };
        self.e
            .check(
                &OrderIntent::Replace {
                    strategy: StrategyId(0),
                    order: order.id,
                    price: Price(price),
                    qty,
                },
                &ctx,
                Nanos(self.now),
            )
            .map(|slot| assert_eq!(slot, order.slot, "a replace answers the order's slot"))
    }

    fn fill(&mut self, order: OrderRef, side: Side, qty: u32, price: i64) {
        self.e.on_fill(&Fill {
            order,
            locate: 1,
            side,
            qty,
            price: Price(price),
        });
    }
}

/// Runs `cases` of (label, side, price, qty, expected) against a fresh
/// engine built by `make` each time, so cases do not influence each other.
/// (label, side, price, qty, expected)
type Case<'a> = (&'a str, Side, i64, u32, Result<(), RejectReason>);

fn table(make: impl Fn() -> H, cases: &[Case]) {
    for (label, side, price, qty, expected) in cases {
        let mut h = make();
        let got = h.try_new(*side, *price, *qty).map(|_| ());
        assert_eq!(got, *expected, "case {label}");
        if let Err(r) = expected {
            assert_eq!(h.e.reject_count(*r), 1, "case {label} counted");
        }
    }
}

use RejectReason as R;
use Side::{Buy, Sell};

#[test]
fn the_example_limits_are_valid_and_each_of_their_checks_refuses() {
    // Room for the throttle's 256 orders in the duplicate window.
    let capacity = Capacity {
        symbols: 16,
        orders: 512,
        duplicate_slots: 2048,
    };
    let mut h = H {
        e: RiskEngine::new(capacity, Limits::example()).expect("valid limits"),
        next_id: 1,
        now: 1_000_000,
        held: BTreeMap::new(),
    };
    // 100 shares at $100, inside every limit.
    let first = h.try_new(Buy, REF, 100);
    assert!(first.is_ok(), "{first:?}");
    let cases: [(i64, u32, R); 4] = [
        (REF, 10_001, R::MaxOrderQty),
        // 5 % above the reference: inside 1,000 ticks, outside 500 bps.
        (REF + REF / 20 + 100, 100, R::PriceCollar),
        (REF - 1_000 * 100 - 100, 100, R::PriceCollar),
        // The first order again inside the duplicate window.
        (REF, 100, R::DuplicateOrder),
    ];
    for (price, qty, expected) in cases {
        assert_eq!(h.try_new(Buy, price, qty), Err(expected), "{price} × {qty}");
    }
    // 256 orders a millisecond per strategy: the 257th is throttled.
    for k in 0..255 {
        let id = h.try_new(Sell, REF + 100 + k, 1);
        assert!(id.is_ok(), "order {k}: {id:?}");
        if let Ok(id) = id {
            h.e.on_canceled(id);
        }
    }
    assert_eq!(h.try_new(Sell, REF + 10_000, 1), Err(R::OrderRateThrottle));
}

#[test]
fn max_order_qty() {
    table(
        || H::with(|l| l.default_symbol.max_order_qty = 100),
        &[
            ("under", Buy, REF, 99, Ok(())),
            ("at", Buy, REF, 100, Ok(())),
            ("over", Buy, REF, 101, Err(R::MaxOrderQty)),
        ],
    );
}

#[test]
fn max_notional() {
    // 100 shares at $100 = 1e8 price4 units.
    table(
        || H::with(|l| l.default_symbol.max_notional = 100 * REF as u64),
        &[
            ("under", Sell, REF - 1, 100, Ok(())),
            ("at", Sell, REF, 100, Ok(())),
            ("over by one tick", Sell, REF + 1, 100, Err(R::MaxNotional)),
            ("over by one share", Buy, REF, 101, Err(R::MaxNotional)),
        ],
    );
}

#[test]
fn notional_beyond_u64_is_over_every_max_notional() {
    // i64::MAX × 3 does not fit a u64: refused even with max_notional at u64::MAX,
    // while u64::MAX itself (3 × 5 × 17 × 257 × 641 × 65537 × 6700417) passes.
    let mut h = H::with(|l| l.default_symbol.max_notional = u64::MAX);
    assert_eq!(
        h.try_new_full(0, 1, Sell, i64::MAX, 3, 0, None),
        Err(R::MaxNotional)
    );
    let price = (u64::MAX / 6_700_417) as i64;
    assert_eq!(
        h.try_new_full(0, 1, Sell, price, 6_700_417, 0, None)
            .map(|_| ()),
        Ok(())
    );
    let mut h = H::with(|l| l.default_symbol.max_notional = u64::MAX);
    let id = h.try_new_full(0, 1, Sell, 1, 1, 0, None).expect("accepted");
    assert_eq!(h.replace(id, i64::MAX, 3), Err(R::MaxNotional));
}

/// The new-order path compares with 64-bit copies of the account's rooms
/// and takes accepted orders from them only; with limits far beyond 64 bits
/// (the copies clamped) the exact rooms still count every order, through
/// entries, fills and cancels.
#[test]
fn rooms_beyond_64_bits_count_every_order_exactly() {
    let mut h = H::with(|_| {});
    assert!(
        h.e.room.gross > i64::MAX as i128,
        "the copies start clamped"
    );
    let mut ids = Vec::new();
    for (i, qty) in (100u32..110).enumerate() {
        let side = if i % 2 == 0 { Buy } else { Sell };
        let price = if side == Buy { REF - 100 } else { REF + 100 };
        ids.push((
            h.try_new(side, price, qty).expect("accepted"),
            side,
            price,
            qty,
        ));
    }
    let notional: i128 = ids.iter().map(|&(_, _, p, q)| p as i128 * q as i128).sum();
    // Worst case: the larger side (buys 100+102+…+108 = 520, sells 525).
    assert_eq!(h.e.gross_exposure(), 525);
    assert_eq!(h.e.credit_used(), notional);
    let (first, side, price, qty) = ids[0];
    assert!(qty > 40, "the fill below is partial");
    h.e.on_fill(&Fill {
        order: first,
        locate: 1,
        side,
        qty: 40,
        price: Price(price),
    });
    h.e.on_canceled(ids[1].0);
    let notional =
        notional - price as i128 * 40 - ids[1].2 as i128 * ids[1].3 as i128 + 40 * price as i128;
    assert_eq!(h.e.credit_used(), notional);
    // Position +40, open buys 480, open sells 525 − 101: the long side.
    assert_eq!(h.e.gross_exposure(), 40 + 480);
    // And a limit just at what is entered is judged exactly on the copy.
    let used = h.e.gross_exposure() as u64;
    let mut l = Limits::unlimited();
    l.max_gross_position = used + 7;
    h.e.apply_limits(l, Nanos(h.now)).expect("valid");
    // (Buys: the long side is the worst case; sells grow nothing yet.)
    assert_eq!(h.try_new(Buy, REF - 100, 8), Err(R::GrossPositionLimit));
    assert!(h.try_new(Buy, REF - 100, 7).is_ok());
    assert_eq!(h.try_new(Buy, REF - 100, 1), Err(R::GrossPositionLimit));
    assert!(h.try_new(Sell, REF + 100, 100).is_ok());
}

/// Open quantities stay below 2^62 (at most 2^30 orders), so only a
/// position beyond ±2^60 shares, towards the range where fills already
/// saturate, can overflow the new-order path's 64-bit terms: every new
/// order in that symbol is then refused. Within ±2^60 they are exact.
#[test]
fn a_position_near_the_range_of_i64_refuses_new_orders_in_its_symbol() {
    let mut h = H::with(|_| {});
    h.e.symbols[1].position = i64::MAX - 10;
    assert_eq!(h.try_new(Buy, REF, 100), Err(R::SymbolPositionLimit));
    assert_eq!(h.try_new(Sell, REF, 100), Err(R::SymbolPositionLimit));
    h.e.symbols[2].position = i64::MIN + 10;
    assert_eq!(
        h.try_new_full(0, 2, Buy, REF, 100, 0, Some(REF)),
        Err(R::SymbolPositionLimit)
    );
    // Other symbols trade, and ±2^60 is inside the exact range.
    h.e.symbols[3].position = 1 << 60;
    assert!(h.try_new_full(0, 3, Sell, REF, 100, 0, Some(REF)).is_ok());
    assert!(h
        .try_new_full(0, 3, Buy, REF - 1, 100, 0, Some(REF))
        .is_ok());
    h.e.symbols[4].position = -(1 << 60);
    assert!(h.try_new_full(0, 4, Buy, REF, 100, 0, Some(REF)).is_ok());
    assert!(h
        .try_new_full(0, 4, Sell, REF + 1, 100, 0, Some(REF))
        .is_ok());
    let mut h = H::with(|l| l.default_symbol.max_position = 1 << 60);
    h.e.symbols[1].position = (1 << 60) - 100;
    assert!(h.try_new(Buy, REF, 100).is_ok());
    assert_eq!(h.try_new(Buy, REF - 1, 1), Err(R::SymbolPositionLimit));
}

/// The notional is a signed product below 2^63 and an unsigned one (off
/// the order path) from 2^63 to u64::MAX: the limit is judged the same on
/// either side.
#[test]
fn notional_either_side_of_2_pow_63() {
    let half = 1u64 << 63;
    for (price, qty) in [
        (i64::MAX, 1),
        (1i64 << 62, 2),
        ((1i64 << 62) + 1, 2),
        (1 << 40, 1 << 23),
    ] {
        let notional = price as u128 * qty as u128;
        for max in [
            notional - 1,
            notional,
            notional + 1,
            half as u128 - 1,
            half as u128,
        ] {
            let Ok(max) = u64::try_from(max) else {
                continue;
            };
            let mut h = H::with(|l| l.default_symbol.max_notional = max);
            let want = if notional > max as u128 {
                Err(R::MaxNotional)
            } else {
                Ok(())
            };
            let got = h.try_new_full(0, 1, Sell, price, qty, 0, None).map(|_| ());
            assert_eq!(got, want, "{price} x {qty} against {max}");
            if got.is_ok() {
                assert_eq!(
                    h.e.credit_used(),
                    notional as i128,
                    "credit counts it exactly"
                );
            }
        }
    }
}

#[test]
fn collar_in_bps() {
    // 50 bps of $100 = $0.50 = 5,000 units.
    table(
        || H::with(|l| l.default_symbol.collar_bps = Some(50)),
        &[
            ("buy under", Buy, REF + 4_999, 1, Ok(())),
            ("buy at", Buy, REF + 5_000, 1, Ok(())),
            ("buy over", Buy, REF + 5_001, 1, Err(R::PriceCollar)),
            ("sell under", Sell, REF - 4_999, 1, Ok(())),
            ("sell at", Sell, REF - 5_000, 1, Ok(())),
            ("sell over", Sell, REF - 5_001, 1, Err(R::PriceCollar)),
        ],
    );
}

#[test]
fn collar_in_ticks() {
    table(
        || {
            H::with(|l| {
                l.default_symbol.collar_ticks = Some(3);
                l.default_symbol.tick_size = 100;
            })
        },
        &[
            ("under", Buy, REF + 299, 1, Ok(())),
            ("at", Buy, REF + 300, 1, Ok(())),
            ("over", Buy, REF + 301, 1, Err(R::PriceCollar)),
            ("below at", Sell, REF - 300, 1, Ok(())),
            ("below over", Sell, REF - 301, 1, Err(R::PriceCollar)),
        ],
    );
}

#[test]
fn collar_needs_a_reference() {
    let mut h = H::with(|l| l.default_symbol.collar_ticks = Some(3));
    assert_eq!(
        h.try_new_full(0, 1, Buy, REF, 1, 0, None),
        Err(R::NoReferencePrice)
    );
    assert_eq!(
        h.try_new_full(0, 1, Buy, REF, 1, 0, Some(0)),
        Err(R::NoReferencePrice)
    );
    // Without a collar, no reference is needed.
    let mut h = H::with(|_| {});
    assert!(h.try_new_full(0, 1, Buy, REF, 1, 0, None).is_ok());
}

#[test]
fn symbol_position_counts_orders_entered() {
    // Limit 100: 60 already entered (not filled) leaves room for 40.
    let make = || {
        let mut h = H::with(|l| l.default_symbol.max_position = 100);
        h.buy(60);
        h
    };
    table(
        make,
        &[
            ("under", Buy, REF, 39, Ok(())),
            ("at", Buy, REF, 40, Ok(())),
            ("over", Buy, REF, 41, Err(R::SymbolPositionLimit)),
            // The sell side is judged on its own worst case: 0 - (-100).
            ("sell at", Sell, REF + 100, 100, Ok(())),
            (
                "sell over",
                Sell,
                REF + 100,
                101,
                Err(R::SymbolPositionLimit),
            ),
        ],
    );
}

#[test]
fn symbol_position_includes_fills() {
    let mut h = H::with(|l| l.default_symbol.max_position = 100);
    let a = h.buy(70);
    h.fill(a, Buy, 70, REF);
    assert_eq!(h.e.position(1), 70);
    assert_eq!(h.e.open_qty(1), (0, 0));
    assert!(!h.e.is_open(a), "fully filled order is finished");
    assert_eq!(h.try_new(Buy, REF, 31), Err(R::SymbolPositionLimit));
    assert!(h.try_new(Buy, REF, 30).is_ok());
    // Short side: position 70 means selling 170 reaches -100.
    assert!(h.try_new(Sell, REF + 1, 170).is_ok());
    assert_eq!(h.try_new(Sell, REF + 1, 1), Err(R::SymbolPositionLimit));
}

#[test]
fn gross_position_across_symbols() {
    let make = || {
        let mut h = H::with(|l| l.max_gross_position = 150);
        h.try_new_full(0, 2, Sell, REF, 100, 0, Some(REF)).unwrap();
        h
    };
    table(
        make,
        &[
            ("under", Buy, REF, 49, Ok(())),
            ("at", Buy, REF, 50, Ok(())),
            ("over", Buy, REF, 51, Err(R::GrossPositionLimit)),
        ],
    );
    // Opposite orders in one symbol do not add: worst is max(long, short).
    let mut h = make();
    h.buy(50);
    assert!(h.try_new(Sell, REF + 1, 50).is_ok());
    assert_eq!(h.try_new(Sell, REF + 1, 1), Err(R::GrossPositionLimit));
    assert_eq!(h.e.gross_exposure(), 150);
}

#[test]
fn net_position_across_symbols() {
    let make = || {
        let mut h = H::with(|l| l.max_net_position = 100);
        h.try_new_full(0, 2, Buy, REF, 60, 0, Some(REF)).unwrap();
        h
    };
    table(
        make,
        &[
            ("under", Buy, REF, 39, Ok(())),
            ("at", Buy, REF, 40, Ok(())),
            ("over", Buy, REF, 41, Err(R::NetPositionLimit)),
            ("sell at", Sell, REF + 1, 100, Ok(())),
            ("sell over", Sell, REF + 1, 101, Err(R::NetPositionLimit)),
        ],
    );
}

#[test]
fn credit_counts_open_and_position_notional() {
    // Credit 300 shares at $100; 100 bought (position), 100 open.
    let make = || {
        let mut h = H::with(|l| l.credit_limit = 300 * REF as u64);
        let a = h.buy(100);
        h.fill(a, Buy, 100, REF);
        h.buy(100);
        h
    };
    table(
        make,
        &[
            ("under", Buy, REF, 99, Ok(())),
            ("at", Buy, REF, 100, Ok(())),
            ("over", Buy, REF, 101, Err(R::CreditLimit)),
        ],
    );
    let mut h = make();
    assert_eq!(h.e.credit_used(), 200 * REF as i128);
    // A higher mark raises position notional.
    h.e.set_mark(1, Price(REF + 10_000));
    assert_eq!(h.try_new(Buy, REF, 100), Err(R::CreditLimit));
    assert!(h.try_new(Buy, REF, 98).is_ok());
}

#[test]
fn duplicate_within_window() {
    let mut h = H::with(|l| l.duplicate_window_ns = 1_000);
    h.buy(10);
    h.now += 999;
    assert_eq!(h.try_new(Buy, REF, 10), Err(R::DuplicateOrder));
    assert!(h.try_new(Buy, REF, 11).is_ok(), "different qty");
    assert!(h.try_new(Buy, REF - 1, 10).is_ok(), "different price");
    assert!(h.try_new(Sell, REF + 1, 10).is_ok(), "different side");
    assert!(
        h.try_new_full(1, 1, Buy, REF, 10, 0, Some(REF)).is_ok(),
        "different strategy"
    );
    assert!(
        h.try_new_full(0, 2, Buy, REF, 10, 0, Some(REF)).is_ok(),
        "different symbol"
    );
    h.now += 1; // exactly 1,000 ns after the first
    assert!(h.try_new(Buy, REF, 10).is_ok());
}

#[test]
fn widening_the_duplicate_window_remembers_older_orders() {
    let mut h = H::with(|l| l.duplicate_window_ns = 10);
    h.buy(10);
    h.now += 100;
    let mut l = h.e.limits().clone();
    l.duplicate_window_ns = 1_000;
    h.e.apply_limits(l, Nanos(h.now)).unwrap();
    assert_eq!(h.try_new(Buy, REF, 10), Err(R::DuplicateOrder));
}

/// An engine whose duplicate table is one bucket (every order hashes to
/// it), with a duplicate window of `window_ns`.
fn one_bucket_engine(window_ns: u64) -> RiskEngine {
    let cap = Capacity {
        symbols: 16,
        orders: 64,
        duplicate_slots: DUP_WAYS,
    };
    let mut l = Limits::unlimited();
    l.duplicate_window_ns = window_ns;
    let e = RiskEngine::new(cap, l).unwrap();
    assert_eq!(e.dup.buckets.len(), 1);
    e
}

/// Order `id` of a one-bucket engine: strategy 0 buys `qty` of locate 1 at
/// the reference price, at `now`.
fn one_bucket_order(e: &mut RiskEngine, id: u64, qty: u32, now: u64) -> Result<(), R> {
    let ctx = CheckContext {
        order: OrderId(id),
        held: None,
        venue: VenueId(0),
        reference: None,
    };
    e.check(&new_intent(0, 1, Buy, REF, qty), &ctx, Nanos(now))
        .map(|_| ())
}

#[test]
fn duplicate_table_full_fails_closed() {
    let mut e = one_bucket_engine(1_000_000);
    let results: Vec<_> = (1..=DUP_WAYS as u32 + 1)
        .map(|q| one_bucket_order(&mut e, q.into(), q, 10))
        .collect();
    // One bucket of seven ways: the eighth distinct live order cannot be remembered.
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), DUP_WAYS);
    assert_eq!(results[DUP_WAYS], Err(R::CapacityExhausted));
    // Once the first ones are older than the window, their ways are reused.
    assert!(one_bucket_order(&mut e, 100, 99, 1_000_010).is_ok());
}

#[test]
fn restricted_symbol() {
    let mut l = Limits::unlimited();
    let mut s = SymbolLimits::UNLIMITED;
    s.restricted = true;
    l.overrides.push((3, s)).unwrap();
    let mut h = H::new(l);
    assert_eq!(
        h.try_new_full(0, 3, Buy, REF, 1, 0, Some(REF)),
        Err(R::RestrictedSymbol)
    );
    assert!(h.try_new_full(0, 4, Buy, REF, 1, 0, Some(REF)).is_ok());
}

/// Zero quantity, restricted list and size share one compare on the order
/// path (`Rule::qty_cap`); each refusal keeps its reason and its place in
/// the order of checks.
#[test]
fn quantity_refusals_keep_their_reasons() {
    let mut l = Limits::unlimited();
    l.default_symbol.max_order_qty = 0;
    let mut restricted = SymbolLimits::UNLIMITED;
    restricted.restricted = true;
    restricted.max_order_qty = 5;
    l.overrides.push((3, restricted)).unwrap();
    let mut s = SymbolLimits::UNLIMITED;
    s.max_order_qty = u32::MAX;
    l.overrides.push((4, s)).unwrap();
    l.overrides
        .push((
            5,
            SymbolLimits {
                max_order_qty: 5,
                ..s
            },
        ))
        .unwrap();
    let mut h = H::new(l);
    let mut new = |locate, qty| {
        h.try_new_full(0, locate, Buy, 1, qty, 0, Some(1))
            .map(|_| ())
    };
    // A zero quantity is invalid whatever the symbol's limits.
    for locate in [1, 3, 4, 5] {
        assert_eq!(new(locate, 0), Err(R::InvalidOrder), "locate {locate}");
    }
    // The restricted list comes before the size limit.
    assert_eq!(new(3, 1), Err(R::RestrictedSymbol));
    assert_eq!(new(3, 6), Err(R::RestrictedSymbol));
    // A limit of 0 refuses every size; u32::MAX none.
    assert_eq!(new(1, 1), Err(R::MaxOrderQty));
    assert_eq!(new(4, u32::MAX), Ok(()));
    assert_eq!(new(5, 5), Ok(()));
    assert_eq!(new(5, 6), Err(R::MaxOrderQty));
    // The same for a replace (whose quantity is above its filled shares).
    let id = h.try_new_full(0, 5, Buy, 1, 1, 0, Some(1)).unwrap();
    let replace = |h: &mut H, qty| {
        h.e.check(
            &OrderIntent::Replace {
                strategy: StrategyId(0),
                order: id.id,
                price: Price(1),
                qty,
            },
            &CheckContext {
                order: id.id,
                held: Some(id.slot),
                venue: VenueId(0),
                reference: Some(Price(1)),
            },
            Nanos(h.now),
        )
    };
    assert_eq!(replace(&mut h, 6), Err(R::MaxOrderQty));
    assert_eq!(replace(&mut h, 0), Err(R::InvalidOrder));
    assert_eq!(replace(&mut h, 5), Ok(id.slot));
}

#[test]
fn per_symbol_override_beats_default() {
    let mut l = Limits::unlimited();
    l.default_symbol.max_order_qty = 10;
    let mut s = SymbolLimits::UNLIMITED;
    s.max_order_qty = 1_000;
    l.overrides.push((5, s)).unwrap();
    let mut h = H::new(l);
    assert!(h.try_new_full(0, 5, Buy, REF, 1_000, 0, Some(REF)).is_ok());
    assert_eq!(
        h.try_new_full(0, 6, Buy, REF, 11, 0, Some(REF)),
        Err(R::MaxOrderQty)
    );
}

#[test]
fn strategy_order_rate() {
    let mut h = H::with(|l| {
        l.strategy_order_rate = Some(Throttle {
            max_msgs: 3,
            window_ns: 1_000,
        })
    });
    let t0 = h.now;
    for i in 0..3 {
        h.now = t0 + i;
        assert!(h.try_new(Buy, REF - i as i64, 1).is_ok(), "under/at: {i}");
    }
    h.now = t0 + 999;
    assert_eq!(h.try_new(Buy, REF - 10, 1), Err(R::OrderRateThrottle));
    // Another strategy has its own window.
    assert!(h.try_new_full(1, 1, Buy, REF - 10, 1, 0, Some(REF)).is_ok());
    h.now = t0 + 1_000;
    assert!(
        h.try_new(Buy, REF - 11, 1).is_ok(),
        "first one left the window"
    );
    // Replaces count as order messages: t0+1, t0+2 and t0+1000 fill the window.
    let last = h.order(h.next_id - 1);
    assert_eq!(h.replace(last, REF - 12, 1), Err(R::OrderRateThrottle));
}

#[test]
fn venue_order_rate() {
    let mut h = H::with(|l| {
        l.venue_order_rate = Some(Throttle {
            max_msgs: 2,
            window_ns: 1_000,
        })
    });
    assert!(h.try_new_full(0, 1, Buy, REF, 1, 3, Some(REF)).is_ok());
    assert!(h.try_new_full(1, 1, Buy, REF, 2, 3, Some(REF)).is_ok());
    assert_eq!(
        h.try_new_full(2, 1, Buy, REF, 3, 3, Some(REF)),
        Err(R::OrderRateThrottle)
    );
    assert!(h.try_new_full(2, 1, Buy, REF, 3, 4, Some(REF)).is_ok());
}

#[test]
fn cancel_rate() {
    let mut h = H::with(|l| {
        l.strategy_cancel_rate = Some(Throttle {
            max_msgs: 2,
            window_ns: 1_000,
        })
    });
    let ids: Vec<OrderRef> = (0..3).map(|i| h.buy(10 + i)).collect();
    assert_eq!(h.cancel(ids[0]), Ok(()));
    assert_eq!(h.cancel(ids[1]), Ok(()));
    assert_eq!(h.cancel(ids[2]), Err(R::CancelRateThrottle));
    h.now += 1_000;
    assert_eq!(h.cancel(ids[2]), Ok(()));
    assert_eq!(
        h.cancel(ids[2]),
        Err(R::InvalidOrder),
        "already pending cancel"
    );
}

#[test]
fn max_open_orders_per_symbol_and_total() {
    let make = || {
        let mut h = H::with(|l| {
            l.default_symbol.max_open_orders = 2;
            l.max_open_orders = 3;
        });
        h.buy(1);
        h
    };
    let mut h = make();
    assert!(h.try_new(Buy, REF, 2).is_ok(), "at the symbol limit");
    assert_eq!(h.try_new(Buy, REF, 3), Err(R::MaxOpenOrders));
    assert!(
        h.try_new_full(0, 2, Buy, REF, 3, 0, Some(REF)).is_ok(),
        "total at 3"
    );
    assert_eq!(
        h.try_new_full(0, 3, Buy, REF, 4, 0, Some(REF)),
        Err(R::MaxOpenOrders)
    );
    // A cancel acknowledgement frees a place.
    h.e.on_canceled(h.order(1));
    assert!(h.try_new(Buy, REF, 5).is_ok());
}

#[test]
fn self_match_against_own_resting_orders() {
    let make = || {
        let mut h = H::with(|_| {});
        h.try_new(Sell, REF, 10).unwrap();
        h.try_new(Buy, REF - 500, 10).unwrap();
        h
    };
    table(
        make,
        &[
            ("buy below our sell", Buy, REF - 1, 1, Ok(())),
            ("buy at our sell", Buy, REF, 1, Err(R::SelfMatch)),
            ("buy through our sell", Buy, REF + 1, 1, Err(R::SelfMatch)),
            ("sell above our buy", Sell, REF - 499, 1, Ok(())),
            ("sell at our buy", Sell, REF - 500, 1, Err(R::SelfMatch)),
            (
                "sell through our buy",
                Sell,
                REF - 501,
                1,
                Err(R::SelfMatch),
            ),
        ],
    );
    // Other strategies' orders are ours too.
    let mut h = make();
    assert_eq!(
        h.try_new_full(7, 1, Buy, REF, 1, 0, Some(REF)),
        Err(R::SelfMatch)
    );
    // Once the sell is gone, the next best own sell decides.
    let second = h.try_new(Sell, REF + 200, 10).unwrap();
    h.e.on_canceled(h.order(1));
    assert!(h.try_new(Buy, REF + 199, 1).is_ok());
    assert_eq!(h.try_new(Buy, REF + 200, 1), Err(R::SelfMatch));
    h.fill(second, Sell, 10, REF + 200);
    assert!(
        h.try_new(Buy, REF + 200, 1).is_ok(),
        "filled sell no longer rests"
    );
    // Replacing a buy up through our own sell is refused too.
    let s = h.try_new(Sell, REF + 1_000, 1).unwrap();
    let b = h.try_new(Buy, REF + 300, 1).unwrap();
    assert_eq!(h.replace(b, REF + 1_000, 1), Err(R::SelfMatch));
    assert!(h.replace(b, REF + 999, 1).is_ok());
    let _ = s;
}

#[test]
fn self_match_judged_at_the_venue_under_the_venue_scope() {
    // Our sell at REF rests at venue 1, our buy at REF − 500 at venue 2.
    let make = |scope| {
        let mut h = H::with(|l| l.self_match = scope);
        let sell = h.try_new_full(0, 1, Sell, REF, 10, 1, Some(REF)).unwrap();
        let buy = h
            .try_new_full(0, 1, Buy, REF - 500, 10, 2, Some(REF))
            .unwrap();
        (h, sell, buy)
    };
    let (mut firm, ..) = make(SelfMatchScope::Firm);
    assert_eq!(
        firm.try_new_full(0, 1, Buy, REF, 1, 2, Some(REF)),
        Err(R::SelfMatch),
        "the firm's scope: our sell at any venue counts"
    );
    let (mut h, sell, buy) = make(SelfMatchScope::Venue);
    assert_eq!(
        h.try_new_full(0, 1, Buy, REF, 1, 1, Some(REF)),
        Err(R::SelfMatch),
        "at our sell's venue"
    );
    assert_eq!(
        h.try_new_full(7, 1, Sell, REF - 500, 1, 2, Some(REF)),
        Err(R::SelfMatch),
        "at our buy's venue, from another strategy"
    );
    let through = h.try_new_full(0, 1, Buy, REF + 100, 1, 2, Some(REF));
    assert!(through.is_ok(), "through our sell, at another venue");
    assert!(h
        .try_new_full(0, 1, Sell, REF - 600, 1, 3, Some(REF))
        .is_ok());
    assert_eq!(h.e.open_qty(1), (11, 11), "what passed counts whole");
    // A buy at venue 1 below our sell there passes; then that sell is
    // replaced down, and counts at its new price at once.
    assert!(h
        .try_new_full(0, 1, Buy, REF - 300, 1, 1, Some(REF))
        .is_ok());
    assert!(h.replace(sell, REF - 200, 10).is_ok());
    assert_eq!(
        h.try_new_full(0, 1, Buy, REF - 200, 2, 1, Some(REF)),
        Err(R::SelfMatch),
        "a replace in flight counts at its most aggressive price"
    );
    // Replaces are judged at their order's venue: our buy at venue 2 may
    // go up through our sells at venues 1 and 3, not through one at 2.
    assert!(h.replace(buy, REF + 50, 10).is_ok());
    h.e.on_replaced(buy, Price(REF + 50), 10);
    assert!(h
        .try_new_full(0, 1, Sell, REF + 900, 1, 2, Some(REF))
        .is_ok());
    let again = h
        .try_new_full(0, 1, Buy, REF - 700, 1, 2, Some(REF))
        .unwrap();
    assert_eq!(h.replace(again, REF + 900, 1), Err(R::SelfMatch));
    assert!(h.replace(again, REF + 899, 1).is_ok());
    assert_eq!(h.e.reject_count(R::SelfMatch), 4);
}

#[test]
fn invalid_orders() {
    let mut h = H::with(|_| {});
    assert_eq!(h.try_new(Buy, REF, 0), Err(R::InvalidOrder));
    assert_eq!(h.try_new(Buy, 0, 1), Err(R::InvalidOrder));
    assert_eq!(h.try_new(Buy, -5, 1), Err(R::InvalidOrder));
    assert_eq!(
        h.try_new_full(0, 16, Buy, REF, 1, 0, None),
        Err(R::InvalidOrder),
        "locate beyond the symbol table"
    );
    assert_eq!(
        h.try_new_full(MAX_STRATEGIES as u16, 1, Buy, REF, 1, 0, None),
        Err(R::InvalidOrder)
    );
    assert_eq!(
        h.try_new_full(0, 1, Buy, REF, 1, MAX_VENUES as u8, None),
        Err(R::InvalidOrder)
    );
    assert_eq!(h.cancel(h.order(999)), Err(R::UnknownOrder));
    assert_eq!(h.e.reject_count(R::InvalidOrder), 6);
    assert_eq!(h.e.reject_count(R::UnknownOrder), 1);
}

#[test]
fn an_order_is_known_only_by_its_id_at_its_slot() {
    let mut h = H::with(|_| {});
    let a = h.buy(1);
    let cancel = |h: &mut H, order: OrderId, held: Option<RiskSlot>| {
        let ctx = CheckContext {
            order,
            held,
            venue: VenueId(0),
            reference: None,
        };
        let intent = OrderIntent::Cancel {
            strategy: StrategyId(0),
            order,
        };
        h.e.check(&intent, &ctx, Nanos(h.now))
    };
    assert_eq!(cancel(&mut h, a.id, None), Err(R::UnknownOrder), "no slot");
    assert_eq!(
        cancel(&mut h, OrderId(a.id.0 + 1), Some(a.slot)),
        Err(R::UnknownOrder),
        "another id at the slot"
    );
    assert_eq!(
        cancel(&mut h, a.id, Some(RiskSlot(a.slot.0 + 1))),
        Err(R::UnknownOrder),
        "the id at another slot"
    );
    // The order finishes and its slot goes to the next order: the old
    // reference names nothing, and changes nothing of the new order.
    h.e.on_canceled(a);
    let b = h.buy(2);
    assert_eq!(b.slot, a.slot, "the freed slot is taken again");
    assert_eq!(h.cancel(a), Err(R::UnknownOrder));
    let unknown = h.e.unknown_events();
    h.e.on_canceled(a);
    h.fill(a, Buy, 1, REF);
    assert_eq!(h.e.unknown_events(), unknown + 2);
    assert!(!h.e.is_open(a));
    assert!(h.e.is_open(b));
    assert_eq!(h.e.open_qty(1), (2, 0), "the new order still counts whole");
    assert_eq!(h.e.position(1), 1, "a fill moves the position all the same");
    assert_eq!(h.cancel(b), Ok(()));
}

#[test]
fn strategies_cannot_touch_each_others_orders() {
    let mut h = H::with(|_| {});
    let id = h.try_new_full(1, 1, Buy, REF, 10, 0, Some(REF)).unwrap();
    assert_eq!(
        h.cancel(id),
        Err(R::UnknownOrder),
        "strategy 0 cancels 1's order"
    );
}

#[test]
fn order_table_full_fails_closed() {
    let cap = Capacity {
        symbols: 4,
        orders: 2,
        duplicate_slots: 16,
    };
    let mut e = RiskEngine::new(cap, Limits::unlimited()).unwrap();
    let ctx = |n| CheckContext {
        order: OrderId(n),
        held: None,
        venue: VenueId(0),
        reference: None,
    };
    let first = e.check(&new_intent(0, 1, Buy, REF, 1), &ctx(1), Nanos(0));
    assert!(first.is_ok());
    assert!(e
        .check(&new_intent(0, 1, Buy, REF, 2), &ctx(2), Nanos(0))
        .is_ok());
    assert_eq!(
        e.check(&new_intent(0, 1, Buy, REF, 3), &ctx(3), Nanos(0)),
        Err(R::CapacityExhausted)
    );
    if let Ok(slot) = first {
        e.on_rejected(OrderRef::new(OrderId(1), slot), Nanos(1));
    }
    assert!(e
        .check(&new_intent(0, 1, Buy, REF, 3), &ctx(3), Nanos(2))
        .is_ok());
}

#[test]
fn replace_counts_worst_of_old_and_new_until_answered() {
    let mut h = H::with(|l| l.default_symbol.max_position = 100);
    let a = h.buy(50);
    assert!(h.replace(a, REF, 80).is_ok());
    assert_eq!(h.e.open_qty(1), (80, 0));
    assert_eq!(h.try_new(Buy, REF, 21), Err(R::SymbolPositionLimit));
    // Refused replace: back to 50.
    h.e.on_replace_rejected(a);
    assert_eq!(h.e.open_qty(1), (50, 0));
    // Replace down: still 50 until the venue confirms.
    assert!(h.replace(a, REF, 20).is_ok());
    assert_eq!(h.e.open_qty(1), (50, 0));
    assert_eq!(
        h.replace(a, REF, 30),
        Err(R::InvalidOrder),
        "one replace at a time"
    );
    // A fill while the replace is in flight reduces both terms.
    h.fill(a, Buy, 10, REF);
    assert_eq!(h.e.open_qty(1), (40, 0));
    h.e.on_replaced(a, Price(REF), 20);
    assert_eq!(h.e.open_qty(1), (10, 0), "new total 20 minus 10 filled");
    assert_eq!(h.e.position(1), 10);
    // Replace to a quantity already filled is invalid.
    assert_eq!(h.replace(a, REF, 10), Err(R::InvalidOrder));
}

#[test]
fn fill_for_unknown_order_still_moves_position() {
    let mut h = H::with(|_| {});
    h.fill(h.order(77), Sell, 5, REF);
    assert_eq!(h.e.position(1), -5);
    assert_eq!(h.e.net_position(), -5);
    assert_eq!(h.e.unknown_events(), 1);
    h.e.on_canceled(h.order(78));
    h.e.on_accepted(h.order(79));
    assert_eq!(h.e.unknown_events(), 3);
}

#[test]
fn overfill_does_not_underflow() {
    let mut h = H::with(|_| {});
    let a = h.buy(10);
    h.fill(a, Buy, 15, REF);
    assert_eq!(h.e.open_qty(1), (0, 0));
    assert_eq!(h.e.position(1), 15);
    assert!(!h.e.is_open(a));
}

/// After a bust the venue's CumQty and LeavesQty say what the order is
/// (found by the `order_path` fuzz target's open-quantity check). Risk
/// used to keep its quantity and count the rest as filled: the shares a
/// bust took back stayed "filled", so a replace up worked its total less
/// them (the OMS 80 shares, risk 40) and a replace down to them was
/// refused as invalid.
#[test]
fn after_a_bust_a_replace_works_its_total_less_what_the_venue_says_filled() {
    let mut h = H::with(|_| {});
    let a = h.buy(100);
    h.fill(a, Buy, 40, REF);
    let fill = Fill {
        order: a,
        locate: 1,
        side: Buy,
        qty: 40,
        price: Price(REF),
    };
    h.e.on_fill_adjusted(&fill, &Fill { qty: 0, ..fill });
    // The venue keeps working the 60 it had left, none of it filled.
    h.e.set_leaves(a, 0, 60);
    assert_eq!(h.e.open_qty(1), (60, 0));
    assert_eq!(h.replace(a, REF, 30), Ok(()));
    h.e.on_replace_rejected(a);
    assert_eq!(h.replace(a, REF, 80), Ok(()));
    h.e.on_replaced(a, Price(REF), 80);
    assert_eq!(h.e.open_qty(1), (80, 0));
    assert_eq!(h.e.gross_exposure(), 80);
}

/// An over-filled order kept open by a replace in flight, then the fill
/// busted with the venue working all 101 shares and the replace refused:
/// risk counts the 101, not only up to the 100 first entered.
#[test]
fn a_bust_after_an_overfill_counts_every_share_left_working() {
    let mut h = H::with(|_| {});
    let a = h.buy(100);
    assert_eq!(h.replace(a, REF, 200), Ok(()));
    h.fill(a, Buy, 101, REF);
    assert!(h.e.is_open(a), "the replace could still grow it");
    let fill = Fill {
        order: a,
        locate: 1,
        side: Buy,
        qty: 101,
        price: Price(REF),
    };
    h.e.on_fill_adjusted(&fill, &Fill { qty: 0, ..fill });
    h.e.set_leaves(a, 0, 101);
    h.e.on_replace_rejected(a);
    assert_eq!(h.e.open_qty(1), (101, 0));
    assert_eq!(h.e.gross_exposure(), 101);
    assert!(h.e.is_open(a));
}

#[test]
fn apply_limits_validates_and_keeps_old_on_error() {
    let mut h = H::with(|l| l.default_symbol.max_order_qty = 100);
    let mut bad = h.e.limits().clone();
    bad.default_symbol.max_order_qty = 5;
    bad.venue_order_rate = Some(Throttle {
        max_msgs: 10,
        window_ns: 0,
    });
    let err = h.e.apply_limits(bad, Nanos(h.now)).unwrap_err();
    assert_eq!(err.field, "venue_order_rate");
    assert!(
        h.try_new(Buy, REF, 100).is_ok(),
        "old limits still in force"
    );

    let mut bad = h.e.limits().clone();
    let mut s = SymbolLimits::UNLIMITED;
    s.tick_size = 0;
    bad.overrides.push((2, SymbolLimits::UNLIMITED)).unwrap();
    bad.overrides.push((3, s)).unwrap();
    let err = h.e.apply_limits(bad, Nanos(h.now)).unwrap_err();
    assert_eq!((err.field, err.override_index), ("tick_size", Some(1)));
    assert_eq!(std::format!("{err}"), "overrides[1].tick_size: must be > 0");

    let mut bad = h.e.limits().clone();
    bad.overrides.push((99, SymbolLimits::UNLIMITED)).unwrap();
    assert_eq!(
        h.e.apply_limits(bad, Nanos(h.now)).unwrap_err().field,
        "locate"
    );

    let mut bad = h.e.limits().clone();
    bad.default_symbol.collar_bps = Some(0);
    assert_eq!(
        h.e.apply_limits(bad, Nanos(h.now)).unwrap_err().field,
        "collar_bps"
    );

    let mut good = h.e.limits().clone();
    good.default_symbol.max_order_qty = 5;
    h.e.apply_limits(good, Nanos(h.now)).unwrap();
    assert_eq!(h.try_new(Buy, REF, 6), Err(R::MaxOrderQty));
    assert!(h.try_new(Buy, REF, 5).is_ok());
}

#[test]
fn removing_an_override_restores_the_default() {
    let mut l = Limits::unlimited();
    let mut s = SymbolLimits::UNLIMITED;
    s.restricted = true;
    l.overrides.push((1, s)).unwrap();
    let mut h = H::new(l);
    assert_eq!(h.try_new(Buy, REF, 1), Err(R::RestrictedSymbol));
    h.e.apply_limits(Limits::unlimited(), Nanos(h.now)).unwrap();
    assert!(h.try_new(Buy, REF, 1).is_ok());
}

// ------------------------------------------------------------ kill switch

fn open_book(h: &mut H) -> Vec<OrderRef> {
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(h.try_new(Buy, REF - 100 * i, 10).unwrap());
        ids.push(h.try_new(Sell, REF + 100 * (i + 1), 10).unwrap());
    }
    ids
}

fn collect_kill_cancels(h: &mut H) -> Vec<OrderId> {
    let mut out = [OrderIntent::Cancel {
        strategy: StrategyId(0),
        order: OrderId(0),
    }; 3];
    let mut ids = Vec::new();
    loop {
        let n = h.e.kill_cancels(&mut out);
        if n == 0 {
            break;
        }
        for intent in &out[..n] {
            match intent {
                OrderIntent::Cancel { order, .. } => ids.push(*order),
                other => panic!("kill switch produced {other:?}"),
            }
        }
    }
    ids.sort();
    ids
}

#[test]
fn kill_switch_trips_on_daily_loss_and_latches() {
    let mut h = H::with(|l| l.max_daily_loss = 1_000_000);
    let mut ids = open_book(&mut h);
    h.e.on_pnl(-1_000_000);
    assert_eq!(h.e.tripped(), None, "a loss equal to the limit is allowed");
    h.e.on_pnl(-1_000_001);
    assert_eq!(h.e.tripped(), Some(TripCause::DailyLoss));

    // New orders and replaces refused; cancels pass.
    assert_eq!(h.try_new(Buy, REF - 10_000, 1), Err(R::KillSwitch));
    assert_eq!(h.replace(ids[0], REF - 1, 10), Err(R::KillSwitch));
    assert_eq!(h.cancel(ids[0]), Ok(()));

    // The cancel list covers every open order not already being canceled.
    let listed = collect_kill_cancels(&mut h);
    ids.sort_by_key(|o| o.id);
    assert_eq!(listed, ids[1..].iter().map(|o| o.id).collect::<Vec<_>>());
    for id in &listed {
        assert_eq!(h.cancel(h.order(id.0)), Ok(()));
    }
    assert!(collect_kill_cancels(&mut h).is_empty());

    // Recovery alone does not re-arm: the switch latches.
    h.e.on_pnl(0);
    assert_eq!(h.try_new(Buy, REF - 10_000, 1), Err(R::KillSwitch));
    // Re-arm refused while the loss still breaches; accepted after.
    h.e.on_pnl(-2_000_000);
    assert_eq!(h.e.rearm(), Err(RearmError::LossStillBreached));
    h.e.on_pnl(-10);
    assert_eq!(h.e.rearm(), Ok(()));
    assert_eq!(h.e.rearm(), Err(RearmError::NotTripped));
    assert!(h.try_new(Buy, REF - 10_000, 1).is_ok());
    assert_eq!(h.e.trips(), 1);
    assert!(h.e.reject_count(R::KillSwitch) >= 2);
}

#[test]
fn a_daily_loss_limit_lowered_below_the_loss_trips_at_once() {
    let mut h = H::with(|l| l.max_daily_loss = 1_000_000);
    h.buy(10);
    h.e.on_pnl(-500_000);
    let mut l = h.e.limits().clone();
    l.max_daily_loss = 600_000;
    h.e.apply_limits(l.clone(), Nanos(h.now)).unwrap();
    assert_eq!(h.e.tripped(), None, "still within the new limit");
    l.max_daily_loss = 100_000;
    h.e.apply_limits(l, Nanos(h.now)).unwrap();
    assert_eq!(h.e.tripped(), Some(TripCause::DailyLoss));
    assert_eq!(h.try_new(Buy, REF - 10_000, 1), Err(R::KillSwitch));
    assert_eq!(
        collect_kill_cancels(&mut h).len(),
        1,
        "the open order is cancelled"
    );
}

#[test]
fn a_reject_rate_lowered_below_the_recent_refusals_trips_at_once() {
    let mut h = H::with(|l| l.default_symbol.max_order_qty = 100);
    for _ in 0..10 {
        assert_eq!(h.try_new(Buy, REF, 1_000), Err(R::MaxOrderQty));
        h.now += 1;
    }
    let mut l = h.e.limits().clone();
    // Ten refusals in the last 10 ns: a limit of 10 per µs holds, 9 does not.
    l.reject_rate = Some(Throttle {
        max_msgs: 10,
        window_ns: 1_000,
    });
    h.e.apply_limits(l.clone(), Nanos(h.now)).unwrap();
    assert_eq!(h.e.tripped(), None);
    // Long after the refusals, a tighter limit finds nothing in its window.
    l.reject_rate = Some(Throttle {
        max_msgs: 9,
        window_ns: 1_000,
    });
    h.e.apply_limits(l.clone(), Nanos(h.now + 1_000)).unwrap();
    assert_eq!(h.e.tripped(), None, "the refusals are out of the window");
    h.e.apply_limits(l, Nanos(h.now)).unwrap();
    assert_eq!(h.e.tripped(), Some(TripCause::RejectRate));
    assert_eq!(h.try_new(Buy, REF - 10_000, 1), Err(R::KillSwitch));
}

#[test]
fn limits_exceeded_after_a_change_still_let_an_order_shrink() {
    // Gross and credit lowered below what is already used: a replace that
    // only reduces the order passes; one that adds is refused.
    let mut h = H::new(Limits::unlimited());
    let id = h.buy(100);
    let mut l = h.e.limits().clone();
    l.max_gross_position = 50;
    l.credit_limit = 50 * REF as u64;
    h.e.apply_limits(l, Nanos(h.now)).unwrap();
    assert_eq!(h.replace(id, REF, 150), Err(R::GrossPositionLimit));
    assert_eq!(h.replace(id, REF, 60), Ok(()));
    // New orders are refused outright while the limit is exceeded, even a
    // sell that adds nothing to the worst case.
    assert_eq!(h.try_new(Sell, REF + 100, 10), Err(R::GrossPositionLimit));
}

#[test]
fn a_mark_of_zero_or_below_is_ignored() {
    let mut h = H::new(Limits::unlimited());
    let id = h.buy(100);
    h.fill(id, Buy, 100, REF);
    let used = h.e.credit_used();
    h.e.set_mark(1, Price(0));
    h.e.set_mark(1, Price(-REF));
    assert_eq!(h.e.credit_used(), used);
}

#[test]
fn kill_switch_trips_on_reject_rate() {
    let mut h = H::with(|l| {
        l.default_symbol.max_order_qty = 100;
        l.reject_rate = Some(Throttle {
            max_msgs: 3,
            window_ns: 1_000,
        });
    });
    let ids = open_book(&mut h);
    for _ in 0..3 {
        assert_eq!(h.try_new(Buy, REF, 1_000), Err(R::MaxOrderQty));
        h.now += 10;
    }
    assert_eq!(
        h.e.tripped(),
        None,
        "three rejects in the window are allowed"
    );
    // The fourth reject (a venue reject this time) trips it.
    h.e.on_rejected(ids[9], Nanos(h.now));
    assert_eq!(h.e.tripped(), Some(TripCause::RejectRate));
    assert_eq!(h.try_new(Buy, REF - 10_000, 1), Err(R::KillSwitch));
    assert_eq!(collect_kill_cancels(&mut h).len(), 9);

    assert_eq!(h.e.rearm(), Ok(()));
    // The reject window was cleared: one more reject does not re-trip.
    assert_eq!(h.try_new(Buy, REF, 1_000), Err(R::MaxOrderQty));
    assert_eq!(h.e.tripped(), None);
    assert!(h.try_new(Buy, REF - 10_000, 1).is_ok());
}

#[test]
fn manual_trip_and_spread_out_rejects() {
    let mut h = H::with(|l| {
        l.reject_rate = Some(Throttle {
            max_msgs: 1,
            window_ns: 100,
        })
    });
    assert_eq!(h.cancel(h.order(5)), Err(R::UnknownOrder));
    h.now += 100;
    assert_eq!(h.cancel(h.order(5)), Err(R::UnknownOrder));
    assert_eq!(
        h.e.tripped(),
        None,
        "rejects 100 ns apart stay under 2 per 100 ns"
    );
    h.e.trip(TripCause::Manual);
    assert_eq!(h.e.tripped(), Some(TripCause::Manual));
    assert_eq!(h.try_new(Buy, REF, 1), Err(R::KillSwitch));
}

/// The close of the trading window latches risk like a kill: no new order
/// or replace, cancels pass. Its refusals name the closed session, not the
/// kill switch.
#[test]
fn after_the_end_of_the_session_orders_are_refused_as_trading_closed() {
    let mut h = H::with(|_| {});
    let open = h.try_new(Buy, REF, 10).unwrap();
    h.e.trip(TripCause::EndOfSession);
    for _ in 0..3 {
        assert_eq!(h.try_new(Buy, REF - 100, 10), Err(R::TradingClosed));
    }
    assert_eq!(h.replace(open, REF - 200, 10), Err(R::TradingClosed));
    assert_eq!(
        (
            h.e.reject_count(R::TradingClosed),
            h.e.reject_count(R::KillSwitch)
        ),
        (4, 0)
    );
    assert_eq!(h.cancel(open), Ok(()));
    // Still the end of the session: a later trip does not replace its cause.
    h.e.trip(TripCause::Manual);
    assert_eq!(h.e.tripped(), Some(TripCause::EndOfSession));
}

// ------------------------------------------------- order-path data structures

#[test]
fn hot_records_are_one_cache_line() {
    use core::mem::{align_of, size_of};
    let sizes = [
        (size_of::<SymbolState>(), align_of::<SymbolState>()),
        (size_of::<OrderSlot>(), align_of::<OrderSlot>()),
        (size_of::<Rule>(), align_of::<Rule>()),
    ];
    assert_eq!(sizes, [(64, 64); 3]);
}

/// The collar as first written (i128, straight from the limits), the oracle
/// for the derived [`Rule`].
fn collar_reference(s: &SymbolLimits, price: i64, reference: Option<Price>) -> Result<(), R> {
    if s.collar_bps.is_none() && s.collar_ticks.is_none() {
        return Ok(());
    }
    let reference = match reference {
        Some(r) if r.0 > 0 => r.0,
        _ => return Err(R::NoReferencePrice),
    };
    let diff = (price as i128 - reference as i128).abs();
    if let Some(bps) = s.collar_bps {
        if diff * 10_000 > bps as i128 * reference as i128 {
            return Err(R::PriceCollar);
        }
    }
    if let Some(ticks) = s.collar_ticks {
        if diff > ticks as i128 * s.tick_size as i128 {
            return Err(R::PriceCollar);
        }
    }
    Ok(())
}

#[test]
fn derived_collar_at_the_extremes() {
    let mut s = SymbolLimits::UNLIMITED;
    // A tick span beyond u64 saturates and lets every difference through.
    s.collar_ticks = Some(u32::MAX);
    s.tick_size = i64::MAX;
    let rule = Rule::new(&s);
    assert_eq!(rule.tick_span, u64::MAX);
    let sym = SymbolState::EMPTY;
    for (price, reference) in [(i64::MAX, 1), (1, i64::MAX), (1, 1), (i64::MAX, i64::MAX)] {
        let got = check_terms(&rule, &sym, Sell, price, 1, Some(Price(reference))).map(|_| ());
        assert_eq!(got, collar_reference(&s, price, Some(Price(reference))));
    }
    s.collar_bps = Some(100_000);
    s.collar_ticks = None;
    let rule = Rule::new(&s);
    for (price, reference, ok) in [
        (i64::MAX, i64::MAX / 11 + 1, true),
        (i64::MAX, i64::MAX / 11, false),
        (1, i64::MAX, true),
        (22, 2, true),
        (23, 2, false),
    ] {
        let got = check_terms(&rule, &sym, Sell, price, 1, Some(Price(reference))).map(|_| ());
        assert_eq!(got, collar_reference(&s, price, Some(Price(reference))));
        assert_eq!(got.is_ok(), ok, "{price} vs {reference}");
    }
    for reference in [None, Some(Price(0)), Some(Price(-5))] {
        let got = check_terms(&rule, &sym, Sell, 100, 1, reference).map(|_| ());
        assert_eq!(got, Err(R::NoReferencePrice));
    }
}

/// The bps collar in 64 bits below 2^46 and in 128 bits from there: the
/// same answers on both sides of the boundary, at and around equality.
#[test]
fn bps_collar_either_side_of_the_64_bit_form() {
    let edge = 1i64 << 46;
    for bps in [1u32, 500, 99_999, 100_000] {
        let mut s = SymbolLimits::UNLIMITED;
        s.collar_bps = Some(bps);
        let rule = Rule::new(&s);
        for reference in [
            10_000,
            edge - 10_000,
            edge - 1,
            edge,
            edge + 10_000,
            i64::MAX / 20,
        ] {
            // The largest difference the collar allows, and around it.
            let at = (reference as i128 * bps as i128 / 10_000) as i64;
            for diff in [
                0,
                1,
                at - 1,
                at,
                at + 1,
                edge - reference,
                edge - 1 - reference,
            ] {
                for price in [reference.saturating_add(diff), reference - diff] {
                    if price <= 0 {
                        continue;
                    }
                    let got = check_terms(
                        &rule,
                        &SymbolState::EMPTY,
                        Sell,
                        price,
                        1,
                        Some(Price(reference)),
                    )
                    .map(|_| ());
                    let want = collar_reference(&s, price, Some(Price(reference)));
                    assert_eq!(got, want, "bps {bps} reference {reference} price {price}");
                }
            }
        }
    }
}

/// The exposure checks as first written (separate buy and sell quantities,
/// `worst` recomputed before and after), the oracle for the one-sided form;
/// position and net judged when the order grows (shares or notional), gross
/// and credit always for a new order, and for a replace (`shrinkable`) only
/// when it adds to them (a limit already exceeded does not refuse what adds
/// nothing).
#[allow(clippy::too_many_arguments)]
fn exposure_reference(
    l: &Limits,
    sym: &SymbolState,
    gross_worst: i128,
    net: i64,
    total: (u64, u64),
    credit_used: i128,
    side: Side,
    add: u64,
    add_notional: i128,
    shrinkable: bool,
) -> Result<i128, R> {
    let lim = &l.default_symbol;
    let (add_buy, add_sell) = match side {
        Buy => (add, 0),
        Sell => (0, add),
    };
    let grows = add > 0 || add_notional > 0;
    let ob = sym.open[BUY] + add_buy;
    let os = sym.open[SELL] + add_sell;
    let pos = sym.position as i128;
    if grows && side == Buy && pos + ob as i128 > lim.max_position as i128 {
        return Err(R::SymbolPositionLimit);
    }
    if grows && side == Sell && os as i128 - pos > lim.max_position as i128 {
        return Err(R::SymbolPositionLimit);
    }
    let worst_delta = worst(sym.position, ob, os) - sym.worst();
    if (!shrinkable || worst_delta > 0) && gross_worst + worst_delta > l.max_gross_position as i128
    {
        return Err(R::GrossPositionLimit);
    }
    let net = net as i128;
    let max_net = l.max_net_position as i128;
    if grows && side == Buy && net + (total.0 + add_buy) as i128 > max_net {
        return Err(R::NetPositionLimit);
    }
    if grows && side == Sell && (total.1 + add_sell) as i128 - net > max_net {
        return Err(R::NetPositionLimit);
    }
    if (!shrinkable || add_notional > 0) && credit_used + add_notional > l.credit_limit as i128 {
        return Err(R::CreditLimit);
    }
    Ok(worst_delta)
}

proptest::proptest! {
    #[test]
    fn derived_collar_matches_the_limits(
        reference in proptest::prop_oneof![1i64..2_000_000, 1i64..=i64::MAX],
        offset in proptest::prop_oneof![-100_000i64..100_000, proptest::num::i64::ANY],
        bps in proptest::option::of(proptest::prop_oneof![1u32..1_000, 1u32..=100_000]),
        ticks in proptest::option::of(proptest::prop_oneof![1u32..1_000, proptest::num::u32::ANY]),
        tick_size in proptest::prop_oneof![1i64..1_000, 1i64..=i64::MAX],
        missing in proptest::bool::weighted(0.05),
    ) {
        let price = reference.saturating_add(offset).max(1);
        let mut s = SymbolLimits::UNLIMITED;
        s.collar_bps = bps;
        s.collar_ticks = ticks.map(|t| t.max(1));
        s.tick_size = tick_size;
        let reference = (!missing).then_some(Price(reference));
        let got = check_terms(
            &Rule::new(&s),
            // A sell never crosses the empty book (the collar is under test).
            &SymbolState::EMPTY,
            Sell,
            price,
            1,
            reference,
        ).map(|_| ());
        proptest::prop_assert_eq!(got, collar_reference(&s, price, reference));
    }

    #[test]
    fn one_sided_exposure_matches_both_sided(
        position in proptest::prop_oneof![-5_000i64..5_000, proptest::num::i64::ANY],
        open_buy in proptest::prop_oneof![0u64..5_000, 0u64..1 << 62],
        open_sell in proptest::prop_oneof![0u64..5_000, 0u64..1 << 62],
        other_buy in 0u64..1 << 40,
        other_sell in 0u64..1 << 40,
        net_other in -(1i64 << 40)..1 << 40,
        gross_other in 0i128..1 << 41,
        credit_used in -(1i128 << 70)..1 << 70,
        add in proptest::prop_oneof![0u64..3, 0u64..5_000, 0u64..=u32::MAX as u64],
        add_notional in proptest::prop_oneof![-(1i128 << 64)..1 << 64, 0i128..1 << 40],
        sell in proptest::bool::ANY,
        max_position in proptest::prop_oneof![0u64..10_000, proptest::num::u64::ANY],
        max_gross in proptest::prop_oneof![0u64..20_000, proptest::num::u64::ANY],
        max_net in proptest::prop_oneof![0u64..20_000, proptest::num::u64::ANY],
        credit in proptest::num::u64::ANY,
        shrinkable in proptest::bool::ANY,
    ) {
        let mut l = Limits::unlimited();
        l.default_symbol.max_position = max_position;
        l.max_gross_position = max_gross;
        l.max_net_position = max_net;
        l.credit_limit = credit;
        let mut e = RiskEngine::new(SMALL, l.clone()).expect("valid");
        let sym = SymbolState {
            position,
            open: [open_buy, open_sell],
            ..SymbolState::EMPTY
        };
        let gross_worst = gross_other + sym.worst();
        let net_position = position.saturating_add(net_other);
        let total_open = [open_buy + other_buy, open_sell + other_sell];
        e.net_position = net_position;
        e.room.net = [
            max_net as i128 - (net_position as i128 + total_open[BUY] as i128),
            max_net as i128 - (total_open[SELL] as i128 - net_position as i128),
        ];
        e.room.gross = max_gross as i128 - gross_worst;
        e.room.credit = credit as i128 - credit_used;
        let side = if sell { Sell } else { Buy };
        let got = e.room.check(
            &Rule::new(&l.default_symbol),
            &sym,
            side,
            add,
            add_notional,
            add > 0 || add_notional > 0,
            shrinkable,
        );
        let expect = exposure_reference(
            &l,
            &sym,
            gross_worst,
            net_position,
            (total_open[BUY], total_open[SELL]),
            credit_used,
            side,
            add,
            add_notional,
            shrinkable,
        );
        proptest::prop_assert_eq!(got.map(i128::from), expect);
    }

    /// The new-order path's 64-bit form (positions, open quantities and the
    /// rooms' clamped copy) decides and explains as the exact 128-bit check
    /// for every position within ±2^60 shares, at any room and limit; beyond,
    /// it may only refuse more, as beyond the symbol's position limit.
    #[test]
    fn new_order_path_matches_the_exact_check(
        position in proptest::prop_oneof![
            -5_000i64..5_000,
            -(1i64 << 60)..=1 << 60,
            proptest::num::i64::ANY,
        ],
        open_buy in proptest::prop_oneof![0u64..5_000, 0u64..1 << 62],
        open_sell in proptest::prop_oneof![0u64..5_000, 0u64..1 << 62],
        net_room in proptest::prop_oneof![-10_000i128..10_000, -(1i128 << 66)..1 << 66],
        gross_room in proptest::prop_oneof![-10_000i128..10_000, -(1i128 << 66)..1 << 66],
        credit_room in proptest::prop_oneof![-(1i128 << 40)..1 << 40, -(1i128 << 66)..1 << 66],
        // Rooms just around what the order adds, where an off-by-one shows.
        near in proptest::option::of((-2i128..=2, -2i128..=2, -2i128..=2)),
        qty in proptest::prop_oneof![1u32..5_000, 1u32..=u32::MAX],
        notional in proptest::prop_oneof![1u64..1 << 40, 1u64..=u64::MAX],
        sell in proptest::bool::ANY,
        max_position in proptest::prop_oneof![0u64..10_000, proptest::num::u64::ANY],
    ) {
        let mut l = Limits::unlimited();
        l.default_symbol.max_position = max_position;
        let mut e = RiskEngine::new(SMALL, l.clone()).expect("valid");
        let sym = SymbolState {
            position,
            open: [open_buy, open_sell],
            ..SymbolState::EMPTY
        };
        let rule = Rule::new(&l.default_symbol);
        let side = if sell { Sell } else { Buy };
        let (net_room, gross_room, credit_room) = match near {
            None => (net_room, gross_room, credit_room),
            Some((n, g, c)) => {
                // The exact check's growth of the worst case, at unlimited rooms.
                let growth = e.room.check(&rule, &sym, side, qty as u64, 0, true, false);
                let growth = growth.map_or(qty as i128, i128::from);
                (qty as i128 + n, growth + g, notional as i128 + c)
            }
        };
        e.room.net = [net_room, net_room - 7];
        e.room.net[side as usize] = net_room;
        e.room.gross = gross_room;
        e.room.credit = credit_room;
        e.room.sync();
        let fast = e.room.check_new_order(&rule, &sym, side, qty, notional);
        let exact = e.room.check(&rule, &sym, side, qty as u64, notional as i128, true, false);
        if position.unsigned_abs() <= 1 << 60 {
            proptest::prop_assert_eq!(fast, exact);
        } else {
            proptest::prop_assert!(
                fast == exact || fast == Err(R::SymbolPositionLimit),
                "{:?} against {:?}",
                fast,
                exact
            );
        }
        // An accepted order taken from the copy leaves the exact rooms
        // (settled) where the exact path would have left them.
        if let Ok(worst) = fast {
            let before = e.room.settled();
            e.room.fast.net[side as usize] -= qty as i64;
            e.room.fast.credit -= notional;
            e.room.fast.gross -= worst as i64;
            let after = e.room.settled();
            proptest::prop_assert_eq!(after.net[side as usize], before.net[side as usize] - qty as i128);
            proptest::prop_assert_eq!(after.credit, before.credit - notional as i128);
            proptest::prop_assert_eq!(after.gross, before.gross - worst as i128);
            #[cfg(debug_assertions)]
            proptest::prop_assert!(e.room.fast_is_faithful());
        }
    }
}

#[test]
fn duplicate_found_behind_free_ways() {
    let mut e = one_bucket_engine(1_000);
    let mut id = 0;
    let mut new = |e: &mut RiskEngine, qty: u32, now: u64| {
        id += 1;
        one_bucket_order(e, id, qty, now)
    };
    // The seven ways hold quantities 1..6 from t = 10 and quantity 8 from
    // t = 500.
    for q in 1..=6 {
        assert_eq!(new(&mut e, q, 10), Ok(()));
    }
    assert_eq!(new(&mut e, 8, 500), Ok(()));
    // At t = 1,010 the first six have expired and their ways are free; the
    // seventh is still inside its window.
    assert_eq!(new(&mut e, 8, 1_010), Err(R::DuplicateOrder));
    assert_eq!(
        new(&mut e, 9, 1_010),
        Ok(()),
        "a new order takes a free way"
    );
    assert_eq!(new(&mut e, 9, 1_500), Err(R::DuplicateOrder));
    assert_eq!(
        new(&mut e, 8, 1_500),
        Ok(()),
        "window over: the way is refreshed"
    );
    assert_eq!(new(&mut e, 8, 2_499), Err(R::DuplicateOrder));
}

#[test]
fn the_first_way_is_each_of_the_seven_for_a_seventh_of_fingerprints() {
    let mut starts = [0u32; DUP_WAYS];
    for bits in 0..1u64 << 16 {
        starts[first_way(bits << 1 | 1)] += 1;
    }
    assert!(
        starts.iter().all(|&n| n.abs_diff(65_536 / 7) <= 1),
        "{starts:?}"
    );
}

/// In a bucket whose entries have all left the window a new order takes
/// its first way at once, and may leave an older copy of itself in another
/// way: a repeat inside the window must be judged by the newest copy, even
/// when the older one stands in a lower way.
#[test]
fn an_expired_bucket_is_taken_at_once_and_the_newest_copy_counts() {
    let mut e = one_bucket_engine(1_000);
    // Two orders whose search for a free way starts at the last way.
    let last = |q: &u32| first_way(dup_fingerprint(0, 1, Buy, Price(REF), *q)) == DUP_WAYS - 1;
    let mut quantities = (1..10_000u32).filter(last);
    let (Some(a), Some(b)) = (quantities.next(), quantities.next()) else {
        panic!("no two quantities start at the last way");
    };
    let mut id = 0;
    let mut new = |e: &mut RiskEngine, qty: u32, now: u64| {
        id += 1;
        one_bucket_order(e, id, qty, now)
    };
    let way_of = |e: &RiskEngine, qty: u32| {
        let fp = dup_fingerprint(0, 1, Buy, Price(REF), qty);
        let b = &e.dup.buckets[0];
        (0..DUP_WAYS).filter(|&w| b.fp[w] == fp).collect::<Vec<_>>()
    };
    // b takes the last way; a, finding it live, wraps round to way 0.
    assert_eq!(new(&mut e, b, 10), Ok(()));
    assert_eq!(new(&mut e, a, 20), Ok(()));
    assert_eq!(way_of(&e, a), [0]);
    // Long after, every entry has expired: a goes straight to the last way,
    // and its old copy stays in way 0.
    assert_eq!(new(&mut e, a, 5_000), Ok(()));
    assert_eq!(way_of(&e, a), [0, DUP_WAYS - 1]);
    // The repeat is judged by the copy of t = 5,000, not the one of t = 20.
    assert_eq!(new(&mut e, a, 5_100), Err(R::DuplicateOrder));
    assert_eq!(new(&mut e, a, 6_000), Ok(()), "window over");
    assert_eq!(new(&mut e, b, 6_010), Ok(()), "b's entry expired long ago");
    assert_eq!(new(&mut e, b, 6_020), Err(R::DuplicateOrder));
}

#[test]
fn fingerprints_tell_every_field_apart() {
    let mut seen = std::collections::HashSet::new();
    let mut n = 0;
    for strategy in [0, 1, 31, MAX_STRATEGIES - 1] {
        for locate in [0, 1, 255, 256, u16::MAX] {
            for side in [Buy, Sell] {
                for qty in [1, 2, 1 << 30, (1 << 30) + 1, u32::MAX] {
                    for price in [1, 2, REF, REF + 1, i64::MAX] {
                        let fp = dup_fingerprint(strategy, locate, side, Price(price), qty);
                        assert_ne!(fp, 0, "0 marks an empty way");
                        seen.insert(fp);
                        n += 1;
                    }
                }
            }
        }
    }
    assert_eq!(seen.len(), n);
}

#[test]
fn no_throttle_never_refuses() {
    let mut w = window::Window::new();
    for now in 0..1_000 {
        assert!(!w.would_exceed(&NO_THROTTLE, now));
        w.record(now);
    }
    assert!(!w.would_exceed(&NO_THROTTLE, 1_000));
}

#[test]
fn refusals_off_the_order_path_keep_their_reason() {
    macro_rules! each {
        ($($r:ident),*) => {
            $(assert_eq!(refused::<{ R::$r.index() as u8 }>(), R::$r);)*
            assert_eq!([$(R::$r),*], R::ALL, "every reason listed");
        };
    }
    each!(
        KillSwitch,
        MaxOrderQty,
        MaxNotional,
        PriceCollar,
        NoReferencePrice,
        SymbolPositionLimit,
        GrossPositionLimit,
        NetPositionLimit,
        CreditLimit,
        DuplicateOrder,
        RestrictedSymbol,
        OrderRateThrottle,
        CancelRateThrottle,
        MaxOpenOrders,
        SelfMatch,
        UnknownOrder,
        NoVenue,
        VenueReject,
        InvalidOrder,
        CapacityExhausted,
        NotSent,
        TradingClosed,
        NotReplaceable,
        EnteredVolumeLimit
    );
}

#[test]
fn partial_fills_keep_the_best_own_price() {
    let mut h = H::with(|_| {});
    let best = h.try_new(Sell, REF, 10).unwrap();
    let next = h.try_new(Sell, REF + 300, 10).unwrap();
    // Partly filled, the best sell still rests: a buy at it would self-match.
    h.fill(best, Sell, 4, REF);
    assert_eq!(h.e.open_qty(1), (0, 16));
    assert_eq!(h.e.position(1), -4);
    assert_eq!(h.try_new(Buy, REF, 1), Err(R::SelfMatch));
    assert!(h.try_new(Buy, REF - 1, 1).is_ok());
    // Filled completely, it is gone and the next one decides.
    h.fill(best, Sell, 6, REF);
    assert!(!h.e.is_open(best));
    assert_eq!(h.e.open_qty(1), (1, 10));
    assert!(h.try_new(Buy, REF + 299, 1).is_ok());
    h.fill(next, Sell, 9, REF + 300);
    assert_eq!(h.try_new(Buy, REF + 300, 1), Err(R::SelfMatch));
    // Gross and credit follow the fills exactly. Short 19 with 2 buys and
    // 1 sell open: worst case max(−19 + 2, 1 + 19) = 20.
    assert_eq!(h.e.gross_exposure(), 20);
    let open_notional = (REF - 1) as i128 + (REF + 299) as i128 + (REF + 300) as i128;
    let position_notional = 19 * (REF + 300) as i128;
    assert_eq!(h.e.credit_used(), open_notional + position_notional);
}

#[test]
fn a_replace_that_adds_only_notional_is_judged_against_every_limit() {
    // Limits tightened below what is already open (or filled): a replace
    // that asks for a higher buy price at the same size adds exposure (open
    // notional) and must pass every limit, share limits included. (Found by
    // the 20 M-intent independent checker, seed 102.)
    let net = |h: &mut H| {
        let mut l = h.e.limits().clone();
        l.max_net_position = 50;
        h.e.apply_limits(l, Nanos(h.now)).unwrap();
    };
    let position = |h: &mut H| {
        let mut l = h.e.limits().clone();
        l.default_symbol.max_position = 50;
        h.e.apply_limits(l, Nanos(h.now)).unwrap();
    };
    for (tighten, reason) in [
        (&net as &dyn Fn(&mut H), R::NetPositionLimit),
        (&position, R::SymbolPositionLimit),
    ] {
        let mut h = H::with(|_| {});
        let b = h.buy(100);
        tighten(&mut h);
        assert_eq!(h.replace(b, REF + 100, 100), Err(reason));
        assert_eq!(h.e.reject_count(reason), 1);
        // Nothing grows (a lower price, the same size): share limits are
        // not in the way of a replace that adds no exposure.
        assert!(h.replace(b, REF - 100, 100).is_ok());
    }
}

#[test]
fn capacity_beyond_u32_order_slots_is_refused_before_allocating() {
    let too_many = Capacity {
        orders: u32::MAX as usize + 1,
        ..SMALL
    };
    let err = RiskEngine::new(too_many, Limits::unlimited())
        .err()
        .expect("refused");
    assert_eq!(err.field, "capacity.orders");
    let symbols = Capacity {
        symbols: (1 << 16) + 1,
        ..SMALL
    };
    let err = RiskEngine::new(symbols, Limits::unlimited())
        .err()
        .expect("refused");
    assert_eq!(err.field, "capacity.symbols");
}

/// A new feed session renumbers instruments: the state of locate 1 moves
/// to locate 2 and the other way round. Position, open orders and their
/// fills, cancels and the position limit follow the state; the limits
/// (configured per locate) stay where they were; totals do not move.
#[test]
fn swapped_symbols_take_their_position_and_orders_along() {
    let mut h = H::with(|l| l.default_symbol.max_position = 300);
    let open = h.buy(100);
    let filled = h.buy(100);
    h.fill(filled, Side::Buy, 100, REF);
    assert_eq!(
        h.try_new_full(0, 2, Side::Sell, REF, 50, 0, Some(REF))
            .map(|_| ()),
        Ok(())
    );
    let (net, gross, credit) = (h.e.net_position(), h.e.gross_exposure(), h.e.credit_used());
    assert!(h.e.has_state(1) && h.e.has_state(2) && !h.e.has_state(3));

    h.e.swap_symbols(1, 2);
    assert_eq!(h.e.position(2), 100);
    assert_eq!(h.e.open_qty(2), (100, 0));
    assert_eq!(h.e.position(1), 0);
    assert_eq!(h.e.open_qty(1), (0, 50));
    assert_eq!(
        (h.e.net_position(), h.e.gross_exposure(), h.e.credit_used()),
        (net, gross, credit)
    );
    // The position limit holds under the new locate: 200 held or open,
    // 300 allowed.
    assert_eq!(
        h.try_new_full(0, 2, Side::Buy, REF, 101, 0, Some(REF)),
        Err(RejectReason::SymbolPositionLimit)
    );
    // A fill of the open order lands on its new locate (the OMS reports it
    // there), and its cancel finds it.
    h.e.on_fill(&Fill {
        order: open,
        locate: 2,
        side: Side::Buy,
        qty: 40,
        price: Price(REF),
    });
    assert_eq!(h.e.position(2), 140);
    assert_eq!(h.e.open_qty(2), (60, 0));
    assert_eq!(h.cancel(open), Ok(()));
    h.e.on_canceled(open);
    assert_eq!(h.e.open_qty(2), (0, 0));
    assert_eq!(h.e.unknown_events(), 0);
    // Swapping with an empty locate moves the state out entirely.
    h.e.swap_symbols(2, 9);
    assert_eq!(h.e.position(9), 140);
    assert!(!h.e.has_state(2));
    h.e.swap_symbols(2, 99); // beyond the table: nothing happens
    assert_eq!(h.e.position(9), 140);
}

/// State whose instrument has no known locate in the current session is
/// refused new orders and replaces, whatever the limits (and limits
/// applied meanwhile keep it so); cancels pass. Mapped again, the locate's
/// own limits apply.
#[test]
fn unmapped_state_refuses_new_orders_and_replaces_but_not_cancels() {
    let mut h = H::with(|_| {});
    let id = h.buy(100);
    h.e.set_unmapped(1, true);
    assert!(h.e.is_unmapped(1));
    assert_eq!(
        h.try_new(Side::Buy, REF, 100),
        Err(RejectReason::RestrictedSymbol)
    );
    assert_eq!(h.replace(id, REF, 200), Err(RejectReason::RestrictedSymbol));
    let mut l = Limits::unlimited();
    l.overrides.push((1, SymbolLimits::UNLIMITED)).unwrap();
    h.e.apply_limits(l.clone(), Nanos(h.now)).unwrap();
    assert_eq!(
        h.try_new(Side::Buy, REF, 100),
        Err(RejectReason::RestrictedSymbol)
    );
    // The mark travels with the state; the limits slot stays.
    h.e.swap_symbols(1, 3);
    assert!(h.e.is_unmapped(3) && !h.e.is_unmapped(1));
    assert_eq!(
        h.try_new_full(0, 1, Side::Buy, REF, 10, 0, Some(REF))
            .map(|_| ()),
        Ok(())
    );
    assert_eq!(
        h.try_new_full(0, 3, Side::Buy, REF, 10, 0, Some(REF)),
        Err(RejectReason::RestrictedSymbol)
    );
    assert_eq!(h.cancel(id), Ok(()));
    h.e.set_unmapped(3, false);
    assert_eq!(
        h.try_new_full(0, 3, Side::Buy, REF, 10, 0, Some(REF))
            .map(|_| ()),
        Ok(())
    );
}

// ------------------------------------------------------ busts and corrections

/// Position, net, gross, credit and open shares: what a bust must restore.
fn books(e: &RiskEngine) -> (i64, i64, i128, i128, (u64, u64), u32) {
    (
        e.position(1),
        e.net_position(),
        e.gross_exposure(),
        e.credit_used(),
        e.open_qty(1),
        e.open_orders(),
    )
}

#[test]
fn a_bust_reverses_the_position_part_of_a_fill_exactly() {
    let l = |l: &mut Limits| l.max_net_position = 10_000;
    // With the busted fill: two fills of a 300 order, then the second
    // busted and the venue still working what it did (100).
    let mut busted = H::with(l);
    let a = busted.buy(300);
    busted.fill(a, Buy, 100, REF);
    busted.fill(a, Buy, 100, REF);
    let second = Fill {
        order: a,
        locate: 1,
        side: Buy,
        qty: 100,
        price: Price(REF),
    };
    busted
        .e
        .on_fill_adjusted(&second, &Fill { qty: 0, ..second });
    busted.e.set_leaves(a, 100, 100);
    // Without it: one fill of a 200 order.
    let mut plain = H::with(l);
    let b = plain.buy(200);
    plain.fill(b, Buy, 100, REF);
    assert_eq!(books(&busted.e), books(&plain.e));
    assert_eq!(books(&busted.e).0, 100);
    // Room follows: the net limit allows exactly what it did before.
    assert_eq!(
        busted.try_new(Buy, REF, 9_801),
        Err(RejectReason::NetPositionLimit)
    );
    assert!(busted.try_new(Buy, REF, 9_800).is_ok());
}

#[test]
fn a_correction_moves_the_position_by_the_difference() {
    let mut h = H::new(Limits::unlimited());
    let a = h.buy(100);
    h.fill(a, Buy, 100, REF);
    let was = Fill {
        order: a,
        locate: 1,
        side: Buy,
        qty: 100,
        price: Price(REF),
    };
    h.e.on_fill_adjusted(
        &was,
        &Fill {
            qty: 60,
            price: Price(REF + 100),
            ..was
        },
    );
    assert_eq!((h.e.position(1), h.e.net_position()), (60, 60));
    // The mark stays the last fill's.
    assert_eq!(h.e.credit_used(), 60 * REF as i128);
}

#[test]
fn a_loss_from_a_correction_trips_the_kill_switch_as_a_fill_does() {
    let mut h = H::with(|l| l.max_daily_loss = 100);
    let a = h.buy(10);
    h.fill(a, Buy, 10, REF);
    h.e.on_pnl(-100);
    assert_eq!(h.e.tripped(), None);
    let was = Fill {
        order: a,
        locate: 1,
        side: Buy,
        qty: 10,
        price: Price(REF),
    };
    h.e.on_fill_adjusted(
        &was,
        &Fill {
            price: Price(REF + 1),
            ..was
        },
    );
    // The OMS reports the PnL the correction leaves: 10 shares 1 worse.
    h.e.on_pnl(-110);
    assert_eq!(h.e.tripped(), Some(TripCause::DailyLoss));
    assert_eq!(h.e.rearm(), Err(RearmError::LossStillBreached));
}

fn entered_volume(max_qty: u64, max_notional: u64, window_ns: u64) -> Option<VolumeLimit> {
    Some(VolumeLimit {
        max_qty,
        max_notional,
        window_ns,
    })
}

#[test]
fn entered_volume_refuses_a_stream_of_orders_each_within_every_other_limit() {
    // 1,000 shares or $150,000 a millisecond, each order 100 shares at $100.
    let mut h =
        H::with(|l| l.entered_volume = entered_volume(1_000, 1_500 * REF as u64, 1_000_000));
    let mut canceled = Vec::new();
    for k in 0..10 {
        // Each order canceled at once: entered volume counts what was
        // entered, however the orders end.
        let id = h.try_new(Buy, REF - k, 100);
        assert!(id.is_ok(), "order {k}: {id:?}");
        canceled.extend(id.ok());
    }
    for id in canceled {
        h.e.on_canceled(id);
    }
    let notional = (0..10).map(|k| 100 * (REF - k) as u64).sum();
    assert_eq!(h.e.entered_volume(), (1_000, notional));
    assert_eq!(h.try_new(Buy, REF - 20, 1), Err(R::EnteredVolumeLimit));
    assert_eq!(h.e.reject_count(R::EnteredVolumeLimit), 1);
    // Still inside the window (it is counted for at least a window).
    h.now += 999_999;
    assert_eq!(h.try_new(Buy, REF - 21, 1), Err(R::EnteredVolumeLimit));
    // Eight buckets of a seventh of the window after the first order, all
    // of it has left.
    h.now = 1_000_000 + 8 * 1_000_000u64.div_ceil(7);
    assert!(h.try_new(Buy, REF - 22, 1_000).is_ok());
    // The notional limit, on its own: 1,000 shares at $200 is $200,000.
    let mut h =
        H::with(|l| l.entered_volume = entered_volume(1_000_000, 1_500 * REF as u64, 1_000_000));
    assert_eq!(h.try_new(Buy, 2 * REF, 1_000), Err(R::EnteredVolumeLimit));
    assert!(h.try_new(Buy, 2 * REF, 750).is_ok(), "exactly $150,000");
    assert_eq!(h.try_new(Buy, REF, 1), Err(R::EnteredVolumeLimit));
}

#[test]
fn entered_volume_counts_what_a_replace_adds_and_an_unsent_order_gives_back() {
    let mut h = H::with(|l| l.entered_volume = entered_volume(1_000, u64::MAX, 1_000_000));
    let id = h.buy(600);
    // A smaller replace enters nothing; a larger one its increase.
    assert_eq!(h.replace(id, REF, 500), Ok(()));
    h.e.on_replaced(id, Price(REF), 500);
    assert_eq!(h.e.entered_volume().0, 600);
    assert_eq!(h.replace(id, REF, 901), Err(R::EnteredVolumeLimit));
    assert_eq!(h.replace(id, REF, 900), Ok(()));
    assert_eq!(h.e.entered_volume().0, 1_000);
    // An order that never left takes its volume back.
    let mut h = H::with(|l| l.entered_volume = entered_volume(1_000, u64::MAX, 1_000_000));
    let id = h.buy(1_000);
    h.e.on_new_unsent(id);
    assert_eq!(h.e.entered_volume(), (0, 0));
    assert!(h.try_new(Buy, REF, 1_000).is_ok());
}

#[test]
fn entered_volume_limits_change_at_run_time() {
    let mut h = H::with(|l| l.entered_volume = entered_volume(1_000, u64::MAX, 1_000_000));
    h.buy(800);
    let mut lower = h.e.limits().clone();
    lower.entered_volume = entered_volume(500, u64::MAX, 1_000_000);
    h.e.apply_limits(lower.clone(), Nanos(h.now))
        .expect("valid");
    assert_eq!(h.try_new(Buy, REF - 1, 1), Err(R::EnteredVolumeLimit));
    // Off: nothing refused, and still counted for a limit set later.
    let mut off = lower.clone();
    off.entered_volume = None;
    h.e.apply_limits(off, Nanos(h.now)).expect("valid");
    assert!(h.try_new(Buy, REF - 2, 5_000).is_ok());
    h.e.apply_limits(lower, Nanos(h.now)).expect("valid");
    assert_eq!(h.try_new(Buy, REF - 3, 1), Err(R::EnteredVolumeLimit));
    // A window of 0 is refused, naming the field.
    let mut bad = h.e.limits().clone();
    bad.entered_volume = entered_volume(1, 1, 0);
    assert_eq!(
        h.e.apply_limits(bad, Nanos(h.now)).map_err(|e| e.field),
        Err("entered_volume.window_ns")
    );
}
