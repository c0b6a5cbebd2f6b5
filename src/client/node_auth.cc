#include "client/node_auth.h"

#include <fmt/format.h>

#include "base/hmac.h"

namespace raftkv::client {

Status prove_node(Connection& conn, const NodeCredentials& credentials, Deadline deadline) {
  const std::string secret = credentials.secret ? credentials.secret() : std::string();
  if (secret.empty()) return Status::ok();
  auto challenge = conn.call({"RAFTKV.NODEAUTH", "CHALLENGE"}, deadline);
  if (!challenge) return challenge.status();
  const std::optional<std::string> nonce =
      challenge->type == resp::Reply::Type::kBulk ? from_hex(challenge->text) : std::nullopt;
  if (!nonce) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("RAFTKV.NODEAUTH CHALLENGE: {}", challenge->text));
  }
  const std::string proof =
      node_auth_proof(secret, credentials.cluster_id, credentials.self.value(), *nonce);
  auto proved = conn.call(
      {"RAFTKV.NODEAUTH", "PROVE", std::to_string(credentials.self.value()), to_hex(proof)},
      deadline);
  if (!proved) return proved.status();
  if (proved->type == resp::Reply::Type::kError) {
    return Status(ErrorCode::kInvalidArgument,
                  fmt::format("RAFTKV.NODEAUTH PROVE: {}", proved->text));
  }
  return Status::ok();
}

}  // namespace raftkv::client
