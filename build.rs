//! Generates `include/falco_outputs.h` from `src/ffi.rs` with cbindgen, as `cbindgen.toml`
//! says. The header is committed; the test command fails when the committed copy differs from
//! what this writes.

use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/ffi.rs");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");
    let crate_dir =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cannot read cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi.rs"))
        .generate()
        .expect("cbindgen could not generate the header from src/ffi.rs");
    std::fs::create_dir_all(crate_dir.join("include")).expect("cannot create include/");
    // Only rewrites when it changed, so builds do not touch the committed file's mtime.
    bindings.write_to_file(crate_dir.join("include/falco_outputs.h"));
}
