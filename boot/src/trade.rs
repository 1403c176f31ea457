//! `trade=SECONDS` mode: the whole pipeline in one polling loop on a hot
//! core, with core 0 keeping house.
//!
//! Layout: with a second CPU (`-smp 2` or more, not listed in `idle=`) the
//! trading loop runs on the first hot core with interrupts off and never
//! touches a lock, the console or the mailbox: its lines, journal events and
//! view go through [`crate::uplink`], and core 0 serves the mailbox, prints,
//! forwards, watches the trading core's heartbeat and sleeps in `hlt`
//! between 1 ms timer ticks. With one CPU the same loop runs on core 0 and
//! performs that housekeeping step itself each turn.
//!
//! Feed NIC (virtio-net at PCI slot 5): frames → multicast filter (lines A
//! and B of each venue) → MoldUDP64 sequencer per venue (A/B arbitration,
//! gap → retransmission request to that venue's recovery server as a raw
//! frame) → ITCH → pipeline (the primary venue's book → market maker →
//! router → risk/OMS; other venues' feeds keep away books for the router).
//! Order NIC (slot 6): smoltcp TCP, one connection and one FIX 4.4 session
//! per venue; execution reports go back into the pipeline. The companion's
//! kill switch is honoured. At the end: logout and summary lines the lab
//! compares with the venues' own records.
//!
//! Options: `venue=IP:PORT` (the primary venue's FIX acceptor),
//! `venue2=IP:PORT` (a second venue; its feed is expected on lines
//! 233.54.13.1:26410 / 233.54.13.2:26411), `venue-fix=4.2` and
//! `venue2-fix=4.2` (the session's FIX version; 4.4 by default),
//! `config-wait=N` (wait up to N s for the companion's configuration before
//! logging on; its venues, in order, give each session its address,
//! CompIDs, FIX version, heartbeat, username and password, and a backup
//! gateway the connection's attempts take turns with; a later
//! configuration's new gateways, credentials or heartbeat take effect at
//! the session's next logon, see `apply_venue_config`),
//! `fees=TAKE,MAKE` and
//! `fees2=TAKE,MAKE` (micro-currency per share, negative for a rebate),
//! `route-latency-penalty=N` (micro-currency per share per µs of a venue's
//! acknowledgement latency), `risk-max-qty=N`, `journal-wait=N`,
//! `journal-reserve=N` (outgoing sequence numbers journaled ahead of use,
//! default 256; see `gateway::session::reservation::ReserveSizes`),
//! `panic-after=N`, `fault-after=N`, `panic-at-fill=N` (a deliberate panic
//! as the Nth fill is applied, before its journal record leaves: the lab's
//! test of the crash window the venue's resend covers).

use crate::echo::{open_virtio_net_at, KernelDma};
use core::sync::atomic::{AtomicBool, Ordering};
use gateway::fixmap::{
    cancel_reject, exec_report, mass_cancel_answer, send_outbound, FixSender, MassCancelAnswer,
};
use gateway::oms::{ClOrdId, Oms, OmsConfig, Outbound};
use gateway::router::{Router, RouterConfig, VenueConfig};
use gateway::session::reservation::{ReserveSizes, SeqReservation};
use gateway::session::{
    DisconnectReason, Event, Role, Session, SessionBuffers, SessionConfig, SessionState,
};
use gateway::tcp::{Address, Backoff, ConnId, LinkConfig, LinkEvent, NicDevice, Remote, TcpLink};
use gateway::venue::VenueUpdate;
use heapless::{Deque, Vec};
use kernel::arch::cpu;
use kernel::arch::exit::{exit, ExitCode};
use kernel::boot::Platform;
use kernel::println;
use nic::mempool::{Mempool, PacketBatch};
use nic::Nic;
use pipeline::Pipeline;
use protocol::filter::{Datagram, Filter, Subscription, UdpFrameRepr};
use protocol::fix::messages::{
    BusinessMessageReject, ExecutionReport, FixBody, OrderCancelReject, OrderMassCancelReport,
};
use protocol::fix::{msg_type, tag, FixDecoder, FixVersion, UtcTime};
use protocol::itch::Message;
use protocol::moldudp64::{Config as SeqConfig, Endpoint, Line, Sequencer};
use protocol::{ethernet, ipv4};
use risk::{Capacity, RiskEngine};
use smoltcp::iface::SocketStorage;
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{Nanos, StrategyId, Symbol, VenueId};

use crate::telemetry::{InFlight, Stage, Telemetry, EMPTY_STAGE, STAGES};
use crate::uplink::{say, Housekeeper, TradingView, Verdict, DOWNLINK, UPLINK};
use core::fmt::Write as _;
use core::sync::atomic::AtomicU64;
use kernel::smp::{self, CoreState, CORES};
use protocol::mailbox::message::{Event as MailboxEvent, FillRecord, FixSeqRecord};
use protocol::mailbox::snapshot::{
    Counter, KillSwitch, Label, NicStatus, OpenOrder, Position, RiskLimit, StageLatency,
};

/// Where the trading loop runs and who keeps house.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// On hot core `core`; core 0 keeps house.
    Split { core: usize },
    /// On core 0, which keeps house between turns.
    Single,
}

/// `trade=SECONDS`, for the hot core's entry point.
static SECONDS: AtomicU64 = AtomicU64::new(0);
/// Set once the trading loop turns (the watchdog's cue).
static LOOPING: AtomicBool = AtomicBool::new(false);

/// Where one venue's feed arrives and where its recovery server listens.
struct FeedLines {
    a: Subscription,
    b: Subscription,
    recovery: Endpoint,
}

/// Why the kill switch is engaged, as the companion and the console say it.
fn trip_cause_name(cause: risk::TripCause) -> &'static str {
    match cause {
        risk::TripCause::Manual => "operator",
        risk::TripCause::DailyLoss => "daily loss",
        risk::TripCause::RejectRate => "reject rate",
        risk::TripCause::EndOfSession => "end of session",
    }
}

/// How long the close of the trading window waits for the venues to
/// confirm the cancels before logging out anyway.
const CLOSE_GRACE_NS: u64 = 2_000_000_000;
const FEEDS: [FeedLines; VENUES] = [
    FeedLines {
        a: Subscription {
            group: ipv4::Address([233, 54, 12, 1]),
            port: 26400,
        },
        b: Subscription {
            group: ipv4::Address([233, 54, 12, 2]),
            port: 26401,
        },
        recovery: Endpoint {
            addr: [10, 0, 2, 200],
            port: 26500,
        },
    },
    FeedLines {
        a: Subscription {
            group: ipv4::Address([233, 54, 13, 1]),
            port: 26410,
        },
        b: Subscription {
            group: ipv4::Address([233, 54, 13, 2]),
            port: 26411,
        },
        recovery: Endpoint {
            addr: [10, 0, 2, 201],
            port: 26510,
        },
    },
];
/// The feed NIC's own address, and the UDP port retransmission requests
/// leave from: a MoldUDP64 recovery server answers there, by unicast.
const FEED_ADDR: ipv4::Address = ipv4::Address([10, 0, 2, 16]);
const REQUEST_PORT: u16 = 40_000;
/// Lines A and B of every venue, then the retransmission answers.
const FEED_SUBSCRIPTIONS: usize = 2 * VENUES + 1;
/// How long a feed gap waits for the other line before it is requested.
const AB_ARBITRATION_NS: u64 = 500_000;
const FEED_SLOT: u8 = 5;
const ORDER_SLOT: u8 = 6;
/// Locates risk and the OMS track: every locate a feed can give (a real
/// day lists ~8,800 stocks, and AAA's locate is the directory's to say).
const RISK_SYMBOLS: usize = 1 << 16;
/// The locate the market maker is built with, before the directory says
/// where AAA is today; journal fills are restored under it too.
const MM_START_LOCATE: types::StockLocate = 1;

/// Where the market maker's AAA is now: today's locate once the directory
/// has named it (before that, where its state is held meanwhile).
fn aaa_locate(pipeline: &Pipeline<4, 8>) -> types::StockLocate {
    pipeline
        .strategies
        .get(StrategyId(1))
        .and_then(|s| s.locates().first().copied())
        .unwrap_or(MM_START_LOCATE)
}

/// Venues the appliance can trade on at once.
const VENUES: usize = 2;

/// The taker's strategy id (the maker is 1).
const TAKER: StrategyId = StrategyId(2);

/// The `taker=QTY` strategy: the logistic signal trader
/// (`strategy::signal`) with a model of one feature, the top-of-book
/// imbalance `(bid qty − ask qty) / (bid qty + ask qty)`, weighted 3 and
/// unscaled. At a 0.75 threshold it buys QTY at the ask when the bids
/// hold more than about twice the offers (imbalance > 0.37) and sells at
/// the bid the other way round, up to twice QTY either way, at most every
/// 250 ms of feed time, and flattens a position held 2 s. A fixed, hand-set
/// model: what it exercises is the order path a taker's IOC orders take
/// (routing, splits across venues, risk, the FIX sessions), not a forecast.
fn taker(symbol: Symbol, qty: u32) -> Result<strategy::signal::SignalTrader, &'static str> {
    let mut weights = [0.0; strategy::features::FEATURE_COUNT];
    weights[0] = 3.0;
    let model = strategy::model::Logistic::new(
        [0.0; strategy::features::FEATURE_COUNT],
        [1.0; strategy::features::FEATURE_COUNT],
        weights,
        0.0,
    )
    .map_err(|_| "taker model")?;
    strategy::signal::SignalTrader::new(
        TAKER,
        MM_START_LOCATE,
        symbol,
        strategy::features::FeatureParams::default_for_tick(100),
        model,
        strategy::signal::SignalParams {
            threshold: 0.75,
            qty,
            max_position: 2 * i64::from(qty),
            cooldown_ns: 250_000_000,
            hold_ns: 2_000_000_000,
            warmup_updates: 20,
        },
    )
    .map_err(|_| "taker parameters")
}
/// Venue ids are 1-based positions: venue 1 is the primary.
const fn venue_id(index: usize) -> VenueId {
    VenueId(index as u8 + 1)
}

type Seq = Sequencer<256, 1536>;

/// Fixed buffers of one venue's connection and FIX session.
struct VenueBuffers {
    sequencer: Seq,
    tcp_rx: [u8; TCP_RX_BYTES],
    tcp_tx: [u8; 65_536],
    fix_rx: [u8; 65_536],
    fix_tx: [u8; 16_384],
    store: [u8; 1 << 20],
    queue: [u8; GAP_QUEUE_BYTES],
    decoder: FixDecoder,
    out: Vec<u8, 65_536>,
}

impl VenueBuffers {
    const fn new(recovery: Endpoint) -> Self {
        VenueBuffers {
            sequencer: Sequencer::new(SeqConfig {
                // A/B arbitration: a hole is asked for only if the other
                // line has not filled it within this (lines A and B of one
                // feed arrive microseconds apart; a request costs the
                // recovery server and the feed NIC a round trip).
                request_delay_ns: AB_ARBITRATION_NS,
                ..SeqConfig::new(recovery)
            }),
            tcp_rx: [0; TCP_RX_BYTES],
            tcp_tx: [0; 65_536],
            fix_rx: [0; 65_536],
            fix_tx: [0; 16_384],
            store: [0; 1 << 20],
            queue: [0; GAP_QUEUE_BYTES],
            decoder: FixDecoder::new(),
            out: Vec::new(),
        }
    }
}

struct Statics {
    venues: [VenueBuffers; VENUES],
    stages: [StageLatency; STAGES],
    /// This turn's execution reports, for the OMS after the receives.
    reports: Vec<(VenueId, gateway::oms::ExecReport), REPORTS_PER_TURN>,
    /// Fills on their way to the companion's journal.
    fills: Deque<FillRecord, FILL_QUEUE>,
    /// One venue's refusals of this turn, resolved after its receive.
    refused: Vec<Refused, { REPORTS_PER_TURN / VENUES }>,
}

static mut STATICS: Statics = Statics {
    venues: [
        VenueBuffers::new(FEEDS[0].recovery),
        VenueBuffers::new(FEEDS[1].recovery),
    ],
    stages: [EMPTY_STAGE; STAGES],
    reports: Vec::new(),
    fills: Deque::new(),
    refused: Vec::new(),
};
static TAKEN: AtomicBool = AtomicBool::new(false);

fn statics() -> Option<&'static mut Statics> {
    if TAKEN.swap(true, Ordering::AcqRel) {
        return None;
    }
    let p = &raw mut STATICS;
    // SAFETY: the flag hands out the one and only reference, once.
    #[allow(unsafe_code)]
    Some(unsafe { &mut *p })
}

/// The venue entries of a configuration applied while trading, taken when
/// the sessions' identities came from the configuration (`config-wait=`),
/// entry `i` for session `i`. What an entry changes of the same session
/// (the gateways' addresses, the username and password, the heartbeat
/// interval) takes effect at its next connection and Logon, leaving a
/// session that is logged on undisturbed; an entry naming other CompIDs or
/// another FIX version is another session, which takes a restart (see
/// `gateway::venue`). Each change is said on the console, the password
/// never.
fn apply_venue_config(
    venues: &[protocol::mailbox::config::VenueConfig],
    generation: u64,
    from_config: bool,
    ports: &mut [Port<'_>],
    link: &mut TcpLink<'_>,
) {
    if venues.is_empty() {
        return;
    }
    if !from_config {
        say!(
            "trade: venues of configuration generation {generation} not taken: this appliance's venues come from its command line (config-wait= takes them from the configuration)"
        );
        return;
    }
    for (port, v) in ports.iter_mut().zip(venues) {
        let venue = port.id.0;
        let Some((first, backup)) = link.gateways(port.conn) else {
            continue;
        };
        let before = port.session.config().logon_terms();
        let current = gateway::venue::Gateways { first, backup };
        match VenueUpdate::between(port.session.config(), current, v) {
            Ok(VenueUpdate::Unchanged) => {}
            Ok(VenueUpdate::NextLogon { gateways, terms }) => {
                // What changes, part by part: "gateway a.b.c.d:p (backup
                // …)", "user …", "a new password", "heartbeat N s".
                let mut what: heapless::String<200> = heapless::String::new();
                let mut part = |args: core::fmt::Arguments<'_>| {
                    let sep = if what.is_empty() { "" } else { ", " };
                    let _ = write!(what, "{sep}{args}");
                };
                if let Some(g) = gateways {
                    link.set_gateways(port.conn, g.first, g.backup);
                    match g.backup {
                        Some(b) => part(format_args!(
                            "gateway {} (backup {})",
                            GatewayAddr(g.first),
                            GatewayAddr(b)
                        )),
                        None => part(format_args!("gateway {} (no backup)", GatewayAddr(g.first))),
                    }
                }
                if let Some(terms) = terms {
                    if terms.username != before.username {
                        match &terms.username {
                            Some(u) => part(format_args!("user {u}")),
                            None => part(format_args!("no user")),
                        }
                    }
                    if terms.password != before.password {
                        match terms.password {
                            Some(_) => part(format_args!("a new password")),
                            None => part(format_args!("no password")),
                        }
                    }
                    if terms.heart_bt_int_s != before.heart_bt_int_s {
                        part(format_args!("heartbeat {} s", terms.heart_bt_int_s));
                    }
                    port.session.set_logon_terms(terms);
                }
                say!(
                    "trade: venue {venue}: configuration generation {generation} takes effect at the next logon: {what}"
                );
            }
            Ok(VenueUpdate::OtherSession) => say!(
                "trade: venue {venue}: configuration generation {generation} names other CompIDs or another FIX version, another session: it takes effect at a restart; this session keeps its address and terms"
            ),
            Err(e) => say!(
                "trade: venue {venue}: configuration generation {generation} not taken for it: {e}"
            ),
        }
    }
    if venues.len() > ports.len() {
        say!(
            "trade: configuration generation {generation} names {} venue(s) beyond this appliance's {} session(s): they take effect at a restart",
            venues.len() - ports.len(),
            ports.len()
        );
    }
}

/// A gateway's `a.b.c.d:port`, for the console.
struct GatewayAddr(Address);

impl core::fmt::Display for GatewayAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ([a, b, c, d], port) = self.0;
        write!(f, "{a}.{b}.{c}.{d}:{port}")
    }
}

fn fail(why: &str) -> ! {
    println!("trade: FAILED: {why}");
    exit(ExitCode::Failure)
}

/// Session output collected into a buffer for the TCP link.
struct Sends<'a, 's> {
    session: &'a mut Session<'s>,
    out: &'a mut Vec<u8, 65_536>,
    now: UtcTime,
    /// The TSC when the first message's bytes went into `out` (0: none
    /// yet): the end of the `fix-encode` stage, before the session keeps
    /// its copy for resends.
    handed: u64,
}

impl FixSender for Sends<'_, '_> {
    type Out = bool;
    /// `false` when the session did not send: among other reasons, no room
    /// in the venue's outgoing buffer (the session knows it from
    /// `set_out_room` and refuses before taking a sequence number), and the
    /// pipeline undoes the message as unsent.
    fn send<B: FixBody>(&mut self, body: &B) -> bool {
        let (out, handed) = (&mut *self.out, &mut self.handed);
        let r = self.session.send(self.now, body, |e| {
            if let Event::Send(bytes) = e {
                let _ = out.extend_from_slice(bytes);
                if *handed == 0 {
                    *handed = cpu::rdtsc();
                }
            }
        });
        r.is_ok()
    }
}

#[derive(Default)]
struct Tally {
    feed_frames: u64,
    /// Frames to our own port from no recovery server we know (the
    /// filter's own drops are counted by the filter).
    feed_dropped: u64,
    /// MoldUDP64 retransmission requests sent; those that found no buffer
    /// or a full transmit ring.
    requests: u64,
    requests_unsent: u64,
    /// ITCH messages inside good MoldUDP64 packets that failed to parse.
    itch_malformed: u64,
    /// Feed messages whose book lines were prefetched with the rest of
    /// their receive batch (see [`warm_feed_batch`]), in all and per venue
    /// (in the order of the ports).
    feed_warmed: u64,
    feed_warmed_by_venue: [u64; VENUES],
    /// FIX input the session dropped (garbled framing, bad checksum).
    fix_dropped: u64,
    /// Fills the journal queue could not hold (see [`JournalOut`]).
    journal_fills_lost: u64,
    /// Session-level Rejects and BusinessMessageRejects from venues.
    fix_peer_rejects: u64,
    /// Sessions that ended with bytes TCP could not take before the close.
    fix_unsent_at_close: u64,
    /// Times new orders paused for the journal to confirm sequence numbers.
    journal_waits: u64,
    /// ExecutionReports and OrderCancelRejects that did not parse, or did
    /// not fit this turn's queue.
    reports_unusable: u64,
}

/// Whether a session ended because the venue stopped answering (no use
/// writing to it before the close) rather than with a message for it.
fn peer_unresponsive(reason: DisconnectReason) -> bool {
    matches!(
        reason,
        DisconnectReason::TestRequestTimeout
            | DisconnectReason::LogonTimeout
            | DisconnectReason::LogoutTimeout
    )
}

/// Bytes one receive takes from a venue's connection.
const INBOUND_BYTES: usize = 8192;
/// Receives that drain a closed connection (its whole receive buffer).
const DRAIN_READS: usize = TCP_RX_BYTES / INBOUND_BYTES;
const TCP_RX_BYTES: usize = 65_536;
/// The messages a session holds back behind a sequence gap, in bytes.
const GAP_QUEUE_BYTES: usize = 1 << 18;
/// No message the session delivers as a report — ExecutionReport,
/// OrderCancelReject, BusinessMessageReject, a session Reject — is shorter
/// than this, framed (a header with one-letter CompIDs is already 55 bytes,
/// the trailer 7, and each carries a few required fields).
const MIN_REPORT_BYTES: usize = 64;
/// Reports one turn can bring, at most: what a venue's receive takes (a
/// whole receive buffer when the connection closed) and everything its
/// session held back behind a gap, which one message filling the gap
/// releases at once.
const REPORTS_PER_TURN: usize = VENUES * (TCP_RX_BYTES + GAP_QUEUE_BYTES) / MIN_REPORT_BYTES;

/// Queues a venue's report for the OMS after this turn's receive; one that
/// does not fit is counted (the queue holds more than a turn brings).
fn queue_report(
    queue: &mut Vec<(VenueId, gateway::oms::ExecReport), REPORTS_PER_TURN>,
    venue: VenueId,
    report: gateway::oms::ExecReport,
    tally: &mut Tally,
) {
    let report = gateway::oms::ExecReport {
        venue: Some(venue),
        ..report
    };
    if queue.push((venue, report)).is_err() {
        tally.reports_unusable += 1;
    }
}

/// A request of ours the venue refused at the session level, by what the
/// refusal names.
enum Refused {
    Order(ClOrdId),
    /// The MsgSeqNum of the refused message (RefSeqNum).
    Seq(u64),
    /// Our OrderMassCancelRequest: the venue does not take them.
    MassCancel,
}

/// A venue's answer to the kill switch's mass cancel, handed to the
/// pipeline after the turn's execution reports (the venue sends the
/// canceled orders' reports first).
enum MassCancelEvent {
    Answer(MassCancelAnswer),
    Unsupported,
}

/// Reports of the same kind printed at most this many times.
const REPORT_LIMIT: u64 = 8;

/// One venue as the loop sees it: its connection, FIX session, feed
/// sequencer and the bytes waiting for TCP.
struct Port<'s> {
    id: VenueId,
    conn: ConnId,
    session: Session<'s>,
    sequencer: &'s mut Seq,
    out: &'s mut Vec<u8, 65_536>,
    logged_on: bool,
    /// The session ended this turn, and why.
    session_ended: Option<DisconnectReason>,
    link_lost: bool,
    /// What the companion's journal was sent of this session's sequence
    /// numbers (`next_out` there is a reservation, see [`JournalOut`]).
    reservation: SeqReservation,
    /// The venue cancels this session's orders when it drops.
    cancels_on_disconnect: bool,
    /// The trading window is over and this session's Logout has not gone
    /// yet (it waits for room in `out`, or for owed resends).
    logout_due: bool,
}

impl<'s> Port<'s> {
    fn sends(&mut self, now: UtcTime) -> Sends<'_, 's> {
        Sends {
            session: &mut self.session,
            out: &mut *self.out,
            now,
            handed: 0,
        }
    }
}

/// Encodes `o` on its venue's session; `false` when that venue is not
/// logged on (or unknown), or its session held the message back (no
/// sequence number the journal has confirmed), and nothing was sent. The
/// pipeline counts either answer (`orders_sent`, `unsent`) and undoes an
/// unsent message.
fn send_to_venue(ports: &mut [Port<'_>], o: &Outbound, utc: UtcTime) -> bool {
    send_to_venue_stamped(ports, o, utc).0
}

/// [`send_to_venue`], and the TSC when the bytes were handed over (0 if
/// none were).
fn send_to_venue_stamped(ports: &mut [Port<'_>], o: &Outbound, utc: UtcTime) -> (bool, u64) {
    let venue = o.venue();
    match ports.iter_mut().find(|p| p.id == venue) {
        Some(port) if port.logged_on => {
            let mut sends = port.sends(utc);
            let sent = send_outbound(o, utc, &mut sends);
            (sent, sends.handed)
        }
        _ => (false, 0),
    }
}

/// `IPv4:PORT` of option `name`.
fn address_option(platform: &Platform, name: &str) -> Option<([u8; 4], u16)> {
    match platform
        .info
        .value_of(name)
        .map(str::parse::<core::net::SocketAddrV4>)
    {
        None => None,
        Some(Ok(a)) => Some((a.ip().octets(), a.port())),
        Some(Err(_)) => fail("venue addresses take IPv4:PORT, e.g. venue=10.0.2.2:9878"),
    }
}

/// The FIX version of venue `index`'s session: `venue-fix=` (`venue2-fix=`
/// for the second), `4.4` (the default) or `4.2`.
fn fix_version_option(platform: &Platform, index: usize) -> FixVersion {
    let name = if index == 0 {
        "venue-fix"
    } else {
        "venue2-fix"
    };
    match platform.info.value_of(name) {
        None => FixVersion::Fix44,
        Some(v) => FixVersion::from_name(v).unwrap_or_else(|| fail("venue-fix= takes 4.2 or 4.4")),
    }
}

/// Whether venue `index` cancels on disconnect: `venue-cod=` (`venue2-cod=`
/// for the second), `on` (the default, as the lab's venues do) or `off`.
fn cod_option(platform: &Platform, index: usize) -> bool {
    let name = if index == 0 {
        "venue-cod"
    } else {
        "venue2-cod"
    };
    match platform.info.value_of(name) {
        None | Some("on") => true,
        Some("off") => false,
        Some(_) => fail("venue-cod= takes on or off"),
    }
}

/// Whether venue `index` takes order mass cancels (the kill switch then
/// asks it for one before cancelling order by order):
/// `venue-mass-cancel=` (`venue2-mass-cancel=` for the second), `on` or
/// `off` (the default: not every venue takes them).
fn mass_cancel_option(platform: &Platform, index: usize) -> bool {
    let name = if index == 0 {
        "venue-mass-cancel"
    } else {
        "venue2-mass-cancel"
    };
    match platform.info.value_of(name) {
        None | Some("off") => false,
        Some("on") => true,
        Some(_) => fail("venue-mass-cancel= takes on or off"),
    }
}

/// `TAKE,MAKE` fees of option `name`, micro-currency per share.
fn fees_option(platform: &Platform, name: &str, default: (i64, i64)) -> (i64, i64) {
    let Some(text) = platform.info.value_of(name) else {
        return default;
    };
    let mut parts = text.split(',').map(str::parse::<i64>);
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Ok(take)), Some(Ok(make)), None) => (take, make),
        _ => fail("fees take TAKE,MAKE in micro-currency per share, e.g. fees=3000,-2000"),
    }
}

pub fn run(platform: &'static Platform, seconds: u64) -> ! {
    SECONDS.store(seconds, Ordering::Release);
    let hot = (1..smp::MAX_CORES)
        .find(|&i| CORES[i].role() == smp::Role::Hot && CORES[i].state() == CoreState::Online);
    match hot {
        Some(core) if smp::run_on(core, hot_entry).is_ok() => {
            println!("trade: trading loop on core {core}; core 0 keeps house");
            housekeep(platform, core)
        }
        _ => {
            println!("trade: one CPU: the trading loop keeps house between turns");
            trading(platform, seconds, Layout::Single)
        }
    }
}

/// The hot core's entry (`smp::run_on` hands it over).
fn hot_entry(core: usize) -> ! {
    let Some(platform) = kernel::boot::platform() else {
        fail("no platform")
    };
    trading(
        platform,
        SECONDS.load(Ordering::Acquire),
        Layout::Split { core },
    )
}

/// Core 0 while another core trades: the mailbox, the trading loop's lines,
/// events and view, and its health; `hlt` between 1 ms ticks.
fn housekeep(platform: &'static Platform, core: usize) -> ! {
    let mut keeper = Housekeeper::new(platform);
    if let Err(e) = kernel::idle::start(platform, 1_000_000) {
        println!("trade: no idle timer ({e:?}); core 0 polls instead");
    }
    // A trading core whose heartbeat stops for this long is reported (once
    // per stall). Emulated cores are host threads a busy host may deschedule
    // for a while, so the limit is generous.
    let stall_ns = 2_000_000_000;
    let (mut last_beat, mut last_change, mut stalled) = (0, platform.now_ns(), false);
    loop {
        CORES[0].heartbeat.fetch_add(1, Ordering::Relaxed);
        if let Verdict::Finished { ok } = keeper.step(64) {
            if keeper.events_lost > 0 {
                println!(
                    "trade: journal: {} event(s) not delivered to the companion",
                    keeper.events_lost
                );
            }
            exit(if ok {
                ExitCode::Success
            } else {
                ExitCode::Failure
            });
        }
        let slot = &CORES[core];
        if slot.state() == CoreState::Faulted {
            // Its exception report is already in the mailbox; the run ends
            // (the venues cancel on disconnect).
            keeper.step(usize::MAX);
            let (vector, rip) = slot.fault();
            println!("trade: FAILED: the trading core faulted (vector {vector} at {rip:#x})");
            kernel::mailbox::set_final_state(protocol::mailbox::layout::ApplianceState::Faulted);
            exit(ExitCode::Failure);
        }
        let now = platform.now_ns();
        let beat = slot.heartbeat.load(Ordering::Relaxed);
        if beat != last_beat || !LOOPING.load(Ordering::Acquire) {
            if stalled {
                println!("watchdog: trading core {core} is beating again");
            }
            (last_beat, last_change, stalled) = (beat, now, false);
        } else if !stalled && now - last_change > stall_ns {
            stalled = true;
            println!(
                "watchdog: trading core {core} stalled for {} ms",
                (now - last_change) / 1_000_000
            );
        }
        kernel::idle::wait();
    }
}

fn trading(platform: &'static Platform, seconds: u64, layout: Layout) -> ! {
    let Some(st) = statics() else {
        fail("statics taken")
    };
    let mut dma = KernelDma(&platform.dma);
    let feed_pool = Mempool::new(&mut dma, 1024, 2048).unwrap_or_else(|_| fail("feed pool"));
    let order_pool = Mempool::new(&mut dma, 512, 2048).unwrap_or_else(|_| fail("order pool"));
    let mut feed =
        open_virtio_net_at(platform, FEED_SLOT, &feed_pool, &mut dma).unwrap_or_else(|e| fail(e));
    let orders_nic =
        open_virtio_net_at(platform, ORDER_SLOT, &order_pool, &mut dma).unwrap_or_else(|e| fail(e));
    let feed_mac = feed.mac_address().0;
    let order_mac = orders_nic.mac_address().0;

    // The venues. `venue=IP:PORT` names the primary FIX acceptor; the
    // default is the address the `fix-probe` mode's `guestfwd` wiring uses.
    let mut addresses: Vec<([u8; 4], u16), VENUES> = Vec::new();
    let _ = addresses.push(address_option(platform, "venue").unwrap_or(([10, 0, 2, 100], 9878)));
    if let Some(second) = address_option(platform, "venue2") {
        let _ = addresses.push(second);
    }
    let fees = [
        fees_option(platform, "fees", (3_000, -2_000)),
        fees_option(platform, "fees2", (3_000, -2_000)),
    ];
    let mut router_config = RouterConfig::default();
    match platform
        .info
        .value_of("route-latency-penalty")
        .map(str::parse::<i64>)
    {
        Some(Ok(n)) => router_config.latency_penalty = n,
        Some(Err(_)) => fail("route-latency-penalty= takes a whole number"),
        None => {}
    }
    let mut router = Router::new(router_config);
    for (i, (take_fee, make_fee)) in fees.iter().copied().enumerate().take(addresses.len()) {
        if router
            .add_venue(VenueConfig {
                id: venue_id(i),
                take_fee,
                make_fee,
                mass_cancel: mass_cancel_option(platform, i),
            })
            .is_err()
        {
            fail("router venues");
        }
    }

    // The pipeline: one market maker on AAA (cent tick), at whatever
    // locate the day's directory gives AAA (see `start_session` below).
    let book_config = book::BookConfig {
        max_orders: 65_536,
        max_levels: 8_192,
    };
    let book = book::Book::with_capacity(book_config);
    let mut strategies: Engine<4, 8> = Engine::new();
    let symbol = Symbol::new("AAA").unwrap_or_default();
    let mm = MarketMaker::new(
        StrategyId(1),
        MM_START_LOCATE,
        symbol,
        MmParams::default_for_cent_tick(),
    )
    .unwrap_or_else(|_| fail("market maker parameters"));
    if strategies.add(Hosted::MarketMaker(mm)).is_err() {
        fail("strategy engine");
    }
    // `taker=QTY`: beside the maker, a taker on AAA that buys or sells QTY
    // at the touch, IOC, on the order-book imbalance (see `taker`). Its
    // orders larger than one venue shows at the price are split across
    // the venues.
    match platform.info.value_of("taker").map(str::parse::<u32>) {
        Some(Ok(qty)) if qty > 0 => {
            let taker = taker(symbol, qty).unwrap_or_else(|why| fail(why));
            if strategies.add(Hosted::Signal(taker)).is_err() {
                fail("strategy engine");
            }
            println!(
                "trade: taker enabled, {qty} shares a trade, IOC, on the top-of-book imbalance"
            );
        }
        Some(_) => fail("taker= takes a whole number of shares > 0"),
        None => {}
    }
    let mut limits = pipeline::config::startup_limits();
    // `risk-max-qty=N` tightens the per-order size limit (the lab's risk test).
    match platform.info.value_of("risk-max-qty").map(str::parse) {
        Some(Ok(n)) => limits.default_symbol.max_order_qty = n,
        Some(Err(_)) => fail("risk-max-qty= takes a whole number"),
        None => {}
    }
    let risk = RiskEngine::new(
        Capacity {
            symbols: RISK_SYMBOLS,
            orders: 4_096,
            duplicate_slots: 256,
        },
        limits,
    )
    .unwrap_or_else(|_| fail("risk limits"));
    // `journal-wait=N`: ask the companion for the journal (FIX sequence
    // numbers, fills, ClOrdID epoch) and wait up to N s for it before
    // logging on, so a restart continues the venue sessions where they stood.
    let journal_wait = match platform
        .info
        .value_of("journal-wait")
        .map(str::parse::<u64>)
    {
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => fail("journal-wait= takes whole seconds"),
        None => None,
    };
    if journal_wait.is_some() && !kernel::mailbox::is_present() {
        fail("journal-wait= needs the mailbox");
    }
    let reserve = match platform
        .info
        .value_of("journal-reserve")
        .map(|v| v.parse::<u64>().ok().and_then(ReserveSizes::scaled))
    {
        Some(Some(sizes)) => sizes,
        Some(None) => fail("journal-reserve= takes a whole number from 16 to 2^32"),
        None => ReserveSizes::DEFAULT,
    };
    let handed_back = journal_wait.is_some_and(|secs| await_journal(platform, secs, layout));
    // `config-wait=N`: wait up to N s for the companion's configuration
    // before logging on: its venues give each session its identity.
    let startup_config = match platform.info.value_of("config-wait").map(str::parse::<u64>) {
        Some(Ok(secs)) if kernel::mailbox::is_present() => await_config(platform, secs, layout),
        Some(Ok(_)) => fail("config-wait= needs the mailbox"),
        Some(Err(_)) => fail("config-wait= takes whole seconds"),
        None => None,
    };
    let configured = |i: usize| startup_config.as_ref().and_then(|c| c.venues.get(i));
    // The sessions' identities come from the configuration: so do later
    // configurations' changes to them (see `apply_venue_config`).
    let venues_from_config = startup_config.is_some();
    // Each venue's backup gateway, if the configuration names one.
    let mut backups: [Option<Address>; VENUES] = [None; VENUES];
    for (i, address) in addresses.iter_mut().enumerate() {
        if let Some(v) = configured(i) {
            match gateway::venue::gateways(v) {
                Ok(g) => {
                    *address = g.first;
                    backups[i] = g.backup;
                }
                Err(_) => fail("a configured venue's host is not an IPv4 address"),
            }
        }
    }
    let mut session_states = [SessionState::default(); VENUES];
    let mut last_epoch = 0;
    if handed_back {
        let h = kernel::mailbox::HANDBACK.lock();
        for (i, state) in session_states.iter_mut().enumerate() {
            if let Some(r) = h.fix_seq.iter().find(|r| r.venue == venue_id(i)) {
                *state = SessionState {
                    next_out: r.next_out,
                    next_in: r.next_in,
                };
                last_epoch = last_epoch.max(r.epoch);
            }
        }
        let fill_epoch = h
            .fills
            .iter()
            .map(|f| gateway::oms::ClOrdId(f.order.0).epoch())
            .max()
            .unwrap_or(0);
        last_epoch = last_epoch.max(fill_epoch);
    } else {
        last_epoch = gateway::oms::epoch_from_clock(platform.utc_ns());
    }
    let oms = Oms::new(OmsConfig {
        orders: 4_096,
        symbols: RISK_SYMBOLS,
        last_epoch,
    })
    .unwrap_or_else(|_| fail("oms"));
    let mut pipeline: Pipeline<4, 8> =
        Pipeline::with_router(book, strategies, risk, oms, venue_id(0), router);
    for i in 1..addresses.len() {
        if !pipeline.add_away_book(venue_id(i), book::Book::with_capacity(book_config)) {
            fail("away book");
        }
    }
    let mut exec_seq = 0;
    if handed_back {
        let h = kernel::mailbox::HANDBACK.lock();
        let mut applied = 0;
        // Fills are AAA's by symbol: locates are per day, and the one a
        // fill was recorded under may name another stock today. They are
        // restored under the maker's starting locate and follow AAA to
        // today's locate when the directory names it (`start_session`).
        // Every record also tells the OMS which executions are on the
        // books (`Pipeline::restore_journaled`).
        for f in h.fills.iter() {
            let held = f.symbol == symbol;
            pipeline.restore_journaled(f, held.then_some(MM_START_LOCATE));
            if held {
                exec_seq = exec_seq.max(f.exec_seq);
                applied += 1;
            }
        }
        println!(
            "trade: journal applied: {applied} fills, position AAA {}, maker {}, FIX next out {} next in {}, ClOrdID epoch {}",
            pipeline.oms.position(MM_START_LOCATE).map_or(0, |p| p.qty),
            match pipeline.strategies.get(StrategyId(1)) {
                Some(strategy::engine::Hosted::MarketMaker(m)) => m.position(),
                _ => 0,
            },
            session_states[0].next_out,
            session_states[0].next_in,
            pipeline.oms.epoch()
        );
    } else {
        // No journal: the epoch comes from the wall clock, so this boot's
        // ClOrdIDs differ from those of a boot in another second.
        println!(
            "trade: ClOrdID epoch {} (no journal: from the clock)",
            pipeline.oms.epoch()
        );
    }
    // No decisions until a venue session is up.
    pipeline.set_trading(false);
    // AAA's locate is today's directory's to say: the maker decides nothing
    // until it has (whatever locate it was built with), and a restored
    // position follows AAA there.
    pipeline.start_session(
        types::Nanos(platform.now_ns()),
        &[(MM_START_LOCATE, symbol)],
    );

    // The order path: one interface, one connection and session per venue.
    let mut device = NicDevice::new(orders_nic);
    let mut storage = [SocketStorage::EMPTY; VENUES];
    let link_config = LinkConfig {
        mac: order_mac,
        address: [10, 0, 2, 15],
        prefix_len: 24,
        gateway: [10, 0, 2, 2],
        seed: cpu::rdtsc(),
    };
    let mut link = TcpLink::new(&mut device, link_config, &mut storage, platform.now_ns());
    let mut ports: Vec<Port<'_>, VENUES> = Vec::new();
    for (i, b) in st.venues.iter_mut().enumerate().take(addresses.len()) {
        let remote = Remote {
            addr: addresses[i],
            backup: backups[i],
            local_port: 49_152 + 4_096 * i as u16,
            backoff: Backoff::new(100_000_000, 2_000_000_000),
        };
        let conn = link
            .connect_to(remote, &mut b.tcp_rx, &mut b.tcp_tx, platform.now_ns())
            .unwrap_or_else(|| fail("tcp connection"));
        let config = match configured(i) {
            // The configured identity: CompIDs, version, heartbeat and the
            // password the companion filled in from its secrets file.
            Some(v) => {
                let config = gateway::venue::session_config(v).unwrap_or_else(|e| {
                    println!("trade: configured venue {}: {e}", venue_id(i).0);
                    fail("a configured venue")
                });
                say!(
                    "trade: venue {} session {} -> {} FIX {} heartbeat {} s{}{}{} (configuration)",
                    venue_id(i).0,
                    v.sender_comp_id,
                    v.target_comp_id,
                    config.version.name(),
                    v.heartbeat_secs,
                    if v.username.is_some() { ", user " } else { "" },
                    v.username.as_deref().unwrap_or(""),
                    if config.password.is_some() {
                        ", with a password"
                    } else {
                        ""
                    }
                );
                if let Some(backup) = backups[i] {
                    say!(
                        "trade: venue {} gateways {} and {} (attempts take turns)",
                        venue_id(i).0,
                        GatewayAddr(addresses[i]),
                        GatewayAddr(backup)
                    );
                }
                config
            }
            None => {
                let version = fix_version_option(platform, i);
                let mut config = SessionConfig::new(Role::Initiator, version, "APPL", "EXCH")
                    .unwrap_or_else(|| fail("CompIDs"));
                // Short heartbeats: a silently dead connection (no FIN
                // reaches us through some NATs, QEMU's user network among
                // them) is found in seconds.
                config.heart_bt_int_s = 2;
                config
            }
        };
        let buffers = SessionBuffers {
            rx: &mut b.fix_rx,
            tx: &mut b.fix_tx,
            store: &mut b.store,
            queue: &mut b.queue,
            decoder: &mut b.decoder,
        };
        let mut session =
            Session::new(config, session_states[i], buffers).unwrap_or_else(|_| fail("session"));
        session.set_out_capacity(b.out.capacity());
        session.set_out_room(b.out.capacity() - b.out.len());
        let port = Port {
            id: venue_id(i),
            conn,
            session,
            sequencer: &mut b.sequencer,
            out: &mut b.out,
            logged_on: false,
            session_ended: None,
            link_lost: false,
            reservation: SeqReservation::new(reserve),
            logout_due: false,
            cancels_on_disconnect: cod_option(platform, i),
        };
        if ports.push(port).is_err() {
            fail("venues");
        }
    }

    let mut filter: Filter<FEED_SUBSCRIPTIONS> = Filter::new();
    for lines in FEEDS.iter().take(ports.len()) {
        let _ = filter.subscribe(lines.a);
        let _ = filter.subscribe(lines.b);
    }
    // Answers to our retransmission requests, from any venue's recovery
    // server (told apart by their source).
    let answers = filter
        .subscribe(Subscription {
            group: FEED_ADDR,
            port: REQUEST_PORT,
        })
        .unwrap_or(usize::MAX);

    kernel::HEAP.seal();
    println!(
        "trade: feed NIC {:02x?}, order NIC {:02x?}; trading AAA on {} venue(s) for {seconds} s; heap sealed",
        feed_mac,
        order_mac,
        ports.len()
    );
    defmt::info!("trade: started for {=u64} s", seconds);

    let end = platform.now_ns() + seconds * 1_000_000_000;
    // `panic-after=N` / `fault-after=N`: a deliberate panic or CPU
    // exception (#UD) N seconds in (the lab's crash tests).
    let after = |name: &str| match platform.info.value_of(name).map(str::parse::<u64>) {
        Some(Ok(n)) => Some(platform.now_ns() + n * 1_000_000_000),
        Some(Err(_)) => fail("panic-after= and fault-after= take whole seconds"),
        None => None,
    };
    let panic_at = after("panic-after");
    let panic_at_fill = match platform
        .info
        .value_of("panic-at-fill")
        .map(str::parse::<u64>)
    {
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => fail("panic-at-fill= takes a whole number from 1"),
        None => None,
    };
    let mut fills_applied = 0u64;
    let fault_at = after("fault-after");
    let mut inbound = [0u8; INBOUND_BYTES];
    let mut frames: PacketBatch<'_, FEED_BATCH> = PacketBatch::new();
    let mut tally = Tally::default();
    let mut killed = false;
    let mut rearm_refused = 0u8;
    let mut closing = false;
    let mut logout_sent = false;
    let exec_buf = &mut st.reports;
    let refused_buf = &mut st.refused;
    let mut telemetry = Telemetry::new(&platform.clock, &mut st.stages);
    pipeline.set_clock(cpu::rdtsc);
    // Start-up is over: the companion sees the appliance running.
    kernel::mailbox::set_running();
    // The first order of the current loop turn, until its doorbell.
    let mut in_flight: Option<InFlight> = None;
    let mut last_publish_ns = 0;
    // When the kill switch was first seen engaged (for the companion).
    let mut tripped_at: Option<u64> = None;
    let journaling = journal_wait.is_some();
    // Decisions wait for the journal (see `orders_may_go`).
    let mut journal_waiting = false;
    let mut journal = JournalOut {
        fills: &mut st.fills,
        overflow: 0,
    };
    // One core, one loop: it keeps house itself between turns.
    let mut keeper = (layout == Layout::Single).then(|| Housekeeper::new(platform));
    let me = match layout {
        Layout::Split { core } => core,
        Layout::Single => 0,
    };
    let heartbeat = &CORES[me].heartbeat;
    let mut turns = heartbeat.load(Ordering::Relaxed);
    let mut seen_config = 0;
    // Strategies' timers (fast-market cooldowns, disabled strategies
    // pulling quotes) tick every 10 ms.
    let mut next_timer_ns = 0;
    LOOPING.store(true, Ordering::Release);
    loop {
        let now_ns = platform.now_ns();
        let now = Nanos(now_ns);
        let utc = UtcTime(platform.utc_ns());
        // A plain store of a private count: no read-modify-write on a line
        // the watchdog reads.
        turns += 1;
        heartbeat.store(turns, Ordering::Relaxed);
        if let Some(keeper) = keeper.as_mut() {
            keeper.step(8);
        }
        if journaling {
            // Before anything this turn sends: a renewed reservation of
            // outgoing sequence numbers goes to the journal well before the
            // confirmed one runs out (see `orders_may_go` below), and each
            // session learns what the journal has confirmed: it sends no
            // message — Logon, heartbeat, order, cancel — numbered at or
            // above that (`Session::set_out_limit`), so a crash always
            // comes back above every number a venue has seen.
            journal.flush(&mut ports, pipeline.oms.epoch(), now_ns);
            for port in ports.iter_mut() {
                let confirmed = kernel::mailbox::persisted_out(port.id.0);
                port.session.set_out_limit(confirmed);
            }
        }
        // A configuration from the companion takes effect between two
        // messages (one load per turn when there is nothing new).
        let mut applied: Option<(u64, protocol::mailbox::config::ApplianceConfig)> = None;
        DOWNLINK
            .config
            .read_newer(&mut seen_config, |c| applied = c.clone());
        if let Some((generation, cfg)) = applied {
            // Limits first: whatever the retuned strategies send at once
            // meets the new limits. Whole or not at all: strategies are
            // retuned only under the limits that came with them (every
            // strategy bound is also checked by the mailbox's validation).
            match pipeline.apply_risk_config(&cfg.risk, RISK_SYMBOLS, now) {
                Ok(m) => {
                    say!(
                        "trade: risk limits of configuration generation {generation} in force ({} restricted symbol(s) not in the directory yet)",
                        m.unknown_symbols
                    );
                    let _ = UPLINK.event(MailboxEvent::ConfigApplied { generation });
                    let strategies = pipeline.apply_strategy_config(
                        &cfg.strategies,
                        now,
                        &mut |o: &Outbound| send_to_venue(&mut ports, o, utc),
                    );
                    say!(
                        "trade: strategies of configuration generation {generation}: {} retuned, {} not running here, {} for other symbols, {} refused",
                        strategies.applied,
                        strategies.not_running,
                        strategies.other_symbols,
                        strategies.refused
                    );
                    apply_venue_config(
                        &cfg.venues,
                        generation,
                        venues_from_config,
                        &mut ports,
                        &mut link,
                    );
                }
                Err(e) => {
                    say!("trade: risk limits of configuration generation {generation} refused: {e}; the previous configuration stays")
                }
            }
        }
        if now_ns >= next_timer_ns {
            next_timer_ns = now_ns + 10_000_000;
            pipeline.on_timer(now, &mut |o: &Outbound| send_to_venue(&mut ports, o, utc));
        }
        if now_ns.saturating_sub(last_publish_ns) >= 100_000_000 {
            last_publish_ns = now_ns;
            if tripped_at.is_none() && pipeline.risk.tripped().is_some() {
                tripped_at = Some(now_ns);
            }
            let nics = [nic_status(&mut feed), {
                // Frames smoltcp made that found no buffer or a full ring
                // are the order NIC's drops too (TCP sends them again).
                let mut order_nic = nic_status(device.nic());
                order_nic.tx_dropped += device.tx_dropped;
                order_nic
            }];
            if !publish(
                &pipeline, &tally, &filter, &ports, &telemetry, tripped_at, nics,
            ) {
                // Housekeeping was reading that slot: try again next turn.
                last_publish_ns = 0;
            }
        }

        // Market data: subscriptions 2k and 2k+1 are venue k's lines A and B.
        feed.rx_batch(0, &mut frames);
        let rx_tsc = cpu::rdtsc();
        // Each frame is classified once; the frames stay in the batch (their
        // buffers go back to the pool at its end) while their datagrams are
        // read. The first frame is classified and applied at once: its
        // latency is what a quiet feed sees, and nothing queues ahead of
        // it. Frames behind it (a burst) are classified after it, and their
        // messages warmed together before the next is applied.
        let mut datagrams: Vec<Option<Datagram<'_>>, FEED_BATCH> = Vec::new();
        if let Some(first) = frames.iter().next() {
            let _ = datagrams.push(filter.process(first.data()));
        }
        for i in 0..frames.len() {
            if i == 1 {
                for frame in frames.iter().skip(1) {
                    // (The batch holds at most `FEED_BATCH` frames.)
                    let _ = datagrams.push(filter.process(frame.data()));
                }
                let rest = datagrams.get(1..).unwrap_or(&[]);
                tally.feed_warmed +=
                    warm_feed_batch(&pipeline, &ports, rest, &mut tally.feed_warmed_by_venue);
            }
            tally.feed_frames += 1;
            let Some(d) = datagrams.get(i).copied().flatten() else {
                tally.feed_dropped += 1;
                continue;
            };
            let (venue, line) = if d.subscription == answers {
                let from = |f: &FeedLines| {
                    f.recovery.addr == d.src_addr.0 && f.recovery.port == d.src_port
                };
                match FEEDS.iter().take(ports.len()).position(from) {
                    Some(venue) => (venue, Line::Retransmission),
                    None => {
                        // To our port, from no recovery server we know.
                        tally.feed_dropped += 1;
                        continue;
                    }
                }
            } else if d.subscription % 2 == 0 {
                (d.subscription / 2, Line::A)
            } else {
                (d.subscription / 2, Line::B)
            };
            let Some((port, others)) = ports.split_first_mut() else {
                continue;
            };
            if venue > 0 {
                let Some(away) = others.get_mut(venue - 1) else {
                    continue;
                };
                let id = away.id;
                if away.sequencer.would_replace_session(line, d.payload) {
                    say!(
                        "trade: venue {}'s feed starts a new session; its book is cleared",
                        id.0
                    );
                    pipeline.reset_away(id);
                }
                away.sequencer
                    .on_packet(
                        line,
                        d.payload,
                        now,
                        &mut |_, msg| match Message::parse(msg) {
                            Ok(m) => pipeline.on_away_itch(id, &m),
                            Err(_) => tally.itch_malformed += 1,
                        },
                    );
                continue;
            }
            let Port {
                id: primary,
                session,
                out,
                logged_on,
                sequencer,
                ..
            } = port;
            let (primary, primary_up) = (*primary, *logged_on);
            if sequencer.would_replace_session(line, d.payload) {
                // A new trading day: the old book goes before the new
                // session's first message arrives in it.
                say!("trade: the feed starts a new session; the book is cleared");
                pipeline.reset_feed(now);
            }
            // The batch's first frame applies its first message at once; the
            // rest of its packet (a busy feed packs many) is warmed after it.
            let mut rest_of_packet = (i == 0)
                .then(|| sequencer.lookahead())
                .filter(|_| pipeline::packet_holds_more_than(d.payload, 2));
            sequencer.on_packet(
                line,
                d.payload,
                now,
                &mut |_, msg| match Message::parse(msg) {
                    Ok(m) => {
                        let decoded = cpu::rdtsc();
                        let mut encoded = 0;
                        pipeline.on_itch(&m, now, &mut |o: &Outbound| {
                            let (sent, handed) = if o.venue() == primary {
                                let mut sends = Sends {
                                    session: &mut *session,
                                    out,
                                    now: utc,
                                    handed: 0,
                                };
                                let sent = primary_up && send_outbound(o, utc, &mut sends);
                                (sent, sends.handed)
                            } else {
                                send_to_venue_stamped(others, o, utc)
                            };
                            // The first order's bytes in the TCP buffer end
                            // its `fix-encode` stage.
                            if sent && encoded == 0 {
                                encoded = if handed != 0 { handed } else { cpu::rdtsc() };
                            }
                            sent
                        });
                        let s = pipeline.stamps();
                        telemetry.record(Stage::RxDecode, rx_tsc, decoded);
                        telemetry.record(Stage::Book, decoded, s.book);
                        if encoded != 0 && s.risk != 0 {
                            telemetry.record(Stage::Strategy, s.book, s.strategy);
                            telemetry.record(Stage::RiskOms, s.strategy, s.risk);
                            telemetry.record(Stage::FixEncode, s.risk, encoded);
                            if in_flight.is_none() {
                                in_flight = Some(InFlight {
                                    rx: rx_tsc,
                                    encoded,
                                });
                            }
                        }
                        if let Some(mut ahead) = rest_of_packet.take() {
                            let n = pipeline.prefetch_itch(ahead.fresh(d.payload).skip(1)) as u64;
                            tally.feed_warmed += n;
                            tally.feed_warmed_by_venue[0] += n;
                        }
                    }
                    Err(e) => {
                        tally.itch_malformed += 1;
                        if tally.itch_malformed <= REPORT_LIMIT {
                            say!("trade: malformed ITCH message dropped: {e:?}");
                        }
                    }
                },
            );
        }
        // The datagrams borrow the frames: gone before the buffers go back.
        drop(datagrams);
        frames.clear();
        for port in ports.iter_mut() {
            if let Some(req) = port.sequencer.poll(now) {
                let number = tally.requests + tally.requests_unsent + 1;
                // One not sent (no buffer, a full ring) is asked again when
                // the sequencer's request times out.
                if send_retransmit_request(&req, feed_mac, number, &feed_pool, &mut feed) {
                    tally.requests += 1;
                } else {
                    tally.requests_unsent += 1;
                }
            }
        }

        // Order path. Orders decided above go out in this turn's poll (one
        // doorbell).
        for port in ports.iter_mut() {
            flush_out(&mut link, port);
        }
        let events = link.poll(&mut device, now_ns);
        if let Some(order) = in_flight.take() {
            telemetry.sent(order, cpu::rdtsc());
        }
        let mut lost: Vec<(VenueId, bool), VENUES> = Vec::new();
        let mut mass_events: Vec<(VenueId, MassCancelEvent), { 2 * VENUES }> = Vec::new();
        for port in ports.iter_mut() {
            let id = port.id;
            let was_up = port.logged_on;
            let Port {
                session,
                out,
                logged_on,
                session_ended,
                link_lost,
                conn,
                ..
            } = port;
            let refused = &mut *refused_buf;
            refused.clear();
            let mut sink = |e: Event<'_>| match e {
                Event::Send(bytes) => {
                    let _ = out.extend_from_slice(bytes);
                }
                Event::LoggedOn => {
                    say!("trade: logged on to venue {}", id.0);
                    *logged_on = true
                }
                Event::LoggedOut => {
                    say!("trade: logged out of venue {}", id.0);
                    *logged_on = false
                }
                // The venue's reason, if it gives one, is in its Logout's Text.
                Event::PeerLogout(m) => {
                    let reason = m.get(tag::TEXT).and_then(|t| core::str::from_utf8(t).ok());
                    say!(
                        "trade: venue {} sent Logout: {:?}",
                        id.0,
                        reason.unwrap_or("")
                    );
                }
                Event::Disconnect(r) => {
                    say!("trade: session with venue {} ended: {r:?}", id.0);
                    *session_ended = Some(r);
                }
                // A session-level Reject, or a BusinessMessageReject, of one
                // of our orders, cancels or replaces: resolved to its ClOrdID
                // below, once the session is free to look up what it sent.
                Event::PeerReject(m) => {
                    tally.fix_peer_rejects += 1;
                    if let Ok(Some(seq)) = m.get_uint(tag::REF_SEQ_NUM) {
                        if refused.push(Refused::Seq(seq)).is_err() {
                            tally.reports_unusable += 1;
                        }
                    }
                }
                Event::Deliver(m) if m.msg_type() == msg_type::BUSINESS_MESSAGE_REJECT => {
                    tally.fix_peer_rejects += 1;
                    match BusinessMessageReject::parse(m) {
                        Ok(r) => {
                            let named = r.business_reject_ref_id.and_then(ClOrdId::parse);
                            let which = match (named, r.ref_seq_num) {
                                _ if r.ref_msg_type == msg_type::ORDER_MASS_CANCEL_REQUEST => {
                                    Some(Refused::MassCancel)
                                }
                                (Some(cl), _) => Some(Refused::Order(cl)),
                                (None, Some(seq)) => Some(Refused::Seq(seq)),
                                (None, None) => None,
                            };
                            if let Some(which) = which {
                                if refused.push(which).is_err() {
                                    tally.reports_unusable += 1;
                                }
                            }
                        }
                        Err(_) => tally.reports_unusable += 1,
                    }
                }
                Event::Dropped(e) => {
                    tally.fix_dropped += 1;
                    if tally.fix_dropped <= REPORT_LIMIT {
                        say!("trade: FIX input dropped: {e:?}");
                    }
                }
                Event::Deliver(m) if m.msg_type() == msg_type::EXECUTION_REPORT => {
                    match ExecutionReport::parse(m).and_then(|r| exec_report(&r)) {
                        Ok(rep) => queue_report(exec_buf, id, rep, &mut tally),
                        Err(_) => tally.reports_unusable += 1,
                    }
                }
                // A refused cancel or replace: the OMS puts the order back
                // (and a kill's sweep cancels it again under its current id).
                Event::Deliver(m) if m.msg_type() == msg_type::ORDER_CANCEL_REJECT => {
                    match OrderCancelReject::parse(m) {
                        Ok(r) => queue_report(exec_buf, id, cancel_reject(&r), &mut tally),
                        Err(_) => tally.reports_unusable += 1,
                    }
                }
                Event::Deliver(m) if m.msg_type() == msg_type::ORDER_MASS_CANCEL_REPORT => {
                    match OrderMassCancelReport::parse(m) {
                        Ok(r) => {
                            let answer = MassCancelEvent::Answer(mass_cancel_answer(&r));
                            if mass_events.push((id, answer)).is_err() {
                                tally.reports_unusable += 1;
                            }
                        }
                        Err(_) => tally.reports_unusable += 1,
                    }
                }
                _ => {}
            };
            for (_, event) in events.iter().filter(|(c, _)| c == conn) {
                match event {
                    LinkEvent::Connected => {
                        if let Some(at) = link.gateway(*conn) {
                            say!("trade: connected to venue {} at {}", id.0, GatewayAddr(at));
                        }
                        session.connect(utc, &mut sink);
                        if session.logon_held() {
                            say!(
                                "trade: the Logon to venue {} waits for the journal to confirm its sequence number (or for room to send it)",
                                id.0
                            );
                        }
                    }
                    LinkEvent::Disconnected => {
                        // What the venue sent before it closed (reports, its
                        // Logout) is still in the socket: the session reads
                        // it before it learns of the close.
                        for _ in 0..DRAIN_READS {
                            let n = link.recv(*conn, &mut inbound);
                            if n == 0 {
                                break;
                            }
                            session.on_bytes(utc, &inbound[..n], &mut sink);
                        }
                        if logout_sent {
                            // Done: no new session after our own Logout.
                            say!("trade: connection to venue {} closed", id.0);
                            link.close(*conn);
                        } else {
                            say!("trade: connection to venue {} lost; reconnecting", id.0);
                        }
                        *link_lost = true;
                        session.disconnected();
                    }
                }
            }
            let n = link.recv(*conn, &mut inbound);
            if n > 0 {
                session.on_bytes(utc, &inbound[..n], &mut sink);
            }
            session.on_tick(utc, &mut sink);
            match session_ended.take() {
                Some(reason) if !logout_sent => {
                    if peer_unresponsive(reason) {
                        // The venue stopped answering: drop the connection
                        // at once (RST) and log on again on a new one.
                        say!("trade: connection to venue {} lost; reconnecting", id.0);
                        link.reset(*conn, now_ns);
                    } else {
                        // The session ended with a message the venue must
                        // still get (our answer to its Logout, or a Logout
                        // saying why): it goes out, then FIN, and a new
                        // connection follows after the backoff.
                        let sent = link.send(*conn, out);
                        if sent < out.len() {
                            tally.fix_unsent_at_close += 1;
                        }
                        say!(
                            "trade: closing the connection to venue {}; reconnecting",
                            id.0
                        );
                        link.close_and_reconnect(*conn, now_ns);
                    }
                    *link_lost = true;
                }
                _ => {}
            }
            if *link_lost {
                // No orders to this venue until the session is back; what
                // TCP had not taken belongs to the old connection (the
                // session resends by sequence number after the next logon).
                *logged_on = false;
                *link_lost = false;
                out.clear();
                session.set_out_room(out.capacity());
            }
            for which in refused.drain(..) {
                let cl = match which {
                    Refused::Order(cl) => Some(cl),
                    Refused::MassCancel => {
                        if mass_events
                            .push((id, MassCancelEvent::Unsupported))
                            .is_err()
                        {
                            tally.reports_unusable += 1;
                        }
                        None
                    }
                    // Only our orders, cancels and replaces are answered
                    // (a refused admin message is not kept, nor anything
                    // sent before a forgotten connection).
                    Refused::Seq(seq) => {
                        let mut buf = [0u8; 32];
                        match session.sent_cl_ord_id(seq, &mut buf) {
                            Some((_, [b'q', 0])) => {
                                if mass_events
                                    .push((id, MassCancelEvent::Unsupported))
                                    .is_err()
                                {
                                    tally.reports_unusable += 1;
                                }
                                None
                            }
                            Some((text, [b'D' | b'F' | b'G', 0])) => ClOrdId::parse(text),
                            _ => None,
                        }
                    }
                };
                if let Some(cl) = cl {
                    queue_report(
                        exec_buf,
                        id,
                        gateway::oms::ExecReport::new(cl, gateway::oms::ExecType::Rejected),
                        &mut tally,
                    );
                }
            }
            if !was_up && *logged_on {
                // Reconnection attempts start from the shortest delay again
                // only once a session is up, not at every TCP connect: a
                // venue that refuses our Logon is not hammered.
                link.session_up(*conn);
            }
            if was_up && !*logged_on {
                if port.cancels_on_disconnect {
                    // The venue cancelled every order of this session, and
                    // `venue_lost` finishes them here: none may be resent.
                    port.session.forget_sent();
                }
                let _ = lost.push((id, port.cancels_on_disconnect));
            } else {
                pipeline.set_session(id, *logged_on && !logout_sent);
            }
        }
        // Decisions need a venue to send to and a book without holes: while
        // the primary feed has a gap (loss being recovered, or a late join
        // replaying the session) the book is not the market.
        let feed_whole = ports.first().is_some_and(|p| !p.sequencer.has_gap());
        // With a journal, decisions also need room below the number the
        // journal has confirmed (each session's limit, set at the top of
        // the turn): the sessions send nothing at or above it (the bound),
        // and new orders stop a margin short of it so that cancels and
        // heartbeats still have numbers.
        let confirmed = !journaling
            || (!journal.backed_up()
                && ports.iter().filter(|p| p.logged_on).all(|p| {
                    p.reservation
                        .orders_may_go(p.session.state().next_out, p.session.out_limit())
                }));
        if confirmed == journal_waiting {
            journal_waiting = !confirmed;
            if journal_waiting {
                tally.journal_waits += 1;
                if tally.journal_waits <= REPORT_LIMIT {
                    if journal.backed_up() {
                        say!(
                            "trade: orders wait: the companion's journal has not taken {} fills",
                            journal.fills.len()
                        );
                    } else {
                        say!(
                            "trade: orders wait: fewer than {} outgoing FIX sequence numbers confirmed by the companion's journal",
                            reserve.margin
                        );
                    }
                }
            } else if tally.journal_waits <= REPORT_LIMIT {
                say!("trade: the journal confirmed outgoing FIX sequence numbers; orders go");
            }
        }
        let any_up = ports.iter().any(|p| p.logged_on) && !logout_sent && feed_whole && confirmed;
        if pipeline.is_trading() != any_up {
            pipeline.set_trading(any_up);
        }
        for (venue, cancels) in lost {
            pipeline.venue_lost(venue, cancels && !logout_sent, now, &mut |o: &Outbound| {
                send_to_venue(&mut ports, o, utc)
            });
        }
        for (from, rep) in exec_buf.iter() {
            let before = pipeline
                .oms
                .position(aaa_locate(&pipeline))
                .map_or(0, |p| p.qty);
            pipeline.on_exec_report(rep, now, &mut |o: &Outbound| {
                send_to_venue(&mut ports, o, utc)
            });
            let moved = pipeline
                .oms
                .position(aaa_locate(&pipeline))
                .map_or(0, |p| p.qty)
                - before;
            // A bust or correction of AAA: journaled as the fills it
            // amounts to (the old execution taken back, the corrected one
            // in), so a restart restores the same position and total PnL —
            // a correction of the price alone moves no shares but money.
            let adjusted = pipeline
                .oms
                .take_adjustment()
                .filter(|a| a.locate == aaa_locate(&pipeline));
            if journaling && adjusted.is_some() {
                let exec_key = rep.exec_id.map_or(0, |k| k.0.get());
                for a in adjusted.iter() {
                    let venue = pipeline.oms.venue_of(a.order).map_or(*from, |v| v.0);
                    // The first record takes the old execution back (and
                    // names it), the second is the corrected fill.
                    for (i, fill) in a.as_fills().into_iter().enumerate() {
                        let Some((side, qty, price)) = fill else {
                            continue;
                        };
                        exec_seq += 1;
                        journal.fill(FillRecord {
                            exec_seq,
                            order: a.order,
                            venue,
                            locate: a.locate,
                            symbol,
                            side,
                            qty,
                            price,
                            ts_ns: utc.0,
                            exec_key,
                            strategy: a.strategy,
                            adjusts: match (i, a.of) {
                                (0, Some(of)) => of.0.get(),
                                _ => 0,
                            },
                        });
                    }
                }
            } else if journaling && moved != 0 {
                exec_seq += 1;
                // The order the report's ClOrdID names (a replace's or a
                // cancel's too), at its venue; a fill without LastPx went
                // at the order's price, as the OMS booked it. An earlier
                // boot's fill recovered from a resend (no such order here)
                // is journaled under its own ClOrdID, from the venue that
                // sent it, at LastPx or else the report's Price.
                let named = rep.cl_ord_id.and_then(|c| pipeline.oms.order_named(c));
                let (order, venue, order_price) = named.map_or(
                    (
                        types::OrderId(rep.cl_ord_id.map_or(0, |c| c.0)),
                        *from,
                        rep.price,
                    ),
                    |n| (n.order, n.venue, n.price),
                );
                journal.fill(FillRecord {
                    exec_seq,
                    order,
                    venue,
                    locate: aaa_locate(&pipeline),
                    symbol,
                    side: if moved > 0 {
                        types::Side::Buy
                    } else {
                        types::Side::Sell
                    },
                    qty: moved.unsigned_abs() as u32,
                    price: if rep.last_px.0 > 0 {
                        rep.last_px
                    } else {
                        order_price
                    },
                    ts_ns: utc.0,
                    exec_key: rep.exec_id.map_or(0, |k| k.0.get()),
                    // A recovered fill's ClOrdID names its strategy.
                    strategy: named
                        .map(|n| n.strategy)
                        .or(rep.cl_ord_id.map(|c| c.strategy())),
                    adjusts: 0,
                });
            }
            if moved != 0 {
                fills_applied += 1;
                if panic_at_fill == Some(fills_applied) {
                    panic!("deliberate panic during trading (panic-at-fill)");
                }
            }
        }
        exec_buf.clear();
        // Mass cancel answers after the reports of the orders they canceled.
        for (venue, event) in mass_events {
            let send = &mut |o: &Outbound| send_to_venue(&mut ports, o, utc);
            match event {
                MassCancelEvent::Answer(answer) => {
                    pipeline.on_mass_cancel_answer(venue, &answer, now, send)
                }
                MassCancelEvent::Unsupported => {
                    pipeline.on_mass_cancel_unsupported(venue, now, send)
                }
            }
        }
        if journaling {
            journal.flush(&mut ports, pipeline.oms.epoch(), now_ns);
            tally.journal_fills_lost = journal.overflow;
        }
        // The kill switch has two owners: the operator (the mailbox's flag)
        // and risk (a trip latches in the pipeline). Each side follows the
        // other; `killed` is the flag as this loop last acted on it.
        let engaged = kernel::mailbox::KILL_SWITCH.load(Ordering::Acquire);
        // The close of the session is no kill: neither side follows it.
        let tripped = pipeline
            .risk
            .tripped()
            .filter(|&c| c != risk::TripCause::EndOfSession);
        if engaged != killed {
            killed = engaged;
            if engaged && tripped.is_none() {
                pipeline.kill(now, &mut |o: &Outbound| send_to_venue(&mut ports, o, utc));
                say!("trade: kill switch engaged; open orders cancelled");
            } else if !engaged && tripped.is_some() && closing {
                // Past the trading window nothing is re-armed: the close
                // keeps its own stop (a kill engaged before it latched).
                kernel::mailbox::KILL_SWITCH.store(true, Ordering::Release);
                killed = true;
                say!("trade: re-arm refused: the trading window is over");
            } else if !engaged && tripped.is_some() {
                match pipeline.rearm() {
                    Ok(()) => {
                        tripped_at = None;
                        say!("trade: kill switch re-armed; trading resumes");
                    }
                    Err(e) => {
                        // The mailbox refuses a re-arm while the loss
                        // stands; it may have recovered in between.
                        kernel::mailbox::KILL_SWITCH.store(true, Ordering::Release);
                        killed = true;
                        say!("trade: re-arm refused: {:?}", e);
                    }
                }
            }
        } else if !engaged && tripped.is_some() {
            // Risk tripped it (daily loss, reject rate); the pipeline has
            // already sent the cancels.
            kernel::mailbox::KILL_SWITCH.store(true, Ordering::Release);
            killed = true;
            say!(
                "trade: kill switch tripped by risk ({}); open orders cancelled",
                tripped.map_or("", trip_cause_name)
            );
        }
        // Told to core 0 only when it changes (it reads it on `rearm`).
        let refuse = if closing {
            kernel::mailbox::REARM_CLOSED
        } else if tripped.is_some() && pipeline.risk.daily_loss_breached() {
            kernel::mailbox::REARM_LOSS
        } else {
            0
        };
        if refuse != rearm_refused {
            rearm_refused = refuse;
            kernel::mailbox::REARM_REFUSED.store(refuse, Ordering::Release);
        }
        // The window closes in two steps: every open order is canceled,
        // then the sessions log out once the venues confirmed (or after a
        // grace period), so nothing rests at a venue that keeps orders.
        // A venue asked for a mass cancel is also given until its answer
        // (or the pipeline's wait for it runs out) to say what it canceled.
        if now_ns >= end && !closing {
            closing = true;
            pipeline.close_session(now, &mut |o: &Outbound| send_to_venue(&mut ports, o, utc));
            say!(
                "trade: trading window over: {} open order(s) being cancelled",
                pipeline.open_orders()
            );
        }
        if closing
            && !logout_sent
            && ((pipeline.open_orders() == 0 && !pipeline.mass_cancels_unanswered(now))
                || now_ns >= end + CLOSE_GRACE_NS)
        {
            if pipeline.open_orders() > 0 {
                say!(
                    "trade: {} order(s) still open after {} ms; logging out",
                    pipeline.open_orders(),
                    CLOSE_GRACE_NS / 1_000_000
                );
            }
            logout_sent = true;
            for port in ports.iter_mut() {
                port.logout_due = true;
            }
        }
        for port in ports.iter_mut().filter(|p| p.logout_due) {
            let out = &mut *port.out;
            let sent = port.session.logout(utc, Some(b"trading window over"), |e| {
                if let Event::Send(bytes) = e {
                    let _ = out.extend_from_slice(bytes);
                }
            });
            let state = port.session.state();
            let no_number = state.next_out >= port.session.out_limit();
            let given_up = now_ns >= end + CLOSE_GRACE_NS + 2_000_000_000;
            if sent {
                port.logout_due = false;
            } else if !port.session.is_logged_on() || no_number || given_up {
                // Not logged on (a Logon may be on its way or held), the
                // Logout held back (no confirmed number left), or the
                // outgoing buffer never drained: end the connection rather
                // than log on or wait any longer.
                if port.session.is_logged_on() {
                    say!(
                        "trade: {} for a Logout to venue {}; closing the connection",
                        if no_number {
                            "no sequence number"
                        } else {
                            "no room"
                        },
                        port.id.0
                    );
                }
                link.close(port.conn);
                port.session.disconnected();
                port.logged_on = false;
                port.logout_due = false;
            }
            // Otherwise it waits for room in the outgoing buffer (or for
            // resends owed to the venue) and is tried on the next turn.
        }
        for port in ports.iter_mut() {
            flush_out(&mut link, port);
        }
        let all_out = ports.iter().all(|p| !p.logged_on);
        if logout_sent && (all_out || now_ns >= end + CLOSE_GRACE_NS + 3_000_000_000) {
            // The loop is over: from here on waiting is allowed. With one
            // core, waiting means keeping house so the queues drain.
            let mut meanwhile = || {
                if let Some(keeper) = keeper.as_mut() {
                    keeper.step(64);
                }
            };
            let nics = [nic_status(&mut feed), {
                // Frames smoltcp made that found no buffer or a full ring
                // are the order NIC's drops too (TCP sends them again).
                let mut order_nic = nic_status(device.nic());
                order_nic.tx_dropped += device.tx_dropped;
                order_nic
            }];
            finish(
                &pipeline,
                &tally,
                &filter,
                &ports,
                &telemetry,
                tripped_at,
                now_ns,
                nics,
                &mut meanwhile,
            );
            if journaling {
                let deadline = platform.now_ns() + 1_000_000_000;
                loop {
                    journal.flush(&mut ports, pipeline.oms.epoch(), platform.now_ns());
                    if journal.fills.is_empty() || platform.now_ns() >= deadline {
                        break;
                    }
                    meanwhile();
                }
                if journal.overflow > 0 || !journal.fills.is_empty() {
                    UPLINK.line_waiting(
                        format_args!(
                            "trade: journal: {} fills not delivered to the companion",
                            journal.overflow + journal.fills.len() as u64
                        ),
                        &mut meanwhile,
                    );
                }
            }
            UPLINK.finish(true);
            match keeper.as_mut() {
                // Core 0 drains what is queued and ends the run.
                None => cpu::halt_forever(),
                Some(keeper) => loop {
                    if let Verdict::Finished { ok } = keeper.step(usize::MAX) {
                        exit(if ok {
                            ExitCode::Success
                        } else {
                            ExitCode::Failure
                        });
                    }
                },
            }
        }
        if panic_at.is_some_and(|t| now_ns >= t) {
            panic!("deliberate panic during trading (panic-after)");
        }
        if fault_at.is_some_and(|t| now_ns >= t) {
            kernel::arch::interrupts::raise(
                kernel::arch::interrupts::DeliberateFault::InvalidOpcode,
            );
        }
    }
}

/// Sends a MoldUDP64 retransmission request to its venue's recovery server
/// as a raw frame on the feed NIC.
fn send_retransmit_request<'p>(
    req: &protocol::moldudp64::RetransmitRequest,
    feed_mac: [u8; 6],
    number: u64,
    pool: &'p Mempool,
    feed: &mut impl Nic<'p>,
) -> bool {
    let mut payload = [0u8; 20];
    if req.request.emit(&mut payload).is_err() {
        return false;
    }
    let repr = UdpFrameRepr {
        src_mac: ethernet::Address(feed_mac),
        dst_mac: ethernet::Address([0x52, 0x55, 0x0a, 0x00, 0x02, 0x02]),
        vlan: None,
        src_addr: FEED_ADDR,
        dst_addr: ipv4::Address(req.server.addr),
        src_port: REQUEST_PORT,
        dst_port: req.server.port,
        ttl: 64,
        ident: number as u16,
        udp_checksum: true,
    };
    let Some(mut buf) = pool.alloc() else {
        return false;
    };
    let len = repr.frame_len(payload.len());
    if !buf.set_len(len) || repr.emit(&payload, buf.data_mut()).is_err() {
        return false;
    }
    let mut batch: PacketBatch<'_, 1> = PacketBatch::new();
    let _ = batch.push_back(buf);
    feed.tx_batch(0, &mut batch);
    // What the ring did not take stays in the batch.
    batch.is_empty()
}

/// The summary lines the lab reads, and a last publish.
#[allow(clippy::too_many_arguments)]
fn finish(
    pipeline: &Pipeline<4, 8>,
    tally: &Tally,
    filter: &Filter<FEED_SUBSCRIPTIONS>,
    ports: &[Port<'_>],
    telemetry: &Telemetry<'_>,
    mut tripped_at: Option<u64>,
    now_ns: u64,
    nics: [NicStatus; 2],
    meanwhile: &mut dyn FnMut(),
) {
    let s = pipeline.stats();
    let position = pipeline
        .oms
        .position(aaa_locate(pipeline))
        .map_or(0, |p| p.qty);
    let (gaps, delivered, malformed) = ports.iter().fold((0, 0, 0), |acc, p| {
        let c = p.sequencer.counters();
        (acc.0 + c.gaps, acc.1 + c.delivered, acc.2 + c.malformed)
    });
    let lost: u64 = ports
        .iter()
        .map(|p| p.session.stats().lost_with_connection)
        .sum();
    UPLINK.line_waiting(
        format_args!(
            "trade: done: messages {} book-anomalies {} orders-sent {} unsent {} lost-with-connection {} risk-rejects {} reports {} position AAA {} feed-gaps {} retransmit-requests {} delivered {} feed-warmed {}",
            s.messages,
            s.book_anomalies,
            s.orders_sent,
            s.unsent,
            lost,
            s.risk_rejects,
            s.reports,
            position,
            gaps,
            tally.requests,
            delivered,
            tally.feed_warmed
        ),
        meanwhile,
    );
    UPLINK.line_waiting(
        format_args!(
            "trade: kill switch: kill-cancels {} mass-cancels {} accepted {} canceled-orders {} refused {} timeouts {} stray {}",
            s.kill_cancels,
            s.mass_cancels,
            s.mass_cancels_accepted,
            s.mass_canceled_orders,
            s.mass_cancels_refused,
            s.mass_cancel_timeouts,
            s.mass_cancel_stray_answers
        ),
        meanwhile,
    );
    if let Some(Hosted::Signal(t)) = pipeline.strategies.get(TAKER) {
        let ts = t.stats();
        UPLINK.line_waiting(
            format_args!(
                "trade: taker: position {} buys {} sells {} flattens {} open {} splits {} split-children {} splits-unplaced {}",
                t.position(),
                ts.buys,
                ts.sells,
                ts.flattens,
                t.open_orders(),
                s.splits,
                s.split_children,
                s.splits_unplaced
            ),
            meanwhile,
        );
    }
    let o = pipeline.oms.stats();
    // The cash AAA's fills moved (sales in, purchases out, price4 ×
    // shares, journaled ones included): what the venue's own records of
    // our fills, busts and corrections give.
    let cash = pipeline
        .oms
        .position(aaa_locate(pipeline))
        .map_or(0, |p| p.realized - p.cost);
    UPLINK.line_waiting(
        format_args!(
            "trade: AAA cash {} busts {} corrections {} exec-ref-unknown {}",
            cash, o.busts, o.corrections, o.unknown_exec_refs
        ),
        meanwhile,
    );
    UPLINK.line_waiting(
        format_args!(
            "trade: earlier boots' fills resent by the venue: recovered {} known {} unusable {}",
            o.earlier_fills_recovered, o.earlier_fills_known, o.earlier_fills_unusable
        ),
        meanwhile,
    );
    let (garbled, rejects_sent, resend_requests, resent) =
        ports.iter().fold((0, 0, 0, 0), |a, p| {
            let f = p.session.stats();
            (
                a.0 + f.garbled,
                a.1 + f.rejects_sent,
                a.2 + f.resend_requests_sent,
                a.3 + f.messages_resent,
            )
        });
    let d = filter.drops();
    UPLINK.line_waiting(
        format_args!(
            "trade: drops: feed-truncated {} feed-not-ipv4 {} feed-ipv4-malformed {} feed-ipv4-checksum {} feed-udp-malformed {} feed-udp-checksum {} feed-not-subscribed {} moldudp64-malformed {} itch-malformed {} fix-garbled {} fix-rejects-sent {} fix-resend-requests {} fix-resent {}",
            d.ethernet_truncated,
            d.not_ipv4,
            d.ipv4_malformed,
            d.ipv4_checksum,
            d.udp_malformed,
            d.udp_checksum,
            d.not_subscribed,
            malformed,
            tally.itch_malformed,
            garbled,
            rejects_sent,
            resend_requests,
            resent
        ),
        meanwhile,
    );
    let mut line: heapless::String<{ crate::uplink::MAX_LINE }> = heapless::String::new();
    let _ = write!(line, "trade: risk-rejects by reason:");
    for reason in types::RejectReason::ALL {
        let n = pipeline.risk.reject_count(reason) + pipeline.oms.reject_count(reason);
        if n > 0 {
            let _ = write!(line, " {reason:?} {n}");
        }
    }
    UPLINK.line_waiting(format_args!("{line}"), meanwhile);
    // Per venue: new orders routed there, its acknowledgement latency
    // estimate and reject rate as the router last saw them.
    line.clear();
    let _ = write!(line, "trade: venues:");
    for (slot, v) in pipeline.router().venues().iter().enumerate() {
        let _ = write!(
            line,
            " venue{} new-orders {} latency-us {} reject-ppm {} away-book-messages {} feed-warmed {}",
            v.config.id.0,
            s.orders_by_venue[slot],
            v.latency_ns / 1_000,
            v.reject_ppm,
            if slot == 0 { 0 } else { s.away_messages },
            ports
                .iter()
                .position(|p| p.id == v.config.id)
                .and_then(|k| tally.feed_warmed_by_venue.get(k))
                .copied()
                .unwrap_or(0)
        );
    }
    let _ = write!(
        line,
        " unroutable {} splits {} split-children {} splits-unplaced {} split-replaces-refused {}",
        s.unroutable, s.splits, s.split_children, s.splits_unplaced, s.split_replaces_refused
    );
    UPLINK.line_waiting(format_args!("{line}"), meanwhile);
    line.clear();
    let _ = write!(line, "trade: book AAA");
    for side in [types::Side::Buy, types::Side::Sell] {
        let mut levels = [types::Level::default(); 5];
        let n = types::DepthView::depth(&pipeline.book, aaa_locate(pipeline), side, &mut levels);
        let _ = write!(
            line,
            " {}",
            if side == types::Side::Buy {
                "bids"
            } else {
                "asks"
            }
        );
        for l in &levels[..n] {
            let _ = write!(line, " {}@{}", l.qty, l.price.0);
        }
    }
    UPLINK.line_waiting(format_args!("{line}"), meanwhile);
    if tripped_at.is_none() && pipeline.risk.tripped().is_some() {
        tripped_at = Some(now_ns);
    }
    while !publish(pipeline, tally, filter, ports, telemetry, tripped_at, nics) {
        meanwhile();
    }
}

/// Hands queued FIX bytes to TCP; what does not fit waits for the next
/// turn. The session is told the buffer's free space: it sends nothing that
/// would not fit (a message it cannot send takes no sequence number, and
/// resends continue once there is room).
fn flush_out(link: &mut TcpLink<'_>, port: &mut Port<'_>) {
    let out = &mut *port.out;
    if !out.is_empty() {
        let sent = link.send(port.conn, out);
        let rest = out.len() - sent;
        out.copy_within(sent.., 0);
        out.truncate(rest);
    }
    port.session.set_out_room(out.capacity() - out.len());
}

/// Most feed frames one receive batch takes.
const FEED_BATCH: usize = 32;

/// Warms the books for the messages of frames that queued up behind the
/// first of a receive batch (a burst), before the next is applied: their
/// cache misses overlap instead of each message stalling on its own (see
/// `book::Book::prefetch_group`). Each venue's feed warms its own
/// book (the primary's, or the venue's away book), and only for messages
/// its sequencer will deliver straight from these packets, a packet on
/// both lines once. A lone frame of one message is left alone: warming it
/// would only add work before its own lookup. (The messages after the
/// first in the batch's first packet are warmed once that first one is
/// applied, in the loop.) Returns the number of messages warmed, and adds
/// each venue's to `by_venue` (by port).
fn warm_feed_batch(
    pipeline: &Pipeline<4, 8>,
    ports: &[Port<'_>],
    datagrams: &[Option<Datagram<'_>>],
    by_venue: &mut [u64],
) -> u64 {
    if !pipeline::batch_worth_warming(datagrams) {
        return 0;
    }
    let mut warmed = 0;
    for (k, port) in ports.iter().enumerate() {
        // Subscriptions 2k and 2k+1 are venue k's lines A and B.
        let mut ahead = port.sequencer.lookahead();
        let messages = datagrams
            .iter()
            .flatten()
            .filter(|d| d.subscription / 2 == k)
            .flat_map(move |d| ahead.fresh(d.payload));
        let n = if k == 0 {
            pipeline.prefetch_itch(messages)
        } else {
            pipeline
                .away_book(port.id)
                .map_or(0, |book| book.prefetch_group(messages))
        } as u64;
        if let Some(v) = by_venue.get_mut(k) {
            *v += n;
        }
        warmed += n;
    }
    warmed
}

/// Counters the view carries (every one fits: checked when building).
const COUNTERS: usize = 48;

/// A counter's name, checked when the image is built to fit a mailbox
/// label whole (the companion would show it cut short).
macro_rules! label {
    ($name:literal) => {{
        const NAME: &str = $name;
        const _: () = assert!(
            NAME.len() <= core::mem::size_of::<Label>(),
            "a counter name longer than a mailbox label"
        );
        NAME
    }};
}
const _: () = assert!(COUNTERS <= crate::uplink::MAX_COUNTERS);

/// Positions (PnL marked at the book's mid), counters and stage latencies
/// for the companion; skipped without a mailbox.
fn publish(
    pipeline: &Pipeline<4, 8>,
    tally: &Tally,
    filter: &Filter<FEED_SUBSCRIPTIONS>,
    ports: &[Port<'_>],
    telemetry: &Telemetry<'_>,
    tripped_at: Option<u64>,
    nics: [NicStatus; 2],
) -> bool {
    if !kernel::mailbox::is_present() {
        return true;
    }
    UPLINK.publish(|view| {
        fill_view(
            view, pipeline, tally, filter, ports, telemetry, tripped_at, nics,
        )
    })
}

/// The view the companion reads, filled in place (it holds ~35 KiB of
/// histograms: no copy through the stack).
#[allow(clippy::too_many_arguments)]
fn fill_view(
    view: &mut TradingView,
    pipeline: &Pipeline<4, 8>,
    tally: &Tally,
    filter: &Filter<FEED_SUBSCRIPTIONS>,
    ports: &[Port<'_>],
    telemetry: &Telemetry<'_>,
    tripped_at: Option<u64>,
    nics: [NicStatus; 2],
) {
    let positions = &mut view.positions;
    positions.clear();
    if let Some(p) = pipeline.oms.position(aaa_locate(pipeline)) {
        let mark = types::DepthView::bbo(&pipeline.book, aaa_locate(pipeline))
            .mid()
            .unwrap_or(p.mark);
        let qty = p.qty as i128;
        let avg_px = if p.qty == 0 { 0 } else { p.cost / qty };
        let unrealized = qty * mark.0 as i128 - p.cost;
        let _ = positions.push(Position {
            locate: aaa_locate(pipeline),
            symbol: Symbol::new("AAA").unwrap_or_default(),
            qty: p.qty,
            avg_px: types::Price(avg_px as i64),
            realized_pnl: p.realized.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            unrealized_pnl: unrealized.clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        });
    }
    let s = pipeline.stats();
    let o = pipeline.oms.stats();
    let d = filter.drops();
    let mut c = protocol::moldudp64::Counters::default();
    let mut fs = gateway::session::SessionStats::default();
    for p in ports {
        let pc = p.sequencer.counters();
        c.gaps += pc.gaps;
        c.malformed += pc.malformed;
        let ps = p.session.stats();
        fs.garbled += ps.garbled;
        fs.rejects_sent += ps.rejects_sent;
        fs.resend_requests_sent += ps.resend_requests_sent;
        fs.held_back += ps.held_back;
        fs.room_waits += ps.room_waits;
        fs.lost_with_connection += ps.lost_with_connection;
    }
    view.counters.clear();
    let counters: [(&str, u64); COUNTERS] = [
        (label!("itch-messages"), s.messages),
        (label!("book-anomalies"), s.book_anomalies),
        (label!("orders-sent"), s.orders_sent),
        (label!("orders-unsent"), s.unsent),
        (label!("risk-rejects"), s.risk_rejects),
        (label!("exec-reports"), s.reports),
        (label!("feed-frames"), tally.feed_frames),
        (label!("feed-dropped"), d.total() + tally.feed_dropped),
        (label!("feed-gaps"), c.gaps),
        (label!("mold-malformed"), c.malformed),
        (label!("itch-malformed"), tally.itch_malformed),
        (label!("feed-warmed"), tally.feed_warmed),
        (label!("retransmit-reqs"), tally.requests),
        (label!("retx-reqs-unsent"), tally.requests_unsent),
        (label!("fix-peer-rejects"), tally.fix_peer_rejects),
        (label!("fix-lost-on-drop"), fs.lost_with_connection),
        (label!("fix-unsent-close"), tally.fix_unsent_at_close),
        (label!("jrnl-fills-lost"), tally.journal_fills_lost),
        (label!("fix-garbled"), fs.garbled),
        (label!("fix-rejects-sent"), fs.rejects_sent),
        (label!("fix-resend-reqs"), fs.resend_requests_sent),
        (label!("uplink-dropped"), UPLINK.lines_dropped() as u64),
        (label!("kill-cancels"), s.kill_cancels),
        // The kill switch's order mass cancels, and how they ended.
        (label!("mass-cancels"), s.mass_cancels),
        (label!("mass-cxl-ok"), s.mass_cancels_accepted),
        (label!("mass-cxl-orders"), s.mass_canceled_orders),
        (label!("mass-cxl-refused"), s.mass_cancels_refused),
        (label!("mass-cxl-timeout"), s.mass_cancel_timeouts),
        (label!("cxl-in-flight"), s.cancels_in_flight),
        // New orders the router split across venues, and their children.
        (label!("split-orders"), s.splits),
        (label!("split-children"), s.split_children),
        (label!("journal-waits"), tally.journal_waits),
        (label!("fix-held-back"), fs.held_back),
        (label!("fix-room-waits"), fs.room_waits),
        (label!("reports-unusable"), tally.reports_unusable),
        (label!("orders-paused"), s.paused),
        // Trade busts and corrections applied, and the anomalies for the
        // operator to reconcile: an ExecRefID the OMS does not remember
        // (not applied), a repeat, an order the venue reopened.
        (label!("trade-busts"), o.busts),
        (label!("trade-corrects"), o.corrections),
        (label!("exec-ref-unknown"), o.unknown_exec_refs),
        // Reports naming an order of ours at another venue (not applied).
        (label!("wrong-venue-reps"), o.wrong_venue),
        (label!("exec-adjust-dups"), o.duplicate_adjustments),
        (label!("bust-reopened"), o.reopened_by_bust),
        // An earlier boot's fills the venue resent after a crash: applied
        // (the journal lacked them), already on the books, and those that
        // could not be applied (reconcile by hand).
        (label!("prior-fill-recov"), o.earlier_fills_recovered),
        (label!("prior-fill-known"), o.earlier_fills_known),
        (label!("prior-fill-bad"), o.earlier_fills_unusable),
        // Directory entries naming a symbol another locate names too: the
        // router reads no away depth for it.
        (label!("feed-dup-symbols"), s.duplicate_symbols),
        // Sessions connected whose Logon waits for the journal (a gauge).
        (
            label!("logons-held"),
            ports.iter().filter(|p| p.session.logon_held()).count() as u64,
        ),
        // Scanned only while the switch is engaged (a table walk).
        (
            label!("kill-abandoned"),
            if pipeline.risk.tripped().is_some() {
                pipeline.risk.kill_abandoned() as u64
            } else {
                0
            },
        ),
    ];
    for (name, value) in counters {
        let _ = view.counters.push(Counter {
            name: Label::new(name),
            value,
        });
    }
    let r = &pipeline.risk;
    let l = r.limits();
    let cap = |v: u64| v.min(i64::MAX as u64) as i64;
    let clamp = |v: i128| v.clamp(0, i64::MAX as i128) as i64;
    let loss = clamp(-(pipeline.oms.realized_pnl() + pipeline.oms.unrealized_pnl()));
    view.limits.clear();
    let largest_open = pipeline
        .oms
        .open_orders()
        .map(|o| o.leaves as i64)
        .max()
        .unwrap_or(0);
    for (name, limit, usage) in [
        (
            "order-qty",
            l.default_symbol.max_order_qty as i64,
            largest_open,
        ),
        (
            "open-orders",
            l.max_open_orders as i64,
            r.open_orders() as i64,
        ),
        (
            "net-position",
            cap(l.max_net_position),
            r.net_position().abs(),
        ),
        (
            "AAA-position",
            cap(l.default_symbol.max_position),
            r.position(aaa_locate(pipeline)).abs(),
        ),
        ("credit", cap(l.credit_limit), clamp(r.credit_used())),
        ("daily-loss", cap(l.max_daily_loss), loss),
    ] {
        let _ = view.limits.push(RiskLimit {
            name: Label::new(name),
            limit,
            usage,
        });
    }
    // What the window counts now, against its limits (when one is set).
    if let Some(v) = l.entered_volume {
        let (qty, notional) = r.entered_volume();
        for (name, limit, usage) in [
            ("entered-qty", v.max_qty, qty),
            ("entered-notional", v.max_notional, notional),
        ] {
            let _ = view.limits.push(RiskLimit {
                name: Label::new(name),
                limit: cap(limit),
                usage: cap(usage),
            });
        }
    }
    view.kill = KillSwitch {
        engaged: r.tripped().is_some(),
        reason: Label::new(r.tripped().map_or("", trip_cause_name)),
        since_ns: tripped_at.unwrap_or(0),
    };
    view.orders.clear();
    for o in pipeline.oms.open_orders() {
        let _ = view.orders.push(OpenOrder {
            id: o.id,
            symbol: o.symbol,
            locate: o.locate,
            side: o.side,
            strategy: o.strategy,
            venue: o.venue,
            price: o.price,
            qty: o.qty,
            leaves: o.leaves,
            entered_ns: o.entered.0,
        });
    }
    view.stages.clone_from_slice(telemetry.stages());
    view.nics = nics.map(Some);
}

/// Asks the companion for the journal and services the mailbox until it is
/// whole or `seconds` pass; whether it arrived whole.
fn await_journal(platform: &'static Platform, seconds: u64, layout: Layout) -> bool {
    kernel::mailbox::HANDBACK.lock().clear();
    let deadline = platform.now_ns() + seconds * 1_000_000_000;
    // The mailbox may be busy for a moment (core 0 keeps house with it, and
    // the companion may still be draining the ring): ask again until it
    // takes the request, within the same wait. Giving up at the first
    // refusal started a fresh session below the numbers the venue had seen.
    loop {
        let asked =
            kernel::mailbox::with_endpoint(|e| e.event(MailboxEvent::JournalRequest).is_ok());
        if asked == Some(true) {
            break;
        }
        if platform.now_ns() >= deadline {
            println!("trade: could not ask for the journal within {seconds} s; starting fresh");
            return false;
        }
        if layout == Layout::Single {
            kernel::mailbox::service(platform);
        }
        core::hint::spin_loop();
    }
    println!("trade: waiting up to {seconds} s for the journal");
    if wait_for_companion(platform, layout, deadline, || {
        kernel::mailbox::HANDBACK.lock().complete
    }) {
        return true;
    }
    println!("trade: no journal within {seconds} s; starting with a fresh session");
    false
}

/// Spins until `ready` or `deadline` (whether `ready` came), serving the
/// mailbox meanwhile where no other core does.
fn wait_for_companion(
    platform: &'static Platform,
    layout: Layout,
    deadline: u64,
    mut ready: impl FnMut() -> bool,
) -> bool {
    while platform.now_ns() < deadline {
        if layout == Layout::Single {
            kernel::mailbox::service(platform);
        }
        if ready() {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Waits up to `seconds` for a configuration from the companion (applied
/// through the mailbox); `None` if none came. The trading loop applies its
/// limits and strategies as it does any configuration's.
fn await_config(
    platform: &'static Platform,
    seconds: u64,
    layout: Layout,
) -> Option<protocol::mailbox::config::ApplianceConfig> {
    let deadline = platform.now_ns() + seconds * 1_000_000_000;
    println!("trade: waiting up to {seconds} s for the configuration");
    let mut seen = 0;
    let mut got: Option<(u64, protocol::mailbox::config::ApplianceConfig)> = None;
    wait_for_companion(platform, layout, deadline, || {
        DOWNLINK.config.read_newer(&mut seen, |c| got = c.clone());
        got.is_some()
    });
    let Some((generation, cfg)) = got else {
        println!("trade: no configuration within {seconds} s; the command line's venues");
        return None;
    };
    println!(
        "trade: configuration generation {generation}: {} venue(s) configured",
        cfg.venues.len()
    );
    Some(cfg)
}

/// Durable state on its way to the companion's journal: fills in order,
/// and each session's sequence numbers whenever they move — `next_in`
/// exactly, `next_out` as a reservation ahead of use (see
/// `gateway::session::reservation`). Nothing is durable until the companion
/// confirms it (`kernel::mailbox::persisted_out`).
struct JournalOut<'s> {
    /// Fills not yet taken by the event ring, oldest first. New orders
    /// wait while it is more than half full ([`JournalOut::backed_up`]),
    /// so only a turn bringing more fills than the other half holds — more
    /// than any turn can (`FILL_RECORDS_PER_TURN`) — could overflow it.
    fills: &'s mut Deque<FillRecord, FILL_QUEUE>,
    /// Fills that found the queue full (published, and reported at the end).
    overflow: u64,
}

/// Journal records one turn can bring: a report is one fill, or a bust or
/// correction journaled as two ([`gateway::oms::FillAdjustment::as_fills`]).
const FILL_RECORDS_PER_TURN: usize = 2 * REPORTS_PER_TURN;
/// Fills the journal queue holds for the companion.
const FILL_QUEUE: usize = 2 * FILL_RECORDS_PER_TURN;

impl JournalOut<'_> {
    fn fill(&mut self, f: FillRecord) {
        if self.fills.push_back(f).is_err() {
            self.overflow += 1;
        }
    }

    /// The companion falls behind the fills: new orders wait for it.
    fn backed_up(&self) -> bool {
        self.fills.len() > FILL_QUEUE / 2
    }

    /// Sends what the event ring takes now; the rest waits for the next turn.
    fn flush(&mut self, ports: &mut [Port<'_>], epoch: u32, now_ns: u64) {
        while let Some(f) = self.fills.front() {
            if !UPLINK.event(MailboxEvent::Fill(*f)) {
                return;
            }
            self.fills.pop_front();
        }
        for port in ports.iter_mut() {
            let persisted = kernel::mailbox::persisted_out(port.id.0);
            let Some(due) = port
                .reservation
                .due(port.session.state(), persisted, now_ns)
            else {
                continue;
            };
            let record = FixSeqRecord {
                venue: port.id,
                next_in: due.next_in,
                next_out: due.next_out,
                epoch,
            };
            if UPLINK.event(MailboxEvent::FixSeq(record)) {
                port.reservation.written(due, now_ns);
            }
        }
    }
}

/// One NIC's link and counters for the companion's `status`.
fn nic_status<'p>(nic: &mut impl Nic<'p>) -> NicStatus {
    let stats = nic.stats();
    let link = nic.link();
    {
        NicStatus {
            link_up: link.is_up(),
            speed_mbps: match link {
                nic::LinkState::Up(nic::LinkSpeed::Mbps100) => 100,
                nic::LinkState::Up(nic::LinkSpeed::Gbps1) => 1_000,
                nic::LinkState::Up(nic::LinkSpeed::Gbps10) => 10_000,
                _ => 0,
            },
            mac: nic.mac_address().0,
            rx_packets: stats.rx_packets,
            rx_bytes: stats.rx_bytes,
            rx_dropped: stats.rx_dropped + stats.rx_fragmented_dropped + stats.rx_no_buffer,
            rx_errors: stats.rx_errors,
            tx_packets: stats.tx_packets,
            tx_bytes: stats.tx_bytes,
            // Our loops keep what a full ring refused and retry; the
            // closest thing to a drop is the ring having been full.
            tx_dropped: stats.tx_ring_full,
            tx_errors: stats.tx_errors,
        }
    }
}
