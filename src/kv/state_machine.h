// The deterministic KV state machine applied to committed Raft entries.
//
// Determinism: apply() depends only on the entries and on Options (which must be identical on
// every replica): time is the leader-assigned timestamp in each entry, made monotonic
// (now = max(previous now, entry timestamp)); the local clock is never read. Replicas that
// applied the same entries have identical digest() and byte-identical snapshots.
//
// Expiry: a key set with a TTL expires at (entry time + TTL); it is absent for any command
// whose time is later. Expired keys are deleted lazily when a write command meets them.
//
// Client sessions (Raft thesis §6.3): a request with client_id != 0 is applied at most once.
// The session remembers the reply of every sequence above the client's acked_sequence (at most
// max_cached_replies_per_session; beyond that the oldest is forgotten and treated as acked);
// a retry of a remembered sequence returns the cached reply without re-executing; a retry of a
// forgotten (acked) one gets "ERR request sequence ... already acknowledged". A request for an
// unknown session with acked_sequence > 0 gets "SESSIONEXPIRED ..." (it may have been
// applied before the session expired, so re-applying it would be unsafe). Sessions idle for
// session_ttl_ms of entry time, or the least recently active beyond max_sessions, are
// removed. Clients must stop retrying a request well before session_ttl_ms.
//
// ACL (acl_state.h): RAFTKV.ACL entries change the replicated users, stored as meta records
// (so in snapshots); after each such entry, and after a restore, the state machine publishes
// the users to StateMachineOptions::acl, from which client connections check every command.
//
// Snapshots: snapshot() streams the current state synchronously (apply waits meanwhile);
// begin_snapshot() returns a SnapshotView that streams the state of that moment from any thread
// while apply() continues (copy-on-write; costs and contract in snapshot_view.h).
//
// Threads: apply(), snapshot(), begin_snapshot() and restore() are called from one thread (the
// apply thread).
// read() and applied_index() may be called from any thread when the engine has
// concurrent_reads(); a concurrent read sees each key's latest write atomically, but a
// multi-key read (MGET) concurrent with apply may mix states: serve ReadIndex reads on the
// apply thread between entries when multi-key atomicity matters.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/status.h"
#include "kv/acl_state.h"
#include "kv/commands.h"
#include "kv/engine.h"
#include "kv/reply.h"
#include "kv/snapshot_view.h"
#include "raft/types.h"

namespace raftkv::kv {

namespace pb {
class Request;  // proto/kv.proto
}  // namespace pb

struct StateMachineOptions {
  CommandLimits limits;
  int64_t session_ttl_ms = 60 * 60 * 1000;
  uint64_t max_sessions = 100'000;
  uint64_t max_cached_replies_per_session = 1024;
  // Where the ACL in force is published for the connections (may be null: not published). An
  // output, not an input: it may differ between replicas (its seed is the node's own).
  std::shared_ptr<acl::AclPublisher> acl;
};

// Fills up to `capacity` bytes at `buffer`; returns the count, 0 at the end of the snapshot.
using SnapshotSource = std::function<Result<size_t>(char* buffer, size_t capacity)>;

class StateMachine {
 public:
  StateMachine(std::unique_ptr<Engine> engine, StateMachineOptions options = {});
  // Requires that no SnapshotView of this state machine is alive.
  ~StateMachine();
  StateMachine(const StateMachine&) = delete;
  StateMachine& operator=(const StateMachine&) = delete;

  // Applies one committed entry. Requires entry.index == applied_index() + 1. Returns the reply
  // for the client that proposed it, or nullopt for entries without a command (the leader's
  // empty no-op, configuration changes). Malformed payloads get an error reply, never a crash.
  // Aborts the process if the engine fails to write (a durable engine's I/O error).
  std::optional<Reply> apply(const raft::Entry& entry);

  // Executes a read-only command (GET MGET EXISTS STRLEN SCAN DBSIZE) against the current
  // state at time max(now_ms, state time). Write commands get an error reply.
  Reply read(const std::vector<std::string>& args, int64_t now_ms) const;

  Index applied_index() const { return Index(applied_index_.load(std::memory_order_acquire)); }
  Term applied_term() const { return applied_term_; }
  // The state machine's time: the largest entry timestamp applied so far (Unix ms).
  int64_t now_ms() const { return now_ms_.load(std::memory_order_acquire); }
  size_t session_count() const { return sessions_.size(); }
  const Engine& engine() const { return *engine_; }
  // Keys in the data space, expired ones not yet deleted included (as Redis's DBSIZE). Any
  // thread when the engine has concurrent_reads().
  uint64_t key_count() const { return engine_->count(Space::kData); }
  // Keys stored with a TTL, the expired ones not yet deleted included (Redis's INFO keyspace
  // "expires" counts the same way). Any thread; exact as of the last apply() or restore().
  uint64_t keys_with_ttl() const { return keys_with_ttl_.load(std::memory_order_acquire); }
  // The replicated ACL (unset until the first RAFTKV.ACL entry). Apply thread.
  const acl::AclState& acl() const { return acl_; }

  // Streams a self-checking image of the whole state (data, sessions, applied index) to
  // `sink`, in chunks of about 64 KiB. Deterministic: equal states give equal bytes.
  Status snapshot(const SnapshotSink& sink) const;
  std::string snapshot_to_string() const;
  // Starts a point-in-time snapshot of the current state (applied index I) whose bytes are
  // written later, from any thread, by SnapshotView::write() while apply() continues; they equal
  // what snapshot() returns now. Copies the meta space (sessions) now. Fails with
  // kSnapshotTemporarilyUnavailable while another view is active (cancel or destroy it first),
  // and with kInvalidArgument when the engine has no concurrent_reads().
  Result<std::unique_ptr<SnapshotView>> begin_snapshot();
  // Keys and approximate bytes recorded by the active view's copy-on-write shadow (0, 0 when
  // none is active). Apply thread (SnapshotView::shadow_bytes() is for any thread).
  std::pair<size_t, size_t> snapshot_shadow_size() const;
  // Replaces the whole state with a snapshot. On error (kCorruption, kVersionMismatch, or the
  // source's error) the state machine is left empty (applied index 0) and must be restored
  // again before use.
  Status restore(const SnapshotSource& source);
  Status restore_from_string(std::string_view bytes);

  // A 64-bit hash of the whole state (the checksum of its snapshot stream), for comparing
  // replicas at the same applied index.
  uint64_t digest() const;

 private:
  struct Session {
    int64_t last_active_ms = 0;
    uint64_t acked_sequence = 0;
    std::set<uint64_t> cached_sequences;  // replies stored under meta "r" + id + seq
  };

  Reply apply_request(std::string_view payload, WriteBatch& batch);
  // A RAFTKV.ACL entry: changes acl_ and writes its user records to `batch`.
  Reply apply_acl(std::span<const std::string_view> args, WriteBatch& batch);
  void publish_acl() const;
  Reply apply_session_request(uint64_t client_id, uint64_t sequence, uint64_t acked_sequence,
                              std::span<const std::string_view> args, WriteBatch& batch);
  void expire_sessions(WriteBatch& batch, std::optional<uint64_t> keep_client);
  void remove_session(uint64_t client_id, WriteBatch& batch);
  void touch_session(uint64_t client_id, Session& session, WriteBatch& batch);
  void forget_cached_reply(uint64_t client_id, Session& session, uint64_t sequence,
                           WriteBatch& batch);
  // Rebuilds applied index, time and sessions from the engine's meta space, and takes the
  // applied record out of the engine (see has_applied_record_).
  Status load_meta();
  // Visits the meta space in key order as a snapshot holds it: the engine's meta records plus
  // the applied record made from the members.
  void scan_meta(const ScanVisitor& visit) const;
  void reset_memory_state();
  // The snapshot stream format of the current state (snapshot_stream.h).
  uint8_t snapshot_version() const;
  // Moves keys_with_ttl_ by what `batch` changes, before the engine applies it.
  void count_ttl_changes(const WriteBatch& batch);

  std::unique_ptr<Engine> engine_;
  const StateMachineOptions options_;

  // The meta record "applied" (value_codec.h) of the state is (applied_index_, applied_term_,
  // now_ms_). It is not stored in the engine (writing it on every entry cost an engine write
  // per entry): snapshot(), begin_snapshot() and digest() add it to the meta space they read
  // (scan_meta), and load_meta() takes it out of the engine after a restore. A state has the
  // record once it applied an entry or was restored from a snapshot that had one.
  // Invariant: the engine's meta space never holds "applied" outside load_meta().
  std::atomic<uint64_t> applied_index_{0};
  Term applied_term_;
  // Invariant: never decreases while applying.
  std::atomic<int64_t> now_ms_{0};
  bool has_applied_record_ = false;
  // Invariant: the number of kData values in the engine with stored_value_has_ttl().
  std::atomic<uint64_t> keys_with_ttl_{0};
  std::map<uint64_t, Session> sessions_;
  // Invariant: equals what the engine's "u" meta records describe (acl_state.h).
  acl::AclState acl_;
  bool acl_changed_ = false;     // by the entry being applied: publish once it is written
  uint64_t applying_index_ = 0;  // the index of the entry being applied
  // (last_active_ms, client_id) for every session: expiry order.
  std::set<std::pair<int64_t, uint64_t>> sessions_by_activity_;
  // Apply thread scratch, reused by every entry (apply_request): the parsed request and views
  // of its arguments (empty between entries).
  std::unique_ptr<pb::Request> request_;
  std::vector<std::string_view> args_;
  WriteBatch batch_;  // the batch of the entry being applied (apply())
  // The shadow of the latest view, or null. Dropped by the apply thread once the view ended.
  std::shared_ptr<detail::SnapshotShadow> shadow_;
};

}  // namespace raftkv::kv
