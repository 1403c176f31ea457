//! Intel 82599 (X520) 10 GbE driver, ixy style: one file, polling only,
//! batched receive and transmit with one tail write per batch.
//!
//! Section numbers (§) refer to the Intel 82599 10 GbE Controller Datasheet.
//! Start-up follows §4.6.3 (initialization sequence) step by step; every wait
//! on the device is bounded by a [`Clock`] deadline and fails with its own
//! [`InitError`], so a dead or absent device never hangs the appliance.
//!
//! Queue steering: exact-match L4 filters (§7.1.2.5, "5-tuple" filters) put
//! the market-data feed (a UDP destination port) and the order-entry session
//! (a TCP port) on the queues of the cores that own them; everything else is
//! spread by RSS (§7.1.2.8) over `rss_queues` queues, or lands on queue 0.
//!
//! Ownership: a [`Mempool`] belongs to one core (it is `!Sync` by design:
//! no atomics on the hot path). Two ways to run the device:
//!
//! - [`Ixgbe::init`]: every queue on one core, one pool. Steering still pays
//!   on one core: the feed queue is polled first and is never behind
//!   order-entry traffic.
//! - [`Ixgbe::init_port`]: one [`QueuePair`] per core. The [`Port`] keeps the
//!   device-wide side (filters, multicast, link, device counters); each pair
//!   moves to the core that owns it and is started there with that core's
//!   own pool ([`QueuePair::start`] → [`QueueDriver`], a [`Nic`] for its one
//!   queue). Pairs touch only their own queue's registers, so the cores
//!   never share a lock, an atomic or a cache line of driver state.
//!
//! Memory: the descriptor rings and the per-descriptor buffer bookkeeping are
//! carved from [`DmaAlloc`] in [`Ixgbe::init`]; packet buffers come from the
//! caller's [`Mempool`]. Nothing is allocated afterwards.
//!
//! Wiring on the appliance (per NIC, on the core that will poll it):
//!
//! ```text
//! let bar = unsafe { Mmio::new(bar0_virt, bar0_len, ixgbe::BAR_SIZE)? }; // mapped uncached
//! let pool = Mempool::new(&mut dma, 4096, 2048)?;            // once, in DMA memory
//! let cfg = IxgbeConfig { rx_queues: 3, tx_queues: 3, ..IxgbeConfig::default() };
//! let mut nic = Ixgbe::init(bar, &pool, &mut dma, &tsc_clock, &cfg)?;
//! nic.join_multicast(MacAddress::ipv4_multicast(feed_group));
//! nic.steer_udp_port(feed_port, 1)?;                          // feed core
//! nic.steer_tcp_port(order_local_port, 2)?;                   // order-entry core
//! let mut batch: PacketBatch<'_, 32> = PacketBatch::new();
//! loop {
//!     nic.rx_batch(1, &mut batch);                            // one RDT write
//!     /* parse in place: batch.iter().map(|p| p.data()) */
//!     batch.clear();                                          // buffers back to the pool
//! }
//! ```
#![allow(unsafe_code)]

use core::cell::UnsafeCell;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{fence, Ordering};

use volatile::VolatilePtr;

use crate::dma::{DmaAlloc, DmaError};
use crate::mempool::{Geometry, Mempool, PacketBatch};
use crate::regs::{Mmio, Registers};
use crate::{wait_until, Clock, LinkSpeed, LinkState, MacAddress, Nic, NicStats, QueueId};

#[cfg(any(test, feature = "model"))]
pub mod model;
#[cfg(test)]
mod tests;

/// Registers used by this driver end below 128 KiB (BAR0 of the 82599 is
/// 128 KiB of registers plus flash, §8.1 address regions).
pub const BAR_SIZE: usize = 0x2_0000;
/// Queues this driver manages per direction (the 82599 has 128 RX / 128 TX;
/// an appliance uses one per hot core).
pub const MAX_QUEUES: usize = 16;
/// 5-tuple filters the 82599 provides (§7.1.2.5).
pub const FIVE_TUPLE_FILTERS: u8 = 128;
/// Transmit descriptors are reclaimed in groups of this many (ixy's value):
/// one DD check per group, not per packet.
const TX_CLEAN_BATCH: u32 = 32;

/// Register offsets and fields (§8.2.3).
pub mod reg {
    // §8.2.3.1 General control registers.
    pub const CTRL: u32 = 0x0_0000;
    pub const CTRL_LNK_RST: u32 = 1 << 3;
    pub const CTRL_RST: u32 = 1 << 26;
    pub const CTRL_RST_MASK: u32 = CTRL_LNK_RST | CTRL_RST;
    pub const STATUS: u32 = 0x0_0008;
    pub const CTRL_EXT: u32 = 0x0_0018;
    pub const CTRL_EXT_NS_DIS: u32 = 1 << 16;

    // §8.2.3.2 EEPROM/flash registers.
    pub const EEC: u32 = 0x1_0010;
    /// EEPROM auto-read done.
    pub const EEC_ARD: u32 = 1 << 9;

    // §8.2.3.5 Interrupt registers.
    pub const EICR: u32 = 0x0_0800;
    pub const EIMS: u32 = 0x0_0880;
    pub const EIMC: u32 = 0x0_0888;
    pub const EIMC_ALL: u32 = 0x7FFF_FFFF;

    // §8.2.3.7 Receive registers (filtering, steering).
    pub const RXCSUM: u32 = 0x0_5000;
    /// Report the RSS hash instead of the fragment checksum.
    pub const RXCSUM_PCSD: u32 = 1 << 13;
    pub const FCTRL: u32 = 0x0_5080;
    pub const FCTRL_MPE: u32 = 1 << 8;
    pub const FCTRL_UPE: u32 = 1 << 9;
    pub const FCTRL_BAM: u32 = 1 << 10;
    pub const MCSTCTRL: u32 = 0x0_5090;
    /// Multicast filter enable; MO (bits 1:0) = 0 hashes destination
    /// address bits 47:36.
    pub const MCSTCTRL_MFE: u32 = 1 << 2;
    pub const MTA_BASE: u32 = 0x0_5200;
    pub const MTA_COUNT: u32 = 128;
    pub const fn mta(n: u32) -> u32 {
        MTA_BASE + 4 * n
    }
    pub const fn ral(n: u32) -> u32 {
        0x0_A200 + 8 * n
    }
    pub const fn rah(n: u32) -> u32 {
        0x0_A204 + 8 * n
    }
    pub const RAH_AV: u32 = 1 << 31;
    pub const MRQC: u32 = 0x0_5818;
    pub const MRQC_RSS_EN: u32 = 0b0001;
    pub const MRQC_TCPIPV4: u32 = 1 << 16;
    pub const MRQC_IPV4: u32 = 1 << 17;
    pub const MRQC_UDPIPV4: u32 = 1 << 22;
    /// Redirection table: 32 registers of four 8-bit entries (§7.1.2.8.2).
    pub const fn reta(n: u32) -> u32 {
        0x0_5C00 + 4 * n
    }
    pub const RETA_REGS: u32 = 32;
    /// RSS random key: 10 registers, 40 bytes, byte 0 in bits 7:0 of RSSRK0.
    pub const fn rssrk(n: u32) -> u32 {
        0x0_5C80 + 4 * n
    }
    /// 5-tuple filters (§7.1.2.5): source/destination address, ports,
    /// filter control, and the queue a match goes to.
    pub const fn saqf(n: u32) -> u32 {
        0x0_E000 + 4 * n
    }
    pub const fn daqf(n: u32) -> u32 {
        0x0_E200 + 4 * n
    }
    /// Source port in bits 15:0, destination port in bits 31:16.
    pub const fn sdpqf(n: u32) -> u32 {
        0x0_E400 + 4 * n
    }
    pub const fn ftqf(n: u32) -> u32 {
        0x0_E600 + 4 * n
    }
    pub const fn l34t_imir(n: u32) -> u32 {
        0x0_E800 + 4 * n
    }
    pub const FTQF_PROTO_TCP: u32 = 0b00;
    pub const FTQF_PROTO_UDP: u32 = 0b01;
    pub const FTQF_PRIORITY_SHIFT: u32 = 2;
    /// Mask bits (1 = do not compare): source address, destination address,
    /// source port, destination port, protocol.
    pub const FTQF_MASK_SHIFT: u32 = 25;
    pub const FTQF_MASK_SRC_ADDR: u32 = 1 << 0;
    pub const FTQF_MASK_DST_ADDR: u32 = 1 << 1;
    pub const FTQF_MASK_SRC_PORT: u32 = 1 << 2;
    pub const FTQF_MASK_DST_PORT: u32 = 1 << 3;
    pub const FTQF_MASK_PROTO: u32 = 1 << 4;
    pub const FTQF_POOL_MASK: u32 = 1 << 30;
    pub const FTQF_ENABLE: u32 = 1 << 31;
    pub const IMIR_SIZE_BP: u32 = 1 << 12;
    pub const IMIR_CTRL_BP: u32 = 1 << 19;
    pub const IMIR_QUEUE_SHIFT: u32 = 21;
    pub const IMIR_QUEUE_MASK: u32 = 0x7F;

    // §8.2.3.8 Receive DMA registers (queues 0..63 at 0x40 strides).
    pub const fn rdbal(q: u32) -> u32 {
        0x0_1000 + 0x40 * q
    }
    pub const fn rdbah(q: u32) -> u32 {
        0x0_1004 + 0x40 * q
    }
    pub const fn rdlen(q: u32) -> u32 {
        0x0_1008 + 0x40 * q
    }
    /// §8.2.3.11.1 Rx DCA control (same 0x40 stride).
    pub const fn dca_rxctrl(q: u32) -> u32 {
        0x0_100C + 0x40 * q
    }
    pub const fn rdh(q: u32) -> u32 {
        0x0_1010 + 0x40 * q
    }
    pub const fn srrctl(q: u32) -> u32 {
        0x0_1014 + 0x40 * q
    }
    pub const fn rdt(q: u32) -> u32 {
        0x0_1018 + 0x40 * q
    }
    pub const fn rxdctl(q: u32) -> u32 {
        0x0_1028 + 0x40 * q
    }
    pub const RXDCTL_ENABLE: u32 = 1 << 25;
    /// Receive buffer size in 1 KiB units (bits 4:0).
    pub const SRRCTL_BSIZEPKT_MASK: u32 = 0x1F;
    pub const SRRCTL_DESCTYPE_MASK: u32 = 0b111 << 25;
    pub const SRRCTL_DESCTYPE_ADV_ONEBUF: u32 = 0b001 << 25;
    /// Drop frames when the queue has no descriptor instead of stalling
    /// the shared packet buffer (counted in QPRDC).
    pub const SRRCTL_DROP_EN: u32 = 1 << 28;
    pub const DCA_RXCTRL_DESC_WRO: u32 = 1 << 12;
    pub const RDRXCTL: u32 = 0x0_2F00;
    pub const RDRXCTL_CRCSTRIP: u32 = 1 << 1;
    pub const RDRXCTL_DMAIDONE: u32 = 1 << 3;
    pub const RXCTRL: u32 = 0x0_3000;
    pub const RXCTRL_RXEN: u32 = 1 << 0;
    pub const fn rxpbsize(n: u32) -> u32 {
        0x0_3C00 + 4 * n
    }
    pub const RXPBSIZE_128KB: u32 = 128 << 10;

    // §8.2.3.9 Transmit registers.
    pub const fn tdbal(q: u32) -> u32 {
        0x0_6000 + 0x40 * q
    }
    pub const fn tdbah(q: u32) -> u32 {
        0x0_6004 + 0x40 * q
    }
    pub const fn tdlen(q: u32) -> u32 {
        0x0_6008 + 0x40 * q
    }
    pub const fn tdh(q: u32) -> u32 {
        0x0_6010 + 0x40 * q
    }
    pub const fn tdt(q: u32) -> u32 {
        0x0_6018 + 0x40 * q
    }
    pub const fn txdctl(q: u32) -> u32 {
        0x0_6028 + 0x40 * q
    }
    pub const TXDCTL_ENABLE: u32 = 1 << 25;
    pub const DMATXCTL: u32 = 0x0_4A80;
    pub const DMATXCTL_TE: u32 = 1 << 0;
    pub const DTXMXSZRQ: u32 = 0x0_8100;
    pub const fn txpbsize(n: u32) -> u32 {
        0x0_CC00 + 4 * n
    }
    pub const TXPBSIZE_40KB: u32 = 40 << 10;
    pub const MTQC: u32 = 0x0_8120;
    // §8.2.3.10 DCB registers.
    pub const RTTDCS: u32 = 0x0_4900;
    pub const RTTDCS_ARBDIS: u32 = 1 << 6;

    // §8.2.3.22 MAC registers.
    pub const HLREG0: u32 = 0x0_4240;
    pub const HLREG0_TXCRCEN: u32 = 1 << 0;
    pub const HLREG0_RXCRCSTRP: u32 = 1 << 1;
    pub const HLREG0_TXPADEN: u32 = 1 << 10;
    pub const AUTOC: u32 = 0x0_42A0;
    pub const AUTOC_AN_RESTART: u32 = 1 << 12;
    pub const AUTOC_LMS_MASK: u32 = 0b111 << 13;
    pub const AUTOC_LMS_10G_SERIAL: u32 = 0b011 << 13;
    pub const AUTOC_10G_PMA_PMD_MASK: u32 = 0b11 << 7;
    pub const AUTOC_10G_XAUI: u32 = 0b00 << 7;
    pub const LINKS: u32 = 0x0_42A4;
    pub const LINKS_UP: u32 = 1 << 30;
    pub const LINKS_SPEED_MASK: u32 = 0b11 << 28;
    pub const LINKS_SPEED_10G: u32 = 0b11 << 28;
    pub const LINKS_SPEED_1G: u32 = 0b10 << 28;
    pub const LINKS_SPEED_100M: u32 = 0b01 << 28;

    // §8.2.3.23 Statistics registers (clear on read).
    pub const CRCERRS: u32 = 0x0_4000;
    pub const RLEC: u32 = 0x0_4040;
    pub const GPRC: u32 = 0x0_4074;
    pub const GPTC: u32 = 0x0_4080;
    pub const GORCL: u32 = 0x0_4088;
    pub const GORCH: u32 = 0x0_408C;
    pub const GOTCL: u32 = 0x0_4090;
    pub const GOTCH: u32 = 0x0_4094;
    pub const fn mpc(n: u32) -> u32 {
        0x0_3FA0 + 4 * n
    }
    pub const MPC_COUNT: u32 = 8;
    pub const fn qprdc(q: u32) -> u32 {
        0x0_1430 + 0x40 * q
    }
}

/// Descriptor fields (§7.1.6 advanced receive, §7.2.3.2.4 advanced transmit).
pub mod desc {
    /// Receive write-back, second quadword: extended status bits.
    pub const RX_STATUS_DD: u64 = 1 << 0;
    pub const RX_STATUS_EOP: u64 = 1 << 1;
    /// Receive write-back, second quadword: packet length in bits 47:32.
    pub const RX_LEN_SHIFT: u32 = 32;
    /// Receive write-back, first quadword: RSS hash in bits 63:32.
    pub const RX_RSS_HASH_SHIFT: u32 = 32;
    /// Transmit data descriptor, second quadword (cmd_type_len in the low half).
    pub const TX_DTYP_DATA: u64 = 0b0011 << 20;
    pub const TX_DCMD_EOP: u64 = 1 << 24;
    pub const TX_DCMD_IFCS: u64 = 1 << 25;
    pub const TX_DCMD_RS: u64 = 1 << 27;
    pub const TX_DCMD_DEXT: u64 = 1 << 29;
    /// olinfo_status in the high half: PAYLEN at bits 31:14 of it.
    pub const TX_PAYLEN_SHIFT: u32 = 32 + 14;
    /// Write-back STA.DD in the high half.
    pub const TX_STATUS_DD: u64 = 1 << 32;
    /// Largest buffer one transmit descriptor may carry (§7.2.3.2: 15.5 KiB).
    pub const TX_MAX_LEN: usize = 15 * 1024 + 512;
    pub const TX_CMD: u64 = TX_DTYP_DATA | TX_DCMD_EOP | TX_DCMD_IFCS | TX_DCMD_RS | TX_DCMD_DEXT;
}

/// Bounds of every wait at start-up, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Settle time after setting CTRL.RST before polling it or touching any
    /// other register (§8.2.3.1.1 asks for about 1 ms).
    pub reset_settle_ns: u64,
    pub reset_ns: u64,
    /// Quiet time after the reset bit clears before touching registers
    /// (§4.6.3.2 asks for at least 10 ms).
    pub post_reset_delay_ns: u64,
    pub eeprom_ns: u64,
    pub dma_init_ns: u64,
    pub queue_enable_ns: u64,
    pub link_ns: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            reset_settle_ns: 1_000_000,
            reset_ns: 1_000_000_000,
            post_reset_delay_ns: 10_000_000,
            eeprom_ns: 1_000_000_000,
            dma_init_ns: 1_000_000_000,
            queue_enable_ns: 100_000_000,
            link_ns: 2_000_000_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IxgbeConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    /// Descriptors per ring, a power of two in 8..=4096.
    pub ring_size: u16,
    /// Accept every unicast and multicast frame (FCTRL.UPE/MPE).
    pub promiscuous: bool,
    /// Spread unsteered traffic by RSS over queues `0..rss_queues`
    /// (0 or 1: RSS off, unsteered traffic goes to queue 0).
    pub rss_queues: u16,
    pub rss_key: [u8; 40],
    /// Fail start-up with [`InitError::LinkTimeout`] if the link does not
    /// come up; otherwise start with the link down and let `link()` report it.
    pub require_link: bool,
    pub timeouts: Timeouts,
}

impl Default for IxgbeConfig {
    fn default() -> Self {
        IxgbeConfig {
            rx_queues: 1,
            tx_queues: 1,
            ring_size: 512,
            promiscuous: false,
            rss_queues: 0,
            rss_key: default_rss_key(),
            require_link: false,
            timeouts: Timeouts::default(),
        }
    }
}

/// A fixed, arbitrary RSS key (xorshift output): any key with enough mixed
/// bits spreads flows; the appliance steers its hot flows by filter anyway.
pub const fn default_rss_key() -> [u8; 40] {
    let mut key = [0u8; 40];
    let mut x: u32 = 0x6d2b_79f5;
    let mut i = 0;
    while i < 40 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        key[i] = x as u8;
        i += 1;
    }
    key
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    BadConfig(&'static str),
    Dma(DmaError),
    /// The pool cannot fill every receive ring and leave buffers for transmit.
    PoolTooSmall {
        needed: u32,
        free: u32,
    },
    /// CTRL.RST did not clear (§4.6.3.2).
    ResetTimeout,
    /// EEC.ARD never set (§4.6.3).
    EepromTimeout,
    /// RDRXCTL.DMAIDONE never set (§4.6.3).
    DmaInitTimeout,
    /// RXDCTL.ENABLE did not read back set (§4.6.7.1).
    RxQueueEnableTimeout(QueueId),
    /// TXDCTL.ENABLE did not read back set (§4.6.8.1).
    TxQueueEnableTimeout(QueueId),
    /// LINKS.UP did not set and `require_link` was asked (§4.6.4).
    LinkTimeout,
}

impl From<DmaError> for InitError {
    fn from(e: DmaError) -> Self {
        InitError::Dma(e)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SteerError {
    NoSuchQueue(QueueId),
    /// All 128 5-tuple filters are in use.
    FiltersExhausted,
}

/// A descriptor ring in DMA memory: `mask + 1` descriptors of two quadwords,
/// and beside it (in ordinary memory) the pool index of the buffer behind
/// each descriptor: the receive write-back overwrites the address, and a
/// transmitted buffer must be returned to its pool.
struct DescRing {
    base: NonNull<u64>,
    phys: u64,
    mask: u32,
    /// `mask + 1` entries (checked in `new`; neither field changes after).
    bufs: NonNull<u32>,
}

impl DescRing {
    fn new(dma: &mut dyn DmaAlloc, entries: u32) -> Result<Self, InitError> {
        let bytes = entries as usize * 16;
        // §7.1.9 / §7.2.3.3: rings are 128-byte aligned, length a multiple of 128.
        let chunk = dma.alloc(bytes, 128)?;
        if chunk.len < bytes || !(chunk.virt.as_ptr() as usize).is_multiple_of(128) {
            return Err(InitError::Dma(DmaError::BadRequest));
        }
        let bufs = dma
            .alloc(entries as usize * 4, 64)?
            .into_u32_slice()
            .filter(|b| b.len() == entries as usize)
            .ok_or(InitError::Dma(DmaError::BadRequest))?;
        Ok(DescRing {
            base: chunk.virt.cast::<u64>(),
            phys: chunk.phys,
            mask: entries - 1,
            bufs: NonNull::from(bufs).cast::<u32>(),
        })
    }

    /// The ring for one batch. Its fields are copied into the view, so they
    /// stay in registers across descriptor stores and fences, where fields
    /// read through `&mut RxQueue` would be reloaded.
    #[inline(always)]
    fn view(&mut self) -> RingView<'_> {
        RingView {
            desc: self.base,
            bufs: self.bufs,
            mask: self.mask,
            _ring: PhantomData,
        }
    }

    fn len_bytes(&self) -> u32 {
        (self.mask + 1) * 16
    }
}

/// Exclusive access to a [`DescRing`] for one call; every index is masked.
struct RingView<'r> {
    desc: NonNull<u64>,
    bufs: NonNull<u32>,
    mask: u32,
    _ring: PhantomData<&'r mut DescRing>,
}

impl RingView<'_> {
    /// The same view for a shorter borrow, passed by value (three
    /// registers) where a reference would make the caller keep the view in
    /// memory.
    #[inline(always)]
    fn reborrow(&mut self) -> RingView<'_> {
        RingView {
            desc: self.desc,
            bufs: self.bufs,
            mask: self.mask,
            _ring: PhantomData,
        }
    }

    #[inline(always)]
    fn qword(&self, index: u32, word: u32) -> VolatilePtr<'_, u64> {
        let slot = ((index & self.mask) as usize) * 2 + (word & 1) as usize;
        // SAFETY: `slot < 2 * entries` (masked index, word 0 or 1), inside the
        // ring's chunk which the DmaAlloc contract keeps valid and exclusive
        // forever; 128-byte alignment makes every quadword aligned.
        unsafe { VolatilePtr::new(self.desc.add(slot)) }
    }

    /// Reads word `word` (0 or 1) of descriptor `index`.
    #[inline(always)]
    fn read(&self, index: u32, word: u32) -> u64 {
        self.qword(index, word).read()
    }

    /// Writes word `word` (0 or 1) of descriptor `index`.
    #[inline(always)]
    fn write(&self, index: u32, word: u32, value: u64) {
        self.qword(index, word).write(value)
    }

    /// Pool index of the buffer behind descriptor `index`.
    #[inline(always)]
    fn buf(&self, index: u32) -> u32 {
        // SAFETY: a masked index is below `mask + 1`, the length of `bufs`
        // (`DescRing::new`); the view borrows the ring exclusively, and no
        // reference into `bufs` is alive while `&self` is (`set_buf` needs
        // `&mut self`, `bufs` hands out a borrow of `self`).
        unsafe { self.bufs.add((index & self.mask) as usize).read() }
    }

    #[inline(always)]
    fn set_buf(&mut self, index: u32, buf: u32) {
        // SAFETY: as in `buf`; `&mut self` excludes any live `&[u32]` from
        // `bufs`.
        unsafe { self.bufs.add((index & self.mask) as usize).write(buf) }
    }

    /// Every descriptor and the pool index behind it, in ring order, for
    /// loops over a run of consecutive descriptors: sub-slices of these need
    /// no mask and no bounds check per descriptor.
    #[inline(always)]
    fn split(&mut self) -> (&[DescCell], &mut [u32]) {
        let len = self.mask as usize + 1;
        // SAFETY: `desc` points to `mask + 1` descriptors of 16 bytes, aligned
        // (DescRing::new checked the chunk's length and 128-byte alignment),
        // valid for the program's life and exclusive to this ring (DmaAlloc
        // contract). `DescCell` is a transparent `UnsafeCell<[u64; 2]>`, so a
        // shared slice of them still allows the device's writes and our
        // volatile stores through it. `bufs` holds `mask + 1` initialized
        // `u32`s owned by the ring; `&mut self` keeps that slice unique
        // while it lives (every other access to `bufs` goes through `self`).
        unsafe {
            (
                core::slice::from_raw_parts(self.desc.as_ptr().cast::<DescCell>(), len),
                core::slice::from_raw_parts_mut(self.bufs.as_ptr(), len),
            )
        }
    }

    /// The pool index behind every descriptor, in ring order.
    #[inline(always)]
    fn bufs(&self) -> &[u32] {
        // SAFETY: `bufs` holds `mask + 1` initialized `u32`s (`DescRing::new`)
        // owned by the ring, which the view borrows exclusively; writes go
        // through `set_buf`, which needs `&mut self`, so none happens while
        // this slice lives.
        unsafe { core::slice::from_raw_parts(self.bufs.as_ptr(), self.mask as usize + 1) }
    }
}

/// One descriptor in DMA memory, read and written only with volatile
/// accesses of its two quadwords: the device reads and writes it behind the
/// compiler's back.
#[repr(transparent)]
struct DescCell(UnsafeCell<[u64; 2]>);

impl DescCell {
    #[inline(always)]
    fn read(&self, word: usize) -> u64 {
        // SAFETY: the cell is a valid, aligned descriptor of a live ring
        // (`RingView::split`); `word & 1` stays inside its two quadwords.
        unsafe { self.0.get().cast::<u64>().add(word & 1).read_volatile() }
    }

    #[inline(always)]
    fn write(&self, word: usize, value: u64) {
        // SAFETY: as in `read`; the `UnsafeCell` allows the store through `&`.
        unsafe {
            self.0
                .get()
                .cast::<u64>()
                .add(word & 1)
                .write_volatile(value)
        }
    }
}

struct RxQueue {
    ring: DescRing,
    /// Next descriptor to look at.
    next: u32,
    /// Inside a frame that spans descriptors: drop until its EOP.
    discarding: bool,
}

struct TxQueue {
    ring: DescRing,
    /// Next descriptor to fill.
    tail: u32,
    /// Oldest descriptor not yet reclaimed.
    clean: u32,
}

/// The device as a whole: start-up, filters, multicast, link and the
/// device-wide counters. Queues are driven by an [`Ixgbe`] (all on one core)
/// or by [`QueueDriver`]s (one per core, see [`Ixgbe::init_port`]).
pub struct Port<R: Registers = Mmio> {
    regs: R,
    mac: MacAddress,
    rx_queues: u16,
    filters_used: u8,
}

/// The 82599 driver with every queue on one core. `R` is the register
/// access: [`Mmio`] on hardware.
pub struct Ixgbe<'p, R: Registers = Mmio> {
    port: Port<R>,
    pool: &'p Mempool,
    rx: heapless::Vec<RxQueue, MAX_QUEUES>,
    tx: heapless::Vec<TxQueue, MAX_QUEUES>,
    stats: NicStats,
}

type Rings = (
    heapless::Vec<RxQueue, MAX_QUEUES>,
    heapless::Vec<TxQueue, MAX_QUEUES>,
);

impl<R: Registers> Port<R> {
    /// §4.6.3: reset, EEPROM and DMA init, link set-up started, receive and
    /// transmit paths configured with `buf_size`-byte receive buffers. No
    /// queue is enabled and the link is not waited for.
    fn bring_up(
        regs: R,
        dma: &mut dyn DmaAlloc,
        clock: &dyn Clock,
        cfg: &IxgbeConfig,
        buf_size: usize,
    ) -> Result<(Port<R>, Rings), InitError> {
        validate(cfg, buf_size)?;
        let t = &cfg.timeouts;

        // §4.6.3.1: mask all interrupts; this driver polls.
        regs.write(reg::EIMC, reg::EIMC_ALL);
        // §4.6.3.2: global reset (device and link), bounded wait for the
        // self-clearing bit, then the quiet period before further access.
        regs.write(reg::CTRL, reg::CTRL_RST_MASK);
        wait_until(clock, t.reset_settle_ns, || false);
        if !wait_until(clock, t.reset_ns, || {
            regs.read(reg::CTRL) & reg::CTRL_RST_MASK == 0
        }) {
            return Err(InitError::ResetTimeout);
        }
        wait_until(clock, t.post_reset_delay_ns, || false);
        // §4.6.3.1: the reset re-enabled nothing, but mask again as asked.
        regs.write(reg::EIMC, reg::EIMC_ALL);
        regs.read(reg::EICR);

        // §4.6.3: EEPROM auto-read (MAC address, analog settings), then DMA init.
        if !wait_until(clock, t.eeprom_ns, || {
            regs.read(reg::EEC) & reg::EEC_ARD != 0
        }) {
            return Err(InitError::EepromTimeout);
        }
        if !wait_until(clock, t.dma_init_ns, || {
            regs.read(reg::RDRXCTL) & reg::RDRXCTL_DMAIDONE != 0
        }) {
            return Err(InitError::DmaInitTimeout);
        }

        // §4.6.4: link set-up: 10G serial link mode, restart auto-negotiation.
        // The link comes up while the queues are set up; waited for at the end.
        let autoc = regs.read(reg::AUTOC);
        let autoc = (autoc & !reg::AUTOC_LMS_MASK) | reg::AUTOC_LMS_10G_SERIAL;
        let autoc = (autoc & !reg::AUTOC_10G_PMA_PMD_MASK) | reg::AUTOC_10G_XAUI;
        regs.write(reg::AUTOC, autoc | reg::AUTOC_AN_RESTART);

        let mut port = Port {
            mac: read_mac(&regs),
            regs,
            rx_queues: cfg.rx_queues,
            filters_used: 0,
        };
        // §4.6.5: statistics clear on read; read once so counting starts at 0.
        port.read_hw_stats(&mut NicStats::default(), 0..cfg.rx_queues as u32);
        let rx = port.init_rx(dma, cfg, buf_size)?;
        let tx = port.init_tx(dma, cfg)?;
        Ok((port, (rx, tx)))
    }

    /// §4.6.4: bounded wait for link up.
    fn wait_link(&self, clock: &dyn Clock, cfg: &IxgbeConfig) -> Result<(), InitError> {
        let up = wait_until(clock, cfg.timeouts.link_ns, || {
            self.regs.read(reg::LINKS) & reg::LINKS_UP != 0
        });
        if !up && cfg.require_link {
            return Err(InitError::LinkTimeout);
        }
        Ok(())
    }

    /// §4.6.7: receive path; queues are enabled in `start_rx_queue`.
    fn init_rx(
        &mut self,
        dma: &mut dyn DmaAlloc,
        cfg: &IxgbeConfig,
        buf_size: usize,
    ) -> Result<heapless::Vec<RxQueue, MAX_QUEUES>, InitError> {
        let port = &mut *self;
        let mut rx = heapless::Vec::new();
        let r = &port.regs;
        r.clear_bits(reg::RXCTRL, reg::RXCTRL_RXEN);
        // §4.6.11.3.4: no DCB: all of the receive packet buffer to PB0.
        r.write(reg::rxpbsize(0), reg::RXPBSIZE_128KB);
        for i in 1..8 {
            r.write(reg::rxpbsize(i), 0);
        }
        // §4.6.7: strip the CRC in both places the datasheet names.
        r.set_bits(reg::HLREG0, reg::HLREG0_RXCRCSTRP);
        r.set_bits(reg::RDRXCTL, reg::RDRXCTL_CRCSTRIP);
        // §7.1.1: L2 filtering: broadcast yes, promiscuous only if asked;
        // multicast through the MTA (hash on bits 47:36, MO = 0).
        let mut fctrl = r.read(reg::FCTRL) | reg::FCTRL_BAM;
        if cfg.promiscuous {
            fctrl |= reg::FCTRL_UPE | reg::FCTRL_MPE;
        } else {
            fctrl &= !(reg::FCTRL_UPE | reg::FCTRL_MPE);
        }
        r.write(reg::FCTRL, fctrl);
        for i in 0..reg::MTA_COUNT {
            r.write(reg::mta(i), 0);
        }
        r.write(reg::MCSTCTRL, reg::MCSTCTRL_MFE);

        let ring = cfg.ring_size as u32;
        let bsize_kb = (buf_size / 1024) as u32 & reg::SRRCTL_BSIZEPKT_MASK;
        for q in 0..cfg.rx_queues as u32 {
            // §7.1.6 / §8.2.3.8.7: advanced one-buffer descriptors, buffer
            // size from the pool, drop when the ring is full.
            let srrctl = (r.read(reg::srrctl(q))
                & !(reg::SRRCTL_DESCTYPE_MASK | reg::SRRCTL_BSIZEPKT_MASK))
                | reg::SRRCTL_DESCTYPE_ADV_ONEBUF
                | reg::SRRCTL_DROP_EN
                | bsize_kb;
            r.write(reg::srrctl(q), srrctl);
            // §7.1.9: the ring.
            let ring_mem = DescRing::new(dma, ring)?;
            r.write(reg::rdbal(q), ring_mem.phys as u32);
            r.write(reg::rdbah(q), (ring_mem.phys >> 32) as u32);
            r.write(reg::rdlen(q), ring_mem.len_bytes());
            r.write(reg::rdh(q), 0);
            r.write(reg::rdt(q), 0);
            let pushed = rx.push(RxQueue {
                ring: ring_mem,
                next: 0,
                discarding: false,
            });
            if pushed.is_err() {
                return Err(InitError::BadConfig("too many queues"));
            }
        }
        if cfg.rss_queues > 1 {
            port.configure_rss(cfg.rss_queues, &cfg.rss_key);
        }
        let r = &port.regs;
        // §4.6.7 (last step): no-snoop disable, and clear DCA_RXCTRL bit 12
        // which resets to 1 but must be 0.
        r.set_bits(reg::CTRL_EXT, reg::CTRL_EXT_NS_DIS);
        for q in 0..cfg.rx_queues as u32 {
            r.clear_bits(reg::dca_rxctrl(q), reg::DCA_RXCTRL_DESC_WRO);
        }
        r.set_bits(reg::RXCTRL, reg::RXCTRL_RXEN);
        Ok(rx)
    }

    /// §7.1.2.8: RSS over TCP/UDP/IPv4 headers, table spread over `queues`.
    fn configure_rss(&mut self, queues: u16, key: &[u8; 40]) {
        let r = &self.regs;
        for (i, k) in key.chunks_exact(4).enumerate() {
            let word = u32::from_le_bytes([k[0], k[1], k[2], k[3]]);
            r.write(reg::rssrk(i as u32), word);
        }
        for i in 0..reg::RETA_REGS {
            let mut word = 0u32;
            for b in 0..4 {
                let entry = (i * 4 + b) % queues as u32;
                word |= entry << (8 * b);
            }
            r.write(reg::reta(i), word);
        }
        r.set_bits(reg::RXCSUM, reg::RXCSUM_PCSD);
        r.write(
            reg::MRQC,
            reg::MRQC_RSS_EN | reg::MRQC_TCPIPV4 | reg::MRQC_IPV4 | reg::MRQC_UDPIPV4,
        );
    }

    /// §4.6.8: transmit path.
    fn init_tx(
        &mut self,
        dma: &mut dyn DmaAlloc,
        cfg: &IxgbeConfig,
    ) -> Result<heapless::Vec<TxQueue, MAX_QUEUES>, InitError> {
        let port = &*self;
        let mut tx = heapless::Vec::new();
        let r = &port.regs;
        // CRC insertion and short-frame padding in hardware.
        r.set_bits(reg::HLREG0, reg::HLREG0_TXCRCEN | reg::HLREG0_TXPADEN);
        // §4.6.11.3.4: no DCB: all of the transmit packet buffer to PB0.
        r.write(reg::txpbsize(0), reg::TXPBSIZE_40KB);
        for i in 1..8 {
            r.write(reg::txpbsize(i), 0);
        }
        // §4.6.8: without DCB/virtualization DTXMXSZRQ is set to its maximum
        // and MTQC is written with the arbiter disabled.
        r.write(reg::DTXMXSZRQ, 0xFFFF);
        r.set_bits(reg::RTTDCS, reg::RTTDCS_ARBDIS);
        r.write(reg::MTQC, 0);
        r.clear_bits(reg::RTTDCS, reg::RTTDCS_ARBDIS);

        let ring = cfg.ring_size as u32;
        for q in 0..cfg.tx_queues as u32 {
            let ring_mem = DescRing::new(dma, ring)?;
            r.write(reg::tdbal(q), ring_mem.phys as u32);
            r.write(reg::tdbah(q), (ring_mem.phys >> 32) as u32);
            r.write(reg::tdlen(q), ring_mem.len_bytes());
            // §7.2.3.4.1 / §7.2.3.5: prefetch, host and write-back thresholds
            // (PTHRESH 36, HTHRESH 8, WTHRESH 4): fewer, larger PCIe transfers.
            let txdctl = r.read(reg::txdctl(q)) & !(0x7F | (0x7F << 8) | (0x7F << 16));
            r.write(reg::txdctl(q), txdctl | 36 | (8 << 8) | (4 << 16));
            let pushed = tx.push(TxQueue {
                ring: ring_mem,
                tail: 0,
                clean: 0,
            });
            if pushed.is_err() {
                return Err(InitError::BadConfig("too many queues"));
            }
        }
        r.write(reg::DMATXCTL, reg::DMATXCTL_TE);
        Ok(tx)
    }

    /// Sends frames with UDP destination `port` to `queue` (§7.1.2.5).
    pub fn steer_udp_port(&mut self, port: u16, queue: QueueId) -> Result<u8, SteerError> {
        self.add_port_filter(reg::FTQF_PROTO_UDP, port, queue)
    }

    /// Sends TCP segments with destination `port` to `queue` (§7.1.2.5).
    /// For an order-entry session this is our local port.
    pub fn steer_tcp_port(&mut self, port: u16, queue: QueueId) -> Result<u8, SteerError> {
        self.add_port_filter(reg::FTQF_PROTO_TCP, port, queue)
    }

    fn add_port_filter(&mut self, proto: u32, port: u16, queue: QueueId) -> Result<u8, SteerError> {
        if queue >= self.rx_queues {
            return Err(SteerError::NoSuchQueue(queue));
        }
        if self.filters_used >= FIVE_TUPLE_FILTERS {
            return Err(SteerError::FiltersExhausted);
        }
        let n = self.filters_used as u32;
        let r = &self.regs;
        r.write(reg::saqf(n), 0);
        r.write(reg::daqf(n), 0);
        r.write(reg::sdpqf(n), (port as u32) << 16);
        r.write(
            reg::l34t_imir(n),
            reg::IMIR_SIZE_BP
                | reg::IMIR_CTRL_BP
                | ((queue as u32 & reg::IMIR_QUEUE_MASK) << reg::IMIR_QUEUE_SHIFT),
        );
        // Compare protocol and destination port only; ignore the pool.
        let mask = reg::FTQF_MASK_SRC_ADDR | reg::FTQF_MASK_DST_ADDR | reg::FTQF_MASK_SRC_PORT;
        r.write(
            reg::ftqf(n),
            proto
                | (1 << reg::FTQF_PRIORITY_SHIFT)
                | (mask << reg::FTQF_MASK_SHIFT)
                | reg::FTQF_POOL_MASK
                | reg::FTQF_ENABLE,
        );
        self.filters_used += 1;
        Ok(n as u8)
    }

    /// Accepts frames for a multicast group (the feed's A/B lines): sets the
    /// MTA bit its destination address hashes to (§7.1.1.1, MO = 0: bits
    /// 47:36 of the address; upper 7 bits pick the register, lower 5 the bit).
    pub fn join_multicast(&mut self, group: MacAddress) {
        let hash = mta_hash(group);
        self.regs.set_bits(reg::mta(hash >> 5), 1 << (hash & 0x1F));
    }

    pub fn set_promiscuous(&mut self, on: bool) {
        if on {
            self.regs
                .set_bits(reg::FCTRL, reg::FCTRL_UPE | reg::FCTRL_MPE);
        } else {
            self.regs
                .clear_bits(reg::FCTRL, reg::FCTRL_UPE | reg::FCTRL_MPE);
        }
    }

    /// Direct register access (diagnostics, tests).
    pub fn registers(&self) -> &R {
        &self.regs
    }

    pub fn mac_address(&self) -> MacAddress {
        self.mac
    }

    pub fn link(&self) -> LinkState {
        link_state(&self.regs)
    }

    /// Device-wide counters (packets, bytes, missed frames, errors) since
    /// the last call; per-queue drops are counted by each queue's driver.
    pub fn device_stats(&mut self) -> NicStats {
        let mut s = NicStats::default();
        self.read_hw_stats(&mut s, 0..0);
        s
    }

    /// Adds the device-wide counters (clear on read) to `s`, with the
    /// per-queue drop counters of `queues` (each read by its owner only).
    fn read_hw_stats(&self, s: &mut NicStats, queues: core::ops::Range<u32>) {
        let r = &self.regs;
        s.hw_rx_packets += r.read_stat(reg::GPRC) as u64;
        s.hw_tx_packets += r.read_stat(reg::GPTC) as u64;
        // Low half first: reading the high half completes the pair.
        let lo = r.read_stat(reg::GORCL) as u64;
        s.hw_rx_bytes += lo | ((r.read_stat(reg::GORCH) as u64) << 32);
        let lo = r.read_stat(reg::GOTCL) as u64;
        s.hw_tx_bytes += lo | ((r.read_stat(reg::GOTCH) as u64) << 32);
        let mut dropped = 0u64;
        for i in 0..reg::MPC_COUNT {
            dropped += r.read_stat(reg::mpc(i)) as u64;
        }
        for q in queues {
            dropped += r.read_stat(reg::qprdc(q)) as u64;
        }
        s.rx_dropped += dropped;
        s.rx_errors += r.read_stat(reg::CRCERRS) as u64 + r.read_stat(reg::RLEC) as u64;
    }
}

/// Refuses configurations the driver cannot run.
fn validate(cfg: &IxgbeConfig, buf_size: usize) -> Result<(), InitError> {
    let ring = cfg.ring_size as u32;
    if !ring.is_power_of_two() || !(8..=4096).contains(&ring) {
        return Err(InitError::BadConfig(
            "ring_size must be a power of two in 8..=4096",
        ));
    }
    if cfg.rx_queues == 0 || cfg.tx_queues == 0 {
        return Err(InitError::BadConfig("at least one rx and one tx queue"));
    }
    if cfg.rx_queues as usize > MAX_QUEUES || cfg.tx_queues as usize > MAX_QUEUES {
        return Err(InitError::BadConfig("too many queues"));
    }
    if cfg.rss_queues > cfg.rx_queues {
        return Err(InitError::BadConfig("rss_queues exceeds rx_queues"));
    }
    if !buf_size.is_power_of_two() || !(1024..=16384).contains(&buf_size) {
        return Err(InitError::BadConfig("buffer size"));
    }
    Ok(())
}

fn link_state<R: Registers>(regs: &R) -> LinkState {
    let links = regs.read(reg::LINKS);
    if links & reg::LINKS_UP == 0 {
        return LinkState::Down;
    }
    match links & reg::LINKS_SPEED_MASK {
        reg::LINKS_SPEED_10G => LinkState::Up(LinkSpeed::Gbps10),
        reg::LINKS_SPEED_1G => LinkState::Up(LinkSpeed::Gbps1),
        reg::LINKS_SPEED_100M => LinkState::Up(LinkSpeed::Mbps100),
        _ => LinkState::Down,
    }
}

impl<'p, R: Registers> Ixgbe<'p, R> {
    /// Resets and starts the device (§4.6.3) with every queue on this core,
    /// receive buffers from `pool`; every wait bounded by `clock`.
    pub fn init(
        regs: R,
        pool: &'p Mempool,
        dma: &mut dyn DmaAlloc,
        clock: &dyn Clock,
        cfg: &IxgbeConfig,
    ) -> Result<Self, InitError> {
        validate(cfg, pool.buf_size())?;
        // Every receive descriptor holds a buffer, plus at least one ring's
        // worth for transmit and for frames the application holds.
        let needed = cfg.ring_size as u32 * (cfg.rx_queues as u32 + 1);
        if pool.free_count() < needed {
            return Err(InitError::PoolTooSmall {
                needed,
                free: pool.free_count(),
            });
        }
        let (port, (mut rx, tx)) = Port::bring_up(regs, dma, clock, cfg, pool.buf_size())?;
        let timeout = cfg.timeouts.queue_enable_ns;
        for (q, queue) in rx.iter_mut().enumerate() {
            start_rx_queue(&port.regs, queue, pool, q as QueueId, clock, timeout)?;
        }
        for q in 0..tx.len() {
            start_tx_queue(&port.regs, q as QueueId, clock, timeout)?;
        }
        port.wait_link(clock, cfg)?;
        Ok(Ixgbe {
            port,
            pool,
            rx,
            tx,
            stats: NicStats::default(),
        })
    }

    /// Resets and configures the device (§4.6.3) for **one queue pair per
    /// core**: returns the [`Port`] (filters, link, device counters) and
    /// one [`QueuePair`] per queue, not yet started. Each pair goes to the
    /// core that owns it and is started there with that core's own pool
    /// ([`QueuePair::start`]): a pool is `!Sync`, so receive buffers of one
    /// queue never come from another core's pool, and the hot path stays
    /// free of atomics. Needs `rx_queues == tx_queues`; receive buffers are
    /// `buf_size` bytes (every queue's pool must use that size).
    #[allow(clippy::type_complexity)]
    pub fn init_port(
        regs: R,
        dma: &mut dyn DmaAlloc,
        clock: &dyn Clock,
        cfg: &IxgbeConfig,
        buf_size: usize,
    ) -> Result<(Port<R>, heapless::Vec<QueuePair<R>, MAX_QUEUES>), InitError>
    where
        R: Clone,
    {
        if cfg.rx_queues != cfg.tx_queues {
            return Err(InitError::BadConfig(
                "one queue pair per core: rx_queues must equal tx_queues",
            ));
        }
        let (port, (rx, tx)) = Port::bring_up(regs, dma, clock, cfg, buf_size)?;
        port.wait_link(clock, cfg)?;
        let mut pairs = heapless::Vec::new();
        for (id, (rx, tx)) in rx.into_iter().zip(tx).enumerate() {
            let pair = QueuePair {
                regs: port.regs.clone(),
                mac: port.mac,
                id: id as QueueId,
                rx,
                tx,
                buf_size,
                enable_timeout_ns: cfg.timeouts.queue_enable_ns,
            };
            if pairs.push(pair).is_err() {
                return Err(InitError::BadConfig("too many queues"));
            }
        }
        Ok((port, pairs))
    }

    /// Filters, multicast and registers of the device.
    pub fn port(&mut self) -> &mut Port<R> {
        &mut self.port
    }

    /// Sends frames with UDP destination `port` to `queue` (§7.1.2.5).
    pub fn steer_udp_port(&mut self, port: u16, queue: QueueId) -> Result<u8, SteerError> {
        self.port.steer_udp_port(port, queue)
    }

    /// Sends TCP segments with destination `port` to `queue` (§7.1.2.5).
    pub fn steer_tcp_port(&mut self, port: u16, queue: QueueId) -> Result<u8, SteerError> {
        self.port.steer_tcp_port(port, queue)
    }

    /// Accepts frames for a multicast group (§7.1.1.1).
    pub fn join_multicast(&mut self, group: MacAddress) {
        self.port.join_multicast(group)
    }

    pub fn set_promiscuous(&mut self, on: bool) {
        self.port.set_promiscuous(on)
    }

    /// Direct register access (diagnostics, tests).
    pub fn registers(&self) -> &R {
        &self.port.regs
    }
}

/// §4.6.7.1: give every descriptor a buffer from `pool`, enable, wait, hand
/// the ring to the device.
fn start_rx_queue<R: Registers>(
    regs: &R,
    queue: &mut RxQueue,
    pool: &Mempool,
    q: QueueId,
    clock: &dyn Clock,
    timeout: u64,
) -> Result<(), InitError> {
    let last = queue.ring.mask;
    let mut ring = queue.ring.view();
    for i in 0..=last {
        let idx = pool.alloc_index().ok_or(InitError::PoolTooSmall {
            needed: last + 1,
            free: pool.free_count(),
        })?;
        ring.set_buf(i, idx);
        ring.write(i, 0, pool.phys_of(idx));
        ring.write(i, 1, 0);
    }
    let q32 = q as u32;
    regs.set_bits(reg::rxdctl(q32), reg::RXDCTL_ENABLE);
    if !wait_until(clock, timeout, || {
        regs.read(reg::rxdctl(q32)) & reg::RXDCTL_ENABLE != 0
    }) {
        return Err(InitError::RxQueueEnableTimeout(q));
    }
    fence(Ordering::Release);
    regs.write(reg::rdh(q32), 0);
    // All but one descriptor to the device: head == tail means "no
    // descriptor", so one always stays with software.
    regs.write(reg::rdt(q32), last);
    Ok(())
}

/// §4.6.8.1: empty ring, enable, wait.
fn start_tx_queue<R: Registers>(
    regs: &R,
    q: QueueId,
    clock: &dyn Clock,
    timeout: u64,
) -> Result<(), InitError> {
    let q32 = q as u32;
    regs.write(reg::tdh(q32), 0);
    regs.write(reg::tdt(q32), 0);
    regs.set_bits(reg::txdctl(q32), reg::TXDCTL_ENABLE);
    if !wait_until(clock, timeout, || {
        regs.read(reg::txdctl(q32)) & reg::TXDCTL_ENABLE != 0
    }) {
        return Err(InitError::TxQueueEnableTimeout(q));
    }
    Ok(())
}

/// Reclaims transmitted descriptors in groups of `TX_CLEAN_BATCH`: one DD
/// check per group (the device completes in order), then every
/// completed group's buffers go back to the pool in one copy (two where the
/// range wraps the ring's end).
#[inline]
fn clean_tx(queue: &mut TxQueue, pool: &Mempool) {
    let tail = queue.tail;
    let clean = queue.clean;
    let ring = queue.ring.view();
    let mask = ring.mask;
    let mut done = 0u32;
    loop {
        let pending = tail.wrapping_sub(clean).wrapping_sub(done) & mask;
        if pending == 0 {
            break;
        }
        let step = pending.min(TX_CLEAN_BATCH);
        let last = clean.wrapping_add(done).wrapping_add(step - 1);
        // §7.2.3.2.4: DD in the write-back STA of the group's last descriptor.
        if ring.read(last, 1) & desc::TX_STATUS_DD == 0 {
            break;
        }
        done += step;
    }
    if done == 0 {
        return;
    }
    // `clean <= mask` and `done <= mask`: both ranges lie inside the ring.
    let bufs = ring.bufs();
    let first = (done as usize).min(bufs.len() - clean as usize);
    let mut run = pool.run();
    run.give_all(
        bufs.get(clean as usize..clean as usize + first)
            .unwrap_or_default(),
    );
    run.give_all(bufs.get(..done as usize - first).unwrap_or_default());
    drop(run);
    queue.clean = clean.wrapping_add(done) & mask;
}

/// Both status bits a deliverable descriptor has (§7.1.6.2 write-back:
/// descriptor done, end of packet).
const RX_DD_EOP: u64 = desc::RX_STATUS_DD | desc::RX_STATUS_EOP;

/// Drops, from descriptor `next` on, descriptors that carry no deliverable
/// frame: parts of a frame larger than one buffer (no EOP on the first part;
/// `discarding` says the previous call ended inside one), counted once per
/// frame at its last part, and single descriptors with a length the buffer
/// cannot hold (a device error). Each keeps its buffer, handed back to the
/// device as it is. Stops at a deliverable frame, at a descriptor the device
/// has not written back, or after `max` descriptors.
#[cold]
#[inline(never)]
fn drop_undeliverable(
    ring: RingView<'_>,
    geometry: Geometry,
    stats: &mut NicStats,
    mut next: u32,
    mut discarding: bool,
    max: usize,
) -> Dropped {
    let buf_size = geometry.buf_size();
    let mut dropped = 0;
    let mut deliverable_next = false;
    while dropped < max {
        let status = ring.read(next, 1);
        if status & desc::RX_STATUS_DD == 0 {
            break;
        }
        // The rest of the descriptor is read only after DD was seen set.
        fence(Ordering::Acquire);
        let eop = status & desc::RX_STATUS_EOP != 0;
        let len = (status >> desc::RX_LEN_SHIFT) as u16;
        let fragment = discarding || !eop;
        if !fragment && len != 0 && len as usize <= buf_size {
            deliverable_next = true;
            break;
        }
        if eop {
            if fragment {
                stats.rx_fragmented_dropped += 1;
            } else {
                stats.rx_errors += 1;
            }
        }
        discarding = !eop;
        ring.write(next, 0, geometry.phys_of(ring.buf(next)));
        ring.write(next, 1, 0);
        next = next.wrapping_add(1);
        dropped += 1;
    }
    Dropped {
        count: dropped,
        discarding,
        deliverable_next,
    }
}

/// What [`drop_undeliverable`] did.
struct Dropped {
    /// Descriptors dropped.
    count: usize,
    /// It stopped inside a frame (its next part not written back yet, or
    /// `max` reached): the rest of the frame is dropped too.
    discarding: bool,
    /// It stopped at a deliverable frame.
    deliverable_next: bool,
}

/// Takes completed frames (DD and EOP) of queue `queue` into `out`, refills
/// each descriptor with a fresh buffer from `pool` and writes RDT once.
#[inline]
fn receive<'p, R: Registers, const N: usize>(
    q: &mut RxQueue,
    pool: &'p Mempool,
    regs: &R,
    queue: QueueId,
    stats: &mut NicStats,
    out: &mut PacketBatch<'p, N>,
) -> usize {
    let mut ring = q.ring.view();
    let mask = ring.mask;
    let ring_len = mask as usize + 1;
    let geometry = pool.geometry();
    let buf_size = geometry.buf_size() as u32;
    let spare = out.spare_mut();
    let spare_len = spare.len();
    if spare_len == 0 {
        return 0;
    }
    // Ring positions are masked where they index the ring (`RingView`).
    let mut next = q.next;
    // Descriptors dropped (fragments, bad lengths): they do not use up the
    // caller's batch, but delivered + dropped stays within one ring, which
    // bounds the work of one call.
    let mut dropped = 0usize;
    let mut discarding = q.discarding;
    if discarding {
        let d = drop_undeliverable(ring.reborrow(), geometry, stats, next, true, ring_len);
        (dropped, discarding) = (d.count, d.discarding);
        next = next.wrapping_add(d.count as u32);
    }
    let mut bytes = 0u64;
    // Batch slots still empty, and free buffers of the pool not yet used.
    let mut slots_left: &mut [_] = spare;
    let mut fresh_bufs = pool.run();
    let mut fresh_left = fresh_bufs.avail();
    if !discarding {
        let pool_ran_out = 'fill: loop {
            // Descriptors the call may still look at: delivered + dropped
            // stays within one ring.
            let ring_left = ring_len - dropped - (spare_len - slots_left.len());
            // Slots the batch and the ring have room for, and how many of
            // them the pool can fill: one frame per slot and fresh buffer.
            let room = slots_left.len().min(ring_left);
            let wanted = room.min(fresh_left.len());
            if wanted == 0 {
                break 'fill room > 0;
            }
            // Descriptors up to the ring's end; the next round wraps.
            let (descs, bufs) = ring.split();
            let first = (next & mask) as usize;
            let descs = descs.get(first..).unwrap_or_default();
            let bufs = bufs.get_mut(first..).unwrap_or_default();
            let n = wanted.min(descs.len()).min(bufs.len());
            let frames = slots_left[..n].iter_mut().zip(&fresh_left[..n]);
            let mut frames = frames.zip(&mut bufs[..n]).zip(&descs[..n]);
            // At most 4096 frames of at most 16 KiB: fits 32 bits.
            let mut run_bytes = 0u32;
            let mut k = n;
            while let Some((((slot, fresh), buf), desc)) = frames.next() {
                // §7.1.6.2: status and length share the second quadword.
                let status = desc.read(1);
                let len = (status >> desc::RX_LEN_SHIFT) as u16 as u32;
                if status & RX_DD_EOP != RX_DD_EOP || len.wrapping_sub(1) >= buf_size {
                    // Not written back yet, or not deliverable: the frames
                    // before it in this run are delivered.
                    k = n - frames.len() - 1;
                    break;
                }
                // The buffer is read (by the caller) only after DD was seen set.
                fence(Ordering::Acquire);
                let fresh = fresh.get();
                let old = core::mem::replace(buf, fresh);
                // §7.1.6.1: read format, packet buffer address and header address 0.
                desc.write(0, geometry.phys_of(fresh));
                desc.write(1, 0);
                // SAFETY: `old` came out of the ring's bookkeeping, where it
                // was the only reference; it is replaced there by `fresh`.
                // `1 <= len <= buf_size` was checked above.
                let buf = unsafe { pool.buf_from_raw_checked(old, len) };
                // The slot is empty (spare): nothing to drop.
                core::mem::forget(slot.replace(buf));
                run_bytes += len;
            }
            bytes += run_bytes as u64;
            slots_left = &mut core::mem::take(&mut slots_left)[k..];
            fresh_left = &fresh_left[k..];
            next = next.wrapping_add(k as u32);
            if k < n {
                let max = ring_left - k;
                let d = drop_undeliverable(ring.reborrow(), geometry, stats, next, false, max);
                dropped += d.count;
                next = next.wrapping_add(d.count as u32);
                discarding = d.discarding;
                if d.deliverable_next {
                    continue 'fill;
                }
                break 'fill false;
            }
            if n == wanted {
                break 'fill wanted < room;
            }
            // The run stopped at the ring's end: wrap.
        };
        if pool_ran_out {
            // The pool ran out with room left: a deliverable frame stays in
            // the ring until the next call.
            let max = ring_len - dropped - (spare_len - slots_left.len());
            let d = drop_undeliverable(ring.reborrow(), geometry, stats, next, false, max);
            dropped += d.count;
            next = next.wrapping_add(d.count as u32);
            discarding = d.discarding;
            if d.deliverable_next {
                stats.rx_no_buffer += 1;
            }
        }
    }
    let delivered = spare_len - slots_left.len();
    fresh_bufs.taken(delivered);
    q.discarding = discarding;
    out.filled(delivered);
    if delivered + dropped > 0 {
        q.next = next & mask;
        // Descriptor writes become visible before the device sees the tail.
        fence(Ordering::Release);
        // §8.2.3.8.5: RDT, one past the last descriptor handed back.
        regs.write(reg::rdt(queue as u32), next.wrapping_sub(1) & mask);
        stats.rx_packets += delivered as u64;
        stats.rx_bytes += bytes;
    }
    delivered
}

/// Queues packets from the front of `pkts` on queue `queue` until the ring
/// is full and writes TDT once. Completed descriptors are reclaimed lazily,
/// only when the free space is short of the batch.
#[inline]
fn transmit<'p, R: Registers, const N: usize>(
    q: &mut TxQueue,
    pool: &'p Mempool,
    regs: &R,
    queue: QueueId,
    stats: &mut NicStats,
    pkts: &mut PacketBatch<'p, N>,
) -> usize {
    let mask = q.ring.mask;
    let mut free = q.clean.wrapping_sub(q.tail).wrapping_sub(1) & mask;
    if (free as usize) < pkts.len().max(TX_CLEAN_BATCH as usize) {
        clean_tx(q, pool);
        free = q.clean.wrapping_sub(q.tail).wrapping_sub(1) & mask;
    }
    let geometry = pool.geometry();
    let mut ring = q.ring.view();
    let mut tail = q.tail;
    let mut free = free as usize;
    let mut bytes = 0u64;
    let live = pkts.live_mut();
    let total = live.len();
    // Packets not taken yet.
    let mut left: &mut [_] = live;
    loop {
        // As many packets as the ring has room for, over descriptors up to
        // the ring's end; the next round wraps. A refused packet takes no
        // descriptor: the round ends there and the next goes on after it.
        let wanted = left.len().min(free);
        let (descs, bufs) = ring.split();
        let first = tail as usize;
        let descs = descs.get(first..).unwrap_or_default();
        let bufs = bufs.get_mut(first..).unwrap_or_default();
        let n = wanted.min(descs.len()).min(bufs.len());
        if n == 0 {
            break;
        }
        let mut used = n;
        let mut packets = left[..n].iter_mut().zip(&descs[..n]).zip(&mut bufs[..n]);
        while let Some(((slot, desc), buf)) = packets.next() {
            match slot.take() {
                Some(pkt)
                    if core::ptr::eq(pkt.pool(), pool)
                        && (pkt.len() as u32).wrapping_sub(1) < desc::TX_MAX_LEN as u32 =>
                {
                    let (index, len) = pkt.into_raw();
                    *buf = index;
                    // §7.2.3.2.4: advanced data descriptor, one buffer per frame.
                    desc.write(0, geometry.phys_of(index));
                    desc.write(
                        1,
                        desc::TX_CMD | len as u64 | ((len as u64) << desc::TX_PAYLEN_SHIFT),
                    );
                    bytes += len as u64;
                }
                other => {
                    // From another pool, empty, or longer than one
                    // descriptor carries: dropped (back to its own pool).
                    if other.is_some() {
                        stats.tx_errors += 1;
                    }
                    drop(other);
                    used = n - packets.len() - 1;
                    break;
                }
            }
        }
        // The refused packet, if any, is taken too.
        let consumed = if used < n { used + 1 } else { n };
        left = &mut core::mem::take(&mut left)[consumed..];
        free -= used;
        tail = (tail + used as u32) & mask;
        if used == wanted {
            // The batch is sent or the ring is full.
            break;
        }
    }
    let taken = total - left.len();
    pkts.drained(taken);
    let sent = tail.wrapping_sub(q.tail) & mask;
    if !pkts.is_empty() {
        stats.tx_ring_full += 1;
    }
    if sent > 0 {
        q.tail = tail;
        fence(Ordering::Release);
        // §8.2.3.9.9: TDT, one past the last descriptor queued.
        regs.write(reg::tdt(queue as u32), tail);
        stats.tx_packets += sent as u64;
        stats.tx_bytes += bytes;
    }
    sent as usize
}

/// One receive and one transmit queue of a [`Port`], configured and not yet
/// started: made by [`Ixgbe::init_port`], moved to the core that will own
/// it, started there with that core's pool.
pub struct QueuePair<R: Registers = Mmio> {
    regs: R,
    mac: MacAddress,
    id: QueueId,
    rx: RxQueue,
    tx: TxQueue,
    buf_size: usize,
    enable_timeout_ns: u64,
}

// SAFETY: a pair owns its rings and their bookkeeping outright (carved once
// from DMA memory and handed to no one else) and touches only its own
// queue's registers (RDT/TDT/RXDCTL/TXDCTL/QPRDC of `id`), which no other
// owner writes; the register handle itself is `Send` by the bound.
unsafe impl<R: Registers + Send> Send for QueuePair<R> {}

impl<R: Registers> QueuePair<R> {
    pub fn id(&self) -> QueueId {
        self.id
    }

    /// §4.6.7.1 and §4.6.8.1 for this pair: fills the receive ring from
    /// `pool` (this core's), enables both queues (bounded waits) and
    /// returns the driver this core polls.
    pub fn start<'p>(
        mut self,
        pool: &'p Mempool,
        clock: &dyn Clock,
    ) -> Result<QueueDriver<'p, R>, InitError> {
        if pool.buf_size() != self.buf_size {
            return Err(InitError::BadConfig(
                "pool buffer size differs from the port's receive buffer size",
            ));
        }
        let needed = 2 * (self.rx.ring.mask + 1);
        if pool.free_count() < needed {
            return Err(InitError::PoolTooSmall {
                needed,
                free: pool.free_count(),
            });
        }
        let t = self.enable_timeout_ns;
        start_rx_queue(&self.regs, &mut self.rx, pool, self.id, clock, t)?;
        start_tx_queue(&self.regs, self.id, clock, t)?;
        Ok(QueueDriver {
            regs: self.regs,
            mac: self.mac,
            id: self.id,
            pool,
            rx: self.rx,
            tx: self.tx,
            stats: NicStats::default(),
        })
    }
}

/// One started queue pair, polled by the core that owns it. As a [`Nic`] it
/// serves only its own queue id ([`QueueDriver::id`]); other ids move
/// nothing.
pub struct QueueDriver<'p, R: Registers = Mmio> {
    regs: R,
    mac: MacAddress,
    id: QueueId,
    pool: &'p Mempool,
    rx: RxQueue,
    tx: TxQueue,
    stats: NicStats,
}

impl<R: Registers> QueueDriver<'_, R> {
    pub fn id(&self) -> QueueId {
        self.id
    }
}

impl<'p, R: Registers> Nic<'p> for QueueDriver<'p, R> {
    #[inline]
    fn rx_batch<const N: usize>(&mut self, queue: QueueId, out: &mut PacketBatch<'p, N>) -> usize {
        if queue != self.id {
            return 0;
        }
        receive(
            &mut self.rx,
            self.pool,
            &self.regs,
            queue,
            &mut self.stats,
            out,
        )
    }

    #[inline]
    fn tx_batch<const N: usize>(&mut self, queue: QueueId, pkts: &mut PacketBatch<'p, N>) -> usize {
        if queue != self.id {
            return 0;
        }
        transmit(
            &mut self.tx,
            self.pool,
            &self.regs,
            queue,
            &mut self.stats,
            pkts,
        )
    }

    fn rx_queue_count(&self) -> u16 {
        1
    }

    fn tx_queue_count(&self) -> u16 {
        1
    }

    fn mac_address(&self) -> MacAddress {
        self.mac
    }

    fn link(&self) -> LinkState {
        link_state(&self.regs)
    }

    /// This queue's counters, with its device drop counter (QPRDC); the
    /// device-wide counters are the [`Port`]'s.
    fn stats(&mut self) -> NicStats {
        self.stats.rx_dropped += self.regs.read_stat(reg::qprdc(self.id as u32)) as u64;
        self.stats
    }

    fn pool(&self) -> &'p Mempool {
        self.pool
    }
}

/// MTA hash for MO = 0 (§7.1.1.1): destination address bits 47:36.
pub fn mta_hash(mac: MacAddress) -> u32 {
    ((mac.0[4] as u32 >> 4) | ((mac.0[5] as u32) << 4)) & 0xFFF
}

fn read_mac<R: Registers>(regs: &R) -> MacAddress {
    let lo = regs.read(reg::ral(0)).to_le_bytes();
    let hi = regs.read(reg::rah(0)).to_le_bytes();
    MacAddress([lo[0], lo[1], lo[2], lo[3], hi[0], hi[1]])
}

impl<'p, R: Registers> Nic<'p> for Ixgbe<'p, R> {
    #[inline]
    fn rx_batch<const N: usize>(&mut self, queue: QueueId, out: &mut PacketBatch<'p, N>) -> usize {
        let Some(q) = self.rx.get_mut(queue as usize) else {
            return 0;
        };
        receive(q, self.pool, &self.port.regs, queue, &mut self.stats, out)
    }

    #[inline]
    fn tx_batch<const N: usize>(&mut self, queue: QueueId, pkts: &mut PacketBatch<'p, N>) -> usize {
        let Some(q) = self.tx.get_mut(queue as usize) else {
            return 0;
        };
        transmit(q, self.pool, &self.port.regs, queue, &mut self.stats, pkts)
    }

    fn rx_queue_count(&self) -> u16 {
        self.rx.len() as u16
    }

    fn tx_queue_count(&self) -> u16 {
        self.tx.len() as u16
    }

    fn mac_address(&self) -> MacAddress {
        self.port.mac
    }

    fn link(&self) -> LinkState {
        link_state(&self.port.regs)
    }

    fn stats(&mut self) -> NicStats {
        let queues = 0..self.rx.len() as u32;
        self.port.read_hw_stats(&mut self.stats, queues);
        self.stats
    }

    fn pool(&self) -> &'p Mempool {
        self.pool
    }
}
