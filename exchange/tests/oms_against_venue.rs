//! The appliance's OMS and risk engine against the lab's venue, without
//! sockets: random new orders, replaces and cancels go from the OMS to the
//! venue, the venue's background trades against them and breaks or
//! re-prices fills, and every report goes back through the FIX mapping
//! the appliance uses (`gateway::fixmap`). The OMS, risk and the venue
//! must agree on the position after every step, and on what is open once
//! everything is cancelled.

use exchange::feed::{FeedConfig, Publisher};
use exchange::flow::FlowConfig;
use exchange::matching::Owner;
use exchange::server::{execution_report, ReportIds};
use exchange::venue::{Report, Venue};
use gateway::fixmap;
use gateway::oms::{Oms, OmsConfig, Outbound};
use protocol::filter::Subscription;
use protocol::fix::messages::{CxlRejResponseTo, OrdStatus, OrderCancelReject};
use protocol::fix::UtcTime;
use protocol::{ethernet, ipv4};
use risk::{Capacity, Limits, RiskEngine};
use types::{
    Nanos, OrderIntent, Price, Side, StockLocate, StrategyId, Symbol, TimeInForce, VenueId,
};

const APPLIANCE: Owner = Owner(1);
const LOCATE: StockLocate = 1;
const TICK: i64 = 100;
const MAKER: StrategyId = StrategyId(1);

fn venue(seed: u64) -> Venue {
    let feed = Publisher::new(FeedConfig {
        session: *b"OMSVENUE01",
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
    let mut v = Venue::new(
        feed,
        &[("AAA", Price(100_0000))],
        Price(TICK),
        FlowConfig::default(),
        seed,
    );
    v.open();
    v
}

/// The appliance's side: OMS and risk, and the clock it gives them.
struct Appliance {
    oms: Oms,
    risk: RiskEngine,
    now: u64,
}

impl Appliance {
    fn new() -> Appliance {
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
                Limits::unlimited(),
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
        let text = |id: gateway::oms::ClOrdId| String::from_utf8(id.encode().to_vec()).unwrap();
        match out {
            Ok(Outbound::New {
                cl_ord_id,
                side,
                price,
                qty,
                tif,
                ..
            }) => {
                let _ = v.new_order(APPLIANCE, &text(cl_ord_id), b"AAA", side, qty, price, tif);
            }
            Ok(Outbound::Replace {
                cl_ord_id,
                orig_cl_ord_id,
                price,
                qty,
                ..
            }) => {
                let _ = v.replace(
                    APPLIANCE,
                    &text(orig_cl_ord_id),
                    &text(cl_ord_id),
                    price,
                    qty,
                );
            }
            Ok(Outbound::Cancel {
                cl_ord_id,
                orig_cl_ord_id,
                ..
            }) => {
                let _ = v.cancel(APPLIANCE, &text(orig_cl_ord_id), &text(cl_ord_id));
            }
            Err(_) => {}
        }
    }

    /// Every report the venue has for the appliance, through the FIX
    /// mapping, into the OMS.
    fn deliver(&mut self, v: &mut Venue) {
        for report in v.take_reports(APPLIANCE) {
            self.now += 1_000;
            let rep = match &report {
                Report::Execution(e) => {
                    let ids = ReportIds::of(e);
                    let body = execution_report(e, &ids, UtcTime(self.now));
                    fixmap::exec_report(&body).expect("the venue's report maps")
                }
                Report::CancelReject {
                    cl_ord_id,
                    orig_cl_ord_id,
                    order_id,
                    replace,
                    reason,
                } => {
                    let order_id = order_id.to_string();
                    fixmap::cancel_reject(&OrderCancelReject {
                        order_id: order_id.as_bytes(),
                        cl_ord_id: cl_ord_id.as_bytes(),
                        orig_cl_ord_id: orig_cl_ord_id.as_bytes(),
                        ord_status: OrdStatus::Rejected,
                        response_to: if *replace {
                            CxlRejResponseTo::Replace
                        } else {
                            CxlRejResponseTo::Cancel
                        },
                        reason: Some(1),
                        text: Some(reason.as_bytes()),
                    })
                }
            };
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
            let mid = {
                let bid = v.listings()[0].engine.best(Side::Buy).map(|b| b.0 .0);
                let ask = v.listings()[0].engine.best(Side::Sell).map(|a| a.0 .0);
                match (bid, ask) {
                    (Some(b), Some(a)) => (b + a) / 2 / TICK * TICK,
                    (Some(p), None) | (None, Some(p)) => p,
                    (None, None) => 100_0000,
                }
            };
            let near = |rng: &mut Rng| Price(mid + (rng.below(7) as i64 - 3) * TICK);
            match rng.below(10) {
                0..=2 => {
                    let side = if rng.below(2) == 0 {
                        Side::Buy
                    } else {
                        Side::Sell
                    };
                    let intent = OrderIntent::New {
                        strategy: MAKER,
                        locate: LOCATE,
                        symbol: aaa(),
                        side,
                        price: near(&mut rng),
                        qty: 100 + 100 * rng.below(4) as u32,
                        tif: TimeInForce::Day,
                    };
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
                    let intent = OrderIntent::New {
                        strategy: MAKER,
                        locate: LOCATE,
                        symbol: aaa(),
                        side,
                        price: through,
                        qty: 100 + 100 * rng.below(4) as u32,
                        tif: TimeInForce::ImmediateOrCancel,
                    };
                    a.send(&mut v, intent, Price(mid));
                }
                6 => {
                    let _ = v.adjust_last_fill(APPLIANCE, None);
                }
                7 => {
                    let last = v.fills().iter().rev().find(|f| !f.busted).map(|f| f.price);
                    if let Some(p) = last {
                        let by = (rng.below(3) as i64 + 1) * TICK;
                        let _ = v.adjust_last_fill(APPLIANCE, Some(Price(p.0 + by)));
                    }
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
        let refused = OrderIntent::New {
            strategy: MAKER,
            locate: LOCATE,
            symbol: aaa(),
            side: Side::Buy,
            price: Price(100_0000),
            qty: 100,
            tif: TimeInForce::Day,
        };
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
