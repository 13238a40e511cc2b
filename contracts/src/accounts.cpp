// The accounts contract and the enrolment rule (accounts.h).
#include "city/contracts/accounts.h"

#include <set>

#include "city/contracts/executor.h"
#include "city/contracts/governance.h"
#include "city/contracts/ubi.h"

namespace city::contracts {
namespace {

constexpr std::string_view kCountKey = "count";

std::string EnrolledStateKey(const PublicKey& account) {
  std::string key = "enrolled/";
  key.append(account.bytes.begin(), account.bytes.end());
  return key;
}

Bytes EnrolledKey(const PublicKey& account) {
  const std::string key = std::string(kAccounts) + "/" + EnrolledStateKey(account);
  return Bytes(key.begin(), key.end());
}

uint64_t Count(const Call& call) { return ReadU64Value(call.Get(kCountKey)).value_or(0); }

class Accounts : public Contract {
 public:
  Accounts() : Contract(std::string(kAccounts)) {
    auto registrar_or_admin =
        Permission<EnrolArgs>{{std::string(kRegistrarRole), std::string(kAdminRole)}, nullptr};
    AddMethod<EnrolArgs>(
        "enrol", registrar_or_admin, [](Call& call, const EnrolArgs& args) -> Outcome {
          if (!args.account.IsValidPoint()) {
            return Outcome::Fail(Code::kBadArguments, "invalid account");
          }
          const std::string key = EnrolledStateKey(args.account);
          if (call.Get(key)) {
            return Outcome::Fail(Code::kAlreadyExists, "already enrolled");
          }
          call.Put(key, ledger::Encode(Enrolment{call.caller(), call.block().timestamp_ms}));
          call.Put(kCountKey, U64Value(Count(call) + 1));
          call.Emit("enrolled", {});
          call.Relate(args.account);
          return Outcome::Ok();
        });
    AddMethod<EnrolArgs>("revoke", registrar_or_admin,
                         [](Call& call, const EnrolArgs& args) -> Outcome {
                           const std::string key = EnrolledStateKey(args.account);
                           if (!call.Get(key)) {
                             return Outcome::Fail(Code::kNotFound, "not enrolled here");
                           }
                           call.Delete(key);
                           call.Put(kCountKey, U64Value(Count(call) - 1));
                           call.Emit("enrolment_revoked", {});
                           call.Relate(args.account);
                           return Outcome::Ok();
                         });
    // This contract's record only; whether the account may submit at all (also through a
    // role or citizenship) is EnrolmentOf, in GET /v1/accounts/{address}.
    AddQuery("enrolment", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> account = AccountFromJson(params, "account");
      if (!account.ok()) return account.status();
      Json out = {{"account", EncodeAddress(*account)}, {"enrolled_here", false}};
      if (std::optional<Enrolment> record =
              LoadRecord<Enrolment>(context.Get(EnrolledStateKey(*account)))) {
        out["enrolled_here"] = true;
        out["by"] = record->by.IsZero() ? Json("genesis") : Json(EncodeAddress(record->by));
        out["since_ms"] = record->since_ms;
      }
      return out;
    });
  }
};

}  // namespace

const char* EnrolledViaName(EnrolledVia via) {
  switch (via) {
    case EnrolledVia::kNone:
      return "none";
    case EnrolledVia::kRegistry:
      return "registry";
    case EnrolledVia::kRole:
      return "role";
    case EnrolledVia::kCitizen:
      return "citizen";
  }
  return "none";
}

EnrolledVia EnrolmentOf(const StateReader& state, const PublicKey& account) {
  if (state.Get(EnrolledKey(account))) return EnrolledVia::kRegistry;
  if (state.Get(MemberKey(account))) return EnrolledVia::kRole;
  if (state.Get(UbiCitizenKey(account))) return EnrolledVia::kCitizen;
  return EnrolledVia::kNone;
}

std::unique_ptr<Contract> MakeAccounts() { return std::make_unique<Accounts>(); }

Result<std::vector<ledger::StateWrite>> AccountsGenesisWrites(
    const std::vector<PublicKey>& accounts) {
  const std::set<PublicKey> distinct(accounts.begin(), accounts.end());
  std::vector<ledger::StateWrite> writes;
  for (const PublicKey& account : distinct) {
    if (!account.IsValidPoint()) {
      return Status{ErrorCode::kInvalidArgument, "invalid genesis account"};
    }
    writes.push_back(GenesisStateWrite(kAccounts, EnrolledStateKey(account),
                                       ledger::Encode(Enrolment{PublicKey{}, 0})));
  }
  writes.push_back(GenesisStateWrite(kAccounts, kCountKey, U64Value(distinct.size())));
  return writes;
}

}  // namespace city::contracts
