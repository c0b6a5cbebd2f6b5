// Conversion between the Raft core's plain C++ messages (raft/types.h) and the peer wire
// messages of proto/raft.proto.
//
// Decoding is a trust boundary: every byte comes from another process. Anything out of range
// (unknown or local-only message type, zero sender or recipient, unknown entry type, a
// snapshot on a message that cannot carry one, an unsorted membership list, ...) is rejected
// with kInvalidArgument and a message naming the field; nothing here asserts on peer input.
//
// Thread-safety: free functions without shared state; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/ids.h"
#include "base/status.h"
#include "proto/raft.pb.h"
#include "raft/types.h"

namespace raftkv::transport {

// Version of the peer protocol, exchanged in Hello. Peers with a different version are
// disconnected (no mixed-version clusters until a negotiation exists). 2: Hello carries the
// incarnation and every message its from/to incarnations (issue 12). 3: every connection opens
// with the authentication handshake (handshake.h; issue 13), which carries the version.
inline constexpr uint32_t kProtocolVersion = 3;

// First payload on a connection, in each direction (and later once more, to announce that the
// sender became initialized).
struct Hello {
  NodeId node;
  uint64_t cluster_id = 0;
  uint32_t protocol_version = kProtocolVersion;
  // The sender's incarnation (raft::Config::incarnation; 0 when it has none, in tests).
  uint64_t incarnation = 0;
  // The sender has a log entry, a snapshot or a hard state: it has been part of a cluster.
  bool initialized = false;
  bool operator==(const Hello&) const = default;
};

// One Raft message for one group.
struct GroupMessage {
  GroupId group;
  raft::Message message;
};

// A batch of Raft messages from `sender`, for any number of groups.
struct Envelope {
  NodeId sender;
  uint64_t cluster_id = 0;
  std::vector<GroupMessage> messages;
};

// What one frame payload decodes to.
using PeerPayload = std::variant<Hello, Envelope>;

// True for the message types that may cross the network: peer messages plus the requests a
// follower forwards to its leader (kReadIndex, kTransferLeader). Local inputs of the core
// (raft::is_local_message) and kPropose never do.
bool is_network_message(raft::MessageType type);

// raft::Message → protobuf. Fails (kInvalidArgument) for types that must not leave the node
// and for a zero sender or recipient. `out` is overwritten.
Status encode_message(const raft::Message& message, pb::Message* out);
// protobuf → raft::Message, validating every field (see the file comment). The entries' data
// and the snapshot bytes are moved out of `in`, not copied.
Result<raft::Message> decode_message(pb::Message& in);

// Whole frame payloads (serialized pb::PeerMessage).
std::string encode_hello(const Hello& hello);
// Fails if any message fails encode_message().
Result<std::string> encode_envelope(const Envelope& envelope);
// Parses and validates one frame payload. A payload that is not a valid PeerMessage, or an
// envelope with any invalid message, is rejected as a whole.
Result<PeerPayload> decode_payload(std::string_view bytes);

// A cheap upper-bound estimate of the encoded size of `message`, used to pack batches under
// the frame size cap without serializing twice.
uint64_t estimate_encoded_bytes(const raft::Message& message);

}  // namespace raftkv::transport
