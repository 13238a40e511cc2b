// How transactions enter the node, from clients and from peers' gossip, in the order of
// DESIGN.md section 5: stateless checks, dedup, cheap state checks (expiry, used nonce),
// then signature verification on the pool (each signature once per node), then the mempool,
// then gossip to the other validators. Every refusal has a stable code and a sentence, and
// is remembered for a while so a client polling the transaction's status sees why.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "chain.h"
#include "city/node/mempool.h"
#include "city/node/tx_verifier.h"
#include "keyed_hash.h"

namespace city::node {

struct SubmitOutcome {
  Hash256 id;
  bool accepted = false;   // pending in the mempool (also true for a duplicate of a pending one)
  bool duplicate = false;  // accepted earlier: nothing changed
  Admission reason = Admission::kInvalid;  // when not accepted
  std::string message;                     // when not accepted
};

struct Rejection {
  Admission reason;
  std::string message;
};

class TxIntake {
 public:
  using Gossip = std::function<void(const std::vector<ledger::Transaction>&)>;
  using Accepted = std::function<void()>;  // something entered the mempool

  // `max_client_backlog`: runnable transactions pending at which client submissions are
  // refused kOverloaded (0: no limit); gossip is not held back by it.
  TxIntake(const Chain& chain, Mempool& mempool, TxVerifier& verifier, Gossip gossip,
           Accepted accepted, size_t max_client_backlog = 0);

  // `done` runs once, on any thread, with one outcome per transaction in order.
  // Transactions from a client are gossiped once accepted; those from a peer are not (every
  // validator hears from the origin directly). `client` is who submitted them (a keyed hash
  // of the IP, for the per-client quota), 0 for gossip.
  void Submit(std::vector<ledger::Transaction> txs, bool from_client,
              std::function<void(std::vector<SubmitOutcome>)> done, uint64_t client = 0);

  std::optional<Rejection> FindRejection(const Hash256& id) const;
  // When this node first accepted the transaction (re-gossip); remembered until it commits
  // (TakeAcceptTime), for the last 200k accepted at most.
  std::optional<std::chrono::steady_clock::time_point> AcceptTime(const Hash256& id) const;
  // The same, forgotten: the transaction committed (commit latency).
  std::optional<std::chrono::steady_clock::time_point> TakeAcceptTime(const Hash256& id);

  uint64_t rejected_total() const;

 private:
  void Reject(SubmitOutcome& outcome, Admission reason, std::string message);
  void Remember(const Hash256& id, const Rejection& rejection);

  const Chain& chain_;
  Mempool& mempool_;
  TxVerifier& verifier_;
  Gossip gossip_;
  Accepted accepted_;
  const size_t max_client_backlog_;

  mutable std::mutex mutex_;
  std::unordered_map<Hash256, Rejection, internal::KeyedHasher> rejections_;  // guarded by mutex_
  std::deque<Hash256> rejection_order_;                                       // guarded by mutex_
  std::unordered_map<Hash256, std::chrono::steady_clock::time_point, internal::KeyedHasher>
      accepted_at_;                     // guarded by mutex_
  std::deque<Hash256> accepted_order_;  // guarded by mutex_
  uint64_t rejected_total_ = 0;         // guarded by mutex_
};

}  // namespace city::node
