#include "city/consensus/block_sync.h"

#include <algorithm>

#include "city/ledger/chain_rules.h"

namespace city::consensus {
namespace {

// Claims older than this many announce intervals no longer count.
constexpr TimeMs kClaimLifetimeIntervals = 10;

}  // namespace

BlockSync::BlockSync(SyncConfig config, std::optional<size_t> me, SignatureVerifier& verifier,
                     SyncHost& host)
    : config_(std::move(config)),
      me_(me),
      context_(config_.epoch.Context(config_.chain_id, &verifier)),
      host_(host) {}

SyncActions BlockSync::CatchUp(TimeMs now, size_t peer, uint64_t from_height) {
  Leave(now);
  SyncActions actions;
  if (peer == me_ || peer >= config_.epoch.validators.size()) return actions;
  actions.note = "a validator is in a later epoch; fetching from it";
  return Ask(actions, now, peer, from_height);
}

void BlockSync::SetEpoch(const ledger::Epoch& epoch, std::optional<size_t> me) {
  // Indices name other validators now: what is known of those in both sets carries over
  // (their claims, the reply awaited), the rest is forgotten.
  const std::vector<PublicKey> old_members = config_.epoch.validators.members();
  auto remap = [&](size_t old_index) -> std::optional<size_t> {
    return old_index < old_members.size() ? epoch.validators.IndexOf(old_members[old_index])
                                          : std::nullopt;
  };
  auto remap_all = [&](const std::map<size_t, Claim>& by_index) {
    std::map<size_t, Claim> out;
    for (const auto& [peer, claim] : by_index) {
      if (const std::optional<size_t> index = remap(peer)) out[*index] = claim;
    }
    return out;
  };
  claims_ = remap_all(claims_);
  lowest_held_ = remap_all(lowest_held_);
  if (asked_) asked_ = remap(*asked_);
  config_.epoch = epoch;
  context_ = epoch.Context(config_.chain_id, context_.verifier);
  me_ = me;
}

void BlockSync::Start(TimeMs now) { Leave(now); }

void BlockSync::Leave(TimeMs now) {
  syncing_ = true;
  sync_since_ = now;
  asked_.reset();
  behind_ = 0;
}

void BlockSync::OnStatus(TimeMs now, size_t peer, uint64_t committed_height) {
  if (peer == me_ || peer >= config_.epoch.validators.size()) return;
  claims_[peer] = {committed_height, now};
}

std::optional<uint64_t> BlockSync::PeerHeight(size_t peer) const {
  auto it = claims_.find(peer);
  return it == claims_.end() ? std::nullopt : std::optional<uint64_t>(it->second.height);
}

std::optional<uint64_t> BlockSync::Target(TimeMs now) const {
  std::vector<uint64_t> heights;
  for (const auto& [peer, claim] : claims_) {
    if (now - claim.seen <= kClaimLifetimeIntervals * config_.announce_interval_ms) {
      heights.push_back(claim.height);
    }
  }
  const size_t f = config_.epoch.validators.max_faulty();
  if (heights.size() <= f) return std::nullopt;
  std::nth_element(heights.begin(), heights.begin() + static_cast<ptrdiff_t>(f), heights.end(),
                   std::greater<>());
  return heights[f];
}

SyncActions& BlockSync::Ask(SyncActions& actions, TimeMs now, size_t peer, uint64_t from_height) {
  asked_ = peer;
  asked_at_ = now;
  actions.request = {peer, SyncRequest{from_height, config_.max_blocks}};
  return actions;
}

SyncActions& BlockSync::Join(SyncActions& actions) {
  syncing_ = false;
  asked_.reset();
  behind_ = 0;
  actions.join = true;
  return actions;
}

SyncActions BlockSync::AskAPeerAt(TimeMs now, uint64_t own_height, uint64_t target) {
  // Any peer claiming at least the target will do; take them in turn.
  std::vector<size_t> eligible;
  uint64_t pruned_above = 0;  // the lowest height held among the peers left out for pruning
  for (const auto& [peer, claim] : claims_) {
    const bool fresh = now - claim.seen <= kClaimLifetimeIntervals * config_.announce_interval_ms;
    if (!fresh || claim.height < target) continue;
    // What a peer said it prunes is believed as long as a claim is (it may be restored from
    // an archive's backup, or be another node by then): then it is asked again.
    if (auto held = lowest_held_.find(peer);
        held != lowest_held_.end() && held->second.height > own_height + 1 &&
        now - held->second.seen <= kClaimLifetimeIntervals * config_.announce_interval_ms) {
      pruned_above =
          pruned_above == 0 ? held->second.height : std::min(pruned_above, held->second.height);
      continue;
    }
    eligible.push_back(peer);
  }
  SyncActions actions;
  if (eligible.empty()) {
    // Block sync cannot go on: what this node needs next is gone from every peer ahead of it.
    actions.warning =
        "at height " + std::to_string(own_height) +
        ", every validator ahead has pruned the blocks after it (the lowest held is " +
        std::to_string(pruned_above) +
        "): restore a recent backup (cityd restore) or add a peer that keeps every block";
    return actions;
  }
  const size_t peer = eligible[rotation_++ % eligible.size()];
  actions.note = "at height " + std::to_string(own_height) + ", validators are at " +
                 std::to_string(target) + " or more; fetching from v" + std::to_string(peer);
  return Ask(actions, now, peer, own_height + 1);
}

SyncActions BlockSync::AskIfBehind(TimeMs now, uint64_t own_height) {
  if (!syncing_ || asked_) return {};  // a reply awaited is the tick's to time out
  const std::optional<uint64_t> target = Target(now);
  if (!target || *target <= own_height + config_.join_gap) return {};
  return AskAPeerAt(now, own_height, *target);
}

SyncActions BlockSync::OnTick(TimeMs now, uint64_t own_height) {
  const std::optional<uint64_t> target = Target(now);
  if (!syncing_) {
    if (target && *target > own_height + config_.fall_behind_gap) {
      if (++behind_ >= config_.behind_ticks) {
        Leave(now);
        SyncActions actions;
        actions.leave = "validators are at height " + std::to_string(*target) +
                        " or more, this node at " + std::to_string(own_height);
        return actions;
      }
    } else {
      behind_ = 0;
    }
    return {};
  }
  if (target && *target > own_height + config_.join_gap) {
    if (asked_ && now - asked_at_ <= config_.reply_timeout_ms) return {};  // still waiting
    return AskAPeerAt(now, own_height, *target);
  }
  // f + 1 fresh claims (one of them honest) put the validators within join_gap: join. Fewer
  // may all be stale or lying, and joining on them would leave a node that is far behind in
  // consensus until it notices (behind_ticks): it waits for more or for its patience.
  if (target || now - sync_since_ >= config_.patience_ms || config_.epoch.validators.size() == 1) {
    SyncActions actions;
    actions.note = "validators are within " + std::to_string(config_.join_gap) + " blocks";
    return Join(actions);
  }
  return {};
}

SyncActions BlockSync::OnReply(TimeMs now, size_t peer, const CommittedTip& tip,
                               const SyncReply& reply) {
  if (const std::optional<uint64_t> known = PeerHeight(peer)) {
    OnStatus(now, peer, std::max(*known, reply.committed_height));
  } else {
    OnStatus(now, peer, reply.committed_height);
  }
  SyncActions actions;
  if (!syncing_ || asked_ != peer) {
    actions.note = "reply from v" + std::to_string(peer) + " not awaited";
    return actions;
  }
  asked_.reset();
  auto fault = [&](std::string why) {
    actions.faulty_peer = peer;
    actions.fault = std::move(why);
  };
  lowest_held_[peer] = {reply.lowest_height, now};
  if (reply.blocks.empty() && reply.lowest_height > tip.height + 1) {
    actions.note = "v" + std::to_string(peer) + " holds blocks only from height " +
                   std::to_string(reply.lowest_height) + " on (it prunes); asking another";
    return actions;
  }
  if (reply.blocks.empty()) {
    // It was asked because it claimed to be far ahead: an empty answer is a stall.
    fault("claims height " + std::to_string(reply.committed_height) + " but sent no block");
    return actions;
  }
  // Checks that need no certificates first: heights, hash links, epoch, the chain rules,
  // proposers' signatures. Each block belongs to the epoch its parent leads to: the next one
  // after a block naming the next set (ledger::Epoch::After).
  const std::vector<CertifiedBlock>& blocks = reply.blocks;
  // After an epoch's last block E, the reply may go on in E's epoch instead of the next: the
  // suffix that proves E committed (EpochEndProof), which carries no transactions, names no
  // set, and is never committed itself.
  std::vector<ledger::Epoch> epochs;  // epochs[i]: the epoch of blocks[i]
  ledger::Epoch epoch = config_.epoch;
  std::optional<ledger::Epoch> ended;  // the epoch E ended, while the reply may be its suffix
  std::optional<size_t> suffix_from;   // the index of the first suffix block
  Hash256 parent = tip.hash;
  size_t usable = 0;
  for (const CertifiedBlock& cb : blocks) {
    const ledger::BlockHeader& h = cb.block.header;
    const std::string at = "block " + std::to_string(h.height) + ": ";
    if (h.height != tip.height + 1 + usable || h.parent_hash != parent) {
      // A first block at another height answers an older request; anything else is a lie.
      if (usable > 0 || h.height == tip.height + 1) fault(at + "does not extend the one before");
      break;
    }
    if (ended && h.epoch == ended->number) {
      if (!suffix_from) suffix_from = usable;
      epoch = *ended;
      if (!cb.block.transactions.empty() || !h.next_validators.empty()) {
        fault(at + "after its epoch's last block, it carries transactions or a validator set");
        break;
      }
    } else if (suffix_from) {
      fault(at + "of epoch " + std::to_string(h.epoch) + " inside an epoch's end proof");
      break;
    } else {
      ended.reset();
    }
    if (h.epoch != epoch.number) {
      fault(at + "of epoch " + std::to_string(h.epoch) + ", expected " +
            std::to_string(epoch.number));
      break;
    }
    // The same chain rules the consensus core applies to proposals: a certificate alone
    // does not make a header one the protocol could have produced.
    if (std::optional<ledger::HeaderRuleBroken> broken =
            ledger::CheckHeaderRules(h, epoch.validators)) {
      fault(at + broken->reason);
      break;
    }
    if (Status s = cb.block.CheckStructure(config_.chain_id, context_.verifier); !s.ok()) {
      fault(at + s.message());
      break;
    }
    const Hash256 hash = cb.block.Hash();
    if (!h.next_validators.empty()) {
      // The next set is taken only from a block its own epoch's quorum certified: otherwise
      // a peer could name a set of its own keys and sign whatever it likes after it.
      const ledger::CertContext own = epoch.Context(config_.chain_id, context_.verifier);
      if (cb.certificate.data.block_hash != hash || !cb.certificate.Verify(own).ok()) {
        fault(at + "names the next validator set without a valid certificate of its epoch");
        break;
      }
      ended = epoch;
    }
    parent = hash;
    epochs.push_back(epoch);
    epoch = epoch.After(h, parent);
    ++usable;
  }
  auto context_of = [&](size_t i) {
    return epochs[i].Context(config_.chain_id, context_.verifier);
  };
  // The two-chain commit proof: block j is committed when its child j+1 is certified in the
  // next round of the same epoch; then every ancestor of j is committed too, across epochs:
  // the next epoch's validators only ever build on the last block their epoch committed.
  size_t committable = 0;  // blocks [0, committable) are proven committed
  size_t proven_by = 0;    // the child whose certificate completes that proof
  for (size_t j = usable; j-- > 1;) {
    const ledger::Block& child = blocks[j].block;
    const ledger::Block& block = blocks[j - 1].block;
    if (epochs[j].number != epochs[j - 1].number ||
        !ledger::CertifyingCommitsParent(child.header) ||
        child.header.justify.data.round != block.header.round) {
      continue;
    }
    const ledger::QuorumCert& child_qc = blocks[j].certificate;
    if (child_qc.data.block_hash != child.Hash() || !child_qc.Verify(context_of(j)).ok()) {
      fault("block " + std::to_string(child.header.height) + ": its certificate does not verify");
      continue;
    }
    committable = j;
    proven_by = j;
    break;
  }
  if (suffix_from) committable = std::min(committable, *suffix_from);
  // Each committed block keeps the certificate its child carries: it certifies the block, and
  // it is what every node stores, whoever served the block. The last block of an epoch keeps
  // its own, by its epoch's validators: its child carries the next epoch's root certificate.
  std::vector<const ledger::QuorumCert*> certified_by;
  for (size_t i = 0; i < committable; ++i) {
    // The last block of an epoch had its own certificate checked before its set was taken;
    // its child's justify must be exactly the next epoch's root certificate.
    const bool last_of_epoch = epochs[i + 1].number != epochs[i].number;
    const ledger::QuorumCert& qc =
        last_of_epoch ? blocks[i].certificate : blocks[i + 1].block.header.justify;
    const ledger::QuorumCert& checked = last_of_epoch ? blocks[i + 1].block.header.justify : qc;
    if (!checked.Verify(context_of(last_of_epoch ? i + 1 : i)).ok()) {
      fault("block " + std::to_string(blocks[i].block.header.height) +
            ": its certificate does not verify");
      committable = i;
      break;
    }
    certified_by.push_back(&qc);
  }
  if (committable == 0) {
    if (actions.faulty_peer) return actions;  // the next tick asks the next peer
    // Nothing provable: the peer's newest blocks came after timeouts. Join consensus, whose
    // catch-up fetches the missing blocks one by one; if this node is still far behind it
    // comes back here and asks the next peer.
    actions.note = std::to_string(usable) + " blocks from v" + std::to_string(peer) +
                   " hold no commit proof; joining consensus";
    return Join(actions);
  }
  std::vector<const ledger::Block*> to_check;
  for (size_t i = 0; i < committable; ++i) to_check.push_back(&blocks[i].block);
  if (Status checked = host_.CheckTransactions(to_check); !checked.ok()) {
    fault("a transaction: " + checked.message());
    return actions;
  }
  for (size_t i = 0; i < committable; ++i) {
    actions.commits.push_back({blocks[i].block, *certified_by[i], std::nullopt});
  }
  // Committed by its end proof: the node keeps it, to prove the end to others in turn.
  if (suffix_from && committable == *suffix_from && proven_by >= *suffix_from) {
    EpochEndProof proof;
    for (size_t i = *suffix_from; i <= proven_by; ++i) proof.suffix.push_back(blocks[i].block);
    proof.certified_by = blocks[proven_by].certificate;
    actions.commits.back().epoch_end = std::move(proof);
  }
  const uint64_t height = tip.height + committable;
  actions.note = "committed up to height " + std::to_string(height) + " (v" + std::to_string(peer) +
                 " at " + std::to_string(reply.committed_height) + ")";
  // What a faulty reply proved is kept, but its sender is not asked again: the next tick
  // asks the next peer.
  if (actions.faulty_peer) return actions;
  if (reply.committed_height > height + config_.join_gap) {
    return Ask(actions, now, peer, height + 1);
  }
  // As close as the peer's own commits allow: join now. Waiting for the next announcement
  // would let a fast chain run ahead again, every time.
  return Join(actions);
}

}  // namespace city::consensus
