// fuzz-seed-segments DIR: writes the seed corpus of fuzz-queue-segment,
// real queue segments made by this library (messages queued, rings that
// wrapped, and peers killed at chosen points of the protocol, so the dump
// holds claims in flight, a held lock or an armed journal), packed as
// segment_image.h says. Each dump keeps only the participant slots in use
// (max_slots and ring_offset rewritten to match), which keeps inputs small.
// Run by hand when the layout changes; the output is committed.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "mproc.h"
#include "segment_image.h"

namespace {

namespace fs = fuzz_segment;
constexpr size_t kJournal = 0x110, kJournalMax = 8;  // docs/queue-layout.md, 3.1

struct Scenario {
  const char *file;
  size_t maxsize, capacity;
  std::vector<int> script;  // > 0: put that many bytes; < 0: get |n| messages
  const char *crash_point;  // a child dies there running `crash_op`, or nullptr
  int crash_op;             // bytes to put, or -1: one get
  bool free_handle;         // detach before the dump (slot 0 free, not dead)
  bool shutdown;
};

std::vector<uint8_t> read_file(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void put_le64(std::vector<uint8_t> *b, size_t off, uint64_t v) { memcpy(b->data() + off, &v, 8); }
void put_le32(std::vector<uint8_t> *b, size_t off, uint32_t v) { memcpy(b->data() + off, &v, 4); }

// The same segment with only its first `slots` participant slots.
std::vector<uint8_t> shrink_slots(const std::vector<uint8_t> &file, uint32_t slots) {
  fs::Geometry g;
  if (!fs::packed_geometry(file.data(), file.size(), &g)) return {};
  uint64_t slots_offset = fs::read_le<uint64_t>(file.data() + fs::kSlotsOffset);
  uint64_t ring_offset = (slots_offset + uint64_t{slots} * fs::kSlotSize + 4095) & ~uint64_t{4095};
  size_t kept = static_cast<size_t>(slots_offset + uint64_t{slots} * fs::kSlotSize);
  if (kept > g.slots_end) return {};
  auto ring = file.begin() + static_cast<ptrdiff_t>(g.ring_offset);
  std::vector<uint8_t> out(file.begin(), file.begin() + static_cast<ptrdiff_t>(kept));
  out.resize(static_cast<size_t>(ring_offset), 0);
  out.insert(out.end(), ring, file.end());
  uint64_t capacity = static_cast<uint64_t>(file.end() - ring);
  // Journal entries name words by their offset in the file: move those in the ring.
  for (size_t e = 0; e < kJournalMax; e++) {
    size_t at = kJournal + e * 16;
    uint64_t word = fs::read_le<uint64_t>(out.data() + at);
    if (word >= g.ring_offset) put_le64(&out, at, word - g.ring_offset + ring_offset);
  }
  put_le32(&out, fs::kMaxSlots, slots);
  put_le64(&out, fs::kRingOffset, ring_offset);
  put_le64(&out, fs::kSegmentSize, ring_offset + capacity);
  return out;
}

// Slots that are not free, counted up to the last one.
uint32_t slots_in_use(const std::vector<uint8_t> &file) {
  uint64_t slots_offset = fs::read_le<uint64_t>(file.data() + fs::kSlotsOffset);
  uint32_t max_slots = fs::read_le<uint32_t>(file.data() + fs::kMaxSlots);
  uint32_t used = 1;
  for (uint32_t i = 0; i < max_slots; i++)
    if (fs::read_le<uint32_t>(file.data() + slots_offset + i * fs::kSlotSize) & 3) used = i + 1;
  return used;
}

int put_bytes(mproc_queue *q, int n) {
  std::vector<uint8_t> msg(static_cast<size_t>(n));
  for (size_t i = 0; i < msg.size(); i++) msg[i] = static_cast<uint8_t>(i * 7 + n);
  return mproc_queue_put_nowait(q, msg.data(), msg.size());
}

void run_script(mproc_queue *q, const std::vector<int> &script) {
  for (int op : script) {
    if (op > 0) {
      put_bytes(q, op);
      continue;
    }
    for (int i = 0; i < -op; i++) {
      void *data = nullptr;
      size_t len = 0;
      if (mproc_queue_get_alloc(q, &data, &len, 0) == MPROC_OK) mproc_free(data);
    }
  }
}

bool dump(const Scenario &s, const std::string &dir) {
  std::string name = "mproc-fuzz-seed-" + std::to_string(getpid());
  mproc_queue_unlink(name.c_str());
  mproc_queue *q = nullptr;
  if (mproc_queue_create(&q, name.c_str(), s.maxsize, s.capacity) != MPROC_OK) return false;
  run_script(q, s.script);
  if (s.crash_point) {
    pid_t pid = fork();
    if (pid == 0) {
      setenv("MPROC_QUEUE_CRASHPOINT", s.crash_point, 1);
      mproc_queue *mine = nullptr;
      if (mproc_queue_open(&mine, name.c_str()) == MPROC_OK) run_script(mine, {s.crash_op});
      _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) fprintf(stderr, "%s: the child never reached %s\n", s.file, s.crash_point);
  }
  if (s.shutdown) mproc_queue_shutdown(q, 0);
  if (s.free_handle) mproc_queue_free(q);
  std::vector<uint8_t> file = read_file("/dev/shm/" + name);
  if (!s.free_handle) mproc_queue_free(q);
  mproc_queue_unlink(name.c_str());
  std::vector<uint8_t> packed = fs::pack(shrink_slots(file, slots_in_use(file)));
  if (packed.empty()) return false;
  std::ofstream out(dir + "/" + s.file, std::ios::binary);
  out.write(reinterpret_cast<const char *>(packed.data()), static_cast<std::streamsize>(packed.size()));
  printf("%s: %zu bytes\n", s.file, packed.size());
  return out.good();
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::vector<int> wrap = {300, 300, -2, 300, 300, -1, 100, 20};
  const Scenario scenarios[] = {
      {"seed-empty", 0, 1024, {}, nullptr, 0, true, false},
      {"seed-three-queued", 0, 1024, {10, 100, 300, -1}, nullptr, 0, false, false},
      {"seed-maxsize-full", 4, 1024, {8, 8, 8, 8, 8, -2, 200, 200}, nullptr, 0, true, false},
      {"seed-wrapped", 0, 1024, wrap, nullptr, 0, true, false},
      {"seed-shutdown", 0, 1024, {50, 60}, nullptr, 0, true, true},
      {"seed-dead-put-copy", 0, 1024, {40}, "put.copy", 200, true, false},
      {"seed-dead-put-claimed", 0, 1024, wrap, "put.claimed", 100, true, false},
      {"seed-dead-get-copy", 0, 1024, {40, 200}, "get.copy", -1, true, false},
      {"seed-dead-get-done", 0, 1024, {40, 200}, "get.done", -1, false, false},
      {"seed-dead-lock-held", 3, 1024, {40}, "lock.held", 30, true, false},
      {"seed-dead-txn-half", 3, 1024, {40, 50}, "txn.half", 30, true, false},
      {"seed-dead-free-advanced", 0, 1024, wrap, "free.advanced", -1, true, false},
  };
  int failed = 0;
  for (const Scenario &s : scenarios)
    if (!dump(s, argv[1])) {
      fprintf(stderr, "%s: failed\n", s.file);
      failed++;
    }
  return failed ? 1 : 0;
}
