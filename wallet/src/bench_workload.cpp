// The bench's loads (bench_workload.h).
#include "bench_workload.h"

#include <sodium.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <stdexcept>

#include "city/contracts/args.h"
#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "city/wallet/methods.h"

namespace city::wallet::bench {
namespace {

uint64_t WallMs() {
  return uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count());
}

std::string RandomHex32() {
  std::array<uint8_t, 32> bytes;
  randombytes_buf(bytes.data(), bytes.size());
  return ToHex(bytes);
}

// One signed transaction of `contract command`, its arguments encoded by the CLI's builders.
class Signer {
 public:
  Signer(std::string chain_id, uint64_t tip, uint64_t expiry)
      : chain_id_(std::move(chain_id)), tip_(tip), expiry_(expiry) {}

  Result<LoadTx> Sign(const KeyPair& from, uint64_t nonce, std::string_view contract,
                      std::string_view command, const ArgValues& values) const {
    const MethodSpec* spec = FindMethod(contract, command);
    if (spec == nullptr) {
      return Status(ErrorCode::kInternal,
                    "bench: no method " + std::string(contract) + " " + std::string(command));
    }
    TxContext context;
    context.sender = from.public_key();
    context.now_ms = WallMs();
    context.tip_height = tip_;
    Result<Bytes> args = spec->encode(values, context);
    if (!args.ok()) {
      return Status(ErrorCode::kInternal, "bench: " + std::string(contract) + " " +
                                              std::string(command) + ": " +
                                              args.status().message());
    }
    LoadTx out;
    out.tx.chain_id = chain_id_;
    out.tx.nonce = nonce;
    out.tx.expiry_height = expiry_;
    out.tx.contract = spec->contract;
    out.tx.method = spec->method;
    out.tx.args = std::move(*args);
    out.tx.Sign(from);
    out.kind = std::string(contract) + "." + std::string(command);
    return out;
  }

 private:
  std::string chain_id_;
  uint64_t tip_;
  uint64_t expiry_;
};

// A fresh account and the nonce its next transaction takes.
struct Account {
  KeyPair key;
  uint64_t nonce = 0;
  std::string address() const { return EncodeAddress(key.public_key()); }
};

// Enrols and funds fresh accounts from the funder, then sends each one token at a time to
// the next: the load docs/benchmarks.md has always measured.
class UbiWorkload : public Workload {
 public:
  UbiWorkload(const WorkloadKeys& keys, const std::string& chain_id, size_t accounts,
              uint64_t funder_nonce, uint64_t tokens, uint64_t tip, uint64_t expiry)
      : signer_(chain_id, tip, expiry),
        funder_{KeyPair::FromSeed(keys.funder.seed()), funder_nonce},
        tokens_(tokens) {
    for (size_t a = 0; a < accounts; ++a) accounts_.push_back({KeyPair::Generate(), 0});
  }

  Result<std::optional<Stage>> NextSetupStage(NodeClient&) override {
    if (setup_done_) return std::optional<Stage>{};
    setup_done_ = true;
    Stage stage;
    if (Status s = EnrolAndFund(stage); !s.ok()) return s;
    return std::optional<Stage>(std::move(stage));
  }

  std::shared_ptr<const KeyPair> KeyOf(const PublicKey& sender) const override {
    for (const Account& account : accounts_) {
      if (account.key.public_key() == sender) {
        return std::make_shared<const KeyPair>(KeyPair::FromSeed(account.key.seed()));
      }
    }
    for (const Account* other : {&funder_, council_ ? &*council_ : nullptr}) {
      if (other != nullptr && other->key.public_key() == sender) {
        return std::make_shared<const KeyPair>(KeyPair::FromSeed(other->key.seed()));
      }
    }
    return nullptr;
  }

  LoadTx Next(size_t k) override {
    Account& from = accounts_[k % accounts_.size()];
    const Account& to = accounts_[(k + 1) % accounts_.size()];
    return Take(signer_.Sign(from.key, from.nonce++, "ubi", "transfer",
                             {{"to", to.address()}, {"amount", "1"}}));
  }

 protected:
  // Encoding arguments the bench wrote itself cannot fail unless the builders changed under
  // it; that is a bug, and the load stops on it rather than offering something else.
  static LoadTx Take(Result<LoadTx> built) {
    if (!built.ok()) throw std::logic_error(built.status().message());
    return std::move(*built);
  }

  Status Add(Stage& stage, Account& from, std::string_view contract, std::string_view command,
             const ArgValues& values) {
    Result<LoadTx> built = signer_.Sign(from.key, from.nonce++, contract, command, values);
    if (!built.ok()) return built.status();
    stage.txs.push_back(std::move(*built));
    return Status::Ok();
  }

  // The ledger is permissioned: the funder (a registrar in dev and testnet) enrols the fresh
  // accounts before it funds them.
  Status EnrolAndFund(Stage& stage) {
    for (Account& account : accounts_) {
      if (Status s = Add(stage, funder_, "accounts", "enrol", {{"account", account.address()}});
          !s.ok()) {
        return s;
      }
    }
    for (Account& account : accounts_) {
      if (Status s = Add(stage, funder_, "ubi", "transfer",
                         {{"to", account.address()}, {"amount", std::to_string(tokens_)}});
          !s.ok()) {
        return s;
      }
    }
    stage.await.push_back({funder_.key.public_key(), funder_.nonce});
    return Status::Ok();
  }

  Signer signer_;
  Account funder_;
  std::optional<Account> council_;  // the 'all' load's
  uint64_t tokens_;
  std::vector<Account> accounts_;
  bool setup_done_ = false;
};

// Every contract at once. The fresh accounts take roles in a fixed cycle; the council key
// takes a turn too, so governance runs at about one transaction in (accounts + 1).
class CityWorkload : public UbiWorkload {
 public:
  enum class Role { kCitizen, kPatient, kClinician, kCustodian };

  CityWorkload(const WorkloadKeys& keys, const std::string& chain_id, size_t accounts,
               uint64_t funder_nonce, uint64_t council_nonce, uint64_t tokens, uint64_t tip,
               uint64_t expiry)
      : UbiWorkload(keys, chain_id, accounts, funder_nonce, tokens, tip, expiry),
        funder_key_(std::make_shared<const KeyPair>(KeyPair::FromSeed(keys.funder.seed()))),
        chain_id_(chain_id),
        run_tag_(RandomHex32().substr(0, 6)) {
    council_.emplace(Account{KeyPair::FromSeed(keys.council->seed()), council_nonce});
    static constexpr std::array<Role, 8> kCycle = {
        Role::kCitizen,   Role::kCitizen, Role::kPatient, Role::kClinician,
        Role::kCustodian, Role::kCitizen, Role::kPatient, Role::kCustodian};
    for (size_t a = 0; a < accounts_.size(); ++a) {
      roles_.push_back(kCycle[a % kCycle.size()]);
      (roles_.back() == Role::kCitizen     ? citizens_
       : roles_.back() == Role::kPatient   ? patients_
       : roles_.back() == Role::kClinician ? clinicians_
                                           : custodians_)
          .push_back(a);
    }
    consent_of_patient_.resize(accounts_.size());
    grant_of_patient_.resize(accounts_.size());
  }

  Result<std::optional<Stage>> NextSetupStage(NodeClient& node) override {
    switch (stage_++) {
      case 0:
        return RolesStage();
      case 1:
        return ConsentStage();
      case 2: {
        if (Status s = ReadConsentIds(node); !s.ok()) return s;
        return std::optional<Stage>{};
      }
      default:
        return std::optional<Stage>{};
    }
  }

  LoadTx Next(size_t k) override {
    const size_t turn = k % (accounts_.size() + 1);
    if (turn == accounts_.size()) return Governance();
    Account& from = accounts_[turn];
    const uint64_t n = from.nonce;  // this sender's how-many-th transaction
    switch (roles_[turn]) {
      case Role::kCitizen: {
        if (n % 16 == 0) return Take(signer_.Sign(from.key, from.nonce++, "ubi", "claim", {}));
        const size_t next = citizens_[(IndexIn(citizens_, turn) + 1) % citizens_.size()];
        return Take(signer_.Sign(from.key, from.nonce++, "ubi", "transfer",
                                 {{"to", accounts_[next].address()}, {"amount", "1"}}));
      }
      case Role::kPatient:
        return Take(signer_.Sign(from.key, from.nonce++, "emr", "grant",
                                 {{"grantee", ClinicianOf(turn).address()},
                                  {"types", "lab"},
                                  {"purpose", "treatment"},
                                  {"days", "1"}}));
      case Role::kClinician: {
        const size_t patient = PatientOf(turn);
        if (n % 2 == 0) {
          return Take(signer_.Sign(from.key, from.nonce++, "emr", "access",
                                   {{"patient", accounts_[patient].address()},
                                    {"record", RecordOf(patient)},
                                    {"consent", std::to_string(consent_of_patient_[patient])}}));
        }
        return Take(signer_.Sign(
            from.key, from.nonce++, "emr", "anchor",
            {{"patient", accounts_[patient].address()},
             {"record", "r" + run_tag_ + "-" + std::to_string(turn) + "-" + std::to_string(n)},
             {"type", "lab"},
             {"content-hash", RandomHex32()},
             {"location", "https://records.example/" + std::to_string(n)}}));
      }
      case Role::kCustodian: {
        // Commission an object, then observe it: one sender, so the nonces keep the order.
        const std::string epc = "urn:epc:id:sgtin:0614141." + run_tag_ + "." +
                                std::to_string(turn) + std::to_string(100000 + n / 2);
        return Take(signer_.Sign(from.key, from.nonce++, "logistics",
                                 n % 2 == 0 ? "register" : "object-event",
                                 {{"epcs", epc}, {"biz-step", "shipping"}}));
      }
    }
    throw std::logic_error("bench: an account without a role");
  }

 private:
  static size_t IndexIn(const std::vector<size_t>& list, size_t account) {
    return size_t(std::find(list.begin(), list.end(), account) - list.begin());
  }
  Account& ClinicianOf(size_t patient) {
    return accounts_[clinicians_[IndexIn(patients_, patient) % clinicians_.size()]];
  }
  // The patient a clinician serves: one of those who consented to it.
  size_t PatientOf(size_t clinician) const {
    const size_t c = IndexIn(clinicians_, clinician);
    return patients_[c % patients_.size()];
  }
  std::string RecordOf(size_t patient) const {
    return "base" + run_tag_ + "-" + std::to_string(patient);
  }

  // The council grants the clinician and custodian roles; the registrar enrols and funds
  // everyone and registers the citizens.
  Result<std::optional<Stage>> RolesStage() {
    Stage stage;
    if (Status s = EnrolAndFund(stage); !s.ok()) return s;
    for (size_t citizen : citizens_) {
      if (Status s = Add(stage, funder_, "ubi", "register",
                         {{"account", accounts_[citizen].address()}, {"person-id", RandomHex32()}});
          !s.ok()) {
        return s;
      }
    }
    auto grant = [&](const std::vector<size_t>& holders, std::string_view role) -> Status {
      for (size_t holder : holders) {
        if (Status s = Add(stage, *council_, "governance", "propose",
                           {{"action", "grant-role"},
                            {"role", std::string(role)},
                            {"account", accounts_[holder].address()}});
            !s.ok()) {
          return s;
        }
      }
      return Status::Ok();
    };
    if (Status s = grant(clinicians_, "clinician"); !s.ok()) return s;
    if (Status s = grant(custodians_, "custodian"); !s.ok()) return s;
    stage.await = {{funder_.key.public_key(), funder_.nonce},
                   {council_->key.public_key(), council_->nonce}};
    return std::optional<Stage>(std::move(stage));
  }

  // Each clinician anchors one record of each of its patients; each patient consents to its
  // clinician reading lab records for a day.
  Result<std::optional<Stage>> ConsentStage() {
    Stage stage;
    for (size_t patient : patients_) {
      Account& clinician = ClinicianOf(patient);
      if (Status s = Add(stage, clinician, "emr", "anchor",
                         {{"patient", accounts_[patient].address()},
                          {"record", RecordOf(patient)},
                          {"type", "lab"},
                          {"content-hash", RandomHex32()},
                          {"location", "https://records.example/base"}});
          !s.ok()) {
        return s;
      }
      grant_of_patient_[patient] = stage.txs.size();
      if (Status s = Add(stage, accounts_[patient], "emr", "grant",
                         {{"grantee", clinician.address()},
                          {"types", "lab"},
                          {"purpose", "treatment"},
                          {"days", "1"}});
          !s.ok()) {
        return s;
      }
      stage.await.push_back({accounts_[patient].key.public_key(), accounts_[patient].nonce});
    }
    for (size_t clinician : clinicians_) {
      stage.await.push_back({accounts_[clinician].key.public_key(), accounts_[clinician].nonce});
    }
    for (size_t patient : patients_) {
      grant_ids_.emplace(patient, stage.txs[grant_of_patient_[patient]].tx.Id().ToHex());
    }
    return std::optional<Stage>(std::move(stage));
  }

  // A consent's id is the contract's to assign: each patient reads its own grant's event.
  Status ReadConsentIds(NodeClient& node) {
    Status result = Status::Ok();
    for (size_t patient : patients_) {
      node.SignAs(std::make_shared<const KeyPair>(KeyPair::FromSeed(accounts_[patient].key.seed())),
                  chain_id_);
      Result<Json> tx = node.Get("/v1/tx/" + grant_ids_.at(patient));
      if (!tx.ok()) {
        result = tx.status();
        break;
      }
      bool found = false;
      for (const Json& event : (*tx)["result"].value("events", Json::array())) {
        if (event.value("name", "") != "consent_granted") continue;
        Result<Bytes> data = FromHex(event.value("data", ""));
        std::optional<uint64_t> id =
            data.ok() ? contracts::ReadU64Value(*data) : std::optional<uint64_t>{};
        if (id) {
          consent_of_patient_[patient] = *id;
          found = true;
        }
      }
      if (!found) {
        result = Status(ErrorCode::kInternal,
                        "bench: a patient's consent did not commit: " + tx->dump());
        break;
      }
    }
    node.SignAs(funder_key_, chain_id_);
    return result;
  }

  LoadTx Governance() {
    // Granting a role of no contract's concern: governance work that changes no permission.
    const size_t to = governance_turns_++ % accounts_.size();
    return Take(signer_.Sign(council_->key, council_->nonce++, "governance", "propose",
                             {{"action", "grant-role"},
                              {"role", "bench_observer"},
                              {"account", accounts_[to].address()}}));
  }

  std::shared_ptr<const KeyPair> funder_key_;
  std::string chain_id_;
  std::string run_tag_;  // keeps record ids and EPCs of two runs on one chain apart
  std::vector<Role> roles_;
  std::vector<size_t> citizens_, patients_, clinicians_, custodians_;
  std::vector<uint64_t> consent_of_patient_;
  std::vector<size_t> grant_of_patient_;
  std::map<size_t, std::string> grant_ids_;
  size_t stage_ = 0;
  size_t governance_turns_ = 0;
};

}  // namespace

Result<Mix> ParseMix(std::string_view name) {
  if (name == "ubi") return Mix::kUbi;
  if (name == "all") return Mix::kAll;
  return Status(ErrorCode::kInvalidArgument,
                "unknown load '" + std::string(name) + "': ubi or all");
}

Status CheckWorkload(Mix mix, bool has_council, size_t accounts) {
  if (mix == Mix::kUbi) return Status::Ok();
  if (!has_council) {
    return Status(ErrorCode::kInvalidArgument, "the 'all' load needs a council key (--council)");
  }
  if (accounts < 8) {
    return Status(ErrorCode::kInvalidArgument,
                  "the 'all' load needs --accounts >= 8 (every role at least once)");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Workload>> MakeWorkload(Mix mix, const WorkloadKeys& keys,
                                               const std::string& chain_id, size_t accounts,
                                               uint64_t funder_nonce, uint64_t council_nonce,
                                               uint64_t tokens_per_account, uint64_t tip,
                                               uint64_t expiry) {
  if (Status s = CheckWorkload(mix, keys.council.has_value(), accounts); !s.ok()) return s;
  if (mix == Mix::kUbi) {
    return std::unique_ptr<Workload>(std::make_unique<UbiWorkload>(
        keys, chain_id, accounts, funder_nonce, tokens_per_account, tip, expiry));
  }
  return std::unique_ptr<Workload>(std::make_unique<CityWorkload>(
      keys, chain_id, accounts, funder_nonce, council_nonce, tokens_per_account, tip, expiry));
}

}  // namespace city::wallet::bench
