// The uncommitted blocks a core holds: those whose ancestry is known, those parked until their
// parent arrives, the fetches for missing ones, and the walk that commits a certified chain.
// It stays bounded (Config::max_pending_blocks): one proposal per (round, proposer), and
// whatever can no longer commit is dropped (Prune), with the host's stored copy.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "city/consensus/core.h"
#include "city/consensus/rules.h"

namespace city::consensus {

class BlockTree {
 public:
  // `stored` is what Host::PersistBlock stored before a restart, trusted as verified then.
  BlockTree(const Config& config, Host& host, ProtocolRules& rules, CommittedTip tip,
            std::vector<ledger::Block> stored);

  const CommittedTip& committed() const { return committed_; }
  // The committed tip or a held block: a block whose children can be inserted.
  bool Known(const Hash256& hash) const {
    return hash == committed_.hash || blocks_.contains(hash);
  }
  // Held or parked: nothing more to do with a proposal of this hash.
  bool Holds(const Hash256& hash) const { return blocks_.contains(hash) || parked_.Contains(hash); }
  const ledger::Block* Find(const Hash256& hash) const;
  size_t size() const { return blocks_.size() + parked_.size(); }

  // False for a second, different proposal by one proposer in one round; the first, if held,
  // and this one are then evidence (reported once per slot).
  bool RecordProposal(const ledger::Block& block, const Hash256& hash,
                      std::vector<Evidence>& evidence);
  // Room for one more block, pruning first if the tree is full.
  bool HasRoom(const SafetyState& safety);
  // Keeps a valid block whose parent is unknown (dropped when the tree is full: the commit
  // walk asks again for whatever is still missing).
  void Park(const ledger::Block& block, const Hash256& hash);
  // Adds a block whose parent is known and every parked descendant; returns those stored
  // durably (so they may be voted on), in insertion order.
  std::vector<Hash256> Insert(const ledger::Block& block);
  void MarkVoted(const Hash256& hash) { voted_.insert(hash); }
  // Drops the blocks that can no longer matter: those that do not extend the committed tip,
  // and uncertified blocks of past rounds this validator did not vote for.
  void Prune(const SafetyState& safety);

  // ---- fetching missing blocks ----
  // Asks `from` (or the next peer) for a block not known here, unless already asked.
  std::optional<Outgoing> RequestFetch(TimeMs now, const Hash256& hash, size_t from,
                                       std::optional<size_t> me);
  bool Requested(const Hash256& hash) const { return fetching_.contains(hash); }
  void EndFetch(const Hash256& hash) { fetching_.erase(hash); }
  // The requests due again (each to the next peer in turn), and when the next one is due.
  std::vector<Outgoing> DueFetches(TimeMs now, std::optional<size_t> me);
  std::optional<TimeMs> NextFetchAt() const;

  // ---- committing ----
  // A QC whose block (or an ancestor of it) is missing, retried when blocks arrive.
  void AwaitCommit(const ledger::QuorumCert& qc) { awaiting_.emplace(qc.data.block_hash, qc); }
  std::vector<ledger::QuorumCert> TakeAwaitingCommits();
  struct Path {
    std::vector<const ledger::Block*> newest_first;  // target back to the committed tip's child
    std::optional<Hash256> missing;                  // an ancestor to fetch first
    bool conflicts = false;                          // the chain does not lead to the committed tip
  };
  Path PathTo(const Hash256& target) const;
  // Commits the blocks of `path` (target certified by `target_qc`), oldest first; the caller
  // hands them to the host, then calls ForgetCommitted.
  std::vector<CommittedBlock> Commit(const Path& path, const ledger::QuorumCert& target_qc);
  void ForgetCommitted(const SafetyState& safety);

  std::optional<Status> TakePersistError() { return std::exchange(persist_error_, std::nullopt); }

 private:
  // Blocks waiting for their parent, by parent hash.
  class Parked {
   public:
    bool Contains(const Hash256& hash) const { return hashes_.contains(hash); }
    size_t size() const { return hashes_.size(); }
    void Add(const ledger::Block& block, const Hash256& hash);
    const ledger::Block* Find(const Hash256& hash) const;
    std::vector<ledger::Block> TakeChildren(const Hash256& parent);
    void Erase(const Hash256& hash) { hashes_.erase(hash); }  // inserted by another path
    void DropAtOrBelow(uint64_t height);
    void AddParentsTo(std::set<Hash256>& hashes) const;

   private:
    std::map<Hash256, std::vector<ledger::Block>> by_parent_;
    std::set<Hash256> hashes_;
  };

  const Config& config_;
  Host& host_;
  ProtocolRules& rules_;
  CommittedTip committed_;
  std::map<Hash256, ledger::Block> blocks_;  // uncommitted blocks whose ancestry is known
  Parked parked_;
  std::map<Hash256, ledger::QuorumCert> awaiting_;  // QCs whose certified block is missing
  std::map<std::pair<uint64_t, PublicKey>, Hash256> proposals_seen_;
  std::set<std::pair<uint64_t, PublicKey>> evidence_given_;  // (round, proposer) reported once
  std::set<Hash256> voted_;  // held blocks this validator voted for: never pruned
  struct Fetch {
    TimeMs last_sent = 0;
    size_t next_peer = 0;
  };
  std::map<Hash256, Fetch> fetching_;
  std::optional<Status> persist_error_;
};

}  // namespace city::consensus
