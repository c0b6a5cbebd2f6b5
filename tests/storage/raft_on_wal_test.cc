// Real Raft cores on real WALs: the WAL as the core's LogStorage, end to end. Each node's
// durable state is its WAL directory; a crash drops the core and the WAL object and reopens
// the directory (recovery), so only what was fsynced survives.
#include <deque>
#include <map>
#include <memory>

#include <gtest/gtest.h>

#include "raft/raft.h"
#include "storage/file_system.h"
#include "storage/wal.h"
#include "test_util.h"

namespace raftkv::storage {
namespace {

using raft::Entry;
using raft::Message;
using raft::Raft;
using raft::Ready;

class WalCluster {
 public:
  explicit WalCluster(size_t n) : dirs_(n), nodes_(n) {
    set_log_level(LogLevel::kWarn);
    for (uint64_t id = 1; id <= n; ++id) open(id);
  }

  void open(uint64_t id) {
    Node& node = nodes_[id - 1];
    auto wal = Wal::open(fs_, dirs_[id - 1].path(),
                         WalOptions{.segment_bytes = 64 << 10, .cache_bytes = 16 << 10});
    ASSERT_TRUE(wal.is_ok()) << wal.status().to_string();
    node.wal = std::move(*wal);
    auto snap = *node.wal->snapshot();
    node.state = snap->is_empty() ? std::vector<std::string>{} : decode(snapshot_data(*node.wal));
    node.applied = snap->meta.index;
    raft::Config c;
    c.id = NodeId(id);
    for (uint64_t v = 1; v <= nodes_.size(); ++v) c.voters.push_back(NodeId(v));
    c.applied = node.applied;
    node.rng = std::make_unique<SeededRng>(id);
    auto r = Raft::create(c, node.wal.get(), node.rng.get());
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    node.raft = std::move(*r);
  }

  void crash(uint64_t id) {
    nodes_[id - 1].raft.reset();
    nodes_[id - 1].wal.reset();
    std::erase_if(queue_, [&](const Message& m) { return m.to.value() == id; });
  }

  void wipe(uint64_t id) {
    crash(id);
    dirs_[id - 1].dir = std::make_unique<testing::TempDir>();
  }

  Raft& raft(uint64_t id) { return *nodes_[id - 1].raft; }
  Wal& wal(uint64_t id) { return *nodes_[id - 1].wal; }
  const std::vector<std::string>& state(uint64_t id) { return nodes_[id - 1].state; }

  void stabilize() {
    for (bool moved = true; moved;) {
      moved = false;
      for (auto& n : nodes_) {
        if (n.raft && n.raft->has_ready()) {
          moved = true;
          process(n);
        }
      }
      while (!queue_.empty()) {
        moved = true;
        Message m = std::move(queue_.front());
        queue_.pop_front();
        Node& to = nodes_[m.to.value() - 1];
        // The WAL hands the core snapshot metadata only; the bytes travel out of band (the
        // node streams the file), here simply read from the sender's snapshot file.
        if (m.type == raft::MessageType::kSnap) {
          auto with_data = std::make_shared<raft::Snapshot>(*m.snapshot);
          with_data->data = snapshot_data(*nodes_[m.from.value() - 1].wal);
          m.snapshot = std::move(with_data);
        }
        if (to.raft) (void)to.raft->step(std::move(m));
      }
    }
  }

  void tick_all(int n) {
    for (int i = 0; i < n; ++i) {
      for (auto& node : nodes_) {
        if (node.raft) node.raft->tick();
      }
      stabilize();
    }
  }

  uint64_t leader() {
    for (uint64_t id = 1; id <= nodes_.size(); ++id) {
      if (nodes_[id - 1].raft && raft(id).role() == raft::Role::kLeader) return id;
    }
    return 0;
  }

  // Snapshot of the state machine at its applied index, saved and the log compacted.
  void snapshot(uint64_t id) {
    Node& n = nodes_[id - 1];
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta =
        raft::SnapshotMeta{n.applied, n.raft->term_at(n.applied).value(), n.raft->conf_state()};
    snap->data = encode(n.state);
    ASSERT_TRUE(n.wal->save_snapshot(snap).is_ok());
    ASSERT_TRUE(n.wal->compact(n.applied).is_ok());
  }

 private:
  struct Node {
    std::unique_ptr<Wal> wal;
    std::unique_ptr<SeededRng> rng;
    std::unique_ptr<Raft> raft;
    Index applied;
    std::vector<std::string> state;
  };

  static std::string snapshot_data(const Wal& wal) {
    auto reader = wal.open_snapshot();
    EXPECT_TRUE(reader.is_ok()) << reader.status().to_string();
    if (!reader.is_ok()) return {};
    std::string data((*reader)->data_bytes(), '\0');
    size_t pos = 0;
    for (;;) {
      auto n = (*reader)->read_data(data.data() + pos, data.size() - pos);
      EXPECT_TRUE(n.is_ok()) << n.status().to_string();
      if (!n.is_ok() || *n == 0) break;
      pos += *n;
    }
    return data;
  }

  static std::string encode(const std::vector<std::string>& s) {
    std::string out;
    for (const auto& v : s) out += v + "\n";
    return out;
  }
  static std::vector<std::string> decode(const std::string& d) {
    std::vector<std::string> out;
    for (size_t pos = 0; pos < d.size();) {
      size_t nl = d.find('\n', pos);
      out.push_back(d.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return out;
  }

  void process(Node& n) {
    Ready rd = n.raft->ready();
    // Persist in the order the Ready contract requires, then fsync (group commit).
    if (rd.snapshot) {
      ASSERT_TRUE(n.wal->save_snapshot(rd.snapshot).is_ok());
      n.state = decode(rd.snapshot->data);
      n.applied = rd.snapshot->meta.index;
    }
    if (!rd.entries.empty() || rd.hard_state) {
      ASSERT_TRUE(n.wal->append(rd.entries, rd.hard_state).is_ok());
    }
    if (rd.must_persist()) {
      ASSERT_TRUE(n.wal->sync().is_ok());  // one fdatasync covers the whole Ready
    }
    for (auto& m : rd.messages) queue_.push_back(std::move(m));
    for (const Entry& e : rd.committed_entries) {
      ASSERT_EQ(e.index, n.applied + 1);
      n.applied = e.index;
      if (e.type == raft::EntryType::kNormal && !e.data.empty()) n.state.push_back(e.data.str());
    }
    n.raft->advance(rd);
    for (auto& m : rd.messages_after_persist) {
      if (m.to == n.raft->id()) {
        (void)n.raft->step(std::move(m));
      } else {
        queue_.push_back(std::move(m));
      }
    }
    ASSERT_TRUE(n.raft->check_invariants().is_ok());
  }

  PosixFileSystem fs_;
  // A fresh temp directory per node; wipe() replaces it with a new empty one.
  struct DirSlot {
    std::unique_ptr<testing::TempDir> dir = std::make_unique<testing::TempDir>();
    const std::string& path() const { return dir->path(); }
  };
  std::vector<DirSlot> dirs_;
  std::vector<Node> nodes_;
  std::deque<Message> queue_;
};

TEST(RaftOnWal, ReplicatesAndSurvivesFollowerCrash) {
  WalCluster c(3);
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.raft(l).propose("v" + std::to_string(i)).is_ok());
  c.stabilize();
  const uint64_t f = l == 1 ? 2 : 1;
  EXPECT_EQ(c.state(f).size(), 50u);
  c.crash(f);
  for (int i = 50; i < 80; ++i) ASSERT_TRUE(c.raft(l).propose("v" + std::to_string(i)).is_ok());
  c.stabilize();
  c.open(f);  // WAL recovery, then catch up
  c.tick_all(3);
  EXPECT_EQ(c.state(f), c.state(l));
  EXPECT_EQ(c.state(f).size(), 80u);
}

TEST(RaftOnWal, WholeClusterRestartKeepsEveryCommittedEntry) {
  WalCluster c(3);
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(c.raft(l).propose("k" + std::to_string(i)).is_ok());
  c.stabilize();
  const auto want = c.state(l);
  const Term term = c.raft(l).term();
  for (uint64_t id = 1; id <= 3; ++id) c.crash(id);
  for (uint64_t id = 1; id <= 3; ++id) c.open(id);
  for (uint64_t id = 1; id <= 3; ++id) EXPECT_GE(c.raft(id).term(), term);
  c.tick_all(40);
  const uint64_t l2 = c.leader();
  ASSERT_NE(l2, 0u);
  ASSERT_TRUE(c.raft(l2).propose("after").is_ok());
  c.stabilize();
  for (uint64_t id = 1; id <= 3; ++id) {
    ASSERT_EQ(c.state(id).size(), want.size() + 1) << "node " << id;
    EXPECT_TRUE(std::equal(want.begin(), want.end(), c.state(id).begin()));
  }
}

TEST(RaftOnWal, WipedFollowerCatchesUpBySnapshotAndRestartsFromIt) {
  WalCluster c(3);
  c.tick_all(30);
  const uint64_t l = c.leader();
  ASSERT_NE(l, 0u);
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(c.raft(l).propose(std::string(200, 'a' + i % 26) + std::to_string(i)).is_ok());
  }
  c.stabilize();
  c.snapshot(l);  // the leader's log now starts after everything applied
  ASSERT_GT(c.raft(l).first_index(), Index(300));
  const uint64_t f = l == 3 ? 2 : 3;
  c.wipe(f);
  c.open(f);  // an empty data dir: the node must get everything by snapshot
  c.tick_all(5);
  EXPECT_EQ(c.state(f), c.state(l));
  // The follower restarts from the snapshot it installed, not from an empty log.
  c.crash(f);
  c.open(f);
  EXPECT_GE(c.raft(f).first_index(), Index(300));
  EXPECT_EQ(c.state(f).size(), 300u);
}

}  // namespace
}  // namespace raftkv::storage
