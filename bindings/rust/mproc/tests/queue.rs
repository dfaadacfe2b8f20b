//! Queue: anonymous and named queues, bounds, timeouts, close/shutdown,
//! and producer/consumer processes.
mod common;

use std::time::{Duration, Instant};

use common::{assert_err, unique};
use mproc::{Process, Queue, E_CLOSED, E_EMPTY, E_EXIST, E_FULL, E_INVAL, E_NOENT, E_TOOBIG};

fn fifo_roundtrip() {
    let q = Queue::new(0).unwrap();
    assert_eq!(q.name(), None);
    assert!(q.empty().unwrap());
    q.put(b"one").unwrap();
    q.put("two").unwrap();
    q.put(Vec::<u8>::new()).unwrap();
    assert_eq!(q.qsize().unwrap(), 3);
    assert!(!q.empty().unwrap());
    assert_eq!(q.get().unwrap(), b"one");
    assert_eq!(q.get_nowait().unwrap(), b"two");
    assert_eq!(q.get_timeout(Duration::from_secs(1)).unwrap(), b"");
    assert!(q.empty().unwrap());
}

fn bounded_and_timeouts() {
    let q = Queue::new(2).unwrap();
    q.put_nowait(b"a").unwrap();
    q.put_timeout(b"b", Duration::from_millis(10)).unwrap();
    assert!(q.full().unwrap());
    assert_err(q.put_nowait(b"c"), E_FULL, "MPROC_E_FULL");
    let t = Instant::now();
    let e = assert_err(q.put_timeout(b"c", Duration::from_millis(150)), E_FULL, "MPROC_E_FULL");
    assert!(e.is_timeout());
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert_eq!(q.qsize().unwrap(), 2);
    q.get().unwrap();
    q.get().unwrap();
    assert_err(q.get_nowait(), E_EMPTY, "MPROC_E_EMPTY");
    let t = Instant::now();
    assert_err(q.get_timeout(Duration::from_millis(150)), E_EMPTY, "MPROC_E_EMPTY");
    assert!(t.elapsed() >= Duration::from_millis(100));
}

fn sizes_and_get_into() {
    let q = Queue::with_capacity(0, 1000).unwrap();
    assert_eq!(q.capacity(), 1024);
    assert_eq!(q.max_message(), 1024 - 16);
    assert_err(q.put(vec![0u8; 2000]), E_TOOBIG, "MPROC_E_TOOBIG");
    q.put(b"hello world").unwrap();
    let mut small = [0u8; 4];
    let e = assert_err(q.get_into(&mut small, None), E_TOOBIG, "MPROC_E_TOOBIG");
    assert!(e.context().unwrap().contains("11 bytes"), "{}", e);
    let mut buf = [0u8; 64];
    let n = q.get_into(&mut buf, Some(Duration::from_secs(1))).unwrap();
    assert_eq!(&buf[..n], b"hello world");
    assert_err(q.get_into(&mut buf, Some(Duration::ZERO)), E_EMPTY, "MPROC_E_EMPTY");
}

fn close_and_shutdown() {
    let q = Queue::new(0).unwrap();
    q.put(b"x").unwrap();
    q.close().unwrap();
    assert_err(q.put(b"y"), E_CLOSED, "MPROC_E_CLOSED");
    assert_err(q.get_nowait(), E_CLOSED, "MPROC_E_CLOSED");
    assert_eq!(q.qsize().unwrap(), 1, "queries still work");

    let q = Queue::new(0).unwrap();
    q.put(b"left").unwrap();
    q.shutdown(false).unwrap();
    assert_err(q.put(b"late"), E_CLOSED, "MPROC_E_CLOSED");
    assert_eq!(q.get().unwrap(), b"left", "a draining shutdown delivers what is left");
    assert_err(q.get(), E_CLOSED, "MPROC_E_CLOSED");

    let q = Queue::new(0).unwrap();
    q.put(b"dropped").unwrap();
    q.shutdown(true).unwrap();
    assert_err(q.get_nowait(), E_CLOSED, "MPROC_E_CLOSED");
}

fn named_queue() {
    let name = unique("named");
    let a = Queue::create(&name, 0, 4096).unwrap();
    assert_eq!(a.name().as_deref(), Some(name.as_str()));
    assert_err(Queue::create(&name, 0, 0), E_EXIST, "MPROC_E_EXIST");
    let b = Queue::open(&name).unwrap();
    assert_eq!(b.capacity(), 4096);
    a.put(b"across handles").unwrap();
    assert_eq!(b.get_timeout(Duration::from_secs(1)).unwrap(), b"across handles");
    Queue::unlink(&name).unwrap();
    assert_err(Queue::open(&name), E_NOENT, "MPROC_E_NOENT");
    assert_err(Queue::unlink(&name), E_NOENT, "MPROC_E_NOENT");
    b.put(b"still works").unwrap();
    assert_eq!(a.get_nowait().unwrap(), b"still works");
    assert_err(Queue::open("bad/name"), E_INVAL, "MPROC_E_INVAL");
}

fn named_queue_between_processes() {
    let name = unique("procs");
    let q = Queue::create(&name, 0, 0).unwrap();
    let n2 = name.clone();
    let child = Process::new(move || -> mproc::Result<()> {
        let mine = Queue::open(&n2)?;
        for i in 0..5 {
            mine.put(format!("msg-{}", i))?;
        }
        Ok(())
    })
    .unwrap();
    child.start().unwrap();
    child.join().unwrap();
    assert_eq!(child.exitcode(), Some(0));
    for i in 0..5 {
        assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), format!("msg-{}", i).into_bytes());
    }
    Queue::unlink(&name).unwrap();
}

// The seed documents' producer / consumer example: a queue of 3, one
// process downloads 11, 22, 33, 44, another analyses them.
fn producer_consumer_processes() {
    let q = Queue::new(3).unwrap();
    let producer = Process::new(|| -> mproc::Result<()> {
        for v in [11u32, 22, 33, 44] {
            q.put(v.to_le_bytes())?;
        }
        Ok(())
    })
    .unwrap();
    let consumer = Process::new(|| {
        let mut got = Vec::new();
        while got.len() < 4 {
            match q.get_timeout(Duration::from_secs(10)) {
                Ok(b) => got.push(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                Err(_) => break,
            }
        }
        got == [11, 22, 33, 44]
    })
    .unwrap();
    producer.start().unwrap();
    consumer.start().unwrap();
    producer.join().unwrap();
    consumer.join().unwrap();
    assert_eq!(producer.exitcode(), Some(0));
    assert_eq!(consumer.exitcode(), Some(0), "the consumer got 11, 22, 33, 44 in order");
    assert!(q.empty().unwrap());
}

fn many_writers_parent_reads() {
    let queue = Queue::new(0).unwrap();
    let q = &queue;
    let writers: Vec<Process> =
        (0..3).map(|i| Process::new(move || q.put(format!("writer {}", i)).is_ok()).unwrap()).collect();
    // Joining before reading cannot deadlock: puts copy into shared memory.
    for w in &writers {
        w.start().unwrap();
    }
    for w in &writers {
        w.join().unwrap();
        assert_eq!(w.exitcode(), Some(0));
    }
    let mut got: Vec<String> = (0..3).map(|_| String::from_utf8(q.get_nowait().unwrap()).unwrap()).collect();
    got.sort();
    assert_eq!(got, ["writer 0", "writer 1", "writer 2"]);
}

fn threads_share_a_queue() {
    let q = Queue::new(4).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 0..100u32 {
                q.put(i.to_le_bytes()).unwrap();
            }
        });
        let mut sum = 0u32;
        for _ in 0..100 {
            let b = q.get().unwrap();
            sum += u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        assert_eq!(sum, 4950);
    });
}

fn main() {
    mproc::main().unwrap();
    common::run(&[
        ("fifo_roundtrip", fifo_roundtrip),
        ("bounded_and_timeouts", bounded_and_timeouts),
        ("sizes_and_get_into", sizes_and_get_into),
        ("close_and_shutdown", close_and_shutdown),
        ("named_queue", named_queue),
        ("named_queue_between_processes", named_queue_between_processes),
        ("producer_consumer_processes", producer_consumer_processes),
        ("many_writers_parent_reads", many_writers_parent_reads),
        // Last: it starts a thread, and nothing forks after it.
        ("threads_share_a_queue", threads_share_a_queue),
    ]);
}
