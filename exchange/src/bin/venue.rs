//! `venue`: the lab's simulated venue as a process of its own — a FIX 4.2
//! or 4.4 acceptor on a TCP port in front of price-time matching books with
//! background participants — to rehearse a FIX client against, such as the
//! gateway's `fix-initiator`:
//!
//! ```text
//! cargo run -p exchange --bin venue -- --listen 127.0.0.1:9878 \
//!     --venue-comp-id VENUE --client-comp-id CLIENT --symbol AAPL=191.25
//! ```
//!
//! It runs until `--seconds` have passed (then logs the client out) or it is
//! interrupted, printing its counters every few seconds. The feed it would
//! publish goes nowhere (the lab's QEMU runs receive it).

use clap::Parser;
use exchange::matching::Owner;
use exchange::server::{FlowRate, Server, SessionSpec, Shared};
use exchange::venue::Venue;
use protocol::fix::FixVersion;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use types::Price;

#[derive(Parser, Debug)]
#[command(about = "The lab's simulated venue: a FIX acceptor in front of matching books")]
struct Args {
    /// Address the FIX acceptor listens on.
    #[arg(long, default_value = "127.0.0.1:9878")]
    listen: SocketAddr,
    /// Our SenderCompID.
    #[arg(long, default_value = "VENUE")]
    venue_comp_id: String,
    /// The client's SenderCompID.
    #[arg(long, default_value = "CLIENT")]
    client_comp_id: String,
    /// FIX version: 4.2 or 4.4.
    #[arg(long, default_value = "4.4")]
    fix_version: String,
    /// HeartBtInt the venue expects, in seconds.
    #[arg(long, default_value_t = 30)]
    heartbeat_secs: u32,
    /// A listing as SYMBOL=PRICE (its opening fair price, in dollars);
    /// repeat for more.
    #[arg(long = "symbol", default_value = "AAPL=191.25")]
    symbols: Vec<String>,
    /// Background participants' actions per listing per second (0: only
    /// the client's orders trade, against each other).
    #[arg(long, default_value_t = 20)]
    background: u32,
    /// Answer OrderMassCancelRequest (otherwise a BusinessMessageReject).
    #[arg(long)]
    mass_cancel: bool,
    /// Keep the client's orders when its connection drops (the default
    /// cancels them).
    #[arg(long)]
    no_cancel_on_disconnect: bool,
    /// Stop after this many seconds (default: run until interrupted).
    #[arg(long)]
    seconds: Option<u64>,
    /// Seed of the background flow.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `SYMBOL=PRICE` as a listing.
fn listing(text: &str) -> Result<(String, Price), String> {
    let (symbol, price) = text
        .split_once('=')
        .ok_or_else(|| format!("--symbol {text:?}: expected SYMBOL=PRICE"))?;
    if symbol.is_empty() || symbol.len() > 8 {
        return Err(format!("--symbol {text:?}: a symbol has 1 to 8 characters"));
    }
    let price = protocol::fix::decode::parse_price(price.as_bytes())
        .filter(|p| p.0 > 0)
        .ok_or_else(|| format!("--symbol {text:?}: the price must be a positive number"))?;
    Ok((symbol.to_string(), price))
}

fn run(args: Args) -> Result<(), String> {
    let version = FixVersion::from_name(&args.fix_version)
        .ok_or_else(|| format!("--fix-version {:?}: expected 4.2 or 4.4", args.fix_version))?;
    let listings = args
        .symbols
        .iter()
        .map(|s| listing(s))
        .collect::<Result<Vec<_>, _>>()?;
    let names: Vec<(&str, Price)> = listings.iter().map(|(s, p)| (s.as_str(), *p)).collect();
    let venue = Venue::on_lab_feed(*b"VENUEDAY01", &names, args.seed);
    let session = SessionSpec {
        listen: args.listen,
        version,
        venue_comp_id: args.venue_comp_id.clone(),
        client_comp_id: args.client_comp_id.clone(),
        heart_bt_int_s: args.heartbeat_secs,
        cancel_on_disconnect: !args.no_cancel_on_disconnect,
        mass_cancel: args.mass_cancel,
        owner: Owner(1),
    };
    let flow = FlowRate {
        actions_per_second: args.background,
    };
    let server = Server::new(venue, vec![session], None, flow)
        .map_err(|e| format!("listening on {}: {e}", args.listen))?;
    let bound = server
        .session_addrs()
        .first()
        .copied()
        .unwrap_or(args.listen);
    println!(
        "venue: FIX {} acceptor on {bound}, {} ← {}, listings {}",
        args.fix_version,
        args.venue_comp_id,
        args.client_comp_id,
        args.symbols.join(" ")
    );
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Arc::new(Mutex::new(Shared::default()));
    let handle = {
        let (stop, shared) = (stop.clone(), shared.clone());
        std::thread::spawn(move || server.run(stop, Some(shared)))
    };
    let started = Instant::now();
    let mut printed = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let done = args
            .seconds
            .is_some_and(|s| started.elapsed() >= Duration::from_secs(s));
        if done || printed.elapsed() >= Duration::from_secs(5) {
            printed = Instant::now();
            if let Ok(s) = shared.lock() {
                println!(
                    "venue: logons {} orders {} cancels {} replaces {} reports {} fills {} resting {}",
                    s.stats.logons,
                    s.stats.orders_received,
                    s.stats.cancels_received,
                    s.stats.replaces_received,
                    s.stats.reports_sent,
                    s.session_fills,
                    s.session_open_orders
                );
            }
        }
        if done {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    handle
        .join()
        .map_err(|_| "the venue's loop panicked".to_string())?;
    Ok(())
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("venue: {e}");
        std::process::exit(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_are_symbol_equals_price() {
        assert_eq!(
            listing("AAPL=191.25"),
            Ok(("AAPL".into(), Price(1_912_500)))
        );
        for bad in ["AAPL", "=1", "TOOLONGNAME=1", "AAPL=x", "AAPL=-1", "AAPL=0"] {
            assert!(listing(bad).is_err(), "{bad}");
        }
    }
}
