// Certificate verification for one core: each QC or TC is verified once (by its encoding's
// hash); the SignatureVerifier also caches the signatures that several certificates share.
#pragma once

#include <set>

#include "city/crypto/verifier.h"
#include "city/ledger/types.h"

namespace city::consensus {

class CertCache {
 public:
  explicit CertCache(ledger::CertContext context) : context_(std::move(context)) {}

  Status Verify(const ledger::QuorumCert& qc) { return VerifyOnce(qc); }
  Status Verify(const ledger::TimeoutCert& tc) { return VerifyOnce(tc); }
  // A timeout: its QC through the cache, so only the sender's own signature is new work
  // (Timeout::Verify would check the QC's quorum of signatures again for every sender).
  Status VerifyTimeout(const ledger::Timeout& timeout);
  // For certificates built here from signatures already checked one by one.
  template <typename Cert>
  void MarkVerified(const Cert& cert) {
    Remember(Blake2b256(ledger::Encode(cert)));
  }
  bool VerifySignature(const PublicKey& key, ByteSpan message, const Signature& sig) const {
    return context_.VerifySignature(key, message, sig);
  }

 private:
  static constexpr size_t kMaxVerified = 4096;

  template <typename Cert>
  Status VerifyOnce(const Cert& cert) {
    const Hash256 id = Blake2b256(ledger::Encode(cert));
    if (verified_.contains(id)) return Status::Ok();
    Status status = cert.Verify(context_);
    if (status.ok()) Remember(id);
    return status;
  }
  // The one way in, so the bound holds whoever adds.
  void Remember(const Hash256& id) {
    if (verified_.size() >= kMaxVerified) verified_.clear();
    verified_.insert(id);
  }

  ledger::CertContext context_;
  std::set<Hash256> verified_;
};

}  // namespace city::consensus
