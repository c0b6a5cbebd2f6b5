// libFuzzer harness for WAL recovery: the bytes a damaged or hostile disk controls.
//
// The input describes a data directory (segments, snapshot files, temp files; format in
// wal_input.h), which is written into an in-memory file system; then Wal::open runs recovery.
// Checked properties, beyond no crash/UB/leak (sanitizers) and termination:
//   - open either succeeds or refuses cleanly with kCorruption / kVersionMismatch;
//   - after a successful open, every entry in [first_index, last_index] reads back (from disk:
//     the cache is tiny) with consecutive indexes and the terms term() reports, terms never
//     decrease, and no temp file is left;
//   - recovery's repairs leave a valid WAL: reopening yields the same log, hard state and
//     snapshot, and an entry appended and synced after recovery survives another reopen.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/log.h"
#include "mem_file_system.h"
#include "storage/wal.h"
#include "wal_input.h"

namespace {

using raftkv::ErrorCode;
using raftkv::Index;
using raftkv::Term;
using raftkv::fuzz::MemFileSystem;
using raftkv::storage::Wal;
using raftkv::storage::WalOptions;

// Reports a broken property (shown with the crash) and stops.
[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "wal_fuzz: property violated: %s\n", what);
  __builtin_trap();
}

constexpr const char* kDir = "/data";
// Longer recovered logs are possible only with absurd indexes; reading them is not useful.
constexpr uint64_t kMaxCheckedEntries = 1 << 14;

WalOptions options() {
  WalOptions o;
  o.segment_bytes = raftkv::storage::kSegmentHeaderSize + 4096;  // the minimum: more rolls
  o.cache_bytes = 1;  // every entry read goes to disk, through the recovered locations
  return o;
}

// What recovery produced, for comparing two opens of the same directory.
struct State {
  Index first;
  Index last;
  std::vector<Term> terms;  // of first-1 .. last
  raftkv::raft::HardState hard_state;
  Index snap_index;
  Term snap_term;
  bool operator==(const State&) const = default;
};

State check_and_capture(const Wal& wal) {
  State st;
  st.first = wal.first_index();
  st.last = wal.last_index();
  st.hard_state = wal.initial_state().hard_state;
  auto snap = wal.snapshot();
  if (!snap) fail("snapshot() fails after a successful open");
  st.snap_index = (*snap)->meta.index;
  st.snap_term = (*snap)->meta.term;
  if (st.first.value() == 0) return st;  // base index wrapped: nothing sensible to read
  const Index base = st.first - 1;
  if (st.last < base || st.last - base > kMaxCheckedEntries) return st;
  // Loops count entries rather than compare indexes: last_index may be UINT64_MAX.
  const uint64_t count = st.last - base;
  for (uint64_t k = 0; k <= count; ++k) {
    auto t = wal.term(base + k);
    if (!t) fail("term(i) fails inside [first_index - 1, last_index]");
    if (k > 1 && *t < st.terms.back()) fail("terms decrease");
    st.terms.push_back(*t);
  }
  uint64_t done = 0;
  for (uint64_t rounds = 0; done < count; ++rounds) {
    if (rounds > count) fail("entries() makes no progress");
    // hi = last + 1 is not representable at UINT64_MAX: stop one short there.
    const Index hi = st.last.value() == UINT64_MAX ? st.last : st.last + 1;
    if (st.first + done >= hi) break;
    auto batch = wal.entries(st.first + done, hi, 1 << 12);
    if (!batch || batch->empty()) {
      fail(batch ? "entries() returns nothing" : batch.status().to_string().c_str());
    }
    for (const auto& e : *batch) {
      ++done;
      if (e.index != base + done || e.term != st.terms[done]) {
        fail("entries() disagrees with term()");
      }
    }
  }
  return st;
}

std::string describe(const State& st) {
  std::string terms;
  for (Term t : st.terms) terms += " " + std::to_string(t.value());
  return fmt::format("log ({}, {}] terms [{} ] hard state ({}, {}, {}) snapshot ({}, {})",
                     st.first.value() - 1, st.last.value(), terms, st.hard_state.term.value(),
                     st.hard_state.vote.value(), st.hard_state.commit.value(),
                     st.snap_index.value(), st.snap_term.value());
}

void expect_same(const State& got, const State& want, const char* when) {
  if (got == want) return;
  std::fprintf(stderr, "wal_fuzz: %s:\n  got  %s\n  want %s\n", when, describe(got).c_str(),
               describe(want).c_str());
  fail("recovery is not stable");
}

void check_no_temp_files(const MemFileSystem& fs) {
  for (const std::string& path : fs.paths()) {
    if (path.ends_with(".tmp")) fail("a temp file survives recovery");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  raftkv::set_log_level(raftkv::LogLevel::kOff);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto input =
      raftkv::fuzz::parse_wal_input(std::string_view(reinterpret_cast<const char*>(data), size));
  raftkv::fuzz::apply_wal_input_flags(&input);
  MemFileSystem fs;
  if (!fs.create_dirs(kDir)) fail("create_dirs");
  for (auto& [name, contents] : input.files) fs.put(std::string(kDir) + "/" + name, contents);

  State recovered;
  {
    auto wal = Wal::open(fs, kDir, options());
    if (!wal) {
      if (wal.code() != ErrorCode::kCorruption && wal.code() != ErrorCode::kVersionMismatch) {
        fail(wal.status().to_string().c_str());
      }
      return 0;
    }
    recovered = check_and_capture(**wal);
  }
  check_no_temp_files(fs);

  // Recovery's repairs must leave a directory that recovers to the same state.
  {
    auto wal = Wal::open(fs, kDir, options());
    if (!wal) fail(wal.status().to_string().c_str());
    expect_same(check_and_capture(**wal), recovered, "reopen after recovery");
    if (recovered.last.value() == UINT64_MAX || recovered.terms.empty()) return 0;
    // Append one entry and a hard state; both must survive a reopen.
    raftkv::raft::Entry e{recovered.terms.back(), recovered.last + 1,
                          raftkv::raft::EntryType::kNormal, "fuzz"};
    raftkv::raft::HardState hs = recovered.hard_state;
    hs.term = std::max(hs.term, e.term);
    auto ticket = (*wal)->append({e}, hs);
    if (!ticket) fail(ticket.status().to_string().c_str());
    auto durable = (*wal)->sync();
    if (!durable || durable->index != e.index) fail("sync after append");
    recovered.last = e.index;
    recovered.terms.push_back(e.term);
    recovered.hard_state = hs;
  }
  auto wal = Wal::open(fs, kDir, options());
  if (!wal) fail(wal.status().to_string().c_str());
  expect_same(check_and_capture(**wal), recovered, "reopen after an append");
  return 0;
}
