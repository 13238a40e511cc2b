// Encoding, ids, signing and verification of the ledger's data model (types.h).
#include "city/ledger/types.h"

#include <algorithm>

#include "city/ledger/chain_rules.h"
#include "city/ledger/merkle.h"
#include "codec_internal.h"

namespace city::ledger {
namespace {

// Lets Encode() write a part of an object (the unsigned body of a transaction).
template <typename F>
struct Part {
  F write;
  void EncodeTo(Encoder& encoder) const { write(encoder); }
};
template <typename F>
Part(F) -> Part<F>;

template <typename T>
Hash256 DigestOf(std::string_view tag, std::string_view chain_id, const T& object) {
  return SigningDigest(tag, chain_id, Encode(object));
}

Status BadSignature(const std::string& what) { return Status(ErrorCode::kBadSignature, what); }

std::string Short(const PublicKey& key) { return key.ToHex().substr(0, 12); }

// Strictly increasing signers: no duplicates, one canonical order.
template <typename T>
bool SignersStrictlySorted(const std::vector<T>& items) {
  return std::adjacent_find(items.begin(), items.end(), [](const T& a, const T& b) {
           return !(a.signer < b.signer);
         }) == items.end();
}

Status CheckEpoch(uint64_t epoch, const CertContext& context, const char* what) {
  if (context.validators.size() == 0) {
    return Status(ErrorCode::kInternal,
                  std::string(what) + " checked against an empty validator set");
  }
  if (epoch != context.epoch) {
    return BadSignature(std::string(what) + " is for epoch " + std::to_string(epoch) +
                        ", checked against epoch " + std::to_string(context.epoch));
  }
  return Status::Ok();
}

// Membership, quorum size and order shared by both kinds of certificate.
template <typename T>
Status CheckSigners(const std::vector<T>& items, const ValidatorSet& validators, const char* what) {
  if (!SignersStrictlySorted(items)) {
    return Status(ErrorCode::kMalformed,
                  std::string(what) + " signers must be sorted without duplicates");
  }
  if (items.size() < validators.quorum()) {
    return BadSignature(std::string(what) + " has " + std::to_string(items.size()) +
                        " signers, a quorum is " + std::to_string(validators.quorum()));
  }
  for (const T& item : items) {
    if (!validators.Contains(item.signer)) {
      return BadSignature(std::string(what) + " signer " + Short(item.signer) +
                          " is not a validator of this epoch");
    }
  }
  return Status::Ok();
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// ---- Field lists: the wire order of every type, for encoding and decoding alike ----

template <typename V>
void BodyFields(V& v, FieldsOf<Transaction, V>& tx) {
  v.Text(tx.chain_id, kMaxChainIdLength, "transaction chain_id");
  v.Fixed(tx.sender);
  v.U64(tx.nonce);
  v.U64(tx.expiry_height);
  v.Text(tx.contract, kMaxNameLength, "transaction contract");
  v.Text(tx.method, kMaxNameLength, "transaction method");
  v.Blob(tx.args, kMaxArgsBytes, "transaction args");
}

template <typename V>
void Fields(V& v, FieldsOf<Transaction, V>& tx) {
  BodyFields(v, tx);
  v.Fixed(tx.signature);
}

template <typename V>
void Fields(V& v, FieldsOf<VoteData, V>& data) {
  v.U64(data.epoch);
  v.U64(data.term);
  v.U64(data.round);
  v.U64(data.height);
  v.Fixed(data.block_hash);
}

template <typename V>
void Fields(V& v, FieldsOf<Vote, V>& vote) {
  v.Object(vote.data);
  v.Fixed(vote.voter);
  v.Fixed(vote.signature);
}

template <typename V>
void Fields(V& v, FieldsOf<CertSignature, V>& entry) {
  v.Fixed(entry.signer);
  v.Fixed(entry.signature);
}

template <typename V>
void Fields(V& v, FieldsOf<QuorumCert, V>& qc) {
  v.Object(qc.data);
  v.SignerList(qc.signatures, kMaxValidators, CertSignature::kEncodedSize,
               "quorum certificate signatures");
}

template <typename V>
void Fields(V& v, FieldsOf<TimeoutData, V>& data) {
  v.U64(data.epoch);
  v.U64(data.round);
  v.U64(data.high_qc_round);
}

template <typename V>
void Fields(V& v, FieldsOf<Timeout, V>& timeout) {
  v.Object(timeout.data);
  v.Object(timeout.high_qc);
  v.Fixed(timeout.sender);
  v.Fixed(timeout.signature);
}

template <typename V>
void Fields(V& v, FieldsOf<TimeoutCertEntry, V>& entry) {
  v.Fixed(entry.signer);
  v.U64(entry.high_qc_round);
  v.Fixed(entry.signature);
}

template <typename V>
void Fields(V& v, FieldsOf<TimeoutCert, V>& tc) {
  v.U64(tc.epoch);
  v.U64(tc.round);
  v.SignerList(tc.entries, kMaxValidators, TimeoutCertEntry::kEncodedSize,
               "timeout certificate entries");
  v.Object(tc.high_qc);
}

template <typename V>
void Fields(V& v, FieldsOf<BlockHeader, V>& header) {
  v.Text(header.chain_id, kMaxChainIdLength, "block chain_id");
  v.U64(header.epoch);
  v.U64(header.height);
  v.U64(header.term);
  v.U64(header.round);
  v.Fixed(header.parent_hash);
  v.Fixed(header.proposer);
  v.U64(header.timestamp_ms);
  v.Fixed(header.tx_root);
  v.U64(header.exec_height);
  v.Fixed(header.state_root);
  v.Fixed(header.result_root);
  v.Object(header.justify);
  v.Optional(header.timeout_cert, "block timeout_cert");
  v.FixedList(header.next_validators, kMaxValidators, "block next_validators");
}

template <typename V>
void Fields(V& v, FieldsOf<Block, V>& block) {
  v.Object(block.header);
  v.List(block.transactions, kMaxTransactionsPerBlock, Transaction::kMinEncodedSize,
         "block transactions");
  v.Fixed(block.signature);
}

}  // namespace

// Both directions of every type's codec come from its Fields() above.
CITY_LEDGER_CODEC(Transaction)
CITY_LEDGER_CODEC(VoteData)
CITY_LEDGER_CODEC(Vote)
CITY_LEDGER_CODEC(CertSignature)
CITY_LEDGER_CODEC(QuorumCert)
CITY_LEDGER_CODEC(TimeoutData)
CITY_LEDGER_CODEC(Timeout)
CITY_LEDGER_CODEC(TimeoutCertEntry)
CITY_LEDGER_CODEC(TimeoutCert)
CITY_LEDGER_CODEC(BlockHeader)
CITY_LEDGER_CODEC(Block)

void Transaction::EncodeBody(Encoder& encoder) const { BodyFields(encoder, *this); }

Hash256 SigningDigest(std::string_view tag, std::string_view chain_id, ByteSpan body) {
  return TaggedHasher(tag)
      .UpdateU32(static_cast<uint32_t>(chain_id.size()))
      .Update(AsBytes(chain_id))
      .Update(body)
      .Finish();
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  if (!(name[0] >= 'a' && name[0] <= 'z')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) { return IsLowerAlnum(c) || c == '_'; });
}

bool IsValidChainId(std::string_view chain_id) {
  if (chain_id.empty() || chain_id.size() > kMaxChainIdLength) return false;
  return std::all_of(chain_id.begin(), chain_id.end(),
                     [](char c) { return IsLowerAlnum(c) || c == '.' || c == '_' || c == '-'; });
}

// ---- Transaction ----

Hash256 Transaction::Id() const {
  return DigestOf(kTransactionTag, chain_id,
                  Part{[this](Encoder& encoder) { EncodeBody(encoder); }});
}

Hash256 Transaction::SignedHash() const {
  return TaggedHasher(kSignedTransactionTag).Update(Id().span()).Update(signature.span()).Finish();
}

void Transaction::Sign(const KeyPair& key) {
  sender = key.public_key();
  signature = key.Sign(Id().span());
}

bool Transaction::VerifySignature() const { return Verify(sender, Id().span(), signature); }

Status Transaction::CheckStateless(std::string_view expected_chain_id) const {
  if (chain_id != expected_chain_id) {
    return Status(ErrorCode::kInvalidArgument,
                  "transaction is for chain \"" + chain_id.substr(0, kMaxChainIdLength) +
                      "\", this is \"" + std::string(expected_chain_id) + "\"");
  }
  if (!IsValidName(contract)) {
    return Status(ErrorCode::kInvalidArgument, "invalid contract name");
  }
  if (!IsValidName(method)) return Status(ErrorCode::kInvalidArgument, "invalid method name");
  if (args.size() > kMaxArgsBytes) {
    return Status(ErrorCode::kTooLarge,
                  "transaction args over " + std::to_string(kMaxArgsBytes) + " bytes");
  }
  return Status::Ok();
}

// ---- CertContext ----

bool CertContext::VerifySignature(const PublicKey& key, ByteSpan message,
                                  const Signature& sig) const {
  return verifier != nullptr ? verifier->Verify(key, message, sig)
                             : city::Verify(key, message, sig);
}

// ---- ValidatorSet ----

bool ValidatorSet::Contains(const PublicKey& key) const { return IndexOf(key).has_value(); }

std::optional<size_t> ValidatorSet::IndexOf(const PublicKey& key) const {
  auto it = std::find(members_.begin(), members_.end(), key);
  if (it == members_.end()) return std::nullopt;
  return static_cast<size_t>(it - members_.begin());
}

// ---- VoteData and Vote ----

Hash256 VoteData::Digest(std::string_view chain_id) const {
  return DigestOf(kVoteTag, chain_id, *this);
}

Vote Vote::Create(const VoteData& data, std::string_view chain_id, const KeyPair& key) {
  return Vote{data, key.public_key(), key.Sign(data.Digest(chain_id).span())};
}

bool Vote::VerifySignature(std::string_view chain_id) const {
  return Verify(voter, data.Digest(chain_id).span(), signature);
}

// ---- QuorumCert ----

QuorumCert QuorumCert::Genesis(const Hash256& genesis_block_hash) {
  return Root(0, 0, genesis_block_hash);
}

QuorumCert QuorumCert::Root(uint64_t epoch, uint64_t root_height, const Hash256& root_hash) {
  QuorumCert qc;
  qc.data.epoch = epoch;
  qc.data.height = root_height;
  qc.data.block_hash = root_hash;
  return qc;
}

QuorumCert QuorumCert::FromVotes(const VoteData& data, const std::vector<Vote>& votes) {
  QuorumCert qc;
  qc.data = data;
  for (const Vote& vote : votes) qc.signatures.push_back({vote.voter, vote.signature});
  std::sort(qc.signatures.begin(), qc.signatures.end(),
            [](const CertSignature& a, const CertSignature& b) { return a.signer < b.signer; });
  return qc;
}

Status QuorumCert::Verify(const CertContext& context) const {
  if (Status status = CheckEpoch(data.epoch, context, "quorum certificate"); !status.ok()) {
    return status;
  }
  if (data.round == 0) {
    if (*this == Root(context.epoch, context.root_height, context.genesis_block_hash)) {
      return Status::Ok();
    }
    return BadSignature("a round-0 certificate must be exactly the epoch's root certificate");
  }
  if (Status status = CheckSigners(signatures, context.validators, "quorum certificate");
      !status.ok()) {
    return status;
  }
  const Hash256 digest = data.Digest(context.chain_id);
  for (const CertSignature& entry : signatures) {
    if (!context.VerifySignature(entry.signer, digest.span(), entry.signature)) {
      return BadSignature("quorum certificate signature of " + Short(entry.signer) +
                          " does not verify");
    }
  }
  return Status::Ok();
}

// ---- Timeout ----

Hash256 TimeoutData::Digest(std::string_view chain_id) const {
  return DigestOf(kTimeoutTag, chain_id, *this);
}

Timeout Timeout::Create(const TimeoutData& data, QuorumCert high_qc, std::string_view chain_id,
                        const KeyPair& key) {
  return Timeout{data, std::move(high_qc), key.public_key(),
                 key.Sign(data.Digest(chain_id).span())};
}

bool Timeout::VerifySignature(std::string_view chain_id) const {
  return city::Verify(sender, data.Digest(chain_id).span(), signature);
}

Status Timeout::Verify(const CertContext& context) const {
  if (Status status = CheckEpoch(data.epoch, context, "timeout"); !status.ok()) return status;
  if (!context.validators.Contains(sender)) {
    return BadSignature("timeout from " + Short(sender) + ", not a validator of this epoch");
  }
  if (data.high_qc_round != high_qc.data.round) {
    return Status(ErrorCode::kInvalidArgument,
                  "timeout claims high QC round " + std::to_string(data.high_qc_round) +
                      " but carries round " + std::to_string(high_qc.data.round));
  }
  if (!context.VerifySignature(sender, data.Digest(context.chain_id).span(), signature)) {
    return BadSignature("timeout signature of " + Short(sender) + " does not verify");
  }
  return high_qc.Verify(context);
}

// ---- TimeoutCert ----

TimeoutCert TimeoutCert::FromTimeouts(const std::vector<Timeout>& timeouts) {
  TimeoutCert tc;
  if (timeouts.empty()) return tc;
  tc.epoch = timeouts.front().data.epoch;
  tc.round = timeouts.front().data.round;
  const Timeout* highest = &timeouts.front();
  for (const Timeout& timeout : timeouts) {
    tc.entries.push_back({timeout.sender, timeout.data.high_qc_round, timeout.signature});
    if (timeout.high_qc.data.round > highest->high_qc.data.round) highest = &timeout;
  }
  tc.high_qc = highest->high_qc;
  std::sort(
      tc.entries.begin(), tc.entries.end(),
      [](const TimeoutCertEntry& a, const TimeoutCertEntry& b) { return a.signer < b.signer; });
  return tc;
}

Status TimeoutCert::Verify(const CertContext& context) const {
  if (Status status = CheckEpoch(epoch, context, "timeout certificate"); !status.ok()) {
    return status;
  }
  if (Status status = CheckSigners(entries, context.validators, "timeout certificate");
      !status.ok()) {
    return status;
  }
  uint64_t highest_round = 0;
  for (const TimeoutCertEntry& entry : entries) {
    const TimeoutData signed_data{epoch, round, entry.high_qc_round};
    const Hash256 digest = signed_data.Digest(context.chain_id);
    if (!context.VerifySignature(entry.signer, digest.span(), entry.signature)) {
      return BadSignature("timeout certificate signature of " + Short(entry.signer) +
                          " does not verify");
    }
    highest_round = std::max(highest_round, entry.high_qc_round);
  }
  if (high_qc.data.round != highest_round) {
    return Status(ErrorCode::kInvalidArgument, "timeout certificate carries a QC of round " +
                                                   std::to_string(high_qc.data.round) +
                                                   " but its signers reported round " +
                                                   std::to_string(highest_round));
  }
  return high_qc.Verify(context);
}

// ---- BlockHeader and Block ----

Hash256 BlockHeader::Hash() const { return DigestOf(kBlockTag, chain_id, *this); }

Hash256 Block::ComputeTxRoot() const {
  std::vector<Hash256> leaves;
  leaves.reserve(transactions.size());
  for (const Transaction& tx : transactions) leaves.push_back(tx.SignedHash());
  return MerkleRoot(leaves);
}

void Block::Sign(const KeyPair& key) {
  header.proposer = key.public_key();
  header.tx_root = ComputeTxRoot();
  signature = key.Sign(Hash().span());
}

Status Block::CheckStructure(std::string_view expected_chain_id,
                             SignatureVerifier* verifier) const {
  if (header.chain_id != expected_chain_id) {
    return Status(ErrorCode::kInvalidArgument, "block is for another chain");
  }
  if (transactions.size() > kMaxTransactionsPerBlock) {
    return Status(ErrorCode::kTooLarge, "block has too many transactions");
  }
  if (const uint64_t cost = ExecutionCost(transactions); cost > kMaxBlockExecutionCost) {
    return Status(ErrorCode::kTooLarge, "block costs " + std::to_string(cost) +
                                            " execution units, more than " +
                                            std::to_string(kMaxBlockExecutionCost));
  }
  for (const Transaction& tx : transactions) {
    if (tx.chain_id != expected_chain_id) {
      return Status(ErrorCode::kInvalidArgument, "block holds a transaction of another chain");
    }
    if (std::optional<std::string> problem = ExpiryProblem(tx, header.height)) {
      return Status(ErrorCode::kInvalidArgument, "block holds a transaction " + *problem);
    }
  }
  if (ComputeTxRoot() != header.tx_root) {
    return Status(ErrorCode::kInvalidArgument, "tx_root does not match the transactions");
  }
  const Hash256 hash = Hash();
  const bool signed_by_proposer = verifier != nullptr
                                      ? verifier->Verify(header.proposer, hash.span(), signature)
                                      : city::Verify(header.proposer, hash.span(), signature);
  if (!signed_by_proposer) {
    return BadSignature("proposer signature of block " + Hash().ToHex().substr(0, 12) +
                        " does not verify");
  }
  return Status::Ok();
}

}  // namespace city::ledger
