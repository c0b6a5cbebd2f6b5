// Streamed InstallSnapshot (Raft §7, thesis §5.3 "chunks"): the leader's driver sends its
// snapshot file to a follower's driver in chunks; the core only sees snapshot metadata.
//
// Protocol (kSnapChunk / kSnapChunkResp, raft/types.h):
//   - The core asks for a snapshot to follower F (a kSnap in Ready.messages). The sender opens
//     the durable snapshot file (the open file survives a newer snapshot replacing it) and sends
//     chunks of `chunk_bytes`, each with its offset, the file size and a CRC32C. At most
//     `window_chunks` chunks are unacknowledged (flow control); the first chunk goes alone so
//     that the receiver can name the offset it already holds.
//   - The receiver writes chunks in order to "<snapshot>.partial" and answers each chunk with
//     the next offset it wants, naming the snapshot by (index, term) so that a late answer about
//     another snapshot is ignored. A chunk at any other offset, or with a bad CRC, is answered
//     with the offset wanted. When the file is complete it is fsynced, verified (format and
//     whole-file checksum) and handed to the core as a kSnap with the metadata; a file that
//     fails verification is deleted and answered with reject (start over).
//   - Resuming: the partial file survives disconnects and restarts; a new transfer of the same
//     snapshot continues from the receiver's offset. After `resend_after` without progress the
//     sender goes back to the last acknowledged offset (go-back-N); after `give_up_after` it
//     reports failure to the core, which retries later (and resumes).
//   - Throttle: at most `max_bytes_per_sec` (0 = unlimited), refilled every tick.
// The leader keeps the log after every snapshot in flight (min_in_flight_index()), so a
// follower that finishes installing is caught up from the log, never sent into another
// snapshot by a compaction that happened meanwhile.
//
// Threads: both classes are used on the raft strand only.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/log.h"
#include "raft/types.h"
#include "storage/file_system.h"
#include "storage/snapshot_file.h"
#include "storage/wal.h"

namespace raftkv::node {

using SteadyTime = std::chrono::steady_clock::time_point;

struct SnapshotTransferOptions {
  uint64_t chunk_bytes = uint64_t{1} << 20;
  uint64_t window_chunks = 4;
  uint64_t max_bytes_per_sec = 0;  // 0: unthrottled
  std::chrono::milliseconds resend_after{2'000};
  std::chrono::milliseconds give_up_after{30'000};
};

struct SnapshotTransferStats {
  uint64_t started = 0;    // transfers begun (sender)
  uint64_t completed = 0;  // the follower verified the whole file
  uint64_t failed = 0;     // given up (reported to the core)
  uint64_t resumed = 0;    // transfers that continued from a partial file (either side counts)
  uint64_t bytes_sent = 0;
  uint64_t received = 0;  // complete, verified files handed to the core (receiver)
  uint64_t bytes_received = 0;
};

using SendFn = std::function<void(raft::Message)>;

class SnapshotSender {
 public:
  SnapshotSender(NodeId self, storage::Wal& wal, SnapshotTransferOptions options, Logger log);

  // The core wants `meta` installed on `to` (term: the leader's term). Continues a transfer of
  // the same snapshot already running; returns false when the file cannot be opened (report
  // failure to the core).
  bool start(NodeId to, Term term, const raft::SnapshotMeta& meta, SteadyTime now,
             const SendFn& send);
  // A follower's kSnapChunkResp. Returns true when the transfer to m.from just completed.
  bool on_response(const raft::Message& m, SteadyTime now, const SendFn& send);
  // Refills the throttle, resends after silence; returns the peers given up on.
  std::vector<NodeId> tick(SteadyTime now, const SendFn& send);
  // Leadership lost: drop every transfer.
  void clear() { out_.clear(); }

  size_t in_flight() const { return out_.size(); }
  // The lowest snapshot index being sent, or Index() when none: the log after it must stay.
  Index min_in_flight_index() const;
  const SnapshotTransferStats& stats() const { return stats_; }

 private:
  struct Outgoing {
    Term term;
    raft::SnapshotMeta meta;
    std::unique_ptr<storage::SnapshotFileReader> file;
    uint64_t total = 0;
    uint64_t acked = 0;  // the receiver has every byte before this
    uint64_t next = 0;   // next byte to send
    bool awaiting_first_answer = true;
    SteadyTime last_progress;
    SteadyTime last_resend;
  };
  void pump(NodeId to, Outgoing& o, const SendFn& send);

  const NodeId self_;
  storage::Wal& wal_;
  const SnapshotTransferOptions options_;
  Logger log_;
  std::map<NodeId, Outgoing> out_;
  int64_t tokens_ = 0;  // throttle budget in bytes (may go negative by one chunk)
  SteadyTime last_refill_;
  SnapshotTransferStats stats_;
};

class SnapshotReceiver {
 public:
  SnapshotReceiver(NodeId self, storage::FileSystem& fs, const storage::SnapshotStore& store,
                   Logger log);

  // A complete file to make durable and verify off the raft strand (fsync and a checksum pass
  // over the whole file take as long as the snapshot is big): run verify() on another thread,
  // then hand its result to on_verified() on the strand.
  struct Verification {
    std::string path;
    raft::SnapshotMeta meta;
    uint64_t total = 0;
    NodeId leader;  // whose chunks these were, and in which term (for the final answer)
    Term term;
  };
  struct Verified {
    Status status;
    std::shared_ptr<storage::SnapshotFileReader> file;  // set when status is ok
  };

  struct Outcome {
    std::optional<raft::Message> reply;  // kSnapChunkResp for the sender
    // Set once the file is complete and verified: step `install` (a kSnap carrying the
    // metadata) into the core; `file` reads the verified file for the state machine.
    std::optional<raft::Message> install;
    std::shared_ptr<storage::SnapshotFileReader> file;
    // Set when the last byte arrived: verify it (no reply until then).
    std::optional<Verification> verify;
  };
  Outcome on_chunk(const raft::Message& m);
  // Thread-safe, touches no receiver state: fsyncs and verifies the file of `v`.
  static Verified verify(storage::FileSystem& fs, const Verification& v);
  // The result of verify(v): the install (or, if the file is bad, a restart from byte 0) and
  // the answer to the last chunk. Ignored if another transfer has begun meanwhile.
  Outcome on_verified(const Verification& v, Verified result);

  bool in_flight() const { return in_.has_value() && in_->received < in_->total; }
  const SnapshotTransferStats& stats() const { return stats_; }

 private:
  struct Incoming {
    raft::SnapshotMeta meta;
    uint64_t total = 0;
    uint64_t received = 0;
    bool installed = false;
    bool verifying = false;  // complete, verify() running; chunks get no answer meanwhile
    std::string path;
    std::unique_ptr<storage::File> file;
  };
  // Opens (or resumes) the partial file for this snapshot.
  Status begin(const raft::SnapshotMeta& meta, uint64_t total);
  void abandon(bool remove_file);
  raft::Message reply_to(const raft::Message& m, uint64_t offset, bool reject) const;
  raft::Message reply_to(NodeId to, Term term, const raft::SnapshotMeta& meta, uint64_t total,
                         uint64_t offset, bool reject) const;

  const NodeId self_;
  storage::FileSystem& fs_;
  const storage::SnapshotStore& store_;
  Logger log_;
  std::optional<Incoming> in_;
  SnapshotTransferStats stats_;
};

}  // namespace raftkv::node
