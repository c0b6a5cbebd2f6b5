// Peer authentication: the challenge-response handshake that opens every peer connection,
// before any Hello or Raft message (issue 13). Pure: no sockets; fuzzed (fuzz/frame_fuzz.cc).
//
// Each side proves that it knows the cluster secret and that it is the node it claims, and
// nothing about the cluster (cluster id, node ids, incarnations) is sent before the other side
// has proved itself, except what the dialer must say about itself to be checked.
//
//   dialer D                                   acceptor A
//   Challenge{version, nonce_d}        ─►   ◄─  Challenge{version, nonce_a}   (both at once)
//   Proof{D, mac(kDialer)}             ─►       verifies D's proof; only then:
//                                       ◄─  Proof{A, mac(kAcceptor)}
//   verifies A's proof; then the Hello exchange (codec.h) and Raft traffic.
//
//   mac(role) = HMAC-SHA256(secret, "raftkv peer auth v3" | role | cluster_id | dialer id |
//                           acceptor id | nonce_d | nonce_a)
//
// The nonces are 32 random bytes (OpenSSL RAND_bytes), fresh per connection, so a recorded
// proof never verifies again (replay); the role byte makes an acceptor's proof useless as a
// dialer's (reflection); both ids bind the proof to one pair of nodes and the cluster id to one
// cluster. A proof is compared in constant time (CRYPTO_memcmp). Several secrets may be
// configured (rotation): a node proves with the first and accepts a proof by any of them.
//
// The acceptor proves only after the dialer did, so a stranger who connects learns no more
// than a protocol version and a random nonce. A dialer sends its id and a proof bound to the
// acceptor's nonce to whatever listens at the peer address it was configured with; that proof
// is worth nothing on another connection. What this does not protect against: an attacker on
// the path who can inject into or take over an established TCP stream (the frames after the
// handshake are checksummed, not authenticated) — mutual TLS is the answer to that.
//
// Wire format: each message is the payload of one whole frame (frame.h), little-endian:
//   Challenge (40 bytes): magic "RKVC" | u32 protocol_version | 32-byte nonce
//   Proof     (44 bytes): magic "RKVP" | u64 node id (> 0)     | 32-byte HMAC-SHA256
// Anything else (length, magic, zero id) is refused with kInvalidArgument naming what is wrong.
// A Challenge with another protocol_version decodes (so that the caller can log both versions)
// and the caller refuses it.
//
// Thread-safety: free functions without shared state.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/ids.h"
#include "base/status.h"

namespace raftkv::transport {

inline constexpr size_t kNonceBytes = 32;
inline constexpr size_t kMacBytes = 32;
inline constexpr size_t kChallengeBytes = 4 + 4 + kNonceBytes;
inline constexpr size_t kProofBytes = 4 + 8 + kMacBytes;
// A secret shorter than this is refused when loading (load_cluster_secrets).
inline constexpr size_t kMinSecretBytes = 16;
inline constexpr size_t kMaxSecrets = 4;

using Nonce = std::array<uint8_t, kNonceBytes>;
using Mac = std::array<uint8_t, kMacBytes>;

struct Challenge {
  uint32_t protocol_version = 0;
  Nonce nonce{};
  bool operator==(const Challenge&) const = default;
};

struct Proof {
  NodeId node;
  Mac mac{};
  bool operator==(const Proof&) const = default;
};

enum class HandshakeRole : uint8_t { kDialer = 'D', kAcceptor = 'A' };

// What a proof is computed over (see the file comment).
struct HandshakeTranscript {
  uint64_t cluster_id = 0;
  NodeId dialer;
  NodeId acceptor;
  Nonce dialer_nonce{};
  Nonce acceptor_nonce{};
};

// A fresh random nonce (OpenSSL RAND_bytes; asserts it succeeded: without randomness no
// handshake is safe).
Nonce random_nonce();

std::string encode_challenge(const Challenge& challenge);
std::string encode_proof(const Proof& proof);
// Recognises the payloads above exactly; anything else is kInvalidArgument.
Result<Challenge> decode_challenge(std::string_view payload);
Result<Proof> decode_proof(std::string_view payload);
// True if `payload` starts like a handshake message (either magic); false for e.g. an older
// node's protobuf Hello.
bool looks_like_handshake(std::string_view payload);

// HMAC-SHA256 of the transcript for `role` under `secret` (which may be empty: an
// unauthenticated cluster still runs the handshake, with an empty key).
Mac compute_proof_mac(std::string_view secret, HandshakeRole role, const HandshakeTranscript& t);
// True if `mac` is the proof of `role` under any of `secrets` (constant-time comparison; an
// empty list means the empty secret).
bool verify_proof_mac(const std::vector<std::string>& secrets, HandshakeRole role,
                      const HandshakeTranscript& t, const Mac& mac);

// Reads the cluster secret file: one secret per line (the first proves, all verify; blank lines
// and surrounding spaces ignored), each at least kMinSecretBytes, at most kMaxSecrets of them.
// Refuses (kInvalidArgument / kIoError, with the path and what to do) a file that cannot be
// read, holds no secret, or that other users may read (mode & 0007: chmod 600 it).
Result<std::vector<std::string>> load_cluster_secrets(const std::string& path);

}  // namespace raftkv::transport
