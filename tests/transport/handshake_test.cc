// The authentication handshake's pure parts (transport/handshake.h): its messages, the proofs
// and the secret file.
#include "transport/handshake.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace raftkv::transport {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";

HandshakeTranscript transcript() {
  return HandshakeTranscript{7, NodeId(1), NodeId(3), random_nonce(), random_nonce()};
}

TEST(Handshake, MessagesRoundTripAtTheirExactSize) {
  const Challenge c{3, random_nonce()};
  const std::string ce = encode_challenge(c);
  EXPECT_EQ(ce.size(), kChallengeBytes);
  EXPECT_EQ(decode_challenge(ce).value(), c);
  const Proof p{NodeId(42), compute_proof_mac(kSecret, HandshakeRole::kDialer, transcript())};
  const std::string pe = encode_proof(p);
  EXPECT_EQ(pe.size(), kProofBytes);
  EXPECT_EQ(decode_proof(pe).value(), p);
  EXPECT_TRUE(looks_like_handshake(ce));
  EXPECT_TRUE(looks_like_handshake(pe));
}

TEST(Handshake, TruncatedOverlongAndGarbageMessagesAreRefused) {
  const std::string ce = encode_challenge({3, random_nonce()});
  const std::string pe = encode_proof({NodeId(1), Mac{}});
  for (size_t n = 0; n < ce.size(); ++n) EXPECT_FALSE(decode_challenge(ce.substr(0, n))) << n;
  for (size_t n = 0; n < pe.size(); ++n) EXPECT_FALSE(decode_proof(pe.substr(0, n))) << n;
  EXPECT_FALSE(decode_challenge(ce + "x"));
  EXPECT_FALSE(decode_proof(pe + "x"));
  // One message where the other is expected, and a proof naming node 0.
  EXPECT_FALSE(decode_challenge(pe));
  EXPECT_FALSE(decode_proof(ce));
  std::string zero = pe;
  for (size_t i = 4; i < 12; ++i) zero[i] = 0;
  EXPECT_FALSE(decode_proof(zero));
  EXPECT_FALSE(decode_challenge(std::string(kChallengeBytes, 'x')));
  EXPECT_FALSE(looks_like_handshake("GET / HTTP/1.1"));
}

TEST(Handshake, AProofVerifiesOnlyUnderItsSecretRoleAndTranscript) {
  const HandshakeTranscript t = transcript();
  const Mac mac = compute_proof_mac(kSecret, HandshakeRole::kDialer, t);
  EXPECT_TRUE(verify_proof_mac({kSecret}, HandshakeRole::kDialer, t, mac));
  // Wrong secret.
  EXPECT_FALSE(verify_proof_mac({"another-secret-0123456789"}, HandshakeRole::kDialer, t, mac));
  EXPECT_FALSE(verify_proof_mac({}, HandshakeRole::kDialer, t, mac)) << "empty secret";
  // Reflected: a dialer's proof sent back as the acceptor's.
  EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kAcceptor, t, mac));
  // Replayed: the same proof on a connection with a fresh acceptor nonce.
  HandshakeTranscript replay = t;
  replay.acceptor_nonce = random_nonce();
  EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kDialer, replay, mac));
  // Bound to the pair of nodes and to the cluster.
  for (auto change : {+[](HandshakeTranscript& x) { x.dialer = NodeId(2); },
                      +[](HandshakeTranscript& x) { x.acceptor = NodeId(2); },
                      +[](HandshakeTranscript& x) { x.cluster_id = 8; },
                      +[](HandshakeTranscript& x) { x.dialer_nonce[0] ^= 1; }}) {
    HandshakeTranscript other = t;
    change(other);
    EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kDialer, other, mac));
  }
  // Swapped ids (1→3 as 3→1) do not verify either.
  HandshakeTranscript swapped = t;
  std::swap(swapped.dialer, swapped.acceptor);
  EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kDialer, swapped, mac));
}

TEST(Handshake, RotationAcceptsAProofByAnyListedSecret) {
  const HandshakeTranscript t = transcript();
  const std::string next = "the-next-secret-9876543210";
  const Mac by_next = compute_proof_mac(next, HandshakeRole::kAcceptor, t);
  EXPECT_TRUE(verify_proof_mac({kSecret, next}, HandshakeRole::kAcceptor, t, by_next));
  EXPECT_TRUE(verify_proof_mac({next, kSecret}, HandshakeRole::kAcceptor, t, by_next));
  EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kAcceptor, t, by_next));
  // Unauthenticated mode: an empty list is the empty secret.
  const Mac empty = compute_proof_mac("", HandshakeRole::kDialer, t);
  EXPECT_TRUE(verify_proof_mac({}, HandshakeRole::kDialer, t, empty));
  EXPECT_FALSE(verify_proof_mac({kSecret}, HandshakeRole::kDialer, t, empty));
}

TEST(Handshake, NoncesAreFresh) {
  EXPECT_NE(random_nonce(), random_nonce());
}

class SecretFile : public ::testing::Test {
 protected:
  std::string write(const std::string& text, mode_t mode = 0600) {
    std::ofstream(path_, std::ios::trunc) << text;
    ::chmod(path_.c_str(), mode);
    return path_;
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_ = (std::filesystem::temp_directory_path() /
                       ("raftkv-secret-test-" + std::to_string(::getpid())))
                          .string();
};

TEST_F(SecretFile, OneSecretPerLineFirstProves) {
  auto s = load_cluster_secrets(write("  " + kSecret + "  \n\nthe-next-secret-9876543210\r\n"));
  ASSERT_TRUE(s) << s.status().to_string();
  EXPECT_EQ(*s, (std::vector<std::string>{kSecret, "the-next-secret-9876543210"}));
}

TEST_F(SecretFile, BadFilesAreRefusedWithTheReason) {
  auto missing = load_cluster_secrets(path_ + ".missing");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.status().message().find("No such file"), std::string::npos);
  auto empty = load_cluster_secrets(write("\n  \n"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.status().message().find("holds no secret"), std::string::npos);
  auto open = load_cluster_secrets(write(kSecret, 0644));
  ASSERT_FALSE(open);
  EXPECT_NE(open.status().message().find("chmod 600"), std::string::npos);
  auto shortish = load_cluster_secrets(write("short\n"));
  ASSERT_FALSE(shortish);
  EXPECT_NE(shortish.status().message().find("too short"), std::string::npos);
  std::string many;
  for (size_t i = 0; i <= kMaxSecrets; ++i) many += kSecret + std::to_string(i) + "\n";
  EXPECT_FALSE(load_cluster_secrets(write(many)));
  EXPECT_FALSE(load_cluster_secrets(std::filesystem::temp_directory_path().string()))
      << "a directory";
}

}  // namespace
}  // namespace raftkv::transport
