//! Process: closures in forked children, exit codes, signals, names.
mod common;

use std::cell::Cell;
use std::time::{Duration, Instant};

use common::assert_err;
use mproc::{Process, E_INVAL, E_NOENT, E_STATE, E_TIMEOUT};

fn run_closure_exit_code() {
    let p = Process::new(|| 7).unwrap();
    assert_eq!(p.pid(), None);
    assert_eq!(p.exitcode(), None);
    assert!(!p.is_alive());
    p.start().unwrap();
    assert!(p.pid().unwrap() > 0);
    assert_ne!(p.pid().unwrap(), std::process::id());
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(7));
    assert!(!p.is_alive());
    p.join().unwrap(); // again: still OK
}

fn exit_code_conversions() {
    let cases: Vec<(Process, i32)> = vec![
        (Process::new(|| ()).unwrap(), 0),
        (Process::new(|| 3u8).unwrap(), 3),
        (Process::new(|| false).unwrap(), 1),
        (Process::new(|| Ok::<(), String>(())).unwrap(), 0),
        (Process::new(|| Err::<(), _>("expected failure (test)")).unwrap(), 1),
        (Process::new(|| -> i32 { panic!("expected panic (test)") }).unwrap(), 1),
    ];
    for (p, _) in &cases {
        p.start().unwrap();
    }
    for (p, want) in &cases {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(*want), "{:?}", p);
    }
}

fn borrows_and_copy_on_write() {
    let data = vec![1u8, 2, 3, 4];
    let counter = Cell::new(0);
    let p = Process::new(|| {
        counter.set(100); // the child's copy only
        data.iter().map(|&x| x as i32).sum::<i32>()
    })
    .unwrap();
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(10));
    assert_eq!(counter.get(), 0, "globals are not shared");
}

fn join_timeout_terminate_kill() {
    let p = Process::new(|| std::thread::sleep(Duration::from_secs(30))).unwrap();
    p.start().unwrap();
    assert!(p.is_alive());
    let t = Instant::now();
    assert_err(p.join_timeout(Duration::from_millis(200)), E_TIMEOUT, "MPROC_E_TIMEOUT");
    assert!(t.elapsed() >= Duration::from_millis(150));
    assert_eq!(p.exitcode(), None);
    p.terminate().unwrap();
    p.join_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(p.exitcode(), Some(-15));

    let k = Process::new(|| std::thread::sleep(Duration::from_secs(30))).unwrap();
    k.start().unwrap();
    k.kill().unwrap();
    k.join().unwrap();
    assert_eq!(k.exitcode(), Some(-9));
    k.terminate().unwrap(); // already exited: no signal, no error
}

fn misuse_is_an_error() {
    let p = Process::new(|| 0).unwrap();
    assert_err(p.join(), E_STATE, "MPROC_E_STATE");
    assert_err(p.terminate(), E_STATE, "MPROC_E_STATE");
    assert_err(p.sentinel(), E_STATE, "MPROC_E_STATE");
    p.start().unwrap();
    assert_err(p.start(), E_STATE, "MPROC_E_STATE");
    assert_err(p.set_name("late"), E_STATE, "MPROC_E_STATE");
    assert!(p.sentinel().unwrap() >= 0);
    p.join().unwrap();
    assert_err(Process::named("no-such-target", b""), E_NOENT, "MPROC_E_NOENT");
    assert_err(p.set_name("bad\0name"), E_INVAL, "MPROC_E_INVAL");
}

fn names_and_daemon() {
    assert_eq!(mproc::current_name(), "MainProcess");
    let p = Process::new(|| mproc::current_name() == "worker-x").unwrap().with_name("worker-x").unwrap();
    assert_eq!(p.name(), "worker-x");
    assert!(!p.daemon());
    p.set_daemon(true).unwrap();
    assert!(p.daemon());
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0), "the child sees its name");
    let q = Process::new(|| 0).unwrap();
    assert!(q.name().starts_with("Process-"), "{}", q.name());
    assert!(format!("{:?}", q).contains("Process-"));
}

fn ten_processes() {
    let procs: Vec<Process> = (0..10).map(|i| Process::new(move || i).unwrap()).collect();
    for p in &procs {
        p.start().unwrap();
    }
    for (i, p) in procs.iter().enumerate() {
        p.join().unwrap();
        assert_eq!(p.exitcode(), Some(i as i32));
    }
}

fn drop_running_process_does_not_block() {
    let t = Instant::now();
    {
        let p = Process::new(|| std::thread::sleep(Duration::from_millis(300))).unwrap();
        p.start().unwrap();
    }
    assert!(t.elapsed() < Duration::from_millis(250));
}

fn misc_helpers() {
    assert!(mproc::cpu_count() >= 1);
    assert!(mproc::version().starts_with("0."), "{}", mproc::version());
    let e = mproc::Error::new(mproc::E_FULL);
    assert_eq!(e.name(), "MPROC_E_FULL");
    assert!(e.is_timeout());
    assert!(!mproc::Error::new(E_STATE).is_timeout());
    let io: std::io::Error = e.into();
    assert!(io.to_string().contains("MPROC_E_FULL"));
}

fn main() {
    mproc::main().unwrap();
    common::run(&[
        ("run_closure_exit_code", run_closure_exit_code),
        ("exit_code_conversions", exit_code_conversions),
        ("borrows_and_copy_on_write", borrows_and_copy_on_write),
        ("join_timeout_terminate_kill", join_timeout_terminate_kill),
        ("misuse_is_an_error", misuse_is_an_error),
        ("names_and_daemon", names_and_daemon),
        ("ten_processes", ten_processes),
        ("drop_running_process_does_not_block", drop_running_process_does_not_block),
        ("misc_helpers", misc_helpers),
    ]);
}
