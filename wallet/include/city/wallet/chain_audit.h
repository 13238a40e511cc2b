// Independent verification of a chain: an auditor who trusts only a genesis file checks what
// a node serves (GET /v1/headers, /v1/blocks/{h}, /v1/state?prove=true) without trusting the
// node. Pure checks on bytes: no sockets here (cityctl fetches, this decides).
//
// A certified header is the header's canonical bytes and the certificate (QuorumCert) of the
// block; both come as hex from the API, and only the bytes are trusted, never the JSON views
// beside them. Every error names the height and what is wrong, e.g.
//   "height 17: the certificate's signature by city1... does not verify"
//   "height 18: parent_hash 3f2a... is not the hash of block 17 (9c01...)"
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "city/contracts/genesis_doc.h"
#include "city/ledger/smt.h"
#include "city/ledger/types.h"
#include "city/status.h"

namespace city::wallet {

struct CertifiedHeaderBytes {
  uint64_t height = 0;
  Bytes header;                      // canonical BlockHeader encoding
  std::optional<Bytes> certificate;  // canonical QuorumCert; absent only at height 0
};

// A block body decoded and hashed: the part of checking a block that needs no checked header,
// so a caller may make it on another thread, ahead of the checks. Only PrepareBlock makes
// one, so the hashes CheckBlock compares are always those of the block held.
class PreparedBlock {
 public:
  uint64_t height() const { return height_; }
  const ledger::Block& block() const { return block_; }
  const Hash256& hash() const { return hash_; }                   // the header's
  const Hash256& tx_root() const { return tx_root_; }             // of the transactions
  const std::vector<Hash256>& tx_ids() const { return tx_ids_; }  // in the block's order

 private:
  friend Result<PreparedBlock> PrepareBlock(uint64_t height, ByteSpan encoded_block);
  PreparedBlock() = default;

  uint64_t height_ = 0;
  ledger::Block block_;
  Hash256 hash_;
  Hash256 tx_root_;
  std::vector<Hash256> tx_ids_;
};

// Decodes `encoded_block` (its canonical Block encoding only) and hashes what CheckBlock
// compares. kMalformed with the height when the bytes are not a block. Thread-safe.
Result<PreparedBlock> PrepareBlock(uint64_t height, ByteSpan encoded_block);

struct AuditStats {
  uint64_t headers = 0;     // certified headers checked
  uint64_t blocks = 0;      // block bodies checked (CheckBlock)
  uint64_t signatures = 0;  // Ed25519 signatures verified
  // The highest height the two-chain rule proves committed: a checked header whose justify
  // certifies its parent in the round just before its own (its own certificate checked too)
  // proves the parent and every ancestor committed. 0 until one does. A certificate alone
  // proves only that a quorum voted for a block, not that it was committed; the newest
  // header served is usually not proven (its child's certificate is not served with it).
  uint64_t proven_committed = 0;
};

// Checks a run of consecutive certified headers, in height order, against the validator set
// of each header's epoch: the genesis set, then each set the last header of an epoch names
// (docs/consensus.md, "Epochs"); a header of another epoch than the one reached is refused. Memory
// is bounded whatever the length audited: only the last `kept_headers` checked headers are kept
// (for the parent link, CheckBlock and CheckState).
class ChainAuditor {
 public:
  static constexpr size_t kDefaultKeptHeaders = 1024;
  explicit ChainAuditor(contracts::GenesisChain genesis, size_t kept_headers = kDefaultKeptHeaders);
  ~ChainAuditor();
  ChainAuditor(ChainAuditor&&) noexcept;
  ChainAuditor& operator=(ChainAuditor&&) noexcept;

  // The next header. The first one may be at any height (an audit --from H); each later one
  // must be the next height. Checks, in this order: canonical decoding of the header
  // (re-encoding gives the same bytes), its height, chain id and epoch (0 only), canonical
  // decoding of the certificate, the block's own certificate (for this header's hash, epoch, term,
  // round and height; a quorum of distinct genesis validators; every signature valid), the parent
  // link to the previous header given, the justify QC certifies the parent (its hash, height, term
  // and round) and verifies, a timeout certificate (if any) verifies, rounds and terms follow the
  // consensus rules (without a TC: justify round + 1, same term; with one: TC round + 1, term =
  // round, justify at least the TC's highest QC), the proposer is the leader of the term, the
  // timestamp is after the parent's, exec_height does not fall and stays below the height. At
  // height 0: the header is exactly the genesis block built from the genesis file, with no
  // certificate. kBadSignature / kUnauthenticated / kMalformed / kInvalidArgument with the height
  // and the reason; a refused header is not recorded.
  Status AddHeader(const CertifiedHeaderBytes& item);

  // Moves to the next epoch by the last header of the current one, without the headers before
  // it (a light client's way to a later height): the header must be of the current epoch,
  // name the next set, and carry a valid certificate of the current set. Only before any
  // AddHeader. It proves, as any certified header does, that a quorum of the set voted for it.
  Status FollowEpochChange(const CertifiedHeaderBytes& last);
  uint64_t epoch() const;

  // A block body (canonical Block encoding) against the certified header of its height, added
  // before (and still kept): same header, the tx_root of its transactions, the proposer's
  // signature, and every transaction's stateless rules, uniqueness in the block and signature.
  Status CheckBlock(uint64_t height, ByteSpan encoded_block);
  Status CheckBlock(const PreparedBlock& prepared);

  // A state answer: `key` holds `value` (nullopt: absent) under the state root of the
  // certified header at `height` (checked with AddHeader first), by `proof`.
  Status CheckState(uint64_t height, ByteSpan key, std::optional<ByteSpan> value,
                    const ledger::StateProof& proof) const;

  // The header checked at `height` (nullptr if it was not, or is no longer kept).
  const ledger::BlockHeader* HeaderAt(uint64_t height) const;
  const AuditStats& stats() const { return stats_; }
  const contracts::GenesisChain& genesis() const { return genesis_; }

 private:
  struct Impl;
  contracts::GenesisChain genesis_;
  AuditStats stats_;
  std::unique_ptr<Impl> impl_;  // checked headers and the signature cache
};

}  // namespace city::wallet
