// The Boost.Interprocess message_queue peer of the queue benchmark.
//
// Built into queue_throughput (so Boost is measured interleaved with mproc
// and the raw baselines, in the same process and rounds) and, with
// QB_BOOST_MAIN defined, into the stand-alone queue_boost program, which
// runs the same driver with Boost alone (same options, same @bench
// records). Compiled only when Boost's headers were found.
//
// Each channel is a message_queue created in the parent under a unique name
// (removed when the scenario ends) with max_num_msg = the scenario's depth
// and max_msg_size = its message size. The forked children use the
// parent's object: its mapping is MAP_SHARED, so the copy works on the same
// segment, and message_queue keeps offsets, not pointers, inside it.
// send() and receive() block (process-shared mutex and condition variable).
#include <unistd.h>

#include <boost/interprocess/ipc/message_queue.hpp>
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "queue_driver.h"

namespace {

namespace bip = boost::interprocess;

struct BoostState {
  bip::message_queue *q[2] = {nullptr, nullptr};
  std::string name[2];
  int n = 0;
  bool pingpong = false;
};

void boost_close(void *state) {
  auto *st = static_cast<BoostState *>(state);
  for (int i = 0; i < st->n; i++) {
    delete st->q[i];
    bip::message_queue::remove(st->name[i].c_str());
  }
  delete st;
}

int boost_open(void **state, const qb_setup *s, char *why, size_t why_len) {
  static unsigned counter;
  auto *st = new (std::nothrow) BoostState;
  if (!st) return -1;
  st->pingpong = s->mode == QB_PINGPONG;
  int want = st->pingpong ? 2 : 1;
  try {
    for (int i = 0; i < want; i++) {
      st->name[i] = "mproc-qbench-boost-" + std::to_string(static_cast<long>(getpid())) + "-" +
                    std::to_string(counter++);
      bip::message_queue::remove(st->name[i].c_str());
      st->q[i] = new bip::message_queue(bip::create_only, st->name[i].c_str(), s->depth,
                                        s->msg_size);
      st->n++;
    }
  } catch (const std::exception &e) {
    std::snprintf(why, why_len, "message_queue(%zu x %zu B): %s", s->depth, s->msg_size, e.what());
    boost_close(st);
    return -1;
  }
  *state = st;
  return 0;
}

int boost_send(void *state, int chan, const void *buf, size_t len) {
  auto *st = static_cast<BoostState *>(state);
  try {
    st->q[st->pingpong ? chan : 0]->send(buf, len, 0);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "boost send: %s\n", e.what());
    return -1;
  }
}

int boost_recv(void *state, int chan, void *buf, size_t cap, size_t *len) {
  auto *st = static_cast<BoostState *>(state);
  try {
    bip::message_queue::size_type got = 0;
    unsigned int priority = 0;
    st->q[st->pingpong ? chan : 0]->receive(buf, cap, got, priority);
    *len = static_cast<size_t>(got);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "boost receive: %s\n", e.what());
    return -1;
  }
}

}  // namespace

extern "C" {
extern const qb_peer qb_boost_peer;
const qb_peer qb_boost_peer = {
    "boost",
    "Boost.Interprocess message_queue",
    QB_CAN_THROUGHPUT | QB_CAN_PINGPONG | QB_CAN_SLEEP_PINGPONG,
    boost_open,
    nullptr,
    boost_send,
    boost_recv,
    nullptr,
    boost_close,
};
}

#ifdef QB_BOOST_MAIN
int main(int argc, char **argv) {
  const qb_peer *peers[] = {&qb_boost_peer};
  return qb_main(argc, argv,
                 "Boost.Interprocess message_queue alone, with the scenarios and records of\n"
                 "queue_throughput (which measures it interleaved with mproc).",
                 peers, 1);
}
#endif
