// The governance contract: a council (accounts holding the "council" role) passes proposals
// with M approvals before their expiry height; a passed proposal grants or revokes a role,
// sets a chain parameter, or schedules a validator set for an epoch.
//
// Key space ("governance/..."), all values canonical encodings or u64 LE:
//   role/<role>/<account>   ""           the engine reads it for permissions (RoleKey)
//   role_count/<role>       u64          holders of the role
//   param/<name>            u64          read by every contract through Call::Param
//   threshold               u64          approvals a proposal needs (M)
//   next_proposal           u64          the id the next proposal gets
//   proposal/<id BE>        Proposal
//   validators/<epoch BE>   ScheduledValidators: a passed change, the set of that epoch
//   latest_epoch            u64          the epoch of the newest change (absent: none yet)
//   seal/<role>             32-byte key: personal text for the role is sealed to it
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "city/contracts/args.h"

namespace city::contracts {

inline constexpr std::string_view kGovernance = "governance";
inline constexpr std::string_view kCouncilRole = "council";
// Roles the city contracts check; governance may grant any valid name (custom roles).
inline constexpr std::string_view kAdminRole = "admin";
inline constexpr std::string_view kRegistrarRole = "registrar";
inline constexpr std::string_view kClinicianRole = "clinician";
inline constexpr std::string_view kEmergencyRole = "emergency";
inline constexpr std::string_view kCustodianRole = "custodian";
inline constexpr std::string_view kAuditorRole = "auditor";

inline constexpr size_t kMaxProposalApprovals = 64;

enum class GovernanceCode : uint32_t {
  kExpiredProposal = 100,  // approving a proposal past its expiry height
  kAlreadyApproved = 101,
  kAlreadyDecided = 102,  // the proposal already passed
};

enum class ActionKind : uint8_t {
  kGrantRole = 1,
  kRevokeRole = 2,
  kSetParameter = 3,
  kSetValidators = 4,
  kSetSealingKey = 5,  // name: the role; account: the key its copies are sealed to
};

struct Action {
  uint8_t kind = 0;   // ActionKind
  std::string name;   // the role or the parameter
  PublicKey account;  // grant / revoke
  // The parameter's value; for a validator set, 0 (the next epoch) or the epoch it must be
  // when it passes.
  uint64_t value = 0;
  std::vector<PublicKey> validators;

  template <typename V, typename T>
  static void Fields(V& v, T& t);
  CITY_CONTRACT_CODEC(Action);
};

template <typename V, typename T>
void Action::Fields(V& v, T& t) {
  v.U8(t.kind);
  v.Text(t.name, ledger::kMaxNameLength, "action name");
  v.Fixed(t.account);
  v.U64(t.value);
  v.FixedList(t.validators, ledger::kMaxValidators, "action validators");
}

// A validator set change that passed at height P: epoch `epoch` starts after the block at
// last_height = P + ledger::kEpochChangeMargin, which names the set in its header
// (docs/consensus.md, "Epochs"). One change at a time: another passes only after last_height.
struct ScheduledValidators {
  uint64_t epoch = 0;
  uint64_t last_height = 0;  // the last height of the epoch before
  std::vector<PublicKey> validators;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.epoch);
    v.U64(t.last_height);
    v.FixedList(t.validators, ledger::kMaxValidators, "scheduled validators");
  }
  CITY_CONTRACT_CODEC(ScheduledValidators);
};

// The change that starts `epoch` (>= 1), in committed state.
std::optional<ScheduledValidators> ScheduledValidatorsIn(const StateReader& state, uint64_t epoch);

struct ProposeArgs {
  Action action;
  uint64_t expiry_height = 0;  // the last height at which it may gather approvals

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Object(t.action);
    v.U64(t.expiry_height);
  }
  CITY_CONTRACT_CODEC(ProposeArgs);
};

struct ApproveArgs {
  uint64_t proposal = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.proposal);
  }
  CITY_CONTRACT_CODEC(ApproveArgs);
};

// Genesis: the council, the approvals threshold, initial roles and parameters.
struct GovernanceGenesis {
  std::vector<PublicKey> council;
  uint64_t threshold = 1;
  std::vector<std::pair<std::string, PublicKey>> roles;  // (role, account)
  std::vector<std::pair<std::string, uint64_t>> params;
};

std::unique_ptr<Contract> MakeGovernance();
// The genesis state writes; kInvalidArgument when the threshold exceeds the council.
Result<std::vector<ledger::StateWrite>> GovernanceGenesisWrites(const GovernanceGenesis& genesis);

}  // namespace city::contracts
