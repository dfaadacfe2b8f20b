//! Runs the examples (built next to this test by `cargo test`) and checks
//! what they print: the seed documents' queue and pool examples, and the
//! cross-language peer with a named queue.
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use common::unique;
use mproc::Queue;

fn example(name: &str) -> PathBuf {
    // target/debug/deps/examples-HASH -> target/debug/examples/NAME
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples").join(name);
    assert!(path.exists(), "{} is not built (cargo test builds examples)", path.display());
    path
}

fn run(name: &str, args: &[&str]) -> Output {
    Command::new(example(name)).args(args).output().unwrap()
}

fn tour_reproduces_the_seed_examples() {
    let out = run("tour", &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", text, String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("analysis: [11, 22, 33, 44]"), "{}", text);
    assert!(text.contains("download: finished, everything is in the queue"));
    assert_eq!(text.matches("the consumer ate a").count(), 6, "{}", text);
    assert_eq!(text.matches("makes a").count(), 6);
    assert_eq!(text.matches("job ").count(), 10);
    let start = text.find("-----start-----").unwrap();
    let end = text.find("-----end-----").unwrap();
    assert!(start < end);
    assert!(text.contains("result.get() = 3"));
    let imap: Vec<&str> = text.lines().filter(|l| l.starts_with("imap: ")).collect();
    assert_eq!(imap, ["imap: 4 finished sleeping", "imap: 3 finished sleeping", "imap: 2 finished sleeping"]);
    let unordered: Vec<&str> = text.lines().filter(|l| l.starts_with("imap_unordered: ")).collect();
    assert_eq!(unordered.len(), 3);
    assert_eq!(unordered[0], "imap_unordered: 2 finished sleeping", "completion order: {:?}", unordered);
}

fn peer_put_and_get() {
    let name = unique("peer");
    let q = Queue::create(&name, 0, 0).unwrap();
    let out = run("peer", &["put", &name, "5"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(q.qsize().unwrap(), 5);
    assert_eq!(q.get_nowait().unwrap(), b"msg-0");
    q.put(b"msg-0").unwrap(); // now msg-1..msg-4, msg-0: out of order for the getter
    let out = run("peer", &["get", &name, "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected \"msg-0\""), "{}", String::from_utf8_lossy(&out.stderr));

    while q.get_nowait().is_ok() {}
    for i in 0..4 {
        q.put(format!("msg-{}", i)).unwrap();
    }
    let out = run("peer", &["get", &name, "4"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(q.empty().unwrap());
    Queue::unlink(&name).unwrap();

    let out = run("peer", &["get", &name, "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MPROC_E_NOENT"));
    assert_eq!(run("peer", &["bogus"]).status.code(), Some(2));
}

fn readme_example() {
    let out = run("readme", &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi from the child\n[[2], [4], [6]]\n");
}

fn main() {
    mproc::main().unwrap();
    common::run(&[
        ("tour_reproduces_the_seed_examples", tour_reproduces_the_seed_examples),
        ("peer_put_and_get", peer_put_and_get),
        ("readme_example", readme_example),
    ]);
}
