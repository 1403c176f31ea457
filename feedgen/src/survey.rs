//! The instruments of an ITCH stream, for choosing the one to trade or
//! study: the stock directory's names and each locate's message count. The
//! backtest and the peer benchmarks choose their instrument with it, the
//! same way.

use std::collections::HashMap;

use protocol::itch::Message;
use types::{StockLocate, Symbol};

/// The instruments of an ITCH stream, for choosing the one to trade: the
/// stock directory's names and each locate's message count.
#[derive(Debug, Default, Clone)]
pub struct Survey {
    pub names: HashMap<StockLocate, Symbol>,
    pub counts: HashMap<StockLocate, u64>,
    /// Messages seen, those that do not parse included.
    pub total: u64,
    /// Messages that do not parse.
    pub malformed: u64,
}

impl Survey {
    /// Counts one message (bytes without the length prefix).
    pub fn add(&mut self, bytes: &[u8]) {
        self.total += 1;
        let Ok(m) = Message::parse(bytes) else {
            self.malformed += 1;
            return;
        };
        if let Message::StockDirectory(d) = &m {
            self.names.insert(d.stock_locate(), d.stock());
        }
        let locate = m.stock_locate();
        if locate != 0 {
            *self.counts.entry(locate).or_default() += 1;
        }
    }

    /// `symbol`'s locate (the lowest, should the directory list it twice),
    /// or without one the locate with the most messages (the lowest of a
    /// tie); with its name.
    pub fn pick(&self, symbol: Option<&str>) -> Result<(StockLocate, Symbol), String> {
        let locate = match symbol {
            Some(s) => {
                let want = Symbol::new(s).ok_or_else(|| format!("bad symbol {s:?}"))?;
                self.names
                    .iter()
                    .filter(|(_, n)| **n == want)
                    .map(|(l, _)| *l)
                    .min()
                    .ok_or_else(|| format!("symbol {s} is not in the stock directory"))?
            }
            None => self
                .counts
                .iter()
                .max_by_key(|(l, c)| (**c, std::cmp::Reverse(**l)))
                .map(|(l, _)| *l)
                .ok_or("no messages with a stock locate in the input")?,
        };
        Ok((locate, self.names.get(&locate).copied().unwrap_or_default()))
    }
}
