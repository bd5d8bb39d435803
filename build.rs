//! Generates `include/falco_outputs.h` from `src/ffi/` with cbindgen, as `cbindgen.toml`
//! says (the header is committed; the test command fails when the committed copy differs from
//! what this writes), and gives the shared library its SONAME.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    soname();
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cannot read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header from src/ffi/");
    std::fs::create_dir_all(crate_dir.join("include")).expect("cannot create include/");
    // Only rewrites when it changed, so builds do not touch the committed file's mtime.
    bindings.write_to_file(crate_dir.join("include/falco_outputs.h"));
}

/// `libfalco_outputs.so.<major>`, on ELF systems: what a program linked against the shared
/// library records and loads, so that an incompatible 1.x is never loaded in place of a 0.x.
/// CMake and cargo-c (`[package.metadata.capi]`, `version_suffix_components = 1`) install the
/// file under this name and the usual links; the two must agree.
fn soname() {
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // The systems where cargo-c sets a versioned SONAME the same way.
    let elf = [
        "linux",
        "freebsd",
        "netbsd",
        "openbsd",
        "dragonfly",
        "illumos",
        "haiku",
        "hurd",
    ];
    if elf.contains(&os.as_str()) {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libfalco_outputs.so.{major}");
    }
}
