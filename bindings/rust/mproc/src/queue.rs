//! [`Queue`]: a bounded shared-memory queue of byte messages, like Python's
//! `multiprocessing.Queue`.
use std::ffi::{CStr, CString};
use std::os::raw::{c_int, c_void};
use std::ptr::{self, NonNull};
use std::time::Duration;

use mproc_sys as sys;

use crate::error::{check, Error, Result};
use crate::secs;

/// A bounded multi-producer multi-consumer queue of byte messages in shared
/// memory.
///
/// * [`Queue::new`] / [`Queue::with_capacity`]: anonymous; shared with the
///   children forked after its creation (a closure passed to
///   [`Process::new`](crate::Process::new) simply borrows it).
/// * [`Queue::create`] / [`Queue::open`]: named (`/dev/shm/<name>`), opened
///   by any process of the same user, in any language;
///   [`Queue::unlink`] removes the name.
///
/// A `put` has copied the message into shared memory when it returns: a
/// producer may exit at once and nothing is lost. Timeouts report
/// [`E_FULL`](crate::E_FULL) / [`E_EMPTY`](crate::E_EMPTY), like the
/// non-blocking calls. The handle is thread-safe (`Send + Sync`) and is
/// released by `Drop`.
pub struct Queue {
    raw: NonNull<sys::mproc_queue>,
}

// libmproc documents queue handles as thread-safe (except free, which only
// Drop calls, with exclusive access).
unsafe impl Send for Queue {}
unsafe impl Sync for Queue {}

fn c_name(name: &str) -> Result<CString> {
    CString::new(name).map_err(|_| Error::with_context(sys::MPROC_E_INVAL, "NUL in queue name"))
}

impl Queue {
    fn from_raw(raw: *mut sys::mproc_queue) -> Queue {
        Queue { raw: NonNull::new(raw).expect("libmproc returned a NULL queue") }
    }

    /// An anonymous queue holding at most `maxsize` messages (0: no count
    /// limit) in a ring of the default capacity (1 MiB).
    pub fn new(maxsize: usize) -> Result<Queue> {
        Queue::with_capacity(maxsize, 0)
    }

    /// An anonymous queue with a ring of `capacity_bytes` (rounded up to a
    /// multiple of 64; 0 for the default).
    pub fn with_capacity(maxsize: usize, capacity_bytes: usize) -> Result<Queue> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mproc_queue_new(&mut raw, maxsize, capacity_bytes) })?;
        Ok(Queue::from_raw(raw))
    }

    /// Creates the named queue `/dev/shm/<name>` (mode 0600).
    /// [`E_EXIST`](crate::E_EXIST) if the name is taken.
    pub fn create(name: &str, maxsize: usize, capacity_bytes: usize) -> Result<Queue> {
        let c = c_name(name)?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mproc_queue_create(&mut raw, c.as_ptr(), maxsize, capacity_bytes) })?;
        Ok(Queue::from_raw(raw))
    }

    /// Attaches to an existing named queue. [`E_NOENT`](crate::E_NOENT)
    /// if there is none, [`E_BAD_SEGMENT`](crate::E_BAD_SEGMENT) if the file
    /// is not an mproc queue.
    pub fn open(name: &str) -> Result<Queue> {
        let c = c_name(name)?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mproc_queue_open(&mut raw, c.as_ptr()) })?;
        Ok(Queue::from_raw(raw))
    }

    /// Removes a queue's name (attached handles keep working).
    pub fn unlink(name: &str) -> Result<()> {
        let c = c_name(name)?;
        check(unsafe { sys::mproc_queue_unlink(c.as_ptr()) }).map(drop)
    }

    fn raw(&self) -> *mut sys::mproc_queue {
        self.raw.as_ptr()
    }

    fn put_raw(&self, data: &[u8], timeout: f64) -> Result<()> {
        check(unsafe { sys::mproc_queue_put(self.raw(), data.as_ptr() as *const c_void, data.len(), timeout) })
            .map(drop)
    }

    /// Appends a copy of `data`, waiting as long as it takes for room.
    pub fn put(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.put_raw(data.as_ref(), sys::MPROC_FOREVER)
    }

    /// Appends a copy of `data`, waiting at most `timeout` for room
    /// ([`E_FULL`](crate::E_FULL) then).
    pub fn put_timeout(&self, data: impl AsRef<[u8]>, timeout: Duration) -> Result<()> {
        self.put_raw(data.as_ref(), timeout.as_secs_f64())
    }

    /// Appends a copy of `data` or fails at once with
    /// [`E_FULL`](crate::E_FULL).
    pub fn put_nowait(&self, data: impl AsRef<[u8]>) -> Result<()> {
        self.put_raw(data.as_ref(), 0.0)
    }

    fn get_raw(&self, timeout: f64) -> Result<Vec<u8>> {
        let mut data: *mut c_void = ptr::null_mut();
        let mut len = 0usize;
        check(unsafe { sys::mproc_queue_get_alloc(self.raw(), &mut data, &mut len, timeout) })?;
        let v = if len == 0 { Vec::new() } else { unsafe { std::slice::from_raw_parts(data as *const u8, len) }.to_vec() };
        unsafe { sys::mproc_free(data) };
        Ok(v)
    }

    /// Takes the oldest message, waiting as long as it takes.
    pub fn get(&self) -> Result<Vec<u8>> {
        self.get_raw(sys::MPROC_FOREVER)
    }

    /// Takes the oldest message, waiting at most `timeout`
    /// ([`E_EMPTY`](crate::E_EMPTY) then).
    pub fn get_timeout(&self, timeout: Duration) -> Result<Vec<u8>> {
        self.get_raw(timeout.as_secs_f64())
    }

    /// Takes the oldest message or fails at once with
    /// [`E_EMPTY`](crate::E_EMPTY).
    pub fn get_nowait(&self) -> Result<Vec<u8>> {
        self.get_raw(0.0)
    }

    /// Takes the oldest message into `buf` without allocating and returns
    /// its length; `timeout` `None` waits forever. If the message is longer
    /// than `buf`, it stays queued and the error is
    /// [`E_TOOBIG`](crate::E_TOOBIG).
    pub fn get_into(&self, buf: &mut [u8], timeout: Option<Duration>) -> Result<usize> {
        let mut len = 0usize;
        let rc = unsafe {
            sys::mproc_queue_get(self.raw(), buf.as_mut_ptr() as *mut c_void, buf.len(), &mut len, secs(timeout))
        };
        if rc == sys::MPROC_E_TOOBIG {
            return Err(Error::with_context(rc, format!("the next message needs {} bytes", len)));
        }
        check(rc)?;
        Ok(len)
    }

    /// The number of messages queued (exact when no put or get is running).
    pub fn qsize(&self) -> Result<usize> {
        let n = unsafe { sys::mproc_queue_qsize(self.raw()) };
        if n < 0 {
            Err(Error::new(n as i32))
        } else {
            Ok(n as usize)
        }
    }

    /// True when no message is queued.
    pub fn empty(&self) -> Result<bool> {
        check(unsafe { sys::mproc_queue_empty(self.raw()) }).map(|v| v == 1)
    }

    /// True when `maxsize` messages are queued or not even an empty message
    /// would fit.
    pub fn full(&self) -> Result<bool> {
        check(unsafe { sys::mproc_queue_full(self.raw()) }).map(|v| v == 1)
    }

    /// Closes this handle: its later puts and gets (and those blocked now)
    /// fail with [`E_CLOSED`](crate::E_CLOSED). Other handles are unaffected.
    pub fn close(&self) -> Result<()> {
        check(unsafe { sys::mproc_queue_close(self.raw()) }).map(drop)
    }

    /// Shuts the queue down for every process: puts fail with
    /// [`E_CLOSED`](crate::E_CLOSED); gets drain what is left first unless
    /// `immediate`.
    pub fn shutdown(&self, immediate: bool) -> Result<()> {
        check(unsafe { sys::mproc_queue_shutdown(self.raw(), immediate as c_int) }).map(drop)
    }

    /// The queue's name, `None` for an anonymous queue.
    pub fn name(&self) -> Option<String> {
        let p = unsafe { sys::mproc_queue_name(self.raw()) };
        if p.is_null() {
            None
        } else {
            Some(unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        }
    }

    /// The largest message one put accepts (capacity - 16).
    pub fn max_message(&self) -> usize {
        unsafe { sys::mproc_queue_max_message(self.raw()) }
    }

    /// The ring's size in bytes.
    pub fn capacity(&self) -> usize {
        unsafe { sys::mproc_queue_capacity(self.raw()) }
    }

    /// The raw handle, for calls the safe API does not wrap.
    pub fn as_raw(&self) -> *mut sys::mproc_queue {
        self.raw()
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        unsafe { sys::mproc_queue_free(self.raw()) }
    }
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue").field("name", &self.name()).field("capacity", &self.capacity()).finish()
    }
}
