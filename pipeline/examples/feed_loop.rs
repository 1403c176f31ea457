//! The appliance's feed path over a recorded whole-market day, with and
//! without warming each receive batch: frames in batches as the NIC hands
//! them over, each classified once (Ethernet/IPv4/UDP, both checksums), the
//! primary sequencer's fresh messages warmed together (what `boot`'s
//! `warm_feed_batch` does, with the same calls), then every packet through
//! the MoldUDP64 sequencer and every message through `Pipeline::on_itch`
//! one at a time, as the appliance's polling loop runs them. No strategy is
//! hosted: this is the cost of keeping the book, the work every message
//! pays before any decision.
//!
//! A batch of `B` frames is what a receive ring holds when the feed runs
//! ahead of the loop (a burst); `B = 1` is a loop that keeps up, where
//! nothing can be warmed. Each run starts from an empty book on the same
//! day; the plain and warmed runs alternate, and each reports the thread
//! CPU time and wall time per message. The book's tables come from
//! `hugealloc` (2 MiB pages, prefaulted), as the appliance maps them.
//!
//! ```text
//! cargo run --release -p feedgen --bin feedgen -- --messages 20000000 --quiet --pcap /tmp/day20m.pcap
//! cargo run --release -p pipeline --example feed_loop -- /tmp/day20m.pcap [batch 32] [rounds 2] [plain|warmed|both]
//! ```

use std::time::Instant;

use book::{Book, BookConfig};
use feedgen::pcap::{PcapReader, FEED_GROUP};
use gateway::oms::{Oms, OmsConfig, Outbound};
use pipeline::Pipeline;
use protocol::filter::{Datagram, Filter};
use protocol::itch::Message;
use protocol::moldudp64::{Config, Endpoint, Line, Packet, PacketKind, Sequencer};
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
    let several = match datagrams {
        [] => false,
        [Some(d)] => Packet::new_checked(d.payload)
            .is_ok_and(|p| matches!(p.kind(), PacketKind::Data(n) if n > 1)),
        [_] => false,
        _ => true,
    };
    if !several {
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

fn run(frames: &[&[u8]], batch: usize, warmed: bool) -> Run {
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
    let wall = Instant::now();
    let cpu = hugealloc::thread_cpu_ns();
    for chunk in frames.chunks(batch) {
        let mut datagrams: heapless::Vec<Option<Datagram<'_>>, MAX_BATCH> = heapless::Vec::new();
        for frame in chunk {
            let _ = datagrams.push(filter.process(frame));
        }
        if warmed {
            warmed_count += warm(&pipeline, &seq, &datagrams) as u64;
        }
        for d in datagrams.iter().flatten() {
            seq.on_packet(Line::A, d.payload, now, &mut |_, msg| {
                if let Ok(m) = Message::parse(msg) {
                    pipeline.on_itch(&m, now, &mut send);
                }
            });
        }
    }
    let cpu_ns = hugealloc::thread_cpu_ns() - cpu;
    let wall_ns = wall.elapsed().as_nanos() as u64;
    let stats = pipeline.stats();
    Run {
        messages: stats.messages,
        warmed: warmed_count,
        cpu_ns,
        wall_ns,
        anomalies: stats.book_anomalies,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: feed_loop <day.pcap> [batch 1..=32] [rounds] [plain|warmed|both]");
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
    let modes: &[bool] = match args.get(4).map(String::as_str) {
        Some("plain") => &[false],
        Some("warmed") => &[true],
        _ => &[false, true],
    };
    for round in 0..rounds {
        for &warmed in modes {
            let r = run(&frames, batch, warmed);
            println!(
                "round {round} {:<6}: {} messages, {:.1}% warmed, thread CPU {:.1} ns/msg, wall {:.1} ns/msg, {} book anomalies",
                if warmed { "warmed" } else { "plain" },
                r.messages,
                100.0 * r.warmed as f64 / r.messages.max(1) as f64,
                r.cpu_ns as f64 / r.messages.max(1) as f64,
                r.wall_ns as f64 / r.messages.max(1) as f64,
                r.anomalies
            );
        }
    }
    if let Some(ghz) = hugealloc::core_clock_ghz(200) {
        println!("core speed {ghz:.2} GHz (dependent adds per ns)");
    }
}
