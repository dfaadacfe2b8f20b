// Package mproc gives Go programs what Python's multiprocessing gives Python:
// child processes (Process), bounded shared-memory queues (Queue) and worker
// pools (Pool), on top of the mproc C library (libmproc.so.0).
//
// Go programs are always multi-threaded, and a fork() of a multi-threaded
// program must not run Go code, so this package never uses mproc's fork
// start method, nor its fork server (whose children are forks of a Go
// process too): every child is a fresh copy of the program (Spawn). Such a
// child does not share the parent's memory; it finds the Go function to run
// by name, and reaches its parent through named queues.
// Hence the two rules of every program that uses this package:
//
//   - register process targets and pool tasks by name in init(), with
//     Register and RegisterTask, so every copy of the program has them;
//   - call Main first thing in main (or TestMain): in a child it runs the
//     requested target and never returns.
//
// For example:
//
//	func init() {
//		mproc.Register("greet", func(arg []byte) int {
//			fmt.Printf("hello from %s, %s\n", mproc.CurrentName(), arg)
//			return 3 // the child's exit code
//		})
//	}
//
//	func main() {
//		mproc.Main()
//		p, err := mproc.NewProcess("greet", []byte("world"))
//		if err != nil {
//			log.Fatal(err)
//		}
//		defer p.Close()
//		if err := p.Start(); err != nil {
//			log.Fatal(err)
//		}
//		p.Join(mproc.Forever)
//		code, _ := p.ExitCode() // 3
//	}
//
// Errors are *Error values carrying the mproc code and its symbolic name;
// compare them with errors.Is against ErrTimeout, ErrFull, ErrEmpty and the
// other sentinels. Timeouts are time.Durations: a negative one (Forever)
// waits forever, 0 never blocks. Every handle has a Close method that
// releases it at once; a finalizer releases forgotten handles as a fallback.
package mproc

/*
#cgo pkg-config: mproc
#include <mproc.h>
#include <stdlib.h>

#if MPROC_VERSION_NUMBER < 200
#error "the Go binding needs mproc >= 0.2.0"
#endif

*/
import "C"

import (
	"time"
	"unsafe"
)

// Error is the error type of every mproc call that fails: the mproc code
// (a negative MPROC_E_* value) with its symbolic name and description.
type Error struct {
	Code   int    // the MPROC_E_* value, e.g. -1002
	Name   string // its symbolic name, e.g. "MPROC_E_FULL" (mproc_error_name)
	Msg    string // its description (mproc_strerror)
	Op     string // what failed, e.g. "queue put"; empty in the sentinels
	Detail string // more context: a failed task's reply, a binding's remark
}

func (e *Error) Error() string {
	s := "mproc: "
	if e.Op != "" {
		s += e.Op + ": "
	}
	s += e.Name + " (" + e.Msg + ")"
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, mproc.ErrFull) works whatever the operation.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func newError(code C.int, op string) *Error {
	return &Error{Code: int(code), Name: C.GoString(C.mproc_error_name(code)),
		Msg: C.GoString(C.mproc_strerror(code)), Op: op}
}

// check turns a C return value into nil (>= 0) or an *Error.
func check(rc C.int, op string) error {
	if rc >= 0 {
		return nil
	}
	return newError(rc, op)
}

// Sentinel errors, one per mproc code, for errors.Is.
var (
	ErrInval       = newError(C.MPROC_E_INVAL, "")
	ErrNoMem       = newError(C.MPROC_E_NOMEM, "")
	ErrNoEnt       = newError(C.MPROC_E_NOENT, "")
	ErrExist       = newError(C.MPROC_E_EXIST, "")
	ErrPerm        = newError(C.MPROC_E_PERM, "")
	ErrTimeout     = newError(C.MPROC_E_TIMEOUT, "")
	ErrBusy        = newError(C.MPROC_E_BUSY, "")
	ErrState       = newError(C.MPROC_E_STATE, "")
	ErrFull        = newError(C.MPROC_E_FULL, "")
	ErrEmpty       = newError(C.MPROC_E_EMPTY, "")
	ErrClosed      = newError(C.MPROC_E_CLOSED, "")
	ErrTooBig      = newError(C.MPROC_E_TOOBIG, "")
	ErrBadSegment  = newError(C.MPROC_E_BAD_SEGMENT, "")
	ErrTaskFailed  = newError(C.MPROC_E_TASK_FAILED, "")
	ErrWorkerDied  = newError(C.MPROC_E_WORKER_DIED, "")
	ErrTaskTimeout = newError(C.MPROC_E_TASK_TIMEOUT, "")
	ErrCancelled   = newError(C.MPROC_E_CANCELLED, "")
	ErrInitFailed  = newError(C.MPROC_E_INIT_FAILED, "")
	ErrSys         = newError(C.MPROC_E_SYS, "")
)

// Forever, as a timeout, waits without limit (any negative duration does).
const Forever time.Duration = -1

func seconds(d time.Duration) C.double {
	if d < 0 {
		return C.MPROC_FOREVER
	}
	return C.double(d.Seconds())
}

// Version is the loaded library's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.mproc_version_string()) }

// VersionNumber is the loaded library's version as MAJOR*10000+MINOR*100+PATCH.
func VersionNumber() int { return int(C.mproc_version_number()) }

// CPUCount is the number of CPUs this process may run on (affinity-aware,
// at least 1): the worker count of a pool created with 0 workers.
func CPUCount() int { return int(C.mproc_cpu_count()) }

// CurrentName is the name of the calling process: "MainProcess", or the
// name of the mproc child it is ("Process-1", or one given with SetName).
func CurrentName() string { return C.GoString(C.mproc_current_name()) }

// bytesPtr gives C a pointer to b's bytes (nil for an empty slice).
func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(&b[0])
}

// goBytes copies n bytes of C memory into a new slice (empty, not nil, when
// n is 0); unlike C.GoBytes it takes lengths over 2 GiB.
func goBytes(p unsafe.Pointer, n C.size_t) []byte {
	b := make([]byte, int(n))
	if n > 0 {
		copy(b, unsafe.Slice((*byte)(p), int(n)))
	}
	return b
}

// withName prefixes payload with a registered Go name and a NUL byte: how
// the name reaches the one C trampoline that runs every Go target or task.
func withName(name string, payload []byte) []byte {
	b := make([]byte, 0, len(name)+1+len(payload))
	b = append(b, name...)
	b = append(b, 0)
	return append(b, payload...)
}
