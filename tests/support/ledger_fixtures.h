// Deterministic keys and sample ledger objects for tests, golden vectors and benchmarks.
#pragma once

#include <array>
#include <vector>

#include "city/ledger/types.h"

namespace city::test {

inline constexpr std::string_view kTestChain = "city-test";

// The key whose seed is 32 bytes of `fill`.
inline KeyPair TestKey(uint8_t fill) {
  std::array<uint8_t, kSeedSize> seed{};
  seed.fill(fill);
  return KeyPair::FromSeed(seed);
}

// Validators 1..n, each TestKey(i).
inline std::vector<KeyPair> TestValidators(size_t n) {
  std::vector<KeyPair> keys;
  for (size_t i = 1; i <= n; ++i) keys.push_back(TestKey(static_cast<uint8_t>(i)));
  return keys;
}

inline ledger::ValidatorSet SetOf(const std::vector<KeyPair>& keys) {
  std::vector<PublicKey> members;
  for (const KeyPair& key : keys) members.push_back(key.public_key());
  return ledger::ValidatorSet(members);
}

inline Hash256 TestGenesisHash() { return TaggedHash("city.test.genesis", {}); }

inline ledger::CertContext TestContext(const std::vector<KeyPair>& keys) {
  return {std::string(kTestChain), 0, SetOf(keys), TestGenesisHash()};
}

// A typical UBI transfer: ~100 bytes of arguments.
inline ledger::Transaction SampleTransaction(const KeyPair& sender, uint64_t nonce = 7) {
  ledger::Transaction tx;
  tx.chain_id = std::string(kTestChain);
  tx.nonce = nonce;
  tx.expiry_height = 1000;
  tx.contract = "ubi";
  tx.method = "transfer";
  tx.args = Bytes(96, 0x5a);
  tx.Sign(sender);
  return tx;
}

inline ledger::VoteData SampleVoteData(uint64_t round = 5) {
  return {.epoch = 0,
          .term = 1,
          .round = round,
          .height = round,
          .block_hash = TaggedHash("city.test.block", AsBytes(std::to_string(round)))};
}

// A certificate signed by the first `signers` keys.
inline ledger::QuorumCert SampleQc(const std::vector<KeyPair>& keys, size_t signers,
                                   const ledger::VoteData& data = SampleVoteData()) {
  std::vector<ledger::Vote> votes;
  for (size_t i = 0; i < signers; ++i) {
    votes.push_back(ledger::Vote::Create(data, kTestChain, keys[i]));
  }
  return ledger::QuorumCert::FromVotes(data, votes);
}

inline std::vector<ledger::Timeout> SampleTimeouts(const std::vector<KeyPair>& keys, size_t signers,
                                                   uint64_t round = 6) {
  std::vector<ledger::Timeout> timeouts;
  for (size_t i = 0; i < signers; ++i) {
    // Signers report QCs of different rounds; the highest must end up in the TC.
    const uint64_t qc_round = round - 1 - (i % 2);
    const ledger::QuorumCert qc = SampleQc(keys, keys.size(), SampleVoteData(qc_round));
    timeouts.push_back(ledger::Timeout::Create({0, round, qc_round}, qc, kTestChain, keys[i]));
  }
  return timeouts;
}

inline ledger::Block SampleBlock(const std::vector<KeyPair>& keys, size_t tx_count,
                                 bool with_timeout_cert) {
  ledger::Block block;
  ledger::BlockHeader& header = block.header;
  header.chain_id = std::string(kTestChain);
  header.height = 6;
  header.term = 2;
  header.round = 7;
  header.timestamp_ms = 1'700'000'000'000;
  header.exec_height = 5;
  header.state_root = TaggedHash("city.test.state", {});
  header.result_root = TaggedHash("city.test.results", {});
  header.justify = SampleQc(keys, keys.size() - 1, SampleVoteData(5));
  header.parent_hash = header.justify.data.block_hash;
  if (with_timeout_cert) {
    header.timeout_cert = ledger::TimeoutCert::FromTimeouts(SampleTimeouts(keys, keys.size(), 6));
  }
  for (size_t i = 0; i < tx_count; ++i) {
    block.transactions.push_back(SampleTransaction(keys[i % keys.size()], i));
  }
  block.Sign(keys[2 % keys.size()]);
  return block;
}

}  // namespace city::test
