//! The two ends of the mailbox: [`ApplianceEnd`] (formats the region, serves
//! commands, publishes state) and [`CompanionEnd`] (attaches to a formatted
//! region, sends commands, reads snapshots). Each side treats everything the
//! other side can write as untrusted input.

use super::histogram::BUCKETS;
use super::layout::{field, ApplianceState, Layout, LayoutError, LayoutParams, Liveness};
use super::message::{Command, Event, FrameError, Message, Reply, Request};
use super::raw::Region;
use super::ring::{self, Consumer, Producer, RingError};
use super::seqlock::{self, SnapshotDesc, SnapshotError, SnapshotWriter};
use super::snapshot::{
    encode_records, Counter, KillSwitch, OpenOrder, PanicReport, Position, Record, RecordsView,
    RiskLimit, SnapshotKind, StageLatency, StatusSnapshot,
};
use core::sync::atomic::Ordering;

/// Largest reply/event frame the appliance encodes (encoded on its stack).
pub const MAX_MESSAGE_BYTES: usize = 512;

/// Why a command could not be taken from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    Ring(RingError),
    /// The frame was consumed but did not decode; `id` is its request id if
    /// at least 8 bytes arrived (reply `Malformed` to it).
    Frame {
        id: Option<u64>,
        error: FrameError,
    },
}

/// Why a frame could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    Ring(RingError),
    Frame(FrameError),
}

/// What the appliance end counted instead of failing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ApplianceStats {
    pub commands: u64,
    pub malformed_commands: u64,
    pub ring_errors: u64,
    pub dropped_messages: u64,
    pub dropped_logs: u64,
}

/// The appliance's end (core 0). Owns the region's format.
///
/// A housekeeping loop on core 0 looks like this (text, not a doctest):
///
/// ```text
/// let mut end = ApplianceEnd::format(region, &LayoutParams::default(), boot_id, tsc_hz)?;
/// end.event(Event::JournalRequest)?;            // ask for FIX seqs and fills back
/// end.set_state(ApplianceState::Running);
/// loop {
///     end.heartbeat(now_ns, rdtsc());
///     match end.poll_command(&mut cmd_buf) {       // cmd_buf: layout().commands.max_payload() bytes
///         Ok(Some(req)) => { let reply = handle(req.command); end.reply(req.id, reply)?; }
///         Ok(None) => {}
///         Err(CommandError::Frame { id: Some(id), .. }) => { end.reply(id, Reply::Malformed)?; }
///         Err(CommandError::Ring(RingError::CorruptIndex)) => end.resync_commands(),
///         Err(_) => {}                              // counted in `stats`
///     }
///     // every few ms: publish_status / positions / orders / risk / counters / latency
/// }
/// ```
#[derive(Debug)]
pub struct ApplianceEnd {
    region: Region,
    layout: Layout,
    commands: Consumer,
    replies: Producer,
    logs: Producer,
    status: SnapshotWriter,
    /// `None` once handed to a [`PanicReporter`].
    panic: Option<PanicReporter>,
    positions: SnapshotWriter,
    orders: SnapshotWriter,
    risk: SnapshotWriter,
    counters: SnapshotWriter,
    latency: SnapshotWriter,
    heartbeat: u64,
    pub stats: ApplianceStats,
}

impl ApplianceEnd {
    /// Formats `region` (all previous content is discarded) and returns the
    /// appliance end. The state starts as `Booting`.
    pub fn format(
        region: Region,
        params: &LayoutParams,
        boot_id: u64,
        tsc_hz: u64,
    ) -> Result<ApplianceEnd, LayoutError> {
        let layout = Layout::compute(params)?;
        if layout.total_bytes > region.len() {
            return Err(LayoutError::BadSize);
        }
        // Invalidate first so a reader never pairs an old header with new parts.
        region.store(field::MAGIC, 0, Ordering::Release);
        for d in [layout.commands, layout.replies, layout.logs] {
            ring::format(&region, d);
        }
        let w = |d: SnapshotDesc| SnapshotWriter::new(region, d);
        let end = ApplianceEnd {
            region,
            layout,
            commands: Consumer::attach(region, layout.commands),
            replies: Producer::attach(region, layout.replies),
            logs: Producer::attach(region, layout.logs),
            status: w(layout.status),
            panic: Some(PanicReporter {
                region,
                writer: w(layout.panic),
            }),
            positions: w(layout.positions),
            orders: w(layout.orders),
            risk: w(layout.risk),
            counters: w(layout.counters),
            latency: w(layout.latency),
            heartbeat: 0,
            stats: ApplianceStats::default(),
        };
        layout.write_header(&region, boot_id, tsc_hz);
        Ok(end)
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn set_state(&self, state: ApplianceState) {
        self.region
            .store(field::STATE, state as u64, Ordering::Release);
    }

    /// Advances the heartbeat counter and stamps it.
    pub fn heartbeat(&mut self, now_ns: u64, tsc: u64) {
        self.heartbeat = self.heartbeat.wrapping_add(1);
        self.region
            .store(field::HEARTBEAT_NS, now_ns, Ordering::Relaxed);
        self.region
            .store(field::HEARTBEAT_TSC, tsc, Ordering::Relaxed);
        self.region
            .store(field::HEARTBEAT, self.heartbeat, Ordering::Release);
    }

    /// Takes the next command, decoded in place in `buf` (size it to the
    /// command slot payload, `layout().commands.max_payload()`).
    pub fn poll_command<'b>(
        &mut self,
        buf: &'b mut [u8],
    ) -> Result<Option<Request<'b>>, CommandError> {
        let frame = match self.commands.try_recv(buf) {
            Ok(Some(f)) => f,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.stats.ring_errors += 1;
                return Err(CommandError::Ring(e));
            }
        };
        match Request::decode(frame) {
            Ok(r) => {
                self.stats.commands += 1;
                Ok(Some(r))
            }
            Err(error) => {
                self.stats.malformed_commands += 1;
                let id = frame
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_le_bytes);
                Err(CommandError::Frame { id, error })
            }
        }
    }

    /// Drops every pending command (after [`RingError::CorruptIndex`]).
    pub fn resync_commands(&mut self) {
        self.commands.skip_to_head();
    }

    fn send_message(&mut self, msg: &Message<'_>) -> Result<(), SendError> {
        let mut buf = [0u8; MAX_MESSAGE_BYTES];
        let n = msg.encode(&mut buf).map_err(SendError::Frame)?;
        self.replies.try_send(&buf[..n]).map_err(|e| {
            self.stats.dropped_messages += 1;
            SendError::Ring(e)
        })
    }

    pub fn reply(&mut self, id: u64, reply: Reply<'_>) -> Result<(), SendError> {
        self.send_message(&Message::Reply { id, reply })
    }

    /// Sends an event. On `Ring(Full)` nothing was sent: durable events
    /// (`FixSeq`, `Fill`) must be kept and retried by the caller, never dropped.
    pub fn event(&mut self, event: Event) -> Result<(), SendError> {
        self.send_message(&Message::Event(event))
    }

    /// Queues one log frame (raw bytes, e.g. a defmt frame); a full ring drops and counts it.
    pub fn log(&mut self, frame: &[u8]) -> Result<(), RingError> {
        self.logs
            .try_send(frame)
            .inspect_err(|_| self.stats.dropped_logs += 1)
    }

    pub fn publish_status(&mut self, s: &StatusSnapshot) -> Result<usize, SnapshotError> {
        self.status
            .publish(|w| encode_records(w, &[], core::slice::from_ref(s), 1))
    }

    /// Records the report and sets the state word to the report's kind.
    /// Fails with [`SnapshotError::Detached`] once the writer has been
    /// handed out by [`Self::take_panic_reporter`].
    pub fn report_panic(&mut self, report: &PanicReport) -> Result<usize, SnapshotError> {
        match self.panic.as_mut() {
            Some(reporter) => reporter.report(report),
            None => Err(SnapshotError::Detached),
        }
    }

    /// Hands the panic snapshot's writer out, so fatal reports need no
    /// access to this end: a core that dies while another core is using the
    /// end (publishing telemetry, answering a command) still gets its report
    /// out. `None` if already taken.
    pub fn take_panic_reporter(&mut self) -> Option<PanicReporter> {
        self.panic.take()
    }

    /// Positions past the capacity are left out (the count says how many made it).
    pub fn publish_positions(&mut self, p: &[Position]) -> Result<usize, SnapshotError> {
        let cap = self.layout.capacities[5];
        self.positions.publish(|w| encode_records(w, &[], p, cap))
    }

    pub fn publish_orders(&mut self, o: &[OpenOrder]) -> Result<usize, SnapshotError> {
        let cap = self.layout.capacities[6];
        self.orders.publish(|w| encode_records(w, &[], o, cap))
    }

    pub fn publish_risk(
        &mut self,
        kill: &KillSwitch,
        limits: &[RiskLimit],
    ) -> Result<usize, SnapshotError> {
        let cap = self.layout.capacities[7];
        self.risk
            .publish(|w| encode_records(w, &kill.fixed_words(), limits, cap))
    }

    pub fn publish_counters(&mut self, c: &[Counter]) -> Result<usize, SnapshotError> {
        let cap = self.layout.capacities[8];
        self.counters.publish(|w| encode_records(w, &[], c, cap))
    }

    pub fn publish_latency(&mut self, stages: &[StageLatency]) -> Result<usize, SnapshotError> {
        let cap = self.layout.capacities[9];
        self.latency
            .publish(|w| encode_records(w, &[], stages, cap))
    }
}

/// The single writer of the panic/fault report, split from
/// [`ApplianceEnd`] (see [`ApplianceEnd::take_panic_reporter`]).
#[derive(Debug)]
pub struct PanicReporter {
    region: Region,
    writer: SnapshotWriter,
}

impl PanicReporter {
    /// Records the report and sets the state word to the report's kind.
    pub fn report(&mut self, report: &PanicReport) -> Result<usize, SnapshotError> {
        let r = self
            .writer
            .publish(|w| encode_records(w, &[], core::slice::from_ref(report), 1));
        self.region
            .store(field::STATE, report.kind as u64, Ordering::Release);
        r
    }
}

/// The companion's end. Attach validates the whole header first.
#[derive(Debug)]
pub struct CompanionEnd {
    region: Region,
    layout: Layout,
    boot_id: u64,
    commands: Producer,
    replies: Consumer,
    logs: Consumer,
    next_id: u64,
}

impl CompanionEnd {
    /// Attaches to a region the appliance has formatted. `id_seed` starts the
    /// request ids (use something that differs between runs, e.g. the time,
    /// so a late reply to a previous process is not taken for ours).
    pub fn attach(region: Region, id_seed: u64) -> Result<CompanionEnd, LayoutError> {
        let layout = Layout::read(&region)?;
        let boot_id = Liveness::read(&region).boot_id;
        Ok(CompanionEnd {
            region,
            layout,
            boot_id,
            commands: Producer::attach(region, layout.commands),
            replies: Consumer::attach(region, layout.replies),
            logs: Consumer::attach(region, layout.logs),
            next_id: id_seed.max(1),
        })
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Boot id seen at attach; compare with [`Self::liveness`] to notice a reboot.
    pub fn boot_id(&self) -> u64 {
        self.boot_id
    }

    pub fn liveness(&self) -> Liveness {
        Liveness::read(&self.region)
    }

    /// True if the appliance re-formatted the region since we attached.
    pub fn rebooted(&self) -> bool {
        !Layout::read(&self.region).is_ok_and(|l| l == self.layout)
            || self.liveness().boot_id != self.boot_id
    }

    /// Sends a command; returns the request id its reply will carry.
    /// `scratch` must hold the encoded frame (for `ApplyConfig`, the JSON plus 14 bytes).
    pub fn send(&mut self, command: Command<'_>, scratch: &mut [u8]) -> Result<u64, SendError> {
        let id = self.next_id;
        let n = Request { id, command }
            .encode(scratch)
            .map_err(SendError::Frame)?;
        let frame = scratch
            .get(..n)
            .ok_or(SendError::Frame(FrameError::BufferTooSmall))?;
        self.commands.try_send(frame).map_err(SendError::Ring)?;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        Ok(id)
    }

    /// Next reply or event, decoded in place in `buf` (size: `layout().replies.max_payload()`).
    pub fn poll_message<'b>(
        &mut self,
        buf: &'b mut [u8],
    ) -> Result<Option<Message<'b>>, CommandError> {
        match self.replies.try_recv(buf) {
            Ok(Some(f)) => Message::decode(f)
                .map(Some)
                .map_err(|error| CommandError::Frame { id: None, error }),
            Ok(None) => Ok(None),
            Err(e) => Err(CommandError::Ring(e)),
        }
    }

    /// Drops pending replies/events (e.g. after a corrupt index).
    pub fn skip_messages(&mut self) {
        self.replies.skip_to_head();
    }

    /// Next raw log frame.
    pub fn poll_log<'b>(&mut self, buf: &'b mut [u8]) -> Result<Option<&'b [u8]>, RingError> {
        self.logs.try_recv(buf)
    }

    pub fn skip_logs(&mut self) {
        self.logs.skip_to_head();
    }

    /// Words of scratch the largest snapshot needs.
    pub fn scratch_words(&self) -> usize {
        [
            self.layout.status,
            self.layout.panic,
            self.layout.positions,
            self.layout.orders,
            self.layout.risk,
            self.layout.counters,
            self.layout.latency,
        ]
        .iter()
        .map(|d| d.capacity_words)
        .max()
        .unwrap_or(0)
    }

    fn read_one<R: Record>(
        &self,
        desc: SnapshotDesc,
        kind: SnapshotKind,
    ) -> Result<R, SnapshotError> {
        // Status and panic payloads are small and fixed: read them on the stack.
        let mut scratch = [0u64; 1 + PanicReport::WORDS];
        let words = seqlock::read(&self.region, desc, &mut scratch)?;
        let view = RecordsView::<R>::parse(words, kind.fixed_words(), 1)?;
        view.get(0)
    }

    pub fn read_status(&self) -> Result<StatusSnapshot, SnapshotError> {
        self.read_one(self.layout.status, SnapshotKind::Status)
    }

    pub fn read_panic(&self) -> Result<PanicReport, SnapshotError> {
        self.read_one(self.layout.panic, SnapshotKind::Panic)
    }

    fn read_records<'s, R: Record>(
        &self,
        desc: SnapshotDesc,
        kind: SnapshotKind,
        cap: usize,
        scratch: &'s mut [u64],
    ) -> Result<RecordsView<'s, R>, SnapshotError> {
        let words = seqlock::read(&self.region, desc, scratch)?;
        RecordsView::parse(words, kind.fixed_words(), cap)
    }

    pub fn read_positions<'s>(
        &self,
        scratch: &'s mut [u64],
    ) -> Result<RecordsView<'s, Position>, SnapshotError> {
        self.read_records(
            self.layout.positions,
            SnapshotKind::Positions,
            self.layout.capacities[5],
            scratch,
        )
    }

    pub fn read_orders<'s>(
        &self,
        scratch: &'s mut [u64],
    ) -> Result<RecordsView<'s, OpenOrder>, SnapshotError> {
        self.read_records(
            self.layout.orders,
            SnapshotKind::Orders,
            self.layout.capacities[6],
            scratch,
        )
    }

    pub fn read_risk<'s>(
        &self,
        scratch: &'s mut [u64],
    ) -> Result<(KillSwitch, RecordsView<'s, RiskLimit>), SnapshotError> {
        let view: RecordsView<'s, RiskLimit> = self.read_records(
            self.layout.risk,
            SnapshotKind::Risk,
            self.layout.capacities[7],
            scratch,
        )?;
        Ok((KillSwitch::from_fixed(view.fixed)?, view))
    }

    pub fn read_counters<'s>(
        &self,
        scratch: &'s mut [u64],
    ) -> Result<RecordsView<'s, Counter>, SnapshotError> {
        self.read_records(
            self.layout.counters,
            SnapshotKind::Counters,
            self.layout.capacities[8],
            scratch,
        )
    }

    pub fn read_latency<'s>(
        &self,
        scratch: &'s mut [u64],
    ) -> Result<RecordsView<'s, StageLatency>, SnapshotError> {
        self.read_records(
            self.layout.latency,
            SnapshotKind::Latency,
            self.layout.capacities[9],
            scratch,
        )
    }
}

const _: () = assert!(BUCKETS > 0 && MAX_MESSAGE_BYTES >= 256);
