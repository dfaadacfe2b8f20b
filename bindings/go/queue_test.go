package mproc_test

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"mproc"
)

func TestQueueBasics(t *testing.T) {
	q, err := mproc.NewQueue(2, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Name() != "" || q.Capacity() != mproc.DefaultCapacity || q.MaxMessage() != mproc.DefaultCapacity-16 {
		t.Fatalf("name %q capacity %d max %d", q.Name(), q.Capacity(), q.MaxMessage())
	}
	if e, err := q.Empty(); err != nil || !e {
		t.Fatalf("Empty() = %v, %v", e, err)
	}
	if err := q.Put([]byte("a"), mproc.Forever); err != nil {
		t.Fatal(err)
	}
	if err := q.PutNowait(nil); err != nil { // an empty message is a message
		t.Fatal(err)
	}
	if f, err := q.Full(); err != nil || !f {
		t.Fatalf("Full() = %v, %v", f, err)
	}
	if n, err := q.Qsize(); err != nil || n != 2 {
		t.Fatalf("Qsize() = %d, %v", n, err)
	}
	if err := q.PutNowait([]byte("c")); !errors.Is(err, mproc.ErrFull) {
		t.Fatalf("PutNowait on a full queue = %v", err)
	}
	start := time.Now()
	if err := q.Put([]byte("c"), 50*time.Millisecond); !errors.Is(err, mproc.ErrFull) {
		t.Fatalf("Put(50ms) on a full queue = %v", err)
	}
	if time.Since(start) < 40*time.Millisecond {
		t.Fatal("Put with a timeout did not wait")
	}
	if m, err := q.Get(mproc.Forever); err != nil || string(m) != "a" {
		t.Fatalf("Get() = %q, %v", m, err)
	}
	if m, err := q.GetNowait(); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("GetNowait() = %q, %v; want an empty message", m, err)
	}
	if _, err := q.GetNowait(); !errors.Is(err, mproc.ErrEmpty) {
		t.Fatalf("GetNowait on an empty queue = %v", err)
	}
	if _, err := q.Get(30 * time.Millisecond); !errors.Is(err, mproc.ErrEmpty) {
		t.Fatalf("Get(30ms) on an empty queue = %v", err)
	}
	big := make([]byte, q.MaxMessage()+1)
	if err := q.Put(big, 0); !errors.Is(err, mproc.ErrTooBig) {
		t.Fatalf("Put(too big) = %v", err)
	}
	if err := q.Put(big[:q.MaxMessage()], 0); err != nil {
		t.Fatalf("Put(max message) = %v", err)
	}
	if m, err := q.Get(0); err != nil || len(m) != q.MaxMessage() {
		t.Fatalf("Get(max message) = %d bytes, %v", len(m), err)
	}
	if _, err := mproc.NewQueue(-1, 0); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("NewQueue(-1) = %v", err)
	}
}

func TestQueueShutdown(t *testing.T) {
	q, err := mproc.NewQueue(0, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Capacity() != 4096 {
		t.Fatalf("Capacity() = %d", q.Capacity())
	}
	q.Put([]byte("left"), 0)
	if err := q.Shutdown(false); err != nil {
		t.Fatal(err)
	}
	if err := q.Put([]byte("x"), 0); !errors.Is(err, mproc.ErrClosed) {
		t.Fatalf("Put after shutdown = %v", err)
	}
	if m, err := q.Get(0); err != nil || string(m) != "left" {
		t.Fatalf("Get after shutdown = %q, %v (draining)", m, err)
	}
	if _, err := q.Get(mproc.Forever); !errors.Is(err, mproc.ErrClosed) {
		t.Fatalf("Get on a drained shut-down queue = %v", err)
	}
	q.Shutdown(true)
	if n, err := q.Qsize(); err != nil || n != 0 {
		t.Fatalf("Qsize after shutdown = %d, %v", n, err)
	}
}

func TestQueueCloseWakesBlockedGoroutine(t *testing.T) {
	q, err := mproc.NewQueue(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := q.Get(mproc.Forever)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, mproc.ErrClosed) {
			t.Fatalf("blocked Get woke with %v, want ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not wake the blocked Get")
	}
	if err := q.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := q.Put(nil, 0); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("Put after Close = %v", err)
	}
}

func TestQueueGoroutines(t *testing.T) {
	q, err := mproc.NewQueue(8, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	const producers, each = 4, 200
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := q.Put([]byte(fmt.Sprintf("%d:%d", p, i)), 10*time.Second); err != nil {
					t.Error(err)
					return
				}
			}
		}(p)
	}
	next := make([]int, producers) // FIFO per producer
	for n := 0; n < producers*each; n++ {
		m, err := q.Get(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		var p, i int
		fmt.Sscanf(string(m), "%d:%d", &p, &i)
		if i != next[p] {
			t.Fatalf("producer %d: got message %d, want %d", p, i, next[p])
		}
		next[p]++
	}
	wg.Wait()
}

func TestNamedQueueErrors(t *testing.T) {
	name := queueName(t)
	q, err := mproc.CreateQueue(name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if q.Name() != name {
		t.Fatalf("Name() = %q", q.Name())
	}
	if _, err := mproc.CreateQueue(name, 0, 0); !errors.Is(err, mproc.ErrExist) {
		t.Fatalf("CreateQueue(existing) = %v", err)
	}
	if _, err := mproc.CreateQueue("bad/name", 0, 0); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("CreateQueue(bad name) = %v", err)
	}
	q2, err := mproc.OpenQueue(name)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	q.Put([]byte("through the name"), 0)
	if m, err := q2.Get(0); err != nil || string(m) != "through the name" {
		t.Fatalf("second handle got %q, %v", m, err)
	}
	if err := mproc.UnlinkQueue(name); err != nil {
		t.Fatal(err)
	}
	if _, err := mproc.OpenQueue(name); !errors.Is(err, mproc.ErrNoEnt) {
		t.Fatalf("OpenQueue(unlinked) = %v", err)
	}
	if err := q.Put([]byte("still works"), 0); err != nil { // attached handles survive unlink
		t.Fatal(err)
	}
}

// Producers in spawned children, the consumer here: the seed documents'
// producer/consumer example across processes.
func TestNamedQueueAcrossProcesses(t *testing.T) {
	name := queueName(t)
	q, err := mproc.CreateQueue(name, 3, 0) // small: producers block on a full queue
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	defer mproc.UnlinkQueue(name)
	const producers, each = 3, 50
	var procs []*mproc.Process
	for i := 0; i < producers; i++ {
		p := newProcess(t, "test.producer", []byte(name+" "+strconv.Itoa(each)))
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, p)
	}
	counts := map[string]int{}
	for n := 0; n < producers*each; n++ {
		m, err := q.Get(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d messages: %v", n, err)
		}
		counts[string(m)]++
	}
	for i := 0; i < each; i++ {
		if c := counts["msg-"+strconv.Itoa(i)]; c != producers {
			t.Fatalf("msg-%d arrived %d times, want %d", i, c, producers)
		}
	}
	for _, p := range procs {
		if err := p.Join(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if code, _ := p.ExitCode(); code != 0 {
			t.Fatalf("producer exit code %d", code)
		}
	}
	if e, _ := q.Empty(); !e {
		t.Fatal("queue not empty at the end")
	}
}

// Handles dropped without Close are released by the garbage collector: far
// more opens than the 256 handles a queue admits at once all succeed.
func TestQueueFinalizerReleasesHandles(t *testing.T) {
	name := queueName(t)
	q, err := mproc.CreateQueue(name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	defer mproc.UnlinkQueue(name)
	for i := 0; i < 700; i++ {
		h, err := mproc.OpenQueue(name)
		for retry := 0; errors.Is(err, mproc.ErrBusy) && retry < 200; retry++ {
			runtime.GC() // queues the finalizers of the dropped handles
			time.Sleep(5 * time.Millisecond)
			h, err = mproc.OpenQueue(name)
		}
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		_ = h.Capacity() // then dropped without Close
	}
}
