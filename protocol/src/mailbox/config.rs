//! The appliance configuration schema, shared by both sides.
//!
//! Plain serde structs with fixed-capacity `heapless` strings and vectors, so
//! the same types deserialize with `serde-json-core` on the appliance (no
//! allocation) and with `serde_json`/`toml` on Linux. The companion turns a
//! TOML file into these structs, fills secrets in from the secrets file,
//! validates, and sends them as JSON in an `ApplyConfig` command; the
//! appliance parses with [`parse_json`] and validates again (it never trusts
//! the companion).
//!
//! Money and prices are price4 integers (1/10000 of the currency unit);
//! notional = price4 × shares.

use core::fmt::Write;
use heapless::{String, Vec};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Schema version carried in every config (`schema = 1`).
pub const CONFIG_SCHEMA: u32 = 1;
pub const MAX_VENUES: usize = 4;
pub const MAX_STRATEGIES: usize = 8;
pub const MAX_STRATEGY_SYMBOLS: usize = 16;
pub const MAX_RESTRICTED_SYMBOLS: usize = 32;
/// The longest `risk.entered_volume.window_ms`: an hour.
pub const MAX_VOLUME_WINDOW_MS: u32 = 3_600_000;

pub type Name = String<16>;
pub type SymbolName = String<8>;

/// A secret string (FIX password). Serialized in clear — it has to reach the
/// appliance — but `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String<64>);

impl Secret {
    /// `None` if longer than 64 bytes.
    pub fn new(text: &str) -> Option<Secret> {
        String::try_from(text).ok().map(Secret)
    }

    /// The clear text; call only where the secret is actually used.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl core::fmt::Debug for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl core::fmt::Display for Secret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::<64>::deserialize(d).map(Secret)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FixVersion {
    Fix42,
    Fix44,
}

/// Which of our resting orders a new order or replace may not cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfMatchScope {
    /// Our open orders in the symbol at every venue (the default).
    #[default]
    Firm,
    /// Our open orders at the venue the order goes to (for orders that
    /// stay there: post-only, or not routable under the venue's rules).
    Venue,
}

impl SelfMatchScope {
    pub fn is_firm(&self) -> bool {
        *self == SelfMatchScope::Firm
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    MarketMaker,
    Momentum,
}

/// Pre-trade risk limits (SEC 15c3-5 style; every number is configuration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskConfig {
    pub max_order_qty: u32,
    /// price4 × shares.
    pub max_order_notional: i64,
    /// Absolute shares per symbol.
    pub max_position_qty: i64,
    /// Sum of open-order notional, measured from orders entered (not fills).
    pub max_gross_notional: i64,
    pub max_open_orders: u32,
    pub max_orders_per_sec: u32,
    /// Orders further than this from the reference price are refused.
    pub price_collar_bps: u32,
    /// price4 money units; the kill switch trips when the day's loss exceeds it.
    pub max_daily_loss: i64,
    /// Venue rejects per minute that trip the kill switch.
    pub max_rejects_per_min: u32,
    #[serde(default)]
    pub restricted_symbols: Vec<SymbolName, MAX_RESTRICTED_SYMBOLS>,
    /// Shares and notional entered within a sliding window; absent: not
    /// limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_volume: Option<EnteredVolume>,
    /// Whose resting orders self-match prevention counts; absent: the
    /// firm's, at every venue (and left out when so, so that an appliance
    /// built before the field existed still takes the configuration).
    #[serde(default, skip_serializing_if = "SelfMatchScope::is_firm")]
    pub self_match: SelfMatchScope,
}

/// What may be entered within any `window_ms`, over every strategy and
/// venue: the shares and notional of new orders and what replaces add,
/// however the orders end (SEC 15c3-5's size limits "over a short period
/// of time": it stops a runaway strategy whose orders each pass every
/// per-order check).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnteredVolume {
    pub window_ms: u32,
    pub max_qty: u64,
    /// price4 × shares.
    pub max_notional: i64,
}

/// A venue's other order-entry gateway (a second site of the same
/// sessions): connection attempts alternate between it and the first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gateway {
    /// IPv4 address, dotted quad.
    pub host: String<15>,
    pub port: u16,
}

/// One FIX order-entry venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VenueConfig {
    pub id: u8,
    pub name: Name,
    pub fix_version: FixVersion,
    /// IPv4 address, dotted quad.
    pub host: String<15>,
    pub port: u16,
    pub sender_comp_id: String<32>,
    pub target_comp_id: String<32>,
    pub heartbeat_secs: u32,
    /// Username(553) of the Logon, for venues that ask for one (not a
    /// secret: it may stand in the config file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String<64>>,
    /// Filled in from the secrets file by the companion, never written in the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Secret>,
    /// The venue's backup gateway, if it has one: a connection that
    /// cannot be made, or is lost, is tried next at the other gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<Gateway>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyConfig {
    pub id: u16,
    pub name: Name,
    pub kind: StrategyKind,
    pub enabled: bool,
    /// `id` of the venue it trades on.
    pub venue: u8,
    pub symbols: Vec<SymbolName, MAX_STRATEGY_SYMBOLS>,
    pub quote_qty: u32,
    /// Quote half-spread in price4 ticks.
    pub spread_ticks: u32,
    pub max_inventory: i64,
}

/// Largest quote half-spread a strategy takes, in ticks (the market
/// maker's own bound): checked here so that a configuration the mailbox
/// accepts is one every strategy accepts too.
pub const MAX_SPREAD_TICKS: u32 = 1_000_000;

/// Everything the appliance can be told at run time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplianceConfig {
    pub schema: u32,
    pub risk: RiskConfig,
    pub venues: Vec<VenueConfig, MAX_VENUES>,
    #[serde(default)]
    pub strategies: Vec<StrategyConfig, MAX_STRATEGIES>,
}

/// Path of the offending field, e.g. `venues[1].port`.
pub type FieldPath = String<48>;

/// A refused configuration: which field, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: FieldPath,
    pub reason: &'static str,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

fn err(field: core::fmt::Arguments<'_>, reason: &'static str) -> ConfigError {
    let mut path = FieldPath::new();
    // A path longer than 48 bytes is truncated; the prefix still names it.
    let _ = path.write_fmt(field);
    ConfigError {
        field: path,
        reason,
    }
}

fn check(
    ok: bool,
    field: core::fmt::Arguments<'_>,
    reason: &'static str,
) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(err(field, reason))
    }
}

/// ITCH-style symbol: 1–8 of `A-Z 0-9 . -`.
fn symbol_ok(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

/// FIX CompID: printable ASCII without `=`, no spaces.
fn comp_id_ok(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic() && b != b'=')
}

impl RiskConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.max_order_qty > 0,
            format_args!("risk.max_order_qty"),
            "must be greater than 0",
        )?;
        check(
            self.max_order_notional > 0,
            format_args!("risk.max_order_notional"),
            "must be greater than 0",
        )?;
        check(
            self.max_position_qty > 0,
            format_args!("risk.max_position_qty"),
            "must be greater than 0",
        )?;
        check(
            self.max_gross_notional >= self.max_order_notional,
            format_args!("risk.max_gross_notional"),
            "must be at least risk.max_order_notional",
        )?;
        check(
            self.max_open_orders > 0,
            format_args!("risk.max_open_orders"),
            "must be greater than 0",
        )?;
        check(
            self.max_orders_per_sec > 0,
            format_args!("risk.max_orders_per_sec"),
            "must be greater than 0",
        )?;
        check(
            (1..=10_000).contains(&self.price_collar_bps),
            format_args!("risk.price_collar_bps"),
            "must be between 1 and 10000",
        )?;
        check(
            self.max_daily_loss > 0,
            format_args!("risk.max_daily_loss"),
            "must be greater than 0 (a loss amount)",
        )?;
        check(
            self.max_rejects_per_min > 0,
            format_args!("risk.max_rejects_per_min"),
            "must be greater than 0",
        )?;
        if let Some(v) = &self.entered_volume {
            check(
                (1..=MAX_VOLUME_WINDOW_MS).contains(&v.window_ms),
                format_args!("risk.entered_volume.window_ms"),
                "must be between 1 and 3600000 (an hour)",
            )?;
            check(
                v.max_qty >= u64::from(self.max_order_qty),
                format_args!("risk.entered_volume.max_qty"),
                "must be at least risk.max_order_qty",
            )?;
            check(
                v.max_notional >= self.max_order_notional,
                format_args!("risk.entered_volume.max_notional"),
                "must be at least risk.max_order_notional",
            )?;
        }
        for (i, s) in self.restricted_symbols.iter().enumerate() {
            check(
                symbol_ok(s),
                format_args!("risk.restricted_symbols[{i}]"),
                "not a symbol (1-8 of A-Z 0-9 . -)",
            )?;
            check(
                !self.restricted_symbols[..i].contains(s),
                format_args!("risk.restricted_symbols[{i}]"),
                "duplicate symbol",
            )?;
        }
        Ok(())
    }
}

impl ApplianceConfig {
    /// Checks every rule; the first violation names its field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            self.schema == CONFIG_SCHEMA,
            format_args!("schema"),
            "unsupported schema version (expected 1)",
        )?;
        self.risk.validate()?;
        check(
            !self.venues.is_empty(),
            format_args!("venues"),
            "at least one venue is required",
        )?;
        for (i, v) in self.venues.iter().enumerate() {
            check(
                !v.name.is_empty(),
                format_args!("venues[{i}].name"),
                "must not be empty",
            )?;
            check(
                !self.venues[..i].iter().any(|o| o.id == v.id),
                format_args!("venues[{i}].id"),
                "duplicate venue id",
            )?;
            check(
                !self.venues[..i].iter().any(|o| o.name == v.name),
                format_args!("venues[{i}].name"),
                "duplicate venue name",
            )?;
            check(
                v.host.parse::<core::net::Ipv4Addr>().is_ok(),
                format_args!("venues[{i}].host"),
                "not an IPv4 address",
            )?;
            check(
                v.port != 0,
                format_args!("venues[{i}].port"),
                "must not be 0",
            )?;
            if let Some(b) = &v.backup {
                check(
                    b.host.parse::<core::net::Ipv4Addr>().is_ok(),
                    format_args!("venues[{i}].backup.host"),
                    "not an IPv4 address",
                )?;
                check(
                    b.port != 0,
                    format_args!("venues[{i}].backup.port"),
                    "must not be 0",
                )?;
                check(
                    (b.host.as_str(), b.port) != (v.host.as_str(), v.port),
                    format_args!("venues[{i}].backup"),
                    "the same gateway as host and port",
                )?;
            }
            check(
                comp_id_ok(&v.sender_comp_id),
                format_args!("venues[{i}].sender_comp_id"),
                "empty or not printable ASCII without '='",
            )?;
            check(
                comp_id_ok(&v.target_comp_id),
                format_args!("venues[{i}].target_comp_id"),
                "empty or not printable ASCII without '='",
            )?;
            check(
                (1..=300).contains(&v.heartbeat_secs),
                format_args!("venues[{i}].heartbeat_secs"),
                "must be between 1 and 300",
            )?;
        }
        for (i, s) in self.strategies.iter().enumerate() {
            check(
                !s.name.is_empty(),
                format_args!("strategies[{i}].name"),
                "must not be empty",
            )?;
            check(
                !self.strategies[..i].iter().any(|o| o.id == s.id),
                format_args!("strategies[{i}].id"),
                "duplicate strategy id",
            )?;
            check(
                self.venues.iter().any(|v| v.id == s.venue),
                format_args!("strategies[{i}].venue"),
                "no venue with this id",
            )?;
            check(
                !s.symbols.is_empty(),
                format_args!("strategies[{i}].symbols"),
                "at least one symbol is required",
            )?;
            for (k, sym) in s.symbols.iter().enumerate() {
                check(
                    symbol_ok(sym),
                    format_args!("strategies[{i}].symbols[{k}]"),
                    "not a symbol (1-8 of A-Z 0-9 . -)",
                )?;
                check(
                    !self.risk.restricted_symbols.contains(sym),
                    format_args!("strategies[{i}].symbols[{k}]"),
                    "symbol is restricted by risk.restricted_symbols",
                )?;
            }
            check(
                s.quote_qty > 0,
                format_args!("strategies[{i}].quote_qty"),
                "must be greater than 0",
            )?;
            check(
                s.quote_qty <= self.risk.max_order_qty,
                format_args!("strategies[{i}].quote_qty"),
                "exceeds risk.max_order_qty",
            )?;
            check(
                (1..=MAX_SPREAD_TICKS).contains(&s.spread_ticks),
                format_args!("strategies[{i}].spread_ticks"),
                "must be between 1 and 1,000,000",
            )?;
            check(
                s.max_inventory > 0 && s.max_inventory <= self.risk.max_position_qty,
                format_args!("strategies[{i}].max_inventory"),
                "must be between 1 and risk.max_position_qty",
            )?;
        }
        Ok(())
    }
}

fn json_reason(e: &serde_json_core::de::Error) -> &'static str {
    use serde_json_core::de::Error as E;
    match e {
        E::EofWhileParsingList
        | E::EofWhileParsingObject
        | E::EofWhileParsingString
        | E::EofWhileParsingNumber
        | E::EofWhileParsingValue => "JSON ends early",
        E::InvalidNumber => "invalid number",
        E::InvalidType => "a value has the wrong type",
        E::TrailingCharacters => "trailing characters after the JSON object",
        _ => "malformed JSON, unknown or missing field, or a string/list over its capacity",
    }
}

/// Bytes of string-unescape scratch used by [`parse_json`].
pub const UNESCAPE_BUFFER: usize = 128;

/// Parses (no allocation) and validates a config received in `ApplyConfig`.
/// The result lives on the caller's stack: about 4 KiB (see the size test).
pub fn parse_json(json: &[u8]) -> Result<ApplianceConfig, ConfigError> {
    let mut scratch = [0u8; UNESCAPE_BUFFER];
    let (cfg, used) = serde_json_core::from_slice_escaped::<ApplianceConfig>(json, &mut scratch)
        .map_err(|e| err(format_args!("(json)"), json_reason(&e)))?;
    if json[used..].iter().any(|b| !b.is_ascii_whitespace()) {
        return Err(err(
            format_args!("(json)"),
            "trailing characters after the JSON object",
        ));
    }
    cfg.validate()?;
    Ok(cfg)
}

/// A valid example configuration (used by tests and as documentation).
pub fn example() -> ApplianceConfig {
    fn s<const N: usize>(t: &str) -> String<N> {
        String::try_from(t).unwrap_or_default()
    }
    let mut venues = Vec::new();
    let _ = venues.push(VenueConfig {
        id: 1,
        name: s("nasdaq"),
        fix_version: FixVersion::Fix42,
        host: s("10.0.2.100"),
        port: 9878,
        sender_comp_id: s("APPL01"),
        target_comp_id: s("NASDAQ"),
        heartbeat_secs: 30,
        username: None,
        password: None,
        backup: None,
    });
    let mut symbols = Vec::new();
    let _ = symbols.push(s("AAPL"));
    let _ = symbols.push(s("MSFT"));
    let mut strategies = Vec::new();
    let _ = strategies.push(StrategyConfig {
        id: 1,
        name: s("mm-tech"),
        kind: StrategyKind::MarketMaker,
        enabled: true,
        venue: 1,
        symbols,
        quote_qty: 100,
        spread_ticks: 100,
        max_inventory: 5_000,
    });
    ApplianceConfig {
        schema: CONFIG_SCHEMA,
        risk: RiskConfig {
            max_order_qty: 1_000,
            max_order_notional: 500_000 * 10_000,
            max_position_qty: 10_000,
            max_gross_notional: 5_000_000 * 10_000,
            max_open_orders: 200,
            max_orders_per_sec: 500,
            price_collar_bps: 500,
            max_daily_loss: 50_000 * 10_000,
            max_rejects_per_min: 20,
            restricted_symbols: Vec::new(),
            entered_volume: Some(EnteredVolume {
                window_ms: 1_000,
                max_qty: 100_000,
                max_notional: 10_000_000 * 10_000,
            }),
            self_match: SelfMatchScope::Firm,
        },
        venues,
        strategies,
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    fn field_of(cfg: &ApplianceConfig) -> std::string::String {
        cfg.validate().unwrap_err().field.as_str().to_string()
    }

    #[test]
    fn example_is_valid_and_round_trips_through_both_json_libraries() {
        let mut cfg = example();
        cfg.validate().unwrap();
        cfg.venues[0].password = Secret::new("p\"w\\1");
        // Absent and present usernames both round-trip.
        let json = serde_json::to_vec(&cfg).unwrap();
        assert_eq!(parse_json(&json).unwrap(), cfg);
        cfg.venues[0].username = Some(String::try_from("FIRM-USER-1").unwrap());
        // And a backup gateway.
        cfg.venues[0].backup = Some(Gateway {
            host: String::try_from("10.0.3.100").unwrap(),
            port: 9879,
        });
        let json = serde_json::to_vec(&cfg).unwrap();
        let parsed = parse_json(&json).unwrap();
        assert_eq!(parsed, cfg);
        // Without an entered-volume limit.
        cfg.risk.entered_volume = None;
        let json = serde_json::to_vec(&cfg).unwrap();
        assert_eq!(parse_json(&json).unwrap(), cfg);
        assert_eq!(
            parsed.venues[0].password.as_ref().unwrap().expose(),
            "p\"w\\1"
        );
    }

    #[test]
    fn validation_names_the_offending_field() {
        let base = example();
        let mut c = base.clone();
        c.risk.max_order_qty = 0;
        assert_eq!(field_of(&c), "risk.max_order_qty");
        let mut c = base.clone();
        c.risk.price_collar_bps = 20_000;
        assert_eq!(field_of(&c), "risk.price_collar_bps");
        let mut c = base.clone();
        c.venues[0].host = String::try_from("not.an.ip").unwrap();
        assert_eq!(field_of(&c), "venues[0].host");
        let mut c = base.clone();
        c.venues[0].port = 0;
        assert_eq!(field_of(&c), "venues[0].port");
        let backup = |host: &str, port| {
            Some(Gateway {
                host: String::try_from(host).unwrap(),
                port,
            })
        };
        let mut c = base.clone();
        c.venues[0].backup = backup("10.0.3.100", 9878);
        assert!(c.validate().is_ok());
        c.venues[0].backup = backup("gateway-2", 9878);
        assert_eq!(field_of(&c), "venues[0].backup.host");
        c.venues[0].backup = backup("10.0.3.100", 0);
        assert_eq!(field_of(&c), "venues[0].backup.port");
        c.venues[0].backup = backup("10.0.2.100", 9878);
        assert_eq!(field_of(&c), "venues[0].backup");
        let volume = |window_ms, max_qty, max_notional| {
            Some(EnteredVolume {
                window_ms,
                max_qty,
                max_notional,
            })
        };
        let mut c = base.clone();
        c.risk.entered_volume = volume(0, 50_000, i64::MAX);
        assert_eq!(field_of(&c), "risk.entered_volume.window_ms");
        c.risk.entered_volume = volume(MAX_VOLUME_WINDOW_MS + 1, 50_000, i64::MAX);
        assert_eq!(field_of(&c), "risk.entered_volume.window_ms");
        c.risk.entered_volume = volume(MAX_VOLUME_WINDOW_MS, 999, i64::MAX);
        assert_eq!(field_of(&c), "risk.entered_volume.max_qty");
        c.risk.entered_volume = volume(1, 1_000, c.risk.max_order_notional - 1);
        assert_eq!(field_of(&c), "risk.entered_volume.max_notional");
        c.risk.entered_volume = volume(1, 1_000, c.risk.max_order_notional);
        assert!(c.validate().is_ok());
        let mut c = base.clone();
        c.strategies[0].venue = 9;
        assert_eq!(field_of(&c), "strategies[0].venue");
        let mut c = base.clone();
        c.strategies[0].symbols[1] = String::try_from("msft").unwrap();
        assert_eq!(field_of(&c), "strategies[0].symbols[1]");
        let mut c = base.clone();
        c.strategies[0].quote_qty = 5_000;
        assert_eq!(field_of(&c), "strategies[0].quote_qty");
        // The market maker's own bound, checked before anything applies.
        let mut c = base.clone();
        c.strategies[0].spread_ticks = MAX_SPREAD_TICKS + 1;
        assert_eq!(field_of(&c), "strategies[0].spread_ticks");
        let mut c = base.clone();
        c.strategies[0].spread_ticks = MAX_SPREAD_TICKS;
        assert!(c.validate().is_ok());
        let mut c = base.clone();
        let _ = c
            .risk
            .restricted_symbols
            .push(String::try_from("AAPL").unwrap());
        assert_eq!(field_of(&c), "strategies[0].symbols[0]");
        let mut c = base.clone();
        c.schema = 2;
        assert_eq!(field_of(&c), "schema");
        let mut c = base;
        let v = c.venues[0].clone();
        let _ = c.venues.push(v);
        assert_eq!(field_of(&c), "venues[1].id");
    }

    #[test]
    fn malformed_json_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"{",
            b"{\"schema\":1}",
            b"[1,2]",
            b"{\"schema\":1,\"bogus\":2}",
            &[0xff, 0xfe],
        ] {
            let e = parse_json(bad).unwrap_err();
            assert_eq!(e.field.as_str(), "(json)");
        }
        let mut json = serde_json::to_vec(&example()).unwrap();
        json.extend_from_slice(b" x");
        assert_eq!(
            parse_json(&json).unwrap_err().reason,
            "trailing characters after the JSON object"
        );
    }

    #[test]
    fn config_fits_a_small_stack() {
        assert!(
            core::mem::size_of::<ApplianceConfig>() <= 6 * 1024,
            "{}",
            core::mem::size_of::<ApplianceConfig>()
        );
    }

    #[test]
    fn secrets_never_show_in_debug_or_display() {
        let mut cfg = example();
        cfg.venues[0].password = Secret::new("hunter2");
        let dbg = std::format!("{cfg:?}");
        assert!(!dbg.contains("hunter2"));
        assert!(dbg.contains("redacted"));
        assert_eq!(
            std::format!("{}", cfg.venues[0].password.as_ref().unwrap()),
            "<redacted>"
        );
    }
}
