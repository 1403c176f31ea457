//! The region header: identity, appliance state words and the layout table
//! that tells the reader where every other part lives (offsets only).
//!
//! ```text
//! word  0 magic "TAMBOX\0\x01"     word  5 state (ApplianceState)
//! word  1 version                  word  6 heartbeat counter
//! word  2 total size (bytes)       word  7 heartbeat time (appliance ns since boot)
//! word  3 header size (bytes)      word  8 heartbeat TSC
//! word  4 boot id                  word  9 TSC frequency (Hz, 0 = unknown)
//! word 16 + 4*k  part k: offset, bytes, param0, param1      (k in Part order)
//! ```
//!
//! State and heartbeat are single words outside any seqlock so a panic
//! handler can set them even if it interrupted a snapshot publish.

use super::raw::{Region, WORD};
use super::ring::RingDesc;
use super::seqlock::{SnapshotDesc, SNAPSHOT_HEADER_WORDS};
use super::snapshot::{self, SnapshotKind};
use core::sync::atomic::Ordering;

pub const MAGIC: u64 = u64::from_le_bytes(*b"TAMBOX\0\x01");
/// 2: fill records carry the ExecID's key.
pub const VERSION: u64 = 2;
pub const HEADER_BYTES: usize = 512;
/// Parts start on cache-line boundaries.
pub const PART_ALIGN: usize = 64;

/// Byte offsets of the header words.
pub mod field {
    use super::WORD;
    pub const MAGIC: usize = 0;
    pub const VERSION: usize = WORD;
    pub const TOTAL_SIZE: usize = 2 * WORD;
    pub const HEADER_SIZE: usize = 3 * WORD;
    pub const BOOT_ID: usize = 4 * WORD;
    pub const STATE: usize = 5 * WORD;
    pub const HEARTBEAT: usize = 6 * WORD;
    pub const HEARTBEAT_NS: usize = 7 * WORD;
    pub const HEARTBEAT_TSC: usize = 8 * WORD;
    pub const TSC_HZ: usize = 9 * WORD;
    pub const PARTS: usize = 16 * WORD;
    pub const PART_WORDS: usize = 4;
}

/// The parts of the region, in layout-table order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Status,
    Panic,
    Commands,
    Replies,
    Logs,
    Positions,
    Orders,
    Risk,
    Counters,
    Latency,
}

impl Part {
    pub const ALL: [Part; 10] = [
        Part::Status,
        Part::Panic,
        Part::Commands,
        Part::Replies,
        Part::Logs,
        Part::Positions,
        Part::Orders,
        Part::Risk,
        Part::Counters,
        Part::Latency,
    ];

    fn snapshot_kind(self) -> Option<SnapshotKind> {
        Some(match self {
            Part::Status => SnapshotKind::Status,
            Part::Panic => SnapshotKind::Panic,
            Part::Positions => SnapshotKind::Positions,
            Part::Orders => SnapshotKind::Orders,
            Part::Risk => SnapshotKind::Risk,
            Part::Counters => SnapshotKind::Counters,
            Part::Latency => SnapshotKind::Latency,
            Part::Commands | Part::Replies | Part::Logs => return None,
        })
    }
}

/// Appliance life cycle, as published in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplianceState {
    Booting = 1,
    Running = 2,
    /// The kill switch is engaged: no new orders, open ones cancelled.
    Killed = 3,
    Panicked = 4,
    /// A CPU exception that was not a Rust panic.
    Faulted = 5,
}

impl ApplianceState {
    pub fn from_word(w: u64) -> Option<ApplianceState> {
        Some(match w {
            1 => ApplianceState::Booting,
            2 => ApplianceState::Running,
            3 => ApplianceState::Killed,
            4 => ApplianceState::Panicked,
            5 => ApplianceState::Faulted,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            ApplianceState::Booting => "booting",
            ApplianceState::Running => "running",
            ApplianceState::Killed => "killed",
            ApplianceState::Panicked => "panicked",
            ApplianceState::Faulted => "faulted",
        }
    }
}

/// Sizes chosen by the appliance when it formats the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutParams {
    pub command_slots: usize,
    pub command_slot_size: usize,
    pub reply_slots: usize,
    pub reply_slot_size: usize,
    pub log_slots: usize,
    pub log_slot_size: usize,
    pub max_positions: usize,
    pub max_orders: usize,
    pub max_risk_limits: usize,
    pub max_counters: usize,
    pub max_stages: usize,
}

impl Default for LayoutParams {
    /// About 750 KiB: fits a 1 MiB ivshmem region.
    fn default() -> Self {
        LayoutParams {
            command_slots: 8,
            command_slot_size: 16 * 1024,
            reply_slots: 64,
            reply_slot_size: 1024,
            log_slots: 1024,
            log_slot_size: 256,
            max_positions: 1024,
            max_orders: 1024,
            max_risk_limits: 64,
            max_counters: 128,
            max_stages: 8,
        }
    }
}

/// Where everything is. Built by [`Layout::compute`] (appliance) or read and
/// validated from a header by [`Layout::read`] (both sides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub total_bytes: usize,
    pub commands: RingDesc,
    pub replies: RingDesc,
    pub logs: RingDesc,
    pub status: SnapshotDesc,
    pub panic: SnapshotDesc,
    pub positions: SnapshotDesc,
    pub orders: SnapshotDesc,
    pub risk: SnapshotDesc,
    pub counters: SnapshotDesc,
    pub latency: SnapshotDesc,
    /// Record capacities, in the order of `Part::ALL` (0 for rings).
    pub capacities: [usize; 10],
}

/// Why a header was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutError {
    BadMagic,
    UnsupportedVersion(u64),
    /// The header's total size disagrees with the region, or parts do not fit.
    BadSize,
    /// A part is misaligned, out of bounds, overlapping or inconsistent.
    BadPart(Part),
    /// The parameters ask for something unrepresentable.
    BadParams,
}

const MAX_SLOTS: usize = 1 << 20;
const MAX_SLOT_SIZE: usize = 1 << 20;
const MAX_RECORDS: usize = 1 << 20;

fn align_up(v: usize) -> Option<usize> {
    v.checked_add(PART_ALIGN - 1).map(|x| x & !(PART_ALIGN - 1))
}

fn ring_ok(slot_size: usize, slot_count: usize) -> bool {
    slot_size >= 2 * WORD
        && slot_size.is_multiple_of(WORD)
        && slot_size <= MAX_SLOT_SIZE
        && (1..=MAX_SLOTS).contains(&slot_count)
}

impl Layout {
    /// Places the parts one after another; fails if any parameter is out of range.
    pub fn compute(p: &LayoutParams) -> Result<Layout, LayoutError> {
        let rings = [
            (p.command_slot_size, p.command_slots),
            (p.reply_slot_size, p.reply_slots),
            (p.log_slot_size, p.log_slots),
        ];
        if !rings.iter().all(|&(s, c)| ring_ok(s, c)) {
            return Err(LayoutError::BadParams);
        }
        let caps = [
            snapshot::STATUS_RECORDS,
            snapshot::PANIC_RECORDS,
            0,
            0,
            0,
            p.max_positions,
            p.max_orders,
            p.max_risk_limits,
            p.max_counters,
            p.max_stages,
        ];
        if caps.iter().any(|&c| c > MAX_RECORDS) {
            return Err(LayoutError::BadParams);
        }
        let mut at = HEADER_BYTES;
        let mut next_ring =
            |slot_size: usize, slot_count: usize| -> Result<RingDesc, LayoutError> {
                let d = RingDesc {
                    offset: at,
                    slot_size,
                    slot_count,
                };
                at = align_up(at + d.bytes()).ok_or(LayoutError::BadParams)?;
                Ok(d)
            };
        let commands = next_ring(p.command_slot_size, p.command_slots)?;
        let replies = next_ring(p.reply_slot_size, p.reply_slots)?;
        let logs = next_ring(p.log_slot_size, p.log_slots)?;
        let mut snaps = [SnapshotDesc {
            offset: 0,
            capacity_words: 0,
        }; 10];
        for (i, part) in Part::ALL.iter().enumerate() {
            if let Some(kind) = part.snapshot_kind() {
                let d = SnapshotDesc {
                    offset: at,
                    capacity_words: kind.capacity_words(caps[i]),
                };
                at = align_up(at + d.bytes()).ok_or(LayoutError::BadParams)?;
                snaps[i] = d;
            }
        }
        Ok(Layout {
            total_bytes: at,
            commands,
            replies,
            logs,
            status: snaps[0],
            panic: snaps[1],
            positions: snaps[5],
            orders: snaps[6],
            risk: snaps[7],
            counters: snaps[8],
            latency: snaps[9],
            capacities: caps,
        })
    }

    /// `(offset, bytes, param0, param1)` of a part as stored in the table.
    pub fn part(&self, part: Part) -> (usize, usize, usize, usize) {
        let cap = self.capacities[part as usize];
        let ring = |d: RingDesc| (d.offset, d.bytes(), d.slot_size, d.slot_count);
        let snap = |d: SnapshotDesc| (d.offset, d.bytes(), d.capacity_words, cap);
        match part {
            Part::Commands => ring(self.commands),
            Part::Replies => ring(self.replies),
            Part::Logs => ring(self.logs),
            Part::Status => snap(self.status),
            Part::Panic => snap(self.panic),
            Part::Positions => snap(self.positions),
            Part::Orders => snap(self.orders),
            Part::Risk => snap(self.risk),
            Part::Counters => snap(self.counters),
            Part::Latency => snap(self.latency),
        }
    }

    /// Writes the layout table, sizes and identity; magic goes last (release)
    /// so a reader that sees the magic sees a complete table.
    pub(crate) fn write_header(&self, region: &Region, boot_id: u64, tsc_hz: u64) {
        region.store(field::MAGIC, 0, Ordering::Release);
        region.zero(WORD, HEADER_BYTES - WORD);
        region.store(field::VERSION, VERSION, Ordering::Relaxed);
        region.store(field::TOTAL_SIZE, region.len() as u64, Ordering::Relaxed);
        region.store(field::HEADER_SIZE, HEADER_BYTES as u64, Ordering::Relaxed);
        region.store(field::BOOT_ID, boot_id, Ordering::Relaxed);
        region.store(
            field::STATE,
            ApplianceState::Booting as u64,
            Ordering::Relaxed,
        );
        region.store(field::TSC_HZ, tsc_hz, Ordering::Relaxed);
        for (k, part) in Part::ALL.iter().enumerate() {
            let (o, b, p0, p1) = self.part(*part);
            let base = field::PARTS + k * field::PART_WORDS * WORD;
            for (i, v) in [o, b, p0, p1].into_iter().enumerate() {
                region.store(base + i * WORD, v as u64, Ordering::Relaxed);
            }
        }
        region.store(field::MAGIC, MAGIC, Ordering::Release);
    }

    /// Reads and validates the header of `region`. Anything inconsistent is
    /// an error; the returned layout only ever addresses memory inside the region.
    pub fn read(region: &Region) -> Result<Layout, LayoutError> {
        let w = |off: usize| region.load(off, Ordering::Acquire).unwrap_or(0);
        if w(field::MAGIC) != MAGIC {
            return Err(LayoutError::BadMagic);
        }
        let version = w(field::VERSION);
        if version != VERSION {
            return Err(LayoutError::UnsupportedVersion(version));
        }
        if w(field::TOTAL_SIZE) != region.len() as u64
            || w(field::HEADER_SIZE) != HEADER_BYTES as u64
        {
            return Err(LayoutError::BadSize);
        }
        let mut table = [(0usize, 0usize, 0usize, 0usize); 10];
        for (k, part) in Part::ALL.iter().enumerate() {
            let base = field::PARTS + k * field::PART_WORDS * WORD;
            let get = |i: usize| usize::try_from(w(base + i * WORD)).unwrap_or(usize::MAX);
            let entry = (get(0), get(1), get(2), get(3));
            let (offset, bytes, p0, p1) = entry;
            let end = offset.checked_add(bytes);
            let in_bounds = offset >= HEADER_BYTES
                && offset % PART_ALIGN == 0
                && end.is_some_and(|e| e <= region.len());
            let consistent = match part.snapshot_kind() {
                None => {
                    ring_ok(p0, p1)
                        && RingDesc {
                            offset,
                            slot_size: p0,
                            slot_count: p1,
                        }
                        .bytes()
                            == bytes
                }
                Some(kind) => {
                    p1 <= MAX_RECORDS
                        && kind.capacity_words(p1) == p0
                        && (SNAPSHOT_HEADER_WORDS + p0) * WORD == bytes
                        && kind.fixed_capacity().is_none_or(|c| c == p1)
                }
            };
            if !in_bounds || !consistent {
                return Err(LayoutError::BadPart(*part));
            }
            table[k] = entry;
        }
        for (i, a) in table.iter().enumerate() {
            for b in table.iter().skip(i + 1) {
                if a.0 < b.0 + b.1 && b.0 < a.0 + a.1 {
                    return Err(LayoutError::BadPart(Part::ALL[i]));
                }
            }
        }
        let ring = |k: usize| RingDesc {
            offset: table[k].0,
            slot_size: table[k].2,
            slot_count: table[k].3,
        };
        let snap = |k: usize| SnapshotDesc {
            offset: table[k].0,
            capacity_words: table[k].2,
        };
        let mut capacities = [0usize; 10];
        for (k, part) in Part::ALL.iter().enumerate() {
            if part.snapshot_kind().is_some() {
                capacities[k] = table[k].3;
            }
        }
        Ok(Layout {
            total_bytes: region.len(),
            commands: ring(2),
            replies: ring(3),
            logs: ring(4),
            status: snap(0),
            panic: snap(1),
            positions: snap(5),
            orders: snap(6),
            risk: snap(7),
            counters: snap(8),
            latency: snap(9),
            capacities,
        })
    }
}

/// Header words that change at run time, read with one load each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub boot_id: u64,
    /// `None` if the state word holds no known state.
    pub state: Option<ApplianceState>,
    pub heartbeat: u64,
    pub heartbeat_ns: u64,
    pub heartbeat_tsc: u64,
    pub tsc_hz: u64,
}

impl Liveness {
    pub fn read(region: &Region) -> Liveness {
        let w = |off: usize| region.load(off, Ordering::Acquire).unwrap_or(0);
        Liveness {
            boot_id: w(field::BOOT_ID),
            state: ApplianceState::from_word(w(field::STATE)),
            heartbeat: w(field::HEARTBEAT),
            heartbeat_ns: w(field::HEARTBEAT_NS),
            heartbeat_tsc: w(field::HEARTBEAT_TSC),
            tsc_hz: w(field::TSC_HZ),
        }
    }
}
