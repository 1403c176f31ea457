//! Risk limits: every number is configuration (SEC 15c3-5 sets none).
//!
//! Conventions used throughout: a value **equal** to a limit is allowed, one
//! unit more is refused. Quantities are shares, prices and notionals are in
//! price4 units (1/10,000 of the currency), times are nanoseconds.

use heapless::Vec;
use types::StockLocate;

/// Most per-symbol overrides a [`Limits`] may carry.
pub const MAX_OVERRIDES: usize = 256;
/// Most messages a throttle may allow per window (the depth of its ring of
/// accept times, fixed at compile time so the engine never allocates).
pub const MAX_THROTTLE_MSGS: u32 = 256;

/// Limits that may differ per symbol; [`Limits::default_symbol`] applies to
/// every symbol without an override.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolLimits {
    /// Restricted list: every new order or replace is refused.
    pub restricted: bool,
    /// Largest quantity of a single order (shares).
    pub max_order_qty: u32,
    /// Largest price × quantity of a single order (price4 units).
    pub max_notional: u64,
    /// Collar in basis points of the reference price; `None` disables it.
    pub collar_bps: Option<u32>,
    /// Collar in ticks of `tick_size` around the reference price; `None` disables it.
    pub collar_ticks: Option<u32>,
    /// Minimum price increment (price4 units) used by `collar_ticks`.
    pub tick_size: i64,
    /// Worst-case absolute position in the direction of a new order, counting
    /// every open order of that side (shares).
    pub max_position: u64,
    /// Largest number of open orders in this symbol.
    pub max_open_orders: u32,
}

impl SymbolLimits {
    /// Nothing limited: a starting point for configurations.
    pub const UNLIMITED: SymbolLimits = SymbolLimits {
        restricted: false,
        max_order_qty: u32::MAX,
        max_notional: u64::MAX,
        collar_bps: None,
        collar_ticks: None,
        tick_size: 100,
        max_position: u64::MAX,
        max_open_orders: u32::MAX,
    };
}

/// A sliding-window message limit: at most `max_msgs` within any `window_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    pub max_msgs: u32,
    pub window_ns: u64,
}

/// A limit on what is entered within a sliding window: the shares and the
/// notional of new orders, and what replaces add to orders, however the
/// orders end (SEC 15c3-5's size parameters "over a short period of
/// time"). Each order may pass every per-order check while a strategy
/// that sends too many of them is still caught here.
///
/// The window is kept as eight buckets, each a seventh of it (rounded up
/// to whole ns): an order counts for at least `window_ns` after it was
/// entered and leaves the count within eight buckets, so the limit never
/// lets more through than the exact window would, and counts an order at
/// most about a seventh of the window longer. A window changed at run time
/// starts from what the old one held: the orders entered within the old
/// window before the change count for the whole new window after it, and
/// older ones, which the old window had let go, do not (while no limit is
/// set, the last second is kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeLimit {
    /// Shares entered within any window.
    pub max_qty: u64,
    /// Notional (price4 units) entered within any window.
    pub max_notional: u64,
    pub window_ns: u64,
}

/// Whose resting orders a new order or replace may not cross (self-match
/// prevention, judged on our own orders' most aggressive terms, a replace
/// in flight included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SelfMatchScope {
    /// Every open order of ours in the symbol, at any venue: an order that
    /// would buy at or above a price we offer anywhere is refused.
    #[default]
    Firm,
    /// Our open orders at the venue the order goes to: a buy at another
    /// venue through our offer here passes. For orders that stay at the
    /// venue they are sent to (post-only, or marked not to be routed
    /// under the venue's rules): a routable order priced through our
    /// protected quote elsewhere may be routed by its venue to ours and
    /// trade with it. Under this scope our own orders may cross each
    /// other across venues; every order crossing one of them is then
    /// judged by a walk of the symbol's open orders, off the order path.
    Venue,
}

/// The complete risk configuration, swapped in one step by
/// [`crate::RiskEngine::apply_limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub default_symbol: SymbolLimits,
    /// Per-symbol overrides (whole [`SymbolLimits`] records, at most one per locate).
    pub overrides: Vec<(StockLocate, SymbolLimits), MAX_OVERRIDES>,
    /// Σ over symbols of the worst-case absolute position (shares).
    pub max_gross_position: u64,
    /// Worst-case net position across symbols (shares), long and short alike.
    pub max_net_position: u64,
    /// Open-order notional plus position notional (price4 units).
    pub credit_limit: u64,
    /// Largest number of open orders over all symbols.
    pub max_open_orders: u32,
    /// Same strategy, symbol, side, price and quantity within this many ns is
    /// a duplicate; `0` disables the check.
    pub duplicate_window_ns: u64,
    pub strategy_order_rate: Option<Throttle>,
    pub strategy_cancel_rate: Option<Throttle>,
    pub venue_order_rate: Option<Throttle>,
    pub venue_cancel_rate: Option<Throttle>,
    /// Shares and notional entered within a sliding window, account-wide
    /// (over every strategy and venue of the engine); `None`: not limited.
    pub entered_volume: Option<VolumeLimit>,
    /// Loss (realized + unrealized, price4 units) beyond which the kill switch trips.
    pub max_daily_loss: u64,
    /// More than `max_msgs` rejects (risk or venue) within `window_ns` trips the kill switch.
    pub reject_rate: Option<Throttle>,
    /// Which of our resting orders a new order may not cross.
    pub self_match: SelfMatchScope,
}

impl Limits {
    /// Nothing limited; start from here and tighten.
    pub fn unlimited() -> Limits {
        Limits {
            default_symbol: SymbolLimits::UNLIMITED,
            overrides: Vec::new(),
            max_gross_position: u64::MAX,
            max_net_position: u64::MAX,
            credit_limit: u64::MAX,
            max_open_orders: u32::MAX,
            duplicate_window_ns: 0,
            strategy_order_rate: None,
            strategy_cancel_rate: None,
            venue_order_rate: None,
            venue_cancel_rate: None,
            entered_volume: None,
            max_daily_loss: u64::MAX,
            reject_rate: None,
            self_match: SelfMatchScope::Firm,
        }
    }

    /// Every check on, at levels a strategy core trading shares around
    /// $100 might run with: orders up to 10,000 shares and $1 M, a collar
    /// of 5 % and 1,000 ticks of a cent, 100,000 open orders, a 1 ms
    /// duplicate window, 256 orders and 256 cancels per millisecond per
    /// strategy and per venue, 50 million shares and $5 billion entered
    /// per second, a $100,000 daily loss. The limits the
    /// benchmarks run under (risk's, and the gateway's order path), and a
    /// start to tighten from.
    pub fn example() -> Limits {
        /// $100 in price4.
        const HUNDRED_DOLLARS: u64 = 1_000_000;
        let rate = Some(Throttle {
            max_msgs: 256,
            window_ns: 1_000_000,
        });
        Limits {
            default_symbol: SymbolLimits {
                restricted: false,
                max_order_qty: 10_000,
                max_notional: 10_000 * HUNDRED_DOLLARS,
                collar_bps: Some(500),
                collar_ticks: Some(1_000),
                tick_size: 100,
                max_position: 100_000_000,
                max_open_orders: 100_000,
            },
            max_gross_position: 1_000_000_000,
            max_net_position: 1_000_000_000,
            credit_limit: u64::MAX / 2,
            max_open_orders: 100_000,
            duplicate_window_ns: 1_000_000,
            strategy_order_rate: rate,
            strategy_cancel_rate: rate,
            venue_order_rate: rate,
            venue_cancel_rate: rate,
            entered_volume: Some(VolumeLimit {
                max_qty: 50_000_000,
                max_notional: 50_000_000 * HUNDRED_DOLLARS,
                window_ns: 1_000_000_000,
            }),
            max_daily_loss: 1_000_000_000,
            ..Limits::unlimited()
        }
    }

    /// Limits that apply to `locate`.
    pub fn for_symbol(&self, locate: StockLocate) -> &SymbolLimits {
        self.overrides
            .iter()
            .find(|(l, _)| *l == locate)
            .map_or(&self.default_symbol, |(_, s)| s)
    }

    /// Checks every field; the error names the first bad one.
    pub fn validate(&self, symbols: usize) -> Result<(), LimitsError> {
        validate_symbol(&self.default_symbol, None)?;
        for (i, (locate, s)) in self.overrides.iter().enumerate() {
            if *locate as usize >= symbols {
                return Err(LimitsError::at(
                    "locate",
                    i,
                    "locate beyond the engine's symbol table",
                ));
            }
            if self.overrides[..i].iter().any(|(l, _)| l == locate) {
                return Err(LimitsError::at("locate", i, "locate overridden twice"));
            }
            validate_symbol(s, Some(i))?;
        }
        let throttles = [
            ("strategy_order_rate", self.strategy_order_rate),
            ("strategy_cancel_rate", self.strategy_cancel_rate),
            ("venue_order_rate", self.venue_order_rate),
            ("venue_cancel_rate", self.venue_cancel_rate),
            ("reject_rate", self.reject_rate),
        ];
        for (field, t) in throttles {
            if let Some(t) = t {
                if t.window_ns == 0 {
                    return Err(LimitsError::new(field, "window_ns must be > 0"));
                }
                if t.max_msgs > MAX_THROTTLE_MSGS {
                    return Err(LimitsError::new(
                        field,
                        "max_msgs exceeds MAX_THROTTLE_MSGS",
                    ));
                }
                // The reject-rate limit counts the reject that trips it, so
                // zero would trip on the first reject: allowed but explicit.
            }
        }
        if let Some(v) = self.entered_volume {
            if v.window_ns == 0 {
                return Err(LimitsError::new("entered_volume.window_ns", "must be > 0"));
            }
        }
        Ok(())
    }
}

fn validate_symbol(s: &SymbolLimits, index: Option<usize>) -> Result<(), LimitsError> {
    let err = |field, why| LimitsError {
        field,
        override_index: index,
        why,
    };
    if s.tick_size <= 0 {
        return Err(err("tick_size", "must be > 0"));
    }
    if let Some(bps) = s.collar_bps {
        if bps == 0 || bps > 100_000 {
            return Err(err("collar_bps", "must be in 1..=100000"));
        }
    }
    if s.collar_ticks == Some(0) {
        return Err(err("collar_ticks", "must be > 0"));
    }
    Ok(())
}

/// A configuration refused by [`Limits::validate`]; the engine keeps its old limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsError {
    /// The offending field, e.g. `"collar_bps"` or `"venue_order_rate"`.
    pub field: &'static str,
    /// Index into [`Limits::overrides`] when the field belongs to an override.
    pub override_index: Option<usize>,
    pub why: &'static str,
}

impl LimitsError {
    fn new(field: &'static str, why: &'static str) -> LimitsError {
        LimitsError {
            field,
            override_index: None,
            why,
        }
    }

    fn at(field: &'static str, index: usize, why: &'static str) -> LimitsError {
        LimitsError {
            field,
            override_index: Some(index),
            why,
        }
    }
}

impl core::fmt::Display for LimitsError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.override_index {
            Some(i) => write!(f, "overrides[{i}].{}: {}", self.field, self.why),
            None => write!(f, "{}: {}", self.field, self.why),
        }
    }
}
