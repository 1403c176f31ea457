//! The companion binary against a served /dev/shm region: the test process
//! formats the region and serves the command ring with the protocol crate's
//! appliance end (a thread), the companion runs as a separate process.

use companion::mapping::Mapping;
use protocol::mailbox::config::parse_json;
use protocol::mailbox::histogram::LatencyHistogram;
use protocol::mailbox::*;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command as Proc, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use types::{OrderId, Price, Side, StrategyId, Symbol, VenueId};

const BYTES: u64 = 1 << 20;

#[derive(Default)]
struct Seen {
    journal: Vec<JournalRecord>,
    /// Sequence records the companion confirmed as on disk, in order.
    persisted: Vec<FixSeqRecord>,
    configs: Vec<config::ApplianceConfig>,
    /// Events for the appliance to emit.
    outbox: Vec<Event>,
    logs: Vec<Vec<u8>>,
}

/// A /dev/shm region served by an in-process appliance end.
struct Served {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    thread: Option<JoinHandle<()>>,
}

fn unique(tag: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("companion-test-{tag}-{}-{n}", std::process::id())
}

fn fill(n: u64) -> FillRecord {
    FillRecord {
        exec_seq: n,
        order: OrderId(100 + n),
        venue: VenueId(1),
        locate: 13,
        symbol: Symbol::new("AAPL").unwrap(),
        side: Side::Buy,
        qty: 100,
        price: Price::new(187, 2500),
        ts_ns: n * 1_000,
        exec_key: 0,
        strategy: Some(StrategyId(1)),
        adjusts: 0,
    }
}

impl Served {
    fn start(tag: &str) -> Served {
        let path = PathBuf::from(format!("/dev/shm/{}", unique(tag)));
        std::fs::File::create(&path)
            .unwrap()
            .set_len(BYTES)
            .unwrap();
        let mapping = Mapping::open_shm(&path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let region = mapping.region().unwrap();
        let mut app = ApplianceEnd::format(region, &LayoutParams::default(), 0xB007, 0).unwrap();
        let thread = std::thread::spawn(move || {
            let _keep = mapping;
            serve(&mut app, &stop2, &seen2);
        });
        Served {
            path,
            stop,
            seen,
            thread: Some(thread),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut all = vec!["--shm", self.path.to_str().unwrap()];
        all.extend_from_slice(args);
        Proc::new(env!("CARGO_BIN_EXE_companion"))
            .args(&all)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        // Left by a journal companion that was killed, not stopped.
        let _ = std::fs::remove_file(format!("{}.control", self.path.display()));
    }
}

/// The appliance's side of the protocol, as a test double for core 0.
fn serve(app: &mut ApplianceEnd, stop: &AtomicBool, seen: &Mutex<Seen>) {
    let start = Instant::now();
    let mut state = ApplianceState::Running;
    let mut kill = KillSwitch::default();
    let mut generation = 0u64;
    app.set_state(state);
    let mut hist = LatencyHistogram::default();
    (1..=10_000u64)
        .for_each(|v| hist.record(800 + v % 700 + if v % 1000 == 0 { 20_000 } else { 0 }));
    let latency = [StageLatency {
        name: Label::new("tick_to_trade"),
        histogram: hist,
    }];
    let positions = [Position {
        locate: 13,
        symbol: Symbol::new("AAPL").unwrap(),
        qty: 300,
        avg_px: Price::new(187, 2500),
        realized_pnl: 1_250_000,
        unrealized_pnl: -40_000,
    }];
    let orders = [OpenOrder {
        id: OrderId(4242),
        symbol: Symbol::new("MSFT").unwrap(),
        locate: 14,
        side: Side::Sell,
        strategy: StrategyId(1),
        venue: VenueId(1),
        price: Price::new(401, 1000),
        qty: 100,
        leaves: 60,
        entered_ns: 5_000_000,
    }];
    let mut buf = vec![0u8; app.layout().commands.max_payload()];
    let mut last_publish = Instant::now() - Duration::from_secs(1);
    while !stop.load(Ordering::Relaxed) {
        let now = start.elapsed().as_nanos() as u64;
        if last_publish.elapsed() >= Duration::from_millis(10) {
            last_publish = Instant::now();
            app.heartbeat(now, 0);
            let mut s = StatusSnapshot {
                uptime_ns: now,
                config_generation: generation,
                core_count: 2,
                nic_count: 1,
                ..Default::default()
            };
            s.cores[0] = CoreStatus {
                state: CoreState::Running,
                heartbeat: now / 1_000_000,
                last_beat_ns: now,
            };
            s.cores[1] = CoreStatus {
                state: CoreState::Running,
                heartbeat: now / 2_000_000,
                last_beat_ns: now,
            };
            s.nics[0] = NicStatus {
                link_up: true,
                speed_mbps: 10_000,
                mac: [2, 0, 0, 0, 0, 1],
                rx_packets: 1234,
                rx_bytes: 99_000,
                tx_packets: 17,
                ..Default::default()
            };
            app.publish_status(&s).unwrap();
            app.publish_positions(&positions).unwrap();
            app.publish_orders(if kill.engaged { &[] } else { &orders })
                .unwrap();
            let limits = [RiskLimit {
                name: Label::new("open_orders"),
                limit: 200,
                usage: if kill.engaged { 0 } else { 1 },
            }];
            app.publish_risk(&kill, &limits).unwrap();
            app.publish_counters(&[Counter {
                name: Label::new("itch_msgs"),
                value: now / 1000,
            }])
            .unwrap();
            app.publish_latency(&latency).unwrap();
            let mut g = seen.lock().unwrap();
            for ev in std::mem::take(&mut g.outbox) {
                app.event(ev).unwrap();
            }
            for l in std::mem::take(&mut g.logs) {
                app.log(&l).unwrap();
            }
        }
        match app.poll_command(&mut buf) {
            Ok(Some(req)) => {
                let reply = match req.command {
                    Command::Kill { reason } => {
                        kill = KillSwitch {
                            engaged: true,
                            reason: Label::new(reason),
                            since_ns: now,
                        };
                        app.event(Event::StateChanged {
                            from: state,
                            to: ApplianceState::Killed,
                        })
                        .unwrap();
                        state = ApplianceState::Killed;
                        Reply::Ok
                    }
                    Command::Rearm if kill.engaged => {
                        kill = KillSwitch::default();
                        state = ApplianceState::Running;
                        Reply::Ok
                    }
                    Command::Rearm => Reply::Rejected {
                        field: "",
                        reason: "kill switch is not engaged",
                    },
                    Command::ApplyConfig { json } => match parse_json(json) {
                        Ok(cfg) => {
                            generation += 1;
                            seen.lock().unwrap().configs.push(cfg);
                            Reply::Ok
                        }
                        Err(e) => {
                            let field = std::string::String::from(e.field.as_str());
                            app.reply(
                                req.id,
                                Reply::Rejected {
                                    field: &field,
                                    reason: e.reason,
                                },
                            )
                            .unwrap();
                            continue;
                        }
                    },
                    Command::Journal(r) => {
                        seen.lock().unwrap().journal.push(r);
                        Reply::Ok
                    }
                    Command::Persisted(r) => {
                        seen.lock().unwrap().persisted.push(r);
                        Reply::Ok
                    }
                    Command::GetStatus => Reply::Status {
                        state,
                        uptime_ns: now,
                        config_generation: generation,
                        kill_engaged: kill.engaged,
                    },
                    Command::Ping { nonce } => Reply::Pong { nonce },
                };
                app.set_state(state);
                app.reply(req.id, reply).unwrap();
            }
            Ok(None) => std::thread::sleep(Duration::from_micros(200)),
            Err(CommandError::Frame { id: Some(id), .. }) => {
                app.reply(id, Reply::Malformed).unwrap()
            }
            Err(e) => panic!("appliance side saw {e:?}"),
        }
    }
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn example_config(dir: &Path) -> PathBuf {
    let p = dir.join("appliance.toml");
    std::fs::write(&p, include_str!("../examples/appliance.toml")).unwrap();
    p
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(unique(tag));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn status_shows_state_heartbeat_cores_and_nic() {
    let s = Served::start("status");
    let o = s.run(&["status"]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.contains("state      running"), "{out}");
    assert!(out.contains("boot id    0x000000000000b007"), "{out}");
    assert!(out.contains("advancing"), "{out}");
    assert!(out.contains("core 1   running"), "{out}");
    assert!(
        out.contains("link up") && out.contains("rx 1234 pkts"),
        "{out}"
    );
    let o = s.run(&["attach"]);
    assert!(text(&o).0.contains("Commands"), "{:?}", text(&o));
}

#[test]
fn kill_and_rearm_round_trip() {
    let s = Served::start("kill");
    let o = s.run(&["kill", "--reason", "drill"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert_eq!(text(&o).0.trim(), "ok");
    // The appliance's event arrives on the same ring; it is reported, not lost.
    std::thread::sleep(Duration::from_millis(30));
    let out = text(&s.run(&["status", "--sample-ms", "50"])).0;
    assert!(out.contains("state      killed"), "{out}");
    let out = text(&s.run(&["risk"])).0;
    assert!(out.contains("kill switch ENGAGED (drill)"), "{out}");
    assert!(text(&s.run(&["orders"])).0.contains("0 open orders"));
    let o = s.run(&["rearm"]);
    assert_eq!(text(&o).0.trim(), "ok", "{:?}", text(&o));
    std::thread::sleep(Duration::from_millis(30));
    assert!(text(&s.run(&["risk"])).0.contains("armed (not engaged)"));
    let o = s.run(&["rearm"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("rejected: kill switch is not engaged"),
        "{:?}",
        text(&o)
    );
    let o = s.run(&["ping"]);
    assert!(text(&o).0.starts_with("pong "), "{:?}", text(&o));
}

#[test]
fn command_times_out_when_nobody_serves() {
    let path = PathBuf::from(format!("/dev/shm/{}", unique("dead")));
    std::fs::File::create(&path)
        .unwrap()
        .set_len(BYTES)
        .unwrap();
    let m = Mapping::open_shm(&path).unwrap();
    let app = ApplianceEnd::format(m.region().unwrap(), &LayoutParams::default(), 1, 0).unwrap();
    let o = Proc::new(env!("CARGO_BIN_EXE_companion"))
        .args([
            "--shm",
            path.to_str().unwrap(),
            "--timeout-ms",
            "200",
            "kill",
        ])
        .output()
        .unwrap();
    let _ = app.layout();
    drop(m);
    std::fs::remove_file(&path).unwrap();
    assert!(!o.status.success());
    assert!(text(&o).1.contains("timed out"), "{:?}", text(&o));
}

#[test]
fn garbage_region_is_refused() {
    let path = PathBuf::from(format!("/dev/shm/{}", unique("garbage")));
    std::fs::write(&path, vec![0xA5u8; BYTES as usize]).unwrap();
    let o = Proc::new(env!("CARGO_BIN_EXE_companion"))
        .args(["--shm", path.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("not a valid mailbox: BadMagic"),
        "{:?}",
        text(&o)
    );
}

#[test]
fn config_apply_good_and_bad() {
    let s = Served::start("config");
    let dir = temp_dir("config");
    let cfg = example_config(&dir);
    let secrets = dir.join("secrets.toml");
    std::fs::write(&secrets, "[venues.nasdaq]\npassword = \"s3cr3t-pw\"\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = s.run(&[
        "config",
        "apply",
        cfg.to_str().unwrap(),
        "--secrets",
        secrets.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert_eq!(out.trim(), "ok");
    assert!(!out.contains("s3cr3t") && !err.contains("s3cr3t"));
    {
        let seen = s.seen.lock().unwrap();
        assert_eq!(seen.configs.len(), 1);
        assert_eq!(
            seen.configs[0].venues[0]
                .password
                .as_ref()
                .unwrap()
                .expose(),
            "s3cr3t-pw"
        );
    }
    assert!(text(&s.run(&["status", "--sample-ms", "20"]))
        .0
        .contains("generation 1"));

    // Bad: refused with the field named, nothing sent.
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        include_str!("../examples/appliance.toml")
            .replace("price_collar_bps = 500", "price_collar_bps = 0"),
    )
    .unwrap();
    let o = s.run(&["config", "apply", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(
        text(&o)
            .1
            .contains("risk.price_collar_bps: must be between 1 and 10000"),
        "{:?}",
        text(&o)
    );
    let o = s.run(&["config", "validate", bad.to_str().unwrap()]);
    assert!(
        text(&o).1.contains("risk.price_collar_bps"),
        "{:?}",
        text(&o)
    );
    let bad = dir.join("bad2.toml");
    std::fs::write(
        &bad,
        include_str!("../examples/appliance.toml").replace("port = 9878", "port = \"x\""),
    )
    .unwrap();
    let o = s.run(&["config", "validate", bad.to_str().unwrap()]);
    assert!(
        !o.status.success() && text(&o).1.contains("port"),
        "{:?}",
        text(&o)
    );
    assert_eq!(s.seen.lock().unwrap().configs.len(), 1);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn secrets_file_must_be_mode_0600_and_never_printed() {
    let dir = temp_dir("secrets");
    let cfg = example_config(&dir);
    let secrets = dir.join("secrets.toml");
    std::fs::write(&secrets, "[venues.nasdaq]\npassword = \"hunter2-pw\"\n").unwrap();
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o644)).unwrap();
    let run = || {
        Proc::new(env!("CARGO_BIN_EXE_companion"))
            .args([
                "config",
                "validate",
                cfg.to_str().unwrap(),
                "--secrets",
                secrets.to_str().unwrap(),
            ])
            .output()
            .unwrap()
    };
    let o = run();
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("has mode 0644; refusing to read it"),
        "{:?}",
        text(&o)
    );
    std::fs::set_permissions(&secrets, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run();
    assert!(o.status.success(), "{:?}", text(&o));
    // A malformed secrets file must not echo its contents in the error.
    std::fs::write(&secrets, "[venues.nasdaq]\npassword = hunter2-pw\n").unwrap();
    let o = run();
    assert!(!o.status.success());
    let (out, err) = text(&o);
    assert!(
        !out.contains("hunter2") && !err.contains("hunter2"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn metrics_endpoint_scraped_over_loopback_and_influx_file() {
    let s = Served::start("metrics");
    let mut child = Proc::new(env!("CARGO_BIN_EXE_companion"))
        .args([
            "--shm",
            s.path.to_str().unwrap(),
            "metrics",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .trim_start_matches("listening on http://")
        .trim_end_matches("/metrics")
        .to_string();
    let resp = http_get(&addr, "/metrics");
    let not_found = http_get(&addr, "/nope");
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    for want in [
        "appliance_up 1",
        "appliance_state{state=\"running\"} 1",
        "# TYPE appliance_heartbeat_total counter",
        "appliance_nic_rx_packets_total{nic=\"0\"} 1234",
        "appliance_position_qty{symbol=\"AAPL\"} 300",
        "appliance_kill_switch_engaged 0",
        "appliance_latency_nanoseconds{stage=\"tick_to_trade\",quantile=\"0.99\"}",
        "appliance_latency_nanoseconds_count{stage=\"tick_to_trade\"} 10000",
    ] {
        assert!(resp.contains(want), "missing {want} in\n{resp}");
    }
    assert!(not_found.starts_with("HTTP/1.1 404"));

    let dir = temp_dir("influx");
    let file = dir.join("metrics.lp");
    let o = s.run(&[
        "metrics",
        "--influx",
        file.to_str().unwrap(),
        "--count",
        "2",
        "--interval-ms",
        "10",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let lp = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        lp.lines()
            .filter(|l| l.starts_with("appliance,state=running "))
            .count(),
        2,
        "{lp}"
    );
    assert!(
        lp.contains("appliance_latency,stage=tick_to_trade count=10000i,p50="),
        "{lp}"
    );
    let refused = s.run(&["metrics", "--listen", "0.0.0.0:0"]);
    assert!(text(&refused).1.contains("loopback only"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn latency_positions_orders_tables_and_plot() {
    let s = Served::start("tables");
    std::thread::sleep(Duration::from_millis(30));
    let dir = temp_dir("plot");
    let svg = dir.join("lat.svg");
    let o = s.run(&["latency", "--plot", svg.to_str().unwrap()]);
    let out = text(&o).0;
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        out.contains("tick_to_trade") && out.contains("10000"),
        "{out}"
    );
    let plot = std::fs::read_to_string(&svg).unwrap();
    assert!(
        plot.starts_with("<svg") && plot.contains("p99.9") && plot.trim_end().ends_with("</svg>")
    );
    let pos = text(&s.run(&["positions"])).0;
    assert!(
        pos.contains("AAPL") && pos.contains("187.2500") && pos.contains("125.0000"),
        "{pos}"
    );
    let ord = text(&s.run(&["orders"])).0;
    assert!(
        ord.contains("4242") && ord.contains("SELL") && ord.contains("401.1000"),
        "{ord}"
    );
    let top = s.run(&["top", "--iterations", "2", "--interval-ms", "20"]);
    assert!(
        top.status.success() && text(&top).0.contains("appliance top"),
        "{:?}",
        text(&top)
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn logs_print_raw_frames() {
    let s = Served::start("logs");
    s.seen.lock().unwrap().logs = vec![b"boot ok".to_vec(), vec![0x01, 0xff]];
    std::thread::sleep(Duration::from_millis(50));
    let out = text(&s.run(&["logs"])).0;
    assert!(out.contains("62 6f 6f 74 20 6f 6b  | boot ok"), "{out}");
    assert!(out.contains("[   2 B] 01 ff\n"), "{out}");
    // Consumed: a second run sees nothing.
    assert_eq!(text(&s.run(&["logs"])).0, "");
}

#[test]
fn journal_persists_events_and_hands_them_back() {
    let s = Served::start("journal");
    let dir = temp_dir("journal");
    let reservation = |next_out| FixSeqRecord {
        venue: VenueId(1),
        next_in: 41,
        next_out,
        epoch: 4,
    };
    // A reservation, then a lower one (a sequence reset): what is confirmed
    // follows the order they were written (the companion may skip the
    // first when it reads both before confirming), the lower one last.
    s.seen.lock().unwrap().outbox = vec![
        Event::FixSeq(reservation(300)),
        Event::Fill(fill(1)),
        Event::FixSeq(reservation(57)),
        Event::Fill(fill(2)),
        Event::JournalRequest,
    ];
    std::thread::sleep(Duration::from_millis(50));
    let o = s.run(&["journal", "--dir", dir.to_str().unwrap(), "--once"]);
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        text(&o).0.contains("handed back 3 journal records"),
        "{:?}",
        text(&o)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("fixseq-1.txt")).unwrap(),
        "41 57 4\n"
    );
    let confirmed = s.seen.lock().unwrap().persisted.clone();
    assert!(
        confirmed == vec![reservation(300), reservation(57)] || confirmed == vec![reservation(57)],
        "the record on disk is confirmed last: {confirmed:?}"
    );
    let got = s.seen.lock().unwrap().journal.clone();
    assert_eq!(
        got,
        vec![
            JournalRecord::FixSeq(FixSeqRecord {
                venue: VenueId(1),
                next_in: 41,
                next_out: 57,
                epoch: 4
            }),
            JournalRecord::Fill(fill(1)),
            JournalRecord::Fill(fill(2)),
            JournalRecord::End { records: 3 },
        ]
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn second_consumer_of_a_ring_is_refused() {
    let s = Served::start("lock");
    let follow = || {
        Proc::new(env!("CARGO_BIN_EXE_companion"))
            .args(["--shm", s.path.to_str().unwrap(), "logs", "--follow"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut follower = follow();
    // Wait until the follower holds the log role. A probe below takes the
    // role for a moment too: a follower that started in that moment was
    // itself refused and has exited, and is started again.
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        if follower.try_wait().unwrap().is_some() {
            follower = follow();
        }
        let o = s.run(&["logs"]);
        if !o.status.success() {
            break text(&o).1;
        }
        assert!(
            Instant::now() < deadline,
            "the second log reader was never refused"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // The control role is separate: commands still work while logs are followed.
    let ping = s.run(&["ping"]);
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert!(
        refused.contains("another companion process holds the Logs role"),
        "{refused}"
    );
    assert!(ping.status.success(), "{:?}", text(&ping));
    // The kernel released the lock with the process.
    assert!(s.run(&["logs"]).status.success());
}

/// A `journal` holds the control role for as long as it runs; an operator's
/// commands go through its control socket, and the events met on the way
/// are journaled, not printed and lost.
#[test]
fn commands_go_through_a_running_journal() {
    let s = Served::start("ctl");
    let dir = temp_dir("ctl");
    let mut journal = Proc::new(env!("CARGO_BIN_EXE_companion"))
        .args(["--shm", s.path.to_str().unwrap(), "journal", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = PathBuf::from(format!("{}.control", s.path.display()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "the journal never served {socket:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A fill the appliance emits while the operator's command is waiting:
    // whoever reads it must journal it.
    s.seen.lock().unwrap().outbox = vec![Event::Fill(fill(7))];
    let kill = s.run(&["kill", "--reason", "drill"]);
    assert!(kill.status.success(), "{:?}", text(&kill));
    assert_eq!(text(&kill).0.trim(), "ok");
    std::thread::sleep(Duration::from_millis(30));
    let out = text(&s.run(&["risk"])).0;
    assert!(out.contains("kill switch ENGAGED (drill)"), "{out}");
    let rearm = s.run(&["rearm"]);
    assert_eq!(text(&rearm).0.trim(), "ok", "{:?}", text(&rearm));
    // The appliance's refusal comes back as it would directly.
    let again = s.run(&["rearm"]);
    assert!(!again.status.success());
    assert!(
        text(&again)
            .1
            .contains("rejected: kill switch is not engaged"),
        "{:?}",
        text(&again)
    );
    let ping = s.run(&["ping"]);
    assert!(text(&ping).0.starts_with("pong "), "{:?}", text(&ping));
    let config = example_config(&dir);
    let applied = s.run(&["config", "apply", config.to_str().unwrap()]);
    assert!(applied.status.success(), "{:?}", text(&applied));
    assert_eq!(s.seen.lock().unwrap().configs.len(), 1);
    let deadline = Instant::now() + Duration::from_secs(10);
    let fills = loop {
        let fills = std::fs::read_to_string(dir.join("fills.csv")).unwrap_or_default();
        if !fills.is_empty() || Instant::now() > deadline {
            break fills;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    journal.kill().unwrap();
    let mut stderr = String::new();
    journal
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    journal.wait().unwrap();
    assert!(fills.starts_with("7,"), "the fill was journaled: {fills:?}");
    assert!(
        stderr.contains("control: kill from the control socket"),
        "{stderr}"
    );
    // Once the journal is gone the role is free, and the stale socket does
    // not stand in the way.
    let ping = s.run(&["ping"]);
    assert!(ping.status.success(), "{:?}", text(&ping));
    std::fs::remove_dir_all(dir).unwrap();
    let _ = std::fs::remove_file(socket);
}

/// A holder of the control role that serves no socket: the command is
/// refused with a message that says so, not left waiting.
#[test]
fn a_command_is_refused_when_the_holder_serves_no_socket() {
    let s = Served::start("ctl-none");
    let holder = Mapping::open_shm(&s.path).unwrap();
    assert!(holder.try_lock(companion::mapping::Role::Control).unwrap());
    let o = s.run(&["kill"]);
    assert!(!o.status.success());
    assert!(
        text(&o).1.contains("holds the Control role")
            && text(&o).1.contains("serves no control socket"),
        "{:?}",
        text(&o)
    );
    drop(holder);
    assert!(s.run(&["ping"]).status.success());
}
