#include "storage/node_identity.h"

#include <charconv>
#include <random>

#include <fmt/format.h>

#include "base/crc32c.h"

namespace raftkv::storage {
namespace {

constexpr const char* kTempSuffix = ".tmp";

Status corrupt(const std::string& path, std::string_view why) {
  return Status(ErrorCode::kCorruption,
                fmt::format("node identity file {} is damaged ({}). It names the node and the "
                            "incarnation of this data directory; restore it from a backup, or, "
                            "if this data directory is to join as a new node, remove the whole "
                            "directory",
                            path, why));
}

// Splits off the next '\n'-terminated line of `rest` (without the newline).
bool next_line(std::string_view& rest, std::string_view* line) {
  const size_t nl = rest.find('\n');
  if (nl == std::string_view::npos) return false;
  *line = rest.substr(0, nl);
  rest.remove_prefix(nl + 1);
  return true;
}

// "<key> <value>" with the value parsed in `base`; exactly that, nothing around it.
bool parse_field(std::string_view line, std::string_view key, int base, size_t digits,
                 uint64_t* out) {
  if (!line.starts_with(key) || line.size() <= key.size() || line[key.size()] != ' ') return false;
  const std::string_view value = line.substr(key.size() + 1);
  if (value.empty() || (digits != 0 && value.size() != digits)) return false;
  for (char c : value) {
    const bool ok =
        base == 10 ? (c >= '0' && c <= '9') : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    if (!ok) return false;
  }
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *out, base);
  return ec == std::errc() && end == value.data() + value.size();
}

std::string body(const NodeIdentity& id) {
  return fmt::format("raftkv-identity {}\nnode {}\nincarnation {:016x}\n", kIdentityFormatVersion,
                     id.node.value(), id.incarnation);
}

Status write_identity(FileSystem& fs, const std::string& dir, const NodeIdentity& id) {
  const std::string path = join_path(dir, kIdentityFileName);
  const std::string temp = path + kTempSuffix;
  (void)fs.remove(temp);  // a leftover of a crash during an earlier first start
  auto file = fs.open(temp, OpenMode::kCreateExclusive);
  if (!file) return file.status();
  Status s = (*file)->pwrite(0, encode_identity(id));
  if (s) s = (*file)->sync();
  if (s) s = fs.rename(temp, path);
  if (s) s = fs.sync_dir(dir);
  return s;
}

}  // namespace

std::string encode_identity(const NodeIdentity& identity) {
  const std::string b = body(identity);
  return b + fmt::format("crc32c {:08x}\n", crc32c(b));
}

Result<NodeIdentity> decode_identity(std::string_view bytes, const std::string& path) {
  std::string_view rest = bytes;
  std::string_view magic, node, incarnation, crc;
  if (!next_line(rest, &magic) || !next_line(rest, &node) || !next_line(rest, &incarnation) ||
      !next_line(rest, &crc) || !rest.empty()) {
    return corrupt(path, fmt::format("expected 4 lines, {} bytes do not form them", bytes.size()));
  }
  uint64_t version = 0;
  if (!parse_field(magic, "raftkv-identity", 10, 0, &version)) {
    return corrupt(path, "first line is not 'raftkv-identity <version>'");
  }
  uint64_t stored_crc = 0;
  if (!parse_field(crc, "crc32c", 16, 8, &stored_crc)) {
    return corrupt(path, "last line is not 'crc32c <8 hex digits>'");
  }
  const std::string_view covered = bytes.substr(0, bytes.size() - crc.size() - 1);
  if (crc32c(covered) != stored_crc) {
    return corrupt(path, fmt::format("CRC32C {:08x} does not match the stored {:08x}",
                                     crc32c(covered), stored_crc));
  }
  if (version != kIdentityFormatVersion) {
    return Status(ErrorCode::kVersionMismatch,
                  fmt::format("node identity file {} has format version {}; this raftkv reads "
                              "version {}: run a newer raftkv-server",
                              path, version, kIdentityFormatVersion));
  }
  NodeIdentity out;
  uint64_t id = 0;
  if (!parse_field(node, "node", 10, 0, &id) || id == 0) {
    return corrupt(path, "second line is not 'node <id > 0>'");
  }
  out.node = NodeId(id);
  if (!parse_field(incarnation, "incarnation", 16, 16, &out.incarnation) || out.incarnation == 0) {
    return corrupt(path, "third line is not 'incarnation <16 hex digits, not all zero>'");
  }
  return out;
}

Result<LoadedIdentity> load_or_create_identity(FileSystem& fs, const std::string& dir, NodeId node,
                                               uint64_t fresh_incarnation) {
  RAFTKV_ASSERT(!node.is_none(), "identity for node 0");
  RAFTKV_ASSERT(fresh_incarnation != 0, "incarnation 0 means unbound; draw a non-zero one");
  auto names = fs.list_dir(dir);
  if (!names) return names.status();
  const std::string path = join_path(dir, kIdentityFileName);
  bool exists = false, other_files = false;
  for (const std::string& name : *names) {
    if (name == kIdentityFileName) {
      exists = true;
    } else if (name != std::string(kIdentityFileName) + kTempSuffix) {
      other_files = true;
    }
  }
  LoadedIdentity out;
  if (exists) {
    auto bytes = read_whole_file(fs, path);
    if (!bytes) return bytes.status();
    auto id = decode_identity(*bytes, path);
    if (!id) return id.status();
    if (id->node != node) {
      return Status(ErrorCode::kInvalidArgument,
                    fmt::format("data directory {} belongs to node {} (see {}), not to node {}: "
                                "start node {} with its own --data-dir, or give this node an "
                                "empty directory",
                                dir, id->node, path, node, node));
    }
    out.identity = *id;
    return out;
  }
  out.identity = NodeIdentity{node, fresh_incarnation};
  out.created = true;
  out.existing_data = other_files;
  if (Status s = write_identity(fs, dir, out.identity); !s) {
    return Status(s.code(), fmt::format("cannot write {}: {}", path, s.message()));
  }
  return out;
}

uint64_t random_incarnation() {
  std::random_device rd;
  for (;;) {
    const uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
    if (v != 0) return v;
  }
}

}  // namespace raftkv::storage
