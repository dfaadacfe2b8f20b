// Crash robustness of mproc_queue: a peer SIGKILLed at any instant never
// blocks the survivors for long, never exposes a half-written message and
// never loses a fully put one.
//
// QueueCrashPoint: a forked child runs one put or get with
// MPROC_QUEUE_CRASHPOINT set (see src/queue/crashpoint.h), so it kills
// itself at an exact step of the protocol; the test then checks what the
// survivors see, how fast, and that the queue stays usable.
//
// QueueSoak: producers and consumers killed with kill -9 at random and
// restarted, every message carrying an id and a checksum; at the end
// nothing is lost, duplicated or torn, and progress never stalled over 1 s.
// MPROC_SOAK_SECONDS sets its length (default 5).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mproc.h"
#include "queue_test_util.h"
#include "test_helpers.h"

using mproc_test::now_s;
using mproc_test::Pipe;
using mproc_test::run_in_child;
using mproc_test::write_str;
using qtest::get_msg;
using qtest::Got;
using qtest::put_msg;
using qtest::ShmView;
using qtest::unique_name;
using qtest::Unlinker;
namespace off = qtest::off;

namespace {

// Survivors must get going again well within this (the design bound is a
// lock slice plus a wait slice, ~60 ms; the margin is for loaded CI).
constexpr double kRecoveryBound = 2.0;

// Forks a child that arms `point` and runs body; returns its exit code
// (-SIGKILL when it died at the point, 0 if it never reached it).
int run_with_crashpoint(const std::string &point, const std::function<void()> &body) {
  return run_in_child(
      [&] {
        setenv("MPROC_QUEUE_CRASHPOINT", point.c_str(), 1);
        body();
        return 0;
      },
      30);
}

// Drains the queue; returns the seqs it held (producer ignored).
std::vector<uint32_t> drain(mproc_queue *q, size_t expect, double timeout) {
  std::vector<uint32_t> seqs;
  double end = now_s() + timeout;
  while (seqs.size() < expect && now_s() < end) {
    Got g = get_msg(q, 0.05);
    if (g.rc == MPROC_E_EMPTY) continue;
    EXPECT_EQ(g.rc, MPROC_OK);
    EXPECT_TRUE(g.intact) << "torn message";
    if (g.rc != MPROC_OK) break;
    seqs.push_back(g.seq);
  }
  // Nothing more than expected shows up either.
  Got extra = get_msg(q, 0.2);
  EXPECT_EQ(extra.rc, MPROC_E_EMPTY) << "unexpected extra message seq " << extra.seq;
  return seqs;
}

// The ring's space comes back: several laps of puts and gets, all prompt.
void expect_ring_usable(mproc_queue *q) {
  for (uint32_t i = 0; i < 40; i++) {
    ASSERT_EQ(put_msg(q, 5, i, 900, kRecoveryBound), MPROC_OK) << "lap message " << i;
    Got g = get_msg(q, kRecoveryBound);
    ASSERT_EQ(g.rc, MPROC_OK);
    ASSERT_TRUE(g.intact);
    ASSERT_EQ(g.seq, i);
  }
}

// A process that attaches by name afterwards can use the queue.
void expect_new_attacher_works(const std::string &name) {
  int code = run_in_child([&] {
    mproc_queue *q = nullptr;
    if (mproc_queue_open(&q, name.c_str()) != MPROC_OK) return 1;
    int rc = put_msg(q, 6, 1, 100, kRecoveryBound);
    Got g = get_msg(q, kRecoveryBound);
    mproc_queue_free(q);
    return rc == MPROC_OK && g.rc == MPROC_OK && g.intact && g.seq == 1 ? 0 : 2;
  });
  EXPECT_EQ(code, 0);
}

// What every crash case ends with: the queue laps its ring again, nothing
// is left counted, the journal is disarmed, and a newcomer can use it.
void expect_healthy_after_recovery(mproc_queue *q, const std::string &name) {
  expect_ring_usable(q);
  ShmView v(name);
  EXPECT_EQ(v.u32(off::kJournalArmed), 0u);
  EXPECT_EQ(mproc_queue_qsize(q), 0);
  expect_new_attacher_works(name);
}

// A new queue holding messages 0 (1500 B) and 1 (300 B), whose first
// consumer died copying message 0 out. Unlinked by the caller's Unlinker.
mproc_queue *queue_with_dead_consumer(const std::string &name) {
  mproc_queue *q = nullptr;
  EXPECT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  EXPECT_EQ(put_msg(q, 1, 0, 1500, 0), MPROC_OK);
  EXPECT_EQ(put_msg(q, 1, 1, 300, 0), MPROC_OK);
  EXPECT_EQ(run_with_crashpoint("get.copy:1", [&] { get_msg(q, 5); }), -SIGKILL);
  return q;
}

// Exit code of a child that attaches by name (recovering on the way) and
// then gets one message, with `point` armed.
int attach_and_get_with_crashpoint(const std::string &name, const char *point) {
  return run_with_crashpoint(point, [&] {
    mproc_queue *r = nullptr;
    if (mproc_queue_open(&r, name.c_str()) == MPROC_OK) get_msg(r, 5);
  });
}

// "put.copy" -> "put_copy" (GoogleTest names allow no dots).
std::string test_name(const char *point) {
  std::string n = point;
  for (char &ch : n)
    if (ch == '.') ch = '_';
  return n;
}

struct PutCase {
  const char *point;
  size_t maxsize;  // 0: the lock-free claim; else the claim under the lock
  bool delivered;  // the dying put's message must come out (it committed)
  bool abandoned;  // recovery must drop a claimed, uncommitted record
};

class QueuePutCrash : public ::testing::TestWithParam<PutCase> {};

TEST_P(QueuePutCrash, SurvivorsSeeWholeMessagesOnly) {
  const PutCase &c = GetParam();
  std::string name = unique_name("putcrash");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), c.maxsize, 4096), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 300, 0), MPROC_OK);
  // The child's first use of the inherited handle attaches it (no lock, no
  // journal), so ":1" is the put's own step. 1500 + 300 bytes from 320: the
  // dying put's record is followed by the survivor's.
  int code = run_with_crashpoint(std::string(c.point) + ":1", [&] { put_msg(q, 1, 1, 1500, 5); });
  ASSERT_EQ(code, -SIGKILL) << "the child never reached " << c.point;

  double t0 = now_s();
  ASSERT_EQ(put_msg(q, 1, 2, 300, kRecoveryBound), MPROC_OK);
  std::vector<uint32_t> seqs = drain(q, c.delivered ? 3 : 2, kRecoveryBound);
  EXPECT_LT(now_s() - t0, kRecoveryBound);
  std::vector<uint32_t> want = c.delivered ? std::vector<uint32_t>{0, 1, 2} : std::vector<uint32_t>{0, 2};
  EXPECT_EQ(seqs, want);
  EXPECT_EQ(ShmView(name).u64(off::kStatAbandoned), c.abandoned ? 1u : 0u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

std::string put_case_name(const ::testing::TestParamInfo<PutCase> &tp) {
  return test_name(tp.param.point) + (tp.param.maxsize ? "_counted" : "");
}

INSTANTIATE_TEST_SUITE_P(
    LockFree, QueuePutCrash,
    ::testing::Values(PutCase{"put.intent", 0, false, false}, PutCase{"put.claimed", 0, false, true},
                      PutCase{"put.copy", 0, false, true}, PutCase{"put.copied", 0, false, true},
                      PutCase{"put.committed", 0, true, false}),
    put_case_name);

INSTANTIATE_TEST_SUITE_P(
    Counted, QueuePutCrash,
    ::testing::Values(PutCase{"lock.held", 5, false, false}, PutCase{"txn.half", 5, false, true},
                      PutCase{"txn.applied", 5, false, true}, PutCase{"put.claimed", 5, false, true},
                      PutCase{"put.copy", 5, false, true}, PutCase{"put.copied", 5, false, true},
                      PutCase{"put.committed", 5, true, false}),
    put_case_name);

TEST(QueueCrashPoint, DeadPadClaimIsClosed) {
  // A waiting put that must start at the ring's beginning first claims the
  // end of the ring as a pad; its producer dies right after that claim. The
  // pad is written by recovery, and the ring goes on.
  std::string name = unique_name("padcrash");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 1024), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 440, 0), MPROC_OK);  // [0, 512)
  ASSERT_EQ(put_msg(q, 1, 1, 100, 0), MPROC_OK);  // [512, 640)
  ASSERT_EQ(get_msg(q, 0).seq, 0u);
  // 600 bytes need 640: not before the end, not at the start while [512, 640)
  // is queued; the put pads [640, 1024) and dies.
  ASSERT_EQ(run_with_crashpoint("put.claimed:1", [&] { put_msg(q, 1, 2, 600, 5); }), -SIGKILL);
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kTail), 1024u) << "the pad was claimed";
  ASSERT_EQ(get_msg(q, kRecoveryBound).seq, 1u);
  ASSERT_EQ(put_msg(q, 1, 3, 600, kRecoveryBound), MPROC_OK);
  std::vector<uint32_t> seqs = drain(q, 1, kRecoveryBound);
  EXPECT_EQ(seqs, std::vector<uint32_t>{3});
  EXPECT_EQ(v.u64(off::kStatAbandoned), 0u) << "a pad carries no message";
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

struct GetCase {
  const char *point;
  bool consumed;     // the dying get took the message for good (it was done)
  bool redelivered;  // recovery must offer the claimed message again
};

class QueueGetCrash : public ::testing::TestWithParam<GetCase> {};

TEST_P(QueueGetCrash, ClaimedMessagesComeBack) {
  const GetCase &c = GetParam();
  std::string name = unique_name("getcrash");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 1500, 0), MPROC_OK);
  ASSERT_EQ(put_msg(q, 1, 1, 300, 0), MPROC_OK);
  int code = run_with_crashpoint(std::string(c.point) + ":1", [&] { get_msg(q, 5); });
  ASSERT_EQ(code, -SIGKILL) << "the child never reached " << c.point;

  double t0 = now_s();
  std::vector<uint32_t> seqs = drain(q, c.consumed ? 1 : 2, kRecoveryBound);
  EXPECT_LT(now_s() - t0, kRecoveryBound);
  std::multiset<uint32_t> got(seqs.begin(), seqs.end());
  std::multiset<uint32_t> want = c.consumed ? std::multiset<uint32_t>{1} : std::multiset<uint32_t>{0, 1};
  EXPECT_EQ(got, want);
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), c.redelivered ? 1u : 0u);
  EXPECT_EQ(v.u64(off::kRedeliver), 0u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

INSTANTIATE_TEST_SUITE_P(
    Points, QueueGetCrash,
    ::testing::Values(GetCase{"get.intent", false, false}, GetCase{"get.claimed", false, true},
                      GetCase{"get.copy", false, true}, GetCase{"get.copied", false, true},
                      GetCase{"get.done", true, false}, GetCase{"free.advanced", true, false}),
    [](const ::testing::TestParamInfo<GetCase> &tp) { return test_name(tp.param.point); });

TEST(QueueCrashPoint, LaterGetDiesAfterMarkingDone) {
  // The first message's consumer dies copying it out; the second's get
  // marks its record DONE (free cannot pass it: the first is still in use)
  // and dies right there. The first comes back, the second stays consumed,
  // and free gets past both.
  std::string name = unique_name("donecrash");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  for (uint32_t i = 0; i < 3; i++) ASSERT_EQ(put_msg(q, 1, i, 900, 0), MPROC_OK);
  ASSERT_EQ(run_with_crashpoint("get.copy:1", [&] { get_msg(q, 5); }), -SIGKILL);
  ASSERT_EQ(run_with_crashpoint("get.done:1", [&] { get_msg(q, 5); }), -SIGKILL);
  std::vector<uint32_t> seqs = drain(q, 2, kRecoveryBound);
  std::multiset<uint32_t> got(seqs.begin(), seqs.end());
  EXPECT_EQ(got, (std::multiset<uint32_t>{0, 2}));
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), 1u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

// Forks a child that runs body with `point` armed to stop it (SIGSTOP), and
// returns once it has stopped there (-1 if it exited instead).
pid_t stopped_child(const std::string &point, const std::function<void()> &body) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    setenv("MPROC_QUEUE_CRASHPOINT", (point + ":stop").c_str(), 1);
    body();
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) return -1;
  return pid;
}

// Resumes a stopped child and returns its exit code.
int resume_and_reap(pid_t pid) {
  kill(pid, SIGCONT);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(QueueCrashPoint, ConsumerOvertakenAfterTakingAtHead) {
  // A consumer takes the message at head and stops before it moves head
  // past it; another consumer steps over the taken record, moves head on and
  // takes the next message. The first, resumed, finds head moved (its CAS
  // fails) and must still copy out and finish its own record (it once took
  // the position from the failed CAS, i.e. another record).
  std::string name = unique_name("overtaken");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  for (uint32_t i = 0; i < 3; i++) ASSERT_EQ(put_msg(q, 1, i, 200, 0), MPROC_OK);
  pid_t pid = stopped_child("get.claimed:1", [&] {
    Got g = get_msg(q, 5);
    _exit(g.rc == MPROC_OK && g.intact && g.seq == 0 ? 0 : 1);
  });
  ASSERT_GT(pid, 0);
  Got g = get_msg(q, 0);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_TRUE(g.intact);
  EXPECT_EQ(g.seq, 1u) << "the taken record is stepped over";
  EXPECT_EQ(resume_and_reap(pid), 0) << "the overtaken consumer got its own message, whole";
  g = get_msg(q, 0);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_TRUE(g.intact);
  EXPECT_EQ(g.seq, 2u);
  EXPECT_EQ(get_msg(q, 0).rc, MPROC_E_EMPTY) << "nothing delivered twice";
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), 0u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, DeadPutIntentAtATailAnotherClaimMovedOn) {
  // A producer dies after writing its intent (a pad to the ring's end and a
  // record at the next lap's start) but before its claiming CAS. Another put
  // claims from that tail with no pad, up to the ring's end, and a third
  // claims the next lap's first bytes and stops before heading them. The
  // dead intent overlaps that live claim: recovery must not write the dead
  // put's pad or ABANDONED header over it (it did, and head and free then
  // passed a record still being written).
  std::string name = unique_name("overlap");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 1024), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 440, 0), MPROC_OK);  // [0, 512)
  ASSERT_EQ(put_msg(q, 1, 1, 100, 0), MPROC_OK);  // [512, 640)
  ASSERT_EQ(get_msg(q, 0).seq, 0u);
  ASSERT_EQ(get_msg(q, 0).seq, 1u);  // free = head = tail = 640
  // 600 bytes need 640: a pad [640, 1024) and [1024, 1664). Dies before the CAS.
  ASSERT_EQ(run_with_crashpoint("put.intent:1", [&] { put_msg(q, 1, 2, 600, 5); }), -SIGKILL);
  ASSERT_EQ(put_msg(q, 2, 0, 368, 0), MPROC_OK);  // [640, 1024): no pad
  pid_t pid = stopped_child("put.claimed:1", [&] { _exit(put_msg(q, 3, 0, 610, 5) == MPROC_OK ? 0 : 1); });
  ASSERT_GT(pid, 0);  // claimed [1024, 1664), not headed
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kTail), 1664u);
  // The ring is full: a waiting put runs recovery with the dead producer's
  // intent still there.
  EXPECT_NE(put_msg(q, 2, 1, 100, 0.3), MPROC_OK);
  EXPECT_EQ(v.u64(off::kStatAbandoned), 0u) << "a live claim was taken for the dead put's";
  EXPECT_EQ(resume_and_reap(pid), 0);
  Got g = get_msg(q, kRecoveryBound);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_EQ(g.producer, 2u);
  g = get_msg(q, kRecoveryBound);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_TRUE(g.intact);
  EXPECT_EQ(g.producer, 3u) << "the stopped put completes and is delivered";
  EXPECT_EQ(v.u64(off::kStatAbandoned), 0u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, StoppedProducerHoldsNobodyBack) {
  // A producer stopped half-way through copying its message is alive: its
  // record is neither abandoned nor in anybody's way. A later put is
  // delivered past it, even by a non-blocking get, and the stopped put
  // completes when the producer resumes.
  for (size_t maxsize : {size_t{0}, size_t{5}}) {
    std::string name = unique_name("stopput");
    mproc_queue *q = nullptr;
    ASSERT_EQ(mproc_queue_create(&q, name.c_str(), maxsize, 4096), MPROC_OK);
    Unlinker u(name);
    pid_t pid = stopped_child("put.copy:1", [&] { _exit(put_msg(q, 1, 0, 1000, 5) == MPROC_OK ? 0 : 1); });
    ASSERT_GT(pid, 0);
    ASSERT_EQ(put_msg(q, 2, 0, 100, 0), MPROC_OK);
    Got g = get_msg(q, 0);
    ASSERT_EQ(g.rc, MPROC_OK) << "maxsize " << maxsize;
    EXPECT_EQ(g.producer, 2u);
    EXPECT_EQ(mproc_queue_qsize(q), 1) << "the stopped put counts, it will complete";
    EXPECT_EQ(get_msg(q, 0.2).rc, MPROC_E_EMPTY) << "a slice passed: recovery left it alone";
    ShmView v(name);
    EXPECT_EQ(v.u64(off::kStatAbandoned), 0u);
    EXPECT_EQ(resume_and_reap(pid), 0);
    g = get_msg(q, kRecoveryBound);
    ASSERT_EQ(g.rc, MPROC_OK);
    EXPECT_TRUE(g.intact);
    EXPECT_EQ(g.producer, 1u);
    expect_healthy_after_recovery(q, name);
    mproc_queue_free(q);
  }
}

TEST(QueueCrashPoint, ConsumerDiesHoldingARecordAheadOfHead) {
  // A producer stops while writing the record at head; a consumer takes the
  // message behind it (ahead of head) and dies copying it out. It is
  // redelivered, and the stopped put still completes after it resumes.
  std::string name = unique_name("ahead");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  pid_t pid = stopped_child("put.copy:1", [&] { _exit(put_msg(q, 1, 0, 1000, 5) == MPROC_OK ? 0 : 1); });
  ASSERT_GT(pid, 0);
  ASSERT_EQ(put_msg(q, 2, 0, 100, 0), MPROC_OK);
  ASSERT_EQ(run_with_crashpoint("get.copy:1", [&] { get_msg(q, 5); }), -SIGKILL);
  Got g = get_msg(q, kRecoveryBound);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_TRUE(g.intact);
  EXPECT_EQ(g.producer, 2u) << "the dead consumer's message comes back";
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), 1u);
  EXPECT_EQ(resume_and_reap(pid), 0);
  g = get_msg(q, kRecoveryBound);
  ASSERT_EQ(g.rc, MPROC_OK);
  EXPECT_EQ(g.producer, 1u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, StoppedConsumerIsNotRecovered) {
  // A consumer stopped half-way through copying a message out is alive:
  // its message is not redelivered to anybody else, and the next one still
  // goes to the others.
  std::string name = unique_name("stopget");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 1000, 0), MPROC_OK);
  ASSERT_EQ(put_msg(q, 1, 1, 100, 0), MPROC_OK);
  pid_t pid = stopped_child("get.copy:1", [&] {
    Got g = get_msg(q, 5);
    _exit(g.rc == MPROC_OK && g.intact && g.seq == 0 ? 0 : 1);
  });
  ASSERT_GT(pid, 0);
  EXPECT_EQ(get_msg(q, 0).seq, 1u);
  EXPECT_EQ(get_msg(q, 0.2).rc, MPROC_E_EMPTY) << "a slice passed: message 0 stays with its consumer";
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), 0u);
  EXPECT_EQ(resume_and_reap(pid), 0);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

// A redelivered message is claimed under the lock: its second consumer dies
// at each step of that claim (or while copying it out), and it still comes
// out exactly once more.
class QueueRedeliveryCrash : public ::testing::TestWithParam<const char *> {};

TEST_P(QueueRedeliveryCrash, SecondDeathStillRedelivers) {
  std::string name = unique_name("redeliver");
  Unlinker u(name);
  mproc_queue *q = queue_with_dead_consumer(name);
  ASSERT_NE(q, nullptr);
  // The second child attaches (recovering message 0), then dies claiming it.
  ASSERT_EQ(attach_and_get_with_crashpoint(name, GetParam()), -SIGKILL);
  std::vector<uint32_t> seqs = drain(q, 2, kRecoveryBound);
  std::multiset<uint32_t> got(seqs.begin(), seqs.end());
  EXPECT_EQ(got, (std::multiset<uint32_t>{0, 1}));
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kRedeliver), 0u);
  expect_healthy_after_recovery(q, name);
  mproc_queue_free(q);
}

// ":2": the first lock (and journal) of that child is its attach recovery's.
INSTANTIATE_TEST_SUITE_P(Points, QueueRedeliveryCrash,
                         ::testing::Values("lock.held:2", "txn.half:2", "txn.applied:2", "get.copy:1"),
                         [](const ::testing::TestParamInfo<const char *> &tp) {
                           std::string n = test_name(tp.param);
                           for (char &ch : n)
                             if (ch == ':') ch = '_';
                           return n;
                         });

TEST(QueueCrashPoint, DeadWaiterLeavesNoResidue) {
  std::string name = unique_name("waiter");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  ShmView v(name);
  int code = run_with_crashpoint("wait.registered:1", [&] { get_msg(q, MPROC_FOREVER); });
  ASSERT_EQ(code, -SIGKILL);
  EXPECT_EQ(v.u32(off::kDataWaiters), 1u) << "the dead waiter is still counted";
  // Our own wait runs recovery when its time is up; the count is repaired.
  EXPECT_EQ(get_msg(q, 0.2).rc, MPROC_E_EMPTY);
  EXPECT_EQ(v.u32(off::kDataWaiters), 0u);
  EXPECT_EQ(v.active_slots(), 1) << "the dead child's slot was released";
  ASSERT_EQ(put_msg(q, 1, 0, 100, 0), MPROC_OK);
  EXPECT_EQ(get_msg(q, 0).rc, MPROC_OK);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, DeathDuringAttach) {
  for (const char *point : {"attach.locked:1", "attach.active:1"}) {
    std::string name = unique_name("attach");
    mproc_queue *q = nullptr;
    ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
    Unlinker u(name);
    ASSERT_EQ(put_msg(q, 1, 0, 100, 0), MPROC_OK);
    ASSERT_EQ(run_with_crashpoint(point, [&] { get_msg(q, 5); }), -SIGKILL) << point;
    // Attaching (which recovers) frees what the child had taken.
    mproc_queue *other = nullptr;
    ASSERT_EQ(mproc_queue_open(&other, name.c_str()), MPROC_OK);
    ShmView v(name);
    EXPECT_EQ(v.active_slots(), 2) << point;
    Got g = get_msg(other, kRecoveryBound);
    EXPECT_EQ(g.rc, MPROC_OK) << point;
    EXPECT_EQ(g.seq, 0u);
    mproc_queue_free(other);
    mproc_queue_free(q);
  }
}

TEST(QueueCrashPoint, RecovererKilledHalfWayIsReplaced) {
  // A consumer dies holding message 0; then a process that recovers it on
  // attach dies right after its first recovery step.
  std::string name = unique_name("recoverer");
  Unlinker u(name);
  mproc_queue *q = queue_with_dead_consumer(name);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(attach_and_get_with_crashpoint(name, "recover.step:1"), -SIGKILL);
  std::vector<uint32_t> seqs = drain(q, 2, kRecoveryBound);
  std::multiset<uint32_t> got(seqs.begin(), seqs.end());
  EXPECT_EQ(got, (std::multiset<uint32_t>{0, 1}));
  ShmView v(name);
  EXPECT_EQ(v.u64(off::kStatRedelivered), 1u) << "resolved once, not twice";
  expect_ring_usable(q);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, AttachTakesOverADeadParticipantsSlot) {
  // Every slot is taken by a dead participant (attaching through an
  // inherited handle runs no recovery), the first of them holding a
  // message it was reading. A new attacher must take over that slot and
  // must not mistake the dead owner's message for its own.
  std::string name = unique_name("takeover");
  Unlinker u(name);
  mproc_queue *q = queue_with_dead_consumer(name);
  ASSERT_NE(q, nullptr);
  ShmView v(name);
  int slots = static_cast<int>(v.u32(off::kMaxSlots));
  for (int i = v.active_slots(); i < slots; i++)
    ASSERT_EQ(run_with_crashpoint("attach.active:1", [&] { mproc_queue_full(q); }), -SIGKILL) << i;
  ASSERT_EQ(v.active_slots(), slots);

  mproc_queue *late = nullptr;
  ASSERT_EQ(mproc_queue_open(&late, name.c_str()), MPROC_OK);
  std::vector<uint32_t> seqs = drain(late, 2, kRecoveryBound);
  std::multiset<uint32_t> got(seqs.begin(), seqs.end());
  EXPECT_EQ(got, (std::multiset<uint32_t>{0, 1}));
  EXPECT_EQ(v.u64(off::kStatRedelivered), 1u);
  EXPECT_EQ(v.active_slots(), 2) << "the dead participants' slots were released";
  mproc_queue_free(late);
  mproc_queue_free(q);
}

TEST(QueueCrashPoint, ForkedChildDoesNotKeepADeadParentAlive) {
  // P attaches, forks C (which never touches the queue and outlives P),
  // then dies holding a message. C has inherited P's descriptors; had it
  // kept P's lock description open, P would look alive forever.
  std::string name = unique_name("orphan");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 4096), MPROC_OK);
  Unlinker u(name);
  ASSERT_EQ(put_msg(q, 1, 0, 500, 0), MPROC_OK);
  Pipe c_pid;
  int code = run_in_child([&] {
    setenv("MPROC_QUEUE_CRASHPOINT", "get.copy:1", 1);
    mproc_queue *pq = nullptr;
    if (mproc_queue_open(&pq, name.c_str()) != MPROC_OK) return 1;
    pid_t c = fork();
    if (c == 0) {
      close(c_pid.wr);
      sleep(30);
      _exit(0);
    }
    write_str(c_pid.wr, std::to_string(c));
    get_msg(pq, 5);
    return 2;
  });
  ASSERT_EQ(code, -SIGKILL);
  c_pid.close_wr();
  pid_t c = static_cast<pid_t>(std::stol("0" + c_pid.read_all(5)));
  ASSERT_GT(c, 0);
  double t0 = now_s();
  Got g = get_msg(q, 5);
  EXPECT_EQ(g.rc, MPROC_OK);
  EXPECT_EQ(g.seq, 0u);
  EXPECT_LT(now_s() - t0, kRecoveryBound);
  kill(c, SIGKILL);  // reaped by init: it was P's child, not ours
  mproc_queue_free(q);
}

// --- the soak ---------------------------------------------------------------

constexpr int kSoakProducers = 2;
constexpr int kSoakConsumers = 2;
constexpr uint32_t kSoakMaxSeq = 1u << 24;  // per producer; the soak ends early if all are sent
constexpr size_t kSoakSpread = 1000;  // message lengths 24..1023
constexpr size_t kSoakZone = 1024;

// In a MAP_SHARED mapping: written by the children, read by the supervisor
// after they die. Plain fields accessed with atomics.
struct SoakShared {
  uint32_t stop;
  uint32_t errors;
  uint64_t progress;
  char error_text[256];
  uint32_t attempt[kSoakProducers];  // next seq a producer incarnation starts at
  uint32_t sent[kSoakProducers];     // seqs below this were confirmed by put
  unsigned char zone[kSoakConsumers][kSoakZone];  // where each consumer's get copies to
  uint8_t delivered[kSoakProducers][kSoakMaxSeq];
};

template <typename T>
T ld(const T *p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
void st(T *p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

void soak_error(SoakShared *sh, const std::string &what) {
  if (__atomic_fetch_add(&sh->errors, 1u, __ATOMIC_ACQ_REL) == 0)
    snprintf(sh->error_text, sizeof sh->error_text, "%s", what.c_str());
}

[[noreturn]] void soak_producer(SoakShared *sh, const std::string &name, uint32_t p) {
  mproc_queue *q = nullptr;
  int rc = mproc_queue_open(&q, name.c_str());
  if (rc != MPROC_OK) {
    soak_error(sh, std::string("producer open: ") + mproc_error_name(rc));
    _exit(1);
  }
  unsigned char buf[kSoakZone];
  // Restart after the seq a killed incarnation may or may not have sent.
  uint32_t s = ld(&sh->attempt[p]);
  while (!ld(&sh->stop) && s < kSoakMaxSeq) {
    size_t len = qmsg_len(p, s, kSoakSpread);
    qmsg_fill(buf, len, p, s);
    st(&sh->attempt[p], s + 1);
    rc = mproc_queue_put(q, buf, len, 0.2);
    if (rc == MPROC_OK) {
      st(&sh->sent[p], s + 1);
      s++;
    } else if (rc != MPROC_E_FULL) {
      soak_error(sh, std::string("put: ") + mproc_error_name(rc));
      break;
    }
  }
  mproc_queue_free(q);
  _exit(0);
}

[[noreturn]] void soak_consumer(SoakShared *sh, const std::string &name, int c) {
  mproc_queue *q = nullptr;
  int rc = mproc_queue_open(&q, name.c_str());
  if (rc != MPROC_OK) {
    soak_error(sh, std::string("consumer open: ") + mproc_error_name(rc));
    _exit(1);
  }
  unsigned char *zone = sh->zone[c];
  for (;;) {
    st(reinterpret_cast<uint32_t *>(zone), ~0u);  // whatever was here is no message now
    size_t len = 0;
    rc = mproc_queue_get(q, zone, kSoakZone, &len, 0.2);
    if (rc == MPROC_E_EMPTY) continue;
    if (rc == MPROC_E_CLOSED) break;
    uint32_t p, s;
    if (rc != MPROC_OK) {
      soak_error(sh, std::string("get: ") + mproc_error_name(rc));
      break;
    }
    if (!qmsg_check(zone, len, &p, &s) || p >= kSoakProducers || s >= kSoakMaxSeq) {
      soak_error(sh, "torn or foreign message");
      break;
    }
    __atomic_fetch_add(&sh->delivered[p][s], uint8_t{1}, __ATOMIC_ACQ_REL);
    __atomic_fetch_add(&sh->progress, uint64_t{1}, __ATOMIC_ACQ_REL);
  }
  mproc_queue_free(q);
  _exit(0);
}

TEST(QueueSoak, RandomKill9) {
  double seconds = 5;
  if (const char *env = getenv("MPROC_SOAK_SECONDS")) seconds = atof(env);
  std::string name = unique_name("soak");
  mproc_queue *q = nullptr;
  ASSERT_EQ(mproc_queue_create(&q, name.c_str(), 0, 16384), MPROC_OK);
  Unlinker u(name);
  void *mem = mmap(nullptr, sizeof(SoakShared), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  auto *sh = static_cast<SoakShared *>(mem);

  constexpr int kProcs = kSoakProducers + kSoakConsumers;
  std::vector<pid_t> pids(kProcs, 0);
  auto spawn = [&](int i) {
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      if (i < kSoakProducers) soak_producer(sh, name, static_cast<uint32_t>(i));
      soak_consumer(sh, name, i - kSoakProducers);
    }
    pids[i] = pid;
  };
  for (int i = 0; i < kProcs; i++) spawn(i);

  // What a killed incarnation leaves open to doubt.
  std::set<std::pair<uint32_t, uint32_t>> maybe_sent;    // put may have returned
  std::set<std::pair<uint32_t, uint32_t>> maybe_gotten;  // copied out, maybe done
  std::mt19937 rng(static_cast<unsigned>(getpid()));
  int kills = 0;
  double start = now_s(), last_move = start, max_stall = 0;
  uint64_t last_progress = 0;
  auto watch = [&] {
    double t = now_s();
    uint64_t prog = ld(&sh->progress);
    if (prog != last_progress) {
      last_progress = prog;
      last_move = t;
    }
    max_stall = std::max(max_stall, t - last_move);
  };
  // Producers that have sent their whole sequence space stop, and then no
  // progress is expected: that is the end of the soak, not a stall.
  auto exhausted = [&] {
    for (int p = 0; p < kSoakProducers; p++)
      if (ld(&sh->sent[p]) < kSoakMaxSeq) return false;
    return true;
  };
  while (now_s() - start < seconds && ld(&sh->errors) == 0 && !exhausted()) {
    double nap_end = now_s() + (1 + rng() % 50) / 1000.0;
    while (now_s() < nap_end) {
      usleep(1000);
      watch();
    }
    int i = static_cast<int>(rng() % kProcs);
    kill(pids[i], SIGKILL);
    int status = 0;
    waitpid(pids[i], &status, 0);
    kills++;
    if (i < kSoakProducers) {
      uint32_t a = ld(&sh->attempt[i]), s = ld(&sh->sent[i]);
      if (a > s) maybe_sent.insert({static_cast<uint32_t>(i), a - 1});
    } else {
      uint32_t p, s;
      const unsigned char *zone = sh->zone[i - kSoakProducers];
      uint32_t zlen;
      memcpy(&zlen, zone + 8, 4);
      if (zlen <= kSoakZone && qmsg_check(zone, zlen, &p, &s)) maybe_gotten.insert({p, s});
    }
    spawn(i);
  }

  // Stop: producers finish their current put, consumers drain and leave.
  st(&sh->stop, 1u);
  for (int i = 0; i < kSoakProducers; i++) {
    int code = 0;
    double end = now_s() + 30;
    int status = 0;
    while (waitpid(pids[i], &status, WNOHANG) == 0 && now_s() < end) usleep(2000);
    code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    EXPECT_EQ(code, 0) << "producer " << i;
  }
  ASSERT_EQ(mproc_queue_shutdown(q, 0), MPROC_OK);
  for (int i = kSoakProducers; i < kProcs; i++) {
    double end = now_s() + 60;
    int status = 0;
    pid_t r;
    while ((r = waitpid(pids[i], &status, WNOHANG)) == 0 && now_s() < end) usleep(2000);
    if (r == 0) {
      kill(pids[i], SIGKILL);
      waitpid(pids[i], &status, 0);
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "consumer did not drain and exit";
  }

  ASSERT_EQ(ld(&sh->errors), 0u) << sh->error_text;
  uint64_t total = 0;
  int lost = 0, duplicated = 0;
  for (uint32_t p = 0; p < kSoakProducers; p++) {
    uint32_t attempted = ld(&sh->attempt[p]), sent = ld(&sh->sent[p]);
    for (uint32_t s = 0; s < attempted + 16 && s < kSoakMaxSeq; s++) {
      uint8_t n = ld(&sh->delivered[p][s]);
      total += n;
      bool maybe = maybe_sent.count({p, s}) || s >= sent;
      bool zone = maybe_gotten.count({p, s}) != 0;
      if (n > 1 || (s >= attempted && n > 0)) {
        if (duplicated++ < 5) ADD_FAILURE() << "message " << p << ":" << s << " delivered " << int(n) << " times";
      }
      if (!maybe && n == 0 && !zone) {
        if (lost++ < 5) ADD_FAILURE() << "message " << p << ":" << s << " lost";
      }
    }
  }
  ShmView v(name);
  printf("soak: %.1f s, %d kills, %llu messages delivered, longest stall %.3f s, "
         "%llu abandoned puts, %llu redeliveries, %llu participants reclaimed\n",
         now_s() - start, kills, static_cast<unsigned long long>(total), max_stall,
         static_cast<unsigned long long>(v.u64(off::kStatAbandoned)),
         static_cast<unsigned long long>(v.u64(off::kStatRedelivered)),
         static_cast<unsigned long long>(v.u64(off::kStatReclaimed)));
  EXPECT_EQ(lost, 0);
  EXPECT_EQ(duplicated, 0);
  EXPECT_GT(total, 1000u) << "the soak made hardly any progress";
  EXPECT_LT(max_stall, 1.0) << "progress stalled";
  EXPECT_EQ(mproc_queue_qsize(q), 0);
  mproc_queue_free(q);
  munmap(mem, sizeof(SoakShared));
}

}  // namespace
