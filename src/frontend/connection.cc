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

}  // namespace

Connection::Connection(std::shared_ptr<RespServer::State> server, Strand strand)
    : server_(std::move(server)),
      strand_(std::move(strand)),
      socket_(strand_),
      parser_(server_->options.request_limits),
      read_buffer_(server_->options.read_chunk_bytes) {}

void Connection::start(uint64_t id) {
  state_.id = id;
  started_ = true;
  server_->task_started();
  if (closing_) {  // RespServer::stop() ran first
    maybe_finish();
    return;
  }
  std::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  // Reads and the first attempt of every write never block the strand.
  socket_.non_blocking(true, ec);
  if (const auto remote = socket_.remote_endpoint(ec); !ec)
    state_.remote_addr = endpoint_text(remote);
  if (const auto local = socket_.local_endpoint(ec); !ec) state_.local_addr = endpoint_text(local);
  server_->log.debug("client {} connected from {}", id, state_.remote_addr);
  read_more();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);  // outstanding operations complete with operation_aborted
  pending_.clear();
  maybe_finish();
}

void Connection::maybe_finish() {
  if (!closing_ || !started_ || operations_ > 0 || finished_) return;
  finished_ = true;
  server_->log.debug("client {} closed", state_.id);
  server_->unregister_connection(state_.id);
  server_->task_finished();
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
  if (sequence == first_sequence_) schedule_write();
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

void Connection::read_more() {
  if (closing_ || !dispatch_buffered() || closing_) return;
  if (pending_.size() >= server_->options.max_pending_replies) {
    read_paused_ = true;  // backpressure: after_write() resumes once slots are free
    return;
  }
  ++operations_;
  socket_.async_wait(asio::socket_base::wait_read,
                     [self = shared_from_this()](const std::error_code& ec) {
                       --self->operations_;
                       self->on_readable(ec);
                     });
}

void Connection::on_readable(const std::error_code& wait_error) {
  if (closing_) {
    maybe_finish();
    return;
  }
  if (wait_error) {
    close();
    return;
  }
  for (;;) {
    std::error_code ec;
    const size_t n = socket_.read_some(asio::buffer(read_buffer_), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;  // spurious
    if (ec) {
      close();  // EOF or reset
      return;
    }
    parser_.feed(std::string_view(read_buffer_.data(), n));
    if (n < read_buffer_.size()) break;  // the socket is drained: no recv to find it empty
  }
  read_more();
}

void Connection::schedule_write() {
  if (write_scheduled_ || writing_ || closing_) return;
  write_scheduled_ = true;
  asio::post(strand_, [self = shared_from_this()] {
    self->write_scheduled_ = false;
    self->write_ready();
  });
}

void Connection::write_ready() {
  if (closing_ || writing_) return;
  // Take the completed prefix (in request order) into one write.
  out_.clear();
  bool close_after_write = false;
  const size_t max_batch = server_->options.max_write_batch_bytes;
  while (!pending_.empty() && pending_.front().ready && out_.size() < max_batch) {
    out_ += pending_.front().bytes;
    pending_.pop_front();
    const uint64_t written = first_sequence_++;
    if (close_after_sequence_ == written) {
      close_after_write = true;
      break;
    }
  }
  if (out_.empty()) return;
  std::error_code ec;
  const size_t n = socket_.write_some(asio::buffer(out_), ec);  // non-blocking
  if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
    close();
    return;
  }
  if (!ec && n == out_.size()) {
    after_write(close_after_write);
    return;
  }
  // The socket buffer is full: the rest goes out when the client reads.
  const size_t sent = ec ? 0 : n;
  writing_ = true;
  ++operations_;
  asio::async_write(
      socket_, asio::buffer(out_.data() + sent, out_.size() - sent),
      [self = shared_from_this(), close_after_write](const std::error_code& error, size_t) {
        --self->operations_;
        self->writing_ = false;
        if (self->closing_) {
          self->maybe_finish();
        } else if (error) {
          self->close();
        } else {
          self->after_write(close_after_write);
        }
      });
}

void Connection::after_write(bool close_after_write) {
  if (close_after_write) {
    close();
    return;
  }
  if (read_paused_) {  // slots were freed
    read_paused_ = false;
    read_more();
  }
  if (!pending_.empty() && pending_.front().ready) schedule_write();
}

}  // namespace raftkv::frontend
