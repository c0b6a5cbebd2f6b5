// Storage engine interface of the KV state machine.
//
// An engine holds two ordered keyspaces:
//   kData: user keys → encoded values (see value_codec.h);
//   kMeta: the state machine's own records (client sessions, cached replies), written in the
//          same batches as the data so that a durable engine (RocksDB, later) keeps them
//          consistent with the data across crashes. The applied record (index, term, time) is
//          kept in the state machine's members and added only to snapshots (state_machine.h):
//          a durable engine will need it written into its batches again (per batch or at
//          each flush) so that a restart knows which index its data reflects.
// All writes go through write(WriteBatch): the ops of one batch are applied in order, and a
// durable engine applies a batch atomically. The state machine writes one batch per log entry.
//
// Threads: write() and clear() are called by one thread at a time (the apply thread). Reads of
// kData may run on other threads concurrently with write() when concurrent_reads() is true
// (each single op is atomic for them; a batch is not). Reads of kMeta are made by the apply
// thread only.
//
// Scan guarantee (relied upon by SnapshotView, see snapshot_view.cc): a kData scan that starts
// after the engine reached state S, running concurrently with write(), returns keys in strictly
// increasing order, and
//   - each value it returns is either the key's value in S or was stored by a write() call
//     whose start happens-before the scan returns that value;
//   - a key present in S that it does not return was removed by a write() call whose start
//     happens-before the scan returns the next key after it (or ends, for keys after the last).
// So anything the caller did before a write() call is visible to a scan that observed any of
// that call's effects. The skiplist engine gives this through release/acquire links and values:
// its single writer keeps the list sorted, an unlinked node's forward pointers still lead
// forward, and a link that skips a key was stored after that key's removal.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace raftkv::kv {

enum class Space : uint8_t { kData = 0, kMeta = 1 };

struct WriteOp {
  Space space = Space::kData;
  bool is_delete = false;
  std::string key;
  std::string value;  // empty for deletes
};

// A batch keeps the storage of its ops across clear(), so one batch reused for every entry
// allocates nothing in steady state (small ops only: see clear()).
class WriteBatch {
 public:
  void put(Space space, std::string_view key, std::string_view value) {
    add(space, false, key).value.assign(value);
  }
  // Adds a put and returns its value, empty, for the caller to fill in place.
  std::string& put_value(Space space, std::string_view key) { return add(space, false, key).value; }
  void del(Space space, std::string_view key) { add(space, true, key); }
  std::span<const WriteOp> ops() const { return {ops_.data(), size_}; }
  bool empty() const { return size_ == 0; }
  // Empties the batch. Keeps the storage of up to kMaxRetainedOps ops, each up to
  // kMaxRetainedBytes; a larger batch or op is freed, so a rare big one does not stay resident.
  void clear() {
    if (size_ > kMaxRetainedOps) {
      std::vector<WriteOp>().swap(ops_);
    } else {
      for (size_t i = 0; i < size_; ++i) {
        WriteOp& op = ops_[i];
        if (op.key.capacity() > kMaxRetainedBytes) std::string().swap(op.key);
        if (op.value.capacity() > kMaxRetainedBytes) std::string().swap(op.value);
      }
    }
    size_ = 0;
  }

 private:
  static constexpr size_t kMaxRetainedOps = 64;
  static constexpr size_t kMaxRetainedBytes = 4096;

  WriteOp& add(Space space, bool is_delete, std::string_view key) {
    if (size_ == ops_.size()) ops_.emplace_back();
    WriteOp& op = ops_[size_++];
    op.space = space;
    op.is_delete = is_delete;
    op.key.assign(key);
    op.value.clear();
    return op;
  }

  // ops_[0, size_) are the batch; later elements only hold storage for reuse.
  std::vector<WriteOp> ops_;
  size_t size_ = 0;
};

// Return false to stop the scan.
using ScanVisitor = std::function<bool(std::string_view key, std::string_view value)>;

class Engine {
 public:
  virtual ~Engine() = default;

  virtual std::string_view name() const = 0;
  // True when kData reads are safe concurrently with write().
  virtual bool concurrent_reads() const = 0;

  virtual std::optional<std::string> get(Space space, std::string_view key) const = 0;
  // Like get() without the copy: calls visit(value) when `key` is present (the view is valid
  // only during the call; `visit` must not write to the engine). Returns whether it was.
  virtual bool read(Space space, std::string_view key,
                    const std::function<void(std::string_view value)>& visit) const = 0;
  // Visits entries with key >= start in key order (bytewise) until `visit` returns false.
  virtual void scan(Space space, std::string_view start, const ScanVisitor& visit) const = 0;
  // Entries in `space`; for kData, safe concurrently with write() when concurrent_reads().
  virtual uint64_t count(Space space) const = 0;

  // Applies the batch (atomically in durable engines). An error (I/O) is fatal for the node.
  virtual Status write(const WriteBatch& batch) = 0;
  // Removes everything in both spaces (before a restore).
  virtual Status clear() = 0;
};

// Engine 1: in-memory, kData in a ConcurrentSkipList (lock-free readers), kMeta in a std::map
// (apply thread only). Nothing is durable: the node restores it from a snapshot plus the log.
std::unique_ptr<Engine> make_skiplist_engine();

}  // namespace raftkv::kv
