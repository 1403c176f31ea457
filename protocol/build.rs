//! Chooses the FIX decoder's SOH scan at compile time, as
//! `cfg(fix_scan = "...")` (see `src/fix/decode.rs`, `scan_body`):
//!
//! - `"sse2"`: SSE2 intrinsics, where the target has SSE2 enabled (every
//!   x86-64 host);
//! - `"asm"`: the same SSE2 instructions as inline assembly, for x86-64
//!   targets built without SSE (the appliance, `x86_64-unknown-none`,
//!   which is soft-float: intrinsics there compile to scalar code). The
//!   kernel turns SSE on at boot (`kernel::arch::cpu::enable_sse`);
//! - `"words"`: eight bytes at a time with integer operations, anywhere.
//!
//! The features `scan-words` and `scan-asm` force a choice on an x86-64
//! host, to measure or test what another target runs.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fix_scan, values(\"sse2\", \"asm\", \"words\"))");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let sse2 = features.split(',').any(|f| f == "sse2");
    let forced_words = std::env::var_os("CARGO_FEATURE_SCAN_WORDS").is_some();
    let forced_asm = std::env::var_os("CARGO_FEATURE_SCAN_ASM").is_some();
    let scan = if arch != "x86_64" || forced_words {
        "words"
    } else if forced_asm || !sse2 {
        "asm"
    } else {
        "sse2"
    };
    println!("cargo::rustc-cfg=fix_scan=\"{scan}\"");
    println!("cargo::rerun-if-changed=build.rs");
}
