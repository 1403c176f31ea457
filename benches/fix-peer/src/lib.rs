//! Benchmark-only crate; see benches/peer.rs.
