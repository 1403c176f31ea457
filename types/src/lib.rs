//! Domain types shared by every stage of the pipeline.
//!
//! Everything on the order path is an integer: prices are fixed point with
//! four implied decimals (ITCH `price4`), quantities are whole shares. These
//! types carry no behaviour beyond arithmetic that cannot lose precision, so
//! that the feed, the book, the strategies, risk and the gateway agree on the
//! meaning of every number without conversions.
#![no_std]
#![deny(unsafe_code)]

pub mod prefetch;

use core::fmt;

/// A price in units of 1/10,000 of the quote currency (ITCH `price4`).
///
/// Signed so that differences (spreads, collars, PnL per share) stay in the
/// same type; ITCH prices are unsigned 32-bit and always fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(pub i64);

impl Price {
    /// Number of price units in one currency unit.
    pub const SCALE: i64 = 10_000;
    pub const ZERO: Price = Price(0);
    /// Largest price ITCH can carry (`u32::MAX` price4 units).
    pub const ITCH_MAX: Price = Price(u32::MAX as i64);

    /// A price from an ITCH `price4` field.
    pub const fn from_price4(raw: u32) -> Price {
        Price(raw as i64)
    }

    /// Whole currency units and 1/10,000ths, e.g. `Price::new(12, 3400)` is 12.34.
    pub const fn new(units: i64, ten_thousandths: i64) -> Price {
        Price(units * Self::SCALE + ten_thousandths)
    }

    pub const fn raw(self) -> i64 {
        self.0
    }

    /// Value of `qty` shares at this price, in price4 units (cannot overflow
    /// for any ITCH price and any `u32` quantity).
    pub const fn notional(self, qty: u32) -> i128 {
        self.0 as i128 * qty as i128
    }

    pub const fn checked_add(self, rhs: Price) -> Option<Price> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Price(v)),
            None => None,
        }
    }

    pub const fn checked_sub(self, rhs: Price) -> Option<Price> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(Price(v)),
            None => None,
        }
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let scale = Self::SCALE as u64;
        write!(f, "{sign}{}.{:04}", abs / scale, abs % scale)
    }
}

/// Side of an order or a trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub const fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for buys, -1 for sells: the sign of the position change a fill causes.
    pub const fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }

    /// ITCH buy/sell indicator: `B` or `S`.
    pub const fn from_itch(byte: u8) -> Option<Side> {
        match byte {
            b'B' => Some(Side::Buy),
            b'S' => Some(Side::Sell),
            _ => None,
        }
    }

    pub const fn to_itch(self) -> u8 {
        match self {
            Side::Buy => b'B',
            Side::Sell => b'S',
        }
    }

    /// True when `a` is a better (more aggressive) price than `b` for this side.
    pub fn is_better(self, a: Price, b: Price) -> bool {
        match self {
            Side::Buy => a > b,
            Side::Sell => a < b,
        }
    }
}

/// ITCH stock locate code: the per-day index of an instrument (1..=65535).
pub type StockLocate = u16;

/// An eight-byte, space-padded, left-justified instrument symbol as it appears
/// in ITCH and FIX.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Symbol(pub [u8; 8]);

impl Symbol {
    /// Builds a symbol from text, padding with spaces; `None` when longer than 8 bytes.
    pub fn new(text: &str) -> Option<Symbol> {
        let bytes = text.as_bytes();
        if bytes.len() > 8 {
            return None;
        }
        let mut out = [b' '; 8];
        out[..bytes.len()].copy_from_slice(bytes);
        Some(Symbol(out))
    }

    /// The symbol without its padding.
    pub fn as_bytes(&self) -> &[u8] {
        let end = self.0.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
        &self.0[..end]
    }

    /// The symbol as text; non-UTF-8 bytes (never valid in ITCH) give `"?"`.
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

impl fmt::Debug for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Symbol({:?})", self.as_str())
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which strategy instance owns an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StrategyId(pub u16);

/// Which trading venue (one FIX session each) an order goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct VenueId(pub u8);

/// Our own order identifier, unique across restarts (see the OMS for the scheme).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct OrderId(pub u64);

/// Nanoseconds on the appliance's monotonic clock (TSC-derived on bare metal,
/// taken from the input's timestamps in replay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const fn saturating_sub(self, earlier: Nanos) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

/// How long an order stays in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeInForce {
    Day,
    ImmediateOrCancel,
    /// Rejected by the venue rather than executed against resting liquidity.
    PostOnly,
}

/// What a strategy wants done. Intents pass through risk and the router before
/// they become orders; nothing reaches a venue any other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderIntent {
    New {
        strategy: StrategyId,
        locate: StockLocate,
        symbol: Symbol,
        side: Side,
        price: Price,
        qty: u32,
        tif: TimeInForce,
    },
    Cancel {
        strategy: StrategyId,
        order: OrderId,
    },
    Replace {
        strategy: StrategyId,
        order: OrderId,
        price: Price,
        qty: u32,
    },
}

impl OrderIntent {
    pub const fn strategy(&self) -> StrategyId {
        match self {
            OrderIntent::New { strategy, .. }
            | OrderIntent::Cancel { strategy, .. }
            | OrderIntent::Replace { strategy, .. } => *strategy,
        }
    }
}

/// One aggregated price level of a book side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Level {
    pub price: Price,
    /// Total displayed shares at this price.
    pub qty: u64,
    /// Number of orders resting at this price.
    pub orders: u32,
}

/// Best bid and offer of one instrument; `None` for an empty side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Bbo {
    pub bid: Option<Level>,
    pub ask: Option<Level>,
}

impl Bbo {
    /// Mid price in price4 units, rounded down; `None` unless both sides exist.
    pub fn mid(&self) -> Option<Price> {
        match (self.bid, self.ask) {
            (Some(b), Some(a)) => Some(Price((b.price.0 + a.price.0).div_euclid(2))),
            _ => None,
        }
    }

    /// Ask minus bid; negative when the book is crossed.
    pub fn spread(&self) -> Option<Price> {
        match (self.bid, self.ask) {
            (Some(b), Some(a)) => Some(Price(a.price.0 - b.price.0)),
            _ => None,
        }
    }
}

/// Trading state of an instrument as the venue reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradingState {
    Trading,
    Halted,
    Paused,
    QuotationOnly,
}

/// What the book tells strategies after applying a market-data message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookEvent {
    /// Best bid or offer changed (price or size).
    Bbo {
        locate: StockLocate,
        bbo: Bbo,
        ts: Nanos,
    },
    /// A level's aggregate changed; `qty == 0` means the level is gone.
    Level {
        locate: StockLocate,
        side: Side,
        level: Level,
        ts: Nanos,
    },
    /// A print: executions of resting orders and non-displayed trades.
    /// `resting_side` is the side of the order that was resting, when known.
    Trade {
        locate: StockLocate,
        price: Price,
        qty: u32,
        resting_side: Option<Side>,
        ts: Nanos,
    },
    /// Halts, pauses and resumptions.
    State {
        locate: StockLocate,
        state: TradingState,
        ts: Nanos,
    },
}

impl BookEvent {
    pub const fn locate(&self) -> StockLocate {
        match self {
            BookEvent::Bbo { locate, .. }
            | BookEvent::Level { locate, .. }
            | BookEvent::Trade { locate, .. }
            | BookEvent::State { locate, .. } => *locate,
        }
    }
}

/// Read access to aggregated depth, implemented by the book and by test fixtures.
pub trait DepthView {
    /// The best level of each side: the first that `depth` gives.
    fn bbo(&self, locate: StockLocate) -> Bbo;
    /// Fills `out` with the best levels of `side`, best first; returns how many.
    fn depth(&self, locate: StockLocate, side: Side, out: &mut [Level]) -> usize;
}

/// Why pre-trade risk (or the gateway) refused an intent. Every rejection is
/// counted under its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    KillSwitch = 1,
    MaxOrderQty,
    MaxNotional,
    PriceCollar,
    NoReferencePrice,
    SymbolPositionLimit,
    GrossPositionLimit,
    NetPositionLimit,
    CreditLimit,
    DuplicateOrder,
    RestrictedSymbol,
    OrderRateThrottle,
    CancelRateThrottle,
    MaxOpenOrders,
    SelfMatch,
    UnknownOrder,
    NoVenue,
    VenueReject,
    InvalidOrder,
    /// A fixed-capacity table on the order path (open orders, duplicate
    /// window) is full; the order is refused rather than tracked imprecisely.
    CapacityExhausted,
    /// The order message never reached the venue: its session was not
    /// logged on, or held the message back (no outgoing sequence number the
    /// journal has confirmed), or trading was paused when it was decided.
    NotSent,
    /// The trading window is over (risk latched by the end of the
    /// session): no new order or replace goes out. Counted apart from
    /// [`RejectReason::KillSwitch`], whose refusals follow a fault or an
    /// operator's kill.
    TradingClosed,
    /// A replace of an order the router split across venues (one child
    /// order per venue): which child would take the new terms is not the
    /// strategy's to say. Cancel it and enter a new one; the same replace
    /// would be refused again.
    NotReplaceable,
    /// The shares or the notional entered within the configured window
    /// (new orders, and what replaces add) would pass the limit: SEC
    /// 15c3-5's size parameters "over a short period of time", the control
    /// that stops a runaway strategy whose orders each pass every
    /// per-order check.
    EnteredVolumeLimit,
}

impl RejectReason {
    /// Every reason, in discriminant order (for per-reason counters).
    pub const ALL: [RejectReason; 24] = [
        RejectReason::KillSwitch,
        RejectReason::MaxOrderQty,
        RejectReason::MaxNotional,
        RejectReason::PriceCollar,
        RejectReason::NoReferencePrice,
        RejectReason::SymbolPositionLimit,
        RejectReason::GrossPositionLimit,
        RejectReason::NetPositionLimit,
        RejectReason::CreditLimit,
        RejectReason::DuplicateOrder,
        RejectReason::RestrictedSymbol,
        RejectReason::OrderRateThrottle,
        RejectReason::CancelRateThrottle,
        RejectReason::MaxOpenOrders,
        RejectReason::SelfMatch,
        RejectReason::UnknownOrder,
        RejectReason::NoVenue,
        RejectReason::VenueReject,
        RejectReason::InvalidOrder,
        RejectReason::CapacityExhausted,
        RejectReason::NotSent,
        RejectReason::TradingClosed,
        RejectReason::NotReplaceable,
        RejectReason::EnteredVolumeLimit,
    ];

    /// Dense index `0..ALL.len()` for counter arrays.
    pub const fn index(self) -> usize {
        self as usize - 1
    }
}

/// What the OMS tells the strategy that owns an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderEvent {
    /// The OMS took a `New` intent through risk and sent it to a venue as
    /// `order`; no venue has answered yet. Delivered at once, in the order
    /// the intents were emitted, so a strategy knows its order's id before
    /// any answer — answers from several venues may arrive in any order.
    Entered {
        strategy: StrategyId,
        order: OrderId,
    },
    Accepted {
        strategy: StrategyId,
        order: OrderId,
    },
    Filled {
        strategy: StrategyId,
        order: OrderId,
        locate: StockLocate,
        side: Side,
        price: Price,
        qty: u32,
        /// Shares still open on the order after this fill.
        leaves: u32,
    },
    /// The venue busted (`qty` 0) or corrected an earlier fill of `order`,
    /// reported before as a `Filled` of `was_qty` at `was_price`: the
    /// strategy's position in `locate` moves by
    /// `side.sign() × (qty − was_qty)` shares. `leaves` is what the venue
    /// still works of the order (0: the order is done).
    FillAdjusted {
        strategy: StrategyId,
        order: OrderId,
        locate: StockLocate,
        side: Side,
        was_qty: u32,
        was_price: Price,
        qty: u32,
        price: Price,
        leaves: u32,
    },
    /// The venue took a replace of `order`: it now rests at `price` for a
    /// total of `qty` shares (what has filled included).
    Replaced {
        strategy: StrategyId,
        order: OrderId,
        price: Price,
        qty: u32,
        /// Shares the venue works after the replace: `qty` less what has
        /// filled, which is less than `qty` for an order part filled (a
        /// tracker taking `qty` would count shares nobody works). Never 0:
        /// a replace to no more than has filled ends the order, and is
        /// told as `Canceled`.
        leaves: u32,
    },
    Canceled {
        strategy: StrategyId,
        order: OrderId,
    },
    /// A `New` was refused: by risk before it became an order (`order` is
    /// `None`), or by the venue or on the way to it (`order` names it; the
    /// order is gone).
    Rejected {
        strategy: StrategyId,
        order: Option<OrderId>,
        reason: RejectReason,
    },
    /// A cancel or a replace of `order` was refused — by risk, by the
    /// venue, or on the way to it — and the order stands on its terms. The
    /// request may not have been the strategy's own: the kill switch
    /// cancels every open order.
    AmendRejected {
        strategy: StrategyId,
        order: OrderId,
        reason: RejectReason,
    },
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn price_formats_with_four_decimals() {
        assert_eq!(Price::new(12, 3400).to_string(), "12.3400");
        assert_eq!(Price(-5).to_string(), "-0.0005");
        assert_eq!(Price::from_price4(u32::MAX).to_string(), "429496.7295");
    }

    #[test]
    fn notional_of_extremes_does_not_overflow() {
        assert_eq!(
            Price::ITCH_MAX.notional(u32::MAX),
            u32::MAX as i128 * u32::MAX as i128
        );
    }

    #[test]
    fn symbol_pads_and_trims() {
        let s = Symbol::new("AAPL").unwrap();
        assert_eq!(&s.0, b"AAPL    ");
        assert_eq!(s.as_str(), "AAPL");
        assert!(Symbol::new("TOOLONGSYM").is_none());
        assert_eq!(Symbol([b' '; 8]).as_str(), "");
    }

    #[test]
    fn bbo_mid_and_spread() {
        let lvl = |p| {
            Some(Level {
                price: Price(p),
                qty: 100,
                orders: 1,
            })
        };
        let bbo = Bbo {
            bid: lvl(100),
            ask: lvl(103),
        };
        assert_eq!(bbo.mid(), Some(Price(101)));
        assert_eq!(bbo.spread(), Some(Price(3)));
        assert_eq!(
            Bbo {
                bid: lvl(100),
                ask: None
            }
            .mid(),
            None
        );
    }

    #[test]
    fn reject_reason_index_is_dense() {
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            assert_eq!(r.index(), i);
        }
    }

    #[test]
    fn side_helpers() {
        assert_eq!(Side::from_itch(b'B'), Some(Side::Buy));
        assert_eq!(Side::from_itch(b'X'), None);
        assert!(Side::Buy.is_better(Price(2), Price(1)));
        assert!(Side::Sell.is_better(Price(1), Price(2)));
        assert_eq!(Side::Sell.sign(), -1);
        assert_eq!(Side::Buy.opposite(), Side::Sell);
    }
}
