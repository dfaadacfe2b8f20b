--- mproc_ffi: the LuaJIT FFI core of the mproc Lua binding.
--
-- It exports exactly the functions of the Lua 5.4 C core (mproc_core.c),
-- with the same arguments and raw results (mproc codes), so that mproc.lua,
-- the API users see, behaves the same on both. libmproc is loaded by its
-- SONAME, "libmproc.so.0", or from the path in the environment variable
-- MPROC_LIB (the tests point it at the build tree).
--
-- Lua code in children: three FFI callbacks (one each for process targets,
-- pool initializers and pool tasks, created once: callback slots are a
-- limited resource) find the Lua function to run from their ctx, an integer
-- id. A forked child runs it on its own copy of the Lua state. JIT
-- compilation is turned off for this file, so every FFI call that may fork
-- (and so call back in the child) is made from the interpreter: LuaJIT
-- refuses callbacks from C functions called by compiled code.
if jit then jit.off(true, true) end

local ffi = require("ffi")

ffi.cdef [[
typedef struct mproc_process mproc_process;
typedef struct mproc_queue mproc_queue;
typedef struct mproc_pool mproc_pool;
typedef struct mproc_result mproc_result;
typedef struct mproc_iter mproc_iter;
typedef struct mproc_reply mproc_reply;
typedef struct mproc_bytes { const void *data; size_t len; } mproc_bytes;
typedef int (*mproc_target_fn)(const void *arg, size_t arg_len, void *ctx);
typedef int (*mproc_task_fn)(const void *arg, size_t arg_len, mproc_reply *reply, void *ctx);

uint32_t mproc_version_number(void);
const char *mproc_version_string(void);
const char *mproc_strerror(int err);
const char *mproc_error_name(int err);
int mproc_cpu_count(void);
void mproc_free(void *p);
const char *mproc_current_name(void);

int mproc_process_new(mproc_process **out, mproc_target_fn target, const void *arg,
                      size_t arg_len, void *ctx);
int mproc_process_set_name(mproc_process *p, const char *name);
int mproc_process_set_daemon(mproc_process *p, int daemon);
int mproc_process_start(mproc_process *p);
int mproc_process_join(mproc_process *p, double timeout);
int mproc_process_is_alive(mproc_process *p);
int mproc_process_terminate(mproc_process *p);
int mproc_process_kill(mproc_process *p);
int mproc_process_pid(const mproc_process *p);
int mproc_process_exitcode(mproc_process *p, int *code);
const char *mproc_process_name(const mproc_process *p);
int mproc_process_daemon(const mproc_process *p);
int mproc_process_sentinel(const mproc_process *p);
void mproc_process_free(mproc_process *p);

int mproc_queue_new(mproc_queue **out, size_t maxsize, size_t capacity_bytes);
int mproc_queue_create(mproc_queue **out, const char *name, size_t maxsize, size_t capacity_bytes);
int mproc_queue_open(mproc_queue **out, const char *name);
int mproc_queue_unlink(const char *name);
int mproc_queue_put(mproc_queue *q, const void *data, size_t len, double timeout);
int mproc_queue_get_alloc(mproc_queue *q, void **data, size_t *len, double timeout);
int64_t mproc_queue_qsize(mproc_queue *q);
int mproc_queue_empty(mproc_queue *q);
int mproc_queue_full(mproc_queue *q);
int mproc_queue_close(mproc_queue *q);
int mproc_queue_shutdown(mproc_queue *q, int immediate);
const char *mproc_queue_name(const mproc_queue *q);
size_t mproc_queue_max_message(const mproc_queue *q);
size_t mproc_queue_capacity(const mproc_queue *q);
void mproc_queue_free(mproc_queue *q);

int mproc_reply_set(mproc_reply *r, const void *data, size_t len);
int mproc_pool_new(mproc_pool **out, int workers);
int mproc_pool_workers(const mproc_pool *p);
int mproc_pool_set_initializer(mproc_pool *p, mproc_target_fn init, const void *arg,
                               size_t arg_len, void *ctx);
int mproc_pool_set_maxtasksperchild(mproc_pool *p, uint32_t n);
int mproc_pool_set_task_timeout(mproc_pool *p, double seconds);
int mproc_pool_apply_async(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t arg_len,
                           void *ctx, mproc_result **out);
int mproc_pool_apply(mproc_pool *p, mproc_task_fn fn, const void *arg, size_t arg_len,
                     void *ctx, void **out, size_t *out_len);
int mproc_result_wait(mproc_result *r, double timeout);
int mproc_result_ready(mproc_result *r);
int mproc_result_successful(mproc_result *r);
int mproc_result_get(mproc_result *r, const void **data, size_t *len, double timeout);
int mproc_result_worker_exitcode(mproc_result *r, int *code);
void mproc_result_free(mproc_result *r);
int mproc_pool_imap(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items, size_t n,
                    size_t chunksize, void *ctx, mproc_iter **out);
int mproc_pool_imap_unordered(mproc_pool *p, mproc_task_fn fn, const mproc_bytes *items,
                              size_t n, size_t chunksize, void *ctx, mproc_iter **out);
int mproc_iter_next(mproc_iter *it, size_t *index, const void **data, size_t *len,
                    double timeout);
int mproc_iter_worker_exitcode(mproc_iter *it, int *code);
void mproc_iter_free(mproc_iter *it);
int mproc_pool_close(mproc_pool *p);
int mproc_pool_terminate(mproc_pool *p);
int mproc_pool_join(mproc_pool *p, double timeout);
int mproc_pool_event_fd(mproc_pool *p);
int mproc_pool_stat(mproc_pool *p, int which, uint64_t *value);
void mproc_pool_free(mproc_pool *p);
]]

local C = ffi.load(os.getenv("MPROC_LIB") or "libmproc.so.0")

-- Matches MPROC_VERSION_NUMBER of the headers these declarations copy.
local REQUIRED_VERSION = 200
if C.mproc_version_number() < REQUIRED_VERSION then
  error("mproc_ffi: needs libmproc >= 0.2.0, loaded " .. ffi.string(C.mproc_version_string()))
end

local M = { backend = "ffi" }

local MPROC_OK, MPROC_E_TASK_FAILED = 0, -1007
local MPROC_DONE, MPROC_E_TIMEOUT, MPROC_E_INVAL = 1, -110, -22
local FOREVER = -1.0

local function timeout_of(t)
  if t == nil then return FOREVER end
  assert(type(t) == "number", "timeout must be a number or nil")
  return t
end

local function size_of(v, what)
  v = v or 0
  assert(type(v) == "number" and v >= 0, (what or "size") .. " must be a non-negative number")
  return v
end

-- Handles are boxed in a table {h = cdata}: free() clears h, and the cdata
-- carries an ffi.gc finalizer as the fallback release.
local function live(box, what)
  local h = box.h
  if h == nil then error(what .. ": handle used after free()", 3) end
  return h
end

local function release(box, fn)
  local h = box.h
  if h ~= nil then
    box.h = nil
    fn(ffi.gc(h, nil))
  end
end

local int1 = ffi.new("int[1]")
local u64 = ffi.new("uint64_t[1]")
local size1 = ffi.new("size_t[1]")
local size2 = ffi.new("size_t[1]")
local ptr1 = ffi.new("void*[1]")
local cptr1 = ffi.new("const void*[1]")

-- Calls fn(handle, int*) and returns its code and the int.
local function with_int(fn, h)
  int1[0] = 0
  local rc = fn(h, int1)
  return rc, int1[0]
end

local function ctx_of(id) return ffi.cast("void*", ffi.cast("intptr_t", id)) end
local function id_of(ctx) return tonumber(ffi.cast("intptr_t", ctx)) end

------------------------------------------------------------------- common

function M.version_string() return ffi.string(C.mproc_version_string()) end
function M.version_number() return tonumber(C.mproc_version_number()) end
function M.cpu_count() return C.mproc_cpu_count() end
function M.current_name() return ffi.string(C.mproc_current_name()) end
function M.error_name(rc) return ffi.string(C.mproc_error_name(rc)) end
function M.strerror(rc) return ffi.string(C.mproc_strerror(rc)) end

------------------------------------------------------------------ process

local targets, next_target = {}, 0

-- Runs in the forked child, on its copy of the state that called start().
local target_cb = ffi.cast("mproc_target_fn", function(arg, len, ctx)
  local fn = targets[id_of(ctx)]
  local ok, code = pcall(fn)
  if not ok then
    io.stderr:write("mproc: error in process ", M.current_name(), ": ", tostring(code), "\n")
    return 1
  end
  if type(code) ~= "number" then return 1 end
  return code
end)

function M.process_new(fn)
  assert(type(fn) == "function", "bad argument #1 to 'process_new' (function expected)")
  next_target = next_target + 1
  local id = next_target
  local out = ffi.new("mproc_process*[1]")
  local rc = C.mproc_process_new(out, target_cb, nil, 0, ctx_of(id))
  if rc ~= MPROC_OK then return nil, rc end
  targets[id] = fn
  return { h = ffi.gc(out[0], C.mproc_process_free), id = id }
end

function M.process_start(b) return C.mproc_process_start(live(b, "process")) end
function M.process_join(b, t) return C.mproc_process_join(live(b, "process"), timeout_of(t)) end
function M.process_is_alive(b) return C.mproc_process_is_alive(live(b, "process")) end
function M.process_terminate(b) return C.mproc_process_terminate(live(b, "process")) end
function M.process_kill(b) return C.mproc_process_kill(live(b, "process")) end
function M.process_pid(b) return C.mproc_process_pid(live(b, "process")) end
function M.process_daemon(b) return C.mproc_process_daemon(live(b, "process")) end
function M.process_sentinel(b) return C.mproc_process_sentinel(live(b, "process")) end

function M.process_exitcode(b) return with_int(C.mproc_process_exitcode, live(b, "process")) end

function M.process_name(b) return ffi.string(C.mproc_process_name(live(b, "process"))) end

function M.process_set_name(b, name)
  assert(type(name) == "string", "name must be a string")
  return C.mproc_process_set_name(live(b, "process"), name)
end

function M.process_set_daemon(b, on)
  return C.mproc_process_set_daemon(live(b, "process"), on and 1 or 0)
end

function M.process_free(b)
  release(b, C.mproc_process_free)
  if b.id then targets[b.id] = nil end
end

-------------------------------------------------------------------- queue

local function box_queue(rc, out)
  if rc ~= MPROC_OK then return nil, rc end
  return { h = ffi.gc(out[0], C.mproc_queue_free) }
end

function M.queue_new(maxsize, cap)
  local out = ffi.new("mproc_queue*[1]")
  return box_queue(C.mproc_queue_new(out, size_of(maxsize, "maxsize"), size_of(cap, "capacity")), out)
end

function M.queue_create(name, maxsize, cap)
  assert(type(name) == "string", "name must be a string")
  local out = ffi.new("mproc_queue*[1]")
  return box_queue(C.mproc_queue_create(out, name, size_of(maxsize, "maxsize"), size_of(cap, "capacity")), out)
end

function M.queue_open(name)
  assert(type(name) == "string", "name must be a string")
  local out = ffi.new("mproc_queue*[1]")
  return box_queue(C.mproc_queue_open(out, name), out)
end

function M.queue_unlink(name)
  assert(type(name) == "string", "name must be a string")
  return C.mproc_queue_unlink(name)
end

function M.queue_put(b, data, t)
  local q = live(b, "queue")
  if type(data) == "number" then data = tostring(data) end
  assert(type(data) == "string", "bad argument #1 to 'put' (string expected)")
  return C.mproc_queue_put(q, data, #data, timeout_of(t))
end

function M.queue_get(b, t)
  local q = live(b, "queue")
  local rc = C.mproc_queue_get_alloc(q, ptr1, size1, timeout_of(t))
  if rc ~= MPROC_OK then return rc end
  local p = ptr1[0]
  local s = ffi.string(p, size1[0])
  C.mproc_free(p)
  return rc, s
end

function M.queue_qsize(b) return tonumber(C.mproc_queue_qsize(live(b, "queue"))) end
function M.queue_empty(b) return C.mproc_queue_empty(live(b, "queue")) end
function M.queue_full(b) return C.mproc_queue_full(live(b, "queue")) end
function M.queue_close(b) return C.mproc_queue_close(live(b, "queue")) end
function M.queue_shutdown(b, imm) return C.mproc_queue_shutdown(live(b, "queue"), imm and 1 or 0) end

function M.queue_name(b)
  local n = C.mproc_queue_name(live(b, "queue"))
  if n == nil then return nil end
  return ffi.string(n)
end

function M.queue_max_message(b) return tonumber(C.mproc_queue_max_message(live(b, "queue"))) end
function M.queue_capacity(b) return tonumber(C.mproc_queue_capacity(live(b, "queue"))) end
function M.queue_free(b) release(b, C.mproc_queue_free) end

--------------------------------------------------------------------- pool

local pools, next_pool = {}, 0
-- The pool this worker process belongs to (set by init_cb in the worker).
local worker_pool = nil

local function run_dispatch(pool, index, arg, len, reply)
  local ok, status, r = pcall(pool.dispatch, index, len > 0 and ffi.string(arg, len) or "")
  if not ok then
    status, r = false, tostring(status)
  end
  if type(r) == "string" and reply ~= nil then
    if C.mproc_reply_set(reply, r, #r) ~= MPROC_OK then status = false end
  elseif not status and reply == nil then
    io.stderr:write("mproc: error in ", M.current_name(), ": ", tostring(r), "\n")
  end
  return status and 0 or 1
end

local init_cb = ffi.cast("mproc_target_fn", function(arg, len, ctx)
  worker_pool = pools[id_of(ctx)]
  if not worker_pool or not worker_pool.has_init then return 0 end
  return run_dispatch(worker_pool, 0, arg, tonumber(len), nil)
end)

-- ctx 0 is the no-op task pool_start() uses to wait for the first forks.
local task_cb = ffi.cast("mproc_task_fn", function(arg, len, reply, ctx)
  local index = id_of(ctx)
  if index == 0 then return 0 end
  if not worker_pool then return 1 end
  return run_dispatch(worker_pool, index, arg, tonumber(len), reply)
end)

function M.pool_new(workers, dispatch)
  assert(type(workers) == "number", "workers must be a number")
  assert(type(dispatch) == "function", "dispatch must be a function")
  next_pool = next_pool + 1
  local id = next_pool
  local out = ffi.new("mproc_pool*[1]")
  local rc = C.mproc_pool_new(out, workers)
  if rc ~= MPROC_OK then return nil, rc end
  local b = { h = ffi.gc(out[0], C.mproc_pool_free), id = id }
  rc = C.mproc_pool_set_initializer(b.h, init_cb, nil, 0, ctx_of(id))
  if rc ~= MPROC_OK then
    release(b, C.mproc_pool_free)
    return nil, rc
  end
  pools[id] = { dispatch = dispatch, has_init = false }
  return b
end

function M.pool_set_initializer(b, arg)
  assert(type(arg) == "string", "initializer argument must be a string")
  local rc = C.mproc_pool_set_initializer(live(b, "pool"), init_cb, arg, #arg, ctx_of(b.id))
  if rc == MPROC_OK then pools[b.id].has_init = true end
  return rc
end

function M.pool_set_maxtasksperchild(b, n)
  return C.mproc_pool_set_maxtasksperchild(live(b, "pool"), size_of(n, "maxtasksperchild"))
end

function M.pool_set_task_timeout(b, s)
  assert(type(s) == "number", "task timeout must be a number")
  return C.mproc_pool_set_task_timeout(live(b, "pool"), s)
end

-- One blocking C call that runs a no-op task: the manager forks every
-- worker before it dispatches a task, so the first workers are forked while
-- this state is inside that call.
function M.pool_start(b)
  local rc = C.mproc_pool_apply(live(b, "pool"), task_cb, nil, 0, nil, ptr1, size1)
  if rc == MPROC_OK or rc == MPROC_E_TASK_FAILED then C.mproc_free(ptr1[0]) end
  return rc
end

function M.pool_workers(b) return C.mproc_pool_workers(live(b, "pool")) end
function M.pool_close(b) return C.mproc_pool_close(live(b, "pool")) end
function M.pool_terminate(b) return C.mproc_pool_terminate(live(b, "pool")) end
function M.pool_join(b, t) return C.mproc_pool_join(live(b, "pool"), timeout_of(t)) end
function M.pool_event_fd(b) return C.mproc_pool_event_fd(live(b, "pool")) end

function M.pool_stat(b, which)
  u64[0] = 0
  local rc = C.mproc_pool_stat(live(b, "pool"), which, u64)
  return rc, tonumber(u64[0])
end

function M.pool_free(b)
  release(b, C.mproc_pool_free)
  if b.id then pools[b.id] = nil end
end

function M.pool_apply_async(b, index, arg)
  local p = live(b, "pool")
  assert(type(arg) == "string", "task argument must be a string")
  local out = ffi.new("mproc_result*[1]")
  local rc = C.mproc_pool_apply_async(p, task_cb, arg, #arg, ctx_of(index), out)
  if rc ~= MPROC_OK then return nil, rc end
  return { h = ffi.gc(out[0], C.mproc_result_free) }
end

function M.result_wait(b, t) return C.mproc_result_wait(live(b, "result"), timeout_of(t)) end
function M.result_ready(b) return C.mproc_result_ready(live(b, "result")) end
function M.result_successful(b) return C.mproc_result_successful(live(b, "result")) end

function M.result_get(b, t)
  cptr1[0], size1[0] = nil, 0
  local rc = C.mproc_result_get(live(b, "result"), cptr1, size1, timeout_of(t))
  if rc ~= MPROC_OK and rc ~= MPROC_E_TASK_FAILED then return rc end
  if cptr1[0] == nil then return rc, "" end
  return rc, ffi.string(cptr1[0], size1[0])
end

function M.result_worker_exitcode(b) return with_int(C.mproc_result_worker_exitcode, live(b, "result")) end

function M.result_free(b) release(b, C.mproc_result_free) end

-- The items (Lua strings) and the mproc_bytes array pointing into them must
-- outlive the C iterator: its finalizer closes over them.
function M.pool_imap(b, index, items, chunksize, unordered)
  local p = live(b, "pool")
  assert(type(items) == "table", "items must be a table")
  local n = #items
  local arr = ffi.new("mproc_bytes[?]", n > 0 and n or 1)
  for i = 1, n do
    local s = items[i]
    if type(s) ~= "string" then error("item " .. i .. " is not a string", 2) end
    arr[i - 1].data = s
    arr[i - 1].len = #s
  end
  local out = ffi.new("mproc_iter*[1]")
  local fn = unordered and C.mproc_pool_imap_unordered or C.mproc_pool_imap
  local rc = fn(p, task_cb, arr, n, size_of(chunksize, "chunksize"), ctx_of(index), out)
  if rc ~= MPROC_OK then return nil, rc end
  local keep = { items, arr }
  return { h = ffi.gc(out[0], function(it)
    C.mproc_iter_free(it)
    return keep
  end), keep = keep }
end

function M.iter_next(b, t)
  cptr1[0], size1[0], size2[0] = nil, 0, 0
  local rc = C.mproc_iter_next(live(b, "iter"), size2, cptr1, size1, timeout_of(t))
  if rc == MPROC_DONE or rc == MPROC_E_TIMEOUT or rc == MPROC_E_INVAL then return rc end
  local index = tonumber(size2[0])
  if rc == MPROC_OK or rc == MPROC_E_TASK_FAILED then
    if cptr1[0] == nil then return rc, index, "" end
    return rc, index, ffi.string(cptr1[0], size1[0])
  end
  return rc, index
end

function M.iter_worker_exitcode(b) return with_int(C.mproc_iter_worker_exitcode, live(b, "iter")) end

function M.iter_free(b)
  local h = b.h
  if h ~= nil then
    b.h = nil
    C.mproc_iter_free(ffi.gc(h, nil))
  end
end

return M
