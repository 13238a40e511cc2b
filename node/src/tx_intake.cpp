// The transaction intake path (tx_intake.h).
#include "tx_intake.h"

#include <memory>

#include "city/crypto/address.h"
#include "city/ledger/limits.h"

namespace city::node {
namespace {

constexpr size_t kRememberedRejections = 20'000;
constexpr size_t kRememberedAcceptTimes = 200'000;
// Transactions waiting for a signature check, beyond which new ones are refused.
constexpr size_t kMaxVerifyQueue = 100'000;

}  // namespace

TxIntake::TxIntake(const Chain& chain, Mempool& mempool, TxVerifier& verifier, Gossip gossip,
                   Accepted accepted, size_t max_client_backlog)
    : chain_(chain),
      mempool_(mempool),
      verifier_(verifier),
      gossip_(std::move(gossip)),
      accepted_(std::move(accepted)),
      max_client_backlog_(max_client_backlog) {}

void TxIntake::Reject(SubmitOutcome& outcome, Admission reason, std::string message) {
  outcome.accepted = false;
  outcome.reason = reason;
  outcome.message = std::move(message);
  Remember(outcome.id, {outcome.reason, outcome.message});
}

void TxIntake::Remember(const Hash256& id, const Rejection& rejection) {
  std::lock_guard lock(mutex_);
  ++rejected_total_;
  if (rejections_.insert_or_assign(id, rejection).second) rejection_order_.push_back(id);
  while (rejection_order_.size() > kRememberedRejections) {
    rejections_.erase(rejection_order_.front());
    rejection_order_.pop_front();
  }
}

void TxIntake::Submit(std::vector<ledger::Transaction> txs, bool from_client,
                      std::function<void(std::vector<SubmitOutcome>)> done, uint64_t client) {
  auto outcomes = std::make_shared<std::vector<SubmitOutcome>>(txs.size());
  auto refuse_all = [&](std::string message) {
    for (size_t i = 0; i < txs.size(); ++i) {
      (*outcomes)[i] = {.id = txs[i].Id(), .reason = Admission::kOverloaded, .message = message};
    }
    done(std::move(*outcomes));
  };
  if (verifier_.Stats().queue_depth + txs.size() > kMaxVerifyQueue) {
    // Backpressure: gossip is dropped (peers' own pools keep it), clients are told to retry.
    return refuse_all("the node is verifying too many transactions; retry shortly");
  }
  // Clients wait while the network has a few blocks of work pending, rather than have their
  // transactions accepted minutes before they can commit. Gossip is still taken: it was
  // accepted by another validator, and the leader must hear of it.
  if (from_client && max_client_backlog_ > 0 &&
      mempool_.RunnableCount(max_client_backlog_) >= max_client_backlog_) {
    return refuse_all("the validators have " + std::to_string(max_client_backlog_) +
                      " or more transactions waiting to run; retry shortly");
  }
  const ledger::StoreTip tip = chain_.tip();
  const std::string& chain_id = chain_.genesis().store_genesis.chain_id;
  std::vector<ledger::Transaction> to_verify;
  std::vector<size_t> positions;
  for (size_t i = 0; i < txs.size(); ++i) {
    const ledger::Transaction& tx = txs[i];
    SubmitOutcome& outcome = (*outcomes)[i];
    outcome.id = tx.Id();
    if (tx.chain_id != chain_id) {
      Reject(outcome, Admission::kWrongChain,
             "transaction is for chain '" + tx.chain_id + "', this node runs '" + chain_id + "'");
      continue;
    }
    if (Status stateless = tx.CheckStateless(chain_id); !stateless.ok()) {
      Reject(outcome,
             stateless.code() == ErrorCode::kTooLarge ? Admission::kTooLarge : Admission::kInvalid,
             stateless.message());
      continue;
    }
    if (mempool_.Contains(outcome.id)) {  // dedup before any signature work
      outcome.accepted = outcome.duplicate = true;
      continue;
    }
    if (chain_.IsCommitted(outcome.id)) {
      Reject(outcome, Admission::kAlreadyCommitted,
             "transaction " + outcome.id.ToHex() + " is already committed");
      continue;
    }
    // A permissioned ledger: only enrolled accounts write, and an unknown one costs nothing.
    if (chain_.EnrolmentOf(tx.sender) == contracts::EnrolledVia::kNone) {
      Reject(outcome, Admission::kUnknownSender,
             "the sender " + EncodeAddress(tx.sender) +
                 " is not enrolled on this chain; a registrar enrols accounts "
                 "(cityctl tx accounts enrol)");
      continue;
    }
    // The pool's own rules on expiry and nonces, before any signature work.
    if (std::optional<AddRefusal> early =
            mempool_.Precheck(tx, chain_.NextNonce(tx.sender), tip.height + 1)) {
      Reject(outcome, early->reason, std::move(early->message));
      continue;
    }
    to_verify.push_back(tx);
    positions.push_back(i);
  }
  if (to_verify.empty()) {
    done(std::move(*outcomes));
    return;
  }
  verifier_.VerifyAsync(to_verify, [this, outcomes, positions, txs = to_verify, from_client, client,
                                    done = std::move(done)](std::vector<bool> valid) mutable {
    std::vector<ledger::Transaction> accepted;
    const uint64_t next_height = chain_.tip().height + 1;
    for (size_t k = 0; k < txs.size(); ++k) {
      SubmitOutcome& outcome = (*outcomes)[positions[k]];
      const ledger::Transaction& tx = txs[k];
      if (!valid[k]) {
        // Not remembered under the id: the id does not cover the signature, so anyone could
        // otherwise mark a genuine transaction "rejected" by sending a forgery of it.
        outcome.reason = Admission::kBadSignature;
        outcome.message = "the signature does not verify for the sender's key";
        continue;
      }
      const size_t size = ledger::Encode(tx).size();
      std::optional<AddRefusal> refused =
          mempool_.Add(tx, outcome.id, size, chain_.NextNonce(tx.sender), next_height, client);
      if (refused) {
        if (refused->duplicate) {
          outcome.accepted = outcome.duplicate = true;
          continue;
        }
        Reject(outcome, refused->reason, std::move(refused->message));
        continue;
      }
      outcome.accepted = true;
      accepted.push_back(tx);
      std::lock_guard lock(mutex_);
      rejections_.erase(outcome.id);  // refused before (e.g. not yet enrolled): pending now
      if (accepted_at_.emplace(outcome.id, std::chrono::steady_clock::now()).second) {
        accepted_order_.push_back(outcome.id);
      }
      while (accepted_order_.size() > kRememberedAcceptTimes) {
        accepted_at_.erase(accepted_order_.front());
        accepted_order_.pop_front();
      }
    }
    if (!accepted.empty()) {
      if (from_client && gossip_) gossip_(accepted);
      if (accepted_) accepted_();
    }
    done(std::move(*outcomes));
  });
}

std::optional<Rejection> TxIntake::FindRejection(const Hash256& id) const {
  std::lock_guard lock(mutex_);
  auto it = rejections_.find(id);
  if (it == rejections_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::chrono::steady_clock::time_point> TxIntake::AcceptTime(const Hash256& id) const {
  std::lock_guard lock(mutex_);
  auto it = accepted_at_.find(id);
  if (it == accepted_at_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::chrono::steady_clock::time_point> TxIntake::TakeAcceptTime(const Hash256& id) {
  std::lock_guard lock(mutex_);
  auto it = accepted_at_.find(id);
  if (it == accepted_at_.end()) return std::nullopt;
  const auto accepted = it->second;
  accepted_at_.erase(it);  // its place in accepted_order_ goes when the bound reaches it
  return accepted;
}

uint64_t TxIntake::rejected_total() const {
  std::lock_guard lock(mutex_);
  return rejected_total_;
}

}  // namespace city::node
