// A real, valid chain for the auditor's tests (and for serving over HTTP): a genesis file of
// four validators, blocks proposed and signed by the leader of their term, justify QCs and
// block certificates from real votes, term changes through timeout certificates, signed
// transactions, and a small synthetic state per exec height whose SMT root the headers carry.
// Options bend it into a chain that breaks one rule while its certificates still vouch for it.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "city/contracts/genesis_doc.h"
#include "city/ledger/smt.h"
#include "city/ledger/types.h"
#include "city/wallet/chain_audit.h"
#include "support/chain_fixtures.h"
#include "support/smt_reference.h"

namespace city::test {

// Chain kTestChain; validators ChainValidators(), users ChainUser(i) (chain_fixtures.h).
inline constexpr uint64_t kAuditGenesisTimeMs = 1'700'000'000'000;

// A key no genesis knows.
inline const KeyPair& AuditOutsider() {
  static const KeyPair key = TestKey(200);
  return key;
}

// Keys and values are text here (a state key or value is any bytes).
using AuditState = std::map<std::string, std::string>;

inline std::map<Hash256, Hash256> AuditLeaves(const AuditState& state) {
  std::map<Hash256, Hash256> leaves;
  for (const auto& [key, value] : state) {
    leaves.emplace(ledger::StateKeyPath(AsBytes(key)), ledger::StateValueHash(AsBytes(value)));
  }
  return leaves;
}

inline Hash256 AuditStateRoot(const AuditState& state) {
  return ledger::SmtRootOf(AuditLeaves(state));
}

struct AuditChainOptions {
  uint64_t blocks = 10;
  // Before each of these heights the round's leader fails: the validators time out, and the
  // block comes after a timeout certificate, in the next round and a new term.
  std::set<uint64_t> term_changes = {4, 7};
  size_t txs_per_block = 2;
  uint64_t genesis_balance = 1'000;  // of ChainUser(0): another value gives another genesis
  // Index of the validator that signs the block at a height, instead of the term's leader.
  std::map<uint64_t, size_t> proposer = {};
  // Called on every block before it is signed and certified: changes made here are vouched
  // for by valid signatures (votes are on the header as edited).
  std::function<void(ledger::Block&)> edit = nullptr;
  // The last height of epoch 0, if the set changes: from there on validators 1..3 and a
  // new key, EpochJoiner(), run the chain (validator 0 is removed).
  std::optional<uint64_t> epoch_end = std::nullopt;
};

inline const KeyPair& EpochJoiner() {
  static const KeyPair key = TestKey(60);
  return key;
}

struct AuditChain {
  contracts::GenesisDoc doc;
  contracts::GenesisChain genesis;
  std::vector<ledger::Block> blocks;             // [0]: the genesis header, no body
  std::vector<ledger::QuorumCert> certificates;  // [h]: the QC of block h ([0]: the genesis QC)
  std::vector<AuditState> states;                // [e]: after executing blocks 1..e

  uint64_t tip() const { return blocks.size() - 1; }

  // What GET /v1/headers gives for height h, as bytes.
  wallet::CertifiedHeaderBytes Certified(uint64_t h) const {
    wallet::CertifiedHeaderBytes item;
    item.height = h;
    item.header = ledger::Encode(blocks.at(h).header);
    if (h > 0) item.certificate = ledger::Encode(certificates.at(h));
    return item;
  }
  Bytes EncodedBlock(uint64_t h) const { return ledger::Encode(blocks.at(h)); }

  // The state the header at h commits to (its exec_height), and a proof of `key` in it.
  const AuditState& StateAt(uint64_t h) const { return states.at(blocks.at(h).header.exec_height); }
  ledger::StateProof Prove(uint64_t h, std::string_view key) const {
    return RefProve(AuditLeaves(StateAt(h)), ledger::StateKeyPath(AsBytes(key)));
  }
};

inline ledger::QuorumCert AuditVotes(const std::vector<const KeyPair*>& signers,
                                     const ledger::VoteData& data) {
  std::vector<ledger::Vote> votes;
  for (const KeyPair* key : signers) votes.push_back(ledger::Vote::Create(data, kTestChain, *key));
  return ledger::QuorumCert::FromVotes(data, votes);
}

inline contracts::GenesisDoc AuditGenesisDoc(const std::vector<KeyPair>& validators,
                                             uint64_t balance) {
  contracts::GenesisDoc doc;
  doc.chain_id = std::string(kTestChain);
  doc.genesis_time_ms = kAuditGenesisTimeMs;
  for (size_t i = 0; i < validators.size(); ++i) {
    doc.validators.push_back({"node" + std::to_string(i), validators[i].public_key()});
  }
  doc.council = {TestKey(50).public_key()};
  doc.council_threshold = 1;
  doc.balances = {{ChainUser(0).public_key(), balance}};
  return doc;
}

// The i-th transaction of block `height`: every one has its own id.
inline ledger::Transaction AuditTransaction(uint64_t height, size_t i) {
  const size_t n = height * 16 + i;
  return MakeTransaction(ChainUser(n), n, ChainUser(n + 1).public_key());
}

inline AuditChain BuildAuditChain(const AuditChainOptions& options = {}) {
  AuditChain chain;
  const std::vector<KeyPair>& validators = ChainValidators();
  chain.doc = AuditGenesisDoc(validators, options.genesis_balance);
  Result<contracts::GenesisChain> genesis = contracts::BuildGenesisChain(chain.doc);
  if (!genesis.ok()) throw std::runtime_error(genesis.status().ToString());
  chain.genesis = std::move(genesis.value());

  ledger::Block genesis_block;
  genesis_block.header = chain.genesis.header;
  chain.blocks.push_back(genesis_block);
  chain.certificates.push_back(ledger::QuorumCert::Genesis(chain.genesis.block_hash));
  AuditState state;
  state["balance/0"] = std::to_string(options.genesis_balance);
  chain.states.push_back(state);

  uint64_t round = 1;
  uint64_t term = 0;
  uint64_t epoch = 0;
  std::vector<const KeyPair*> set;
  for (const KeyPair& key : validators) set.push_back(&key);
  const std::vector<const KeyPair*> next_set = {&validators[1], &validators[2], &validators[3],
                                                &EpochJoiner()};
  for (uint64_t h = 1; h <= options.blocks; ++h) {
    ledger::QuorumCert high_qc = chain.certificates.back();
    if (options.epoch_end && h == *options.epoch_end + 1) {
      // The next epoch starts from the last block, with rounds from 1 again.
      epoch = 1;
      round = 1;
      term = 0;
      set = next_set;
      high_qc = ledger::QuorumCert::Root(1, h - 1, chain.blocks.back().Hash());
    }
    std::optional<ledger::TimeoutCert> tc;
    if (options.term_changes.contains(h)) {
      std::vector<ledger::Timeout> timeouts;
      for (size_t i = 0; i < 3; ++i) {
        timeouts.push_back(ledger::Timeout::Create({epoch, round, high_qc.data.round}, high_qc,
                                                   kTestChain, *set[(h + i) % 4]));
      }
      tc = ledger::TimeoutCert::FromTimeouts(timeouts);
      term = ++round;
    }
    ledger::Block block;
    ledger::BlockHeader& header = block.header;
    header.chain_id = std::string(kTestChain);
    header.epoch = epoch;
    header.height = h;
    header.term = term;
    header.round = round;
    header.parent_hash = chain.blocks.back().Hash();
    header.timestamp_ms = kAuditGenesisTimeMs + h * 1000;
    header.exec_height = h >= 2 ? h - 2 : 0;  // the proposer's committed tip
    header.state_root = AuditStateRoot(chain.states.at(header.exec_height));
    header.result_root = TaggedHash("city.test.results", AsBytes(std::to_string(h)));
    header.justify = high_qc;
    header.timeout_cert = std::move(tc);
    if (options.epoch_end && h == *options.epoch_end) {
      for (const KeyPair* key : next_set) header.next_validators.push_back(key->public_key());
    }
    for (size_t i = 0; i < options.txs_per_block; ++i) {
      block.transactions.push_back(AuditTransaction(h, i));
    }
    if (options.edit) options.edit(block);
    auto chosen = options.proposer.find(h);
    block.Sign(chosen != options.proposer.end() ? validators[chosen->second]
                                                : *set[header.term % set.size()]);

    // Three of the four vote, a different one left out each time.
    std::vector<const KeyPair*> voters;
    for (size_t i = 1; i < 4; ++i) voters.push_back(set[(h + i) % 4]);
    const ledger::VoteData data{header.epoch, header.term, header.round, h, block.Hash()};
    chain.certificates.push_back(AuditVotes(voters, data));
    round = header.round + 1;
    term = header.term;

    state["block/" + std::to_string(h)] =
        std::to_string(block.transactions.size()) + " transactions";
    chain.states.push_back(state);
    chain.blocks.push_back(std::move(block));
  }
  return chain;
}

// Gives `auditor` the headers of `chain` from `from` to `to` (inclusive); the first refusal.
inline Status AddHeaders(wallet::ChainAuditor& auditor, const AuditChain& chain, uint64_t from,
                         uint64_t to) {
  for (uint64_t h = from; h <= to; ++h) {
    if (Status status = auditor.AddHeader(chain.Certified(h)); !status.ok()) return status;
  }
  return Status::Ok();
}

}  // namespace city::test
