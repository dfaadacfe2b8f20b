package mproc

/*
#include <mproc.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>

extern int mprocgoTarget(void *arg, size_t len, void *ctx);

// A Go initializer is a registered process target run through the target
// trampoline (registered under the target's name: workers find it by it).
static int mprocgo_pool_set_initializer(mproc_pool *p, const void *arg, size_t len) {
	return mproc_pool_set_initializer(p, (mproc_target_fn)mprocgoTarget, arg, len, NULL);
}

// The name-based pool API is looked up at run time, so that this binding
// builds against libraries that predate it and reports it missing cleanly.
static void *mprocgo_sym(const char *name) { return dlsym(RTLD_DEFAULT, name); }
static int mprocgo_pool_set_start_method(void *f, mproc_pool *p, int m) {
	return ((int (*)(mproc_pool *, int))f)(p, m);
}
static int mprocgo_pool_apply_named(void *f, mproc_pool *p, const char *task, const void *arg,
                                    size_t len, void **out, size_t *out_len) {
	return ((int (*)(mproc_pool *, const char *, const void *, size_t, void **, size_t *))f)(
		p, task, arg, len, out, out_len);
}
static int mprocgo_pool_apply_async_named(void *f, mproc_pool *p, const char *task,
                                          const void *arg, size_t len, mproc_result **out) {
	return ((int (*)(mproc_pool *, const char *, const void *, size_t, mproc_result **))f)(
		p, task, arg, len, out);
}
static int mprocgo_pool_map_named(void *f, mproc_pool *p, const char *task,
                                  const mproc_bytes *items, size_t n, size_t chunksize,
                                  mproc_bytes **results) {
	return ((int (*)(mproc_pool *, const char *, const mproc_bytes *, size_t, size_t,
	                 mproc_bytes **))f)(p, task, items, n, chunksize, results);
}
static int mprocgo_pool_imap_named(void *f, mproc_pool *p, const char *task,
                                   const mproc_bytes *items, size_t n, size_t chunksize,
                                   mproc_iter **out) {
	return ((int (*)(mproc_pool *, const char *, const mproc_bytes *, size_t, size_t,
	                 mproc_iter **))f)(p, task, items, n, chunksize, out);
}
*/
import "C"

import (
	"errors"
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// ErrPoolUnsupported is returned by NewPool when the loaded libmproc lacks
// the name-based pool API (mproc_pool_apply_named and friends, and
// mproc_pool_set_start_method) that Go pools need.
var ErrPoolUnsupported = errors.New("mproc: this libmproc has no name-based spawn pools (mproc_pool_*_named, mproc_pool_set_start_method)")

var poolAPI struct {
	once                                                     sync.Once
	ok                                                       bool
	setStart, apply, applyAsync, mapNamed, imap, imapUnorder unsafe.Pointer
}

func loadPoolAPI() bool {
	poolAPI.once.Do(func() {
		sym := func(name string) unsafe.Pointer {
			c := C.CString(name)
			defer C.free(unsafe.Pointer(c))
			return C.mprocgo_sym(c)
		}
		poolAPI.setStart = sym("mproc_pool_set_start_method")
		poolAPI.apply = sym("mproc_pool_apply_named")
		poolAPI.applyAsync = sym("mproc_pool_apply_async_named")
		poolAPI.mapNamed = sym("mproc_pool_map_named")
		poolAPI.imap = sym("mproc_pool_imap_named")
		poolAPI.imapUnorder = sym("mproc_pool_imap_unordered_named")
		poolAPI.ok = poolAPI.setStart != nil && poolAPI.apply != nil && poolAPI.applyAsync != nil &&
			poolAPI.mapNamed != nil && poolAPI.imap != nil && poolAPI.imapUnorder != nil
	})
	return poolAPI.ok
}

// PoolSupported reports whether the loaded libmproc can run Go pools
// (see ErrPoolUnsupported).
func PoolSupported() bool { return loadPoolAPI() }

// Pool is a pool of worker processes running registered tasks (see
// RegisterTask), like Python's multiprocessing.Pool. A worker that dies
// fails only the task it was running (ErrWorkerDied) and is replaced.
// Its methods may be called from several goroutines at once.
//
// Life cycle: NewPool, optional setters, submit work (Apply, ApplyAsync,
// Map, Imap, ImapUnordered), then Close (no new tasks, wait for the queued
// ones, release) or Terminate (stop now, release). Shutdown and Join give
// Python's close() and join() separately.
type Pool struct {
	mu sync.RWMutex
	c  *C.mproc_pool
}

// NewPool creates a pool of workers processes (0: CPUCount()), started
// with GetStartMethod's method at the first task (or Start).
func NewPool(workers int) (*Pool, error) {
	if !loadPoolAPI() {
		return nil, ErrPoolUnsupported
	}
	if err := requireMain("new pool"); err != nil {
		return nil, err
	}
	var c *C.mproc_pool
	if err := check(C.mproc_pool_new(&c, C.int(workers)), "new pool"); err != nil {
		return nil, err
	}
	if err := check(C.mprocgo_pool_set_start_method(poolAPI.setStart, c, C.int(GetStartMethod())), "new pool"); err != nil {
		C.mproc_pool_free(c)
		return nil, err
	}
	p := &Pool{c: c}
	runtime.SetFinalizer(p, (*Pool).Terminate)
	return p, nil
}

// SetStartMethod chooses the workers' start method (only Spawn
// is accepted) before the first task.
func (p *Pool) SetStartMethod(m StartMethod) error {
	if err := errMethod(m, "pool set start method"); err != nil {
		return err
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mprocgo_pool_set_start_method(poolAPI.setStart, p.c, C.int(m)), "pool set start method")
}

// SetInitializer runs the process target registered as target (see
// Register) with arg once in every worker, replacements included, before
// its first task (Python's initializer). A worker whose initializer returns
// non-zero exits; after 3 such failures in a row the pool fails pending and
// new tasks with ErrInitFailed. Before the workers start.
func (p *Pool) SetInitializer(target string, arg []byte) error {
	regMu.RLock()
	_, known := targets[target]
	regMu.RUnlock()
	if !known {
		return newErrorDetail(C.MPROC_E_NOENT, "pool set initializer", "no target registered as "+target+" (mproc.Register)")
	}
	b := withName(target, arg)
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mprocgo_pool_set_initializer(p.c, bytesPtr(b), C.size_t(len(b))), "pool set initializer")
}

// SetMaxTasksPerChild replaces each worker after it has run n tasks (a
// chunk counts as one); 0: never. Before the workers start.
func (p *Pool) SetMaxTasksPerChild(n int) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_pool_set_maxtasksperchild(p.c, C.uint32_t(n)), "pool set maxtasksperchild")
}

// SetTaskTimeout kills a task (with its worker, which is replaced) that
// runs longer than d; it then fails with ErrTaskTimeout. Negative: no limit.
func (p *Pool) SetTaskTimeout(d time.Duration) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_pool_set_task_timeout(p.c, seconds(d)), "pool set task timeout")
}

// Start starts the workers now rather than at the first task.
func (p *Pool) Start() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_pool_start(p.c), "pool start")
}

// Workers is the number of workers the pool keeps running.
func (p *Pool) Workers() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return int(C.mproc_pool_workers(p.c))
}

// taskError is the error of a failed task: for ErrTaskFailed its Detail is
// the task's reply (the text of the Go error it returned).
func taskError(rc C.int, op string, reply []byte) error {
	e := newError(rc, op)
	if rc == C.MPROC_E_TASK_FAILED {
		e.Detail = string(reply)
	}
	return e
}

// Apply runs the task registered as task with arg in a worker and waits
// for its reply. A task that returned an error gives an ErrTaskFailed
// *Error whose Detail is the error's text.
func (p *Pool) Apply(task string, arg []byte) ([]byte, error) {
	ctask := C.CString(task)
	defer C.free(unsafe.Pointer(ctask))
	b := withName(task, arg)
	p.mu.RLock()
	defer p.mu.RUnlock()
	var out unsafe.Pointer
	var n C.size_t
	rc := C.mprocgo_pool_apply_named(poolAPI.apply, p.c, ctask, bytesPtr(b), C.size_t(len(b)), &out, &n)
	var reply []byte
	if out != nil {
		reply = goBytes(out, n)
		C.mproc_free(out)
	}
	if rc < 0 {
		return nil, taskError(rc, "pool apply "+task, reply)
	}
	if reply == nil {
		reply = []byte{}
	}
	return reply, nil
}

// AsyncResult is the pending result of ApplyAsync (Python's AsyncResult).
type AsyncResult struct {
	mu sync.RWMutex
	c  *C.mproc_result
	op string
}

// ApplyAsync submits one task and returns at once with its result handle.
func (p *Pool) ApplyAsync(task string, arg []byte) (*AsyncResult, error) {
	ctask := C.CString(task)
	defer C.free(unsafe.Pointer(ctask))
	b := withName(task, arg)
	p.mu.RLock()
	defer p.mu.RUnlock()
	var c *C.mproc_result
	rc := C.mprocgo_pool_apply_async_named(poolAPI.applyAsync, p.c, ctask, bytesPtr(b), C.size_t(len(b)), &c)
	if err := check(rc, "pool apply async "+task); err != nil {
		return nil, err
	}
	r := &AsyncResult{c: c, op: "result " + task}
	runtime.SetFinalizer(r, (*AsyncResult).Close)
	return r, nil
}

// ApplyAsyncFunc submits one task and returns at once; done is called with
// the task's reply, or its error, when it is ready (Python's callback and
// error_callback), on a goroutine of its own: one per task, so callbacks
// may run concurrently and in any order. After Terminate it gets
// ErrCancelled.
func (p *Pool) ApplyAsyncFunc(task string, arg []byte, done func(reply []byte, err error)) error {
	r, err := p.ApplyAsync(task, arg)
	if err != nil {
		return err
	}
	go func() {
		defer r.Close()
		done(r.Get(Forever))
	}()
	return nil
}

// Wait waits at most timeout for the result to be ready (nil), whatever
// the outcome; ErrTimeout otherwise.
func (r *AsyncResult) Wait(timeout time.Duration) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return check(C.mproc_result_wait(r.c, seconds(timeout)), r.op+" wait")
}

// Ready reports whether the result is ready.
func (r *AsyncResult) Ready() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return C.mproc_result_ready(r.c) == 1
}

// Successful reports whether the task succeeded; ErrBusy if not ready.
func (r *AsyncResult) Successful() (bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	rc := C.mproc_result_successful(r.c)
	return rc == 1, check(rc, r.op+" successful")
}

// Get waits at most timeout for the task and returns its reply, or its
// error: ErrTimeout (still running; call again), ErrTaskFailed (Detail:
// the task's error text), ErrWorkerDied, ErrTaskTimeout, ErrCancelled.
func (r *AsyncResult) Get(timeout time.Duration) ([]byte, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var data unsafe.Pointer
	var n C.size_t
	rc := C.mproc_result_get(r.c, &data, &n, seconds(timeout))
	reply := []byte{}
	if data != nil && (rc == 0 || rc == C.MPROC_E_TASK_FAILED) {
		reply = goBytes(data, n)
	}
	if rc < 0 {
		return nil, taskError(rc, r.op+" get", reply)
	}
	return reply, nil
}

// WorkerExitCode is the exit code of the worker that died running the
// task (-9 for SIGKILL...); ErrState if the task did not end that way.
func (r *AsyncResult) WorkerExitCode() (int, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	var code C.int
	if err := check(C.mproc_result_worker_exitcode(r.c, &code), r.op+" worker exitcode"); err != nil {
		return 0, err
	}
	return int(code), nil
}

// Close releases the handle (the task itself goes on). Idempotent.
func (r *AsyncResult) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		C.mproc_result_free(r.c)
		r.c = nil
		runtime.SetFinalizer(r, nil)
	}
	return nil
}

// cItems copies name-prefixed items into one C allocation: the C pool
// reads them lazily, so they must not live in Go memory.
func cItems(task string, items [][]byte) (arr *C.mproc_bytes, free func()) {
	n := len(items)
	if n == 0 {
		return nil, func() {}
	}
	total := 0
	for _, it := range items {
		total += len(task) + 1 + len(it)
	}
	hdr := C.size_t(n) * C.size_t(unsafe.Sizeof(C.mproc_bytes{}))
	mem := C.malloc(hdr + C.size_t(total))
	if mem == nil {
		return nil, nil
	}
	desc := unsafe.Slice((*C.mproc_bytes)(mem), n)
	data := unsafe.Slice((*byte)(unsafe.Add(mem, hdr)), total)
	off := 0
	for i, it := range items {
		start := off
		off += copy(data[off:], task)
		data[off] = 0
		off++
		off += copy(data[off:], it)
		desc[i].data = unsafe.Pointer(&data[start])
		desc[i].len = C.size_t(off - start)
	}
	return (*C.mproc_bytes)(mem), func() { C.free(mem) }
}

// Map runs the task over every item (chunksize items per task; 0:
// automatic) and waits for all the replies, in input order. Every item
// runs even if some fail; the error is then the first failed item's.
func (p *Pool) Map(task string, items [][]byte, chunksize int) ([][]byte, error) {
	if chunksize < 0 {
		return nil, newErrorDetail(C.MPROC_E_INVAL, "pool map "+task, "negative chunksize")
	}
	ctask := C.CString(task)
	defer C.free(unsafe.Pointer(ctask))
	arr, free := cItems(task, items)
	if free == nil {
		return nil, newError(C.MPROC_E_NOMEM, "pool map "+task)
	}
	defer free()
	p.mu.RLock()
	defer p.mu.RUnlock()
	var res *C.mproc_bytes
	rc := C.mprocgo_pool_map_named(poolAPI.mapNamed, p.c, ctask, arr, C.size_t(len(items)), C.size_t(chunksize), &res)
	if err := check(rc, "pool map "+task); err != nil {
		return nil, err
	}
	out := make([][]byte, len(items))
	if res != nil {
		defer C.mproc_free(unsafe.Pointer(res))
		for i, r := range unsafe.Slice(res, len(items)) {
			out[i] = goBytes(r.data, r.len)
		}
	}
	return out, nil
}

// Item is one result of an Iter: the input index, and the reply or the
// item's own error (ErrTaskFailed with the task's text, ErrWorkerDied...).
type Item struct {
	Index int
	Data  []byte
	Err   error
	// WorkerExitCode is the exit code of the worker that died running
	// the item (Err is ErrWorkerDied or ErrTaskTimeout); 0 otherwise.
	WorkerExitCode int
}

// Iter walks the results of Imap or ImapUnordered. One goroutine at a
// time may call Next.
type Iter struct {
	mu    sync.RWMutex
	c     *C.mproc_iter
	free  func()
	ctask *C.char
	op    string
}

// ErrDone is what Iter.Next returns after the last item.
var ErrDone = errors.New("mproc: no more items")

func (p *Pool) imap(task string, items [][]byte, chunksize int, fn unsafe.Pointer, op string) (*Iter, error) {
	if chunksize < 0 {
		return nil, newErrorDetail(C.MPROC_E_INVAL, op, "negative chunksize")
	}
	arr, free := cItems(task, items)
	if free == nil {
		return nil, newError(C.MPROC_E_NOMEM, op)
	}
	ctask := C.CString(task)
	p.mu.RLock()
	defer p.mu.RUnlock()
	var c *C.mproc_iter
	if err := check(C.mprocgo_pool_imap_named(fn, p.c, ctask, arr, C.size_t(len(items)), C.size_t(chunksize), &c), op); err != nil {
		free()
		C.free(unsafe.Pointer(ctask))
		return nil, err
	}
	it := &Iter{c: c, free: free, ctask: ctask, op: op}
	runtime.SetFinalizer(it, (*Iter).Close)
	return it, nil
}

// Imap runs the task over items (chunksize items per task; 0: one),
// submitting them lazily; Next yields the results in input order.
func (p *Pool) Imap(task string, items [][]byte, chunksize int) (*Iter, error) {
	if chunksize == 0 {
		chunksize = 1 // Python's imap default
	}
	return p.imap(task, items, chunksize, poolAPI.imap, "pool imap "+task)
}

// ImapUnordered is Imap yielding results in completion order.
func (p *Pool) ImapUnordered(task string, items [][]byte, chunksize int) (*Iter, error) {
	if chunksize == 0 {
		chunksize = 1
	}
	return p.imap(task, items, chunksize, poolAPI.imapUnorder, "pool imap_unordered "+task)
}

// Next waits at most timeout for the next result. It returns ErrDone after
// the last one, ErrTimeout when nothing was ready in time (call again); an
// item's own failure is in Item.Err and iteration goes on.
func (it *Iter) Next(timeout time.Duration) (Item, error) {
	it.mu.RLock()
	defer it.mu.RUnlock()
	var idx C.size_t
	var data unsafe.Pointer
	var n C.size_t
	rc := C.mproc_iter_next(it.c, &idx, &data, &n, seconds(timeout))
	switch {
	case rc == C.MPROC_DONE:
		return Item{}, ErrDone
	case rc == C.MPROC_E_TIMEOUT || rc == C.MPROC_E_INVAL:
		return Item{}, newError(rc, it.op+" next")
	case rc == 0:
		return Item{Index: int(idx), Data: goBytes(data, n)}, nil
	}
	var reply []byte
	if data != nil && rc == C.MPROC_E_TASK_FAILED {
		reply = goBytes(data, n)
	}
	item := Item{Index: int(idx), Err: taskError(rc, it.op, reply)}
	var code C.int
	if C.mproc_iter_worker_exitcode(it.c, &code) == 0 {
		item.WorkerExitCode = int(code)
	}
	return item, nil
}

// Close releases the iterator; its unfinished tasks are cancelled.
func (it *Iter) Close() error {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.c != nil {
		C.mproc_iter_free(it.c)
		it.c = nil
		it.free()
		C.free(unsafe.Pointer(it.ctask))
		runtime.SetFinalizer(it, nil)
	}
	return nil
}

// Shutdown stops the pool accepting tasks; queued ones still run and the
// workers exit when done (Python's Pool.close()). Idempotent.
func (p *Pool) Shutdown() error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_pool_close(p.c), "pool shutdown")
}

// Join waits at most timeout for every worker to exit, after Shutdown or
// Terminate (ErrState otherwise: the pool still runs).
func (p *Pool) Join(timeout time.Duration) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return check(C.mproc_pool_join(p.c, seconds(timeout)), "pool join")
}

// Close ends the pool gracefully and releases it: no new tasks, the queued
// ones run to the end, the workers exit. Idempotent; after it every method
// fails with ErrInval.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return nil
	}
	err := check(C.mproc_pool_close(p.c), "pool close")
	if err == nil {
		err = check(C.mproc_pool_join(p.c, C.MPROC_FOREVER), "pool close")
	}
	p.release()
	return err
}

// Terminate stops the pool now and releases it: unfinished results fail
// with ErrCancelled, the workers are killed. Idempotent.
func (p *Pool) Terminate() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c == nil {
		return nil
	}
	err := check(C.mproc_pool_terminate(p.c), "pool terminate")
	p.release()
	return err
}

func (p *Pool) release() {
	C.mproc_pool_free(p.c) // terminates and waits for the workers if needed
	p.c = nil
	runtime.SetFinalizer(p, nil)
}
