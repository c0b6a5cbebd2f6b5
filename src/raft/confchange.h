// Membership changes (thesis §4; etcd raft's confchange/): the rules for applying a ConfChange
// to a ConfState, and small queries over a ConfState shared by the core, the simulator and the
// node driver.
//
// apply_conf_change_to() (declared in types.h) follows etcd's confchange.Changer:
//   - leave (empty change list): only while joint; learners_next become learners, outgoing
//     voters that are no longer members are dropped;
//   - enter joint (kJointImplicit, kJointExplicit, or kAuto with more than one change): only
//     when not joint; the incoming configuration is copied to voters_outgoing, then the changes
//     are applied to the incoming one; a voter of the outgoing side made a learner goes to
//     learners_next (it keeps voting in the outgoing majority until the leave, thesis §4.3);
//   - simple (kAuto with one change): only when not joint, and at most one voter may change
//     (thesis §4.1: any two majorities of configurations differing by one server overlap);
//   - never zero incoming voters; a node that is a voter before and after the change keeps its
//     incarnation (a voter re-bound to a new incarnation would be two voters changed at once:
//     the old one's promises are lost with its disk, so it goes through a learner first).
// From the empty configuration (no voters, no learners: a node that has not applied its first
// entry), any set of additions establishes the initial configuration (Raft::bootstrap).
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "raft/types.h"

namespace raftkv::raft {

// Structural invariants of a membership: lists sorted, unique, without node 0; learners disjoint
// from both voter sets; learners_next only while joint, a subset of the outgoing voters disjoint
// from the incoming ones and from the learners; auto_leave only while joint; `members` holds no
// record for a node that is not named (a named node without one is unbound). kInvalidArgument
// naming the first problem.
Status validate_conf_state(const ConfState& conf);
// Sorts and dedups the lists (membership from configuration flags or old data).
void normalize_conf_state(ConfState& conf);
// The record of `id`: unbound (all empty) if it has none.
MemberInfo member_info(const ConfState& conf, NodeId id);

bool is_incoming_voter(const ConfState& conf, NodeId id);
bool is_outgoing_voter(const ConfState& conf, NodeId id);
// A voter of either configuration (while joint, an outgoing voter still votes and counts).
inline bool is_voter_of(const ConfState& conf, NodeId id) {
  return is_incoming_voter(conf, id) || is_outgoing_voter(conf, id);
}
bool is_learner_of(const ConfState& conf, NodeId id);
inline bool is_member_of(const ConfState& conf, NodeId id) {
  return conf.members.count(id) > 0;
}
// The incarnation recorded for `id`; 0 if it is unbound or not a member.
uint64_t recorded_incarnation(const ConfState& conf, NodeId id);
// A vote or acknowledgement sent by incarnation `incarnation` of `id` counts: the record is
// unbound (0) or names exactly that incarnation.
bool incarnation_counts(const ConfState& conf, NodeId id, uint64_t incarnation);
// Every voter of either configuration, sorted and unique.
std::vector<NodeId> all_voters(const ConfState& conf);

// For logs and traces: "voters [1 2 3] outgoing [1 2 4] learners [5] next [4] auto-leave".
std::string describe_conf(const ConfState& conf);
// "joint-implicit: add-voter 4 (inc 7), remove 2" / "leave joint".
std::string describe_change(const ConfChange& cc);

}  // namespace raftkv::raft
