//! The local APIC in xAPIC mode (MMIO at 0xFEE0_0000; TCG has no x2APIC).
//! Used to start application processors and, on the housekeeping core only,
//! as the periodic timer that wakes it from `hlt` (see `crate::idle`); hot
//! cores poll with interrupts off.

use core::ptr::NonNull;
use volatile::VolatilePtr;

/// Register offsets (Intel SDM vol. 3A, table 11-1).
mod reg {
    pub const ID: usize = 0x20;
    pub const EOI: usize = 0xb0;
    pub const SPURIOUS_VECTOR: usize = 0xf0;
    pub const ERROR_STATUS: usize = 0x280;
    pub const ICR_LOW: usize = 0x300;
    pub const ICR_HIGH: usize = 0x310;
    pub const LVT_TIMER: usize = 0x320;
    pub const TIMER_INITIAL_COUNT: usize = 0x380;
    pub const TIMER_CURRENT_COUNT: usize = 0x390;
    pub const TIMER_DIVIDE: usize = 0x3e0;
}

/// Offset of the end-of-interrupt register, for interrupt stubs.
pub const EOI_OFFSET: u64 = reg::EOI as u64;

/// LVT timer fields (SDM vol. 3A §11.5.1, figure 11-8).
const LVT_MASKED: u32 = 1 << 16;
const LVT_TIMER_PERIODIC: u32 = 1 << 17;
/// Divide configuration 0b1011: divide by 1 (SDM vol. 3A figure 11-10).
const DIVIDE_BY_1: u32 = 0b1011;

/// ICR fields (SDM vol. 3A §11.6.1).
const ICR_DELIVERY_INIT: u32 = 0b101 << 8;
const ICR_DELIVERY_STARTUP: u32 = 0b110 << 8;
const ICR_LEVEL_ASSERT: u32 = 1 << 14;
const ICR_SEND_PENDING: u32 = 1 << 12;
const SVR_APIC_ENABLE: u32 = 1 << 8;

pub struct LocalApic {
    base: usize,
}

impl LocalApic {
    /// # Safety
    /// `base` must be this core's local APIC register page, identity mapped
    /// uncached.
    #[allow(unsafe_code)]
    pub unsafe fn new(base: u64) -> LocalApic {
        LocalApic {
            base: base as usize,
        }
    }

    fn register(&self, offset: usize) -> VolatilePtr<'_, u32> {
        // SAFETY: inside the APIC page (`new`'s contract), 16-byte aligned
        // register offsets; the pointer is never null.
        #[allow(unsafe_code)]
        unsafe {
            VolatilePtr::new(NonNull::new_unchecked((self.base + offset) as *mut u32))
        }
    }

    pub fn id(&self) -> u32 {
        self.register(reg::ID).read() >> 24
    }

    /// Software-enables the APIC with spurious vector 0xFF.
    pub fn enable(&self) {
        self.register(reg::SPURIOUS_VECTOR)
            .write(SVR_APIC_ENABLE | 0xff);
    }

    /// Clears and returns the error status (SDM: write before reading).
    pub fn error_status(&self) -> u32 {
        self.register(reg::ERROR_STATUS).write(0);
        self.register(reg::ERROR_STATUS).read()
    }

    /// True once the last IPI left the APIC.
    pub fn ipi_delivered(&self) -> bool {
        self.register(reg::ICR_LOW).read() & ICR_SEND_PENDING == 0
    }

    fn send(&self, apic_id: u32, low: u32) {
        self.register(reg::ICR_HIGH).write(apic_id << 24);
        self.register(reg::ICR_LOW).write(low);
    }

    /// INIT IPI (level assert) to `apic_id`.
    pub fn send_init(&self, apic_id: u32) {
        self.send(apic_id, ICR_DELIVERY_INIT | ICR_LEVEL_ASSERT);
    }

    /// Counts the timer runs down in `window` (a busy wait the caller
    /// supplies, e.g. 1 ms of TSC): the timer's rate, since its input clock
    /// (the bus or core crystal) is not architecturally known
    /// (SDM vol. 3A §11.5.4). Leaves the timer stopped and masked.
    pub fn measure_timer(&self, window: impl FnOnce()) -> u32 {
        self.register(reg::LVT_TIMER).write(LVT_MASKED);
        self.register(reg::TIMER_DIVIDE).write(DIVIDE_BY_1);
        self.register(reg::TIMER_INITIAL_COUNT).write(u32::MAX);
        window();
        let left = self.register(reg::TIMER_CURRENT_COUNT).read();
        self.register(reg::TIMER_INITIAL_COUNT).write(0);
        u32::MAX - left
    }

    /// Periodic timer interrupts on `vector` every `count` timer ticks
    /// (divide by 1; SDM vol. 3A §11.5.4). The order matters: the count
    /// written last starts the timer.
    pub fn start_periodic_timer(&self, vector: u8, count: u32) {
        self.register(reg::TIMER_DIVIDE).write(DIVIDE_BY_1);
        self.register(reg::LVT_TIMER)
            .write(LVT_TIMER_PERIODIC | vector as u32);
        self.register(reg::TIMER_INITIAL_COUNT).write(count.max(1));
    }

    /// Start-up IPI: the target starts in real mode at `vector << 12`.
    pub fn send_startup(&self, apic_id: u32, vector: u8) {
        self.send(
            apic_id,
            ICR_DELIVERY_STARTUP | ICR_LEVEL_ASSERT | vector as u32,
        );
    }
}
