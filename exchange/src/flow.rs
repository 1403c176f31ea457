//! Background participants: the rest of the market.
//!
//! They behave as the generated day's participants do
//! ([`feedgen::behaviour`]), acting through the venue's matching engine
//! instead of writing ITCH directly:
//!
//! - Each listing has a latent fair price ([`FairWalk`]): a random walk
//!   with a daily σ in basis points, rare jumps and an optional drift. A
//!   lab "day" is [`FlowConfig::day_actions`] background actions long, so
//!   a short run sees the price move as a day would, compressed.
//! - Actions follow the generator's message mix ([`feedgen::model::mix`]):
//!   adds (post-only limit orders), deletes, replaces, executions (an
//!   immediate-or-cancel order taking the touch) and partial cancels; adds
//!   and deletes are steered so each listing keeps about
//!   [`FlowConfig::resting_orders`] background orders resting.
//! - New orders rest where the generator puts them
//!   ([`Placement`]: at the touch or 1–4, 5–24, … 2,500 ticks behind it)
//!   with its size mix ([`behaviour::order_shares`]); half of them improve
//!   a touch that lags the fair price.
//! - A touch the fair price has left ([`behaviour::stale_side`]) is what
//!   executions hit and cancels take first, so the book follows the walk.
//!
//! Background orders never cancel or replace anyone else's orders; their
//! executions can fill the appliance's. Deterministic for a seed.

use crate::matching::{Engine, Event, Owner, Reject, Sequences};
use feedgen::behaviour::{self, index_of, side_of, FairWalk, Placement, ASK, BID};
use feedgen::model::mix;
use feedgen::rng::Rng;
use types::{Price, Side, TimeInForce};

/// How busy, how wide and how volatile the background market is.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// Participants (owners `first_owner..first_owner + participants`).
    pub participants: u32,
    pub first_owner: u32,
    /// Daily standard deviation of each fair price, in basis points of its
    /// opening price (the generator draws 100–300).
    pub daily_sigma_bp: u32,
    /// Trend of each fair price over a day, in basis points (negative:
    /// down).
    pub drift_bp: i32,
    /// Background actions per listing that make one trading day: the walk
    /// spreads a day's variance, drift and jumps over them.
    pub day_actions: u64,
    /// The spread the background quotes towards, in ticks.
    pub target_spread_ticks: u32,
    /// Background orders each listing keeps resting, about.
    pub resting_orders: u32,
    /// Range of the deep tail behind the touch, in ticks (the generator
    /// draws 50–200).
    pub deep_ticks: u32,
    /// Seed of the fair-price paths, if not the venue's own: venues that
    /// list the same symbols with the same walk seed see the same fair
    /// prices (arbitrage keeps real venues within a tick or two of each
    /// other) while their books and trades differ.
    pub walk_seed: Option<u64>,
}

impl Default for FlowConfig {
    /// At the lab's 300 actions per listing per second a day is ~55
    /// minutes: a $100 listing's fair price moves ~3.5 ticks a second.
    fn default() -> Self {
        FlowConfig {
            participants: 20,
            first_owner: 1000,
            daily_sigma_bp: 200,
            drift_bp: 0,
            day_actions: 1_000_000,
            target_spread_ticks: 2,
            resting_orders: 150,
            deep_ticks: 60,
            walk_seed: None,
        }
    }
}

/// One background action, in the generator's proportions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Add,
    Delete,
    Replace,
    Execute,
    PartialCancel,
}

const ADD_PPM: u32 = mix::ADD + mix::ADD_MPID;
const DELETE_PPM: u32 = mix::DELETE;
const REPLACE_PPM: u32 = mix::REPLACE;
const EXECUTE_PPM: u32 = mix::EXECUTED + mix::EXECUTED_WITH_PRICE;
const CANCEL_PPM: u32 = mix::CANCEL;
const ACTION_PPM: u32 = ADD_PPM + DELETE_PPM + REPLACE_PPM + EXECUTE_PPM + CANCEL_PPM;

/// A background order as the flow sees it.
#[derive(Debug, Clone, Copy)]
struct Mine {
    order_ref: u64,
    side: usize,
    price: i64,
    leaves: u32,
}

/// The market as one action sees it.
#[derive(Debug, Clone, Copy)]
struct Touches {
    /// [bid, ask] best prices; the wanted price for an empty side.
    price: [i64; 2],
    /// Whether each side has orders at all.
    has: [bool; 2],
    /// The side whose touch the fair price has left, if any.
    stale: Option<usize>,
}

/// The background market for one listing.
#[derive(Debug, Clone)]
pub struct Background {
    config: FlowConfig,
    tick: i64,
    walk: FairWalk,
    rng: Rng,
    walk_rng: Rng,
    /// The side executions hit when no touch is stale (flips now and then).
    momentum: usize,
    /// Scratch: this listing's background orders, by reference.
    mine: Vec<Mine>,
}

impl Background {
    /// The background of a listing opening at `fair` on a `tick` grid:
    /// participants' choices from `seed`, the fair-price path from
    /// `walk_seed`.
    pub fn new(
        config: FlowConfig,
        fair: Price,
        tick: Price,
        seed: u64,
        walk_seed: u64,
    ) -> Background {
        let tick = tick.0.max(1);
        let fair_ticks = (fair.0 / tick).max(10) as f64;
        let sigma = fair_ticks * f64::from(config.daily_sigma_bp) / 10_000.0;
        let drift = fair_ticks * f64::from(config.drift_bp) / 10_000.0;
        Background {
            config,
            tick,
            walk: FairWalk::new(fair_ticks, sigma, drift),
            rng: Rng::new(seed).fork(1),
            walk_rng: Rng::new(walk_seed).fork(2),
            momentum: BID,
            mine: Vec::new(),
        }
    }

    /// The fair price: where the background wants the bid now.
    pub fn fair_value(&self) -> Price {
        Price(i64::from(self.walk.bid_ticks()) * self.tick)
    }

    fn is_background(&self, owner: Owner) -> bool {
        (self.config.first_owner..self.config.first_owner + self.config.participants)
            .contains(&owner.0)
    }

    fn participant(&mut self) -> Owner {
        Owner(self.config.first_owner + self.rng.below(u64::from(self.config.participants)) as u32)
    }

    /// [bid, ask] the fair price asks for.
    fn wanted(&self) -> [i64; 2] {
        let bid = self.fair_value().0;
        [
            bid,
            bid + self.tick * i64::from(self.config.target_spread_ticks),
        ]
    }

    /// One participant action on `engine`; events are appended.
    pub fn step(
        &mut self,
        engine: &mut Engine,
        seq: &mut Sequences,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let tick = self.tick;
        let spread = i64::from(self.config.target_spread_ticks.max(1));
        let hi = (f64::from(u32::MAX) / tick as f64 - spread as f64).max(20.0);
        self.walk.advance(
            1.0 / self.config.day_actions.max(1) as f64,
            10.0,
            hi,
            &mut self.walk_rng,
        );
        let wanted = self.wanted();
        let best = [engine.best(Side::Buy), engine.best(Side::Sell)];
        let price = [
            best[BID].map_or(wanted[BID], |(p, _)| p.0),
            best[ASK].map_or(wanted[ASK], |(p, _)| p.0),
        ];
        let mut mine = std::mem::take(&mut self.mine);
        mine.clear();
        mine.extend(
            engine
                .resting_orders()
                .filter(|o| self.is_background(o.owner))
                .map(|o| Mine {
                    order_ref: o.order_ref,
                    side: index_of(o.side),
                    price: o.price.0,
                    leaves: o.leaves,
                }),
        );
        // The engine's order table is unordered; references give the age.
        mine.sort_unstable_by_key(|m| m.order_ref);
        let has = best.map(|b| b.is_some());
        let touches = Touches {
            price,
            has,
            stale: behaviour::stale_side(
                price.map(|p| p.clamp(0, i64::from(u32::MAX)) as u32),
                wanted.map(|p| p.clamp(0, i64::from(u32::MAX)) as u32),
                (self.tick * i64::from(self.config.target_spread_ticks)) as u32,
                has,
            ),
        };
        let result = self.act(engine, seq, events, &mine, &touches);
        self.mine = mine;
        result
    }

    fn act(
        &mut self,
        engine: &mut Engine,
        seq: &mut Sequences,
        events: &mut Vec<Event>,
        mine: &[Mine],
        touches: &Touches,
    ) -> Result<(), Reject> {
        let mut action = {
            let r = self.rng.below(u64::from(ACTION_PPM)) as u32;
            if r < ADD_PPM {
                Action::Add
            } else if r < ADD_PPM + DELETE_PPM {
                Action::Delete
            } else if r < ADD_PPM + DELETE_PPM + REPLACE_PPM {
                Action::Replace
            } else if r < ADD_PPM + DELETE_PPM + REPLACE_PPM + EXECUTE_PPM {
                Action::Execute
            } else {
                Action::PartialCancel
            }
        };
        // Steer the resting population towards its target: an add over the
        // target becomes a delete as often as the excess is large, a delete
        // under it an add.
        let (live, target) = (mine.len() as u64, u64::from(self.config.resting_orders));
        match action {
            Action::Add if live > target && self.rng.below(live) >= target => {
                action = Action::Delete
            }
            Action::Delete | Action::PartialCancel | Action::Replace
                if live < target && self.rng.below(target) >= live =>
            {
                action = Action::Add
            }
            _ => {}
        }
        match action {
            Action::Add => self.add(engine, seq, events, touches),
            Action::Execute => self.execute(engine, seq, events, touches),
            Action::Delete | Action::PartialCancel | Action::Replace => {
                let Some(order) = self.pick(mine, touches) else {
                    return self.add(engine, seq, events, touches);
                };
                match action {
                    Action::Delete => engine.cancel(order.order_ref, None, events),
                    Action::PartialCancel => {
                        let cut = if order.leaves >= 200 {
                            100 * (1 + self.rng.below(u64::from(order.leaves / 200)) as u32)
                        } else {
                            order.leaves
                        };
                        engine.cancel(order.order_ref, Some(cut), events)
                    }
                    _ => {
                        let price = self.new_price(order.side, touches);
                        let qty = behaviour::order_shares(&mut self.rng);
                        match price {
                            Some(p) => engine
                                .replace(seq, order.order_ref, Price(p), qty, events)
                                .map(|_| ()),
                            None => engine.cancel(order.order_ref, None, events),
                        }
                    }
                }
            }
        }
    }

    /// A background order to cancel or replace: the newest at a stale
    /// touch (3 in 4 while one is stale), else on a random side 30% one of
    /// its four newest, 20% the newest at its touch, 50% any.
    fn pick(&mut self, mine: &[Mine], touches: &Touches) -> Option<Mine> {
        let touch = touches.price;
        if let Some(side) = touches.stale {
            if self.rng.chance(3, 4) {
                if let Some(m) = mine
                    .iter()
                    .rev()
                    .find(|m| m.side == side && m.price == touch[side])
                {
                    return Some(*m);
                }
            }
        }
        let mut side = self.rng.below(2) as usize;
        if !mine.iter().any(|m| m.side == side) {
            side = 1 - side;
        }
        let on_side = || mine.iter().filter(move |m| m.side == side);
        let count = on_side().count() as u64;
        if count == 0 {
            return None;
        }
        let r = self.rng.below(10);
        let chosen = if r < 3 {
            let k = self.rng.below(count.min(4)) as usize;
            on_side().rev().nth(k)
        } else if r < 5 {
            on_side()
                .rev()
                .find(|m| m.price == touch[side])
                .or_else(|| on_side().next_back())
        } else {
            let k = self.rng.below(count) as usize;
            on_side().nth(k)
        };
        chosen.copied()
    }

    /// A price for a new resting order on `side` that does not cross the
    /// other side: half the time between a lagging touch and the wanted
    /// price, else the generator's distance behind the touch (or behind the
    /// wanted price when the touch is stale). None if no such price exists.
    fn new_price(&mut self, side: usize, touches: &Touches) -> Option<i64> {
        let Touches {
            price: touch, has, ..
        } = *touches;
        let tick = self.tick;
        let placement = Placement::draw(&mut self.rng, false);
        let improve = self.rng.chance(1, 2);
        let want = self.wanted()[side];
        let other = 1 - side;
        // The best price on `side` that does not reach the other side.
        let limit = if !has[other] {
            None
        } else if side == BID {
            Some(touch[ASK] - tick)
        } else {
            Some(touch[BID] + tick)
        };
        let here = if has[side] { touch[side] } else { want };
        let behind = if side == BID {
            here < want
        } else {
            here > want
        };
        let price = if behind && improve {
            let (lo, hi) = if side == BID {
                (here + tick, limit.map_or(want, |l| want.min(l)))
            } else {
                (limit.map_or(want, |l| want.max(l)), here - tick)
            };
            if lo > hi {
                return None;
            }
            let k = self.rng.below(((hi - lo) / tick + 1) as u64) as i64;
            if side == BID {
                hi - k * tick
            } else {
                lo + k * tick
            }
        } else {
            let offset = placement.ticks(self.config.deep_ticks) as i64 * tick;
            let p = if side == BID {
                here.min(want) - offset
            } else {
                here.max(want) + offset
            };
            match limit {
                Some(l) if side == BID => p.min(l),
                Some(l) => p.max(l),
                None => p,
            }
        };
        (tick..=i64::from(u32::MAX) / tick * tick)
            .contains(&price)
            .then_some(price)
    }

    fn add(
        &mut self,
        engine: &mut Engine,
        seq: &mut Sequences,
        events: &mut Vec<Event>,
        touches: &Touches,
    ) -> Result<(), Reject> {
        let side = self.rng.below(2) as usize;
        let qty = behaviour::order_shares(&mut self.rng);
        let owner = self.participant();
        let Some(price) = self.new_price(side, touches) else {
            return Ok(());
        };
        match engine.submit(
            seq,
            owner,
            side_of(side),
            Price(price),
            qty,
            TimeInForce::PostOnly,
            events,
        ) {
            Err(Reject::WouldTrade) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// An immediate-or-cancel order taking the touch of a stale side (3 in
    /// 4 while one is stale) or of the side the momentum is on: as many
    /// shares as a new order would have, at most what the touch shows.
    fn execute(
        &mut self,
        engine: &mut Engine,
        seq: &mut Sequences,
        events: &mut Vec<Event>,
        touches: &Touches,
    ) -> Result<(), Reject> {
        if self.rng.chance(1, 16) {
            self.momentum = 1 - self.momentum;
        }
        let mut hit = match touches.stale {
            Some(side) if self.rng.chance(3, 4) => side,
            _ => self.momentum,
        };
        if !touches.has[hit] {
            hit = 1 - hit;
        }
        let Some((price, shown)) = engine.best(side_of(hit)) else {
            return Ok(());
        };
        let want = behaviour::order_shares(&mut self.rng);
        let qty = u64::from(want).min(shown).max(1) as u32;
        let owner = self.participant();
        engine
            .submit(
                seq,
                owner,
                side_of(1 - hit),
                price,
                qty,
                TimeInForce::ImmediateOrCancel,
                events,
            )
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One listing on a cent grid with its background flow.
    struct Market {
        engine: Engine,
        seq: Sequences,
        flow: Background,
        events: Vec<Event>,
    }

    impl Market {
        fn new(config: FlowConfig, fair: i64, seed: u64, walk_seed: u64) -> Market {
            Market {
                engine: Engine::new(Price(100)),
                seq: Sequences::new(0),
                flow: Background::new(config, Price(fair), Price(100), seed, walk_seed),
                events: Vec::new(),
            }
        }

        fn step(&mut self) {
            self.flow
                .step(&mut self.engine, &mut self.seq, &mut self.events)
                .unwrap();
        }

        /// (bid, ask) when both sides have orders.
        fn touches(&self) -> Option<(Price, Price)> {
            Some((
                self.engine.best(Side::Buy)?.0,
                self.engine.best(Side::Sell)?.0,
            ))
        }
    }

    fn simulate(config: FlowConfig, seed: u64, steps: usize) -> (Engine, Background, Vec<Event>) {
        let mut m = Market::new(config, 50_0000, seed, seed);
        for _ in 0..steps {
            m.step();
        }
        (m.engine, m.flow, m.events)
    }

    fn count(events: &[Event], f: impl Fn(&Event) -> bool) -> usize {
        events.iter().filter(|e| f(e)).count()
    }

    #[test]
    fn produces_a_two_sided_book_with_trades_in_the_generator_s_mix() {
        let (engine, _, events) = simulate(FlowConfig::default(), 7, 20_000);
        let (bid, _) = engine.best(Side::Buy).expect("bids");
        let (ask, _) = engine.best(Side::Sell).expect("asks");
        assert!(bid < ask);
        assert!(engine.depth(Side::Buy, 10).len() >= 3 && engine.depth(Side::Sell, 10).len() >= 3);
        let live = engine.resting_orders().count();
        assert!((100..=200).contains(&live), "{live} resting, target 150");
        let adds = count(&events, |e| matches!(e, Event::Added { .. }));
        let trades = count(&events, |e| matches!(e, Event::Executed { .. }));
        let cancels = count(&events, |e| matches!(e, Event::Canceled { .. }));
        let replaces = count(&events, |e| matches!(e, Event::Replaced { .. }));
        eprintln!(
            "{live} resting; {adds} adds, {cancels} cancels, {replaces} replaces, {trades} trades"
        );
        // Adds and deletes about equal, replaces ~7%, executions ~2–4%.
        assert!(
            adds > 7_000 && cancels > 7_000,
            "{adds} adds, {cancels} cancels"
        );
        assert!((800..2_200).contains(&replaces), "{replaces} replaces");
        assert!((300..1_500).contains(&trades), "{trades} trades");
    }

    #[test]
    fn the_book_follows_the_fair_price() {
        // A drift of +20% over 20,000 actions: the mid follows within a few
        // ticks of the fair price, and every step of the way the book stays
        // uncrossed.
        let config = FlowConfig {
            daily_sigma_bp: 0,
            drift_bp: 2_000,
            day_actions: 20_000,
            ..FlowConfig::default()
        };
        let mut m = Market::new(config, 50_0000, 3, 3);
        let mut far_off = 0;
        for i in 0..20_000 {
            m.step();
            let Some((bid, ask)) = m.touches() else {
                continue;
            };
            assert!(bid < ask, "crossed at step {i}: {bid:?} / {ask:?}");
            let mid = (bid.0 + ask.0) / 2;
            if i > 1_000 && (mid - m.flow.fair_value().0).abs() > 20 * 100 {
                far_off += 1;
            }
        }
        let (engine, fair) = (&m.engine, m.flow.fair_value().0);
        eprintln!(
            "fair {fair}, {far_off} steps far off, book {:?} / {:?}",
            engine.depth(Side::Buy, 3),
            engine.depth(Side::Sell, 3)
        );
        assert!((59_9000..=60_0100).contains(&fair), "fair {fair}");
        assert!(
            far_off < 500,
            "mid more than 20 ticks from fair in {far_off} steps"
        );
        let (bid, _) = engine.best(Side::Buy).unwrap();
        assert!(bid.0 > 59_0000, "bid {bid:?} followed the fair price");
    }

    #[test]
    fn background_never_touches_other_owners_orders() {
        let mut m = Market::new(FlowConfig::default(), 50_0000, 9, 9);
        // Someone else's deep orders that no execution reaches.
        let theirs = Owner(1);
        m.engine
            .submit(
                &mut m.seq,
                theirs,
                Side::Buy,
                Price(1_0000),
                500,
                TimeInForce::Day,
                &mut m.events,
            )
            .unwrap();
        for _ in 0..10_000 {
            m.step();
        }
        let touched = m.events.iter().any(|e| {
            matches!(e, Event::Canceled { owner, .. } | Event::Replaced { owner, .. } if *owner == theirs)
        });
        assert!(
            !touched,
            "the background cancelled or replaced another owner's order"
        );
    }

    #[test]
    fn the_spread_stays_near_its_target() {
        // A minute of the lab's flow on a $100 listing (target 2 ticks).
        let mut m = Market::new(FlowConfig::default(), 100_0000, 21, 21);
        let mut spreads = Vec::new();
        for _ in 0..18_000 {
            m.step();
            if let Some((b, a)) = m.touches() {
                spreads.push((a.0 - b.0) / 100);
            }
        }
        spreads.sort_unstable();
        let n = spreads.len();
        assert!(n > 17_000, "two-sided in {n} of 18,000 steps");
        let (p50, p90, p99) = (spreads[n / 2], spreads[n * 9 / 10], spreads[n * 99 / 100]);
        eprintln!("spread ticks p50 {p50} p90 {p90} p99 {p99}");
        assert!(
            p50 <= 3 && p90 <= 6 && p99 <= 12,
            "p50 {p50} p90 {p90} p99 {p99}"
        );
    }

    #[test]
    fn one_walk_seed_one_fair_path_on_two_venues() {
        let run = |seed| {
            let mut m = Market::new(FlowConfig::default(), 100_0000, seed, 77);
            let mut fair = Vec::new();
            for _ in 0..5_000 {
                m.step();
                fair.push(m.flow.fair_value());
            }
            (fair, m.events)
        };
        let (fair_a, events_a) = run(1);
        let (fair_b, events_b) = run(2);
        assert_eq!(fair_a, fair_b, "same walk seed, different fair prices");
        assert!(events_a != events_b, "different venues, same book");
        assert!(
            fair_a.iter().any(|f| *f != fair_a[0]),
            "the fair price moved"
        );
    }

    #[test]
    fn same_seed_same_market() {
        let run = |seed| simulate(FlowConfig::default(), seed, 3_000).2;
        assert!(run(42) == run(42), "same seed, different events");
        assert!(run(42) != run(43), "different seeds, same events");
    }
}
