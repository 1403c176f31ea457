//! The order path from the appliance: smoltcp TCP over virtio-net, through
//! QEMU's user network (`guestfwd`), to the simulated venue's FIX acceptor
//! running in this test.

use exchange::matching::Owner;
use exchange::server::{FlowRate, Server, SessionSpec};
use exchange::venue::Venue;
use protocol::fix::FixVersion;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tests::qemu::quickfix::{QuickfixVenue, VenueOptions};
use tests::{lab, qemu, Booted};
use types::Price;

const APPLIANCE: Owner = Owner(1);

fn venue() -> Venue {
    Venue::on_lab_feed(*b"ORDERPATH1", &[("AAA", Price(100_0000))], 11)
}

/// The appliance's `fix-probe` run against the FIX acceptor on the host's
/// `port` (QEMU's `guestfwd` puts it at 10.0.2.100:9878 for the guest): it
/// must pass, with every step of the probe on the serial console.
fn probe_the_venue_at(lab: &tests::Lab, name: &str, port: u16) -> Booted {
    let vm = lab.appliance(name, "fix-probe").args([
        "-netdev".to_string(),
        format!("user,id=n1,restrict=on,guestfwd=tcp:10.0.2.100:9878-tcp:127.0.0.1:{port}"),
        "-device".to_string(),
        "virtio-net-pci,netdev=n1,disable-modern=on,mac=52:54:00:00:00:02".to_string(),
    ]);
    let run = lab.boot(vm);
    run.expect_status(qemu::ExitKind::Success);
    let serial = run.serial();
    for step in [
        "fix-probe: tcp connected (nagle off, delayed ack off)",
        "fix-probe: logged on",
        "fix-probe: execution report New for P1",
        "fix-probe: execution report Canceled for P2",
        "fix-probe: done: logon, order acknowledged, cancel confirmed, logout",
    ] {
        run.check(serial.contains(step), &format!("missing step: {step}"));
    }
    run
}

#[test]
fn fix_session_over_smoltcp_to_the_venue() {
    let lab = lab();
    let spec = SessionSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        version: FixVersion::Fix44,
        venue_comp_id: "EXCH".into(),
        client_comp_id: "APPL".into(),
        heart_bt_int_s: 5,
        cancel_on_disconnect: true,
        mass_cancel: true,
        owner: APPLIANCE,
    };
    let server = Server::new(
        venue(),
        vec![spec],
        None,
        FlowRate {
            actions_per_second: 200,
        },
    )
    .unwrap();
    let port = server.session_addrs()[0].port();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(stop, None))
    };
    let run = probe_the_venue_at(lab, "fix-probe", port);
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
    // The venue's own records agree with what the appliance saw.
    let stats = server.stats();
    run.check(
        stats.logons == 1 && stats.orders_received == 1 && stats.cancels_received == 1,
        &format!("{stats:?}"),
    );
    run.check(
        server.venue.open_orders(APPLIANCE) == 0 && server.venue.fills().is_empty(),
        "nothing left open",
    );
    Booted::pass(run);
}

/// The same probe against a venue built on QuickFIX/C++ (`qemu::quickfix`):
/// the appliance's smoltcp transport and FIX session held to an engine that
/// shares no code with ours (our simulated venue runs our session code as
/// the acceptor). The venue rests orders in AAA and takes cancels.
#[test]
fn fix_session_over_smoltcp_to_a_quickfix_venue() {
    let lab = lab();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("quickfix-fix-probe");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut venue = QuickfixVenue::start(&lab.repo, &dir, VenueOptions::for_the_appliance())
        .unwrap_or_else(|e| panic!("the QuickFIX venue: {e}"));
    let run = probe_the_venue_at(lab, "fix-probe-quickfix", venue.port());
    // QuickFIX's side of it: the order and the cancel as it read them, and
    // no session-level Reject of anything of ours.
    for line in [
        "LOGON FIX.4.4:EXCH->APPL",
        "ORDER FIX.4.4 P1 AAA 1 100 ",
        "CANCEL FIX.4.4 P2 P1",
        "LOGOUT FIX.4.4:EXCH->APPL",
    ] {
        let seen = venue.wait_for(line);
        run.check(seen.is_some(), &format!("the venue never said {line:?}"));
    }
    let theirs = venue.messages_from("FIX.4.4", "EXCH");
    run.check(
        !theirs.iter().any(|m| m.contains("|35=3|")),
        &format!("the venue rejected a message of ours: {theirs:?}"),
    );
    Booted::pass(run);
}
