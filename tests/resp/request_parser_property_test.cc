// Property test: the incremental parser, fed random splits of random pipelined buffers
// (sometimes corrupted), agrees with a deliberately simple whole-buffer parser on every
// command delivered and on the protocol error, if any.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "resp/inline_args.h"
#include "resp/request_parser.h"

namespace raftkv::resp {
namespace {

struct Outcome {
  std::vector<Command> commands;
  std::optional<std::string> error;
  bool operator==(const Outcome&) const = default;
};

// The second implementation: sees the whole buffer at once, no state machine. It stops at the
// first incomplete request (which the incremental parser would wait on).
Outcome parse_whole_buffer(const std::string& b, const RequestLimits& limits) {
  Outcome out;
  auto fail = [&](std::string e) {
    out.error = std::move(e);
    return out;
  };
  size_t p = 0;
  while (p < b.size()) {
    if (b[p] != '*') {
      const size_t nl = b.find('\n', p);
      const size_t line_end = nl == std::string::npos ? b.size() : nl;
      if (line_end - p > limits.max_inline_bytes) {
        return fail("Protocol error: too big inline request");
      }
      if (nl == std::string::npos) return out;
      std::string line = b.substr(p, nl - p);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto args = split_inline_args(line);
      if (!args) return fail("Protocol error: unbalanced quotes in request");
      if (!args->empty()) out.commands.push_back(*args);
      p = nl + 1;
      continue;
    }
    // Reads a "<prefix><int>\r?" header at p; returns nullopt when incomplete.
    auto read_header = [&](const char* too_big, int64_t& value, bool& ok) -> bool {
      const size_t cr = b.find('\r', p);
      const size_t end = cr == std::string::npos ? b.size() : cr;
      if (end - p > limits.max_inline_bytes) {
        out.error = too_big;
        return false;
      }
      if (cr == std::string::npos || cr + 2 > b.size()) return false;
      ok = parse_int64_strict(std::string_view(b).substr(p + 1, cr - p - 1), value);
      p = cr + 2;
      return true;
    };
    int64_t count = 0;
    bool ok = false;
    if (!read_header("Protocol error: too big mbulk count string", count, ok)) return out;
    if (!ok || (count > 0 && static_cast<uint64_t>(count) > limits.max_multibulk_count)) {
      return fail("Protocol error: invalid multibulk length");
    }
    Command cmd;
    for (int64_t i = 0; i < count; ++i) {
      if (p >= b.size()) return out;
      if (b[p] != '$') return fail(std::string("Protocol error: expected '$', got '") + b[p] + "'");
      int64_t length = 0;
      if (!read_header("Protocol error: too big bulk count string", length, ok)) return out;
      if (!ok || length < 0 || static_cast<uint64_t>(length) > limits.max_bulk_bytes) {
        return fail("Protocol error: invalid bulk length");
      }
      if (b.size() - p < static_cast<size_t>(length) + 2) return out;
      cmd.push_back(b.substr(p, static_cast<size_t>(length)));
      p += static_cast<size_t>(length) + 2;
    }
    if (count > 0) out.commands.push_back(cmd);
  }
  return out;
}

Outcome parse_in_chunks(const std::string& b, const std::vector<size_t>& cuts,
                        const RequestLimits& limits) {
  RequestParser parser(limits);
  Outcome out;
  size_t start = 0;
  for (size_t i = 0; i <= cuts.size(); ++i) {
    const size_t end = i < cuts.size() ? cuts[i] : b.size();
    parser.feed(std::string_view(b).substr(start, end - start));
    start = end;
    Command cmd;
    ParseOutcome outcome;
    while ((outcome = parser.next(cmd)) == ParseOutcome::kCommand) out.commands.push_back(cmd);
    if (outcome == ParseOutcome::kError) {
      out.error = parser.error();
      return out;
    }
  }
  return out;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string random_bytes(size_t max_len, const std::string& alphabet) {
    std::string s(below(max_len + 1), '\0');
    for (auto& c : s)
      c = alphabet.empty() ? static_cast<char>(below(256)) : alphabet[below(alphabet.size())];
    return s;
  }

  void append_multibulk(std::string& out) {
    const size_t argc = below(5);  // 0 is an empty request
    out += "*" + std::to_string(argc) + "\r\n";
    for (size_t i = 0; i < argc; ++i) {
      const std::string arg = random_bytes(chance(0.05) ? 200 : 12, "");
      out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
    }
  }

  void append_inline(std::string& out) {
    const size_t argc = below(4);
    for (size_t i = 0; i < argc; ++i) {
      if (i > 0) out += std::string(1 + below(2), ' ');
      switch (below(3)) {
        case 0:
          out += random_bytes(8, "abcXYZ019_-:");
          break;
        case 1:
          out += "\"" + random_bytes(6, "ab \\n\\x41'") + "\"";
          break;
        default:
          out += "'" + random_bytes(6, "ab \"") + "'";
          break;
      }
    }
    out += chance(0.5) ? "\r\n" : "\n";
  }

  std::string random_buffer() {
    std::string out;
    const size_t n = 1 + below(8);
    for (size_t i = 0; i < n; ++i) {
      if (chance(0.7)) {
        append_multibulk(out);
      } else {
        append_inline(out);
      }
    }
    if (chance(0.2) && !out.empty()) {  // corrupt one byte
      out[below(out.size())] = "*$\r\nx1-\"'"[below(9)];
    }
    if (chance(0.1)) out.resize(below(out.size() + 1));  // truncate
    return out;
  }

  std::vector<size_t> random_cuts(size_t size) {
    std::vector<size_t> cuts(below(6));
    for (auto& c : cuts) c = below(size + 1);
    std::sort(cuts.begin(), cuts.end());
    return cuts;
  }

 private:
  std::mt19937_64 rng_;
};

TEST(RequestParserProperty, AgreesWithWholeBufferParserOnRandomSplits) {
  constexpr uint64_t kSeeds = 20000;
  size_t errors_seen = 0;
  for (uint64_t seed = 1; seed <= kSeeds; ++seed) {
    Generator gen(seed);
    RequestLimits limits;
    if (gen.chance(0.3)) {  // small limits so that limit errors are exercised too
      limits.max_bulk_bytes = 8 + gen.below(16);
      limits.max_multibulk_count = 1 + gen.below(4);
      limits.max_inline_bytes = 4 + gen.below(24);
    }
    const std::string buffer = gen.random_buffer();
    const Outcome expected = parse_whole_buffer(buffer, limits);
    if (expected.error) ++errors_seen;
    for (int split = 0; split < 8; ++split) {
      const auto cuts = gen.random_cuts(buffer.size());
      const Outcome actual = parse_in_chunks(buffer, cuts, limits);
      ASSERT_EQ(actual, expected) << "seed " << seed << " split " << split
                                  << " error=" << actual.error.value_or("-") << " vs "
                                  << expected.error.value_or("-");
    }
  }
  // The generator must exercise both paths.
  EXPECT_GT(errors_seen, kSeeds / 20);
  EXPECT_LT(errors_seen, kSeeds / 2);
}

}  // namespace
}  // namespace raftkv::resp
