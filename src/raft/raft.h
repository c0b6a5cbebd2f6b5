// The Raft consensus core: a deterministic state machine with no I/O (etcd raft's `raft` +
// `RawNode`, ScyllaDB's `fsm`).
//
// Inputs: tick() (time) and step(Message) (everything else, local events included).
// Outputs: a Ready batch (see types.h for the driver's obligations), acknowledged with advance().
// Storage is read-only to the core; entries not yet durable live in the core's unstable log.
//
// Thread-safety: none. One thread (or executor) owns a Raft object and makes every call.
// Determinism: given the same Config, storage contents, Rng seed and call sequence, the
// outputs are identical.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "base/log.h"
#include "base/rng.h"
#include "base/status.h"
#include "raft/config.h"
#include "raft/storage.h"
#include "raft/types.h"

namespace raftkv::raft {

// Replication state of one follower as seen by the leader.
enum class ProgressState : uint8_t {
  kProbe,      // one kApp at a time until the follower's match is found
  kReplicate,  // optimistic pipelining within the inflight window
  kSnapshot,   // a snapshot is being sent; no kApp until it is reported
};
const char* progress_state_name(ProgressState s);

struct FollowerStatus {
  NodeId id;
  Index match;
  Index next;
  ProgressState state = ProgressState::kProbe;
  bool recent_active = false;
  bool learner = false;
  // The incarnation the acknowledgements behind `match` came from (a message from another one
  // resets the progress). They count toward commit, check-quorum and reads only when this is
  // the member's recorded incarnation (or that one is 0, unbound).
  uint64_t incarnation = 0;
  bool voter = false;  // a voter of the incoming or the outgoing configuration
};

class RaftImpl;

class Raft {
 public:
  // Validates the config and reads the initial state from storage.
  static Result<std::unique_ptr<Raft>> create(const Config& config, const LogStorage* storage,
                                              Rng* rng);
  ~Raft();
  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // Advances logical time by one tick (election and heartbeat timers, check quorum, leases).
  void tick();
  // Feeds one message (network or local). Expected failures (kProposalDropped, kTooLarge,
  // kNotLeader for a read with no known leader) are returned; malformed peer messages are
  // dropped with kInvalidArgument and never break an invariant.
  Status step(Message m);

  // Conveniences that build and step local messages.
  Status propose(std::string data);
  Status propose_conf_change(const ConfChange& cc);
  Status campaign();
  // Requests a read point; it arrives as a ReadState with this context in a later Ready.
  Status read_index(uint64_t context);
  Status transfer_leadership(NodeId to);
  void report_unreachable(NodeId peer);
  void report_snapshot(NodeId peer, bool succeeded);
  // Storage made everything up to (index, term) durable, including any snapshot handed out.
  void on_persisted(Index index, Term term);
  // Applies a committed kConfChange entry's change to the membership; returns the new one.
  // Must be called by the driver when it applies such an entry (etcd's ApplyConfChange). A
  // change invalid against the current membership (apply_conf_change_to) changes nothing and
  // returns its kInvalidArgument; every node applies the same entries to the same membership, so
  // all of them ignore it alike.
  Result<ConfState> apply_conf_change(const ConfChange& cc);
  // Bootstraps an empty core (no log, no hard state, no membership) with `conf` (etcd's
  // RawNode.Bootstrap): writes one committed conf entry at index 1, term 1, that establishes it
  // once the driver applies it, as every entry. `conf` must be valid (validate_conf_state), not
  // joint, with at least one voter. Every initial member bootstraps with the same `conf`.
  // kInvalidArgument naming the problem for a bad conf or a core that is not empty.
  Status bootstrap(const ConfState& conf);

  bool has_ready() const;
  // Takes the pending batch. Call advance(ready) after taking it.
  Ready ready();
  void advance(const Ready& ready);

  // Introspection (cheap, for drivers, status pages and checkers).
  NodeId id() const;
  Role role() const;
  Term term() const;
  NodeId leader() const;
  NodeId voted_for() const;
  Index commit_index() const;
  Index applied_index() const;  // last index handed out in committed_entries
  Index first_index() const;
  Index last_index() const;
  // Term of entry i from the core's full view of the log (stable + unstable).
  Result<Term> term_at(Index i) const;
  // Entries [lo, hi) from the core's full view of the log.
  Result<std::vector<Entry>> entries(Index lo, Index hi) const;
  HardState hard_state() const;
  const ConfState& conf_state() const;
  std::vector<FollowerStatus> follower_status() const;  // leader only; empty otherwise
  bool lease_valid() const;                             // leader in kLease mode holds a lease now
  const Logger& logger() const;

  // Checks every invariant of the core's own state; returns the first one broken, naming it.
  Status check_invariants() const;

 private:
  explicit Raft(std::unique_ptr<RaftImpl> impl);
  std::unique_ptr<RaftImpl> impl_;
};

}  // namespace raftkv::raft
