//! The seed documents' examples in Rust (examples/tour.c sections 9, 11
//! and 12): producer / consumer processes talking through a queue, then a
//! pool with apply_async, get, imap and imap_unordered.
//!
//! Run: `cargo run --example tour` (tests/examples.rs runs it and checks
//! its output).
use std::time::Duration;

use mproc::{Pool, Process, Queue, TaskResult};

fn int_of(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn producers_and_consumers() -> mproc::Result<()> {
    println!("=== 9. Processes talk through a queue: producer / consumer ===");
    let q = Queue::new(3)?;
    let download = Process::new(|| -> mproc::Result<()> {
        for v in [11u32, 22, 33, 44] {
            q.put(v.to_le_bytes())?;
        }
        println!("download: finished, everything is in the queue");
        Ok(())
    })?;
    let analysis = Process::new(|| {
        let mut got = Vec::new();
        while got.len() < 4 {
            match q.get_timeout(Duration::from_secs(5)) {
                Ok(b) => got.push(int_of(&b)),
                Err(_) => break,
            }
        }
        println!("analysis: {:?}", got);
        got.len() == 4
    })?;
    download.start()?;
    analysis.start()?;
    download.join()?;
    analysis.join()?;

    // Two bun makers and one eater share a queue that holds a single bun.
    let q = Queue::new(1)?;
    let maker = || {
        Process::new(|| -> mproc::Result<()> {
            for kind in ["pork", "cabbage", "red bean"] {
                println!("{} makes a {} bun", mproc::current_name(), kind);
                q.put(kind)?;
            }
            Ok(())
        })
    };
    let (p1, p2) = (maker()?, maker()?);
    let eater = Process::new(|| -> mproc::Result<()> {
        for _ in 0..6 {
            println!("the consumer ate a {} bun", String::from_utf8_lossy(&q.get()?));
        }
        Ok(())
    })?;
    for p in [&p1, &p2, &eater] {
        p.start()?;
    }
    for p in [&p1, &p2, &eater] {
        p.join()?;
        assert_eq!(p.exitcode(), Some(0));
    }
    Ok(())
}

fn work(arg: &[u8]) -> TaskResult {
    let i = int_of(arg);
    println!("job {} running in {}, pid {}", i, mproc::current_name(), std::process::id());
    std::thread::sleep(Duration::from_millis(20 * (i as u64 % 4)));
    Ok(Vec::new())
}

fn get_html(arg: &[u8]) -> TaskResult {
    let n = int_of(arg);
    std::thread::sleep(Duration::from_millis(100 * n as u64));
    println!("{}: got the page", n);
    Ok(arg.to_vec())
}

fn pools() -> mproc::Result<()> {
    println!("=== 11. Pool(3): apply_async over 10 jobs, close(), join() ===");
    let pool = Pool::new(3)?;
    let job = pool.task(work)?;
    let results = (0..10u32).map(|i| pool.apply_async(&job, i.to_le_bytes())).collect::<mproc::Result<Vec<_>>>()?;
    println!("-----start-----");
    pool.close()?;
    pool.join()?;
    println!("-----end-----");
    assert!(results.iter().all(|r| r.successful() == Ok(true)));
    drop(results);

    println!("=== 12. result.get(), imap (input order) and imap_unordered (completion order) ===");
    let pool = Pool::new(mproc::cpu_count().max(3))?;
    let html = pool.task(get_html)?;
    let r = pool.apply_async(&html, 3u32.to_le_bytes())?;
    println!("result.get() = {}", int_of(&r.get()?));
    let sleeps = [4u32, 3, 2];
    for r in pool.imap(&html, sleeps.iter().map(|s| s.to_le_bytes()))? {
        println!("imap: {} finished sleeping", int_of(&r?));
    }
    for r in pool.imap_unordered(&html, sleeps.iter().map(|s| s.to_le_bytes()))? {
        println!("imap_unordered: {} finished sleeping", int_of(&r?));
    }
    pool.close()?;
    pool.join()?;
    println!("cpu_count() = {}", mproc::cpu_count());
    Ok(())
}

fn main() -> mproc::Result<()> {
    mproc::main()?;
    producers_and_consumers()?;
    pools()
}
