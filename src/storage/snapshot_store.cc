#include "storage/snapshot_store.h"

#include <algorithm>

#include <fmt/format.h>

#include "base/log.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

std::optional<std::pair<uint64_t, uint64_t>> parse_snapshot_name(std::string_view name) {
  // snap-<16 hex>-<16 hex>.snap
  if (name.size() != 43 || !name.starts_with("snap-") || !name.ends_with(".snap") ||
      name[21] != '-') {
    return std::nullopt;
  }
  auto hex = [](std::string_view s) -> std::optional<uint64_t> {
    uint64_t v = 0;
    for (char c : s) {
      if (c >= '0' && c <= '9') {
        v = v * 16 + static_cast<uint64_t>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        v = v * 16 + static_cast<uint64_t>(c - 'a' + 10);
      } else {
        return std::nullopt;
      }
    }
    return v;
  };
  auto index = hex(name.substr(5, 16));
  auto term = hex(name.substr(22, 16));
  if (!index || !term) return std::nullopt;
  return std::make_pair(*index, *term);
}

}  // namespace

std::string SnapshotStore::file_name(Index index, Term term) {
  return fmt::format("snap-{:016x}-{:016x}.snap", index.value(), term.value());
}

std::string SnapshotStore::path_for(Index index, Term term) const {
  return join_path(dir_, file_name(index, term));
}

Result<std::vector<SnapshotFileInfo>> SnapshotStore::list_with_suffix(
    std::string_view suffix) const {
  auto names = fs_.list_dir(dir_);
  if (!names) return names.status();
  std::vector<SnapshotFileInfo> out;
  for (const std::string& name : *names) {
    if (!name.ends_with(suffix)) continue;
    std::string_view base(name);
    base.remove_suffix(suffix.size());
    if (auto parsed = parse_snapshot_name(base)) {
      out.push_back({join_path(dir_, name), Index(parsed->first), Term(parsed->second)});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.index, a.term) > std::tie(b.index, b.term);
  });
  return out;
}

Result<std::vector<SnapshotFileInfo>> SnapshotStore::list() const {
  return list_with_suffix("");
}

Result<std::vector<SnapshotFileInfo>> SnapshotStore::list_partial() const {
  return list_with_suffix(".partial");
}

Status SnapshotStore::adopt(const std::string& complete_path, const raft::SnapshotMeta& meta) {
  const std::string final_path = path_for(meta.index, meta.term);
  if (complete_path != final_path) {
    if (Status s = fs_.rename(complete_path, final_path); !s) return s;
  }
  if (Status s = fs_.sync_dir(dir_); !s) return s;
  // The new snapshot is durable: older ones and stale partial transfers are no longer needed.
  bool removed = false;
  for (auto listing : {list(), list_partial()}) {
    if (!listing) return listing.status();
    for (const SnapshotFileInfo& info : *listing) {
      if (info.path != final_path && info.index <= meta.index) {
        if (Status s = fs_.remove(info.path); !s) return s;
        removed = true;
      }
    }
  }
  if (removed) return fs_.sync_dir(dir_);
  return Status::ok();
}

Status SnapshotStore::save(const raft::Snapshot& snap) {
  const std::string temp_path = temp_path_for(snap.meta.index, snap.meta.term);
  if (Status s = write_snapshot_file(fs_, temp_path, snap); !s) return s;
  return adopt(temp_path, snap.meta);
}

Result<std::shared_ptr<const raft::Snapshot>> SnapshotStore::load_newest() const {
  auto files = list();
  if (!files) return files.status();
  Logger log("snapshot-store");
  for (const SnapshotFileInfo& info : *files) {
    auto reader = SnapshotFileReader::open(fs_, info.path);
    Status s = reader ? (*reader)->verify() : reader.status();
    if (!s) {
      log.warn("skipping damaged snapshot: {}", s.to_string());
      continue;
    }
    const raft::SnapshotMeta& meta = (*reader)->meta();
    if (meta.index != info.index || meta.term != info.term) {
      log.warn("skipping snapshot {}: contents say index {} term {}", info.path, meta.index,
               meta.term);
      continue;
    }
    auto snap = std::make_shared<raft::Snapshot>();
    snap->meta = meta;
    return std::shared_ptr<const raft::Snapshot>(std::move(snap));
  }
  return std::shared_ptr<const raft::Snapshot>(std::make_shared<raft::Snapshot>());
}

}  // namespace raftkv::storage
