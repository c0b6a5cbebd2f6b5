// Strong types for identifiers and log positions.
//
// NodeId, GroupId, Term and Index are distinct types so that passing a term where an index is
// expected does not compile. Term and Index support the arithmetic Raft needs (next index,
// distance between indexes); ids support only comparison.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <ostream>

#include <fmt/format.h>

namespace raftkv {

template <typename Tag>
class StrongId {
 public:
  constexpr StrongId() = default;
  constexpr explicit StrongId(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr bool is_none() const { return v_ == 0; }
  constexpr auto operator<=>(const StrongId&) const = default;

 private:
  uint64_t v_ = 0;
};

// A position-like value (term, index): ordered, with +/- by plain counts.
template <typename Tag>
class StrongCounter {
 public:
  constexpr StrongCounter() = default;
  constexpr explicit StrongCounter(uint64_t v) : v_(v) {}
  constexpr uint64_t value() const { return v_; }
  constexpr auto operator<=>(const StrongCounter&) const = default;

  constexpr StrongCounter operator+(uint64_t n) const { return StrongCounter(v_ + n); }
  constexpr StrongCounter operator-(uint64_t n) const { return StrongCounter(v_ - n); }
  // Distance between two positions; requires *this >= o.
  constexpr uint64_t operator-(StrongCounter o) const { return v_ - o.v_; }
  constexpr StrongCounter& operator++() {
    ++v_;
    return *this;
  }
  constexpr StrongCounter& operator+=(uint64_t n) {
    v_ += n;
    return *this;
  }

 private:
  uint64_t v_ = 0;
};

struct NodeIdTag {};
struct GroupIdTag {};
struct TermTag {};
struct IndexTag {};

// A node (server) in the cluster. 0 means "none".
using NodeId = StrongId<NodeIdTag>;
// A Raft group (shard). Group 0 is the metadata group.
using GroupId = StrongId<GroupIdTag>;
// A Raft term (Raft §5.1). Term 0 is "before any election".
using Term = StrongCounter<TermTag>;
// A log index (Raft §5.3). Index 0 is "before the first entry".
using Index = StrongCounter<IndexTag>;

inline constexpr NodeId kNoNode{};

template <typename Tag>
std::ostream& operator<<(std::ostream& os, StrongId<Tag> v) {
  return os << v.value();
}
template <typename Tag>
std::ostream& operator<<(std::ostream& os, StrongCounter<Tag> v) {
  return os << v.value();
}

}  // namespace raftkv

template <typename Tag>
struct std::hash<raftkv::StrongId<Tag>> {
  size_t operator()(raftkv::StrongId<Tag> v) const noexcept {
    return std::hash<uint64_t>{}(v.value());
  }
};
template <typename Tag>
struct std::hash<raftkv::StrongCounter<Tag>> {
  size_t operator()(raftkv::StrongCounter<Tag> v) const noexcept {
    return std::hash<uint64_t>{}(v.value());
  }
};

template <typename Tag>
struct fmt::formatter<raftkv::StrongId<Tag>> : fmt::formatter<uint64_t> {
  auto format(raftkv::StrongId<Tag> v, format_context& ctx) const {
    return fmt::formatter<uint64_t>::format(v.value(), ctx);
  }
};
template <typename Tag>
struct fmt::formatter<raftkv::StrongCounter<Tag>> : fmt::formatter<uint64_t> {
  auto format(raftkv::StrongCounter<Tag> v, format_context& ctx) const {
    return fmt::formatter<uint64_t>::format(v.value(), ctx);
  }
};
