#include "fake_resp_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <map>
#include <memory>

#include "base/assert.h"
#include "resp/request_parser.h"

namespace raftkv::client::testing {
namespace {

int bind_loopback(uint16_t* port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  RAFTKV_ASSERT(fd >= 0, "socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  RAFTKV_ASSERT(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0, "bind");
  socklen_t len = sizeof(addr);
  RAFTKV_ASSERT(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0, "getsockname");
  *port = ntohs(addr.sin_port);
  return fd;
}

}  // namespace

uint16_t unused_loopback_port() {
  uint16_t port = 0;
  ::close(bind_loopback(&port));
  return port;
}

FakeRespServer::FakeRespServer(Script script) : script_(std::move(script)) {
  listen_fd_ = bind_loopback(&port_);
  RAFTKV_ASSERT(::listen(listen_fd_, 16) == 0, "listen");
  RAFTKV_ASSERT(::pipe(wake_pipe_) == 0, "pipe");
  thread_ = std::thread([this] { run(); });
}

FakeRespServer::~FakeRespServer() {
  const char stop = 'x';
  RAFTKV_ASSERT(::write(wake_pipe_[1], &stop, 1) == 1, "wake write");
  thread_.join();
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
  ::close(listen_fd_);
}

std::vector<std::vector<std::string>> FakeRespServer::received() const {
  std::lock_guard lock(mutex_);
  return received_;
}

size_t FakeRespServer::connections_accepted() const {
  std::lock_guard lock(mutex_);
  return connections_accepted_;
}

void FakeRespServer::run() {
  std::map<int, std::unique_ptr<resp::RequestParser>> connections;
  while (true) {
    std::vector<pollfd> fds{{wake_pipe_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
    for (const auto& [fd, parser] : connections) fds.push_back({fd, POLLIN, 0});
    if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
    if (fds[0].revents != 0) break;
    if (fds[1].revents != 0) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) {
        connections.emplace(fd, std::make_unique<resp::RequestParser>());
        std::lock_guard lock(mutex_);
        ++connections_accepted_;
      }
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      const int fd = fds[i].fd;
      auto& parser = *connections.at(fd);
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      bool close_it = n <= 0;
      if (n > 0) parser.feed(std::string_view(buffer, static_cast<size_t>(n)));
      std::string out;
      resp::Command command;
      while (!close_it && parser.next(command) == resp::ParseOutcome::kCommand) {
        ScriptedAnswer answer;
        {
          std::lock_guard lock(mutex_);
          received_.push_back(command);
          answer = script_(command, received_.size() - 1);
        }
        if (answer.kind == ScriptedAnswer::Kind::kClose) close_it = true;
        if (answer.kind == ScriptedAnswer::Kind::kReply) resp::append_reply(out, answer.reply);
      }
      // Small replies on a blocking socket: send() completes without waiting on the client.
      if (!out.empty()) (void)::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      if (close_it || parser.failed()) {
        ::close(fd);
        connections.erase(fd);
      }
    }
  }
  for (const auto& [fd, parser] : connections) ::close(fd);
}

}  // namespace raftkv::client::testing
