// Helpers shared by the queue test suites: unique names, a read-write view
// of a named segment by the offsets documented in docs/queue-layout.md
// (deliberately not the library's own layout.h), and message checks.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "mproc.h"
#include "queue_msg.h"

namespace qtest {

// A name no other test (or test process) uses; unlinked by the guard.
inline std::string unique_name(const char *tag) {
  static std::atomic<int> counter{0};
  return std::string("mproc-test-") + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" + tag;
}

inline std::string shm_path(const std::string &name) { return "/dev/shm/" + name; }

struct Unlinker {
  std::string name;
  explicit Unlinker(std::string n) : name(std::move(n)) {}
  ~Unlinker() { mproc_queue_unlink(name.c_str()); }
};

// Offsets from docs/queue-layout.md.
namespace off {
constexpr size_t kAbiMajor = 0x008, kAbiMinor = 0x00a, kHeaderSize = 0x00c, kEndian = 0x010,
                 kFlags = 0x014, kSegmentSize = 0x018, kRingOffset = 0x020, kRingCapacity = 0x028,
                 kMaxMessage = 0x030, kRecordAlign = 0x034, kSlotsOffset = 0x038, kMaxSlots = 0x040,
                 kSlotSize = 0x044, kMaxsize = 0x048, kInstanceId = 0x050, kCreatorPid = 0x060,
                 kQueueState = 0x080, kFenceFlags = 0x084, kStatAbandoned = 0x088, kStatRedelivered = 0x090,
                 kStatReclaimed = 0x098, kRedeliver = 0x0a8, kLock = 0x100, kJournalArmed = 0x104,
                 kTail = 0x200, kPuts = 0x208, kHead = 0x280, kFree = 0x300, kDataSeq = 0x380,
                 kDataWaiters = 0x384, kSpaceSeq = 0x400, kSpaceWaiters = 0x404, kControlSize = 0x480;
// Within a participant slot.
constexpr size_t kSlotStride = 256, kSlotIntents = 0x40, kIntentSize = 16, kIntents = 12;
}  // namespace off

// A second mapping of a named segment, to look at (and corrupt) its bytes.
class ShmView {
 public:
  explicit ShmView(const std::string &name) {
    int fd = open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void *p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t *>(p);
    }
    close(fd);
  }
  ~ShmView() {
    if (base_) munmap(base_, size_);
  }
  ShmView(const ShmView &) = delete;
  ShmView &operator=(const ShmView &) = delete;
  bool ok() const { return base_ != nullptr; }
  size_t size() const { return size_; }
  uint8_t *base() const { return base_; }
  template <typename T>
  T get(size_t offset) const {
    return __atomic_load_n(reinterpret_cast<T *>(base_ + offset), __ATOMIC_ACQUIRE);
  }
  template <typename T>
  void set(size_t offset, T v) {
    __atomic_store_n(reinterpret_cast<T *>(base_ + offset), v, __ATOMIC_RELEASE);
  }
  uint64_t u64(size_t o) const { return get<uint64_t>(o); }
  uint32_t u32(size_t o) const { return get<uint32_t>(o); }
  // Participant slots whose status is active.
  int active_slots() const {
    int n = 0;
    uint64_t so = u64(off::kSlotsOffset);
    for (uint32_t i = 0; i < u32(off::kMaxSlots); i++)
      if ((u32(static_cast<size_t>(so) + i * off::kSlotStride) & 3) == 1) n++;
    return n;
  }

 private:
  uint8_t *base_ = nullptr;
  size_t size_ = 0;
};

// A message of `len` bytes for (producer, seq).
inline std::vector<unsigned char> make_msg(uint32_t producer, uint32_t seq, size_t len) {
  std::vector<unsigned char> m(len);
  qmsg_fill(m.data(), len, producer, seq);
  return m;
}

// Gets one message; returns its (producer, seq) or {~0, ~0} on failure.
struct Got {
  int rc = MPROC_E_SYS;
  uint32_t producer = ~0u;
  uint32_t seq = ~0u;
  bool intact = false;
};
inline Got get_msg(mproc_queue *q, double timeout) {
  Got g;
  void *data = nullptr;
  size_t len = 0;
  g.rc = mproc_queue_get_alloc(q, &data, &len, timeout);
  if (g.rc == MPROC_OK) {
    g.intact = qmsg_check(static_cast<unsigned char *>(data), len, &g.producer, &g.seq) != 0;
    mproc_free(data);
  }
  return g;
}

inline int put_msg(mproc_queue *q, uint32_t producer, uint32_t seq, size_t len, double timeout) {
  std::vector<unsigned char> m = make_msg(producer, seq, len);
  return mproc_queue_put(q, m.data(), m.size(), timeout);
}

}  // namespace qtest
