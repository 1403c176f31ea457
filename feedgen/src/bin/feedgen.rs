//! `feedgen`: writes a deterministic synthetic ITCH 5.0 trading day.
//!
//! ```text
//! feedgen --seed 7 --messages 10000000 --out day.itch --pcap day.pcap
//! ```

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use feedgen::model::mix;
use feedgen::pcap::MoldPcapWriter;
use feedgen::{session_for_seed, write_day, Config, Generator};
use indicatif::{ProgressBar, ProgressStyle};

/// Generate a synthetic NASDAQ TotalView-ITCH 5.0 day (same seed, same bytes).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Seed of the day; equal arguments give byte-identical output.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Total messages, system events and stock directory included.
    #[arg(long, default_value_t = 10_000_000)]
    messages: u64,
    /// Number of stock locates (1..=65535).
    #[arg(long, default_value_t = 8_800)]
    symbols: u16,
    /// Live orders the day's population peaks at.
    #[arg(long, default_value_t = 1_600_000)]
    peak_live: u64,
    /// Volatility of the fair prices in percent of the model's (daily σ
    /// 1–3%, two jumps a day); 0 gives a quiet day whose fair prices stand
    /// still.
    #[arg(long, default_value_t = 100)]
    volatility_percent: u32,
    /// Trend: each fair price drifts this many basis points over the day
    /// (negative: down).
    #[arg(long, default_value_t = 0, allow_negative_numbers = true)]
    drift_bp: i32,
    /// NASDAQ file format output (2-byte big-endian length + message).
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// pcap output: MoldUDP64 in UDP/IPv4/Ethernet frames to 233.54.12.1:26400.
    #[arg(long)]
    pcap: Option<PathBuf>,
    /// How long a MoldUDP64 packet may hold its first message, in µs: a
    /// packet takes every message within that time of its first (up to the
    /// MTU). Longer packs more messages a packet, as a busy feed's bursts do.
    #[arg(long, default_value_t = 20)]
    pcap_hold_us: u64,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

fn create(path: &PathBuf) -> Result<BufWriter<File>, String> {
    File::create(path)
        .map(|f| BufWriter::with_capacity(1 << 20, f))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: Args) -> Result<(), String> {
    if args.out.is_none() && args.pcap.is_none() {
        return Err("nothing to write: give --out FILE and/or --pcap FILE".into());
    }
    let config = Config {
        seed: args.seed,
        symbols: args.symbols,
        messages: args.messages,
        peak_live: args.peak_live,
        volatility_percent: args.volatility_percent,
        drift_bp: args.drift_bp,
    };
    let mut generator = Generator::new(config).map_err(|e| e.to_string())?;
    let mut nasdaq = args.out.as_ref().map(create).transpose()?;
    let mut pcap = match &args.pcap {
        Some(p) => Some(
            MoldPcapWriter::new(create(p)?, session_for_seed(args.seed))
                .map_err(|e| format!("{}: {e}", p.display()))?
                .with_max_hold_ns(args.pcap_hold_us.saturating_mul(1_000)),
        ),
        None => None,
    };

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        let bar = ProgressBar::new(args.messages);
        bar.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:40}] {human_pos}/{human_len} msgs (eta {eta}) {msg}",
            )
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
        );
        bar
    };
    let started = Instant::now();
    write_day(&mut generator, nasdaq.as_mut(), pcap.as_mut(), |s| {
        bar.set_position(s.messages);
        let rate = s.messages as f64 / started.elapsed().as_secs_f64().max(1e-9) / 1e6;
        bar.set_message(format!("{rate:.2} M msg/s · live orders {}", s.live_orders));
    })
    .map_err(|e| e.to_string())?;
    if let Some(mut n) = nasdaq {
        n.flush().map_err(|e| e.to_string())?;
    }
    let frames = pcap.as_ref().map(|p| p.frames());
    let pcap_bytes = match pcap {
        Some(p) => {
            let bytes = p.bytes();
            p.finish().map_err(|e| e.to_string())?;
            Some(bytes)
        }
        None => None,
    };
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();

    let s = generator.stats();
    println!(
        "feedgen: seed {} · {} messages · {} symbols · {:.2} s ({:.2} M msg/s)",
        args.seed,
        s.messages,
        args.symbols,
        elapsed,
        s.messages as f64 / elapsed / 1e6
    );
    println!("type  count        share    target");
    let mut types: Vec<(u8, u64)> = (0u8..=255)
        .map(|t| (t, s.per_type[usize::from(t)]))
        .filter(|(_, n)| *n > 0)
        .collect();
    types.sort_by_key(|(t, n)| (std::cmp::Reverse(*n), *t));
    for (t, n) in types {
        let target = mix::TARGETS
            .iter()
            .find(|(tt, _)| *tt == t)
            .map(|(_, ppm)| format!("{:6.2}%", f64::from(*ppm) / 1e4))
            .unwrap_or_default();
        println!(
            "{}     {:<12} {:6.2}%  {}",
            char::from(t),
            n,
            n as f64 * 100.0 / s.messages as f64,
            target
        );
    }
    println!(
        "peak live orders: {} (at message {}); live at end: {}",
        s.peak_live_orders, s.peak_at_message, s.live_orders
    );
    if let Some(p) = &args.out {
        println!(
            "{}: {} bytes ({:.1} bytes/msg)",
            p.display(),
            s.framed_bytes,
            s.framed_bytes as f64 / s.messages as f64
        );
    }
    if let (Some(p), Some(b)) = (&args.pcap, pcap_bytes) {
        let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(b);
        println!(
            "{}: {} bytes, {} data frames + end of session",
            p.display(),
            len,
            frames.unwrap_or(0)
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feedgen: {e}");
            ExitCode::FAILURE
        }
    }
}
