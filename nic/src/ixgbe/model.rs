//! A software 82599 for host tests and benches (std; `model` feature or
//! this crate's tests — never in the appliance build).
//!
//! The model plays the device behind a fake BAR: a leaked, aligned heap block
//! of [`BAR_SIZE`] bytes that the driver reaches through [`Mmio`] exactly as it
//! reaches the real BAR. Descriptor and buffer addresses are host pointers
//! (`phys == virt`, as [`HeapDma`](crate::dma::HeapDma) hands them out).
//! [`Model::step`] does one pass of device work — reset and start-up bits,
//! link, queue enables, transmit rings, injected receive frames — and can run
//! on its own thread ([`Model::spawn`]) or be driven synchronously.
//!
//! What it emulates: self-clearing CTRL.RST that resets the register file,
//! EEC.ARD and RDRXCTL.DMAIDONE after reset, LINKS up after AUTOC.AN_RESTART,
//! RXDCTL/TXDCTL enables read back; TX descriptors consumed from TDH to TDT
//! with DD written back when RS is set; RX frames filtered by FCTRL, RAL/RAH
//! and the MTA, steered by 5-tuple filters (FTQF/SDPQF/L34T_IMIR), else RSS
//! (Toeplitz hash, RETA), else queue 0, split over descriptors of SRRCTL's
//! buffer size, DD/EOP/length/RSS hash written back, RDH advanced; a full ring
//! drops the frame and counts it in QPRDC (DROP_EN) or MPC. Statistics are
//! clear-on-read through [`ModelRegs`], which also counts tail writes.
//!
//! Shared-memory note: the driver uses volatile 32/64-bit accesses and the
//! model atomics on the same aligned words; on x86-64 both are plain `mov`s,
//! which is what a device sees too. Good enough for a test harness.
#![allow(unsafe_code)]

use core::ptr::NonNull;
use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::boxed::Box;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::vec::Vec;

use super::{desc, reg, BAR_SIZE};
use crate::regs::{Mmio, Registers};
use crate::{LinkSpeed, MacAddress};

/// Queues the model serves per direction.
pub const MODEL_QUEUES: u32 = 16;

/// How the model behaves; the `*_never_*` switches make a device that does
/// not answer, to test the driver's bounded waits.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub mac: MacAddress,
    pub link_speed: LinkSpeed,
    pub reset_stuck: bool,
    pub eeprom_never_done: bool,
    pub dma_init_never_done: bool,
    pub link_never_up: bool,
    pub queues_never_enable: bool,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            mac: MacAddress([0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]),
            link_speed: LinkSpeed::Gbps10,
            reset_stuck: false,
            eeprom_never_done: false,
            dma_init_never_done: false,
            link_never_up: false,
            queues_never_enable: false,
        }
    }
}

impl ModelConfig {
    /// A device that answers nothing at all.
    pub fn dead() -> Self {
        ModelConfig {
            reset_stuck: true,
            eeprom_never_done: true,
            dma_init_never_done: true,
            link_never_up: true,
            queues_never_enable: true,
            ..ModelConfig::default()
        }
    }
}

/// Per-queue counts of what the model did, for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub delivered: u64,
    pub ring_full_drops: u64,
}

#[derive(Default)]
struct State {
    pending_rx: VecDeque<Vec<u8>>,
    transmitted: Vec<(u16, Vec<u8>)>,
    tx_partial: Vec<Vec<u8>>,
    rx: Vec<QueueCounts>,
    l2_filtered: u64,
    resets: u64,
    /// Record transmitted frames (off in benches: only complete descriptors).
    record_tx: bool,
}

struct Shared {
    bar: &'static [AtomicU32],
    cfg: ModelConfig,
    state: Mutex<State>,
    tails: Arc<TailCounts>,
}

/// Tail-register writes seen through [`ModelRegs`], per queue.
#[derive(Default)]
pub struct TailCounts {
    rx: [AtomicU64; MODEL_QUEUES as usize],
    tx: [AtomicU64; MODEL_QUEUES as usize],
}

/// The software device. Cloning gives another handle to the same device.
#[derive(Clone)]
pub struct Model {
    shared: Arc<Shared>,
}

/// The model's register file as the driver sees it in tests: plain loads and
/// stores on the fake BAR, plus clear-on-read statistics and tail-write
/// counting (the two things plain memory cannot do).
#[derive(Clone)]
pub struct ModelRegs {
    bar: &'static [AtomicU32],
    tails: Arc<TailCounts>,
    /// A queue-enable bit only reads back once the device has enabled the
    /// queue; a device that never does must never show it, which needs the
    /// write itself intercepted (plain memory would echo it at once).
    queues_never_enable: bool,
}

fn word(bar: &[AtomicU32], offset: u32) -> Option<&AtomicU32> {
    bar.get((offset / 4) as usize)
}

fn is_stat(offset: u32) -> bool {
    matches!(
        offset,
        reg::GPRC
            | reg::GPTC
            | reg::GORCL
            | reg::GORCH
            | reg::GOTCL
            | reg::GOTCH
            | reg::CRCERRS
            | reg::RLEC
    ) || (reg::mpc(0)..reg::mpc(reg::MPC_COUNT)).contains(&offset)
        || (0..64).any(|q| offset == reg::qprdc(q))
}

impl Registers for ModelRegs {
    fn read(&self, offset: u32) -> u32 {
        word(self.bar, offset).map_or(0, |w| w.load(Ordering::SeqCst))
    }

    fn write(&self, offset: u32, mut value: u32) {
        for q in 0..MODEL_QUEUES {
            if self.queues_never_enable && (offset == reg::rxdctl(q) || offset == reg::txdctl(q)) {
                value &= !(reg::RXDCTL_ENABLE | reg::TXDCTL_ENABLE);
            }
            if offset == reg::rdt(q) {
                self.tails.rx[q as usize].fetch_add(1, Ordering::Relaxed);
            } else if offset == reg::tdt(q) {
                self.tails.tx[q as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
        if let Some(w) = word(self.bar, offset) {
            w.store(value, Ordering::SeqCst);
        }
    }

    fn read_stat(&self, offset: u32) -> u32 {
        match word(self.bar, offset) {
            Some(w) if is_stat(offset) => w.swap(0, Ordering::SeqCst),
            Some(w) => w.load(Ordering::SeqCst),
            None => 0,
        }
    }
}

/// Runs [`Model::step`] on a thread until dropped.
pub struct ModelThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Drop for ModelThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        // Leaked on purpose: the driver's `Mmio` has no lifetime tie to the
        // model, so the fake BAR must outlive every handle.
        let bar: &'static [AtomicU32] = Box::leak(
            (0..BAR_SIZE / 4)
                .map(|_| AtomicU32::new(0))
                .collect::<Box<[_]>>(),
        );
        let state = State {
            tx_partial: (0..MODEL_QUEUES).map(|_| Vec::new()).collect(),
            rx: (0..MODEL_QUEUES).map(|_| QueueCounts::default()).collect(),
            record_tx: true,
            ..State::default()
        };
        let model = Model {
            shared: Arc::new(Shared {
                bar,
                cfg,
                state: Mutex::new(state),
                tails: Arc::new(TailCounts::default()),
            }),
        };
        // Power-on: EEPROM contents loaded as after a reset.
        model.power_on_defaults();
        model
    }

    /// Base of the fake BAR (for drivers that want a raw address).
    pub fn bar_ptr(&self) -> NonNull<u8> {
        NonNull::from(&self.shared.bar[0]).cast::<u8>()
    }

    /// The fake BAR as real MMIO, exactly as the appliance maps a device.
    pub fn mmio(&self) -> Mmio {
        // SAFETY: the fake BAR is leaked (lives forever), BAR_SIZE bytes,
        // 4-aligned; the model only touches it with atomic word accesses.
        match unsafe { Mmio::new(self.bar_ptr(), BAR_SIZE, BAR_SIZE) } {
            Ok(m) => m,
            Err(_) => unreachable!("fake BAR has BAR_SIZE bytes and AtomicU32 alignment"),
        }
    }

    /// Trapping register access: counts tail writes, clears stats on read.
    pub fn regs(&self) -> ModelRegs {
        ModelRegs {
            bar: self.shared.bar,
            tails: self.shared.tails.clone(),
            queues_never_enable: self.shared.cfg.queues_never_enable,
        }
    }

    pub fn rx_tail_writes(&self, q: u16) -> u64 {
        self.shared
            .tails
            .rx
            .get(q as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn tx_tail_writes(&self, q: u16) -> u64 {
        self.shared
            .tails
            .tx
            .get(q as usize)
            .map_or(0, |c| c.load(Ordering::Relaxed))
    }

    pub fn spawn(&self) -> ModelThread {
        let stop = Arc::new(AtomicBool::new(false));
        let model = self.clone();
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            while !flag.load(Ordering::SeqCst) {
                model.step();
                std::thread::sleep(std::time::Duration::from_micros(20));
            }
        });
        ModelThread {
            stop,
            handle: Some(handle),
        }
    }

    /// Queues a frame to arrive on the wire (delivered by the next `step`).
    pub fn inject(&self, frame: &[u8]) {
        self.state().pending_rx.push_back(frame.to_vec());
    }

    /// Frames the device put on the wire since the last call, with the
    /// queue they came from.
    pub fn take_transmitted(&self) -> Vec<(u16, Vec<u8>)> {
        core::mem::take(&mut self.state().transmitted)
    }

    pub fn set_record_tx(&self, on: bool) {
        self.state().record_tx = on;
    }

    pub fn queue_counts(&self, q: u16) -> QueueCounts {
        self.state().rx.get(q as usize).copied().unwrap_or_default()
    }

    pub fn l2_filtered(&self) -> u64 {
        self.state().l2_filtered
    }

    pub fn resets(&self) -> u64 {
        self.state().resets
    }

    pub fn reg(&self, offset: u32) -> u32 {
        self.load(offset)
    }

    pub fn set_reg(&self, offset: u32, value: u32) {
        self.store(offset, value)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        match self.shared.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn load(&self, offset: u32) -> u32 {
        word(self.shared.bar, offset).map_or(0, |w| w.load(Ordering::SeqCst))
    }

    fn store(&self, offset: u32, value: u32) {
        if let Some(w) = word(self.shared.bar, offset) {
            w.store(value, Ordering::SeqCst);
        }
    }

    fn add(&self, offset: u32, n: u32) {
        if let Some(w) = word(self.shared.bar, offset) {
            w.fetch_add(n, Ordering::SeqCst);
        }
    }

    fn add64(&self, lo: u32, hi: u32, n: u64) {
        if let Some(w) = word(self.shared.bar, lo) {
            let old = w.fetch_add(n as u32, Ordering::SeqCst);
            let carry = (old as u64 + (n & 0xFFFF_FFFF)) >> 32;
            self.add(hi, ((n >> 32) + carry) as u32);
        }
    }

    fn power_on_defaults(&self) {
        let mac = self.shared.cfg.mac.0;
        self.store(
            reg::ral(0),
            u32::from_le_bytes([mac[0], mac[1], mac[2], mac[3]]),
        );
        self.store(
            reg::rah(0),
            u32::from_le_bytes([mac[4], mac[5], 0, 0]) | reg::RAH_AV,
        );
        for q in 0..64 {
            // Reset values: 2 KiB buffers, legacy descriptors; DCA_RXCTRL
            // bit 12 set (the driver must clear it).
            self.store(reg::srrctl(q), 2);
            self.store(reg::dca_rxctrl(q), reg::DCA_RXCTRL_DESC_WRO);
        }
    }

    /// One pass of device work.
    pub fn step(&self) {
        let cfg = &self.shared.cfg;
        let ctrl = self.load(reg::CTRL);
        if ctrl & reg::CTRL_RST_MASK != 0 {
            // CTRL (word 0) last: the driver must not see RST clear before
            // the rest of the register file is back at its defaults.
            for w in self.shared.bar.iter().skip(1) {
                w.store(0, Ordering::SeqCst);
            }
            self.power_on_defaults();
            {
                let mut st = self.state();
                st.resets += 1;
                st.tx_partial.iter_mut().for_each(Vec::clear);
            }
            if !cfg.reset_stuck {
                self.store(reg::CTRL, ctrl & !reg::CTRL_RST_MASK);
            }
            // EEPROM read and DMA init complete one step after the reset.
            return;
        }
        if !cfg.eeprom_never_done {
            self.store(reg::EEC, self.load(reg::EEC) | reg::EEC_ARD);
        }
        if !cfg.dma_init_never_done {
            self.store(
                reg::RDRXCTL,
                self.load(reg::RDRXCTL) | reg::RDRXCTL_DMAIDONE,
            );
        }
        let autoc = self.load(reg::AUTOC);
        if autoc & reg::AUTOC_AN_RESTART != 0 {
            self.store(reg::AUTOC, autoc & !reg::AUTOC_AN_RESTART);
            if !cfg.link_never_up {
                let speed = match cfg.link_speed {
                    // An 82599 has no virtual speed: model it as 10G.
                    LinkSpeed::Gbps10 | LinkSpeed::Virtual => reg::LINKS_SPEED_10G,
                    LinkSpeed::Gbps1 => reg::LINKS_SPEED_1G,
                    LinkSpeed::Mbps100 => reg::LINKS_SPEED_100M,
                };
                self.store(reg::LINKS, reg::LINKS_UP | speed);
            }
        }
        if cfg.queues_never_enable {
            // Also undo enables written around `ModelRegs` (e.g. raw MMIO).
            for q in 0..MODEL_QUEUES {
                self.store(
                    reg::rxdctl(q),
                    self.load(reg::rxdctl(q)) & !reg::RXDCTL_ENABLE,
                );
                self.store(
                    reg::txdctl(q),
                    self.load(reg::txdctl(q)) & !reg::TXDCTL_ENABLE,
                );
            }
        }
        for q in 0..MODEL_QUEUES {
            self.process_tx(q);
        }
        let frames: Vec<Vec<u8>> = self.state().pending_rx.drain(..).collect();
        for f in frames {
            self.receive(&f);
        }
    }

    fn ring(&self, bal: u32, bah: u32, len: u32) -> Option<(*mut u64, u32)> {
        let base = (self.load(bal) as u64) | ((self.load(bah) as u64) << 32);
        let n = self.load(len) / 16;
        if base == 0 || n == 0 || !base.is_multiple_of(16) {
            return None;
        }
        Some((base as usize as *mut u64, n))
    }

    fn process_tx(&self, q: u32) {
        if self.load(reg::DMATXCTL) & reg::DMATXCTL_TE == 0
            || self.load(reg::txdctl(q)) & reg::TXDCTL_ENABLE == 0
        {
            return;
        }
        let Some((base, n)) = self.ring(reg::tdbal(q), reg::tdbah(q), reg::tdlen(q)) else {
            return;
        };
        let mut head = self.load(reg::tdh(q));
        let tail = self.load(reg::tdt(q));
        if head >= n || tail >= n {
            return;
        }
        let mut st = self.state();
        let record = st.record_tx;
        while head != tail {
            // SAFETY: the driver programmed a ring of `n` 16-byte descriptors
            // at `base` (host memory, phys == virt); `head < n`.
            let (addr, cmd) = unsafe {
                let d = base.add(head as usize * 2);
                (d.read_volatile(), d.add(1).read_volatile())
            };
            let len = (cmd & 0xFFFF) as usize;
            if record && addr != 0 && len <= 16384 {
                // SAFETY: the descriptor points at a `len`-byte buffer the
                // driver owns until DD is written back.
                let bytes = unsafe { core::slice::from_raw_parts(addr as usize as *const u8, len) };
                if let Some(p) = st.tx_partial.get_mut(q as usize) {
                    p.extend_from_slice(bytes);
                }
            }
            if cmd & desc::TX_DCMD_EOP != 0 {
                let frame = st
                    .tx_partial
                    .get_mut(q as usize)
                    .map(core::mem::take)
                    .unwrap_or_default();
                let flen = if record {
                    frame.len() as u64
                } else {
                    len as u64
                };
                if record {
                    st.transmitted.push((q as u16, frame));
                }
                self.add(reg::GPTC, 1);
                self.add64(reg::GOTCL, reg::GOTCH, flen);
            }
            if cmd & desc::TX_DCMD_RS != 0 {
                fence(Ordering::Release);
                // SAFETY: as above; write-back format: STA.DD in bit 32.
                unsafe {
                    base.add(head as usize * 2 + 1)
                        .write_volatile(desc::TX_STATUS_DD)
                };
            }
            head = (head + 1) % n;
        }
        drop(st);
        self.store(reg::tdh(q), head);
    }

    fn accept_l2(&self, frame: &[u8]) -> bool {
        let Some(dst) = frame.get(..6) else {
            return false;
        };
        let fctrl = self.load(reg::FCTRL);
        let ral = self.load(reg::ral(0)).to_le_bytes();
        let rah = self.load(reg::rah(0));
        let rb = rah.to_le_bytes();
        let own = [ral[0], ral[1], ral[2], ral[3], rb[0], rb[1]];
        if dst[0] & 1 == 0 {
            return fctrl & reg::FCTRL_UPE != 0 || (rah & reg::RAH_AV != 0 && dst == own);
        }
        if dst == [0xff; 6] {
            return fctrl & reg::FCTRL_BAM != 0;
        }
        if fctrl & reg::FCTRL_MPE != 0 {
            return true;
        }
        if self.load(reg::MCSTCTRL) & reg::MCSTCTRL_MFE == 0 {
            return false;
        }
        let mut m = [0u8; 6];
        m.copy_from_slice(dst);
        let h = super::mta_hash(MacAddress(m));
        self.load(reg::mta(h >> 5)) & (1 << (h & 0x1F)) != 0
    }

    /// Queue for a frame: 5-tuple filters, then RSS, then queue 0.
    fn steer(&self, frame: &[u8]) -> (u32, u32) {
        let Some(flow) = Flow::parse(frame) else {
            return (0, 0);
        };
        let mut best: Option<(u32, u32)> = None; // (priority, queue)
        for n in 0..128u32 {
            let ftqf = self.load(reg::ftqf(n));
            if ftqf & reg::FTQF_ENABLE == 0 {
                continue;
            }
            let mask = (ftqf >> reg::FTQF_MASK_SHIFT) & 0x1F;
            let proto_ok = mask & reg::FTQF_MASK_PROTO != 0
                || match ftqf & 0b11 {
                    0 => flow.proto == 6,
                    1 => flow.proto == 17,
                    2 => flow.proto == 132,
                    _ => !matches!(flow.proto, 6 | 17 | 132),
                };
            let sdp = self.load(reg::sdpqf(n));
            let ok = proto_ok
                && (mask & reg::FTQF_MASK_SRC_ADDR != 0 || self.load(reg::saqf(n)) == flow.src)
                && (mask & reg::FTQF_MASK_DST_ADDR != 0 || self.load(reg::daqf(n)) == flow.dst)
                && (mask & reg::FTQF_MASK_SRC_PORT != 0 || (sdp & 0xFFFF) as u16 == flow.sport)
                && (mask & reg::FTQF_MASK_DST_PORT != 0 || (sdp >> 16) as u16 == flow.dport);
            if ok {
                let prio = (ftqf >> reg::FTQF_PRIORITY_SHIFT) & 0b111;
                let queue =
                    (self.load(reg::l34t_imir(n)) >> reg::IMIR_QUEUE_SHIFT) & reg::IMIR_QUEUE_MASK;
                if best.is_none_or(|(p, _)| prio > p) {
                    best = Some((prio, queue));
                }
            }
        }
        if let Some((_, q)) = best {
            return (q, 0);
        }
        let mrqc = self.load(reg::MRQC);
        if mrqc & 0xF != reg::MRQC_RSS_EN {
            return (0, 0);
        }
        let mut input = Vec::with_capacity(12);
        input.extend_from_slice(&flow.src.to_be_bytes());
        input.extend_from_slice(&flow.dst.to_be_bytes());
        let l4 = (flow.proto == 6 && mrqc & reg::MRQC_TCPIPV4 != 0)
            || (flow.proto == 17 && mrqc & reg::MRQC_UDPIPV4 != 0);
        if l4 {
            input.extend_from_slice(&flow.sport.to_be_bytes());
            input.extend_from_slice(&flow.dport.to_be_bytes());
        } else if mrqc & reg::MRQC_IPV4 == 0 {
            return (0, 0);
        }
        let mut key = [0u8; 40];
        for i in 0..10u32 {
            key[i as usize * 4..i as usize * 4 + 4]
                .copy_from_slice(&self.load(reg::rssrk(i)).to_le_bytes());
        }
        let hash = toeplitz(&key, &input);
        let idx = hash & 0x7F;
        let entry = (self.load(reg::reta(idx / 4)) >> (8 * (idx % 4))) & 0xF;
        (entry, hash)
    }

    fn receive(&self, frame: &[u8]) {
        if !self.accept_l2(frame) {
            self.state().l2_filtered += 1;
            return;
        }
        if frame.len() < 14 {
            self.add(reg::RLEC, 1);
            return;
        }
        if self.load(reg::RXCTRL) & reg::RXCTRL_RXEN == 0 {
            self.add(reg::mpc(0), 1);
            return;
        }
        let (q, hash) = self.steer(frame);
        let drop_full = |m: &Model| {
            if m.load(reg::srrctl(q)) & reg::SRRCTL_DROP_EN != 0 {
                m.add(reg::qprdc(q), 1);
            } else {
                m.add(reg::mpc(0), 1);
            }
            if let Some(c) = m.state().rx.get_mut(q as usize) {
                c.ring_full_drops += 1;
            }
        };
        if q >= MODEL_QUEUES || self.load(reg::rxdctl(q)) & reg::RXDCTL_ENABLE == 0 {
            drop_full(self);
            return;
        }
        let Some((base, n)) = self.ring(reg::rdbal(q), reg::rdbah(q), reg::rdlen(q)) else {
            drop_full(self);
            return;
        };
        let mut head = self.load(reg::rdh(q));
        let tail = self.load(reg::rdt(q));
        if head >= n || tail >= n {
            drop_full(self);
            return;
        }
        let bsize = match (self.load(reg::srrctl(q)) & reg::SRRCTL_BSIZEPKT_MASK) as usize * 1024 {
            0 => 2048,
            b => b,
        };
        let parts = frame.len().div_ceil(bsize) as u32;
        let available = (tail + n - head) % n;
        if available < parts {
            drop_full(self);
            return;
        }
        for (i, chunk) in frame.chunks(bsize).enumerate() {
            let last = i as u32 + 1 == parts;
            // SAFETY: ring of `n` descriptors at `base` (host memory) and
            // `head < n`; the descriptor's buffer address is a host pointer
            // to at least `bsize` bytes (the driver's pool buffer size).
            unsafe {
                let d = base.add(head as usize * 2);
                let addr = d.read_volatile() as usize as *mut u8;
                if !addr.is_null() {
                    core::ptr::copy_nonoverlapping(chunk.as_ptr(), addr, chunk.len());
                }
                d.write_volatile(((hash as u64) << desc::RX_RSS_HASH_SHIFT) | u64::from(hash != 0));
                fence(Ordering::Release);
                let status = desc::RX_STATUS_DD | if last { desc::RX_STATUS_EOP } else { 0 };
                d.add(1)
                    .write_volatile(status | ((chunk.len() as u64) << desc::RX_LEN_SHIFT));
            }
            head = (head + 1) % n;
        }
        self.store(reg::rdh(q), head);
        self.add(reg::GPRC, 1);
        self.add64(reg::GORCL, reg::GORCH, frame.len() as u64);
        if let Some(c) = self.state().rx.get_mut(q as usize) {
            c.delivered += 1;
        }
    }

    /// Bench helper: completes every pending TX descriptor of `q` (DD
    /// written back, TDH = TDT) without copying frames.
    pub fn complete_tx(&self, q: u32) {
        let Some((base, n)) = self.ring(reg::tdbal(q), reg::tdbah(q), reg::tdlen(q)) else {
            return;
        };
        let mut head = self.load(reg::tdh(q));
        let tail = self.load(reg::tdt(q));
        if head >= n || tail >= n {
            return;
        }
        while head != tail {
            // SAFETY: as in `process_tx`.
            unsafe {
                base.add(head as usize * 2 + 1)
                    .write_volatile(desc::TX_STATUS_DD)
            };
            head = (head + 1) % n;
        }
        self.store(reg::tdh(q), head);
    }

    /// Bench helper: writes up to `count` single-descriptor frames of `len`
    /// bytes into the RX ring of `q` in write-back format (as if they had
    /// arrived), without touching the buffers. Returns how many fit.
    pub fn prefill_rx(&self, q: u32, count: u32, len: u16) -> u32 {
        let Some((base, n)) = self.ring(reg::rdbal(q), reg::rdbah(q), reg::rdlen(q)) else {
            return 0;
        };
        let mut head = self.load(reg::rdh(q));
        let tail = self.load(reg::rdt(q));
        if head >= n || tail >= n {
            return 0;
        }
        let mut done = 0;
        while done < count && !(tail + n - head).is_multiple_of(n) {
            // SAFETY: as in `receive`.
            unsafe {
                let d = base.add(head as usize * 2);
                d.write_volatile(0);
                d.add(1).write_volatile(
                    desc::RX_STATUS_DD | desc::RX_STATUS_EOP | ((len as u64) << desc::RX_LEN_SHIFT),
                );
            }
            head = (head + 1) % n;
            done += 1;
        }
        self.store(reg::rdh(q), head);
        done
    }
}

/// The IPv4 5-tuple of a frame (no VLAN, no options beyond IHL).
struct Flow {
    proto: u8,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
}

impl Flow {
    fn parse(f: &[u8]) -> Option<Flow> {
        if f.get(12..14)? != [0x08, 0x00] {
            return None;
        }
        let ip = f.get(14..)?;
        let ihl = (*ip.first()? & 0x0F) as usize * 4;
        let be32 = |s: &[u8]| u32::from_be_bytes([s[0], s[1], s[2], s[3]]);
        let proto = *ip.get(9)?;
        let src = be32(ip.get(12..16)?);
        let dst = be32(ip.get(16..20)?);
        let (sport, dport) = match ip.get(ihl..ihl + 4) {
            Some(l4) if matches!(proto, 6 | 17) => (
                u16::from_be_bytes([l4[0], l4[1]]),
                u16::from_be_bytes([l4[2], l4[3]]),
            ),
            _ => (0, 0),
        };
        Some(Flow {
            proto,
            src,
            dst,
            sport,
            dport,
        })
    }
}

/// Toeplitz hash (§7.1.2.8.1): for every set input bit (MSB first), XOR in
/// the 32 key bits starting at that bit position.
pub fn toeplitz(key: &[u8; 40], input: &[u8]) -> u32 {
    let mut result = 0u32;
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    for (i, byte) in input.iter().enumerate() {
        let next = key.get(i + 4).copied().unwrap_or(0);
        for bit in 0..8 {
            if byte & (0x80 >> bit) != 0 {
                result ^= window;
            }
            window = (window << 1) | ((next >> (7 - bit)) & 1) as u32;
        }
    }
    result
}
