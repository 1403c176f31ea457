//! The `fix-initiator` binary against a small FIX acceptor started here
//! (std TCP on 127.0.0.1, ephemeral port) that runs the same session code in
//! the acceptor role and fills every order.

use gateway::session::{
    Event, Password, Role, Session, SessionBuffers, SessionConfig, SessionState,
};
use protocol::fix::messages::{ExecType, ExecutionReport, NewOrderSingle, OrdStatus};
use protocol::fix::{FixVersion, UtcTime};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> UtcTime {
    UtcTime(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64,
    )
}

/// Serves one connection; returns the acceptor's sequence state and the
/// ClOrdIDs of the orders it received.
fn serve(stream: TcpStream, state: SessionState) -> (SessionState, Vec<String>) {
    let mut cfg = SessionConfig::new(Role::Acceptor, FixVersion::Fix44, "VENUE", "CLIENT").unwrap();
    cfg.username = Some("trader".try_into().unwrap());
    cfg.password = Password::new("hunter2");
    let buffers = SessionBuffers {
        rx: vec![0u8; 16384].leak(),
        tx: vec![0u8; 4096].leak(),
        store: vec![0u8; 65536].leak(),
        queue: vec![0u8; 16384].leak(),
        decoder: Box::leak(Box::default()),
    };
    let mut s = Session::new(cfg, state, buffers).unwrap();
    let mut stream = stream;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let mut out = stream.try_clone().unwrap();
    s.connect(now(), |_| {});
    let mut orders: Vec<Vec<u8>> = Vec::new();
    let mut received = Vec::new();
    let mut done = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut buf = [0u8; 4096];
    while !done && Instant::now() < deadline {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => 0,
            Err(_) => break,
        };
        s.on_bytes(now(), &buf[..n], |e| match e {
            Event::Send(b) => out.write_all(b).unwrap(),
            Event::Deliver(m) if m.msg_type() == b"D" => orders.push(m.as_bytes().to_vec()),
            Event::Disconnect(_) => done = true,
            _ => {}
        });
        for raw in orders.drain(..) {
            let msg = protocol::fix::FixMessage::new_checked(&raw).unwrap();
            let nos = NewOrderSingle::parse(&msg).unwrap();
            received.push(String::from_utf8(nos.cl_ord_id.to_vec()).unwrap());
            let fill = ExecutionReport {
                order_id: b"VENUE-1",
                cl_ord_id: Some(nos.cl_ord_id),
                orig_cl_ord_id: None,
                exec_id: b"EXEC-1",
                exec_ref_id: None,
                exec_type: ExecType::Trade,
                ord_status: OrdStatus::Filled,
                symbol: nos.symbol,
                side: nos.side,
                order_qty: Some(nos.order_qty),
                price: nos.price,
                last_qty: Some(nos.order_qty),
                last_px: nos.price,
                leaves_qty: 0,
                cum_qty: nos.order_qty,
                avg_px: nos.price.unwrap(),
                transact_time: Some(now()),
                text: None,
            };
            s.send(now(), &fill, |e| {
                if let Event::Send(b) = e {
                    out.write_all(b).unwrap();
                }
            })
            .unwrap();
        }
        s.on_tick(now(), |e| {
            if let Event::Send(b) = e {
                out.write_all(b).unwrap();
            }
        });
    }
    (s.state(), received)
}

struct Fixture {
    dir: PathBuf,
    port: u16,
}

impl Fixture {
    /// A scratch directory of the test's own (parallel tests must not share
    /// a sequence file) and the listener its acceptor thread serves.
    fn new(test: &str) -> (Fixture, TcpListener) {
        let dir = std::env::temp_dir().join(format!(
            "fix-initiator-{test}-{}-{}",
            std::process::id(),
            now().0
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        (Fixture { dir, port }, listener)
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// The credentials the acceptor expects, with the file's mode left to
    /// the test.
    fn credentials(&self) -> PathBuf {
        self.write(
            "creds.toml",
            "username = \"trader\"\npassword = \"hunter2\"\n",
        )
    }

    /// Where the initiator keeps its sequence numbers between runs.
    fn seq_file(&self) -> PathBuf {
        self.dir.join("client.seq")
    }

    fn config(&self, creds: &Path) -> PathBuf {
        self.config_at(creds, self.port, "")
    }

    /// The session's config with its first gateway at `port` and `extra`
    /// lines (a backup gateway) added.
    fn config_at(&self, creds: &Path, port: u16, extra: &str) -> PathBuf {
        self.write(
            "session.toml",
            &format!(
                "{extra}host = \"127.0.0.1\"\nport = {}\nsender_comp_id = \"CLIENT\"\ntarget_comp_id = \"VENUE\"\n\
                 fix_version = \"4.4\"\nheartbeat_interval_s = 5\ncredentials_file = \"{}\"\nseq_file = \"{}\"\n",
                                port,
                creds.display(),
                self.seq_file().display()
            ),
        )
    }
}

/// The stdout of an initiator run that must have succeeded; a failure
/// shows both streams.
fn successful_stdout(out: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn run_initiator(config: &Path, orders: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_fix-initiator"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--orders",
            orders.to_str().unwrap(),
            "--wait-secs",
            "5",
        ])
        .output()
        .expect("run fix-initiator")
}

#[test]
fn initiator_logs_on_orders_prints_fill_logs_out_and_resumes_sequence() {
    let (fx, listener) = Fixture::new("test");
    let acceptor = std::thread::spawn(move || {
        let mut state = SessionState::default();
        let mut all = Vec::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let (next, got) = serve(stream, state);
            state = next;
            all.push(got);
        }
        (state, all)
    });

    let creds = fx.credentials();
    let orders = fx.write(
        "orders.csv",
        "symbol,side,qty,price,tif\nAAPL,buy,100,191.25,day\n",
    );
    let config = fx.config(&creds);

    // A credentials file readable by others is refused before connecting.
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = run_initiator(&config, &orders);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to read credentials file") && err.contains("0600"),
        "{err}"
    );
    assert!(!fx.seq_file().exists());

    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stdout = successful_stdout(&run_initiator(&config, &orders));
    assert!(stdout.contains("LOGGED ON"), "{stdout}");
    assert!(stdout.contains("SENT NewOrderSingle seq=2"), "{stdout}");
    assert!(
        stdout.contains("EXEC ") && stdout.contains("exec_type=Trade ord_status=Filled symbol=AAPL side=Buy leaves=0 cum=100 avg_px=191.2500"),
        "{stdout}"
    );
    assert!(stdout.contains("DISCONNECT LogoutCompleted"), "{stdout}");
    assert!(!stdout.contains("hunter2"));
    // Each order's first report carries its round trip; the run ends with
    // their summary.
    let fill = stdout
        .lines()
        .find(|l| l.starts_with("EXEC "))
        .unwrap_or("");
    assert!(fill.contains(" round_trip_us="), "{stdout}");
    assert!(
        stdout.contains("round trip, order sent to first execution report: 1 answered, min "),
        "{stdout}"
    );
    // Logon 1, order 2, logout 3 out; logon 1, fill 2, logout 3 in.
    let seq = std::fs::read_to_string(fx.seq_file()).unwrap();
    assert_eq!(seq, "next_out=4\nnext_in=4\n");

    // Second run resumes from the saved numbers.
    let stdout = successful_stdout(&run_initiator(&config, &orders));
    assert!(stdout.contains("SENT NewOrderSingle seq=5"), "{stdout}");
    assert!(stdout.contains("ord_status=Filled"), "{stdout}");
    let seq = std::fs::read_to_string(fx.seq_file()).unwrap();
    assert_eq!(seq, "next_out=7\nnext_in=7\n");

    let (acceptor_state, orders_seen) = acceptor.join().unwrap();
    assert_eq!(
        acceptor_state,
        SessionState {
            next_out: 7,
            next_in: 7
        }
    );
    assert_eq!(
        orders_seen.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1, 1]
    );
    let _ = std::fs::remove_dir_all(&fx.dir);
}

#[test]
fn interactive_orders_from_stdin() {
    let (fx, listener) = Fixture::new("interactive");
    let acceptor = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream, SessionState::default())
    });
    let creds = fx.credentials();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = fx.config(&creds);
    let mut child = Command::new(env!("CARGO_BIN_EXE_fix-initiator"))
        .args([
            "--config",
            config.to_str().unwrap(),
            "--interactive",
            "--wait-secs",
            "5",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        let stdin = child.stdin.as_mut().unwrap();
        stdin
            .write_all(b"MSFT,sell,25,410.5,ioc\nnot,an,order\nlogout\n")
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stdout = successful_stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stdout.contains("SENT NewOrderSingle seq=2"), "{stdout}");
    assert!(
        stdout.contains("symbol=MSFT side=Sell leaves=0 cum=25 avg_px=410.5000"),
        "{stdout}"
    );
    assert!(stderr.contains("order \"not,an,order\""), "{stderr}");
    let (state, orders) = acceptor.join().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(
        state,
        SessionState {
            next_out: 4,
            next_in: 4
        }
    );
    let _ = std::fs::remove_dir_all(&fx.dir);
}

/// A venue whose first gateway is down: the initiator logs on at the
/// backup, says where it connected, and names the gateway that refused.
#[test]
fn the_backup_gateway_is_tried_when_the_first_cannot_be_reached() {
    let (fx, listener) = Fixture::new("backup");
    let acceptor = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream, SessionState::default())
    });
    // A port nothing listens on any more.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let creds = fx.credentials();
    std::fs::set_permissions(&creds, std::fs::Permissions::from_mode(0o600)).unwrap();
    let orders = fx.write("orders.csv", "AAPL,buy,100,191.25\n");
    let backup = format!("backup = {{ host = \"127.0.0.1\", port = {} }}\n", fx.port);
    let config = fx.config_at(&creds, dead, &backup);
    let out = run_initiator(&config, &orders);
    let stdout = successful_stdout(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("connect 127.0.0.1:{dead}:")),
        "{stderr}"
    );
    assert!(
        stdout.contains(&format!("CONNECTED 127.0.0.1:{}", fx.port)),
        "{stdout}"
    );
    assert!(
        stdout.contains("LOGGED ON") && stdout.contains("ord_status=Filled"),
        "{stdout}"
    );
    let (_, orders_seen) = acceptor.join().unwrap();
    assert_eq!(orders_seen.len(), 1);
    // Neither gateway reachable: an error naming both, nothing sent.
    let none = fx.config_at(
        &creds,
        dead,
        &format!("backup = {{ host = \"127.0.0.1\", port = {dead} }}\n"),
    );
    let out = run_initiator(&none, &orders);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let error = stderr
        .lines()
        .find(|l| l.starts_with("fix-initiator:"))
        .unwrap_or("");
    assert_eq!(
        error.matches(&format!("connect 127.0.0.1:{dead}:")).count(),
        2,
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&fx.dir);
}
