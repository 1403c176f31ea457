//! Adapter from decoded ITCH 5.0 messages ([`protocol::itch::Message`]) to
//! the book's semantic input API. Data flows protocol → book; the book's core
//! does not depend on the wire format.
//!
//! Messages that do not concern the book (system events, Reg SHO, market
//! participant positions, MWCB, IPO quoting, LULD collars, operational
//! halts, broken trades, RPII, direct listings, unknown types) and trading
//! actions with a state code outside `H`/`P`/`Q`/`T` are counted in
//! [`Counters::ignored`](crate::Counters::ignored) and change nothing.

use protocol::itch::{
    AddOrder, AddOrderMpid, Message, OrderCancel, OrderDelete, OrderExecuted,
    OrderExecutedWithPrice, OrderReplace,
};
use types::{Nanos, TradingState};

use crate::{Anomaly, Book, Directory, EventSink, Imbalance, Pending};

/// ITCH trading-state code (`H` message) to the shared type.
pub fn trading_state_from_itch(code: u8) -> Option<TradingState> {
    match code {
        b'H' => Some(TradingState::Halted),
        b'P' => Some(TradingState::Paused),
        b'Q' => Some(TradingState::QuotationOnly),
        b'T' => Some(TradingState::Trading),
        _ => None,
    }
}

/// The book operation of an add, execute, cancel, delete or replace message,
/// ready for [`Book::prefetch`] and [`Book::apply`]; `None` for every other
/// message (apply those with [`Book::apply_itch`]).
#[inline(always)]
pub fn pending(msg: &Message<'_>) -> Option<Pending> {
    Some(match msg {
        Message::AddOrder(m) => of_add(m),
        Message::OrderDelete(m) => of_delete(m),
        Message::OrderReplace(m) => of_replace(m),
        Message::OrderExecuted(m) => of_executed(m),
        Message::OrderCancel(m) => of_cancel(m),
        Message::AddOrderMpid(m) => of_add_mpid(m),
        Message::OrderExecutedWithPrice(m) => of_executed_with_price(m),
        _ => return None,
    })
}

/// [`pending`] straight from a message's bytes (without its length prefix):
/// one dispatch on the type byte and the typed view's own checks (exact
/// length, buy/sell indicator). `None` for any other type and for a
/// malformed message (decode those with [`Message::parse`]).
#[inline(always)]
pub fn pending_from_bytes(bytes: &[u8]) -> Option<Pending> {
    Some(match bytes.first()? {
        b'A' => of_add(&AddOrder::new_checked(bytes).ok()?),
        b'D' => of_delete(&OrderDelete::new_checked(bytes).ok()?),
        b'U' => of_replace(&OrderReplace::new_checked(bytes).ok()?),
        b'E' => of_executed(&OrderExecuted::new_checked(bytes).ok()?),
        b'X' => of_cancel(&OrderCancel::new_checked(bytes).ok()?),
        b'F' => of_add_mpid(&AddOrderMpid::new_checked(bytes).ok()?),
        b'C' => of_executed_with_price(&OrderExecutedWithPrice::new_checked(bytes).ok()?),
        _ => return None,
    })
}

// One constructor per message view, for `pending` and `pending_from_bytes`
// alike (so that the two cannot read a message differently).

#[inline(always)]
fn of_add(m: &AddOrder<'_>) -> Pending {
    let ts = Nanos(m.timestamp());
    Pending::add(
        m.stock_locate(),
        m.order_ref(),
        m.side(),
        m.price(),
        m.shares(),
        ts,
    )
}

#[inline(always)]
fn of_add_mpid(m: &AddOrderMpid<'_>) -> Pending {
    let ts = Nanos(m.timestamp());
    Pending::add(
        m.stock_locate(),
        m.order_ref(),
        m.side(),
        m.price(),
        m.shares(),
        ts,
    )
}

#[inline(always)]
fn of_delete(m: &OrderDelete<'_>) -> Pending {
    Pending::delete(m.order_ref(), Nanos(m.timestamp()))
}

#[inline(always)]
fn of_replace(m: &OrderReplace<'_>) -> Pending {
    let ts = Nanos(m.timestamp());
    Pending::replace(
        m.original_order_ref(),
        m.new_order_ref(),
        m.price(),
        m.shares(),
        ts,
    )
}

#[inline(always)]
fn of_executed(m: &OrderExecuted<'_>) -> Pending {
    Pending::execute(m.order_ref(), m.executed_shares(), Nanos(m.timestamp()))
}

#[inline(always)]
fn of_cancel(m: &OrderCancel<'_>) -> Pending {
    Pending::cancel(m.order_ref(), m.cancelled_shares(), Nanos(m.timestamp()))
}

#[inline(always)]
fn of_executed_with_price(m: &OrderExecutedWithPrice<'_>) -> Pending {
    let printable = m.printable() == b'Y';
    let ts = Nanos(m.timestamp());
    Pending::execute_with_price(
        m.order_ref(),
        m.executed_shares(),
        m.execution_price(),
        printable,
        ts,
    )
}

impl Book {
    /// Applies one decoded ITCH message; see the module documentation.
    #[inline]
    pub fn apply_itch<S: EventSink + ?Sized>(
        &mut self,
        msg: &Message<'_>,
        sink: &mut S,
    ) -> Result<(), Anomaly> {
        // The order messages take the same path as the pipelined replay's.
        if let Some(p) = pending(msg) {
            return self.apply(&p, sink);
        }
        match msg {
            Message::Trade(m) => self.trade(
                m.stock_locate(),
                m.side(),
                m.price(),
                m.shares(),
                Nanos(m.timestamp()),
                sink,
            ),
            Message::CrossTrade(m) => self.cross_trade(
                m.stock_locate(),
                m.cross_price(),
                m.shares(),
                m.cross_type(),
                Nanos(m.timestamp()),
                sink,
            ),
            Message::StockDirectory(m) => self.set_directory(
                m.stock_locate(),
                Directory {
                    symbol: m.stock(),
                    market_category: m.market_category(),
                    financial_status: m.financial_status(),
                    round_lot_size: m.round_lot_size(),
                    round_lots_only: m.round_lots_only() == b'Y',
                    issue_classification: m.issue_classification(),
                    issue_sub_type: m.issue_subtype(),
                    authenticity: m.authenticity(),
                    short_sale_threshold: m.short_sale_threshold(),
                    ipo_flag: m.ipo_flag(),
                    luld_reference_price_tier: m.luld_reference_price_tier(),
                    etp_flag: m.etp_flag(),
                    etp_leverage_factor: m.etp_leverage_factor(),
                    inverse: m.inverse_indicator() == b'Y',
                },
            ),
            Message::StockTradingAction(m) => match trading_state_from_itch(m.trading_state()) {
                Some(state) => self.set_trading_state(
                    m.stock_locate(),
                    state,
                    m.reason(),
                    Nanos(m.timestamp()),
                    sink,
                ),
                None => {
                    self.note_ignored();
                    Ok(())
                }
            },
            Message::Noii(m) => self.set_imbalance(
                m.stock_locate(),
                Imbalance {
                    paired_shares: m.paired_shares(),
                    imbalance_shares: m.imbalance_shares(),
                    direction: m.imbalance_direction(),
                    far_price: m.far_price(),
                    near_price: m.near_price(),
                    reference_price: m.current_reference_price(),
                    cross_type: m.cross_type(),
                    price_variation: m.price_variation_indicator(),
                    ts: Nanos(m.timestamp()),
                },
            ),
            _ => {
                self.note_ignored();
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::{Bbo, BookConfig, BookEvent, DepthView, Level, MAX_EVENTS_PER_MESSAGE};
    use protocol::itch::{
        AddOrderRepr, CrossTradeRepr, Header, MessageRepr, NoiiRepr, OrderCancelRepr,
        OrderDeleteRepr, OrderExecutedRepr, OrderExecutedWithPriceRepr, OrderReplaceRepr,
        StockDirectoryRepr, StockTradingActionRepr, SystemEventRepr, TradeRepr,
    };
    use types::{Price, Side, Symbol};

    type Events = heapless::Vec<BookEvent, MAX_EVENTS_PER_MESSAGE>;

    fn header(locate: u16, ts: u64) -> Header {
        Header {
            stock_locate: locate,
            tracking_number: 0,
            timestamp: ts,
        }
    }

    /// Encodes with the codec, decodes, applies: the whole path through bytes.
    fn feed(book: &mut Book, repr: MessageRepr) -> (Result<(), Anomaly>, Events) {
        let mut buf = [0u8; 64];
        let n = repr.emit(&mut buf).expect("emit");
        let msg = Message::parse(&buf[..n]).expect("parse");
        let mut events = Events::new();
        let result = book.apply_itch(&msg, &mut events);
        (result, events)
    }

    fn sym() -> Symbol {
        Symbol::new("MSFT").unwrap()
    }

    fn add(order_ref: u64, side: Side, shares: u32, price: i64) -> MessageRepr {
        AddOrderRepr {
            header: header(5, 100),
            order_ref,
            side,
            shares,
            stock: sym(),
            price: Price(price),
        }
        .into()
    }

    #[test]
    fn order_lifecycle_through_the_wire_format() {
        let mut book = Book::with_capacity(BookConfig {
            max_orders: 64,
            max_levels: 16,
        });
        feed(&mut book, add(1, Side::Buy, 100, 1_000_000))
            .0
            .unwrap();
        feed(&mut book, add(2, Side::Buy, 200, 1_000_000))
            .0
            .unwrap();
        feed(&mut book, add(3, Side::Sell, 300, 1_000_100))
            .0
            .unwrap();
        let (r, ev) = feed(
            &mut book,
            OrderExecutedRepr {
                header: header(5, 101),
                order_ref: 1,
                executed_shares: 40,
                match_number: 9,
            }
            .into(),
        );
        r.unwrap();
        assert_eq!(
            ev[0],
            BookEvent::Trade {
                locate: 5,
                price: Price(1_000_000),
                qty: 40,
                resting_side: Some(Side::Buy),
                ts: Nanos(101)
            }
        );
        let (_, ev) = feed(
            &mut book,
            OrderExecutedWithPriceRepr {
                header: header(5, 102),
                order_ref: 1,
                executed_shares: 10,
                match_number: 10,
                printable: b'N',
                execution_price: Price(999_900),
            }
            .into(),
        );
        assert!(ev.iter().all(|e| !matches!(e, BookEvent::Trade { .. })));
        feed(
            &mut book,
            OrderCancelRepr {
                header: header(5, 103),
                order_ref: 2,
                cancelled_shares: 50,
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(book.queue_position(2).unwrap().shares_ahead, 50);
        feed(
            &mut book,
            OrderReplaceRepr {
                header: header(5, 104),
                original_order_ref: 1,
                new_order_ref: 4,
                shares: 70,
                price: Price(1_000_000),
            }
            .into(),
        )
        .0
        .unwrap();
        let q = book.queue_position(4).unwrap();
        assert_eq!((q.orders_ahead, q.shares_ahead, q.qty), (1, 150, 70));
        feed(
            &mut book,
            OrderDeleteRepr {
                header: header(5, 105),
                order_ref: 3,
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(
            book.bbo(5),
            Bbo {
                bid: Some(Level {
                    price: Price(1_000_000),
                    qty: 220,
                    orders: 2
                }),
                ask: None
            }
        );
        let (r, _) = feed(
            &mut book,
            OrderDeleteRepr {
                header: header(5, 106),
                order_ref: 3,
            }
            .into(),
        );
        assert_eq!(r, Err(Anomaly::UnknownOrder));
    }

    #[test]
    fn status_messages() {
        let mut book = Book::with_capacity(BookConfig {
            max_orders: 8,
            max_levels: 8,
        });
        feed(
            &mut book,
            StockDirectoryRepr::common_stock(header(7, 1), sym()).into(),
        )
        .0
        .unwrap();
        let dir = book.status(7).directory.unwrap();
        assert_eq!(
            (dir.symbol, dir.market_category, dir.round_lot_size),
            (sym(), b'Q', 100)
        );
        let (_, ev) = feed(
            &mut book,
            StockTradingActionRepr {
                header: header(7, 2),
                stock: sym(),
                trading_state: b'H',
                reserved: b' ',
                reason: *b"T1  ",
            }
            .into(),
        );
        assert!(matches!(
            ev[0],
            BookEvent::State {
                state: TradingState::Halted,
                ..
            }
        ));
        feed(
            &mut book,
            StockTradingActionRepr {
                header: header(7, 3),
                stock: sym(),
                trading_state: b'Z',
                reserved: b' ',
                reason: *b"    ",
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(book.trading_state(7), TradingState::Halted);
        feed(
            &mut book,
            NoiiRepr {
                header: header(7, 4),
                paired_shares: 500,
                imbalance_shares: 100,
                imbalance_direction: b'S',
                stock: sym(),
                far_price: Price(10),
                near_price: Price(11),
                current_reference_price: Price(12),
                cross_type: b'H',
                price_variation_indicator: b' ',
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(
            book.status(7).cross.imbalance.unwrap().imbalance_shares,
            100
        );
        let (_, ev) = feed(
            &mut book,
            CrossTradeRepr {
                header: header(7, 5),
                shares: 500,
                stock: sym(),
                cross_price: Price(12),
                match_number: 1,
                cross_type: b'H',
            }
            .into(),
        );
        assert!(matches!(
            ev[0],
            BookEvent::Trade {
                resting_side: None,
                qty: 500,
                ..
            }
        ));
        assert!(!book.status(7).cross.cross_pending());
        feed(
            &mut book,
            TradeRepr {
                header: header(7, 6),
                order_ref: 0,
                side: Side::Buy,
                shares: 25,
                stock: sym(),
                price: Price(13),
                match_number: 2,
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(book.status(7).volume, 525);
        feed(
            &mut book,
            SystemEventRepr {
                header: header(0, 7),
                event_code: b'O',
            }
            .into(),
        )
        .0
        .unwrap();
        assert_eq!(book.counters().ignored, 2);
    }

    mod never_panics {
        use super::*;
        use proptest::prelude::*;
        use protocol::itch::MESSAGE_SIZES;
        use std::vec::Vec;

        /// Wire-sized messages of every type with random bodies (order refs
        /// drawn from a small set so adds, executions and deletes collide).
        fn message() -> impl Strategy<Value = Vec<u8>> {
            (
                0..MESSAGE_SIZES.len(),
                proptest::collection::vec(any::<u8>(), 64),
                0u64..8,
                1u16..4,
            )
                .prop_map(|(which, mut body, order_ref, locate)| {
                    let (ty, len) = MESSAGE_SIZES[which];
                    body.truncate(len);
                    body[0] = ty;
                    body[1..3].copy_from_slice(&locate.to_be_bytes());
                    if matches!(ty, b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U') {
                        body[11..19].copy_from_slice(&order_ref.to_be_bytes());
                    }
                    if matches!(ty, b'A' | b'F') {
                        body[19] = if order_ref % 2 == 0 { b'B' } else { b'S' };
                    }
                    body
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            #[test]
            fn random_wire_messages_never_panic(msgs in proptest::collection::vec(message(), 1..100)) {
                let mut book = Book::with_capacity(BookConfig { max_orders: 8, max_levels: 4 });
                let mut events = Events::new();
                for bytes in &msgs {
                    events.clear();
                    // The direct decoder agrees with parse + pending.
                    let parsed = Message::parse(bytes).ok().and_then(|m| pending(&m));
                    prop_assert_eq!(pending_from_bytes(bytes), parsed);
                    if let Ok(msg) = Message::parse(bytes) {
                        let _ = book.apply_itch(&msg, &mut events);
                    }
                    let mut orders = 0usize;
                    for locate in 1u16..4 {
                        for side in [Side::Buy, Side::Sell] {
                            orders += book.levels(locate, side).map(|l| l.orders as usize).sum::<usize>();
                        }
                    }
                    prop_assert_eq!(orders, book.live_orders());
                }
            }
        }
    }
}
