//! The trading lab: the simulated venue on the host, wired to an appliance
//! booted in QEMU with two NICs.
//!
//! - Feed NIC (PCI slot 5): a `dgram` netdev whose far end is the venue's UDP
//!   socket; one raw Ethernet frame per datagram both ways (ITCH in MoldUDP64
//!   on lines A and B out, retransmission requests back).
//! - Order NIC (slot 6): QEMU's user network (NAT); the appliance is told
//!   `venue=10.0.2.2:PORT`, the venue's FIX port on the host's loopback, so
//!   connection set-up and tear-down pass through to both ends.
//!
//! With [`LabConfig::second_venue`] a second venue runs beside the first:
//! its own matching engine and background flow on the same listings, its
//! feed on its own multicast lines into the same feed NIC, its own FIX port
//! (`venue2=` on the appliance's command line). The guest's retransmission
//! requests reach the second venue's recovery server through the first
//! venue's socket, which forwards them like a switch.
//!
//! Used by `cargo qemu demo` and by the end-to-end tests.

use crate::{Repo, Vm};
use exchange::feed::{FeedConfig, Publisher};
use exchange::flow::FlowConfig;
use exchange::matching::Owner;
use exchange::server::{
    Adjustment, FeedSpec, FlowRate, Loss, Server, ServerStats, SessionSpec, Shared,
};
use exchange::venue::Venue;
use protocol::filter::Subscription;
use protocol::fix::FixVersion;
use protocol::{ethernet, ipv4};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use types::Price;

/// The appliance's FIX session owner at the venue.
pub const APPLIANCE: Owner = Owner(1);

/// How the venue behaves.
#[derive(Debug, Clone)]
pub struct LabConfig {
    /// Listings (symbol, opening fair value); the appliance trades the first.
    pub symbols: Vec<(String, Price)>,
    /// Background actions per listing per second.
    pub background_per_second: u32,
    pub loss_a: Loss,
    pub loss_b: Loss,
    pub seed: u64,
    /// Trend of every fair price over a trading day (~55 minutes at the
    /// lab's rate), in basis points; negative: down. 0 by default.
    pub drift_bp: i32,
    /// A second venue listing the same symbols at the same opening values
    /// (its own matching engine, background flow, feed and FIX session),
    /// for the appliance's router.
    pub second_venue: bool,
    /// The venues take order mass cancels (true by default); without,
    /// they reject the message type.
    pub venue_mass_cancel: bool,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            symbols: vec![
                ("AAA".into(), Price(100_0000)),
                ("BBB".into(), Price(20_0000)),
            ],
            background_per_second: 300,
            loss_a: Loss::default(),
            loss_b: Loss::default(),
            seed: 21,
            drift_bp: 0,
            second_venue: false,
            venue_mass_cancel: true,
        }
    }
}

/// Feed addressing of the lab's venues: (MoldUDP64 session, line A group
/// and port, line B group and port, recovery server address and port).
/// The appliance's `trade` mode subscribes to the same lines.
struct FeedPlan {
    session: [u8; 10],
    line_a: Subscription,
    line_b: Subscription,
    recovery_addr: ipv4::Address,
    recovery_port: u16,
}

const FEED_PLANS: [FeedPlan; 2] = [
    FeedPlan {
        session: *b"LABDAY0001",
        line_a: Subscription {
            group: ipv4::Address([233, 54, 12, 1]),
            port: 26400,
        },
        line_b: Subscription {
            group: ipv4::Address([233, 54, 12, 2]),
            port: 26401,
        },
        recovery_addr: ipv4::Address([10, 0, 2, 200]),
        recovery_port: 26500,
    },
    FeedPlan {
        session: *b"LABDAY0002",
        line_a: Subscription {
            group: ipv4::Address([233, 54, 13, 1]),
            port: 26410,
        },
        line_b: Subscription {
            group: ipv4::Address([233, 54, 13, 2]),
            port: 26411,
        },
        recovery_addr: ipv4::Address([10, 0, 2, 201]),
        recovery_port: 26510,
    },
];

/// One running venue.
struct VenueHandle {
    handle: Option<JoinHandle<Server>>,
    shared: Arc<Mutex<Shared>>,
    drop_switch: Arc<AtomicBool>,
    new_day_switch: Arc<AtomicBool>,
    adjustments: Arc<Mutex<Vec<Adjustment>>>,
    /// Raw bytes for the venue to write into the FIX stream.
    injector: Arc<Mutex<Vec<u8>>>,
    /// The venue's FIX port on the host's loopback.
    fix_port: u16,
}

/// Running venues and the QEMU arguments that connect an appliance to them.
pub struct TradingLab {
    stop: Arc<AtomicBool>,
    venues: Vec<VenueHandle>,
    /// The primary venue's published state.
    pub shared: Arc<Mutex<Shared>>,
    /// The UDP port QEMU's feed netdev listens on.
    feed_guest_port: u16,
    /// Append these to the appliance's `Vm`.
    pub qemu_args: Vec<String>,
}

fn free_udp_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn addr(text: String) -> std::io::Result<std::net::SocketAddr> {
    text.parse().map_err(std::io::Error::other)
}

impl TradingLab {
    /// Opens the venue(s), binds their sockets and starts their event loops.
    pub fn start(config: &LabConfig) -> std::io::Result<TradingLab> {
        let guest_port = free_udp_port()?;
        let count = if config.second_venue { 2 } else { 1 };
        // Every venue's feed socket first: the primary's forwards frames for
        // the others' recovery servers to them.
        let mut sockets = Vec::new();
        for _ in 0..count {
            sockets.push(UdpSocket::bind("127.0.0.1:0")?);
        }
        let mut forward = Vec::new();
        for (plan, socket) in FEED_PLANS.iter().zip(&sockets).skip(1) {
            forward.push((plan.recovery_addr, socket.local_addr()?));
        }
        let venue_feed_port = sockets[0].local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let mut venues = Vec::new();
        for (i, (plan, socket)) in FEED_PLANS.iter().zip(sockets).enumerate() {
            let publisher = Publisher::new(FeedConfig {
                session: plan.session,
                src_mac: ethernet::Address([2, 0, 0, 0, 0, 9 + i as u8]),
                src_addr: ipv4::Address([10, 0, 2, 100 + i as u8]),
                src_port: 5000,
                line_a: plan.line_a,
                line_b: plan.line_b,
                max_payload: 1200,
            });
            let listings: Vec<(&str, Price)> = config
                .symbols
                .iter()
                .map(|(s, p)| (s.as_str(), *p))
                .collect();
            let mut venue = Venue::new(
                publisher,
                &listings,
                Price(100),
                // One fair-price path for both venues (their books differ).
                FlowConfig {
                    walk_seed: Some(config.seed),
                    drift_bp: config.drift_bp,
                    ..FlowConfig::default()
                },
                config.seed + i as u64,
            );
            venue.open();
            let (loss_a, loss_b) = if i == 0 {
                (config.loss_a.clone(), config.loss_b.clone())
            } else {
                (Loss::default(), Loss::default())
            };
            let feed = FeedSpec {
                socket,
                guest: addr(format!("127.0.0.1:{guest_port}"))?,
                loss_a,
                loss_b,
                recovery_addr: plan.recovery_addr,
                recovery_port: plan.recovery_port,
                heartbeat_every: Duration::from_millis(200),
                forward: if i == 0 {
                    std::mem::take(&mut forward)
                } else {
                    Vec::new()
                },
            };
            let session = SessionSpec {
                listen: addr("127.0.0.1:0".into())?,
                version: FixVersion::Fix44,
                venue_comp_id: "EXCH".into(),
                client_comp_id: "APPL".into(),
                heart_bt_int_s: 5,
                cancel_on_disconnect: true,
                mass_cancel: config.venue_mass_cancel,
                owner: APPLIANCE,
            };
            let flow = FlowRate {
                actions_per_second: config.background_per_second,
            };
            let drop_switch = Arc::new(AtomicBool::new(false));
            let injector = Arc::new(Mutex::new(Vec::new()));
            let new_day_switch = Arc::new(AtomicBool::new(false));
            let adjustments = Arc::new(Mutex::new(Vec::new()));
            let server = Server::new(venue, vec![session], Some(feed), flow)?
                .with_drop_switch(drop_switch.clone())
                .with_new_day_switch(new_day_switch.clone())
                .with_adjustments(adjustments.clone())
                .with_injector(injector.clone());
            let fix_port = server
                .session_addrs()
                .first()
                .map(|a| a.port())
                .unwrap_or(0);
            let shared = Arc::new(Mutex::new(Shared::default()));
            let handle = {
                let (stop, shared) = (stop.clone(), shared.clone());
                std::thread::spawn(move || server.run(stop, Some(shared)))
            };
            venues.push(VenueHandle {
                handle: Some(handle),
                shared,
                drop_switch,
                new_day_switch,
                adjustments,
                injector,
                fix_port,
            });
        }
        let qemu_args = vec![
            "-netdev".into(),
            format!(
                "dgram,id=feed,local.type=inet,local.host=127.0.0.1,local.port={guest_port},remote.type=inet,remote.host=127.0.0.1,remote.port={venue_feed_port}"
            ),
            "-device".into(),
            "virtio-net-pci,netdev=feed,disable-modern=on,addr=0x05,mac=52:54:00:00:00:01".into(),
            "-netdev".into(),
            "user,id=orders".into(),
            "-device".into(),
            "virtio-net-pci,netdev=orders,disable-modern=on,addr=0x06,mac=52:54:00:00:00:02".into(),
        ];
        Ok(TradingLab {
            stop,
            shared: venues[0].shared.clone(),
            venues,
            feed_guest_port: guest_port,
            qemu_args,
        })
    }

    /// How many venues run.
    pub fn venue_count(&self) -> usize {
        self.venues.len()
    }

    /// The appliance trading for `seconds` against this lab.
    pub fn appliance(&self, repo: &Repo, image: &Path, seconds: u64) -> Vm {
        self.appliance_with(repo, image, seconds, "")
    }

    /// [`TradingLab::appliance`] with more command-line options (e.g.
    /// `risk-max-qty=50`).
    pub fn appliance_with(&self, repo: &Repo, image: &Path, seconds: u64, extra: &str) -> Vm {
        self.appliance_trading_at(repo, image, seconds, &self.venue_option(), extra)
    }

    /// [`TradingLab::appliance_with`], its orders sent to the venues of
    /// `venue_option` (`venue=10.0.2.2:PORT ` and so on) instead of the lab's
    /// own: the lab's feed with another order-entry counterparty.
    pub fn appliance_trading_at(
        &self,
        repo: &Repo,
        image: &Path,
        seconds: u64,
        venue_option: &str,
        extra: &str,
    ) -> Vm {
        Vm::kernel(repo, image)
            .cmdline(
                format!("trade={seconds} {venue_option}{extra}")
                    .trim_end()
                    .to_string(),
            )
            .args(self.qemu_args.clone())
            // Core 1 trades, core 0 keeps house (mailbox, console, watchdog).
            .smp(2)
    }

    /// The appliance's `venue=` (and `venue2=`) options: QEMU's user network
    /// puts the host's loopback at 10.0.2.2, so the appliance reaches each
    /// venue through a real NAT that passes the venue's FIN/RST on to it.
    pub fn venue_option(&self) -> String {
        self.venues
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let name = if i == 0 {
                    "venue".to_string()
                } else {
                    format!("venue{}", i + 1)
                };
                format!("{name}=10.0.2.2:{} ", v.fix_port)
            })
            .collect()
    }

    /// QEMU arguments that record both NICs' traffic as pcap files in `dir`
    /// (`feed.pcap`, `orders.pcap`; Wireshark dissects ITCH, MoldUDP64, FIX).
    pub fn capture_args(dir: &Path) -> Vec<String> {
        ["feed", "orders"]
            .iter()
            .flat_map(|n| {
                [
                    "-object".to_string(),
                    format!(
                        "filter-dump,id=dump-{n},netdev={n},file={}",
                        dir.join(format!("{n}.pcap")).display()
                    ),
                ]
            })
            .collect()
    }

    /// Makes the primary venue write `bytes` raw into the FIX stream
    /// (garbled input).
    pub fn inject_fix(&self, bytes: &[u8]) {
        if let Ok(mut pending) = self.venues[0].injector.lock() {
            pending.extend_from_slice(bytes);
        }
    }

    /// Sends each frame to the appliance's feed NIC, as a faulty switch or a
    /// stray sender on the feed network would.
    pub fn inject_feed(&self, frames: &[Vec<u8>]) -> std::io::Result<()> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        for frame in frames {
            socket.send_to(frame, ("127.0.0.1", self.feed_guest_port))?;
        }
        Ok(())
    }

    /// The primary venue's counters as its event loop last published them.
    pub fn stats_now(&self) -> ServerStats {
        self.stats_of(0)
    }

    /// Executions of the appliance's orders so far, on every venue.
    pub fn session_fills(&self) -> usize {
        self.venues
            .iter()
            .filter_map(|v| v.shared.lock().ok().map(|s| s.session_fills))
            .sum()
    }

    /// The appliance's orders resting on every venue's book, as last published.
    pub fn open_orders_now(&self) -> usize {
        self.venues
            .iter()
            .filter_map(|v| v.shared.lock().ok().map(|s| s.session_open_orders))
            .sum()
    }

    /// Venue `index`'s counters (0: primary) as last published.
    pub fn stats_of(&self, index: usize) -> ServerStats {
        self.venues
            .get(index)
            .and_then(|v| v.shared.lock().ok().map(|s| s.stats.clone()))
            .unwrap_or_default()
    }

    /// Drops the appliance's FIX connection to the primary venue once, as
    /// a network failure would.
    pub fn drop_fix_connection(&self) {
        self.drop_fix_connection_of(0);
    }

    /// Drops the appliance's FIX connection to venue `index` once.
    pub fn drop_fix_connection_of(&self, index: usize) {
        if let Some(v) = self.venues.get(index) {
            v.drop_switch.store(true, Ordering::Release);
        }
    }

    /// Ends the primary venue's trading day and opens the next: every
    /// resting order expires, the feed's session ends and a new one starts
    /// with every listing under a new stock locate (each old locate naming
    /// another listing).
    pub fn start_new_day(&self) {
        if let Some(v) = self.venues.first() {
            v.new_day_switch.store(true, Ordering::Release);
        }
    }

    /// The primary venue breaks the appliance's last standing fill (an
    /// erroneous-trade bust), reporting it with ExecType TradeCancel.
    pub fn bust_last_fill(&self) {
        self.adjust(Adjustment::Bust);
    }

    /// The primary venue moves the price of the appliance's last standing
    /// fill by `by` (price4), reporting it with ExecType TradeCorrect.
    pub fn correct_last_fill_by(&self, by: i64) {
        self.adjust(Adjustment::CorrectBy(by));
    }

    fn adjust(&self, adjustment: Adjustment) {
        if let Some(v) = self.venues.first() {
            v.adjustments
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(adjustment);
        }
    }

    /// Closes the venues and returns the primary with its records.
    pub fn stop(self) -> Option<Server> {
        self.stop_all().into_iter().next()
    }

    /// Closes every venue and returns them (primary first) with their
    /// records; a venue whose thread failed is left out.
    pub fn stop_all(mut self) -> Vec<Server> {
        self.stop.store(true, Ordering::Relaxed);
        self.venues
            .iter_mut()
            .filter_map(|v| v.handle.take().and_then(|h| h.join().ok()))
            .collect()
    }
}

impl Drop for TradingLab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The value after `name` in the appliance's `trade: done:` line.
pub fn trade_summary(serial: &str, name: &str) -> Option<i64> {
    summary_value(serial, "trade: done: ", name)
}

/// The value after the word `name` on the first serial line starting with
/// `prefix` (the appliance's `trade: done:` and `trade: drops:` lines).
pub fn summary_value<T: std::str::FromStr>(serial: &str, prefix: &str, name: &str) -> Option<T> {
    let line = serial.lines().find(|l| l.starts_with(prefix))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(2)
        .find(|w| w[0] == name)
        .and_then(|w| w[1].parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_words() {
        let s = "x\ntrade: done: messages 5 orders-sent 3 position AAA -100 unsent 0\n";
        assert_eq!(trade_summary(s, "orders-sent"), Some(3));
        assert_eq!(trade_summary(s, "AAA"), Some(-100));
        assert_eq!(
            trade_summary(s, "position"),
            None,
            "followed by a symbol, not a number"
        );
        assert_eq!(trade_summary("no summary", "messages"), None);
    }
}
