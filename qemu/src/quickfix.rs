//! QuickFIX/C++ counterparties for the interoperability tests: a FIX venue
//! (`qemu/quickfix/venue.cpp`) with a running instance of it, and a FIX
//! client (`qemu/quickfix/client.cpp`), both compiled here against Debian's
//! `libquickfix-dev`.
//!
//! Our own simulated venue (`exchange`) runs our session code in the acceptor
//! role, so a misreading of the FIX specification shared by both of our
//! sides would pass there; QuickFIX shares nothing with us.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use crate::{ensure_quickfix, Error, FileLock, Repo, Result};

/// Builds the venue program (`qemu/quickfix/venue.cpp`), if it is missing
/// or older than its source, into `target/quickfix/`, and returns its path.
/// Installs QuickFIX/C++ first when missing (as root).
pub fn build_venue(repo: &Repo) -> Result<PathBuf> {
    build_program(repo, "venue")
}

/// Builds the client program (`qemu/quickfix/client.cpp`): a QuickFIX
/// initiator that logs on, sends limit orders, waits for their reports and
/// logs out (see its header for the arguments and what it prints).
pub fn build_client(repo: &Repo) -> Result<PathBuf> {
    build_program(repo, "client")
}

/// `qemu/quickfix/<name>.cpp` built into `target/quickfix/quickfix-<name>`
/// (one build at a time across test processes).
fn build_program(repo: &Repo, name: &str) -> Result<PathBuf> {
    ensure_quickfix(repo)?;
    let source = repo.root().join(format!("qemu/quickfix/{name}.cpp"));
    let dir = repo.root().join("target/quickfix");
    let program = dir.join(format!("quickfix-{name}"));
    std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let _lock = FileLock::acquire(&repo.locks_dir().join(format!("quickfix-{name}.lock")))?;
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    let source_time = modified(&source).ok_or_else(|| Error::MissingArtifact(source.clone()))?;
    if modified(&program).is_some_and(|built: SystemTime| built >= source_time) {
        return Ok(program);
    }
    let flags = run_for_output(
        Command::new("pkg-config").args(["--cflags", "--libs", "quickfix"]),
        "pkg-config --cflags --libs quickfix",
    )?;
    let building = dir.join(format!("quickfix-{name}.{}", std::process::id()));
    // QuickFIX 1.15's headers declare dynamic exception specifications,
    // which C++17 removed.
    run_for_output(
        Command::new("g++")
            .args(["-std=gnu++14", "-O1", "-Wall", "-Wno-deprecated", "-o"])
            .arg(&building)
            .arg(&source)
            .args(flags.split_whitespace())
            .arg("-lpthread"),
        &format!("g++ (the QuickFIX {name})"),
    )?;
    std::fs::rename(&building, &program).map_err(Error::io(format!(
        "moving the {name} to {}",
        program.display()
    )))?;
    Ok(program)
}

/// Runs `command`; its standard output, or an error with what it printed.
fn run_for_output(command: &mut Command, what: &str) -> Result<String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(Error::io(format!("running {what}")))?;
    if !out.status.success() {
        return Err(Error::Command {
            what: what.to_string(),
            status: out.status,
            output: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How the venue is set up.
#[derive(Debug, Clone)]
pub struct VenueOptions {
    /// Required Username (553) and Password (554); `None` takes any Logon,
    /// and a username of `*` checks the password alone.
    pub credentials: Option<(String, String)>,
    /// The venue's CompID and the one it expects from its client.
    pub venue_comp_id: String,
    pub client_comp_id: String,
    /// Symbols whose orders rest until canceled or replaced (others, and
    /// immediate-or-cancel orders, fill at once).
    pub resting: Vec<String>,
    /// Every Nth order or replace that comes to rest is half filled at
    /// once, as by another participant (0: never).
    pub hit_every: u32,
}

impl Default for VenueOptions {
    fn default() -> Self {
        VenueOptions {
            credentials: None,
            venue_comp_id: "VENUE".into(),
            client_comp_id: "CLIENT".into(),
            resting: Vec::new(),
            hit_every: 0,
        }
    }
}

impl VenueOptions {
    /// What the appliance's sessions expect of a venue (it logs on as APPL
    /// to EXCH without credentials), resting the orders in AAA, the listing
    /// the lab's market maker quotes.
    pub fn for_the_appliance() -> VenueOptions {
        VenueOptions {
            credentials: None,
            venue_comp_id: "EXCH".into(),
            client_comp_id: "APPL".into(),
            resting: vec!["AAA".into()],
            hit_every: 0,
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago (another process may
/// take it before it is bound).
pub fn free_port() -> Result<u16> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(Error::io("finding a free port"))
}

/// A running QuickFIX venue on 127.0.0.1; killed when dropped.
pub struct QuickfixVenue {
    child: Child,
    port: u16,
    dir: PathBuf,
    options: VenueOptions,
    lines: mpsc::Receiver<String>,
    said: Vec<String>,
}

impl QuickfixVenue {
    /// Builds the program if needed and starts it with its store and logs
    /// under `dir`, on a free port.
    pub fn start(repo: &Repo, dir: &Path, options: VenueOptions) -> Result<QuickfixVenue> {
        let program = build_venue(repo)?;
        // A port the system just handed out; another process could take it
        // before the venue binds it, so a venue that cannot start is retried.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port()?;
            let mut venue = QuickfixVenue::spawn(&program, port, dir, &options)?;
            if venue.wait_for("READY").is_some() {
                return Ok(venue);
            }
            last_error = venue.stderr();
        }
        Err(Error::InvalidArgument(format!(
            "the QuickFIX venue did not start on any of five ports: {last_error}"
        )))
    }

    /// Kills the venue, as a crash would, and starts it again on the same
    /// port with the same store: it comes back with the sequence numbers it
    /// had, and without the orders that rested in its memory (as a venue
    /// cancels on disconnect). Lines it printed before are kept.
    pub fn restart(&mut self, repo: &Repo) -> Result<()> {
        let (port, options) = (self.port, self.options.clone());
        self.restart_as(repo, port, options)
    }

    /// [`QuickfixVenue::restart`] on `port` with `options`: the venue's
    /// backup gateway taking over its sessions (their store, so their
    /// sequence numbers) where the primary went down, perhaps with a
    /// password rotated meanwhile. A port from [`free_port`].
    pub fn restart_as(&mut self, repo: &Repo, port: u16, options: VenueOptions) -> Result<()> {
        let program = build_venue(repo)?;
        self.port = port;
        self.options = options;
        let _ = self.child.kill();
        let _ = self.child.wait();
        // What the first life printed, to the end of its output.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.said.push(line);
        }
        let said = std::mem::take(&mut self.said);
        let mut last_error = String::new();
        // The port may take a moment to be free again.
        for _ in 0..20 {
            let mut venue = QuickfixVenue::spawn(&program, self.port, &self.dir, &self.options)?;
            venue.said = said.clone();
            let before = venue.said.len();
            if venue
                .wait_for_new_line("READY", before, Duration::from_secs(10))
                .is_some()
            {
                *self = venue;
                return Ok(());
            }
            last_error = venue.stderr();
            std::thread::sleep(Duration::from_millis(250));
        }
        Err(Error::InvalidArgument(format!(
            "the QuickFIX venue did not start again on port {}: {last_error}",
            self.port
        )))
    }

    fn spawn(
        program: &Path,
        port: u16,
        dir: &Path,
        options: &VenueOptions,
    ) -> Result<QuickfixVenue> {
        let (user, password) = options
            .credentials
            .clone()
            .unwrap_or_else(|| ("-".into(), "-".into()));
        let mut command = Command::new(program);
        command
            .arg(port.to_string())
            .arg(dir)
            .args([&user, &password])
            .args([
                "--comp-ids",
                &options.venue_comp_id,
                &options.client_comp_id,
            ]);
        for symbol in &options.resting {
            command.args(["--rest", symbol]);
        }
        if options.hit_every > 0 {
            command.args(["--hit-every", &options.hit_every.to_string()]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(Error::io(format!("starting {}", program.display())))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            return Err(Error::InvalidArgument("the venue's stdout".into()));
        };
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(QuickfixVenue {
            child,
            port,
            dir: dir.to_path_buf(),
            options: options.clone(),
            lines,
            said: Vec::new(),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the venue wrote to stderr, once it has ended (empty before).
    fn stderr(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        text
    }

    /// The first line starting with `prefix` (printed already or within
    /// 10 s), or `None` when the venue ended or said nothing of the kind.
    pub fn wait_for(&mut self, prefix: &str) -> Option<String> {
        self.wait_for_new_line(prefix, 0, Duration::from_secs(10))
    }

    /// The first line starting with `prefix` among those printed after the
    /// first `after` (a restart's `READY`, not the first life's), waiting up
    /// to `within`.
    fn wait_for_new_line(
        &mut self,
        prefix: &str,
        after: usize,
        within: Duration,
    ) -> Option<String> {
        if let Some(line) = self.said.iter().skip(after).find(|l| l.starts_with(prefix)) {
            return Some(line.clone());
        }
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.said.push(line.clone());
                    if line.starts_with(prefix) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Every line the venue printed so far.
    pub fn said(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.said.push(line);
        }
        &self.said
    }

    /// The engine's log of one session's messages (`begin_string` e.g.
    /// `FIX.4.4`), SOH shown as `|`.
    pub fn message_log(&self, begin_string: &str) -> String {
        self.log(begin_string, "messages").replace('\x01', "|")
    }

    /// The engine's log of one session's events (logons, resends, refusals).
    pub fn event_log(&self, begin_string: &str) -> String {
        self.log(begin_string, "event")
    }

    /// The engine's current `kind` log of one session (empty if none yet).
    fn log(&self, begin_string: &str, kind: &str) -> String {
        let path = self.dir.join("log").join(format!(
            "{begin_string}-{}-{}.{kind}.current.log",
            self.options.venue_comp_id, self.options.client_comp_id
        ));
        std::fs::read_to_string(&path).unwrap_or_default()
    }

    /// The logged messages of one session sent by `sender` (a CompID).
    pub fn messages_from(&self, begin_string: &str, sender: &str) -> Vec<String> {
        let from = format!("|49={sender}|");
        self.message_log(begin_string)
            .lines()
            .filter(|l| l.contains(&from))
            .map(str::to_string)
            .collect()
    }
}

impl Drop for QuickfixVenue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
