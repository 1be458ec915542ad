//! Links libvips.
//!
//! Default: the prebuilt libvips 8.18 that sharp publishes on npm, unpacked by `make deps` into
//! `.deps/sharp-libvips-<version>/lib` (or `REFRACT_VIPS_LIB_DIR`), with an rpath so the binary,
//! tests and benches find it without `LD_LIBRARY_PATH`.
//!
//! `REFRACT_VIPS=system`: a system libvips (e.g. Debian's `libvips-dev`) through pkg-config.

use std::env;
use std::path::PathBuf;
use std::process::Command;

/// Must match `VIPS_NPM_VERSION` in the Makefile.
const SHARP_LIBVIPS: &str = "1.3.4";

fn main() {
    println!("cargo:rerun-if-env-changed=REFRACT_VIPS");
    println!("cargo:rerun-if-env-changed=REFRACT_VIPS_LIB_DIR");
    println!("cargo:rerun-if-changed=build.rs");

    if env::var("REFRACT_VIPS").as_deref() == Ok("system") {
        link_system();
    } else {
        link_prebuilt();
    }
}

fn link_prebuilt() {
    let dir = match env::var_os("REFRACT_VIPS_LIB_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap())
            .join(".deps")
            .join(format!("sharp-libvips-{SHARP_LIBVIPS}"))
            .join("lib"),
    };
    let lib = dir.join("libvips-cpp.so");
    if !lib.exists() {
        panic!(
            "\n\nlibvips not found at {}.\nRun `make deps` (fetches sharp's prebuilt libvips \
             {SHARP_LIBVIPS}), or build with REFRACT_VIPS=system to link a system libvips.\n\n",
            lib.display()
        );
    }
    println!("cargo:rerun-if-changed={}", lib.display());
    println!("cargo:rustc-link-search=native={}", dir.display());
    println!("cargo:rustc-link-lib=dylib=vips-cpp");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
}

fn link_system() {
    let out = Command::new("pkg-config")
        .args(["--libs", "vips"])
        .output()
        .expect("REFRACT_VIPS=system needs pkg-config (apt-get install pkg-config libvips-dev)");
    if !out.status.success() {
        panic!(
            "pkg-config could not find vips: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for flag in String::from_utf8(out.stdout).unwrap().split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
