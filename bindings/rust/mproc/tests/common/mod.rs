//! A tiny test runner for `harness = false` test binaries: tests that fork
//! must not run next to libtest's threads, so each binary runs its tests
//! one after the other on the main thread.
#![allow(dead_code)]
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

/// Runs the named tests (an optional filter is the first argument), prints
/// libtest-like lines and exits 1 if any failed.
pub fn run(tests: &[(&str, fn())]) {
    let filter = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, test) in tests {
        if let Some(f) = &filter {
            if !name.contains(f.as_str()) {
                continue;
            }
        }
        ran += 1;
        let start = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(test));
        let status = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("test {} ... {} ({:.2}s)", name, status, start.elapsed().as_secs_f64());
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    println!("\ntest result: {}. {} passed; {} failed", if failed.is_empty() { "ok" } else { "FAILED" }, ran - failed.len(), failed.len());
    if !failed.is_empty() {
        println!("failures: {:?}", failed);
        std::process::exit(1);
    }
}

/// A name unique to this process and call, for named queues.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("mproc-rust-{}-{}-{}", tag, std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// Asserts that `r` is an mproc error with this code and that its name
/// matches.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(r: mproc::Result<T>, code: i32, name: &str) -> mproc::Error {
    let e = r.expect_err("expected an mproc error");
    assert_eq!(e.code(), code, "{}", e);
    assert_eq!(e.name(), name);
    assert!(e.to_string().contains(name), "{}", e);
    e
}
