//! Benchmark-only crate; see benches/peer.rs.

/// QuickFIX/C++ through the shim `build.rs` builds from `quickfix/shim.cpp`.
#[cfg(feature = "quickfix")]
pub mod quickfix {
    extern "C" {
        fn qf_encode_new_order_single(seq: u64, reuse: i32) -> usize;
        fn qf_last_encoded(out: *mut u8, capacity: usize) -> usize;
        fn qf_decode_leaves_qty(data: *const u8, len: usize, reuse: i32) -> std::ffi::c_long;
    }

    /// Encodes the sample order with `seq`; its length.
    pub fn encode(seq: u64, reuse: bool) -> usize {
        // SAFETY: the shim takes plain values and writes only its own state.
        unsafe { qf_encode_new_order_single(seq, reuse as i32) }
    }

    /// The bytes of the last `encode`.
    pub fn last_encoded() -> Vec<u8> {
        let mut out = vec![0u8; 1024];
        // SAFETY: `out` is valid for writes of `out.len()` bytes.
        let n = unsafe { qf_last_encoded(out.as_mut_ptr(), out.len()) };
        out.truncate(n);
        out
    }

    /// Decodes `bytes`; the length of its LeavesQty, or -1 when refused.
    pub fn decode_leaves_qty(bytes: &[u8], reuse: bool) -> i64 {
        // SAFETY: `bytes` is valid for reads of `bytes.len()` bytes, which
        // the shim copies before returning.
        unsafe { qf_decode_leaves_qty(bytes.as_ptr(), bytes.len(), reuse as i32) as i64 }
    }
}
