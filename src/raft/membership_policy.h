// The leader's automatic membership policy (issue 12): re-admitting a member whose disk was
// replaced, and promoting learners that caught up. A pure function over what the leader knows,
// shared by the node driver and the simulator so that both run the same rules.
//
// A member whose messages come from another incarnation than the recorded one lost the disk
// that made its promises (votes, acknowledged entries). It is re-admitted in two ordinary
// changes, one at a time (thesis §4.1, §4.2.1):
//   1. AddLearner(node, {new incarnation, same addresses}): a voter is demoted, so it stops
//      being counted (it was not counted anyway: its incarnation did not match) and the new
//      incarnation is recorded;
//   2. AddVoter(node, {new incarnation}) once its acknowledged match reaches the commit index.
// A voter is never re-bound in place (apply_conf_change_to refuses it): the old incarnation's
// lost promises and the new one's vote would then both count, as two voters changed at once.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "raft/raft.h"
#include "raft/types.h"

namespace raftkv::raft {

struct MembershipPolicyOptions {
  // Re-admit members seen with another incarnation than the recorded one (step 1 above).
  bool readmit = true;
  // Promote every learner once caught up (`--auto-promote`); when false only the learners in
  // `promote` (e.g. the ones this leader re-admitted, or an operator's PROMOTE) are.
  bool auto_promote = true;
};

// The next change the leader should propose, or none. Inputs, all as the leader sees them now:
//   conf       the applied membership (Raft::conf_state());
//   self       the leader's id (never re-admitted by itself);
//   commit     the leader's commit index (a learner is caught up when its match reaches it);
//   followers  Raft::follower_status(): each member's match, activity and the incarnation its
//              acknowledgements come from;
//   observed   the incarnation the driver saw on each peer's latest messages or handshake, if
//              it knows it (it may know before the core's progress does); else the progress's;
//   promote    learners to promote once caught up even when auto_promote is off.
// Returns none while joint (the core leaves an auto-leave joint configuration itself), and
// never a change that apply_conf_change_to(conf, ·) refuses. Re-admissions come first (lowest
// node id first), then promotions. The core still refuses it while another change is pending;
// the driver simply asks again later.
std::optional<ConfChange> next_membership_change(const ConfState& conf, NodeId self, Index commit,
                                                 const std::vector<FollowerStatus>& followers,
                                                 const std::map<NodeId, uint64_t>& observed,
                                                 const std::set<NodeId>& promote,
                                                 const MembershipPolicyOptions& options = {});

}  // namespace raftkv::raft
