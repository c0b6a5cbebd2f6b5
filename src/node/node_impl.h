// Internals of GroupNode (see node.h for the threading model). Split across node.cc (the raft
// strand) and pipeline.cc (persister and applier threads).
#pragma once

#include <condition_variable>
#include <deque>
#include <optional>
#include <set>
#include <thread>

#include <asio.hpp>

#include "base/histogram.h"
#include "base/log.h"
#include "base/rng.h"
#include "node/node.h"
#include "node/snapshot_transfer.h"
#include "raft/raft.h"
#include "storage/file_system.h"

namespace raftkv::node {

struct ProposalWaiter {
  Term term;  // the entry must still have this term when applied, or it was overwritten
  Completion done;
  SteadyTime deadline;
};

struct ReadWaiter {
  // Served once applied >= max(read index, floor); floor is the last index this node had
  // appended as leader when a kAfterLocalWrites read arrived (0 otherwise).
  Index floor;
  std::vector<std::string> args;
  Completion done;
  SteadyTime deadline;
  uint64_t bytes = 0;  // of args, counted in NodeImpl::pending_read_bytes_
};

// An operator's membership change in progress (membership.cc). One at a time.
struct MembershipOp {
  MembershipRequest request;
  std::function<void(Status)> done;
  SteadyTime deadline;
  enum class Stage : uint8_t {
    kCommit,         // the one proposed entry commits: done
    kTransferring,   // REMOVE of the leader: leadership is being handed over
    kAddingLearner,  // REPLACE: the new node's AddLearner commits
    kCatchingUp,     // REPLACE: waiting for the new node to catch up
    kJoint,          // REPLACE: the joint change {AddVoter new, RemoveNode old} commits
    kLeaving,        // REPLACE: waiting for the (automatic) leave entry to apply
  } stage = Stage::kCommit;
  // The conf entry proposed for this stage, awaited at apply; 0 when none is.
  Index index;
  Term term;
  SteadyTime transfer_deadline;  // kTransferring
  // A change the core held back (an earlier one unapplied): proposed again each tick until
  // retry_until.
  std::optional<raft::ConfChange> to_propose;
  SteadyTime retry_until;
};

// A transfer_leadership() waiting for its target to lead.
struct TransferWaiter {
  NodeId to;
  std::function<void(Status)> done;
  SteadyTime deadline;
};

// Approximate heap bytes of a message held in a queue (entries, snapshot chunk, fixed part).
uint64_t queued_message_bytes(const raft::Message& m);

// One Ready's durable part, written by the persister in order.
struct PersistJob {
  std::shared_ptr<const raft::Snapshot> snapshot;
  std::vector<raft::Entry> entries;
  std::optional<raft::HardState> hard_state;
  bool must_sync = false;
  std::vector<raft::Message> after_persist;
  uint64_t bytes = 0;  // of entries, counted in NodeImpl::persist_backlog_bytes_
};

// One Ready's apply part, executed by the applier in order.
struct ApplyJob {
  std::shared_ptr<const raft::Snapshot> restore;
  // The verified file of a snapshot received from the leader (restore's data).
  std::shared_ptr<storage::SnapshotFileReader> restore_file;
  std::vector<raft::Entry> entries;
  std::map<Index, ProposalWaiter> waiters;
  std::vector<std::pair<Index, ReadWaiter>> reads;  // serve once applied >= index
  uint64_t bytes = 0;  // of entries, counted in NodeImpl::apply_backlog_bytes_
  bool empty() const { return !restore && entries.empty() && waiters.empty() && reads.empty(); }
};

class NodeImpl : public std::enable_shared_from_this<NodeImpl> {
 public:
  NodeImpl(asio::io_context& io, NodeOptions options, transport::Transport* transport);
  Status init();
  void start();
  void stop(std::chrono::milliseconds grace);

  // --- raft strand (node.cc) ---
  void on_tick();
  void propose_on_strand(std::string payload, Completion done);
  void flush_proposals();
  void read_on_strand(std::vector<std::string> args, ReadOrder order, Completion done);
  // Steps every message delivered so far, then handles one Ready for all of them.
  void drain_inbox();
  void step_message(raft::Message m);
  // Snapshot transfer (snapshot_transfer.h) on the strand.
  void on_snapshot_chunk(const raft::Message& m);
  void on_snapshot_chunk_resp(const raft::Message& m);
  // Installs, answers and starts verification as the receiver's outcome says.
  void on_receiver_outcome(SnapshotReceiver::Outcome out);
  void send_to_peer(raft::Message m);
  void publish_transfer_state();
  // Processes every Ready the core has. Not re-entrant: a call made while it runs (a
  // membership step proposing from on_conf_applied, inside its loop) returns at once, and the
  // running loop picks up what that call made ready. A second Ready handed out before advance()
  // of the first would queue later committed entries for the applier ahead of the batch being
  // processed (the applier saw 8174 after 8171: nemesis mixed, seed 20).
  void handle_ready();
  bool in_handle_ready_ = false;  // strand
  void on_persisted(std::vector<PersistJob> jobs);
  void on_soft_state(const raft::SoftState& ss);
  void count_elections();  // after each Ready: a new candidate term is one election started
  void expire_waiters(SteadyTime now);
  void fail_all_proposals(ErrorCode code, const std::string& why);
  void fail_all_reads(ErrorCode code, const std::string& why);
  void refresh_status();
  Status not_leader() const;  // kNotLeader with the leader's client address
  // kTooLarge if a queue behind the proposals (batch, persist, apply) is at its bound.
  Status check_write_backpressure() const;
  // True while the persist or apply backlog is at its bound (Apps with entries are refused).
  bool backlog_full() const;

  // --- membership (membership.cc, force_new_cluster.cc), raft strand unless noted ---
  bool storage_initialized() const;  // any thread before start(); the WAL is thread-safe
  void become_initialized();
  // Bootstraps a fresh cluster when this node is the lowest initial member and every other one
  // is connected and uninitialized; otherwise records (and logs) what it waits for.
  void maybe_bootstrap();
  // The core's membership differs from known_conf_: update the transport's peers and the
  // members' client addresses.
  void on_membership_changed();
  // Removes from the transport every peer that is not in known_conf_, except the current leader:
  // a learner restoring a snapshot older than its own re-admission sees a membership without
  // the leader that re-admitted it; dropping that leader would cut it off from the entries
  // that bring the membership up to date. The leader kept is pruned once leadership moves.
  void prune_transport_peers();
  std::string client_addr_of(NodeId id) const;  // any thread
  uint64_t observed_incarnation(NodeId id) const;
  bool caught_up(NodeId id) const;
  std::vector<MemberView> compute_members() const;
  // The applier applied the conf entry (index, term).
  void on_conf_applied(const raft::ConfChange& cc, Index index, Term term);
  Status propose_membership(const raft::ConfChange& cc);
  void change_membership_on_strand(MembershipRequest req, std::function<void(Status)> done);
  // member_op_ removes `node` (REMOVE, or what is left of a REPLACE): refused if that loses
  // the quorum; the leader hands leadership over first.
  void start_removal(NodeId node);
  raft::ConfChange promotion(NodeId id) const;
  Status check_quorum_without(NodeId node) const;
  NodeId best_transfer_target(NodeId except) const;
  std::chrono::milliseconds transfer_timeout() const;
  void advance_membership_op(bool committed);
  void finish_membership_op(Status s);
  void membership_tick();
  void run_membership_policy();
  void transfer_on_strand(NodeId to, std::function<void(Status)> done);
  // Before the core is created: rewrites the membership to this node alone (init()).
  Status force_new_cluster();

  // --- pipeline threads (pipeline.cc) ---
  void persist_loop();
  void apply_loop();
  void apply_job(ApplyJob& job);
  void serve_ready_reads();
  void maybe_snapshot();
  void compact_after_snapshot(Index snapshot_index);
  // Snapshot thread: streams `view` to a snapshot file, installs it, compacts.
  void write_snapshot(const kv::SnapshotView& view, const raft::SnapshotMeta& meta,
                      const char* trigger);
  // Cancels a snapshot being written and joins the snapshot thread.
  void stop_snapshotter();
  // Streams the WAL's durable snapshot file into the state machine.
  Status restore_from_durable_snapshot();

  template <typename F>
  void post(F&& f) {
    asio::post(strand_, [self = shared_from_this(), f = std::forward<F>(f)]() mutable {
      if (!self->stopped_.load()) f();
    });
  }

  asio::io_context& io_;
  asio::strand<asio::io_context::executor_type> strand_;
  asio::steady_timer tick_timer_;
  NodeOptions opts_;
  transport::Transport* transport_;
  Logger log_;

  storage::PosixFileSystem fs_;
  std::unique_ptr<storage::Wal> wal_;
  std::unique_ptr<kv::StateMachine> sm_;
  std::unique_ptr<SeededRng> rng_;
  std::unique_ptr<raft::Raft> raft_;  // strand only

  // Strand state.
  std::map<Index, ProposalWaiter> proposals_;  // appended, not yet handed to the applier
  std::vector<std::pair<std::string, Completion>> batch_;  // not yet proposed
  uint64_t batch_bytes_ = 0;                               // payload bytes in batch_
  bool flush_scheduled_ = false;
  std::map<uint64_t, ReadWaiter> reads_;  // asked of the core, no read state yet
  // Confirmed reads whose floor (ReadWaiter::floor) is not committed yet, by the index to serve
  // them at. Kept here, not on the applier, so that a leader change fails them and their
  // deadline expires them: the entries up to a floor may never commit if leadership is lost.
  std::multimap<Index, ReadWaiter> floored_reads_;
  uint64_t next_read_context_ = 1;
  raft::SoftState soft_;
  std::unique_ptr<SnapshotSender> snapshot_sender_;
  std::unique_ptr<SnapshotReceiver> snapshot_receiver_;
  // Verified received snapshots offered to the core, by (index, term), until its Ready.
  std::map<std::pair<Index, Term>, std::shared_ptr<storage::SnapshotFileReader>> received_;
  Term last_candidate_term_;  // the newest term this node campaigned in (elections_started_)

  // Peer messages not yet stepped (any thread → strand). A drain is posted only when the inbox
  // goes from empty to non-empty, so messages arriving together make one Ready.
  // Invariant: inbox_.size() <= max_inbox_messages and inbox_bytes_ <= max_inbox_bytes unless
  // inbox_.size() == 1; inbox_bytes_ is the sum of queued_message_bytes of inbox_.
  std::mutex inbox_mu_;
  std::vector<raft::Message> inbox_;
  uint64_t inbox_bytes_ = 0;
  std::atomic<uint64_t> inbox_messages_{0};  // mirrors for status
  std::atomic<uint64_t> inbox_bytes_mirror_{0};
  std::atomic<uint64_t> inbox_dropped_{0};
  std::atomic<uint64_t> apps_refused_{0};

  // Verifies a completely received snapshot file (strand-owned handle; joined by stop()).
  std::thread verifier_;

  // Persister.
  std::mutex persist_mu_;
  std::condition_variable persist_cv_;
  std::deque<PersistJob> persist_queue_;
  std::thread persister_;

  // Applier.
  std::mutex apply_mu_;
  std::condition_variable apply_cv_;
  std::deque<ApplyJob> apply_queue_;
  std::thread applier_;
  std::multimap<Index, ReadWaiter> ready_reads_;  // applier only: waiting for applied >= index
  raft::ConfState applied_conf_;                  // applier only
  Index last_snapshot_index_;                     // applier only
  uint64_t log_bytes_at_snapshot_ = 0;            // applier only: WAL bytes written then

  // Snapshot thread (one snapshot at a time). Started and joined by the applier (and stop()).
  std::thread snapshotter_;
  std::atomic<bool> snapshot_running_{false};
  std::mutex view_mu_;
  kv::SnapshotView* active_view_ = nullptr;  // guarded by view_mu_; owned by the thread

  std::atomic<bool> stopped_{false};
  std::atomic<bool> threads_stop_{false};
  std::atomic<uint64_t> apply_backlog_{0};        // entries handed to the applier, not yet applied
  std::atomic<uint64_t> apply_backlog_bytes_{0};  // their bytes
  std::atomic<uint64_t> persist_backlog_bytes_{0};  // entry bytes queued to the persister
  std::atomic<uint64_t> pending_reads_{0};
  std::atomic<uint64_t> pending_read_bytes_{0};  // ReadWaiter::bytes of every pending read
  std::atomic<uint64_t> snapshots_taken_{0};
  std::atomic<uint64_t> fsyncs_{0};
  std::atomic<uint64_t> elections_started_{0};
  std::atomic<uint64_t> elections_won_{0};
  LatencyHistogram fsync_latency_;
  std::atomic<uint64_t> snapshot_index_{0};
  LatencyHistogram snapshot_duration_;
  SizeHistogram snapshot_size_;
  std::atomic<uint64_t> last_snapshot_bytes_{0};
  std::atomic<uint64_t> last_snapshot_ms_{0};
  // The lowest snapshot index being streamed to a follower (0: none); the applier keeps the
  // log after it.
  std::atomic<uint64_t> min_transfer_index_{0};
  std::atomic<uint64_t> transfers_in_flight_{0};
  mutable std::mutex transfer_stats_mu_;
  SnapshotTransferStats transfer_stats_;  // sender + receiver, copied on the strand

  // Membership (strand unless noted).
  std::atomic<bool> initialized_{false};  // storage_initialized(), then set once (any thread)
  std::string waiting_for_;               // what an uninitialized node waits for
  SteadyTime next_waiting_log_;
  raft::ConfState known_conf_;  // the membership the peers and addresses below follow
  // A leader outside known_conf_ was kept as a transport peer (prune_transport_peers).
  bool kept_non_member_leader_ = false;
  mutable std::mutex addr_mu_;
  std::map<NodeId, std::string> member_client_addrs_;  // guarded by addr_mu_
  std::optional<MembershipOp> member_op_;
  std::vector<TransferWaiter> transfers_;
  Index commit_at_last_tick_;    // the leader's commit index one tick ago (catch-up rule)
  std::set<NodeId> readmitted_;  // learners this leader re-admitted (promoted regardless)

  std::atomic<raft::Role> role_{raft::Role::kFollower};  // status_.role, readable without a lock
  std::atomic<uint64_t> leader_{0};                      // status_.leader likewise
  std::atomic<uint64_t> proposals_total_{0};             // writes submitted (status().proposals)
  mutable std::mutex status_mu_;
  std::condition_variable status_cv_;
  NodeStatus status_;
};

}  // namespace raftkv::node
