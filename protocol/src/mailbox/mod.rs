//! The shared-memory mailbox between the appliance (core 0) and the Linux
//! companion.
//!
//! One region (ivshmem BAR2 under QEMU, a reserved physical range on real
//! hosts), given as base pointer + length. Layout, versioned, offsets only:
//!
//! ```text
//! 0        header (512 B): magic, version, sizes, boot id, state, heartbeat,
//!          layout table (offset, bytes, params) of every part below
//! ...      command ring        Linux → appliance   (fixed slots)
//! ...      reply/event ring    appliance → Linux   (fixed slots)
//! ...      log ring            appliance → Linux   (raw frames, defmt later)
//! ...      seqlock snapshots: status (cores, NICs), panic/fault report,
//!          positions, open orders, risk (kill switch + limits), counters,
//!          latency histograms per stage
//! ```
//!
//! Safety model: all raw-pointer access is in [`raw`], one atomic word at a
//! time. Both ends treat the other's writes as hostile: indices, lengths,
//! enum values, text and the header itself are validated; failures come back
//! as error values and counters, never panics.

pub mod config;
pub mod endpoint;
pub mod histogram;
pub mod layout;
pub mod message;
pub mod raw;
pub mod ring;
pub mod seqlock;
pub mod snapshot;

pub use endpoint::{
    ApplianceEnd, ApplianceStats, CommandError, CompanionEnd, PanicReporter, SendError,
};
pub use layout::{ApplianceState, Layout, LayoutError, LayoutParams, Liveness};
pub use message::{
    Command, Event, FillRecord, FixSeqRecord, FrameError, JournalRecord, Message, Reply, Request,
};
pub use raw::{Region, RegionError};
pub use ring::RingError;
pub use seqlock::SnapshotError;
pub use snapshot::{
    CoreState, CoreStatus, Counter, KillSwitch, Label, NicStatus, OpenOrder, PanicReport, Position,
    RiskLimit, StageLatency, StatusSnapshot,
};

#[cfg(test)]
mod tests;
