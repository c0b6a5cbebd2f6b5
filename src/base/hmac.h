// HMAC-SHA256 and what proofs of a shared secret need around it (OpenSSL libcrypto): random
// nonces, constant-time comparison, hex. Used by the peer handshake (transport/handshake.h),
// RAFTKV.NODEAUTH (frontend/node_auth.cc) and the ACL's passwords (kv/acl.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace raftkv {

// HMAC-SHA256 under `key` (which may be empty) of `message`. 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view message);

// The same over the parts, each preceded by its length (8 bytes, little endian), so that no two
// different lists of parts have the same input.
std::string hmac_sha256_parts(std::string_view key, std::initializer_list<std::string_view> parts);

// Equal lengths and bytes, in time that depends only on the length (CRYPTO_memcmp).
bool constant_time_equal(std::string_view a, std::string_view b);

// `n` bytes from OpenSSL's CSPRNG (RAND_bytes; a failure there stops the process).
std::string random_bytes(size_t n);

std::string to_hex(std::string_view bytes);  // lowercase
// Lowercase or uppercase hex of an even length; nullopt otherwise.
std::optional<std::string> from_hex(std::string_view hex);

// RAFTKV.NODEAUTH (frontend/node_auth.cc verifies, client/node_auth.cc proves): node `node` of
// cluster `cluster_id` answers the challenge `nonce` that a node's client port issued with
// HMAC-SHA256 under the cluster secret of a fixed label, the cluster id, its node id and the
// nonce. 32 raw bytes.
std::string node_auth_proof(std::string_view secret, uint64_t cluster_id, uint64_t node,
                            std::string_view nonce);

}  // namespace raftkv
