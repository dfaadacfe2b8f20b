//! Gives this crate's own tests and examples an rpath to the libmproc that
//! mproc-sys found, so they run from a build tree without LD_LIBRARY_PATH.
//! (Link arguments of a build script apply only to this package's targets:
//! crates depending on `mproc` are not affected.)
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_MPROC_LIBDIR");
    if let Ok(dir) = std::env::var("DEP_MPROC_LIBDIR") {
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir);
        println!("cargo:rustc-link-arg-examples=-Wl,-rpath,{}", dir);
    }
}
