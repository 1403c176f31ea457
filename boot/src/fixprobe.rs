//! `fix-probe` mode: the order path's transport end to end.
//!
//! Over the virtio-net NIC, smoltcp connects to the venue's order-entry
//! address (10.0.2.100:9878, which QEMU's `guestfwd` forwards to the host),
//! a FIX 4.4 initiator session logs on, places one resting order, cancels it
//! when it is acknowledged, and logs out when the cancel is confirmed. Every
//! step is printed; the run succeeds only if all of them happen within 30 s.

use crate::echo::KernelDma;
use core::sync::atomic::{AtomicBool, Ordering};
use gateway::session::{Event, Role, Session, SessionBuffers, SessionConfig, SessionState};
use gateway::tcp::{Backoff, LinkConfig, LinkEvent, NicDevice, Remote, TcpLink};
use heapless::{String, Vec};
use kernel::arch::cpu;
use kernel::arch::exit::{exit, ExitCode};
use kernel::boot::Platform;
use kernel::println;
use nic::mempool::Mempool;
use nic::Nic;
use protocol::fix::messages::{
    ExecType, ExecutionReport, NewOrderSingle, OrdType, OrderCancelRequest,
};
use protocol::fix::{msg_type, FixDecoder, FixVersion, UtcTime};
use smoltcp::iface::SocketStorage;
use types::{Price, Side, TimeInForce};

struct Buffers {
    tcp_rx: [u8; 65_536],
    tcp_tx: [u8; 65_536],
    fix_rx: [u8; 65_536],
    fix_tx: [u8; 16_384],
    store: [u8; 1 << 20],
    queue: [u8; 1 << 18],
    decoder: FixDecoder,
}

static mut BUFFERS: Buffers = Buffers {
    tcp_rx: [0; 65_536],
    tcp_tx: [0; 65_536],
    fix_rx: [0; 65_536],
    fix_tx: [0; 16_384],
    store: [0; 1 << 20],
    queue: [0; 1 << 18],
    decoder: FixDecoder::new(),
};
static TAKEN: AtomicBool = AtomicBool::new(false);

fn buffers() -> Option<&'static mut Buffers> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let buffers = &raw mut BUFFERS;
    // SAFETY: the flag hands out the one and only reference, once.
    #[allow(unsafe_code)]
    Some(unsafe { &mut *buffers })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Connecting,
    LoggedOn,
    OrderSent,
    CancelSent,
    LogoutSent,
}

/// What the session told us during one call, owned.
enum Seen {
    LoggedOn,
    LoggedOut,
    Exec {
        exec_type: ExecType,
        cl_ord_id: String<32>,
    },
    Other(u8),
}

/// A session sink that only keeps what is to be sent.
fn sends_into<const N: usize>(out: &mut Vec<u8, N>) -> impl FnMut(Event<'_>) + '_ {
    move |e: Event<'_>| {
        if let Event::Send(bytes) = e {
            if out.extend_from_slice(bytes).is_err() {
                fail("outbound buffer full");
            }
        }
    }
}

fn fail(why: &str) -> ! {
    println!("fix-probe: FAILED: {why}");
    exit(ExitCode::Failure)
}

pub fn run(platform: &'static Platform) -> ! {
    let Some(b) = buffers() else {
        fail("buffers taken")
    };
    let mut dma = KernelDma(&platform.dma);
    let pool = Mempool::new(&mut dma, 512, 2048).unwrap_or_else(|_| fail("packet pool"));
    let (net, _) =
        crate::echo::open_virtio_net(platform, &pool, &mut dma).unwrap_or_else(|e| fail(e));
    let mac = net.mac_address().0;
    let mut device = NicDevice::new(net);
    let mut storage = [SocketStorage::EMPTY];
    let config = LinkConfig {
        mac,
        address: [10, 0, 2, 15],
        prefix_len: 24,
        gateway: [10, 0, 2, 2],
        seed: cpu::rdtsc(),
    };
    let mut link = TcpLink::new(&mut device, config, &mut storage, platform.now_ns());
    let remote = Remote {
        addr: ([10, 0, 2, 100], 9878),
        backup: None,
        local_port: 49_152,
        backoff: Backoff::new(100_000_000, 2_000_000_000),
    };
    let conn = link
        .connect_to(remote, &mut b.tcp_rx, &mut b.tcp_tx, platform.now_ns())
        .unwrap_or_else(|| fail("tcp connection"));
    let mut session_config = SessionConfig::new(Role::Initiator, FixVersion::Fix44, "APPL", "EXCH")
        .unwrap_or_else(|| fail("CompIDs"));
    session_config.heart_bt_int_s = 5;
    let buffers = SessionBuffers {
        rx: &mut b.fix_rx,
        tx: &mut b.fix_tx,
        store: &mut b.store,
        queue: &mut b.queue,
        decoder: &mut b.decoder,
    };
    let mut session = Session::new(session_config, SessionState::default(), buffers)
        .unwrap_or_else(|_| fail("session config"));
    // Start-up is over: from here on nothing may allocate.
    kernel::HEAP.seal();
    println!("fix-probe: connecting to 10.0.2.100:9878");

    let deadline = platform.now_ns() + 30_000_000_000;
    let mut step = Step::Connecting;
    let mut out: Vec<u8, 32_768> = Vec::new();
    let mut inbound = [0u8; 4096];
    let mut seen: Vec<Seen, 16> = Vec::new();
    loop {
        let now = platform.now_ns();
        if now > deadline {
            fail("did not complete within 30 s");
        }
        let utc = UtcTime(platform.utc_ns());
        let mut sink = |e: Event<'_>| match e {
            Event::Send(bytes) => {
                if out.extend_from_slice(bytes).is_err() {
                    fail("outbound buffer full");
                }
            }
            Event::LoggedOn => {
                let _ = seen.push(Seen::LoggedOn);
            }
            Event::LoggedOut => {
                let _ = seen.push(Seen::LoggedOut);
            }
            Event::Deliver(m) if m.msg_type() == msg_type::EXECUTION_REPORT => {
                if let Ok(r) = ExecutionReport::parse(m) {
                    let id = r
                        .cl_ord_id
                        .and_then(|c| core::str::from_utf8(c).ok())
                        .unwrap_or("?");
                    let cl_ord_id = String::try_from(id).unwrap_or_default();
                    let _ = seen.push(Seen::Exec {
                        exec_type: r.exec_type,
                        cl_ord_id,
                    });
                }
            }
            Event::Deliver(m) => {
                let _ = seen.push(Seen::Other(m.msg_type().first().copied().unwrap_or(b'?')));
            }
            Event::Disconnect(reason) => {
                println!("fix-probe: session disconnect: {reason:?}");
            }
            Event::PeerReject(_) | Event::PeerLogout(_) | Event::Dropped(_) => {}
        };
        for (_, event) in link.poll(&mut device, now) {
            match event {
                LinkEvent::Connected => {
                    println!("fix-probe: tcp connected (nagle off, delayed ack off)");
                    session.connect(utc, &mut sink);
                }
                LinkEvent::Disconnected => {
                    println!("fix-probe: tcp connection lost");
                    session.disconnected();
                }
            }
        }
        let n = link.recv(conn, &mut inbound);
        if n > 0 {
            session.on_bytes(utc, &inbound[..n], &mut sink);
        }
        session.on_tick(utc, &mut sink);
        for s in seen.iter() {
            match s {
                Seen::LoggedOn => {
                    println!("fix-probe: logged on");
                    step = Step::LoggedOn;
                }
                Seen::Exec {
                    exec_type,
                    cl_ord_id,
                } => {
                    println!("fix-probe: execution report {exec_type:?} for {cl_ord_id}");
                    match (step, exec_type) {
                        (Step::OrderSent, ExecType::New) => {
                            let cancel = OrderCancelRequest {
                                orig_cl_ord_id: b"P1",
                                cl_ord_id: b"P2",
                                order_id: None,
                                symbol: b"AAA",
                                side: Side::Buy,
                                order_qty: 100,
                                transact_time: utc,
                            };
                            if session
                                .send(utc, &cancel, &mut sends_into(&mut out))
                                .is_ok()
                            {
                                step = Step::CancelSent;
                            }
                        }
                        (Step::CancelSent, ExecType::Canceled) => {
                            session.logout(utc, Some(b"probe done"), &mut sends_into(&mut out));
                            step = Step::LogoutSent;
                        }
                        (_, ExecType::Rejected) => fail("order rejected by the venue"),
                        _ => {}
                    }
                }
                Seen::LoggedOut => {
                    if step != Step::LogoutSent {
                        fail("logged out by the venue");
                    }
                    let s = session.state();
                    // Let the last bytes leave before reporting.
                    link.send(conn, &out);
                    link.poll(&mut device, platform.now_ns());
                    println!(
                        "fix-probe: done: logon, order acknowledged, cancel confirmed, logout; next_out {} next_in {}; tx dropped {}",
                        s.next_out, s.next_in, device.tx_dropped
                    );
                    exit(ExitCode::Success);
                }
                Seen::Other(t) => println!("fix-probe: application message {}", *t as char),
            }
        }
        seen.clear();
        if step == Step::LoggedOn {
            let order = NewOrderSingle {
                cl_ord_id: b"P1",
                account: None,
                symbol: b"AAA",
                side: Side::Buy,
                order_qty: 100,
                ord_type: OrdType::Limit,
                price: Some(Price::new(1, 0)),
                time_in_force: TimeInForce::Day,
                transact_time: utc,
            };
            if session.send(utc, &order, &mut sends_into(&mut out)).is_ok() {
                println!("fix-probe: order P1 sent");
                step = Step::OrderSent;
            }
        }
        if !out.is_empty() {
            let sent = link.send(conn, &out);
            let rest = out.len() - sent;
            out.copy_within(sent.., 0);
            out.truncate(rest);
        }
        let _ = device.nic().link();
    }
}
