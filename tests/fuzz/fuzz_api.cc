// fuzz-api: the input is a program of C API calls with arbitrary arguments
// (sizes, NULLs, flags, names, timeouts including NaN, negative, infinite
// and raw bit patterns) on queues and pools. Each call must return a code
// its header documents for the situation, and the queues must behave like
// a model: what comes out of a queue is what went in, in order, nothing is
// lost (a get that finds nothing while the model holds a message is a
// finding), and qsize/empty agree with the model.
//
// Speed: the pool that runs tasks is made once per process and reused (its
// two workers are forked once); a second "scratch" pool per input is never
// started, so its setters, close, terminate and join cost no fork. A call
// that may block is only made when it cannot (see may_block()).
#include <unistd.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <deque>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fuzz_reader.h"
#include "mproc.h"

namespace {

const char kTarget[] = "fuzz-api";
using Bytes = std::vector<uint8_t>;

void expect(bool ok, const char *what, long long got) {
  if (!ok) fuzz_input::fail(kTarget, what, got);
}

bool is_any(long long rc, std::initializer_list<int> codes) {
  for (int c : codes)
    if (rc == c) return true;
  return false;
}

// --- tasks the shared pool runs -------------------------------------------

int echo_task(const void *arg, size_t len, mproc_reply *r, void *) { return mproc_reply_set(r, arg, len); }

int fail_task(const void *, size_t, mproc_reply *r, void *) {
  mproc_reply_set(r, "failed", 6);
  return 5;
}

mproc_task_fn task_of(uint8_t b) { return b % 2 ? fail_task : echo_task; }

// --- argument values ---------------------------------------------------------

double timeout_from(fuzz_input::Reader &in) {
  const double kTimeouts[] = {0.0,  -0.0,      -1.0,   1e-9,    0.001,         std::nan(""),
                              1e300, -1e300, HUGE_VAL, -HUGE_VAL, DBL_MIN, -DBL_MIN, 0.5};
  uint8_t how = in.u8();
  if (how == 0xff) return in.take<double>();  // any bit pattern
  return kTimeouts[how % (sizeof kTimeouts / sizeof kTimeouts[0])];
}

// Could a call with this timeout wait (long enough to slow the fuzzer down,
// or forever)? NaN never waits: it is MPROC_E_INVAL.
bool may_block(double t) { return !std::isnan(t) && t != 0 && !(t > 0 && t <= 0.002); }

size_t size_from(fuzz_input::Reader &in) {
  const size_t kSizes[] = {0, 1, 63, 64, 65, 200, 4096, 65536, SIZE_MAX, size_t{1} << 40,
                           (size_t{1} << 32) + 1};
  uint8_t how = in.u8();
  if (how == 0xff) return in.take<uint32_t>() % (1u << 20);  // any size up to 1 MiB
  return kSizes[how % (sizeof kSizes / sizeof kSizes[0])];
}

// Capacity values a queue may really be created with stay small: the
// memory is reserved at once.
bool capacity_too_big(size_t c) { return c > (size_t{1} << 20) && c <= MPROC_QUEUE_MAX_CAPACITY; }

// --- queues and their model -------------------------------------------------

struct Model {
  std::deque<Bytes> messages;
  bool shut = false, shut_now = false;
};

struct Handle {
  mproc_queue *q = nullptr;
  std::shared_ptr<Model> model;
  bool closed = false;
  std::string token;  // what mproc_queue_export() registered for this anonymous handle
};

class Session {
 public:
  explicit Session(fuzz_input::Reader &in) : in_(in) {}
  ~Session();
  void step();

 private:
  Handle &handle() { return handles_[in_.below(kHandles)]; }
  std::string name();
  void drop(Handle &h);
  void queue_new();
  void queue_create();
  void queue_open();
  void queue_export();
  void queue_put();
  void queue_get(bool alloc);
  void queue_query();
  void queue_shutdown();
  void null_calls();
  void pool_apply();
  void pool_async();
  void result_op();
  void pool_iter();
  void pool_map();
  void pool_stat();
  void scratch_op();

  // Pool round trips dominate the time of an input: a few per input keep
  // the fuzzer at tens of inputs per second and more.
  bool may_submit() { return submitted_++ < kSubmissions; }

  static constexpr uint32_t kHandles = 4, kResults = 4, kSubmissions = 4;
  uint32_t submitted_ = 0;
  fuzz_input::Reader &in_;
  Handle handles_[kHandles];
  std::map<std::string, std::shared_ptr<Model>> named_;  // names created by this input
  std::set<std::string> used_names_;
  std::map<std::string, std::shared_ptr<Model>> tokens_;  // exported anonymous queues
  mproc_result *results_[kResults] = {};
  Bytes result_args_[kResults];
  mproc_task_fn result_fns_[kResults] = {};
  mproc_pool *scratch_ = nullptr;
  bool scratch_closed_ = false;
};

mproc_pool *g_pool = nullptr;

mproc_pool *shared_pool() {
  if (!g_pool) {
    if (mproc_pool_new(&g_pool, 2) != MPROC_OK || mproc_pool_start(g_pool) != MPROC_OK)
      fuzz_input::fail(kTarget, "cannot start the shared pool", 0);
    // Its workers are copies of the fuzzer: stop them before the fuzzer's
    // own exit handling runs in them too.
    atexit([] { mproc_pool_free(g_pool); });
  }
  return g_pool;
}

Session::~Session() {
  for (Handle &h : handles_) drop(h);
  for (mproc_result *r : results_) mproc_result_free(r);
  mproc_pool_free(scratch_);
  for (const std::string &n : used_names_) mproc_queue_unlink(n.c_str());
}

// Names under a prefix of this process (valid or not after it): the input
// cannot reach another test's queue, and every name is unlinked at the end.
std::string Session::name() {
  static const std::string prefix = "mproc-fuzz-api-" + std::to_string(getpid()) + "-";
  Bytes suffix = in_.bytes(in_.u8() % 8 == 0 ? 220 : 6);
  std::string n = prefix + std::string(suffix.begin(), suffix.end());
  n = n.substr(0, n.find('\0'));
  used_names_.insert(n);
  return n;
}

void Session::drop(Handle &h) {
  if (!h.token.empty()) tokens_.erase(h.token);  // freeing the handle withdraws its token
  mproc_queue_free(h.q);
  h = Handle();
}

void Session::queue_new() {
  Handle &h = handle();
  drop(h);
  size_t maxsize = size_from(in_), capacity = size_from(in_);
  if (capacity_too_big(capacity)) return;
  int rc = mproc_queue_new(&h.q, maxsize, capacity);
  bool over = capacity > MPROC_QUEUE_MAX_CAPACITY;
  expect(over ? rc == MPROC_E_INVAL : rc == MPROC_OK, "queue_new", rc);
  if (rc == MPROC_OK) h.model = std::make_shared<Model>();
}

void Session::queue_create() {
  Handle &h = handle();
  drop(h);
  std::string n = name();
  size_t maxsize = size_from(in_), capacity = size_from(in_);
  if (capacity_too_big(capacity)) return;
  int rc = mproc_queue_create(&h.q, n.c_str(), maxsize, capacity);
  expect(is_any(rc, {MPROC_OK, MPROC_E_INVAL, MPROC_E_EXIST}), "queue_create", rc);
  expect(rc != MPROC_E_EXIST || named_.count(n), "queue_create: EXIST for a new name", rc);
  expect(rc != MPROC_OK || !named_.count(n), "queue_create: created a name that exists", rc);
  if (rc == MPROC_OK) named_[n] = h.model = std::make_shared<Model>();
}

void Session::queue_open() {
  Handle &h = handle();
  drop(h);
  if (!tokens_.empty() && in_.below(2)) {
    auto it = tokens_.begin();
    std::advance(it, in_.below(static_cast<uint32_t>(tokens_.size())));
    int rc = mproc_queue_open(&h.q, it->first.c_str());
    expect(rc == MPROC_OK, "queue_open of an exported token", rc);
    if (rc == MPROC_OK) h.model = it->second;
    return;
  }
  std::string n = name();
  int rc = mproc_queue_open(&h.q, n.c_str());
  expect(is_any(rc, {MPROC_OK, MPROC_E_INVAL, MPROC_E_NOENT}), "queue_open", rc);
  auto it = named_.find(n);
  expect((rc == MPROC_OK) == (it != named_.end()), "queue_open: OK exactly for a created name", rc);
  if (rc == MPROC_OK) h.model = it->second;
}

void Session::queue_export() {
  Handle &h = handle();
  const size_t kCaps[] = {0, 1, 17, MPROC_QUEUE_TOKEN_MAX};
  size_t cap = in_.pick(kCaps);
  char token[MPROC_QUEUE_TOKEN_MAX];
  int rc = mproc_queue_export(h.q, token, cap);
  const char *name = mproc_queue_name(h.q);
  size_t need = name ? strlen(name) + 1 : 18;  // an anonymous queue's token: "@" and 16 hex digits
  if (!h.q) {
    expect(rc == MPROC_E_INVAL, "export(NULL)", rc);
  } else if (cap < need) {
    expect(rc == MPROC_E_TOOBIG, "export into a short buffer", rc);
  } else {
    expect(rc == MPROC_OK && strlen(token) + 1 == need, "export", rc);
    expect(!name || strcmp(token, name) == 0, "a named queue's token is its name", rc);
    if (!name) tokens_[h.token = token] = h.model;
  }
}

void Session::queue_put() {
  Handle &h = handle();
  Bytes msg = in_.bytes(120);
  bool null_data = in_.u8() == 0xff;
  double timeout = timeout_from(in_);
  bool big = in_.u8() % 8 == 0;
  if (big && h.q) msg.assign(mproc_queue_max_message(h.q) + in_.below(2), 0x5a);
  if (may_block(timeout) && !(h.model && h.model->messages.empty())) timeout = 0;
  const void *data = null_data ? nullptr : msg.data();
  int rc = mproc_queue_put(h.q, data, msg.size(), timeout);
  if (!h.q || (null_data && !msg.empty()) || std::isnan(timeout)) {
    expect(rc == MPROC_E_INVAL, "put: INVAL expected", rc);
    return;
  }
  Model &m = *h.model;
  bool closed = h.closed || m.shut, too_big = msg.size() > mproc_queue_max_message(h.q);
  if (closed || too_big) {  // either error may win when both apply
    expect((closed && rc == MPROC_E_CLOSED) || (too_big && rc == MPROC_E_TOOBIG),
           "put on a closed queue or over max_message", rc);
    return;
  }
  expect(rc == MPROC_OK || rc == MPROC_E_FULL, "put", rc);
  expect(rc == MPROC_OK || !m.messages.empty(), "put: FULL on an empty queue", rc);
  if (rc == MPROC_OK) m.messages.push_back(msg);
}

void Session::queue_get(bool alloc) {
  Handle &h = handle();
  size_t cap = in_.below(2) ? size_from(in_) % 4096 : 0;
  bool null_buf = in_.u8() == 0xff, null_len = in_.u8() == 0xff;
  double timeout = timeout_from(in_);
  if (may_block(timeout) && !(h.model && (!h.model->messages.empty() || h.model->shut))) timeout = 0;
  Bytes buf(cap);
  size_t len = SIZE_MAX;
  void *data = nullptr;
  int rc = alloc ? mproc_queue_get_alloc(h.q, null_buf ? nullptr : &data, null_len ? nullptr : &len, timeout)
                 : mproc_queue_get(h.q, null_buf ? nullptr : buf.data(), cap, null_len ? nullptr : &len, timeout);
  bool bad_args = alloc ? null_buf || null_len : null_len || (null_buf && cap > 0);
  if (!h.q || bad_args || std::isnan(timeout)) {
    expect(rc == MPROC_E_INVAL, "get: INVAL expected", rc);
    return;
  }
  Model &m = *h.model;
  if (h.closed || m.shut_now || (m.shut && m.messages.empty())) {
    expect(rc == MPROC_E_CLOSED, "get on a closed handle or drained queue", rc);
    return;
  }
  if (m.messages.empty()) {
    expect(rc == MPROC_E_EMPTY, "get from an empty queue", rc);
    return;
  }
  const Bytes &front = m.messages.front();
  if (!alloc && front.size() > cap) {
    expect(rc == MPROC_E_TOOBIG && len == front.size(), "get: TOOBIG with the needed size", rc);
    return;
  }
  expect(rc == MPROC_OK, "get: a message was queued", rc);
  expect(len == front.size(), "get: length differs from what was put", static_cast<long long>(len));
  const void *got = alloc ? data : buf.data();
  expect(len == 0 || memcmp(got, front.data(), len) == 0, "get: bytes differ from what was put", 0);
  if (alloc) mproc_free(data);
  m.messages.pop_front();
}

void Session::queue_query() {
  Handle &h = handle();
  int64_t n = mproc_queue_qsize(h.q);
  int empty = mproc_queue_empty(h.q), full = mproc_queue_full(h.q);
  if (!h.q) {
    expect(n == MPROC_E_INVAL && empty == MPROC_E_INVAL && full == MPROC_E_INVAL, "queries on NULL", n);
    expect(mproc_queue_name(nullptr) == nullptr && mproc_queue_max_message(nullptr) == 0 &&
               mproc_queue_capacity(nullptr) == 0, "NULL accessors", 0);
    return;
  }
  expect(n == static_cast<int64_t>(h.model->messages.size()), "qsize differs from the model", n);
  expect(empty == (n == 0), "empty disagrees with qsize", empty);
  expect(full == 0 || full == 1, "full", full);
  expect(mproc_queue_max_message(h.q) + 16 == mproc_queue_capacity(h.q), "max_message", 0);
}

void Session::queue_shutdown() {
  Handle &h = handle();
  uint8_t how = in_.u8() % 3;
  if (how == 0) {
    int rc = mproc_queue_close(h.q);
    expect(rc == (h.q ? MPROC_OK : MPROC_E_INVAL), "close", rc);
    h.closed = h.q != nullptr;
  } else if (how == 1) {
    int immediate = in_.take<int>();
    int rc = mproc_queue_shutdown(h.q, immediate);
    expect(rc == (h.q ? MPROC_OK : MPROC_E_INVAL), "shutdown", rc);
    if (!h.q) return;
    h.model->shut = true;
    if (immediate && !h.model->shut_now) {
      h.model->shut_now = true;
      h.model->messages.clear();
    }
  } else {
    std::string n = name();
    int rc = mproc_queue_unlink(n.c_str());
    expect(is_any(rc, {MPROC_OK, MPROC_E_INVAL, MPROC_E_NOENT}), "unlink", rc);
    expect((rc == MPROC_OK) == (named_.erase(n) == 1), "unlink: OK exactly for a created name", rc);
  }
}

void Session::null_calls() {
  size_t len = 0;
  mproc_queue *q = nullptr;
  char token[MPROC_QUEUE_TOKEN_MAX];
  expect(mproc_queue_new(nullptr, 0, 0) == MPROC_E_INVAL, "queue_new(NULL)", 0);
  expect(mproc_queue_create(&q, nullptr, 0, 0) == MPROC_E_INVAL, "create(NULL name)", 0);
  expect(mproc_queue_open(&q, nullptr) == MPROC_E_INVAL, "open(NULL name)", 0);
  expect(mproc_queue_open(nullptr, "x") == MPROC_E_INVAL, "open(NULL out)", 0);
  expect(mproc_queue_unlink(nullptr) == MPROC_E_INVAL, "unlink(NULL)", 0);
  expect(mproc_queue_export(nullptr, token, sizeof token) == MPROC_E_INVAL, "export(NULL)", 0);
  expect(mproc_queue_get_nowait(nullptr, nullptr, 0, &len) == MPROC_E_INVAL, "get(NULL)", 0);
  expect(mproc_pool_new(nullptr, 1) == MPROC_E_INVAL, "pool_new(NULL)", 0);
  expect(mproc_pool_close(nullptr) == MPROC_E_INVAL, "pool_close(NULL)", 0);
  expect(mproc_pool_join(nullptr, 0) == MPROC_E_INVAL, "pool_join(NULL)", 0);
  expect(mproc_result_wait(nullptr, 0) == MPROC_E_INVAL, "result_wait(NULL)", 0);
  expect(mproc_iter_next(nullptr, nullptr, nullptr, nullptr, 0) == MPROC_E_INVAL, "iter_next(NULL)", 0);
  expect(mproc_pool_apply_async(shared_pool(), nullptr, nullptr, 0, nullptr, nullptr) == MPROC_E_INVAL,
         "apply_async(NULL fn)", 0);
  mproc_queue_free(nullptr);
  mproc_pool_free(nullptr);
  mproc_result_free(nullptr);
  mproc_iter_free(nullptr);
}

// The reply a task gives for arg, and its code.
void expect_reply(mproc_task_fn fn, const Bytes &arg, int rc, const void *data, size_t len, const char *what) {
  if (fn == echo_task) {
    expect(rc == MPROC_OK, what, rc);
    expect(len == arg.size() && (len == 0 || memcmp(data, arg.data(), len) == 0), "echo reply differs", 0);
  } else {
    expect(rc == MPROC_E_TASK_FAILED, what, rc);
    expect(len == 6 && memcmp(data, "failed", 6) == 0, "failed task's reply differs", 0);
  }
}

void Session::pool_apply() {
  mproc_task_fn fn = task_of(in_.u8());
  Bytes arg = in_.bytes(64);
  void *out = nullptr;
  size_t len = 0;
  int rc = mproc_pool_apply(shared_pool(), fn, arg.data(), arg.size(), nullptr, &out, &len);
  expect_reply(fn, arg, rc, out, len, "apply");
  mproc_free(out);
}

void Session::pool_async() {
  uint32_t i = in_.below(kResults);
  mproc_result_free(results_[i]);
  results_[i] = nullptr;
  result_fns_[i] = task_of(in_.u8());
  result_args_[i] = in_.bytes(64);
  int rc = mproc_pool_apply_async(shared_pool(), result_fns_[i], result_args_[i].data(),
                                  result_args_[i].size(), nullptr, &results_[i]);
  expect(rc == MPROC_OK, "apply_async", rc);
}

void Session::result_op() {
  uint32_t i = in_.below(kResults);
  mproc_result *r = results_[i];
  double timeout = timeout_from(in_);
  const void *data = nullptr;
  size_t len = 0;
  int code = 0;
  switch (in_.below(5)) {
    case 0: {
      int rc = mproc_result_wait(r, timeout);
      bool inval = !r || std::isnan(timeout);
      expect(inval ? rc == MPROC_E_INVAL : is_any(rc, {MPROC_OK, MPROC_E_TIMEOUT}), "result_wait", rc);
      expect(inval || rc == MPROC_OK || !(timeout < 0 || timeout > 10),
             "result_wait timed out on a quick task", rc);
      break;
    }
    case 1: {
      // successful first: the result may become ready between the calls.
      int ok = mproc_result_successful(r), ready = mproc_result_ready(r);
      expect(r ? (ready == 0 || ready == 1) : ready == MPROC_E_INVAL, "result_ready", ready);
      bool fine = ok == MPROC_E_BUSY || ok == (result_fns_[i] == echo_task);
      expect(r ? fine && (ok == MPROC_E_BUSY || ready == 1) : ok == MPROC_E_INVAL, "result_successful", ok);
      break;
    }
    case 2: {
      int rc = mproc_result_get(r, &data, &len, timeout);
      if (!r || std::isnan(timeout)) {
        expect(rc == MPROC_E_INVAL, "result_get: INVAL expected", rc);
      } else if (rc != MPROC_E_TIMEOUT) {
        expect_reply(result_fns_[i], result_args_[i], rc, data, len, "result_get");
      }
      break;
    }
    case 3: {
      int rc = mproc_result_worker_exitcode(r, &code);
      expect(r ? is_any(rc, {MPROC_E_STATE, MPROC_E_BUSY}) : rc == MPROC_E_INVAL, "worker_exitcode", rc);
      break;
    }
    default:
      mproc_result_free(r);
      results_[i] = nullptr;
  }
}

std::vector<Bytes> items_from(fuzz_input::Reader &in) {
  std::vector<Bytes> items(in.below(7));
  for (Bytes &b : items) b = in.bytes(24);
  return items;
}

std::vector<mproc_bytes> views(const std::vector<Bytes> &items) {
  std::vector<mproc_bytes> v;
  for (const Bytes &b : items) v.push_back(mproc_bytes{b.data(), b.size()});
  return v;
}

void Session::pool_iter() {
  mproc_task_fn fn = task_of(in_.u8());
  bool unordered = in_.below(2);
  std::vector<Bytes> items = items_from(in_);
  std::vector<mproc_bytes> v = views(items);
  size_t chunksize = size_from(in_);
  bool null_items = in_.u8() == 0xff;
  size_t stop_after = in_.below(8);  // free the iterator early (cancelling the rest)
  mproc_iter *it = nullptr;
  auto submit = unordered ? mproc_pool_imap_unordered : mproc_pool_imap;
  int rc = submit(shared_pool(), fn, null_items ? nullptr : v.data(), v.size(), chunksize, nullptr, &it);
  if (null_items && !v.empty()) {
    expect(rc == MPROC_E_INVAL, "imap(NULL items)", rc);
    return;
  }
  expect(rc == MPROC_OK, "imap", rc);
  std::vector<bool> seen(items.size());
  for (size_t k = 0; k < stop_after; k++) {
    size_t index = SIZE_MAX;
    const void *data = nullptr;
    size_t len = 0;
    rc = mproc_iter_next(it, &index, &data, &len, 30.0);
    if (rc == MPROC_DONE) {
      for (bool s : seen) expect(s, "iterator ended before an item", 0);
      break;
    }
    expect(index < items.size() && !seen[index], "iterator index", static_cast<long long>(index));
    expect(unordered || index == k, "imap out of input order", static_cast<long long>(index));
    seen[index] = true;
    expect_reply(fn, items[index], rc, data, len, "iter_next");
  }
  mproc_iter_free(it);
}

void Session::pool_map() {
  mproc_task_fn fn = task_of(in_.u8());
  std::vector<Bytes> items = items_from(in_);
  std::vector<mproc_bytes> v = views(items);
  size_t chunksize = size_from(in_);
  mproc_bytes *out = nullptr;
  int rc = mproc_pool_map(shared_pool(), fn, v.data(), v.size(), chunksize, nullptr, &out);
  if (fn == fail_task && !items.empty()) {
    expect(rc == MPROC_E_TASK_FAILED && out == nullptr, "map of failing tasks", rc);
    return;
  }
  expect(rc == MPROC_OK, "map", rc);
  for (size_t k = 0; k < items.size(); k++) expect_reply(fn, items[k], MPROC_OK, out[k].data, out[k].len, "map");
  mproc_free(out);
}

void Session::pool_stat() {
  int which = in_.below(2) ? static_cast<int>(in_.below(9)) - 1 : in_.take<int>();
  uint64_t value = 0;
  int rc = mproc_pool_stat(shared_pool(), which, &value);
  bool known = which >= MPROC_POOL_STAT_TASKS_SUBMITTED && which <= MPROC_POOL_STAT_WORKERS_ALIVE;
  expect(rc == (known ? MPROC_OK : MPROC_E_INVAL), "pool_stat", rc);
  // The shared pool is started: its setters are refused.
  rc = mproc_pool_set_maxtasksperchild(shared_pool(), in_.take<uint32_t>());
  expect(rc == MPROC_E_STATE, "setter on a started pool", rc);
}

// A pool that never starts a worker: setters, close, terminate, join, and
// submissions once it is closed.
void Session::scratch_op() {
  uint8_t op = in_.below(8);
  if (op == 0 || !scratch_) {
    mproc_pool_free(scratch_);
    scratch_ = nullptr;
    scratch_closed_ = false;
    int workers = in_.below(2) ? static_cast<int>(in_.below(6)) - 2 : in_.take<int>();
    int rc = mproc_pool_new(&scratch_, workers);
    bool valid = workers >= 0 && workers <= MPROC_POOL_MAX_WORKERS;
    expect(rc == (valid ? MPROC_OK : MPROC_E_INVAL), "pool_new", rc);
    return;
  }
  int rc = 0;
  switch (op) {
    case 1: {
      double t = timeout_from(in_);
      rc = mproc_pool_set_task_timeout(scratch_, t);
      bool inval = std::isnan(t) || t == 0;
      expect(rc == (scratch_closed_ ? rc : inval ? MPROC_E_INVAL : MPROC_OK), "set_task_timeout", rc);
      break;
    }
    case 2:
      rc = mproc_pool_set_maxtasksperchild(scratch_, in_.take<uint32_t>());
      expect(is_any(rc, {MPROC_OK, MPROC_E_STATE}), "set_maxtasksperchild", rc);
      break;
    case 3: {
      int method = in_.below(2) ? static_cast<int>(in_.below(6)) - 1 : in_.take<int>();
      rc = mproc_pool_set_start_method(scratch_, method);
      bool known = method >= MPROC_START_FORK && method <= MPROC_START_FORKSERVER;
      expect(known ? is_any(rc, {MPROC_OK, MPROC_E_STATE}) : rc == MPROC_E_INVAL, "set_start_method", rc);
      break;
    }
    case 4:
      rc = in_.below(2) ? mproc_pool_close(scratch_) : mproc_pool_terminate(scratch_);
      expect(rc == MPROC_OK, "close/terminate", rc);
      scratch_closed_ = true;
      break;
    case 5: {
      double t = timeout_from(in_);
      rc = mproc_pool_join(scratch_, t);
      int want = std::isnan(t) ? MPROC_E_INVAL : scratch_closed_ ? MPROC_OK : MPROC_E_STATE;
      expect(rc == want, "join of a pool that never started", rc);
      break;
    }
    default:
      if (!scratch_closed_) break;  // would start workers: only the shared pool forks
      rc = mproc_pool_apply_async(scratch_, echo_task, nullptr, 0, nullptr, nullptr);
      expect(rc == MPROC_E_INVAL, "apply_async(NULL out)", rc);
      mproc_result *r = nullptr;
      rc = mproc_pool_apply_async(scratch_, echo_task, nullptr, 0, nullptr, &r);
      expect(rc == MPROC_E_STATE && r == nullptr, "apply_async after close", rc);
  }
}

void Session::step() {
  switch (in_.below(18)) {
    case 0: queue_new(); break;
    case 1: queue_create(); break;
    case 2: queue_open(); break;
    case 3: case 4: queue_put(); break;
    case 5: case 6: queue_get(false); break;
    case 7: queue_get(true); break;
    case 8: queue_query(); break;
    case 9: queue_shutdown(); break;
    case 10: in_.below(2) ? drop(handle()) : queue_export(); break;
    case 11: null_calls(); break;
    case 12: if (may_submit()) pool_apply(); break;
    case 13: if (may_submit()) pool_async(); break;
    case 14: result_op(); break;
    case 15: if (may_submit()) pool_iter(); break;
    case 16: if (may_submit()) pool_map(); break;
    default: in_.below(2) ? pool_stat() : scratch_op();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_input::Reader in(data, size);
  Session s(in);
  for (int steps = 0; steps < 64 && !in.done(); steps++) s.step();
  return 0;
}
