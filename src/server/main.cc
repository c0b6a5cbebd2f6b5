// raftkv-server: one node of a raftkv cluster.
//
//   raftkv-server --id 1 --client-addr 127.0.0.1:7001 --peer-addr 127.0.0.1:7101
//     --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103
//     --clients 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003 --data-dir data/node-1
//
// SIGTERM/SIGINT: stop taking clients, hand leadership to a caught-up follower, flush, exit 0.
// SIGHUP: reload the TLS certificates from their files (as RAFTKV.TLS RELOAD); a failed reload
// is logged and the old certificate stays.
// The wiring and its threads are server/server.h; this file adds config and signals.
#include <csignal>
#include <cstdio>

#include <fmt/format.h>

#include "base/log.h"
#include "server/config.h"
#include "server/server.h"

namespace raftkv::server {
namespace {

int run(const ServerConfig& cfg) {
  LogLevel level = LogLevel::kInfo;
  parse_log_level(cfg.log_level, &level);
  set_log_level(level);
  Logger log("server");
  log.set_node(cfg.id);

  // Blocked before any thread starts, so that every thread inherits the mask and only the
  // sigwait below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = Server::start(cfg);
  if (!server.is_ok()) {
    std::fprintf(stderr, "raftkv-server: %s\n", server.status().message().c_str());
    return 1;
  }
  log.info("ready: clients on {}{}, peers on {}{}",
           cfg.plaintext_port == 0 ? "(plaintext off)" : cfg.client_addr,
           cfg.tls_port == 0 ? "" : fmt::format(" and TLS {}", cfg.tls_addr()), cfg.peer_addr,
           cfg.admin_addr.empty() ? "" : fmt::format(", admin on {}", cfg.admin_addr));

  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (!(*server)->has_tls()) {
      log.info("SIGHUP: no TLS listener or admin HTTPS configured; nothing to reload");
      continue;
    }
    if (Status s = (*server)->reload_tls(); !s) {
      log.error("SIGHUP: TLS reload failed: {}", s.message());
    } else {
      log.info("SIGHUP: TLS certificates reloaded");
    }
  }
  log.info("signal {}: shutting down", sig);
  (*server)->stop(std::chrono::milliseconds(3000));
  log.info("stopped");
  return 0;
}

}  // namespace
}  // namespace raftkv::server

int main(int argc, char** argv) {
  auto cfg = raftkv::server::parse_server_config(argc, argv);
  if (!cfg.is_ok()) {
    if (cfg.code() == raftkv::ErrorCode::kShutdown) {  // --help
      std::fputs(cfg.status().message().c_str(), stdout);
      return 0;
    }
    std::fprintf(stderr, "raftkv-server: %s\n", cfg.status().message().c_str());
    return 2;
  }
  return raftkv::server::run(*cfg);
}
