package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"mproc"
)

func TestMain(m *testing.M) {
	mproc.Main()
	os.Exit(m.Run())
}

func TestPutThenGet(t *testing.T) {
	name := fmt.Sprintf("mproc-go-peer-test-%d", os.Getpid())
	q, err := mproc.CreateQueue(name, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	defer mproc.UnlinkQueue(name)
	if err := run([]string{"put", name, "25"}); err != nil {
		t.Fatal(err)
	}
	if n, _ := q.Qsize(); n != 25 {
		t.Fatalf("%d messages queued, want 25", n)
	}
	if err := run([]string{"get", name, "25"}); err != nil {
		t.Fatal(err)
	}
	q.Put([]byte("msg-7"), 0)
	if err := run([]string{"get", name, "1"}); err == nil || !strings.Contains(err.Error(), `"msg-7"`) {
		t.Fatalf("get of a wrong message: %v", err)
	}
}

func TestBadUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"put", "x"}, {"peek", "x", "1"}, {"get", "x", "-1"}} {
		if err := run(args); err == nil || !strings.Contains(err.Error(), "COUNT") && !strings.Contains(err.Error(), "usage") {
			t.Errorf("run(%q) = %v", args, err)
		}
	}
	if err := run([]string{"get", "mproc-go-peer-no-such-queue", "1"}); err == nil ||
		!strings.Contains(err.Error(), "MPROC_E_NOENT") {
		t.Fatalf("missing queue: %v", err)
	}
}
