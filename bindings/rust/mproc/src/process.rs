//! [`Process`]: one child process, like Python's `multiprocessing.Process`.
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::time::Duration;

use mproc_sys as sys;

use crate::error::{check, Error, Result};
use crate::start::StartMethod;

/// What a process target returns, turned into the child's exit code.
///
/// `()` is 0; integers are used as they are (only the low 8 bits survive,
/// as with `exit()`); `Ok(_)` is 0 and `Err(e)` prints `e` on stderr and
/// exits with 1, like an uncaught Python exception. A panicking target
/// exits with 1 too.
pub trait ExitCode {
    /// The exit code.
    fn exit_code(self) -> i32;
}

impl ExitCode for () {
    fn exit_code(self) -> i32 {
        0
    }
}

impl ExitCode for i32 {
    fn exit_code(self) -> i32 {
        self
    }
}

impl ExitCode for u8 {
    fn exit_code(self) -> i32 {
        self as i32
    }
}

impl ExitCode for bool {
    /// `true` is success (0), `false` is 1.
    fn exit_code(self) -> i32 {
        if self {
            0
        } else {
            1
        }
    }
}

impl<T, E: std::fmt::Debug> ExitCode for std::result::Result<T, E> {
    fn exit_code(self) -> i32 {
        match self {
            Ok(_) => 0,
            Err(e) => {
                eprintln!("{}: target failed: {:?}", crate::current_name(), e);
                1
            }
        }
    }
}

type Target<'a> = Option<Box<dyn FnOnce() -> i32 + 'a>>;

/// Runs the boxed closure in the child (fork: ctx is the parent's box).
unsafe extern "C" fn closure_trampoline(_arg: *const c_void, _len: usize, ctx: *mut c_void) -> c_int {
    let slot = &mut *(ctx as *mut Target<'static>);
    match slot.take() {
        Some(f) => match catch_unwind(AssertUnwindSafe(f)) {
            Ok(code) => code as c_int,
            Err(_) => 1, // the panic hook has printed the message
        },
        None => 1,
    }
}

/// Runs a registered `fn(&[u8]) -> i32` (spawn targets); see
/// [`register!`](crate::register).
#[doc(hidden)]
pub unsafe fn run_target<R: ExitCode>(arg: *const c_void, len: usize, f: fn(&[u8]) -> R) -> c_int {
    let bytes: &[u8] = if arg.is_null() || len == 0 { &[] } else { std::slice::from_raw_parts(arg as *const u8, len) };
    match catch_unwind(AssertUnwindSafe(|| f(bytes).exit_code())) {
        Ok(code) => code as c_int,
        Err(_) => 1,
    }
}

/// A child process.
///
/// Create it with [`Process::new`] (a closure, fork start method) or
/// [`Process::named`] (a [`register!`](crate::register)ed target, any start
/// method), optionally set its name, daemon flag and start method, then
/// [`start`](Process::start) and [`join`](Process::join) it.
///
/// Dropping the handle never blocks and never leaves a zombie: a child that
/// still runs goes on running (and a non-daemon one is joined when the
/// program exits normally, as in Python).
///
/// A `Process` may borrow from its environment (`'a`): with fork, the child
/// gets a copy-on-write image of everything alive when it starts.
pub struct Process<'a> {
    raw: NonNull<sys::mproc_process>,
    // Boxed so its address, passed to the child as ctx, is stable.
    _target: Option<Box<Target<'a>>>,
    _not_send: PhantomData<*mut ()>,
}

impl<'a> Process<'a> {
    /// A process that will run `f` in a forked child; its return value
    /// becomes the exit code (see [`ExitCode`]). A panic exits with 1.
    ///
    /// Closures need the fork start method (the default):
    /// [`start`](Process::start) fails with [`E_INVAL`](crate::E_INVAL) under
    /// spawn or forkserver.
    pub fn new<F, R>(f: F) -> Result<Process<'a>>
    where
        F: FnOnce() -> R + 'a,
        R: ExitCode,
    {
        let boxed: Box<dyn FnOnce() -> i32 + 'a> = Box::new(move || f().exit_code());
        let mut target: Box<Target<'a>> = Box::new(Some(boxed));
        let ctx = &mut *target as *mut Target<'a> as *mut c_void;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mproc_process_new(&mut raw, closure_trampoline, ptr::null(), 0, ctx) })?;
        Ok(Process { raw: NonNull::new(raw).expect("mproc_process_new"), _target: Some(target), _not_send: PhantomData })
    }

    /// A process that will run the target registered under `name` (see
    /// [`register!`](crate::register)) with a copy of `arg`. Works with every
    /// start method. Fails with [`E_NOENT`](crate::E_NOENT) when nothing is
    /// registered under that name.
    pub fn named(name: &str, arg: &[u8]) -> Result<Process<'static>> {
        let cname = CString::new(name).map_err(|_| Error::with_context(sys::MPROC_E_INVAL, "NUL in target name"))?;
        let mut raw = ptr::null_mut();
        check(unsafe {
            sys::mproc_process_new_named(&mut raw, cname.as_ptr(), arg.as_ptr() as *const c_void, arg.len())
        })?;
        Ok(Process { raw: NonNull::new(raw).expect("mproc_process_new_named"), _target: None, _not_send: PhantomData })
    }

    fn raw(&self) -> *mut sys::mproc_process {
        self.raw.as_ptr()
    }

    /// Sets the name (before start); the child sees it in
    /// [`current_name`](crate::current_name).
    pub fn set_name(&self, name: &str) -> Result<()> {
        let c = CString::new(name).map_err(|_| Error::with_context(sys::MPROC_E_INVAL, "NUL in process name"))?;
        check(unsafe { sys::mproc_process_set_name(self.raw(), c.as_ptr()) }).map(drop)
    }

    /// Builder form of [`set_name`](Process::set_name).
    pub fn with_name(self, name: &str) -> Result<Self> {
        self.set_name(name)?;
        Ok(self)
    }

    /// Sets the daemon flag (before start): a daemon child is killed when
    /// its parent exits, however it exits. Start daemons from a thread that
    /// outlives them (normally the main thread).
    pub fn set_daemon(&self, daemon: bool) -> Result<()> {
        check(unsafe { sys::mproc_process_set_daemon(self.raw(), daemon as c_int) }).map(drop)
    }

    /// Builder form of [`set_daemon`](Process::set_daemon).
    pub fn with_daemon(self, daemon: bool) -> Result<Self> {
        self.set_daemon(daemon)?;
        Ok(self)
    }

    /// Chooses this process's start method (before start).
    pub fn set_start_method(&self, method: StartMethod) -> Result<()> {
        check(unsafe { sys::mproc_process_set_start_method(self.raw(), method.raw()) }).map(drop)
    }

    /// Starts the child. A handle starts at most once
    /// ([`E_STATE`](crate::E_STATE) the second time).
    pub fn start(&self) -> Result<()> {
        check(unsafe { sys::mproc_process_start(self.raw()) }).map(drop)
    }

    /// Waits for the child to exit.
    pub fn join(&self) -> Result<()> {
        check(unsafe { sys::mproc_process_join(self.raw(), sys::MPROC_FOREVER) }).map(drop)
    }

    /// Waits at most `timeout` for the child to exit:
    /// [`E_TIMEOUT`](crate::E_TIMEOUT) if it still runs (unlike Python,
    /// which returns and lets you check).
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        check(unsafe { sys::mproc_process_join(self.raw(), timeout.as_secs_f64()) }).map(drop)
    }

    /// True while the child runs (false before start and after exit).
    pub fn is_alive(&self) -> bool {
        unsafe { sys::mproc_process_is_alive(self.raw()) == 1 }
    }

    /// Sends SIGTERM (join afterwards). A child that already exited is not
    /// signalled.
    pub fn terminate(&self) -> Result<()> {
        check(unsafe { sys::mproc_process_terminate(self.raw()) }).map(drop)
    }

    /// Sends SIGKILL (join afterwards).
    pub fn kill(&self) -> Result<()> {
        check(unsafe { sys::mproc_process_kill(self.raw()) }).map(drop)
    }

    /// The child's pid; `None` before start.
    pub fn pid(&self) -> Option<u32> {
        let pid = unsafe { sys::mproc_process_pid(self.raw()) };
        if pid > 0 {
            Some(pid as u32)
        } else {
            None
        }
    }

    /// The exit code once the child has exited: the target's return value,
    /// or `-N` when signal N killed it (-15 after terminate, -9 after kill).
    /// `None` before start and while it runs.
    pub fn exitcode(&self) -> Option<i32> {
        let mut code: c_int = 0;
        if unsafe { sys::mproc_process_exitcode(self.raw(), &mut code) } == sys::MPROC_OK {
            Some(code)
        } else {
            None
        }
    }

    /// The process's name (`"Process-N"` unless set).
    pub fn name(&self) -> String {
        let p = unsafe { sys::mproc_process_name(self.raw()) };
        if p.is_null() {
            String::new()
        } else {
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    }

    /// The daemon flag.
    pub fn daemon(&self) -> bool {
        unsafe { sys::mproc_process_daemon(self.raw()) == 1 }
    }

    /// A pidfd that becomes readable when the child exits, for event loops
    /// (owned by the handle: never close it).
    pub fn sentinel(&self) -> Result<i32> {
        check(unsafe { sys::mproc_process_sentinel(self.raw()) })
    }
}

impl Drop for Process<'_> {
    fn drop(&mut self) {
        unsafe { sys::mproc_process_free(self.raw()) }
    }
}

impl std::fmt::Debug for Process<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.name())
            .field("pid", &self.pid())
            .field("daemon", &self.daemon())
            .field("exitcode", &self.exitcode())
            .finish()
    }
}
