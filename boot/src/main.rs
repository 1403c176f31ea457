//! The appliance image.
//!
//! Entry code hands over to [`boot_main`], which brings the platform up and
//! then does what the kernel command line asks:
//! - `test` / `test=NAME`: run the in-guest tests and exit with their verdict;
//! - `fault=pf|gp|ud|de|bp|df`: raise a deliberate exception (reported, fails the run);
//! - `panic`: a deliberate panic (reported, fails the run);
//! - `halt`: stay up idle after the banner;
//! - nothing: print the banner and exit successfully.
#![no_std]
#![no_main]

mod entry;

use kernel::arch::cpu;
use kernel::arch::exit::{exit, ExitCode};
use kernel::arch::interrupts::{raise, DeliberateFault};
use kernel::{boot, println, selftest};

#[no_mangle]
extern "C" fn boot_main(entry: u32, loader_info: u32) -> ! {
    let platform = boot::init(entry, loader_info);
    boot::print_banner(platform);
    let info = &platform.info;

    if let Some(kind) = info.value_of("fault") {
        let Some(fault) = DeliberateFault::parse(kind) else {
            println!("unknown fault kind {kind:?}: expected pf, gp, ud, de, bp or df");
            exit(ExitCode::Failure);
        };
        println!("raising deliberate fault {kind}");
        raise(fault);
        println!("deliberate fault {kind} did not fault");
        exit(ExitCode::Failure);
    }
    if info.has_flag("panic") {
        panic!("deliberate panic requested on the command line");
    }
    if info.has_flag("test") || info.value_of("test").is_some() {
        let ok = selftest::run(platform, info.value_of("test"));
        exit(if ok {
            ExitCode::Success
        } else {
            ExitCode::Failure
        });
    }
    if info.has_flag("halt") {
        println!("appliance: idle (halt requested)");
        cpu::halt_forever();
    }
    println!("appliance: nothing configured to run; exiting");
    exit(ExitCode::Success)
}
