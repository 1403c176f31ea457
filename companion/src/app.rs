//! The subcommands.

use crate::control::{self, ControlServer, Forwarded};
use crate::journal::Journal;
use crate::logs::{FrameDecoder, RawFrames};
use crate::mapping::{Mapping, Role};
use crate::render::{self, View};
use protocol::mailbox::{
    ApplianceState, Command, CommandError, CompanionEnd, Event, FixSeqRecord, JournalRecord,
    Message, Reply, RingError, SendError, SnapshotError,
};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the region is.
#[derive(Debug, Clone)]
pub enum Target {
    Shm(PathBuf),
    Phys { addr: u64, len: usize },
}

/// An attached companion: the mapping and the protocol end over it.
pub struct Session {
    pub mapping: Mapping,
    pub end: CompanionEnd,
    pub journal: Option<Journal>,
    pub timeout: Duration,
    /// FIX sequence records written to the journal and not yet confirmed
    /// to the appliance (which sends no number beyond what is on disk).
    unconfirmed: Vec<FixSeqRecord>,
    /// The appliance asked for the journal (met while waiting for a reply,
    /// too): the `journal` loop hands it back next.
    journal_requested: bool,
    /// Writing the journal failed while serving another process's command:
    /// the `journal` loop stops on it as on its own failures.
    journal_failed: Option<String>,
}

fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

impl Session {
    pub fn attach(
        target: &Target,
        timeout: Duration,
        journal: Option<Journal>,
    ) -> Result<Session, String> {
        let mapping = match target {
            Target::Shm(p) => Mapping::open_shm(p),
            Target::Phys { addr, len } => Mapping::open_phys(*addr, *len),
        }
        .map_err(|e| format!("cannot map the region: {e}"))?;
        let region = mapping
            .region()
            .map_err(|e| format!("{}: unusable region: {e:?}", mapping.source))?;
        let end = CompanionEnd::attach(region, now_ns() as u64)
            .map_err(|e| format!("{}: not a valid mailbox: {e:?}", mapping.source))?;
        Ok(Session {
            mapping,
            end,
            journal,
            timeout,
            unconfirmed: Vec::new(),
            journal_requested: false,
            journal_failed: None,
        })
    }

    /// Re-reads the header after the appliance re-formatted the region.
    fn reattach(&mut self) -> Result<(), String> {
        let region = self.mapping.region().map_err(|e| format!("{e:?}"))?;
        self.end = CompanionEnd::attach(region, now_ns() as u64)
            .map_err(|e| format!("re-attach: {e:?}"))?;
        Ok(())
    }

    fn lock(&self, role: Role) -> Result<(), String> {
        match self.mapping.try_lock(role) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "another companion process holds the {role:?} role on {}",
                self.mapping.source
            )),
            Err(e) => Err(format!("locking {}: {e}", self.mapping.source)),
        }
    }

    /// Reads every snapshot once.
    pub fn view(&self) -> View {
        let e = &self.end;
        let mut v = View {
            live: Some(e.liveness()),
            ..View::default()
        };
        let note = |what: &str, err: SnapshotError, errors: &mut Vec<String>| {
            if err != SnapshotError::Empty {
                errors.push(format!("{what}: {err:?}"));
            }
        };
        match patiently(|| e.read_status()) {
            Ok(s) => v.status = Some(s),
            Err(err) => note("status", err, &mut v.errors),
        }
        let mut words = vec![0u64; e.scratch_words()];
        v.positions = records(
            "positions",
            &mut words,
            |w| e.read_positions(w).map(|r| r.iter().collect()),
            &mut v.errors,
        );
        v.orders = records(
            "orders",
            &mut words,
            |w| e.read_orders(w).map(|r| r.iter().collect()),
            &mut v.errors,
        );
        v.counters = records(
            "counters",
            &mut words,
            |w| e.read_counters(w).map(|r| r.iter().collect()),
            &mut v.errors,
        );
        v.latency = records(
            "latency",
            &mut words,
            |w| e.read_latency(w).map(|r| r.iter().collect()),
            &mut v.errors,
        );
        match patiently(|| {
            e.read_risk(&mut words)
                .map(|(k, r)| (k, r.iter().collect::<Vec<_>>()))
        }) {
            Ok((k, limits)) => {
                v.kill = Some(k);
                v.limits = keep_valid("risk limits", limits.into_iter(), &mut v.errors);
            }
            Err(err) => note("risk", err, &mut v.errors),
        }
        v
    }

    fn handle_event(&mut self, ev: &Event) -> Result<(), String> {
        if let Some(j) = &self.journal {
            let persisted = j.persist(ev).map_err(|e| {
                let e = format!("journal {}: {e}", j.dir.display());
                self.journal_failed = Some(e.clone());
                e
            })?;
            if persisted {
                if let Event::FixSeq(r) = ev {
                    self.unconfirmed.push(*r);
                }
                return Ok(());
            }
            if let Event::JournalRequest = ev {
                self.journal_requested = true;
                return Ok(());
            }
        }
        eprintln!("event: {}", describe_event(ev));
        Ok(())
    }

    /// Sends a command and waits for its reply; events met on the way are
    /// persisted (with a journal) or reported on stderr, and sequence
    /// records persisted are then confirmed to the appliance.
    pub fn call(&mut self, command: Command<'_>) -> Result<OwnedReply, String> {
        let reply = self.call_once(command)?;
        self.confirm_persisted()?;
        Ok(reply)
    }

    /// Tells the appliance which sequence records the journal now holds on
    /// disk: per venue the newest written (the file holds only that one;
    /// after a sequence reset it is the lower number, so it is the last,
    /// not the largest).
    pub fn confirm_persisted(&mut self) -> Result<(), String> {
        while !self.unconfirmed.is_empty() {
            let mut newest: Vec<FixSeqRecord> = Vec::new();
            for record in std::mem::take(&mut self.unconfirmed) {
                match newest.iter_mut().find(|r| r.venue == record.venue) {
                    Some(r) => *r = record,
                    None => newest.push(record),
                }
            }
            for record in newest {
                match self.call_once(Command::Persisted(record))? {
                    OwnedReply::Ok => {}
                    other => {
                        return Err(format!(
                            "appliance refused the confirmation of {record:?}: {other}"
                        ))
                    }
                }
            }
        }
        Ok(())
    }

    fn call_once(&mut self, command: Command<'_>) -> Result<OwnedReply, String> {
        let deadline = Instant::now() + self.timeout;
        let mut scratch = vec![0u8; self.end.layout().commands.max_payload()];
        let id = loop {
            match self.end.send(command, &mut scratch) {
                Ok(id) => break id,
                Err(SendError::Ring(RingError::Full)) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(SendError::Ring(RingError::Full)) => {
                    return Err(
                        "timed out: the command ring stays full (is the appliance serving it?)"
                            .into(),
                    )
                }
                Err(SendError::Ring(RingError::TooLarge)) | Err(SendError::Frame(_)) => {
                    return Err("command too large for a command slot".into())
                }
                Err(e) => return Err(format!("command ring unusable: {e:?}")),
            }
        };
        let mut buf = vec![0u8; self.end.layout().replies.max_payload()];
        loop {
            match self.end.poll_message(&mut buf) {
                Ok(Some(Message::Reply { id: rid, reply })) if rid == id => {
                    return Ok(OwnedReply::from(reply))
                }
                Ok(Some(Message::Reply { .. })) => {} // a late reply to an earlier process
                Ok(Some(Message::Event(ev))) => self.handle_event(&ev)?,
                Ok(None) => {
                    if Instant::now() >= deadline {
                        let state = render::state_name(self.end.liveness().state);
                        return Err(format!(
                            "timed out after {} ms waiting for the reply to request {id} (appliance state: {state})",
                            self.timeout.as_millis()
                        ));
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(CommandError::Ring(RingError::CorruptIndex)) => {
                    // A re-formatted region (the appliance rebooted) looks
                    // corrupt to a stale reader: attach afresh and read the
                    // new boot's frames from their start.
                    if self.end.rebooted() {
                        self.reattach()?;
                    } else {
                        self.end.skip_messages();
                        eprintln!("warning: reply ring index was corrupt; skipped to its head");
                    }
                }
                Err(e) => eprintln!("warning: unreadable reply frame dropped: {e:?}"),
            }
        }
    }
}

/// How long a snapshot read waits out a writer in the middle of writing:
/// an emulated or descheduled appliance core can hold its seqlock for
/// milliseconds, longer than the reader's own spinning.
const BUSY_WAIT: Duration = Duration::from_millis(250);

/// The records of one snapshot that decoded (see [`keep_valid`]); what went
/// wrong otherwise is noted in `errors` (nothing for a snapshot not yet
/// published).
fn records<R>(
    what: &str,
    scratch: &mut [u64],
    read: impl Fn(&mut [u64]) -> Result<Vec<Result<R, SnapshotError>>, SnapshotError>,
    errors: &mut Vec<String>,
) -> Vec<R> {
    match patiently(|| read(scratch)) {
        Ok(all) => keep_valid(what, all.into_iter(), errors),
        Err(SnapshotError::Empty) => Vec::new(),
        Err(err) => {
            errors.push(format!("{what}: {err:?}"));
            Vec::new()
        }
    }
}

/// `read`, again every millisecond while the snapshot is being written.
fn patiently<T>(mut read: impl FnMut() -> Result<T, SnapshotError>) -> Result<T, SnapshotError> {
    let deadline = Instant::now() + BUSY_WAIT;
    loop {
        match read() {
            Err(SnapshotError::Busy) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(1))
            }
            other => return other,
        }
    }
}

/// Keeps the records that decoded; counts the rest as a warning, so damage
/// in the region is visible instead of silently shrinking a table.
fn keep_valid<R>(
    what: &str,
    records: impl Iterator<Item = Result<R, SnapshotError>>,
    errors: &mut Vec<String>,
) -> Vec<R> {
    let mut bad = 0usize;
    let good = records
        .filter_map(|r| r.map_err(|_| bad += 1).ok())
        .collect();
    if bad > 0 {
        errors.push(format!("{what}: {bad} malformed records skipped"));
    }
    good
}

/// A reply detached from the ring buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedReply {
    Ok,
    Rejected {
        field: String,
        reason: String,
    },
    Pong {
        nonce: u64,
    },
    Status {
        state: ApplianceState,
        uptime_ns: u64,
        config_generation: u64,
        kill_engaged: bool,
    },
    Malformed,
}

impl From<Reply<'_>> for OwnedReply {
    fn from(r: Reply<'_>) -> Self {
        match r {
            Reply::Ok => OwnedReply::Ok,
            Reply::Rejected { field, reason } => OwnedReply::Rejected {
                field: field.into(),
                reason: reason.into(),
            },
            Reply::Pong { nonce } => OwnedReply::Pong { nonce },
            Reply::Status {
                state,
                uptime_ns,
                config_generation,
                kill_engaged,
            } => OwnedReply::Status {
                state,
                uptime_ns,
                config_generation,
                kill_engaged,
            },
            Reply::Malformed => OwnedReply::Malformed,
        }
    }
}

impl std::fmt::Display for OwnedReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OwnedReply::Ok => write!(f, "ok"),
            OwnedReply::Rejected { field, reason } if field.is_empty() => {
                write!(f, "rejected: {reason}")
            }
            OwnedReply::Rejected { field, reason } => write!(f, "rejected: {field}: {reason}"),
            OwnedReply::Pong { nonce } => write!(f, "pong {nonce}"),
            OwnedReply::Status {
                state,
                uptime_ns,
                config_generation,
                kill_engaged,
            } => write!(
                f,
                "state {} uptime {} config generation {config_generation} kill switch {}",
                state.name(),
                render::duration(*uptime_ns),
                if *kill_engaged { "engaged" } else { "armed" }
            ),
            OwnedReply::Malformed => write!(f, "the appliance could not decode the command"),
        }
    }
}

fn describe_event(ev: &Event) -> String {
    match ev {
        Event::StateChanged { from, to } => format!("state {} -> {}", from.name(), to.name()),
        Event::FixSeq(r) => format!(
            "fix seq venue {} in {} out {}",
            r.venue.0, r.next_in, r.next_out
        ),
        Event::Fill(f) => format!(
            "fill #{} order {} {} {} {} @ {} venue {} {}",
            f.exec_seq,
            f.order.0,
            match f.side {
                types::Side::Buy => "BUY",
                types::Side::Sell => "SELL",
            },
            f.qty,
            f.symbol,
            f.price,
            f.venue.0,
            match f.strategy {
                Some(s) => format!("strategy {}", s.0),
                // A fill recovered from a venue's resend names no strategy.
                None => "recovered".to_string(),
            }
        ),
        Event::JournalRequest => "journal requested".into(),
        Event::ConfigApplied { generation } => format!("config generation {generation} applied"),
    }
}

/// `status`: header, status snapshot, heartbeat observed over `sample`.
pub fn status(s: &Session, sample: Duration) -> Result<String, String> {
    let first = s.end.liveness();
    let start = Instant::now();
    let mut note = format!("NOT advancing for {} ms (stalled?)", sample.as_millis());
    while start.elapsed() < sample {
        let now = s.end.liveness();
        if now.heartbeat != first.heartbeat {
            note = format!(
                "advancing (age <= {} ms)",
                start.elapsed().as_millis().max(1)
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    // Right after boot the first status may not be published yet.
    let mut view = s.view();
    let until = Instant::now() + sample;
    while view.status.is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
        view = s.view();
    }
    let mut out = render::status_text(&view, &note);
    if matches!(
        first.state,
        Some(ApplianceState::Panicked) | Some(ApplianceState::Faulted)
    ) {
        match s.end.read_panic() {
            Ok(p) => out.push_str(&format!(
                "{} on core {} at {}:\n  {}\n",
                p.kind.name(),
                p.core,
                render::duration(p.at_ns),
                render::printable(p.text())
            )),
            Err(e) => out.push_str(&format!("panic report unreadable: {e:?}\n")),
        }
    }
    Ok(out)
}

/// `kill`, `rearm`, `ping`, `config apply`: one command, one printed reply.
///
/// While another process (a running `journal`) holds the control role, the
/// command goes through that process's control socket instead: the kill
/// switch must not wait for the journal to be stopped.
pub fn command(s: &mut Session, command: Command<'_>) -> Result<OwnedReply, String> {
    match s.mapping.try_lock(Role::Control) {
        Ok(true) => {}
        Ok(false) => return forward_to_holder(s, &command),
        Err(e) => return Err(format!("locking {}: {e}", s.mapping.source)),
    }
    let reply = s.call(command)?;
    // The appliance's request for its journal, met on the way to this
    // reply, is served before the process ends: it asks only once.
    if std::mem::take(&mut s.journal_requested) {
        match s.journal.clone() {
            Some(j) => handback(s, &j)?,
            None => eprintln!(
                "warning: the appliance asked for its journal; run `companion journal --dir DIR --handback-now` (or give --journal-dir)"
            ),
        }
    }
    Ok(reply)
}

/// `command` through the control socket of the process holding the role.
fn forward_to_holder(s: &Session, command: &Command<'_>) -> Result<OwnedReply, String> {
    let Some(request) = Forwarded::from_command(command) else {
        return Err(format!(
            "another companion process holds the Control role on {}",
            s.mapping.source
        ));
    };
    control::forward(&s.mapping.control_path, &request, s.timeout).map_err(|e| {
        if s.mapping.control_path.exists() {
            e
        } else {
            format!(
                "another companion process holds the Control role on {} and serves no control socket ({e})",
                s.mapping.source
            )
        }
    })
}

/// `logs [-f]`.
pub fn logs(
    s: &mut Session,
    follow: bool,
    decoder: &mut dyn FrameDecoder,
    out: &mut dyn Write,
) -> Result<(), String> {
    s.lock(Role::Logs)?;
    let mut buf = vec![0u8; s.end.layout().logs.max_payload()];
    loop {
        match s.end.poll_log(&mut buf) {
            Ok(Some(frame)) => {
                writeln!(out, "{}", decoder.decode(frame)).map_err(|e| e.to_string())?
            }
            Ok(None) if !follow => return Ok(()),
            Ok(None) => {
                out.flush().map_err(|e| e.to_string())?;
                if s.end.rebooted() {
                    std::thread::sleep(Duration::from_millis(50));
                    if s.reattach().is_ok() {
                        writeln!(
                            out,
                            "--- appliance rebooted (boot id {:#x}) ---",
                            s.end.boot_id()
                        )
                        .map_err(|e| e.to_string())?;
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(RingError::CorruptIndex) => {
                eprintln!("warning: log ring index corrupt; skipping to its head");
                s.end.skip_logs();
            }
            Err(e) => eprintln!("warning: log frame dropped: {e:?}"),
        }
    }
}

/// The decoder for `logs`: defmt with the image's table when `elf` is
/// given, raw frames otherwise.
pub fn decoder(elf: Option<&Path>) -> Result<Box<dyn FrameDecoder>, String> {
    match elf {
        Some(path) => Ok(Box::new(crate::logs::DefmtFrames::from_elf(path)?)),
        None => Ok(Box::new(RawFrames)),
    }
}

/// The raw-frame decoder.
pub fn default_decoder() -> Box<dyn FrameDecoder> {
    Box::new(RawFrames)
}

/// `latency [--plot FILE.svg]`.
pub fn latency(s: &Session, plot: Option<&Path>) -> Result<String, String> {
    let v = s.view();
    if let Some(path) = plot {
        match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => std::fs::write(path, render::latency_svg(&v.latency))
                .map_err(|e| format!("{}: {e}", path.display()))?,
            _ => {
                return Err(format!(
                    "{}: only .svg plots are supported (no raster plotting backend is built in)",
                    path.display()
                ))
            }
        }
    }
    if v.latency.is_empty() {
        return Err(v
            .errors
            .first()
            .cloned()
            .unwrap_or_else(|| "no latency snapshot published yet".into()));
    }
    Ok(render::latency_table(&v.latency))
}

fn loopback_only(addr: &SocketAddr) -> Result<(), String> {
    if addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!("{addr}: metrics are served on loopback only"))
    }
}

/// Where influx lines go.
pub enum InfluxSink {
    File(PathBuf),
    Udp(UdpSocket, SocketAddr),
}

impl InfluxSink {
    pub fn parse(spec: &str) -> Result<InfluxSink, String> {
        if let Some(addr) = spec.strip_prefix("udp://") {
            let addr: SocketAddr = addr.parse().map_err(|e| format!("{spec}: {e}"))?;
            loopback_only(&addr)?;
            let sock = UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            Ok(InfluxSink::Udp(sock, addr))
        } else {
            Ok(InfluxSink::File(PathBuf::from(spec)))
        }
    }

    fn write(&self, lines: &str) -> Result<(), String> {
        match self {
            InfluxSink::File(p) => {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("{}: {e}", p.display()))?;
                f.write_all(lines.as_bytes()).map_err(|e| e.to_string())
            }
            InfluxSink::Udp(sock, addr) => {
                // One datagram per line keeps each under any MTU.
                for line in lines.lines() {
                    sock.send_to(line.as_bytes(), addr)
                        .map_err(|e| e.to_string())?;
                }
                Ok(())
            }
        }
    }
}

/// `metrics`: Prometheus over HTTP and/or InfluxDB line protocol.
pub fn metrics(
    s: &Session,
    listen: Option<SocketAddr>,
    influx: Option<InfluxSink>,
    interval: Duration,
    count: Option<u64>,
) -> Result<(), String> {
    if listen.is_none() && influx.is_none() {
        return Err(
            "give --listen 127.0.0.1:PORT and/or --influx FILE|udp://127.0.0.1:PORT".into(),
        );
    }
    let listener = match listen {
        Some(addr) => {
            loopback_only(&addr)?;
            let l = TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
            println!(
                "listening on http://{}/metrics",
                l.local_addr().map_err(|e| e.to_string())?
            );
            std::io::stdout().flush().map_err(|e| e.to_string())?;
            l.set_nonblocking(true).map_err(|e| e.to_string())?;
            Some(l)
        }
        None => None,
    };
    let mut written = 0u64;
    let mut next_influx = Instant::now();
    loop {
        if let Some(sink) = &influx {
            if Instant::now() >= next_influx {
                sink.write(&render::influx_lines(&s.view(), now_ns()))?;
                written += 1;
                next_influx += interval;
                if count.is_some_and(|c| written >= c) && listener.is_none() {
                    return Ok(());
                }
            }
        }
        if let Some(l) = &listener {
            match l.accept() {
                Ok((stream, _)) => serve_http(s, stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        } else {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn serve_http(s: &Session, mut stream: std::net::TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&req);
    let mut parts = head.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, body) = if method == "GET" && (path == "/metrics" || path == "/") {
        ("200 OK", render::prometheus(&s.view()))
    } else {
        ("404 Not Found", "not found; try /metrics\n".to_string())
    };
    let _ = write!(stream, "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
}

/// `top`: live dashboard, refreshed from snapshots; `q` quits.
pub fn top(s: &Session, interval: Duration, iterations: Option<u64>) -> Result<(), String> {
    let _raw = crate::sys::RawTerminal::enter();
    let mut out = std::io::stdout();
    let mut n = 0u64;
    let mut last_beat: Option<(u64, Instant)> = None;
    loop {
        let v = s.view();
        let beat = v.live.as_ref().map_or(0, |l| l.heartbeat);
        let age = match last_beat {
            Some((b, t)) if b == beat => t.elapsed(),
            _ => {
                last_beat = Some((beat, Instant::now()));
                Duration::ZERO
            }
        };
        let mut screen = String::from("\x1b[H\x1b[2J");
        screen.push_str(&format!(
            "appliance top — {}   (q quits)\n\n",
            s.mapping.source
        ));
        screen.push_str(&render::status_text(
            &v,
            &format!("last change {} ms ago", age.as_millis()),
        ));
        if let Some(k) = &v.kill {
            screen.push('\n');
            screen.push_str(&render::risk_table(k, &v.limits));
        }
        screen.push('\n');
        screen.push_str(&render::latency_table(&v.latency));
        screen.push('\n');
        let mut pos = v.positions.clone();
        pos.sort_by_key(|p| std::cmp::Reverse(p.qty.unsigned_abs()));
        pos.truncate(10);
        screen.push_str(&render::positions_table(&pos));
        screen.push_str(&format!("{} open orders\n", v.orders.len()));
        out.write_all(screen.replace('\n', "\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        n += 1;
        if iterations.is_some_and(|i| n >= i) {
            return Ok(());
        }
        let until = Instant::now() + interval;
        while Instant::now() < until {
            let left = until.saturating_duration_since(Instant::now()).as_millis() as i32;
            match crate::sys::read_key(left.max(1)) {
                Ok(Some(Some(b'q'))) | Ok(Some(None)) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

/// Journal events persisted before their sequence records are confirmed,
/// at the most (the ring's end confirms them too).
const CONFIRM_BATCH: usize = 64;

/// Confirms what was written; a failed confirmation (the appliance
/// rebooting meanwhile) is not fatal: the appliance offers an unconfirmed
/// record again, and a new boot asks for the journal anyway.
fn confirm_or_warn(s: &mut Session) {
    if let Err(e) = s.confirm_persisted() {
        s.unconfirmed.clear();
        eprintln!("warning: journal confirmation not delivered: {e}");
    }
}

/// `journal`: persist durable events and hand the journal back when asked.
pub fn journal(s: &mut Session, handback_now: bool, once: bool) -> Result<(), String> {
    s.lock(Role::Control)?;
    let Some(j) = s.journal.clone() else {
        return Err("journal needs --dir".into());
    };
    // Operators' commands while the journal holds the role (see `control`);
    // without the socket the journal still works, and says so.
    let server = match ControlServer::bind(&s.mapping.control_path) {
        Ok(server) => Some(server),
        Err(e) => {
            eprintln!(
                "warning: no control socket at {} ({e}): stop the journal to send commands",
                s.mapping.control_path.display()
            );
            None
        }
    };
    if handback_now {
        handback(s, &j)?;
    }
    let mut buf = vec![0u8; s.end.layout().replies.max_payload()];
    let mut batch = 0usize;
    loop {
        // Checked on every turn: a waiting kill costs one `accept` here, and
        // never waits behind a burst of fills being synced to disk.
        if let Some(server) = &server {
            server.serve(|request| s.call(request.command()));
            if let Some(e) = s.journal_failed.take() {
                return Err(e);
            }
        }
        match s.end.poll_message(&mut buf) {
            Ok(Some(Message::Event(ev))) => {
                s.handle_event(&ev)?;
                // Confirmed in batches: one command per venue for a ring
                // full of records, so a busy session does not wait on a
                // round trip per record.
                batch += 1;
                if batch >= CONFIRM_BATCH {
                    batch = 0;
                    confirm_or_warn(s);
                }
            }
            Ok(Some(Message::Reply { .. })) => {}
            Ok(None) => {
                batch = 0;
                confirm_or_warn(s);
                if std::mem::take(&mut s.journal_requested) {
                    handback(s, &j)?;
                    continue;
                }
                if once {
                    return Ok(());
                }
                if s.end.rebooted() {
                    std::thread::sleep(Duration::from_millis(50));
                    let _ = s.reattach();
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // A re-formatted region (the appliance rebooted) looks corrupt
            // to a stale reader: attach afresh and read the new boot's
            // frames, its request for the journal among them, from their
            // start. Only a ring corrupt in the same boot is skipped.
            Err(CommandError::Ring(RingError::CorruptIndex)) => {
                if s.end.rebooted() {
                    eprintln!("--- appliance rebooted ---");
                    s.reattach()?;
                } else {
                    s.end.skip_messages();
                }
            }
            Err(e) => eprintln!("warning: unreadable frame dropped: {e:?}"),
        }
    }
}

fn handback(s: &mut Session, j: &Journal) -> Result<(), String> {
    let records = j
        .load()
        .map_err(|e| format!("journal {}: {e}", j.dir.display()))?;
    let n = records.len() as u64;
    for r in records
        .into_iter()
        .chain(std::iter::once(JournalRecord::End { records: n }))
    {
        match s.call(Command::Journal(r))? {
            OwnedReply::Ok => {}
            other => return Err(format!("appliance refused journal record {r:?}: {other}")),
        }
    }
    println!("handed back {n} journal records");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A journaled fill as the companion prints it: side, venue and whose.
    #[test]
    fn a_fill_event_says_side_venue_and_strategy() {
        let mut fill = protocol::mailbox::FillRecord {
            exec_seq: 7,
            order: types::OrderId(42),
            venue: types::VenueId(2),
            locate: 1,
            symbol: types::Symbol::new("AAA").unwrap(),
            side: types::Side::Sell,
            qty: 100,
            price: types::Price(100_0100),
            ts_ns: 1,
            exec_key: 9,
            strategy: Some(types::StrategyId(1)),
            adjusts: 0,
        };
        assert_eq!(
            describe_event(&Event::Fill(fill)),
            format!(
                "fill #7 order 42 SELL 100 AAA @ {} venue 2 strategy 1",
                fill.price
            )
        );
        fill.strategy = None;
        assert!(describe_event(&Event::Fill(fill)).ends_with("venue 2 recovered"));
    }

    #[test]
    fn a_snapshot_being_written_is_read_once_the_writer_is_done() {
        let mut busy_for = 3;
        let got = patiently(|| {
            if busy_for > 0 {
                busy_for -= 1;
                Err(SnapshotError::Busy)
            } else {
                Ok(7)
            }
        });
        assert_eq!(got, Ok(7));
        assert_eq!(busy_for, 0);
    }

    #[test]
    fn a_writer_that_never_finishes_gives_busy_after_the_wait() {
        let start = Instant::now();
        let got: Result<u8, _> = patiently(|| Err(SnapshotError::Busy));
        assert_eq!(got, Err(SnapshotError::Busy));
        assert!(start.elapsed() >= BUSY_WAIT);
    }

    #[test]
    fn other_errors_are_not_waited_on() {
        let mut calls = 0;
        let got: Result<u8, _> = patiently(|| {
            calls += 1;
            Err(SnapshotError::Checksum)
        });
        assert_eq!(got, Err(SnapshotError::Checksum));
        assert_eq!(calls, 1);
    }
}
