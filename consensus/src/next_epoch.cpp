// Messages of the next epoch (next_epoch.h).
#include "city/consensus/next_epoch.h"

namespace city::consensus {

bool SignedByMember(const PublicKey& sender, const ledger::ValidatorSet& set, uint64_t epoch,
                    const std::string& chain_id, SignatureVerifier* verifier,
                    const Message& message) {
  if (!set.Contains(sender) || EpochOf(message) != epoch) return false;
  // Through the node's verifier and its cache: the core checks the same signatures again once
  // the message is handed to it, and each is verified once.
  const ledger::CertContext context{chain_id, epoch, set, Hash256{}, verifier};
  if (const auto* proposal = std::get_if<Proposal>(&message)) {
    return proposal->block.header.proposer == sender &&
           proposal->block.CheckStructure(chain_id, verifier).ok();
  }
  if (const auto* vote = std::get_if<ledger::Vote>(&message)) {
    return vote->voter == sender &&
           context.VerifySignature(sender, vote->data.Digest(chain_id).span(), vote->signature);
  }
  if (const auto* timeout = std::get_if<ledger::Timeout>(&message)) {
    return timeout->sender == sender &&
           context.VerifySignature(sender, timeout->data.Digest(chain_id).span(),
                                   timeout->signature);
  }
  if (const auto* sync = std::get_if<SyncCerts>(&message)) {
    // The root is not known before the end is: only a certificate past it can be checked.
    return sync->high_qc && sync->high_qc->data.round > 0 && sync->high_qc->Verify(context).ok();
  }
  return false;
}

std::optional<std::vector<PublicKey>> NextEpochWatch::Observe(TimeMs now, const PublicKey& sender,
                                                              const ledger::ValidatorSet& next,
                                                              Message message) {
  size_t& from_sender = kept_per_sender_[sender];
  if (kept_.size() < kMaxKept && from_sender < kMaxKeptPerSender) {
    const size_t bytes = EncodeMessage(message).size();  // sized only when it may be kept
    if (kept_bytes_ + bytes <= kMaxKeptBytes) {
      ++from_sender;
      kept_bytes_ += bytes;
      kept_.emplace_back(sender, std::move(message));
    }
  }
  senders_.insert(sender);
  if (!first_seen_) first_seen_ = now;
  if (senders_.size() < next.max_faulty() + 1 || now < *first_seen_ + kGraceMs ||
      (last_catch_up_ && now < *last_catch_up_ + kCatchUpEveryMs)) {
    return std::nullopt;
  }
  last_catch_up_ = now;
  ++attempts_;
  return std::vector<PublicKey>(senders_.begin(), senders_.end());
}

std::vector<std::pair<PublicKey, Message>> NextEpochWatch::Enter() {
  std::vector<std::pair<PublicKey, Message>> kept = std::move(kept_);
  Reset();
  return kept;
}

}  // namespace city::consensus
