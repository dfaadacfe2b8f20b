/* A program that registers a target but forgets mproc_main(): its spawned
 * child runs main() again, must be refused when it tries to start a child
 * of its own, and must not become a fork bomb. test_start.cc runs it. */
#include <stdio.h>

#include "mproc.h"

static int child_target(const void *arg, size_t len, void *ctx) {
  (void)arg;
  (void)len;
  (void)ctx;
  return 0;
}

int main(void) {
  mproc_process *p = NULL;
  int code = -1;
  mproc_register("child_target", child_target);
  mproc_set_start_method(MPROC_START_SPAWN);
  if (mproc_process_new(&p, child_target, NULL, 0, NULL) != MPROC_OK) return 1;
  if (mproc_process_start(p) == MPROC_E_STATE) {
    /* We are the spawned copy: refused, as we should be. */
    printf("child: start refused\n");
    return 3;
  }
  if (mproc_process_join(p, 60.0) != MPROC_OK) return 2;
  mproc_process_exitcode(p, &code);
  printf("parent: child %s, exit code %d\n", code == 3 ? "refused" : "ran", code);
  mproc_process_free(p);
  return 0;
}
