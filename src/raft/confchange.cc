#include "raft/confchange.h"

#include <algorithm>

#include <fmt/format.h>

namespace raftkv::raft {
namespace {

Status invalid(std::string what) {
  return Status(ErrorCode::kInvalidArgument, std::move(what));
}

bool contains(const std::vector<NodeId>& ids, NodeId id) {
  return std::binary_search(ids.begin(), ids.end(), id);
}
void insert(std::vector<NodeId>& ids, NodeId id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  if (it == ids.end() || *it != id) ids.insert(it, id);
}
void erase(std::vector<NodeId>& ids, NodeId id) {
  auto it = std::lower_bound(ids.begin(), ids.end(), id);
  if (it != ids.end() && *it == id) ids.erase(it);
}
void sort_unique(std::vector<NodeId>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

std::string ids_text(const std::vector<NodeId>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += fmt::format("{}{}", i ? " " : "", ids[i]);
  return out + "]";
}

const char* type_name(ConfChangeType t) {
  switch (t) {
    case ConfChangeType::kAddVoter:
      return "add-voter";
    case ConfChangeType::kAddLearner:
      return "add-learner";
    case ConfChangeType::kRemoveNode:
      return "remove";
  }
  return "?";
}

// --- encoding ---------------------------------------------------------------------------------

constexpr size_t kLegacyBytes = 9;
// First byte of the versioned format; the legacy format starts with a type (0..2).
constexpr uint8_t kFormatV2 = 0xA2;
constexpr uint32_t kMaxChanges = 4096;
constexpr uint32_t kMaxAddrBytes = 4096;

void put_u8(std::string& out, uint8_t v) {
  out.push_back(static_cast<char>(v));
}
void put_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_str(std::string& out, const std::string& s) {
  put_le(out, s.size(), 4);
  out += s;
}

struct Reader {
  std::string_view in;
  bool ok = true;
  uint64_t le(int bytes) {
    if (in.size() < static_cast<size_t>(bytes)) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(in[static_cast<size_t>(i)])) << (8 * i);
    }
    in.remove_prefix(static_cast<size_t>(bytes));
    return v;
  }
  std::string str() {
    const uint64_t n = le(4);
    if (!ok || n > kMaxAddrBytes || n > in.size()) {
      ok = false;
      return {};
    }
    std::string s(in.substr(0, n));
    in.remove_prefix(n);
    return s;
  }
};

// --- application ------------------------------------------------------------------------------

// etcd's makeVoter / makeLearner / remove, on the incoming configuration.
// The record an add leaves: `info`, except that an add naming no record at all (a PROMOTE that
// gives only the node id) keeps the member's existing one, so that it is never unbound or
// stripped of its addresses by omission.
void set_record(ConfState& c, NodeId id, const MemberInfo& info) {
  auto it = c.members.find(id);
  if (it != c.members.end() && info == MemberInfo{}) return;
  c.members[id] = info;
}

void make_voter(ConfState& c, NodeId id, const MemberInfo& info) {
  erase(c.learners, id);
  erase(c.learners_next, id);
  insert(c.voters, id);
  set_record(c, id, info);
}

void make_learner(ConfState& c, NodeId id, const MemberInfo& info) {
  set_record(c, id, info);
  erase(c.voters, id);
  erase(c.learners, id);
  erase(c.learners_next, id);
  // An outgoing voter keeps voting there until the joint configuration is left; it becomes a
  // learner then (etcd's LearnersNext: a node is never a voter and a learner at once).
  if (contains(c.voters_outgoing, id)) {
    insert(c.learners_next, id);
  } else {
    insert(c.learners, id);
  }
}

void remove_node(ConfState& c, NodeId id) {
  erase(c.voters, id);
  erase(c.learners, id);
  erase(c.learners_next, id);
  if (!contains(c.voters_outgoing, id)) c.members.erase(id);
}

Status apply_changes(ConfState& c, const std::vector<ConfChangeSingle>& changes) {
  for (const ConfChangeSingle& ch : changes) {
    if (ch.node.is_none()) return invalid("a membership change names node 0");
    switch (ch.type) {
      case ConfChangeType::kAddVoter:
        make_voter(c, ch.node, ch.info);
        break;
      case ConfChangeType::kAddLearner:
        make_learner(c, ch.node, ch.info);
        break;
      case ConfChangeType::kRemoveNode:
        remove_node(c, ch.node);
        break;
    }
  }
  if (c.voters.empty()) return invalid("the change would leave no voters");
  return Status::ok();
}

size_t symmetric_difference(const std::vector<NodeId>& a, const std::vector<NodeId>& b) {
  size_t n = 0;
  for (NodeId id : a) n += contains(b, id) ? 0 : 1;
  for (NodeId id : b) n += contains(a, id) ? 0 : 1;
  return n;
}

}  // namespace

std::string ConfChange::encode() const {
  std::string out;
  if (transition == ConfChangeTransition::kAuto && changes.size() == 1 &&
      changes[0].info == MemberInfo{}) {
    put_u8(out, static_cast<uint8_t>(changes[0].type));
    put_le(out, changes[0].node.value(), 8);
    return out;
  }
  put_u8(out, kFormatV2);
  put_u8(out, static_cast<uint8_t>(transition));
  put_le(out, changes.size(), 4);
  for (const ConfChangeSingle& ch : changes) {
    put_u8(out, static_cast<uint8_t>(ch.type));
    put_le(out, ch.node.value(), 8);
    put_le(out, ch.info.incarnation, 8);
    put_str(out, ch.info.peer_addr);
    put_str(out, ch.info.client_addr);
  }
  return out;
}

std::optional<ConfChange> ConfChange::decode(std::string_view data) {
  auto valid_type = [](uint64_t t) {
    return t <= static_cast<uint8_t>(ConfChangeType::kRemoveNode);
  };
  Reader r{data};
  if (data.size() == kLegacyBytes && valid_type(static_cast<uint8_t>(data[0]))) {
    const auto type = static_cast<ConfChangeType>(r.le(1));
    const NodeId node(r.le(8));
    if (node.is_none()) return std::nullopt;
    return ConfChange::single(type, node);
  }
  if (data.empty() || static_cast<uint8_t>(data[0]) != kFormatV2) return std::nullopt;
  r.le(1);
  ConfChange cc;
  const uint64_t transition = r.le(1);
  if (transition > static_cast<uint8_t>(ConfChangeTransition::kJointExplicit)) return std::nullopt;
  cc.transition = static_cast<ConfChangeTransition>(transition);
  const uint64_t n = r.le(4);
  if (!r.ok || n > kMaxChanges) return std::nullopt;
  for (uint64_t i = 0; i < n && r.ok; ++i) {
    ConfChangeSingle ch;
    const uint64_t type = r.le(1);
    if (!valid_type(type)) return std::nullopt;
    ch.type = static_cast<ConfChangeType>(type);
    ch.node = NodeId(r.le(8));
    ch.info.incarnation = r.le(8);
    ch.info.peer_addr = r.str();
    ch.info.client_addr = r.str();
    if (ch.node.is_none()) return std::nullopt;
    cc.changes.push_back(std::move(ch));
  }
  if (!r.ok || !r.in.empty()) return std::nullopt;
  return cc;
}

Result<ConfState> apply_conf_change_to(const ConfState& conf_in, const ConfChange& cc) {
  ConfState conf = conf_in;
  normalize_conf_state(conf);
  if (Status s = validate_conf_state(conf); !s) {
    return invalid(fmt::format("the current membership is malformed: {}", s.message()));
  }
  ConfState next = conf;
  if (conf.voters.empty() && conf.learners.empty() && !conf.joint()) {
    // The initial configuration: nothing to overlap with.
    if (cc.changes.empty()) return invalid("not in a joint configuration; nothing to leave");
    for (const ConfChangeSingle& ch : cc.changes) {
      if (ch.type == ConfChangeType::kRemoveNode) {
        return invalid(fmt::format("node {} is not a member", ch.node));
      }
    }
    if (Status s = apply_changes(next, cc.changes); !s) return s;
    return next;
  }

  if (cc.is_leave_joint()) {
    if (!conf.joint()) return invalid("not in a joint configuration; nothing to leave");
    for (NodeId id : next.learners_next) insert(next.learners, id);
    next.learners_next.clear();
    for (NodeId id : next.voters_outgoing) {
      if (!contains(next.voters, id) && !contains(next.learners, id)) next.members.erase(id);
    }
    next.voters_outgoing.clear();
    next.auto_leave = false;
  } else {
    const bool enter_joint = cc.transition != ConfChangeTransition::kAuto || cc.changes.size() > 1;
    if (conf.joint()) {
      return invalid(
          "a joint configuration is in effect; leave it before the next membership change");
    }
    if (enter_joint) {
      next.voters_outgoing = conf.voters;
      next.auto_leave = cc.transition != ConfChangeTransition::kJointExplicit;
    }
    if (Status s = apply_changes(next, cc.changes); !s) return s;
    if (!enter_joint && symmetric_difference(conf.voters, next.voters) > 1) {
      return invalid(
          "more than one voter changed without entering a joint configuration (use a joint "
          "change)");
    }
  }
  // A bound member is never unbound (0 would count any incarnation's votes and acks again).
  for (const auto& [id, info] : next.members) {
    const uint64_t before = recorded_incarnation(conf, id);
    if (before != 0 && info.incarnation == 0) {
      return invalid(
          fmt::format("node {} is bound to incarnation {:x}; a change may not unbind it (name the "
                      "incarnation, or leave the record out to keep it)",
                      id, before));
    }
  }
  // A voter that stays a voter keeps its identity: re-binding it to a new incarnation would
  // count the new one's vote next to the old one's (lost) promises. Binding an unbound voter
  // (0 -> X) is allowed: it only narrows which messages count, so every quorum that forms
  // afterwards would also have formed before.
  for (NodeId id : all_voters(next)) {
    if (!is_voter_of(conf, id)) continue;
    const uint64_t before = recorded_incarnation(conf, id);
    const uint64_t after = recorded_incarnation(next, id);
    if (before != after && before != 0) {
      return invalid(fmt::format(
          "node {} stays a voter but its incarnation would change from {:x} to {:x}; make it a "
          "learner of the new incarnation first",
          id, before, after));
    }
  }
  if (Status s = validate_conf_state(next); !s) return s;
  return next;
}

Status validate_conf_state(const ConfState& c) {
  auto check_list = [](const std::vector<NodeId>& ids, const char* name) -> Status {
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i].is_none()) return invalid(fmt::format("{} contain node 0", name));
      if (i > 0 && ids[i - 1] >= ids[i]) {
        return invalid(fmt::format("{} are not sorted and unique", name));
      }
    }
    return Status::ok();
  };
  for (auto [list, name] :
       {std::pair{&c.voters, "voters"}, std::pair{&c.voters_outgoing, "outgoing voters"},
        std::pair{&c.learners, "learners"}, std::pair{&c.learners_next, "next learners"}}) {
    if (Status s = check_list(*list, name); !s) return s;
  }
  for (NodeId id : c.learners) {
    if (contains(c.voters, id) || contains(c.voters_outgoing, id)) {
      return invalid(fmt::format("node {} is both a voter and a learner", id));
    }
  }
  for (NodeId id : c.learners_next) {
    if (!contains(c.voters_outgoing, id)) {
      return invalid(fmt::format("next learner {} is not an outgoing voter", id));
    }
    if (contains(c.voters, id)) {
      return invalid(fmt::format("next learner {} is an incoming voter", id));
    }
  }
  if (!c.joint() && (!c.learners_next.empty() || c.auto_leave)) {
    return invalid("next learners or auto-leave without a joint configuration");
  }
  for (const auto& [id, info] : c.members) {
    if (!contains(c.voters, id) && !contains(c.voters_outgoing, id) && !contains(c.learners, id)) {
      return invalid(fmt::format("member record for node {}, which is not a member", id));
    }
  }
  return Status::ok();
}

void normalize_conf_state(ConfState& c) {
  for (auto* list : {&c.voters, &c.voters_outgoing, &c.learners, &c.learners_next}) {
    sort_unique(*list);
  }
}

MemberInfo member_info(const ConfState& conf, NodeId id) {
  auto it = conf.members.find(id);
  return it == conf.members.end() ? MemberInfo{} : it->second;
}

bool is_incoming_voter(const ConfState& conf, NodeId id) {
  return contains(conf.voters, id);
}
bool is_outgoing_voter(const ConfState& conf, NodeId id) {
  return contains(conf.voters_outgoing, id);
}
bool is_learner_of(const ConfState& conf, NodeId id) {
  return contains(conf.learners, id);
}

uint64_t recorded_incarnation(const ConfState& conf, NodeId id) {
  auto it = conf.members.find(id);
  return it == conf.members.end() ? 0 : it->second.incarnation;
}

bool incarnation_counts(const ConfState& conf, NodeId id, uint64_t incarnation) {
  const uint64_t recorded = recorded_incarnation(conf, id);
  return recorded == 0 || recorded == incarnation;
}

std::vector<NodeId> all_voters(const ConfState& conf) {
  std::vector<NodeId> out = conf.voters;
  out.insert(out.end(), conf.voters_outgoing.begin(), conf.voters_outgoing.end());
  sort_unique(out);
  return out;
}

std::string describe_conf(const ConfState& c) {
  std::string out = "voters " + ids_text(c.voters);
  if (c.joint()) out += " outgoing " + ids_text(c.voters_outgoing);
  if (!c.learners.empty()) out += " learners " + ids_text(c.learners);
  if (!c.learners_next.empty()) out += " next " + ids_text(c.learners_next);
  if (c.auto_leave) out += " auto-leave";
  return out;
}

std::string describe_change(const ConfChange& cc) {
  if (cc.is_leave_joint()) return "leave joint";
  std::string out;
  switch (cc.transition) {
    case ConfChangeTransition::kAuto:
      break;
    case ConfChangeTransition::kJointImplicit:
      out = "joint-implicit: ";
      break;
    case ConfChangeTransition::kJointExplicit:
      out = "joint-explicit: ";
      break;
  }
  for (size_t i = 0; i < cc.changes.size(); ++i) {
    const ConfChangeSingle& ch = cc.changes[i];
    out += fmt::format("{}{} {}", i ? ", " : "", type_name(ch.type), ch.node);
    if (ch.type != ConfChangeType::kRemoveNode && ch.info.incarnation != 0) {
      out += fmt::format(" (inc {:x})", ch.info.incarnation);
    }
  }
  return out;
}

}  // namespace raftkv::raft
