// See alloc_fail.h. glibc exports its allocator as __libc_malloc & co, so
// the replacements need no dlsym (which itself allocates). Every entry
// point is replaced, so blocks from any of them are freed through free()
// here and the live count stays exact.
#include "alloc_fail.h"

#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>

extern "C" {
void *__libc_malloc(size_t);
void *__libc_calloc(size_t, size_t);
void *__libc_realloc(void *, size_t);
void *__libc_memalign(size_t, size_t);
void __libc_free(void *);
}

namespace {

std::atomic<uint64_t> g_countdown{0};  // 0: disarmed
std::atomic<bool> g_fired{false};
std::atomic<int64_t> g_live{0};

// True when this allocation is the armed one.
bool fail_now() {
  uint64_t left = g_countdown.load(std::memory_order_relaxed);
  while (left != 0) {
    if (g_countdown.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) {
      if (left != 1) return false;
      g_fired.store(true, std::memory_order_relaxed);
      errno = ENOMEM;
      return true;
    }
  }
  return false;
}

void *counted(void *p) {
  if (p) g_live.fetch_add(1, std::memory_order_relaxed);
  return p;
}

// A forked child (mproc's own, or the harness's) must not fail in the
// parent's place: the count is the parent's.
void disarm_in_child() { g_countdown.store(0, std::memory_order_relaxed); }
const bool g_hooked = pthread_atfork(nullptr, nullptr, disarm_in_child) == 0;

}  // namespace

namespace alloc_fail {

void arm(uint64_t n) {
  (void)g_hooked;
  g_fired.store(false, std::memory_order_relaxed);
  g_countdown.store(n, std::memory_order_seq_cst);
}

bool disarm() {
  g_countdown.store(0, std::memory_order_seq_cst);
  return g_fired.load(std::memory_order_seq_cst);
}

int64_t live_blocks() { return g_live.load(std::memory_order_seq_cst); }

}  // namespace alloc_fail

extern "C" {

void *malloc(size_t n) { return fail_now() ? nullptr : counted(__libc_malloc(n)); }

void *calloc(size_t n, size_t size) {
  return fail_now() ? nullptr : counted(__libc_calloc(n, size));
}

void *realloc(void *p, size_t n) {
  if (!p) return malloc(n);
  if (n == 0) {
    free(p);
    return nullptr;
  }
  // On failure the old block stays allocated: the live count is unchanged.
  return fail_now() ? nullptr : __libc_realloc(p, n);
}

void free(void *p) {
  if (!p) return;
  g_live.fetch_sub(1, std::memory_order_relaxed);
  __libc_free(p);
}

void *memalign(size_t align, size_t n) {
  return fail_now() ? nullptr : counted(__libc_memalign(align, n));
}

void *aligned_alloc(size_t align, size_t n) { return memalign(align, n); }

int posix_memalign(void **out, size_t align, size_t n) {
  if (align % sizeof(void *) != 0 || (align & (align - 1)) != 0) return EINVAL;
  void *p = memalign(align, n);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void *valloc(size_t n) { return memalign(static_cast<size_t>(getpagesize()), n); }

void *pvalloc(size_t n) {
  size_t page = static_cast<size_t>(getpagesize());
  return memalign(page, (n + page - 1) / page * page);
}

}  // extern "C"
