#include "vote_collector.h"

#include <vector>

namespace city::consensus {
namespace {

VoteCollector::Outcome Refused(Verdict verdict, std::string reason,
                               std::optional<Evidence> evidence = std::nullopt) {
  VoteCollector::Outcome outcome;
  outcome.verdict = verdict;
  outcome.reason = std::move(reason);
  outcome.evidence = std::move(evidence);
  return outcome;
}

}  // namespace

VoteCollector::Outcome VoteCollector::AddVote(const ledger::Vote& vote) {
  const ledger::VoteData& data = vote.data;
  auto verified = [&] {
    return certs_.VerifySignature(vote.voter, data.Digest(config_.chain_id).span(), vote.signature);
  };
  auto& round_votes = votes_[data.round];
  if (auto it = round_votes.find(vote.voter); it != round_votes.end()) {
    if (it->second == vote) return Refused(Verdict::kDuplicate, "vote already counted");
    if (!verified()) return Refused(Verdict::kBadSignature, "vote signature does not verify");
    return Refused(Verdict::kUnsafe, "second vote in one round",
                   Evidence{Evidence::Kind::kDoubleVote, vote.voter, it->second, vote});
  }
  if (!verified()) return Refused(Verdict::kBadSignature, "vote signature does not verify");
  round_votes.emplace(vote.voter, vote);
  std::vector<ledger::Vote> same;
  for (const auto& [voter, v] : round_votes) {
    if (v.data == data) same.push_back(v);
  }
  Outcome outcome;
  if (same.size() == config_.validators.quorum()) {
    outcome.qc = ledger::QuorumCert::FromVotes(data, same);
    certs_.MarkVerified(*outcome.qc);
  }
  return outcome;
}

bool VoteCollector::HasTimeout(uint64_t round, const PublicKey& sender) const {
  auto it = timeouts_.find(round);
  return it != timeouts_.end() && it->second.contains(sender);
}

Status VoteCollector::AddTimeout(const ledger::Timeout& timeout) {
  if (Status status = certs_.VerifyTimeout(timeout); !status.ok()) return status;
  timeouts_[timeout.data.round].emplace(timeout.sender, timeout);
  return Status::Ok();
}

void VoteCollector::AddOwnTimeout(const ledger::Timeout& timeout) {
  timeouts_[timeout.data.round].emplace(timeout.sender, timeout);
}

size_t VoteCollector::TimeoutCount(uint64_t round) const {
  auto it = timeouts_.find(round);
  return it == timeouts_.end() ? 0 : it->second.size();
}

std::optional<ledger::TimeoutCert> VoteCollector::FormTc(uint64_t round) {
  auto it = timeouts_.find(round);
  if (it == timeouts_.end() || it->second.size() < config_.validators.quorum()) {
    return std::nullopt;
  }
  std::vector<ledger::Timeout> collected;
  for (const auto& [sender, t] : it->second) collected.push_back(t);
  ledger::TimeoutCert tc = ledger::TimeoutCert::FromTimeouts(collected);
  certs_.MarkVerified(tc);
  return tc;
}

void VoteCollector::ForgetBelow(uint64_t round) {
  std::erase_if(votes_, [&](const auto& entry) { return entry.first < round; });
  std::erase_if(timeouts_, [&](const auto& entry) { return entry.first < round; });
}

}  // namespace city::consensus
