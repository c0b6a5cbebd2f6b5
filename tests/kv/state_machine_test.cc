// StateMachine: determinism, snapshots, sessions (exactly-once), malformed entries.
#include <gtest/gtest.h>

#include <random>

#include "harness.h"
#include "kv/value_codec.h"
#include "proto/kv.pb.h"

namespace raftkv::kv {
namespace {

using testing::bulk;
using testing::Harness;
using testing::integer;

// A random but seeded workload of every write command, with sessions and time steps.
std::vector<raft::Entry> random_entries(uint64_t seed, size_t count) {
  std::mt19937_64 rng(seed);
  std::vector<raft::Entry> entries;
  int64_t now = 1'700'000'000'000;
  uint64_t sequence[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < count; ++i) {
    const std::string key = "k" + std::to_string(rng() % 50);
    std::vector<std::string> args;
    switch (rng() % 8) {
      case 0:
        args = {"SET", key, std::to_string(rng())};
        break;
      case 1:
        args = {"SET", key, "v", "PX", std::to_string(1 + rng() % 2000)};
        break;
      case 2:
        args = {"INCRBY", key, std::to_string(rng() % 100)};
        break;
      case 3:
        args = {"APPEND", key, "x"};
        break;
      case 4:
        args = {"DEL", key, "k" + std::to_string(rng() % 50)};
        break;
      case 5:
        args = {"MSET", key, "a", "k" + std::to_string(rng() % 50), "b"};
        break;
      case 6:
        args = {"GETDEL", key};
        break;
      default:
        args = {"SET", key, "y", "NX", "GET"};
        break;
    }
    now += static_cast<int64_t>(rng() % 100) - 10;  // leader clocks may step back a little
    const RequestHeader header = testing::random_header(rng, now, sequence, 3);
    raft::Entry e;
    e.term = Term(1 + i / 100);
    e.index = Index(i + 1);
    if (rng() % 20 != 0) e.data = encode_request(header, args);  // some leader no-ops
    entries.push_back(std::move(e));
  }
  return entries;
}

TEST(StateMachine, SameEntriesGiveSameDigestAndSnapshotBytes) {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    StateMachine a(make_skiplist_engine());
    StateMachine b(make_skiplist_engine());
    for (const auto& e : random_entries(seed, 2000)) {
      ASSERT_EQ(a.apply(e), b.apply(e));
    }
    EXPECT_EQ(a.digest(), b.digest());
    EXPECT_EQ(a.snapshot_to_string(), b.snapshot_to_string());
    EXPECT_EQ(a.applied_index(), Index(2000));
    EXPECT_GT(a.session_count(), 0u);
  }
}

// The snapshot format is an on-disk and wire format: the bytes of a given state must not change
// without a format version bump. Golden digests (stream checksums) of seeded workloads at a few
// points, from a snapshot, from a view begun at that point, and after a restore; they were
// taken when the applied record was still written into the engine on every entry.
TEST(StateMachine, SnapshotBytesOfAGivenStateAreStable) {
  struct Golden {
    size_t applied;
    uint64_t digest;
    size_t bytes;
  };
  const Golden golden[] = {{0, 4121774395710787316ull, 17},
                           {1, 3983329727806870287ull, 60},
                           {20, 13477150816205077598ull, 472},
                           {1500, 3470014218465364822ull, 801},
                           {3000, 366157943687818676ull, 914}};
  const auto entries = random_entries(7, 3000);
  StateMachine sm(make_skiplist_engine());
  size_t applied = 0;
  for (const Golden& g : golden) {
    while (applied < g.applied) (void)sm.apply(entries[applied++]);
    const std::string bytes = sm.snapshot_to_string();
    EXPECT_EQ(sm.digest(), g.digest) << "at " << g.applied;
    EXPECT_EQ(bytes.size(), g.bytes) << "at " << g.applied;
    auto view = sm.begin_snapshot();
    ASSERT_TRUE(view.is_ok());
    if (applied < entries.size()) (void)sm.apply(entries[applied++]);  // the view ignores it
    EXPECT_EQ((*view)->write_to_string(), bytes) << "at " << g.applied;
    view->reset();
    StateMachine restored(make_skiplist_engine());
    ASSERT_TRUE(restored.restore_from_string(bytes).is_ok());
    EXPECT_EQ(restored.snapshot_to_string(), bytes) << "at " << g.applied;
    EXPECT_EQ(restored.applied_index(), Index(g.applied));
    // Back to the golden point for the next round (the extra entry was applied above).
    if (applied > g.applied) {
      ASSERT_TRUE(sm.restore_from_string(bytes).is_ok());
      applied = g.applied;
    }
  }
}

TEST(StateMachine, DifferentStatesGiveDifferentDigests) {
  Harness a, b;
  a.run({"SET", "k", "1"});
  b.run({"SET", "k", "2"});
  EXPECT_NE(a.sm().digest(), b.sm().digest());
}

TEST(StateMachine, SnapshotRestoreRoundTripThenIdenticalFuture) {
  const auto entries = random_entries(9, 3000);
  StateMachine source(make_skiplist_engine());
  for (size_t i = 0; i < 2000; ++i) (void)source.apply(entries[i]);
  // Stream in small chunks to exercise chunking on both sides.
  std::vector<std::string> chunks;
  ASSERT_TRUE(source
                  .snapshot([&](std::string_view chunk) {
                    chunks.emplace_back(chunk);
                    return Status::ok();
                  })
                  .is_ok());
  std::string bytes;
  for (const auto& c : chunks) bytes += c;
  StateMachine restored(make_skiplist_engine());
  size_t pos = 0;
  ASSERT_TRUE(restored
                  .restore([&](char* buffer, size_t capacity) -> Result<size_t> {
                    const size_t n = std::min<size_t>({capacity, 333, bytes.size() - pos});
                    std::copy_n(bytes.data() + pos, n, buffer);
                    pos += n;
                    return n;
                  })
                  .is_ok());
  EXPECT_EQ(restored.digest(), source.digest());
  EXPECT_EQ(restored.applied_index(), source.applied_index());
  EXPECT_EQ(restored.now_ms(), source.now_ms());
  EXPECT_EQ(restored.session_count(), source.session_count());
  // The restored replica continues exactly like the original (sessions included).
  for (size_t i = 2000; i < entries.size(); ++i) {
    ASSERT_EQ(restored.apply(entries[i]), source.apply(entries[i])) << i;
  }
  EXPECT_EQ(restored.digest(), source.digest());
}

TEST(StateMachine, CorruptOrTruncatedSnapshotIsRejected) {
  Harness h;
  h.run({"SET", "k", "v"});
  const std::string good = h.sm().snapshot_to_string();
  StateMachine target(make_skiplist_engine());
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] ^= 0x20;
    EXPECT_FALSE(target.restore_from_string(bad).is_ok()) << "flip at " << i;
    EXPECT_EQ(target.applied_index(), Index(0));
    EXPECT_FALSE(target.restore_from_string(good.substr(0, i)).is_ok()) << "truncated " << i;
  }
  std::string newer = good;
  newer[7] = 3;  // 1 and 2 are read (2 adds ACL records)
  EXPECT_EQ(target.restore_from_string(newer).code(), ErrorCode::kVersionMismatch);
  EXPECT_FALSE(target.restore_from_string(good + "x").is_ok());
  ASSERT_TRUE(target.restore_from_string(good).is_ok());
  EXPECT_EQ(target.read({"GET", "k"}, 0), bulk("v"));
}

TEST(StateMachine, RetryOfAppliedRequestReturnsCachedReplyAndAppliesOnce) {
  Harness h;
  RequestHeader client{.client_id = 7, .sequence = 1};
  EXPECT_EQ(h.run({"INCR", "counter"}, client), integer(1));
  // The same request committed again (retried through a new leader): not re-applied.
  EXPECT_EQ(h.run({"INCR", "counter"}, client), integer(1));
  EXPECT_EQ(h.run({"APPEND", "log", "x"}, {.client_id = 7, .sequence = 2}), integer(1));
  EXPECT_EQ(h.run({"APPEND", "log", "x"}, {.client_id = 7, .sequence = 2}), integer(1));
  EXPECT_EQ(h.read({"GET", "counter"}), bulk("1"));
  EXPECT_EQ(h.read({"GET", "log"}), bulk("x"));
  // Out-of-order arrival (pipelined requests retried in another order) is fine.
  EXPECT_EQ(h.run({"INCR", "counter"}, {.client_id = 7, .sequence = 4}), integer(2));
  EXPECT_EQ(h.run({"INCR", "counter"}, {.client_id = 7, .sequence = 3}), integer(3));
  EXPECT_EQ(h.run({"INCR", "counter"}, {.client_id = 7, .sequence = 4}), integer(2));
  // Acknowledged replies are forgotten; a stale retry of one gets an error, not a re-apply.
  EXPECT_EQ(h.run({"INCR", "counter"}, {.client_id = 7, .sequence = 5, .acked_sequence = 4}),
            integer(4));
  EXPECT_TRUE(
      h.run({"INCR", "counter"}, {.client_id = 7, .sequence = 2, .acked_sequence = 4}).is_error());
  EXPECT_EQ(h.read({"GET", "counter"}), bulk("4"));
  // Requests without a session are applied each time.
  EXPECT_EQ(h.run({"INCR", "counter"}), integer(5));
  EXPECT_EQ(h.run({"INCR", "counter"}), integer(6));
}

TEST(StateMachine, SessionsSurviveSnapshots) {
  Harness h;
  EXPECT_EQ(h.run({"INCR", "c"}, {.client_id = 3, .sequence = 1}), integer(1));
  StateMachine copy(make_skiplist_engine());
  ASSERT_TRUE(copy.restore_from_string(h.sm().snapshot_to_string()).is_ok());
  raft::Entry retry = h.entry(
      encode_request({.client_id = 3, .sequence = 1, .timestamp_ms = h.now_ms()}, {"INCR", "c"}));
  EXPECT_EQ(copy.apply(retry), integer(1));
  EXPECT_EQ(copy.read({"GET", "c"}, 0), bulk("1"));
}

TEST(StateMachine, SessionsExpireByEntryTime) {
  StateMachineOptions options;
  options.session_ttl_ms = 10'000;
  Harness h(options);
  EXPECT_EQ(h.run({"INCR", "c"}, {.client_id = 1, .sequence = 1}), integer(1));
  EXPECT_EQ(h.run({"INCR", "c"}, {.client_id = 2, .sequence = 1}), integer(2));
  h.advance_ms(6'000);
  EXPECT_EQ(h.run({"INCR", "c"}, {.client_id = 2, .sequence = 2, .acked_sequence = 1}), integer(3));
  h.advance_ms(6'000);  // client 1 idle for 12 s > TTL; client 2 for 6 s
  EXPECT_EQ(h.run({"GET", "c"}), bulk("3"));
  EXPECT_EQ(h.sm().session_count(), 1u);
  // Client 1's retry after expiry is refused rather than applied twice.
  EXPECT_EQ(h.run({"INCR", "c"}, {.client_id = 1, .sequence = 2, .acked_sequence = 1})
                .text.rfind("SESSIONEXPIRED", 0),
            0u);
  EXPECT_EQ(h.read({"GET", "c"}), bulk("3"));
}

TEST(StateMachine, SessionTableAndReplyCacheAreBounded) {
  StateMachineOptions options;
  options.max_sessions = 3;
  options.max_cached_replies_per_session = 2;
  Harness h(options);
  for (uint64_t client = 1; client <= 5; ++client) {
    h.advance_ms(1);
    h.run({"INCR", "c"}, {.client_id = client, .sequence = 1});
  }
  EXPECT_EQ(h.sm().session_count(), 3u);
  for (uint64_t seq = 1; seq <= 4; ++seq) h.run({"INCR", "d"}, {.client_id = 9, .sequence = seq});
  // Sequences 1 and 2 fell out of the cache: retries are refused, 3 and 4 are answered.
  EXPECT_TRUE(h.run({"INCR", "d"}, {.client_id = 9, .sequence = 1}).is_error());
  EXPECT_EQ(h.run({"INCR", "d"}, {.client_id = 9, .sequence = 4}), integer(4));
  EXPECT_EQ(h.read({"GET", "d"}), bulk("4"));
}

TEST(StateMachine, MalformedAndNonCommandEntries) {
  Harness h;
  raft::Entry noop = h.entry("");
  EXPECT_FALSE(h.sm().apply(noop).has_value());
  raft::Entry garbage = h.entry("\xff\xff\xff");
  auto reply = h.sm().apply(garbage);
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->text, "ERR malformed command entry");
  raft::Entry conf = h.entry("x");
  conf.type = raft::EntryType::kConfChange;
  EXPECT_FALSE(h.sm().apply(conf).has_value());
  EXPECT_EQ(h.sm().applied_index(), Index(3));
  EXPECT_EQ(h.run({"SET", "k", "v"}), Reply::ok());
}

TEST(StateMachine, TimeIsMonotonicAcrossLeaderClockSteps) {
  Harness h;
  h.run({"SET", "k", "v", "PX", "1000"});
  const int64_t t0 = h.sm().now_ms();
  h.advance_ms(-500'000);  // a new leader whose clock is behind
  h.run({"SET", "x", "1"});
  EXPECT_EQ(h.sm().now_ms(), t0);
  EXPECT_EQ(h.read({"GET", "k"}), bulk("v"));
}

// The keys in `sm` whose stored value has a TTL, counted by a full scan.
uint64_t scan_keys_with_ttl(const StateMachine& sm) {
  uint64_t n = 0;
  sm.engine().scan(Space::kData, "", [&](std::string_view, std::string_view value) {
    n += stored_value_has_ttl(value) ? 1 : 0;
    return true;
  });
  return n;
}

// Issue 11: INFO keyspace said expires=0 while keys with a TTL existed.
TEST(StateMachine, KeysWithTtlCountsEveryKeyStoredWithAnExpiry) {
  Harness h;
  h.run({"SET", "a", "1", "EX", "100"});
  h.run({"SET", "b", "1"});
  h.run({"SET", "c", "1", "PX", "5"});
  EXPECT_EQ(h.sm().keys_with_ttl(), 2u);
  h.run({"SET", "a", "2"});  // a plain SET drops the TTL
  EXPECT_EQ(h.sm().keys_with_ttl(), 1u);
  h.run({"SET", "b", "2", "EX", "100"});
  h.run({"APPEND", "b", "x"});  // keeps the TTL
  EXPECT_EQ(h.sm().keys_with_ttl(), 2u);
  h.run({"DEL", "b", "nosuchkey"});
  EXPECT_EQ(h.sm().keys_with_ttl(), 1u);
  h.advance_ms(10);  // c is expired but still stored (as Redis counts it) until a write meets it
  EXPECT_EQ(h.sm().keys_with_ttl(), 1u);
  h.run({"SET", "c", "3"});
  EXPECT_EQ(h.sm().keys_with_ttl(), 0u);
  // One entry writing a key twice, and one with more ops than the look-back (the map path).
  h.run({"MSET", "d", "1", "d", "2"});
  h.run({"SET", "e", "1", "EX", "100"});
  std::vector<std::string> big = {"MSET"};
  for (int i = 0; i < 40; ++i) {
    big.push_back(i % 2 == 0 ? "e" : "k" + std::to_string(i));
    big.push_back("v");
  }
  h.run(big);
  EXPECT_EQ(h.sm().keys_with_ttl(), 0u);
  EXPECT_EQ(h.sm().keys_with_ttl(), scan_keys_with_ttl(h.sm()));
}

TEST(StateMachine, KeysWithTtlMatchesAScanUnderARandomWorkloadAndAcrossRestore) {
  StateMachine sm(make_skiplist_engine());
  const auto entries = random_entries(11, 3000);
  for (size_t i = 0; i < entries.size(); ++i) {
    (void)sm.apply(entries[i]);
    if (i % 100 == 0) {
      ASSERT_EQ(sm.keys_with_ttl(), scan_keys_with_ttl(sm)) << i;
    }
  }
  EXPECT_GT(sm.keys_with_ttl(), 0u);
  ASSERT_EQ(sm.keys_with_ttl(), scan_keys_with_ttl(sm));
  StateMachine restored(make_skiplist_engine());
  ASSERT_TRUE(restored.restore_from_string(sm.snapshot_to_string()).is_ok());
  EXPECT_EQ(restored.keys_with_ttl(), sm.keys_with_ttl());
  EXPECT_EQ(restored.key_count(), sm.key_count());
  ASSERT_FALSE(restored.restore_from_string("not a snapshot").is_ok());
  EXPECT_EQ(restored.keys_with_ttl(), 0u);
}

// encode_request writes the wire format by hand: it must equal protobuf's serialization of the
// same pb::Request (zeros omitted, negative timestamps, empty and long arguments) and parse back.
TEST(EncodeRequest, BytesEqualProtobufSerialization) {
  std::mt19937_64 rng(42);
  auto value = [&]() -> uint64_t {
    switch (rng() % 4) {
      case 0:
        return 0;
      case 1:
        return rng() % 128;
      case 2:
        return rng() % (1u << 21);
      default:
        return rng();
    }
  };
  for (int round = 0; round < 2000; ++round) {
    RequestHeader header{.client_id = value(),
                         .sequence = value(),
                         .acked_sequence = value(),
                         .timestamp_ms = static_cast<int64_t>(value())};
    if (rng() % 8 == 0) header.timestamp_ms = -static_cast<int64_t>(rng() % 1000000);
    std::vector<std::string> args;
    for (uint64_t n = rng() % 5; n > 0; --n) {
      args.push_back(std::string(rng() % 3 == 0 ? 0 : rng() % 400, static_cast<char>(rng())));
    }
    pb::Request reference;
    reference.set_client_id(header.client_id);
    reference.set_sequence(header.sequence);
    reference.set_acked_sequence(header.acked_sequence);
    reference.set_timestamp_ms(header.timestamp_ms);
    for (const auto& a : args) reference.add_args(a);
    const std::string bytes = encode_request(header, args);
    ASSERT_EQ(bytes, reference.SerializeAsString()) << "round " << round;
    pb::Request parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    EXPECT_EQ(parsed.timestamp_ms(), header.timestamp_ms);
    ASSERT_EQ(parsed.args_size(), static_cast<int>(args.size()));
  }
}

}  // namespace
}  // namespace raftkv::kv
