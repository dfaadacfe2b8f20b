// mproc_pool_*: Python's Pool test cases restated in C, plus crash
// isolation, timeouts, backpressure and the rules Python gets wrong.
#include <gtest/gtest.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "mproc.h"
#include "pool_test_util.h"
#include "test_helpers.h"

using mproc_test::now_s;
using mproc_test::run_in_child;
using mproc_test::wait_until;

namespace {

mproc_pool *make_pool(int workers) {
  mproc_pool *p = nullptr;
  EXPECT_EQ(mproc_pool_new(&p, workers), MPROC_OK);
  return p;
}

// --- apply, apply_async, results ---------------------------------------------

TEST(PoolApply, ApplyReturnsTheReply) {
  mproc_pool *p = make_pool(2);
  int64_t seven = 7;
  void *out = nullptr;
  size_t len = 0;
  ASSERT_EQ(mproc_pool_apply(p, square, &seven, sizeof seven, nullptr, &out, &len), MPROC_OK);
  EXPECT_EQ(as_int(out, len), 49);
  mproc_free(out);
  close_join_free(p);
}

TEST(PoolApply, ApplyAsyncManyTasks) {
  mproc_pool *p = make_pool(3);
  std::vector<int64_t> in = range(50);
  std::vector<mproc_result *> results;
  for (auto &v : in) {
    mproc_result *r = nullptr;
    ASSERT_EQ(mproc_pool_apply_async(p, square, &v, sizeof v, nullptr, &r), MPROC_OK);
    results.push_back(r);
  }
  for (size_t i = 0; i < results.size(); i++) {
    const void *data = nullptr;
    size_t len = 0;
    ASSERT_EQ(mproc_result_get(results[i], &data, &len, 60.0), MPROC_OK);
    EXPECT_EQ(as_int(data, len), in[i] * in[i]);
    EXPECT_EQ(mproc_result_ready(results[i]), 1);
    EXPECT_EQ(mproc_result_successful(results[i]), 1);
    mproc_result_free(results[i]);
  }
  uint64_t ok = 0;
  EXPECT_EQ(mproc_pool_stat(p, MPROC_POOL_STAT_TASKS_SUCCEEDED, &ok), MPROC_OK);
  EXPECT_EQ(ok, 50u);
  close_join_free(p);
}

// Waiting threads read replies for each other (a worker wakes whichever
// waits): every thread still gets exactly its own answers, an iterator
// consumed at the same time gets all of its items, and nobody is left
// asleep with its reply unread.
TEST(PoolApply, ThreadsWaitingAtOnceEachGetTheirOwnAnswers) {
  mproc_pool *p = make_pool(2);
  constexpr int kThreads = 4, kRounds = 300;
  std::atomic<int> wrong{0};
  std::vector<pthread_t> threads(kThreads);
  struct Arg {
    mproc_pool *p;
    int64_t base;
    std::atomic<int> *wrong;
  };
  std::vector<Arg> args;
  for (int t = 0; t < kThreads; t++) args.push_back(Arg{p, 1000 * (t + 1), &wrong});
  auto body = [](void *a) -> void * {
    auto *arg = static_cast<Arg *>(a);
    for (int64_t k = 0; k < kRounds; k++) {
      int64_t v = arg->base + k;
      mproc_result *r = nullptr;
      if (mproc_pool_apply_async(arg->p, square, &v, sizeof v, nullptr, &r) != MPROC_OK) {
        (*arg->wrong)++;
        continue;
      }
      const void *data = nullptr;
      size_t len = 0;
      // A caller whose wake-up another caller used up slept out its whole
      // timeout and then found its answer: count gets that took that long.
      double t0 = now_s();
      if (mproc_result_get(r, &data, &len, 60.0) != MPROC_OK || as_int(data, len) != v * v ||
          now_s() - t0 > 30.0)
        (*arg->wrong)++;
      mproc_result_free(r);
    }
    return nullptr;
  };
  for (int t = 0; t < kThreads; t++) ASSERT_EQ(pthread_create(&threads[t], nullptr, body, &args[t]), 0);
  std::vector<int64_t> in = range(2000);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered(p, square, items.data(), items.size(), 1, nullptr, &it),
            MPROC_OK);
  std::set<size_t> seen;
  size_t idx = 0;
  const void *data = nullptr;
  size_t len = 0;
  while (mproc_iter_next(it, &idx, &data, &len, 60.0) == MPROC_OK) {
    EXPECT_EQ(as_int(data, len), in[idx] * in[idx]);
    seen.insert(idx);
  }
  EXPECT_EQ(seen.size(), in.size());
  mproc_iter_free(it);
  for (pthread_t &t : threads) pthread_join(t, nullptr);
  EXPECT_EQ(wrong.load(), 0);
  close_join_free(p);
}

TEST(PoolApply, GetTimesOutWhileTheTaskSleepsAndStaysValid) {
  mproc_pool *p = make_pool(1);
  int64_t ms = 500;
  mproc_result *r = nullptr;
  ASSERT_EQ(mproc_pool_apply_async(p, sleep_ms_task, &ms, sizeof ms, nullptr, &r), MPROC_OK);
  const void *data = nullptr;
  size_t len = 0;
  double t0 = now_s();
  EXPECT_EQ(mproc_result_get(r, &data, &len, 0.1), MPROC_E_TIMEOUT);
  EXPECT_GE(now_s() - t0, 0.08);
  EXPECT_EQ(mproc_result_ready(r), 0);
  EXPECT_EQ(mproc_result_successful(r), MPROC_E_BUSY);
  EXPECT_EQ(mproc_result_wait(r, 60.0), MPROC_OK);
  EXPECT_EQ(mproc_result_get(r, &data, &len, 0.0), MPROC_OK);
  EXPECT_EQ(as_int(data, len), 500);
  mproc_result_free(r);
  close_join_free(p);
}

TEST(PoolApply, FailedTaskCarriesItsReply) {
  mproc_pool *p = make_pool(1);
  mproc_result *r = nullptr;
  ASSERT_EQ(mproc_pool_apply_async(p, fail_with_message, nullptr, 0, nullptr, &r), MPROC_OK);
  const void *data = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_result_get(r, &data, &len, 60.0), MPROC_E_TASK_FAILED);
  EXPECT_EQ(std::string(static_cast<const char *>(data), len), "bad input");
  EXPECT_EQ(mproc_result_successful(r), 0);
  int code = 0;
  EXPECT_EQ(mproc_result_worker_exitcode(r, &code), MPROC_E_STATE);
  mproc_result_free(r);
  void *out = nullptr;
  EXPECT_EQ(mproc_pool_apply(p, fail_with_message, nullptr, 0, nullptr, &out, &len),
            MPROC_E_TASK_FAILED);
  EXPECT_EQ(std::string(static_cast<const char *>(out), len), "bad input");
  mproc_free(out);
  close_join_free(p);
}

TEST(PoolApply, LargeArgumentsAndRepliesTravel) {
  mproc_pool *p = make_pool(2);
  std::vector<unsigned char> big(16u << 20);
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<unsigned char>(i * 13 + 1);
  void *out = nullptr;
  size_t len = 0;
  ASSERT_EQ(mproc_pool_apply(p, echo, big.data(), big.size(), nullptr, &out, &len), MPROC_OK);
  ASSERT_EQ(len, big.size());
  EXPECT_EQ(memcmp(out, big.data(), len), 0);
  mproc_free(out);
  // Small, medium (over a quarter of a ring) and empty payloads too.
  for (size_t n : {size_t{0}, size_t{1}, size_t{100000}, size_t{300000}}) {
    ASSERT_EQ(mproc_pool_apply(p, echo, big.data(), n, nullptr, &out, &len), MPROC_OK) << n;
    EXPECT_EQ(len, n);
    if (n) {
      EXPECT_EQ(memcmp(out, big.data(), n), 0);
    }
    mproc_free(out);
  }
  close_join_free(p);
}

TEST(PoolApply, ChunksOfLargeItemsAreSplitByBytes) {
  // 5 items of 20 MiB with chunksize 5: too much for one chunk, so the pool
  // cuts it by bytes; every item must still come back intact, in order.
  mproc_pool *p = make_pool(2);
  std::vector<std::vector<unsigned char>> big(5, std::vector<unsigned char>(20u << 20));
  std::vector<mproc_bytes> items;
  for (size_t k = 0; k < big.size(); k++) {
    for (size_t i = 0; i < big[k].size(); i += 4096) big[k][i] = static_cast<unsigned char>(k + i);
    items.push_back(mproc_bytes{big[k].data(), big[k].size()});
  }
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, echo, items.data(), items.size(), 5, nullptr, &it), MPROC_OK);
  for (size_t k = 0; k < big.size(); k++) {
    size_t idx = 0, len = 0;
    const void *data = nullptr;
    ASSERT_EQ(mproc_iter_next(it, &idx, &data, &len, 120.0), MPROC_OK);
    EXPECT_EQ(idx, k);
    ASSERT_EQ(len, big[k].size());
    EXPECT_EQ(memcmp(data, big[k].data(), len), 0);
  }
  mproc_iter_free(it);
  close_join_free(p);
}

// Answers every item with 100 KiB.
int reply_100k(const void *, size_t, mproc_reply *r, void *) {
  static const std::vector<unsigned char> reply(100 * 1024, 0x5a);
  return mproc_reply_set(r, reply.data(), reply.size());
}

TEST(PoolApply, AWorkerWithAFullOutboxTellsItsReader) {
  // A worker with more tasks queued puts off telling anybody of its
  // replies; big replies fill its outbox first. Waiting for room, it must
  // tell then, or a caller asleep for them waits out its whole timeout.
  mproc_pool *p = make_pool(1);
  std::vector<int64_t> in(512);
  std::vector<mproc_bytes> items = as_items(in);
  double t0 = now_s();
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, reply_100k, items.data(), items.size(), 64, nullptr, &it),
            MPROC_OK);
  for (size_t k = 0; k < in.size(); k++) {
    size_t len = 0;
    ASSERT_EQ(mproc_iter_next(it, nullptr, nullptr, &len, 10.0), MPROC_OK) << k;
    ASSERT_EQ(len, 100u * 1024);
    ASSERT_LT(now_s() - t0, 8.0) << k;
  }
  mproc_iter_free(it);
  close_join_free(p);
}

// --- map, imap, imap_unordered -------------------------------------------------

TEST(PoolMap, MapOverARangeWithEveryChunksize) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = range(100);
  std::vector<mproc_bytes> items = as_items(in);
  for (size_t chunksize : {0, 1, 3, 7, 100, 1000}) {
    mproc_bytes *out = nullptr;
    ASSERT_EQ(mproc_pool_map(p, square, items.data(), items.size(), chunksize, nullptr, &out),
              MPROC_OK)
        << chunksize;
    for (size_t i = 0; i < in.size(); i++) EXPECT_EQ(as_int(out[i].data, out[i].len), in[i] * in[i]);
    mproc_free(out);
  }
  close_join_free(p);
}

TEST(PoolMap, EmptyInput) {
  mproc_pool *p = make_pool(2);
  mproc_bytes *out = reinterpret_cast<mproc_bytes *>(0x1);
  EXPECT_EQ(mproc_pool_map(p, square, nullptr, 0, 0, nullptr, &out), MPROC_OK);
  EXPECT_EQ(out, nullptr);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, square, nullptr, 0, 0, nullptr, &it), MPROC_OK);
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 1.0), MPROC_DONE);
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 1.0), MPROC_DONE);
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(PoolMap, MapRunsEverythingAndReturnsTheFirstFailure) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = {1, 2, 0, 4};
  std::vector<mproc_bytes> items = as_items(in);
  items[2] = mproc_bytes{nullptr, 0};  // not an int64: fail_with_message ignores it anyway
  mproc_bytes *out = nullptr;
  EXPECT_EQ(mproc_pool_map(p, fail_with_message, items.data(), items.size(), 1, nullptr, &out),
            MPROC_E_TASK_FAILED);
  uint64_t failed = 0;
  mproc_pool_stat(p, MPROC_POOL_STAT_TASKS_FAILED, &failed);
  EXPECT_EQ(failed, 4u);  // every item ran
  close_join_free(p);
}

TEST(PoolMap, ImapYieldsInInputOrder) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = {300, 200, 100, 0, 50, 10};
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, sleep_ms_task, items.data(), items.size(), 1, nullptr, &it),
            MPROC_OK);
  for (size_t k = 0; k < in.size(); k++) {
    size_t idx = 99;
    const void *data = nullptr;
    size_t len = 0;
    ASSERT_EQ(mproc_iter_next(it, &idx, &data, &len, 60.0), MPROC_OK);
    EXPECT_EQ(idx, k);
    EXPECT_EQ(as_int(data, len), in[k]);
  }
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 0.0), MPROC_DONE);
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(PoolMap, ImapUnorderedYieldsEverythingInCompletionOrder) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = {800, 0, 0, 0, 0, 0, 0, 0};
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered(p, sleep_ms_task, items.data(), items.size(), 1, nullptr,
                                      &it),
            MPROC_OK);
  std::vector<size_t> order;
  size_t idx = 0;
  while (mproc_iter_next(it, &idx, nullptr, nullptr, 60.0) == MPROC_OK) order.push_back(idx);
  ASSERT_EQ(order.size(), in.size());
  EXPECT_EQ(std::set<size_t>(order.begin(), order.end()).size(), in.size());
  EXPECT_EQ(order.back(), 0u);  // the slow one comes last
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(PoolMap, IterNextTimesOutAndContinues) {
  mproc_pool *p = make_pool(1);
  int64_t ms = 400;
  mproc_bytes item{&ms, sizeof ms};
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, sleep_ms_task, &item, 1, 1, nullptr, &it), MPROC_OK);
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 0.05), MPROC_E_TIMEOUT);
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 60.0), MPROC_OK);
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 60.0), MPROC_DONE);
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(PoolMap, ImapSubmitsLazily) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = range(10000);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, square, items.data(), items.size(), 4, nullptr, &it), MPROC_OK);
  usleep(200 * 1000);
  uint64_t submitted = 0;
  ASSERT_EQ(mproc_pool_stat(p, MPROC_POOL_STAT_TASKS_SUBMITTED, &submitted), MPROC_OK);
  EXPECT_LE(submitted, 2u * 128u);  // max(4 chunks, 128 items) per worker, not 10000
  EXPECT_EQ(submitted % 4, 0u);      // whole chunks only
  size_t seen = 0;
  const void *data;
  size_t len, idx;
  while (mproc_iter_next(it, &idx, &data, &len, 60.0) == MPROC_OK) {
    EXPECT_EQ(as_int(data, len), in[idx] * in[idx]);
    seen++;
  }
  EXPECT_EQ(seen, in.size());
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(PoolMap, CloseAndJoinBeforeConsumingAnIterator) {
  // Python submits imap input eagerly, so this works there; with lazy input
  // mproc must not make join wait for a consumer that waits for join.
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = range(200);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, square, items.data(), items.size(), 2, nullptr, &it), MPROC_OK);
  ASSERT_EQ(mproc_pool_close(p), MPROC_OK);
  ASSERT_EQ(mproc_pool_join(p, 60.0), MPROC_OK);
  size_t seen = 0, idx = 0;
  const void *data;
  size_t len;
  while (mproc_iter_next(it, &idx, &data, &len, 0.0) == MPROC_OK) {
    EXPECT_EQ(as_int(data, len), in[idx] * in[idx]);
    seen++;
  }
  EXPECT_EQ(seen, in.size());
  mproc_iter_free(it);
  mproc_pool_free(p);
}

// --- crash isolation ---------------------------------------------------------------

TEST(PoolCrash, EachWayOfDyingFailsOnlyThatTask) {
  mproc_pool *p = make_pool(2);
  struct Case {
    int64_t how;
    int exitcode;
  } cases[] = {{kSegv, -SIGSEGV}, {kAbort, -SIGABRT}, {kExit, 3}, {kSigkill, -SIGKILL}};
  for (const Case &c : cases) {
    std::vector<int64_t> in = {1, 2, c.how, 4, 5};
    std::vector<mproc_result *> rs;
    for (auto &v : in) {
      mproc_result *r = nullptr;
      ASSERT_EQ(mproc_pool_apply_async(p, crash_on_negative, &v, sizeof v, nullptr, &r), MPROC_OK);
      rs.push_back(r);
    }
    for (size_t i = 0; i < in.size(); i++) {
      const void *data = nullptr;
      size_t len = 0;
      int rc = mproc_result_get(rs[i], &data, &len, 60.0);
      if (in[i] < 0) {
        EXPECT_EQ(rc, MPROC_E_WORKER_DIED) << c.how;
        int code = 0;
        EXPECT_EQ(mproc_result_worker_exitcode(rs[i], &code), MPROC_OK);
        EXPECT_EQ(code, c.exitcode);
      } else {
        EXPECT_EQ(rc, MPROC_OK) << c.how;
        EXPECT_EQ(as_int(data, len), in[i] * in[i]);
      }
      mproc_result_free(rs[i]);
    }
  }
  uint64_t died = 0;
  mproc_pool_stat(p, MPROC_POOL_STAT_WORKERS_DIED, &died);
  EXPECT_EQ(died, 4u);
  int64_t three = 3;
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply(p, square, &three, sizeof three, nullptr, &out, &len), MPROC_OK);
  EXPECT_EQ(as_int(out, len), 9);  // the pool stays usable
  mproc_free(out);
  close_join_free(p);
}

TEST(PoolCrash, FailureMatrixOfAThousandTasks) {
  // Every tenth task dies, each time in another way; the other 900 succeed.
  mproc_pool *p = make_pool(2);
  const int64_t ways[] = {kSegv, kAbort, kExit, kSigkill};
  const int codes[] = {-SIGSEGV, -SIGABRT, 3, -SIGKILL};
  std::vector<int64_t> in(1000);
  for (size_t i = 0; i < in.size(); i++)
    in[i] = i % 10 == 9 ? ways[(i / 10) % 4] : static_cast<int64_t>(i);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered(p, crash_on_negative, items.data(), items.size(), 1,
                                      nullptr, &it),
            MPROC_OK);
  size_t ok = 0, died = 0, idx = 0;
  const void *data = nullptr;
  size_t len = 0;
  for (;;) {
    int rc = mproc_iter_next(it, &idx, &data, &len, 120.0);
    if (rc == MPROC_DONE) break;
    ASSERT_LT(idx, in.size());
    if (in[idx] < 0) {
      EXPECT_EQ(rc, MPROC_E_WORKER_DIED) << idx;
      int code = 0;
      EXPECT_EQ(mproc_iter_worker_exitcode(it, &code), MPROC_OK);
      EXPECT_EQ(code, codes[(idx / 10) % 4]) << idx;
      died++;
    } else {
      ASSERT_EQ(rc, MPROC_OK) << idx;
      EXPECT_EQ(as_int(data, len), in[idx] * in[idx]);
      ok++;
    }
  }
  EXPECT_EQ(ok, 900u);
  EXPECT_EQ(died, 100u);
  mproc_iter_free(it);
  int64_t five = 5;
  void *out = nullptr;
  EXPECT_EQ(mproc_pool_apply(p, square, &five, sizeof five, nullptr, &out, &len), MPROC_OK);
  mproc_free(out);
  close_join_free(p);
  EXPECT_TRUE(mproc_test::has_no_children());
}

TEST(PoolCrash, ChunkItemsAfterTheCrashRunAgain) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = {0, 1, 2, kSegv, 4, 5, 6, 7, 8, 9};
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap(p, crash_on_negative, items.data(), items.size(), 5, nullptr, &it),
            MPROC_OK);
  for (size_t k = 0; k < in.size(); k++) {
    size_t idx = 0;
    const void *data = nullptr;
    size_t len = 0;
    int rc = mproc_iter_next(it, &idx, &data, &len, 60.0);
    EXPECT_EQ(idx, k);
    if (in[k] < 0) {
      EXPECT_EQ(rc, MPROC_E_WORKER_DIED);
      int code = 0;
      EXPECT_EQ(mproc_iter_worker_exitcode(it, &code), MPROC_OK);
      EXPECT_EQ(code, -SIGSEGV);
    } else {
      EXPECT_EQ(rc, MPROC_OK) << k;
      EXPECT_EQ(as_int(data, len), in[k] * in[k]);
      int code = 0;
      EXPECT_EQ(mproc_iter_worker_exitcode(it, &code), MPROC_E_STATE);
    }
  }
  EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 1.0), MPROC_DONE);
  mproc_iter_free(it);
  close_join_free(p);
}

// One item of RunOnceChunk: its index, its reply size, and whether it
// crashes. ctx points at shared run counters, one per item.
struct CountedItem {
  int64_t index;
  int64_t reply_len;
  int64_t crash;
};
int count_runs(const void *arg, size_t len, mproc_reply *r, void *ctx) {
  CountedItem item;
  if (len != sizeof item) return 1;
  memcpy(&item, arg, sizeof item);
  __atomic_fetch_add(static_cast<int *>(ctx) + item.index, 1, __ATOMIC_SEQ_CST);
  if (item.crash) {
    prctl(PR_SET_DUMPABLE, 0);
    signal(SIGSEGV, SIG_DFL);
    raise(SIGSEGV);
  }
  std::vector<unsigned char> reply(static_cast<size_t>(item.reply_len),
                                   static_cast<unsigned char>(item.index));
  return mproc_reply_set(r, reply.data(), reply.size());
}

// n items for count_runs, item crash_at crashing, and the run counters
// they bump, in memory the workers share with the test.
struct CountedRun {
  CountedRun(size_t n, int64_t reply_len, size_t crash_at) : n_(n) {
    void *shared = mmap(nullptr, n * sizeof(int), PROT_READ | PROT_WRITE,
                        MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    runs = shared == MAP_FAILED ? nullptr : static_cast<int *>(shared);
    for (size_t k = 0; k < n; k++)
      in.push_back(CountedItem{static_cast<int64_t>(k), reply_len, k == crash_at});
    for (const CountedItem &c : in) items.push_back(mproc_bytes{&c, sizeof c});
  }
  ~CountedRun() {
    if (runs) munmap(runs, n_ * sizeof(int));
  }
  CountedRun(const CountedRun &) = delete;
  CountedRun &operator=(const CountedRun &) = delete;

  int *runs;
  std::vector<CountedItem> in;
  std::vector<mproc_bytes> items;

 private:
  size_t n_;
};

// A worker that dies mid-chunk: the items it finished are delivered once
// (sent ones and ones still waiting to be sent alike), the running one
// fails, the rest run again, and nothing runs twice. Small replies all wait
// for the chunk's end; 20 KiB ones fill the batch and go out mid-chunk;
// 300 KiB ones are too large for a batch and go alone.
TEST(PoolCrash, AChunkWhoseWorkerDiesDeliversFinishedItemsOnce) {
  constexpr size_t kItems = 24, kCrashAt = 15;
  for (int64_t reply_len : {8, 20 * 1024, 300 * 1024}) {
    CountedRun run(kItems, reply_len, kCrashAt);
    ASSERT_NE(run.runs, nullptr);
    mproc_pool *p = make_pool(1);
    mproc_iter *it = nullptr;
    ASSERT_EQ(mproc_pool_imap(p, count_runs, run.items.data(), run.items.size(), kItems, run.runs,
                              &it),
              MPROC_OK);
    for (size_t k = 0; k < kItems; k++) {
      size_t idx = 0;
      const void *data = nullptr;
      size_t len = 0;
      int rc = mproc_iter_next(it, &idx, &data, &len, 60.0);
      EXPECT_EQ(idx, k) << reply_len;
      if (k == kCrashAt) {
        EXPECT_EQ(rc, MPROC_E_WORKER_DIED) << reply_len;
        continue;
      }
      ASSERT_EQ(rc, MPROC_OK) << reply_len << " item " << k;
      ASSERT_EQ(len, static_cast<size_t>(reply_len));
      EXPECT_EQ(static_cast<const unsigned char *>(data)[len - 1], static_cast<unsigned char>(k));
    }
    EXPECT_EQ(mproc_iter_next(it, nullptr, nullptr, nullptr, 1.0), MPROC_DONE);
    mproc_iter_free(it);
    close_join_free(p);
    for (size_t k = 0; k < kItems; k++)
      EXPECT_EQ(run.runs[k], 1) << reply_len << " item " << k;
  }
}

// Quick chunksize-1 items go several to a message once their first
// replies show they are quick: a worker that dies in such a message still
// fails only the item it was running, and every other item runs once.
TEST(PoolCrash, MergedQuickItemsStillFailOnlyTheCrashedOne) {
  constexpr size_t kItems = 3000, kCrashAt = 2500;
  CountedRun run(kItems, 8, kCrashAt);
  ASSERT_NE(run.runs, nullptr);
  mproc_pool *p = make_pool(2);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered(p, count_runs, run.items.data(), run.items.size(), 1,
                                      run.runs, &it),
            MPROC_OK);
  std::vector<int> seen(kItems);
  for (;;) {
    size_t idx = 0;
    const void *data = nullptr;
    size_t len = 0;
    int rc = mproc_iter_next(it, &idx, &data, &len, 60.0);
    if (rc == MPROC_DONE) break;
    ASSERT_LT(idx, kItems);
    seen[idx]++;
    EXPECT_EQ(rc, idx == kCrashAt ? MPROC_E_WORKER_DIED : MPROC_OK) << idx;
  }
  mproc_iter_free(it);
  close_join_free(p);
  for (size_t k = 0; k < kItems; k++) {
    EXPECT_EQ(seen[k], 1) << k;
    EXPECT_EQ(run.runs[k], 1) << k;
  }
}

TEST(PoolCrash, TaskTimeoutKillsOnlyThatTask) {
  mproc_pool *p = make_pool(2);
  ASSERT_EQ(mproc_pool_set_task_timeout(p, 0.3), MPROC_OK);
  int64_t slow = 30000, fast = 10;
  mproc_result *rs = nullptr, *rf = nullptr;
  double t0 = now_s();
  ASSERT_EQ(mproc_pool_apply_async(p, sleep_ms_task, &slow, sizeof slow, nullptr, &rs), MPROC_OK);
  ASSERT_EQ(mproc_pool_apply_async(p, sleep_ms_task, &fast, sizeof fast, nullptr, &rf), MPROC_OK);
  EXPECT_EQ(mproc_result_get(rs, nullptr, nullptr, 60.0), MPROC_E_TASK_TIMEOUT);
  EXPECT_LT(now_s() - t0, 20.0);
  int code = 0;
  EXPECT_EQ(mproc_result_worker_exitcode(rs, &code), MPROC_OK);
  EXPECT_EQ(code, -SIGKILL);
  EXPECT_EQ(mproc_result_get(rf, nullptr, nullptr, 60.0), MPROC_OK);
  mproc_result_free(rs);
  mproc_result_free(rf);
  close_join_free(p);
}

TEST(PoolCrash, HugeTaskTimeoutsMeanNoLimit) {
  // Found by fuzz-api: inf * 1e9 does not fit the nanosecond count (UB; on
  // x86 it became INT64_MIN, and every task timed out at once).
  for (double t : {HUGE_VAL, 1e300, 1e10}) {
    mproc_pool *p = make_pool(1);
    ASSERT_EQ(mproc_pool_set_task_timeout(p, t), MPROC_OK);
    int64_t ms = 50;
    void *out = nullptr;
    size_t len = 0;
    EXPECT_EQ(mproc_pool_apply(p, sleep_ms_task, &ms, sizeof ms, nullptr, &out, &len), MPROC_OK) << t;
    mproc_free(out);
    close_join_free(p);
  }
}

TEST(PoolCrash, TerminateCancelsWhatHasNotFinished) {
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in(12, 2000);
  std::vector<mproc_result *> rs;
  for (auto &v : in) {
    mproc_result *r = nullptr;
    ASSERT_EQ(mproc_pool_apply_async(p, sleep_ms_task, &v, sizeof v, nullptr, &r), MPROC_OK);
    rs.push_back(r);
  }
  usleep(100 * 1000);
  double t0 = now_s();
  ASSERT_EQ(mproc_pool_terminate(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_join(p, 60.0), MPROC_OK);
  EXPECT_LT(now_s() - t0, 10.0);
  for (auto *r : rs) {
    EXPECT_EQ(mproc_result_ready(r), 1);
    EXPECT_EQ(mproc_result_successful(r), 0);
    EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, 0.0), MPROC_E_CANCELLED);
    mproc_result_free(r);
  }
  int64_t one = 1;
  mproc_result *late = nullptr;
  EXPECT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &late), MPROC_E_STATE);
  mproc_pool_free(p);
  EXPECT_TRUE(mproc_test::has_no_children());
}

// --- configuration -------------------------------------------------------------------

int64_t initialized_value = 0;

int init_sets_global(const void *arg, size_t len, void *) {
  initialized_value = arg_int(arg, len);
  return 0;
}

int report_global(const void *, size_t, mproc_reply *r, void *) {
  return reply_int(r, initialized_value);
}

int init_fails(const void *, size_t, void *) { return 1; }

TEST(PoolConfig, InitializerRunsInEveryWorker) {
  mproc_pool *p = make_pool(2);
  int64_t v = 4242;
  ASSERT_EQ(mproc_pool_set_initializer(p, init_sets_global, &v, sizeof v, nullptr), MPROC_OK);
  std::vector<int64_t> in = range(20);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_bytes *out = nullptr;
  ASSERT_EQ(mproc_pool_map(p, report_global, items.data(), items.size(), 1, nullptr, &out),
            MPROC_OK);
  for (size_t i = 0; i < in.size(); i++) EXPECT_EQ(as_int(out[i].data, out[i].len), 4242);
  mproc_free(out);
  EXPECT_EQ(initialized_value, 0);  // only in the workers
  close_join_free(p);
}

TEST(PoolConfig, FailingInitializerBreaksThePoolInsteadOfLooping) {
  mproc_pool *p = make_pool(2);
  ASSERT_EQ(mproc_pool_set_initializer(p, init_fails, nullptr, 0, nullptr), MPROC_OK);
  int64_t one = 1;
  mproc_result *r = nullptr;
  ASSERT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &r), MPROC_OK);
  EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, 60.0), MPROC_E_INIT_FAILED);
  mproc_result_free(r);
  EXPECT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &r), MPROC_E_INIT_FAILED);
  uint64_t started = 0;
  mproc_pool_stat(p, MPROC_POOL_STAT_WORKERS_STARTED, &started);
  usleep(200 * 1000);
  uint64_t later = 0;
  mproc_pool_stat(p, MPROC_POOL_STAT_WORKERS_STARTED, &later);
  EXPECT_EQ(started, later);  // no respawn loop
  EXPECT_LE(started, 4u);
  close_join_free(p);
}

TEST(PoolConfig, MaxTasksPerChildRotatesWorkers) {
  mproc_pool *p = make_pool(1);
  ASSERT_EQ(mproc_pool_set_maxtasksperchild(p, 2), MPROC_OK);
  std::vector<int64_t> pids;
  for (int i = 0; i < 6; i++) {
    void *out = nullptr;
    size_t len = 0;
    ASSERT_EQ(mproc_pool_apply(p, report_pid, nullptr, 0, nullptr, &out, &len), MPROC_OK);
    pids.push_back(as_int(out, len));
    mproc_free(out);
  }
  EXPECT_EQ(pids[0], pids[1]);
  EXPECT_NE(pids[1], pids[2]);
  EXPECT_EQ(pids[2], pids[3]);
  EXPECT_NE(pids[3], pids[4]);
  EXPECT_EQ(pids[4], pids[5]);
  close_join_free(p);
}

TEST(PoolConfig, SettersAndStateRules) {
  mproc_pool *p = nullptr;
  EXPECT_EQ(mproc_pool_new(&p, -1), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_new(&p, MPROC_POOL_MAX_WORKERS + 1), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_new(nullptr, 1), MPROC_E_INVAL);
  p = make_pool(0);
  EXPECT_EQ(mproc_pool_workers(p), mproc_cpu_count());
  EXPECT_EQ(mproc_pool_set_task_timeout(p, NAN), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_set_task_timeout(p, 0.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_join(p, 0.0), MPROC_E_STATE);  // still running
  ASSERT_EQ(mproc_pool_start(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_start(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_set_maxtasksperchild(p, 3), MPROC_E_STATE);
  EXPECT_EQ(mproc_pool_set_task_timeout(p, 1.0), MPROC_E_STATE);
  EXPECT_EQ(mproc_pool_set_initializer(p, init_fails, nullptr, 0, nullptr), MPROC_E_STATE);
  EXPECT_TRUE(wait_until(
      [&] {
        uint64_t alive = 0;
        mproc_pool_stat(p, MPROC_POOL_STAT_WORKERS_ALIVE, &alive);
        return alive == static_cast<uint64_t>(mproc_cpu_count());
      },
      30.0));
  uint64_t v;
  EXPECT_EQ(mproc_pool_stat(p, 999, &v), MPROC_E_INVAL);
  ASSERT_EQ(mproc_pool_close(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_close(p), MPROC_OK);
  int64_t one = 1;
  mproc_result *r = nullptr;
  EXPECT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &r), MPROC_E_STATE);
  mproc_iter *it = nullptr;
  mproc_bytes item{&one, sizeof one};
  EXPECT_EQ(mproc_pool_imap(p, square, &item, 1, 1, nullptr, &it), MPROC_E_STATE);
  EXPECT_EQ(mproc_pool_start(p), MPROC_E_STATE);
  EXPECT_EQ(mproc_pool_join(p, 60.0), MPROC_OK);
  mproc_pool_free(p);
}

TEST(PoolConfig, NullArgumentsAreInvalid) {
  mproc_pool *p = make_pool(1);
  mproc_result *r = nullptr;
  int64_t one = 1;
  EXPECT_EQ(mproc_pool_apply_async(nullptr, square, &one, sizeof one, nullptr, &r), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_apply_async(p, nullptr, &one, sizeof one, nullptr, &r), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_apply_async(p, square, nullptr, 8, nullptr, &r), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_apply_async_cb(p, square, &one, sizeof one, nullptr, nullptr, nullptr, &r),
            MPROC_E_INVAL);
  mproc_iter *it = nullptr;
  EXPECT_EQ(mproc_pool_imap(p, square, nullptr, 3, 1, nullptr, &it), MPROC_E_INVAL);
  mproc_bytes bad{nullptr, 5};
  EXPECT_EQ(mproc_pool_imap(p, square, &bad, 1, 1, nullptr, &it), MPROC_E_INVAL);
  EXPECT_EQ(mproc_result_get(nullptr, nullptr, nullptr, 0.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_result_wait(nullptr, 0.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_result_ready(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_result_successful(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_iter_next(nullptr, nullptr, nullptr, nullptr, 0.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_join(nullptr, 0.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_close(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_terminate(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_reply_set(nullptr, "x", 1), MPROC_E_INVAL);
  ASSERT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &r), MPROC_OK);
  EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, NAN), MPROC_E_INVAL);
  mproc_result_free(r);
  mproc_result_free(nullptr);
  mproc_iter_free(nullptr);
  mproc_pool_free(nullptr);
  close_join_free(p);
}

// Claims a reply over the limit; the pointer is never read.
int reply_too_big(const void *arg, size_t len, mproc_reply *r, void *) {
  int rc = mproc_reply_set(r, arg, MPROC_POOL_MAX_PAYLOAD + 1);
  (void)len;
  return rc == MPROC_E_TOOBIG ? 0 : 1;
}

TEST(PoolConfig, OversizedPayloadsAreRefused) {
  mproc_pool *p = make_pool(1);
  static const char byte = 'x';
  mproc_result *r = nullptr;
  // The sizes are checked before a byte is read, so one real byte will do.
  EXPECT_EQ(mproc_pool_apply_async(p, square, &byte, MPROC_POOL_MAX_PAYLOAD + 1, nullptr, &r),
            MPROC_E_TOOBIG);
  mproc_bytes item{&byte, MPROC_POOL_MAX_PAYLOAD + 1};
  mproc_iter *it = nullptr;
  EXPECT_EQ(mproc_pool_imap(p, square, &item, 1, 1, nullptr, &it), MPROC_E_TOOBIG);
  ASSERT_EQ(mproc_pool_apply_async(p, reply_too_big, &byte, 1, nullptr, &r), MPROC_OK);
  EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, 60.0), MPROC_E_TOOBIG);
  EXPECT_EQ(mproc_result_successful(r), 0);
  mproc_result_free(r);
  close_join_free(p);
}

// --- callbacks and event-loop integration ---------------------------------------------

struct CallbackLog {
  std::atomic<int> calls{0};
  std::atomic<int> last_status{1};
  std::atomic<int64_t> last_value{0};
  pthread_t caller{};
  std::atomic<bool> other_thread{false};
};

void record(int status, const void *data, size_t len, void *userdata) {
  auto *log = static_cast<CallbackLog *>(userdata);
  log->last_status = status;
  log->last_value = as_int(data, len);
  log->other_thread = !pthread_equal(pthread_self(), log->caller);
  log->calls++;
}

TEST(PoolCallbacks, RunOnceOnTheCallbackThread) {
  mproc_pool *p = make_pool(2);
  CallbackLog log;
  log.caller = pthread_self();
  int64_t six = 6;
  ASSERT_EQ(mproc_pool_apply_async_cb(p, square, &six, sizeof six, nullptr, record, &log, nullptr),
            MPROC_OK);
  EXPECT_TRUE(wait_until([&] { return log.calls.load() == 1; }, 60.0));
  EXPECT_EQ(log.last_status, MPROC_OK);
  EXPECT_EQ(log.last_value, 36);
  EXPECT_TRUE(log.other_thread);
  CallbackLog failed;
  failed.caller = pthread_self();
  ASSERT_EQ(mproc_pool_apply_async_cb(p, fail_with_message, nullptr, 0, nullptr, record, &failed,
                                      nullptr),
            MPROC_OK);
  EXPECT_TRUE(wait_until([&] { return failed.calls.load() == 1; }, 60.0));
  EXPECT_EQ(failed.last_status, MPROC_E_TASK_FAILED);
  close_join_free(p);
  EXPECT_EQ(log.calls, 1);
}

std::atomic<bool> release_slow_callback{false};

void slow_callback(int, const void *, size_t, void *) {
  while (!release_slow_callback) usleep(1000);
}

TEST(PoolCallbacks, ASlowCallbackDoesNotStallResults) {
  mproc_pool *p = make_pool(2);
  int64_t one = 1;
  ASSERT_EQ(mproc_pool_apply_async_cb(p, square, &one, sizeof one, nullptr, slow_callback, nullptr,
                                      nullptr),
            MPROC_OK);
  std::vector<int64_t> in = range(20);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_bytes *out = nullptr;
  EXPECT_EQ(mproc_pool_map(p, square, items.data(), items.size(), 1, nullptr, &out), MPROC_OK);
  mproc_free(out);
  release_slow_callback = true;
  close_join_free(p);
}

struct FreeFromCallback {
  mproc_pool *pool = nullptr;
  std::atomic<int> done{0};
};

void free_pool_in_callback(int, const void *, size_t, void *userdata) {
  auto *f = static_cast<FreeFromCallback *>(userdata);
  mproc_pool_free(f->pool);  // the last thing many programs do in a callback
  f->done = 1;
}

TEST(PoolCallbacks, ACallbackMayFreeThePool) {
  FreeFromCallback f;
  f.pool = make_pool(1);
  int64_t two = 2;
  ASSERT_EQ(mproc_pool_apply_async_cb(f.pool, square, &two, sizeof two, nullptr,
                                      free_pool_in_callback, &f, nullptr),
            MPROC_OK);
  EXPECT_TRUE(wait_until([&] { return f.done.load() == 1; }, 60.0));
  EXPECT_TRUE(wait_until([] { return mproc_test::has_no_children(); }, 30.0));
}

TEST(PoolCallbacks, EventFdSignalsCompletedResults) {
  mproc_pool *p = make_pool(1);
  int fd = mproc_pool_event_fd(p);
  ASSERT_GE(fd, 0);
  int64_t ms = 100;
  mproc_result *r = nullptr;
  ASSERT_EQ(mproc_pool_apply_async(p, sleep_ms_task, &ms, sizeof ms, nullptr, &r), MPROC_OK);
  pollfd pfd{fd, POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 60000), 1);
  uint64_t counter;
  EXPECT_EQ(read(fd, &counter, sizeof counter), static_cast<ssize_t>(sizeof counter));
  EXPECT_EQ(mproc_result_ready(r), 1);
  mproc_result_free(r);
  close_join_free(p);
}

// --- processes: signals, parent death, hygiene ------------------------------------------

int raise_sigint(const void *, size_t, mproc_reply *r, void *) {
  raise(SIGINT);
  return reply_int(r, 1);
}

TEST(PoolProcess, WorkersIgnoreSigint) {
  mproc_pool *p = make_pool(1);
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply(p, raise_sigint, nullptr, 0, nullptr, &out, &len), MPROC_OK);
  mproc_free(out);
  close_join_free(p);
}

TEST(PoolProcess, WorkersDieWithASigkilledParent) {
  int rc = run_in_child([] {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 90;
    mproc_test::Pipe report;
    pid_t middle = fork();
    if (middle == 0) {
      mproc_pool *p = nullptr;
      if (mproc_pool_new(&p, 2) != MPROC_OK) _exit(1);
      std::string pids;
      for (int i = 0; i < 4; i++) {
        void *out = nullptr;
        size_t len = 0;
        if (mproc_pool_apply(p, report_pid, nullptr, 0, nullptr, &out, &len) != MPROC_OK) _exit(2);
        pids += std::to_string(as_int(out, len)) + ",";
        mproc_free(out);
      }
      mproc_test::write_str(report.wr, pids + ";");
      for (;;) pause();
    }
    std::string pids = report.read_until(';');
    if (pids.empty()) return 20;
    kill(middle, SIGKILL);
    waitpid(middle, nullptr, 0);
    // Every worker comes back to us (the subreaper) dead, none lingers.
    bool gone = wait_until([] {
      while (waitpid(-1, nullptr, WNOHANG) > 0) {
      }
      return mproc_test::has_no_children();
    }, 30.0);
    return gone ? 0 : 21;
  });
  EXPECT_EQ(rc, 0);
}

TEST(PoolProcess, RepeatedPoolsLeaveNoZombieAndNoDescriptor) {
  int fds_before = mproc_test::count_open_fds();
  for (int i = 0; i < 15; i++) {
    mproc_pool *p = make_pool(2);
    int64_t v = i;
    void *out = nullptr;
    size_t len = 0;
    ASSERT_EQ(mproc_pool_apply(p, square, &v, sizeof v, nullptr, &out, &len), MPROC_OK);
    mproc_free(out);
    if (i % 2)
      close_join_free(p);
    else
      mproc_pool_free(p);  // running: terminated by free
  }
  EXPECT_TRUE(mproc_test::has_no_children());
  EXPECT_EQ(mproc_test::count_open_fds(), fds_before);
}

TEST(PoolProcess, APoolIsUselessInAForkedChild) {
  // Forks while the manager thread is busy (and may hold the pool's lock,
  // which the child inherits locked): every call must refuse at once.
  mproc_pool *p = make_pool(2);
  std::vector<int64_t> in = range(3000);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered(p, square, items.data(), items.size(), 1, nullptr, &it),
            MPROC_OK);
  mproc_result *r = nullptr;
  int64_t one = 1;
  ASSERT_EQ(mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &r), MPROC_OK);
  size_t seen = 0;
  for (int round = 0; round < 20; round++) {
    int rc = run_in_child(
        [&] {
          mproc_result *mine = nullptr;
          mproc_iter *other = nullptr;
          if (mproc_pool_apply_async(p, square, &one, sizeof one, nullptr, &mine) != MPROC_E_STATE)
            return 1;
          if (mproc_pool_imap(p, square, items.data(), 1, 1, nullptr, &other) != MPROC_E_STATE)
            return 2;
          if (mproc_pool_close(p) != MPROC_E_STATE) return 3;
          if (mproc_pool_terminate(p) != MPROC_E_STATE) return 4;
          if (mproc_pool_join(p, 0.0) != MPROC_E_STATE) return 5;
          if (mproc_result_get(r, nullptr, nullptr, 0.0) != MPROC_E_STATE) return 6;
          if (mproc_iter_next(it, nullptr, nullptr, nullptr, 0.0) != MPROC_E_STATE) return 7;
          mproc_iter_free(it);  // safe in any process
          mproc_result_free(r);
          mproc_pool_free(p);
          return 0;
        },
        20.0);
    ASSERT_EQ(rc, 0) << "round " << round;
    for (int k = 0; k < 100 && mproc_iter_next(it, nullptr, nullptr, nullptr, 60.0) == MPROC_OK; k++)
      seen++;
  }
  while (mproc_iter_next(it, nullptr, nullptr, nullptr, 60.0) == MPROC_OK) seen++;
  EXPECT_EQ(seen, in.size());
  EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, 60.0), MPROC_OK);
  mproc_result_free(r);
  mproc_iter_free(it);
  close_join_free(p);
}

}  // namespace
