//! `bbo-stats`: how a generated day's best bid and offer behave, seen
//! through the L3 book, next to what the generator's model intended.
//!
//! ```text
//! bbo-stats --seed 1 --messages 2000000 --symbols 50 --peak-live 200000
//! ```
//! Generates the day in memory (same arguments as `feedgen`), feeds every
//! message to the book and, at each BBO change during regular hours
//! (09:30–16:00), records the spread in ticks, the mid change in ticks, an
//! empty side, and how far each best price sits from the model's touch.
//! Symbols are grouped by message count (rank 0 = busiest).

use std::process::ExitCode;

use book::{Book, BookConfig, EventSink};
use clap::Parser;
use feedgen::model::{MARKET_CLOSE, MARKET_OPEN};
use feedgen::{Config, Generator};
use protocol::itch::{write_framed, Message};
use types::BookEvent;

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    #[arg(long, default_value_t = 1)]
    seed: u64,
    #[arg(long, default_value_t = 2_000_000)]
    messages: u64,
    #[arg(long, default_value_t = 50)]
    symbols: u16,
    #[arg(long, default_value_t = 200_000)]
    peak_live: u64,
    /// Also print each of the busiest N symbols on its own.
    #[arg(long, default_value_t = 5)]
    each: usize,
}

/// One BBO change of one symbol.
#[derive(Clone, Copy)]
struct Obs {
    /// Ask − bid in ticks (both sides present), else `None`.
    spread: Option<i64>,
    /// |Δ(bid + ask)| in ticks, i.e. |Δmid| in half ticks, against the
    /// previous two-sided BBO.
    dmid_half: Option<u64>,
    /// Touch minus best, in ticks, per side (`None`: side empty).
    gap: [Option<i64>; 2],
    /// Hour of the day.
    hour: u8,
    /// Orders at the best bid and at the best ask.
    queue: [u32; 2],
}

#[derive(Default)]
struct PerSymbol {
    locate: u16,
    messages: u64,
    obs: Vec<Obs>,
    last_mid2: Option<i64>,
    tick: i64,
    target: i64,
    first_mid2: Option<i64>,
    lo: i64,
    hi: i64,
}

struct Collect(Vec<BookEvent>);

impl EventSink for Collect {
    fn push(&mut self, event: BookEvent) -> bool {
        if matches!(event, BookEvent::Bbo { .. }) {
            self.0.push(event);
        }
        true
    }
}

fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn share(n: usize, of: usize) -> String {
    if of == 0 {
        "-".into()
    } else {
        format!("{:.2}%", 100.0 * n as f64 / of as f64)
    }
}

fn report(name: &str, syms: &[&PerSymbol]) {
    let mut spreads = Vec::new();
    let mut over_target = Vec::new();
    let mut dmid = Vec::new();
    let mut gaps = Vec::new();
    let (mut events, mut empty) = (0usize, 0usize);
    let mut targets: Vec<i64> = syms.iter().map(|s| s.target).collect();
    targets.sort_unstable();
    for s in syms {
        for o in &s.obs {
            events += 1;
            match o.spread {
                Some(x) => {
                    spreads.push(x);
                    over_target.push(x - s.target);
                }
                None => empty += 1,
            }
            if let Some(d) = o.dmid_half.filter(|&d| d > 0) {
                dmid.push(d as i64);
            }
            gaps.extend(o.gap.iter().flatten().copied());
        }
    }
    spreads.sort_unstable();
    over_target.sort_unstable();
    dmid.sort_unstable();
    gaps.sort_unstable();
    let h = |v: i64| format!("{:.1}", v as f64 / 2.0);
    println!(
        "{name}: {} symbols, {events} BBO changes; target spread median {} ticks",
        syms.len(),
        pct(&targets, 0.5)
    );
    println!(
        "  spread ticks   p10 {} p50 {} p90 {} p99 {} max {}; ≤ target+1: {}; ≥ 10×target: {}; locked/crossed {}",
        pct(&spreads, 0.1),
        pct(&spreads, 0.5),
        pct(&spreads, 0.9),
        pct(&spreads, 0.99),
        spreads.last().copied().unwrap_or(0),
        share(over_target.iter().filter(|&&x| x <= 1).count(), over_target.len()),
        share(
            syms.iter()
                .flat_map(|s| s.obs.iter().map(move |o| (o, s.target)))
                .filter(|(o, t)| o.spread.is_some_and(|x| x >= 10 * t))
                .count(),
            spreads.len()
        ),
        share(spreads.iter().filter(|&&x| x <= 0).count(), spreads.len()),
    );
    println!(
        "  |Δmid| ticks (mid moves: {}) p50 {} p90 {} p99 {} p99.9 {} max {}; ≤1: {} ≤half spread: {} >5: {} >20: {}",
        dmid.len(),
        h(pct(&dmid, 0.5)),
        h(pct(&dmid, 0.9)),
        h(pct(&dmid, 0.99)),
        h(pct(&dmid, 0.999)),
        h(dmid.last().copied().unwrap_or(0)),
        share(dmid.iter().filter(|&&x| x <= 2).count(), dmid.len()),
        share(
            syms.iter()
                .flat_map(|s| s.obs.iter().map(move |o| (o, s.target)))
                .filter(|(o, t)| o.dmid_half.is_some_and(|d| d > 0 && d as i64 <= (*t).max(2)))
                .count(),
            dmid.len()
        ),
        share(dmid.iter().filter(|&&x| x > 10).count(), dmid.len()),
        share(dmid.iter().filter(|&&x| x > 40).count(), dmid.len()),
    );
    println!(
        "  touch − best   p50 {} p90 {} p99 {} max {}; 0: {} >5 ticks: {} >50 ticks: {}",
        pct(&gaps, 0.5),
        pct(&gaps, 0.9),
        pct(&gaps, 0.99),
        gaps.last().copied().unwrap_or(0),
        share(gaps.iter().filter(|&&x| x == 0).count(), gaps.len()),
        share(gaps.iter().filter(|&&x| x > 5).count(), gaps.len()),
        share(gaps.iter().filter(|&&x| x > 50).count(), gaps.len()),
    );
    let mut q: Vec<i64> = syms
        .iter()
        .flat_map(|s| s.obs.iter())
        .flat_map(|o| o.queue)
        .filter(|&x| x > 0)
        .map(i64::from)
        .collect();
    q.sort_unstable();
    println!(
        "  one side empty {}; orders at the best p10 {} p50 {} p90 {}",
        share(empty, events),
        pct(&q, 0.1),
        pct(&q, 0.5),
        pct(&q, 0.9)
    );
}

fn by_hour(name: &str, syms: &[&PerSymbol], live: &[(u8, usize)]) {
    println!("{name} by hour: hour, live orders (all symbols) at its start, BBO changes, one side empty, mid moves, moves > 5 ticks, p50 and p90 spread");
    for h in 9u8..16 {
        let obs: Vec<&Obs> = syms
            .iter()
            .flat_map(|s| s.obs.iter())
            .filter(|o| o.hour == h)
            .collect();
        let mut sp: Vec<i64> = obs.iter().filter_map(|o| o.spread).collect();
        sp.sort_unstable();
        let moves = obs
            .iter()
            .filter(|o| o.dmid_half.is_some_and(|d| d > 0))
            .count();
        let big = obs
            .iter()
            .filter(|o| o.dmid_half.is_some_and(|d| d > 10))
            .count();
        let empty = obs.iter().filter(|o| o.spread.is_none()).count();
        let l = live.iter().find(|x| x.0 == h).map_or(0, |x| x.1);
        println!(
            "  {h:02}h  {l:>8} {:>8} {:>8} {moves:>8} {big:>6} {} {}",
            obs.len(),
            share(empty, obs.len()),
            pct(&sp, 0.5),
            pct(&sp, 0.9)
        );
    }
}

fn run(args: Args) -> Result<(), String> {
    let config = Config {
        seed: args.seed,
        symbols: args.symbols,
        messages: args.messages,
        peak_live: args.peak_live,
        ..Config::default()
    };
    let mut generator = Generator::new(config).map_err(|e| e.to_string())?;
    let mut book = Book::with_capacity(BookConfig::default());
    let mut per: Vec<PerSymbol> = (0..=usize::from(args.symbols))
        .map(|_| PerSymbol::default())
        .collect();
    for (l, p) in per.iter_mut().enumerate().skip(1) {
        if let Some(m) = generator.quote_model(l as u16) {
            p.locate = l as u16;
            p.tick = i64::from(m.tick);
            p.target = i64::from(m.target_spread_ticks);
        }
    }
    let mut buf = [0u8; 64];
    let mut sink = Collect(Vec::new());
    let mut live: Vec<(u8, usize)> = Vec::new();
    let trace: Option<u16> = std::env::var("BBO_TRACE").ok().and_then(|v| v.parse().ok());
    while let Some(m) = generator.next() {
        let hour = (m.timestamp / 3_600_000_000_000) as u8;
        if live.last().is_none_or(|x| x.0 != hour) {
            live.push((hour, generator.live_orders()));
        }
        let n = write_framed(&m.message, &mut buf).map_err(|e| format!("{e:?}"))?;
        let msg = Message::parse(&buf[2..n]).map_err(|e| format!("{e:?}"))?;
        let locate = usize::from(msg.stock_locate());
        if let Some(p) = per.get_mut(locate) {
            p.messages += 1;
        }
        sink.0.clear();
        let _ = book.apply_itch(&msg, &mut sink);
        if !(MARKET_OPEN..MARKET_CLOSE).contains(&m.timestamp) {
            continue;
        }
        for ev in &sink.0 {
            let BookEvent::Bbo { locate, bbo, .. } = *ev else {
                continue;
            };
            let Some(model) = generator.quote_model(locate) else {
                continue;
            };
            let Some(p) = per.get_mut(usize::from(locate)) else {
                continue;
            };
            let tick = p.tick.max(1);
            if trace == Some(locate) {
                println!(
                    "{} bid {:?} ask {:?} touch {:?} wanted {:?}",
                    m.timestamp,
                    bbo.bid.map(|l| (l.price.0, l.orders)),
                    bbo.ask.map(|l| (l.price.0, l.orders)),
                    model.touch,
                    model.wanted
                );
            }
            let bid = bbo.bid.map(|l| l.price.0);
            let ask = bbo.ask.map(|l| l.price.0);
            let mut o = Obs {
                hour: (m.timestamp / 3_600_000_000_000) as u8,
                queue: [
                    bbo.bid.map_or(0, |l| l.orders),
                    bbo.ask.map_or(0, |l| l.orders),
                ],
                spread: None,
                dmid_half: None,
                gap: [
                    bid.map(|b| (i64::from(model.touch[0]) - b) / tick),
                    ask.map(|a| (a - i64::from(model.touch[1])) / tick),
                ],
            };
            if let (Some(b), Some(a)) = (bid, ask) {
                o.spread = Some((a - b) / tick);
                let mid2 = a + b;
                if let Some(last) = p.last_mid2 {
                    o.dmid_half = Some((mid2 - last).unsigned_abs() / tick as u64);
                }
                p.last_mid2 = Some(mid2);
                if p.first_mid2.is_none() {
                    p.first_mid2 = Some(mid2);
                    p.lo = mid2;
                    p.hi = mid2;
                }
                p.lo = p.lo.min(mid2);
                p.hi = p.hi.max(mid2);
            }
            p.obs.push(o);
        }
    }
    let mut ranked: Vec<&PerSymbol> = per.iter().skip(1).collect();
    ranked.sort_by_key(|p| std::cmp::Reverse(p.messages));
    let total: u64 = ranked.iter().map(|p| p.messages).sum();
    println!(
        "seed {} symbols {} messages {} peak-live {} (regular hours only)",
        args.seed, args.symbols, args.messages, args.peak_live
    );
    for (i, p) in ranked.iter().take(args.each).enumerate() {
        let d = |v: i64| v as f64 / 20_000.0;
        println!(
            "rank {i}: locate {}, {:.2}% of messages, tick {} target {} ticks, mid {:.4} → {:.4} (range {:.4}..{:.4})",
            p.locate,
            100.0 * p.messages as f64 / total.max(1) as f64,
            p.tick,
            p.target,
            d(p.first_mid2.unwrap_or(0)),
            d(p.last_mid2.unwrap_or(0)),
            d(p.lo),
            d(p.hi)
        );
        report(&format!("rank {i}"), &ranked[i..=i]);
        by_hour(&format!("rank {i}"), &ranked[i..=i], &live);
    }
    let n = ranked.len();
    let bands = [(0, 5), (5, 50), (50, 500), (500, n)];
    for (a, b) in bands {
        if a < n {
            report(&format!("ranks {a}..{}", b.min(n)), &ranked[a..b.min(n)]);
        }
    }
    by_hour("ranks 0..5", &ranked[..5.min(n)], &live);
    let pennies: Vec<&PerSymbol> = ranked
        .iter()
        .take(50)
        .filter(|p| p.tick == 100 && p.target <= 3)
        .copied()
        .collect();
    report("top 50, cent tick, target ≤ 3", &pennies);
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bbo-stats: {e}");
            ExitCode::FAILURE
        }
    }
}
