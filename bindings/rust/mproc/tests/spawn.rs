//! Spawn and forkserver: registered targets started by name in a fresh run
//! of this test program (which therefore calls `mproc::main()` first).
mod common;

use std::time::Duration;

use common::{assert_err, unique};
use mproc::{Pool, Process, Queue, StartMethod, Task, TaskResult, E_INVAL};

fn arg_len(arg: &[u8]) -> i32 {
    arg.len() as i32
}

fn say_name(arg: &[u8]) -> mproc::Result<()> {
    let q = Queue::open(std::str::from_utf8(arg).unwrap())?;
    q.put(format!("hello from {}", mproc::current_name()))
}

fn double(arg: &[u8]) -> TaskResult {
    Ok(arg.iter().map(|b| b * 2).collect())
}

fn spawn_runs_registered_target() {
    for method in [StartMethod::Spawn, StartMethod::Forkserver, StartMethod::Fork] {
        let p = Process::named("arg_len", b"abcd").unwrap();
        p.set_start_method(method).unwrap();
        p.start().unwrap();
        p.join_timeout(Duration::from_secs(60)).unwrap();
        assert_eq!(p.exitcode(), Some(4), "{:?}", method);
        let custom = Process::named("custom-name", b"xy").unwrap();
        custom.set_start_method(method).unwrap();
        custom.start().unwrap();
        custom.join().unwrap();
        assert_eq!(custom.exitcode(), Some(2), "{:?}", method);
    }
    assert!(mproc::forkserver_pid().is_some());
}

fn spawned_child_uses_named_queue() {
    let name = unique("spawn");
    let q = Queue::create(&name, 0, 0).unwrap();
    let p = Process::named("say_name", name.as_bytes()).unwrap().with_name("spawned-1").unwrap();
    p.set_start_method(StartMethod::Spawn).unwrap();
    p.start().unwrap();
    p.join().unwrap();
    assert_eq!(p.exitcode(), Some(0));
    assert_eq!(q.get_timeout(Duration::from_secs(5)).unwrap(), b"hello from spawned-1");
    Queue::unlink(&name).unwrap();
}

fn closures_need_fork() {
    assert_eq!(mproc::get_start_method(), StartMethod::Fork);
    let p = Process::new(|| 0).unwrap();
    p.set_start_method(StartMethod::Spawn).unwrap();
    assert_err(p.start(), E_INVAL, "MPROC_E_INVAL");
    assert_err(mproc::register!("arg_len", say_name), mproc::E_EXIST, "MPROC_E_EXIST");
}

fn spawn_pool() {
    let pool = Pool::new(2).unwrap();
    pool.set_start_method(StartMethod::Spawn).unwrap();
    let t = Task::named("double").unwrap();
    assert_eq!(pool.apply(&t, [1u8, 2]).unwrap(), [2, 4]);
    assert_eq!(pool.map(&t, [[1u8], [2], [3]]).unwrap(), [[2], [4], [6]]);
    let got: Vec<Vec<u8>> = pool.imap(&t, [[5u8]]).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(got, [[10]]);
    pool.close().unwrap();
    pool.join().unwrap();
}

fn main() {
    mproc::register!(arg_len).unwrap();
    mproc::register!("custom-name", arg_len).unwrap();
    mproc::register!(say_name).unwrap();
    mproc::register_task!(double).unwrap();
    mproc::main().unwrap();
    common::run(&[
        ("spawn_runs_registered_target", spawn_runs_registered_target),
        ("spawned_child_uses_named_queue", spawned_child_uses_named_queue),
        ("closures_need_fork", closures_need_fork),
        ("spawn_pool", spawn_pool),
    ]);
}
