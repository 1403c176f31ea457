//! The rings between two PROCESSES over a /dev/shm file, as between QEMU's
//! ivshmem backend and the companion: the test process formats the region and
//! plays the appliance; it re-executes itself (the ignored `child` test, with
//! an environment variable) to play the companion. Two million frames each
//! way, small rings so they wrap constantly; none lost, duplicated or torn.

use protocol::mailbox::ring::{Consumer, Producer};
use protocol::mailbox::{ApplianceEnd, Layout, LayoutParams, Region};
use std::ffi::CString;
use std::process::Command;

const BYTES: usize = 1 << 20;
const FRAMES: u64 = 2_000_000;
const ENV: &str = "MAILBOX_TWO_PROCESS_SHM";

struct Shm {
    path: String,
    base: *mut u8,
    owner: bool,
}

impl Shm {
    fn open(path: &str, create: bool) -> Shm {
        let c = CString::new(path).unwrap();
        let flags = libc::O_RDWR
            | if create {
                libc::O_CREAT | libc::O_EXCL
            } else {
                0
            };
        // SAFETY: plain syscalls with a valid NUL-terminated path; results checked.
        unsafe {
            let fd = libc::open(c.as_ptr(), flags, 0o600);
            assert!(fd >= 0, "open {path}");
            if create {
                assert_eq!(libc::ftruncate(fd, BYTES as libc::off_t), 0);
            }
            let p = libc::mmap(
                std::ptr::null_mut(),
                BYTES,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            );
            assert_ne!(p, libc::MAP_FAILED);
            libc::close(fd);
            Shm {
                path: path.to_string(),
                base: p.cast(),
                owner: create,
            }
        }
    }

    fn region(&self) -> Region {
        // SAFETY: the mapping is BYTES long, page-aligned, lives until `Shm`
        // drops (after the test's last use) and is only accessed via `Region`.
        unsafe { Region::new(self.base, BYTES) }.unwrap()
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        // SAFETY: unmapping the mapping created in `open`; no region use follows.
        unsafe { libc::munmap(self.base.cast(), BYTES) };
        if self.owner {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn params() -> LayoutParams {
    LayoutParams {
        command_slots: 16,
        command_slot_size: 128,
        log_slots: 32,
        log_slot_size: 128,
        ..LayoutParams::default()
    }
}

fn frame(i: u64, buf: &mut [u8; 120]) -> usize {
    let len = 8 + (i % 113) as usize;
    buf[..8].copy_from_slice(&i.to_le_bytes());
    buf[8..len].fill((i as u8) ^ 0x5A);
    len
}

fn check(i: u64, f: &[u8]) {
    let seq = u64::from_le_bytes(f[..8].try_into().unwrap());
    assert_eq!(seq, i, "lost or duplicated frame");
    assert_eq!(f.len(), 8 + (i % 113) as usize, "length of frame {i}");
    assert!(
        f[8..].iter().all(|&b| b == (i as u8) ^ 0x5A),
        "torn frame {i}"
    );
}

/// Sends FRAMES on `tx` and checks FRAMES from `rx`, interleaved.
fn pump(mut tx: Producer, mut rx: Consumer) {
    let (mut sent, mut got) = (0u64, 0u64);
    let mut out = [0u8; 120];
    let mut inb = [0u8; 120];
    let mut idle = 0u32;
    while sent < FRAMES || got < FRAMES {
        let mut progress = false;
        if sent < FRAMES {
            let n = frame(sent, &mut out);
            if tx.try_send(&out[..n]).is_ok() {
                sent += 1;
                progress = true;
            }
        }
        if got < FRAMES {
            if let Some(f) = rx.try_recv(&mut inb).unwrap() {
                check(got, f);
                got += 1;
                progress = true;
            }
        }
        if progress {
            idle = 0;
        } else {
            idle += 1;
            if idle > 64 {
                std::thread::yield_now();
            }
        }
    }
}

#[test]
#[ignore = "child half of rings_between_two_processes; runs only when spawned by it"]
fn child() {
    let Ok(path) = std::env::var(ENV) else { return };
    let shm = Shm::open(&path, false);
    let r = shm.region();
    let layout = Layout::read(&r).expect("child: valid header");
    // Companion side: produces commands, consumes logs.
    pump(
        Producer::attach(r, layout.commands),
        Consumer::attach(r, layout.logs),
    );
}

#[test]
fn rings_between_two_processes() {
    let path = format!(
        "/dev/shm/mailbox-test-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let shm = Shm::open(&path, true);
    let r = shm.region();
    let app = ApplianceEnd::format(r, &params(), 1, 0).unwrap();
    let layout = *app.layout();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ENV, &path)
        .spawn()
        .unwrap();
    // Appliance side: produces logs, consumes commands.
    pump(
        Producer::attach(r, layout.logs),
        Consumer::attach(r, layout.commands),
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed: {status}");
    drop(shm);
    assert!(!std::path::Path::new(&path).exists());
}
