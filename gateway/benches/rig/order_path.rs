//! The order path's rig, shared by the criterion bench (`order_path`) and
//! the thread-CPU loop (`examples/order_loop.rs`): the appliance's own
//! router, OMS with every risk check, `fixmap` and a logged-on FIX session,
//! and the intents they are fed.

use std::hint::black_box;

use gateway::fixmap::{send_outbound, FixSender};
use gateway::oms::{ClOrdId, ExecReport, ExecType, Oms, OmsConfig, Outbound};
use gateway::router::{Children, RouteRequest, Router, RouterConfig, VenueConfig};
use gateway::session::{Event, Role, Session, SessionBuffers, SessionConfig, SessionState};
use protocol::fix::messages::FixBody;
use protocol::fix::{FixDecoder, FixVersion, UtcTime};
use risk::{Capacity, Limits, RiskEngine};
use types::{DepthView, Nanos, OrderIntent, Price, Side, StrategyId, Symbol, TimeInForce, VenueId};

const REF: i64 = 1_000_000; // $100
pub const CHUNK: u64 = 1_024;
const SYMBOLS: u64 = 4_000;
const VENUE: VenueId = VenueId(1);
/// 2026-12-04 14:30:00 UTC, in nanoseconds since the Unix epoch.
const T0: u64 = 1_796_394_600_000_000_000;

/// A session's buffers, as the appliance sizes them.
pub struct Buffers {
    rx: Vec<u8>,
    tx: Vec<u8>,
    store: Vec<u8>,
    queue: Vec<u8>,
    decoder: Box<FixDecoder>,
}

impl Buffers {
    pub fn new() -> Buffers {
        Buffers {
            rx: vec![0; 64 * 1024],
            tx: vec![0; 4 * 1024],
            store: vec![0; 256 * 1024],
            queue: vec![0; 16 * 1024],
            decoder: Box::new(FixDecoder::new()),
        }
    }

    fn session(&mut self, role: Role, sender: &str, target: &str) -> Session<'_> {
        let config = SessionConfig::new(role, FixVersion::Fix44, sender, target).expect("config");
        Session::new(
            config,
            SessionState {
                next_out: 1,
                next_in: 1,
            },
            SessionBuffers {
                rx: &mut self.rx,
                tx: &mut self.tx,
                store: &mut self.store,
                queue: &mut self.queue,
                decoder: &mut self.decoder,
            },
        )
        .expect("session")
    }
}

/// Our session logged on to a venue's acceptor (the Logon exchanged
/// through their public byte interfaces).
fn logged_on<'a>(ours: &'a mut Buffers, theirs: &mut Buffers) -> Session<'a> {
    let mut us = ours.session(Role::Initiator, "APPLIANCE", "VENUE");
    let mut venue = theirs.session(Role::Acceptor, "VENUE", "APPLIANCE");
    let now = UtcTime(T0);
    let mut to_venue = Vec::new();
    venue.connect(now, |_| {});
    us.connect(now, |e| {
        if let Event::Send(b) = e {
            to_venue.extend_from_slice(b)
        }
    });
    let mut to_us = Vec::new();
    venue.on_bytes(now, &to_venue, |e| {
        if let Event::Send(b) = e {
            to_us.extend_from_slice(b)
        }
    });
    us.on_bytes(now, &to_us, |_| {});
    assert!(us.is_logged_on(), "the bench's session logs on");
    us
}

/// What `trade.rs` hands the session: the body, framed into `wire`.
struct Sends<'s, 'a> {
    session: &'s mut Session<'a>,
    now: UtcTime,
    wire: &'s mut Vec<u8>,
    /// Whether to read the time stamp counter when the bytes are handed
    /// over, and what it read.
    stamp: bool,
    handed: u64,
}

impl FixSender for Sends<'_, '_> {
    type Out = bool;
    fn send<B: FixBody>(&mut self, body: &B) -> bool {
        let wire = &mut *self.wire;
        let (stamp, handed) = (self.stamp, &mut self.handed);
        self.session
            .send(self.now, body, |e| {
                if let Event::Send(bytes) = e {
                    wire.extend_from_slice(bytes);
                    if stamp {
                        *handed = tsc_after();
                    }
                }
            })
            .is_ok()
    }
}

/// The time stamp counter, read once everything before it has executed.
#[inline(always)]
pub fn tsc_after() -> u64 {
    let mut aux = 0u32;
    // SAFETY: RDTSCP has no preconditions on x86_64 (every CPU this runs
    // on has it; `aux` is a valid place for the processor id).
    unsafe { core::arch::x86_64::__rdtscp(&mut aux) }
}

/// No displayed liquidity anywhere: the router posts at the limit.
struct NoDepth;

impl DepthView for NoDepth {
    fn bbo(&self, _: types::StockLocate) -> types::Bbo {
        types::Bbo::default()
    }
    fn depth(&self, _: types::StockLocate, _: Side, _: &mut [types::Level]) -> usize {
        0
    }
}

fn intent(i: u64) -> OrderIntent {
    OrderIntent::New {
        strategy: StrategyId((i % 8) as u16),
        locate: (i % SYMBOLS) as u16 + 1,
        symbol: Symbol::new("BENCH").expect("symbol"),
        side: Side::Buy,
        price: Price(REF - (i % 500) as i64 * 100),
        qty: 100 + (i % 7) as u32,
        tif: TimeInForce::Day,
    }
}

/// One order from intent to bytes (not inlined, so that a profiler can
/// count it: `valgrind --tool=callgrind --toggle-collect='*one_order'`),
/// and the time stamp counter when its bytes were handed to the transport.
/// What the session and the OMS do after that (the resend ring's copy, the
/// OMS readying its next slots, as the pipeline does after each input) is
/// part of the order's cost but not of its latency.
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn one_order(
    intent: &OrderIntent,
    t: u64,
    router: &Router,
    books: &[&dyn DepthView],
    oms: &mut Oms,
    risk: &mut RiskEngine,
    session: &mut Session<'_>,
    wire: &mut Vec<u8>,
    stamp: bool,
) -> (Outbound, u64) {
    let request = RouteRequest::of(intent).expect("a new order");
    let mut children = Children::new();
    router
        .route_into(&request, books, &mut children)
        .expect("routed");
    let venue = children.first().expect("a child").venue;
    let out = oms
        .submit(intent, venue, Some(Price(REF)), risk, Nanos(t))
        .expect("accepted");
    // The appliance hands each message to TCP as it goes: its outgoing
    // buffer is drained every turn of the loop.
    wire.clear();
    let mut sender = Sends {
        session,
        now: UtcTime(t),
        wire,
        stamp,
        handed: 0,
    };
    assert!(send_outbound(&out, UtcTime(t), &mut sender));
    let handed = sender.handed;
    oms.tidy();
    (out, handed)
}

/// Everything an order passes through, in its steady state.
pub struct Rig<'a> {
    session: Session<'a>,
    risk: RiskEngine,
    oms: Oms,
    router: Router,
    venues: usize,
    wire: Vec<u8>,
    seq: u64,
    now: u64,
    sent: Vec<ClOrdId>,
}

impl<'a> Rig<'a> {
    /// `venues` (1 or 2) venues up, none showing liquidity to take: each
    /// order rests on the better rebate.
    pub fn new(ours: &'a mut Buffers, theirs: &mut Buffers, venues: u8) -> Rig<'a> {
        let session = logged_on(ours, theirs);
        let risk = RiskEngine::new(
            Capacity {
                symbols: 65_536,
                orders: 4_096,
                duplicate_slots: 4_096,
            },
            Limits::example(),
        )
        .expect("limits");
        let oms = Oms::new(OmsConfig {
            orders: 4_096,
            symbols: 65_536,
            last_epoch: 0,
        })
        .expect("oms");
        let mut router = Router::new(RouterConfig::default());
        for k in 0..venues {
            let id = VenueId(VENUE.0 + k);
            router
                .add_venue(VenueConfig {
                    id,
                    take_fee: 3_000,
                    make_fee: -2_000 - 500 * i64::from(k),
                    mass_cancel: false,
                })
                .expect("venue");
            router.set_session(id, true);
        }
        Rig {
            session,
            risk,
            oms,
            router,
            venues: usize::from(venues),
            wire: Vec::with_capacity(4 * 1024),
            seq: 0,
            now: T0,
            sent: Vec::with_capacity(CHUNK as usize),
        }
    }

    /// The next `n` intents and their times (the strategy's part, not
    /// timed); 1 order / 10 µs stays under every throttle.
    pub fn intents(&mut self, n: u64) -> Vec<(OrderIntent, u64)> {
        let batch = (0..n)
            .map(|k| {
                self.now += 10_000;
                (intent(self.seq + k), self.now)
            })
            .collect();
        self.seq += n;
        batch
    }

    /// The timed part: every intent of `batch` to FIX bytes.
    pub fn send(&mut self, batch: &[(OrderIntent, u64)]) {
        self.send_stamped(batch, None);
    }

    /// [`Rig::send`], and into `latencies` (when given) each order's time
    /// stamp counter ticks from its intent to its bytes handed over.
    pub fn send_stamped(
        &mut self,
        batch: &[(OrderIntent, u64)],
        mut latencies: Option<&mut Vec<u64>>,
    ) {
        let books: [&dyn DepthView; 2] = [&NoDepth, &NoDepth];
        let books = &books[..self.venues];
        for (intent, t) in batch {
            let stamp = latencies.is_some();
            let start = if stamp { hugealloc::tsc() } else { 0 };
            let (out, handed) = one_order(
                black_box(intent),
                *t,
                &self.router,
                books,
                &mut self.oms,
                &mut self.risk,
                &mut self.session,
                &mut self.wire,
                stamp,
            );
            if let Some(l) = latencies.as_deref_mut() {
                l.push(handed.wrapping_sub(start));
            }
            if let Outbound::New { cl_ord_id, .. } = out {
                self.sent.push(cl_ord_id);
            }
        }
        black_box(self.wire.len());
    }

    /// The venue cancels every order sent (not timed): the tables return
    /// to their steady state.
    pub fn settle(&mut self) {
        for cl in self.sent.drain(..) {
            let done = ExecReport::new(cl, ExecType::Canceled);
            black_box(
                self.oms
                    .on_exec_report(&done, Nanos(self.now), &mut self.risk),
            );
        }
    }
}
