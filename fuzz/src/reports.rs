//! Execution reports built from a script, as the harnesses that deliver
//! venue reports (`order_path`, `split`, `quoting`, `pairs`) read them:
//! which of the orders a report is about (`pick_recent`), the `OrdStatus`
//! it claims, and its LastQty/CumQty/LeavesQty chosen around the order's
//! terms. Each harness keeps its own tables (same shape, weights chosen
//! per target); the code that reads them is here, so every harness reads
//! the same bytes in the same order as before.

use gateway::oms::{ExecKey, OrderState};

use crate::script::Script;

/// Every `OrdStatus` a report may claim (informational to the OMS).
const STATES: [OrderState; 10] = [
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

/// An `OrdStatus` or none (one byte).
pub(crate) fn ord_status(s: &mut Script) -> Option<OrderState> {
    match s.byte() {
        b if b & 1 == 0 => None,
        b => Some(STATES[usize::from(b >> 1) % STATES.len()]),
    }
}

/// The index of one of `n` orders (one byte): of the last `recent` mostly
/// (newest first), of any one when the byte's top bit is set.
pub(crate) fn pick_index(n: usize, b: u8, recent: usize) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let b = usize::from(b);
    Some(if b & 0x80 != 0 {
        b % n
    } else {
        n - 1 - b % n.min(recent)
    })
}

/// One of `items` (one byte): a recent one mostly (of the last four,
/// newest first), any one when the byte's top bit is set.
pub(crate) fn pick_recent<T: Copy>(items: &[T], b: u8) -> Option<T> {
    pick_index(items.len(), b, 4).and_then(|i| items.get(i).copied())
}

/// A fresh ExecID for a well-formed fill (`seq` counts them).
pub(crate) fn fresh_exec_id(seq: &mut u32) -> Option<ExecKey> {
    *seq += 1;
    let [a, b, c, e] = seq.to_be_bytes();
    ExecKey::of(&[b'W', a, b, c, e])
}

/// One entry of a quantity table: a LastQty, CumQty or LeavesQty in terms
/// of the order's (total `qty`, `cum` executed, `leaves`), the script's
/// operand `d`, and the LastQty and CumQty already chosen.
#[derive(Clone, Copy)]
pub(crate) enum Qty {
    Zero,
    One,
    /// The operand.
    D,
    /// Seven times the operand.
    D7,
    Max,
    Total,
    TotalPlus1,
    Cum,
    CumMinus1,
    /// The order's CumQty plus the LastQty chosen.
    CumPlusLast,
    Leaves,
    HalfLeavesPlus1,
    LeavesPlus1,
    /// The order's leaves less the LastQty chosen.
    LeavesMinusLast,
    /// The total less the CumQty chosen.
    TotalMinusCum,
}

/// A harness's tables for a report's LastQty, CumQty and LeavesQty.
pub(crate) struct QtyTables {
    pub(crate) last: [Qty; 8],
    pub(crate) cum: [Qty; 8],
    pub(crate) leaves: [Qty; 8],
}

/// A report's quantities and the operand they were chosen with.
pub(crate) struct Quantities {
    pub(crate) d: u32,
    pub(crate) last_qty: u32,
    pub(crate) cum_qty: u32,
    pub(crate) leaves_qty: u32,
}

impl QtyTables {
    /// The operand (one byte), then LastQty, CumQty and LeavesQty from the
    /// tables (a byte each), around the order's `(qty, cum, leaves)`.
    pub(crate) fn read(&self, s: &mut Script, (qty, cum, leaves): (u32, u32, u32)) -> Quantities {
        let d = u32::from(s.byte());
        let mut q = Quantities {
            d,
            last_qty: 0,
            cum_qty: 0,
            leaves_qty: 0,
        };
        let value = |entry: Qty, q: &Quantities| match entry {
            Qty::Zero => 0,
            Qty::One => 1,
            Qty::D => d,
            Qty::D7 => d * 7,
            Qty::Max => u32::MAX,
            Qty::Total => qty,
            Qty::TotalPlus1 => qty.saturating_add(1),
            Qty::Cum => cum,
            Qty::CumMinus1 => cum.saturating_sub(1),
            Qty::CumPlusLast => cum.saturating_add(q.last_qty),
            Qty::Leaves => leaves,
            Qty::HalfLeavesPlus1 => leaves / 2 + 1,
            Qty::LeavesPlus1 => leaves.saturating_add(1),
            Qty::LeavesMinusLast => leaves.saturating_sub(q.last_qty),
            Qty::TotalMinusCum => qty.saturating_sub(q.cum_qty),
        };
        q.last_qty = value(s.pick(self.last), &q);
        q.cum_qty = value(s.pick(self.cum), &q);
        q.leaves_qty = value(s.pick(self.leaves), &q);
        q
    }
}
