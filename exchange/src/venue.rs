//! A venue: listings (one matching engine each), the background market, the
//! feed, and the orders of FIX sessions with their execution reports.
//!
//! The venue is single-threaded and driven from outside (the FIX server and
//! the lab's clock); everything it does is appended to the feed and to the
//! per-session outboxes, so what the appliance does moves the market it sees.

use crate::feed::{itch_for, FeedConfig, Publisher};
use crate::flow::{Background, FlowConfig};
use crate::matching::{Engine, Event, Owner, Reject, Sequences};
use protocol::itch::{Header, MessageRepr, StockDirectoryRepr, SystemEventRepr};
use protocol::moldudp64::SessionId;
use std::collections::HashMap;
use types::{Price, Side, StockLocate, Symbol, TimeInForce};

/// One instrument traded on the venue.
pub struct Listing {
    pub locate: StockLocate,
    pub symbol: Symbol,
    pub engine: Engine,
    pub flow: Background,
}

/// What the FIX layer sends back for an order (rendered into an
/// ExecutionReport or OrderCancelReject by the server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    Execution(ExecutionState),
    CancelReject {
        cl_ord_id: String,
        orig_cl_ord_id: String,
        order_id: u64,
        replace: bool,
        reason: &'static str,
    },
}

/// The fields of an ExecutionReport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionState {
    pub order_id: u64,
    pub cl_ord_id: String,
    pub orig_cl_ord_id: Option<String>,
    pub exec_id: u64,
    /// The execution a bust or correction refers to (ExecRefID).
    pub exec_ref_id: Option<u64>,
    pub kind: ExecKind,
    pub symbol: Symbol,
    pub side: Side,
    pub order_qty: u32,
    pub price: Price,
    pub last_qty: u32,
    pub last_px: Price,
    pub leaves_qty: u32,
    pub cum_qty: u32,
    /// Average fill price, price4 (rounded to nearest).
    pub avg_px: Price,
    pub text: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecKind {
    New,
    Fill,
    Canceled,
    Replaced,
    Rejected,
    Expired,
    /// A trade broken after the fact (a bust).
    TradeCancel,
    /// A trade's terms changed after the fact.
    TradeCorrect,
}

/// What an exchange does to an erroneous trade after the fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adjustment {
    /// Break it (TradeCancel).
    Bust,
    /// Move its price by this much, price4 (TradeCorrect).
    CorrectBy(i64),
}

/// A session order as the venue tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionOrder {
    owner: Owner,
    cl_ord_id: String,
    locate: StockLocate,
    side: Side,
    order_qty: u32,
    price: Price,
    cum_qty: u32,
    /// Σ qty × price of fills, for the average price.
    notional: i128,
    order_id: u64,
    /// A New or Replaced report went out for the current terms.
    acknowledged: bool,
    /// The ClOrdID this one replaced, reported once with the next report.
    orig_cl_ord_id: Option<String>,
}

/// One fill of a session order, as the venue booked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fill {
    pub owner: Owner,
    pub cl_ord_id: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: u32,
    pub price: Price,
    pub match_number: u64,
    /// The ExecID that reported it (a correction's, once corrected).
    pub exec_id: u64,
    /// Broken by [`Venue::adjust_last_fill`]: no longer in the position.
    pub busted: bool,
    /// The order as it stood after this fill (for the report of a later
    /// bust or correction, should the order be gone by then).
    order: SessionOrder,
}

/// A new order or replace a session sent, as the venue received it (kept
/// whether or not it was accepted), with the trading day it came in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub owner: Owner,
    /// 1 for the first day, then one more per [`Venue::open_day`].
    pub day: u32,
    pub symbol: Symbol,
    pub side: Side,
    pub price: Price,
    pub qty: u32,
    pub replace: bool,
}

/// Why the venue refused a request outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    UnknownSymbol,
    DuplicateClOrdId,
    Matching(Reject),
}

pub struct Venue {
    listings: Vec<Listing>,
    seq: Sequences,
    pub feed: Publisher,
    /// Live session orders by current order reference.
    orders: HashMap<u64, SessionOrder>,
    /// (owner, ClOrdID) → current order reference, for cancels/replaces.
    by_cl_ord_id: HashMap<(Owner, String), u64>,
    outbox: HashMap<Owner, Vec<Report>>,
    fills: Vec<Fill>,
    received: Vec<Received>,
    day: u32,
    next_exec_id: u64,
    now_ns: u64,
}

impl Venue {
    /// A venue on the lab's feed ([`FeedConfig::lab`], session `session`)
    /// listing `listings` (symbol, starting fair value) on a one-cent grid,
    /// the generator's background flow seeded from `seed`; open for trading.
    pub fn on_lab_feed(session: SessionId, listings: &[(&str, Price)], seed: u64) -> Venue {
        let feed = Publisher::new(FeedConfig::lab(session));
        let mut venue = Venue::new(feed, listings, Price(100), FlowConfig::default(), seed);
        venue.open();
        venue
    }

    /// A venue listing `symbols` (symbol, starting fair value), each with its
    /// own background flow seeded from `seed`.
    pub fn new(
        feed: Publisher,
        symbols: &[(&str, Price)],
        tick: Price,
        flow: FlowConfig,
        seed: u64,
    ) -> Venue {
        let listings = symbols
            .iter()
            .enumerate()
            .filter_map(|(i, (name, fair))| {
                Some(Listing {
                    locate: i as StockLocate + 1,
                    symbol: Symbol::new(name)?,
                    engine: Engine::new(tick),
                    flow: Background::new(
                        flow,
                        *fair,
                        tick,
                        seed.wrapping_add(i as u64 * 0x9e37),
                        flow.walk_seed
                            .unwrap_or(seed)
                            .wrapping_add(i as u64 * 0x9e37),
                    ),
                })
            })
            .collect();
        Venue {
            listings,
            seq: Sequences::new(0),
            feed,
            orders: HashMap::new(),
            by_cl_ord_id: HashMap::new(),
            outbox: HashMap::new(),
            fills: Vec::new(),
            received: Vec::new(),
            day: 1,
            next_exec_id: 1,
            now_ns: 0,
        }
    }

    pub fn listings(&self) -> &[Listing] {
        &self.listings
    }

    /// Sets the venue clock (nanoseconds since midnight, for ITCH timestamps).
    pub fn set_time(&mut self, now_ns: u64) {
        self.now_ns = now_ns;
    }

    fn header(&self, locate: StockLocate) -> Header {
        Header {
            stock_locate: locate,
            tracking_number: self.feed.tracking(),
            timestamp: self.now_ns,
        }
    }

    /// The trading day (1 for the first).
    pub fn day(&self) -> u32 {
        self.day
    }

    /// End of the trading day: system events `M` (end of market hours),
    /// `E` (end of system hours) and `C` (end of messages) on the feed, and
    /// every resting order leaves the books — the sessions' orders with an
    /// Expired report (day orders), the background's silently. Returns how
    /// many session orders expired. The feed's session ends with the next
    /// [`Venue::open_day`].
    pub fn close_day(&mut self) -> usize {
        for code in [b'M', b'E', b'C'] {
            let event = MessageRepr::SystemEvent(SystemEventRepr {
                header: self.header(0),
                event_code: code,
            });
            let _ = self.feed.publish(&event);
        }
        let mut expired = 0;
        for i in 0..self.listings.len() {
            let mut refs: Vec<u64> = self.listings[i]
                .engine
                .resting_orders()
                .map(|o| o.order_ref)
                .collect();
            refs.sort_unstable();
            let mut events = Vec::new();
            for r in refs {
                let _ = self.listings[i].engine.cancel(r, None, &mut events);
                if let Some(o) = self.orders.remove(&r) {
                    self.by_cl_ord_id.remove(&(o.owner, o.cl_ord_id.clone()));
                    self.report(&o, ExecKind::Expired, 0, Price(0), None);
                    expired += 1;
                }
            }
        }
        expired
    }

    /// The next trading day's feed: a new MoldUDP64 `session` numbered from
    /// 1, the listings under new stock `locates` (in listing order; locates
    /// are assigned per day), and the day's opening messages ([`open`]).
    /// Call after [`close_day`] and after the old session's last packets
    /// went out ([`Publisher::take_packets`], [`Publisher::end_of_session`]).
    ///
    /// [`open`]: Venue::open
    /// [`close_day`]: Venue::close_day
    pub fn open_day(&mut self, session: SessionId, locates: &[StockLocate]) {
        self.feed = Publisher::new(FeedConfig {
            session,
            ..*self.feed.config()
        });
        for (l, &locate) in self.listings.iter_mut().zip(locates) {
            l.locate = locate;
        }
        self.day += 1;
        self.open();
    }

    /// Every new order and replace the sessions sent, oldest first.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Start of day: system event `O`, a directory entry per listing, `Q`.
    pub fn open(&mut self) {
        let start = MessageRepr::SystemEvent(SystemEventRepr {
            header: self.header(0),
            event_code: b'O',
        });
        let _ = self.feed.publish(&start);
        for i in 0..self.listings.len() {
            let l = &self.listings[i];
            let dir = MessageRepr::StockDirectory(StockDirectoryRepr::common_stock(
                self.header(l.locate),
                l.symbol,
            ));
            let _ = self.feed.publish(&dir);
        }
        let open = MessageRepr::SystemEvent(SystemEventRepr {
            header: self.header(0),
            event_code: b'Q',
        });
        let _ = self.feed.publish(&open);
    }

    /// The engine of the listing `locate` names today.
    fn engine_of(&mut self, locate: StockLocate) -> Option<&mut Engine> {
        self.listings
            .iter_mut()
            .find(|l| l.locate == locate)
            .map(|l| &mut l.engine)
    }

    /// The symbol `locate` names today.
    fn symbol_of(&self, locate: StockLocate) -> Symbol {
        self.listings
            .iter()
            .find(|l| l.locate == locate)
            .map(|l| l.symbol)
            .unwrap_or_default()
    }

    fn listing_index(&self, symbol: &[u8]) -> Option<usize> {
        self.listings
            .iter()
            .position(|l| l.symbol.as_bytes() == symbol)
    }

    /// One background action on every listing.
    pub fn step_background(&mut self) {
        let mut events = Vec::new();
        for i in 0..self.listings.len() {
            events.clear();
            let l = &mut self.listings[i];
            // Background flow only ever submits valid orders.
            let _ = l.flow.step(&mut l.engine, &mut self.seq, &mut events);
            let locate = l.locate;
            self.apply(locate, &events);
        }
    }

    /// Publishes `events` and turns those touching session orders into reports.
    fn apply(&mut self, locate: StockLocate, events: &[Event]) {
        let symbol = self.symbol_of(locate);
        for event in events {
            if let Some(msg) = itch_for(event, locate, symbol, self.feed.tracking(), self.now_ns) {
                let _ = self.feed.publish(&msg);
            }
            match *event {
                Event::Executed {
                    resting_ref,
                    aggressor_ref,
                    price,
                    qty,
                    match_number,
                    ..
                } => {
                    for order_ref in [resting_ref, aggressor_ref] {
                        self.fill(order_ref, qty, price, match_number);
                    }
                }
                Event::Added { order_ref, .. }
                    if self.orders.get(&order_ref).is_some_and(|o| !o.acknowledged) =>
                {
                    self.acknowledge(order_ref, ExecKind::New);
                }
                Event::Canceled {
                    order_ref,
                    leaves: 0,
                    ..
                }
                | Event::Expired { order_ref, .. } => {
                    let kind = if matches!(event, Event::Expired { .. }) {
                        ExecKind::Expired
                    } else {
                        ExecKind::Canceled
                    };
                    if let Some(o) = self.orders.remove(&order_ref) {
                        self.by_cl_ord_id.remove(&(o.owner, o.cl_ord_id.clone()));
                        self.report(&o, kind, 0, Price(0), None);
                    }
                }
                _ => {}
            }
        }
    }

    fn fill(&mut self, order_ref: u64, qty: u32, price: Price, match_number: u64) {
        let Some(o) = self.orders.get_mut(&order_ref) else {
            return;
        };
        o.cum_qty += qty;
        o.notional += price.0 as i128 * qty as i128;
        let o = o.clone();
        let exec_id = self.report(&o, ExecKind::Fill, qty, price, None);
        self.fills.push(Fill {
            owner: o.owner,
            cl_ord_id: o.cl_ord_id.clone(),
            symbol: self.symbol_of(o.locate),
            side: o.side,
            qty,
            price,
            match_number,
            exec_id,
            busted: false,
            order: o.clone(),
        });
        if o.cum_qty >= o.order_qty {
            self.orders.remove(&order_ref);
            self.by_cl_ord_id.remove(&(o.owner, o.cl_ord_id));
        }
    }

    fn acknowledge(&mut self, order_ref: u64, kind: ExecKind) {
        let Some(o) = self.orders.get_mut(&order_ref) else {
            return;
        };
        o.acknowledged = true;
        let o = o.clone();
        self.report(&o, kind, 0, Price(0), None);
        if let Some(o) = self.orders.get_mut(&order_ref) {
            o.orig_cl_ord_id = None;
        }
    }

    /// Queues an ExecutionReport of `o` for its owner; its ExecID.
    fn report(
        &mut self,
        o: &SessionOrder,
        kind: ExecKind,
        last_qty: u32,
        last_px: Price,
        text: Option<&'static str>,
    ) -> u64 {
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        let avg_px = if o.cum_qty == 0 {
            Price(0)
        } else {
            Price(((o.notional + o.cum_qty as i128 / 2) / o.cum_qty as i128) as i64)
        };
        let leaves_qty = match kind {
            ExecKind::Canceled | ExecKind::Expired | ExecKind::Rejected => 0,
            _ => o.order_qty.saturating_sub(o.cum_qty),
        };
        let state = ExecutionState {
            order_id: o.order_id,
            cl_ord_id: o.cl_ord_id.clone(),
            orig_cl_ord_id: o.orig_cl_ord_id.clone(),
            exec_id,
            exec_ref_id: None,
            kind,
            symbol: self.symbol_of(o.locate),
            side: o.side,
            order_qty: o.order_qty,
            price: o.price,
            last_qty,
            last_px,
            leaves_qty,
            cum_qty: o.cum_qty,
            avg_px,
            text,
        };
        self.outbox
            .entry(o.owner)
            .or_default()
            .push(Report::Execution(state));
        exec_id
    }

    /// Breaks or re-prices (`adjustment`) `owner`'s last standing fill, as
    /// an exchange does after the fact (an erroneous trade): the fill
    /// leaves the position, or stays at the new price, and the owner gets
    /// an ExecutionReport (TradeCancel / TradeCorrect) naming the fill's
    /// ExecID as its ExecRefID. The order's CumQty drops by a bust; its
    /// LeavesQty does not change (a busted quantity is not worked again).
    /// `None` when the owner has no standing fill.
    pub fn adjust_last_fill(&mut self, owner: Owner, adjustment: Adjustment) -> Option<u64> {
        let index = self
            .fills
            .iter()
            .rposition(|f| f.owner == owner && !f.busted)?;
        let fill = self.fills.get(index)?.clone();
        let correct_to = match adjustment {
            Adjustment::Bust => None,
            Adjustment::CorrectBy(by) => Some(Price(fill.price.0 + by)),
        };
        // The order may have been replaced or have a cancel in flight since
        // the fill: it goes by another ClOrdID and book reference now, and
        // only its OrderID(37) still names it.
        let live = self
            .orders
            .iter()
            .find(|(_, o)| o.owner == owner && o.order_id == fill.order.order_id)
            .map(|(&r, _)| r);
        let mut order = match live.and_then(|r| self.orders.get(&r)) {
            Some(o) => o.clone(),
            None => fill.order.clone(),
        };
        let qty = fill.qty as i128;
        let (kind, last_px) = match correct_to {
            None => {
                order.cum_qty = order.cum_qty.saturating_sub(fill.qty);
                order.order_qty = order.order_qty.saturating_sub(fill.qty);
                order.notional -= qty * fill.price.0 as i128;
                (ExecKind::TradeCancel, fill.price)
            }
            Some(p) => {
                order.notional += qty * (p.0 - fill.price.0) as i128;
                (ExecKind::TradeCorrect, p)
            }
        };
        if let Some(o) = live.and_then(|r| self.orders.get_mut(&r)) {
            *o = order.clone();
        }
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        let leaves_qty = match live {
            Some(_) => order.order_qty.saturating_sub(order.cum_qty),
            None => 0,
        };
        let state = ExecutionState {
            order_id: order.order_id,
            cl_ord_id: order.cl_ord_id.clone(),
            orig_cl_ord_id: None,
            exec_id,
            exec_ref_id: Some(fill.exec_id),
            kind,
            symbol: fill.symbol,
            side: fill.side,
            order_qty: order.order_qty,
            price: order.price,
            last_qty: fill.qty,
            last_px,
            leaves_qty,
            cum_qty: order.cum_qty,
            avg_px: if order.cum_qty == 0 {
                Price(0)
            } else {
                Price(((order.notional + order.cum_qty as i128 / 2) / order.cum_qty as i128) as i64)
            },
            text: None,
        };
        self.outbox
            .entry(owner)
            .or_default()
            .push(Report::Execution(state));
        let f = self.fills.get_mut(index)?;
        match correct_to {
            None => f.busted = true,
            Some(p) => {
                f.price = p;
                f.exec_id = exec_id;
            }
        }
        f.order = order;
        Some(exec_id)
    }

    /// A NewOrderSingle from session `owner`.
    #[allow(clippy::too_many_arguments)]
    pub fn new_order(
        &mut self,
        owner: Owner,
        cl_ord_id: &str,
        symbol: &[u8],
        side: Side,
        qty: u32,
        price: Price,
        tif: TimeInForce,
    ) -> Result<u64, RequestError> {
        self.received.push(Received {
            owner,
            day: self.day,
            symbol: std::str::from_utf8(symbol)
                .ok()
                .and_then(Symbol::new)
                .unwrap_or_default(),
            side,
            price,
            qty,
            replace: false,
        });
        let Some(index) = self.listing_index(symbol) else {
            self.reject_new(owner, cl_ord_id, side, qty, price, "unknown symbol");
            return Err(RequestError::UnknownSymbol);
        };
        if self
            .by_cl_ord_id
            .contains_key(&(owner, cl_ord_id.to_string()))
        {
            self.reject_new(owner, cl_ord_id, side, qty, price, "duplicate ClOrdID");
            return Err(RequestError::DuplicateClOrdId);
        }
        let locate = self.listings[index].locate;
        // Register under the reference the engine will assign, so executions
        // during `submit` are attributed, and acknowledge before any fill.
        let order_ref = self.seq.peek_order_ref();
        self.orders.insert(
            order_ref,
            SessionOrder {
                owner,
                cl_ord_id: cl_ord_id.to_string(),
                locate,
                side,
                order_qty: qty,
                price,
                cum_qty: 0,
                notional: 0,
                order_id: order_ref,
                acknowledged: false,
                orig_cl_ord_id: None,
            },
        );
        let mut events = Vec::new();
        match self.listings[index].engine.submit(
            &mut self.seq,
            owner,
            side,
            price,
            qty,
            tif,
            &mut events,
        ) {
            Ok(assigned) => {
                debug_assert_eq!(assigned, order_ref);
                self.by_cl_ord_id
                    .insert((owner, cl_ord_id.to_string()), order_ref);
                self.acknowledge(order_ref, ExecKind::New);
                self.apply(locate, &events);
                Ok(order_ref)
            }
            Err(reject) => {
                self.orders.remove(&order_ref);
                let why = match reject {
                    Reject::WouldTrade => "post-only order would trade",
                    Reject::BadPrice => "price not on the tick grid",
                    Reject::ZeroQuantity => "zero quantity",
                    Reject::UnknownOrder => "unknown order",
                };
                self.reject_new(owner, cl_ord_id, side, qty, price, why);
                Err(RequestError::Matching(reject))
            }
        }
    }

    fn reject_new(
        &mut self,
        owner: Owner,
        cl_ord_id: &str,
        side: Side,
        qty: u32,
        price: Price,
        why: &'static str,
    ) {
        let exec_id = self.next_exec_id;
        self.next_exec_id += 1;
        let state = ExecutionState {
            order_id: 0,
            cl_ord_id: cl_ord_id.to_string(),
            orig_cl_ord_id: None,
            exec_id,
            exec_ref_id: None,
            kind: ExecKind::Rejected,
            symbol: Symbol::default(),
            side,
            order_qty: qty,
            price,
            last_qty: 0,
            last_px: Price(0),
            leaves_qty: 0,
            cum_qty: 0,
            avg_px: Price(0),
            text: Some(why),
        };
        self.outbox
            .entry(owner)
            .or_default()
            .push(Report::Execution(state));
    }

    fn cancel_reject(
        &mut self,
        owner: Owner,
        cl_ord_id: &str,
        orig_cl_ord_id: &str,
        order_id: u64,
        replace: bool,
        reason: &'static str,
    ) {
        self.outbox
            .entry(owner)
            .or_default()
            .push(Report::CancelReject {
                cl_ord_id: cl_ord_id.to_string(),
                orig_cl_ord_id: orig_cl_ord_id.to_string(),
                order_id,
                replace,
                reason,
            });
    }

    /// An OrderCancelRequest: cancels what is open of `orig_cl_ord_id`.
    pub fn cancel(
        &mut self,
        owner: Owner,
        orig_cl_ord_id: &str,
        cl_ord_id: &str,
    ) -> Result<(), RequestError> {
        let Some(&order_ref) = self.by_cl_ord_id.get(&(owner, orig_cl_ord_id.to_string())) else {
            self.cancel_reject(owner, cl_ord_id, orig_cl_ord_id, 0, false, "unknown order");
            return Err(RequestError::Matching(Reject::UnknownOrder));
        };
        let Some(order) = self.orders.get_mut(&order_ref) else {
            return Err(RequestError::Matching(Reject::UnknownOrder));
        };
        // The cancel's own ClOrdID names the order from now on (FIX chaining).
        let old = std::mem::replace(&mut order.cl_ord_id, cl_ord_id.to_string());
        order.orig_cl_ord_id = Some(old.clone());
        let locate = order.locate;
        self.by_cl_ord_id.remove(&(owner, old));
        self.by_cl_ord_id
            .insert((owner, cl_ord_id.to_string()), order_ref);
        let mut events = Vec::new();
        let result = match self.engine_of(locate) {
            Some(engine) => engine.cancel(order_ref, None, &mut events),
            None => Err(Reject::UnknownOrder),
        };
        self.apply(locate, &events);
        result.map_err(RequestError::Matching)
    }

    /// An OrderCancelReplaceRequest: new price and/or quantity.
    pub fn replace(
        &mut self,
        owner: Owner,
        orig_cl_ord_id: &str,
        cl_ord_id: &str,
        price: Price,
        qty: u32,
    ) -> Result<u64, RequestError> {
        let Some(&order_ref) = self.by_cl_ord_id.get(&(owner, orig_cl_ord_id.to_string())) else {
            self.cancel_reject(owner, cl_ord_id, orig_cl_ord_id, 0, true, "unknown order");
            return Err(RequestError::Matching(Reject::UnknownOrder));
        };
        let Some(mut order) = self.orders.remove(&order_ref) else {
            return Err(RequestError::Matching(Reject::UnknownOrder));
        };
        self.received.push(Received {
            owner,
            day: self.day,
            symbol: self.symbol_of(order.locate),
            side: order.side,
            price,
            qty,
            replace: true,
        });
        let leaves = order.order_qty - order.cum_qty;
        if qty <= order.cum_qty {
            let order_id = order.order_id;
            self.orders.insert(order_ref, order);
            self.cancel_reject(
                owner,
                cl_ord_id,
                orig_cl_ord_id,
                order_id,
                true,
                "quantity not above what is filled",
            );
            return Err(RequestError::Matching(Reject::ZeroQuantity));
        }
        // (A session order's listing exists: locates change only at a new
        // day, when no session order is left.)
        let tick = self.engine_of(order.locate).map_or(1, |e| e.tick().0);
        if price.0 <= 0 || price.0 % tick != 0 || price.0 > u32::MAX as i64 {
            let order_id = order.order_id;
            self.orders.insert(order_ref, order);
            self.cancel_reject(
                owner,
                cl_ord_id,
                orig_cl_ord_id,
                order_id,
                true,
                "price not on the tick grid",
            );
            return Err(RequestError::Matching(Reject::BadPrice));
        }
        let open = qty - order.cum_qty;
        // The engine keeps the reference for a size decrease at the same
        // price and assigns the next one otherwise (also when marketable).
        let keeps = price == order.price && open <= leaves;
        let new_ref = if keeps {
            order_ref
        } else {
            self.seq.peek_order_ref()
        };
        let locate = order.locate;
        self.by_cl_ord_id
            .remove(&(owner, orig_cl_ord_id.to_string()));
        self.by_cl_ord_id
            .insert((owner, cl_ord_id.to_string()), new_ref);
        order.orig_cl_ord_id = Some(orig_cl_ord_id.to_string());
        order.cl_ord_id = cl_ord_id.to_string();
        order.order_qty = qty;
        order.price = price;
        self.orders.insert(new_ref, order);
        self.acknowledge(new_ref, ExecKind::Replaced);
        let mut events = Vec::new();
        let result = match self.listings.iter_mut().find(|l| l.locate == locate) {
            Some(l) => l
                .engine
                .replace(&mut self.seq, order_ref, price, open, &mut events),
            None => Err(Reject::UnknownOrder),
        };
        self.apply(locate, &events);
        match result {
            Ok(assigned) => {
                debug_assert_eq!(assigned, new_ref);
                Ok(assigned)
            }
            Err(reject) => Err(RequestError::Matching(reject)),
        }
    }

    /// Cancels every open order of `owner` (cancel on disconnect).
    pub fn cancel_all_of(&mut self, owner: Owner) -> usize {
        let mut total = 0;
        for i in 0..self.listings.len() {
            let mut events = Vec::new();
            total += self.listings[i].engine.cancel_all_of(owner, &mut events);
            let locate = self.listings[i].locate;
            self.apply(locate, &events);
        }
        total
    }

    /// An OrderMassCancelRequest of session `owner`: cancels its open
    /// orders in `symbol`, or in every listing without one, each with its
    /// own cancel report (under the order's ClOrdID); returns how many.
    /// A symbol the venue does not list has none.
    pub fn mass_cancel(&mut self, owner: Owner, symbol: Option<&[u8]>) -> usize {
        let Some(symbol) = symbol else {
            return self.cancel_all_of(owner);
        };
        let Some(i) = self.listing_index(symbol) else {
            return 0;
        };
        let mut events = Vec::new();
        let total = self.listings[i].engine.cancel_all_of(owner, &mut events);
        let locate = self.listings[i].locate;
        self.apply(locate, &events);
        total
    }

    /// Reports waiting for session `owner`, oldest first.
    pub fn take_reports(&mut self, owner: Owner) -> Vec<Report> {
        self.outbox.remove(&owner).unwrap_or_default()
    }

    /// Every fill of session orders so far.
    pub fn fills(&self) -> &[Fill] {
        &self.fills
    }

    /// Net position of `owner` in `symbol` from the venue's own records.
    pub fn position(&self, owner: Owner, symbol: Symbol) -> i64 {
        self.fills
            .iter()
            .filter(|f| f.owner == owner && f.symbol == symbol && !f.busted)
            .map(|f| f.side.sign() * f.qty as i64)
            .sum()
    }

    /// Cash flow of `owner` in `symbol` from the venue's fills (price4 ×
    /// shares): what sales brought in minus what purchases cost. With the
    /// position marked at a price, it gives the owner's PnL.
    pub fn cash(&self, owner: Owner, symbol: Symbol) -> i128 {
        self.fills
            .iter()
            .filter(|f| f.owner == owner && f.symbol == symbol && !f.busted)
            .map(|f| -(f.side.sign() as i128) * f.qty as i128 * f.price.0 as i128)
            .sum()
    }

    /// Open (resting) session orders of `owner`.
    pub fn open_orders(&self, owner: Owner) -> usize {
        self.orders.values().filter(|o| o.owner == owner).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::FeedConfig;
    use protocol::itch::Message;
    use std::collections::BTreeMap;

    const ME: Owner = Owner(1);
    const TICK: Price = Price(100);

    fn venue() -> Venue {
        let feed = Publisher::new(FeedConfig {
            session: *b"VENUETEST1",
            src_mac: protocol::ethernet::Address([2, 0, 0, 0, 0, 1]),
            src_addr: protocol::ipv4::Address([10, 0, 0, 1]),
            src_port: 5000,
            line_a: protocol::filter::Subscription {
                group: protocol::ipv4::Address([233, 54, 12, 1]),
                port: 26400,
            },
            line_b: protocol::filter::Subscription {
                group: protocol::ipv4::Address([233, 54, 12, 2]),
                port: 26401,
            },
            max_payload: 1400,
        });
        let mut v = Venue::new(
            feed,
            &[("AAA", Price(100_0000)), ("BBB", Price(20_0000))],
            TICK,
            FlowConfig::default(),
            9,
        );
        v.set_time(34_200_000_000_000);
        v.open();
        v
    }

    fn executions(reports: &[Report]) -> Vec<(ExecKind, u32, u32)> {
        reports
            .iter()
            .filter_map(|r| match r {
                Report::Execution(e) => Some((e.kind, e.last_qty, e.leaves_qty)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn resting_order_is_acknowledged_then_filled_by_the_market() {
        let mut v = venue();
        for _ in 0..200 {
            v.step_background();
        }
        let (bid, _) = v.listings()[0].engine.best(Side::Buy).unwrap();
        // Join the best bid: the background's aggressive sells will reach it.
        v.new_order(ME, "c1", b"AAA", Side::Buy, 300, bid, TimeInForce::Day)
            .unwrap();
        assert_eq!(
            executions(&v.take_reports(ME)),
            vec![(ExecKind::New, 0, 300)]
        );
        let mut filled = 0;
        for _ in 0..20_000 {
            v.step_background();
            for r in v.take_reports(ME) {
                if let Report::Execution(e) = r {
                    assert!(
                        matches!(e.kind, ExecKind::Fill | ExecKind::Canceled),
                        "{e:?}"
                    );
                    if e.kind == ExecKind::Fill {
                        filled += e.last_qty;
                        assert_eq!(e.cum_qty, filled);
                        assert_eq!(e.leaves_qty, 300 - filled);
                        assert_eq!(e.last_px, bid);
                        assert_eq!(e.avg_px, bid);
                    }
                }
            }
            if filled == 300 {
                break;
            }
        }
        assert_eq!(
            filled, 300,
            "background flow never traded with a bid at the touch"
        );
        assert_eq!(v.position(ME, Symbol::new("AAA").unwrap()), 300);
        assert_eq!(v.open_orders(ME), 0);
    }

    /// A bust takes the last fill out of the position and reports it with
    /// its ExecID as ExecRefID; a correction re-prices the fill left, which
    /// changes the cash and not the position; the fill before is next.
    #[test]
    fn busts_and_corrections_of_the_last_fill_are_reported() {
        let mut v = venue();
        for _ in 0..200 {
            v.step_background();
        }
        let aaa = Symbol::new("AAA").unwrap();
        assert_eq!(
            v.adjust_last_fill(ME, Adjustment::Bust),
            None,
            "nothing to bust yet"
        );
        let (ask, size) = v.listings()[0].engine.best(Side::Sell).unwrap();
        let qty = size as u32 + 100;
        v.new_order(
            ME,
            "m1",
            b"AAA",
            Side::Buy,
            qty,
            ask,
            TimeInForce::ImmediateOrCancel,
        )
        .unwrap();
        v.take_reports(ME);
        let fills: Vec<Fill> = v.fills().to_vec();
        let last = fills.last().unwrap().clone();
        let position = v.position(ME, aaa);
        let cash = v.cash(ME, aaa);

        let bust = v.adjust_last_fill(ME, Adjustment::Bust).unwrap();
        let reports = v.take_reports(ME);
        let [Report::Execution(e)] = reports.as_slice() else {
            panic!("{reports:?}")
        };
        assert_eq!(
            (e.kind, e.exec_id, e.exec_ref_id, e.last_qty, e.last_px),
            (
                ExecKind::TradeCancel,
                bust,
                Some(last.exec_id),
                last.qty,
                last.price
            )
        );
        assert_eq!(e.cum_qty, size as u32 - last.qty);
        assert_eq!(e.leaves_qty, 0, "the IOC is done");
        assert_eq!(v.position(ME, aaa), position - last.qty as i64);
        assert_eq!(
            v.cash(ME, aaa),
            cash + last.qty as i128 * last.price.0 as i128
        );

        // The standing fill before it, 1 cent dearer.
        let before = fills[fills.len() - 2].clone();
        let cash = v.cash(ME, aaa);
        let correct = v.adjust_last_fill(ME, Adjustment::CorrectBy(100)).unwrap();
        let reports = v.take_reports(ME);
        let [Report::Execution(e)] = reports.as_slice() else {
            panic!("{reports:?}")
        };
        assert_eq!(
            (e.kind, e.exec_ref_id, e.last_qty, e.last_px),
            (
                ExecKind::TradeCorrect,
                Some(before.exec_id),
                before.qty,
                Price(before.price.0 + 100)
            )
        );
        assert_eq!(v.position(ME, aaa), position - last.qty as i64);
        assert_eq!(v.cash(ME, aaa), cash - before.qty as i128 * 100);
        // The corrected fill now goes by the correction's ExecID.
        assert_eq!(v.fills()[fills.len() - 2].exec_id, correct);
    }

    /// A mass cancel takes the session's open orders in the listing it
    /// names (all listings without one), each reported canceled under its
    /// own ClOrdID, and leaves other sessions' orders alone.
    #[test]
    fn a_mass_cancel_cancels_the_sessions_orders_in_scope() {
        let mut v = venue();
        let other = Owner(ME.0 + 1);
        let resting = |v: &mut Venue, owner: Owner, id: &str, symbol: &[u8], price: i64| {
            v.new_order(
                owner,
                id,
                symbol,
                Side::Buy,
                100,
                Price(price),
                TimeInForce::Day,
            )
            .unwrap();
            v.take_reports(owner);
        };
        resting(&mut v, ME, "a1", b"AAA", 90_0000);
        resting(&mut v, ME, "a2", b"AAA", 89_0000);
        resting(&mut v, ME, "b1", b"BBB", 18_0000);
        resting(&mut v, other, "o1", b"AAA", 90_0000);

        assert_eq!(v.mass_cancel(ME, Some(b"ZZZ")), 0, "not listed");
        assert_eq!(v.mass_cancel(ME, Some(b"AAA")), 2);
        let canceled = |reports: Vec<Report>| {
            let mut ids: Vec<String> = reports
                .into_iter()
                .map(|r| match r {
                    Report::Execution(e) if e.kind == ExecKind::Canceled && e.leaves_qty == 0 => {
                        e.cl_ord_id
                    }
                    r => panic!("{r:?}"),
                })
                .collect();
            ids.sort();
            ids
        };
        assert_eq!(canceled(v.take_reports(ME)), ["a1", "a2"]);
        assert_eq!(v.mass_cancel(ME, None), 1);
        assert_eq!(canceled(v.take_reports(ME)), ["b1"]);
        assert_eq!(v.mass_cancel(ME, None), 0, "nothing left");
        assert!(v.take_reports(other).is_empty());
        // The other session's order still works: it can be canceled.
        v.cancel(other, "o1", "o2").unwrap();
        assert_eq!(canceled(v.take_reports(other)), ["o2"]);
    }

    /// A bust of a fill whose order was replaced since (it goes by another
    /// ClOrdID now) adjusts the live order: the report names it by its
    /// current ClOrdID, and its CumQty stays right for the fills after.
    #[test]
    fn a_bust_after_a_replace_adjusts_the_live_order() {
        let mut v = venue();
        for _ in 0..200 {
            v.step_background();
        }
        let (ask, size) = v.listings()[0].engine.best(Side::Sell).unwrap();
        let filled = size as u32;
        v.new_order(
            ME,
            "m1",
            b"AAA",
            Side::Buy,
            filled + 100,
            ask,
            TimeInForce::Day,
        )
        .unwrap();
        v.take_reports(ME);
        let last = v.fills().last().unwrap().clone();
        assert_eq!(last.cl_ord_id, "m1");
        // The rest works on under a new ClOrdID, one share larger.
        v.replace(ME, "m1", "m2", ask, filled + 101).unwrap();
        v.take_reports(ME);

        v.adjust_last_fill(ME, Adjustment::Bust).unwrap();
        let reports = v.take_reports(ME);
        let [Report::Execution(e)] = reports.as_slice() else {
            panic!("{reports:?}")
        };
        assert_eq!(
            (e.kind, e.cl_ord_id.as_str(), e.cum_qty, e.leaves_qty),
            (ExecKind::TradeCancel, "m2", filled - last.qty, 101)
        );
        // The live order took the bust: a replace to what is left filled
        // plus 50 reports exactly that.
        let cum = filled - last.qty;
        v.replace(ME, "m2", "m3", ask, cum + 50).unwrap();
        let reports = v.take_reports(ME);
        let [Report::Execution(e)] = reports.as_slice() else {
            panic!("{reports:?}")
        };
        assert_eq!(
            (e.kind, e.cl_ord_id.as_str(), e.cum_qty, e.leaves_qty),
            (ExecKind::Replaced, "m3", cum, 50)
        );
    }

    /// A session's orders, replaces, cancels, busts and corrections in
    /// random order while the background trades: the venue's books and its
    /// reports stay in step. Each live order's CumQty is the sum of its
    /// standing fills; the position its reports add up to (fills in, busts
    /// out) is the venue's; the CumQty a report gives for an order is what
    /// the venue holds for it.
    #[test]
    fn random_sessions_keep_orders_fills_and_reports_in_step() {
        let aaa = Symbol::new("AAA").unwrap();
        for seed in 1..=20u64 {
            let mut v = venue();
            for _ in 0..200 {
                v.step_background();
            }
            let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let mut next = |n: u64| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng % n
            };
            let mut reported_position = 0i64;
            let mut reported_cum: std::collections::HashMap<u64, u32> = Default::default();
            let mut ids = 0u32;
            let mut fresh = || {
                ids += 1;
                std::format!("c{ids}")
            };
            for step in 0..400 {
                let live: Vec<(String, u32, Price)> = v
                    .orders
                    .values()
                    .filter(|o| o.owner == ME)
                    .map(|o| (o.cl_ord_id.clone(), o.cum_qty, o.price))
                    .collect();
                match next(10) {
                    0..=2 => {
                        let side = if next(2) == 0 { Side::Buy } else { Side::Sell };
                        if let Some((price, _)) = v.listings()[0].engine.best(side.opposite()) {
                            let price = Price(price.0 + (next(5) as i64 - 2) * TICK.0);
                            let qty = 100 + 100 * next(5) as u32;
                            let _ = v.new_order(
                                ME,
                                &fresh(),
                                b"AAA",
                                side,
                                qty,
                                price,
                                TimeInForce::Day,
                            );
                        }
                    }
                    3 | 4 if !live.is_empty() => {
                        let (cl, cum, price) = &live[next(live.len() as u64) as usize];
                        let price = Price(price.0 + (next(3) as i64 - 1) * TICK.0);
                        let qty = cum + 1 + next(400) as u32;
                        let _ = v.replace(ME, cl, &fresh(), price, qty);
                    }
                    5 if !live.is_empty() => {
                        let (cl, _, _) = &live[next(live.len() as u64) as usize];
                        let _ = v.cancel(ME, cl, &fresh());
                    }
                    6 => {
                        let _ = v.adjust_last_fill(ME, Adjustment::Bust);
                    }
                    7 => {
                        let by = (next(3) as i64 + 1) * TICK.0;
                        let _ = v.adjust_last_fill(ME, Adjustment::CorrectBy(by));
                    }
                    _ => {
                        for _ in 0..next(50) {
                            v.step_background();
                        }
                    }
                }
                for r in v.take_reports(ME) {
                    let Report::Execution(e) = r else { continue };
                    let sign = e.side.sign();
                    match e.kind {
                        ExecKind::Fill => reported_position += sign * e.last_qty as i64,
                        ExecKind::TradeCancel => reported_position -= sign * e.last_qty as i64,
                        _ => {}
                    }
                    reported_cum.insert(e.order_id, e.cum_qty);
                }
                let context = std::format!("seed {seed} step {step}");
                assert_eq!(reported_position, v.position(ME, aaa), "{context}");
                for o in v.orders.values().filter(|o| o.owner == ME) {
                    let standing: u32 = v
                        .fills()
                        .iter()
                        .filter(|f| f.order.order_id == o.order_id && !f.busted)
                        .map(|f| f.qty)
                        .sum();
                    assert_eq!(o.cum_qty, standing, "{context}: {o:?}");
                    if let Some(&cum) = reported_cum.get(&o.order_id) {
                        assert_eq!(cum, o.cum_qty, "{context}: the last report of {o:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn marketable_order_acknowledges_before_fills() {
        let mut v = venue();
        for _ in 0..200 {
            v.step_background();
        }
        let (ask, size) = v.listings()[0].engine.best(Side::Sell).unwrap();
        let qty = size as u32 + 100;
        v.new_order(
            ME,
            "m1",
            b"AAA",
            Side::Buy,
            qty,
            ask,
            TimeInForce::ImmediateOrCancel,
        )
        .unwrap();
        let ex = executions(&v.take_reports(ME));
        assert_eq!(ex[0].0, ExecKind::New);
        let filled: u32 = ex
            .iter()
            .filter(|e| e.0 == ExecKind::Fill)
            .map(|e| e.1)
            .sum();
        assert_eq!(filled as u64, size);
        assert_eq!(
            ex.last().unwrap().0,
            ExecKind::Expired,
            "IOC remainder expires"
        );
        assert_eq!(v.position(ME, Symbol::new("AAA").unwrap()), size as i64);
    }

    #[test]
    fn cancel_and_replace_chain_client_order_ids() {
        let mut v = venue();
        let p = Price(90_0000);
        v.new_order(ME, "a", b"AAA", Side::Buy, 500, p, TimeInForce::Day)
            .unwrap();
        let order_id = match &v.take_reports(ME)[..] {
            [Report::Execution(e)] => e.order_id,
            other => panic!("{other:?}"),
        };
        let new_ref = v.replace(ME, "a", "b", Price(90_0100), 500).unwrap();
        assert_ne!(
            new_ref, order_id,
            "a price change takes a new book reference"
        );
        let r = v.take_reports(ME);
        match &r[..] {
            [Report::Execution(e)] => {
                assert_eq!(
                    (e.kind, e.cl_ord_id.as_str(), e.orig_cl_ord_id.as_deref()),
                    (ExecKind::Replaced, "b", Some("a"))
                );
                // OrderID(37) stays the same across replaces.
                assert_eq!(
                    (e.price, e.leaves_qty, e.order_id),
                    (Price(90_0100), 500, order_id)
                );
            }
            other => panic!("{other:?}"),
        }
        // Size decrease at the same price keeps the reference.
        assert_eq!(v.replace(ME, "b", "c", Price(90_0100), 200), Ok(new_ref));
        v.take_reports(ME);
        v.cancel(ME, "c", "d").unwrap();
        match &v.take_reports(ME)[..] {
            [Report::Execution(e)] => {
                assert_eq!(
                    (e.kind, e.cl_ord_id.as_str(), e.orig_cl_ord_id.as_deref()),
                    (ExecKind::Canceled, "d", Some("c"))
                );
                assert_eq!(e.leaves_qty, 0);
            }
            other => panic!("{other:?}"),
        }
        assert!(v.cancel(ME, "c", "e").is_err());
        assert!(matches!(
            &v.take_reports(ME)[..],
            [Report::CancelReject { replace: false, .. }]
        ));
        assert!(v.replace(ME, "zz", "y", p, 1).is_err());
        assert!(matches!(
            &v.take_reports(ME)[..],
            [Report::CancelReject { replace: true, .. }]
        ));
    }

    #[test]
    fn bad_requests_are_rejected_with_a_reason() {
        let mut v = venue();
        assert_eq!(
            v.new_order(
                ME,
                "x",
                b"NOPE",
                Side::Buy,
                100,
                Price(1_0000),
                TimeInForce::Day
            ),
            Err(RequestError::UnknownSymbol)
        );
        v.new_order(
            ME,
            "x",
            b"AAA",
            Side::Buy,
            100,
            Price(1_0000),
            TimeInForce::Day,
        )
        .unwrap();
        assert_eq!(
            v.new_order(
                ME,
                "x",
                b"AAA",
                Side::Buy,
                100,
                Price(1_0000),
                TimeInForce::Day
            ),
            Err(RequestError::DuplicateClOrdId)
        );
        assert!(v
            .new_order(
                ME,
                "y",
                b"AAA",
                Side::Buy,
                100,
                Price(1_0050),
                TimeInForce::Day
            )
            .is_err());
        let kinds: Vec<_> = v
            .take_reports(ME)
            .into_iter()
            .filter_map(|r| {
                if let Report::Execution(e) = r {
                    Some((e.kind, e.text))
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(kinds[0], (ExecKind::Rejected, Some("unknown symbol")));
        assert_eq!(kinds[1].0, ExecKind::New);
        assert_eq!(kinds[2], (ExecKind::Rejected, Some("duplicate ClOrdID")));
        assert_eq!(
            kinds[3],
            (ExecKind::Rejected, Some("price not on the tick grid"))
        );
    }

    #[test]
    fn cancel_on_disconnect_cancels_every_session_order() {
        let mut v = venue();
        for i in 0..5 {
            v.new_order(
                ME,
                &format!("o{i}"),
                b"BBB",
                Side::Sell,
                100,
                Price(30_0000 + i * 100),
                TimeInForce::Day,
            )
            .unwrap();
        }
        v.take_reports(ME);
        assert_eq!(v.cancel_all_of(ME), 5);
        assert_eq!(v.open_orders(ME), 0);
        assert_eq!(
            executions(&v.take_reports(ME))
                .iter()
                .filter(|e| e.0 == ExecKind::Canceled)
                .count(),
            5
        );
    }

    /// The feed alone must let a subscriber rebuild every book exactly.
    #[test]
    fn a_new_day_expires_every_order_and_renumbers_the_listings() {
        let mut v = venue();
        for _ in 0..200 {
            v.step_background();
        }
        v.new_order(
            ME,
            "day1",
            b"AAA",
            Side::Buy,
            100,
            Price(90_0000),
            TimeInForce::Day,
        )
        .unwrap();
        v.take_reports(ME);
        let expired = v.close_day();
        assert_eq!(expired, 1);
        let reports = executions(&v.take_reports(ME));
        assert_eq!(reports, vec![(ExecKind::Expired, 0, 0)]);
        assert_eq!(v.open_orders(ME), 0);
        for l in v.listings() {
            assert_eq!(l.engine.resting_orders().count(), 0, "{}", l.symbol);
        }
        let last = v.feed.next_sequence() - 1;
        let codes: Vec<u8> = (last - 2..=last)
            .map(
                |seq| match Message::parse(v.feed.message(seq).unwrap()).unwrap() {
                    Message::SystemEvent(m) => m.event_code(),
                    other => panic!("{other:?}"),
                },
            )
            .collect();
        assert_eq!(codes, b"MEC");

        v.open_day(*b"VENUETEST2", &[2, 1]);
        assert_eq!(v.day(), 2);
        assert_eq!(v.feed.config().session, *b"VENUETEST2");
        let mut directory = Vec::new();
        for seq in 1..v.feed.next_sequence() {
            if let Message::StockDirectory(m) =
                Message::parse(v.feed.message(seq).unwrap()).unwrap()
            {
                directory.push((m.stock_locate(), m.stock().as_str().to_string()));
            }
        }
        assert_eq!(directory, vec![(2, "AAA".into()), (1, "BBB".into())]);
        // An order for AAA rests on AAA's book and is published under AAA's
        // new locate.
        let before = v.feed.next_sequence();
        v.new_order(
            ME,
            "day2",
            b"AAA",
            Side::Buy,
            100,
            Price(90_0000),
            TimeInForce::Day,
        )
        .unwrap();
        assert_eq!(v.listings()[0].engine.resting_orders().count(), 1);
        let added: Vec<u16> = (before..v.feed.next_sequence())
            .filter_map(
                |seq| match Message::parse(v.feed.message(seq).unwrap()).unwrap() {
                    Message::AddOrder(m) => Some(m.stock_locate()),
                    _ => None,
                },
            )
            .collect();
        assert_eq!(added, vec![2]);
        let days: Vec<(u32, &str)> = v
            .received()
            .iter()
            .map(|r| (r.day, r.symbol.as_str()))
            .collect();
        assert_eq!(days, vec![(1, "AAA"), (2, "AAA")]);
        assert_eq!(v.cancel(ME, "day2", "day2c"), Ok(()));
        assert_eq!(v.listings()[0].engine.resting_orders().count(), 0);
    }

    #[test]
    fn published_feed_rebuilds_the_venues_books() {
        let mut v = venue();
        for round in 0..3_000u32 {
            v.step_background();
            if round % 50 == 0 {
                let (bid, _) = v.listings()[1]
                    .engine
                    .best(Side::Buy)
                    .unwrap_or((Price(19_0000), 0));
                let id = format!("r{round}");
                let _ = v.new_order(ME, &id, b"BBB", Side::Buy, 200, bid, TimeInForce::Day);
                if round % 100 == 0 {
                    let _ = v.replace(ME, &id, &format!("{id}x"), Price(bid.0 + 200), 300);
                }
            }
            v.take_reports(ME);
        }
        let mut orders: BTreeMap<u64, (u16, Side, Price, u32)> = BTreeMap::new();
        for seq in 1..v.feed.next_sequence() {
            match Message::parse(v.feed.message(seq).unwrap()).unwrap() {
                Message::AddOrder(m) => {
                    orders.insert(
                        m.order_ref(),
                        (m.stock_locate(), m.side(), m.price(), m.shares()),
                    );
                }
                Message::OrderExecuted(m) => {
                    let o = orders
                        .get_mut(&m.order_ref())
                        .expect("execution of a known order");
                    o.3 -= m.executed_shares();
                    if o.3 == 0 {
                        orders.remove(&m.order_ref());
                    }
                }
                Message::OrderCancel(m) => {
                    orders
                        .get_mut(&m.order_ref())
                        .expect("cancel of a known order")
                        .3 -= m.cancelled_shares();
                }
                Message::OrderDelete(m) => {
                    orders
                        .remove(&m.order_ref())
                        .expect("delete of a known order");
                }
                Message::OrderReplace(m) => {
                    let (locate, side, _, _) = orders
                        .remove(&m.original_order_ref())
                        .expect("replace of a known order");
                    orders.insert(m.new_order_ref(), (locate, side, m.price(), m.shares()));
                }
                _ => {}
            }
        }
        for l in v.listings() {
            for side in [Side::Buy, Side::Sell] {
                let mut rebuilt: BTreeMap<Price, u64> = BTreeMap::new();
                for &(locate, s, price, qty) in orders.values() {
                    if locate == l.locate && s == side && qty > 0 {
                        *rebuilt.entry(price).or_default() += qty as u64;
                    }
                }
                let mut rebuilt: Vec<(Price, u64)> = rebuilt.into_iter().collect();
                if side == Side::Buy {
                    rebuilt.reverse();
                }
                let engine: Vec<(Price, u64)> = l
                    .engine
                    .depth(side, usize::MAX)
                    .into_iter()
                    .map(|(p, q, _)| (p, q))
                    .collect();
                assert_eq!(rebuilt, engine, "{} {side:?}", l.symbol);
            }
        }
    }
}
