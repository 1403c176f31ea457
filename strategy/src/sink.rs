//! The bounded buffer strategies write their intents into.

use heapless::Vec;
use types::OrderIntent;

/// How many intents one callback can emit before the rest are dropped and
/// counted. A market maker emits at most four per event (two sides, cancel or
/// replace each); stat-arb at most four (two legs, entry or exit); the engine
/// hosts several strategies per event, so the default leaves generous headroom.
pub const DEFAULT_INTENT_CAPACITY: usize = 64;

/// Intents produced while handling one event, in the order they must be sent.
///
/// Fixed capacity, no allocation. When full, further intents are refused:
/// [`Intents::push`] returns `false` and the drop is counted in
/// [`Intents::overflowed`], so a strategy never believes an order is in flight
/// that was never sent (it only records an intent as pending after a
/// successful push).
///
/// Contract with the host: every intent in the buffer is forwarded downstream
/// in order. A host that has to discard one must report it back to the owning
/// strategy as `OrderEvent::Rejected { order: None, .. }` for a `New`, so the
/// strategy's bookkeeping of pending orders stays in step.
#[derive(Debug, Clone)]
pub struct Intents<const N: usize = DEFAULT_INTENT_CAPACITY> {
    buf: Vec<OrderIntent, N>,
    overflowed: u64,
}

impl<const N: usize> Default for Intents<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Intents<N> {
    pub const fn new() -> Self {
        Intents {
            buf: Vec::new(),
            overflowed: 0,
        }
    }

    /// Appends an intent; `false` (and a counted drop) when the buffer is full.
    #[inline]
    pub fn push(&mut self, intent: OrderIntent) -> bool {
        if self.buf.push(intent).is_ok() {
            true
        } else {
            self.overflowed += 1;
            false
        }
    }

    /// Room for `n` more intents. Strategies that must send several intents
    /// together (both legs of a hedge) check this first so they never send
    /// half of a pair.
    #[inline]
    pub fn has_room(&self, n: usize) -> bool {
        N - self.buf.len() >= n
    }

    pub fn as_slice(&self) -> &[OrderIntent] {
        &self.buf
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Empties the buffer (after the host has forwarded its contents); the
    /// overflow count is kept.
    #[inline]
    pub fn clear(&mut self) {
        self.buf.clear();
    }

    /// Intents refused because the buffer was full, since construction.
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// Moves the intents out in order, leaving the buffer empty.
    pub fn drain(&mut self) -> impl Iterator<Item = OrderIntent> + '_ {
        self.buf.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::{OrderId, StrategyId};

    fn cancel(n: u64) -> OrderIntent {
        OrderIntent::Cancel {
            strategy: StrategyId(1),
            order: OrderId(n),
        }
    }

    #[test]
    fn overflow_is_refused_and_counted() {
        let mut out: Intents<2> = Intents::new();
        assert!(out.has_room(2));
        assert!(out.push(cancel(1)));
        assert!(!out.has_room(2));
        assert!(out.push(cancel(2)));
        assert!(!out.push(cancel(3)));
        assert!(!out.push(cancel(4)));
        assert_eq!(out.overflowed(), 2);
        assert_eq!(out.as_slice(), &[cancel(1), cancel(2)]);
        let drained: heapless::Vec<OrderIntent, 4> = out.drain().collect();
        assert_eq!(drained.len(), 2);
        assert!(out.is_empty());
        assert_eq!(out.overflowed(), 2);
    }
}
