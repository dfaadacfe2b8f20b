// extern "C" layer: versions, error texts, and process-wide helpers.
#include <cstdlib>
#include <cstring>

#include "base/cpu.h"
#include "mproc.h"
#include "process/self.h"

namespace {

struct ErrorInfo {
  int code;
  const char *name;
  const char *text;
};

// One row per public code; mproc_error_name and mproc_strerror read it.
constexpr ErrorInfo kErrors[] = {
    {MPROC_OK, "MPROC_OK", "Success"},
    {MPROC_DONE, "MPROC_DONE", "No more items"},
    {MPROC_E_INVAL, "MPROC_E_INVAL", "Invalid argument"},
    {MPROC_E_NOMEM, "MPROC_E_NOMEM", "Out of memory"},
    {MPROC_E_NOENT, "MPROC_E_NOENT", "No such object"},
    {MPROC_E_EXIST, "MPROC_E_EXIST", "Object already exists"},
    {MPROC_E_PERM, "MPROC_E_PERM", "Operation not permitted"},
    {MPROC_E_TIMEOUT, "MPROC_E_TIMEOUT", "Timed out"},
    {MPROC_E_BUSY, "MPROC_E_BUSY", "Still running or not ready"},
    {MPROC_E_STATE, "MPROC_E_STATE", "Wrong state for this call"},
    {MPROC_E_FULL, "MPROC_E_FULL", "Queue is full"},
    {MPROC_E_EMPTY, "MPROC_E_EMPTY", "Queue is empty"},
    {MPROC_E_CLOSED, "MPROC_E_CLOSED", "Closed or shut down"},
    {MPROC_E_TOOBIG, "MPROC_E_TOOBIG", "Message or buffer size does not fit"},
    {MPROC_E_BAD_SEGMENT, "MPROC_E_BAD_SEGMENT", "Foreign, corrupt or incompatible shared-memory segment"},
    {MPROC_E_TASK_FAILED, "MPROC_E_TASK_FAILED", "Task failed"},
    {MPROC_E_WORKER_DIED, "MPROC_E_WORKER_DIED", "Worker process died while running the task"},
    {MPROC_E_TASK_TIMEOUT, "MPROC_E_TASK_TIMEOUT", "Task exceeded its timeout and was killed"},
    {MPROC_E_CANCELLED, "MPROC_E_CANCELLED", "Task cancelled"},
    {MPROC_E_INIT_FAILED, "MPROC_E_INIT_FAILED", "Pool workers failed their initializer"},
    {MPROC_E_SYS, "MPROC_E_SYS", "Operating-system failure"},
};

const ErrorInfo *find_error(int code) {
  for (const ErrorInfo &e : kErrors)
    if (e.code == code) return &e;
  return nullptr;
}

}  // namespace

extern "C" {

MPROC_API uint32_t mproc_version_number(void) { return MPROC_VERSION_NUMBER; }

MPROC_API const char *mproc_version_string(void) { return MPROC_VERSION_STRING; }

MPROC_API const char *mproc_strerror(int err) {
  const ErrorInfo *e = find_error(err);
  return e ? e->text : "Unknown error";
}

MPROC_API const char *mproc_error_name(int err) {
  const ErrorInfo *e = find_error(err);
  return e ? e->name : "MPROC_E_UNKNOWN";
}

MPROC_API int mproc_cpu_count(void) { return mproc::cpu_count(); }

MPROC_API void mproc_free(void *p) { free(p); }

MPROC_API const char *mproc_current_name(void) { return mproc::self_name(); }

}  // extern "C"
