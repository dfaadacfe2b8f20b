// Parent death: a process running a pool (its workers busy), daemon
// children and one non-daemon child is SIGKILLed. A harness process, made
// a child subreaper so that every orphan comes to it, then checks that
// within a few seconds no descendant is left but the non-daemon child.
//
// What must happen, per start method (shared/design/api.md, section 1 and 3):
// - pool workers and daemon children die with the parent, however it dies;
// - the fork server (forkserver method) sees its client gone and exits;
// - a non-daemon child is the user's own work: as in Python it is not
//   killed, it is orphaned and runs to its end (here: exit code 0 after
//   about a second), and then it is reaped by whoever adopted it.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "mproc.h"
#include "test_helpers.h"

using mproc_test::Pipe;
using mproc_test::wait_until;

namespace {

// Bound for the daemons to die; PDEATHSIG acts at once, the margin is for
// a loaded machine.
constexpr double kDeathBound = 10.0;

int sleep_forever(const void *, size_t, void *) {
  for (;;) pause();
}
MPROC_REGISTER(sleep_forever)

// The non-daemon child: outlives its parent by design, then ends normally.
int finish_after_a_second(const void *, size_t, void *) {
  usleep(1500 * 1000);
  return 0;
}
MPROC_REGISTER(finish_after_a_second)

int square(const void *arg, size_t len, mproc_reply *r, void *) {
  unsigned char v = len ? static_cast<const unsigned char *>(arg)[0] : 0;
  int64_t sq = v * v;
  return mproc_reply_set(r, &sq, sizeof sq);
}
MPROC_REGISTER_TASK(square)

// Keeps a worker busy until it is killed.
int block(const void *, size_t, mproc_reply *, void *) {
  for (;;) pause();
}
MPROC_REGISTER_TASK(block)

std::string cmdline(pid_t pid) {
  FILE *f = fopen(("/proc/" + std::to_string(pid) + "/cmdline").c_str(), "r");
  if (!f) return "?";
  char buf[256] = {};
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  std::replace(buf, buf + n, '\0', ' ');
  return buf;
}

mproc_process *start(mproc_target_fn fn, int method, bool daemon) {
  mproc_process *p = nullptr;
  if (mproc_process_new(&p, fn, nullptr, 0, nullptr) != MPROC_OK) return nullptr;
  mproc_process_set_daemon(p, daemon);
  mproc_process_set_start_method(p, method);
  if (mproc_process_start(p) != MPROC_OK) return nullptr;
  return p;
}

// The process that is killed: a busy pool, two daemons, one non-daemon.
// Reports "non-daemon-pid;" once everything runs, then waits to be killed.
[[noreturn]] void doomed_parent(int method, int report_fd) {
  mproc_pool *pool = nullptr;
  if (mproc_pool_new(&pool, 2) != MPROC_OK || mproc_pool_set_start_method(pool, method) != MPROC_OK)
    _exit(1);
  unsigned char three = 3;
  void *out = nullptr;
  size_t len = 0;
  if (mproc_pool_apply(pool, square, &three, 1, nullptr, &out, &len) != MPROC_OK) _exit(2);
  mproc_free(out);
  // One worker busy in a task while the parent dies, the other idle.
  mproc_result *busy = nullptr;
  if (mproc_pool_apply_async(pool, block, nullptr, 0, nullptr, &busy) != MPROC_OK) _exit(2);
  if (!start(sleep_forever, method, true) || !start(sleep_forever, method, true)) _exit(3);
  mproc_process *keeper = start(finish_after_a_second, method, false);
  if (!keeper) _exit(4);
  mproc_test::write_str(report_fd, std::to_string(mproc_process_pid(keeper)) + ";");
  for (;;) pause();
}

class ParentDeath : public testing::TestWithParam<int> {};

std::string method_name(const testing::TestParamInfo<int> &param) {
  const char *names[] = {"", "Fork", "Spawn", "Forkserver"};
  return names[param.param];
}

TEST_P(ParentDeath, OnlyTheNonDaemonChildOutlivesASigkilledParent) {
  int method = GetParam();
  int rc = mproc_test::run_in_child(
      [method] {
        if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 90;
        Pipe report;
        pid_t parent = fork();
        if (parent == 0) doomed_parent(method, report.wr);
        report.close_wr();
        pid_t keeper = static_cast<pid_t>(atoi(report.read_until(';').c_str()));
        if (keeper <= 0) {
          kill(parent, SIGKILL);
          return 20;
        }
        kill(parent, SIGKILL);
        waitpid(parent, nullptr, 0);
        // Everything but the keeper comes to us and must die; reap as we go.
        int keeper_status = -1;
        std::vector<pid_t> left;
        bool only_keeper = wait_until(
            [&] {
              int st = 0;
              for (pid_t p; (p = waitpid(-1, &st, WNOHANG)) > 0;)
                if (p == keeper) keeper_status = st;
              left = mproc_test::child_pids();
              left.erase(std::remove(left.begin(), left.end(), keeper), left.end());
              return left.empty();
            },
            kDeathBound);
        for (pid_t p : left) {
          fprintf(stderr, "survivor %d: %s\n", p, cmdline(p).c_str());
          kill(p, SIGKILL);
        }
        if (!only_keeper) return 21;
        // The non-daemon child was not killed: it ends on its own, normally.
        if (keeper_status == -1 && waitpid(keeper, &keeper_status, 0) != keeper) return 22;
        return WIFEXITED(keeper_status) && WEXITSTATUS(keeper_status) == 0 ? 0 : 23;
      },
      60);
  EXPECT_EQ(rc, 0);
}

INSTANTIATE_TEST_SUITE_P(StartMethods, ParentDeath,
                         testing::Values(MPROC_START_FORK, MPROC_START_SPAWN, MPROC_START_FORKSERVER),
                         method_name);

}  // namespace

int main(int argc, char **argv) {
  // Spawned children and the fork server run in here and never return.
  mproc_main(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
