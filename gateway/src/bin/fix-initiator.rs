//! `fix-initiator`: a host FIX initiator built on the same sans-IO session
//! code the appliance runs.
//!
//! ```text
//! fix-initiator --config session.toml --orders orders.csv
//! fix-initiator --config session.toml --interactive
//! ```
//!
//! Config (TOML):
//! ```toml
//! host = "127.0.0.1"
//! port = 9878
//! backup = { host = "127.0.0.2", port = 9878 } # optional: tried when the first cannot be reached
//! sender_comp_id = "CLIENT"
//! target_comp_id = "VENUE"
//! fix_version = "4.4"            # or "4.2"
//! heartbeat_interval_s = 30
//! credentials_file = "creds.toml" # optional; must be mode 0600; username = "...", password = "..."
//! seq_file = "client.seq"         # sequence numbers persisted between runs
//! reset_on_logon = false
//! ```
//! Orders (CSV, one per line, `#` comments): `symbol,side,qty,price` with an optional `,tif`,
//! e.g. `AAPL,buy,100,191.25,day` (side buy/sell, tif day/ioc/post). Orders
//! are numbered from 1 in the order given; later lines may act on them, as
//! a venue's certification script does:
//! - `cancel,N`: OrderCancelRequest for order N;
//! - `replace,N,QTY,PRICE`: OrderCancelReplaceRequest of order N to QTY at
//!   PRICE (its side, symbol and time in force kept);
//! - `wait`: send nothing more until everything sent so far is answered (an
//!   execution report or an OrderCancelReject naming its ClOrdID), or
//!   `--wait-secs` passed.
//!
//! A cancel or replace names the order by the last ClOrdID the venue
//! accepted for it (a replace's, once the venue confirmed it) and by the
//! venue's OrderID once known. An OrderCancelReject is printed as
//! `CANCEL REJECT`.
//! The password is never printed: messages are logged with 554 masked.
//!
//! A report the venue resent after a gap (PossDupFlag) is marked `poss_dup=Y`.
//!
//! Each order's first execution report is printed with its round trip
//! (`round_trip_us`, from before the order was encoded to the report read
//! from the socket), and the run ends with their min, median, p99 and max
//! and how many orders went unanswered.

use clap::Parser;
use gateway::session::{
    DisconnectReason, Event, Password, Role, Session, SessionBuffers, SessionConfig, SessionState,
};
use protocol::fix::decode::parse_price;
use protocol::fix::messages::{
    ExecType, ExecutionReport, Logout, NewOrderSingle, OrdType, OrderCancelReject,
    OrderCancelReplaceRequest, OrderCancelRequest,
};
use protocol::fix::{msg_type, FixMessage, FixVersion, Masked, UtcTime};
use serde::Deserialize;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use types::{Price, Side, TimeInForce};

#[derive(Parser, Debug)]
#[command(
    about = "FIX 4.2/4.4 initiator: log on, send orders, print execution reports and round trips"
)]
struct Args {
    /// Session configuration (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Orders to send after logon (CSV: symbol,side,qty,price and an optional tif).
    #[arg(long, conflicts_with = "interactive")]
    orders: Option<PathBuf>,
    /// Read orders from stdin; `logout` or EOF ends the session.
    #[arg(long)]
    interactive: bool,
    /// Seconds to wait for execution reports after the last order.
    #[arg(long, default_value_t = 5)]
    wait_secs: u64,
    /// Print every message sent and received (password masked).
    #[arg(long)]
    verbose: bool,
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: String,
    port: u16,
    /// The venue's other gateway (a second site of the same session): the
    /// connection goes there when the first gateway cannot be reached.
    backup: Option<Gateway>,
    sender_comp_id: String,
    target_comp_id: String,
    fix_version: String,
    #[serde(default = "default_heartbeat")]
    heartbeat_interval_s: u32,
    credentials_file: Option<PathBuf>,
    seq_file: PathBuf,
    #[serde(default)]
    reset_on_logon: bool,
}

fn default_heartbeat() -> u32 {
    30
}

#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Gateway {
    host: String,
    port: u16,
}

/// A connection to the first gateway, else to the backup; says which on
/// stdout (a failed attempt on stderr).
fn connect(fc: &FileConfig) -> Result<TcpStream> {
    let first = (fc.host.as_str(), fc.port);
    let mut errors = Vec::new();
    let gateways =
        std::iter::once(first).chain(fc.backup.as_ref().map(|b| (b.host.as_str(), b.port)));
    for (host, port) in gateways {
        match TcpStream::connect((host, port)) {
            Ok(stream) => {
                println!("CONNECTED {host}:{port}");
                return Ok(stream);
            }
            Err(e) => {
                eprintln!("connect {host}:{port}: {e}");
                errors.push(format!("connect {host}:{port}: {e}"));
            }
        }
    }
    Err(errors.join("; "))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Credentials {
    username: String,
    password: String,
}

type Result<T> = std::result::Result<T, String>;

fn now() -> UtcTime {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    UtcTime(d.as_nanos() as u64)
}

fn load_credentials(path: &Path) -> Result<Credentials> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("credentials file {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode != 0o600 {
        return Err(format!(
            "refusing to read credentials file {}: mode is {mode:04o}, must be 0600",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("credentials file {}: {e}", path.display()))?;
    // Do not echo the parse error's snippet: it could contain the password.
    toml::from_str(&text).map_err(|_| {
        format!(
            "credentials file {}: expected username and password",
            path.display()
        )
    })
}

fn load_state(path: &Path) -> Result<SessionState> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(SessionState::default()),
        Err(e) => return Err(format!("seq file {}: {e}", path.display())),
    };
    let mut state = SessionState::default();
    for line in text.lines() {
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("seq file {}: bad line {line:?}", path.display()))?;
        let v: u64 = v
            .trim()
            .parse()
            .map_err(|_| format!("seq file {}: bad number in {line:?}", path.display()))?;
        match k.trim() {
            "next_out" => state.next_out = v,
            "next_in" => state.next_in = v,
            other => return Err(format!("seq file {}: unknown key {other}", path.display())),
        }
    }
    if state.next_out == 0 || state.next_in == 0 {
        return Err(format!(
            "seq file {}: sequence numbers start at 1",
            path.display()
        ));
    }
    Ok(state)
}

fn save_state(path: &Path, state: SessionState) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(
        &tmp,
        format!("next_out={}\nnext_in={}\n", state.next_out, state.next_in),
    )
    .and_then(|_| std::fs::rename(&tmp, path))
    .map_err(|e| format!("seq file {}: {e}", path.display()))
}

#[derive(Debug, Clone)]
struct OrderLine {
    symbol: String,
    side: Side,
    qty: u32,
    price: Price,
    tif: TimeInForce,
}

fn parse_order(line: &str) -> Result<Option<OrderLine>> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') || line.to_ascii_lowercase().starts_with("symbol,")
    {
        return Ok(None);
    }
    let f: Vec<&str> = line.split(',').map(str::trim).collect();
    if f.len() < 4 || f.len() > 5 {
        return Err(format!(
            "order {line:?}: expected symbol,side,qty,price[,tif]"
        ));
    }
    let side = match f[1].to_ascii_lowercase().as_str() {
        "buy" | "b" | "1" => Side::Buy,
        "sell" | "s" | "2" => Side::Sell,
        _ => return Err(format!("order {line:?}: side must be buy or sell")),
    };
    let qty: u32 = f[2]
        .parse()
        .map_err(|_| format!("order {line:?}: bad quantity"))?;
    if qty == 0 {
        return Err(format!("order {line:?}: quantity must be positive"));
    }
    let price = parse_price(f[3].as_bytes())
        .ok_or_else(|| format!("order {line:?}: bad price (up to 4 decimals)"))?;
    let tif = match f.get(4).map(|t| t.to_ascii_lowercase()) {
        None => TimeInForce::Day,
        Some(t) if t == "day" => TimeInForce::Day,
        Some(t) if t == "ioc" => TimeInForce::ImmediateOrCancel,
        Some(t) if t == "post" => TimeInForce::PostOnly,
        Some(_) => return Err(format!("order {line:?}: tif must be day, ioc or post")),
    };
    if f[0].is_empty() || f[0].len() > 8 {
        return Err(format!("order {line:?}: symbol must be 1-8 characters"));
    }
    Ok(Some(OrderLine {
        symbol: f[0].to_string(),
        side,
        qty,
        price,
        tif,
    }))
}

/// One line of input: an order, or an action on an earlier one.
#[derive(Debug, Clone)]
enum Line {
    Order(OrderLine),
    /// Cancel order N (numbered from 1 in the order the orders were given).
    Cancel(usize),
    /// Replace order N with a new quantity and price.
    Replace {
        order: usize,
        qty: u32,
        price: Price,
    },
    /// Send nothing more until everything sent has been answered.
    Wait,
}

fn parse_line(line: &str) -> Result<Option<Line>> {
    let f: Vec<&str> = line.trim().split(',').map(str::trim).collect();
    let number = |text: &str| text.parse::<usize>().ok().filter(|&n| n > 0);
    match (f[0].to_ascii_lowercase().as_str(), f.len()) {
        ("wait", 1) => return Ok(Some(Line::Wait)),
        ("cancel", 2) => {
            let order = number(f[1]).ok_or_else(|| {
                format!("{line:?}: expected cancel,N (N the order's number, from 1)")
            })?;
            return Ok(Some(Line::Cancel(order)));
        }
        // (An order for a stock named REPLACE has a side, not a number, next.)
        ("replace", 4) if number(f[1]).is_some() => {
            let order = number(f[1]).unwrap_or_default();
            let qty: u32 = f[2]
                .parse()
                .ok()
                .filter(|&q| q > 0)
                .ok_or_else(|| format!("{line:?}: bad quantity"))?;
            let price = parse_price(f[3].as_bytes())
                .ok_or_else(|| format!("{line:?}: bad price (up to 4 decimals)"))?;
            return Ok(Some(Line::Replace { order, qty, price }));
        }
        _ => {}
    }
    Ok(parse_order(line)?.map(Line::Order))
}

/// An order of this run, as the venue last confirmed it.
#[derive(Debug, Clone)]
struct Tracked {
    line: OrderLine,
    /// The last ClOrdID the venue accepted for it.
    cl_ord_id: String,
    /// The venue's OrderID, once a report gave it.
    order_id: Option<String>,
}

/// What the event sink observed; the main loop acts on it afterwards.
#[derive(Default)]
struct Observed {
    logged_on: bool,
    disconnect: Option<DisconnectReason>,
    /// Text(58) of the peer's Logout: its reason for ending the session.
    peer_logout_text: Option<String>,
    io_error: Option<String>,
    /// ClOrdIDs of requests answered (a report or a cancel reject).
    acked: HashSet<String>,
    /// The run's orders, numbered from 1 (index + 1).
    orders: Vec<Tracked>,
    /// Which order each ClOrdID sent (order, cancel or replace) belongs to.
    order_of: HashMap<String, usize>,
    /// Quantity and price each replace in flight asks for, by its ClOrdID.
    replacing: HashMap<String, (u32, Price)>,
    /// When each order's bytes went to the socket, until its first
    /// execution report.
    sent_at: HashMap<String, Instant>,
    /// Order sent → its first execution report, per order answered.
    round_trips: Vec<Duration>,
}

/// `sorted`'s value at quantile `q` (nearest rank below).
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q) as usize]
}

/// The round trips of the run, as a line: the figure a venue's test
/// environment is certified on, measured here at the socket.
fn round_trip_summary(round_trips: &[Duration], unanswered: usize) -> String {
    let mut sorted = round_trips.to_vec();
    sorted.sort_unstable();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let mut line = format!(
        "round trip, order sent to first execution report: {} answered",
        sorted.len()
    );
    if !sorted.is_empty() {
        line.push_str(&format!(
            ", min {:.0} µs, median {:.0} µs, p99 {:.0} µs, max {:.0} µs",
            us(sorted[0]),
            us(quantile(&sorted, 0.5)),
            us(quantile(&sorted, 0.99)),
            us(sorted[sorted.len() - 1])
        ));
    }
    if unanswered > 0 {
        line.push_str(&format!(", {unanswered} unanswered"));
    }
    line
}

fn handle_event(e: Event<'_>, stream: &mut TcpStream, seen: &mut Observed, verbose: bool) {
    match e {
        Event::Send(bytes) => {
            if verbose {
                println!("> {}", Masked(bytes));
            }
            if let Err(err) = stream.write_all(bytes) {
                seen.io_error.get_or_insert(format!("write: {err}"));
            }
        }
        Event::Deliver(msg) => {
            if verbose {
                println!("< {}", Masked(msg.as_bytes()));
            }
            print_app_message(msg, seen);
        }
        Event::PeerReject(msg) => println!("REJECT {}", Masked(msg.as_bytes())),
        Event::PeerLogout(msg) => {
            let reason = Logout::parse(msg).ok().and_then(|l| l.text).map(text);
            match &reason {
                Some(t) => println!("PEER LOGOUT text={t:?}"),
                None => println!("PEER LOGOUT"),
            }
            seen.peer_logout_text = reason;
        }
        Event::LoggedOn => {
            println!("LOGGED ON");
            seen.logged_on = true;
        }
        Event::LoggedOut => println!("LOGGED OUT"),
        Event::Disconnect(reason) => {
            println!("DISCONNECT {reason:?}");
            seen.disconnect = Some(reason);
        }
        Event::Dropped(err) => eprintln!("dropped inbound data: {err}"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn print_app_message(msg: &FixMessage<'_>, seen: &mut Observed) {
    if msg.msg_type() == msg_type::ORDER_CANCEL_REJECT {
        match OrderCancelReject::parse(msg) {
            Ok(r) => {
                let cl = text(r.cl_ord_id);
                let mut line = format!(
                    "CANCEL REJECT cl_ord_id={cl} orig_cl_ord_id={} order_id={} response_to={:?} ord_status={:?}",
                    text(r.orig_cl_ord_id),
                    text(r.order_id),
                    r.response_to,
                    r.ord_status
                );
                if let Some(reason) = r.reason {
                    line.push_str(&format!(" reason={reason}"));
                }
                if let Some(t) = r.text {
                    line.push_str(&format!(" text={:?}", text(t)));
                }
                println!("{line}");
                seen.replacing.remove(&cl);
                seen.acked.insert(cl);
            }
            Err(e) => println!("CANCEL REJECT (unparsed: {e}) {}", Masked(msg.as_bytes())),
        }
        return;
    }
    if msg.msg_type() != msg_type::EXECUTION_REPORT {
        println!("APP {}", Masked(msg.as_bytes()));
        return;
    }
    match ExecutionReport::parse(msg) {
        Ok(er) => {
            let cl = er.cl_ord_id.map(text).unwrap_or_default();
            let mut line = format!(
                "EXEC cl_ord_id={cl} order_id={} exec_id={} exec_type={:?} ord_status={:?} symbol={} side={:?} leaves={} cum={} avg_px={}",
                text(er.order_id),
                text(er.exec_id),
                er.exec_type,
                er.ord_status,
                text(er.symbol),
                er.side,
                er.leaves_qty,
                er.cum_qty,
                er.avg_px
            );
            if let (Some(q), Some(p)) = (er.last_qty, er.last_px) {
                line.push_str(&format!(" last_qty={q} last_px={p}"));
            }
            if let Some(t) = er.text {
                line.push_str(&format!(" text={:?}", text(t)));
            }
            // A report the venue resent (after a gap): possibly seen before.
            if msg.poss_dup() {
                line.push_str(" poss_dup=Y");
            }
            if let Some(sent) = seen.sent_at.remove(&cl) {
                let rtt = sent.elapsed();
                line.push_str(&format!(" round_trip_us={:.0}", rtt.as_secs_f64() * 1e6));
                seen.round_trips.push(rtt);
            }
            println!("{line}");
            if let Some(&n) = seen.order_of.get(&cl) {
                let replaced = seen.replacing.remove(&cl);
                if let Some(order) = seen.orders.get_mut(n) {
                    order.order_id = Some(text(er.order_id));
                    if er.exec_type == ExecType::Replaced {
                        order.cl_ord_id = cl.clone();
                        if let Some((qty, price)) = replaced {
                            (order.line.qty, order.line.price) = (qty, price);
                        }
                    }
                }
            }
            seen.acked.insert(cl);
        }
        Err(e) => println!("EXEC (unparsed: {e}) {}", Masked(msg.as_bytes())),
    }
}

fn build_config(fc: &FileConfig) -> Result<SessionConfig> {
    let version = FixVersion::from_name(&fc.fix_version)
        .ok_or_else(|| format!("fix_version {:?}: expected 4.2 or 4.4", fc.fix_version))?;
    let mut cfg = SessionConfig::new(
        Role::Initiator,
        version,
        &fc.sender_comp_id,
        &fc.target_comp_id,
    )
    .ok_or("CompIDs must be at most 32 characters")?;
    cfg.heart_bt_int_s = fc.heartbeat_interval_s;
    cfg.reset_on_logon = fc.reset_on_logon;
    if let Some(path) = &fc.credentials_file {
        let creds = load_credentials(path)?;
        cfg.username = Some(
            creds
                .username
                .as_str()
                .try_into()
                .map_err(|_| "username longer than 64 bytes")?,
        );
        cfg.password = Some(Password::new(&creds.password).ok_or("password longer than 64 bytes")?);
    }
    Ok(cfg)
}

fn run(args: Args) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("config {}: {e}", args.config.display()))?;
    let fc: FileConfig =
        toml::from_str(&text).map_err(|e| format!("config {}: {e}", args.config.display()))?;
    let cfg = build_config(&fc)?;
    let state = load_state(&fc.seq_file)?;

    let mut pending: VecDeque<Line> = VecDeque::new();
    if let Some(path) = &args.orders {
        let csv =
            std::fs::read_to_string(path).map_err(|e| format!("orders {}: {e}", path.display()))?;
        for line in csv.lines() {
            if let Some(l) = parse_line(line)? {
                pending.push_back(l);
            }
        }
    }
    let stdin_lines = if args.interactive {
        let (tx, rx) = mpsc::channel::<Option<String>>();
        std::thread::spawn(move || {
            let stdin = std::io::stdin();
            for line in stdin.lock().lines() {
                match line {
                    Ok(l) => {
                        if tx.send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => break,
                }
            }
            let _ = tx.send(None);
        });
        println!("enter orders as symbol,side,qty,price[,tif]; 'logout' to finish");
        Some(rx)
    } else {
        None
    };

    let mut stream = connect(&fc)?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .map_err(|e| e.to_string())?;

    // Start-up allocation of the session's fixed buffers.
    let buffers = SessionBuffers {
        rx: vec![0u8; 64 * 1024].leak(),
        tx: vec![0u8; 16 * 1024].leak(),
        store: vec![0u8; 4 * 1024 * 1024].leak(),
        queue: vec![0u8; 256 * 1024].leak(),
        decoder: Box::leak(Box::default()),
    };
    let mut session = Session::new(cfg, state, buffers).map_err(|e| format!("session: {e:?}"))?;
    let mut seen = Observed::default();
    let verbose = args.verbose;
    session.connect(now(), |e| handle_event(e, &mut stream, &mut seen, verbose));

    let mut sent_ids: Vec<String> = Vec::new();
    let mut order_counter: u64 = 0;
    // ClOrdIDs must not repeat across runs (a venue refuses a repeated
    // one): each run's are tagged with its start in microseconds (seconds
    // repeated when two runs started within one).
    let run_tag = now().0 / 1_000;
    let mut last_order_at: Option<Instant> = None;
    let mut logout_requested = false;
    let mut input_done = !args.interactive;
    let mut buf = vec![0u8; 16 * 1024];

    loop {
        match stream.read(&mut buf) {
            Ok(0) => {
                println!("connection closed by peer");
                break;
            }
            Ok(n) => session.on_bytes(now(), &buf[..n], |e| {
                handle_event(e, &mut stream, &mut seen, verbose)
            }),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => {
                seen.io_error.get_or_insert(format!("read: {e}"));
            }
        }
        session.on_tick(now(), |e| handle_event(e, &mut stream, &mut seen, verbose));
        save_state(&fc.seq_file, session.state())?;
        if let Some(err) = seen.io_error.take() {
            session.disconnected();
            return Err(err);
        }
        if seen.disconnect.is_some() {
            break;
        }
        if !session.is_logged_on() || logout_requested {
            continue;
        }
        if let Some(rx) = &stdin_lines {
            while let Ok(msg) = rx.try_recv() {
                match msg {
                    None => input_done = true,
                    Some(l)
                        if l.trim().eq_ignore_ascii_case("logout")
                            || l.trim().eq_ignore_ascii_case("quit") =>
                    {
                        input_done = true
                    }
                    Some(l) => match parse_line(&l) {
                        Ok(Some(line)) => pending.push_back(line),
                        Ok(None) => {}
                        Err(e) => eprintln!("{e}"),
                    },
                }
            }
        }
        while let Some(next) = pending.pop_front() {
            let t = now();
            match next {
                Line::Wait => {
                    let all_answered = sent_ids.iter().all(|id| seen.acked.contains(id));
                    let waited_out = last_order_at
                        .is_some_and(|t| t.elapsed() >= Duration::from_secs(args.wait_secs));
                    if !all_answered && !waited_out {
                        pending.push_front(Line::Wait);
                        break;
                    }
                    if !all_answered {
                        eprintln!(
                            "wait: no answer to some requests after {} s; going on",
                            args.wait_secs
                        );
                    }
                    continue;
                }
                Line::Order(o) => {
                    order_counter += 1;
                    let cl_ord_id = format!("{run_tag}-{order_counter}");
                    let sent = Instant::now();
                    let nos = NewOrderSingle {
                        cl_ord_id: cl_ord_id.as_bytes(),
                        account: None,
                        symbol: o.symbol.as_bytes(),
                        side: o.side,
                        order_qty: o.qty,
                        ord_type: OrdType::Limit,
                        price: Some(o.price),
                        time_in_force: o.tif,
                        transact_time: t,
                    };
                    let seq = session
                        .send(t, &nos, |e| {
                            handle_event(e, &mut stream, &mut seen, verbose)
                        })
                        .map_err(|e| format!("send order: {e:?}"))?;
                    // Timed from before the encode: the bytes went to the
                    // socket inside `send`.
                    seen.sent_at.insert(cl_ord_id.clone(), sent);
                    println!(
                        "SENT NewOrderSingle seq={seq} cl_ord_id={cl_ord_id} {} {:?} {} @ {}",
                        o.symbol, o.side, o.qty, o.price
                    );
                    seen.order_of.insert(cl_ord_id.clone(), seen.orders.len());
                    seen.orders.push(Tracked {
                        line: o,
                        cl_ord_id: cl_ord_id.clone(),
                        order_id: None,
                    });
                    sent_ids.push(cl_ord_id);
                }
                Line::Cancel(n) | Line::Replace { order: n, .. } => {
                    let Some(order) = seen.orders.get(n - 1).cloned() else {
                        eprintln!("skipped: there is no order {n} to cancel or replace");
                        continue;
                    };
                    order_counter += 1;
                    let cl_ord_id = format!("{run_tag}-{order_counter}");
                    let (orig, order_id) = (order.cl_ord_id.as_bytes(), order.order_id.as_deref());
                    let o = &order.line;
                    let (seq, what) = match next {
                        Line::Replace { qty, price, .. } => {
                            let request = OrderCancelReplaceRequest {
                                orig_cl_ord_id: orig,
                                cl_ord_id: cl_ord_id.as_bytes(),
                                order_id: order_id.map(str::as_bytes),
                                symbol: o.symbol.as_bytes(),
                                side: o.side,
                                order_qty: qty,
                                ord_type: OrdType::Limit,
                                price: Some(price),
                                time_in_force: o.tif,
                                transact_time: t,
                            };
                            seen.replacing.insert(cl_ord_id.clone(), (qty, price));
                            let seq = session
                                .send(t, &request, |e| {
                                    handle_event(e, &mut stream, &mut seen, verbose)
                                })
                                .map_err(|e| format!("send replace: {e:?}"))?;
                            (seq, format!("OrderCancelReplaceRequest {qty} @ {price}"))
                        }
                        _ => {
                            let request = OrderCancelRequest {
                                orig_cl_ord_id: orig,
                                cl_ord_id: cl_ord_id.as_bytes(),
                                order_id: order_id.map(str::as_bytes),
                                symbol: o.symbol.as_bytes(),
                                side: o.side,
                                order_qty: o.qty,
                                transact_time: t,
                            };
                            let seq = session
                                .send(t, &request, |e| {
                                    handle_event(e, &mut stream, &mut seen, verbose)
                                })
                                .map_err(|e| format!("send cancel: {e:?}"))?;
                            (seq, "OrderCancelRequest".to_string())
                        }
                    };
                    println!(
                        "SENT {what} seq={seq} cl_ord_id={cl_ord_id} orig_cl_ord_id={} (order {n})",
                        order.cl_ord_id
                    );
                    seen.order_of.insert(cl_ord_id.clone(), n - 1);
                    sent_ids.push(cl_ord_id);
                }
            }
            last_order_at = Some(Instant::now());
        }
        save_state(&fc.seq_file, session.state())?;
        let all_acked = sent_ids.iter().all(|id| seen.acked.contains(id));
        let waited_out =
            last_order_at.is_some_and(|t| t.elapsed() >= Duration::from_secs(args.wait_secs));
        if input_done && pending.is_empty() && (all_acked || waited_out) {
            if !all_acked {
                eprintln!("no answer to some requests after {} s", args.wait_secs);
            }
            session.logout(now(), Some(b"done"), |e| {
                handle_event(e, &mut stream, &mut seen, verbose)
            });
            logout_requested = true;
        }
    }
    session.disconnected();
    save_state(&fc.seq_file, session.state())?;
    if !sent_ids.is_empty() {
        println!(
            "{}",
            round_trip_summary(&seen.round_trips, seen.sent_at.len())
        );
    }
    let s = session.state();
    println!(
        "sequence numbers saved: next_out={} next_in={}",
        s.next_out, s.next_in
    );
    match seen.disconnect {
        Some(DisconnectReason::LogoutCompleted) | Some(DisconnectReason::LogoutReceived) => Ok(()),
        Some(other) => Err(match seen.peer_logout_text {
            Some(t) => format!("session ended: {other:?}: the peer said {t:?}"),
            None => format!("session ended: {other:?}"),
        }),
        None => Err("connection closed without logout".into()),
    }
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("fix-initiator: {e}");
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_lines_are_orders_or_actions_on_them() {
        let parse = |l: &str| parse_line(l).map(|o| o.map(|line| format!("{line:?}")));
        assert!(matches!(parse_line("wait"), Ok(Some(Line::Wait))));
        assert!(matches!(
            parse_line(" Cancel , 2 "),
            Ok(Some(Line::Cancel(2)))
        ));
        match parse_line("replace,1,150,400.5") {
            Ok(Some(Line::Replace { order, qty, price })) => {
                assert_eq!((order, qty, price), (1, 150, Price(4_005_000)))
            }
            other => panic!("{other:?}"),
        }
        // Stocks named like the words are still orders.
        for order in ["REPLACE,buy,100,1", "CANCEL,sell,5,2.5,ioc", "WAIT,buy,1,1"] {
            assert!(
                matches!(parse_line(order), Ok(Some(Line::Order(_)))),
                "{order}: {:?}",
                parse(order)
            );
        }
        for bad in [
            "cancel,0",
            "cancel,x",
            "replace,1,0,10",
            "replace,1,10,1.23456",
        ] {
            assert!(parse_line(bad).is_err(), "{bad}: {:?}", parse(bad));
        }
        assert!(matches!(parse_line("# a comment"), Ok(None)));
    }

    #[test]
    fn the_round_trip_summary_gives_the_spread_and_what_went_unanswered() {
        let us = Duration::from_micros;
        let trips: Vec<Duration> = (1..=100).rev().map(us).collect();
        assert_eq!(
            round_trip_summary(&trips, 0),
            "round trip, order sent to first execution report: 100 answered, \
             min 1 µs, median 50 µs, p99 99 µs, max 100 µs"
        );
        assert_eq!(
            round_trip_summary(&[us(7)], 2),
            "round trip, order sent to first execution report: 1 answered, \
             min 7 µs, median 7 µs, p99 7 µs, max 7 µs, 2 unanswered"
        );
        assert_eq!(
            round_trip_summary(&[], 3),
            "round trip, order sent to first execution report: 0 answered, 3 unanswered"
        );
    }
}
