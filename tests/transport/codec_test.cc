// raft::Message <-> protobuf: round trips for every network message type, and rejection of
// everything a peer must not send (local types, zero ids, unknown enums, bad snapshots).
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "transport/codec.h"

namespace raftkv::transport {
namespace {

using raft::EntryType;
using raft::Message;
using raft::MessageType;

constexpr MessageType kAllTypes[] = {
    MessageType::kHup,
    MessageType::kBeat,
    MessageType::kPropose,
    MessageType::kReadIndex,
    MessageType::kUnreachable,
    MessageType::kSnapshotStatus,
    MessageType::kTransferLeader,
    MessageType::kStorageAppendDone,
    MessageType::kCheckQuorum,
    MessageType::kApp,
    MessageType::kAppResp,
    MessageType::kVote,
    MessageType::kVoteResp,
    MessageType::kPreVote,
    MessageType::kPreVoteResp,
    MessageType::kHeartbeat,
    MessageType::kHeartbeatResp,
    MessageType::kSnap,
    MessageType::kTimeoutNow,
    MessageType::kReadIndexResp,
};

// A message of `type` with every field set to a distinct non-default value.
Message full_message(MessageType type) {
  Message m;
  m.type = type;
  m.from = NodeId(2);
  m.to = NodeId(3);
  m.term = Term(7);
  m.log_term = Term(6);
  m.index = Index(41);
  m.entries = {
      raft::Entry{Term(6), Index(42), EntryType::kNormal, "set x 1"},
      raft::Entry{Term(7), Index(43), EntryType::kNormal, ""},  // leader no-op
      raft::Entry{Term(7), Index(44), EntryType::kConfChange,
                  raft::ConfChange::single(raft::ConfChangeType::kAddLearner, NodeId(4)).encode()},
      raft::Entry{Term(7), Index(45), EntryType::kNormal, std::string("\0\xff\x01", 3)},
  };
  m.commit = Index(40);
  m.reject = true;
  m.reject_hint = Index(39);
  m.context = 0xdeadbeefcafeULL;
  m.transfer = true;
  m.from_incarnation = 0x8000000000000001ULL;
  m.to_incarnation = 0x1234;
  if (type == MessageType::kSnap) {
    auto s = std::make_shared<raft::Snapshot>();
    s->meta.index = Index(100);
    s->meta.term = Term(5);
    // A joint membership: 5 leaves the voters (and stays a learner), 3 joins them.
    s->meta.conf.voters = {NodeId(1), NodeId(2), NodeId(3)};
    s->meta.conf.voters_outgoing = {NodeId(1), NodeId(2), NodeId(5)};
    s->meta.conf.learners = {NodeId(4)};
    s->meta.conf.learners_next = {NodeId(5)};
    s->meta.conf.auto_leave = true;
    for (uint64_t id = 1; id <= 5; ++id) {
      s->meta.conf.members[NodeId(id)] = raft::MemberInfo{
          id * 0x1111111111ULL, fmt::format("10.0.0.{}:7000", id), fmt::format("h{}:6379", id)};
    }
    s->meta.conf.members[NodeId(2)].incarnation = 0;  // unbound
    s->data = std::string(1000, 'z') + std::string("\0binary", 7);
    m.snapshot = s;
  }
  return m;
}

void expect_same(const Message& a, const Message& b) {
  EXPECT_EQ(a.type, b.type);
  EXPECT_EQ(a.from, b.from);
  EXPECT_EQ(a.to, b.to);
  EXPECT_EQ(a.term, b.term);
  EXPECT_EQ(a.log_term, b.log_term);
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.entries, b.entries);
  EXPECT_EQ(a.commit, b.commit);
  EXPECT_EQ(a.reject, b.reject);
  EXPECT_EQ(a.reject_hint, b.reject_hint);
  EXPECT_EQ(a.context, b.context);
  EXPECT_EQ(a.transfer, b.transfer);
  EXPECT_EQ(a.from_incarnation, b.from_incarnation);
  EXPECT_EQ(a.to_incarnation, b.to_incarnation);
  ASSERT_EQ(a.snapshot == nullptr, b.snapshot == nullptr);
  if (a.snapshot) {
    EXPECT_EQ(a.snapshot->meta, b.snapshot->meta);
    EXPECT_EQ(a.snapshot->data, b.snapshot->data);
  }
}

TEST(Codec, EveryNetworkMessageTypeRoundTrips) {
  int network_types = 0;
  for (MessageType type : kAllTypes) {
    if (!is_network_message(type)) continue;
    ++network_types;
    SCOPED_TRACE(raft::message_type_name(type));
    const Message m = full_message(type);
    pb::Message wire;
    ASSERT_TRUE(encode_message(m, &wire).is_ok());
    auto back = decode_message(wire);
    ASSERT_TRUE(back.is_ok()) << back.status().to_string();
    expect_same(m, *back);
  }
  EXPECT_EQ(network_types, 13);  // 11 peer messages + forwarded ReadIndex and TransferLeader
}

TEST(Codec, DefaultFieldsRoundTrip) {
  Message m;
  m.type = MessageType::kHeartbeatResp;
  m.from = NodeId(1);
  m.to = NodeId(2);
  pb::Message wire;
  ASSERT_TRUE(encode_message(m, &wire).is_ok());
  auto back = decode_message(wire);
  ASSERT_TRUE(back.is_ok());
  expect_same(m, *back);
}

TEST(Codec, EnvelopeRoundTripsAcrossGroups) {
  Envelope env{NodeId(2), 77, {}};
  env.messages.push_back({GroupId(0), full_message(MessageType::kApp)});
  env.messages.push_back({GroupId(5), full_message(MessageType::kSnap)});
  env.messages.push_back({GroupId(UINT64_MAX), full_message(MessageType::kVoteResp)});
  auto bytes = encode_envelope(env);
  ASSERT_TRUE(bytes.is_ok());
  auto decoded = decode_payload(*bytes);
  ASSERT_TRUE(decoded.is_ok()) << decoded.status().to_string();
  const auto* back = std::get_if<Envelope>(&*decoded);
  ASSERT_NE(back, nullptr);
  EXPECT_EQ(back->sender, NodeId(2));
  EXPECT_EQ(back->cluster_id, 77u);
  ASSERT_EQ(back->messages.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(back->messages[i].group, env.messages[i].group);
    expect_same(env.messages[i].message, back->messages[i].message);
  }
}

// encode_envelope writes the wire format by hand; it must produce exactly the bytes protobuf's
// own serializer produces for the same PeerMessage, for every field taking zero and non-zero
// values (proto3 omits zeros), every network type, snapshots, chunks and many groups.
TEST(Codec, HandWrittenEnvelopeBytesEqualProtobufSerialization) {
  std::mt19937_64 rng(20261124);
  auto pick = [&](uint64_t max) { return rng() % (max + 1); };
  // Zero, small (1-byte varint), and large values (multi-byte varints, up to 64 bits).
  auto value = [&]() -> uint64_t {
    switch (pick(3)) {
      case 0:
        return 0;
      case 1:
        return pick(127);
      case 2:
        return pick(1u << 20);
      default:
        return rng();
    }
  };
  std::vector<MessageType> network_types;
  for (MessageType t : kAllTypes) {
    if (is_network_message(t)) network_types.push_back(t);
  }
  network_types.push_back(MessageType::kSnapChunk);
  network_types.push_back(MessageType::kSnapChunkResp);
  for (int round = 0; round < 2000; ++round) {
    Envelope env{NodeId(1 + pick(1000)), value(), {}};
    const size_t count = pick(4);
    for (size_t i = 0; i < count; ++i) {
      Message m;
      m.type = network_types[pick(network_types.size() - 1)];
      m.from = NodeId(1 + value());
      m.to = NodeId(1 + pick(5));
      m.term = Term(value());
      m.log_term = Term(value());
      m.index = Index(value());
      for (uint64_t e = pick(3); e > 0; --e) {
        m.entries.push_back(raft::Entry{Term(value()), Index(value()),
                                        pick(1) ? EntryType::kNormal : EntryType::kConfChange,
                                        std::string(pick(1) ? pick(300) : 0, 'd')});
      }
      m.commit = Index(value());
      m.reject = pick(1) == 1;
      m.reject_hint = Index(value());
      m.context = value();
      m.transfer = pick(1) == 1;
      m.from_incarnation = value();
      m.to_incarnation = value();
      if (m.type == MessageType::kSnap || m.type == MessageType::kSnapChunk) {
        auto snap = std::make_shared<raft::Snapshot>();
        snap->meta.index = Index(value());
        snap->meta.term = Term(value());
        uint64_t next_id = 1;
        for (uint64_t k = pick(3); k > 0; --k) {
          next_id += value() % 1000 + 1;
          snap->meta.conf.voters.push_back(NodeId(next_id));
        }
        for (uint64_t k = pick(2); k > 0; --k) {
          next_id += 200;
          snap->meta.conf.learners.push_back(NodeId(next_id));
        }
        // Byte equality only: the membership need not be valid here.
        for (uint64_t k = pick(2); k > 0; --k) {
          next_id += 3;
          snap->meta.conf.voters_outgoing.push_back(NodeId(next_id));
          if (pick(1)) snap->meta.conf.learners_next.push_back(NodeId(next_id));
        }
        snap->meta.conf.auto_leave = pick(1) == 1;
        for (uint64_t k = pick(3); k > 0; --k) {
          snap->meta.conf.members[NodeId(1 + value())] = raft::MemberInfo{
              value(), std::string(pick(20), 'p'), std::string(pick(1) ? pick(20) : 0, 'c')};
        }
        snap->data = std::string(pick(1) ? pick(5000) : 0, 's');
        m.snapshot = snap;
      }
      if (raft::is_snapshot_transfer_message(m.type)) {
        m.chunk = raft::SnapshotChunk{value(), value(), static_cast<uint32_t>(value())};
      }
      env.messages.push_back(GroupMessage{GroupId(value()), std::move(m)});
    }
    pb::PeerMessage reference;
    pb::Envelope* pe = reference.mutable_envelope();
    pe->set_sender(env.sender.value());
    pe->set_cluster_id(env.cluster_id);
    for (const GroupMessage& gm : env.messages) {
      pb::GroupMessage* pgm = pe->add_messages();
      pgm->set_group_id(gm.group.value());
      ASSERT_TRUE(encode_message(gm.message, pgm->mutable_message()).is_ok());
    }
    auto bytes = encode_envelope(env);
    ASSERT_TRUE(bytes.is_ok()) << bytes.status().to_string();
    ASSERT_EQ(*bytes, reference.SerializeAsString()) << "round " << round;
  }
}

TEST(Codec, HelloRoundTrips) {
  Hello h{NodeId(9), 1234, kProtocolVersion, 0xfeedface12345678, true};
  auto decoded = decode_payload(encode_hello(h));
  ASSERT_TRUE(decoded.is_ok());
  ASSERT_TRUE(std::holds_alternative<Hello>(*decoded));
  EXPECT_EQ(std::get<Hello>(*decoded), h);
}

TEST(Codec, LocalMessagesAreNeverEncoded) {
  for (MessageType type : kAllTypes) {
    if (is_network_message(type)) continue;
    SCOPED_TRACE(raft::message_type_name(type));
    pb::Message wire;
    Status s = encode_message(full_message(type), &wire);
    EXPECT_EQ(s.code(), ErrorCode::kInvalidArgument);
    Envelope env{NodeId(1), 1, {{GroupId(1), full_message(type)}}};
    EXPECT_FALSE(encode_envelope(env).is_ok());
  }
  EXPECT_FALSE(is_network_message(MessageType::kPropose));
}

TEST(Codec, LocalMessagesFromThePeerAreRejected) {
  // What a buggy or hostile peer could send: a well-formed message with a local type.
  const pb::MessageType kLocalWireTypes[] = {
      pb::MSG_HUP,
      pb::MSG_BEAT,
      pb::MSG_PROPOSE,
      pb::MSG_UNREACHABLE,
      pb::MSG_SNAPSHOT_STATUS,
      pb::MSG_STORAGE_APPEND_DONE,
      pb::MSG_CHECK_QUORUM,
  };
  for (pb::MessageType wire_type : kLocalWireTypes) {
    SCOPED_TRACE(pb::MessageType_Name(wire_type));
    pb::Message wire;
    ASSERT_TRUE(encode_message(full_message(MessageType::kApp), &wire).is_ok());
    wire.set_type(wire_type);
    auto back = decode_message(wire);
    ASSERT_FALSE(back.is_ok());
    EXPECT_EQ(back.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(back.status().message().find("local message"), std::string::npos)
        << back.status().message();
  }
}

TEST(Codec, OutOfRangeFieldsAreRejected) {
  auto rejects = [](auto mutate, const char* what) {
    SCOPED_TRACE(what);
    pb::Message wire;
    ASSERT_TRUE(encode_message(full_message(MessageType::kApp), &wire).is_ok());
    mutate(wire);
    auto back = decode_message(wire);
    EXPECT_FALSE(back.is_ok());
    EXPECT_EQ(back.code(), ErrorCode::kInvalidArgument);
  };
  rejects([](pb::Message& w) { w.set_type(pb::MSG_UNSPECIFIED); }, "type 0");
  rejects([](pb::Message& w) { w.set_type(static_cast<pb::MessageType>(999)); }, "type 999");
  rejects([](pb::Message& w) { w.set_from(0); }, "zero sender");
  rejects([](pb::Message& w) { w.set_to(0); }, "zero recipient");
  rejects([](pb::Message& w) { w.mutable_entries(0)->set_type(static_cast<pb::EntryType>(7)); },
          "entry type 7");
  rejects([](pb::Message& w) { w.mutable_snapshot()->mutable_meta()->set_index(5); },
          "snapshot on App");
}

TEST(Codec, BadSnapshotsAreRejected) {
  auto rejects = [](auto mutate, const char* what) {
    SCOPED_TRACE(what);
    pb::Message wire;
    ASSERT_TRUE(encode_message(full_message(MessageType::kSnap), &wire).is_ok());
    mutate(*wire.mutable_snapshot()->mutable_meta());
    EXPECT_FALSE(decode_message(wire).is_ok());
  };
  rejects([](pb::SnapshotMeta& m) { m.set_index(0); }, "index 0");
  rejects([](pb::SnapshotMeta& m) { m.set_term(0); }, "term 0");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->add_voters(0); }, "voter 0");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->add_voters(2); }, "voters unsorted");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->add_learners(4); }, "learner duplicate");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->set_learners(0, 3); }, "voter and learner");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->set_voters_outgoing(0, 4); },
          "outgoing voter and learner");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->add_voters_outgoing(3); },
          "outgoing voters unsorted");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->set_learners_next(0, 3); },
          "next learner not outgoing");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->clear_voters_outgoing(); },
          "next learners without a joint configuration");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->mutable_members(0)->set_id(9); },
          "record of a non-member");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->mutable_members(1)->set_id(1); },
          "two records for one member");
  rejects([](pb::SnapshotMeta& m) { m.mutable_conf()->mutable_members(0)->set_id(0); },
          "record of node 0");

  pb::Message wire;
  ASSERT_TRUE(encode_message(full_message(MessageType::kSnap), &wire).is_ok());
  wire.clear_snapshot();
  EXPECT_FALSE(decode_message(wire).is_ok()) << "Snap without snapshot";

  Message m = full_message(MessageType::kSnap);
  m.snapshot = nullptr;
  EXPECT_FALSE(encode_message(m, &wire).is_ok());
}

// A peer that predates incarnations and joint consensus sends none of their fields: its messages
// decode with incarnations 0 and its snapshots with a plain membership of unbound members.
TEST(Codec, MessagesOfOlderPeersDecodeWithoutTheNewFields) {
  pb::Message wire;
  ASSERT_TRUE(encode_message(full_message(MessageType::kSnap), &wire).is_ok());
  wire.clear_from_incarnation();
  wire.clear_to_incarnation();
  pb::ConfState* conf = wire.mutable_snapshot()->mutable_meta()->mutable_conf();
  conf->clear_voters_outgoing();
  conf->clear_learners_next();
  conf->clear_auto_leave();
  conf->clear_members();
  auto back = decode_message(wire);
  ASSERT_TRUE(back.is_ok()) << back.status().to_string();
  EXPECT_EQ(back->from_incarnation, 0u);
  EXPECT_EQ(back->to_incarnation, 0u);
  const raft::ConfState& c = back->snapshot->meta.conf;
  EXPECT_EQ(c.voters, (std::vector<NodeId>{NodeId(1), NodeId(2), NodeId(3)}));
  EXPECT_EQ(c.learners, std::vector<NodeId>{NodeId(4)});
  EXPECT_FALSE(c.joint());
  EXPECT_TRUE(c.members.empty());
}

TEST(Codec, MalformedPayloadsAreRejected) {
  EXPECT_FALSE(decode_payload("").is_ok());  // no body
  EXPECT_FALSE(decode_payload("\xff\xff\xff").is_ok());
  EXPECT_FALSE(decode_payload(encode_hello(Hello{NodeId(0), 1, 1})).is_ok());
  Envelope env{NodeId(0), 1, {}};
  EXPECT_FALSE(decode_payload(*encode_envelope(env)).is_ok());
  // One bad message poisons the whole envelope.
  pb::PeerMessage pm;
  pb::Envelope* e = pm.mutable_envelope();
  e->set_sender(1);
  ASSERT_TRUE(encode_message(full_message(MessageType::kApp), e->add_messages()->mutable_message())
                  .is_ok());
  e->add_messages()->mutable_message()->set_type(pb::MSG_HUP);
  EXPECT_FALSE(decode_payload(pm.SerializeAsString()).is_ok());
}

TEST(Codec, EstimateIsAnUpperBound) {
  for (MessageType type : kAllTypes) {
    if (!is_network_message(type)) continue;
    const Message m = full_message(type);
    pb::GroupMessage gm;
    gm.set_group_id(UINT64_MAX);
    ASSERT_TRUE(encode_message(m, gm.mutable_message()).is_ok());
    EXPECT_LE(gm.ByteSizeLong() + 6, estimate_encoded_bytes(m)) << raft::message_type_name(type);
  }
}

}  // namespace
}  // namespace raftkv::transport
