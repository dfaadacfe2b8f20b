// Allocation failure: every API call below runs with its 1st, 2nd, 3rd...
// allocation failing (in any thread: the pool's manager's count too)
// until it completes without reaching the failure. Each run must return
// MPROC_OK or MPROC_E_NOMEM (never crash, abort or hang), and once the
// objects are freed the program holds exactly the blocks, descriptors,
// children and /dev/shm entries it held before.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>

#include "alloc_fail.h"
#include "fault_util.h"
#include "mproc.h"
#include "queue_test_util.h"

namespace {

using fault::expect_nothing_left;
using fault::Footprint;

// The most allocations one call below makes; a sweep that has not
// finished by then is a test failure, not an endless loop.
constexpr uint64_t kMaxAllocations = 4000;

// `call` runs armed and returns its code; `cleanup` runs disarmed and frees
// what a successful call made.
template <typename Call, typename Cleanup>
void sweep_allocations(const std::string &what, Call call, Cleanup cleanup,
                       bool count_blocks = true) {
  ASSERT_EQ(call(), MPROC_OK) << what << ": warm-up";  // lazily made state exists now
  cleanup();
  Footprint before;
  int64_t blocks = alloc_fail::live_blocks();
  for (uint64_t n = 1; n <= kMaxAllocations; n++) {
    // Twice, counting blocks around the second run only: the first throw
    // through a library fills the unwinder's caches for good.
    int rc = MPROC_OK;
    bool fired = false;
    int64_t leaked = 0;
    for (int run = 0; run < 2; run++) {
      blocks = alloc_fail::live_blocks();
      alloc_fail::arm(n);
      rc = call();
      fired = alloc_fail::disarm();
      if (rc == MPROC_OK) cleanup();
      // A freed running child's record goes when the reaper thread has
      // reaped it: wait for that before counting.
      mproc_test::wait_until(mproc_test::has_no_children, 30.0);
      mproc_test::wait_until([&] { return alloc_fail::live_blocks() == blocks; }, 0.5);
      leaked = alloc_fail::live_blocks() - blocks;  // before the messages allocate
    }
    std::string run = what + " with allocation " + std::to_string(n) + " failing";
    EXPECT_TRUE(rc == MPROC_OK || rc == MPROC_E_NOMEM) << run << ": " << mproc_error_name(rc);
    if (count_blocks) {
      EXPECT_EQ(leaked, 0) << run << ": blocks leaked";
    }
    expect_nothing_left(before, run);
    if (::testing::Test::HasFailure()) return;
    if (!fired) {
      EXPECT_EQ(rc, MPROC_OK) << run;
      EXPECT_GT(n, 1u) << what << " allocates nothing: the sweep proves nothing";
      return;
    }
  }
  ADD_FAILURE() << what << " made more than " << kMaxAllocations << " allocations";
}

int exit7(const void *, size_t, void *) { return 7; }

TEST(AllocFail, AnonymousQueueNew) {
  mproc_queue *q = nullptr;
  sweep_allocations("mproc_queue_new", [&] { return mproc_queue_new(&q, 0, 0); },
                    [&] { mproc_queue_free(q); });
}

TEST(AllocFail, NamedQueueCreateAndOpen) {
  std::string name = qtest::unique_name("nomem");
  mproc_queue *q = nullptr;
  sweep_allocations("mproc_queue_create", [&] { return mproc_queue_create(&q, name.c_str(), 0, 0); },
                    [&] {
                      mproc_queue_free(q);
                      mproc_queue_unlink(name.c_str());
                    });
  mproc_queue *owner = nullptr;
  ASSERT_EQ(mproc_queue_create(&owner, name.c_str(), 0, 0), MPROC_OK);
  qtest::Unlinker unlink(name);
  sweep_allocations("mproc_queue_open", [&] { return mproc_queue_open(&q, name.c_str()); },
                    [&] { mproc_queue_free(q); });
  mproc_queue_free(owner);
}

TEST(AllocFail, QueuePutAndGet) {
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_new(&q, 0, 0), MPROC_OK);
  sweep_allocations("put then get_alloc",
                    [&] {
                      int rc = mproc_queue_put(q, "hello", 6, 0.0);
                      void *data = nullptr;
                      size_t len = 0;
                      if (rc == MPROC_OK) rc = mproc_queue_get_alloc(q, &data, &len, 0.0);
                      mproc_free(data);
                      return rc;
                    },
                    [] {});
  mproc_queue_free(q);
}

TEST(AllocFail, ProcessNewStartJoin) {
  mproc_process *p = nullptr;
  sweep_allocations("a process",
                    [&] {
                      p = nullptr;
                      int rc = mproc_process_new(&p, exit7, "arg", 4, nullptr);
                      if (rc == MPROC_OK) rc = mproc_process_start(p);
                      if (rc == MPROC_OK) rc = mproc_process_join(p, 60.0);
                      if (rc != MPROC_OK) mproc_process_free(p);  // joined or never started
                      return rc;
                    },
                    [&] {
                      int code = 0;
                      EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
                      EXPECT_EQ(code, 7);
                      mproc_process_free(p);
                    });
}

TEST(AllocFail, PoolNewStartAndFree) {
  mproc_pool *pool = nullptr;
  sweep_allocations("a pool",
                    [&] {
                      int rc = mproc_pool_new(&pool, 2);
                      if (rc != MPROC_OK) return rc;
                      rc = mproc_pool_start(pool);
                      mproc_pool_terminate(pool);
                      mproc_pool_join(pool, MPROC_FOREVER);
                      mproc_pool_free(pool);
                      return rc;
                    },
                    [] {}, /*count_blocks=*/false);
}

// An outcome must never be lost: with any one allocation failing (in the
// caller, the pool's manager or callback thread, or a worker forked while
// the failure was still armed), every submitted task still ends, in time,
// with its reply or an error code, and every callback runs once.
constexpr double kOutcomeBound = 20.0;  // a lost outcome shows as a timeout

int square_u32(const void *arg, size_t len, mproc_reply *r, void *) {
  uint32_t v = 0;
  if (len != sizeof v) return 1;
  memcpy(&v, arg, sizeof v);
  v *= v;
  return mproc_reply_set(r, &v, sizeof v) == MPROC_OK ? 0 : 1;
}

void count_call(int, const void *, size_t, void *userdata) {
  static_cast<std::atomic<int> *>(userdata)->fetch_add(1);
}

// A task's outcome other than its reply: the failure hit the pool or a worker.
bool acceptable_failure(int rc) {
  return rc == MPROC_E_NOMEM || rc == MPROC_E_TASK_FAILED || rc == MPROC_E_WORKER_DIED;
}

// Checks one outcome of square_u32 for input v: MPROC_OK for the right
// reply, MPROC_E_NOMEM for an acceptable failure (so that the sweep counts
// it as one); anything else is a test failure.
int expect_square(int rc, uint32_t v, const void *data, size_t len, const char *what) {
  if (rc == MPROC_OK) {
    uint32_t got = 0;
    EXPECT_EQ(len, sizeof got) << what;
    if (len == sizeof got) memcpy(&got, data, sizeof got);
    EXPECT_EQ(got, v * v) << what;
    return MPROC_OK;
  }
  EXPECT_TRUE(acceptable_failure(rc)) << what << ": " << mproc_error_name(rc);
  return MPROC_E_NOMEM;
}

int run_tasks(mproc_pool *pool, std::atomic<int> *calls, bool *posted) {
  uint32_t one = 7;
  mproc_result *r = nullptr;
  int rc = mproc_pool_apply_async_cb(pool, square_u32, &one, sizeof one, nullptr, count_call, calls, &r);
  if (rc != MPROC_OK) return rc;
  *posted = true;
  const void *data = nullptr;
  size_t len = 0;
  int got = mproc_result_get(r, &data, &len, kOutcomeBound);
  int result = expect_square(got, one, data, len, "apply_async");
  mproc_result_free(r);
  if (got == MPROC_E_TIMEOUT) return got;

  uint32_t in[8];
  mproc_bytes items[8];
  for (uint32_t i = 0; i < 8; i++) {
    in[i] = i + 2;
    items[i] = {&in[i], sizeof in[i]};
  }
  mproc_iter *it = nullptr;
  rc = mproc_pool_imap(pool, square_u32, items, 8, 1, nullptr, &it);
  if (rc != MPROC_OK) return rc;
  for (size_t seen = 0;; seen++) {
    size_t index = 0;
    got = mproc_iter_next(it, &index, &data, &len, kOutcomeBound);
    if (got == MPROC_DONE) {
      EXPECT_EQ(seen, 8u) << "imap ended early";
      break;
    }
    if (got == MPROC_E_TIMEOUT || seen == 8) {
      ADD_FAILURE() << "imap item " << seen << ": " << mproc_error_name(got);
      result = MPROC_E_TIMEOUT;
      break;
    }
    EXPECT_EQ(index, seen);
    if (expect_square(got, in[index % 8], data, len, "imap") != MPROC_OK) result = MPROC_E_NOMEM;
  }
  mproc_iter_free(it);
  return result;
}

// Closes the pool while an unconsumed imap_unordered holds back more input
// than its window: close() must submit the rest and join() return, and the
// iterator must then hold an outcome for every item.
int close_with_iterator_pending(mproc_pool *pool) {
  constexpr uint32_t kItems = 300;  // over the 256-item window of 2 workers
  uint32_t in[kItems];  // on the stack: the test's own allocations would fail too
  mproc_bytes items[kItems];
  for (uint32_t i = 0; i < kItems; i++) {
    in[i] = i;
    items[i] = {&in[i], sizeof in[i]};
  }
  mproc_iter *it = nullptr;
  int rc = mproc_pool_imap_unordered(pool, square_u32, items, kItems, 1, nullptr, &it);
  if (rc != MPROC_OK) return rc;
  int result = mproc_pool_close(pool);
  // Out of memory, close() must leave the pool as it was, not half closed
  // (closed, but its iterators' input never submitted): asked again, as a
  // caller would, it must do the whole job, or join would wait forever.
  int closed = result == MPROC_E_NOMEM ? mproc_pool_close(pool) : result;
  EXPECT_EQ(closed, MPROC_OK) << "close";
  int joined = mproc_pool_join(pool, kOutcomeBound);
  EXPECT_EQ(joined, MPROC_OK) << "join after close";
  if (joined != MPROC_OK) result = MPROC_E_TIMEOUT;
  bool seen[kItems] = {};
  for (uint32_t n = 0; result != MPROC_E_TIMEOUT; n++) {
    size_t index = 0;
    const void *data = nullptr;
    size_t len = 0;
    int got = mproc_iter_next(it, &index, &data, &len, kOutcomeBound);
    if (got == MPROC_DONE) {
      EXPECT_EQ(n, kItems) << "imap_unordered ended early";
      break;
    }
    if (got == MPROC_E_TIMEOUT || index >= kItems || seen[index]) {
      ADD_FAILURE() << "imap_unordered outcome " << n << ": " << mproc_error_name(got)
                    << " index " << index;
      result = MPROC_E_TIMEOUT;
      break;
    }
    seen[index] = true;
    if (expect_square(got, in[index], data, len, "imap_unordered") != MPROC_OK && result == MPROC_OK)
      result = MPROC_E_NOMEM;
  }
  mproc_iter_free(it);
  return result;
}

TEST(AllocFail, PoolTasksNeverLoseAnOutcome) {
  std::atomic<int> calls{0};
  bool posted = false;
  sweep_allocations("pool tasks",
                    [&] {
                      calls = 0;
                      posted = false;
                      mproc_pool *pool = nullptr;
                      int rc = mproc_pool_new(&pool, 2);
                      if (rc != MPROC_OK) return rc;
                      rc = run_tasks(pool, &calls, &posted);
                      if (rc == MPROC_OK) rc = close_with_iterator_pending(pool);
                      mproc_pool_terminate(pool);
                      mproc_pool_join(pool, MPROC_FOREVER);
                      mproc_pool_free(pool);  // runs the callbacks still queued
                      EXPECT_EQ(calls.load(), posted ? 1 : 0) << "callback count";
                      EXPECT_NE(rc, MPROC_E_TIMEOUT) << "an outcome was lost";
                      return rc == MPROC_E_TIMEOUT ? MPROC_E_SYS : rc;
                    },
                    [] {}, /*count_blocks=*/false);
}

}  // namespace
