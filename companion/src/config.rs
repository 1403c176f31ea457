//! TOML config file → the shared [`ApplianceConfig`] structs → validated → JSON.

use crate::secrets::Secrets;
use protocol::mailbox::config::ApplianceConfig;
use std::path::Path;

/// Reads and validates a config file; every error names the field.
pub fn load(path: &Path, secrets: Option<&Secrets>) -> Result<ApplianceConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse(&text, secrets).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses TOML text into a validated config; secrets are filled in by venue name.
pub fn parse(text: &str, secrets: Option<&Secrets>) -> Result<ApplianceConfig, String> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| e.message().to_string() + &location(text, e.span()))?;
    if let Some(toml::Value::Array(venues)) = table.get("venues") {
        for (i, v) in venues.iter().enumerate() {
            if v.get("password").is_some() {
                return Err(format!("venues[{i}].password: secrets must come from the secrets file (--secrets), not the config"));
            }
        }
    }
    let mut cfg: ApplianceConfig = toml::from_str(text).map_err(|e: toml::de::Error| {
        // serde's message names the field for missing/unknown keys; the span
        // names the line for type errors.
        e.message().to_string() + &location(text, e.span())
    })?;
    if let Some(secrets) = secrets {
        for v in cfg.venues.iter_mut() {
            if let Some(s) = secrets.venues.get(v.name.as_str()) {
                v.password = s.password.clone();
            }
        }
    }
    cfg.validate()
        .map_err(|e| format!("{}: {}", e.field, e.reason))?;
    Ok(cfg)
}

fn location(text: &str, span: Option<std::ops::Range<usize>>) -> String {
    let Some(span) = span else {
        return String::new();
    };
    let start = span.start.min(text.len());
    let line = text[..start].matches('\n').count() + 1;
    let line_text = text.lines().nth(line - 1).unwrap_or("").trim();
    // Show the key only, never a value (it could be mistyped secret material).
    let key = line_text.split('=').next().unwrap_or("").trim();
    format!(" (line {line}, at `{key}`)")
}

/// The JSON sent in `ApplyConfig`. Holds secrets: never print it.
pub fn to_json(cfg: &ApplianceConfig) -> Result<Vec<u8>, String> {
    serde_json::to_vec(cfg).map_err(|e| format!("encoding config: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const GOOD: &str = include_str!("../examples/appliance.toml");

    #[test]
    fn example_file_is_valid_and_matches_the_protocol_parser() {
        let cfg = parse(GOOD, None).unwrap();
        let json = to_json(&cfg).unwrap();
        assert_eq!(protocol::mailbox::config::parse_json(&json).unwrap(), cfg);
    }

    #[test]
    fn a_backup_gateway_is_an_inline_table() {
        let two = GOOD.replace(
            "# backup = { host = \"10.0.3.100\", port = 9878 }",
            "backup = { host = \"10.0.3.100\", port = 9878 }",
        );
        let cfg = parse(&two, None).unwrap();
        let backup = cfg.venues[0].backup.as_ref().expect("the backup");
        assert_eq!((backup.host.as_str(), backup.port), ("10.0.3.100", 9878));
        let json = to_json(&cfg).unwrap();
        assert_eq!(protocol::mailbox::config::parse_json(&json).unwrap(), cfg);
        let bad = two.replace("host = \"10.0.3.100\"", "host = \"backup-gw\"");
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("venues[0].backup.host:"));
        assert!(parse(GOOD, None).unwrap().venues[0].backup.is_none());
    }

    #[test]
    fn the_entered_volume_limit_is_an_inline_table_and_may_be_left_out() {
        let cfg = parse(GOOD, None).unwrap();
        let v = cfg.risk.entered_volume.expect("the example sets one");
        assert_eq!(
            (v.window_ms, v.max_qty, v.max_notional),
            (1_000, 100_000, 100_000_000_000)
        );
        let bad = GOOD.replace("window_ms = 1000", "window_ms = 0");
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("risk.entered_volume.window_ms:"));
        let bad = GOOD.replace("max_qty = 100000", "max_qty = 10");
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("risk.entered_volume.max_qty:"));
        let none: String = GOOD
            .lines()
            .filter(|l| !l.starts_with("entered_volume"))
            .map(|l| format!("{l}\n"))
            .collect();
        let cfg = parse(&none, None).unwrap();
        assert_eq!(cfg.risk.entered_volume, None);
        let json = to_json(&cfg).unwrap();
        assert_eq!(protocol::mailbox::config::parse_json(&json).unwrap(), cfg);
    }

    #[test]
    fn self_match_prevention_is_the_firms_or_the_venues() {
        use protocol::mailbox::config::SelfMatchScope;
        assert_eq!(
            parse(GOOD, None).unwrap().risk.self_match,
            SelfMatchScope::Firm
        );
        let venue = GOOD.replace("self_match = \"firm\"", "self_match = \"venue\"");
        let cfg = parse(&venue, None).unwrap();
        assert_eq!(cfg.risk.self_match, SelfMatchScope::Venue);
        let json = to_json(&cfg).unwrap();
        let text = String::from_utf8_lossy(&json);
        assert!(text.contains("\"self_match\":\"venue\""), "{text}");
        assert_eq!(protocol::mailbox::config::parse_json(&json).unwrap(), cfg);
        // The default is left out of the JSON: an appliance that predates
        // the field takes the configuration.
        let firm = to_json(&parse(GOOD, None).unwrap()).unwrap();
        let firm = String::from_utf8_lossy(&firm);
        assert!(!firm.contains("self_match"), "{firm}");
        let absent: String = GOOD
            .lines()
            .filter(|l| !l.starts_with("self_match"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(
            parse(&absent, None).unwrap().risk.self_match,
            SelfMatchScope::Firm
        );
        let bad = GOOD.replace("self_match = \"firm\"", "self_match = \"desk\"");
        let e = parse(&bad, None).unwrap_err();
        assert!(e.contains("self_match"), "{e}");
    }

    #[test]
    fn errors_name_the_field() {
        let bad = GOOD.replace("max_order_qty = 1000", "max_order_qty = 0");
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("risk.max_order_qty:"));
        let bad = GOOD.replace("port = 9878", "port = 0");
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("venues[0].port:"));
        let bad = GOOD.replace("max_order_qty = 1000", "max_order_qty = \"lots\"");
        let e = parse(&bad, None).unwrap_err();
        assert!(e.contains("max_order_qty"), "{e}");
        let bad = GOOD.replace("max_order_qty = 1000", "");
        let e = parse(&bad, None).unwrap_err();
        assert!(e.contains("missing field `max_order_qty`"), "{e}");
        let bad = GOOD.replace(
            "heartbeat_secs = 30",
            "heartbeat_secs = 30\npassword = \"x\"",
        );
        assert!(parse(&bad, None)
            .unwrap_err()
            .starts_with("venues[0].password:"));
        let bad = GOOD.replace("max_open_orders = 200", "max_open_orders = 200\nbogus = 1");
        let e = parse(&bad, None).unwrap_err();
        assert!(e.contains("bogus"), "{e}");
    }
}
