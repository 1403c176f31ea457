//! `replay`: decode + L3 book over a recorded day, with counters, BBO changes
//! as CSV and final depth.
//!
//! ```text
//! replay day.itch --bbo-csv bbo.csv --depth 5 --depth-out depth.csv
//! replay --pcap day.pcap
//! ```
//! The input is memory-mapped; it must not be truncated or rewritten while
//! the replay runs. The book's tables come from [`hugealloc::HugeAlloc`]
//! (2 MiB transparent huge pages, prefaulted before the clock starts), as
//! the appliance maps them with large pages.

use std::fs::File;
use std::io::BufWriter;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use book::BookConfig;
use clap::Parser;
use feedgen::pcap::FEED_GROUP;
use feedgen::replay::{book_anomalies, map_file, Replayer};
use protocol::filter::Subscription;
use protocol::ipv4;

#[global_allocator]
static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;

/// Replay an ITCH 5.0 day (NASDAQ file format, or MoldUDP64 in a pcap)
/// through the decoder and the L3 book.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Input file: NASDAQ file format (2-byte big-endian length + message),
    /// or a pcap with --pcap.
    input: PathBuf,
    /// The input is a pcap of MoldUDP64/UDP/IPv4/Ethernet frames.
    #[arg(long)]
    pcap: bool,
    /// Feed multicast group (pcap input).
    #[arg(long, default_value_t = Ipv4Addr::from(FEED_GROUP.group.0))]
    group: Ipv4Addr,
    /// Feed UDP port (pcap input).
    #[arg(long, default_value_t = FEED_GROUP.port)]
    port: u16,
    /// Write every BBO change as CSV:
    /// msg_index,locate,stock,bid_px,bid_qty,ask_px,ask_qty
    /// (price4 integers, 1-based message index; an empty side leaves its
    /// price and quantity empty).
    #[arg(long)]
    bbo_csv: Option<PathBuf>,
    /// Levels per side in the final depth file.
    #[arg(long, requires = "depth_out")]
    depth: Option<usize>,
    /// Final top-N depth per symbol as CSV:
    /// locate,stock,side,level,price,qty,orders.
    #[arg(long, requires = "depth")]
    depth_out: Option<PathBuf>,
    /// Prefetch distance (0 = off, at most 16, rounded down to a power of
    /// two): the book's cache misses for message i+d..i+3d start while
    /// message i is applied. Same results, higher throughput on a book
    /// larger than cache.
    #[arg(long, default_value_t = 4)]
    prefetch: usize,
    /// Time every message (one `rdtsc` each, which itself adds to the time
    /// per message) and report p50/p99/p99.9/max.
    #[arg(long)]
    latency: bool,
    /// Book capacity: live orders.
    #[arg(long, default_value_t = BookConfig::default().max_orders)]
    max_orders: usize,
    /// Book capacity: live price levels.
    #[arg(long, default_value_t = BookConfig::default().max_levels)]
    max_levels: usize,
}

fn run(args: Args) -> Result<(), String> {
    let path = |p: &PathBuf, e: std::io::Error| format!("{}: {e}", p.display());
    let file = File::open(&args.input).map_err(|e| path(&args.input, e))?;
    let data = map_file(&file).map_err(|e| path(&args.input, e))?;
    let bbo = match &args.bbo_csv {
        Some(p) => Some(BufWriter::with_capacity(
            1 << 20,
            File::create(p).map_err(|e| path(p, e))?,
        )),
        None => None,
    };
    let config = BookConfig {
        max_orders: args.max_orders,
        max_levels: args.max_levels,
    };
    let mut replayer = Replayer::new(config, bbo).map_err(|e| e.to_string())?;

    if args.latency {
        replayer.enable_latency();
    }
    let load_before = hugealloc::load_average();
    let tsc_started = hugealloc::tsc();
    let cpu_started = hugealloc::thread_cpu_ns();
    let started = Instant::now();
    if args.pcap {
        let feed = Subscription {
            group: ipv4::Address(args.group.octets()),
            port: args.port,
        };
        replayer
            .replay_pcap_prefetched(&data, feed, args.prefetch)
            .map_err(|e| path(&args.input, std::io::Error::other(e)))?;
    } else {
        replayer.replay_nasdaq_prefetched(&data, args.prefetch);
    }
    let elapsed = started.elapsed();
    let tsc_elapsed = hugealloc::tsc().wrapping_sub(tsc_started);
    let cpu_ns = hugealloc::thread_cpu_ns().saturating_sub(cpu_started);
    replayer.flush().map_err(|e| format!("bbo csv: {e}"))?;

    if let (Some(n), Some(p)) = (args.depth, &args.depth_out) {
        let mut out = BufWriter::new(File::create(p).map_err(|e| path(p, e))?);
        replayer.write_depth(n, &mut out).map_err(|e| path(p, e))?;
    }

    let c = replayer.counters();
    let b = replayer.book().counters();
    let secs = elapsed.as_secs_f64();
    println!(
        "replay: {} messages in {:.3} s · {:.1} ns/msg · {:.2} M msg/s · {} bytes",
        c.messages,
        secs,
        secs * 1e9 / c.messages.max(1) as f64,
        c.messages as f64 / secs.max(1e-9) / 1e6,
        data.len()
    );
    println!(
        "cpu: {:.3} s thread CPU time · {:.1} ns/msg · load average before {} · after {}",
        cpu_ns as f64 / 1e9,
        cpu_ns as f64 / c.messages.max(1) as f64,
        load_before,
        hugealloc::load_average()
    );
    if let Some(h) = replayer.latency() {
        let ghz = tsc_elapsed as f64 / elapsed.as_nanos().max(1) as f64;
        let ns = |cycles: u64| cycles as f64 / ghz;
        println!(
            "per message (rdtsc between message starts, TSC {:.3} GHz): mean {:.1} ns · p50 {:.0} ns · p99 {:.0} ns · p99.9 {:.0} ns · max {:.0} ns ({} messages)",
            ghz,
            h.mean() / ghz,
            ns(h.quantile(0.5)),
            ns(h.quantile(0.99)),
            ns(h.quantile(0.999)),
            ns(h.max()),
            h.count()
        );
    }
    let mib = |b: Option<u64>| {
        b.map_or("?".to_string(), |b| {
            format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
        })
    };
    println!(
        "memory: book tables {} · anonymous resident {} · of it in huge pages (AnonHugePages) {} · peak resident incl. the mapped input file {}",
        mib(Some(replayer.book().memory_bytes() as u64)),
        mib(hugealloc::rss_anon_bytes()),
        mib(hugealloc::anon_huge_pages_bytes()),
        mib(hugealloc::peak_rss_bytes())
    );
    let mut line = String::from("per type:");
    for t in 0u8..=255 {
        let n = c.per_type[usize::from(t)];
        if n > 0 {
            line.push_str(&format!(" {}={}", char::from(t), n));
        }
    }
    println!("{line}");
    println!(
        "skipped: unknown types {} · malformed {} · truncated tail {}",
        c.unknown, c.malformed, c.truncated_tail
    );
    if args.pcap {
        println!(
            "pcap: frames {} · filtered out {} · bad records {} · bad MoldUDP64 {} · heartbeats {} · end of session {} · gap messages {} · duplicates {}",
            c.frames,
            c.frames_dropped,
            c.pcap_errors,
            c.mold_errors,
            c.heartbeats,
            c.end_of_session,
            c.gap_messages,
            c.duplicate_messages
        );
    }
    println!(
        "book anomalies: {} (unknown order {} · duplicate order {} · over-execution {} · zero qty {} · bad price {} · bad locate {} · crossed {} · order table full {} · level pool full {} · events dropped {})",
        book_anomalies(b),
        b.unknown_order,
        b.duplicate_order,
        b.negative_quantity,
        b.zero_quantity,
        b.bad_price,
        b.bad_locate,
        b.crossed_book,
        b.order_table_full,
        b.level_pool_full,
        b.events_dropped
    );
    println!(
        "book: live orders {} (peak {}, {} spilled now) · live levels {} (peak {}) · ignored messages {} · BBO changes {} · level-array shifts {:.2}/msg · arena compactions {}",
        replayer.book().live_orders(),
        b.peak_orders,
        replayer.book().spilled_orders(),
        replayer.book().live_levels(),
        b.peak_levels,
        b.ignored,
        c.bbo_changes,
        b.level_shifts as f64 / c.messages.max(1) as f64,
        b.level_compactions
    );
    replayer.finish().map_err(|e| format!("bbo csv: {e}"))?;
    Ok(())
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replay: {e}");
            ExitCode::FAILURE
        }
    }
}
