#include "block_tree.h"

#include <algorithm>

namespace city::consensus {

using ledger::Block;
using ledger::QuorumCert;

BlockTree::BlockTree(const Config& config, Host& host, ProtocolRules& rules, CommittedTip tip,
                     std::vector<Block> stored)
    : config_(config), host_(host), rules_(rules), committed_(tip) {
  // Which of them this validator voted for is not stored; a block that is alone in its
  // (round, proposer) may be one, so it is kept like a voted block. Several for one (round,
  // proposer) can only come from an equivocating leader (or an older version that stored
  // every proposal): those are kept only while certified, so a restart cannot bring a flood
  // back for good.
  std::map<std::pair<uint64_t, PublicKey>, std::vector<Hash256>> by_slot;
  for (Block& block : stored) {
    if (block.header.height <= tip.height) continue;
    const Hash256 hash = block.Hash();
    by_slot[{block.header.round, block.header.proposer}].push_back(hash);
    blocks_.emplace(hash, std::move(block));
  }
  for (const auto& [slot, hashes] : by_slot) {
    proposals_seen_.emplace(slot, hashes.front());
    if (hashes.size() == 1) voted_.insert(hashes.front());
  }
}

const Block* BlockTree::Find(const Hash256& hash) const {
  auto it = blocks_.find(hash);
  return it == blocks_.end() ? nullptr : &it->second;
}

bool BlockTree::RecordProposal(const Block& block, const Hash256& hash,
                               std::vector<Evidence>& evidence) {
  const auto slot = std::make_pair(block.header.round, block.header.proposer);
  auto [it, inserted] = proposals_seen_.emplace(slot, hash);
  if (inserted || !rules_.IsSecondProposal(it->second, hash)) return true;
  const Block* first = Find(it->second);
  if (first == nullptr) first = parked_.Find(it->second);
  if (first != nullptr && evidence_given_.insert(slot).second) {
    evidence.push_back({Evidence::Kind::kDoubleProposal, block.header.proposer, Proposal{*first},
                        Proposal{block}});
  }
  return false;
}

bool BlockTree::HasRoom(const SafetyState& safety) {
  if (size() < config_.max_pending_blocks) return true;
  Prune(safety);
  return size() < config_.max_pending_blocks;
}

void BlockTree::Park(const Block& block, const Hash256& hash) {
  if (parked_.Contains(hash) || size() >= config_.max_pending_blocks) return;
  parked_.Add(block, hash);
}

std::vector<Hash256> BlockTree::Insert(const Block& block) {
  std::vector<Hash256> inserted;
  std::vector<Block> ready = {block};
  while (!ready.empty()) {
    Block next = std::move(ready.back());
    ready.pop_back();
    const Hash256 hash = next.Hash();
    // Out of the parked set whatever happens next: a child taken from it and then skipped
    // (held already, or committed meanwhile) would otherwise count against the bound forever.
    parked_.Erase(hash);
    if (next.header.height <= committed_.height || blocks_.contains(hash)) continue;
    fetching_.erase(hash);
    if (Status stored = host_.PersistBlock(next); stored.ok()) {
      inserted.push_back(hash);  // durable: may be voted on
    } else {
      persist_error_ = std::move(stored);
    }
    blocks_.emplace(hash, std::move(next));
    for (Block& child : parked_.TakeChildren(hash)) ready.push_back(std::move(child));
  }
  return inserted;
}

// A block with a QC had the votes of at least f+1 honest validators, each of which keeps it
// (it voted), so any validator that learns of the QC later can still fetch it.
void BlockTree::Prune(const SafetyState& safety) {
  std::set<Hash256> certified = {safety.high_qc.data.block_hash};
  if (safety.last_tc) certified.insert(safety.last_tc->high_qc.data.block_hash);
  for (const auto& [hash, block] : blocks_) certified.insert(block.header.justify.data.block_hash);
  parked_.AddParentsTo(certified);
  for (const auto& [hash, qc] : awaiting_) certified.insert(hash);
  std::vector<std::pair<uint64_t, Hash256>> by_height;
  for (const auto& [hash, block] : blocks_) by_height.emplace_back(block.header.height, hash);
  std::sort(by_height.begin(), by_height.end());
  std::set<Hash256> live = {committed_.hash};
  std::vector<Hash256> dropped;
  for (const auto& [height, hash] : by_height) {
    const Block& block = blocks_.at(hash);
    const bool extends_tip = live.contains(block.header.parent_hash);
    const bool may_matter =
        certified.contains(hash) || voted_.contains(hash) || block.header.round >= safety.round;
    if (extends_tip && may_matter) {
      live.insert(hash);
    } else {
      dropped.push_back(hash);
    }
  }
  for (const Hash256& hash : dropped) {
    auto it = blocks_.find(hash);
    host_.ForgetBlock(it->second);
    blocks_.erase(it);
  }
  std::erase_if(voted_, [&](const Hash256& hash) { return !blocks_.contains(hash); });
}

std::optional<Outgoing> BlockTree::RequestFetch(TimeMs now, const Hash256& hash, size_t from,
                                                std::optional<size_t> me) {
  if (fetching_.contains(hash) || Known(hash)) return std::nullopt;
  const size_t n = config_.validators.size();
  size_t target = from;
  if (target == me || target >= n) target = (target + 1) % n;
  fetching_[hash] = {now, target + 1};
  return Outgoing{target, BlockRequest{hash}};
}

std::vector<Outgoing> BlockTree::DueFetches(TimeMs now, std::optional<size_t> me) {
  std::vector<Outgoing> due;
  const size_t n = config_.validators.size();
  for (auto& [hash, fetch] : fetching_) {
    if (now < fetch.last_sent + config_.fetch_retry_ms) continue;
    size_t target = fetch.next_peer % n;
    if (target == me) target = (target + 1) % n;
    fetch = {now, target + 1};
    due.push_back({target, BlockRequest{hash}});
  }
  return due;
}

std::optional<TimeMs> BlockTree::NextFetchAt() const {
  std::optional<TimeMs> next;
  for (const auto& [hash, fetch] : fetching_) {
    const TimeMs at = fetch.last_sent + config_.fetch_retry_ms;
    next = next ? std::min(*next, at) : at;
  }
  return next;
}

std::vector<QuorumCert> BlockTree::TakeAwaitingCommits() {
  std::vector<QuorumCert> waiting;
  for (auto& [hash, qc] : awaiting_) waiting.push_back(std::move(qc));
  awaiting_.clear();
  return waiting;
}

BlockTree::Path BlockTree::PathTo(const Hash256& target) const {
  Path path;
  for (Hash256 at = target; at != committed_.hash;) {
    auto it = blocks_.find(at);
    if (it == blocks_.end()) {
      path.missing = at;
      return path;
    }
    if (it->second.header.height <= committed_.height) {
      path.conflicts = true;
      return path;
    }
    path.newest_first.push_back(&it->second);
    at = it->second.header.parent_hash;
  }
  return path;
}

std::vector<CommittedBlock> BlockTree::Commit(const Path& path, const QuorumCert& target_qc) {
  const auto& chain = path.newest_first;
  std::vector<CommittedBlock> out;
  for (size_t i = chain.size(); i-- > 0;) {
    const QuorumCert& certified_by = i == 0 ? target_qc : chain[i - 1]->header.justify;
    out.push_back({*chain[i], certified_by, std::nullopt});
  }
  const Block& newest = *chain.front();
  committed_ = {newest.Hash(), newest.header.height, newest.header.round};
  return out;
}

void BlockTree::ForgetCommitted(const SafetyState& safety) {
  const uint64_t height = committed_.height;
  std::erase_if(blocks_, [&](const auto& e) { return e.second.header.height <= height; });
  parked_.DropAtOrBelow(height);
  std::erase_if(awaiting_, [&](const auto& e) { return e.second.data.height <= height; });
  std::erase_if(proposals_seen_, [&](const auto& e) { return e.first.first < committed_.round; });
  std::erase_if(evidence_given_, [&](const auto& e) { return e.first < committed_.round; });
  Prune(safety);
}

// ---- Parked ----

void BlockTree::Parked::Add(const Block& block, const Hash256& hash) {
  by_parent_[block.header.parent_hash].push_back(block);
  hashes_.insert(hash);
}

const Block* BlockTree::Parked::Find(const Hash256& hash) const {
  if (!Contains(hash)) return nullptr;
  for (const auto& [parent, children] : by_parent_) {
    for (const Block& child : children) {
      if (child.Hash() == hash) return &child;
    }
  }
  return nullptr;
}

std::vector<Block> BlockTree::Parked::TakeChildren(const Hash256& parent) {
  auto it = by_parent_.find(parent);
  if (it == by_parent_.end()) return {};
  std::vector<Block> children = std::move(it->second);
  by_parent_.erase(it);
  return children;
}

void BlockTree::Parked::DropAtOrBelow(uint64_t height) {
  for (auto it = by_parent_.begin(); it != by_parent_.end();) {
    std::erase_if(it->second, [&](const Block& b) {
      if (b.header.height > height) return false;
      hashes_.erase(b.Hash());
      return true;
    });
    it = it->second.empty() ? by_parent_.erase(it) : std::next(it);
  }
}

void BlockTree::Parked::AddParentsTo(std::set<Hash256>& hashes) const {
  for (const auto& [parent, children] : by_parent_) hashes.insert(parent);
}

}  // namespace city::consensus
