// Majority quorum math (etcd raft's quorum/). Pure functions over small voter sets.
#pragma once

#include <algorithm>
#include <map>
#include <vector>

#include "base/ids.h"

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

enum class VoteResult { kPending, kLost, kWon };

// Tally of an election (Raft §5.2): won with a majority of grants, lost once a majority can no
// longer be reached. `votes` maps voter → granted; non-voters in it are ignored.
inline VoteResult tally_votes(const std::vector<NodeId>& voters,
                              const std::map<NodeId, bool>& votes) {
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

}  // namespace raftkv::raft
