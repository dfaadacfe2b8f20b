--- mproc: Python's multiprocessing for Lua (Lua 5.4 and LuaJIT).
--
-- Processes running Lua functions, bounded shared-memory queues (anonymous
-- and named) and process pools with async results and imap, on top of
-- libmproc. The same file runs on two cores with the same behaviour:
-- the C module `mproc_core` under Lua 5.4, the FFI module `mproc_ffi` under
-- LuaJIT (it loads libmproc.so.0, or the path in $MPROC_LIB).
--
--     local mproc = require "mproc"
--     local q = mproc.Queue()
--     local p = mproc.Process(function(q) q:put("hello") end, q)
--     p:start(); print(q:get()); p:join()
--
-- Conventions:
--
-- * Failures return `nil, message, code, name`: `code` is the negative mproc
--   code (mproc.E_FULL ...), `name` its symbolic name ("MPROC_E_FULL"), and
--   the message starts with the name. Misuse (a wrong argument type, a
--   handle used after free()) raises a Lua error instead.
-- * Timeouts are seconds; nil (or any negative number) waits forever, 0
--   does not wait.
-- * Messages, task arguments and replies are Lua strings (any bytes);
--   numbers are accepted and converted with tostring.
-- * Every object has `free()`, also run by `__close` (`local q <close> =
--   mproc.Queue()` in Lua 5.4) and, as a fallback, by the garbage collector.
--   On queues and pools `close()` keeps its Python meaning (no more puts /
--   no more tasks), it does not release the handle.
--
-- Lua in children (the fork start method, mproc's default): a process
-- target runs in a child forked inside `start()`, on the child's copy of
-- the Lua state, so it sees every upvalue and global as they were, and can
-- take any Lua values as arguments. Pool workers are forked once, when the
-- pool is created: the functions they can run are the `tasks` given to
-- mproc.Pool(), and their arguments and results travel as strings.
--
-- Caveat, replacement workers: mproc's manager thread forks a new worker
-- when one exits (maxtasksperchild, a crash, a task timeout). That fork
-- copies the Lua state at whatever point the Lua thread is. It is safe
-- while the Lua thread waits inside this module (AsyncResult:get/wait,
-- Iter:next, Pool:apply/map/join ...), which is where a program that uses
-- a pool normally waits; a worker forked while Lua code runs may find the
-- state half-updated, and its tasks may then fail or the worker crash
-- (which fails that task with E_WORKER_DIED and starts another worker).
-- So with maxtasksperchild or task_timeout, keep the Lua thread waiting on
-- the pool while tasks run. Under LuaJIT a worker forked while a compiled
-- trace runs stops with "bad callback"; `jit.off()` avoids that.
--
-- Threads: mproc's own threads never run Lua. Result callbacks given to
-- apply_async() run on the Lua thread, from Pool:dispatch(), Pool:join()
-- or that result's get()/wait(); Pool:event_fd() tells an event loop when
-- to call dispatch().
-- @module mproc

local core
if rawget(_G, "jit") then
  core = require("mproc_ffi")
else
  core = require("mproc_core")
end

local unpack = table.unpack or unpack
local pack = table.pack or function(...) return { n = select("#", ...), ... } end

local M = {}

--- Which core runs underneath: "c" (Lua 5.4 module) or "ffi" (LuaJIT).
M.backend = core.backend

--- Error codes (negative, as the C API returns them), and OK / DONE.
M.OK = 0
M.DONE = 1
M.E_INVAL = -22
M.E_NOMEM = -12
M.E_NOENT = -2
M.E_EXIST = -17
M.E_PERM = -1
M.E_TIMEOUT = -110
M.E_BUSY = -16
M.E_STATE = -1001
M.E_FULL = -1002
M.E_EMPTY = -1003
M.E_CLOSED = -1004
M.E_TOOBIG = -1005
M.E_BAD_SEGMENT = -1006
M.E_TASK_FAILED = -1007
M.E_WORKER_DIED = -1008
M.E_TASK_TIMEOUT = -1009
M.E_CANCELLED = -1010
M.E_INIT_FAILED = -1011
M.E_SYS = -1012

--- Wait forever (any negative timeout, or nil, does the same).
M.FOREVER = -1

--- The loaded libmproc's version, "MAJOR.MINOR.PATCH".
function M.version() return core.version_string() end
--- The loaded libmproc's version as MAJOR*10000+MINOR*100+PATCH.
function M.version_number() return core.version_number() end
--- CPUs this process may run on (what a pool of 0 workers uses).
function M.cpu_count() return core.cpu_count() end
--- "MainProcess", or the name of the mproc child (or worker) we are.
function M.current_name() return core.current_name() end
--- The symbolic name of a code, e.g. "MPROC_E_FULL".
function M.error_name(code) return core.error_name(code) end
--- A one-line description of a code.
function M.strerror(code) return core.strerror(code) end

-- nil, "NAME: detail", code, NAME
local function fail(code, detail)
  local name = core.error_name(code)
  return nil, name .. ": " .. (detail or core.strerror(code)), code, name
end

-- true, or the failure of a negative code.
local function check(rc)
  if rc < 0 then return fail(rc) end
  return true
end

local function bytes(v, what)
  local t = type(v)
  if t == "string" then return v end
  if t == "number" then return tostring(v) end
  error("bad " .. what .. " (string expected, got " .. t .. ")", 3)
end

local function opt_timeout(t)
  if t ~= nil and type(t) ~= "number" then error("timeout must be a number or nil", 3) end
  return t
end

-- A free() method: releases self._h with the core's function, once.
local function freer(core_free)
  return function(self)
    if self._h then
      core_free(self._h)
      self._h = false
    end
  end
end

-- A method returning the exit code a core getter gives, or the failure.
local function code_getter(core_get)
  return function(self)
    local rc, code = core_get(self._h)
    if rc < 0 then return fail(rc) end
    return code
  end
end

local function class(name)
  local c = {}
  c.__index = c
  c.__name = name
  c.__close = function(self) self:free() end
  c.__gc = function(self) self:free() end -- tables: Lua 5.4 only; cores free too
  return c
end

--------------------------------------------------------------------------
--- Process: run a Lua function in a child process.
-- @type Process

local Process = class("mproc.Process")
M.ProcessClass = Process

--- Creates a process that will run `target(...)` in a child.
-- Also `mproc.Process{target = f, args = {...}, name = "x", daemon = true}`.
-- The target's return value is the exit code: a number (0..255), nil or
-- true for 0, false for 1; a Lua error prints a traceback on stderr and
-- exits with 1. The child is a fork: it sees its copy of every Lua value.
-- @return a Process, or nil, message, code, name
function M.Process(target, ...)
  local args, name, daemon
  if type(target) == "table" then
    local o = target
    target, args, name, daemon = o.target, o.args or {}, o.name, o.daemon
    args = pack(unpack(args, 1, o.args and (o.args.n or #o.args) or 0))
  else
    args = pack(...)
  end
  if type(target) ~= "function" then error("bad argument #1 to 'Process' (function expected)", 2) end
  local self = setmetatable({}, Process)
  local run = function()
    local ok, r = xpcall(function() return target(unpack(args, 1, args.n)) end, debug.traceback)
    if not ok then
      io.stderr:write("mproc: error in process ", core.current_name(), ": ", tostring(r), "\n")
      io.stderr:flush()
      return 1
    end
    if r == nil or r == true then return 0 end
    if r == false then return 1 end
    if type(r) == "number" then return math.floor(r) end
    return 0
  end
  local h, rc = core.process_new(run)
  if not h then return fail(rc) end
  self._h = h
  if name ~= nil then
    local ok, msg, code, ename = self:set_name(name)
    if not ok then self:free() return nil, msg, code, ename end
  end
  if daemon ~= nil then self:set_daemon(daemon) end
  return self
end

--- Starts the child. @return the Process, or nil, message, code, name
function Process:start()
  local rc = core.process_start(self._h)
  if rc < 0 then return fail(rc) end
  return self
end

--- Waits for the child to exit (timeout in seconds, nil = forever).
-- @return true, or nil, "MPROC_E_TIMEOUT: ...", mproc.E_TIMEOUT, name
function Process:join(timeout) return check(core.process_join(self._h, opt_timeout(timeout))) end

--- true while the child runs (reaps it once it has exited).
function Process:is_alive()
  local rc = core.process_is_alive(self._h)
  if rc < 0 then return fail(rc) end
  return rc == 1
end

--- Sends SIGTERM (join afterwards). @return true or nil, message, code, name
function Process:terminate() return check(core.process_terminate(self._h)) end
--- Sends SIGKILL (join afterwards). @return true or nil, message, code, name
function Process:kill() return check(core.process_kill(self._h)) end
--- The child's pid, 0 before start.
function Process:pid() return core.process_pid(self._h) end

--- The exit code once the child has exited: the target's code, or -N when
-- signal N killed it. Before that: nil, message, mproc.E_BUSY (running) or
-- mproc.E_STATE (not started), name.
Process.exitcode = code_getter(core.process_exitcode)

--- The process's name ("Process-N" unless set).
function Process:name() return core.process_name(self._h) end
--- Renames the process before it starts. @return true or nil, message, code, name
function Process:set_name(name)
  if type(name) ~= "string" then error("bad argument #1 to 'set_name' (string expected)", 2) end
  return check(core.process_set_name(self._h, name))
end
--- The daemon flag (a daemon child dies with its parent).
function Process:daemon() return core.process_daemon(self._h) == 1 end
--- Sets the daemon flag before start. @return true or nil, message, code, name
function Process:set_daemon(on) return check(core.process_set_daemon(self._h, on and true or false)) end

--- A file descriptor that becomes readable when the child exits (a pidfd
-- owned by the Process: poll it, never close it).
function Process:sentinel()
  local rc = core.process_sentinel(self._h)
  if rc < 0 then return fail(rc) end
  return rc
end

--- Releases the handle (never blocks; a running child keeps running and is
-- reaped by mproc). Idempotent; also `__close` and the GC.
Process.free = freer(core.process_free)

--------------------------------------------------------------------------
--- Queue: a bounded queue of byte-string messages in shared memory.
-- @type Queue

local Queue = class("mproc.Queue")

local function new_queue(h, rc)
  if not h then return fail(rc) end
  return setmetatable({ _h = h }, Queue)
end

--- The Queue constructors. `mproc.Queue(maxsize, capacity)` creates an
-- anonymous queue, shared with the processes forked after it.
-- maxsize: most messages at once (0/nil: bounded by bytes only);
-- capacity: ring size in bytes (0/nil: 1 MiB).
M.Queue = setmetatable({}, {
  __call = function(_, maxsize, capacity) return new_queue(core.queue_new(maxsize or 0, capacity or 0)) end,
})

--- Creates the named queue /dev/shm/NAME (any process, in any language,
-- may open it). @return a Queue, or nil, message, code (E_EXIST ...), name
function M.Queue.create(name, maxsize, capacity)
  return new_queue(core.queue_create(name, maxsize or 0, capacity or 0))
end

--- Opens an existing named queue. @return a Queue, or nil, message, code, name
function M.Queue.open(name) return new_queue(core.queue_open(name)) end

--- Removes a queue's name (open handles keep working). @return true or nil, ...
function M.Queue.unlink(name) return check(core.queue_unlink(name)) end

--- Appends a message (copied into the queue before this returns).
-- timeout: nil waits for room forever, 0 never waits.
-- @return true, or nil, message, code (E_FULL, E_TOOBIG, E_CLOSED ...), name
function Queue:put(data, timeout)
  return check(core.queue_put(self._h, bytes(data, "message"), opt_timeout(timeout)))
end

--- put() with timeout 0.
function Queue:put_nowait(data) return self:put(data, 0) end

--- Takes the oldest message. timeout: nil waits forever, 0 never waits.
-- @return the message, or nil, message, code (E_EMPTY, E_CLOSED ...), name
function Queue:get(timeout)
  local rc, data = core.queue_get(self._h, opt_timeout(timeout))
  if rc < 0 then return fail(rc) end
  return data
end

--- get() with timeout 0.
function Queue:get_nowait() return self:get(0) end

--- Number of queued messages (exact when no put or get is in progress).
function Queue:qsize()
  local n = core.queue_qsize(self._h)
  if n < 0 then return fail(n) end
  return n
end

--- true when no message is queued.
function Queue:empty()
  local rc = core.queue_empty(self._h)
  if rc < 0 then return fail(rc) end
  return rc == 1
end

--- true when maxsize messages are queued or not even an empty one fits.
function Queue:full()
  local rc = core.queue_full(self._h)
  if rc < 0 then return fail(rc) end
  return rc == 1
end

--- Closes this handle for put and get (E_CLOSED afterwards); other handles
-- are unaffected. Does not release the handle: see free().
function Queue:close() return check(core.queue_close(self._h)) end

--- Shuts the queue down for every process: puts fail, gets drain what is
-- left (or nothing, with `immediate`) and then fail with E_CLOSED.
function Queue:shutdown(immediate) return check(core.queue_shutdown(self._h, immediate and true or false)) end

--- The queue's name, or nil for an anonymous queue.
function Queue:name() return core.queue_name(self._h) end
--- The largest message one put takes, in bytes.
function Queue:max_message() return core.queue_max_message(self._h) end
--- The ring's size in bytes.
function Queue:capacity() return core.queue_capacity(self._h) end

--- Releases this handle (messages stay for the other handles). Idempotent;
-- also `__close` and the GC.
Queue.free = freer(core.queue_free)

--------------------------------------------------------------------------
--- Pool: worker processes that run Lua tasks.
-- @type Pool

local Pool = class("mproc.Pool")
local AsyncResult = class("mproc.AsyncResult")
local Iter = class("mproc.Iter")

-- Runs in a worker: index 0 is the initializer, others a task.
local function make_dispatch(tasks, initializer)
  return function(index, arg)
    if index == 0 then
      local ok, r = xpcall(initializer, debug.traceback, arg)
      if not ok then return false, "initializer failed: " .. tostring(r) end
      if r == false then return false, "initializer returned false" end
      return true, nil
    end
    local fn = tasks[index]
    if not fn then return false, "no task " .. tostring(index) end
    local ok, r, err = pcall(fn, arg)
    if not ok then return false, tostring(r) end
    if r == nil then
      if err ~= nil then return false, tostring(err) end
      return true, ""
    end
    local t = type(r)
    if t == "string" then return true, r end
    if t == "number" then return true, tostring(r) end
    return false, "task returned a " .. t .. " (expected a string, a number or nil)"
  end
end

local STATS = {
  tasks_submitted = 1, tasks_succeeded = 2, tasks_failed = 3,
  workers_started = 4, workers_died = 5, workers_alive = 6,
}

--- Creates a pool and starts its workers.
-- workers: how many (nil or 0: mproc.cpu_count()). opts:
-- * tasks (required): the functions workers may run, as a list
--   `{square, cube}` and/or by name `{square = square}`. A task receives
--   its argument (a string) and returns a string, a number or nil (an
--   empty reply); a Lua error, or `return nil, message`, fails the task
--   with E_TASK_FAILED and the message.
-- * initializer, initarg: `initializer(initarg)` runs once in every
--   worker before its first task; an error or `false` fails it.
-- * maxtasksperchild: replace a worker after that many tasks (see the
--   caveat at the top of this file).
-- * task_timeout: kill a task (and its worker) after that many seconds.
-- @return a Pool, or nil, message, code, name
function M.Pool(workers, opts)
  opts = opts or {}
  if type(opts.tasks) ~= "table" then error("mproc.Pool: opts.tasks must list the task functions", 2) end
  local list, index_of = {}, {}
  for k, fn in pairs(opts.tasks) do
    if type(fn) ~= "function" then error("mproc.Pool: task " .. tostring(k) .. " is not a function", 2) end
    if not index_of[fn] then
      list[#list + 1] = fn
      index_of[fn] = #list
    end
    if type(k) == "string" then index_of[k] = index_of[fn] end
  end
  local init = opts.initializer
  if init ~= nil and type(init) ~= "function" then error("mproc.Pool: initializer must be a function", 2) end
  local h, rc = core.pool_new(workers or 0, make_dispatch(list, init))
  if not h then return fail(rc) end
  local self = setmetatable({ _h = h, _index = index_of, _pending = {} }, Pool)
  local function bail(code)
    self:free()
    return fail(code)
  end
  if init then
    rc = core.pool_set_initializer(h, bytes(opts.initarg or "", "initarg"))
    if rc < 0 then return bail(rc) end
  end
  if opts.maxtasksperchild then
    rc = core.pool_set_maxtasksperchild(h, opts.maxtasksperchild)
    if rc < 0 then return bail(rc) end
  end
  if opts.task_timeout then
    rc = core.pool_set_task_timeout(h, opts.task_timeout)
    if rc < 0 then return bail(rc) end
  end
  rc = core.pool_start(h)
  if rc < 0 then return bail(rc) end
  return self
end

local function task_index(pool, task)
  local i = pool._index[task]
  if not i then
    error("mproc: task " .. tostring(task) .. " was not given to mproc.Pool in opts.tasks", 3)
  end
  return i
end

--- Submits one task. callback(reply) or error_callback(message, code, name)
-- runs on the Lua thread (see the top of this file) once it is done; the
-- pool keeps the result until then, unless you free() it first (which
-- drops the callback).
-- @return an AsyncResult, or nil, message, code, name
function Pool:apply_async(task, arg, callback, error_callback)
  local r, rc = core.pool_apply_async(self._h, task_index(self, task), bytes(arg or "", "argument"))
  if not r then return fail(rc) end
  local res = setmetatable({ _h = r, _callback = callback, _error_callback = error_callback }, AsyncResult)
  if callback or error_callback then self._pending[#self._pending + 1] = res end
  return res
end

-- Frees r and passes on the values that follow it.
local function release_after(r, ...)
  r:free()
  return ...
end

--- Runs one task and waits for it.
-- @return its reply, or nil, message, code, name
function Pool:apply(task, arg)
  local r, msg, code, name = self:apply_async(task, arg)
  if not r then return nil, msg, code, name end
  return release_after(r, r:get())
end

--- Iterates over the results of task(item) for every item of the list
-- items: in input order with chunksize items per task (default 1).
-- @return an Iter, or nil, message, code, name
function Pool:imap(task, items, chunksize)
  return self:_imap(task, items, chunksize or 1, false)
end

--- As imap(), in completion order.
function Pool:imap_unordered(task, items, chunksize)
  return self:_imap(task, items, chunksize or 1, true)
end

function Pool:_imap(task, items, chunksize, unordered)
  if type(items) ~= "table" then error("bad argument #2 (table of items expected)", 3) end
  local copy = {}
  for i = 1, #items do copy[i] = bytes(items[i], "item " .. i) end
  local it, rc = core.pool_imap(self._h, task_index(self, task), copy, chunksize, unordered)
  if not it then return fail(rc) end
  return setmetatable({ _h = it }, Iter)
end

--- Runs task over every item and waits for all (every task runs even if
-- some fail). chunksize nil: automatic, as in Python.
-- @return the list of replies in input order, or the first failure in
-- input order: nil, message, code, name, index
function Pool:map(task, items, chunksize)
  local it, msg, code, name = self:_imap(task, items, chunksize or 0, false)
  if not it then return nil, msg, code, name end
  local out, first = {}, nil
  for i, reply, emsg, ecode, ename in it do
    if reply then
      out[i] = reply
    elseif not first then
      first = { emsg, ecode, ename, i }
    end
  end
  it:free()
  if first then return nil, first[1], first[2], first[3], first[4] end
  return out
end

--- Runs the callbacks of the apply_async() results that are ready, in
-- submission order. @return how many ran
function Pool:dispatch()
  local pending, n, i = self._pending, 0, 1
  while i <= #pending do
    local r = pending[i]
    if r._called or not r._h then
      table.remove(pending, i)
    elseif core.result_ready(r._h) == 1 then
      table.remove(pending, i)
      n = n + 1
      r:_run_callback()
    else
      i = i + 1
    end
  end
  return n
end

--- Accepts no more tasks; queued ones still run.
function Pool:close() return check(core.pool_close(self._h)) end
--- Stops now: unfinished results fail with E_CANCELLED, workers are killed.
function Pool:terminate() return check(core.pool_terminate(self._h)) end

--- Waits for the workers to exit (after close() or terminate()), then runs
-- the remaining callbacks. @return true, or nil, message, code, name
function Pool:join(timeout)
  local rc = core.pool_join(self._h, opt_timeout(timeout))
  if rc < 0 then return fail(rc) end
  self:dispatch()
  return true
end

--- The number of workers the pool keeps running.
function Pool:workers() return core.pool_workers(self._h) end

--- An eventfd that becomes readable when results become ready (poll it,
-- read 8 bytes to reset it, then call dispatch()). Owned by the pool.
function Pool:event_fd()
  local rc = core.pool_event_fd(self._h)
  if rc < 0 then return fail(rc) end
  return rc
end

--- A counter: "tasks_submitted", "tasks_succeeded", "tasks_failed",
-- "workers_started", "workers_died" or "workers_alive". The no-op task the
-- pool runs at creation to start its workers is not counted.
function Pool:stat(which)
  local id = STATS[which]
  if not id then error("mproc: unknown pool counter " .. tostring(which), 2) end
  local rc, v = core.pool_stat(self._h, id)
  if rc < 0 then return fail(rc) end
  if id <= 2 then v = v - 1 end
  return v
end

--- Releases the pool: a running pool is terminated first (a graceful end
-- is close(), join(), free()). Idempotent; also `__close` and the GC.
Pool.free = freer(core.pool_free)

--------------------------------------------------------------------------
--- AsyncResult: the result of Pool:apply_async().
-- @type AsyncResult

function AsyncResult:_run_callback()
  if self._called then return end
  self._called = true
  local reply, msg, code, name = self:_get(0)
  if reply then
    if self._callback then self._callback(reply) end
  elseif self._error_callback then
    self._error_callback(msg, code, name)
  end
end

function AsyncResult:_get(timeout)
  local rc, data = core.result_get(self._h, opt_timeout(timeout))
  if rc == M.E_TASK_FAILED then return fail(rc, "task failed: " .. (data or "")) end
  if rc < 0 then return fail(rc) end
  return data
end

--- Waits for the result (timeout nil = forever) and runs its callback.
-- @return the reply, or nil, message, code, name: E_TIMEOUT (still running,
-- ask again), E_TASK_FAILED (the message has the task's error),
-- E_WORKER_DIED, E_TASK_TIMEOUT, E_CANCELLED, E_INIT_FAILED
function AsyncResult:get(timeout)
  if (self._callback or self._error_callback) and self:wait(timeout) == false then
    return fail(M.E_TIMEOUT)
  end
  return self:_get(timeout)
end

--- Waits until the result is ready. @return true when ready, false on timeout
function AsyncResult:wait(timeout)
  local rc = core.result_wait(self._h, opt_timeout(timeout))
  if rc == M.E_TIMEOUT then return false end
  if rc < 0 then return fail(rc) end
  if self._callback or self._error_callback then self:_run_callback() end
  return true
end

--- true once the result is ready.
function AsyncResult:ready() return core.result_ready(self._h) == 1 end

--- true if the task succeeded; nil, message, E_BUSY, name while not ready.
function AsyncResult:successful()
  local rc = core.result_successful(self._h)
  if rc < 0 then return fail(rc) end
  return rc == 1
end

--- The exit code of the worker that died running this task (-9 for
-- SIGKILL ...); nil, message, E_STATE, name if it did not end that way.
AsyncResult.worker_exitcode = code_getter(core.result_worker_exitcode)

--- Releases the handle (the task still runs). Idempotent.
AsyncResult.free = freer(core.result_free)

--------------------------------------------------------------------------
--- Iter: the results of Pool:imap() / imap_unordered().
-- `for index, reply, message, code, name in it do ... end` walks them:
-- index is the item's position in the input list (from 1); a failed item
-- gives reply nil and its error, and the loop goes on.
-- @type Iter

--- The next result (timeout nil = forever).
-- @return index, reply; for a failed item index, nil, message, code, name;
-- nil at the end; nil, message, E_TIMEOUT, name when nothing came in time
function Iter:next(timeout)
  local rc, index, data = core.iter_next(self._h, opt_timeout(timeout))
  if rc == M.DONE then return nil end
  if rc == M.OK then return index + 1, data end
  if index == nil then return fail(rc) end
  local _, msg, code, name
  if rc == M.E_TASK_FAILED then
    _, msg, code, name = fail(rc, "task failed: " .. (data or ""))
  else
    _, msg, code, name = fail(rc)
  end
  return index + 1, nil, msg, code, name
end

Iter.__call = function(self)
  local i, reply, msg, code, name = self:next()
  if i == nil and msg then error(msg, 2) end
  return i, reply, msg, code, name
end

--- Worker exit code for the last item that failed with E_WORKER_DIED or
-- E_TASK_TIMEOUT; nil, message, E_STATE, name otherwise.
Iter.worker_exitcode = code_getter(core.iter_worker_exitcode)

--- Releases the iterator; its unfinished tasks are cancelled. Idempotent.
Iter.free = freer(core.iter_free)

return M
