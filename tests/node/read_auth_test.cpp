// The replay window of signed reads (read_auth.h): what it remembers, for how long, and what
// an attacker cannot make it remember.
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
        std::string(kChain), options, [this] { return wall_; }, [this] { return steady_; },
        [this](const PublicKey& account) { return known_.contains(account); });
  }

  net::HttpRequest Request(const KeyPair& key, uint64_t signed_at, uint8_t nonce_byte) {
    net::HttpRequest request;
    request.method = "GET";
    request.target = "/v1/status";
    net::RequestNonce nonce{};
    nonce[0] = nonce_byte;
    request.headers =
        net::SignRequest(key, kChain, request.method, request.target, "", signed_at, nonce);
    return request;
  }

  static void ExpectRefused(const Authentication& result, ReadRefusal refusal) {
    ASSERT_TRUE(result.refusal) << "accepted";
    EXPECT_EQ(*result.refusal, refusal) << result.message;
  }

  uint64_t wall_ = kNow;
  uint64_t steady_ = 1'000;
  std::set<PublicKey> known_;
  KeyPair alice_ = KeyPair::Generate();
  KeyPair mallory_ = KeyPair::Generate();
};

TEST_F(ReadAuthTest, AReplayIsRefusedKnownReaderOrNot) {
  known_.insert(alice_.public_key());
  RequestAuthenticator auth = Make();
  for (const KeyPair* key : {&alice_, &mallory_}) {
    const net::HttpRequest request = Request(*key, kNow, 1);
    const Authentication first = auth.Authenticate(request);
    ASSERT_FALSE(first.refusal) << first.message;
    EXPECT_EQ(first.account, key->public_key());
    ExpectRefused(auth.Authenticate(request), ReadRefusal::kReplayed);
  }
  EXPECT_EQ(auth.remembered(), 2u);
}

TEST_F(ReadAuthTest, FreshKeysExhaustOnlyTheirOwnBudget) {
  // An attacker with endless keys fills the budget of signers the chain does not know; the
  // known readers (enrolled, the operator) keep theirs.
  known_.insert(alice_.public_key());
  ReadAuthOptions options;
  options.max_unknown_nonces = 4;
  RequestAuthenticator auth = Make(options);
  for (uint8_t i = 0; i < 4; ++i) {
    ASSERT_FALSE(auth.Authenticate(Request(KeyPair::Generate(), kNow, i)).refusal);
  }
  ExpectRefused(auth.Authenticate(Request(KeyPair::Generate(), kNow, 9)), ReadRefusal::kBusy);
  for (uint8_t i = 0; i < 10; ++i) {
    const Authentication known = auth.Authenticate(Request(alice_, kNow, i));
    ASSERT_FALSE(known.refusal) << known.message;
  }
  // A forged signature is refused before any budget is asked.
  net::HttpRequest forged = Request(mallory_, kNow, 2);
  forged.target = "/v1/status?other";
  ExpectRefused(auth.Authenticate(forged), ReadRefusal::kBadSignature);
}

TEST_F(ReadAuthTest, OneAccountCannotTakeAWholeBudget) {
  known_.insert(alice_.public_key());
  known_.insert(mallory_.public_key());
  ReadAuthOptions options;
  options.max_nonces_per_account = 3;
  RequestAuthenticator auth = Make(options);
  for (uint8_t i = 0; i < 3; ++i) {
    ASSERT_FALSE(auth.Authenticate(Request(mallory_, kNow, i)).refusal);
  }
  ExpectRefused(auth.Authenticate(Request(mallory_, kNow, 9)), ReadRefusal::kBusy);
  EXPECT_FALSE(auth.Authenticate(Request(alice_, kNow, 1)).refusal);
  // Once its requests leave the window (twice the skew, on the monotonic clock), it may sign
  // again.
  steady_ += 60'000;
  wall_ += 60'000;
  EXPECT_FALSE(auth.Authenticate(Request(mallory_, wall_, 10)).refusal);
  EXPECT_EQ(auth.remembered(), 1u);
}

TEST_F(ReadAuthTest, TheKnownReadersBudgetIsBoundedToo) {
  ReadAuthOptions options;
  options.max_remembered_nonces = 2;
  RequestAuthenticator auth = Make(options);
  std::vector<KeyPair> keys;
  for (int i = 0; i < 3; ++i) {
    keys.push_back(KeyPair::Generate());
    known_.insert(keys.back().public_key());
  }
  EXPECT_FALSE(auth.Authenticate(Request(keys[0], kNow, 1)).refusal);
  EXPECT_FALSE(auth.Authenticate(Request(keys[1], kNow, 1)).refusal);
  ExpectRefused(auth.Authenticate(Request(keys[2], kNow, 1)), ReadRefusal::kBusy);
  EXPECT_EQ(auth.remembered(), 2u);
}

TEST_F(ReadAuthTest, ANonceOutlivesEveryWallClockReadingThatAcceptsItsTime) {
  // Signed 29 s ago and still accepted: its nonce must be remembered until no reading of
  // the wall clock would accept that time, whatever other requests read meanwhile.
  RequestAuthenticator auth = Make();
  const net::HttpRequest old = Request(alice_, kNow - 29'000, 1);
  ASSERT_FALSE(auth.Authenticate(old).refusal);
  steady_ += 2'000;
  wall_ += 2'000;  // another request reads a later clock
  ASSERT_FALSE(auth.Authenticate(Request(alice_, wall_, 2)).refusal);
  wall_ = kNow;  // a request that read the wall clock before that
  ExpectRefused(auth.Authenticate(old), ReadRefusal::kReplayed);
}

TEST_F(ReadAuthTest, AWallClockJumpLocksNobodyOut) {
  known_.insert(alice_.public_key());
  RequestAuthenticator auth = Make();
  wall_ = kNow + 3'600'000;  // an hour ahead, by mistake
  ASSERT_FALSE(auth.Authenticate(Request(alice_, wall_, 1)).refusal);
  wall_ = kNow;  // corrected a second later
  steady_ += 1'000;
  const Authentication after = auth.Authenticate(Request(alice_, wall_, 2));
  EXPECT_FALSE(after.refusal) << after.message;
}

TEST_F(ReadAuthTest, ASignatureOutsideTheSkewIsRefusedBothWays) {
  RequestAuthenticator auth = Make();
  for (const uint64_t at : {kNow - 30'001, kNow + 30'001}) {
    ExpectRefused(auth.Authenticate(Request(alice_, at, 1)), ReadRefusal::kClockSkew);
  }
  EXPECT_EQ(auth.remembered(), 0u);
}

}  // namespace
}  // namespace city::node
