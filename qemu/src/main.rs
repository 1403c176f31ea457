//! `cargo qemu <command>`: build the appliance image and boot it in QEMU.
//!
//! Exit codes: 0 when the guest reported success (or the command needed no
//! guest), 1 for any failure, 2 for a usage error.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use qemu::bench::{ms, Spread};
use qemu::{
    build_image, build_iso, ensure_iso_tools, ensure_qemu, Accel, BuildOutput, Images, Outcome,
    Profile, Repo, TestReport, Vm,
};

#[derive(Parser, Debug)]
#[command(
    name = "cargo qemu",
    bin_name = "cargo qemu",
    about = "Build the appliance image and boot it in QEMU",
    after_help = "Each boot leaves serial.log, qemu.log and command.sh in target/qemu-runs/<run>/ (the newest 50 are kept)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build the appliance and the bare baseline kernel.
    Build {
        /// Unoptimised build (target/image/x86_64-unknown-none/debug).
        #[arg(long)]
        dev: bool,
    },
    /// Boot the appliance and show its serial output live.
    Run {
        #[command(flatten)]
        machine: Machine,
        /// Kill QEMU after this many seconds (default: never).
        #[arg(long, value_name = "S")]
        timeout: Option<f64>,
        /// The companion's shared-memory mailbox (an ivshmem-plain device
        /// backed by this file); `--mailbox none` boots without one.
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/dev/shm/appliance-mailbox"
        )]
        mailbox: String,
        /// Kernel command line words, e.g. `-- test fault=pf`.
        #[arg(last = true, value_name = "CMDLINE")]
        cmdline: Vec<String>,
    },
    /// Boot with `test` (or `test=FILTER`) and report the guest's results.
    Test {
        /// Run only guest tests whose name contains this.
        filter: Option<String>,
        #[command(flatten)]
        machine: Machine,
        #[arg(long, value_name = "S", default_value_t = 120.0)]
        timeout: f64,
    },
    /// Wrap the appliance in a GRUB (multiboot2) ISO; `--boot` boots it.
    Iso {
        /// Where to write the ISO.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Kernel command line written into grub.cfg.
        #[arg(long, default_value = "")]
        cmdline: String,
        /// Boot the ISO in QEMU (SeaBIOS, GRUB, multiboot2) after building it.
        #[arg(long)]
        boot: bool,
        #[command(flatten)]
        machine: Machine,
        #[arg(long, value_name = "S", default_value_t = 120.0)]
        timeout: f64,
    },
    /// Boot time: `bare` vs the appliance, booted alternately.
    BenchBoot {
        /// Boots of each kernel (plus one uncounted warm-up each).
        #[arg(long, default_value_t = 11)]
        runs: usize,
        #[arg(long, value_enum, default_value_t = AccelArg::Tcg)]
        accel: AccelArg,
        /// Appliance command line for the measured boots.
        #[arg(long, default_value = "")]
        cmdline: String,
    },
    /// The trading demo: the appliance trades against the simulated venue
    /// (ITCH feed on one NIC, FIX on the other), with a live view and a
    /// summary that checks its positions against the venue's records.
    Demo {
        /// How long the appliance trades.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Background actions per listing per second at the venue.
        #[arg(long, default_value_t = 300)]
        activity: u32,
        /// Venues the appliance routes between (1 or 2).
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=2))]
        venues: u8,
        #[command(flatten)]
        machine: Machine,
        /// The companion's mailbox file (`none`: no mailbox).
        #[arg(
            long,
            value_name = "PATH",
            default_value = "/dev/shm/appliance-mailbox"
        )]
        mailbox: String,
    },
}

#[derive(Args, Debug)]
struct Machine {
    /// Virtual CPUs [default: 2 for the demo (core 1 trades, core 0 keeps
    /// house), 1 otherwise].
    #[arg(long)]
    smp: Option<u32>,
    /// Guest RAM (QEMU syntax: 512M, 2G).
    #[arg(long, default_value = "512M")]
    mem: String,
    /// tcg (default; fast here) or kvm (real hosts only: KVM on this kind of VM is emulated and slow).
    #[arg(long, value_enum, default_value_t = AccelArg::Tcg)]
    accel: AccelArg,
    /// Write the serial log to this file instead of target/qemu-runs/<run>/serial.log.
    #[arg(long, value_name = "FILE")]
    serial: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum AccelArg {
    Tcg,
    Kvm,
}

impl From<AccelArg> for Accel {
    fn from(a: AccelArg) -> Accel {
        match a {
            AccelArg::Tcg => Accel::Tcg,
            AccelArg::Kvm => Accel::Kvm,
        }
    }
}

impl Machine {
    fn apply(&self, mut vm: Vm, timeout: Option<f64>) -> Result<Vm, qemu::Error> {
        if let Some(cpus) = self.smp {
            vm = vm.smp(cpus);
        }
        vm = vm.mem(&self.mem).accel(self.accel.into());
        if let Some(path) = &self.serial {
            vm = vm.serial_file(path);
        }
        let timeout = match timeout {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(qemu::Error::InvalidArgument(format!(
                    "--timeout {s}: must be a positive number"
                )))
            }
        };
        Ok(vm.timeout(timeout).live(true))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("qemu: error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn prepare(repo: &Repo, profile: Profile) -> Result<Images, qemu::Error> {
    ensure_qemu(repo)?;
    build_image(repo, profile, BuildOutput::Inherit)
}

/// Run directories the CLI keeps (their serial logs are worth a look after
/// the fact); older ones are deleted when a command starts.
const KEPT_RUNS: usize = 50;

fn run(command: Command) -> Result<ExitCode, qemu::Error> {
    let repo = Repo::locate()?;
    repo.prune_runs(KEPT_RUNS);
    match command {
        Command::Build { dev } => {
            let profile = if dev { Profile::Dev } else { Profile::Release };
            let images = build_image(&repo, profile, BuildOutput::Inherit)?;
            println!("{}", images.appliance.display());
            println!("{}", images.bare.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run {
            machine,
            timeout,
            mailbox,
            cmdline,
        } => {
            let images = prepare(&repo, Profile::Release)?;
            // With no words of its own, the appliance stays up for a minute,
            // supervising its cores and serving the mailbox.
            let words = if cmdline.is_empty() {
                eprintln!("qemu: running the appliance for 60 s (`-- halt` runs until stopped; Ctrl-C stops early)");
                "up=60".to_string()
            } else {
                cmdline.join(" ")
            };
            let mut vm = Vm::kernel(&repo, &images.appliance)
                .name("run")
                .cmdline(words);
            if mailbox != "none" {
                eprintln!(
                    "qemu: mailbox at {mailbox}: in another terminal, `cargo run -q -p companion -- --shm {mailbox} status` \
                     (or `logs -f --elf {}`, `top`)",
                    images.appliance.display()
                );
                vm = vm.args([
                    "-object".to_string(),
                    format!("memory-backend-file,id=mailbox,share=on,mem-path={mailbox},size=1M"),
                    "-device".to_string(),
                    "ivshmem-plain,memdev=mailbox".to_string(),
                ]);
            }
            let outcome = machine.apply(vm, timeout)?.run()?;
            Ok(finish(&outcome))
        }
        Command::Test {
            filter,
            machine,
            timeout,
        } => {
            let images = prepare(&repo, Profile::Release)?;
            let cmdline = match &filter {
                Some(f) => format!("test={f}"),
                None => "test".to_string(),
            };
            let vm = Vm::kernel(&repo, &images.appliance)
                .name("test")
                .cmdline(cmdline);
            let outcome = machine.apply(vm, Some(timeout))?.run()?;
            Ok(report_tests(&outcome, filter.as_deref()))
        }
        Command::Iso {
            out,
            cmdline,
            boot,
            machine,
            timeout,
        } => {
            ensure_iso_tools(&repo)?;
            let images = prepare(&repo, Profile::Release)?;
            let out = out.unwrap_or_else(|| repo.root().join("target").join("appliance.iso"));
            let iso = build_iso(&repo, &images.appliance, &cmdline, &out)?;
            eprintln!("qemu: wrote {}", iso.display());
            if !boot {
                return Ok(ExitCode::SUCCESS);
            }
            let vm = Vm::cdrom(&repo, &iso).name("iso");
            let outcome = machine.apply(vm, Some(timeout))?.run()?;
            Ok(finish(&outcome))
        }
        Command::Demo {
            seconds,
            activity,
            venues,
            machine,
            mailbox,
        } => demo(&repo, seconds, activity, venues, machine, &mailbox),
        Command::BenchBoot {
            runs,
            accel,
            cmdline,
        } => {
            if runs == 0 {
                return Err(qemu::Error::InvalidArgument(
                    "--runs must be at least 1".into(),
                ));
            }
            let images = prepare(&repo, Profile::Release)?;
            bench_boot(&repo, &images, runs, accel.into(), &cmdline)
        }
    }
}

/// Prints how the run ended; the exit code follows the guest.
fn finish(outcome: &Outcome) -> ExitCode {
    if outcome.is_success() {
        eprintln!(
            "qemu: {} in {:.3} s (serial log: {})",
            outcome.status,
            outcome.duration.as_secs_f64(),
            outcome.serial_path.display()
        );
        ExitCode::SUCCESS
    } else {
        eprintln!("qemu: FAILED: {}", outcome.status);
        if let Some(e) = outcome.exception() {
            let vector = e
                .vector
                .map_or_else(|| "unknown vector".to_string(), |v| v.to_string());
            let rip = e.rip.map_or_else(|| "?".to_string(), |r| format!("{r:#x}"));
            eprintln!("qemu: guest exception {vector} at RIP {rip}");
        }
        if let Some(p) = outcome.panic() {
            eprintln!("qemu: guest panic: {}", p.message);
        }
        if !outcome.qemu_log.trim().is_empty() {
            eprintln!("qemu: QEMU said:\n{}", outcome.qemu_log.trim_end());
        }
        eprintln!("qemu: run directory: {}", outcome.run_dir.display());
        eprintln!("qemu: reproduce with: {}", outcome.command_line);
        ExitCode::FAILURE
    }
}

fn report_tests(outcome: &Outcome, filter: Option<&str>) -> ExitCode {
    let report: TestReport = outcome.test_report();
    eprintln!();
    match report.summary {
        Some(s) => eprintln!(
            "qemu: guest tests: {} passed, {} failed, {} skipped ({:.3} s)",
            s.passed,
            s.failed,
            s.skipped,
            outcome.duration.as_secs_f64()
        ),
        None => eprintln!(
            "qemu: the guest printed no `tests:` summary ({} test lines seen)",
            report.results.len()
        ),
    }
    for failure in report.failures() {
        eprintln!(
            "qemu:   FAILED {}: {}",
            failure.name,
            failure.reason.as_deref().unwrap_or("(no reason given)")
        );
    }
    if report.summary.is_some() && !report.is_consistent() {
        eprintln!("qemu: warning: the summary does not match the test lines (serial output lost?)");
    }
    if report.summary.is_some_and(|s| s.passed + s.failed == 0) {
        if let Some(filter) = filter {
            eprintln!("qemu: warning: no guest test name contains `{filter}`");
        }
    }
    let code = finish(outcome);
    // A guest that says success while listing failures is not believed.
    if code == ExitCode::SUCCESS && (report.summary.is_none() || report.failed() > 0) {
        eprintln!("qemu: FAILED: the guest exited with success but its test report is missing or has failures");
        return ExitCode::FAILURE;
    }
    code
}

fn bench_boot(
    repo: &Repo,
    images: &Images,
    runs: usize,
    accel: Accel,
    cmdline: &str,
) -> Result<ExitCode, qemu::Error> {
    let boot_once = |elf: &PathBuf, name: &str, cmdline: &str| -> Result<Outcome, qemu::Error> {
        let outcome = Vm::kernel(repo, elf)
            .name(name)
            .cmdline(cmdline)
            .accel(accel)
            .timeout(Some(Duration::from_secs(60)))
            .run()?;
        if !outcome.is_success() {
            eprintln!("{}", outcome.diagnostics());
            return Err(qemu::Error::InvalidArgument(format!(
                "benchmark boot of {} did not succeed",
                elf.display()
            )));
        }
        let _ = outcome.remove_run_dir();
        Ok(outcome)
    };
    eprintln!("qemu: warm-up boot of each kernel (not counted)");
    boot_once(&images.bare, "bench-bare", "")?;
    boot_once(&images.appliance, "bench-appliance", cmdline)?;
    let (mut bare, mut appliance, mut ready) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let b = boot_once(&images.bare, "bench-bare", "")?;
        let a = boot_once(&images.appliance, "bench-appliance", cmdline)?;
        eprintln!(
            "qemu: run {:>2}/{runs}: bare {:7.1} ms  appliance {:7.1} ms",
            i + 1,
            ms(b.duration),
            ms(a.duration)
        );
        bare.push(b.duration);
        appliance.push(a.duration);
        if let Some(us) = a.banner().and_then(|banner| banner.ready_us) {
            ready.push(Duration::from_micros(us));
        }
    }
    let (Some(bare), Some(appliance)) = (Spread::of(&bare), Spread::of(&appliance)) else {
        return Err(qemu::Error::InvalidArgument("no samples".into()));
    };
    let accel_name = match accel {
        Accel::Tcg => "TCG",
        Accel::Kvm => "KVM",
    };
    println!("boot to exit (QEMU spawn to exit, q35, {accel_name}, -smp 1, {runs} boots each, alternating)");
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        let load: Vec<&str> = load.split_whitespace().take(3).collect();
        println!(
            "host load average {} on {} CPUs (other work inflates and scatters these)",
            load.join(" "),
            std::thread::available_parallelism().map_or(0, |n| n.get())
        );
    }
    println!("| kernel | min | median | max |");
    println!("|---|---|---|---|");
    for (name, s) in [("bare PVH", &bare), ("appliance", &appliance)] {
        println!(
            "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(s.min),
            ms(s.median),
            ms(s.max)
        );
    }
    let ratio = appliance.median_ratio(&bare);
    println!(
        "appliance / bare (medians): {ratio:.2}x (target <= 1.5x: {})",
        if ratio <= 1.5 { "met" } else { "NOT met" }
    );
    if let Some(r) = Spread::of(&ready) {
        println!(
            "appliance's own `ready in` (guest TSC from entry): median {:.3} ms (min {:.3}, max {:.3})",
            ms(r.median),
            ms(r.min),
            ms(r.max)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo qemu demo`.
fn demo(
    repo: &Repo,
    seconds: u64,
    activity: u32,
    venues: u8,
    machine: Machine,
    mailbox: &str,
) -> Result<ExitCode, qemu::Error> {
    use qemu::lab::{trade_summary, LabConfig, TradingLab, APPLIANCE};
    let images = prepare(repo, Profile::Release)?;
    let config = LabConfig {
        background_per_second: activity,
        second_venue: venues == 2,
        ..LabConfig::default()
    };
    let lab = TradingLab::start(&config).map_err(|source| qemu::Error::Io {
        context: "starting the simulated venue".into(),
        source,
    })?;
    let capture = repo.root().join("target").join("demo");
    let _ = std::fs::create_dir_all(&capture);
    // Venue 2 pays the better maker rebate: quotes rest there while it is
    // up; the router also weighs each venue's acknowledgement latency and
    // reject rate, and avoids a venue whose session is down. Both venues
    // take order mass cancels: a kill (`companion kill`) and the close ask
    // each for one before cancelling order by order. Beside the maker, a
    // taker trades AAA on the top-of-book imbalance (IOC, 400 shares); its
    // orders larger than one venue shows are split across the venues.
    let mut vm = lab
        .appliance_with(
            repo,
            &images.appliance,
            seconds,
            "fees=3000,-2000 fees2=3000,-2500 venue-mass-cancel=on venue2-mass-cancel=on taker=400",
        )
        .name("demo")
        .args(TradingLab::capture_args(&capture));
    eprintln!(
        "qemu: traffic recorded in {}/feed.pcap and orders.pcap",
        capture.display()
    );
    if mailbox != "none" {
        eprintln!("qemu: companion: `cargo run -q -p companion -- --shm {mailbox} top` (or status, logs -f --elf {}, kill)", images.appliance.display());
        vm = vm.args([
            "-object".to_string(),
            format!("memory-backend-file,id=mailbox,share=on,mem-path={mailbox},size=1M"),
            "-device".to_string(),
            "ivshmem-plain,memdev=mailbox".to_string(),
        ]);
    }
    let vm = machine.apply(vm, Some(seconds as f64 + 90.0))?;
    eprintln!("qemu: {} venue(s) list AAA and BBB; the appliance makes a market in AAA and takes on its imbalance for {seconds} s (Ctrl-C stops early)", lab.venue_count());
    let mut running = vm.spawn()?;
    let started = std::time::Instant::now();
    let mut telemetry: Option<companion::app::Session> = None;
    // (seconds, position, PnL in USD) of the traded symbol, for the plots.
    let mut history: Vec<(f64, i64, f64)> = Vec::new();
    loop {
        if running
            .wait_for_serial("trade: done:", Duration::from_secs(1))
            .is_some()
        {
            break;
        }
        let s = lab.shared.lock().map(|s| s.clone()).unwrap_or_default();
        let top = s.tops.first().map_or(String::from("-"), |(sym, bid, ask)| {
            let side = |t: &Option<(i64, u64)>| {
                t.map_or("-".to_string(), |(p, q)| format!("{}x{q}", types::Price(p)))
            };
            format!("{sym} {} / {}", side(bid), side(ask))
        });
        if telemetry.is_none() && mailbox != "none" {
            telemetry = attach_mailbox(mailbox);
        }
        let view = telemetry.as_ref().map(|t| t.view());
        if let Some(p) = view.as_ref().and_then(|v| v.positions.first()) {
            let pnl = p.realized_pnl.saturating_add(p.unrealized_pnl);
            history.push((
                started.elapsed().as_secs_f64(),
                p.qty,
                pnl as f64 / types::Price::SCALE as f64,
            ));
        }
        let appliance = view
            .as_ref()
            .map_or(String::new(), |v| appliance_panel(v, lab.session_fills()));
        let second = if lab.venue_count() > 1 {
            let v2 = lab.stats_of(1);
            format!(
                " | venue 2 orders {} replaces {}",
                v2.orders_received, v2.replaces_received
            )
        } else {
            String::new()
        };
        eprintln!(
            "[{:>3} s] {top} | venue 1 orders {} cancels {} replaces {}{second} | reports {} | feed packets {} (lost A {} B {}, retransmitted {}){appliance}",
            started.elapsed().as_secs(),
            s.stats.orders_received,
            s.stats.cancels_received,
            s.stats.replaces_received,
            s.stats.reports_sent,
            s.stats.feed_packets,
            s.stats.feed_dropped_a,
            s.stats.feed_dropped_b,
            s.stats.retransmitted_packets
        );
        if started.elapsed() > Duration::from_secs(seconds + 90) {
            break;
        }
    }
    let outcome = running.wait()?;
    std::thread::sleep(Duration::from_millis(300));
    let servers = lab.stop_all();
    let serial = &outcome.serial;
    // The appliance's last published telemetry outlives it in the mailbox.
    if let Some(t) = telemetry.or_else(|| attach_mailbox(mailbox)) {
        let v = t.view();
        println!("{}", companion::render::positions_table(&v.positions));
        println!("tick-to-trade by stage (TSC; under TCG the CPU is emulated, so these are not host figures):");
        println!("{}", companion::render::latency_table(&v.latency));
        let plot = capture.join("latency.svg");
        if std::fs::write(&plot, companion::render::latency_svg(&v.latency)).is_ok() {
            println!("latency histograms plotted in {}", plot.display());
        }
        if !history.is_empty() {
            plot_history(&capture, &history);
        }
    }
    if let Some(line) = serial.lines().find(|l| l.starts_with("trade: venues:")) {
        println!(
            "router: {}",
            line.trim_start_matches("trade: venues:").trim()
        );
    }
    if let Some(line) = serial.lines().find(|l| l.starts_with("trade: taker:")) {
        println!("taker: {}", line.trim_start_matches("trade: taker:").trim());
    }
    let aaa = types::Symbol::new("AAA").unwrap_or_default();
    let usd = |v: i128| types::Price(v.clamp(i64::MIN as i128, i64::MAX as i128) as i64);
    let (mut position, mut pnl) = (0i64, 0i128);
    for (i, server) in servers.iter().enumerate() {
        let fills = server
            .venue
            .fills()
            .iter()
            .filter(|f| f.owner == APPLIANCE && f.symbol == aaa);
        let (bought, sold) = fills.fold((0u64, 0u64), |(b, s), f| match f.side {
            types::Side::Buy => (b + f.qty as u64, s),
            types::Side::Sell => (b, s + f.qty as u64),
        });
        let cash = server.venue.cash(APPLIANCE, aaa);
        let venue_pos = server.venue.position(APPLIANCE, aaa);
        let mark = server
            .venue
            .listings()
            .first()
            .and_then(|l| l.engine.best(types::Side::Buy))
            .map_or(0, |(p, _)| p.0);
        let venue_pnl = cash + venue_pos as i128 * mark as i128;
        println!(
            "venue {}: bought {bought}, sold {sold}, position AAA {venue_pos}, pnl {} USD (cash {} + position x best bid {})",
            i + 1,
            usd(venue_pnl),
            usd(cash),
            types::Price(mark)
        );
        position += venue_pos;
        pnl += venue_pnl;
    }
    if !servers.is_empty() {
        println!("pnl: {} USD across {} venue(s)", usd(pnl), servers.len());
        match trade_summary(serial, "AAA") {
            Some(p) if p == position => {
                println!("positions agree: appliance {p} = venues {position}")
            }
            other => println!("POSITIONS DISAGREE: appliance {other:?}, venues {position}"),
        }
    }
    Ok(finish(&outcome))
}

/// The demo's PnL and position over time: two SVG plots and their samples
/// as CSV in `dir`.
fn plot_history(dir: &std::path::Path, history: &[(f64, i64, f64)]) {
    let series = |f: fn(&(f64, i64, f64)) -> f64| -> Vec<(f64, f64)> {
        history.iter().map(|h| (h.0, f(h))).collect()
    };
    let pnl = dir.join("pnl.svg");
    let position = dir.join("position.svg");
    let csv: String = std::iter::once("seconds,position,pnl_usd\n".to_string())
        .chain(
            history
                .iter()
                .map(|(t, q, p)| format!("{t:.3},{q},{p:.4}\n")),
        )
        .collect();
    let written = [
        (
            &pnl,
            companion::render::series_svg(
                "PnL incl. unrealized (USD) over seconds",
                &series(|h| h.2),
            ),
        ),
        (
            &position,
            companion::render::series_svg(
                "Position (shares) over seconds",
                &series(|h| h.1 as f64),
            ),
        ),
        (&dir.join("pnl.csv"), csv),
    ]
    .iter()
    .all(|(path, text)| std::fs::write(path, text).is_ok());
    if written {
        println!(
            "PnL and position plotted in {} and {} (samples in pnl.csv)",
            pnl.display(),
            position.display()
        );
    }
}

fn attach_mailbox(path: &str) -> Option<companion::app::Session> {
    if path == "none" {
        return None;
    }
    companion::app::Session::attach(
        &companion::app::Target::Shm(path.into()),
        Duration::from_secs(1),
        None,
    )
    .ok()
}

/// The appliance's own view under the venue line: its quotes, fills,
/// position and PnL, risk usage and the tick-to-trade histogram so far.
fn appliance_panel(v: &companion::render::View, fills: usize) -> String {
    use std::fmt::Write as _;
    let quotes: Vec<String> = v
        .orders
        .iter()
        .take(4)
        .map(|q| {
            format!(
                "{} {} {}@{} venue {}",
                companion::render::side_name(q.side),
                q.symbol.as_str(),
                q.leaves,
                q.price,
                q.venue.0
            )
        })
        .collect();
    let mut o = format!(
        "\n        quotes: {}",
        if quotes.is_empty() {
            "none".to_string()
        } else {
            quotes.join(" | ")
        }
    );
    let _ = write!(o, "\n        fills: {fills}");
    for p in v.positions.iter().take(2) {
        let pnl = p.realized_pnl.saturating_add(p.unrealized_pnl);
        let _ = write!(
            o,
            " | position {} {} pnl {} USD",
            p.symbol.as_str(),
            p.qty,
            types::Price(pnl)
        );
    }
    o += "\n        risk: ";
    o += match &v.kill {
        Some(k) if k.engaged => "KILL SWITCH ENGAGED",
        Some(_) => "kill switch armed",
        None => "-",
    };
    for l in &v.limits {
        if l.limit > 0 {
            if l.limit >= i64::MAX / 2 {
                let _ = write!(o, " | {} {} (no limit)", l.name, l.usage);
            } else {
                let _ = write!(o, " | {} {}/{}", l.name, l.usage, l.limit);
            }
        }
    }
    if let Some(t) = v
        .latency
        .iter()
        .find(|l| l.name.as_str() == Some("tick-to-trade"))
    {
        let [p50, p99, ..] = companion::render::quantiles(&t.histogram);
        let _ = write!(
            o,
            "\n        tick-to-trade: p50 {} p99 {} ({} orders) {}",
            companion::render::short_ns(p50.unwrap_or(0)),
            companion::render::short_ns(p99.unwrap_or(0)),
            t.histogram.count,
            companion::render::histogram_line(&t.histogram, 16)
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn run_takes_cmdline_after_double_dash() {
        let cli =
            Cli::try_parse_from(["cargo qemu", "run", "--smp", "2", "--", "test", "fault=pf"])
                .expect("parse");
        let Command::Run {
            machine,
            cmdline,
            timeout,
            mailbox,
        } = cli.command
        else {
            panic!("not run");
        };
        assert_eq!(machine.smp, Some(2));
        assert_eq!(cmdline, ["test", "fault=pf"]);
        assert_eq!(timeout, None);
        assert_eq!(mailbox, "/dev/shm/appliance-mailbox");
    }

    #[test]
    fn test_filter_and_defaults() {
        let cli =
            Cli::try_parse_from(["cargo qemu", "test", "pci", "--accel", "kvm"]).expect("parse");
        let Command::Test {
            filter,
            machine,
            timeout,
        } = cli.command
        else {
            panic!("not test");
        };
        assert_eq!(filter.as_deref(), Some("pci"));
        assert!(matches!(machine.accel, AccelArg::Kvm));
        assert_eq!(machine.mem, "512M");
        assert_eq!(timeout, 120.0);
        assert!(Cli::try_parse_from(["cargo qemu", "test", "--accel", "hvf"]).is_err());
    }

    #[test]
    fn bench_boot_defaults_to_eleven_runs() {
        let cli = Cli::try_parse_from(["cargo qemu", "bench-boot"]).expect("parse");
        assert!(matches!(cli.command, Command::BenchBoot { runs: 11, .. }));
    }
}
