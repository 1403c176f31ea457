//! The appliance image booted in QEMU: banner, in-guest tests, deliberate
//! exceptions and panics, SMP, and the GRUB/multiboot2 path.

use tests::qemu::{self, BootProtocol, ExitKind, Vector};
use tests::{lab, Booted};

/// Boots the appliance with `cmdline` (one CPU, TCG, 60 s limit).
fn boot_tests(name: &str, cmdline: &str) -> Booted {
    let lab = lab();
    lab.boot(lab.appliance(name, cmdline))
}

#[test]
fn banner_reports_memory_cpus_and_tsc() {
    // With nothing configured to run, the appliance reports and exits.
    let run = boot_tests("banner", "");
    run.expect_status(ExitKind::Success);
    let banner = run.outcome().banner();
    run.check(banner.is_some(), "no `appliance ` banner line");
    let Some(banner) = banner else { return };
    run.check(
        banner.boot == Some(BootProtocol::Pvh),
        "banner should say boot=pvh",
    );
    run.check(
        banner.memory.as_deref().is_some_and(|m| !m.is_empty()),
        "no `memory:` line",
    );
    run.check(banner.cpus == Some(1), "expected `cpus: 1`");
    run.check(
        banner.tsc_khz.is_some_and(|khz| khz > 100_000),
        "no plausible `tsc: N kHz` line (> 100 MHz)",
    );
    run.check(banner.ready_us.is_some(), "no `ready in N us` line");
    run.pass();
}

#[test]
fn in_guest_tests_pass() {
    let run = boot_tests("guest-tests", "test");
    run.expect_status(ExitKind::Success);
    let report = run.outcome().test_report();
    run.check(
        report.summary.is_some(),
        "no `tests: P passed, F failed` summary",
    );
    run.check(report.passed() >= 1, "no guest test passed");
    run.check(report.failed() == 0, "guest tests failed");
    run.check(
        report.is_consistent(),
        "summary disagrees with the test lines",
    );
    run.pass();
}

#[test]
fn test_filter_selects_by_name() {
    // Learn a real test name from a full run, then run only that one.
    let all = boot_tests("filter-all", "test");
    all.expect_status(ExitKind::Success);
    let report = all.outcome().test_report();
    let Some(first) = report.results.first().map(|r| r.name.clone()) else {
        all.check(false, "no test lines to pick a filter from");
        return;
    };
    all.pass();
    let only = boot_tests("filter-one", &format!("test={first}"));
    only.expect_status(ExitKind::Success);
    let filtered = only.outcome().test_report();
    only.check(
        !filtered.results.is_empty() && filtered.results.iter().all(|r| r.name.contains(&first)),
        &format!("test={first} ran tests whose names do not contain it"),
    );
    only.check(
        filtered.results.len() <= report.results.len(),
        "a filtered run ran more tests than the full one",
    );
    only.pass();
}

fn deliberate_fault(word: &str, expected: Vector) {
    let run = boot_tests(&format!("fault-{word}"), &format!("fault={word}"));
    run.expect_status(ExitKind::Failure);
    let exception = run.outcome().exception();
    run.check(exception.is_some(), "no `EXCEPTION: ` block");
    let Some(exception) = exception else { return };
    run.check(
        exception.vector == Some(expected),
        &format!("expected {expected}, the block says {:?}", exception.vector),
    );
    run.check(
        exception.rip.is_some_and(|rip| rip != 0),
        "the block has no RIP",
    );
    run.check(
        !exception.backtrace.is_empty(),
        "the block has no backtrace",
    );
    if expected == Vector::PageFault {
        run.check(exception.cr2.is_some(), "a page fault report needs CR2");
    }
    run.pass();
}

#[test]
fn page_fault_is_reported() {
    deliberate_fault("pf", Vector::PageFault);
}

#[test]
fn invalid_opcode_is_reported() {
    deliberate_fault("ud", Vector::InvalidOpcode);
}

#[test]
fn general_protection_fault_is_reported() {
    deliberate_fault("gp", Vector::GeneralProtectionFault);
}

#[test]
fn divide_error_is_reported() {
    deliberate_fault("de", Vector::DivideError);
}

#[test]
fn breakpoint_is_reported() {
    deliberate_fault("bp", Vector::Breakpoint);
}

#[test]
fn double_fault_is_reported() {
    deliberate_fault("df", Vector::DoubleFault);
}

#[test]
fn panic_reports_message_and_location() {
    let run = boot_tests("panic", "panic");
    run.expect_status(ExitKind::Failure);
    let panic = run.outcome().panic();
    run.check(panic.is_some(), "no `PANIC: ` line");
    let Some(panic) = panic else { return };
    run.check(!panic.message.is_empty(), "the panic has no message");
    run.check(
        run.outcome().exception().is_none(),
        "a panic must not be reported as a CPU exception",
    );
    run.check(
        panic.file.as_deref().is_some_and(|f| f.ends_with(".rs"))
            && panic.line.is_some_and(|l| l > 0),
        "the panic line has no file.rs:line location",
    );
    run.pass();
}

#[test]
fn two_cpus_are_counted() {
    let lab = lab();
    let run = lab.boot(lab.appliance("smp2", "test").smp(2));
    run.expect_status(ExitKind::Success);
    let cpus = run.outcome().banner().and_then(|b| b.cpus);
    run.check(cpus == Some(2), "expected `cpus: 2` with -smp 2");
    let report = run.outcome().test_report();
    run.check(
        report.summary.is_some() && report.failed() == 0 && report.is_consistent(),
        "guest tests must pass on two CPUs too",
    );
    run.pass();
}

#[test]
fn grub_iso_boots_through_multiboot2() {
    let lab = lab();
    if let Err(e) = qemu::ensure_iso_tools(&lab.repo) {
        panic!("cannot build the ISO: {e}");
    }
    let dir = lab.repo.runs_dir().join(qemu::unique_name("iso-test"));
    let iso = dir.join("appliance.iso");
    if let Err(e) = qemu::build_iso(&lab.repo, &lab.images.appliance, "test", &iso) {
        panic!("grub-mkrescue failed: {e}");
    }
    let run = lab.boot(
        qemu::Vm::cdrom(&lab.repo, &iso)
            .name("iso-boot")
            .timeout(Some(tests::BOOT_TIMEOUT)),
    );
    run.expect_status(ExitKind::Success);
    let banner = run.outcome().banner();
    run.check(
        banner.as_ref().and_then(|b| b.boot.clone()) == Some(BootProtocol::Multiboot2),
        "the banner should say boot=multiboot2",
    );
    run.check(
        run.outcome().test_report().failed() == 0,
        "guest tests failed when booted from GRUB",
    );
    run.pass();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_running_appliance_can_be_watched_and_stopped() {
    let lab = lab();
    let mut running = match lab.appliance("halt", "halt").spawn() {
        Ok(running) => running,
        Err(e) => panic!("cannot start QEMU: {e}"),
    };
    let serial = running.wait_for_serial("ready in ", tests::BOOT_TIMEOUT);
    assert!(
        serial
            .as_deref()
            .is_some_and(|s| s.starts_with("appliance ")),
        "no banner before `ready in`: {serial:?}"
    );
    // `halt` keeps it up: it must still be running when we stop it.
    let outcome = match running.kill() {
        Ok(outcome) => outcome,
        Err(e) => panic!("cannot stop QEMU: {e}"),
    };
    let run = tests::Booted(outcome);
    run.expect_status(ExitKind::Signal(9));
    run.pass();
}
