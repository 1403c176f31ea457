//! Smart order routing: which venue(s) a new order goes to.
//!
//! Each venue has a session state, fees, a latency estimate and a reject
//! rate. A new order is routed by comparing, level by level across venues,
//! the **all-in cost per share** of taking displayed liquidity:
//!
//! ```text
//! cost = price × 100 (buy) or −price × 100 (sell)   price4 → micro-currency
//!      + take_fee                                   micro-currency per share
//!      + latency_penalty × latency_estimate_µs
//!      + reject_penalty × reject_rate_ppm / 10_000   (per 1 % of rejects)
//! ```
//!
//! Cheapest levels are taken first until the order is covered; ties go to
//! the lower latency estimate, then the lower [`VenueId`], so the same input
//! always gives the same children. Whatever displayed liquidity at or
//! inside the limit cannot cover is posted at the limit price on the venue
//! with the cheapest `make_fee` + penalties (rebates are negative fees);
//! a post-only order goes only where its price would rest, not cross, when
//! some venue allows. An immediate-or-cancel order is never posted: it
//! takes what is displayed, and one with nothing displayed to take goes
//! whole at its limit to the venue with the cheapest `take_fee` +
//! penalties, which decides (our book lags the venue's and shows no hidden
//! liquidity).
//! Venues whose session is down or whose reject rate is above
//! [`RouterConfig::max_reject_ppm`] get nothing.
//!
//! A venue that gets nothing gives no new results, so its estimates would
//! never move again: [`Router::on_timer`] lets them age. The reject rate
//! forgets 1/32 of itself a second (a venue shut out after a burst of
//! rejects is tried again within seconds, and shut out again at once if it
//! still refuses), a reconnected session starts with a clean rate, and a
//! latency estimate not refreshed for 10 s eases by 1/8 a second, so one
//! slow acknowledgement cannot price a venue out for the day.
//!
//! Units: fees are **micro-currency per share** (1e-6, i.e. price4 × 1e-2),
//! so $0.0030 a share is `3_000` and a $0.0020 rebate is `-2_000`.
//! All arithmetic is integer.

use heapless::Vec;
use types::{
    DepthView, Level, Nanos, OrderIntent, Price, RejectReason, Side, StockLocate, TimeInForce,
    VenueId,
};

/// Venues a router can know.
pub const MAX_VENUES: usize = 8;
const _: () = assert!(MAX_VENUES <= 8, "a bit per venue in a u8");
/// Levels per venue considered when routing.
pub const DEPTH_LEVELS: usize = 8;

/// Static facts about a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueConfig {
    pub id: VenueId,
    /// Fee for removing liquidity, micro-currency per share (negative: rebate).
    pub take_fee: i64,
    /// Fee for adding liquidity, micro-currency per share (usually negative).
    pub make_fee: i64,
    /// The venue takes OrderMassCancelRequest: the kill switch asks it to
    /// cancel every order of ours in one message, and cancels order by
    /// order only what is still open once it has answered.
    pub mass_cancel: bool,
}

/// A venue's live state as the router sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VenueState {
    pub config: VenueConfig,
    pub session_up: bool,
    /// EWMA (α = 1/8) of order round-trip latency; 0 until the first sample.
    pub latency_ns: u64,
    /// EWMA (α = 1/32) of the reject rate in parts per million.
    pub reject_ppm: u32,
    latency_sampled: bool,
    /// When the latency estimate last had a sample.
    latency_at: Nanos,
    /// The latency and reject-rate penalty (see [`Router::penalty`]) of
    /// the estimates above, kept with them: every change of an estimate
    /// goes through the router, which recomputes it then, so an order
    /// reads it instead of computing it for every comparison.
    penalty: i128,
}

/// Router-wide weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterConfig {
    /// Micro-currency per share added per microsecond of latency estimate.
    pub latency_penalty: i64,
    /// Micro-currency per share added per 1 % of reject rate.
    pub reject_penalty: i64,
    /// Venues rejecting more than this (ppm) are not routed to.
    pub max_reject_ppm: u32,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            latency_penalty: 10,
            reject_penalty: 100,
            max_reject_ppm: 200_000,
        }
    }
}

/// A new order to place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteRequest {
    pub locate: StockLocate,
    pub side: Side,
    /// Limit price; children never go beyond it.
    pub price: Price,
    pub qty: u32,
    /// `ImmediateOrCancel`: only displayed liquidity is targeted, nothing is
    /// posted; an IOC order that no displayed liquidity at or inside its
    /// limit covers at all goes whole, at its limit, to the venue where
    /// taking costs least (fee and penalties): the venue decides, not our
    /// view of its book, which lags it and shows no hidden liquidity.
    /// `PostOnly`: everything is posted on the best making venue.
    pub tif: TimeInForce,
}

impl RouteRequest {
    /// The request a new-order intent makes; `None` for a cancel or a
    /// replace (they go where their order rests).
    pub fn of(intent: &OrderIntent) -> Option<RouteRequest> {
        match *intent {
            OrderIntent::New {
                locate,
                side,
                price,
                qty,
                tif,
                ..
            } => Some(RouteRequest {
                locate,
                side,
                price,
                qty,
                tif,
            }),
            _ => None,
        }
    }
}

/// One order for one venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChildOrder {
    pub venue: VenueId,
    pub qty: u32,
    pub price: Price,
}

/// At most one child per venue.
pub type Children = Vec<ChildOrder, MAX_VENUES>;

/// Why a venue could not be added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouterError {
    DuplicateVenue,
    TooManyVenues,
}

#[derive(Clone, Copy)]
struct Candidate {
    cost: i128,
    latency: u64,
    venue: VenueId,
    price: Price,
    qty: u64,
}

/// The smart order router.
pub struct Router {
    config: RouterConfig,
    venues: Vec<VenueState, MAX_VENUES>,
    /// Estimates last aged ([`Router::on_timer`]).
    aged_at: Nanos,
}

/// How often [`Router::on_timer`] ages the estimates.
const AGE_STEP_NS: u64 = 1_000_000_000;
/// A latency estimate without a sample for this long starts to ease.
const LATENCY_STALE_NS: u64 = 10_000_000_000;

impl Router {
    pub fn new(config: RouterConfig) -> Router {
        Router {
            config,
            venues: Vec::new(),
            aged_at: Nanos(0),
        }
    }

    /// Adds a venue, session down until [`Router::set_session`] says otherwise.
    pub fn add_venue(&mut self, config: VenueConfig) -> Result<(), RouterError> {
        if self.venues.iter().any(|v| v.config.id == config.id) {
            return Err(RouterError::DuplicateVenue);
        }
        self.venues
            .push(VenueState {
                config,
                session_up: false,
                latency_ns: 0,
                reject_ppm: 0,
                latency_sampled: false,
                latency_at: Nanos(0),
                penalty: 0,
            })
            .map_err(|_| RouterError::TooManyVenues)
    }

    fn venue_mut(&mut self, id: VenueId) -> Option<&mut VenueState> {
        self.venues.iter_mut().find(|v| v.config.id == id)
    }

    /// Every venue, in the order they were added (the order of the
    /// `books` slice [`Router::route`] takes).
    pub fn venues(&self) -> &[VenueState] {
        &self.venues
    }

    pub fn venue(&self, id: VenueId) -> Option<&VenueState> {
        self.venues.iter().find(|v| v.config.id == id)
    }

    /// The venue's session is up or down. A session that comes back up
    /// starts with a clean reject rate: what it refused belonged to the
    /// old one.
    pub fn set_session(&mut self, id: VenueId, up: bool) {
        let config = self.config;
        if let Some(v) = self.venue_mut(id) {
            if up && !v.session_up {
                v.reject_ppm = 0;
            }
            v.session_up = up;
            v.penalty = Self::penalty_of(&config, v);
        }
    }

    /// Ages the estimates of venues that get no new results (see the module
    /// docs); call it from a timer. Steps of one second: a late call
    /// catches up.
    pub fn on_timer(&mut self, now: Nanos) {
        if now.0 < self.aged_at.0.saturating_add(AGE_STEP_NS) {
            return;
        }
        // At most a minute of steps at once (everything has aged out by then).
        let steps = ((now.0 - self.aged_at.0) / AGE_STEP_NS).min(60);
        self.aged_at = now;
        for v in self.venues.iter_mut() {
            for _ in 0..steps {
                v.reject_ppm -= v.reject_ppm / 32;
            }
            if now.0.saturating_sub(v.latency_at.0) >= LATENCY_STALE_NS {
                for _ in 0..steps {
                    v.latency_ns -= v.latency_ns / 8;
                }
            }
        }
        self.refresh_penalties();
    }

    pub fn set_fees(&mut self, id: VenueId, take_fee: i64, make_fee: i64) {
        if let Some(v) = self.venue_mut(id) {
            v.config.take_fee = take_fee;
            v.config.make_fee = make_fee;
        }
    }

    /// One measured order round trip (send to acknowledgement).
    pub fn on_latency_sample(&mut self, id: VenueId, ns: u64, now: Nanos) {
        let config = self.config;
        if let Some(v) = self.venue_mut(id) {
            v.latency_at = now;
            if v.latency_sampled {
                let cur = v.latency_ns as i128;
                v.latency_ns = (cur + (ns as i128 - cur) / 8) as u64;
            } else {
                v.latency_ns = ns;
                v.latency_sampled = true;
            }
            v.penalty = Self::penalty_of(&config, v);
        }
    }

    /// The venue answered an order: accepted or rejected.
    pub fn on_order_result(&mut self, id: VenueId, rejected: bool) {
        let config = self.config;
        if let Some(v) = self.venue_mut(id) {
            let target: i64 = if rejected { 1_000_000 } else { 0 };
            let cur = v.reject_ppm as i64;
            v.reject_ppm = (cur + (target - cur) / 32).clamp(0, 1_000_000) as u32;
            v.penalty = Self::penalty_of(&config, v);
        }
    }

    fn usable(&self, v: &VenueState) -> bool {
        v.session_up && v.reject_ppm <= self.config.max_reject_ppm
    }

    /// The latency and reject-rate penalty of `v`, micro-currency per share.
    /// The reject term divides in 64 bits (a 128-bit division is a library
    /// call): `reject_ppm` is at most 10^6, so the product
    /// fits unless `reject_penalty` passes 9.2 × 10^12, where it saturates.
    fn penalty_of(config: &RouterConfig, v: &VenueState) -> i128 {
        let rejects = config
            .reject_penalty
            .saturating_mul(i64::from(v.reject_ppm))
            / 10_000;
        config.latency_penalty as i128 * (v.latency_ns / 1_000) as i128 + rejects as i128
    }

    /// Recomputes every venue's kept penalty from its estimates (after the
    /// timer aged them).
    fn refresh_penalties(&mut self) {
        let config = self.config;
        for v in self.venues.iter_mut() {
            v.penalty = Self::penalty_of(&config, v);
        }
    }

    /// The penalty of `v`'s current estimates (kept with them).
    #[inline(always)]
    fn penalty(&self, v: &VenueState) -> i128 {
        debug_assert_eq!(v.penalty, Self::penalty_of(&self.config, v));
        v.penalty
    }

    /// Orders venues by `fee` (making or taking) plus penalties, then
    /// latency estimate, then id: the venue a rest is posted on, or an IOC
    /// order with nothing displayed to take is sent to.
    fn cheaper_by(
        &self,
        fee: fn(&VenueConfig) -> i64,
    ) -> impl Fn(&&VenueState, &&VenueState) -> core::cmp::Ordering + Copy + '_ {
        move |a, b| {
            (fee(&a.config) as i128 + self.penalty(a))
                .cmp(&(fee(&b.config) as i128 + self.penalty(b)))
                .then(a.latency_ns.cmp(&b.latency_ns))
                .then(a.config.id.cmp(&b.config.id))
        }
    }

    /// The usable venue cheapest by `fee` plus penalties (then latency,
    /// then id; see [`Router::cheaper_by`]).
    fn cheapest(&self, fee: fn(&VenueConfig) -> i64) -> Option<&VenueState> {
        self.venues
            .iter()
            .filter(|v| self.usable(v))
            .min_by(self.cheaper_by(fee))
    }

    /// Splits `req` into child orders. `books[i]` is the depth of the i-th
    /// venue added (a missing or shorter slice means no displayed liquidity
    /// known there). Fails with `NoVenue` when no venue is usable and with
    /// `InvalidOrder` for a zero quantity or non-positive price.
    pub fn route(
        &self,
        req: &RouteRequest,
        books: &[&dyn DepthView],
    ) -> Result<Children, RejectReason> {
        let mut children = Children::new();
        self.route_into(req, books, &mut children)?;
        Ok(children)
    }

    /// [`Router::route`] into the caller's `children` (emptied first), for
    /// the order path: the children are written where the caller keeps
    /// them instead of being returned and copied (136 bytes).
    pub fn route_into(
        &self,
        req: &RouteRequest,
        books: &[&dyn DepthView],
        children: &mut Children,
    ) -> Result<(), RejectReason> {
        children.clear();
        if req.qty == 0 || req.price.0 <= 0 {
            return Err(RejectReason::InvalidOrder);
        }
        let mut usable = self
            .venues
            .iter()
            .enumerate()
            .filter(|(_, v)| self.usable(v));
        let Some((slot, only)) = usable.next() else {
            return Err(RejectReason::NoVenue);
        };
        if usable.next().is_none() {
            route_to_one(slot, only.config.id, req, books, children);
            return Ok(());
        }
        self.route_across(req, books, children);
        Ok(())
    }

    /// [`Router::route`] with two or more usable venues.
    #[inline(never)]
    fn route_across(&self, req: &RouteRequest, books: &[&dyn DepthView], children: &mut Children) {
        if req.tif == TimeInForce::PostOnly {
            return self.post_across(req, books, children);
        }
        // The usable venues whose best is takeable, a bit per slot. Nothing
        // deeper is takeable where the best is not, so an order that will
        // rest (most of them) is routed from the bests alone, without the
        // candidates' ranking (whose buffers then take no stack either).
        let mut takeable: u8 = 0;
        for (slot, v) in self.venues.iter().enumerate() {
            if self.usable(v) && books.get(slot).is_some_and(|b| best_takeable(*b, req)) {
                takeable |= 1 << slot;
            }
        }
        let remaining = match takeable {
            0 => req.qty as u64,
            _ => self.take_across(req, books, takeable, children),
        };
        let rest_at = if remaining > 0 && req.tif != TimeInForce::ImmediateOrCancel {
            self.cheapest(|config| config.make_fee)
        } else if children.is_empty() {
            // An IOC order no displayed liquidity covers at all: the venue
            // where taking costs least decides (see `RouteRequest::tif`).
            self.cheapest(|config| config.take_fee)
        } else {
            None
        };
        if let Some(v) = rest_at {
            add_child(children, v.config.id, remaining, req.price, req.side);
        }
    }

    /// [`Router::route_across`] for a post-only order: it takes nothing,
    /// and is posted whole on the cheapest venue to make on where its price
    /// would rest. A post-only order priced through a venue's opposite best
    /// would be refused there (the venues' books move apart); when it would
    /// cross everywhere, the cheapest venue decides.
    #[inline(never)]
    fn post_across(&self, req: &RouteRequest, books: &[&dyn DepthView], children: &mut Children) {
        let would_cross = |slot: usize| {
            let Some(book) = books.get(slot) else {
                return false;
            };
            let bbo = book.bbo(req.locate);
            match req.side {
                Side::Buy => bbo.ask.is_some_and(|l| l.price <= req.price),
                Side::Sell => bbo.bid.is_some_and(|l| l.price >= req.price),
            }
        };
        let best = self
            .venues
            .iter()
            .enumerate()
            .filter(|(slot, v)| self.usable(v) && !would_cross(*slot))
            .map(|(_, v)| v)
            .min_by(self.cheaper_by(|config| config.make_fee))
            .or_else(|| self.cheapest(|config| config.make_fee));
        if let Some(v) = best {
            add_child(children, v.config.id, req.qty as u64, req.price, req.side);
        }
    }

    /// Takes the displayed liquidity of the venues in `takeable` (a bit per
    /// slot: usable, with a takeable best) at or inside the limit, cheapest
    /// all-in first (see the module docs), into `children`; returns what
    /// is left to cover.
    #[inline(never)]
    fn take_across(
        &self,
        req: &RouteRequest,
        books: &[&dyn DepthView],
        takeable: u8,
        children: &mut Children,
    ) -> u64 {
        let mut remaining = req.qty as u64;
        let mut cands: Vec<Candidate, { MAX_VENUES * DEPTH_LEVELS }> = Vec::new();
        for (slot, v) in self.venues.iter().enumerate() {
            if takeable & (1 << slot) == 0 {
                continue;
            }
            let Some(book) = books.get(slot) else {
                continue;
            };
            let mut levels = [Level::default(); DEPTH_LEVELS];
            let n = book
                .depth(req.locate, req.side.opposite(), &mut levels)
                .min(DEPTH_LEVELS);
            let penalty = self.penalty(v);
            for level in levels.iter().take(n) {
                if !takeable_level(level, req) {
                    continue;
                }
                let px = level.price.0 as i128 * 100;
                let signed = match req.side {
                    Side::Buy => px,
                    Side::Sell => -px,
                };
                let _ = cands.push(Candidate {
                    cost: signed + v.config.take_fee as i128 + penalty,
                    latency: v.latency_ns,
                    venue: v.config.id,
                    price: level.price,
                    qty: level.qty,
                });
            }
        }
        // Deterministic order: cost, latency, venue id, then the better
        // price of the same venue first.
        cands.sort_unstable_by(|a, b| {
            a.cost
                .cmp(&b.cost)
                .then(a.latency.cmp(&b.latency))
                .then(a.venue.cmp(&b.venue))
                .then(match req.side {
                    Side::Buy => a.price.cmp(&b.price),
                    Side::Sell => b.price.cmp(&a.price),
                })
        });
        for c in cands.iter() {
            if remaining == 0 {
                break;
            }
            let take = remaining.min(c.qty);
            remaining -= take;
            add_child(children, c.venue, take, c.price, req.side);
        }
        remaining
    }
}

/// What [`Router::route`] gives when `venue` (slot `slot`) is the only
/// usable one: its displayed liquidity at or inside the limit, best first
/// (one venue's levels rank by price alone: fees and penalties are the
/// same for all of them), then — unless IOC — the rest posted there at the
/// limit (an IOC order with nothing to take goes there whole); at most one child, merged as [`add_child`] merges. The general
/// path's answer, without ranking candidates (on every order of a
/// single-venue appliance, and whenever only one session is up).
fn route_to_one(
    slot: usize,
    venue: VenueId,
    req: &RouteRequest,
    books: &[&dyn DepthView],
    children: &mut Children,
) {
    let mut remaining = req.qty as u64;
    if req.tif != TimeInForce::PostOnly {
        if let Some(book) = books.get(slot).filter(|book| best_takeable(**book, req)) {
            let mut levels = [Level::default(); DEPTH_LEVELS];
            let n = book
                .depth(req.locate, req.side.opposite(), &mut levels)
                .min(DEPTH_LEVELS);
            for level in levels.iter().take(n) {
                if remaining == 0 {
                    break;
                }
                if !takeable_level(level, req) {
                    continue;
                }
                let take = remaining.min(level.qty);
                remaining -= take;
                add_child(children, venue, take, level.price, req.side);
            }
        }
    }
    if remaining > 0 && (req.tif != TimeInForce::ImmediateOrCancel || children.is_empty()) {
        add_child(children, venue, remaining, req.price, req.side);
    }
}

/// Whether the order may take the best level `book` shows on the other
/// side. Nothing deeper is takeable where the best is not (depth comes best
/// first), so an order that will rest — most of them — is routed from the
/// best alone, without reading the levels below it.
fn best_takeable(book: &dyn DepthView, req: &RouteRequest) -> bool {
    let bbo = book.bbo(req.locate);
    let best = match req.side {
        Side::Buy => bbo.ask,
        Side::Sell => bbo.bid,
    };
    best.is_some_and(|level| takeable_level(&level, req))
}

/// Whether an order may take `level`: shares at a valid price at or
/// inside the request's limit.
fn takeable_level(level: &Level, req: &RouteRequest) -> bool {
    let marketable = match req.side {
        Side::Buy => level.price <= req.price,
        Side::Sell => level.price >= req.price,
    };
    marketable && level.qty > 0 && level.price.0 > 0
}

/// Adds `qty` at `price` for `venue`, merging with an existing child (the
/// merged child's price is the more aggressive one, never past the limit).
fn add_child(children: &mut Children, venue: VenueId, qty: u64, price: Price, side: Side) {
    let qty = qty.min(u32::MAX as u64) as u32;
    if let Some(c) = children.iter_mut().find(|c| c.venue == venue) {
        c.qty = c.qty.saturating_add(qty);
        if side.is_better(price, c.price) {
            c.price = price;
        }
        return;
    }
    // At most one child per venue and at most MAX_VENUES venues: fits.
    let _ = children.push(ChildOrder { venue, qty, price });
}

#[cfg(test)]
mod tests;
