package mproc

/*
#include <mproc.h>
*/
import "C"

import (
	"fmt"
	"os"
	"runtime/debug"
	"unsafe"
)

// mprocgoTarget is the one C process target behind every Register name.
// It runs in a spawned child (or a fork-server child), inside Main.
//
//export mprocgoTarget
func mprocgoTarget(arg unsafe.Pointer, n C.size_t, ctx unsafe.Pointer) (code C.int) {
	name, payload, ok := splitName(goBytes(arg, n))
	regMu.RLock()
	fn := targets[name]
	regMu.RUnlock()
	if !ok || fn == nil {
		fmt.Fprintf(os.Stderr, "mproc: no Go target registered as %q in this program\n", name)
		return 1
	}
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "mproc: target %q panicked in %s: %v\n%s", name,
				CurrentName(), r, debug.Stack())
			code = 1
		}
	}()
	return C.int(fn(payload))
}

// mprocgoTask is the one C pool task behind every RegisterTask name.
//
//export mprocgoTask
func mprocgoTask(arg unsafe.Pointer, n C.size_t, reply *C.mproc_reply, ctx unsafe.Pointer) (rc C.int) {
	name, payload, ok := splitName(goBytes(arg, n))
	regMu.RLock()
	fn := tasks[name]
	regMu.RUnlock()
	fail := func(msg string) C.int {
		b := []byte(msg)
		C.mproc_reply_set(reply, bytesPtr(b), C.size_t(len(b)))
		return 1
	}
	if !ok || fn == nil {
		return fail(fmt.Sprintf("no Go task registered as %q in this program", name))
	}
	defer func() {
		if r := recover(); r != nil {
			rc = fail(fmt.Sprintf("task %q panicked: %v", name, r))
		}
	}()
	out, err := fn(payload)
	if err != nil {
		return fail(err.Error())
	}
	if rc := C.mproc_reply_set(reply, bytesPtr(out), C.size_t(len(out))); rc < 0 {
		return fail(newError(rc, "reply").Error())
	}
	return 0
}
