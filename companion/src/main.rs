//! `companion`: the Linux side of the appliance mailbox.

use clap::{Args, Parser, Subcommand};
use companion::app::{self, InfluxSink, OwnedReply, Session, Target};
use companion::journal::Journal;
use companion::{config, mapping, secrets};
use protocol::mailbox::Command;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "companion",
    version,
    about = "Operate the trading appliance through its shared-memory mailbox"
)]
struct Cli {
    #[command(flatten)]
    target: TargetArgs,
    /// How long to wait for a reply.
    #[arg(long, global = true, default_value_t = 2000, value_name = "MS")]
    timeout_ms: u64,
    /// Persist journal events (FIX sequence numbers, fills) met while waiting for replies.
    #[arg(long, global = true, value_name = "DIR")]
    journal_dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args)]
struct TargetArgs {
    /// The region file QEMU maps for ivshmem (e.g. /dev/shm/appliance).
    #[arg(long, global = true, value_name = "PATH", conflicts_with = "phys")]
    shm: Option<PathBuf>,
    /// A reserved physical range, through /dev/mem (hex or decimal; LEN may end in K/M/G).
    #[arg(long, global = true, value_name = "ADDR:LEN")]
    phys: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Attach, validate the header and print the layout.
    Attach,
    /// State, uptime, heartbeat, cores, NIC link and counters.
    Status {
        /// Watch the heartbeat this long to tell whether it advances.
        #[arg(long, default_value_t = 250, value_name = "MS")]
        sample_ms: u64,
    },
    /// Print log frames, decoded with the image's defmt table when `--elf`
    /// names it (raw hex and text otherwise).
    Logs {
        /// Keep waiting for new frames.
        #[arg(short, long)]
        follow: bool,
        /// The appliance ELF the logs come from (its defmt table decodes them).
        #[arg(long, value_name = "FILE")]
        elf: Option<PathBuf>,
    },
    /// Validate or apply a TOML config.
    Config {
        #[command(subcommand)]
        action: ConfigCmd,
    },
    /// Risk limits, usage and the kill switch.
    Risk,
    /// Positions and PnL.
    Positions,
    /// Open orders.
    Orders,
    /// Engage the kill switch (blocks new orders, cancels open ones).
    Kill {
        #[arg(long, default_value = "operator")]
        reason: String,
    },
    /// Release the kill switch.
    Rearm,
    /// Round trip through the command ring.
    Ping,
    /// Per-stage latency: p50, p99, p99.9, max.
    Latency {
        /// Write a histogram plot (.svg).
        #[arg(long, value_name = "FILE")]
        plot: Option<PathBuf>,
    },
    /// Live dashboard; q quits.
    Top {
        #[arg(long, default_value_t = 500, value_name = "MS")]
        interval_ms: u64,
        /// Stop after this many refreshes.
        #[arg(long)]
        iterations: Option<u64>,
    },
    /// Export metrics: Prometheus over HTTP on loopback, and/or InfluxDB line protocol.
    Metrics {
        #[arg(long, value_name = "127.0.0.1:PORT")]
        listen: Option<SocketAddr>,
        #[arg(long, value_name = "FILE|udp://127.0.0.1:PORT")]
        influx: Option<String>,
        #[arg(long, default_value_t = 1000, value_name = "MS")]
        interval_ms: u64,
        /// With --influx only: stop after this many writes.
        #[arg(long)]
        count: Option<u64>,
    },
    /// Persist FIX sequence numbers and fills to DIR; hand them back when the appliance asks.
    Journal {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// Hand the journal back immediately instead of waiting for a request.
        #[arg(long)]
        handback_now: bool,
        /// Process what is pending, then exit.
        #[arg(long)]
        once: bool,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Check a config file without sending it.
    Validate {
        file: PathBuf,
        /// Secrets file (mode 0600) with venue passwords.
        #[arg(long)]
        secrets: Option<PathBuf>,
    },
    /// Validate and send a config file; prints the appliance's verdict.
    Apply {
        file: PathBuf,
        #[arg(long)]
        secrets: Option<PathBuf>,
    },
}

fn target(t: &TargetArgs) -> Result<Target, String> {
    match (&t.shm, &t.phys) {
        (Some(p), None) => Ok(Target::Shm(p.clone())),
        (None, Some(spec)) => {
            let (addr, len) =
                mapping::parse_phys(spec).map_err(|e| format!("--phys {spec}: {e}"))?;
            Ok(Target::Phys { addr, len })
        }
        _ => Err("give --shm PATH or --phys ADDR:LEN".into()),
    }
}

fn reply_result(r: OwnedReply) -> Result<String, String> {
    match r {
        OwnedReply::Rejected { .. } | OwnedReply::Malformed => Err(r.to_string()),
        other => Ok(other.to_string()),
    }
}

fn run(cli: Cli) -> Result<String, String> {
    let timeout = Duration::from_millis(cli.timeout_ms);
    // Validation needs no region.
    if let Cmd::Config {
        action: ConfigCmd::Validate { file, secrets },
    } = &cli.cmd
    {
        let secrets = secrets.as_deref().map(secrets::load).transpose()?;
        let cfg = config::load(file, secrets.as_ref())?;
        return Ok(format!(
            "{}: valid ({} venues, {} strategies)",
            file.display(),
            cfg.venues.len(),
            cfg.strategies.len()
        ));
    }
    let journal = match (&cli.cmd, &cli.journal_dir) {
        (Cmd::Journal { dir, .. }, _) | (_, Some(dir)) => {
            Some(Journal::open(dir.clone()).map_err(|e| format!("{}: {e}", dir.display()))?)
        }
        _ => None,
    };
    let mut s = Session::attach(&target(&cli.target)?, timeout, journal)?;
    match cli.cmd {
        Cmd::Attach => {
            let l = s.end.layout();
            let mut out = format!(
                "{}: mailbox v{} boot id {:#x}, {} bytes\n",
                s.mapping.source,
                protocol::mailbox::layout::VERSION,
                s.end.boot_id(),
                l.total_bytes
            );
            for part in protocol::mailbox::layout::Part::ALL {
                let (off, bytes, p0, p1) = l.part(part);
                out.push_str(&format!(
                    "  {:<10} at {off:#09x} {bytes:>8} bytes ({p0}, {p1})\n",
                    format!("{part:?}")
                ));
            }
            Ok(out)
        }
        Cmd::Status { sample_ms } => app::status(&s, Duration::from_millis(sample_ms)),
        Cmd::Logs { follow, elf } => {
            let mut dec = app::decoder(elf.as_deref())?;
            app::logs(&mut s, follow, dec.as_mut(), &mut std::io::stdout().lock())?;
            Ok(String::new())
        }
        Cmd::Config {
            action: ConfigCmd::Apply { file, secrets },
        } => {
            let secrets = secrets.as_deref().map(secrets::load).transpose()?;
            let cfg = config::load(&file, secrets.as_ref())?;
            let json = config::to_json(&cfg)?;
            reply_result(app::command(&mut s, Command::ApplyConfig { json: &json })?)
        }
        Cmd::Config {
            action: ConfigCmd::Validate { .. },
        } => unreachable!("handled before attaching"),
        Cmd::Risk => {
            let v = s.view();
            let k = v
                .kill
                .ok_or_else(|| v.errors.join("; ") + " (no risk snapshot)")?;
            Ok(companion::render::risk_table(&k, &v.limits))
        }
        Cmd::Positions => Ok(companion::render::positions_table(&s.view().positions)),
        Cmd::Orders => Ok(companion::render::orders_table(&s.view().orders)),
        Cmd::Kill { reason } => {
            reply_result(app::command(&mut s, Command::Kill { reason: &reason })?)
        }
        Cmd::Rearm => reply_result(app::command(&mut s, Command::Rearm)?),
        Cmd::Ping => reply_result(app::command(
            &mut s,
            Command::Ping {
                nonce: std::process::id() as u64,
            },
        )?),
        Cmd::Latency { plot } => app::latency(&s, plot.as_deref()),
        Cmd::Top {
            interval_ms,
            iterations,
        } => app::top(&s, Duration::from_millis(interval_ms), iterations).map(|_| String::new()),
        Cmd::Metrics {
            listen,
            influx,
            interval_ms,
            count,
        } => {
            let sink = influx.as_deref().map(InfluxSink::parse).transpose()?;
            app::metrics(&s, listen, sink, Duration::from_millis(interval_ms), count)
                .map(|_| String::new())
        }
        Cmd::Journal {
            handback_now, once, ..
        } => app::journal(&mut s, handback_now, once).map(|_| String::new()),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(out) => {
            print!("{out}");
            if !out.is_empty() && !out.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("companion: {e}");
            ExitCode::FAILURE
        }
    }
}
