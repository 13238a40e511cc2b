#include "cert_cache.h"

#include <string>

namespace city::consensus {

Status CertCache::VerifyTimeout(const ledger::Timeout& timeout) {
  if (timeout.data.high_qc_round != timeout.high_qc.data.round) {
    return Status(ErrorCode::kInvalidArgument,
                  "timeout claims high QC round " + std::to_string(timeout.data.high_qc_round) +
                      " but carries round " + std::to_string(timeout.high_qc.data.round));
  }
  if (Status qc = Verify(timeout.high_qc); !qc.ok()) return qc;
  if (!VerifySignature(timeout.sender, timeout.data.Digest(context_.chain_id).span(),
                       timeout.signature)) {
    return Status(ErrorCode::kBadSignature, "timeout signature does not verify");
  }
  return Status::Ok();
}

}  // namespace city::consensus
