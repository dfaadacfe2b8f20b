//! [`Pool`]: worker processes with async results, like Python's
//! `multiprocessing.Pool`.
use std::cell::{Cell, RefCell};
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::raw::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mproc_sys as sys;

use crate::error::{check, Error, Result, TaskResult};
use crate::process::ExitCode;
use crate::start::StartMethod;

type TaskFn<'a> = dyn Fn(&[u8]) -> TaskResult + 'a;
type InitFn<'a> = dyn Fn() -> i32 + 'a;
type Callback<'a> = Box<dyn FnOnce(Result<Vec<u8>>) + Send + 'a>;

static NEXT_POOL_ID: AtomicUsize = AtomicUsize::new(1);

unsafe fn bytes<'x>(p: *const c_void, len: usize) -> &'x [u8] {
    if p.is_null() || len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p as *const u8, len)
    }
}

/// Runs a task body in a worker: `Ok` replies with the bytes (status 0),
/// `Err(msg)` and panics reply with the message (status 1).
unsafe fn run_task<G: FnOnce(&[u8]) -> TaskResult>(
    arg: *const c_void,
    len: usize,
    reply: *mut sys::mproc_reply,
    body: G,
) -> c_int {
    let input = bytes(arg, len);
    let (status, out) = match catch_unwind(AssertUnwindSafe(|| body(input))) {
        Ok(Ok(v)) => (0, v),
        Ok(Err(msg)) => (1, msg.into_bytes()),
        Err(p) => (1, crate::panic_message(&*p).into_bytes()),
    };
    let rc = sys::mproc_reply_set(reply, out.as_ptr() as *const c_void, out.len());
    if rc != sys::MPROC_OK {
        return 1;
    }
    status
}

/// Runs a registered `fn` task; see [`register_task!`](crate::register_task).
#[doc(hidden)]
pub unsafe fn run_task_fn(
    arg: *const c_void,
    len: usize,
    reply: *mut sys::mproc_reply,
    f: fn(&[u8]) -> TaskResult,
) -> c_int {
    run_task(arg, len, reply, f)
}

unsafe extern "C" fn closure_task(arg: *const c_void, len: usize, reply: *mut sys::mproc_reply, ctx: *mut c_void) -> c_int {
    let f = &*(ctx as *const Box<TaskFn<'static>>);
    run_task(arg, len, reply, |b| f(b))
}

/// The trampoline of a closure that captures nothing: the closure is a
/// zero-sized value, conjured here, so no pointer into the parent's heap
/// has to reach workers forked before the task was made.
unsafe extern "C" fn zst_task<F: Fn(&[u8]) -> TaskResult>(
    arg: *const c_void,
    len: usize,
    reply: *mut sys::mproc_reply,
    _ctx: *mut c_void,
) -> c_int {
    debug_assert_eq!(std::mem::size_of::<F>(), 0);
    let f: &F = &*NonNull::<F>::dangling().as_ptr();
    run_task(arg, len, reply, f)
}

unsafe extern "C" fn init_trampoline(_arg: *const c_void, _len: usize, ctx: *mut c_void) -> c_int {
    let f = &*(ctx as *const Box<InitFn<'static>>);
    match catch_unwind(AssertUnwindSafe(|| f())) {
        Ok(code) => code as c_int,
        Err(_) => 1,
    }
}

unsafe extern "C" fn callback_trampoline(status: c_int, data: *const c_void, len: usize, userdata: *mut c_void) {
    let cb: Box<Callback<'static>> = Box::from_raw(userdata as *mut Callback<'static>);
    let payload = bytes(data, len).to_vec();
    let result = match status {
        sys::MPROC_OK => Ok(payload),
        sys::MPROC_E_TASK_FAILED => Err(Error::new(status).with_reply(payload)),
        _ => Err(Error::new(status)),
    };
    // A panic must not unwind into C; the default hook has printed it.
    let _ = catch_unwind(AssertUnwindSafe(move || cb(result)));
}

#[derive(Clone)]
enum TaskKind {
    Fn { f: sys::mproc_task_fn, ctx: *mut c_void },
    Named(CString),
}

/// A task a [`Pool`] can run: a closure made with [`Pool::task`] (fork
/// pools), or a [`register_task!`](crate::register_task)ed function named
/// with [`Task::named`] (any start method).
#[derive(Clone)]
pub struct Task<'p> {
    kind: TaskKind,
    pool_id: usize,
    _pool: PhantomData<&'p ()>,
}

impl Task<'static> {
    /// The task registered under `name` with
    /// [`register_task!`](crate::register_task), for pools of any start
    /// method. Submitting it needs a libmproc with the `*_named` pool calls
    /// (see [`Pool::named_tasks_supported`]); otherwise submissions fail with
    /// [`E_NOENT`](crate::E_NOENT).
    pub fn named(name: &str) -> Result<Task<'static>> {
        let c = CString::new(name).map_err(|_| Error::with_context(sys::MPROC_E_INVAL, "NUL in task name"))?;
        Ok(Task { kind: TaskKind::Named(c), pool_id: 0, _pool: PhantomData })
    }
}

impl std::fmt::Debug for Task<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.kind {
            TaskKind::Fn { .. } => write!(f, "Task(closure of pool {})", self.pool_id),
            TaskKind::Named(n) => write!(f, "Task({:?})", n),
        }
    }
}

/// Pool counters for [`Pool::stat`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStat {
    /// Tasks (items) accepted.
    TasksSubmitted,
    /// Items that succeeded.
    TasksSucceeded,
    /// Items that ended any other way.
    TasksFailed,
    /// Workers started, replacements included.
    WorkersStarted,
    /// Workers that died running a task.
    WorkersDied,
    /// Workers running now.
    WorkersAlive,
}

/// A pool of worker processes.
///
/// Tasks take and return bytes: a task is `Fn(&[u8]) -> TaskResult`
/// (`Ok(reply)`, or `Err(message)` to fail with
/// [`E_TASK_FAILED`](crate::E_TASK_FAILED); a panic fails it too). Make one
/// with [`Pool::task`], then submit it with [`apply`](Pool::apply),
/// [`apply_async`](Pool::apply_async), [`map`](Pool::map),
/// [`imap`](Pool::imap) or [`imap_unordered`](Pool::imap_unordered).
///
/// Workers are forked (by libmproc's manager thread) when the pool starts,
/// so they see the parent's memory as it was then: a closure that captures
/// variables must be made with [`Pool::task`] *before* the workers start
/// (before [`start`](Pool::start) or the first submission); later ones fail
/// with [`E_STATE`](crate::E_STATE). Closures that capture nothing (and
/// `fn` items) work at any time.
///
/// Locks: a task must not rely on locks that other threads of the parent
/// may hold when a worker is forked (the worker inherits them locked and
/// deadlocks), e.g. stdout's lock behind `println!` while the main thread
/// prints. [`start`](Pool::start) (implicit at the first submission) waits
/// until the workers are forked, which closes that window for them, but a
/// replacement worker (after a worker died, or with
/// [`set_maxtasksperchild`](Pool::set_maxtasksperchild)) is forked whenever
/// it is needed: with those, keep the parent's other threads quiet or have
/// tasks avoid such locks.
///
/// Dropping a pool that is still running terminates it (like leaving
/// Python's `with Pool()`); the graceful end is [`close`](Pool::close),
/// [`join`](Pool::join), drop.
pub struct Pool<'a> {
    raw: NonNull<sys::mproc_pool>,
    id: usize,
    started: Cell<bool>,
    tasks: RefCell<Vec<Box<Box<TaskFn<'a>>>>>,
    init: Option<Box<Box<InitFn<'a>>>>,
    _marker: PhantomData<Box<TaskFn<'a>>>,
}

impl<'a> Pool<'a> {
    /// A pool of `workers` processes (0: [`cpu_count`](crate::cpu_count)).
    /// Nothing starts before [`start`](Pool::start) or the first task.
    pub fn new(workers: usize) -> Result<Pool<'a>> {
        let workers = c_int::try_from(workers).map_err(|_| Error::new(sys::MPROC_E_INVAL))?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mproc_pool_new(&mut raw, workers) })?;
        Ok(Pool {
            raw: NonNull::new(raw).expect("mproc_pool_new"),
            id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
            started: Cell::new(false),
            tasks: RefCell::new(Vec::new()),
            init: None,
            _marker: PhantomData,
        })
    }

    fn raw(&self) -> *mut sys::mproc_pool {
        self.raw.as_ptr()
    }

    /// Turns a closure into a [`Task`] of this pool (see the type's docs for
    /// when capturing closures may be made). The closure lives as long as
    /// the pool.
    pub fn task<F>(&self, f: F) -> Result<Task<'_>>
    where
        F: Fn(&[u8]) -> TaskResult + 'a,
    {
        if std::mem::size_of::<F>() == 0 {
            // Nothing to keep in memory (its drop glue, if any, never runs).
            std::mem::forget(f);
            let kind = TaskKind::Fn { f: zst_task::<F>, ctx: ptr::null_mut() };
            return Ok(Task { kind, pool_id: self.id, _pool: PhantomData });
        }
        if self.started.get() {
            return Err(Error::with_context(
                sys::MPROC_E_STATE,
                "a closure that captures variables must be made with Pool::task before the workers start",
            ));
        }
        let boxed: Box<Box<TaskFn<'a>>> = Box::new(Box::new(f));
        let ctx = &*boxed as *const Box<TaskFn<'a>> as *mut c_void;
        self.tasks.borrow_mut().push(boxed);
        Ok(Task { kind: TaskKind::Fn { f: closure_task, ctx }, pool_id: self.id, _pool: PhantomData })
    }

    fn check_task(&self, task: &Task<'_>) -> Result<()> {
        if task.pool_id != 0 && task.pool_id != self.id {
            return Err(Error::with_context(sys::MPROC_E_INVAL, "the task was made by another pool"));
        }
        if !self.started.get() {
            // A failure (closed pool...) is reported by the submission.
            let _ = self.start();
        }
        Ok(())
    }

    /// Runs `init` once in every worker (replacements included) before its
    /// first task; a non-zero [`ExitCode`] (or a panic) makes the worker
    /// exit, and after 3 such failures in a row tasks fail with
    /// [`E_INIT_FAILED`](crate::E_INIT_FAILED). Before the workers start.
    pub fn set_initializer<F, R>(&mut self, init: F) -> Result<()>
    where
        F: Fn() -> R + 'a,
        R: ExitCode,
    {
        let boxed: Box<Box<InitFn<'a>>> = Box::new(Box::new(move || init().exit_code()));
        let ctx = &*boxed as *const Box<InitFn<'a>> as *mut c_void;
        check(unsafe { sys::mproc_pool_set_initializer(self.raw(), Some(init_trampoline), ptr::null(), 0, ctx) })?;
        self.init = Some(boxed);
        Ok(())
    }

    /// Replaces each worker after `n` tasks (a chunk counts as one); 0:
    /// never. Before the workers start.
    pub fn set_maxtasksperchild(&self, n: u32) -> Result<()> {
        check(unsafe { sys::mproc_pool_set_maxtasksperchild(self.raw(), n) }).map(drop)
    }

    /// Kills a task (and its worker, replaced) that runs longer than
    /// `limit`; it fails with [`E_TASK_TIMEOUT`](crate::E_TASK_TIMEOUT).
    /// Before the workers start.
    pub fn set_task_timeout(&self, limit: Duration) -> Result<()> {
        check(unsafe { sys::mproc_pool_set_task_timeout(self.raw(), limit.as_secs_f64()) }).map(drop)
    }

    /// Chooses the workers' start method (before the first task). Spawn
    /// and forkserver pools run only [`Task::named`] tasks.
    pub fn set_start_method(&self, method: StartMethod) -> Result<()> {
        let f = sys::mproc_pool_set_start_method;
        check(unsafe { f(self.raw(), method.raw()) }).map(drop)
    }

    /// Starts the workers now instead of at the first task, and waits
    /// (up to 10 s) until all of them are forked. The first submission does
    /// the same: once it returns, no worker is forked any more except
    /// replacements (after a death or `maxtasksperchild`), so the parent's
    /// other threads (printing, say) cannot hand a lock they hold to a new
    /// worker.
    pub fn start(&self) -> Result<()> {
        self.started.set(true);
        check(unsafe { sys::mproc_pool_start(self.raw()) })?;
        let want = self.workers() as u64;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while self.stat(PoolStat::WorkersStarted).unwrap_or(want) < want && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_micros(200));
        }
        Ok(())
    }

    /// The number of workers the pool keeps running.
    pub fn workers(&self) -> usize {
        unsafe { sys::mproc_pool_workers(self.raw()) }.max(0) as usize
    }

    /// Runs one task and waits for its reply.
    pub fn apply(&self, task: &Task<'_>, arg: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        self.check_task(task)?;
        let arg = arg.as_ref();
        let mut out: *mut c_void = ptr::null_mut();
        let mut out_len = 0usize;
        let rc = match &task.kind {
            TaskKind::Fn { f, ctx } => unsafe {
                sys::mproc_pool_apply(self.raw(), *f, arg.as_ptr() as *const c_void, arg.len(), *ctx, &mut out, &mut out_len)
            },
            TaskKind::Named(name) => {
                let f = sys::mproc_pool_apply_named;
                unsafe { f(self.raw(), name.as_ptr(), arg.as_ptr() as *const c_void, arg.len(), &mut out, &mut out_len) }
            }
        };
        let reply = if rc == sys::MPROC_OK || rc == sys::MPROC_E_TASK_FAILED {
            let v = unsafe { bytes(out, out_len) }.to_vec();
            unsafe { sys::mproc_free(out) };
            v
        } else {
            Vec::new()
        };
        match rc {
            sys::MPROC_OK => Ok(reply),
            sys::MPROC_E_TASK_FAILED => Err(Error::new(rc).with_reply(reply)),
            _ => Err(Error::new(rc)),
        }
    }

    fn submit(
        &self,
        task: &Task<'_>,
        arg: &[u8],
        cb: Option<Callback<'a>>,
    ) -> Result<AsyncResult<'_>> {
        self.check_task(task)?;
        let mut out = ptr::null_mut();
        let rc = match (&task.kind, cb) {
            (TaskKind::Fn { f, ctx }, None) => unsafe {
                sys::mproc_pool_apply_async(self.raw(), *f, arg.as_ptr() as *const c_void, arg.len(), *ctx, &mut out)
            },
            (TaskKind::Fn { f, ctx }, Some(cb)) => {
                let userdata = Box::into_raw(Box::new(cb)) as *mut c_void;
                let rc = unsafe {
                    sys::mproc_pool_apply_async_cb(
                        self.raw(),
                        *f,
                        arg.as_ptr() as *const c_void,
                        arg.len(),
                        *ctx,
                        Some(callback_trampoline),
                        userdata,
                        &mut out,
                    )
                };
                if rc != sys::MPROC_OK {
                    drop(unsafe { Box::from_raw(userdata as *mut Callback<'a>) });
                }
                rc
            }
            (TaskKind::Named(_), Some(_)) => {
                return Err(Error::with_context(sys::MPROC_E_INVAL, "callbacks need a closure task (no named variant)"))
            }
            (TaskKind::Named(name), None) => {
                let f =
                    sys::mproc_pool_apply_async_named;
                unsafe { f(self.raw(), name.as_ptr(), arg.as_ptr() as *const c_void, arg.len(), &mut out) }
            }
        };
        check(rc)?;
        Ok(AsyncResult { raw: NonNull::new(out).expect("apply_async result"), _pool: PhantomData })
    }

    /// Submits one task and returns at once with its [`AsyncResult`].
    pub fn apply_async(&self, task: &Task<'_>, arg: impl AsRef<[u8]>) -> Result<AsyncResult<'_>> {
        self.submit(task, arg.as_ref(), None)
    }

    /// Like [`apply_async`](Pool::apply_async), and calls `callback` with
    /// the outcome once it is ready, on the pool's callback thread (one
    /// callback at a time, in completion order). Closure tasks only.
    pub fn apply_async_with<C>(&self, task: &Task<'_>, arg: impl AsRef<[u8]>, callback: C) -> Result<AsyncResult<'_>>
    where
        C: FnOnce(Result<Vec<u8>>) + Send + 'a,
    {
        self.submit(task, arg.as_ref(), Some(Box::new(callback)))
    }

    /// Runs the task over every item and waits for all the replies, in
    /// input order (chunk size: Python's automatic rule). Every item runs
    /// even if some fail; the error is the first failure in input order.
    pub fn map<I, T>(&self, task: &Task<'_>, items: I) -> Result<Vec<Vec<u8>>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.map_chunked(task, items, 0)
    }

    /// [`map`](Pool::map) with `chunksize` items per task (0: automatic).
    pub fn map_chunked<I, T>(&self, task: &Task<'_>, items: I, chunksize: usize) -> Result<Vec<Vec<u8>>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.check_task(task)?;
        let owned: Vec<Vec<u8>> = items.into_iter().map(|i| i.as_ref().to_vec()).collect();
        let descs = descriptors(&owned);
        let mut results: *mut sys::mproc_bytes = ptr::null_mut();
        let rc = match &task.kind {
            TaskKind::Fn { f, ctx } => unsafe {
                sys::mproc_pool_map(self.raw(), *f, descs.as_ptr(), descs.len(), chunksize, *ctx, &mut results)
            },
            TaskKind::Named(name) => {
                let f = sys::mproc_pool_map_named;
                unsafe { f(self.raw(), name.as_ptr(), descs.as_ptr(), descs.len(), chunksize, &mut results) }
            }
        };
        check(rc)?;
        let out = if results.is_null() {
            Vec::new()
        } else {
            let array = unsafe { std::slice::from_raw_parts(results, owned.len()) };
            array.iter().map(|b| unsafe { bytes(b.data, b.len) }.to_vec()).collect()
        };
        unsafe { sys::mproc_free(results as *mut c_void) };
        Ok(out)
    }

    /// Runs the task over every item, yielding replies in input order as
    /// they come (one item per task, input submitted lazily).
    pub fn imap<I, T>(&self, task: &Task<'_>, items: I) -> Result<PoolIter<'_>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.iter(task, items, 1, true)
    }

    /// [`imap`](Pool::imap) with `chunksize` items per task (0: automatic).
    pub fn imap_chunked<I, T>(&self, task: &Task<'_>, items: I, chunksize: usize) -> Result<PoolIter<'_>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.iter(task, items, chunksize, true)
    }

    /// Like [`imap`](Pool::imap), yielding replies in completion order
    /// ([`PoolIter::index`] tells which input each one answers).
    pub fn imap_unordered<I, T>(&self, task: &Task<'_>, items: I) -> Result<PoolIter<'_>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.iter(task, items, 1, false)
    }

    /// [`imap_unordered`](Pool::imap_unordered) with `chunksize` items per
    /// task (0: automatic).
    pub fn imap_unordered_chunked<I, T>(&self, task: &Task<'_>, items: I, chunksize: usize) -> Result<PoolIter<'_>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.iter(task, items, chunksize, false)
    }

    fn iter<I, T>(&self, task: &Task<'_>, items: I, chunksize: usize, ordered: bool) -> Result<PoolIter<'_>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.check_task(task)?;
        let owned: Vec<Vec<u8>> = items.into_iter().map(|i| i.as_ref().to_vec()).collect();
        let descs = descriptors(&owned);
        let mut out = ptr::null_mut();
        let rc = match &task.kind {
            TaskKind::Fn { f, ctx } => unsafe {
                if ordered {
                    sys::mproc_pool_imap(self.raw(), *f, descs.as_ptr(), descs.len(), chunksize, *ctx, &mut out)
                } else {
                    sys::mproc_pool_imap_unordered(self.raw(), *f, descs.as_ptr(), descs.len(), chunksize, *ctx, &mut out)
                }
            },
            TaskKind::Named(name) => {
                let f = if ordered {
                    sys::mproc_pool_imap_named
                } else {
                    sys::mproc_pool_imap_unordered_named
                };
                unsafe { f(self.raw(), name.as_ptr(), descs.as_ptr(), descs.len(), chunksize, &mut out) }
            }
        };
        check(rc)?;
        Ok(PoolIter {
            raw: NonNull::new(out).expect("imap iterator"),
            _items: owned,
            _descs: descs,
            index: None,
            _pool: PhantomData,
        })
    }

    /// Accepts no new tasks; queued ones still run.
    pub fn close(&self) -> Result<()> {
        check(unsafe { sys::mproc_pool_close(self.raw()) }).map(drop)
    }

    /// Stops now: unfinished tasks fail with [`E_CANCELLED`](crate::E_CANCELLED)
    /// and the workers are killed.
    pub fn terminate(&self) -> Result<()> {
        check(unsafe { sys::mproc_pool_terminate(self.raw()) }).map(drop)
    }

    /// Waits until every worker has exited (after [`close`](Pool::close) or
    /// [`terminate`](Pool::terminate); [`E_STATE`](crate::E_STATE) before).
    pub fn join(&self) -> Result<()> {
        check(unsafe { sys::mproc_pool_join(self.raw(), sys::MPROC_FOREVER) }).map(drop)
    }

    /// [`join`](Pool::join) waiting at most `timeout`
    /// ([`E_TIMEOUT`](crate::E_TIMEOUT) then).
    pub fn join_timeout(&self, timeout: Duration) -> Result<()> {
        check(unsafe { sys::mproc_pool_join(self.raw(), timeout.as_secs_f64()) }).map(drop)
    }

    /// Reads one of the pool's counters.
    pub fn stat(&self, which: PoolStat) -> Result<u64> {
        let w = match which {
            PoolStat::TasksSubmitted => sys::MPROC_POOL_STAT_TASKS_SUBMITTED,
            PoolStat::TasksSucceeded => sys::MPROC_POOL_STAT_TASKS_SUCCEEDED,
            PoolStat::TasksFailed => sys::MPROC_POOL_STAT_TASKS_FAILED,
            PoolStat::WorkersStarted => sys::MPROC_POOL_STAT_WORKERS_STARTED,
            PoolStat::WorkersDied => sys::MPROC_POOL_STAT_WORKERS_DIED,
            PoolStat::WorkersAlive => sys::MPROC_POOL_STAT_WORKERS_ALIVE,
        };
        let mut v = 0u64;
        check(unsafe { sys::mproc_pool_stat(self.raw(), w, &mut v) })?;
        Ok(v)
    }

    /// An eventfd that becomes readable when results become ready, for
    /// event loops (owned by the pool: never close it).
    pub fn event_fd(&self) -> Result<i32> {
        check(unsafe { sys::mproc_pool_event_fd(self.raw()) })
    }
}

fn descriptors(items: &[Vec<u8>]) -> Vec<sys::mproc_bytes> {
    items.iter().map(|v| sys::mproc_bytes { data: v.as_ptr() as *const c_void, len: v.len() }).collect()
}

impl Drop for Pool<'_> {
    fn drop(&mut self) {
        // Terminates a running pool and waits for workers and callbacks;
        // the closures are dropped after this, once nothing can call them.
        unsafe { sys::mproc_pool_free(self.raw()) }
    }
}

impl std::fmt::Debug for Pool<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").field("workers", &self.workers()).finish()
    }
}

fn task_error(code: c_int, reply: Option<Vec<u8>>, exitcode: Option<i32>) -> Error {
    let mut e = Error::new(code).with_worker_exitcode(exitcode);
    if let Some(r) = reply {
        e = e.with_reply(r);
    }
    e
}

/// The pending result of [`Pool::apply_async`].
pub struct AsyncResult<'p> {
    raw: NonNull<sys::mproc_result>,
    _pool: PhantomData<&'p ()>,
}

impl AsyncResult<'_> {
    fn raw(&self) -> *mut sys::mproc_result {
        self.raw.as_ptr()
    }

    fn get_raw(&self, timeout: f64) -> Result<Vec<u8>> {
        let mut data: *const c_void = ptr::null();
        let mut len = 0usize;
        let rc = unsafe { sys::mproc_result_get(self.raw(), &mut data, &mut len, timeout) };
        match rc {
            sys::MPROC_OK => Ok(unsafe { bytes(data, len) }.to_vec()),
            sys::MPROC_E_TASK_FAILED => Err(task_error(rc, Some(unsafe { bytes(data, len) }.to_vec()), None)),
            sys::MPROC_E_WORKER_DIED | sys::MPROC_E_TASK_TIMEOUT => Err(task_error(rc, None, self.worker_exitcode())),
            _ => Err(Error::new(rc)),
        }
    }

    /// Waits for the task and returns its reply, or its error
    /// ([`E_TASK_FAILED`](crate::E_TASK_FAILED) with the reply,
    /// [`E_WORKER_DIED`](crate::E_WORKER_DIED) with the worker's exit code,
    /// [`E_CANCELLED`](crate::E_CANCELLED)...). May be called again.
    pub fn get(&self) -> Result<Vec<u8>> {
        self.get_raw(sys::MPROC_FOREVER)
    }

    /// [`get`](AsyncResult::get) waiting at most `timeout`
    /// ([`E_TIMEOUT`](crate::E_TIMEOUT) then; the result stays valid).
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.get_raw(timeout.as_secs_f64())
    }

    /// Waits until the result is ready.
    pub fn wait(&self) {
        unsafe { sys::mproc_result_wait(self.raw(), sys::MPROC_FOREVER) };
    }

    /// Waits at most `timeout`; true when the result is ready.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        unsafe { sys::mproc_result_wait(self.raw(), timeout.as_secs_f64()) == sys::MPROC_OK }
    }

    /// True when the result is ready.
    pub fn ready(&self) -> bool {
        unsafe { sys::mproc_result_ready(self.raw()) == 1 }
    }

    /// Whether the task succeeded; [`E_BUSY`](crate::E_BUSY) while not ready
    /// (Python raises there too).
    pub fn successful(&self) -> Result<bool> {
        check(unsafe { sys::mproc_result_successful(self.raw()) }).map(|v| v == 1)
    }

    /// The exit code of the worker that died running this task, if it did.
    pub fn worker_exitcode(&self) -> Option<i32> {
        let mut code: c_int = 0;
        if unsafe { sys::mproc_result_worker_exitcode(self.raw(), &mut code) } == sys::MPROC_OK {
            Some(code)
        } else {
            None
        }
    }
}

impl Drop for AsyncResult<'_> {
    fn drop(&mut self) {
        unsafe { sys::mproc_result_free(self.raw()) }
    }
}

impl std::fmt::Debug for AsyncResult<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult").field("ready", &self.ready()).finish()
    }
}

/// The results of [`Pool::imap`] / [`Pool::imap_unordered`]: an
/// [`Iterator`] of `Result<Vec<u8>>`, one per input item (a failed item
/// yields its `Err` and iteration goes on). Dropping it cancels the tasks
/// not finished yet.
pub struct PoolIter<'p> {
    raw: NonNull<sys::mproc_iter>,
    // The C iterator reads the inputs lazily: they live as long as it does.
    _items: Vec<Vec<u8>>,
    _descs: Vec<sys::mproc_bytes>,
    index: Option<usize>,
    _pool: PhantomData<&'p ()>,
}

impl PoolIter<'_> {
    fn next_raw(&mut self, timeout: f64) -> Option<Result<Vec<u8>>> {
        let mut index = 0usize;
        let mut data: *const c_void = ptr::null();
        let mut len = 0usize;
        let rc = unsafe { sys::mproc_iter_next(self.raw.as_ptr(), &mut index, &mut data, &mut len, timeout) };
        match rc {
            sys::MPROC_DONE => None,
            sys::MPROC_E_TIMEOUT | sys::MPROC_E_INVAL => Some(Err(Error::new(rc))),
            _ => {
                self.index = Some(index);
                Some(match rc {
                    sys::MPROC_OK => Ok(unsafe { bytes(data, len) }.to_vec()),
                    sys::MPROC_E_TASK_FAILED => Err(task_error(rc, Some(unsafe { bytes(data, len) }.to_vec()), None)),
                    sys::MPROC_E_WORKER_DIED | sys::MPROC_E_TASK_TIMEOUT => {
                        let mut code: c_int = 0;
                        let ok = unsafe { sys::mproc_iter_worker_exitcode(self.raw.as_ptr(), &mut code) };
                        Err(task_error(rc, None, if ok == sys::MPROC_OK { Some(code) } else { None }))
                    }
                    _ => Err(Error::new(rc)),
                })
            }
        }
    }

    /// The next item, waiting at most `timeout`: `None` at the end,
    /// `Some(Err(E_TIMEOUT))` when nothing was ready in time (call again).
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Result<Vec<u8>>> {
        self.next_raw(timeout.as_secs_f64())
    }

    /// The input index of the item returned last (for imap_unordered).
    pub fn index(&self) -> Option<usize> {
        self.index
    }
}

impl Iterator for PoolIter<'_> {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_raw(sys::MPROC_FOREVER)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self._items.len()))
    }
}

impl Drop for PoolIter<'_> {
    fn drop(&mut self) {
        unsafe { sys::mproc_iter_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for PoolIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolIter").field("items", &self._items.len()).field("index", &self.index).finish()
    }
}
