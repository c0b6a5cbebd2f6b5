#include "base/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <cstdint>

#include "base/assert.h"

namespace raftkv {

std::string hmac_sha256(std::string_view key, std::string_view message) {
  static const unsigned char kEmptyKey[1] = {0};  // HMAC() wants a non-null key
  std::string out(32, '\0');
  unsigned int length = 0;
  const unsigned char* done = HMAC(
      EVP_sha256(), key.empty() ? kEmptyKey : reinterpret_cast<const unsigned char*>(key.data()),
      static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(message.data()),
      message.size(), reinterpret_cast<unsigned char*>(out.data()), &length);
  RAFTKV_ASSERT(done != nullptr && length == 32, "OpenSSL HMAC-SHA256 failed");
  return out;
}

std::string hmac_sha256_parts(std::string_view key, std::initializer_list<std::string_view> parts) {
  std::string message;
  for (std::string_view part : parts) {
    for (int i = 0; i < 8; ++i)
      message.push_back(static_cast<char>(uint64_t{part.size()} >> (8 * i)));
    message.append(part);
  }
  return hmac_sha256(key, message);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  RAFTKV_ASSERT(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1,
                "OpenSSL RAND_bytes failed");
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi << 4 | lo));
  }
  return out;
}

std::string node_auth_proof(std::string_view secret, uint64_t cluster_id, uint64_t node,
                            std::string_view nonce) {
  const std::string cluster = std::to_string(cluster_id), id = std::to_string(node);
  return hmac_sha256_parts(secret, {"raftkv client-port node auth v1", cluster, id, nonce});
}

}  // namespace raftkv
