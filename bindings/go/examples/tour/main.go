// Command tour restates, with the Go binding, the two examples of the
// notes on Python's multiprocessing that mproc was born from
// (shared/seeds/, and examples/tour.c sections 9, 11 and 12): producer and
// consumer processes talking through a queue, and a pool of workers with
// apply_async, imap and imap_unordered.
//
// Run it from the build directory: meson builds it as
// <builddir>/bindings/go/mproc-go-tour, and `meson test` runs it.
package main

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"
	"strconv"
	"time"

	"mproc"
)

// Targets and tasks are registered by name in init(), so that the spawned
// copies of this program find them.
func init() {
	// The producer: puts the "downloaded" values on the queue named arg.
	mproc.Register("download_from_web", func(arg []byte) int {
		q := mustOpen(string(arg))
		defer q.Close()
		for _, v := range []int{11, 22, 33, 44} {
			if err := q.Put([]byte(strconv.Itoa(v)), mproc.Forever); err != nil {
				log.Print(err)
				return 1
			}
		}
		fmt.Println("download: finished, everything is in the queue")
		return 0
	})
	// The consumer: takes the four values and prints them.
	mproc.Register("analysis_data", func(arg []byte) int {
		q := mustOpen(string(arg))
		defer q.Close()
		var got []string
		for len(got) < 4 {
			m, err := q.Get(5 * time.Second)
			if err != nil {
				log.Print(err)
				return 1
			}
			got = append(got, string(m))
		}
		fmt.Printf("analysis: %v\n", got)
		return 0
	})
	// Bun makers and the bun eater share a queue holding a single bun.
	mproc.Register("product", func(arg []byte) int {
		q := mustOpen(string(arg))
		defer q.Close()
		for _, kind := range []string{"pork", "cabbage", "red bean"} {
			fmt.Printf("%s makes a %s bun\n", mproc.CurrentName(), kind)
			if q.Put([]byte(kind), mproc.Forever) != nil {
				return 1
			}
		}
		return 0
	})
	mproc.Register("consumer", func(arg []byte) int {
		q := mustOpen(string(arg))
		defer q.Close()
		for eaten := 0; eaten < 6; eaten++ {
			bun, err := q.Get(mproc.Forever)
			if err != nil {
				return 1
			}
			fmt.Printf("the consumer ate a %s bun\n", bun)
		}
		return 0
	})

	mproc.RegisterTask("work", func(arg []byte) ([]byte, error) {
		i := int(arg[0])
		fmt.Printf("job %d running in %s, pid %d\n", i, mproc.CurrentName(), os.Getpid())
		time.Sleep(time.Duration(20*(i%4)) * time.Millisecond)
		return nil, nil
	})
	mproc.RegisterTask("get_html", func(arg []byte) ([]byte, error) {
		n := binary.LittleEndian.Uint32(arg)
		time.Sleep(time.Duration(n) * 100 * time.Millisecond)
		fmt.Printf("%d: got the page\n", n)
		return arg, nil
	})
}

func mustOpen(name string) *mproc.Queue {
	q, err := mproc.OpenQueue(name)
	if err != nil {
		log.Fatal(err)
	}
	return q
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// run starts one process per target and joins them all.
func run(queue string, targets ...string) {
	var procs []*mproc.Process
	for _, target := range targets {
		p, err := mproc.NewProcess(target, []byte(queue))
		check(err)
		check(p.Start())
		procs = append(procs, p)
	}
	for _, p := range procs {
		check(p.Join(mproc.Forever))
		code, err := p.ExitCode()
		check(err)
		if code != 0 {
			log.Fatalf("%s exited with %d", p.Name(), code)
		}
		p.Close()
	}
}

func producersAndConsumers() {
	fmt.Println("\n=== Processes talk through a queue: producer / consumer ===")
	name := fmt.Sprintf("mproc-go-tour-%d", os.Getpid())
	q, err := mproc.CreateQueue(name, 3, 0)
	check(err)
	defer mproc.UnlinkQueue(name)
	defer q.Close()
	run(name, "download_from_web", "analysis_data")

	bun := name + "-bun"
	b, err := mproc.CreateQueue(bun, 1, 0)
	check(err)
	defer mproc.UnlinkQueue(bun)
	defer b.Close()
	run(bun, "product", "product", "consumer")
}

func pools() {
	fmt.Println("\n=== Pool(3): apply_async over 10 jobs, close, join ===")
	pool, err := mproc.NewPool(3)
	check(err)
	var results []*mproc.AsyncResult
	for i := 0; i < 10; i++ {
		r, err := pool.ApplyAsync("work", []byte{byte(i)})
		check(err)
		results = append(results, r)
	}
	fmt.Println("-----start-----")
	check(pool.Close()) // no new tasks, wait for the queued ones
	fmt.Println("-----end-----")
	for _, r := range results {
		_, err := r.Get(0)
		check(err)
		r.Close()
	}

	fmt.Println("\n=== result.get(), imap (input order), imap_unordered (completion order) ===")
	workers := mproc.CPUCount()
	if workers < 3 {
		workers = 3
	}
	pool, err = mproc.NewPool(workers)
	check(err)
	defer pool.Close()
	r, err := pool.ApplyAsync("get_html", binary.LittleEndian.AppendUint32(nil, 3))
	check(err)
	reply, err := r.Get(mproc.Forever)
	check(err)
	fmt.Printf("result.get() = %d\n", binary.LittleEndian.Uint32(reply))
	r.Close()

	var items [][]byte
	for _, n := range []uint32{4, 3, 2} {
		items = append(items, binary.LittleEndian.AppendUint32(nil, n))
	}
	for _, ordered := range []bool{true, false} {
		imap, label := pool.Imap, "imap"
		if !ordered {
			imap, label = pool.ImapUnordered, "imap_unordered"
		}
		it, err := imap("get_html", items, 1)
		check(err)
		for {
			item, err := it.Next(mproc.Forever)
			if err == mproc.ErrDone {
				break
			}
			check(err)
			check(item.Err)
			fmt.Printf("%s: %d finished sleeping\n", label, binary.LittleEndian.Uint32(item.Data))
		}
		it.Close()
	}
	fmt.Printf("cpu_count() = %d\n", mproc.CPUCount())
}

func main() {
	mproc.Main() // spawned children run their target in here and exit
	fmt.Printf("mproc %s tour, in Go\n", mproc.Version())
	producersAndConsumers()
	if mproc.PoolSupported() {
		pools()
	} else {
		fmt.Println("\n=== Pool: skipped:", mproc.ErrPoolUnsupported, "===")
	}
	fmt.Println("\ntour finished")
}
