//! The companion and the appliance over the shared-memory mailbox
//! (ivshmem-plain in QEMU, a /dev/shm file on the host).

use std::time::Duration;
use tests::{lab, qemu, Booted, Mailbox};

#[test]
fn companion_status_commands_and_config() {
    let lab = lab();
    let mailbox = Mailbox::new("mbx");
    let vm = lab
        .appliance("mailbox", "halt")
        .smp(2)
        .args(mailbox.qemu_args());
    let mut running = vm
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start QEMU: {e}"));
    let up = running.wait_for_serial("appliance: up", tests::BOOT_TIMEOUT);
    let status = mailbox.companion(&["status"]);
    let ping = mailbox.companion(&["ping"]);
    let kill = mailbox.companion(&["kill"]);
    let killed = mailbox.companion(&["status"]);
    let rearm = mailbox.companion(&["rearm"]);
    let rearmed = mailbox.companion(&["status"]);
    let example = lab.repo.root().join("companion/examples/appliance.toml");
    let apply = mailbox.companion(&["config", "apply", example.to_str().unwrap_or("")]);
    // A complete config with one bad value, sent without the CLI's own check.
    let mut cfg = companion::config::load(&example, None).expect("example config");
    cfg.risk.max_order_qty = 0;
    let bad_json = companion::config::to_json(&cfg).expect("json");
    let bad = mailbox.apply_raw_config(&bad_json);
    let garbage = mailbox.apply_raw_config(b"{not json at all");
    let after = mailbox.companion(&["status"]);
    std::thread::sleep(Duration::from_millis(300));
    let elf = lab.images.appliance.to_string_lossy().into_owned();
    let logs = mailbox.companion(&["logs", "--elf", elf.as_str()]);
    let outcome = running
        .kill()
        .unwrap_or_else(|e| panic!("cannot stop QEMU: {e}"));
    let run = Booted(outcome);
    run.check(
        up.is_some_and(|s| s.contains("mailbox: 1024 KiB at ")),
        "mailbox found and formatted",
    );
    run.check(
        status.0 && status.1.contains("state      running") && status.1.contains("advancing"),
        &status.1,
    );
    run.check(status.1.contains("cores      2"), &status.1);
    run.check(ping.0 && ping.1.contains("pong"), &ping.1);
    run.check(
        kill.0 && killed.1.contains("state      killed"),
        &format!("{}{}", kill.1, killed.1),
    );
    run.check(
        rearm.0 && rearmed.1.contains("state      running"),
        &format!("{}{}", rearm.1, rearmed.1),
    );
    run.check(apply.0 && apply.1.trim_end().ends_with("ok"), &apply.1);
    run.check(
        bad.contains("Rejected") && bad.contains("risk.max_order_qty"),
        &format!("bad config reply: {bad}"),
    );
    run.check(
        garbage.contains("Rejected") && garbage.contains("(json)"),
        &format!("garbage config reply: {garbage}"),
    );
    // defmt frames from the appliance, decoded with the image's table.
    for line in [
        "INFO housekeeping: supervising 1 core(s), mailbox true",
        "WARN kill switch engaged by the companion",
        "INFO kill switch re-armed by the companion",
        "INFO configuration generation 1 applied",
        "WARN configuration rejected: risk.max_order_qty",
    ] {
        run.check(
            logs.0 && logs.1.contains(line),
            &format!("log line {line:?} missing:\n{}", logs.1),
        );
    }
    // The rejected config left the applied one in force.
    run.check(after.1.contains("config     generation 1"), &after.1);
    run.pass();
}

#[test]
fn an_appliance_panic_is_reported_through_the_mailbox() {
    let lab = lab();
    let mailbox = Mailbox::new("mbx-panic");
    let run = lab.boot(
        lab.appliance("mailbox-panic", "panic")
            .args(mailbox.qemu_args()),
    );
    let status = mailbox.companion(&["status"]);
    run.expect_status(qemu::ExitKind::Failure);
    run.check(status.1.contains("state      panicked"), &status.1);
    run.check(
        status
            .1
            .contains("deliberate panic requested on the command line at src/main.rs:"),
        &status.1,
    );
    run.pass();
}
