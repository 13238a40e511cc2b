// The header rules of a certified chain (chain_rules.h).
#include "city/ledger/chain_rules.h"

#include <set>

#include "city/crypto/address.h"

namespace city::ledger {

uint64_t ExecutionCost(const Transaction& tx) { return 1 + (tx.args.size() + 1023) / 1024; }

uint64_t ExecutionCost(const std::vector<Transaction>& txs) {
  uint64_t cost = 0;
  for (const Transaction& tx : txs) cost += ExecutionCost(tx);
  return cost;
}
std::optional<std::string> ExpiryProblem(const Transaction& tx, uint64_t height) {
  if (tx.expiry_height < height) {
    return "past its expiry height " + std::to_string(tx.expiry_height);
  }
  if (tx.expiry_height - height > kMaxExpiryHorizon) {
    return "whose expiry height " + std::to_string(tx.expiry_height) + " is more than " +
           std::to_string(kMaxExpiryHorizon) + " above the block's height " +
           std::to_string(height);
  }
  return std::nullopt;
}

namespace {

std::string VoteDataText(const VoteData& data) {
  return "epoch " + std::to_string(data.epoch) + ", term " + std::to_string(data.term) +
         ", round " + std::to_string(data.round) + ", height " + std::to_string(data.height);
}

}  // namespace

const PublicKey& LeaderOf(uint64_t term, const ValidatorSet& validators) {
  const std::vector<PublicKey>& members = validators.members();
  return members[term % members.size()];
}

std::optional<HeaderRuleBroken> CheckHeaderRules(const BlockHeader& header,
                                                 const ValidatorSet& validators) {
  const VoteData& justified = header.justify.data;
  const std::string round = "round " + std::to_string(header.round);
  const std::string term = "term " + std::to_string(header.term);
  if (header.parent_hash != justified.block_hash || header.height != justified.height + 1) {
    return HeaderRuleBroken{HeaderRule::kExtendsJustify,
                            "the justify certifies block " +
                                justified.block_hash.ToHex().substr(0, 16) + " at height " +
                                std::to_string(justified.height) + ", not the parent " +
                                header.parent_hash.ToHex().substr(0, 16) + " at height " +
                                std::to_string(header.height - 1)};
  }
  if (header.round <= justified.round) {
    return HeaderRuleBroken{
        HeaderRule::kRoundAboveJustify,
        round + " is not above its justify's round " + std::to_string(justified.round)};
  }
  if (!header.timeout_cert) {
    if (header.round != justified.round + 1 || header.term != justified.term) {
      return HeaderRuleBroken{HeaderRule::kFollowsJustify,
                              "without a timeout certificate, " + round + " " + term +
                                  " must follow its justify (" + VoteDataText(justified) + ")"};
    }
  } else {
    const TimeoutCert& tc = *header.timeout_cert;
    if (tc.round + 1 != header.round || header.term != header.round) {
      return HeaderRuleBroken{
          HeaderRule::kFollowsTimeoutCert,
          round + " " + term + " does not follow its timeout certificate of round " +
              std::to_string(tc.round) + " (the next round, in the term of that round)"};
    }
    if (justified.round < tc.high_qc.data.round) {
      return HeaderRuleBroken{HeaderRule::kJustifyAtLeastTcQc,
                              "the justify (round " + std::to_string(justified.round) +
                                  ") is below the highest QC of its timeout certificate (round " +
                                  std::to_string(tc.high_qc.data.round) + ")"};
    }
  }
  if (!header.next_validators.empty()) {
    if (std::optional<std::string> problem = ValidatorChangeProblem(header.next_validators)) {
      return HeaderRuleBroken{HeaderRule::kValidatorChange, "next_validators: " + *problem};
    }
  }
  if (validators.size() == 0) {
    return HeaderRuleBroken{HeaderRule::kProposerLeadsTerm, "the validator set is empty"};
  }
  if (header.proposer != LeaderOf(header.term, validators)) {
    return HeaderRuleBroken{HeaderRule::kProposerLeadsTerm,
                            "proposer " + EncodeAddress(header.proposer) +
                                " is not the leader of " + term + " (" +
                                EncodeAddress(LeaderOf(header.term, validators)) + ")"};
  }
  return std::nullopt;
}

std::optional<std::string> ValidatorChangeProblem(const std::vector<PublicKey>& validators) {
  if (validators.size() < kMinValidatorsAfterChange) {
    return "a set of " + std::to_string(validators.size()) + " validators; at least " +
           std::to_string(kMinValidatorsAfterChange) + " are needed to tolerate a faulty one";
  }
  if (validators.size() > kMaxValidators) {
    return "more than " + std::to_string(kMaxValidators) + " validators";
  }
  if (std::set<PublicKey>(validators.begin(), validators.end()).size() != validators.size()) {
    return "a validator is listed twice";
  }
  for (const PublicKey& key : validators) {
    if (!key.IsValidPoint()) return "validator key " + key.ToHex() + " is not a valid key";
  }
  return std::nullopt;
}

Epoch Epoch::Genesis(ValidatorSet validators, const Hash256& genesis_hash) {
  return Epoch{0, std::move(validators), genesis_hash, 0};
}

Epoch Epoch::Next(const BlockHeader& last, const Hash256& last_hash) const {
  return Epoch{number + 1, ValidatorSet(last.next_validators), last_hash, last.height};
}

CertContext Epoch::Context(const std::string& chain_id, SignatureVerifier* verifier) const {
  return CertContext{chain_id, number, validators, root_hash, verifier, root_height};
}

}  // namespace city::ledger
