package mproc_test

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"mproc"
)

// newPool gives a pool of n workers, or skips the test when the loaded
// libmproc lacks the name-based spawn pools Go needs.
func newPool(t *testing.T, n int) *mproc.Pool {
	t.Helper()
	if !mproc.PoolSupported() {
		t.Skip("skipped: libmproc lacks mproc_pool_set_start_method and mproc_pool_*_named (spawn pools for FFI hosts)")
	}
	p, err := mproc.NewPool(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Terminate() })
	return p
}

func TestPoolUnsupportedIsReported(t *testing.T) {
	if mproc.PoolSupported() {
		t.Skip("this libmproc has name-based pools")
	}
	if p, err := mproc.NewPool(2); err != mproc.ErrPoolUnsupported || p != nil {
		t.Fatalf("NewPool = %v, %v; want ErrPoolUnsupported", p, err)
	}
}

func TestPoolApply(t *testing.T) {
	p := newPool(t, 2)
	if p.Workers() != 2 {
		t.Fatalf("Workers() = %d", p.Workers())
	}
	out, err := p.Apply("test.square", u64(12))
	if err != nil || binary.LittleEndian.Uint64(out) != 144 {
		t.Fatalf("Apply(square 12) = %v, %v", out, err)
	}
	_, err = p.Apply("test.fail", []byte("x"))
	var e *mproc.Error
	if !errors.As(err, &e) || !errors.Is(err, mproc.ErrTaskFailed) || e.Name != "MPROC_E_TASK_FAILED" ||
		e.Detail != `bad input "x"` {
		t.Fatalf("Apply(fail) = %v", err)
	}
	if _, err = p.Apply("test.task-panic", nil); !errors.Is(err, mproc.ErrTaskFailed) ||
		!strings.Contains(err.Error(), "task boom") {
		t.Fatalf("Apply(panic) = %v", err)
	}
	if _, err = p.Apply("test.unregistered", nil); err == nil {
		t.Fatal("Apply(unregistered task) succeeded")
	}
}

func TestPoolApplyAsync(t *testing.T) {
	p := newPool(t, 2)
	r, err := p.ApplyAsync("test.sleep", []byte("300ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if r.Ready() {
		t.Fatal("ready at once")
	}
	if _, err := r.Successful(); !errors.Is(err, mproc.ErrBusy) {
		t.Fatalf("Successful() before ready = %v", err)
	}
	if _, err := r.Get(10 * time.Millisecond); !errors.Is(err, mproc.ErrTimeout) {
		t.Fatalf("Get(10ms) = %v, want ErrTimeout", err)
	}
	if err := r.Wait(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if ok, err := r.Successful(); !ok || err != nil {
		t.Fatalf("Successful() = %v, %v", ok, err)
	}
	if out, err := r.Get(0); err != nil || string(out) != "300ms" {
		t.Fatalf("Get() = %q, %v", out, err)
	}
	if _, err := r.WorkerExitCode(); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("WorkerExitCode() of a success = %v", err)
	}
}

func TestPoolApplyAsyncFunc(t *testing.T) {
	p := newPool(t, 2)
	type res struct {
		reply []byte
		err   error
	}
	got := make(chan res, 2)
	done := func(reply []byte, err error) { got <- res{reply, err} }
	if err := p.ApplyAsyncFunc("test.square", u64(7), done); err != nil {
		t.Fatal(err)
	}
	if err := p.ApplyAsyncFunc("test.fail", []byte("y"), done); err != nil {
		t.Fatal(err)
	}
	var squares, failures int
	for i := 0; i < 2; i++ {
		select {
		case r := <-got:
			if r.err == nil && binary.LittleEndian.Uint64(r.reply) == 49 {
				squares++
			} else if errors.Is(r.err, mproc.ErrTaskFailed) {
				failures++
			}
		case <-time.After(30 * time.Second):
			t.Fatal("callback never ran")
		}
	}
	if squares != 1 || failures != 1 {
		t.Fatalf("%d successes and %d failures, want 1 and 1", squares, failures)
	}
}

func TestPoolWorkerDeath(t *testing.T) {
	p := newPool(t, 2)
	r, err := p.ApplyAsync("test.exit", []byte{5})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Get(30 * time.Second); !errors.Is(err, mproc.ErrWorkerDied) {
		t.Fatalf("Get() = %v, want ErrWorkerDied", err)
	}
	if code, err := r.WorkerExitCode(); err != nil || code != 5 {
		t.Fatalf("WorkerExitCode() = %d, %v", code, err)
	}
	if out, err := p.Apply("test.square", u64(3)); err != nil || binary.LittleEndian.Uint64(out) != 9 {
		t.Fatalf("pool unusable after a worker died: %v", err)
	}
}

func TestPoolMap(t *testing.T) {
	p := newPool(t, 3)
	var items [][]byte
	for i := uint64(0); i < 50; i++ {
		items = append(items, u64(i))
	}
	for _, chunk := range []int{0, 1, 7} {
		out, err := p.Map("test.square", items, chunk)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range out {
			if binary.LittleEndian.Uint64(o) != uint64(i*i) {
				t.Fatalf("chunksize %d: item %d = %d", chunk, i, binary.LittleEndian.Uint64(o))
			}
		}
	}
	if out, err := p.Map("test.square", nil, 0); err != nil || len(out) != 0 {
		t.Fatalf("Map(no items) = %v, %v", out, err)
	}
	if _, err := p.Map("test.fail", items[:3], 1); !errors.Is(err, mproc.ErrTaskFailed) {
		t.Fatalf("Map(fail) = %v", err)
	}
}

func TestPoolImap(t *testing.T) {
	p := newPool(t, 3)
	// The first item runs long, so unordered it comes last.
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	items := [][]byte{[]byte("2s"), []byte("0s"), []byte("10ms")}
	for _, ordered := range []bool{true, false} {
		imap := p.Imap
		if !ordered {
			imap = p.ImapUnordered
		}
		it, err := imap("test.sleep", items, 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []int
		for {
			item, err := it.Next(30 * time.Second)
			if err == mproc.ErrDone {
				break
			}
			if err != nil || item.Err != nil {
				t.Fatal(err, item.Err)
			}
			if string(item.Data) != string(items[item.Index]) {
				t.Fatalf("item %d = %q", item.Index, item.Data)
			}
			order = append(order, item.Index)
		}
		if _, err := it.Next(0); err != mproc.ErrDone {
			t.Fatalf("Next after the end = %v", err)
		}
		it.Close()
		if len(order) != 3 || (ordered && (order[0] != 0 || order[1] != 1)) || (!ordered && order[2] != 0) {
			t.Fatalf("ordered=%v: order %v", ordered, order)
		}
	}
	// Item errors do not stop the iteration.
	it, err := p.ImapUnordered("test.exit", [][]byte{{4}, {6}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	var codes []int
	for {
		item, err := it.Next(30 * time.Second)
		if err == mproc.ErrDone {
			break
		}
		if err != nil || !errors.Is(item.Err, mproc.ErrWorkerDied) {
			t.Fatalf("item %+v, %v", item, err)
		}
		codes = append(codes, item.WorkerExitCode)
	}
	sort.Ints(codes)
	if len(codes) != 2 || codes[0] != 4 || codes[1] != 6 {
		t.Fatalf("worker exit codes %v", codes)
	}
}

func TestPoolLifecycle(t *testing.T) {
	p := newPool(t, 2)
	if err := p.SetStartMethod(mproc.Forkserver); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("SetStartMethod(Forkserver) = %v", err)
	}
	if err := p.SetMaxTasksPerChild(1); err != nil {
		t.Fatal(err)
	}
	if err := p.SetTaskTimeout(500 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.SetMaxTasksPerChild(2); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("setter after start = %v", err)
	}
	// maxtasksperchild 1: every task runs in a fresh worker.
	a, _ := p.Apply("test.pid", nil)
	b, _ := p.Apply("test.pid", nil)
	if len(a) == 0 || string(a) == string(b) {
		t.Fatalf("pids %q and %q: the worker was not replaced", a, b)
	}
	if _, err := p.Apply("test.sleep", []byte("10s")); !errors.Is(err, mproc.ErrTaskTimeout) {
		t.Fatalf("Apply(past the task timeout) = %v", err)
	}
	if err := p.Join(0); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("Join on a running pool = %v", err)
	}
	slow, err := p.ApplyAsync("test.sleep", []byte("300ms"))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := p.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyAsync("test.pid", nil); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("ApplyAsync after Shutdown = %v", err)
	}
	if err := p.Join(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := slow.Get(0); err != nil || string(out) != "300ms" {
		t.Fatalf("queued task after Shutdown+Join: %q, %v", out, err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestPoolInitializer(t *testing.T) {
	p := newPool(t, 1)
	if err := p.SetInitializer("test.not-registered", nil); !errors.Is(err, mproc.ErrNoEnt) {
		t.Fatalf("SetInitializer(unregistered) = %v", err)
	}
	if err := p.SetInitializer("test.exit", []byte{0}); err != nil {
		t.Fatal(err)
	}
	if out, err := p.Apply("test.square", u64(5)); err != nil || binary.LittleEndian.Uint64(out) != 25 {
		t.Fatalf("Apply after a good initializer: %v", err)
	}
	bad := newPool(t, 1)
	if err := bad.SetInitializer("test.exit", []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Apply("test.square", u64(5)); !errors.Is(err, mproc.ErrInitFailed) {
		t.Fatalf("Apply with a failing initializer = %v, want ErrInitFailed", err)
	}
}

func TestPoolTerminateCancels(t *testing.T) {
	p := newPool(t, 1)
	var rs []*mproc.AsyncResult
	for i := 0; i < 3; i++ {
		r, err := p.ApplyAsync("test.sleep", []byte("5s"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		rs = append(rs, r)
	}
	if err := p.Terminate(); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if _, err := r.Get(10 * time.Second); !errors.Is(err, mproc.ErrCancelled) {
			t.Fatalf("Get after Terminate = %v, want ErrCancelled", err)
		}
	}
	if _, err := p.Apply("test.pid", nil); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("Apply after Terminate = %v", err)
	}
}
