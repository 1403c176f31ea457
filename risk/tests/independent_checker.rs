//! Random intents and order events through `RiskEngine`, judged by an
//! independent checker written plainly with std collections: it keeps its
//! own model of open orders, positions, message times and rejects, and
//! recomputes every limit from scratch whenever the engine accepts
//! something. Any accepted intent that breaks a limit at the moment of
//! acceptance fails the test.

use std::collections::{BTreeMap, HashMap, VecDeque};

use risk::{
    Capacity, CheckContext, Fill, Limits, OrderRef, RiskEngine, RiskSlot, SelfMatchScope,
    SymbolLimits, Throttle, TripCause, VolumeLimit,
};
use types::{
    Nanos, OrderId, OrderIntent, Price, RejectReason, Side, StrategyId, Symbol, TimeInForce,
    VenueId,
};

const SYMBOLS: u16 = 8;
const STRATEGIES: u16 = 4;
const VENUES: u8 = 3;
/// The longest `entered_volume` window `random_limits` draws.
const LONGEST_VOLUME_WINDOW: u64 = 200_000;

/// splitmix64: small, deterministic, good enough to drive the scenario.
/// Order `id` as risk holds it (as never held, if risk did not accept it).
fn held_ref(held: &HashMap<u64, RiskSlot>, id: u64) -> OrderRef {
    held.get(&id)
        .map_or(OrderRef::unheld(OrderId(id)), |&slot| {
            OrderRef::new(OrderId(id), slot)
        })
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent_x100: u64) -> bool {
        self.below(10_000) < percent_x100
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

#[derive(Clone, Debug)]
struct MOrder {
    strategy: u16,
    locate: u16,
    side: Side,
    venue: u8,
    price: i64,
    qty: u32,
    filled: u32,
    pending: Option<(i64, u32)>,
    pending_cancel: bool,
}

impl MOrder {
    fn leaves(&self) -> i128 {
        self.qty as i128 - self.filled.min(self.qty) as i128
    }
    /// Worst case while a replace is in flight: larger open qty, larger
    /// notional, more aggressive price.
    fn open_qty(&self) -> i128 {
        match self.pending {
            Some((_, q)) => self.leaves().max(q as i128 - self.filled.min(q) as i128),
            None => self.leaves(),
        }
    }
    fn open_notional(&self) -> i128 {
        let old = self.leaves() * self.price as i128;
        match self.pending {
            Some((p, q)) => old.max((q as i128 - self.filled.min(q) as i128) * p as i128),
            None => old,
        }
    }
    fn match_prices(&self) -> Vec<i64> {
        let mut v = vec![self.price];
        if let Some((p, _)) = self.pending {
            v.push(p);
        }
        v
    }
}

#[derive(Default)]
struct Model {
    orders: BTreeMap<u64, MOrder>,
    position: HashMap<u16, i64>,
    mark: HashMap<u16, i64>,
    last_dup: HashMap<(u16, u16, bool, i64, u32), u64>,
    strat_orders: HashMap<u16, VecDeque<u64>>,
    strat_cancels: HashMap<u16, VecDeque<u64>>,
    venue_orders: HashMap<u8, VecDeque<u64>>,
    venue_cancels: HashMap<u8, VecDeque<u64>>,
    rejects: VecDeque<u64>,
    /// (time, shares, notional) of every entry: accepted new orders, and
    /// what accepted replaces added.
    /// Only the last [`LONGEST_VOLUME_WINDOW`] ns are kept.
    entered: VecDeque<(u64, i128, i128)>,
    tripped: bool,
    /// Tripped since the kill list was last taken: the next list must name
    /// every open order not already being canceled.
    kill_list_due: bool,
    last_pnl: i64,
}

fn count_within(times: Option<&VecDeque<u64>>, now: u64, window: u64) -> u64 {
    times.map_or(0, |q| {
        q.iter()
            .filter(|&&t| now.saturating_sub(t) < window)
            .count() as u64
    })
}

fn throttle_full(t: &Option<Throttle>, times: Option<&VecDeque<u64>>, now: u64) -> bool {
    match t {
        Some(t) => count_within(times, now, t.window_ns) >= t.max_msgs as u64,
        None => false,
    }
}

impl Model {
    fn pos(&self, l: u16) -> i128 {
        *self.position.get(&l).unwrap_or(&0) as i128
    }

    fn open(&self, l: u16, side: Side) -> i128 {
        self.orders
            .values()
            .filter(|o| o.locate == l && o.side == side)
            .map(|o| o.open_qty())
            .sum()
    }

    fn credit_used(&self) -> i128 {
        let open: i128 = self.orders.values().map(|o| o.open_notional()).sum();
        let pos: i128 = (0..SYMBOLS + 2)
            .map(|l| self.pos(l).abs() * *self.mark.get(&l).unwrap_or(&0) as i128)
            .sum();
        open + pos
    }

    fn record_reject(&mut self, limits: &Limits, now: u64) {
        if let Some(t) = limits.reject_rate {
            let recent = self
                .rejects
                .iter()
                .filter(|&&ts| now.saturating_sub(ts) < t.window_ns)
                .count() as u64;
            if recent >= t.max_msgs as u64 {
                self.trip();
            }
        }
        self.rejects.push_back(now);
        if self.rejects.len() > 512 {
            self.rejects.pop_front();
        }
    }

    fn trip(&mut self) {
        if !self.tripped {
            self.tripped = true;
            self.kill_list_due = true;
        }
    }

    fn remove_if_done(&mut self, id: u64) {
        if let Some(o) = self.orders.get(&id) {
            if o.leaves() == 0 && o.pending.is_none() {
                self.orders.remove(&id);
            }
        }
    }
}

/// What was entered within the window before `now`, plus `add`, stays
/// within the limit (the exact sliding window: entries less than
/// `window_ns` old); an amount that adds nothing passes a limit already
/// passed (one lowered at run time), as a replace that shrinks an order.
fn assert_volume(m: &Model, lim: &Limits, now: u64, add_qty: i128, add_notional: i128) {
    let Some(v) = lim.entered_volume else {
        return;
    };
    let (mut qty, mut notional) = (add_qty, add_notional);
    for &(t, q, n) in &m.entered {
        if now.saturating_sub(t) < v.window_ns {
            qty += q;
            notional += n;
        }
    }
    assert!(
        add_qty <= 0 || qty <= v.max_qty as i128,
        "entered shares {qty} in the window"
    );
    assert!(
        add_notional <= 0 || notional <= v.max_notional as i128,
        "entered notional {notional} in the window"
    );
}

/// Verifies an accepted new order against every limit; panics with the
/// violated rule.
#[allow(clippy::too_many_arguments)]
fn assert_new_ok(
    m: &Model,
    lim: &Limits,
    strategy: u16,
    locate: u16,
    side: Side,
    price: i64,
    qty: u32,
    venue: u8,
    reference: Option<i64>,
    now: u64,
) {
    let s = lim.for_symbol(locate);
    assert!(!m.tripped, "accepted while the kill switch is tripped");
    assert!(
        qty > 0 && price > 0 && locate < SYMBOLS && venue < VENUES,
        "invalid order accepted"
    );
    assert!(!s.restricted, "restricted symbol");
    assert!(qty <= s.max_order_qty, "max order qty");
    assert!(
        price as i128 * qty as i128 <= s.max_notional as i128,
        "max notional"
    );
    assert_collar(s, price, reference);
    assert_no_self_match(m, lim, locate, side, price, venue, None);
    let sym_open = m.orders.values().filter(|o| o.locate == locate).count() as u32;
    assert!(sym_open < s.max_open_orders, "symbol open orders");
    assert!(
        (m.orders.len() as u32) < lim.max_open_orders,
        "total open orders"
    );
    let (eb, es) = match side {
        Side::Buy => (qty as i128, 0),
        Side::Sell => (0, qty as i128),
    };
    assert_exposure(m, lim, s, locate, side, eb, es, price as i128 * qty as i128);
    assert_volume(m, lim, now, qty as i128, price as i128 * qty as i128);
    if lim.duplicate_window_ns > 0 {
        if let Some(&t) = m
            .last_dup
            .get(&(strategy, locate, side == Side::Buy, price, qty))
        {
            assert!(
                now - t >= lim.duplicate_window_ns,
                "duplicate within window"
            );
        }
    }
    assert!(
        !throttle_full(&lim.strategy_order_rate, m.strat_orders.get(&strategy), now),
        "strategy order rate"
    );
    assert!(
        !throttle_full(&lim.venue_order_rate, m.venue_orders.get(&venue), now),
        "venue order rate"
    );
}

fn assert_collar(s: &SymbolLimits, price: i64, reference: Option<i64>) {
    if s.collar_bps.is_none() && s.collar_ticks.is_none() {
        return;
    }
    let r = reference.expect("collar configured but no reference");
    assert!(r > 0, "collar with a non-positive reference");
    let diff = (price as i128 - r as i128).abs();
    if let Some(bps) = s.collar_bps {
        assert!(diff * 10_000 <= bps as i128 * r as i128, "collar bps");
    }
    if let Some(t) = s.collar_ticks {
        assert!(diff <= t as i128 * s.tick_size as i128, "collar ticks");
    }
}

/// One of our prices an order at `price` would cross: among our open
/// orders in `locate` on the other side (at any of their terms, a replace
/// in flight included), leaving out order `except`, and only those at
/// `venue` when one is given.
fn crossed_price(
    m: &Model,
    locate: u16,
    side: Side,
    price: i64,
    venue: Option<u8>,
    except: Option<u64>,
) -> Option<i64> {
    m.orders
        .iter()
        .filter(|(id, o)| {
            o.locate == locate
                && o.side != side
                && Some(**id) != except
                && venue.is_none_or(|v| o.venue == v)
        })
        .flat_map(|(_, o)| o.match_prices())
        .find(|&p| match side {
            Side::Buy => price >= p,
            Side::Sell => price <= p,
        })
}

/// Does an order at `price` cross one of our open orders in `locate` on the
/// other side, at any venue?
fn crosses_any(m: &Model, locate: u16, side: Side, price: i64) -> bool {
    crossed_price(m, locate, side, price, None, None).is_some()
}

/// No open order of ours on the other side that could trade with this one
/// is crossed: any of them, or under the venue scope those at `venue`.
fn assert_no_self_match(
    m: &Model,
    lim: &Limits,
    locate: u16,
    side: Side,
    price: i64,
    venue: u8,
    except: Option<u64>,
) {
    let venue = (lim.self_match == SelfMatchScope::Venue).then_some(venue);
    if let Some(p) = crossed_price(m, locate, side, price, venue, except) {
        panic!("self-match: {side:?} at {price} vs our order at {p}");
    }
}

#[allow(clippy::too_many_arguments)]
fn assert_exposure(
    m: &Model,
    lim: &Limits,
    s: &SymbolLimits,
    locate: u16,
    side: Side,
    extra_buy: i128,
    extra_sell: i128,
    extra_notional: i128,
) {
    // One pass over the open orders: open buy and sell per symbol.
    let n = (SYMBOLS + 2) as usize;
    let (mut ob, mut os) = (vec![0i128; n], vec![0i128; n]);
    for o in m.orders.values() {
        match o.side {
            Side::Buy => ob[o.locate as usize] += o.open_qty(),
            Side::Sell => os[o.locate as usize] += o.open_qty(),
        }
    }
    let l = locate as usize;
    let pos = m.pos(locate);
    match side {
        Side::Buy => assert!(
            pos + ob[l] + extra_buy <= s.max_position as i128,
            "symbol position (long)"
        ),
        Side::Sell => assert!(
            os[l] + extra_sell - pos <= s.max_position as i128,
            "symbol position (short)"
        ),
    }
    let gross_of = |ob: &[i128], os: &[i128]| -> i128 {
        (0..SYMBOLS)
            .map(|x| {
                let p = m.pos(x);
                (p + ob[x as usize]).max(os[x as usize] - p).max(0)
            })
            .sum()
    };
    let gross_before = gross_of(&ob, &os);
    ob[l] += extra_buy;
    os[l] += extra_sell;
    let gross = gross_of(&ob, &os);
    // A limit already exceeded (lowered at run time) lets through only what
    // adds nothing to it.
    assert!(
        gross <= lim.max_gross_position as i128 || gross <= gross_before,
        "gross position {gross} (before {gross_before})"
    );
    let net: i128 = (0..SYMBOLS + 2).map(|x| m.pos(x)).sum();
    let all_buy: i128 = ob.iter().sum();
    let all_sell: i128 = os.iter().sum();
    match side {
        Side::Buy => assert!(net + all_buy <= lim.max_net_position as i128, "net long"),
        Side::Sell => assert!(all_sell - net <= lim.max_net_position as i128, "net short"),
    }
    assert!(
        extra_notional <= 0 || m.credit_used() + extra_notional <= lim.credit_limit as i128,
        "credit limit"
    );
}

fn random_throttle(r: &mut Rng, msgs: (i64, i64), window: (i64, i64)) -> Option<Throttle> {
    if r.chance(2_000) {
        return None;
    }
    Some(Throttle {
        max_msgs: r.range(msgs.0, msgs.1) as u32,
        window_ns: r.range(window.0, window.1) as u64,
    })
}

fn random_symbol_limits(r: &mut Rng) -> SymbolLimits {
    SymbolLimits {
        restricted: r.chance(300),
        max_order_qty: r.range(100, 600) as u32,
        max_notional: r.range(200, 2_000) as u64 * 1_000_000,
        collar_bps: if r.chance(7_000) {
            Some(r.range(20, 200) as u32)
        } else {
            None
        },
        collar_ticks: if r.chance(5_000) {
            Some(r.range(5, 300) as u32)
        } else {
            None
        },
        tick_size: 100,
        max_position: r.range(300, 3_000) as u64,
        max_open_orders: r.range(3, 30) as u32,
    }
}

fn random_limits(r: &mut Rng) -> Limits {
    let mut l = Limits::unlimited();
    l.default_symbol = random_symbol_limits(r);
    for _ in 0..r.below(4) {
        let locate = r.below(SYMBOLS as u64) as u16;
        if l.for_symbol(locate) == &l.default_symbol
            && !l.overrides.iter().any(|(x, _)| *x == locate)
        {
            let _ = l.overrides.push((locate, random_symbol_limits(r)));
        }
    }
    l.max_gross_position = r.range(2_000, 12_000) as u64;
    l.max_net_position = r.range(500, 5_000) as u64;
    l.credit_limit = r.range(30, 400) as u64 * 100_000_000;
    l.max_open_orders = r.range(10, 120) as u32;
    l.self_match = if r.chance(5_000) {
        SelfMatchScope::Venue
    } else {
        SelfMatchScope::Firm
    };
    l.duplicate_window_ns = if r.chance(8_000) {
        r.range(100, 50_000) as u64
    } else {
        0
    };
    l.strategy_order_rate = random_throttle(r, (3, 60), (1_000, 100_000));
    l.strategy_cancel_rate = random_throttle(r, (3, 60), (1_000, 100_000));
    l.venue_order_rate = random_throttle(r, (5, 120), (1_000, 100_000));
    l.venue_cancel_rate = random_throttle(r, (5, 120), (1_000, 100_000));
    l.entered_volume = if r.chance(8_000) {
        Some(VolumeLimit {
            max_qty: r.range(500, 20_000) as u64,
            max_notional: r.range(5, 200) as u64 * 100_000_000,
            window_ns: r.range(2_000, LONGEST_VOLUME_WINDOW as i64) as u64,
        })
    } else {
        None
    };
    l.max_daily_loss = r.range(1_000, 100_000) as u64 * 10_000;
    l.reject_rate = random_throttle(r, (40, 250), (1_000, 5_000));
    l
}

#[derive(Default, Debug)]
struct Tally {
    /// New, cancel and replace intents checked.
    intents: u64,
    /// New orders accepted through one of our orders at another venue.
    through_other_venues: u64,
    unsent: u64,
    manual_trips: u64,
    new_ok: u64,
    new_rejected: BTreeMap<String, u64>,
    cancels_ok: u64,
    replaces_ok: u64,
    fills: u64,
    trips: u64,
    rearms: u64,
    limit_changes: u64,
    bad_limits: u64,
}

fn run(seed: u64, intents: u64) -> Tally {
    let mut r = Rng(seed);
    let mut limits = random_limits(&mut r);
    let cap = Capacity {
        symbols: SYMBOLS as usize,
        orders: 200,
        duplicate_slots: 8_192,
    };
    let mut e = RiskEngine::new(cap, limits.clone()).expect("valid");
    let mut m = Model::default();
    let mut tally = Tally::default();
    let mut now: u64 = 1_000_000_000;
    let mut next_id: u64 = 1;
    // Where risk holds each order it accepted (what the OMS keeps in its
    // records), by id.
    let mut held: HashMap<u64, RiskSlot> = HashMap::new();
    let mut refs: Vec<i64> = (0..SYMBOLS + 2)
        .map(|i| 100_0000 + i as i64 * 37_0000)
        .collect();
    let mut pnl: i64 = 0;

    let mut step: u64 = 0;
    while tally.intents < intents {
        step += 1;
        now += r.below(300);
        while m
            .entered
            .front()
            .is_some_and(|&(t, _, _)| now - t >= LONGEST_VOLUME_WINDOW)
        {
            m.entered.pop_front();
        }
        let roll = r.below(10_000);
        // Pick a random open order (or an unknown id now and then).
        let pick = |r: &mut Rng, m: &Model| -> Option<u64> {
            if m.orders.is_empty() || r.chance(200) {
                return Some(900_000_000 + r.below(10));
            }
            let n = r.below(m.orders.len() as u64) as usize;
            m.orders.keys().nth(n).copied()
        };
        if roll < 6_200 {
            tally.intents += 1;
        }
        if roll < 4_500 {
            // New order.
            let strategy = r.below(STRATEGIES as u64) as u16;
            let locate = if r.chance(50) {
                SYMBOLS + r.below(2) as u16
            } else {
                r.below(SYMBOLS as u64) as u16
            };
            let side = if r.chance(5_000) {
                Side::Buy
            } else {
                Side::Sell
            };
            let reference = refs[locate as usize];
            let spread = reference / 100;
            // Whole cents, so equal prices (self-match and collar edges) are common.
            let mut price = (reference + r.range(-spread, spread)) / 100 * 100;
            if r.chance(30) {
                price = -price;
            }
            let qty = if r.chance(30) {
                0
            } else {
                r.range(1, 400) as u32
            };
            let venue = if r.chance(50) {
                20
            } else {
                r.below(VENUES as u64) as u8
            };
            let ref_opt = if r.chance(300) { None } else { Some(reference) };
            // Repeat a recent order now and then to exercise duplicates.
            let id = next_id;
            next_id += 1;
            let intent = OrderIntent::New {
                strategy: StrategyId(strategy),
                locate,
                symbol: Symbol::new("X").unwrap(),
                side,
                price: Price(price),
                qty,
                tif: TimeInForce::Day,
            };
            let ctx = CheckContext {
                order: OrderId(id),
                held: None,
                venue: VenueId(venue),
                reference: ref_opt.map(Price),
            };
            match e.check(&intent, &ctx, Nanos(now)) {
                Ok(slot) => {
                    held.insert(id, slot);
                    assert_new_ok(
                        &m, &limits, strategy, locate, side, price, qty, venue, ref_opt, now,
                    );
                    tally.new_ok += 1;
                    // What only the venue scope lets through (the checker
                    // would not see a scope that refused as widely as the
                    // firm's: count it).
                    if crosses_any(&m, locate, side, price) {
                        assert_eq!(limits.self_match, SelfMatchScope::Venue);
                        tally.through_other_venues += 1;
                    }
                    m.orders.insert(
                        id,
                        MOrder {
                            strategy,
                            locate,
                            side,
                            venue,
                            price,
                            qty,
                            filled: 0,
                            pending: None,
                            pending_cancel: false,
                        },
                    );
                    m.last_dup
                        .insert((strategy, locate, side == Side::Buy, price, qty), now);
                    m.strat_orders.entry(strategy).or_default().push_back(now);
                    m.venue_orders.entry(venue).or_default().push_back(now);
                    m.entered
                        .push_back((now, qty as i128, price as i128 * qty as i128));
                    // Same order again right away: must be a duplicate when the window is on.
                    if r.chance(500) {
                        let id2 = next_id;
                        next_id += 1;
                        let ctx2 = CheckContext {
                            order: OrderId(id2),
                            ..ctx
                        };
                        let res = e.check(&intent, &ctx2, Nanos(now));
                        if limits.duplicate_window_ns > 0 {
                            assert!(res.is_err(), "immediate duplicate accepted");
                        }
                        match res {
                            Ok(slot2) => {
                                held.insert(id2, slot2);
                                assert_new_ok(
                                    &m, &limits, strategy, locate, side, price, qty, venue,
                                    ref_opt, now,
                                );
                                m.orders.insert(
                                    id2,
                                    MOrder {
                                        strategy,
                                        locate,
                                        side,
                                        venue,
                                        price,
                                        qty,
                                        filled: 0,
                                        pending: None,
                                        pending_cancel: false,
                                    },
                                );
                                m.last_dup
                                    .insert((strategy, locate, side == Side::Buy, price, qty), now);
                                m.strat_orders.entry(strategy).or_default().push_back(now);
                                m.venue_orders.entry(venue).or_default().push_back(now);
                                m.entered.push_back((
                                    now,
                                    qty as i128,
                                    price as i128 * qty as i128,
                                ));
                            }
                            Err(reason) => {
                                *tally.new_rejected.entry(format!("{reason:?}")).or_default() += 1;
                                if reason != RejectReason::KillSwitch {
                                    m.record_reject(&limits, now);
                                }
                            }
                        }
                    } else if r.chance(300) {
                        // The venue's session could not take it: it leaves
                        // as if never checked (duplicate memory, throttle
                        // records, exposure), so the same order may go again.
                        e.on_new_unsent(OrderRef::new(OrderId(id), slot));
                        m.orders.remove(&id);
                        m.last_dup
                            .remove(&(strategy, locate, side == Side::Buy, price, qty));
                        m.strat_orders.entry(strategy).or_default().pop_back();
                        m.venue_orders.entry(venue).or_default().pop_back();
                        m.entered.pop_back();
                        tally.unsent += 1;
                        let id2 = next_id;
                        next_id += 1;
                        let ctx2 = CheckContext {
                            order: OrderId(id2),
                            ..ctx
                        };
                        if let Ok(slot2) = e.check(&intent, &ctx2, Nanos(now)) {
                            assert_new_ok(
                                &m, &limits, strategy, locate, side, price, qty, venue, ref_opt,
                                now,
                            );
                            e.on_new_unsent(OrderRef::new(OrderId(id2), slot2));
                        } else if !m.tripped {
                            panic!("the same order refused right after it was undone");
                        }
                    }
                }
                Err(reason) => {
                    *tally.new_rejected.entry(format!("{reason:?}")).or_default() += 1;
                    if reason != RejectReason::KillSwitch {
                        m.record_reject(&limits, now);
                    } else {
                        assert!(m.tripped, "KillSwitch reject while not tripped");
                    }
                }
            }
        } else if roll < 5_500 {
            // Cancel (sometimes by the wrong strategy).
            let Some(id) = pick(&mut r, &m) else { continue };
            let owner = m.orders.get(&id).map_or(0, |o| o.strategy);
            let strategy = if r.chance(300) {
                (owner + 1) % STRATEGIES
            } else {
                owner
            };
            let ctx = CheckContext {
                order: OrderId(id),
                held: held.get(&id).copied(),
                venue: VenueId(0),
                reference: None,
            };
            let res = e.check(
                &OrderIntent::Cancel {
                    strategy: StrategyId(strategy),
                    order: OrderId(id),
                },
                &ctx,
                Nanos(now),
            );
            match res {
                Ok(slot) => {
                    assert_eq!(held.get(&id), Some(&slot), "the answer is the order's slot");
                    let o = m
                        .orders
                        .get(&id)
                        .expect("cancel accepted for an order the model does not know");
                    assert_eq!(o.strategy, strategy, "cancel by another strategy accepted");
                    assert!(!o.pending_cancel, "second cancel accepted");
                    if !m.tripped {
                        assert!(
                            !throttle_full(
                                &limits.strategy_cancel_rate,
                                m.strat_cancels.get(&strategy),
                                now
                            ),
                            "strategy cancel rate"
                        );
                        assert!(
                            !throttle_full(
                                &limits.venue_cancel_rate,
                                m.venue_cancels.get(&o.venue),
                                now
                            ),
                            "venue cancel rate"
                        );
                    }
                    let venue = o.venue;
                    m.orders.get_mut(&id).unwrap().pending_cancel = true;
                    m.strat_cancels.entry(strategy).or_default().push_back(now);
                    m.venue_cancels.entry(venue).or_default().push_back(now);
                    tally.cancels_ok += 1;
                }
                Err(reason) => {
                    assert_ne!(
                        reason,
                        RejectReason::KillSwitch,
                        "cancels pass the kill switch"
                    );
                    m.record_reject(&limits, now);
                }
            }
        } else if roll < 6_200 {
            // Replace.
            let Some(id) = pick(&mut r, &m) else { continue };
            let (owner, locate, old_price) = m
                .orders
                .get(&id)
                .map_or((0, 0, 100_0000), |o| (o.strategy, o.locate, o.price));
            let reference = refs[locate as usize];
            let price = (old_price + r.range(-reference / 100, reference / 100)) / 100 * 100;
            let qty = r.range(1, 500) as u32;
            let ctx = CheckContext {
                order: OrderId(id),
                held: held.get(&id).copied(),
                venue: VenueId(0),
                reference: Some(Price(reference)),
            };
            let res = e.check(
                &OrderIntent::Replace {
                    strategy: StrategyId(owner),
                    order: OrderId(id),
                    price: Price(price),
                    qty,
                },
                &ctx,
                Nanos(now),
            );
            match res {
                Ok(slot) => {
                    assert_eq!(held.get(&id), Some(&slot), "the answer is the order's slot");
                    assert!(!m.tripped, "replace accepted while tripped");
                    let o = m
                        .orders
                        .get(&id)
                        .expect("replace of unknown order accepted")
                        .clone();
                    assert!(
                        !o.pending_cancel && o.pending.is_none(),
                        "replace while pending"
                    );
                    assert!(qty > o.filled && price > 0, "invalid replace");
                    let s = limits.for_symbol(locate);
                    assert!(
                        !s.restricted && qty <= s.max_order_qty,
                        "replace size/restricted"
                    );
                    assert!(
                        price as i128 * qty as i128 <= s.max_notional as i128,
                        "replace notional"
                    );
                    assert_collar(s, price, Some(reference));
                    assert_no_self_match(&m, &limits, locate, o.side, price, o.venue, Some(id));
                    let mut after = o.clone();
                    after.pending = Some((price, qty));
                    let add_q = after.open_qty() - o.open_qty();
                    let add_n = after.open_notional() - o.open_notional();
                    let (eb, es) = match o.side {
                        Side::Buy => (add_q, 0),
                        Side::Sell => (0, add_q),
                    };
                    if add_q > 0 || add_n > 0 {
                        assert_exposure(&m, &limits, s, locate, o.side, eb, es, add_n);
                    }
                    assert_volume(&m, &limits, now, add_q, add_n);
                    assert!(
                        !throttle_full(
                            &limits.strategy_order_rate,
                            m.strat_orders.get(&owner),
                            now
                        ),
                        "replace strategy rate"
                    );
                    assert!(
                        !throttle_full(&limits.venue_order_rate, m.venue_orders.get(&o.venue), now),
                        "replace venue rate"
                    );
                    m.strat_orders.entry(owner).or_default().push_back(now);
                    m.venue_orders.entry(o.venue).or_default().push_back(now);
                    m.entered.push_back((now, add_q, add_n));
                    m.orders.insert(id, after);
                    tally.replaces_ok += 1;
                }
                Err(reason) => {
                    if reason != RejectReason::KillSwitch {
                        m.record_reject(&limits, now);
                    }
                }
            }
        } else if roll < 7_700 {
            // Fill.
            let Some(id) = pick(&mut r, &m) else { continue };
            let (locate, side, price, leaves) = m.orders.get(&id).map_or(
                (r.below(SYMBOLS as u64) as u16, Side::Buy, 100_0000, 10),
                |o| (o.locate, o.side, o.price, o.leaves().max(1) as i64),
            );
            let qty = if r.chance(300) {
                leaves as u32 + 5
            } else {
                r.range(1, leaves) as u32
            };
            e.on_fill(&Fill {
                order: held_ref(&held, id),
                locate,
                side,
                qty,
                price: Price(price),
            });
            *m.position.entry(locate).or_default() += side.sign() * qty as i64;
            m.mark.insert(locate, price);
            if let Some(o) = m.orders.get_mut(&id) {
                o.filled = o.filled.saturating_add(qty);
            }
            m.remove_if_done(id);
            tally.fills += 1;
        } else if roll < 8_200 {
            let Some(id) = pick(&mut r, &m) else { continue };
            e.on_accepted(held_ref(&held, id));
        } else if roll < 9_000 {
            let Some(id) = pick(&mut r, &m) else { continue };
            e.on_canceled(held_ref(&held, id));
            m.orders.remove(&id);
        } else if roll < 9_200 {
            let Some(id) = pick(&mut r, &m) else { continue };
            e.on_rejected(held_ref(&held, id), Nanos(now));
            m.orders.remove(&id);
            m.record_reject(&limits, now);
        } else if roll < 9_500 {
            let Some(id) = pick(&mut r, &m) else { continue };
            let pending = m.orders.get(&id).is_some_and(|o| o.pending.is_some());
            if pending {
                let o = m.orders.get_mut(&id).unwrap();
                if r.chance(5_000) {
                    let (p, q) = o.pending.take().unwrap();
                    e.on_replaced(held_ref(&held, id), Price(p), q);
                    o.price = p;
                    o.qty = q;
                } else {
                    e.on_replace_rejected(held_ref(&held, id));
                    o.pending = None;
                }
                m.remove_if_done(id);
            } else if let Some(o) = m.orders.get_mut(&id) {
                if o.pending_cancel && r.chance(3_000) {
                    e.on_cancel_rejected(held_ref(&held, id));
                    o.pending_cancel = false;
                }
            }
        } else if roll < 9_700 {
            // PnL update and reference drift.
            pnl += r.range(-300_000, 200_000) * 100;
            if r.chance(1_500) {
                pnl = 0;
            }
            // Flatten a symbol now and then (a hedge done elsewhere), so
            // positions do not random-walk far beyond every limit.
            if r.chance(3_000) {
                let l = r.below(SYMBOLS as u64) as u16;
                let pos = m.pos(l) as i64;
                if pos != 0 {
                    let side = if pos > 0 { Side::Sell } else { Side::Buy };
                    let price = refs[l as usize];
                    e.on_fill(&Fill {
                        order: OrderRef::unheld(OrderId(800_000_000)),
                        locate: l,
                        side,
                        qty: pos.unsigned_abs() as u32,
                        price: Price(price),
                    });
                    m.position.insert(l, 0);
                    m.mark.insert(l, price);
                }
            }
            e.on_pnl(pnl);
            m.last_pnl = pnl;
            if (pnl as i128) < -(limits.max_daily_loss as i128) {
                m.trip();
            }
            let l = r.below(SYMBOLS as u64) as usize;
            refs[l] = (refs[l] + r.range(-refs[l] / 200, refs[l] / 200)).max(1_0000);
            if r.chance(2_000) {
                e.set_mark(l as u16, Price(refs[l]));
                m.mark.insert(l as u16, refs[l]);
            }
        } else if roll < 9_800 {
            if m.tripped {
                let ok = e.rearm().is_ok();
                let expect = (m.last_pnl as i128) >= -(limits.max_daily_loss as i128);
                assert_eq!(ok, expect, "rearm decision");
                if ok {
                    m.tripped = false;
                    m.rejects.clear();
                    tally.rearms += 1;
                }
            } else {
                assert!(e.rearm().is_err());
                if r.chance(2_000) {
                    // The operator's kill.
                    e.trip(TripCause::Manual);
                    m.trip();
                    tally.manual_trips += 1;
                }
            }
        } else if roll < 9_830 {
            // Run-time limit change; one in four is invalid and must leave the old limits.
            let mut new = random_limits(&mut r);
            let invalid = r.chance(2_500);
            if invalid {
                new.default_symbol.tick_size = 0;
            }
            match e.apply_limits(new.clone(), Nanos(now)) {
                Ok(()) => {
                    assert!(!invalid);
                    // A new entered-volume window starts from what the old
                    // one held (no limit keeps a second): entries older
                    // than that may be forgotten.
                    let kept = |l: &Limits| l.entered_volume.map_or(1_000_000_000, |v| v.window_ns);
                    if kept(&new) != kept(&limits) {
                        let old = kept(&limits);
                        m.entered.retain(|&(t, _, _)| now - t < old);
                    }
                    limits = new;
                    tally.limit_changes += 1;
                    // Limits already breached trip the switch at once.
                    if (m.last_pnl as i128) < -(limits.max_daily_loss as i128) {
                        m.trip();
                    }
                    if let Some(t) = limits.reject_rate {
                        let recent = count_within(Some(&m.rejects), now, t.window_ns);
                        if t.max_msgs < risk::MAX_THROTTLE_MSGS && recent > t.max_msgs as u64 {
                            m.trip();
                        }
                    }
                }
                Err(err) => {
                    assert!(invalid, "valid limits refused: {err}");
                    assert_eq!(err.field, "tick_size");
                    assert_eq!(e.limits(), &limits);
                    tally.bad_limits += 1;
                }
            }
        } else if m.tripped {
            // Kill switch: the cancel list is exactly the open orders not yet being canceled.
            let mut out = [OrderIntent::Cancel {
                strategy: StrategyId(0),
                order: OrderId(0),
            }; 16];
            let mut listed = Vec::new();
            loop {
                let n = e.kill_cancels(&mut out);
                if n == 0 {
                    break;
                }
                listed.extend_from_slice(&out[..n]);
            }
            let mut ids: Vec<u64> = listed
                .iter()
                .map(|i| match i {
                    OrderIntent::Cancel { order, .. } => order.0,
                    _ => panic!("not a cancel"),
                })
                .collect();
            ids.sort();
            let expect: Vec<u64> = m
                .orders
                .iter()
                .filter(|(_, o)| !o.pending_cancel)
                .map(|(id, _)| *id)
                .collect();
            // The first listing after a trip names every open order not
            // already being canceled; later calls continue from the cursor.
            if m.kill_list_due {
                assert_eq!(ids, expect, "the kill list after a trip");
                m.kill_list_due = false;
            } else {
                assert!(
                    ids.iter().all(|id| expect.contains(id)),
                    "kill list names an order that is not open"
                );
            }
            for intent in listed {
                let OrderIntent::Cancel { strategy, order } = intent else {
                    unreachable!()
                };
                let ctx = CheckContext {
                    order,
                    held: held.get(&order.0).copied(),
                    venue: VenueId(0),
                    reference: None,
                };
                assert_eq!(
                    e.check(&intent, &ctx, Nanos(now)).map(|_| ()),
                    Ok(()),
                    "kill-switch cancel refused"
                );
                let o = m.orders.get_mut(&order.0).unwrap();
                o.pending_cancel = true;
                m.strat_cancels
                    .entry(strategy.0)
                    .or_default()
                    .push_back(now);
                m.venue_cancels.entry(o.venue).or_default().push_back(now);
            }
        }

        if e.tripped().is_some() != m.tripped {
            panic!(
                "step {step}: engine tripped={:?}, model tripped={}",
                e.tripped(),
                m.tripped
            );
        }
        if step.is_multiple_of(997) {
            assert_eq!(e.open_orders() as usize, m.orders.len(), "open order count");
            for l in 0..SYMBOLS {
                assert_eq!(e.position(l) as i128, m.pos(l), "position of {l}");
                let (b, s) = e.open_qty(l);
                assert_eq!(
                    (b as i128, s as i128),
                    (m.open(l, Side::Buy), m.open(l, Side::Sell)),
                    "open qty of {l}"
                );
            }
            assert_eq!(e.credit_used(), m.credit_used(), "credit used");
        }
        if let Some(cause) = e.tripped() {
            assert!(matches!(
                cause,
                TripCause::DailyLoss | TripCause::RejectRate | TripCause::Manual
            ));
        }
    }
    tally.trips = e.trips();
    tally
}

fn assert_meaningful(t: &Tally, intents: u64) {
    // A checker that never sees acceptances or rejections proves nothing.
    assert!(t.new_ok > intents / 20, "too few accepts: {t:?}");
    assert!(
        t.through_other_venues > 0,
        "the venue scope never let an order through our order at another venue: {t:?}"
    );
    for reason in [
        "MaxOrderQty",
        "MaxNotional",
        "PriceCollar",
        "NoReferencePrice",
        "SymbolPositionLimit",
        "CreditLimit",
        "DuplicateOrder",
        "OrderRateThrottle",
        "MaxOpenOrders",
        "SelfMatch",
        "InvalidOrder",
        "KillSwitch",
        "RestrictedSymbol",
        "EnteredVolumeLimit",
    ] {
        assert!(
            t.new_rejected.get(reason).copied().unwrap_or(0) > 0,
            "{reason} never exercised: {t:?}"
        );
    }
    assert!(
        t.trips > 0
            && t.rearms > 0
            && t.limit_changes > 0
            && t.bad_limits > 0
            && t.unsent > 0
            && t.manual_trips > 0,
        "{t:?}"
    );
}

#[test]
fn one_million_random_intents_respect_every_limit() {
    let per_seed = 1_000_000 / 4;
    let mut total = 0;
    for seed in 1..=4u64 {
        let t = run(seed, per_seed);
        eprintln!("seed {seed}: {t:?}");
        assert_meaningful(&t, per_seed);
        total += t.intents;
    }
    assert!(total >= 1_000_000);
}

#[test]
#[ignore = "long: 20 M intents; run with --ignored --release"]
fn twenty_million_random_intents_respect_every_limit() {
    for seed in 100..120u64 {
        let t = run(seed, 1_000_000);
        assert_meaningful(&t, 1_000_000);
    }
}
