//! Turning snapshots into text: tables for people, Prometheus and InfluxDB
//! line protocol for machines, SVG for latency plots. Everything read from the
//! region is untrusted: names are escaped for each output format.

use protocol::mailbox::histogram::{bucket_range, LatencyHistogram, BUCKETS};
use protocol::mailbox::{
    ApplianceState, Counter, KillSwitch, Liveness, OpenOrder, Position, RiskLimit, StageLatency,
    StatusSnapshot,
};
use std::fmt::Write;
use types::Price;

/// Everything one refresh reads (each snapshot may fail on its own).
#[derive(Debug, Default)]
pub struct View {
    pub live: Option<Liveness>,
    pub status: Option<StatusSnapshot>,
    pub positions: Vec<Position>,
    pub orders: Vec<OpenOrder>,
    pub kill: Option<KillSwitch>,
    pub limits: Vec<RiskLimit>,
    pub counters: Vec<Counter>,
    pub latency: Vec<StageLatency>,
    /// Snapshots that could not be read, with why.
    pub errors: Vec<String>,
}

pub fn state_name(s: Option<ApplianceState>) -> &'static str {
    s.map_or("unknown", |s| s.name())
}

pub fn duration(ns: u64) -> String {
    let s = ns / 1_000_000_000;
    format!(
        "{}d {:02}:{:02}:{:02}.{:03}",
        s / 86_400,
        s / 3600 % 24,
        s / 60 % 60,
        s % 60,
        ns / 1_000_000 % 1000
    )
}

pub fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn money(v: i64) -> String {
    Price(v).to_string()
}

pub fn status_text(v: &View, heartbeat_note: &str) -> String {
    let mut o = String::new();
    if let Some(l) = &v.live {
        let _ = writeln!(o, "state      {}", state_name(l.state));
        let _ = writeln!(o, "boot id    {:#018x}", l.boot_id);
        let _ = writeln!(o, "heartbeat  #{} {heartbeat_note}", l.heartbeat);
    }
    if let Some(s) = &v.status {
        let _ = writeln!(o, "uptime     {}", duration(s.uptime_ns));
        let _ = writeln!(o, "config     generation {}", s.config_generation);
        let _ = writeln!(o, "cores      {}", s.core_count);
        for (i, c) in s.cores().iter().enumerate() {
            let _ = writeln!(
                o,
                "  core {i:<3} {:<8} heartbeat {:>12}  last beat at {}",
                c.state.name(),
                c.heartbeat,
                duration(c.last_beat_ns)
            );
        }
        let _ = writeln!(o, "nics       {}", s.nic_count);
        for (i, n) in s.nics().iter().enumerate() {
            let _ = writeln!(
                o,
                "  nic {i:<4} link {:<4} {:>6} Mb/s  mac {}\n           rx {} pkts {} bytes {} dropped {} errors\n           tx {} pkts {} bytes {} dropped {} errors",
                if n.link_up { "up" } else { "down" },
                n.speed_mbps,
                mac(&n.mac),
                n.rx_packets,
                n.rx_bytes,
                n.rx_dropped,
                n.rx_errors,
                n.tx_packets,
                n.tx_bytes,
                n.tx_dropped,
                n.tx_errors
            );
        }
    }
    for e in &v.errors {
        let _ = writeln!(o, "warning    {e}");
    }
    o
}

pub fn positions_table(p: &[Position]) -> String {
    let mut o = format!(
        "{:<8} {:>6} {:>12} {:>14} {:>16} {:>16}\n",
        "SYMBOL", "LOCATE", "QTY", "AVG PX", "REALIZED", "UNREALIZED"
    );
    for x in p {
        let _ = writeln!(
            o,
            "{:<8} {:>6} {:>12} {:>14} {:>16} {:>16}",
            x.symbol.as_str(),
            x.locate,
            x.qty,
            x.avg_px,
            money(x.realized_pnl),
            money(x.unrealized_pnl)
        );
    }
    let (r, u): (i64, i64) = p.iter().fold((0, 0), |(r, u), x| {
        (
            r.saturating_add(x.realized_pnl),
            u.saturating_add(x.unrealized_pnl),
        )
    });
    let _ = writeln!(
        o,
        "{} positions, realized {}, unrealized {}",
        p.len(),
        money(r),
        money(u)
    );
    o
}

/// An order side as the tables print it.
pub fn side_name(side: types::Side) -> &'static str {
    match side {
        types::Side::Buy => "BUY",
        types::Side::Sell => "SELL",
    }
}

pub fn orders_table(v: &[OpenOrder]) -> String {
    let mut o = format!(
        "{:>12} {:<8} {:<4} {:>12} {:>8} {:>8} {:>6} {:>5} {:>18}\n",
        "ORDER", "SYMBOL", "SIDE", "PRICE", "QTY", "LEAVES", "STRAT", "VENUE", "ENTERED"
    );
    for x in v {
        let side = side_name(x.side);
        let _ = writeln!(
            o,
            "{:>12} {:<8} {:<4} {:>12} {:>8} {:>8} {:>6} {:>5} {:>18}",
            x.id.0,
            x.symbol.as_str(),
            side,
            x.price,
            x.qty,
            x.leaves,
            x.strategy.0,
            x.venue.0,
            duration(x.entered_ns)
        );
    }
    let _ = writeln!(o, "{} open orders", v.len());
    o
}

pub fn risk_table(kill: &KillSwitch, limits: &[RiskLimit]) -> String {
    let mut o = if kill.engaged {
        format!(
            "kill switch ENGAGED ({}) since {}\n",
            kill.reason,
            duration(kill.since_ns)
        )
    } else {
        "kill switch armed (not engaged)\n".to_string()
    };
    let _ = writeln!(
        o,
        "{:<16} {:>20} {:>20} {:>7}",
        "LIMIT", "USAGE", "LIMIT", "USED"
    );
    for l in limits {
        let pct = if l.limit != 0 {
            format!("{:.1}%", l.usage as f64 * 100.0 / l.limit as f64)
        } else {
            "-".into()
        };
        let _ = writeln!(
            o,
            "{:<16} {:>20} {:>20} {:>7}",
            l.name.to_string(),
            l.usage,
            l.limit,
            pct
        );
    }
    o
}

/// p50/p99/p99.9/max of a histogram, in ns (`-` when empty).
pub fn quantiles(h: &LatencyHistogram) -> [Option<u64>; 4] {
    [
        h.quantile(0.5),
        h.quantile(0.99),
        h.quantile(0.999),
        (h.count > 0).then_some(h.max),
    ]
}

fn ns(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| v.to_string())
}

pub fn latency_table(stages: &[StageLatency]) -> String {
    let mut o = format!(
        "{:<16} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
        "STAGE (ns)", "COUNT", "MEAN", "P50", "P99", "P99.9", "MAX"
    );
    for s in stages {
        let [p50, p99, p999, max] = quantiles(&s.histogram);
        let _ = writeln!(
            o,
            "{:<16} {:>12} {:>10} {:>10} {:>10} {:>10} {:>10}",
            s.name.to_string(),
            s.histogram.count,
            ns(s.histogram.mean()),
            ns(p50),
            ns(p99),
            ns(p999),
            ns(max)
        );
    }
    o
}

/// Prometheus label value escaping (backslash, quote, newline).
fn prom(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Prometheus text exposition format 0.0.4.
pub fn prometheus(v: &View) -> String {
    let mut o = String::new();
    let family = |o: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut o,
        "appliance_up",
        "gauge",
        "1 if the mailbox header is valid and readable.",
    );
    let _ = writeln!(o, "appliance_up {}", v.live.is_some() as u8);
    if let Some(l) = &v.live {
        family(
            &mut o,
            "appliance_state",
            "gauge",
            "Appliance state (1 for the current one).",
        );
        for s in [
            ApplianceState::Booting,
            ApplianceState::Running,
            ApplianceState::Killed,
            ApplianceState::Panicked,
            ApplianceState::Faulted,
        ] {
            let _ = writeln!(
                o,
                "appliance_state{{state=\"{}\"}} {}",
                s.name(),
                (l.state == Some(s)) as u8
            );
        }
        family(
            &mut o,
            "appliance_heartbeat_total",
            "counter",
            "Housekeeping heartbeats since boot.",
        );
        let _ = writeln!(o, "appliance_heartbeat_total {}", l.heartbeat);
        family(
            &mut o,
            "appliance_boot_id",
            "gauge",
            "Identifier of the current boot.",
        );
        let _ = writeln!(o, "appliance_boot_id {}", l.boot_id);
    }
    if let Some(s) = &v.status {
        family(
            &mut o,
            "appliance_uptime_seconds",
            "gauge",
            "Time since boot.",
        );
        let _ = writeln!(o, "appliance_uptime_seconds {}", s.uptime_ns as f64 / 1e9);
        family(
            &mut o,
            "appliance_config_generation",
            "gauge",
            "Number of configs applied.",
        );
        let _ = writeln!(o, "appliance_config_generation {}", s.config_generation);
        family(
            &mut o,
            "appliance_core_heartbeat_total",
            "counter",
            "Per-core heartbeats.",
        );
        for (i, c) in s.cores().iter().enumerate() {
            let _ = writeln!(
                o,
                "appliance_core_heartbeat_total{{core=\"{i}\",state=\"{}\"}} {}",
                c.state.name(),
                c.heartbeat
            );
        }
        family(
            &mut o,
            "appliance_nic_link_up",
            "gauge",
            "1 if the NIC has link.",
        );
        for (i, n) in s.nics().iter().enumerate() {
            let _ = writeln!(
                o,
                "appliance_nic_link_up{{nic=\"{i}\"}} {}",
                n.link_up as u8
            );
        }
        for (metric, help, get) in [
            (
                "appliance_nic_rx_packets_total",
                "Received packets.",
                (|n: &protocol::mailbox::NicStatus| n.rx_packets)
                    as fn(&protocol::mailbox::NicStatus) -> u64,
            ),
            ("appliance_nic_rx_bytes_total", "Received bytes.", |n| {
                n.rx_bytes
            }),
            (
                "appliance_nic_rx_dropped_total",
                "Received packets dropped.",
                |n| n.rx_dropped,
            ),
            ("appliance_nic_rx_errors_total", "Receive errors.", |n| {
                n.rx_errors
            }),
            ("appliance_nic_tx_packets_total", "Sent packets.", |n| {
                n.tx_packets
            }),
            ("appliance_nic_tx_bytes_total", "Sent bytes.", |n| {
                n.tx_bytes
            }),
            (
                "appliance_nic_tx_dropped_total",
                "Sent packets dropped.",
                |n| n.tx_dropped,
            ),
            ("appliance_nic_tx_errors_total", "Send errors.", |n| {
                n.tx_errors
            }),
        ] {
            family(&mut o, metric, "counter", help);
            for (i, n) in s.nics().iter().enumerate() {
                let _ = writeln!(o, "{metric}{{nic=\"{i}\"}} {}", get(n));
            }
        }
    }
    if let Some(k) = &v.kill {
        family(
            &mut o,
            "appliance_kill_switch_engaged",
            "gauge",
            "1 while the kill switch blocks trading.",
        );
        let _ = writeln!(o, "appliance_kill_switch_engaged {}", k.engaged as u8);
    }
    if !v.limits.is_empty() {
        family(
            &mut o,
            "appliance_risk_limit",
            "gauge",
            "Configured risk limit.",
        );
        for l in &v.limits {
            let _ = writeln!(
                o,
                "appliance_risk_limit{{limit=\"{}\"}} {}",
                prom(&l.name.to_string()),
                l.limit
            );
        }
        family(
            &mut o,
            "appliance_risk_usage",
            "gauge",
            "Current usage of the risk limit.",
        );
        for l in &v.limits {
            let _ = writeln!(
                o,
                "appliance_risk_usage{{limit=\"{}\"}} {}",
                prom(&l.name.to_string()),
                l.usage
            );
        }
    }
    family(
        &mut o,
        "appliance_open_orders",
        "gauge",
        "Orders working at venues.",
    );
    let _ = writeln!(o, "appliance_open_orders {}", v.orders.len());
    if !v.positions.is_empty() {
        family(
            &mut o,
            "appliance_position_qty",
            "gauge",
            "Signed position in shares.",
        );
        for p in &v.positions {
            let _ = writeln!(
                o,
                "appliance_position_qty{{symbol=\"{}\"}} {}",
                prom(p.symbol.as_str()),
                p.qty
            );
        }
        family(
            &mut o,
            "appliance_position_pnl",
            "gauge",
            "Profit and loss in currency units.",
        );
        for p in &v.positions {
            let sym = prom(p.symbol.as_str());
            let _ = writeln!(
                o,
                "appliance_position_pnl{{symbol=\"{sym}\",kind=\"realized\"}} {}",
                p.realized_pnl as f64 / 1e4
            );
            let _ = writeln!(
                o,
                "appliance_position_pnl{{symbol=\"{sym}\",kind=\"unrealized\"}} {}",
                p.unrealized_pnl as f64 / 1e4
            );
        }
    }
    if !v.counters.is_empty() {
        family(
            &mut o,
            "appliance_counter_total",
            "counter",
            "Appliance counters by name.",
        );
        for c in &v.counters {
            let _ = writeln!(
                o,
                "appliance_counter_total{{name=\"{}\"}} {}",
                prom(&c.name.to_string()),
                c.value
            );
        }
    }
    if !v.latency.is_empty() {
        family(
            &mut o,
            "appliance_latency_nanoseconds",
            "summary",
            "Per-stage latency from log-linear histograms (quantiles within 6.25%).",
        );
        for s in &v.latency {
            let name = prom(&s.name.to_string());
            for (q, val) in [("0.5", 0.5), ("0.99", 0.99), ("0.999", 0.999), ("1", 1.0)] {
                if let Some(x) = s.histogram.quantile(val) {
                    let _ = writeln!(
                        o,
                        "appliance_latency_nanoseconds{{stage=\"{name}\",quantile=\"{q}\"}} {x}"
                    );
                }
            }
            let _ = writeln!(
                o,
                "appliance_latency_nanoseconds_sum{{stage=\"{name}\"}} {}",
                s.histogram.sum
            );
            let _ = writeln!(
                o,
                "appliance_latency_nanoseconds_count{{stage=\"{name}\"}} {}",
                s.histogram.count
            );
        }
    }
    o
}

/// Influx tag escaping (comma, equals, space); control characters would split a line: `?`.
fn influx(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    clean
        .replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
        .replace(' ', "\\ ")
}

/// Text from the region shown on a terminal: control characters (escape
/// sequences could rewrite the operator's screen) become `?`; newlines and tabs stay.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// InfluxDB line protocol, one timestamp (ns since the Unix epoch) for all lines.
pub fn influx_lines(v: &View, ts_ns: u128) -> String {
    let mut o = String::new();
    if let Some(l) = &v.live {
        let uptime = v.status.as_ref().map_or(0, |s| s.uptime_ns);
        let gen = v.status.as_ref().map_or(0, |s| s.config_generation);
        let kill = v.kill.as_ref().is_some_and(|k| k.engaged);
        let _ = writeln!(
            o,
            "appliance,state={} heartbeat={}i,uptime_ns={}i,config_generation={}i,kill_engaged={},open_orders={}i {ts_ns}",
            state_name(l.state),
            l.heartbeat,
            uptime,
            gen,
            kill,
            v.orders.len()
        );
    }
    if let Some(s) = &v.status {
        for (i, n) in s.nics().iter().enumerate() {
            let _ = writeln!(
                o,
                "appliance_nic,nic={i} link_up={},rx_packets={}i,rx_bytes={}i,rx_dropped={}i,rx_errors={}i,tx_packets={}i,tx_bytes={}i,tx_dropped={}i,tx_errors={}i {ts_ns}",
                n.link_up, n.rx_packets, n.rx_bytes, n.rx_dropped, n.rx_errors, n.tx_packets, n.tx_bytes, n.tx_dropped, n.tx_errors
            );
        }
    }
    for c in &v.counters {
        let _ = writeln!(
            o,
            "appliance_counter,name={} value={}i {ts_ns}",
            influx(&c.name.to_string()),
            c.value
        );
    }
    for l in &v.limits {
        let _ = writeln!(
            o,
            "appliance_risk,limit={} limit={}i,usage={}i {ts_ns}",
            influx(&l.name.to_string()),
            l.limit,
            l.usage
        );
    }
    for p in &v.positions {
        let _ = writeln!(
            o,
            "appliance_position,symbol={} qty={}i,realized_pnl={}i,unrealized_pnl={}i {ts_ns}",
            influx(p.symbol.as_str()),
            p.qty,
            p.realized_pnl,
            p.unrealized_pnl
        );
    }
    for s in &v.latency {
        let [p50, p99, p999, max] = quantiles(&s.histogram);
        if let (Some(p50), Some(p99), Some(p999), Some(max)) = (p50, p99, p999, max) {
            let _ = writeln!(o, "appliance_latency,stage={} count={}i,p50={p50}i,p99={p99}i,p999={p999}i,max={max}i {ts_ns}", influx(&s.name.to_string()), s.histogram.count);
        }
    }
    o
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A latency value for a one-line display: ns, µs, ms or s, 3 digits.
pub fn short_ns(v: u64) -> String {
    let scaled = |div: f64, unit: &str| {
        let n = format!("{:.3}", v as f64 / div);
        format!("{}{unit}", n.trim_end_matches('0').trim_end_matches('.'))
    };
    if v < 1_000 {
        format!("{v}ns")
    } else if v < 1_000_000 {
        scaled(1e3, "µs")
    } else if v < 1_000_000_000 {
        scaled(1e6, "ms")
    } else {
        scaled(1e9, "s")
    }
}

/// A histogram as one line of text: one bar per power of two from the
/// fastest to the slowest octave recorded (at most `width`, the slowest
/// merged into the last), each bar's height its share of the busiest
/// octave, with the octaves' bounds at the ends: `16µs ▁▃█▅▂▁ 1ms`.
pub fn histogram_line(h: &LatencyHistogram, width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let octave = |i: usize| 63 - bucket_range(i).0.max(1).leading_zeros() as usize;
    let used: Vec<usize> = (0..BUCKETS).filter(|&i| h.buckets[i] > 0).collect();
    let (Some(&first), Some(&last)) = (used.first(), used.last()) else {
        return "(empty)".into();
    };
    let (lo, hi) = (
        octave(first),
        octave(last).min(octave(first) + width.max(1) - 1),
    );
    let mut counts = vec![0u64; hi - lo + 1];
    for &i in &used {
        counts[octave(i).min(hi) - lo] += h.buckets[i];
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    let bars: String = counts
        .iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                BARS[((c * 8 - 1) / peak).min(7) as usize]
            }
        })
        .collect();
    format!(
        "{} {bars} {}",
        short_ns(1u64 << lo),
        short_ns(1u64 << (hi + 1))
    )
}

/// A polyline SVG of one series over x (hand-written; no plotting
/// dependency), with its title, range and the zero line.
pub fn series_svg(title: &str, points: &[(f64, f64)]) -> String {
    let (w, h, pad) = (800.0, 300.0, 40.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let (x0, x1) = match (points.first(), points.last()) {
        (Some(a), Some(b)) => (a.0, b.0),
        _ => (0.0, 1.0),
    };
    let lo = points
        .iter()
        .map(|p| p.1)
        .fold(f64::INFINITY, f64::min)
        .min(0.0);
    let hi = points
        .iter()
        .map(|p| p.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .max(0.0);
    let xs = if x1 > x0 {
        (w - 2.0 * pad) / (x1 - x0)
    } else {
        0.0
    };
    let ys = if hi > lo {
        (h - 2.0 * pad) / (hi - lo)
    } else {
        0.0
    };
    let y = |v: f64| h - pad - (v - lo) * ys;
    let _ = writeln!(
        s,
        "<text x=\"{pad}\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">{} (min {lo:.2}, max {hi:.2})</text>",
        xml(title)
    );
    let _ = writeln!(
        s,
        "<line x1=\"{pad}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#999\"/>",
        y(0.0),
        w - pad
    );
    s.push_str("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"1.5\" points=\"");
    for p in points {
        let _ = write!(s, "{:.1},{:.1} ", pad + (p.0 - x0) * xs, y(p.1));
    }
    s.push_str("\"/>\n</svg>\n");
    s
}

/// One panel per stage: bucket counts on a log-scaled latency axis, with
/// p50/p99/p99.9/max marked. Hand-written SVG (no plotting dependency).
pub fn latency_svg(stages: &[StageLatency]) -> String {
    let (w, ph, pad) = (900.0f64, 220.0f64, 50.0f64);
    let h = ph * stages.len().max(1) as f64;
    let mut o = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"monospace\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    for (k, s) in stages.iter().enumerate() {
        let hist = &s.histogram;
        let top = k as f64 * ph;
        let used: Vec<usize> = (0..BUCKETS).filter(|&i| hist.buckets[i] > 0).collect();
        let [p50, p99, p999, max] = quantiles(hist);
        let _ = writeln!(
            o,
            "<text x=\"{pad}\" y=\"{}\">{} — n={} p50={} p99={} p99.9={} max={} ns</text>",
            top + 16.0,
            xml(&s.name.to_string()),
            hist.count,
            ns(p50),
            ns(p99),
            ns(p999),
            ns(max)
        );
        let (Some(&first), Some(&last)) = (used.first(), used.last()) else {
            continue;
        };
        let lo = (bucket_range(first).0.max(1) as f64).log10();
        let hi = ((bucket_range(last).1.max(2)) as f64).log10().max(lo + 1.0);
        let peak = used.iter().map(|&i| hist.buckets[i]).max().unwrap_or(1) as f64;
        let (x0, x1, y0, y1) = (pad, w - pad, top + ph - 30.0, top + 26.0);
        let x = |v: u64| x0 + ((v.max(1) as f64).log10() - lo) / (hi - lo) * (x1 - x0);
        let _ = writeln!(
            o,
            "<line x1=\"{x0}\" y1=\"{y0}\" x2=\"{x1}\" y2=\"{y0}\" stroke=\"black\"/>"
        );
        for &i in &used {
            let (a, b) = bucket_range(i);
            let bh = hist.buckets[i] as f64 / peak * (y0 - y1);
            let (xa, xb) = (x(a), x(b + 1));
            let _ = writeln!(o, "<rect x=\"{xa:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"steelblue\"/>", y0 - bh, (xb - xa).max(1.0));
        }
        let mut decade = 10f64.powf(lo.floor());
        while decade <= 10f64.powf(hi) {
            if decade.log10() >= lo {
                let xd = x(decade as u64);
                let _ = writeln!(
                    o,
                    "<text x=\"{xd:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    y0 + 14.0,
                    decade as u64
                );
            }
            decade *= 10.0;
        }
        for (label, v, colour) in [
            ("p50", p50, "green"),
            ("p99", p99, "orange"),
            ("p99.9", p999, "red"),
            ("max", max, "black"),
        ] {
            if let Some(v) = v {
                let xv = x(v);
                let _ = writeln!(o, "<line x1=\"{xv:.1}\" y1=\"{y1}\" x2=\"{xv:.1}\" y2=\"{y0}\" stroke=\"{colour}\" stroke-dasharray=\"4 2\"/><text x=\"{xv:.1}\" y=\"{}\" fill=\"{colour}\">{label}</text>", y1 - 2.0);
            }
        }
    }
    o.push_str("</svg>\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_latencies() {
        assert_eq!(short_ns(512), "512ns");
        assert_eq!(short_ns(16_384), "16.384µs");
        assert_eq!(short_ns(2_000_000), "2ms");
        assert_eq!(short_ns(3_500_000_000), "3.5s");
    }

    #[test]
    fn a_series_plot_draws_every_point_in_its_range() {
        let svg = series_svg("PnL <USD>", &[(0.0, -2.0), (1.0, 0.0), (2.0, 3.0)]);
        assert!(
            svg.contains("PnL &lt;USD&gt; (min -2.00, max 3.00)"),
            "{svg}"
        );
        // x from 40 to 760, y from 260 (min) to 40 (max).
        assert!(
            svg.contains("points=\"40.0,260.0 400.0,172.0 760.0,40.0 \""),
            "{svg}"
        );
        let empty = series_svg("nothing", &[]);
        assert!(empty.contains("points=\"\""), "{empty}");
    }

    #[test]
    fn a_histogram_line_shows_each_octave_s_share() {
        let mut h = LatencyHistogram::default();
        assert_eq!(histogram_line(&h, 12), "(empty)");
        // 8 samples in [1024, 2048), 4 in [4096, 8192), 1 in [65536, ...).
        for _ in 0..8 {
            h.record(1_500);
        }
        for _ in 0..4 {
            h.record(5_000);
        }
        h.record(70_000);
        assert_eq!(histogram_line(&h, 12), "1.024µs █ ▄   ▁ 131.072µs");
        // Narrower: the slow tail is merged into the last bar.
        assert_eq!(histogram_line(&h, 3), "1.024µs █ ▅ 8.192µs");
    }
}
