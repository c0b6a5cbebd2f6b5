#include "transport/handshake.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/hmac.h"

namespace raftkv::transport {

namespace {

constexpr std::string_view kChallengeMagic = "RKVC";
constexpr std::string_view kProofMagic = "RKVP";
constexpr std::string_view kMacLabel = "raftkv peer auth v3";

void put_u32(uint32_t v, std::string* out) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void put_u64(uint64_t v, std::string* out) {
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}
uint64_t get_le(const char* in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(in[i])) << (8 * i);
  return v;
}

Status bad(std::string what) {
  return Status(ErrorCode::kInvalidArgument, std::move(what));
}

// The bytes a proof MAC covers.
std::string transcript_bytes(HandshakeRole role, const HandshakeTranscript& t) {
  std::string m(kMacLabel);
  m.push_back(static_cast<char>(role));
  put_u64(t.cluster_id, &m);
  put_u64(t.dialer.value(), &m);
  put_u64(t.acceptor.value(), &m);
  m.append(reinterpret_cast<const char*>(t.dialer_nonce.data()), t.dialer_nonce.size());
  m.append(reinterpret_cast<const char*>(t.acceptor_nonce.data()), t.acceptor_nonce.size());
  return m;
}

std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

Nonce random_nonce() {
  const std::string bytes = random_bytes(kNonceBytes);
  Nonce n{};
  std::memcpy(n.data(), bytes.data(), n.size());
  return n;
}

std::string encode_challenge(const Challenge& challenge) {
  std::string out(kChallengeMagic);
  put_u32(challenge.protocol_version, &out);
  out.append(reinterpret_cast<const char*>(challenge.nonce.data()), challenge.nonce.size());
  return out;
}

std::string encode_proof(const Proof& proof) {
  std::string out(kProofMagic);
  put_u64(proof.node.value(), &out);
  out.append(reinterpret_cast<const char*>(proof.mac.data()), proof.mac.size());
  return out;
}

bool looks_like_handshake(std::string_view payload) {
  return payload.starts_with(kChallengeMagic) || payload.starts_with(kProofMagic);
}

Result<Challenge> decode_challenge(std::string_view payload) {
  if (!payload.starts_with(kChallengeMagic)) {
    return bad(payload.starts_with(kProofMagic) ? "a Proof where a Challenge was expected"
                                                : "not a handshake Challenge");
  }
  if (payload.size() != kChallengeBytes) {
    return bad(fmt::format("Challenge of {} bytes (expected {})", payload.size(), kChallengeBytes));
  }
  Challenge c;
  c.protocol_version = static_cast<uint32_t>(get_le(payload.data() + 4, 4));
  std::memcpy(c.nonce.data(), payload.data() + 8, kNonceBytes);
  return c;
}

Result<Proof> decode_proof(std::string_view payload) {
  if (!payload.starts_with(kProofMagic)) {
    return bad(payload.starts_with(kChallengeMagic) ? "a Challenge where a Proof was expected"
                                                    : "not a handshake Proof");
  }
  if (payload.size() != kProofBytes) {
    return bad(fmt::format("Proof of {} bytes (expected {})", payload.size(), kProofBytes));
  }
  Proof p;
  p.node = NodeId(get_le(payload.data() + 4, 8));
  if (p.node.is_none()) return bad("Proof names node 0");
  std::memcpy(p.mac.data(), payload.data() + 12, kMacBytes);
  return p;
}

Mac compute_proof_mac(std::string_view secret, HandshakeRole role, const HandshakeTranscript& t) {
  const std::string digest = hmac_sha256(secret, transcript_bytes(role, t));
  Mac mac{};
  std::memcpy(mac.data(), digest.data(), mac.size());
  return mac;
}

bool verify_proof_mac(const std::vector<std::string>& secrets, HandshakeRole role,
                      const HandshakeTranscript& t, const Mac& mac) {
  static const std::vector<std::string> kNoSecret{std::string()};
  const std::string_view given(reinterpret_cast<const char*>(mac.data()), mac.size());
  bool ok = false;
  // Every secret is tried (no early exit), so the time taken does not say which one matched.
  for (const std::string& s : secrets.empty() ? kNoSecret : secrets) {
    const Mac expected = compute_proof_mac(s, role, t);
    ok |= constant_time_equal(
        std::string_view(reinterpret_cast<const char*>(expected.data()), expected.size()), given);
  }
  return ok;
}

Result<std::vector<std::string>> load_cluster_secrets(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(ErrorCode::kIoError,
                  fmt::format("cluster secret file {}: {}", path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return bad(fmt::format("cluster secret file {} is not a regular file", path));
  }
  if ((st.st_mode & 0007) != 0) {
    return bad(
        fmt::format("cluster secret file {} may be read by other users (mode {:03o}); chmod 600 it",
                    path, st.st_mode & 0777));
  }
  std::ifstream in(path);
  if (!in) {
    return Status(ErrorCode::kIoError, fmt::format("cannot read cluster secret file {}: {}", path,
                                                   std::strerror(errno)));
  }
  std::vector<std::string> secrets;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    std::string s = trim(line);
    if (s.empty()) continue;
    if (s.size() < kMinSecretBytes) {
      return bad(fmt::format(
          "cluster secret file {} line {}: a secret of {} bytes is too short (at least {}; "
          "e.g. openssl rand -hex 32)",
          path, line_no, s.size(), kMinSecretBytes));
    }
    secrets.push_back(std::move(s));
  }
  if (in.bad()) {
    return Status(ErrorCode::kIoError, fmt::format("cannot read cluster secret file {}", path));
  }
  if (secrets.empty()) {
    return bad(fmt::format(
        "cluster secret file {} holds no secret (one per line; e.g. openssl rand -hex 32)", path));
  }
  if (secrets.size() > kMaxSecrets) {
    return bad(
        fmt::format("cluster secret file {} holds {} secrets (at most {}: the current and "
                    "the next, during a rotation)",
                    path, secrets.size(), kMaxSecrets));
  }
  return secrets;
}

}  // namespace raftkv::transport
