//! Exact sliding-window message counting.
//!
//! A throttle of "at most N messages in any W ns" is enforced by remembering
//! the times of the last [`MAX_THROTTLE_MSGS`] accepted messages in a ring:
//! a new message is refused when the N-th most recent one is younger than W.
//! Unlike a token bucket this never lets 2N through around a window edge, and
//! because the ring always keeps the maximum depth, N can change at run time
//! and is honoured exactly from the next message on.

use alloc::boxed::Box;
use alloc::vec;

use crate::limits::{Throttle, MAX_THROTTLE_MSGS};

const DEPTH: usize = MAX_THROTTLE_MSGS as usize;
// The ring is indexed by a `u8` that wraps by itself: no modulo, no bounds check.
const _: () = assert!(DEPTH == 256, "the ring index is a u8");

#[derive(Clone)]
pub(crate) struct Window {
    /// Messages recorded since the last clear. The next write goes to
    /// `times[seq mod DEPTH]`, which is also the oldest entry once
    /// `seq ≥ DEPTH`; `min(seq, DEPTH)` entries are stored.
    seq: u64,
    times: [u64; DEPTH],
}

impl Window {
    pub(crate) const fn new() -> Window {
        Window {
            seq: 0,
            times: [0; DEPTH],
        }
    }

    /// True when one more message at `now` would exceed `t`. A throttle
    /// allowing more than `DEPTH` messages never does (the engine uses
    /// `max_msgs == u32::MAX` for "no throttle").
    #[inline(always)]
    pub(crate) fn would_exceed(&self, t: &Throttle, now: u64) -> bool {
        let n = t.max_msgs;
        if n == 0 {
            return true;
        }
        if n as u64 > self.seq {
            return false;
        }
        // 1 ≤ n ≤ min(seq, DEPTH): the n-th newest entry.
        let ts = self.times[self.seq.wrapping_sub(n as u64) as u8 as usize];
        // A clock that went backwards counts as "inside the window": fail closed.
        now.saturating_sub(ts) < t.window_ns
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, now: u64) {
        self.times[self.seq as u8 as usize] = now;
        self.seq += 1;
    }

    pub(crate) fn clear(&mut self) {
        self.seq = 0;
    }
}

/// A throttle as the order path reads it (derived when limits change):
/// one compare decides whether the ring is looked at, one whether its
/// entry is inside the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// Messages allowed per window; `u64::MAX` for no throttle (more than a
    /// window ever counts, so it never refuses).
    n: u64,
    /// `window_ns − 1`: an entry at most this old is inside the window;
    /// `u64::MAX` when `max_msgs` is 0 (every entry is, so every message is
    /// refused).
    span: u64,
}

impl Rate {
    /// No throttle: never refuses.
    pub(crate) const NONE: Rate = Rate {
        n: u64::MAX,
        span: 0,
    };

    /// `t` in the order path's form (`None`: no throttle).
    pub(crate) fn new(t: Option<Throttle>) -> Rate {
        match t {
            None => Rate::NONE,
            Some(t) if t.max_msgs == 0 => Rate {
                n: 0,
                span: u64::MAX,
            },
            // A validated throttle has `window_ns > 0`; a zero window
            // admits everything, as `Window::would_exceed` does.
            Some(t) => match t.window_ns.checked_sub(1) {
                Some(span) => Rate {
                    n: t.max_msgs as u64,
                    span,
                },
                None => Rate::NONE,
            },
        }
    }
}

/// `N` windows side by side, the engine's per-strategy and per-venue
/// throttles: the message counters sit together in the engine (one cache
/// line holds eight), the rings in one allocation made at construction.
/// Same rules as [`Window`].
pub(crate) struct Windows<const N: usize> {
    seq: [u64; N],
    /// A boxed array, not a slice: an index below `N` needs no check.
    times: Box<[[u64; DEPTH]; N]>,
}

impl<const N: usize> Windows<N> {
    pub(crate) fn new() -> Windows<N> {
        Windows {
            seq: [0; N],
            times: match vec![[0; DEPTH]; N].into_boxed_slice().try_into() {
                Ok(times) => times,
                // The vector was made with exactly N rings.
                Err(_) => unreachable!("N rings"),
            },
        }
    }

    /// True when one more message at `now` in window `i` would exceed `r`
    /// (as [`Window::would_exceed`] with the throttle `r` was made from); a
    /// window that does not exist refuses.
    #[inline(always)]
    pub(crate) fn would_exceed(&self, i: usize, r: &Rate, now: u64) -> bool {
        let (Some(&seq), Some(times)) = (self.seq.get(i), self.times.get(i)) else {
            return true;
        };
        // Fewer than n messages so far (never true for n = 0).
        if seq < r.n {
            return false;
        }
        // 0 ≤ n ≤ min(seq, DEPTH): the n-th newest entry (n = 0: any entry,
        // inside a span of u64::MAX).
        let ts = times[seq.wrapping_sub(r.n) as u8 as usize];
        // A clock that went backwards counts as "inside the window": fail closed.
        now.saturating_sub(ts) <= r.span
    }

    #[inline(always)]
    pub(crate) fn record(&mut self, i: usize, now: u64) {
        if let (Some(seq), Some(times)) = (self.seq.get_mut(i), self.times.get_mut(i)) {
            times[*seq as u8 as usize] = now;
            *seq += 1;
        }
    }

    /// Takes back the newest record of window `i` (a message recorded but
    /// never sent). Once the ring has wrapped, the entry that record
    /// overwrote stays lost: the window then holds the newer time in its
    /// place, which can only refuse more, never less.
    pub(crate) fn unrecord(&mut self, i: usize) {
        if let Some(seq) = self.seq.get_mut(i) {
            *seq = seq.saturating_sub(1);
        }
    }

    /// Writes every ring once so no page is first touched later.
    pub(crate) fn prefault(&mut self) {
        for ring in self.times.iter_mut() {
            *ring = core::hint::black_box(*ring);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_n_in_any_window() {
        let t = Throttle {
            max_msgs: 3,
            window_ns: 100,
        };
        let mut w = Window::new();
        for now in [0, 10, 20] {
            assert!(!w.would_exceed(&t, now));
            w.record(now);
        }
        assert!(w.would_exceed(&t, 99), "4th inside 100 ns of the 1st");
        assert!(!w.would_exceed(&t, 100), "1st has left the window");
        w.record(100);
        assert!(w.would_exceed(&t, 109));
        assert!(!w.would_exceed(&t, 110));
    }

    #[test]
    fn limit_can_shrink_at_run_time() {
        let mut w = Window::new();
        for now in 0..10 {
            w.record(now);
        }
        let tight = Throttle {
            max_msgs: 2,
            window_ns: 5,
        };
        assert!(w.would_exceed(&tight, 12), "8 and 9 are within 5 ns of 12");
        assert!(!w.would_exceed(&tight, 13));
        let zero = Throttle {
            max_msgs: 0,
            window_ns: 5,
        };
        assert!(w.would_exceed(&zero, 1_000));
    }

    #[test]
    fn ring_wraps() {
        let mut w = Window::new();
        for now in 0..(DEPTH as u64 * 3) {
            w.record(now);
        }
        let t = Throttle {
            max_msgs: MAX_THROTTLE_MSGS,
            window_ns: DEPTH as u64,
        };
        let last = DEPTH as u64 * 3 - 1;
        assert!(w.would_exceed(&t, last));
        assert!(!w.would_exceed(&t, last + 1));
    }

    #[test]
    fn side_by_side_windows_match_single_ones() {
        let mut many = Windows::<3>::new();
        let mut single = [Window::new(), Window::new(), Window::new()];
        let throttles = [0, 1, 2, 7, 255, 256].map(|max_msgs| Throttle {
            max_msgs,
            window_ns: 40,
        });
        // A deterministic mix of windows and gaps, long enough to wrap the rings.
        let mut now = 0u64;
        for step in 0u64..2_000 {
            now += step * 7 % 13;
            let i = (step * 5 % 3) as usize;
            for t in &throttles {
                for (j, w) in single.iter().enumerate() {
                    let r = Rate::new(Some(*t));
                    assert_eq!(many.would_exceed(j, &r, now), w.would_exceed(t, now));
                    assert!(!many.would_exceed(j, &Rate::NONE, now), "no throttle");
                    assert!(!many.would_exceed(j, &Rate::new(None), now), "no throttle");
                }
            }
            many.record(i, now);
            single[i].record(now);
        }
        assert!(
            many.would_exceed(3, &Rate::new(Some(throttles[4])), now),
            "no such window: refused"
        );
    }
}
