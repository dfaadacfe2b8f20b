// Start methods: spawn and forkserver run the process cases that make sense
// without shared memory (exit codes, signals, timeouts, names, arguments,
// reaping), plus what is theirs alone: registration, mproc_main(), the
// clean descriptor table, exec failures, a killed fork server, threaded
// hosts and the fork-with-threads warning.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "mproc.h"
#include "test_helpers.h"

using mproc_test::joined_exitcode;
using mproc_test::count_open_fds;
using mproc_test::now_s;
using mproc_test::Pipe;
using mproc_test::run_in_child;
using mproc_test::wait_until;

namespace {

// Set in the parent before a start: a spawn or forkserver child, which is
// not a copy of the parent, still sees 0.
int g_marker = 0;

// --- registered targets -----------------------------------------------------

int return_arg_byte(const void *arg, size_t len, void *) {
  return len > 0 ? static_cast<const unsigned char *>(arg)[0] : 0;
}
MPROC_REGISTER(return_arg_byte)

int exit_with_arg_byte(const void *arg, size_t len, void *) {
  exit(len > 0 ? static_cast<const unsigned char *>(arg)[0] : 0);
}
MPROC_REGISTER(exit_with_arg_byte)

int sleep_forever(const void *, size_t, void *) {
  for (;;) pause();
}
MPROC_REGISTER(sleep_forever)

int crash_with_segv(const void *, size_t, void *) {
  prctl(PR_SET_DUMPABLE, 0);  // no core file
  signal(SIGSEGV, SIG_DFL);   // sanitizer builds install their own handler
  void *page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  *static_cast<volatile int *>(page) = 1;
  return 0;
}
MPROC_REGISTER(crash_with_segv)

int abort_now(const void *, size_t, void *) {
  prctl(PR_SET_DUMPABLE, 0);
  signal(SIGABRT, SIG_DFL);
  abort();
}
MPROC_REGISTER(abort_now)

// 0 if the argument is 4 MiB of the test pattern.
int check_big_arg(const void *arg, size_t len, void *) {
  const auto *b = static_cast<const unsigned char *>(arg);
  if (len != (4u << 20)) return 1;
  for (size_t i = 0; i < len; i++)
    if (b[i] != static_cast<unsigned char>(i * 31 + 7)) return 2;
  return 0;
}
MPROC_REGISTER(check_big_arg)

// 0 if mproc_current_name() equals the argument.
int name_is_arg(const void *arg, size_t len, void *) {
  return std::string(static_cast<const char *>(arg), len) == mproc_current_name() ? 0 : 1;
}
MPROC_REGISTER(name_is_arg)

int return_marker(const void *, size_t, void *) { return g_marker; }
MPROC_REGISTER(return_marker)

// How many descriptors the child has open (its directory handle excluded).
int count_fds(const void *, size_t, void *) { return count_open_fds(); }
MPROC_REGISTER(count_fds)

// 0 when stdin reads EOF at once (/dev/null).
int stdin_is_empty(const void *, size_t, void *) {
  char c;
  return read(STDIN_FILENO, &c, 1) == 0 ? 0 : 1;
}
MPROC_REGISTER(stdin_is_empty)

int report_start_method(const void *, size_t, void *) { return mproc_get_start_method(); }
MPROC_REGISTER(report_start_method)

// Starts a grandchild (the parent's default method, inherited) that checks
// its own name "Process-N:1" (N = our identity), and returns its exit code.
int start_grandchild(const void *, size_t, void *) {
  std::string own = mproc_current_name();  // "Process-N"
  std::string want = own + ":1";
  mproc_process *p = nullptr;
  if (mproc_process_new(&p, name_is_arg, want.data(), want.size(), nullptr) != MPROC_OK) return 50;
  if (mproc_process_start(p) != MPROC_OK) return 51;
  if (mproc_process_join(p, 60.0) != MPROC_OK) return 52;
  int code = -1;
  mproc_process_exitcode(p, &code);
  mproc_process_free(p);
  return code;
}
MPROC_REGISTER(start_grandchild)

// Sleeps 300 ms, then creates the file named by the argument.
int touch_file_later(const void *arg, size_t len, void *) {
  usleep(300 * 1000);
  std::string path(static_cast<const char *>(arg), len);
  int fd = open(path.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  if (fd < 0) return 1;
  close(fd);
  return 0;
}
MPROC_REGISTER(touch_file_later)

int unregistered_target(const void *, size_t, void *) { return 0; }

// Opens the queue whose token is the argument and puts "hello".
int put_hello_to_token(const void *arg, size_t len, void *) {
  std::string token(static_cast<const char *>(arg), len);
  mproc_queue *q = nullptr;
  int rc = mproc_queue_open(&q, token.c_str());
  if (rc != MPROC_OK) return 10;
  rc = mproc_queue_put(q, "hello", 5, 30.0);
  mproc_queue_free(q);
  return rc == MPROC_OK ? 0 : 11;
}
MPROC_REGISTER(put_hello_to_token)

// A pool task: the reply is the argument with every byte incremented.
int increment_bytes(const void *arg, size_t len, mproc_reply *reply, void *) {
  std::string out(static_cast<const char *>(arg), len);
  for (char &ch : out) ch = static_cast<char>(ch + 1);
  return mproc_reply_set(reply, out.data(), out.size());
}
MPROC_REGISTER_TASK(increment_bytes)

// Pool tasks and an initializer for the spawn and forkserver pool cases.
int g_initialized = 0;
int set_initialized(const void *arg, size_t len, void *) {
  g_initialized = len > 0 ? static_cast<const unsigned char *>(arg)[0] : 1;
  return 0;
}
MPROC_REGISTER(set_initialized)

int failing_initializer(const void *, size_t, void *) { return 1; }
MPROC_REGISTER(failing_initializer)

// Reply: "<initialized>:<pid>:<name>".
int who_runs_me(const void *, size_t, mproc_reply *reply, void *) {
  std::string out = std::to_string(g_initialized) + ":" + std::to_string(getpid()) + ":" +
                    mproc_current_name();
  return mproc_reply_set(reply, out.data(), out.size());
}
MPROC_REGISTER_TASK(who_runs_me)

int crash_task(const void *, size_t, mproc_reply *, void *) {
  crash_with_segv(nullptr, 0, nullptr);
  return 0;
}
MPROC_REGISTER_TASK(crash_task)

int sleep_task(const void *, size_t, mproc_reply *, void *) {
  for (;;) pause();
}
MPROC_REGISTER_TASK(sleep_task)

// Puts the reply's argument into the queue whose token is the argument.
int put_to_token_task(const void *arg, size_t len, mproc_reply *, void *) {
  return put_hello_to_token(arg, len, nullptr);
}
MPROC_REGISTER_TASK(put_to_token_task)

int unregistered_task(const void *, size_t, mproc_reply *, void *) { return 0; }

// --- helpers ----------------------------------------------------------------

const char *method_name(int m) {
  return m == MPROC_START_SPAWN ? "spawn" : m == MPROC_START_FORKSERVER ? "forkserver" : "fork";
}

mproc_process *make(int method, mproc_target_fn fn, const void *arg = nullptr, size_t len = 0) {
  mproc_process *p = nullptr;
  EXPECT_EQ(mproc_process_new(&p, fn, arg, len, nullptr), MPROC_OK);
  EXPECT_EQ(mproc_process_set_start_method(p, method), MPROC_OK);
  return p;
}

int run_to_exit(int method, mproc_target_fn fn, const void *arg = nullptr, size_t len = 0) {
  mproc_process *p = make(method, fn, arg, len);
  EXPECT_EQ(mproc_process_start(p), MPROC_OK);
  int code = joined_exitcode(p);
  mproc_process_free(p);
  return code;
}

class StartMethod : public ::testing::TestWithParam<int> {};

std::string param_name(const ::testing::TestParamInfo<int> &info) {
  return method_name(info.param);
}

// --- the process cases, per method ------------------------------------------

TEST_P(StartMethod, ReturnValueIsTheExitCode) {
  unsigned char b = 42;
  EXPECT_EQ(run_to_exit(GetParam(), return_arg_byte, &b, 1), 42);
}

TEST_P(StartMethod, ExitFromTheTargetIsReported) {
  unsigned char b = 7;
  EXPECT_EQ(run_to_exit(GetParam(), exit_with_arg_byte, &b, 1), 7);
}

TEST_P(StartMethod, CrashesAreMinusTheSignal) {
  EXPECT_EQ(run_to_exit(GetParam(), crash_with_segv), -SIGSEGV);
  EXPECT_EQ(run_to_exit(GetParam(), abort_now), -SIGABRT);
}

TEST_P(StartMethod, TerminateAndKillGiveMinusTheSignal) {
  for (auto stop : {mproc_process_terminate, mproc_process_kill}) {
    mproc_process *p = make(GetParam(), sleep_forever);
    ASSERT_EQ(mproc_process_start(p), MPROC_OK);
    EXPECT_EQ(mproc_process_is_alive(p), 1);
    EXPECT_EQ(stop(p), MPROC_OK);
    EXPECT_EQ(joined_exitcode(p), stop == mproc_process_kill ? -SIGKILL : -SIGTERM);
    EXPECT_EQ(mproc_process_is_alive(p), 0);
    EXPECT_EQ(stop(p), MPROC_OK);  // already exited: a no-op
    mproc_process_free(p);
  }
}

TEST_P(StartMethod, JoinTimesOutWhileTheChildRuns) {
  mproc_process *p = make(GetParam(), sleep_forever);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  double t0 = now_s();
  EXPECT_EQ(mproc_process_join(p, 0.2), MPROC_E_TIMEOUT);
  double waited = now_s() - t0;
  EXPECT_GE(waited, 0.15);
  EXPECT_LT(waited, 30.0);
  int code;
  EXPECT_EQ(mproc_process_exitcode(p, &code), MPROC_E_BUSY);
  EXPECT_GT(mproc_process_pid(p), 0);
  EXPECT_EQ(mproc_process_kill(p), MPROC_OK);
  EXPECT_EQ(joined_exitcode(p), -SIGKILL);
  mproc_process_free(p);
}

TEST_P(StartMethod, ArgumentsTravelAsBytes) {
  std::vector<unsigned char> big(4 << 20);
  for (size_t i = 0; i < big.size(); i++) big[i] = static_cast<unsigned char>(i * 31 + 7);
  EXPECT_EQ(run_to_exit(GetParam(), check_big_arg, big.data(), big.size()), 0);
  EXPECT_EQ(run_to_exit(GetParam(), return_arg_byte, nullptr, 0), 0);
}

TEST_P(StartMethod, TheChildIsNotACopyOfTheParent) {
  g_marker = 42;
  EXPECT_EQ(run_to_exit(GetParam(), return_marker), 0);
  EXPECT_EQ(run_to_exit(MPROC_START_FORK, return_marker), 42);
  g_marker = 0;
}

TEST_P(StartMethod, ChildSeesItsNameAndNumbersItsOwnChildren) {
  mproc_process *p = make(GetParam(), name_is_arg, "worker-7", 8);
  ASSERT_EQ(mproc_process_set_name(p, "worker-7"), MPROC_OK);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(joined_exitcode(p), 0);
  mproc_process_free(p);
  // The grandchild is started with the child's default method, which the
  // child inherited from us (run in a fresh process whose default we set).
  int method = GetParam();
  EXPECT_EQ(run_in_child([method] {
              if (mproc_set_start_method(method) != MPROC_OK) return 90;
              return run_to_exit(method, start_grandchild);
            }),
            0);
}

TEST_P(StartMethod, ChildInheritsTheDefaultStartMethod) {
  int method = GetParam();
  EXPECT_EQ(run_in_child([method] {
              if (mproc_set_start_method(method) != MPROC_OK) return 90;
              return run_to_exit(method, report_start_method);
            }),
            method);
}

TEST_P(StartMethod, StdinIsDevNullAndNoOtherDescriptorIsInherited) {
  // A descriptor leaked without O_CLOEXEC, as careless hosts do.
  int leaked[2];
  ASSERT_EQ(pipe(leaked), 0);
  EXPECT_EQ(run_to_exit(GetParam(), stdin_is_empty), 0);
  EXPECT_EQ(run_to_exit(GetParam(), count_fds), 3);  // stdin, stdout, stderr
  close(leaked[0]);
  close(leaked[1]);
}

TEST_P(StartMethod, SentinelBecomesReadableAtExit) {
  if (getenv("MPROC_NO_PIDFD")) GTEST_SKIP() << "no pidfds on this code path";
  mproc_process *p = make(GetParam(), sleep_forever);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  int fd = mproc_process_sentinel(p);
  ASSERT_GE(fd, 0);
  pollfd pfd{fd, POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  mproc_process_kill(p);
  EXPECT_EQ(poll(&pfd, 1, 30000), 1);
  EXPECT_EQ(joined_exitcode(p), -SIGKILL);
  mproc_process_free(p);
}

TEST_P(StartMethod, ManyChildrenAndCyclesLeaveNoZombieAndNoDescriptor) {
  int method = GetParam();
  // Measured in a fresh process, so the fork server (a child) is counted
  // in neither direction.
  EXPECT_EQ(run_in_child([method] {
              if (method == MPROC_START_FORKSERVER && mproc_forkserver_start() != MPROC_OK) return 90;
              // The reaper's wake-up descriptor, made for the first child
              // freed while running, lives as long as the process.
              int fds_before = count_open_fds() + 1;
              mproc_process *warm = make(method, sleep_forever);
              if (mproc_process_start(warm) != MPROC_OK) return 98;
              pid_t warm_pid = mproc_process_pid(warm);
              mproc_process_free(warm);
              kill(warm_pid, SIGKILL);
              if (!wait_until([&] { return count_open_fds() == fds_before; }, 30.0)) return 99;
              std::vector<mproc_process *> ps;
              for (int i = 0; i < 20; i++) {
                unsigned char b = static_cast<unsigned char>(i);
                mproc_process *p = nullptr;
                if (mproc_process_new(&p, return_arg_byte, &b, 1, nullptr) != MPROC_OK) return 91;
                mproc_process_set_start_method(p, method);
                if (mproc_process_start(p) != MPROC_OK) return 92;
                ps.push_back(p);
              }
              for (int i = 0; i < 20; i++) {
                int code = -1;
                if (mproc_process_join(ps[i], 60.0) != MPROC_OK) return 93;
                mproc_process_exitcode(ps[i], &code);
                if (code != i) return 94;
                mproc_process_free(ps[i]);
              }
              for (int i = 0; i < 100; i++) {
                mproc_process *p = nullptr;
                mproc_process_new(&p, return_arg_byte, nullptr, 0, nullptr);
                mproc_process_set_start_method(p, method);
                if (mproc_process_start(p) != MPROC_OK) return 95;
                if (i % 2) mproc_process_join(p, 60.0);  // the rest are freed running
                mproc_process_free(p);
              }
              // Freed children are reaped by mproc's own thread.
              bool reaped = wait_until(
                  [] {
                    siginfo_t si{};
                    // Only the fork server may remain a child.
                    return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == 0;
                  },
                  30.0);
              if (!reaped) return 96;
              // Forkserver children are not ours: their status pipes close
              // once the reaper thread has read their exit codes.
              return wait_until([&] { return count_open_fds() == fds_before; }, 30.0) ? 0 : 97;
            }),
            0);
}

TEST_P(StartMethod, NormalExitJoinsNonDaemonChildren) {
  int method = GetParam();
  std::string path = "/tmp/mproc-start-test-" + std::to_string(getpid()) + "-" + method_name(method);
  unlink(path.c_str());
  // The intermediate process returns at once; its exit handler must wait
  // for the child, which creates the file 300 ms later.
  EXPECT_EQ(run_in_child([&] {
              mproc_process *p = make(method, touch_file_later, path.data(), path.size());
              if (mproc_process_start(p) != MPROC_OK) return 1;
              mproc_process_free(p);  // freed handles are joined at exit too
              exit(0);                // normal exit: atexit runs mproc's rule
            }),
            0);
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << "the child was not joined at exit";
  unlink(path.c_str());
}

TEST_P(StartMethod, DaemonChildDiesWhenItsParentIsSigkilled) {
  int method = GetParam();
  int rc = run_in_child([method] {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 90;
    Pipe report;
    pid_t middle = fork();
    if (middle == 0) {
      mproc_process *d = make(method, sleep_forever);
      mproc_process_set_daemon(d, 1);
      if (mproc_process_start(d) != MPROC_OK) _exit(2);
      mproc_test::write_str(report.wr, std::to_string(mproc_process_pid(d)) + ";");
      for (;;) pause();
    }
    pid_t daemon_pid = static_cast<pid_t>(atoi(report.read_until(';').c_str()));
    if (daemon_pid <= 0) return 20;
    kill(middle, SIGKILL);
    waitpid(middle, nullptr, 0);
    // Reparented to us (the subreaper) sooner or later; it must die.
    bool dead = wait_until(
        [daemon_pid] {
          int status;
          pid_t r = waitpid(daemon_pid, &status, WNOHANG);
          if (r == daemon_pid) return true;
          // Not (yet) our child: gone means dead and reaped elsewhere.
          return r < 0 && kill(daemon_pid, 0) != 0;
        },
        30.0);
    if (!dead) {
      kill(daemon_pid, SIGKILL);
      return 21;
    }
    return 0;
  });
  EXPECT_EQ(rc, 0);
}

TEST_P(StartMethod, AnExportedAnonymousQueueReachesTheChild) {
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_new(&q, 0, 0), MPROC_OK);
  char token[MPROC_QUEUE_TOKEN_MAX];
  ASSERT_EQ(mproc_queue_export(q, token, 4), MPROC_E_TOOBIG);
  ASSERT_EQ(mproc_queue_export(q, token, sizeof token), MPROC_OK);
  EXPECT_EQ(token[0], '@');
  EXPECT_EQ(run_to_exit(GetParam(), put_hello_to_token, token, strlen(token)), 0);
  EXPECT_EQ(run_to_exit(MPROC_START_FORK, put_hello_to_token, token, strlen(token)), 0);
  char buf[16];
  size_t len = 0;
  for (int i = 0; i < 2; i++) {
    ASSERT_EQ(mproc_queue_get(q, buf, sizeof buf, &len, 30.0), MPROC_OK);
    EXPECT_EQ(std::string(buf, len), "hello");
  }
  mproc_queue_free(q);  // withdraws the export: later children do not get it
  EXPECT_EQ(run_to_exit(GetParam(), put_hello_to_token, token, strlen(token)), 10);
}

TEST(QueueExport, TokensAndNames) {
  mproc_queue *q = nullptr;
  char token[MPROC_QUEUE_TOKEN_MAX];
  EXPECT_EQ(mproc_queue_export(nullptr, token, sizeof token), MPROC_E_INVAL);
  EXPECT_EQ(mproc_queue_open(&q, "@0123456789abcdef"), MPROC_E_NOENT);  // never received
  EXPECT_EQ(mproc_queue_open(&q, "@xyz"), MPROC_E_INVAL);
  std::string name = "mproc-export-test-" + std::to_string(getpid());
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 0), MPROC_OK);
  ASSERT_EQ(mproc_queue_export(q, token, sizeof token), MPROC_OK);
  EXPECT_EQ(name, token);  // a named queue travels by name
  mproc_queue_free(q);
  mproc_queue_unlink(name.c_str());
}

TEST_P(StartMethod, CtxCannotTravelAndTargetsMustBeRegistered) {
  int marker = 1;
  mproc_process *p = nullptr;
  ASSERT_EQ(mproc_process_new(&p, return_arg_byte, nullptr, 0, &marker), MPROC_OK);
  mproc_process_set_start_method(p, GetParam());
  EXPECT_EQ(mproc_process_start(p), MPROC_E_INVAL);
  mproc_process_free(p);
  p = make(GetParam(), unregistered_target);
  EXPECT_EQ(mproc_process_start(p), MPROC_E_NOENT);
  EXPECT_EQ(mproc_process_pid(p), 0);  // still unstarted
  mproc_process_free(p);
}

TEST_P(StartMethod, NamedTargetsRunByName) {
  mproc_process *p = nullptr;
  unsigned char b = 33;
  ASSERT_EQ(mproc_process_new_named(&p, "return_arg_byte", &b, 1), MPROC_OK);
  mproc_process_set_start_method(p, GetParam());
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(joined_exitcode(p), 33);
  mproc_process_free(p);
}

TEST_P(StartMethod, WorksFromAProcessWithManyThreads) {
  if (GetParam() == MPROC_START_FORK) GTEST_SKIP();
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int i = 0; i < 4; i++)
    busy.emplace_back([&stop] {
      while (!stop.load()) {
        void *m = malloc(64);  // keeps malloc's locks busy, as real hosts do
        free(m);
      }
    });
  for (int i = 0; i < 20; i++) {
    unsigned char b = static_cast<unsigned char>(i + 1);
    EXPECT_EQ(run_to_exit(GetParam(), return_arg_byte, &b, 1), i + 1);
  }
  stop = true;
  for (auto &t : busy) t.join();
}

INSTANTIATE_TEST_SUITE_P(Methods, StartMethod,
                         ::testing::Values(MPROC_START_SPAWN, MPROC_START_FORKSERVER), param_name);

// --- registration and the process-wide default ------------------------------

TEST(StartRegistry, RulesForNames) {
  EXPECT_EQ(mproc_register("return_arg_byte", return_arg_byte), MPROC_OK);  // again: no-op
  EXPECT_EQ(mproc_register("return_arg_byte", return_marker), MPROC_E_EXIST);
  EXPECT_EQ(mproc_register(nullptr, return_marker), MPROC_E_INVAL);
  EXPECT_EQ(mproc_register("", return_marker), MPROC_E_INVAL);
  EXPECT_EQ(mproc_register("has space", return_marker), MPROC_E_INVAL);
  EXPECT_EQ(mproc_register(std::string(201, 'x').c_str(), return_marker), MPROC_E_INVAL);
  EXPECT_EQ(mproc_register(std::string(200, 'x').c_str(), return_marker), MPROC_OK);
  EXPECT_EQ(mproc_register("null-fn", nullptr), MPROC_E_INVAL);
  // Tasks are another namespace.
  EXPECT_EQ(mproc_register_task("a-task-named-like-a-target", increment_bytes), MPROC_OK);
  mproc_process *p = nullptr;
  EXPECT_EQ(mproc_process_new_named(&p, "no-such-target", nullptr, 0), MPROC_E_NOENT);
  EXPECT_EQ(mproc_process_new_named(&p, nullptr, nullptr, 0), MPROC_E_INVAL);
  EXPECT_EQ(p, nullptr);
}

TEST(StartDefault, FixedOnceAChildWasStarted) {
  EXPECT_EQ(run_in_child([] {
              if (mproc_get_start_method() != MPROC_START_FORK) return 1;
              if (mproc_set_start_method(99) != MPROC_E_INVAL) return 2;
              if (mproc_set_start_method(MPROC_START_SPAWN) != MPROC_OK) return 3;
              if (mproc_set_start_method(MPROC_START_FORKSERVER) != MPROC_OK) return 4;
              if (mproc_forkserver_start() != MPROC_OK) return 5;  // does not fix it
              if (mproc_set_start_method(MPROC_START_SPAWN) != MPROC_OK) return 6;
              g_marker = 5;
              mproc_process *p = nullptr;
              mproc_process_new(&p, return_marker, nullptr, 0, nullptr);
              if (mproc_process_start(p) != MPROC_OK) return 7;
              if (joined_exitcode(p) != 0) return 8;  // spawned: no copy of g_marker
              mproc_process_free(p);
              return mproc_set_start_method(MPROC_START_FORK) == MPROC_E_STATE ? 0 : 9;
            }),
            0);
}

TEST(StartDefault, SetterRejectsBadInput) {
  EXPECT_EQ(mproc_process_set_start_method(nullptr, MPROC_START_SPAWN), MPROC_E_INVAL);
  mproc_process *p = make(MPROC_START_SPAWN, return_arg_byte);
  EXPECT_EQ(mproc_process_set_start_method(p, 0), MPROC_E_INVAL);
  ASSERT_EQ(mproc_process_start(p), MPROC_OK);
  EXPECT_EQ(mproc_process_set_start_method(p, MPROC_START_FORK), MPROC_E_STATE);
  joined_exitcode(p);
  mproc_process_free(p);
}

// The _named pool functions run the task registered under the name.
TEST(StartRegistry, PoolTasksByName) {
  mproc_pool *pool = nullptr;
  ASSERT_EQ(mproc_pool_new(&pool, 2), MPROC_OK);
  void *out = nullptr;
  size_t out_len = 0;
  ASSERT_EQ(mproc_pool_apply_named(pool, "increment_bytes", "abc", 3, &out, &out_len), MPROC_OK);
  EXPECT_EQ(std::string(static_cast<char *>(out), out_len), "bcd");
  mproc_free(out);
  mproc_result *r = nullptr;
  ASSERT_EQ(mproc_pool_apply_async_named(pool, "increment_bytes", "x", 1, &r), MPROC_OK);
  const void *data;
  size_t len;
  ASSERT_EQ(mproc_result_get(r, &data, &len, 60.0), MPROC_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(data), len), "y");
  mproc_result_free(r);
  mproc_bytes items[3] = {{"a", 1}, {"b", 1}, {"c", 1}};
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map_named(pool, "increment_bytes", items, 3, 0, &results), MPROC_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(results[2].data), results[2].len), "d");
  mproc_free(results);
  for (auto imap : {mproc_pool_imap_named, mproc_pool_imap_unordered_named}) {
    mproc_iter *it = nullptr;
    ASSERT_EQ(imap(pool, "increment_bytes", items, 3, 1, &it), MPROC_OK);
    std::string seen(3, '?');
    size_t index;
    while (mproc_iter_next(it, &index, &data, &len, 60.0) == MPROC_OK)
      seen[index] = static_cast<const char *>(data)[0];
    EXPECT_EQ(seen, "bcd");
    mproc_iter_free(it);
  }
  EXPECT_EQ(mproc_pool_apply_async_named(pool, "no-such-task", "x", 1, &r), MPROC_E_NOENT);
  EXPECT_EQ(mproc_pool_apply_async_named(pool, nullptr, "x", 1, &r), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_apply_named(pool, "return_arg_byte", "x", 1, &out, &out_len),
            MPROC_E_NOENT);  // a process target, not a task
  mproc_pool_close(pool);
  EXPECT_EQ(mproc_pool_join(pool, 60.0), MPROC_OK);
  mproc_pool_free(pool);
}

// --- pools with spawn and forkserver workers -----------------------------

mproc_pool *make_pool(int method, int workers) {
  mproc_pool *pool = nullptr;
  EXPECT_EQ(mproc_pool_new(&pool, workers), MPROC_OK);
  EXPECT_EQ(mproc_pool_set_start_method(pool, method), MPROC_OK);
  return pool;
}

void close_and_join(mproc_pool *pool) {
  EXPECT_EQ(mproc_pool_close(pool), MPROC_OK);
  EXPECT_EQ(mproc_pool_join(pool, 60.0), MPROC_OK);
  mproc_pool_free(pool);
}

std::string reply_of(mproc_pool *pool, mproc_task_fn fn, const std::string &arg = "") {
  void *out = nullptr;
  size_t len = 0;
  int rc = mproc_pool_apply(pool, fn, arg.data(), arg.size(), nullptr, &out, &len);
  std::string s = rc == MPROC_OK ? std::string(static_cast<char *>(out), len) : mproc_error_name(rc);
  mproc_free(out);
  return s;
}

TEST_P(StartMethod, PoolRunsRegisteredTasksEveryWay) {
  mproc_pool *pool = make_pool(GetParam(), 2);
  EXPECT_EQ(reply_of(pool, increment_bytes, "abc"), "bcd");
  std::vector<std::string> args;
  for (int i = 0; i < 100; i++) args.push_back(std::to_string(i));
  std::vector<mproc_bytes> items;
  for (auto &a : args) items.push_back({a.data(), a.size()});
  mproc_bytes *results = nullptr;
  ASSERT_EQ(mproc_pool_map(pool, increment_bytes, items.data(), items.size(), 7, nullptr, &results),
            MPROC_OK);
  for (size_t i = 0; i < items.size(); i++) {
    std::string want = args[i];
    for (char &ch : want) ch = static_cast<char>(ch + 1);
    EXPECT_EQ(std::string(static_cast<const char *>(results[i].data), results[i].len), want);
  }
  mproc_free(results);
  for (auto imap : {mproc_pool_imap, mproc_pool_imap_unordered}) {
    mproc_iter *it = nullptr;
    ASSERT_EQ(imap(pool, increment_bytes, items.data(), items.size(), 1, nullptr, &it), MPROC_OK);
    size_t index, seen = 0;
    const void *data;
    size_t len;
    while (mproc_iter_next(it, &index, &data, &len, 60.0) == MPROC_OK) seen++;
    EXPECT_EQ(seen, items.size());
    mproc_iter_free(it);
  }
  // The worker is a fresh image: named for its method, not a copy of us.
  g_initialized = 9;
  std::string who = reply_of(pool, who_runs_me);
  EXPECT_EQ(who.rfind("0:", 0), 0u) << who;
  const char *kind = GetParam() == MPROC_START_SPAWN ? ":SpawnPoolWorker-" : ":ForkServerPoolWorker-";
  EXPECT_NE(who.find(kind), std::string::npos) << who;
  g_initialized = 0;
  close_and_join(pool);
}

TEST_P(StartMethod, PoolInitializerAndMaxTasksPerChild) {
  mproc_pool *pool = nullptr;
  ASSERT_EQ(mproc_pool_new(&pool, 1), MPROC_OK);
  unsigned char seven = 7;
  ASSERT_EQ(mproc_pool_set_initializer(pool, set_initialized, &seven, 1, nullptr), MPROC_OK);
  ASSERT_EQ(mproc_pool_set_maxtasksperchild(pool, 1), MPROC_OK);
  ASSERT_EQ(mproc_pool_set_start_method(pool, GetParam()), MPROC_OK);
  std::string first = reply_of(pool, who_runs_me);
  std::string second = reply_of(pool, who_runs_me);
  EXPECT_EQ(first.rfind("7:", 0), 0u) << first;  // replacements run it too
  EXPECT_EQ(second.rfind("7:", 0), 0u) << second;
  EXPECT_NE(first.substr(0, first.rfind(':')), second.substr(0, second.rfind(':')))
      << "one task per child: a new worker (pid) each time";
  close_and_join(pool);
}

TEST_P(StartMethod, PoolIsolatesCrashesAndTimeouts) {
  mproc_pool *pool = make_pool(GetParam(), 2);
  ASSERT_EQ(mproc_pool_set_task_timeout(pool, 0.5), MPROC_OK);
  mproc_result *crash = nullptr, *slow = nullptr;
  ASSERT_EQ(mproc_pool_apply_async(pool, crash_task, nullptr, 0, nullptr, &crash), MPROC_OK);
  ASSERT_EQ(mproc_pool_apply_async(pool, sleep_task, nullptr, 0, nullptr, &slow), MPROC_OK);
  const void *data;
  size_t len;
  EXPECT_EQ(mproc_result_get(crash, &data, &len, 60.0), MPROC_E_WORKER_DIED);
  int code = 0;
  EXPECT_EQ(mproc_result_worker_exitcode(crash, &code), MPROC_OK);
  EXPECT_EQ(code, -SIGSEGV);
  EXPECT_EQ(mproc_result_get(slow, &data, &len, 60.0), MPROC_E_TASK_TIMEOUT);
  mproc_result_free(crash);
  mproc_result_free(slow);
  EXPECT_EQ(reply_of(pool, increment_bytes, "x"), "y");  // replaced workers serve on
  close_and_join(pool);
}

TEST_P(StartMethod, PoolTerminateLeavesNoProcess) {
  int method = GetParam();
  EXPECT_EQ(run_in_child([method] {
              mproc_pool *pool = make_pool(method, 2);
              mproc_result *r = nullptr;
              if (mproc_pool_apply_async(pool, sleep_task, nullptr, 0, nullptr, &r) != MPROC_OK)
                return 1;
              if (!wait_until(
                      [pool] {
                        uint64_t alive = 0;
                        mproc_pool_stat(pool, MPROC_POOL_STAT_WORKERS_ALIVE, &alive);
                        return alive == 2;
                      },
                      30.0))
                return 2;
              if (mproc_pool_terminate(pool) != MPROC_OK) return 3;
              if (mproc_pool_join(pool, 60.0) != MPROC_OK) return 4;
              const void *data;
              size_t len;
              if (mproc_result_get(r, &data, &len, 0) != MPROC_E_CANCELLED) return 5;
              mproc_result_free(r);
              mproc_pool_free(pool);
              // Spawned workers are our children; forkserver ones the
              // server's, which counts its own children as ours here.
              std::string path = "/proc/" + std::to_string(mproc_forkserver_pid()) + "/task/" +
                                 std::to_string(mproc_forkserver_pid()) + "/children";
              bool server_idle = wait_until(
                  [&] {
                    FILE *f = fopen(path.c_str(), "r");
                    if (!f) return true;  // no server
                    int ch = fgetc(f);
                    fclose(f);
                    return ch == EOF;
                  },
                  30.0);
              if (!server_idle) return 6;
              siginfo_t si{};
              bool only_server = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) != 0 ||
                                 si.si_pid == 0;
              return only_server ? 0 : 7;
            }),
            0);
}

TEST_P(StartMethod, PoolRefusesWhatCannotReachAFreshImage) {
  mproc_pool *pool = make_pool(GetParam(), 1);
  mproc_result *r = nullptr;
  int marker = 0;
  EXPECT_EQ(mproc_pool_apply_async(pool, unregistered_task, nullptr, 0, nullptr, &r), MPROC_E_NOENT);
  EXPECT_EQ(mproc_pool_apply_async(pool, increment_bytes, "a", 1, &marker, &r), MPROC_E_INVAL);
  mproc_iter *it = nullptr;
  mproc_bytes item{"a", 1};
  EXPECT_EQ(mproc_pool_imap(pool, unregistered_task, &item, 1, 1, nullptr, &it), MPROC_E_NOENT);
  EXPECT_EQ(mproc_pool_set_initializer(pool, set_initialized, nullptr, 0, &marker), MPROC_E_INVAL);
  EXPECT_EQ(mproc_pool_set_initializer(pool, unregistered_target, nullptr, 0, nullptr),
            MPROC_E_NOENT);
  EXPECT_EQ(mproc_pool_set_start_method(pool, 42), MPROC_E_INVAL);
  EXPECT_EQ(reply_of(pool, increment_bytes, "a"), "b");
  EXPECT_EQ(mproc_pool_set_start_method(pool, MPROC_START_FORK), MPROC_E_STATE);
  close_and_join(pool);
  // A fork pool takes anything, until it is made a spawn pool.
  ASSERT_EQ(mproc_pool_new(&pool, 1), MPROC_OK);
  EXPECT_EQ(mproc_pool_set_initializer(pool, set_initialized, nullptr, 0, &marker), MPROC_OK);
  EXPECT_EQ(mproc_pool_set_start_method(pool, GetParam()), MPROC_E_INVAL);
  mproc_pool_free(pool);
}

TEST_P(StartMethod, PoolInitializerFailureIsReported) {
  mproc_pool *pool = nullptr;
  ASSERT_EQ(mproc_pool_new(&pool, 1), MPROC_OK);
  ASSERT_EQ(mproc_pool_set_initializer(pool, failing_initializer, nullptr, 0, nullptr), MPROC_OK);
  ASSERT_EQ(mproc_pool_set_start_method(pool, GetParam()), MPROC_OK);
  mproc_result *r = nullptr;
  int rc = mproc_pool_apply_async(pool, increment_bytes, "a", 1, nullptr, &r);
  if (rc == MPROC_OK) {
    const void *data;
    size_t len;
    EXPECT_EQ(mproc_result_get(r, &data, &len, 60.0), MPROC_E_INIT_FAILED);
    mproc_result_free(r);
  } else {
    EXPECT_EQ(rc, MPROC_E_INIT_FAILED);
  }
  mproc_pool_terminate(pool);
  mproc_pool_free(pool);
}

TEST_P(StartMethod, PoolTasksReachExportedQueues) {
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_new(&q, 0, 0), MPROC_OK);
  char token[MPROC_QUEUE_TOKEN_MAX];
  ASSERT_EQ(mproc_queue_export(q, token, sizeof token), MPROC_OK);
  mproc_pool *pool = make_pool(GetParam(), 1);  // its workers start after the export
  void *out = nullptr;
  size_t out_len = 0;
  EXPECT_EQ(mproc_pool_apply(pool, put_to_token_task, token, strlen(token), nullptr, &out, &out_len),
            MPROC_OK);
  mproc_free(out);
  char buf[16];
  size_t len = 0;
  EXPECT_EQ(mproc_queue_get(q, buf, sizeof buf, &len, 30.0), MPROC_OK);
  EXPECT_EQ(std::string(buf, len), "hello");
  close_and_join(pool);
  mproc_queue_free(q);
}

// --- spawn only -------------------------------------------------------------

TEST(Spawn, ExecFailureIsReportedAndLeavesNoChild) {
  EXPECT_EQ(run_in_child([] {
              if (mproc_set_executable("") != MPROC_E_INVAL) return 1;
              if (mproc_set_executable("/nonexistent/mproc-program") != MPROC_OK) return 2;
              mproc_process *p = make(MPROC_START_SPAWN, return_arg_byte);
              if (mproc_process_start(p) != MPROC_E_NOENT) return 3;
              if (mproc_forkserver_start() != MPROC_E_NOENT) return 4;
              if (!mproc_test::has_no_children()) return 5;
              // Not executable: permission denied.
              if (mproc_set_executable("/dev/null") != MPROC_OK) return 6;
              if (mproc_process_start(p) != MPROC_E_PERM) return 7;
              if (mproc_set_executable(nullptr) != MPROC_OK) return 8;
              if (mproc_process_start(p) != MPROC_OK) return 9;  // a failed start may be retried
              if (joined_exitcode(p) != 0) return 10;
              mproc_process_free(p);
              return mproc_test::has_no_children() ? 0 : 11;
            }),
            0);
}

// Run by a shell that hosts the spawned child, as an interpreter would:
// /bin/sh -c 'exec "$0" "$@"' PROGRAM --mproc-spawn.
TEST(Spawn, AnInterpreterCanHostTheChild) {
  EXPECT_EQ(run_in_child([] {
              char self[4096];
              ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
              if (n <= 0) return 1;
              self[n] = '\0';
              const char *args[] = {"-c", "exec \"$0\" \"$@\"", self, nullptr};
              if (mproc_set_executable_argv("/bin/sh", args) != MPROC_OK) return 2;
              unsigned char b = 61;
              return run_to_exit(MPROC_START_SPAWN, return_arg_byte, &b, 1) == 61 ? 0 : 3;
            }),
            0);
}

TEST(Spawn, ProgramWithoutMprocMainIsRefusedNotAForkBomb) {
  // tests/unit/no_main_guard.c registers a target, never calls mproc_main()
  // and spawns itself: the child runs main() again and must be refused.
  std::string exe = std::string(getenv("MPROC_TEST_BUILD_DIR") ? getenv("MPROC_TEST_BUILD_DIR") : ".") +
                    "/no-main-guard";
  Pipe out;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out.wr, STDOUT_FILENO);
    dup2(out.wr, STDERR_FILENO);
    execl(exe.c_str(), exe.c_str(), static_cast<char *>(nullptr));
    _exit(127);
  }
  out.close_wr();
  std::string text = out.read_all(60.0);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << text;
  EXPECT_EQ(WEXITSTATUS(status), 0) << text;
  EXPECT_NE(text.find("did not call mproc_main"), std::string::npos) << text;
  EXPECT_NE(text.find("parent: child refused, exit code 3"), std::string::npos) << text;
}

// --- forkserver only --------------------------------------------------------

// 'Z' once a process has exited and awaits its reaper, '?' once gone.
char process_state(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", static_cast<int>(pid));
  FILE *f = fopen(path, "r");
  if (!f) return '?';
  char state = '?';
  int n = fscanf(f, "%*d %*s %c", &state);
  fclose(f);
  return n == 1 ? state : '?';
}

TEST(ForkServer, SurvivesItsServerBeingKilled) {
  EXPECT_EQ(run_in_child([] {
              if (mproc_forkserver_start() != MPROC_OK) return 1;
              pid_t server = mproc_forkserver_pid();
              if (server <= 0) return 2;
              mproc_process *sleeper = make(MPROC_START_FORKSERVER, sleep_forever);
              if (mproc_process_start(sleeper) != MPROC_OK) return 3;
              kill(server, SIGKILL);
              if (!wait_until([server] { return process_state(server) == 'Z'; }, 30.0)) return 4;
              if (!getenv("MPROC_NO_PIDFD")) {
                // The orphan still runs, and its pidfd still reaches it.
                if (mproc_process_is_alive(sleeper) != 1) return 5;
                if (mproc_process_join(sleeper, 0.1) != MPROC_E_TIMEOUT) return 6;
                if (mproc_process_kill(sleeper) != MPROC_OK) return 7;
              } else {
                kill(mproc_process_pid(sleeper), SIGKILL);  // nothing else reaches it
              }
              // The exit status died with the server: 255, and join returns.
              if (mproc_process_join(sleeper, 30.0) != MPROC_OK) return 8;
              int code = 0;
              mproc_process_exitcode(sleeper, &code);
              if (code != 255) return 9;
              mproc_process_free(sleeper);
              // The next start restarts the server.
              unsigned char b = 9;
              if (run_to_exit(MPROC_START_FORKSERVER, return_arg_byte, &b, 1) != 9) return 10;
              pid_t again = mproc_forkserver_pid();
              if (again <= 0 || again == server) return 11;
              return 0;
            }),
            0);
}

TEST(ForkServer, AServerKilledWhileIdleIsRestartedTransparently) {
  EXPECT_EQ(run_in_child([] {
              for (int round = 0; round < 3; round++) {
                unsigned char b = static_cast<unsigned char>(round + 1);
                if (run_to_exit(MPROC_START_FORKSERVER, return_arg_byte, &b, 1) != round + 1)
                  return 10 + round;
                kill(mproc_forkserver_pid(), SIGKILL);  // and start at once: no waiting
              }
              return 0;
            }),
            0);
}

TEST(ForkServer, ChildrenAreTheServersNotOurs) {
  EXPECT_EQ(run_in_child([] {
              mproc_process *p = make(MPROC_START_FORKSERVER, sleep_forever);
              if (mproc_process_start(p) != MPROC_OK) return 1;
              char path[64];
              snprintf(path, sizeof path, "/proc/%d/stat", mproc_process_pid(p));
              FILE *f = fopen(path, "r");
              if (!f) return 2;
              int pid, ppid;
              char state;
              int n = fscanf(f, "%d %*s %c %d", &pid, &state, &ppid);
              fclose(f);
              mproc_process_kill(p);
              if (joined_exitcode(p) != -SIGKILL) return 3;
              mproc_process_free(p);
              if (n != 3) return 4;
              return ppid == mproc_forkserver_pid() ? 0 : 5;
            }),
            0);
}

// --- fork from a threaded process -------------------------------------------

// Runs body in a fresh process with stderr captured; returns what it wrote.
std::string stderr_of(const std::function<int()> &body, int *rc) {
  Pipe err;
  *rc = run_in_child([&] {
    dup2(err.wr, STDERR_FILENO);
    err.close_rd();
    return body();
  });
  err.close_wr();
  return err.read_all(30.0);
}

// Starts fn twice with the process-wide default method while another
// thread runs; returns the last exit code.
int fork_twice_with_a_thread_running() {
  std::atomic<bool> stop{false};
  std::thread t([&stop] {
    while (!stop) usleep(1000);
  });
  int code = -1;
  for (int i = 0; i < 2; i++) {
    mproc_process *p = nullptr;
    mproc_process_new(&p, return_arg_byte, nullptr, 0, nullptr);
    if (mproc_process_start(p) != MPROC_OK) return 99;
    mproc_process_join(p, 60.0);
    mproc_process_exitcode(p, &code);
    mproc_process_free(p);
  }
  stop = true;
  t.join();
  return code;
}

TEST(ForkWarning, WarnsOnceWhenOtherThreadsRun) {
  int rc;
  std::string err = stderr_of(fork_twice_with_a_thread_running, &rc);
  EXPECT_EQ(rc, 0);
  size_t first = err.find("warning: starting a child with fork()");
  EXPECT_NE(first, std::string::npos) << err;
  EXPECT_EQ(err.find("mproc: warning", first + 1), std::string::npos) << "warned twice: " << err;
}

TEST(ForkWarning, SilentWhenForkIsChosenExplicitly) {
  int rc;
  std::string err = stderr_of(
      [] {
        if (mproc_set_start_method(MPROC_START_FORK) != MPROC_OK) return 1;
        return fork_twice_with_a_thread_running();
      },
      &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err.find("warning"), std::string::npos) << err;
  // And per process: the threaded start with fork chosen on the handle.
  err = stderr_of(
      [] {
        std::atomic<bool> stop{false};
        std::thread t([&stop] {
          while (!stop) usleep(1000);
        });
        int code = run_to_exit(MPROC_START_FORK, return_arg_byte);
        stop = true;
        t.join();
        return code;
      },
      &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err.find("warning"), std::string::npos) << err;
}

TEST(ForkWarning, SilentWithoutOtherThreads) {
  int rc;
  std::string err = stderr_of(
      [] {
        mproc_process *p = nullptr;
        mproc_process_new(&p, return_arg_byte, nullptr, 0, nullptr);
        if (mproc_process_start(p) != MPROC_OK) return 1;
        int code = joined_exitcode(p);
        mproc_process_free(p);
        return code;
      },
      &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(err.find("warning"), std::string::npos) << err;
}

}  // namespace

int main(int argc, char **argv) {
  // Spawned children and the fork server run in here and never return.
  mproc_main(argc, argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
