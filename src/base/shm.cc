#include "base/shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mproc {

SharedRegion::~SharedRegion() {
  if (data_) munmap(data_, len_);
  if (fd_ >= 0) close(fd_);
}

bool SharedRegion::create(size_t len) {
  int fd = memfd_create("mproc-shared", MFD_CLOEXEC);
  if (fd < 0) return false;
  if (ftruncate(fd, static_cast<off_t>(len)) != 0) {
    close(fd);
    return false;
  }
  fd_ = fd;
  return attach(fd, len);
}

bool SharedRegion::attach(int fd, size_t len) {
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(len)) return false;
  int own = fd == fd_ ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (own < 0) return false;
  void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, own, 0);
  if (p == MAP_FAILED) {
    if (own != fd_) close(own);
    return false;
  }
  fd_ = own;
  data_ = p;
  len_ = len;
  return true;
}

}  // namespace mproc
