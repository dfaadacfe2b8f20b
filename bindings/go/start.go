package mproc

/*
#include <mproc.h>
#include <stdlib.h>

// The trampolines (callback.go) as C sees them.
extern int mprocgoTarget(void *arg, size_t len, void *ctx);
extern int mprocgoTask(void *arg, size_t len, mproc_reply *reply, void *ctx);

static int mprocgo_register(const char *name) {
	return mproc_register(name, (mproc_target_fn)mprocgoTarget);
}
static int mprocgo_register_task(const char *name) {
	return mproc_register_task(name, (mproc_task_fn)mprocgoTask);
}

*/
import "C"

import (
	"bytes"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"
)

// StartMethod says how a child process comes to life.
type StartMethod int

const (
	// Spawn starts a fresh exec of the program, which enters Main and runs
	// the registered target (about a millisecond per child). The default,
	// and the only method the Go binding uses.
	Spawn StartMethod = 2 // MPROC_START_SPAWN
	// Forkserver is mproc's fork-server method, which this binding refuses
	// (ErrInval): the server is a copy of the Go program, so its children
	// are fork()s of a multi-threaded Go process, and Go code that
	// allocates or starts goroutines hangs in them (checked: a child
	// running runtime.GC() and goroutines never finished).
	Forkserver StartMethod = 3 // MPROC_START_FORKSERVER
)

// The values are the C library's (these fail to compile otherwise).
const (
	_ = uint(Spawn-C.MPROC_START_SPAWN) + uint(C.MPROC_START_SPAWN-Spawn)
	_ = uint(Forkserver-C.MPROC_START_FORKSERVER) + uint(C.MPROC_START_FORKSERVER-Forkserver)
)

func (m StartMethod) String() string {
	switch m {
	case Spawn:
		return "spawn"
	case Forkserver:
		return "forkserver"
	}
	return fmt.Sprintf("StartMethod(%d)", int(m))
}

// errMethod is nil for the start methods Go may use.
func errMethod(m StartMethod, op string) error {
	if m == Spawn {
		return nil
	}
	return newErrorDetail(C.MPROC_E_INVAL, op, "the Go binding starts children with Spawn only (Forkserver children are forks of a Go process)")
}

var (
	regMu   sync.RWMutex
	targets = map[string]func(arg []byte) int{}
	tasks   = map[string]func(arg []byte) ([]byte, error){}

	mainCalled    atomic.Bool
	defaultMethod atomic.Int32
)

func init() { defaultMethod.Store(int32(Spawn)) }

// Register makes fn the process target called name, in this copy of the
// program; call it from init() so that every copy (spawned children and the
// fork server included) registers the same names before Main runs. The
// target runs in the child with the argument bytes given to NewProcess;
// its return value (0..255) is the child's exit code. A target that panics
// prints the panic on stderr and exits with code 1, as a Python target that
// raises does.
//
// A name is 1 to 200 printable ASCII characters without spaces. Register
// panics (with an *Error) on an invalid name or one registered already:
// those are programming errors, found when the program starts.
func Register(name string, fn func(arg []byte) int) {
	if fn == nil {
		panic(&Error{Code: int(C.MPROC_E_INVAL), Name: "MPROC_E_INVAL", Op: "register " + name, Detail: "nil target"})
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := targets[name]; dup {
		panic(newErrorDetail(C.MPROC_E_EXIST, "register "+name, "target registered twice"))
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if err := check(C.mprocgo_register(cname), "register "+name); err != nil {
		panic(err)
	}
	targets[name] = fn
}

// RegisterTask makes fn the pool task called name (a namespace separate
// from Register's), with the same rules: call it from init(). The task
// runs in a pool worker with one item's bytes; it answers with its reply
// bytes, or fails with an error, whose text reaches the caller in the
// *Error's Detail (code MPROC_E_TASK_FAILED). A task that panics fails the
// same way, with the panic's text.
func RegisterTask(name string, fn func(arg []byte) ([]byte, error)) {
	if fn == nil {
		panic(&Error{Code: int(C.MPROC_E_INVAL), Name: "MPROC_E_INVAL", Op: "register task " + name, Detail: "nil task"})
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := tasks[name]; dup {
		panic(newErrorDetail(C.MPROC_E_EXIST, "register task "+name, "task registered twice"))
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	if err := check(C.mprocgo_register_task(cname), "register task "+name); err != nil {
		panic(err)
	}
	tasks[name] = fn
}

func newErrorDetail(code C.int, op, detail string) *Error {
	e := newError(code, op)
	e.Detail = detail
	return e
}

// Main must be the first call in main (and in TestMain, before m.Run). In
// a child started by this package (or in the fork server) it runs what the
// parent asked for and never returns: the child exits with the target's
// exit code. In any other process it returns at once, after making Spawn
// the process-wide start method, so that nothing mproc starts from this
// program is a fork of it.
func Main() {
	argv := C.malloc(C.size_t(len(os.Args)+1) * C.size_t(unsafe.Sizeof(uintptr(0))))
	args := unsafe.Slice((**C.char)(argv), len(os.Args)+1)
	for i, a := range os.Args {
		args[i] = C.CString(a) // kept for the life of the process
	}
	args[len(os.Args)] = nil
	if err := check(C.mproc_main(C.int(len(os.Args)), (**C.char)(argv)), "main"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if mainCalled.CompareAndSwap(false, true) {
		C.mproc_set_start_method(C.int(StartMethod(defaultMethod.Load())))
	}
}

// SetStartMethod chooses how processes and pools created afterwards by
// this package start. Only Spawn (the default) is accepted; anything else
// is an ErrInval error: the fork and fork-server methods would run Go code
// in a fork of a multi-threaded process.
func SetStartMethod(m StartMethod) error {
	if err := errMethod(m, "set start method"); err != nil {
		return err
	}
	defaultMethod.Store(int32(m))
	return nil
}

// GetStartMethod is the start method new processes and pools get.
func GetStartMethod() StartMethod { return StartMethod(defaultMethod.Load()) }

// requireMain refuses to start children from a program that did not call
// Main: its children would run the whole program instead of their target.
func requireMain(op string) error {
	if mainCalled.Load() {
		return nil
	}
	return newErrorDetail(C.MPROC_E_STATE, op, "call mproc.Main() first thing in main (or TestMain)")
}

// splitName undoes withName: the registered name and the payload.
func splitName(b []byte) (string, []byte, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, false
	}
	return string(b[:i]), b[i+1:], true
}
