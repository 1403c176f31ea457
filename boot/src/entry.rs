//! Machine entry: loader headers and the switch from 32-bit protected mode
//! to long mode.
//!
//! Two loaders enter here, both in 32-bit protected mode with paging off:
//! - PVH (QEMU `-kernel`): the ELF note `XEN_ELFNOTE_PHYS32_ENTRY` (type 18)
//!   names `pvh_entry`; `ebx` holds the `hvm_start_info` address.
//! - multiboot2 (GRUB): the header's entry-address tag names `mb2_entry`;
//!   `eax` holds the bootloader magic and `ebx` the information block.
//!
//! The common path zeroes .bss, builds an identity map of the low 4 GiB with
//! 2 MiB pages (3-4 GiB uncached: the MMIO hole), enables PAE, SSE and long
//! mode, and calls `boot_main(entry_kind, info_address)` on the boot stack.

use core::arch::global_asm;

/// Boot core stack; it stays the boot core's stack for the whole run.
pub const BOOT_STACK_SIZE: usize = 256 * 1024;

global_asm!(
    r#"
    .section .multiboot2_header, "a"
    .balign 8
mb2_header:
    .long 0xe85250d6
    .long 0
    .long mb2_header_end - mb2_header
    .long 0x100000000 - (0xe85250d6 + (mb2_header_end - mb2_header))
    .balign 8
    .short 3
    .short 0
    .long 12
    .long mb2_entry
    .balign 8
    .short 0
    .short 0
    .long 8
mb2_header_end:

    .section .note.pvh, "a", @note
    .balign 4
    .long 4
    .long 8
    .long 18
    .asciz "Xen"
    .balign 4
    .quad pvh_entry
    .balign 4

    .section .text.entry32, "ax"
    .code32
    .global pvh_entry
pvh_entry:
    mov $1, %ebp
    jmp entry32_common
mb2_entry:
    mov $2, %ebp
    cmp $0x36d76289, %eax
    je entry32_common
    xor %ebp, %ebp
entry32_common:
    cli
    cld
    mov %ebx, %esi
    mov $__bss_start, %edi
    mov $__bss_end, %ecx
    sub %edi, %ecx
    shr $2, %ecx
    xor %eax, %eax
    rep stosl
    mov $boot_stack_top, %esp

    mov $boot_pdpt, %eax
    or $0x3, %eax
    mov %eax, boot_pml4

    mov $boot_pd, %eax
    or $0x3, %eax
    xor %ecx, %ecx
fill_pdpt:
    mov %eax, boot_pdpt(,%ecx,8)
    add $0x1000, %eax
    inc %ecx
    cmp $4, %ecx
    jne fill_pdpt

    xor %ecx, %ecx
fill_pd:
    mov %ecx, %eax
    shl $21, %eax
    or $0x83, %eax
    cmp $1536, %ecx
    jb pd_cached
    or $0x18, %eax
pd_cached:
    mov %eax, boot_pd(,%ecx,8)
    inc %ecx
    cmp $2048, %ecx
    jne fill_pd

    # CR4: PAE (bit 5), OSFXSR (9), OSXMMEXCPT (10): SSE on for the FIX
    # decoder's scan (SDM Vol. 3A §13.1.3, §9.6; kernel::arch::cpu::enable_sse
    # sets them again from Rust).
    mov %cr4, %eax
    or $0x620, %eax
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xc0000080, %ecx
    rdmsr
    or $0x100, %eax
    wrmsr
    # CR0: PG (bit 31) and MP (1) set, EM (2) clear (SDM Vol. 3A §2.5,
    # §13.1.3).
    mov %cr0, %eax
    or $0x80000002, %eax
    and $0xfffffffb, %eax
    mov %eax, %cr0
    lgdt boot_gdt_ptr
    ljmp $0x08, $entry64

    .code64
entry64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    xor %eax, %eax
    mov %ax, %fs
    mov %ax, %gs
    mov $boot_stack_top, %rsp
    mov %ebp, %edi
    mov %esi, %esi
    xor %ebp, %ebp
    call boot_main
entry_halt:
    cli
    hlt
    jmp entry_halt

    .section .rodata.boot_gdt, "a"
    .balign 16
boot_gdt:
    .quad 0
    .quad 0x00af9a000000ffff
    .quad 0x00cf92000000ffff
boot_gdt_ptr:
    .short boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt

    .section .bss.boot, "aw", @nobits
    .balign 4096
boot_pml4:
    .skip 4096
boot_pdpt:
    .skip 4096
boot_pd:
    .skip 4 * 4096
boot_stack:
    .skip {stack_size}
boot_stack_top:
    "#,
    stack_size = const BOOT_STACK_SIZE,
    options(att_syntax)
);
