//! The reference model of the book: what the book's documentation says it
//! does, written the plainest way — a map of orders and, per instrument and
//! side, a sorted map from price to the FIFO of order references. The
//! book's own tests and the `book` fuzz target check the book against it
//! message by message. It allocates freely; it is built only for tests and
//! with the `model` feature.

use crate::{Anomaly, Bbo, Counters, Level, Price, Side};
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use protocol::itch::Message;

/// One live order as the model holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelOrder {
    pub locate: u16,
    pub side: Side,
    pub price: i64,
    pub qty: u32,
}

#[derive(Default)]
struct ModelLevel {
    fifo: VecDeque<u64>,
    qty: u64,
}

/// The plain book, with the same capacity limits as the real one.
pub struct Model {
    max_orders: usize,
    max_levels: usize,
    orders: BTreeMap<u64, ModelOrder>,
    queues: BTreeMap<(u16, u8), BTreeMap<i64, ModelLevel>>,
    levels: usize,
    /// What the book's counters must read after the same messages.
    pub counters: Counters,
}

fn side_key(side: Side) -> u8 {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

impl Model {
    /// An empty book holding at most `max_orders` orders and `max_levels`
    /// price levels (as `BookConfig`).
    pub fn new(max_orders: usize, max_levels: usize) -> Model {
        Model {
            max_orders,
            max_levels,
            orders: BTreeMap::new(),
            queues: BTreeMap::new(),
            levels: 0,
            counters: Counters::default(),
        }
    }

    pub fn order(&self, order_ref: u64) -> Option<ModelOrder> {
        self.orders.get(&order_ref).copied()
    }

    /// References of every live order, ascending.
    pub fn order_refs(&self) -> impl Iterator<Item = u64> + '_ {
        self.orders.keys().copied()
    }

    /// The smallest and largest live reference.
    pub fn ref_range(&self) -> Option<(u64, u64)> {
        Some((
            *self.orders.first_key_value()?.0,
            *self.orders.last_key_value()?.0,
        ))
    }

    /// The first live reference at or above `from`.
    pub fn next_live(&self, from: u64) -> Option<u64> {
        self.orders.range(from..).next().map(|(r, _)| *r)
    }

    pub fn live_orders(&self) -> usize {
        self.orders.len()
    }

    pub fn live_levels(&self) -> usize {
        self.levels
    }

    /// The best `limit` levels of a side, best first.
    pub fn top_levels(&self, locate: u16, side: Side, limit: usize) -> Vec<Level> {
        let Some(q) = self.queues.get(&(locate, side_key(side))) else {
            return Vec::new();
        };
        let mk = |(price, level): (&i64, &ModelLevel)| Level {
            price: Price(*price),
            qty: level.qty,
            orders: level.fifo.len() as u32,
        };
        match side {
            Side::Buy => q.iter().rev().take(limit).map(mk).collect(),
            Side::Sell => q.iter().take(limit).map(mk).collect(),
        }
    }

    /// The references resting at one price, in queue order.
    pub fn queue(&self, locate: u16, side: Side, price: i64) -> Vec<u64> {
        self.queues
            .get(&(locate, side_key(side)))
            .and_then(|q| q.get(&price))
            .map(|level| level.fifo.iter().copied().collect())
            .unwrap_or_default()
    }

    pub fn bbo(&self, locate: u16) -> Bbo {
        Bbo {
            bid: self.top_levels(locate, Side::Buy, 1).first().copied(),
            ask: self.top_levels(locate, Side::Sell, 1).first().copied(),
        }
    }

    /// The best bid at or above the best ask.
    pub fn crossed(&self, locate: u16) -> bool {
        matches!(self.bbo(locate), Bbo { bid: Some(b), ask: Some(a) } if b.price >= a.price)
    }

    /// (orders ahead, shares ahead) of a live order in its level's queue.
    pub fn queue_position(&self, order_ref: u64) -> Option<(u32, u64)> {
        let o = self.orders.get(&order_ref)?;
        let q = &self
            .queues
            .get(&(o.locate, side_key(o.side)))?
            .get(&o.price)?
            .fifo;
        let pos = q.iter().position(|r| *r == order_ref)?;
        let shares = q
            .iter()
            .take(pos)
            .map(|r| self.orders.get(r).map_or(0, |o| o.qty as u64))
            .sum();
        Some((pos as u32, shares))
    }

    fn crossed_check(&mut self, locate: u16) {
        if self.crossed(locate) {
            self.counters.crossed_book += 1;
        }
    }

    fn insert(&mut self, order_ref: u64, o: ModelOrder) -> Result<(), Anomaly> {
        if self.orders.len() >= self.max_orders {
            self.counters.order_table_full += 1;
            return Err(Anomaly::OrderTableFull);
        }
        let book = self.queues.entry((o.locate, side_key(o.side))).or_default();
        if !book.contains_key(&o.price) {
            if self.levels >= self.max_levels {
                self.counters.level_pool_full += 1;
                return Err(Anomaly::LevelPoolFull);
            }
            self.levels += 1;
        }
        let level = book.entry(o.price).or_default();
        level.fifo.push_back(order_ref);
        level.qty += o.qty as u64;
        self.orders.insert(order_ref, o);
        Ok(())
    }

    /// Takes `qty` (at most what is open) off a live order.
    fn remove_shares(&mut self, order_ref: u64, qty: u32) {
        let Some(o) = self.orders.get_mut(&order_ref) else {
            return;
        };
        o.qty -= qty;
        let o = *o;
        let Some(book) = self.queues.get_mut(&(o.locate, side_key(o.side))) else {
            return;
        };
        let Some(level) = book.get_mut(&o.price) else {
            return;
        };
        level.qty -= qty as u64;
        if o.qty == 0 {
            self.orders.remove(&order_ref);
            level.fifo.retain(|r| *r != order_ref);
            if level.fifo.is_empty() {
                book.remove(&o.price);
                self.levels -= 1;
            }
        }
    }

    /// A new order's price and size, as an add and a replace check them.
    fn check_terms(&mut self, price: i64, qty: u32) -> Result<(), Anomaly> {
        if !(0..=u32::MAX as i64).contains(&price) {
            self.counters.bad_price += 1;
            return Err(Anomaly::BadPrice);
        }
        if qty == 0 {
            self.counters.zero_quantity += 1;
            return Err(Anomaly::ZeroQuantity);
        }
        Ok(())
    }

    /// An add (with or without MPID).
    pub fn add(
        &mut self,
        locate: u16,
        order_ref: u64,
        side: Side,
        price: i64,
        qty: u32,
    ) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        self.check_terms(price, qty)?;
        if self.orders.contains_key(&order_ref) {
            self.counters.duplicate_order += 1;
            return Err(Anomaly::DuplicateOrder);
        }
        self.insert(
            order_ref,
            ModelOrder {
                locate,
                side,
                price,
                qty,
            },
        )?;
        self.crossed_check(locate);
        Ok(())
    }

    /// An execution or a partial cancel (`Some(qty)`), or a delete (`None`).
    pub fn take(&mut self, order_ref: u64, qty: Option<u32>) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if qty == Some(0) {
            self.counters.zero_quantity += 1;
            return Err(Anomaly::ZeroQuantity);
        }
        let Some(o) = self.orders.get(&order_ref).copied() else {
            self.counters.unknown_order += 1;
            return Err(Anomaly::UnknownOrder);
        };
        let want = qty.unwrap_or(o.qty);
        let mut result = Ok(());
        if want > o.qty {
            self.counters.negative_quantity += 1;
            result = Err(Anomaly::NegativeQuantity);
        }
        self.remove_shares(order_ref, want.min(o.qty));
        result
    }

    pub fn replace(&mut self, old: u64, new: u64, price: i64, qty: u32) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        let Some(o) = self.orders.get(&old).copied() else {
            self.counters.unknown_order += 1;
            return Err(Anomaly::UnknownOrder);
        };
        self.check_terms(price, qty)?;
        if new != old && self.orders.contains_key(&new) {
            self.counters.duplicate_order += 1;
            return Err(Anomaly::DuplicateOrder);
        }
        self.remove_shares(old, o.qty);
        let result = self.insert(new, ModelOrder { price, qty, ..o });
        self.crossed_check(o.locate);
        result
    }

    /// A message that only touches an instrument's status.
    pub fn status(&mut self, locate: u16) -> Result<(), Anomaly> {
        self.counters.messages += 1;
        if locate == 0 {
            self.counters.bad_locate += 1;
            return Err(Anomaly::BadLocate);
        }
        Ok(())
    }

    /// The instrument whose book `msg` may change (0 for none): named by
    /// the message, or, for one that names an order, that order's (if live).
    pub fn locate_of(&self, msg: &Message<'_>) -> u16 {
        let order = |r: u64| self.orders.get(&r).map_or(0, |o| o.locate);
        match msg {
            Message::OrderExecuted(m) => order(m.order_ref()),
            Message::OrderExecutedWithPrice(m) => order(m.order_ref()),
            Message::OrderCancel(m) => order(m.order_ref()),
            Message::OrderDelete(m) => order(m.order_ref()),
            Message::OrderReplace(m) => order(m.original_order_ref()),
            m => m.stock_locate(),
        }
    }

    /// What `Book::apply_itch` must return for `msg` (see `book::itch`).
    pub fn apply(&mut self, msg: &Message<'_>) -> Result<(), Anomaly> {
        match msg {
            Message::AddOrder(m) => self.add(
                m.stock_locate(),
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::AddOrderMpid(m) => self.add(
                m.stock_locate(),
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::OrderExecuted(m) => self.take(m.order_ref(), Some(m.executed_shares())),
            Message::OrderExecutedWithPrice(m) => {
                self.take(m.order_ref(), Some(m.executed_shares()))
            }
            Message::OrderCancel(m) => self.take(m.order_ref(), Some(m.cancelled_shares())),
            Message::OrderDelete(m) => self.take(m.order_ref(), None),
            Message::OrderReplace(m) => self.replace(
                m.original_order_ref(),
                m.new_order_ref(),
                m.price().0,
                m.shares(),
            ),
            Message::Trade(m) => self.status(m.stock_locate()),
            Message::CrossTrade(m) => self.status(m.stock_locate()),
            Message::StockDirectory(m) => self.status(m.stock_locate()),
            Message::Noii(m) => self.status(m.stock_locate()),
            Message::StockTradingAction(m) if b"HPQT".contains(&m.trading_state()) => {
                self.status(m.stock_locate())
            }
            _ => {
                self.counters.ignored += 1;
                Ok(())
            }
        }
    }
}
