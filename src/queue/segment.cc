#include "queue/segment.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "base/deadline.h"
#include "base/sys.h"
#include "mproc/mproc-common.h"
#include "queue/crashpoint.h"
#include "queue/fence.h"

namespace mproc {
namespace queue {

std::atomic<uint64_t> g_fork_gen{0};

namespace {

constexpr size_t kNameMax = 200;
constexpr char kShmDir[] = "/dev/shm";

// Never destroyed: the atfork hooks may run while statics are torn down.
std::mutex *g_registry_mu = nullptr;
std::vector<Segment *> *g_registry = nullptr;

std::string shm_path(const char *name) { return std::string(kShmDir) + "/" + name; }

std::string proc_fd_path(int fd) { return "/proc/self/fd/" + std::to_string(fd); }

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

off_t lock_offset(const Geometry &g, uint32_t slot) {
  return static_cast<off_t>(g.slots_offset + uint64_t{slot} * kSlotSize);
}

bool ofd_set(int fd, off_t off, short type) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = off;
  fl.l_len = 1;
  return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

// 1 if another open file description locks the byte, 0 if none, -1 unknown.
int ofd_probe(int fd, off_t off) {
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = off;
  fl.l_len = 1;
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return -1;
  return fl.l_type == F_UNLCK ? 0 : 1;
}

uint64_t random_u64() {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof v))
    v = static_cast<uint64_t>(monotonic_ns()) ^ (static_cast<uint64_t>(getpid()) << 32);
  return v;
}

uint64_t realtime_ns() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

// Lowers a shared waiter total by a dead participant's share, never below 0.
void sub_clamped(uint32_t *total, uint32_t n) {
  uint32_t v = load(total);
  while (!cas(total, &v, v > n ? v - n : 0u)) {
  }
}

void init_control(uint8_t *base, const Geometry &g) {
  // The pages are fresh zeros from ftruncate: only non-zero fields are set.
  Control *c = reinterpret_cast<Control *>(base);
  memcpy(c->magic, kMagic, sizeof kMagic);
  c->abi_major = kAbiMajor;
  c->abi_minor = kAbiMinor;
  c->header_size = sizeof(Control);
  c->endian_check = kEndianCheck;
  c->segment_size = g.segment_size;
  c->ring_offset = g.ring_offset;
  c->ring_capacity = g.capacity;
  c->max_message = g.max_message;
  c->record_align = kRecordAlign;
  c->slots_offset = g.slots_offset;
  c->max_slots = g.nslots;
  c->slot_size = kSlotSize;
  c->maxsize = g.maxsize;
  c->instance_id = g.tag_key;
  c->create_time_ns = realtime_ns();
  c->creator_pid = static_cast<uint32_t>(getpid());
  c->queue_state = kStateOpen;
}

int sys_code() { return code_from_errno(errno); }

}  // namespace

// Keeps every live segment reachable from the atfork hooks.
struct ForkHooks {
  static void prepare() {
    g_registry_mu->lock();
    for (Segment *s : *g_registry) s->attach_mu_.lock();
  }
  static void parent() {
    for (Segment *s : *g_registry) s->attach_mu_.unlock();
    g_registry_mu->unlock();
  }
  static void child() {
    // The child must not keep the parent's lock description open: if the
    // parent died, its slot would still look alive. It re-attaches lazily.
    g_fork_gen.fetch_add(1, std::memory_order_acq_rel);
    crashpoints_forked();
    for (Segment *s : *g_registry) {
      if (s->lock_fd_ >= 0) close(s->lock_fd_);
      s->lock_fd_ = -1;
      s->slot_.store(-1, std::memory_order_relaxed);
      s->lock_users_.store(0, std::memory_order_relaxed);
      s->intents_used_.store(0, std::memory_order_relaxed);
      for (auto &k : s->intent_keeper_) k.store(0, std::memory_order_relaxed);
      s->intents_kept_.store(0, std::memory_order_relaxed);
      s->attach_mu_.unlock();
    }
    g_registry_mu->unlock();
  }
  static void add(Segment *s) {
    fork_generation();
    std::lock_guard<std::mutex> lock(*g_registry_mu);
    g_registry->push_back(s);
  }
  static void remove(Segment *s) {
    std::lock_guard<std::mutex> lock(*g_registry_mu);
    g_registry->erase(std::remove(g_registry->begin(), g_registry->end(), s), g_registry->end());
  }
};

uint64_t fork_generation() {
  static const bool installed = [] {
    g_registry_mu = new std::mutex;
    g_registry = new std::vector<Segment *>;
    pthread_atfork(ForkHooks::prepare, ForkHooks::parent, ForkHooks::child);
    return true;
  }();
  (void)installed;
  return g_fork_gen.load(std::memory_order_acquire);
}

bool valid_queue_name(const char *name) {
  if (!name || name[0] == '\0' || name[0] == '.') return false;
  for (size_t i = 0; name[i]; i++) {
    if (i >= kNameMax) return false;
    char ch = name[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-';
    if (!ok) return false;
  }
  return true;
}

int plan_geometry(uint64_t maxsize, uint64_t capacity, Geometry *out) {
  if (capacity == 0) capacity = kDefaultCapacity;
  if (capacity > kMaxCapacity) return MPROC_E_INVAL;
  Geometry g;
  g.capacity = align_up(capacity, kRecordAlign);
  g.max_message = static_cast<uint32_t>(g.capacity - kRecordHeader);
  g.maxsize = maxsize;
  g.tag_key = random_u64() & ~kStatusMask;
  g.nslots = kDefaultSlots;
  g.slots_offset = sizeof(Control);
  g.ring_offset = align_up(g.slots_offset + uint64_t{g.nslots} * kSlotSize, kRingAlign);
  g.segment_size = g.ring_offset + g.capacity;
  *out = g;
  return MPROC_OK;
}

int read_geometry(const Control *c, uint64_t file_size, Geometry *out) {
  if (file_size < sizeof(Control)) return MPROC_E_BAD_SEGMENT;
  // Each field is read exactly once: another process may be scribbling.
  char magic[sizeof kMagic];
  for (size_t i = 0; i < sizeof magic; i++) magic[i] = load_relaxed(&c->magic[i]);
  if (memcmp(magic, kMagic, sizeof kMagic) != 0) return MPROC_E_BAD_SEGMENT;
  if (load_relaxed(&c->endian_check) != kEndianCheck) return MPROC_E_BAD_SEGMENT;
  if (load_relaxed(&c->abi_major) != kAbiMajor) return MPROC_E_BAD_SEGMENT;
  if (load_relaxed(&c->flags) != 0) return MPROC_E_BAD_SEGMENT;
  uint32_t header_size = load_relaxed(&c->header_size);
  Geometry g;
  g.segment_size = load_relaxed(&c->segment_size);
  g.ring_offset = load_relaxed(&c->ring_offset);
  g.capacity = load_relaxed(&c->ring_capacity);
  g.max_message = load_relaxed(&c->max_message);
  g.slots_offset = load_relaxed(&c->slots_offset);
  g.nslots = load_relaxed(&c->max_slots);
  g.maxsize = load_relaxed(&c->maxsize);
  g.tag_key = load_relaxed(&c->instance_id) & ~kStatusMask;
  uint32_t record_align = load_relaxed(&c->record_align);
  uint32_t slot_size = load_relaxed(&c->slot_size);

  bool ok = header_size >= sizeof(Control) && header_size % 64 == 0 &&
            record_align == kRecordAlign && slot_size == kSlotSize &&
            g.capacity >= kMinCapacity && g.capacity <= kMaxCapacity &&
            g.capacity % kRecordAlign == 0 && g.max_message == g.capacity - kRecordHeader &&
            g.nslots >= 1 && g.nslots <= kMaxSlots && g.slots_offset >= header_size &&
            g.slots_offset % 64 == 0 && g.slots_offset <= kMaxCapacity &&
            g.ring_offset % kRingAlign == 0 && g.ring_offset <= kMaxCapacity &&
            g.slots_offset + uint64_t{g.nslots} * kSlotSize <= g.ring_offset &&
            g.segment_size == g.ring_offset + g.capacity && g.segment_size == file_size;
  if (!ok) return MPROC_E_BAD_SEGMENT;
  *out = g;
  return MPROC_OK;
}

int Segment::create(const char *name, uint64_t maxsize, uint64_t capacity,
                    std::unique_ptr<Segment> *out) {
  Geometry g;
  int rc = plan_geometry(maxsize, capacity, &g);
  if (rc != MPROC_OK) return rc;
  // Everything that allocates comes first, and the segment owns each
  // resource as it is taken: std::bad_alloc or a failure leaks nothing.
  std::unique_ptr<Segment> seg(new Segment());
  ForkHooks::add(seg.get());
  seg->name_ = name ? name : "";
  std::string link_path = name ? shm_path(name) : std::string();
  // Named segments are built unnamed (O_TMPFILE) and linked in only when
  // complete: a creator killed half-way leaves nothing behind.
  seg->seg_fd_ = name ? ::open(kShmDir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)
                      : memfd_create("mproc-queue", MFD_CLOEXEC);
  int fd = seg->seg_fd_;
  if (fd < 0) return sys_code();
  std::string fd_path = proc_fd_path(fd);
  // The umask may have narrowed O_TMPFILE's mode; the contract is 0600.
  if (name && fchmod(fd, 0600) != 0) return sys_code();
  if (ftruncate(fd, static_cast<off_t>(g.segment_size)) != 0)
    return errno == EFBIG || errno == ENOSPC ? MPROC_E_NOMEM : sys_code();
  // Reserve the pages now: a full tmpfs must fail here, not SIGBUS later.
  int err = posix_fallocate(fd, 0, static_cast<off_t>(g.segment_size));
  if (err == ENOSPC || err == ENOMEM || err == EFBIG) return MPROC_E_NOMEM;

  void *p = mmap(nullptr, g.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
  seg->geo_ = g;
  seg->base_ = static_cast<uint8_t *>(p);
  init_control(seg->base_, g);
  if (name && linkat(AT_FDCWD, fd_path.c_str(), AT_FDCWD, link_path.c_str(), AT_SYMLINK_FOLLOW) != 0)
    return sys_code();
  *out = std::move(seg);
  return MPROC_OK;
}

int Segment::open(const char *name, std::unique_ptr<Segment> *out) {
  if (!valid_queue_name(name)) return MPROC_E_INVAL;
  // O_NOFOLLOW: /dev/shm is world-writable, a symlink there is not ours.
  int fd = ::open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return errno == ELOOP || errno == EISDIR ? MPROC_E_BAD_SEGMENT : sys_code();
  return map_existing(fd, name, out);
}

int Segment::open_fd(int fd, std::unique_ptr<Segment> *out) {
  int own = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return errno == EBADF ? MPROC_E_INVAL : sys_code();
  return map_existing(own, nullptr, out);
}

int Segment::map_existing(int fd, const char *name, std::unique_ptr<Segment> *out) {
  // Owned from here on, whatever fails (std::bad_alloc included).
  std::unique_ptr<Segment> seg;
  try {
    seg.reset(new Segment());
    ForkHooks::add(seg.get());
    if (name) seg->name_ = name;
  } catch (...) {
    close(fd);
    throw;
  }
  seg->seg_fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return sys_code();
  if (!S_ISREG(st.st_mode) || st.st_size < static_cast<off_t>(sizeof(Control)))
    return MPROC_E_BAD_SEGMENT;

  // Validate the header through a one-page window before trusting its sizes.
  void *hp = mmap(nullptr, sizeof(Control), PROT_READ, MAP_SHARED, fd, 0);
  if (hp == MAP_FAILED) return MPROC_E_SYS;
  Geometry g;
  int rc = read_geometry(static_cast<const Control *>(hp), static_cast<uint64_t>(st.st_size), &g);
  munmap(hp, sizeof(Control));
  if (rc != MPROC_OK) return rc;

  void *p = mmap(nullptr, g.segment_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (p == MAP_FAILED) return errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
  seg->geo_ = g;
  seg->base_ = static_cast<uint8_t *>(p);
  *out = std::move(seg);
  return MPROC_OK;
}

int Segment::unlink(const char *name) {
  if (!valid_queue_name(name)) return MPROC_E_INVAL;
  // No std::string: this runs on the way out of a std::bad_alloc too.
  char path[sizeof kShmDir + kNameMax + 2];
  snprintf(path, sizeof path, "%s/%s", kShmDir, name);
  if (::unlink(path) != 0) return sys_code();
  return MPROC_OK;
}

Segment::~Segment() {
  ForkHooks::remove(this);
  detach();
  if (lock_fd_ >= 0) close(lock_fd_);
  if (base_) munmap(base_, geo_.segment_size);
  if (seg_fd_ >= 0) close(seg_fd_);
}

int Segment::enter_slow(uint64_t gen) {
  std::lock_guard<std::mutex> lock(attach_mu_);
  if (attached_gen_.load(std::memory_order_acquire) != gen) {
    int rc = attach();
    if (rc != MPROC_OK) return rc;
    attached_gen_.store(gen, std::memory_order_release);
  }
  return MPROC_OK;
}

int Segment::attach() {
  fence_register();  // before our first put or get (fence.h)
  // A fresh open file description, so the lock is ours alone (not shared
  // with the mapping, nor with a parent's descriptors).
  int fd = ::open(proc_fd_path(seg_fd_).c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return errno == ENOMEM ? MPROC_E_NOMEM : MPROC_E_SYS;
  lock_fd_ = fd;
  bool took_stale = false;
  int rc = attach_locked(&took_stale);
  if (rc != MPROC_OK) {
    close(lock_fd_);
    lock_fd_ = -1;
    return rc;
  }
  if (took_stale && recover_fn_) {
    // The slot's previous owner may have left records naming it: resolve
    // them before any of our own records can exist.
    recover_fn_(recover_ctx_);
  }
  return MPROC_OK;
}

int Segment::attach_locked(bool *took_stale) {
  // Pass 0 takes a free slot; pass 1 takes over a slot whose owner died
  // (active, yet its lock byte is free) when no slot is free.
  for (int pass = 0; pass < 2; pass++) {
    for (uint32_t i = 0; i < geo_.nslots; i++) {
      Slot *s = slot_at(i);
      uint32_t w = load(&s->state);
      bool is_free = (w & kSlotStatusMask) == kSlotFree;
      if (is_free != (pass == 0)) continue;
      off_t off = lock_offset(geo_, i);
      if (!ofd_set(lock_fd_, off, F_WRLCK)) continue;  // a live owner holds it
      crashpoint(kCpAttachLocked);
      uint32_t active = ((((w >> 2) + 1) << 2) | kSlotActive);
      if (!cas(&s->state, &w, active)) {
        ofd_set(lock_fd_, off, F_UNLCK);
        continue;
      }
      // A free slot's intents were cleared by whoever freed it; a dead
      // owner's are left for the recovery that follows a takeover.
      if (pass == 0)
        for (Intent &in : s->intents) store(&in.word, uint64_t{0});
      store(&s->pid, static_cast<uint32_t>(getpid()));
      store(&s->attach_time_ns, realtime_ns());
      if (pass == 1) {
        drop_waiter_residue(s);
        *took_stale = true;
      }
      slot_word_ = active;
      slot_.store(static_cast<int>(i), std::memory_order_release);
      crashpoint(kCpAttachActive);
      return MPROC_OK;
    }
  }
  return MPROC_E_BUSY;
}

void Segment::detach() {
  int s = slot_.load(std::memory_order_acquire);
  if (s < 0 || lock_fd_ < 0) return;
  // Free first, unlock second: "active and unlocked" must only mean dead.
  uint32_t w = slot_word_;
  cas(&slot_at(static_cast<uint32_t>(s))->state, &w, (w & ~kSlotStatusMask) | kSlotFree);
  close(lock_fd_);
  lock_fd_ = -1;
  slot_.store(-1, std::memory_order_release);
}

// A thread that keeps intent entries gives them back when it exits,
// through a pthread key's destructor: registering a thread_local's
// destructor allocates, and glibc aborts the process when that fails.
void Segment::release_kept_at_thread_exit(void *) {
  std::lock_guard<std::mutex> lock(*g_registry_mu);
  for (Segment *s : *g_registry) s->release_kept_intents();
}

namespace {
// Whether the calling thread will give back what it keeps at its exit.
bool thread_exit_hooked() {
  static pthread_key_t key;
  static const bool created = pthread_key_create(&key, Segment::release_kept_at_thread_exit) == 0;
  return created && (pthread_getspecific(key) != nullptr || pthread_setspecific(key, &key) == 0);
}
}  // namespace

void Segment::release_kept_intents() {
  const uintptr_t me = this_thread();
  for (uint32_t i = 0; i < kIntents; i++) {
    if (intent_keeper_[i].load(std::memory_order_relaxed) != me) continue;
    intent_keeper_[i].store(0, std::memory_order_relaxed);
    intents_kept_.fetch_sub(1, std::memory_order_relaxed);
    intents_used_.fetch_and(~(1u << i), std::memory_order_release);
  }
}

// A thread that keeps no entry yet: a free one, kept if fewer than
// kKeptIntents threads keep one.
int Segment::take_new_intent(uintptr_t me, bool *kept) {
  *kept = true;
  int i = take_free_intent();
  uint32_t n = intents_kept_.load(std::memory_order_relaxed);
  while (n < kKeptIntents && thread_exit_hooked()) {
    if (intents_kept_.compare_exchange_weak(n, n + 1, std::memory_order_relaxed)) {
      intent_keeper_[i].store(me, std::memory_order_relaxed);
      return i;
    }
  }
  *kept = false;
  return i;
}

int Segment::take_free_intent() {
  uint32_t used = intents_used_.load(std::memory_order_relaxed);
  for (;;) {
    uint32_t free_bits = ~used & ((1u << kIntents) - 1);
    if (free_bits == 0) {
      sched_yield();
      used = intents_used_.load(std::memory_order_relaxed);
      continue;
    }
    int i = __builtin_ctz(free_bits);
    if (intents_used_.compare_exchange_weak(used, used | (1u << i), std::memory_order_acquire,
                                            std::memory_order_relaxed))
      return i;
  }
}

bool Segment::alive(uint32_t s) const {
  if (s >= geo_.nslots) return false;
  if (static_cast<int>(s) == slot_.load(std::memory_order_acquire))
    return lock_users_.load(std::memory_order_acquire) >= 2;
  uint32_t w = load(&slot_at(s)->state);
  if ((w & kSlotStatusMask) != kSlotActive) return false;
  // When the probe itself fails, assume alive: never recover a live peer.
  return ofd_probe(lock_fd_, lock_offset(geo_, s)) != 0;
}

void Segment::drop_waiter_residue(Slot *s) {
  // Exchange first: a recoverer killed between the two steps leaves the
  // totals too high (extra wake-ups), never too low (lost wake-ups).
  Control *c = control();
  sub_clamped(&c->data_waiters, exchange(&s->data_waiting, 0u));
  sub_clamped(&c->space_waiters, exchange(&s->space_waiting, 0u));
}

}  // namespace queue
}  // namespace mproc
