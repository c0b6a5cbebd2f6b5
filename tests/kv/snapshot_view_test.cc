// SnapshotView: a view begun at index I streams exactly the synchronous snapshot at I, however
// apply() interleaves with write() (before it, between its scan batches, on another thread).
// The reference is a second replica that applied only the entries up to I.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <latch>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "harness.h"
#include "kv/snapshot_view.h"

namespace raftkv::kv {
namespace {

using testing::bulk;
using testing::Harness;

// Seeded entries over keys "k00000".. in two phases: `sparse` ones touch only even key numbers;
// the others touch any, so they also create keys between existing ones. Every write command,
// short TTLs with time steps (keys expire and are deleted lazily by later writes), deletes and
// re-inserts of the same keys (a small key space), sessions, leader no-ops.
class Workload {
 public:
  Workload(uint64_t seed, uint64_t key_slots) : rng_(seed), key_slots_(key_slots) {}

  raft::Entry next(bool sparse) {
    const auto key = [&] {
      const uint64_t n = rng_() % key_slots_;
      return fmt::format("k{:05}", sparse ? 2 * n : 2 * n + rng_() % 2);
    };
    std::vector<std::string> args;
    switch (rng_() % 10) {
      case 0:
      case 1:
        args = {"SET", key(), std::string(1 + rng_() % 40, static_cast<char>('a' + rng_() % 26))};
        break;
      case 2:
        args = {"SET", key(), "t", "PX", std::to_string(1 + rng_() % 500)};
        break;
      case 3:
        args = {"DEL", key(), key(), key()};
        break;
      case 4:
        args = {"GETDEL", key()};
        break;
      case 5:
        args = {"APPEND", key(), "x"};
        break;
      case 6:
        args = {"INCRBY", key(), std::to_string(rng_() % 100)};
        break;
      case 7:
        args = {"MSET", key(), "a", key(), "b", key(), "c"};
        break;
      case 8:
        args = {"SET", key(), "n", "NX", "GET"};
        break;
      default:
        args = {"SETNX", key(), "s"};
        break;
    }
    now_ += static_cast<int64_t>(rng_() % 40) - 5;
    const RequestHeader header = testing::random_header(rng_, now_, sequence_, 2);
    raft::Entry e;
    e.index = Index(++index_);
    e.term = Term(1 + index_ / 500);
    if (rng_() % 25 != 0) e.data = encode_request(header, args);
    return e;
  }

 private:
  std::mt19937_64 rng_;
  uint64_t key_slots_;
  uint64_t index_ = 0;
  int64_t now_ = 1'700'000'000'000;
  uint64_t sequence_[4] = {0, 0, 0, 0};
};

// A and B apply the same `initial` sparse entries; A then begins a view (I).
struct Replicas {
  Replicas(uint64_t seed, uint64_t key_slots, size_t initial) : workload(seed, key_slots) {
    for (size_t i = 0; i < initial; ++i) {
      raft::Entry e = workload.next(/*sparse=*/true);
      (void)a.apply(e);
      (void)b.apply(e);
    }
  }
  void apply_to_a(size_t count) {
    for (size_t i = 0; i < count; ++i) (void)a.apply(workload.next(/*sparse=*/false));
  }

  Workload workload;
  StateMachine a{make_skiplist_engine()};
  StateMachine b{make_skiplist_engine()};
};

std::unique_ptr<SnapshotView> begin(StateMachine& sm) {
  auto view = sm.begin_snapshot();
  EXPECT_TRUE(view.is_ok()) << view.status().to_string();
  return std::move(view).value();
}

std::string write_with(const SnapshotView& view, const SnapshotWriteOptions& options) {
  std::string bytes;
  Status s = view.write(
      [&](std::string_view chunk) {
        bytes.append(chunk);
        return Status::ok();
      },
      options);
  EXPECT_TRUE(s.is_ok()) << s.to_string();
  return bytes;
}

TEST(SnapshotView, WrittenAfterLaterEntriesEqualsSnapshotAtItsPoint) {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    Replicas r(seed, 300, 2000);
    auto view = begin(r.a);
    EXPECT_EQ(view->index(), r.b.applied_index());
    EXPECT_EQ(view->term(), r.b.applied_term());
    const std::string expected = r.b.snapshot_to_string();
    r.apply_to_a(3000);  // overwrites, deletes, new keys in between, expiry, sessions
    ASSERT_NE(r.a.snapshot_to_string(), expected) << "the later entries changed nothing";
    EXPECT_GT(view->shadow_keys(), 300u);
    ASSERT_EQ(view->write_to_string(), expected) << "seed " << seed;
    // A second write after still more entries streams the same bytes.
    r.apply_to_a(500);
    EXPECT_EQ(view->write_to_string(), expected) << "seed " << seed;
  }
}

TEST(SnapshotView, EntriesAppliedBetweenScanBatchesDoNotLeakIn) {
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    Replicas r(seed, 200, 1500);
    auto view = begin(r.a);
    const std::string expected = r.b.snapshot_to_string();
    SnapshotWriteOptions options;
    options.scan_batch_keys = 1 + seed % 7;
    options.scan_batch_bytes = seed % 2 == 0 ? 64 : 1 << 20;
    size_t batches = 0;
    options.after_scan_batch = [&] {
      ++batches;
      r.apply_to_a(1 + seed % 5);
    };
    ASSERT_EQ(write_with(*view, options), expected) << "seed " << seed;
    EXPECT_GT(batches, 20u);
  }
}

// Each kind of change placed just behind, at, and ahead of the scan position.
TEST(SnapshotView, ChangesAroundTheScanPositionAreInvisible) {
  Harness h;
  for (const char* key : {"a", "c", "e", "g", "i", "k"}) h.run({"SET", key, key});
  h.run({"SET", "m", "ttl", "PX", "10"});
  Harness reference;
  ASSERT_TRUE(reference.sm().restore_from_string(h.sm().snapshot_to_string()).is_ok());
  auto view = begin(h.sm());
  SnapshotWriteOptions options;
  options.scan_batch_keys = 2;  // the hook runs after each batch of two scanned keys
  int batch = 0;
  options.after_scan_batch = [&] {
    switch (++batch) {
      case 1:
        h.run({"SET", "a", "changed"});  // already scanned
        h.run({"SET", "c", "changed"});  // scanned in this batch, not yet merged
        h.run({"DEL", "e"});             // ahead: deleted ...
        h.run({"SET", "f", "new"});      // ... a new key in its gap ...
        h.run({"DEL", "g"});             // ... deleted and re-inserted
        h.run({"SET", "g", "again"});
        h.run({"SET", "b", "behind"});  // a new key behind the scan
        break;
      case 2:
        h.run({"DEL", "i", "k"});      // ahead, the whole next batch
        h.run({"SET", "zz", "tail"});  // a new key after the last one
        h.advance_ms(100);
        h.run({"SET", "m", "expired"});  // overwrites the expired key
        break;
      default:
        h.run({"DEL", "a", "b", "c", "f", "g", "m", "zz"});
        break;
    }
  };
  EXPECT_EQ(write_with(*view, options), reference.sm().snapshot_to_string());
  EXPECT_GE(batch, 2);
  EXPECT_EQ(h.read({"GET", "g"}), Reply::null());
}

// Thousands of entries applied on one thread while another writes the view (run under
// ASan/UBSan in CI; under TSan on demand).
TEST(SnapshotView, ConcurrentWithApplyOnAnotherThread) {
  for (uint64_t seed = 1; seed <= 4; ++seed) {
    Replicas r(seed, 5000, 20000);
    auto view = begin(r.a);
    const std::string expected = r.b.snapshot_to_string();
    std::vector<raft::Entry> later;
    for (size_t i = 0; i < 5000; ++i) later.push_back(r.workload.next(/*sparse=*/false));
    std::latch start(2);
    std::atomic<size_t> applied_during_write{0};
    std::atomic<bool> writing{true};
    std::thread applier([&] {
      start.arrive_and_wait();
      for (const auto& e : later) {
        (void)r.a.apply(e);
        if (writing.load(std::memory_order_relaxed)) applied_during_write.fetch_add(1);
      }
    });
    SnapshotWriteOptions options;
    options.scan_batch_keys = 64;
    start.arrive_and_wait();
    const std::string bytes = write_with(*view, options);
    writing.store(false);
    applier.join();
    ASSERT_EQ(bytes, expected) << "seed " << seed;
    // How much really overlapped (informational: scheduling decides).
    std::printf("seed %lu: %zu of %zu entries applied while the view was written\n",
                static_cast<unsigned long>(seed), applied_during_write.load(), later.size());
  }
}

TEST(SnapshotView, RestoredViewHasTheDigestOfTheReplicaAtItsPoint) {
  Replicas r(7, 400, 3000);
  auto view = begin(r.a);
  r.apply_to_a(2000);
  std::vector<std::string> chunks;
  ASSERT_TRUE(view->write([&](std::string_view chunk) {
                    chunks.emplace_back(chunk);
                    return Status::ok();
                  })
                  .is_ok());
  std::string bytes;
  for (const auto& c : chunks) bytes += c;
  StateMachine restored(make_skiplist_engine());
  ASSERT_TRUE(restored.restore_from_string(bytes).is_ok());
  EXPECT_EQ(restored.digest(), r.b.digest());
  EXPECT_EQ(restored.applied_index(), view->index());
  EXPECT_EQ(restored.session_count(), r.b.session_count());
  // The digest is the checksum the stream ends with.
  EXPECT_EQ(read_u64_be(std::string_view(chunks.back()).substr(chunks.back().size() - 8)),
            r.b.digest());
  // And the restored replica continues exactly like the reference.
  for (size_t i = 0; i < 500; ++i) {
    raft::Entry e = r.workload.next(false);
    e.index = Index(restored.applied_index().value() + 1);
    ASSERT_EQ(restored.apply(e), r.b.apply(e)) << i;
  }
  EXPECT_EQ(restored.digest(), r.b.digest());
}

TEST(SnapshotView, CancelFailsWritesAndFreesTheShadow) {
  Replicas r(3, 300, 2000);
  auto view = begin(r.a);
  r.apply_to_a(100);
  ASSERT_GT(view->shadow_keys(), 0u);
  // Cancelled between two scan batches of a write.
  size_t batches = 0;
  SnapshotWriteOptions options{.scan_batch_keys = 8};
  options.after_scan_batch = [&] {
    if (++batches == 2) view->cancel();
  };
  Status s = view->write([](std::string_view) { return Status::ok(); }, options);
  EXPECT_EQ(s.code(), ErrorCode::kShutdown) << s.to_string();
  EXPECT_EQ(batches, 2u);
  EXPECT_EQ(view->shadow_keys(), 0u);
  EXPECT_EQ(view->shadow_bytes(), 0u);
  // Later writes fail at once; apply no longer records.
  EXPECT_EQ(view->write(nullptr).code(), ErrorCode::kShutdown);
  r.apply_to_a(100);
  EXPECT_EQ(r.a.snapshot_shadow_size(), std::make_pair(size_t{0}, size_t{0}));
  // A cancelled view does not block the next one, even while it is still alive.
  auto next = begin(r.a);
  EXPECT_EQ(next->write_to_string(), r.a.snapshot_to_string());
}

TEST(SnapshotView, CancelFromTheSinkStopsTheWrite) {
  Harness h;
  for (int i = 0; i < 2000; ++i) h.run({"SET", fmt::format("k{}", i), std::string(100, 'v')});
  auto view = begin(h.sm());
  size_t chunks = 0;
  Status s = view->write([&](std::string_view) {
    if (++chunks == 1) view->cancel();
    return Status::ok();
  });
  EXPECT_EQ(s.code(), ErrorCode::kShutdown) << s.to_string();
  EXPECT_EQ(chunks, 1u);
}

TEST(SnapshotView, SinkErrorIsReturned) {
  Replicas r(4, 100, 500);
  auto view = begin(r.a);
  Status s = view->write([](std::string_view) { return Status(ErrorCode::kNoSpace, "disk full"); });
  EXPECT_EQ(s.code(), ErrorCode::kNoSpace);
  EXPECT_EQ(view->write_to_string(), r.b.snapshot_to_string());  // the view is still usable
}

TEST(SnapshotView, ShadowIsFreedWhenTheViewEnds) {
  Harness h;
  for (int i = 0; i < 100; ++i) h.run({"SET", fmt::format("k{}", i), std::string(50, 'v')});
  auto view = begin(h.sm());
  EXPECT_EQ(h.sm().snapshot_shadow_size(), std::make_pair(size_t{0}, size_t{0}));
  for (int i = 0; i < 10; ++i) h.run({"SET", fmt::format("k{}", i), "new"});
  h.run({"SET", "k0", "again"});  // only the first modification is recorded
  h.run({"SET", "fresh", "x"});   // recorded as absent at I
  EXPECT_EQ(view->shadow_keys(), 11u);
  EXPECT_GE(view->shadow_bytes(), 10u * 50u);
  EXPECT_EQ(h.sm().snapshot_shadow_size().first, 11u);
  view.reset();
  EXPECT_EQ(h.sm().snapshot_shadow_size(), std::make_pair(size_t{0}, size_t{0}));
  for (int i = 0; i < 10; ++i) h.run({"SET", fmt::format("k{}", i), "later"});
  EXPECT_EQ(h.sm().snapshot_shadow_size(), std::make_pair(size_t{0}, size_t{0}));
}

TEST(SnapshotView, OnlyOneActiveView) {
  Harness h;
  h.run({"SET", "k", "1"});
  auto first = begin(h.sm());
  auto second = h.sm().begin_snapshot();
  EXPECT_EQ(second.code(), ErrorCode::kSnapshotTemporarilyUnavailable);
  h.run({"SET", "k", "2"});
  first.reset();
  auto third = begin(h.sm());
  h.run({"SET", "k", "3"});
  StateMachine copy(make_skiplist_engine());
  ASSERT_TRUE(copy.restore_from_string(third->write_to_string()).is_ok());
  EXPECT_EQ(copy.read({"GET", "k"}, 0), bulk("2"));
}

TEST(SnapshotView, RestoreCancelsTheActiveView) {
  Harness h;
  h.run({"SET", "k", "1"});
  const std::string image = h.sm().snapshot_to_string();
  auto view = begin(h.sm());
  h.run({"SET", "k", "2"});
  ASSERT_TRUE(h.sm().restore_from_string(image).is_ok());
  EXPECT_EQ(view->write(nullptr).code(), ErrorCode::kShutdown);
  EXPECT_TRUE(h.sm().begin_snapshot().is_ok());
}

TEST(SnapshotView, EmptyStateAndEmptyShadow) {
  StateMachine sm(make_skiplist_engine());
  auto view = begin(sm);
  EXPECT_EQ(view->index(), Index(0));
  EXPECT_EQ(view->write_to_string(), sm.snapshot_to_string());
  EXPECT_EQ(sm.digest(), StateMachine(make_skiplist_engine()).digest());
}

TEST(SnapshotViewDeathTest, StateMachineMustOutliveItsViews) {
  EXPECT_DEATH(
      {
        auto sm = std::make_unique<StateMachine>(make_skiplist_engine());
        auto view = sm->begin_snapshot();
        sm.reset();
      },
      "destroyed while a snapshot view is alive");
}

}  // namespace
}  // namespace raftkv::kv
