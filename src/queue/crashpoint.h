// Test-only kill points inside the queue protocol.
//
// MPROC_QUEUE_CRASHPOINT=<name>[:<n>[:stop]] makes the process SIGKILL
// (or, with ":stop", SIGSTOP) itself the nth time (default 1) it reaches
// the named point, so tests can prove that a peer dying (or stopping)
// there never wedges, tears or loses anything. The variable is read on
// first use and again in every forked child; when it is unset each point
// costs one relaxed load and a predictable branch. Not part of the API.
#pragma once

#include <atomic>
#include <cstddef>

namespace mproc {
namespace queue {

enum CrashPoint : int {
  kCpLockHeld,        // queue lock just taken, nothing written
  kCpTxnHalf,         // journal armed, half of its writes applied
  kCpTxnApplied,      // journal fully applied, not yet disarmed
  kCpPutIntent,       // put intent written, tail not yet claimed
  kCpPutClaimed,      // tail claimed (or, maxsize: claim journaled), no header written
  kCpPutCopy,         // half the payload copied
  kCpPutCopied,       // payload copied, not committed
  kCpPutCommitted,    // committed, intent not yet cleared, consumers not woken
  kCpGetIntent,       // get intent written, head not yet claimed
  kCpGetClaimed,      // record claimed, nothing copied out
  kCpGetCopy,         // half the payload copied out
  kCpGetCopied,       // copied out, not marked done
  kCpGetDone,         // marked done, intent not cleared, free not advanced
  kCpFreeAdvanced,    // free moved past one record, maybe more to go
  kCpWaitRegistered,  // counted as a waiter, about to sleep
  kCpRecoverStep,     // recovery resolved one claim or record of a dead peer
  kCpAttachLocked,    // participant lock taken, slot not yet active
  kCpAttachActive,    // slot active
  kCpCount
};

// The names accepted in MPROC_QUEUE_CRASHPOINT, indexed by CrashPoint.
extern const char *const kCrashPointNames[kCpCount];

// 0: not yet read in this process (or since a fork), 1: off, 2: armed.
extern std::atomic<int> g_crashpoint_state;
bool crashpoints_read();
void crashpoint_reached(CrashPoint p);
// Forked children read the variable again (tests set it after fork()).
inline void crashpoints_forked() { g_crashpoint_state.store(0, std::memory_order_relaxed); }

inline bool crashpoints_armed() {
  int st = g_crashpoint_state.load(std::memory_order_relaxed);
  return __builtin_expect(st == 1, 1) ? false : crashpoints_read();
}

inline void crashpoint(CrashPoint p) {
  if (__builtin_expect(crashpoints_armed(), 0)) crashpoint_reached(p);
}

// memcpy with kill point `mid` between the two halves when armed.
void copy_with_crashpoint(void *dst, const void *src, size_t n, CrashPoint mid);

}  // namespace queue
}  // namespace mproc
