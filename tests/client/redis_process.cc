#include "redis_process.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "fake_resp_server.h"

extern char** environ;

namespace raftkv::client::testing {

std::string find_redis_server() {
  for (const char* dir : {"/usr/bin", "/usr/local/bin", "/usr/sbin"}) {
    const std::string path = std::string(dir) + "/redis-server";
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

bool RedisProcess::start(const std::string& binary) {
  port_ = unused_loopback_port();
  dir_ = std::filesystem::temp_directory_path() /
         ("raftkv-client-redis-" + std::to_string(::getpid()) + "-" + std::to_string(port_));
  std::filesystem::create_directories(dir_);
  std::vector<std::string> args{binary,
                                "--port",
                                std::to_string(port_),
                                "--bind",
                                "127.0.0.1",
                                "--save",
                                "",
                                "--appendonly",
                                "no",
                                "--dir",
                                dir_.string(),
                                "--logfile",
                                (dir_ / "redis.log").string()};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ::posix_spawn(&pid_, binary.c_str(), nullptr, nullptr, argv.data(), environ) == 0;
}

RedisProcess::~RedisProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  if (!dir_.empty()) std::filesystem::remove_all(dir_);
}

}  // namespace raftkv::client::testing
