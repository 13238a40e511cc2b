// The basic-income contract ("ubi"): a registrar registers citizens (one account per person);
// each citizen claims the issuance of every whole period elapsed since its last claim, up to
// a maximum look-back; anyone holding tokens transfers or burns them.
// Invariant: the sum of all balances == issued - burned.
//
// Parameters (governance, read through Call::Param; claims fail with kInvalidState when one
// is missing or zero):
//   ubi_amount        tokens issued per period
//   ubi_period_ms     period length, in block-time milliseconds
//   ubi_max_periods   most periods one claim pays; older periods are forfeited
//
// Key space ("ubi/..."), values canonical encodings or u64 LE:
//   citizen/<account 32>    UbiCitizen
//   person/<person_id 32>   the account registered for that person (32 bytes)
//   balance/<account 32>    u64, absent when zero
//   issued                  u64, every token ever created (genesis and claims)
//   burned                  u64, every token ever destroyed
//   citizens                u64, registered accounts
// Index "claims", key <account 32>: one UbiClaimRecord per successful claim.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "city/contracts/args.h"
#include "city/crypto/hash.h"

namespace city::contracts {

inline constexpr std::string_view kUbi = "ubi";
inline constexpr std::string_view kUbiAmountParam = "ubi_amount";
inline constexpr std::string_view kUbiPeriodParam = "ubi_period_ms";
inline constexpr std::string_view kUbiMaxPeriodsParam = "ubi_max_periods";

enum class UbiCode : uint32_t {
  kNoPeriodElapsed = 200,  // a claim before a whole period has passed since the last one
};

// register: registrar only. `person_id` identifies the person, so one person cannot hold two
// accounts. Registrars derive it with PersonIdFor under the registrar office's secret key,
// which stays off the ledger: a plain hash of an ID number could be found again from a
// dictionary of ID numbers and link the person to the account.
inline constexpr size_t kPersonKeySize = 32;
inline constexpr std::string_view kPersonIdTag = "city.ubi.person.v2";
inline Hash256 PersonIdFor(ByteSpan person_key, std::string_view identity) {
  return TaggedHasher(kPersonIdTag, person_key).Update(AsBytes(identity)).Finish();
}

struct UbiRegisterArgs {
  PublicKey account;
  Hash256 person_id;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.account);
    v.Fixed(t.person_id);
  }
  CITY_CONTRACT_CODEC(UbiRegisterArgs);
};

// suspend / resume: registrar only.
struct UbiCitizenArgs {
  PublicKey account;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.account);
  }
  CITY_CONTRACT_CODEC(UbiCitizenArgs);
};

// claim: the caller must be a registered, unsuspended citizen; no arguments.
struct UbiClaimArgs {
  template <typename V, typename T>
  static void Fields(V& /*v*/, T& /*t*/) {}
  CITY_CONTRACT_CODEC(UbiClaimArgs);
};

// transfer: any holder, to any valid account other than itself.
struct UbiTransferArgs {
  PublicKey to;
  uint64_t amount = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.to);
    v.U64(t.amount);
  }
  CITY_CONTRACT_CODEC(UbiTransferArgs);
};

// burn: any holder destroys some of its own tokens.
struct UbiBurnArgs {
  uint64_t amount = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.U64(t.amount);
  }
  CITY_CONTRACT_CODEC(UbiBurnArgs);
};

// A citizen's registration, stored under citizen/<account>.
struct UbiCitizen {
  Hash256 person_id;
  uint64_t registered_ms = 0;
  // Claims pay for whole periods after this time; it advances by whole periods only.
  uint64_t baseline_ms = 0;
  uint8_t suspended = 0;
  uint64_t suspended_ms = 0;  // when the current suspension began (if suspended)

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.person_id);
    v.U64(t.registered_ms);
    v.U64(t.baseline_ms);
    v.U8(t.suspended);
    v.U64(t.suspended_ms);
  }
  CITY_CONTRACT_CODEC(UbiCitizen);
};

// One successful claim: the value of the "claims" index entry and of the "claimed" event.
struct UbiClaimRecord {
  PublicKey account;
  uint64_t time_ms = 0;
  uint64_t periods = 0;    // periods paid
  uint64_t forfeited = 0;  // whole periods past the look-back cap, not paid
  uint64_t amount = 0;
  uint64_t baseline_ms = 0;  // the new baseline

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.account);
    v.U64(t.time_ms);
    v.U64(t.periods);
    v.U64(t.forfeited);
    v.U64(t.amount);
    v.U64(t.baseline_ms);
  }
  CITY_CONTRACT_CODEC(UbiClaimRecord);
};

// The "transferred" event (and, with `to` zero, the "burned" one).
struct UbiTransferRecord {
  PublicKey from;
  PublicKey to;
  uint64_t amount = 0;

  template <typename V, typename T>
  static void Fields(V& v, T& t) {
    v.Fixed(t.from);
    v.Fixed(t.to);
    v.U64(t.amount);
  }
  CITY_CONTRACT_CODEC(UbiTransferRecord);
};

// Genesis: initial balances (e.g. funded test accounts); they count as issued.
struct UbiGenesis {
  std::vector<std::pair<PublicKey, uint64_t>> balances;
};

std::unique_ptr<Contract> MakeUbi();
// The full state key of a citizen record, "ubi/citizen/<account>" (enrolment reads it).
Bytes UbiCitizenKey(const PublicKey& account);
// The genesis state writes; kInvalidArgument for an invalid or repeated account, a zero
// balance, or a total past 2^64 - 1.
Result<std::vector<ledger::StateWrite>> UbiGenesisWrites(const UbiGenesis& genesis);

}  // namespace city::contracts
