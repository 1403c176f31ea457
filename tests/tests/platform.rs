//! Platform scenarios: cores, PCI devices and DMA memory as the appliance
//! finds them in QEMU, checked against QEMU's own view where it has one.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use tests::{lab, qemu, Booted, Mailbox};

#[test]
fn four_cores_report_in_and_a_faulting_core_is_isolated() {
    let lab = lab();
    // With a mailbox: the faulting core's report must reach it while the
    // boot core holds the endpoint (the in-guest test arranges that).
    let mailbox = Mailbox::new("smp4");
    let run = lab.boot(
        lab.appliance("smp4", "test=smp")
            .smp(4)
            .args(mailbox.qemu_args()),
    );
    let serial = run.serial().to_string();
    run.expect_status(qemu::ExitKind::Success);
    for core in 1..=3 {
        run.check(
            serial.contains(&format!(
                "core {core}: apic id {core} role hot state online"
            )),
            &format!("core {core} did not report in"),
        );
    }
    run.check(
        serial.contains("smp: 3 application processor(s) online, 0 failed"),
        "start-up summary",
    );
    run.check(
        serial.contains("test smp::heartbeats_messages_and_fault_isolation ... ")
            && serial.contains("tests: 1 passed, 0 failed, 0 skipped"),
        "the in-guest supervision test must pass",
    );
    // The faulting core's own report, and the statement that it alone stopped.
    run.check(
        serial.contains("EXCEPTION: vector 6 (#UD invalid opcode) on cpu apic-id 3"),
        "fault report",
    );
    run.check(
        serial.contains("core 3 parked after the exception; the other cores keep running"),
        "parking",
    );
    run.check(
        serial
            .contains("smp: core 3's fault report reached the mailbox while the endpoint was held"),
        "the fault report does not need the mailbox endpoint",
    );
    run.pass();
}

#[test]
fn default_run_starts_hot_loops_on_every_core() {
    let lab = lab();
    let run = lab.boot(lab.appliance("smp-run", "").smp(3));
    run.expect_status(qemu::ExitKind::Success);
    for core in 1..=2 {
        // "core N: running, BEATS heartbeats in US us"
        let line = run
            .serial()
            .lines()
            .find(|l| l.starts_with(&format!("core {core}: running, ")));
        let beats: Option<u64> = line
            .and_then(|l| l.split(", ").nth(1))
            .and_then(|rest| rest.split(' ').next())
            .and_then(|n| n.parse().ok());
        run.check(
            beats.is_some_and(|b| b > 0),
            &format!("core {core} heartbeats: {line:?}"),
        );
    }
    run.pass();
}

/// One BAR as `(index, address, size)`.
type BarView = (u8, u64, u64);

/// BARs of the guest's `pci:` line for `vendor:device`.
fn guest_bars(serial: &str, id: &str) -> Option<Vec<BarView>> {
    let line = serial
        .lines()
        .find(|l| l.starts_with("pci: ") && l.contains(&format!(" {id} ")))?;
    let mut bars = Vec::new();
    for word in line.split_whitespace().filter(|w| w.starts_with("bar")) {
        let (index, rest) = word.strip_prefix("bar")?.split_once('=')?;
        let (_, place) = rest.split_once(':')?;
        let (addr, size) = place.split_once('+')?;
        let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        bars.push((index.parse().ok()?, hex(addr)?, hex(size)?));
    }
    Some(bars)
}

/// BARs QEMU's monitor reports for `vendor:device` (`info pci`).
fn qemu_bars(info_pci: &str, id: &str) -> Option<Vec<BarView>> {
    let start = info_pci.find(&format!("PCI device {id}"))?;
    let section = &info_pci[start..];
    let end = section[1..].find("Bus ").map_or(section.len(), |e| e + 1);
    let mut bars = Vec::new();
    // BAR6 in QEMU's listing is the expansion ROM register, not a BAR.
    for line in section[..end]
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("BAR") && !l.starts_with("BAR6"))
    {
        // "BAR1: 32 bit memory at 0xfebd1000 [0xfebd1fff]."
        let index = line[3..].split(':').next()?.parse().ok()?;
        let at = line.split(" at 0x").nth(1)?;
        let (first, last) = at.split_once(" [0x")?;
        let first = u64::from_str_radix(first, 16).ok()?;
        let last =
            u64::from_str_radix(last.trim_end_matches("].").trim_end_matches(']'), 16).ok()?;
        // An unmapped BAR shows as all ones with a wrapped range.
        let size = last.checked_sub(first).map_or(0, |d| d + 1);
        bars.push((index, first, size));
    }
    Some(bars)
}

fn monitor_command(socket: &std::path::Path, command: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("monitor socket {}: {e}", socket.display()),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut banner = String::new();
    reader.read_line(&mut banner).expect("monitor greeting");
    let mut writer = stream;
    writer
        .write_all(format!("{command}\n").as_bytes())
        .expect("send command");
    // Read until the prompt that follows the answer (the echoed command
    // carries terminal escapes, so wait for content, then the prompt).
    let mut answer = String::new();
    let mut buf = [0u8; 4096];
    while !(answer.contains("Bus ") && answer.trim_end().ends_with("(qemu)")) {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
            Err(e) => panic!("monitor read: {e}; so far: {answer}"),
        }
    }
    answer
}

#[test]
fn pci_devices_and_bars_match_qemus_view() {
    let lab = lab();
    let mailbox = Mailbox::new("ivshmem-test");
    let monitor = std::env::temp_dir().join(format!("{}.sock", qemu::unique_name("monitor")));
    let vm = lab
        .appliance("pci", "halt")
        .args([
            "-netdev",
            "user,id=n0",
            "-device",
            "virtio-net-pci,netdev=n0,disable-modern=on,addr=0x05",
        ])
        .args(mailbox.qemu_args_at("4M", "0x06"))
        .args([
            "-monitor".to_string(),
            format!("unix:{},server=on,wait=off", monitor.display()),
        ]);
    let mut running = vm
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start QEMU: {e}"));
    let serial = running.wait_for_serial("appliance: up", tests::BOOT_TIMEOUT);
    let info_pci = monitor_command(&monitor, "info pci");
    let outcome = running
        .kill()
        .unwrap_or_else(|e| panic!("cannot stop QEMU: {e}"));
    let _ = std::fs::remove_file(&monitor);
    let run = Booted(outcome);
    let serial = serial.unwrap_or_default();
    run.check(
        serial.contains("pci: ") && serial.contains(" via ecam"),
        "PCI enumerated through ECAM",
    );
    for (id, bdf) in [("1af4:1000", "00:05.0"), ("1af4:1110", "00:06.0")] {
        let guest = guest_bars(&serial, id);
        let host = qemu_bars(&info_pci, id);
        run.check(
            serial.contains(&format!("pci: {bdf} {id} ")),
            &format!("{id} not listed at {bdf}\n--- info pci ---\n{info_pci}"),
        );
        run.check(
            guest.is_some() && guest == host && guest.as_ref().is_some_and(|b| !b.is_empty()),
            &format!("{id}: guest BARs {guest:x?} vs QEMU {host:x?}\n--- info pci ---\n{info_pci}"),
        );
    }
    run.check(
        serial.contains("msix="),
        "virtio-net's MSI-X capability recorded",
    );
    run.check(
        serial.contains("dma: budget 32 MiB"),
        "DMA budget announced",
    );
    run.pass();
}

#[test]
fn dma_budget_comes_from_the_command_line_and_is_enforced() {
    let lab = lab();
    let run = lab.boot(lab.appliance("dma", "dma=8M test=dma"));
    run.expect_status(qemu::ExitKind::Success);
    run.check(
        run.serial().contains("dma: budget 8 MiB"),
        "budget from dma=8M",
    );
    run.check(
        run.serial()
            .contains("test dma::alignment_and_budget ... ok"),
        "in-guest DMA test",
    );
    run.pass();

    let too_big = lab.boot(lab.appliance("dma-too-big", "dma=4G"));
    too_big.expect_status(qemu::ExitKind::Failure);
    too_big.check(
        too_big
            .serial()
            .contains("BOOT ERROR: dma budget does not fit in memory"),
        "clear error",
    );
    too_big.pass();
}
