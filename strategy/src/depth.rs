//! A fixed-size [`DepthView`] holding snapshots of a few instruments.
//!
//! Used by the tests and benchmarks to script books, and by the trainer to
//! replay CSV snapshots through the same feature code the appliance runs.

use types::{Bbo, DepthView, Level, Side, StockLocate};

/// One instrument's top `L` levels per side.
#[derive(Debug, Clone, Copy)]
struct Book<const L: usize> {
    locate: StockLocate,
    bids: [Level; L],
    bid_len: usize,
    asks: [Level; L],
    ask_len: usize,
}

/// Snapshots of up to `S` instruments, `L` levels per side.
#[derive(Debug, Clone)]
pub struct SnapshotDepth<const S: usize, const L: usize> {
    books: heapless::Vec<Book<L>, S>,
}

impl<const S: usize, const L: usize> Default for SnapshotDepth<S, L> {
    fn default() -> Self {
        Self::new()
    }
}

/// The instrument table is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthFull;

impl<const S: usize, const L: usize> SnapshotDepth<S, L> {
    pub const fn new() -> Self {
        SnapshotDepth {
            books: heapless::Vec::new(),
        }
    }

    fn book_mut(&mut self, locate: StockLocate) -> Result<&mut Book<L>, DepthFull> {
        let idx = match self.books.iter().position(|b| b.locate == locate) {
            Some(i) => i,
            None => {
                self.books
                    .push(Book {
                        locate,
                        bids: [Level::default(); L],
                        bid_len: 0,
                        asks: [Level::default(); L],
                        ask_len: 0,
                    })
                    .map_err(|_| DepthFull)?;
                self.books.len() - 1
            }
        };
        self.books.get_mut(idx).ok_or(DepthFull)
    }

    fn book(&self, locate: StockLocate) -> Option<&Book<L>> {
        self.books.iter().find(|b| b.locate == locate)
    }

    /// Replaces one side, best level first; levels beyond `L` are ignored.
    pub fn set_side(
        &mut self,
        locate: StockLocate,
        side: Side,
        levels: &[Level],
    ) -> Result<(), DepthFull> {
        let book = self.book_mut(locate)?;
        let n = levels.len().min(L);
        let (dst, len) = match side {
            Side::Buy => (&mut book.bids, &mut book.bid_len),
            Side::Sell => (&mut book.asks, &mut book.ask_len),
        };
        dst[..n].copy_from_slice(&levels[..n]);
        *len = n;
        Ok(())
    }

    /// Sets a one-level book: `bid`/`ask` as (price4, shares).
    pub fn set_top(
        &mut self,
        locate: StockLocate,
        bid: (i64, u64),
        ask: (i64, u64),
    ) -> Result<(), DepthFull> {
        let lvl = |(p, q): (i64, u64)| Level {
            price: types::Price(p),
            qty: q,
            orders: 1,
        };
        self.set_side(locate, Side::Buy, &[lvl(bid)])?;
        self.set_side(locate, Side::Sell, &[lvl(ask)])
    }
}

impl<const S: usize, const L: usize> DepthView for SnapshotDepth<S, L> {
    fn bbo(&self, locate: StockLocate) -> Bbo {
        match self.book(locate) {
            Some(b) => Bbo {
                bid: b.bids[..b.bid_len].first().copied(),
                ask: b.asks[..b.ask_len].first().copied(),
            },
            None => Bbo::default(),
        }
    }

    fn depth(&self, locate: StockLocate, side: Side, out: &mut [Level]) -> usize {
        let Some(b) = self.book(locate) else {
            return 0;
        };
        let src = match side {
            Side::Buy => &b.bids[..b.bid_len],
            Side::Sell => &b.asks[..b.ask_len],
        };
        let n = src.len().min(out.len());
        out[..n].copy_from_slice(&src[..n]);
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::Price;

    #[test]
    fn snapshot_round_trip() {
        let mut d: SnapshotDepth<2, 3> = SnapshotDepth::new();
        d.set_top(5, (100, 10), (102, 20)).unwrap();
        d.set_top(6, (200, 1), (201, 2)).unwrap();
        assert_eq!(d.set_top(7, (1, 1), (2, 1)), Err(DepthFull));
        assert_eq!(d.bbo(5).mid(), Some(Price(101)));
        assert_eq!(d.bbo(9), Bbo::default());
        let lv = |p| Level {
            price: Price(p),
            qty: 1,
            orders: 1,
        };
        d.set_side(5, Side::Buy, &[lv(100), lv(99), lv(98), lv(97)])
            .unwrap();
        let mut out = [Level::default(); 2];
        assert_eq!(d.depth(5, Side::Buy, &mut out), 2);
        assert_eq!(out[1].price, Price(99));
        let mut out = [Level::default(); 8];
        assert_eq!(d.depth(5, Side::Buy, &mut out), 3);
    }
}
