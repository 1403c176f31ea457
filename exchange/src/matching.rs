//! Price-time priority matching for one symbol.
//!
//! An incoming order first executes against the best opposite prices, oldest
//! order first at each price, at the resting order's price; what remains
//! rests (day orders) or is cancelled (immediate-or-cancel). Post-only
//! orders that would execute are rejected. Replace follows exchange
//! practice: a price change or a size increase loses time priority (new
//! order reference), a size decrease keeps it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use types::{Price, Side, TimeInForce};

/// Who an order belongs to: a background participant or a FIX session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Owner(pub u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestingOrder {
    pub order_ref: u64,
    pub owner: Owner,
    pub side: Side,
    pub price: Price,
    /// Shares still open.
    pub leaves: u32,
}

/// What happened, in order. Feed messages and execution reports are both
/// derived from these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// An order (or its remainder) now rests on the book.
    Added {
        order_ref: u64,
        owner: Owner,
        side: Side,
        price: Price,
        qty: u32,
    },
    /// A resting order traded with an incoming one, at the resting price.
    Executed {
        resting_ref: u64,
        resting_owner: Owner,
        /// Side of the resting order.
        resting_side: Side,
        aggressor_ref: u64,
        aggressor_owner: Owner,
        price: Price,
        qty: u32,
        match_number: u64,
        resting_leaves: u32,
    },
    /// Shares removed from a resting order; `leaves == 0` means it is gone.
    Canceled {
        order_ref: u64,
        owner: Owner,
        qty: u32,
        leaves: u32,
    },
    /// A resting order changed; `old_ref == new_ref` when it kept priority.
    Replaced {
        old_ref: u64,
        new_ref: u64,
        owner: Owner,
        side: Side,
        price: Price,
        qty: u32,
        /// Shares open before the replace.
        previous_leaves: u32,
    },
    /// The unexecuted rest of an immediate-or-cancel order went away.
    Expired {
        order_ref: u64,
        owner: Owner,
        qty: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    ZeroQuantity,
    /// Price not positive or not a multiple of the tick.
    BadPrice,
    /// A post-only order would have executed.
    WouldTrade,
    UnknownOrder,
}

/// Where the next order reference and match number come from; shared by all
/// symbols of a venue (ITCH references are unique across the market).
#[derive(Debug, Default)]
pub struct Sequences {
    next_ref: u64,
    next_match: u64,
}

impl Sequences {
    pub fn new(first_ref: u64) -> Sequences {
        Sequences {
            next_ref: first_ref,
            next_match: 1,
        }
    }
    /// The reference the next order will get.
    pub fn peek_order_ref(&self) -> u64 {
        self.next_ref + 1
    }
    fn order_ref(&mut self) -> u64 {
        self.next_ref += 1;
        self.next_ref
    }
    fn match_number(&mut self) -> u64 {
        let m = self.next_match;
        self.next_match += 1;
        m
    }
}

/// One symbol's book.
#[derive(Debug)]
pub struct Engine {
    tick: Price,
    bids: BTreeMap<Price, VecDeque<u64>>,
    asks: BTreeMap<Price, VecDeque<u64>>,
    orders: HashMap<u64, RestingOrder>,
}

impl Engine {
    pub fn new(tick: Price) -> Engine {
        Engine {
            tick,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            orders: HashMap::new(),
        }
    }

    pub fn tick(&self) -> Price {
        self.tick
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<Price, VecDeque<u64>> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Best bid and ask prices with their total size.
    pub fn best(&self, side: Side) -> Option<(Price, u64)> {
        let level = match side {
            Side::Buy => self.bids.iter().next_back(),
            Side::Sell => self.asks.iter().next(),
        }?;
        let qty = level
            .1
            .iter()
            .filter_map(|r| self.orders.get(r))
            .map(|o| o.leaves as u64)
            .sum();
        Some((*level.0, qty))
    }

    /// Up to `n` levels of `side`, best first: (price, shares, orders).
    pub fn depth(&self, side: Side, n: usize) -> Vec<(Price, u64, usize)> {
        let level = |(p, q): (&Price, &VecDeque<u64>)| {
            let shares = q
                .iter()
                .filter_map(|r| self.orders.get(r))
                .map(|o| o.leaves as u64)
                .sum();
            (*p, shares, q.len())
        };
        match side {
            Side::Buy => self.bids.iter().rev().take(n).map(level).collect(),
            Side::Sell => self.asks.iter().take(n).map(level).collect(),
        }
    }

    pub fn order(&self, order_ref: u64) -> Option<&RestingOrder> {
        self.orders.get(&order_ref)
    }

    pub fn resting_orders(&self) -> impl Iterator<Item = &RestingOrder> {
        self.orders.values()
    }

    fn valid_price(&self, price: Price) -> bool {
        price.0 > 0 && price.0 <= u32::MAX as i64 && price.0 % self.tick.0 == 0
    }

    /// Enters a new order; returns its reference (also for an IOC that did
    /// not rest, so executions can be attributed).
    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        &mut self,
        seq: &mut Sequences,
        owner: Owner,
        side: Side,
        price: Price,
        qty: u32,
        tif: TimeInForce,
        events: &mut Vec<Event>,
    ) -> Result<u64, Reject> {
        if qty == 0 {
            return Err(Reject::ZeroQuantity);
        }
        if !self.valid_price(price) {
            return Err(Reject::BadPrice);
        }
        let crosses =
            |best: Option<(Price, u64)>| best.is_some_and(|(p, _)| !side.is_better(p, price));
        let opposite_best = self.best(side.opposite());
        if tif == TimeInForce::PostOnly && crosses(opposite_best) {
            return Err(Reject::WouldTrade);
        }
        let order_ref = seq.order_ref();
        let mut remaining = qty;
        while remaining > 0 {
            let Some((level_price, _)) = self.best(side.opposite()) else {
                break;
            };
            // The opposite best is worse than our limit: nothing more to take.
            if side.is_better(level_price, price) {
                break;
            }
            remaining =
                self.execute_level(seq, order_ref, owner, side, level_price, remaining, events);
        }
        if remaining > 0 {
            match tif {
                TimeInForce::Day | TimeInForce::PostOnly => {
                    self.rest(RestingOrder {
                        order_ref,
                        owner,
                        side,
                        price,
                        leaves: remaining,
                    });
                    events.push(Event::Added {
                        order_ref,
                        owner,
                        side,
                        price,
                        qty: remaining,
                    });
                }
                TimeInForce::ImmediateOrCancel => events.push(Event::Expired {
                    order_ref,
                    owner,
                    qty: remaining,
                }),
            }
        }
        Ok(order_ref)
    }

    /// Executes against the orders at `level_price` on the opposite side;
    /// returns the aggressor's remaining quantity.
    #[allow(clippy::too_many_arguments)]
    fn execute_level(
        &mut self,
        seq: &mut Sequences,
        aggressor_ref: u64,
        aggressor_owner: Owner,
        side: Side,
        level_price: Price,
        mut remaining: u32,
        events: &mut Vec<Event>,
    ) -> u32 {
        let resting_side = side.opposite();
        while remaining > 0 {
            let Some(&resting_ref) = self
                .side_mut(resting_side)
                .get(&level_price)
                .and_then(|q| q.front())
            else {
                break;
            };
            let Some(resting) = self.orders.get_mut(&resting_ref) else {
                // A stale queue entry: drop it.
                self.pop_front(resting_side, level_price);
                continue;
            };
            let qty = remaining.min(resting.leaves);
            resting.leaves -= qty;
            remaining -= qty;
            let resting = *resting;
            events.push(Event::Executed {
                resting_ref,
                resting_owner: resting.owner,
                resting_side,
                aggressor_ref,
                aggressor_owner,
                price: level_price,
                qty,
                match_number: seq.match_number(),
                resting_leaves: resting.leaves,
            });
            if resting.leaves == 0 {
                self.orders.remove(&resting_ref);
                self.pop_front(resting_side, level_price);
            }
        }
        remaining
    }

    fn pop_front(&mut self, side: Side, price: Price) {
        let book = self.side_mut(side);
        if let Some(queue) = book.get_mut(&price) {
            queue.pop_front();
            if queue.is_empty() {
                book.remove(&price);
            }
        }
    }

    fn rest(&mut self, order: RestingOrder) {
        self.side_mut(order.side)
            .entry(order.price)
            .or_default()
            .push_back(order.order_ref);
        self.orders.insert(order.order_ref, order);
    }

    fn unlink(&mut self, order: &RestingOrder) {
        let book = self.side_mut(order.side);
        if let Some(queue) = book.get_mut(&order.price) {
            queue.retain(|&r| r != order.order_ref);
            if queue.is_empty() {
                book.remove(&order.price);
            }
        }
    }

    /// Cancels `qty` shares (all of them when `None` or more than open).
    pub fn cancel(
        &mut self,
        order_ref: u64,
        qty: Option<u32>,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let order = *self.orders.get(&order_ref).ok_or(Reject::UnknownOrder)?;
        let cut = qty.unwrap_or(order.leaves).min(order.leaves);
        let leaves = order.leaves - cut;
        if leaves == 0 {
            self.orders.remove(&order_ref);
            self.unlink(&order);
        } else if let Some(o) = self.orders.get_mut(&order_ref) {
            o.leaves = leaves;
        }
        events.push(Event::Canceled {
            order_ref,
            owner: order.owner,
            qty: cut,
            leaves,
        });
        Ok(())
    }

    /// Changes price and/or size. A size decrease at the same price keeps
    /// the reference and priority; anything else is a new order reference at
    /// the back of the queue, and may execute if the new price crosses.
    pub fn replace(
        &mut self,
        seq: &mut Sequences,
        order_ref: u64,
        price: Price,
        qty: u32,
        events: &mut Vec<Event>,
    ) -> Result<u64, Reject> {
        let order = *self.orders.get(&order_ref).ok_or(Reject::UnknownOrder)?;
        if qty == 0 {
            return Err(Reject::ZeroQuantity);
        }
        if !self.valid_price(price) {
            return Err(Reject::BadPrice);
        }
        if price == order.price && qty <= order.leaves {
            if let Some(o) = self.orders.get_mut(&order_ref) {
                o.leaves = qty;
            }
            events.push(Event::Replaced {
                old_ref: order_ref,
                new_ref: order_ref,
                owner: order.owner,
                side: order.side,
                price,
                qty,
                previous_leaves: order.leaves,
            });
            return Ok(order_ref);
        }
        self.orders.remove(&order_ref);
        self.unlink(&order);
        let crosses = self
            .best(order.side.opposite())
            .is_some_and(|(p, _)| !order.side.is_better(p, price));
        if crosses {
            // A marketable replace: the old order is gone, the new one trades.
            events.push(Event::Canceled {
                order_ref,
                owner: order.owner,
                qty: order.leaves,
                leaves: 0,
            });
            return self.submit(
                seq,
                order.owner,
                order.side,
                price,
                qty,
                TimeInForce::Day,
                events,
            );
        }
        let new_ref = seq.order_ref();
        self.rest(RestingOrder {
            order_ref: new_ref,
            owner: order.owner,
            side: order.side,
            price,
            leaves: qty,
        });
        events.push(Event::Replaced {
            old_ref: order_ref,
            new_ref,
            owner: order.owner,
            side: order.side,
            price,
            qty,
            previous_leaves: order.leaves,
        });
        Ok(new_ref)
    }

    /// Cancels every resting order of `owner` (cancel on disconnect).
    pub fn cancel_all_of(&mut self, owner: Owner, events: &mut Vec<Event>) -> usize {
        let mut refs: Vec<u64> = self
            .orders
            .values()
            .filter(|o| o.owner == owner)
            .map(|o| o.order_ref)
            .collect();
        refs.sort_unstable();
        for r in &refs {
            let _ = self.cancel(*r, None, events);
        }
        refs.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Price = Price(100);
    const A: Owner = Owner(1);
    const B: Owner = Owner(2);
    const C: Owner = Owner(3);

    fn px(cents: i64) -> Price {
        Price(cents * 100)
    }

    fn engine() -> (Engine, Sequences) {
        (Engine::new(TICK), Sequences::new(1000))
    }

    /// Most scenarios are made of plain day orders the engine must accept;
    /// the full `submit` call is left to the orders that test a time in
    /// force or a rejection, so that those stand out.
    fn day(
        e: &mut Engine,
        s: &mut Sequences,
        ev: &mut Vec<Event>,
        owner: Owner,
        side: Side,
        price: Price,
        qty: u32,
    ) -> u64 {
        e.submit(s, owner, side, price, qty, TimeInForce::Day, ev)
            .unwrap()
    }

    #[test]
    fn resting_orders_and_best_prices() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        day(&mut e, &mut s, &mut ev, A, Side::Buy, px(1000), 100);
        day(&mut e, &mut s, &mut ev, B, Side::Buy, px(1001), 50);
        day(&mut e, &mut s, &mut ev, C, Side::Sell, px(1003), 70);
        assert_eq!(e.best(Side::Buy), Some((px(1001), 50)));
        assert_eq!(e.best(Side::Sell), Some((px(1003), 70)));
        assert_eq!(ev.len(), 3);
        assert!(ev.iter().all(|e| matches!(e, Event::Added { .. })));
        assert_eq!(
            e.depth(Side::Buy, 5),
            vec![(px(1001), 50, 1), (px(1000), 100, 1)]
        );
    }

    #[test]
    fn price_then_time_priority_at_resting_prices() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        let first = day(&mut e, &mut s, &mut ev, A, Side::Sell, px(1002), 30);
        let second = day(&mut e, &mut s, &mut ev, B, Side::Sell, px(1002), 30);
        let better = day(&mut e, &mut s, &mut ev, C, Side::Sell, px(1001), 10);
        ev.clear();
        let buy = day(&mut e, &mut s, &mut ev, C, Side::Buy, px(1005), 50);
        let fills: Vec<_> = ev
            .iter()
            .filter_map(|e| match *e {
                Event::Executed {
                    resting_ref,
                    price,
                    qty,
                    aggressor_ref,
                    resting_leaves,
                    ..
                } => {
                    assert_eq!(aggressor_ref, buy);
                    Some((resting_ref, price, qty, resting_leaves))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            fills,
            vec![
                (better, px(1001), 10, 0),
                (first, px(1002), 30, 0),
                (second, px(1002), 10, 20)
            ]
        );
        assert!(
            !ev.iter().any(|e| matches!(e, Event::Added { .. })),
            "fully filled aggressor must not rest"
        );
        assert_eq!(e.best(Side::Sell), Some((px(1002), 20)));
        let numbers: Vec<_> = ev
            .iter()
            .filter_map(|e| {
                if let Event::Executed { match_number, .. } = e {
                    Some(*match_number)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(numbers, vec![1, 2, 3]);
    }

    #[test]
    fn remainder_rests_or_expires() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        day(&mut e, &mut s, &mut ev, A, Side::Sell, px(1000), 10);
        ev.clear();
        let r = day(&mut e, &mut s, &mut ev, B, Side::Buy, px(1000), 25);
        assert!(
            matches!(ev.last(), Some(Event::Added { order_ref, qty: 15, .. }) if *order_ref == r)
        );
        ev.clear();
        e.submit(
            &mut s,
            C,
            Side::Sell,
            px(999),
            40,
            TimeInForce::ImmediateOrCancel,
            &mut ev,
        )
        .unwrap();
        assert!(matches!(ev.last(), Some(Event::Expired { qty: 25, .. })));
        assert_eq!(e.best(Side::Buy), None);
        assert_eq!(e.best(Side::Sell), None, "IOC remainder must not rest");
    }

    #[test]
    fn post_only_and_bad_input_are_rejected() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        day(&mut e, &mut s, &mut ev, A, Side::Sell, px(1000), 10);
        assert_eq!(
            e.submit(
                &mut s,
                B,
                Side::Buy,
                px(1000),
                5,
                TimeInForce::PostOnly,
                &mut ev
            ),
            Err(Reject::WouldTrade)
        );
        assert!(e
            .submit(
                &mut s,
                B,
                Side::Buy,
                px(999),
                5,
                TimeInForce::PostOnly,
                &mut ev
            )
            .is_ok());
        assert_eq!(
            e.submit(
                &mut s,
                B,
                Side::Buy,
                Price(150),
                5,
                TimeInForce::Day,
                &mut ev
            ),
            Err(Reject::BadPrice)
        );
        assert_eq!(
            e.submit(&mut s, B, Side::Buy, px(999), 0, TimeInForce::Day, &mut ev),
            Err(Reject::ZeroQuantity)
        );
        assert_eq!(e.cancel(42, None, &mut ev), Err(Reject::UnknownOrder));
    }

    #[test]
    fn cancel_partial_and_full() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        let r = day(&mut e, &mut s, &mut ev, A, Side::Buy, px(1000), 100);
        e.cancel(r, Some(30), &mut ev).unwrap();
        assert_eq!(e.best(Side::Buy), Some((px(1000), 70)));
        e.cancel(r, None, &mut ev).unwrap();
        assert_eq!(e.best(Side::Buy), None);
        assert_eq!(
            ev[1..],
            [
                Event::Canceled {
                    order_ref: r,
                    owner: A,
                    qty: 30,
                    leaves: 70
                },
                Event::Canceled {
                    order_ref: r,
                    owner: A,
                    qty: 70,
                    leaves: 0
                }
            ]
        );
    }

    #[test]
    fn replace_keeps_priority_only_for_size_decrease() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        let a = day(&mut e, &mut s, &mut ev, A, Side::Sell, px(1000), 100);
        let b = day(&mut e, &mut s, &mut ev, B, Side::Sell, px(1000), 100);
        assert_eq!(
            e.replace(&mut s, a, px(1000), 60, &mut ev),
            Ok(a),
            "decrease keeps the reference"
        );
        let b2 = e.replace(&mut s, b, px(1000), 150, &mut ev).unwrap();
        assert_ne!(b2, b, "increase gets a new reference");
        ev.clear();
        day(&mut e, &mut s, &mut ev, C, Side::Buy, px(1000), 70);
        let hit: Vec<_> = ev
            .iter()
            .filter_map(|e| {
                if let Event::Executed {
                    resting_ref, qty, ..
                } = e
                {
                    Some((*resting_ref, *qty))
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(hit, vec![(a, 60), (b2, 10)]);
    }

    #[test]
    fn marketable_replace_trades() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        day(&mut e, &mut s, &mut ev, A, Side::Sell, px(1005), 50);
        let bid = day(&mut e, &mut s, &mut ev, B, Side::Buy, px(1000), 20);
        ev.clear();
        e.replace(&mut s, bid, px(1005), 20, &mut ev).unwrap();
        assert!(matches!(ev[0], Event::Canceled { order_ref, leaves: 0, .. } if order_ref == bid));
        assert!(matches!(ev[1], Event::Executed { qty: 20, .. }));
        assert_eq!(e.best(Side::Sell), Some((px(1005), 30)));
    }

    #[test]
    fn cancel_on_disconnect_removes_only_that_owner() {
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        for i in 0..5 {
            day(&mut e, &mut s, &mut ev, A, Side::Buy, px(990 + i), 10);
            day(&mut e, &mut s, &mut ev, B, Side::Sell, px(1010 + i), 10);
        }
        ev.clear();
        assert_eq!(e.cancel_all_of(A, &mut ev), 5);
        assert_eq!(e.best(Side::Buy), None);
        assert_eq!(e.best(Side::Sell), Some((px(1010), 10)));
        assert!(ev.iter().all(|e| matches!(
            e,
            Event::Canceled {
                owner: A,
                leaves: 0,
                ..
            }
        )));
    }

    #[test]
    fn conservation_over_random_flow() {
        // Shares in = shares resting + 2 × shares executed + cancelled + expired.
        let (mut e, mut s) = engine();
        let mut ev = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut entered = 0u64;
        for _ in 0..20_000 {
            let side = if rnd(2) == 0 { Side::Buy } else { Side::Sell };
            let qty = rnd(500) as u32 + 1;
            let price = px(1000 + rnd(21) as i64 - 10);
            let tif = if rnd(10) == 0 {
                TimeInForce::ImmediateOrCancel
            } else {
                TimeInForce::Day
            };
            if rnd(4) == 0 {
                let refs: Vec<u64> = e.resting_orders().map(|o| o.order_ref).collect();
                if let Some(&r) = refs.get(rnd(refs.len().max(1) as u64) as usize) {
                    e.cancel(r, None, &mut ev).unwrap();
                }
            } else {
                e.submit(&mut s, Owner(rnd(5) as u32), side, price, qty, tif, &mut ev)
                    .unwrap();
                entered += qty as u64;
            }
            if let (Some((b, _)), Some((a, _))) = (e.best(Side::Buy), e.best(Side::Sell)) {
                assert!(b < a, "crossed book {b} >= {a}");
            }
        }
        let resting: u64 = e.resting_orders().map(|o| o.leaves as u64).sum();
        let (mut executed, mut gone) = (0u64, 0u64);
        for event in &ev {
            match *event {
                Event::Executed { qty, .. } => executed += qty as u64,
                Event::Canceled { qty, .. } | Event::Expired { qty, .. } => gone += qty as u64,
                _ => {}
            }
        }
        assert_eq!(entered, resting + 2 * executed + gone);
    }
}
