//! Links both images with the appliance's linker script.
fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    // defmt's table (a non-loaded INFO section) for the appliance only: the
    // bare kernel has no logger.
    println!("cargo:rustc-link-arg-bin=appliance=-Tdefmt.x");
    println!("cargo:rerun-if-changed=linker.ld");
}
