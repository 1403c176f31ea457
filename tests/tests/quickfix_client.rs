//! The lab's simulated venue (`exchange`: our session code in the acceptor
//! role, which users also run to rehearse against, see the README) held to a
//! client built on QuickFIX/C++ (`qemu::quickfix`): a third-party initiator
//! logs on, sends limit orders that meet the venue's background flow, gets
//! every order's reports and logs out, in FIX 4.4 and 4.2.

use exchange::matching::Owner;
use exchange::server::{FlowRate, Server, SessionSpec};
use exchange::venue::Venue;
use protocol::fix::FixVersion;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use types::Price;

fn the_venue_serves_a_quickfix_client(version: FixVersion, begin_string: &str) {
    let repo = qemu::Repo::locate().expect("the repository root");
    let client =
        qemu::quickfix::build_client(&repo).unwrap_or_else(|e| panic!("the QuickFIX client: {e}"));
    let venue = Venue::on_lab_feed(*b"QFCLIENT01", &[("AAPL", Price(191_2500))], 7);
    let spec = SessionSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        version,
        venue_comp_id: "VENUE".into(),
        client_comp_id: "CLIENT".into(),
        heart_bt_int_s: 1,
        cancel_on_disconnect: true,
        mass_cancel: false,
        owner: Owner(1),
    };
    let server = Server::new(
        venue,
        vec![spec],
        None,
        FlowRate {
            actions_per_second: 50,
        },
    )
    .expect("the venue listens");
    let port = server.session_addrs()[0].port();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(stop, None))
    };
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("quickfix-client-{begin_string}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // Buys above the opening price, so they meet the background's offers.
    let out = Command::new(client)
        .args(["127.0.0.1", &port.to_string()])
        .arg(&dir)
        .args([
            begin_string,
            "CLIENT",
            "VENUE",
            "AAPL",
            "1",
            "100",
            "191.40",
            "5",
        ])
        .output()
        .expect("the client runs");
    stop.store(true, Ordering::Relaxed);
    let server = handle.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("LOGON {begin_string}:CLIENT->VENUE")),
        "{stdout}"
    );
    assert!(stdout.contains("LOGOUT"), "{stdout}");
    assert!(stdout.trim_end().ends_with("DONE"), "{stdout}");
    // Nothing of the client's was refused, at the session or business level.
    assert!(
        !stdout
            .lines()
            .any(|l| l.starts_with("REJECT") || l.starts_with("BMR")),
        "{stdout}"
    );
    // Every order acknowledged (ExecType 0, OrdStatus 0), with its quantity
    // leaving, then as much as traded reported with CumQty and LeavesQty
    // adding up to it.
    for n in 1..=5 {
        let reports: Vec<Vec<&str>> = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("EXEC "))
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f.first() == Some(&format!("C{n}").as_str()))
            .collect();
        assert_eq!(
            reports.first().map(|f| &f[1..]),
            Some(&["0", "0", "0", "100"][..]),
            "C{n}: {stdout}"
        );
        for f in &reports {
            let (cum, leaves): (u32, u32) = (f[3].parse().unwrap(), f[4].parse().unwrap());
            assert!(cum + leaves == 100 || f[2] == "4", "C{n}: {f:?}");
        }
    }
    let stats = server.stats();
    assert_eq!(stats.logons, 1, "{stats:?}");
    assert_eq!(stats.orders_received, 5, "{stats:?}");
    assert!(stats.reports_sent >= 5, "{stats:?}");
}

#[test]
fn the_lab_venue_serves_a_quickfix_client_in_fix_4_4() {
    the_venue_serves_a_quickfix_client(FixVersion::Fix44, "FIX.4.4");
}

#[test]
fn the_lab_venue_serves_a_quickfix_client_in_fix_4_2() {
    the_venue_serves_a_quickfix_client(FixVersion::Fix42, "FIX.4.2");
}
