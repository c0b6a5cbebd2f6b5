#include "sim/checker.h"

#include <algorithm>

#include <fmt/format.h>

namespace raftkv::sim {

namespace {

std::string describe(const raft::Entry& e) {
  if (e.data.empty()) return fmt::format("({}, t{}, no-op)", e.index, e.term);
  return fmt::format("({}, t{}, \"{}\")", e.index, e.term, e.data);
}

}  // namespace

void Checker::fail(std::string what) {
  if (violation_.empty()) violation_ = std::move(what);
}

void Checker::on_leader(NodeId node, Term term) {
  auto [it, inserted] = leaders_.emplace(term, node);
  if (!inserted && it->second != node) {
    fail(fmt::format("election safety: two leaders in term {}: n{} and n{}", term, it->second,
                     node));
  }
}

void Checker::on_vote_granted(NodeId voter, uint64_t incarnation, Term term, NodeId candidate,
                              uint64_t asked) {
  if (asked != 0 && asked != incarnation) {
    fail(fmt::format(
        "vote safety: n{} (incarnation {:x}) granted a term-{} vote to n{} asking incarnation "
        "{:x}",
        voter, incarnation, term, candidate, asked));
    return;
  }
  std::vector<Grant>& grants = grants_[{voter, term}];
  for (const Grant& g : grants) {
    if (g.candidate == candidate) continue;
    const bool both_bound = g.incarnation != incarnation && g.asked != 0 && asked != 0;
    if (!both_bound) {
      fail(fmt::format(
          "vote safety: n{} granted its term-{} vote to n{} (incarnation {:x}, asked {:x}) and "
          "to n{} (incarnation {:x}, asked {:x})",
          voter, term, g.candidate, g.incarnation, g.asked, candidate, incarnation, asked));
      return;
    }
  }
  grants.push_back(Grant{candidate, incarnation, asked});
}

void Checker::on_become_leader(NodeId node, Term term, Index first_index, Index last_index,
                               const TermReader& term_of) {
  on_leader(node, term);
  // Raft §5.4.1: entries committed in earlier terms must all be in the new leader's log.
  // Entries before first_index are inside the leader's snapshot, which holds only committed
  // entries (checked by on_snapshot).
  for (uint64_t i = std::max<uint64_t>(first_index.value(), 1); i < committed_.size(); ++i) {
    const Committed& c = committed_[i];
    if (!c.known || c.commit_term >= term) continue;
    if (Index(i) > last_index) {
      fail(fmt::format(
          "leader completeness: n{} became leader of term {} with last index {} but {} was "
          "committed in term <= {}",
          node, term, last_index, describe(c.entry), c.commit_term));
      return;
    }
    const std::optional<Term> t = term_of(Index(i));
    if (t && *t != c.entry.term) {
      fail(fmt::format(
          "leader completeness: n{} became leader of term {} holding term {} at index {} where "
          "{} was committed in term <= {}",
          node, term, *t, i, describe(c.entry), c.commit_term));
      return;
    }
  }
}

void Checker::on_append(NodeId node, std::optional<Term> prev_term,
                        const std::vector<raft::Entry>& entries) {
  std::optional<Term> prev = prev_term;
  for (size_t k = 0; k < entries.size(); ++k) {
    const raft::Entry& e = entries[k];
    if (k > 0 && e.index != entries[k - 1].index + 1) {
      fail(fmt::format("log matching: n{} appended non-contiguous entries {} then {}", node,
                       entries[k - 1].index, e.index));
      return;
    }
    if (prev && *prev > e.term) {
      fail(fmt::format("log matching: n{} log has term {} before {} (terms must not decrease)",
                       node, *prev, describe(e)));
      return;
    }
    auto [it, inserted] =
        log_facts_.try_emplace({e.index, e.term}, LogEntryFact{e.data.str(), prev});
    if (!inserted) {
      LogEntryFact& fact = it->second;
      if (fact.data != e.data.view()) {
        fail(fmt::format(
            "log matching: entry (index {}, term {}) has payload \"{}\" on n{} but \"{}\" "
            "elsewhere",
            e.index, e.term, e.data, node, fact.data));
        return;
      }
      if (prev && fact.prev_term && *prev != *fact.prev_term) {
        fail(fmt::format(
            "log matching: entry (index {}, term {}) follows term {} on n{} but term {} "
            "elsewhere",
            e.index, e.term, *prev, node, *fact.prev_term));
        return;
      }
      if (!fact.prev_term) fact.prev_term = prev;
    }
    prev = e.term;
  }
}

void Checker::record_committed(NodeId node, Term node_term, const raft::Entry& entry,
                               const char* how) {
  const uint64_t i = entry.index.value();
  if (i == 0) {
    fail(fmt::format("n{} {} an entry at index 0", node, how));
    return;
  }
  if (committed_.size() <= i) committed_.resize(i + 1);
  Committed& c = committed_[i];
  if (!c.known) {
    c.known = true;
    c.entry = entry;
    c.commit_term = node_term;
    return;
  }
  if (c.entry.term != entry.term || c.entry.data != entry.data || c.entry.type != entry.type) {
    fail(fmt::format("state machine safety: n{} {} {} but {} is committed at index {}", node, how,
                     describe(entry), describe(c.entry), i));
  }
}

void Checker::on_committed(NodeId node, Term node_term, const raft::Entry& entry) {
  record_committed(node, node_term, entry, "considers committed");
}

void Checker::on_snapshot(NodeId node, Index index, Term term) {
  if (index.value() < committed_.size() && committed_[index.value()].known &&
      committed_[index.value()].entry.term != term) {
    fail(
        fmt::format("snapshot safety: n{} has a snapshot ending at (index {}, term {}) but {} "
                    "is committed there",
                    node, index, term, describe(committed_[index.value()].entry)));
  }
}

void Checker::on_apply(NodeId node, Term node_term, const raft::Entry& entry) {
  record_committed(node, node_term, entry, "applied");
  if (entry.type != raft::EntryType::kNormal || entry.data.empty()) return;
  auto [it, inserted] = value_index_.emplace(entry.data.str(), entry.index);
  if (!inserted && it->second != entry.index) {
    fail(
        fmt::format("state machine safety: n{} applied value \"{}\" at index {}, already "
                    "applied at index {}",
                    node, entry.data, entry.index, it->second));
  }
}

void Checker::on_progress(NodeId node, Index applied, Index commit, Index last) {
  if (!(applied <= commit && commit <= last)) {
    fail(
        fmt::format("progress order: n{} has applied {} commit {} last index {} (need "
                    "applied <= commit <= last)",
                    node, applied, commit, last));
  }
  max_commit_ = std::max(max_commit_, commit);
}

void Checker::on_read_invoked(uint64_t context) {
  read_watermarks_[context] = max_commit_;
}

void Checker::on_read_index(NodeId node, uint64_t context, Index read_index) {
  auto it = read_watermarks_.find(context);
  if (it == read_watermarks_.end()) return;  // a duplicate or an abandoned read: no claim
  if (read_index < it->second) {
    fail(
        fmt::format("linearizable read: n{} got read index {} for read {} but index {} was "
                    "already committed when the read was invoked",
                    node, read_index, context, it->second));
  }
}

void Checker::on_read_served(NodeId node, uint64_t context, Index applied) {
  auto it = read_watermarks_.find(context);
  if (it == read_watermarks_.end()) return;
  if (applied < it->second) {
    fail(
        fmt::format("linearizable read: n{} served read {} at applied index {} but index {} "
                    "was already committed when the read was invoked",
                    node, context, applied, it->second));
  }
  read_watermarks_.erase(it);
}

void Checker::on_read_abandoned(uint64_t context) {
  read_watermarks_.erase(context);
}

const raft::Entry* Checker::committed_entry(Index index) const {
  if (index.value() >= committed_.size() || !committed_[index.value()].known) return nullptr;
  return &committed_[index.value()].entry;
}

std::optional<Index> Checker::index_of_value(const std::string& value) const {
  auto it = value_index_.find(value);
  if (it == value_index_.end()) return std::nullopt;
  return it->second;
}

}  // namespace raftkv::sim
