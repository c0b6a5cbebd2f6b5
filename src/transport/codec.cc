#include "transport/codec.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/assert.h"
#include "base/varint.h"
#include "raft/confchange.h"

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

void encode_conf(const raft::ConfState& c, pb::ConfState* out) {
  encode_node_list(c.voters, out->mutable_voters());
  encode_node_list(c.learners, out->mutable_learners());
  encode_node_list(c.voters_outgoing, out->mutable_voters_outgoing());
  encode_node_list(c.learners_next, out->mutable_learners_next());
  out->set_auto_leave(c.auto_leave);
  for (const auto& [id, info] : c.members) {
    pb::Member* m = out->add_members();
    m->set_id(id.value());
    m->set_incarnation(info.incarnation);
    m->set_peer_addr(info.peer_addr);
    m->set_client_addr(info.client_addr);
  }
}

Result<raft::ConfState> decode_conf(pb::ConfState& in) {
  raft::ConfState c;
  auto voters = decode_node_list(in.voters(), "voters");
  if (!voters) return voters.status();
  auto learners = decode_node_list(in.learners(), "learners");
  if (!learners) return learners.status();
  auto outgoing = decode_node_list(in.voters_outgoing(), "outgoing voters");
  if (!outgoing) return outgoing.status();
  auto next = decode_node_list(in.learners_next(), "next learners");
  if (!next) return next.status();
  c.voters = std::move(voters).value();
  c.learners = std::move(learners).value();
  c.voters_outgoing = std::move(outgoing).value();
  c.learners_next = std::move(next).value();
  c.auto_leave = in.auto_leave();
  for (pb::Member& m : *in.mutable_members()) {
    if (m.id() == 0) return invalid("conf state member record for node 0");
    raft::MemberInfo info{m.incarnation(), std::move(*m.mutable_peer_addr()),
                          std::move(*m.mutable_client_addr())};
    if (!c.members.emplace(NodeId(m.id()), std::move(info)).second) {
      return invalid(fmt::format("conf state has two member records for node {}", m.id()));
    }
  }
  // Overlaps (a node both voter and learner), next learners outside a joint configuration,
  // records of non-members.
  if (Status s = raft::validate_conf_state(c); !s) {
    return invalid(fmt::format("conf state: {}", s.message()));
  }
  return c;
}

Result<raft::Snapshot> decode_snapshot(pb::Snapshot& in) {
  raft::Snapshot s;
  s.meta.index = Index(in.meta().index());
  s.meta.term = Term(in.meta().term());
  if (s.meta.index == Index()) return invalid("snapshot index 0");
  if (s.meta.term == Term()) return invalid("snapshot term 0");
  auto conf = decode_conf(*in.mutable_meta()->mutable_conf());
  if (!conf) return conf.status();
  s.meta.conf = std::move(conf).value();
  s.data = std::move(*in.mutable_data());
  return s;
}

}  // namespace

bool is_network_message(raft::MessageType type) {
  return !raft::is_local_message(type) && type != MessageType::kPropose;
}

namespace {

bool carries_snapshot(const raft::Message& m) {
  return m.type == MessageType::kSnap || m.type == MessageType::kSnapChunk;
}

Status check_sendable(const raft::Message& m) {
  if (!is_network_message(m.type)) {
    return invalid(fmt::format("{} is a local message and is never sent to a peer",
                               raft::message_type_name(m.type)));
  }
  if (m.from.is_none()) return invalid("message has no sender (from = 0)");
  if (m.to.is_none()) return invalid("message has no recipient (to = 0)");
  if (carries_snapshot(m) && !m.snapshot) {
    return invalid(fmt::format("{} without a snapshot", raft::message_type_name(m.type)));
  }
  return Status::ok();
}

}  // namespace

Status encode_message(const raft::Message& m, pb::Message* out) {
  if (Status s = check_sendable(m); !s) return s;
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
    pe->set_data(e.data.data(), e.data.size());
  }
  out->set_commit(m.commit.value());
  out->set_reject(m.reject);
  out->set_reject_hint(m.reject_hint.value());
  if (carries_snapshot(m)) {
    pb::Snapshot* ps = out->mutable_snapshot();
    const raft::SnapshotMeta& meta = m.snapshot->meta;
    ps->mutable_meta()->set_index(meta.index.value());
    ps->mutable_meta()->set_term(meta.term.value());
    encode_conf(meta.conf, ps->mutable_meta()->mutable_conf());
    ps->set_data(m.snapshot->data);
  }
  out->set_context(m.context);
  out->set_transfer(m.transfer);
  if (raft::is_snapshot_transfer_message(m.type)) {
    out->mutable_chunk()->set_offset(m.chunk.offset);
    out->mutable_chunk()->set_total_bytes(m.chunk.total_bytes);
    out->mutable_chunk()->set_crc32c(m.chunk.crc32c);
  }
  out->set_from_incarnation(m.from_incarnation);
  out->set_to_incarnation(m.to_incarnation);
  return Status::ok();
}

Result<raft::Message> decode_message(pb::Message& in) {
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
  for (pb::Entry& pe : *in.mutable_entries()) {
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
    e.data = std::move(*pe.mutable_data());
    m.entries.push_back(std::move(e));
  }
  m.commit = Index(in.commit());
  m.reject = in.reject();
  m.reject_hint = Index(in.reject_hint());
  if (is_snap) {
    auto snapshot = decode_snapshot(*in.mutable_snapshot());
    if (!snapshot) return snapshot.status();
    m.snapshot = std::make_shared<const raft::Snapshot>(std::move(snapshot).value());
  }
  m.context = in.context();
  m.transfer = in.transfer();
  if (is_transfer) {
    m.chunk =
        raft::SnapshotChunk{in.chunk().offset(), in.chunk().total_bytes(), in.chunk().crc32c()};
  }
  m.from_incarnation = in.from_incarnation();
  m.to_incarnation = in.to_incarnation();
  return m;
}

std::string encode_hello(const Hello& hello) {
  pb::PeerMessage pm;
  pb::Hello* h = pm.mutable_hello();
  h->set_node_id(hello.node.value());
  h->set_cluster_id(hello.cluster_id);
  h->set_protocol_version(hello.protocol_version);
  h->set_incarnation(hello.incarnation);
  h->set_initialized(hello.initialized);
  return pm.SerializeAsString();
}

// encode_envelope writes the protobuf wire format itself: building pb::Message objects copied
// every entry's data once more and allocated per entry. The bytes are exactly what
// SerializeAsString() of the equivalent pb::PeerMessage produces (proto3: fields in number
// order, zero scalars and empty bytes omitted, present sub-messages always written, packed
// repeated integers); codec_test checks this on random messages. Sizes are computed first so
// the payload is written in one pass into one allocation.
namespace {

constexpr uint32_t kVarint = 0;
constexpr uint32_t kLengthDelimited = 2;

// Field numbers below 16 have one-byte tags; the few above (Message's incarnations) two.
void put_tag(std::string& out, uint32_t field, uint32_t wire_type) {
  put_varint(out, (uint64_t{field} << 3) | wire_type);
}
size_t tag_size(uint32_t field) {
  return varint_size(uint64_t{field} << 3);
}

size_t scalar_size(uint64_t v, uint32_t field = 1) {
  return v == 0 ? 0 : tag_size(field) + varint_size(v);
}
size_t nested_size(size_t len) {
  return 1 + varint_size(len) + len;
}
size_t bytes_size(size_t len) {
  return len == 0 ? 0 : nested_size(len);
}

void put_scalar(std::string& out, uint32_t field, uint64_t v) {
  if (v == 0) return;
  put_tag(out, field, kVarint);
  put_varint(out, v);
}
void put_nested_header(std::string& out, uint32_t field, size_t len) {
  put_tag(out, field, kLengthDelimited);
  put_varint(out, len);
}
void put_bytes(std::string& out, uint32_t field, std::string_view bytes) {
  if (bytes.empty()) return;
  put_nested_header(out, field, bytes.size());
  out.append(bytes);
}

uint64_t entry_type_wire(const raft::Entry& e) {
  return e.type == raft::EntryType::kConfChange ? pb::ENTRY_CONF_CHANGE : pb::ENTRY_NORMAL;
}

size_t entry_size(const raft::Entry& e) {
  return scalar_size(e.term.value()) + scalar_size(e.index.value()) +
         scalar_size(entry_type_wire(e)) + bytes_size(e.data.size());
}

size_t packed_payload_size(const std::vector<NodeId>& ids) {
  size_t n = 0;
  for (NodeId id : ids) n += varint_size(id.value());
  return n;
}
size_t packed_size(const std::vector<NodeId>& ids) {
  return ids.empty() ? 0 : nested_size(packed_payload_size(ids));
}
void put_packed(std::string& out, uint32_t field, const std::vector<NodeId>& ids) {
  if (ids.empty()) return;
  put_nested_header(out, field, packed_payload_size(ids));
  for (NodeId id : ids) put_varint(out, id.value());
}

size_t member_size(NodeId id, const raft::MemberInfo& info) {
  return scalar_size(id.value()) + scalar_size(info.incarnation) +
         bytes_size(info.peer_addr.size()) + bytes_size(info.client_addr.size());
}
size_t conf_size(const raft::ConfState& c) {
  size_t n = packed_size(c.voters) + packed_size(c.learners) + packed_size(c.voters_outgoing) +
             packed_size(c.learners_next) + scalar_size(c.auto_leave ? 1 : 0);
  for (const auto& [id, info] : c.members) n += nested_size(member_size(id, info));
  return n;
}
size_t meta_size(const raft::SnapshotMeta& m) {
  return scalar_size(m.index.value()) + scalar_size(m.term.value()) +
         nested_size(conf_size(m.conf));
}
size_t snapshot_size(const raft::Snapshot& s) {
  return nested_size(meta_size(s.meta)) + bytes_size(s.data.size());
}
size_t chunk_size(const raft::SnapshotChunk& c) {
  return scalar_size(c.offset) + scalar_size(c.total_bytes) + scalar_size(c.crc32c);
}

size_t message_size(const raft::Message& m) {
  size_t n = scalar_size(static_cast<uint64_t>(to_wire(m.type))) + scalar_size(m.from.value()) +
             scalar_size(m.to.value()) + scalar_size(m.term.value()) +
             scalar_size(m.log_term.value()) + scalar_size(m.index.value());
  for (const raft::Entry& e : m.entries) n += nested_size(entry_size(e));
  n += scalar_size(m.commit.value()) + scalar_size(m.reject ? 1 : 0) +
       scalar_size(m.reject_hint.value());
  if (carries_snapshot(m)) n += nested_size(snapshot_size(*m.snapshot));
  n += scalar_size(m.context) + scalar_size(m.transfer ? 1 : 0);
  if (raft::is_snapshot_transfer_message(m.type)) n += nested_size(chunk_size(m.chunk));
  n += scalar_size(m.from_incarnation, 15) + scalar_size(m.to_incarnation, 16);
  return n;
}

void put_message(std::string& out, const raft::Message& m) {
  put_scalar(out, 1, static_cast<uint64_t>(to_wire(m.type)));
  put_scalar(out, 2, m.from.value());
  put_scalar(out, 3, m.to.value());
  put_scalar(out, 4, m.term.value());
  put_scalar(out, 5, m.log_term.value());
  put_scalar(out, 6, m.index.value());
  for (const raft::Entry& e : m.entries) {
    put_nested_header(out, 7, entry_size(e));
    put_scalar(out, 1, e.term.value());
    put_scalar(out, 2, e.index.value());
    put_scalar(out, 3, entry_type_wire(e));
    put_bytes(out, 4, e.data);
  }
  put_scalar(out, 8, m.commit.value());
  put_scalar(out, 9, m.reject ? 1 : 0);
  put_scalar(out, 10, m.reject_hint.value());
  if (carries_snapshot(m)) {
    const raft::Snapshot& s = *m.snapshot;
    put_nested_header(out, 11, snapshot_size(s));
    put_nested_header(out, 1, meta_size(s.meta));
    put_scalar(out, 1, s.meta.index.value());
    put_scalar(out, 2, s.meta.term.value());
    put_nested_header(out, 3, conf_size(s.meta.conf));
    const raft::ConfState& c = s.meta.conf;
    put_packed(out, 1, c.voters);
    put_packed(out, 2, c.learners);
    put_packed(out, 3, c.voters_outgoing);
    put_packed(out, 4, c.learners_next);
    put_scalar(out, 5, c.auto_leave ? 1 : 0);
    for (const auto& [id, info] : c.members) {
      put_nested_header(out, 6, member_size(id, info));
      put_scalar(out, 1, id.value());
      put_scalar(out, 2, info.incarnation);
      put_bytes(out, 3, info.peer_addr);
      put_bytes(out, 4, info.client_addr);
    }
    put_bytes(out, 2, s.data);
  }
  put_scalar(out, 12, m.context);
  put_scalar(out, 13, m.transfer ? 1 : 0);
  if (raft::is_snapshot_transfer_message(m.type)) {
    put_nested_header(out, 14, chunk_size(m.chunk));
    put_scalar(out, 1, m.chunk.offset);
    put_scalar(out, 2, m.chunk.total_bytes);
    put_scalar(out, 3, m.chunk.crc32c);
  }
  put_scalar(out, 15, m.from_incarnation);
  put_scalar(out, 16, m.to_incarnation);
}

size_t group_message_size(const GroupMessage& gm, size_t message_bytes) {
  return scalar_size(gm.group.value()) + nested_size(message_bytes);
}

}  // namespace

Result<std::string> encode_envelope(const Envelope& envelope) {
  // Each message's size is needed twice (the envelope's length, then its own headers): walk
  // its entries once for it.
  std::vector<size_t> message_bytes;
  message_bytes.reserve(envelope.messages.size());
  size_t envelope_size = scalar_size(envelope.sender.value()) + scalar_size(envelope.cluster_id);
  for (const GroupMessage& gm : envelope.messages) {
    if (Status s = check_sendable(gm.message); !s) return s;
    message_bytes.push_back(message_size(gm.message));
    envelope_size += nested_size(group_message_size(gm, message_bytes.back()));
  }
  std::string out;
  out.reserve(nested_size(envelope_size));
  put_nested_header(out, 2, envelope_size);  // PeerMessage.envelope
  put_scalar(out, 1, envelope.sender.value());
  put_scalar(out, 2, envelope.cluster_id);
  for (size_t i = 0; i < envelope.messages.size(); ++i) {
    const GroupMessage& gm = envelope.messages[i];
    put_nested_header(out, 3, group_message_size(gm, message_bytes[i]));
    put_scalar(out, 1, gm.group.value());
    put_nested_header(out, 2, message_bytes[i]);
    put_message(out, gm.message);
  }
  RAFTKV_ASSERT(out.size() == nested_size(envelope_size), "envelope encoded as {} bytes, sized {}",
                out.size(), nested_size(envelope_size));
  return out;
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
      return PeerPayload(Hello{NodeId(h.node_id()), h.cluster_id(), h.protocol_version(),
                               h.incarnation(), h.initialized()});
    }
    case pb::PeerMessage::kEnvelope: {
      pb::Envelope& env = *pm.mutable_envelope();
      if (env.sender() == 0) return invalid("envelope from node 0");
      Envelope out{NodeId(env.sender()), env.cluster_id(), {}};
      out.messages.reserve(static_cast<size_t>(env.messages_size()));
      for (pb::GroupMessage& pgm : *env.mutable_messages()) {
        auto m = decode_message(*pgm.mutable_message());
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
  // Fixed fields: at most 15 tagged varints/bools (<= 12 bytes each) plus the group wrapper.
  uint64_t bytes = 224;
  for (const raft::Entry& e : m.entries) bytes += e.data.size() + 32;
  if (m.snapshot) {
    const raft::ConfState& c = m.snapshot->meta.conf;
    bytes += m.snapshot->data.size() + 64 +
             11 * (c.voters.size() + c.learners.size() + c.voters_outgoing.size() +
                   c.learners_next.size());
    for (const auto& [id, info] : c.members) {
      bytes += 32 + info.peer_addr.size() + info.client_addr.size();
    }
  }
  return bytes;
}

}  // namespace raftkv::transport
