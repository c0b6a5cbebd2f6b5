// --force-new-cluster (unsafe recovery, docs/node.md): before the core starts, a survivor of a
// cluster that lost its majority for good rewrites the membership to itself alone.
//
// Like etcd's --force-new-cluster: every entry in this node's log is taken as committed, and
// committed membership changes are appended after it, at a term above every term the log or
// the hard state has seen: leave a joint configuration if any, make this node a voter (bound
// to its incarnation), then remove every other member, one at a time (each a valid simple
// change, applied by the usual path on this start). What this node never received is lost;
// what it holds but was never committed becomes committed.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "node/node_impl.h"

namespace raftkv::node {

using raft::ConfChange;
using raft::ConfChangeSingle;
using raft::ConfChangeTransition;
using raft::ConfChangeType;
using raft::ConfState;

Status NodeImpl::force_new_cluster() {
  const auto fail = [&](std::string why) {
    return Status(ErrorCode::kInvalidArgument, fmt::format("--force-new-cluster: {}", why));
  };
  if (!storage_initialized()) {
    return fail(fmt::format("{} holds no log: it must be the data dir of a surviving member",
                            opts_.data_dir));
  }
  // The membership after every entry of the log (all of them become committed).
  ConfState conf = wal_->initial_state().conf_state;
  if (conf.voters.empty() && conf.learners.empty()) {
    conf.voters = opts_.voters;  // legacy bootstrap entries re-apply on top
  }
  const Index first = wal_->first_index(), last = wal_->last_index();
  for (Index i = first; i <= last && last > Index(); i = i + 1) {
    auto entries = wal_->entries(i, i + 1, UINT64_MAX);
    if (!entries) return entries.status();
    const raft::Entry& e = entries->front();
    if (e.type != raft::EntryType::kConfChange) continue;
    auto cc = ConfChange::decode(e.data);
    if (!cc) continue;
    if (auto next = raft::apply_conf_change_to(conf, *cc); next.is_ok()) conf = *next;
  }

  raft::MemberInfo self;
  if (auto it = conf.members.find(opts_.id); it != conf.members.end()) self = it->second;
  self.incarnation = opts_.incarnation;
  if (!opts_.peer_addr.empty()) self.peer_addr = opts_.peer_addr;
  if (!opts_.client_addr.empty()) self.client_addr = opts_.client_addr;

  std::vector<ConfChange> changes;
  if (conf.joint()) changes.push_back(ConfChange{ConfChangeTransition::kAuto, {}});
  changes.push_back(ConfChange{ConfChangeTransition::kAuto,
                               {ConfChangeSingle{ConfChangeType::kAddVoter, opts_.id, self}}});
  std::vector<NodeId> others;
  for (const auto* list :
       {&conf.voters, &conf.voters_outgoing, &conf.learners, &conf.learners_next}) {
    for (NodeId id : *list) {
      if (id != opts_.id) others.push_back(id);
    }
  }
  std::sort(others.begin(), others.end());
  others.erase(std::unique(others.begin(), others.end()), others.end());
  for (NodeId id : others) {
    changes.push_back(ConfChange{ConfChangeTransition::kAuto,
                                 {ConfChangeSingle{ConfChangeType::kRemoveNode, id, {}}}});
  }
  // Drop changes that change nothing (a restart with the flag still given is then a no-op).
  ConfState result = conf;
  std::vector<ConfChange> effective;
  for (const ConfChange& cc : changes) {
    auto next = raft::apply_conf_change_to(result, cc);
    if (!next) {
      return fail(fmt::format("cannot rewrite the membership: {}", next.status().message()));
    }
    if (*next == result) continue;
    result = std::move(next).value();
    effective.push_back(cc);
  }
  if (effective.empty()) {
    log_.warn("--force-new-cluster: this node is already the only voter; nothing rewritten");
    return Status::ok();
  }

  const raft::HardState hs = wal_->initial_state().hard_state;
  auto last_term = wal_->term(last);
  if (!last_term) return last_term.status();
  const Term term = std::max(hs.term, *last_term) + 1;
  std::vector<raft::Entry> entries;
  Index index = last;
  for (const ConfChange& cc : effective) {
    index = index + 1;
    entries.push_back(raft::Entry{term, index, raft::EntryType::kConfChange, cc.encode()});
  }
  const raft::HardState next_hs{term, NodeId(), index};
  auto ticket = wal_->append(std::move(entries), next_hs);
  if (!ticket) return ticket.status();
  if (auto durable = wal_->sync(); !durable) return durable.status();
  log_.error(
      "--force-new-cluster: REWROTE THE MEMBERSHIP to this node alone (was voters {}{}, learners "
      "{}): entries {}..{} at term {} removed {} and committed everything this node's log held "
      "up to {}. Writes acknowledged by the lost majority but never received here are gone. "
      "Restart without the flag; add new members with RAFTKV.MEMBER ADD.",
      fmt::join(conf.voters, ", "),
      conf.joint() ? fmt::format(" joint with {}", fmt::join(conf.voters_outgoing, ", ")) : "",
      fmt::join(conf.learners, ", "), last + 1, index, term,
      others.empty() ? std::string("no one") : fmt::format("{}", fmt::join(others, ", ")), last);
  return Status::ok();
}

}  // namespace raftkv::node
