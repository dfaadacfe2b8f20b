//! Cross-language peer for mproc's named queues.
//!
//!     peer put NAME COUNT   opens the existing named queue NAME and puts
//!                           COUNT messages "msg-0", "msg-1", ...
//!     peer get NAME COUNT   opens it and gets COUNT messages (30 s timeout
//!                           each), checking they are exactly "msg-0" ...
//!                           "msg-(COUNT-1)" in order
//!
//! Exit status 0 on success; 1 with a message on stderr otherwise (2 for a
//! usage error). Built by `cargo build --example peer`; the Meson build
//! copies it to `<builddir>/bindings/rust/mproc-rust-peer`, which runs
//! without LD_LIBRARY_PATH (it carries an rpath to the libmproc it was
//! linked with).
use std::process::exit;
use std::time::Duration;

use mproc::Queue;

fn run(mode: &str, name: &str, count: usize) -> Result<(), String> {
    let q = Queue::open(name).map_err(|e| format!("open {}: {}", name, e))?;
    for i in 0..count {
        let want = format!("msg-{}", i);
        match mode {
            "put" => q.put(&want).map_err(|e| format!("put {}: {}", want, e))?,
            _ => {
                let got = q.get_timeout(Duration::from_secs(30)).map_err(|e| format!("get {}: {}", want, e))?;
                if got != want.as_bytes() {
                    return Err(format!("expected {:?}, got {:?}", want, String::from_utf8_lossy(&got)));
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let count = args.get(3).and_then(|c| c.parse::<usize>().ok());
    let (mode, name, count) = match (args.get(1).map(String::as_str), args.get(2), count) {
        (Some(m @ ("put" | "get")), Some(n), Some(c)) if args.len() == 4 => (m, n, c),
        _ => {
            eprintln!("usage: {} put|get NAME COUNT", args.first().map(String::as_str).unwrap_or("peer"));
            exit(2);
        }
    };
    if let Err(e) = run(mode, name, count) {
        eprintln!("peer {}: {}", mode, e);
        exit(1);
    }
}
