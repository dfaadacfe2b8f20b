//! Pool: closure tasks, apply / apply_async / map / imap / imap_unordered,
//! failures, callbacks, initializer, maxtasksperchild, timeouts.
mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use common::assert_err;
use mproc::{
    Pool, PoolStat, Task, TaskResult, E_BUSY, E_CANCELLED, E_INIT_FAILED, E_INVAL, E_NOENT, E_STATE, E_TASK_FAILED,
    E_TASK_TIMEOUT, E_TIMEOUT, E_WORKER_DIED,
};

fn u32_of(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

fn square(arg: &[u8]) -> TaskResult {
    let x = u32_of(arg);
    Ok((x * x).to_le_bytes().to_vec())
}

fn sleep_ms_then_echo(arg: &[u8]) -> TaskResult {
    std::thread::sleep(Duration::from_millis(u32_of(arg) as u64));
    Ok(arg.to_vec())
}

fn apply_and_capturing_closures() {
    let factor = 3u32;
    let pool = Pool::new(2).unwrap();
    assert_eq!(pool.workers(), 2);
    let scale = pool.task(move |a: &[u8]| Ok((u32_of(a) * factor).to_le_bytes().to_vec())).unwrap();
    let sq = pool.task(square).unwrap();
    assert_eq!(u32_of(&pool.apply(&scale, 5u32.to_le_bytes()).unwrap()), 15);
    assert_eq!(u32_of(&pool.apply(&sq, 7u32.to_le_bytes()).unwrap()), 49);
    // The workers run: a new capturing closure would not be in their memory.
    let late = 1u32;
    assert_err(pool.task(move |_: &[u8]| Ok(vec![late as u8])), E_STATE, "MPROC_E_STATE");
    // Capture-free closures are fine at any time.
    let echo = pool.task(|a: &[u8]| Ok(a.to_vec())).unwrap();
    assert_eq!(pool.apply(&echo, b"hi").unwrap(), b"hi");
    // A task of another pool is refused.
    let other = Pool::new(1).unwrap();
    let foreign = other.task(square).unwrap();
    assert_err(pool.apply(&foreign, b"1234"), E_INVAL, "MPROC_E_INVAL");
    pool.close().unwrap();
    pool.join().unwrap();
    assert_err(pool.apply(&sq, 1u32.to_le_bytes()), E_STATE, "MPROC_E_STATE");
}

fn apply_async_results() {
    let pool = Pool::new(3).unwrap();
    let slow = pool.task(sleep_ms_then_echo).unwrap();
    let results: Vec<_> = (0..10u32).map(|i| pool.apply_async(&slow, (i * 10).to_le_bytes()).unwrap()).collect();
    let r = pool.apply_async(&slow, 400u32.to_le_bytes()).unwrap();
    assert!(!r.ready());
    assert_err(r.successful(), E_BUSY, "MPROC_E_BUSY");
    assert_err(r.get_timeout(Duration::from_millis(10)), E_TIMEOUT, "MPROC_E_TIMEOUT");
    assert!(!r.wait_timeout(Duration::from_millis(1)));
    r.wait();
    assert!(r.ready());
    assert!(r.successful().unwrap());
    assert_eq!(u32_of(&r.get().unwrap()), 400);
    assert_eq!(u32_of(&r.get().unwrap()), 400, "get twice");
    for (i, res) in results.iter().enumerate() {
        assert_eq!(u32_of(&res.get().unwrap()), i as u32 * 10);
        assert_eq!(res.worker_exitcode(), None);
    }
    pool.close().unwrap();
    pool.join_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(pool.stat(PoolStat::TasksSubmitted).unwrap(), 11);
    assert_eq!(pool.stat(PoolStat::TasksSucceeded).unwrap(), 11);
}

fn failures_are_errors() {
    let pool = Pool::new(2).unwrap();
    let fail = pool.task(|a: &[u8]| if a == b"bad" { Err("bad input".to_string()) } else { Ok(a.to_vec()) }).unwrap();
    let boom = pool.task(|_: &[u8]| -> TaskResult { panic!("expected panic (test)") }).unwrap();
    let die = pool.task(|_: &[u8]| -> TaskResult { std::process::abort() }).unwrap();

    let e = assert_err(pool.apply(&fail, b"bad"), E_TASK_FAILED, "MPROC_E_TASK_FAILED");
    assert_eq!(e.reply(), Some(&b"bad input"[..]));
    assert!(e.to_string().contains("bad input"), "{}", e);
    assert_eq!(pool.apply(&fail, b"good").unwrap(), b"good");

    let r = pool.apply_async(&boom, b"").unwrap();
    let e = assert_err(r.get(), E_TASK_FAILED, "MPROC_E_TASK_FAILED");
    assert!(String::from_utf8_lossy(e.reply().unwrap()).contains("expected panic (test)"), "{}", e);
    assert!(!r.successful().unwrap());

    let r = pool.apply_async(&die, b"").unwrap();
    let e = assert_err(r.get(), E_WORKER_DIED, "MPROC_E_WORKER_DIED");
    assert_eq!(e.worker_exitcode(), Some(-6), "{}", e);
    assert_eq!(r.worker_exitcode(), Some(-6));
    // The pool replaced the worker and goes on.
    assert_eq!(pool.apply(&fail, b"after").unwrap(), b"after");
    assert!(pool.stat(PoolStat::WorkersDied).unwrap() >= 1);
    pool.close().unwrap();
    pool.join().unwrap();
}

fn map_in_order() {
    let pool = Pool::new(3).unwrap();
    let sq = pool.task(square).unwrap();
    let items: Vec<[u8; 4]> = (0..50u32).map(|i| i.to_le_bytes()).collect();
    let out = pool.map(&sq, &items).unwrap();
    assert_eq!(out.iter().map(|b| u32_of(b)).collect::<Vec<_>>(), (0..50u32).map(|i| i * i).collect::<Vec<_>>());
    let out = pool.map_chunked(&sq, &items, 7).unwrap();
    assert_eq!(out.len(), 50);
    assert_eq!(u32_of(&out[49]), 49 * 49);
    assert!(pool.map(&sq, Vec::<Vec<u8>>::new()).unwrap().is_empty());
    let picky = pool.task(|a: &[u8]| if a[0] == 3 { Err("three".into()) } else { Ok(vec![a[0]]) }).unwrap();
    assert_err(pool.map(&picky, [[1u8], [2], [3], [4]]), E_TASK_FAILED, "MPROC_E_TASK_FAILED");
    pool.close().unwrap();
    pool.join().unwrap();
}

fn imap_and_imap_unordered() {
    let pool = Pool::new(3).unwrap();
    let slow = pool.task(sleep_ms_then_echo).unwrap();
    let sleeps = [600u32, 300, 0];
    let ordered: Vec<u32> = pool.imap(&slow, sleeps.iter().map(|s| s.to_le_bytes())).unwrap().map(|r| u32_of(&r.unwrap())).collect();
    assert_eq!(ordered, [600, 300, 0], "imap keeps input order");

    let mut it = pool.imap_unordered(&slow, sleeps.iter().map(|s| s.to_le_bytes())).unwrap();
    assert_eq!(it.size_hint(), (0, Some(3)));
    let mut seen = Vec::new();
    while let Some(r) = it.next() {
        seen.push((it.index().unwrap(), u32_of(&r.unwrap())));
    }
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[0], (2, 0), "the quickest comes first: {:?}", seen);
    let mut idx: Vec<usize> = seen.iter().map(|s| s.0).collect();
    idx.sort();
    assert_eq!(idx, [0, 1, 2]);
    assert!(it.next().is_none(), "done stays done");

    // A failed item is an Err, and iteration goes on.
    let picky = pool.task(|a: &[u8]| if a[0] == 1 { Err("one".into()) } else { Ok(vec![a[0] * 2]) }).unwrap();
    let got: Vec<_> = pool.imap_chunked(&picky, [[0u8], [1], [2]], 2).unwrap().collect();
    assert_eq!(got[0].as_ref().unwrap(), &[0]);
    assert_eq!(got[1].as_ref().unwrap_err().code(), E_TASK_FAILED);
    assert_eq!(got[2].as_ref().unwrap(), &[4]);
    let mut unordered: Vec<u8> =
        pool.imap_unordered_chunked(&picky, [[2u8], [3], [4]], 0).unwrap().map(|r| r.unwrap()[0]).collect();
    unordered.sort();
    assert_eq!(unordered, [4, 6, 8]);

    let mut slow_it = pool.imap(&slow, [2000u32.to_le_bytes()]).unwrap();
    assert_eq!(slow_it.next_timeout(Duration::from_millis(20)).unwrap().unwrap_err().code(), E_TIMEOUT);
    drop(slow_it); // cancels the rest
    pool.terminate().unwrap();
    pool.join().unwrap();
}

fn callbacks() {
    let (tx, rx) = mpsc::channel();
    let pool = Pool::new(2).unwrap();
    let sq = pool.task(square).unwrap();
    let fail = pool.task(|_: &[u8]| Err("nope".to_string())).unwrap();
    for i in 0..5u32 {
        let tx = tx.clone();
        pool.apply_async_with(&sq, i.to_le_bytes(), move |r| tx.send(u32_of(&r.unwrap())).unwrap()).unwrap();
    }
    let tx2 = tx.clone();
    let r = pool.apply_async_with(&fail, b"", move |r| tx2.send(r.unwrap_err().code() as u32).unwrap()).unwrap();
    assert_eq!(r.get().unwrap_err().code(), E_TASK_FAILED);
    let mut got: Vec<u32> = (0..6).map(|_| rx.recv_timeout(Duration::from_secs(30)).unwrap()).collect();
    got.sort();
    let mut want = vec![0, 1, 4, 9, 16, E_TASK_FAILED as u32];
    want.sort();
    assert_eq!(got, want);
    pool.close().unwrap();
    pool.join().unwrap();
}

static INIT_VALUE: AtomicU32 = AtomicU32::new(0);

fn initializer_and_maxtasksperchild() {
    let mut pool = Pool::new(2).unwrap();
    let seed = 42u32;
    pool.set_initializer(move || INIT_VALUE.store(seed, Ordering::SeqCst)).unwrap();
    pool.set_maxtasksperchild(1).unwrap();
    let read = pool.task(|_: &[u8]| {
        let pid = std::process::id();
        Ok([INIT_VALUE.load(Ordering::SeqCst).to_le_bytes(), pid.to_le_bytes()].concat())
    })
    .unwrap();
    let out = pool.map_chunked(&read, vec![b""; 6], 1).unwrap();
    let mut pids: Vec<u32> = out.iter().map(|b| u32_of(&b[4..])).collect();
    assert!(out.iter().all(|b| u32_of(b) == 42), "the initializer ran in every worker");
    assert_eq!(INIT_VALUE.load(Ordering::SeqCst), 0, "not in the parent");
    pids.sort();
    pids.dedup();
    assert_eq!(pids.len(), 6, "one task per worker");
    assert!(pool.stat(PoolStat::WorkersStarted).unwrap() >= 6);
    pool.close().unwrap();
    pool.join().unwrap();
    assert_err(pool.set_maxtasksperchild(2), E_STATE, "MPROC_E_STATE");

    let mut bad = Pool::new(1).unwrap();
    bad.set_initializer(|| false).unwrap();
    let t = bad.task(square).unwrap();
    assert_err(bad.apply(&t, 1u32.to_le_bytes()), E_INIT_FAILED, "MPROC_E_INIT_FAILED");
}

fn task_timeout_and_terminate() {
    let pool = Pool::new(1).unwrap();
    pool.set_task_timeout(Duration::from_millis(200)).unwrap();
    let slow = pool.task(sleep_ms_then_echo).unwrap();
    let e = assert_err(pool.apply(&slow, 10_000u32.to_le_bytes()), E_TASK_TIMEOUT, "MPROC_E_TASK_TIMEOUT");
    assert_eq!(e.code(), E_TASK_TIMEOUT);
    assert_eq!(u32_of(&pool.apply(&slow, 1u32.to_le_bytes()).unwrap()), 1);
    assert_err(pool.join(), E_STATE, "MPROC_E_STATE");

    let long = Pool::new(1).unwrap();
    let t = long.task(sleep_ms_then_echo).unwrap();
    let r1 = long.apply_async(&t, 10_000u32.to_le_bytes()).unwrap();
    let r2 = long.apply_async(&t, 10_000u32.to_le_bytes()).unwrap();
    long.terminate().unwrap();
    long.join_timeout(Duration::from_secs(10)).unwrap();
    assert_err(r2.get(), E_CANCELLED, "MPROC_E_CANCELLED");
    assert!(r1.get().is_err());
}

fn named_tasks() {
    mproc::register_task!(square).unwrap();
    let t = Task::named("square").unwrap();
    let pool = Pool::new(1).unwrap();
    assert_eq!(u32_of(&pool.apply(&t, 3u32.to_le_bytes()).unwrap()), 9);
    assert_eq!(u32_of(&pool.apply_async(&t, 4u32.to_le_bytes()).unwrap().get().unwrap()), 16);
    assert_eq!(pool.map(&t, [1u32.to_le_bytes(), 2u32.to_le_bytes()]).unwrap().len(), 2);
    assert_eq!(pool.imap(&t, [5u32.to_le_bytes()]).unwrap().map(|r| u32_of(&r.unwrap())).collect::<Vec<_>>(), [25]);
    assert_eq!(pool.imap_unordered(&t, [6u32.to_le_bytes()]).unwrap().count(), 1);
    assert_err(pool.apply(&Task::named("no-such-task").unwrap(), b""), E_NOENT, "MPROC_E_NOENT");
}

fn main() {
    mproc::main().unwrap();
    common::run(&[
        ("apply_and_capturing_closures", apply_and_capturing_closures),
        ("apply_async_results", apply_async_results),
        ("failures_are_errors", failures_are_errors),
        ("map_in_order", map_in_order),
        ("imap_and_imap_unordered", imap_and_imap_unordered),
        ("callbacks", callbacks),
        ("initializer_and_maxtasksperchild", initializer_and_maxtasksperchild),
        ("task_timeout_and_terminate", task_timeout_and_terminate),
        ("named_tasks", named_tasks),
    ]);
}
