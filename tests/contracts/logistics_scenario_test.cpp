// The logistics contract as the port uses it: a container packed, handed from shipper to port
// to carrier to receiver, and the custody chain of one item inside read back page by page;
// and determinism: the same calls on two independent stores give the same state roots.
#include <gtest/gtest.h>

#include <random>

#include "city/contracts/logistics.h"
#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::TestKey;

std::string Sgtin(int n) { return "urn:epc:id:sgtin:4012345.011122." + std::to_string(n); }
std::string Sscc(int n) { return "urn:epc:id:sscc:4012345.00000000" + std::to_string(n); }
const std::string kShipperDock = "urn:epc:id:sgln:4012345.00001.0";
const std::string kPortGate = "urn:epc:id:sgln:0614141.00300.1";
const std::string kQuay = "urn:epc:id:sgln:0614141.00300.7";
const std::string kWarehouse = "urn:epc:id:sgln:0012345.11111.0";
const std::string kOrder = "urn:epcglobal:cbv:bt:0012345000007:PO-2024-118";

std::unique_ptr<test::ContractHarness> NewChain(const std::vector<const KeyPair*>& custodians) {
  GovernanceGenesis genesis;
  genesis.council = {TestKey(1).public_key()};
  for (const KeyPair* key : custodians)
    genesis.roles.push_back({std::string(kCustodianRole), key->public_key()});
  auto registry = std::make_unique<Registry>();
  EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
  EXPECT_TRUE(registry->Add(MakeLogistics()).ok());
  return std::make_unique<test::ContractHarness>(std::move(registry),
                                                 *GovernanceGenesisWrites(genesis));
}

class LogisticsScenarioTest : public ::testing::Test {
 protected:
  LogisticsScenarioTest()
      : shipper_(TestKey(41)), port_(TestKey(42)), carrier_(TestKey(43)), receiver_(TestKey(44)) {
    chain_ = NewChain({&shipper_, &port_, &carrier_, &receiver_});
  }

  template <typename Args>
  void Do(const KeyPair& who, const std::string& method, const Args& args) {
    const ledger::TxResult result = chain_->Call(who, "logistics", method, args);
    ASSERT_TRUE(result.ok()) << method << ": " << result.detail;
  }
  void Observe(const KeyPair& who, const std::string& epc, std::string step,
               std::string disposition, const std::string& where) {
    Do(who, "object_event",
       ObjectEventArgs{{epc},
                       uint8_t(EpcisAction::kObserve),
                       {std::move(step), std::move(disposition), where, where, std::nullopt}});
  }
  void HandOver(const KeyPair& from, const KeyPair& to, const std::string& epc) {
    Do(from, "offer", OfferArgs{epc, to.public_key()});
    Do(to, "accept", CustodyArgs{epc});
  }
  std::string Holder(const std::string& epc) {
    Result<Json> item = chain_->Query("logistics", "item", {{"epc", epc}});
    EXPECT_TRUE(item.ok()) << item.status().ToString();
    return item.ok() ? item->at("holder").get<std::string>() : "";
  }
  // The whole provenance, `limit` entries a page; checks the pages chain up.
  Json ReadAll(const std::string& epc, int limit, bool newest_first, int* pages) {
    Json all = Json::array();
    Json params = {{"epc", epc}, {"limit", limit}, {"newest_first", newest_first}};
    *pages = 0;
    while (true) {
      Result<Json> page = chain_->Query("logistics", "provenance", params);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return all;
      ++*pages;
      EXPECT_LE(page->at("events").size(), size_t(limit));
      for (const Json& event : page->at("events")) all.push_back(event);
      if (page->at("next_cursor").is_null()) return all;
      params["cursor"] = page->at("next_cursor");
    }
  }
  static std::string Address(const KeyPair& key) { return EncodeAddress(key.public_key()); }

  KeyPair shipper_;
  KeyPair port_;
  KeyPair carrier_;
  KeyPair receiver_;
  std::unique_ptr<test::ContractHarness> chain_;
};

TEST_F(LogisticsScenarioTest, AContainerTravelsFromShipperToReceiver) {
  const std::string container = Sscc(1);
  std::vector<Epc> cartons;
  for (int i = 1; i <= 6; ++i) cartons.push_back(Sgtin(i));
  const std::string watched = Sgtin(3);

  // The shipper commissions six cartons and a container, packs, ships against an order.
  std::vector<Epc> all = cartons;
  all.push_back(container);
  Do(shipper_, "register",
     RegisterArgs{all, {"commissioning", "active", kShipperDock, kShipperDock, std::nullopt}});
  Do(shipper_, "aggregate",
     AggregateArgs{container,
                   cartons,
                   uint8_t(EpcisAction::kAdd),
                   {"packing", "in_progress", kShipperDock, kShipperDock, std::nullopt}});
  EventFields shipping{"shipping", "in_transit", kShipperDock, kShipperDock,
                       DocumentHash{TaggedHash("epcis.document", AsBytes("ASN 118"))}};
  Do(shipper_, "object_event",
     ObjectEventArgs{{container}, uint8_t(EpcisAction::kObserve), shipping});
  Do(shipper_, "transact",
     TransactArgs{{container}, uint8_t(EpcisAction::kAdd), {"po", kOrder}, shipping});

  // A carton inside cannot be handed over on its own, by anyone.
  EXPECT_EQ(
      chain_->Call(shipper_, "logistics", "offer", OfferArgs{watched, port_.public_key()}).code,
      uint32_t(LogisticsCode::kInContainer));

  // Shipper -> port. The wrong receiver cannot take it; a non-holder cannot offer it.
  Do(shipper_, "offer", OfferArgs{container, port_.public_key()});
  EXPECT_EQ(chain_->Call(carrier_, "logistics", "accept", CustodyArgs{container}).code,
            uint32_t(LogisticsCode::kOfferToOther));
  EXPECT_EQ(Holder(watched), Address(shipper_));
  Do(port_, "accept", CustodyArgs{container});
  EXPECT_EQ(Holder(container), Address(port_));
  EXPECT_EQ(Holder(watched), Address(port_));  // the contents follow the container
  EXPECT_EQ(
      chain_->Call(shipper_, "logistics", "offer", OfferArgs{container, carrier_.public_key()})
          .code,
      uint32_t(LogisticsCode::kNotHolder));
  Observe(port_, container, "receiving", "in_progress", kPortGate);

  // Port -> carrier: loaded on the quay, then at sea.
  HandOver(port_, carrier_, container);
  Observe(carrier_, container, "loading", "in_transit", kQuay);
  Observe(carrier_, container, "departing", "in_transit", kQuay);

  // Carrier -> receiver, who receives and unpacks.
  HandOver(carrier_, receiver_, container);
  Observe(receiver_, container, "receiving", "in_progress", kWarehouse);
  Do(receiver_, "aggregate",
     AggregateArgs{container,
                   {},
                   uint8_t(EpcisAction::kDelete),
                   {"unpacking", "in_progress", kWarehouse, kWarehouse, std::nullopt}});
  EXPECT_EQ(Holder(watched), Address(receiver_));
  Result<Json> item = chain_->Query("logistics", "item", {{"epc", watched}});
  ASSERT_TRUE(item.ok());
  EXPECT_TRUE(item->at("container").is_null());

  // The carton's history, oldest first, three entries a page.
  int pages = 0;
  const Json history = ReadAll(watched, 3, false, &pages);
  struct Expected {
    const char* kind;
    const char* step;  // bizStep, or "" for custody changes
    const KeyPair* actor;
  };
  const std::vector<Expected> expected = {
      {"object", "commissioning", &shipper_},  {"aggregation", "packing", &shipper_},
      {"object", "shipping", &shipper_},       {"transaction", "shipping", &shipper_},
      {"custody_offer", "", &shipper_},        {"custody_accept", "", &port_},
      {"object", "receiving", &port_},         {"custody_offer", "", &port_},
      {"custody_accept", "", &carrier_},       {"object", "loading", &carrier_},
      {"object", "departing", &carrier_},      {"custody_offer", "", &carrier_},
      {"custody_accept", "", &receiver_},      {"object", "receiving", &receiver_},
      {"aggregation", "unpacking", &receiver_}};
  ASSERT_EQ(history.size(), expected.size()) << history.dump(2);
  EXPECT_EQ(pages, 5);
  uint64_t last_event = 0;
  uint64_t last_height = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const Json& entry = history[i];
    SCOPED_TRACE("entry " + std::to_string(i) + ": " + entry.dump());
    EXPECT_EQ(entry.at("kind"), expected[i].kind);
    EXPECT_EQ(entry.at("actor"), Address(*expected[i].actor));
    if (*expected[i].step != '\0') {
      EXPECT_EQ(entry.at("biz_step"), expected[i].step);
    }
    if (i > 0) {
      EXPECT_GT(entry.at("event").get<uint64_t>(), last_event);
      EXPECT_GE(entry.at("height").get<uint64_t>(), last_height);
    }
    last_event = entry.at("event").get<uint64_t>();
    last_height = entry.at("height").get<uint64_t>();
    EXPECT_EQ(entry.at("time_ms"), chain_->TimeAt(last_height));
    // Everything after the packing and before the unpacking reached the carton through
    // the container.
    const bool via_container = i >= 2 && i + 1 < expected.size();
    EXPECT_EQ(entry.at("via"), via_container ? Json(container) : Json(nullptr));
  }
  EXPECT_EQ(history[2].at("document_hash"), shipping.document->hash.ToHex());
  EXPECT_EQ(history[3].at("biz_transaction").at("id"), kOrder);
  EXPECT_EQ(history[9].at("read_point"), kQuay);

  // The custody chain alone: shipper -> port -> carrier -> receiver.
  std::vector<std::pair<std::string, std::string>> custody;  // (from, to)
  for (const Json& entry : history) {
    if (entry.at("kind") == "custody_accept")
      custody.push_back({entry.at("counterparty"), entry.at("actor")});
  }
  const std::vector<std::pair<std::string, std::string>> chain_of_custody = {
      {Address(shipper_), Address(port_)},
      {Address(port_), Address(carrier_)},
      {Address(carrier_), Address(receiver_)}};
  EXPECT_EQ(custody, chain_of_custody);

  // Newest first, in pages of four, gives the same entries reversed.
  const Json reversed = ReadAll(watched, 4, true, &pages);
  EXPECT_EQ(pages, 4);
  Json forward = Json::array();
  for (auto it = reversed.rbegin(); it != reversed.rend(); ++it) forward.push_back(*it);
  EXPECT_EQ(forward, history);

  // The container's own history and the order's events agree.
  Result<Json> order = chain_->Query("logistics", "transaction", {{"id", kOrder}});
  ASSERT_TRUE(order.ok());
  ASSERT_EQ(order->at("events").size(), 1u);
  EXPECT_EQ(order->at("events")[0].at("event"), history[3].at("event"));
  Result<Json> contents = chain_->Query("logistics", "contents", {{"container", container}});
  ASSERT_TRUE(contents.ok());
  EXPECT_TRUE(contents->at("items").empty());

  // Now unpacked, the receiver may pass one carton on by itself.
  Do(receiver_, "offer", OfferArgs{watched, shipper_.public_key()});
}

// ---- determinism ----

// Random calls, biased towards ones that succeed (the sender is usually the holder), built
// from one chain's state and executed on both.
class RandomCalls {
 public:
  RandomCalls(uint64_t seed, std::vector<const KeyPair*> keys)
      : rng_(seed), keys_(std::move(keys)) {}

  ledger::Transaction Next(test::ContractHarness& reference, test::ContractHarness& build) {
    const std::string epc = Pick() ? Sscc(int(Below(3))) : Sgtin(int(Below(10)));
    const KeyPair& holder = HolderOf(reference, epc);
    const KeyPair& sender = Below(10) < 8 ? holder : *keys_[Below(keys_.size())];
    EventFields fields{Pick() ? "shipping" : "receiving", Pick() ? "in_transit" : "",
                       "urn:epc:id:sgln:0614141.00300." + std::to_string(Below(5)), "",
                       std::nullopt};
    switch (Below(9)) {
      case 0:
      case 1:
        return build.Tx(sender, "logistics", "object_event",
                        ObjectEventArgs{{epc}, uint8_t(EpcisAction::kObserve), fields});
      case 2:
      case 3:
        return build.Tx(sender, "logistics", "aggregate",
                        AggregateArgs{Sscc(int(Below(3))),
                                      {epc},
                                      uint8_t(Pick() ? EpcisAction::kAdd : EpcisAction::kDelete),
                                      fields});
      case 4:
        return build.Tx(sender, "logistics", "offer",
                        OfferArgs{epc, keys_[Below(keys_.size())]->public_key()});
      case 5:
      case 6: {
        const KeyPair& receiver = Below(10) < 8 ? OfferedTo(reference, epc) : sender;
        return build.Tx(receiver, "logistics", "accept", CustodyArgs{epc});
      }
      case 7:
        return build.Tx(sender, "logistics", "cancel_offer", CustodyArgs{epc});
      default:
        return build.Tx(sender, "logistics", "transact",
                        TransactArgs{{epc}, uint8_t(EpcisAction::kAdd), {"po", kOrder}, fields});
    }
  }
  uint64_t Below(uint64_t n) { return rng_() % n; }

 private:
  bool Pick() { return rng_() % 2 == 0; }
  const KeyPair& ByAddress(const Json& address) {
    for (const KeyPair* key : keys_) {
      if (address == EncodeAddress(key->public_key())) return *key;
    }
    return *keys_[Below(keys_.size())];
  }
  const KeyPair& HolderOf(test::ContractHarness& chain, const std::string& epc) {
    Result<Json> item = chain.Query("logistics", "item", {{"epc", epc}});
    return ByAddress(item.ok() ? item->at("holder") : Json());
  }
  const KeyPair& OfferedTo(test::ContractHarness& chain, const std::string& epc) {
    Result<Json> item = chain.Query("logistics", "item", {{"epc", epc}});
    if (!item.ok() || item->at("pending_offer").is_null()) return *keys_[Below(keys_.size())];
    return ByAddress(item->at("pending_offer").at("to"));
  }

  std::mt19937_64 rng_;
  std::vector<const KeyPair*> keys_;
};

TEST(LogisticsDeterminismTest, TwoStoresGiveEqualRootsAtEveryHeight) {
  const KeyPair a = TestKey(51), b = TestKey(52), c = TestKey(53), outsider = TestKey(59);
  const std::vector<const KeyPair*> custodians = {&a, &b, &c};
  auto first = NewChain(custodians);
  auto second = NewChain(custodians);
  constexpr uint64_t kSeed = 20240611;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  RandomCalls calls(kSeed, {&a, &b, &c, &outsider});
  // Everything registered first, spread over the custodians.
  for (int i = 0; i < 13; ++i) {
    const KeyPair& owner = *custodians[size_t(i) % custodians.size()];
    const RegisterArgs args{{i < 10 ? Sgtin(i) : Sscc(i - 10)}, {}};
    ASSERT_TRUE(first->Call(owner, "logistics", "register", args).ok());
    ASSERT_TRUE(second->Call(owner, "logistics", "register", args).ok());
    ASSERT_EQ(first->last_root(), second->last_root());
  }
  size_t succeeded = 0;
  size_t total = 0;
  for (int block = 0; block < 60; ++block) {
    std::vector<ledger::Transaction> first_txs;
    std::vector<ledger::Transaction> second_txs;
    const uint64_t count = 1 + calls.Below(5);
    for (uint64_t i = 0; i < count; ++i) {
      // Each harness counts nonces itself: build the same call on both.
      const uint64_t state = calls.Below(1u << 30);
      RandomCalls twin_a(state, {&a, &b, &c, &outsider});
      RandomCalls twin_b(state, {&a, &b, &c, &outsider});
      first_txs.push_back(twin_a.Next(*first, *first));
      second_txs.push_back(twin_b.Next(*first, *second));
      ASSERT_EQ(ledger::Encode(first_txs.back()), ledger::Encode(second_txs.back()));
    }
    const std::vector<ledger::TxResult> first_results = first->Block(first_txs);
    const std::vector<ledger::TxResult> second_results = second->Block(second_txs);
    ASSERT_EQ(first_results, second_results) << "block " << block;
    ASSERT_EQ(first->last_root(), second->last_root()) << "block " << block;
    for (const ledger::TxResult& result : first_results) succeeded += result.ok() ? 1 : 0;
    total += first_results.size();
  }
  // The sequence exercised the contract, not only its refusals.
  EXPECT_GT(succeeded, total / 5) << succeeded << " of " << total;
  for (int i = 0; i < 10; ++i) {
    const Json params = {{"epc", Sgtin(i)}, {"limit", 1000}};
    Result<Json> one = first->Query("logistics", "provenance", params);
    Result<Json> two = second->Query("logistics", "provenance", params);
    ASSERT_EQ(one.ok(), two.ok());
    if (one.ok()) {
      EXPECT_EQ(*one, *two);
    }
  }
}

}  // namespace
}  // namespace city::contracts
