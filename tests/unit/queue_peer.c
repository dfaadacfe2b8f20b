/* queue-peer: a separate program (plain C, public API only) that attaches
 * to a named queue, as a process written in another language would.
 *
 *   queue-peer put  NAME COUNT PRODUCER   put COUNT self-checking messages
 *   queue-peer get  NAME COUNT            get COUNT, check them, print a summary
 *   queue-peer open NAME                  print the result of mproc_queue_open
 *
 * Exit status: 0 on success, 1 on a failed call, 2 on a bad message,
 * 3 on usage errors. */
#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_msg.h"

static int fail(const char *what, int rc) {
  printf("%s: %s\n", what, mproc_error_name(rc));
  return 1;
}

static int do_put(mproc_queue *q, unsigned long count, uint32_t producer) {
  unsigned char buf[QMSG_HEADER + 512];
  unsigned long i;
  for (i = 0; i < count; i++) {
    size_t len = qmsg_len(producer, (uint32_t)i, 512);
    int rc;
    qmsg_fill(buf, len, producer, (uint32_t)i);
    rc = mproc_queue_put(q, buf, len, 30.0);
    if (rc != MPROC_OK) return fail("put", rc);
  }
  printf("put %lu\n", count);
  return 0;
}

static int do_get(mproc_queue *q, unsigned long count) {
  unsigned long i;
  unsigned long long seq_sum = 0;
  for (i = 0; i < count; i++) {
    void *data = NULL;
    size_t len = 0;
    uint32_t producer, seq;
    int rc = mproc_queue_get_alloc(q, &data, &len, 30.0);
    if (rc != MPROC_OK) return fail("get", rc);
    if (!qmsg_check((const unsigned char *)data, len, &producer, &seq)) {
      mproc_free(data);
      printf("bad message %lu\n", i);
      return 2;
    }
    seq_sum += seq;
    mproc_free(data);
  }
  printf("got %lu seqsum %llu\n", count, seq_sum);
  return 0;
}

int main(int argc, char **argv) {
  mproc_queue *q = NULL;
  int rc;
  if (argc < 3) return 3;
  rc = mproc_queue_open(&q, argv[2]);
  if (strcmp(argv[1], "open") == 0) {
    printf("%s\n", mproc_error_name(rc));
    mproc_queue_free(q);
    return rc == MPROC_OK ? 0 : 1;
  }
  if (rc != MPROC_OK) return fail("open", rc);
  if (strcmp(argv[1], "put") == 0 && argc == 5)
    rc = do_put(q, strtoul(argv[3], NULL, 10), (uint32_t)strtoul(argv[4], NULL, 10));
  else if (strcmp(argv[1], "get") == 0 && argc == 4)
    rc = do_get(q, strtoul(argv[3], NULL, 10));
  else
    rc = 3;
  mproc_queue_free(q);
  return rc;
}
