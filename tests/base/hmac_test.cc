#include "base/hmac.h"

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(Hmac, PartsAreLengthPrefixedSoBoundariesMatter) {
  const std::string a = hmac_sha256_parts("key", {"ab", "c"});
  EXPECT_EQ(a.size(), 32u);
  EXPECT_EQ(a, hmac_sha256_parts("key", {"ab", "c"}));
  EXPECT_NE(a, hmac_sha256_parts("key", {"a", "bc"}));
  EXPECT_NE(a, hmac_sha256_parts("other", {"ab", "c"}));
}

// RFC 4231, test case 2.
TEST(Hmac, RawMessageMatchesRfc4231) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Hmac, NodeProofsBindTheClusterTheNodeAndTheNonce) {
  const std::string p = node_auth_proof("secret", 1, 2, "nonce");
  EXPECT_NE(p, node_auth_proof("secret", 9, 2, "nonce"));
  EXPECT_NE(p, node_auth_proof("secret", 1, 3, "nonce"));
  EXPECT_NE(p, node_auth_proof("secret", 1, 2, "other"));
  EXPECT_NE(p, node_auth_proof("Secret", 1, 2, "nonce"));
}

TEST(Hmac, HexAndConstantTimeEquality) {
  EXPECT_EQ(to_hex(std::string("\x00\xff\x10", 3)), "00ff10");
  EXPECT_EQ(from_hex("00FF10"), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(from_hex("0"), std::nullopt);
  EXPECT_EQ(from_hex("zz"), std::nullopt);
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_EQ(random_bytes(32).size(), 32u);
  EXPECT_NE(random_bytes(32), random_bytes(32));
}

}  // namespace
}  // namespace raftkv
