// The governance contract (governance.h).
#include "city/contracts/governance.h"

#include <algorithm>
#include <set>

#include "city/contracts/executor.h"
#include "city/ledger/chain_rules.h"

namespace city::contracts {

namespace {

using Proposer = PublicKey;

struct Proposal {
  uint64_t id = 0;
  PublicKey proposer;
  Action action;
  uint64_t expiry_height = 0;
  std::vector<PublicKey> approvals;
  uint8_t passed = 0;
  uint64_t passed_height = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.id);
    v.Fixed(t.proposer);
    v.Object(t.action);
    v.U64(t.expiry_height);
    v.FixedList(t.approvals, kMaxProposalApprovals, "proposal approvals");
    v.U8(t.passed);
    v.U64(t.passed_height);
  }
  CITY_CONTRACT_CODEC(Proposal);
};

constexpr std::string_view kThresholdParam = "council_threshold";

std::string RoleStateKey(std::string_view role, const PublicKey& account) {
  std::string key = "role/";
  key.append(role);
  key.push_back('/');
  key.append(account.bytes.begin(), account.bytes.end());
  return key;
}
std::string RoleCountKey(std::string_view role) { return "role_count/" + std::string(role); }
std::string ProposalKey(uint64_t id) { return "proposal/" + U64Key(id); }
std::string ValidatorsKey(uint64_t epoch) { return "validators/" + U64Key(epoch); }
constexpr std::string_view kLatestEpochKey = "latest_epoch";
uint64_t LatestEpoch(Call& call) {
  return ReadU64Value(call.Get(std::string(kLatestEpochKey))).value_or(0);
}
std::string ParamStateKey(std::string_view name) { return "param/" + std::string(name); }
// The call's key space form of SealingKeyKey (executor.h).
std::string SealStateKey(std::string_view role) { return "seal/" + std::string(role); }
// The call's key space form of MemberKey (executor.h): "member/<account>".
std::string MemberStateKey(const PublicKey& account) {
  std::string key = "member/";
  key.append(account.bytes.begin(), account.bytes.end());
  return key;
}

// One more or one fewer role held by `account`: the count enrolment reads (accounts.h).
void CountMembership(Call& call, const PublicKey& account, bool granted) {
  const std::string key = MemberStateKey(account);
  const uint64_t held = ReadU64Value(call.Get(key)).value_or(0);
  if (granted) {
    call.Put(key, U64Value(held + 1));
  } else if (held <= 1) {
    call.Delete(key);
  } else {
    call.Put(key, U64Value(held - 1));
  }
}

uint64_t Counter(const Call& call, const std::string& key) {
  return ReadU64Value(call.Get(key)).value_or(0);
}

Outcome CheckAction(const Action& action) {
  switch (static_cast<ActionKind>(action.kind)) {
    case ActionKind::kGrantRole:
    case ActionKind::kRevokeRole:
      if (!ledger::IsValidName(action.name))
        return Outcome::Fail(Code::kBadArguments, "invalid role name");
      if (!action.account.IsValidPoint())
        return Outcome::Fail(Code::kBadArguments, "invalid account");
      return Outcome::Ok();
    case ActionKind::kSetSealingKey:
      if (!ledger::IsValidName(action.name))
        return Outcome::Fail(Code::kBadArguments, "invalid role name");
      if (!action.account.IsValidPoint())
        return Outcome::Fail(Code::kBadArguments, "invalid sealing key");
      return Outcome::Ok();
    case ActionKind::kSetParameter:
      if (!ledger::IsValidName(action.name))
        return Outcome::Fail(Code::kBadArguments, "invalid parameter name");
      if (action.name == kThresholdParam &&
          (action.value == 0 || action.value > kMaxProposalApprovals)) {
        return Outcome::Fail(Code::kBadArguments, "the council threshold must be 1.." +
                                                      std::to_string(kMaxProposalApprovals) +
                                                      " (the most approvals a proposal holds)");
      }
      return Outcome::Ok();
    case ActionKind::kSetValidators:
      // The rule every reader of a header applies to the set it names (ledger/chain_rules.h).
      if (std::optional<std::string> problem = ledger::ValidatorChangeProblem(action.validators)) {
        return Outcome::Fail(Code::kBadArguments, *problem);
      }
      return Outcome::Ok();
  }
  return Outcome::Fail(Code::kBadArguments, "unknown action kind");
}

// Carries out a passed proposal's action.
Outcome Execute(Call& call, const Action& action) {
  switch (static_cast<ActionKind>(action.kind)) {
    case ActionKind::kGrantRole: {
      const std::string key = RoleStateKey(action.name, action.account);
      if (call.Get(key)) return Outcome::Ok();  // already held
      call.Put(key, {});
      call.Put(RoleCountKey(action.name), U64Value(Counter(call, RoleCountKey(action.name)) + 1));
      CountMembership(call, action.account, /*granted=*/true);
      call.Emit("role_granted", Bytes(action.name.begin(), action.name.end()));
      call.Relate(action.account);
      return Outcome::Ok();
    }
    case ActionKind::kRevokeRole: {
      const std::string key = RoleStateKey(action.name, action.account);
      if (!call.Get(key)) return Outcome::Ok();  // not held
      const uint64_t holders = Counter(call, RoleCountKey(action.name)) - 1;
      if (action.name == kCouncilRole && holders < call.Param(kThresholdParam).value_or(1)) {
        return Outcome::Fail(Code::kInvalidState,
                             "revoking would leave fewer council members than the threshold");
      }
      call.Delete(key);
      call.Put(RoleCountKey(action.name), U64Value(holders));
      CountMembership(call, action.account, /*granted=*/false);
      call.Emit("role_revoked", Bytes(action.name.begin(), action.name.end()));
      call.Relate(action.account);
      return Outcome::Ok();
    }
    case ActionKind::kSetParameter:
      if (action.name == kThresholdParam &&
          action.value > Counter(call, RoleCountKey(kCouncilRole))) {
        return Outcome::Fail(Code::kInvalidState, "the threshold cannot exceed the council size");
      }
      call.Put(ParamStateKey(action.name), U64Value(action.value));
      call.Emit("parameter_set", Bytes(action.name.begin(), action.name.end()));
      return Outcome::Ok();
    case ActionKind::kSetSealingKey:
      call.Put(SealStateKey(action.name),
               Bytes(action.account.bytes.begin(), action.account.bytes.end()));
      call.Emit("sealing_key_set", Bytes(action.name.begin(), action.name.end()));
      return Outcome::Ok();
    case ActionKind::kSetValidators: {
      const std::optional<ScheduledValidators> latest =
          LoadRecord<ScheduledValidators>(call.Get(ValidatorsKey(LatestEpoch(call))));
      if (latest && latest->last_height >= call.block().height) {
        return Outcome::Fail(Code::kInvalidState, "epoch " + std::to_string(latest->epoch) +
                                                      " is scheduled to start " + "after height " +
                                                      std::to_string(latest->last_height) +
                                                      "; one validator change at a time");
      }
      const uint64_t epoch = latest ? latest->epoch + 1 : 1;
      if (action.value != 0 && action.value != epoch) {
        return Outcome::Fail(Code::kInvalidState, "the next epoch is " + std::to_string(epoch) +
                                                      ", not " + std::to_string(action.value));
      }
      const ScheduledValidators change{epoch, call.block().height + ledger::kEpochChangeMargin,
                                       action.validators};
      call.Put(ValidatorsKey(epoch), ledger::Encode(change));
      call.Put(std::string(kLatestEpochKey), U64Value(epoch));
      call.Emit("validators_scheduled", U64Value(epoch));
      return Outcome::Ok();
    }
  }
  return Outcome::Fail(Code::kBadArguments, "unknown action kind");
}

// Records an approval and passes the proposal once it has enough. Only members of the council
// as it is now count: approvals of members revoked since are dropped first, which also keeps
// the list within the threshold and so within what its decoder accepts.
Outcome Approve(Call& call, Proposal& proposal) {
  std::erase_if(proposal.approvals,
                [&](const PublicKey& member) { return !call.HasRole(member, kCouncilRole); });
  proposal.approvals.push_back(call.caller());
  const uint64_t threshold = call.Param(kThresholdParam).value_or(1);
  if (proposal.approvals.size() >= threshold) {
    if (Outcome done = Execute(call, proposal.action); !done.ok()) return done;
    proposal.passed = 1;
    proposal.passed_height = call.block().height;
    call.Emit("proposal_passed", U64Value(proposal.id));
  }
  call.Put(ProposalKey(proposal.id), ledger::Encode(proposal));
  return Outcome::Ok();
}

Json AccountJson(const PublicKey& key) { return EncodeAddress(key); }

Json ProposalJson(const Proposal& proposal) {
  Json approvals = Json::array();
  for (const PublicKey& account : proposal.approvals) approvals.push_back(AccountJson(account));
  Json validators = Json::array();
  for (const PublicKey& key : proposal.action.validators) validators.push_back(AccountJson(key));
  return {{"id", proposal.id},
          {"proposer", AccountJson(proposal.proposer)},
          {"action",
           {{"kind", proposal.action.kind},
            {"name", proposal.action.name},
            {"account", AccountJson(proposal.action.account)},
            {"value", proposal.action.value},
            {"validators", validators}}},
          {"expiry_height", proposal.expiry_height},
          {"approvals", approvals},
          {"passed", proposal.passed == 1},
          {"passed_height", proposal.passed_height}};
}

class Governance : public Contract {
 public:
  Governance() : Contract(std::string(kGovernance)) {
    AddMethod<ProposeArgs>("propose", Permission<ProposeArgs>::Role(std::string(kCouncilRole)),
                           [](Call& call, const ProposeArgs& args) -> Outcome {
                             if (Outcome checked = CheckAction(args.action); !checked.ok())
                               return checked;
                             if (args.expiry_height < call.block().height) {
                               return Outcome::Fail(Code::kBadArguments, "expiry is in the past");
                             }
                             const uint64_t id = Counter(call, "next_proposal");
                             call.Put("next_proposal", U64Value(id + 1));
                             Proposal proposal{
                                 id, call.caller(), args.action, args.expiry_height, {}, 0, 0};
                             call.Emit("proposed", U64Value(id));
                             return Approve(call, proposal);
                           });
    AddMethod<ApproveArgs>(
        "approve", Permission<ApproveArgs>::Role(std::string(kCouncilRole)),
        [](Call& call, const ApproveArgs& args) -> Outcome {
          std::optional<Proposal> proposal =
              LoadRecord<Proposal>(call.Get(ProposalKey(args.proposal)));
          if (!proposal) return Outcome::Fail(Code::kNotFound, "no such proposal");
          if (proposal->passed) {
            return Outcome::Fail(Code(GovernanceCode::kAlreadyDecided), "already passed");
          }
          if (proposal->expiry_height < call.block().height) {
            return Outcome::Fail(Code(GovernanceCode::kExpiredProposal), "proposal expired");
          }
          const std::vector<PublicKey>& approvals = proposal->approvals;
          if (std::find(approvals.begin(), approvals.end(), call.caller()) != approvals.end()) {
            return Outcome::Fail(Code(GovernanceCode::kAlreadyApproved), "already approved");
          }
          return Approve(call, *proposal);
        });
    AddQuery("proposal", [](const QueryContext& context, const Json& params) -> Result<Json> {
      std::optional<Proposal> proposal =
          LoadRecord<Proposal>(context.Get(ProposalKey(params.at("id").get<uint64_t>())));
      if (!proposal) return Status{ErrorCode::kNotFound, "no such proposal"};
      return ProposalJson(*proposal);
    });
    AddQuery("has_role", [](const QueryContext& context, const Json& params) -> Result<Json> {
      Result<PublicKey> account = AccountFromJson(params, "account");
      if (!account.ok()) return account.status();
      const std::string role = params.at("role").get<std::string>();
      return Json{{"account", AccountJson(*account)},
                  {"role", role},
                  {"granted", context.HasRole(*account, role)}};
    });
    AddQuery("role_count", [](const QueryContext& context, const Json& params) -> Result<Json> {
      const std::string role = params.at("role").get<std::string>();
      return Json{{"role", role},
                  {"holders", ReadU64Value(context.Get(RoleCountKey(role))).value_or(0)}};
    });
    AddQuery("parameter", [](const QueryContext& context, const Json& params) -> Result<Json> {
      const std::string name = params.at("name").get<std::string>();
      const std::optional<uint64_t> value = context.Param(name);
      return Json{{"name", name}, {"value", value ? Json(*value) : Json(nullptr)}};
    });
    AddQuery("sealing_key", [](const QueryContext& context, const Json& params) -> Result<Json> {
      const std::string role = params.at("role").get<std::string>();
      const std::optional<PublicKey> key = context.SealingKey(role);
      return Json{{"role", role}, {"key", key ? AccountJson(*key) : Json(nullptr)}};
    });
    AddQuery("validators", [](const QueryContext& context, const Json& params) -> Result<Json> {
      const uint64_t epoch = params.at("epoch").get<uint64_t>();
      const std::optional<ScheduledValidators> change =
          LoadRecord<ScheduledValidators>(context.Get(ValidatorsKey(epoch)));
      if (!change) return Status{ErrorCode::kNotFound, "no validator set scheduled for that epoch"};
      Json keys = Json::array();
      for (const PublicKey& key : change->validators) keys.push_back(AccountJson(key));
      return Json{
          {"epoch", epoch}, {"last_height_before", change->last_height}, {"validators", keys}};
    });
  }
};

}  // namespace

std::unique_ptr<Contract> MakeGovernance() { return std::make_unique<Governance>(); }

namespace {
Bytes GovernanceKey(std::string_view rest) {
  std::string key(kGovernance);
  key.push_back('/');
  key.append(rest);
  return Bytes(key.begin(), key.end());
}
}  // namespace

std::optional<ScheduledValidators> ScheduledValidatorsIn(const StateReader& state, uint64_t epoch) {
  return LoadRecord<ScheduledValidators>(state.Get(GovernanceKey(ValidatorsKey(epoch))));
}

Result<std::vector<ledger::StateWrite>> GovernanceGenesisWrites(const GovernanceGenesis& genesis) {
  const std::set<PublicKey> council(genesis.council.begin(), genesis.council.end());
  if (council.empty() || council.size() != genesis.council.size()) {
    return Status{ErrorCode::kInvalidArgument, "the council must be non-empty, without repeats"};
  }
  if (genesis.threshold == 0 || genesis.threshold > council.size() ||
      genesis.threshold > kMaxProposalApprovals) {
    return Status{ErrorCode::kInvalidArgument,
                  "the threshold must be 1..council size (and at most " +
                      std::to_string(kMaxProposalApprovals) + ")"};
  }
  std::map<std::string, std::set<PublicKey>> roles;
  roles[std::string(kCouncilRole)] = council;
  for (const auto& [role, account] : genesis.roles) {
    if (!ledger::IsValidName(role))
      return Status{ErrorCode::kInvalidArgument, "invalid role '" + role + "'"};
    roles[role].insert(account);
  }
  std::vector<ledger::StateWrite> writes;
  std::map<PublicKey, uint64_t> held;
  for (const auto& [role, holders] : roles) {
    for (const PublicKey& account : holders) {
      writes.push_back(GenesisStateWrite(kGovernance, RoleStateKey(role, account), {}));
      ++held[account];
    }
    writes.push_back(GenesisStateWrite(kGovernance, RoleCountKey(role), U64Value(holders.size())));
  }
  for (const auto& [account, count] : held) {
    writes.push_back(GenesisStateWrite(kGovernance, MemberStateKey(account), U64Value(count)));
  }
  std::map<std::string, uint64_t> params(genesis.params.begin(), genesis.params.end());
  params[std::string(kThresholdParam)] = genesis.threshold;
  for (const auto& [name, value] : params) {
    if (!ledger::IsValidName(name))
      return Status{ErrorCode::kInvalidArgument, "invalid parameter '" + name + "'"};
    writes.push_back(GenesisStateWrite(kGovernance, ParamStateKey(name), U64Value(value)));
  }
  return writes;
}

}  // namespace city::contracts
