//! New orders the smart order router split across venues.
//!
//! When displayed liquidity at one venue cannot cover a new order, the
//! router gives one child order per venue ([`gateway::router::Router::route`]).
//! The OMS, risk and the venues know the children; the strategy that asked
//! knows one order, the **parent**, named by its first child's id. This
//! table keeps each live parent's children and turns what the OMS says of
//! a child into what the strategy hears of the parent:
//!
//! | child event          | the strategy hears                                          |
//! |----------------------|-------------------------------------------------------------|
//! | `Entered`            | nothing (the parent's `Entered` is told once, at the split) |
//! | `Accepted`           | the parent's first `Accepted`                               |
//! | `Filled`             | `Filled` of the parent, `leaves` summed over its children   |
//! | `FillAdjusted`       | the same, for a bust or correction                          |
//! | `Canceled`/`Rejected`| nothing while other children work; see below                |
//! | `AmendRejected`      | see below                                                   |
//!
//! A parent ends when its last child does: with that child's `Filled` or
//! `FillAdjusted` (its `leaves` then 0) if that is how it ended, else
//! `Canceled` when any child was ever acknowledged or filled, else
//! `Rejected` (naming the parent, with the last child's reason).
//!
//! A cancel of the parent goes to every child still working; the strategy
//! hears `AmendRejected` for the parent once no child cancel is waiting for
//! an answer and some child still works (a cancel came too late for one,
//! say), and otherwise the parent's end. A replace of a parent is refused
//! ([`types::RejectReason::NotReplaceable`]): which child should take the
//! new terms is not the strategy's to say.
//!
//! A child canceled while others work shrinks the parent's open shares
//! without an event of its own: the strategy learns the new `leaves` with
//! the parent's next fill, or its end. Events for a parent that has ended
//! (a late bust, a late cancel reject) reach the strategy under the child's
//! id, which its tracker no longer knows: positions still move by them.
//!
//! Fixed capacity ([`MAX_SPLITS`] parents live at once); nothing allocates.

use gateway::router::MAX_VENUES;
use types::{OrderEvent, OrderId, RejectReason, StrategyId};

/// Parents live at once. A new order that would split while the table is
/// full goes whole to the router's first venue (counted by the caller).
pub const MAX_SPLITS: usize = 64;

/// One child order of a parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Child {
    pub order: OrderId,
    /// Shares the venue still works (0 once done).
    leaves: u32,
    done: bool,
    /// A cancel of the parent's is waiting for this child's answer.
    cancel_pending: bool,
}

impl Child {
    const NONE: Child = Child {
        order: OrderId(0),
        leaves: 0,
        done: true,
        cancel_pending: false,
    };

    /// Not finished: a cancel may still reach it.
    pub fn is_working(&self) -> bool {
        !self.done
    }
}

/// One parent and its children.
#[derive(Debug, Clone, Copy)]
pub struct Split {
    pub parent: OrderId,
    pub strategy: StrategyId,
    children: [Child; MAX_VENUES],
    len: usize,
    /// The parent's `Accepted` was told.
    accepted: bool,
    /// Some child was acknowledged or filled: the parent ends `Canceled`,
    /// not `Rejected`.
    working: bool,
    /// The strategy asked to cancel the parent and has had no answer yet.
    cancel_asked: bool,
    /// The last refusal of a child or of a child's cancel.
    reason: RejectReason,
}

impl Split {
    pub fn children(&self) -> &[Child] {
        self.children.get(..self.len).unwrap_or(&[])
    }

    /// Shares still worked over all children.
    fn leaves(&self) -> u32 {
        self.children()
            .iter()
            .filter(|c| !c.done)
            .fold(0u32, |sum, c| sum.saturating_add(c.leaves))
    }

    fn all_done(&self) -> bool {
        self.children().iter().all(|c| c.done)
    }

    fn cancels_pending(&self) -> bool {
        self.children().iter().any(|c| c.cancel_pending)
    }
}

/// What the strategy hears of a child's event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routed {
    /// Not a child of a live parent: the event goes as it is.
    Direct,
    /// A child's event: up to two events for the parent, in order.
    Parent([Option<OrderEvent>; 2]),
}

/// Every live parent.
#[derive(Debug, Default)]
pub struct Splits {
    live: heapless::Vec<Split, MAX_SPLITS>,
}

impl Splits {
    pub const fn new() -> Splits {
        Splits {
            live: heapless::Vec::new(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    pub fn len(&self) -> usize {
        self.live.len()
    }

    pub fn has_room(&self) -> bool {
        !self.live.is_full()
    }

    /// A new parent for `strategy` with `children` (order, quantity), in
    /// the router's order; the first names the parent. `None` when the
    /// table is full, there are fewer than two children or more than
    /// [`MAX_VENUES`].
    pub fn open(&mut self, strategy: StrategyId, children: &[(OrderId, u32)]) -> Option<OrderId> {
        let (&(parent, _), _) = children.split_first()?;
        if children.len() < 2 || children.len() > MAX_VENUES {
            return None;
        }
        let mut split = Split {
            parent,
            strategy,
            children: [Child::NONE; MAX_VENUES],
            len: children.len(),
            accepted: false,
            working: false,
            cancel_asked: false,
            reason: RejectReason::VenueReject,
        };
        for (slot, &(order, qty)) in split.children.iter_mut().zip(children) {
            *slot = Child {
                order,
                leaves: qty,
                done: false,
                cancel_pending: false,
            };
        }
        self.live.push(split).ok()?;
        Some(parent)
    }

    /// The live parent named `parent`.
    pub fn get(&self, parent: OrderId) -> Option<&Split> {
        self.live.iter().find(|s| s.parent == parent)
    }

    /// The strategy asks to cancel `parent`: every working child is
    /// waiting for a cancel's answer from now on (the caller sends those
    /// not already in flight, each answered through [`Splits::route`]).
    /// Returns the children to cancel.
    pub fn cancel_asked(&mut self, parent: OrderId) -> heapless::Vec<OrderId, MAX_VENUES> {
        let mut working = heapless::Vec::new();
        if let Some(s) = self.live.iter_mut().find(|s| s.parent == parent) {
            s.cancel_asked = true;
            let len = s.len;
            for c in s.children.iter_mut().take(len).filter(|c| !c.done) {
                c.cancel_pending = true;
                let _ = working.push(c.order);
            }
        }
        working
    }

    /// What the strategy hears of `event` (see the module docs).
    pub fn route(&mut self, event: &OrderEvent) -> Routed {
        if self.live.is_empty() {
            return Routed::Direct;
        }
        let order = match *event {
            OrderEvent::Entered { order, .. }
            | OrderEvent::Accepted { order, .. }
            | OrderEvent::Filled { order, .. }
            | OrderEvent::FillAdjusted { order, .. }
            | OrderEvent::Replaced { order, .. }
            | OrderEvent::Canceled { order, .. }
            | OrderEvent::AmendRejected { order, .. }
            | OrderEvent::Rejected {
                order: Some(order), ..
            } => order,
            OrderEvent::Rejected { order: None, .. } => return Routed::Direct,
        };
        let found = self.live.iter().enumerate().find_map(|(i, s)| {
            s.children()
                .iter()
                .position(|c| c.order == order)
                .map(|k| (i, k))
        });
        let Some((i, k)) = found else {
            return Routed::Direct;
        };
        let Some(s) = self.live.get_mut(i) else {
            return Routed::Direct;
        };
        let parent = s.parent;
        let strategy = s.strategy;
        let mut first = None;
        let Some(c) = s.children.get_mut(k) else {
            return Routed::Direct;
        };
        match *event {
            OrderEvent::Entered { .. } => {}
            // (The pipeline refuses a parent's replace, so no child is
            // replaced; were one, what it works counts in the parent's
            // leaves from its next fill on.)
            OrderEvent::Replaced { leaves, .. } => c.leaves = leaves,
            OrderEvent::Accepted { .. } => {
                s.working = true;
                if !s.accepted {
                    s.accepted = true;
                    first = Some(OrderEvent::Accepted {
                        strategy,
                        order: parent,
                    });
                }
            }
            OrderEvent::Filled { leaves, .. } | OrderEvent::FillAdjusted { leaves, .. } => {
                s.working |= matches!(event, OrderEvent::Filled { .. });
                c.leaves = leaves;
                if leaves == 0 {
                    c.done = true;
                    c.cancel_pending = false;
                }
            }
            OrderEvent::Canceled { .. } => {
                c.done = true;
                c.leaves = 0;
                c.cancel_pending = false;
            }
            OrderEvent::Rejected { reason, .. } => {
                c.done = true;
                c.leaves = 0;
                c.cancel_pending = false;
                s.reason = reason;
            }
            OrderEvent::AmendRejected { reason, .. } => {
                if c.cancel_pending {
                    c.cancel_pending = false;
                    s.reason = reason;
                }
            }
        }
        // Fills carry the parent's leaves (computed below, after the
        // child's own change).
        let leaves = s.leaves();
        match *event {
            OrderEvent::Filled {
                locate,
                side,
                price,
                qty,
                ..
            } => {
                first = Some(OrderEvent::Filled {
                    strategy,
                    order: parent,
                    locate,
                    side,
                    price,
                    qty,
                    leaves,
                });
            }
            OrderEvent::FillAdjusted {
                locate,
                side,
                was_qty,
                was_price,
                qty,
                price,
                ..
            } => {
                first = Some(OrderEvent::FillAdjusted {
                    strategy,
                    order: parent,
                    locate,
                    side,
                    was_qty,
                    was_price,
                    qty,
                    price,
                    leaves,
                });
            }
            _ => {}
        }
        if s.all_done() {
            let end = match first {
                // The fill that ended it says so (leaves 0).
                Some(OrderEvent::Filled { .. } | OrderEvent::FillAdjusted { .. }) => None,
                _ if s.working => Some(OrderEvent::Canceled {
                    strategy,
                    order: parent,
                }),
                _ => Some(OrderEvent::Rejected {
                    strategy,
                    order: Some(parent),
                    reason: s.reason,
                }),
            };
            self.live.swap_remove(i);
            return Routed::Parent([first, end]);
        }
        let mut second = None;
        if s.cancel_asked && !s.cancels_pending() {
            // Every cancel is answered and something still works: the
            // parent stands.
            s.cancel_asked = false;
            second = Some(OrderEvent::AmendRejected {
                strategy,
                order: parent,
                reason: s.reason,
            });
        }
        Routed::Parent([first, second])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::{Price, Side};

    const ME: StrategyId = StrategyId(3);
    const PARENT: OrderId = OrderId(10);
    const B: OrderId = OrderId(11);

    fn two_children() -> Splits {
        let mut t = Splits::new();
        assert_eq!(t.open(ME, &[(PARENT, 300), (B, 200)]), Some(PARENT));
        t
    }

    fn accepted(order: OrderId) -> OrderEvent {
        OrderEvent::Accepted {
            strategy: ME,
            order,
        }
    }

    fn filled(order: OrderId, qty: u32, leaves: u32) -> OrderEvent {
        OrderEvent::Filled {
            strategy: ME,
            order,
            locate: 1,
            side: Side::Buy,
            price: Price(100),
            qty,
            leaves,
        }
    }

    fn canceled(order: OrderId) -> OrderEvent {
        OrderEvent::Canceled {
            strategy: ME,
            order,
        }
    }

    fn rejected(order: OrderId, reason: RejectReason) -> OrderEvent {
        OrderEvent::Rejected {
            strategy: ME,
            order: Some(order),
            reason,
        }
    }

    fn amend_rejected(order: OrderId) -> OrderEvent {
        OrderEvent::AmendRejected {
            strategy: ME,
            order,
            reason: RejectReason::VenueReject,
        }
    }

    fn heard(t: &mut Splits, e: OrderEvent) -> [Option<OrderEvent>; 2] {
        match t.route(&e) {
            Routed::Parent(events) => events,
            Routed::Direct => panic!("{e:?} not a child's"),
        }
    }

    #[test]
    fn one_accept_and_fills_with_the_parents_leaves() {
        let mut t = two_children();
        assert_eq!(heard(&mut t, accepted(B)), [Some(accepted(PARENT)), None]);
        assert_eq!(heard(&mut t, accepted(PARENT)), [None, None]);
        assert_eq!(
            heard(&mut t, filled(B, 50, 150)),
            [Some(filled(PARENT, 50, 450)), None]
        );
        assert_eq!(
            heard(&mut t, filled(PARENT, 300, 0)),
            [Some(filled(PARENT, 300, 150)), None]
        );
        // The last child's last fill ends the parent: nothing else follows.
        assert_eq!(
            heard(&mut t, filled(B, 150, 0)),
            [Some(filled(PARENT, 150, 0)), None]
        );
        assert!(t.is_empty());
        // A late event of a child of an ended parent goes as it is.
        assert_eq!(t.route(&canceled(B)), Routed::Direct);
    }

    #[test]
    fn it_ends_canceled_when_anything_worked_else_rejected() {
        // An IOC split: one child fills part and the rest is canceled, the
        // other is refused by its venue.
        let mut t = two_children();
        assert_eq!(
            heard(&mut t, filled(PARENT, 100, 200)),
            [Some(filled(PARENT, 100, 400)), None]
        );
        assert_eq!(heard(&mut t, canceled(PARENT)), [None, None]);
        assert_eq!(
            heard(&mut t, rejected(B, RejectReason::VenueReject)),
            [None, Some(canceled(PARENT))]
        );
        assert!(t.is_empty());

        // Both refused: the parent is refused, with the last reason.
        let mut t = two_children();
        assert_eq!(
            heard(&mut t, rejected(B, RejectReason::VenueReject)),
            [None, None]
        );
        assert_eq!(
            heard(&mut t, rejected(PARENT, RejectReason::NotSent)),
            [None, Some(rejected(PARENT, RejectReason::NotSent))]
        );
        assert!(t.is_empty());
    }

    #[test]
    fn a_cancel_is_answered_once_for_the_parent() {
        let mut t = two_children();
        heard(&mut t, accepted(PARENT));
        heard(&mut t, accepted(B));
        let asked = t.cancel_asked(PARENT);
        assert_eq!(asked.as_slice(), &[PARENT, B]);
        // One child filled before the cancel reached it: its cancel is
        // refused, the other's goes through and the parent ends.
        assert_eq!(
            heard(&mut t, filled(PARENT, 300, 0)),
            [Some(filled(PARENT, 300, 200)), None]
        );
        assert_eq!(heard(&mut t, amend_rejected(PARENT)), [None, None]);
        assert_eq!(heard(&mut t, canceled(B)), [None, Some(canceled(PARENT))]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_parent_still_working_after_every_cancel_is_answered_stands() {
        let mut t = two_children();
        heard(&mut t, accepted(PARENT));
        t.cancel_asked(PARENT);
        assert_eq!(heard(&mut t, canceled(PARENT)), [None, None]);
        assert_eq!(
            heard(&mut t, amend_rejected(B)),
            [
                None,
                Some(OrderEvent::AmendRejected {
                    strategy: ME,
                    order: PARENT,
                    reason: RejectReason::VenueReject,
                })
            ]
        );
        // Only once: a kill switch's refused cancel later is not ours.
        assert_eq!(heard(&mut t, amend_rejected(B)), [None, None]);
        assert_eq!(
            t.get(PARENT).map(|s| s.children()[1].is_working()),
            Some(true)
        );
        // A cancel asked again reaches only the working child.
        assert_eq!(t.cancel_asked(PARENT).as_slice(), &[B]);
        assert_eq!(heard(&mut t, canceled(B)), [None, Some(canceled(PARENT))]);
    }

    #[test]
    fn a_bust_moves_the_parents_leaves() {
        let mut t = two_children();
        heard(&mut t, filled(B, 200, 0));
        let bust = OrderEvent::FillAdjusted {
            strategy: ME,
            order: B,
            locate: 1,
            side: Side::Buy,
            was_qty: 200,
            was_price: Price(100),
            qty: 0,
            price: Price(100),
            leaves: 0,
        };
        let [Some(OrderEvent::FillAdjusted { order, leaves, .. }), None] = heard(&mut t, bust)
        else {
            panic!("not an adjustment of the parent");
        };
        assert_eq!((order, leaves), (PARENT, 300));
    }

    /// One child as the venue works it, for the property test's model.
    #[derive(Debug, Clone, Copy)]
    struct Worked {
        qty: u32,
        cum: u32,
        acked: bool,
        done: bool,
        cancel_pending: bool,
    }

    impl Worked {
        fn leaves(&self) -> u32 {
            if self.done {
                0
            } else {
                self.qty - self.cum
            }
        }
    }

    /// What the venue or the strategy does next, to the child `pick`
    /// selects among those still working.
    #[derive(Debug, Clone, Copy)]
    enum Step {
        Ack(usize),
        Fill(usize, u32),
        Cancel(usize),
        Reject(usize),
        CancelRefused(usize),
        CancelParent,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            (0..8usize).prop_map(Step::Ack),
            (0..8usize, 1..400u32).prop_map(|(k, n)| Step::Fill(k, n)),
            (0..8usize).prop_map(Step::Cancel),
            (0..8usize).prop_map(Step::Reject),
            (0..8usize).prop_map(Step::CancelRefused),
            Just(Step::CancelParent),
        ]
    }

    proptest::proptest! {
        /// Whatever the children's venues do, in whatever order: the
        /// strategy hears at most one `Accepted`, fills that add up to the
        /// children's with the children's leaves summed, at most one answer
        /// per cancel it asked for, and exactly one end, last, once every
        /// child is done; `Rejected` only if no child ever worked.
        #[test]
        fn the_parent_is_what_its_children_add_up_to(
            qtys in proptest::collection::vec(1..300u32, 2..=MAX_VENUES),
            steps in proptest::collection::vec(step(), 1..80),
        ) {
            extern crate std;
            use std::vec::Vec;
            let ids: Vec<(OrderId, u32)> = qtys
                .iter()
                .enumerate()
                .map(|(k, &q)| (OrderId(100 + k as u64), q))
                .collect();
            let mut t = Splits::new();
            proptest::prop_assert_eq!(t.open(ME, &ids), Some(OrderId(100)));
            let mut kids: Vec<Worked> = qtys
                .iter()
                .map(|&qty| Worked { qty, cum: 0, acked: false, done: false, cancel_pending: false })
                .collect();
            let mut heard: Vec<OrderEvent> = Vec::new();
            let (mut accepted, mut filled, mut answers_due) = (0, 0u64, 0u32);
            for s in steps {
                let working: Vec<usize> = (0..kids.len()).filter(|&k| !kids[k].done).collect();
                if working.is_empty() {
                    break;
                }
                let pick = |k: usize| working[k % working.len()];
                let event = match s {
                    Step::CancelParent => {
                        let asked = t.cancel_asked(PARENT_OF_PROPERTY);
                        proptest::prop_assert_eq!(asked.len(), working.len());
                        for &k in &working {
                            kids[k].cancel_pending = true;
                        }
                        answers_due = 1;
                        continue;
                    }
                    Step::Ack(k) => {
                        let k = pick(k);
                        kids[k].acked = true;
                        OrderEvent::Accepted { strategy: ME, order: ids[k].0 }
                    }
                    Step::Fill(k, n) => {
                        let k = pick(k);
                        let n = n.min(kids[k].leaves());
                        kids[k].cum += n;
                        if kids[k].leaves() == 0 {
                            kids[k].done = true;
                            kids[k].cancel_pending = false;
                        }
                        OrderEvent::Filled {
                            strategy: ME,
                            order: ids[k].0,
                            locate: 1,
                            side: Side::Buy,
                            price: Price(100),
                            qty: n,
                            leaves: kids[k].leaves(),
                        }
                    }
                    Step::Cancel(k) => {
                        let k = pick(k);
                        kids[k].done = true;
                        kids[k].cancel_pending = false;
                        canceled(ids[k].0)
                    }
                    Step::Reject(k) => {
                        let k = pick(k);
                        if kids[k].acked || kids[k].cum > 0 {
                            continue;
                        }
                        kids[k].done = true;
                        kids[k].cancel_pending = false;
                        rejected(ids[k].0, RejectReason::VenueReject)
                    }
                    Step::CancelRefused(k) => {
                        let k = pick(k);
                        if !kids[k].cancel_pending {
                            continue;
                        }
                        kids[k].cancel_pending = false;
                        amend_rejected(ids[k].0)
                    }
                };
                let Routed::Parent(events) = t.route(&event) else {
                    proptest::prop_assert!(false, "a child's event went direct: {:?}", event);
                    unreachable!()
                };
                let model_leaves: u32 = kids.iter().map(Worked::leaves).sum();
                let all_done = kids.iter().all(|c| c.done);
                for e in events.iter().flatten() {
                    proptest::prop_assert!(
                        !heard.iter().any(is_end),
                        "an event after the end: {:?} after {:?}", e, heard
                    );
                    match *e {
                        OrderEvent::Accepted { order, .. } => {
                            proptest::prop_assert_eq!(order, PARENT_OF_PROPERTY);
                            accepted += 1;
                        }
                        OrderEvent::Filled { order, qty, leaves, .. } => {
                            proptest::prop_assert_eq!(order, PARENT_OF_PROPERTY);
                            proptest::prop_assert_eq!(leaves, model_leaves);
                            filled += u64::from(qty);
                        }
                        OrderEvent::AmendRejected { order, .. } => {
                            proptest::prop_assert_eq!(order, PARENT_OF_PROPERTY);
                            proptest::prop_assert!(answers_due > 0, "an answer to no cancel");
                            proptest::prop_assert!(!kids.iter().any(|c| c.cancel_pending));
                            answers_due -= 1;
                        }
                        OrderEvent::Canceled { order, .. } => {
                            proptest::prop_assert_eq!(order, PARENT_OF_PROPERTY);
                            proptest::prop_assert!(all_done);
                            proptest::prop_assert!(kids.iter().any(|c| c.acked || c.cum > 0));
                        }
                        OrderEvent::Rejected { order, .. } => {
                            proptest::prop_assert_eq!(order, Some(PARENT_OF_PROPERTY));
                            proptest::prop_assert!(all_done);
                            proptest::prop_assert!(!kids.iter().any(|c| c.acked || c.cum > 0));
                        }
                        _ => proptest::prop_assert!(false, "unexpected {:?}", e),
                    }
                    heard.push(*e);
                }
                proptest::prop_assert!(accepted <= 1);
                // The end is heard exactly when the last child ends.
                proptest::prop_assert_eq!(heard.iter().any(is_end), all_done);
                proptest::prop_assert_eq!(t.is_empty(), all_done);
            }
            let children_filled: u64 = kids.iter().map(|c| u64::from(c.cum)).sum();
            proptest::prop_assert_eq!(filled, children_filled);
        }
    }

    const PARENT_OF_PROPERTY: OrderId = OrderId(100);

    /// An event that ends the parent for the strategy.
    fn is_end(e: &OrderEvent) -> bool {
        matches!(
            e,
            OrderEvent::Filled { leaves: 0, .. }
                | OrderEvent::FillAdjusted { leaves: 0, .. }
                | OrderEvent::Canceled { .. }
                | OrderEvent::Rejected { .. }
        )
    }

    #[test]
    fn the_table_is_bounded_and_ignores_other_orders() {
        let mut t = Splits::new();
        assert_eq!(t.open(ME, &[(PARENT, 1)]), None, "one child is no split");
        for i in 0..MAX_SPLITS as u64 {
            assert!(t
                .open(ME, &[(OrderId(100 + 2 * i), 1), (OrderId(101 + 2 * i), 1)])
                .is_some());
        }
        assert!(!t.has_room());
        assert_eq!(t.open(ME, &[(PARENT, 1), (B, 1)]), None);
        assert_eq!(t.route(&accepted(OrderId(7))), Routed::Direct);
        let no_order = OrderEvent::Rejected {
            strategy: ME,
            order: None,
            reason: RejectReason::MaxOrderQty,
        };
        assert_eq!(t.route(&no_order), Routed::Direct);
    }
}
