#include "base/crc32c.h"

#include <string>

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  // The CRC catalogue's check value for CRC-32C (iSCSI / Castagnoli).
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);
}

TEST(Crc32c, KnownVectorsFromRfc3720) {
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
  EXPECT_EQ(crc32c(std::string(32, '\xff')), 0x62A8AB43u);
  EXPECT_EQ(crc32c(""), 0u);
}

TEST(Crc32c, ExtendEqualsWholeComputation) {
  const std::string a = "hello, ";
  const std::string b = "write-ahead log";
  EXPECT_EQ(crc32c_extend(crc32c(a), b.data(), b.size()), crc32c(a + b));
}

}  // namespace
}  // namespace raftkv
