#include <algorithm>

#include <fmt/format.h>

#include "frontend/command_handlers.h"
#include "frontend/server_internal.h"
#include "resp/reply.h"
#include "tls/certificate.h"

namespace raftkv::frontend {
namespace {

std::string endpoint_text(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return address.is_v6() ? fmt::format("[{}]:{}", address.to_string(), endpoint.port())
                         : fmt::format("{}:{}", address.to_string(), endpoint.port());
}

// The first byte of a TLS record carrying a handshake message (a ClientHello). No RESP request
// starts with it (multibulk '*' or an inline command's text).
constexpr char kTlsHandshakeRecord = 0x16;

constexpr std::string_view kTlsOnPlainPortReply =
    "-ERR TLS handshake received on the plaintext port: connect to the TLS port (tls-port) "
    "or without TLS\r\n";
constexpr std::string_view kPlainOnTlsPortReply =
    "-ERR this port speaks TLS only: connect with TLS (e.g. redis-cli --tls --cacert <ca>) or to "
    "the plaintext port\r\n";

}  // namespace

Connection::Connection(std::shared_ptr<RespServer::State> server, Strand strand)
    : server_(std::move(server)),
      strand_(std::move(strand)),
      socket_(strand_),
      parser_(server_->options.request_limits),
      read_buffer_(server_->options.read_chunk_bytes),
      window_(std::clamp<size_t>(server_->options.initial_pipeline_window, 1,
                                 server_->options.max_pending_replies)) {}

void Connection::start(uint64_t id, tls::ContextPtr tls_context) {
  state_.id = id;
  started_ = true;
  server_->task_started();
  if (closing_) {  // RespServer::stop() ran first
    maybe_finish();
    return;
  }
  if (tls_context) {
    tls_context_ = std::move(tls_context);
    tls_.emplace(std::move(socket_), *tls_context_);
    state_.tls = true;
  }
  std::error_code ec;
  sock().set_option(asio::ip::tcp::no_delay(true), ec);
  // Reads and the first attempt of every write never block the strand.
  sock().non_blocking(true, ec);
  if (const auto remote = sock().remote_endpoint(ec); !ec)
    state_.remote_addr = endpoint_text(remote);
  if (const auto local = sock().local_endpoint(ec); !ec) state_.local_addr = endpoint_text(local);
  server_->log.debug("client {} connected from {}{}", id, state_.remote_addr, tls_ ? " (TLS)" : "");
  if (tls_) {
    start_tls_handshake();
    return;
  }
  begin_serving();
}

void Connection::start_tls_handshake() {
  handshake_timer_.emplace(strand_);
  handshake_timer_->expires_after(server_->options.tls_handshake_timeout);
  ++operations_;
  handshake_timer_->async_wait([self = shared_from_this()](const std::error_code& ec) {
    --self->operations_;
    if (!ec && !self->handshake_done_ && !self->closing_) {
      self->server_->tls_stats.handshake_failures.fetch_add(1, std::memory_order_relaxed);
      if (auto more = self->server_->tls_failure_log.admit()) {
        self->server_->log.info("client {} {}: TLS handshake not done within {} ms; closed{}",
                                self->state_.id, self->state_.remote_addr,
                                self->server_->options.tls_handshake_timeout.count(), *more);
      }
      self->close();
      return;
    }
    self->maybe_finish();
  });
  ++operations_;
  tls_->async_handshake(asio::ssl::stream_base::server,
                        [self = shared_from_this()](const std::error_code& ec) {
                          --self->operations_;
                          self->on_tls_handshake(ec);
                        });
}

void Connection::on_tls_handshake(const std::error_code& ec) {
  handshake_done_ = true;
  if (handshake_timer_) handshake_timer_->cancel();
  if (closing_) {
    maybe_finish();
    return;
  }
  if (ec) {
    server_->tls_stats.handshake_failures.fetch_add(1, std::memory_order_relaxed);
    const std::string why = tls::describe_tls_error(ec, tls_->native_handle());
    if (auto more = server_->tls_failure_log.admit()) {
      server_->log.info("client {} {}: TLS handshake failed: {}{}", state_.id, state_.remote_addr,
                        why, *more);
    }
    if (why.find("does not speak TLS") != std::string::npos) {
      // A plaintext client: tell it in its own protocol, best effort, without waiting.
      std::error_code ignored;
      sock().write_some(asio::buffer(kPlainOnTlsPortReply), ignored);
    }
    close();
    return;
  }
  server_->tls_stats.handshakes.fetch_add(1, std::memory_order_relaxed);
  if (server_->log.enabled(LogLevel::kDebug)) {
    const auto peer = tls::peer_certificate(tls_->native_handle());
    server_->log.debug("client {} TLS {} {}{}", state_.id, SSL_get_version(tls_->native_handle()),
                       SSL_get_cipher_name(tls_->native_handle()),
                       peer ? fmt::format(", client certificate {}", peer->subject) : "");
  }
  begin_serving();
}

void Connection::begin_serving() {
  if (auto refusal = server_->dispatcher.admit(state_)) {  // protected mode: answer, then close
    input_done_ = true;
    answer_protocol_error(std::move(*refusal));
    return;
  }
  read_more();
}

void Connection::close() {
  if (closing_) return;
  closing_ = true;
  std::error_code ignored;
  if (handshake_timer_) handshake_timer_->cancel();
  sock().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  sock().close(ignored);  // outstanding operations complete with operation_aborted
  pending_.clear();
  held_.clear();
  buffered_bytes_ = 0;
  buffered_replies_ = 0;
  maybe_finish();
}

void Connection::maybe_finish() {
  if (!closing_ || !started_ || operations_ > 0 || finished_) return;
  finished_ = true;
  server_->log.debug("client {} closed", state_.id);
  server_->unregister_connection(state_.id);
  server_->task_finished();
}

uint64_t Connection::push_slot(CommandOrder order) {
  pending_.emplace_back();
  pending_.back().order = order;
  return first_sequence_ + pending_.size() - 1;
}

void Connection::maybe_rewrite_redirect(std::string& reply) const {
  // "-MOVED <slot> <host:port>\r\n" or "-ASK <slot> <host:port>\r\n".
  if (reply.size() < 8 || reply[0] != '-' ||
      (reply.compare(0, 7, "-MOVED ") != 0 && reply.compare(0, 5, "-ASK ") != 0)) {
    return;
  }
  const size_t end = reply.size() - 2;  // before \r\n
  const size_t space = reply.rfind(' ', end);
  if (space == std::string::npos || reply.compare(end, 2, "\r\n") != 0) return;
  const auto it = server_->options.tls_redirects.find(reply.substr(space + 1, end - space - 1));
  if (it == server_->options.tls_redirects.end()) return;
  reply.replace(space + 1, end - space - 1, it->second);
}

void Connection::complete(uint64_t sequence, std::string reply) {
  if (closing_) return;  // the connection is gone; its pending replies were dropped
  if (tls_ && !server_->options.tls_redirects.empty()) maybe_rewrite_redirect(reply);
  RAFTKV_ASSERT(sequence >= first_sequence_ && sequence - first_sequence_ < pending_.size(),
                "reply for request {} outside the pending window [{}, +{})", sequence,
                first_sequence_, pending_.size());
  PendingReply& slot = pending_[sequence - first_sequence_];
  RAFTKV_ASSERT(!slot.ready, "request {} completed twice", sequence);
  slot.ready = true;
  slot.bytes = std::move(reply);
  buffered_bytes_ += slot.bytes.size();
  ++buffered_replies_;
  if (slot.order == CommandOrder::kRead) --reads_in_flight_;
  if (slot.order == CommandOrder::kWrite) --writes_in_flight_;
  if (slot.order == CommandOrder::kBarrier) --barriers_in_flight_;
  if (slot.order == CommandOrder::kExclusive) --exclusive_in_flight_;
  if (enforce_output_limit()) return;
  update_window(slot.bytes.size());
  if (sequence == first_sequence_) schedule_write();
  if (!held_.empty()) dispatch_held();
  if (read_paused_ && !must_pause_reading()) {  // a request in flight completed
    read_paused_ = false;
    read_more();
  }
}

bool Connection::enforce_output_limit() {
  const OutputBufferLimit& limit = server_->options.output_limit;
  // One reply alone is always delivered (a GET of a value up to max-value-bytes).
  const bool alone = buffered_replies_ <= 1;
  bool over = limit.hard_bytes > 0 && buffered_bytes_ > limit.hard_bytes && !alone;
  if (limit.soft_bytes > 0 && buffered_bytes_ > limit.soft_bytes) {
    const auto now = std::chrono::steady_clock::now();
    if (!over_soft_limit_since_) over_soft_limit_since_ = now;
    if (now - *over_soft_limit_since_ >= limit.soft_seconds && !alone) over = true;
  } else {
    over_soft_limit_since_.reset();
  }
  if (!over) return false;
  server_->log.warn(
      "client id={} addr={} name={} closed for overcoming of output buffer limits: {} bytes in "
      "{} replies wait for it to read (client-output-buffer-limit normal {} {} {})",
      state_.id, state_.remote_addr, state_.name, buffered_bytes_, buffered_replies_,
      limit.hard_bytes, limit.soft_bytes, limit.soft_seconds.count());
  server_->stats.client_output_buffer_limit_disconnections.fetch_add(1, std::memory_order_relaxed);
  close();
  return true;
}

void Connection::update_window(size_t bytes) {
  reply_estimate_ = std::max(bytes, reply_estimate_ - reply_estimate_ / 16);
  const OutputBufferLimit& limit = server_->options.output_limit;
  const size_t budget =
      limit.hard_bytes > 0 && (limit.soft_bytes == 0 || limit.hard_bytes < limit.soft_bytes)
          ? limit.hard_bytes
          : limit.soft_bytes;
  // A full window of replies like the recent ones fills at most half the limit, so a client
  // that reads its replies in bursts is not disconnected.
  size_t cap = server_->options.max_pending_replies;
  if (budget > 0 && reply_estimate_ > 0) {
    cap = std::clamp<size_t>(budget / 2 / reply_estimate_, 1, cap);
  }
  window_ = std::min(cap, window_ + 1);
}

bool Connection::may_dispatch(CommandOrder order) const {
  if (exclusive_in_flight_ > 0) return false;
  switch (order) {
    case CommandOrder::kLocal:
      return true;
    case CommandOrder::kRead:
      return barriers_in_flight_ == 0;
    case CommandOrder::kWrite:
      return reads_in_flight_ == 0 && barriers_in_flight_ == 0;
    case CommandOrder::kBarrier:
    case CommandOrder::kExclusive:
      return reads_in_flight_ == 0 && writes_in_flight_ == 0 && barriers_in_flight_ == 0;
  }
  return true;
}

void Connection::dispatch_held() {
  // A held local command completes inside dispatch(), whose complete() calls this again: the
  // outer loop does the work, so the stack stays flat however many are held.
  if (dispatching_held_) return;
  dispatching_held_ = true;
  while (!closing_ && !held_.empty() && may_dispatch(held_.front().order)) {
    HeldRequest request = std::move(held_.front());
    held_.pop_front();
    if (request.protocol_error) {
      answer_protocol_error(std::move(*request.protocol_error));
      break;
    }
    dispatch(std::move(request.command), request.order);
  }
  dispatching_held_ = false;
}

void Connection::dispatch(resp::Command command, CommandOrder order) {
  const uint64_t sequence = push_slot(order);
  state_.own_writes_in_flight = writes_in_flight_ > 0;
  if (order == CommandOrder::kRead) ++reads_in_flight_;
  if (order == CommandOrder::kWrite) ++writes_in_flight_;
  if (order == CommandOrder::kBarrier) ++barriers_in_flight_;
  if (order == CommandOrder::kExclusive) ++exclusive_in_flight_;
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
  if (state_.close_after_reply) {  // QUIT, or a deleted user's connection: read nothing more
    close_after_sequence_ = sequence;
    input_done_ = true;
  }
}

void Connection::answer_protocol_error(std::string reply) {
  const uint64_t sequence = push_slot(CommandOrder::kLocal);
  close_after_sequence_ = sequence;
  complete(sequence, std::move(reply));
}

bool Connection::must_pause_reading() const {
  return pending_.size() - buffered_replies_ + held_.size() >= window_;
}

bool Connection::parse_buffered() {
  resp::Command command;
  while (!closing_ && !input_done_ && !must_pause_reading()) {
    switch (parser_.next(command)) {
      case resp::ParseOutcome::kNeedMore:
        return true;
      case resp::ParseOutcome::kCommand: {
        // QUIT: read nothing after it (it closes once answered, in order).
        if (!command.empty() && handlers::iequals(command.front(), "quit")) input_done_ = true;
        const CommandOrder order = CommandDispatcher::order_of(command);
        if (held_.empty() && may_dispatch(order)) {
          dispatch(std::move(command), order);
        } else {
          held_.push_back(HeldRequest{std::move(command), order, std::nullopt});
        }
        command = {};
        break;
      }
      case resp::ParseOutcome::kError: {
        server_->log.debug("client {} {}: {}", state_.id, state_.remote_addr, parser_.error());
        std::string reply;
        resp::append_error(reply, "ERR " + parser_.error());
        input_done_ = true;
        if (held_.empty()) {
          answer_protocol_error(std::move(reply));
        } else {
          held_.push_back(HeldRequest{{}, CommandOrder::kLocal, std::move(reply)});
        }
        return false;
      }
    }
  }
  return !input_done_;
}

void Connection::read_more() {
  if (closing_ || !parse_buffered() || closing_) return;
  if (must_pause_reading()) {
    read_paused_ = true;  // backpressure: complete() resumes
    return;
  }
  ++operations_;
  if (tls_) {
    tls_->async_read_some(asio::buffer(read_buffer_),
                          [self = shared_from_this()](const std::error_code& ec, size_t n) {
                            --self->operations_;
                            self->on_tls_read(ec, n);
                          });
    return;
  }
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
    if (maybe_refuse_tls_on_plain_port(n)) return;
    parser_.feed(std::string_view(read_buffer_.data(), n));
    if (n < read_buffer_.size()) break;  // the socket is drained: no recv to find it empty
  }
  read_more();
}

bool Connection::maybe_refuse_tls_on_plain_port(size_t n) {
  if (saw_input_ || n == 0) return false;
  saw_input_ = true;
  if (read_buffer_[0] != kTlsHandshakeRecord) return false;
  server_->tls_stats.plaintext_refused.fetch_add(1, std::memory_order_relaxed);
  if (auto more = server_->tls_failure_log.admit()) {
    server_->log.info("client {} {}: TLS handshake on the plaintext port; closed{}", state_.id,
                      state_.remote_addr, *more);
  }
  input_done_ = true;
  answer_protocol_error(std::string(kTlsOnPlainPortReply));
  return true;
}

void Connection::on_tls_read(const std::error_code& ec, size_t n) {
  if (closing_) {
    maybe_finish();
    return;
  }
  if (ec) {
    if (ec != asio::error::eof && ec != asio::ssl::error::stream_truncated) {
      server_->log.debug("client {} {}: TLS read: {}", state_.id, state_.remote_addr,
                         tls::describe_tls_error(ec, tls_->native_handle()));
    }
    close();
    return;
  }
  parser_.feed(std::string_view(read_buffer_.data(), n));
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
  // Take the completed prefix (in request order) into one write. A buffer grown by one large
  // reply is given back rather than kept for the connection's lifetime.
  if (out_.capacity() > 2 * server_->options.max_write_batch_bytes) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
  bool close_after_write = false;
  const size_t max_batch = server_->options.max_write_batch_bytes;
  while (!pending_.empty() && pending_.front().ready && out_.size() < max_batch) {
    std::string& bytes = pending_.front().bytes;
    buffered_bytes_ -= bytes.size();
    if (out_.empty() && bytes.size() >= max_batch) {
      out_.swap(bytes);  // a large reply is not copied
    } else {
      out_ += bytes;
    }
    --buffered_replies_;
    pending_.pop_front();
    const uint64_t written = first_sequence_++;
    if (close_after_sequence_ == written) {
      close_after_write = true;
      break;
    }
  }
  if (out_.empty()) {
    if (close_after_write) close();  // a command answered by closing (a deleted user's)
    return;
  }
  if (tls_) {  // no non-blocking fast path: the stream may need to read to write
    write_async(0, close_after_write);
    return;
  }
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
  write_async(ec ? 0 : n, close_after_write);
}

void Connection::write_async(size_t sent, bool close_after_write) {
  writing_ = true;
  ++operations_;
  auto on_written = [self = shared_from_this(), close_after_write](const std::error_code& error,
                                                                   size_t) {
    --self->operations_;
    self->writing_ = false;
    if (self->closing_) {
      self->maybe_finish();
    } else if (error) {
      self->close();
    } else {
      self->after_write(close_after_write);
    }
  };
  const auto rest = asio::buffer(out_.data() + sent, out_.size() - sent);
  if (tls_) {
    asio::async_write(*tls_, rest, std::move(on_written));
  } else {
    asio::async_write(socket_, rest, std::move(on_written));
  }
}

void Connection::after_write(bool close_after_write) {
  if (close_after_write) {
    close();
    return;
  }
  if (!pending_.empty() && pending_.front().ready) schedule_write();
}

}  // namespace raftkv::frontend
