#include "process/self.h"

#include <atomic>
#include <cstdint>

namespace mproc {

namespace {
struct SelfInfo {
  std::string name = "MainProcess";
  std::string identity;  // empty in the main process
  bool daemon = false;
  std::atomic<uint32_t> created{0};
};

// Never destroyed: atexit handlers and late threads may still ask for it.
SelfInfo &info() {
  static SelfInfo *self = new SelfInfo();
  return *self;
}
}  // namespace

const char *self_name() { return info().name.c_str(); }

bool self_daemon() { return info().daemon; }

std::string next_child_identity() {
  SelfInfo &s = info();
  std::string n = std::to_string(s.created.fetch_add(1, std::memory_order_relaxed) + 1);
  return s.identity.empty() ? n : s.identity + ":" + n;
}

void become_child(const std::string &name, const std::string &identity, bool daemon) {
  SelfInfo &s = info();
  s.name = name;
  s.identity = identity;
  s.daemon = daemon;
  s.created.store(0, std::memory_order_relaxed);
}

}  // namespace mproc
