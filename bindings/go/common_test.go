package mproc_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"mproc"
)

func TestVersionAndHelpers(t *testing.T) {
	v := mproc.Version()
	var maj, min, patch int
	if n, _ := fmt.Sscanf(v, "%d.%d.%d", &maj, &min, &patch); n != 3 {
		t.Fatalf("Version() = %q", v)
	}
	if got := mproc.VersionNumber(); got != maj*10000+min*100+patch || got < 200 {
		t.Fatalf("VersionNumber() = %d for %q", got, v)
	}
	if mproc.CPUCount() < 1 {
		t.Fatalf("CPUCount() = %d", mproc.CPUCount())
	}
	if got := mproc.CurrentName(); got != "MainProcess" {
		t.Fatalf("CurrentName() = %q", got)
	}
}

func TestErrorCarriesCodeAndName(t *testing.T) {
	err := mproc.UnlinkQueue("mproc-go-test-no-such-queue")
	var e *mproc.Error
	if !errors.As(err, &e) {
		t.Fatalf("UnlinkQueue error %v (%T) is not an *mproc.Error", err, err)
	}
	if e.Code != -2 || e.Name != "MPROC_E_NOENT" || e.Msg == "" || e.Op == "" {
		t.Fatalf("error fields: %+v", e)
	}
	if !errors.Is(err, mproc.ErrNoEnt) || errors.Is(err, mproc.ErrExist) {
		t.Fatalf("errors.Is mismatch for %v", err)
	}
	if s := err.Error(); !strings.Contains(s, "MPROC_E_NOENT") || !strings.Contains(s, "unlink queue") {
		t.Fatalf("Error() = %q", s)
	}
	codes := map[*mproc.Error]int{mproc.ErrInval: -22, mproc.ErrTimeout: -110, mproc.ErrFull: -1002,
		mproc.ErrEmpty: -1003, mproc.ErrClosed: -1004, mproc.ErrTaskFailed: -1007, mproc.ErrSys: -1012}
	for e, code := range codes {
		if e.Code != code || !strings.HasPrefix(e.Name, "MPROC_E_") {
			t.Errorf("sentinel %+v: want code %d", e, code)
		}
	}
}

func TestStartMethodSetting(t *testing.T) {
	if got := mproc.GetStartMethod(); got != mproc.Spawn {
		t.Fatalf("default start method %v", got)
	}
	for _, m := range []mproc.StartMethod{mproc.StartMethod(1), mproc.Forkserver} {
		if err := mproc.SetStartMethod(m); !errors.Is(err, mproc.ErrInval) {
			t.Fatalf("SetStartMethod(%v) = %v, want ErrInval", m, err)
		}
	}
	if err := mproc.SetStartMethod(mproc.Spawn); err != nil || mproc.GetStartMethod() != mproc.Spawn {
		t.Fatalf("SetStartMethod(Spawn) = %v", err)
	}
	if mproc.Spawn.String() != "spawn" || mproc.Forkserver.String() != "forkserver" {
		t.Fatal("StartMethod.String")
	}
}

func TestRegisterRejectsDuplicatesAndBadNames(t *testing.T) {
	for _, name := range []string{"test.exit", "has space", ""} {
		func() {
			defer func() {
				r := recover()
				if _, ok := r.(error); !ok {
					t.Errorf("Register(%q) did not panic with an error: %v", name, r)
				}
			}()
			mproc.Register(name, func([]byte) int { return 0 })
		}()
	}
}
