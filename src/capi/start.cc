// extern "C" layer for start methods, registration and mproc_main().
#include "capi/guard.h"
#include "mproc.h"
#include "start/child.h"
#include "start/forkserver.h"
#include "start/method.h"
#include "start/registry.h"
#include "start/spawn.h"

using mproc::guarded;

extern "C" {

MPROC_API int mproc_set_start_method(int method) {
  return mproc::set_default_start_method(method);
}

MPROC_API int mproc_get_start_method(void) { return mproc::default_start_method(); }

MPROC_API int mproc_register(const char *name, mproc_target_fn fn) {
  return guarded([&] { return mproc::register_target(name, fn); });
}

MPROC_API int mproc_register_task(const char *name, mproc_task_fn fn) {
  return guarded([&] { return mproc::register_task(name, fn); });
}

MPROC_API int mproc_main(int argc, char **argv) {
  return guarded([&] { return mproc::child_main(argc, argv); });
}

MPROC_API int mproc_set_executable(const char *path) {
  if (path && !*path) return MPROC_E_INVAL;
  return guarded([&] { return mproc::set_spawn_executable(path, nullptr); });
}

MPROC_API int mproc_set_executable_argv(const char *path, const char *const *args) {
  if (path && !*path) return MPROC_E_INVAL;
  return guarded([&] { return mproc::set_spawn_executable(path, args); });
}

MPROC_API int mproc_forkserver_start(void) {
  return guarded([&] {
    if (int rc = mproc::may_start()) return rc;
    return mproc::ForkServer::instance().ensure_running();
  });
}

MPROC_API int mproc_forkserver_pid(void) {
  return guarded([&] { return static_cast<int>(mproc::ForkServer::instance().pid()); });
}

}  // extern "C"
