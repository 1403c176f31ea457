//! The `fix-initiator` binary, and with it the session code the appliance
//! runs, against a venue built on QuickFIX/C++ (`qemu::quickfix`:
//! `qemu/quickfix/venue.cpp` with Debian's `libquickfix-dev`, installed when
//! missing as the lab installs QEMU). `fix_initiator.rs` holds the initiator to our own acceptor; here
//! the counterparty is an engine that shares nothing with ours, so a
//! misreading of the FIX specification on both of our sides would show.
//!
//! Covered, for FIX 4.2 and 4.4: logon with credentials, orders acknowledged,
//! partially filled, filled and refused; sequence numbers carried over a
//! restart or reset by ResetSeqNumFlag; reports lost by the initiator resent
//! by the venue (PossDupFlag);
//! a gap on our side filled for the venue; heartbeats both ways; the venue's
//! refusals (sequence number too low, bad credentials) reported with its
//! reason, and the password never printed.

use qemu::quickfix::{QuickfixVenue as Venue, VenueOptions};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const USER: &str = "trader";
const PASSWORD: &str = "hunter2";

/// A fresh directory for one test.
fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("quickfix")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test directory");
    dir
}

/// A QuickFIX venue with its store and logs in `dir`, requiring our
/// credentials; orders fill at once.
fn start_venue(dir: &Path) -> Venue {
    start_venue_resting(dir, &[])
}

/// The same, resting orders in `symbols` until canceled or replaced.
fn start_venue_resting(dir: &Path, symbols: &[&str]) -> Venue {
    let repo = qemu::Repo::locate().expect("the repository root");
    let options = VenueOptions {
        credentials: Some((USER.into(), PASSWORD.into())),
        resting: symbols.iter().map(|s| s.to_string()).collect(),
        ..VenueOptions::default()
    };
    Venue::start(&repo, dir, options).unwrap_or_else(|e| panic!("the QuickFIX venue: {e}"))
}

/// The initiator's side: its directory, session config and sequence file.
struct Client {
    dir: PathBuf,
    version: &'static str,
    config: PathBuf,
}

/// What one run of `fix-initiator` printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// The ClOrdIDs of the orders sent, in order.
    fn cl_ord_ids(&self) -> Vec<String> {
        self.lines("SENT NewOrderSingle")
            .iter()
            .map(|l| field(l, "cl_ord_id").to_string())
            .collect()
    }

    /// The execution reports printed for `cl_ord_id`, each as its fields.
    fn reports(&self, cl_ord_id: &str) -> Vec<HashMap<String, String>> {
        self.lines("EXEC ")
            .into_iter()
            .filter(|l| field(l, "cl_ord_id") == cl_ord_id)
            .map(fields)
            .collect()
    }
}

/// The value of `key=value` in a line of the initiator's output.
fn field<'a>(line: &'a str, key: &str) -> &'a str {
    let start = format!("{key}=");
    line.split(' ')
        .find_map(|t| t.strip_prefix(start.as_str()))
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// The `key=value` fields of an EXEC line (a quoted text keeps its spaces).
fn fields(line: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = line.strip_prefix("EXEC ").unwrap_or(line);
    while let Some((key, after)) = rest.split_once('=') {
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            after.split_once(' ').unwrap_or((after, ""))
        };
        out.insert(key.trim().to_string(), value.to_string());
        rest = next.trim_start();
    }
    out
}

impl Client {
    fn new(dir: &Path, version: &'static str, port: u16, password: &str) -> Client {
        let creds = dir.join(format!("creds-{version}.toml"));
        std::fs::write(
            &creds,
            format!("username = \"{USER}\"\npassword = \"{password}\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.join(format!("session-{version}.toml"));
        std::fs::write(
            &config,
            format!(
                "host = \"127.0.0.1\"\nport = {port}\nsender_comp_id = \"CLIENT\"\n\
                 target_comp_id = \"VENUE\"\nfix_version = \"{version}\"\n\
                 heartbeat_interval_s = 1\ncredentials_file = \"{}\"\nseq_file = \"{}\"\n",
                creds.display(),
                dir.join(format!("client-{version}.seq")).display()
            ),
        )
        .unwrap();
        Client {
            dir: dir.to_path_buf(),
            version,
            config,
        }
    }

    fn begin_string(&self) -> String {
        format!("FIX.{}", self.version)
    }

    /// From now on the initiator logs on with ResetSeqNumFlag (141=Y).
    fn reset_on_logon(&self) {
        let mut text = std::fs::read_to_string(&self.config).unwrap();
        text.push_str("reset_on_logon = true\n");
        std::fs::write(&self.config, text).unwrap();
    }

    fn seq_file(&self) -> PathBuf {
        self.dir.join(format!("client-{}.seq", self.version))
    }

    /// (next_out, next_in) as the initiator saved them.
    fn seq(&self) -> (u64, u64) {
        let text = std::fs::read_to_string(self.seq_file()).expect("the sequence file");
        let get = |key: &str| -> u64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim_start_matches('=').trim().parse().ok())
                .unwrap_or_else(|| panic!("{key} in {text:?}"))
        };
        (get("next_out"), get("next_in"))
    }

    fn set_seq(&self, next_out: u64, next_in: u64) {
        std::fs::write(
            self.seq_file(),
            format!("next_out={next_out}\nnext_in={next_in}\n"),
        )
        .unwrap();
    }

    /// Runs the initiator with `orders` (CSV) and `--verbose`.
    fn run(&self, orders: &str) -> Run {
        let path = self.dir.join("orders.csv");
        std::fs::write(&path, orders).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_fix-initiator"))
            .arg("--config")
            .arg(&self.config)
            .arg("--orders")
            .arg(&path)
            .arg("--verbose")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("fix-initiator starts");
        finish(child)
    }
}

/// Waits (at most 60 s) for the initiator and collects its output.
fn finish(child: Child) -> Run {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(out) => out.expect("fix-initiator's output"),
        Err(_) => {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            panic!("fix-initiator did not finish within 60 s");
        }
    };
    let run = Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in [PASSWORD, "wrong-password"] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "the password was printed:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

const ORDERS: &str = "# symbol,side,qty,price,tif\n\
                      AAPL,buy,100,191.25,day\n\
                      MSFT,sell,1,400.5,ioc\n\
                      REJECT,buy,5,1,day\n";

/// The three orders of `ORDERS`, as the venue saw them and as it answered.
fn assert_orders_answered(run: &Run, venue: &mut Venue, begin_string: &str) {
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let ids = run.cl_ord_ids();
    assert_eq!(ids.len(), 3, "{}", run.stdout);
    // The venue read every field it requires (a missing one is refused with
    // a Reject, and the order never reaches it).
    for (id, rest) in ids
        .iter()
        .zip(["AAPL 1 100 191.25 0", "MSFT 2 1 400.5 3", "REJECT 1 5 1 0"])
    {
        let line = venue
            .wait_for(&format!("ORDER {begin_string} {id} "))
            .unwrap_or_else(|| panic!("the venue never saw {id}: {:?}", venue.said()));
        assert!(line.ends_with(rest), "{line}");
    }
    // Acknowledged, half filled, filled; QuickFIX sends fields in tag order.
    let aapl = run.reports(&ids[0]);
    let got: Vec<(&str, &str, &str, &str)> = aapl
        .iter()
        .map(|r| {
            (
                r["exec_type"].as_str(),
                r["ord_status"].as_str(),
                r["cum"].as_str(),
                r["leaves"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("New", "New", "0", "100"),
            ("Trade", "PartiallyFilled", "50", "50"),
            ("Trade", "Filled", "100", "0"),
        ]
    );
    for r in &aapl[1..] {
        assert_eq!(
            (&r["last_qty"][..], &r["last_px"][..], &r["avg_px"][..]),
            ("50", "191.2500", "191.2500")
        );
        assert_eq!((&r["symbol"][..], &r["side"][..]), ("AAPL", "Buy"));
    }
    // One share fills at once.
    let msft = run.reports(&ids[1]);
    assert_eq!(msft.len(), 2, "{msft:?}");
    assert_eq!(msft[1]["ord_status"], "Filled");
    assert_eq!(msft[1]["side"], "Sell");
    assert_eq!(msft[1]["last_px"], "400.5000");
    // Refused with its reason.
    let refused = run.reports(&ids[2]);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["exec_type"], "Rejected");
    assert_eq!(refused[0]["ord_status"], "Rejected");
    assert_eq!(refused[0]["text"], "symbol not traded here");
    assert!(
        run.stdout
            .contains("round trip, order sent to first execution report: 3 answered"),
        "{}",
        run.stdout
    );
}

#[test]
fn orders_are_acknowledged_filled_and_refused_in_fix_4_2_and_4_4() {
    let dir = work_dir("orders");
    let mut venue = start_venue(&dir);
    for version in ["4.4", "4.2"] {
        let client = Client::new(&dir, version, venue.port(), PASSWORD);
        let run = client.run(ORDERS);
        let begin = client.begin_string();
        assert_orders_answered(&run, &mut venue, &begin);
        assert!(run.stdout.contains("LOGGED ON"), "{}", run.stdout);
        assert!(
            run.stdout.contains("DISCONNECT LogoutCompleted"),
            "{}",
            run.stdout
        );
        venue
            .wait_for(&format!("LOGON {begin}:VENUE->CLIENT"))
            .unwrap();
        venue
            .wait_for(&format!("LOGOUT {begin}:VENUE->CLIENT"))
            .unwrap();
        // Ours: Logon 1, three orders 2-4, Logout 5. The venue's: Logon 1,
        // six reports 2-7, Logout 8.
        assert_eq!(client.seq(), (6, 9), "{}", run.stdout);
        // In 4.2 the engine required HandlInst and read ExecTransType's
        // absence as no error; our orders carry what each version needs.
        let ours = venue.messages_from(&begin, "CLIENT");
        assert!(
            ours.iter()
                .filter(|m| m.contains("|35=D|"))
                .all(|m| m.contains("|21=1|") && m.contains("|60=")),
            "{ours:?}"
        );
        // Nothing of ours was refused at the session level.
        let theirs = venue.messages_from(&begin, "VENUE");
        assert!(!theirs.iter().any(|m| m.contains("|35=3|")), "{theirs:?}");
    }
}

#[test]
fn sequence_numbers_carry_over_a_restart_and_lost_reports_are_resent() {
    let dir = work_dir("resend");
    let mut venue = start_venue(&dir);
    let client = Client::new(&dir, "4.4", venue.port(), PASSWORD);
    let first = client.run(ORDERS);
    assert_orders_answered(&first, &mut venue, "FIX.4.4");
    assert_eq!(client.seq(), (6, 9));

    // A second run picks up where the first left off: the venue takes our
    // Logon at 6 and asks for nothing.
    let second = client.run("IBM,buy,1,150,day\n");
    assert!(second.ok, "{}\n{}", second.stdout, second.stderr);
    let logon = second.lines("> ")[0];
    assert!(
        logon.contains("|35=A|") && logon.contains("|34=6|"),
        "{logon}"
    );
    // Logon 9, New 10, Filled 11, Logout 12.
    assert_eq!(client.seq(), (9, 13));
    let log = venue.message_log("FIX.4.4");
    assert!(
        !log.contains("|35=2|"),
        "a ResendRequest was needed:\n{log}"
    );

    // The initiator loses every report it was sent (its sequence file says
    // it saw only the Logon): it asks, and the venue resends them marked as
    // possible duplicates, its own admin messages gap-filled.
    client.set_seq(9, 2);
    let third = client.run("IBM,sell,1,150,day\n");
    assert!(third.ok, "{}\n{}", third.stdout, third.stderr);
    let ours = venue.messages_from("FIX.4.4", "CLIENT");
    let asked = ours
        .iter()
        .find(|m| m.contains("|35=2|"))
        .expect("a ResendRequest of ours");
    assert!(
        asked.contains("|7=2|") && asked.contains("|16=0|"),
        "{asked}"
    );
    for exec_id in ["E1", "E2", "E3", "E4", "E5", "E6", "E7", "E8"] {
        let resent = third
            .stdout
            .lines()
            .find(|l| l.starts_with("< ") && l.contains(&format!("|17={exec_id}|")))
            .unwrap_or_else(|| panic!("{exec_id} not resent:\n{}", third.stdout));
        assert!(resent.contains("|43=Y|"), "{resent}");
        assert!(resent.contains("|122="), "{resent}");
    }
    // Printed as possible duplicates: the first run's orders' reports again.
    for id in first.cl_ord_ids() {
        let again = third.reports(&id);
        assert!(
            !again.is_empty()
                && again
                    .iter()
                    .all(|r| r.get("poss_dup").map(String::as_str) == Some("Y")),
            "{id}: {again:?}"
        );
    }
    // The reports of this run's own order, after the resent ones.
    let id = &third.cl_ord_ids()[0];
    let fresh = third.reports(id);
    assert_eq!(fresh.len(), 2, "{}", third.stdout);
    assert_eq!(fresh[1]["ord_status"], "Filled");
    assert!(fresh.iter().all(|r| !r.contains_key("poss_dup")));
    // Logon 13, New 14, Filled 15, Logout 16; ours: Logon 9, ResendRequest
    // 10, the order 11, Logout 12.
    assert_eq!(client.seq(), (13, 17));
}

/// A certification script: an order rests, is replaced, and the replaced
/// order is canceled (named by the replace's ClOrdID and the venue's
/// OrderID); an order that filled can be neither canceled nor replaced, and
/// the venue's OrderCancelRejects say so. `wait` lines hold each step until
/// the one before is answered.
#[test]
fn a_certification_script_replaces_and_cancels_and_is_refused_when_too_late() {
    let dir = work_dir("cancel-replace");
    let mut venue = start_venue_resting(&dir, &["MSFT"]);
    for version in ["4.4", "4.2"] {
        let client = Client::new(&dir, version, venue.port(), PASSWORD);
        let begin = client.begin_string();
        let run = client.run(
            "MSFT,buy,100,400.25\nwait\nreplace,1,150,400.5\nwait\ncancel,1\nwait\n\
             AAPL,buy,10,191\nwait\ncancel,2\nreplace,2,20,191\n",
        );
        assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
        let sent: Vec<String> = run
            .lines("SENT ")
            .iter()
            .map(|l| field(l, "cl_ord_id").to_string())
            .collect();
        assert_eq!(sent.len(), 6, "{}", run.stdout);
        // Order 1 rests; the replace names it, and the cancel names the
        // replace, as the venue confirmed it.
        let replace = venue
            .wait_for(&format!("REPLACE {begin} {} {} ", sent[1], sent[0]))
            .unwrap_or_else(|| panic!("the venue never saw the replace: {:?}", venue.said()));
        assert!(replace.ends_with(" 150 400.5"), "{replace}");
        venue
            .wait_for(&format!("CANCEL {begin} {} {}", sent[2], sent[1]))
            .unwrap_or_else(|| panic!("the venue never saw the cancel: {:?}", venue.said()));
        let replaced = run.reports(&sent[1]);
        assert_eq!(replaced.len(), 1, "{}", run.stdout);
        assert_eq!(
            (&replaced[0]["exec_type"][..], &replaced[0]["leaves"][..]),
            ("Replaced", "150")
        );
        let canceled = run.reports(&sent[2]);
        assert_eq!(canceled.len(), 1, "{}", run.stdout);
        assert_eq!(
            (
                &canceled[0]["exec_type"][..],
                &canceled[0]["ord_status"][..]
            ),
            ("Canceled", "Canceled")
        );
        // The cancel carried the venue's OrderID of order 1.
        let order_id = &run.reports(&sent[0])[0]["order_id"];
        let ours = venue.messages_from(&begin, "CLIENT");
        let cancel = ours
            .iter()
            .find(|m| m.contains("|35=F|") && m.contains(&format!("|11={}|", sent[2])))
            .expect("our cancel in the venue's log");
        assert!(cancel.contains(&format!("|37={order_id}|")), "{cancel}");
        // Order 2 filled at once: too late for either.
        let rejects = run.lines("CANCEL REJECT ");
        assert_eq!(rejects.len(), 2, "{}", run.stdout);
        let filled_id = &run.reports(&sent[3])[0]["order_id"];
        for (line, (cl, to)) in rejects
            .iter()
            .zip([(&sent[4], "Cancel"), (&sent[5], "Replace")])
        {
            assert_eq!(field(line, "cl_ord_id"), cl.as_str(), "{line}");
            assert_eq!(field(line, "orig_cl_ord_id"), sent[3].as_str(), "{line}");
            assert_eq!(field(line, "response_to"), to, "{line}");
            // Too late (CxlRejReason 0): the order filled.
            assert_eq!(field(line, "ord_status"), "Filled", "{line}");
            assert_eq!(field(line, "reason"), "0", "{line}");
            assert_eq!(field(line, "order_id"), filled_id.as_str(), "{line}");
            assert!(
                line.ends_with("text=\"too late: the order is done\""),
                "{line}"
            );
        }
        assert!(
            run.stdout.contains("DISCONNECT LogoutCompleted"),
            "{}",
            run.stdout
        );
    }
}

/// A Logon with ResetSeqNumFlag starts both sides at 1 again: the venue
/// answers in kind, and the session goes on from there.
#[test]
fn a_reset_logon_starts_both_sides_at_one() {
    let dir = work_dir("reset");
    let mut venue = start_venue(&dir);
    let client = Client::new(&dir, "4.4", venue.port(), PASSWORD);
    let first = client.run(ORDERS);
    assert_orders_answered(&first, &mut venue, "FIX.4.4");
    assert_eq!(client.seq(), (6, 9));
    client.reset_on_logon();
    let second = client.run("IBM,buy,1,150,day\n");
    assert!(second.ok, "{}\n{}", second.stdout, second.stderr);
    let logon = second.lines("> ")[0];
    assert!(
        logon.contains("|35=A|") && logon.contains("|34=1|") && logon.contains("|141=Y|"),
        "{logon}"
    );
    let theirs = venue.messages_from("FIX.4.4", "VENUE");
    let answer = theirs
        .iter()
        .rev()
        .find(|m| m.contains("|35=A|"))
        .expect("the venue's Logon");
    assert!(
        answer.contains("|34=1|") && answer.contains("|141=Y|"),
        "{answer}"
    );
    // Ours: Logon 1, the order 2, Logout 3. The venue's: Logon 1, New 2,
    // Filled 3, Logout 4.
    assert_eq!(client.seq(), (4, 5));
    let id = &second.cl_ord_ids()[0];
    assert_eq!(second.reports(id).len(), 2, "{}", second.stdout);
}

#[test]
fn a_gap_in_our_numbers_is_filled_for_the_venue() {
    let dir = work_dir("gapfill");
    let mut venue = start_venue(&dir);
    let client = Client::new(&dir, "4.4", venue.port(), PASSWORD);
    let first = client.run(ORDERS);
    assert_orders_answered(&first, &mut venue, "FIX.4.4");
    // Five numbers skipped, e.g. messages sent and then lost with the
    // host before its sequence file was written: the venue asks for them,
    // and a restarted initiator, which no longer has them, gap-fills.
    client.set_seq(11, 9);
    let second = client.run("IBM,buy,1,150,day\n");
    assert!(second.ok, "{}\n{}", second.stdout, second.stderr);
    let theirs = venue.messages_from("FIX.4.4", "VENUE");
    let asked = theirs
        .iter()
        .find(|m| m.contains("|35=2|"))
        .expect("the venue's ResendRequest");
    assert!(asked.contains("|7=6|"), "{asked}");
    let ours = venue.messages_from("FIX.4.4", "CLIENT");
    let fill = ours
        .iter()
        .find(|m| m.contains("|35=4|"))
        .expect("our SequenceReset");
    assert!(
        fill.contains("|34=6|") && fill.contains("|123=Y|") && fill.contains("|43=Y|"),
        "{fill}"
    );
    let id = &second.cl_ord_ids()[0];
    assert_eq!(second.reports(id).len(), 2, "{}", second.stdout);
    let event_log = venue.event_log("FIX.4.4");
    assert!(!event_log.contains("too low"), "{event_log}");
}

#[test]
fn heartbeats_keep_an_idle_session_up() {
    let dir = work_dir("heartbeat");
    let mut venue = start_venue(&dir);
    let client = Client::new(&dir, "4.4", venue.port(), PASSWORD);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fix-initiator"))
        .arg("--config")
        .arg(&client.config)
        .args(["--interactive", "--verbose"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fix-initiator starts");
    let mut stdin = child.stdin.take().expect("piped stdin");
    venue.wait_for("LOGON FIX.4.4").expect("logged on");
    writeln!(stdin, "AAPL,buy,10,190").unwrap();
    venue.wait_for("ORDER FIX.4.4").expect("the order");
    // Idle for three and a half heartbeat intervals of one second.
    std::thread::sleep(Duration::from_millis(3_500));
    writeln!(stdin, "logout").unwrap();
    drop(stdin);
    let run = finish(child);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    let sent_heartbeats = run
        .lines("> ")
        .iter()
        .filter(|l| l.contains("|35=0|"))
        .count();
    assert!(sent_heartbeats >= 2, "{}", run.stdout);
    let theirs = venue.messages_from("FIX.4.4", "VENUE");
    let their_heartbeats = theirs.iter().filter(|m| m.contains("|35=0|")).count();
    assert!(their_heartbeats >= 2, "{theirs:?}");
    // Neither side had to ask whether the other was still there.
    assert!(!theirs.iter().any(|m| m.contains("|35=1|")), "{theirs:?}");
    assert!(
        !run.lines("> ").iter().any(|l| l.contains("|35=1|")),
        "{}",
        run.stdout
    );
}

#[test]
fn the_venues_reason_for_refusing_a_logon_reaches_the_user() {
    let dir = work_dir("refused");
    let mut venue = start_venue(&dir);
    let client = Client::new(&dir, "4.4", venue.port(), PASSWORD);
    let first = client.run(ORDERS);
    assert_orders_answered(&first, &mut venue, "FIX.4.4");

    // A sequence file from an older run: our numbers are below what the
    // venue expects, which it refuses outright.
    client.set_seq(2, 9);
    let stale = client.run("IBM,buy,1,150,day\n");
    assert!(!stale.ok);
    assert!(
        stale
            .stdout
            .contains("PEER LOGOUT text=\"MsgSeqNum too low, expecting 6 but received 2\""),
        "{}",
        stale.stdout
    );
    assert!(
        stale.stderr.contains(
            "session ended: LogonRejected: the peer said \
             \"MsgSeqNum too low, expecting 6 but received 2\""
        ),
        "{}",
        stale.stderr
    );
    assert!(stale.lines("SENT").is_empty(), "{}", stale.stdout);
    // The refusal spent the venue's number 9 and our 2.
    assert_eq!(client.seq(), (3, 10));

    // The wrong password: refused, and printed nowhere.
    let other = work_dir("refused-credentials");
    let wrong = Client::new(&other, "4.2", venue.port(), "wrong-password");
    let refused = wrong.run(ORDERS);
    assert!(!refused.ok);
    venue
        .wait_for("REFUSED FIX.4.2:VENUE->CLIENT bad credentials")
        .expect("the venue refused the logon");
    assert!(
        refused
            .stderr
            .contains("the peer said \"Rejected Logon Attempt: bad credentials\""),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stdout.contains("553=trader|554=***|"),
        "{}",
        refused.stdout
    );
}
