// The validator epochs of the node's committed chain (docs/consensus.md, "Epochs"): the epoch
// its tip is in, the change scheduled next, and whom the validator links admit. Epochs are
// read from committed state (governance's records of passed changes) and checked against the
// headers that end them, which name each next set.
#pragma once

#include <optional>
#include <vector>

#include "chain.h"
#include "city/contracts/governance.h"
#include "city/ledger/chain_rules.h"
#include "city/net/peer_network.h"

namespace city::node {

// The epoch of the block after the store's tip. kCorruption when a change's last block does
// not name the set governance recorded.
Result<ledger::Epoch> EpochAfterTip(const Chain& chain);

// The change that starts the epoch after `current`, once it has passed.
std::optional<contracts::ScheduledValidators> NextChange(const Chain& chain,
                                                         const ledger::Epoch& current);

// What the header at `height` must name as the next set: the scheduled set at its last
// height, nothing anywhere else.
std::vector<PublicKey> NextValidatorsAt(const std::optional<contracts::ScheduledValidators>& next,
                                        uint64_t height);

// The validators the links admit: those of the current epoch and of the next one, each with
// its address from `addresses` where the config gives one (the others are not dialed, but
// their links are accepted).
std::vector<net::ValidatorPeer> LinkPeers(const ledger::Epoch& current,
                                          const std::optional<contracts::ScheduledValidators>& next,
                                          const std::vector<net::ValidatorPeer>& addresses);

}  // namespace city::node
