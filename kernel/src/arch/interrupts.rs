//! CPU exceptions: entry stubs, the IDT, and reports.
//!
//! Every architecturally defined exception vector gets a stub that pushes a
//! uniform frame and calls [`dispatch`]. An unexpected exception prints the
//! vector, error code, RIP, CR2, registers and a frame-pointer backtrace, then
//! fails the run. In-guest tests can arm [`catch`] to expect one exception and
//! resume after the faulting instruction.
//!
//! Two external vectors exist, both for the housekeeping core's idle wait
//! (`crate::idle`): [`TICK_VECTOR`], the local APIC timer, whose stub only
//! counts the tick and signals end of interrupt (no Rust code runs: the tick
//! exists to end a `hlt`), and the APIC's spurious vector, which needs no
//! end of interrupt (SDM vol. 3A §11.9).
//!
//! This module is all hardware entry points and register-level probes, so it
//! allows `unsafe` throughout; each use states its reason.
#![allow(unsafe_code)]

use super::exit::{exit, ExitCode};
use super::gdt::{IST_DOUBLE_FAULT, IST_MACHINE_CHECK, IST_NMI};
use crate::sync::BootCell;
use core::arch::{asm, global_asm};
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::InterruptDescriptorTable;
use x86_64::VirtAddr;

/// Register state saved by the stubs, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    // Pushed by the CPU.
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

// Stubs: vectors without a CPU error code push a zero so every frame has the
// same shape. Vectors with an error code: 8, 10-14, 17, 21, 29, 30 (SDM
// vol. 3A, table 6-1).
//
// SAFETY: the stubs save every general-purpose register, call `dispatch`
// with a pointer to the saved frame on a 16-byte aligned stack, restore the
// registers and return with iretq.
global_asm!(
    r#"
    .section .text.kernel_isr, "ax"
    .irp n, 0,1,2,3,4,5,6,7,9,15,16,18,19,20,22,23,24,25,26,27,28,31
    kernel_isr_\n:
        push 0
        push \n
        jmp kernel_isr_common
    .endr
    .irp n, 8,10,11,12,13,14,17,21,29,30
    kernel_isr_\n:
        push \n
        jmp kernel_isr_common
    .endr
    kernel_isr_common:
        push rax
        push rbx
        push rcx
        push rdx
        push rsi
        push rdi
        push rbp
        push r8
        push r9
        push r10
        push r11
        push r12
        push r13
        push r14
        push r15
        mov rdi, rsp
        mov rbx, rsp
        and rsp, -16
        cld
        call {dispatch}
        mov rsp, rbx
        pop r15
        pop r14
        pop r13
        pop r12
        pop r11
        pop r10
        pop r9
        pop r8
        pop rbp
        pop rdi
        pop rsi
        pop rdx
        pop rcx
        pop rbx
        pop rax
        add rsp, 16
        iretq

    // The local APIC timer tick: count it, write EOI, return. Touches only
    // rax (saved) and memory the statics below name.
    .global kernel_isr_tick
    kernel_isr_tick:
        push rax
        lock inc qword ptr [rip + {ticks}]
        mov rax, qword ptr [rip + {eoi}]
        test rax, rax
        jz 2f
        mov dword ptr [rax], 0
    2:
        pop rax
        iretq
    // Spurious APIC interrupt: nothing to acknowledge.
    .global kernel_isr_spurious
    kernel_isr_spurious:
        iretq

    .section .rodata.kernel_isr_table, "a"
    .balign 8
    .global kernel_isr_table
    kernel_isr_table:
    .irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .quad kernel_isr_\n
    .endr
    "#,
    dispatch = sym dispatch,
    ticks = sym TICKS,
    eoi = sym LAPIC_EOI_ADDRESS,
);

extern "C" {
    static kernel_isr_table: [u64; 32];
    fn kernel_isr_tick();
    fn kernel_isr_spurious();
}

/// Vector of the local APIC timer that ends the housekeeping core's `hlt`.
pub const TICK_VECTOR: u8 = 0x40;
/// The local APIC's spurious-interrupt vector (`LocalApic::enable`).
pub const SPURIOUS_VECTOR: u8 = 0xff;
/// Timer ticks taken, all cores.
pub static TICKS: AtomicU64 = AtomicU64::new(0);
/// Address of the local APIC's EOI register, set before the timer starts
/// (0: the tick stub writes nothing).
pub static LAPIC_EOI_ADDRESS: AtomicU64 = AtomicU64::new(0);

pub const EXCEPTION_NAMES: [&str; 32] = [
    "#DE divide error",
    "#DB debug",
    "NMI",
    "#BP breakpoint",
    "#OF overflow",
    "#BR bound range exceeded",
    "#UD invalid opcode",
    "#NM device not available",
    "#DF double fault",
    "coprocessor segment overrun",
    "#TS invalid TSS",
    "#NP segment not present",
    "#SS stack-segment fault",
    "#GP general protection",
    "#PF page fault",
    "reserved (15)",
    "#MF x87 floating-point",
    "#AC alignment check",
    "#MC machine check",
    "#XM SIMD floating-point",
    "#VE virtualization",
    "#CP control protection",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "#HV hypervisor injection",
    "#VC VMM communication",
    "#SX security",
    "reserved (31)",
];

static IDT: BootCell<InterruptDescriptorTable> = BootCell::new();

/// Builds and loads the IDT. Needs the GDT/TSS loaded (IST stacks).
pub fn init() {
    let mut idt = InterruptDescriptorTable::new();
    // SAFETY: reading the table of stub addresses defined above.
    #[allow(unsafe_code)]
    let stubs = unsafe { &*(&raw const kernel_isr_table) };
    let addr = |v: usize| VirtAddr::new(stubs[v]);
    // SAFETY: each address is a stub that saves state, calls `dispatch` and
    // returns with iretq (or never returns); the IST indices exist in the TSS.
    #[allow(unsafe_code)]
    unsafe {
        idt.divide_error.set_handler_addr(addr(0));
        idt.debug.set_handler_addr(addr(1));
        idt.non_maskable_interrupt
            .set_handler_addr(addr(2))
            .set_stack_index(IST_NMI);
        idt.breakpoint.set_handler_addr(addr(3));
        idt.overflow.set_handler_addr(addr(4));
        idt.bound_range_exceeded.set_handler_addr(addr(5));
        idt.invalid_opcode.set_handler_addr(addr(6));
        idt.device_not_available.set_handler_addr(addr(7));
        idt.double_fault
            .set_handler_addr(addr(8))
            .set_stack_index(IST_DOUBLE_FAULT);
        idt.invalid_tss.set_handler_addr(addr(10));
        idt.segment_not_present.set_handler_addr(addr(11));
        idt.stack_segment_fault.set_handler_addr(addr(12));
        idt.general_protection_fault.set_handler_addr(addr(13));
        idt.page_fault.set_handler_addr(addr(14));
        idt.x87_floating_point.set_handler_addr(addr(16));
        idt.alignment_check.set_handler_addr(addr(17));
        idt.machine_check
            .set_handler_addr(addr(18))
            .set_stack_index(IST_MACHINE_CHECK);
        idt.simd_floating_point.set_handler_addr(addr(19));
        idt.virtualization.set_handler_addr(addr(20));
        idt.cp_protection_exception.set_handler_addr(addr(21));
        idt.hv_injection_exception.set_handler_addr(addr(28));
        idt.vmm_communication_exception.set_handler_addr(addr(29));
        idt.security_exception.set_handler_addr(addr(30));
        idt[TICK_VECTOR].set_handler_addr(VirtAddr::new(kernel_isr_tick as *const () as u64));
        idt[SPURIOUS_VECTOR]
            .set_handler_addr(VirtAddr::new(kernel_isr_spurious as *const () as u64));
    }
    if let Some(idt) = IDT.init(idt) {
        idt.load();
    }
}

/// Loads the already-built IDT on another core.
pub fn load_on_this_core() {
    if let Some(idt) = IDT.get() {
        idt.load();
    }
}

/// Set while a test expects an exception: where to resume (0 = not armed).
static RESUME_AT: AtomicU64 = AtomicU64::new(0);
static CAUGHT_VECTOR: AtomicU64 = AtomicU64::new(u64::MAX);
static CAUGHT_ERROR: AtomicU64 = AtomicU64::new(0);
static CAUGHT_CR2: AtomicU64 = AtomicU64::new(0);
static CAUGHT_RIP: AtomicU64 = AtomicU64::new(0);

extern "C" fn dispatch(frame: &mut TrapFrame) {
    let cr2 = Cr2::read_raw();
    let resume = RESUME_AT.swap(0, Ordering::AcqRel);
    if resume != 0 {
        CAUGHT_VECTOR.store(frame.vector, Ordering::Relaxed);
        CAUGHT_ERROR.store(frame.error_code, Ordering::Relaxed);
        CAUGHT_CR2.store(cr2, Ordering::Relaxed);
        CAUGHT_RIP.store(frame.rip, Ordering::Release);
        frame.rip = resume;
        return;
    }
    report(frame, cr2);
    let core = crate::smp::current_core().unwrap_or(0);
    let mut text: heapless::String<256> = heapless::String::new();
    let name = EXCEPTION_NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("unknown");
    let _ = write!(
        text,
        "vector {} ({name}) error {:#x} at rip {:#x}, cr2 {cr2:#x}",
        frame.vector, frame.error_code, frame.rip
    );
    crate::mailbox::report_fatal(
        protocol::mailbox::layout::ApplianceState::Faulted,
        core as u32,
        &text,
        core == 0,
    );
    crate::smp::park_if_application_processor(frame.vector, frame.rip);
    exit(ExitCode::Failure)
}

fn report(frame: &TrapFrame, cr2: u64) {
    let mut out = crate::console::emergency();
    let name = EXCEPTION_NAMES
        .get(frame.vector as usize)
        .copied()
        .unwrap_or("unknown");
    let _ = writeln!(
        out,
        "\nEXCEPTION: vector {} ({}) on cpu apic-id {}",
        frame.vector,
        name,
        super::cpu::apic_id()
    );
    let _ = writeln!(out, "  error code: {:#x}", frame.error_code);
    let _ = writeln!(
        out,
        "  rip: {:#018x}  cs: {:#x}  rflags: {:#x}",
        frame.rip, frame.cs, frame.rflags
    );
    let _ = writeln!(out, "  rsp: {:#018x}  ss: {:#x}", frame.rsp, frame.ss);
    let _ = writeln!(out, "  cr2: {:#018x}", cr2);
    let _ = writeln!(
        out,
        "  rax {:#x} rbx {:#x} rcx {:#x} rdx {:#x} rsi {:#x} rdi {:#x} rbp {:#x}",
        frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp
    );
    let _ = writeln!(
        out,
        "  r8 {:#x} r9 {:#x} r10 {:#x} r11 {:#x} r12 {:#x} r13 {:#x} r14 {:#x} r15 {:#x}",
        frame.r8, frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15
    );
    let _ = writeln!(out, "  backtrace:");
    let _ = writeln!(out, "  #0 {:#018x}", frame.rip);
    super::backtrace::write_from(&mut out, frame.rbp, 1);
}

/// An exception caught by [`catch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaughtFault {
    pub vector: u64,
    pub error_code: u64,
    pub cr2: u64,
    pub rip: u64,
}

/// An operation that may fault, run under [`catch`].
#[derive(Debug, Clone, Copy)]
pub enum Probe {
    Read(u64),
    Write(u64, u64),
    Breakpoint,
    InvalidOpcode,
    DivideByZero,
}

/// Runs `probe` with a resume point armed; returns the exception it raised,
/// or `Ok(value)` (the value read, for `Read`) when it completed.
pub fn catch(probe: Probe) -> Result<u64, CaughtFault> {
    CAUGHT_VECTOR.store(u64::MAX, Ordering::Relaxed);
    let mut value = 0u64;
    // SAFETY: each block publishes its own resume label (after the probed
    // instruction) in RESUME_AT before executing it; the dispatcher resumes
    // there with every register restored, so the only effect of a fault is
    // that the instruction did not complete. Probed addresses are chosen by
    // the tests to be unmapped or scratch memory.
    #[allow(unsafe_code)]
    unsafe {
        match probe {
            Probe::Read(addr) => asm!(
                "lea {t}, [rip + 2f]",
                "mov [rip + {resume}], {t}",
                "mov {v}, [{a}]",
                "2:",
                t = out(reg) _, v = inout(reg) value, a = in(reg) addr,
                resume = sym RESUME_AT, options(nostack)
            ),
            Probe::Write(addr, v) => asm!(
                "lea {t}, [rip + 2f]",
                "mov [rip + {resume}], {t}",
                "mov [{a}], {v}",
                "2:",
                t = out(reg) _, v = in(reg) v, a = in(reg) addr,
                resume = sym RESUME_AT, options(nostack)
            ),
            Probe::Breakpoint => asm!(
                "lea {t}, [rip + 2f]",
                "mov [rip + {resume}], {t}",
                "int3",
                "2:",
                t = out(reg) _, resume = sym RESUME_AT
            ),
            Probe::InvalidOpcode => asm!(
                "lea {t}, [rip + 2f]",
                "mov [rip + {resume}], {t}",
                "ud2",
                "2:",
                t = out(reg) _, resume = sym RESUME_AT
            ),
            Probe::DivideByZero => asm!(
                "lea {t}, [rip + 2f]",
                "mov [rip + {resume}], {t}",
                "xor edx, edx",
                "xor ecx, ecx",
                "mov eax, 1",
                "div ecx",
                "2:",
                t = out(reg) _, resume = sym RESUME_AT,
                out("rax") _, out("rcx") _, out("rdx") _
            ),
        }
    }
    RESUME_AT.store(0, Ordering::Release);
    let vector = CAUGHT_VECTOR.load(Ordering::Acquire);
    if vector == u64::MAX {
        return Ok(value);
    }
    Err(CaughtFault {
        vector,
        error_code: CAUGHT_ERROR.load(Ordering::Relaxed),
        cr2: CAUGHT_CR2.load(Ordering::Relaxed),
        rip: CAUGHT_RIP.load(Ordering::Relaxed),
    })
}

/// A deliberate, uncaught exception (boot option `fault=KIND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliberateFault {
    PageFault,
    GeneralProtection,
    InvalidOpcode,
    DivideError,
    Breakpoint,
    DoubleFault,
}

impl DeliberateFault {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "pf" => Self::PageFault,
            "gp" => Self::GeneralProtection,
            "ud" => Self::InvalidOpcode,
            "de" => Self::DivideError,
            "bp" => Self::Breakpoint,
            "df" => Self::DoubleFault,
            _ => return None,
        })
    }
}

/// An address in the canonical lower half that nothing maps.
pub const UNMAPPED_ADDRESS: u64 = 0x0000_4000_0000_0000;
const NON_CANONICAL_ADDRESS: u64 = 0x8000_0000_0000_0000;

/// Raises `fault` with no test armed: the run reports it and fails.
pub fn raise(fault: DeliberateFault) {
    // SAFETY: each instruction faults before it can change memory; the
    // exception handler reports and ends the run.
    #[allow(unsafe_code)]
    unsafe {
        match fault {
            DeliberateFault::PageFault => {
                asm!("mov {v}, [{a}]", a = in(reg) UNMAPPED_ADDRESS, v = out(reg) _)
            }
            DeliberateFault::GeneralProtection => {
                asm!("mov {v}, [{a}]", a = in(reg) NON_CANONICAL_ADDRESS, v = out(reg) _)
            }
            DeliberateFault::InvalidOpcode => asm!("ud2"),
            DeliberateFault::DivideError => asm!(
                "xor edx, edx", "xor ecx, ecx", "mov eax, 1", "div ecx",
                out("rax") _, out("rcx") _, out("rdx") _
            ),
            DeliberateFault::Breakpoint => asm!("int3"),
            // A push onto an unmapped stack page-faults; delivering that #PF
            // needs the same stack and faults again: a double fault, which
            // the CPU delivers on its IST stack.
            DeliberateFault::DoubleFault => asm!(
                "mov rsp, {a}", "push rax",
                a = in(reg) UNMAPPED_ADDRESS
            ),
        }
    }
}
