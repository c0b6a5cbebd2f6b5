// RAFTKV.TLS RELOAD | STATUS | HELP: the client TLS certificate without a restart.
//
//   RAFTKV.TLS RELOAD  reads tls-cert-file / tls-key-file / tls-ca-cert-file again (and the admin
//                      endpoint's, when it has TLS): +OK, or an error naming the file; on error
//                      the certificate in use stays. Connections accepted afterwards use the new
//                      certificate, open ones keep theirs. The same as SIGHUP.
//   RAFTKV.TLS STATUS  a bulk string of "field:value" lines (INFO style): the certificate in use
//                      (subject, serial, expiry), tls-auth-clients, reloads so far.
// @admin @slow @dangerous (acl_catalog.cc).
#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "resp/reply.h"

namespace raftkv::frontend::handlers {

void raftkv_tls(CommandCall& call) {
  const DispatcherOptions& options = call.dispatcher.options();
  const std::string sub = lowercase(call.args[1]);
  if (sub == "help" && call.args.size() == 2) {
    std::string out;
    resp::append_array_header(out, 3);
    resp::append_simple_string(out,
                               "RAFTKV.TLS RELOAD -- reload the TLS certificate files (as SIGHUP)");
    resp::append_simple_string(out, "RAFTKV.TLS STATUS -- the certificates in use");
    resp::append_simple_string(out, "RAFTKV.TLS HELP");
    call.reply(std::move(out));
    return;
  }
  if ((sub != "reload" && sub != "status") || call.args.size() != 2) {
    call.reply_error(unknown_subcommand_error("RAFTKV.TLS", call.args[1]));
    return;
  }
  if (!options.tls_reload || !options.tls_status) {
    call.reply_error("ERR TLS is not enabled on this node (no --tls-port / --admin-tls-cert-file)");
    return;
  }
  if (sub == "status") {
    std::string out;
    resp::append_bulk(out, options.tls_status());
    call.reply(std::move(out));
    return;
  }
  if (Status s = options.tls_reload(); !s) {
    call.reply_error(fmt::format("ERR TLS reload failed, the previous certificate stays in use: {}",
                                 s.message()));
    return;
  }
  call.reply_ok();
}

}  // namespace raftkv::frontend::handlers
