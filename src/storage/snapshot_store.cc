#include "storage/snapshot_store.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/log.h"
#include "base/crc32c.h"
#include "storage/wal_format.h"

namespace raftkv::storage {
namespace {

Status corrupt(std::string reason) {
  return Status(ErrorCode::kCorruption, std::move(reason));
}

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

std::string SnapshotStore::encode(const raft::Snapshot& snap) {
  std::string out(kSnapshotMagic, sizeof(kSnapshotMagic));
  put_u32(&out, kFormatVersion);
  put_u32(&out, 0);
  put_u64(&out, snap.meta.index.value());
  put_u64(&out, snap.meta.term.value());
  put_u32(&out, static_cast<uint32_t>(snap.meta.conf.voters.size()));
  put_u32(&out, static_cast<uint32_t>(snap.meta.conf.learners.size()));
  for (NodeId id : snap.meta.conf.voters) put_u64(&out, id.value());
  for (NodeId id : snap.meta.conf.learners) put_u64(&out, id.value());
  put_u64(&out, snap.data.size());
  out.append(snap.data);
  put_u32(&out, crc32c(out));
  return out;
}

Result<raft::Snapshot> SnapshotStore::decode(std::string_view bytes) {
  if (bytes.size() < 48) return corrupt(fmt::format("file too short ({} bytes)", bytes.size()));
  if (std::memcmp(bytes.data(), kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    return corrupt("bad magic: not a raftkv snapshot");
  }
  const uint32_t version = get_u32(bytes.data() + 8);
  if (version > kFormatVersion) {
    return Status(ErrorCode::kVersionMismatch,
                  fmt::format("snapshot format version {}, this build reads up to {}", version,
                              kFormatVersion));
  }
  const size_t body = bytes.size() - 4;
  const uint32_t stored = get_u32(bytes.data() + body);
  const uint32_t computed = crc32c(bytes.data(), body);
  if (stored != computed) {
    return corrupt(
        fmt::format("checksum mismatch (stored {:08x}, computed {:08x})", stored, computed));
  }
  raft::Snapshot snap;
  snap.meta.index = Index(get_u64(bytes.data() + 16));
  snap.meta.term = Term(get_u64(bytes.data() + 24));
  const uint64_t voters = get_u32(bytes.data() + 32);
  const uint64_t learners = get_u32(bytes.data() + 36);
  uint64_t pos = 40;
  if (pos + (voters + learners) * 8 + 8 > body) return corrupt("membership runs past the end");
  for (uint64_t i = 0; i < voters; ++i, pos += 8) {
    snap.meta.conf.voters.emplace_back(get_u64(bytes.data() + pos));
  }
  for (uint64_t i = 0; i < learners; ++i, pos += 8) {
    snap.meta.conf.learners.emplace_back(get_u64(bytes.data() + pos));
  }
  const uint64_t data_len = get_u64(bytes.data() + pos);
  pos += 8;
  if (pos + data_len != body) return corrupt("data length does not match the file size");
  snap.data.assign(bytes.data() + pos, data_len);
  return snap;
}

Result<raft::Snapshot> SnapshotStore::read_file(FileSystem& fs, const std::string& path) {
  auto bytes = read_whole_file(fs, path);
  if (!bytes) return bytes.status();
  auto snap = decode(*bytes);
  if (!snap)
    return Status(snap.code(), fmt::format("snapshot {}: {}", path, snap.status().message()));
  return snap;
}

Result<std::vector<SnapshotFileInfo>> SnapshotStore::list() const {
  auto names = fs_.list_dir(dir_);
  if (!names) return names.status();
  std::vector<SnapshotFileInfo> out;
  for (const std::string& name : *names) {
    if (auto parsed = parse_snapshot_name(name)) {
      out.push_back({join_path(dir_, name), Index(parsed->first), Term(parsed->second)});
    }
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
    return std::tie(a.index, a.term) > std::tie(b.index, b.term);
  });
  return out;
}

Status SnapshotStore::save(const raft::Snapshot& snap) {
  const std::string final_path = join_path(dir_, file_name(snap.meta.index, snap.meta.term));
  const std::string temp_path = final_path + ".tmp";
  {
    auto file = fs_.open(temp_path, OpenMode::kCreateExclusive);
    if (!file) return file.status();
    Status s = (*file)->pwrite(0, encode(snap));
    if (s) s = (*file)->sync();
    if (!s) return s;
  }
  if (Status s = fs_.rename(temp_path, final_path); !s) return s;
  if (Status s = fs_.sync_dir(dir_); !s) return s;
  // The new snapshot is durable: older ones are no longer needed.
  auto existing = list();
  if (!existing) return existing.status();
  bool removed = false;
  for (const SnapshotFileInfo& info : *existing) {
    if (info.index < snap.meta.index) {
      if (Status s = fs_.remove(info.path); !s) return s;
      removed = true;
    }
  }
  if (removed) return fs_.sync_dir(dir_);
  return Status::ok();
}

Result<std::shared_ptr<const raft::Snapshot>> SnapshotStore::load_newest() const {
  auto files = list();
  if (!files) return files.status();
  Logger log("snapshot-store");
  for (const SnapshotFileInfo& info : *files) {
    auto snap = read_file(fs_, info.path);
    if (!snap) {
      log.warn("skipping damaged snapshot: {}", snap.status().to_string());
      continue;
    }
    if (snap->meta.index != info.index || snap->meta.term != info.term) {
      log.warn("skipping snapshot {}: contents say index {} term {}", info.path, snap->meta.index,
               snap->meta.term);
      continue;
    }
    return std::shared_ptr<const raft::Snapshot>(
        std::make_shared<raft::Snapshot>(std::move(snap).value()));
  }
  return std::shared_ptr<const raft::Snapshot>(std::make_shared<raft::Snapshot>());
}

}  // namespace raftkv::storage
