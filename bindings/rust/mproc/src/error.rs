//! The error type: every failing mproc call becomes an [`Error`] carrying
//! the C code and its stable name (`mproc_error_name`).
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_int;

use mproc_sys as sys;

/// An error from libmproc (or from a task or target run by it).
///
/// [`code`](Error::code) is the negative `MPROC_E_*` code, [`name`](Error::name)
/// its stable symbolic name such as `"MPROC_E_FULL"`. Failed pool tasks add
/// their reply ([`reply`](Error::reply)); tasks whose worker died add the
/// worker's exit code ([`worker_exitcode`](Error::worker_exitcode)).
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    code: i32,
    context: Option<String>,
    reply: Option<Vec<u8>>,
    worker_exitcode: Option<i32>,
}

/// `std::result::Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The reply of a pool task: `Ok(bytes)` succeeds; `Err(message)` fails the
/// task with [`E_TASK_FAILED`](crate::E_TASK_FAILED), the message travelling
/// back as the reply.
pub type TaskResult = std::result::Result<Vec<u8>, String>;

impl Error {
    /// An error with this mproc code (`MPROC_E_*`, negative).
    pub fn new(code: i32) -> Error {
        Error { code, context: None, reply: None, worker_exitcode: None }
    }

    pub(crate) fn with_context(code: i32, context: impl Into<String>) -> Error {
        Error { context: Some(context.into()), ..Error::new(code) }
    }

    pub(crate) fn with_reply(mut self, reply: Vec<u8>) -> Error {
        self.reply = Some(reply);
        self
    }

    pub(crate) fn with_worker_exitcode(mut self, code: Option<i32>) -> Error {
        self.worker_exitcode = code;
        self
    }

    /// The mproc code, e.g. [`E_TIMEOUT`](crate::E_TIMEOUT) (-110).
    pub fn code(&self) -> i32 {
        self.code
    }

    /// The stable symbolic name of the code, e.g. `"MPROC_E_TIMEOUT"`.
    pub fn name(&self) -> &'static str {
        static_str(unsafe { sys::mproc_error_name(self.code as c_int) })
    }

    /// libmproc's one-line description of the code.
    pub fn description(&self) -> &'static str {
        static_str(unsafe { sys::mproc_strerror(self.code as c_int) })
    }

    /// What the binding was doing, when it says more than the code.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    /// For [`E_TASK_FAILED`](crate::E_TASK_FAILED): the failed task's reply
    /// (for Rust tasks, its error message or panic message).
    pub fn reply(&self) -> Option<&[u8]> {
        self.reply.as_deref()
    }

    /// For [`E_WORKER_DIED`](crate::E_WORKER_DIED) and
    /// [`E_TASK_TIMEOUT`](crate::E_TASK_TIMEOUT): the exit code of the worker
    /// (-9 for SIGKILL, -11 for a segfault...), when known.
    pub fn worker_exitcode(&self) -> Option<i32> {
        self.worker_exitcode
    }

    /// True for a timeout of any kind: [`E_TIMEOUT`](crate::E_TIMEOUT), or
    /// a queue's [`E_FULL`](crate::E_FULL) / [`E_EMPTY`](crate::E_EMPTY).
    pub fn is_timeout(&self) -> bool {
        matches!(self.code, sys::MPROC_E_TIMEOUT | sys::MPROC_E_FULL | sys::MPROC_E_EMPTY)
    }
}

fn static_str(p: *const std::os::raw::c_char) -> &'static str {
    if p.is_null() {
        return "";
    }
    // libmproc returns static ASCII strings here.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap_or("")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.name(), self.code, self.description())?;
        if let Some(c) = &self.context {
            write!(f, ": {}", c)?;
        }
        if let Some(r) = &self.reply {
            if !r.is_empty() {
                write!(f, ": {}", String::from_utf8_lossy(r))?;
            }
        }
        if let Some(c) = self.worker_exitcode {
            write!(f, " (worker exit code {})", c)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("code", &self.code)
            .field("name", &self.name())
            .field("context", &self.context)
            .field("reply", &self.reply.as_ref().map(|r| String::from_utf8_lossy(r).into_owned()))
            .field("worker_exitcode", &self.worker_exitcode)
            .finish()
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::Other, e)
    }
}

/// Turns a C return code into `Ok(code)` (>= 0) or `Err`.
pub(crate) fn check(rc: c_int) -> Result<c_int> {
    if rc < 0 {
        Err(Error::new(rc))
    } else {
        Ok(rc)
    }
}
