//! Holding an order off after a refusal, instead of sending it again at
//! the next decision.
//!
//! Pre-trade risk (or the venue) refuses an order for a reason; most
//! reasons do not go away by themselves between two book events. Sent again
//! blindly, the same order is refused again — round after round within one
//! pipeline step and at every book event — and every refusal but the kill
//! switch's counts toward risk's reject-rate limit, which trips the kill
//! switch. So a strategy holds the refused side (or leg) off:
//!
//! - until what refused it may have changed ([`RetryWhen`]): its own
//!   exposure (a fill, or an order of its own finishing), or a price nearer
//!   the reference for a collar;
//! - and in any case until a backoff in the strategy's own time has passed
//!   (time is an input: nothing here reads a clock). The backoff doubles
//!   with every refusal in a row, from `first_ns` up to `max_ns`, so a
//!   limit that changes behind the strategy's back (another strategy's
//!   fill freeing gross room, a re-armed kill switch, a new configuration)
//!   is found again, at a cost of a few refusals a minute at most.
//!
//! An order of that side passing (entered, accepted or replaced) ends the
//! run of refusals; the next refusal starts from `first_ns` again. A
//! `first_ns` of 0 holds nothing: refused orders are sent again at once,
//! as before holds existed.

use types::{Nanos, RejectReason};

/// What has to happen before an order refused for a reason may pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryWhen {
    /// Nothing to wait for but the next event: not in answer to the
    /// refusal itself (round after round within one step), but at the
    /// next moment of the strategy's time. (No venue could take the order
    /// — its session down or holding messages back; the pipeline stops
    /// asking strategies while that lasts, and risk never saw it.)
    NextDecision,
    /// The strategy's own exposure changes (a fill, an order finishing),
    /// or the backoff passes (exposure elsewhere may have changed).
    ExposureChanges,
    /// The quote comes nearer the reference price than the refused one,
    /// or the backoff passes.
    NearerReference,
    /// Only the backoff: a throttle's window, a configuration or a kill
    /// switch the strategy is not told about.
    TimePasses,
}

/// The hint a reason code gives (see [`RetryWhen`]).
pub const fn retry_when(reason: RejectReason) -> RetryWhen {
    use RejectReason::*;
    match reason {
        NotSent | NoVenue => RetryWhen::NextDecision,
        SymbolPositionLimit | GrossPositionLimit | NetPositionLimit | CreditLimit
        | MaxOpenOrders => RetryWhen::ExposureChanges,
        // Entered volume leaves the window with time alone.
        PriceCollar => RetryWhen::NearerReference,
        KillSwitch | TradingClosed | MaxOrderQty | MaxNotional | NoReferencePrice
        | DuplicateOrder | RestrictedSymbol | OrderRateThrottle | CancelRateThrottle
        | SelfMatch | UnknownOrder | VenueReject | InvalidOrder | CapacityExhausted
        | NotReplaceable | EnteredVolumeLimit => RetryWhen::TimePasses,
    }
}

/// What lifts a hold before its time is up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Wake {
    /// Nothing but time.
    #[default]
    Time,
    /// The owner's exposure counter moving on from this value.
    Exposure(u64),
    /// A price nearer the reference than this (price4 units).
    Nearer(i64),
}

/// The backoff's bounds, from the owner's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first hold after a refusal (ns); 0: no holds at all.
    pub first_ns: u64,
    /// The longest hold (ns); ≥ `first_ns`.
    pub max_ns: u64,
}

impl Backoff {
    /// The hold after the `strikes`-th refusal in a row (`strikes` ≥ 1):
    /// `first_ns · 2^(strikes − 1)`, at most `max_ns`.
    pub fn hold_ns(&self, strikes: u32) -> u64 {
        let doubling = 1u64
            .checked_shl(strikes.saturating_sub(1))
            .unwrap_or(u64::MAX);
        self.first_ns.saturating_mul(doubling).min(self.max_ns)
    }
}

/// One side's (or leg's) hold after refusals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Hold {
    /// Refusals in a row: the backoff's exponent.
    strikes: u32,
    /// Held until then unless woken; `None`: not held.
    until: Option<Nanos>,
    wake: Wake,
}

impl Hold {
    /// True while held (until [`Hold::lift_if_due`] finds it lifted).
    #[inline]
    pub fn is_set(&self) -> bool {
        self.until.is_some()
    }

    /// Refusals in a row so far.
    pub fn strikes(&self) -> u32 {
        self.strikes
    }

    /// When the hold ends at the latest, if held.
    pub fn until(&self) -> Option<Nanos> {
        self.until
    }

    /// An order was refused for `reason` at `now`. `exposure` is the
    /// owner's exposure counter now; `distance` how far the refused price
    /// was from the reference (when known). Returns whether it is held.
    pub fn refused(
        &mut self,
        reason: RejectReason,
        now: Nanos,
        backoff: Backoff,
        exposure: u64,
        distance: Option<i64>,
    ) -> bool {
        if backoff.first_ns == 0 {
            return false;
        }
        let wake = match retry_when(reason) {
            RetryWhen::NextDecision => {
                // Held for this instant alone; not a strike (no backoff).
                self.until = Some(Nanos(now.0.saturating_add(1)));
                self.wake = Wake::Time;
                return true;
            }
            RetryWhen::ExposureChanges => Wake::Exposure(exposure),
            RetryWhen::NearerReference => distance.map_or(Wake::Time, Wake::Nearer),
            RetryWhen::TimePasses => Wake::Time,
        };
        self.strikes = self.strikes.saturating_add(1);
        let hold = backoff.hold_ns(self.strikes);
        self.until = Some(Nanos(now.0.saturating_add(hold)));
        self.wake = wake;
        true
    }

    /// An order of this side passed: the run of refusals is over.
    #[inline]
    pub fn passed(&mut self) {
        *self = Hold::default();
    }

    /// Lifts the hold when its time is up at `now` or what it waits for
    /// happened (the owner's exposure counter is `exposure`; the price it
    /// would send is `distance` from the reference, when known). Returns
    /// whether it is still held. A lifted hold keeps its strikes: a
    /// refusal straight after doubles the backoff.
    pub fn lift_if_due(&mut self, now: Nanos, exposure: u64, distance: Option<i64>) -> bool {
        let Some(until) = self.until else {
            return false;
        };
        let woken = match self.wake {
            Wake::Time => false,
            Wake::Exposure(at) => exposure != at,
            Wake::Nearer(refused) => distance.is_some_and(|d| d < refused),
        };
        if now >= until || woken {
            self.until = None;
            false
        } else {
            true
        }
    }

    /// Lifts the hold and forgets the refusals (the operator changed the
    /// parameters or risk's limits: what was refused may pass now).
    pub fn clear(&mut self) {
        *self = Hold::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const BACKOFF: Backoff = Backoff {
        first_ns: 250 * MS,
        max_ns: 60_000 * MS,
    };

    #[test]
    fn every_reason_has_a_hint() {
        for r in RejectReason::ALL {
            let _ = retry_when(r);
        }
        assert_eq!(
            retry_when(RejectReason::SymbolPositionLimit),
            RetryWhen::ExposureChanges
        );
        assert_eq!(
            retry_when(RejectReason::PriceCollar),
            RetryWhen::NearerReference
        );
        assert_eq!(
            retry_when(RejectReason::OrderRateThrottle),
            RetryWhen::TimePasses
        );
        assert_eq!(retry_when(RejectReason::NotSent), RetryWhen::NextDecision);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        assert_eq!(BACKOFF.hold_ns(1), 250 * MS);
        assert_eq!(BACKOFF.hold_ns(2), 500 * MS);
        assert_eq!(BACKOFF.hold_ns(8), 32_000 * MS);
        assert_eq!(BACKOFF.hold_ns(9), 60_000 * MS);
        assert_eq!(BACKOFF.hold_ns(200), 60_000 * MS, "no overflow");
        assert_eq!(BACKOFF.hold_ns(u32::MAX), 60_000 * MS);
    }

    #[test]
    fn a_throttled_order_waits_for_time_alone() {
        let mut h = Hold::default();
        assert!(h.refused(
            RejectReason::OrderRateThrottle,
            Nanos(1_000),
            BACKOFF,
            7,
            None
        ));
        assert!(h.lift_if_due(Nanos(1_000 + 250 * MS - 1), 8, Some(0)));
        assert!(!h.lift_if_due(Nanos(1_000 + 250 * MS), 8, None));
        assert!(!h.is_set());
        // Refused again straight after: twice as long.
        h.refused(
            RejectReason::OrderRateThrottle,
            Nanos(2 * 250 * MS),
            BACKOFF,
            8,
            None,
        );
        assert_eq!(h.until(), Some(Nanos(2 * 250 * MS + 500 * MS)));
        // It passed: the next refusal starts from the first hold again.
        h.passed();
        assert!(!h.is_set());
        h.refused(RejectReason::VenueReject, Nanos(0), BACKOFF, 8, None);
        assert_eq!(h.until(), Some(Nanos(250 * MS)));
    }

    #[test]
    fn a_position_limit_waits_for_the_exposure_to_change() {
        let mut h = Hold::default();
        h.refused(
            RejectReason::SymbolPositionLimit,
            Nanos(0),
            BACKOFF,
            3,
            None,
        );
        assert!(h.lift_if_due(Nanos(1), 3, None));
        assert!(!h.lift_if_due(Nanos(2), 4, None), "a fill moved it");
        assert_eq!(h.strikes(), 1);
    }

    #[test]
    fn a_collared_quote_waits_for_a_nearer_price() {
        let mut h = Hold::default();
        h.refused(RejectReason::PriceCollar, Nanos(0), BACKOFF, 0, Some(500));
        assert!(h.lift_if_due(Nanos(1), 1, Some(500)), "as far: still held");
        assert!(h.lift_if_due(Nanos(1), 1, None));
        assert!(!h.lift_if_due(Nanos(2), 1, Some(400)));
    }

    #[test]
    fn an_unsent_order_is_held_for_the_instant_alone() {
        let mut h = Hold::default();
        for _ in 0..3 {
            assert!(h.refused(RejectReason::NotSent, Nanos(5), BACKOFF, 0, None));
        }
        assert!(h.lift_if_due(Nanos(5), 0, None), "not again in answer");
        assert!(!h.lift_if_due(Nanos(6), 0, None), "at the next event");
        assert_eq!(h.strikes(), 0, "no backoff");
    }

    #[test]
    fn a_zero_first_hold_holds_nothing() {
        let none = Backoff {
            first_ns: 0,
            max_ns: 0,
        };
        let mut h = Hold::default();
        for reason in RejectReason::ALL {
            assert!(!h.refused(reason, Nanos(5), none, 0, None), "{reason:?}");
        }
        assert!(!h.is_set());
    }

    #[test]
    fn clearing_forgets_the_refusals() {
        let mut h = Hold::default();
        h.refused(RejectReason::RestrictedSymbol, Nanos(0), BACKOFF, 0, None);
        h.refused(RejectReason::RestrictedSymbol, Nanos(0), BACKOFF, 0, None);
        h.clear();
        assert!(!h.is_set());
        assert_eq!(h.strikes(), 0);
    }
}
