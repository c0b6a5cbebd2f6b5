#include "transport/codec.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include <fmt/format.h>

namespace raftkv::transport {

namespace {

using raft::MessageType;

// The wire number of every raft::MessageType. Total: adding a raft type without a wire number
// fails to compile (-Werror=switch).
pb::MessageType to_wire(MessageType t) {
  switch (t) {
    case MessageType::kHup:
      return pb::MSG_HUP;
    case MessageType::kBeat:
      return pb::MSG_BEAT;
    case MessageType::kPropose:
      return pb::MSG_PROPOSE;
    case MessageType::kReadIndex:
      return pb::MSG_READ_INDEX;
    case MessageType::kUnreachable:
      return pb::MSG_UNREACHABLE;
    case MessageType::kSnapshotStatus:
      return pb::MSG_SNAPSHOT_STATUS;
    case MessageType::kTransferLeader:
      return pb::MSG_TRANSFER_LEADER;
    case MessageType::kStorageAppendDone:
      return pb::MSG_STORAGE_APPEND_DONE;
    case MessageType::kCheckQuorum:
      return pb::MSG_CHECK_QUORUM;
    case MessageType::kApp:
      return pb::MSG_APP;
    case MessageType::kAppResp:
      return pb::MSG_APP_RESP;
    case MessageType::kVote:
      return pb::MSG_VOTE;
    case MessageType::kVoteResp:
      return pb::MSG_VOTE_RESP;
    case MessageType::kPreVote:
      return pb::MSG_PRE_VOTE;
    case MessageType::kPreVoteResp:
      return pb::MSG_PRE_VOTE_RESP;
    case MessageType::kHeartbeat:
      return pb::MSG_HEARTBEAT;
    case MessageType::kHeartbeatResp:
      return pb::MSG_HEARTBEAT_RESP;
    case MessageType::kSnap:
      return pb::MSG_SNAP;
    case MessageType::kTimeoutNow:
      return pb::MSG_TIMEOUT_NOW;
    case MessageType::kReadIndexResp:
      return pb::MSG_READ_INDEX_RESP;
    case MessageType::kSnapChunk:
      return pb::MSG_SNAP_CHUNK;
    case MessageType::kSnapChunkResp:
      return pb::MSG_SNAP_CHUNK_RESP;
  }
  return pb::MSG_UNSPECIFIED;
}

// Inverse of to_wire(); nullopt for numbers no raft type maps to (including 0 and values a
// newer peer might send: proto3 enums are open, so any int32 can arrive).
std::optional<MessageType> from_wire(int wire) {
  switch (wire) {
    case pb::MSG_HUP:
      return MessageType::kHup;
    case pb::MSG_BEAT:
      return MessageType::kBeat;
    case pb::MSG_PROPOSE:
      return MessageType::kPropose;
    case pb::MSG_READ_INDEX:
      return MessageType::kReadIndex;
    case pb::MSG_UNREACHABLE:
      return MessageType::kUnreachable;
    case pb::MSG_SNAPSHOT_STATUS:
      return MessageType::kSnapshotStatus;
    case pb::MSG_TRANSFER_LEADER:
      return MessageType::kTransferLeader;
    case pb::MSG_STORAGE_APPEND_DONE:
      return MessageType::kStorageAppendDone;
    case pb::MSG_CHECK_QUORUM:
      return MessageType::kCheckQuorum;
    case pb::MSG_APP:
      return MessageType::kApp;
    case pb::MSG_APP_RESP:
      return MessageType::kAppResp;
    case pb::MSG_VOTE:
      return MessageType::kVote;
    case pb::MSG_VOTE_RESP:
      return MessageType::kVoteResp;
    case pb::MSG_PRE_VOTE:
      return MessageType::kPreVote;
    case pb::MSG_PRE_VOTE_RESP:
      return MessageType::kPreVoteResp;
    case pb::MSG_HEARTBEAT:
      return MessageType::kHeartbeat;
    case pb::MSG_HEARTBEAT_RESP:
      return MessageType::kHeartbeatResp;
    case pb::MSG_SNAP:
      return MessageType::kSnap;
    case pb::MSG_TIMEOUT_NOW:
      return MessageType::kTimeoutNow;
    case pb::MSG_READ_INDEX_RESP:
      return MessageType::kReadIndexResp;
    case pb::MSG_SNAP_CHUNK:
      return MessageType::kSnapChunk;
    case pb::MSG_SNAP_CHUNK_RESP:
      return MessageType::kSnapChunkResp;
    default:
      return std::nullopt;
  }
}

Status invalid(std::string what) {
  return Status(ErrorCode::kInvalidArgument, std::move(what));
}

void encode_node_list(const std::vector<NodeId>& nodes,
                      google::protobuf::RepeatedField<uint64_t>* out) {
  out->Reserve(static_cast<int>(nodes.size()));
  for (NodeId n : nodes) out->Add(n.value());
}

// Membership lists must be sorted, unique and free of the "none" id (raft::ConfState).
Result<std::vector<NodeId>> decode_node_list(const google::protobuf::RepeatedField<uint64_t>& in,
                                             const char* name) {
  std::vector<NodeId> out;
  out.reserve(static_cast<size_t>(in.size()));
  for (uint64_t v : in) {
    if (v == 0) return invalid(fmt::format("conf state {} contains node 0", name));
    if (!out.empty() && out.back().value() >= v) {
      return invalid(fmt::format("conf state {} not sorted and unique", name));
    }
    out.emplace_back(v);
  }
  return out;
}

Result<raft::Snapshot> decode_snapshot(const pb::Snapshot& in) {
  raft::Snapshot s;
  s.meta.index = Index(in.meta().index());
  s.meta.term = Term(in.meta().term());
  if (s.meta.index == Index()) return invalid("snapshot index 0");
  if (s.meta.term == Term()) return invalid("snapshot term 0");
  auto voters = decode_node_list(in.meta().conf().voters(), "voters");
  if (!voters) return voters.status();
  auto learners = decode_node_list(in.meta().conf().learners(), "learners");
  if (!learners) return learners.status();
  for (NodeId l : *learners) {
    if (std::binary_search(voters->begin(), voters->end(), l)) {
      return invalid(fmt::format("node {} is both voter and learner", l));
    }
  }
  s.meta.conf.voters = std::move(voters).value();
  s.meta.conf.learners = std::move(learners).value();
  s.data = in.data();
  return s;
}

}  // namespace

bool is_network_message(raft::MessageType type) {
  return !raft::is_local_message(type) && type != MessageType::kPropose;
}

Status encode_message(const raft::Message& m, pb::Message* out) {
  if (!is_network_message(m.type)) {
    return invalid(fmt::format("{} is a local message and is never sent to a peer",
                               raft::message_type_name(m.type)));
  }
  if (m.from.is_none()) return invalid("message has no sender (from = 0)");
  if (m.to.is_none()) return invalid("message has no recipient (to = 0)");
  const bool carries_snapshot = m.type == MessageType::kSnap || m.type == MessageType::kSnapChunk;
  if (carries_snapshot && !m.snapshot) {
    return invalid(fmt::format("{} without a snapshot", raft::message_type_name(m.type)));
  }
  out->Clear();
  out->set_type(to_wire(m.type));
  out->set_from(m.from.value());
  out->set_to(m.to.value());
  out->set_term(m.term.value());
  out->set_log_term(m.log_term.value());
  out->set_index(m.index.value());
  out->mutable_entries()->Reserve(static_cast<int>(m.entries.size()));
  for (const raft::Entry& e : m.entries) {
    pb::Entry* pe = out->add_entries();
    pe->set_term(e.term.value());
    pe->set_index(e.index.value());
    pe->set_type(e.type == raft::EntryType::kConfChange ? pb::ENTRY_CONF_CHANGE : pb::ENTRY_NORMAL);
    pe->set_data(e.data);
  }
  out->set_commit(m.commit.value());
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint.value());
  if (carries_snapshot) {
    pb::Snapshot* ps = out->mutable_snapshot();
    const raft::SnapshotMeta& meta = m.snapshot->meta;
    ps->mutable_meta()->set_index(meta.index.value());
    ps->mutable_meta()->set_term(meta.term.value());
    encode_node_list(meta.conf.voters, ps->mutable_meta()->mutable_conf()->mutable_voters());
    encode_node_list(meta.conf.learners, ps->mutable_meta()->mutable_conf()->mutable_learners());
    ps->set_data(m.snapshot->data);
  }
  out->set_context(m.context);
  out->set_transfer(m.transfer);
  if (raft::is_snapshot_transfer_message(m.type)) {
    out->mutable_chunk()->set_offset(m.chunk.offset);
    out->mutable_chunk()->set_total_bytes(m.chunk.total_bytes);
    out->mutable_chunk()->set_crc32c(m.chunk.crc32c);
  }
  return Status::ok();
}

Result<raft::Message> decode_message(const pb::Message& in) {
  std::optional<MessageType> type = from_wire(in.type());
  if (!type) return invalid(fmt::format("unknown message type {}", in.type()));
  if (!is_network_message(*type)) {
    return invalid(fmt::format("{} is a local message and must not arrive from a peer",
                               raft::message_type_name(*type)));
  }
  if (in.from() == 0) return invalid("message has no sender (from = 0)");
  if (in.to() == 0) return invalid("message has no recipient (to = 0)");
  const bool is_snap = *type == MessageType::kSnap || *type == MessageType::kSnapChunk;
  if (is_snap != in.has_snapshot()) {
    return invalid(is_snap ? fmt::format("{} without a snapshot", raft::message_type_name(*type))
                           : fmt::format("{} carries a snapshot", raft::message_type_name(*type)));
  }
  const bool is_transfer = raft::is_snapshot_transfer_message(*type);
  if (is_transfer != in.has_chunk()) {
    return invalid(fmt::format("{} {} a chunk position", raft::message_type_name(*type),
                               is_transfer ? "lacks" : "carries"));
  }
  if (is_transfer && in.chunk().offset() > in.chunk().total_bytes()) {
    return invalid("chunk offset beyond the snapshot size");
  }
  if (*type == MessageType::kSnapChunk &&
      in.chunk().offset() + in.snapshot().data().size() > in.chunk().total_bytes()) {
    return invalid("chunk runs past the snapshot size");
  }
  raft::Message m;
  m.type = *type;
  m.from = NodeId(in.from());
  m.to = NodeId(in.to());
  m.term = Term(in.term());
  m.log_term = Term(in.log_term());
  m.index = Index(in.index());
  m.entries.reserve(static_cast<size_t>(in.entries_size()));
  for (const pb::Entry& pe : in.entries()) {
    raft::Entry e;
    e.term = Term(pe.term());
    e.index = Index(pe.index());
    switch (pe.type()) {
      case pb::ENTRY_NORMAL:
        e.type = raft::EntryType::kNormal;
        break;
      case pb::ENTRY_CONF_CHANGE:
        e.type = raft::EntryType::kConfChange;
        break;
      default:
        return invalid(fmt::format("unknown entry type {}", static_cast<int>(pe.type())));
    }
    e.data = pe.data();
    m.entries.push_back(std::move(e));
  }
  m.commit = Index(in.commit());
  m.reject = in.reject();
  m.reject_hint = Index(in.reject_hint());
  if (is_snap) {
    auto snapshot = decode_snapshot(in.snapshot());
    if (!snapshot) return snapshot.status();
    m.snapshot = std::make_shared<const raft::Snapshot>(std::move(snapshot).value());
  }
  m.context = in.context();
  m.transfer = in.transfer();
  if (is_transfer) {
    m.chunk =
        raft::SnapshotChunk{in.chunk().offset(), in.chunk().total_bytes(), in.chunk().crc32c()};
  }
  return m;
}

std::string encode_hello(const Hello& hello) {
  pb::PeerMessage pm;
  pb::Hello* h = pm.mutable_hello();
  h->set_node_id(hello.node.value());
  h->set_cluster_id(hello.cluster_id);
  h->set_protocol_version(hello.protocol_version);
  return pm.SerializeAsString();
}

Result<std::string> encode_envelope(const Envelope& envelope) {
  pb::PeerMessage pm;
  pb::Envelope* env = pm.mutable_envelope();
  env->set_sender(envelope.sender.value());
  env->set_cluster_id(envelope.cluster_id);
  env->mutable_messages()->Reserve(static_cast<int>(envelope.messages.size()));
  for (const GroupMessage& gm : envelope.messages) {
    pb::GroupMessage* pgm = env->add_messages();
    pgm->set_group_id(gm.group.value());
    if (Status s = encode_message(gm.message, pgm->mutable_message()); !s) return s;
  }
  return pm.SerializeAsString();
}

// GCC 12 with -fsanitize=address reports a false -Wmaybe-uninitialized when a
// variant<Hello, Envelope> holding a Hello is moved (it reads the inactive vector's fields).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
Result<PeerPayload> decode_payload(std::string_view bytes) {
  pb::PeerMessage pm;
  if (!pm.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return invalid(fmt::format("payload of {} bytes is not a valid PeerMessage", bytes.size()));
  }
  switch (pm.body_case()) {
    case pb::PeerMessage::kHello: {
      const pb::Hello& h = pm.hello();
      if (h.node_id() == 0) return invalid("Hello from node 0");
      return PeerPayload(Hello{NodeId(h.node_id()), h.cluster_id(), h.protocol_version()});
    }
    case pb::PeerMessage::kEnvelope: {
      const pb::Envelope& env = pm.envelope();
      if (env.sender() == 0) return invalid("envelope from node 0");
      Envelope out{NodeId(env.sender()), env.cluster_id(), {}};
      out.messages.reserve(static_cast<size_t>(env.messages_size()));
      for (const pb::GroupMessage& pgm : env.messages()) {
        auto m = decode_message(pgm.message());
        if (!m) return m.status();
        out.messages.push_back(GroupMessage{GroupId(pgm.group_id()), std::move(m).value()});
      }
      return PeerPayload(std::move(out));
    }
    case pb::PeerMessage::BODY_NOT_SET:
      break;
  }
  return invalid("empty PeerMessage (unknown body kind)");
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

uint64_t estimate_encoded_bytes(const raft::Message& m) {
  // Fixed fields: at most 13 tagged varints/bools (<= 11 bytes each) plus the group wrapper.
  uint64_t bytes = 192;
  for (const raft::Entry& e : m.entries) bytes += e.data.size() + 32;
  if (m.snapshot) {
    bytes += m.snapshot->data.size() + 64 +
             11 * (m.snapshot->meta.conf.voters.size() + m.snapshot->meta.conf.learners.size());
  }
  return bytes;
}

}  // namespace raftkv::transport
