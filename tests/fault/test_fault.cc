// Fault injection: mproc under exhausted descriptors, a full /dev/shm and
// a process limit. Each failing call must return a clear code and leave
// nothing behind (fault_util.h), and work again once the limit is gone.
// Allocation failure is in test_alloc_fail.cc.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "fault_util.h"
#include "mproc.h"
#include "queue_test_util.h"
#include "test_helpers.h"

namespace {

using fault::expect_nothing_left;
using fault::Footprint;

int square(const void *arg, size_t len, mproc_reply *reply, void *) {
  long v = 0;
  memcpy(&v, arg, len < sizeof v ? len : sizeof v);
  v *= v;
  return mproc_reply_set(reply, &v, sizeof v);
}

int exit7(const void *, size_t, void *) { return 7; }

// A pool of `workers` started and one task run through it; frees the pool
// and returns the first failure.
int pool_round_trip(int workers, bool explicit_start) {
  mproc_pool *pool = nullptr;
  int rc = mproc_pool_new(&pool, workers);
  if (rc != MPROC_OK) return rc;
  if (explicit_start) rc = mproc_pool_start(pool);
  long arg = 12;
  void *out = nullptr;
  size_t len = 0;
  if (rc == MPROC_OK) rc = mproc_pool_apply(pool, square, &arg, sizeof arg, nullptr, &out, &len);
  if (rc == MPROC_OK && (len != sizeof arg || *static_cast<long *>(out) != 144)) rc = MPROC_E_SYS;
  mproc_free(out);
  mproc_pool_terminate(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
  return rc;
}

int process_round_trip() {
  mproc_process *p = nullptr;
  int rc = mproc_process_new(&p, exit7, nullptr, 0, nullptr);
  if (rc != MPROC_OK) return rc;
  rc = mproc_process_start(p);
  int code = 0;
  if (rc == MPROC_OK) rc = mproc_process_join(p, 60.0);
  if (rc == MPROC_OK) rc = mproc_process_exitcode(p, &code);
  if (rc == MPROC_OK && code != 7) rc = MPROC_E_SYS;
  mproc_process_free(p);
  return rc;
}

// ---------------------------------------------------------------- EMFILE

int highest_fd() {
  int high = 2;
  for (int fd = 3; fd < 4096; fd++)
    if (fcntl(fd, F_GETFD) >= 0) high = fd;
  return high;
}

// Lowers the soft RLIMIT_NOFILE for one scope.
class NofileLimit {
 public:
  explicit NofileLimit(rlim_t soft) {
    getrlimit(RLIMIT_NOFILE, &old_);
    rlimit lim = old_;
    lim.rlim_cur = soft;
    ok_ = setrlimit(RLIMIT_NOFILE, &lim) == 0;
  }
  ~NofileLimit() { setrlimit(RLIMIT_NOFILE, &old_); }
  NofileLimit(const NofileLimit &) = delete;
  NofileLimit &operator=(const NofileLimit &) = delete;
  bool ok() const { return ok_; }

 private:
  rlimit old_{};
  bool ok_ = false;
};

// Descriptors on every free number below the highest open one, for one
// scope: a lowered RLIMIT_NOFILE then leaves exactly the room asked for
// (the test runner may inherit descriptors with gaps below them).
class FillGaps {
 public:
  FillGaps() {
    int high = highest_fd();
    for (;;) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0) break;
      if (fd > high) {  // no gap left
        close(fd);
        break;
      }
      fds_.push_back(fd);
    }
  }
  ~FillGaps() {
    for (int fd : fds_) close(fd);
  }
  FillGaps(const FillGaps &) = delete;
  FillGaps &operator=(const FillGaps &) = delete;

 private:
  std::vector<int> fds_;
};

// Runs `call` (which frees what it made) with room for 0, 1, 2, ... more
// descriptors until it succeeds: each failure is MPROC_E_SYS (EMFILE has
// no code of its own) and leaks nothing, and the call works again after.
template <typename Call>
void sweep_descriptors(const std::string &what, Call call) {
  ASSERT_EQ(call(), MPROC_OK) << what << ": warm-up";  // lazily made state exists now
  FillGaps gaps;
  Footprint before;
  int failures = 0;
  bool succeeded = false;
  for (int extra = 0; extra < 256 && !succeeded; extra++) {
    int rc;
    {
      NofileLimit limit(static_cast<rlim_t>(highest_fd() + 1 + extra));
      ASSERT_TRUE(limit.ok());
      rc = call();
    }
    succeeded = rc == MPROC_OK;
    if (!succeeded) {
      failures++;
      EXPECT_EQ(rc, MPROC_E_SYS) << what << " with " << extra << " descriptors to spare: "
                                 << mproc_error_name(rc);
    }
    expect_nothing_left(before, what + " with " + std::to_string(extra) + " descriptors to spare");
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_TRUE(succeeded) << what << " never succeeded";
  EXPECT_GT(failures, 0) << what << " never ran out of descriptors";
  EXPECT_EQ(call(), MPROC_OK) << what << " after the limit was lifted";
  expect_nothing_left(before, what + " after the limit was lifted");
}

TEST(Emfile, AnonymousQueue) {
  sweep_descriptors("mproc_queue_new", [] {
    mproc_queue *q = nullptr;
    int rc = mproc_queue_new(&q, 0, 0);
    if (rc == MPROC_OK) rc = mproc_queue_put(q, "x", 1, 0.0);
    mproc_queue_free(q);
    return rc;
  });
}

TEST(Emfile, NamedQueueCreateAndOpen) {
  std::string name = qtest::unique_name("emfile");
  sweep_descriptors("mproc_queue_create", [&] {
    mproc_queue *q = nullptr;
    int rc = mproc_queue_create(&q, name.c_str(), 0, 0);
    if (rc == MPROC_OK) rc = mproc_queue_put(q, "x", 1, 0.0);
    mproc_queue_free(q);
    mproc_queue_unlink(name.c_str());
    return rc;
  });
  mproc_queue *owner = nullptr;
  ASSERT_EQ(mproc_queue_create(&owner, name.c_str(), 0, 0), MPROC_OK);
  qtest::Unlinker unlink(name);
  sweep_descriptors("mproc_queue_open", [&] {
    mproc_queue *q = nullptr;
    int rc = mproc_queue_open(&q, name.c_str());
    if (rc == MPROC_OK) rc = mproc_queue_put(q, "x", 1, 0.0);
    mproc_queue_free(q);
    return rc;
  });
  mproc_queue_free(owner);
}

TEST(Emfile, ProcessStartNeedsNoDescriptor) {
  // Without a descriptor for its pidfd a child is tracked by PID instead.
  ASSERT_EQ(process_round_trip(), MPROC_OK);
  FillGaps gaps;
  Footprint before;
  {
    NofileLimit limit(static_cast<rlim_t>(highest_fd() + 1));
    ASSERT_TRUE(limit.ok());
    EXPECT_EQ(process_round_trip(), MPROC_OK);
  }
  expect_nothing_left(before, "a process with no descriptor to spare");
}

TEST(Emfile, PoolStart) {
  sweep_descriptors("mproc_pool_start", [] { return pool_round_trip(2, true); });
  sweep_descriptors("a pool's first task", [] { return pool_round_trip(2, false); });
}

// ------------------------------------------------------- /dev/shm is full

// In a child with its own mount namespace, a tmpfs of `kib` KiB over
// /dev/shm; 77 when that cannot be had (not root, no namespaces).
constexpr int kNoNamespace = 77;
int with_small_shm(size_t kib, const std::function<int()> &body) {
  return mproc_test::run_in_child([&] {
    if (unshare(CLONE_NEWNS) != 0) return kNoNamespace;
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return kNoNamespace;
    std::string opts = "size=" + std::to_string(kib) + "k,mode=1777";
    if (mount("mproc-fault", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, opts.c_str()) != 0)
      return kNoNamespace;
    return body();
  });
}

size_t shm_file_count() { return mproc_test::shm_entries("").size(); }

TEST(ShmFull, NamedQueueLargerThanTheSpaceFailsAtCreate) {
  int rc = with_small_shm(1024, [] {
    bool failed = false;
    std::string name = qtest::unique_name("full");
    mproc_queue *q = nullptr;
    // 4 MiB of ring in a 1 MiB tmpfs: ftruncate alone would succeed (a
    // sparse file) and the first put past 1 MiB would SIGBUS.
    FAULT_CHECK(failed, mproc_queue_create(&q, name.c_str(), 0, 4u << 20) == MPROC_E_NOMEM);
    FAULT_CHECK(failed, shm_file_count() == 0);  // not even a temporary file
    // The space was given back: a queue that fits is created and used.
    FAULT_CHECK(failed, mproc_queue_create(&q, name.c_str(), 0, 256u << 10) == MPROC_OK);
    if (!failed) {
      FAULT_CHECK(failed, mproc_queue_put(q, "x", 1, 0.0) == MPROC_OK);
      mproc_queue_free(q);
      FAULT_CHECK(failed, mproc_queue_unlink(name.c_str()) == MPROC_OK);
    }
    FAULT_CHECK(failed, shm_file_count() == 0);
    return failed ? 1 : 0;
  });
  if (rc == kNoNamespace) GTEST_SKIP() << "needs root and mount namespaces";
  EXPECT_EQ(rc, 0) << "see the child's messages above";
}

TEST(ShmFull, AQueueThatFitsNeverFaultsWhenTheRestFillsUp) {
  int rc = with_small_shm(1024, [] {
    bool failed = false;
    std::string name = qtest::unique_name("fits");
    mproc_queue *q = nullptr;
    FAULT_CHECK(failed, mproc_queue_create(&q, name.c_str(), 0, 512u << 10) == MPROC_OK);
    if (failed) return 1;
    // Another file takes every page left...
    std::string filler = "/dev/shm/" + qtest::unique_name("filler");
    int fd = open(filler.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    std::vector<char> page(4096, 'f');
    while (write(fd, page.data(), page.size()) > 0) {
    }
    close(fd);
    // ...yet the queue's whole ring is ours: fill it, wrap it, drain it.
    std::vector<unsigned char> msg(60u << 10, 0x5a);
    for (int round = 0; round < 3; round++) {
      int n = 0;
      while (mproc_queue_put(q, msg.data(), msg.size(), 0.0) == MPROC_OK) n++;
      FAULT_CHECK(failed, n >= 7);
      for (int i = 0; i < n; i++) {
        size_t len = 0;
        FAULT_CHECK(failed, mproc_queue_get(q, msg.data(), msg.size(), &len, 0.0) == MPROC_OK);
      }
    }
    mproc_queue_free(q);
    mproc_queue_unlink(name.c_str());
    unlink(filler.c_str());
    return failed ? 1 : 0;
  });
  if (rc == kNoNamespace) GTEST_SKIP() << "needs root and mount namespaces";
  EXPECT_EQ(rc, 0) << "see the child's messages above (-7 is SIGBUS)";
}

TEST(ShmFull, AnonymousQueueOverTheFileSizeLimit) {
  // Memfd segments live outside /dev/shm; RLIMIT_FSIZE bounds them (with
  // SIGXFSZ ignored, as a program that sets the limit would).
  int rc = mproc_test::run_in_child([] {
    bool failed = false;
    signal(SIGXFSZ, SIG_IGN);
    rlimit lim{1u << 20, 1u << 20};
    FAULT_CHECK(failed, setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int before = mproc_test::count_open_fds();
    mproc_queue *q = nullptr;
    FAULT_CHECK(failed, mproc_queue_new(&q, 0, 4u << 20) == MPROC_E_NOMEM);
    FAULT_CHECK(failed, mproc_test::count_open_fds() == before);
    FAULT_CHECK(failed, mproc_queue_new(&q, 0, 256u << 10) == MPROC_OK);
    mproc_queue_free(q);
    return failed ? 1 : 0;
  });
  EXPECT_EQ(rc, 0) << "see the child's messages above";
}

// ----------------------------------------------------- the process limit

// In a child that dropped root for a uid no other process has, with
// RLIMIT_NPROC = limit: that uid's tasks (this child, its threads, its
// children) can be at most `limit`. 77 when not root.
int with_process_limit(rlim_t limit, const std::function<int()> &body) {
  if (geteuid() != 0) return kNoNamespace;
  return mproc_test::run_in_child([&] {
    uid_t uid = 0x6d700000u + static_cast<uid_t>(getpid() & 0xffff);
    rlimit lim{limit, limit};
    if (setrlimit(RLIMIT_NPROC, &lim) != 0 || setgid(uid) != 0 || setuid(uid) != 0) return 1;
    return body();
  });
}

TEST(ProcessLimit, PoolThatCannotStartEveryWorkerCleansUpAndSaysWhy) {
  constexpr int kWorkers = 4;
  bool saw_partial_start = false;
  // Limits 1.. : at first not even the manager thread starts, then some
  // workers do; from kWorkers + a few threads on the pool starts.
  for (rlim_t limit = 1; limit < 12; limit++) {
    for (bool explicit_start : {true, false}) {
      int rc = with_process_limit(limit, [&] {
        bool failed = false;
        int fds = mproc_test::count_open_fds();
        mproc_pool *pool = nullptr;
        FAULT_CHECK(failed, mproc_pool_new(&pool, kWorkers) == MPROC_OK);
        long arg = 3;
        void *out = nullptr;
        size_t len = 0;
        int start = explicit_start
                        ? mproc_pool_start(pool)
                        : mproc_pool_apply(pool, square, &arg, sizeof arg, nullptr, &out, &len);
        mproc_free(out);
        uint64_t started = 0;
        mproc_pool_stat(pool, MPROC_POOL_STAT_WORKERS_STARTED, &started);
        if (start == MPROC_OK) {
          mproc_pool_close(pool);
        } else {
          FAULT_CHECK(failed, start == MPROC_E_SYS);
          // Terminated already: the workers that started are reaped.
          FAULT_CHECK(failed, mproc_test::has_no_children());
          FAULT_CHECK(failed, mproc_pool_apply(pool, square, &arg, sizeof arg, nullptr, &out,
                                               &len) == MPROC_E_STATE);
        }
        FAULT_CHECK(failed, mproc_pool_join(pool, 60.0) == MPROC_OK);
        mproc_pool_free(pool);
        FAULT_CHECK(failed, mproc_test::has_no_children());
        FAULT_CHECK(failed, mproc_test::count_open_fds() == fds);
        if (failed) return 1;
        if (start == MPROC_OK) return 0;
        return started > 0 ? 3 : 2;  // failed after starting some, or none
      });
      if (rc == kNoNamespace) GTEST_SKIP() << "needs root to set a process limit that binds";
      ASSERT_TRUE(rc == 0 || rc == 2 || rc == 3)
          << "limit " << limit << ": see the child's messages above (" << rc << ")";
      saw_partial_start |= rc == 3;
    }
  }
  EXPECT_TRUE(saw_partial_start) << "no limit let the pool start some workers but not all";
}

TEST(ProcessLimit, ProcessStartFailsCleanly) {
  int rc = with_process_limit(1, [] {
    bool failed = false;
    mproc_process *p = nullptr;
    FAULT_CHECK(failed, mproc_process_new(&p, exit7, nullptr, 0, nullptr) == MPROC_OK);
    FAULT_CHECK(failed, mproc_process_start(p) == MPROC_E_SYS);
    FAULT_CHECK(failed, mproc_process_join(p, 0.0) == MPROC_E_STATE);  // never started
    mproc_process_free(p);
    FAULT_CHECK(failed, mproc_test::has_no_children());
    return failed ? 1 : 0;
  });
  if (rc == kNoNamespace) GTEST_SKIP() << "needs root to set a process limit that binds";
  EXPECT_EQ(rc, 0) << "see the child's messages above";
}

}  // namespace
