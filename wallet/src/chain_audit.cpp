// The independent chain auditor (chain_audit.h). The rules a certified header must meet are
// re-checked here from the ledger types alone: wallet does not link consensus, so these
// mirror consensus/src/core.cpp (CheckProposalRules, the commit rule) and the checks honest
// validators make before voting (node/src/driver.cpp, CheckPayload).
#include "city/wallet/chain_audit.h"

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "city/crypto/address.h"
#include "city/crypto/verifier.h"
#include "city/crypto/verifier_pool.h"
#include "city/ledger/chain_rules.h"

namespace city::wallet {
namespace {

using ledger::BlockHeader;
using ledger::QuorumCert;
using ledger::TimeoutCert;

// Enough to remember every signature of the last few certificates: the justify of block h+1
// is normally the certificate of block h, and a timeout certificate's QC one seen just before.
constexpr size_t kSignatureCacheSize = 1024;

std::string Abbrev(const Hash256& hash) { return hash.ToHex().substr(0, 12) + "..."; }

Status Fail(ErrorCode code, uint64_t height, const std::string& what) {
  return Status(code, "height " + std::to_string(height) + ": " + what);
}

// Counts the signatures actually verified (cache hits are not), and remembers the last signer
// whose signature failed so that errors can name it.
class AuditVerifier final : public SignatureVerifier {
 public:
  bool Verify(const PublicKey& key, ByteSpan message, const Signature& signature) override {
    const bool valid = cache_.Verify(key, message, signature);
    if (!valid) failed_ = key;
    return valid;
  }
  // Signatures seen once (blocks and transactions) are not worth a cache slot: they are
  // verified all at once on every core, and counted here.
  std::vector<uint8_t> VerifyOnce(std::span<const SignedMessage> items) {
    if (!pool_) pool_ = std::make_unique<VerifierPool>();
    uncached_ += items.size();
    return pool_->VerifyAll(items);
  }
  uint64_t verified() const { return cache_.misses() + uncached_; }
  std::optional<PublicKey> TakeFailed() { return std::exchange(failed_, std::nullopt); }

 private:
  CachingVerifier cache_{kSignatureCacheSize};
  std::unique_ptr<VerifierPool> pool_;  // made at the first block checked
  uint64_t uncached_ = 0;
  std::optional<PublicKey> failed_;
};

// Decodes `bytes` as a T and insists they are its canonical encoding.
template <typename T>
Result<T> DecodeCanonical(ByteSpan bytes, uint64_t height, const std::string& what) {
  Result<T> decoded = ledger::Decode<T>(bytes);
  if (!decoded.ok()) {
    return Fail(ErrorCode::kMalformed, height,
                what + " does not decode: " + decoded.status().message());
  }
  const Bytes again = ledger::Encode(decoded.value());
  if (!std::ranges::equal(again, bytes)) {
    return Fail(ErrorCode::kMalformed, height, what + " is not in its canonical encoding");
  }
  return decoded;
}

const std::vector<ledger::CertSignature>& SignersOf(const QuorumCert& qc) { return qc.signatures; }
const std::vector<ledger::TimeoutCertEntry>& SignersOf(const TimeoutCert& tc) { return tc.entries; }

std::string VoteDataText(const ledger::VoteData& data) {
  return "epoch " + std::to_string(data.epoch) + ", term " + std::to_string(data.term) +
         ", round " + std::to_string(data.round) + ", height " + std::to_string(data.height);
}

// Which of the fields a genesis header has differ: what to look at in the genesis file.
std::string GenesisDifferences(const BlockHeader& got, const BlockHeader& expected) {
  std::string out;
  const auto note = [&out](bool differs, const char* field) {
    if (!differs) return;
    out += out.empty() ? "" : ", ";
    out += field;
  };
  note(got.chain_id != expected.chain_id, "chain_id");
  note(got.parent_hash != expected.parent_hash, "parent_hash (the hash of the genesis file)");
  note(got.timestamp_ms != expected.timestamp_ms, "timestamp_ms (genesis_time_ms)");
  BlockHeader rest = got;
  rest.chain_id = expected.chain_id;
  rest.parent_hash = expected.parent_hash;
  rest.timestamp_ms = expected.timestamp_ms;
  note(rest != expected, "other fields");
  return out;
}

}  // namespace

struct ChainAuditor::Impl {
  struct Checked {
    BlockHeader header;
    Hash256 hash;
  };

  explicit Impl(const contracts::GenesisChain& genesis)
      : chain_id(genesis.header.chain_id),
        epoch(ledger::Epoch::Genesis(genesis.validators, genesis.block_hash)),
        context(epoch.Context(chain_id, &verifier)) {}

  // The header just checked ended its epoch: the next headers are checked against the set it
  // names, and start from it (docs/consensus.md, "Epochs").
  void Advance(const BlockHeader& header, const Hash256& hash) {
    if (header.next_validators.empty()) return;
    epoch = epoch.Next(header, hash);
    context = epoch.Context(chain_id, &verifier);
  }

  // Membership first (to name the stranger by address), then the certificate's own rule
  // (quorum of distinct members, every signature valid, or exactly the genesis QC).
  template <typename Cert>
  Status CheckCert(const Cert& cert, uint64_t height, const std::string& what) {
    for (const auto& entry : SignersOf(cert)) {
      if (!context.validators.Contains(entry.signer)) {
        return Fail(ErrorCode::kBadSignature, height,
                    "the " + what + " is signed by " + EncodeAddress(entry.signer) +
                        ", which is not a validator of " +
                        (epoch.number == 0 ? std::string("the genesis")
                                           : "epoch " + std::to_string(epoch.number)));
      }
    }
    verifier.TakeFailed();
    const Status status = cert.Verify(context);
    if (status.ok()) return status;
    if (const std::optional<PublicKey> signer = verifier.TakeFailed()) {
      return Fail(ErrorCode::kBadSignature, height,
                  "the " + what + "'s signature by " + EncodeAddress(*signer) + " does not verify");
    }
    return Fail(status.code(), height, "the " + what + " does not verify: " + status.message());
  }

  // The block's own certificate: for exactly this header, and valid.
  Status CheckCertificate(const QuorumCert& cert, const BlockHeader& header, const Hash256& hash) {
    const uint64_t height = header.height;
    if (cert.data.block_hash != hash) {
      return Fail(ErrorCode::kUnauthenticated, height,
                  "the certificate is for block " + Abbrev(cert.data.block_hash) +
                      ", not for this header (hash " + Abbrev(hash) + ")");
    }
    const ledger::VoteData expected{header.epoch, header.term, header.round, height, hash};
    if (cert.data != expected) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "the certificate certifies " + VoteDataText(cert.data) + ", the header has " +
                      VoteDataText(expected));
    }
    return CheckCert(cert, height, "certificate");
  }

  // The justify QC certifies the parent: the previous header if it was checked here, else
  // whatever parent_hash names.
  Status CheckParent(const BlockHeader& header, const Checked* parent) {
    const uint64_t height = header.height;
    const ledger::VoteData& justified = header.justify.data;
    if (parent != nullptr && header.parent_hash != parent->hash) {
      return Fail(ErrorCode::kUnauthenticated, height,
                  "parent_hash " + Abbrev(header.parent_hash) + " is not the hash of block " +
                      std::to_string(height - 1) + " (" + Abbrev(parent->hash) + ")");
    }
    if (justified.block_hash != header.parent_hash || justified.height + 1 != height) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "the justify certifies block " + Abbrev(justified.block_hash) + " at height " +
                      std::to_string(justified.height) + ", not the parent " +
                      Abbrev(header.parent_hash) + " at height " + std::to_string(height - 1));
    }
    if (parent != nullptr && !parent->header.next_validators.empty()) {
      // The first block of an epoch extends the last one of the epoch before, which no one
      // of the new set certifies: its justify is the epoch's root certificate, exactly.
      if (header.justify != epoch.RootCert()) {
        return Fail(ErrorCode::kInvalidArgument, height,
                    "the first block of epoch " + std::to_string(epoch.number) +
                        " does not start from the root certificate of block " +
                        std::to_string(height - 1));
      }
    } else if (parent != nullptr &&
               (justified.round != parent->header.round || justified.term != parent->header.term ||
                justified.epoch != parent->header.epoch)) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "the justify certifies the parent in " + VoteDataText(justified) +
                      ", the parent has term " + std::to_string(parent->header.term) + ", round " +
                      std::to_string(parent->header.round));
    }
    if (Status s = CheckCert(header.justify, height, "justify"); !s.ok()) return s;
    if (header.timeout_cert) {
      return CheckCert(*header.timeout_cert, height, "timeout certificate");
    }
    return Status::Ok();
  }

  // Rounds, terms and the leader: the chain rules the consensus core and block sync apply.
  Status CheckRounds(const BlockHeader& header) const {
    if (std::optional<ledger::HeaderRuleBroken> broken =
            ledger::CheckHeaderRules(header, context.validators)) {
      return Fail(ErrorCode::kInvalidArgument, header.height, broken->reason);
    }
    return Status::Ok();
  }

  // What honest validators check against the parent before voting.
  static Status CheckAgainstParent(const BlockHeader& header, const BlockHeader& parent) {
    const uint64_t height = header.height;
    if (header.timestamp_ms <= parent.timestamp_ms) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "timestamp_ms " + std::to_string(header.timestamp_ms) +
                      " is not after the parent's " + std::to_string(parent.timestamp_ms));
    }
    if (header.exec_height < parent.exec_height) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "exec_height " + std::to_string(header.exec_height) + " is below the parent's " +
                      std::to_string(parent.exec_height));
    }
    return Status::Ok();
  }

  const Checked* Find(uint64_t height) const {
    auto it = headers.find(height);
    return it == headers.end() ? nullptr : &it->second;
  }

  // The checked header a body at `height` is held to; a refusal when there is none.
  Result<const Checked*> HeaderForBody(uint64_t height) const {
    const Checked* checked = Find(height);
    if (checked == nullptr) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "no certified header was checked at this height (AddHeader first)");
    }
    if (height == 0) {
      return Fail(ErrorCode::kInvalidArgument, 0,
                  "the genesis block has no body: its header is all there is");
    }
    return checked;
  }

  AuditVerifier verifier;
  std::string chain_id;
  ledger::Epoch epoch;  // of the next header
  ledger::CertContext context;
  std::map<uint64_t, Checked> headers;  // the last `kept_headers` checked
  size_t kept_headers = 1;
};

ChainAuditor::ChainAuditor(contracts::GenesisChain genesis, size_t kept_headers)
    : genesis_(std::move(genesis)), impl_(std::make_unique<Impl>(genesis_)) {
  impl_->kept_headers = std::max<size_t>(kept_headers, 1);
}
ChainAuditor::~ChainAuditor() = default;
ChainAuditor::ChainAuditor(ChainAuditor&&) noexcept = default;
ChainAuditor& ChainAuditor::operator=(ChainAuditor&&) noexcept = default;

Status ChainAuditor::AddHeader(const CertifiedHeaderBytes& item) {
  const uint64_t height = item.height;
  const Impl::Checked* parent = nullptr;
  if (!impl_->headers.empty()) {
    const uint64_t last = impl_->headers.rbegin()->first;
    if (height != last + 1) {
      return Fail(ErrorCode::kInvalidArgument, height,
                  "expected height " + std::to_string(last + 1) + ", the next after " +
                      std::to_string(last));
    }
    parent = &impl_->headers.rbegin()->second;
  }
  Result<BlockHeader> decoded = DecodeCanonical<BlockHeader>(item.header, height, "the header");
  if (!decoded.ok()) return decoded.status();
  BlockHeader header = std::move(decoded.value());
  if (header.height != height) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "the header says height " + std::to_string(header.height));
  }
  const Hash256 hash = header.Hash();

  if (height == 0) {
    if (item.certificate) {
      return Fail(ErrorCode::kMalformed, 0, "the genesis block has no certificate, but one came");
    }
    if (hash != genesis_.block_hash) {
      return Fail(ErrorCode::kUnauthenticated, 0,
                  "the genesis header (hash " + Abbrev(hash) +
                      ") is not the one built from the genesis file (" +
                      Abbrev(genesis_.block_hash) +
                      "); differing: " + GenesisDifferences(header, genesis_.header));
    }
    impl_->headers.emplace(0, Impl::Checked{std::move(header), hash});
    ++stats_.headers;
    return Status::Ok();
  }

  if (header.chain_id != genesis_.header.chain_id) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "chain_id '" + header.chain_id + "' is not the genesis chain '" +
                    genesis_.header.chain_id + "'");
  }
  if (header.epoch != impl_->epoch.number) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "the header is of epoch " + std::to_string(header.epoch) + ", expected epoch " +
                    std::to_string(impl_->epoch.number) +
                    (parent == nullptr ? " (an audit that starts past a validator set change "
                                         "must start at height 0 to learn the set)"
                                       : ""));
  }
  if (!item.certificate) {
    return Fail(ErrorCode::kMalformed, height, "no certificate came with the header");
  }
  Result<QuorumCert> cert =
      DecodeCanonical<QuorumCert>(*item.certificate, height, "the certificate");
  if (!cert.ok()) return cert.status();

  Status status = impl_->CheckCertificate(cert.value(), header, hash);
  if (status.ok()) status = impl_->CheckParent(header, parent);
  if (status.ok()) status = impl_->CheckRounds(header);
  if (status.ok() && parent != nullptr) status = Impl::CheckAgainstParent(header, parent->header);
  if (status.ok() && header.exec_height >= height) {
    status = Fail(ErrorCode::kInvalidArgument, height,
                  "exec_height " + std::to_string(header.exec_height) +
                      " is not below the block's own height");
  }
  stats_.signatures = impl_->verifier.verified();
  if (!status.ok()) return status;

  // Two-chain commit rule: this block and its parent are certified, in consecutive rounds.
  if (ledger::CertifyingCommitsParent(header)) {
    stats_.proven_committed = std::max(stats_.proven_committed, height - 1);
  }
  impl_->Advance(header, hash);
  impl_->headers.emplace(height, Impl::Checked{std::move(header), hash});
  while (impl_->headers.size() > impl_->kept_headers) impl_->headers.erase(impl_->headers.begin());
  ++stats_.headers;
  return Status::Ok();
}

Status ChainAuditor::FollowEpochChange(const CertifiedHeaderBytes& last) {
  const uint64_t height = last.height;
  if (!impl_->headers.empty()) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "an epoch change is followed before the first header, not after");
  }
  Result<BlockHeader> decoded = DecodeCanonical<BlockHeader>(last.header, height, "the header");
  if (!decoded.ok()) return decoded.status();
  const BlockHeader& header = decoded.value();
  if (header.height != height || header.epoch != impl_->epoch.number ||
      header.next_validators.empty() || header.chain_id != genesis_.header.chain_id) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "not the last block of epoch " + std::to_string(impl_->epoch.number) +
                    " (it must be of that epoch and name the next validator set)");
  }
  if (!last.certificate) {
    return Fail(ErrorCode::kMalformed, height, "no certificate came with the header");
  }
  Result<QuorumCert> cert =
      DecodeCanonical<QuorumCert>(*last.certificate, height, "the certificate");
  if (!cert.ok()) return cert.status();
  const Hash256 hash = header.Hash();
  Status status = impl_->CheckCertificate(cert.value(), header, hash);
  if (status.ok()) status = impl_->CheckRounds(header);
  stats_.signatures = impl_->verifier.verified();
  if (!status.ok()) return status;
  impl_->Advance(header, hash);
  return Status::Ok();
}

uint64_t ChainAuditor::epoch() const { return impl_->epoch.number; }

Result<PreparedBlock> PrepareBlock(uint64_t height, ByteSpan encoded_block) {
  Result<ledger::Block> decoded =
      DecodeCanonical<ledger::Block>(encoded_block, height, "the block");
  if (!decoded.ok()) return decoded.status();
  PreparedBlock prepared;
  prepared.height_ = height;
  prepared.block_ = std::move(decoded.value());
  const ledger::Block& block = prepared.block_;
  prepared.hash_ = block.header.Hash();
  prepared.tx_root_ = block.ComputeTxRoot();
  prepared.tx_ids_.reserve(block.transactions.size());
  for (const ledger::Transaction& tx : block.transactions) prepared.tx_ids_.push_back(tx.Id());
  return prepared;
}

Status ChainAuditor::CheckBlock(uint64_t height, ByteSpan encoded_block) {
  if (Result<const Impl::Checked*> checked = impl_->HeaderForBody(height); !checked.ok()) {
    return checked.status();
  }
  Result<PreparedBlock> prepared = PrepareBlock(height, encoded_block);
  if (!prepared.ok()) return prepared.status();
  return CheckBlock(*prepared);
}

Status ChainAuditor::CheckBlock(const PreparedBlock& prepared) {
  const uint64_t height = prepared.height();
  Result<const Impl::Checked*> found = impl_->HeaderForBody(height);
  if (!found.ok()) return found.status();
  const Impl::Checked* checked = *found;
  const ledger::Block& block = prepared.block();
  const BlockHeader& header = block.header;
  const Hash256& hash = prepared.hash();
  if (hash != checked->hash) {
    return Fail(ErrorCode::kUnauthenticated, height,
                "the block's header (hash " + Abbrev(hash) + ") is not the certified header (" +
                    Abbrev(checked->hash) + ")");
  }
  const Hash256& tx_root = prepared.tx_root();
  const std::vector<Hash256>& tx_ids = prepared.tx_ids();
  if (tx_root != header.tx_root) {
    return Fail(ErrorCode::kUnauthenticated, height,
                "tx_root " + Abbrev(header.tx_root) + " does not match the block's " +
                    std::to_string(block.transactions.size()) + " transactions (" +
                    Abbrev(tx_root) + ")");
  }

  // The rules of each transaction in order, up to the first one broken; then the signatures
  // of the block and of every transaction before that one, all at once. The first failure in
  // the block's order is the one reported.
  const size_t count = block.transactions.size();
  std::vector<SignedMessage> signatures{{&header.proposer, hash.span(), &block.signature}};
  signatures.reserve(count + 1);
  std::set<Hash256> seen;
  auto which = [&](size_t i) {
    return "transaction " + std::to_string(i) + " (id " + Abbrev(tx_ids[i]) + ")";
  };
  Status broken = Status::Ok();
  for (size_t i = 0; i < count; ++i) {
    const ledger::Transaction& tx = block.transactions[i];
    if (Status s = tx.CheckStateless(genesis_.header.chain_id); !s.ok()) {
      broken = Fail(s.code(), height, which(i) + ": " + s.message());
      break;
    }
    if (!seen.insert(tx_ids[i]).second) {
      broken = Fail(ErrorCode::kInvalidArgument, height, which(i) + " appears twice in the block");
      break;
    }
    signatures.push_back({&tx.sender, tx_ids[i].span(), &tx.signature});
  }
  AuditVerifier& verifier = impl_->verifier;
  const std::vector<uint8_t> valid = verifier.VerifyOnce(signatures);
  Status status = broken;
  if (!valid[0]) {
    status =
        Fail(ErrorCode::kBadSignature, height,
             "the proposer's signature (" + EncodeAddress(header.proposer) + ") does not verify");
  } else if (auto bad = std::find(valid.begin() + 1, valid.end(), 0); bad != valid.end()) {
    const size_t i = size_t(bad - valid.begin()) - 1;
    status = Fail(ErrorCode::kBadSignature, height,
                  which(i) + ": its signature by " + EncodeAddress(block.transactions[i].sender) +
                      " does not verify");
  }
  stats_.signatures = verifier.verified();
  if (status.ok()) ++stats_.blocks;
  return status;
}

Status ChainAuditor::CheckState(uint64_t height, ByteSpan key, std::optional<ByteSpan> value,
                                const ledger::StateProof& proof) const {
  const Impl::Checked* checked = impl_->Find(height);
  if (checked == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, height,
                "no certified header was checked at this height (AddHeader first)");
  }
  const Status status = ledger::VerifyStateProof(checked->header.state_root, key, value, proof);
  if (status.ok()) return status;
  const std::string key_hex = ToHex(key);
  return Fail(status.code(), height,
              "the state proof for key " +
                  (key_hex.size() > 32 ? key_hex.substr(0, 32) + "..." : key_hex) +
                  (value ? "" : " (absent)") + " does not hold under state_root " +
                  Abbrev(checked->header.state_root) + " (exec_height " +
                  std::to_string(checked->header.exec_height) + "): " + status.message());
}

const ledger::BlockHeader* ChainAuditor::HeaderAt(uint64_t height) const {
  const Impl::Checked* checked = impl_->Find(height);
  return checked == nullptr ? nullptr : &checked->header;
}

}  // namespace city::wallet
