// The transactions `cityctl bench` offers. The "ubi" load is transfers among fresh accounts;
// the "all" load exercises every contract the way a city would: citizens transfer and claim
// basic income, patients grant consents, clinicians anchor records and read them under those
// consents, custodians commission and observe goods, and the council passes proposals.
//
// A load is built in stages. Each stage's transactions must commit before the next stage is
// built (a clinician needs its role before it anchors; a read needs the consent's id), and
// the last stage hands out the steady load, one transaction at a time, each sender's nonces
// in order. Every argument is encoded by the same typed builders `cityctl tx` uses.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/ledger/types.h"
#include "city/status.h"
#include "city/wallet/node_client.h"

namespace city::wallet::bench {

enum class Mix { kUbi, kAll };

// Parses "ubi" or "all"; kInvalidArgument otherwise.
Result<Mix> ParseMix(std::string_view name);

struct LoadTx {
  ledger::Transaction tx;
  std::string kind;  // "ubi.transfer", "emr.access", ... for the report
};

// A sender whose nonces the setup must see committed before the next stage.
struct AwaitNonce {
  PublicKey account;
  uint64_t next_nonce = 0;
};

struct Stage {
  std::vector<LoadTx> txs;
  std::vector<AwaitNonce> await;
};

class Workload {
 public:
  virtual ~Workload() = default;
  // The next setup stage, built after the previous one committed; nullopt when the setup is
  // done. `node` reads as whichever key a stage needs (a patient its own consents).
  virtual Result<std::optional<Stage>> NextSetupStage(NodeClient& node) = 0;
  // The k-th transaction of the steady load (k from 0, in the order they are offered).
  virtual LoadTx Next(size_t k) = 0;
  // The key of a sender of this load, to read its transactions' results as itself.
  virtual std::shared_ptr<const KeyPair> KeyOf(const PublicKey& sender) const = 0;
};

struct WorkloadKeys {
  KeyPair funder;                  // a registrar (or admin) holding ubi tokens
  std::optional<KeyPair> council;  // a council member: needed by Mix::kAll
};

// kInvalidArgument when the mix needs what it was not given (the council key, 8 accounts):
// checked before any node is asked, and again by MakeWorkload.
Status CheckWorkload(Mix mix, bool has_council, size_t accounts);

// kInvalidArgument as CheckWorkload says.
Result<std::unique_ptr<Workload>> MakeWorkload(Mix mix, const WorkloadKeys& keys,
                                               const std::string& chain_id, size_t accounts,
                                               uint64_t funder_nonce, uint64_t council_nonce,
                                               uint64_t tokens_per_account, uint64_t tip,
                                               uint64_t expiry);

}  // namespace city::wallet::bench
