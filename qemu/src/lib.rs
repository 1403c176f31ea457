//! The lab: builds the appliance image and boots it in QEMU.
//!
//! Used by the `cargo qemu` command (src/main.rs) and by the end-to-end tests
//! in the `tests` crate. Everything a run creates lives under
//! `<repo>/target/qemu-runs/<unique name>/` (serial log, QEMU's stderr, the
//! exact command), with names unique per process, per call and per instant so
//! that any number of runs can go on in parallel.
//!
//! ```no_run
//! use qemu::{build_image, ensure_qemu, Profile, Repo, Vm};
//! # fn main() -> Result<(), qemu::Error> {
//! let repo = Repo::locate()?;
//! ensure_qemu(&repo)?;
//! let images = build_image(&repo, Profile::Release, qemu::BuildOutput::Capture)?;
//! let outcome = Vm::kernel(&repo, &images.appliance).cmdline("test").run()?;
//! println!("{} passed", outcome.test_report().passed());
//! # Ok(()) }
//! ```
#![deny(unsafe_code)]

pub mod bench;
mod error;
mod image;
mod iso;
pub mod lab;
mod lock;
pub mod quickfix;
mod repo;
pub mod serial;
mod sys;
mod tools;
mod vm;

pub use error::{Error, Result};
pub use image::{build_image, cargo_build_command, BuildOutput, Images, Profile, SCRUBBED_ENV};
pub use iso::{build_iso, grub_cfg};
pub use lock::FileLock;
pub use repo::Repo;
pub use serial::{
    Banner, BootProtocol, ExceptionReport, PanicReport, TestReport, TestResult, Vector,
};
pub use tools::{ensure_iso_tools, ensure_qemu, ensure_quickfix, find_in_path, QEMU_BINARY};
pub use vm::{unique_name, Accel, Boot, ExitKind, Outcome, RunningVm, Vm};
