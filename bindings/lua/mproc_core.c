/*
 * mproc_core: the Lua 5.4 C core of the mproc Lua binding.
 *
 * This module is thin on purpose: it wraps every libmproc handle in a full
 * userdata (with __gc as the fallback release) and returns raw mproc codes.
 * The Lua API users see (objects, `nil, message, code, name` errors, task
 * tables, callbacks) is mproc.lua, shared with the LuaJIT FFI core
 * (mproc_ffi.lua), which exports exactly the same functions with the same
 * results. Nothing here needs liblua5.4.so at link time: the symbols come
 * from the interpreter that loads the module.
 *
 * Lua code in children (the point of mproc with the fork start method):
 * - a process target is a Lua function anchored in the registry; the child
 *   is forked inside mproc_process_start(), so it runs on its copy of the
 *   calling state, frozen inside that C call, through lua_pcall only;
 * - a pool worker is forked by mproc's manager thread. Every worker first
 *   runs init_trampoline (always installed), which records which pool it
 *   belongs to; tasks then call the pool's Lua dispatch function on a
 *   dedicated Lua thread (coroutine) created with the pool, whatever the
 *   parent was running. pool_start() waits, inside one C call, until the
 *   first workers have been forked, so their copy of the Lua state is a
 *   consistent one. Replacement workers (maxtasksperchild, crashes) are
 *   forked whenever the manager thread needs them: see mproc.lua.
 */
#include <lauxlib.h>
#include <lua.h>
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define T_PROCESS "mproc_core.process"
#define T_QUEUE "mproc_core.queue"
#define T_POOL "mproc_core.pool"
#define T_RESULT "mproc_core.result"
#define T_ITER "mproc_core.iter"

/* Timeouts: nil or a negative number waits forever. */
static double opt_timeout(lua_State *L, int idx) {
  return lua_isnoneornil(L, idx) ? MPROC_FOREVER : luaL_checknumber(L, idx);
}

static size_t opt_size(lua_State *L, int idx) {
  lua_Integer v = luaL_optinteger(L, idx, 0);
  luaL_argcheck(L, v >= 0, idx, "must not be negative");
  return (size_t)v;
}

/* Pushes nil, rc: how constructors report failure to mproc.lua. */
static int push_fail(lua_State *L, int rc) {
  lua_pushnil(L);
  lua_pushinteger(L, rc);
  return 2;
}

static int push_rc(lua_State *L, int rc) {
  lua_pushinteger(L, rc);
  return 1;
}

/* Pushes rc and an int out-parameter. */
static int push_rc_int(lua_State *L, int rc, lua_Integer v) {
  lua_pushinteger(L, rc);
  lua_pushinteger(L, v);
  return 2;
}

/* Each userdata is a struct whose first member is the mproc handle (NULL
 * once freed). Using a freed handle is a programming error: raise. */
static void *check_live(lua_State *L, int idx, const char *tname) {
  void **ud = luaL_checkudata(L, idx, tname);
  if (*ud == NULL) luaL_error(L, "%s: handle used after free()", tname);
  return ud;
}

/* ------------------------------------------------------------------ common */

static int l_version_string(lua_State *L) {
  lua_pushstring(L, mproc_version_string());
  return 1;
}

static int l_version_number(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mproc_version_number());
  return 1;
}

static int l_cpu_count(lua_State *L) {
  lua_pushinteger(L, mproc_cpu_count());
  return 1;
}

static int l_current_name(lua_State *L) {
  lua_pushstring(L, mproc_current_name());
  return 1;
}

static int l_error_name(lua_State *L) {
  lua_pushstring(L, mproc_error_name((int)luaL_checkinteger(L, 1)));
  return 1;
}

static int l_strerror(lua_State *L) {
  lua_pushstring(L, mproc_strerror((int)luaL_checkinteger(L, 1)));
  return 1;
}

/* ----------------------------------------------------------------- process */

typedef struct {
  mproc_process *p;
  lua_State *L; /* the state that called start(): the child runs on its copy */
  int fnref;    /* the target: a Lua function returning the exit code */
} lprocess;

struct target_call {
  lprocess *lp;
  int code;
};

/* Runs protected: calls the target and reads its integer exit code. */
static int target_call(lua_State *L) {
  struct target_call *c = lua_touserdata(L, 1);
  lua_rawgeti(L, LUA_REGISTRYINDEX, c->lp->fnref);
  lua_call(L, 0, 1);
  c->code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 1;
  return 0;
}

/* The C target of every Lua process (runs in the forked child). */
static int target_trampoline(const void *arg, size_t len, void *ctx) {
  (void)arg, (void)len;
  lprocess *lp = ctx;
  lua_State *L = lp->L;
  int top = lua_gettop(L);
  struct target_call c = {lp, 1};
  lua_pushcfunction(L, target_call);
  lua_pushlightuserdata(L, &c);
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "(non-string error)";
    fprintf(stderr, "mproc: error in process %s: %s\n", mproc_current_name(), msg);
    c.code = 1;
  }
  lua_settop(L, top);
  return c.code;
}

static lprocess *check_process(lua_State *L) { return check_live(L, 1, T_PROCESS); }

/* process_new(fn) -> handle | nil, rc */
static int l_process_new(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lprocess *lp = lua_newuserdatauv(L, sizeof *lp, 0);
  lp->p = NULL;
  lp->L = L;
  lp->fnref = LUA_NOREF;
  luaL_setmetatable(L, T_PROCESS);
  int rc = mproc_process_new(&lp->p, target_trampoline, NULL, 0, lp);
  if (rc != MPROC_OK) return push_fail(L, rc);
  lua_pushvalue(L, 1);
  lp->fnref = luaL_ref(L, LUA_REGISTRYINDEX);
  return 1;
}

static int l_process_start(lua_State *L) {
  lprocess *lp = check_process(L);
  lp->L = L;
  return push_rc(L, mproc_process_start(lp->p));
}

static int l_process_join(lua_State *L) {
  lprocess *lp = check_process(L);
  return push_rc(L, mproc_process_join(lp->p, opt_timeout(L, 2)));
}

static int l_process_is_alive(lua_State *L) { return push_rc(L, mproc_process_is_alive(check_process(L)->p)); }
static int l_process_terminate(lua_State *L) { return push_rc(L, mproc_process_terminate(check_process(L)->p)); }
static int l_process_kill(lua_State *L) { return push_rc(L, mproc_process_kill(check_process(L)->p)); }
static int l_process_pid(lua_State *L) { return push_rc(L, mproc_process_pid(check_process(L)->p)); }
static int l_process_daemon(lua_State *L) { return push_rc(L, mproc_process_daemon(check_process(L)->p)); }
static int l_process_sentinel(lua_State *L) { return push_rc(L, mproc_process_sentinel(check_process(L)->p)); }

static int l_process_exitcode(lua_State *L) {
  int code = 0;
  int rc = mproc_process_exitcode(check_process(L)->p, &code);
  return push_rc_int(L, rc, code);
}

static int l_process_name(lua_State *L) {
  lua_pushstring(L, mproc_process_name(check_process(L)->p));
  return 1;
}

static int l_process_set_name(lua_State *L) {
  lprocess *lp = check_process(L);
  return push_rc(L, mproc_process_set_name(lp->p, luaL_checkstring(L, 2)));
}

static int l_process_set_daemon(lua_State *L) {
  lprocess *lp = check_process(L);
  return push_rc(L, mproc_process_set_daemon(lp->p, lua_toboolean(L, 2)));
}

static int l_process_free(lua_State *L) {
  lprocess *lp = luaL_checkudata(L, 1, T_PROCESS);
  mproc_process_free(lp->p);
  lp->p = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, lp->fnref);
  lp->fnref = LUA_NOREF;
  return 0;
}

/* ------------------------------------------------------------------- queue */

typedef struct {
  mproc_queue *q;
} lqueue;

static mproc_queue *check_queue(lua_State *L) { return ((lqueue *)check_live(L, 1, T_QUEUE))->q; }

static int push_queue(lua_State *L, int rc, mproc_queue *q) {
  if (rc != MPROC_OK) return push_fail(L, rc);
  lqueue *lq = lua_newuserdatauv(L, sizeof *lq, 0);
  lq->q = q;
  luaL_setmetatable(L, T_QUEUE);
  return 1;
}

static int l_queue_new(lua_State *L) {
  mproc_queue *q = NULL;
  size_t maxsize = opt_size(L, 1), cap = opt_size(L, 2);
  int rc = mproc_queue_new(&q, maxsize, cap);
  return push_queue(L, rc, q);
}

static int l_queue_create(lua_State *L) {
  mproc_queue *q = NULL;
  const char *name = luaL_checkstring(L, 1);
  size_t maxsize = opt_size(L, 2), cap = opt_size(L, 3);
  int rc = mproc_queue_create(&q, name, maxsize, cap);
  return push_queue(L, rc, q);
}

static int l_queue_open(lua_State *L) {
  mproc_queue *q = NULL;
  int rc = mproc_queue_open(&q, luaL_checkstring(L, 1));
  return push_queue(L, rc, q);
}

static int l_queue_unlink(lua_State *L) { return push_rc(L, mproc_queue_unlink(luaL_checkstring(L, 1))); }

static int l_queue_put(lua_State *L) {
  mproc_queue *q = check_queue(L);
  size_t len;
  const char *data = luaL_checklstring(L, 2, &len);
  return push_rc(L, mproc_queue_put(q, data, len, opt_timeout(L, 3)));
}

/* queue_get(q, timeout) -> rc, data */
static int l_queue_get(lua_State *L) {
  mproc_queue *q = check_queue(L);
  double timeout = opt_timeout(L, 2);
  void *data = NULL;
  size_t len = 0;
  int rc = mproc_queue_get_alloc(q, &data, &len, timeout);
  lua_pushinteger(L, rc);
  if (rc != MPROC_OK) return 1;
  lua_pushlstring(L, data, len);
  mproc_free(data);
  return 2;
}

static int l_queue_qsize(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mproc_queue_qsize(check_queue(L)));
  return 1;
}

static int l_queue_empty(lua_State *L) { return push_rc(L, mproc_queue_empty(check_queue(L))); }
static int l_queue_full(lua_State *L) { return push_rc(L, mproc_queue_full(check_queue(L))); }
static int l_queue_close(lua_State *L) { return push_rc(L, mproc_queue_close(check_queue(L))); }

static int l_queue_shutdown(lua_State *L) {
  mproc_queue *q = check_queue(L);
  return push_rc(L, mproc_queue_shutdown(q, lua_toboolean(L, 2)));
}

static int l_queue_name(lua_State *L) {
  const char *name = mproc_queue_name(check_queue(L));
  if (name)
    lua_pushstring(L, name);
  else
    lua_pushnil(L);
  return 1;
}

static int l_queue_max_message(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mproc_queue_max_message(check_queue(L)));
  return 1;
}

static int l_queue_capacity(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)mproc_queue_capacity(check_queue(L)));
  return 1;
}

static int l_queue_free(lua_State *L) {
  lqueue *lq = luaL_checkudata(L, 1, T_QUEUE);
  mproc_queue_free(lq->q);
  lq->q = NULL;
  return 0;
}

/* -------------------------------------------------------------------- pool */

typedef struct {
  mproc_pool *p;
  lua_State *T;    /* dedicated thread the workers run Lua on */
  int threadref;   /* anchors T */
  int dispatchref; /* dispatch(index, arg) -> ok, reply; index 0 = initializer */
  int has_init;
} lpool;

/* The pool this worker process belongs to, set by init_trampoline. */
static lpool *worker_pool;

struct dispatch_call {
  lpool *lp;
  lua_Integer index;
  const void *arg;
  size_t len;
  mproc_reply *reply;
  int status;
};

/* Runs protected on the worker's Lua thread. */
static int dispatch_call(lua_State *T) {
  struct dispatch_call *c = lua_touserdata(T, 1);
  lua_rawgeti(T, LUA_REGISTRYINDEX, c->lp->dispatchref);
  lua_pushinteger(T, c->index);
  lua_pushlstring(T, c->len ? c->arg : "", c->len);
  lua_call(T, 2, 2);
  size_t n = 0;
  const char *s = lua_type(T, -1) == LUA_TSTRING ? lua_tolstring(T, -1, &n) : NULL;
  c->status = lua_toboolean(T, -2) ? 0 : 1;
  if (s && c->reply && mproc_reply_set(c->reply, s, n) != MPROC_OK) c->status = 1;
  return 0;
}

static int run_dispatch(lpool *lp, lua_Integer index, const void *arg, size_t len,
                        mproc_reply *reply) {
  lua_State *T = lp->T;
  struct dispatch_call c = {lp, index, arg, len, reply, 1};
  lua_settop(T, 0);
  lua_pushcfunction(T, dispatch_call);
  lua_pushlightuserdata(T, &c);
  if (lua_pcall(T, 1, 0, 0) != LUA_OK) {
    const char *msg = lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "(non-string error)";
    if (reply) mproc_reply_set(reply, msg, strlen(msg));
    else fprintf(stderr, "mproc: error in %s: %s\n", mproc_current_name(), msg);
    c.status = 1;
  }
  lua_settop(T, 0);
  return c.status;
}

/* Installed as every Lua pool's initializer: runs first in each worker. */
static int init_trampoline(const void *arg, size_t len, void *ctx) {
  worker_pool = ctx;
  if (!worker_pool->has_init) return 0;
  return run_dispatch(worker_pool, 0, arg, len, NULL);
}

/* The C task of every Lua task; ctx is the task's index (>= 1). */
static int task_trampoline(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  if (!worker_pool) return 1;
  return run_dispatch(worker_pool, (lua_Integer)(intptr_t)ctx, arg, len, reply);
}

static int noop_task(const void *arg, size_t len, mproc_reply *reply, void *ctx) {
  (void)arg, (void)len, (void)reply, (void)ctx;
  return 0;
}

static lpool *check_pool(lua_State *L) { return check_live(L, 1, T_POOL); }

/* pool_new(workers, dispatch) -> handle | nil, rc */
static int l_pool_new(lua_State *L) {
  int workers = (int)luaL_checkinteger(L, 1);
  luaL_checktype(L, 2, LUA_TFUNCTION);
  lpool *lp = lua_newuserdatauv(L, sizeof *lp, 0);
  memset(lp, 0, sizeof *lp);
  lp->threadref = lp->dispatchref = LUA_NOREF;
  luaL_setmetatable(L, T_POOL);
  lp->T = lua_newthread(L);
  lp->threadref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, 2);
  lp->dispatchref = luaL_ref(L, LUA_REGISTRYINDEX);
  int rc = mproc_pool_new(&lp->p, workers);
  if (rc == MPROC_OK) rc = mproc_pool_set_initializer(lp->p, init_trampoline, NULL, 0, lp);
  if (rc != MPROC_OK) return push_fail(L, rc);
  return 1;
}

/* pool_set_initializer(pool, arg): the dispatch function's index 0 runs in
 * every worker before its first task, with arg. */
static int l_pool_set_initializer(lua_State *L) {
  lpool *lp = check_pool(L);
  size_t len;
  const char *arg = luaL_checklstring(L, 2, &len);
  int rc = mproc_pool_set_initializer(lp->p, init_trampoline, arg, len, lp);
  if (rc == MPROC_OK) lp->has_init = 1;
  return push_rc(L, rc);
}

static int l_pool_set_maxtasksperchild(lua_State *L) {
  lpool *lp = check_pool(L);
  lua_Integer n = luaL_checkinteger(L, 2);
  luaL_argcheck(L, n >= 0 && n <= UINT32_MAX, 2, "out of range");
  return push_rc(L, mproc_pool_set_maxtasksperchild(lp->p, (uint32_t)n));
}

static int l_pool_set_task_timeout(lua_State *L) {
  lpool *lp = check_pool(L);
  return push_rc(L, mproc_pool_set_task_timeout(lp->p, luaL_checknumber(L, 2)));
}

/* Starts the workers and returns once the first ones are forked: a C task
 * that does nothing goes through the pool (the manager forks every worker
 * before it dispatches a task), all inside this one C call. */
static int l_pool_start(lua_State *L) {
  lpool *lp = check_pool(L);
  void *out = NULL;
  size_t len = 0;
  int rc = mproc_pool_apply(lp->p, noop_task, NULL, 0, NULL, &out, &len);
  mproc_free(out);
  return push_rc(L, rc);
}

static int l_pool_workers(lua_State *L) { return push_rc(L, mproc_pool_workers(check_pool(L)->p)); }
static int l_pool_close(lua_State *L) { return push_rc(L, mproc_pool_close(check_pool(L)->p)); }
static int l_pool_terminate(lua_State *L) { return push_rc(L, mproc_pool_terminate(check_pool(L)->p)); }
static int l_pool_event_fd(lua_State *L) { return push_rc(L, mproc_pool_event_fd(check_pool(L)->p)); }

static int l_pool_join(lua_State *L) {
  lpool *lp = check_pool(L);
  return push_rc(L, mproc_pool_join(lp->p, opt_timeout(L, 2)));
}

/* pool_stat(pool, which) -> rc, value */
static int l_pool_stat(lua_State *L) {
  lpool *lp = check_pool(L);
  uint64_t v = 0;
  int rc = mproc_pool_stat(lp->p, (int)luaL_checkinteger(L, 2), &v);
  return push_rc_int(L, rc, (lua_Integer)v);
}

static int l_pool_free(lua_State *L) {
  lpool *lp = luaL_checkudata(L, 1, T_POOL);
  mproc_pool_free(lp->p);
  lp->p = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, lp->dispatchref);
  luaL_unref(L, LUA_REGISTRYINDEX, lp->threadref);
  lp->dispatchref = lp->threadref = LUA_NOREF;
  return 0;
}

typedef struct {
  mproc_result *r;
} lresult;

static mproc_result *check_result(lua_State *L) { return ((lresult *)check_live(L, 1, T_RESULT))->r; }

/* pool_apply_async(pool, index, arg) -> result | nil, rc */
static int l_pool_apply_async(lua_State *L) {
  lpool *lp = check_pool(L);
  lua_Integer index = luaL_checkinteger(L, 2);
  size_t len;
  const char *arg = luaL_checklstring(L, 3, &len);
  lresult *lr = lua_newuserdatauv(L, sizeof *lr, 0);
  lr->r = NULL;
  luaL_setmetatable(L, T_RESULT);
  int rc = mproc_pool_apply_async(lp->p, task_trampoline, arg, len, (void *)(intptr_t)index, &lr->r);
  if (rc != MPROC_OK) return push_fail(L, rc);
  return 1;
}

static int l_result_wait(lua_State *L) {
  mproc_result *r = check_result(L);
  return push_rc(L, mproc_result_wait(r, opt_timeout(L, 2)));
}

static int l_result_ready(lua_State *L) { return push_rc(L, mproc_result_ready(check_result(L))); }
static int l_result_successful(lua_State *L) { return push_rc(L, mproc_result_successful(check_result(L))); }

/* result_get(r, timeout) -> rc, reply (reply on OK and TASK_FAILED) */
static int l_result_get(lua_State *L) {
  mproc_result *r = check_result(L);
  const void *data = NULL;
  size_t len = 0;
  int rc = mproc_result_get(r, &data, &len, opt_timeout(L, 2));
  lua_pushinteger(L, rc);
  if (rc != MPROC_OK && rc != MPROC_E_TASK_FAILED) return 1;
  lua_pushlstring(L, data ? data : "", len);
  return 2;
}

static int l_result_worker_exitcode(lua_State *L) {
  int code = 0;
  int rc = mproc_result_worker_exitcode(check_result(L), &code);
  return push_rc_int(L, rc, code);
}

static int l_result_free(lua_State *L) {
  lresult *lr = luaL_checkudata(L, 1, T_RESULT);
  mproc_result_free(lr->r);
  lr->r = NULL;
  return 0;
}

typedef struct {
  mproc_iter *it;
} liter;

static mproc_iter *check_iter(lua_State *L) { return ((liter *)check_live(L, 1, T_ITER))->it; }

/* pool_imap(pool, index, items, chunksize, unordered) -> iter | nil, rc.
 * items is a sequence of strings that the iterator keeps (uservalue 1),
 * with the mproc_bytes array pointing into them (uservalue 2): Lua
 * strings never move, and both live as long as the iterator. */
static int l_pool_imap(lua_State *L) {
  lpool *lp = check_pool(L);
  lua_Integer index = luaL_checkinteger(L, 2);
  luaL_checktype(L, 3, LUA_TTABLE);
  size_t chunksize = opt_size(L, 4);
  int unordered = lua_toboolean(L, 5);
  size_t n = (size_t)lua_rawlen(L, 3);
  liter *li = lua_newuserdatauv(L, sizeof *li, 2);
  li->it = NULL;
  luaL_setmetatable(L, T_ITER);
  lua_pushvalue(L, 3);
  lua_setiuservalue(L, -2, 1);
  mproc_bytes *items = lua_newuserdatauv(L, (n ? n : 1) * sizeof *items, 0);
  lua_setiuservalue(L, -2, 2);
  for (size_t i = 0; i < n; i++) {
    lua_rawgeti(L, 3, (lua_Integer)i + 1);
    if (lua_type(L, -1) != LUA_TSTRING) return luaL_error(L, "item %d is not a string", (int)i + 1);
    items[i].data = lua_tolstring(L, -1, &items[i].len);
    lua_pop(L, 1);
  }
  void *ctx = (void *)(intptr_t)index;
  int rc = unordered ? mproc_pool_imap_unordered(lp->p, task_trampoline, items, n, chunksize, ctx, &li->it)
                     : mproc_pool_imap(lp->p, task_trampoline, items, n, chunksize, ctx, &li->it);
  if (rc != MPROC_OK) return push_fail(L, rc);
  return 1;
}

/* iter_next(it, timeout) -> rc, index (0-based), reply */
static int l_iter_next(lua_State *L) {
  mproc_iter *it = check_iter(L);
  size_t index = 0, len = 0;
  const void *data = NULL;
  int rc = mproc_iter_next(it, &index, &data, &len, opt_timeout(L, 2));
  lua_pushinteger(L, rc);
  if (rc == MPROC_DONE || rc == MPROC_E_TIMEOUT || rc == MPROC_E_INVAL) return 1;
  lua_pushinteger(L, (lua_Integer)index);
  if (rc == MPROC_OK || rc == MPROC_E_TASK_FAILED) {
    lua_pushlstring(L, data ? data : "", len);
    return 3;
  }
  return 2;
}

static int l_iter_worker_exitcode(lua_State *L) {
  int code = 0;
  int rc = mproc_iter_worker_exitcode(check_iter(L), &code);
  return push_rc_int(L, rc, code);
}

static int l_iter_free(lua_State *L) {
  liter *li = luaL_checkudata(L, 1, T_ITER);
  mproc_iter_free(li->it);
  li->it = NULL;
  return 0;
}

/* ------------------------------------------------------------------ module */

static void new_type(lua_State *L, const char *tname, lua_CFunction gc) {
  luaL_newmetatable(L, tname);
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, gc);
  lua_setfield(L, -2, "__close");
  lua_pushliteral(L, "mproc_core handle");
  lua_setfield(L, -2, "__metatable");
  lua_pop(L, 1);
}

static const luaL_Reg funcs[] = {
    {"version_string", l_version_string},
    {"version_number", l_version_number},
    {"cpu_count", l_cpu_count},
    {"current_name", l_current_name},
    {"error_name", l_error_name},
    {"strerror", l_strerror},
    {"process_new", l_process_new},
    {"process_start", l_process_start},
    {"process_join", l_process_join},
    {"process_is_alive", l_process_is_alive},
    {"process_terminate", l_process_terminate},
    {"process_kill", l_process_kill},
    {"process_pid", l_process_pid},
    {"process_exitcode", l_process_exitcode},
    {"process_name", l_process_name},
    {"process_set_name", l_process_set_name},
    {"process_daemon", l_process_daemon},
    {"process_set_daemon", l_process_set_daemon},
    {"process_sentinel", l_process_sentinel},
    {"process_free", l_process_free},
    {"queue_new", l_queue_new},
    {"queue_create", l_queue_create},
    {"queue_open", l_queue_open},
    {"queue_unlink", l_queue_unlink},
    {"queue_put", l_queue_put},
    {"queue_get", l_queue_get},
    {"queue_qsize", l_queue_qsize},
    {"queue_empty", l_queue_empty},
    {"queue_full", l_queue_full},
    {"queue_close", l_queue_close},
    {"queue_shutdown", l_queue_shutdown},
    {"queue_name", l_queue_name},
    {"queue_max_message", l_queue_max_message},
    {"queue_capacity", l_queue_capacity},
    {"queue_free", l_queue_free},
    {"pool_new", l_pool_new},
    {"pool_set_initializer", l_pool_set_initializer},
    {"pool_set_maxtasksperchild", l_pool_set_maxtasksperchild},
    {"pool_set_task_timeout", l_pool_set_task_timeout},
    {"pool_start", l_pool_start},
    {"pool_workers", l_pool_workers},
    {"pool_apply_async", l_pool_apply_async},
    {"pool_imap", l_pool_imap},
    {"pool_close", l_pool_close},
    {"pool_terminate", l_pool_terminate},
    {"pool_join", l_pool_join},
    {"pool_event_fd", l_pool_event_fd},
    {"pool_stat", l_pool_stat},
    {"pool_free", l_pool_free},
    {"result_wait", l_result_wait},
    {"result_ready", l_result_ready},
    {"result_successful", l_result_successful},
    {"result_get", l_result_get},
    {"result_worker_exitcode", l_result_worker_exitcode},
    {"result_free", l_result_free},
    {"iter_next", l_iter_next},
    {"iter_worker_exitcode", l_iter_worker_exitcode},
    {"iter_free", l_iter_free},
    {NULL, NULL},
};

/* The headers this module was compiled against must not be newer than the
 * library that was loaded. */
int luaopen_mproc_core(lua_State *L) {
  if (mproc_version_number() < MPROC_VERSION_NUMBER)
    return luaL_error(L, "mproc_core: built for libmproc %s but loaded %s", MPROC_VERSION_STRING,
                      mproc_version_string());
  new_type(L, T_PROCESS, l_process_free);
  new_type(L, T_QUEUE, l_queue_free);
  new_type(L, T_POOL, l_pool_free);
  new_type(L, T_RESULT, l_result_free);
  new_type(L, T_ITER, l_iter_free);
  luaL_newlib(L, funcs);
  lua_pushliteral(L, "c");
  lua_setfield(L, -2, "backend");
  return 1;
}
