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

// Queue is a bounded multi-producer multi-consumer queue of byte messages
// in shared memory, like Python's multiprocessing.Queue. A named queue
// (CreateQueue, OpenQueue) is reached by name from any process of the same
// user, in any language that uses mproc; an anonymous one (NewQueue) only
// through handles this process holds. Its methods may be called from
// several goroutines at once.
//
// Put copies the message into the queue before it returns: a producer may
// exit right after a Put without losing anything. Messages of one
// goroutine come out in the order it put them. A Put or Get that waits
// holds its OS thread while it waits (it blocks in C), like a blocking
// system call.
type Queue struct {
	mu sync.RWMutex
	c  *C.mproc_queue
}

// DefaultCapacity is the ring size a queue gets with capacity 0: 1 MiB.
const DefaultCapacity = 1 << 20

func newQueue(c *C.mproc_queue) *Queue {
	q := &Queue{c: c}
	runtime.SetFinalizer(q, (*Queue).Close)
	return q
}

// NewQueue creates an anonymous queue holding at most maxsize messages (0:
// no count limit) in a ring of capacity bytes (0: DefaultCapacity). Each
// message occupies its length plus 16 bytes, rounded up to a multiple of 64.
func NewQueue(maxsize, capacity int) (*Queue, error) {
	if maxsize < 0 || capacity < 0 {
		return nil, newErrorDetail(C.MPROC_E_INVAL, "new queue", "negative size")
	}
	var c *C.mproc_queue
	if err := check(C.mproc_queue_new(&c, C.size_t(maxsize), C.size_t(capacity)), "new queue"); err != nil {
		return nil, err
	}
	return newQueue(c), nil
}

// CreateQueue creates the named queue /dev/shm/<name> (mode 0600), with
// NewQueue's sizes. A name is 1 to 200 characters of [A-Za-z0-9._-], not
// starting with '.'. ErrExist if the name is taken. The queue lives until
// UnlinkQueue and the last handle are gone.
func CreateQueue(name string, maxsize, capacity int) (*Queue, error) {
	if maxsize < 0 || capacity < 0 {
		return nil, newErrorDetail(C.MPROC_E_INVAL, "create queue "+name, "negative size")
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var c *C.mproc_queue
	if err := check(C.mproc_queue_create(&c, cname, C.size_t(maxsize), C.size_t(capacity)), "create queue "+name); err != nil {
		return nil, err
	}
	return newQueue(c), nil
}

// OpenQueue attaches to the named queue created by any process. ErrNoEnt
// if there is none, ErrBadSegment if the file is not a compatible queue.
func OpenQueue(name string) (*Queue, error) {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var c *C.mproc_queue
	if err := check(C.mproc_queue_open(&c, cname), "open queue "+name); err != nil {
		return nil, err
	}
	return newQueue(c), nil
}

// UnlinkQueue removes a queue's name: attached handles keep working, the
// memory goes with the last one, and the name may be created again at once.
func UnlinkQueue(name string) error {
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	return check(C.mproc_queue_unlink(cname), "unlink queue "+name)
}

// Put appends a copy of data, waiting at most timeout for room (Forever:
// no limit; 0: not at all). ErrFull without room in time, ErrTooBig if it
// can never fit (see MaxMessage), ErrClosed after Close or Shutdown.
func (q *Queue) Put(data []byte, timeout time.Duration) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return check(C.mproc_queue_put(q.c, bytesPtr(data), C.size_t(len(data)), seconds(timeout)), "queue put")
}

// PutNowait is Put with timeout 0: ErrFull at once if there is no room.
func (q *Queue) PutNowait(data []byte) error { return q.Put(data, 0) }

// Get takes the oldest message, waiting at most timeout for one. ErrEmpty
// if none came in time, ErrClosed after Close, or once the queue was shut
// down and drained.
func (q *Queue) Get(timeout time.Duration) ([]byte, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	var data unsafe.Pointer
	var n C.size_t
	if err := check(C.mproc_queue_get_alloc(q.c, &data, &n, seconds(timeout)), "queue get"); err != nil {
		return nil, err
	}
	defer C.mproc_free(data)
	return goBytes(data, n), nil
}

// GetNowait is Get with timeout 0: ErrEmpty at once if nothing is queued.
func (q *Queue) GetNowait() ([]byte, error) { return q.Get(0) }

// Qsize is the number of messages queued (exact when no put or get is in
// progress).
func (q *Queue) Qsize() (int, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	n := C.mproc_queue_qsize(q.c)
	if n < 0 {
		return 0, newError(C.int(n), "queue qsize")
	}
	return int(n), nil
}

// Empty reports whether Qsize is 0.
func (q *Queue) Empty() (bool, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	rc := C.mproc_queue_empty(q.c)
	return rc == 1, check(rc, "queue empty")
}

// Full reports whether maxsize messages are queued or not even an empty
// message would fit.
func (q *Queue) Full() (bool, error) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	rc := C.mproc_queue_full(q.c)
	return rc == 1, check(rc, "queue full")
}

// Shutdown shuts the queue down for every process and handle: puts fail
// with ErrClosed and blocked calls wake up. Gets go on delivering what is
// left and then fail with ErrClosed, or at once if immediate (what is left
// is dropped). Permanent.
func (q *Queue) Shutdown(immediate bool) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	i := 0
	if immediate {
		i = 1
	}
	return check(C.mproc_queue_shutdown(q.c, C.int(i)), "queue shutdown")
}

// Name is the queue's name, "" for an anonymous queue.
func (q *Queue) Name() string {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if s := C.mproc_queue_name(q.c); s != nil {
		return C.GoString(s)
	}
	return ""
}

// MaxMessage is the largest message one Put takes: the capacity minus 16.
func (q *Queue) MaxMessage() int {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return int(C.mproc_queue_max_message(q.c))
}

// Capacity is the ring's size in bytes, as rounded at creation.
func (q *Queue) Capacity() int {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return int(C.mproc_queue_capacity(q.c))
}

// Close closes this handle and releases it: goroutines blocked in Put or
// Get on it wake up with ErrClosed, then the queue is unmapped. Messages
// stay queued for other handles and processes (a named queue lives until
// it is unlinked). Closing twice is fine; afterwards the other methods
// fail with ErrInval.
func (q *Queue) Close() error {
	q.mu.RLock()
	c := q.c
	if c != nil {
		C.mproc_queue_close(c) // wakes the blocked callers holding mu
	}
	q.mu.RUnlock()
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.c != nil {
		C.mproc_queue_free(q.c)
		q.c = nil
		runtime.SetFinalizer(q, nil)
	}
	return nil
}
