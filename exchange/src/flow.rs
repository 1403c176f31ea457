//! Background participants: the rest of the market.
//!
//! Each symbol has a fair value that follows a random walk. Participants
//! quote around it (passive limit orders a few ticks from the touch), cancel
//! their older orders, and now and then cross the spread with marketable
//! orders — enough to keep a realistic book with trades for the appliance's
//! strategies to react to. Deterministic for a seed.

use crate::matching::{Engine, Event, Owner, Reject, Sequences};
use types::{Price, Side, TimeInForce};

/// SplitMix64: small, fast and good enough for simulation; fixed so that a
/// seed means the same day on every machine and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// How busy and how wide the background market is.
#[derive(Debug, Clone, Copy)]
pub struct FlowConfig {
    /// Participants (owners `first_owner..first_owner + participants`).
    pub participants: u32,
    pub first_owner: u32,
    /// Percent of actions that cross the spread.
    pub aggressive_percent: u64,
    /// Percent of actions that cancel an existing order.
    pub cancel_percent: u64,
    /// Passive orders rest up to this many ticks behind the touch.
    pub depth_ticks: i64,
    /// Order sizes are round lots of 100 up to this many lots.
    pub max_lots: u32,
    /// Percent of steps in which the fair value moves one tick up or down.
    pub walk_percent: u64,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            participants: 20,
            first_owner: 1000,
            aggressive_percent: 8,
            cancel_percent: 35,
            depth_ticks: 8,
            max_lots: 5,
            walk_percent: 6,
        }
    }
}

/// The background market for one symbol.
#[derive(Debug, Clone)]
pub struct Background {
    config: FlowConfig,
    fair: Price,
    rng: Rng,
}

impl Background {
    pub fn new(config: FlowConfig, fair: Price, seed: u64) -> Background {
        Background {
            config,
            fair,
            rng: Rng::new(seed),
        }
    }

    pub fn fair_value(&self) -> Price {
        self.fair
    }

    fn is_background(&self, owner: Owner) -> bool {
        (self.config.first_owner..self.config.first_owner + self.config.participants)
            .contains(&owner.0)
    }

    /// One participant action on `engine`; events are appended.
    pub fn step(
        &mut self,
        engine: &mut Engine,
        seq: &mut Sequences,
        events: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        let tick = engine.tick().0;
        if self.rng.chance(self.config.walk_percent) {
            let step = if self.rng.chance(50) { tick } else { -tick };
            self.fair = Price((self.fair.0 + step).max(tick * 10));
        }
        let owner =
            Owner(self.config.first_owner + self.rng.below(self.config.participants as u64) as u32);
        let side = if self.rng.chance(50) {
            Side::Buy
        } else {
            Side::Sell
        };
        let qty = 100 * (1 + self.rng.below(self.config.max_lots as u64) as u32);

        if self.rng.chance(self.config.cancel_percent) {
            let mut mine: Vec<u64> = engine
                .resting_orders()
                .filter(|o| self.is_background(o.owner))
                .map(|o| o.order_ref)
                .collect();
            // The engine's order table is unordered; sort so a seed replays.
            mine.sort_unstable();
            if !mine.is_empty() {
                let pick = mine[self.rng.below(mine.len() as u64) as usize];
                return engine.cancel(pick, None, events);
            }
        }
        if self.rng.chance(self.config.aggressive_percent) {
            // Cross the spread, limited a few ticks through the touch.
            let through = Price(self.fair.0 + side.sign() * tick * 3);
            return engine
                .submit(
                    seq,
                    owner,
                    side,
                    through,
                    qty,
                    TimeInForce::ImmediateOrCancel,
                    events,
                )
                .map(|_| ());
        }
        // Passive: one tick off fair value at least, deeper at random, and
        // never through the opposite touch (stale orders can sit past fair).
        let away = 1 + self.rng.below(self.config.depth_ticks as u64) as i64;
        let mut price = Price(self.fair.0 - side.sign() * away * tick);
        if let Some((touch, _)) = engine.best(side.opposite()) {
            let limit = Price(touch.0 - side.sign() * tick);
            if !side.is_better(limit, price) {
                price = limit;
            }
        }
        if price.0 <= 0 {
            return Ok(());
        }
        let tif = TimeInForce::PostOnly;
        match engine.submit(seq, owner, side, price, qty, tif, events) {
            Err(Reject::WouldTrade) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn simulate(seed: u64, steps: usize) -> (Engine, Vec<Event>) {
        let mut engine = Engine::new(Price(100));
        let mut seq = Sequences::new(0);
        let mut flow = Background::new(FlowConfig::default(), Price(50_0000), seed);
        let mut events = Vec::new();
        for _ in 0..steps {
            flow.step(&mut engine, &mut seq, &mut events).unwrap();
        }
        (engine, events)
    }

    #[test]
    fn produces_a_two_sided_book_with_trades() {
        let (engine, events) = simulate(7, 5_000);
        let (bid, _) = engine.best(Side::Buy).expect("bids");
        let (ask, _) = engine.best(Side::Sell).expect("asks");
        assert!(bid < ask);
        assert!(engine.depth(Side::Buy, 10).len() >= 3 && engine.depth(Side::Sell, 10).len() >= 3);
        let trades = events
            .iter()
            .filter(|e| matches!(e, Event::Executed { .. }))
            .count();
        let cancels = events
            .iter()
            .filter(|e| matches!(e, Event::Canceled { .. }))
            .count();
        assert!(trades > 50, "{trades} trades");
        assert!(cancels > 500, "{cancels} cancels");
    }

    #[test]
    fn same_seed_same_market() {
        assert!(
            simulate(42, 3_000).1 == simulate(42, 3_000).1,
            "same seed, different events"
        );
        assert!(
            simulate(42, 3_000).1 != simulate(43, 3_000).1,
            "different seeds, same events"
        );
    }
}
