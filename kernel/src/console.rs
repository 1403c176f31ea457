//! The serial console: `print!`/`println!` for the appliance.

use crate::arch::serial::{Serial, COM1};
use crate::sync::SpinLock;
use core::fmt::Write;

// SAFETY: COM1 is the platform's first UART and only the console drives it.
#[allow(unsafe_code)]
static CONSOLE: SpinLock<Serial> = SpinLock::new(unsafe { Serial::new(COM1) });

pub fn init() {
    CONSOLE.lock().init();
}

#[doc(hidden)]
pub fn _print(args: core::fmt::Arguments<'_>) {
    let _ = CONSOLE.lock().write_fmt(args);
}

/// A writer that bypasses the console lock, for exception and panic reports
/// that must get out even if the faulting code held the lock.
pub fn emergency() -> Serial {
    // SAFETY: as for CONSOLE; interleaving with a lock holder is accepted on
    // this path.
    #[allow(unsafe_code)]
    unsafe {
        Serial::new(COM1)
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}
