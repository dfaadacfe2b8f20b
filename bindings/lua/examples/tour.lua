-- The seed notes' queue and pool examples in Lua (examples/tour.c, sections
-- 9, 11 and 12, restates them in C). Runs under lua5.4 and luajit:
--
--   LUA_PATH='bindings/lua/?.lua' LUA_CPATH='build/bindings/lua/?.so' lua5.4 bindings/lua/examples/tour.lua
--   LUA_PATH='bindings/lua/?.lua' MPROC_LIB=build/src/libmproc.so.0 luajit bindings/lua/examples/tour.lua
--
-- It checks what it prints, and exits with 1 if anything is off (the test
-- suite runs it).
local mproc = require "mproc"

local function section(title) print("\n=== " .. title .. " ===") end

-- Children and tasks "work" by waiting on an empty queue: a sleep.
local clock = assert(mproc.Queue())
local function sleep(seconds) clock:get(seconds) end

--------------------------------------------------------------------------
section("9. Processes talk through a queue: producer / consumer")

local q = assert(mproc.Queue(3))

local function download_from_web(queue)
  for _, v in ipairs({ 11, 22, 33, 44 }) do assert(queue:put(v)) end
  print("download: finished, everything is in the queue")
end

local function analysis_data(queue)
  local got = {}
  while #got < 4 do
    local v = queue:get(5)
    if not v then break end
    got[#got + 1] = v
  end
  print("analysis: [" .. table.concat(got, ", ") .. "]")
  return #got == 4 and table.concat(got, ",") == "11,22,33,44"
end

local pw = assert(mproc.Process(download_from_web, q):start())
local pr = assert(mproc.Process(analysis_data, q):start())
assert(pw:join() and pr:join())
assert(pw:exitcode() == 0 and pr:exitcode() == 0, "producer or consumer failed")
pw:free(); pr:free(); q:free()

-- Two bun makers and one eater share a queue that holds a single bun.
local buns = assert(mproc.Queue(1))

local function product(queue)
  for _, kind in ipairs({ "pork", "cabbage", "red bean" }) do
    print(mproc.current_name() .. " makes a " .. kind .. " bun")
    io.stdout:flush()
    assert(queue:put(kind))
  end
end

local function consumer(queue)
  for _ = 1, 6 do
    local bun = assert(queue:get())
    print("the consumer ate a " .. bun .. " bun")
    io.stdout:flush()
  end
end

local makers = { mproc.Process(product, buns), mproc.Process(product, buns), mproc.Process(consumer, buns) }
for _, p in ipairs(makers) do assert(p:start()) end
for _, p in ipairs(makers) do
  assert(p:join())
  assert(p:exitcode() == 0, p:name() .. " failed")
  p:free()
end
assert(buns:empty(), "every bun was eaten")
buns:free()

--------------------------------------------------------------------------
section("11. Pool(3): apply_async over 10 jobs, close(), join()")

local function work(i)
  i = tonumber(i)
  print(("job %d running in %s"):format(i, mproc.current_name()))
  io.stdout:flush()
  sleep(0.02 * (i % 4))
  return i * i
end

-- Pool workers are forked when the pool is created: they run the tasks
-- listed here, with string arguments and results.
local function get_html(n)
  sleep(0.1 * tonumber(n))
  print(n .. ": got the page")
  io.stdout:flush()
  return n
end

local pool = assert(mproc.Pool(3, { tasks = { work, get_html } }))
local done = 0
local results = {}
for i = 0, 9 do
  results[#results + 1] = assert(pool:apply_async(work, i, function() done = done + 1 end))
end
print("-----start-----")
assert(pool:close())
assert(pool:join())
print("-----end-----")
assert(done == 10, "every callback ran")
for i, r in ipairs(results) do
  assert(r:get() == tostring((i - 1) * (i - 1)))
  r:free()
end
pool:free()

--------------------------------------------------------------------------
section("12. result.get(), imap (input order) and imap_unordered (completion order)")

pool = assert(mproc.Pool(math.max(3, mproc.cpu_count()), { tasks = { get_html } }))
local r = assert(pool:apply_async(get_html, 3))
print("result.get() = " .. assert(r:get()))
r:free()

local order = {}
for _, page in assert(pool:imap(get_html, { 4, 3, 2 })) do
  print("imap: " .. page .. " finished sleeping")
  order[#order + 1] = page
end
assert(table.concat(order, ",") == "4,3,2", "imap keeps the input order")

order = {}
for _, page in assert(pool:imap_unordered(get_html, { 4, 3, 2 })) do
  print("imap_unordered: " .. page .. " finished sleeping")
  order[#order + 1] = page
end
-- Usually 2, 3, 4; pages finishing within a few ms of each other may swap.
table.sort(order)
assert(table.concat(order, ",") == "2,3,4", "imap_unordered yields every page")

assert(pool:close())
assert(pool:join())
pool:free()
clock:free()
print("cpu_count() = " .. mproc.cpu_count())
