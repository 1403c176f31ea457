//! What the pipeline's integration tests build alike: the risk engine and
//! OMS of a small test appliance, and ITCH messages as bytes.

use gateway::oms::{Oms, OmsConfig};
use protocol::itch::MessageRepr;
use risk::{Capacity, Limits, RiskEngine};

/// Risk under `limits` and an OMS, both sized for 1,024 orders on 16
/// symbols (the OMS's ClOrdIDs from epoch 1).
pub fn risk_and_oms(limits: Limits) -> (RiskEngine, Oms) {
    let risk = RiskEngine::new(
        Capacity {
            symbols: 16,
            orders: 1024,
            duplicate_slots: 64,
        },
        limits,
    )
    .expect("the tests' limits are valid");
    let oms = Oms::new(OmsConfig {
        orders: 1024,
        symbols: 16,
        last_epoch: 0,
    })
    .expect("the tests' OMS sizes are valid");
    (risk, oms)
}

/// `repr` as ITCH bytes.
pub fn itch(repr: MessageRepr) -> Vec<u8> {
    let mut b = vec![0u8; repr.len()];
    repr.emit(&mut b)
        .expect("the buffer is the message's length");
    b
}
