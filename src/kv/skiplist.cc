#include "kv/skiplist.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>

#include "base/assert.h"

namespace raftkv::kv {

namespace {

// Bytewise three-way comparison (as memcmp, then shorter first), inlined: keys are short and
// share long prefixes ("key:000000001234"), where a call to memcmp costs more than the compare.
int compare_keys(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) {
      x = __builtin_bswap64(x);  // big-endian order = bytewise order
      y = __builtin_bswap64(y);
      return x < y ? -1 : 1;
    }
  }
  for (; i < n; ++i) {
    const auto x = static_cast<unsigned char>(a[i]);
    const auto y = static_cast<unsigned char>(b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}

}  // namespace

// An immutable value: its size, then its bytes, in one allocation.
struct ConcurrentSkipList::Value {
  size_t size;

  std::string_view view() const { return {reinterpret_cast<const char*>(this + 1), size}; }

  static const Value* make(std::string_view bytes) {
    void* memory = ::operator new(sizeof(Value) + bytes.size());
    auto* value = new (memory) Value{bytes.size()};
    if (!bytes.empty()) std::memcpy(value + 1, bytes.data(), bytes.size());
    return value;
  }
  static void destroy(const Value* value) {
    if (value != nullptr) ::operator delete(const_cast<Value*>(value));  // trivially destructible
  }
};

// A node is one allocation: this struct, then `height` next pointers, then the key bytes.
// Invariant: key and height never change after the node is published.
struct ConcurrentSkipList::Node {
  std::atomic<const Value*> value;
  uint32_t key_size;
  uint32_t height;

  std::atomic<Node*>* next() { return reinterpret_cast<std::atomic<Node*>*>(this + 1); }
  const std::atomic<Node*>* next() const {
    return reinterpret_cast<const std::atomic<Node*>*>(this + 1);
  }
  std::string_view key() const {
    return {reinterpret_cast<const char*>(next() + height), key_size};
  }
  Node* load_next(int level) const { return next()[level].load(std::memory_order_acquire); }
};
ConcurrentSkipList::Node* ConcurrentSkipList::new_node(std::string_view key, std::string_view value,
                                                       int height) {
  static_assert(sizeof(Node) % alignof(std::atomic<Node*>) == 0, "next pointers follow Node");
  RAFTKV_ASSERT(key.size() <= UINT32_MAX, "skiplist key of {} bytes is too long", key.size());
  const size_t bytes =
      sizeof(Node) + sizeof(std::atomic<Node*>) * static_cast<size_t>(height) + key.size();
  void* memory = ::operator new(bytes, std::align_val_t(alignof(Node)));
  Node* node = new (memory)
      Node{{Value::make(value)}, static_cast<uint32_t>(key.size()), static_cast<uint32_t>(height)};
  for (int i = 0; i < height; ++i) new (&node->next()[i]) std::atomic<Node*>(nullptr);
  if (!key.empty()) {
    std::memcpy(reinterpret_cast<char*>(node->next() + height), key.data(), key.size());
  }
  return node;
}

void ConcurrentSkipList::delete_node(Node* node) {
  Value::destroy(node->value.load(std::memory_order_relaxed));
  node->~Node();  // the next pointers are trivially destructible
  ::operator delete(node, std::align_val_t(alignof(Node)));
}

ConcurrentSkipList::ConcurrentSkipList(uint64_t seed)
    : head_(new_node("", "", kMaxHeight)), rng_state_(seed == 0 ? 1 : seed) {}

ConcurrentSkipList::~ConcurrentSkipList() {
  for (const auto& slot : slots_) {
    RAFTKV_ASSERT(slot.epoch.load() == 0, "skiplist destroyed while a reader is active");
  }
  Node* node = head_;
  while (node != nullptr) {
    Node* next = node->load_next(0);
    delete_node(node);
    node = next;
  }
  maybe_reclaim(/*force=*/true);
}

ConcurrentSkipList::ReaderGuard::ReaderGuard(const ConcurrentSkipList& list) : slot_(nullptr) {
  const size_t start = std::hash<std::thread::id>()(std::this_thread::get_id()) % kReaderSlots;
  while (slot_ == nullptr) {
    for (size_t i = 0; i < kReaderSlots && slot_ == nullptr; ++i) {
      ReaderSlot& candidate = list.slots_[(start + i) % kReaderSlots];
      uint64_t expected = 0;
      const uint64_t epoch = list.global_epoch_.load(std::memory_order_seq_cst);
      if (candidate.epoch.load(std::memory_order_relaxed) == 0 &&
          candidate.epoch.compare_exchange_strong(expected, epoch, std::memory_order_seq_cst)) {
        slot_ = &candidate;
      }
    }
    if (slot_ == nullptr) std::this_thread::yield();  // > kReaderSlots concurrent readers
  }
  // Orders the announcement before every load of the list (pairs with the writer's fence).
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

ConcurrentSkipList::ReaderGuard::~ReaderGuard() {
  slot_->epoch.store(0, std::memory_order_release);
}

int ConcurrentSkipList::random_height() {
  int height = 1;
  while (height < kMaxHeight) {
    rng_state_ ^= rng_state_ << 13;  // xorshift64
    rng_state_ ^= rng_state_ >> 7;
    rng_state_ ^= rng_state_ << 17;
    if ((rng_state_ & 3) != 0) break;  // grow with probability 1/4
    ++height;
  }
  return height;
}

ConcurrentSkipList::Node* ConcurrentSkipList::find_greater_or_equal(std::string_view key,
                                                                    Node** prev) const {
  Node* x = head_;
  int level = height_.load(std::memory_order_acquire) - 1;
  while (true) {
    Node* next = x->load_next(level);
    if (next != nullptr && compare_keys(next->key(), key) < 0) {
      x = next;
    } else {
      if (prev != nullptr) prev[level] = x;
      if (level == 0) return next;
      --level;
    }
  }
}

bool ConcurrentSkipList::put(std::string_view key, std::string_view value) {
  Node* prev[kMaxHeight];
  Node* found = find_greater_or_equal(key, prev);
  if (found != nullptr && found->key() == key) {
    const Value* old = found->value.exchange(Value::make(value), std::memory_order_acq_rel);
    retire(nullptr, old);
    return false;
  }
  const int height = random_height();
  const int current_height = height_.load(std::memory_order_relaxed);
  if (height > current_height) {
    for (int i = current_height; i < height; ++i) prev[i] = head_;
    // Readers that see the new height before the node find nullptr at the new levels from
    // head_, which is correct (they drop down a level).
    height_.store(height, std::memory_order_release);
  }
  Node* node = new_node(key, value, height);
  for (int i = 0; i < height; ++i) {
    node->next()[i].store(prev[i]->load_next(i), std::memory_order_relaxed);
  }
  // Publish bottom-up: a reader that finds the node at level i also finds it below.
  for (int i = 0; i < height; ++i) prev[i]->next()[i].store(node, std::memory_order_release);
  size_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

bool ConcurrentSkipList::erase(std::string_view key) {
  Node* prev[kMaxHeight];
  Node* found = find_greater_or_equal(key, prev);
  if (found == nullptr || found->key() != key) return false;
  // Unlink top-down; the node keeps its own next pointers so in-flight readers walk on.
  for (int i = static_cast<int>(found->height) - 1; i >= 0; --i) {
    RAFTKV_ASSERT(prev[i]->load_next(i) == found, "skiplist predecessor mismatch at level {}", i);
    prev[i]->next()[i].store(found->load_next(i), std::memory_order_release);
  }
  size_.fetch_sub(1, std::memory_order_relaxed);
  retire(found, nullptr);
  return true;
}

void ConcurrentSkipList::clear() {
  Node* node = head_->load_next(0);
  for (int i = 0; i < kMaxHeight; ++i) head_->next()[i].store(nullptr, std::memory_order_release);
  size_.store(0, std::memory_order_relaxed);
  // The unlinked chain is retired node by node (each keeps its forward pointers).
  while (node != nullptr) {
    Node* next = node->load_next(0);
    retire(node, nullptr);
    node = next;
  }
  maybe_reclaim(/*force=*/false);
}

void ConcurrentSkipList::retire(Node* node, const Value* value) {
  // The epoch is read after the unlink (program order + seq_cst), see the header.
  retired_.push_back(Retired{global_epoch_.load(std::memory_order_seq_cst), node, value});
  if (retired_.size() >= kReclaimThreshold) maybe_reclaim(/*force=*/false);
}

void ConcurrentSkipList::maybe_reclaim(bool force) {
  if (retired_.empty()) return;
  global_epoch_.fetch_add(1, std::memory_order_seq_cst);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  uint64_t min_active = UINT64_MAX;
  for (const auto& slot : slots_) {
    const uint64_t e = slot.epoch.load(std::memory_order_seq_cst);
    if (e != 0 && e < min_active) min_active = e;
  }
  RAFTKV_ASSERT(!force || min_active == UINT64_MAX, "forced reclaim with active readers");
  size_t kept = 0;
  for (auto& r : retired_) {
    if (r.epoch < min_active) {
      if (r.node != nullptr) delete_node(r.node);
      Value::destroy(r.value);
    } else {
      retired_[kept++] = r;
    }
  }
  retired_.resize(kept);
}

std::optional<std::string> ConcurrentSkipList::get(std::string_view key) const {
  ReaderGuard guard(*this);
  Node* node = find_greater_or_equal(key, nullptr);
  if (node == nullptr || node->key() != key) return std::nullopt;
  return std::string(node->value.load(std::memory_order_acquire)->view());
}

bool ConcurrentSkipList::read(std::string_view key,
                              const std::function<void(std::string_view)>& visit) const {
  ReaderGuard guard(*this);
  Node* node = find_greater_or_equal(key, nullptr);
  if (node == nullptr || node->key() != key) return false;
  visit(node->value.load(std::memory_order_acquire)->view());
  return true;
}

bool ConcurrentSkipList::contains(std::string_view key) const {
  ReaderGuard guard(*this);
  Node* node = find_greater_or_equal(key, nullptr);
  return node != nullptr && node->key() == key;
}

void ConcurrentSkipList::visit_from(
    std::string_view start,
    const std::function<bool(std::string_view, std::string_view)>& visit) const {
  ReaderGuard guard(*this);
  for (Node* node = find_greater_or_equal(start, nullptr); node != nullptr;
       node = node->load_next(0)) {
    if (!visit(node->key(), node->value.load(std::memory_order_acquire)->view())) return;
  }
}

}  // namespace raftkv::kv
