// Skiplist put/get throughput beside the reference: std::map behind a std::shared_mutex
// (writers take it exclusively, readers shared), measured in the same run on the same keys.
//   ./build/bench/kv/kv_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <vector>

#include "kv/skiplist.h"

namespace raftkv::kv {
namespace {

constexpr size_t kKeys = 100'000;
const std::string kValue(100, 'v');

const std::vector<std::string>& keys() {
  static const std::vector<std::string> k = [] {
    std::vector<std::string> out;
    std::mt19937_64 rng(1);
    for (size_t i = 0; i < kKeys; ++i) out.push_back("key:" + std::to_string(rng() % 100'000'000));
    return out;
  }();
  return k;
}

class LockedMap {
 public:
  void put(const std::string& k, const std::string& v) {
    std::unique_lock lock(mu_);
    map_[k] = v;
  }
  std::optional<std::string> get(const std::string& k) const {
    std::shared_lock lock(mu_);
    auto it = map_.find(k);
    if (it == map_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string> map_;
};

template <typename Store>
void BM_Put(benchmark::State& state) {
  const auto& k = keys();
  for (auto _ : state) {
    state.PauseTiming();
    auto store = std::make_unique<Store>();
    state.ResumeTiming();
    for (const auto& key : k) store->put(key, kValue);
    state.PauseTiming();
    store.reset();  // destruction not timed
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * k.size()));
}

// The store shared by reader threads, filled once (leaked on purpose: lives until exit).
template <typename Store>
Store& filled_store();

template <>
ConcurrentSkipList& filled_store<ConcurrentSkipList>() {
  static ConcurrentSkipList* list = [] {
    auto* l = new ConcurrentSkipList();
    for (const auto& key : keys()) l->put(key, kValue);
    return l;
  }();
  return *list;
}

template <>
LockedMap& filled_store<LockedMap>() {
  static LockedMap* map = [] {
    auto* m = new LockedMap();
    for (const auto& key : keys()) m->put(key, kValue);
    return m;
  }();
  return *map;
}

// Random gets of present keys; run with 1 and 2 threads (readers share the store).
template <typename Store>
void BM_Get(benchmark::State& state) {
  const auto& k = keys();
  auto& store = filled_store<Store>();
  std::mt19937_64 rng(static_cast<uint64_t>(state.thread_index()) + 7);
  size_t found = 0;
  for (auto _ : state) {
    auto v = store.get(k[rng() % k.size()]);
    found += v.has_value();
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// The apply-thread pattern: thread 0 overwrites random keys (the single writer) while thread 1
// reads. Items are per thread: the "/threads:2" figure is writer + reader operations.
template <typename Store>
void BM_GetBesideWriter(benchmark::State& state) {
  const auto& k = keys();
  auto& store = filled_store<Store>();
  std::mt19937_64 rng(static_cast<uint64_t>(state.thread_index()) + 11);
  size_t found = 0;
  const bool writer = state.thread_index() == 0;
  for (auto _ : state) {
    const auto& key = k[rng() % k.size()];
    if (writer) {
      store.put(key, kValue);
    } else {
      found += store.get(key).has_value();
    }
  }
  benchmark::DoNotOptimize(found);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
  state.SetLabel(writer ? "writer" : "reader");
}

BENCHMARK(BM_Put<ConcurrentSkipList>)->Name("put/skiplist")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Put<LockedMap>)->Name("put/std_map_shared_mutex")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Get<ConcurrentSkipList>)->Name("get/skiplist")->Threads(1)->Threads(2);
BENCHMARK(BM_Get<LockedMap>)->Name("get/std_map_shared_mutex")->Threads(1)->Threads(2);
BENCHMARK(BM_GetBesideWriter<ConcurrentSkipList>)->Name("put+get/skiplist")->Threads(2);
BENCHMARK(BM_GetBesideWriter<LockedMap>)->Name("put+get/std_map_shared_mutex")->Threads(2);

}  // namespace
}  // namespace raftkv::kv

BENCHMARK_MAIN();
