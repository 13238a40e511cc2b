// A deterministic chain for store tests, the crash child and benchmarks: block h is a pure
// function of (h, parent hash), with signed transactions, results, state writes over a small
// key space and index entries; and an in-memory replay that predicts the state and its root.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "city/ledger/records.h"
#include "city/ledger/smt.h"
#include "city/ledger/store.h"
#include "support/ledger_fixtures.h"

namespace city::test {

inline constexpr size_t kChainKeySpace = 300;
inline constexpr size_t kChainGenesisKeys = 50;
inline constexpr size_t kChainWritesPerBlock = 20;
inline constexpr size_t kChainTxsPerBlock = 2;
inline constexpr size_t kChainUsers = 8;

// splitmix64: a stateless mixer, so block contents depend on the height alone.
inline uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

inline Bytes ToBytes(std::string_view text) { return Bytes(text.begin(), text.end()); }

inline Bytes ChainKey(uint64_t i) {
  std::string key = "acct/" + std::to_string(i);
  return ToBytes(key);
}

inline const std::vector<KeyPair>& ChainValidators() {
  static const std::vector<KeyPair> keys = TestValidators(4);
  return keys;
}

inline const KeyPair& ChainUser(size_t i) {
  static const std::vector<KeyPair> users = [] {
    std::vector<KeyPair> out;
    for (size_t u = 0; u < kChainUsers; ++u) out.push_back(TestKey(static_cast<uint8_t>(100 + u)));
    return out;
  }();
  return users[i % kChainUsers];
}

// A certificate for (height, block_hash) signed by 3 of the 4 chain validators.
inline ledger::QuorumCert CertifyAt(uint64_t height, const Hash256& block_hash) {
  const ledger::VoteData data{
      .epoch = 0, .term = 1, .round = height, .height = height, .block_hash = block_hash};
  std::vector<ledger::Vote> votes;
  for (size_t i = 0; i < 3; ++i) {
    votes.push_back(ledger::Vote::Create(data, kTestChain, ChainValidators()[i]));
  }
  return ledger::QuorumCert::FromVotes(data, votes);
}

inline ledger::QuorumCert Certify(const ledger::Block& block) {
  return CertifyAt(block.header.height, block.Hash());
}

// A signed block at `height` on `parent_hash` holding `transactions`.
inline ledger::Block MakeBlock(uint64_t height, const Hash256& parent_hash,
                               std::vector<ledger::Transaction> transactions) {
  ledger::Block block;
  ledger::BlockHeader& header = block.header;
  header.chain_id = std::string(kTestChain);
  header.epoch = 0;
  header.height = height;
  header.term = 1;
  header.round = height;
  header.parent_hash = parent_hash;
  header.timestamp_ms = 1'700'000'000'000 + height * 1000;
  header.exec_height = height == 0 ? 0 : height - 1;
  header.justify =
      height <= 1 ? ledger::QuorumCert::Genesis(parent_hash) : CertifyAt(height - 1, parent_hash);
  block.transactions = std::move(transactions);
  block.Sign(ChainValidators()[height % ChainValidators().size()]);
  return block;
}

// A signed transfer-like transaction; `nonce` must be unique for a unique id.
inline ledger::Transaction MakeTransaction(const KeyPair& sender, uint64_t nonce,
                                           const PublicKey& recipient) {
  ledger::Transaction tx;
  tx.chain_id = std::string(kTestChain);
  tx.nonce = nonce;
  tx.expiry_height = nonce + 1000;
  tx.contract = "ubi";
  tx.method = "transfer";
  tx.args.assign(recipient.bytes.begin(), recipient.bytes.end());
  for (int i = 0; i < 8; ++i) tx.args.push_back(static_cast<uint8_t>(nonce >> (8 * i)));
  tx.Sign(sender);
  return tx;
}

// Genesis: chain kTestChain, hash TestGenesisHash(), keys 0..kChainGenesisKeys-1 set.
inline ledger::Genesis ChainGenesis() {
  ledger::Genesis genesis;
  genesis.chain_id = std::string(kTestChain);
  genesis.block_hash = TestGenesisHash();
  for (uint64_t i = 0; i < kChainGenesisKeys; ++i) {
    genesis.writes.push_back(
        {ChainKey(i), ToBytes("genesis/" + std::to_string(i)), ledger::kNoTransaction});
  }
  genesis.index_entries.push_back(
      {"ubi", "transfers", ToBytes("genesis"), ToBytes("minted"), ledger::kNoTransaction});
  return genesis;
}

inline PublicKey ChainRecipient(uint64_t height, size_t i) {
  return ChainUser(height * kChainTxsPerBlock + i + 3).public_key();
}

// Block `height` of the deterministic chain, on `parent_hash` (genesis hash for height 1).
inline ledger::CommitRequest ChainCommit(uint64_t height, const Hash256& parent_hash) {
  ledger::CommitRequest request;
  std::vector<ledger::Transaction> txs;
  for (size_t i = 0; i < kChainTxsPerBlock; ++i) {
    const uint64_t n = height * kChainTxsPerBlock + i;
    txs.push_back(MakeTransaction(ChainUser(n), n, ChainRecipient(height, i)));
  }
  request.block = MakeBlock(height, parent_hash, std::move(txs));
  request.certificate = Certify(request.block);
  for (size_t i = 0; i < kChainTxsPerBlock; ++i) {
    const uint64_t n = height * kChainTxsPerBlock + i;
    ledger::TxResult result;
    if (Mix(n) % 5 == 0) {
      result.code = 3;
      result.detail = "insufficient balance";
    } else {
      result.events.push_back({"ubi", "transfer", ToBytes(std::to_string(n))});
      const PublicKey recipient = ChainRecipient(height, i);
      result.related_accounts.push_back(recipient);
      request.index_entries.push_back({"ubi", "transfers",
                                       Bytes(recipient.bytes.begin(), recipient.bytes.end()),
                                       ToBytes(std::to_string(n)), static_cast<uint32_t>(i)});
    }
    request.results.push_back(std::move(result));
  }
  for (size_t j = 0; j < kChainWritesPerBlock; ++j) {
    const uint64_t r = Mix(height * 1000 + j);
    ledger::StateWrite write;
    write.key = ChainKey(r % kChainKeySpace);
    if ((r >> 32) % 4 != 0) {
      // Values of varying length, so overwrites change sizes too.
      write.value = ToBytes("v" + std::to_string(height) + "." + std::to_string(j) +
                            std::string((r >> 40) % 40, 'x'));
    }
    write.tx_index = static_cast<uint32_t>(j % kChainTxsPerBlock);
    request.writes.push_back(std::move(write));
  }
  return request;
}

// Byte order, as std::less<Bytes>, written out: GCC 12 at -O3 misreports the memcmp inside
// std::less<Bytes> as reading past any object (-Wstringop-overread).
struct BytesLess {
  bool operator()(const Bytes& a, const Bytes& b) const {
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
      if (a[i] != b[i]) return a[i] < b[i];
    }
    return a.size() < b.size();
  }
};

// The expected contract state: key -> value.
using StateMap = std::map<Bytes, Bytes, BytesLess>;

inline void ApplyWrites(StateMap& state, const std::vector<ledger::StateWrite>& writes) {
  for (const ledger::StateWrite& write : writes) {
    if (write.value) {
      state.insert_or_assign(write.key, *write.value);
    } else {
      state.erase(write.key);
    }
  }
}

inline std::map<Hash256, Hash256> SmtLeavesOf(const StateMap& state) {
  std::map<Hash256, Hash256> leaves;
  for (const auto& [key, value] : state) {
    leaves[ledger::StateKeyPath(key)] = ledger::StateValueHash(value);
  }
  return leaves;
}

inline Hash256 ExpectedRoot(const StateMap& state) { return ledger::SmtRootOf(SmtLeavesOf(state)); }

// Replays the deterministic chain in memory: block hashes and the state after each block.
class ChainReplay {
 public:
  ChainReplay() {
    const ledger::Genesis genesis = ChainGenesis();
    hashes_.push_back(genesis.block_hash);
    ApplyWrites(state_, genesis.writes);
  }

  uint64_t height() const { return hashes_.size() - 1; }
  const Hash256& hash(uint64_t height) const { return hashes_.at(height); }
  const StateMap& state() const { return state_; }

  // Builds block height()+1, applies it and returns it.
  ledger::CommitRequest Advance() {
    ledger::CommitRequest request = ChainCommit(height() + 1, hashes_.back());
    hashes_.push_back(request.block.Hash());
    ApplyWrites(state_, request.writes);
    return request;
  }
  void AdvanceTo(uint64_t target) {
    while (height() < target) (void)Advance();
  }

 private:
  std::vector<Hash256> hashes_;
  StateMap state_;
};

}  // namespace city::test
