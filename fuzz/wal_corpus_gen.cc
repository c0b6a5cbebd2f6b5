// Writes the seed corpus of wal_fuzz: real data directories produced by storage::Wal (on the
// in-memory file system, with wal_fuzz's options), one fuzzer input file per scenario.
//   wal_corpus_gen fuzz/corpus/wal
// Segments are trimmed of their trailing zeros (the preallocated tail), which recovery reads
// the same way, to keep the seeds small. Deterministic: rerunning rewrites identical files.
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>

#include "base/log.h"
#include "mem_file_system.h"
#include "storage/wal.h"
#include "wal_input.h"

namespace {

using raftkv::Index;
using raftkv::NodeId;
using raftkv::Term;
using raftkv::fuzz::MemFileSystem;
using raftkv::fuzz::WalInput;
using raftkv::raft::Entry;
using raftkv::raft::HardState;
using raftkv::storage::Wal;

constexpr const char* kDir = "/data";

raftkv::storage::WalOptions options() {
  raftkv::storage::WalOptions o;
  o.segment_bytes = raftkv::storage::kSegmentHeaderSize + 4096;  // as in wal_fuzz.cc
  o.cache_bytes = 1;
  return o;
}

std::vector<Entry> entries(uint64_t first, uint64_t count, uint64_t term, size_t size) {
  std::vector<Entry> out;
  for (uint64_t i = first; i < first + count; ++i) {
    std::string data = "v" + std::to_string(i) + "t" + std::to_string(term);
    data.resize(size, static_cast<char>('a' + i % 26));
    out.push_back(Entry{Term(term), Index(i), raftkv::raft::EntryType::kNormal, data});
  }
  return out;
}

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "wal_corpus_gen: %s failed\n", what);
    std::exit(1);
  }
}

std::shared_ptr<const raftkv::raft::Snapshot> snapshot(uint64_t index, uint64_t term) {
  auto snap = std::make_shared<raftkv::raft::Snapshot>();
  snap->meta.index = Index(index);
  snap->meta.term = Term(term);
  snap->meta.conf.voters = {NodeId(1), NodeId(2), NodeId(3)};
  snap->data = "state machine at " + std::to_string(index);
  return snap;
}

// Runs `scenario` on a fresh directory and returns the directory as a fuzzer input.
WalInput capture(uint8_t flags, const std::function<void(Wal&)>& scenario) {
  MemFileSystem fs;
  {
    auto wal = Wal::open(fs, kDir, options());
    check(wal.is_ok(), "open");
    scenario(**wal);
  }
  WalInput input;
  input.flags = flags;
  const std::string prefix = std::string(kDir) + "/";
  for (const std::string& path : fs.paths()) {
    std::string data = *fs.get(path);
    if (raftkv::storage::parse_segment_file_name(path.substr(prefix.size()))) {
      while (data.size() > raftkv::storage::kSegmentHeaderSize && data.back() == '\0') {
        data.pop_back();
      }
    }
    input.files.emplace_back(path.substr(prefix.size()), std::move(data));
  }
  return input;
}

void write(const std::string& dir, const std::string& name, const WalInput& input) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << raftkv::fuzz::serialize_wal_input(input);
  check(out.good(), "write");
}

void append(Wal& wal, std::vector<Entry> es, std::optional<HardState> hs = std::nullopt) {
  check(wal.append(es, hs).is_ok(), "append");
  check(wal.sync().is_ok(), "sync");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  raftkv::set_log_level(raftkv::LogLevel::kOff);
  const std::string out = argv[1];
  const uint8_t fix = raftkv::fuzz::kFixChecksums;
  const HardState hs{Term(2), NodeId(1), Index(3)};

  write(out, "empty", capture(0, [](Wal&) {}));
  write(out, "few_entries", capture(fix, [&](Wal& w) { append(w, entries(1, 3, 1, 8), hs); }));
  write(out, "few_entries_raw", capture(0, [&](Wal& w) { append(w, entries(1, 3, 1, 8), hs); }));
  write(out, "three_segments", capture(fix, [&](Wal& w) {
          for (uint64_t i = 1; i <= 24; i += 4) append(w, entries(i, 4, 1 + i / 8, 200), hs);
        }));
  write(out, "truncate", capture(fix, [&](Wal& w) {
          append(w, entries(1, 5, 1, 16), hs);
          append(w, entries(4, 3, 2, 16), HardState{Term(2), NodeId(2), Index(3)});
        }));
  write(out, "snapshot_compact", capture(fix | raftkv::fuzz::kNameSnapshotsByContents, [&](Wal& w) {
          for (uint64_t i = 1; i <= 24; i += 4) append(w, entries(i, 4, 1, 200), hs);
          check(w.save_snapshot(snapshot(14, 1)).is_ok(), "save_snapshot");
          check(w.compact(Index(14)).is_ok(), "compact");
        }));
  write(out, "snapshot_reset", capture(fix | raftkv::fuzz::kNameSnapshotsByContents, [&](Wal& w) {
          append(w, entries(1, 3, 1, 16), hs);
          check(w.save_snapshot(snapshot(40, 3)).is_ok(), "save_snapshot");
          append(w, entries(41, 2, 3, 16), HardState{Term(3), NodeId(3), Index(41)});
        }));
  write(out, "conf_change", capture(fix, [&](Wal& w) {
          auto es = entries(1, 2, 1, 0);
          es[1].type = raftkv::raft::EntryType::kConfChange;
          es[1].data = std::string("\x01\x04\0\0\0\0\0\0\0", 9);
          append(w, es, hs);
        }));
  // A torn tail: the last record half-written (crc left wrong on purpose: no kFixChecksums).
  WalInput torn = capture(0, [&](Wal& w) { append(w, entries(1, 4, 1, 40), hs); });
  for (auto& [name, data] : torn.files) {
    if (name.starts_with("wal-")) data.resize(data.size() - 20);
  }
  write(out, "torn_tail", torn);
  // A crash between creating a segment's temp file and renaming it.
  WalInput temp = capture(fix, [&](Wal& w) { append(w, entries(1, 2, 1, 8), hs); });
  temp.files.emplace_back("wal-0000000000000002.log.tmp", std::string(40, 'x'));
  write(out, "leftover_tmp", temp);
  return 0;
}
