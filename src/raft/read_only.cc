#include "raft/read_only.h"

#include <algorithm>

namespace raftkv::raft {

bool ReadOnly::read_round_in_flight() const {
  return std::any_of(rounds_.begin(), rounds_.end(),
                     [](const ReadRound& r) { return !r.reads.empty(); });
}

uint64_t ReadOnly::start_round(Index commit, uint64_t tick, NodeId self) {
  while (rounds_.size() >= kMaxRounds && rounds_.front().reads.empty()) rounds_.pop_front();
  ReadRound round;
  round.id = next_id_++;
  round.index = commit;
  round.started_tick = tick;
  round.reads = std::move(waiting_);
  waiting_.clear();
  round.acks.insert(self);
  rounds_.push_back(std::move(round));
  return rounds_.back().id;
}

const std::set<NodeId>* ReadOnly::ack(uint64_t id, NodeId from) {
  for (auto& r : rounds_) {
    if (r.id == id) {
      r.acks.insert(from);
      return &r.acks;
    }
  }
  return nullptr;
}

std::vector<ReadRound> ReadOnly::release_through(uint64_t id) {
  std::vector<ReadRound> out;
  while (!rounds_.empty() && rounds_.front().id <= id) {
    out.push_back(std::move(rounds_.front()));
    rounds_.pop_front();
  }
  return out;
}

void ReadOnly::reset() {
  rounds_.clear();
  waiting_.clear();
}

}  // namespace raftkv::raft
