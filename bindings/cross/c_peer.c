/* The C side of the cross-language queue tests (run_pair.py), with the
 * peer CLI every binding's peer program follows:
 *
 *   c-peer create NAME          create the named queue (the driver does this first)
 *   c-peer unlink NAME          remove it
 *   c-peer put NAME COUNT       put "msg-0" ... "msg-(COUNT-1)"
 *   c-peer get NAME COUNT       get COUNT messages, each must be the next "msg-i"
 *
 * Exit status 0 on success, 1 with a message on stderr otherwise. */
#include <mproc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, const char *detail) {
  fprintf(stderr, "c-peer: %s: %s\n", what, detail);
  return 1;
}

int main(int argc, char **argv) {
  mproc_queue *q = NULL;
  unsigned long count, i;
  int rc;
  if (argc == 3 && strcmp(argv[1], "create") == 0) {
    rc = mproc_queue_create(&q, argv[2], 0, 0);
    if (rc != MPROC_OK) return fail("create", mproc_error_name(rc));
    mproc_queue_free(q);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "unlink") == 0) {
    rc = mproc_queue_unlink(argv[2]);
    return rc == MPROC_OK ? 0 : fail("unlink", mproc_error_name(rc));
  }
  if (argc != 4 || (strcmp(argv[1], "put") != 0 && strcmp(argv[1], "get") != 0))
    return fail("usage", "c-peer create|unlink NAME | c-peer put|get NAME COUNT");
  count = strtoul(argv[3], NULL, 10);
  rc = mproc_queue_open(&q, argv[2]);
  if (rc != MPROC_OK) return fail("open", mproc_error_name(rc));
  for (i = 0; i < count; i++) {
    char want[32], got[64];
    size_t len = 0;
    int n = snprintf(want, sizeof want, "msg-%lu", i);
    if (argv[1][0] == 'p') {
      rc = mproc_queue_put(q, want, (size_t)n, 30.0);
      if (rc != MPROC_OK) return fail("put", mproc_error_name(rc));
      continue;
    }
    rc = mproc_queue_get(q, got, sizeof got, &len, 30.0);
    if (rc != MPROC_OK) return fail("get", mproc_error_name(rc));
    if (len != (size_t)n || memcmp(got, want, len) != 0) return fail("get", "unexpected message");
  }
  mproc_queue_free(q);
  return 0;
}
