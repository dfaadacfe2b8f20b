#include "start/method.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "base/thread.h"
#include "mproc/mproc-common.h"
#include "mproc/mproc-start.h"

namespace mproc {

namespace {

std::atomic<int> g_default{MPROC_START_FORK};
std::atomic<bool> g_started{false};
std::atomic<bool> g_bootstrapped{false};
std::atomic<bool> g_fork_chosen{false};
std::atomic<bool> g_fork_warned{false};

// A forked child has started nothing yet: it may choose its own default.
void child_has_started_nothing() { g_started.store(false, std::memory_order_relaxed); }

// Reads a small /proc file whole; empty on failure.
std::string read_proc(const char *path) {
  std::string out;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  close(fd);
  return out;
}

// Whether the last argument of this process, as the kernel recorded it at
// exec, is the spawn flag (spawn always puts it last, after argv[0]).
bool started_as_spawned_child() {
  std::string cmdline = read_proc("/proc/self/cmdline");  // "arg0\0arg1\0...argN\0"
  if (cmdline.empty() || cmdline.back() != '\0') return false;
  cmdline.pop_back();
  size_t last = cmdline.rfind('\0');
  return last != std::string::npos && cmdline.compare(last + 1, std::string::npos, kSpawnFlag) == 0;
}

// Threads of this process, or 0 if unknown: /proc/self/task links one
// directory per thread (plus "." and ".."), so one stat() answers.
int thread_count() {
  struct stat st;
  if (stat("/proc/self/task", &st) != 0 || st.st_nlink < 3) return 0;
  return static_cast<int>(st.st_nlink - 2);
}

}  // namespace

bool valid_start_method(int method) {
  return method == MPROC_START_FORK || method == MPROC_START_SPAWN ||
         method == MPROC_START_FORKSERVER;
}

int set_default_start_method(int method) {
  if (!valid_start_method(method)) return MPROC_E_INVAL;
  if (g_started.load(std::memory_order_acquire)) return MPROC_E_STATE;
  g_default.store(method, std::memory_order_release);
  if (method == MPROC_START_FORK) g_fork_chosen.store(true, std::memory_order_relaxed);
  return MPROC_OK;
}

int default_start_method() { return g_default.load(std::memory_order_acquire); }

int may_start() {
  if (!g_bootstrapped.load(std::memory_order_acquire)) {
    // Checked once: a spawned child that skipped mproc_main() would run the
    // parent's main() and start the same children again, without end.
    static const bool orphan_spawn = started_as_spawned_child();
    if (orphan_spawn) {
      static std::atomic<bool> told{false};
      if (!told.exchange(true))
        fprintf(stderr,
                "mproc: this process was spawned by mproc, but main() did not call "
                "mproc_main(argc, argv) first: refusing to start processes "
                "(see mproc_main in <mproc.h>)\n");
      return MPROC_E_STATE;
    }
  }
  return MPROC_OK;
}

int begin_start() {
  static const bool hooked = pthread_atfork(nullptr, nullptr, child_has_started_nothing) == 0;
  (void)hooked;
  if (int rc = may_start()) return rc;
  g_started.store(true, std::memory_order_release);
  return MPROC_OK;
}

void mark_bootstrapped() { g_bootstrapped.store(true, std::memory_order_release); }

void warn_if_fork_unsafe(bool chosen_explicitly) {
  if (chosen_explicitly || g_fork_chosen.load(std::memory_order_relaxed) ||
      g_fork_warned.load(std::memory_order_relaxed))
    return;
  int others = thread_count() - library_thread_count() - 1;
  if (others <= 0 || g_fork_warned.exchange(true)) return;
  fprintf(stderr,
          "mproc: warning: starting a child with fork() while %d other thread%s of this "
          "process %s running; the child inherits their locks in whatever state they are. "
          "Use MPROC_START_FORKSERVER or MPROC_START_SPAWN, or call "
          "mproc_set_start_method(MPROC_START_FORK) to choose fork knowingly and silence "
          "this warning.\n",
          others, others == 1 ? "" : "s", others == 1 ? "is" : "are");
}

}  // namespace mproc
