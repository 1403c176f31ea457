//! `backtest`: the market maker over a recorded ITCH day against the
//! simulated venue.
//!
//! ```text
//! backtest day.itch --symbol AAA --plot-dir plots --orders-log orders.log
//! backtest --pcap day.pcap
//! ```
//! Plots are SVG (`pnl.svg`, `inventory.svg`); no PNG is written.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use backtest::{money, svg_plot, Backtest, Config};
use book::BookConfig;
use clap::Parser;
use feedgen::pcap::{PcapReader, FEED_GROUP};
use feedgen::replay::map_file;
use feedgen::survey::Survey;
use indicatif::{ProgressBar, ProgressStyle};
use protocol::filter::{Filter, Subscription};
use protocol::itch::FileReader;
use protocol::moldudp64::{Packet, PacketKind};

// Book tables on 2 MiB pages, prefaulted, as on the appliance (see `hugealloc`).
#[global_allocator]
static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;

/// Backtest the market maker on an ITCH 5.0 day (NASDAQ file format, or
/// MoldUDP64 in a pcap) with a simulated venue (L3 FIFO queue model).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Input: NASDAQ file format (2-byte big-endian length + message), or a
    /// pcap with --pcap.
    input: PathBuf,
    /// The input is a pcap of MoldUDP64/UDP/IPv4/Ethernet frames (feed
    /// group 233.54.12.1:26400).
    #[arg(long)]
    pcap: bool,
    /// Symbol to trade (default: the one with the most messages).
    #[arg(long)]
    symbol: Option<String>,
    /// Feed latency: the strategy sees a message this long after its time.
    #[arg(long, default_value_t = 5_000)]
    feed_latency_ns: u64,
    /// Order latency, each way (orders to the venue, reports back).
    #[arg(long, default_value_t = 20_000)]
    order_latency_ns: u64,
    /// Maker rebate, price4 per share (20 = $0.0020).
    #[arg(long, default_value_t = 20)]
    maker_rebate: i64,
    /// Taker fee, price4 per share (30 = $0.0030).
    #[arg(long, default_value_t = 30)]
    taker_fee: i64,
    /// PnL sampling bucket (Sharpe, plots), seconds of ITCH time.
    #[arg(long, default_value_t = 60)]
    bucket_secs: u64,
    /// Write pnl.svg and inventory.svg here.
    #[arg(long)]
    plot_dir: Option<PathBuf>,
    /// Write the order log (one line per order message).
    #[arg(long)]
    orders_log: Option<PathBuf>,
    /// Book capacity: live orders.
    #[arg(long, default_value_t = BookConfig::default().max_orders)]
    max_orders: usize,
    /// Book capacity: live price levels.
    #[arg(long, default_value_t = BookConfig::default().max_levels)]
    max_levels: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// Every message of the input, in order (bytes without length prefix).
fn for_each_message(data: &[u8], pcap: bool, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
    if !pcap {
        for m in FileReader::new(data) {
            match m {
                Ok(m) => f(m),
                Err(e) => return Err(format!("truncated or malformed framing: {e:?}")),
            }
        }
        return Ok(());
    }
    let mut filter = Filter::<1>::new();
    filter
        .subscribe(Subscription {
            group: FEED_GROUP.group,
            port: FEED_GROUP.port,
        })
        .map_err(|_| "filter".to_string())?;
    let mut next_seq: Option<u64> = None;
    for rec in PcapReader::new(data).map_err(|e| e.to_string())? {
        let rec = rec.map_err(|e| e.to_string())?;
        let Ok(d) = filter.classify(rec.frame) else {
            continue;
        };
        let Ok(packet) = Packet::new_checked(d.payload) else {
            continue;
        };
        if !matches!(packet.kind(), PacketKind::Data(_)) {
            continue;
        }
        for m in packet.messages() {
            let (seq, bytes) = m.map_err(|e| format!("MoldUDP64: {e:?}"))?;
            let expected = *next_seq.get_or_insert(seq);
            if seq < expected {
                continue; // duplicate (A/B line or retransmission)
            }
            next_seq = Some(seq + 1);
            f(bytes);
        }
    }
    Ok(())
}

fn run(args: Args) -> Result<(), String> {
    let path = |p: &PathBuf, e: std::io::Error| format!("{}: {e}", p.display());
    let file = File::open(&args.input).map_err(|e| path(&args.input, e))?;
    let data = map_file(&file).map_err(|e| path(&args.input, e))?;

    // First pass: symbols and message counts per locate.
    let mut survey = Survey::default();
    for_each_message(&data, args.pcap, &mut |b| survey.add(b))?;
    let total = survey.total;
    let (locate, symbol) = survey.pick(args.symbol.as_deref())?;

    let mut config = Config::new(locate, symbol);
    config.feed_latency_ns = args.feed_latency_ns;
    config.order_latency_ns = args.order_latency_ns;
    config.maker_rebate = args.maker_rebate;
    config.taker_fee = args.taker_fee;
    config.bucket_ns = args.bucket_secs.saturating_mul(1_000_000_000);
    config.book = BookConfig {
        max_orders: args.max_orders,
        max_levels: args.max_levels,
    };
    let mut bt = Backtest::new(config).map_err(|e| e.to_string())?;

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} msgs (eta {eta})",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        bar
    };
    let start = Instant::now();
    let mut n = 0u64;
    for_each_message(&data, args.pcap, &mut |b| {
        bt.on_message(b);
        n += 1;
        if n & 0xffff == 0 {
            bar.set_position(n);
        }
    })?;
    let pipeline_stats = bt.pipeline().stats();
    let reasons: Vec<String> = types::RejectReason::ALL
        .iter()
        .filter_map(|&r| {
            let n = bt.pipeline().risk.reject_count(r);
            (n > 0).then(|| format!("{r:?} {n}"))
        })
        .collect();
    let (report, log) = bt.finish_with_log();
    bar.finish_and_clear();
    let secs = start.elapsed().as_secs_f64();

    let s = &report.stats;
    println!(
        "symbol           {} (locate {locate})",
        symbol.as_str().trim_end()
    );
    println!(
        "messages         {} in {secs:.2} s ({:.0} msg/s), {} malformed",
        s.messages,
        s.messages as f64 / secs.max(1e-9),
        s.malformed
    );
    println!(
        "orders sent      {} new, {} cancel, {} replace",
        s.news, s.cancels, s.replaces
    );
    println!(
        "fills            {} maker ({} sh), {} taker ({} sh); bought {} sold {}",
        s.maker_fills, s.maker_shares, s.taker_fills, s.taker_shares, s.bought, s.sold
    );
    println!(
        "risk rejections  {} (intents {}, dropped {}) {}",
        report.risk_rejects,
        pipeline_stats.intents,
        pipeline_stats.intents_dropped,
        reasons.join(", ")
    );
    println!(
        "position         {} (min {}, max {})",
        report.position, s.min_position, s.max_position
    );
    println!(
        "pnl              realized {} (incl. fees) unrealized {} fees {} total {}",
        money(report.realized),
        money(report.unrealized),
        money(report.fees),
        money(report.total)
    );
    println!(
        "max drawdown     {}; Sharpe {:.2} (annualised, {} s buckets)",
        money(report.max_drawdown),
        report.sharpe,
        args.bucket_secs
    );
    if let Some(p) = &args.orders_log {
        std::fs::write(p, log).map_err(|e| path(p, e))?;
    }
    if let Some(dir) = &args.plot_dir {
        std::fs::create_dir_all(dir).map_err(|e| path(dir, e))?;
        let pnl: Vec<(u64, f64)> = report
            .samples
            .iter()
            .map(|x| (x.time, x.equity as f64 / 10_000.0))
            .collect();
        let inv: Vec<(u64, f64)> = report
            .samples
            .iter()
            .map(|x| (x.time, x.position as f64))
            .collect();
        let a = dir.join("pnl.svg");
        std::fs::write(&a, svg_plot("PnL incl. fees ($)", &pnl)).map_err(|e| path(&a, e))?;
        let b = dir.join("inventory.svg");
        std::fs::write(&b, svg_plot("Inventory (shares)", &inv)).map_err(|e| path(&b, e))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("backtest: {e}");
            ExitCode::FAILURE
        }
    }
}
