//! A strategy's own orders: what it has sent, what the OMS has acknowledged,
//! and where each resting order stands in the queue.
//!
//! # Correlating acknowledgements with intents
//!
//! `OrderIntent::New` carries no order id: the OMS assigns one. The tracker
//! relies on the pipeline's ordering guarantee: **for one strategy, every
//! `New` intent is answered by exactly one `Entered` (the OMS sent it under
//! that id) or one `Rejected { order: None }` (risk refused it), at once and
//! in the order the intents were emitted**. The appliance runs strategies →
//! risk → OMS on one core in sequence, so this holds by construction; a host
//! that drops an intent must answer it with `Rejected { order: None }` (see
//! [`crate::Intents`]).
//!
//! The tracker keeps a FIFO of slots awaiting their id and binds each
//! `Entered` to the oldest. From then on the venue's answers find the slot
//! by id, in whatever order the venues send them: `Accepted` makes it live,
//! a reject frees it, a fill before the acknowledgement counts as one.
//!
//! A host without `Entered` (older replays, hand-written tests) still works
//! when its venue answers in entry order: an `Accepted` for an unknown id
//! binds to the oldest slot still waiting. An `Accepted` that arrives with
//! nothing waiting cannot be matched to anything the strategy meant to send,
//! so the tracker cancels it at once and counts it: an unexplained live order
//! is never left in the market. Events for ids the tracker does not know
//! (late cancels for orders that already filled, for instance) are counted
//! and otherwise ignored.
//!
//! Rejections of cancels and replaces, and venue rejections of entered
//! orders, name the order (`order: Some`); a `Rejected { order: None }`
//! always consumes the oldest `New` still waiting for its id.

use heapless::Deque;
use types::{
    Level, OrderEvent, OrderId, OrderIntent, Price, Side, StockLocate, StrategyId, Symbol,
    TimeInForce,
};

use crate::Intents;

/// Lifecycle of one tracked order slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderState {
    /// Unused.
    #[default]
    Free,
    /// `New` sent, no `Accepted` yet (the id is known once `Entered`).
    PendingNew,
    /// Acknowledged and resting (or working, for IOC until it is done).
    Live,
    /// `Cancel` sent for a live order.
    PendingCancel,
    /// `Replace` sent for a live order; price and quantity asked for.
    PendingReplace { price: Price, qty: u32 },
}

/// One order the strategy owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnOrder {
    pub state: OrderState,
    /// Valid once accepted.
    pub id: OrderId,
    pub locate: StockLocate,
    pub side: Side,
    pub price: Price,
    /// Shares still open.
    pub leaves: u32,
    pub tif: TimeInForce,
    /// Estimated displayed shares ahead of us at our price (see
    /// [`OwnOrders::on_level`] and [`OwnOrders::on_trade`]).
    pub queue_ahead: u64,
    /// The venue refused the last replace of this order: sending the same
    /// one again would be refused again, so an owner cancels instead.
    pub replace_refused: bool,
}

impl Default for OwnOrder {
    fn default() -> Self {
        OwnOrder {
            state: OrderState::Free,
            id: OrderId(0),
            locate: 0,
            side: Side::Buy,
            price: Price::ZERO,
            leaves: 0,
            tif: TimeInForce::Day,
            queue_ahead: 0,
            replace_refused: false,
        }
    }
}

impl OwnOrder {
    /// Accepted and not waiting on a cancel or replace: it may be modified.
    pub fn is_live(&self) -> bool {
        self.state == OrderState::Live
    }

    /// Anything in flight or resting.
    pub fn is_active(&self) -> bool {
        // A variant test, not the derived `!=` (which also compares the
        // fields of `PendingReplace`): this runs in every slot scan.
        !matches!(self.state, OrderState::Free)
    }
}

/// What an order event did to the tracked orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderUpdate {
    /// The event was for another strategy, or for an id we no longer track.
    Ignored,
    /// A pending `New` learnt its order id; the venue has not answered.
    Entered {
        slot: usize,
    },
    Accepted {
        slot: usize,
    },
    /// A fill on a tracked order; `done` when nothing is left open.
    Filled {
        slot: usize,
        done: bool,
    },
    /// A cancel or IOC remainder completed; the slot is free again.
    Canceled {
        slot: usize,
    },
    Replaced {
        slot: usize,
    },
    /// A `New` was refused (slot freed) or a cancel/replace was refused (slot
    /// live again, `slot_freed == false`). `side` and `price` are those of
    /// the request refused (and `locate` its instrument) — the new order's
    /// price, a replace's new price, `None` for a cancel — so an owner can hold that side off (see
    /// [`crate::refusal`]).
    Rejected {
        slot: usize,
        slot_freed: bool,
        locate: StockLocate,
        side: Side,
        price: Option<Price>,
    },
    /// An acknowledgement nobody asked for; a cancel was emitted for it.
    UnexpectedAccept {
        order: OrderId,
    },
}

/// Counters for events the tracker could not match.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// `Accepted` with nothing pending: cancelled on sight.
    pub unexpected_accepts: u64,
    /// Events naming an id we do not track.
    pub unknown_order_events: u64,
    /// `New` refused locally because every slot was in use.
    pub slots_exhausted: u64,
}

/// Fixed set of `K` order slots for one strategy (`K` ≤ 255).
#[derive(Debug, Clone)]
pub struct OwnOrders<const K: usize> {
    strategy: StrategyId,
    slots: [OwnOrder; K],
    awaiting_ack: Deque<u8, K>,
    stats: TrackerStats,
    /// Bumped by every change to the slots (see [`OwnOrders::version`]).
    version: u64,
}

impl<const K: usize> OwnOrders<K> {
    pub fn new(strategy: StrategyId) -> Self {
        const { assert!(K <= 255, "slot indices are stored as u8") };
        OwnOrders {
            strategy,
            slots: [OwnOrder::default(); K],
            awaiting_ack: Deque::new(),
            stats: TrackerStats::default(),
            version: 0,
        }
    }

    /// Changes whenever any slot may have changed (state, price, queue
    /// estimate, anything): equal versions mean the same slots, so a
    /// decision that only read them can be reused (it may also change
    /// without a slot changing; it wraps only after 2⁶⁴ changes).
    #[inline]
    pub fn version(&self) -> u64 {
        self.version
    }

    #[inline]
    fn bump(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    pub fn strategy(&self) -> StrategyId {
        self.strategy
    }

    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    pub fn get(&self, slot: usize) -> Option<&OwnOrder> {
        self.slots.get(slot)
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &OwnOrder)> {
        self.slots.iter().enumerate().filter(|(_, o)| o.is_active())
    }

    /// Orders on locate `a` are from now on on `b` and the other way round
    /// (a new feed session numbered the instruments anew), every slot,
    /// active or not.
    pub fn swap_locates(&mut self, a: StockLocate, b: StockLocate) {
        for o in self.slots.iter_mut() {
            if o.locate == a {
                o.locate = b;
            } else if o.locate == b {
                o.locate = a;
            }
        }
        self.version = self.version.wrapping_add(1);
    }

    /// The first active order on `locate`/`side`, if any.
    pub fn find(&self, locate: StockLocate, side: Side) -> Option<usize> {
        self.slots
            .iter()
            .position(|o| o.is_active() && o.locate == locate && o.side == side)
    }

    /// True when any order on `locate` is in flight or resting.
    pub fn any_active_on(&self, locate: StockLocate) -> bool {
        self.slots
            .iter()
            .any(|o| o.is_active() && o.locate == locate)
    }

    pub fn active_count(&self) -> usize {
        self.slots.iter().filter(|o| o.is_active()).count()
    }

    /// The slot of order `id`: any active slot that has learnt its id
    /// (`OrderId(0)` is never an OMS id; it marks a slot still waiting).
    fn find_id(&self, id: OrderId) -> Option<usize> {
        if id == OrderId(0) {
            return None;
        }
        self.slots.iter().position(|o| o.id == id && o.is_active())
    }

    /// Binds the oldest slot waiting for its id to `order`.
    fn bind_oldest(&mut self, order: OrderId) -> Option<usize> {
        let slot = usize::from(self.awaiting_ack.pop_front()?);
        if let Some(o) = self.slots.get_mut(slot) {
            o.id = order;
        }
        Some(slot)
    }

    /// Emits a `New` and tracks it. `None` (nothing emitted) when no slot is
    /// free or the intent buffer is full.
    #[allow(clippy::too_many_arguments)]
    pub fn submit_new<const N: usize>(
        &mut self,
        locate: StockLocate,
        symbol: Symbol,
        side: Side,
        price: Price,
        qty: u32,
        tif: TimeInForce,
        out: &mut Intents<N>,
    ) -> Option<usize> {
        let Some(slot) = self.slots.iter().position(|o| !o.is_active()) else {
            self.stats.slots_exhausted += 1;
            return None;
        };
        let intent = OrderIntent::New {
            strategy: self.strategy,
            locate,
            symbol,
            side,
            price,
            qty,
            tif,
        };
        if !out.push(intent) {
            return None;
        }
        // Cannot fail: the deque has K entries and at most K slots are pending.
        if self.awaiting_ack.push_back(slot as u8).is_err() {
            return None;
        }
        self.bump();
        self.slots[slot] = OwnOrder {
            state: OrderState::PendingNew,
            id: OrderId(0),
            locate,
            side,
            price,
            leaves: qty,
            tif,
            queue_ahead: 0,
            replace_refused: false,
        };
        Some(slot)
    }

    /// Emits a `Cancel` for a live order; `false` if it is not live or the
    /// buffer is full.
    pub fn cancel<const N: usize>(&mut self, slot: usize, out: &mut Intents<N>) -> bool {
        let Some(order) = self.slots.get_mut(slot) else {
            return false;
        };
        if !order.is_live() {
            return false;
        }
        if !out.push(OrderIntent::Cancel {
            strategy: self.strategy,
            order: order.id,
        }) {
            return false;
        }
        order.state = OrderState::PendingCancel;
        self.bump();
        true
    }

    /// Emits a `Replace` for a live order; `false` if it is not live or the
    /// buffer is full.
    pub fn replace<const N: usize>(
        &mut self,
        slot: usize,
        price: Price,
        qty: u32,
        out: &mut Intents<N>,
    ) -> bool {
        let Some(order) = self.slots.get_mut(slot) else {
            return false;
        };
        if !order.is_live() {
            return false;
        }
        if !out.push(OrderIntent::Replace {
            strategy: self.strategy,
            order: order.id,
            price,
            qty,
        }) {
            return false;
        }
        order.state = OrderState::PendingReplace { price, qty };
        self.bump();
        true
    }

    /// Sets the queue estimate of a slot (after acceptance or a price change).
    pub fn set_queue_ahead(&mut self, slot: usize, shares: u64) {
        if let Some(o) = self.slots.get_mut(slot) {
            o.queue_ahead = shares;
            self.version = self.version.wrapping_add(1);
        }
    }

    /// A level changed: nobody can be ahead of us beyond what is displayed at
    /// our price minus our own shares, so shrinking levels (cancels ahead of
    /// us, or behind us — we cannot tell) cap the estimate. Growth is ignored:
    /// new orders join behind us.
    pub fn on_level(&mut self, locate: StockLocate, side: Side, level: &Level) {
        for o in self.slots.iter_mut() {
            if o.is_active() && o.locate == locate && o.side == side && o.price == level.price {
                let cap = level.qty.saturating_sub(u64::from(o.leaves));
                if o.queue_ahead > cap {
                    o.queue_ahead = cap;
                    self.version = self.version.wrapping_add(1);
                }
            }
        }
    }

    /// A print against resting orders at `price` on `resting_side` consumed
    /// the front of that queue.
    pub fn on_trade(&mut self, locate: StockLocate, price: Price, qty: u32, resting_side: Side) {
        for o in self.slots.iter_mut() {
            if o.is_active() && o.locate == locate && o.side == resting_side && o.price == price {
                o.queue_ahead = o.queue_ahead.saturating_sub(u64::from(qty));
                self.version = self.version.wrapping_add(1);
            }
        }
    }

    /// Applies an order event addressed to this strategy.
    pub fn on_event<const N: usize>(
        &mut self,
        event: &OrderEvent,
        out: &mut Intents<N>,
    ) -> OrderUpdate {
        // Order events are rare next to book events: any of them counts as
        // a change.
        self.bump();
        match *event {
            OrderEvent::Entered { strategy, order } if strategy == self.strategy => {
                match self.bind_oldest(order) {
                    Some(slot) => OrderUpdate::Entered { slot },
                    None => self.cancel_unexpected(order, out),
                }
            }
            OrderEvent::Accepted { strategy, order } if strategy == self.strategy => {
                let slot = match self.find_id(order) {
                    Some(slot) if self.slots[slot].state == OrderState::PendingNew => Some(slot),
                    // A duplicate acknowledgement of a live order.
                    Some(_) => return OrderUpdate::Ignored,
                    None => self.bind_oldest(order),
                };
                match slot {
                    Some(slot) => {
                        if let Some(o) = self.slots.get_mut(slot) {
                            o.state = OrderState::Live;
                        }
                        OrderUpdate::Accepted { slot }
                    }
                    None => self.cancel_unexpected(order, out),
                }
            }
            OrderEvent::Rejected {
                strategy,
                order: None,
                ..
            } if strategy == self.strategy => match self.awaiting_ack.pop_front() {
                Some(slot) => {
                    let slot = usize::from(slot);
                    let refused = self
                        .slots
                        .get_mut(slot)
                        .map(core::mem::take)
                        .unwrap_or_default();
                    OrderUpdate::Rejected {
                        slot,
                        slot_freed: true,
                        locate: refused.locate,
                        side: refused.side,
                        price: Some(refused.price),
                    }
                }
                None => self.unknown(),
            },
            // The order itself is gone (the venue refused it, or it never
            // reached the venue), whatever was asked of it since.
            OrderEvent::Rejected {
                strategy,
                order: Some(id),
                ..
            } if strategy == self.strategy => match self.find_id(id) {
                Some(slot) => {
                    let refused = core::mem::take(&mut self.slots[slot]);
                    OrderUpdate::Rejected {
                        slot,
                        slot_freed: true,
                        locate: refused.locate,
                        side: refused.side,
                        price: Some(refused.price),
                    }
                }
                None => self.unknown(),
            },
            // A cancel or replace was refused and the order stands. One we
            // did not ask for (the kill switch's) changes nothing for a
            // live order; for one with our own request in flight it ends
            // that request's wait early (a later answer to it still
            // applies, and risk refuses a second request meanwhile).
            OrderEvent::AmendRejected {
                strategy,
                order: id,
                reason,
            } if strategy == self.strategy => match self.find_id(id) {
                Some(slot) => {
                    let o = &mut self.slots[slot];
                    match o.state {
                        OrderState::PendingCancel | OrderState::PendingReplace { .. } => {
                            let price = match o.state {
                                OrderState::PendingReplace { price, .. } => {
                                    // Only the venue's refusal, or the
                                    // pipeline's of a replace of an order
                                    // split across venues, says the same
                                    // replace would be refused again (risk's
                                    // — a throttle, the kill switch — passes).
                                    o.replace_refused = matches!(
                                        reason,
                                        types::RejectReason::VenueReject
                                            | types::RejectReason::NotReplaceable
                                    );
                                    Some(price)
                                }
                                // A refused cancel says nothing of a
                                // replace: the mark a refused one left
                                // stays, or the owner, pulling that order
                                // instead, would send the same replace
                                // again once its cancel is refused (each
                                // refusal counting toward the reject rate
                                // that trips the kill switch).
                                _ => None,
                            };
                            o.state = OrderState::Live;
                            OrderUpdate::Rejected {
                                slot,
                                slot_freed: false,
                                locate: o.locate,
                                side: o.side,
                                price,
                            }
                        }
                        _ => OrderUpdate::Ignored,
                    }
                }
                None => self.unknown(),
            },
            OrderEvent::Filled {
                strategy,
                order,
                leaves,
                ..
            } if strategy == self.strategy => match self.find_id(order) {
                Some(slot) => {
                    let done = self.take_leaves(slot, leaves);
                    // A fill before the acknowledgement: the venue has it.
                    let o = &mut self.slots[slot];
                    if !done && o.state == OrderState::PendingNew {
                        o.state = OrderState::Live;
                    }
                    OrderUpdate::Filled { slot, done }
                }
                None => self.unknown(),
            },
            // A bust or correction: the venue says what it still works
            // (nothing: the order is done, as after its last fill).
            OrderEvent::FillAdjusted {
                strategy,
                order,
                leaves,
                ..
            } if strategy == self.strategy => match self.find_id(order) {
                Some(slot) => {
                    let done = self.take_leaves(slot, leaves);
                    OrderUpdate::Filled { slot, done }
                }
                // Long finished (its slot reused): the position moves all
                // the same (see `own_fill`).
                None => OrderUpdate::Ignored,
            },
            OrderEvent::Canceled { strategy, order } if strategy == self.strategy => {
                match self.find_id(order) {
                    Some(slot) => {
                        self.slots[slot] = OwnOrder::default();
                        OrderUpdate::Canceled { slot }
                    }
                    None => self.unknown(),
                }
            }
            // `leaves`, not the replace's total quantity: of an order part
            // filled, the venue works only what is left of the new total.
            OrderEvent::Replaced {
                strategy,
                order,
                price,
                leaves,
                ..
            } if strategy == self.strategy => match self.find_id(order) {
                Some(slot) => {
                    let o = &mut self.slots[slot];
                    if o.price != price {
                        // A price change loses time priority; the owner
                        // re-estimates from the book.
                        o.queue_ahead = u64::MAX;
                    }
                    o.price = price;
                    o.leaves = leaves;
                    o.state = OrderState::Live;
                    o.replace_refused = false;
                    OrderUpdate::Replaced { slot }
                }
                None => self.unknown(),
            },
            _ => OrderUpdate::Ignored,
        }
    }

    /// An order the venue took that no slot asked for: nothing would ever
    /// manage it, so it must not stay in the market.
    fn cancel_unexpected<const N: usize>(
        &mut self,
        order: OrderId,
        out: &mut Intents<N>,
    ) -> OrderUpdate {
        self.stats.unexpected_accepts += 1;
        out.push(OrderIntent::Cancel {
            strategy: self.strategy,
            order,
        });
        OrderUpdate::UnexpectedAccept { order }
    }

    /// The venue works `leaves` of the order in `slot` now (after a fill,
    /// a bust or a correction); an order with nothing left frees its slot.
    /// Whether it is done.
    fn take_leaves(&mut self, slot: usize, leaves: u32) -> bool {
        let o = &mut self.slots[slot];
        if leaves == 0 {
            *o = OwnOrder::default();
            true
        } else {
            o.leaves = leaves;
            false
        }
    }

    fn unknown(&mut self) -> OrderUpdate {
        self.stats.unknown_order_events += 1;
        OrderUpdate::Ignored
    }
}

/// The instrument and signed shares (positive bought, negative sold) of a
/// fill addressed to `strategy`, or of a bust or correction of one (the
/// change it makes); `None` for any other event. Strategies keep
/// their positions from these rather than from their tracker's slots, so
/// that a fill for an order the tracker has lost still counts: the shares
/// are theirs either way.
/// `l` with locates `a` and `b` exchanged.
pub fn swapped(l: StockLocate, a: StockLocate, b: StockLocate) -> StockLocate {
    if l == a {
        b
    } else if l == b {
        a
    } else {
        l
    }
}

pub fn own_fill(event: &OrderEvent, strategy: StrategyId) -> Option<(StockLocate, i64)> {
    match *event {
        OrderEvent::Filled {
            strategy: owner,
            locate,
            side,
            qty,
            ..
        } if owner == strategy => Some((locate, side.sign() * i64::from(qty))),
        // A bust or correction of an earlier fill: the shares it moved
        // come back out, the corrected ones go in.
        OrderEvent::FillAdjusted {
            strategy: owner,
            locate,
            side,
            was_qty,
            qty,
            ..
        } if owner == strategy => {
            Some((locate, side.sign() * (i64::from(qty) - i64::from(was_qty))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::RejectReason;

    const ME: StrategyId = StrategyId(7);

    fn sym() -> Symbol {
        Symbol::new("AAPL").unwrap()
    }

    /// A tracker for strategy `ME` with four slots, and where its intents go.
    fn tracker() -> (OwnOrders<4>, Intents) {
        (OwnOrders::new(ME), Intents::new())
    }

    /// The venue took order `id` (no acknowledgement yet).
    fn entered(id: u64) -> OrderEvent {
        OrderEvent::Entered {
            strategy: ME,
            order: OrderId(id),
        }
    }

    /// The venue acknowledged order `id`.
    fn accepted(id: u64) -> OrderEvent {
        OrderEvent::Accepted {
            strategy: ME,
            order: OrderId(id),
        }
    }

    fn new_order(t: &mut OwnOrders<4>, out: &mut Intents, side: Side, px: i64) -> usize {
        t.submit_new(1, sym(), side, Price(px), 100, TimeInForce::Day, out)
            .unwrap()
    }

    #[test]
    fn every_slot_change_moves_the_version() {
        let (mut t, mut out) = tracker();
        let mut seen = t.version();
        let mut changed = |t: &OwnOrders<4>| {
            let moved = t.version() != seen;
            seen = t.version();
            moved
        };
        let slot = new_order(&mut t, &mut out, Side::Buy, 100_000);
        assert!(changed(&t));
        t.on_event(&accepted(9), &mut out);
        assert!(changed(&t));
        t.set_queue_ahead(slot, 500);
        assert!(changed(&t));
        let level = Level {
            price: Price(100_000),
            qty: 300,
            orders: 2,
        };
        t.on_level(1, Side::Buy, &level);
        assert!(changed(&t), "queue estimate capped");
        t.on_level(1, Side::Buy, &level);
        assert!(!changed(&t), "nothing to cap");
        t.on_trade(1, Price(100_000), 50, Side::Buy);
        assert!(changed(&t));
        t.on_trade(1, Price(99_900), 50, Side::Buy);
        assert!(!changed(&t), "not our price");
        assert!(t.replace(slot, Price(100_100), 100, &mut out));
        assert!(changed(&t));
        assert!(!t.cancel(slot, &mut out), "not live while replacing");
        assert!(!changed(&t));
        let replaced = OrderEvent::Replaced {
            strategy: ME,
            order: OrderId(9),
            price: Price(100_100),
            qty: 100,
            leaves: 100,
        };
        t.on_event(&replaced, &mut out);
        assert!(changed(&t));
        assert!(t.cancel(slot, &mut out));
        assert!(changed(&t));
    }

    #[test]
    fn busts_and_corrections_move_the_position_and_the_order() {
        let (mut t, mut out) = tracker();
        let bid = new_order(&mut t, &mut out, Side::Buy, 100);
        t.on_event(&entered(50), &mut out);
        t.on_event(&accepted(50), &mut out);
        let adjusted = |was_qty, qty, leaves| OrderEvent::FillAdjusted {
            strategy: ME,
            order: OrderId(50),
            locate: 1,
            side: Side::Buy,
            was_qty,
            was_price: Price(100),
            qty,
            price: Price(100),
            leaves,
        };
        // A 40 share fill busted, the venue works 60: position −40.
        let bust = adjusted(40, 0, 60);
        assert_eq!(own_fill(&bust, ME), Some((1, -40)));
        assert_eq!(own_fill(&bust, StrategyId(8)), None);
        assert_eq!(
            t.on_event(&bust, &mut out),
            OrderUpdate::Filled {
                slot: bid,
                done: false
            }
        );
        assert_eq!(t.get(bid).unwrap().leaves, 60);
        // A sell corrected from 40 up to 50: position −10.
        let sell_up = OrderEvent::FillAdjusted {
            strategy: ME,
            order: OrderId(51),
            locate: 1,
            side: Side::Sell,
            was_qty: 40,
            was_price: Price(100),
            qty: 50,
            price: Price(100),
            leaves: 0,
        };
        assert_eq!(own_fill(&sell_up, ME), Some((1, -10)));
        // Done at the venue: the slot is free.
        assert_eq!(
            t.on_event(&adjusted(60, 30, 0), &mut out),
            OrderUpdate::Filled {
                slot: bid,
                done: true
            }
        );
        assert!(!t.get(bid).unwrap().is_active());
    }

    #[test]
    fn entered_ids_take_venue_answers_in_any_order() {
        let (mut t, mut out) = tracker();
        let bid = new_order(&mut t, &mut out, Side::Buy, 100);
        let ask = new_order(&mut t, &mut out, Side::Sell, 101);
        let third = new_order(&mut t, &mut out, Side::Buy, 99);
        assert_eq!(
            t.on_event(&entered(50), &mut out),
            OrderUpdate::Entered { slot: bid }
        );
        assert_eq!(
            t.on_event(&entered(51), &mut out),
            OrderUpdate::Entered { slot: ask }
        );
        assert_eq!(
            t.on_event(&entered(52), &mut out),
            OrderUpdate::Entered { slot: third }
        );
        assert_eq!(t.get(bid).unwrap().state, OrderState::PendingNew);
        // The ask's venue answers first.
        assert_eq!(
            t.on_event(&accepted(51), &mut out),
            OrderUpdate::Accepted { slot: ask }
        );
        assert!(t.get(ask).unwrap().is_live());
        assert!(!t.get(bid).unwrap().is_live());
        // The bid fills in part before its acknowledgement: it is live.
        let fill = OrderEvent::Filled {
            strategy: ME,
            order: OrderId(50),
            locate: 1,
            side: Side::Buy,
            price: Price(100),
            qty: 40,
            leaves: 60,
        };
        assert_eq!(
            t.on_event(&fill, &mut out),
            OrderUpdate::Filled {
                slot: bid,
                done: false
            }
        );
        assert!(t.get(bid).unwrap().is_live());
        assert_eq!(t.get(bid).unwrap().leaves, 60);
        // A late acknowledgement of a live order changes nothing.
        assert_eq!(t.on_event(&accepted(50), &mut out), OrderUpdate::Ignored);
        // The third order's venue rejects it: the slot is free again.
        let reject = OrderEvent::Rejected {
            strategy: ME,
            order: Some(OrderId(52)),
            reason: RejectReason::VenueReject,
        };
        assert_eq!(
            t.on_event(&reject, &mut out),
            OrderUpdate::Rejected {
                slot: third,
                slot_freed: true,
                locate: 1,
                side: Side::Buy,
                price: Some(Price(99)),
            }
        );
        assert!(!t.get(third).unwrap().is_active());
        assert_eq!(t.stats().unexpected_accepts, 0);
        assert_eq!(t.stats().unknown_order_events, 0);
    }

    #[test]
    fn an_entered_order_nobody_asked_for_is_cancelled() {
        let (mut t, mut out) = tracker();
        assert_eq!(
            t.on_event(&entered(9), &mut out),
            OrderUpdate::UnexpectedAccept { order: OrderId(9) }
        );
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn accepts_bind_in_submission_order() {
        let (mut t, mut out) = tracker();
        let bid = new_order(&mut t, &mut out, Side::Buy, 100);
        let ask = new_order(&mut t, &mut out, Side::Sell, 101);
        assert_eq!(out.len(), 2);
        assert_eq!(
            t.on_event(&accepted(50), &mut out),
            OrderUpdate::Accepted { slot: bid }
        );
        assert_eq!(
            t.on_event(&accepted(51), &mut out),
            OrderUpdate::Accepted { slot: ask }
        );
        assert_eq!(t.get(bid).unwrap().id, OrderId(50));
        assert_eq!(t.get(ask).unwrap().id, OrderId(51));
        assert_eq!(t.get(ask).unwrap().side, Side::Sell);
    }

    #[test]
    fn reject_without_id_consumes_oldest_pending() {
        let (mut t, mut out) = tracker();
        let first = new_order(&mut t, &mut out, Side::Buy, 100);
        let second = new_order(&mut t, &mut out, Side::Sell, 101);
        let rej = OrderEvent::Rejected {
            strategy: ME,
            order: None,
            reason: RejectReason::PriceCollar,
        };
        assert_eq!(
            t.on_event(&rej, &mut out),
            OrderUpdate::Rejected {
                slot: first,
                slot_freed: true,
                locate: 1,
                side: Side::Buy,
                price: Some(Price(100)),
            }
        );
        assert_eq!(
            t.on_event(&accepted(9), &mut out),
            OrderUpdate::Accepted { slot: second }
        );
        assert!(!t.get(first).unwrap().is_active());
    }

    #[test]
    fn unexpected_accept_is_cancelled() {
        let (mut t, mut out) = tracker();
        assert_eq!(
            t.on_event(&accepted(77), &mut out),
            OrderUpdate::UnexpectedAccept { order: OrderId(77) }
        );
        assert_eq!(
            out.as_slice(),
            &[OrderIntent::Cancel {
                strategy: ME,
                order: OrderId(77)
            }]
        );
        assert_eq!(t.stats().unexpected_accepts, 1);
    }

    #[test]
    fn other_strategies_events_are_ignored() {
        let (mut t, mut out) = tracker();
        new_order(&mut t, &mut out, Side::Buy, 100);
        let ev = OrderEvent::Accepted {
            strategy: StrategyId(8),
            order: OrderId(1),
        };
        assert_eq!(t.on_event(&ev, &mut out), OrderUpdate::Ignored);
        assert_eq!(t.get(0).unwrap().state, OrderState::PendingNew);
    }

    #[test]
    fn a_refused_cancel_the_strategy_did_not_send_leaves_its_order_alone() {
        // The kill switch cancels every open order; when the venue refuses
        // one of those cancels (or it cannot be sent), the order stands and
        // the strategy keeps tracking it.
        let (mut t, mut out) = tracker();
        let s = new_order(&mut t, &mut out, Side::Buy, 100);
        t.on_event(&accepted(5), &mut out);
        let pending = new_order(&mut t, &mut out, Side::Sell, 101);
        for reason in [RejectReason::VenueReject, RejectReason::NotSent] {
            for order in [5, 6] {
                let refused = OrderEvent::AmendRejected {
                    strategy: ME,
                    order: OrderId(order),
                    reason,
                };
                t.on_event(&refused, &mut out);
            }
        }
        assert!(t.get(s).unwrap().is_live());
        assert_eq!(t.get(pending).unwrap().state, OrderState::PendingNew);
        // The order itself refused is another matter: it is gone.
        let gone = OrderEvent::Rejected {
            strategy: ME,
            order: Some(OrderId(5)),
            reason: RejectReason::NotSent,
        };
        assert_eq!(
            t.on_event(&gone, &mut out),
            OrderUpdate::Rejected {
                slot: s,
                slot_freed: true,
                locate: 1,
                side: Side::Buy,
                price: Some(Price(100)),
            }
        );
    }

    #[test]
    fn a_replace_that_would_be_refused_again_is_marked() {
        // Whether the owner should cancel rather than send the same replace
        // again: only refusals that say so mark the order.
        for (reason, marked) in [
            (RejectReason::OrderRateThrottle, false),
            (RejectReason::KillSwitch, false),
            (RejectReason::VenueReject, true),
            (RejectReason::NotReplaceable, true),
        ] {
            let (mut t, mut out) = tracker();
            let s = new_order(&mut t, &mut out, Side::Buy, 100);
            t.on_event(&accepted(5), &mut out);
            assert!(t.replace(s, Price(99), 100, &mut out));
            let refused = OrderEvent::AmendRejected {
                strategy: ME,
                order: OrderId(5),
                reason,
            };
            t.on_event(&refused, &mut out);
            let o = t.get(s).unwrap();
            assert!(o.is_live(), "{reason:?}");
            assert_eq!(o.replace_refused, marked, "{reason:?}");
        }
    }

    #[test]
    fn a_replace_of_a_part_filled_order_works_what_the_venue_says() {
        // 60 of 100 filled, then replaced to a total of 100 at a new price:
        // the venue works the 40 left, not the replace's total.
        let (mut t, mut out) = tracker();
        let s = new_order(&mut t, &mut out, Side::Buy, 100);
        t.on_event(&accepted(5), &mut out);
        let fill = OrderEvent::Filled {
            strategy: ME,
            order: OrderId(5),
            locate: 1,
            side: Side::Buy,
            price: Price(100),
            qty: 60,
            leaves: 40,
        };
        t.on_event(&fill, &mut out);
        assert!(t.replace(s, Price(99), 100, &mut out));
        let replaced = OrderEvent::Replaced {
            strategy: ME,
            order: OrderId(5),
            price: Price(99),
            qty: 100,
            leaves: 40,
        };
        assert_eq!(
            t.on_event(&replaced, &mut out),
            OrderUpdate::Replaced { slot: s }
        );
        let o = t.get(s).unwrap();
        assert_eq!(
            (o.price, o.leaves, o.state),
            (Price(99), 40, OrderState::Live)
        );
    }

    #[test]
    fn a_refused_cancel_leaves_the_refused_replace_marked() {
        // The owner pulls an order whose replace the venue refused; if that
        // cancel is refused too, the same replace would still be refused:
        // only a replace's answer changes the mark.
        for reason in [
            RejectReason::VenueReject,
            RejectReason::NotSent,
            RejectReason::CancelRateThrottle,
        ] {
            let (mut t, mut out) = tracker();
            let s = new_order(&mut t, &mut out, Side::Buy, 100);
            t.on_event(&accepted(5), &mut out);
            let refused = OrderEvent::AmendRejected {
                strategy: ME,
                order: OrderId(5),
                reason: RejectReason::VenueReject,
            };
            assert!(t.replace(s, Price(99), 100, &mut out));
            t.on_event(&refused, &mut out);
            assert!(t.get(s).unwrap().replace_refused);
            assert!(t.cancel(s, &mut out));
            let cancel_refused = OrderEvent::AmendRejected {
                strategy: ME,
                order: OrderId(5),
                reason,
            };
            assert_eq!(
                t.on_event(&cancel_refused, &mut out),
                OrderUpdate::Rejected {
                    slot: s,
                    slot_freed: false,
                    locate: 1,
                    side: Side::Buy,
                    price: None,
                }
            );
            let o = t.get(s).unwrap();
            assert!(o.is_live(), "{reason:?}");
            assert!(o.replace_refused, "{reason:?}: the mark is kept");
            // A replace's own answer still changes it.
            assert!(t.replace(s, Price(98), 100, &mut out));
            let throttled = OrderEvent::AmendRejected {
                strategy: ME,
                order: OrderId(5),
                reason: RejectReason::OrderRateThrottle,
            };
            t.on_event(&throttled, &mut out);
            assert!(!t.get(s).unwrap().replace_refused, "{reason:?}");
        }
    }

    #[test]
    fn cancel_replace_fill_lifecycle() {
        let (mut t, mut out) = tracker();
        let s = new_order(&mut t, &mut out, Side::Buy, 100);
        // Not live yet: cannot be cancelled or replaced.
        assert!(!t.cancel(s, &mut out));
        assert!(!t.replace(s, Price(99), 100, &mut out));
        t.on_event(&accepted(5), &mut out);
        assert!(t.replace(s, Price(99), 100, &mut out));
        // A refused replace leaves the order live at its old price.
        let rej = OrderEvent::AmendRejected {
            strategy: ME,
            order: OrderId(5),
            reason: RejectReason::OrderRateThrottle,
        };
        assert_eq!(
            t.on_event(&rej, &mut out),
            OrderUpdate::Rejected {
                slot: s,
                slot_freed: false,
                locate: 1,
                side: Side::Buy,
                price: Some(Price(99)),
            }
        );
        assert_eq!(t.get(s).unwrap().price, Price(100));
        assert!(t.replace(s, Price(99), 100, &mut out));
        t.on_event(
            &OrderEvent::Replaced {
                strategy: ME,
                order: OrderId(5),
                price: Price(99),
                qty: 100,
                leaves: 100,
            },
            &mut out,
        );
        assert_eq!(t.get(s).unwrap().price, Price(99));
        let fill = |leaves| OrderEvent::Filled {
            strategy: ME,
            order: OrderId(5),
            locate: 1,
            side: Side::Buy,
            price: Price(99),
            qty: 50,
            leaves,
        };
        assert_eq!(
            t.on_event(&fill(50), &mut out),
            OrderUpdate::Filled {
                slot: s,
                done: false
            }
        );
        assert_eq!(t.get(s).unwrap().leaves, 50);
        assert_eq!(
            t.on_event(&fill(0), &mut out),
            OrderUpdate::Filled {
                slot: s,
                done: true
            }
        );
        assert!(!t.get(s).unwrap().is_active());
        // A late cancel confirmation for the finished order is only counted.
        let late = OrderEvent::Canceled {
            strategy: ME,
            order: OrderId(5),
        };
        assert_eq!(t.on_event(&late, &mut out), OrderUpdate::Ignored);
        assert_eq!(t.stats().unknown_order_events, 1);
    }

    #[test]
    fn slots_run_out_without_emitting() {
        let (mut t, mut out) = tracker();
        for i in 0..4 {
            new_order(&mut t, &mut out, Side::Buy, 100 + i);
        }
        assert!(t
            .submit_new(1, sym(), Side::Buy, Price(1), 1, TimeInForce::Day, &mut out)
            .is_none());
        assert_eq!(out.len(), 4);
        assert_eq!(t.stats().slots_exhausted, 1);
    }

    #[test]
    fn queue_estimate_shrinks_with_trades_and_level_cuts() {
        let (mut t, mut out) = tracker();
        let s = new_order(&mut t, &mut out, Side::Buy, 100);
        t.on_event(&accepted(1), &mut out);
        t.set_queue_ahead(s, 500);
        t.on_trade(1, Price(100), 200, Side::Buy);
        assert_eq!(t.get(s).unwrap().queue_ahead, 300);
        // Trades on the other side or another price do not move us.
        t.on_trade(1, Price(100), 200, Side::Sell);
        t.on_trade(1, Price(101), 200, Side::Buy);
        assert_eq!(t.get(s).unwrap().queue_ahead, 300);
        // Level shrinks to 250 incl. our 100: at most 150 ahead.
        let lvl = Level {
            price: Price(100),
            qty: 250,
            orders: 3,
        };
        t.on_level(1, Side::Buy, &lvl);
        assert_eq!(t.get(s).unwrap().queue_ahead, 150);
    }
}
