#include "raft/membership_policy.h"

#include "raft/confchange.h"

namespace raftkv::raft {

std::optional<ConfChange> next_membership_change(const ConfState& conf, NodeId self, Index commit,
                                                 const std::vector<FollowerStatus>& followers,
                                                 const std::map<NodeId, uint64_t>& observed,
                                                 const std::set<NodeId>& promote,
                                                 const MembershipPolicyOptions& options) {
  if (conf.joint()) return std::nullopt;
  auto valid = [&](const ConfChange& cc) { return apply_conf_change_to(conf, cc).is_ok(); };
  std::map<NodeId, const FollowerStatus*> status;
  for (const FollowerStatus& f : followers) status[f.id] = &f;
  auto seen_incarnation = [&](NodeId id) -> std::optional<uint64_t> {
    if (auto it = observed.find(id); it != observed.end()) return it->second;
    if (auto it = status.find(id); it != status.end()) return it->second->incarnation;
    return std::nullopt;
  };

  if (options.readmit) {
    for (const auto& [id, info] : conf.members) {
      if (id == self || info.incarnation == 0) continue;  // unbound: any incarnation counts
      const std::optional<uint64_t> seen = seen_incarnation(id);
      // 0: a peer that does not announce one (an older version) is no evidence of a new disk.
      if (!seen || *seen == 0 || *seen == info.incarnation) continue;
      // The core's progress must agree (its acknowledgements come from the new incarnation):
      // one handshake alone does not demote a healthy voter.
      auto st = status.find(id);
      if (st == status.end() || st->second->incarnation != *seen) continue;
      MemberInfo next = info;
      next.incarnation = *seen;
      const ConfChange cc = ConfChange::single(ConfChangeType::kAddLearner, id, next);
      if (valid(cc)) return cc;
    }
  }

  // Bind voters recorded as 0 (data from before incarnations existed) to the incarnation their
  // acknowledgements come from: from then on a wiped disk behind them no longer counts.
  if (options.readmit) {
    for (NodeId id : conf.voters) {
      if (id == self || recorded_incarnation(conf, id) != 0) continue;
      auto it = status.find(id);
      if (it == status.end() || !it->second->recent_active || it->second->incarnation == 0) {
        continue;
      }
      const std::optional<uint64_t> seen = seen_incarnation(id);
      if (seen && *seen != it->second->incarnation) continue;
      MemberInfo next = member_info(conf, id);
      next.incarnation = it->second->incarnation;
      const ConfChange cc = ConfChange::single(ConfChangeType::kAddVoter, id, next);
      if (valid(cc)) return cc;
    }
  }

  for (NodeId id : conf.learners) {
    auto it = status.find(id);
    if (it == status.end() || (!options.auto_promote && promote.count(id) == 0)) continue;
    const FollowerStatus& f = *it->second;
    // Caught up, heard from, and acknowledging as the recorded incarnation (if one is recorded:
    // a learner added before it connected is bound to the incarnation it caught up as).
    if (!f.recent_active || f.match < commit || commit == Index()) continue;
    // A voter is always bound: promotion records the incarnation that caught up.
    if (f.incarnation == 0 || !incarnation_counts(conf, id, f.incarnation)) continue;
    MemberInfo next = member_info(conf, id);
    next.incarnation = f.incarnation;
    const ConfChange cc = ConfChange::single(ConfChangeType::kAddVoter, id, next);
    if (valid(cc)) return cc;
  }
  return std::nullopt;
}

}  // namespace raftkv::raft
