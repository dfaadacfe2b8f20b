// The byte layout of a queue segment, version 2.0, and the atomics used on it.
// docs/queue-layout.md is the normative description for other languages; the
// static_asserts below keep this file and that page in step. All fields are
// little-endian and naturally aligned; only 32- and 64-bit atomics are used.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mproc {
namespace queue {

constexpr char kMagic[8] = {'M', 'P', 'Q', 'U', 'E', 'U', 'E', '\0'};
constexpr uint16_t kAbiMajor = 2;  // bumped for any incompatible change
constexpr uint16_t kAbiMinor = 0;  // bumped for compatible additions
constexpr uint32_t kEndianCheck = 0x01020304;

constexpr uint64_t kRecordAlign = 64;
constexpr uint64_t kRecordHeader = 16;
constexpr uint64_t kMinCapacity = kRecordAlign;
constexpr uint64_t kMaxCapacity = uint64_t{1} << 32;  // keeps lengths in 32 bits
constexpr uint64_t kDefaultCapacity = uint64_t{1} << 20;
constexpr uint32_t kIntents = 12;  // per participant: its threads' claims in flight
constexpr uint32_t kSlotSize = 256;
constexpr uint32_t kDefaultSlots = 256;
constexpr uint32_t kMaxSlots = 4096;
constexpr uint32_t kJournalMax = 8;
constexpr uint64_t kRingAlign = 4096;

// Control::queue_state.
enum : uint32_t {
  kStateOpen = 1,
  kStateShutdown = 2,     // puts fail; gets drain what is left
  kStateShutdownNow = 3,  // puts fail; what is left is dropped
  kStateBroken = 4,       // an invariant failed: every call reports a bad segment
};

// Record status, the low 6 bits of a record's state word. The rest is the
// record's tag: its absolute position times kTagMultiplier, XOR the
// segment's tag key, so stale bytes from an earlier lap (headers, payload, or
// a header whose first bytes a later lap's payload overwrote) never pass for
// a header. With the position alone, laps differ only in the bits from
// log2(capacity) up, and such a mixture passed about once in 2^10.
enum : uint64_t {
  kWriting = 1,    // claimed by producer `owner`, payload being copied in
  kCommitted = 2,  // ready for a consumer
  kReading = 3,    // a redelivered record claimed by consumer `owner`
  kDone = 4,       // consumed; space reclaimable
  kPad = 5,        // filler up to the end of the ring
  kAbandoned = 6,  // its producer died before committing: skipped, never delivered
  kRedeliver = 7,  // its consumer died before finishing: offered again
  kTaken = 8,      // claimed ahead of head by the consumer whose intent names it
};
constexpr uint64_t kStatusMask = kRecordAlign - 1;
constexpr uint64_t kTagMultiplier = 0x9e3779b97f4a7c15;  // odd: a bijection on positions

// Control::fence_flags: set (never cleared) by a participant whose kernel
// refused membarrier, so that nobody relies on its sleeps' barriers.
constexpr uint32_t kFenceFull = 1;

// Participant slot word: generation << 2 | status.
enum : uint32_t { kSlotFree = 0, kSlotActive = 1 };
constexpr uint32_t kSlotStatusMask = 3;

// Intent::word: position | kind (0: no claim in flight).
enum : uint64_t { kIntentPut = 1, kIntentGet = 2 };
// Intent::len of a put that claims only a pad to the ring's end.
constexpr uint32_t kNoRecord = 0xffffffff;

// Control::lock: 0 = free, else the holder's slot index + 1, plus this bit
// when somebody may be asleep on it.
constexpr uint32_t kLockWaiters = 1u << 31;
constexpr uint32_t kLockOwnerMask = 0xffff;

struct JournalEntry {
  uint64_t offset;  // byte offset of a 64-bit word from the segment start
  uint64_t value;
};

// The control block at the start of every segment. Each group that one side
// writes on the fast path has a 128-byte block of its own (the adjacent-line
// prefetcher pairs 64-byte lines).
struct Control {
  // Written once before the segment is published, then read-only.
  char magic[8];            // 0x000
  uint16_t abi_major;       // 0x008
  uint16_t abi_minor;       // 0x00a
  uint32_t header_size;     // 0x00c  sizeof(Control)
  uint32_t endian_check;    // 0x010
  uint32_t flags;           // 0x014  incompatible features: must be 0 in 2.x
  uint64_t segment_size;    // 0x018  == file size
  uint64_t ring_offset;     // 0x020
  uint64_t ring_capacity;   // 0x028
  uint32_t max_message;     // 0x030  ring_capacity - 16
  uint32_t record_align;    // 0x034  64
  uint64_t slots_offset;    // 0x038
  uint32_t max_slots;       // 0x040
  uint32_t slot_size;       // 0x044
  uint64_t maxsize;         // 0x048  0 = no message-count limit
  uint64_t instance_id;     // 0x050  random; its bits 6-63 are the tag key
  uint64_t create_time_ns;  // 0x058  CLOCK_REALTIME, diagnostics
  uint32_t creator_pid;     // 0x060  diagnostics
  uint32_t reserved0;       // 0x064
  uint8_t pad0[0x80 - 0x68];

  // Read on every operation, written rarely.
  uint32_t queue_state;       // 0x080
  uint32_t fence_flags;       // 0x084  kFenceFull: fast sides use full barriers (4.6)
  uint64_t stat_abandoned;    // 0x088  puts dropped because their producer died
  uint64_t stat_redelivered;  // 0x090  gets handed out again after a consumer died
  uint64_t stat_reclaimed;    // 0x098  dead participants released
  uint64_t recover_time_ns;   // 0x0a0  CLOCK_MONOTONIC of the last recovery scan
  uint64_t redeliver;         // 0x0a8  records in state kRedeliver (changes under lock)
  uint8_t pad1[0x100 - 0xb0];

  // The lock and its journal: recovery, redelivery and maxsize claims only.
  uint32_t lock;              // 0x100  futex word
  uint32_t journal_armed;     // 0x104
  uint32_t journal_count;     // 0x108
  uint32_t reserved2;         // 0x10c
  JournalEntry journal[kJournalMax];  // 0x110
  uint8_t pad2[0x200 - 0x190];

  uint64_t tail;  // 0x200  producers: where the next record goes
  uint64_t puts;  // 0x208  messages ever claimed (maxsize queues; under lock)
  uint8_t pad3[0x280 - 0x210];
  uint64_t head;  // 0x280  consumers: first record not yet claimed or skipped
  uint8_t pad4[0x300 - 0x288];
  uint64_t free;  // 0x300  freed messages << 32 | (free position / 64) mod 2^32
  uint8_t pad5[0x380 - 0x308];
  uint32_t data_seq;       // 0x380  futex: "something to get"
  uint32_t data_waiters;   // 0x384
  uint8_t pad6[0x400 - 0x388];
  uint32_t space_seq;      // 0x400  futex: "room to put"
  uint32_t space_waiters;  // 0x404
  uint8_t pad7[0x480 - 0x408];
};

// A claim in flight, written by its thread before the claiming CAS and
// cleared once the record is committed or done: what recovery needs to
// resolve the claim if the process dies in between.
struct Intent {
  uint64_t word;  // position | kIntentPut/kIntentGet, 0 = none
  uint32_t size;  // put: bytes claimed (pad + record)
  uint32_t len;   // put: payload bytes, or kNoRecord for a pad alone
};

// One per attached handle (a process's view of the queue).
struct Slot {
  uint32_t state;          // generation << 2 | kSlotFree/kSlotActive
  uint32_t pid;            // diagnostics only: liveness is the OFD lock
  uint32_t data_waiting;   // this participant's share of data_waiters
  uint32_t space_waiting;  // this participant's share of space_waiters
  uint64_t attach_time_ns;
  uint8_t pad[40];
  Intent intents[kIntents];  // 0x40
};

// At every record boundary in the ring.
struct RecordHeader {
  uint64_t state;  // tag(position) | status
  uint64_t info;   // owner (slot + 1) << 32 | length (payload bytes; pad bytes for kPad)
};

static_assert(sizeof(Control) == 0x480, "layout");
static_assert(offsetof(Control, queue_state) == 0x80, "layout");
static_assert(offsetof(Control, recover_time_ns) == 0xa0, "layout");
static_assert(offsetof(Control, redeliver) == 0xa8, "layout");
static_assert(offsetof(Control, lock) == 0x100, "layout");
static_assert(offsetof(Control, journal) == 0x110, "layout");
static_assert(offsetof(Control, tail) == 0x200, "layout");
static_assert(offsetof(Control, puts) == 0x208, "layout");
static_assert(offsetof(Control, head) == 0x280, "layout");
static_assert(offsetof(Control, free) == 0x300, "layout");
static_assert(offsetof(Control, data_seq) == 0x380, "layout");
static_assert(offsetof(Control, space_seq) == 0x400, "layout");
static_assert(sizeof(Intent) == 16, "layout");
static_assert(offsetof(Slot, intents) == 0x40, "layout");
static_assert(sizeof(Slot) == kSlotSize, "layout");
static_assert(sizeof(RecordHeader) == kRecordHeader, "layout");

// Ring bytes one message of `len` payload bytes occupies.
constexpr uint64_t record_size(uint64_t len) {
  return (kRecordHeader + len + kRecordAlign - 1) & ~(kRecordAlign - 1);
}

// Shared-memory atomics. GCC builtins on plain fields: the bytes come from
// another process, so no C++ object ever lived there, and TSan models them.
template <typename T>
inline T load(const T *p) {
  return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}
template <typename T>
inline T load_relaxed(const T *p) {
  return __atomic_load_n(p, __ATOMIC_RELAXED);
}
template <typename T>
inline void store(T *p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELEASE);
}
template <typename T>
inline T load_seq(const T *p) {
  return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}
template <typename T>
inline void store_relaxed(T *p, T v) {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline void store_seq(T *p, T v) {
  __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}
template <typename T>
inline bool cas(T *p, T *expected, T desired) {
  return __atomic_compare_exchange_n(p, expected, desired, false, __ATOMIC_SEQ_CST,
                                     __ATOMIC_SEQ_CST);
}
template <typename T>
inline T fetch_add(T *p, T v) {
  return __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
}
template <typename T>
inline T exchange(T *p, T v) {
  return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST);
}

}  // namespace queue
}  // namespace mproc
