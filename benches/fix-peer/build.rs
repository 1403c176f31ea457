//! Builds the QuickFIX/C++ shim when the `quickfix` feature is on.

fn main() {
    #[cfg(feature = "quickfix")]
    quickfix();
}

#[cfg(feature = "quickfix")]
fn quickfix() {
    const HEADER: &str = "/usr/include/quickfix/Message.h";
    if !std::path::Path::new(HEADER).is_file() {
        panic!(
            "the quickfix feature needs QuickFIX/C++ ({HEADER} is missing): \
             apt-get install -y libquickfix-dev g++"
        );
    }
    println!("cargo:rerun-if-changed=quickfix/shim.cpp");
    cc::Build::new()
        .cpp(true)
        .file("quickfix/shim.cpp")
        // QuickFIX 1.15's headers declare dynamic exception specifications,
        // which C++17 removed.
        .flag("-std=gnu++14")
        .flag("-Wno-deprecated")
        .opt_level(2)
        .compile("quickfix_shim");
    println!("cargo:rustc-link-lib=quickfix");
}
