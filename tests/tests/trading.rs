//! The appliance trading against the simulated venue (`qemu::lab`): ITCH on
//! the feed NIC, FIX on the order NIC, the companion on the mailbox.

use exchange::server::{Loss, Server, ServerStats};
use protocol::mailbox::config::ApplianceConfig;
use qemu::lab::{summary_value, trade_summary, LabConfig, TradingLab, APPLIANCE};
use qemu::quickfix::{QuickfixVenue, VenueOptions};
use qemu::{RunningVm, Vm};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use tests::{lab, qemu, Booted, Mailbox};
use types::Symbol;

/// The appliance's FIX session is up: scenarios act on a trading
/// appliance, not on a booting one.
const LOGGED_ON: &str = "trade: logged on";

/// The appliance waits for its journal (`journal-wait=`): the moment a
/// companion can hand it back.
const ASKS_FOR_ITS_JOURNAL: &str = "trade: waiting up to";

/// How long the appliance's last messages (the logout, the cancels of the
/// closing window) may take to reach the venue after QEMU exits; the
/// venue's records are read only after that.
const LAST_MESSAGES: Duration = Duration::from_millis(300);

/// The venue with the lab's defaults.
fn start_venue() -> TradingLab {
    start_venues(&LabConfig::default())
}

/// Builds the image before the venue(s) open: their market runs from the
/// start, and the first test's build takes minutes.
fn start_venues(config: &LabConfig) -> TradingLab {
    lab();
    TradingLab::start(config).expect("venue")
}

/// The appliance trading `seconds` against `venue` with its scenario's
/// command-line `options` ("" for none); `name` tells its run directory
/// apart.
fn appliance(venue: &TradingLab, name: &str, seconds: u64, options: &str) -> Vm {
    let lab = lab();
    venue
        .appliance_with(&lab.repo, &lab.images.appliance, seconds, options)
        .name(name)
}

/// Starts `vm` and waits (up to the boot timeout) for the serial line
/// `ready`, before which the scenario has nothing to act on; whether it
/// came is for the scenario to check with the rest.
fn spawn_until(vm: Vm, ready: &str) -> (RunningVm, bool) {
    let mut running = vm.spawn().expect("QEMU");
    let came = running
        .wait_for_serial(ready, tests::BOOT_TIMEOUT)
        .is_some();
    (running, came)
}

/// The venue's records, once the appliance's last messages are in.
fn stop_after_the_last_messages(venue: TradingLab) -> Server {
    sleep(LAST_MESSAGES);
    venue.stop().expect("venue stopped cleanly")
}

/// The end of a scenario that acted while the appliance ran: its run, and
/// the venue's records once the appliance's last messages are in.
fn run_to_the_end(running: RunningVm, venue: TradingLab) -> (Booted, Server) {
    let outcome = running.wait().expect("QEMU");
    let server = stop_after_the_last_messages(venue);
    (Booted(outcome), server)
}

/// A directory of the test's own for the files of its run (captures, the
/// journal), under `target/` with the rest of the build's litter.
fn scratch_dir(name: &str) -> PathBuf {
    lab()
        .repo
        .root()
        .join("target")
        .join(qemu::unique_name(name))
}

/// AAA, the listing the lab's market maker quotes.
fn aaa() -> Symbol {
    Symbol::new("AAA").expect("AAA is a symbol")
}

/// The appliance's closing AAA position (its OMS's) checked against the
/// position the venue's fills give, which is returned: the two books of
/// record must agree whatever the scenario did to the session.
fn check_the_position_agrees_with_the_venue(run: &Booted, serial: &str, server: &Server) -> i64 {
    let appliance = trade_summary(serial, "AAA");
    let venue_position = server.venue.position(APPLIANCE, aaa());
    run.check(
        appliance == Some(venue_position),
        &format!("position: appliance {appliance:?}, venue {venue_position}"),
    );
    venue_position
}

/// A boot without a journal takes its ClOrdID epoch from the wall clock:
/// the one after `epoch_from_clock` of the RTC's time at boot (a few
/// seconds later at most), in the top half of the range; and every ClOrdID
/// the venue filled carries it, and names the market maker (strategy 1).
fn check_the_clock_epoch(run: &Booted, serial: &str, server: &Server) {
    let field = |line: &str, prefix: &str| -> Option<u64> {
        line.strip_prefix(prefix)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    };
    let epoch = serial
        .lines()
        .find_map(|l| field(l, "trade: ClOrdID epoch "));
    // "rtc: day D since 1970, HH:MM:SS UTC"
    let rtc_secs = serial.lines().find_map(|l| {
        let rest = l.strip_prefix("rtc: day ")?;
        let (day, rest) = rest.split_once(" since 1970, ")?;
        let hms: Vec<u64> = rest
            .strip_suffix(" UTC")?
            .split(':')
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        Some(
            day.parse::<u64>().ok()? * 86_400
                + hms.first()? * 3_600
                + hms.get(1)? * 60
                + hms.get(2)?,
        )
    });
    let expected = rtc_secs.map(|t| gateway::oms::epoch_from_clock(t * 1_000_000_000) as u64 + 1);
    eprintln!("ClOrdID epoch {epoch:?}, from the RTC's time {expected:?}");
    // Seconds from the RTC's reading to the epoch's, in the epoch's cycle.
    let later = |e: u64, x: u64| (e as i64 - x as i64).rem_euclid((1 << 19) - 1);
    run.check(
        matches!((epoch, expected), (Some(e), Some(x)) if later(e, x) <= 5 && e >= 1 << 19),
        &format!("ClOrdID epoch {epoch:?} from the clock (RTC gives {expected:?})"),
    );
    let fills = server.venue.fills();
    let ids: Vec<_> = fills
        .iter()
        .map(|f| gateway::oms::ClOrdId::parse(f.cl_ord_id.as_bytes()))
        .collect();
    run.check(
        !ids.is_empty()
            && ids.iter().all(|id| {
                id.is_some_and(|id| {
                    Some(id.epoch() as u64) == epoch && id.strategy() == types::StrategyId(1)
                })
            }),
        &format!("the venue's fills carry the epoch and the maker: {ids:?}"),
    );
}

/// Orders, cancels and replaces the venue took: each is one message the
/// appliance counts in `orders-sent`.
fn requests_received(stats: &ServerStats) -> u64 {
    stats.orders_received + stats.cancels_received + stats.replaces_received
}

/// Whether no new order and no replace reached the venue between two
/// readings of its counters (cancels may: they are what pulls quotes).
fn no_new_order_or_replace(earlier: &ServerStats, later: &ServerStats) -> bool {
    later.orders_received == earlier.orders_received
        && later.replaces_received == earlier.replaces_received
}

/// The appliance's `trade: risk-rejects by reason:` line (empty when it
/// printed none): each reason a refusal carried, and how many.
fn risk_rejects(serial: &str) -> &str {
    serial
        .lines()
        .find(|l| l.starts_with("trade: risk-rejects by reason:"))
        .unwrap_or("")
}

/// The usage and the limit on the first row of the companion's `risk`
/// table (LIMIT USAGE LIMIT USED) that starts with `limit`.
fn risk_row(table: &str, limit: &str) -> (Option<i64>, Option<i64>) {
    let words: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with(limit))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let figure = |column: usize| words.get(column).and_then(|w| w.parse::<i64>().ok());
    (figure(1), figure(2))
}

/// How many AAA orders the companion's `orders` listing shows (one row per
/// open order, with its side).
fn aaa_orders_listed(listing: &str) -> usize {
    listing
        .lines()
        .filter(|l| l.contains(" AAA ") && (l.contains(" BUY ") || l.contains(" SELL ")))
        .count()
}

/// Prints the serial lines `keep` picks: the story of a failed scenario at
/// a glance in the test's output, the whole log being long.
fn show_serial_lines(serial: &str, keep: impl Fn(&str) -> bool) {
    for line in serial.lines().filter(|l| keep(l)) {
        eprintln!("{line}");
    }
}

/// The companion's example configuration as the scenarios apply it: less
/// its restricted symbol (GME), which the lab does not list.
fn example_config() -> ApplianceConfig {
    let example = lab().repo.root().join("companion/examples/appliance.toml");
    let mut cfg = companion::config::load(&example, None).expect("example config");
    cfg.risk.restricted_symbols.clear();
    cfg
}

/// Sends `cfg` through `mailbox` without the CLI's own checks; the
/// appliance's reply.
fn apply_config(mailbox: &Mailbox, cfg: &ApplianceConfig) -> String {
    mailbox.apply_raw_config(&companion::config::to_json(cfg).expect("json"))
}

/// Applies the companion's example configuration with a 50-share order
/// size limit (below the market maker's 100-share quotes) and
/// `max_rejects_per_min`; its strategies are left out (they quote 100
/// shares, which the validator does not allow above the limit; the lab's
/// market maker is configured on the command line). The appliance's reply.
fn apply_size_limit_below_the_quotes(mailbox: &Mailbox, max_rejects_per_min: u32) -> String {
    let mut cfg = example_config();
    cfg.risk.max_order_qty = 50;
    cfg.risk.max_rejects_per_min = max_rejects_per_min;
    cfg.strategies.clear();
    apply_config(mailbox, &cfg)
}

/// The appliance trading `seconds` with `mailbox`, once its market maker
/// has quotes at the venue: the run, and whether it logged on.
fn quoting_with_a_mailbox(
    venue: &TradingLab,
    name: &str,
    mailbox: &Mailbox,
    seconds: u64,
) -> (RunningVm, bool) {
    quoting_with(venue, name, mailbox, seconds, "")
}

/// [`quoting_with_a_mailbox`] with the appliance's command-line `options`.
fn quoting_with(
    venue: &TradingLab,
    name: &str,
    mailbox: &Mailbox,
    seconds: u64,
    options: &str,
) -> (RunningVm, bool) {
    let vm = appliance(venue, name, seconds, options).args(mailbox.qemu_args());
    let (running, on) = spawn_until(vm, LOGGED_ON);
    let quoting = std::time::Instant::now() + Duration::from_secs(15);
    while venue.stats_now().orders_received == 0 && std::time::Instant::now() < quoting {
        sleep(Duration::from_millis(50));
    }
    (running, on)
}

/// The appliance made to fail while quoting (`failure`: its
/// `panic-after=` or `fault-after=` option) and run to its end: the run,
/// the companion's `status` from the mailbox the dead guest left (where an
/// operator learns why), and the venue's records.
fn fail_while_quoting(name: &str, failure: &str) -> (Booted, (bool, String), Server) {
    let venue = start_venue();
    let mailbox = Mailbox::new(name);
    let run = lab().boot(appliance(&venue, name, 30, failure).args(mailbox.qemu_args()));
    let status = mailbox.companion(&["status"]);
    sleep(Duration::from_millis(500));
    let server = venue.stop().expect("venue");
    (run, status, server)
}

/// An appliance that died mid-session never logged out, so the venue's
/// cancel on disconnect is all that took its quotes down: it must have
/// taken every one. `died` says how, for the message.
fn check_the_venue_cancelled_on_disconnect(run: &Booted, server: &Server, died: &str) {
    let stats = server.stats();
    run.check(
        stats.orders_received > 0,
        &format!("it was quoting when it {died}"),
    );
    run.check(
        stats.canceled_on_disconnect > 0,
        &format!("the venue cancelled its quotes: {stats:?}"),
    );
    run.check(
        server.venue.open_orders(APPLIANCE) == 0,
        "nothing left open",
    );
}

/// `companion journal --dir dir` on `mailbox`: the companion that keeps
/// the appliance's journal on disk and hands it back when asked.
fn journal_companion(mailbox: &Mailbox, dir: &Path) -> Command {
    let mut command = mailbox.companion_command();
    command.args(["journal", "--dir"]).arg(dir);
    command
}

/// A journal companion serving beside the appliance, as in production: it
/// runs until stopped.
struct JournalKeeper(std::io::Result<Child>);

impl JournalKeeper {
    fn start(mailbox: &Mailbox, dir: &Path) -> JournalKeeper {
        JournalKeeper(
            journal_companion(mailbox, dir)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn(),
        )
    }

    /// Stops it once it has had the time to drain the last events of a
    /// finished run; what it printed.
    fn stop(self) -> String {
        sleep(Duration::from_millis(700));
        match self.0 {
            Ok(mut child) => {
                let _ = child.kill();
                tests::companion_output(child.wait_with_output()).1
            }
            Err(e) => format!("cannot run the companion: {e}"),
        }
    }
}

#[test]
fn quotes_and_fills_agree_with_the_venue() {
    let venue = start_venue();
    let mailbox = Mailbox::new("trade");
    let run = lab().boot(appliance(&venue, "trade", 8, "").args(mailbox.qemu_args()));
    let server = stop_after_the_last_messages(venue);
    // What the appliance published last (just before it exited), as the
    // companion reads it.
    let view = mailbox.view();
    let positions_cli = mailbox.companion(&["positions"]);
    let latency_cli = mailbox.companion(&["latency"]);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    if let Some(line) = s.lines().find(|l| l.starts_with("trade: done: ")) {
        eprintln!("{line}\nvenue: {:?}", server.stats());
    }
    let get = |n| trade_summary(&s, n);
    let sent = get("orders-sent").unwrap_or(-1);
    let stats = server.stats();
    // Two CPUs: the loop trades on core 1 while core 0 keeps house.
    run.check(
        s.contains("trade: trading loop on core 1; core 0 keeps house"),
        "the trading loop ran on a hot core",
    );
    run.check(!s.contains("watchdog:"), "the trading core never stalled");
    run.check(stats.logons >= 1, "the appliance logged on");
    run.check(sent > 0, "the market maker sent orders");
    run.check(
        requests_received(stats) as i64 == sent,
        &format!("venue received {stats:?}, appliance sent {sent}"),
    );
    run.check(
        book_anomalies(&s) == Some(0),
        "the book saw a consistent feed",
    );
    // The close of the window canceled the quotes before the logout.
    run.check(
        s.contains("trade: trading window over: ")
            && !s.contains("still open after")
            && stats.canceled_on_disconnect == 0
            && server.venue.open_orders(APPLIANCE) == 0,
        &format!("nothing left for cancel-on-disconnect: {stats:?}"),
    );
    run.check(get("delivered").unwrap_or(0) > 0, "feed messages delivered");
    // Under TCG the loop runs behind the lab's feed, so receive batches hold
    // several frames and their messages are warmed before they are applied
    // (the book still matched the feed, checked above); the companion shows
    // the same count.
    let warmed = get("feed-warmed").unwrap_or(-1);
    run.check(
        warmed > 0 && warmed <= get("delivered").unwrap_or(0),
        &format!("feed batches warmed: {warmed} messages"),
    );
    // Nothing tripped the kill switch: what the maker tried after the close
    // is refused for the closed session, not counted as kill-switch refusals.
    let rejects = risk_rejects(&s);
    run.check(
        !rejects.contains("KillSwitch"),
        &format!("no kill-switch refusal in a run nothing killed: {rejects}"),
    );
    check_the_clock_epoch(&run, &s, &server);
    // "position AAA N": the appliance's OMS position against the venue's fills.
    let venue_position = check_the_position_agrees_with_the_venue(&run, &s, &server);
    run.check(
        get("unsent") == Some(0),
        "no order was made while the session was down",
    );
    // Through the companion: the same position, and PnL from the same fills.
    // The appliance's realized PnL minus the cost of what it still holds is
    // the cash its fills moved; the venue computes that from its own fills.
    // (avg_px is rounded to a price4 tick, hence |qty| of slack.)
    run.check(
        view.is_ok(),
        &format!("companion attach: {:?}", view.as_ref().err()),
    );
    let Ok(view) = view else { return };
    // The status snapshot (written by core 0) shows the trading core busy.
    let cores = view.status.map(|s| s.cores().to_vec()).unwrap_or_default();
    run.check(
        cores.len() == 2
            && cores[1].state == protocol::mailbox::snapshot::CoreState::Running
            && cores[1].heartbeat > 1_000,
        &format!("cores as the companion sees them: {cores:?}"),
    );
    // Every report the venue sent was usable (ExecutionReports and
    // OrderCancelRejects alike).
    let counter = |name| tests::counter(&view, name);
    run.check(
        counter("reports-unusable") == Some(0) && counter("exec-reports") > Some(0),
        &format!("reports: {:?}", view.counters),
    );
    run.check(
        counter("feed-warmed").is_some_and(|n| n > 0 && n as i64 <= warmed),
        &format!(
            "feed-warmed as the companion sees it: {:?}",
            counter("feed-warmed")
        ),
    );
    let companion_aaa = view
        .positions
        .iter()
        .find(|p| p.symbol.as_str() == "AAA")
        .copied();
    run.check(
        companion_aaa.is_some(),
        "the companion sees an AAA position",
    );
    if let Some(p) = companion_aaa {
        run.check(
            p.qty == venue_position,
            &format!("companion position {p:?}, venue {venue_position}"),
        );
        let appliance_cash = p.realized_pnl as i128 - p.avg_px.0 as i128 * p.qty as i128;
        let venue_cash = server.venue.cash(APPLIANCE, aaa());
        run.check(
            (appliance_cash - venue_cash).abs() <= p.qty.unsigned_abs() as i128,
            &format!("cash from fills: appliance {appliance_cash}, venue {venue_cash} ({p:?})"),
        );
    }
    run.check(
        positions_cli.0 && positions_cli.1.contains("AAA"),
        &format!("companion positions: {}", positions_cli.1),
    );
    // Tick-to-trade telemetry: every stage recorded, in order of the path.
    eprintln!("{}", latency_cli.1);
    for stage in [
        "rx-decode",
        "book",
        "strategy",
        "risk-oms",
        "fix-encode",
        "tx",
        "tick-to-trade",
    ] {
        let h = view
            .latency
            .iter()
            .find(|l| l.name.as_str() == Some(stage))
            .map(|l| l.histogram.count);
        run.check(
            h.is_some_and(|n| n > 0),
            &format!("latency stage {stage}: {h:?} samples"),
        );
    }
    let count = |name: &str| {
        view.latency
            .iter()
            .find(|l| l.name.as_str() == Some(name))
            .map_or(0, |l| l.histogram.count)
    };
    run.check(
        count("tick-to-trade") <= count("fix-encode") && count("fix-encode") <= count("book"),
        "fewer orders than book updates, one tick-to-trade per order turn",
    );
    run.check(
        latency_cli.0 && latency_cli.1.contains("tick-to-trade"),
        &format!("companion latency: {}", latency_cli.1),
    );
    run.pass();
}

/// `companion kill` while quoting: every quote is cancelled by the kill
/// itself, nothing new leaves while it is latched, the companion's risk
/// view says so; `companion rearm` releases it and quoting resumes. As in
/// production a journal companion runs beside the appliance the whole time
/// (it holds the mailbox's control role), so the kill and the re-arm go
/// through its control socket. The venue takes order mass cancels and the
/// appliance is told so (`venue-mass-cancel=on`): the kill cancels the
/// quotes with one OrderMassCancelRequest, and no order needs a cancel of
/// its own (the other kill scenarios cancel order by order).
#[test]
fn kill_switch_from_the_companion_cancels_and_blocks() {
    let venue = start_venue();
    let mailbox = Mailbox::new("kill");
    let vm = appliance(&venue, "kill", 16, "venue-mass-cancel=on").args(mailbox.qemu_args());
    let (mut running, on) = spawn_until(vm, LOGGED_ON);
    // The region exists once the appliance runs.
    let journal = JournalKeeper::start(&mailbox, &scratch_dir("kill-journal"));
    let serving = (0..100).any(|_| {
        sleep(Duration::from_millis(30));
        mailbox.control_socket().exists()
    });
    sleep(Duration::from_secs(3));
    let before_kill = venue.stats_now();
    let kill = mailbox.companion(&["kill"]);
    let killed = running.wait_for_serial("trade: kill switch engaged", Duration::from_secs(10));
    sleep(Duration::from_millis(500));
    let at_kill = venue.stats_now();
    sleep(Duration::from_secs(3));
    let later = venue.stats_now();
    let open_while_killed = venue.open_orders_now();
    let risk_view = mailbox.companion(&["risk"]);
    // Re-armed by the operator, it quotes again.
    let rearm = mailbox.companion(&["rearm"]);
    let rearmed = running.wait_for_serial(
        "trade: kill switch re-armed; trading resumes",
        Duration::from_secs(10),
    );
    sleep(Duration::from_secs(2));
    let after_rearm = venue.stats_now();
    let outcome = running.wait().expect("QEMU");
    let server = venue.stop().expect("venue");
    let journal = journal.stop();
    let run = Booted(outcome);
    run.check(on, "logged on");
    run.check(
        kill.0 && killed.is_some(),
        &format!("kill acknowledged and applied: {}", kill.1),
    );
    run.check(serving, "the journal serves its control socket");
    run.check(
        journal.contains("control: kill from the control socket")
            && journal.contains("control: rearm from the control socket"),
        &format!("the kill and the re-arm went through the running journal: {journal}"),
    );
    run.check(
        before_kill.orders_received > 0,
        "it was trading before the kill",
    );
    // The kill itself cancels the quotes (before any cancel on
    // disconnect), with one mass cancel.
    run.check(
        at_kill.mass_cancels_received == before_kill.mass_cancels_received + 1
            && at_kill.mass_canceled_orders > before_kill.mass_canceled_orders,
        &format!("a mass cancel at the kill: {before_kill:?} then {at_kill:?}"),
    );
    let s = run.serial().to_string();
    let kill_line = |name: &str| summary_value::<u64>(&s, "trade: kill switch: ", name);
    let mass_cancels = kill_line("mass-cancels").unwrap_or(0);
    // The kill's and the close's at the end (a trip of its own), each
    // answered: the close logs out only once its answer came, though the
    // venue reports the orders it canceled first.
    let accepted = kill_line("accepted").unwrap_or(0);
    run.check(
        mass_cancels >= 1
            && accepted == mass_cancels
            && kill_line("canceled-orders").is_some_and(|n| n > 0)
            && kill_line("kill-cancels") == Some(0)
            && kill_line("refused") == Some(0)
            && kill_line("timeouts") == Some(0),
        &format!(
            "every mass cancel answered, no order canceled on its own: {:?}",
            s.lines().find(|l| l.starts_with("trade: kill switch: "))
        ),
    );
    run.check(
        open_while_killed == 0 && later.canceled_on_disconnect == 0,
        &format!("nothing rests at the venue while killed: {open_while_killed} open"),
    );
    run.check(
        no_new_order_or_replace(&at_kill, &later),
        &format!("no new order or replace after the kill: {at_kill:?} then {later:?}"),
    );
    // The companion's risk view: engaged by the operator, nothing open.
    let (open_orders_usage, _) = risk_row(&risk_view.1, "open-orders");
    run.check(
        risk_view.0
            && risk_view.1.contains("kill switch ENGAGED (operator)")
            && open_orders_usage == Some(0),
        &format!("companion risk after the kill: {}", risk_view.1),
    );
    run.check(
        rearm.0 && rearmed.is_some(),
        &format!("re-arm acknowledged and applied: {}", rearm.1),
    );
    run.check(
        after_rearm.orders_received > later.orders_received,
        &format!("quoting again after the re-arm: {later:?} then {after_rearm:?}"),
    );
    run.check(
        server.venue.open_orders(APPLIANCE) == 0,
        "nothing left open at the venue",
    );
    run.pass();
}

#[test]
fn tight_risk_limits_keep_every_violating_order_from_the_venue() {
    let venue = start_venue();
    let dir = scratch_dir("risk-capture");
    std::fs::create_dir_all(&dir).expect("capture dir");
    // The market maker quotes 100 shares; the limit is 50. One CPU: the
    // trading loop keeps house itself (the other layout of `trade.rs`).
    let vm = appliance(&venue, "risk", 5, "risk-max-qty=50")
        .smp(1)
        .args(TradingLab::capture_args(&dir));
    let run = lab().boot(vm);
    let server = stop_after_the_last_messages(venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    let stats = server.stats();
    run.check(
        s.contains("trade: one CPU: the trading loop keeps house between turns"),
        "one CPU: the loop ran on core 0",
    );
    run.check(
        trade_summary(&s, "risk-rejects").unwrap_or(0) > 0,
        "risk refused the oversized quotes",
    );
    run.check(
        stats.logons == 1 && stats.orders_received == 0 && stats.replaces_received == 0,
        &format!("{stats:?}"),
    );
    run.check(
        server.venue.fills().is_empty(),
        "no fill can exist without an order",
    );
    // The order NIC's capture holds the FIX session: a logon and no order.
    let orders = std::fs::read(dir.join("orders.pcap")).unwrap_or_default();
    let has = |needle: &[u8]| orders.windows(needle.len()).any(|w| w == needle);
    run.check(has(b"\x0135=A\x01"), "the capture holds the logon");
    run.check(!has(b"\x0135=D\x01"), "no NewOrderSingle on the wire");
    let _ = std::fs::remove_dir_all(&dir);
    run.pass();
}

/// An entered-volume limit from the companion while trading: once the
/// market maker's orders within the window add up to the limit, further
/// quotes are refused for it (each would pass every other check), so what
/// reaches the venue after the change stays within the limit; the
/// companion's risk view counts the window against it.
#[test]
fn an_entered_volume_limit_from_the_companion_caps_what_reaches_the_venue() {
    const MAX_SHARES: u64 = 1_000;
    const QUOTE_SHARES: u64 = 100;
    let venue = start_venue();
    let mailbox = Mailbox::new("volume-config");
    let (mut running, on) = quoting_with_a_mailbox(&venue, "volume-config", &mailbox, 14);
    let before = venue.stats_now();
    let mut cfg = example_config();
    cfg.risk.max_order_qty = QUOTE_SHARES as u32;
    // The refusals below must not trip the reject-rate kill switch.
    cfg.risk.max_rejects_per_min = 6_000;
    cfg.risk.entered_volume = Some(protocol::mailbox::config::EnteredVolume {
        window_ms: 60_000,
        max_qty: MAX_SHARES,
        max_notional: i64::MAX,
    });
    cfg.strategies.clear();
    let reply = apply_config(&mailbox, &cfg);
    let in_force = running.wait_for_serial(
        "trade: risk limits of configuration generation 1 in force",
        Duration::from_secs(10),
    );
    sleep(Duration::from_secs(5));
    let risk_view = mailbox.companion(&["risk"]);
    let after = venue.stats_now();
    let (run, _server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    run.check(on, "logged on");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.check(in_force.is_some(), "the trading loop adopted the limits");
    run.check(
        before.orders_received > 0,
        &format!("quotes before the change: {before:?}"),
    );
    let rejects = risk_rejects(&s);
    run.check(
        rejects.contains("EnteredVolumeLimit"),
        &format!("quotes refused for the entered volume: {rejects}"),
    );
    // Every new order is a 100-share quote: at most the limit's worth
    // reached the venue after the change (those entered in the second
    // before it count too).
    let new_orders = after.orders_received - before.orders_received;
    run.check(
        new_orders <= MAX_SHARES / QUOTE_SHARES,
        &format!("{new_orders} new orders after the change: {before:?}, then {after:?}"),
    );
    let (used, limit) = risk_row(&risk_view.1, "entered-qty");
    run.check(
        risk_view.0
            && limit == Some(MAX_SHARES as i64)
            && used
                .is_some_and(|u| u > (MAX_SHARES - QUOTE_SHARES) as i64 && u <= MAX_SHARES as i64),
        &format!(
            "the companion's risk view counts the window: {}",
            risk_view.1
        ),
    );
    run.pass();
}

/// `companion config apply` while trading: the risk section reaches the
/// trading core between two messages, the market maker's 100-share quotes
/// are refused from then on (the venue receives no new order or replace),
/// and the companion's risk view shows the new limit.
#[test]
fn risk_limits_from_the_companion_take_effect_while_trading() {
    let venue = start_venue();
    let mailbox = Mailbox::new("risk-config");
    // Quotes out first, so the new limit meets a working market maker.
    let (mut running, on) = quoting_with_a_mailbox(&venue, "risk-config", &mailbox, 12);
    let before = venue.stats_now();
    // The refusals below must not trip the reject-rate kill switch here.
    let reply = apply_size_limit_below_the_quotes(&mailbox, 6_000);
    let in_force = running.wait_for_serial(
        "trade: risk limits of configuration generation 1 in force",
        Duration::from_secs(10),
    );
    // Orders sent before the switch may still be on their way.
    sleep(Duration::from_millis(500));
    let at_switch = venue.stats_now();
    sleep(Duration::from_secs(3));
    let risk_view = mailbox.companion(&["risk"]);
    let after = venue.stats_now();
    let (run, _server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    run.check(on, "logged on");
    run.check(
        before.orders_received > 0,
        &format!("quotes before the change: {before:?}"),
    );
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.check(in_force.is_some(), "the trading loop adopted the limits");
    // The example configuration's venue is not this appliance's: its venues
    // come from the command line, and the configuration's are left alone.
    run.check(
        s.contains(
            "trade: venues of configuration generation 1 not taken: this appliance's venues come from its command line",
        ) && s.matches("trade: logged on to venue 1").count() == 1,
        "the configuration's venues left alone",
    );
    run.check(
        no_new_order_or_replace(&at_switch, &after),
        &format!("no order or replace after the switch: at {at_switch:?}, later {after:?}"),
    );
    let rejects = risk_rejects(&s);
    run.check(
        rejects.contains("MaxOrderQty"),
        &format!("the 100-share quotes were refused for their size: {rejects}"),
    );
    let (_, order_qty) = risk_row(&risk_view.1, "order-qty");
    run.check(
        risk_view.0 && order_qty == Some(50),
        &format!("the companion's risk view: {}", risk_view.1),
    );
    run.pass();
}

/// Risk trips the kill switch on its own: a size limit below the market
/// maker's quotes makes every requote a refusal, and more than the allowed
/// refusals a minute trip it. The quotes already at the venue are cancelled
/// by the trip, the companion sees the appliance killed (reject rate), a
/// re-arm is accepted (the loss limit is not involved), and the refusals
/// trip it again. The appliance is told its venue takes order mass
/// cancels, and the venue does not: it rejects the message type, and each
/// trip's quotes are then cancelled order by order at once.
#[test]
fn a_reject_rate_trip_cancels_the_quotes_and_the_companion_sees_it() {
    let venue = start_venues(&LabConfig {
        venue_mass_cancel: false,
        ..LabConfig::default()
    });
    let mailbox = Mailbox::new("reject-trip");
    let (mut running, on) =
        quoting_with(&venue, "reject-trip", &mailbox, 14, "venue-mass-cancel=on");
    // More than five refusals a minute trip the kill switch.
    let reply = apply_size_limit_below_the_quotes(&mailbox, 5);
    let tripped = running.wait_for_serial(
        "trade: kill switch tripped by risk (reject rate); open orders cancelled",
        Duration::from_secs(10),
    );
    sleep(Duration::from_millis(800));
    let open_while_killed = venue.open_orders_now();
    let status = mailbox.companion(&["status"]);
    let risk_view = mailbox.companion(&["risk"]);
    // The counters the trip left (published every 100 ms).
    sleep(Duration::from_millis(300));
    let (kill_cancels, abandoned) = (
        mailbox.counter("kill-cancels"),
        mailbox.counter("kill-abandoned"),
    );
    let rearm = mailbox.companion(&["rearm"]);
    let rearmed = running.wait_for_serial(
        "trade: kill switch re-armed; trading resumes",
        Duration::from_secs(10),
    );
    sleep(Duration::from_secs(2));
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    run.check(on, "logged on");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.check(tripped.is_some(), "risk tripped the kill switch");
    run.check(
        open_while_killed == 0,
        &format!("the trip cancelled the quotes: {open_while_killed} open"),
    );
    run.check(
        kill_cancels.is_some_and(|n| n > 0) && abandoned == Some(0),
        &format!("the trip's cancels counted: kill-cancels {kill_cancels:?}, kill-abandoned {abandoned:?}"),
    );
    run.check(
        status.1.contains("state      killed"),
        &format!("the companion sees it killed: {}", status.1),
    );
    run.check(
        risk_view.1.contains("kill switch ENGAGED (reject rate)"),
        &format!("companion risk: {}", risk_view.1),
    );
    run.check(
        rearm.0 && rearmed.is_some(),
        &format!("re-arm accepted and applied: {}", rearm.1),
    );
    run.check(
        s.matches("trade: kill switch tripped by risk (reject rate)")
            .count()
            >= 2,
        "the refusals after the re-arm trip it again",
    );
    run.check(
        server.stats().canceled_on_disconnect == 0 && server.venue.open_orders(APPLIANCE) == 0,
        &format!("nothing left at the venue: {:?}", server.stats()),
    );
    // Each trip asked for a mass cancel and took the venue's rejection of
    // it as a refusal (not a timeout); the close's, the last, may be
    // answered after the sessions logged out.
    let kill_line = |name: &str| summary_value::<u64>(&s, "trade: kill switch: ", name);
    let mass_cancels = kill_line("mass-cancels").unwrap_or(0);
    let refused = kill_line("refused").unwrap_or(0);
    run.check(
        refused >= 2
            && refused <= mass_cancels
            && kill_line("accepted") == Some(0)
            && kill_line("timeouts") == Some(0)
            && server.stats().mass_cancels_received == 0,
        &format!(
            "every mass cancel refused by the venue: {:?}",
            s.lines().find(|l| l.starts_with("trade: kill switch: "))
        ),
    );
    run.pass();
}

/// The daily loss limit trips the kill switch in the lab: a market falling
/// steadily (fair prices drift down at 500 % a "day", some 14 ticks a
/// second against ~3.5 of noise) fills the market maker's bids, its
/// position is marked at the mid as the price keeps falling, and with a
/// limit of $1 the loss passes it. The trip cancels every quote; a re-arm
/// is refused while the loss stands, and accepted once the limit is raised.
#[test]
fn a_daily_loss_trip_cancels_and_is_rearmed_only_within_the_limit() {
    let venue = start_venues(&LabConfig {
        drift_bp: -50_000,
        ..LabConfig::default()
    });
    let mailbox = Mailbox::new("loss-trip");
    let (mut running, on) = quoting_with_a_mailbox(&venue, "loss-trip", &mailbox, 16);
    let mut cfg = example_config();
    cfg.risk.max_daily_loss = 10_000; // $1.00 in price4
    let reply = apply_config(&mailbox, &cfg);
    let tripped = running.wait_for_serial(
        "trade: kill switch tripped by risk (daily loss); open orders cancelled",
        Duration::from_secs(10),
    );
    sleep(Duration::from_millis(800));
    let open_while_killed = venue.open_orders_now();
    let risk_view = mailbox.companion(&["risk"]);
    let refused = mailbox.companion(&["rearm"]);
    let still_killed = mailbox.companion(&["status"]);
    // Room for the loss: the re-arm goes through.
    cfg.risk.max_daily_loss = 500_000_000;
    let raised = apply_config(&mailbox, &cfg);
    // The refusal flag follows the limit on the trading core's next turn.
    sleep(Duration::from_millis(300));
    let rearm = mailbox.companion(&["rearm"]);
    let rearmed = running.wait_for_serial(
        "trade: kill switch re-armed; trading resumes",
        Duration::from_secs(10),
    );
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    run.check(on, "logged on");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.check(tripped.is_some(), "the daily loss tripped the kill switch");
    run.check(
        open_while_killed == 0,
        &format!("the trip cancelled the quotes: {open_while_killed} open"),
    );
    run.check(
        risk_view.1.contains("kill switch ENGAGED (daily loss)"),
        &format!("companion risk: {}", risk_view.1),
    );
    run.check(
        !refused.0 && refused.1.contains("daily loss is still beyond its limit"),
        &format!("re-arm refused while the loss stands: {refused:?}"),
    );
    run.check(
        still_killed.1.contains("state      killed"),
        &format!("still killed after the refusal: {}", still_killed.1),
    );
    run.check(raised.contains("Ok"), &format!("raised limit: {raised}"));
    run.check(
        rearm.0 && rearmed.is_some(),
        &format!("re-arm accepted within the limit: {}", rearm.1),
    );
    run.check(
        server.stats().canceled_on_disconnect == 0 && server.venue.open_orders(APPLIANCE) == 0,
        &format!("nothing left at the venue: {:?}", server.stats()),
    );
    run.pass();
}

/// `companion config apply` disabling the market maker mid-session: its
/// quotes are cancelled at the venue at once (not through the kill switch),
/// no new order follows, and the companion lists no open order.
#[test]
fn a_strategy_disabled_from_the_companion_pulls_its_quotes() {
    let venue = start_venue();
    let mailbox = Mailbox::new("disable");
    let (mut running, on) = quoting_with_a_mailbox(&venue, "disable", &mailbox, 12);
    sleep(Duration::from_millis(500));
    let before = venue.stats_now();
    let mut cfg = example_config();
    cfg.risk.max_rejects_per_min = 6_000;
    let mm = &mut cfg.strategies[0];
    mm.enabled = false;
    mm.symbols.clear();
    mm.symbols
        .push(heapless::String::try_from("AAA").expect("symbol"))
        .expect("one symbol");
    let reply = apply_config(&mailbox, &cfg);
    let retuned = running.wait_for_serial(
        "trade: strategies of configuration generation 1: 1 retuned",
        Duration::from_secs(10),
    );
    sleep(Duration::from_millis(1_500));
    let pulled = venue.stats_now();
    let orders = mailbox.companion(&["orders"]);
    sleep(Duration::from_secs(2));
    let later = venue.stats_now();
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    run.check(on, "logged on");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.check(
        retuned.is_some(),
        "the trading loop retuned the market maker",
    );
    run.check(
        pulled.cancels_received > before.cancels_received,
        &format!("quotes cancelled at the venue: before {before:?}, after {pulled:?}"),
    );
    run.check(
        no_new_order_or_replace(&pulled, &later),
        &format!("nothing new while disabled: {pulled:?} then {later:?}"),
    );
    let open = aaa_orders_listed(&orders.1);
    run.check(
        orders.0 && open == 0,
        &format!("no open order while disabled: {}", orders.1),
    );
    run.check(
        !s.contains("kill switch engaged"),
        "pulled by configuration, not by the kill switch",
    );
    // Positions still agree with the venue's fills.
    check_the_position_agrees_with_the_venue(&run, &s, &server);
    run.pass();
}

/// The appliance's final top five levels of AAA, as it printed them.
fn appliance_book(serial: &str) -> Option<String> {
    serial
        .lines()
        .find(|l| l.starts_with("trade: book AAA"))
        .map(|l| l.trim_end().to_string())
}

/// The same rendering from the first `messages` messages the venue published.
fn published_book(server: &exchange::server::Server, messages: u64) -> String {
    use types::{DepthView, Level, Side};
    let mut book = book::Book::with_capacity(book::BookConfig {
        max_orders: 65_536,
        max_levels: 8_192,
    });
    let mut sink: heapless::Vec<types::BookEvent, 8> = heapless::Vec::new();
    for seq in 1..=messages {
        if let Some(bytes) = server.venue.feed.message(seq) {
            if let Ok(m) = protocol::itch::Message::parse(bytes) {
                sink.clear();
                let _ = book.apply_itch(&m, &mut sink);
            }
        }
    }
    let mut line = String::from("trade: book AAA");
    for side in [Side::Buy, Side::Sell] {
        let mut levels = [Level::default(); 5];
        let n = book.depth(1, side, &mut levels);
        line.push_str(if side == Side::Buy { " bids" } else { " asks" });
        for l in &levels[..n] {
            line.push_str(&format!(" {}@{}", l.qty, l.price.0));
        }
    }
    line
}

#[test]
fn feed_loss_on_both_lines_is_recovered_and_the_book_matches() {
    // A loses every third packet; B loses a run and every seventh: some
    // packets are lost on both lines and only retransmission can fill them.
    let config = LabConfig {
        loss_a: Loss {
            drop_every: 3,
            drop_ranges: vec![],
        },
        loss_b: Loss {
            drop_every: 7,
            drop_ranges: vec![30..=60],
        },
        ..LabConfig::default()
    };
    let venue = start_venues(&config);
    let run = lab().boot(appliance(&venue, "feed-loss", 6, ""));
    let server = stop_after_the_last_messages(venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    let delivered = trade_summary(&s, "delivered").unwrap_or(0);
    let stats = server.stats();
    run.check(
        stats.feed_dropped_a > 0 && stats.feed_dropped_b > 0,
        &format!("{stats:?}"),
    );
    run.check(
        trade_summary(&s, "retransmit-requests").unwrap_or(0) > 0,
        "gaps were requested",
    );
    run.check(
        stats.retransmitted_packets > 0,
        "the recovery server answered",
    );
    run.check(
        book_anomalies(&s) == Some(0),
        "no book anomaly after recovery",
    );
    let mine = appliance_book(&s);
    let theirs = published_book(&server, delivered as u64);
    run.check(
        mine.as_deref() == Some(theirs.as_str()),
        &format!("appliance {mine:?}\nvenue     {theirs:?}"),
    );
    run.pass();
}

#[test]
fn an_appliance_panic_is_reported_and_the_venue_cancels_on_disconnect() {
    let (run, status, server) = fail_while_quoting("crash", "panic-after=4");
    run.expect_status(qemu::ExitKind::Failure);
    run.check(status.1.contains("state      panicked"), &status.1);
    run.check(
        status.1.contains("deliberate panic during trading"),
        &status.1,
    );
    check_the_venue_cancelled_on_disconnect(&run, &server, "crashed");
    run.pass();
}

/// A CPU exception on the trading core: the core is parked, its report
/// reaches the companion, core 0 marks the run faulted and ends it, and the
/// venue cancels the quotes on disconnect.
#[test]
fn a_fault_on_the_trading_core_is_reported_and_the_venue_cancels_on_disconnect() {
    let (run, status, server) = fail_while_quoting("fault", "fault-after=4");
    run.expect_status(qemu::ExitKind::Failure);
    run.check(
        run.serial()
            .contains("trade: FAILED: the trading core faulted (vector 6"),
        "core 0 saw the trading core fault",
    );
    run.check(status.1.contains("state      faulted"), &status.1);
    run.check(status.1.contains("invalid opcode"), &status.1);
    check_the_venue_cancelled_on_disconnect(&run, &server, "faulted");
    run.pass();
}

#[test]
fn fix_disconnect_mid_trading_reconnects_without_losing_or_duplicating_orders() {
    let venue = start_venue();
    let (mut running, on) = spawn_until(appliance(&venue, "reconnect", 16, ""), LOGGED_ON);
    sleep(Duration::from_secs(3));
    venue.drop_fix_connection();
    let lost =
        running.wait_for_serial("trade: connection to venue 1 lost", Duration::from_secs(20));
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    let stats = server.stats();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.contains("logged")
            || l.contains("lost")
            || l.contains("session ended")
    });
    eprintln!("venue: {stats:?}");
    run.check(on && lost.is_some(), "logged on, then lost the connection");
    run.check(
        s.matches("trade: logged on to venue 1").count() >= 2,
        "logged on again after the drop",
    );
    run.check(
        stats.dropped_connections == 1 && stats.logons >= 2,
        &format!("{stats:?}"),
    );
    // Every order the appliance sent reached the venue exactly once, but
    // for one still on its way when the connection dropped: the venue
    // cancelled everything on the disconnect, and the appliance gap-fills
    // such a message instead of resending it.
    let sent = trade_summary(&s, "orders-sent").unwrap_or(-1);
    let lost = trade_summary(&s, "lost-with-connection").unwrap_or(-1);
    let received = requests_received(stats) as i64;
    run.check(
        sent > 0 && lost >= 0 && sent == received + lost,
        &format!(
            "appliance sent {sent} ({lost} lost with the connection), venue processed {received}"
        ),
    );
    check_the_position_agrees_with_the_venue(&run, &s, &server);
    run.pass();
}

/// A counter from the appliance's closing `trade: drops:` line.
fn drop_count(serial: &str, name: &str) -> Option<u64> {
    qemu::lab::summary_value(serial, "trade: drops: ", name)
}

/// Feed frames that are wrong in one way each, and the counter that must see them.
fn bad_feed_frames() -> Vec<(&'static str, Vec<u8>)> {
    use protocol::filter::{Subscription, UdpFrameRepr};
    use protocol::{ethernet, ipv4};
    let line_a = Subscription {
        group: ipv4::Address([233, 54, 12, 1]),
        port: 26400,
    };
    let repr = UdpFrameRepr::multicast(
        ethernet::Address([2, 0, 0, 0, 0, 0x66]),
        ipv4::Address([10, 0, 2, 66]),
        5000,
        line_a,
    );
    let frame = |repr: &UdpFrameRepr, payload: &[u8]| {
        let mut buf = vec![0u8; repr.frame_len(payload.len())];
        let n = repr.emit(payload, &mut buf).expect("frame");
        buf.truncate(n);
        buf
    };
    // A MoldUDP64 header alone is 20 bytes: a 7-byte payload is malformed.
    let short_mold = frame(&repr, b"LABDAY0");
    let mut ip_checksum = frame(&repr, &[0u8; 40]);
    ip_checksum[24] ^= 0x5a;
    let mut udp_checksum = frame(&repr, &[0u8; 40]);
    let at = 14 + 20 + 6;
    udp_checksum[at] ^= 0x5a;
    let mut arp = frame(&repr, &[0u8; 28]);
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let mut other_port = repr;
    other_port.dst_port = 9999;
    vec![
        ("feed-truncated", vec![0xff; 9]),
        ("feed-not-ipv4", arp),
        ("feed-ipv4-checksum", ip_checksum),
        ("feed-udp-checksum", udp_checksum),
        ("feed-not-subscribed", frame(&other_port, &[0u8; 40])),
        ("moldudp64-malformed", short_mold),
    ]
}

#[test]
fn bad_inputs_are_counted_and_rejected_while_trading_continues() {
    let venue = start_venue();
    let mailbox = Mailbox::new("bad-inputs");
    let vm = appliance(&venue, "bad-inputs", 12, "").args(mailbox.qemu_args());
    let (running, on) = spawn_until(vm, LOGGED_ON);
    sleep(Duration::from_secs(2));
    let bad_frames = bad_feed_frames();
    let injected = venue.inject_feed(
        &bad_frames
            .iter()
            .map(|(_, f)| f.clone())
            .collect::<Vec<_>>(),
    );
    // A frame with a wrong CheckSum and one whose BodyLength is not a number.
    venue.inject_fix(b"8=FIX.4.4\x019=5\x0135=0\x0110=999\x01");
    venue.inject_fix(b"8=FIX.4.4\x019=zz\x0135=0\x0110=000\x01");
    let config_reply = mailbox.apply_raw_config(b"{\"risk\": {\"max_order_qty\": ");
    let after_injection = venue.stats_now();
    sleep(Duration::from_secs(3));
    let later = venue.stats_now();
    let status = mailbox.companion(&["status"]);
    let orders = mailbox.companion(&["orders"]);
    let top = mailbox.companion(&["top", "--iterations", "2", "--interval-ms", "200"]);
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: d") || l.contains("dropped") || l.contains("logged")
    });
    run.check(on, "logged on");
    run.check(injected.is_ok(), &format!("feed injection: {injected:?}"));
    for (counter, _) in &bad_frames {
        run.check(
            drop_count(&s, counter).is_some_and(|n| n >= 1),
            &format!("{counter} counted"),
        );
    }
    run.check(
        // The bad BodyLength costs two drops: the header, then the rest of
        // the frame found while resynchronising on the next `8=`.
        drop_count(&s, "fix-garbled").is_some_and(|n| n >= 2),
        "both garbled FIX frames counted",
    );
    run.check(
        s.contains("trade: FIX input dropped: "),
        "garbled FIX reported with its reason",
    );
    run.check(
        config_reply.contains("Rejected") && config_reply.contains("JSON ends early"),
        &format!("bad config rejected with a reason: {config_reply}"),
    );
    run.check(
        status.0 && status.1.contains("config     generation 0"),
        &format!("the rejected config changed nothing: {}", status.1),
    );
    // Both NICs with their link and counters, the feed NIC having received.
    let feed_rx = status
        .1
        .lines()
        .skip_while(|l| !l.contains("nic 0"))
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse::<u64>().ok());
    run.check(
        status.1.contains("nics       2")
            && status.1.contains("mac 52:54:00:00:00:01")
            && status.1.contains("mac 52:54:00:00:00:02")
            && feed_rx.is_some_and(|n| n > 0),
        &format!("NICs in status (feed rx {feed_rx:?}): {}", status.1),
    );
    // The market maker's quotes, as the companion lists them.
    let quotes = aaa_orders_listed(&orders.1);
    run.check(
        orders.0 && quotes >= 1,
        &format!("companion orders while quoting: {}", orders.1),
    );
    // The live dashboard on a trading appliance: state, stage latencies and
    // the position.
    run.check(
        top.0
            && top.1.contains("appliance top")
            && top.1.contains("state      running")
            && top.1.contains("tick-to-trade")
            && top.1.contains("AAA"),
        &format!("companion top: {}", top.1),
    );
    // Trading went on: the session stayed up and orders kept flowing. A real
    // message lost with the garbage comes back through ResendRequest; the
    // positions below would disagree otherwise.
    let stats = server.stats();
    eprintln!("venue: {stats:?}");
    run.check(
        stats.logons == 1 && stats.dropped_connections == 0,
        &format!("one session throughout: {stats:?}"),
    );
    run.check(
        later.orders_received + later.replaces_received
            > after_injection.orders_received + after_injection.replaces_received,
        &format!("orders after the bad input: {after_injection:?} then {later:?}"),
    );
    check_the_position_agrees_with_the_venue(&run, &s, &server);
    run.pass();
}

/// Two boots with the journal. In the first the venue also breaks the
/// appliance's last fill and then re-prices the one before (erroneous-trade
/// busts and corrections, reported with ExecRefID); the second starts from
/// the journal with the venue's position and the venue's cash.
#[test]
fn a_restart_with_the_journal_continues_the_fix_session_and_the_position() {
    let venue = start_venue();
    let dir = scratch_dir("journal");
    let mut runs = Vec::new();
    let mut fills_by_round = Vec::new();
    for (round, seconds) in [(1, 10), (2, 6)] {
        let mailbox = Mailbox::new("journal");
        let vm = appliance(
            &venue,
            &format!("journal-{round}"),
            seconds,
            "journal-wait=30",
        )
        .args(mailbox.qemu_args());
        let (running, asked) = spawn_until(vm, ASKS_FOR_ITS_JOURNAL);
        // The companion keeps the journal on disk and hands it back when
        // the appliance asks (its request waits in the event ring).
        let journal = JournalKeeper::start(&mailbox, &dir);
        if round == 1 {
            let deadline = Instant::now() + Duration::from_secs(9);
            while venue.session_fills() < 2 && Instant::now() < deadline {
                sleep(Duration::from_millis(50));
            }
            venue.bust_last_fill();
            sleep(Duration::from_millis(300));
            venue.correct_last_fill_by(100);
        }
        let outcome = running.wait().expect("QEMU");
        // The venue's fills up to here are the first boot's.
        sleep(LAST_MESSAGES);
        fills_by_round.push(venue.session_fills());
        runs.push((asked, Booted(outcome), journal.stop()));
    }
    let server = stop_after_the_last_messages(venue);
    let stats = server.stats();
    let venue_position = server.venue.position(APPLIANCE, aaa());
    let venue_cash = server.venue.cash(APPLIANCE, aaa());
    let fixseq = std::fs::read_to_string(dir.join("fixseq-1.txt")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let on_disk = journaled_next_out(&fixseq);
    let expected = server.expected_from_client(0);
    let (asked1, first, journal1) = &runs[0];
    let (asked2, second, journal2) = &runs[1];
    for (asked, run, journal) in [(asked1, first, journal1), (asked2, second, journal2)] {
        run.expect_status(qemu::ExitKind::Success);
        run.check(*asked, "the appliance asked for its journal");
        run.check(
            journal.contains("handed back"),
            &format!("the companion handed the journal back: {journal}"),
        );
    }
    let s1 = first.serial().to_string();
    let s2 = second.serial().to_string();
    for s in [&s1, &s2] {
        show_serial_lines(s, |l| {
            l.contains("journal") || l.starts_with("trade: done") || l.contains("rejects by reason")
        });
    }
    eprintln!("venue: {stats:?}\nfixseq-1.txt: {fixseq}");
    let p1 = trade_summary(&s1, "AAA");
    let p2 = trade_summary(&s2, "AAA");
    let venue_after_first: i64 = server
        .venue
        .fills()
        .iter()
        .take(fills_by_round.first().copied().unwrap_or(0))
        .filter(|f| f.owner == APPLIANCE && f.symbol == aaa() && !f.busted)
        .map(|f| f.side.sign() * f.qty as i64)
        .sum();
    first.check(
        p1 == Some(venue_after_first),
        &format!("position after the first boot: appliance {p1:?}, venue {venue_after_first}"),
    );
    first.check(
        s1.contains(
            "journal applied: 0 fills, position AAA 0, maker 0, FIX next out 1 next in 1, ClOrdID epoch 1",
        ),
        "the first boot starts from an empty journal",
    );
    // The second boot starts where the first ended: its position, the
    // session's sequence numbers (the venue would refuse a Logon numbered 1)
    // and a fresh ClOrdID epoch.
    let applied = s2
        .lines()
        .find(|l| l.starts_with("trade: journal applied: "))
        .unwrap_or_default();
    second.check(
        p1.is_some_and(|p| applied.contains(&format!("position AAA {p}, maker {p},"))),
        &format!("position carried over, to the maker too ({p1:?}): {applied}"),
    );
    second.check(
        !applied.contains("FIX next out 1 ") && applied.ends_with("ClOrdID epoch 2"),
        &format!("sequence numbers and epoch carried over: {applied}"),
    );
    second.check(
        stats.logons == 2 && stats.session_errors == 0,
        &format!("the venue took the second logon without a sequence problem: {stats:?}"),
    );
    second.check(
        p2 == Some(venue_position),
        &format!("position after both boots: appliance {p2:?}, venue {venue_position}"),
    );
    // The venue broke one fill and re-priced another in the first boot;
    // the appliance applied both and journaled them as the fills they
    // amount to, so after the restart its cash is the venue's (to a price4
    // unit per fill: closing a position takes its cost out by the average
    // price, rounded).
    let adjusted = |s: &str| {
        s.lines()
            .find(|l| l.starts_with("trade: AAA cash "))
            .unwrap_or_default()
            .to_string()
    };
    let (a1, a2) = (adjusted(&s1), adjusted(&s2));
    first.check(
        stats.busts_sent == 1 && stats.corrections_sent == 1,
        &format!("the venue busted one fill and corrected one: {stats:?}"),
    );
    first.check(
        a1.contains(" busts 1 corrections 1 exec-ref-unknown 0"),
        &format!("the appliance applied both: {a1}"),
    );
    let cash2 = a2
        .split_whitespace()
        .nth(3)
        .and_then(|c| c.parse::<i128>().ok());
    let slack = server.venue.fills().len() as i128;
    second.check(
        cash2.is_some_and(|c| (c - venue_cash).abs() <= slack),
        &format!("cash after both boots: appliance {a2}, venue {venue_cash} (± {slack})"),
    );
    // What a third boot would log on with is no lower than the venue expects.
    second.check(
        on_disk.is_some() && on_disk >= expected,
        &format!("journal next out {on_disk:?}, venue expects {expected:?}"),
    );
    for (_, run, _) in runs {
        run.pass();
    }
}

/// A crash mid-session, then a boot with the journal: the venue takes the
/// new Logon (its number is no lower than one the crashed run sent, which
/// the journal's confirmation guarantees whatever the moment of the crash)
/// and the session goes on. The crash comes as the second fill is applied,
/// before its journal record leaves: the venue resends that report after
/// the Logon (the journal's inbound number is below it), and the new boot
/// applies it — once, and no fill the journal already had.
#[test]
fn after_a_crash_the_journal_logs_on_above_every_number_sent() {
    let venue = start_venue();
    let dir = scratch_dir("journal-crash");
    let mut runs = Vec::new();
    for (round, seconds, options) in [
        (1, 30, "journal-wait=30 panic-at-fill=2"),
        (2, 6, "journal-wait=30"),
    ] {
        let mailbox = Mailbox::new("journal-crash");
        let vm = appliance(&venue, &format!("journal-crash-{round}"), seconds, options)
            .args(mailbox.qemu_args());
        let (running, asked) = spawn_until(vm, ASKS_FOR_ITS_JOURNAL);
        let journal = JournalKeeper::start(&mailbox, &dir);
        let outcome = running.wait().expect("QEMU");
        runs.push((asked, Booted(outcome), journal.stop(), venue.stats_now()));
    }
    let server = stop_after_the_last_messages(venue);
    let stats = server.stats().clone();
    let _ = std::fs::remove_dir_all(&dir);
    let (asked1, crashed, _, at_crash) = &runs[0];
    let (asked2, restarted, journal2, _) = &runs[1];
    crashed.expect_status(qemu::ExitKind::Failure);
    crashed.check(*asked1, "the appliance asked for its journal");
    crashed.check(
        crashed.serial().contains("deliberate panic during trading"),
        "it crashed while trading",
    );
    crashed.check(
        at_crash.orders_received > 0 && at_crash.canceled_on_disconnect > 0,
        &format!("it was quoting when it crashed; the venue cancelled: {at_crash:?}"),
    );
    restarted.expect_status(qemu::ExitKind::Success);
    restarted.check(*asked2, "the appliance asked for its journal again");
    restarted.check(
        journal2.contains("handed back"),
        &format!("the companion handed the journal back: {journal2}"),
    );
    let applied = restarted
        .serial()
        .lines()
        .find(|l| l.starts_with("trade: journal applied: "))
        .unwrap_or_default()
        .to_string();
    eprintln!("{applied}\nvenue: {stats:?}");
    restarted.check(
        !applied.contains("FIX next out 1 ") && applied.ends_with("ClOrdID epoch 2"),
        &format!("sequence numbers and epoch carried over the crash: {applied}"),
    );
    restarted.check(
        stats.logons == 2 && stats.session_errors == 0,
        &format!("the venue took the Logon after the crash without a sequence problem: {stats:?}"),
    );
    restarted.check(
        stats.orders_received > at_crash.orders_received,
        &format!("trading went on after the restart: {stats:?}"),
    );
    // The fill the crash kept from the journal came back with the resend.
    let journaled = number_after(&applied, "journal applied: ");
    let resent = restarted
        .serial()
        .lines()
        .find(|l| l.starts_with("trade: earlier boots' fills resent by the venue: "))
        .unwrap_or_default()
        .to_string();
    let recovered = number_after(&resent, "recovered ");
    // Two fills before the crash: the first journaled unless it came in the
    // same turn as the second, the rest recovered.
    restarted.check(
        recovered.is_some_and(|r| r >= 1)
            && journaled.zip(recovered).is_some_and(|(j, r)| j + r == 2)
            && resent.ends_with("unusable 0"),
        &format!("the fills lost with the crash were recovered: {applied} / {resent}"),
    );
    // Fills journaled before the crash, and the reports the venue resent
    // after it, add up to the venue's position.
    check_the_position_agrees_with_the_venue(restarted, restarted.serial(), &server);
    for (_, run, _, _) in runs {
        run.pass();
    }
}

/// The number right after `key` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    line.split(key).nth(1)?.split(' ').next()?.parse().ok()
}

/// `next_out` of a `fixseq-N.txt` journal file ("next_in next_out epoch").
fn journaled_next_out(text: &str) -> Option<u64> {
    text.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn nothing_is_sent_until_the_journal_confirms_sequence_numbers() {
    let venue = start_venue();
    let dir = scratch_dir("journal-confirm");
    let mailbox = Mailbox::new("journal-confirm");
    // The companion cannot write sequence records here (a directory where
    // its temporary file goes): it hands the journal back, then fails on
    // the first reservation and stops without confirming it.
    let blocker = dir.join(".fixseq-1.tmp");
    std::fs::create_dir_all(&blocker).expect("journal dir");
    let vm = appliance(&venue, "journal-confirm", 12, "journal-wait=30").args(mailbox.qemu_args());
    let (mut running, asked) = spawn_until(vm, ASKS_FOR_ITS_JOURNAL);
    let failing = tests::companion_output(journal_companion(&mailbox, &dir).output());
    let waits = running.wait_for_serial(
        "trade: the Logon to venue 1 waits for the journal",
        Duration::from_secs(30),
    );
    // Connected, and nothing confirmed: no message may go, not even the
    // Logon (its number is not durable either).
    sleep(Duration::from_secs(2));
    let held = venue.stats_now();
    // The companion sees the Logon waiting.
    let logons_held = mailbox.counter("logons-held");
    // A companion that can write: the appliance offers its unconfirmed
    // reservation again, the companion writes and confirms it.
    let _ = std::fs::remove_dir(&blocker);
    let journal = JournalKeeper::start(&mailbox, &dir);
    let goes = running.wait_for_serial("trade: logged on to venue 1", Duration::from_secs(30));
    let outcome = running.wait().expect("QEMU");
    // The keeper's 700 ms drain also lets the last messages reach the venue.
    journal.stop();
    let server = venue.stop().expect("venue");
    let stats = server.stats().clone();
    let fixseq = std::fs::read_to_string(dir.join("fixseq-1.txt")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let run = Booted(outcome);
    run.expect_status(qemu::ExitKind::Success);
    run.check(asked, "the appliance asked for its journal");
    run.check(
        !failing.0 && failing.1.contains("handed back 0 journal records"),
        &format!("the first companion handed back, then failed to write: {failing:?}"),
    );
    run.check(waits.is_some(), "the appliance said its Logon waits");
    run.check(
        logons_held == Some(1),
        &format!("the companion saw one Logon held: {logons_held:?}"),
    );
    run.check(
        held.logons == 0 && held.orders_received == 0 && held.replaces_received == 0,
        &format!("no Logon and no order while nothing was confirmed: {held:?}"),
    );
    run.check(goes.is_some(), "logged on once the journal confirmed");
    run.check(
        stats.orders_received > 0,
        &format!("the venue got orders after the confirmation: {stats:?}"),
    );
    let on_disk = journaled_next_out(&fixseq);
    let expected = server.expected_from_client(0);
    run.check(
        on_disk.is_some() && on_disk >= expected,
        &format!("journal next out {on_disk:?}, venue expects {expected:?}"),
    );
    run.check(
        stats.session_errors == 0,
        &format!("no session errors: {stats:?}"),
    );
    run.pass();
}

#[test]
fn a_journal_that_stops_confirming_holds_every_message_below_its_number() {
    let venue = start_venue();
    let dir = scratch_dir("journal-stall");
    let mailbox = Mailbox::new("journal-stall");
    // Reservations of 16: a few seconds of quoting renew them many times,
    // and once the companion is gone the numbers run out within seconds
    // (new orders stop 4 short; heartbeats every 2 s use the rest).
    let vm = appliance(
        &venue,
        "journal-stall",
        24,
        "journal-wait=30 journal-reserve=16",
    )
    .args(mailbox.qemu_args());
    let (mut running, asked) = spawn_until(vm, ASKS_FOR_ITS_JOURNAL);
    let journal = JournalKeeper::start(&mailbox, &dir);
    let on = running.wait_for_serial("trade: logged on to venue 1", Duration::from_secs(30));
    sleep(Duration::from_secs(3));
    let before = venue.stats_now();
    // The companion dies: nothing more is confirmed.
    let keeper_said = journal.stop();
    let waits = running.wait_for_serial("trade: orders wait", Duration::from_secs(20));
    let mut held = None;
    for _ in 0..150 {
        held = mailbox.counter("fix-held-back").filter(|&n| n > 0);
        if held.is_some() {
            break;
        }
        sleep(Duration::from_millis(100));
    }
    let (run, server) = run_to_the_end(running, venue);
    let stats = server.stats().clone();
    let fixseq = std::fs::read_to_string(dir.join("fixseq-1.txt")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let on_disk = journaled_next_out(&fixseq);
    let expected = server.expected_from_client(0);
    eprintln!("journal {fixseq:?}; venue expects {expected:?}; held back {held:?}; {stats:?}");
    run.expect_status(qemu::ExitKind::Success);
    run.check(asked, "the appliance asked for its journal");
    run.check(on.is_some(), "logged on with a working journal");
    run.check(
        before.orders_received > 0 && on_disk.is_some_and(|n| n > 16),
        &format!(
            "quoting renewed the reservation before the stall: {before:?}, journal {fixseq:?}; {keeper_said}"
        ),
    );
    run.check(
        waits.is_some(),
        "new orders stopped short of the confirmed number",
    );
    run.check(
        held.is_some(),
        "the session then held messages back (fix-held-back)",
    );
    // The bound itself: a crash now would log on with the journal's number,
    // above every number the venue has seen.
    run.check(
        on_disk.is_some() && expected.is_some() && expected <= on_disk,
        &format!("venue expects {expected:?}, journal holds {on_disk:?}"),
    );
    run.check(
        stats.session_errors == 0,
        &format!("no garbled input at the venue: {stats:?}"),
    );
    run.pass();
}

/// The words after `venueN` on the appliance's `trade: venues:` line.
/// Each of the two venues received exactly the new orders the appliance's
/// summary says it routed there (a split's children each at its own).
fn check_each_venue_received_what_was_routed(run: &Booted, serial: &str, venues: [&Server; 2]) {
    for (n, server) in (1u8..).zip(venues) {
        let routed = venue_figure(serial, n, "new-orders");
        run.check(
            routed == Some(server.stats().orders_received as i64),
            &format!(
                "venue {n}: routed {routed:?}, received {}",
                server.stats().orders_received
            ),
        );
    }
}

/// The appliance's AAA position is what both venues' fills add up to.
fn check_one_position_across(run: &Booted, serial: &str, venues: [&Server; 2]) {
    let venues_position: i64 = venues
        .iter()
        .map(|v| v.venue.position(APPLIANCE, aaa()))
        .sum();
    let appliance = trade_summary(serial, "AAA");
    run.check(
        appliance == Some(venues_position),
        &format!("position: appliance {appliance:?}, venues {venues_position}"),
    );
}

fn venue_figure(serial: &str, venue: u8, name: &str) -> Option<i64> {
    let line = serial.lines().find(|l| l.starts_with("trade: venues:"))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let start = words.iter().position(|w| *w == format!("venue{venue}"))?;
    words[start + 1..]
        .windows(2)
        .take_while(|w| !w[0].starts_with("venue"))
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
}

#[test]
fn two_venues_quotes_follow_the_rebate_and_leave_a_venue_that_drops() {
    let venues = start_venues(&LabConfig {
        second_venue: true,
        ..LabConfig::default()
    });
    // Venue 2 pays the better maker rebate; latency does not count, so the
    // choice is the fees' and the sessions'.
    let vm = appliance(
        &venues,
        "two-venues",
        16,
        "fees=3000,-1000 fees2=3000,-3000 route-latency-penalty=0",
    );
    let (mut running, on) = spawn_until(vm, "trade: logged on to venue 2");
    // Let quotes rest on venue 2, then cut it off.
    let quoted = (0..100).any(|_| {
        sleep(Duration::from_millis(100));
        venues.stats_of(1).orders_received > 0
    });
    sleep(Duration::from_secs(2));
    let before_drop = (
        venues.stats_of(0).orders_received,
        venues.stats_of(1).orders_received,
    );
    venues.drop_fix_connection_of(1);
    let lost =
        running.wait_for_serial("trade: connection to venue 2 lost", Duration::from_secs(20));
    let outcome = running.wait().expect("QEMU");
    sleep(LAST_MESSAGES);
    let servers = venues.stop_all();
    let run = Booted(outcome);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.starts_with("trade: venues:")
            || l.contains("logged")
            || l.contains("lost")
    });
    run.check(servers.len() == 2, "both venues stopped cleanly");
    let [one, two] = [&servers[0], &servers[1]];
    eprintln!("venue 1: {:?}\nvenue 2: {:?}", one.stats(), two.stats());
    run.check(
        on && s.contains("trade: logged on to venue 1"),
        "logged on to both venues",
    );
    // Venue 2 gets the quotes unless they would cross its own book (its
    // prices drift from venue 1's, which the strategy quotes from) or its
    // reject rate (post-only replaces refused there) rules it out.
    run.check(quoted, "quotes went to venue 2, the better rebate");
    run.check(lost.is_some(), "the appliance saw venue 2 go");
    run.check(
        one.stats().orders_received > before_drop.0,
        &format!(
            "with venue 2 down, its cancelled quotes were replaced on venue 1: {} new orders there, {} before the drop",
            one.stats().orders_received,
            before_drop.0
        ),
    );
    run.check(
        s.matches("trade: logged on to venue 2").count() >= 2 && two.stats().logons >= 2,
        "venue 2 came back",
    );
    // Each venue received exactly the new orders the appliance routed there,
    // and everything sent reached one venue once.
    check_each_venue_received_what_was_routed(&run, &s, [one, two]);
    // (A message still on its way when venue 2's connection dropped never
    // reaches it: the venue cancelled everything on the disconnect, and
    // the appliance gap-fills it instead of resending it.)
    let sent = trade_summary(&s, "orders-sent").unwrap_or(-1);
    let lost = trade_summary(&s, "lost-with-connection").unwrap_or(-1);
    let received: u64 = servers.iter().map(|v| requests_received(v.stats())).sum();
    run.check(
        sent > 0 && lost >= 0 && sent == received as i64 + lost,
        &format!(
            "appliance sent {sent} ({lost} lost with the connection), venues processed {received}"
        ),
    );
    // One position across both venues.
    check_one_position_across(&run, &s, [one, two]);
    run.check(
        venue_figure(&s, 2, "away-book-messages").unwrap_or(0) > 0,
        "venue 2's feed kept its away book",
    );
    run.check(
        book_anomalies(&s) == Some(0),
        "both books saw consistent feeds",
    );
    // Under TCG the loop runs behind both feeds: frames queue up behind the
    // first of a batch, and each feed's are warmed in its own book.
    let warmed = trade_summary(&s, "feed-warmed").unwrap_or(-1);
    let by_venue = [1, 2].map(|v| venue_figure(&s, v, "feed-warmed").unwrap_or(-1));
    run.check(
        by_venue.iter().all(|&n| n > 0)
            && by_venue.iter().sum::<i64>() == warmed
            && warmed <= trade_summary(&s, "delivered").unwrap_or(0),
        &format!("both feeds' batches warmed: {by_venue:?} of {warmed} messages"),
    );
    run.pass();
}

/// A taker beside the maker, against two venues (`taker=`): its IOC
/// orders go out over both FIX sessions, those larger than the primary
/// shows at the price are split into one child per venue, and every
/// child reaches the venue it was routed to. The venues' fills add up to
/// the appliance's position, and the taker saw each of its orders end.
#[test]
fn a_takers_orders_split_across_two_venues_and_the_positions_agree() {
    let venues = start_venues(&LabConfig {
        second_venue: true,
        ..LabConfig::default()
    });
    let vm = appliance(
        &venues,
        "taker-splits",
        16,
        "fees=3000,-1000 fees2=3000,-3000 taker=400",
    );
    let (running, on) = spawn_until(vm, "trade: logged on to venue 2");
    let outcome = running.wait().expect("QEMU");
    sleep(LAST_MESSAGES);
    let servers = venues.stop_all();
    let run = Booted(outcome);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.starts_with("trade: venues:")
            || l.starts_with("trade: taker")
    });
    run.check(servers.len() == 2, "both venues stopped cleanly");
    let [one, two] = [&servers[0], &servers[1]];
    eprintln!("venue 1: {:?}\nvenue 2: {:?}", one.stats(), two.stats());
    run.check(on, "logged on to both venues");
    let taker = |name: &str| summary_value::<i64>(&s, "trade: taker: ", name);
    let (trades, splits, children) = (
        taker("buys").unwrap_or(0) + taker("sells").unwrap_or(0) + taker("flattens").unwrap_or(0),
        taker("splits").unwrap_or(0),
        taker("split-children").unwrap_or(0),
    );
    run.check(trades > 0, &format!("the taker traded: {trades} orders"));
    run.check(
        splits > 0 && children >= 2 * splits,
        &format!("orders split across the venues: {splits}, {children} children"),
    );
    run.check(
        taker("open") == Some(0),
        "every taker order ended for the taker, split or not",
    );
    // Each venue received exactly the new orders routed there (children
    // counted at their own venue).
    check_each_venue_received_what_was_routed(&run, &s, [one, two]);
    check_one_position_across(&run, &s, [one, two]);
    run.check(book_anomalies(&s) == Some(0), "both books whole");
    run.pass();
}

/// Book updates the appliance found inconsistent with its book: 0 when the
/// feed it traded on was whole.
fn book_anomalies(serial: &str) -> Option<i64> {
    trade_summary(serial, "book-anomalies")
}

/// A new trading day on the feed while the appliance runs: the venue
/// expires every order, ends the feed's MoldUDP64 session and opens a new
/// one in which AAA and BBB have swapped stock locates (locates are per
/// day). The appliance clears its book, finds AAA under its new number and
/// quotes AAA again at AAA's prices — it never quotes BBB's market (a fifth
/// of AAA's price) under AAA's old number.
#[test]
fn a_new_feed_day_with_swapped_locates_quotes_aaa_again_at_aaa_s_prices() {
    let venue = start_venue();
    let (running, on) = spawn_until(appliance(&venue, "new-day", 18, ""), LOGGED_ON);
    sleep(Duration::from_secs(5));
    let first_day = venue.stats_now();
    venue.start_new_day();
    let (run, server) = run_to_the_end(running, venue);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    let stats = server.stats();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ") || l.contains("new session") || l.contains("directory")
    });
    eprintln!("venue: {stats:?}");
    run.check(on, "logged on");
    run.check(first_day.orders_received > 0, "quoting on the first day");
    run.check(stats.new_days == 1, "the venue opened a second day");
    run.check(
        s.contains("trade: the feed starts a new session"),
        "the appliance saw the new feed session",
    );
    let received = server.venue.received();
    let second_day: Vec<_> = received.iter().filter(|r| r.day == 2).collect();
    run.check(
        second_day.iter().any(|r| r.symbol == aaa() && !r.replace),
        &format!(
            "quoting AAA again on the second day ({} orders and replaces then)",
            second_day.len()
        ),
    );
    // AAA opens at 100.00 and BBB at 20.00; the lab's walk stays within a
    // few percent of the opening values in a run this short.
    let wrong: Vec<_> = received
        .iter()
        .filter(|r| r.symbol != aaa() || !(80_0000..=120_0000).contains(&r.price.0))
        .collect();
    run.check(
        wrong.is_empty(),
        &format!(
            "every order is for AAA at AAA's prices; not so: {:?}",
            &wrong[..wrong.len().min(5)]
        ),
    );
    check_the_position_agrees_with_the_venue(&run, &s, &server);
    run.pass();
}

/// A price of the venue's text ("100.25") in price4 units.
fn price4(text: &str) -> Option<i64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 4 {
        return None;
    }
    let frac: i64 = format!("{frac:0<4}").parse().ok()?;
    Some(whole.parse::<i64>().ok()? * 10_000 + frac)
}

/// The QuickFIX venue's fills of AAA in `begin_string`'s session, from its
/// FILL lines: (position, cash in price4 units, number of fills), or the
/// line that could not be read.
fn quickfix_fills(said: &[String], begin_string: &str) -> Result<(i64, i128, usize), String> {
    let (mut position, mut cash, mut fills) = (0i64, 0i128, 0);
    let prefix = format!("FILL {begin_string} ");
    for line in said.iter().filter(|l| l.starts_with(&prefix)) {
        // FILL <begin> <ClOrdID> <symbol> <side> <shares> <price>
        let f: Vec<&str> = line.split(' ').collect();
        let parsed = (f.len() == 7 && f[3] == "AAA")
            .then(|| Some((f[5].parse::<i64>().ok()?, price4(f[6])?)))
            .flatten();
        let Some((qty, px)) = parsed else {
            return Err(line.clone());
        };
        let signed = if f[4] == "1" { qty } else { -qty };
        position += signed;
        cash -= signed as i128 * px as i128;
        fills += 1;
    }
    Ok((position, cash, fills))
}

/// The appliance's closing AAA position checked against the fills the
/// QuickFIX venue made in `begin_string`'s session, of which there must be
/// some; the venue's (position, cash), or `None` once a fill line could not
/// be read (a failed check).
fn check_the_position_agrees_with_the_quickfix_venue(
    run: &Booted,
    serial: &str,
    said: &[String],
    begin_string: &str,
) -> Option<(i64, i128)> {
    let (position, cash, fills) = match quickfix_fills(said, begin_string) {
        Ok(totals) => totals,
        Err(line) => {
            run.check(false, &format!("the venue's fill line {line:?}"));
            return None;
        }
    };
    eprintln!("QuickFIX venue: {fills} fills, position {position}");
    run.check(fills > 0, "the venue filled orders of the appliance");
    let appliance = trade_summary(serial, "AAA");
    run.check(
        appliance == Some(position),
        &format!("position: appliance {appliance:?}, QuickFIX venue {position}"),
    );
    Some((position, cash))
}

/// A QuickFIX venue resting AAA orders and half filling every third one.
fn quickfix_venue(dir_name: &str) -> QuickfixVenue {
    let dir = scratch_dir(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    let options = VenueOptions {
        hit_every: 3,
        ..VenueOptions::for_the_appliance()
    };
    QuickfixVenue::start(&lab().repo, &dir, options)
        .unwrap_or_else(|e| panic!("the QuickFIX venue: {e}"))
}

/// The appliance trading on the lab's feed with its orders going to a venue
/// built on QuickFIX/C++ (`qemu::quickfix`) instead of the lab's own, whose
/// acceptor is our session code: the OMS, the router and the session held to
/// an engine that shares nothing with them. The venue rests AAA orders until
/// canceled or replaced (the maker's quotes), half fills every third one as
/// it comes to rest, and fills immediate-or-cancel orders at their price,
/// half and then the rest (the taker's); it sends its fields in tag order.
/// The two books of record must agree: the appliance's position and cash
/// against the fills the venue made, every request the appliance sent read
/// by the venue, nothing refused, nothing left resting at the logout.
#[test]
fn trading_against_a_quickfix_venue_keeps_the_books_in_agreement() {
    trade_at_a_quickfix_venue("4.4", false);
}

/// The same in FIX 4.2 (`venue-fix=4.2`): HandlInst required on orders,
/// ExecTransType and the 4.2 ExecTypes (1 partial fill, 2 fill) on reports.
#[test]
fn trading_against_a_quickfix_venue_in_fix_4_2_keeps_the_books_in_agreement() {
    trade_at_a_quickfix_venue("4.2", false);
}

/// The appliance told the venue takes order mass cancels
/// (`venue-mass-cancel=on`) when it does not: at the close its
/// OrderMassCancelRequest comes back as a BusinessMessageReject (QuickFIX's
/// answer to a message type the application does not take), and the
/// appliance cancels its quotes one by one instead, before the logout.
#[test]
fn a_mass_cancel_the_quickfix_venue_refuses_falls_back_to_cancels() {
    trade_at_a_quickfix_venue("4.4", true);
}

fn trade_at_a_quickfix_venue(version: &str, claim_mass_cancel: bool) {
    let begin = format!("FIX.{version}");
    let feed = start_venue();
    let lab = lab();
    let name = match claim_mass_cancel {
        false => format!("quickfix-{version}"),
        true => format!("quickfix-{version}-mass-cancel"),
    };
    let mut venue = quickfix_venue(&format!("{name}-venue"));
    let mailbox = Mailbox::new(&format!("trade-{name}"));
    let mass_cancel = if claim_mass_cancel { "on" } else { "off" };
    let vm = feed
        .appliance_trading_at(
            &lab.repo,
            &lab.images.appliance,
            8,
            &format!(
                "venue=10.0.2.2:{} venue-fix={version} venue-mass-cancel={mass_cancel} ",
                venue.port()
            ),
            "",
        )
        .name(format!("trade-{name}"))
        .args(mailbox.qemu_args());
    let run = lab.boot(vm);
    let view = mailbox.view();
    let _feed = stop_after_the_last_messages(feed);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    if let Some(line) = s.lines().find(|l| l.starts_with("trade: done: ")) {
        eprintln!("{line}");
    }
    let logout = venue.wait_for(&format!("LOGOUT {begin}:EXCH->APPL"));
    run.check(
        logout == Some(format!("LOGOUT {begin}:EXCH->APPL resting 0")),
        &format!("the quotes were canceled before the logout: {logout:?}"),
    );
    let said = venue.said().to_vec();
    let count = |prefix: &str| said.iter().filter(|l| l.starts_with(prefix)).count();
    let (orders, cancels, replaces) = (
        count(&format!("ORDER {begin} ")),
        count(&format!("CANCEL {begin} ")),
        count(&format!("REPLACE {begin} ")),
    );
    eprintln!("QuickFIX venue: {orders} orders, {cancels} cancels, {replaces} replaces");
    let sent = trade_summary(&s, "orders-sent").unwrap_or(-1);
    run.check(
        orders > 0 && cancels > 0 && replaces > 0,
        "the maker quoted, replaced and canceled",
    );
    run.check(
        (orders + cancels + replaces) as i64 == sent,
        &format!(
            "the venue read {orders} + {cancels} + {replaces} requests, the appliance sent {sent}"
        ),
    );
    // The venue's fills, each at its order's price.
    let Some((position, cash)) =
        check_the_position_agrees_with_the_quickfix_venue(&run, &s, &said, &begin)
    else {
        return;
    };
    // Nothing of the appliance's was refused at the session or business
    // level, and every report was usable.
    let theirs = venue.messages_from(&begin, "EXCH");
    run.check(
        theirs.iter().all(|m| m.contains(&format!("8={begin}|"))),
        "the session ran in the version asked for",
    );
    // Refused: nothing at the session level, and at the business level
    // only the mass cancel it does not take, when the appliance asked.
    let refused: Vec<&String> = theirs
        .iter()
        .filter(|m| m.contains("|35=3|") || (m.contains("|35=j|") && !m.contains("|372=q|")))
        .collect();
    run.check(
        refused.is_empty(),
        &format!("the venue refused a message: {refused:?}"),
    );
    let mass_cancels_refused = theirs
        .iter()
        .filter(|m| m.contains("|35=j|") && m.contains("|372=q|") && m.contains("|380=3|"))
        .count();
    let kill_line = |name| summary_value::<u64>(&s, "trade: kill switch: ", name);
    if claim_mass_cancel {
        run.check(
            mass_cancels_refused >= 1
                && kill_line("mass-cancels") == Some(mass_cancels_refused as u64)
                && kill_line("refused") == Some(mass_cancels_refused as u64),
            &format!(
                "the close's mass cancel refused by the venue ({mass_cancels_refused}) and \
                 counted so: {:?}",
                s.lines().find(|l| l.starts_with("trade: kill switch: "))
            ),
        );
    } else {
        run.check(
            mass_cancels_refused == 0 && kill_line("mass-cancels") == Some(0),
            "no mass cancel asked of a venue the appliance was told does not take them",
        );
    }
    run.check(
        view.is_ok(),
        &format!("companion attach: {:?}", view.as_ref().err()),
    );
    let Ok(view) = view else { return };
    let counter = |name| tests::counter(&view, name);
    run.check(
        counter("reports-unusable") == Some(0) && counter("exec-reports") > Some(0),
        &format!("reports: {:?}", view.counters),
    );
    let aaa = view
        .positions
        .iter()
        .find(|p| p.symbol.as_str() == "AAA")
        .copied();
    if let Some(p) = aaa {
        let appliance_cash = p.realized_pnl as i128 - p.avg_px.0 as i128 * p.qty as i128;
        run.check(
            p.qty == position && (appliance_cash - cash).abs() <= p.qty.unsigned_abs() as i128,
            &format!("cash from fills: appliance {appliance_cash}, venue {cash} ({p:?})"),
        );
    } else {
        run.check(position == 0, "the companion sees the AAA position");
    }
    run.pass();
}

/// The QuickFIX venue crashes mid-trading and comes back on the same port
/// with its store (its sequence numbers) but without the orders that
/// rested in its memory, as a venue that cancels on disconnect: the
/// appliance notices, reconnects with backoff, logs on where both sides
/// left off (recovering any report the crash kept from it through the
/// venue's resend), trades on, and its position and cash still match every
/// fill the venue made in either life.
#[test]
fn a_quickfix_venue_restart_mid_trading_keeps_the_books_in_agreement() {
    let feed = start_venue();
    let lab = lab();
    let mut venue = quickfix_venue("quickfix-restart");
    let vm = feed
        .appliance_trading_at(
            &lab.repo,
            &lab.images.appliance,
            14,
            &format!("venue=10.0.2.2:{} ", venue.port()),
            "",
        )
        .name("trade-quickfix-restart");
    let (mut running, on) = spawn_until(vm, LOGGED_ON);
    sleep(Duration::from_secs(3));
    venue
        .restart(&lab.repo)
        .unwrap_or_else(|e| panic!("restarting the QuickFIX venue: {e}"));
    let lost =
        running.wait_for_serial("trade: connection to venue 1 lost", Duration::from_secs(20));
    let run = Booted(running.wait().expect("QEMU"));
    let _feed = stop_after_the_last_messages(feed);
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.contains("logged")
            || l.contains("lost")
            || l.contains("session ended")
            || l.contains("sent Logout")
    });
    run.check(on && lost.is_some(), "logged on, then lost the connection");
    run.check(
        s.matches("trade: logged on to venue 1").count() >= 2,
        "logged on again after the venue came back",
    );
    let logout = venue.wait_for("LOGOUT FIX.4.4:EXCH->APPL");
    let said = venue.said().to_vec();
    let logons = said
        .iter()
        .filter(|l| l.starts_with("LOGON FIX.4.4:EXCH->APPL"))
        .count();
    run.check(logons >= 2, &format!("the venue saw {logons} logons"));
    run.check(
        logout.as_deref() == Some("LOGOUT FIX.4.4:EXCH->APPL resting 0"),
        &format!("the quotes of the second life were canceled before the logout: {logout:?}"),
    );
    let events = venue.event_log("FIX.4.4");
    run.check(
        !events.contains("too low"),
        &format!("the sequence numbers carried over the restart:\n{events}"),
    );
    // Every fill of both lives.
    check_the_position_agrees_with_the_quickfix_venue(&run, &s, &said, "FIX.4.4");
    run.pass();
}

/// A [`firm_venue_options`] venue with its store in scratch directory
/// `dir_name`.
fn firm_venue(dir_name: &str, password: &str) -> QuickfixVenue {
    let dir = scratch_dir(dir_name);
    std::fs::create_dir_all(&dir).unwrap();
    QuickfixVenue::start(&lab().repo, &dir, firm_venue_options(password))
        .unwrap_or_else(|e| panic!("the QuickFIX venue: {e}"))
}

/// A QuickFIX venue that knows the firm by its own CompIDs (FIRM01 →
/// QFVENUE) and requires its username and `password`; AAA rests there and
/// every third resting order is hit.
fn firm_venue_options(password: &str) -> VenueOptions {
    VenueOptions {
        credentials: Some(("FIRM-USER-1".into(), password.into())),
        venue_comp_id: "QFVENUE".into(),
        client_comp_id: "FIRM01".into(),
        resting: vec!["AAA".into()],
        hit_every: 3,
    }
}

/// The companion's configuration for the firm's session at a
/// [`firm_venue_options`] venue on `port` (no strategies: the lab's market
/// maker is configured on the command line).
fn firm_venue_config(port: u16, password: &str) -> ApplianceConfig {
    let mut cfg = example_config();
    cfg.strategies.clear();
    let v = &mut cfg.venues[0];
    v.host = "10.0.2.2".try_into().unwrap();
    v.port = port;
    v.sender_comp_id = "FIRM01".try_into().unwrap();
    v.target_comp_id = "QFVENUE".try_into().unwrap();
    v.fix_version = protocol::mailbox::config::FixVersion::Fix44;
    v.heartbeat_secs = 2;
    v.username = Some("FIRM-USER-1".try_into().unwrap());
    v.password = protocol::mailbox::config::Secret::new(password);
    cfg
}

/// One FIX 4.4 session across a venue's gateways (`said` is everything
/// the venue printed, at either): no logon refused, the sequence numbers
/// carried from one gateway to the other, and the appliance's position
/// and cash agree with the fills made at both.
fn check_one_session_across_the_gateways(
    run: &Booted,
    venue: &QuickfixVenue,
    serial: &str,
    said: &[String],
) {
    run.check(
        !said.iter().any(|l| l.starts_with("REFUSED")),
        "no logon refused",
    );
    let events = venue.event_log("FIX.4.4");
    run.check(
        !events.contains("too low"),
        &format!("the sequence numbers carried over between the gateways:\n{events}"),
    );
    check_the_position_agrees_with_the_quickfix_venue(run, serial, said, "FIX.4.4");
}

/// The appliance trading `seconds` on `feed`, waiting for the companion's
/// configuration on `mailbox` before it logs on (its command line names a
/// venue address nothing listens on: the configuration's must win). The
/// run, and whether it came to wait.
fn waiting_for_the_configuration(
    feed: &TradingLab,
    name: &str,
    mailbox: &Mailbox,
    seconds: u64,
) -> (RunningVm, bool) {
    let lab = lab();
    let vm = feed
        .appliance_trading_at(
            &lab.repo,
            &lab.images.appliance,
            seconds,
            "venue=10.0.2.2:1 config-wait=60 ",
            "",
        )
        .name(name)
        .args(mailbox.qemu_args());
    spawn_until(vm, "trade: waiting up to 60 s for the configuration")
}

/// The venue sessions' identity from the companion's configuration
/// (`config-wait=`): the appliance waits for it before logging on and logs
/// on as the configured SenderCompID to the configured TargetCompID, at the
/// configured address, with the configured username and the password the
/// companion filled in from its secrets file, both of which a QuickFIX venue
/// requires. The password is never printed.
#[test]
fn the_venue_sessions_take_their_identity_from_the_configuration() {
    const PASSWORD: &str = "s3cret-from-the-secrets-file";
    let feed = start_venue();
    let mut venue = firm_venue("quickfix-configured", PASSWORD);
    let mailbox = Mailbox::new("trade-configured");
    let (running, waiting) = waiting_for_the_configuration(&feed, "trade-configured", &mailbox, 8);
    let reply = apply_config(&mailbox, &firm_venue_config(venue.port(), PASSWORD));
    let (run, _feed) = run_to_the_end(running, feed);
    run.check(waiting, "the appliance waited for its configuration");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    run.check(
        s.contains(
            "trade: venue 1 session FIRM01 -> QFVENUE FIX 4.4 heartbeat 2 s, user FIRM-USER-1, with a password (configuration)",
        ),
        "the session as configured",
    );
    run.check(!s.contains(PASSWORD), "the password is never printed");
    let logon = venue.wait_for("LOGON FIX.4.4:QFVENUE->FIRM01");
    run.check(
        logon.is_some(),
        &format!("the venue took the logon: {:?}", venue.said()),
    );
    let refused = venue.said().iter().any(|l| l.starts_with("REFUSED"));
    run.check(!refused, "no logon refused");
    let said = venue.said().to_vec();
    check_the_position_agrees_with_the_quickfix_venue(&run, &s, &said, "FIX.4.4");
    run.pass();
}

/// A venue's backup gateway with a rotated password, named by a
/// configuration applied while trading: the appliance, whose venue session
/// took its identity from the configuration, says the next logon goes to
/// the new address with a new password and stays logged on where it is.
/// The primary goes down; the backup takes over the session's store on
/// another port and requires the new password. The appliance reconnects
/// there, logs on with the new password where the sequence numbers stood,
/// trades on, and its position agrees with the fills of both gateways.
/// Neither password is ever printed. Without the configuration's change
/// the appliance would knock at the dead gateway until the end.
#[test]
fn a_configuration_moves_the_next_logon_to_the_backup_gateway_with_a_rotated_password() {
    const FIRST: &str = "first-secret-0451";
    const ROTATED: &str = "rotated-secret-7773";
    let feed = start_venue();
    let lab = lab();
    let mut venue = firm_venue("quickfix-backup-gateway", FIRST);
    let mailbox = Mailbox::new("trade-backup-gateway");
    let (mut running, waiting) =
        waiting_for_the_configuration(&feed, "trade-backup-gateway", &mailbox, 16);
    let mut cfg = firm_venue_config(venue.port(), FIRST);
    let first_reply = apply_config(&mailbox, &cfg);
    let on = running.wait_for_serial(LOGGED_ON, tests::BOOT_TIMEOUT);
    sleep(Duration::from_secs(2));
    // The backup gateway's port and the rotated password, while logged on.
    let backup_port = qemu::quickfix::free_port().expect("a free port");
    let v = &mut cfg.venues[0];
    v.port = backup_port;
    v.password = protocol::mailbox::config::Secret::new(ROTATED);
    let second_reply = apply_config(&mailbox, &cfg);
    let moved = running.wait_for_serial(
        "trade: venue 1: configuration generation",
        Duration::from_secs(10),
    );
    sleep(Duration::from_secs(1));
    let still_on_the_primary = venue.said().iter().all(|l| !l.starts_with("LOGOUT"));
    venue
        .restart_as(&lab.repo, backup_port, firm_venue_options(ROTATED))
        .unwrap_or_else(|e| panic!("the backup gateway: {e}"));
    let lost =
        running.wait_for_serial("trade: connection to venue 1 lost", Duration::from_secs(20));
    // Logged on at the backup: a configuration naming another SenderCompID
    // is another session, left for a restart; this one trades on.
    let deadline = Instant::now() + Duration::from_secs(20);
    while running.serial_so_far().matches(LOGGED_ON).count() < 2 && Instant::now() < deadline {
        sleep(Duration::from_millis(100));
    }
    let mut other = cfg.clone();
    other.venues[0].sender_comp_id = "FIRM02".try_into().unwrap();
    let third_reply = apply_config(&mailbox, &other);
    let kept = running.wait_for_serial(
        "trade: venue 1: configuration generation 3 names other CompIDs or another FIX version, another session: it takes effect at a restart",
        Duration::from_secs(10),
    );
    let run = Booted(running.wait().expect("QEMU"));
    let _feed = stop_after_the_last_messages(feed);
    run.check(waiting, "the appliance waited for its configuration");
    run.check(
        first_reply.contains("Ok") && second_reply.contains("Ok") && third_reply.contains("Ok"),
        &format!("config replies: {first_reply} / {second_reply} / {third_reply}"),
    );
    run.check(
        kept.is_some(),
        "other CompIDs said to take a restart, the session kept",
    );
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.contains("logged")
            || l.contains("lost")
            || l.contains("configuration generation")
    });
    run.check(on.is_some(), "logged on to the primary");
    run.check(
        moved.as_deref().is_some_and(|l| {
            l.contains(&format!(
                "trade: venue 1: configuration generation 2 takes effect at the next logon: gateway 10.0.2.2:{backup_port} (no backup), a new password"
            ))
        }),
        &format!("the change said, for the next logon: {moved:?}"),
    );
    run.check(
        still_on_the_primary,
        "the session stayed logged on to the primary after the change",
    );
    run.check(lost.is_some(), "the primary went down");
    run.check(
        s.matches("trade: logged on to venue 1").count() >= 2,
        "logged on again, at the backup gateway",
    );
    run.check(
        !s.contains(FIRST) && !s.contains(ROTATED),
        "neither password is ever printed",
    );
    let said = venue.said().to_vec();
    let logons = said
        .iter()
        .filter(|l| l.starts_with("LOGON FIX.4.4:QFVENUE->FIRM01"))
        .count();
    run.check(
        logons >= 2,
        &format!("both gateways took a logon ({logons}): {said:?}"),
    );
    run.check(
        s.matches(LOGGED_ON).count() == logons && !said.iter().any(|l| l.contains("FIRM02")),
        "no logon as the other session's CompID",
    );
    check_one_session_across_the_gateways(&run, &venue, &s, &said);
    run.pass();
}

/// A venue with two gateways in the configuration: attempts take turns
/// between them. The first gateway is down at the start, so the appliance
/// logs on at the backup; then the backup goes down and the venue comes
/// back at the first gateway with the sessions' store, and the appliance
/// logs on there, where the sequence numbers stood. Its position agrees
/// with the fills of both.
#[test]
fn a_venue_with_two_gateways_is_reached_at_whichever_is_up() {
    let feed = start_venue();
    let lab = lab();
    const PASSWORD: &str = "two-gateways-secret";
    // Nothing listens on the first gateway's port yet.
    let first = qemu::quickfix::free_port().expect("a free port");
    let mut venue = firm_venue("quickfix-two-gateways", PASSWORD);
    let backup = venue.port();
    let mailbox = Mailbox::new("trade-two-gateways");
    let (mut running, waiting) =
        waiting_for_the_configuration(&feed, "trade-two-gateways", &mailbox, 16);
    let mut cfg = firm_venue_config(first, PASSWORD);
    cfg.venues[0].backup = Some(protocol::mailbox::config::Gateway {
        host: "10.0.2.2".try_into().unwrap(),
        port: backup,
    });
    let reply = apply_config(&mailbox, &cfg);
    let on = running.wait_for_serial(LOGGED_ON, tests::BOOT_TIMEOUT);
    sleep(Duration::from_secs(2));
    // The backup goes down; the venue comes back at the first gateway.
    venue
        .restart_as(&lab.repo, first, firm_venue_options(PASSWORD))
        .unwrap_or_else(|e| panic!("the first gateway: {e}"));
    let lost =
        running.wait_for_serial("trade: connection to venue 1 lost", Duration::from_secs(20));
    let run = Booted(running.wait().expect("QEMU"));
    let _feed = stop_after_the_last_messages(feed);
    run.check(waiting, "the appliance waited for its configuration");
    run.check(reply.contains("Ok"), &format!("config reply: {reply}"));
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    show_serial_lines(&s, |l| {
        l.starts_with("trade: done: ")
            || l.contains("logged")
            || l.contains("lost")
            || l.contains("connected to")
            || l.contains("gateways")
    });
    run.check(
        s.contains(&format!(
            "trade: venue 1 gateways 10.0.2.2:{first} and 10.0.2.2:{backup} (attempts take turns)"
        )),
        "both gateways said",
    );
    let at_backup = s.find(&format!("trade: connected to venue 1 at 10.0.2.2:{backup}"));
    let at_first = s.find(&format!("trade: connected to venue 1 at 10.0.2.2:{first}"));
    run.check(
        on.is_some() && at_backup.is_some(),
        "logged on at the backup while the first gateway was down",
    );
    run.check(lost.is_some(), "the backup went down");
    run.check(
        at_first.is_some() && at_first > at_backup,
        "connected at the first gateway once it was back",
    );
    run.check(
        s.matches(LOGGED_ON).count() >= 2,
        "logged on at both gateways",
    );
    let said = venue.said().to_vec();
    check_one_session_across_the_gateways(&run, &venue, &s, &said);
    run.pass();
}
