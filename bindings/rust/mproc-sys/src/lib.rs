//! Raw, hand-written FFI declarations for libmproc (`include/mproc.h`).
//!
//! Everything here mirrors the C headers one to one; the header comments
//! are the API documentation. Use the safe `mproc` crate instead unless you
//! need the raw calls. A test (`tests/sync.rs` in this crate) checks that
//! every `MPROC_API` function of `include/mproc/*.h` is declared here.
#![allow(non_camel_case_types)]

use std::os::raw::{c_char, c_int, c_void};

macro_rules! opaque {
    ($($name:ident),*) => {$(
        /// Opaque C handle (see the mproc headers).
        #[repr(C)]
        pub struct $name {
            _private: [u8; 0],
        }
    )*};
}
opaque!(mproc_process, mproc_queue, mproc_pool, mproc_result, mproc_iter, mproc_reply);

/// A borrowed byte string (`mproc_bytes`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct mproc_bytes {
    /// The first byte; may be NULL when `len` is 0.
    pub data: *const c_void,
    /// Length in bytes.
    pub len: usize,
}

/// `mproc_target_fn`: a process target (or pool initializer).
pub type mproc_target_fn = unsafe extern "C" fn(arg: *const c_void, arg_len: usize, ctx: *mut c_void) -> c_int;
/// `mproc_task_fn`: a pool task.
pub type mproc_task_fn =
    unsafe extern "C" fn(arg: *const c_void, arg_len: usize, reply: *mut mproc_reply, ctx: *mut c_void) -> c_int;
/// `mproc_result_cb`: a result callback, run on the pool's callback thread.
pub type mproc_result_cb = unsafe extern "C" fn(status: c_int, data: *const c_void, len: usize, userdata: *mut c_void);

pub const MPROC_OK: c_int = 0;
pub const MPROC_DONE: c_int = 1;
pub const MPROC_E_INVAL: c_int = -22;
pub const MPROC_E_NOMEM: c_int = -12;
pub const MPROC_E_NOENT: c_int = -2;
pub const MPROC_E_EXIST: c_int = -17;
pub const MPROC_E_PERM: c_int = -1;
pub const MPROC_E_TIMEOUT: c_int = -110;
pub const MPROC_E_BUSY: c_int = -16;
pub const MPROC_E_STATE: c_int = -1001;
pub const MPROC_E_FULL: c_int = -1002;
pub const MPROC_E_EMPTY: c_int = -1003;
pub const MPROC_E_CLOSED: c_int = -1004;
pub const MPROC_E_TOOBIG: c_int = -1005;
pub const MPROC_E_BAD_SEGMENT: c_int = -1006;
pub const MPROC_E_TASK_FAILED: c_int = -1007;
pub const MPROC_E_WORKER_DIED: c_int = -1008;
pub const MPROC_E_TASK_TIMEOUT: c_int = -1009;
pub const MPROC_E_CANCELLED: c_int = -1010;
pub const MPROC_E_INIT_FAILED: c_int = -1011;
pub const MPROC_E_SYS: c_int = -1012;

pub const MPROC_FOREVER: f64 = -1.0;

pub const MPROC_QUEUE_DEFAULT_CAPACITY: usize = 1 << 20;
pub const MPROC_QUEUE_MAX_CAPACITY: u64 = 1 << 32;
pub const MPROC_QUEUE_RECORD_HEADER: usize = 16;
pub const MPROC_QUEUE_RECORD_ALIGN: usize = 64;
pub const MPROC_QUEUE_NAME_MAX: usize = 200;
pub const MPROC_QUEUE_TOKEN_MAX: usize = 208;
pub const MPROC_QUEUE_MAX_HANDLES: usize = 256;

pub const MPROC_POOL_MAX_PAYLOAD: usize = 1 << 30;
pub const MPROC_POOL_MAX_WORKERS: c_int = 1024;
pub const MPROC_POOL_STAT_TASKS_SUBMITTED: c_int = 1;
pub const MPROC_POOL_STAT_TASKS_SUCCEEDED: c_int = 2;
pub const MPROC_POOL_STAT_TASKS_FAILED: c_int = 3;
pub const MPROC_POOL_STAT_WORKERS_STARTED: c_int = 4;
pub const MPROC_POOL_STAT_WORKERS_DIED: c_int = 5;
pub const MPROC_POOL_STAT_WORKERS_ALIVE: c_int = 6;

pub const MPROC_START_FORK: c_int = 1;
pub const MPROC_START_SPAWN: c_int = 2;
pub const MPROC_START_FORKSERVER: c_int = 3;

extern "C" {
    // mproc-common.h
    pub fn mproc_version_number() -> u32;
    pub fn mproc_version_string() -> *const c_char;
    pub fn mproc_strerror(err: c_int) -> *const c_char;
    pub fn mproc_error_name(err: c_int) -> *const c_char;
    pub fn mproc_cpu_count() -> c_int;
    pub fn mproc_free(p: *mut c_void);
    pub fn mproc_current_name() -> *const c_char;

    // mproc-process.h
    pub fn mproc_process_new(
        out: *mut *mut mproc_process,
        target: mproc_target_fn,
        arg: *const c_void,
        arg_len: usize,
        ctx: *mut c_void,
    ) -> c_int;
    pub fn mproc_process_set_name(p: *mut mproc_process, name: *const c_char) -> c_int;
    pub fn mproc_process_set_daemon(p: *mut mproc_process, daemon: c_int) -> c_int;
    pub fn mproc_process_start(p: *mut mproc_process) -> c_int;
    pub fn mproc_process_join(p: *mut mproc_process, timeout: f64) -> c_int;
    pub fn mproc_process_is_alive(p: *mut mproc_process) -> c_int;
    pub fn mproc_process_terminate(p: *mut mproc_process) -> c_int;
    pub fn mproc_process_kill(p: *mut mproc_process) -> c_int;
    pub fn mproc_process_pid(p: *const mproc_process) -> c_int;
    pub fn mproc_process_exitcode(p: *mut mproc_process, code: *mut c_int) -> c_int;
    pub fn mproc_process_name(p: *const mproc_process) -> *const c_char;
    pub fn mproc_process_daemon(p: *const mproc_process) -> c_int;
    pub fn mproc_process_sentinel(p: *const mproc_process) -> c_int;
    pub fn mproc_process_new_named(
        out: *mut *mut mproc_process,
        target_name: *const c_char,
        arg: *const c_void,
        arg_len: usize,
    ) -> c_int;
    pub fn mproc_process_set_start_method(p: *mut mproc_process, method: c_int) -> c_int;
    pub fn mproc_process_free(p: *mut mproc_process);

    // mproc-queue.h
    pub fn mproc_queue_new(out: *mut *mut mproc_queue, maxsize: usize, capacity_bytes: usize) -> c_int;
    pub fn mproc_queue_create(
        out: *mut *mut mproc_queue,
        name: *const c_char,
        maxsize: usize,
        capacity_bytes: usize,
    ) -> c_int;
    pub fn mproc_queue_open(out: *mut *mut mproc_queue, name: *const c_char) -> c_int;
    pub fn mproc_queue_export(q: *mut mproc_queue, token: *mut c_char, cap: usize) -> c_int;
    pub fn mproc_queue_unlink(name: *const c_char) -> c_int;
    pub fn mproc_queue_put(q: *mut mproc_queue, data: *const c_void, len: usize, timeout: f64) -> c_int;
    pub fn mproc_queue_put_nowait(q: *mut mproc_queue, data: *const c_void, len: usize) -> c_int;
    pub fn mproc_queue_get(q: *mut mproc_queue, buf: *mut c_void, cap: usize, len: *mut usize, timeout: f64) -> c_int;
    pub fn mproc_queue_get_nowait(q: *mut mproc_queue, buf: *mut c_void, cap: usize, len: *mut usize) -> c_int;
    pub fn mproc_queue_get_alloc(q: *mut mproc_queue, data: *mut *mut c_void, len: *mut usize, timeout: f64) -> c_int;
    pub fn mproc_queue_qsize(q: *mut mproc_queue) -> i64;
    pub fn mproc_queue_empty(q: *mut mproc_queue) -> c_int;
    pub fn mproc_queue_full(q: *mut mproc_queue) -> c_int;
    pub fn mproc_queue_close(q: *mut mproc_queue) -> c_int;
    pub fn mproc_queue_shutdown(q: *mut mproc_queue, immediate: c_int) -> c_int;
    pub fn mproc_queue_name(q: *const mproc_queue) -> *const c_char;
    pub fn mproc_queue_max_message(q: *const mproc_queue) -> usize;
    pub fn mproc_queue_capacity(q: *const mproc_queue) -> usize;
    pub fn mproc_queue_free(q: *mut mproc_queue);

    // mproc-pool.h
    pub fn mproc_reply_set(r: *mut mproc_reply, data: *const c_void, len: usize) -> c_int;
    pub fn mproc_pool_new(out: *mut *mut mproc_pool, workers: c_int) -> c_int;
    pub fn mproc_pool_start(p: *mut mproc_pool) -> c_int;
    pub fn mproc_pool_workers(p: *const mproc_pool) -> c_int;
    pub fn mproc_pool_set_initializer(
        p: *mut mproc_pool,
        init: Option<mproc_target_fn>,
        arg: *const c_void,
        arg_len: usize,
        ctx: *mut c_void,
    ) -> c_int;
    pub fn mproc_pool_set_maxtasksperchild(p: *mut mproc_pool, n: u32) -> c_int;
    pub fn mproc_pool_set_task_timeout(p: *mut mproc_pool, seconds: f64) -> c_int;
    pub fn mproc_pool_apply_async(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        arg: *const c_void,
        arg_len: usize,
        ctx: *mut c_void,
        out: *mut *mut mproc_result,
    ) -> c_int;
    pub fn mproc_pool_apply_async_cb(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        arg: *const c_void,
        arg_len: usize,
        ctx: *mut c_void,
        cb: Option<mproc_result_cb>,
        userdata: *mut c_void,
        out: *mut *mut mproc_result,
    ) -> c_int;
    pub fn mproc_pool_apply(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        arg: *const c_void,
        arg_len: usize,
        ctx: *mut c_void,
        out: *mut *mut c_void,
        out_len: *mut usize,
    ) -> c_int;
    pub fn mproc_result_wait(r: *mut mproc_result, timeout: f64) -> c_int;
    pub fn mproc_result_ready(r: *mut mproc_result) -> c_int;
    pub fn mproc_result_successful(r: *mut mproc_result) -> c_int;
    pub fn mproc_result_get(r: *mut mproc_result, data: *mut *const c_void, len: *mut usize, timeout: f64) -> c_int;
    pub fn mproc_result_worker_exitcode(r: *mut mproc_result, code: *mut c_int) -> c_int;
    pub fn mproc_result_free(r: *mut mproc_result);
    pub fn mproc_pool_imap(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        ctx: *mut c_void,
        out: *mut *mut mproc_iter,
    ) -> c_int;
    pub fn mproc_pool_imap_unordered(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        ctx: *mut c_void,
        out: *mut *mut mproc_iter,
    ) -> c_int;
    pub fn mproc_pool_map(
        p: *mut mproc_pool,
        fn_: mproc_task_fn,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        ctx: *mut c_void,
        results: *mut *mut mproc_bytes,
    ) -> c_int;
    pub fn mproc_iter_next(
        it: *mut mproc_iter,
        index: *mut usize,
        data: *mut *const c_void,
        len: *mut usize,
        timeout: f64,
    ) -> c_int;
    pub fn mproc_iter_worker_exitcode(it: *mut mproc_iter, code: *mut c_int) -> c_int;
    pub fn mproc_iter_free(it: *mut mproc_iter);
    pub fn mproc_pool_close(p: *mut mproc_pool) -> c_int;
    pub fn mproc_pool_terminate(p: *mut mproc_pool) -> c_int;
    pub fn mproc_pool_join(p: *mut mproc_pool, timeout: f64) -> c_int;
    pub fn mproc_pool_event_fd(p: *mut mproc_pool) -> c_int;
    pub fn mproc_pool_stat(p: *mut mproc_pool, which: c_int, value: *mut u64) -> c_int;
    pub fn mproc_pool_free(p: *mut mproc_pool);
    pub fn mproc_pool_set_start_method(p: *mut mproc_pool, method: c_int) -> c_int;
    pub fn mproc_pool_apply_named(
        p: *mut mproc_pool,
        task: *const c_char,
        arg: *const c_void,
        len: usize,
        out: *mut *mut c_void,
        out_len: *mut usize,
    ) -> c_int;
    pub fn mproc_pool_apply_async_named(
        p: *mut mproc_pool,
        task: *const c_char,
        arg: *const c_void,
        len: usize,
        out: *mut *mut mproc_result,
    ) -> c_int;
    pub fn mproc_pool_map_named(
        p: *mut mproc_pool,
        task: *const c_char,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        results: *mut *mut mproc_bytes,
    ) -> c_int;
    pub fn mproc_pool_imap_named(
        p: *mut mproc_pool,
        task: *const c_char,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        out: *mut *mut mproc_iter,
    ) -> c_int;
    pub fn mproc_pool_imap_unordered_named(
        p: *mut mproc_pool,
        task: *const c_char,
        items: *const mproc_bytes,
        n: usize,
        chunksize: usize,
        out: *mut *mut mproc_iter,
    ) -> c_int;

    // mproc-start.h
    pub fn mproc_set_start_method(method: c_int) -> c_int;
    pub fn mproc_get_start_method() -> c_int;
    pub fn mproc_register(name: *const c_char, fn_: mproc_target_fn) -> c_int;
    pub fn mproc_register_task(name: *const c_char, fn_: mproc_task_fn) -> c_int;
    pub fn mproc_main(argc: c_int, argv: *mut *mut c_char) -> c_int;
    pub fn mproc_set_executable(path: *const c_char) -> c_int;
    pub fn mproc_set_executable_argv(path: *const c_char, args: *const *const c_char) -> c_int;
    pub fn mproc_forkserver_start() -> c_int;
    pub fn mproc_forkserver_pid() -> c_int;
}
