//! The `cargo qemu` binary end to end against the real image: its exit codes
//! and what it tells the user.

use std::process::{Command, Output};

fn cargo_qemu(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qemu"))
        .args(args)
        .output()
        .expect("run the qemu binary")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn test_command_shows_guest_results_and_exits_zero() {
    let out = cargo_qemu(&["test", "time"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // Live serial output goes to stdout, the runner's verdict to stderr.
    assert!(stdout.contains("test time::"), "{stdout}");
    assert!(stderr.contains("guest tests: "), "{stderr}");
    assert!(stderr.contains(" 0 failed"), "{stderr}");
}

#[test]
fn guest_exception_exits_one_and_names_the_vector() {
    let out = cargo_qemu(&[
        "run",
        "--mailbox",
        "none",
        "--timeout",
        "60",
        "--",
        "fault=ud",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("guest exception #UD at RIP 0x"), "{stderr}");
    assert!(
        stderr.contains("reproduce with: qemu-system-x86_64 "),
        "{stderr}"
    );
}

#[test]
fn timeout_exits_one_and_says_so() {
    let out = cargo_qemu(&["run", "--mailbox", "none", "--timeout", "1", "--", "halt"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out after 1 s"), "{stderr}");
}

#[test]
fn serial_file_option_writes_the_log_there() {
    let dir = std::env::temp_dir().join(qemu::unique_name("cli-serial"));
    std::fs::create_dir_all(&dir).expect("dir");
    let log = dir.join("console.txt");
    let log_arg = log.to_str().expect("utf-8 path");
    let out = cargo_qemu(&[
        "run",
        "--mailbox",
        "none",
        "--timeout",
        "60",
        "--serial",
        log_arg,
        "--",
        "up=1",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let written = std::fs::read_to_string(&log).expect("serial file");
    assert!(written.starts_with("appliance "), "{written}");
    assert_eq!(
        written,
        text(&out.stdout),
        "live output and the file differ"
    );
    std::fs::remove_dir_all(dir).expect("cleanup");
}

#[test]
fn usage_errors_exit_two() {
    let out = cargo_qemu(&["no-such-command"]);
    assert_eq!(out.status.code(), Some(2));
    let out = cargo_qemu(&["run", "--accel", "hvf"]);
    assert_eq!(out.status.code(), Some(2));
}
