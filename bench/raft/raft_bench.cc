// The Raft core alone: 3 in-memory nodes, no I/O, messages delivered in-process.
// Reports committed (applied on the leader) entries per second at several proposal batch sizes,
// beside a reference measured in the same run: the cost of only moving the same entries through
// MemoryStorage on three nodes (what any replicated log must at least do here).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <vector>

#include "base/log.h"
#include "raft/memory_storage.h"
#include "raft/raft.h"

namespace raftkv::raft {
namespace {

class BenchCluster {
 public:
  explicit BenchCluster(int n) {
    set_log_level(LogLevel::kWarn);
    for (int i = 1; i <= n; ++i) {
      auto node = std::make_unique<Node>();
      node->rng = std::make_unique<SeededRng>(i);
      Config c;
      c.id = NodeId(i);
      for (int v = 1; v <= n; ++v) c.voters.push_back(NodeId(v));
      c.max_uncommitted_bytes = 0;
      node->raft = Raft::create(c, &node->storage, node->rng.get()).value();
      nodes_.push_back(std::move(node));
    }
    run();  // persist and apply the bootstrap membership
    (void)nodes_[0]->raft->campaign();
    run();
    if (nodes_[0]->raft->role() != Role::kLeader) {
      std::fprintf(stderr, "raft_bench: node 1 failed to become leader\n");
      std::abort();
    }
  }

  Raft& leader() { return *nodes_[0]->raft; }
  uint64_t applied_on_leader() const { return nodes_[0]->applied; }

  // Processes Readys and delivers messages until quiescent.
  void run() {
    bool moved = true;
    while (moved) {
      moved = false;
      for (auto& n : nodes_) {
        if (!n->raft->has_ready()) continue;
        moved = true;
        Ready rd = n->raft->ready();
        if (rd.snapshot) (void)n->storage.apply_snapshot(rd.snapshot);
        (void)n->storage.append(rd.entries);
        if (rd.hard_state) n->storage.set_hard_state(*rd.hard_state);
        for (auto& m : rd.messages) queue_.push_back(std::move(m));
        for (auto& m : rd.messages_after_persist) queue_.push_back(std::move(m));
        n->applied += rd.committed_entries.size();
        n->raft->advance(rd);
      }
      while (!queue_.empty()) {
        moved = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        (void)nodes_[m.to.value() - 1]->raft->step(std::move(m));
      }
    }
    maybe_compact();
  }

 private:
  struct Node {
    MemoryStorage storage;
    std::unique_ptr<SeededRng> rng;
    std::unique_ptr<Raft> raft;
    uint64_t applied = 0;
  };
  void maybe_compact() {
    for (auto& n : nodes_) {
      // Keep memory bounded: compact what this node has applied.
      const Index applied = n->raft->applied_index();
      if (applied > n->storage.first_index() + 100000) (void)n->storage.compact(applied - 1000);
    }
  }
  std::vector<std::unique_ptr<Node>> nodes_;
  std::deque<Message> queue_;
};

void BM_CommitBatched(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  BenchCluster c(3);
  const std::string payload(64, 'x');
  const uint64_t before = c.applied_on_leader();
  for (auto _ : state) {
    Message m{.type = MessageType::kPropose};
    m.entries.resize(batch, Entry{Term(), Index(), EntryType::kNormal, payload});
    (void)c.leader().step(std::move(m));
    c.run();
  }
  const uint64_t committed = c.applied_on_leader() - before;
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(committed), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_CommitBatched)->Arg(1)->Arg(16)->Arg(256)->Arg(1024);

// Reference: the same entries appended to three MemoryStorages and read back once (the data
// movement floor of 3-way in-memory replication, with no consensus at all).
void BM_ReferenceStorageOnly(benchmark::State& state) {
  const auto batch = static_cast<size_t>(state.range(0));
  MemoryStorage s[3];
  const std::string payload(64, 'x');
  uint64_t next = 1, moved = 0;
  for (auto _ : state) {
    std::vector<Entry> ents(batch, Entry{Term(1), Index(), EntryType::kNormal, payload});
    for (auto& e : ents) e.index = Index(next++);
    for (auto& st : s) (void)st.append(ents);
    auto back = s[0].entries(ents.front().index, ents.back().index + 1, UINT64_MAX);
    benchmark::DoNotOptimize(back);
    moved += batch;
    if (next - s[0].first_index().value() > 200000) {
      for (auto& st : s) (void)st.compact(Index(next - 1000));
    }
  }
  state.counters["entries/s"] =
      benchmark::Counter(static_cast<double>(moved), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ReferenceStorageOnly)->Arg(1)->Arg(16)->Arg(256)->Arg(1024);

}  // namespace
}  // namespace raftkv::raft

BENCHMARK_MAIN();
