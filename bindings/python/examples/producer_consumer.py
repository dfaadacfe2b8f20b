"""The seed documents' producer/consumer example, with mproc's Python binding.

A writer process puts messages on a Queue and a reader process takes them
off (the parent creates the queue and hands it to both children); then a
downloader/analyser pair shares a bounded Queue(3) that makes the producer
wait for the consumer. Run: python3 producer_consumer.py
(with PYTHONPATH=bindings/python and libmproc.so.0 on the loader path).
"""

import random
import time

import mproc


def write(q):
    """Writer: put A, B, C on the queue."""
    for value in ["A", "B", "C"]:
        print("Put %s to queue..." % value, flush=True)
        q.put(value.encode())
        time.sleep(random.random() * 0.1)


def read(q):
    """Reader: take messages until the queue is empty."""
    while not q.empty():
        value = q.get(True).decode()
        print("Get %s from queue." % value, flush=True)
        time.sleep(random.random() * 0.1)


def download_from_web(q):
    """Producer: puts 1..6; a full Queue(3) makes it wait for the consumer."""
    for i in range(1, 7):
        q.put(str(i).encode())
        print("put %d" % i, flush=True)


def analysis_data(q):
    """Consumer: collects six items, slower than the producer makes them."""
    waiting_analysis_data = []
    while len(waiting_analysis_data) < 6:
        waiting_analysis_data.append(int(q.get(timeout=30)))
        time.sleep(0.05)
    print("analysed %s" % waiting_analysis_data, flush=True)


def main():
    # The parent creates the queue and passes it to each child.
    with mproc.Queue() as q:
        pw = mproc.Process(target=write, args=(q,))
        pr = mproc.Process(target=read, args=(q,))
        pw.start()
        pw.join()       # wait for the writer to finish
        pr.start()
        pr.join()
        print("all data written and read (writer exit %d, reader exit %d)"
              % (pw.exitcode, pr.exitcode))

    with mproc.Queue(3) as q:
        p1 = mproc.Process(target=download_from_web, args=(q,))
        p2 = mproc.Process(target=analysis_data, args=(q,))
        p1.start()
        p2.start()
        p1.join()
        p2.join()
        print("producer exit %d, consumer exit %d" % (p1.exitcode, p2.exitcode))


if __name__ == "__main__":
    main()
