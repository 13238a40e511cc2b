#include "mutations.h"

#include <deque>

namespace city::sim {
namespace {

using consensus::Host;
using consensus::ProtocolRules;
using consensus::SafetyState;
using ledger::BlockHeader;
using ledger::QuorumCert;

// "no-round-check": votes again in a round it already voted in.
class NoRoundCheck final : public ProtocolRules {
  bool MayVote(const SafetyState& state, const BlockHeader& header) override {
    return header.round == state.round;
  }
};

// "commit-one-chain": commits a block as soon as it has a QC.
class CommitOneChain final : public ProtocolRules {
  std::optional<QuorumCert> CommitTarget(const ledger::Block&, const QuorumCert& qc) override {
    return qc;
  }
};

// "no-tc-qc-check": after a TC, accepts a proposal below the TC's highest QC (the leader
// rule still holds).
class NoTcQcCheck final : public ProtocolRules {
  std::optional<ledger::HeaderRuleBroken> CheckHeader(
      const BlockHeader& header, const ledger::ValidatorSet& validators) override {
    auto broken = ProtocolRules::CheckHeader(header, validators);
    if (!broken || broken->rule != ledger::HeaderRule::kJustifyAtLeastTcQc) return broken;
    if (header.proposer != ledger::LeaderOf(header.term, validators)) {
      return ledger::HeaderRuleBroken{ledger::HeaderRule::kProposerLeadsTerm,
                                      "proposer is not the leader of its term"};
    }
    return std::nullopt;
  }
};

// "no-persist": signs without making the safety state durable first.
class NoPersist final : public ProtocolRules {
  Status PersistSafety(Host&, const SafetyState&) override { return Status::Ok(); }
};

// "keep-every-proposal": stores each distinct proposal of a round.
class KeepEveryProposal final : public ProtocolRules {
  bool IsSecondProposal(const Hash256&, const Hash256&) override { return false; }
};

// "vote-after-timeout": a timeout does not rule out voting in its round.
class VoteAfterTimeout final : public ProtocolRules {
  uint64_t LastVotedAfterTimeout(uint64_t last_voted_round, uint64_t) override {
    return last_voted_round;
  }
};

// "skip-content-check": stores blocks without the host's stateless checks.
class SkipContentCheck final : public ProtocolRules {
  Status CheckContent(Host&, const ledger::Block&) override { return Status::Ok(); }
};

// "skip-payload-check": votes without the host's checks against its chain.
class SkipPayloadCheck final : public ProtocolRules {
  Status CheckPayload(Host&, const ledger::Block&) override { return Status::Ok(); }
};

template <typename Rules>
std::unique_ptr<ProtocolRules> Make() {
  return std::make_unique<Rules>();
}

struct Named {
  const char* name;
  std::unique_ptr<ProtocolRules> (*make)();
};
constexpr Named kMutations[] = {
    {"no-round-check", Make<NoRoundCheck>},
    {"commit-one-chain", Make<CommitOneChain>},
    {"no-tc-qc-check", Make<NoTcQcCheck>},
    {"no-persist", Make<NoPersist>},
    {"keep-every-proposal", Make<KeepEveryProposal>},
    {"vote-after-timeout", Make<VoteAfterTimeout>},
    {"skip-content-check", Make<SkipContentCheck>},
    {"skip-payload-check", Make<SkipPayloadCheck>},
};

class ForkingAdversary final : public ProtocolRules {
 public:
  explicit ForkingAdversary(const PublicKey& self) : self_(self) {}

  std::optional<ledger::HeaderRuleBroken> CheckHeader(
      const BlockHeader& header, const ledger::ValidatorSet& validators) override {
    if (header.proposer == self_) return std::nullopt;
    return ProtocolRules::CheckHeader(header, validators);
  }
  bool MayVote(const SafetyState& state, const BlockHeader& header) override {
    Observe(state);
    return ProtocolRules::MayVote(state, header);
  }
  const QuorumCert& QcToReport(const SafetyState& state) override {
    Observe(state);
    return held_.size() >= 2 ? held_[held_.size() - 2] : state.high_qc;
  }
  const QuorumCert& QcToExtend(const SafetyState& state,
                               const std::optional<ledger::TimeoutCert>& entered_by) override {
    Observe(state);
    if (!entered_by) return state.high_qc;
    for (auto it = held_.rbegin(); it != held_.rend(); ++it) {
      if (it->data.round > 0 && it->data.round < entered_by->high_qc.data.round) return *it;
    }
    return state.high_qc;
  }

 private:
  // The high QCs this core has held, oldest first (a few dozen are plenty to fork with).
  void Observe(const SafetyState& state) {
    if (!held_.empty() && held_.back().data.round >= state.high_qc.data.round) return;
    held_.push_back(state.high_qc);
    if (held_.size() > 64) held_.pop_front();
  }

  PublicKey self_;
  std::deque<QuorumCert> held_;
};

}  // namespace

const std::vector<std::string>& MutationNames() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> all = {"none"};
    for (const Named& m : kMutations) all.emplace_back(m.name);
    all.emplace_back(kWrongEpochCerts);
    return all;
  }();
  return names;
}

std::unique_ptr<ProtocolRules> MakeMutation(std::string_view name) {
  for (const Named& m : kMutations) {
    if (name == m.name) return m.make();
  }
  return nullptr;
}

std::unique_ptr<ProtocolRules> MakeForkingAdversary(const PublicKey& self) {
  return std::make_unique<ForkingAdversary>(self);
}

}  // namespace city::sim
