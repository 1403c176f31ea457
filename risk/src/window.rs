//! Exact sliding-window message counting.
//!
//! A throttle of "at most N messages in any W ns" is enforced by remembering
//! the times of the last [`MAX_THROTTLE_MSGS`] accepted messages in a ring:
//! a new message is refused when the N-th most recent one is younger than W.
//! Unlike a token bucket this never lets 2N through around a window edge, and
//! because the ring always keeps the maximum depth, N can change at run time
//! and is honoured exactly from the next message on.

use crate::limits::{Throttle, MAX_THROTTLE_MSGS};

const DEPTH: usize = MAX_THROTTLE_MSGS as usize;

#[derive(Clone)]
pub(crate) struct Window {
    times: [u64; DEPTH],
    /// Index of the next write.
    head: u16,
    /// How many times are stored (saturates at DEPTH).
    len: u16,
}

impl Window {
    pub(crate) const fn new() -> Window {
        Window {
            times: [0; DEPTH],
            head: 0,
            len: 0,
        }
    }

    /// The time of the `n`-th most recent entry (1 = newest).
    #[inline]
    fn nth_newest(&self, n: u32) -> Option<u64> {
        if n == 0 || n > self.len as u32 {
            return None;
        }
        let idx = (self.head as usize + DEPTH - n as usize) % DEPTH;
        self.times.get(idx).copied()
    }

    /// True when one more message at `now` would exceed `t`.
    #[inline]
    pub(crate) fn would_exceed(&self, t: &Throttle, now: u64) -> bool {
        if t.max_msgs == 0 {
            return true;
        }
        match self.nth_newest(t.max_msgs) {
            // A clock that went backwards counts as "inside the window": fail closed.
            Some(ts) => now.saturating_sub(ts) < t.window_ns,
            None => false,
        }
    }

    #[inline]
    pub(crate) fn record(&mut self, now: u64) {
        if let Some(slot) = self.times.get_mut(self.head as usize) {
            *slot = now;
        }
        self.head = ((self.head as usize + 1) % DEPTH) as u16;
        if (self.len as usize) < DEPTH {
            self.len += 1;
        }
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.head = 0;
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
}
