//! Outgoing sequence numbers kept safe across a crash by a journal that
//! lives elsewhere (the companion's disk) and answers late.
//!
//! After a crash the session logs on again with the `next_out` the journal
//! holds. A number *below* one already sent gets the Logon refused as "too
//! low" and needs a person to fix; a number *above* is harmless (the venue
//! sees a gap, asks for a resend, and gets a SequenceReset-GapFill). So the
//! journal is given a **reservation**, [`SEQ_RESERVE`] beyond the number in
//! use, renewed once fewer than [`SEQ_HEADROOM`] remain — one record per
//! hundred-odd messages instead of one per message — and what counts is
//! what the journal has *confirmed* on disk: writing takes the companion
//! milliseconds, and a queued record is not a durable one.
//!
//! The bound is the session's: given the confirmed `next_out` as its limit
//! ([`super::Session::set_out_limit`]), it sends no new message numbered at
//! or above it. On top of that the caller pauses strategy decisions while
//! fewer than [`DURABLE_MARGIN`] confirmed numbers remain
//! ([`SeqReservation::orders_may_go`]), so cancels and heartbeats still have numbers when
//! new orders stop.

use super::SessionState;

/// Outgoing sequence numbers reserved in the journal ahead of use.
pub const SEQ_RESERVE: u64 = 256;
/// A new reservation is due when fewer than this many reserved numbers are
/// left (far more than one loop turn sends).
pub const SEQ_HEADROOM: u64 = 128;
/// A record the journal has not confirmed after this long is sent again
/// (the companion may have restarted, or failed to write it).
pub const RECONFIRM_NS: u64 = 1_000_000_000;
/// New orders and replaces pause while fewer than this many numbers remain
/// below the journal's confirmed `next_out`; what still goes out (cancels,
/// heartbeats, the Logout) fits in it.
pub const DURABLE_MARGIN: u64 = 64;

/// How far ahead a session reserves, when it renews, and where new orders
/// stop. Larger means fewer journal writes and a larger gap for the venue
/// to fill after a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveSizes {
    /// Numbers reserved ahead of use ([`SEQ_RESERVE`] by default).
    pub reserve: u64,
    /// Renew when fewer than this many are left ([`SEQ_HEADROOM`]).
    pub headroom: u64,
    /// New orders stop this many short of the confirmed number
    /// ([`DURABLE_MARGIN`]).
    pub margin: u64,
}

impl ReserveSizes {
    pub const DEFAULT: ReserveSizes = ReserveSizes {
        reserve: SEQ_RESERVE,
        headroom: SEQ_HEADROOM,
        margin: DURABLE_MARGIN,
    };
    /// The smallest reservation [`ReserveSizes::scaled`] accepts.
    pub const MIN_RESERVE: u64 = 16;

    /// `reserve` ahead, renewed at half of it, new orders stopping a quarter
    /// short (the default's proportions); `None` below
    /// [`ReserveSizes::MIN_RESERVE`] or beyond 2^32.
    pub fn scaled(reserve: u64) -> Option<ReserveSizes> {
        (Self::MIN_RESERVE..=1 << 32)
            .contains(&reserve)
            .then_some(ReserveSizes {
                reserve,
                headroom: reserve / 2,
                margin: reserve / 4,
            })
    }
}

impl Default for ReserveSizes {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// What one session has handed to the journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqReservation {
    sizes: ReserveSizes,
    /// The last record the journal took (not necessarily on disk yet).
    written: Option<SessionState>,
    /// When it took it, or last took it again.
    written_at_ns: u64,
}

impl SeqReservation {
    pub fn new(sizes: ReserveSizes) -> SeqReservation {
        SeqReservation {
            sizes,
            written: None,
            written_at_ns: 0,
        }
    }

    pub fn sizes(&self) -> ReserveSizes {
        self.sizes
    }

    /// Whether new orders may go out on a session whose next outgoing
    /// number is `next_out`, when the journal has confirmed `persisted_out`
    /// on disk (0: nothing yet): the margin must be left.
    pub fn orders_may_go(&self, next_out: u64, persisted_out: u64) -> bool {
        persisted_out >= next_out.saturating_add(self.sizes.margin)
    }

    /// The record the journal needs for a session at `state`, if any:
    /// `next_in` exactly, `next_out` as a reservation; or the last one
    /// again when the journal has not confirmed its `next_out`
    /// (`persisted_out`) for [`RECONFIRM_NS`].
    pub fn due(
        &self,
        state: SessionState,
        persisted_out: u64,
        now_ns: u64,
    ) -> Option<SessionState> {
        self.moved(state).or_else(|| {
            self.written.filter(|w| {
                w.next_out != persisted_out
                    && now_ns.saturating_sub(self.written_at_ns) >= RECONFIRM_NS
            })
        })
    }

    fn moved(&self, state: SessionState) -> Option<SessionState> {
        let reserved = self
            .written
            .map(|w| w.next_out)
            .filter(|&out| out >= state.next_out.saturating_add(self.sizes.headroom));
        match (self.written, reserved) {
            (Some(w), Some(_)) if w.next_in == state.next_in => None,
            (_, Some(out)) => Some(SessionState {
                next_in: state.next_in,
                next_out: out,
            }),
            (_, None) => Some(SessionState {
                next_in: state.next_in,
                next_out: state.next_out.saturating_add(self.sizes.reserve),
            }),
        }
    }

    /// The journal took `record` (from [`SeqReservation::due`]) at `now_ns`.
    pub fn written(&mut self, record: SessionState, now_ns: u64) {
        self.written = Some(record);
        self.written_at_ns = now_ns;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(next_out: u64, next_in: u64) -> SessionState {
        SessionState { next_out, next_in }
    }

    impl SeqReservation {
        /// `due` right after the last write, nothing confirmed.
        fn due_now(&self, state: SessionState) -> Option<SessionState> {
            self.due(state, 0, self.written_at_ns)
        }
    }

    #[test]
    fn the_first_record_reserves_ahead_and_covers_the_next_numbers() {
        let mut r = SeqReservation::default();
        let first = r.due_now(at(1, 1)).expect("nothing journaled yet");
        assert_eq!(first, at(1 + SEQ_RESERVE, 1));
        r.written(first, 0);
        // Sending moves next_out inside the reservation: nothing due.
        assert_eq!(r.due_now(at(100, 1)), None);
        assert_eq!(r.due_now(at(1 + SEQ_RESERVE - SEQ_HEADROOM, 1)), None);
    }

    #[test]
    fn a_renewal_is_due_once_the_headroom_is_used() {
        let mut r = SeqReservation::default();
        r.written(at(257, 1), 0);
        let used = 257 - SEQ_HEADROOM + 1;
        assert_eq!(r.due_now(at(used, 1)), Some(at(used + SEQ_RESERVE, 1)));
    }

    #[test]
    fn an_inbound_change_is_journaled_exactly_with_the_same_reservation() {
        let mut r = SeqReservation::default();
        r.written(at(257, 1), 0);
        assert_eq!(r.due_now(at(10, 7)), Some(at(257, 7)));
        r.written(at(257, 7), 0);
        assert_eq!(r.due_now(at(10, 7)), None);
    }

    #[test]
    fn a_sequence_reset_keeps_the_higher_reservation_the_journal_holds() {
        // Journaling a lower number while the disk may still be read with
        // the higher one is safe either way; keeping it saves a write.
        let mut r = SeqReservation::default();
        r.written(at(5_000, 900), 0);
        assert_eq!(r.due_now(at(1, 1)), Some(at(5_000, 1)));
    }

    #[test]
    fn a_reservation_too_close_to_the_numbers_in_use_is_replaced() {
        let mut r = SeqReservation::default();
        r.written(at(300, 4), 0);
        // A resend or a reconnect moved next_out past the reservation.
        assert_eq!(r.due_now(at(310, 4)), Some(at(310 + SEQ_RESERVE, 4)));
    }

    #[test]
    fn an_unconfirmed_record_is_sent_again_after_a_while() {
        let mut r = SeqReservation::default();
        r.written(at(257, 3), 5_000);
        let later = 5_000 + RECONFIRM_NS;
        assert_eq!(r.due(at(2, 3), 0, later - 1), None, "not yet");
        assert_eq!(r.due(at(2, 3), 0, later), Some(at(257, 3)));
        // An older record confirmed is no confirmation of this one.
        assert_eq!(r.due(at(2, 3), 200, later), Some(at(257, 3)));
        assert_eq!(r.due(at(2, 3), 257, later), None, "confirmed");
        r.written(at(257, 3), later);
        assert_eq!(r.due(at(2, 3), 0, later + 1), None, "the clock restarts");
        // A record that moved goes out at once, whatever was confirmed.
        assert_eq!(r.due(at(2, 4), 257, later + 1), Some(at(257, 4)));
    }

    #[test]
    fn orders_wait_for_the_confirmed_margin() {
        let r = SeqReservation::default();
        assert!(!r.orders_may_go(1, 0), "nothing on disk yet");
        assert!(
            !r.orders_may_go(100, 100),
            "at a restart: the handed-back number only"
        );
        assert!(!r.orders_may_go(100, 100 + DURABLE_MARGIN - 1));
        assert!(r.orders_may_go(100, 100 + DURABLE_MARGIN));
        assert!(r.orders_may_go(100, 100 + SEQ_RESERVE));
        assert!(!r.orders_may_go(u64::MAX - 3, u64::MAX - 2), "no overflow");
    }

    #[test]
    fn scaled_sizes_keep_the_default_proportions() {
        assert_eq!(
            ReserveSizes::scaled(SEQ_RESERVE),
            Some(ReserveSizes::DEFAULT)
        );
        assert_eq!(ReserveSizes::scaled(15), None);
        assert_eq!(ReserveSizes::scaled((1 << 32) + 1), None);
        let small = ReserveSizes::scaled(16).expect("16 is enough");
        let mut r = SeqReservation::new(small);
        assert_eq!(r.due_now(at(1, 1)), Some(at(17, 1)));
        r.written(at(17, 1), 0);
        assert_eq!(r.due_now(at(9, 1)), None, "8 left: not yet");
        assert_eq!(r.due_now(at(10, 1)), Some(at(26, 1)), "7 left: renew");
        assert!(r.orders_may_go(13, 17) && !r.orders_may_go(14, 17));
    }
}
