//! Typed snapshots carried in seqlock blocks.
//!
//! Every snapshot payload is `count, fixed words…, records…`: a fixed part
//! whose size depends only on the kind, then `count` records of a fixed word
//! size. Decoding checks `count` against both the capacity and the words
//! actually present, and every enum/text field against its domain, so a
//! garbage payload (that somehow passed the checksum) yields
//! [`SnapshotError::Malformed`], never a panic.

use super::histogram::{LatencyHistogram, BUCKETS};
use super::layout::ApplianceState;
use super::seqlock::{SnapshotError, WordSink};
use types::{OrderId, Price, Side, StockLocate, StrategyId, Symbol, VenueId};

/// Cores described in the status snapshot.
pub const MAX_CORES: usize = 16;
/// NICs described in the status snapshot.
pub const MAX_NICS: usize = 4;
/// Bytes of text in a panic/fault report.
pub const PANIC_TEXT_BYTES: usize = 1024;
pub(crate) const STATUS_RECORDS: usize = 1;
pub(crate) const PANIC_RECORDS: usize = 1;

/// The snapshot kinds and their shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotKind {
    Status,
    Panic,
    Positions,
    Orders,
    Risk,
    Counters,
    Latency,
}

impl SnapshotKind {
    pub const fn fixed_words(self) -> usize {
        match self {
            SnapshotKind::Status | SnapshotKind::Panic => 0,
            SnapshotKind::Risk => RISK_FIXED_WORDS,
            _ => 0,
        }
    }

    pub const fn record_words(self) -> usize {
        match self {
            SnapshotKind::Status => StatusSnapshot::WORDS,
            SnapshotKind::Panic => PanicReport::WORDS,
            SnapshotKind::Positions => Position::WORDS,
            SnapshotKind::Orders => OpenOrder::WORDS,
            SnapshotKind::Risk => RiskLimit::WORDS,
            SnapshotKind::Counters => Counter::WORDS,
            SnapshotKind::Latency => StageLatency::WORDS,
        }
    }

    /// Payload words for `records` records (count word included).
    pub const fn capacity_words(self, records: usize) -> usize {
        1 + self.fixed_words() + records * self.record_words()
    }

    /// Kinds that always hold exactly this many records.
    pub const fn fixed_capacity(self) -> Option<usize> {
        match self {
            SnapshotKind::Status => Some(STATUS_RECORDS),
            SnapshotKind::Panic => Some(PANIC_RECORDS),
            _ => None,
        }
    }
}

/// A short ASCII/UTF-8 name (stage, counter, limit), NUL-padded to 16 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Label(pub [u8; 16]);

impl Label {
    /// Takes at most 16 bytes of `text`, cut on a character boundary (and at
    /// the first NUL, which is the padding byte).
    pub fn new(text: &str) -> Label {
        let mut end = text.find('\0').unwrap_or(text.len()).min(16);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut out = [0u8; 16];
        out[..end].copy_from_slice(&text.as_bytes()[..end]);
        Label(out)
    }

    /// The text; `None` if the bytes are not UTF-8 (garbage from the region).
    pub fn as_str(&self) -> Option<&str> {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(16);
        core::str::from_utf8(&self.0[..end]).ok()
    }

    fn words(&self) -> [u64; 2] {
        let (a, b) = self.0.split_at(8);
        [
            u64::from_le_bytes(a.try_into().unwrap_or([0; 8])),
            u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
        ]
    }

    fn from_words(a: u64, b: u64) -> Result<Label, SnapshotError> {
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&a.to_le_bytes());
        out[8..].copy_from_slice(&b.to_le_bytes());
        let l = Label(out);
        // Names end up on operators' terminals and in metrics: no control
        // characters (escape sequences, newlines), and nothing after the NUL padding.
        let text = l.as_str().ok_or(SnapshotError::Malformed)?;
        let padding_clean = out[text.len()..].iter().all(|&b| b == 0);
        if text.chars().any(char::is_control) || !padding_clean {
            return Err(SnapshotError::Malformed);
        }
        Ok(l)
    }
}

impl core::fmt::Debug for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_str().unwrap_or("?"))
    }
}

impl core::fmt::Display for Label {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str().unwrap_or("?"))
    }
}

fn symbol_word(s: &Symbol) -> u64 {
    u64::from_le_bytes(s.0)
}

fn symbol_from_word(w: u64) -> Result<Symbol, SnapshotError> {
    let bytes = w.to_le_bytes();
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        Ok(Symbol(bytes))
    } else {
        Err(SnapshotError::Malformed)
    }
}

/// A fixed-size record in a snapshot.
pub trait Record: Sized {
    const WORDS: usize;
    fn encode(&self, sink: &mut WordSink<'_>);
    /// `words.len() == Self::WORDS` is guaranteed by the caller.
    fn decode(words: &[u64]) -> Result<Self, SnapshotError>;
}

fn word(words: &[u64], i: usize) -> Result<u64, SnapshotError> {
    words.get(i).copied().ok_or(SnapshotError::Malformed)
}

/// Publishes `fixed` words then `records` (dropping records past `capacity`).
pub fn encode_records<R: Record>(
    sink: &mut WordSink<'_>,
    fixed: &[u64],
    records: &[R],
    capacity: usize,
) {
    let n = records.len().min(capacity);
    sink.push(n as u64);
    fixed.iter().for_each(|&w| sink.push(w));
    records.iter().take(n).for_each(|r| r.encode(sink));
}

/// A decoded-on-demand view of a records snapshot.
#[derive(Debug, Clone, Copy)]
pub struct RecordsView<'a, R> {
    pub fixed: &'a [u64],
    records: &'a [u64],
    _kind: core::marker::PhantomData<R>,
}

impl<'a, R: Record> RecordsView<'a, R> {
    /// Splits a payload read by [`super::seqlock::read`]; checks the count.
    pub fn parse(
        words: &'a [u64],
        fixed_words: usize,
        capacity: usize,
    ) -> Result<Self, SnapshotError> {
        let count = usize::try_from(word(words, 0)?).map_err(|_| SnapshotError::Malformed)?;
        if count > capacity {
            return Err(SnapshotError::Malformed);
        }
        let fixed = words
            .get(1..1 + fixed_words)
            .ok_or(SnapshotError::Malformed)?;
        let start = 1 + fixed_words;
        let len = count
            .checked_mul(R::WORDS)
            .ok_or(SnapshotError::Malformed)?;
        let records = words
            .get(start..start + len)
            .ok_or(SnapshotError::Malformed)?;
        Ok(RecordsView {
            fixed,
            records,
            _kind: core::marker::PhantomData,
        })
    }

    pub fn len(&self) -> usize {
        self.records.len() / R::WORDS.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn get(&self, i: usize) -> Result<R, SnapshotError> {
        let start = i.checked_mul(R::WORDS).ok_or(SnapshotError::Malformed)?;
        R::decode(
            self.records
                .get(start..start + R::WORDS)
                .ok_or(SnapshotError::Malformed)?,
        )
    }

    pub fn iter(&self) -> impl Iterator<Item = Result<R, SnapshotError>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// What one core is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoreState {
    #[default]
    Offline = 0,
    Idle = 1,
    Running = 2,
    /// Its heartbeat stopped advancing (the watchdog's view).
    Stalled = 3,
    Faulted = 4,
}

impl CoreState {
    fn from_word(w: u64) -> Result<CoreState, SnapshotError> {
        Ok(match w {
            0 => CoreState::Offline,
            1 => CoreState::Idle,
            2 => CoreState::Running,
            3 => CoreState::Stalled,
            4 => CoreState::Faulted,
            _ => return Err(SnapshotError::Malformed),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            CoreState::Offline => "offline",
            CoreState::Idle => "idle",
            CoreState::Running => "running",
            CoreState::Stalled => "stalled",
            CoreState::Faulted => "faulted",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CoreStatus {
    pub state: CoreState,
    pub heartbeat: u64,
    pub last_beat_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NicStatus {
    pub link_up: bool,
    pub speed_mbps: u32,
    pub mac: [u8; 6],
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub rx_errors: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
    pub tx_errors: u64,
}

/// Slow-changing appliance status (state and heartbeat live in the header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusSnapshot {
    pub uptime_ns: u64,
    pub config_generation: u64,
    pub core_count: usize,
    pub cores: [CoreStatus; MAX_CORES],
    pub nic_count: usize,
    pub nics: [NicStatus; MAX_NICS],
}

impl StatusSnapshot {
    pub fn cores(&self) -> &[CoreStatus] {
        &self.cores[..self.core_count.min(MAX_CORES)]
    }
    pub fn nics(&self) -> &[NicStatus] {
        &self.nics[..self.nic_count.min(MAX_NICS)]
    }
}

impl Record for StatusSnapshot {
    const WORDS: usize = 4 + MAX_CORES * 3 + MAX_NICS * 10;
    fn encode(&self, s: &mut WordSink<'_>) {
        s.push(self.uptime_ns);
        s.push(self.config_generation);
        s.push(self.core_count.min(MAX_CORES) as u64);
        s.push(self.nic_count.min(MAX_NICS) as u64);
        for c in &self.cores {
            s.push(c.state as u64);
            s.push(c.heartbeat);
            s.push(c.last_beat_ns);
        }
        for n in &self.nics {
            let mut mac = [0u8; 8];
            mac[..6].copy_from_slice(&n.mac);
            s.push(n.link_up as u64 | (n.speed_mbps as u64) << 8);
            s.push(u64::from_le_bytes(mac));
            for v in [
                n.rx_packets,
                n.rx_bytes,
                n.rx_dropped,
                n.rx_errors,
                n.tx_packets,
                n.tx_bytes,
                n.tx_dropped,
                n.tx_errors,
            ] {
                s.push(v);
            }
        }
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        let core_count = word(w, 2)? as usize;
        let nic_count = word(w, 3)? as usize;
        if core_count > MAX_CORES || nic_count > MAX_NICS {
            return Err(SnapshotError::Malformed);
        }
        let mut out = StatusSnapshot {
            uptime_ns: word(w, 0)?,
            config_generation: word(w, 1)?,
            core_count,
            nic_count,
            ..Default::default()
        };
        for (i, c) in out.cores.iter_mut().enumerate() {
            let b = 4 + i * 3;
            *c = CoreStatus {
                state: CoreState::from_word(word(w, b)?)?,
                heartbeat: word(w, b + 1)?,
                last_beat_ns: word(w, b + 2)?,
            };
        }
        for (i, n) in out.nics.iter_mut().enumerate() {
            let b = 4 + MAX_CORES * 3 + i * 10;
            let flags = word(w, b)?;
            if flags & 0xFE != 0 || flags >> 40 != 0 {
                return Err(SnapshotError::Malformed);
            }
            let mac = word(w, b + 1)?.to_le_bytes();
            let c = |k: usize| word(w, b + 2 + k);
            *n = NicStatus {
                link_up: flags & 1 == 1,
                speed_mbps: (flags >> 8) as u32,
                mac: [mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]],
                rx_packets: c(0)?,
                rx_bytes: c(1)?,
                rx_dropped: c(2)?,
                rx_errors: c(3)?,
                tx_packets: c(4)?,
                tx_bytes: c(5)?,
                tx_dropped: c(6)?,
                tx_errors: c(7)?,
            };
        }
        Ok(out)
    }
}

/// The last panic or CPU fault, written by the panic/fault handler.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PanicReport {
    pub kind: ApplianceState,
    pub core: u32,
    pub at_ns: u64,
    len: usize,
    text: [u8; PANIC_TEXT_BYTES],
}

impl core::fmt::Debug for PanicReport {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PanicReport")
            .field("kind", &self.kind)
            .field("core", &self.core)
            .field("at_ns", &self.at_ns)
            .field("text", &self.text())
            .finish()
    }
}

impl PanicReport {
    /// `text` is cut to [`PANIC_TEXT_BYTES`] on a character boundary.
    pub fn new(kind: ApplianceState, core: u32, at_ns: u64, text: &str) -> PanicReport {
        let mut end = text.len().min(PANIC_TEXT_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut buf = [0u8; PANIC_TEXT_BYTES];
        buf[..end].copy_from_slice(&text.as_bytes()[..end]);
        PanicReport {
            kind,
            core,
            at_ns,
            len: end,
            text: buf,
        }
    }

    /// The report text (valid UTF-8 prefix).
    pub fn text(&self) -> &str {
        let bytes = &self.text[..self.len.min(PANIC_TEXT_BYTES)];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }
}

impl Record for PanicReport {
    const WORDS: usize = 4 + PANIC_TEXT_BYTES / 8;
    fn encode(&self, s: &mut WordSink<'_>) {
        s.push(self.kind as u64);
        s.push(self.core as u64);
        s.push(self.at_ns);
        s.push(self.len as u64);
        for chunk in self.text.chunks(8) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            s.push(u64::from_le_bytes(b));
        }
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        let kind = ApplianceState::from_word(word(w, 0)?).ok_or(SnapshotError::Malformed)?;
        let len = word(w, 3)? as usize;
        if len > PANIC_TEXT_BYTES || word(w, 1)? > u32::MAX as u64 {
            return Err(SnapshotError::Malformed);
        }
        let mut text = [0u8; PANIC_TEXT_BYTES];
        for (i, chunk) in text.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&word(w, 4 + i)?.to_le_bytes());
        }
        Ok(PanicReport {
            kind,
            core: word(w, 1)? as u32,
            at_ns: word(w, 2)?,
            len,
            text,
        })
    }
}

/// Position in one instrument. Money is in price4 units (1/10000 of a currency unit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub locate: StockLocate,
    pub symbol: Symbol,
    /// Signed shares: positive long, negative short.
    pub qty: i64,
    pub avg_px: Price,
    pub realized_pnl: i64,
    pub unrealized_pnl: i64,
}

impl Record for Position {
    const WORDS: usize = 6;
    fn encode(&self, s: &mut WordSink<'_>) {
        s.push(self.locate as u64);
        s.push(symbol_word(&self.symbol));
        s.push(self.qty as u64);
        s.push(self.avg_px.0 as u64);
        s.push(self.realized_pnl as u64);
        s.push(self.unrealized_pnl as u64);
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        Ok(Position {
            locate: u16::try_from(word(w, 0)?).map_err(|_| SnapshotError::Malformed)?,
            symbol: symbol_from_word(word(w, 1)?)?,
            qty: word(w, 2)? as i64,
            avg_px: Price(word(w, 3)? as i64),
            realized_pnl: word(w, 4)? as i64,
            unrealized_pnl: word(w, 5)? as i64,
        })
    }
}

/// An order working at a venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOrder {
    pub id: OrderId,
    pub symbol: Symbol,
    pub locate: StockLocate,
    pub side: Side,
    pub strategy: StrategyId,
    pub venue: VenueId,
    pub price: Price,
    pub qty: u32,
    pub leaves: u32,
    pub entered_ns: u64,
}

impl Record for OpenOrder {
    const WORDS: usize = 6;
    fn encode(&self, s: &mut WordSink<'_>) {
        s.push(self.id.0);
        s.push(symbol_word(&self.symbol));
        s.push(
            self.locate as u64
                | (self.side.to_itch() as u64) << 16
                | (self.strategy.0 as u64) << 24
                | (self.venue.0 as u64) << 40,
        );
        s.push(self.price.0 as u64);
        s.push(self.qty as u64 | (self.leaves as u64) << 32);
        s.push(self.entered_ns);
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        let packed = word(w, 2)?;
        if packed >> 48 != 0 {
            return Err(SnapshotError::Malformed);
        }
        let sizes = word(w, 4)?;
        Ok(OpenOrder {
            id: OrderId(word(w, 0)?),
            symbol: symbol_from_word(word(w, 1)?)?,
            locate: packed as u16,
            side: Side::from_itch((packed >> 16) as u8).ok_or(SnapshotError::Malformed)?,
            strategy: StrategyId((packed >> 24) as u16),
            venue: VenueId((packed >> 40) as u8),
            price: Price(word(w, 3)? as i64),
            qty: sizes as u32,
            leaves: (sizes >> 32) as u32,
            entered_ns: word(w, 5)?,
        })
    }
}

const RISK_FIXED_WORDS: usize = 4;

/// Kill-switch state, the fixed part of the risk snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KillSwitch {
    pub engaged: bool,
    pub reason: Label,
    pub since_ns: u64,
}

impl KillSwitch {
    pub fn fixed_words(&self) -> [u64; RISK_FIXED_WORDS] {
        let r = self.reason.words();
        [self.engaged as u64, r[0], r[1], self.since_ns]
    }

    pub fn from_fixed(w: &[u64]) -> Result<KillSwitch, SnapshotError> {
        let engaged = match word(w, 0)? {
            0 => false,
            1 => true,
            _ => return Err(SnapshotError::Malformed),
        };
        Ok(KillSwitch {
            engaged,
            reason: Label::from_words(word(w, 1)?, word(w, 2)?)?,
            since_ns: word(w, 3)?,
        })
    }
}

/// One configured limit and how much of it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskLimit {
    pub name: Label,
    pub limit: i64,
    pub usage: i64,
}

impl Record for RiskLimit {
    const WORDS: usize = 4;
    fn encode(&self, s: &mut WordSink<'_>) {
        let n = self.name.words();
        [n[0], n[1], self.limit as u64, self.usage as u64]
            .into_iter()
            .for_each(|w| s.push(w));
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        Ok(RiskLimit {
            name: Label::from_words(word(w, 0)?, word(w, 1)?)?,
            limit: word(w, 2)? as i64,
            usage: word(w, 3)? as i64,
        })
    }
}

/// A named monotonic counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub name: Label,
    pub value: u64,
}

impl Record for Counter {
    const WORDS: usize = 3;
    fn encode(&self, s: &mut WordSink<'_>) {
        let n = self.name.words();
        [n[0], n[1], self.value].into_iter().for_each(|w| s.push(w));
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        Ok(Counter {
            name: Label::from_words(word(w, 0)?, word(w, 1)?)?,
            value: word(w, 2)?,
        })
    }
}

/// Latency histogram of one pipeline stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageLatency {
    pub name: Label,
    pub histogram: LatencyHistogram,
}

impl Record for StageLatency {
    const WORDS: usize = 5 + BUCKETS;
    fn encode(&self, s: &mut WordSink<'_>) {
        let n = self.name.words();
        let h = &self.histogram;
        [n[0], n[1], h.count, h.sum, h.max]
            .into_iter()
            .for_each(|w| s.push(w));
        h.buckets.iter().for_each(|&b| s.push(b));
    }
    fn decode(w: &[u64]) -> Result<Self, SnapshotError> {
        let mut h = LatencyHistogram {
            count: word(w, 2)?,
            sum: word(w, 3)?,
            max: word(w, 4)?,
            ..Default::default()
        };
        for (i, b) in h.buckets.iter_mut().enumerate() {
            *b = word(w, 5 + i)?;
        }
        Ok(StageLatency {
            name: Label::from_words(word(w, 0)?, word(w, 1)?)?,
            histogram: h,
        })
    }
}
