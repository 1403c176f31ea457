//! The runner's process handling against the real QEMU, without the image:
//! exit mapping of a QEMU that fails to start, the timeout kill, and that no
//! QEMU outlives its handle.

use std::path::Path;
use std::time::Duration;

use tests::qemu::{ensure_qemu, unique_name, ExitKind, Repo, Vm};

fn repo() -> Repo {
    let repo = Repo::locate().expect("workspace root");
    ensure_qemu(&repo).expect("qemu-system-x86_64");
    repo
}

fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// An empty CD: SeaBIOS finds nothing to boot and waits, so QEMU runs until
/// someone stops it.
fn never_ending_vm(repo: &Repo, name: &str) -> Vm {
    Vm::cdrom(repo, "/dev/null").name(name)
}

#[test]
fn qemu_start_failure_is_a_qemu_error_with_its_message() {
    let repo = repo();
    let missing = repo
        .runs_dir()
        .join(unique_name("no-such-kernel"))
        .join("kernel.elf");
    let outcome = Vm::kernel(&repo, &missing)
        .name("plumbing-missing")
        .run()
        .expect("spawn");
    assert_eq!(
        outcome.status,
        ExitKind::QemuError { status: 1 },
        "{}",
        outcome.diagnostics()
    );
    assert!(
        outcome.qemu_log.contains("kernel.elf"),
        "QEMU's complaint should name the file: {}",
        outcome.qemu_log
    );
    assert!(outcome.diagnostics().contains(&outcome.command_line));
    assert!(outcome.run_dir.join("command.sh").is_file());
    outcome.remove_run_dir().expect("cleanup");
}

#[test]
fn timeout_kills_qemu_and_says_so() {
    let repo = repo();
    let vm = never_ending_vm(&repo, "plumbing-timeout").timeout(Some(Duration::from_millis(1500)));
    let running = vm.spawn().expect("spawn");
    let pid = running.pid().expect("pid");
    let outcome = running.wait().expect("wait");
    assert_eq!(
        outcome.status,
        ExitKind::TimedOut(Duration::from_millis(1500))
    );
    assert!(outcome.status.to_string().contains("timed out after 1.5 s"));
    assert!(
        outcome.duration >= Duration::from_millis(1500),
        "{:?}",
        outcome.duration
    );
    assert!(
        outcome.duration < Duration::from_secs(10),
        "{:?}",
        outcome.duration
    );
    assert!(!process_exists(pid), "QEMU {pid} survived the timeout");
    assert_eq!(outcome.status.runner_exit_code(), 1);
    outcome.remove_run_dir().expect("cleanup");
}

#[test]
fn dropping_a_running_vm_kills_qemu() {
    let repo = repo();
    let running = never_ending_vm(&repo, "plumbing-drop")
        .spawn()
        .expect("spawn");
    let pid = running.pid().expect("pid");
    let run_dir = running.run_dir().to_path_buf();
    std::thread::sleep(Duration::from_millis(200));
    assert!(process_exists(pid));
    drop(running);
    assert!(!process_exists(pid), "QEMU {pid} outlived its handle");
    let _ = std::fs::remove_dir_all(run_dir);
}

#[test]
fn explicit_kill_reports_the_signal_immediately() {
    let repo = repo();
    let running = never_ending_vm(&repo, "plumbing-kill")
        .timeout(None)
        .spawn()
        .expect("spawn");
    let outcome = running.kill().expect("kill");
    assert_eq!(outcome.status, ExitKind::Signal(9), "{}", outcome.status);
    assert!(outcome.duration < Duration::from_secs(5));
    outcome.remove_run_dir().expect("cleanup");
}

#[test]
fn grub_mkrescue_builds_an_iso_with_our_grub_cfg() {
    let repo = repo();
    tests::qemu::ensure_iso_tools(&repo).expect("ISO tools");
    let dir = repo.runs_dir().join(unique_name("plumbing-iso"));
    std::fs::create_dir_all(&dir).expect("dir");
    // grub-mkrescue does not look inside the kernel; any file will do here.
    let fake_elf = dir.join("fake.elf");
    std::fs::write(&fake_elf, b"\x7fELF not really").expect("write");
    let iso = dir.join("out").join("a.iso");
    let built = tests::qemu::build_iso(&repo, &fake_elf, "test=pci smp", &iso).expect("build_iso");
    assert_eq!(built, iso);
    let bytes = std::fs::read(&iso).expect("read iso");
    // ISO 9660 primary volume descriptor at sector 16.
    assert_eq!(bytes.get(0x8001..0x8006), Some(&b"CD001"[..]));
    let cfg = tests::qemu::grub_cfg("test=pci smp").expect("cfg");
    let needle = cfg.as_bytes();
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "grub.cfg not found inside the ISO"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn waiting_for_serial_gives_up_at_the_deadline_or_when_qemu_exits() {
    let repo = repo();
    let mut running = never_ending_vm(&repo, "plumbing-wait-serial")
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    assert_eq!(
        running.wait_for_serial("never printed", Duration::from_millis(300)),
        None
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    running
        .kill()
        .expect("kill")
        .remove_run_dir()
        .expect("cleanup");

    let missing = repo
        .runs_dir()
        .join(unique_name("no-such-kernel"))
        .join("kernel.elf");
    let mut running = Vm::kernel(&repo, &missing)
        .name("plumbing-wait-exit")
        .spawn()
        .expect("spawn");
    let started = std::time::Instant::now();
    assert_eq!(
        running.wait_for_serial("never printed", Duration::from_secs(30)),
        None
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "did not notice QEMU exiting"
    );
    let outcome = running.wait().expect("wait");
    assert_eq!(outcome.status, ExitKind::QemuError { status: 1 });
    outcome.remove_run_dir().expect("cleanup");
}
