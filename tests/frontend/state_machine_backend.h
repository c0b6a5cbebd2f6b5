// A Backend over a real kv::StateMachine (one node, no Raft): every write is the next log entry,
// so ACL SETUSER / DELUSER apply as RAFTKV.ACL entries and publish to the ACL the dispatcher
// enforces, as on a server. Writes complete synchronously, or on a thread of their own when
// `async` (as a node's applier does). Thread-safe (one mutex).
#pragma once

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "frontend/backend.h"
#include "kv/acl_state.h"
#include "kv/state_machine.h"
#include "kv/value_codec.h"

namespace raftkv::frontend::testing {

class StateMachineBackend : public Backend {
 public:
  explicit StateMachineBackend(std::string seed_rules = std::string(kv::acl::kDefaultUserRules),
                               bool async = false)
      : publisher_(std::make_shared<kv::acl::AclPublisher>(std::move(seed_rules))),
        sm_(kv::make_skiplist_engine(), options(publisher_)),
        async_(async) {
    status_.id = NodeId(1);
    status_.role = "leader";
    status_.leader = NodeId(1);
  }
  ~StateMachineBackend() override {
    for (auto& thread : threads_) thread.join();
  }

  const std::shared_ptr<kv::acl::AclPublisher>& publisher() const { return publisher_; }

  void write(std::vector<std::string> args, ClientSession, Completion done) override {
    auto apply = [this, args = std::move(args), done = std::move(done)] {
      std::unique_lock lock(mu_);
      written_.push_back(args);
      raft::Entry entry;
      entry.term = Term(1);
      entry.index = Index(sm_.applied_index().value() + 1);
      kv::RequestHeader header;
      header.timestamp_ms = 1'700'000'000'000;
      entry.data = kv::encode_request(header, args);
      kv::Reply reply = *sm_.apply(entry);
      status_.applied_index = sm_.applied_index();
      status_.commit_index = sm_.applied_index();
      lock.unlock();
      done(std::move(reply));
    };
    if (!async_) {
      apply();
      return;
    }
    std::lock_guard lock(threads_mu_);
    threads_.emplace_back(std::move(apply));
  }
  void read(std::vector<std::string> args, ReadOptions, Completion done) override {
    std::unique_lock lock(mu_);
    kv::Reply reply = sm_.read(args, 0);
    lock.unlock();
    done(std::move(reply));
  }
  BackendStatus status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }
  // The ACL tests do not change membership: a single fixed member.
  void change_membership(MemberChange, Completion done) override {
    done(Status(ErrorCode::kInvalidArgument, "a single-node test store has a fixed membership"));
  }
  void transfer_leadership(NodeId, Completion done) override {
    done(Status(ErrorCode::kInvalidArgument, "a single-node test store has a fixed membership"));
  }
  void list_members(Completion done) override { done(kv::Reply::array({})); }
  void set_indexes(uint64_t commit, uint64_t applied) {
    std::lock_guard lock(mu_);
    status_.commit_index = Index(commit);
    status_.applied_index = Index(applied);
  }
  // Every write as the backend received it (the entries' arguments).
  std::vector<std::vector<std::string>> written() const {
    std::lock_guard lock(mu_);
    return written_;
  }

 private:
  static kv::StateMachineOptions options(std::shared_ptr<kv::acl::AclPublisher> publisher) {
    kv::StateMachineOptions out;
    out.acl = std::move(publisher);
    return out;
  }

  std::shared_ptr<kv::acl::AclPublisher> publisher_;
  mutable std::mutex mu_;
  kv::StateMachine sm_;
  BackendStatus status_;
  std::vector<std::vector<std::string>> written_;
  const bool async_;
  std::mutex threads_mu_;
  std::vector<std::thread> threads_;
};

}  // namespace raftkv::frontend::testing
