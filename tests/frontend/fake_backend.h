// Test doubles for Backend.
//
// FakeBackend: records every call; completes immediately with a scripted outcome, or holds the
// completions until the test releases them (in any order). InMemoryBackend: a tiny single-node
// store (GET/SET/DEL/DBSIZE/...) built on kv::execute_command over the skiplist engine, for
// socket tests and redis-cli. Both are thread-safe (one mutex).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "frontend/backend.h"
#include "kv/commands.h"
#include "kv/engine.h"

namespace raftkv::frontend::testing {

struct RecordedCall {
  bool write = false;
  std::vector<std::string> args;
  ClientSession session;
  ReadConsistency consistency = ReadConsistency::kLinearizable;
  bool after_own_writes = false;  // reads only
  // Completions the backend had delivered before this call arrived (ordering tests).
  size_t completed_before = 0;
  // "" for KV calls; "member", "transfer" or "list" for the membership calls (whose args are
  // that one word).
  std::string admin;
  MemberChange change;  // admin == "member"
  NodeId transfer_to;   // admin == "transfer"
};

class FakeBackend : public Backend {
 public:
  // Outcome used for every call while hold_ is false. Default: +OK.
  void set_outcome(Result<kv::Reply> outcome) {
    std::lock_guard lock(mu_);
    outcome_ = std::move(outcome);
  }
  // While holding, completions are queued until release_*() is called.
  void set_holding(bool holding) {
    std::lock_guard lock(mu_);
    holding_ = holding;
  }
  void set_status(BackendStatus status) {
    std::lock_guard lock(mu_);
    status_ = std::move(status);
  }

  void write(std::vector<std::string> args, ClientSession session, Completion done) override {
    record({true, args, session, ReadConsistency::kLinearizable}, std::move(done));
  }
  void read(std::vector<std::string> args, ReadOptions options, Completion done) override {
    record({false, args, {}, options.consistency, options.after_own_writes}, std::move(done));
  }
  BackendStatus status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }
  void change_membership(MemberChange change, Completion done) override {
    RecordedCall call;
    call.admin = "member";
    call.args = {"member"};
    call.change = std::move(change);
    record(std::move(call), std::move(done));
  }
  void transfer_leadership(NodeId to, Completion done) override {
    RecordedCall call;
    call.admin = "transfer";
    call.args = {"transfer"};
    call.transfer_to = to;
    record(std::move(call), std::move(done));
  }
  void list_members(Completion done) override {
    RecordedCall call;
    call.admin = "list";
    call.args = {"list"};
    record(std::move(call), std::move(done));
  }

  std::vector<RecordedCall> calls() const {
    std::lock_guard lock(mu_);
    return calls_;
  }
  size_t held_count() const {
    std::lock_guard lock(mu_);
    return held_.size();
  }
  // Blocks until at least `count` completions are held, or the timeout passes.
  bool wait_for_held(size_t count, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return held_changed_.wait_for(lock, timeout, [&] { return held_.size() >= count; });
  }
  // Completes every held call, first received first, with `reply`. Returns how many.
  size_t release_all_with(const kv::Reply& reply) {
    std::vector<std::pair<RecordedCall, Completion>> held;
    {
      std::lock_guard lock(mu_);
      held.assign(held_.begin(), held_.end());
      held_.clear();
      completed_ += held.size();
    }
    for (auto& [call, done] : held) done(reply);
    return held.size();
  }
  // Completes every held call, last received first, each with "+<args[1]>" (the echo of its
  // first argument) so tests can tell which reply is which.
  // Returns how many were completed.
  size_t release_all_in_reverse() {
    std::vector<std::pair<RecordedCall, Completion>> held;
    {
      std::lock_guard lock(mu_);
      held.assign(held_.begin(), held_.end());
      held_.clear();
    }
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      const auto& args = it->first.args;
      {
        std::lock_guard lock(mu_);
        ++completed_;
      }
      it->second(kv::Reply::status(args.size() > 1 ? args[1] : args[0]));
    }
    return held.size();
  }

 private:
  void record(RecordedCall call, Completion done) {
    std::unique_lock lock(mu_);
    call.completed_before = completed_;
    calls_.push_back(call);
    if (holding_) {
      held_.emplace_back(std::move(call), std::move(done));
      held_changed_.notify_all();
      return;
    }
    Result<kv::Reply> outcome = outcome_;
    ++completed_;
    lock.unlock();
    done(std::move(outcome));
  }

  mutable std::mutex mu_;
  size_t completed_ = 0;
  Result<kv::Reply> outcome_ = kv::Reply::ok();
  bool holding_ = false;
  BackendStatus status_;
  std::vector<RecordedCall> calls_;
  std::deque<std::pair<RecordedCall, Completion>> held_;
  std::condition_variable held_changed_;
};

// A single-node store without replication: commands run against a skiplist engine under a
// mutex and complete synchronously. Time is fixed (no expiry) to keep tests deterministic.
class InMemoryBackend : public Backend {
 public:
  InMemoryBackend() : engine_(kv::make_skiplist_engine()) {
    status_.id = NodeId(1);
    status_.role = "leader";
    status_.leader = NodeId(1);
  }
  void set_client_addr(const std::string& addr) {
    std::lock_guard lock(mu_);
    status_.leader_client_addr = addr;
    status_.members = {MemberInfo{NodeId(1), addr, true}};
  }
  void change_membership(MemberChange, Completion done) override {
    done(Status(ErrorCode::kInvalidArgument, "a single-node test store has a fixed membership"));
  }
  void transfer_leadership(NodeId to, Completion done) override {
    if (to == NodeId(1)) {
      done(kv::Reply::ok());
    } else {
      done(Status(ErrorCode::kInvalidArgument, fmt::format("unknown node {}", to.value())));
    }
  }
  void list_members(Completion done) override {
    std::unique_lock lock(mu_);
    MemberRow self{NodeId(1), "", status_.leader_client_addr, true, "caught-up"};
    lock.unlock();
    done(member_list_reply({self}));
  }

  void write(std::vector<std::string> args, ClientSession, Completion done) override {
    std::unique_lock lock(mu_);
    kv::WriteBatch batch;
    kv::Reply reply = kv::execute_command(*engine_, &batch, args, 0, {});
    RAFTKV_ASSERT(engine_->write(batch).is_ok(), "in-memory engine write failed");
    lock.unlock();
    done(std::move(reply));
  }
  void read(std::vector<std::string> args, ReadOptions, Completion done) override {
    std::unique_lock lock(mu_);
    kv::Reply reply = kv::execute_command(*engine_, nullptr, args, 0, {});
    lock.unlock();
    done(std::move(reply));
  }
  BackendStatus status() const override {
    std::lock_guard lock(mu_);
    BackendStatus status = status_;
    status.keys = engine_->count(kv::Space::kData);
    return status;
  }

 private:
  mutable std::mutex mu_;
  std::unique_ptr<kv::Engine> engine_;
  BackendStatus status_;
};

}  // namespace raftkv::frontend::testing
