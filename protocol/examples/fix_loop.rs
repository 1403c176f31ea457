//! FIX decode loop for instruction counting, without criterion.
//!
//! cargo build --release -p protocol --example fix_loop
//! valgrind --tool=callgrind --toggle-collect='*fix_loop::decode_all*' \
//!     target/release/examples/fix_loop ITERATIONS [single] [layouts|kept|in-place]
//!
//! `single` decodes only the benchmark's partial fill (else a mix of four
//! execution reports), `layouts` goes through a `FixDecoder`, `kept` too
//! and into one view kept across messages, `in-place` into a fresh view
//! per message made by the caller (how the session decodes).
//!
//! Run twice with different iteration counts and take the difference of
//! the instruction totals over the difference of the counts: what remains
//! is the cost of one decode (checked view and one lookup) of each message
//! of a venue's mix of execution reports. Run natively it prints the
//! thread CPU time per decode.

#[path = "../benches/support/exec_reports.rs"]
mod exec_reports;

use protocol::fix::{FixDecoder, FixMessage, FixVersion};
use std::hint::black_box;

#[inline(never)]
fn decode_all(msgs: &[&[u8]], iterations: usize) -> usize {
    let mut found = 0;
    for _ in 0..iterations {
        for m in msgs {
            let view = FixMessage::new_checked(black_box(m)).unwrap();
            found += black_box(view.get(151)).map_or(0, |v| v.len());
        }
    }
    found
}

#[inline(never)]
fn decode_all_kept(decoder: &mut FixDecoder, msgs: &[&[u8]], iterations: usize) -> usize {
    let mut found = 0;
    let mut view = FixMessage::empty();
    for _ in 0..iterations {
        for m in msgs {
            decoder.reparse(&mut view, black_box(m), true).unwrap();
            found += black_box(view.get(151)).map_or(0, |v| v.len());
        }
    }
    found
}

#[inline(never)]
fn decode_all_in_place(decoder: &mut FixDecoder, msgs: &[&[u8]], iterations: usize) -> usize {
    let mut found = 0;
    for _ in 0..iterations {
        for m in msgs {
            let mut view = FixMessage::empty();
            decoder.reparse(&mut view, black_box(m), true).unwrap();
            found += black_box(view.get(151)).map_or(0, |v| v.len());
        }
    }
    found
}

#[inline(never)]
fn decode_all_layouts(decoder: &mut FixDecoder, msgs: &[&[u8]], iterations: usize) -> usize {
    let mut found = 0;
    for _ in 0..iterations {
        for m in msgs {
            let view = decoder.new_checked(black_box(m)).unwrap();
            found += black_box(view.get(151)).map_or(0, |v| v.len());
        }
    }
    found
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let flags: Vec<String> = std::env::args().skip(2).collect();
    let single = flags.iter().any(|a| a == "single");
    let layouts = flags.iter().any(|a| a == "layouts");
    let kept = flags.iter().any(|a| a == "kept");
    let in_place = flags.iter().any(|a| a == "in-place");
    let owned = if single {
        vec![exec_reports::partial_fill(FixVersion::Fix44)]
    } else {
        exec_reports::mix(FixVersion::Fix44)
    };
    let msgs: Vec<&[u8]> = owned.iter().map(|m| &m[..]).collect();
    let start = cpu_time();
    let mut decoder = FixDecoder::new();
    let found = if in_place {
        decode_all_in_place(&mut decoder, &msgs, iterations)
    } else if kept {
        decode_all_kept(&mut decoder, &msgs, iterations)
    } else if layouts {
        decode_all_layouts(&mut decoder, &msgs, iterations)
    } else {
        decode_all(&msgs, iterations)
    };
    let ns = cpu_time() - start;
    println!(
        "{} decodes, {:.1} ns each (thread CPU), checksum {found}",
        iterations * msgs.len(),
        ns as f64 / (iterations * msgs.len()) as f64
    );
}

fn cpu_time() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
