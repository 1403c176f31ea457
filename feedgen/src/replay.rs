//! Replay of a recorded day through decode and the L3 book.
//!
//! [`Replayer`] takes raw ITCH messages (from the NASDAQ file format or from
//! MoldUDP64 packets in a pcap), decodes each with
//! [`protocol::itch::Message::parse`], applies it to a [`book::Book`] and
//! counts what happened. Nothing allocates per message: the book's tables
//! are allocated once, the BBO CSV goes through a caller's buffered writer
//! with hand-formatted integers.
//!
//! Both input paths can run the book's prefetch pipeline (`*_prefetched`,
//! the CLI's `--prefetch`, default 4): a whole-market book is far larger
//! than the caches, so each order message is decoded once into a
//! [`book::Pending`] when it enters a lookahead ring, the book's prefetch
//! stages start its cache misses while earlier messages are applied, and it
//! is applied from the ring (on a generated 100 M-message day this roughly
//! halves the time per message). MoldUDP64 sequencing (duplicates skipped,
//! gaps counted) is shared by the pcap path and [`Replayer::on_packet`].
//! [`Replayer::enable_latency`] times every message ([`LatencyHistogram`]).
//!
//! # BBO CSV
//! With a writer attached, every `BookEvent::Bbo` the book reports (a change
//! of best price or of the size at it, on either side) becomes one line
//! `msg_index,locate,stock,bid_px,bid_qty,ask_px,ask_qty`:
//! `msg_index` is the 1-based index of the message in the input (every
//! message counts, including unknown or malformed ones); prices are price4
//! integers (`1234500` = $123.45); an empty side leaves its price and
//! quantity fields empty (`…,1234500,300,,`). `stock` is the symbol from the
//! locate's `R` message, trailing spaces removed, empty if none was seen;
//! bytes other than printable ASCII, `,` and `"` are written as `?`.
//!
//! # Depth file
//! [`Replayer::write_depth`] writes `locate,stock,side,level,price,qty,orders`
//! for the best `n` levels of each side of every locate that has any,
//! bids (`B`) then asks (`S`), level 1 = best.

use std::io::{self, Write};

use book::{
    Book, BookConfig, BookEvent, DepthView, EventSink, Level, Pending, Side, PREFETCH_STAGES,
};
use protocol::filter::{Filter, Subscription};
use protocol::itch::{FileReader, Message};
use protocol::moldudp64::{self, Packet, PacketKind};
use types::Symbol;

/// What a replay saw, beyond the book's own [`book::Counters`].
#[derive(Debug, Clone)]
pub struct ReplayCounters {
    /// Messages handed to the replayer (the last message's index).
    pub messages: u64,
    /// Decoded messages by type byte.
    pub per_type: [u64; 256],
    /// Well-formed framing but a type byte outside ITCH 5.0: skipped.
    pub unknown: u64,
    /// Wrong length for its type or invalid field: skipped.
    pub malformed: u64,
    /// A NASDAQ-format file that ends inside a length prefix or message.
    pub truncated_tail: u64,
    /// BBO changes reported by the book.
    pub bbo_changes: u64,
    /// pcap input: records read, frames the filter dropped, unreadable
    /// records, MoldUDP64 packets that failed to parse, heartbeats and
    /// end-of-session packets, messages missing (sequence gaps) and
    /// messages already seen (duplicates, skipped).
    pub frames: u64,
    pub frames_dropped: u64,
    pub pcap_errors: u64,
    pub mold_errors: u64,
    pub heartbeats: u64,
    pub end_of_session: u64,
    pub gap_messages: u64,
    pub duplicate_messages: u64,
}

impl Default for ReplayCounters {
    fn default() -> Self {
        ReplayCounters {
            messages: 0,
            per_type: [0; 256],
            unknown: 0,
            malformed: 0,
            truncated_tail: 0,
            bbo_changes: 0,
            frames: 0,
            frames_dropped: 0,
            pcap_errors: 0,
            mold_errors: 0,
            heartbeats: 0,
            end_of_session: 0,
            gap_messages: 0,
            duplicate_messages: 0,
        }
    }
}

/// Total of the book's anomaly counters (everything but activity and
/// high-water marks).
pub fn book_anomalies(c: &book::Counters) -> u64 {
    c.unknown_order
        + c.duplicate_order
        + c.negative_quantity
        + c.zero_quantity
        + c.bad_price
        + c.bad_locate
        + c.crossed_book
        + c.order_table_full
        + c.level_pool_full
        + c.events_dropped
}

/// Appends the decimal digits of `v`.
#[inline]
fn push_u64(line: &mut [u8; 128], at: &mut usize, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for i in (0..n).rev() {
        line[*at] = digits[i];
        *at += 1;
    }
}

#[inline]
fn push_byte(line: &mut [u8; 128], at: &mut usize, b: u8) {
    line[*at] = b;
    *at += 1;
}

fn push_symbol(line: &mut [u8; 128], at: &mut usize, symbol: &Symbol) {
    let bytes = &symbol.0;
    let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    for &b in &bytes[..end] {
        let safe = if b.is_ascii_graphic() && b != b',' && b != b'"' {
            b
        } else {
            b'?'
        };
        push_byte(line, at, safe);
    }
}

fn push_level(line: &mut [u8; 128], at: &mut usize, level: Option<Level>) {
    if let Some(l) = level {
        // Book prices are within 0..=u32::MAX (ITCH price4).
        push_u64(line, at, l.price.0.max(0) as u64);
        push_byte(line, at, b',');
        push_u64(line, at, l.qty);
    } else {
        push_byte(line, at, b',');
    }
}

/// Event sink that counts BBO changes and optionally writes them as CSV.
struct BboSink<'a, W: Write> {
    out: Option<&'a mut W>,
    index: u64,
    symbols: &'a [Symbol],
    changes: &'a mut u64,
    error: &'a mut Option<io::Error>,
}

impl<W: Write> BboSink<'_, W> {
    /// Formats and writes one CSV line (kept out of the per-message path).
    #[inline(never)]
    #[cold]
    fn write_line(&mut self, locate: u16, bbo: book::Bbo) {
        let Some(out) = self.out.as_deref_mut() else {
            return;
        };
        if self.error.is_some() {
            return;
        }
        let mut line = [0u8; 128];
        let mut at = 0;
        push_u64(&mut line, &mut at, self.index);
        push_byte(&mut line, &mut at, b',');
        push_u64(&mut line, &mut at, u64::from(locate));
        push_byte(&mut line, &mut at, b',');
        if let Some(s) = self.symbols.get(usize::from(locate)) {
            push_symbol(&mut line, &mut at, s);
        }
        push_byte(&mut line, &mut at, b',');
        push_level(&mut line, &mut at, bbo.bid);
        push_byte(&mut line, &mut at, b',');
        push_level(&mut line, &mut at, bbo.ask);
        push_byte(&mut line, &mut at, b'\n');
        if let Err(e) = out.write_all(&line[..at]) {
            *self.error = Some(e);
        }
    }
}

impl<W: Write> EventSink for BboSink<'_, W> {
    #[inline(always)]
    fn push(&mut self, event: BookEvent) -> bool {
        if let BookEvent::Bbo { locate, bbo, .. } = event {
            *self.changes += 1;
            if self.out.is_some() {
                self.write_line(locate, bbo);
            }
        }
        true
    }
}

/// Largest prefetch distance of [`Replayer::replay_nasdaq_prefetched`].
pub const MAX_PREFETCH_DISTANCE: usize = 16;
/// Lookahead ring: a power of two above `PREFETCH_STAGES × MAX_PREFETCH_DISTANCE`.
const RING: usize = 64;
const _: () = assert!(RING > PREFETCH_STAGES as usize * MAX_PREFETCH_DISTANCE);

/// A message as the decoder left it.
#[derive(Clone, Copy)]
enum Parsed<'a> {
    Message(Message<'a>),
    /// Well-framed, type byte outside ITCH 5.0.
    Unknown,
    /// Wrong length for its type or an invalid field.
    Malformed,
}

impl<'a> Parsed<'a> {
    #[inline(always)]
    fn parse(bytes: &'a [u8]) -> Parsed<'a> {
        match Message::parse(bytes) {
            Ok(Message::Unknown(_)) => Parsed::Unknown,
            Ok(m) => Parsed::Message(m),
            Err(_) => Parsed::Malformed,
        }
    }
}

/// A message waiting in the lookahead ring: its bytes and, for adds,
/// executions, cancels, deletes and replaces, the book operation decoded
/// once with its prefetch progress (empty for every other message, which
/// is decoded again when applied).
#[derive(Clone, Copy)]
struct Ahead<'a> {
    pending: Pending,
    bytes: &'a [u8],
}

const NOTHING_AHEAD: Ahead<'static> = Ahead {
    pending: Pending::NONE,
    bytes: &[],
};

/// Cycles between the starts of consecutive messages of a replay loop (all
/// a message costs there: framing, decode, the prefetch stages it issues,
/// applying it). One `rdtsc` per message.
pub struct LatencyHistogram {
    /// Exact counts below `LINEAR` cycles, then one bucket per power of two.
    linear: Box<[u64]>,
    log: [u64; 64],
    n: u64,
    sum: u64,
    max: u64,
}

const LINEAR: usize = 1 << 14;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            linear: vec![0; LINEAR].into_boxed_slice(),
            log: [0; 64],
            n: 0,
            sum: 0,
            max: 0,
        }
    }
}

impl LatencyHistogram {
    /// A histogram that is never read (the untimed loop's placeholder).
    fn empty() -> LatencyHistogram {
        LatencyHistogram {
            linear: Box::default(),
            log: [0; 64],
            n: 0,
            sum: 0,
            max: 0,
        }
    }

    #[inline(always)]
    fn record(&mut self, cycles: u64) {
        match self.linear.get_mut(cycles as usize) {
            Some(count) => *count += 1,
            None => self.log[63 - cycles.leading_zeros() as usize] += 1,
        }
        self.n += 1;
        self.sum += cycles;
        self.max = self.max.max(cycles);
    }

    /// Messages timed.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// Mean cycles per message.
    pub fn mean(&self) -> f64 {
        self.sum as f64 / self.n.max(1) as f64
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The smallest cycle count with at least `q` of the messages at or
    /// below it (above 16,384 cycles: the lower end of its power-of-two
    /// bucket).
    pub fn quantile(&self, q: f64) -> u64 {
        let target = ((self.n as f64 * q).ceil() as u64).max(1);
        let mut seen = 0;
        for (cycles, &count) in self.linear.iter().enumerate() {
            seen += count;
            if seen >= target {
                return cycles as u64;
            }
        }
        for (bit, &count) in self.log.iter().enumerate() {
            seen += count;
            if seen >= target {
                return 1 << bit;
            }
        }
        self.max
    }
}

/// Header line of the BBO CSV.
pub const BBO_CSV_HEADER: &str = "msg_index,locate,stock,bid_px,bid_qty,ask_px,ask_qty\n";
/// Header line of the depth CSV.
pub const DEPTH_CSV_HEADER: &str = "locate,stock,side,level,price,qty,orders\n";

/// The not-yet-applied messages of one MoldUDP64 packet, with sequencing
/// against the next expected sequence number (shared across packets).
/// MoldUDP64 message blocks use the NASDAQ file framing, so a
/// [`FileReader`] over the payload after the header walks them.
struct PacketMessages<'a> {
    blocks: FileReader<'a>,
    remaining: u16,
    sequence: u64,
}

impl<'a> PacketMessages<'a> {
    fn empty() -> PacketMessages<'a> {
        PacketMessages {
            blocks: FileReader::new(&[]),
            remaining: 0,
            sequence: 0,
        }
    }

    /// Validates the header, counts heartbeats, end of session and gaps.
    fn open(
        payload: &'a [u8],
        next_sequence: &mut Option<u64>,
        counters: &mut ReplayCounters,
    ) -> PacketMessages<'a> {
        let Ok(packet) = Packet::new_checked(payload) else {
            counters.mold_errors += 1;
            return PacketMessages::empty();
        };
        let count = match packet.kind() {
            PacketKind::Heartbeat => {
                counters.heartbeats += 1;
                return PacketMessages::empty();
            }
            PacketKind::EndOfSession => {
                counters.end_of_session += 1;
                return PacketMessages::empty();
            }
            PacketKind::Data(n) => n,
        };
        let first = packet.sequence();
        let expected = *next_sequence.get_or_insert(first);
        if first > expected {
            counters.gap_messages += first - expected;
            *next_sequence = Some(first);
        }
        PacketMessages {
            blocks: FileReader::new(payload.get(moldudp64::HEADER_LEN..).unwrap_or(&[])),
            remaining: count,
            sequence: first,
        }
    }

    /// The next message not seen before, if the packet has one.
    fn next(
        &mut self,
        next_sequence: &mut Option<u64>,
        counters: &mut ReplayCounters,
    ) -> Option<&'a [u8]> {
        while self.remaining > 0 {
            self.remaining -= 1;
            let seq = self.sequence;
            self.sequence = self.sequence.wrapping_add(1);
            match self.blocks.next() {
                Some(Ok(msg)) => {
                    if next_sequence.is_some_and(|next| seq < next) {
                        counters.duplicate_messages += 1;
                    } else {
                        *next_sequence = Some(seq.wrapping_add(1));
                        return Some(msg);
                    }
                }
                _ => {
                    counters.mold_errors += 1;
                    self.remaining = 0;
                }
            }
        }
        None
    }
}

/// What [`Replayer::finish`] hands back.
pub struct Finished<W> {
    pub book: Book,
    pub counters: ReplayCounters,
    pub bbo_out: Option<W>,
}

/// Decode + book over a stream of messages; see the module documentation.
pub struct Replayer<W: Write> {
    book: Book,
    counters: ReplayCounters,
    symbols: Vec<Symbol>,
    bbo_out: Option<W>,
    error: Option<io::Error>,
    next_sequence: Option<u64>,
    latency: Option<Box<LatencyHistogram>>,
}

impl<W: Write> Replayer<W> {
    /// A replayer with a book of the given capacity; with `bbo_out`, the BBO
    /// CSV header is written at once and a line per BBO change follows.
    pub fn new(config: BookConfig, mut bbo_out: Option<W>) -> io::Result<Self> {
        if let Some(out) = bbo_out.as_mut() {
            out.write_all(BBO_CSV_HEADER.as_bytes())?;
        }
        Ok(Replayer {
            book: Book::with_capacity(config),
            counters: ReplayCounters::default(),
            symbols: vec![Symbol([b' '; 8]); book::LOCATES],
            bbo_out,
            error: None,
            next_sequence: None,
            latency: None,
        })
    }

    /// From now on, time every message of the replay loops (one `rdtsc` per
    /// message; see [`LatencyHistogram`]).
    pub fn enable_latency(&mut self) {
        self.latency.get_or_insert_with(Box::default);
    }

    /// The per-message cycle distribution, if enabled.
    pub fn latency(&self) -> Option<&LatencyHistogram> {
        self.latency.as_deref()
    }

    pub fn book(&self) -> &Book {
        &self.book
    }

    pub fn counters(&self) -> &ReplayCounters {
        &self.counters
    }

    /// Decodes and applies one message (bytes without a length prefix).
    #[inline]
    pub fn on_message(&mut self, bytes: &[u8]) {
        self.on_parsed(Parsed::parse(bytes));
    }

    /// Applies a message that went through the lookahead ring.
    #[inline(always)]
    fn on_ahead(&mut self, entry: &Ahead<'_>) {
        if entry.pending.is_empty() {
            self.on_message(entry.bytes);
            return;
        }
        self.counters.messages += 1;
        let msg_type = entry.bytes.first().copied().unwrap_or(0);
        self.counters.per_type[usize::from(msg_type)] += 1;
        let mut sink = BboSink {
            out: self.bbo_out.as_mut(),
            index: self.counters.messages,
            symbols: &self.symbols,
            changes: &mut self.counters.bbo_changes,
            error: &mut self.error,
        };
        // Anomalies are counted by the book itself.
        let _ = self.book.apply(&entry.pending, &mut sink);
    }

    /// Decodes a message into a ring entry and runs prefetch stage 0.
    #[inline(always)]
    fn enter<'a>(&self, entry: &mut Ahead<'a>, bytes: &'a [u8]) {
        entry.bytes = bytes;
        entry.pending = book::itch::pending_from_bytes(bytes).unwrap_or(Pending::NONE);
        self.book.prefetch(&mut entry.pending, 0);
    }

    #[inline(always)]
    fn on_parsed(&mut self, parsed: Parsed<'_>) {
        self.counters.messages += 1;
        let msg = match parsed {
            Parsed::Message(m) => m,
            Parsed::Unknown => {
                self.counters.unknown += 1;
                return;
            }
            Parsed::Malformed => {
                self.counters.malformed += 1;
                return;
            }
        };
        self.counters.per_type[usize::from(msg.msg_type())] += 1;
        if let Message::StockDirectory(d) = &msg {
            self.symbols[usize::from(d.stock_locate())] = d.stock();
        }
        let mut sink = BboSink {
            out: self.bbo_out.as_mut(),
            index: self.counters.messages,
            symbols: &self.symbols,
            changes: &mut self.counters.bbo_changes,
            error: &mut self.error,
        };
        // Anomalies are counted by the book itself.
        let _ = self.book.apply_itch(&msg, &mut sink);
    }

    /// Replays a whole NASDAQ-format file.
    pub fn replay_nasdaq(&mut self, data: &[u8]) {
        self.replay_nasdaq_prefetched(data, 0);
    }

    /// Replays a whole NASDAQ-format file with the book's prefetch pipeline:
    /// while message `i` is applied, message `i + 3d` is decoded and its
    /// first cache lines prefetched, and stages 1 and 2 run for messages
    /// `i + 2d` and `i + d` (see [`Book::prefetch`]). `distance` 0 means no
    /// prefetching; otherwise it is clamped to [`MAX_PREFETCH_DISTANCE`] and
    /// rounded down to a power of two. Results are identical.
    pub fn replay_nasdaq_prefetched(&mut self, data: &[u8], distance: usize) {
        let mut reader = FileReader::new(data);
        self.run(
            |counters| loop {
                match reader.next()? {
                    Ok(msg) => return Some(msg),
                    Err(_) => counters.truncated_tail += 1,
                }
            },
            distance,
        );
    }

    /// Replays the MoldUDP64 packets of one feed (`feed`) in a pcap file:
    /// frames of other groups are dropped, duplicate messages (A/B lines,
    /// retransmissions) skipped, gaps counted.
    pub fn replay_pcap(
        &mut self,
        data: &[u8],
        feed: Subscription,
    ) -> Result<(), crate::pcap::PcapError> {
        self.replay_pcap_prefetched(data, feed, 0)
    }

    /// [`Replayer::replay_pcap`] with the prefetch pipeline across packets.
    pub fn replay_pcap_prefetched(
        &mut self,
        data: &[u8],
        feed: Subscription,
        distance: usize,
    ) -> Result<(), crate::pcap::PcapError> {
        let mut reader = crate::pcap::PcapReader::new(data)?;
        let mut filter = Filter::<1>::new();
        // A one-entry table cannot be full.
        let _ = filter.subscribe(feed);
        let mut next_sequence = self.next_sequence;
        let mut packet = PacketMessages::empty();
        self.run(
            |counters| loop {
                if let Some(msg) = packet.next(&mut next_sequence, counters) {
                    return Some(msg);
                }
                let record = match reader.next()? {
                    Ok(r) => r,
                    Err(_) => {
                        counters.pcap_errors += 1;
                        continue;
                    }
                };
                counters.frames += 1;
                match filter.classify(record.frame) {
                    Ok(datagram) => {
                        packet =
                            PacketMessages::open(datagram.payload, &mut next_sequence, counters)
                    }
                    Err(_) => counters.frames_dropped += 1,
                }
            },
            distance,
        );
        self.next_sequence = next_sequence;
        Ok(())
    }

    /// Applies the messages of one MoldUDP64 packet in sequence order
    /// (duplicates skipped, gaps counted, across calls).
    pub fn on_packet(&mut self, payload: &[u8]) {
        let mut next_sequence = self.next_sequence;
        let mut packet = PacketMessages::open(payload, &mut next_sequence, &mut self.counters);
        while let Some(msg) = packet.next(&mut next_sequence, &mut self.counters) {
            self.on_message(msg);
        }
        self.next_sequence = next_sequence;
    }

    /// Drives decode + book over a message source. With `distance` d > 0,
    /// each message is decoded once when it enters a lookahead ring
    /// `PREFETCH_STAGES·d` messages ahead of the one being applied, and
    /// while message `i` is applied, prefetch stage `s` runs for message
    /// `i + (PREFETCH_STAGES − s)·d` (see [`Book::prefetch`]), so the
    /// dependent cache misses of several messages overlap. Distances are
    /// clamped to [`MAX_PREFETCH_DISTANCE`] and rounded down to a power of
    /// two (each is its own compiled loop). Results are identical either
    /// way: prefetching never changes the book. `next` yields message bytes
    /// and counts what it skips.
    fn run<'a, F>(&mut self, next: F, distance: usize)
    where
        F: FnMut(&mut ReplayCounters) -> Option<&'a [u8]>,
    {
        match self.latency.take() {
            Some(mut latency) => {
                self.run_loop::<F, true>(next, distance, &mut latency);
                self.latency = Some(latency);
            }
            None => self.run_loop::<F, false>(next, distance, &mut LatencyHistogram::empty()),
        }
    }

    #[inline(always)]
    fn run_loop<'a, F, const TIMED: bool>(
        &mut self,
        mut next: F,
        distance: usize,
        latency: &mut LatencyHistogram,
    ) where
        F: FnMut(&mut ReplayCounters) -> Option<&'a [u8]>,
    {
        let mut last = if TIMED { hugealloc::tsc() } else { 0 };
        let mut tick = |latency: &mut LatencyHistogram| {
            if TIMED {
                let now = hugealloc::tsc();
                latency.record(now.wrapping_sub(last));
                last = now;
            }
        };
        if distance == 0 {
            while let Some(msg) = next(&mut self.counters) {
                self.on_message(msg);
                tick(latency);
            }
            return;
        }
        match distance.min(MAX_PREFETCH_DISTANCE) {
            1 => self.pipelined::<F, TIMED, 1>(next, latency, tick),
            2..=3 => self.pipelined::<F, TIMED, 2>(next, latency, tick),
            4..=7 => self.pipelined::<F, TIMED, 4>(next, latency, tick),
            8..=15 => self.pipelined::<F, TIMED, 8>(next, latency, tick),
            _ => self.pipelined::<F, TIMED, 16>(next, latency, tick),
        }
    }

    /// The pipelined loop for distance `D`: message `i + 3·D` is decoded
    /// (and its stage 0 run) while message `i` is applied, stage 1 runs for
    /// `i + 2·D` and stage 2 for `i + D`.
    #[inline(always)]
    fn pipelined<'a, F, const TIMED: bool, const D: usize>(
        &mut self,
        mut next: F,
        latency: &mut LatencyHistogram,
        mut tick: impl FnMut(&mut LatencyHistogram),
    ) where
        F: FnMut(&mut ReplayCounters) -> Option<&'a [u8]>,
    {
        const { assert!(PREFETCH_STAGES == 3 && 3 * D < RING) };
        let mut ring: [Ahead<'a>; RING] = [NOTHING_AHEAD; RING];
        let mut read = 0usize;
        while read < 3 * D {
            let Some(bytes) = next(&mut self.counters) else {
                break;
            };
            self.enter(&mut ring[read % RING], bytes);
            read += 1;
        }
        let mut exhausted = read < 3 * D;
        let mut applied = 0usize;
        while applied < read {
            if !exhausted {
                match next(&mut self.counters) {
                    Some(bytes) => {
                        self.enter(&mut ring[read % RING], bytes);
                        read += 1;
                    }
                    None => exhausted = true,
                }
            }
            if applied + 2 * D < read {
                self.book
                    .prefetch(&mut ring[(applied + 2 * D) % RING].pending, 1);
            }
            if applied + D < read {
                self.book
                    .prefetch(&mut ring[(applied + D) % RING].pending, 2);
            }
            self.on_ahead(&ring[applied % RING]);
            applied += 1;
            tick(latency);
        }
    }

    /// Writes the best `n` levels per side of every locate with a book.
    pub fn write_depth<O: Write>(&self, n: usize, out: &mut O) -> io::Result<()> {
        out.write_all(DEPTH_CSV_HEADER.as_bytes())?;
        let mut levels = vec![Level::default(); n];
        for locate in 1..book::LOCATES {
            let locate = locate as u16;
            for (side, code) in [(Side::Buy, b'B'), (Side::Sell, b'S')] {
                let count = self.book.depth(locate, side, &mut levels);
                for (i, l) in levels[..count].iter().enumerate() {
                    let mut line = [0u8; 128];
                    let mut at = 0;
                    push_u64(&mut line, &mut at, u64::from(locate));
                    push_byte(&mut line, &mut at, b',');
                    push_symbol(&mut line, &mut at, &self.symbols[usize::from(locate)]);
                    push_byte(&mut line, &mut at, b',');
                    push_byte(&mut line, &mut at, code);
                    push_byte(&mut line, &mut at, b',');
                    push_u64(&mut line, &mut at, i as u64 + 1);
                    push_byte(&mut line, &mut at, b',');
                    push_level(&mut line, &mut at, Some(*l));
                    push_byte(&mut line, &mut at, b',');
                    push_u64(&mut line, &mut at, u64::from(l.orders));
                    push_byte(&mut line, &mut at, b'\n');
                    out.write_all(&line[..at])?;
                }
            }
        }
        out.flush()
    }

    /// Flushes the BBO CSV, reports the first write error, if any, and hands
    /// back the book, the counters and the CSV writer.
    pub fn finish(mut self) -> io::Result<Finished<W>> {
        self.flush()?;
        Ok(Finished {
            book: self.book,
            counters: self.counters,
            bbo_out: self.bbo_out,
        })
    }

    /// Flushes the BBO CSV and reports the first write error, if any, keeping
    /// the replayer (for writing depth afterwards).
    pub fn flush(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(out) = self.bbo_out.as_mut() {
            out.flush()?;
        }
        Ok(())
    }
}

/// Maps a whole file into memory read-only.
#[allow(unsafe_code)]
pub fn map_file(file: &std::fs::File) -> io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process; the
    // replay tool documents that its input must not be truncated or
    // rewritten while it runs (the usual contract of mmap-based readers).
    // Concurrent appends are harmless: the map's length is fixed here.
    let map = unsafe { memmap2::Mmap::map(file) }?;
    // Replays read front to back: let the kernel read ahead aggressively.
    // Advice is only a hint, so a refusal changes nothing and is ignored.
    #[cfg(unix)]
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_format_like_display() {
        for v in [0u64, 7, 10, 99, 1_234_500, u64::MAX] {
            let mut line = [0u8; 128];
            let mut at = 0;
            push_u64(&mut line, &mut at, v);
            assert_eq!(&line[..at], v.to_string().as_bytes());
        }
    }

    #[test]
    fn symbols_are_trimmed_and_sanitised() {
        let mut line = [0u8; 128];
        let mut at = 0;
        push_symbol(&mut line, &mut at, &Symbol(*b"A,\"B \xffC "));
        assert_eq!(&line[..at], b"A??B??C");
    }
}
