//! Trading strategies for the appliance and for host replay.
//!
//! Three strategies share one interface ([`Strategy`]) and run inside an
//! [`engine::Engine`] that hosts several of them on several instruments:
//!
//! - [`mm::MarketMaker`]: Avellaneda–Stoikov quoting with inventory skew,
//!   queue-aware refresh, inventory limits and fast-market protection.
//! - [`statarb::PairsTrader`] / [`statarb::SpreadTrader`]: log-price pairs
//!   and small baskets with rolling regression hedge ratios and an
//!   Ornstein–Uhlenbeck s-score (Avellaneda & Lee 2010).
//! - [`signal::SignalTrader`]: a logistic model on order-book features
//!   ([`features`]) predicting the next mid move; the same feature code feeds
//!   the host trainer (`train` crate).
//!
//! # Rules of the road
//!
//! - `no_std`, no allocation: every buffer has a capacity fixed at compile
//!   time or construction. Intents go into a bounded [`Intents`] buffer whose
//!   overflow is counted, never silently lost.
//! - **Floats.** Model maths (volatility, reservation prices, regressions,
//!   s-scores, features, logistic inference) is `f64`, with `libm` for
//!   transcendental functions. Floats never reach the order path: every price
//!   leaving a strategy is converted once, in [`tick`], to an integer price4
//!   on the instrument's tick grid (bids rounded down, asks up), and
//!   non-finite or out-of-range results produce no order.
//! - Parameters are changed at run time with `set_params`: the whole set is
//!   validated first and swapped in one assignment; on error the old set stays.
//! - Strategies track their own orders ([`orders::OwnOrders`]); see that
//!   module for how acknowledgements are matched to intents.
//! - A refused order is not sent again blindly: its side (or leg) is held
//!   off until what refused it may have changed ([`refusal`]).
#![no_std]
#![deny(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod depth;
pub mod engine;
pub mod features;
pub mod mm;
pub mod model;
pub mod orders;
pub mod refusal;
pub mod signal;
pub mod sink;
pub mod statarb;
pub mod stats;
pub mod tick;

pub use sink::{Intents, DEFAULT_INTENT_CAPACITY};

use core::fmt;
use types::{BookEvent, DepthView, Nanos, OrderEvent, Side, StockLocate, StrategyId};

/// A parameter set was refused; the previous one is still in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamError {
    /// Name of the offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ParamError {
    pub const fn new(field: &'static str, reason: &'static str) -> Self {
        ParamError { field, reason }
    }
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid parameter `{}`: {}", self.field, self.reason)
    }
}

/// Checks that `v` is finite and strictly positive.
pub(crate) fn positive(field: &'static str, v: f64) -> Result<(), ParamError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ParamError::new(field, "must be finite and > 0"))
    }
}

/// The interface every strategy implements.
///
/// Callbacks never allocate and never block; they append intents to `out`.
/// The depth view gives read access to the book at the moment of the event.
pub trait Strategy {
    /// Everything an operator may change at run time.
    type Params: Copy;

    fn id(&self) -> StrategyId;

    /// Instruments whose book events this strategy wants.
    fn locates(&self) -> &[StockLocate];

    /// A book change on one of [`Strategy::locates`].
    fn on_book<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &BookEvent,
        depth: &D,
        out: &mut Intents<N>,
    );

    /// An event about one of this strategy's orders.
    fn on_order<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        event: &OrderEvent,
        depth: &D,
        out: &mut Intents<N>,
    );

    /// A clock tick (cool-downs, holding limits, sampling).
    fn on_timer<D: DepthView + ?Sized, const N: usize>(
        &mut self,
        now: Nanos,
        depth: &D,
        out: &mut Intents<N>,
    );

    /// Risk's limits changed, or its kill switch was re-armed: orders
    /// held off after a refusal ([`refusal`]) may pass now.
    fn on_limits_changed(&mut self) {}

    /// A fill of leg `leg` (the order of [`Strategy::locates`]) from an
    /// earlier run, whose order this run never had: handed back by the
    /// journal at start, or resent by the venue after a crash. The
    /// strategy's position moves as the fill moved it (so its inventory,
    /// limits and exits start from what it holds); no order is tracked and
    /// nothing is sent. A leg it does not have changes nothing.
    fn on_restored_fill(&mut self, leg: usize, side: Side, qty: u32);

    fn params(&self) -> &Self::Params;

    /// Validates and applies a whole parameter set atomically.
    fn set_params(&mut self, params: Self::Params) -> Result<(), ParamError>;
}
