// A mapped queue segment and this process's place in it: creating one
// (never visible half-initialised), opening and validating one, and the
// participant slot whose OFD lock tells peers that we are alive.
//
// Liveness: a participant takes an OFD write lock on the first byte of its
// slot before marking the slot active, and releases it only after marking
// it free. The kernel drops the lock when the last descriptor of that open
// file description goes, i.e. when the process dies, however it dies. So
// "slot active but its byte unlocked" means "dead", with no PID reuse,
// zombie or PID-namespace ambiguity. The lock lives on a descriptor that
// is never mmap'ed (a mapping would keep the description, and the lock,
// alive in forked children) and that a forked child closes at once.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <pthread.h>

#include "mproc/mproc-common.h"
#include "queue/layout.h"

namespace mproc {
namespace queue {

// Bumped in every forked child; the first call installs the atfork hooks.
uint64_t fork_generation();
extern std::atomic<uint64_t> g_fork_gen;
// The same, one load, where a Segment exists (making one installed them).
inline uint64_t fork_generation_seen() { return g_fork_gen.load(std::memory_order_acquire); }

// 1-200 characters of [A-Za-z0-9._-], not starting with '.'.
bool valid_queue_name(const char *name);

// Sizes of a segment, validated once and then never re-read from shared
// memory, so later corruption cannot move an index out of the mapping.
struct Geometry {
  uint64_t segment_size = 0;
  uint64_t ring_offset = 0;
  uint64_t capacity = 0;
  uint64_t slots_offset = 0;
  uint64_t maxsize = 0;
  uint64_t tag_key = 0;  // instance_id with the status bits cleared
  uint32_t max_message = 0;
  uint32_t nslots = 0;
};

// Sizes for a new segment (capacity 0 = default, rounded up to 64 bytes).
// MPROC_E_INVAL when the capacity is over kMaxCapacity.
int plan_geometry(uint64_t maxsize, uint64_t capacity, Geometry *out);

// Checks a header read from a file of file_size bytes (only the first
// min(file_size, sizeof(Control)) bytes need be mapped).
// MPROC_E_BAD_SEGMENT if it is foreign, truncated or incompatible.
int read_geometry(const Control *c, uint64_t file_size, Geometry *out);

class Segment {
 public:
  // Runs recovery for the whole queue with this participant attached;
  // needed when attaching takes over a dead participant's slot.
  using RecoverFn = int (*)(void *ctx);

  // name == nullptr creates an anonymous segment (memfd), shared by fork.
  static int create(const char *name, uint64_t maxsize, uint64_t capacity,
                    std::unique_ptr<Segment> *out);
  static int open(const char *name, std::unique_ptr<Segment> *out);
  // Attaches to the segment behind a descriptor (an anonymous queue handed
  // to a spawned child); the descriptor is duplicated, not taken.
  static int open_fd(int fd, std::unique_ptr<Segment> *out);
  static int unlink(const char *name);
  ~Segment();
  Segment(const Segment &) = delete;
  Segment &operator=(const Segment &) = delete;

  const Geometry &geometry() const { return geo_; }
  // The segment's file, to hand an anonymous queue to a spawned child.
  int fd() const { return seg_fd_; }
  const char *name() const { return name_.empty() ? nullptr : name_.c_str(); }
  Control *control() const { return reinterpret_cast<Control *>(base_); }
  uint8_t *base() const { return base_; }
  uint8_t *ring() const { return base_ + geo_.ring_offset; }
  Slot *slot_at(uint32_t i) const {
    return reinterpret_cast<Slot *>(base_ + geo_.slots_offset) + i;
  }

  void set_recover_hook(RecoverFn fn, void *ctx) {
    recover_fn_ = fn;
    recover_ctx_ = ctx;
  }
  // Attaches this process if needed (first use after fork). MPROC_OK,
  // MPROC_E_BUSY (no free slot), MPROC_E_SYS, MPROC_E_NOMEM.
  int enter() {
    uint64_t gen = fork_generation_seen();
    if (__builtin_expect(attached_gen_.load(std::memory_order_acquire) == gen, 1)) return MPROC_OK;
    return enter_slow(gen);
  }
  // Our slot index; valid after enter().
  uint32_t self() const { return static_cast<uint32_t>(slot_.load(std::memory_order_acquire)); }
  // Counts the calling thread as taking or holding the queue lock.
  void lock_user(int delta) { lock_users_.fetch_add(delta, std::memory_order_acq_rel); }
  // Whether the participant in slot s is alive. For our own slot: whether
  // another of our threads takes or holds the lock (only then can the lock
  // legitimately name us; otherwise it is a dead previous owner's).
  bool alive(uint32_t s) const;
  // Moves a dead participant's waiter counts out of the shared totals.
  void drop_waiter_residue(Slot *s);

  // An intent entry of our slot for the calling thread's next claim. The
  // first kKeptIntents threads to claim keep theirs between claims, so a
  // put or get takes and gives it with no atomic read-modify-write (whose
  // full barrier would wait for the record's stores to reach the other
  // CPU); other threads take one for the span of a claim, and yield while
  // all kIntents are in use (never while waiting).
  // *kept: the thread keeps the entry (give_intent() is then not needed).
  int take_intent(bool *kept) {
    const uintptr_t me = this_thread();
    for (uint32_t i = 0; i < kIntents; i++) {
      if (intent_keeper_[i].load(std::memory_order_relaxed) == me) {
        *kept = true;
        return static_cast<int>(i);
      }
    }
    return take_new_intent(me, kept);
  }
  void give_intent(int i) { intents_used_.fetch_and(~(1u << i), std::memory_order_release); }
  Intent *intent(uint32_t slot, int i) const { return &slot_at(slot)->intents[i]; }
  // A pthread key destructor: the exiting thread's kept entries, back.
  static void release_kept_at_thread_exit(void *);

 private:
  Segment() = default;
  static int map_new(int fd, const char *name, const Geometry &g, std::unique_ptr<Segment> *out);
  // Validates and maps an existing segment; takes fd (closed on failure).
  static int map_existing(int fd, const char *name, std::unique_ptr<Segment> *out);
  int enter_slow(uint64_t gen);
  int attach();
  int attach_locked(bool *took_stale);
  void detach();
  friend struct ForkHooks;

  std::string name_;
  Geometry geo_;
  uint8_t *base_ = nullptr;
  int seg_fd_ = -1;   // the mapping's file; reopened for a fresh lock description
  int lock_fd_ = -1;  // holds our OFD lock; never mapped, closed in forked children
  std::mutex attach_mu_;
  std::atomic<uint64_t> attached_gen_{~uint64_t{0}};
  std::atomic<int> slot_{-1};
  uint32_t slot_word_ = 0;  // our slot's state word while attached
  std::atomic<int> lock_users_{0};
  std::atomic<uint32_t> intents_used_{0};  // bit i: intent i of our slot is taken
  // The thread (this_thread()) that keeps intent i between claims, or 0;
  // given back when that thread exits (release_kept_at_thread_exit).
  std::atomic<uintptr_t> intent_keeper_[kIntents] = {};
  std::atomic<uint32_t> intents_kept_{0};
  static constexpr uint32_t kKeptIntents = kIntents - 4;
  // pthread_self(): unique among live threads, one load from the thread
  // pointer (a thread_local's address costs a __tls_get_addr call in a
  // shared library), and right after fork (the child's keepers are reset).
  static uintptr_t this_thread() { return static_cast<uintptr_t>(pthread_self()); }
  int take_new_intent(uintptr_t me, bool *kept);
  int take_free_intent();
  void release_kept_intents();
  RecoverFn recover_fn_ = nullptr;
  void *recover_ctx_ = nullptr;
};

}  // namespace queue
}  // namespace mproc
