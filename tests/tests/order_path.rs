//! The order path from the appliance: smoltcp TCP over virtio-net, through
//! QEMU's user network (`guestfwd`), to the simulated venue's FIX acceptor
//! running in this test.

use exchange::matching::Owner;
use exchange::server::{FlowRate, Server, SessionSpec};
use exchange::venue::Venue;
use protocol::fix::FixVersion;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tests::{lab, qemu, Booted};
use types::Price;

const APPLIANCE: Owner = Owner(1);

fn venue() -> Venue {
    Venue::on_lab_feed(*b"ORDERPATH1", &[("AAA", Price(100_0000))], 11)
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
    let vm = lab.appliance("fix-probe", "fix-probe").args([
        "-netdev".to_string(),
        format!("user,id=n1,restrict=on,guestfwd=tcp:10.0.2.100:9878-tcp:127.0.0.1:{port}"),
        "-device".to_string(),
        "virtio-net-pci,netdev=n1,disable-modern=on,mac=52:54:00:00:00:02".to_string(),
    ]);
    let run = lab.boot(vm);
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
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
