// Epochs of the committed chain (epochs.h).
#include "epochs.h"

#include <algorithm>

namespace city::node {

Result<ledger::Epoch> EpochAfterTip(const Chain& chain) {
  const contracts::StoreStateReader state(chain.store());
  const uint64_t tip = chain.tip().height;
  ledger::Epoch epoch =
      ledger::Epoch::Genesis(chain.genesis().validators, chain.genesis().block_hash);
  for (;;) {
    const std::optional<contracts::ScheduledValidators> change =
        contracts::ScheduledValidatorsIn(state, epoch.number + 1);
    if (!change || change->last_height > tip) return epoch;
    Result<ledger::BlockHeader> last = chain.store().GetHeader(change->last_height);
    if (!last.ok()) return last.status();
    if (last->next_validators != change->validators) {
      return Status(ErrorCode::kCorruption,
                    "block " + std::to_string(change->last_height) + " ends epoch " +
                        std::to_string(epoch.number) +
                        " but does not name the validator set governance scheduled");
    }
    epoch = epoch.Next(*last, last->Hash());
  }
}

std::optional<contracts::ScheduledValidators> NextChange(const Chain& chain,
                                                         const ledger::Epoch& current) {
  return contracts::ScheduledValidatorsIn(contracts::StoreStateReader(chain.store()),
                                          current.number + 1);
}

std::vector<PublicKey> NextValidatorsAt(const std::optional<contracts::ScheduledValidators>& next,
                                        uint64_t height) {
  if (next && next->last_height == height) return next->validators;
  return {};
}

std::vector<net::ValidatorPeer> LinkPeers(const ledger::Epoch& current,
                                          const std::optional<contracts::ScheduledValidators>& next,
                                          const std::vector<net::ValidatorPeer>& addresses) {
  std::vector<net::ValidatorPeer> peers;
  auto add = [&](const PublicKey& key) {
    if (std::any_of(peers.begin(), peers.end(), [&](const auto& p) { return p.key == key; })) {
      return;
    }
    auto known = std::find_if(addresses.begin(), addresses.end(),
                              [&](const net::ValidatorPeer& p) { return p.key == key; });
    peers.push_back(known != addresses.end() ? *known : net::ValidatorPeer{key, "", 0});
  };
  for (const PublicKey& key : current.validators.members()) add(key);
  if (next) {
    for (const PublicKey& key : next->validators) add(key);
  }
  return peers;
}

}  // namespace city::node
