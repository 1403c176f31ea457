//! The synthetic trading-day model.
//!
//! [`Generator`] is an iterator of [`TimedMessage`]s: a whole ITCH 5.0 day
//! whose shape follows a real NASDAQ day (shared notes §4):
//!
//! - **Schedule.** `S O` (start of messages) at 03:05, one `R` stock directory
//!   and one `H` (trading) per locate, `S S` at 04:00, `S Q` at 09:30, `S M`
//!   at 16:00, `S E` at 20:00, `S C` at 20:05; a few LULD halts
//!   (`H` halted → `Q` quotation only → `T` trading) during regular hours.
//! - **Rate profile.** Message times follow an intensity curve over
//!   04:00–20:00: quiet pre- and post-market, a U-shaped regular session with
//!   bursts at the open and the close. On top, *micro-bursts* (1–4 messages
//!   20–500 ns apart, often on one symbol) and rarer *surges* (50–500
//!   messages at 0.5–1 M msg/s).
//! - **Symbols.** `--symbols` locates named in alphabetical order, with
//!   Zipf-like activity (weight `1/(rank+5)`, ranks shuffled by the seed),
//!   a starting price (5% below $1), tick $0.01 at or above $1 and $0.0001
//!   below, and a target spread in ticks that widens with lower activity.
//! - **Where orders rest.** Messages follow activity, but resting orders are
//!   spread flatter (weight `1/sqrt(rank+5)`): adds that grow the live set
//!   and a quarter of the others pick symbols by that resting weight, and a
//!   delete drawn for a symbol below its resting share is redrawn with
//!   probability (1 − have/want). At 8,800 symbols and 1.6 M live orders the
//!   largest book holds ~2,400 orders (real day: ~3,000) while the busiest
//!   symbol sends ~2.7% of all messages.
//! - **Orders.** Adds rest at the touch or behind it (20% at the touch, 45%
//!   1–4 ticks, 25% 5–24, 6% up to ~225, 4% 200–2,500 ticks away; depths
//!   ×10–50 for sub-dollar and ×5–20 for $500+ stocks), or improve the touch
//!   when the spread is wider than the symbol's target. Deletes, cancels,
//!   replaces and executions only ever name live orders; executions take the
//!   best of a few sampled orders of one side, so they hit the touch most of
//!   the time. No add ever crosses the other side (see *Prices*).
//! - **Mix.** Weights A 44%, D 43%, U 7.4%, E 2.2%, X 1.3%, I 1.0% (only in
//!   the opening and closing cross windows), F 0.5%, P 0.4%, L 0.05%,
//!   C 0.04%. The add/delete split is steered around that 87.5% total so the
//!   live-order population follows a target curve: it rises to `peak_live`,
//!   holds while the book churns, and falls at the end of the day (day orders
//!   expiring). Over the whole day A and D come out at their target shares.
//! - **Prices.** Each symbol has a latent *fair price* that random-walks
//!   (daily σ 1–3% of the price, its variance spread over the day like the
//!   message rate, plus two jumps a day), and per side a *touch*: an upper
//!   bound on live bids, a lower bound on live asks, bid touch < ask touch,
//!   normally the real best price. The book follows the fair price: a touch
//!   the fair price has left (a bid at or above the fair mid) is drained
//!   first — executions take its oldest order, cancels its newest — and a
//!   lagging touch is improved by half the adds, up to the wanted price
//!   (fair bid, fair bid + target spread). When a touch level empties the
//!   touch moves to the next live level (a scan of at most 64 ticks, resumed
//!   later if needed), so quotes move by the real gaps of the book, mostly a
//!   tick. Target spreads are at least ~1 bp for high-priced names. The
//!   end-of-day decline thins books from behind and never takes a side's
//!   last orders while the other side has more. Measured with
//!   `backtest --bin bbo-stats` (BENCHMARKS.md) and asserted by
//!   `tests/realism.rs`.
//! - **Regimes.** [`Config::volatility_percent`] scales the walk and the
//!   jumps (0: a quiet day, fair prices stand still and only the book's
//!   churn moves quotes); [`Config::drift_bp`] adds a trend of that many
//!   basis points over the day. The backtest tests use both: the market
//!   maker earns the spread on a quiet day and meets its inventory limit
//!   on a trending one.
//!
//! # Cost
//! O(1) per message: live orders sit in a slab of 32-byte entries with a
//! free list; each symbol side keeps a `Vec` of slab indices (swap-remove,
//! with each order knowing its position); each price level is a FIFO list
//! through the slab, found by a hash map. The touch scan is bounded (64
//! look-ups). Memory is bounded by the live set (~90 MB at 1.6 M live
//! orders). The cost is cache misses on those tables, not computation.
//!
//! # Determinism
//! The same [`Config`] gives the same messages on every machine: see
//! [`crate::rng`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use protocol::itch::{
    AddOrderMpidRepr, AddOrderRepr, Header, MarketParticipantPositionRepr, MessageRepr, NoiiRepr,
    OrderCancelRepr, OrderDeleteRepr, OrderExecutedRepr, OrderExecutedWithPriceRepr,
    OrderReplaceRepr, StockDirectoryRepr, StockTradingActionRepr, SystemEventRepr, TradeRepr,
};
use types::{Price, Symbol};

use crate::behaviour::{self, side_of, FairWalk, Placement, ASK, BID};
use crate::rng::{AliasTable, Rng};

const SECOND: u64 = 1_000_000_000;
const MINUTE: u64 = 60 * SECOND;
const HOUR: u64 = 60 * MINUTE;

/// `S O`: start of messages.
pub const START_OF_MESSAGES: u64 = 3 * HOUR + 5 * MINUTE;
/// `S S`: start of system hours; the body of the day starts here.
pub const START_OF_SYSTEM_HOURS: u64 = 4 * HOUR;
/// `S Q`: start of market hours.
pub const MARKET_OPEN: u64 = 9 * HOUR + 30 * MINUTE;
/// `S M`: end of market hours.
pub const MARKET_CLOSE: u64 = 16 * HOUR;
/// `S E`: end of system hours; the body of the day ends here.
pub const END_OF_SYSTEM_HOURS: u64 = 20 * HOUR;
/// `S C`: end of messages.
pub const END_OF_MESSAGES: u64 = 20 * HOUR + 5 * MINUTE;

/// Opening and closing cross windows, where NOII (`I`) messages are sent.
const NOII_WINDOWS: [(u64, u64); 2] = [
    (9 * HOUR + 25 * MINUTE, MARKET_OPEN),
    (15 * HOUR + 50 * MINUTE, MARKET_CLOSE),
];

/// Target shares of the whole day, in parts per million.
pub mod mix {
    pub const ADD: u32 = 440_000;
    pub const DELETE: u32 = 430_000;
    pub const REPLACE: u32 = 74_000;
    pub const EXECUTED: u32 = 22_000;
    pub const CANCEL: u32 = 13_000;
    pub const NOII: u32 = 10_000;
    pub const ADD_MPID: u32 = 5_000;
    pub const TRADE: u32 = 4_000;
    pub const PARTICIPANT: u32 = 500;
    pub const EXECUTED_WITH_PRICE: u32 = 400;

    /// (type byte, target ppm) for reports and tests.
    pub const TARGETS: [(u8, u32); 10] = [
        (b'A', ADD),
        (b'D', DELETE),
        (b'U', REPLACE),
        (b'E', EXECUTED),
        (b'X', CANCEL),
        (b'I', NOII),
        (b'F', ADD_MPID),
        (b'P', TRADE),
        (b'L', PARTICIPANT),
        (b'C', EXECUTED_WITH_PRICE),
    ];
}

/// Generator parameters. Equal configs give byte-identical days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub seed: u64,
    /// Stock locates 1..=symbols.
    pub symbols: u16,
    /// Total messages of the day, system events and directory included.
    pub messages: u64,
    /// Live orders the day's population peaks at.
    pub peak_live: u64,
    /// Scale of every fair price's volatility, in percent of the model's
    /// (daily σ 1–3% of the price, two jumps a day): 100 is a normal day,
    /// 0 a quiet one whose fair prices stand still (no walk, no jumps), so
    /// quotes move only as the book's own churn moves them.
    pub volatility_percent: u32,
    /// A trend: every fair price drifts this many basis points of its
    /// opening price over the day (negative: down), spread over the day
    /// like the messages are.
    pub drift_bp: i32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            symbols: 8_800,
            messages: 10_000_000,
            peak_live: 1_600_000,
            volatility_percent: 100,
            drift_bp: 0,
        }
    }
}

/// Why a [`Config`] cannot produce a day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    NoSymbols,
    /// Fewer messages than the fixed schedule needs (plus a minimal body).
    TooFewMessages {
        needed: u64,
    },
    /// The peak needs more adds than the day can carry while keeping the mix
    /// (roughly `messages ≥ 5 × peak_live`).
    PeakUnreachable {
        max_peak: u64,
    },
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::NoSymbols => write!(f, "at least one symbol is needed"),
            ConfigError::TooFewMessages { needed } => {
                write!(f, "too few messages: this schedule needs at least {needed}")
            }
            ConfigError::PeakUnreachable { max_peak } => write!(
                f,
                "peak live orders unreachable with this many messages (at most {max_peak})"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// What the model intends for one symbol's quotes (price4 integers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteModel {
    /// Tick size.
    pub tick: u32,
    /// The spread the model steers towards, in ticks.
    pub target_spread_ticks: u32,
    /// [bid, ask] touch: no live bid above `touch[0]`, no live ask below
    /// `touch[1]`.
    pub touch: [u32; 2],
    /// [bid, ask] the latent fair price asks for: the touches follow it.
    pub wanted: [u32; 2],
}

/// One generated message with its timestamp (also inside the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimedMessage {
    pub timestamp: u64,
    pub message: MessageRepr,
}

/// What the generator has produced so far.
#[derive(Debug, Clone)]
pub struct Stats {
    /// Messages by type byte.
    pub per_type: [u64; 256],
    pub messages: u64,
    pub live_orders: u64,
    pub peak_live_orders: u64,
    /// 1-based index of the message at which the peak was first reached.
    pub peak_at_message: u64,
    /// Bytes in the NASDAQ file format (2-byte prefix included).
    pub framed_bytes: u64,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            per_type: [0; 256],
            messages: 0,
            live_orders: 0,
            peak_live_orders: 0,
            peak_at_message: 0,
            framed_bytes: 0,
        }
    }
}

// ----- hashing for the level-count map ------------------------------------

/// Multiply-rotate hasher for integer keys (the std SipHash is 3–4× slower
/// and DoS resistance is irrelevant for our own keys).
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

// ----- instruments and orders -----------------------------------------------

const PENNY: u32 = 100;
const DOLLAR: u32 = 10_000;
const MAX_PRICE: u32 = 2_000_000_000;

#[derive(Debug)]
struct Instrument {
    symbol: Symbol,
    tick: u32,
    min_px: u32,
    max_px: u32,
    /// [bid touch, ask touch]: bids ≤ touch[BID] < touch[ASK] ≤ asks.
    touch: [u32; 2],
    target_spread_ticks: u32,
    /// Behind-the-touch range of the deep tail, in ticks.
    deep_ticks: u32,
    /// Depth multiplier: sub-dollar stocks quote in $0.0001 ticks and
    /// high-priced stocks in cents that are tiny steps for them; both spread
    /// their books over many more price points.
    depth_scale: u32,
    /// Share of all live orders this symbol tends to hold (see `Generator::delete_locate`).
    resting_share: f64,
    /// Latent fair price: where the model wants the bid, in ticks (a
    /// random walk; the ask is wanted `target_spread_ticks` above it).
    walk: FairWalk,
    /// Time `walk` was last moved to.
    fair_at: u64,
    /// ITCH trading state byte.
    state: u8,
    /// Side that executions currently hit (flips now and then).
    momentum: usize,
    /// Slab indices of live orders per side.
    live: [Vec<u32>; 2],
}

#[derive(Debug, Clone, Copy)]
struct LiveOrder {
    order_ref: u64,
    price: u32,
    shares: u32,
    locate: u16,
    side: u8,
    pos_side: u32,
    /// Neighbours in its price level's FIFO (slab indices, `NIL` at the ends).
    prev: u32,
    next: u32,
}

const NIL: u32 = u32::MAX;

const EMPTY_ORDER: LiveOrder = LiveOrder {
    order_ref: 0,
    price: 0,
    shares: 0,
    locate: 0,
    side: 0,
    pos_side: 0,
    prev: NIL,
    next: NIL,
};

/// One price level of one symbol side: its orders in arrival order.
#[derive(Debug, Clone, Copy)]
struct LevelQueue {
    count: u32,
    head: u32,
    tail: u32,
}

/// Price levels looked at, tick by tick, to find the next live level when a
/// touch level empties.
const TOUCH_SCAN: u32 = 64;

#[derive(Debug, Clone, Copy)]
enum Scheduled {
    System(u8),
    Action {
        locate: u16,
        state: u8,
        reason: [u8; 4],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    StartOfMessages,
    Directory(u16),
    Actions(u16),
    SystemStart,
    Body,
    SystemEnd,
    EndOfMessages,
    Done,
}

// ----- time -------------------------------------------------------------------

/// Message times: a per-second intensity profile turned into a CDF, walked by
/// quantile, plus micro-bursts.
#[derive(Debug)]
struct Clock {
    cdf: Vec<f64>,
    bucket: usize,
    total: u64,
    last: u64,
    burst_left: u32,
    /// Spacing range of the current burst, ns.
    burst_gap: (u64, u64),
}

fn intensity(t: u64) -> f64 {
    let s = |ns: u64| ns as f64 / SECOND as f64;
    if t < NOII_WINDOWS[0].0 {
        0.05
    } else if t < MARKET_OPEN {
        0.3
    } else if t < MARKET_CLOSE {
        let since_open = s(t - MARKET_OPEN);
        let to_close = s(MARKET_CLOSE - t);
        let half = s(MARKET_CLOSE - MARKET_OPEN) / 2.0;
        let u = (since_open - half) / half;
        let open_burst = 1.0 + since_open / 120.0;
        let close_burst = 1.0 + to_close / 300.0;
        0.7 + 0.6 * u * u + 5.0 / (open_burst * open_burst) + 3.0 / (close_burst * close_burst)
    } else if t < MARKET_CLOSE + 5 * MINUTE {
        0.5
    } else {
        0.04
    }
}

impl Clock {
    fn new(total: u64) -> Clock {
        let seconds = ((END_OF_SYSTEM_HOURS - START_OF_SYSTEM_HOURS) / SECOND) as usize;
        let mut cdf = Vec::with_capacity(seconds + 1);
        let mut acc = 0.0;
        cdf.push(0.0);
        for i in 0..seconds {
            acc += intensity(START_OF_SYSTEM_HOURS + i as u64 * SECOND);
            cdf.push(acc);
        }
        for v in &mut cdf {
            *v /= acc;
        }
        Clock {
            cdf,
            bucket: 0,
            total: total.max(1),
            last: START_OF_SYSTEM_HOURS,
            burst_left: 0,
            burst_gap: (20, 500),
        }
    }

    /// Share of body messages between two times.
    fn share_between(&self, from: u64, to: u64) -> f64 {
        let at = |t: u64| {
            let i = ((t.saturating_sub(START_OF_SYSTEM_HOURS)) / SECOND) as usize;
            self.cdf[i.min(self.cdf.len() - 1)]
        };
        at(to) - at(from)
    }

    /// Time of body message `index` (0-based); returns (time, in a burst).
    fn next(&mut self, index: u64, rng: &mut Rng) -> (u64, bool) {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            self.last += rng.range(self.burst_gap.0, self.burst_gap.1);
            return (self.last, true);
        }
        let q = (index as f64 + 0.5) / self.total as f64;
        while self.bucket + 2 < self.cdf.len() && self.cdf[self.bucket + 1] < q {
            self.bucket += 1;
        }
        let lo = self.cdf[self.bucket];
        let hi = self.cdf[self.bucket + 1];
        let frac = if hi > lo { (q - lo) / (hi - lo) } else { 0.0 };
        let base = START_OF_SYSTEM_HOURS
            + self.bucket as u64 * SECOND
            + (frac.clamp(0.0, 1.0) * SECOND as f64) as u64;
        self.last = base.max(self.last + 1);
        // Two kinds of burst on top of the profile: micro-bursts of 1–4
        // messages 20–500 ns apart (with the profile's own spacing this puts
        // ~1% of a 300 M-message day within 300 ns of its predecessor), and
        // rarer surges of 50–500 messages at 0.5–1 M msg/s.
        let r = rng.below(1 << 16);
        if r < 512 {
            self.burst_left = rng.range(1, 4) as u32;
            self.burst_gap = (20, 500);
        } else if r < 515 {
            self.burst_left = rng.range(50, 500) as u32;
            self.burst_gap = (1_000, 2_000);
        }
        (self.last, false)
    }
}

// ----- the generator -----------------------------------------------------------

/// Market participant IDs used in `F` and `L` messages.
const MPIDS: [[u8; 4]; 8] = [
    *b"GSCO", *b"MSCO", *b"CDRG", *b"UBSS", *b"JPMS", *b"VIRT", *b"NITE", *b"SUSQ",
];

/// A deterministic synthetic ITCH day; see the module documentation.
#[derive(Debug)]
pub struct Generator {
    config: Config,
    rng: Rng,
    activity: AliasTable,
    resting: AliasTable,
    /// Probability that the current add is net growth of the live set.
    growth: f64,
    instruments: Vec<Instrument>,
    orders: Vec<LiveOrder>,
    free: Vec<u32>,
    live: usize,
    levels: FastMap<u64, LevelQueue>,
    /// Draws of the fair-price walks (own stream: the walk does not shift
    /// the message draws).
    walk_rng: Rng,
    /// Time of the body message being made.
    now: u64,
    /// The live set is being drained (end-of-day decline): adds keep the
    /// quotes up (at or just behind the touch) while deletes thin the books
    /// from behind.
    draining: bool,
    next_ref: u64,
    next_match: u64,
    phase: Phase,
    clock: Clock,
    body_total: u64,
    body_done: u64,
    schedule: Vec<(u64, Scheduled)>,
    schedule_next: usize,
    noii_chance: f64,
    sticky: Option<u16>,
    ramp_end: f64,
    decline_start: f64,
    plateau: f64,
    end_live: f64,
    horizon: f64,
    stats: Stats,
}

/// Messages outside the body: S O, R and H per locate, S S, S E, S C.
fn fixed_messages(symbols: u16) -> u64 {
    4 + 2 * u64::from(symbols)
}

fn halt_count(symbols: u16) -> u16 {
    (symbols / 1500).clamp(1, 6)
}

fn symbol_name(index: u32, count: u32) -> Symbol {
    // Evenly spread over four-letter names so locates are in alphabetical
    // order, as NASDAQ assigns them.
    let space = 26u64.pow(4);
    let mut v = u64::from(index) * space / u64::from(count.max(1));
    let mut name = [b' '; 8];
    for i in (0..4).rev() {
        name[i] = b'A' + (v % 26) as u8;
        v /= 26;
    }
    Symbol(name)
}

fn key(locate: u16, side: usize, price: u32) -> u64 {
    (u64::from(locate) << 33) | ((side as u64) << 32) | u64::from(price)
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

impl Generator {
    pub fn new(config: Config) -> Result<Generator, ConfigError> {
        if config.symbols == 0 {
            return Err(ConfigError::NoSymbols);
        }
        let halts = halt_count(config.symbols);
        let scheduled = 2 + 3 * u64::from(halts);
        let needed = fixed_messages(config.symbols) + scheduled + 1_000;
        if config.messages < needed {
            return Err(ConfigError::TooFewMessages { needed });
        }
        let body_total = config.messages - fixed_messages(config.symbols);
        let n = body_total as f64;
        let peak = config.peak_live as f64;
        // Net growth is at most ~0.7 orders per message; smoothstep's slope
        // peaks at 1.5, so the ramp needs 1.5 × peak / 0.7 messages.
        let ramp = (2.2 * peak / n).max(0.25);
        if ramp > 0.45 {
            return Err(ConfigError::PeakUnreachable {
                max_peak: (0.45 * n / 2.2) as u64,
            });
        }
        let end_live = (0.004 * n).min(peak);
        let decline = (2.2 * (peak - end_live) / n).max(0.12);

        let mut root = Rng::new(config.seed);
        let mut setup = root.fork(1);
        let rng = root.fork(2);
        let walk_rng = root.fork(3);
        let mut vol_rng = root.fork(4);

        let count = u32::from(config.symbols);
        // Activity ranks: a seeded permutation of the locates.
        let mut ranks: Vec<u32> = (0..count).collect();
        for i in (1..ranks.len()).rev() {
            let j = setup.below(i as u64 + 1) as usize;
            ranks.swap(i, j);
        }
        let weights: Vec<f64> = ranks.iter().map(|&r| 1.0 / (f64::from(r) + 5.0)).collect();
        let activity = AliasTable::new(&weights);
        // Resting orders are spread far more evenly than messages: an active
        // symbol's orders die young. Weight 1/sqrt(rank+5) puts ~0.2% of the
        // live orders (~3,500 at 1.6 M) on the largest book, as on a real day.
        let resting: Vec<f64> = ranks
            .iter()
            .map(|&r| 1.0 / (f64::from(r) + 5.0).sqrt())
            .collect();
        let resting_total: f64 = resting.iter().sum();
        let resting_table = AliasTable::new(&resting);

        let mut instruments = Vec::with_capacity(count as usize);
        for (i, &rank) in ranks.iter().enumerate() {
            let band = setup.below(100);
            let dollars_x100 = match band {
                0..=4 => setup.range(5, 99),
                5..=34 => setup.range(100, 999),
                35..=79 => setup.range(1_000, 9_999),
                80..=96 => setup.range(10_000, 49_999),
                _ => setup.range(50_000, 300_000),
            };
            let price = (dollars_x100 * 100) as u32;
            let (tick, min_px, max_px) = if price < DOLLAR {
                (1, 1, DOLLAR - 1)
            } else {
                (PENNY, DOLLAR, MAX_PRICE)
            };
            let percentile = u64::from(rank) * 100 / u64::from(count);
            let target_spread_ticks = if tick == 1 {
                setup.range(10, 60) as u32
            } else if percentile < 10 {
                1
            } else if percentile < 50 {
                setup.range(1, 3) as u32
            } else {
                setup.range(2, 10) as u32
            };
            // High-priced names quote at least about a basis point wide: a
            // cent is too fine a step for a $500 stock's book to keep up with
            // its price.
            let target_spread_ticks = target_spread_ticks.max(price / (10_000 * tick));
            let bid = (price / tick * tick).clamp(min_px, max_px - tick * target_spread_ticks);
            let ask = bid + tick * target_spread_ticks;
            // Daily volatility 1–3% of the price (variance in ticks²),
            // scaled by the configured volatility.
            let sigma_ticks = f64::from(price) / f64::from(tick) * vol_rng.range(10, 30) as f64
                / 1e3
                * f64::from(config.volatility_percent)
                / 100.0;
            instruments.push(Instrument {
                symbol: symbol_name(i as u32, count),
                tick,
                min_px,
                max_px,
                touch: [bid, ask],
                target_spread_ticks,
                deep_ticks: setup.range(50, 200) as u32,
                resting_share: resting[i] / resting_total,
                depth_scale: if tick == 1 {
                    setup.range(10, 50) as u32
                } else if price >= 500 * DOLLAR {
                    // High-priced names rest orders over many cents too.
                    setup.range(5, 20) as u32
                } else {
                    1
                },
                walk: FairWalk::new(
                    f64::from(bid / tick),
                    sigma_ticks,
                    f64::from(price) / f64::from(tick) * f64::from(config.drift_bp) / 10_000.0,
                ),
                fair_at: START_OF_SYSTEM_HOURS,
                state: b'T',
                momentum: setup.below(2) as usize,
                live: [Vec::new(), Vec::new()],
            });
        }

        let mut schedule = vec![
            (MARKET_OPEN, Scheduled::System(b'Q')),
            (MARKET_CLOSE, Scheduled::System(b'M')),
        ];
        for _ in 0..halts {
            let locate = setup.range(1, u64::from(config.symbols)) as u16;
            let at = 10 * HOUR + setup.below(5 * HOUR + 30 * MINUTE);
            schedule.push((
                at,
                Scheduled::Action {
                    locate,
                    state: b'H',
                    reason: *b"LUDP",
                },
            ));
            schedule.push((
                at + 4 * MINUTE,
                Scheduled::Action {
                    locate,
                    state: b'Q',
                    reason: *b"LUDP",
                },
            ));
            schedule.push((
                at + 5 * MINUTE,
                Scheduled::Action {
                    locate,
                    state: b'T',
                    reason: *b"    ",
                },
            ));
        }
        // Stable sort keeps each halt's own order for equal times.
        schedule.sort_by_key(|(t, _)| *t);

        let clock = Clock::new(body_total);
        let window_share: f64 = NOII_WINDOWS
            .iter()
            .map(|&(a, b)| clock.share_between(a, b))
            .sum();
        let noii_chance = if window_share > 0.0 {
            (f64::from(mix::NOII) / 1e6 / window_share).min(0.5)
        } else {
            0.0
        };

        Ok(Generator {
            config,
            rng,
            activity,
            resting: resting_table,
            growth: 0.0,
            instruments,
            orders: Vec::with_capacity((config.peak_live as usize).min(1 << 26) + 1024),
            free: Vec::new(),
            live: 0,
            levels: FastMap::default(),
            walk_rng,
            now: START_OF_SYSTEM_HOURS,
            draining: false,
            next_ref: 1,
            next_match: 1,
            phase: Phase::StartOfMessages,
            clock,
            body_total,
            body_done: 0,
            schedule,
            schedule_next: 0,
            noii_chance,
            sticky: None,
            ramp_end: ramp,
            decline_start: 1.0 - decline,
            // Aim slightly above the peak: the controller lags its target.
            plateau: peak * 1.01 + 16.0,
            end_live,
            horizon: (n / 5_000.0).max(256.0),
            stats: Stats::default(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Live orders right now.
    pub fn live_orders(&self) -> usize {
        self.live
    }

    /// The model's quoting state of a locate (1-based), if it exists: for
    /// tools and tests that compare the book the messages build with what
    /// the model intended.
    pub fn quote_model(&self, locate: u16) -> Option<QuoteModel> {
        let i = usize::from(locate).checked_sub(1)?;
        self.instruments.get(i).map(|s| QuoteModel {
            tick: s.tick,
            target_spread_ticks: s.target_spread_ticks,
            touch: s.touch,
            wanted: [self.wanted(locate, BID), self.wanted(locate, ASK)],
        })
    }

    /// The symbol of a locate (1-based), if it exists.
    pub fn symbol(&self, locate: u16) -> Option<Symbol> {
        let i = usize::from(locate).checked_sub(1)?;
        self.instruments.get(i).map(|s| s.symbol)
    }

    fn target_live(&self, x: f64) -> f64 {
        if x < self.ramp_end {
            self.plateau * smoothstep(x / self.ramp_end)
        } else if x < self.decline_start {
            self.plateau
        } else {
            let y = (x - self.decline_start) / (1.0 - self.decline_start);
            self.plateau + (self.end_live - self.plateau) * smoothstep(y)
        }
    }

    fn header(locate: u16, timestamp: u64) -> Header {
        Header {
            stock_locate: locate,
            tracking_number: 0,
            timestamp,
        }
    }

    fn instrument(&self, locate: u16) -> &Instrument {
        &self.instruments[usize::from(locate) - 1]
    }

    fn instrument_mut(&mut self, locate: u16) -> &mut Instrument {
        &mut self.instruments[usize::from(locate) - 1]
    }

    fn pick_locate(&mut self, in_burst: bool) -> u16 {
        if let Some(l) = self.sticky {
            if in_burst && self.rng.chance(1, 2) {
                return l;
            }
        }
        let l = self.activity.sample(&mut self.rng) as u16 + 1;
        self.sticky = Some(l);
        l
    }

    // ----- the live-order set -----

    fn insert_order(&mut self, locate: u16, side: usize, price: u32, shares: u32) -> u64 {
        let order_ref = self.next_ref;
        self.next_ref += 1;
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                self.orders.push(EMPTY_ORDER);
                (self.orders.len() - 1) as u32
            }
        };
        self.live += 1;
        let inst = &mut self.instruments[usize::from(locate) - 1];
        let pos_side = inst.live[side].len() as u32;
        inst.live[side].push(slot);
        // Join the back of the level's FIFO.
        let level = self
            .levels
            .entry(key(locate, side, price))
            .or_insert(LevelQueue {
                count: 0,
                head: NIL,
                tail: NIL,
            });
        let prev = level.tail;
        level.count += 1;
        level.tail = slot;
        if prev == NIL {
            level.head = slot;
        } else {
            self.orders[prev as usize].next = slot;
        }
        self.orders[slot as usize] = LiveOrder {
            order_ref,
            price,
            shares,
            locate,
            side: side as u8,
            pos_side,
            prev,
            next: NIL,
        };
        let live = self.live as u64;
        if live > self.stats.peak_live_orders {
            self.stats.peak_live_orders = live;
            self.stats.peak_at_message = self.stats.messages + 1;
        }
        order_ref
    }

    fn remove_order(&mut self, slot: u32) -> LiveOrder {
        let order = self.orders[slot as usize];
        self.live -= 1;
        let side = usize::from(order.side);
        let inst = &mut self.instruments[usize::from(order.locate) - 1];
        let last = inst.live[side].pop().unwrap_or(slot);
        if last != slot {
            inst.live[side][order.pos_side as usize] = last;
            self.orders[last as usize].pos_side = order.pos_side;
        }
        self.free.push(slot);
        if order.prev != NIL {
            self.orders[order.prev as usize].next = order.next;
        }
        if order.next != NIL {
            self.orders[order.next as usize].prev = order.prev;
        }
        self.leave_level(slot, order, side);
        order
    }

    /// One order left its price level: forget an empty level; an emptied
    /// touch moves to the next live level (see [`Generator::reseat_touch`]).
    fn leave_level(&mut self, slot: u32, order: LiveOrder, side: usize) {
        let k = key(order.locate, side, order.price);
        let emptied = match self.levels.get_mut(&k) {
            Some(l) if l.count > 1 => {
                l.count -= 1;
                if l.head == slot {
                    l.head = order.next;
                }
                if l.tail == slot {
                    l.tail = order.prev;
                }
                false
            }
            _ => {
                self.levels.remove(&k);
                true
            }
        };
        if emptied && self.instrument(order.locate).touch[side] == order.price {
            self.reseat_touch(order.locate, side);
        }
    }

    /// The touch of `side` lost its level: it moves outward to the next live
    /// level within [`TOUCH_SCAN`] ticks, so the touch is the real best
    /// price. A side whose next level is farther moves its bound by the
    /// scanned (empty) range; the scan goes on the next time the touch level
    /// is wanted ([`Generator::at_touch`]), so the bound catches up with the
    /// real best in bounded steps. A side with no orders left takes its
    /// wanted price (see [`Generator::wanted`]).
    fn reseat_touch(&mut self, locate: u16, side: usize) {
        let inst = self.instrument(locate);
        let tick = inst.tick;
        if inst.live[side].is_empty() {
            let want = self.wanted(locate, side);
            let inst = self.instrument_mut(locate);
            inst.touch[side] = if side == BID {
                want.min(inst.touch[ASK] - tick)
            } else {
                want.max(inst.touch[BID] + tick)
            };
            return;
        }
        let mut price = inst.touch[side];
        for _ in 0..TOUCH_SCAN {
            let next = if side == BID {
                match price.checked_sub(tick) {
                    Some(p) if p >= inst.min_px => p,
                    _ => return,
                }
            } else {
                match price.checked_add(tick) {
                    Some(p) if p <= inst.max_px => p,
                    _ => return,
                }
            };
            price = next;
            if self.levels.contains_key(&key(locate, side, price)) {
                break;
            }
        }
        // Found, or the whole scanned range is empty: a valid bound that
        // the next look (see `at_touch`) scans on from.
        self.instrument_mut(locate).touch[side] = price;
    }

    /// The price the model wants for `side`'s best quote now: the fair
    /// price (bid) or the fair price plus the target spread (ask), on the
    /// grid and within the symbol's range.
    fn wanted(&self, locate: u16, side: usize) -> u32 {
        let inst = self.instrument(locate);
        let bid = inst.walk.bid_ticks().saturating_mul(inst.tick);
        if side == BID {
            bid.clamp(inst.min_px, inst.max_px)
        } else {
            bid.saturating_add(inst.tick * inst.target_spread_ticks)
                .clamp(inst.min_px, inst.max_px)
        }
    }

    /// Moves the fair price of `locate` to time `ts`: a random walk whose
    /// variance follows the message intensity (the day's variance spread
    /// over the day like its messages), plus rare jumps. Floats here use
    /// only IEEE-exact operations (+, ×, √, floor), so every machine walks
    /// the same path.
    fn walk(&mut self, locate: u16, ts: u64) {
        let inst = self.instrument(locate);
        if ts <= inst.fair_at {
            return;
        }
        let share = self.clock.share_between(inst.fair_at, ts).max(0.0);
        let inst = &mut self.instruments[usize::from(locate) - 1];
        inst.fair_at = ts;
        let lo = f64::from(inst.min_px / inst.tick);
        let hi = f64::from(inst.max_px / inst.tick - inst.target_spread_ticks);
        inst.walk.advance(share, lo, hi, &mut self.walk_rng);
    }

    /// A side whose touch is on the wrong side of the fair price (a bid at
    /// or above the fair mid, an ask at or below it): its touch orders are
    /// what trades and cancels take next, so the book follows the walk.
    fn stale_side(&self, locate: u16) -> Option<usize> {
        let inst = self.instrument(locate);
        behaviour::stale_side(
            inst.touch,
            [self.wanted(locate, BID), self.wanted(locate, ASK)],
            inst.tick * inst.target_spread_ticks,
            [!inst.live[BID].is_empty(), !inst.live[ASK].is_empty()],
        )
    }

    /// An order at `side`'s touch level: the oldest (`front`) or the newest.
    fn at_touch(&mut self, locate: u16, side: usize, front: bool) -> Option<u32> {
        let price = self.instrument(locate).touch[side];
        if !self.levels.contains_key(&key(locate, side, price)) {
            self.reseat_touch(locate, side);
        }
        let price = self.instrument(locate).touch[side];
        let level = self.levels.get(&key(locate, side, price))?;
        Some(if front { level.head } else { level.tail })
    }

    /// A price for a new order on `side`; may improve (move) the touch.
    fn new_price(&mut self, locate: u16, side: usize) -> u32 {
        self.walk(locate, self.now);
        let placement = Placement::draw(&mut self.rng, self.draining);
        let improve = self.rng.chance(1, 2);
        let want = self.wanted(locate, side);
        let inst = &self.instruments[usize::from(locate) - 1];
        let tick = inst.tick;
        // The touch lags the fair price: half the adds close the gap,
        // landing anywhere between the touch (exclusive) and the wanted
        // price, never crossing the other side.
        let behind = if side == BID {
            inst.touch[BID] < want
        } else {
            inst.touch[ASK] > want
        };
        if behind && improve {
            let (lo, hi) = if side == BID {
                (inst.touch[BID] + tick, want.min(inst.touch[ASK] - tick))
            } else {
                (want.max(inst.touch[BID] + tick), inst.touch[ASK] - tick)
            };
            if lo <= hi {
                let steps = (hi - lo) / tick;
                let k = self.rng.range(0, u64::from(steps)) as u32;
                let price = if side == BID {
                    hi - k * tick
                } else {
                    lo + k * tick
                };
                self.instrument_mut(locate).touch[side] = price;
                return price;
            }
        }
        let depth = u64::from(inst.depth_scale) * placement.ticks(inst.deep_ticks);
        let depth = depth.min(u64::from(u32::MAX)) as u32;
        let offset = depth.saturating_mul(tick);
        // Queue behind the touch, or behind the wanted price when the touch
        // is stale (so stale levels only drain).
        if side == BID {
            inst.touch[BID]
                .min(want)
                .saturating_sub(offset)
                .max(inst.min_px)
        } else {
            inst.touch[ASK]
                .max(want)
                .saturating_add(offset)
                .min(inst.max_px)
        }
    }

    /// A live order of `locate` to cancel, delete or replace. A stale touch
    /// (see [`Generator::stale_side`]) is drained first (3 in 4). Otherwise
    /// on `side` if it has orders (else the other): 30% one of the four
    /// newest (fleeting quotes), 20% the newest at the touch, 20% the best
    /// priced of three samples (quotes at the touch are the ones cancelled
    /// and moved most), 30% any. With `deep` (the end-of-day decline) the
    /// worst priced of three samples: expiring day orders thin the book from
    /// behind, not at the quote. Falls back to another symbol's order.
    fn pick_order(&mut self, locate: u16, side: usize, deep: bool) -> Option<u32> {
        self.walk(locate, self.now);
        if !deep {
            if let Some(stale) = self.stale_side(locate) {
                if self.rng.chance(3, 4) {
                    if let Some(slot) = self.at_touch(locate, stale, false) {
                        return Some(slot);
                    }
                }
            }
        }
        // Someone keeps quoting: the last few orders of a side are not
        // cancelled while the other side has more (and the decline thins
        // the fuller side).
        let inst = self.instrument(locate);
        let (mine, other) = (inst.live[side].len(), inst.live[1 - side].len());
        let side = if (deep || mine < 4) && other > mine {
            1 - side
        } else {
            side
        };
        let len = inst.live[side].len() as u64;
        if len == 0 {
            return self.any_order(side);
        }
        if deep {
            return self.best_of(locate, side, 3, false);
        }
        match self.rng.below(10) {
            0..=2 => {
                let idx = len - 1 - self.rng.below(len.min(4));
                Some(self.instrument(locate).live[side][idx as usize])
            }
            3..=4 => match self.at_touch(locate, side, false) {
                Some(slot) => Some(slot),
                None => self.best_of(locate, side, 3, true),
            },
            5..=6 => self.best_of(locate, side, 3, true),
            _ => {
                let idx = self.rng.below(len);
                Some(self.instrument(locate).live[side][idx as usize])
            }
        }
    }

    /// The best-priced (or, without `best`, worst-priced) of `samples`
    /// random orders of one side.
    fn best_of(&mut self, locate: u16, side: usize, samples: u32, best: bool) -> Option<u32> {
        let len = self.instrument(locate).live[side].len() as u64;
        if len == 0 {
            return None;
        }
        let mut pick: Option<u32> = None;
        for _ in 0..samples {
            let idx = self.rng.below(len) as usize;
            let slot = self.instrument(locate).live[side][idx];
            let price = self.orders[slot as usize].price;
            pick = match pick {
                Some(b) => {
                    let bp = self.orders[b as usize].price;
                    let better = if side == BID { price > bp } else { price < bp };
                    Some(if better == best { slot } else { b })
                }
                None => Some(slot),
            };
        }
        pick
    }

    /// An order to execute: the oldest order at a stale touch (the market
    /// trading through a quote the fair price has left), else at the touch
    /// of the momentum side (3 in 4; the best of four samples otherwise).
    fn pick_execution(&mut self, locate: u16) -> Option<u32> {
        self.walk(locate, self.now);
        if let Some(stale) = self.stale_side(locate) {
            if let Some(slot) = self.at_touch(locate, stale, true) {
                return Some(slot);
            }
        }
        if self.rng.chance(1, 8) {
            let inst = self.instrument_mut(locate);
            inst.momentum = 1 - inst.momentum;
        }
        let inst = self.instrument(locate);
        let side = if inst.live[inst.momentum].is_empty() {
            1 - inst.momentum
        } else {
            inst.momentum
        };
        if self.rng.chance(3, 4) {
            if let Some(slot) = self.at_touch(locate, side, true) {
                return Some(slot);
            }
        }
        self.best_of(locate, side, 4, true)
    }

    /// An order to execute: in `locate` if it trades and has orders, else in
    /// a few more activity draws (executions are rare enough that skipping
    /// them for empty or halted symbols would visibly lower their share).
    fn executable(&mut self, locate: u16) -> Option<u32> {
        for attempt in 0..8 {
            let l = if attempt == 0 {
                locate
            } else {
                self.activity.sample(&mut self.rng) as u16 + 1
            };
            if self.instrument(l).state == b'T' {
                if let Some(slot) = self.pick_execution(l) {
                    return Some(slot);
                }
            }
        }
        None
    }

    /// Where a delete lands: a symbol drawn by activity (by resting weight
    /// for the decline's deletes, `by_resting`), accepted with
    /// probability (its live orders / its resting share of all live orders),
    /// else redrawn (up to 4 times). Symbols below their share lose fewer
    /// orders and fill up; the deletes they refuse fall on the busy symbols
    /// above theirs. This keeps each symbol's resting book near its share
    /// (flatter than activity) while deletes stay as skewed as adds.
    fn delete_locate(&mut self, first: u16, by_resting: bool) -> u16 {
        let mut locate = first;
        for _ in 0..4 {
            let inst = self.instrument(locate);
            let have = (inst.live[BID].len() + inst.live[ASK].len()) as f64;
            let want = inst.resting_share * self.live as f64;
            if have >= want || self.rng.unit() * want < have {
                return locate;
            }
            let table = if by_resting {
                &self.resting
            } else {
                &self.activity
            };
            locate = table.sample(&mut self.rng) as u16 + 1;
        }
        locate
    }

    /// An order of another symbol, for when the drawn one has none: a few
    /// more activity draws (live orders follow activity, so this succeeds
    /// unless the whole book is nearly empty).
    fn any_order(&mut self, side: usize) -> Option<u32> {
        for _ in 0..8 {
            let locate = self.activity.sample(&mut self.rng) as u16 + 1;
            let inst = self.instrument(locate);
            for s in [side, 1 - side] {
                let len = inst.live[s].len() as u64;
                if len > 0 {
                    let idx = self.rng.below(len) as usize;
                    return Some(self.instrument(locate).live[s][idx]);
                }
            }
        }
        None
    }

    // ----- message builders -----

    fn add(&mut self, ts: u64, in_burst: bool, mpid: bool) -> MessageRepr {
        // Adds that grow the live set, and a quarter of the others, go where
        // resting orders live rather than where messages are: quiet symbols
        // build the books they hold on a real day, and a compressed day's
        // ramp does not pile the whole population onto the busiest names.
        let resting = self.growth > 0.0 && self.rng.unit() < self.growth;
        let locate = if resting || self.rng.chance(1, 4) {
            self.resting.sample(&mut self.rng) as u16 + 1
        } else {
            self.pick_locate(in_burst)
        };
        let side = self.rng.below(2) as usize;
        let price = self.new_price(locate, side);
        let shares = behaviour::order_shares(&mut self.rng);
        let order_ref = self.insert_order(locate, side, price, shares);
        let header = Self::header(locate, ts);
        let stock = self.instrument(locate).symbol;
        if mpid {
            let attribution = MPIDS[self.rng.below(MPIDS.len() as u64) as usize];
            AddOrderMpidRepr {
                header,
                order_ref,
                side: side_of(side),
                shares,
                stock,
                price: Price(i64::from(price)),
                attribution,
            }
            .into()
        } else {
            AddOrderRepr {
                header,
                order_ref,
                side: side_of(side),
                shares,
                stock,
                price: Price(i64::from(price)),
            }
            .into()
        }
    }

    fn delete(&mut self, ts: u64, slot: u32) -> MessageRepr {
        let order = self.remove_order(slot);
        OrderDeleteRepr {
            header: Self::header(order.locate, ts),
            order_ref: order.order_ref,
        }
        .into()
    }

    fn cancel(&mut self, ts: u64, slot: u32) -> MessageRepr {
        let order = self.orders[slot as usize];
        if order.shares < 2 {
            return self.delete(ts, slot);
        }
        let cancelled = self.rng.range(1, u64::from(order.shares) - 1) as u32;
        self.orders[slot as usize].shares -= cancelled;
        OrderCancelRepr {
            header: Self::header(order.locate, ts),
            order_ref: order.order_ref,
            cancelled_shares: cancelled,
        }
        .into()
    }

    fn replace(&mut self, ts: u64, slot: u32) -> MessageRepr {
        let old = self.remove_order(slot);
        let side = usize::from(old.side);
        let price = self.new_price(old.locate, side);
        let shares = if self.rng.chance(1, 2) {
            old.shares
        } else {
            behaviour::order_shares(&mut self.rng)
        };
        let new_ref = self.insert_order(old.locate, side, price, shares);
        OrderReplaceRepr {
            header: Self::header(old.locate, ts),
            original_order_ref: old.order_ref,
            new_order_ref: new_ref,
            shares,
            price: Price(i64::from(price)),
        }
        .into()
    }

    fn execute(&mut self, ts: u64, slot: u32, with_price: bool) -> MessageRepr {
        let order = self.orders[slot as usize];
        let full = order.shares < 2 || self.rng.chance(1, 2);
        let executed = if full {
            order.shares
        } else {
            self.rng.range(1, u64::from(order.shares) - 1) as u32
        };
        if full {
            self.remove_order(slot);
        } else {
            self.orders[slot as usize].shares -= executed;
        }
        let match_number = self.next_match;
        self.next_match += 1;
        let header = Self::header(order.locate, ts);
        if with_price {
            let printable = if self.rng.chance(4, 5) { b'Y' } else { b'N' };
            OrderExecutedWithPriceRepr {
                header,
                order_ref: order.order_ref,
                executed_shares: executed,
                match_number,
                printable,
                execution_price: Price(i64::from(order.price)),
            }
            .into()
        } else {
            OrderExecutedRepr {
                header,
                order_ref: order.order_ref,
                executed_shares: executed,
                match_number,
            }
            .into()
        }
    }

    fn hidden_trade(&mut self, ts: u64, locate: u16) -> MessageRepr {
        let inst = self.instrument(locate);
        let price = (inst.touch[BID] / 2 + inst.touch[ASK] / 2).max(1);
        let stock = inst.symbol;
        let side = side_of(self.rng.below(2) as usize);
        let shares = 100 * self.rng.range(1, 5) as u32;
        let match_number = self.next_match;
        self.next_match += 1;
        TradeRepr {
            header: Self::header(locate, ts),
            order_ref: 0,
            side,
            shares,
            stock,
            price: Price(i64::from(price)),
            match_number,
        }
        .into()
    }

    fn noii(&mut self, ts: u64, locate: u16) -> MessageRepr {
        let inst = self.instrument(locate);
        let reference = inst.touch[BID] / 2 + inst.touch[ASK] / 2;
        let tick = inst.tick;
        let stock = inst.symbol;
        let direction = [b'B', b'S', b'N', b'O'][self.rng.below(4) as usize];
        let near = reference.saturating_add(tick * self.rng.below(3) as u32);
        let far = near.saturating_add(tick * self.rng.below(5) as u32);
        NoiiRepr {
            header: Self::header(locate, ts),
            paired_shares: 100 * self.rng.below(10_000),
            imbalance_shares: 100 * self.rng.below(5_000),
            imbalance_direction: direction,
            stock,
            far_price: Price(i64::from(far)),
            near_price: Price(i64::from(near)),
            current_reference_price: Price(i64::from(reference)),
            cross_type: if ts < 12 * HOUR { b'O' } else { b'C' },
            price_variation_indicator: b' ',
        }
        .into()
    }

    fn participant(&mut self, ts: u64, locate: u16) -> MessageRepr {
        let mpid = MPIDS[self.rng.below(MPIDS.len() as u64) as usize];
        let primary = if self.rng.chance(1, 4) { b'Y' } else { b'N' };
        MarketParticipantPositionRepr {
            header: Self::header(locate, ts),
            mpid,
            stock: self.instrument(locate).symbol,
            primary_market_maker: primary,
            market_maker_mode: b'N',
            market_participant_state: b'A',
        }
        .into()
    }

    fn trading_action(&mut self, ts: u64, locate: u16, state: u8, reason: [u8; 4]) -> MessageRepr {
        self.instrument_mut(locate).state = state;
        StockTradingActionRepr {
            header: Self::header(locate, ts),
            stock: self.instrument(locate).symbol,
            trading_state: state,
            reserved: b' ',
            reason,
        }
        .into()
    }

    fn system_event(ts: u64, code: u8) -> MessageRepr {
        SystemEventRepr {
            header: Self::header(0, ts),
            event_code: code,
        }
        .into()
    }

    fn directory(&mut self, ts: u64, locate: u16) -> MessageRepr {
        let category = [b'Q', b'G', b'S', b'N', b'P'][self.rng.below(5) as usize];
        let tier = if self.rng.chance(1, 5) { b'1' } else { b'2' };
        StockDirectoryRepr {
            market_category: category,
            luld_reference_price_tier: tier,
            ..StockDirectoryRepr::common_stock(
                Self::header(locate, ts),
                self.instrument(locate).symbol,
            )
        }
        .into()
    }

    fn body(&mut self) -> (u64, MessageRepr) {
        let index = self.body_done;
        self.body_done += 1;
        let (ts, in_burst) = self.clock.next(index, &mut self.rng);
        self.now = ts;

        if let Some(&(at, what)) = self.schedule.get(self.schedule_next) {
            let body_left = self.body_total - index;
            let sched_left = (self.schedule.len() - self.schedule_next) as u64;
            if at <= ts || body_left <= sched_left {
                self.schedule_next += 1;
                let msg = match what {
                    Scheduled::System(code) => Self::system_event(ts, code),
                    Scheduled::Action {
                        locate,
                        state,
                        reason,
                    } => self.trading_action(ts, locate, state, reason),
                };
                return (ts, msg);
            }
        }

        if self.noii_chance > 0.0
            && NOII_WINDOWS.iter().any(|&(a, b)| ts >= a && ts < b)
            && self.rng.unit() < self.noii_chance
        {
            let locate = self.pick_locate(in_burst);
            return (ts, self.noii(ts, locate));
        }

        // Steer the add/delete split so the live set follows its target.
        let x = index as f64 / self.body_total as f64;
        let gap = self.target_live(x) - self.live as f64;
        let d = (gap / self.horizon).clamp(-0.8, 0.8);
        let adds_and_deletes = f64::from(mix::ADD + mix::ADD_MPID + mix::DELETE);
        let add_w = (adds_and_deletes * (1.0 + d / 0.875) / 2.0) as u64;
        let delete_w = adds_and_deletes as u64 - add_w;
        // Shares of adds that are net growth, and of deletes that are net
        // drain, beyond the churn of matched add/delete pairs.
        self.growth = if d > 0.0 { 2.0 * d / (0.875 + d) } else { 0.0 };
        let drain = if d < 0.0 { -2.0 * d / (0.875 - d) } else { 0.0 };
        self.draining = drain > 0.0;
        let total = adds_and_deletes as u64
            + u64::from(
                mix::REPLACE
                    + mix::EXECUTED
                    + mix::CANCEL
                    + mix::TRADE
                    + mix::PARTICIPANT
                    + mix::EXECUTED_WITH_PRICE,
            );
        let mut u = self.rng.below(total);
        let mpid_share =
            u64::from(mix::ADD_MPID) * add_w / u64::from(mix::ADD + mix::ADD_MPID).max(1);
        if u < add_w {
            let mpid = u < mpid_share;
            return (ts, self.add(ts, in_burst, mpid));
        }
        u -= add_w;
        if self.live == 0 {
            return (ts, self.add(ts, in_burst, false));
        }
        let locate = self.pick_locate(in_burst);
        let trading = self.instrument(locate).state == b'T';
        let msg = if u < delete_w {
            let deep = drain > 0.0 && self.rng.unit() < drain;
            let locate = if deep {
                let first = self.resting.sample(&mut self.rng) as u16 + 1;
                self.delete_locate(first, true)
            } else {
                self.delete_locate(locate, false)
            };
            let side = self.rng.below(2) as usize;
            match self.pick_order(locate, side, deep) {
                Some(slot) => self.delete(ts, slot),
                None => self.add(ts, in_burst, false),
            }
        } else {
            u -= delete_w;
            let kind = if u < u64::from(mix::REPLACE) {
                b'U'
            } else if u < u64::from(mix::REPLACE + mix::EXECUTED) {
                b'E'
            } else if u < u64::from(mix::REPLACE + mix::EXECUTED + mix::CANCEL) {
                b'X'
            } else if u < u64::from(mix::REPLACE + mix::EXECUTED + mix::CANCEL + mix::TRADE) {
                b'P'
            } else if u < u64::from(
                mix::REPLACE + mix::EXECUTED + mix::CANCEL + mix::TRADE + mix::PARTICIPANT,
            ) {
                b'L'
            } else {
                b'C'
            };
            let side = self.rng.below(2) as usize;
            match kind {
                b'U' => match self.pick_order(locate, side, false) {
                    Some(slot) => self.replace(ts, slot),
                    None => self.add(ts, in_burst, false),
                },
                b'X' => match self.pick_order(locate, side, false) {
                    Some(slot) => self.cancel(ts, slot),
                    None => self.add(ts, in_burst, false),
                },
                b'L' => self.participant(ts, locate),
                b'P' if trading => self.hidden_trade(ts, locate),
                b'E' | b'C' => match self.executable(locate) {
                    Some(slot) => self.execute(ts, slot, kind == b'C'),
                    None => self.add(ts, in_burst, false),
                },
                // No executions in a halted or paused symbol; cancels go on.
                _ => match self.pick_order(locate, side, false) {
                    Some(slot) => self.delete(ts, slot),
                    None => self.add(ts, in_burst, false),
                },
            }
        };
        (ts, msg)
    }

    fn step(&mut self) -> Option<(u64, MessageRepr)> {
        let symbols = self.config.symbols;
        let out = match self.phase {
            Phase::StartOfMessages => {
                self.phase = Phase::Directory(1);
                (
                    START_OF_MESSAGES,
                    Self::system_event(START_OF_MESSAGES, b'O'),
                )
            }
            Phase::Directory(locate) => {
                self.phase = if locate < symbols {
                    Phase::Directory(locate + 1)
                } else {
                    Phase::Actions(1)
                };
                let ts = START_OF_MESSAGES + SECOND + u64::from(locate) * 20_000;
                (ts, self.directory(ts, locate))
            }
            Phase::Actions(locate) => {
                self.phase = if locate < symbols {
                    Phase::Actions(locate + 1)
                } else {
                    Phase::SystemStart
                };
                let ts = START_OF_MESSAGES + 10 * MINUTE + u64::from(locate) * 20_000;
                (ts, self.trading_action(ts, locate, b'T', *b"    "))
            }
            Phase::SystemStart => {
                self.phase = Phase::Body;
                (
                    START_OF_SYSTEM_HOURS,
                    Self::system_event(START_OF_SYSTEM_HOURS, b'S'),
                )
            }
            Phase::Body => {
                let out = self.body();
                if self.body_done >= self.body_total {
                    self.phase = Phase::SystemEnd;
                }
                out
            }
            Phase::SystemEnd => {
                self.phase = Phase::EndOfMessages;
                let ts = END_OF_SYSTEM_HOURS.max(self.clock.last + 1);
                (ts, Self::system_event(ts, b'E'))
            }
            Phase::EndOfMessages => {
                self.phase = Phase::Done;
                let ts = END_OF_MESSAGES.max(self.clock.last + 2);
                (ts, Self::system_event(ts, b'C'))
            }
            Phase::Done => return None,
        };
        Some(out)
    }
}

impl Iterator for Generator {
    type Item = TimedMessage;

    fn next(&mut self) -> Option<TimedMessage> {
        let (timestamp, message) = self.step()?;
        self.stats.messages += 1;
        self.stats.per_type[usize::from(message.msg_type())] += 1;
        self.stats.live_orders = self.live as u64;
        self.stats.framed_bytes += 2 + message.len() as u64;
        Some(TimedMessage { timestamp, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(seed: u64) -> Config {
        Config {
            seed,
            symbols: 50,
            messages: 20_000,
            peak_live: 2_000,
            ..Default::default()
        }
    }

    #[test]
    fn produces_exactly_the_configured_count_in_time_order() {
        let g = Generator::new(small(3)).unwrap();
        let mut last = 0;
        let mut n = 0;
        for m in g {
            assert!(m.timestamp >= last, "time went back at {n}");
            assert_eq!(m.message.header().timestamp, m.timestamp);
            last = m.timestamp;
            n += 1;
        }
        assert_eq!(n, 20_000);
    }

    #[test]
    fn schedule_brackets_the_day() {
        let msgs: Vec<TimedMessage> = Generator::new(small(4)).unwrap().collect();
        let codes: Vec<u8> = msgs
            .iter()
            .filter_map(|m| match m.message {
                MessageRepr::SystemEvent(s) => Some(s.event_code),
                _ => None,
            })
            .collect();
        assert_eq!(codes, b"OSQMEC");
        let dirs = msgs.iter().filter(|m| m.message.msg_type() == b'R').count();
        assert_eq!(dirs, 50);
        let halts = msgs
            .iter()
            .filter(|m| {
                matches!(m.message, MessageRepr::StockTradingAction(a) if a.trading_state == b'H')
            })
            .count();
        assert_eq!(halts, usize::from(halt_count(50)));
    }

    #[test]
    fn rejects_impossible_configs() {
        assert_eq!(
            Generator::new(Config {
                symbols: 0,
                ..small(1)
            })
            .err(),
            Some(ConfigError::NoSymbols)
        );
        assert!(matches!(
            Generator::new(Config {
                messages: 10,
                ..small(1)
            }),
            Err(ConfigError::TooFewMessages { .. })
        ));
        assert!(matches!(
            Generator::new(Config {
                peak_live: 19_000,
                ..small(1)
            }),
            Err(ConfigError::PeakUnreachable { .. })
        ));
    }

    #[test]
    fn symbols_are_unique_and_sorted() {
        let names: Vec<Symbol> = (0..8_800).map(|i| symbol_name(i, 8_800)).collect();
        assert!(names.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
