#include "base/ids.h"

#include <type_traits>

#include <gtest/gtest.h>

namespace raftkv {
namespace {

TEST(Ids, TermAndIndexAreDistinctTypes) {
  static_assert(!std::is_convertible_v<Term, Index>);
  static_assert(!std::is_convertible_v<Index, Term>);
  static_assert(!std::is_convertible_v<uint64_t, Index>);
}

TEST(Ids, CounterArithmetic) {
  Index i(5);
  EXPECT_EQ(i + 3, Index(8));
  EXPECT_EQ(Index(8) - i, 3u);
  EXPECT_EQ(++i, Index(6));
  EXPECT_LT(Index(1), Index(2));
  EXPECT_EQ(fmt::format("{}", Term(7)), "7");
}

TEST(Ids, NoneNode) {
  EXPECT_TRUE(kNoNode.is_none());
  EXPECT_FALSE(NodeId(1).is_none());
}

}  // namespace
}  // namespace raftkv
