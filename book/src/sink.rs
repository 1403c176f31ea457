//! Where the book puts the [`BookEvent`]s a message produces.
//!
//! The book never allocates for events: the caller hands in a bounded sink.
//! One message produces at most [`MAX_EVENTS_PER_MESSAGE`] events, so a
//! `heapless::Vec<BookEvent, 4>` cleared before each message never overflows;
//! a sink that refuses an event makes the book count it in
//! [`Counters::events_dropped`](crate::Counters::events_dropped).

use types::BookEvent;

/// Upper bound on the events one input message yields: a replace yields two
/// level changes and a BBO change; an execution yields a trade, a level change
/// and a BBO change.
pub const MAX_EVENTS_PER_MESSAGE: usize = 4;

/// A bounded consumer of book events.
pub trait EventSink {
    /// Offers one event; returns `false` when the sink had no room.
    fn push(&mut self, event: BookEvent) -> bool;
}

impl<const N: usize> EventSink for heapless::Vec<BookEvent, N> {
    #[inline]
    fn push(&mut self, event: BookEvent) -> bool {
        heapless::Vec::push(self, event).is_ok()
    }
}

/// Discards every event (for replay that only needs the final book).
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl EventSink for NullSink {
    #[inline]
    fn push(&mut self, _event: BookEvent) -> bool {
        true
    }
}

/// Counts events by kind and discards them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CountingSink {
    pub bbo: u64,
    pub level: u64,
    pub trade: u64,
    pub state: u64,
}

impl EventSink for CountingSink {
    #[inline]
    fn push(&mut self, event: BookEvent) -> bool {
        match event {
            BookEvent::Bbo { .. } => self.bbo += 1,
            BookEvent::Level { .. } => self.level += 1,
            BookEvent::Trade { .. } => self.trade += 1,
            BookEvent::State { .. } => self.state += 1,
        }
        true
    }
}
