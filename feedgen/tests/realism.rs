//! The generated day's quotes, seen through the L3 book the messages build:
//! the busiest symbols quote near their target spread, their mid moves
//! mostly by half a tick or a tick (no dollar jumps), never leaves a side
//! empty during regular hours, and does move (the price random-walks).

use book::{Book, BookConfig, EventSink};
use feedgen::model::{MARKET_CLOSE, MARKET_OPEN};
use feedgen::{Config, Generator};
use protocol::itch::{write_framed, Message};
use types::BookEvent;

struct Bbos(Vec<BookEvent>);

impl EventSink for Bbos {
    fn push(&mut self, event: BookEvent) -> bool {
        if matches!(event, BookEvent::Bbo { .. }) {
            self.0.push(event);
        }
        true
    }
}

#[derive(Default, Clone)]
struct Quotes {
    messages: u64,
    tick: i64,
    target: i64,
    /// Spread in ticks at each two-sided BBO change in regular hours.
    spreads: Vec<i64>,
    /// |Δmid| in half ticks at each mid change in regular hours.
    moves: Vec<i64>,
    one_sided: u64,
    last_mid2: Option<i64>,
    first_mid2: Option<i64>,
    lo: i64,
    hi: i64,
}

fn day(seed: u64) -> Vec<Quotes> {
    let config = Config {
        seed,
        symbols: 20,
        messages: 400_000,
        peak_live: 40_000,
        ..Default::default()
    };
    let g = Generator::new(config).unwrap();
    let mut book = Book::with_capacity(BookConfig {
        max_orders: 1 << 17,
        max_levels: 1 << 16,
    });
    let mut q = vec![Quotes::default(); usize::from(config.symbols) + 1];
    for (l, s) in q.iter_mut().enumerate().skip(1) {
        let m = g.quote_model(l as u16).unwrap();
        s.tick = i64::from(m.tick);
        s.target = i64::from(m.target_spread_ticks);
    }
    let mut buf = [0u8; 64];
    let mut sink = Bbos(Vec::new());
    for m in g {
        let n = write_framed(&m.message, &mut buf).unwrap();
        let msg = Message::parse(&buf[2..n]).unwrap();
        if let Some(s) = q.get_mut(usize::from(msg.stock_locate())) {
            s.messages += 1;
        }
        sink.0.clear();
        book.apply_itch(&msg, &mut sink).unwrap();
        if !(MARKET_OPEN..MARKET_CLOSE).contains(&m.timestamp) {
            continue;
        }
        for e in &sink.0 {
            let BookEvent::Bbo { locate, bbo, .. } = *e else {
                continue;
            };
            let s = &mut q[usize::from(locate)];
            let (Some(b), Some(a)) = (bbo.bid, bbo.ask) else {
                s.one_sided += 1;
                continue;
            };
            assert!(a.price > b.price, "crossed or locked book {bbo:?}");
            s.spreads.push((a.price.0 - b.price.0) / s.tick);
            let mid2 = a.price.0 + b.price.0;
            if let Some(last) = s.last_mid2 {
                if last != mid2 {
                    s.moves.push((mid2 - last).abs() / s.tick);
                }
            }
            s.last_mid2 = Some(mid2);
            if s.first_mid2.is_none() {
                (s.first_mid2, s.lo, s.hi) = (Some(mid2), mid2, mid2);
            }
            s.lo = s.lo.min(mid2);
            s.hi = s.hi.max(mid2);
        }
    }
    q.remove(0);
    q.sort_by_key(|s| std::cmp::Reverse(s.messages));
    q
}

fn percentile(v: &[i64], p: f64) -> i64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

#[test]
fn busiest_symbols_quote_like_liquid_stocks() {
    for seed in [1, 7] {
        let q = day(seed);
        // The busiest names with a cent tick under $100 (a high-priced
        // name's cent grid is too fine for a small day's book to follow
        // its price closely: its spread is wider than its target).
        let liquid: Vec<&Quotes> = q
            .iter()
            .filter(|s| s.tick == 100 && s.first_mid2.is_some_and(|m| m < 2_000_000))
            .take(3)
            .collect();
        assert_eq!(liquid.len(), 3);
        for (rank, s) in liquid.iter().enumerate() {
            let what = format!("seed {seed}, busiest cent-tick symbol #{rank}");
            assert!(s.spreads.len() > 1_000, "{what}: {} BBOs", s.spreads.len());
            // Spread near target: median within a tick, 90% within 3.
            let p50 = percentile(&s.spreads, 0.5);
            let p90 = percentile(&s.spreads, 0.9);
            let target = s.target;
            assert!(
                p50 <= target + 1,
                "{what}: median spread {p50} ticks, target {target}"
            );
            assert!(
                p90 <= target + 3,
                "{what}: p90 spread {p90} ticks, target {target}"
            );
            // A side is never empty during regular hours.
            assert_eq!(s.one_sided, 0, "{what}: one-sided BBOs");
            // The price moves (hundreds of mid changes), mostly by half a
            // tick or a tick (or half the target spread); 99% within 3
            // ticks, none beyond 25.
            assert!(
                s.moves.len() >= 200,
                "{what}: only {} mid moves",
                s.moves.len()
            );
            let step = 2.max(target);
            let small = s.moves.iter().filter(|&&m| m <= step).count();
            assert!(
                small * 100 >= s.moves.len() * 85,
                "{what}: {small} of {} mid moves ≤ 1 tick",
                s.moves.len()
            );
            let p99 = percentile(&s.moves, 0.99);
            assert!(p99 <= 6, "{what}: p99 |Δmid| {} ticks", p99 as f64 / 2.0);
            let max = s.moves.iter().max().copied().unwrap_or(0);
            assert!(
                max <= 50,
                "{what}: largest |Δmid| {} ticks",
                max as f64 / 2.0
            );
            // It random-walks: the day's range is more than a few ticks but
            // far below the price (no dollar-scale excursions on a quiet day).
            let range = (s.hi - s.lo) / s.tick;
            let mid = s.first_mid2.unwrap_or(0) / 2;
            assert!(range >= 6, "{what}: mid range {} ticks", range as f64 / 2.0);
            assert!(
                (s.hi - s.lo) / 2 < mid / 5,
                "{what}: mid range {} of {mid}",
                s.hi - s.lo
            );
        }
    }
}
