//! The Linux companion of the trading appliance: attaches to the shared-memory
//! mailbox and reads or drives it. See `companion --help`.
//!
//! The companion contains no appliance behaviour of its own: everything it
//! shows comes from the region, everything it changes goes through the
//! command ring.
#![deny(unsafe_code)]

pub mod app;
pub mod config;
pub mod control;
pub mod journal;
pub mod logs;
pub mod mapping;
pub mod render;
pub mod secrets;
pub mod sys;
