//! The byte reader the script-driven harnesses (`order_path`, `split`,
//! `quoting`, `pairs`) decode their operations and operands with.

use gateway::oms::ExecKey;
use types::Side;

/// The input, read a byte at a time; zeros once it is used up.
pub(crate) struct Script<'a>(pub(crate) &'a [u8]);

impl Script<'_> {
    pub(crate) fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn pick<T: Copy, const N: usize>(&mut self, choices: [T; N]) -> T {
        choices[usize::from(self.byte()) % N]
    }

    pub(crate) fn side(&mut self) -> Side {
        if self.byte() & 1 == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }

    /// An ExecID from a small space (so that repeats and references to
    /// earlier ones happen), or none.
    pub(crate) fn exec_id(&mut self) -> Option<ExecKey> {
        match self.byte() % 12 {
            0 => None,
            n => ExecKey::of(&[b'X', n]),
        }
    }
}
