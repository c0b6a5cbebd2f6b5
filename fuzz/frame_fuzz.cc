// libFuzzer harness for the peer frame decoder and the raft message codec: the bytes a remote
// peer controls.
//
// The first input byte picks the chunk size; the rest is fed to a FrameDecoder in chunks and
// every frame payload is decoded. Checked properties: no crash/UB/leak (sanitizers),
// termination, the frames and decode results do not depend on the split, a failed decoder
// stays failed and holds no bytes, and every envelope that decodes re-encodes to one that
// decodes to the same messages. Every payload also goes through the authentication
// handshake's decoders (handshake.h), which run on bytes from strangers before any proof:
// a Challenge or Proof that decodes re-encodes to exactly the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "transport/codec.h"
#include "transport/frame.h"
#include "transport/handshake.h"

namespace {

using raftkv::transport::decode_payload;
using raftkv::transport::encode_envelope;
using raftkv::transport::Envelope;
using raftkv::transport::FrameDecoder;
using raftkv::transport::FrameOutcome;

constexpr size_t kMaxFrameBytes = 1 << 20;

struct Outcome {
  std::vector<std::string> payloads;
  bool failed = false;
};

Outcome run(std::string_view bytes, size_t chunk) {
  FrameDecoder decoder(kMaxFrameBytes);
  Outcome out;
  for (size_t pos = 0; pos < bytes.size(); pos += chunk) {
    decoder.feed(bytes.substr(pos, chunk));
    std::string_view payload;
    FrameOutcome o;
    while ((o = decoder.next(&payload)) == FrameOutcome::kFrame) out.payloads.emplace_back(payload);
    if (o == FrameOutcome::kError) {
      if (decoder.buffered_bytes() != 0 || !decoder.failed()) __builtin_trap();
      if (decoder.next(&payload) != FrameOutcome::kError) __builtin_trap();
      out.failed = true;
      break;
    }
  }
  return out;
}

void check_handshake(const std::string& payload) {
  using namespace raftkv::transport;
  if (auto c = decode_challenge(payload)) {
    if (encode_challenge(*c) != payload) __builtin_trap();
  }
  if (auto p = decode_proof(payload)) {
    if (p->node.is_none() || encode_proof(*p) != payload) __builtin_trap();
  }
  // Verifying a proof from the bytes (as an acceptor does with a stranger's) must not crash.
  if (payload.size() >= kMacBytes) {
    Mac mac{};
    std::copy_n(payload.begin(), kMacBytes, mac.begin());
    HandshakeTranscript t{};
    if (verify_proof_mac({"fuzz-cluster-secret-0123"}, HandshakeRole::kDialer, t, mac)) {
      __builtin_trap();  // 2^-256
    }
  }
}

void check_payload(const std::string& payload) {
  check_handshake(payload);
  auto decoded = decode_payload(payload);
  if (!decoded) return;
  const auto* env = std::get_if<Envelope>(&*decoded);
  if (env == nullptr) return;
  auto again = encode_envelope(*env);
  if (!again) __builtin_trap();  // whatever decodes must re-encode
  auto round = decode_payload(*again);
  if (!round) __builtin_trap();
  const auto& env2 = std::get<Envelope>(*round);
  if (env2.sender != env->sender || env2.messages.size() != env->messages.size()) __builtin_trap();
  for (size_t i = 0; i < env->messages.size(); ++i) {
    const auto& a = env->messages[i];
    const auto& b = env2.messages[i];
    if (a.group != b.group || a.message.type != b.message.type ||
        a.message.entries != b.message.entries || a.message.term != b.message.term) {
      __builtin_trap();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 23;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  Outcome chunked = run(bytes, chunk);
  Outcome whole = run(bytes, bytes.size() + 1);
  if (chunked.payloads != whole.payloads || chunked.failed != whole.failed) __builtin_trap();
  for (const auto& p : whole.payloads) check_payload(p);
  // Payload bytes straight into the codec too (no frame needed to reach it).
  check_payload(std::string(bytes));
  return 0;
}
