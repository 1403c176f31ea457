//! Host replay / backtest: the appliance's pipeline (book → strategies →
//! risk → OMS) over a recorded ITCH day, against a simulated venue
//! ([`venue`]) that fills our orders from an L3 FIFO queue model on the
//! real book.
//!
//! Time is ITCH time (ns since midnight). The venue sees each message at
//! its timestamp; the pipeline sees it `feed_latency_ns` later; order
//! messages reach the venue `order_latency_ns` after the decision, and
//! execution reports come back after the same latency. Three FIFO queues
//! (feed, orders, reports) are merged by time, so the run is
//! deterministic: same input and config, same orders.
//!
//! Money is fixed-point: price4 × shares in `i128`. Fees: a maker fill
//! earns `maker_rebate` and a taker fill pays `taker_fee`, both price4 per
//! share. Floats appear only in [`Report::sharpe`]: the mean over the
//! standard deviation of per-bucket equity changes (`bucket_ns`, 1 minute
//! by default), annualised by √(buckets per 6.5-hour day × 252 days).
#![deny(unsafe_code)]

pub mod venue;

use std::collections::VecDeque;
use std::fmt::Write as _;

use book::{Book, BookConfig};
use gateway::oms::{ExecReport, Oms, OmsConfig, Outbound};
use pipeline::Pipeline;
use protocol::itch::Message;
use risk::{Capacity, Limits, RiskEngine};
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{DepthView, Nanos, Side, StockLocate, StrategyId, Symbol, VenueId};

pub use venue::{Fill, Venue};

/// The appliance's start-up risk limits ([`pipeline::config::startup_limits`]).
pub fn appliance_limits() -> Limits {
    pipeline::config::startup_limits()
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Config {
    pub locate: StockLocate,
    pub symbol: Symbol,
    pub feed_latency_ns: u64,
    pub order_latency_ns: u64,
    /// price4 per share earned on a maker fill.
    pub maker_rebate: i64,
    /// price4 per share paid on a taker fill.
    pub taker_fee: i64,
    pub mm: MmParams,
    pub limits: Limits,
    pub book: BookConfig,
    /// Strategy timer period (ITCH time).
    pub timer_ns: u64,
    /// PnL sampling interval for the Sharpe ratio and the plots.
    pub bucket_ns: u64,
}

impl Config {
    pub fn new(locate: StockLocate, symbol: Symbol) -> Config {
        Config {
            locate,
            symbol,
            feed_latency_ns: 5_000,
            order_latency_ns: 20_000,
            maker_rebate: 20,
            taker_fee: 30,
            mm: MmParams::default_for_cent_tick(),
            limits: appliance_limits(),
            book: BookConfig::default(),
            timer_ns: 100_000_000,
            bucket_ns: 60_000_000_000,
        }
    }
}

/// One sample of the equity and inventory path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub time: u64,
    /// Total PnL incl. fees, price4·shares.
    pub equity: i128,
    pub position: i64,
}

/// The simulation. Feed it messages with [`Backtest::on_message`], then
/// [`Backtest::finish`].
pub struct Backtest {
    config: Config,
    pipeline: Pipeline<4, 8>,
    venue: Venue,
    venue_book: Book,
    feed_q: VecDeque<(u64, Vec<u8>)>,
    order_q: VecDeque<(u64, Outbound)>,
    report_q: VecDeque<(u64, ExecReport)>,
    reports: Vec<ExecReport>,
    fills: Vec<Fill>,
    sent: Vec<Outbound>,
    now: u64,
    next_timer: u64,
    next_sample: u64,
    pub stats: RunStats,
    /// Cash flow of our fills, price4·shares (sells positive).
    cash: i128,
    fees: i128,
    position: i64,
    last_mid: i64,
    pub order_log: String,
    pub samples: Vec<Sample>,
    pub fill_log: Vec<(u64, Fill)>,
}

/// Counters of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub messages: u64,
    pub malformed: u64,
    pub news: u64,
    pub cancels: u64,
    pub replaces: u64,
    /// Order mass cancel requests (the kill switch's, at a venue that takes them).
    pub mass_cancels: u64,
    pub maker_fills: u64,
    pub taker_fills: u64,
    pub maker_shares: u64,
    pub taker_shares: u64,
    pub bought: u64,
    pub sold: u64,
    pub min_position: i64,
    pub max_position: i64,
}

/// The result of a run.
#[derive(Debug, Clone)]
pub struct Report {
    pub stats: RunStats,
    pub risk_rejects: u64,
    pub position: i64,
    pub realized: i128,
    pub unrealized: i128,
    pub fees: i128,
    pub total: i128,
    pub max_drawdown: i128,
    pub sharpe: f64,
    pub samples: Vec<Sample>,
}

/// Errors building the pipeline from a config.
#[derive(Debug)]
pub struct SetupError(pub &'static str);

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "setup: {}", self.0)
    }
}

impl std::error::Error for SetupError {}

/// price4·shares as dollars with 4 decimals.
pub fn money(v: i128) -> String {
    let sign = if v < 0 { "-" } else { "" };
    let a = v.unsigned_abs();
    format!("{sign}{}.{:04}", a / 10_000, a % 10_000)
}

impl Backtest {
    pub fn new(config: Config) -> Result<Backtest, SetupError> {
        let book = Book::with_capacity(config.book);
        let venue_book = Book::with_capacity(config.book);
        let mut strategies: Engine<4, 8> = Engine::new();
        let mm = MarketMaker::new(StrategyId(1), config.locate, config.symbol, config.mm)
            .map_err(|_| SetupError("market maker parameters"))?;
        strategies
            .add(Hosted::MarketMaker(mm))
            .map_err(|_| SetupError("strategy engine"))?;
        let risk = RiskEngine::new(
            Capacity {
                symbols: usize::from(config.locate) + 1,
                orders: 4_096,
                duplicate_slots: 256,
            },
            config.limits.clone(),
        )
        .map_err(|_| SetupError("risk limits"))?;
        let oms = Oms::new(OmsConfig {
            orders: 4_096,
            symbols: usize::from(config.locate) + 1,
            last_epoch: 0,
        })
        .map_err(|_| SetupError("oms"))?;
        let pipeline = Pipeline::new(book, strategies, risk, oms, VenueId(1));
        Ok(Backtest {
            venue: Venue::new(config.locate),
            config,
            pipeline,
            venue_book,
            feed_q: VecDeque::new(),
            order_q: VecDeque::new(),
            report_q: VecDeque::new(),
            reports: Vec::new(),
            fills: Vec::new(),
            sent: Vec::new(),
            now: 0,
            next_timer: 0,
            next_sample: 0,
            stats: RunStats::default(),
            cash: 0,
            fees: 0,
            position: 0,
            last_mid: 0,
            order_log: String::new(),
            samples: Vec::new(),
            fill_log: Vec::new(),
        })
    }

    pub fn pipeline(&self) -> &Pipeline<4, 8> {
        &self.pipeline
    }

    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    /// One message (bytes without the length prefix).
    pub fn on_message(&mut self, bytes: &[u8]) {
        self.stats.messages += 1;
        let msg = match Message::parse(bytes) {
            Ok(Message::Unknown(_)) | Err(_) => {
                self.stats.malformed += 1;
                return;
            }
            Ok(m) => m,
        };
        let ts = message_time(&msg).max(self.now);
        self.advance(ts);
        self.now = ts;
        self.sample_until(ts);
        // The venue sees the message now, the strategy after the feed latency.
        self.venue
            .on_market(&msg, &self.venue_book, &mut self.reports, &mut self.fills);
        let _ = self.venue_book.apply_itch(&msg, &mut book::NullSink);
        self.venue.after_market(&msg, &self.venue_book);
        self.mark();
        self.collect_venue_output(ts);
        self.feed_q
            .push_back((ts + self.config.feed_latency_ns, bytes.to_vec()));
    }

    /// Drains every queued event and returns the report.
    pub fn finish(mut self) -> Report {
        self.advance(u64::MAX);
        let end = self.now;
        self.sample_until(end);
        self.samples.push(self.sample(end));
        let total = self.equity();
        let realized = self.pipeline.oms.realized_pnl() + self.fees;
        let mut peak = i128::MIN;
        let mut mdd = 0i128;
        for s in &self.samples {
            peak = peak.max(s.equity);
            mdd = mdd.max(peak - s.equity);
        }
        Report {
            stats: self.stats,
            risk_rejects: self.pipeline.stats().risk_rejects,
            position: self.position,
            realized,
            unrealized: total - realized,
            fees: self.fees,
            total,
            max_drawdown: mdd,
            sharpe: sharpe(&self.samples, self.config.bucket_ns),
            samples: self.samples,
        }
    }

    /// Like [`Backtest::finish`] but keeps the order log.
    pub fn finish_with_log(self) -> (Report, String) {
        let log = self.order_log.clone();
        (self.finish(), log)
    }

    fn equity(&self) -> i128 {
        self.cash + i128::from(self.position) * i128::from(self.last_mid) + self.fees
    }

    fn sample(&self, time: u64) -> Sample {
        Sample {
            time,
            equity: self.equity(),
            position: self.position,
        }
    }

    fn sample_until(&mut self, t: u64) {
        if self.config.bucket_ns == 0 {
            return;
        }
        if self.next_sample == 0 {
            self.next_sample = t - t % self.config.bucket_ns + self.config.bucket_ns;
            return;
        }
        while t >= self.next_sample {
            let s = self.sample(self.next_sample);
            self.samples.push(s);
            self.next_sample += self.config.bucket_ns;
        }
    }

    fn mark(&mut self) {
        if let Some(mid) = self.venue_book.bbo(self.config.locate).mid() {
            self.last_mid = mid.0;
        }
    }

    /// Runs queued events with time ≤ `until`, earliest first (ties: reports,
    /// then feed, then orders).
    fn advance(&mut self, until: u64) {
        loop {
            let r = self.report_q.front().map(|e| e.0);
            let f = self.feed_q.front().map(|e| e.0);
            let o = self.order_q.front().map(|e| e.0);
            let next = [r, f, o].into_iter().flatten().min();
            let Some(t) = next.filter(|&t| t <= until) else {
                return;
            };
            if r == Some(t) {
                if let Some((_, rep)) = self.report_q.pop_front() {
                    let mut sent = std::mem::take(&mut self.sent);
                    self.pipeline
                        .on_exec_report(&rep, Nanos(t), &mut |o| sent.push(*o));
                    self.sent = sent;
                    self.dispatch(t);
                }
            } else if f == Some(t) {
                if let Some((_, bytes)) = self.feed_q.pop_front() {
                    let mut sent = std::mem::take(&mut self.sent);
                    if let Ok(msg) = Message::parse(&bytes) {
                        self.pipeline
                            .on_itch(&msg, Nanos(t), &mut |o| sent.push(*o));
                    }
                    if self.config.timer_ns > 0 && t >= self.next_timer {
                        self.pipeline.on_timer(Nanos(t), &mut |o| sent.push(*o));
                        self.next_timer = t + self.config.timer_ns;
                    }
                    self.sent = sent;
                    self.dispatch(t);
                }
            } else if let Some((_, out)) = self.order_q.pop_front() {
                self.venue
                    .on_order(&out, &self.venue_book, &mut self.reports, &mut self.fills);
                self.collect_venue_output(t);
            }
        }
    }

    /// Order messages the pipeline just sent: logged, counted, queued.
    fn dispatch(&mut self, t: u64) {
        for out in std::mem::take(&mut self.sent) {
            log_order(&mut self.order_log, t, &out);
            match out {
                Outbound::New { .. } => self.stats.news += 1,
                Outbound::Cancel { .. } => self.stats.cancels += 1,
                Outbound::Replace { .. } => self.stats.replaces += 1,
                Outbound::MassCancel { .. } => self.stats.mass_cancels += 1,
            }
            self.order_q
                .push_back((t + self.config.order_latency_ns, out));
        }
    }

    /// Reports the venue produced at `t` go back; fills are booked.
    fn collect_venue_output(&mut self, t: u64) {
        for rep in self.reports.drain(..) {
            self.report_q
                .push_back((t + self.config.order_latency_ns, rep));
        }
        for f in std::mem::take(&mut self.fills) {
            let notional = i128::from(f.price.0) * i128::from(f.qty);
            let q = i64::from(f.qty);
            match f.side {
                Side::Buy => {
                    self.cash -= notional;
                    self.position += q;
                    self.stats.bought += u64::from(f.qty);
                }
                Side::Sell => {
                    self.cash += notional;
                    self.position -= q;
                    self.stats.sold += u64::from(f.qty);
                }
            }
            if f.maker {
                self.stats.maker_fills += 1;
                self.stats.maker_shares += u64::from(f.qty);
                self.fees += i128::from(self.config.maker_rebate) * i128::from(f.qty);
            } else {
                self.stats.taker_fills += 1;
                self.stats.taker_shares += u64::from(f.qty);
                self.fees -= i128::from(self.config.taker_fee) * i128::from(f.qty);
            }
            self.stats.min_position = self.stats.min_position.min(self.position);
            self.stats.max_position = self.stats.max_position.max(self.position);
            self.fill_log.push((t, f));
        }
    }
}

/// ITCH timestamp of any message (bytes 5..11, 48-bit big-endian ns).
pub fn message_time(msg: &Message<'_>) -> u64 {
    match msg.as_bytes() {
        [_, _, _, _, _, a, b, c, d, e, f, ..] => u64::from_be_bytes([0, 0, *a, *b, *c, *d, *e, *f]),
        _ => 0,
    }
}

fn side_char(s: Side) -> char {
    match s {
        Side::Buy => 'B',
        Side::Sell => 'S',
    }
}

/// One line per order message: time, kind, ids, side, price, quantity.
fn log_order(log: &mut String, t: u64, out: &Outbound) {
    let _ = match *out {
        Outbound::New {
            cl_ord_id,
            locate,
            side,
            price,
            qty,
            ..
        } => writeln!(
            log,
            "{t} NEW {} locate={locate} {} {}x{qty}",
            cl_ord_id.0,
            side_char(side),
            price.0
        ),
        Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            side,
            qty,
            ..
        } => writeln!(
            log,
            "{t} CXL {} orig={} {} {qty}",
            cl_ord_id.0,
            orig_cl_ord_id.0,
            side_char(side)
        ),
        Outbound::Replace {
            cl_ord_id,
            orig_cl_ord_id,
            side,
            price,
            qty,
            ..
        } => writeln!(
            log,
            "{t} RPL {} orig={} {} {}x{qty}",
            cl_ord_id.0,
            orig_cl_ord_id.0,
            side_char(side),
            price.0
        ),
        Outbound::MassCancel { cl_ord_id, .. } => writeln!(log, "{t} MASSCXL {}", cl_ord_id.0),
    };
}

/// Annualised Sharpe ratio of per-bucket equity changes (floats: report
/// only). Buckets per year: 6.5 h × 3600 s / bucket × 252 days.
pub fn sharpe(samples: &[Sample], bucket_ns: u64) -> f64 {
    if samples.len() < 3 || bucket_ns == 0 {
        return 0.0;
    }
    let d: Vec<f64> = samples
        .windows(2)
        .map(|w| (w[1].equity - w[0].equity) as f64 / 10_000.0)
        .collect();
    let n = d.len() as f64;
    let mean = d.iter().sum::<f64>() / n;
    let var = d.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    if var <= 0.0 {
        return 0.0;
    }
    let per_year = 6.5 * 3600.0 * 1e9 / bucket_ns as f64 * 252.0;
    mean / var.sqrt() * per_year.sqrt()
}

/// A polyline SVG of one series (the companion's plot; no PNG).
pub fn svg_plot(title: &str, points: &[(u64, f64)]) -> String {
    let points: Vec<(f64, f64)> = points.iter().map(|&(x, y)| (x as f64, y)).collect();
    companion::render::series_svg(title, &points)
}
