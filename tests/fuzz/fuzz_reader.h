// Turns fuzzer input into values, deterministically: every read takes bytes
// from the front and yields zeros once the input is used up, so any input
// decodes and a prefix of an input decodes like the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace fuzz_input {

class Reader {
 public:
  Reader(const uint8_t *data, size_t size) : p_(data), n_(size) {}
  bool done() const { return n_ == 0; }

  template <typename T>
  T take() {
    T v{};
    size_t k = n_ < sizeof v ? n_ : sizeof v;
    if (k) memcpy(&v, p_, k);
    p_ += k;
    n_ -= k;
    return v;
  }
  uint8_t u8() { return take<uint8_t>(); }
  uint32_t below(uint32_t n) { return n ? u8() % n : 0; }

  // One of the listed values, chosen by the next byte.
  template <typename T, size_t N>
  T pick(const T (&values)[N]) {
    return values[below(N)];
  }

  // Up to max bytes, length first.
  std::vector<uint8_t> bytes(size_t max) {
    size_t len = below(static_cast<uint32_t>(max + 1));
    if (len > n_) len = n_;
    std::vector<uint8_t> v(p_, p_ + len);
    p_ += len;
    n_ -= len;
    return v;
  }

 private:
  const uint8_t *p_;
  size_t n_;
};

// Aborts (a finding, with a message) when a call returned a code that its
// documentation does not list for the situation.
[[noreturn]] inline void fail(const char *target, const char *what, long long got) {
  fprintf(stderr, "%s: %s (got %lld)\n", target, what, got);
  abort();
}

}  // namespace fuzz_input
