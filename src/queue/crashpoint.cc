#include "queue/crashpoint.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "queue/segment.h"

namespace mproc {
namespace queue {

const char *const kCrashPointNames[kCpCount] = {
    "lock.held",   "txn.half",     "txn.applied",   "put.intent",      "put.claimed",
    "put.copy",    "put.copied",   "put.committed", "get.intent",      "get.claimed",
    "get.copy",    "get.copied",   "get.done",      "free.advanced",   "wait.registered",
    "recover.step", "attach.locked", "attach.active",
};

namespace {

std::mutex g_mu;
// The fork generation the configuration below was read in (~0: never).
std::atomic<uint64_t> g_read_gen{~uint64_t{0}};
std::atomic<int> g_point{-1};
std::atomic<long> g_remaining{0};

void read_config(uint64_t gen) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_read_gen.load(std::memory_order_acquire) == gen) return;
  int point = -1;
  long nth = 1;
  if (const char *env = getenv("MPROC_QUEUE_CRASHPOINT")) {
    const char *colon = strchr(env, ':');
    size_t name_len = colon ? static_cast<size_t>(colon - env) : strlen(env);
    for (int i = 0; i < kCpCount; i++)
      if (strlen(kCrashPointNames[i]) == name_len && strncmp(env, kCrashPointNames[i], name_len) == 0)
        point = i;
    if (colon) nth = strtol(colon + 1, nullptr, 10);
    if (nth < 1) nth = 1;
  }
  g_remaining.store(nth, std::memory_order_relaxed);
  g_point.store(point, std::memory_order_relaxed);
  g_read_gen.store(gen, std::memory_order_release);
}

}  // namespace

bool crashpoints_armed() {
  uint64_t gen = fork_generation();
  if (__builtin_expect(g_read_gen.load(std::memory_order_acquire) != gen, 0)) read_config(gen);
  return g_point.load(std::memory_order_relaxed) >= 0;
}

void crashpoint_reached(CrashPoint p) {
  if (g_point.load(std::memory_order_relaxed) != p) return;
  if (g_remaining.fetch_sub(1, std::memory_order_relaxed) == 1) {
    // SIGKILL cannot be caught: exactly what a kill -9 from outside does.
    kill(getpid(), SIGKILL);
  }
}

void copy_with_crashpoint(void *dst, const void *src, size_t n, CrashPoint mid) {
  if (__builtin_expect(!crashpoints_armed(), 1)) {
    memcpy(dst, src, n);
    return;
  }
  size_t half = n / 2;
  memcpy(dst, src, half);
  crashpoint(mid);
  memcpy(static_cast<char *>(dst) + half, static_cast<const char *>(src) + half, n - half);
}

}  // namespace queue
}  // namespace mproc
