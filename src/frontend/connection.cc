#include <fmt/format.h>

#include "frontend/server_internal.h"
#include "resp/reply.h"

namespace raftkv::frontend {
namespace {

std::string endpoint_text(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// Logs a coroutine that ended with an exception (none is expected: I/O errors are values).
auto log_exception(std::shared_ptr<RespServer::State> server) {
  return [server = std::move(server)](const std::exception_ptr& error) {
    if (!error) return;
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      server->log.error("connection coroutine failed: {}", e.what());
    }
  };
}

}  // namespace

Connection::Connection(std::shared_ptr<RespServer::State> server, Strand strand)
    : server_(std::move(server)),
      strand_(std::move(strand)),
      socket_(strand_),
      writer_wake_(strand_, asio::steady_timer::time_point::max()),
      reader_wake_(strand_, asio::steady_timer::time_point::max()),
      parser_(server_->options.request_limits) {}

void Connection::start(uint64_t id) {
  state_.id = id;
  std::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (const auto remote = socket_.remote_endpoint(ec); !ec)
    state_.remote_addr = endpoint_text(remote);
  if (const auto local = socket_.local_endpoint(ec); !ec) state_.local_addr = endpoint_text(local);
  server_->log.debug("client {} connected from {}", id, state_.remote_addr);
  live_coroutines_ = 2;
  server_->coroutine_started();
  server_->coroutine_started();
  asio::co_spawn(strand_, read_loop(shared_from_this()), log_exception(server_));
  asio::co_spawn(strand_, write_loop(shared_from_this()), log_exception(server_));
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  writer_wake_.cancel();
  reader_wake_.cancel();
  pending_.clear();
}

void Connection::coroutine_done() {
  if (--live_coroutines_ == 0) {
    server_->log.debug("client {} closed", state_.id);
    server_->unregister_connection(state_.id);
  }
  server_->coroutine_finished();
}

uint64_t Connection::push_slot() {
  pending_.emplace_back();
  return first_sequence_ + pending_.size() - 1;
}

void Connection::complete(uint64_t sequence, std::string reply) {
  if (closing_) return;  // the connection is gone; its pending replies were dropped
  RAFTKV_ASSERT(sequence >= first_sequence_ && sequence - first_sequence_ < pending_.size(),
                "reply for request {} outside the pending window [{}, +{})", sequence,
                first_sequence_, pending_.size());
  PendingReply& slot = pending_[sequence - first_sequence_];
  RAFTKV_ASSERT(!slot.ready, "request {} completed twice", sequence);
  slot.ready = true;
  slot.bytes = std::move(reply);
  if (sequence == first_sequence_) writer_wake_.cancel();
}

void Connection::dispatch(resp::Command command) {
  const uint64_t sequence = push_slot();
  // The completion may run here (local commands) or on a backend thread: post it back.
  auto done = [self = shared_from_this(), sequence](std::string reply) {
    if (self->strand_.running_in_this_thread()) {
      self->complete(sequence, std::move(reply));
      return;
    }
    asio::post(self->strand_, [self, sequence, reply = std::move(reply)]() mutable {
      self->complete(sequence, std::move(reply));
    });
  };
  server_->dispatcher.dispatch(std::move(command), state_, std::move(done));
  if (state_.close_after_reply) close_after_sequence_ = sequence;
}

bool Connection::dispatch_buffered() {
  resp::Command command;
  while (!closing_ && pending_.size() < server_->options.max_pending_replies) {
    switch (parser_.next(command)) {
      case resp::ParseOutcome::kNeedMore:
        return true;
      case resp::ParseOutcome::kCommand:
        dispatch(std::move(command));
        command = {};
        if (close_after_sequence_) return false;  // QUIT: read nothing after it
        break;
      case resp::ParseOutcome::kError: {
        server_->log.debug("client {} {}: {}", state_.id, state_.remote_addr, parser_.error());
        std::string reply;
        resp::append_error(reply, "ERR " + parser_.error());
        const uint64_t sequence = push_slot();
        close_after_sequence_ = sequence;
        complete(sequence, std::move(reply));
        return false;
      }
    }
  }
  return true;
}

asio::awaitable<void> Connection::read_loop(std::shared_ptr<Connection> self) {
  std::vector<char> buffer(self->server_->options.read_chunk_bytes);
  std::error_code ec;
  while (!self->closing_) {
    if (!self->dispatch_buffered()) break;
    if (self->closing_) break;
    if (self->pending_.size() >= self->server_->options.max_pending_replies) {
      // Backpressure: wait until the writer frees a slot, then dispatch what is buffered.
      co_await self->reader_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    const size_t n = co_await self->socket_.async_read_some(
        asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      self->close();  // EOF, reset, or closed by stop()
      break;
    }
    self->parser_.feed(std::string_view(buffer.data(), n));
  }
  self->coroutine_done();
}

asio::awaitable<void> Connection::write_loop(std::shared_ptr<Connection> self) {
  std::string out;
  std::error_code ec;
  const size_t max_batch = self->server_->options.max_write_batch_bytes;
  while (!self->closing_) {
    if (self->pending_.empty() || !self->pending_.front().ready) {
      co_await self->writer_wake_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    // Take the completed prefix (in request order) into one write.
    out.clear();
    bool close_after_write = false;
    while (!self->pending_.empty() && self->pending_.front().ready && out.size() < max_batch) {
      out += self->pending_.front().bytes;
      self->pending_.pop_front();
      const uint64_t written = self->first_sequence_++;
      if (self->close_after_sequence_ == written) {
        close_after_write = true;
        break;
      }
    }
    self->reader_wake_.cancel();  // slots were freed
    co_await asio::async_write(self->socket_, asio::buffer(out),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec || close_after_write) {
      self->close();
      break;
    }
  }
  self->coroutine_done();
}

}  // namespace raftkv::frontend
