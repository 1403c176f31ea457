//! The journal's hand-back over real shared memory, with a thread playing
//! the appliance: a request for the journal is served however it arrives
//! (after a reboot re-formatted the region under a running `journal`, or
//! met by a one-shot command).

use companion::journal::Journal;
use companion::mapping::Mapping;
use protocol::mailbox::*;
use std::path::PathBuf;
use std::process::{Command as Proc, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use types::VenueId;

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("handback-{tag}-{}-{n}", std::process::id())
}

fn seq(next_out: u64) -> FixSeqRecord {
    FixSeqRecord {
        venue: VenueId(1),
        next_in: 41,
        next_out,
        epoch: 4,
    }
}

/// An appliance end over a /dev/shm file, served by a thread that answers
/// every command Ok and records journal hand-backs.
struct Rig {
    path: PathBuf,
    app: Arc<Mutex<ApplianceEnd>>,
    region: Region,
    journal: Arc<Mutex<Vec<JournalRecord>>>,
    persisted: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    _mapping: Arc<Mapping>,
}

impl Rig {
    fn start(tag: &str) -> Rig {
        let path = PathBuf::from(format!("/dev/shm/{}", unique(tag)));
        std::fs::File::create(&path)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();
        let mapping = Arc::new(Mapping::open_shm(&path).unwrap());
        let region = mapping.region().unwrap();
        let end = ApplianceEnd::format(region, &LayoutParams::default(), 1, 0).unwrap();
        end.set_state(ApplianceState::Running);
        let app = Arc::new(Mutex::new(end));
        let journal = Arc::new(Mutex::new(Vec::new()));
        let persisted = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, j, p, s) = (
            app.clone(),
            journal.clone(),
            persisted.clone(),
            stop.clone(),
        );
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 16 * 1024];
            while !s.load(Ordering::Relaxed) {
                {
                    let mut end = a.lock().unwrap();
                    if let Ok(Some(req)) = end.poll_command(&mut buf) {
                        match req.command {
                            Command::Journal(r) => j.lock().unwrap().push(r),
                            Command::Persisted(_) => {
                                p.fetch_add(1, Ordering::SeqCst);
                            }
                            _ => {}
                        }
                        let reply = match req.command {
                            Command::Ping { nonce } => Reply::Pong { nonce },
                            _ => Reply::Ok,
                        };
                        let _ = end.reply(req.id, reply);
                    }
                }
                std::thread::sleep(Duration::from_micros(200));
            }
        });
        Rig {
            path,
            app,
            region,
            journal,
            persisted,
            stop,
            _mapping: mapping,
        }
    }

    fn proc(&self, args: &[&str]) -> Proc {
        let mut p = Proc::new(env!("CARGO_BIN_EXE_companion"));
        p.arg("--shm")
            .arg(&self.path)
            .args(args)
            .stdin(Stdio::null());
        p
    }

    fn event(&self, ev: Event) {
        self.app.lock().unwrap().event(ev).unwrap();
    }

    fn replies_pending(&self) -> usize {
        let l = Layout::read(&self.region).unwrap();
        let head = self
            .region
            .load(l.replies.offset, Ordering::Acquire)
            .unwrap();
        let tail = self
            .region
            .load(l.replies.offset + 64, Ordering::Acquire)
            .unwrap();
        (head - tail) as usize
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        let _ = std::fs::remove_file(&self.path);
        // Left by a journal companion that was killed, not stopped.
        let _ = std::fs::remove_file(format!("{}.control", self.path.display()));
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    eprintln!("gave up waiting for {what}");
    false
}

/// The appliance reboots (re-formats the region) and asks for its journal
/// while the running `journal` is off the CPU: its stale reply tail makes
/// the ring look corrupt; it must attach afresh, not skip the new boot's
/// frames (the request is sent once; without it the appliance would log on
/// below the number the venue has seen).
#[test]
fn a_journal_request_after_a_reboot_is_served() {
    let rig = Rig::start("reboot");
    let dir = temp_dir("reboot");
    let mut daemon = rig
        .proc(&["journal", "--dir", dir.to_str().unwrap()])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Boot 1: some traffic the daemon persists and confirms.
    for i in 0..3 {
        rig.event(Event::FixSeq(seq(300 + i)));
    }
    assert!(wait_for("confirmation", 10, || rig
        .persisted
        .load(Ordering::SeqCst)
        > 0));
    assert!(wait_for("drained", 10, || rig.replies_pending() == 0));
    // Boot 2: format, then ask for the journal (as trade.rs does), while
    // the daemon is off the CPU for a moment (descheduled, or in fsync).
    let pid = daemon.id() as i32;
    // SAFETY: signals to our own child.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    std::thread::sleep(Duration::from_millis(20));
    {
        let mut end = rig.app.lock().unwrap();
        *end = ApplianceEnd::format(rig.region, &LayoutParams::default(), 2, 0).unwrap();
        end.event(Event::JournalRequest).unwrap();
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    let served = wait_for("hand-back", 5, || {
        rig.journal
            .lock()
            .unwrap()
            .iter()
            .any(|r| matches!(r, JournalRecord::End { .. }))
    });
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert!(
        served,
        "the new boot's JournalRequest was dropped: the appliance will start a fresh FIX session"
    );
}

/// With --journal-dir, the journal request a one-shot command meets on the
/// way to its reply is served before the process exits.
#[test]
fn a_journal_request_met_by_a_one_shot_command_is_served() {
    let rig = Rig::start("req");
    let dir = temp_dir("req");
    Journal::open(dir.clone())
        .unwrap()
        .persist(&Event::FixSeq(seq(5000)))
        .unwrap();
    rig.event(Event::JournalRequest);
    let o = rig
        .proc(&["--journal-dir", dir.to_str().unwrap(), "ping"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let o = rig
        .proc(&["journal", "--dir", dir.to_str().unwrap(), "--once"])
        .output()
        .unwrap();
    assert!(o.status.success());
    let served = !rig.journal.lock().unwrap().is_empty();
    assert!(
        served,
        "the appliance's JournalRequest was swallowed by `ping`"
    );
}
