// Pool kill -9 chaos: long imap and imap_unordered runs while a killer
// thread SIGKILLs random workers at random moments (idle, mid-task,
// mid-reply, just forked). Every item must end, within a watchdog, with its
// correct result or MPROC_E_WORKER_DIED (exit code -SIGKILL); each index
// comes exactly once; afterwards the pool still works, closes and joins,
// and leaves no process and no descriptor behind.
//
// MPROC_CHAOS_SECONDS sets how long each test keeps killing (default 3;
// scripts/soak runs it for minutes). The seed is printed, and
// MPROC_CHAOS_SEED replays a run's kill schedule (timing still varies).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "mproc.h"
#include "test_helpers.h"

using mproc_test::now_s;

namespace {

// An item that stays a hang rather than a slow machine past this.
constexpr double kWatchdog = 60.0;

double env_double(const char *name, double fallback) {
  const char *v = getenv(name);
  return v && *v ? atof(v) : fallback;
}

int64_t arg_int(const void *arg, size_t len) {
  int64_t v = 0;
  if (len == sizeof v) memcpy(&v, arg, sizeof v);
  return v;
}

// Squares its argument after 0-0.8 ms, so kills land inside tasks as well
// as between them.
int slow_square(const void *arg, size_t len, mproc_reply *r, void *) {
  int64_t v = arg_int(arg, len);
  usleep(static_cast<useconds_t>((v % 5) * 200));
  v *= v;
  return mproc_reply_set(r, &v, sizeof v);
}

// SIGKILLs one of this process's children (the pool's workers: the test
// has no other) every 1-30 ms until destroyed.
class Killer {
 public:
  explicit Killer(unsigned seed)
      : thread_([this, seed] {
          std::mt19937 rng(seed);
          while (!stop_.load()) {
            usleep(1000 + rng() % 29000);
            std::vector<pid_t> pids = mproc_test::child_pids();
            if (pids.empty()) continue;
            if (kill(pids[rng() % pids.size()], SIGKILL) == 0) kills_++;
          }
        }) {}
  ~Killer() {
    stop_.store(true);
    thread_.join();
  }
  int kills() const { return kills_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<int> kills_{0};
  std::thread thread_;
};

struct Tally {
  size_t ok = 0, died = 0, rounds = 0;
  int kills = 0;
};

// One imap (or imap_unordered) over n items, checking every item.
void run_round(mproc_pool *p, bool unordered, size_t chunksize, Tally *t) {
  const size_t n = 400;
  std::vector<int64_t> in(n);
  std::vector<mproc_bytes> items(n);
  for (size_t i = 0; i < n; i++) {
    in[i] = static_cast<int64_t>(i);
    items[i] = mproc_bytes{&in[i], sizeof in[i]};
  }
  mproc_iter *it = nullptr;
  auto submit = unordered ? mproc_pool_imap_unordered : mproc_pool_imap;
  ASSERT_EQ(submit(p, slow_square, items.data(), n, chunksize, nullptr, &it), MPROC_OK);
  std::vector<int> seen(n, 0);
  for (size_t k = 0;; k++) {
    size_t idx = n;
    const void *data = nullptr;
    size_t len = 0;
    int rc = mproc_iter_next(it, &idx, &data, &len, kWatchdog);
    if (rc == MPROC_DONE) break;
    ASSERT_NE(rc, MPROC_E_TIMEOUT) << "no item for " << kWatchdog << " s after " << k << " items";
    ASSERT_LT(idx, n);
    ASSERT_EQ(seen[idx]++, 0) << "item " << idx << " delivered twice";
    if (!unordered) {
      ASSERT_EQ(idx, k) << "imap out of order";
    }
    if (rc == MPROC_OK) {
      ASSERT_EQ(len, sizeof(int64_t));
      EXPECT_EQ(arg_int(data, len), in[idx] * in[idx]) << "item " << idx;
      t->ok++;
    } else {
      ASSERT_EQ(rc, MPROC_E_WORKER_DIED) << "item " << idx << ": " << mproc_error_name(rc);
      int code = 0;
      EXPECT_EQ(mproc_iter_worker_exitcode(it, &code), MPROC_OK);
      EXPECT_EQ(code, -SIGKILL) << "item " << idx;
      t->died++;
    }
  }
  for (size_t i = 0; i < n; i++) ASSERT_EQ(seen[i], 1) << "item " << i << " never came";
  mproc_iter_free(it);
}

void chaos(bool unordered) {
  double seconds = env_double("MPROC_CHAOS_SECONDS", 3);
  unsigned seed = static_cast<unsigned>(env_double("MPROC_CHAOS_SEED", 0));
  if (seed == 0) seed = static_cast<unsigned>(now_s() * 1e6) ^ static_cast<unsigned>(getpid());
  printf("chaos: %.0f s, MPROC_CHAOS_SEED=%u\n", seconds, seed);
  int fds_before = mproc_test::count_open_fds();
  mproc_pool *p = nullptr;
  ASSERT_EQ(mproc_pool_new(&p, 3), MPROC_OK);
  Tally t;
  {
    Killer killer(seed);
    double end = now_s() + seconds;
    do {
      run_round(p, unordered, 1 + t.rounds % 4, &t);
      if (testing::Test::HasFatalFailure()) break;
      t.rounds++;
    } while (now_s() < end);
    t.kills = killer.kills();
  }
  printf("chaos: %zu rounds, %d kills, %zu items ok, %zu died with their worker\n", t.rounds,
         t.kills, t.ok, t.died);
  EXPECT_GT(t.died, 0u) << "no kill hit a task: the test proved nothing";
  // The killer is gone: the pool serves again, then closes and joins.
  int64_t seven = 7;
  void *out = nullptr;
  size_t len = 0;
  EXPECT_EQ(mproc_pool_apply(p, slow_square, &seven, sizeof seven, nullptr, &out, &len), MPROC_OK);
  EXPECT_EQ(arg_int(out, len), 49);
  mproc_free(out);
  EXPECT_EQ(mproc_pool_close(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_join(p, kWatchdog), MPROC_OK);
  mproc_pool_free(p);
  EXPECT_TRUE(mproc_test::has_no_children());
  EXPECT_EQ(mproc_test::count_open_fds(), fds_before);
}

TEST(PoolChaos, ImapUnderRandomKill9) { chaos(false); }

TEST(PoolChaos, ImapUnorderedUnderRandomKill9) { chaos(true); }

}  // namespace
