// A small shared-memory region backed by a memfd: MAP_SHARED like an
// anonymous shared mapping (so fork children share it), plus a descriptor
// to hand it to a spawned child, which maps the same pages.
#pragma once

#include <cstddef>

namespace mproc {

class SharedRegion {
 public:
  SharedRegion() = default;
  ~SharedRegion();
  SharedRegion(const SharedRegion &) = delete;
  SharedRegion &operator=(const SharedRegion &) = delete;

  // Creates a zero-filled region of len bytes. False on failure.
  bool create(size_t len);
  // Maps the region behind fd (duplicated, not taken). False if fd is not
  // a region of at least len bytes.
  bool attach(int fd, size_t len);

  void *data() const { return data_; }
  int fd() const { return fd_; }

 private:
  void *data_ = nullptr;
  size_t len_ = 0;
  int fd_ = -1;
};

}  // namespace mproc
