//! Host tools for market data.
//!
//! - [`model`]: a deterministic synthetic ITCH 5.0 trading day (the lab's
//!   exchange and tests can drive it message by message).
//! - [`behaviour`]: the participants' behaviour the day is built from (fair
//!   price walk, order placement and sizes, stale touches), shared with the
//!   simulated exchange's background flow.
//! - [`pcap`]: classic pcap files and a MoldUDP64/UDP/IPv4/Ethernet feed
//!   writer.
//! - [`replay`]: decode + L3 book over a recorded day, with counters, BBO
//!   changes as CSV and final depth.
//!
//! The binaries `feedgen` and `replay` are thin command lines over these.
//! Both live in this one crate because they share the pcap code and the day
//! model, and the generator → replay end-to-end test belongs next to both.
//! Unlike the appliance's pipeline crates this is a std crate: it writes
//! files, shows progress and maps inputs into memory.
#![deny(unsafe_code)]

pub mod behaviour;
pub mod model;
pub mod pcap;
pub mod replay;
pub mod rng;
pub mod survey;

use std::io::{self, Write};

use protocol::itch::write_framed;
use protocol::moldudp64::SessionId;

pub use model::{Config, ConfigError, Generator, Stats, TimedMessage};

/// MoldUDP64 session name for a seed: `FG` and the seed's last 8 digits.
pub fn session_for_seed(seed: u64) -> SessionId {
    let mut s = *b"FG00000000";
    let mut v = seed % 100_000_000;
    for b in s[2..].iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
    s
}

/// Runs `generator` to the end, writing the NASDAQ file format to `nasdaq`
/// and/or MoldUDP64 frames to `pcap`. `progress` is called every 2^16
/// messages and once at the end.
pub fn write_day<A: Write, B: Write>(
    generator: &mut Generator,
    mut nasdaq: Option<&mut A>,
    mut pcap: Option<&mut pcap::MoldPcapWriter<B>>,
    mut progress: impl FnMut(&Stats),
) -> io::Result<()> {
    let mut buf = [0u8; 64];
    while let Some(m) = generator.next() {
        let n = write_framed(&m.message, &mut buf)
            .map_err(|e| io::Error::other(format!("encode: {e}")))?;
        if let Some(out) = nasdaq.as_deref_mut() {
            out.write_all(&buf[..n])?;
        }
        if let Some(p) = pcap.as_deref_mut() {
            p.push(&buf[2..n], m.timestamp)?;
        }
        if generator.stats().messages & 0xffff == 0 {
            progress(generator.stats());
        }
    }
    progress(generator.stats());
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn session_names_carry_the_seed() {
        assert_eq!(&super::session_for_seed(42), b"FG00000042");
        assert_eq!(&super::session_for_seed(123_456_789_012), b"FG56789012");
    }
}
