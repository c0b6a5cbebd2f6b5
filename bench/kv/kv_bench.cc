// Skiplist put/get throughput beside the reference: std::map behind a std::shared_mutex
// (writers take it exclusively, readers shared), measured in the same run on the same keys;
// and the apply thread's cost per committed SET entry (apply/set: Time = ns per entry).
//   ./build/bench/kv/kv_bench --benchmark_min_time=0.5
// Compare apply/set with an older build by running both binaries back to back:
//   ./build/bench/kv/kv_bench --benchmark_filter=apply --benchmark_repetitions=3
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <shared_mutex>
#include <string>
#include <vector>

#include "kv/skiplist.h"
#include "kv/state_machine.h"
#include "kv/value_codec.h"
#include "raft/types.h"

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

// What the node's apply thread does under `redis-benchmark -t set -d 100 -r 10000`: committed
// entries whose payload is kv::encode_request(header, {"SET", "key:%012d", 100-byte value})
// (no client session), 10,000 distinct keys in random order, applied one by one through
// StateMachine::apply. The keys are written once before timing, so the timed entries overwrite
// (the steady state of that benchmark). Time is ns per entry, reply destruction included.
void BM_ApplySet(benchmark::State& state) {
  constexpr int kDistinctKeys = 10'000;
  constexpr size_t kRing = 1 << 16;  // pre-encoded entries, reused with fresh indexes
  const std::string value(100, 'x');
  const int64_t start_ms = 1'700'000'000'000;
  const auto set_entry = [&](int key, int64_t timestamp_ms) {
    char name[32];
    std::snprintf(name, sizeof(name), "key:%012d", key);
    RequestHeader header;
    header.timestamp_ms = timestamp_ms;
    raft::Entry entry;
    entry.term = Term(1);
    entry.data = encode_request(header, {"SET", name, value});
    return entry;
  };
  StateMachine sm(make_skiplist_engine());
  uint64_t index = 0;
  for (int k = 0; k < kDistinctKeys; ++k) {
    raft::Entry entry = set_entry(k, start_ms);
    entry.index = Index(++index);
    sm.apply(entry);
  }
  std::vector<raft::Entry> ring;
  std::mt19937_64 rng(3);
  for (size_t i = 0; i < kRing; ++i) {
    ring.push_back(set_entry(static_cast<int>(rng() % kDistinctKeys),
                             start_ms + static_cast<int64_t>(i / 64)));
  }
  size_t next = 0;
  for (auto _ : state) {
    raft::Entry& entry = ring[next++ % kRing];
    entry.index = Index(++index);
    auto reply = sm.apply(entry);
    benchmark::DoNotOptimize(reply);
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK(BM_ApplySet)->Name("apply/set");
BENCHMARK(BM_Put<ConcurrentSkipList>)->Name("put/skiplist")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Put<LockedMap>)->Name("put/std_map_shared_mutex")->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Get<ConcurrentSkipList>)->Name("get/skiplist")->Threads(1)->Threads(2);
BENCHMARK(BM_Get<LockedMap>)->Name("get/std_map_shared_mutex")->Threads(1)->Threads(2);
BENCHMARK(BM_GetBesideWriter<ConcurrentSkipList>)->Name("put+get/skiplist")->Threads(2);
BENCHMARK(BM_GetBesideWriter<LockedMap>)->Name("put+get/std_map_shared_mutex")->Threads(2);

}  // namespace
}  // namespace raftkv::kv

BENCHMARK_MAIN();
