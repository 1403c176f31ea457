//! The NIC path in QEMU: virtio-net on a `dgram` netdev whose other end is
//! this test's UDP socket, one raw Ethernet frame per datagram.

use std::collections::HashMap;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tests::{lab, qemu, Booted};

const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
const HOST_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];

/// A frame to the guest carrying sequence number `seq` and `len` bytes in all.
fn frame(dst: [u8; 6], seq: u32, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&HOST_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&seq.to_be_bytes());
    let mut x = seq.wrapping_mul(2_654_435_761) | 1;
    while f.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        f.push(x as u8);
    }
    f
}

fn echo_of(sent: &[u8]) -> Vec<u8> {
    let mut e = sent.to_vec();
    e[..6].copy_from_slice(&sent[6..12]);
    e[6..12].copy_from_slice(&sent[..6]);
    e
}

/// A free UDP port on loopback for QEMU's end (bound, then released).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn counter(serial: &str, name: &str) -> Option<u64> {
    let line = serial.lines().find(|l| l.starts_with("echo: rx "))?;
    let words: Vec<&str> = line
        .trim_start_matches("echo: ")
        .split_whitespace()
        .collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
}

#[test]
fn virtio_net_echoes_filters_and_survives_a_burst() {
    let lab = lab();
    let host = UdpSocket::bind("127.0.0.1:0").unwrap();
    host.set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let host_port = host.local_addr().unwrap().port();
    let guest_port = free_port();
    let netdev = format!(
        "dgram,id=n0,local.type=inet,local.host=127.0.0.1,local.port={guest_port},remote.type=inet,remote.host=127.0.0.1,remote.port={host_port}"
    );
    let vm = lab.appliance("nic-echo", "echo").args([
        "-netdev".to_string(),
        netdev,
        "-device".to_string(),
        "virtio-net-pci,netdev=n0,disable-modern=on,mac=52:54:00:12:34:56".to_string(),
    ]);
    let mut running = vm
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start QEMU: {e}"));
    let ready = running.wait_for_serial("echo: ready", tests::BOOT_TIMEOUT);
    assert!(
        ready.is_some(),
        "the appliance never reported its NIC ready"
    );
    let guest = ("127.0.0.1", guest_port);

    let mut expected: HashMap<u32, Vec<u8>> = HashMap::new();
    // Echoes are read on their own thread from the start, so a burst never
    // overflows this socket's receive buffer while the test is sending.
    let received: Arc<Mutex<HashMap<u32, Vec<u8>>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (received, done, host) = (received.clone(), done.clone(), host.try_clone().unwrap());
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while !done.load(Ordering::Relaxed) {
                if let Ok(n) = host.recv(&mut buf) {
                    if n >= 18 {
                        let s = u32::from_be_bytes([buf[14], buf[15], buf[16], buf[17]]);
                        received.lock().unwrap().insert(s, buf[..n].to_vec());
                    }
                }
            }
        })
    };
    let mut seq = 0u32;
    // Waits until `want` echoes are in, or none arrived for a second.
    let settle = |want: usize, limit: Duration| {
        let until = Instant::now() + limit;
        let (mut last, mut since) = (0, Instant::now());
        while Instant::now() < until {
            let n = received.lock().unwrap().len();
            if n >= want {
                return;
            }
            if n != last {
                (last, since) = (n, Instant::now());
            } else if since.elapsed() > Duration::from_secs(1) && n > 0 {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };

    // 1. Every size from minimum to maximum, paced: all must come back exact.
    for len in (60..=1514).step_by(29).chain([1514]) {
        let f = frame(GUEST_MAC, seq, len);
        host.send_to(&f, guest).unwrap();
        expected.insert(seq, echo_of(&f));
        seq += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let paced = expected.len();
    // Frames the appliance must filter, not echo.
    host.send_to(&frame([0xff; 6], 90_000, 64), guest).unwrap();
    host.send_to(
        &frame([0x01, 0x00, 0x5e, 0x36, 0x0c, 0x01], 90_001, 64),
        guest,
    )
    .unwrap();
    host.send_to(
        &frame([0x01, 0x00, 0x5e, 0x36, 0x0c, 0x02], 90_002, 64),
        guest,
    )
    .unwrap();
    host.send_to(
        &frame([0x52, 0x54, 0x00, 0x99, 0x99, 0x99], 90_003, 64),
        guest,
    )
    .unwrap();
    settle(paced, Duration::from_secs(30));
    for s in 0..paced as u32 {
        assert_eq!(
            received.lock().unwrap().get(&s),
            expected.get(&s),
            "echo of frame {s} missing or altered"
        );
    }

    // 2. A burst far larger than the receive ring (128 slots), unpaced.
    let burst_start = seq;
    for _ in 0..2_000 {
        let f = frame(GUEST_MAC, seq, 60 + (seq as usize * 7) % 1400);
        host.send_to(&f, guest).unwrap();
        expected.insert(seq, echo_of(&f));
        seq += 1;
    }
    settle(expected.len(), Duration::from_secs(30));
    // 3. Nothing hangs: paced frames after the burst all come back.
    let after_start = seq;
    for _ in 0..20 {
        let f = frame(GUEST_MAC, seq, 200);
        host.send_to(&f, guest).unwrap();
        expected.insert(seq, echo_of(&f));
        seq += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
    let want = received.lock().unwrap().len() + 20;
    settle(want, Duration::from_secs(30));
    let received = received.lock().unwrap().clone();
    for s in after_start..seq {
        assert_eq!(
            received.get(&s),
            expected.get(&s),
            "echo of post-burst frame {s}"
        );
    }
    // Whatever came back from the burst is byte-exact too.
    let burst_back = (burst_start..after_start)
        .filter(|s| received.contains_key(s))
        .count();
    for s in burst_start..after_start {
        if let Some(got) = received.get(&s) {
            assert_eq!(Some(got), expected.get(&s), "burst echo {s} altered");
        }
    }
    assert!(
        received.keys().all(|s| *s < 90_000),
        "a filtered frame was echoed"
    );

    // Stop: the appliance prints its counters and exits successfully.
    let mut stop = Vec::new();
    stop.extend_from_slice(&GUEST_MAC);
    stop.extend_from_slice(&HOST_MAC);
    stop.extend_from_slice(&[0x88, 0xb5]);
    stop.extend_from_slice(b"STOP");
    stop.resize(60, 0);
    host.send_to(&stop, guest).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut serial = String::new();
    while Instant::now() < deadline && !serial.contains("echo: rx ") {
        serial = running
            .wait_for_serial("echo: rx ", Duration::from_millis(500))
            .unwrap_or_default();
    }
    std::thread::sleep(Duration::from_millis(200));
    done.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let late = received_after_stop(&host);
    let outcome = match running.wait() {
        Ok(o) => o,
        Err(e) => panic!("QEMU: {e}"),
    };
    let run = Booted(outcome);
    run.expect_status(qemu::ExitKind::Success);
    let serial = run.serial().to_string();
    let c = |name| counter(&serial, name);
    let echoed = c("echoed").unwrap_or(u64::MAX);
    let tx = c("tx").unwrap_or(u64::MAX);
    let rx = c("rx").unwrap_or(u64::MAX);
    run.check(
        c("broadcast") == Some(1) && c("multicast") == Some(2) && c("other-mac") == Some(1),
        "filter counters",
    );
    let tx_dropped = c("tx-dropped").unwrap_or(u64::MAX);
    run.check(
        echoed == tx + tx_dropped && (tx_dropped == 0) == (c("tx-ring-full") == Some(0)),
        "every echo was transmitted or counted as dropped on a full ring",
    );
    // Every frame the guest received is accounted for: echoes, filtered, STOP.
    run.check(
        rx == echoed + 4 + 1,
        &format!("rx {rx} vs echoed {echoed} + 4 filtered + STOP"),
    );
    // The host saw exactly what the guest says it sent.
    // The host can only see fewer echoes than the guest sent (UDP on the
    // host side may drop during the unpaced burst), never more; every paced
    // frame was checked to come back exactly above.
    let got = received.len() as u64 + late;
    run.check(
        got <= echoed && got >= paced as u64 + 20,
        &format!("host got {got} echoes, guest sent {echoed}"),
    );
    run.check(
        c("rx-errors") == Some(0) && c("tx-errors") == Some(0),
        "no driver errors",
    );
    eprintln!(
        "burst: guest received {} of 2000 (QEMU stops reading its socket while the ring is full), host got {burst_back} echoes back; {} echoes lost on the host side",
        rx - 5 - paced as u64 - 20,
        tx - got
    );
    run.pass();
}

/// Echoes still queued on the socket after the reader thread stopped.
fn received_after_stop(host: &UdpSocket) -> u64 {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while host.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}
