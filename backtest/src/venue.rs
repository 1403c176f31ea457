//! The simulated venue: our orders against the real L3 book of the feed.
//!
//! Queue model (all integers, shares and price4):
//! - An order that rests joins the back of its price level: it records the
//!   displayed quantity at that price in the venue's book at arrival
//!   (`ahead`) and the feed's add sequence at arrival, so every real order
//!   is known to be ahead of ours (added before we arrived) or behind.
//! - `E`/`C` executions of a real order at our price and side: an order
//!   ahead of us reduces `ahead` (any excess over `ahead` fills us); an
//!   order behind us means the aggressor passed through our order first,
//!   so it fills us (up to our leaves).
//! - `P` (non-displayed) trades at our price and side: volume rule,
//!   consuming `ahead` first, the rest fills us.
//! - `X`/`D` (and the original of a `U`) of an order ahead of us reduce
//!   `ahead` by the cancelled shares; cancels from behind change nothing.
//!   This is exact FIFO, not a proportional estimate.
//! - An execution on our side at a price worse than ours (a sell at a
//!   price below our bid) fills us first, up to our leaves.
//! - An order that crosses the displayed spread on arrival takes displayed
//!   liquidity at once, level by level at each level's price (the real book
//!   is not changed: no market impact is modelled). While the real book is
//!   crossed nothing is taken and the order rests. Shares we took stay
//!   unavailable to later crossing orders of ours until the real level's
//!   displayed quantity changes. A `PostOnly` order that
//!   would cross is rejected, and so is a `PostOnly` replace that would
//!   cross (the original keeps working; before this a crossing post-only
//!   replace took liquidity, the source of the market maker's taker fills
//!   in the first generated-day backtest); an `ImmediateOrCancel`
//!   remainder is cancelled. A replace naming the other side is rejected.
//! - A replace keeps queue position only when the price is unchanged and the
//!   quantity does not grow; otherwise it re-arrives at the back.

use std::collections::HashMap;

use book::Book;
use gateway::oms::{ClOrdId, ExecReport, ExecType, Outbound};
use protocol::itch::Message;
use types::{Price, Side, StockLocate, TimeInForce};

/// One fill of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill {
    pub cl_ord_id: ClOrdId,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
    /// Resting order (maker) or one that crossed on arrival (taker).
    pub maker: bool,
}

/// One of our orders resting at the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimOrder {
    pub cl_ord_id: ClOrdId,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
    pub cum: u32,
    pub leaves: u32,
    /// Displayed shares ahead of ours at our price.
    pub ahead: u64,
    /// Feed add sequence at our arrival: real orders with a smaller
    /// sequence are ahead of ours.
    pub arrival_seq: u64,
}

/// The simulated venue for one instrument.
#[derive(Debug, Default)]
pub struct Venue {
    locate: StockLocate,
    orders: Vec<SimOrder>,
    /// Add sequence of every live real order of our instrument.
    seq_of: HashMap<u64, u64>,
    next_seq: u64,
    /// Displayed liquidity our taker orders used: (side, price, the level's
    /// displayed quantity then, shares taken). Taken shares stay unavailable
    /// until the real level's quantity changes, so repeated crossing orders
    /// cannot take the same displayed shares again and again.
    taken: Vec<(Side, Price, u64, u64)>,
}

fn better_or_equal(side: Side, a: Price, b: Price) -> bool {
    match side {
        Side::Buy => a >= b,
        Side::Sell => a <= b,
    }
}

impl Venue {
    pub fn new(locate: StockLocate) -> Venue {
        Venue {
            locate,
            orders: Vec::new(),
            seq_of: HashMap::new(),
            next_seq: 1,
            taken: Vec::new(),
        }
    }

    /// Our resting orders, in arrival order.
    pub fn orders(&self) -> &[SimOrder] {
        &self.orders
    }

    fn displayed_at(book: &Book, locate: StockLocate, side: Side, price: Price) -> u64 {
        book.queue(locate, side, price).map(u64::from).sum()
    }

    /// An order message reaching the venue; `book` is the venue's view of
    /// the market at that moment. Reports and fills are appended.
    pub fn on_order(
        &mut self,
        out: &Outbound,
        book: &Book,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        match *out {
            Outbound::New {
                cl_ord_id,
                side,
                price,
                qty,
                tif,
                ..
            } => {
                let order = SimOrder {
                    cl_ord_id,
                    side,
                    price,
                    qty,
                    cum: 0,
                    leaves: qty,
                    ahead: 0,
                    arrival_seq: 0,
                };
                if tif == TimeInForce::PostOnly
                    && !book.is_crossed(self.locate)
                    && self.crosses(book, side, price)
                {
                    reports.push(ExecReport::new(cl_ord_id, ExecType::Rejected));
                    return;
                }
                let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
                ack.leaves_qty = qty;
                ack.price = price;
                ack.order_qty = qty;
                reports.push(ack);
                self.arrive(order, tif, book, reports, fills);
            }
            // Every resting order of ours goes, each with its own cancel
            // report (the venue's answer to the request itself is not
            // modelled: the pipeline goes on when its wait for it ends).
            Outbound::MassCancel { .. } => {
                for o in self.orders.drain(..) {
                    let mut r = ExecReport::new(o.cl_ord_id, ExecType::Canceled);
                    r.cum_qty = o.cum;
                    r.leaves_qty = 0;
                    reports.push(r);
                }
            }
            Outbound::Cancel {
                cl_ord_id,
                orig_cl_ord_id,
                ..
            } => match self
                .orders
                .iter()
                .position(|o| o.cl_ord_id == orig_cl_ord_id)
            {
                Some(i) => {
                    let o = self.orders.remove(i);
                    let mut r = ExecReport::new(cl_ord_id, ExecType::Canceled);
                    r.orig_cl_ord_id = Some(orig_cl_ord_id);
                    r.cum_qty = o.cum;
                    r.leaves_qty = 0;
                    reports.push(r);
                }
                None => {
                    let mut r = ExecReport::new(cl_ord_id, ExecType::CancelRejected);
                    r.orig_cl_ord_id = Some(orig_cl_ord_id);
                    reports.push(r);
                }
            },
            Outbound::Replace {
                cl_ord_id,
                orig_cl_ord_id,
                side,
                price,
                qty,
                tif,
                ..
            } => {
                let found = self
                    .orders
                    .iter()
                    .position(|o| o.cl_ord_id == orig_cl_ord_id);
                // A replace names the order's side; a post-only replace
                // that would cross is refused like a post-only new order
                // (the original keeps working).
                let refused = found.is_none_or(|i| {
                    let old = self.orders[i];
                    old.side != side
                        || (tif == TimeInForce::PostOnly
                            && price != old.price
                            && !book.is_crossed(self.locate)
                            && self.crosses(book, side, price))
                });
                let (Some(i), false) = (found, refused) else {
                    let mut r = ExecReport::new(cl_ord_id, ExecType::ReplaceRejected);
                    r.orig_cl_ord_id = Some(orig_cl_ord_id);
                    reports.push(r);
                    return;
                };
                let old = self.orders.remove(i);
                if qty <= old.cum {
                    // Nothing left to work: the venue cancels the remainder.
                    let mut r = ExecReport::new(cl_ord_id, ExecType::Canceled);
                    r.orig_cl_ord_id = Some(orig_cl_ord_id);
                    r.cum_qty = old.cum;
                    reports.push(r);
                    return;
                }
                let mut o = old;
                o.cl_ord_id = cl_ord_id;
                o.qty = qty;
                o.leaves = qty - old.cum;
                let mut r = ExecReport::new(cl_ord_id, ExecType::Replaced);
                r.orig_cl_ord_id = Some(orig_cl_ord_id);
                r.price = price;
                r.order_qty = qty;
                r.cum_qty = o.cum;
                r.leaves_qty = o.leaves;
                reports.push(r);
                if price == old.price && qty <= old.qty {
                    self.orders.push(o);
                } else {
                    o.price = price;
                    self.arrive(o, tif, book, reports, fills);
                }
            }
        }
    }

    fn crosses(&self, book: &Book, side: Side, price: Price) -> bool {
        let opposite = match side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        };
        book.levels(self.locate, opposite)
            .next()
            .is_some_and(|l| better_or_equal(side, price, l.price))
    }

    /// Takes displayed liquidity if the order crosses, then rests the rest.
    fn arrive(
        &mut self,
        mut o: SimOrder,
        tif: TimeInForce,
        book: &Book,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        let opposite = match o.side {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        };
        // A crossed book (a feed artefact) offers nothing to take.
        let takeable = !book.is_crossed(self.locate);
        for level in book.levels(self.locate, opposite) {
            if !takeable || o.leaves == 0 || !better_or_equal(o.side, o.price, level.price) {
                break;
            }
            let entry = self
                .taken
                .iter()
                .position(|t| t.0 == opposite && t.1 == level.price);
            let used = match entry {
                Some(i) if self.taken[i].2 == level.qty => self.taken[i].3,
                _ => 0,
            };
            let available = level.qty.saturating_sub(used);
            let take = u32::try_from(available.min(u64::from(o.leaves))).unwrap_or(o.leaves);
            if take == 0 {
                continue;
            }
            let record = (opposite, level.price, level.qty, used + u64::from(take));
            match entry {
                Some(i) => self.taken[i] = record,
                None => self.taken.push(record),
            }
            Self::fill(&mut o, take, level.price, false, reports, fills);
        }
        if o.leaves == 0 {
            return;
        }
        if tif == TimeInForce::ImmediateOrCancel {
            let mut r = ExecReport::new(o.cl_ord_id, ExecType::Canceled);
            r.cum_qty = o.cum;
            reports.push(r);
            return;
        }
        o.ahead = Self::displayed_at(book, self.locate, o.side, o.price);
        o.arrival_seq = self.next_seq;
        self.orders.push(o);
    }

    fn fill(
        o: &mut SimOrder,
        qty: u32,
        price: Price,
        maker: bool,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        if qty == 0 {
            return;
        }
        o.leaves -= qty;
        o.cum += qty;
        let mut r = ExecReport::new(o.cl_ord_id, ExecType::Trade);
        r.last_qty = qty;
        r.last_px = price;
        r.cum_qty = o.cum;
        r.leaves_qty = o.leaves;
        r.price = o.price;
        r.order_qty = o.qty;
        reports.push(r);
        fills.push(Fill {
            cl_ord_id: o.cl_ord_id,
            side: o.side,
            price,
            qty,
            maker,
        });
    }

    /// A market-data message, seen by the venue *before* `book` applies it
    /// (the executed or cancelled order must still be in the book).
    pub fn on_market(
        &mut self,
        msg: &Message<'_>,
        book: &Book,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        if msg.stock_locate() != self.locate {
            return;
        }
        match msg {
            Message::AddOrder(m) => self.added(m.order_ref()),
            Message::AddOrderMpid(m) => self.added(m.order_ref()),
            Message::OrderExecuted(m) => {
                self.executed(m.order_ref(), m.executed_shares(), book, reports, fills)
            }
            Message::OrderExecutedWithPrice(m) => {
                self.executed(m.order_ref(), m.executed_shares(), book, reports, fills)
            }
            Message::OrderCancel(m) => {
                self.cancelled(m.order_ref(), Some(m.cancelled_shares()), book)
            }
            Message::OrderDelete(m) => self.cancelled(m.order_ref(), None, book),
            Message::OrderReplace(m) => {
                self.cancelled(m.original_order_ref(), None, book);
                self.added(m.new_order_ref());
            }
            Message::Trade(m) => {
                self.traded(m.side(), m.price(), u64::from(m.shares()), reports, fills)
            }
            _ => {}
        }
    }

    /// After the book applied the message: forget orders that left it.
    pub fn after_market(&mut self, msg: &Message<'_>, book: &Book) {
        if msg.stock_locate() != self.locate {
            return;
        }
        let gone = match msg {
            Message::OrderExecuted(m) => Some(m.order_ref()),
            Message::OrderExecutedWithPrice(m) => Some(m.order_ref()),
            Message::OrderCancel(m) => Some(m.order_ref()),
            _ => None,
        };
        if let Some(r) = gone {
            if book.order(r).is_none() {
                self.seq_of.remove(&r);
            }
        }
        if !self.taken.is_empty() {
            let locate = self.locate;
            self.taken
                .retain(|t| Self::displayed_at(book, locate, t.0, t.1) == t.2);
        }
    }

    fn added(&mut self, order_ref: u64) {
        self.seq_of.insert(order_ref, self.next_seq);
        self.next_seq += 1;
    }

    fn cancelled(&mut self, order_ref: u64, shares: Option<u32>, book: &Book) {
        let Some(info) = book.order(order_ref) else {
            return;
        };
        let seq = match shares {
            Some(_) => self.seq_of.get(&order_ref).copied(),
            None => self.seq_of.remove(&order_ref),
        };
        let Some(seq) = seq else {
            return;
        };
        let n = u64::from(shares.unwrap_or(info.qty).min(info.qty));
        for o in &mut self.orders {
            if o.side == info.side && o.price == info.price && seq < o.arrival_seq {
                o.ahead = o.ahead.saturating_sub(n);
            }
        }
    }

    fn executed(
        &mut self,
        order_ref: u64,
        shares: u32,
        book: &Book,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        let Some(info) = book.order(order_ref) else {
            return;
        };
        let seq = self.seq_of.get(&order_ref).copied().unwrap_or(0);
        let x = u64::from(shares);
        // Shares of this execution not yet given to one of ours.
        let mut left = x;
        for o in &mut self.orders {
            if o.side != info.side || o.leaves == 0 {
                continue;
            }
            let through = o.price != info.price && better_or_equal(o.side, o.price, info.price);
            let free = if through || (o.price == info.price && seq >= o.arrival_seq) {
                // Behind us, or at a worse price: the aggressor met us first.
                x
            } else if o.price == info.price {
                let used = x.min(o.ahead);
                o.ahead -= used;
                x - used
            } else {
                0
            };
            let q = u32::try_from(free.min(left).min(u64::from(o.leaves))).unwrap_or(0);
            left -= u64::from(q);
            Self::fill(o, q, o.price, true, reports, fills);
        }
        self.orders.retain(|o| o.leaves > 0);
    }

    fn traded(
        &mut self,
        side: Side,
        price: Price,
        x: u64,
        reports: &mut Vec<ExecReport>,
        fills: &mut Vec<Fill>,
    ) {
        let mut left = x;
        for o in &mut self.orders {
            if o.side != side || o.leaves == 0 {
                continue;
            }
            let free = if o.price == price {
                let used = x.min(o.ahead);
                o.ahead -= used;
                x - used
            } else if better_or_equal(side, o.price, price) {
                x
            } else {
                0
            };
            let q = u32::try_from(free.min(left).min(u64::from(o.leaves))).unwrap_or(0);
            left -= u64::from(q);
            Self::fill(o, q, o.price, true, reports, fills);
        }
        self.orders.retain(|o| o.leaves > 0);
    }
}
