#include "raft/types.h"

#include <algorithm>

namespace raftkv::raft {

std::string ConfChange::encode() const {
  std::string out(9, '\0');
  out[0] = static_cast<char>(type);
  uint64_t v = node.value();
  for (int i = 0; i < 8; ++i) out[1 + i] = static_cast<char>((v >> (8 * i)) & 0xff);
  return out;
}

std::optional<ConfChange> ConfChange::decode(std::string_view data) {
  if (data.size() != 9) return std::nullopt;
  auto t = static_cast<uint8_t>(data[0]);
  if (t > static_cast<uint8_t>(ConfChangeType::kRemoveNode)) return std::nullopt;
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(data[1 + i])) << (8 * i);
  if (v == 0) return std::nullopt;
  return ConfChange{static_cast<ConfChangeType>(t), NodeId(v)};
}

ConfState apply_conf_change_to(ConfState conf, const ConfChange& cc) {
  auto erase = [](std::vector<NodeId>& v, NodeId id) { std::erase(v, id); };
  auto insert = [](std::vector<NodeId>& v, NodeId id) {
    auto it = std::lower_bound(v.begin(), v.end(), id);
    if (it == v.end() || *it != id) v.insert(it, id);
  };
  switch (cc.type) {
    case ConfChangeType::kAddVoter:
      erase(conf.learners, cc.node);
      insert(conf.voters, cc.node);
      break;
    case ConfChangeType::kAddLearner:
      erase(conf.voters, cc.node);
      insert(conf.learners, cc.node);
      break;
    case ConfChangeType::kRemoveNode:
      erase(conf.voters, cc.node);
      erase(conf.learners, cc.node);
      break;
  }
  return conf;
}

const char* message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return "Hup";
    case MessageType::kBeat:
      return "Beat";
    case MessageType::kPropose:
      return "Propose";
    case MessageType::kReadIndex:
      return "ReadIndex";
    case MessageType::kUnreachable:
      return "Unreachable";
    case MessageType::kSnapshotStatus:
      return "SnapshotStatus";
    case MessageType::kTransferLeader:
      return "TransferLeader";
    case MessageType::kStorageAppendDone:
      return "StorageAppendDone";
    case MessageType::kCheckQuorum:
      return "CheckQuorum";
    case MessageType::kApp:
      return "App";
    case MessageType::kAppResp:
      return "AppResp";
    case MessageType::kVote:
      return "Vote";
    case MessageType::kVoteResp:
      return "VoteResp";
    case MessageType::kPreVote:
      return "PreVote";
    case MessageType::kPreVoteResp:
      return "PreVoteResp";
    case MessageType::kHeartbeat:
      return "Heartbeat";
    case MessageType::kHeartbeatResp:
      return "HeartbeatResp";
    case MessageType::kSnap:
      return "Snap";
    case MessageType::kTimeoutNow:
      return "TimeoutNow";
    case MessageType::kReadIndexResp:
      return "ReadIndexResp";
    case MessageType::kSnapChunk:
      return "SnapChunk";
    case MessageType::kSnapChunkResp:
      return "SnapChunkResp";
  }
  return "?";
}

bool is_local_message(MessageType t) {
  switch (t) {
    case MessageType::kHup:
    case MessageType::kBeat:
    case MessageType::kUnreachable:
    case MessageType::kSnapshotStatus:
    case MessageType::kStorageAppendDone:
    case MessageType::kCheckQuorum:
      return true;
    default:
      return false;
  }
}

bool is_snapshot_transfer_message(MessageType t) {
  return t == MessageType::kSnapChunk || t == MessageType::kSnapChunkResp;
}

bool is_response_message(MessageType t) {
  switch (t) {
    case MessageType::kAppResp:
    case MessageType::kVoteResp:
    case MessageType::kPreVoteResp:
    case MessageType::kHeartbeatResp:
    case MessageType::kReadIndexResp:
      return true;
    default:
      return false;
  }
}

const char* role_name(Role r) {
  switch (r) {
    case Role::kFollower:
      return "follower";
    case Role::kPreCandidate:
      return "pre-candidate";
    case Role::kCandidate:
      return "candidate";
    case Role::kLeader:
      return "leader";
  }
  return "?";
}

}  // namespace raftkv::raft
