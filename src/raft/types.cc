#include "raft/types.h"

#include <algorithm>

namespace raftkv::raft {

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
