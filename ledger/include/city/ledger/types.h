// The ledger's data model (DESIGN.md section 3): transactions, blocks, votes, quorum
// certificates, timeouts and timeout certificates, with their ids and signing rules.
//
// Every signature signs SigningDigest(tag, chain_id, canonical bytes): the domain tag keeps a
// vote from passing as a timeout, and the chain id keeps a signature from being replayed on
// another chain. Encodings follow codec.h; field order below is the wire order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/crypto/hash.h"
#include "city/crypto/verifier.h"
#include "city/ledger/codec.h"

namespace city::ledger {

inline constexpr std::string_view kTransactionTag = "city.tx.v1";
inline constexpr std::string_view kSignedTransactionTag = "city.tx.signed.v1";
inline constexpr std::string_view kBlockTag = "city.block.v1";
inline constexpr std::string_view kVoteTag = "city.vote.v1";
inline constexpr std::string_view kTimeoutTag = "city.timeout.v1";

// BLAKE2b-256(u8 len(tag) || tag || u32 len(chain_id) || chain_id || body).
Hash256 SigningDigest(std::string_view tag, std::string_view chain_id, ByteSpan body);

// Contract and method names: 1..kMaxNameLength of [a-z0-9_], starting with a letter.
bool IsValidName(std::string_view name);
// Chain ids: 1..kMaxChainIdLength of [a-z0-9._-].
bool IsValidChainId(std::string_view chain_id);

struct Transaction {
  static constexpr size_t kMaxEncodedSize = kMaxTransactionBytes;
  static constexpr size_t kMinEncodedSize = 4 + 32 + 8 + 8 + 4 + 4 + 4 + 64;

  std::string chain_id;
  PublicKey sender;
  uint64_t nonce = 0;
  uint64_t expiry_height = 0;  // the last height at which it may be included
  std::string contract;
  std::string method;
  Bytes args;  // the method's canonical argument bytes
  Signature signature;

  // The digest of every field but the signature; the signature signs exactly this.
  Hash256 Id() const;
  // Commits to the signature too: H(kSignedTransactionTag, Id() || signature). Blocks'
  // tx_root is built from these, so a block's hash covers its transactions' signatures, and
  // the node's verify cache is keyed by it.
  Hash256 SignedHash() const;
  // Sets sender to the key's public key, then signs.
  void Sign(const KeyPair& key);
  bool VerifySignature() const;
  // Everything that can be checked without state or signatures: chain id, names, sizes.
  Status CheckStateless(std::string_view expected_chain_id) const;

  void EncodeBody(Encoder& encoder) const;
  void EncodeTo(Encoder& encoder) const;
  static Transaction DecodeFrom(Decoder& decoder);
  friend bool operator==(const Transaction&, const Transaction&) = default;
};

// The validators of one epoch, in genesis order: leader(term) = members[term mod n].
class ValidatorSet {
 public:
  ValidatorSet() = default;
  explicit ValidatorSet(std::vector<PublicKey> members) : members_(std::move(members)) {}

  const std::vector<PublicKey>& members() const { return members_; }
  size_t size() const { return members_.size(); }
  // f: the most Byzantine members the set tolerates, floor((n - 1) / 3).
  size_t max_faulty() const { return members_.empty() ? 0 : (members_.size() - 1) / 3; }
  // n - f: any two quorums share at least f + 1 members, so at least one honest one.
  // Never 0: an empty set certifies nothing.
  size_t quorum() const { return members_.empty() ? 1 : members_.size() - max_faulty(); }
  bool Contains(const PublicKey& key) const;
  // The member's position in genesis order (its validator index), if it is one.
  std::optional<size_t> IndexOf(const PublicKey& key) const;

 private:
  std::vector<PublicKey> members_;
};

// What a certificate is checked against: a certificate verifies only for the epoch whose
// validator set is given, so one from another epoch cannot pass even where the sets overlap.
struct CertContext {
  std::string chain_id;
  uint64_t epoch = 0;
  ValidatorSet validators;  // of that epoch
  // The epoch's root: the genesis block in epoch 0, else the last block of the epoch before.
  // Its round-0 certificate (QuorumCert::Root) is the only one that carries no signatures.
  Hash256 genesis_block_hash;
  SignatureVerifier* verifier = nullptr;  // nullptr: verify directly, no cache
  uint64_t root_height = 0;               // the height of genesis_block_hash

  bool VerifySignature(const PublicKey& key, ByteSpan message, const Signature& sig) const;
};

// What a vote is about. Every vote for one block in one round signs the same bytes.
struct VoteData {
  uint64_t epoch = 0;
  uint64_t term = 0;
  uint64_t round = 0;
  uint64_t height = 0;
  Hash256 block_hash;

  Hash256 Digest(std::string_view chain_id) const;
  void EncodeTo(Encoder& encoder) const;
  static VoteData DecodeFrom(Decoder& decoder);
  friend bool operator==(const VoteData&, const VoteData&) = default;
};

struct Vote {
  static constexpr size_t kMaxEncodedSize = 512;

  VoteData data;
  PublicKey voter;
  Signature signature;

  static Vote Create(const VoteData& data, std::string_view chain_id, const KeyPair& key);
  bool VerifySignature(std::string_view chain_id) const;

  void EncodeTo(Encoder& encoder) const;
  static Vote DecodeFrom(Decoder& decoder);
  friend bool operator==(const Vote&, const Vote&) = default;
};

struct CertSignature {
  static constexpr size_t kEncodedSize = 32 + 64;
  PublicKey signer;
  Signature signature;

  void EncodeTo(Encoder& encoder) const;
  static CertSignature DecodeFrom(Decoder& decoder);
  friend bool operator==(const CertSignature&, const CertSignature&) = default;
};

// 2f+1 votes on one VoteData. Signatures are sorted by signer, strictly (so no duplicates
// and one encoding per set). The genesis QC (round 0) certifies the genesis block and
// carries no signatures.
struct QuorumCert {
  static constexpr size_t kMaxEncodedSize = kMaxCertificateBytes;

  VoteData data;
  std::vector<CertSignature> signatures;

  static QuorumCert Genesis(const Hash256& genesis_block_hash);
  // The round-0 certificate an epoch starts from: its root block (the genesis block in epoch
  // 0, the previous epoch's last block after that), certified by no one in this epoch. Its
  // proof is the previous epoch's certificates of that block (docs/consensus.md, "Epochs").
  static QuorumCert Root(uint64_t epoch, uint64_t root_height, const Hash256& root_hash);
  // Builds a certificate from votes on `data` (sorting them); does not verify them.
  static QuorumCert FromVotes(const VoteData& data, const std::vector<Vote>& votes);
  // Quorum of distinct members, every signature valid; or exactly the genesis QC.
  Status Verify(const CertContext& context) const;

  void EncodeTo(Encoder& encoder) const;
  static QuorumCert DecodeFrom(Decoder& decoder);
  friend bool operator==(const QuorumCert&, const QuorumCert&) = default;
};

// What a timeout signs: the round given up on, and the round of the sender's highest QC.
// No term: honest validators can be in one round under different terms (a QC and a TC can
// both form for the previous round), and their timeouts must still add up to a TC. The
// term after a TC for round r is r + 1, the same for everyone (see consensus/).
struct TimeoutData {
  uint64_t epoch = 0;
  uint64_t round = 0;
  uint64_t high_qc_round = 0;

  Hash256 Digest(std::string_view chain_id) const;
  void EncodeTo(Encoder& encoder) const;
  static TimeoutData DecodeFrom(Decoder& decoder);
  friend bool operator==(const TimeoutData&, const TimeoutData&) = default;
};

struct Timeout {
  static constexpr size_t kMaxEncodedSize = kMaxCertificateBytes + 512;

  TimeoutData data;
  QuorumCert high_qc;  // data.high_qc_round == high_qc.data.round
  PublicKey sender;
  Signature signature;

  static Timeout Create(const TimeoutData& data, QuorumCert high_qc, std::string_view chain_id,
                        const KeyPair& key);
  bool VerifySignature(std::string_view chain_id) const;
  // Signature, membership, and a valid high QC whose round matches what was signed.
  Status Verify(const CertContext& context) const;

  void EncodeTo(Encoder& encoder) const;
  static Timeout DecodeFrom(Decoder& decoder);
  friend bool operator==(const Timeout&, const Timeout&) = default;
};

struct TimeoutCertEntry {
  static constexpr size_t kEncodedSize = 32 + 8 + 64;
  PublicKey signer;
  uint64_t high_qc_round = 0;
  Signature signature;  // over TimeoutData{epoch, round, high_qc_round}

  void EncodeTo(Encoder& encoder) const;
  static TimeoutCertEntry DecodeFrom(Decoder& decoder);
  friend bool operator==(const TimeoutCertEntry&, const TimeoutCertEntry&) = default;
};

// 2f+1 timeouts of one round, with the highest QC any of them reported. Entries are sorted
// by signer, strictly.
struct TimeoutCert {
  static constexpr size_t kMaxEncodedSize = 2 * kMaxCertificateBytes;

  uint64_t epoch = 0;
  uint64_t round = 0;
  std::vector<TimeoutCertEntry> entries;
  QuorumCert high_qc;  // its round is the highest high_qc_round among the entries

  static TimeoutCert FromTimeouts(const std::vector<Timeout>& timeouts);
  Status Verify(const CertContext& context) const;

  void EncodeTo(Encoder& encoder) const;
  static TimeoutCert DecodeFrom(Decoder& decoder);
  friend bool operator==(const TimeoutCert&, const TimeoutCert&) = default;
};

struct BlockHeader {
  static constexpr size_t kMaxEncodedSize = 2 * kMaxCertificateBytes + 4096;

  std::string chain_id;
  uint64_t epoch = 0;
  uint64_t height = 0;
  uint64_t term = 0;
  uint64_t round = 0;
  Hash256 parent_hash;
  PublicKey proposer;
  uint64_t timestamp_ms = 0;  // the proposer's clock, bounded drift
  Hash256 tx_root;            // MerkleRoot of the transactions' SignedHash()
  uint64_t exec_height = 0;
  Hash256 state_root;                       // after executing every block up to exec_height
  Hash256 result_root;                      // of the results of those executions
  QuorumCert justify;                       // certifies the parent
  std::optional<TimeoutCert> timeout_cert;  // present right after a term change
  // Set only on the last block of an epoch: the validators of the next one, in leader order.
  // Consensus checks it against the scheduled change it executed (docs/consensus.md,
  // "Epochs"); sync and the auditor read the next epoch's set from here.
  std::vector<PublicKey> next_validators;

  // The block's identity: SigningDigest(kBlockTag, chain_id, header bytes).
  Hash256 Hash() const;

  void EncodeTo(Encoder& encoder) const;
  static BlockHeader DecodeFrom(Decoder& decoder);
  friend bool operator==(const BlockHeader&, const BlockHeader&) = default;
};

struct Block {
  static constexpr size_t kMaxEncodedSize = kMaxBlockBytes;

  BlockHeader header;
  std::vector<Transaction> transactions;
  Signature signature;  // the proposer's, over header.Hash()

  Hash256 Hash() const { return header.Hash(); }
  Hash256 ComputeTxRoot() const;
  // Sets the proposer and tx_root, then signs.
  void Sign(const KeyPair& key);
  // Chain id, transaction count and chain ids, tx_root and the proposer's signature.
  // Not here: transaction signatures and certificates (the caller has caches for them),
  // and parent links, heights, rounds and the leader rule (consensus owns those).
  Status CheckStructure(std::string_view expected_chain_id,
                        SignatureVerifier* verifier = nullptr) const;

  void EncodeTo(Encoder& encoder) const;
  static Block DecodeFrom(Decoder& decoder);
  friend bool operator==(const Block&, const Block&) = default;
};

}  // namespace city::ledger
