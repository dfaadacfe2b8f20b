// extern "C" layer for mproc_process_*: argument checks, then the C++ core.
#include "process/process.h"

#include <csignal>

#include "capi/guard.h"
#include "start/registry.h"
#include "mproc.h"

struct mproc_process {
  mproc::Process impl;
  template <typename... Args>
  explicit mproc_process(Args &&...args) : impl(std::forward<Args>(args)...) {}
};

using mproc::guarded;

extern "C" {

MPROC_API int mproc_process_new(mproc_process **out, mproc_target_fn target, const void *arg,
                                size_t arg_len, void *ctx) {
  if (!out || !target || (!arg && arg_len > 0)) return MPROC_E_INVAL;
  return guarded([&] {
    *out = new mproc_process(target, arg, arg_len, ctx);
    return MPROC_OK;
  });
}

MPROC_API int mproc_process_new_named(mproc_process **out, const char *target_name,
                                      const void *arg, size_t arg_len) {
  if (!out || !target_name || (!arg && arg_len > 0)) return MPROC_E_INVAL;
  return guarded([&] {
    mproc_target_fn fn = mproc::find_target(target_name);
    if (!fn) return MPROC_E_NOENT;
    *out = new mproc_process(std::string(target_name), fn, arg, arg_len);
    return MPROC_OK;
  });
}

MPROC_API int mproc_process_set_start_method(mproc_process *p, int method) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.set_start_method(method); });
}

MPROC_API int mproc_process_set_name(mproc_process *p, const char *name) {
  if (!p || !name) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.set_name(name); });
}

MPROC_API int mproc_process_set_daemon(mproc_process *p, int daemon) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.set_daemon(daemon != 0); });
}

MPROC_API int mproc_process_start(mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.start(); });
}

MPROC_API int mproc_process_join(mproc_process *p, double timeout) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.join(timeout); });
}

MPROC_API int mproc_process_is_alive(mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.is_alive(); });
}

MPROC_API int mproc_process_terminate(mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.send_signal(SIGTERM); });
}

MPROC_API int mproc_process_kill(mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.send_signal(SIGKILL); });
}

MPROC_API int mproc_process_pid(const mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return static_cast<int>(p->impl.pid());
}

MPROC_API int mproc_process_exitcode(mproc_process *p, int *code) {
  if (!p || !code) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.exitcode(code); });
}

MPROC_API const char *mproc_process_name(const mproc_process *p) {
  return p ? p->impl.name() : nullptr;
}

MPROC_API int mproc_process_daemon(const mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return p->impl.daemon() ? 1 : 0;
}

MPROC_API int mproc_process_sentinel(const mproc_process *p) {
  if (!p) return MPROC_E_INVAL;
  return guarded([&] { return p->impl.sentinel(); });
}

MPROC_API void mproc_process_free(mproc_process *p) { delete p; }

}  // extern "C"
