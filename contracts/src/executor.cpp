// Block execution, the contract base class and queries (executor.h, contract.h).
#include "city/contracts/executor.h"

#include <algorithm>
#include <array>

#include "city/contracts/accounts.h"
#include "city/contracts/args.h"

namespace city::contracts {
namespace {

constexpr std::string_view kNonceSpace = "sys/nonce/";
constexpr std::string_view kRoleSpace = "governance/role/";
constexpr std::string_view kParamSpace = "governance/param/";
constexpr std::string_view kSealSpace = "governance/seal/";
constexpr std::string_view kMemberSpace = "governance/member/";
// Bounds on one call's effects, so a block of calls stays within what a commit should carry.
constexpr size_t kMaxIndexEntriesPerCall = 1024;
constexpr size_t kMaxWritesPerCall = 1024;

// Keys are built and compared as strings: GCC 12 reports false out-of-bounds warnings for
// the same operations on byte vectors at -O3.
Bytes ToBytes(const std::string& text) { return Bytes(text.begin(), text.end()); }
std::string ToText(ByteSpan bytes) { return std::string(bytes.begin(), bytes.end()); }
std::string KeyText(std::string_view space, std::string_view rest) {
  std::string key(space);
  key.append(rest);
  return key;
}

std::string ScopedKey(std::string_view contract, std::string_view key) {
  std::string out(contract);
  out.push_back('/');
  out.append(key);
  return out;
}

// Committed state plus everything earlier transactions of this block wrote.
class BlockState : public StateReader {
 public:
  explicit BlockState(const StateReader& committed) : committed_(committed) {}

  std::optional<Bytes> Get(ByteSpan key) const override {
    std::string text = ToText(key);
    if (auto it = written_.find(text); it != written_.end()) return it->second;
    // Committed state does not change during a block; roles, parameters and hot balances
    // are read by many of its transactions.
    if (auto it = read_.find(text); it != read_.end()) return it->second;
    std::optional<Bytes> value = committed_.Get(key);
    read_.emplace(std::move(text), value);
    return value;
  }
  std::optional<Bytes> Get(const std::string& key) const { return Get(AsBytes(key)); }
  void Apply(const Bytes& key, const std::optional<Bytes>& value) { written_[ToText(key)] = value; }

 private:
  const StateReader& committed_;
  std::map<std::string, std::optional<Bytes>> written_;
  mutable std::map<std::string, std::optional<Bytes>> read_;
};

std::optional<uint64_t> ParamIn(const StateReader& state, std::string_view name) {
  return ReadU64Value(state.Get(ParamKey(name)));
}

std::optional<PublicKey> SealingKeyOf(const std::optional<Bytes>& stored) {
  if (!stored || stored->size() != PublicKey::kSize) return std::nullopt;
  PublicKey key;
  std::copy(stored->begin(), stored->end(), key.bytes.begin());
  return key;
}

// One contract call: buffered writes over the block's state.
class BufferedCall : public Call {
 public:
  BufferedCall(const BlockState& state, const BlockContext& block, std::string_view contract,
               const ledger::Transaction& tx, const Hash256& tx_id, uint32_t tx_index)
      : state_(state),
        block_(block),
        contract_(contract),
        tx_(tx),
        tx_id_(tx_id),
        tx_index_(tx_index) {}

  const PublicKey& caller() const override { return tx_.sender; }
  const BlockContext& block() const override { return block_; }
  const Hash256& tx_id() const override { return tx_id_; }

  std::optional<Bytes> Get(std::string_view key) const override {
    const std::string full = ScopedKey(contract_, key);
    if (auto it = pending_.find(full); it != pending_.end()) return it->second;
    return state_.Get(full);
  }
  void Put(std::string_view key, Bytes value) override { Write(key, std::move(value)); }
  void Delete(std::string_view key) override { Write(key, std::nullopt); }

  bool HasRole(const PublicKey& account, std::string_view role) const override {
    // Roles live in governance's key space; a governance call may change them itself.
    const Bytes key = RoleKey(role, account);
    if (auto it = pending_.find(ToText(key)); it != pending_.end()) return it->second.has_value();
    return state_.Get(key).has_value();
  }
  std::optional<uint64_t> Param(std::string_view name) const override {
    const Bytes key = ParamKey(name);
    if (auto it = pending_.find(ToText(key)); it != pending_.end()) return ReadU64Value(it->second);
    return ParamIn(state_, name);
  }
  std::optional<PublicKey> SealingKey(std::string_view role) const override {
    const Bytes key = SealingKeyKey(role);
    if (auto it = pending_.find(ToText(key)); it != pending_.end()) {
      return SealingKeyOf(it->second);
    }
    return SealingKeyIn(state_, role);
  }
  void Emit(std::string_view name, Bytes data) override {
    events_.push_back({contract_, std::string(name), std::move(data)});
  }
  void Index(std::string_view index, Bytes key, Bytes value) override {
    index_entries_.push_back(
        {contract_, std::string(index), std::move(key), std::move(value), tx_index_});
  }
  void Relate(const PublicKey& account) override {
    if (account != tx_.sender &&
        std::find(related_.begin(), related_.end(), account) == related_.end()) {
      related_.push_back(account);
    }
  }

  // The call's effects must fit what the store accepts; a call that would exceed a limit
  // fails instead, so no transaction can make its block impossible to commit.
  Outcome CheckLimits() const {
    if (events_.size() > ledger::kMaxEventsPerTransaction ||
        related_.size() > ledger::kMaxRelatedAccounts ||
        index_entries_.size() > kMaxIndexEntriesPerCall || writes_.size() > kMaxWritesPerCall) {
      return Outcome::Fail(Code::kLimitExceeded,
                           "too many events, related accounts, writes or index entries");
    }
    for (const ledger::Event& event : events_) {
      if (!ledger::IsValidName(event.name) || event.data.size() > ledger::kMaxEventBytes) {
        return Outcome::Fail(Code::kLimitExceeded, "an event is too large or badly named");
      }
    }
    for (const ledger::StateWrite& write : writes_) {
      if (write.key.size() > ledger::kMaxStateKeyBytes ||
          (write.value && write.value->size() > ledger::kMaxStateValueBytes)) {
        return Outcome::Fail(Code::kLimitExceeded, "a state key or value is too large");
      }
    }
    for (const ledger::IndexEntry& entry : index_entries_) {
      if (!ledger::IsValidName(entry.index) || entry.key.size() > ledger::kMaxStateKeyBytes ||
          entry.value.size() > ledger::kMaxIndexValueBytes) {
        return Outcome::Fail(Code::kLimitExceeded, "an index entry is too large or badly named");
      }
    }
    return Outcome::Ok();
  }

  // Moves the successful call's effects into the block.
  void CommitTo(BlockState& state, BlockExecution& out, ledger::TxResult& result) {
    for (ledger::StateWrite& write : writes_) {
      state.Apply(write.key, write.value);
      out.writes.push_back(std::move(write));
    }
    for (ledger::IndexEntry& entry : index_entries_) out.index_entries.push_back(std::move(entry));
    result.events = std::move(events_);
    result.related_accounts = std::move(related_);
  }

 private:
  void Write(std::string_view key, std::optional<Bytes> value) {
    const std::string full = ScopedKey(contract_, key);
    pending_[full] = value;
    writes_.push_back({ToBytes(full), std::move(value), tx_index_});
  }

  const BlockState& state_;
  const BlockContext& block_;
  const std::string contract_;
  const ledger::Transaction& tx_;
  const Hash256 tx_id_;
  const uint32_t tx_index_;
  std::map<std::string, std::optional<Bytes>> pending_;
  std::vector<ledger::StateWrite> writes_;
  std::vector<ledger::Event> events_;
  std::vector<ledger::IndexEntry> index_entries_;
  std::vector<PublicKey> related_;
};

ledger::TxResult Failure(Code code, std::string detail) {
  ledger::TxResult result;
  result.code = static_cast<uint32_t>(code);
  result.detail = std::move(detail);
  if (result.detail.size() > ledger::kMaxResultDetailBytes) {
    result.detail.resize(ledger::kMaxResultDetailBytes);
  }
  return result;
}

}  // namespace

std::string_view CodeName(uint32_t code) {
  static constexpr std::array<std::string_view, 14> kNames = {"ok",
                                                              "bad_nonce",
                                                              "expired",
                                                              "unknown_contract",
                                                              "unknown_method",
                                                              "bad_arguments",
                                                              "permission_denied",
                                                              "not_found",
                                                              "already_exists",
                                                              "invalid_state",
                                                              "insufficient_funds",
                                                              "overflow",
                                                              "limit_exceeded",
                                                              "unknown_sender"};
  return code < kNames.size() ? kNames[code] : "contract_error";
}

Bytes ParamKey(std::string_view name) { return ToBytes(KeyText(kParamSpace, name)); }

Bytes SealingKeyKey(std::string_view role) { return ToBytes(KeyText(kSealSpace, role)); }

std::optional<PublicKey> SealingKeyIn(const StateReader& state, std::string_view role) {
  return SealingKeyOf(state.Get(SealingKeyKey(role)));
}

Bytes MemberKey(const PublicKey& account) {
  return ToBytes(KeyText(kMemberSpace, ToText(account.bytes)));
}

Bytes NonceKey(const PublicKey& account) {
  return ToBytes(KeyText(kNonceSpace, ToText(account.bytes)));
}

bool HoldsRole(const StateReader& state, const PublicKey& account, std::string_view role) {
  return state.Get(RoleKey(role, account)).has_value();
}

Bytes RoleKey(std::string_view role, const PublicKey& account) {
  std::string key = KeyText(kRoleSpace, role);
  key.push_back('/');
  key.append(ToText(account.bytes));
  return ToBytes(key);
}

uint64_t NextNonce(const StateReader& state, const PublicKey& account) {
  const std::optional<Bytes> stored = state.Get(NonceKey(account));
  return ReadU64Value(stored).value_or(0);
}

// ---- Contract ----

Outcome Contract::Invoke(Call& call, std::string_view method, ByteSpan args) const {
  auto it = methods_.find(method);
  if (it == methods_.end()) {
    return Outcome::Fail(Code::kUnknownMethod,
                         name_ + " has no method '" + std::string(method) + "'");
  }
  return it->second(call, args);
}

Result<Json> Contract::Query(const QueryContext& context, std::string_view query,
                             const Json& params) const {
  auto it = queries_.find(query);
  if (it == queries_.end()) {
    return Status{ErrorCode::kNotFound, name_ + " has no query '" + std::string(query) + "'"};
  }
  try {
    return it->second(context, params);
  } catch (const Json::exception& error) {
    return Status{ErrorCode::kInvalidArgument,
                  "bad query parameters (" + std::string(error.what()) + ")"};
  }
}

std::vector<std::string> Contract::MethodNames() const {
  std::vector<std::string> names;
  for (const auto& [method, handler] : methods_) names.push_back(method);
  return names;
}

std::vector<std::string> Contract::QueryNames() const {
  std::vector<std::string> names;
  for (const auto& [query, handler] : queries_) names.push_back(query);
  return names;
}

// ---- Registry ----

Status Registry::Add(std::unique_ptr<Contract> contract) {
  if (!ledger::IsValidName(contract->name())) {
    return {ErrorCode::kInvalidArgument, "invalid contract name '" + contract->name() + "'"};
  }
  const std::string name = contract->name();
  if (!contracts_.emplace(name, std::move(contract)).second) {
    return {ErrorCode::kAlreadyExists, "contract '" + name + "' is registered twice"};
  }
  return Status::Ok();
}

const Contract* Registry::Find(std::string_view name) const {
  auto it = contracts_.find(name);
  return it == contracts_.end() ? nullptr : it->second.get();
}

std::vector<std::string> Registry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, contract] : contracts_) names.push_back(name);
  return names;
}

// ---- execution ----

BlockExecution ExecuteBlock(const Registry& registry, const StateReader& committed,
                            const BlockContext& block,
                            const std::vector<ledger::Transaction>& transactions) {
  BlockExecution out;
  BlockState state(committed);
  for (uint32_t index = 0; index < transactions.size(); ++index) {
    const ledger::Transaction& tx = transactions[index];
    if (tx.expiry_height < block.height) {
      out.results.push_back(Failure(Code::kExpired, "past its expiry height"));
      continue;
    }
    if (!IsEnrolled(state, tx.sender)) {
      out.results.push_back(Failure(Code::kUnknownSender, "the sender is not enrolled"));
      continue;
    }
    const uint64_t expected = NextNonce(state, tx.sender);
    if (tx.nonce != expected) {
      out.results.push_back(Failure(Code::kBadNonce, "nonce " + std::to_string(tx.nonce) +
                                                         ", expected " + std::to_string(expected)));
      continue;
    }
    // The nonce is consumed whatever the call does.
    const Bytes nonce_key = NonceKey(tx.sender);
    Bytes next = U64Value(expected + 1);
    state.Apply(nonce_key, next);
    out.writes.push_back({nonce_key, std::move(next), index});

    const Contract* contract = registry.Find(tx.contract);
    if (contract == nullptr) {
      out.results.push_back(Failure(Code::kUnknownContract, "no contract '" + tx.contract + "'"));
      continue;
    }
    BufferedCall call(state, block, tx.contract, tx, tx.Id(), index);
    Outcome outcome = contract->Invoke(call, tx.method, tx.args);
    if (outcome.ok()) outcome = call.CheckLimits();
    if (outcome.ok()) {
      ledger::TxResult result;
      call.CommitTo(state, out, result);
      out.results.push_back(std::move(result));
    } else {
      out.results.push_back(Failure(outcome.code, std::move(outcome.detail)));
    }
  }
  return out;
}

std::optional<Bytes> StoreStateReader::Get(ByteSpan key) const {
  Result<std::optional<Bytes>> value = store_.GetState(key);
  if (!value.ok()) throw StorageFailure{value.status()};
  return std::move(value).value();
}

namespace {

class StoreQueryContext : public QueryContext {
 public:
  StoreQueryContext(const ledger::LedgerStore& store, std::string_view contract)
      : store_(store), reader_(store), contract_(contract) {}

  std::optional<Bytes> Get(std::string_view key) const override {
    return reader_.Get(AsBytes(ScopedKey(contract_, key)));
  }
  bool HasRole(const PublicKey& account, std::string_view role) const override {
    return HoldsRole(reader_, account, role);
  }
  std::optional<uint64_t> Param(std::string_view name) const override {
    return ParamIn(reader_, name);
  }
  std::optional<PublicKey> SealingKey(std::string_view role) const override {
    return SealingKeyIn(reader_, role);
  }
  Result<ledger::Page<ledger::IndexItem>> Index(std::string_view index, ByteSpan key,
                                                const ledger::PageRequest& page) const override {
    return store_.IndexScan(contract_, index, key, page);
  }
  uint64_t height() const override { return store_.tip().height; }

 private:
  const ledger::LedgerStore& store_;
  StoreStateReader reader_;
  std::string contract_;
};

}  // namespace

Result<Json> RunQuery(const Registry& registry, const ledger::LedgerStore& store,
                      std::string_view contract, std::string_view query, const Json& params) {
  const Contract* found = registry.Find(contract);
  if (found == nullptr) {
    return Status{ErrorCode::kNotFound, "no contract '" + std::string(contract) + "'"};
  }
  try {
    return found->Query(StoreQueryContext(store, contract), query, params);
  } catch (const StorageFailure& failure) {
    return failure.status;
  }
}

}  // namespace city::contracts
