// Properties of the basic-income contract over random blocks of register / suspend / resume /
// claim / transfer / burn calls (valid and invalid) from random accounts, with time passing:
// every result code and every balance equals an independent model's, and after every block
// the sum of balances == issued - burned. Also: two independent stores executing the same
// random blocks agree on the state root at every height.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <limits>
#include <ostream>
#include <set>

#include "city/contracts/ubi.h"
#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::CodeOf;

// Small numbers so that caps, fractions, exact balances and insufficient funds all happen.
constexpr uint64_t kAmount = 7;
constexpr uint64_t kPeriodMs = 700;  // blocks are 1000 ms apart: fractions carry over
constexpr uint64_t kMaxPeriods = 3;
constexpr uint64_t kFunding = 100;  // to accounts 1 and 2 of each case
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

// A case's accounts: 0 is the registrar (shared by every case), 1..4 are fresh for the case;
// target index kInvalidTarget is not a curve point. Persons are fresh for the case too.
constexpr uint8_t kAccounts = 5;
constexpr uint8_t kInvalidTarget = kAccounts;
constexpr uint8_t kPersons = 4;  // fewer than accounts: duplicates happen
constexpr uint64_t kBankBalance = 1'000'000'000'000;

KeyPair Registrar() { return test::TestKey(10); }
KeyPair Bank() { return test::TestKey(11); }  // funds accounts 1 and 2 of each case

struct Case {
  explicit Case(uint64_t number) : number(number) {
    accounts.push_back(Registrar());
    for (uint8_t i = 1; i < kAccounts; ++i) {
      const std::string name = std::to_string(number) + "/" + std::to_string(i);
      accounts.push_back(
          KeyPair::FromSeed(TaggedHash("city.test.ubi.account", AsBytes(name)).bytes));
    }
  }
  PublicKey Target(uint8_t index) const {
    return index == kInvalidTarget ? PublicKey{} : accounts[index].public_key();
  }
  Hash256 Person(uint8_t n) const {
    return TaggedHash("city.test.person",
                      AsBytes(std::to_string(number) + "/" + std::to_string(n)));
  }

  uint64_t number = 0;
  std::vector<KeyPair> accounts;
};

enum class OpKind : uint8_t { kRegister, kSuspend, kResume, kClaim, kTransfer, kBurn, kGarbage };
constexpr std::array<std::string_view, 7> kMethods = {"register", "suspend", "resume",  "claim",
                                                      "transfer", "burn",    "transfer"};

struct Op {
  OpKind kind = OpKind::kClaim;
  uint8_t actor = 0;   // 0..kAccounts-1
  uint8_t target = 0;  // 0..kInvalidTarget (garbage: which method)
  uint8_t person = 0;
  uint64_t amount = 0;
};

void showValue(const Op& op, std::ostream& os) {
  os << kMethods[static_cast<size_t>(op.kind)] << (op.kind == OpKind::kGarbage ? "(garbage)" : "")
     << " actor=" << int(op.actor) << " target=" << int(op.target) << " person=" << int(op.person)
     << " amount=" << op.amount;
}

struct BlockPlan {
  uint8_t gap = 0;  // empty blocks before this one (time passes)
  std::vector<Op> ops;
};

void showValue(const BlockPlan& plan, std::ostream& os) {
  os << "{gap " << int(plan.gap) << ": ";
  for (const Op& op : plan.ops) {
    showValue(op, os);
    os << "; ";
  }
  os << "}";
}

rc::Gen<Op> GenOp() {
  using namespace rc;
  return gen::build<Op>(
      gen::set(&Op::kind, gen::weightedElement<OpKind>({{2, OpKind::kRegister},
                                                        {1, OpKind::kSuspend},
                                                        {1, OpKind::kResume},
                                                        {4, OpKind::kClaim},
                                                        {4, OpKind::kTransfer},
                                                        {2, OpKind::kBurn},
                                                        {1, OpKind::kGarbage}})),
      // The registrar acts often enough for registrations to happen.
      gen::set(&Op::actor, gen::weightedElement<uint8_t>({{3, 0}, {2, 1}, {2, 2}, {2, 3}, {2, 4}})),
      gen::set(&Op::target, gen::inRange<uint8_t>(0, kInvalidTarget + 1)),
      gen::set(&Op::person, gen::inRange<uint8_t>(0, kPersons)),
      gen::set(&Op::amount, gen::weightedOneOf<uint64_t>({{1, gen::just<uint64_t>(0)},
                                                          {8, gen::inRange<uint64_t>(1, 60)},
                                                          {1, gen::just(kMax)},
                                                          {1, gen::arbitrary<uint64_t>()}})));
}

rc::Gen<BlockPlan> GenBlock() {
  using namespace rc;
  return gen::build<BlockPlan>(
      gen::set(&BlockPlan::gap, gen::weightedElement<uint8_t>({{6, 0}, {1, 1}, {1, 4}})),
      gen::set(&BlockPlan::ops, gen::resize(30, gen::container<std::vector<Op>>(GenOp()))));
}

// Up to 6 blocks of up to ~30 calls: each block costs a commit (~4 ms, its fsync).
rc::Gen<std::vector<BlockPlan>> GenBlocks() {
  return rc::gen::resize(6, rc::gen::container<std::vector<BlockPlan>>(GenBlock()));
}

std::unique_ptr<test::ContractHarness> MakeChain() {
  GovernanceGenesis governance;
  for (const KeyPair& key : test::TestValidators(3)) governance.council.push_back(key.public_key());
  governance.roles.push_back({std::string(kRegistrarRole), Registrar().public_key()});
  governance.params = {{std::string(kUbiAmountParam), kAmount},
                       {std::string(kUbiPeriodParam), kPeriodMs},
                       {std::string(kUbiMaxPeriodsParam), kMaxPeriods}};
  std::vector<ledger::StateWrite> writes = *GovernanceGenesisWrites(governance);
  const std::vector<ledger::StateWrite> ubi =
      *UbiGenesisWrites({{{Bank().public_key(), kBankBalance}}});
  writes.insert(writes.end(), ubi.begin(), ubi.end());
  auto registry = std::make_unique<Registry>();
  if (!registry->Add(MakeGovernance()).ok() || !registry->Add(MakeUbi()).ok() ||
      !registry->Add(MakeAccounts()).ok()) {
    throw std::runtime_error("registry");
  }
  return std::make_unique<test::ContractHarness>(std::move(registry), std::move(writes));
}

ledger::Transaction MakeTx(test::ContractHarness& chain, const Case& c, const Op& op) {
  const KeyPair& actor = c.accounts[op.actor];
  const std::string method(kMethods[static_cast<size_t>(op.kind)]);
  switch (op.kind) {
    case OpKind::kRegister:
      return chain.Tx(actor, "ubi", method,
                      UbiRegisterArgs{c.Target(op.target), c.Person(op.person)});
    case OpKind::kSuspend:
    case OpKind::kResume:
      return chain.Tx(actor, "ubi", method, UbiCitizenArgs{c.Target(op.target)});
    case OpKind::kClaim:
      return chain.Tx(actor, "ubi", method, UbiClaimArgs{});
    case OpKind::kTransfer:
      return chain.Tx(actor, "ubi", method, UbiTransferArgs{c.Target(op.target), op.amount});
    case OpKind::kBurn:
      return chain.Tx(actor, "ubi", method, UbiBurnArgs{op.amount});
    case OpKind::kGarbage:
      // Short for every method with arguments, trailing bytes for claim.
      return chain.RawTx(actor, "ubi", std::string(kMethods[op.target % 6]), Bytes{1, 0xff, 0xee});
  }
  throw std::logic_error("op kind");
}

// The contract's rules written out independently, with balances as exact integers.
class Model {
 public:
  void SetTotals(uint64_t issued, uint64_t burned) {
    issued_ = issued;
    burned_ = burned;
  }
  void SetBalance(uint8_t account, uint64_t balance) { balances_[account] = balance; }
  void SetCitizen(uint8_t account, uint64_t baseline_ms, bool suspended, uint64_t suspended_ms) {
    citizens_[account] = {baseline_ms, suspended, suspended_ms};
  }
  void SetPersonUsed(uint8_t person) { persons_.insert(person); }

  // The code the call must return; applies its effects.
  uint32_t Apply(const Op& op, uint64_t now) {
    const bool registrar = op.actor == 0;
    switch (op.kind) {
      case OpKind::kRegister:
        if (!registrar) return CodeOf(Code::kPermissionDenied);
        if (op.target == kInvalidTarget) return CodeOf(Code::kBadArguments);
        if (citizens_.count(op.target) || persons_.count(op.person)) {
          return CodeOf(Code::kAlreadyExists);
        }
        citizens_[op.target] = {now, false, 0};
        persons_.insert(op.person);
        return CodeOf(Code::kOk);
      case OpKind::kSuspend:
      case OpKind::kResume: {
        if (!registrar) return CodeOf(Code::kPermissionDenied);
        auto it = citizens_.find(op.target);
        if (it == citizens_.end()) return CodeOf(Code::kNotFound);
        const bool suspend = op.kind == OpKind::kSuspend;
        if (it->second.suspended == suspend) return CodeOf(Code::kInvalidState);
        if (suspend) {
          it->second.suspended_ms = now;
        } else {
          it->second.baseline_ms =
              std::min(now, it->second.baseline_ms + (now - it->second.suspended_ms));
        }
        it->second.suspended = suspend;
        return CodeOf(Code::kOk);
      }
      case OpKind::kClaim: {
        auto it = citizens_.find(op.actor);
        if (it == citizens_.end()) return CodeOf(Code::kPermissionDenied);
        if (it->second.suspended) return CodeOf(Code::kInvalidState);
        const uint64_t elapsed = (now - it->second.baseline_ms) / kPeriodMs;
        if (elapsed == 0) return uint32_t(UbiCode::kNoPeriodElapsed);
        const uint64_t paid = std::min(elapsed, kMaxPeriods) * kAmount;
        it->second.baseline_ms += elapsed * kPeriodMs;
        Add(balances_[op.actor], paid);
        Add(issued_, paid);
        return CodeOf(Code::kOk);
      }
      case OpKind::kTransfer:
        if (op.amount == 0 || op.target == kInvalidTarget || op.target == op.actor) {
          return CodeOf(Code::kBadArguments);
        }
        if (balances_[op.actor] < op.amount) return CodeOf(Code::kInsufficientFunds);
        balances_[op.actor] -= op.amount;
        Add(balances_[op.target], op.amount);
        return CodeOf(Code::kOk);
      case OpKind::kBurn:
        if (op.amount == 0) return CodeOf(Code::kBadArguments);
        if (balances_[op.actor] < op.amount) return CodeOf(Code::kInsufficientFunds);
        balances_[op.actor] -= op.amount;
        Add(burned_, op.amount);
        return CodeOf(Code::kOk);
      case OpKind::kGarbage:
        return CodeOf(Code::kBadArguments);
    }
    return CodeOf(Code::kUnknownMethod);
  }

  uint64_t balance(uint8_t account) const {
    auto it = balances_.find(account);
    return it == balances_.end() ? 0 : it->second;
  }
  uint64_t issued() const { return issued_; }
  uint64_t burned() const { return burned_; }
  std::optional<uint64_t> baseline(uint8_t account) const {
    auto it = citizens_.find(account);
    if (it == citizens_.end()) return std::nullopt;
    return it->second.baseline_ms;
  }

 private:
  struct ModelCitizen {
    uint64_t baseline_ms = 0;
    bool suspended = false;
    uint64_t suspended_ms = 0;
  };
  // The parameters keep every total far below 2^64; the model refuses to wrap regardless, and
  // it only subtracts what a balance holds, so its balances are never negative.
  static void Add(uint64_t& total, uint64_t amount) {
    if (__builtin_add_overflow(total, amount, &total)) RC_FAIL("the model's totals overflowed");
  }

  std::map<uint8_t, uint64_t> balances_;
  std::map<uint8_t, ModelCitizen> citizens_;
  std::set<uint8_t> persons_;
  uint64_t issued_ = 0;
  uint64_t burned_ = 0;
};

uint64_t QueryU64(test::ContractHarness& chain, std::string_view query, const Json& params,
                  const char* field) {
  Result<Json> answer = chain.Query("ubi", query, params);
  if (!answer.ok()) throw std::runtime_error(answer.status().ToString());
  return answer->at(field).get<uint64_t>();
}
Json AccountParams(const KeyPair& account) {
  return {{"account", EncodeAddress(account.public_key())}};
}

// The model of a case starts from what the store says about the case's accounts and persons.
Model ModelFromChain(test::ContractHarness& chain, const Case& c) {
  Model model;
  model.SetTotals(QueryU64(chain, "supply", Json::object(), "issued"),
                  QueryU64(chain, "supply", Json::object(), "burned"));
  for (uint8_t index = 0; index < kAccounts; ++index) {
    const Json params = AccountParams(c.accounts[index]);
    model.SetBalance(index, QueryU64(chain, "balance", params, "balance"));
    Result<Json> citizen = chain.Query("ubi", "citizen", params);
    if (!citizen.ok()) throw std::runtime_error(citizen.status().ToString());
    if (citizen->at("registered").get<bool>()) {
      model.SetCitizen(index, citizen->at("baseline_ms").get<uint64_t>(),
                       citizen->at("suspended").get<bool>(),
                       citizen->at("suspended_ms").get<uint64_t>());
    }
  }
  for (uint8_t person = 0; person < kPersons; ++person) {
    Result<Json> found = chain.Query("ubi", "person", {{"person_id", c.Person(person).ToHex()}});
    if (!found.ok()) throw std::runtime_error(found.status().ToString());
    if (!found->at("account").is_null()) model.SetPersonUsed(person);
  }
  return model;
}

// Bank and registrar at genesis; the registrar enrols the case's fresh accounts (so they may
// send at all) and the bank funds accounts 1 and 2.
std::vector<ledger::Transaction> FundingBlock(test::ContractHarness& chain, const Case& c) {
  std::vector<ledger::Transaction> txs;
  for (uint8_t i = 1; i < kAccounts; ++i) {
    txs.push_back(chain.Tx(Registrar(), "accounts", "enrol", EnrolArgs{c.Target(i)}));
  }
  txs.push_back(chain.Tx(Bank(), "ubi", "transfer", UbiTransferArgs{c.Target(1), kFunding}));
  txs.push_back(chain.Tx(Bank(), "ubi", "transfer", UbiTransferArgs{c.Target(2), kFunding}));
  return txs;
}

// Every case of the property runs on this one chain: a store costs ~60 ms to create (its
// fsyncs), a block ~4 ms, and a fresh store per case would take the property past 5 s. Each
// case has fresh accounts and persons (only the registrar is shared) and builds its model
// from the store's state, so cases do not depend on each other except through the registrar.
// A failure replays with the seed rapidcheck prints (the cases run again in the same order).
struct SharedChain {
  std::unique_ptr<test::ContractHarness> chain = MakeChain();
  uint64_t cases = 0;
  // Accounts of finished cases never change again: their balances are summed once.
  std::vector<PublicKey> previous;
  uint64_t retired = 0;
};

SharedChain& Shared() {
  static SharedChain shared;
  return shared;
}

RC_GTEST_PROP(UbiProperty, BalancesFollowTheModelAndSupplyIsConserved, ()) {
  const std::vector<BlockPlan> blocks = *GenBlocks();
  SharedChain& shared = Shared();
  test::ContractHarness& chain = *shared.chain;
  for (const PublicKey& account : shared.previous) {
    shared.retired += QueryU64(chain, "balance", {{"account", EncodeAddress(account)}}, "balance");
  }
  const Case c(shared.cases++);
  shared.previous.assign({c.Target(1), c.Target(2), c.Target(3), c.Target(4)});
  for (const ledger::TxResult& funded : chain.Block(FundingBlock(chain, c))) {
    RC_ASSERT(funded.ok());
  }
  Model model = ModelFromChain(chain, c);

  for (const BlockPlan& plan : blocks) {
    for (uint8_t i = 0; i < plan.gap; ++i) chain.Block({});
    std::vector<ledger::Transaction> txs;
    for (const Op& op : plan.ops) txs.push_back(MakeTx(chain, c, op));
    const std::vector<ledger::TxResult> results = chain.Block(txs);
    const uint64_t now = chain.now_ms();
    RC_ASSERT(results.size() == plan.ops.size());
    for (size_t i = 0; i < plan.ops.size(); ++i) {
      const uint32_t expected = model.Apply(plan.ops[i], now);
      if (results[i].code != expected) {
        RC_FAIL("tx " + std::to_string(i) + " returned " + std::to_string(results[i].code) + " (" +
                results[i].detail + "), the model expects " + std::to_string(expected));
      }
    }
    // After every block: the store equals the model, and the supply is conserved over every
    // account that ever held tokens (retired cases, the bank, this case's).
    uint64_t sum = shared.retired;
    RC_ASSERT(!__builtin_add_overflow(
        sum, QueryU64(chain, "balance", AccountParams(Bank()), "balance"), &sum));
    for (uint8_t account = 0; account < kAccounts; ++account) {
      const Json params = AccountParams(c.accounts[account]);
      const uint64_t balance = QueryU64(chain, "balance", params, "balance");
      RC_ASSERT(balance == model.balance(account));
      RC_ASSERT(!__builtin_add_overflow(sum, balance, &sum));
      if (const std::optional<uint64_t> baseline = model.baseline(account)) {
        RC_ASSERT(QueryU64(chain, "citizen", params, "baseline_ms") == *baseline);
      }
    }
    const uint64_t issued = QueryU64(chain, "supply", Json::object(), "issued");
    const uint64_t burned = QueryU64(chain, "supply", Json::object(), "burned");
    RC_ASSERT(issued == model.issued());
    RC_ASSERT(burned == model.burned());
    RC_ASSERT(burned <= issued);
    RC_ASSERT(sum == issued - burned);
    RC_ASSERT(QueryU64(chain, "supply", Json::object(), "supply") == issued - burned);
  }
}

// Fixed seeds (printed on failure) rather than a property: every case costs two fresh stores.
TEST(UbiDeterminism, TwoStoresAgreeOnTheStateRootAtEveryHeight) {
  size_t executed_total = 0;
  for (const uint64_t seed : {1u, 2u, 3u, 4u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<BlockPlan> blocks =
        rc::gen::container<std::vector<BlockPlan>>(10, GenBlock())(rc::Random(seed), 100).value();
    std::unique_ptr<test::ContractHarness> a = MakeChain();
    std::unique_ptr<test::ContractHarness> b = MakeChain();
    const Case c(seed);
    for (test::ContractHarness* chain : {a.get(), b.get()}) {
      // Funds, and registers accounts 1..4, so the random blocks find citizens to claim.
      std::vector<ledger::Transaction> setup = FundingBlock(*chain, c);
      for (uint8_t i = 1; i < kAccounts; ++i) {
        setup.push_back(chain->Tx(Registrar(), "ubi", "register",
                                  UbiRegisterArgs{c.Target(i), c.Person(i - 1)}));
      }
      for (const ledger::TxResult& result : chain->Block(setup)) ASSERT_TRUE(result.ok());
    }
    ASSERT_EQ(a->last_root(), b->last_root());
    size_t executed = 0;
    for (const BlockPlan& plan : blocks) {
      for (uint8_t i = 0; i < plan.gap; ++i) {
        a->Block({});
        b->Block({});
        ASSERT_EQ(a->last_root(), b->last_root()) << "height " << a->height();
      }
      std::vector<ledger::Transaction> txs_a, txs_b;
      for (const Op& op : plan.ops) {
        txs_a.push_back(MakeTx(*a, c, op));
        txs_b.push_back(MakeTx(*b, c, op));
      }
      const std::vector<ledger::TxResult> results_a = a->Block(txs_a);
      const std::vector<ledger::TxResult> results_b = b->Block(txs_b);
      ASSERT_EQ(a->last_root(), b->last_root()) << "height " << a->height();
      ASSERT_EQ(results_a.size(), results_b.size());
      for (size_t i = 0; i < results_a.size(); ++i) {
        ASSERT_EQ(results_a[i].code, results_b[i].code);
        executed += results_a[i].ok() ? 1 : 0;
      }
    }
    executed_total += executed;
  }
  EXPECT_GT(executed_total, 100u);  // the blocks changed state
}

}  // namespace
}  // namespace city::contracts
