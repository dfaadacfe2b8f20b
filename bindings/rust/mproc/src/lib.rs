//! Python's `multiprocessing` for Rust, on top of libmproc.
//!
//! * [`Process`]: run a closure (fork) or a registered function (spawn,
//!   forkserver) in a child process; join with a timeout, terminate, kill,
//!   exit codes (`-N` for signal N), names, daemon children.
//! * [`Queue`]: a bounded shared-memory queue of byte messages, anonymous
//!   (shared with children forked after it) or named (`/dev/shm/<name>`,
//!   opened by any process and any language).
//! * [`Pool`]: a pool of worker processes: [`Pool::apply`],
//!   [`Pool::apply_async`] ([`AsyncResult`]), [`Pool::map`], [`Pool::imap`]
//!   and [`Pool::imap_unordered`] ([`PoolIter`], an [`Iterator`]), chunks,
//!   callbacks, an initializer, `maxtasksperchild`, close / terminate / join.
//!
//! Every failure is an [`Error`] carrying the mproc code and its name.
//! Every handle is released by `Drop`.
//!
//! ```no_run
//! use mproc::{Process, Queue};
//!
//! let q = Queue::new(3).unwrap();
//! let producer = Process::new(|| {
//!     for v in [11u8, 22, 33] {
//!         q.put(&[v]).unwrap();
//!     }
//! }).unwrap();
//! producer.start().unwrap();
//! let got: Vec<u8> = (0..3).map(|_| q.get().unwrap()[0]).collect();
//! producer.join().unwrap();
//! assert_eq!(got, [11, 22, 33]);
//! assert_eq!(producer.exitcode(), Some(0));
//! ```
//!
//! # Fork, threads and closures
//!
//! With the default start method (fork) a child is a copy-on-write image of
//! the parent, so closures and everything they borrow are simply there:
//! nothing is serialised. As in Python, fork is only safe from a
//! single-threaded process: a child forked while other threads run inherits
//! their locks (the allocator's, a `Mutex`'s, stdout's) in whatever state
//! they were. In particular, [`Pool`] workers are forked from libmproc's
//! manager thread, so a closure task must not rely on locks that other
//! threads of the parent may hold. Use [`StartMethod::Spawn`] or
//! [`StartMethod::Forkserver`] with [`register!`]ed functions from threaded
//! programs.
//!
//! # Spawn and forkserver
//!
//! The child is a fresh run of the program: register the targets and tasks
//! with [`register!`] / [`register_task!`], then call [`main`] first thing in
//! `main()`. Closures cannot travel; [`Process::named`] starts a registered
//! target by name.
#![warn(missing_docs)]

mod error;
mod pool;
mod process;
mod queue;
mod start;

pub use error::{Error, Result, TaskResult};
pub use pool::{AsyncResult, Pool, PoolIter, PoolStat, Task};
pub use process::{ExitCode, Process};
pub use queue::Queue;
pub use start::{
    forkserver_pid, forkserver_start, get_start_method, main, register_target, register_task_fn, set_executable,
    set_start_method, StartMethod,
};

/// Raw declarations (`mproc-sys`), for what the safe API does not cover.
pub use mproc_sys as sys;

use std::ffi::CStr;
use std::time::Duration;

macro_rules! codes {
    ($($(#[$m:meta])* $name:ident = $sys:ident;)*) => {$(
        $(#[$m])*
        pub const $name: i32 = sys::$sys;
    )*};
}
codes! {
    /// Invalid argument (`MPROC_E_INVAL`).
    E_INVAL = MPROC_E_INVAL;
    /// Out of memory (`MPROC_E_NOMEM`).
    E_NOMEM = MPROC_E_NOMEM;
    /// No such object, e.g. queue name (`MPROC_E_NOENT`).
    E_NOENT = MPROC_E_NOENT;
    /// The object already exists (`MPROC_E_EXIST`).
    E_EXIST = MPROC_E_EXIST;
    /// Not permitted by the OS (`MPROC_E_PERM`).
    E_PERM = MPROC_E_PERM;
    /// A wait timed out (`MPROC_E_TIMEOUT`).
    E_TIMEOUT = MPROC_E_TIMEOUT;
    /// Still running / not ready (`MPROC_E_BUSY`).
    E_BUSY = MPROC_E_BUSY;
    /// Wrong state for the call (`MPROC_E_STATE`).
    E_STATE = MPROC_E_STATE;
    /// The queue had no room in time (`MPROC_E_FULL`).
    E_FULL = MPROC_E_FULL;
    /// The queue had no message in time (`MPROC_E_EMPTY`).
    E_EMPTY = MPROC_E_EMPTY;
    /// The queue or handle is closed or shut down (`MPROC_E_CLOSED`).
    E_CLOSED = MPROC_E_CLOSED;
    /// The payload can never fit (`MPROC_E_TOOBIG`).
    E_TOOBIG = MPROC_E_TOOBIG;
    /// A foreign or corrupt shared-memory segment (`MPROC_E_BAD_SEGMENT`).
    E_BAD_SEGMENT = MPROC_E_BAD_SEGMENT;
    /// A pool task failed (`MPROC_E_TASK_FAILED`).
    E_TASK_FAILED = MPROC_E_TASK_FAILED;
    /// The worker running a task died (`MPROC_E_WORKER_DIED`).
    E_WORKER_DIED = MPROC_E_WORKER_DIED;
    /// A task ran past the pool's task timeout (`MPROC_E_TASK_TIMEOUT`).
    E_TASK_TIMEOUT = MPROC_E_TASK_TIMEOUT;
    /// The task was cancelled by terminate (`MPROC_E_CANCELLED`).
    E_CANCELLED = MPROC_E_CANCELLED;
    /// The pool's initializer keeps failing (`MPROC_E_INIT_FAILED`).
    E_INIT_FAILED = MPROC_E_INIT_FAILED;
    /// Another OS failure (`MPROC_E_SYS`).
    E_SYS = MPROC_E_SYS;
}

/// The loaded libmproc's version, e.g. `"0.2.0"`.
pub fn version() -> &'static str {
    unsafe { CStr::from_ptr(sys::mproc_version_string()) }.to_str().unwrap_or("")
}

/// The number of CPUs this process may run on (affinity mask).
pub fn cpu_count() -> usize {
    unsafe { sys::mproc_cpu_count() }.max(1) as usize
}

/// The name of the calling process: `"MainProcess"`, or the name of the
/// mproc child running this code (`"Process-1"`, a pool worker's name...).
pub fn current_name() -> String {
    unsafe { CStr::from_ptr(sys::mproc_current_name()) }.to_string_lossy().into_owned()
}

/// A timeout for the C API: `None` waits forever.
pub(crate) fn secs(t: Option<Duration>) -> f64 {
    match t {
        None => sys::MPROC_FOREVER,
        Some(d) => d.as_secs_f64(),
    }
}

/// A panic payload as text.
pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("panicked: {}", s)
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("panicked: {}", s)
    } else {
        "panicked".to_string()
    }
}

#[doc(hidden)]
pub mod __private {
    pub use crate::pool::run_task_fn;
    pub use crate::process::run_target;
}
