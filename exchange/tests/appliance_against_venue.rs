//! The appliance's order path against the lab's venue, on the host and
//! without sockets: what the appliance sends goes to the venue as its FIX
//! server would hand it, the venue's background trades, breaks and
//! re-prices fills, and every report comes back through the FIX mapping
//! the appliance uses (`gateway::fixmap`). First the OMS and risk engine
//! with random intents, then the whole pipeline (book from the venue's
//! feed, market maker, risk, OMS): the appliance and the venue must agree
//! on the position after every step, and on what is open at the end.

mod common;

use exchange::matching::Owner;
use exchange::server::{report_body, ReportBody, ReportIds};
use exchange::venue::{Adjustment, Venue};
use gateway::fixmap;
use gateway::oms::{Oms, OmsConfig, Outbound};
use protocol::fix::UtcTime;
use risk::{Capacity, Limits, RiskEngine};
use types::{
    Nanos, OrderIntent, Price, Side, StockLocate, StrategyId, Symbol, TimeInForce, VenueId,
};

const APPLIANCE: Owner = Owner(1);
const LOCATE: StockLocate = 1;
const TICK: i64 = 100;
const MAKER: StrategyId = StrategyId(1);
const TAKER: StrategyId = StrategyId(2);

fn venue(seed: u64) -> Venue {
    common::venue(b"OMSVENUE01", &[("AAA", Price(100_0000))], seed)
}

/// What the appliance sent, handed to the venue as its FIX server would;
/// a mass cancel's answer (the server's OrderMassCancelReport, which it
/// sends after the canceled orders' reports) as the appliance reads it.
fn to_venue(v: &mut Venue, out: &Outbound) -> Option<fixmap::MassCancelAnswer> {
    let text = |id: gateway::oms::ClOrdId| String::from_utf8(id.encode().to_vec()).unwrap();
    match *out {
        Outbound::New {
            cl_ord_id,
            side,
            price,
            qty,
            tif,
            ..
        } => {
            let _ = v.new_order(APPLIANCE, &text(cl_ord_id), b"AAA", side, qty, price, tif);
        }
        Outbound::Replace {
            cl_ord_id,
            orig_cl_ord_id,
            price,
            qty,
            ..
        } => {
            let _ = v.replace(
                APPLIANCE,
                &text(orig_cl_ord_id),
                &text(cl_ord_id),
                price,
                qty,
            );
        }
        Outbound::Cancel {
            cl_ord_id,
            orig_cl_ord_id,
            ..
        } => {
            let _ = v.cancel(APPLIANCE, &text(orig_cl_ord_id), &text(cl_ord_id));
        }
        Outbound::MassCancel { cl_ord_id, .. } => {
            let affected = v.mass_cancel(APPLIANCE, None);
            let id = cl_ord_id.encode();
            let report = protocol::fix::messages::OrderMassCancelReport {
                cl_ord_id: Some(&id),
                order_id: b"MC1",
                scope: protocol::fix::messages::MassCancelScope::All,
                response: b'7',
                reject_reason: None,
                total_affected_orders: Some(affected as u32),
                affected: [None; protocol::fix::messages::MAX_AFFECTED_ORDERS],
                affected_count: 0,
            };
            return Some(fixmap::mass_cancel_answer(&report));
        }
    }
    None
}

/// The venue's reports for the appliance, through the FIX mapping, each a
/// microsecond after the last on the clock `now`.
fn reports(v: &mut Venue, now: &mut u64) -> Vec<gateway::oms::ExecReport> {
    let mut out = Vec::new();
    for report in v.take_reports(APPLIANCE) {
        *now += 1_000;
        let ids = ReportIds::of(&report);
        out.push(match report_body(&report, &ids, UtcTime(*now)) {
            ReportBody::Execution(body) => {
                fixmap::exec_report(&body).expect("the venue's report maps")
            }
            ReportBody::CancelReject(body) => fixmap::cancel_reject(&body),
        });
    }
    out
}

/// The venue's mid, on the tick grid (its first price when a side is empty).
fn mid(v: &Venue) -> i64 {
    let bid = v.listings()[0].engine.best(Side::Buy).map(|b| b.0 .0);
    let ask = v.listings()[0].engine.best(Side::Sell).map(|a| a.0 .0);
    match (bid, ask) {
        (Some(b), Some(a)) => (b + a) / 2 / TICK * TICK,
        (Some(p), None) | (None, Some(p)) => p,
        (None, None) => 100_0000,
    }
}

/// The appliance's side: OMS and risk, and the clock it gives them.
struct Appliance {
    oms: Oms,
    risk: RiskEngine,
    now: u64,
}

impl Appliance {
    fn new() -> Appliance {
        Appliance::with_limits(Limits::unlimited())
    }

    fn with_limits(limits: Limits) -> Appliance {
        Appliance {
            oms: Oms::new(OmsConfig {
                orders: 1024,
                symbols: 16,
                last_epoch: 0,
            })
            .unwrap(),
            risk: RiskEngine::new(
                Capacity {
                    symbols: 16,
                    orders: 1024,
                    duplicate_slots: 1024,
                },
                limits,
            )
            .unwrap(),
            now: 1_000_000_000,
        }
    }

    /// `intent` through the OMS and risk; what goes out is handed to the
    /// venue as the venue's FIX server would.
    fn send(&mut self, v: &mut Venue, intent: OrderIntent, reference: Price) {
        self.now += 1_000_000;
        let out = self.oms.submit(
            &intent,
            VenueId(1),
            Some(reference),
            &mut self.risk,
            Nanos(self.now),
        );
        if let Ok(out) = out {
            to_venue(v, &out);
        }
    }

    /// Every report the venue has for the appliance, into the OMS.
    fn deliver(&mut self, v: &mut Venue) {
        for rep in reports(v, &mut self.now) {
            self.oms
                .on_exec_report(&rep, Nanos(self.now), &mut self.risk);
        }
    }

    fn position(&self) -> i64 {
        self.oms.position(LOCATE).map_or(0, |p| p.qty)
    }
}

fn aaa() -> Symbol {
    Symbol::new("AAA").unwrap()
}

/// The maker's order for AAA.
fn aaa_order(side: Side, price: Price, qty: u32, tif: TimeInForce) -> OrderIntent {
    OrderIntent::New {
        strategy: MAKER,
        locate: LOCATE,
        symbol: aaa(),
        side,
        price,
        qty,
        tif,
    }
}

/// A small deterministic generator (xorshift64).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn the_oms_and_risk_agree_with_the_venue_through_random_sessions() {
    // What the sessions went through, summed over the seeds.
    let (mut fills, mut busts, mut corrections, mut replaced) = (0, 0, 0, 0);
    for seed in 1..=12u64 {
        let mut v = venue(seed);
        for _ in 0..200 {
            v.step_background();
        }
        let mut a = Appliance::new();
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        for step in 0..400 {
            if step == 200 {
                // The venue's day ends: every resting order expires (the
                // busts and corrections after it reach orders that are
                // gone), and the next day opens.
                v.close_day();
                let mut session = v.feed.config().session;
                session[9] = b'2';
                let locates: Vec<_> = v.listings().iter().map(|l| l.locate).collect();
                v.open_day(session, &locates);
                a.deliver(&mut v);
                assert_eq!(
                    (a.oms.open_orders().count(), a.risk.open_orders()),
                    (0, 0),
                    "seed {seed}: the day's orders expired"
                );
            }
            let open: Vec<_> = a.oms.open_orders().collect();
            let mid = mid(&v);
            let near = |rng: &mut Rng| Price(mid + (rng.below(7) as i64 - 3) * TICK);
            match rng.below(10) {
                0..=2 => {
                    let side = if rng.below(2) == 0 {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    let price = near(&mut rng);
                    let qty = 100 + 100 * rng.below(4) as u32;
                    let intent = aaa_order(side, price, qty, TimeInForce::Day);
                    a.send(&mut v, intent, Price(mid));
                }
                3 | 4 if !open.is_empty() => {
                    let o = open[rng.below(open.len() as u64) as usize];
                    let filled = o.qty - o.leaves;
                    let intent = OrderIntent::Replace {
                        strategy: MAKER,
                        order: o.id,
                        price: near(&mut rng),
                        qty: filled + 1 + rng.below(400) as u32,
                    };
                    a.send(&mut v, intent, Price(mid));
                }
                5 if !open.is_empty() => {
                    let o = open[rng.below(open.len() as u64) as usize];
                    let intent = OrderIntent::Cancel {
                        strategy: MAKER,
                        order: o.id,
                    };
                    a.send(&mut v, intent, Price(mid));
                }
                6 if rng.below(4) == 0 => {
                    // Marketable and immediate-or-cancel: fills what it
                    // meets, the rest expires.
                    let side = if rng.below(2) == 0 {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    let through = Price(mid + side.sign() * 3 * TICK);
                    let qty = 100 + 100 * rng.below(4) as u32;
                    let intent = aaa_order(side, through, qty, TimeInForce::ImmediateOrCancel);
                    a.send(&mut v, intent, Price(mid));
                }
                6 => {
                    let _ = v.adjust_last_fill(APPLIANCE, Adjustment::Bust);
                }
                7 => {
                    let by = (rng.below(3) as i64 + 1) * TICK;
                    let _ = v.adjust_last_fill(APPLIANCE, Adjustment::CorrectBy(by));
                }
                _ => {
                    for _ in 0..rng.below(50) {
                        v.step_background();
                    }
                }
            }
            a.deliver(&mut v);
            let venue_position = v.position(APPLIANCE, aaa());
            assert_eq!(
                (a.position(), a.risk.position(LOCATE)),
                (venue_position, venue_position),
                "seed {seed} step {step}: OMS and risk against the venue ({:?})",
                a.oms.stats()
            );
        }
        // The kill switch: its sweep's cancels go out, the venue answers,
        // the background may still fill what is not cancelled yet; nothing
        // is left open on either side.
        a.risk.trip(risk::TripCause::Manual);
        let mut cancels = [OrderIntent::Cancel {
            strategy: MAKER,
            order: types::OrderId(0),
        }; 16];
        for _ in 0..64 {
            let n = a.risk.kill_cancels(&mut cancels);
            for &intent in &cancels[..n] {
                a.send(&mut v, intent, Price(100_0000));
            }
            v.step_background();
            a.deliver(&mut v);
            if n == 0 && !a.risk.kill_cancels_due() && a.oms.open_orders().count() == 0 {
                break;
            }
        }
        assert_eq!(
            (a.oms.open_orders().count(), v.open_orders(APPLIANCE)),
            (0, 0),
            "seed {seed}: open orders after the kill switch's sweep"
        );
        // Nothing new gets through while it is tripped.
        let refused = aaa_order(Side::Buy, Price(100_0000), 100, TimeInForce::Day);
        let sent = v.received().len();
        a.send(&mut v, refused, Price(100_0000));
        assert_eq!(
            v.received().len(),
            sent,
            "seed {seed}: an order after the kill"
        );
        assert_eq!(a.risk.open_orders(), 0, "seed {seed}: risk's open orders");
        assert_eq!(a.position(), v.position(APPLIANCE, aaa()), "seed {seed}");
        // The OMS read every report as the venue meant it.
        let stats = a.oms.stats();
        assert_eq!(
            (
                stats.unknown_cl_ord_id,
                stats.fill_gaps,
                stats.unknown_exec_refs,
                stats.reopened_by_bust
            ),
            (0, 0, 0, 0),
            "seed {seed}: {stats:?}"
        );
        fills += v.fills().len();
        busts += stats.busts;
        corrections += stats.corrections;
        replaced += v.received().iter().filter(|r| r.replace).count();
    }
    eprintln!("fills {fills}, busts {busts}, corrections {corrections}, replaces {replaced}");
    assert!(
        fills > 100 && busts > 10 && corrections > 10 && replaced > 100,
        "fills {fills}, busts {busts}, corrections {corrections}, replaces {replaced}"
    );
}

/// What one run of the pipeline against its venues went through.
#[derive(Default)]
struct Run {
    fills: usize,
    busts: u64,
    corrections: u64,
    refused: u64,
    tripped: bool,
    /// The pipeline's counters at the end.
    stats: pipeline::PipelineStats,
    /// Orders open when the operator's kill switch (runs with mass
    /// cancels only) was engaged.
    open_at_kill: usize,
    /// Kill switch trips before the close, the operator's included.
    trips: u64,
    /// Orders and replaces each venue received.
    received: Vec<usize>,
}

/// The whole pipeline against `venues` (1 or 2) venues listing AAA: its
/// book built from the first venue's feed (the second's feeds an away
/// book, and the router picks a venue per order), the market maker quoting
/// AAA, risk and the OMS between, each venue's background trading against
/// the quotes while the first breaks and re-prices fills now and then.
/// After every step the OMS, risk, the maker and the venues together hold
/// the same position and the book saw no anomaly; at the close every quote
/// is cancelled everywhere.
fn pipeline_against_venues(seed: u64, limits: Limits, venues: usize) -> Run {
    pipeline_against(seed, limits, venues, false, false)
}

/// A taker whose model always says "up": it buys `TAKER_QTY` at the
/// primary's ask (IOC) up to twice that, holds it for a second and sells
/// it all at the bid, again and again — orders the router splits where the
/// primary shows less than that at the price and the other venue shows
/// some at or better.
fn taker(locate: StockLocate) -> strategy::signal::SignalTrader {
    let always_up = strategy::model::Logistic::constant(5.0).unwrap();
    strategy::signal::SignalTrader::new(
        TAKER,
        locate,
        aaa(),
        strategy::features::FeatureParams::default_for_tick(TICK),
        always_up,
        strategy::signal::SignalParams {
            threshold: 0.8,
            qty: TAKER_QTY,
            max_position: 2 * i64::from(TAKER_QTY),
            cooldown_ns: 100_000_000,
            hold_ns: 1_000_000_000,
            warmup_updates: 1,
        },
    )
    .unwrap()
}

const TAKER_QTY: u32 = 300;

/// [`pipeline_against_venues`], the venues taking order mass cancels when
/// `mass_cancel` is set (the kill switch's sweeps, the close's too, then
/// go out as one mass cancel per venue first).
/// With `taker`, the [`taker`] trades beside the maker.
fn pipeline_against(
    seed: u64,
    limits: Limits,
    venues: usize,
    mass_cancel: bool,
    taker_too: bool,
) -> Run {
    let mut vs: Vec<Venue> = (0..venues as u64).map(|k| venue(seed + 100 * k)).collect();
    let locate = vs[0].listings()[0].locate;
    let book = || {
        book::Book::with_capacity(book::BookConfig {
            max_orders: 1 << 14,
            max_levels: 1 << 12,
        })
    };
    let mut strategies: strategy::engine::Engine<4, 8> = strategy::engine::Engine::new();
    let params = strategy::mm::MmParams {
        max_position: 500,
        ..strategy::mm::MmParams::default_for_cent_tick()
    };
    let maker = strategy::mm::MarketMaker::new(MAKER, locate, aaa(), params).unwrap();
    strategies
        .add(strategy::engine::Hosted::MarketMaker(maker))
        .unwrap();
    if taker_too {
        strategies
            .add(strategy::engine::Hosted::Signal(taker(locate)))
            .unwrap();
    }
    let a = Appliance::with_limits(limits);
    let venue_id = |k: usize| VenueId(k as u8 + 1);
    let mut p: pipeline::Pipeline<4, 8> = if venues == 1 && !mass_cancel {
        pipeline::Pipeline::new(book(), strategies, a.risk, a.oms, venue_id(0))
    } else {
        let mut router = gateway::router::Router::new(gateway::router::RouterConfig::default());
        for k in 0..venues {
            router
                .add_venue(gateway::router::VenueConfig {
                    id: venue_id(k),
                    take_fee: 3_000,
                    make_fee: -1_000 * (k as i64 + 1),
                    mass_cancel,
                })
                .unwrap();
            router.set_session(venue_id(k), true);
        }
        let mut p =
            pipeline::Pipeline::with_router(book(), strategies, a.risk, a.oms, venue_id(0), router);
        for k in 1..venues {
            assert!(p.add_away_book(venue_id(k), book()));
        }
        p
    };
    let mut run = Run::default();
    let mut killed_at = None;
    let mut now = a.now;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut next_message = vec![1u64; venues];
    // What the strategies hold between them.
    let strategies_position = |p: &pipeline::Pipeline<4, 8>| {
        let maker = match p.strategies.get(MAKER) {
            Some(strategy::engine::Hosted::MarketMaker(m)) => m.position(),
            _ => panic!("no maker"),
        };
        let taker = match p.strategies.get(TAKER) {
            Some(strategy::engine::Hosted::Signal(t)) => t.position(),
            _ => 0,
        };
        maker + taker
    };
    // What the pipeline sends goes to the venue it names; the venues'
    // answers go back, and what they make the pipeline send goes out too.
    let exchange_until_quiet = |p: &mut pipeline::Pipeline<4, 8>,
                                vs: &mut [Venue],
                                now: &mut u64,
                                mut sent: Vec<Outbound>| {
        for _ in 0..64 {
            let mut mass_answers = Vec::new();
            for o in sent.drain(..) {
                let named = o.venue();
                if let Some(answer) = to_venue(&mut vs[named.0 as usize - 1], &o) {
                    mass_answers.push((named, answer));
                }
            }
            let mut answers = Vec::new();
            for (k, v) in vs.iter_mut().enumerate() {
                for mut rep in reports(v, now) {
                    rep.venue = Some(venue_id(k));
                    answers.push(rep);
                }
            }
            if answers.is_empty() && mass_answers.is_empty() {
                return;
            }
            for rep in answers {
                p.on_exec_report(&rep, Nanos(*now), &mut |o| sent.push(*o));
            }
            for (venue, answer) in mass_answers {
                *now += 1_000;
                p.on_mass_cancel_answer(venue, &answer, Nanos(*now), &mut |o| sent.push(*o));
            }
        }
        panic!("the pipeline and the venues never settle");
    };
    let venues_position =
        |vs: &[Venue]| -> i64 { vs.iter().map(|v| v.position(APPLIANCE, aaa())).sum() };
    // The venues' clock (their ITCH timestamps, which the strategies'
    // timers and fast-market windows run on) follows the pipeline's from
    // the open at 9:30.
    let start = now;
    for step in 0..1_000 {
        for v in vs.iter_mut() {
            v.set_time(34_200_000_000_000 + (now - start));
        }
        match rng.below(150) {
            0 => {
                let _ = vs[0].adjust_last_fill(APPLIANCE, Adjustment::Bust);
            }
            1 => {
                let _ = vs[0].adjust_last_fill(APPLIANCE, Adjustment::CorrectBy(TICK));
            }
            _ => {
                for v in vs.iter_mut() {
                    for _ in 0..rng.below(30) {
                        v.step_background();
                    }
                }
            }
        }
        // Each feed since the last step, in order, each message a
        // microsecond apart.
        let mut sent = Vec::new();
        for (k, v) in vs.iter().enumerate() {
            while let Some(bytes) = v.feed.message(next_message[k]) {
                now += 1_000;
                let msg = protocol::itch::Message::parse(bytes).expect("valid ITCH");
                if k == 0 {
                    p.on_itch(&msg, Nanos(now), &mut |o| sent.push(*o));
                } else {
                    p.on_away_itch(venue_id(k), &msg);
                }
                next_message[k] += 1;
            }
        }
        // A step is 50 ms: some 15 background actions per listing, the
        // lab's 300 a second.
        now += 50_000_000;
        p.on_timer(Nanos(now), &mut |o| sent.push(*o));
        // With mass cancels, the operator's kill switch once quotes rest
        // (from step 10 on), and the re-arm a little later.
        if mass_cancel && killed_at.is_none() && step >= 10 && p.open_orders() > 0 {
            run.open_at_kill = p.open_orders();
            killed_at = Some(step);
            p.kill(Nanos(now), &mut |o| sent.push(*o));
        }
        if killed_at.is_some_and(|k| step == k + 20) {
            assert_eq!(p.open_orders(), 0, "seed {seed}: open after the kill");
            let _ = p.rearm();
        }
        exchange_until_quiet(&mut p, &mut vs, &mut now, sent);
        let venues_now = venues_position(&vs);
        let oms_position = p.oms.position(locate).map_or(0, |x| x.qty);
        assert_eq!(
            (
                oms_position,
                p.risk.position(locate),
                strategies_position(&p)
            ),
            (venues_now, venues_now, venues_now),
            "seed {seed} step {step}: OMS, risk and the strategies against the venues"
        );
        assert_eq!(p.stats().book_anomalies, 0, "seed {seed} step {step}");
    }
    run.refused = p.stats().risk_rejects;
    run.tripped = p.risk.tripped().is_some();
    run.trips = p.risk.trips();
    // The close: every quote is cancelled, everywhere.
    let mut sent = Vec::new();
    now += 1_000_000;
    p.close_session(Nanos(now), &mut |o| sent.push(*o));
    exchange_until_quiet(&mut p, &mut vs, &mut now, sent);
    let open_at_venues: usize = vs.iter().map(|v| v.open_orders(APPLIANCE)).sum();
    assert_eq!(
        (p.open_orders(), open_at_venues),
        (0, 0),
        "seed {seed}: open after the close"
    );
    // Every order a strategy knows of has ended for it too, split or not.
    if let Some(strategy::engine::Hosted::Signal(t)) = p.strategies.get(TAKER) {
        assert_eq!(
            (t.open_orders(), p.live_splits()),
            (0, 0),
            "seed {seed}: the taker's orders after the close"
        );
    }
    let stats = p.oms.stats();
    assert_eq!(
        (
            stats.unknown_cl_ord_id,
            stats.fill_gaps,
            stats.unknown_exec_refs
        ),
        (0, 0, 0),
        "seed {seed}: {stats:?}"
    );
    run.fills = vs.iter().map(|v| v.fills().len()).sum();
    run.busts = stats.busts;
    run.corrections = stats.corrections;
    run.received = vs.iter().map(|v| v.received().len()).collect();
    run.stats = p.stats();
    run
}

/// [`pipeline_against_venues`] with one venue; four of the nine seeds
/// under limits the maker runs into, where the reject rate trips the kill
/// switch mid-run.
#[test]
fn the_pipeline_trades_against_the_venue_and_agrees_with_it() {
    let (mut fills, mut busts, mut corrections) = (0, 0, 0);
    // Under the tight limits: refusals, and kill-switch trips mid-run.
    let (mut refused, mut trips) = (0, 0);
    for seed in 1..=9u64 {
        let tight = seed > 5;
        let limits = if tight {
            tight_limits()
        } else {
            Limits::unlimited()
        };
        let run = pipeline_against_venues(seed, limits, 1);
        if tight {
            refused += run.refused;
            trips += u64::from(run.tripped);
        }
        fills += run.fills;
        busts += run.busts;
        corrections += run.corrections;
    }
    eprintln!(
        "fills {fills}, busts {busts}, corrections {corrections}, refused {refused}, trips {trips}"
    );
    assert!(
        fills > 250 && busts > 25 && corrections > 25 && refused > 5 && trips > 0,
        "fills {fills}, busts {busts}, corrections {corrections}, refused {refused}, trips {trips}"
    );
}

/// [`pipeline_against_venues`] with two venues: the router sends quotes to
/// both, and the positions at both add up to the appliance's.
#[test]
fn the_router_quotes_on_two_venues_and_both_agree_with_the_appliance() {
    let mut received = [0usize; 2];
    let mut fills = 0;
    for seed in 1..=4u64 {
        let run = pipeline_against_venues(seed, Limits::unlimited(), 2);
        received[0] += run.received[0];
        received[1] += run.received[1];
        fills += run.fills;
    }
    eprintln!("orders and replaces received {received:?}, fills {fills}");
    assert!(
        received[0] > 0 && received[1] > 50 && fills > 100,
        "orders and replaces received {received:?}, fills {fills}"
    );
}

/// A taker beside the maker, against two venues: its orders larger than
/// the primary shows at its price are split across both, and the venues,
/// the OMS, risk and the strategies still agree after every step; the
/// taker sees each split order end.
#[test]
fn orders_split_across_two_venues_agree_with_both() {
    let mut totals = pipeline::PipelineStats::default();
    let mut fills = 0;
    for seed in 1..=4u64 {
        let run = pipeline_against(seed, Limits::unlimited(), 2, false, true);
        totals.splits += run.stats.splits;
        totals.split_children += run.stats.split_children;
        totals.orders_sent += run.stats.orders_sent;
        fills += run.fills;
    }
    eprintln!(
        "splits {} ({} children), orders sent {}, fills {fills}",
        totals.splits, totals.split_children, totals.orders_sent
    );
    assert!(
        totals.splits > 10 && fills > 100,
        "splits {} ({} children), fills {fills}",
        totals.splits,
        totals.split_children
    );
}

/// Venues that take order mass cancels: the operator's kill switch while
/// quotes rest, risk's own trips mid-run and the close each send one per
/// venue; the venue cancels every order of ours with its own reports and
/// answers, so no order needs a cancel of its own. The appliance and the
/// venues agree on the position after every step, nothing is open
/// anywhere after the kill, and nothing after the close.
#[test]
fn the_kill_switch_cancels_by_mass_cancel_and_agrees_with_the_venues() {
    let (mut kills, mut open_at_kills, mut trips) = (0, 0, 0);
    let mut totals = pipeline::PipelineStats::default();
    for seed in 1..=8u64 {
        let venues = 1 + (seed as usize % 2);
        // The tight limits trip the kill switch mid-run too.
        let limits = if seed > 4 {
            tight_limits()
        } else {
            Limits::unlimited()
        };
        let run = pipeline_against(seed, limits, venues, true, false);
        let s = run.stats;
        assert!(
            s.mass_cancels >= venues as u64,
            "seed {seed}: {} mass cancels to {venues} venues (the close's at least)",
            s.mass_cancels
        );
        assert_eq!(
            (
                s.mass_cancels_accepted,
                s.mass_cancels_refused,
                s.mass_cancel_timeouts,
                s.mass_cancel_stray_answers,
                s.kill_cancels
            ),
            (s.mass_cancels, 0, 0, 0, 0),
            "seed {seed}: every mass cancel answered, no order canceled on its own"
        );
        if run.open_at_kill > 0 {
            kills += 1;
            open_at_kills += run.open_at_kill;
        }
        trips += run.trips;
        totals.mass_cancels += s.mass_cancels;
        totals.mass_canceled_orders += s.mass_canceled_orders;
    }
    eprintln!(
        "kills with quotes resting {kills} ({open_at_kills} open), trips {trips}, \
         mass cancels {}, orders they canceled {}",
        totals.mass_cancels, totals.mass_canceled_orders
    );
    assert!(
        kills >= 6 && totals.mass_canceled_orders >= open_at_kills as u64,
        "kills {kills} ({open_at_kills} open), {totals:?}"
    );
}

/// Limits the maker runs into: a small position, a collar, throttles, a
/// duplicate window, and a reject rate that trips the kill switch.
fn tight_limits() -> Limits {
    let mut l = Limits::unlimited();
    l.default_symbol.max_position = 100;
    l.default_symbol.max_order_qty = 100;
    l.default_symbol.collar_bps = Some(5);
    l.default_symbol.tick_size = TICK;
    l.duplicate_window_ns = 10_000_000;
    let t = |n, ms: u64| {
        Some(risk::Throttle {
            max_msgs: n,
            window_ns: ms * 1_000_000,
        })
    };
    l.strategy_order_rate = t(5, 100);
    l.strategy_cancel_rate = t(5, 100);
    l.reject_rate = t(3, 1_000);
    l
}
