package mproc

/*
#include <mproc.h>
#include <stdlib.h>
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Process is a child process running a registered target, like Python's
// multiprocessing.Process. Create it with NewProcess, optionally name it
// and set its daemon flag, Start it, Join it, read its ExitCode, and Close
// it. Its methods may be called from several goroutines at once.
type Process struct {
	mu sync.RWMutex // Close takes it for writing: C's free must not race
	c  *C.mproc_process
}

// NewProcess creates a process that will run the target registered as
// target (see Register) with a copy of arg. Nothing runs until Start. Its
// start method is the one GetStartMethod gives now. Its name defaults to
// "Process-N" (N counting this program's processes from 1).
func NewProcess(target string, arg []byte) (*Process, error) {
	regMu.RLock()
	_, known := targets[target]
	regMu.RUnlock()
	if !known {
		return nil, newErrorDetail(C.MPROC_E_NOENT, "new process", "no target registered as "+target+" (mproc.Register)")
	}
	cname := C.CString(target)
	defer C.free(unsafe.Pointer(cname))
	b := withName(target, arg)
	var c *C.mproc_process
	if err := check(C.mproc_process_new_named(&c, cname, bytesPtr(b), C.size_t(len(b))), "new process"); err != nil {
		return nil, err
	}
	if err := check(C.mproc_process_set_start_method(c, C.int(GetStartMethod())), "new process"); err != nil {
		C.mproc_process_free(c)
		return nil, err
	}
	p := &Process{c: c}
	runtime.SetFinalizer(p, (*Process).Close)
	return p, nil
}

// SetName renames the process before it starts; the child sees the name
// through CurrentName.
func (p *Process) SetName(name string) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return check(C.mproc_process_set_name(p.c, cname), "process set name")
}

// SetDaemon sets the daemon flag before the process starts. A daemon child
// is killed when its parent exits, however the parent exits. (The kernel
// ties this to the OS thread that called Start. Go keeps its threads, except
// one that a goroutine locked with runtime.LockOSThread and then exited
// without unlocking: do not start daemons from such a goroutine.)
func (p *Process) SetDaemon(daemon bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	d := 0
	if daemon {
		d = 1
	}
	return check(C.mproc_process_set_daemon(p.c, C.int(d)), "process set daemon")
}

// SetStartMethod chooses this process's start method (only Spawn
// is accepted) before it starts.
func (p *Process) SetStartMethod(m StartMethod) error {
	if err := errMethod(m, "process set start method"); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_process_set_start_method(p.c, C.int(m)), "process set start method")
}

// Start starts the child. A process starts at most once (ErrState after);
// a failed start leaves it unstarted. ErrState also when the program did
// not call Main.
func (p *Process) Start() error {
	if err := requireMain("process start"); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_process_start(p.c), "process start")
}

// Join waits at most timeout (Forever: no limit) for the child to exit and
// reaps it: nil once it has exited, ErrTimeout if it still runs, ErrState
// if it was never started.
func (p *Process) Join(timeout time.Duration) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_process_join(p.c, seconds(timeout)), "process join")
}

// IsAlive reports whether the child runs: false before Start and after it
// exited (a finished child is reaped here).
func (p *Process) IsAlive() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return C.mproc_process_is_alive(p.c) == 1
}

// Terminate sends SIGTERM to the child (Join afterwards). A child that
// already exited is not signalled; ErrState before Start.
func (p *Process) Terminate() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_process_terminate(p.c), "process terminate")
}

// Kill sends SIGKILL to the child, with Terminate's rules.
func (p *Process) Kill() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_process_kill(p.c), "process kill")
}

// Pid is the child's process id, 0 before Start (and after Close).
func (p *Process) Pid() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if pid := int(C.mproc_process_pid(p.c)); pid > 0 {
		return pid
	}
	return 0
}

// ExitCode is the child's exit code once it has exited: the target's
// return value, or -N when signal N killed it (-15 after Terminate, -9
// after Kill). ErrBusy while it runs, ErrState before Start.
func (p *Process) ExitCode() (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	var code C.int
	if err := check(C.mproc_process_exitcode(p.c, &code), "process exitcode"); err != nil {
		return 0, err
	}
	return int(code), nil
}

// Name is the process's name ("" after Close).
func (p *Process) Name() string {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if s := C.mproc_process_name(p.c); s != nil {
		return C.GoString(s)
	}
	return ""
}

// Daemon reports the daemon flag.
func (p *Process) Daemon() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return C.mproc_process_daemon(p.c) == 1
}

// Sentinel is a file descriptor that becomes readable when the child
// exits, for poll-based event loops (Python's Process.sentinel). It is
// owned by the Process: poll it, never close it; it is valid until Close.
func (p *Process) Sentinel() (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	fd := C.mproc_process_sentinel(p.c)
	if err := check(fd, "process sentinel"); err != nil {
		return -1, err
	}
	return int(fd), nil
}

// Close releases the handle. It never blocks on the child: a child still
// running keeps running and is reaped by mproc when it exits (a non-daemon
// one is still joined when the program exits normally). It waits for
// calls in progress on p (a Join, say) to return. Closing twice is fine;
// every other method fails with ErrInval after Close.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		C.mproc_process_free(p.c)
		p.c = nil
		runtime.SetFinalizer(p, nil)
	}
	return nil
}
