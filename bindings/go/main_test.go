package mproc_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"mproc"
)

// Targets and tasks used by the tests, registered in every copy of the
// test binary (the spawned children and the fork server run it too).
func init() {
	mproc.Register("test.exit", func(arg []byte) int { return int(arg[0]) })
	mproc.Register("test.sleep", func(arg []byte) int {
		d, _ := time.ParseDuration(string(arg))
		time.Sleep(d)
		return 0
	})
	mproc.Register("test.panic", func(arg []byte) int { panic("boom") })
	// Puts the child's name on the named queue given as argument.
	mproc.Register("test.report-name", func(arg []byte) int {
		q, err := mproc.OpenQueue(string(arg))
		if err != nil {
			return 10
		}
		defer q.Close()
		if q.Put([]byte(mproc.CurrentName()), 5*time.Second) != nil {
			return 11
		}
		return 0
	})
	// Exercises the Go runtime (GC, goroutines, channels) in the child.
	mproc.Register("test.runtime", func(arg []byte) int {
		ch := make(chan int)
		for i := 0; i < 8; i++ {
			go func(i int) {
				b := make([]byte, 1<<20)
				runtime.GC()
				ch <- i + len(b)>>20
			}(i)
		}
		sum := 0
		for i := 0; i < 8; i++ {
			sum += <-ch
		}
		runtime.GC()
		return sum - 29 // 36 - 29 = 7
	})
	// "QUEUE COUNT": puts msg-0..msg-(COUNT-1) on the named queue QUEUE.
	mproc.Register("test.producer", func(arg []byte) int {
		var name string
		var n int
		fmt.Sscan(string(arg), &name, &n)
		q, err := mproc.OpenQueue(name)
		if err != nil {
			return 10
		}
		defer q.Close()
		for i := 0; i < n; i++ {
			if q.Put([]byte("msg-"+strconv.Itoa(i)), 10*time.Second) != nil {
				return 11
			}
		}
		return 0
	})

	mproc.RegisterTask("test.square", func(arg []byte) ([]byte, error) {
		v := binary.LittleEndian.Uint64(arg)
		return binary.LittleEndian.AppendUint64(nil, v*v), nil
	})
	mproc.RegisterTask("test.fail", func(arg []byte) ([]byte, error) {
		return nil, fmt.Errorf("bad input %q", arg)
	})
	mproc.RegisterTask("test.task-panic", func(arg []byte) ([]byte, error) { panic("task boom") })
	mproc.RegisterTask("test.exit", func(arg []byte) ([]byte, error) { os.Exit(int(arg[0])); return nil, nil })
	mproc.RegisterTask("test.sleep", func(arg []byte) ([]byte, error) {
		d, _ := time.ParseDuration(string(arg))
		time.Sleep(d)
		return arg, nil
	})
	mproc.RegisterTask("test.pid", func(arg []byte) ([]byte, error) {
		return []byte(strconv.Itoa(os.Getpid())), nil
	})
}

func TestMain(m *testing.M) {
	mproc.Main() // spawned children run their target in here and exit
	os.Exit(m.Run())
}

// u64 encodes v for test.square.
func u64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

// queueName is a named queue name unique to this test run.
func queueName(t *testing.T) string {
	return fmt.Sprintf("mproc-go-test-%d-%s", os.Getpid(), t.Name())
}
