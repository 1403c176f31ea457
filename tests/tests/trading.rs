//! The appliance trading against the simulated venue: ITCH over the feed
//! NIC (QEMU `dgram` netdev to the venue's UDP socket), FIX over the order
//! NIC (QEMU user network `guestfwd` to the venue's TCP port).

use exchange::feed::{FeedConfig, Publisher};
use exchange::flow::FlowConfig;
use exchange::matching::Owner;
use exchange::server::{FeedSpec, FlowRate, Loss, Server, SessionSpec};
use exchange::venue::Venue;
use protocol::filter::Subscription;
use protocol::fix::FixVersion;
use protocol::{ethernet, ipv4};
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tests::{lab, qemu, Booted};
use types::{Price, Symbol};

const APPLIANCE: Owner = Owner(1);

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// Value after `name` in the appliance's `trade: done:` line.
fn summary(serial: &str, name: &str) -> Option<i64> {
    let line = serial.lines().find(|l| l.starts_with("trade: done: "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
}

fn run_trading(name: &str, seconds: u64, loss_a: Loss, loss_b: Loss) -> (Booted, Server) {
    let lab = lab();
    let feed = Publisher::new(FeedConfig {
        session: *b"LABDAY0001",
        src_mac: ethernet::Address([2, 0, 0, 0, 0, 9]),
        src_addr: ipv4::Address([10, 0, 2, 100]),
        src_port: 5000,
        line_a: Subscription {
            group: ipv4::Address([233, 54, 12, 1]),
            port: 26400,
        },
        line_b: Subscription {
            group: ipv4::Address([233, 54, 12, 2]),
            port: 26401,
        },
        max_payload: 1200,
    });
    let mut venue = Venue::new(
        feed,
        &[("AAA", Price(100_0000)), ("BBB", Price(20_0000))],
        Price(100),
        FlowConfig::default(),
        21,
    );
    venue.open();
    let guest_port = free_udp_port();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let venue_feed_port = socket.local_addr().unwrap().port();
    let feed = FeedSpec {
        socket,
        guest: format!("127.0.0.1:{guest_port}").parse().unwrap(),
        loss_a,
        loss_b,
        recovery_addr: ipv4::Address([10, 0, 2, 200]),
        recovery_port: 26500,
        heartbeat_every: Duration::from_millis(200),
    };
    let session = SessionSpec {
        listen: "127.0.0.1:0".parse().unwrap(),
        version: FixVersion::Fix44,
        venue_comp_id: "EXCH".into(),
        client_comp_id: "APPL".into(),
        heart_bt_int_s: 5,
        cancel_on_disconnect: true,
        owner: APPLIANCE,
    };
    let server = Server::new(
        venue,
        vec![session],
        Some(feed),
        FlowRate {
            actions_per_second: 300,
        },
    )
    .unwrap();
    let fix_port = server.session_addrs()[0].port();
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        std::thread::spawn(move || server.run(stop, None))
    };
    let vm = lab.appliance(name, &format!("trade={seconds}")).args([
        "-netdev".to_string(),
        format!(
            "dgram,id=feed,local.type=inet,local.host=127.0.0.1,local.port={guest_port},remote.type=inet,remote.host=127.0.0.1,remote.port={venue_feed_port}"
        ),
        "-device".to_string(),
        "virtio-net-pci,netdev=feed,disable-modern=on,addr=0x05,mac=52:54:00:00:00:01".to_string(),
        "-netdev".to_string(),
        format!("user,id=orders,restrict=on,guestfwd=tcp:10.0.2.100:9878-tcp:127.0.0.1:{fix_port}"),
        "-device".to_string(),
        "virtio-net-pci,netdev=orders,disable-modern=on,addr=0x06,mac=52:54:00:00:00:02".to_string(),
    ]);
    let run = lab.boot(vm);
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    (run, handle.join().unwrap())
}

#[test]
fn quotes_and_fills_agree_with_the_venue() {
    let (run, server) = run_trading("trade", 8, Loss::default(), Loss::default());
    run.expect_status(qemu::ExitKind::Success);
    let s = run.serial().to_string();
    if let Some(line) = s.lines().find(|l| l.starts_with("trade: done: ")) {
        eprintln!("{line}\nvenue: {:?}", server.stats());
    }
    let get = |n| summary(&s, n);
    let sent = get("orders-sent").unwrap_or(-1);
    let stats = server.stats();
    run.check(stats.logons >= 1, "the appliance logged on");
    run.check(sent > 0, "the market maker sent orders");
    run.check(
        (stats.orders_received + stats.cancels_received + stats.replaces_received) as i64 == sent,
        &format!("venue received {:?}, appliance sent {sent}", stats),
    );
    run.check(
        get("book-anomalies") == Some(0),
        "the book saw a consistent feed",
    );
    run.check(get("delivered").unwrap_or(0) > 0, "feed messages delivered");
    let aaa = Symbol::new("AAA").unwrap();
    // "position AAA N": the appliance's OMS position against the venue's fills.
    let appliance = summary(&s, "AAA");
    let venue = server.venue.position(APPLIANCE, aaa);
    run.check(
        appliance == Some(venue),
        &format!("position: appliance {appliance:?}, venue {venue}"),
    );
    run.check(
        get("unsent") == Some(0),
        "no order was made while the session was down",
    );
    run.pass();
}
