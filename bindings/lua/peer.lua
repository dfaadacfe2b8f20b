--- The Lua peer of the cross-language queue tests (bindings/cross/).
--
--   PEER put NAME COUNT   opens the existing named queue NAME and puts
--                         COUNT messages "msg-0", "msg-1", ...
--   PEER get NAME COUNT   opens it and gets COUNT messages (30 s timeout
--                         each), checking they are msg-0 .. msg-(COUNT-1)
--                         in order.
-- Exit status 0 on success, 1 with a message on stderr otherwise.
--
-- From a build directory (meson generates these wrappers, which set
-- LUA_PATH, LUA_CPATH and MPROC_LIB):
--   build/bindings/lua/mproc-peer-lua5.4 put NAME COUNT   (C module)
--   build/bindings/lua/mproc-peer-luajit get NAME COUNT   (FFI module)
local mproc = require "mproc"

local function die(...)
  io.stderr:write("lua peer: ", table.concat({ ... }, " "), "\n")
  os.exit(1)
end

local mode, name, count = arg[1], arg[2], tonumber(arg[3])
if (mode ~= "put" and mode ~= "get") or not name or not count or count < 0 then
  die("usage: peer.lua put|get NAME COUNT")
end

local q, err = mproc.Queue.open(name)
if not q then die("cannot open queue", name .. ":", err) end

for i = 0, count - 1 do
  local want = "msg-" .. i
  if mode == "put" then
    local ok, perr = q:put(want)
    if not ok then die("put", want, "failed:", perr) end
  else
    local got, gerr = q:get(30)
    if not got then die("get of", want, "failed:", gerr) end
    if got ~= want then die("expected", want, "got", got) end
  end
end
q:free()
os.exit(0)
