// The replay window of signed reads (read_auth.h): what it remembers, and what an attacker
// cannot make it remember.
#include "read_auth.h"

#include <gtest/gtest.h>

#include <set>

#include "city/crypto/ed25519.h"
#include "city/net/signed_request.h"

namespace city::node {
namespace {

constexpr std::string_view kChain = "read-auth-test";
constexpr uint64_t kNow = 1'800'000'000'000;

class ReadAuthTest : public ::testing::Test {
 protected:
  RequestAuthenticator Make(ReadAuthOptions options = {}) {
    return RequestAuthenticator(
        std::string(kChain), options, [this] { return now_; },
        [this](const PublicKey& account) { return enrolled_.contains(account); });
  }

  net::HttpRequest Request(const KeyPair& key, uint64_t signed_at, uint8_t nonce_byte,
                           uint8_t nonce_byte2 = 0) {
    net::HttpRequest request;
    request.method = "GET";
    request.target = "/v1/status";
    net::RequestNonce nonce{};
    nonce[0] = nonce_byte;
    nonce[1] = nonce_byte2;
    request.headers =
        net::SignRequest(key, kChain, request.method, request.target, "", signed_at, nonce);
    return request;
  }

  uint64_t now_ = kNow;
  std::set<PublicKey> enrolled_;
  KeyPair alice_ = KeyPair::Generate();
  KeyPair mallory_ = KeyPair::Generate();
};

TEST_F(ReadAuthTest, AnEnrolledReadersReplayIsRefused) {
  enrolled_.insert(alice_.public_key());
  RequestAuthenticator auth = Make();
  const net::HttpRequest request = Request(alice_, kNow, 1);
  const Authentication first = auth.Authenticate(request);
  ASSERT_FALSE(first.refusal) << first.message;
  EXPECT_EQ(first.account, alice_.public_key());
  EXPECT_TRUE(first.remembered);
  const Authentication again = auth.Authenticate(request);
  ASSERT_TRUE(again.refusal);
  EXPECT_EQ(*again.refusal, ReadRefusal::kReplayed);
  EXPECT_EQ(auth.remembered(), 1u);
}

TEST_F(ReadAuthTest, FreshKeysCannotFillTheReplayWindow) {
  // Nobody enrolled them: the signatures are checked, the nonces are not remembered, so an
  // attacker with endless keys cannot lock enrolled readers out.
  enrolled_.insert(alice_.public_key());
  ReadAuthOptions options;
  options.max_remembered_nonces = 4;
  RequestAuthenticator auth = Make(options);
  for (uint8_t i = 0; i < 20; ++i) {
    const KeyPair fresh = KeyPair::Generate();
    const Authentication result = auth.Authenticate(Request(fresh, kNow, i));
    ASSERT_FALSE(result.refusal) << result.message;
    EXPECT_EQ(result.account, fresh.public_key());
    EXPECT_FALSE(result.remembered);
  }
  EXPECT_EQ(auth.remembered(), 0u);
  EXPECT_FALSE(auth.Authenticate(Request(alice_, kNow, 1)).refusal);
  // A forged signature from an unenrolled key is still refused.
  net::HttpRequest forged = Request(mallory_, kNow, 2);
  forged.target = "/v1/status?other";
  const Authentication refused = auth.Authenticate(forged);
  ASSERT_TRUE(refused.refusal);
  EXPECT_EQ(*refused.refusal, ReadRefusal::kBadSignature);
}

TEST_F(ReadAuthTest, OneEnrolledAccountCannotTakeTheWholeWindow) {
  enrolled_.insert(alice_.public_key());
  enrolled_.insert(mallory_.public_key());
  ReadAuthOptions options;
  options.max_nonces_per_account = 3;
  RequestAuthenticator auth = Make(options);
  for (uint8_t i = 0; i < 3; ++i)
    ASSERT_FALSE(auth.Authenticate(Request(mallory_, kNow, i)).refusal);
  const Authentication over = auth.Authenticate(Request(mallory_, kNow, 9));
  ASSERT_TRUE(over.refusal);
  EXPECT_EQ(*over.refusal, ReadRefusal::kBusy);
  EXPECT_FALSE(auth.Authenticate(Request(alice_, kNow, 1)).refusal);
  // Once its requests leave the window, the account may sign again.
  now_ = kNow + 30'001;
  EXPECT_FALSE(auth.Authenticate(Request(mallory_, now_, 10)).refusal);
}

TEST_F(ReadAuthTest, TheWholeWindowIsBounded) {
  ReadAuthOptions options;
  options.max_remembered_nonces = 2;
  RequestAuthenticator auth = Make(options);
  std::vector<KeyPair> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(KeyPair::Generate());
    enrolled_.insert(keys.back().public_key());
  }
  EXPECT_FALSE(auth.Authenticate(Request(keys[0], kNow, 1)).refusal);
  EXPECT_FALSE(auth.Authenticate(Request(keys[1], kNow, 1)).refusal);
  const Authentication full = auth.Authenticate(Request(keys[2], kNow, 1));
  ASSERT_TRUE(full.refusal);
  EXPECT_EQ(*full.refusal, ReadRefusal::kBusy);
  EXPECT_EQ(auth.remembered(), 2u);
}

TEST_F(ReadAuthTest, AReplayWhoseWindowAnotherRequestClosedIsRefused) {
  // Two requests race: one reads the clock late and forgets old nonces, the other read it
  // early and still finds its signature within the skew. The late reading wins: the
  // forgotten signature is stale, not new.
  enrolled_.insert(alice_.public_key());
  RequestAuthenticator auth = Make();
  const net::HttpRequest old = Request(alice_, kNow - 29'000, 1);
  ASSERT_FALSE(auth.Authenticate(old).refusal);
  now_ = kNow + 2'000;  // the old nonce's window (signed + 30 s) has passed
  ASSERT_FALSE(auth.Authenticate(Request(alice_, now_, 2)).refusal);
  now_ = kNow;  // a thread that read the clock before that
  const Authentication replay = auth.Authenticate(old);
  ASSERT_TRUE(replay.refusal);
  EXPECT_EQ(*replay.refusal, ReadRefusal::kClockSkew);
}

TEST_F(ReadAuthTest, ASignatureOutsideTheSkewIsRefusedBothWays) {
  enrolled_.insert(alice_.public_key());
  RequestAuthenticator auth = Make();
  for (const uint64_t at : {kNow - 30'001, kNow + 30'001}) {
    const Authentication result = auth.Authenticate(Request(alice_, at, 1));
    ASSERT_TRUE(result.refusal);
    EXPECT_EQ(*result.refusal, ReadRefusal::kClockSkew);
  }
  EXPECT_EQ(auth.remembered(), 0u);
}

}  // namespace
}  // namespace city::node
