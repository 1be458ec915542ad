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
    embed_face_model();
    // The fonts `make deps` unpacks (.ci/fonts.sh), found at run time by this path unless
    // `--fonts` names others.
    println!("cargo:rerun-if-env-changed=REFRACT_FONTS_DIR");
    let fonts = env::var("REFRACT_FONTS_DIR")
        .unwrap_or_else(|_| format!("{}/.deps/fonts", env::var("CARGO_MANIFEST_DIR").unwrap()));
    println!("cargo:rustc-env=REFRACT_BUILTIN_FONTS={fonts}");
    // Likewise the learned operations' runtime and models (.ci/models.sh), unless `--models`.
    println!("cargo:rerun-if-env-changed=REFRACT_MODELS_DIR");
    let models = env::var("REFRACT_MODELS_DIR")
        .unwrap_or_else(|_| format!("{}/.deps/models", env::var("CARGO_MANIFEST_DIR").unwrap()));
    println!("cargo:rustc-env=REFRACT_BUILTIN_MODELS={models}");
}

/// Must match the `rustface` version pinned in Cargo.toml.
const RUSTFACE: &str = "0.1.7";

/// Copy SeetaFace's frontal model, which the `rustface` crate ships in its package, into
/// `OUT_DIR` for `include_bytes!`: the model is part of the binary and never fetched at run time.
fn embed_face_model() {
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .expect("CARGO_HOME or HOME");
    let registries = home.join("registry").join("src");
    let model = std::fs::read_dir(&registries)
        .into_iter()
        .flatten()
        .flatten()
        .map(|index| {
            index
                .path()
                .join(format!("rustface-{RUSTFACE}"))
                .join("model")
                .join("seeta_fd_frontal_v1.0.bin")
        })
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "rustface {RUSTFACE}'s model not found under {}: run `cargo fetch`",
                registries.display()
            )
        });
    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("seeta_fd_frontal_v1.0.bin");
    std::fs::copy(&model, &out).expect("copy the face model");
    println!("cargo:rerun-if-changed={}", model.display());
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
