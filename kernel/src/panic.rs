//! The panic handler: report and fail the run.

use crate::arch::backtrace;
use crate::arch::exit::{exit, ExitCode};
use core::fmt::Write;

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut out = crate::console::emergency();
    let _ = write!(out, "\nPANIC: {}", info.message());
    match info.location() {
        Some(l) => {
            let _ = writeln!(out, " at {}:{}:{}", l.file(), l.line(), l.column());
        }
        None => {
            let _ = writeln!(out, " at unknown location");
        }
    }
    let _ = writeln!(out, "  backtrace:");
    backtrace::write_from(&mut out, backtrace::current_rbp(), 0);
    let mut text: heapless::String<512> = heapless::String::new();
    let _ = write!(text, "{}", info.message());
    if let Some(l) = info.location() {
        let _ = write!(text, " at {}:{}", l.file(), l.line());
    }
    let core = crate::smp::current_core().unwrap_or(0) as u32;
    crate::mailbox::report_fatal(
        protocol::mailbox::layout::ApplianceState::Panicked,
        core,
        &text,
        true,
    );
    exit(ExitCode::Failure)
}
