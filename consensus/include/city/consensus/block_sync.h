// Block sync as a deterministic state machine: how a node that is behind learns its peers'
// committed heights, fetches the blocks it lacks in batches, proves each one committed (the
// chain rules of ledger/chain_rules.h, the certificates, the two-chain commit proof), and
// when it joins or leaves consensus. Like the core it keeps no clock, socket or disk: the
// node feeds it announcements, replies and ticks, and carries out the SyncActions it returns;
// the simulator does the same against lying peers.
//
// Why the (f+1)-th highest claim: at least one honest validator has reached it, so f liars
// can neither pull a node out of consensus nor keep it syncing towards a height nobody has.
// Peers are asked in turn, and a reply is awaited only so long, so a peer that never answers
// (or answers uselessly) cannot stall the sync. A reply that breaks a rule is a fault of its
// sender: nothing of it past the break is used, and the sender is reported.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "city/consensus/core.h"
#include "city/consensus/sync_messages.h"
#include "city/ledger/chain_rules.h"
#include "city/ledger/types.h"

namespace city::consensus {

struct SyncConfig {
  std::string chain_id;
  // The epoch of the block after this node's committed tip: its validators are the peers
  // (by index) and their certificates the first checked. Blocks of later epochs in a reply
  // are checked against the sets the chain itself names (ledger::Epoch::After).
  ledger::Epoch epoch;
  uint32_t max_blocks = 256;  // per request
  TimeMs announce_interval_ms = 1000;
  TimeMs reply_timeout_ms = 5000;  // then the next peer is asked
  // A syncing node joins consensus once validators are at most join_gap blocks ahead (the
  // core's catch-up fetches the rest: under load the chain grows during every round trip,
  // so "fully caught up" may never come); a node in consensus that sees them
  // fall_behind_gap ahead for behind_ticks ticks in a row syncs again.
  uint64_t join_gap = 8;
  uint64_t fall_behind_gap = 32;
  int behind_ticks = 3;
  // With fewer than f+1 fresh announcements, a syncing node joins after this (a lone
  // validator, the first ones up, or a node whose peers are mostly down).
  TimeMs patience_ms = 2000;
};

// What sync needs from the node beyond the certificates it checks itself.
class SyncHost {
 public:
  virtual ~SyncHost() = default;
  // The stateless transaction checks (encoding, signatures) of blocks about to be committed,
  // in one batch so the node can spread them over its cores.
  virtual Status CheckTransactions(const std::vector<const ledger::Block*>& blocks) = 0;
};

struct SyncActions {
  std::optional<std::pair<size_t, SyncRequest>> request;  // to a peer, by validator index
  // Proven committed, in height order: commit them. An epoch's last block proven by its end
  // proof carries it (CommittedBlock::epoch_end), for the node to serve in turn.
  std::vector<CommittedBlock> commits;
  bool join = false;                  // create the consensus core now
  std::optional<std::string> leave;   // drop the core and sync again, and why
  std::optional<size_t> faulty_peer;  // sent a reply breaking a rule (fault says which)
  std::string fault;
  std::string note;  // what happened, for the log
  // What stops the sync and needs the operator (every peer ahead pruned what this node needs):
  // repeated at every tick while it lasts, for the node to log now and then.
  std::string warning;
};

class BlockSync {
 public:
  // `me`: this node's validator index, if it is one. `verifier` must outlive the sync.
  BlockSync(SyncConfig config, std::optional<size_t> me, SignatureVerifier& verifier,
            SyncHost& host);

  // Starts (or restarts) sync mode at `now`.
  void Start(TimeMs now);
  bool syncing() const { return syncing_; }
  // A peer's committed height: its announcement, or the height in its reply.
  void OnStatus(TimeMs now, size_t peer, uint64_t committed_height);
  // While syncing with no reply awaited: asks a peer now if the claims show this node more
  // than join_gap behind. Called after an announcement, so a node that just connected starts
  // fetching without waiting for its next tick; joining is left to the tick.
  SyncActions AskIfBehind(TimeMs now, uint64_t own_height);
  // Every announce interval: whether to ask a peer, join consensus or leave it.
  SyncActions OnTick(TimeMs now, uint64_t own_height);
  // A reply; `tip` is this node's committed tip.
  SyncActions OnReply(TimeMs now, size_t peer, const CommittedTip& tip, const SyncReply& reply);
  // The node left consensus on its own account (StopCore for another reason).
  void Leave(TimeMs now);
  // A peer is in a later epoch than this node (its messages say so): the end of this node's
  // epoch passed it by. Syncs at once, asking that peer from `from_height` (its reply proves
  // the epoch's last block committed, EpochEndProof, even before the next epoch has).
  SyncActions CatchUp(TimeMs now, size_t peer, uint64_t from_height);
  // The node's committed tip entered `epoch`: its validators are the peers from now on (the
  // heights they announced are forgotten when the set changed); `me` is this node's index in
  // it, if it is one.
  void SetEpoch(const ledger::Epoch& epoch, std::optional<size_t> me);

  // The (f+1)-th highest height claimed lately, if that many peers have announced.
  std::optional<uint64_t> Target(TimeMs now) const;
  std::optional<uint64_t> PeerHeight(size_t peer) const;

 private:
  struct Claim {
    uint64_t height = 0;
    TimeMs seen = 0;
  };
  SyncActions& Ask(SyncActions& actions, TimeMs now, size_t peer, uint64_t from_height);
  SyncActions& Join(SyncActions& actions);
  // The peers whose fresh claims reach `target`, asked in turn.
  SyncActions AskAPeerAt(TimeMs now, uint64_t own_height, uint64_t target);

  SyncConfig config_;
  std::optional<size_t> me_;
  ledger::CertContext context_;
  SyncHost& host_;
  bool syncing_ = true;
  TimeMs sync_since_ = 0;
  std::map<size_t, Claim> claims_;
  // The lowest height each peer said it holds blocks from (it prunes), and when. One that holds
  // nothing this node needs next is not asked while that is fresh (it is no liar for it).
  std::map<size_t, Claim> lowest_held_;
  std::optional<size_t> asked_;  // the peer whose reply is awaited
  TimeMs asked_at_ = 0;
  size_t rotation_ = 0;
  int behind_ = 0;
};

}  // namespace city::consensus
