//! Per-instrument reference data and status: directory (ITCH `R`), trading
//! state (ITCH `H`), imbalance/cross status (ITCH `I`, `Q`) and trade totals.

use types::{Nanos, Price, Symbol, TradingState};

/// Stock directory data as the venue publishes it at the start of the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    pub symbol: Symbol,
    /// `Q` Global Select, `G` Global Market, `S` Capital Market, `N` NYSE, …
    pub market_category: u8,
    /// `N` normal, `D` deficient, `E` delinquent, … (space when not Nasdaq-listed).
    pub financial_status: u8,
    pub round_lot_size: u32,
    /// True when only round lots are accepted.
    pub round_lots_only: bool,
    pub issue_classification: u8,
    pub issue_sub_type: [u8; 2],
    /// `P` live/production, `T` test.
    pub authenticity: u8,
    pub short_sale_threshold: u8,
    pub ipo_flag: u8,
    pub luld_reference_price_tier: u8,
    pub etp_flag: u8,
    pub etp_leverage_factor: u32,
    pub inverse: bool,
}

impl Directory {
    /// A directory entry with only a symbol, defaults elsewhere (round lot 100).
    pub fn for_symbol(symbol: Symbol) -> Directory {
        Directory {
            symbol,
            market_category: b' ',
            financial_status: b' ',
            round_lot_size: 100,
            round_lots_only: false,
            issue_classification: b' ',
            issue_sub_type: [b' '; 2],
            authenticity: b'P',
            short_sale_threshold: b' ',
            ipo_flag: b' ',
            luld_reference_price_tier: b' ',
            etp_flag: b' ',
            etp_leverage_factor: 0,
            inverse: false,
        }
    }
}

/// Net order imbalance indicator (ITCH `I`), published around crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Imbalance {
    pub paired_shares: u64,
    pub imbalance_shares: u64,
    /// `B` buy, `S` sell, `N` none, `O` insufficient orders, `P` paused.
    pub direction: u8,
    pub far_price: Price,
    pub near_price: Price,
    pub reference_price: Price,
    /// `O` opening, `C` closing, `H` halt/IPO, `A` extended-hours close.
    pub cross_type: u8,
    pub price_variation: u8,
    pub ts: Nanos,
}

/// Where the instrument stands with respect to crosses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CrossStatus {
    /// Latest imbalance publication, cleared when the cross prints.
    pub imbalance: Option<Imbalance>,
    /// Latest cross print (ITCH `Q`): price, shares, cross type, time.
    pub last_cross: Option<(Price, u64, u8, Nanos)>,
}

impl CrossStatus {
    /// True between the first imbalance message and the cross print.
    pub fn cross_pending(&self) -> bool {
        self.imbalance.is_some()
    }
}

/// Everything the book knows about one stock locate besides its levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstrumentStatus {
    /// `None` until a directory message arrives.
    pub directory: Option<Directory>,
    pub trading_state: TradingState,
    /// Reason code of the latest trading action (ITCH `H`, 4 bytes).
    pub trading_reason: [u8; 4],
    pub cross: CrossStatus,
    /// Latest print of any kind (execution, non-displayed trade, cross).
    pub last_trade: Option<(Price, u32)>,
    /// Shares printed today (printable executions, `P` and `Q`).
    pub volume: u64,
}

impl InstrumentStatus {
    pub(crate) const INITIAL: InstrumentStatus = InstrumentStatus {
        directory: None,
        // ITCH starts every instrument as trading unless told otherwise.
        trading_state: TradingState::Trading,
        trading_reason: [b' '; 4],
        cross: CrossStatus {
            imbalance: None,
            last_cross: None,
        },
        last_trade: None,
        volume: 0,
    };
}
