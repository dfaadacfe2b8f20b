//! Finds libmproc with the `pkg-config` program (no crates needed).
//!
//! * `PKG_CONFIG` names the program (default `pkg-config`);
//!   `PKG_CONFIG_PATH` is honoured as usual, which is how the Meson build
//!   points it at the build tree's `mproc-uninstalled.pc`.
//! * `MPROC_LIB_DIR` skips pkg-config: link `-lmproc` from that directory.
//!
//! Emits `cargo:libdir=` and `cargo:include=` (read by dependents as
//! `DEP_MPROC_LIBDIR` / `DEP_MPROC_INCLUDE`).
use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=MPROC_LIB_DIR");
    if let Ok(dir) = env::var("MPROC_LIB_DIR") {
        println!("cargo:rustc-link-search=native={}", dir);
        println!("cargo:rustc-link-lib=dylib=mproc");
        println!("cargo:libdir={}", dir);
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir);
        return;
    }
    let prog = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&prog)
        .args(["--libs", "--cflags", "mproc >= 0.2.0"])
        .output()
        .unwrap_or_else(|e| panic!("mproc-sys: cannot run `{}`: {} (install pkg-config, or set MPROC_LIB_DIR)", prog, e));
    if !out.status.success() {
        panic!(
            "mproc-sys: `{} --libs --cflags \"mproc >= 0.2.0\"` failed: {}\n\
             Install libmproc-dev, point PKG_CONFIG_PATH at a directory holding mproc.pc \
             (or a build's meson-uninstalled/), or set MPROC_LIB_DIR.",
            prog,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let flags = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut libdir = None;
    let mut include = None;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            libdir.get_or_insert_with(|| dir.to_string());
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={}", lib);
        } else if let Some(dir) = flag.strip_prefix("-I") {
            if include.is_none() && std::path::Path::new(dir).join("mproc.h").exists() {
                include = Some(dir.to_string());
            }
        }
    }
    if let Some(dir) = libdir {
        println!("cargo:libdir={}", dir);
        // Only this package's own tests: they run from a build tree.
        println!("cargo:rustc-link-arg-tests=-Wl,-rpath,{}", dir);
    }
    if let Some(dir) = include {
        println!("cargo:include={}", dir);
    }
}
