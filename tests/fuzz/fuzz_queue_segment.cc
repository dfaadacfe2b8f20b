// fuzz-queue-segment: the input is a queue segment (header, participant
// slots and ring; packed as segment_image.h says) that mproc_queue_open()
// attaches to, followed by a few non-blocking calls. Whatever the bytes,
// every call must return one of its documented codes, promptly: a crash,
// a hang or a sanitizer report is a finding.
#include <fcntl.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "fuzz_reader.h"
#include "mproc.h"
#include "segment_image.h"

namespace {

const char kTarget[] = "fuzz-queue-segment";

const std::string &segment_name() {
  static const std::string name = "mproc-fuzz-segment-" + std::to_string(getpid());
  return name;
}

bool write_file(const std::string &path, const std::vector<uint8_t> &bytes) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t w = write(fd, bytes.data() + done, bytes.size() - done);
    if (w <= 0) break;
    done += static_cast<size_t>(w);
  }
  close(fd);
  return done == bytes.size();
}

void expect(bool ok, const char *what, long long got) {
  if (!ok) fuzz_input::fail(kTarget, what, got);
}

bool is_any(int rc, std::initializer_list<int> codes) {
  for (int c : codes)
    if (rc == c) return true;
  return false;
}

// A corrupt queue may refuse anything with MPROC_E_BAD_SEGMENT.
void exercise(mproc_queue *q) {
  char buf[128];
  size_t len = 0;
  for (int i = 0; i < 3; i++) {
    int rc = mproc_queue_get_nowait(q, buf, sizeof buf, &len);
    expect(is_any(rc, {MPROC_OK, MPROC_E_EMPTY, MPROC_E_TOOBIG, MPROC_E_CLOSED, MPROC_E_BAD_SEGMENT}),
           "get_nowait", rc);
    expect(rc != MPROC_OK || len <= sizeof buf, "get_nowait length over the buffer", static_cast<long long>(len));
    expect(rc != MPROC_E_TOOBIG || len > sizeof buf, "TOOBIG length fits the buffer", static_cast<long long>(len));
  }
  void *data = nullptr;
  int rc = mproc_queue_get_alloc(q, &data, &len, 0);
  expect(is_any(rc, {MPROC_OK, MPROC_E_EMPTY, MPROC_E_CLOSED, MPROC_E_BAD_SEGMENT, MPROC_E_NOMEM}),
         "get_alloc", rc);
  if (rc == MPROC_OK) {
    expect(len <= mproc_queue_max_message(q), "message over max_message", static_cast<long long>(len));
    mproc_free(data);
  }
  for (size_t size : {size_t{0}, size_t{40}, size_t{100}}) {
    rc = mproc_queue_put_nowait(q, buf, size);
    expect(is_any(rc, {MPROC_OK, MPROC_E_FULL, MPROC_E_TOOBIG, MPROC_E_CLOSED, MPROC_E_BAD_SEGMENT}),
           "put_nowait", rc);
  }
  int64_t n = mproc_queue_qsize(q);
  expect(n >= 0 || n == MPROC_E_BAD_SEGMENT, "qsize", n);
  rc = mproc_queue_empty(q);
  expect(rc == 0 || rc == 1 || rc == MPROC_E_BAD_SEGMENT, "empty", rc);
  rc = mproc_queue_full(q);
  expect(rc == 0 || rc == 1 || rc == MPROC_E_BAD_SEGMENT, "full", rc);
  rc = mproc_queue_get_nowait(q, buf, sizeof buf, &len);
  expect(is_any(rc, {MPROC_OK, MPROC_E_EMPTY, MPROC_E_TOOBIG, MPROC_E_CLOSED, MPROC_E_BAD_SEGMENT}),
         "get_nowait after put", rc);
  rc = mproc_queue_shutdown(q, 0);
  expect(rc == MPROC_OK || rc == MPROC_E_BAD_SEGMENT, "shutdown", rc);
  rc = mproc_queue_close(q);
  expect(rc == MPROC_OK, "close", rc);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string &name = segment_name();
  if (!write_file("/dev/shm/" + name, fuzz_segment::unpack(data, size))) return 0;
  mproc_queue *q = nullptr;
  int rc = mproc_queue_open(&q, name.c_str());
  // BUSY: every participant slot is taken by a live process (none here).
  expect(rc == MPROC_OK || rc == MPROC_E_BAD_SEGMENT || rc == MPROC_E_NOMEM, "open", rc);
  if (rc == MPROC_OK) {
    exercise(q);
    mproc_queue_free(q);
  }
  mproc_queue_unlink(name.c_str());
  return 0;
}
