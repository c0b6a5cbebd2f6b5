// libFuzzer harness for the RESP request and reply parsers.
//
// The first input byte picks the split pattern; the rest is fed in chunks. Checked properties:
// no crash/UB/leak (sanitizers), termination, the parsed commands do not depend on the split,
// and a failed parser stays failed and holds no buffered bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply.h"
#include "resp/request_parser.h"

namespace {

using raftkv::resp::Command;
using raftkv::resp::ParseOutcome;
using raftkv::resp::RequestLimits;
using raftkv::resp::RequestParser;

struct Outcome {
  std::vector<Command> commands;
  std::string error;
};

Outcome run(std::string_view bytes, size_t chunk, const RequestLimits& limits) {
  RequestParser parser(limits);
  Outcome out;
  for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
    parser.feed(bytes.substr(pos, chunk));
    Command cmd;
    ParseOutcome o;
    while ((o = parser.next(cmd)) == ParseOutcome::kCommand) out.commands.push_back(cmd);
    if (o == ParseOutcome::kError) {
      if (parser.buffered_bytes() != 0) __builtin_trap();
      out.error = parser.error();
      break;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 17;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  RequestLimits limits;
  limits.max_bulk_bytes = 1 << 16;
  limits.max_inline_bytes = 256;
  const Outcome whole = run(bytes, bytes.size() + 1, limits);
  const Outcome split = run(bytes, chunk, limits);
  if (whole.commands != split.commands || whole.error != split.error) __builtin_trap();

  raftkv::resp::ReplyParser replies;
  replies.feed(bytes);
  raftkv::resp::Reply reply;
  while (replies.next(reply) == raftkv::resp::ReplyOutcome::kReply) {
    std::string encoded;
    raftkv::resp::append_reply(encoded, reply);
  }
  return 0;
}
