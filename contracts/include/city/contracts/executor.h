// Executes committed blocks through the registered contracts and produces what the ledger
// store commits: one result per transaction, the state writes and the index entries.
//
// Per transaction, in block order:
//   1. expiry: a transaction past its expiry height fails with kExpired;
//   2. sender: it must be enrolled (accounts.h), or it fails with kUnknownSender;
//   3. nonce: it must be the sender's next nonce, or it fails with kBadNonce;
//      (none of these consumes a nonce: the sender could not have meant it)
//   4. the nonce is consumed;
//   5. the contract method runs (arguments, permission, body); its writes, events and index
//      entries are kept only if it succeeds; a failure is recorded with its code.
// The same block on the same state always gives the same results, writes and state root.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "city/contracts/contract.h"
#include "city/ledger/records.h"
#include "city/ledger/store.h"

namespace city::contracts {

// The engine's own key space: "sys/nonce/<sender>" holds the sender's next nonce.
Bytes NonceKey(const PublicKey& account);
// Where governance keeps roles: "governance/role/<role>/<account>" exists when granted.
Bytes RoleKey(std::string_view role, const PublicKey& account);
bool HoldsRole(const StateReader& state, const PublicKey& account, std::string_view role);
// Where governance keeps parameters: "governance/param/<name>" holds a u64 (LE).
Bytes ParamKey(std::string_view name);
// Where governance keeps a role's sealing key: "governance/seal/<role>" holds the 32-byte
// Ed25519 key that personal text meant for the role is sealed to (crypto/seal.h).
Bytes SealingKeyKey(std::string_view role);
std::optional<PublicKey> SealingKeyIn(const StateReader& state, std::string_view role);
// Where governance counts an account's roles: "governance/member/<account>", a u64 (LE),
// absent when it holds none.
Bytes MemberKey(const PublicKey& account);
// The next nonce of `account` in `state` (0 when it has never sent).
uint64_t NextNonce(const StateReader& state, const PublicKey& account);

class Registry {
 public:
  Status Add(std::unique_ptr<Contract> contract);
  const Contract* Find(std::string_view name) const;
  std::vector<std::string> Names() const;

 private:
  std::map<std::string, std::unique_ptr<Contract>, std::less<>> contracts_;
};

struct BlockExecution {
  std::vector<ledger::TxResult> results;
  std::vector<ledger::StateWrite> writes;
  std::vector<ledger::IndexEntry> index_entries;
};

// Executes `transactions` at `block` on top of `state`. Throws StorageFailure only.
BlockExecution ExecuteBlock(const Registry& registry, const StateReader& state,
                            const BlockContext& block,
                            const std::vector<ledger::Transaction>& transactions);

// State read from a LedgerStore at its tip.
class StoreStateReader : public StateReader {
 public:
  explicit StoreStateReader(const ledger::LedgerStore& store) : store_(store) {}
  std::optional<Bytes> Get(ByteSpan key) const override;

 private:
  const ledger::LedgerStore& store_;
};

// Runs a contract's query on a store's committed state.
Result<Json> RunQuery(const Registry& registry, const ledger::LedgerStore& store,
                      std::string_view contract, std::string_view query, const Json& params);

}  // namespace city::contracts
