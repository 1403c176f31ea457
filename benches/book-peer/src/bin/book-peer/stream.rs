//! The ITCH messages both books replay, selected once from the memory-mapped
//! file and copied (in the NASDAQ file format) into one buffer.

use std::collections::HashMap;

use feedgen::survey::Survey;
use protocol::itch::{FileReader, Message};
use types::{StockLocate, Symbol};

/// The order messages: add (`A`, `F`), execute (`E`, `C`), cancel (`X`),
/// delete (`D`), replace (`U`). Both books replay exactly these.
pub fn is_order_message(msg_type: u8) -> bool {
    matches!(msg_type, b'A' | b'F' | b'E' | b'C' | b'X' | b'D' | b'U')
}

/// What ours replays: the chosen locate's (or every locate's) order
/// messages, its `R` directory message(s) and the system messages (locate 0).
pub struct Stream {
    /// NASDAQ file format (u16 big-endian length, then the message).
    pub bytes: Vec<u8>,
    /// Messages in `bytes`.
    pub messages: u64,
    /// Order messages in `bytes`: the divisor of every per-message figure.
    pub order_messages: u64,
    /// Messages in `bytes` by type byte.
    pub per_type: [u64; 256],
    /// Messages of the whole file, and those that failed to decode there.
    pub file_messages: u64,
    pub file_malformed: u64,
    /// The single locate replayed; `None` with `--whole-market`.
    pub locate: Option<StockLocate>,
    /// Directory: symbol of each locate that has an `R` message.
    pub names: HashMap<StockLocate, Symbol>,
}

/// Picks the locate (the one with the most messages, as the `backtest`
/// binary does, or `symbol`'s from the directory) unless `whole_market`,
/// then copies the messages both books replay.
pub fn select(data: &[u8], symbol: Option<&str>, whole_market: bool) -> Result<Stream, String> {
    let mut survey = Survey::default();
    for m in FileReader::new(data) {
        survey.add(m.map_err(|e| format!("truncated or malformed framing: {e}"))?);
    }
    let locate = match whole_market {
        true => None,
        false => Some(survey.pick(symbol)?.0),
    };
    let (file_messages, file_malformed) = (survey.total, survey.malformed);
    let locates = survey.counts.len();
    let names = survey.names;
    let mut bytes = Vec::with_capacity(if whole_market {
        data.len()
    } else {
        data.len() / locates.max(1) * 2 + (1 << 20)
    });
    let mut messages = 0u64;
    let mut order_messages = 0u64;
    let mut per_type = [0u64; 256];
    for b in FileReader::new(data).filter_map(Result::ok) {
        let Ok(m) = Message::parse(b) else {
            continue;
        };
        let t = m.msg_type();
        let l = m.stock_locate();
        let ours_locate = locate.is_none_or(|want| l == want);
        let order = is_order_message(t) && ours_locate;
        let keep = order || l == 0 || (t == b'R' && ours_locate);
        if !keep {
            continue;
        }
        let len = u16::try_from(b.len()).map_err(|_| "message longer than 65535 bytes")?;
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(b);
        messages += 1;
        order_messages += u64::from(order);
        per_type[usize::from(t)] += 1;
    }
    Ok(Stream {
        bytes,
        messages,
        order_messages,
        per_type,
        file_messages,
        file_malformed,
        locate,
        names,
    })
}
