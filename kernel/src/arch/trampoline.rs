//! The application-processor trampoline: real mode → protected mode → long
//! mode, then a call into Rust on the stack the boot core prepared.
//!
//! A start-up IPI starts a core in real mode at a page-aligned address below
//! 1 MiB; the code below is copied to [`TRAMPOLINE_BASE`] and every address
//! in it is computed relative to that base at assembly time. The boot core
//! fills the parameter block (CR3, stack, entry, argument) before each start.
#![allow(unsafe_code)]

use core::arch::global_asm;

/// Physical address the trampoline runs at (start-up IPI vector 0x08).
pub const TRAMPOLINE_BASE: u64 = 0x8000;

// SAFETY: assembled into .rodata and only executed after being copied to
// TRAMPOLINE_BASE, which the frame allocator never hands out (low 1 MiB).
global_asm!(
    r#"
    .section .rodata.ap_trampoline, "a"
    .balign 16
    .global ap_trampoline_start
    .global ap_trampoline_end
    .global ap_trampoline_params
    .code16
ap_trampoline_start:
    cli
    cld
    xor %ax, %ax
    mov %ax, %ds
    lgdtl ({base} + (tr_gdt_ptr - ap_trampoline_start))
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl $0x08, ${base} + (tr_protected - ap_trampoline_start)
    .code32
tr_protected:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    # CR4: PAE, OSFXSR, OSXMMEXCPT (bits 5, 9, 10; SDM Vol. 3A §13.1.3)
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    mov ({base} + (tr_cr3 - ap_trampoline_start)), %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    # CR0: PG and MP set, EM clear (bits 31, 1, 2; SDM Vol. 3A §2.5)
    mov %cr0, %eax
    or $0x80000002, %eax
    and $0xfffffffb, %eax
    mov %eax, %cr0
    ljmp $0x18, ${base} + (tr_long - ap_trampoline_start)
    .code64
tr_long:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov ({base} + (tr_stack - ap_trampoline_start)), %rsp
    mov ({base} + (tr_arg - ap_trampoline_start)), %rdi
    mov ({base} + (tr_entry - ap_trampoline_start)), %rax
    xor %ebp, %ebp
    call *%rax
tr_halt:
    cli
    hlt
    jmp tr_halt
    .balign 8
tr_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
    .quad 0x00af9a000000ffff
tr_gdt_ptr:
    .short 31
    .long {base} + (tr_gdt - ap_trampoline_start)
    .balign 8
ap_trampoline_params:
tr_cr3:
    .quad 0
tr_stack:
    .quad 0
tr_entry:
    .quad 0
tr_arg:
    .quad 0
ap_trampoline_end:
    .code64
    "#,
    base = const TRAMPOLINE_BASE,
    options(att_syntax)
);

extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_trampoline_params: u8;
}

/// What the next application processor starts with.
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub struct Params {
    pub cr3: u64,
    pub stack_top: u64,
    pub entry: u64,
    pub argument: u64,
}

/// Copies the trampoline to its base and writes `params` into the copy.
///
/// # Safety
/// The page at `TRAMPOLINE_BASE` must be identity mapped, unused by anything
/// else, and no application processor may be executing it.
pub unsafe fn install(params: &Params) {
    let start = &raw const ap_trampoline_start;
    let end = &raw const ap_trampoline_end;
    let params_at = &raw const ap_trampoline_params;
    let len = end as usize - start as usize;
    let params_offset = params_at as usize - start as usize;
    // SAFETY: the caller owns the destination page; source and destination
    // do not overlap (the image lives above 1 MiB).
    unsafe {
        core::ptr::copy_nonoverlapping(start, TRAMPOLINE_BASE as *mut u8, len);
        let block = (TRAMPOLINE_BASE as usize + params_offset) as *mut Params;
        block.write_volatile(*params);
    }
}
