// Replication flow control to one follower: the inflight window bounds what is in flight by
// count and bytes, and heartbeats (which under a read load run many times per tick) never
// make the leader send an App again unless they show that it was lost. Issue 11 #3: a
// follower restarting under a mixed workload was sent its whole lag once per ReadIndex round.
#include <gtest/gtest.h>

#include "test_cluster.h"

namespace raftkv::raft::testing {
namespace {

// Entry bytes (Entry::size_bytes()) of the Apps delivered to `to`, and how many carried entries.
struct AppTally {
  uint64_t bytes = 0;
  uint64_t apps = 0;
  uint64_t acks = 0;  // AppResps delivered from `to` (when counting them)
};

void count_apps_to(TestCluster& c, uint64_t to, AppTally* tally) {
  c.deliver_filter = [to, tally](const Message& m) {
    if (m.type == MessageType::kApp && m.to == NodeId(to) && !m.entries.empty()) {
      ++tally->apps;
      for (const Entry& e : m.entries) tally->bytes += e.size_bytes();
    }
    return true;
  };
}

// Many ReadIndex rounds, each stabilized: each round is a heartbeat to every follower.
void run_read_rounds(TestCluster& c, uint64_t leader, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    ASSERT_TRUE(c.node(leader).read_index(1000 + i).is_ok());
    c.stabilize();
  }
}

TEST(FlowControl, ReadRoundsDoNotResendAProbeThatGotThrough) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(c.propose(1, std::string(100, 'a')).is_ok());
  // The follower comes back (a restart: the transport reported it unreachable), but its
  // acknowledgements are slow (a long fsync): none arrives during the read rounds.
  c.heal();
  c.node(1).report_unreachable(NodeId(3));
  c.drop_types({MessageType::kAppResp});
  AppTally tally;
  count_apps_to(c, 3, &tally);
  run_read_rounds(c, 1, 100);
  // One probe carrying the lag; the follower holds it (its heartbeat answers say so), so no
  // read round sends it again. Before the fix: one copy per round, 100 x the lag.
  EXPECT_EQ(tally.apps, 1u);
  EXPECT_LE(tally.bytes, 50u * (100 + 16));
  // Acknowledgements flow again: the follower catches up without an election.
  c.heal();
  c.tick_all(12);
  EXPECT_EQ(c.applied_data(3).size(), 50u);
  EXPECT_EQ(c.leader(), 1u);
}

TEST(FlowControl, FullWindowIsNotExceededByHeartbeats) {
  TestCluster c(3, [](Config& cfg) { cfg.max_inflight_msgs = 4; });
  ASSERT_TRUE(c.elect(1));
  c.drop_types({MessageType::kAppResp});
  AppTally tally;
  count_apps_to(c, 3, &tally);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(c.propose(1, "e" + std::to_string(i)).is_ok());
  run_read_rounds(c, 1, 50);
  // Every App got through (the follower's heartbeat answers show it holds them), so the full
  // window stays closed. Before the fix each heartbeat answer freed a slot for one more App.
  EXPECT_LE(tally.apps, 4u);
  c.heal();
  c.tick_all(12);
  EXPECT_EQ(c.applied_data(3).size(), 20u);
}

TEST(FlowControl, InflightBytesNeverExceedTheWindow) {
  constexpr uint64_t kWindow = 1000;
  TestCluster c(3, [](Config& cfg) {
    cfg.max_inflight_bytes = kWindow;
    cfg.max_msg_bytes = 600;
  });
  ASSERT_TRUE(c.elect(1));
  c.drop_types({MessageType::kAppResp});
  AppTally tally;
  count_apps_to(c, 3, &tally);
  // 30 entries of 166..216 bytes: far more than the window.
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(c.propose(1, std::string(150 + (i * 7) % 50, 'x')).is_ok());
  }
  run_read_rounds(c, 1, 10);
  // Nothing was acknowledged, nothing lost: what was sent is what is in flight.
  EXPECT_LE(tally.bytes, kWindow);
  EXPECT_GE(tally.bytes, kWindow - 216) << "the window is used, not left mostly empty";
  c.heal();
  c.tick_all(12);
  EXPECT_EQ(c.applied_data(3).size(), 30u);
}

TEST(FlowControl, AnEntryLargerThanTheWindowGoesAlone) {
  TestCluster c(3, [](Config& cfg) {
    cfg.max_inflight_bytes = 100;
    cfg.max_msg_bytes = 100;
  });
  ASSERT_TRUE(c.elect(1));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c.propose(1, std::string(500, 'b')).is_ok());
  EXPECT_EQ(c.applied_data(3).size(), 3u);
}

TEST(FlowControl, LostAppIsResentOnceAHeartbeatShowsIt) {
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  // The follower's node drops the next App (e.g. its inbox is full); nothing else is lost.
  bool dropped = false;
  c.deliver_filter = [&dropped](const Message& m) {
    if (!dropped && m.type == MessageType::kApp && m.to == NodeId(3) && !m.entries.empty()) {
      dropped = true;
      return false;
    }
    return true;
  };
  ASSERT_TRUE(c.propose(1, "lost").is_ok());
  ASSERT_TRUE(dropped);
  EXPECT_EQ(c.applied_data(3).size(), 0u);
  // A heartbeat round after the App shows the follower lacks it: probe and resend. One tick
  // passes first (resends are at most one per tick), but no election timeout.
  c.tick(1);
  c.stabilize();
  run_read_rounds(c, 1, 1);
  EXPECT_EQ(c.applied_data(3), (std::vector<std::string>{"lost"}));
}

TEST(FlowControl, AppsLostBehindOneThatGotThroughAreResent) {
  // The first App reaches the follower but its answer is lost; the next ones are lost (its
  // node was down while its transport stayed connected: no unreachable report). The window
  // is far from full and nothing new is proposed: the heartbeat answer (last index = the
  // first App's) must still show the leader what is missing.
  TestCluster c(3);
  ASSERT_TRUE(c.elect(1));
  int apps_to_3 = 0;
  bool first_ack_dropped = false;
  c.deliver_filter = [&](const Message& m) {
    if (m.type == MessageType::kApp && m.to == NodeId(3) && !m.entries.empty()) {
      return ++apps_to_3 == 1 || apps_to_3 > 5;
    }
    if (m.type == MessageType::kAppResp && m.from == NodeId(3) && !first_ack_dropped &&
        apps_to_3 == 1) {
      first_ack_dropped = true;
      return false;
    }
    return true;
  };
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(c.propose(1, "e" + std::to_string(i)).is_ok());
  ASSERT_TRUE(first_ack_dropped);
  EXPECT_LT(c.applied_data(3).size(), 5u);
  c.tick(1);
  c.stabilize();
  c.tick(1);
  c.stabilize();
  EXPECT_EQ(c.applied_data(3).size(), 5u) << "resent within two ticks, no election timeout";
}

// The transport sends an App larger than ordered_app_bytes in parts and lets heartbeats pass it,
// so a heartbeat answer that shows the follower without the App proves nothing: the App may
// still be on its way. The leader must not send another copy on that evidence (review of
// issue 11: a 100 MiB App was re-sent every read round while its first copy was in transit);
// if the App really was lost, the silence rule resends it after an election timeout plus one
// tick per ordered_app_bytes.
TEST(FlowControl, HeartbeatsThatOvertakeALargeAppDoNotResendIt) {
  TestCluster c(3, [](Config& cfg) { cfg.ordered_app_bytes = 200; });
  ASSERT_TRUE(c.elect(1));
  int apps_to_3 = 0;
  c.deliver_filter = [&](const Message& m) {
    // The first copy is "in transit" for good (lost); later copies get through.
    if (m.type == MessageType::kApp && m.to == NodeId(3) && !m.entries.empty()) {
      return ++apps_to_3 > 1;
    }
    return true;
  };
  ASSERT_TRUE(c.propose(1, std::string(1000, 'L')).is_ok());
  for (int t = 0; t < 8; ++t) {  // within the silence of 10 + 1000 / 200 ticks
    c.tick(1);
    c.stabilize();
    run_read_rounds(c, 1, 3);
  }
  EXPECT_EQ(apps_to_3, 1) << "a heartbeat answer made the leader resend a large App";
  // Lost for real: resent once the App has been silent for long enough, with no election.
  c.tick_all(10);
  EXPECT_EQ(apps_to_3, 2);
  EXPECT_EQ(c.applied_data(3).size(), 1u);
  EXPECT_EQ(c.leader(), 1u);
}

// A probe in flight when the transport reports the follower unreachable may have been lost with
// the connection: it is resent on the follower's next heartbeat answer, whatever its size.
TEST(FlowControl, UnreachableResendsAProbeInFlight) {
  TestCluster c(3, [](Config& cfg) { cfg.ordered_app_bytes = 200; });
  ASSERT_TRUE(c.elect(1));
  c.isolate(3);
  ASSERT_TRUE(c.propose(1, std::string(1000, 'P')).is_ok());
  c.heal();
  c.node(1).report_unreachable(NodeId(3));  // the follower is probed
  int apps_to_3 = 0;
  c.deliver_filter = [&](const Message& m) {
    if (m.type == MessageType::kApp && m.to == NodeId(3) && !m.entries.empty()) {
      return ++apps_to_3 > 1;  // the probe is lost with the connection
    }
    return true;
  };
  c.tick(1);
  c.stabilize();
  ASSERT_GE(apps_to_3, 1);
  c.node(1).report_unreachable(NodeId(3));
  c.tick(1);
  c.stabilize();
  c.tick(1);
  c.stabilize();
  EXPECT_EQ(c.applied_data(3).size(), 1u) << "resent within two ticks of the report";
}

}  // namespace
}  // namespace raftkv::raft::testing
