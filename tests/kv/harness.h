// Test helper: a StateMachine fed with entries built from command arguments.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kv/state_machine.h"
#include "kv/value_codec.h"

namespace raftkv::kv::testing {

// A request header for random workloads: half the requests carry one of four client sessions
// (sequence numbers counted in `sequence`, acknowledged up to `acked_lag` behind), half none.
inline RequestHeader random_header(std::mt19937_64& rng, int64_t now_ms, uint64_t (&sequence)[4],
                                   uint64_t acked_lag) {
  RequestHeader header;
  header.timestamp_ms = now_ms;
  if (rng() % 2 == 0) {
    const size_t client = rng() % 4;
    header.client_id = client + 1;
    header.sequence = ++sequence[client];
    header.acked_sequence = sequence[client] > acked_lag ? sequence[client] - acked_lag : 0;
  }
  return header;
}

class Harness {
 public:
  explicit Harness(StateMachineOptions options = {}) : sm_(make_skiplist_engine(), options) {}

  // Applies one command as the next log entry at the current time.
  Reply run(std::vector<std::string> args, RequestHeader header = {}) {
    header.timestamp_ms = now_ms_;
    return *sm_.apply(entry(encode_request(header, args)));
  }
  Reply read(std::vector<std::string> args) const { return sm_.read(args, now_ms_); }

  raft::Entry entry(std::string data) {
    raft::Entry e;
    e.term = Term(1);
    e.index = Index(++last_index_);
    e.data = std::move(data);
    return e;
  }

  void advance_ms(int64_t ms) { now_ms_ += ms; }
  int64_t now_ms() const { return now_ms_; }
  StateMachine& sm() { return sm_; }

 private:
  StateMachine sm_;
  uint64_t last_index_ = 0;
  int64_t now_ms_ = 1'700'000'000'000;
};

inline Reply bulk(std::string s) {
  return Reply::bulk(std::move(s));
}
inline Reply integer(int64_t v) {
  return Reply::integer_reply(v);
}
inline Reply error(std::string s) {
  return Reply::error(std::move(s));
}

}  // namespace raftkv::kv::testing
