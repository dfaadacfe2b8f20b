package mproc_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"mproc"
)

func newProcess(t *testing.T, target string, arg []byte) *mproc.Process {
	t.Helper()
	p, err := mproc.NewProcess(target, arg)
	if err != nil {
		t.Fatalf("NewProcess(%q): %v", target, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func TestProcessExitCode(t *testing.T) {
	p := newProcess(t, "test.exit", []byte{3})
	if !strings.HasPrefix(p.Name(), "Process-") || p.Pid() != 0 || p.IsAlive() || p.Daemon() {
		t.Fatalf("before start: name %q pid %d alive %v daemon %v", p.Name(), p.Pid(), p.IsAlive(), p.Daemon())
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if p.Pid() <= 0 {
		t.Fatalf("pid %d", p.Pid())
	}
	if err := p.Join(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	code, err := p.ExitCode()
	if err != nil || code != 3 {
		t.Fatalf("ExitCode() = %d, %v; want 3", code, err)
	}
	if p.IsAlive() {
		t.Fatal("alive after join")
	}
	if err := p.Start(); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("second Start() = %v, want ErrState", err)
	}
}

func TestProcessStateErrors(t *testing.T) {
	p := newProcess(t, "test.exit", []byte{0})
	if err := p.Join(0); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("Join before start = %v", err)
	}
	if _, err := p.ExitCode(); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("ExitCode before start = %v", err)
	}
	if err := p.Terminate(); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("Terminate before start = %v", err)
	}
	if _, err := p.Sentinel(); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("Sentinel before start = %v", err)
	}
	if _, err := mproc.NewProcess("test.not-registered", nil); !errors.Is(err, mproc.ErrNoEnt) {
		t.Fatalf("NewProcess(unregistered) = %v", err)
	}
	if err := p.SetStartMethod(mproc.StartMethod(1)); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("SetStartMethod(fork) = %v", err)
	}
}

func TestProcessTerminateAndKill(t *testing.T) {
	for _, c := range []struct {
		stop func(*mproc.Process) error
		code int
	}{{(*mproc.Process).Terminate, -15}, {(*mproc.Process).Kill, -9}} {
		p := newProcess(t, "test.sleep", []byte("60s"))
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if !p.IsAlive() {
			t.Fatal("not alive after start")
		}
		if err := p.Join(100 * time.Millisecond); !errors.Is(err, mproc.ErrTimeout) {
			t.Fatalf("Join(100ms) = %v, want ErrTimeout", err)
		}
		if _, err := p.ExitCode(); !errors.Is(err, mproc.ErrBusy) {
			t.Fatalf("ExitCode while running = %v, want ErrBusy", err)
		}
		fd, err := p.Sentinel()
		if err != nil || fd < 0 {
			t.Fatalf("Sentinel() = %d, %v", fd, err)
		}
		if err := c.stop(p); err != nil {
			t.Fatal(err)
		}
		if err := p.Join(30 * time.Second); err != nil {
			t.Fatal(err)
		}
		if code, err := p.ExitCode(); err != nil || code != c.code {
			t.Fatalf("ExitCode() = %d, %v; want %d", code, err, c.code)
		}
		if err := p.Terminate(); err != nil {
			t.Fatalf("Terminate after exit = %v, want nil", err)
		}
	}
}

func TestProcessNameAndDaemon(t *testing.T) {
	name := queueName(t)
	q, err := mproc.CreateQueue(name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	defer mproc.UnlinkQueue(name)
	p := newProcess(t, "test.report-name", []byte(name))
	if err := p.SetName("reporter"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetDaemon(true); err != nil {
		t.Fatal(err)
	}
	if p.Name() != "reporter" || !p.Daemon() {
		t.Fatalf("name %q daemon %v", p.Name(), p.Daemon())
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	got, err := q.Get(30 * time.Second)
	if err != nil || string(got) != "reporter" {
		t.Fatalf("child reported %q, %v", got, err)
	}
	p.Join(mproc.Forever)
	if code, _ := p.ExitCode(); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if err := p.SetName("late"); !errors.Is(err, mproc.ErrState) {
		t.Fatalf("SetName after start = %v", err)
	}
}

func TestProcessPanicExitsWithOne(t *testing.T) {
	p := newProcess(t, "test.panic", nil)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	p.Join(mproc.Forever)
	if code, err := p.ExitCode(); err != nil || code != 1 {
		t.Fatalf("ExitCode() = %d, %v; want 1", code, err)
	}
}

func TestProcessGoRuntimeInChild(t *testing.T) {
	p := newProcess(t, "test.runtime", nil)
	if err := p.SetStartMethod(mproc.Spawn); err != nil {
		t.Fatal(err)
	}
	if err := p.SetStartMethod(mproc.Forkserver); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("SetStartMethod(Forkserver) = %v, want ErrInval", err)
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.Join(60 * time.Second); err != nil {
		p.Kill()
		t.Fatalf("child hung: %v", err)
	}
	if code, _ := p.ExitCode(); code != 7 {
		t.Fatalf("exit code %d, want 7", code)
	}
}

func TestProcessClose(t *testing.T) {
	p, err := mproc.NewProcess("test.exit", []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := p.Start(); !errors.Is(err, mproc.ErrInval) {
		t.Fatalf("Start after Close = %v, want ErrInval", err)
	}
	if p.Pid() != 0 || p.Name() != "" {
		t.Fatal("getters after Close")
	}
}
