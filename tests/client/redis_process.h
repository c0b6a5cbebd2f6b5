// A redis-server child process on a free loopback port, for tests that need a real RESP peer.
// Stopped (SIGTERM, then reaped) by the destructor; its files live in a temporary directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace raftkv::client::testing {

// The redis-server binary, or "" when not installed (tests then GTEST_SKIP).
std::string find_redis_server();

class RedisProcess {
 public:
  RedisProcess() = default;
  ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // Spawns redis-server; returns false if it could not be spawned. It may not be listening
  // yet: clients wait for it with their own connect retries.
  bool start(const std::string& binary);
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::filesystem::path dir_;
};

}  // namespace raftkv::client::testing
