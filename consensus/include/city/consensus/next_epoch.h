// What a node does with messages of the epoch after its own (docs/consensus.md, "Epochs"), as
// a state machine the node and the simulator share. Such a message means the validators may
// have committed the end of this node's epoch before it did. Usually the node is a moment
// behind: the messages are kept and handed to its next core. If it stays behind, it missed
// the end, which its core cannot learn from validators that moved on: it must sync from one
// of them (BlockSync::CatchUp), which proves the end (EpochEndProof).
//
// Only messages signed by their sender as a member of the scheduled next set count, and a
// catch-up needs f + 1 distinct such members: at least one honest validator is past the end.
// A faulty peer's claims of a later epoch, signed or not, cannot pull a node out of consensus.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "city/consensus/core.h"
#include "city/consensus/messages.h"

namespace city::consensus {

// `message` is signed by `sender` as a member of `set`, the validators of `epoch`: a proposal
// it made, a vote or timeout it signed, or a certificate of that epoch past its root.
bool SignedByMember(const PublicKey& sender, const ledger::ValidatorSet& set, uint64_t epoch,
                    const std::string& chain_id, SignatureVerifier* verifier,
                    const Message& message);

class NextEpochWatch {
 public:
  // What is kept is bounded per sender and in bytes: a faulty member of the next set can
  // sign as many large proposals as it likes.
  static constexpr size_t kMaxKept = 256;
  static constexpr size_t kMaxKeptPerSender = 4;
  static constexpr size_t kMaxKeptBytes = 32 * 1024 * 1024;
  static constexpr TimeMs kGraceMs = 300;           // first message to the first catch-up
  static constexpr TimeMs kCatchUpEveryMs = 2'000;  // then at most this often

  // A message of the epoch after `current`, already checked with SignedByMember against
  // `next` (the scheduled next set). Kept. Returns the members seen past the end, sorted, when
  // the node should catch up now; the host asks one of them (attempts() picks in turn).
  std::optional<std::vector<PublicKey>> Observe(TimeMs now, const PublicKey& sender,
                                                const ledger::ValidatorSet& next, Message message);
  // The node entered a new epoch: the kept messages, in arrival order, to hand to its core.
  std::vector<std::pair<PublicKey, Message>> Enter();
  // A restart: nothing of the last run is kept.
  void Reset() { *this = NextEpochWatch(); }
  size_t attempts() const { return attempts_; }

 private:
  std::vector<std::pair<PublicKey, Message>> kept_;
  std::map<PublicKey, size_t> kept_per_sender_;
  size_t kept_bytes_ = 0;
  std::set<PublicKey> senders_;
  std::optional<TimeMs> first_seen_;
  std::optional<TimeMs> last_catch_up_;
  size_t attempts_ = 0;
};

}  // namespace city::consensus
