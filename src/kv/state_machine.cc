// The KV state machine; the snapshot stream format is in snapshot_stream.h, the concurrent
// snapshot view in snapshot_view.h.
#include "kv/state_machine.h"

#include <algorithm>
#include <unordered_map>

#include <fmt/format.h>

#include "base/assert.h"
#include "kv/snapshot_stream.h"
#include "kv/value_codec.h"
#include "proto/kv.pb.h"

namespace raftkv::kv {
namespace {

constexpr std::string_view kAppliedKey = "applied";
// Requests larger than this are parsed into a message that is freed afterwards.
constexpr size_t kMaxRetainedRequestBytes = 64 * 1024;

std::string session_key(uint64_t client_id) {
  std::string key = "s";
  append_u64_be(key, client_id);
  return key;
}

std::string reply_key(uint64_t client_id, uint64_t sequence) {
  std::string key = "r";
  append_u64_be(key, client_id);
  append_u64_be(key, sequence);
  return key;
}

}  // namespace

StateMachine::StateMachine(std::unique_ptr<Engine> engine, StateMachineOptions options)
    : engine_(std::move(engine)), options_(options), request_(std::make_unique<pb::Request>()) {
  RAFTKV_ASSERT(engine_ != nullptr, "state machine needs an engine");
  Status s = load_meta();
  RAFTKV_ASSERT(s.is_ok(), "engine meta unreadable: {}", s.to_string());
  if (engine_->count(Space::kData) > 0) {  // a durable engine's state
    uint64_t with_ttl = 0;
    engine_->scan(Space::kData, "", [&](std::string_view, std::string_view value) {
      with_ttl += stored_value_has_ttl(value) ? 1 : 0;
      return true;
    });
    keys_with_ttl_.store(with_ttl, std::memory_order_release);
  }
}

StateMachine::~StateMachine() {
  if (shadow_ != nullptr) {
    std::lock_guard lock(shadow_->mu);
    RAFTKV_ASSERT(shadow_->ended, "state machine destroyed while a snapshot view is alive");
  }
}

std::optional<Reply> StateMachine::apply(const raft::Entry& entry) {
  const uint64_t applied = applied_index_.load(std::memory_order_relaxed);
  RAFTKV_ASSERT(entry.index.value() == applied + 1, "entries applied in order: got {} after {}",
                entry.index.value(), applied);
  WriteBatch& batch = batch_;
  batch.clear();
  applying_index_ = entry.index.value();
  std::optional<Reply> reply;
  if (entry.type == raft::EntryType::kNormal && !entry.data.empty()) {
    reply = apply_request(entry.data, batch);
  }
  // The applied record (index, term, time) is not written to the engine: see has_applied_record_.
  // Copy-on-write for an active snapshot view: pre-images are recorded before the engine
  // changes (the ordering snapshot_view.cc relies on).
  if (shadow_ != nullptr && !shadow_->record(*engine_, batch)) shadow_.reset();
  count_ttl_changes(batch);
  Status s = engine_->write(batch);
  RAFTKV_ASSERT(s.is_ok(), "engine write failed applying index {}: {}", entry.index.value(),
                s.to_string());
  // Once the records are written (what connections enforce is in the engine), and before the
  // index is published: whoever sees this entry applied (INFO, a read at this index) sees its
  // ACL enforced (integration.acl: a deleted user's connection on a caught-up follower).
  if (acl_changed_) {
    acl_changed_ = false;
    publish_acl();
  }
  applied_term_ = entry.term;
  has_applied_record_ = true;
  applied_index_.store(entry.index.value(), std::memory_order_release);
  return reply;
}

Reply StateMachine::apply_acl(std::span<const std::string_view> args, WriteBatch& batch) {
  std::vector<std::string> changed;
  Reply reply = acl_.apply_entry(args, applying_index_, changed);
  for (const std::string& name : changed) {
    if (const acl::AclUser* user = acl_.find(name)) {
      batch.put(Space::kMeta, acl::AclState::record_key(name), acl_.record_value(*user));
    } else {
      batch.del(Space::kMeta, acl::AclState::record_key(name));
    }
  }
  acl_changed_ = acl_changed_ || !changed.empty();
  return reply;
}

void StateMachine::publish_acl() const {
  if (options_.acl != nullptr) options_.acl->publish(acl_);
}

Reply StateMachine::apply_request(std::string_view payload, WriteBatch& batch) {
  // The parsed request and the argument views are reused from entry to entry: parsing into a
  // cleared message reuses its strings, so a steady stream of requests allocates nothing here.
  // A large request's memory is not kept (dropped below).
  pb::Request& request = *request_;
  const bool parsed = request.ParseFromArray(payload.data(), static_cast<int>(payload.size()));
  Reply reply;
  if (!parsed) {
    reply = Reply::error("ERR malformed command entry");
  } else {
    const int64_t now = std::max(now_ms_.load(std::memory_order_relaxed), request.timestamp_ms());
    now_ms_.store(now, std::memory_order_release);
    expire_sessions(batch, std::nullopt);
    args_.assign(request.args().begin(), request.args().end());
    if (!args_.empty() && acl::is_entry_command(args_[0])) {
      // ACL entries carry no session (the frontend proposes them without one).
      reply = apply_acl(args_, batch);
    } else if (request.client_id() == 0) {
      reply = execute_command(*engine_, &batch, args_, now, options_.limits);
    } else {
      reply = apply_session_request(request.client_id(), request.sequence(),
                                    request.acked_sequence(), args_, batch);
    }
  }
  args_.clear();
  if (payload.size() > kMaxRetainedRequestBytes) {
    request_ = std::make_unique<pb::Request>();
    args_.shrink_to_fit();
  }
  return reply;
}

Reply StateMachine::apply_session_request(uint64_t client_id, uint64_t sequence,
                                          uint64_t acked_sequence,
                                          std::span<const std::string_view> args,
                                          WriteBatch& batch) {
  if (sequence == 0) return Reply::error("ERR request sequence must be >= 1");
  auto it = sessions_.find(client_id);
  if (it == sessions_.end()) {
    if (acked_sequence > 0) {
      return Reply::error(fmt::format(
          "SESSIONEXPIRED client session {} is unknown or expired; open a new session", client_id));
    }
    it = sessions_.emplace(client_id, Session{}).first;
    it->second.last_active_ms = now_ms();
    sessions_by_activity_.emplace(it->second.last_active_ms, client_id);
  }
  Session& session = it->second;
  if (acked_sequence > session.acked_sequence) {
    session.acked_sequence = acked_sequence;
    while (!session.cached_sequences.empty() &&
           *session.cached_sequences.begin() <= acked_sequence) {
      forget_cached_reply(client_id, session, *session.cached_sequences.begin(), batch);
    }
  }
  Reply reply;
  if (sequence <= session.acked_sequence) {
    reply = Reply::error(fmt::format("ERR request sequence {} already acknowledged by client {}",
                                     sequence, client_id));
  } else if (session.cached_sequences.count(sequence) > 0) {
    auto bytes = engine_->get(Space::kMeta, reply_key(client_id, sequence));
    RAFTKV_ASSERT(bytes.has_value(), "cached reply of client {} seq {} missing", client_id,
                  sequence);
    auto cached = decode_reply(*bytes);
    RAFTKV_ASSERT(cached.has_value(), "cached reply of client {} seq {} corrupt", client_id,
                  sequence);
    reply = std::move(*cached);
  } else {
    reply = execute_command(*engine_, &batch, args, now_ms(), options_.limits);
    batch.put(Space::kMeta, reply_key(client_id, sequence), encode_reply(reply));
    session.cached_sequences.insert(sequence);
    // Bounded memory: forget the oldest replies, treating them as acknowledged.
    while (session.cached_sequences.size() > options_.max_cached_replies_per_session) {
      const uint64_t oldest = *session.cached_sequences.begin();
      forget_cached_reply(client_id, session, oldest, batch);
      session.acked_sequence = std::max(session.acked_sequence, oldest);
    }
  }
  touch_session(client_id, session, batch);
  expire_sessions(batch, client_id);
  return reply;
}

void StateMachine::forget_cached_reply(uint64_t client_id, Session& session, uint64_t sequence,
                                       WriteBatch& batch) {
  session.cached_sequences.erase(sequence);
  batch.del(Space::kMeta, reply_key(client_id, sequence));
}

void StateMachine::touch_session(uint64_t client_id, Session& session, WriteBatch& batch) {
  sessions_by_activity_.erase({session.last_active_ms, client_id});
  session.last_active_ms = now_ms();
  sessions_by_activity_.emplace(session.last_active_ms, client_id);
  pb::SessionHeader header;
  header.set_last_active_ms(session.last_active_ms);
  header.set_acked_sequence(session.acked_sequence);
  header.SerializeToString(&batch.put_value(Space::kMeta, session_key(client_id)));
}

void StateMachine::remove_session(uint64_t client_id, WriteBatch& batch) {
  auto it = sessions_.find(client_id);
  RAFTKV_ASSERT(it != sessions_.end(), "removing unknown session {}", client_id);
  for (uint64_t sequence : it->second.cached_sequences) {
    batch.del(Space::kMeta, reply_key(client_id, sequence));
  }
  batch.del(Space::kMeta, session_key(client_id));
  sessions_by_activity_.erase({it->second.last_active_ms, client_id});
  sessions_.erase(it);
}

// Removes sessions idle for longer than the TTL, then the least recently active ones beyond
// max_sessions (never `keep_client`, the session being served).
void StateMachine::expire_sessions(WriteBatch& batch, std::optional<uint64_t> keep_client) {
  const int64_t now = now_ms();
  while (!sessions_by_activity_.empty()) {
    const auto [last_active, client_id] = *sessions_by_activity_.begin();
    const bool idle_too_long = now - last_active > options_.session_ttl_ms;
    const bool over_capacity = sessions_.size() > options_.max_sessions;
    if (!idle_too_long && !over_capacity) break;
    // The served session was just touched, so it is the newest: nothing older remains.
    if (keep_client == client_id) break;
    remove_session(client_id, batch);
  }
}

Reply StateMachine::read(const std::vector<std::string>& args, int64_t now_ms_arg) const {
  const int64_t now = std::max(now_ms_arg, now_ms());
  return execute_command(*engine_, nullptr, args, now, options_.limits);
}

void StateMachine::scan_meta(const ScanVisitor& visit) const {
  std::string applied_record;
  bool applied_pending = has_applied_record_;
  if (applied_pending) {
    append_u64_be(applied_record, applied_index_.load(std::memory_order_relaxed));
    append_u64_be(applied_record, applied_term_.value());
    append_u64_be(applied_record, static_cast<uint64_t>(now_ms_.load(std::memory_order_relaxed)));
  }
  bool go_on = true;
  engine_->scan(Space::kMeta, "", [&](std::string_view key, std::string_view value) {
    RAFTKV_ASSERT(key != kAppliedKey, "the applied record is kept out of the engine");
    if (applied_pending && key > kAppliedKey) {
      applied_pending = false;
      if (!visit(kAppliedKey, applied_record)) return go_on = false;
    }
    return go_on = visit(key, value);
  });
  if (go_on && applied_pending) visit(kAppliedKey, applied_record);
}

uint8_t StateMachine::snapshot_version() const {
  return acl_.is_set() ? snapshot_stream::kVersionWithAcl : snapshot_stream::kVersion;
}

Status StateMachine::snapshot(const SnapshotSink& sink) const {
  snapshot_stream::Writer writer(sink, snapshot_version());
  Status status;
  std::string record;
  const auto append = [&](Space space, std::string_view key, std::string_view value) {
    record.clear();
    snapshot_stream::append_record(record, space, key, value);
    status = writer.append(record);
    return status.is_ok();
  };
  engine_->scan(Space::kData, "", [&](std::string_view key, std::string_view value) {
    return append(Space::kData, key, value);
  });
  if (!status.is_ok()) return status;
  scan_meta([&](std::string_view key, std::string_view value) {
    return append(Space::kMeta, key, value);
  });
  if (!status.is_ok()) return status;
  return writer.finish();
}

Result<std::unique_ptr<SnapshotView>> StateMachine::begin_snapshot() {
  if (!engine_->concurrent_reads()) {
    return Result<std::unique_ptr<SnapshotView>>(
        ErrorCode::kInvalidArgument,
        fmt::format("engine {} cannot be read during apply: use snapshot()", engine_->name()));
  }
  if (shadow_ != nullptr) {
    std::lock_guard lock(shadow_->mu);
    if (!shadow_->ended) {
      return Result<std::unique_ptr<SnapshotView>>(
          ErrorCode::kSnapshotTemporarilyUnavailable,
          "a snapshot view is already active: cancel or destroy it first");
    }
  }
  // The meta space is small (see snapshot_view.h): copied now, already encoded.
  std::string meta_records;
  scan_meta([&](std::string_view key, std::string_view value) {
    snapshot_stream::append_record(meta_records, Space::kMeta, key, value);
    return true;
  });
  shadow_ = std::make_shared<detail::SnapshotShadow>();
  return std::unique_ptr<SnapshotView>(new SnapshotView(*engine_, shadow_, applied_index(),
                                                        applied_term_, std::move(meta_records),
                                                        snapshot_version()));
}

std::pair<size_t, size_t> StateMachine::snapshot_shadow_size() const {
  if (shadow_ == nullptr) return {0, 0};
  std::lock_guard lock(shadow_->mu);
  return {shadow_->pre_images.size(), shadow_->bytes};
}

std::string StateMachine::snapshot_to_string() const {
  std::string out;
  Status s = snapshot([&](std::string_view chunk) {
    out.append(chunk);
    return Status::ok();
  });
  RAFTKV_ASSERT(s.is_ok(), "in-memory snapshot failed: {}", s.to_string());
  return out;
}

uint64_t StateMachine::digest() const {
  uint64_t hash = 0;
  Status s = snapshot([&](std::string_view chunk) {
    // The last 8 bytes of the stream are the checksum of everything before them.
    if (chunk.size() >= 8) hash = read_u64_be(chunk.substr(chunk.size() - 8));
    return Status::ok();
  });
  RAFTKV_ASSERT(s.is_ok(), "digest failed: {}", s.to_string());
  return hash;
}

void StateMachine::reset_memory_state() {
  applied_index_.store(0, std::memory_order_release);
  applied_term_ = Term();
  has_applied_record_ = false;
  now_ms_.store(0, std::memory_order_release);
  sessions_.clear();
  sessions_by_activity_.clear();
  keys_with_ttl_.store(0, std::memory_order_release);
  acl_ = acl::AclState();
  acl_changed_ = false;
}

void StateMachine::count_ttl_changes(const WriteBatch& batch) {
  const std::span<const WriteOp> ops = batch.ops();
  auto leaves_ttl = [](const WriteOp& op) {
    return !op.is_delete && stored_value_has_ttl(op.value);
  };
  // Per kData op: +1 when it leaves a TTL, -1 when the value it replaces had one. That value is
  // the batch's own latest earlier op on the key, else the engine's. Small batches (every
  // single-key write) look back through the ops and allocate nothing; larger ones use a map.
  constexpr size_t kLookBackOps = 32;
  const bool large = ops.size() > kLookBackOps;
  std::unordered_map<std::string_view, bool> latest;  // large batches: key → leaves a TTL
  int64_t delta = 0;
  for (size_t i = 0; i < ops.size(); ++i) {
    const WriteOp& op = ops[i];
    if (op.space != Space::kData) continue;
    std::optional<bool> replaced;
    if (large) {
      if (auto it = latest.find(op.key); it != latest.end()) replaced = it->second;
    } else {
      for (size_t j = i; j-- > 0;) {
        if (ops[j].space == Space::kData && ops[j].key == op.key) {
          replaced = leaves_ttl(ops[j]);
          break;
        }
      }
    }
    if (!replaced) {
      bool had = false;
      engine_->read(Space::kData, op.key,
                    [&](std::string_view value) { had = stored_value_has_ttl(value); });
      replaced = had;
    }
    const bool leaves = leaves_ttl(op);
    if (large) latest[op.key] = leaves;
    delta += int64_t{leaves} - int64_t{*replaced};
  }
  if (delta != 0) {
    keys_with_ttl_.fetch_add(static_cast<uint64_t>(delta), std::memory_order_release);
  }
}

Status StateMachine::restore(const SnapshotSource& source) {
  // The engine is about to be replaced: an active view can no longer produce its state.
  if (shadow_ != nullptr) {
    shadow_->end(/*cancel=*/true);
    shadow_.reset();
  }
  reset_memory_state();
  if (Status s = engine_->clear(); !s.is_ok()) return s;
  auto fail = [&](Status s) {
    Status cleared = engine_->clear();
    RAFTKV_ASSERT(cleared.is_ok(), "engine clear failed: {}", cleared.to_string());
    reset_memory_state();
    return s;
  };
  snapshot_stream::Reader reader(source);
  std::string bytes;
  if (Status s = reader.read_exact(snapshot_stream::kMagic.size(), bytes); !s.is_ok())
    return fail(s);
  if (bytes.substr(0, 7) != snapshot_stream::kMagic.substr(0, 7)) {
    return fail(Status(ErrorCode::kCorruption, "not a raftkv KV snapshot (bad magic)"));
  }
  const auto version = static_cast<uint8_t>(bytes[7]);
  if (version != snapshot_stream::kVersion && version != snapshot_stream::kVersionWithAcl) {
    return fail(Status(
        ErrorCode::kVersionMismatch,
        fmt::format("KV snapshot format version {} is not supported (expected 1 or 2)", version)));
  }
  WriteBatch batch;
  std::string key;
  std::string value;
  uint64_t with_ttl = 0;
  while (true) {
    if (Status s = reader.read_exact(1, bytes); !s.is_ok()) return fail(s);
    const auto tag = static_cast<uint8_t>(bytes[0]);
    if (tag == snapshot_stream::kEndOfRecords) break;
    if (tag > static_cast<uint8_t>(Space::kMeta)) {
      return fail(Status(ErrorCode::kCorruption, fmt::format("snapshot: bad record tag {}", tag)));
    }
    uint64_t length = 0;
    if (Status s = reader.read_varint(length); !s.is_ok()) return fail(s);
    if (length > snapshot_stream::kMaxRecordFieldBytes)
      return fail(Status(ErrorCode::kCorruption, "snapshot: key too long"));
    if (Status s = reader.read_exact(length, key); !s.is_ok()) return fail(s);
    if (Status s = reader.read_varint(length); !s.is_ok()) return fail(s);
    if (length > snapshot_stream::kMaxRecordFieldBytes)
      return fail(Status(ErrorCode::kCorruption, "snapshot: value too long"));
    if (Status s = reader.read_exact(length, value); !s.is_ok()) return fail(s);
    batch.put(static_cast<Space>(tag), key, value);
    if (static_cast<Space>(tag) == Space::kData && stored_value_has_ttl(value)) ++with_ttl;
    if (batch.ops().size() >= 1024) {
      if (Status s = engine_->write(batch); !s.is_ok()) return fail(s);
      batch.clear();
    }
  }
  if (Status s = engine_->write(batch); !s.is_ok()) return fail(s);
  const uint64_t expected = reader.hash();
  if (Status s = reader.read_exact(8, bytes, /*hashed=*/false); !s.is_ok()) return fail(s);
  if (read_u64_be(bytes) != expected) {
    return fail(Status(ErrorCode::kCorruption, "snapshot checksum mismatch"));
  }
  if (!reader.at_end()) {
    return fail(Status(ErrorCode::kCorruption, "snapshot: trailing bytes after checksum"));
  }
  if (Status s = load_meta(); !s.is_ok()) return fail(s);
  keys_with_ttl_.store(with_ttl, std::memory_order_release);
  return Status::ok();
}

Status StateMachine::restore_from_string(std::string_view bytes) {
  size_t pos = 0;
  return restore([&](char* buffer, size_t capacity) -> Result<size_t> {
    const size_t n = std::min(capacity, bytes.size() - pos);
    std::copy_n(bytes.data() + pos, n, buffer);
    pos += n;
    return n;
  });
}

Status StateMachine::load_meta() {
  reset_memory_state();
  Status status;
  engine_->scan(Space::kMeta, "", [&](std::string_view key, std::string_view value) {
    if (key == kAppliedKey) {
      if (value.size() != 24) {
        status = Status(ErrorCode::kCorruption, "applied record has a bad size");
        return false;
      }
      applied_index_.store(read_u64_be(value), std::memory_order_release);
      applied_term_ = Term(read_u64_be(value.substr(8)));
      now_ms_.store(static_cast<int64_t>(read_u64_be(value.substr(16))), std::memory_order_release);
      has_applied_record_ = true;
    } else if (key.size() == 9 && key[0] == 's') {
      pb::SessionHeader header;
      if (!header.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        status = Status(ErrorCode::kCorruption, "session record unreadable");
        return false;
      }
      Session& session = sessions_[read_u64_be(key.substr(1))];
      session.last_active_ms = header.last_active_ms();
      session.acked_sequence = header.acked_sequence();
    } else if (key.size() == 17 && key[0] == 'r') {
      sessions_[read_u64_be(key.substr(1))].cached_sequences.insert(read_u64_be(key.substr(9)));
    } else if (!key.empty() && key[0] == acl::kRecordPrefix) {
      status = acl_.load_record(key, value);
      return status.is_ok();
    } else {
      status = Status(ErrorCode::kCorruption, "unknown meta record");
      return false;
    }
    return true;
  });
  if (!status.is_ok()) return status;
  if (Status s = acl_.finish_load(); !s.is_ok()) return s;
  if (has_applied_record_) {
    // From here on the members are the record (see has_applied_record_).
    WriteBatch batch;
    batch.del(Space::kMeta, kAppliedKey);
    if (Status s = engine_->write(batch); !s.is_ok()) return s;
  }
  for (const auto& [client_id, session] : sessions_) {
    sessions_by_activity_.emplace(session.last_active_ms, client_id);
  }
  // Only a state that loaded completely is published: after a failed restore connections keep
  // the previous ACL rather than fall back to the seed.
  publish_acl();
  return Status::ok();
}

}  // namespace raftkv::kv
