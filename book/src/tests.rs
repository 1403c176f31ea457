extern crate std;

use super::*;
use crate::model::Model;
use std::vec::Vec;

type Events = heapless::Vec<BookEvent, MAX_EVENTS_PER_MESSAGE>;

const T: Nanos = Nanos(1);

fn small_book() -> Book {
    Book::with_capacity(BookConfig {
        max_orders: 1024,
        max_levels: 256,
    })
}

fn lvl(price: i64, qty: u64, orders: u32) -> Level {
    Level {
        price: Price(price),
        qty,
        orders,
    }
}

fn add(book: &mut Book, locate: u16, order_ref: u64, side: Side, price: i64, qty: u32) -> Events {
    let mut ev = Events::new();
    book.add_order(locate, order_ref, side, Price(price), qty, T, &mut ev)
        .expect("add");
    ev
}

// ----- unit tests ------------------------------------------------------------

#[test]
fn add_builds_sorted_levels_and_bbo() {
    let mut book = small_book();
    add(&mut book, 7, 1, Side::Buy, 100, 10);
    add(&mut book, 7, 2, Side::Buy, 102, 20);
    add(&mut book, 7, 3, Side::Buy, 101, 30);
    add(&mut book, 7, 4, Side::Buy, 102, 5);
    add(&mut book, 7, 5, Side::Sell, 105, 1);
    add(&mut book, 7, 6, Side::Sell, 104, 2);
    add(&mut book, 7, 7, Side::Sell, 110, 3);
    let bids: Vec<Level> = book.levels(7, Side::Buy).collect();
    assert_eq!(bids, [lvl(102, 25, 2), lvl(101, 30, 1), lvl(100, 10, 1)]);
    let mut out = [Level::default(); 2];
    assert_eq!(book.depth(7, Side::Sell, &mut out), 2);
    assert_eq!(out, [lvl(104, 2, 1), lvl(105, 1, 1)]);
    assert_eq!(
        book.bbo(7),
        Bbo {
            bid: Some(lvl(102, 25, 2)),
            ask: Some(lvl(104, 2, 1))
        }
    );
    assert_eq!(book.bbo(8), Bbo::default());
    assert_eq!(book.live_orders(), 7);
    assert_eq!(book.live_levels(), 6);
    assert_eq!(
        book.queue(7, Side::Buy, Price(102)).collect::<Vec<_>>(),
        [20, 5]
    );
}

#[test]
fn insertion_in_the_middle_from_either_end() {
    let mut book = small_book();
    for (i, p) in [100, 200, 190, 110, 150, 105, 195, 160].iter().enumerate() {
        add(&mut book, 1, i as u64 + 1, Side::Sell, *p, 1);
        add(&mut book, 1, i as u64 + 100, Side::Buy, *p, 1);
    }
    let asks: Vec<i64> = book.levels(1, Side::Sell).map(|l| l.price.0).collect();
    assert_eq!(asks, [100, 105, 110, 150, 160, 190, 195, 200]);
    let bids: Vec<i64> = book.levels(1, Side::Buy).map(|l| l.price.0).collect();
    assert_eq!(bids, [200, 195, 190, 160, 150, 110, 105, 100]);
}

#[test]
fn bbo_event_only_when_bbo_changes() {
    let mut book = small_book();
    let ev = add(&mut book, 1, 1, Side::Buy, 100, 10);
    assert_eq!(ev.len(), 2);
    assert!(matches!(ev[1], BookEvent::Bbo { .. }));
    // Deeper bid: level event only.
    let ev = add(&mut book, 1, 2, Side::Buy, 99, 10);
    assert_eq!(
        ev.as_slice(),
        [BookEvent::Level {
            locate: 1,
            side: Side::Buy,
            level: lvl(99, 10, 1),
            ts: T
        }]
    );
    // Size at the best changes: BBO event.
    let ev = add(&mut book, 1, 3, Side::Buy, 100, 5);
    assert_eq!(
        ev[1],
        BookEvent::Bbo {
            locate: 1,
            bbo: Bbo {
                bid: Some(lvl(100, 15, 2)),
                ask: None
            },
            ts: T
        }
    );
    // Cancel deep: no BBO event.
    let mut ev = Events::new();
    book.cancel(2, 4, T, &mut ev).unwrap();
    assert_eq!(ev.len(), 1);
    // Delete the last deep order: level gone (qty 0), no BBO event.
    ev.clear();
    book.delete(2, T, &mut ev).unwrap();
    assert_eq!(
        ev.as_slice(),
        [BookEvent::Level {
            locate: 1,
            side: Side::Buy,
            level: lvl(99, 0, 0),
            ts: T
        }]
    );
}

#[test]
fn execute_reports_trades_and_removes_filled_orders() {
    let mut book = small_book();
    add(&mut book, 3, 10, Side::Sell, 500, 100);
    add(&mut book, 3, 11, Side::Sell, 500, 50);
    let mut ev = Events::new();
    book.execute(10, 40, Nanos(9), &mut ev).unwrap();
    assert_eq!(
        ev[0],
        BookEvent::Trade {
            locate: 3,
            price: Price(500),
            qty: 40,
            resting_side: Some(Side::Sell),
            ts: Nanos(9)
        }
    );
    assert_eq!(book.order(10).unwrap().qty, 60);
    ev.clear();
    book.execute_with_price(10, 60, Price(499), true, T, &mut ev)
        .unwrap();
    assert!(matches!(
        ev[0],
        BookEvent::Trade {
            price: Price(499),
            qty: 60,
            ..
        }
    ));
    assert!(book.order(10).is_none());
    assert_eq!(book.status(3).volume, 100);
    assert_eq!(book.status(3).last_trade, Some((Price(499), 60)));
    // Non-printable: the order shrinks, nothing prints.
    ev.clear();
    book.execute_with_price(11, 10, Price(501), false, T, &mut ev)
        .unwrap();
    assert!(ev.iter().all(|e| !matches!(e, BookEvent::Trade { .. })));
    assert_eq!(book.order(11).unwrap().qty, 40);
    assert_eq!(book.status(3).volume, 100);
}

#[test]
fn queue_position_after_partial_execution_cancel_and_replace() {
    let mut book = small_book();
    add(&mut book, 2, 1, Side::Buy, 100, 100);
    add(&mut book, 2, 2, Side::Buy, 100, 200);
    add(&mut book, 2, 3, Side::Buy, 100, 300);
    let q = book.queue_position(3).unwrap();
    assert_eq!((q.orders_ahead, q.shares_ahead, q.qty), (2, 300, 300));
    assert_eq!((q.level_orders, q.level_qty), (3, 600));
    let mut ev = Events::new();
    // Partial execution of the front keeps its place and shrinks what is ahead.
    book.execute(1, 60, T, &mut ev).unwrap();
    let q = book.queue_position(3).unwrap();
    assert_eq!((q.orders_ahead, q.shares_ahead), (2, 240));
    assert_eq!(book.queue_position(1).unwrap().orders_ahead, 0);
    // Partial cancel of the middle keeps its place.
    book.cancel(2, 50, T, &mut ev).unwrap();
    let q = book.queue_position(2).unwrap();
    assert_eq!((q.orders_ahead, q.shares_ahead, q.qty), (1, 40, 150));
    // Replace at the same price goes to the back under the new reference.
    ev.clear();
    book.replace(1, 4, Price(100), 40, T, &mut ev).unwrap();
    assert!(book.queue_position(1).is_none());
    let q = book.queue_position(4).unwrap();
    assert_eq!((q.orders_ahead, q.shares_ahead, q.qty), (2, 450, 40));
    assert_eq!(book.queue_position(2).unwrap().orders_ahead, 0);
    // Replace to a new price: sole order of the new level, same side and locate.
    book.replace(2, 5, Price(101), 10, T, &mut ev).unwrap();
    let q = book.queue_position(5).unwrap();
    assert_eq!(
        (q.locate, q.side, q.price, q.orders_ahead),
        (2, Side::Buy, Price(101), 0)
    );
    assert_eq!(book.queue_position(3).unwrap().shares_ahead, 0);
    assert_eq!(book.queue_position(999), None);
}

#[test]
fn counts_unknown_orders() {
    let mut book = small_book();
    let mut ev = Events::new();
    assert_eq!(book.execute(5, 1, T, &mut ev), Err(Anomaly::UnknownOrder));
    assert_eq!(
        book.execute_with_price(5, 1, Price(1), true, T, &mut ev),
        Err(Anomaly::UnknownOrder)
    );
    assert_eq!(book.cancel(5, 1, T, &mut ev), Err(Anomaly::UnknownOrder));
    assert_eq!(book.delete(5, T, &mut ev), Err(Anomaly::UnknownOrder));
    assert_eq!(
        book.replace(5, 6, Price(1), 1, T, &mut ev),
        Err(Anomaly::UnknownOrder)
    );
    assert_eq!(book.counters().unknown_order, 5);
    assert_eq!(book.counters().messages, 5);
    assert!(ev.is_empty());
    assert_eq!(book.live_orders(), 0);
}

#[test]
fn counts_duplicate_adds_and_replace_onto_live_ref() {
    let mut book = small_book();
    add(&mut book, 1, 1, Side::Buy, 100, 10);
    add(&mut book, 1, 2, Side::Buy, 101, 10);
    let mut ev = Events::new();
    assert_eq!(
        book.add_order(1, 1, Side::Sell, Price(200), 5, T, &mut ev),
        Err(Anomaly::DuplicateOrder)
    );
    assert_eq!(
        book.replace(1, 2, Price(105), 5, T, &mut ev),
        Err(Anomaly::DuplicateOrder)
    );
    assert_eq!(book.counters().duplicate_order, 2);
    // Both orders unchanged.
    assert_eq!(book.order(1).unwrap().price, Price(100));
    assert_eq!(book.order(2).unwrap().price, Price(101));
    // Replacing onto the same reference is allowed.
    book.replace(1, 1, Price(99), 7, T, &mut ev).unwrap();
    assert_eq!(book.order(1).unwrap().qty, 7);
}

#[test]
fn over_execution_and_over_cancel_clamp_and_count() {
    let mut book = small_book();
    add(&mut book, 1, 1, Side::Sell, 100, 10);
    add(&mut book, 1, 2, Side::Sell, 100, 10);
    let mut ev = Events::new();
    assert_eq!(
        book.execute(1, 15, T, &mut ev),
        Err(Anomaly::NegativeQuantity)
    );
    // The print reports what actually traded.
    assert!(matches!(ev[0], BookEvent::Trade { qty: 10, .. }));
    assert!(book.order(1).is_none());
    assert_eq!(
        book.cancel(2, 11, T, &mut ev),
        Err(Anomaly::NegativeQuantity)
    );
    assert!(book.order(2).is_none());
    assert_eq!(book.counters().negative_quantity, 2);
    assert_eq!(book.live_levels(), 0);
    assert_eq!(book.bbo(1), Bbo::default());
}

#[test]
fn counts_zero_quantities_bad_prices_and_bad_locates() {
    let mut book = small_book();
    let mut ev = Events::new();
    assert_eq!(
        book.add_order(1, 1, Side::Buy, Price(1), 0, T, &mut ev),
        Err(Anomaly::ZeroQuantity)
    );
    assert_eq!(
        book.add_order(1, 1, Side::Buy, Price(-1), 1, T, &mut ev),
        Err(Anomaly::BadPrice)
    );
    assert_eq!(
        book.add_order(1, 1, Side::Buy, Price(u32::MAX as i64 + 1), 1, T, &mut ev),
        Err(Anomaly::BadPrice)
    );
    assert_eq!(
        book.add_order(0, 1, Side::Buy, Price(1), 1, T, &mut ev),
        Err(Anomaly::BadLocate)
    );
    add(&mut book, 1, 1, Side::Buy, u32::MAX as i64, 10);
    assert_eq!(book.execute(1, 0, T, &mut ev), Err(Anomaly::ZeroQuantity));
    assert_eq!(book.cancel(1, 0, T, &mut ev), Err(Anomaly::ZeroQuantity));
    assert_eq!(
        book.replace(1, 2, Price(5), 0, T, &mut ev),
        Err(Anomaly::ZeroQuantity)
    );
    assert_eq!(
        book.replace(1, 2, Price(-5), 1, T, &mut ev),
        Err(Anomaly::BadPrice)
    );
    assert_eq!(
        book.trade(0, Side::Buy, Price(1), 1, T, &mut ev),
        Err(Anomaly::BadLocate)
    );
    let c = book.counters();
    assert_eq!((c.zero_quantity, c.bad_price, c.bad_locate), (4, 3, 2));
    assert_eq!(book.order(1).unwrap().qty, 10);
    assert!(ev.is_empty());
}

#[test]
fn counts_crossed_books() {
    let mut book = small_book();
    add(&mut book, 1, 1, Side::Buy, 100, 10);
    add(&mut book, 1, 2, Side::Sell, 101, 10);
    assert_eq!(book.counters().crossed_book, 0);
    add(&mut book, 1, 3, Side::Sell, 100, 10); // locked
    assert_eq!(book.counters().crossed_book, 1);
    assert!(book.is_crossed(1));
    let mut ev = Events::new();
    book.delete(3, T, &mut ev).unwrap();
    assert!(!book.is_crossed(1));
    book.replace(1, 4, Price(102), 10, T, &mut ev).unwrap();
    assert_eq!(book.counters().crossed_book, 2);
}

#[test]
fn counts_order_table_full_and_level_pool_full() {
    let mut book = Book::with_capacity(BookConfig {
        max_orders: 3,
        max_levels: 2,
    });
    let mut ev = Events::new();
    add(&mut book, 1, 1, Side::Buy, 100, 1);
    add(&mut book, 1, 2, Side::Buy, 101, 1);
    assert_eq!(
        book.add_order(1, 3, Side::Buy, Price(102), 1, T, &mut ev),
        Err(Anomaly::LevelPoolFull)
    );
    add(&mut book, 1, 3, Side::Buy, 101, 1);
    assert_eq!(
        book.add_order(1, 4, Side::Buy, Price(101), 1, T, &mut ev),
        Err(Anomaly::OrderTableFull)
    );
    let c = *book.counters();
    assert_eq!((c.order_table_full, c.level_pool_full), (1, 1));
    assert_eq!(book.live_orders(), 3);
    assert_eq!((c.peak_orders, c.peak_levels), (3, 2));
    // Freed slots are reused.
    book.delete(1, T, &mut ev).unwrap();
    add(&mut book, 1, 4, Side::Sell, 200, 1);
    assert_eq!(book.live_levels(), 2);
    // Replace needing a new level while the pool is full: old leaves, new dropped.
    assert_eq!(
        book.replace(3, 5, Price(99), 1, T, &mut ev),
        Err(Anomaly::LevelPoolFull)
    );
    assert!(book.order(3).is_none() && book.order(5).is_none());
    assert_eq!(book.order(2).unwrap().qty, 1);
}

#[test]
fn full_sink_is_counted() {
    let mut book = small_book();
    let mut ev: heapless::Vec<BookEvent, 1> = heapless::Vec::new();
    book.add_order(1, 1, Side::Buy, Price(1), 1, T, &mut ev)
        .unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(book.counters().events_dropped, 1);
}

#[test]
fn halts_pauses_and_quotation_only() {
    let mut book = small_book();
    let mut ev = Events::new();
    assert_eq!(book.trading_state(9), TradingState::Trading);
    book.set_trading_state(9, TradingState::Halted, *b"T1  ", Nanos(5), &mut ev)
        .unwrap();
    assert_eq!(
        ev.as_slice(),
        [BookEvent::State {
            locate: 9,
            state: TradingState::Halted,
            ts: Nanos(5)
        }]
    );
    // Same state again (e.g. new reason): no event.
    ev.clear();
    book.set_trading_state(9, TradingState::Halted, *b"T2  ", T, &mut ev)
        .unwrap();
    assert!(ev.is_empty());
    assert_eq!(book.status(9).trading_reason, *b"T2  ");
    // Orders can still be entered and cancelled while halted (quote-only resumption).
    add(&mut book, 9, 1, Side::Buy, 10, 1);
    book.set_trading_state(9, TradingState::QuotationOnly, *b"    ", T, &mut ev)
        .unwrap();
    book.set_trading_state(9, TradingState::Paused, *b"LUDP", T, &mut ev)
        .unwrap();
    book.set_trading_state(9, TradingState::Trading, *b"    ", T, &mut ev)
        .unwrap();
    let states: Vec<TradingState> = ev
        .iter()
        .filter_map(|e| match e {
            BookEvent::State { state, .. } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(
        states,
        [
            TradingState::QuotationOnly,
            TradingState::Paused,
            TradingState::Trading
        ]
    );
    assert_eq!(book.trading_state(8), TradingState::Trading);
    assert_eq!(
        book.set_trading_state(0, TradingState::Halted, *b"    ", T, &mut ev),
        Err(Anomaly::BadLocate)
    );
}

#[test]
fn imbalance_and_cross_status() {
    let mut book = small_book();
    let mut ev = Events::new();
    let imbalance = Imbalance {
        paired_shares: 1000,
        imbalance_shares: 200,
        direction: b'B',
        far_price: Price(100),
        near_price: Price(101),
        reference_price: Price(100),
        cross_type: b'O',
        price_variation: b'L',
        ts: Nanos(3),
    };
    book.set_imbalance(4, imbalance).unwrap();
    assert!(book.status(4).cross.cross_pending());
    book.cross_trade(4, Price(100), 1200, b'O', Nanos(4), &mut ev)
        .unwrap();
    let status = book.status(4);
    assert!(!status.cross.cross_pending());
    assert_eq!(
        status.cross.last_cross,
        Some((Price(100), 1200, b'O', Nanos(4)))
    );
    assert_eq!(status.volume, 1200);
    assert_eq!(
        ev.as_slice(),
        [BookEvent::Trade {
            locate: 4,
            price: Price(100),
            qty: 1200,
            resting_side: None,
            ts: Nanos(4)
        }]
    );
    ev.clear();
    book.trade(4, Side::Buy, Price(99), 50, T, &mut ev).unwrap();
    assert_eq!(book.status(4).volume, 1250);
    assert!(matches!(
        ev[0],
        BookEvent::Trade {
            resting_side: Some(Side::Buy),
            ..
        }
    ));
    assert_eq!(book.live_orders(), 0);
}

#[test]
fn directory_is_stored() {
    let mut book = small_book();
    let mut dir = Directory::for_symbol(types::Symbol::new("AAPL").unwrap());
    dir.market_category = b'Q';
    dir.round_lot_size = 100;
    book.set_directory(13, dir).unwrap();
    assert_eq!(book.status(13).directory, Some(dir));
    assert_eq!(book.status(14).directory, None);
}

/// The directory read backwards: a symbol's locate follows its entry, a
/// renamed locate gives its old symbol up, a symbol two locates name is
/// nobody's until neither does, and a cleared book names nothing.
#[test]
fn locate_of_follows_the_directory() {
    let mut book = small_book();
    let sym = |s| types::Symbol::new(s).unwrap();
    let name = |book: &mut Book, locate, s| {
        book.set_directory(locate, Directory::for_symbol(sym(s)))
            .unwrap()
    };
    assert_eq!(book.locate_of(&sym("AAA")), None);
    name(&mut book, 7, "AAA");
    name(&mut book, 8, "BBB");
    name(&mut book, 7, "AAA");
    assert_eq!(book.locate_of(&sym("AAA")), Some(7), "a repeated entry");
    assert_eq!(book.locate_of(&sym("BBB")), Some(8));
    name(&mut book, 7, "CCC");
    assert_eq!(book.locate_of(&sym("AAA")), None, "renamed");
    assert_eq!(book.locate_of(&sym("CCC")), Some(7));
    name(&mut book, 9, "BBB");
    assert_eq!(book.locate_of(&sym("BBB")), None, "at 8 and 9");
    name(&mut book, 8, "DDD");
    assert_eq!(book.locate_of(&sym("BBB")), None, "still ambiguous");
    name(&mut book, 9, "EEE");
    name(&mut book, 10, "BBB");
    assert_eq!(book.locate_of(&sym("BBB")), Some(10), "named once again");
    assert_eq!(
        book.named_symbols(),
        4,
        "CCC, DDD, EEE and BBB; AAA is gone"
    );
    book.clear();
    assert_eq!(book.named_symbols(), 0);
    assert_eq!(book.locate_of(&sym("CCC")), None);
    assert_eq!(book.locate_of(&sym("BBB")), None);
    name(&mut book, 3, "CCC");
    assert_eq!(book.locate_of(&sym("CCC")), Some(3));
}

#[test]
fn clear_forgets_everything() {
    let mut book = small_book();
    add(&mut book, 1, 1, Side::Buy, 100, 1);
    add(&mut book, 1, 2, Side::Sell, 99, 1);
    book.clear();
    assert_eq!(book.live_orders(), 0);
    assert_eq!(book.bbo(1), Bbo::default());
    assert_eq!(*book.counters(), Counters::default());
    add(&mut book, 1, 1, Side::Buy, 100, 1);
    assert_eq!(book.live_levels(), 1);
}

#[test]
fn memory_at_full_day_scale_is_under_a_gibibyte() {
    let default = Book::memory_bytes_for(BookConfig::default());
    assert!(default < 1 << 30, "{default}");
    let small = BookConfig {
        max_orders: 1000,
        max_levels: 100,
    };
    assert_eq!(
        Book::with_capacity(small).memory_bytes(),
        Book::memory_bytes_for(small)
    );
    assert_eq!(core::mem::size_of::<orders::OrderSlot>(), 32);
    assert_eq!(core::mem::size_of::<LevelSlot>(), 32);
    assert_eq!(core::mem::size_of::<Sides>(), 64);
}

// ----- reference model: crate::model ------------------------------------------

// ----- randomized comparison -------------------------------------------------

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const LOCATES_IN_TEST: u64 = 6;

/// Price near the touch: geometric distance from a per-locate mid, with
/// occasional far-away, crossing and out-of-range prices.
fn random_price(rng: &mut Rng, locate: u16, side: Side) -> i64 {
    let mid = 100_000 + locate as i64 * 10_000;
    let tick = 100;
    let r = rng.below(1000);
    if r < 3 {
        return if rng.chance(50) {
            -1 - rng.below(100) as i64
        } else {
            u32::MAX as i64 + 1
        };
    }
    let mut distance = 1;
    while distance < 40 && rng.chance(70) {
        distance += 1;
    }
    if r < 30 {
        distance = 1 + rng.below(2000) as i64;
    }
    if r < 50 {
        distance = -(rng.below(3) as i64); // at or through the touch
    }
    match side {
        Side::Buy => mid - distance * tick,
        Side::Sell => mid + distance * tick,
    }
}

fn random_live(rng: &mut Rng, model: &Model) -> Option<u64> {
    let (lo, hi) = model.ref_range()?;
    model.next_live(lo + rng.below(hi - lo + 1))
}

fn events_consistent(events: &Events, locate: u16, before: Bbo, after: Bbo) {
    let bbo_events: Vec<Bbo> = events
        .iter()
        .filter_map(|e| match e {
            BookEvent::Bbo { locate: l, bbo, .. } if *l == locate => Some(*bbo),
            _ => None,
        })
        .collect();
    if before == after {
        assert!(bbo_events.is_empty(), "BBO event without a change");
    } else {
        assert_eq!(bbo_events, [after], "BBO change not reported once");
    }
}

/// Drives `ops` random operations through the book and the model and compares
/// the result of every operation, the BBO (and that a BBO event was emitted
/// iff it changed) and top-10 depth of the touched instrument after every
/// operation, plus queue positions of sampled orders and all counters every
/// 1,000 operations.
///
/// References are `n << ref_shift` for increasing `n`: shift 0 is the ITCH
/// pattern; a shift at least log2 of the order table's direct slots makes
/// every reference share one direct slot, so all but one live order spill.
fn compare_with_model(seed: u64, ops: u64, max_orders: usize, max_levels: usize, ref_shift: u32) {
    let mut rng = Rng(seed);
    let mut book = Book::with_capacity(BookConfig {
        max_orders,
        max_levels,
    });
    let mut model = Model::new(max_orders, max_levels);
    let mut next_ref: u64 = 1;
    let mut events = Events::new();
    let target_live = (max_orders as u64 * 9 / 10).max(1);
    let mut most_spilled = 0;
    let mut longest_side = 0;
    for step in 0..ops {
        most_spilled = most_spilled.max(book.spilled_orders());
        events.clear();
        let kind = rng.below(1000);
        let live = model.live_orders() as u64;
        let add_bias = if live < target_live { 480 } else { 380 };
        let locate: u16;
        let (got, want);
        if kind < add_bias {
            locate = if rng.chance(1) {
                0
            } else {
                1 + rng.below(LOCATES_IN_TEST) as u16
            };
            let side = if rng.chance(50) {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = random_price(&mut rng, locate, side);
            let qty = if rng.chance(1) {
                0
            } else {
                1 + rng.below(500) as u32
            };
            let order_ref = if rng.chance(1) {
                random_live(&mut rng, &model).unwrap_or(next_ref << ref_shift)
            } else {
                next_ref += 1 + rng.below(3);
                next_ref << ref_shift
            };
            let before = model.bbo(locate);
            got = book.add_order(
                locate,
                order_ref,
                side,
                Price(price),
                qty,
                Nanos(step),
                &mut events,
            );
            want = model.add(locate, order_ref, side, price, qty);
            events_consistent(&events, locate, before, model.bbo(locate));
        } else {
            let target = if rng.chance(2) {
                (next_ref + 1 + rng.below(1000)) << ref_shift // unknown
            } else {
                random_live(&mut rng, &model).unwrap_or((next_ref + 1) << ref_shift)
            };
            let known = model.order(target);
            locate = known.map_or(1, |o| o.locate);
            let remaining = known.map_or(100, |o| o.qty);
            let partial = |rng: &mut Rng| {
                if rng.chance(1) {
                    0
                } else if rng.chance(5) {
                    remaining + 1 + rng.below(10) as u32 // over-execution
                } else {
                    1 + rng.below(remaining as u64) as u32
                }
            };
            let before = model.bbo(locate);
            let op = kind - add_bias;
            let span = 1000 - add_bias;
            if op < span * 45 / 100 {
                got = book.delete(target, Nanos(step), &mut events);
                want = model.take(target, None);
            } else if op < span * 70 / 100 {
                let q = partial(&mut rng);
                got = book.execute(target, q, Nanos(step), &mut events);
                want = model.take(target, Some(q));
            } else if op < span * 78 / 100 {
                let q = partial(&mut rng);
                let printable = rng.chance(50);
                got = book.execute_with_price(
                    target,
                    q,
                    Price(7),
                    printable,
                    Nanos(step),
                    &mut events,
                );
                want = model.take(target, Some(q));
            } else if op < span * 88 / 100 {
                let q = partial(&mut rng);
                got = book.cancel(target, q, Nanos(step), &mut events);
                want = model.take(target, Some(q));
            } else if op < span * 98 / 100 {
                let side = known.map_or(Side::Buy, |o| o.side);
                let price = random_price(&mut rng, locate, side);
                let qty = if rng.chance(1) {
                    0
                } else {
                    1 + rng.below(500) as u32
                };
                let new_ref = if rng.chance(1) {
                    random_live(&mut rng, &model).unwrap_or(target)
                } else {
                    next_ref += 1;
                    next_ref << ref_shift
                };
                got = book.replace(target, new_ref, Price(price), qty, Nanos(step), &mut events);
                want = model.replace(target, new_ref, price, qty);
            } else {
                // Prints do not change the book.
                let side = if rng.chance(50) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                got = book.trade(locate, side, Price(1), 10, Nanos(step), &mut events);
                model.counters.messages += 1;
                want = Ok(());
                assert_eq!(events.len(), 1);
            }
            events_consistent(&events, locate, before, model.bbo(locate));
        }
        assert_eq!(got, want, "step {step}: result");
        for side in [Side::Buy, Side::Sell] {
            assert!(
                book.side_is_consistent(locate, side),
                "step {step}: level array {side:?}"
            );
        }
        assert_eq!(book.bbo(locate), model.bbo(locate), "step {step}: bbo");
        for side in [Side::Buy, Side::Sell] {
            let mut depth = [Level::default(); 10];
            let n = book.depth(locate, side, &mut depth);
            let expect = model.top_levels(locate, side, 10);
            assert_eq!(
                &depth[..n],
                expect.as_slice(),
                "step {step}: depth {side:?}"
            );
        }
        if step % 1000 == 0 {
            for side in [Side::Buy, Side::Sell] {
                longest_side = longest_side.max(book.levels(locate, side).count());
            }
            assert_eq!(book.live_orders(), model.live_orders());
            assert_eq!(book.live_levels(), model.live_levels());
            assert!(book.arena_accounts(), "step {step}: arena");
            for _ in 0..20 {
                if let Some(r) = random_live(&mut rng, &model) {
                    let q = book.queue_position(r).unwrap();
                    let o = model.order(r).unwrap();
                    assert_eq!(
                        (q.locate, q.side, q.price, q.qty),
                        (o.locate, o.side, Price(o.price), o.qty)
                    );
                    assert_eq!(
                        Some((q.orders_ahead, q.shares_ahead)),
                        model.queue_position(r),
                        "step {step}: queue position of {r}"
                    );
                }
            }
            let c = *book.counters();
            let m = model.counters;
            assert_eq!(
                Counters {
                    level_shifts: 0,
                    level_compactions: 0,
                    peak_orders: 0,
                    peak_levels: 0,
                    ..c
                },
                m,
                "step {step}: counters"
            );
        }
    }
    // The run must actually have exercised the spill and anomaly paths.
    assert!(most_spilled > 0);
    // Sides of several blocks: level arrays grew and shrank between segments.
    if max_levels > 64 * BLOCK {
        assert!(longest_side > 2 * BLOCK, "{longest_side}");
    }
    let c = book.counters();
    assert!(c.unknown_order > 0 && c.duplicate_order > 0 && c.negative_quantity > 0);
    assert!(c.zero_quantity > 0 && c.bad_price > 0 && c.bad_locate > 0 && c.crossed_book > 0);
}

/// One side grows to thousands of levels added in random price order, then
/// loses them in another random order: the array moves through every
/// segment size both ways, stays sorted and consistent at every step, and
/// the arena is whole again at the end.
#[test]
fn deep_sides_grow_and_shrink_through_every_segment_size() {
    let mut book = Book::with_capacity(BookConfig {
        max_orders: 8192,
        max_levels: 4096,
    });
    let arena_free = book.arena.free_entries();
    let mut rng = Rng(0xDEE9);
    for side in [Side::Buy, Side::Sell] {
        let mut prices: Vec<i64> = (1..=3000).map(|i| 10_000 + i * 100).collect();
        for i in (1..prices.len()).rev() {
            prices.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut model = Model::new(8192, 4096);
        let mut events = Events::new();
        let base = if side == Side::Buy { 1 } else { 100_000 };
        for (n, &price) in prices.iter().enumerate() {
            let r = base + n as u64;
            let got = book.add_order(7, r, side, Price(price), 10, Nanos(0), &mut events);
            assert_eq!(got, model.add(7, r, side, price, 10));
            assert!(book.side_is_consistent(7, side), "add {n}");
            if n % 97 == 0 {
                let mut depth = [Level::default(); 10];
                let k = book.depth(7, side, &mut depth);
                assert_eq!(&depth[..k], model.top_levels(7, side, 10).as_slice());
            }
        }
        assert_eq!(book.levels(7, side).count(), 3000);
        let all: Vec<Level> = book.levels(7, side).collect();
        assert_eq!(all, model.top_levels(7, side, 3000));
        assert!(book.ends(7, side_index(side)).cap as usize >= 4096);
        let mut refs: Vec<u64> = (0..3000).map(|n| base + n).collect();
        for i in (1..refs.len()).rev() {
            refs.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for (n, &r) in refs.iter().enumerate() {
            assert_eq!(book.delete(r, Nanos(0), &mut events), model.take(r, None));
            assert!(book.side_is_consistent(7, side), "delete {n}");
            assert_eq!(book.bbo(7), model.bbo(7), "delete {n}");
        }
        assert_eq!(book.live_levels(), 0);
        // The empty side keeps one block for its next level; the rest of
        // the arena is free again, and the blocks account.
        assert_eq!(book.ends(7, side_index(side)).cap as usize, BLOCK);
        let kept = match side {
            Side::Buy => BLOCK,
            Side::Sell => 2 * BLOCK,
        };
        assert_eq!(book.arena.free_entries() + kept, arena_free);
        assert!(book.arena_accounts());
        // Filled again, it needs nothing from the arena.
        let r = base + 5_000;
        let got = book.add_order(7, r, side, Price(12_345), 10, Nanos(0), &mut events);
        assert_eq!(got, model.add(7, r, side, 12_345, 10));
        assert_eq!(book.arena.free_entries() + kept, arena_free);
        assert!(book.side_is_consistent(7, side));
        assert_eq!(book.delete(r, Nanos(0), &mut events), model.take(r, None));
    }
    // Compaction takes the empty sides' blocks back.
    book.compact_arena();
    assert_eq!(book.arena.free_entries(), arena_free);
    assert!(book.arena_accounts());
    assert!(book.counters().level_shifts > 0);
}

/// Free room scattered in single blocks whose buddies are in use: a side
/// that must grow to two blocks finds no segment until the arena is
/// compacted, after which the add succeeds as the model says it must.
#[test]
fn a_fragmented_arena_is_compacted_instead_of_refusing_a_level() {
    let max_levels = 64;
    let mut book = Book::with_capacity(BookConfig {
        max_orders: 256,
        max_levels,
    });
    let mut model = Model::new(256, max_levels);
    let mut events = Events::new();
    // One bid level on each of 64 locates: one block each, in order.
    for locate in 1..=64u16 {
        let r = locate as u64;
        let got = book.add_order(
            locate,
            r,
            Side::Buy,
            Price(10_000),
            5,
            Nanos(0),
            &mut events,
        );
        assert_eq!(got, model.add(locate, r, Side::Buy, 10_000, 5));
    }
    // Every other locate empties: its block is free, its buddy is not.
    for locate in (1..=64u16).step_by(2) {
        let r = locate as u64;
        assert_eq!(book.delete(r, Nanos(0), &mut events), model.take(r, None));
    }
    assert!(book.arena_accounts());
    // Locate 2 fills its block with 8 levels, then needs a second block.
    for n in 1..=8u64 {
        let r = 1000 + n;
        let price = 10_000 - n as i64 * 100;
        let got = book.add_order(2, r, Side::Buy, Price(price), 5, Nanos(0), &mut events);
        assert_eq!(got, model.add(2, r, Side::Buy, price, 5), "level {n}");
        assert!(book.side_is_consistent(2, Side::Buy));
    }
    assert_eq!(book.counters().level_compactions, 1);
    assert_eq!(book.counters().level_pool_full, 0);
    assert!(book.arena_accounts());
    for locate in 1..=64u16 {
        assert!(
            book.side_is_consistent(locate, Side::Buy),
            "locate {locate}"
        );
        assert_eq!(book.bbo(locate), model.bbo(locate), "locate {locate}");
        let all: Vec<Level> = book.levels(locate, Side::Buy).collect();
        assert_eq!(
            all,
            model.top_levels(locate, Side::Buy, 100),
            "locate {locate}"
        );
    }
    // And the book keeps working on the new layout.
    for n in 1..=8u64 {
        let r = 1000 + n;
        assert_eq!(book.delete(r, Nanos(0), &mut events), model.take(r, None));
    }
    assert!(book.side_is_consistent(2, Side::Buy) && book.arena_accounts());
    assert_eq!(book.bbo(2), model.bbo(2));
}

/// A hundred shallow sides and one deep one churning in an arena with no
/// slack, the level pool run to its limit again and again: the book refuses
/// exactly the levels the model refuses (only at a full pool) and its
/// arrays and arena stay consistent. (Random churn rarely fragments a buddy
/// arena; the compaction itself is driven by the test before this one.)
#[test]
fn a_crowded_arena_under_churn_refuses_only_what_the_pool_cannot_hold() {
    // 128 levels: an arena of exactly 128 blocks, so one-level sides (a
    // whole block each) crowd it.
    let (max_orders, max_levels) = (4096, 128);
    let mut book = Book::with_capacity(BookConfig {
        max_orders,
        max_levels,
    });
    let mut model = Model::new(max_orders, max_levels);
    let mut events = Events::new();
    let mut rng = Rng(0xA7E4A);
    let mut next_ref = 1u64;
    for step in 0..200_000u64 {
        events.clear();
        // Skewed: a few locates get deep, most stay shallow.
        // One deep side (locate 1's bids) among a hundred one- or two-level ones.
        let deep = rng.chance(50);
        let locate = if deep { 1 } else { 4 + rng.below(100) as u16 };
        let live = model.live_levels();
        let add = rng.below(100) < if live < max_levels { 55 } else { 45 };
        let (got, want) = if add {
            let side = if deep || rng.chance(50) {
                Side::Buy
            } else {
                Side::Sell
            };
            let ticks = if deep { 120 } else { 2 };
            let price = 10_000 + rng.below(ticks) as i64 * 100;
            next_ref += 1;
            (
                book.add_order(
                    locate,
                    next_ref,
                    side,
                    Price(price),
                    1,
                    Nanos(step),
                    &mut events,
                ),
                model.add(locate, next_ref, side, price, 1),
            )
        } else {
            let Some(r) = random_live(&mut rng, &model) else {
                continue;
            };
            (
                book.delete(r, Nanos(step), &mut events),
                model.take(r, None),
            )
        };
        assert_eq!(got, want, "step {step}");
        if step % 500 == 0 {
            assert!(book.arena_accounts(), "step {step}");
            for locate in 1..=103 {
                for side in [Side::Buy, Side::Sell] {
                    assert!(book.side_is_consistent(locate, side), "step {step}");
                }
                assert_eq!(book.bbo(locate), model.bbo(locate), "step {step}");
            }
        }
    }
    let c = book.counters();
    assert_eq!(c.level_pool_full, model.counters.level_pool_full);
    assert!(c.level_pool_full > 100, "the pool was run full");
}

/// A level a prefetch stage found before [`Book::clear`] is not taken for
/// a live one afterwards.
#[test]
fn a_level_found_before_a_clear_is_not_used_after_it() {
    let mut book = Book::default();
    let mut events = Events::new();
    book.add_order(1, 1, Side::Buy, Price(100), 10, Nanos(0), &mut events)
        .unwrap();
    let mut p = Pending::add(1, 2, Side::Buy, Price(100), 5, Nanos(0));
    for stage in 0..PREFETCH_STAGES {
        book.prefetch(&mut p, stage);
    }
    assert_ne!(p.found, NIL, "the stages found the level");
    book.clear();
    book.apply(&p, &mut events).unwrap();
    assert!(book.side_is_consistent(1, Side::Buy));
    assert_eq!(book.live_levels(), 1);
    let bbo = book.bbo(1);
    assert_eq!(
        bbo.bid.map(|l| (l.price, l.qty, l.orders)),
        Some((Price(100), 5, 1))
    );
}

// ----- group prefetch ----------------------------------------------------------

/// The wire bytes of one ITCH message (no length prefix).
fn wire(repr: protocol::itch::MessageRepr) -> Vec<u8> {
    let mut buf = std::vec![0u8; 64];
    let n = repr.emit(&mut buf).expect("emit");
    buf.truncate(n);
    buf
}

fn header(locate: u16) -> protocol::itch::Header {
    protocol::itch::Header {
        stock_locate: locate,
        tracking_number: 0,
        timestamp: 1,
    }
}

fn add_wire(locate: u16, order_ref: u64, side: Side, price: i64, shares: u32) -> Vec<u8> {
    wire(
        protocol::itch::AddOrderRepr {
            header: header(locate),
            order_ref,
            side,
            shares,
            stock: types::Symbol::new("ZZZ").unwrap(),
            price: Price(price),
        }
        .into(),
    )
}

/// A day's worth of every order message kind over a few instruments, with
/// what is not an order message (or not a message at all) mixed in.
fn mixed_messages() -> Vec<Vec<u8>> {
    use protocol::itch::{
        OrderCancelRepr, OrderDeleteRepr, OrderExecutedRepr, OrderExecutedWithPriceRepr,
        OrderReplaceRepr, SystemEventRepr,
    };
    let mut out = Vec::new();
    for i in 0..40u64 {
        let locate = 1 + (i % 3) as u16;
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let price = if side == Side::Buy {
            100 - (i % 5) as i64
        } else {
            110 + (i % 5) as i64
        };
        out.push(add_wire(locate, 1_000 + i, side, price, 100));
    }
    for i in 0..10u64 {
        out.push(wire(
            OrderExecutedRepr {
                header: header(1),
                order_ref: 1_000 + i,
                executed_shares: 30,
                match_number: i,
            }
            .into(),
        ));
        out.push(wire(
            OrderExecutedWithPriceRepr {
                header: header(1),
                order_ref: 1_010 + i,
                executed_shares: 100,
                match_number: 100 + i,
                printable: b'Y',
                execution_price: Price(99),
            }
            .into(),
        ));
        out.push(wire(
            OrderCancelRepr {
                header: header(2),
                order_ref: 1_020 + i,
                cancelled_shares: 10,
            }
            .into(),
        ));
        out.push(wire(
            OrderReplaceRepr {
                header: header(3),
                original_order_ref: 1_030 + i,
                new_order_ref: 2_000 + i,
                shares: 50,
                price: Price(105),
            }
            .into(),
        ));
        out.push(wire(
            OrderDeleteRepr {
                header: header(1),
                order_ref: 2_000 + i,
            }
            .into(),
        ));
    }
    // Unknown references, an empty slice, a truncated add, an unknown type,
    // a message that is not an order message.
    out.push(wire(
        OrderDeleteRepr {
            header: header(1),
            order_ref: 99_999,
        }
        .into(),
    ));
    out.push(Vec::new());
    let mut truncated = add_wire(1, 5_000, Side::Buy, 100, 1);
    truncated.pop();
    out.push(truncated);
    out.push(std::vec![b'z'; 20]);
    out.push(wire(
        SystemEventRepr {
            header: header(0),
            event_code: b'Q',
        }
        .into(),
    ));
    out
}

fn snapshot(book: &Book) -> (usize, usize, Counters, Vec<Bbo>, Vec<Vec<Level>>) {
    let locates = [1u16, 2, 3];
    let levels = locates
        .iter()
        .flat_map(|&l| [Side::Buy, Side::Sell].map(|s| book.levels(l, s).collect()))
        .collect();
    (
        book.live_orders(),
        book.live_levels(),
        *book.counters(),
        locates.iter().map(|&l| book.bbo(l)).collect(),
        levels,
    )
}

/// Warming a group changes nothing, warms exactly its order messages, and
/// the book then applies the same messages to the same state as a book
/// that was never warmed.
#[test]
fn group_prefetch_changes_nothing_and_applying_after_it_is_the_same() {
    let messages = mixed_messages();
    let order_messages = messages
        .iter()
        .filter(|m| itch::pending_from_bytes(m).is_some())
        .count();
    let mut warmed_book = small_book();
    let mut plain_book = small_book();
    let mut ev = Events::new();
    // In packets of 7, each warmed before it is applied.
    let mut warmed = 0;
    for packet in messages.chunks(7) {
        let before = snapshot(&warmed_book);
        warmed += warmed_book.prefetch_group(packet.iter().map(Vec::as_slice));
        assert_eq!(snapshot(&warmed_book), before, "warming changed the book");
        for bytes in packet {
            for book in [&mut warmed_book, &mut plain_book] {
                ev.clear();
                if let Ok(msg) = protocol::itch::Message::parse(bytes) {
                    let _ = book.apply_itch(&msg, &mut ev);
                }
            }
        }
        assert_eq!(snapshot(&warmed_book), snapshot(&plain_book));
    }
    // Every packet of 7 held at least two order messages.
    assert_eq!(warmed, order_messages);
    assert!(warmed_book.live_orders() > 0 && warmed_book.counters().unknown_order > 0);
}

/// Groups are taken [`PREFETCH_GROUP`] at a time; a lone order message (a
/// group of one, or one left over) is not prefetched.
#[test]
fn group_prefetch_takes_groups_of_at_most_its_size() {
    let book = small_book();
    let adds: Vec<Vec<u8>> = (0..(2 * PREFETCH_GROUP as u64 + 6))
        .map(|i| add_wire(1, 10 + i, Side::Buy, 100, 1))
        .collect();
    let group = |n: usize| book.prefetch_group(adds[..n].iter().map(Vec::as_slice));
    assert_eq!(group(0), 0);
    assert_eq!(group(1), 0);
    assert_eq!(group(2), 2);
    assert_eq!(group(PREFETCH_GROUP), PREFETCH_GROUP);
    assert_eq!(group(PREFETCH_GROUP + 1), PREFETCH_GROUP);
    assert_eq!(group(2 * PREFETCH_GROUP + 6), 2 * PREFETCH_GROUP + 6);
    // What is not an order message takes no place in a group.
    let noise = [std::vec![b'z'; 9], Vec::new()];
    let mixed = noise
        .iter()
        .chain(&adds[..3])
        .chain(&noise)
        .map(Vec::as_slice);
    assert_eq!(book.prefetch_group(mixed), 3);
}

/// One million random operations with room to spare: compares results, BBO,
/// BBO events and top-10 depth after every operation.
#[test]
fn random_operations_match_reference_model() {
    compare_with_model(0x5EED_0001, 1_000_000, 2048, 2048, 0);
}

/// Every reference on one direct slot: the spill path carries the whole book.
#[test]
fn random_operations_match_reference_model_when_every_order_spills() {
    compare_with_model(0x5EED_0003, 300_000, 2048, 2048, 16);
}

/// References on four direct slots: long probe sequences in the spill map.
#[test]
fn random_operations_match_reference_model_with_four_home_slots() {
    compare_with_model(0x5EED_0004, 300_000, 2048, 2048, 10);
}

/// Tight pools so that table-full and level-pool-full paths are compared too.
#[test]
fn random_operations_match_reference_model_with_tight_pools() {
    compare_with_model(0x5EED_0002, 200_000, 400, 60, 0);
    compare_with_model(0x5EED_0005, 100_000, 400, 60, 12);
    // (asserted inside: counters equal the model's, including the full counters)
}

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Add(u16, u64, bool, i64, u32),
        Execute(u64, u32),
        ExecuteWithPrice(u64, u32, i64, bool),
        Cancel(u64, u32),
        Delete(u64),
        Replace(u64, u64, i64, u32),
        Trade(u16, i64, u32),
        Cross(u16, i64, u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let r = 0u64..40;
        let loc = prop_oneof![Just(0u16), 1u16..4, Just(u16::MAX)];
        let price = prop_oneof![
            Just(i64::MIN),
            Just(-1i64),
            0i64..20,
            Just(u32::MAX as i64),
            Just(i64::MAX)
        ];
        let qty = prop_oneof![Just(0u32), 1u32..100, Just(u32::MAX)];
        prop_oneof![
            (
                loc.clone(),
                r.clone(),
                any::<bool>(),
                price.clone(),
                qty.clone()
            )
                .prop_map(|(l, r, b, p, q)| Op::Add(l, r, b, p, q)),
            (r.clone(), qty.clone()).prop_map(|(r, q)| Op::Execute(r, q)),
            (r.clone(), qty.clone(), price.clone(), any::<bool>())
                .prop_map(|(r, q, p, b)| Op::ExecuteWithPrice(r, q, p, b)),
            (r.clone(), qty.clone()).prop_map(|(r, q)| Op::Cancel(r, q)),
            r.clone().prop_map(Op::Delete),
            (r.clone(), r, price.clone(), qty.clone())
                .prop_map(|(a, b, p, q)| Op::Replace(a, b, p, q)),
            (loc.clone(), price.clone(), qty).prop_map(|(l, p, q)| Op::Trade(l, p, q)),
            (loc, price, any::<u64>()).prop_map(|(l, p, s)| Op::Cross(l, p, s)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Warming for any bytes at all (order types with garbage behind
        /// them, any length) never panics and never changes the book.
        #[test]
        fn group_prefetch_of_arbitrary_bytes_never_panics(
            messages in proptest::collection::vec(
                (prop_oneof![Just(b'A'), Just(b'F'), Just(b'D'), Just(b'E'), Just(b'C'), Just(b'X'), Just(b'U'), any::<u8>()],
                 proptest::collection::vec(any::<u8>(), 0..48)),
                0..80),
        ) {
            let mut book = small_book();
            for i in 0..20u64 {
                add(&mut book, 1 + (i % 2) as u16, i, Side::Buy, 100 + i as i64, 10);
            }
            let before = snapshot(&book);
            let messages: Vec<Vec<u8>> = messages
                .into_iter()
                .map(|(t, mut rest)| {
                    rest.insert(0, t);
                    rest
                })
                .collect();
            let warmed = book.prefetch_group(messages.iter().map(Vec::as_slice));
            prop_assert!(warmed <= messages.len());
            prop_assert_eq!(snapshot(&book), before);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn arbitrary_input_never_panics_and_stays_consistent(ops in proptest::collection::vec(op(), 1..200)) {
            let mut book = Book::with_capacity(BookConfig { max_orders: 16, max_levels: 8 });
            // The same operations decoded into `Pending`, prefetched at every
            // stage, then applied: must end in the same state.
            let mut twin = Book::with_capacity(BookConfig { max_orders: 16, max_levels: 8 });
            let mut ev: heapless::Vec<BookEvent, 2> = heapless::Vec::new();
            let mut twin_ev: heapless::Vec<BookEvent, 2> = heapless::Vec::new();
            for op in ops {
                ev.clear();
                twin_ev.clear();
                let pending = match op {
                    Op::Add(l, r, b, p, q) => Some(Pending::add(l, r, if b { Side::Buy } else { Side::Sell }, Price(p), q, T)),
                    Op::Execute(r, q) => Some(Pending::execute(r, q, T)),
                    Op::ExecuteWithPrice(r, q, p, b) => Some(Pending::execute_with_price(r, q, Price(p), b, T)),
                    Op::Cancel(r, q) => Some(Pending::cancel(r, q, T)),
                    Op::Delete(r) => Some(Pending::delete(r, T)),
                    Op::Replace(a, b, p, q) => Some(Pending::replace(a, b, Price(p), q, T)),
                    _ => None,
                };
                let twin_result = if let Some(mut pending) = pending {
                    // Prefetching neither panics nor changes anything.
                    let before = (twin.live_orders(), twin.live_levels(), *twin.counters());
                    for stage in 0..=PREFETCH_STAGES {
                        twin.prefetch(&mut pending, stage);
                    }
                    prop_assert_eq!(before, (twin.live_orders(), twin.live_levels(), *twin.counters()));
                    Some(twin.apply(&pending, &mut twin_ev))
                } else {
                    None
                };
                let result = match op {
                    Op::Add(l, r, b, p, q) => book.add_order(l, r, if b { Side::Buy } else { Side::Sell }, Price(p), q, T, &mut ev),
                    Op::Execute(r, q) => book.execute(r, q, T, &mut ev),
                    Op::ExecuteWithPrice(r, q, p, b) => book.execute_with_price(r, q, Price(p), b, T, &mut ev),
                    Op::Cancel(r, q) => book.cancel(r, q, T, &mut ev),
                    Op::Delete(r) => book.delete(r, T, &mut ev),
                    Op::Replace(a, b, p, q) => book.replace(a, b, Price(p), q, T, &mut ev),
                    Op::Trade(l, p, q) => book.trade(l, Side::Buy, Price(p), q, T, &mut ev),
                    Op::Cross(l, p, s) => book.cross_trade(l, Price(p), s, b'O', T, &mut ev),
                };
                match twin_result {
                    Some(twin_result) => {
                        prop_assert_eq!(result, twin_result);
                        prop_assert_eq!(&ev, &twin_ev);
                        prop_assert_eq!(book.counters(), twin.counters());
                        for locate in [1u16, 2, 3, u16::MAX] {
                            prop_assert_eq!(book.bbo(locate), twin.bbo(locate));
                            for side in [Side::Buy, Side::Sell] {
                                prop_assert!(book.levels(locate, side).eq(twin.levels(locate, side)));
                            }
                        }
                    }
                    // Prints go to the twin directly.
                    None => {
                        let _ = match op {
                            Op::Trade(l, p, q) => twin.trade(l, Side::Buy, Price(p), q, T, &mut twin_ev),
                            Op::Cross(l, p, s) => twin.cross_trade(l, Price(p), s, b'O', T, &mut twin_ev),
                            _ => Ok(()),
                        };
                    }
                }
                // Aggregates agree with the orders they are built from.
                let mut orders = 0usize;
                let mut levels = 0usize;
                for locate in [1u16, 2, 3, u16::MAX] {
                    for side in [Side::Buy, Side::Sell] {
                        let mut last: Option<Price> = None;
                        prop_assert!(book.side_is_consistent(locate, side));
                        for level in book.levels(locate, side) {
                            levels += 1;
                            orders += level.orders as usize;
                            let queue: Vec<u32> = book.queue(locate, side, level.price).collect();
                            prop_assert_eq!(queue.len(), level.orders as usize);
                            prop_assert_eq!(queue.iter().map(|q| *q as u64).sum::<u64>(), level.qty);
                            if let Some(prev) = last {
                                prop_assert!(side.is_better(prev, level.price));
                            }
                            last = Some(level.price);
                        }
                    }
                }
                prop_assert_eq!(orders, book.live_orders());
                prop_assert_eq!(levels, book.live_levels());
            }
        }
    }
}
