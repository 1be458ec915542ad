//! Let the fuzz binaries find the prebuilt libvips (refract's build script sets the rpath only
//! for refract's own binaries; a dependency's link arguments do not propagate).
fn main() {
    println!("cargo:rerun-if-env-changed=REFRACT_VIPS_LIB_DIR");
    let dir = std::env::var("REFRACT_VIPS_LIB_DIR").unwrap_or_else(|_| {
        format!(
            "{}/../../.deps/sharp-libvips-1.3.4/lib",
            std::env::var("CARGO_MANIFEST_DIR").unwrap()
        )
    });
    println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
}
