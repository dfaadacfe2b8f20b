// Command mproc-peer is the Go side of the cross-language queue test
// (bindings/cross): it talks to a named mproc queue that another program,
// in any language, created.
//
//	mproc-peer put NAME COUNT   opens the existing named queue NAME and puts
//	                            COUNT messages msg-0, msg-1, ...
//	mproc-peer get NAME COUNT   opens it and gets COUNT messages (30 s
//	                            timeout each), checking they are exactly
//	                            msg-0 .. msg-(COUNT-1) in order
//
// It exits 0 on success, 1 with a message on stderr otherwise. Meson builds
// it as <builddir>/bindings/go/mproc-peer, linked with an rpath to the
// build's libmproc, so it runs from the build directory without any
// environment.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"mproc"
)

func main() {
	mproc.Main()
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mproc-peer:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 3 || (args[0] != "put" && args[0] != "get") {
		return fmt.Errorf("usage: mproc-peer put|get NAME COUNT")
	}
	count, err := strconv.Atoi(args[2])
	if err != nil || count < 0 {
		return fmt.Errorf("bad COUNT %q", args[2])
	}
	q, err := mproc.OpenQueue(args[1])
	if err != nil {
		return err
	}
	defer q.Close()
	for i := 0; i < count; i++ {
		want := "msg-" + strconv.Itoa(i)
		if args[0] == "put" {
			if err := q.Put([]byte(want), mproc.Forever); err != nil {
				return fmt.Errorf("put %s: %w", want, err)
			}
			continue
		}
		got, err := q.Get(30 * time.Second)
		if err != nil {
			return fmt.Errorf("get message %d: %w", i, err)
		}
		if string(got) != want {
			return fmt.Errorf("message %d is %q, want %q", i, got, want)
		}
	}
	return nil
}
