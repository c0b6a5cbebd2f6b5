// An ordered in-memory map from byte-string keys to byte-string values: a skiplist with one
// writer thread and any number of concurrent, lock-free readers.
//
// Concurrency scheme (who may call what):
//   - Writer methods (put, erase, clear) must be called from one thread at a time (the apply
//     thread); the caller serialises them.
//   - Reader methods (get, contains, visit_from, size) may run on any thread, concurrently with
//     the writer and with each other. A reader sees each single put/erase atomically (a key's
//     value is never torn), but a sequence of writes is not atomic for readers.
//
// Memory ordering:
//   - Publication (LevelDB's memtable scheme): a new node is fully built (key, value, its own
//     next pointers) before it is linked in with release stores, bottom level first; readers load
//     next pointers and value pointers with acquire, so a reader that reaches a node sees it
//     fully built. Keys are immutable after publication; a value is an immutable heap block
//     replaced as a whole (release exchange of the node's value pointer).
//
// Layout (skiplist.cc): a node is one allocation holding its header, its `height` next
// pointers and then its key bytes, so a key comparison reads the node's own memory (no second
// allocation to miss on); a value is one allocation (size + bytes).
//   - Reclamation (epoch-based, a single reclaimer = the writer): an erased node, or a replaced
//     value, is unlinked first and then retired with the global epoch R read after unlinking.
//     A reader announces the epoch e it read from the global counter in a reader slot, then
//     executes a seq_cst fence before touching the list. The writer frees a retired object only
//     after incrementing the global epoch, a seq_cst fence, and finding every active slot's
//     epoch > R. Why this is safe: if the writer's slot scan misses a reader's announcement,
//     the two fences order the reader's traversal after the unlink, so the reader cannot reach
//     the object; if the scan sees epoch e > R, the reader read the global epoch after an
//     increment made after the unlink (synchronises-with), so again it cannot reach it.
//     Objects retired at R with a reader announced at e <= R wait.
//   - Retired objects stay reachable only through other retired or live nodes' forward
//     pointers, which are never changed to point backwards, so a reader in an erased node still
//     walks forward to the end.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace raftkv::kv {

class ConcurrentSkipList {
 public:
  // `seed` drives node heights (writer-only state; deterministic for a given write sequence).
  explicit ConcurrentSkipList(uint64_t seed = 0x9e3779b97f4a7c15ull);
  ~ConcurrentSkipList();
  ConcurrentSkipList(const ConcurrentSkipList&) = delete;
  ConcurrentSkipList& operator=(const ConcurrentSkipList&) = delete;

  // --- Writer (one thread at a time). ---
  // Inserts or replaces. Returns true when the key was new.
  bool put(std::string_view key, std::string_view value);
  // Returns true when the key existed.
  bool erase(std::string_view key);
  void clear();

  // --- Readers (any thread, concurrently with the writer). ---
  std::optional<std::string> get(std::string_view key) const;
  bool contains(std::string_view key) const;
  // Calls visit(value) when `key` is present, without copying the value (valid only during the
  // call; `visit` must not call writer methods). Returns whether it was present.
  bool read(std::string_view key, const std::function<void(std::string_view)>& visit) const;
  // Calls visit(key, value) for each entry with key >= start in key order until it returns
  // false. `visit` must not call writer methods of this list.
  void visit_from(std::string_view start,
                  const std::function<bool(std::string_view, std::string_view)>& visit) const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }

  // Objects retired but not yet freed (for tests).
  size_t retired_count() const { return retired_.size(); }

 private:
  static constexpr int kMaxHeight = 12;
  static constexpr size_t kReaderSlots = 128;
  static constexpr size_t kReclaimThreshold = 256;

  struct Node;
  struct Value;
  struct Retired {
    uint64_t epoch;
    Node* node;          // erased node (frees its value too), or nullptr
    const Value* value;  // replaced value, or nullptr
  };
  struct alignas(64) ReaderSlot {
    std::atomic<uint64_t> epoch{0};  // 0 = free; otherwise the epoch announced by its reader
  };

  // RAII: announces a reader in a free slot for the guard's lifetime.
  class ReaderGuard {
   public:
    explicit ReaderGuard(const ConcurrentSkipList& list);
    ~ReaderGuard();
    ReaderGuard(const ReaderGuard&) = delete;
    ReaderGuard& operator=(const ReaderGuard&) = delete;

   private:
    ReaderSlot* slot_;
  };

  static Node* new_node(std::string_view key, std::string_view value, int height);
  static void delete_node(Node* node);
  int random_height();
  // First node with key >= `key` (or nullptr); fills prev[0..kMaxHeight) when given.
  Node* find_greater_or_equal(std::string_view key, Node** prev) const;
  void retire(Node* node, const Value* value);
  void maybe_reclaim(bool force);

  Node* head_;
  std::atomic<int> height_{1};  // highest level in use; only the writer changes it
  std::atomic<size_t> size_{0};
  uint64_t rng_state_;  // writer-only

  mutable std::array<ReaderSlot, kReaderSlots> slots_;
  std::atomic<uint64_t> global_epoch_{1};
  std::vector<Retired> retired_;  // writer-only
};

}  // namespace raftkv::kv
