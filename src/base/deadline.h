// Timeouts as the C API defines them: double seconds, < 0 forever, 0 never
// blocks, NaN invalid; measured on CLOCK_MONOTONIC so wall-clock jumps and
// EINTR restarts never stretch or shrink a wait.
#pragma once

#include <cstdint>
#include <ctime>

namespace mproc {

int64_t monotonic_ns();

// Durations this long (~30 years) or longer, infinity included, mean
// forever: they would not fit a nanosecond count.
constexpr double kForeverSeconds = 1e9;

class Deadline {
 public:
  // Parses an API timeout. Returns MPROC_OK or MPROC_E_INVAL (NaN).
  static int from_seconds(double seconds, Deadline *out);
  Deadline() : Deadline(true, 0) {}  // forever
  static Deadline forever() { return Deadline(); }
  static Deadline after_ns(int64_t ns) { return Deadline(false, monotonic_ns() + ns); }

  bool is_forever() const { return forever_; }
  // A zero timeout is expired from the start, without reading the clock.
  bool expired() const { return !forever_ && (end_ns_ == kNow || monotonic_ns() >= end_ns_); }
  // Seconds left in the API's terms: < 0 forever, else >= 0.
  double seconds_left() const;
  // Time left, for ppoll/futex: nullptr when forever, else *buf (>= 0).
  const timespec *remaining(timespec *buf) const;
  // Like remaining() but never longer than cap_ns (for bounded polling).
  timespec remaining_capped(int64_t cap_ns) const;

 private:
  static constexpr int64_t kNow = INT64_MIN;  // end_ns_ of a zero timeout
  int64_t left_ns() const;  // >= 0
  Deadline(bool forever, int64_t end_ns) : forever_(forever), end_ns_(end_ns) {}
  bool forever_;
  int64_t end_ns_;
};

}  // namespace mproc
