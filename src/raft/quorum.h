// Majority quorum math (etcd raft's quorum/). Pure functions over small voter sets.
//
// Joint consensus (thesis §4.3, etcd's JointConfig): while a configuration is joint, elections,
// commitment, check-quorum and read rounds need a majority of the incoming voters AND a
// majority of the outgoing ones. An empty configuration (the outgoing one when not joint)
// agrees to everything, so the joint functions below serve plain configurations unchanged.
#pragma once

#include <algorithm>
#include <map>
#include <vector>

#include "base/ids.h"
#include "raft/types.h"

namespace raftkv::raft {

inline size_t majority(size_t voters) {
  return voters / 2 + 1;
}

// The largest index acknowledged by a majority of `voters` (Raft §5.3/§5.4.2: an entry is
// committed once stored on a majority). `match_of(id)` gives a voter's acknowledged index.
// With no voters, returns the maximum index (nothing constrains commit; callers never do this
// except for a removed leader, which does not commit).
template <typename MatchOf>
Index majority_acked_index(const std::vector<NodeId>& voters, MatchOf&& match_of) {
  if (voters.empty()) return Index(UINT64_MAX);
  // Voter sets are tiny (≤ 7 in practice): copy and partially sort.
  std::vector<Index> acked;
  acked.reserve(voters.size());
  for (NodeId v : voters) acked.push_back(match_of(v));
  // Sorted descending, the majority-th entry is acknowledged by at least a majority.
  const size_t k = majority(voters.size()) - 1;
  std::nth_element(acked.begin(), acked.begin() + static_cast<std::ptrdiff_t>(k), acked.end(),
                   std::greater<>());
  return acked[k];
}

// Commitment while joint: the largest index acknowledged by both majorities.
template <typename MatchOf>
Index joint_acked_index(const ConfState& conf, MatchOf&& match_of) {
  return std::min(majority_acked_index(conf.voters, match_of),
                  majority_acked_index(conf.voters_outgoing, match_of));
}

// True when the voters for which `yes(id)` holds are a majority of `voters` (always for none).
template <typename Pred>
bool majority_agrees(const std::vector<NodeId>& voters, Pred&& yes) {
  if (voters.empty()) return true;
  size_t n = 0;
  for (NodeId v : voters) n += yes(v) ? 1 : 0;
  return n >= majority(voters.size());
}

// Check-quorum and read rounds while joint: a majority of each configuration.
template <typename Pred>
bool joint_agrees(const ConfState& conf, Pred&& yes) {
  return majority_agrees(conf.voters, yes) && majority_agrees(conf.voters_outgoing, yes);
}

enum class VoteResult { kPending, kLost, kWon };

// Tally of an election (Raft §5.2): won with a majority of grants, lost once a majority can no
// longer be reached. `votes` maps voter → granted; non-voters in it are ignored. An empty voter
// set is won (the outgoing side of a configuration that is not joint).
inline VoteResult tally_votes(const std::vector<NodeId>& voters,
                              const std::map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  size_t granted = 0, rejected = 0;
  for (NodeId v : voters) {
    auto it = votes.find(v);
    if (it == votes.end()) continue;
    (it->second ? granted : rejected)++;
  }
  const size_t need = majority(voters.size());
  if (granted >= need) return VoteResult::kWon;
  if (voters.size() - rejected < need) return VoteResult::kLost;
  return VoteResult::kPending;
}

// An election while joint: won when both are won, lost when either is lost (etcd's
// JointConfig.VoteResult).
inline VoteResult tally_joint_votes(const ConfState& conf, const std::map<NodeId, bool>& votes) {
  const VoteResult in = tally_votes(conf.voters, votes);
  const VoteResult out = tally_votes(conf.voters_outgoing, votes);
  if (in == out) return in;
  if (in == VoteResult::kLost || out == VoteResult::kLost) return VoteResult::kLost;
  return VoteResult::kPending;
}

}  // namespace raftkv::raft
