// The accounts contract ("accounts"): who may submit transactions. CityLedger is a
// permissioned ledger: a transaction's sender must be enrolled. The node refuses any other
// sender at intake (unknown_sender: nothing stored, no nonce used), and the engine refuses
// it again in a block (kUnknownSender, no nonce consumed), so a faulty leader cannot write
// for it either.
//
// Enrolled (IsEnrolled, the one rule the engine, the node and the wallet call) means any of:
//   - named by the genesis: validators, council members, role holders, balance holders;
//   - holding a role now (governance keeps a per-account count, MemberKey);
//   - a registered UBI citizen;
//   - enrolled by a registrar with `enrol` (patients, staff, companies) and not revoked.
// `revoke` ends an enrolment made here; an account that also holds a role or is a citizen
// stays enrolled through those (revoke the role, suspend is not enough).
//
// Key space ("accounts/..."):
//   enrolled/<account 32>   Enrolment
//   count                   u64     enrolments held here
#pragma once

#include <memory>
#include <vector>

#include "city/contracts/args.h"

namespace city::contracts {

inline constexpr std::string_view kAccounts = "accounts";

// Who enrolled the account (zero for the genesis) and when (block time).
struct Enrolment {
  PublicKey by;
  uint64_t since_ms = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.by);
    v.U64(t.since_ms);
  }
  CITY_CONTRACT_CODEC(Enrolment);
};

// enrol, revoke: registrar or admin.
struct EnrolArgs {
  PublicKey account;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.account);
  }
  CITY_CONTRACT_CODEC(EnrolArgs);
};

enum class EnrolledVia { kNone, kRegistry, kRole, kCitizen };
const char* EnrolledViaName(EnrolledVia via);  // "none", "registry", "role", "citizen"

// Why `account` may submit, kNone when it may not.
EnrolledVia EnrolmentOf(const StateReader& state, const PublicKey& account);
inline bool IsEnrolled(const StateReader& state, const PublicKey& account) {
  return EnrolmentOf(state, account) != EnrolledVia::kNone;
}

std::unique_ptr<Contract> MakeAccounts();
// Enrols every account once (repeats are fine: the genesis names some accounts twice).
Result<std::vector<ledger::StateWrite>> AccountsGenesisWrites(
    const std::vector<PublicKey>& accounts);

}  // namespace city::contracts
