// The basic-income contract (ubi.h).
#include "city/contracts/ubi.h"

#include <algorithm>
#include <set>

#include "city/contracts/governance.h"

namespace city::contracts {

namespace {

std::string AccountKey(std::string_view space, const PublicKey& account) {
  std::string key(space);
  key.append(account.bytes.begin(), account.bytes.end());
  return key;
}
std::string CitizenKey(const PublicKey& account) { return AccountKey("citizen/", account); }
std::string BalanceKey(const PublicKey& account) { return AccountKey("balance/", account); }
std::string PersonKey(const Hash256& person_id) {
  std::string key("person/");
  key.append(person_id.bytes.begin(), person_id.bytes.end());
  return key;
}
constexpr std::string_view kIssuedKey = "issued";
constexpr std::string_view kBurnedKey = "burned";
constexpr std::string_view kCitizensKey = "citizens";
constexpr std::string_view kClaimsIndex = "claims";

Bytes KeyBytes(const PublicKey& account) {
  return Bytes(account.bytes.begin(), account.bytes.end());
}

uint64_t Counter(const Call& call, std::string_view key) {
  return ReadU64Value(call.Get(key)).value_or(0);
}

// Zero balances are deleted, so the key space holds only accounts that hold tokens.
void PutBalance(Call& call, const PublicKey& account, uint64_t balance) {
  if (balance == 0) {
    call.Delete(BalanceKey(account));
  } else {
    call.Put(BalanceKey(account), U64Value(balance));
  }
}

Outcome Overflow(const char* what) {
  return Outcome::Fail(Code::kOverflow, std::string(what) + " would pass 2^64 - 1");
}

// A required, non-zero governance parameter.
Result<uint64_t> RequiredParam(const Call& call, std::string_view name) {
  const std::optional<uint64_t> value = call.Param(name);
  if (!value) return Status{ErrorCode::kNotFound, "parameter " + std::string(name) + " is not set"};
  if (*value == 0) return Status{ErrorCode::kNotFound, "parameter " + std::string(name) + " is 0"};
  return *value;
}

Outcome Register(Call& call, const UbiRegisterArgs& args) {
  if (!args.account.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid account");
  if (args.person_id.IsZero()) return Outcome::Fail(Code::kBadArguments, "empty person id");
  if (call.Get(CitizenKey(args.account))) {
    return Outcome::Fail(Code::kAlreadyExists, "account already registered");
  }
  if (call.Get(PersonKey(args.person_id))) {
    return Outcome::Fail(Code::kAlreadyExists, "person already registered with another account");
  }
  const uint64_t now = call.block().timestamp_ms;
  const UbiCitizen citizen{args.person_id, now, now, 0, 0};
  call.Put(CitizenKey(args.account), ledger::Encode(citizen));
  call.Put(PersonKey(args.person_id), KeyBytes(args.account));
  call.Put(kCitizensKey, U64Value(Counter(call, kCitizensKey) + 1));
  call.Emit("registered", ledger::Encode(args));
  call.Relate(args.account);
  return Outcome::Ok();
}

// A suspended citizen cannot claim, but keeps and may transfer or burn what it holds: the
// suspension stops new issuance, it does not freeze property (the lead's decision).
Outcome Suspend(Call& call, const UbiCitizenArgs& args) {
  std::optional<UbiCitizen> citizen = LoadRecord<UbiCitizen>(call.Get(CitizenKey(args.account)));
  if (!citizen) return Outcome::Fail(Code::kNotFound, "not a registered citizen");
  if (citizen->suspended) return Outcome::Fail(Code::kInvalidState, "already suspended");
  citizen->suspended = 1;
  citizen->suspended_ms = call.block().timestamp_ms;
  call.Put(CitizenKey(args.account), ledger::Encode(*citizen));
  call.Emit("suspended", ledger::Encode(args));
  call.Relate(args.account);
  return Outcome::Ok();
}

// No issuance accrues while suspended: the baseline moves forward by the suspension's length,
// so periods earned before it (and the fraction of a period) are kept, the suspended time is
// not paid.
Outcome Resume(Call& call, const UbiCitizenArgs& args) {
  std::optional<UbiCitizen> citizen = LoadRecord<UbiCitizen>(call.Get(CitizenKey(args.account)));
  if (!citizen) return Outcome::Fail(Code::kNotFound, "not a registered citizen");
  if (!citizen->suspended) return Outcome::Fail(Code::kInvalidState, "not suspended");
  const uint64_t now = call.block().timestamp_ms;
  const uint64_t suspended_for = now > citizen->suspended_ms ? now - citizen->suspended_ms : 0;
  uint64_t baseline = 0;
  if (__builtin_add_overflow(citizen->baseline_ms, suspended_for, &baseline) || baseline > now) {
    baseline = now;
  }
  citizen->baseline_ms = baseline;
  citizen->suspended = 0;
  citizen->suspended_ms = 0;
  call.Put(CitizenKey(args.account), ledger::Encode(*citizen));
  call.Emit("resumed", ledger::Encode(args));
  call.Relate(args.account);
  return Outcome::Ok();
}

Outcome Claim(Call& call, const UbiClaimArgs& /*args*/) {
  const PublicKey& account = call.caller();
  std::optional<UbiCitizen> citizen = LoadRecord<UbiCitizen>(call.Get(CitizenKey(account)));
  if (!citizen) return Outcome::Fail(Code::kPermissionDenied, "caller is not a registered citizen");
  if (citizen->suspended) return Outcome::Fail(Code::kInvalidState, "registration is suspended");
  const Result<uint64_t> amount = RequiredParam(call, kUbiAmountParam);
  if (!amount.ok()) return Outcome::Fail(Code::kInvalidState, amount.status().message());
  const Result<uint64_t> period = RequiredParam(call, kUbiPeriodParam);
  if (!period.ok()) return Outcome::Fail(Code::kInvalidState, period.status().message());
  const Result<uint64_t> max_periods = RequiredParam(call, kUbiMaxPeriodsParam);
  if (!max_periods.ok()) return Outcome::Fail(Code::kInvalidState, max_periods.status().message());

  const uint64_t now = call.block().timestamp_ms;
  const uint64_t elapsed = now > citizen->baseline_ms ? (now - citizen->baseline_ms) / *period : 0;
  if (elapsed == 0) {
    return Outcome::Fail(Code(UbiCode::kNoPeriodElapsed), "no whole period since the last claim");
  }
  const uint64_t paid = std::min(elapsed, *max_periods);
  uint64_t tokens = 0;
  if (__builtin_mul_overflow(paid, *amount, &tokens)) return Overflow("the claim");
  uint64_t issued = 0;
  if (__builtin_add_overflow(Counter(call, kIssuedKey), tokens, &issued)) {
    return Overflow("total issued");
  }
  uint64_t balance = 0;
  if (__builtin_add_overflow(Counter(call, BalanceKey(account)), tokens, &balance)) {
    return Overflow("the balance");
  }
  // Whole periods only (elapsed * period <= now - baseline), so the fraction carries over;
  // periods past the cap are forfeited, not deferred.
  citizen->baseline_ms += elapsed * *period;
  call.Put(CitizenKey(account), ledger::Encode(*citizen));
  call.Put(kIssuedKey, U64Value(issued));
  PutBalance(call, account, balance);
  const UbiClaimRecord record{account, now, paid, elapsed - paid, tokens, citizen->baseline_ms};
  Bytes encoded = ledger::Encode(record);
  call.Index(kClaimsIndex, KeyBytes(account), encoded);
  call.Emit("claimed", std::move(encoded));
  return Outcome::Ok();
}

// Any holder, citizen or not, suspended or not.
Outcome Transfer(Call& call, const UbiTransferArgs& args) {
  const PublicKey& from = call.caller();
  if (args.amount == 0) return Outcome::Fail(Code::kBadArguments, "amount is 0");
  if (!args.to.IsValidPoint()) return Outcome::Fail(Code::kBadArguments, "invalid recipient");
  if (args.to == from) return Outcome::Fail(Code::kBadArguments, "transfer to oneself");
  const uint64_t from_balance = Counter(call, BalanceKey(from));
  if (from_balance < args.amount) {
    return Outcome::Fail(Code::kInsufficientFunds, "balance is below the amount");
  }
  uint64_t to_balance = 0;
  // Cannot happen while the invariant holds (every balance <= issued); checked regardless.
  if (__builtin_add_overflow(Counter(call, BalanceKey(args.to)), args.amount, &to_balance)) {
    return Overflow("the recipient's balance");
  }
  PutBalance(call, from, from_balance - args.amount);
  PutBalance(call, args.to, to_balance);
  call.Emit("transferred", ledger::Encode(UbiTransferRecord{from, args.to, args.amount}));
  call.Relate(args.to);
  return Outcome::Ok();
}

Outcome Burn(Call& call, const UbiBurnArgs& args) {
  const PublicKey& from = call.caller();
  if (args.amount == 0) return Outcome::Fail(Code::kBadArguments, "amount is 0");
  const uint64_t balance = Counter(call, BalanceKey(from));
  if (balance < args.amount) {
    return Outcome::Fail(Code::kInsufficientFunds, "balance is below the amount");
  }
  uint64_t burned = 0;
  if (__builtin_add_overflow(Counter(call, kBurnedKey), args.amount, &burned)) {
    return Overflow("total burned");
  }
  PutBalance(call, from, balance - args.amount);
  call.Put(kBurnedKey, U64Value(burned));
  call.Emit("burned", ledger::Encode(UbiTransferRecord{from, PublicKey{}, args.amount}));
  return Outcome::Ok();
}

Json AccountJson(const PublicKey& key) { return EncodeAddress(key); }

uint64_t QueryCounter(const QueryContext& context, std::string_view key) {
  return ReadU64Value(context.Get(key)).value_or(0);
}

Result<Json> BalanceQuery(const QueryContext& context, const Json& params) {
  Result<PublicKey> account = AccountFromJson(params, "account");
  if (!account.ok()) return account.status();
  return Json{{"account", AccountJson(*account)},
              {"balance", QueryCounter(context, BalanceKey(*account))}};
}

Result<Json> CitizenQuery(const QueryContext& context, const Json& params) {
  Result<PublicKey> account = AccountFromJson(params, "account");
  if (!account.ok()) return account.status();
  const std::optional<UbiCitizen> citizen =
      LoadRecord<UbiCitizen>(context.Get(CitizenKey(*account)));
  if (!citizen) return Json{{"account", AccountJson(*account)}, {"registered", false}};
  return Json{{"account", AccountJson(*account)},        {"registered", true},
              {"person_id", citizen->person_id.ToHex()}, {"registered_ms", citizen->registered_ms},
              {"baseline_ms", citizen->baseline_ms},     {"suspended", citizen->suspended == 1},
              {"suspended_ms", citizen->suspended_ms}};
}

Result<Json> PersonQuery(const QueryContext& context, const Json& params) {
  Result<Hash256> person = Hash256::FromHex(params.at("person_id").get<std::string>());
  if (!person.ok()) return Status{ErrorCode::kInvalidArgument, "person_id is not 32 hex bytes"};
  const std::optional<Bytes> stored = context.Get(PersonKey(*person));
  if (!stored) return Json{{"person_id", person->ToHex()}, {"account", nullptr}};
  Result<PublicKey> account = PublicKey::FromSpan(*stored);
  if (!account.ok()) throw StorageFailure{{ErrorCode::kCorruption, "a person entry is damaged"}};
  return Json{{"person_id", person->ToHex()}, {"account", AccountJson(*account)}};
}

Result<Json> SupplyQuery(const QueryContext& context, const Json& /*params*/) {
  const uint64_t issued = QueryCounter(context, kIssuedKey);
  const uint64_t burned = QueryCounter(context, kBurnedKey);
  if (burned > issued) throw StorageFailure{{ErrorCode::kCorruption, "burned exceeds issued"}};
  return Json{{"issued", issued},
              {"burned", burned},
              {"supply", issued - burned},
              {"citizens", QueryCounter(context, kCitizensKey)}};
}

Result<Json> ClaimsQuery(const QueryContext& context, const Json& params) {
  Result<PublicKey> account = AccountFromJson(params, "account");
  if (!account.ok()) return account.status();
  Result<ledger::PageRequest> page = PageFromJson(params);
  if (!page.ok()) return page.status();
  Result<ledger::Page<ledger::IndexItem>> found =
      context.Index(kClaimsIndex, KeyBytes(*account), *page);
  if (!found.ok()) return found.status();
  Json items = Json::array();
  for (const ledger::IndexItem& item : found->items) {
    const std::optional<UbiClaimRecord> claim = LoadRecord<UbiClaimRecord>(item.value);
    items.push_back({{"height", item.location.height},
                     {"index", item.location.index},
                     {"time_ms", claim->time_ms},
                     {"periods", claim->periods},
                     {"forfeited", claim->forfeited},
                     {"amount", claim->amount},
                     {"baseline_ms", claim->baseline_ms}});
  }
  return Json{{"account", AccountJson(*account)},
              {"claims", items},
              {"next_cursor", PageToJson(found->next_cursor)}};
}

class Ubi : public Contract {
 public:
  Ubi() : Contract(std::string(kUbi)) {
    const std::string registrar(kRegistrarRole);
    AddMethod<UbiRegisterArgs>("register", Permission<UbiRegisterArgs>::Role(registrar), Register);
    AddMethod<UbiCitizenArgs>("suspend", Permission<UbiCitizenArgs>::Role(registrar), Suspend);
    AddMethod<UbiCitizenArgs>("resume", Permission<UbiCitizenArgs>::Role(registrar), Resume);
    // Claim, transfer and burn act on the caller's own account; Claim checks citizenship.
    AddMethod<UbiClaimArgs>("claim", Permission<UbiClaimArgs>::Anyone(), Claim);
    AddMethod<UbiTransferArgs>("transfer", Permission<UbiTransferArgs>::Anyone(), Transfer);
    AddMethod<UbiBurnArgs>("burn", Permission<UbiBurnArgs>::Anyone(), Burn);
    AddQuery("balance", BalanceQuery);
    AddQuery("citizen", CitizenQuery);
    AddQuery("person", PersonQuery);
    AddQuery("supply", SupplyQuery);
    AddQuery("claims", ClaimsQuery);
  }
};

}  // namespace

Bytes UbiCitizenKey(const PublicKey& account) {
  const std::string key = std::string(kUbi) + "/" + CitizenKey(account);
  return Bytes(key.begin(), key.end());
}

std::unique_ptr<Contract> MakeUbi() { return std::make_unique<Ubi>(); }

Result<std::vector<ledger::StateWrite>> UbiGenesisWrites(const UbiGenesis& genesis) {
  std::set<PublicKey> seen;
  uint64_t issued = 0;
  std::vector<ledger::StateWrite> writes;
  for (const auto& [account, balance] : genesis.balances) {
    if (!account.IsValidPoint()) {
      return Status{ErrorCode::kInvalidArgument, "invalid genesis account"};
    }
    if (!seen.insert(account).second) {
      return Status{ErrorCode::kInvalidArgument, "a genesis account is listed twice"};
    }
    if (balance == 0) return Status{ErrorCode::kInvalidArgument, "a genesis balance is 0"};
    if (__builtin_add_overflow(issued, balance, &issued)) {
      return Status{ErrorCode::kInvalidArgument, "genesis balances pass 2^64 - 1"};
    }
    writes.push_back(GenesisStateWrite(kUbi, BalanceKey(account), U64Value(balance)));
  }
  if (issued != 0)
    writes.push_back(GenesisStateWrite(kUbi, std::string(kIssuedKey), U64Value(issued)));
  return writes;
}

}  // namespace city::contracts
