//! What the harnesses that drive a two-venue `Pipeline` (`split`,
//! `quoting`) share: the venues, the `send` closure's side, the order
//! states a report may claim, and the pipeline's counters.

use gateway::oms::{OrderState, Outbound};
use pipeline::PipelineStats;
use types::VenueId;

/// The primary venue, whose feed drives the book the strategies see, and
/// the away venue, whose feed keeps an away book only the router reads.
pub(crate) const PRIMARY: VenueId = VenueId(1);
pub(crate) const AWAY: VenueId = VenueId(2);
/// Both venues, in the router's order (the slot of each in
/// `PipelineStats::orders_by_venue` and `Wire::refusing`).
pub(crate) const VENUES: [VenueId; 2] = [PRIMARY, AWAY];

/// Every `OrdStatus` a report may claim (informational to the OMS).
pub(crate) const STATES: [OrderState; 10] = [
    OrderState::PendingNew,
    OrderState::New,
    OrderState::PartiallyFilled,
    OrderState::Filled,
    OrderState::PendingCancel,
    OrderState::Canceled,
    OrderState::PendingReplace,
    OrderState::Replaced,
    OrderState::Rejected,
    OrderState::Expired,
];

/// The `send` closure's side: whether each message goes out, and what was
/// handed over during the current operation.
#[derive(Default)]
pub(crate) struct Wire {
    /// Per venue (in `VENUES` order): its session holds every message back.
    pub(crate) refusing: [bool; 2],
    /// The next this many messages are held back, whatever their venue.
    pub(crate) refuse_next: u8,
    pub(crate) handed: Vec<(Outbound, bool)>,
}

impl Wire {
    pub(crate) fn hand(&mut self, out: &Outbound) -> bool {
        let refusing = VENUES
            .iter()
            .position(|&v| v == out.venue())
            .is_some_and(|slot| self.refusing[slot]);
        let delivered = if self.refuse_next > 0 {
            self.refuse_next -= 1;
            false
        } else {
            !refusing
        };
        self.handed.push((*out, delivered));
        delivered
    }

    /// Every message goes out from now on (the heal).
    pub(crate) fn deliver_all(&mut self) {
        self.refusing = [false; 2];
        self.refuse_next = 0;
    }
}

/// Every counter of `PipelineStats`, named so that a new field breaks the
/// build here until it is checked too.
pub(crate) fn pipeline_stats(s: &PipelineStats) -> Vec<u64> {
    let PipelineStats {
        messages,
        book_anomalies,
        book_events,
        intents,
        orders_sent,
        unsent,
        paused,
        risk_rejects,
        reports,
        intents_dropped,
        unroutable,
        away_messages,
        duplicate_symbols,
        orders_by_venue,
        splits,
        split_children,
        splits_unplaced,
        split_replaces_refused,
        kill_cancels,
        mass_cancels,
        mass_cancels_accepted,
        mass_canceled_orders,
        mass_cancels_refused,
        mass_cancel_timeouts,
        mass_cancel_stray_answers,
        config_refusals,
        feed_resets,
        relocated,
        carry_overflow,
        carry_stuck,
        stale_refusals,
        cancels_in_flight,
    } = *s;
    let mut all = vec![
        messages,
        book_anomalies,
        book_events,
        intents,
        orders_sent,
        unsent,
        paused,
        risk_rejects,
        reports,
        intents_dropped,
        unroutable,
        away_messages,
        duplicate_symbols,
        splits,
        split_children,
        splits_unplaced,
        split_replaces_refused,
        kill_cancels,
        mass_cancels,
        mass_cancels_accepted,
        mass_canceled_orders,
        mass_cancels_refused,
        mass_cancel_timeouts,
        mass_cancel_stray_answers,
        config_refusals,
        feed_resets,
        relocated,
        carry_overflow,
        carry_stuck,
        stale_refusals,
        cancels_in_flight,
    ];
    all.extend(orders_by_venue);
    all
}
