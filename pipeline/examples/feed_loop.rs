//! The appliance's feed path over a recorded whole-market day, with and
//! without warming each receive batch: frames in batches as the NIC hands
//! them over, each classified once (Ethernet/IPv4/UDP, both checksums),
//! then every packet through the MoldUDP64 sequencer and every message
//! through `Pipeline::on_itch` one at a time, as the appliance's polling
//! loop runs them. No strategy is hosted: this is the cost of keeping the
//! book, the work every message pays before any decision.
//!
//! Three ways to take a batch, run in turn, each from an empty book on the
//! same day:
//!
//! - `Plain`: every frame classified and applied cold, as it comes (the
//!   appliance's loop before warming);
//! - `WarmFirst`: the whole batch classified and its fresh messages warmed
//!   together (`book::Book::prefetch_group`) before the first is applied;
//! - `WarmAfterFirst`: the first frame classified and its first message
//!   applied at once, the rest of its packet warmed after that message, the
//!   other frames classified and warmed after the first frame (what
//!   `boot`'s loop does, with the same calls).
//!
//! Each reports thread CPU and wall time per message, and how long after a
//! batch's start its first message was applied (median and 99th
//! percentile over the batches). A batch of `B` frames is what a receive
//! ring holds when the feed runs ahead of the loop (a burst); `B = 1` is a
//! loop that keeps up, where nothing can be warmed. The book's tables come
//! from `hugealloc` (2 MiB pages, prefaulted), as the appliance maps them.
//!
//! ```text
//! cargo run --release -p feedgen --bin feedgen -- --messages 20000000 --quiet --pcap /tmp/day20m.pcap
//! cargo run --release -p pipeline --example feed_loop -- /tmp/day20m.pcap [batch 32] [rounds 2] [plain|warm-first|warmed|all]
//! ```

use std::time::Instant;

use book::{Book, BookConfig};
use feedgen::pcap::{PcapReader, FEED_GROUP};
use gateway::oms::{Oms, OmsConfig, Outbound};
use pipeline::Pipeline;
use protocol::filter::{Datagram, Filter};
use protocol::itch::Message;
use protocol::moldudp64::{Config, Endpoint, Line, Sequencer};
use risk::{Capacity, Limits, RiskEngine};
use strategy::engine::Engine;
use types::{Nanos, VenueId};

#[global_allocator]
static ALLOC: hugealloc::HugeAlloc = hugealloc::HugeAlloc;

/// The appliance's sequencer (window and slot size as in `boot`).
type Seq = Sequencer<256, 1536>;

/// Most frames a batch takes (the appliance's receive batch).
const MAX_BATCH: usize = 32;

struct Run {
    messages: u64,
    warmed: u64,
    cpu_ns: u64,
    wall_ns: u64,
    anomalies: u64,
    /// From a batch's start to its first message applied: median and 99th
    /// percentile over the batches.
    first_p50_ns: f64,
    first_p99_ns: f64,
}

fn pipeline() -> Pipeline<4, 8> {
    let risk = RiskEngine::new(
        Capacity {
            symbols: 16,
            orders: 1024,
            duplicate_slots: 64,
        },
        Limits::unlimited(),
    )
    .expect("valid limits");
    let oms = Oms::new(OmsConfig {
        orders: 1024,
        symbols: 16,
        last_epoch: 0,
    })
    .expect("valid OMS sizes");
    Pipeline::new(
        Book::with_capacity(BookConfig::default()),
        Engine::new(),
        risk,
        oms,
        VenueId(0),
    )
}

/// `boot::trade::warm_feed_batch`, over this loop's own batch.
fn warm(pipeline: &Pipeline<4, 8>, seq: &Seq, datagrams: &[Option<Datagram<'_>>]) -> usize {
    if !pipeline::batch_worth_warming(datagrams) {
        return 0;
    }
    let mut ahead = seq.lookahead();
    pipeline.prefetch_itch(
        datagrams
            .iter()
            .flatten()
            .filter(|d| d.subscription < 2)
            .flat_map(move |d| ahead.fresh(d.payload)),
    )
}

/// How a run treats each receive batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Every message applied cold.
    Plain,
    /// The whole batch classified and warmed before its first message.
    WarmFirst,
    /// The first frame classified and its first message applied at once,
    /// the rest of its packet warmed after that message, the rest of the
    /// batch classified and warmed after the frame (`boot::trade`'s loop).
    WarmAfterFirst,
}

fn run(frames: &[&[u8]], batch: usize, mode: Mode) -> Run {
    let mut pipeline = pipeline();
    let mut seq = Seq::new(Config::new(Endpoint {
        addr: [10, 0, 0, 1],
        port: 1,
    }));
    let mut filter = Filter::<2>::new();
    filter.subscribe(FEED_GROUP).expect("room for the feed");
    let mut send = |_: &Outbound| true;
    let mut warmed_count = 0u64;
    let now = Nanos(0);
    let mut first_ticks: Vec<u32> = Vec::with_capacity(frames.len() / batch + 1);
    let wall = Instant::now();
    let tsc_start = hugealloc::tsc();
    let cpu = hugealloc::thread_cpu_ns();
    for chunk in frames.chunks(batch) {
        let batch_start = hugealloc::tsc();
        let mut first_done = 0u64;
        let mut datagrams: heapless::Vec<Option<Datagram<'_>>, MAX_BATCH> = heapless::Vec::new();
        // Plain classifies as it goes (so its first message waits for no
        // other frame, as the appliance's loop did before warming).
        let eager = match mode {
            Mode::WarmFirst => chunk.len(),
            Mode::Plain | Mode::WarmAfterFirst => 1,
        };
        for frame in &chunk[..eager.min(chunk.len())] {
            let _ = datagrams.push(filter.process(frame));
        }
        if mode == Mode::WarmFirst {
            warmed_count += warm(&pipeline, &seq, &datagrams) as u64;
        }
        let mut i = 0;
        while i < chunk.len() {
            if mode == Mode::Plain && i > 0 {
                let _ = datagrams.push(filter.process(chunk[i]));
            }
            if i == 1 && mode == Mode::WarmAfterFirst {
                for frame in &chunk[1..] {
                    let _ = datagrams.push(filter.process(frame));
                }
                warmed_count += warm(&pipeline, &seq, &datagrams[1..]) as u64;
            }
            if let Some(Some(d)) = datagrams.get(i) {
                // The first packet's messages after its first are warmed
                // once that one is applied.
                let mut rest_of_packet = (i == 0 && mode == Mode::WarmAfterFirst)
                    .then(|| seq.lookahead())
                    .filter(|_| pipeline::packet_holds_more_than(d.payload, 2));
                seq.on_packet(Line::A, d.payload, now, &mut |_, msg| {
                    if let Ok(m) = Message::parse(msg) {
                        pipeline.on_itch(&m, now, &mut send);
                        if first_done == 0 {
                            first_done = hugealloc::tsc();
                        }
                        if let Some(mut ahead) = rest_of_packet.take() {
                            warmed_count +=
                                pipeline.prefetch_itch(ahead.fresh(d.payload).skip(1)) as u64;
                        }
                    }
                });
            }
            i += 1;
        }
        if first_done != 0 {
            first_ticks.push(
                first_done
                    .wrapping_sub(batch_start)
                    .min(u64::from(u32::MAX)) as u32,
            );
        }
    }
    let cpu_ns = hugealloc::thread_cpu_ns() - cpu;
    let wall_ns = wall.elapsed().as_nanos() as u64;
    let ticks_per_ns = hugealloc::tsc().wrapping_sub(tsc_start) as f64 / wall_ns.max(1) as f64;
    first_ticks.sort_unstable();
    let at = |q: f64| {
        first_ticks
            .get(((first_ticks.len().max(1) - 1) as f64 * q) as usize)
            .map_or(0.0, |&t| f64::from(t) / ticks_per_ns)
    };
    let stats = pipeline.stats();
    Run {
        messages: stats.messages,
        warmed: warmed_count,
        cpu_ns,
        wall_ns,
        anomalies: stats.book_anomalies,
        first_p50_ns: at(0.5),
        first_p99_ns: at(0.99),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!(
            "usage: feed_loop <day.pcap> [batch 1..=32] [rounds] [plain|warm-first|warmed|all]"
        );
        std::process::exit(2);
    };
    let batch: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(MAX_BATCH)
        .clamp(1, MAX_BATCH);
    let rounds: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(2);
    let file = std::fs::File::open(path).expect("open the pcap");
    let data = feedgen::replay::map_file(&file).expect("map the pcap");
    let reader = PcapReader::new(&data).expect("a pcap file");
    let frames: Vec<&[u8]> = reader.filter_map(|r| r.ok().map(|r| r.frame)).collect();
    // Every frame read once before the clock starts (the page cache).
    let bytes: usize = frames.iter().map(|f| f.len()).sum();
    println!(
        "{} frames, {:.1} MB; batches of {batch}; load average {}",
        frames.len(),
        bytes as f64 / 1e6,
        hugealloc::load_average()
    );
    let modes: &[Mode] = match args.get(4).map(String::as_str) {
        Some("plain") => &[Mode::Plain],
        Some("warm-first") => &[Mode::WarmFirst],
        Some("warmed") => &[Mode::WarmAfterFirst],
        _ => &[Mode::Plain, Mode::WarmFirst, Mode::WarmAfterFirst],
    };
    for round in 0..rounds {
        for &mode in modes {
            let r = run(&frames, batch, mode);
            println!(
                "round {round} {:<16}: {} messages, {:.1}% warmed, thread CPU {:.1} ns/msg, wall {:.1} ns/msg, first message of a batch p50 {:.0} / p99 {:.0} ns, {} book anomalies",
                format!("{mode:?}"),
                r.messages,
                100.0 * r.warmed as f64 / r.messages.max(1) as f64,
                r.cpu_ns as f64 / r.messages.max(1) as f64,
                r.wall_ns as f64 / r.messages.max(1) as f64,
                r.first_p50_ns,
                r.first_p99_ns,
                r.anomalies
            );
        }
    }
    if let Some(ghz) = hugealloc::core_clock_ghz(200) {
        println!("core speed {ghz:.2} GHz (dependent adds per ns)");
    }
}
