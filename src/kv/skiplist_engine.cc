#include <map>

#include "kv/engine.h"
#include "kv/skiplist.h"

namespace raftkv::kv {
namespace {

class SkipListEngine final : public Engine {
 public:
  std::string_view name() const override { return "skiplist"; }
  bool concurrent_reads() const override { return true; }

  std::optional<std::string> get(Space space, std::string_view key) const override {
    if (space == Space::kData) return data_.get(key);
    auto it = meta_.find(key);
    if (it == meta_.end()) return std::nullopt;
    return it->second;
  }

  bool read(Space space, std::string_view key,
            const std::function<void(std::string_view value)>& visit) const override {
    if (space == Space::kData) return data_.read(key, visit);
    auto it = meta_.find(key);
    if (it == meta_.end()) return false;
    visit(it->second);
    return true;
  }

  void scan(Space space, std::string_view start, const ScanVisitor& visit) const override {
    if (space == Space::kData) {
      data_.visit_from(start, visit);
      return;
    }
    for (auto it = meta_.lower_bound(start); it != meta_.end(); ++it) {
      if (!visit(it->first, it->second)) return;
    }
  }

  uint64_t count(Space space) const override {
    return space == Space::kData ? data_.size() : meta_.size();
  }

  Status write(const WriteBatch& batch) override {
    for (const WriteOp& op : batch.ops()) {
      if (op.space == Space::kData) {
        if (op.is_delete) {
          data_.erase(op.key);
        } else {
          data_.put(op.key, op.value);
        }
      } else if (op.is_delete) {
        if (auto it = meta_.find(op.key); it != meta_.end()) meta_.erase(it);
      } else {
        meta_.insert_or_assign(op.key, op.value);
      }
    }
    return Status::ok();
  }

  Status clear() override {
    data_.clear();
    meta_.clear();
    return Status::ok();
  }

 private:
  ConcurrentSkipList data_;
  std::map<std::string, std::string, std::less<>> meta_;  // apply thread only
};

}  // namespace

std::unique_ptr<Engine> make_skiplist_engine() {
  return std::make_unique<SkipListEngine>();
}

}  // namespace raftkv::kv
