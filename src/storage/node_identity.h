// The identity of a data directory: which node it belongs to and which incarnation of that node
// it is (issue 12). A node that lost its disk comes back with a new incarnation, and the
// membership (raft::MemberInfo::incarnation) tells the cluster that it is not the member whose
// votes and acknowledgements were counted before: it never votes or counts until re-admitted.
//
// File format (version 1): `<data dir>/IDENTITY`, four lines of ASCII, each ending in '\n':
//
//   raftkv-identity 1
//   node <decimal node id, > 0>
//   incarnation <16 lower-case hex digits, not all zero>
//   crc32c <8 lower-case hex digits: CRC32C of the three lines above, newlines included>
//
// Text, so that an operator can read it (`cat data/IDENTITY`); the CRC turns a torn or edited
// file into a clear error instead of a silently different identity. The file is written once,
// when the directory is first used: to IDENTITY.tmp, fsynced, renamed over IDENTITY, and the
// directory fsynced (the WAL removes a leftover *.tmp on recovery). It is never rewritten.
//
// Thread-safety: free functions, no shared state.
#pragma once

#include <cstdint>
#include <string>

#include "base/ids.h"
#include "base/status.h"
#include "storage/file_system.h"

namespace raftkv::storage {

inline constexpr const char* kIdentityFileName = "IDENTITY";
inline constexpr uint32_t kIdentityFormatVersion = 1;

struct NodeIdentity {
  NodeId node;
  uint64_t incarnation = 0;  // never 0 in a valid file
  bool operator==(const NodeIdentity&) const = default;
};

struct LoadedIdentity {
  NodeIdentity identity;
  // The file did not exist and was written by this call.
  bool created = false;
  // ...and the directory already held other files (a WAL from before identities existed): its
  // membership records incarnation 0 for this node (unbound), so it keeps working.
  bool existing_data = false;
};

// Reads `dir`/IDENTITY, or creates it with `fresh_incarnation` (non-zero; draw it with
// random_incarnation()) when it does not exist. `dir` must exist. Refuses, with a message
// saying what to do:
//   kInvalidArgument  the file belongs to another node id (a data dir given to the wrong node);
//   kCorruption       the file does not parse or its CRC does not match;
//   kVersionMismatch  the file was written by a newer format version.
Result<LoadedIdentity> load_or_create_identity(FileSystem& fs, const std::string& dir, NodeId node,
                                               uint64_t fresh_incarnation);

// A uniformly random non-zero 64-bit value from the OS's entropy source.
uint64_t random_incarnation();

// The file's exact bytes for `identity` (exposed for tests).
std::string encode_identity(const NodeIdentity& identity);
// Parses a file's bytes; `path` names it in errors.
Result<NodeIdentity> decode_identity(std::string_view bytes, const std::string& path);

}  // namespace raftkv::storage
