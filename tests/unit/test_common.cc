// Versions, error codes and the process-wide helpers of mproc-common.h.
#include <errno.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>

#include "mproc.h"
#include "test_helpers.h"

namespace {

const int kAllCodes[] = {
    MPROC_E_INVAL,      MPROC_E_NOMEM,       MPROC_E_NOENT,        MPROC_E_EXIST,
    MPROC_E_PERM,       MPROC_E_TIMEOUT,     MPROC_E_BUSY,         MPROC_E_STATE,
    MPROC_E_FULL,       MPROC_E_EMPTY,       MPROC_E_CLOSED,       MPROC_E_TOOBIG,
    MPROC_E_BAD_SEGMENT, MPROC_E_TASK_FAILED, MPROC_E_WORKER_DIED, MPROC_E_TASK_TIMEOUT,
    MPROC_E_CANCELLED,  MPROC_E_INIT_FAILED, MPROC_E_SYS,
};

TEST(Version, RuntimeMatchesHeaders) {
  EXPECT_EQ(mproc_version_number(), static_cast<uint32_t>(MPROC_VERSION_NUMBER));
  EXPECT_STREQ(mproc_version_string(), MPROC_VERSION_STRING);
  char expect[32];
  snprintf(expect, sizeof expect, "%d.%d.%d", MPROC_VERSION_MAJOR, MPROC_VERSION_MINOR,
           MPROC_VERSION_PATCH);
  EXPECT_STREQ(mproc_version_string(), expect);
  EXPECT_EQ(MPROC_VERSION_NUMBER,
            MPROC_VERSION_MAJOR * 10000 + MPROC_VERSION_MINOR * 100 + MPROC_VERSION_PATCH);
}

TEST(Errors, CodesAreDistinctAndNegative) {
  std::set<int> seen;
  for (int c : kAllCodes) {
    EXPECT_LT(c, 0) << mproc_error_name(c);
    EXPECT_TRUE(seen.insert(c).second) << "duplicate value " << c;
  }
  EXPECT_EQ(MPROC_OK, 0);
  EXPECT_EQ(MPROC_DONE, 1);
  EXPECT_EQ(MPROC_FOREVER, -1.0);
}

TEST(Errors, ErrnoBasedCodesAreNegatedErrno) {
  EXPECT_EQ(MPROC_E_INVAL, -EINVAL);
  EXPECT_EQ(MPROC_E_NOMEM, -ENOMEM);
  EXPECT_EQ(MPROC_E_NOENT, -ENOENT);
  EXPECT_EQ(MPROC_E_EXIST, -EEXIST);
  EXPECT_EQ(MPROC_E_PERM, -EPERM);
  EXPECT_EQ(MPROC_E_TIMEOUT, -ETIMEDOUT);
  EXPECT_EQ(MPROC_E_BUSY, -EBUSY);
  for (int c : {MPROC_E_STATE, MPROC_E_FULL, MPROC_E_EMPTY, MPROC_E_CLOSED, MPROC_E_TOOBIG,
                MPROC_E_BAD_SEGMENT, MPROC_E_TASK_FAILED, MPROC_E_WORKER_DIED,
                MPROC_E_TASK_TIMEOUT, MPROC_E_CANCELLED, MPROC_E_INIT_FAILED, MPROC_E_SYS})
    EXPECT_LE(c, -1000) << mproc_error_name(c);
}

TEST(Errors, NamesSpellTheMacro) {
  EXPECT_STREQ(mproc_error_name(MPROC_OK), "MPROC_OK");
  EXPECT_STREQ(mproc_error_name(MPROC_DONE), "MPROC_DONE");
  EXPECT_STREQ(mproc_error_name(MPROC_E_FULL), "MPROC_E_FULL");
  EXPECT_STREQ(mproc_error_name(MPROC_E_BAD_SEGMENT), "MPROC_E_BAD_SEGMENT");
  EXPECT_STREQ(mproc_error_name(MPROC_E_TIMEOUT), "MPROC_E_TIMEOUT");
  std::set<std::string> names;
  for (int c : kAllCodes) {
    std::string name = mproc_error_name(c);
    EXPECT_EQ(name.rfind("MPROC_E_", 0), 0u) << name;
    EXPECT_NE(name, "MPROC_E_UNKNOWN") << c;
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(Errors, StrerrorIsNeverNullAndDistinct) {
  std::set<std::string> texts;
  for (int c : kAllCodes) {
    const char *t = mproc_strerror(c);
    ASSERT_NE(t, nullptr);
    EXPECT_GT(strlen(t), 3u);
    EXPECT_TRUE(texts.insert(t).second) << t;
  }
  EXPECT_STREQ(mproc_strerror(MPROC_OK), "Success");
}

TEST(Errors, UnknownCodesAreReportedAsUnknown) {
  for (int c : {-999, -5000, 42, -1013, -4, 2}) {
    EXPECT_STREQ(mproc_error_name(c), "MPROC_E_UNKNOWN") << c;
    EXPECT_STREQ(mproc_strerror(c), "Unknown error") << c;
  }
}

TEST(CpuCount, MatchesAffinityMask) {
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
  EXPECT_EQ(mproc_cpu_count(), CPU_COUNT(&set));
  EXPECT_GE(mproc_cpu_count(), 1);
}

TEST(CpuCount, FollowsANarrowedAffinityMask) {
  int rc = mproc_test::run_in_child([] {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 10;
    int first = -1;
    for (int i = 0; i < CPU_SETSIZE && first < 0; i++)
      if (CPU_ISSET(i, &set)) first = i;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof one, &one) != 0) return 11;
    return mproc_cpu_count() == 1 ? 0 : 12;
  });
  EXPECT_EQ(rc, 0);
}

TEST(Free, AcceptsNullAndMallocMemory) {
  mproc_free(nullptr);
  mproc_free(malloc(16));
}

TEST(CurrentName, MainProcess) { EXPECT_STREQ(mproc_current_name(), "MainProcess"); }

}  // namespace
