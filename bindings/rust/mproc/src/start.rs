//! Start methods, named targets and tasks, and the spawn entry point.
use std::ffi::CString;
use std::os::raw::{c_char, c_int};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use mproc_sys as sys;

use crate::error::{check, Error, Result};

/// How children come to life (see `mproc-start.h`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartMethod {
    /// `fork()` of the caller (the default): closures work, but only
    /// single-threaded parents are safe.
    Fork,
    /// A fresh run of the program, entering [`main`](crate::main); targets
    /// and tasks must be registered by name.
    Spawn,
    /// Forked by mproc's small single-threaded fork server (itself spawned).
    Forkserver,
}

impl StartMethod {
    pub(crate) fn raw(self) -> c_int {
        match self {
            StartMethod::Fork => sys::MPROC_START_FORK,
            StartMethod::Spawn => sys::MPROC_START_SPAWN,
            StartMethod::Forkserver => sys::MPROC_START_FORKSERVER,
        }
    }

    fn from_raw(v: c_int) -> StartMethod {
        match v {
            sys::MPROC_START_SPAWN => StartMethod::Spawn,
            sys::MPROC_START_FORKSERVER => StartMethod::Forkserver,
            _ => StartMethod::Fork,
        }
    }
}

/// Sets the process-wide default start method (before the first child or
/// pool worker starts, else [`E_STATE`](crate::E_STATE)).
pub fn set_start_method(method: StartMethod) -> Result<()> {
    check(unsafe { sys::mproc_set_start_method(method.raw()) }).map(drop)
}

/// The process-wide default start method.
pub fn get_start_method() -> StartMethod {
    StartMethod::from_raw(unsafe { sys::mproc_get_start_method() })
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::with_context(sys::MPROC_E_INVAL, format!("NUL in {}", what)))
}

/// Registers a C-ABI process target under `name` (what
/// [`register!`](crate::register) expands to). Run the same registrations in
/// every process, before [`main`](crate::main).
pub fn register_target(name: &str, f: sys::mproc_target_fn) -> Result<()> {
    let c = cstring(name, "target name")?;
    check(unsafe { sys::mproc_register(c.as_ptr(), f) }).map(drop)
}

/// Registers a C-ABI pool task under `name` (what
/// [`register_task!`](crate::register_task) expands to).
pub fn register_task_fn(name: &str, f: sys::mproc_task_fn) -> Result<()> {
    let c = cstring(name, "task name")?;
    check(unsafe { sys::mproc_register_task(c.as_ptr(), f) }).map(drop)
}

/// Registers a plain `fn(&[u8]) -> R` as a process target, `R` being any
/// [`ExitCode`](crate::ExitCode) (`()`, `i32`, `Result`...), under its own
/// name or a given one; evaluates to [`Result<()>`](crate::Result).
///
/// ```no_run
/// fn child(arg: &[u8]) -> i32 { arg.len() as i32 }
///
/// fn main() {
///     mproc::register!(child).unwrap();           // name "child"
///     mproc::register!("child-2", child).unwrap();
///     mproc::main().unwrap();                     // spawned children stop here
///     let p = mproc::Process::named("child", b"abc").unwrap();
///     p.set_start_method(mproc::StartMethod::Spawn).unwrap();
///     p.start().unwrap();
///     p.join().unwrap();
///     assert_eq!(p.exitcode(), Some(3));
/// }
/// ```
#[macro_export]
macro_rules! register {
    ($f:ident) => {
        $crate::register!(stringify!($f), $f)
    };
    ($name:expr, $f:path) => {{
        unsafe extern "C" fn __mproc_target(
            arg: *const ::std::os::raw::c_void,
            len: usize,
            _ctx: *mut ::std::os::raw::c_void,
        ) -> ::std::os::raw::c_int {
            $crate::__private::run_target(arg, len, $f)
        }
        $crate::register_target($name, __mproc_target)
    }};
}

/// Registers a plain `fn(&[u8]) -> TaskResult` as a pool task (for spawn
/// and forkserver pools, see [`Task::named`](crate::Task::named)), under its
/// own name or a given one; evaluates to [`Result<()>`](crate::Result).
#[macro_export]
macro_rules! register_task {
    ($f:ident) => {
        $crate::register_task!(stringify!($f), $f)
    };
    ($name:expr, $f:path) => {{
        unsafe extern "C" fn __mproc_task(
            arg: *const ::std::os::raw::c_void,
            len: usize,
            reply: *mut $crate::sys::mproc_reply,
            _ctx: *mut ::std::os::raw::c_void,
        ) -> ::std::os::raw::c_int {
            $crate::__private::run_task_fn(arg, len, reply, $f)
        }
        $crate::register_task_fn($name, __mproc_task)
    }};
}

/// The spawn entry point: call it first thing in `main()`, after the
/// [`register!`](crate::register) / [`register_task!`](crate::register_task)
/// calls. In a spawned child (or the fork server) it runs what the parent
/// asked for and never returns; anywhere else it returns `Ok(())` at once.
pub fn main() -> Result<()> {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()).unwrap_or_else(|_| CString::new("?").unwrap()))
        .collect();
    let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr() as *mut c_char).collect();
    argv.push(std::ptr::null_mut());
    check(unsafe { sys::mproc_main(args.len() as c_int, argv.as_mut_ptr()) }).map(drop)
}

/// The program spawned children run (`None`: this one, the default). It
/// must register the same names and call [`main`](crate::main).
pub fn set_executable(path: Option<&Path>) -> Result<()> {
    match path {
        None => check(unsafe { sys::mproc_set_executable(std::ptr::null()) }).map(drop),
        Some(p) => {
            let c = CString::new(p.as_os_str().as_bytes())
                .map_err(|_| Error::with_context(sys::MPROC_E_INVAL, "NUL in executable path"))?;
            check(unsafe { sys::mproc_set_executable(c.as_ptr()) }).map(drop)
        }
    }
}

/// Starts the fork server now (e.g. before the program starts threads).
pub fn forkserver_start() -> Result<()> {
    check(unsafe { sys::mproc_forkserver_start() }).map(drop)
}

/// The fork server's pid, `None` when none runs.
pub fn forkserver_pid() -> Option<u32> {
    let pid = unsafe { sys::mproc_forkserver_pid() };
    if pid > 0 {
        Some(pid as u32)
    } else {
        None
    }
}
