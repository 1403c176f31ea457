//! Synthetic whole-market order flow for the book benchmarks.
//!
//! Shape (from NASDAQ 2019 samples, shared notes §4): ~8,800 locates with
//! skewed activity (locate drawn as `8800·u³`: the busiest 1% of instruments
//! carry ~21% of messages), ~1.5 M live orders in steady state, message mix
//! A 44% / D 43% / U 7.4% / E 2.2% / X 1.3% (renormalised to 100%). Prices
//! cluster near a per-instrument mid (geometric distance in cents, 3% far
//! away). Removals pick a recent order 70% of the time (most real orders are
//! short-lived) and any live order otherwise.
#![allow(dead_code)]

use book::{Book, BookEvent, Nanos, Pending, Price, Side, MAX_EVENTS_PER_MESSAGE, PREFETCH_STAGES};

pub const LOCATES: u32 = 8_800;
pub const STEADY_LIVE: usize = 1_500_000;

#[derive(Clone, Copy, Debug)]
pub enum Op {
    Add {
        locate: u16,
        order_ref: u64,
        side: Side,
        price: u32,
        qty: u32,
    },
    Delete {
        order_ref: u64,
    },
    Replace {
        old: u64,
        new: u64,
        price: u32,
        qty: u32,
    },
    Execute {
        order_ref: u64,
        qty: u32,
    },
    Cancel {
        order_ref: u64,
        qty: u32,
    },
}

impl Op {
    pub fn kind(&self) -> usize {
        match self {
            Op::Add { .. } => 0,
            Op::Delete { .. } => 1,
            Op::Replace { .. } => 2,
            Op::Execute { .. } => 3,
            Op::Cancel { .. } => 4,
        }
    }
}

pub const KIND_NAMES: [&str; 5] = [
    "add (A)",
    "delete (D)",
    "replace (U)",
    "execute (E)",
    "cancel (X)",
];

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
struct Live {
    order_ref: u64,
    locate: u16,
    side: Side,
    price: u32,
    qty: u32,
}

pub struct Flow {
    /// Orders that build the steady state (applied before measuring).
    pub prefill: Vec<Op>,
    /// The measured stream.
    pub ops: Vec<Op>,
}

fn mid_of(locate: u16) -> u32 {
    // Deterministic per-instrument mid between $1 and $500, on a cent grid.
    let h = (locate as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    (100 + (h % 50_000) as u32) * 100
}

fn price_near(rng: &mut Rng, mid: u32, side: Side) -> u32 {
    let ticks = if rng.below(100) < 3 {
        1 + rng.below(500) as u32
    } else {
        1 + (-(rng.unit().max(1e-12)).ln() * 4.0) as u32
    };
    let offset = ticks * 100;
    match side {
        Side::Buy => mid.saturating_sub(offset).max(100),
        Side::Sell => mid + offset,
    }
}

impl Flow {
    pub fn generate(seed: u64, measured_ops: usize) -> Flow {
        Flow::generate_sized(seed, measured_ops, STEADY_LIVE, LOCATES)
    }

    /// Same shape with another steady-state size (e.g. a cache-resident book).
    pub fn generate_sized(
        seed: u64,
        measured_ops: usize,
        steady_live: usize,
        locates: u32,
    ) -> Flow {
        let mut rng = Rng(seed);
        let mut live: Vec<Live> = Vec::with_capacity(steady_live * 2);
        let mut next_ref: u64 = 1;
        let mut prefill = Vec::with_capacity(steady_live);
        let new_order = |rng: &mut Rng, next_ref: &mut u64| {
            let locate = 1 + (locates as f64 * rng.unit().powi(3)) as u16;
            let side = if rng.below(2) == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            let price = price_near(rng, mid_of(locate), side);
            let qty = 100 * (1 + rng.below(10) as u32);
            *next_ref += 1 + rng.below(4);
            Live {
                order_ref: *next_ref,
                locate,
                side,
                price,
                qty,
            }
        };
        while live.len() < steady_live {
            let o = new_order(&mut rng, &mut next_ref);
            prefill.push(Op::Add {
                locate: o.locate,
                order_ref: o.order_ref,
                side: o.side,
                price: o.price,
                qty: o.qty,
            });
            live.push(o);
        }
        let mut ops = Vec::with_capacity(measured_ops);
        let pick = |rng: &mut Rng, n: usize| -> usize {
            if rng.below(100) < 70 {
                n - 1 - rng.below(n.min(2000) as u64) as usize
            } else {
                rng.below(n as u64) as usize
            }
        };
        while ops.len() < measured_ops {
            // Mix in tenths of a percent: A 440, D 430, U 74, E 22, X 13 (of 979).
            let r = rng.below(979);
            if r < 440 || live.is_empty() {
                let o = new_order(&mut rng, &mut next_ref);
                ops.push(Op::Add {
                    locate: o.locate,
                    order_ref: o.order_ref,
                    side: o.side,
                    price: o.price,
                    qty: o.qty,
                });
                live.push(o);
                continue;
            }
            let i = pick(&mut rng, live.len());
            let o = live[i];
            if r < 870 {
                ops.push(Op::Delete {
                    order_ref: o.order_ref,
                });
                live.swap_remove(i);
            } else if r < 944 {
                next_ref += 1 + rng.below(4);
                let price = if rng.below(2) == 0 {
                    o.price
                } else {
                    price_near(&mut rng, mid_of(o.locate), o.side)
                };
                let qty = 100 * (1 + rng.below(10) as u32);
                ops.push(Op::Replace {
                    old: o.order_ref,
                    new: next_ref,
                    price,
                    qty,
                });
                live[i] = Live {
                    order_ref: next_ref,
                    price,
                    qty,
                    ..o
                };
            } else if r < 966 {
                let qty = if rng.below(2) == 0 {
                    o.qty
                } else {
                    1 + rng.below(o.qty as u64) as u32
                };
                ops.push(Op::Execute {
                    order_ref: o.order_ref,
                    qty,
                });
                if qty == o.qty {
                    live.swap_remove(i);
                } else {
                    live[i].qty -= qty;
                }
            } else {
                let qty = 1 + rng.below(o.qty as u64) as u32;
                ops.push(Op::Cancel {
                    order_ref: o.order_ref,
                    qty,
                });
                if qty == o.qty {
                    live.swap_remove(i);
                } else {
                    live[i].qty -= qty;
                }
            }
        }
        Flow { prefill, ops }
    }
}

pub type Events = heapless::Vec<BookEvent, MAX_EVENTS_PER_MESSAGE>;

#[inline(always)]
pub fn apply(book: &mut Book, op: &Op, ts: Nanos, events: &mut Events) {
    events.clear();
    let _ = match *op {
        Op::Add {
            locate,
            order_ref,
            side,
            price,
            qty,
        } => book.add_order(
            locate,
            order_ref,
            side,
            Price(price as i64),
            qty,
            ts,
            events,
        ),
        Op::Delete { order_ref } => book.delete(order_ref, ts, events),
        Op::Replace {
            old,
            new,
            price,
            qty,
        } => book.replace(old, new, Price(price as i64), qty, ts, events),
        Op::Execute { order_ref, qty } => book.execute(order_ref, qty, ts, events),
        Op::Cancel { order_ref, qty } => book.cancel(order_ref, qty, ts, events),
    };
}

/// Empties the book and replays the prefill (outside any measurement).
pub fn reset(book: &mut Book, flow: &Flow) {
    book.clear();
    let mut events = Events::new();
    for op in &flow.prefill {
        apply(book, op, Nanos(0), &mut events);
    }
}

/// The operation decoded for [`Book::prefetch`] and [`Book::apply`].
#[inline(always)]
pub fn pending(op: &Op, ts: Nanos) -> Pending {
    match *op {
        Op::Add {
            locate,
            order_ref,
            side,
            price,
            qty,
        } => Pending::add(locate, order_ref, side, Price(price as i64), qty, ts),
        Op::Delete { order_ref } => Pending::delete(order_ref, ts),
        Op::Replace {
            old,
            new,
            price,
            qty,
        } => Pending::replace(old, new, Price(price as i64), qty, ts),
        Op::Execute { order_ref, qty } => Pending::execute(order_ref, qty, ts),
        Op::Cancel { order_ref, qty } => Pending::cancel(order_ref, qty, ts),
    }
}

/// Applies `ops`, issuing prefetch stage `s` for the message
/// `(PREFETCH_STAGES - s)·distance` ahead (distance 0: no prefetch, the
/// plain input methods).
#[inline(always)]
pub fn run_pipelined(book: &mut Book, ops: &[Op], distance: usize, events: &mut Events) {
    const RING: usize = 64;
    if distance == 0 {
        for (i, op) in ops.iter().enumerate() {
            apply(book, op, Nanos(i as u64), events);
            std::hint::black_box(&*events);
        }
        return;
    }
    let stages = usize::from(PREFETCH_STAGES);
    let lookahead = stages * distance;
    assert!(lookahead < RING);
    let mut ring = [Pending::NONE; RING];
    let enter = |book: &Book, ring: &mut [Pending; RING], j: usize| {
        if let Some(op) = ops.get(j) {
            ring[j % RING] = pending(op, Nanos(j as u64));
            book.prefetch(&mut ring[j % RING], 0);
        }
    };
    for j in 0..lookahead {
        enter(book, &mut ring, j);
    }
    for i in 0..ops.len() {
        enter(book, &mut ring, i + lookahead);
        for stage in 1..stages {
            let j = i + (stages - stage) * distance;
            if j < ops.len() {
                book.prefetch(&mut ring[j % RING], stage as u8);
            }
        }
        events.clear();
        let _ = book.apply(&ring[i % RING], events);
        std::hint::black_box(&*events);
    }
}
