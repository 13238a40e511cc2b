// A harness for driving one real consensus Core by hand: a scriptable Host, a fixture with
// four validators, builders for correctly signed proposals, votes, timeouts and certificates
// (so each test changes exactly the one thing it is about), and readers for Actions.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "city/consensus/core.h"
#include "city/consensus/messages.h"
#include "city/crypto/verifier.h"
#include "city/ledger/types.h"
#include "support/ledger_fixtures.h"

namespace city::consensus::test {

using city::test::kTestChain;
using ledger::Block;
using ledger::QuorumCert;
using ledger::Timeout;
using ledger::TimeoutCert;
using ledger::Vote;
using ledger::VoteData;

// Records what the core asks of the process, and fails on request.
// Verifies directly (no cache) and counts, so tests can hold the core to "verify once".
class CountingVerifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) override {
    ++calls;
    return city::Verify(key, message, signature);
  }
  size_t calls = 0;
};

class FakeHost final : public Host {
 public:
  Status PersistSafety(const SafetyState& state) override {
    ++persist_attempts;
    if (fail_persist) return Status(ErrorCode::kIoError, "disk full (test)");
    persisted.push_back(state);
    return Status::Ok();
  }
  Status PersistBlock(const ledger::Block& block) override {
    if (fail_persist_block) return Status(ErrorCode::kIoError, "disk full (test)");
    stored_blocks.push_back(block);
    return Status::Ok();
  }
  std::vector<ledger::Transaction> TakePayload(size_t max) override {
    payload_requests.push_back(max);
    std::vector<ledger::Transaction> out;
    for (size_t i = 0; i < payload_size && i < max; ++i) {
      ledger::Transaction tx = city::test::SampleTransaction(payload_sender, next_nonce++);
      // Valid for a while from about the height it is proposed at (one per block here):
      // a block may not hold an expired transaction.
      tx.expiry_height = tx.nonce + 1000;
      tx.Sign(payload_sender);
      out.push_back(std::move(tx));
    }
    return out;
  }
  Status CheckPayload(const ledger::Block& block) override {
    checked.push_back(block.Hash());
    return payload_status;
  }
  Status CheckContent(const ledger::Block& block) override {
    content_checked.push_back(block.Hash());
    return content_status;
  }
  void ForgetBlock(const ledger::Block& block) override { forgotten.push_back(block.Hash()); }

  std::vector<SafetyState> persisted;  // successful calls, in order
  size_t persist_attempts = 0;         // including refused ones
  bool fail_persist = false;
  std::vector<ledger::Block> stored_blocks;  // what PersistBlock kept, for a restart
  bool fail_persist_block = false;
  size_t payload_size = 0;  // transactions TakePayload hands out
  std::vector<size_t> payload_requests;
  std::vector<Hash256> checked;          // blocks CheckPayload saw
  Status payload_status;                 // what CheckPayload answers
  std::vector<Hash256> content_checked;  // blocks CheckContent saw
  Status content_status;                 // what CheckContent answers
  std::vector<Hash256> forgotten;        // blocks the core dropped (ForgetBlock)
  KeyPair payload_sender = city::test::TestKey(200);
  uint64_t next_nonce = 1;
};

// One validator: its host and its core. The key lives in the fixture, which outlives this.
struct Node {
  size_t index = 0;
  FakeHost host;
  std::unique_ptr<Core> core;
};

// Every message of type T the actions send, with its destination.
template <typename T>
std::vector<std::pair<size_t, T>> Sent(const Actions& actions) {
  std::vector<std::pair<size_t, T>> out;
  for (const Outgoing& outgoing : actions.messages) {
    if (const T* message = std::get_if<T>(&outgoing.message))
      out.emplace_back(outgoing.to, *message);
  }
  return out;
}

inline std::vector<std::pair<size_t, Vote>> VotesSent(const Actions& actions) {
  return Sent<Vote>(actions);
}
inline std::vector<std::pair<size_t, Block>> ProposalsSent(const Actions& actions) {
  std::vector<std::pair<size_t, Block>> out;
  for (auto& [to, proposal] : Sent<Proposal>(actions)) out.emplace_back(to, proposal.block);
  return out;
}
inline std::vector<std::pair<size_t, Timeout>> TimeoutsSent(const Actions& actions) {
  return Sent<Timeout>(actions);
}

// Appends `more` to `into`; the verdict stays that of the first call (the external message).
inline void Append(Actions& into, Actions more) {
  for (Outgoing& m : more.messages) into.messages.push_back(std::move(m));
  for (CommittedBlock& c : more.commits) into.commits.push_back(std::move(c));
  for (Evidence& e : more.evidence) into.evidence.push_back(std::move(e));
  if (more.timer) into.timer = more.timer;
}

class CoreTest : public ::testing::Test {
 protected:
  static constexpr size_t kN = 4;
  static constexpr TimeMs kBase = 1000;

  CoreTest() {
    config_.chain_id = std::string(kTestChain);
    config_.epoch = 0;
    config_.validators = city::test::SetOf(keys_);
    config_.genesis_hash = city::test::TestGenesisHash();
    config_.base_timeout_ms = kBase;
  }

  // ---- cores ----

  static SafetyState FreshSafety() {
    SafetyState state;
    state.high_qc = QuorumCert::Genesis(city::test::TestGenesisHash());
    return state;
  }

  // A core for validator `i`, not started: fresh, or restarted from what a host stored.
  std::unique_ptr<Node> MakeNode(size_t i, SafetyState state = FreshSafety(),
                                 std::vector<Block> stored_blocks = {}) {
    auto node = std::make_unique<Node>();
    node->index = i;
    node->core = std::make_unique<Core>(config_, keys_[i], node->host, verifier_, state,
                                        CommittedTip{city::test::TestGenesisHash(), 0, 0},
                                        std::move(stored_blocks));
    return node;
  }

  // A core for validator `i`, started at `now` (timer armed; a leader proposes).
  std::unique_ptr<Node> StartedNode(size_t i, TimeMs now = 0, Actions* start = nullptr) {
    std::unique_ptr<Node> node = MakeNode(i);
    Actions actions = Loop(*node, now, node->core->Start(now));
    if (start) *start = std::move(actions);
    return node;
  }

  // Messages a core addresses to itself (its vote as leader, if it sends it rather than
  // counting it internally) are handed back to it, as a node would. Bounded, in case a
  // broken core answers itself forever.
  Actions Loop(Node& node, TimeMs now, Actions actions) {
    int budget = 16;
    for (size_t i = 0; i < actions.messages.size() && budget > 0; ++i) {
      if (actions.messages[i].to != node.index) continue;
      --budget;
      const Message message = actions.messages[i].message;  // Append may reallocate
      Append(actions, node.core->OnMessage(now, node.index, message));
    }
    return actions;
  }

  // Delivers `message` from validator `from`, then any self-addressed replies.
  Actions Deliver(Node& node, TimeMs now, size_t from, const Message& message) {
    return Loop(node, now, node.core->OnMessage(now, from, message));
  }
  Actions DeliverBlock(Node& node, TimeMs now, const Block& block) {
    return Deliver(node, now, Proposer(block), Proposal{block});
  }

  // ---- builders ----

  size_t Leader(uint64_t term) const { return term % kN; }

  size_t Proposer(const Block& block) const {
    for (size_t i = 0; i < kN; ++i) {
      if (keys_[i].public_key() == block.header.proposer) return i;
    }
    return 0;
  }

  QuorumCert GenesisQc() const { return QuorumCert::Genesis(city::test::TestGenesisHash()); }

  // A block of `round` signed by `signer`, with every other field as the rules want it.
  Block MakeBlock(uint64_t round, uint64_t term, const QuorumCert& justify,
                  const std::optional<TimeoutCert>& tc, size_t signer, uint64_t timestamp = 0,
                  size_t tx_count = 0) const {
    Block block;
    ledger::BlockHeader& header = block.header;
    header.chain_id = std::string(kTestChain);
    header.epoch = 0;
    header.height = justify.data.height + 1;
    header.term = term;
    header.round = round;
    header.parent_hash = justify.data.block_hash;
    header.timestamp_ms = timestamp == 0 ? round * 10 : timestamp;
    header.justify = justify;
    header.timeout_cert = tc;
    for (size_t i = 0; i < tx_count; ++i) {
      block.transactions.push_back(city::test::SampleTransaction(keys_[i % kN], 100 + i));
    }
    block.Sign(keys_[signer]);
    return block;
  }

  // The valid proposal of `round`: term from the certificate (docs/consensus.md, "Entering a
  // round"), signed by that term's leader.
  Block Propose(uint64_t round, const QuorumCert& justify,
                const std::optional<TimeoutCert>& tc = std::nullopt, uint64_t timestamp = 0) const {
    const uint64_t term = tc ? round : justify.data.term;
    return MakeBlock(round, term, justify, tc, Leader(term), timestamp);
  }

  static VoteData DataOf(const Block& block) {
    return {block.header.epoch, block.header.term, block.header.round, block.header.height,
            block.Hash()};
  }

  Vote VoteFor(const Block& block, size_t voter) const {
    return Vote::Create(DataOf(block), kTestChain, keys_[voter]);
  }

  QuorumCert QcFor(const Block& block, const std::vector<size_t>& signers = {0, 1, 2}) const {
    std::vector<Vote> votes;
    for (size_t i : signers) votes.push_back(VoteFor(block, i));
    return QuorumCert::FromVotes(DataOf(block), votes);
  }

  Timeout TimeoutFrom(size_t sender, uint64_t round, const QuorumCert& high_qc) const {
    return Timeout::Create({0, round, high_qc.data.round}, high_qc, kTestChain, keys_[sender]);
  }

  // The TC of `round` from (sender, that sender's high QC) pairs.
  TimeoutCert TcOf(uint64_t round,
                   const std::vector<std::pair<size_t, QuorumCert>>& senders) const {
    std::vector<Timeout> timeouts;
    for (const auto& [sender, qc] : senders) timeouts.push_back(TimeoutFrom(sender, round, qc));
    return TimeoutCert::FromTimeouts(timeouts);
  }

  ledger::CertContext Context() const { return city::test::TestContext(keys_); }

  const std::vector<KeyPair> keys_ = city::test::TestValidators(kN);
  Config config_;
  CountingVerifier verifier_;
};

}  // namespace city::consensus::test
