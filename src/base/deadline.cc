#include "base/deadline.h"

#include <cmath>

#include "mproc/mproc-common.h"

namespace mproc {

namespace {
constexpr int64_t kNsPerSec = 1000000000;

timespec to_timespec(int64_t ns) {
  if (ns < 0) ns = 0;
  return timespec{static_cast<time_t>(ns / kNsPerSec), static_cast<long>(ns % kNsPerSec)};
}
}  // namespace

int64_t monotonic_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * kNsPerSec + ts.tv_nsec;
}

int Deadline::from_seconds(double seconds, Deadline *out) {
  if (std::isnan(seconds)) return MPROC_E_INVAL;
  if (seconds < 0 || seconds >= kForeverSeconds) {
    *out = forever();
    return MPROC_OK;
  }
  if (seconds == 0) {
    *out = Deadline(false, kNow);
    return MPROC_OK;
  }
  *out = after_ns(static_cast<int64_t>(std::ceil(seconds * 1e9)));
  return MPROC_OK;
}

const timespec *Deadline::remaining(timespec *buf) const {
  if (forever_) return nullptr;
  *buf = to_timespec(left_ns());
  return buf;
}

double Deadline::seconds_left() const {
  if (forever_) return -1;
  return static_cast<double>(left_ns()) / kNsPerSec;
}

int64_t Deadline::left_ns() const {
  if (end_ns_ == kNow) return 0;
  int64_t left = end_ns_ - monotonic_ns();
  return left < 0 ? 0 : left;
}

timespec Deadline::remaining_capped(int64_t cap_ns) const {
  if (forever_) return to_timespec(cap_ns);
  int64_t left = left_ns();
  return to_timespec(left < cap_ns ? left : cap_ns);
}

}  // namespace mproc
