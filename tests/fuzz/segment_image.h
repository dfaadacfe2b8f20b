// The packed form of a queue segment that fuzz-queue-segment reads and
// fuzz-seed-segments writes. A real segment is mostly zeros (256 free
// participant slots, the page-alignment gap before the ring, the ring's
// unused end), which the fuzzer would waste its mutations on, so the input
// is the file with the gap between the last slot and the ring removed and
// its trailing zeros cut:
//
//   input = file[0, slots_end) ++ file[ring_offset, segment_size), trailing zeros dropped
//
// where slots_end = slots_offset + max_slots * 256, read from the input's
// own header (docs/queue-layout.md, 3.1). When those fields are implausible
// the input is the whole file, verbatim, so truncated and foreign files
// are covered too.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace fuzz_segment {

// Offsets from docs/queue-layout.md (deliberately not the library's layout.h).
constexpr size_t kSegmentSize = 0x018, kRingOffset = 0x020, kSlotsOffset = 0x038,
                 kMaxSlots = 0x040, kControlSize = 0x480, kSlotSize = 256;
// Keeps every execution cheap: the file is written and mapped each time.
constexpr uint64_t kMaxFile = uint64_t{2} << 20;

template <typename T>
T read_le(const uint8_t *p) {
  T v;
  memcpy(&v, p, sizeof v);  // the layout is little-endian, like every host this runs on
  return v;
}

struct Geometry {
  uint64_t slots_end = 0, ring_offset = 0, segment_size = 0;
};

// The packed geometry of an image starting with `head` (at least
// kControlSize bytes), or false when it has none and the bytes are a whole file.
inline bool packed_geometry(const uint8_t *head, size_t len, Geometry *g) {
  if (len < kControlSize) return false;
  uint64_t slots_offset = read_le<uint64_t>(head + kSlotsOffset);
  uint32_t max_slots = read_le<uint32_t>(head + kMaxSlots);
  g->ring_offset = read_le<uint64_t>(head + kRingOffset);
  g->segment_size = read_le<uint64_t>(head + kSegmentSize);
  if (slots_offset > kMaxFile || max_slots > kMaxFile / kSlotSize) return false;
  g->slots_end = slots_offset + uint64_t{max_slots} * kSlotSize;
  return g->slots_end <= g->ring_offset && g->ring_offset <= g->segment_size &&
         g->segment_size <= kMaxFile && g->slots_end <= len;
}

// Input -> the bytes of the segment file.
inline std::vector<uint8_t> unpack(const uint8_t *data, size_t len) {
  Geometry g;
  if (!packed_geometry(data, len, &g)) return std::vector<uint8_t>(data, data + len);
  std::vector<uint8_t> file(static_cast<size_t>(g.segment_size), 0);
  if (g.slots_end) memcpy(file.data(), data, static_cast<size_t>(g.slots_end));
  size_t ring_bytes = static_cast<size_t>(
      std::min<uint64_t>(len - g.slots_end, g.segment_size - g.ring_offset));
  if (ring_bytes) memcpy(file.data() + g.ring_offset, data + g.slots_end, ring_bytes);
  return file;
}

// Segment file -> input; empty when the file has no packed form.
inline std::vector<uint8_t> pack(const std::vector<uint8_t> &file) {
  Geometry g;
  if (!packed_geometry(file.data(), file.size(), &g) || g.segment_size != file.size()) return {};
  std::vector<uint8_t> out(file.begin(), file.begin() + static_cast<ptrdiff_t>(g.slots_end));
  out.insert(out.end(), file.begin() + static_cast<ptrdiff_t>(g.ring_offset), file.end());
  while (out.size() > g.slots_end && out.back() == 0) out.pop_back();
  return out;
}

}  // namespace fuzz_segment
