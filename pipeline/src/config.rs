//! The companion's configuration in the engines' own terms.
//!
//! `companion config apply` sends an [`ApplianceConfig`](protocol::mailbox::config::ApplianceConfig); the mailbox layer
//! validates it field by field before anything sees it. What reaches here is
//! well formed, but a risk limit must still pass [`Limits::validate`] against
//! the engine's capacity: on any error nothing changes.
//!
//! The mapping of [`RiskConfig`] (one number per rule, for every symbol):
//!
//! | configuration | risk engine |
//! |---|---|
//! | `max_order_qty` | every symbol's `max_order_qty` |
//! | `max_order_notional` | every symbol's `max_notional` (price4 × shares) |
//! | `max_position_qty` | every symbol's `max_position` (worst case, open orders counted) |
//! | `max_gross_notional` | `credit_limit` (open-order plus position notional) |
//! | `max_open_orders` | `max_open_orders` |
//! | `max_orders_per_sec` | `venue_order_rate` (per session) |
//! | `price_collar_bps` | every symbol's `collar_bps` |
//! | `max_daily_loss` | `max_daily_loss` |
//! | `max_rejects_per_min` | `reject_rate` (trips the kill switch) |
//! | `restricted_symbols` | an override per symbol found in the feed's directory, `restricted` |
//! | `entered_volume` (`window_ms`, `max_qty`, `max_notional`) | `entered_volume` (absent: none) |
//! | `self_match` (`"firm"` or `"venue"`) | `self_match` (absent: the firm's orders at every venue) |
//!
//! The configuration is the whole per-symbol picture: earlier per-symbol
//! overrides are replaced by the restricted list. Everything the
//! configuration does not name (duplicate window, cancel throttles, tick
//! collars, net and gross position) keeps its current value.
//!
//! A throttle's window holds at most [`MAX_THROTTLE_MSGS`] accept times, so a
//! rate above that is enforced over a proportionally shorter window: the same
//! average rate, with bursts capped at `MAX_THROTTLE_MSGS` messages.
//!
//! A [`StrategyConfig`] changes the running strategy with the same `id` and
//! kind, provided its `symbols` name the instrument that strategy trades
//! (strategies are created at start-up; configuration retunes them):
//!
//! | configuration | market maker ([`MmParams`]) |
//! |---|---|
//! | `enabled` | `enabled` (false pulls both quotes at once) |
//! | `quote_qty` | `quote_qty` |
//! | `spread_ticks` | `min_half_spread_ticks` (floor under the model's spread) |
//! | `max_inventory` | `max_position` |
//!
//! Strategies the configuration does not mention keep their parameters.

use protocol::mailbox::config::{RiskConfig, SelfMatchScope as ConfigSelfMatch, StrategyConfig};
use risk::{
    Limits, LimitsError, SelfMatchScope, SymbolLimits, Throttle, VolumeLimit, MAX_THROTTLE_MSGS,
};
use strategy::mm::MmParams;
use types::StockLocate;

const SECOND_NS: u64 = 1_000_000_000;

/// What [`risk_limits`] could not place.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RiskMapping {
    /// Restricted symbols with no locate in the directory yet (not applied).
    pub unknown_symbols: u32,
}

/// The limits the appliance starts with, which a desk would start from (the
/// companion replaces them at run time): none binds while the market maker
/// keeps to its own inventory limit of 500 shares; each stops a runaway
/// one. The host backtest runs under the same.
pub fn startup_limits() -> Limits {
    let scale = types::Price::SCALE as u64;
    let mut limits = Limits::unlimited();
    limits.default_symbol.max_order_qty = 1_000;
    limits.default_symbol.max_notional = 500_000 * scale;
    limits.default_symbol.max_position = 2_000;
    // 5% from the mid: far outside any quote, and no order or replace goes
    // out without a two-sided market to measure it against.
    limits.default_symbol.collar_bps = Some(500);
    limits.default_symbol.max_open_orders = 16;
    limits.max_open_orders = 64;
    limits.max_gross_position = 10_000;
    limits.max_net_position = 5_000;
    limits.credit_limit = 2_000_000 * scale;
    limits.max_daily_loss = 25_000 * scale;
    limits.strategy_order_rate = Some(Throttle {
        max_msgs: 200,
        window_ns: 1_000_000_000,
    });
    limits.reject_rate = Some(Throttle {
        max_msgs: 100,
        window_ns: 10_000_000_000,
    });
    // Five times what the strategy throttle lets one strategy enter at
    // full size (200 orders of 1,000 shares a second), and $50 M.
    limits.entered_volume = Some(VolumeLimit {
        max_qty: 1_000_000,
        max_notional: 50_000_000 * scale,
        window_ns: SECOND_NS,
    });
    limits
}

/// `cfg` on top of `current`; `locate_of` finds a symbol's stock locate.
/// The result is validated for an engine of `symbols` locates.
pub fn risk_limits(
    cfg: &RiskConfig,
    current: &Limits,
    symbols: usize,
    mut locate_of: impl FnMut(&str) -> Option<StockLocate>,
) -> Result<(Limits, RiskMapping), LimitsError> {
    let mut limits = current.clone();
    let every_symbol = SymbolLimits {
        restricted: false,
        max_order_qty: cfg.max_order_qty,
        max_notional: positive(cfg.max_order_notional),
        collar_bps: Some(cfg.price_collar_bps),
        max_position: positive(cfg.max_position_qty),
        ..current.default_symbol
    };
    limits.default_symbol = every_symbol;
    limits.overrides.clear();
    let mut mapping = RiskMapping::default();
    for name in cfg.restricted_symbols.iter() {
        match locate_of(name.as_str()) {
            Some(locate) if (locate as usize) < symbols => {
                if limits.overrides.iter().any(|(l, _)| *l == locate) {
                    continue;
                }
                let restricted = SymbolLimits {
                    restricted: true,
                    ..every_symbol
                };
                if limits.overrides.push((locate, restricted)).is_err() {
                    return Err(LimitsError {
                        field: "overrides",
                        override_index: Some(limits.overrides.len()),
                        why: "more restricted symbols than the engine keeps",
                    });
                }
            }
            // Beyond the engine's table: it can never be traded anyway.
            Some(_) => {}
            None => mapping.unknown_symbols += 1,
        }
    }
    limits.credit_limit = positive(cfg.max_gross_notional);
    limits.max_open_orders = cfg.max_open_orders;
    limits.venue_order_rate = Some(throttle(cfg.max_orders_per_sec, SECOND_NS));
    limits.max_daily_loss = positive(cfg.max_daily_loss);
    limits.reject_rate = Some(throttle(cfg.max_rejects_per_min, 60 * SECOND_NS));
    limits.entered_volume = cfg.entered_volume.map(|v| VolumeLimit {
        max_qty: v.max_qty,
        max_notional: positive(v.max_notional),
        window_ns: u64::from(v.window_ms) * 1_000_000,
    });
    limits.self_match = match cfg.self_match {
        ConfigSelfMatch::Firm => SelfMatchScope::Firm,
        ConfigSelfMatch::Venue => SelfMatchScope::Venue,
    };
    limits.validate(symbols)?;
    Ok((limits, mapping))
}

/// How a configuration's strategies section landed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StrategyMapping {
    /// Strategies retuned.
    pub applied: u32,
    /// Entries naming no running strategy of that id and kind.
    pub not_running: u32,
    /// Entries whose symbols do not include the running strategy's.
    pub other_symbols: u32,
    /// Parameters the strategy refused (its old ones stay).
    pub refused: u32,
}

/// `cfg` on top of a running market maker's `current` parameters.
pub fn mm_params(cfg: &StrategyConfig, current: &MmParams) -> MmParams {
    MmParams {
        enabled: cfg.enabled,
        quote_qty: cfg.quote_qty,
        min_half_spread_ticks: i64::from(cfg.spread_ticks),
        max_position: cfg.max_inventory,
        ..*current
    }
}

fn positive(v: i64) -> u64 {
    v.max(0) as u64
}

/// `per_window` messages per `window_ns`, within the throttle's depth.
fn throttle(per_window: u32, window_ns: u64) -> Throttle {
    if per_window <= MAX_THROTTLE_MSGS {
        Throttle {
            max_msgs: per_window.max(1),
            window_ns,
        }
    } else {
        Throttle {
            max_msgs: MAX_THROTTLE_MSGS,
            window_ns: (window_ns as u128 * MAX_THROTTLE_MSGS as u128 / per_window as u128) as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::mailbox::config::{StrategyKind, SymbolName};

    /// The start-up limits are valid, and none of them refuses the market
    /// maker's quotes (100 shares a cent from a $100 mid) while each stops
    /// what a runaway strategy would send.
    #[test]
    fn startup_limits_let_quotes_through_and_stop_runaways() {
        use risk::{Capacity, CheckContext, RiskEngine};
        use types::{Nanos, OrderId, OrderIntent, Price, Side, StrategyId, Symbol, TimeInForce};
        let limits = startup_limits();
        assert_eq!(limits.validate(16), Ok(()));
        let mut risk = RiskEngine::new(
            Capacity {
                symbols: 16,
                orders: 256,
                duplicate_slots: 64,
            },
            limits,
        )
        .unwrap();
        let order = |side, price, qty| OrderIntent::New {
            strategy: StrategyId(1),
            locate: 1,
            symbol: Symbol::new("AAA").unwrap(),
            side,
            price: Price(price),
            qty,
            tif: TimeInForce::PostOnly,
        };
        let ctx = |id, reference| CheckContext {
            order: OrderId(id),
            held: None,
            venue: types::VenueId(1),
            reference,
        };
        let mid = Some(Price(100_0500));
        let now = Nanos(1_000_000_000);
        assert_eq!(
            risk.check(&order(Side::Buy, 100_0400, 100), &ctx(1, mid), now)
                .map(|_| ()),
            Ok(())
        );
        assert_eq!(
            risk.check(&order(Side::Sell, 100_0600, 100), &ctx(2, mid), now)
                .map(|_| ()),
            Ok(())
        );
        use types::RejectReason::*;
        for (id, side, price, qty, reference, why) in [
            (3, Side::Buy, 106_0000, 100, mid, PriceCollar),
            (4, Side::Sell, 100_0600, 100, None, NoReferencePrice),
            (5, Side::Buy, 100_0000, 1_001, mid, MaxOrderQty),
        ] {
            assert_eq!(
                risk.check(&order(side, price, qty), &ctx(id, reference), now),
                Err(why),
                "order {id}"
            );
        }
    }

    #[test]
    fn strategy_entries_retune_only_what_they_name() {
        let cfg = StrategyConfig {
            id: 1,
            name: heapless::String::try_from("mm").unwrap(),
            kind: StrategyKind::MarketMaker,
            enabled: false,
            venue: 1,
            symbols: heapless::Vec::new(),
            quote_qty: 300,
            spread_ticks: 4,
            max_inventory: 1_200,
        };
        let current = MmParams::default_for_cent_tick();
        let p = mm_params(&cfg, &current);
        assert!(!p.enabled);
        assert_eq!(p.quote_qty, 300);
        assert_eq!(p.min_half_spread_ticks, 4);
        assert_eq!(p.max_position, 1_200);
        assert_eq!(
            MmParams {
                enabled: true,
                quote_qty: current.quote_qty,
                min_half_spread_ticks: 0,
                max_position: current.max_position,
                ..p
            },
            current,
            "nothing else changes"
        );
    }

    fn config() -> RiskConfig {
        RiskConfig {
            max_order_qty: 500,
            max_order_notional: 5_000_000_000,
            max_position_qty: 2_000,
            max_gross_notional: 50_000_000_000,
            max_open_orders: 40,
            max_orders_per_sec: 100,
            price_collar_bps: 250,
            max_daily_loss: 10_000_000_000,
            max_rejects_per_min: 30,
            restricted_symbols: heapless::Vec::new(),
            entered_volume: Some(protocol::mailbox::config::EnteredVolume {
                window_ms: 250,
                max_qty: 20_000,
                max_notional: 90_000_000_000,
            }),
            self_match: ConfigSelfMatch::Venue,
        }
    }

    fn directory(name: &str) -> Option<StockLocate> {
        match name {
            "AAA" => Some(1),
            "BBB" => Some(2),
            "FAR" => Some(60_000),
            _ => None,
        }
    }

    #[test]
    fn every_rule_lands_where_the_table_says() {
        let mut current = Limits::unlimited();
        current.duplicate_window_ns = 5_000_000;
        current.default_symbol.tick_size = 100;
        let (l, m) = risk_limits(&config(), &current, 16, directory).unwrap();
        assert_eq!(m, RiskMapping::default());
        let s = l.default_symbol;
        assert_eq!(s.max_order_qty, 500);
        assert_eq!(s.max_notional, 5_000_000_000);
        assert_eq!(s.max_position, 2_000);
        assert_eq!(s.collar_bps, Some(250));
        assert!(!s.restricted);
        assert_eq!(l.credit_limit, 50_000_000_000);
        assert_eq!(l.max_open_orders, 40);
        assert_eq!(
            l.venue_order_rate,
            Some(Throttle {
                max_msgs: 100,
                window_ns: SECOND_NS
            })
        );
        assert_eq!(l.max_daily_loss, 10_000_000_000);
        assert_eq!(
            l.reject_rate,
            Some(Throttle {
                max_msgs: 30,
                window_ns: 60 * SECOND_NS
            })
        );
        assert_eq!(
            l.entered_volume,
            Some(VolumeLimit {
                max_qty: 20_000,
                max_notional: 90_000_000_000,
                window_ns: 250_000_000,
            })
        );
        // Absent, it is off.
        let mut cfg = config();
        cfg.entered_volume = None;
        let (off, _) = risk_limits(&cfg, &l, 16, directory).unwrap();
        assert_eq!(off.entered_volume, None);
        assert_eq!(l.self_match, SelfMatchScope::Venue);
        cfg.self_match = ConfigSelfMatch::Firm;
        let (firm, _) = risk_limits(&cfg, &l, 16, directory).unwrap();
        assert_eq!(firm.self_match, SelfMatchScope::Firm);
        // What the configuration does not name stays.
        assert_eq!(l.duplicate_window_ns, 5_000_000);
        assert_eq!(l.max_net_position, u64::MAX);
        assert!(l.overrides.is_empty());
    }

    #[test]
    fn restricted_symbols_become_restricted_overrides() {
        let mut cfg = config();
        for name in ["BBB", "ZZZ", "FAR"] {
            cfg.restricted_symbols
                .push(SymbolName::try_from(name).unwrap())
                .unwrap();
        }
        let mut current = Limits::unlimited();
        // An earlier override is replaced by the configuration's picture.
        current
            .overrides
            .push((1, SymbolLimits::UNLIMITED))
            .unwrap();
        let (l, m) = risk_limits(&cfg, &current, 16, directory).unwrap();
        assert_eq!(m.unknown_symbols, 1, "ZZZ is not in the directory");
        assert_eq!(l.overrides.len(), 1, "FAR is beyond the engine's table");
        let (locate, s) = l.overrides[0];
        assert_eq!(locate, 2);
        assert!(s.restricted);
        assert_eq!(s.max_order_qty, 500);
        assert!(!l.for_symbol(1).restricted);
    }

    #[test]
    fn fast_rates_keep_their_average_within_the_throttle_depth() {
        let mut cfg = config();
        cfg.max_orders_per_sec = 1_024;
        let (l, _) = risk_limits(&cfg, &Limits::unlimited(), 16, directory).unwrap();
        let t = l.venue_order_rate.unwrap();
        assert_eq!(t.max_msgs, MAX_THROTTLE_MSGS);
        assert_eq!(
            t.window_ns as u128 * 1_024,
            SECOND_NS as u128 * MAX_THROTTLE_MSGS as u128
        );
    }
}
