#include "node/snapshot_transfer.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/crc32c.h"

namespace raftkv::node {

// ---- sender ---------------------------------------------------------------------------------

SnapshotSender::SnapshotSender(NodeId self, storage::Wal& wal, SnapshotTransferOptions options,
                               Logger log)
    : self_(self), wal_(wal), options_(options), log_(std::move(log)) {
  RAFTKV_ASSERT(options_.chunk_bytes > 0 && options_.window_chunks > 0,
                "snapshot chunk size and window must be positive");
}

bool SnapshotSender::start(NodeId to, Term term, const raft::SnapshotMeta& meta, SteadyTime now,
                           const SendFn& send) {
  auto it = out_.find(to);
  if (it != out_.end() && it->second.meta.index == meta.index &&
      it->second.meta.term == meta.term) {
    it->second.term = term;
    return true;  // already streaming this snapshot
  }
  auto file = wal_.open_snapshot();
  if (!file) {
    log_.warn("cannot send snapshot at {} to {}: {}", meta.index, to, file.status().to_string());
    return false;
  }
  if ((*file)->meta().index != meta.index || (*file)->meta().term != meta.term) {
    log_.info("snapshot at {} for {} was replaced by {}; the core will ask again", meta.index, to,
              (*file)->meta().index);
    return false;
  }
  Outgoing o;
  o.term = term;
  o.meta = meta;
  o.total = (*file)->file_bytes();
  o.file = std::move(file).value();
  o.last_progress = o.last_resend = now;
  ++stats_.started;
  log_.info("sending snapshot at {} ({} bytes) to {}", meta.index, o.total, to);
  auto [pos, inserted] = out_.insert_or_assign(to, std::move(o));
  pump(to, pos->second, send);
  return true;
}

void SnapshotSender::pump(NodeId to, Outgoing& o, const SendFn& send) {
  const uint64_t window = o.awaiting_first_answer ? options_.chunk_bytes
                                                  : options_.chunk_bytes * options_.window_chunks;
  while (o.next < o.total && o.next - o.acked < window) {
    if (options_.max_bytes_per_sec > 0 && tokens_ <= 0) return;  // tick() refills
    const uint64_t len = std::min(options_.chunk_bytes, o.total - o.next);
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta = o.meta;
    snap->data.resize(len);
    auto n = o.file->read_raw(o.next, snap->data.data(), len);
    if (!n || *n != len) {
      // The open file cannot shrink; a read error is a local disk problem: give up this try.
      log_.error("reading snapshot {} at {} failed: {}", o.file->path(), o.next,
                 n ? "short read" : n.status().to_string());
      o.last_progress = SteadyTime{};  // tick() reports the failure
      return;
    }
    raft::Message m{.type = raft::MessageType::kSnapChunk, .from = self_, .to = to, .term = o.term};
    m.chunk = raft::SnapshotChunk{o.next, o.total, crc32c(snap->data)};
    m.snapshot = std::move(snap);
    o.next += len;
    tokens_ -= static_cast<int64_t>(len);
    stats_.bytes_sent += len;
    send(std::move(m));
  }
}

bool SnapshotSender::on_response(const raft::Message& m, SteadyTime now, const SendFn& send) {
  auto it = out_.find(m.from);
  if (it == out_.end()) return false;
  Outgoing& o = it->second;
  if (m.index != o.meta.index || m.log_term != o.meta.term) return false;  // another snapshot
  if (m.reject) {
    log_.warn("{} could not verify snapshot at {}; sending it again from the start", m.from,
              o.meta.index);
    o.acked = o.next = 0;
    o.awaiting_first_answer = true;
    o.last_progress = now;
    pump(m.from, o, send);
    return false;
  }
  const uint64_t wanted = std::min(m.chunk.offset, o.total);
  if (o.awaiting_first_answer) {
    o.awaiting_first_answer = false;
    if (wanted > o.next && wanted < o.total) {  // it holds more than the probe chunk
      ++stats_.resumed;
      log_.info("resuming snapshot at {} to {} at byte {} of {}", o.meta.index, m.from, wanted,
                o.total);
    }
  }
  if (wanted == o.total) {
    log_.info("{} received snapshot at {} ({} bytes)", m.from, o.meta.index, o.total);
    ++stats_.completed;
    out_.erase(it);
    return true;
  }
  if (wanted > o.acked) {
    o.acked = wanted;
    o.last_progress = now;
  }
  if (o.next < wanted) o.next = wanted;  // the receiver already holds more (resume)
  pump(m.from, o, send);
  return false;
}

std::vector<NodeId> SnapshotSender::tick(SteadyTime now, const SendFn& send) {
  if (options_.max_bytes_per_sec > 0) {
    const auto elapsed =
        last_refill_ == SteadyTime{} ? std::chrono::milliseconds(100) : now - last_refill_;
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
    const int64_t cap = static_cast<int64_t>(options_.chunk_bytes * options_.window_chunks);
    tokens_ = std::min<int64_t>(
        cap, tokens_ + static_cast<int64_t>(options_.max_bytes_per_sec) * us / 1'000'000);
    last_refill_ = now;
  }
  std::vector<NodeId> failed;
  for (auto it = out_.begin(); it != out_.end();) {
    Outgoing& o = it->second;
    if (now - o.last_progress >= options_.give_up_after) {
      log_.warn("snapshot at {} to {}: no progress for {} ms at byte {} of {}; giving up for now",
                o.meta.index, it->first, options_.give_up_after.count(), o.acked, o.total);
      failed.push_back(it->first);
      ++stats_.failed;
      it = out_.erase(it);
      continue;
    }
    if (o.next > o.acked && now - o.last_progress >= options_.resend_after &&
        now - o.last_resend >= options_.resend_after) {
      o.next = o.acked;  // go back: chunks or answers were lost
      o.last_resend = now;
    }
    pump(it->first, o, send);
    ++it;
  }
  return failed;
}

Index SnapshotSender::min_in_flight_index() const {
  Index lowest;
  for (const auto& [to, o] : out_) {
    if (lowest == Index() || o.meta.index < lowest) lowest = o.meta.index;
  }
  return lowest;
}

// ---- receiver -------------------------------------------------------------------------------

SnapshotReceiver::SnapshotReceiver(NodeId self, storage::FileSystem& fs,
                                   const storage::SnapshotStore& store, Logger log)
    : self_(self), fs_(fs), store_(store), log_(std::move(log)) {}

raft::Message SnapshotReceiver::reply_to(const raft::Message& m, uint64_t offset,
                                         bool reject) const {
  return reply_to(m.from, m.term, m.snapshot->meta, m.chunk.total_bytes, offset, reject);
}

raft::Message SnapshotReceiver::reply_to(NodeId to, Term term, const raft::SnapshotMeta& meta,
                                         uint64_t total, uint64_t offset, bool reject) const {
  raft::Message r{.type = raft::MessageType::kSnapChunkResp,
                  .from = self_,
                  .to = to,
                  .term = term,
                  .log_term = meta.term,
                  .index = meta.index,
                  .reject = reject};
  r.chunk = raft::SnapshotChunk{offset, total, 0};
  return r;
}

void SnapshotReceiver::abandon(bool remove_file) {
  if (!in_) return;
  in_->file.reset();
  if (remove_file) (void)fs_.remove(in_->path);
  in_.reset();
}

Status SnapshotReceiver::begin(const raft::SnapshotMeta& meta, uint64_t total) {
  // A transfer of another snapshot is superseded: its partial file is useless now.
  abandon(/*remove_file=*/true);
  Incoming in;
  in.meta = meta;
  in.total = total;
  in.path = store_.partial_path_for(meta.index, meta.term);
  auto existing = fs_.open(in.path, storage::OpenMode::kReadWrite);
  if (existing) {
    auto size = (*existing)->size();
    if (size && *size <= total) {
      in.received = *size;
      in.file = std::move(existing).value();
      if (in.received > 0) {
        ++stats_.resumed;
        log_.info("resuming snapshot at {} at byte {} of {}", meta.index, in.received, total);
      }
    } else {
      existing->reset();
      (void)fs_.remove(in.path);
    }
  }
  if (!in.file) {
    auto created = fs_.open(in.path, storage::OpenMode::kCreateExclusive);
    if (!created) return created.status();
    in.file = std::move(created).value();
    log_.info("receiving snapshot at {} ({} bytes)", meta.index, total);
  }
  in_ = std::move(in);
  return Status::ok();
}

SnapshotReceiver::Outcome SnapshotReceiver::on_chunk(const raft::Message& m) {
  const raft::SnapshotMeta& meta = m.snapshot->meta;
  const uint64_t total = m.chunk.total_bytes;
  if (!in_ || in_->meta.index != meta.index || in_->meta.term != meta.term || in_->total != total) {
    if (Status s = begin(meta, total); !s) {
      log_.error("cannot store snapshot at {}: {}", meta.index, s.to_string());
      return Outcome{reply_to(m, 0, /*reject=*/true), std::nullopt, nullptr, std::nullopt};
    }
  }
  Incoming& in = *in_;
  const std::string& data = m.snapshot->data;
  if (in.received < in.total && m.chunk.offset == in.received && !data.empty()) {
    if (crc32c(data) != m.chunk.crc32c) {
      log_.warn("snapshot chunk at {} from {} fails its checksum; asking again", m.chunk.offset,
                m.from);
      return Outcome{reply_to(m, in.received, false), std::nullopt, nullptr, std::nullopt};
    }
    if (Status s = in.file->pwrite(in.received, data); !s) {
      log_.error("writing snapshot {} failed: {}", in.path, s.to_string());
      abandon(true);
      return Outcome{reply_to(m, 0, /*reject=*/true), std::nullopt, nullptr, std::nullopt};
    }
    in.received += data.size();
    stats_.bytes_received += data.size();
  }
  if (in.received < in.total || in.installed) {
    return Outcome{reply_to(m, in.received, false), std::nullopt, nullptr, std::nullopt};
  }
  // Complete. The last chunk is answered once the file is durable and verified (on_verified),
  // so the sender never counts an unverified file as delivered.
  if (in.verifying) return Outcome{};
  in.verifying = true;
  in.file.reset();  // verify() syncs the file through a handle of its own
  return Outcome{std::nullopt, std::nullopt, nullptr,
                 Verification{in.path, in.meta, in.total, m.from, m.term}};
}

SnapshotReceiver::Verified SnapshotReceiver::verify(storage::FileSystem& fs,
                                                    const Verification& v) {
  // fsync through any descriptor makes the file's written data durable.
  auto file = fs.open(v.path, storage::OpenMode::kReadWrite);
  if (!file) return Verified{file.status(), nullptr};
  if (Status s = (*file)->sync(); !s) {
    RAFTKV_FATAL("fsync of received snapshot {} failed, the node must stop: {}", v.path,
                 s.to_string());
  }
  auto reader = storage::SnapshotFileReader::open(fs, v.path);
  Status valid = reader ? (*reader)->verify() : reader.status();
  if (valid && ((*reader)->meta().index != v.meta.index || (*reader)->meta().term != v.meta.term)) {
    valid = Status(ErrorCode::kCorruption, "snapshot file names another index or term");
  }
  if (!valid) return Verified{valid, nullptr};
  return Verified{Status::ok(), std::move(reader).value()};
}

SnapshotReceiver::Outcome SnapshotReceiver::on_verified(const Verification& v, Verified result) {
  if (!in_ || !in_->verifying || in_->meta.index != v.meta.index || in_->meta.term != v.meta.term ||
      in_->total != v.total) {
    return Outcome{};  // superseded by another transfer meanwhile
  }
  Incoming& in = *in_;
  in.verifying = false;
  if (!result.status) {
    log_.warn("received snapshot at {} fails verification ({}); starting over", v.meta.index,
              result.status.to_string());
    abandon(true);
    return Outcome{reply_to(v.leader, v.term, v.meta, v.total, 0, /*reject=*/true), std::nullopt,
                   nullptr, std::nullopt};
  }
  in.installed = true;
  ++stats_.received;
  auto snap = std::make_shared<raft::Snapshot>();
  snap->meta = result.file->meta();
  Outcome out{reply_to(v.leader, v.term, v.meta, v.total, v.total, false), std::nullopt,
              std::move(result.file), std::nullopt};
  out.install = raft::Message{.type = raft::MessageType::kSnap,
                              .from = v.leader,
                              .to = self_,
                              .term = v.term,
                              .snapshot = std::move(snap)};
  return out;
}

}  // namespace raftkv::node
