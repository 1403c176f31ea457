//! The smallest PVH kernel: enter and exit QEMU successfully at once.
//! The yardstick for the appliance's boot-to-ready time (BENCHMARKS.md).
#![no_std]
#![no_main]

use core::arch::global_asm;

global_asm!(
    r#"
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
    mov $0x10, %eax
    out %eax, $0xf4
bare_halt:
    cli
    hlt
    jmp bare_halt
    "#,
    options(att_syntax)
);

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}
