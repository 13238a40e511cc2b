// libFuzzer target for admission to the mempool: the bytes are a script of what clients and
// the chain do (transactions from 8 senders and 4 clients with any nonce and expiry, blocks
// that commit and expire, block selection). After every step the pool keeps its bounds and
// its word: an accepted transaction is pending, a refused one is not, the pool never holds
// more than its caps, and a selection is every sender's run of consecutive nonces from its
// committed one, without expired transactions.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <vector>

#include "city/ledger/codec.h"
#include "city/node/mempool.h"

namespace {

using city::Hash256;
using city::KeyPair;
using city::PublicKey;
using city::ledger::Transaction;
using city::node::Mempool;
using city::node::MempoolOptions;

constexpr size_t kSenders = 8;

[[noreturn]] void Fail() { std::abort(); }

const std::array<KeyPair, kSenders>& Senders() {
  static const std::array<KeyPair, kSenders> keys = [] {
    std::array<uint8_t, city::kSeedSize> seed{};
    auto make = [&](uint8_t i) {
      seed.fill(i + 1);
      return KeyPair::FromSeed(seed);
    };
    return std::array<KeyPair, kSenders>{make(0), make(1), make(2), make(3),
                                         make(4), make(5), make(6), make(7)};
  }();
  return keys;
}

class Script {
 public:
  Script(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool done() const { return at_ >= size_; }
  uint8_t Byte() { return at_ < size_ ? data_[at_++] : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t at_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const MempoolOptions options{.max_transactions = 24,
                               .max_bytes = 24 * 400,
                               .max_per_sender = 6,
                               .max_per_client = 10,
                               .max_nonce_gap = 8,
                               .max_expiry_horizon = 40,
                               .gap_eviction_heights = 3};
  Mempool pool(options);
  std::map<PublicKey, uint64_t> committed;  // each sender's committed next nonce
  uint64_t next_height = 1;
  auto next_nonce = [&](const PublicKey& key) {
    const auto found = committed.find(key);
    return found == committed.end() ? uint64_t{0} : found->second;
  };
  Script script(data, size);
  for (int step = 0; step < 400 && !script.done(); ++step) {
    const uint8_t op = script.Byte();
    const PublicKey& sender = Senders()[op % kSenders].public_key();
    switch ((op >> 3) % 4) {
      case 0:
      case 1: {  // a client submits
        Transaction tx;
        tx.chain_id = "fuzz";
        tx.sender = sender;
        tx.nonce = next_nonce(sender) + script.Byte() % 12 - (script.Byte() % 4 == 0 ? 1 : 0);
        tx.expiry_height = next_height + script.Byte() % 50;
        if (script.Byte() % 8 == 0) tx.expiry_height = next_height - 1;
        tx.contract = "ubi";
        tx.method = "transfer";
        tx.args.assign(script.Byte() % 64, 0xab);
        const Hash256 id = tx.Id();
        const size_t encoded = city::ledger::Encode(tx).size();
        const uint64_t client = script.Byte() % 5;  // 0: gossip
        const bool before = pool.Contains(id);
        const auto refusal = pool.Add(tx, id, encoded, next_nonce(sender), next_height, client);
        if (!refusal && !pool.Contains(id)) Fail();  // accepted but not pending
        if (refusal && !refusal->duplicate && pool.Contains(id) != before) Fail();
        if (refusal && refusal->duplicate && !before) Fail();
        break;
      }
      case 2: {  // a block commits what a leader would select
        const std::vector<Transaction> block =
            pool.Select(1 + script.Byte() % 10, 1 << 20, next_height, next_nonce, {});
        std::map<PublicKey, uint64_t> expect = committed;
        for (const Transaction& tx : block) {
          uint64_t& want = expect[tx.sender];
          if (tx.nonce != want || tx.expiry_height < next_height) Fail();
          ++want;
        }
        committed = expect;
        pool.RemoveCommitted(block, next_nonce);
        for (const Transaction& tx : block) {
          if (pool.Contains(tx.Id())) Fail();
        }
        ++next_height;
        pool.Expire(next_height);
        break;
      }
      default: {  // time passes: another node's block of this sender, or an empty one
        if (script.Byte() % 2 == 0) committed[sender] += 1 + script.Byte() % 3;
        pool.RemoveCommitted({}, next_nonce);
        next_height += 1 + script.Byte() % 4;
        pool.Expire(next_height);
        break;
      }
    }
    const city::node::MempoolStats stats = pool.Stats();
    if (stats.transactions != pool.size()) Fail();
    if (pool.size() > options.max_transactions || stats.bytes > options.max_bytes) Fail();
    if (pool.RunnableCount(1000) > pool.size()) Fail();
  }
  return 0;
}
