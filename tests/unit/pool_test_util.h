// Pool tasks and helpers shared by the local pool suite (test_pool.cc) and
// the MPI pool suite (tests/mpi/test_mpi_pool.cc): arguments and replies
// are little int64 values.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "mproc.h"

// inline: a suite that uses only some of them gets no unused-function warning.
namespace {

inline int64_t arg_int(const void *arg, size_t len) {
  int64_t v = 0;
  if (len == sizeof v) memcpy(&v, arg, sizeof v);
  return v;
}

inline int reply_int(mproc_reply *r, int64_t v) { return mproc_reply_set(r, &v, sizeof v); }

inline int64_t as_int(const void *data, size_t len) { return arg_int(data, len); }

inline int square(const void *arg, size_t len, mproc_reply *r, void *) {
  int64_t v = arg_int(arg, len);
  reply_int(r, v * v);
  return 0;
}

inline int report_pid(const void *, size_t, mproc_reply *r, void *) {
  reply_int(r, getpid());
  return 0;
}

// Sleeps arg milliseconds, then answers with arg.
inline int sleep_ms_task(const void *arg, size_t len, mproc_reply *r, void *) {
  int64_t ms = arg_int(arg, len);
  usleep(static_cast<useconds_t>(ms * 1000));
  reply_int(r, ms);
  return 0;
}

inline int fail_with_message(const void *, size_t, mproc_reply *r, void *) {
  mproc_reply_set(r, "bad input", 9);
  return 7;
}

// Crashes the worker in the way arg says; other values square.
enum Crash : int64_t { kSegv = -1, kAbort = -2, kExit = -3, kSigkill = -4 };
inline int crash_on_negative(const void *arg, size_t len, mproc_reply *r, void *) {
  int64_t v = arg_int(arg, len);
  prctl(PR_SET_DUMPABLE, 0);
  switch (v) {
    case kSegv: signal(SIGSEGV, SIG_DFL); raise(SIGSEGV); break;
    case kAbort: abort();
    case kExit: _exit(3);
    case kSigkill: raise(SIGKILL); break;
    default: break;
  }
  reply_int(r, v * v);
  return 0;
}

inline int echo(const void *arg, size_t len, mproc_reply *r, void *) {
  return mproc_reply_set(r, arg, len);
}

inline void close_join_free(mproc_pool *p) {
  EXPECT_EQ(mproc_pool_close(p), MPROC_OK);
  EXPECT_EQ(mproc_pool_join(p, 60.0), MPROC_OK);
  mproc_pool_free(p);
}

inline std::vector<int64_t> range(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; i++) v[static_cast<size_t>(i)] = i;
  return v;
}

inline std::vector<mproc_bytes> as_items(const std::vector<int64_t> &v) {
  std::vector<mproc_bytes> items;
  for (const int64_t &x : v) items.push_back(mproc_bytes{&x, sizeof x});
  return items;
}

}  // namespace
