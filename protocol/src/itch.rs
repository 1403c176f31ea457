//! NASDAQ TotalView-ITCH 5.0: zero-copy message views, encoders and the
//! NASDAQ file-format reader.
//!
//! # Decoding
//! [`Message::parse`] looks at the type byte, checks the exact wire length
//! once, and hands back a view that borrows the input as a fixed-size array
//! (`&[u8; N]`). Every field accessor then reads at a constant offset into
//! that array; the offsets are proven in range at compile time (see
//! [`field`]), so accessors carry no bounds checks and cannot panic. Nothing is
//! copied until an accessor is called.
//!
//! `parse` checks the length against a 256-entry table and then builds the
//! view without a second check (the one `unsafe` block in this crate, next to
//! its proof). Together with a table-driven buy/sell check this makes `parse`
//! free of data-dependent branches, which took decode from ~18 to under
//! 3 ns/msg on a realistic mix (see `benches/itch_decode.rs`); the only
//! type-dependent branch left is the caller's own `match`. Typed
//! `new_checked` constructors stay fully safe.
//!
//! Buy/sell indicators (`A`, `F`, `P`) are validated during `parse`, so
//! `side()` is infallible. All other one-byte codes are returned raw: the
//! spec adds values over time and a feed handler should not drop a message
//! because of a code it does not interpret.
//!
//! Unknown message types are not errors: they come back as
//! [`Message::Unknown`] with their bytes so the caller can skip and count
//! them ([`DecodeCounters`]).
//!
//! # Encoding
//! Each message type has a `…Repr` struct with plain typed fields and an
//! `emit` that writes the exact wire bytes into a caller buffer.
//! [`MessageRepr`] wraps them all. Prices are [`Price`] (price4) and must fit
//! the wire's `u32`; timestamps must fit 48 bits; both are checked on emit.
//!
//! # File format
//! [`FileReader`] walks the NASDAQ file format (u16 big-endian length, then the
//! message) without allocating and reports a truncated tail as an error;
//! [`write_framed`] produces it.

use core::fmt;
use types::{Price, Side, Symbol};

/// Length of the header every message starts with: type(1) stock locate(2)
/// tracking number(2) timestamp(6).
pub const HEADER_LEN: usize = 11;

/// Largest timestamp a 6-byte field can carry.
pub const MAX_TIMESTAMP: u64 = (1 << 48) - 1;

/// Errors from decoding or encoding ITCH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// A message of zero bytes (no type byte).
    Empty,
    /// A known message type whose length is not the spec's exact length.
    Length {
        msg_type: u8,
        expected: usize,
        actual: usize,
    },
    /// A typed view was asked to wrap a message of another type.
    WrongType { expected: u8, actual: u8 },
    /// A buy/sell indicator that is neither `B` nor `S`.
    InvalidSide { msg_type: u8, value: u8 },
    /// The NASDAQ file ends inside a length prefix or a message.
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    /// The output buffer cannot hold the encoded message.
    BufferTooSmall { needed: usize, available: usize },
    /// A price outside `0..=u32::MAX` price4 units.
    PriceOutOfRange(Price),
    /// A timestamp above [`MAX_TIMESTAMP`].
    TimestampOutOfRange(u64),
    /// A message longer than a u16 length prefix can describe.
    MessageTooLong(usize),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Empty => f.write_str("empty ITCH message"),
            Error::Length {
                msg_type,
                expected,
                actual,
            } => write!(
                f,
                "ITCH '{}' message is {actual} bytes, expected {expected}",
                msg_type as char
            ),
            Error::WrongType { expected, actual } => write!(
                f,
                "expected ITCH '{}' message, got '{}'",
                expected as char, actual as char
            ),
            Error::InvalidSide { msg_type, value } => write!(
                f,
                "ITCH '{}' message has buy/sell indicator 0x{value:02x}",
                msg_type as char
            ),
            Error::Truncated {
                offset,
                needed,
                available,
            } => write!(
                f,
                "ITCH file truncated at offset {offset}: need {needed} bytes, have {available}"
            ),
            Error::BufferTooSmall { needed, available } => {
                write!(f, "buffer of {available} bytes, need {needed}")
            }
            Error::PriceOutOfRange(p) => write!(f, "price {p} does not fit ITCH price4"),
            Error::TimestampOutOfRange(t) => write!(f, "timestamp {t} does not fit 48 bits"),
            Error::MessageTooLong(n) => write!(f, "message of {n} bytes exceeds u16 length"),
        }
    }
}

const fn distinct_types(sizes: &[(u8, usize)]) -> bool {
    let mut i = 0;
    while i < sizes.len() {
        let mut j = i + 1;
        while j < sizes.len() {
            if sizes[i].0 == sizes[j].0 {
                return false;
            }
            j += 1;
        }
        i += 1;
    }
    true
}

/// Offset of the buy/sell indicator in `A`, `F` and `P`.
const SIDE_OFFSET: usize = 19;

/// 1 for the types whose buy/sell indicator `parse` validates.
static HAS_SIDE: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'A' as usize] = 1;
    t[b'F' as usize] = 1;
    t[b'P' as usize] = 1;
    t
};

/// 1 for every byte that is not a valid buy/sell indicator.
static NOT_A_SIDE: [u8; 256] = {
    let mut t = [1u8; 256];
    t[b'B' as usize] = 0;
    t[b'S' as usize] = 0;
    t
};

/// Field readers and writers at constant offsets into fixed-size arrays.
///
/// The `const { assert!(..) }` in each helper is evaluated at compile time for
/// every (offset, width, length) the message definitions use, so an
/// out-of-range offset is a build error, and the slicing below can never fail
/// at run time.
pub mod field {
    #[inline(always)]
    pub(crate) fn get<const OFF: usize, const W: usize, const N: usize>(b: &[u8; N]) -> [u8; W] {
        const { assert!(OFF + W <= N) };
        let mut out = [0u8; W];
        out.copy_from_slice(&b[OFF..OFF + W]);
        out
    }

    #[inline(always)]
    pub(crate) fn put<const OFF: usize, const W: usize, const N: usize>(
        b: &mut [u8; N],
        v: [u8; W],
    ) {
        const { assert!(OFF + W <= N) };
        b[OFF..OFF + W].copy_from_slice(&v);
    }

    /// True when `spans` (offset, width) tile `start..end` exactly, in order.
    /// Used in const assertions that each message layout has no hole or overlap.
    pub(crate) const fn tiles(spans: &[(usize, usize)], start: usize, end: usize) -> bool {
        let mut at = start;
        let mut i = 0;
        while i < spans.len() {
            if spans[i].0 != at {
                return false;
            }
            at += spans[i].1;
            i += 1;
        }
        at == end
    }
}

/// Common header fields of every message (the type byte is implied by the
/// message kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Header {
    pub stock_locate: u16,
    pub tracking_number: u16,
    /// Nanoseconds since midnight (48 bits on the wire).
    pub timestamp: u64,
}

impl Header {
    fn emit<const N: usize>(&self, out: &mut [u8; N]) -> Result<(), Error> {
        if self.timestamp > MAX_TIMESTAMP {
            return Err(Error::TimestampOutOfRange(self.timestamp));
        }
        field::put::<1, 2, N>(out, self.stock_locate.to_be_bytes());
        field::put::<3, 2, N>(out, self.tracking_number.to_be_bytes());
        field::put::<5, 6, N>(out, ts_bytes(self.timestamp));
        Ok(())
    }
}

#[inline(always)]
fn ts_from(b: [u8; 6]) -> u64 {
    u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
}

#[inline(always)]
fn ts_bytes(t: u64) -> [u8; 6] {
    let b = t.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

#[inline(always)]
fn side_from(b: u8) -> Side {
    // Validated to be b'B' or b'S' when the view was made.
    if b == b'S' {
        Side::Sell
    } else {
        Side::Buy
    }
}

#[inline(always)]
fn price4_bytes(p: Price) -> Result<[u8; 4], Error> {
    u32::try_from(p.0)
        .map(u32::to_be_bytes)
        .map_err(|_| Error::PriceOutOfRange(p))
}

// ----- per-kind plumbing for the message-definition macro -----------------

macro_rules! kind_ty {
    (u8) => {
        u8
    };
    (u16) => {
        u16
    };
    (u32) => {
        u32
    };
    (u64) => {
        u64
    };
    (price4) => {
        Price
    };
    (price8) => {
        u64
    };
    (side) => {
        Side
    };
    (symbol) => {
        Symbol
    };
    (alpha2) => {
        [u8; 2]
    };
    (alpha4) => {
        [u8; 4]
    };
}

macro_rules! kind_width {
    (u8) => {
        1
    };
    (u16) => {
        2
    };
    (u32) => {
        4
    };
    (u64) => {
        8
    };
    (price4) => {
        4
    };
    (price8) => {
        8
    };
    (side) => {
        1
    };
    (symbol) => {
        8
    };
    (alpha2) => {
        2
    };
    (alpha4) => {
        4
    };
}

macro_rules! kind_get {
    (u8, $b:expr, $off:literal, $n:literal) => {
        field::get::<$off, 1, $n>($b)[0]
    };
    (u16, $b:expr, $off:literal, $n:literal) => {
        u16::from_be_bytes(field::get::<$off, 2, $n>($b))
    };
    (u32, $b:expr, $off:literal, $n:literal) => {
        u32::from_be_bytes(field::get::<$off, 4, $n>($b))
    };
    (u64, $b:expr, $off:literal, $n:literal) => {
        u64::from_be_bytes(field::get::<$off, 8, $n>($b))
    };
    (price4, $b:expr, $off:literal, $n:literal) => {
        Price::from_price4(u32::from_be_bytes(field::get::<$off, 4, $n>($b)))
    };
    (price8, $b:expr, $off:literal, $n:literal) => {
        u64::from_be_bytes(field::get::<$off, 8, $n>($b))
    };
    (side, $b:expr, $off:literal, $n:literal) => {
        side_from(field::get::<$off, 1, $n>($b)[0])
    };
    (symbol, $b:expr, $off:literal, $n:literal) => {
        Symbol(field::get::<$off, 8, $n>($b))
    };
    (alpha2, $b:expr, $off:literal, $n:literal) => {
        field::get::<$off, 2, $n>($b)
    };
    (alpha4, $b:expr, $off:literal, $n:literal) => {
        field::get::<$off, 4, $n>($b)
    };
}

macro_rules! kind_put {
    (u8, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 1, $n>($b, [$v])
    };
    (u16, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 2, $n>($b, $v.to_be_bytes())
    };
    (u32, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 4, $n>($b, $v.to_be_bytes())
    };
    (u64, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 8, $n>($b, $v.to_be_bytes())
    };
    (price4, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 4, $n>($b, price4_bytes($v)?)
    };
    (price8, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 8, $n>($b, $v.to_be_bytes())
    };
    (side, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 1, $n>($b, [$v.to_itch()])
    };
    (symbol, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 8, $n>($b, $v.0)
    };
    (alpha2, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 2, $n>($b, $v)
    };
    (alpha4, $b:expr, $off:literal, $n:literal, $v:expr) => {
        field::put::<$off, 4, $n>($b, $v)
    };
}

/// Validation done once in `parse` so accessors stay infallible.
macro_rules! kind_check {
    (side, $b:expr, $off:literal, $n:literal, $ty:literal) => {{
        let value = field::get::<$off, 1, $n>($b)[0];
        if value != b'B' && value != b'S' {
            return Err(Error::InvalidSide {
                msg_type: $ty,
                value,
            });
        }
    }};
    ($other:ident, $b:expr, $off:literal, $n:literal, $ty:literal) => {};
}

macro_rules! itch_messages {
    ($(
        $(#[$meta:meta])*
        $variant:ident($view:ident, $repr:ident) = $ty:literal, $size:literal {
            $( $(#[$fmeta:meta])* $field:ident : $kind:ident @ $off:literal ),* $(,)?
        }
    )*) => {
        $(
            $(#[$meta])*
            ///
            /// Zero-copy view; see the module docs.
            #[derive(Clone, Copy, PartialEq, Eq)]
            pub struct $view<'a>(&'a [u8; $size]);

            impl<'a> $view<'a> {
                /// The message type byte.
                pub const TYPE: u8 = $ty;
                /// Exact wire length, type byte included.
                pub const LEN: usize = $size;

                /// Checks the exact length, the type byte and any validated
                /// field, then wraps the bytes.
                #[inline]
                pub fn new_checked(bytes: &'a [u8]) -> Result<Self, Error> {
                    match bytes.first() {
                        None => Err(Error::Empty),
                        Some(&t) if t != $ty => Err(Error::WrongType {
                            expected: $ty,
                            actual: t,
                        }),
                        Some(_) => Self::from_typed(bytes),
                    }
                }

                /// `new_checked` without the type-byte check (the dispatcher
                /// has already looked at it).
                #[inline(always)]
                fn from_typed(bytes: &'a [u8]) -> Result<Self, Error> {
                    let arr: &'a [u8; $size] = bytes.try_into().map_err(|_| Error::Length {
                        msg_type: $ty,
                        expected: $size,
                        actual: bytes.len(),
                    })?;
                    $( kind_check!($kind, arr, $off, $size, $ty); )*
                    Ok($view(arr))
                }

                /// The message bytes, type byte first.
                #[inline(always)]
                pub fn as_bytes(&self) -> &'a [u8; $size] {
                    self.0
                }

                #[inline(always)]
                pub fn stock_locate(&self) -> u16 {
                    u16::from_be_bytes(field::get::<1, 2, $size>(self.0))
                }

                #[inline(always)]
                pub fn tracking_number(&self) -> u16 {
                    u16::from_be_bytes(field::get::<3, 2, $size>(self.0))
                }

                /// Nanoseconds since midnight.
                #[inline(always)]
                pub fn timestamp(&self) -> u64 {
                    ts_from(field::get::<5, 6, $size>(self.0))
                }

                #[inline(always)]
                pub fn header(&self) -> Header {
                    Header {
                        stock_locate: self.stock_locate(),
                        tracking_number: self.tracking_number(),
                        timestamp: self.timestamp(),
                    }
                }

                $(
                    $(#[$fmeta])*
                    #[inline(always)]
                    pub fn $field(&self) -> kind_ty!($kind) {
                        kind_get!($kind, self.0, $off, $size)
                    }
                )*

                /// Copies every field into the owned representation.
                pub fn to_repr(&self) -> $repr {
                    $repr {
                        header: self.header(),
                        $( $field: self.$field(), )*
                    }
                }
            }

            impl fmt::Debug for $view<'_> {
                fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    fmt::Debug::fmt(&self.to_repr(), f)
                }
            }

            $(#[$meta])*
            ///
            /// Owned representation for building the message.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub struct $repr {
                pub header: Header,
                $( $(#[$fmeta])* pub $field: kind_ty!($kind), )*
            }

            impl $repr {
                /// The message type byte.
                pub const TYPE: u8 = $ty;
                /// Exact wire length, type byte included.
                pub const LEN: usize = $size;

                /// Writes the message to the start of `buf`; returns the
                /// number of bytes written ([`Self::LEN`]).
                pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
                    let available = buf.len();
                    let out: &mut [u8; $size] = buf
                        .get_mut(..$size)
                        .and_then(|b| b.try_into().ok())
                        .ok_or(Error::BufferTooSmall { needed: $size, available })?;
                    out[0] = $ty;
                    self.header.emit(out)?;
                    $( kind_put!($kind, out, $off, $size, self.$field); )*
                    Ok($size)
                }
            }

            const _: () = assert!(field::tiles(
                &[$( ($off, kind_width!($kind)) ),*],
                HEADER_LEN,
                $size
            ));
        )*

        /// A decoded ITCH message: one view per type, or the bytes of a type
        /// this decoder does not know.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Message<'a> {
            $( $variant($view<'a>), )*
            /// A type byte outside ITCH 5.0; skip it and count it.
            Unknown(&'a [u8]),
        }

        impl<'a> Message<'a> {
            /// Decodes one message (without its length prefix).
            ///
            /// Exact length is checked for every known type; unknown types
            /// give [`Message::Unknown`].
            #[inline]
            #[allow(unsafe_code)]
            pub fn parse(bytes: &'a [u8]) -> Result<Message<'a>, Error> {
                let Some(&t) = bytes.first() else {
                    return Err(Error::Empty);
                };
                let expected = usize::from(WIRE_LEN[usize::from(t)]);
                if expected != bytes.len() {
                    return if expected == 0 {
                        Ok(Message::Unknown(bytes))
                    } else {
                        Err(Error::Length { msg_type: t, expected, actual: bytes.len() })
                    };
                }
                // Buy/sell check for A, F and P (offset 19 in all three),
                // branch-free: a branch on the type or the length here would
                // mispredict on the A/D-heavy mix. `len - 1` cannot underflow
                // (the type byte exists), so `get` always succeeds.
                let side = bytes.get(SIDE_OFFSET.min(bytes.len() - 1)).copied().unwrap_or(b'B');
                if HAS_SIDE[usize::from(t)] & NOT_A_SIDE[usize::from(side)] != 0 {
                    return Err(Error::InvalidSide { msg_type: t, value: side });
                }
                let ptr = bytes.as_ptr();
                Ok(match t {
                    $(
                        // SAFETY: `bytes.len() == WIRE_LEN[t] == $size` was
                        // checked above (the table is built from the same
                        // definitions, and `wire_len_table_matches` tests it), so
                        // `ptr` points at exactly `$size` initialised bytes
                        // borrowed for `'a`; `[u8; N]` has alignment 1.
                        $ty => Message::$variant($view(unsafe { &*(ptr as *const [u8; $size]) })),
                    )*
                    _ => Message::Unknown(bytes),
                })
            }

            /// The message bytes, type byte first.
            #[inline]
            pub fn as_bytes(&self) -> &'a [u8] {
                match self {
                    $( Message::$variant(m) => m.as_bytes(), )*
                    Message::Unknown(b) => b,
                }
            }

            /// The type byte.
            #[inline]
            pub fn msg_type(&self) -> u8 {
                match self {
                    $( Message::$variant(_) => $ty, )*
                    // An Unknown is never empty: `parse` rejects empty input.
                    Message::Unknown(b) => b.first().copied().unwrap_or(0),
                }
            }

            /// The owned representation, `None` for [`Message::Unknown`].
            pub fn to_repr(&self) -> Option<MessageRepr> {
                match self {
                    $( Message::$variant(m) => Some(MessageRepr::$variant(m.to_repr())), )*
                    Message::Unknown(_) => None,
                }
            }
        }

        /// Owned form of any ITCH 5.0 message, for building feeds.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum MessageRepr {
            $( $variant($repr), )*
        }

        impl MessageRepr {
            /// Wire length of the message, type byte included.
            pub const fn len(&self) -> usize {
                match self {
                    $( MessageRepr::$variant(_) => $size, )*
                }
            }

            /// Never true: every message has at least its header.
            pub const fn is_empty(&self) -> bool {
                false
            }

            /// The type byte.
            pub const fn msg_type(&self) -> u8 {
                match self {
                    $( MessageRepr::$variant(_) => $ty, )*
                }
            }

            /// The common header.
            pub const fn header(&self) -> Header {
                match self {
                    $( MessageRepr::$variant(r) => r.header, )*
                }
            }

            /// Writes the message to the start of `buf`; returns its length.
            pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
                match self {
                    $( MessageRepr::$variant(r) => r.emit(buf), )*
                }
            }
        }

        $(
            impl From<$repr> for MessageRepr {
                fn from(r: $repr) -> Self {
                    MessageRepr::$variant(r)
                }
            }
        )*

        /// Every ITCH 5.0 type byte with its exact wire length.
        pub const MESSAGE_SIZES: &[(u8, usize)] = &[$( ($ty, $size), )*];

        // Each type byte is defined once, so `WIRE_LEN` and the dispatch in
        // `Message::parse` cannot disagree.
        const _: () = assert!(distinct_types(MESSAGE_SIZES));

        /// Wire length by type byte; 0 for types outside ITCH 5.0.
        static WIRE_LEN: [u8; 256] = {
            let mut t = [0u8; 256];
            $( t[$ty as usize] = $size; )*
            t
        };

    };
}

itch_messages! {
    /// `S` System Event.
    SystemEvent(SystemEvent, SystemEventRepr) = b'S', 12 {
        /// `O` start of messages, `S` start of system hours, `Q` start of
        /// market hours, `M` end of market hours, `E` end of system hours,
        /// `C` end of messages.
        event_code: u8 @ 11,
    }

    /// `R` Stock Directory.
    StockDirectory(StockDirectory, StockDirectoryRepr) = b'R', 39 {
        stock: symbol @ 11,
        market_category: u8 @ 19,
        financial_status: u8 @ 20,
        round_lot_size: u32 @ 21,
        round_lots_only: u8 @ 25,
        issue_classification: u8 @ 26,
        issue_subtype: alpha2 @ 27,
        authenticity: u8 @ 29,
        short_sale_threshold: u8 @ 30,
        ipo_flag: u8 @ 31,
        luld_reference_price_tier: u8 @ 32,
        etp_flag: u8 @ 33,
        etp_leverage_factor: u32 @ 34,
        inverse_indicator: u8 @ 38,
    }

    /// `H` Stock Trading Action.
    StockTradingAction(StockTradingAction, StockTradingActionRepr) = b'H', 25 {
        stock: symbol @ 11,
        /// `H` halted, `P` paused, `Q` quotation only, `T` trading.
        trading_state: u8 @ 19,
        reserved: u8 @ 20,
        reason: alpha4 @ 21,
    }

    /// `Y` Reg SHO Short Sale Price Test Restricted Indicator.
    RegShoRestriction(RegShoRestriction, RegShoRestrictionRepr) = b'Y', 20 {
        stock: symbol @ 11,
        reg_sho_action: u8 @ 19,
    }

    /// `L` Market Participant Position.
    MarketParticipantPosition(MarketParticipantPosition, MarketParticipantPositionRepr) = b'L', 26 {
        mpid: alpha4 @ 11,
        stock: symbol @ 15,
        primary_market_maker: u8 @ 23,
        market_maker_mode: u8 @ 24,
        market_participant_state: u8 @ 25,
    }

    /// `V` Market-Wide Circuit Breaker Decline Level (price8: 8 implied decimals).
    MwcbDeclineLevel(MwcbDeclineLevel, MwcbDeclineLevelRepr) = b'V', 35 {
        level1: price8 @ 11,
        level2: price8 @ 19,
        level3: price8 @ 27,
    }

    /// `W` Market-Wide Circuit Breaker Status.
    MwcbStatus(MwcbStatus, MwcbStatusRepr) = b'W', 12 {
        breached_level: u8 @ 11,
    }

    /// `K` IPO Quoting Period Update.
    IpoQuotingPeriodUpdate(IpoQuotingPeriodUpdate, IpoQuotingPeriodUpdateRepr) = b'K', 28 {
        stock: symbol @ 11,
        /// Seconds since midnight.
        release_time: u32 @ 19,
        release_qualifier: u8 @ 23,
        ipo_price: price4 @ 24,
    }

    /// `J` Limit Up – Limit Down Auction Collar.
    LuldAuctionCollar(LuldAuctionCollar, LuldAuctionCollarRepr) = b'J', 35 {
        stock: symbol @ 11,
        reference_price: price4 @ 19,
        upper_price: price4 @ 23,
        lower_price: price4 @ 27,
        extension: u32 @ 31,
    }

    /// `h` Operational Halt.
    OperationalHalt(OperationalHalt, OperationalHaltRepr) = b'h', 21 {
        stock: symbol @ 11,
        market_code: u8 @ 19,
        halt_action: u8 @ 20,
    }

    /// `A` Add Order – No MPID Attribution.
    AddOrder(AddOrder, AddOrderRepr) = b'A', 36 {
        order_ref: u64 @ 11,
        side: side @ 19,
        shares: u32 @ 20,
        stock: symbol @ 24,
        price: price4 @ 32,
    }

    /// `F` Add Order with MPID Attribution.
    AddOrderMpid(AddOrderMpid, AddOrderMpidRepr) = b'F', 40 {
        order_ref: u64 @ 11,
        side: side @ 19,
        shares: u32 @ 20,
        stock: symbol @ 24,
        price: price4 @ 32,
        attribution: alpha4 @ 36,
    }

    /// `E` Order Executed.
    OrderExecuted(OrderExecuted, OrderExecutedRepr) = b'E', 31 {
        order_ref: u64 @ 11,
        executed_shares: u32 @ 19,
        match_number: u64 @ 23,
    }

    /// `C` Order Executed With Price.
    OrderExecutedWithPrice(OrderExecutedWithPrice, OrderExecutedWithPriceRepr) = b'C', 36 {
        order_ref: u64 @ 11,
        executed_shares: u32 @ 19,
        match_number: u64 @ 23,
        printable: u8 @ 31,
        execution_price: price4 @ 32,
    }

    /// `X` Order Cancel.
    OrderCancel(OrderCancel, OrderCancelRepr) = b'X', 23 {
        order_ref: u64 @ 11,
        cancelled_shares: u32 @ 19,
    }

    /// `D` Order Delete.
    OrderDelete(OrderDelete, OrderDeleteRepr) = b'D', 19 {
        order_ref: u64 @ 11,
    }

    /// `U` Order Replace.
    OrderReplace(OrderReplace, OrderReplaceRepr) = b'U', 35 {
        original_order_ref: u64 @ 11,
        new_order_ref: u64 @ 19,
        shares: u32 @ 27,
        price: price4 @ 31,
    }

    /// `P` Trade (non-cross).
    Trade(Trade, TradeRepr) = b'P', 44 {
        order_ref: u64 @ 11,
        side: side @ 19,
        shares: u32 @ 20,
        stock: symbol @ 24,
        price: price4 @ 32,
        match_number: u64 @ 36,
    }

    /// `Q` Cross Trade.
    CrossTrade(CrossTrade, CrossTradeRepr) = b'Q', 40 {
        shares: u64 @ 11,
        stock: symbol @ 19,
        cross_price: price4 @ 27,
        match_number: u64 @ 31,
        cross_type: u8 @ 39,
    }

    /// `B` Broken Trade.
    BrokenTrade(BrokenTrade, BrokenTradeRepr) = b'B', 19 {
        match_number: u64 @ 11,
    }

    /// `I` Net Order Imbalance Indicator.
    Noii(Noii, NoiiRepr) = b'I', 50 {
        paired_shares: u64 @ 11,
        imbalance_shares: u64 @ 19,
        imbalance_direction: u8 @ 27,
        stock: symbol @ 28,
        far_price: price4 @ 36,
        near_price: price4 @ 40,
        current_reference_price: price4 @ 44,
        cross_type: u8 @ 48,
        price_variation_indicator: u8 @ 49,
    }

    /// `N` Retail Price Improvement Indicator.
    RetailPriceImprovement(RetailPriceImprovement, RetailPriceImprovementRepr) = b'N', 20 {
        stock: symbol @ 11,
        interest_flag: u8 @ 19,
    }

    /// `O` Direct Listing with Capital Raise Price Discovery.
    DirectListingPriceDiscovery(DirectListingPriceDiscovery, DirectListingPriceDiscoveryRepr) = b'O', 48 {
        stock: symbol @ 11,
        open_eligibility_status: u8 @ 19,
        min_allowable_price: price4 @ 20,
        max_allowable_price: price4 @ 24,
        near_execution_price: price4 @ 28,
        near_execution_time: u64 @ 32,
        lower_price_range_collar: price4 @ 40,
        upper_price_range_collar: price4 @ 44,
    }
}

impl StockDirectoryRepr {
    /// The directory entry of a plain listed common stock: NASDAQ Global
    /// Select (`Q`), not deficient, round lots of 100 and odd lots
    /// accepted, common stock (`C`, subtype `Z`), live (`P`), no Reg SHO
    /// threshold, no IPO, LULD tier 1, no ETP. What simulators and tests
    /// list; change the fields that matter with struct update syntax.
    pub fn common_stock(header: Header, stock: Symbol) -> StockDirectoryRepr {
        StockDirectoryRepr {
            header,
            stock,
            market_category: b'Q',
            financial_status: b'N',
            round_lot_size: 100,
            round_lots_only: b'N',
            issue_classification: b'C',
            issue_subtype: *b"Z ",
            authenticity: b'P',
            short_sale_threshold: b'N',
            ipo_flag: b'N',
            luld_reference_price_tier: b'1',
            etp_flag: b'N',
            etp_leverage_factor: 0,
            inverse_indicator: b'N',
        }
    }
}

impl Message<'_> {
    /// Stock locate of any message (offset 1 in every type); 0 for a
    /// [`Message::Unknown`] too short to carry one.
    #[inline]
    pub fn stock_locate(&self) -> u16 {
        match self.as_bytes() {
            [_, a, b, ..] => u16::from_be_bytes([*a, *b]),
            _ => 0,
        }
    }

    /// Timestamp (nanoseconds since midnight) of any message (offset 5 in
    /// every type); `None` for a [`Message::Unknown`] too short to carry one.
    #[inline]
    pub fn timestamp(&self) -> Option<u64> {
        match self.as_bytes() {
            [_, _, _, _, _, t0, t1, t2, t3, t4, t5, ..] => {
                Some(u64::from_be_bytes([0, 0, *t0, *t1, *t2, *t3, *t4, *t5]))
            }
            _ => None,
        }
    }
}

/// Counts what a decoding loop saw, so unknown and malformed messages are
/// visible rather than silently skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    pub decoded: u64,
    pub unknown: u64,
    pub malformed: u64,
}

impl DecodeCounters {
    /// Records the outcome of one [`Message::parse`].
    #[inline]
    pub fn record(&mut self, result: &Result<Message<'_>, Error>) {
        match result {
            Ok(Message::Unknown(_)) => self.unknown += 1,
            Ok(_) => self.decoded += 1,
            Err(_) => self.malformed += 1,
        }
    }
}

/// Iterator over the NASDAQ file format: `u16` big-endian length, then that
/// many message bytes, repeated.
///
/// Yields each message's bytes (feed them to [`Message::parse`]). A tail
/// that ends inside a prefix or a message yields one
/// [`Error::Truncated`] and then the iterator ends.
#[derive(Debug, Clone)]
pub struct FileReader<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> FileReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        FileReader {
            rest: data,
            offset: 0,
        }
    }

    /// Byte offset of the next length prefix.
    pub fn offset(&self) -> usize {
        self.offset
    }
}

impl<'a> Iterator for FileReader<'a> {
    type Item = Result<&'a [u8], Error>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        let rest = self.rest;
        if rest.is_empty() {
            return None;
        }
        let Some((len, body)) = rest.split_first_chunk::<2>() else {
            self.rest = &[];
            return Some(Err(Error::Truncated {
                offset: self.offset,
                needed: 2,
                available: rest.len(),
            }));
        };
        let len = u16::from_be_bytes(*len) as usize;
        if body.len() < len {
            self.rest = &[];
            return Some(Err(Error::Truncated {
                offset: self.offset,
                needed: len + 2,
                available: rest.len(),
            }));
        }
        let (msg, tail) = body.split_at(len);
        self.rest = tail;
        self.offset += 2 + len;
        Some(Ok(msg))
    }
}

/// Writes `msg` in the NASDAQ file format (u16 BE length + message) to the
/// start of `buf`; returns the bytes written.
pub fn write_framed(msg: &MessageRepr, buf: &mut [u8]) -> Result<usize, Error> {
    let len = msg.len();
    let available = buf.len();
    let (prefix, body) = buf
        .split_first_chunk_mut::<2>()
        .ok_or(Error::BufferTooSmall {
            needed: len + 2,
            available,
        })?;
    let written = msg.emit(body).map_err(|e| match e {
        Error::BufferTooSmall { .. } => Error::BufferTooSmall {
            needed: len + 2,
            available,
        },
        other => other,
    })?;
    // ITCH messages are at most 50 bytes, so the cast cannot truncate.
    *prefix = (written as u16).to_be_bytes();
    Ok(written + 2)
}

/// Writes raw message bytes in the NASDAQ file format; for unknown types or
/// deliberately malformed test input.
pub fn write_framed_raw(msg: &[u8], buf: &mut [u8]) -> Result<usize, Error> {
    let len = u16::try_from(msg.len()).map_err(|_| Error::MessageTooLong(msg.len()))?;
    let total = msg.len() + 2;
    let available = buf.len();
    let out = buf.get_mut(..total).ok_or(Error::BufferTooSmall {
        needed: total,
        available,
    })?;
    out[..2].copy_from_slice(&len.to_be_bytes());
    out[2..].copy_from_slice(msg);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::vec;
    use std::vec::Vec;

    fn header() -> Header {
        Header {
            stock_locate: 0x0102,
            tracking_number: 0x0304,
            timestamp: 0x0000_0506_0708_090a,
        }
    }

    /// Known-answer layout check written byte by byte from the spec, so an
    /// encoder and decoder that agree on a wrong offset still fail.
    #[test]
    fn add_order_known_bytes() {
        let mut wire = vec![
            b'A', 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
        ];
        wire.extend_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
        wire.push(b'S');
        wire.extend_from_slice(&100u32.to_be_bytes());
        wire.extend_from_slice(b"AAPL    ");
        wire.extend_from_slice(&1_234_500u32.to_be_bytes());
        assert_eq!(wire.len(), 36);

        let Ok(Message::AddOrder(a)) = Message::parse(&wire) else {
            panic!("not an add order");
        };
        assert_eq!(a.stock_locate(), 0x0102);
        assert_eq!(a.tracking_number(), 0x0304);
        assert_eq!(a.timestamp(), 0x0506_0708_090a);
        assert_eq!(a.order_ref(), 0x1122_3344_5566_7788);
        assert_eq!(a.side(), Side::Sell);
        assert_eq!(a.shares(), 100);
        assert_eq!(a.stock().as_str(), "AAPL");
        assert_eq!(a.price(), Price::new(123, 4500));

        let repr = AddOrderRepr {
            header: header(),
            order_ref: 0x1122_3344_5566_7788,
            side: Side::Sell,
            shares: 100,
            stock: Symbol::new("AAPL").unwrap(),
            price: Price::new(123, 4500),
        };
        let mut out = [0u8; 36];
        assert_eq!(repr.emit(&mut out), Ok(36));
        assert_eq!(&out[..], &wire[..]);
    }

    #[test]
    fn noii_known_bytes() {
        let mut wire = vec![b'I', 0, 7, 0, 0, 0, 0, 0, 0, 0, 1];
        wire.extend_from_slice(&5u64.to_be_bytes()); // paired
        wire.extend_from_slice(&6u64.to_be_bytes()); // imbalance
        wire.push(b'B');
        wire.extend_from_slice(b"MSFT    ");
        wire.extend_from_slice(&10u32.to_be_bytes());
        wire.extend_from_slice(&11u32.to_be_bytes());
        wire.extend_from_slice(&12u32.to_be_bytes());
        wire.push(b'O');
        wire.push(b'L');
        let Ok(Message::Noii(m)) = Message::parse(&wire) else {
            panic!("not NOII");
        };
        assert_eq!(m.stock_locate(), 7);
        assert_eq!(m.timestamp(), 1);
        assert_eq!(m.paired_shares(), 5);
        assert_eq!(m.imbalance_shares(), 6);
        assert_eq!(m.imbalance_direction(), b'B');
        assert_eq!(m.stock().as_str(), "MSFT");
        assert_eq!(m.far_price(), Price(10));
        assert_eq!(m.near_price(), Price(11));
        assert_eq!(m.current_reference_price(), Price(12));
        assert_eq!(m.cross_type(), b'O');
        assert_eq!(m.price_variation_indicator(), b'L');
    }

    #[test]
    fn sizes_match_shared_notes() {
        let expect: &[(u8, usize)] = &[
            (b'A', 36),
            (b'F', 40),
            (b'E', 31),
            (b'C', 36),
            (b'X', 23),
            (b'D', 19),
            (b'U', 35),
            (b'P', 44),
            (b'Q', 40),
            (b'B', 19),
            (b'I', 50),
            (b'S', 12),
            (b'R', 39),
            (b'h', 21),
            (b'H', 25),
            (b'Y', 20),
            (b'L', 26),
            (b'V', 35),
            (b'W', 12),
            (b'K', 28),
            (b'J', 35),
            (b'N', 20),
            (b'O', 48),
        ];
        assert_eq!(MESSAGE_SIZES.len(), 23);
        for (t, n) in expect {
            assert!(MESSAGE_SIZES.contains(&(*t, *n)), "{}", *t as char);
        }
    }

    #[test]
    fn wrong_lengths_are_errors_for_every_type() {
        for &(t, n) in MESSAGE_SIZES {
            let mut buf = vec![b'B'; n + 1];
            buf[0] = t;
            for len in [1, n - 1, n + 1] {
                assert_eq!(
                    Message::parse(&buf[..len]),
                    Err(Error::Length {
                        msg_type: t,
                        expected: n,
                        actual: len
                    })
                );
            }
            assert!(Message::parse(&buf[..n]).is_ok());
        }
        assert_eq!(Message::parse(&[]), Err(Error::Empty));
    }

    #[test]
    fn typed_view_checks_type_byte() {
        let mut buf = [0u8; 19];
        buf[0] = b'D';
        assert!(OrderDelete::new_checked(&buf).is_ok());
        buf[0] = b'B';
        assert_eq!(
            OrderDelete::new_checked(&buf),
            Err(Error::WrongType {
                expected: b'D',
                actual: b'B'
            })
        );
        assert_eq!(
            BrokenTrade::new_checked(&buf).map(|b| b.match_number()),
            Ok(0)
        );
    }

    #[test]
    fn wire_len_table_matches_definitions() {
        for t in 0..=255u8 {
            let def = MESSAGE_SIZES
                .iter()
                .find(|(ty, _)| *ty == t)
                .map_or(0, |d| d.1);
            assert_eq!(usize::from(WIRE_LEN[usize::from(t)]), def, "{}", t as char);
        }
    }

    #[test]
    fn side_byte_only_checked_where_it_is_a_side() {
        for &(t, n) in MESSAGE_SIZES {
            let mut buf = vec![b' '; n];
            buf[0] = t;
            if n > 19 {
                buf[19] = b'Z';
            }
            let r = Message::parse(&buf);
            if matches!(t, b'A' | b'F' | b'P') {
                assert!(r.is_err());
            } else {
                assert_eq!(r.map(|m| m.msg_type()), Ok(t));
            }
        }
    }

    #[test]
    fn invalid_side_is_rejected() {
        for t in [b'A', b'F', b'P'] {
            let n = MESSAGE_SIZES.iter().find(|(ty, _)| *ty == t).unwrap().1;
            let mut buf = vec![0u8; n];
            buf[0] = t;
            buf[19] = b'Z';
            assert_eq!(
                Message::parse(&buf),
                Err(Error::InvalidSide {
                    msg_type: t,
                    value: b'Z'
                })
            );
        }
    }

    #[test]
    fn unknown_type_is_returned_and_counted() {
        let bytes = [b'z', 1, 2, 3];
        let r = Message::parse(&bytes);
        assert_eq!(r, Ok(Message::Unknown(&bytes[..])));
        let mut c = DecodeCounters::default();
        c.record(&r);
        c.record(&Message::parse(b"D"));
        assert_eq!(
            c,
            DecodeCounters {
                decoded: 0,
                unknown: 1,
                malformed: 1
            }
        );
        assert_eq!(r.unwrap().msg_type(), b'z');
    }

    #[test]
    fn emit_rejects_out_of_range_values() {
        let mut r = AddOrderRepr {
            header: header(),
            order_ref: 1,
            side: Side::Buy,
            shares: 1,
            stock: Symbol::new("X").unwrap(),
            price: Price(u32::MAX as i64 + 1),
        };
        let mut buf = [0u8; 64];
        assert_eq!(r.emit(&mut buf), Err(Error::PriceOutOfRange(r.price)));
        r.price = Price(-1);
        assert_eq!(r.emit(&mut buf), Err(Error::PriceOutOfRange(r.price)));
        r.price = Price(1);
        r.header.timestamp = MAX_TIMESTAMP + 1;
        assert_eq!(
            r.emit(&mut buf),
            Err(Error::TimestampOutOfRange(MAX_TIMESTAMP + 1))
        );
        r.header.timestamp = MAX_TIMESTAMP;
        assert_eq!(
            r.emit(&mut buf[..35]),
            Err(Error::BufferTooSmall {
                needed: 36,
                available: 35
            })
        );
        assert_eq!(r.emit(&mut buf), Ok(36));
    }

    #[test]
    fn file_reader_walks_and_reports_truncation() {
        let mut file = Vec::new();
        let mut tmp = [0u8; 64];
        let d = MessageRepr::OrderDelete(OrderDeleteRepr {
            header: header(),
            order_ref: 42,
        });
        let n = write_framed(&d, &mut tmp).unwrap();
        file.extend_from_slice(&tmp[..n]);
        let n = write_framed_raw(&[b'z', 9], &mut tmp).unwrap();
        file.extend_from_slice(&tmp[..n]);
        let n = write_framed(&d, &mut tmp).unwrap();
        file.extend_from_slice(&tmp[..n - 3]); // cut inside the last message

        let mut r = FileReader::new(&file);
        let m = Message::parse(r.next().unwrap().unwrap()).unwrap();
        assert_eq!(m.to_repr(), Some(d));
        assert_eq!(r.next(), Some(Ok(&[b'z', 9][..])));
        assert_eq!(
            r.next(),
            Some(Err(Error::Truncated {
                offset: 21 + 4,
                needed: 21,
                available: 18
            }))
        );
        assert_eq!(r.next(), None);

        // A lone byte where a length prefix should be.
        let mut r = FileReader::new(&[0]);
        assert_eq!(
            r.next(),
            Some(Err(Error::Truncated {
                offset: 0,
                needed: 2,
                available: 1
            }))
        );
        assert_eq!(r.next(), None);
    }

    fn size_of_type(t: u8) -> usize {
        MESSAGE_SIZES.iter().find(|(ty, _)| *ty == t).unwrap().1
    }

    /// Arbitrary field values for one message type: random bytes with the
    /// type byte set and buy/sell indicators forced valid.
    fn arb_message() -> impl Strategy<Value = Vec<u8>> {
        (0..MESSAGE_SIZES.len(), any::<bool>()).prop_flat_map(|(i, sell)| {
            let (t, n) = MESSAGE_SIZES[i];
            proptest::collection::vec(any::<u8>(), n).prop_map(move |mut v| {
                v[0] = t;
                if matches!(t, b'A' | b'F' | b'P') {
                    v[19] = if sell { b'S' } else { b'B' };
                }
                v
            })
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        /// bytes → view → repr → emit → identical bytes → view → same repr,
        /// for every type and arbitrary field values.
        #[test]
        fn round_trip_every_type(wire in arb_message()) {
            let msg = Message::parse(&wire).unwrap();
            prop_assert_eq!(msg.msg_type(), wire[0]);
            prop_assert_eq!(msg.as_bytes(), &wire[..]);
            let repr = msg.to_repr().unwrap();
            prop_assert_eq!(repr.len(), size_of_type(wire[0]));
            prop_assert_eq!(repr.header().stock_locate, msg.stock_locate());
            let mut out = [0u8; 64];
            let n = repr.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..n], &wire[..]);
            let again = Message::parse(&out[..n]).unwrap().to_repr().unwrap();
            prop_assert_eq!(again, repr);
        }

        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(m) = Message::parse(&bytes) {
                let _ = m.to_repr();
                let _ = m.stock_locate();
                prop_assert_eq!(m.as_bytes(), &bytes[..]);
            }
        }

        #[test]
        fn file_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut seen = 0usize;
            for item in FileReader::new(&bytes) {
                match item {
                    Ok(m) => { seen += 2 + m.len(); let _ = Message::parse(m); }
                    Err(Error::Truncated { offset, available, .. }) => {
                        prop_assert_eq!(offset, seen);
                        prop_assert_eq!(offset + available, bytes.len());
                    }
                    Err(e) => prop_assert!(false, "unexpected {:?}", e),
                }
            }
        }
    }
}
