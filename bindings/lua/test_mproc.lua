-- Behavioural tests of the mproc Lua binding, in TAP. The same script runs
-- under lua5.4 (C core) and luajit (FFI core); meson sets LUA_PATH,
-- LUA_CPATH and MPROC_LIB to the source and build trees.
local mproc = require "mproc"

local count, failures = 0, 0

local function ok(cond, desc, diag)
  count = count + 1
  print((cond and "ok " or "not ok ") .. count .. " - " .. mproc.backend .. ": " .. desc)
  if not cond then
    failures = failures + 1
    if diag then print("# " .. tostring(diag):gsub("\n", "\n# ")) end
  end
  return cond
end

local function is(got, want, desc)
  return ok(got == want, desc, "got " .. tostring(got) .. ", want " .. tostring(want))
end

local function skip(desc, why)
  count = count + 1
  print("ok " .. count .. " - " .. mproc.backend .. ": " .. desc .. " # SKIP " .. why)
end

-- Runs one group of tests; an unexpected Lua error fails it but not the rest.
local function group(name, fn)
  local good, err = xpcall(fn, debug.traceback)
  if not good then ok(false, name .. " raised", err) end
end

-- Checks a `nil, message, code, name` failure.
local function fails_with(code, desc, v, msg, c, name)
  is(v, nil, desc .. ": first value nil")
  is(c, code, desc .. ": code")
  is(name, mproc.error_name(code), desc .. ": name")
  ok(type(msg) == "string" and msg:find(mproc.error_name(code), 1, true) == 1,
     desc .. ": message starts with the name", msg)
end

local function self_pid()
  local f = assert(io.open("/proc/self/stat"))
  local pid = f:read("*n")
  f:close()
  return pid
end

local function fd_count()
  local p = assert(io.popen("ls /proc/" .. self_pid() .. "/fd"))
  local n = 0
  for _ in p:lines() do n = n + 1 end
  p:close()
  return n
end

-- Children and workers sleep by waiting on this empty queue: no CPU, and
-- no stray `sleep` process holding the test's stdout open.
local nap_queue = assert(mproc.Queue())
local function nap(seconds) nap_queue:get(tonumber(seconds)) end

-- The descriptor count once it is back to `want` (mproc closes some of a
-- freed handle's descriptors from its own threads: allow them 2 s).
local function fds_back_to(want)
  local n = fd_count()
  for _ = 1, 40 do
    if n == want then break end
    nap(0.05)
    n = fd_count()
  end
  return n
end

local unique = "mproc-lua-test-" .. self_pid() .. "-" .. mproc.backend

group("module", function()
  ok(mproc.backend == "c" or mproc.backend == "ffi", "backend is c or ffi")
  ok(mproc.version():match("^%d+%.%d+%.%d+$") ~= nil, "version() is MAJOR.MINOR.PATCH", mproc.version())
  ok(mproc.version_number() >= 200, "version_number() >= 0.2.0")
  ok(mproc.cpu_count() >= 1, "cpu_count() >= 1")
  is(mproc.current_name(), "MainProcess", "current_name() in the parent")
  is(mproc.error_name(mproc.E_FULL), "MPROC_E_FULL", "error_name(E_FULL)")
  is(mproc.error_name(mproc.E_TIMEOUT), "MPROC_E_TIMEOUT", "error_name(E_TIMEOUT)")
  is(mproc.error_name(12345), "MPROC_E_UNKNOWN", "error_name of an unknown code")
  ok(type(mproc.strerror(mproc.E_EMPTY)) == "string" and #mproc.strerror(mproc.E_EMPTY) > 0, "strerror()")
  -- Every constant maps to its own name.
  local seen = {}
  for k, v in pairs(mproc) do
    if type(k) == "string" and k:match("^E_") then
      is(mproc.error_name(v), "MPROC_" .. k, "constant " .. k)
      ok(not seen[v], "constant " .. k .. " is distinct")
      seen[v] = true
    end
  end
end)

group("process", function()
  local q = assert(mproc.Queue())
  local upvalue = { "captured" }
  -- Any Lua values travel as arguments: the child is a fork.
  local p = assert(mproc.Process(function(queue, t, n)
    queue:put(upvalue[1] .. " " .. t.word .. " " .. n .. " " .. mproc.current_name())
    return 7
  end, q, { word = "table" }, 42))
  is(p:pid(), 0, "pid() before start is 0")
  ok(p:name():match("^Process%-%d+$") ~= nil, "default name Process-N", p:name())
  fails_with(mproc.E_STATE, "exitcode() before start", p:exitcode())
  fails_with(mproc.E_STATE, "join() before start", p:join(0))
  is(p:start(), p, "start() returns the Process")
  fails_with(mproc.E_STATE, "start() twice", p:start())
  ok(p:pid() > 0, "pid() after start")
  is(q:get(10), "captured table 42 " .. p:name(), "the child ran the target with its arguments and upvalues")
  is(p:join(10), true, "join()")
  is(p:exitcode(), 7, "exitcode() is the target's return value")
  is(p:is_alive(), false, "is_alive() after join")
  ok(p:sentinel() >= 0, "sentinel() is a file descriptor")
  p:free()
  p:free()
  ok(not pcall(p.pid, p), "a freed Process raises on use")

  local named = assert(mproc.Process { target = function(queue) queue:put(mproc.current_name()) end,
                                       args = { q }, name = "worker-x", daemon = true })
  is(named:name(), "worker-x", "Process{name=...}")
  is(named:daemon(), true, "Process{daemon=true}")
  assert(named:start())
  is(q:get(10), "worker-x", "the child sees its name")
  assert(named:join(10))
  is(named:exitcode(), 0, "a target returning nothing exits with 0")
  fails_with(mproc.E_STATE, "set_name() after start", named:set_name("late"))
  named:free()

  local codes = {}
  for _, case in ipairs({
    { function() return false end, 1, "false exits with 1" },
    { function() return true end, 0, "true exits with 0" },
    { function() error("target failed on purpose") end, 1, "a Lua error exits with 1" },
    { function() return 300 end, 300 % 256, "only the low 8 bits survive" },
  }) do
    local c = assert(mproc.Process(case[1]))
    assert(c:start())
    assert(c:join(10))
    is(c:exitcode(), case[2], case[3])
    codes[#codes + 1] = c
  end

  local sleeper = assert(mproc.Process(function() nap(30) end))
  assert(sleeper:start())
  is(sleeper:is_alive(), true, "is_alive() while running")
  fails_with(mproc.E_BUSY, "exitcode() while running", sleeper:exitcode())
  fails_with(mproc.E_TIMEOUT, "join(0.1) while running", sleeper:join(0.1))
  is(sleeper:terminate(), true, "terminate()")
  assert(sleeper:join(10))
  is(sleeper:exitcode(), -15, "exitcode() after terminate() is -SIGTERM")
  sleeper:free()

  local victim = assert(mproc.Process(function() nap(30) end))
  assert(victim:start())
  is(victim:kill(), true, "kill()")
  assert(victim:join(10))
  is(victim:exitcode(), -9, "exitcode() after kill() is -SIGKILL")
  victim:free()
  q:free()
end)

group("queue", function()
  local q = assert(mproc.Queue(2))
  is(q:name(), nil, "an anonymous queue has no name")
  is(q:capacity(), 1048576, "default capacity 1 MiB")
  is(q:max_message(), 1048576 - 16, "max_message() = capacity - 16")
  is(q:empty(), true, "empty() on a new queue")
  is(q:put("a\0b"), true, "put() of bytes with a NUL")
  is(q:put(12), true, "put() of a number")
  is(q:qsize(), 2, "qsize()")
  is(q:full(), true, "full() at maxsize")
  fails_with(mproc.E_FULL, "put_nowait() on a full queue", q:put_nowait("x"))
  fails_with(mproc.E_FULL, "put(0.05) on a full queue", q:put("x", 0.05))
  is(q:get(), "a\0b", "get() returns the bytes")
  is(q:get_nowait(), "12", "numbers travel as tostring()")
  fails_with(mproc.E_EMPTY, "get_nowait() on an empty queue", q:get_nowait())
  fails_with(mproc.E_EMPTY, "get(0.05) on an empty queue", q:get(0.05))
  ok(not pcall(q.put, q, {}), "put() of a table raises")
  q:free()

  local small = assert(mproc.Queue(0, 128))
  is(small:capacity(), 128, "capacity as given")
  fails_with(mproc.E_TOOBIG, "put() of a message over max_message()", small:put(string.rep("x", 200)))
  is(small:put(string.rep("y", 112)), true, "put() of max_message() bytes")
  is(small:get(1), string.rep("y", 112), "get() of it")
  small:free()

  -- producer / consumer across processes, more messages than fit at once
  local pq = assert(mproc.Queue(3))
  local producer = assert(mproc.Process(function()
    for i = 1, 50 do assert(pq:put("item-" .. i)) end
  end))
  assert(producer:start())
  local good = true
  for i = 1, 50 do
    if pq:get(10) ~= "item-" .. i then good = false end
  end
  ok(good, "50 messages from a child through a 3-slot queue, in order")
  assert(producer:join(10))
  is(producer:exitcode(), 0, "the producer exited with 0")
  producer:free()

  assert(pq:put("left"))
  is(pq:shutdown(), true, "shutdown()")
  fails_with(mproc.E_CLOSED, "put() after shutdown", pq:put("x"))
  is(pq:get(1), "left", "get() drains after a shutdown")
  fails_with(mproc.E_CLOSED, "get() once drained", pq:get(1))
  pq:free()

  local cq = assert(mproc.Queue())
  is(cq:close(), true, "close()")
  fails_with(mproc.E_CLOSED, "put() on a closed handle", cq:put("x"))
  is(cq:qsize(), 0, "qsize() still works after close()")
  cq:free()
  ok(not pcall(cq.get, cq), "a freed Queue raises on use")

  -- named queues
  local name = unique .. "-named"
  mproc.Queue.unlink(name)
  local a = assert(mproc.Queue.create(name, 0, 4096))
  is(a:name(), name, "name() of a named queue")
  fails_with(mproc.E_EXIST, "create() of a taken name", mproc.Queue.create(name))
  local b = assert(mproc.Queue.open(name))
  assert(a:put("across handles"))
  is(b:get(1), "across handles", "a second handle opened by name sees the message")
  local child = assert(mproc.Process(function()
    local c = assert(mproc.Queue.open(name))
    assert(c:put("from a child"))
    c:free()
  end))
  assert(child:start())
  assert(child:join(10))
  is(b:get(1), "from a child", "a child opens the queue by name")
  child:free()
  is(mproc.Queue.unlink(name), true, "unlink()")
  fails_with(mproc.E_NOENT, "open() after unlink", mproc.Queue.open(name))
  fails_with(mproc.E_NOENT, "unlink() twice", mproc.Queue.unlink(name))
  fails_with(mproc.E_INVAL, "create() with an invalid name", mproc.Queue.create("bad/name"))
  a:free()
  b:free()
end)

group("release", function()
  -- Every queue handle holds file descriptors: free() and the GC give them back.
  collectgarbage("collect")
  local before = fd_count()
  local qs = {}
  for i = 1, 4 do qs[i] = assert(mproc.Queue(0, 4096)) end
  ok(fd_count() > before, "queues hold descriptors")
  for i = 1, 4 do qs[i]:free() end
  is(fds_back_to(before), before, "free() releases them")
  for _ = 1, 4 do assert(mproc.Queue(0, 4096)) end
  collectgarbage("collect")
  collectgarbage("collect")
  is(fds_back_to(before), before, "the garbage collector releases dropped queues")
  for _ = 1, 2 do assert(mproc.Pool(1, { tasks = { tostring } })) end
  collectgarbage("collect")
  collectgarbage("collect")
  is(fds_back_to(before), before, "the garbage collector releases dropped pools")
  if _VERSION == "Lua 5.4" and not rawget(_G, "jit") then
    local chunk = assert(load([[
      local mproc, fds_back_to, before = ...
      do
        local q <close> = assert(mproc.Queue(0, 4096))
        local p <close> = assert(mproc.Pool(1, { tasks = { tostring } }))
        assert(q:put("x"))
      end
      return fds_back_to(before) == before
    ]]))
    ok(chunk(mproc, fds_back_to, before), "<close> releases queues and pools")
  else
    skip("<close> releases queues and pools", "needs Lua 5.4 syntax")
  end
end)

local function square(x) return tonumber(x) * tonumber(x) end
local function fail_task(x) error("bad item " .. x, 0) end
local function soft_fail(x) return nil, "soft failure " .. x end
local function echo(x) return x end
local function whoami() return mproc.current_name() .. " " .. self_pid() end
local function slow(x)
  nap(x)
  return x
end
local function die() os.execute("kill -9 " .. self_pid()) end
local function worker_global() return tostring(rawget(_G, "initialized_with")) end
local function bad_return() return {} end

group("pool", function()
  local tasks = { square, fail_task, soft_fail, echo, whoami, slow, die, bad_return, sq = square }
  local pool = assert(mproc.Pool(2, { tasks = tasks }))
  is(pool:workers(), 2, "workers()")
  is(pool:stat("workers_started"), 2, "the workers are started when the pool is created")
  is(pool:apply(square, "7"), "49", "apply()")
  is(pool:apply("sq", 6), "36", "apply() of a task by name")
  is(pool:apply(echo, "a\0b"), "a\0b", "task arguments and replies are bytes")
  is(pool:apply(echo), "", "a missing argument is the empty string")
  ok(pool:apply(whoami):match("^ForkPoolWorker%-") ~= nil, "tasks run in a worker")
  ok(not pcall(pool.apply, pool, print, "x"), "an unregistered task raises")

  local v, msg, code, name = pool:apply(fail_task, "3")
  fails_with(mproc.E_TASK_FAILED, "a task that raises", v, msg, code, name)
  ok(msg and msg:find("bad item 3", 1, true) ~= nil, "the failure carries the Lua error message", msg)
  v, msg = pool:apply(soft_fail, "4")
  ok(v == nil and msg:find("soft failure 4", 1, true) ~= nil, "a task returning nil, message fails", msg)
  v, msg, code = pool:apply(bad_return)
  ok(v == nil and code == mproc.E_TASK_FAILED and msg:find("table", 1, true) ~= nil,
     "a task returning a table fails", msg)

  local r = assert(pool:apply_async(square, 9))
  is(r:wait(10), true, "AsyncResult:wait()")
  is(r:ready(), true, "ready()")
  is(r:successful(), true, "successful()")
  is(r:get(), "81", "AsyncResult:get()")
  fails_with(mproc.E_STATE, "worker_exitcode() of a task that did not kill its worker", r:worker_exitcode())
  r:free()
  ok(not pcall(r.get, r), "a freed AsyncResult raises on use")

  local pending = assert(pool:apply_async(slow, "1"))
  is(pending:ready(), false, "ready() while running")
  fails_with(mproc.E_BUSY, "successful() while running", pending:successful())
  fails_with(mproc.E_TIMEOUT, "get(0.05) while running", pending:get(0.05))
  is(pending:wait(0.05), false, "wait(0.05) while running")
  is(pending:get(10), "1", "get() once done")

  local died = assert(pool:apply_async(die))
  fails_with(mproc.E_WORKER_DIED, "a task whose worker is killed", died:get(20))
  is(died:worker_exitcode(), -9, "worker_exitcode() is -SIGKILL")
  is(pool:apply(square, 5), "25", "the pool goes on after a worker died")

  local got = assert(pool:map(square, { 1, 2, 3, 4, 5 }))
  is(table.concat(got, ","), "1,4,9,16,25", "map()")
  is(#assert(pool:map(square, {})), 0, "map() of nothing")
  local m1, m2, m3, m4, m5 = pool:map(square, { 1, "x", 3 })
  ok(m1 == nil and m3 == mproc.E_TASK_FAILED and m4 == "MPROC_E_TASK_FAILED" and m5 == 2,
     "map() reports the first failed item", tostring(m2))
  got = assert(pool:map(square, { 1, 2, 3, 4, 5, 6, 7 }, 3))
  is(table.concat(got, ","), "1,4,9,16,25,36,49", "map() with chunksize 3")

  local order = {}
  for i, reply in assert(pool:imap(square, { 3, 2, 1 })) do order[#order + 1] = i .. "=" .. reply end
  is(table.concat(order, " "), "1=9 2=4 3=1", "imap() yields in input order")

  local it = assert(pool:imap(fail_task, { "a" }))
  local i, reply, emsg, ecode, ename = it:next()
  ok(i == 1 and reply == nil and ecode == mproc.E_TASK_FAILED and ename == "MPROC_E_TASK_FAILED"
     and emsg:find("bad item a", 1, true) ~= nil, "Iter:next() of a failed item", emsg)
  is(it:next(), nil, "Iter:next() at the end")
  fails_with(mproc.E_STATE, "Iter:worker_exitcode() after a plain failure", it:worker_exitcode())
  it:free()

  local done = {}
  for idx, rep in assert(pool:imap_unordered(slow, { "0.6", "0.05" })) do done[#done + 1] = idx .. "=" .. rep end
  is(table.concat(done, " "), "2=0.05 1=0.6", "imap_unordered() yields in completion order")
  local seen = {}
  for idx, rep in assert(pool:imap_unordered(square, { 1, 2, 3, 4, 5, 6 }, 2)) do seen[idx] = rep end
  is(table.concat(seen, ","), "1,4,9,16,25,36", "imap_unordered() with chunksize 2 gives every item")

  local slow_it = assert(pool:imap(slow, { "1" }))
  fails_with(mproc.E_TIMEOUT, "Iter:next(0.05) before a result", slow_it:next(0.05))
  is(select(2, slow_it:next(10)), "1", "Iter:next() once done")
  slow_it:free()

  -- callbacks run on the Lua thread
  local calls = {}
  local cr = assert(pool:apply_async(square, 4, function(rep) calls[#calls + 1] = "ok " .. rep end))
  assert(pool:apply_async(fail_task, "z", nil, function(m, c, n)
    calls[#calls + 1] = "err " .. c .. " " .. n .. " " .. tostring(m:find("bad item z", 1, true) ~= nil)
  end))
  assert(cr:wait(10))
  is(calls[1], "ok 16", "the callback ran by the time wait() returned")
  ok(pool:event_fd() >= 0, "event_fd()")
  ok(pool:stat("tasks_submitted") >= 20, "stat('tasks_submitted')")
  ok(pool:stat("workers_died") >= 1, "stat('workers_died')")
  is(pool:close(), true, "close()")
  fails_with(mproc.E_STATE, "apply_async() after close()", pool:apply_async(square, 1))
  is(pool:join(30), true, "join()")
  is(calls[2], "err -1007 MPROC_E_TASK_FAILED true", "join() ran the error callback")
  is(#calls, 2, "each callback ran once")
  is(pool:stat("workers_alive"), 0, "no worker is left after join()")
  pool:free()
  pool:free()
  ok(not pcall(pool.apply, pool, square, 1), "a freed Pool raises on use")
end)

group("pool options", function()
  local pool = assert(mproc.Pool(2, {
    tasks = { worker_global },
    initializer = function(arg) _G.initialized_with = arg end,
    initarg = "init-arg",
  }))
  is(pool:apply(worker_global), "init-arg", "the initializer ran in the worker")
  is(rawget(_G, "initialized_with"), nil, "but not in the parent")
  fails_with(mproc.E_STATE, "join() of a running pool", pool:join(1))
  pool:close()
  assert(pool:join(30))
  pool:free()

  fails_with(mproc.E_INIT_FAILED, "a failing initializer",
             mproc.Pool(1, { tasks = { square }, initializer = function() error("no init") end }))
  fails_with(mproc.E_INIT_FAILED, "an initializer returning false",
             mproc.Pool(1, { tasks = { square }, initializer = function() return false end }))

  local recycled = assert(mproc.Pool(1, { tasks = { whoami }, maxtasksperchild = 1 }))
  local rs = {}
  for k = 1, 3 do rs[k] = assert(recycled:apply_async(whoami)) end
  local names = {}
  for k = 1, 3 do names[assert(rs[k]:get(30))] = true end
  local distinct = 0
  for _ in pairs(names) do distinct = distinct + 1 end
  is(distinct, 3, "maxtasksperchild = 1 runs each task in a new worker")
  recycled:close()
  assert(recycled:join(30))
  recycled:free()

  local timed = assert(mproc.Pool(1, { tasks = { slow }, task_timeout = 0.3 }))
  local tv, tmsg, tcode, tname = timed:apply(slow, "5")
  fails_with(mproc.E_TASK_TIMEOUT, "a task past task_timeout", tv, tmsg, tcode, tname)
  is(timed:apply(slow, "0"), "0", "the pool goes on after a timeout")

  local t = assert(timed:apply_async(slow, "5"))
  is(timed:terminate(), true, "terminate()")
  fails_with(mproc.E_CANCELLED, "a task cut by terminate()", t:get(10))
  is(timed:join(10), true, "join() after terminate()")
  timed:free()

  -- A pool made in a coroutine keeps working after the coroutine ended.
  local from_co
  coroutine.wrap(function()
    from_co = assert(mproc.Pool(1, { tasks = { square }, maxtasksperchild = 1 }))
    is(from_co:apply(square, 3), "9", "a pool created in a coroutine")
  end)()
  is(from_co:apply(square, 4), "16", "it runs tasks after the coroutine ended (in a new worker)")
  from_co:free()
  local child_rc
  coroutine.wrap(function()
    local co = coroutine.running()
    local c = assert(mproc.Process(function() return coroutine.running() == co and 5 or 6 end):start())
    assert(c:join(10))
    child_rc = c:exitcode()
    c:free()
  end)()
  is(child_rc, 5, "a process started in a coroutine runs its target on it")

  fails_with(mproc.E_INVAL, "Pool with a negative worker count", mproc.Pool(-1, { tasks = {} }))
  ok(not pcall(mproc.Pool, 1, {}), "Pool without tasks raises")
  ok(not pcall(mproc.Pool, 1, { tasks = { 1 } }), "Pool with a non-function task raises")
end)

group("peer program", function()
  -- peer.lua, next to this script, run by this same interpreter.
  local interp, dir = arg[-1], arg[0]:match("^(.*)/[^/]*$") or "."
  local peer = interp .. " " .. dir .. "/peer.lua"
  local function run(cmd)
    local a, b, c = os.execute(cmd .. " 2>/dev/null")
    if type(a) == "number" then return a == 0 end -- Lua 5.1: the status
    return a == true and b == "exit" and c == 0
  end
  local name = unique .. "-peer"
  mproc.Queue.unlink(name)
  local q = assert(mproc.Queue.create(name))
  ok(run(peer .. " put " .. name .. " 5"), "peer put exits with 0")
  is(q:qsize(), 5, "peer put queued 5 messages")
  is(q:get(1), "msg-0", "peer put wrote msg-0 first")
  assert(q:put("msg-0", 1) and q:get(1) == "msg-1")
  -- Now the queue holds msg-2..msg-4 and msg-0: out of order for a reader.
  ok(not run(peer .. " get " .. name .. " 4"), "peer get exits with 1 on a wrong message")
  while q:get_nowait() do end
  ok(run(peer .. " put " .. name .. " 3") and run(peer .. " get " .. name .. " 3"), "peer put then get")
  ok(not run(peer .. " get " .. unique .. "-missing 1"), "peer get of a missing queue exits with 1")
  ok(not run(peer .. " frob " .. name .. " 1"), "peer with a bad mode exits with 1")
  mproc.Queue.unlink(name)
  q:free()
end)

print("1.." .. count)
os.exit(failures == 0 and 0 or 1)
