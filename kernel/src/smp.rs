//! Application processors: start-up, roles, work hand-off, supervision.
//!
//! Core 0 (the boot core) is housekeeping. Every other enabled CPU in the
//! MADT is started with INIT-SIPI-SIPI through the real-mode trampoline,
//! gets its own GDT, TSS and IST stacks, and then spins with interrupts off,
//! counting heartbeats, until the pipeline hands it a polling loop with
//! [`run_on`]. A core that faults is parked (its report printed, its state
//! `Faulted`) while the others keep running; the housekeeping core sees it
//! through the state and through its stalled heartbeat.

use crate::arch::interrupts::{self, DeliberateFault};
use crate::arch::lapic::LocalApic;
use crate::arch::trampoline::{self, Params, TRAMPOLINE_BASE};
use crate::arch::{cpu, gdt};
use crate::boot::Platform;
use crate::corelink::{CoreLink, Kind};
use crate::time::Deadline;
use core::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

pub const MAX_CORES: usize = gdt::MAX_CORES;
/// Stack of each application processor.
pub const AP_STACK_SIZE: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum CoreState {
    Absent = 0,
    Starting = 1,
    /// Up and spinning, waiting for work.
    Online = 2,
    /// Running the loop it was handed.
    Running = 3,
    /// Took an exception and was parked.
    Faulted = 4,
    /// Never answered the start-up sequence.
    Failed = 5,
}

impl CoreState {
    fn from_u8(v: u8) -> CoreState {
        match v {
            1 => CoreState::Starting,
            2 => CoreState::Online,
            3 => CoreState::Running,
            4 => CoreState::Faulted,
            5 => CoreState::Failed,
            _ => CoreState::Absent,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            CoreState::Absent => "absent",
            CoreState::Starting => "starting",
            CoreState::Online => "online",
            CoreState::Running => "running",
            CoreState::Faulted => "faulted",
            CoreState::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Role {
    Housekeeping = 0,
    /// Runs a polling loop handed to it by the pipeline.
    Hot = 1,
    /// Started but kept out of the pipeline (`idle=` boot option).
    Idle = 2,
}

impl Role {
    pub const fn name(self) -> &'static str {
        match self {
            Role::Housekeeping => "housekeeping",
            Role::Hot => "hot",
            Role::Idle => "idle",
        }
    }
}

/// A polling loop a hot core runs for the rest of the run.
pub type Work = fn(core: usize) -> !;

/// Everything one core shares with the others.
pub struct CoreSlot {
    apic_id: AtomicU32,
    state: AtomicU8,
    role: AtomicU8,
    /// Advanced by the core on every loop iteration.
    pub heartbeat: AtomicU64,
    work: AtomicUsize,
    fault_vector: AtomicU64,
    fault_rip: AtomicU64,
    /// Start-up time in TSC ticks, from the INIT IPI to the core's first breath.
    startup_ticks: AtomicU64,
    /// Messages between housekeeping and this core.
    pub link: CoreLink,
}

impl CoreSlot {
    const fn new() -> CoreSlot {
        CoreSlot {
            apic_id: AtomicU32::new(u32::MAX),
            state: AtomicU8::new(CoreState::Absent as u8),
            role: AtomicU8::new(Role::Idle as u8),
            heartbeat: AtomicU64::new(0),
            work: AtomicUsize::new(0),
            fault_vector: AtomicU64::new(0),
            fault_rip: AtomicU64::new(0),
            startup_ticks: AtomicU64::new(0),
            link: CoreLink::new(),
        }
    }

    pub fn state(&self) -> CoreState {
        CoreState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn apic_id(&self) -> u32 {
        self.apic_id.load(Ordering::Relaxed)
    }

    pub fn role(&self) -> Role {
        match self.role.load(Ordering::Relaxed) {
            0 => Role::Housekeeping,
            1 => Role::Hot,
            _ => Role::Idle,
        }
    }

    /// (vector, rip) of the exception that parked the core.
    pub fn fault(&self) -> (u64, u64) {
        (
            self.fault_vector.load(Ordering::Relaxed),
            self.fault_rip.load(Ordering::Relaxed),
        )
    }

    pub fn startup_ticks(&self) -> u64 {
        self.startup_ticks.load(Ordering::Relaxed)
    }

    fn set_state(&self, state: CoreState) {
        self.state.store(state as u8, Ordering::Release);
    }
}

pub static CORES: [CoreSlot; MAX_CORES] = [const { CoreSlot::new() }; MAX_CORES];

/// Index of the core running this code (by local APIC id).
pub fn current_core() -> Option<usize> {
    let id = cpu::apic_id() as u32;
    CORES.iter().position(|c| c.apic_id() == id)
}

/// Cores started, by state.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartReport {
    pub online: u32,
    pub failed: u32,
    /// CPUs beyond `MAX_CORES`, not started.
    pub skipped: u32,
}

/// Starts every enabled application processor listed in the MADT.
pub fn start_application_processors(p: &Platform) -> StartReport {
    let mut report = StartReport::default();
    let bsp = cpu::apic_id() as u32;
    CORES[0].apic_id.store(bsp, Ordering::Relaxed);
    CORES[0]
        .role
        .store(Role::Housekeeping as u8, Ordering::Relaxed);
    CORES[0].set_state(CoreState::Running);

    // SAFETY: the local APIC page is identity mapped uncached (below 4 GiB).
    #[allow(unsafe_code)]
    let apic = unsafe { LocalApic::new(p.acpi.local_apic_address) };
    apic.enable();
    let cr3 = x86_64::registers::control::Cr3::read()
        .0
        .start_address()
        .as_u64();
    if cr3 >= 1 << 32 {
        crate::println!("smp: page tables above 4 GiB; the 32-bit trampoline cannot load them");
        return report;
    }
    let idle = p.info.value_of("idle");
    let mut count = 0usize;
    for cpu_entry in p.acpi.enabled_cpus().filter(|c| c.apic_id != bsp) {
        let index = count + 1;
        let Some(slot) = CORES.get(index) else {
            report.skipped += 1;
            continue;
        };
        count += 1;
        let is_idle = idle.is_some_and(|list| list.split(',').any(|n| n.parse() == Ok(index)));
        slot.role.store(
            if is_idle { Role::Idle } else { Role::Hot } as u8,
            Ordering::Relaxed,
        );
        slot.apic_id.store(cpu_entry.apic_id, Ordering::Relaxed);
        slot.set_state(CoreState::Starting);
    }
    // INIT every core, then one 10 ms wait for all (Intel SDM vol. 3A
    // §9.4.4.1), then start them one at a time: each needs its own stack in
    // the trampoline's parameter block.
    apic.error_status();
    for slot in &CORES[1..=count] {
        apic.send_init(slot.apic_id());
        wait_delivered(p, &apic);
    }
    wait_ns(p, 10_000_000);
    for (i, slot) in CORES[1..=count].iter().enumerate() {
        let Ok(stack) = p.frames.lock().allocate_contiguous(AP_STACK_SIZE, 4096) else {
            slot.set_state(CoreState::Failed);
            report.failed += 1;
            continue;
        };
        let params = Params {
            cr3,
            stack_top: stack + AP_STACK_SIZE,
            entry: ap_entry as *const () as usize as u64,
            argument: (i + 1) as u64,
        };
        // SAFETY: the trampoline page is in the reserved low 1 MiB, and the
        // previous core is done with it: it reached `ap_entry` or was given
        // up on (a late start of that core would read this core's block and
        // find its own index taken: `ap_entry` then parks it).
        #[allow(unsafe_code)]
        unsafe {
            trampoline::install(&params)
        };
        let started = cpu::rdtsc();
        if start_one(p, &apic, slot) {
            slot.startup_ticks
                .store(cpu::rdtsc() - started, Ordering::Relaxed);
            report.online += 1;
        } else {
            slot.set_state(CoreState::Failed);
            report.failed += 1;
        }
    }
    report
}

fn wait_ns(p: &Platform, ns: u64) {
    let d = Deadline::after_ns(&p.clock, cpu::rdtsc(), ns);
    while !d.expired(cpu::rdtsc()) {
        core::hint::spin_loop();
    }
}

fn wait_delivered(p: &Platform, apic: &LocalApic) {
    let d = Deadline::after_ns(&p.clock, cpu::rdtsc(), 1_000_000);
    while !apic.ipi_delivered() && !d.expired(cpu::rdtsc()) {
        core::hint::spin_loop();
    }
}

/// SIPI, 200 µs, SIPI, then up to 500 ms for the core to report in.
fn start_one(p: &Platform, apic: &LocalApic, slot: &CoreSlot) -> bool {
    let vector = (TRAMPOLINE_BASE >> 12) as u8;
    for _ in 0..2 {
        apic.send_startup(slot.apic_id(), vector);
        wait_delivered(p, apic);
        wait_ns(p, 200_000);
        if slot.state() == CoreState::Online {
            return true;
        }
    }
    let d = Deadline::after_ns(&p.clock, cpu::rdtsc(), 500_000_000);
    while !d.expired(cpu::rdtsc()) {
        if slot.state() == CoreState::Online {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// First Rust code on an application processor.
extern "C" fn ap_entry(index: u64) -> ! {
    let index = index as usize;
    let Some(slot) = CORES
        .get(index)
        .filter(|s| s.state() == CoreState::Starting)
    else {
        cpu::halt_forever()
    };
    if !gdt::init_core(index) {
        cpu::halt_forever()
    }
    interrupts::load_on_this_core();
    // Before the core takes work: a trading loop decodes FIX with SSE2.
    cpu::enable_sse();
    slot.set_state(CoreState::Online);
    loop {
        slot.heartbeat.fetch_add(1, Ordering::Relaxed);
        let work = slot.work.load(Ordering::Acquire);
        if work != 0 {
            slot.set_state(CoreState::Running);
            // SAFETY: `run_on` stores only `Work` function pointers here.
            #[allow(unsafe_code)]
            let work: Work = unsafe { core::mem::transmute::<usize, Work>(work) };
            work(index);
        }
        core::hint::spin_loop();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    NoSuchCore,
    /// The core is not online and idle (`state` says what it is).
    NotReady(CoreState),
}

/// Hands core `index` the loop it runs from now on.
pub fn run_on(index: usize, work: Work) -> Result<(), RunError> {
    let slot = CORES
        .get(index)
        .filter(|_| index != 0)
        .ok_or(RunError::NoSuchCore)?;
    match slot.state() {
        CoreState::Online => {
            slot.work.store(work as usize, Ordering::Release);
            Ok(())
        }
        other => Err(RunError::NotReady(other)),
    }
}

/// Called by the exception dispatcher: on an application processor, record
/// the fault and park the core (never returns); on the boot core, return so
/// the run fails as usual.
pub fn park_if_application_processor(vector: u64, rip: u64) {
    let Some(index) = current_core().filter(|&i| i != 0) else {
        return;
    };
    let slot = &CORES[index];
    slot.fault_vector.store(vector, Ordering::Relaxed);
    slot.fault_rip.store(rip, Ordering::Relaxed);
    // Say so before the state changes: whoever waits for `Faulted` then
    // prints after this line, not into it.
    let mut out = crate::console::emergency();
    let _ = core::fmt::Write::write_fmt(
        &mut out,
        format_args!("core {index} parked after the exception; the other cores keep running\n"),
    );
    slot.set_state(CoreState::Faulted);
    cpu::halt_forever()
}

/// The supervision loop body a hot core runs when the pipeline has nothing
/// else for it: answer pings, obey fault commands, count heartbeats. It is
/// the reference for what every hot loop does besides its real work.
pub fn service_loop(index: usize) -> ! {
    let slot = &CORES[index];
    loop {
        let beat = slot.heartbeat.fetch_add(1, Ordering::Relaxed) + 1;
        slot.link.down.receive(|kind, payload| match kind {
            Kind::Ping => {
                let mut reply = [0u8; 16];
                let seq = payload.get(..8).unwrap_or(&[0; 8]);
                reply[..8].copy_from_slice(seq);
                reply[8..].copy_from_slice(&beat.to_le_bytes());
                let _ = slot.link.up.send(Kind::Pong, &reply);
                defmt::info!(
                    "core {=usize}: ping answered at heartbeat {=u64}",
                    index,
                    beat
                );
            }
            Kind::Fault => interrupts::raise(DeliberateFault::InvalidOpcode),
            _ => {}
        });
        core::hint::spin_loop();
    }
}

/// Hands every idle hot core the service loop; returns how many took it.
pub fn start_service_loops() -> usize {
    (1..MAX_CORES)
        .filter(|&i| CORES[i].role() == Role::Hot && run_on(i, service_loop).is_ok())
        .count()
}

/// The housekeeping core's loop: watch heartbeats and report cores that
/// stall or fault, once per change of health, and serve the mailbox. Runs
/// until `until_ns` (monotonic clock) when given, then ends the run
/// successfully; otherwise forever.
pub fn housekeeping_loop(p: &Platform, until_ns: Option<u64>) -> ! {
    use crate::corelink::{Health, Watchdog};
    let period = p.clock.ns_to_ticks(100_000_000);
    let mut watchdog: Watchdog<MAX_CORES> = Watchdog::new(cpu::rdtsc(), period);
    let mut reported = [false; MAX_CORES];
    let mut next = cpu::rdtsc();
    crate::mailbox::set_running();
    defmt::info!(
        "housekeeping: supervising {=usize} core(s), mailbox {=bool}",
        CORES
            .iter()
            .skip(1)
            .filter(|c| c.role() == Role::Hot
                && matches!(c.state(), CoreState::Online | CoreState::Running))
            .count(),
        crate::mailbox::is_present()
    );
    loop {
        CORES[0].heartbeat.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = crate::boot::platform() {
            crate::mailbox::service(p);
        }
        if until_ns.is_some_and(|t| p.now_ns() >= t) {
            crate::println!("appliance: ran for the requested time; exiting");
            crate::arch::exit::exit(crate::arch::exit::ExitCode::Success);
        }
        let now = cpu::rdtsc();
        if now < next {
            core::hint::spin_loop();
            continue;
        }
        next = now + period;
        for (i, slot) in CORES.iter().enumerate().skip(1) {
            if matches!(slot.state(), CoreState::Absent | CoreState::Failed) {
                continue;
            }
            let health = watchdog.observe(i, slot.heartbeat.load(Ordering::Relaxed), now);
            let stalled = matches!(health, Health::Stalled { .. });
            if stalled != reported[i] {
                reported[i] = stalled;
                if let Health::Stalled { for_ticks } = health {
                    let (vector, rip) = slot.fault();
                    defmt::error!(
                        "watchdog: core {=usize} stalled, fault vector {=u64}",
                        i,
                        vector
                    );
                    crate::println!(
                        "watchdog: core {i} (apic id {}) stalled for {} ms, state {}, last fault vector {vector} at {rip:#x}",
                        slot.apic_id(),
                        p.clock.ticks_to_ns(for_ticks) / 1_000_000,
                        slot.state().name()
                    );
                } else {
                    crate::println!("watchdog: core {i} is beating again");
                }
            }
        }
    }
}
