//! Shares and notional entered within a sliding window, in eight buckets.
//!
//! An exact sliding sum would have to forget each order on its own, so a
//! check after a quiet spell would walk every order that left the window:
//! O(1) only on average. Here the window is eight buckets of
//! `ceil(window / 7)` ns each: a check adds to the current bucket, and
//! moving on to the next bucket (at most once per bucket, off the order
//! path) forgets the oldest. All eight buckets together always span the
//! whole window before `now` (the current one began at most one bucket
//! ago, the seven before it cover at least a window more), so what the
//! limit counts is never less than what the exact window holds: an order
//! counts for at least the window, and is forgotten within eight buckets
//! (the window and about a seventh more).
//!
//! The order path reads the room left (limit − counted), one compare per
//! amount, and takes what it enters from that room: nothing else. What
//! the current bucket holds is the room it began with less the room left,
//! written into the bucket when the window moves on (off the path), when
//! the rooms are recounted from the buckets.

use crate::limits::VolumeLimit;

/// Buckets kept: the window is the newest seven and a fraction of the eighth.
const BUCKETS: usize = 8;

/// What one bucket holds.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Entered {
    qty: u64,
    notional: u64,
}

impl Entered {
    /// Both amounts added, each saturating.
    fn plus(self, other: Entered) -> Entered {
        Entered {
            qty: self.qty.saturating_add(other.qty),
            notional: self.notional.saturating_add(other.notional),
        }
    }
}

pub(crate) struct VolumeWindow {
    /// The current bucket ends here (exclusive): a check at or after it
    /// moves on first.
    end: u64,
    /// `max_qty` less the shares counted (0 when a lowered limit is
    /// already passed).
    room_qty: u64,
    /// `max_notional` less the notional counted.
    room_notional: u64,
    /// The rooms when the current bucket began: it holds `began − room`
    /// (wrapping, for the rooms of no limit; exact below 2^64 entered in
    /// a bucket, which no real flow comes near).
    began: Entered,
    current: usize,
    bucket_ns: u64,
    /// No limit is configured: every entry is admitted (and still counted,
    /// so that a limit set later knows what was entered before it).
    unlimited: bool,
    limit: VolumeLimit,
    /// What each earlier bucket holds; the current one's entry stays 0
    /// until the window moves on (see `began`).
    buckets: [Entered; BUCKETS],
}

/// What is kept while no limit is configured: the last second's entries.
const UNLIMITED: VolumeLimit = VolumeLimit {
    max_qty: u64::MAX,
    max_notional: u64::MAX,
    window_ns: 1_000_000_000,
};

impl VolumeWindow {
    pub(crate) fn new(limit: Option<VolumeLimit>) -> VolumeWindow {
        let unlimited = limit.is_none();
        let limit = limit.unwrap_or(UNLIMITED);
        let mut w = VolumeWindow {
            unlimited,
            // The first check moves on to the bucket of its time.
            end: 0,
            room_qty: 0,
            room_notional: 0,
            began: Entered::default(),
            current: 0,
            bucket_ns: bucket_ns(limit.window_ns),
            limit,
            buckets: [Entered::default(); BUCKETS],
        };
        w.recount(Entered::default());
        w
    }

    /// Would `qty` shares and `notional` more, entered at `now`, stay
    /// within the limit? Moves on to the bucket of `now` first (which only
    /// forgets what has left the window).
    #[inline(always)]
    pub(crate) fn admits(&mut self, now: u64, qty: u64, notional: u64) -> bool {
        if now >= self.end {
            self.move_on(now);
        }
        if qty > self.room_qty {
            return self.beyond_room::<0>();
        }
        if notional > self.room_notional {
            return self.beyond_room::<1>();
        }
        true
    }

    /// [`VolumeWindow::admits`] beyond a room: admitted only without a
    /// limit (off the path). One instance per amount: with a single one the
    /// compiler tests both compares' flags together, three instructions
    /// more on the path of every order.
    #[cold]
    #[inline(never)]
    fn beyond_room<const AMOUNT: u8>(&self) -> bool {
        core::hint::black_box(AMOUNT);
        self.unlimited
    }

    /// Counts what [`VolumeWindow::admits`] just admitted (with no other
    /// entry or time in between): in the current bucket, by the room it
    /// takes. (Under a limit the entry was within the room, which cannot
    /// wrap; without one the room is not read.)
    #[inline(always)]
    pub(crate) fn enter(&mut self, qty: u64, notional: u64) {
        self.room_qty = self.room_qty.wrapping_sub(qty);
        self.room_notional = self.room_notional.wrapping_sub(notional);
    }

    /// What the current bucket holds.
    fn in_current(&self) -> Entered {
        Entered {
            qty: self.began.qty.wrapping_sub(self.room_qty),
            notional: self.began.notional.wrapping_sub(self.room_notional),
        }
    }

    /// Takes back an entry made by the last check (an order that never
    /// left): as much of it as the current bucket holds.
    pub(crate) fn take_back(&mut self, qty: u64, notional: u64) {
        let now_in = self.in_current();
        self.recount(Entered {
            qty: now_in.qty - qty.min(now_in.qty),
            notional: now_in.notional - notional.min(now_in.notional),
        });
    }

    /// Moves to the bucket that holds `now`, forgetting the buckets that
    /// have left the window (all of them after a quiet spell of a window).
    #[cold]
    #[inline(never)]
    fn move_on(&mut self, now: u64) {
        let steps = (now - self.end) / self.bucket_ns + 1;
        self.buckets[self.current % BUCKETS] = self.in_current();
        for _ in 0..steps.min(BUCKETS as u64) {
            self.current = (self.current + 1) % BUCKETS;
            self.buckets[self.current] = Entered::default();
        }
        self.end = self
            .end
            .saturating_add(steps.saturating_mul(self.bucket_ns));
        self.recount(Entered::default());
    }

    /// Takes a new limit at `now`. With the same window the buckets stay as
    /// they are; with another, what they hold is counted as entered now
    /// (all of it in a current bucket of the new size, starting at `now`):
    /// it stays counted for at least the new window, never less. (While
    /// no limit is set the last second is kept: a limit set then counts
    /// up to a second and a seventh of entries for its first window.)
    pub(crate) fn set_limit(&mut self, limit: Option<VolumeLimit>, now: u64) {
        self.unlimited = limit.is_none();
        let limit = limit.unwrap_or(UNLIMITED);
        let mut now_in = self.in_current();
        if limit.window_ns != self.limit.window_ns {
            now_in = self.counted();
            self.buckets = [Entered::default(); BUCKETS];
            self.bucket_ns = bucket_ns(limit.window_ns);
            self.end = now.saturating_add(self.bucket_ns);
        }
        self.limit = limit;
        self.recount(now_in);
    }

    /// What the buckets hold, the current one included (saturating: with
    /// the rooms kept, no sum passes a limit, and no limit is `u64::MAX`).
    fn counted(&self) -> Entered {
        self.earlier().plus(self.in_current())
    }

    /// What the earlier buckets hold (the current one's entry is 0).
    fn earlier(&self) -> Entered {
        self.buckets
            .iter()
            .fold(Entered::default(), |sum, &b| sum.plus(b))
    }

    /// Sets the rooms from the earlier buckets and `now_in`, what the
    /// current bucket holds from here on.
    fn recount(&mut self, now_in: Entered) {
        let counted = self.earlier().plus(now_in);
        self.room_qty = self.limit.max_qty.saturating_sub(counted.qty);
        self.room_notional = self.limit.max_notional.saturating_sub(counted.notional);
        self.began = Entered {
            qty: self.room_qty.wrapping_add(now_in.qty),
            notional: self.room_notional.wrapping_add(now_in.notional),
        };
    }

    /// Shares and notional the limit counts now (for reports and tests).
    pub(crate) fn entered(&self) -> (u64, u64) {
        let c = self.counted();
        (c.qty, c.notional)
    }
}

/// A seventh of the window, rounded up (at least 1 ns): seven buckets then
/// cover it whole.
fn bucket_ns(window_ns: u64) -> u64 {
    window_ns.div_ceil(BUCKETS as u64 - 1).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max_qty: u64, max_notional: u64, window_ns: u64) -> Option<VolumeLimit> {
        Some(VolumeLimit {
            max_qty,
            max_notional,
            window_ns,
        })
    }

    /// Enters when admitted; says whether it was.
    fn try_enter(w: &mut VolumeWindow, now: u64, qty: u64, notional: u64) -> bool {
        let ok = w.admits(now, qty, notional);
        if ok {
            w.enter(qty, notional);
        }
        ok
    }

    #[test]
    fn a_limit_is_reached_exactly_on_either_amount() {
        let mut w = VolumeWindow::new(limit(1_000, 50_000, 7_000));
        assert!(try_enter(&mut w, 10, 600, 10_000));
        assert!(!try_enter(&mut w, 11, 401, 10), "one share too many");
        assert!(try_enter(&mut w, 12, 400, 10));
        let mut w = VolumeWindow::new(limit(1_000, 50_000, 7_000));
        assert!(try_enter(&mut w, 10, 1, 49_999));
        assert!(!try_enter(&mut w, 11, 1, 2), "notional one unit too many");
        assert!(try_enter(&mut w, 12, 1, 1));
        assert_eq!(w.entered(), (2, 50_000));
    }

    /// Against the exact window: what is counted is never less than what
    /// was entered within the window, and an entry is forgotten at most
    /// eight buckets (a window and about a seventh) after it was entered.
    #[test]
    fn an_entry_counts_for_the_window_and_at_most_a_bucket_longer() {
        for window in [1u64, 2, 6, 7, 8, 1_000, 7_000, 999_999] {
            let bucket = bucket_ns(window);
            for entered_at in [0u64, 1, bucket - 1, bucket, 5 * bucket + bucket / 2] {
                let mut w = VolumeWindow::new(limit(1, u64::MAX, window));
                assert!(try_enter(&mut w, entered_at, 1, 1));
                // Refused for the whole window.
                for now in [entered_at, entered_at + window / 2, entered_at + window - 1] {
                    assert!(
                        !w.admits(now, 1, 1),
                        "window {window}, at {entered_at}, now {now}"
                    );
                }
                // And admitted again eight buckets after.
                assert!(
                    w.admits(entered_at + 8 * bucket, 1, 1),
                    "window {window}, at {entered_at}: still counted eight buckets after"
                );
            }
        }
    }

    #[test]
    fn a_quiet_spell_forgets_everything_and_a_clock_going_back_counts_now() {
        let mut w = VolumeWindow::new(limit(10, u64::MAX, 7_000));
        assert!(try_enter(&mut w, 1_000, 10, 1));
        assert!(!w.admits(900, 1, 1), "an earlier time is still inside");
        assert!(try_enter(&mut w, 1_000_000_000, 10, 1), "long after");
        assert_eq!(w.entered(), (10, 1));
    }

    #[test]
    fn without_a_limit_nothing_is_refused_and_a_later_limit_counts_what_went_before() {
        let mut w = VolumeWindow::new(None);
        for i in 0..10_000u64 {
            assert!(try_enter(&mut w, i * 1_000, u32::MAX as u64, 1 << 50));
        }
        assert_eq!(w.entered(), (10_000 * u32::MAX as u64, 10_000 << 50));
        let mut w = VolumeWindow::new(None);
        assert!(try_enter(&mut w, 1_000, 500, 1));
        w.set_limit(limit(500, u64::MAX, 7_000), 2_000);
        assert!(!w.admits(2_000, 1, 1), "the entry before the limit counts");
        assert!(w.admits(2_000 + 8 * bucket_ns(7_000), 1, 1));
        w.set_limit(None, 3_000);
        assert!(w.admits(3_000, u64::MAX, u64::MAX));
    }

    #[test]
    fn a_take_back_frees_the_room_of_the_last_entry() {
        let mut w = VolumeWindow::new(limit(100, u64::MAX, 7_000));
        assert!(try_enter(&mut w, 5, 100, 1));
        assert!(!w.admits(6, 1, 1));
        w.take_back(100, 1);
        assert!(try_enter(&mut w, 6, 100, 1));
        // More than the bucket holds takes back what it holds, no more.
        w.take_back(1_000, 1_000);
        assert_eq!(w.entered(), (0, 0));
    }

    #[test]
    fn a_lowered_limit_refuses_until_the_window_has_passed() {
        let mut w = VolumeWindow::new(limit(1_000, u64::MAX, 7_000));
        assert!(try_enter(&mut w, 0, 900, 1));
        w.set_limit(limit(500, u64::MAX, 7_000), 100);
        assert!(!w.admits(100, 1, 1), "already past the new limit");
        assert!(w.admits(8_000, 500, 1));
    }

    #[test]
    fn a_new_window_keeps_what_was_entered_for_the_whole_new_window() {
        // From a long window to a short one: entered volume counts for at
        // least the new window from the change.
        let mut w = VolumeWindow::new(limit(1_000, u64::MAX, 7_000_000));
        assert!(try_enter(&mut w, 0, 1_000, 1));
        w.set_limit(limit(1_000, u64::MAX, 700), 50);
        assert!(!w.admits(50 + 699, 1, 1));
        assert!(
            w.admits(50 + 8 * bucket_ns(700), 1, 1),
            "held no longer than eight new buckets"
        );
        // From a short window to a long one: the same.
        let mut w = VolumeWindow::new(limit(1_000, u64::MAX, 700));
        assert!(try_enter(&mut w, 0, 1_000, 1));
        w.set_limit(limit(1_000, u64::MAX, 7_000_000), 600);
        assert!(!w.admits(600 + 6_999_999, 1, 1));
        assert!(w.admits(600 + 8 * bucket_ns(7_000_000), 1, 1));
    }
}
