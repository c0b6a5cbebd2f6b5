// Helpers shared by the storage tests: a temp directory removed on destruction, and
// deterministic entry construction.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "raft/types.h"

namespace raftkv::storage::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/raftkv-storage-test-XXXXXX";
    char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) std::abort();
    path_ = p;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Entry payloads derived from (index, term), so any reader can check them.
inline std::string payload_for(Index index, Term term, size_t size) {
  std::string data = fmt::format("e{}t{}:", index, term);
  while (data.size() < size) data.push_back(static_cast<char>('a' + (data.size() % 26)));
  data.resize(std::max(size, data.size()));
  return data;
}

inline std::vector<raft::Entry> make_entries(uint64_t first, uint64_t count, uint64_t term,
                                             size_t size = 32) {
  std::vector<raft::Entry> out;
  for (uint64_t i = first; i < first + count; ++i) {
    out.push_back(raft::Entry{Term(term), Index(i), raft::EntryType::kNormal,
                              payload_for(Index(i), Term(term), size)});
  }
  return out;
}

}  // namespace raftkv::storage::testing
