//! A new feed session numbers the instruments anew (ITCH stock locates are
//! per session): nothing keyed by the old day's locates may trade the
//! stock that now has that number, and what is held (positions, open
//! orders, limits reached) follows the stock to its new locate.

mod common;

use common::itch;

use std::collections::HashMap;

use book::{Book, BookConfig};
use gateway::oms::{ClOrdId, ExecKey, ExecReport, ExecType, Oms, OmsConfig, Outbound};
use pipeline::Pipeline;
use protocol::itch::{AddOrderRepr, Header, Message, MessageRepr, StockDirectoryRepr};
use protocol::mailbox::FillRecord;
use risk::Limits;
use strategy::engine::{Engine, Hosted};
use strategy::mm::{MarketMaker, MmParams};
use types::{Nanos, OrderId, Price, RejectReason, Side, StockLocate, StrategyId, Symbol, VenueId};

const SECOND: u64 = 1_000_000_000;
const AAPL: StrategyId = StrategyId(1);
const MSFT: StrategyId = StrategyId(2);

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

/// Where each stock trades, in whole dollars: an order priced outside its
/// own stock's band was priced off another stock's book.
fn band(symbol: Symbol) -> (i64, i64) {
    match symbol.as_str() {
        "AAPL" => (140, 160),
        "MSFT" => (290, 310),
        "ZZZ" => (40, 60),
        other => panic!("no stock {other}"),
    }
}

/// A market maker on AAPL (locate 1) and one on MSFT (locate 2), the
/// day-one numbering; risk lets no stock hold more than 100 shares (the
/// makers themselves would hold 1,000).
fn pipeline() -> Pipeline<4, 8> {
    let book = Book::with_capacity(BookConfig {
        max_orders: 4096,
        max_levels: 1024,
    });
    let params = MmParams {
        max_position: 1_000,
        ..MmParams::default_for_cent_tick()
    };
    let mut strategies: Engine<4, 8> = Engine::new();
    for (id, locate, name) in [(AAPL, 1, "AAPL"), (MSFT, 2, "MSFT")] {
        let mm = MarketMaker::new(id, locate, sym(name), params).unwrap();
        strategies.add(Hosted::MarketMaker(mm)).unwrap();
    }
    let mut limits = Limits::unlimited();
    limits.default_symbol.max_position = 100;
    let (risk, oms) = common::risk_and_oms(limits);
    Pipeline::new(book, strategies, risk, oms, VenueId(1))
}

fn directory(locate: StockLocate, name: &str) -> Vec<u8> {
    itch(MessageRepr::StockDirectory(
        StockDirectoryRepr::common_stock(
            Header {
                stock_locate: locate,
                tracking_number: 0,
                timestamp: 0,
            },
            sym(name),
        ),
    ))
}

fn add(
    locate: StockLocate,
    name: &str,
    order_ref: u64,
    side: Side,
    price: i64,
    ts: u64,
) -> Vec<u8> {
    itch(MessageRepr::AddOrder(AddOrderRepr {
        header: Header {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: ts,
        },
        order_ref,
        side,
        shares: 500,
        stock: sym(name),
        price: Price(price),
    }))
}

/// One of our orders as the venue knows it.
#[derive(Debug, Clone, Copy)]
struct Live {
    symbol: Symbol,
    side: Side,
    price: Price,
    qty: u32,
    cum: u32,
    cl: ClOrdId,
}

/// The pipeline and a venue that takes every message and answers it at
/// once (acknowledges new orders and replaces, confirms cancels), and
/// checks every message against the directory of the moment.
struct Rig {
    p: Pipeline<4, 8>,
    now: u64,
    orders: HashMap<OrderId, Live>,
    /// Every message the pipeline sent, oldest first.
    log: Vec<Outbound>,
}

impl Rig {
    fn new() -> Rig {
        Rig {
            p: pipeline(),
            now: SECOND,
            orders: HashMap::new(),
            log: Vec::new(),
        }
    }

    fn tick(&mut self) -> u64 {
        self.now += SECOND;
        self.now
    }

    /// One ITCH message a second after the last input; what it sent.
    fn itch(&mut self, msg: Vec<u8>) -> Vec<Outbound> {
        let now = self.tick();
        let mut sent = Vec::new();
        self.p
            .on_itch(&Message::parse(&msg).unwrap(), Nanos(now), &mut |o| {
                sent.push(*o)
            });
        self.venue(sent)
    }

    fn timer(&mut self) -> Vec<Outbound> {
        let now = self.tick();
        let mut sent = Vec::new();
        self.p.on_timer(Nanos(now), &mut |o| sent.push(*o));
        self.venue(sent)
    }

    fn report(&mut self, rep: ExecReport) -> Vec<Outbound> {
        self.now += 1;
        let mut sent = Vec::new();
        self.p
            .on_exec_report(&rep, Nanos(self.now), &mut |o| sent.push(*o));
        self.venue(sent)
    }

    /// Checks and answers `sent`, and what the answers made the pipeline
    /// send, until it sends nothing more; everything sent.
    fn venue(&mut self, mut sent: Vec<Outbound>) -> Vec<Outbound> {
        let mut all = Vec::new();
        for _ in 0..16 {
            if sent.is_empty() {
                break;
            }
            for o in std::mem::take(&mut sent) {
                self.check(&o);
                self.log.push(o);
                all.push(o);
                let rep = self.answer(&o);
                self.now += 1;
                self.p
                    .on_exec_report(&rep, Nanos(self.now), &mut |o| sent.push(*o));
            }
        }
        assert!(sent.is_empty(), "the pipeline keeps sending: {sent:?}");
        all
    }

    /// No order for the wrong stock: a new order's locate names its symbol
    /// in today's directory, and every price is in its own stock's band.
    fn check(&self, o: &Outbound) {
        match *o {
            Outbound::New {
                locate,
                symbol,
                price,
                ..
            } => {
                let listed = self.p.book.status(locate).directory.map(|d| d.symbol);
                assert_eq!(
                    listed,
                    Some(symbol),
                    "an order for {symbol} under locate {locate}, which today is {listed:?}: {o:?}"
                );
                in_band(symbol, price, o);
            }
            Outbound::Replace {
                order,
                symbol,
                price,
                ..
            } => {
                assert_eq!(self.orders[&order].symbol, symbol, "{o:?}");
                in_band(symbol, price, o);
            }
            Outbound::Cancel { .. } => {}
            Outbound::MassCancel { .. } => panic!("no venue here takes mass cancels: {o:?}"),
        }
    }

    fn answer(&mut self, o: &Outbound) -> ExecReport {
        match *o {
            Outbound::New {
                order,
                cl_ord_id,
                symbol,
                side,
                price,
                qty,
                ..
            } => {
                self.orders.insert(
                    order,
                    Live {
                        symbol,
                        side,
                        price,
                        qty,
                        cum: 0,
                        cl: cl_ord_id,
                    },
                );
                let mut ack = ExecReport::new(cl_ord_id, ExecType::New);
                ack.leaves_qty = qty;
                ack
            }
            Outbound::Replace {
                order,
                cl_ord_id,
                orig_cl_ord_id,
                price,
                qty,
                ..
            } => {
                let live = self.orders.get_mut(&order).unwrap();
                live.price = price;
                live.qty = qty;
                live.cl = cl_ord_id;
                let mut ack = ExecReport::new(cl_ord_id, ExecType::Replaced);
                ack.orig_cl_ord_id = Some(orig_cl_ord_id);
                ack.price = price;
                ack.order_qty = qty;
                ack.cum_qty = live.cum;
                ack.leaves_qty = qty - live.cum;
                ack
            }
            Outbound::Cancel {
                order,
                cl_ord_id,
                orig_cl_ord_id,
                ..
            } => {
                self.orders.remove(&order);
                let mut done = ExecReport::new(cl_ord_id, ExecType::Canceled);
                done.orig_cl_ord_id = Some(orig_cl_ord_id);
                done
            }
            Outbound::MassCancel { .. } => unreachable!("refused by `check`"),
        }
    }

    /// The venue fills `qty` of our open `side` order in `name`.
    fn fill(&mut self, name: &str, side: Side, qty: u32) -> Vec<Outbound> {
        let (&order, live) = self
            .orders
            .iter_mut()
            .find(|(_, l)| l.symbol == sym(name) && l.side == side)
            .unwrap_or_else(|| panic!("an open {side:?} order in {name}"));
        live.cum += qty;
        let mut rep = ExecReport::new(live.cl, ExecType::Trade);
        rep.last_qty = qty;
        rep.last_px = live.price;
        rep.cum_qty = live.cum;
        rep.leaves_qty = live.qty - live.cum;
        if live.cum == live.qty {
            self.orders.remove(&order);
        }
        self.report(rep)
    }

    fn mm_position(&self, id: StrategyId) -> i64 {
        match self.p.strategies.get(id) {
            Some(Hosted::MarketMaker(m)) => m.position(),
            _ => panic!("no maker {id:?}"),
        }
    }

    /// Day one: AAPL at 1 and MSFT at 2, both quoted; the AAPL bid is
    /// filled, so AAPL holds the 100 shares risk allows and its next bid
    /// is refused; its ask rests.
    fn day_one(&mut self) {
        self.itch(directory(1, "AAPL"));
        self.itch(directory(2, "MSFT"));
        self.itch(add(1, "AAPL", 1, Side::Buy, 150_0000, self.now));
        let aapl = self.itch(add(1, "AAPL", 2, Side::Sell, 150_1000, self.now));
        assert!(
            aapl.iter()
                .any(|o| matches!(o, Outbound::New { locate: 1, .. })),
            "AAPL quoted: {aapl:?}"
        );
        self.itch(add(2, "MSFT", 3, Side::Buy, 300_0000, self.now));
        let msft = self.itch(add(2, "MSFT", 4, Side::Sell, 300_1000, self.now));
        assert!(
            msft.iter()
                .any(|o| matches!(o, Outbound::New { locate: 2, .. })),
            "MSFT quoted: {msft:?}"
        );
        let refused = self.p.risk.reject_count(RejectReason::SymbolPositionLimit);
        let after = self.fill("AAPL", Side::Buy, 100);
        assert_eq!(self.p.risk.position(1), 100);
        assert_eq!(self.mm_position(AAPL), 100);
        assert!(
            !after.iter().any(|o| matches!(
                o,
                Outbound::New {
                    side: Side::Buy,
                    ..
                }
            )),
            "no bid beyond the limit: {after:?}"
        );
        assert!(self.p.risk.reject_count(RejectReason::SymbolPositionLimit) > refused);
        assert!(self.orders.values().any(|l| l.symbol == sym("AAPL")));
    }

    /// Whether the AAPL maker sent anything among `sent` (new or replace).
    fn aapl_orders(sent: &[Outbound]) -> Vec<Outbound> {
        sent.iter()
            .filter(|o| match o {
                Outbound::New { symbol, .. } | Outbound::Replace { symbol, .. } => {
                    *symbol == sym("AAPL")
                }
                Outbound::Cancel { .. } | Outbound::MassCancel { .. } => false,
            })
            .copied()
            .collect()
    }
}

fn in_band(symbol: Symbol, price: Price, o: &Outbound) {
    let (lo, hi) = band(symbol);
    let scale = Price::SCALE;
    assert!(
        price.0 >= lo * scale && price.0 <= hi * scale,
        "{symbol} priced off another stock's book: {o:?}"
    );
}

/// Day two swaps the numbers: MSFT at 1, AAPL at 2. While only MSFT is
/// listed, the AAPL maker sends nothing (its old locate is MSFT's now);
/// once AAPL's entry and quotes arrive it trades under locate 2, its
/// position and the limit it reached come along (the bid stays refused),
/// and a fill of its day-one order lands on AAPL under locate 2.
#[test]
fn swapped_locates_trade_each_stock_under_its_new_number_only() {
    let mut r = Rig::new();
    r.day_one();
    let (msft_position, msft_open) = (r.p.risk.position(2), r.p.risk.open_qty(2));
    assert!(msft_open != (0, 0));

    r.p.reset_feed(Nanos(r.now));
    r.itch(directory(1, "MSFT"));
    // MSFT's state is at 1 already, before any of its quotes.
    assert_eq!(r.p.risk.open_qty(1), msft_open);
    assert_eq!(r.p.risk.position(1), msft_position);
    r.itch(add(1, "MSFT", 1, Side::Buy, 301_0000, r.now));
    let mut sent = r.itch(add(1, "MSFT", 2, Side::Sell, 301_1000, r.now));
    sent.extend(r.timer());
    assert!(
        Rig::aapl_orders(&sent).is_empty(),
        "AAPL is quiet: {sent:?}"
    );
    assert!(r.p.strategies.is_stale(AAPL));
    assert!(!r.p.strategies.is_stale(MSFT));

    let refused = r.p.risk.reject_count(RejectReason::SymbolPositionLimit);
    r.itch(directory(2, "AAPL"));
    assert!(r.p.carried().is_empty(), "{:?}", r.p.carried());
    assert_eq!(
        r.p.risk.position(2),
        100,
        "AAPL's position under its new locate"
    );
    assert_eq!(r.p.oms.position(2).unwrap().qty, 100);
    assert_eq!(r.p.risk.position(1), msft_position);
    r.itch(add(2, "AAPL", 3, Side::Buy, 151_0000, r.now));
    let mut sent = r.itch(add(2, "AAPL", 4, Side::Sell, 151_1000, r.now));
    sent.extend(r.timer());
    let aapl = Rig::aapl_orders(&sent);
    assert!(!aapl.is_empty(), "AAPL trades again: {sent:?}");
    assert!(
        !aapl.iter().any(|o| matches!(
            o,
            Outbound::New {
                side: Side::Buy,
                ..
            }
        )),
        "the limit reached yesterday still holds: {aapl:?}"
    );
    assert!(r.p.risk.reject_count(RejectReason::SymbolPositionLimit) > refused);

    // The day-one ask (replaced today, or a new one) fills: AAPL sells.
    r.fill("AAPL", Side::Sell, 40);
    assert_eq!(r.p.risk.position(2), 60);
    assert_eq!(r.p.oms.position(2).unwrap().qty, 60);
    assert_eq!(r.mm_position(AAPL), 60);
    assert_eq!(r.p.risk.position(1), msft_position);
    assert_eq!(r.p.stats().relocated, 2);
    assert_eq!(r.p.stats().carry_overflow + r.p.stats().carry_stuck, 0);
}

/// Day two gives AAPL's old number to a new stock (ZZZ at 1) and AAPL a
/// new one (3). A fill of AAPL's day-one order arriving before AAPL is
/// listed still counts as AAPL's; ZZZ's entry moves what AAPL holds out of
/// locate 1 (to a locate nobody lists, refused new orders), nobody trades
/// ZZZ, AAPL is quiet until its entry, then trades under 3 with everything
/// it held.
#[test]
fn a_stock_at_a_new_number_keeps_its_position_and_orders() {
    let mut r = Rig::new();
    r.day_one();
    r.p.reset_feed(Nanos(r.now));
    assert!(r.p.risk.is_unmapped(1));
    r.fill("AAPL", Side::Sell, 30);
    assert_eq!(r.mm_position(AAPL), 70);
    assert_eq!(r.p.risk.position(1), 70);

    r.itch(directory(1, "ZZZ"));
    assert_eq!(r.p.risk.position(1), 0, "ZZZ holds nothing of AAPL's");
    assert!(!r.p.risk.is_unmapped(1));
    let (_, held) =
        *r.p.carried()
            .iter()
            .find(|(s, _)| *s == Some(sym("AAPL")))
            .expect("AAPL waits for its entry");
    assert_eq!(r.p.risk.position(held), 70);
    assert_eq!(r.p.oms.position(held).unwrap().qty, 70);
    assert!(r.p.risk.is_unmapped(held));
    assert!(r.p.book.status(held).directory.is_none());
    let mut sent = r.itch(add(1, "ZZZ", 1, Side::Buy, 50_0000, r.now));
    sent.extend(r.itch(add(1, "ZZZ", 2, Side::Sell, 50_1000, r.now)));
    sent.extend(r.timer());
    assert!(Rig::aapl_orders(&sent).is_empty(), "{sent:?}");

    r.itch(directory(2, "MSFT"));
    r.itch(directory(3, "AAPL"));
    assert!(r.p.carried().is_empty(), "{:?}", r.p.carried());
    assert_eq!(r.p.risk.position(3), 70);
    assert_eq!(r.p.oms.position(3).unwrap().qty, 70);
    assert!(!r.p.risk.is_unmapped(3) && !r.p.risk.is_unmapped(held));
    assert_eq!(r.p.risk.position(1), 0);
    r.itch(add(3, "AAPL", 3, Side::Buy, 151_0000, r.now));
    let mut sent = r.itch(add(3, "AAPL", 4, Side::Sell, 151_1000, r.now));
    sent.extend(r.timer());
    let aapl = Rig::aapl_orders(&sent);
    assert!(
        aapl.iter().any(|o| matches!(
            o,
            Outbound::New {
                locate: 3,
                side: Side::Sell,
                ..
            }
        )),
        "AAPL quotes again under 3: {sent:?}"
    );
    assert_eq!(r.p.stats().relocated, 2);
}

/// While AAPL waits for its entry in the new directory its open order can
/// still be cancelled: the kill switch reaches it (cancels are never
/// refused for an unmapped locate), and nothing else goes out.
#[test]
fn orders_of_a_stock_not_yet_listed_can_still_be_cancelled() {
    let mut r = Rig::new();
    r.day_one();
    r.p.reset_feed(Nanos(r.now));
    assert!(r.p.risk.is_unmapped(1));
    let open: Vec<OrderId> = r
        .orders
        .iter()
        .filter(|(_, l)| l.symbol == sym("AAPL"))
        .map(|(id, _)| *id)
        .collect();
    assert!(!open.is_empty());
    let mut sent = Vec::new();
    let now = r.tick();
    r.p.kill(Nanos(now), &mut |o| sent.push(*o));
    let sent = r.venue(sent);
    for id in &open {
        assert!(
            sent.iter()
                .any(|o| matches!(o, Outbound::Cancel { order, .. } if order == id)),
            "AAPL's order {id:?} cancelled: {sent:?}"
        );
    }
    assert!(sent.iter().all(|o| matches!(o, Outbound::Cancel { .. })));
    assert_eq!(r.p.risk.open_orders(), 0);
}

/// The first session of a run: the makers were built for AAPL at 1 and
/// MSFT at 2, but today's directory has MSFT at 1 and AAPL at 5, and a
/// journal restored an AAPL position under the locate it was recorded
/// with (1). Nothing trades before the directory names it; then AAPL
/// trades under 5 with its restored position and MSFT under 1.
#[test]
fn the_first_session_binds_strategies_and_restored_state_by_symbol() {
    let mut r = Rig::new();
    r.p.oms
        .restore_fill(1, Side::Buy, 100, Price(150_0000), &mut r.p.risk);
    r.p.start_session(Nanos(r.now), &[(1, sym("AAPL"))]);
    assert!(r.p.strategies.is_stale(AAPL) && r.p.strategies.is_stale(MSFT));
    assert_eq!(r.p.stats().feed_resets, 0, "no feed session changed");

    r.itch(directory(1, "MSFT"));
    assert_eq!(r.p.risk.position(1), 0, "MSFT holds nothing of AAPL's");
    r.itch(add(1, "MSFT", 1, Side::Buy, 301_0000, r.now));
    let mut sent = r.itch(add(1, "MSFT", 2, Side::Sell, 301_1000, r.now));
    sent.extend(r.timer());
    assert!(
        Rig::aapl_orders(&sent).is_empty(),
        "AAPL is quiet: {sent:?}"
    );
    assert!(!sent.is_empty(), "MSFT quotes under 1: {sent:?}");

    r.itch(directory(5, "AAPL"));
    assert_eq!(
        r.p.risk.position(5),
        100,
        "the restored position follows AAPL"
    );
    assert_eq!(r.p.oms.position(5).unwrap().qty, 100);
    assert!(r.p.carried().is_empty(), "{:?}", r.p.carried());
    r.itch(add(5, "AAPL", 3, Side::Buy, 151_0000, r.now));
    let mut sent = r.itch(add(5, "AAPL", 4, Side::Sell, 151_1000, r.now));
    sent.extend(r.timer());
    let aapl = Rig::aapl_orders(&sent);
    assert!(
        aapl.iter().any(|o| matches!(
            o,
            Outbound::New {
                locate: 5,
                side: Side::Sell,
                ..
            }
        )),
        "AAPL quotes under 5: {sent:?}"
    );
    assert!(
        !aapl.iter().any(|o| matches!(
            o,
            Outbound::New {
                side: Side::Buy,
                ..
            }
        )),
        "the restored position counts against the 100-share limit: {aapl:?}"
    );
}

/// A restart: this boot is epoch 4, and the journal hands back 100 AAPL
/// bought at 150.0000 by order 7 of boot 3 (execution E1 on venue 1),
/// recorded under the old day's locate 1 — to AAPL's maker too with
/// `to_strategies`, else to risk and the OMS only. Today's directory has
/// MSFT at 1 and AAPL at 5.
fn restarted_with_aapl_journaled(r: &mut Rig, to_strategies: bool) {
    r.p.oms = Oms::new(OmsConfig {
        orders: 1024,
        symbols: 16,
        last_epoch: 3,
    })
    .unwrap();
    let record = FillRecord {
        exec_seq: 1,
        order: OrderId(earlier_id(7, AAPL).0),
        venue: VenueId(1),
        locate: 1,
        symbol: sym("AAPL"),
        side: Side::Buy,
        qty: 100,
        price: Price(150_0000),
        ts_ns: 0,
        exec_key: ExecKey::of(b"E1").map_or(0, |k| k.0.get()),
        strategy: None,
        adjusts: 0,
    };
    if to_strategies {
        r.p.restore_journaled(&record, Some(1));
    } else {
        r.p.oms
            .restore_fill(1, record.side, record.qty, record.price, &mut r.p.risk);
        r.p.restore_journaled(&record, None);
    }
    r.p.start_session(Nanos(r.now), &[(1, sym("AAPL"))]);
    r.itch(directory(1, "MSFT"));
    r.itch(directory(5, "AAPL"));
}

/// The ClOrdID of the `count`th message of boot 3 (this boot is 4), sent
/// for `strategy`.
fn earlier_id(count: u64, strategy: StrategyId) -> ClOrdId {
    ClOrdId::issued(3, count, strategy).unwrap()
}

/// A fill report of an earlier boot's order, as a venue resends it after
/// a crash; the order was `name`'s maker's (AAPL's for a stock no maker
/// trades).
fn earlier_fill(seq: u64, exec: &str, name: &str, side: Side, qty: u32, px: i64) -> ExecReport {
    let strategy = if name == "MSFT" { MSFT } else { AAPL };
    earlier_fill_of(strategy, seq, exec, name, side, qty, px)
}

/// [`earlier_fill`] of an order `strategy` sent.
fn earlier_fill_of(
    strategy: StrategyId,
    seq: u64,
    exec: &str,
    name: &str,
    side: Side,
    qty: u32,
    px: i64,
) -> ExecReport {
    ExecReport {
        last_qty: qty,
        last_px: Price(px),
        exec_id: ExecKey::of(exec.as_bytes()),
        side: Some(side),
        symbol: Some(sym(name)),
        venue: Some(VenueId(1)),
        ..ExecReport::new(earlier_id(seq, strategy), ExecType::Trade)
    }
}

/// A crash lost the journal record of some fills; after the restart the
/// venue resends the reports since the last sequence number the journal
/// kept. Fills the journal has are not applied twice; the others move the
/// position of the stock they name, wherever today's directory puts it,
/// and only once however often they are resent.
#[test]
fn fills_the_journal_lost_in_a_crash_are_recovered_from_the_venues_resend() {
    // The journal's 100 reach risk and the OMS only, here.
    let mut r = Rig::new();
    restarted_with_aapl_journaled(&mut r, false);
    assert_eq!(r.p.risk.position(5), 100);

    // The journaled fill, resent: not applied again.
    r.report(earlier_fill(7, "E1", "AAPL", Side::Buy, 100, 150_0000));
    assert_eq!(r.p.risk.position(5), 100);
    assert_eq!(r.p.oms.position(5).unwrap().qty, 100);
    assert_eq!(r.p.oms.stats().earlier_fills_known, 1);
    // One the journal lost: applied to AAPL at 5, in risk and the OMS.
    r.report(earlier_fill(8, "E2", "AAPL", Side::Sell, 60, 151_0000));
    assert_eq!(r.p.risk.position(5), 40);
    let aapl = *r.p.oms.position(5).unwrap();
    assert_eq!(aapl.qty, 40);
    assert_eq!(aapl.realized, 60 * 1_0000, "60 sold a dollar above cost");
    assert_eq!(r.p.oms.stats().earlier_fills_recovered, 1);
    // AAPL's maker, whose order it was, holds it; the journal's 100 were
    // handed to risk and the OMS only.
    assert_eq!(r.mm_position(AAPL), -60);
    // Resent once more (a second ResendRequest): still once.
    r.report(earlier_fill(8, "E2", "AAPL", Side::Sell, 60, 151_0000));
    assert_eq!(r.p.risk.position(5), 40);
    assert_eq!(r.p.oms.stats().earlier_fills_known, 2);
    // MSFT, named at 1 today.
    r.report(earlier_fill(9, "E3", "MSFT", Side::Buy, 10, 300_0000));
    assert_eq!(r.p.risk.position(1), 10);

    // ZZZ is not in the directory yet: held under a free locate, unmapped
    // (no order can be entered there), until the directory names it.
    r.report(earlier_fill(10, "E4", "ZZZ", Side::Sell, 30, 50_0000));
    let carried = r.p.carried().to_vec();
    assert_eq!(carried.len(), 1, "{carried:?}");
    let (held_as, held_at) = carried[0];
    assert_eq!(held_as, Some(sym("ZZZ")));
    assert_eq!(r.p.risk.position(held_at), -30);
    assert!(r.p.risk.is_unmapped(held_at));
    r.itch(directory(7, "ZZZ"));
    assert_eq!(r.p.risk.position(7), -30, "ZZZ's fill follows it to 7");
    assert_eq!(r.p.oms.position(7).unwrap().qty, -30);
    assert!(r.p.carried().is_empty());
    // Its order was AAPL's maker's, which does not trade ZZZ: risk and the
    // OMS hold it, no strategy does.
    assert_eq!(r.p.strategies.stats().unattributed_fills, 1);
    assert_eq!((r.mm_position(AAPL), r.mm_position(MSFT)), (-60, 10));

    // A report that cannot be applied (no Symbol) is counted, not guessed.
    let mut nameless = earlier_fill(11, "E5", "AAPL", Side::Buy, 5, 150_0000);
    nameless.symbol = None;
    r.report(nameless);
    assert_eq!(r.p.oms.stats().earlier_fills_unusable, 1);
    assert_eq!(r.p.risk.position(5), 40);
    // This boot's own unknown order is no earlier boot's.
    let mut ours = earlier_fill(12, "E6", "AAPL", Side::Buy, 5, 150_0000);
    ours.cl_ord_id = Some(ClOrdId::new(4, 999));
    r.report(ours);
    assert_eq!(r.p.risk.position(5), 40);
    assert_eq!(r.p.oms.stats().earlier_fills_recovered, 3);
}

/// Two makers quote AAPL. After a crash the venue resends fills the
/// journal lost: each goes to the maker whose order it was (its ClOrdID
/// names it), and so does a later bust of one.
#[test]
fn a_recovered_fill_goes_to_the_strategy_whose_order_it_was() {
    const OTHER: StrategyId = StrategyId(3);
    let mut r = Rig::new();
    let params = MmParams {
        max_position: 1_000,
        ..MmParams::default_for_cent_tick()
    };
    let other = MarketMaker::new(OTHER, 1, sym("AAPL"), params).unwrap();
    r.p.strategies.add(Hosted::MarketMaker(other)).unwrap();
    restarted_with_aapl_journaled(&mut r, false);

    r.report(earlier_fill_of(
        OTHER,
        8,
        "E2",
        "AAPL",
        Side::Sell,
        60,
        151_0000,
    ));
    r.report(earlier_fill_of(
        AAPL,
        9,
        "E3",
        "AAPL",
        Side::Buy,
        10,
        150_0000,
    ));
    assert_eq!((r.mm_position(AAPL), r.mm_position(OTHER)), (10, -60));
    assert_eq!(r.p.risk.position(5), 100 - 60 + 10);
    assert_eq!(r.p.oms.stats().earlier_fills_recovered, 2);
    assert_eq!(r.p.strategies.stats().unattributed_fills, 0);

    // The venue breaks the other maker's fill: its 60 come back to it.
    r.report(ExecReport {
        exec_id: ExecKey::of(b"B2"),
        exec_ref_id: ExecKey::of(b"E2"),
        venue: Some(VenueId(1)),
        ..ExecReport::new(earlier_id(8, OTHER), ExecType::TradeCancel)
    });
    assert_eq!((r.mm_position(AAPL), r.mm_position(OTHER)), (10, 0));
    assert_eq!(r.p.risk.position(5), 110);
    assert_eq!(r.p.strategies.stats().unattributed_fills, 0);
}

/// After a restart the venue busts a fill the journal handed back (made
/// under the old day's locate): it comes out of AAPL's position at its new
/// locate, in risk, the OMS and AAPL's maker, once.
#[test]
fn a_bust_after_the_restart_takes_back_a_journaled_fill_at_its_stock() {
    let mut r = Rig::new();
    restarted_with_aapl_journaled(&mut r, true);
    assert_eq!((r.p.risk.position(5), r.mm_position(AAPL)), (100, 100));

    let mut bust = ExecReport {
        exec_id: ExecKey::of(b"B1"),
        exec_ref_id: ExecKey::of(b"E1"),
        venue: Some(VenueId(1)),
        ..ExecReport::new(earlier_id(7, AAPL), ExecType::TradeCancel)
    };
    r.report(bust);
    let aapl = *r.p.oms.position(5).unwrap();
    assert_eq!((aapl.qty, aapl.cost, aapl.realized), (0, 0, 0));
    assert_eq!((r.p.risk.position(5), r.mm_position(AAPL)), (0, 0));
    assert_eq!(r.p.oms.stats().busts, 1);
    assert_eq!(r.p.oms.stats().unknown_exec_refs, 0);
    // Resent: nothing more.
    r.report(bust);
    bust.exec_id = ExecKey::of(b"B2");
    r.report(bust);
    assert_eq!((r.p.risk.position(5), r.mm_position(AAPL)), (0, 0));
    assert_eq!(r.p.oms.stats().duplicate_adjustments, 2);
}
