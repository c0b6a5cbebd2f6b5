// RAFTKV.NODEAUTH: a node proves on another node's client port that it belongs to the cluster,
// so that what nodes ask each other there works when clients must authenticate: a follower
// relaying RAFTKV.MEMBER / RAFTKV.TRANSFER to the leader (server/forwarder.h), a node joining
// with --join or restarted without a log reading RAFTKV.MEMBER LIST (server/joiner.h).
//
//   RAFTKV.NODEAUTH CHALLENGE              → a fresh 32-byte nonce, in hex (replaces any earlier)
//   RAFTKV.NODEAUTH PROVE <node-id> <hex>  → +OK if hex is node_auth_proof(secret, cluster id,
//                                            node id, nonce) for one of the cluster secrets
//
// The nonce is used once (a proof is never accepted twice, nor on another connection) and a
// failed proof is counted and logged like a failed AUTH. Without a cluster secret the command is
// refused: then a relay reaches the leader unauthenticated, which works when clients need no
// password. The connection is then the node's: it runs only RAFTKV.MEMBER, RAFTKV.TRANSFER and
// PING (auth.cc), whatever the ACL says: a node that knows the cluster secret could forge Raft
// messages anyway, so this trusts it with nothing more.
#include <fmt/format.h>

#include "base/hmac.h"
#include "frontend/auth.h"
#include "frontend/command_handlers.h"
#include "resp/reply.h"
#include "resp/request_parser.h"

namespace raftkv::frontend::handlers {

void raftkv_nodeauth(CommandCall& call) {
  std::string sub = call.args[1];
  for (char& c : sub) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  AuthState& auth = call.conn.auth;
  const DispatcherOptions& options = call.dispatcher.options();
  const std::vector<std::string> secrets =
      options.cluster_secrets ? options.cluster_secrets() : std::vector<std::string>{};
  if (secrets.empty()) {
    call.reply_error("ERR this node has no cluster secret (--cluster-secret-file)");
    return;
  }
  if (sub == "challenge" && call.args.size() == 2) {
    auth.node_nonce = random_bytes(32);
    std::string out;
    resp::append_bulk(out, to_hex(auth.node_nonce));
    call.reply(std::move(out));
    return;
  }
  if (sub == "prove" && call.args.size() == 4) {
    int64_t id = 0;
    const std::optional<std::string> proof = from_hex(call.args[3]);
    const std::string nonce = std::move(auth.node_nonce);
    auth.node_nonce.clear();  // one proof per challenge
    bool ok = false;
    if (resp::parse_int64_strict(call.args[2], id) && id > 0 && proof && !nonce.empty()) {
      for (const std::string& secret : secrets) {
        ok |= constant_time_equal(
            *proof, node_auth_proof(secret, options.cluster_id, static_cast<uint64_t>(id), nonce));
      }
    }
    if (ok) {
      auth.node = NodeId(static_cast<uint64_t>(id));
      call.reply_ok();
      return;
    }
    call.dispatcher.stats().auth_failures.fetch_add(1, std::memory_order_relaxed);
    std::string info = client_info_line(call.conn);
    if (!info.empty() && info.back() == '\n') info.pop_back();
    call.dispatcher.security().log().add(AclLog::Reason::kAuth, call.args[0],
                                         fmt::format("node {}", call.args[2].substr(0, 20)),
                                         std::move(info));
    call.reply_error(nonce.empty() ? "ERR RAFTKV.NODEAUTH PROVE needs a CHALLENGE first"
                                   : "WRONGPASS invalid node proof");
    return;
  }
  call.reply_error(fmt::format(
      "ERR unknown subcommand or wrong number of arguments for '{}'. Try CHALLENGE or PROVE.",
      call.args[1].substr(0, 128)));
}

}  // namespace raftkv::frontend::handlers
