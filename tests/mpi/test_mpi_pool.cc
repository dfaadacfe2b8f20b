// The MPI pool (mproc-mpi.h) under `mpiexec -n N`: rank 0 runs these
// tests, the other ranks serve them. The local pool's cases that apply
// (tests/unit/test_pool.cc, same tasks), the crash matrix, and what is
// MPI's own: tasks spread over every worker rank, which survive crashes,
// timeouts and terminate.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "mproc/mproc-mpi.h"
#include "pool_test_util.h"
#include "test_helpers.h"

namespace {

// The rank whose local child runs the task: Open MPI's launcher tells
// every process, the fork server's children included.
int report_rank(const void *arg, size_t len, mproc_reply *r, void *) {
  usleep(static_cast<useconds_t>(arg_int(arg, len) * 1000));
  const char *rank = getenv("OMPI_COMM_WORLD_RANK");
  return reply_int(r, rank ? atoi(rank) : -1);
}

// The network namespace of the process that runs the task.
int64_t netns_inode() {
  struct stat st;
  return stat("/proc/self/ns/net", &st) == 0 ? static_cast<int64_t>(st.st_ino) : -1;
}
int report_netns(const void *, size_t, mproc_reply *r, void *) { return reply_int(r, netns_inode()); }

int64_t g_initialized = 0;
int set_initialized(const void *arg, size_t len, void *) {
  g_initialized = arg_int(arg, len);
  return 0;
}
int report_initialized(const void *, size_t, mproc_reply *r, void *) {
  return reply_int(r, g_initialized);
}

void register_tasks() {
  mproc_register_task("square", square);
  mproc_register_task("echo", echo);
  mproc_register_task("report_pid", report_pid);
  mproc_register_task("report_rank", report_rank);
  mproc_register_task("report_netns", report_netns);
  mproc_register_task("sleep_ms", sleep_ms_task);
  mproc_register_task("fail_with_message", fail_with_message);
  mproc_register_task("crash_on_negative", crash_on_negative);
  mproc_register_task("report_initialized", report_initialized);
  mproc_register("set_initialized", set_initialized);
}

int g_size = 0;  // ranks in the job

mproc_pool *mpi_pool() {
  mproc_pool *p = nullptr;
  EXPECT_EQ(mproc_mpi_pool_new(&p), MPROC_OK) << mproc_mpi_last_error();
  return p;
}

TEST(MpiPool, HasOneWorkerPerOtherRank) {
  mproc_pool *p = mpi_pool();
  EXPECT_EQ(mproc_pool_workers(p), g_size - 1);
  mproc_pool *second = nullptr;
  EXPECT_EQ(mproc_mpi_pool_new(&second), MPROC_E_BUSY);
  EXPECT_NE(std::string(mproc_mpi_last_error()).find("free it first"), std::string::npos);
  EXPECT_EQ(mproc_pool_set_start_method(p, MPROC_START_FORK), MPROC_E_STATE);
  close_join_free(p);
}

TEST(MpiPool, ApplyAndApplyAsync) {
  mproc_pool *p = mpi_pool();
  int64_t seven = 7;
  void *out = nullptr;
  size_t len = 0;
  ASSERT_EQ(mproc_pool_apply_named(p, "square", &seven, sizeof seven, &out, &len), MPROC_OK);
  EXPECT_EQ(as_int(out, len), 49);
  mproc_free(out);
  std::vector<mproc_result *> results;
  for (int64_t i = 0; i < 200; i++) {
    mproc_result *r = nullptr;
    ASSERT_EQ(mproc_pool_apply_async(p, square, &i, sizeof i, nullptr, &r), MPROC_OK);
    results.push_back(r);
  }
  for (int64_t i = 0; i < 200; i++) {
    const void *data = nullptr;
    ASSERT_EQ(mproc_result_get(results[static_cast<size_t>(i)], &data, &len, 60.0), MPROC_OK);
    EXPECT_EQ(as_int(data, len), i * i);
    mproc_result_free(results[static_cast<size_t>(i)]);
  }
  close_join_free(p);
}

TEST(MpiPool, RegisteredTasksOnlyAndNoContext) {
  mproc_pool *p = mpi_pool();
  mproc_result *r = nullptr;
  int64_t v = 1;
  EXPECT_EQ(mproc_pool_apply_async_named(p, "not_registered", &v, sizeof v, &r), MPROC_E_NOENT);
  EXPECT_EQ(mproc_pool_apply_async(p, square, &v, sizeof v, &v, &r), MPROC_E_INVAL);
  close_join_free(p);
}

TEST(MpiPool, FailedTaskCarriesItsReplyAndLargePayloadsTravel) {
  mproc_pool *p = mpi_pool();
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply_named(p, "fail_with_message", nullptr, 0, &out, &len),
            MPROC_E_TASK_FAILED);
  EXPECT_EQ(std::string(static_cast<char *>(out), len), "bad input");
  mproc_free(out);
  std::vector<unsigned char> big(8u << 20);
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<unsigned char>(i * 7);
  ASSERT_EQ(mproc_pool_apply_named(p, "echo", big.data(), big.size(), &out, &len), MPROC_OK);
  ASSERT_EQ(len, big.size());
  EXPECT_EQ(memcmp(out, big.data(), len), 0);
  mproc_free(out);
  close_join_free(p);
}

TEST(MpiPool, ImapInOrderWithEveryChunksize) {
  mproc_pool *p = mpi_pool();
  std::vector<int64_t> in = range(300);
  std::vector<mproc_bytes> items = as_items(in);
  for (size_t chunksize : {size_t{0}, size_t{1}, size_t{7}, size_t{300}}) {
    mproc_iter *it = nullptr;
    ASSERT_EQ(mproc_pool_imap(p, square, items.data(), items.size(), chunksize, nullptr, &it),
              MPROC_OK);
    size_t index = 0, len = 0, expected = 0;
    const void *data = nullptr;
    int rc;
    while ((rc = mproc_iter_next(it, &index, &data, &len, 60.0)) != MPROC_DONE) {
      ASSERT_EQ(rc, MPROC_OK);
      EXPECT_EQ(index, expected++);
      EXPECT_EQ(as_int(data, len), static_cast<int64_t>(index * index));
    }
    EXPECT_EQ(expected, in.size()) << "chunksize " << chunksize;
    mproc_iter_free(it);
  }
  close_join_free(p);
}

TEST(MpiPool, ImapUnorderedAndMap) {
  mproc_pool *p = mpi_pool();
  std::vector<int64_t> in = range(500);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_unordered_named(p, "square", items.data(), items.size(), 3, &it),
            MPROC_OK);
  std::set<size_t> seen;
  size_t index = 0, len = 0;
  const void *data = nullptr;
  for (int rc; (rc = mproc_iter_next(it, &index, &data, &len, 60.0)) != MPROC_DONE;) {
    ASSERT_EQ(rc, MPROC_OK);
    EXPECT_EQ(as_int(data, len), static_cast<int64_t>(index * index));
    seen.insert(index);
  }
  EXPECT_EQ(seen.size(), in.size());
  mproc_iter_free(it);
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map_named(p, "square", items.data(), items.size(), 0, &results), MPROC_OK);
  for (size_t i = 0; i < in.size(); i++)
    EXPECT_EQ(as_int(results[i].data, results[i].len), static_cast<int64_t>(i * i));
  mproc_free(results);
  close_join_free(p);
}

TEST(MpiPool, CallbacksRunOnce) {
  mproc_pool *p = mpi_pool();
  static std::atomic<int> calls{0};
  static std::atomic<int64_t> sum{0};
  calls = 0;
  sum = 0;
  for (int64_t i = 1; i <= 20; i++)
    ASSERT_EQ(mproc_pool_apply_async_cb(
                  p, square, &i, sizeof i, nullptr,
                  [](int status, const void *data, size_t len, void *) {
                    if (status == MPROC_OK) sum += as_int(data, len);
                    calls++;
                  },
                  nullptr, nullptr),
              MPROC_OK);
  close_join_free(p);  // free runs the callbacks still queued
  EXPECT_EQ(calls, 20);
  EXPECT_EQ(sum, 2870);  // 1^2 + ... + 20^2
}

TEST(MpiPool, TasksRunOnEveryWorkerRank) {
  mproc_pool *p = mpi_pool();
  // Slow enough that one rank cannot take them all before the others do.
  std::vector<int64_t> in(static_cast<size_t>(8 * (g_size - 1)), 100);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map_named(p, "report_rank", items.data(), items.size(), 1, &results),
            MPROC_OK);
  std::set<int64_t> ranks;
  for (size_t i = 0; i < in.size(); i++) ranks.insert(as_int(results[i].data, results[i].len));
  mproc_free(results);
  std::set<int64_t> expected;
  for (int r = 1; r < g_size; r++) expected.insert(r);
  EXPECT_EQ(ranks, expected);
  close_join_free(p);
}

// Under netns_run.py (MPROC_TEST_NETNS=1) every worker rank sits in a
// network namespace of its own: the tasks crossed a network to get there.
TEST(MpiPool, WorkerRanksInOtherNetworkNamespaces) {
  if (!getenv("MPROC_TEST_NETNS")) GTEST_SKIP() << "only under tests/mpi/netns_run.py";
  mproc_pool *p = mpi_pool();
  std::vector<int64_t> in(static_cast<size_t>(4 * (g_size - 1)), 0);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map_named(p, "report_netns", items.data(), items.size(), 1, &results),
            MPROC_OK);
  std::set<int64_t> spaces;
  for (size_t i = 0; i < in.size(); i++) spaces.insert(as_int(results[i].data, results[i].len));
  mproc_free(results);
  EXPECT_EQ(spaces.count(netns_inode()), 0u);
  EXPECT_EQ(spaces.size(), static_cast<size_t>(g_size - 1));
  close_join_free(p);
}

// Every way of dying, on every rank, interleaved with good tasks: each
// bad one fails alone with its exit code, the rest succeed, and the ranks
// serve the next pool.
TEST(MpiCrash, EachWayOfDyingFailsOnlyThatTask) {
  mproc_pool *p = mpi_pool();
  ASSERT_EQ(mproc_pool_set_task_timeout(p, 1.0), MPROC_OK);
  const int64_t kTooSlow = -100;  // sleeps past the timeout (sleep_ms task)
  std::vector<int64_t> in;
  for (int round = 0; round < 3; round++)
    for (int64_t v : {int64_t{5}, int64_t{kSegv}, int64_t{6}, int64_t{kAbort}, int64_t{7},
                      int64_t{kExit}, int64_t{8}, int64_t{kSigkill}, int64_t{9}, kTooSlow})
      in.push_back(v);
  std::vector<mproc_result *> results;
  for (int64_t v : in) {
    mproc_result *r = nullptr;
    int64_t ms = 5000;
    if (v == kTooSlow)
      ASSERT_EQ(mproc_pool_apply_async_named(p, "sleep_ms", &ms, sizeof ms, &r), MPROC_OK);
    else
      ASSERT_EQ(mproc_pool_apply_async_named(p, "crash_on_negative", &v, sizeof v, &r), MPROC_OK);
    results.push_back(r);
  }
  for (size_t i = 0; i < in.size(); i++) {
    const void *data = nullptr;
    size_t len = 0;
    int rc = mproc_result_get(results[i], &data, &len, 120.0);
    int code = 0;
    switch (in[i]) {
      case kSegv: case kAbort: case kExit: case kSigkill:
        EXPECT_EQ(rc, MPROC_E_WORKER_DIED) << "item " << i;
        EXPECT_EQ(mproc_result_worker_exitcode(results[i], &code), MPROC_OK);
        EXPECT_EQ(code, in[i] == kSegv ? -SIGSEGV : in[i] == kAbort ? -SIGABRT
                        : in[i] == kExit ? 3 : -SIGKILL) << "item " << i;
        break;
      case kTooSlow:
        EXPECT_EQ(rc, MPROC_E_TASK_TIMEOUT) << "item " << i;
        EXPECT_EQ(mproc_result_worker_exitcode(results[i], &code), MPROC_OK);
        EXPECT_EQ(code, -SIGKILL);
        break;
      default:
        EXPECT_EQ(rc, MPROC_OK) << "item " << i;
        EXPECT_EQ(as_int(data, len), in[i] * in[i]);
    }
    mproc_result_free(results[i]);
  }
  uint64_t died = 0;
  EXPECT_EQ(mproc_pool_stat(p, MPROC_POOL_STAT_WORKERS_DIED, &died), MPROC_OK);
  EXPECT_EQ(died, 15u);
  close_join_free(p);
  // The job lives on.
  p = mpi_pool();
  int64_t v = 4;
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply_named(p, "square", &v, sizeof v, &out, &len), MPROC_OK);
  EXPECT_EQ(as_int(out, len), 16);
  mproc_free(out);
  close_join_free(p);
}

TEST(MpiCrash, ChunkItemsAfterACrashStillRun) {
  mproc_pool *p = mpi_pool();
  std::vector<int64_t> in = range(40);
  in[13] = kSegv;
  in[27] = kSigkill;
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_named(p, "crash_on_negative", items.data(), items.size(), 10, &it),
            MPROC_OK);
  size_t index = 0, len = 0, n = 0;
  const void *data = nullptr;
  for (int rc; (rc = mproc_iter_next(it, &index, &data, &len, 60.0)) != MPROC_DONE; n++) {
    if (index == 13 || index == 27) {
      EXPECT_EQ(rc, MPROC_E_WORKER_DIED);
    } else {
      ASSERT_EQ(rc, MPROC_OK) << "item " << index;
      EXPECT_EQ(as_int(data, len), in[index] * in[index]);
    }
  }
  EXPECT_EQ(n, in.size());
  mproc_iter_free(it);
  close_join_free(p);
}

TEST(MpiPool, TerminateCancelsAndTheRanksServeTheNextPool) {
  mproc_pool *p = mpi_pool();
  std::vector<mproc_result *> results;
  for (int i = 0; i < 4 * g_size; i++) {
    int64_t ms = 30000;
    mproc_result *r = nullptr;
    ASSERT_EQ(mproc_pool_apply_async_named(p, "sleep_ms", &ms, sizeof ms, &r), MPROC_OK);
    results.push_back(r);
  }
  usleep(300 * 1000);
  double t0 = mproc_test::now_s();
  ASSERT_EQ(mproc_pool_terminate(p), MPROC_OK);
  for (mproc_result *r : results) {
    EXPECT_EQ(mproc_result_get(r, nullptr, nullptr, 10.0), MPROC_E_CANCELLED);
    mproc_result_free(r);
  }
  EXPECT_EQ(mproc_pool_join(p, 60.0), MPROC_OK);
  EXPECT_LT(mproc_test::now_s() - t0, 20.0);  // the 30 s tasks were killed
  mproc_pool_free(p);
  p = mpi_pool();
  int64_t v = 3;
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply_named(p, "square", &v, sizeof v, &out, &len), MPROC_OK);
  mproc_free(out);
  close_join_free(p);
}

TEST(MpiPool, CloseAndJoinBeforeConsumingAnIterator) {
  mproc_pool *p = mpi_pool();
  std::vector<int64_t> in = range(2000);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_iter *it = nullptr;
  ASSERT_EQ(mproc_pool_imap_named(p, "square", items.data(), items.size(), 1, &it), MPROC_OK);
  ASSERT_EQ(mproc_pool_close(p), MPROC_OK);
  ASSERT_EQ(mproc_pool_join(p, 120.0), MPROC_OK);
  size_t n = 0;
  for (int rc; (rc = mproc_iter_next(it, nullptr, nullptr, nullptr, 0)) != MPROC_DONE; n++)
    ASSERT_EQ(rc, MPROC_OK);
  EXPECT_EQ(n, in.size());
  mproc_iter_free(it);
  mproc_pool_free(p);
}

TEST(MpiConfig, InitializerAndMaxTasksPerChild) {
  mproc_pool *p = mpi_pool();
  int64_t token = 4242;
  ASSERT_EQ(mproc_pool_set_initializer(p, set_initialized, &token, sizeof token, nullptr),
            MPROC_OK);
  ASSERT_EQ(mproc_pool_set_maxtasksperchild(p, 1), MPROC_OK);
  std::vector<int64_t> in(12, 0);
  std::vector<mproc_bytes> items = as_items(in);
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map_named(p, "report_initialized", items.data(), items.size(), 1, &results),
            MPROC_OK);
  for (size_t i = 0; i < in.size(); i++) EXPECT_EQ(as_int(results[i].data, results[i].len), token);
  mproc_free(results);
  // One task per child: every task ran in a fresh one.
  ASSERT_EQ(mproc_pool_map_named(p, "report_pid", items.data(), items.size(), 1, &results),
            MPROC_OK);
  std::set<int64_t> pids;
  for (size_t i = 0; i < in.size(); i++) pids.insert(as_int(results[i].data, results[i].len));
  EXPECT_EQ(pids.size(), in.size());
  mproc_free(results);
  close_join_free(p);
}

}  // namespace

int main(int argc, char **argv) {
  register_tasks();
  mproc_main(argc, argv);
  int role = mproc_mpi_init(&argc, &argv);
  if (role < 0) {
    fprintf(stderr, "test-mpi-pool: %s\n", mproc_mpi_last_error());
    return 1;
  }
  if (role == MPROC_MPI_WORKER) return 0;
  mproc_pool *probe = nullptr;
  if (mproc_mpi_pool_new(&probe) == MPROC_OK) g_size = mproc_pool_workers(probe) + 1;
  mproc_pool_free(probe);
  ::testing::InitGoogleTest(&argc, argv);
  int rc = RUN_ALL_TESTS();
  if (mproc_mpi_finalize() != MPROC_OK) {
    fprintf(stderr, "test-mpi-pool: %s\n", mproc_mpi_last_error());
    return 1;
  }
  return rc;
}
