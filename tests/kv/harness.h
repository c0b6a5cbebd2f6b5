// Test helper: a StateMachine fed with entries built from command arguments.
#pragma once

#include <string>
#include <vector>

#include "kv/state_machine.h"
#include "kv/value_codec.h"

namespace raftkv::kv::testing {

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
