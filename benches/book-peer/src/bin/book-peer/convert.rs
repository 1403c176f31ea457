//! ITCH → NautilusTrader `OrderBook` operations, once, outside the timed
//! region, and the Nautilus side's replay of them.

use std::collections::HashMap;
use std::str::FromStr;

use nautilus_model::data::BookOrder;
use nautilus_model::enums::{BookType, OrderSide};
use nautilus_model::identifiers::InstrumentId;
use nautilus_model::orderbook::OrderBook;
use nautilus_model::types::fixed::FIXED_PRECISION;
use nautilus_model::types::price::PriceRaw;
use nautilus_model::types::quantity::QuantityRaw;
use nautilus_model::types::{Price, Quantity};
use protocol::itch::{FileReader, Message};
use types::{Side, StockLocate, Symbol};

/// ITCH prices have four decimals.
pub const PRICE_PRECISION: u8 = 4;

/// Nautilus raw price units per ITCH price4 unit: its raw values are scaled
/// by 10^FIXED_PRECISION whatever the precision (10^9 without the
/// `high-precision` feature).
pub const PRICE_RAW_PER_P4: PriceRaw = pow10(FIXED_PRECISION - PRICE_PRECISION);

/// Nautilus raw quantity units per share (precision 0).
pub const QTY_RAW_PER_SHARE: QuantityRaw = pow10(FIXED_PRECISION) as QuantityRaw;

const fn pow10(exp: u8) -> PriceRaw {
    let mut v: PriceRaw = 1;
    let mut i = 0;
    while i < exp {
        v *= 10;
        i += 1;
    }
    v
}

/// Exact: the price4 integer times the scale, no floating point.
#[inline]
pub fn nt_price(price4: u32) -> Price {
    Price::from_raw(PriceRaw::from(price4) * PRICE_RAW_PER_P4, PRICE_PRECISION)
}

#[inline]
pub fn nt_qty(shares: u32) -> Quantity {
    Quantity::from_raw(QuantityRaw::from(shares) * QTY_RAW_PER_SHARE, 0)
}

pub fn nt_side(side: Side) -> OrderSide {
    match side {
        Side::Buy => OrderSide::Buy,
        Side::Sell => OrderSide::Sell,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Add,
    Update,
    Delete,
}

/// One `OrderBook` call: which book, and the arguments (flags are 0).
#[derive(Debug, Clone, Copy)]
pub struct NtOp {
    pub kind: Kind,
    /// Index into the books (see [`Converted::books`]).
    pub book: u32,
    /// 1-based index of the ITCH message in the stream.
    pub seq: u64,
    /// ITCH timestamp (ns since midnight).
    pub ts: u64,
    pub order: BookOrder,
}

/// What the conversion produced and met.
pub struct Converted {
    pub ops: Vec<NtOp>,
    /// One book per locate that has an add, in order of first add: its
    /// locate and instrument id (`SYMBOL.XNAS` from the directory).
    pub books: Vec<(StockLocate, InstrumentId)>,
    /// Book index by locate (`NO_BOOK` if none).
    pub book_of: Vec<u32>,
    pub adds: u64,
    pub updates: u64,
    pub deletes: u64,
    /// Messages whose operation ours rejects (and that therefore have none
    /// here): unknown order reference, duplicate add, zero shares, locate 0.
    pub unknown_ref: u64,
    pub duplicate: u64,
    pub zero_shares: u64,
    pub bad_locate: u64,
    /// Executions/cancels of more shares than remained (clamped: delete).
    pub over_executed: u64,
    /// Order messages with no operation (the anomalies above).
    pub no_op: u64,
    pub live_at_end: usize,
    /// Distinct prices seen, and how many of them `Price::new(f64, 4)` would
    /// have given a different raw value than the exact `Price::from_raw`.
    pub distinct_prices: usize,
    pub float_price_mismatches: usize,
}

pub const NO_BOOK: u32 = u32::MAX;

#[derive(Clone, Copy)]
struct Live {
    book: u32,
    side: Side,
    price4: u32,
    shares: u32,
}

struct Converter<'a> {
    c: Converted,
    live: HashMap<u64, Live>,
    names: &'a HashMap<StockLocate, Symbol>,
    prices: HashMap<u32, ()>,
    seq: u64,
    ts: u64,
}

/// `SYMBOL.XNAS`, or `LOC<locate>.XNAS` when the directory has no usable name.
pub fn instrument_id(locate: StockLocate, name: Option<&Symbol>) -> InstrumentId {
    let by_name = name
        .map(|s| s.as_str().trim_end().to_string())
        .filter(|s| !s.is_empty())
        .and_then(|s| InstrumentId::from_str(&format!("{s}.XNAS")).ok());
    by_name.unwrap_or_else(|| {
        InstrumentId::from_str(&format!("LOC{locate}.XNAS"))
            .unwrap_or_else(|_| InstrumentId::from("UNKNOWN.XNAS"))
    })
}

impl Converter<'_> {
    fn book_for(&mut self, locate: StockLocate) -> u32 {
        let slot = &mut self.c.book_of[usize::from(locate)];
        if *slot == NO_BOOK {
            *slot = self.c.books.len() as u32;
            let id = instrument_id(locate, self.names.get(&locate));
            self.c.books.push((locate, id));
        }
        *slot
    }

    fn push(&mut self, kind: Kind, o: Live, id: u64) {
        match kind {
            Kind::Add => self.c.adds += 1,
            Kind::Update => self.c.updates += 1,
            Kind::Delete => self.c.deletes += 1,
        }
        self.c.ops.push(NtOp {
            kind,
            book: o.book,
            seq: self.seq,
            ts: self.ts,
            order: BookOrder::new(nt_side(o.side), nt_price(o.price4), nt_qty(o.shares), id),
        });
    }

    /// A new order; false (and nothing done) when ours would reject it.
    fn add(&mut self, locate: StockLocate, id: u64, side: Side, price4: i64, shares: u32) -> bool {
        let Ok(price4) = u32::try_from(price4) else {
            return false;
        };
        if locate == 0 {
            self.c.bad_locate += 1;
            return false;
        }
        if shares == 0 {
            self.c.zero_shares += 1;
            return false;
        }
        if self.live.contains_key(&id) {
            self.c.duplicate += 1;
            return false;
        }
        self.prices.insert(price4, ());
        let o = Live {
            book: self.book_for(locate),
            side,
            price4,
            shares,
        };
        self.live.insert(id, o);
        self.push(Kind::Add, o, id);
        true
    }

    /// Takes `shares` (all when `None`) off a live order: an update to the
    /// rest, or a delete when nothing remains.
    fn reduce(&mut self, id: u64, shares: Option<u32>) -> bool {
        if shares == Some(0) {
            self.c.zero_shares += 1;
            return false;
        }
        let Some(o) = self.live.get_mut(&id) else {
            self.c.unknown_ref += 1;
            return false;
        };
        let take = match shares {
            Some(n) if n > o.shares => {
                self.c.over_executed += 1;
                o.shares
            }
            Some(n) => n,
            None => o.shares,
        };
        o.shares -= take;
        let o = *o;
        if o.shares == 0 {
            self.live.remove(&id);
            self.push(Kind::Delete, o, id);
        } else {
            self.push(Kind::Update, o, id);
        }
        true
    }

    /// Cancel-replace: delete the old order, add the new one on the same
    /// side; all or nothing, as ours applies it.
    fn replace(&mut self, old: u64, new: u64, price4: i64, shares: u32) -> bool {
        let Some(&o) = self.live.get(&old) else {
            self.c.unknown_ref += 1;
            return false;
        };
        if u32::try_from(price4).is_err() {
            return false;
        }
        if shares == 0 {
            self.c.zero_shares += 1;
            return false;
        }
        if new != old && self.live.contains_key(&new) {
            self.c.duplicate += 1;
            return false;
        }
        self.live.remove(&old);
        self.push(Kind::Delete, o, old);
        let locate = self.c.books[o.book as usize].0;
        self.add(locate, new, o.side, price4, shares)
    }
}

/// Converts the order messages of `stream` (NASDAQ file format); every
/// other message gets no operation. `seq` of an operation is the 1-based
/// index of its message in the stream.
pub fn convert(stream: &[u8], names: &HashMap<StockLocate, Symbol>) -> Converted {
    let mut cv = Converter {
        c: Converted {
            ops: Vec::with_capacity(stream.len() / 24),
            books: Vec::new(),
            book_of: vec![NO_BOOK; usize::from(u16::MAX) + 1],
            adds: 0,
            updates: 0,
            deletes: 0,
            unknown_ref: 0,
            duplicate: 0,
            zero_shares: 0,
            bad_locate: 0,
            over_executed: 0,
            no_op: 0,
            live_at_end: 0,
            distinct_prices: 0,
            float_price_mismatches: 0,
        },
        live: HashMap::new(),
        names,
        prices: HashMap::new(),
        seq: 0,
        ts: 0,
    };
    for b in FileReader::new(stream).filter_map(Result::ok) {
        cv.seq += 1;
        let Ok(msg) = Message::parse(b) else {
            continue;
        };
        cv.ts = msg.timestamp().unwrap_or(cv.ts);
        let done = match msg {
            Message::AddOrder(m) => cv.add(
                m.stock_locate(),
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::AddOrderMpid(m) => cv.add(
                m.stock_locate(),
                m.order_ref(),
                m.side(),
                m.price().0,
                m.shares(),
            ),
            Message::OrderExecuted(m) => cv.reduce(m.order_ref(), Some(m.executed_shares())),
            Message::OrderExecutedWithPrice(m) => {
                cv.reduce(m.order_ref(), Some(m.executed_shares()))
            }
            Message::OrderCancel(m) => cv.reduce(m.order_ref(), Some(m.cancelled_shares())),
            Message::OrderDelete(m) => cv.reduce(m.order_ref(), None),
            Message::OrderReplace(m) => cv.replace(
                m.original_order_ref(),
                m.new_order_ref(),
                m.price().0,
                m.shares(),
            ),
            _ => true,
        };
        if !done {
            cv.c.no_op += 1;
        }
    }
    let mut c = cv.c;
    c.live_at_end = cv.live.len();
    c.distinct_prices = cv.prices.len();
    c.float_price_mismatches = cv
        .prices
        .keys()
        .filter(|&&p| Price::new(f64::from(p) / 10_000.0, PRICE_PRECISION).raw != nt_price(p).raw)
        .count();
    c
}

/// Fresh books, one per locate of the conversion.
pub fn new_books(c: &Converted) -> Vec<OrderBook> {
    c.books
        .iter()
        .map(|(_, id)| OrderBook::new(*id, BookType::L3_MBO))
        .collect()
}

/// Applies operations to the books: the Nautilus side's timed loop.
#[inline(never)]
pub fn replay(books: &mut [OrderBook], ops: &[NtOp]) {
    for op in ops {
        let book = &mut books[op.book as usize];
        match op.kind {
            Kind::Add => book.add(op.order, 0, op.seq, op.ts.into()),
            Kind::Update => book.update(op.order, 0, op.seq, op.ts.into()),
            Kind::Delete => book.delete(op.order, 0, op.seq, op.ts.into()),
        }
    }
}
