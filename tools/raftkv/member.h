// `raftkv member add|remove|promote|replace|list` and `raftkv transfer`: the operator's
// membership commands (docs/membership.md), sent as RAFTKV.MEMBER / RAFTKV.TRANSFER to any node
// (a follower forwards them to the leader; a MOVED reply is followed by the client).
//
// A membership change can take long (REPLACE waits for the new node's catch-up), so the call
// uses one deadline for the whole exchange: the client's per-request I/O timeout is the call's
// timeout, and a request that timed out is not resent on its own (a resent ADD after a commit
// would be answered "already a member"). The reply is printed: "OK", or the error and exit 1.
//
// Thread-safety: none needed; used by the CLI's main thread.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "base/status.h"
#include "client/address.h"
#include "resp/reply.h"

namespace raftkv::cli {

struct AdminOptions {
  std::vector<client::HostPort> addrs;
  std::chrono::milliseconds timeout{30000};
};

// The RAFTKV.MEMBER LIST reply as a table (a header line, then one line per member):
//   id  role     state         peer              client
// kInvalidArgument when the reply is not an array of [integer, bulk, bulk, bulk, bulk].
Result<std::string> format_member_table(const resp::Reply& reply);

// Sends `args` (a RAFTKV.MEMBER or RAFTKV.TRANSFER command) and prints the outcome: the member
// table for LIST, "OK" for +OK, "(error) <text>" on stderr for an error reply. Returns the exit
// code: 0 ok, 1 an error reply or no answer in time.
int run_admin_command(const AdminOptions& options, std::vector<std::string> args);

}  // namespace raftkv::cli
