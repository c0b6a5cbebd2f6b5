#include "raft/config.h"

#include <algorithm>

#include <fmt/format.h>

namespace raftkv::raft {

Status Config::validate() const {
  auto bad = [](std::string msg) { return Status(ErrorCode::kInvalidArgument, std::move(msg)); };
  if (id.is_none()) return bad("node id must be non-zero");
  if (heartbeat_ticks == 0) return bad("heartbeat_ticks must be > 0");
  if (election_ticks <= heartbeat_ticks) {
    return bad(fmt::format("election_ticks ({}) must be greater than heartbeat_ticks ({})",
                           election_ticks, heartbeat_ticks));
  }
  if (max_inflight_msgs == 0) return bad("max_inflight_msgs must be > 0");
  if (max_msg_bytes == 0) return bad("max_msg_bytes must be > 0");
  if (std::any_of(voters.begin(), voters.end(), [](NodeId n) { return n.is_none(); })) {
    return bad("voter ids must be non-zero");
  }
  if (read_mode == ReadMode::kLease) {
    if (!check_quorum) return bad("read_mode lease requires check_quorum");
    if (lease_margin_ticks >= election_ticks) {
      return bad(fmt::format("lease_margin_ticks ({}) must be less than election_ticks ({})",
                             lease_margin_ticks, election_ticks));
    }
  }
  return Status::ok();
}

}  // namespace raftkv::raft
