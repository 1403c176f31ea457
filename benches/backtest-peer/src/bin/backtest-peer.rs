//! `backtest-peer`: our backtester (`backtest` crate) against `hftbacktest`
//! 0.9 (its L3 market-by-order backtest) on the same single-symbol ITCH
//! stream, in the same process run.
//!
//! ```text
//! cd benches/backtest-peer
//! cargo run --release --bin backtest-peer -- /tmp/bt2m.itch [--symbol SYM] [--rounds 3] [--feed-only]
//! ```
//!
//! # Method
//! 1. The NASDAQ-format file is memory-mapped; the locate with the most
//!    messages (or `--symbol`'s, from the `R` directory) is chosen exactly as
//!    the `backtest` binary chooses it. Its messages, those with locate 0
//!    (system events) and its `R` message are copied into memory as owned
//!    byte vectors: that stream is the input of both sides.
//! 2. Ours: `backtest::Backtest` with `Config::new` defaults (feed latency
//!    5 µs, order latency 20 µs each way, maker rebate 20 and taker fee 30
//!    price4/share, the market maker `MmParams::default_for_cent_tick`),
//!    `on_message` for every message, then `finish`. Timed: the loop and
//!    `finish` (wall and thread CPU); `Backtest::new` is timed apart.
//! 3. hftbacktest: the stream is converted (timed apart, once) to its
//!    `Event`s, each flagged `EXCH_EVENT | LOCAL_EVENT`, `exch_ts` = ITCH
//!    time, `local_ts` = ITCH time + the same feed latency:
//!    `A`/`F` → add (buy/sell flag, order id = ITCH order reference, px in
//!    dollars, qty in shares); `D` → cancel; `X` → modify to the remaining
//!    quantity (cancel when none remains); `E`/`C` → `FILL_EVENT` (px = the
//!    resting order's price, qty = executed shares), then modify to the
//!    remaining quantity or cancel when none remains — its L3 exchange's
//!    FILL only moves queue positions (every backtest order ahead of the
//!    executed order fills) and never changes the depth, so the book update
//!    must follow as its own event; `U` → cancel old + add new (same side);
//!    `P` → `TRADE_EVENT` (flagged with the aggressor's side; the L3
//!    exchange ignores trades). Every other message type has no event.
//!    The backtest: `L3AssetBuilder`, `DataSource::Data` from memory,
//!    `ConstantLatency` 20 µs entry and response, `L3FIFOQueueModel`,
//!    `HashMapMarketDepth` (tick 0.01 when every resting price of the stream
//!    is a whole cent, else 0.0001; lot 1), `TradingQtyFeeModel` with
//!    `CommonFees` maker −0.0020 / taker +0.0030 per share (the exact per
//!    share equivalent of ours), `LinearAsset` 1, `L3NoPartialFillExchange`
//!    (the only L3 exchange 0.9.4 has). The strategy, a plain loop on
//!    `wait_next_feed(include_order_resp = true)`: one post-only (GTX) bid
//!    of `quote_qty` (100) at the best bid and one ask at the best ask,
//!    cancelled and re-placed when the touch moves, a side not quoted when
//!    its fill would take the position beyond `max_position` (500), both
//!    read from our `MmParams`. Timed: building and running (wall and
//!    thread CPU).
//! 4. Rounds alternate ours / hftbacktest; the best and the median ns per
//!    stream message of each side and their ratio are printed.
//!
//! # Sanity checks
//! Ours must count every message of the stream and find none malformed;
//! the converter must meet no unknown order reference and no duplicate add;
//! hftbacktest's local depth at the end must equal an L3 book of ours
//! (`book::Book`, as the venue keeps it) replayed over the same stream: best
//! bid and ask prices and quantities and the number of live orders; the
//! converted events applied to a stand-alone `HashMapMarketDepth` must give
//! our book's best bid and ask after every message (moments when our book
//! is crossed are skipped and counted: that depth hides a crossed side);
//! and every round of a side must produce the same counters (both are
//! deterministic). A failed check ends the run with an error.
//!
//! `--feed-only` turns quoting off on both sides (our market maker
//! disabled, the peer's quoter idle) to show the engines' cost of the feed
//! alone.
//!
//! # Fairness notes
//! - Ours runs the appliance's full pipeline per message: ITCH parsing (the
//!   peer gets pre-parsed events; its conversion is timed apart), a
//!   whole-market L3 book, the strategy engine hosting an
//!   Avellaneda–Stoikov market maker (variance estimate, inventory skew,
//!   fast-market and queue-aware requote rules, a 100 ms timer), pre-trade
//!   risk checks, the OMS (order state, PnL), a venue with its own second
//!   book and an exact FIFO queue model with partial fills, an order log
//!   string, equity samples each minute and the Sharpe ratio.
//! - Ours is sized for the whole market: `Backtest::new` allocates and
//!   prefaults two books of 690 MiB (capacity 4 M orders each), 0.2–2 s on
//!   the shared test machine. That is outside the main figure (printed
//!   apart, and as "ours + new"); releasing them (~5 ms) is inside it,
//!   since `finish` consumes the backtest. hftbacktest's build is
//!   microseconds (hash maps that grow on demand).
//! - hftbacktest keeps two books too (the exchange's and the local one,
//!   `HashMapMarketDepth` each, plus FIFO queues per price in the queue
//!   model), but its strategy here is the trivial touch quoter above, with
//!   no risk checks, no order log and no PnL sampling; its L3 exchange fills
//!   a whole order at once (no partial fills), fills every backtest order
//!   ahead of an executed feed order regardless of the executed quantity,
//!   and ignores non-displayed trades (`P`). Its hot spots in a profile:
//!   the queue model's cancel (a linear search of the price level's queue,
//!   with a dynamic type check per entry), depth adds, SipHash-keyed hash
//!   maps.
//! - The two strategies differ (quotes, requotes, fills, positions are not
//!   comparable one to one); the comparison is of engine cost per message
//!   with a market maker in the loop on each side.
//! - Both sides run in one process under the same global allocator
//!   (`hugealloc::HugeAlloc`: blocks of 2 MiB and more on prefaulted huge
//!   pages, the rest from the system allocator), on one thread, alternately.
#![deny(unsafe_code)]

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use backtest::{message_time, money, Backtest, Config, Report};
use book::{Book, BookConfig};
use clap::Parser;
use feedgen::replay::map_file;
use feedgen::survey::Survey;
use hftbacktest::backtest::assettype::LinearAsset;
use hftbacktest::backtest::data::Data;
use hftbacktest::backtest::models::{
    CommonFees, ConstantLatency, L3FIFOQueueModel, TradingQtyFeeModel,
};
use hftbacktest::backtest::{Backtest as HbtBacktest, DataSource, L3AssetBuilder};
use hftbacktest::depth::{
    HashMapMarketDepth, L3MarketDepth, MarketDepth, INVALID_MAX, INVALID_MIN,
};
use hftbacktest::types::{
    Bot, ElapseResult, Event, OrdType, Side as HSide, Status, TimeInForce, ADD_ORDER_EVENT,
    BUY_EVENT, CANCEL_ORDER_EVENT, EXCH_EVENT, FILL_EVENT, LOCAL_EVENT, MODIFY_ORDER_EVENT,
    SELL_EVENT, TRADE_EVENT,
};
use hugealloc::{best_and_median, elapsed_ns, thread_cpu_ns};
use protocol::itch::{FileReader, Message};
use types::{DepthView, Side, StockLocate, Symbol};

// As the `backtest` binary: large tables on 2 MiB pages, prefaulted. Both
// sides allocate through it.
#[global_allocator]
static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;

/// Our backtester and hftbacktest 0.9 on the same single-symbol ITCH stream.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// NASDAQ file format ITCH 5.0 (2-byte big-endian length + message).
    input: PathBuf,
    /// Symbol to trade (default: the one with the most messages).
    #[arg(long)]
    symbol: Option<String>,
    /// Runs of each side, alternating ours / hftbacktest.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// No quoting on either side (our market maker disabled, the peer's
    /// quoter off): the engines' cost of the feed alone.
    #[arg(long)]
    feed_only: bool,
}

/// The single-symbol stream both sides get.
struct Stream {
    locate: StockLocate,
    symbol: Symbol,
    file_messages: u64,
    messages: Vec<Vec<u8>>,
}

fn locate_of(bytes: &[u8]) -> u16 {
    match bytes {
        [_, a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

fn read_stream(data: &[u8], symbol: Option<&str>) -> Result<Stream, String> {
    // The instrument is chosen as the `backtest` binary chooses it.
    let mut survey = Survey::default();
    for m in FileReader::new(data) {
        survey.add(m.map_err(|e| format!("truncated or malformed framing: {e}"))?);
    }
    let (locate, name) = survey.pick(symbol)?;
    let messages = FileReader::new(data)
        .filter_map(Result::ok)
        .filter(|b| {
            let l = locate_of(b);
            l == locate || l == 0
        })
        .map(<[u8]>::to_vec)
        .collect();
    Ok(Stream {
        locate,
        symbol: name,
        file_messages: survey.total,
        messages,
    })
}

// ---------------------------------------------------------------------------
// ITCH → hftbacktest events

/// The events and what the conversion met.
struct Converted {
    events: Vec<Event>,
    /// Tick size in price4 units (100: one cent).
    tick_p4: i64,
    adds: u64,
    cancels: u64,
    modifies: u64,
    fills: u64,
    trades: u64,
    /// Messages of the stream without an event (directory, system, NOII...).
    no_event: u64,
    /// Executions, cancels, deletes and replaces of unknown order references.
    orphans: u64,
    /// Adds of an order reference already live.
    duplicates: u64,
    /// Live orders at the end of the stream.
    live_at_end: usize,
    /// Distinct local timestamps (an upper bound for feed wake-ups).
    distinct_local_ts: u64,
}

fn side_flag(side: Side) -> u64 {
    match side {
        Side::Buy => BUY_EVENT,
        Side::Sell => SELL_EVENT,
    }
}

/// Cent ticks when every resting price of the stream is a whole cent.
fn tick_of(stream: &[Vec<u8>]) -> i64 {
    let sub_penny = stream.iter().any(|b| {
        let p = match Message::parse(b) {
            Ok(Message::AddOrder(m)) => m.price().0,
            Ok(Message::AddOrderMpid(m)) => m.price().0,
            Ok(Message::OrderReplace(m)) => m.price().0,
            _ => return false,
        };
        p % 100 != 0
    });
    if sub_penny {
        1
    } else {
        100
    }
}

struct EventWriter {
    events: Vec<Event>,
    exch_ts: i64,
    local_ts: i64,
}

impl EventWriter {
    fn push(&mut self, kind: u64, flags: u64, price4: i64, qty: u32, order_id: u64) {
        self.events.push(Event {
            ev: kind | flags | EXCH_EVENT | LOCAL_EVENT,
            exch_ts: self.exch_ts,
            local_ts: self.local_ts,
            px: price4 as f64 / 10_000.0,
            qty: f64::from(qty),
            order_id,
            ival: 0,
            fval: 0.0,
        });
    }
}

type Live = HashMap<u64, (Side, i64, u32)>;

fn add(
    w: &mut EventWriter,
    c: &mut Converted,
    live: &mut Live,
    id: u64,
    side: Side,
    price4: i64,
    qty: u32,
) {
    if live.contains_key(&id) {
        c.duplicates += 1;
        return;
    }
    live.insert(id, (side, price4, qty));
    w.push(ADD_ORDER_EVENT, side_flag(side), price4, qty, id);
    c.adds += 1;
}

/// Removes `shares` (all when `None`) of a live order: modify to the rest,
/// or cancel when nothing is left.
fn reduce(w: &mut EventWriter, c: &mut Converted, live: &mut Live, id: u64, shares: Option<u32>) {
    let Some(o) = live.get_mut(&id) else {
        c.orphans += 1;
        return;
    };
    let n = shares.unwrap_or(o.2).min(o.2);
    o.2 -= n;
    let (side, price4, rest) = *o;
    if rest == 0 {
        live.remove(&id);
        w.push(CANCEL_ORDER_EVENT, side_flag(side), price4, 0, id);
        c.cancels += 1;
    } else {
        w.push(MODIFY_ORDER_EVENT, side_flag(side), price4, rest, id);
        c.modifies += 1;
    }
}

fn executed(w: &mut EventWriter, c: &mut Converted, live: &mut Live, id: u64, shares: u32) {
    let Some(&(side, price4, _)) = live.get(&id) else {
        c.orphans += 1;
        return;
    };
    // The fill first: its queue model must still find the order.
    w.push(FILL_EVENT, side_flag(side), price4, shares, id);
    c.fills += 1;
    reduce(w, c, live, id, Some(shares));
}

/// Converts the stream; with `ends`, also records after each message how
/// many events exist (for the step-by-step depth check, not timed).
fn convert(
    stream: &[Vec<u8>],
    feed_latency_ns: i64,
    mut ends: Option<&mut Vec<usize>>,
) -> Converted {
    // Live orders: side, price4, remaining shares.
    let mut live: Live = HashMap::new();
    let mut w = EventWriter {
        events: Vec::with_capacity(stream.len() + stream.len() / 8),
        exch_ts: 0,
        local_ts: 0,
    };
    let mut c = Converted {
        events: Vec::new(),
        tick_p4: tick_of(stream),
        adds: 0,
        cancels: 0,
        modifies: 0,
        fills: 0,
        trades: 0,
        no_event: 0,
        orphans: 0,
        duplicates: 0,
        live_at_end: 0,
        distinct_local_ts: 0,
    };
    let mut last_ts = -1i64;
    for b in stream {
        let Ok(msg) = Message::parse(b) else {
            c.no_event += 1;
            if let Some(e) = ends.as_deref_mut() {
                e.push(w.events.len());
            }
            continue;
        };
        // ITCH time, never backwards (as ours treats it).
        let ts = i64::try_from(message_time(&msg)).unwrap_or(i64::MAX);
        w.exch_ts = w.exch_ts.max(ts);
        w.local_ts = w.exch_ts + feed_latency_ns;
        let before = w.events.len();
        match msg {
            Message::AddOrder(m) => add(
                &mut w,
                &mut c,
                &mut live,
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::AddOrderMpid(m) => add(
                &mut w,
                &mut c,
                &mut live,
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::OrderExecuted(m) => executed(
                &mut w,
                &mut c,
                &mut live,
                m.order_ref(),
                m.executed_shares(),
            ),
            Message::OrderExecutedWithPrice(m) => executed(
                &mut w,
                &mut c,
                &mut live,
                m.order_ref(),
                m.executed_shares(),
            ),
            Message::OrderCancel(m) => reduce(
                &mut w,
                &mut c,
                &mut live,
                m.order_ref(),
                Some(m.cancelled_shares()),
            ),
            Message::OrderDelete(m) => reduce(&mut w, &mut c, &mut live, m.order_ref(), None),
            Message::OrderReplace(m) => match live.get(&m.original_order_ref()).copied() {
                Some((side, _, _)) => {
                    reduce(&mut w, &mut c, &mut live, m.original_order_ref(), None);
                    add(
                        &mut w,
                        &mut c,
                        &mut live,
                        m.new_order_ref(),
                        side,
                        m.price().0,
                        m.shares(),
                    );
                }
                None => c.orphans += 1,
            },
            Message::Trade(m) => {
                // ITCH names the resting (non-displayed) order's side; the
                // trade event's flag is the aggressor's.
                w.push(
                    TRADE_EVENT,
                    side_flag(m.side().opposite()),
                    m.price().0,
                    m.shares(),
                    0,
                );
                c.trades += 1;
            }
            _ => {}
        }
        if w.events.len() == before {
            if !matches!(
                msg,
                Message::OrderExecuted(_)
                    | Message::OrderExecutedWithPrice(_)
                    | Message::OrderCancel(_)
                    | Message::OrderDelete(_)
                    | Message::OrderReplace(_)
                    | Message::AddOrder(_)
                    | Message::AddOrderMpid(_)
            ) {
                c.no_event += 1;
            }
        } else if w.local_ts != last_ts {
            c.distinct_local_ts += 1;
            last_ts = w.local_ts;
        }
        if let Some(e) = ends.as_deref_mut() {
            e.push(w.events.len());
        }
    }
    c.live_at_end = live.len();
    c.events = w.events;
    c
}

// ---------------------------------------------------------------------------
// Runs

/// One run of ours.
struct OursRun {
    setup_ns: u64,
    /// `finish` alone (drains the queues, releases both books).
    finish_ns: u64,
    wall_ns: u64,
    cpu_ns: u64,
    report: Report,
}

fn run_ours(stream: &Stream, config: &Config) -> Result<OursRun, String> {
    let config = config.clone();
    let s0 = Instant::now();
    let mut bt = Backtest::new(config).map_err(|e| e.to_string())?;
    let setup_ns = elapsed_ns(s0);
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    for m in &stream.messages {
        bt.on_message(m);
    }
    let f0 = Instant::now();
    let report = bt.finish();
    let finish_ns = elapsed_ns(f0);
    let wall_ns = elapsed_ns(t0);
    let cpu_ns = thread_cpu_ns() - c0;
    Ok(OursRun {
        setup_ns,
        finish_ns,
        wall_ns,
        cpu_ns,
        report,
    })
}

/// What hftbacktest's run produced.
#[derive(Debug, Clone, Copy, PartialEq)]
struct HbtOutcome {
    feed_wakeups: u64,
    response_wakeups: u64,
    news: u64,
    cancels: u64,
    fills: i64,
    volume: f64,
    position: f64,
    balance: f64,
    fee: f64,
    /// balance + position × mid − fee at the end (dollars).
    equity: f64,
    best_bid_tick: i64,
    best_ask_tick: i64,
    best_bid_qty: f64,
    best_ask_qty: f64,
    live_orders: usize,
}

struct HbtRun {
    build_ns: u64,
    wall_ns: u64,
    cpu_ns: u64,
    out: HbtOutcome,
}

/// Strategy parameters for the peer's quoter, from our market maker's.
#[derive(Clone, Copy)]
struct Quoting {
    qty: f64,
    max_position: f64,
}

const WAIT_TIMEOUT_NS: i64 = 3_600_000_000_000;

fn build_hbt(
    data: &Data<Event>,
    tick: f64,
    config: &Config,
) -> Result<HbtBacktest<HashMapMarketDepth>, String> {
    let latency = i64::try_from(config.order_latency_ns).map_err(|e| e.to_string())?;
    let maker = -(config.maker_rebate as f64) / 10_000.0;
    let taker = config.taker_fee as f64 / 10_000.0;
    let asset = L3AssetBuilder::new()
        .data(vec![DataSource::Data(data.clone())])
        .latency_model(ConstantLatency::new(latency, latency))
        .asset_type(LinearAsset::new(1.0))
        .fee_model(TradingQtyFeeModel::new(CommonFees::new(maker, taker)))
        .queue_model(L3FIFOQueueModel::new())
        .depth(move || HashMapMarketDepth::new(tick, 1.0))
        .build()
        .map_err(|e| format!("hftbacktest asset: {e}"))?;
    HbtBacktest::builder()
        .add_asset(asset)
        .build()
        .map_err(|e| format!("hftbacktest: {e}"))
}

#[allow(clippy::too_many_arguments)]
fn quote_side(
    hbt: &mut HbtBacktest<HashMapMarketDepth>,
    side: HSide,
    slot: &mut Option<u64>,
    allowed: bool,
    target_tick: i64,
    tick: f64,
    q: Quoting,
    next_id: &mut u64,
    out: &mut HbtOutcome,
) -> Result<(), String> {
    let err = |e: hftbacktest::backtest::BacktestError| format!("hftbacktest: {e}");
    if let Some(id) = *slot {
        match hbt.orders(0).get(&id) {
            // Gone (cleared once filled, cancelled or expired).
            None => *slot = None,
            // A request in flight: wait for its answer.
            Some(o) if o.req != Status::None => return Ok(()),
            Some(o) if !o.active() => *slot = None,
            Some(o) if allowed && o.price_tick == target_tick => return Ok(()),
            Some(_) => {
                hbt.cancel(0, id, false).map_err(err)?;
                out.cancels += 1;
                *slot = None;
            }
        }
    }
    if allowed {
        let id = *next_id;
        *next_id += 1;
        let px = target_tick as f64 * tick;
        match side {
            HSide::Buy => {
                hbt.submit_buy_order(0, id, px, q.qty, TimeInForce::GTX, OrdType::Limit, false)
            }
            _ => hbt.submit_sell_order(0, id, px, q.qty, TimeInForce::GTX, OrdType::Limit, false),
        }
        .map_err(err)?;
        out.news += 1;
        *slot = Some(id);
    }
    Ok(())
}

fn run_hbt(data: &Data<Event>, tick_p4: i64, config: &Config) -> Result<HbtRun, String> {
    let tick = tick_p4 as f64 / 10_000.0;
    let q = Quoting {
        qty: f64::from(config.mm.quote_qty),
        max_position: config.mm.max_position as f64,
    };
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let mut hbt = build_hbt(data, tick, config)?;
    let build_ns = elapsed_ns(t0);
    let mut out = HbtOutcome {
        feed_wakeups: 0,
        response_wakeups: 0,
        news: 0,
        cancels: 0,
        fills: 0,
        volume: 0.0,
        position: 0.0,
        balance: 0.0,
        fee: 0.0,
        equity: 0.0,
        best_bid_tick: INVALID_MIN,
        best_ask_tick: INVALID_MAX,
        best_bid_qty: 0.0,
        best_ask_qty: 0.0,
        live_orders: 0,
    };
    let (mut bid, mut ask) = (None, None);
    let mut next_id = 1u64;
    loop {
        match hbt
            .wait_next_feed(true, WAIT_TIMEOUT_NS)
            .map_err(|e| format!("hftbacktest: {e}"))?
        {
            ElapseResult::EndOfData => break,
            ElapseResult::MarketFeed => out.feed_wakeups += 1,
            ElapseResult::OrderResponse => out.response_wakeups += 1,
            ElapseResult::Ok => {}
        }
        hbt.clear_inactive_orders(Some(0));
        let depth = hbt.depth(0);
        let (bb, ba) = (depth.best_bid_tick(), depth.best_ask_tick());
        let two_sided = bb != INVALID_MIN && ba != INVALID_MAX && bb < ba;
        let pos = hbt.position(0);
        let quoting = two_sided && config.mm.enabled;
        let bid_ok = quoting && pos + q.qty <= q.max_position;
        let ask_ok = quoting && pos - q.qty >= -q.max_position;
        quote_side(
            &mut hbt,
            HSide::Buy,
            &mut bid,
            bid_ok,
            bb,
            tick,
            q,
            &mut next_id,
            &mut out,
        )?;
        quote_side(
            &mut hbt,
            HSide::Sell,
            &mut ask,
            ask_ok,
            ba,
            tick,
            q,
            &mut next_id,
            &mut out,
        )?;
    }
    let sv = hbt.state_values(0);
    let depth = hbt.depth(0);
    out.fills = sv.num_trades;
    out.volume = sv.trading_volume;
    out.position = sv.position;
    out.balance = sv.balance;
    out.fee = sv.fee;
    out.best_bid_tick = depth.best_bid_tick();
    out.best_ask_tick = depth.best_ask_tick();
    out.best_bid_qty = depth.best_bid_qty();
    out.best_ask_qty = depth.best_ask_qty();
    out.live_orders = depth.orders().len();
    let mid = if out.best_bid_tick != INVALID_MIN && out.best_ask_tick != INVALID_MAX {
        (out.best_bid_tick + out.best_ask_tick) as f64 * tick / 2.0
    } else {
        0.0
    };
    out.equity = out.balance + out.position * mid - out.fee;
    drop(hbt);
    let wall_ns = elapsed_ns(t0);
    let cpu_ns = thread_cpu_ns() - c0;
    Ok(HbtRun {
        build_ns,
        wall_ns,
        cpu_ns,
        out,
    })
}

fn per(ns: u64, n: usize) -> f64 {
    ns as f64 / n.max(1) as f64
}

// ---------------------------------------------------------------------------
// Sanity

/// The conversion checked message by message: the events applied to a
/// stand-alone `HashMapMarketDepth` must give our book's best bid and ask
/// (price and quantity) after every message. Moments when our book is
/// crossed are skipped: that depth hides a crossed side by design.
fn check_depth_path(stream: &Stream, feed_latency_ns: i64) -> Result<Vec<String>, String> {
    let mut ends = Vec::with_capacity(stream.messages.len());
    let conv = convert(&stream.messages, feed_latency_ns, Some(&mut ends));
    let tick_p4 = conv.tick_p4;
    let mut depth = HashMapMarketDepth::new(tick_p4 as f64 / 10_000.0, 1.0);
    let mut book = Book::with_capacity(BookConfig::default());
    let (mut compared, mut crossed, mut mismatched) = (0u64, 0u64, 0u64);
    let mut first = None;
    let mut start = 0;
    let err = |e: hftbacktest::backtest::BacktestError| format!("depth check: {e}");
    for (i, (b, &end)) in stream.messages.iter().zip(&ends).enumerate() {
        for e in &conv.events[start..end] {
            if e.is(ADD_ORDER_EVENT | BUY_EVENT) {
                depth
                    .add_buy_order(e.order_id, e.px, e.qty, e.exch_ts)
                    .map_err(err)?;
            } else if e.is(ADD_ORDER_EVENT | SELL_EVENT) {
                depth
                    .add_sell_order(e.order_id, e.px, e.qty, e.exch_ts)
                    .map_err(err)?;
            } else if e.is(MODIFY_ORDER_EVENT) {
                depth
                    .modify_order(e.order_id, e.px, e.qty, e.exch_ts)
                    .map_err(err)?;
            } else if e.is(CANCEL_ORDER_EVENT) {
                depth.delete_order(e.order_id, e.exch_ts).map_err(err)?;
            }
        }
        start = end;
        if let Ok(m) = Message::parse(b) {
            let _ = book.apply_itch(&m, &mut book::NullSink);
        }
        if book.is_crossed(stream.locate) {
            crossed += 1;
            continue;
        }
        compared += 1;
        let bbo = book.bbo(stream.locate);
        let ours = (
            bbo.bid.map(|l| (l.price.0, l.qty)),
            bbo.ask.map(|l| (l.price.0, l.qty)),
        );
        let (bb, ba) = (depth.best_bid_tick(), depth.best_ask_tick());
        let peer = (
            (bb != INVALID_MIN).then(|| (bb * tick_p4, depth.best_bid_qty().round() as u64)),
            (ba != INVALID_MAX).then(|| (ba * tick_p4, depth.best_ask_qty().round() as u64)),
        );
        if ours != peer {
            mismatched += 1;
            first.get_or_insert((i, ours, peer));
        }
    }
    println!(
        "depth path       BBO compared after each of {compared} messages ({crossed} skipped while our book was crossed): {mismatched} mismatches"
    );
    Ok(match first {
        Some((i, ours, peer)) => vec![format!(
            "BBO differs after {mismatched} messages, first after message {i}: ours {ours:?}, converted depth {peer:?}"
        )],
        None => Vec::new(),
    })
}

/// hftbacktest's final depth against our L3 book replayed over the stream.
fn check_depth(stream: &Stream, tick_p4: i64, out: &HbtOutcome) -> Vec<String> {
    let mut book = Book::with_capacity(BookConfig::default());
    for b in &stream.messages {
        if let Ok(m) = Message::parse(b) {
            let _ = book.apply_itch(&m, &mut book::NullSink);
        }
    }
    let bbo = book.bbo(stream.locate);
    let ours_bid = bbo.bid.map(|l| (l.price.0, l.qty));
    let ours_ask = bbo.ask.map(|l| (l.price.0, l.qty));
    let level = |tick: i64, invalid: i64, qty: f64| {
        (tick != invalid).then(|| (tick * tick_p4, qty.round() as u64))
    };
    let peer_bid = level(out.best_bid_tick, INVALID_MIN, out.best_bid_qty);
    let peer_ask = level(out.best_ask_tick, INVALID_MAX, out.best_ask_qty);
    let mut problems = Vec::new();
    println!(
        "end of stream    ours (book::Book replay): bid {ours_bid:?} ask {ours_ask:?} live orders {}",
        book.live_orders()
    );
    println!(
        "                 hftbacktest local depth: bid {peer_bid:?} ask {peer_ask:?} live orders {}",
        out.live_orders
    );
    if ours_bid != peer_bid {
        problems.push(format!(
            "best bid: ours {ours_bid:?}, hftbacktest {peer_bid:?}"
        ));
    }
    if ours_ask != peer_ask {
        problems.push(format!(
            "best ask: ours {ours_ask:?}, hftbacktest {peer_ask:?}"
        ));
    }
    if book.live_orders() != out.live_orders {
        problems.push(format!(
            "live orders: ours {}, hftbacktest {}",
            book.live_orders(),
            out.live_orders
        ));
    }
    problems
}

// ---------------------------------------------------------------------------

fn dollars(x: f64) -> String {
    format!("{x:.4}")
}

fn run(args: Args) -> Result<(), String> {
    let path = |e: std::io::Error| format!("{}: {e}", args.input.display());
    let file = File::open(&args.input).map_err(path)?;
    let data = map_file(&file).map_err(path)?;
    let t = Instant::now();
    let stream = read_stream(&data, args.symbol.as_deref())?;
    let extract_s = t.elapsed().as_secs_f64();
    let n = stream.messages.len();
    let mut config = Config::new(stream.locate, stream.symbol);
    if args.feed_only {
        config.mm.enabled = false;
    }
    println!(
        "input            {} ({} messages)",
        args.input.display(),
        stream.file_messages
    );
    println!(
        "stream           {} (locate {}): {n} messages incl. locate-0 ones, extracted in {extract_s:.2} s",
        stream.symbol.as_str().trim_end(),
        stream.locate
    );
    println!(
        "settings         feed latency {} ns, order latency {} ns each way, maker rebate {} / taker fee {} price4/share, quote {} sh, max position {}{}",
        config.feed_latency_ns,
        config.order_latency_ns,
        config.maker_rebate,
        config.taker_fee,
        config.mm.quote_qty,
        config.mm.max_position,
        if args.feed_only {
            " — FEED ONLY: no quoting on either side"
        } else {
            ""
        }
    );

    // Conversion for the peer, once, timed apart.
    let feed_latency = i64::try_from(config.feed_latency_ns).map_err(|e| e.to_string())?;
    let c0 = thread_cpu_ns();
    let t0 = Instant::now();
    let conv = convert(&stream.messages, feed_latency, None);
    let events = Data::from_data(&conv.events);
    let conv_wall = elapsed_ns(t0);
    let conv_cpu = thread_cpu_ns() - c0;
    let n_events = conv.events.len();
    println!(
        "conversion       {n_events} events ({} add, {} cancel, {} modify, {} fill, {} trade; {} messages without an event) in {:.1} ms wall, {:.1} ms CPU ({:.1} ns/message); tick {} price4",
        conv.adds,
        conv.cancels,
        conv.modifies,
        conv.fills,
        conv.trades,
        conv.no_event,
        conv_wall as f64 / 1e6,
        conv_cpu as f64 / 1e6,
        per(conv_wall, n),
        conv.tick_p4
    );
    let mut problems = Vec::new();
    if conv.orphans > 0 || conv.duplicates > 0 {
        problems.push(format!(
            "conversion: {} unknown order references, {} duplicate adds",
            conv.orphans, conv.duplicates
        ));
    }
    drop(conv.events);

    // Teardown cost of ours (two whole-market books), measured once: our
    // timed region includes it (`finish` consumes the backtest).
    let t = Instant::now();
    let bt = Backtest::new(config.clone()).map_err(|e| e.to_string())?;
    let new_ns = elapsed_ns(t);
    let book_bytes = bt.pipeline().book.memory_bytes();
    let t = Instant::now();
    drop(bt);
    let drop_ns = elapsed_ns(t);
    println!(
        "ours setup       Backtest::new {:.1} ms, drop {:.1} ms (two books of {:.0} MiB each)",
        new_ns as f64 / 1e6,
        drop_ns as f64 / 1e6,
        book_bytes as f64 / (1 << 20) as f64
    );

    let mut ours_ns = Vec::new();
    let mut ours_cpu = Vec::new();
    let mut ours_setup = Vec::new();
    let mut peer_ns = Vec::new();
    let mut peer_cpu = Vec::new();
    let mut first_ours: Option<Report> = None;
    let mut first_peer: Option<HbtOutcome> = None;
    for round in 1..=args.rounds.max(1) {
        let o = run_ours(&stream, &config)?;
        let r = &o.report;
        let s = &r.stats;
        println!(
            "round {round} ours        {:7.1} ns/msg wall {:7.1} CPU | {:.3} s (finish {:.1} ms; + new {:.1} ms) | {} msgs | orders {} new {} cxl {} rpl | fills {} maker {} taker ({} sh) | pos {} | pnl {} (fees {}) | risk rejects {}",
            per(o.wall_ns, n),
            per(o.cpu_ns, n),
            o.wall_ns as f64 / 1e9,
            o.finish_ns as f64 / 1e6,
            o.setup_ns as f64 / 1e6,
            s.messages,
            s.news,
            s.cancels,
            s.replaces,
            s.maker_fills,
            s.taker_fills,
            s.maker_shares + s.taker_shares,
            r.position,
            money(r.total),
            money(r.fees),
            r.risk_rejects
        );
        if s.messages != n as u64 || s.malformed != 0 {
            problems.push(format!(
                "ours counted {} messages ({} malformed) of {n}",
                s.messages, s.malformed
            ));
        }
        match &first_ours {
            None => first_ours = Some(o.report.clone()),
            Some(f) if f.stats != o.report.stats || f.total != o.report.total => {
                problems.push(format!("ours: round {round} differs from round 1"));
            }
            Some(_) => {}
        }
        ours_ns.push(per(o.wall_ns, n));
        ours_setup.push(per(o.wall_ns + o.setup_ns, n));
        ours_cpu.push(per(o.cpu_ns, n));

        let h = run_hbt(&events, conv.tick_p4, &config)?;
        let x = &h.out;
        println!(
            "round {round} hftbacktest {:7.1} ns/msg wall {:7.1} CPU | {:.3} s (build {:.3} ms) | {:.1} ns/event | wake-ups {} feed {} resp | orders {} new {} cxl | fills {} ({} sh) | pos {} | equity {} (fees {})",
            per(h.wall_ns, n),
            per(h.cpu_ns, n),
            h.wall_ns as f64 / 1e9,
            h.build_ns as f64 / 1e6,
            per(h.wall_ns, n_events),
            x.feed_wakeups,
            x.response_wakeups,
            x.news,
            x.cancels,
            x.fills,
            x.volume,
            x.position,
            dollars(x.equity),
            dollars(0.0 - x.fee)
        );
        match &first_peer {
            None => first_peer = Some(h.out),
            Some(f) if *f != h.out => {
                problems.push(format!("hftbacktest: round {round} differs from round 1"));
            }
            Some(_) => {}
        }
        peer_ns.push(per(h.wall_ns, n));
        peer_cpu.push(per(h.cpu_ns, n));
    }

    let (ob, om) = best_and_median(&ours_ns);
    let (osb, osm) = best_and_median(&ours_setup);
    let (pb, pm) = best_and_median(&peer_ns);
    let (obc, omc) = best_and_median(&ours_cpu);
    let (pbc, pmc) = best_and_median(&peer_cpu);
    let conv_per = per(conv_wall, n);
    println!("summary          ns per stream message ({n} messages, {n_events} peer events)");
    println!(
        "  ours           best {ob:7.1} median {om:7.1} wall | best {obc:7.1} median {omc:7.1} CPU"
    );
    println!(
        "  hftbacktest    best {pb:7.1} median {pm:7.1} wall | best {pbc:7.1} median {pmc:7.1} CPU"
    );
    println!(
        "  ours + new     best {osb:7.1} median {osm:7.1} wall (ours including Backtest::new: allocating and prefaulting both books)"
    );
    println!(
        "  + conversion   best {:7.1} median {:7.1} wall (hftbacktest + the one-off ITCH conversion, {conv_per:.1} ns/msg)",
        pb + conv_per,
        pm + conv_per
    );
    println!(
        "  ratio          hftbacktest / ours: best {:.2}x median {:.2}x wall, best {:.2}x median {:.2}x CPU",
        pb / ob,
        pm / om,
        pbc / obc,
        pmc / omc
    );

    if let Some(x) = &first_peer {
        problems.extend(check_depth(&stream, conv.tick_p4, x));
        problems.extend(check_depth_path(&stream, feed_latency)?);
        println!(
            "                 converter's own live orders at end: {}; distinct local timestamps {} (feed wake-ups {})",
            conv.live_at_end, conv.distinct_local_ts, x.feed_wakeups
        );
    }
    if problems.is_empty() {
        println!("SANITY OK        same {n} messages on both sides; BBO agrees after every message and at the end, live orders agree; rounds deterministic");
        Ok(())
    } else {
        for p in &problems {
            println!("SANITY MISMATCH  {p}");
        }
        Err(format!("{} sanity check(s) failed", problems.len()))
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backtest-peer: {e}");
            ExitCode::FAILURE
        }
    }
}
