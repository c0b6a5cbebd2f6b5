// The streamed snapshot transfer (node/snapshot_transfer.h) between a sender on a real WAL and
// a receiver in another directory, over an in-memory "network" that can lose, corrupt and
// reorder nothing else: every fault is injected explicitly.
#include "node/snapshot_transfer.h"

#include <deque>

#include <gtest/gtest.h>

#include "../storage/test_util.h"
#include "base/crc32c.h"
#include "storage/file_system.h"

namespace raftkv::node {
namespace {

using storage::testing::TempDir;
using Clock = std::chrono::steady_clock;

constexpr NodeId kLeader{1};
constexpr NodeId kFollower{2};
constexpr Term kTerm{5};

struct Pair {
  Pair(SnapshotTransferOptions options = small_chunks()) {
    auto wal = storage::Wal::open(storage::posix_file_system(), leader_dir.path());
    EXPECT_TRUE(wal.is_ok());
    this->wal = std::move(*wal);
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta = raft::SnapshotMeta{Index(100), Term(4), raft::ConfState{{kLeader, kFollower}, {}}};
    for (int i = 0; snap->data.size() < 200'000; ++i) snap->data += fmt::format("{:06d}", i);
    data = snap->data;
    EXPECT_TRUE(this->wal->save_snapshot(snap).is_ok());
    meta = snap->meta;
    sender = std::make_unique<SnapshotSender>(kLeader, *this->wal, options, Logger("sender"));
    follower_store =
        std::make_unique<storage::SnapshotStore>(storage::posix_file_system(), follower_dir.path());
    receiver = std::make_unique<SnapshotReceiver>(kFollower, storage::posix_file_system(),
                                                  *follower_store, Logger("receiver"));
  }
  static SnapshotTransferOptions small_chunks() {
    SnapshotTransferOptions o;
    o.chunk_bytes = 16 * 1024;
    o.window_chunks = 3;
    o.resend_after = std::chrono::milliseconds(1000);
    o.give_up_after = std::chrono::milliseconds(5000);
    return o;
  }

  SendFn to_follower() {
    return [this](raft::Message m) { wire.push_back(std::move(m)); };
  }
  // Delivers queued chunks (through `fault`, which may drop or alter them) and answers,
  // until the wire is empty. Returns true when the sender reported completion.
  bool run(const std::function<bool(raft::Message&)>& fault = nullptr) {
    bool done = false;
    for (int steps = 0; !wire.empty() && steps < 100'000; ++steps) {
      raft::Message m = std::move(wire.front());
      wire.pop_front();
      if (fault && !fault(m)) continue;  // dropped
      SnapshotReceiver::Outcome out = receiver->on_chunk(m);
      if (out.verify) {
        EXPECT_FALSE(out.reply) << "the last chunk is answered only once verified";
        ++verifications;
        if (!verify_at_once) {  // the test finishes it with finish_verification()
          pending = *out.verify;
          continue;
        }
        // The node verifies on another thread; here, right away.
        const SnapshotReceiver::Verification v = *out.verify;
        out = receiver->on_verified(v, SnapshotReceiver::verify(storage::posix_file_system(), v));
      }
      if (out.install) {
        ++installs;
        installed_file = out.file;
        EXPECT_EQ(out.install->type, raft::MessageType::kSnap);
        EXPECT_EQ(out.install->snapshot->meta, meta);
        EXPECT_TRUE(out.install->snapshot->data.empty());
      }
      if (out.reply) done |= sender->on_response(*out.reply, now, to_follower());
    }
    return done;
  }
  // Completes a verification held back by verify_at_once = false.
  bool finish_verification() {
    EXPECT_TRUE(pending.has_value());
    const SnapshotReceiver::Verification v = *pending;
    pending.reset();
    SnapshotReceiver::Outcome out =
        receiver->on_verified(v, SnapshotReceiver::verify(storage::posix_file_system(), v));
    if (out.install) {
      ++installs;
      installed_file = out.file;
    }
    return out.reply && sender->on_response(*out.reply, now, to_follower());
  }
  std::string received_data() {
    auto snap = storage::read_snapshot_file(
        storage::posix_file_system(), follower_store->partial_path_for(meta.index, meta.term));
    EXPECT_TRUE(snap.is_ok()) << snap.status().to_string();
    return snap.is_ok() ? snap->data : "";
  }

  TempDir leader_dir, follower_dir;
  std::unique_ptr<storage::Wal> wal;
  std::unique_ptr<storage::SnapshotStore> follower_store;
  std::unique_ptr<SnapshotSender> sender;
  std::unique_ptr<SnapshotReceiver> receiver;
  raft::SnapshotMeta meta;
  std::string data;
  std::deque<raft::Message> wire;
  Clock::time_point now = Clock::now();
  int installs = 0;
  int verifications = 0;
  bool verify_at_once = true;
  std::optional<SnapshotReceiver::Verification> pending;
  std::shared_ptr<storage::SnapshotFileReader> installed_file;
};

TEST(SnapshotTransfer, StreamsTheFileInChunksWithinTheWindowAndInstallsOnce) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  // The first chunk goes alone, so the receiver can name an offset it already holds.
  ASSERT_EQ(p.wire.size(), 1u);
  EXPECT_EQ(p.wire.front().type, raft::MessageType::kSnapChunk);
  EXPECT_EQ(p.wire.front().chunk.offset, 0u);
  size_t most_in_flight = 0;
  bool done = false;
  while (!p.wire.empty()) {
    most_in_flight = std::max(most_in_flight, p.wire.size());
    done |= p.run();
  }
  EXPECT_TRUE(done);
  EXPECT_LE(most_in_flight, 3u);  // window_chunks
  EXPECT_EQ(p.installs, 1);
  EXPECT_EQ(p.received_data(), p.data);
  EXPECT_EQ(p.sender->in_flight(), 0u);
  EXPECT_EQ(p.sender->stats().completed, 1u);
  EXPECT_GT(p.sender->stats().bytes_sent, 200'000u);
}

TEST(SnapshotTransfer, LostChunksAreResentFromTheLastAcknowledgedOffset) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  int seen = 0;
  // Drop every 5th chunk: the receiver answers later ones with the offset it still wants.
  bool done = p.run([&](raft::Message&) { return ++seen % 5 != 0; });
  for (int round = 0; !done && round < 200; ++round) {
    p.now += std::chrono::milliseconds(1000);  // silence: go back and resend
    EXPECT_TRUE(p.sender->tick(p.now, p.to_follower()).empty());
    done = p.run([&](raft::Message&) { return ++seen % 5 != 0; });
  }
  EXPECT_TRUE(done);
  EXPECT_EQ(p.installs, 1);
  EXPECT_EQ(p.received_data(), p.data);
}

TEST(SnapshotTransfer, ACorruptedChunkIsRefusedAndSentAgain) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  bool corrupted = false;
  bool done = p.run([&](raft::Message& m) {
    if (!corrupted && m.chunk.offset > 0) {
      auto bad = std::make_shared<raft::Snapshot>(*m.snapshot);
      bad->data[7] ^= 1;  // the chunk's CRC no longer matches
      m.snapshot = bad;
      corrupted = true;
    }
    return true;
  });
  for (int round = 0; !done && round < 50; ++round) {
    p.now += std::chrono::milliseconds(1000);
    p.sender->tick(p.now, p.to_follower());
    done = p.run();
  }
  EXPECT_TRUE(corrupted);
  EXPECT_TRUE(done);
  EXPECT_EQ(p.received_data(), p.data);  // the flipped byte never reached the file
}

TEST(SnapshotTransfer, ANewReceiverResumesFromItsPartialFile) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  // Deliver chunks up to about half, then the follower "restarts" (a new receiver) and the
  // leader gives up and later starts over.
  int delivered = 0;
  p.run([&](raft::Message&) { return ++delivered <= 6; });
  p.now += std::chrono::milliseconds(6000);
  EXPECT_EQ(p.sender->tick(p.now, p.to_follower()), std::vector<NodeId>{kFollower});
  p.wire.clear();
  p.receiver = std::make_unique<SnapshotReceiver>(kFollower, storage::posix_file_system(),
                                                  *p.follower_store, Logger("receiver"));
  const uint64_t sent_before = p.sender->stats().bytes_sent;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  EXPECT_TRUE(p.run());
  EXPECT_EQ(p.received_data(), p.data);
  EXPECT_EQ(p.receiver->stats().resumed, 1u);
  EXPECT_EQ(p.sender->stats().resumed, 1u);
  // Only the missing part (plus the probe chunk) was sent again.
  const uint64_t resent = p.sender->stats().bytes_sent - sent_before;
  EXPECT_LE(resent, p.data.size() - 6 * 16 * 1024 + 2 * 16 * 1024);
}

TEST(SnapshotTransfer, AFileThatFailsVerificationIsRejectedAndStreamedAgain) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  // Damage a byte inside a chunk and fix up its CRC: only the whole-file checksum notices.
  bool damaged = false;
  bool done = p.run([&](raft::Message& m) {
    if (!damaged && m.chunk.offset == 16 * 1024) {
      auto bad = std::make_shared<raft::Snapshot>(*m.snapshot);
      bad->data[100] ^= 1;
      m.chunk.crc32c = crc32c(bad->data);
      m.snapshot = bad;
      damaged = true;
    }
    return true;
  });
  EXPECT_TRUE(damaged);
  EXPECT_TRUE(done);  // rejected once, then sent again from the start
  EXPECT_EQ(p.installs, 1);
  EXPECT_EQ(p.received_data(), p.data);
}

TEST(SnapshotTransfer, AnswersAboutAnotherSnapshotAreIgnored) {
  Pair p;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  raft::Message late{.type = raft::MessageType::kSnapChunkResp,
                     .from = kFollower,
                     .to = kLeader,
                     .term = kTerm,
                     .log_term = Term(3),
                     .index = Index(50)};
  late.chunk.offset = 1 << 30;  // "complete" for an older snapshot
  EXPECT_FALSE(p.sender->on_response(late, p.now, p.to_follower()));
  EXPECT_EQ(p.sender->in_flight(), 1u);
  EXPECT_EQ(p.sender->min_in_flight_index(), Index(100));
  EXPECT_TRUE(p.run());
  EXPECT_EQ(p.sender->min_in_flight_index(), Index());
}

// The complete file is fsynced and checksummed off the raft strand. Meanwhile retransmitted
// chunks get no answer and start no second verification; the last chunk is answered (and the
// sender done) only after the result; a result about a transfer superseded meanwhile is dropped.
TEST(SnapshotTransfer, TheCompleteFileIsVerifiedOnceBeforeTheLastChunkIsAnswered) {
  Pair p;
  p.verify_at_once = false;
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  EXPECT_FALSE(p.run());
  ASSERT_TRUE(p.pending.has_value());
  EXPECT_EQ(p.verifications, 1);
  EXPECT_EQ(p.installs, 0);
  EXPECT_EQ(p.sender->in_flight(), 1u);
  // Silence: the sender resends the unanswered chunks; the receiver stays quiet.
  p.now += std::chrono::milliseconds(1000);
  EXPECT_TRUE(p.sender->tick(p.now, p.to_follower()).empty());
  ASSERT_FALSE(p.wire.empty());
  EXPECT_FALSE(p.run());
  EXPECT_EQ(p.verifications, 1);
  EXPECT_TRUE(p.finish_verification());
  EXPECT_EQ(p.installs, 1);
  EXPECT_EQ(p.received_data(), p.data);

  // A verification overtaken by a newer snapshot's transfer installs nothing.
  Pair q;
  q.verify_at_once = false;
  ASSERT_TRUE(q.sender->start(kFollower, kTerm, q.meta, q.now, q.to_follower()));
  EXPECT_FALSE(q.run());
  ASSERT_TRUE(q.pending.has_value());
  auto other = std::make_shared<raft::Snapshot>();
  other->meta = raft::SnapshotMeta{Index(200), Term(5), q.meta.conf};
  other->data = "x";
  raft::Message chunk{.type = raft::MessageType::kSnapChunk,
                      .from = kLeader,
                      .to = kFollower,
                      .term = kTerm,
                      .snapshot = other};
  chunk.chunk = raft::SnapshotChunk{0, 1000, crc32c(std::string_view("x"))};
  (void)q.receiver->on_chunk(chunk);  // begins the transfer of snapshot 200
  EXPECT_FALSE(q.finish_verification());
  EXPECT_EQ(q.installs, 0);
}

TEST(SnapshotTransfer, ThrottleLimitsBytesPerTick) {
  SnapshotTransferOptions o = Pair::small_chunks();
  o.max_bytes_per_sec = 160 * 1024;  // 16 KiB per 100 ms tick
  Pair p(o);
  p.sender->tick(p.now, p.to_follower());  // fills the bucket for the first tick
  ASSERT_TRUE(p.sender->start(kFollower, kTerm, p.meta, p.now, p.to_follower()));
  int ticks = 0;
  bool done = false;
  while (!done && ticks < 1000) {
    done = p.run();
    p.now += std::chrono::milliseconds(100);
    p.sender->tick(p.now, p.to_follower());
    ++ticks;
  }
  EXPECT_TRUE(done);
  // ~200 KB at 16 KiB per tick: at least a dozen ticks (unthrottled it takes none).
  EXPECT_GE(ticks, 11);
}

}  // namespace
}  // namespace raftkv::node
