#include "start/registry.h"

#include <cstring>
#include <map>
#include <mutex>

namespace mproc {

namespace {

// One registry per function type; registration is rare, lookups are per
// start or per task submission, so a mutex and two maps are plenty.
template <typename Fn>
class Registry {
 public:
  int add(const char *name, Fn fn) {
    if (!valid_entry_name(name) || !fn) return MPROC_E_INVAL;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_name_.find(name);
    if (it != by_name_.end()) return it->second == fn ? MPROC_OK : MPROC_E_EXIST;
    by_name_.emplace(name, fn);
    // The first name wins for reverse lookups of a function registered twice.
    by_fn_.emplace(fn, name);
    by_id_.emplace(entry_id(name), fn);
    return MPROC_OK;
  }
  Fn find_id(uint64_t id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_id_.find(id);
    return it == by_id_.end() ? nullptr : it->second;
  }
  Fn find(const std::string &name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
  }
  bool name_of(Fn fn, std::string *name) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = by_fn_.find(fn);
    if (it == by_fn_.end()) return false;
    *name = it->second;
    return true;
  }

 private:
  std::mutex mu_;
  std::map<std::string, Fn> by_name_;
  std::map<Fn, std::string> by_fn_;
  std::map<uint64_t, Fn> by_id_;
};

// Never destroyed: registrations may run from constructors and lookups
// from atexit-time code, in any order relative to other statics.
template <typename Fn>
Registry<Fn> &registry() {
  static auto *r = new Registry<Fn>();
  return *r;
}

}  // namespace

uint64_t entry_id(const std::string &name) {
  uint64_t h = 0xcbf29ce484222325ull;  // 64-bit FNV-1a
  for (unsigned char ch : name) {
    h ^= ch;
    h *= 0x100000001b3ull;
  }
  return h | 1;  // never 0, which means "none"
}

bool valid_entry_name(const char *name) {
  if (!name) return false;
  size_t n = strnlen(name, kMaxEntryName + 1);
  if (n == 0 || n > kMaxEntryName) return false;
  for (size_t i = 0; i < n; i++)
    if (name[i] <= ' ' || name[i] > '~') return false;
  return true;
}

int register_target(const char *name, mproc_target_fn fn) {
  return registry<mproc_target_fn>().add(name, fn);
}
int register_task(const char *name, mproc_task_fn fn) {
  return registry<mproc_task_fn>().add(name, fn);
}
mproc_target_fn find_target(const std::string &name) {
  return registry<mproc_target_fn>().find(name);
}
mproc_task_fn find_task(const std::string &name) { return registry<mproc_task_fn>().find(name); }
bool target_name(mproc_target_fn fn, std::string *name) {
  return registry<mproc_target_fn>().name_of(fn, name);
}
bool task_name(mproc_task_fn fn, std::string *name) {
  return registry<mproc_task_fn>().name_of(fn, name);
}

}  // namespace mproc

namespace mproc {

bool task_id_of(mproc_task_fn fn, uint64_t *id) {
  std::string name;
  if (!task_name(fn, &name)) return false;
  *id = entry_id(name);
  return true;
}

mproc_task_fn find_task_by_id(uint64_t id) { return registry<mproc_task_fn>().find_id(id); }

}  // namespace mproc
