// mproc_process_*: Python's Process semantics with fork, plus the places
// where mproc deliberately differs (codes instead of asserts, pidfds, daemon
// children that die with a SIGKILLed parent).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
#include "test_helpers.h"

using mproc_test::joined_exitcode;
using mproc_test::now_s;
using mproc_test::Pipe;
using mproc_test::run_in_child;
using mproc_test::wait_until;
using mproc_test::write_str;

namespace {

// --- targets --------------------------------------------------------------

int return_arg_byte(const void *arg, size_t len, void *) {
  return len > 0 ? static_cast<const unsigned char *>(arg)[0] : 0;
}

int sleep_forever(const void *, size_t, void *) {
  for (;;) pause();
}

int sleep_briefly(const void *, size_t, void *) {
  usleep(200 * 1000);
  return 3;
}

int crash_with_segv(const void *, size_t, void *) {
  prctl(PR_SET_DUMPABLE, 0);  // no core file
  // A real fault on an inaccessible page, with the default action restored
  // (sanitizer builds install their own SIGSEGV handler).
  signal(SIGSEGV, SIG_DFL);
  void *page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int *>(page) = 1;
  return 0;
}

// Blocks until the Pipe passed in ctx reaches EOF, i.e. until the test
// closes its write end (the child drops its own inherited copy first).
int wait_for_eof(const void *, size_t, void *ctx) {
  auto *pipe = static_cast<Pipe *>(ctx);
  pipe->close_wr();
  char c;
  while (read(pipe->rd, &c, 1) > 0) {
  }
  return 0;
}

// Ignores SIGTERM, tells the parent through the fd in ctx, then sleeps.
int ignore_sigterm(const void *, size_t, void *ctx) {
  signal(SIGTERM, SIG_IGN);
  write_str(*static_cast<int *>(ctx), "r");
  for (;;) pause();
}

// Writes mproc_current_name() to the fd in ctx.
int report_name(const void *, size_t, void *ctx) {
  write_str(*static_cast<int *>(ctx), mproc_current_name());
  return 0;
}

mproc_process *make(mproc_target_fn fn, const void *arg = nullptr, size_t len = 0,
                    void *ctx = nullptr) {
  mproc_process *p = nullptr;
  EXPECT_EQ(mproc_process_new(&p, fn, arg, len, ctx), MPROC_OK);
  return p;
}

int run_to_exit(mproc_target_fn fn, const void *arg = nullptr, size_t len = 0,
                void *ctx = nullptr) {
  mproc_process *p = make(fn, arg, len, ctx);
  EXPECT_EQ(mproc_process_start(p), MPROC_OK);
  int code = joined_exitcode(p);
  mproc_process_free(p);
  return code;
}

bool pidfds_disabled() {
  const char *v = getenv("MPROC_NO_PIDFD");
  return v && strcmp(v, "1") == 0;
}

// --- exit codes -------------------------------------------------------------

TEST(ProcessExit, ReturnValueIsTheExitCode) {
  for (unsigned char v : {0, 1, 7, 255}) EXPECT_EQ(run_to_exit(return_arg_byte, &v, 1), v);
}

TEST(ProcessExit, OnlyTheLowEightBitsSurvive) {
  EXPECT_EQ(run_to_exit([](const void *, size_t, void *) { return 256 + 5; }), 5);
}

TEST(ProcessExit, ExitFromTheTargetIsReported) {
  EXPECT_EQ(run_to_exit([](const void *, size_t, void *) -> int { _exit(42); }), 42);
}

TEST(ProcessExit, SegfaultIsMinusSigsegv) { EXPECT_EQ(run_to_exit(crash_with_segv), -SIGSEGV); }

TEST(ProcessExit, AbortIsMinusSigabrt) {
  EXPECT_EQ(run_to_exit([](const void *, size_t, void *) -> int {
              prctl(PR_SET_DUMPABLE, 0);
              abort();
            }),
            -SIGABRT);
}

TEST(ProcessExit, UncaughtCxxExceptionExitsOneAndStaysInTheChild) {
  int code = run_to_exit([](const void *, size_t, void *) -> int {
    throw std::runtime_error("boom");
  });
  EXPECT_EQ(code, 1);
  EXPECT_STREQ(mproc_current_name(), "MainProcess");
}

// Starts a sleeping child, stops it with terminate or kill, returns its code.
int stop_sleeper(int (*stop)(mproc_process *)) {
  mproc_process *p = make(sleep_forever);
  EXPECT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(stop(p), MPROC_OK);
  int code = joined_exitcode(p);
  mproc_process_free(p);
  return code;
}

TEST(ProcessExit, TerminateGivesMinusSigterm) {
  EXPECT_EQ(stop_sleeper(mproc_process_terminate), -SIGTERM);
}

TEST(ProcessExit, KillGivesMinusSigkill) { EXPECT_EQ(stop_sleeper(mproc_process_kill), -SIGKILL); }

TEST(ProcessExit, StatusLostWhenTheHostIgnoresSigchld) {
  // With SIGCHLD ignored the kernel reaps children itself; mproc must report
  // the status as lost (255), neither hang nor claim success.
  int rc = run_in_child([] {
    signal(SIGCHLD, SIG_IGN);
    unsigned char three = 3;
    mproc_process *p = nullptr;
    if (mproc_process_new(&p, return_arg_byte, &three, 1, nullptr) != MPROC_OK) return 10;
    if (mproc_process_start(p) != MPROC_OK) return 11;
    if (mproc_process_join(p, 30.0) != MPROC_OK) return 12;
    int code = 0;
    if (mproc_process_exitcode(p, &code) != MPROC_OK) return 13;
    mproc_process_free(p);
    return code == 255 ? 0 : 14;
  });
  EXPECT_EQ(rc, 0);
}

// --- arguments --------------------------------------------------------------

TEST(ProcessArgs, ArgumentIsCopiedAtCreation) {
  unsigned char buf[1] = {9};
  mproc_process *p = make(return_arg_byte, buf, 1);
  buf[0] = 1;  // too late: the handle has its own copy
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(joined_exitcode(p), 9);
  mproc_process_free(p);
}

TEST(ProcessArgs, EmptyArgumentIsNullAndCtxPassesThrough) {
  static int marker = 77;
  int code = run_to_exit(
      [](const void *arg, size_t len, void *ctx) -> int {
        if (arg != nullptr || len != 0) return 1;
        return *static_cast<int *>(ctx) == 77 ? 0 : 2;
      },
      nullptr, 0, &marker);
  EXPECT_EQ(code, 0);
}

TEST(ProcessArgs, LargeArgumentArrivesIntact) {
  std::vector<unsigned char> big(4 << 20);
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<unsigned char>(i * 31 + 7);
  int code = run_to_exit(
      [](const void *arg, size_t len, void *) -> int {
        const auto *b = static_cast<const unsigned char *>(arg);
        if (len != (4u << 20)) return 1;
        for (size_t i = 0; i < len; i++)
          if (b[i] != static_cast<unsigned char>(i * 31 + 7)) return 2;
        return 0;
      },
      big.data(), big.size());
  EXPECT_EQ(code, 0);
}

TEST(ProcessArgs, GlobalsAreNotShared) {
  static int counter = 10;
  int code = run_to_exit([](const void *, size_t, void *) -> int {
    counter += 5;
    return counter;
  });
  EXPECT_EQ(code, 15);
  EXPECT_EQ(counter, 10);
}

// --- join, is_alive, timeouts -------------------------------------------------

TEST(ProcessJoin, TimeoutReturnsTimeoutWithinGenerousBounds) {
  mproc_process *p = make(sleep_forever);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  double t0 = now_s();
  EXPECT_EQ(mproc_process_join(p, 0.3), MPROC_E_TIMEOUT);
  double waited = now_s() - t0;
  EXPECT_GE(waited, 0.25);
  EXPECT_LT(waited, 10.0);
  t0 = now_s();
  EXPECT_EQ(mproc_process_join(p, 0.0), MPROC_E_TIMEOUT);
  EXPECT_LT(now_s() - t0, 5.0);
  EXPECT_EQ(mproc_process_is_alive(p), 1);
  EXPECT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(mproc_process_join(p, MPROC_FOREVER), MPROC_OK);
  EXPECT_EQ(mproc_process_join(p, 0.0), MPROC_OK);  // again: still OK
  mproc_process_free(p);
}

TEST(ProcessJoin, AnyNegativeTimeoutWaitsForever) {
  mproc_process *p = make(sleep_briefly);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(mproc_process_join(p, -7.5), MPROC_OK);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 3);
  mproc_process_free(p);
}

TEST(ProcessJoin, NanTimeoutIsInvalid) {
  mproc_process *p = make(sleep_briefly);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(mproc_process_join(p, NAN), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_join(p, 60.0), MPROC_OK);
  mproc_process_free(p);
}

TEST(ProcessJoin, ConcurrentJoinsFromThreadsAgree) {
  mproc_process *p = make(sleep_briefly);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; i++)
    threads.emplace_back([&] {
      if (mproc_process_join(p, 60.0) == MPROC_OK) ok++;
    });
  for (auto &t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 3);
  mproc_process_free(p);
}

TEST(ProcessJoin, IsAliveTransitions) {
  Pipe hold;
  mproc_process *p = make(wait_for_eof, nullptr, 0, &hold);
  EXPECT_EQ(mproc_process_is_alive(p), 0);  // not started
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(mproc_process_is_alive(p), 1);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_E_BUSY);
  hold.close_wr();  // the child sees EOF and returns 0
  EXPECT_TRUE(wait_until([&] { return mproc_process_is_alive(p) == 0; }, 30.0));
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 0);
  mproc_process_free(p);
}

// --- signals ------------------------------------------------------------------

TEST(ProcessSignal, TerminateDoesNotStopAProcessIgnoringSigterm) {
  Pipe ready;
  mproc_process *p = make(ignore_sigterm, nullptr, 0, &ready.wr);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  ASSERT_EQ(ready.read_until('r'), "r");
  EXPECT_EQ(mproc_process_terminate(p), MPROC_OK);
  EXPECT_EQ(mproc_process_join(p, 0.5), MPROC_E_TIMEOUT);
  EXPECT_EQ(mproc_process_is_alive(p), 1);
  EXPECT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(joined_exitcode(p), -SIGKILL);
  mproc_process_free(p);
}

TEST(ProcessSignal, SignallingAnExitedProcessIsANoOp) {
  unsigned char four = 4;
  mproc_process *p = make(return_arg_byte, &four, 1);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  ASSERT_EQ(mproc_process_join(p, 30.0), MPROC_OK);
  EXPECT_EQ(mproc_process_terminate(p), MPROC_OK);
  EXPECT_EQ(mproc_process_kill(p), MPROC_OK);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 4);
  mproc_process_free(p);
}

TEST(ProcessSignal, ExitedButUnjoinedProcessIsNotSignalled) {
  // The child has exited but nobody joined it yet: terminate must reap or
  // skip it, and the exit code must stay the real one.
  unsigned char six = 6;
  mproc_process *p = make(return_arg_byte, &six, 1);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  pid_t pid = mproc_process_pid(p);
  ASSERT_TRUE(wait_until(
      [&] {
        siginfo_t si;
        memset(&si, 0, sizeof si);
        return waitid(P_PID, static_cast<id_t>(pid), &si, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               si.si_pid == pid;
      },
      30.0));
  EXPECT_EQ(mproc_process_terminate(p), MPROC_OK);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 6);
  mproc_process_free(p);
}

// --- many children, zombies and descriptors -------------------------------------

TEST(ProcessScale, HundredConcurrentChildren) {
  std::vector<mproc_process *> procs;
  std::vector<unsigned char> codes(100);
  Pipe hold;  // every child waits for EOF so all 100 run at once
  for (int i = 0; i < 100; i++) {
    codes[i] = static_cast<unsigned char>(i);
    procs.push_back(make(
        [](const void *arg, size_t, void *ctx) -> int {
          wait_for_eof(nullptr, 0, ctx);
          return *static_cast<const unsigned char *>(arg);
        },
        &codes[i], 1, &hold));
    ASSERT_EQ(mproc_process_start(procs.back()), MPROC_OK) << i;
  }
  for (auto *p : procs) EXPECT_EQ(mproc_process_is_alive(p), 1);
  hold.close_wr();
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(mproc_process_join(procs[i], 60.0), MPROC_OK);
    int code = -1;
    EXPECT_EQ(mproc_process_exitcode(procs[i], &code), MPROC_OK);
    EXPECT_EQ(code, i);
    mproc_process_free(procs[i]);
  }
  EXPECT_TRUE(mproc_test::has_no_children());
}

TEST(ProcessScale, ThousandCyclesLeaveNoZombieAndNoDescriptor) {
  int fds_before = mproc_test::count_open_fds();
  for (int i = 0; i < 1000; i++) {
    mproc_process *p = make([](const void *, size_t, void *) { return 0; });
    ASSERT_EQ(mproc_process_start(p), MPROC_OK);
    ASSERT_EQ(mproc_process_join(p, 60.0), MPROC_OK);
    mproc_process_free(p);
  }
  EXPECT_EQ(mproc_test::count_open_fds(), fds_before);
  EXPECT_TRUE(mproc_test::has_no_children());
}

TEST(ProcessScale, FreedRunningChildIsStillReaped) {
  int fds_before = mproc_test::count_open_fds();
  std::vector<pid_t> pids;
  for (int i = 0; i < 5; i++) {
    mproc_process *p = make(sleep_briefly);
    ASSERT_EQ(mproc_process_start(p), MPROC_OK);
    pids.push_back(mproc_process_pid(p));
    mproc_process_free(p);  // never blocks, never leaves a zombie
  }
  // No other call into mproc: the library's own reaper must collect them.
  EXPECT_TRUE(wait_until([] { return mproc_test::has_no_children(); }, 30.0));
  EXPECT_TRUE(wait_until([&] { return mproc_test::count_open_fds() <= fds_before + 1; }, 10.0));
}

// --- daemons and exit rules ---------------------------------------------------

// Runs in a subreaper so that orphaned grandchildren come back to it and
// their fate can be observed with waitpid.
int observe_as_subreaper(const std::function<int()> &body) {
  return run_in_child([&] {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 90;
    return body();
  });
}

TEST(ProcessDaemon, DaemonChildDiesWhenItsParentIsSigkilled) {
  int rc = observe_as_subreaper([] {
    Pipe report;
    pid_t middle = fork();
    if (middle == 0) {
      mproc_process *d = nullptr;
      if (mproc_process_new(&d, sleep_forever, nullptr, 0, nullptr) != MPROC_OK) _exit(1);
      mproc_process_set_daemon(d, 1);
      if (mproc_process_start(d) != MPROC_OK) _exit(2);
      write_str(report.wr, std::to_string(mproc_process_pid(d)) + ";");
      for (;;) pause();
    }
    pid_t daemon_pid = static_cast<pid_t>(atoi(report.read_until(';').c_str()));
    if (daemon_pid <= 0) return 20;
    kill(middle, SIGKILL);
    waitpid(middle, nullptr, 0);
    // The daemon is now our (the subreaper's) child; it must die by SIGKILL.
    int status = 0;
    double end = now_s() + 30.0;
    while (waitpid(daemon_pid, &status, WNOHANG) != daemon_pid) {
      if (now_s() > end) {
        kill(daemon_pid, SIGKILL);
        return 21;
      }
      usleep(2000);
    }
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL ? 0 : 22;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ProcessDaemon, NormalExitTerminatesDaemonsAndJoinsTheOthers) {
  int rc = observe_as_subreaper([] {
    Pipe report;
    pid_t middle = fork();
    if (middle == 0) {
      mproc_process *d = nullptr, *worker = nullptr;
      mproc_process_new(&d, sleep_forever, nullptr, 0, nullptr);
      mproc_process_set_daemon(d, 1);
      mproc_process_new(
          &worker,
          [](const void *, size_t, void *ctx) -> int {
            usleep(300 * 1000);
            write_str(*static_cast<int *>(ctx), "worker-done;");
            return 0;
          },
          nullptr, 0, &report.wr);
      if (mproc_process_start(d) != MPROC_OK || mproc_process_start(worker) != MPROC_OK) _exit(3);
      write_str(report.wr, "pid=" + std::to_string(mproc_process_pid(d)) + ";");
      mproc_process_free(worker);  // freed handles are joined at exit too
      exit(0);                     // normal exit: atexit runs mproc's rule
    }
    report.close_wr();
    double t0 = now_s();
    int status = 0;
    waitpid(middle, &status, 0);
    double took = now_s() - t0;
    std::string out = report.read_all(5.0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 30;
    if (out.find("worker-done;") == std::string::npos) return 31;  // joined before exit
    if (took > 20.0) return 32;
    size_t at = out.find("pid=");
    if (at == std::string::npos) return 33;
    pid_t daemon_pid = static_cast<pid_t>(atoi(out.c_str() + at + 4));
    // The daemon was terminated and reaped by its parent before it exited.
    if (kill(daemon_pid, 0) == 0 || errno != ESRCH) return 34;
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST(ProcessDaemon, DaemonIgnoringSigtermIsKilledAfterTheGrace) {
  int rc = observe_as_subreaper([] {
    pid_t middle = fork();
    if (middle == 0) {
      static int unused_fd = -1;
      Pipe sink;
      unused_fd = sink.wr;
      mproc_process *d = nullptr;
      mproc_process_new(&d, ignore_sigterm, nullptr, 0, &unused_fd);
      mproc_process_set_daemon(d, 1);
      if (mproc_process_start(d) != MPROC_OK) _exit(3);
      if (sink.read_until('r') != "r") _exit(4);  // SIGTERM is ignored from now on
      exit(0);
    }
    double t0 = now_s();
    int status = 0;
    waitpid(middle, &status, 0);
    double took = now_s() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return 40;
    if (took < 0.5 || took > 20.0) return 41;
    // Nothing came back to the subreaper: the daemon was reaped by its parent.
    return mproc_test::has_no_children() ? 0 : 42;
  });
  EXPECT_EQ(rc, 0);
}

// Returns 10 + the daemon flag a handle created in this process defaults to.
int report_default_daemon(const void *, size_t, void *) {
  mproc_process *inner = nullptr;
  if (mproc_process_new(&inner, sleep_briefly, nullptr, 0, nullptr) != MPROC_OK) return 1;
  int d = mproc_process_daemon(inner);
  mproc_process_free(inner);
  return 10 + d;
}

TEST(ProcessDaemon, DefaultFlagIsTheCreatorsOwn) {
  mproc_process *p = make(report_default_daemon);
  EXPECT_EQ(mproc_process_daemon(p), 0);  // the main process is not a daemon
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  ASSERT_EQ(mproc_process_join(p, 30.0), MPROC_OK);
  int code = -1;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_OK);
  EXPECT_EQ(code, 10);  // a non-daemon's children are not daemons
  mproc_process_free(p);

  mproc_process *d = make(report_default_daemon);
  ASSERT_EQ(mproc_process_set_daemon(d, 5), MPROC_OK);  // any non-zero is 1
  EXPECT_EQ(mproc_process_daemon(d), 1);
  ASSERT_EQ(mproc_process_start(d), MPROC_OK);
  ASSERT_EQ(mproc_process_join(d, 30.0), MPROC_OK);
  EXPECT_EQ(mproc_process_exitcode(d, &code), MPROC_OK);
  EXPECT_EQ(code, 11);  // a daemon's children default to daemon
  mproc_process_free(d);
}

// --- names --------------------------------------------------------------------

TEST(ProcessName, DefaultNamesCountEveryCreatedHandle) {
  mproc_process *a = make(sleep_briefly);
  mproc_process *b = make(sleep_briefly);
  int na = 0, nb = 0;
  ASSERT_EQ(sscanf(mproc_process_name(a), "Process-%d", &na), 1);
  ASSERT_EQ(sscanf(mproc_process_name(b), "Process-%d", &nb), 1);
  EXPECT_GE(na, 1);
  EXPECT_EQ(nb, na + 1);
  mproc_process_free(a);
  mproc_process_free(b);
}

TEST(ProcessName, ChildSeesItsNameAndGrandchildrenExtendTheIdentity) {
  Pipe out;
  mproc_process *p = make(
      [](const void *, size_t, void *ctx) -> int {
        int fd = *static_cast<int *>(ctx);
        write_str(fd, std::string(mproc_current_name()) + "|");
        mproc_process *g1 = nullptr, *g2 = nullptr;
        mproc_process_new(&g1, report_name, nullptr, 0, ctx);
        mproc_process_new(&g2, report_name, nullptr, 0, ctx);
        write_str(fd, std::string(mproc_process_name(g1)) + "|" + mproc_process_name(g2) + "|");
        mproc_process_start(g1);
        mproc_process_join(g1, 30.0);
        mproc_process_free(g1);
        mproc_process_free(g2);
        return 0;
      },
      nullptr, 0, &out.wr);
  int n = 0;
  ASSERT_EQ(sscanf(mproc_process_name(p), "Process-%d", &n), 1);
  ASSERT_EQ(mproc_process_set_name(p, "renamed"), MPROC_OK);
  EXPECT_STREQ(mproc_process_name(p), "renamed");
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  ASSERT_EQ(mproc_process_join(p, 30.0), MPROC_OK);
  out.close_wr();
  // The identity, not the (renamed) name, numbers the grandchildren.
  std::string g = "Process-" + std::to_string(n);
  EXPECT_EQ(out.read_all(10.0), "renamed|" + g + ":1|" + g + ":2|" + g + ":1");
  mproc_process_free(p);
}

// --- state errors and bad input -------------------------------------------------

TEST(ProcessState, WrongStateCallsReturnState) {
  mproc_process *p = make(sleep_briefly);
  EXPECT_EQ(mproc_process_join(p, 0.0), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_terminate(p), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_kill(p), MPROC_E_STATE);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_sentinel(p), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_pid(p), 0);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_GT(mproc_process_pid(p), 0);
  EXPECT_EQ(mproc_process_start(p), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_set_name(p, "late"), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_set_daemon(p, 1), MPROC_E_STATE);
  EXPECT_EQ(mproc_process_join(p, 30.0), MPROC_OK);
  EXPECT_EQ(mproc_process_start(p), MPROC_E_STATE);  // exited: still no restart
  mproc_process_free(p);
}

TEST(ProcessState, NullArgumentsAreInvalidNeverACrash) {
  mproc_process *p = nullptr;
  EXPECT_EQ(mproc_process_new(nullptr, sleep_briefly, nullptr, 0, nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_new(&p, nullptr, nullptr, 0, nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_new(&p, sleep_briefly, nullptr, 5, nullptr), MPROC_E_INVAL);
  EXPECT_EQ(p, nullptr);  // out untouched on failure
  EXPECT_EQ(mproc_process_set_name(nullptr, "x"), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_set_daemon(nullptr, 1), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_start(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_join(nullptr, 1.0), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_is_alive(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_terminate(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_kill(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_pid(nullptr), MPROC_E_INVAL);
  int code = 0;
  EXPECT_EQ(mproc_process_exitcode(nullptr, &code), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_name(nullptr), nullptr);
  EXPECT_EQ(mproc_process_daemon(nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_sentinel(nullptr), MPROC_E_INVAL);
  mproc_process_free(nullptr);
  p = make(sleep_briefly);
  EXPECT_EQ(mproc_process_set_name(p, nullptr), MPROC_E_INVAL);
  EXPECT_EQ(mproc_process_exitcode(p, nullptr), MPROC_E_INVAL);
  mproc_process_free(p);
}

TEST(ProcessState, HandlesOwnedByTheParentRefuseToActInAChild) {
  mproc_process *running = make(sleep_forever);
  ASSERT_EQ(mproc_process_start(running), MPROC_OK);
  mproc_process *unstarted = make(sleep_briefly);
  mproc_process *both[2] = {running, unstarted};
  int code = run_to_exit(
      [](const void *, size_t, void *ctx) -> int {
        auto **h = static_cast<mproc_process **>(ctx);
        int c = 0;
        if (mproc_process_join(h[0], 0.0) != MPROC_E_STATE) return 1;
        if (mproc_process_terminate(h[0]) != MPROC_E_STATE) return 2;
        if (mproc_process_kill(h[0]) != MPROC_E_STATE) return 3;
        if (mproc_process_exitcode(h[0], &c) != MPROC_E_STATE) return 4;
        if (mproc_process_is_alive(h[0]) != MPROC_E_STATE) return 5;
        if (mproc_process_start(h[1]) != MPROC_E_STATE) return 6;
        if (mproc_process_pid(h[0]) <= 0) return 7;  // getters still work
        mproc_process_free(h[0]);                      // and free is safe
        return 0;
      },
      nullptr, 0, both);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(mproc_process_is_alive(running), 1);  // the child did not touch it
  EXPECT_EQ(mproc_process_kill(running), MPROC_OK);
  EXPECT_EQ(mproc_process_join(running, 30.0), MPROC_OK);
  mproc_process_free(running);
  mproc_process_free(unstarted);
}

// --- child environment ------------------------------------------------------------

TEST(ProcessChild, StdinIsDevNull) {
  int code = run_to_exit([](const void *, size_t, void *) -> int {
    struct stat st;
    if (fstat(STDIN_FILENO, &st) != 0) return 1;
    if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) return 2;
    char c;
    return read(STDIN_FILENO, &c, 1) == 0 ? 0 : 3;
  });
  EXPECT_EQ(code, 0);
}

TEST(ProcessChild, BufferedStdioIsNeverPrintedTwice) {
  Pipe out;
  int rc = run_in_child([&] {
    dup2(out.wr, STDOUT_FILENO);  // a pipe: stdout becomes fully buffered
    printf("parent-before;");
    mproc_process *p = nullptr;
    mproc_process_new(
        &p,
        [](const void *, size_t, void *) -> int {
          printf("child;");  // flushed by mproc before _exit
          return 0;
        },
        nullptr, 0, nullptr);
    if (mproc_process_start(p) != MPROC_OK) return 1;
    mproc_process_join(p, 30.0);
    mproc_process_free(p);
    printf("parent-after;");
    fflush(stdout);
    return 0;
  });
  out.close_wr();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.read_all(10.0), "parent-before;child;parent-after;");
}

int atexit_report_fd = -1;

TEST(ProcessChild, ParentAtexitHandlersDoNotRunInTheChild) {
  Pipe out;
  atexit_report_fd = out.wr;
  int rc = run_in_child([]() -> int {
    atexit([] { write_str(atexit_report_fd, "atexit;"); });
    mproc_process *p = nullptr;
    mproc_process_new(&p, [](const void *, size_t, void *) { return 0; }, nullptr, 0, nullptr);
    if (mproc_process_start(p) != MPROC_OK) _exit(1);
    mproc_process_join(p, 30.0);
    mproc_process_free(p);
    exit(0);  // runs the handler once, here
  });
  out.close_wr();
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(out.read_all(10.0), "atexit;");
}

TEST(ProcessChild, SentinelBecomesReadableAtExit) {
  Pipe hold;
  mproc_process *p = make(wait_for_eof, nullptr, 0, &hold);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  int fd = mproc_process_sentinel(p);
  if (pidfds_disabled()) {
    EXPECT_EQ(fd, MPROC_E_SYS);
  } else {
    ASSERT_GE(fd, 0);
    pollfd pfd{fd, POLLIN, 0};
    EXPECT_EQ(poll(&pfd, 1, 0), 0);  // still running
    hold.close_wr();
    EXPECT_EQ(poll(&pfd, 1, 30000), 1);
    EXPECT_EQ(mproc_process_join(p, 0.0), MPROC_OK);
  }
  hold.close_wr();
  EXPECT_EQ(mproc_process_join(p, 30.0), MPROC_OK);
  mproc_process_free(p);
}

}  // namespace
