// The frame format and the incremental decoder: splits at every byte boundary, corruption,
// oversize lengths and the failed state.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/rng.h"
#include "transport/frame.h"

namespace raftkv::transport {
namespace {

struct Decoded {
  std::vector<std::string> payloads;
  bool failed = false;
  Status error;
};

// Feeds `stream` in chunks of the given sizes (the last chunk takes the rest), draining frames.
Decoded decode_chunks(const std::string& stream, const std::vector<size_t>& cuts,
                      size_t max_frame_bytes = kDefaultMaxFrameBytes) {
  FrameDecoder decoder(max_frame_bytes);
  Decoded d;
  size_t pos = 0;
  auto drain = [&] {
    std::string_view payload;
    FrameOutcome o;
    while ((o = decoder.next(&payload)) == FrameOutcome::kFrame) d.payloads.emplace_back(payload);
    if (o == FrameOutcome::kError) {
      d.failed = true;
      d.error = decoder.error();
      EXPECT_EQ(decoder.buffered_bytes(), 0u);
    }
  };
  for (size_t cut : cuts) {
    cut = std::min(cut, stream.size());
    decoder.feed(std::string_view(stream).substr(pos, cut - pos));
    pos = cut;
    drain();
    if (d.failed) return d;
  }
  decoder.feed(std::string_view(stream).substr(pos));
  drain();
  return d;
}

std::vector<std::string> sample_payloads() {
  return {"hello", "", std::string(300, 'x'), std::string("\0\x01\x02\xff", 4),
          std::string(70000, 'q')};
}

std::string stream_of(const std::vector<std::string>& payloads) {
  std::string out;
  for (const auto& p : payloads) append_frame(p, &out);
  return out;
}

TEST(Frame, HeaderLayoutIsLittleEndianWithChecksum) {
  FrameHeader h = encode_frame_header("123456789");
  EXPECT_EQ(h[0], kFrameVersion);
  EXPECT_EQ(h[1], 0);
  EXPECT_EQ(h[2], 9);
  EXPECT_EQ(h[3] | h[4] | h[5], 0);
  // CRC32C("123456789") = 0xE3069283, stored little-endian.
  EXPECT_EQ(h[6], 0x83);
  EXPECT_EQ(h[7], 0x92);
  EXPECT_EQ(h[8], 0x06);
  EXPECT_EQ(h[9], 0xE3);
}

TEST(Frame, ManyFramesInOneFeed) {
  auto payloads = sample_payloads();
  Decoded d = decode_chunks(stream_of(payloads), {});
  EXPECT_FALSE(d.failed);
  EXPECT_EQ(d.payloads, payloads);
}

TEST(Frame, SplitAtEveryByteBoundary) {
  std::vector<std::string> payloads = {"a", "", "some raft message", std::string(40, '\xee')};
  const std::string stream = stream_of(payloads);
  for (size_t i = 0; i <= stream.size(); ++i) {
    for (size_t j = i; j <= stream.size(); j += 7) {
      Decoded d = decode_chunks(stream, {i, j});
      ASSERT_FALSE(d.failed) << i << "," << j;
      ASSERT_EQ(d.payloads, payloads) << i << "," << j;
    }
  }
}

TEST(Frame, OneByteAtATime) {
  auto payloads = sample_payloads();
  const std::string stream = stream_of(payloads);
  std::vector<size_t> cuts;
  for (size_t i = 1; i < stream.size(); ++i) cuts.push_back(i);
  Decoded d = decode_chunks(stream, cuts);
  EXPECT_FALSE(d.failed);
  EXPECT_EQ(d.payloads, payloads);
}

TEST(Frame, RandomCorruptionIsDetectedNeverDelivered) {
  const auto payloads = sample_payloads();
  const std::string clean = stream_of(payloads);
  SeededRng rng(20240601);
  for (int iter = 0; iter < 2000; ++iter) {
    std::string stream = clean;
    const int flips = 1 + static_cast<int>(rng.uniform(3));
    for (int f = 0; f < flips; ++f) {
      // Bias towards the headers, where corruption is most interesting.
      size_t pos = rng.chance(0.5) ? rng.uniform(kFrameHeaderBytes) : rng.uniform(stream.size());
      stream[pos] = static_cast<char>(stream[pos] ^ (1 + rng.uniform(255)));
    }
    std::vector<size_t> cuts;
    for (size_t c = rng.uniform(50); c < stream.size(); c += 1 + rng.uniform(20000)) {
      cuts.push_back(c);
    }
    Decoded d = decode_chunks(stream, cuts, 1 << 20);
    SCOPED_TRACE(iter);
    // Whatever came out is an uncorrupted prefix of what was sent; the whole set never does.
    ASSERT_LT(d.payloads.size(), payloads.size());
    for (size_t i = 0; i < d.payloads.size(); ++i) ASSERT_EQ(d.payloads[i], payloads[i]);
  }
}

TEST(Frame, OversizeLengthFailsFromTheHeaderAlone) {
  std::string header(kFrameHeaderBytes, '\0');
  header[0] = static_cast<char>(kFrameVersion);
  header[5] = 0x40;  // payload_len = 1 GiB
  FrameDecoder decoder(1 << 20);
  decoder.feed(header);
  std::string_view payload;
  EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
  EXPECT_EQ(decoder.error().code(), ErrorCode::kTooLarge);
  EXPECT_NE(decoder.error().message().find("exceeds max frame size"), std::string::npos);
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(Frame, LengthAtTheCapIsAccepted) {
  const std::string payload(1024, 'm');
  Decoded d = decode_chunks(stream_of({payload}), {}, 1024);
  EXPECT_FALSE(d.failed);
  ASSERT_EQ(d.payloads.size(), 1u);
  Decoded over = decode_chunks(stream_of({payload}), {}, 1023);
  EXPECT_TRUE(over.failed);
}

TEST(Frame, BufferGrowsOnlyWithReceivedBytes) {
  // A peer claims a large frame and sends a few bytes: the decoder holds only those bytes.
  std::string stream = stream_of({std::string(1 << 20, 'a')});
  FrameDecoder decoder(2 << 20);
  decoder.feed(std::string_view(stream).substr(0, 100));
  std::string_view payload;
  EXPECT_EQ(decoder.next(&payload), FrameOutcome::kNeedMore);
  EXPECT_EQ(decoder.buffered_bytes(), 100u);
}

TEST(Frame, BadVersionAndFlagsFailImmediately) {
  {
    FrameDecoder decoder;
    decoder.feed("\x02");
    std::string_view payload;
    EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
    EXPECT_EQ(decoder.error().code(), ErrorCode::kVersionMismatch);
  }
  {
    FrameDecoder decoder;
    decoder.feed(std::string("\x01\x80", 2));
    std::string_view payload;
    EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
    EXPECT_NE(decoder.error().message().find("flags"), std::string::npos);
  }
  {
    // Garbage such as an HTTP request is rejected on its first byte.
    Decoded d = decode_chunks("GET / HTTP/1.1\r\n\r\n", {});
    EXPECT_TRUE(d.failed);
  }
}

void append_first_part(size_t total, std::string* out) {
  out->append(encode_first_part_frame(static_cast<uint32_t>(total)));
}

void append_part(std::string_view part, bool last, std::string* out) {
  const FrameHeader h = encode_frame_header(part, last ? kFlagPart | kFlagLastPart : kFlagPart);
  out->append(reinterpret_cast<const char*>(h.data()), h.size());
  out->append(part);
}

// Issue 11.2: an entry larger than a frame part travels in parts, with whole frames (heartbeats)
// between them; the receiver joins the parts into the one payload, at every split of the input.
TEST(Frame, PartsAreJoinedWithWholeFramesBetweenThem) {
  const std::string big = std::string(5000, 'a') + std::string(5000, 'b') + "tail";
  std::string stream;
  append_first_part(big.size(), &stream);
  append_frame("heartbeat 0", &stream);
  append_part(std::string_view(big).substr(0, 4000), false, &stream);
  append_frame("heartbeat 1", &stream);
  append_part(std::string_view(big).substr(4000, 4000), false, &stream);
  append_frame("heartbeat 2", &stream);
  append_frame("heartbeat 3", &stream);
  append_part(std::string_view(big).substr(8000), true, &stream);
  append_frame("after", &stream);
  const std::vector<std::string> expected{"heartbeat 0", "heartbeat 1", "heartbeat 2",
                                          "heartbeat 3", big,           "after"};
  EXPECT_EQ(decode_chunks(stream, {}).payloads, expected);
  for (size_t cut = 1; cut < stream.size(); cut += 97) {
    EXPECT_EQ(decode_chunks(stream, {cut}).payloads, expected) << "cut at " << cut;
  }
  SeededRng rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<size_t> cuts;
    for (size_t at = rng.uniform(600); at < stream.size(); at += 1 + rng.uniform(600)) {
      cuts.push_back(at);
    }
    EXPECT_EQ(decode_chunks(stream, cuts).payloads, expected);
  }
}

TEST(Frame, PartsBeyondTheMaxFrameSizeFail) {
  // Each part fits, the joined payload would not: refused on its announced length.
  std::string stream;
  append_first_part(1200, &stream);
  append_part(std::string(600, 'x'), false, &stream);
  append_part(std::string(600, 'y'), true, &stream);
  Decoded d = decode_chunks(stream, {}, 1000);
  EXPECT_TRUE(d.failed);
  EXPECT_EQ(d.error.code(), ErrorCode::kTooLarge);
  EXPECT_TRUE(d.payloads.empty());
  EXPECT_EQ(decode_chunks(stream, {}, 1200).payloads,
            std::vector<std::string>{std::string(600, 'x') + std::string(600, 'y')});
}

TEST(Frame, PartsThatDoNotMatchTheAnnouncedLengthFail) {
  auto fails = [](const std::string& stream) {
    Decoded d = decode_chunks(stream, {});
    return d.failed && d.payloads.empty();
  };
  std::string no_first;
  append_part("abc", true, &no_first);
  EXPECT_TRUE(fails(no_first));
  std::string too_long;
  append_first_part(2, &too_long);
  append_part("abc", true, &too_long);
  EXPECT_TRUE(fails(too_long));
  std::string too_short;
  append_first_part(4, &too_short);
  append_part("abc", true, &too_short);
  EXPECT_TRUE(fails(too_short));
  std::string two_firsts;
  append_first_part(3, &two_firsts);
  append_first_part(3, &two_firsts);
  EXPECT_TRUE(fails(two_firsts));
}

TEST(Frame, FlippedFlagsOfAPartFailTheChecksum) {
  std::string stream;
  append_first_part(3, &stream);
  append_part("abc", true, &stream);
  const size_t flags_at = kFrameHeaderBytes + kFirstPartBytes + 1;
  for (char flags : {'\x00', '\x01', '\x05'}) {
    std::string bad = stream;
    bad[flags_at] = flags;
    Decoded d = decode_chunks(bad, {});
    EXPECT_TRUE(d.failed) << int(flags);
    EXPECT_TRUE(d.payloads.empty());
  }
}

TEST(Frame, LastPartFlagWithoutPartFlagFails) {
  FrameDecoder decoder;
  decoder.feed(std::string("\x01\x02", 2));
  std::string_view payload;
  EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
  EXPECT_NE(decoder.error().message().find("flags"), std::string::npos);
}

TEST(Frame, FailedDecoderStaysFailed) {
  std::string stream = stream_of({"one"});
  stream[kFrameHeaderBytes] ^= 1;  // payload corrupted
  FrameDecoder decoder;
  decoder.feed(stream);
  std::string_view payload;
  EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
  EXPECT_EQ(decoder.error().code(), ErrorCode::kCorruption);
  decoder.feed(stream_of({"two"}));
  EXPECT_EQ(decoder.next(&payload), FrameOutcome::kError);
  EXPECT_TRUE(decoder.failed());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

}  // namespace
}  // namespace raftkv::transport
