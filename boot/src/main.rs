//! The appliance image.
//!
//! Entry code hands over to [`boot_main`], which brings the platform up and
//! then does what the kernel command line asks:
//! - `test` / `test=NAME`: run the in-guest tests and exit with their verdict;
//! - `fault=pf|gp|ud|de|bp|df`: raise a deliberate exception (reported, fails the run);
//! - `panic`: a deliberate panic (reported, fails the run);
//! - `trade=SECONDS`: the whole pipeline against the lab's venue (feed NIC in
//!   PCI slot 5, order NIC in slot 6), then a summary line;
//! - `fix-probe`: FIX logon/order/cancel/logout over smoltcp TCP to the venue;
//! - `echo`: echo frames addressed to us on the virtio-net NIC (NIC test);
//! - `halt`: stay up: hot cores run their loops, the boot core supervises them
//!   and serves the mailbox; `up=SECONDS`: the same, then exit successfully;
//! - nothing: start the hot cores' loops, report their heartbeats, exit successfully.
#![no_std]
#![no_main]

mod echo;
mod entry;
mod fixprobe;
mod telemetry;
mod trade;
mod uplink;

use kernel::arch::cpu;
use kernel::arch::exit::{exit, ExitCode};
use kernel::arch::interrupts::{raise, DeliberateFault};
use kernel::{boot, println, selftest, smp};

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
    if info.has_flag("echo") {
        echo::run(platform);
    }
    if info.has_flag("fix-probe") {
        fixprobe::run(platform);
    }
    if let Some(secs) = info.value_of("trade") {
        match secs.parse::<u64>() {
            Ok(secs) => trade::run(platform, secs),
            Err(_) => {
                println!("trade= takes whole seconds");
                exit(ExitCode::Failure);
            }
        }
    }
    let hot = smp::start_service_loops();
    let up_for = info.value_of("up").map(|s| s.parse::<u64>());
    if let Some(Err(_)) = up_for {
        println!("up= takes whole seconds");
        exit(ExitCode::Failure);
    }
    if info.has_flag("halt") || up_for.is_some() {
        kernel::mailbox::set_running();
        println!("appliance: up; {hot} hot core(s) running, housekeeping supervises them");
        let until = up_for
            .and_then(Result::ok)
            .map(|s| platform.now_ns() + s * 1_000_000_000);
        smp::housekeeping_loop(platform, until);
    }
    report_heartbeats(platform, hot);
    println!("appliance: nothing configured to run; exiting");
    exit(ExitCode::Success)
}

/// Shows that every hot core is looping: each must start its loop and beat
/// within 2 s (emulated cores are host threads a busy host may deschedule).
fn report_heartbeats(platform: &boot::Platform, hot: usize) {
    use core::sync::atomic::Ordering;
    use kernel::time::Deadline;
    if hot == 0 {
        return;
    }
    let clock = &platform.clock;
    for (i, slot) in smp::CORES.iter().enumerate().skip(1) {
        if slot.role() != smp::Role::Hot || slot.state() == smp::CoreState::Failed {
            continue;
        }
        let deadline = Deadline::after_ns(clock, cpu::rdtsc(), 2_000_000_000);
        while slot.state() != smp::CoreState::Running && !deadline.expired(cpu::rdtsc()) {
            core::hint::spin_loop();
        }
        let before = slot.heartbeat.load(Ordering::Relaxed);
        let start = cpu::rdtsc();
        let window = Deadline::after_ns(clock, start, 10_000_000);
        // At least the 10 ms window, and until the core has beaten once.
        let done =
            || window.expired(cpu::rdtsc()) && slot.heartbeat.load(Ordering::Relaxed) != before;
        while !done() && !deadline.expired(cpu::rdtsc()) {
            core::hint::spin_loop();
        }
        let beats = slot.heartbeat.load(Ordering::Relaxed) - before;
        let us = clock.ticks_to_ns(cpu::rdtsc() - start) / 1000;
        println!(
            "core {i}: {}, {beats} heartbeats in {us} us",
            slot.state().name()
        );
    }
}
