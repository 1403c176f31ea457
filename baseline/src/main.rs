//! `linux-baseline [SECONDS] [ACTIONS_PER_SECOND]`: the appliance's pipeline crates as a Linux
//! process on kernel sockets against the lab's exchange (in-process, on its
//! own thread), then the captured feed replayed through the same pipeline
//! with no sockets; prints both tick-to-trade histograms side by side.

#![deny(unsafe_code)]

use baseline::{replay, run, summary, Exchange, OWNER, SYMBOL};
use std::process::ExitCode;
use std::time::Duration;

/// Raw feed frames kept for the in-process replay.
const CAPTURE: usize = 50_000;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut number = |default: u64| match args.next().as_deref() {
        None => Some(default),
        Some(s) => s.parse::<u64>().ok().filter(|&n| n > 0),
    };
    let (Some(seconds), Some(rate)) = (number(10), number(300)) else {
        eprintln!(
            "usage: linux-baseline [SECONDS] [ACTIONS_PER_SECOND]  (whole numbers > 0; defaults 10 and the lab's 300 background actions per listing per second)"
        );
        return ExitCode::from(2);
    };
    let Ok(rate) = u32::try_from(rate) else {
        eprintln!("linux-baseline: ACTIONS_PER_SECOND too large");
        return ExitCode::from(2);
    };
    match go(seconds, rate) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("linux-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}

fn go(seconds: u64, rate: u32) -> std::io::Result<bool> {
    let exchange = Exchange::start(rate, 21)?;
    println!(
        "linux-baseline: venue FIX {} feed {} -> {}; trading {SYMBOL} for {seconds} s; background flow {rate}/s per listing",
        exchange.fix,
        exchange.venue_feed,
        exchange.feed.local_addr()?
    );
    let report = run(&exchange, Duration::from_secs(seconds), CAPTURE)?;
    let server = exchange
        .stop()
        .ok_or_else(|| std::io::Error::other("venue thread failed"))?;
    let replayed = replay(&report.frames, None)?;
    // The live feed's mean inter-arrival time, for a paced replay.
    let gap = report
        .elapsed
        .checked_div(u32::try_from(report.feed_frames).unwrap_or(u32::MAX).max(1))
        .unwrap_or_default()
        .min(Duration::from_millis(5));
    let frames = report.frames.len().min(5_000);
    let paced = replay(&report.frames[..frames], Some(gap))?;

    let h = &report.tick_to_trade;
    let r = &replayed.frame_to_order;
    println!(
        "feed: frames {} dropped {} itch-messages {} malformed {} gaps {} retransmit-requests {} exec-reports {} fix-dropped {}",
        report.feed_frames,
        report.feed_dropped,
        report.itch_messages,
        report.itch_malformed,
        report.gaps,
        report.retransmit_requests,
        report.exec_reports,
        report.fix_dropped
    );
    println!("tick-to-trade (ns), per order-producing datagram:");
    let paced_label = format!(
        "in-process, paced {} us/frame (first {frames})",
        gap.as_micros()
    );
    for (label, hist) in [
        ("socket path: recv_from -> write returned", h),
        (
            "socket path: recv_from -> FIX bytes encoded",
            &report.rx_to_encoded,
        ),
        ("in-process:  frame in -> FIX bytes in Vec", r),
        (paced_label.as_str(), &paced.frame_to_order),
    ] {
        println!("  {label:<46} {}", summary(hist));
    }
    let (p50s, p50r) = (h.quantile(0.5).unwrap_or(0), r.quantile(0.5).unwrap_or(0));
    if p50r > 0 {
        println!(
            "  ratio of medians, socket path / in-process: {:.1}x",
            p50s as f64 / p50r as f64
        );
    }
    println!(
        "replay: {} frames, orders {} cancels {} replaces {} (acknowledged in memory)",
        replayed.frames, replayed.sent.new, replayed.sent.cancel, replayed.sent.replace
    );
    let stats = server.stats();
    let symbol = types::Symbol::new(SYMBOL).unwrap_or_default();
    let venue_position = server.venue.position(OWNER, symbol);
    let agree = report.logged_on
        && stats.orders_received == report.sent.new
        && stats.cancels_received == report.sent.cancel
        && stats.replaces_received == report.sent.replace
        && venue_position == report.position;
    println!(
        "traded: logged-on {} orders-sent {}/{}/{} (new/cancel/replace) venue-received {}/{}/{} unsent {} position {SYMBOL} baseline {} venue {} -> {}",
        report.logged_on,
        report.sent.new,
        report.sent.cancel,
        report.sent.replace,
        stats.orders_received,
        stats.cancels_received,
        stats.replaces_received,
        report.unsent,
        report.position,
        venue_position,
        if agree { "AGREE" } else { "DISAGREE" }
    );
    Ok(agree)
}
