#include "queue/crashpoint.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace mproc {
namespace queue {

const char *const kCrashPointNames[kCpCount] = {
    "lock.held",   "txn.half",     "txn.applied",   "put.intent",      "put.claimed",
    "put.copy",    "put.copied",   "put.committed", "get.intent",      "get.claimed",
    "get.copy",    "get.copied",   "get.done",      "free.advanced",   "wait.registered",
    "recover.step", "attach.locked", "attach.active",
};

std::atomic<int> g_crashpoint_state{0};

namespace {

std::mutex g_mu;
std::atomic<int> g_point{-1};
std::atomic<long> g_remaining{0};
std::atomic<bool> g_stop{false};

}  // namespace

bool crashpoints_read() {
  std::lock_guard<std::mutex> lock(g_mu);
  if (g_crashpoint_state.load(std::memory_order_acquire) == 0) {
    int point = -1;
    long nth = 1;
    if (const char *env = getenv("MPROC_QUEUE_CRASHPOINT")) {
      const char *colon = strchr(env, ':');
      size_t name_len = colon ? static_cast<size_t>(colon - env) : strlen(env);
      for (int i = 0; i < kCpCount; i++)
        if (strlen(kCrashPointNames[i]) == name_len && strncmp(env, kCrashPointNames[i], name_len) == 0)
          point = i;
      char *rest = nullptr;
      if (colon) nth = strtol(colon + 1, &rest, 10);
      if (nth < 1) nth = 1;
      g_stop.store(rest && strcmp(rest, ":stop") == 0, std::memory_order_relaxed);
    }
    g_remaining.store(nth, std::memory_order_relaxed);
    g_point.store(point, std::memory_order_relaxed);
    g_crashpoint_state.store(point >= 0 ? 2 : 1, std::memory_order_release);
  }
  return g_crashpoint_state.load(std::memory_order_relaxed) == 2;
}

void crashpoint_reached(CrashPoint p) {
  if (g_point.load(std::memory_order_relaxed) != p) return;
  if (g_remaining.fetch_sub(1, std::memory_order_relaxed) == 1) {
    // SIGKILL cannot be caught: exactly what a kill -9 from outside does.
    // SIGSTOP: a peer that is alive but makes no progress.
    kill(getpid(), g_stop.load(std::memory_order_relaxed) ? SIGSTOP : SIGKILL);
  }
}

namespace {

#if defined(__SANITIZE_THREAD__)
// Consumers read (and CAS) header words at positions that may meanwhile hold
// another lap's payload: the tag check rejects them, a benign race that
// ThreadSanitizer cannot tell from a real one. Under it, payload bytes move
// with relaxed atomics instead of memcpy; ordering still comes from the
// acquire/release on the state words, which it does check.
void copy_bytes(void *dst, const void *src, size_t n) {
  auto *d = static_cast<unsigned char *>(dst);
  const auto *s = static_cast<const unsigned char *>(src);
  for (size_t i = 0; i < n; i++)
    __atomic_store_n(d + i, __atomic_load_n(s + i, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}
#else
void copy_bytes(void *dst, const void *src, size_t n) { memcpy(dst, src, n); }
#endif

}  // namespace

void copy_with_crashpoint(void *dst, const void *src, size_t n, CrashPoint mid) {
  if (__builtin_expect(!crashpoints_armed(), 1)) {
    copy_bytes(dst, src, n);
    return;
  }
  size_t half = n / 2;
  copy_bytes(dst, src, half);
  crashpoint(mid);
  copy_bytes(static_cast<char *>(dst) + half, static_cast<const char *>(src) + half, n - half);
}

}  // namespace queue
}  // namespace mproc
