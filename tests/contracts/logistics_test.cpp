// The logistics contract, method by method, on a real store: each success path, each
// permission denial and each invalid argument.
#include "city/contracts/logistics.h"

#include <gtest/gtest.h>

#include "support/contract_harness.h"

namespace city::contracts {
namespace {

using test::CodeOf;
using test::TestKey;

uint32_t CodeOf(LogisticsCode code) { return static_cast<uint32_t>(code); }

std::string Sgtin(int n) { return "urn:epc:id:sgtin:0614141.107346." + std::to_string(n); }
std::string Sscc(int n) { return "urn:epc:id:sscc:0614141.12345678" + std::to_string(n); }
std::string Sgln(int n) { return "urn:epc:id:sgln:0614141.00777." + std::to_string(n); }
constexpr const char* kOrder = "urn:epcglobal:cbv:bt:0614141000005:PO-4711";

EventFields Why(std::string step, std::string disposition = "", std::string where = "") {
  return {std::move(step), std::move(disposition), std::move(where), "", std::nullopt};
}

class LogisticsTest : public ::testing::Test {
 protected:
  LogisticsTest()
      : shipper_(TestKey(31)),
        port_(TestKey(32)),
        carrier_(TestKey(33)),
        receiver_(TestKey(34)),
        outsider_(TestKey(39)) {
    GovernanceGenesis genesis;
    genesis.council = {TestKey(1).public_key()};
    for (const KeyPair* key : {&shipper_, &port_, &carrier_, &receiver_})
      genesis.roles.push_back({std::string(kCustodianRole), key->public_key()});
    auto registry = std::make_unique<Registry>();
    EXPECT_TRUE(registry->Add(MakeGovernance()).ok());
    EXPECT_TRUE(registry->Add(MakeLogistics()).ok());
    Result<std::vector<ledger::StateWrite>> writes = GovernanceGenesisWrites(genesis);
    EXPECT_TRUE(writes.ok()) << writes.status().ToString();
    chain_ = std::make_unique<test::ContractHarness>(std::move(registry), *writes);
  }

  template <typename Args>
  uint32_t Call(const KeyPair& sender, const std::string& method, const Args& args) {
    const ledger::TxResult result = chain_->Call(sender, "logistics", method, args);
    return result.code;
  }
  void Register(const KeyPair& sender, std::vector<Epc> epcs) {
    const ledger::TxResult result =
        chain_->Call(sender, "logistics", "register", RegisterArgs{std::move(epcs), Why("")});
    ASSERT_TRUE(result.ok()) << result.detail;
  }
  void Pack(const KeyPair& sender, const std::string& container, std::vector<Epc> children) {
    const ledger::TxResult result = chain_->Call(
        sender, "logistics", "aggregate",
        AggregateArgs{container, std::move(children), uint8_t(EpcisAction::kAdd), Why("packing")});
    ASSERT_TRUE(result.ok()) << result.detail;
  }
  Json Item(const std::string& epc) {
    Result<Json> answer = chain_->Query("logistics", "item", {{"epc", epc}});
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? *answer : Json();
  }
  std::string Holder(const std::string& epc) { return Item(epc).at("holder").get<std::string>(); }
  Json Provenance(const std::string& epc) {
    Result<Json> answer = chain_->Query("logistics", "provenance", {{"epc", epc}});
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    return answer.ok() ? answer->at("events") : Json::array();
  }
  static std::string Address(const KeyPair& key) { return EncodeAddress(key.public_key()); }

  KeyPair shipper_;
  KeyPair port_;
  KeyPair carrier_;
  KeyPair receiver_;
  KeyPair outsider_;
  std::unique_ptr<test::ContractHarness> chain_;
};

// ---- identifiers ----

TEST(LogisticsEpcTest, OnlyTheAcceptedSchemesAndCharactersAreValid) {
  EXPECT_TRUE(IsValidEpc("urn:epc:id:sgtin:0614141.107346.2017"));
  EXPECT_TRUE(IsValidEpc("urn:epc:id:sscc:0614141.1234567890"));
  EXPECT_TRUE(IsValidEpc("urn:epc:id:grai:0614141.12345.400"));
  EXPECT_TRUE(IsValidEpc("urn:epc:id:giai:0614141.A-12"));
  EXPECT_FALSE(IsValidEpc("urn:epc:id:sgtin:"));            // nothing after the scheme
  EXPECT_FALSE(IsValidEpc("urn:epc:id:sgln:0614141.0.1"));  // a location, not an object
  EXPECT_FALSE(IsValidEpc("urn:epc:id:sgtin:06141 41"));    // space
  EXPECT_FALSE(IsValidEpc("urn:epc:id:sgtin:0614141/1"));   // slash
  EXPECT_FALSE(IsValidEpc("URN:EPC:ID:SGTIN:0614141.1"));   // the prefix is lower case
  EXPECT_FALSE(IsValidEpc(""));
  EXPECT_TRUE(IsValidEpc("urn:epc:id:sgtin:" + std::string(128 - 17, '7')));
  EXPECT_FALSE(IsValidEpc("urn:epc:id:sgtin:" + std::string(129 - 17, '7')));
  EXPECT_TRUE(IsContainerEpc("urn:epc:id:sscc:0614141.1234567890"));
  EXPECT_FALSE(IsContainerEpc("urn:epc:id:sgtin:0614141.107346.2017"));
}

// ---- register ----

TEST_F(LogisticsTest, RegisterMakesTheCallerTheHolder) {
  RegisterArgs args{{Sgtin(1), Sscc(1)}, Why("commissioning", "active", Sgln(1))};
  args.fields.document = DocumentHash{TaggedHash("epcis", AsBytes("doc"))};
  const ledger::TxResult result = chain_->Call(shipper_, "logistics", "register", args);
  ASSERT_TRUE(result.ok()) << result.detail;
  ASSERT_EQ(result.events.size(), 1u);
  EXPECT_EQ(result.events[0].name, "registered");
  const Json item = Item(Sgtin(1));
  EXPECT_EQ(item.at("holder"), Address(shipper_));
  EXPECT_EQ(item.at("state"), "active");
  EXPECT_EQ(item.at("scheme"), "sgtin");
  EXPECT_TRUE(item.at("container").is_null());
  EXPECT_TRUE(item.at("pending_offer").is_null());
  EXPECT_EQ(item.at("registered_ms"), chain_->now_ms());
  EXPECT_EQ(Item(Sscc(1)).at("contents"), 0);
  const Json events = Provenance(Sgtin(1));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].at("kind"), "object");
  EXPECT_EQ(events[0].at("action"), "ADD");
  EXPECT_EQ(events[0].at("biz_step"), "commissioning");
  EXPECT_EQ(events[0].at("read_point"), Sgln(1));
  EXPECT_EQ(events[0].at("document_hash"), args.fields.document->hash.ToHex());
  EXPECT_EQ(events[0].at("actor"), Address(shipper_));
  EXPECT_EQ(events[0].at("height"), chain_->height());
}

TEST_F(LogisticsTest, RegisterNeedsTheCustodianRole) {
  EXPECT_EQ(Call(outsider_, "register", RegisterArgs{{Sgtin(1)}, {}}),
            CodeOf(Code::kPermissionDenied));
  EXPECT_FALSE(chain_->Query("logistics", "item", {{"epc", Sgtin(1)}}).ok());
}

TEST_F(LogisticsTest, RegisterRefusesInvalidArguments) {
  const auto bad = [&](RegisterArgs args) { return Call(shipper_, "register", args); };
  EXPECT_EQ(bad({{}, {}}), CodeOf(Code::kBadArguments));  // no EPC
  EXPECT_EQ(bad({{"urn:epc:id:sgtin:"}, {}}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(bad({{"urn:epc:id:xyz:1.2"}, {}}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(bad({{"urn:epc:id:sgtin:1 2"}, {}}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(bad({{Sgtin(1), Sgtin(1)}, {}}), CodeOf(Code::kBadArguments));  // twice
  EXPECT_EQ(bad({{Sgtin(1)}, Why("Shipping")}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(bad({{Sgtin(1)}, Why("shipping", "in transit")}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(bad({{Sgtin(1)}, Why("shipping", "", Sgtin(2))}), CodeOf(Code::kBadArguments));
  RegisterArgs location{{Sgtin(1)}, {}};
  location.fields.biz_location = "urn:epc:id:sgln:";
  EXPECT_EQ(bad(location), CodeOf(Code::kBadArguments));
  RegisterArgs too_many;
  for (int i = 0; i <= int(kMaxEpcsPerEvent); ++i) too_many.epcs.push_back(Sgtin(i));
  EXPECT_EQ(bad(too_many), CodeOf(Code::kBadArguments));  // does not decode
  // None of them registered anything.
  EXPECT_FALSE(chain_->Query("logistics", "item", {{"epc", Sgtin(1)}}).ok());
  Register(shipper_, {Sgtin(1)});
  EXPECT_EQ(bad({{Sgtin(2), Sgtin(1)}, {}}), CodeOf(Code::kAlreadyExists));
  EXPECT_FALSE(chain_->Query("logistics", "item", {{"epc", Sgtin(2)}}).ok());  // all or nothing
  EXPECT_EQ(Call(port_, "register", RegisterArgs{{Sgtin(1)}, {}}), CodeOf(Code::kAlreadyExists));
}

// ---- object events ----

TEST_F(LogisticsTest, TheHolderRecordsObjectEvents) {
  Register(shipper_, {Sgtin(1), Sgtin(2)});
  ObjectEventArgs args{
      {Sgtin(1), Sgtin(2)}, uint8_t(EpcisAction::kObserve), Why("inspecting", "active", Sgln(3))};
  const ledger::TxResult result = chain_->Call(shipper_, "logistics", "object_event", args);
  ASSERT_TRUE(result.ok()) << result.detail;
  for (const std::string& epc : {Sgtin(1), Sgtin(2)}) {
    const Json events = Provenance(epc);
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[1].at("action"), "OBSERVE");
    EXPECT_EQ(events[1].at("biz_step"), "inspecting");
    EXPECT_EQ(events[1].at("read_point"), Sgln(3));
    EXPECT_EQ(events[1].at("time_ms"), chain_->now_ms());
  }
  // The stored event names both objects.
  Result<Json> event =
      chain_->Query("logistics", "event", {{"id", *ReadU64Value(result.events.at(0).data)}});
  ASSERT_TRUE(event.ok()) << event.status().ToString();
  EXPECT_EQ(event->at("epcs"), Json({Sgtin(1), Sgtin(2)}));
  EXPECT_EQ(event->at("kind"), "object");
}

TEST_F(LogisticsTest, ObjectEventPermissionsAndArguments) {
  Register(shipper_, {Sgtin(1)});
  ObjectEventArgs args{{Sgtin(1)}, uint8_t(EpcisAction::kObserve), Why("inspecting")};
  EXPECT_EQ(Call(outsider_, "object_event", args), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(port_, "object_event", args), CodeOf(LogisticsCode::kNotHolder));
  ObjectEventArgs bad = args;
  bad.action = uint8_t(EpcisAction::kAdd);  // registering is "register"
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kBadArguments));
  bad.action = 9;
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kBadArguments));
  bad = args;
  bad.epcs = {};
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kBadArguments));
  bad.epcs = {"urn:epc:id:sgtin:x y"};
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kBadArguments));
  bad = args;
  bad.fields.read_point = "somewhere";
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kBadArguments));
  bad = args;
  bad.epcs = {Sgtin(1), Sgtin(9)};
  EXPECT_EQ(Call(shipper_, "object_event", bad), CodeOf(Code::kNotFound));
  EXPECT_EQ(Provenance(Sgtin(1)).size(), 1u);  // only the registration
}

TEST_F(LogisticsTest, DecommissionedObjectsTakeNoMoreEvents) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(2)});
  ObjectEventArgs remove{{Sgtin(1)}, uint8_t(EpcisAction::kDelete), Why("decommissioning")};
  ASSERT_EQ(Call(shipper_, "object_event", remove), 0u);
  EXPECT_EQ(Item(Sgtin(1)).at("state"), "decommissioned");
  ObjectEventArgs observe{{Sgtin(1)}, uint8_t(EpcisAction::kObserve), {}};
  EXPECT_EQ(Call(shipper_, "object_event", observe), CodeOf(LogisticsCode::kNotActive));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), port_.public_key()}),
            CodeOf(LogisticsCode::kNotActive));
  // A container that still holds objects cannot be decommissioned; nor can its contents.
  remove.epcs = {Sscc(1)};
  EXPECT_EQ(Call(shipper_, "object_event", remove), CodeOf(LogisticsCode::kContainerNotEmpty));
  remove.epcs = {Sgtin(2)};
  EXPECT_EQ(Call(shipper_, "object_event", remove), CodeOf(LogisticsCode::kInContainer));
}

TEST_F(LogisticsTest, EventsOnAContainerReachItsContentsNotTheItemsInside) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1), Sscc(2)});
  Pack(shipper_, Sscc(1), {Sgtin(1)});
  Pack(shipper_, Sscc(2), {Sscc(1), Sgtin(2)});  // a pallet inside a container
  ObjectEventArgs inside{{Sgtin(1)}, uint8_t(EpcisAction::kObserve), Why("shipping")};
  EXPECT_EQ(Call(shipper_, "object_event", inside), CodeOf(LogisticsCode::kInContainer));
  inside.epcs = {Sscc(1)};
  EXPECT_EQ(Call(shipper_, "object_event", inside), CodeOf(LogisticsCode::kInContainer));
  inside.epcs = {Sscc(2)};
  ASSERT_EQ(Call(shipper_, "object_event", inside), 0u);
  for (const std::string& epc : {Sgtin(1), Sscc(1), Sgtin(2)}) {
    const Json last = Provenance(epc).back();
    EXPECT_EQ(last.at("biz_step"), "shipping") << epc;
    EXPECT_EQ(last.at("via"), Sscc(2)) << epc;
  }
  EXPECT_TRUE(Provenance(Sscc(2)).back().at("via").is_null());
}

// ---- aggregation ----

TEST_F(LogisticsTest, AggregationPacksAndUnpacks) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sgtin(3), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(3), Sgtin(1), Sgtin(2)});
  Result<Json> contents = chain_->Query("logistics", "contents", {{"container", Sscc(1)}});
  ASSERT_TRUE(contents.ok()) << contents.status().ToString();
  EXPECT_EQ(contents->at("items"), Json({Sgtin(1), Sgtin(2), Sgtin(3)}));  // sorted
  EXPECT_EQ(contents->at("all_levels"), 3);
  EXPECT_EQ(Item(Sgtin(2)).at("container"), Sscc(1));
  EXPECT_EQ(Item(Sgtin(2)).at("outermost"), Sscc(1));
  const Json packed = Provenance(Sgtin(2)).back();
  EXPECT_EQ(packed.at("kind"), "aggregation");
  EXPECT_EQ(packed.at("action"), "ADD");
  EXPECT_EQ(packed.at("parent"), Sscc(1));
  EXPECT_EQ(Provenance(Sscc(1)).back().at("kind"), "aggregation");

  // Unpack one, then the rest (an empty list unpacks everything).
  AggregateArgs unpack{Sscc(1), {Sgtin(2)}, uint8_t(EpcisAction::kDelete), Why("unpacking")};
  ASSERT_EQ(Call(shipper_, "aggregate", unpack), 0u);
  EXPECT_TRUE(Item(Sgtin(2)).at("container").is_null());
  EXPECT_EQ(Item(Sscc(1)).at("contents"), 2);
  unpack.children = {};
  ASSERT_EQ(Call(shipper_, "aggregate", unpack), 0u);
  EXPECT_EQ(Item(Sscc(1)).at("contents"), 0);
  EXPECT_TRUE(Item(Sgtin(3)).at("container").is_null());
  EXPECT_EQ(Provenance(Sgtin(3)).back().at("action"), "DELETE");
  EXPECT_EQ(Provenance(Sgtin(2)).size(), 3u);  // not touched by the second unpacking
}

TEST_F(LogisticsTest, AggregationPermissions) {
  Register(shipper_, {Sgtin(1), Sscc(1)});
  Register(port_, {Sgtin(2), Sscc(2)});
  AggregateArgs args{Sscc(1), {Sgtin(1)}, uint8_t(EpcisAction::kAdd), Why("packing")};
  EXPECT_EQ(Call(outsider_, "aggregate", args), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(port_, "aggregate", args), CodeOf(LogisticsCode::kNotHolder));  // neither
  args.children = {Sgtin(2)};
  EXPECT_EQ(Call(shipper_, "aggregate", args), CodeOf(LogisticsCode::kNotHolder));  // child
  args.parent = Sscc(2);
  args.children = {Sgtin(1)};
  EXPECT_EQ(Call(shipper_, "aggregate", args), CodeOf(LogisticsCode::kNotHolder));  // parent
  // Unpacking needs the container too.
  Pack(shipper_, Sscc(1), {Sgtin(1)});
  EXPECT_EQ(Call(port_, "aggregate",
                 AggregateArgs{Sscc(1), {}, uint8_t(EpcisAction::kDelete), Why("unpacking")}),
            CodeOf(LogisticsCode::kNotHolder));
}

TEST_F(LogisticsTest, AggregationRefusesInvalidArguments) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1), Sscc(2)});
  const auto aggregate = [&](std::string parent, std::vector<Epc> children,
                             EpcisAction action = EpcisAction::kAdd) {
    return Call(shipper_, "aggregate",
                AggregateArgs{std::move(parent), std::move(children), uint8_t(action), {}});
  };
  EXPECT_EQ(aggregate(Sgtin(1), {Sgtin(2)}), CodeOf(LogisticsCode::kNotContainer));
  EXPECT_EQ(aggregate("pallet", {Sgtin(2)}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(aggregate(Sscc(1), {}), CodeOf(Code::kBadArguments));  // ADD needs children
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(1), Sgtin(1)}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(1)}, EpcisAction::kObserve), CodeOf(Code::kBadArguments));
  EXPECT_EQ(aggregate(Sscc(9), {Sgtin(1)}), CodeOf(Code::kNotFound));
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(9)}), CodeOf(Code::kNotFound));
  EXPECT_EQ(aggregate(Sscc(1), {Sscc(1)}), CodeOf(LogisticsCode::kCycle));
  ASSERT_EQ(aggregate(Sscc(1), {Sgtin(1)}), 0u);
  EXPECT_EQ(aggregate(Sscc(2), {Sgtin(1)}), CodeOf(LogisticsCode::kInContainer));
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(1)}), CodeOf(LogisticsCode::kInContainer));
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(2)}, EpcisAction::kDelete),
            CodeOf(LogisticsCode::kNotInContainer));
  // A container into a container inside it.
  ASSERT_EQ(aggregate(Sscc(2), {Sscc(1)}), 0u);
  EXPECT_EQ(aggregate(Sscc(1), {Sscc(2)}), CodeOf(LogisticsCode::kCycle));
  // Unpacking from a container inside another needs the outer one's holder: the caller.
  EXPECT_EQ(aggregate(Sscc(1), {Sgtin(1)}, EpcisAction::kDelete), 0u);
  EXPECT_TRUE(Item(Sgtin(1)).at("container").is_null());
  EXPECT_EQ(Item(Sgtin(1)).at("holder"), Address(shipper_));
}

TEST_F(LogisticsTest, ContainersNestAtMostFourDeep) {
  Register(shipper_, {Sgtin(1), Sscc(0), Sscc(1), Sscc(2), Sscc(3), Sscc(4)});
  Pack(shipper_, Sscc(0), {Sgtin(1)});
  for (int level = 1; level <= 3; ++level) Pack(shipper_, Sscc(level), {Sscc(level - 1)});
  // The item is now four containers deep; a fifth is refused, whichever side grows.
  EXPECT_EQ(Call(shipper_, "aggregate",
                 AggregateArgs{Sscc(4), {Sscc(3)}, uint8_t(EpcisAction::kAdd), {}}),
            CodeOf(Code::kLimitExceeded));
  EXPECT_EQ(Item(Sgtin(1)).at("outermost"), Sscc(3));
  EXPECT_EQ(Item(Sgtin(1)).at("holder"), Address(shipper_));
  Register(shipper_, {Sgtin(2)});
  Pack(shipper_, Sscc(0), {Sgtin(2)});  // same depth as the first item: allowed
}

TEST_F(LogisticsTest, AContainerHoldsAtMost256ObjectsAtAllLevels) {
  std::vector<Epc> first;
  std::vector<Epc> second;
  for (int i = 0; i < 200; ++i) first.push_back(Sgtin(1000 + i));
  for (int i = 0; i < 100; ++i) second.push_back(Sgtin(2000 + i));
  Register(shipper_, first);
  Register(shipper_, second);
  Register(shipper_, {Sscc(1), Sscc(2)});
  Pack(shipper_, Sscc(1), first);
  Pack(shipper_, Sscc(2), second);
  EXPECT_EQ(Call(shipper_, "aggregate",
                 AggregateArgs{Sscc(2), {Sscc(1)}, uint8_t(EpcisAction::kAdd), {}}),
            CodeOf(Code::kLimitExceeded));
  // One event may reach at most kMaxAffectedPerEvent objects.
  std::vector<Epc> third;
  for (int i = 0; i < 250; ++i) third.push_back(Sgtin(3000 + i));
  Register(shipper_, third);
  Register(shipper_, {Sscc(3)});
  Pack(shipper_, Sscc(3), third);
  ObjectEventArgs all{{Sscc(1), Sscc(2), Sscc(3)}, uint8_t(EpcisAction::kObserve), {}};
  EXPECT_EQ(Call(shipper_, "object_event", all), CodeOf(Code::kLimitExceeded));
  all.epcs = {Sscc(1), Sscc(3)};  // 2 + 450
  EXPECT_EQ(Call(shipper_, "object_event", all), 0u);
}

// ---- transformation ----

TEST_F(LogisticsTest, TransformationConsumesInputsAndCreatesOutputs) {
  Register(shipper_, {Sgtin(1), Sgtin(2)});
  TransformArgs args{{Sgtin(1), Sgtin(2)}, {Sgtin(10)}, Why("repacking", "", Sgln(1))};
  const ledger::TxResult result = chain_->Call(shipper_, "logistics", "transform", args);
  ASSERT_TRUE(result.ok()) << result.detail;
  EXPECT_EQ(Item(Sgtin(1)).at("state"), "consumed");
  EXPECT_EQ(Item(Sgtin(10)).at("state"), "active");
  EXPECT_EQ(Item(Sgtin(10)).at("holder"), Address(shipper_));
  const Json output = Provenance(Sgtin(10));
  ASSERT_EQ(output.size(), 1u);
  EXPECT_EQ(output[0].at("kind"), "transformation");
  EXPECT_EQ(output[0].at("role"), "output");
  EXPECT_EQ(Provenance(Sgtin(1)).back().at("role"), "input");
  // The event links the output to its inputs.
  Result<Json> event =
      chain_->Query("logistics", "event", {{"id", output[0].at("event").get<uint64_t>()}});
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->at("epcs"), Json({Sgtin(1), Sgtin(2)}));
  EXPECT_EQ(event->at("outputs"), Json({Sgtin(10)}));
  // A consumed input is gone for good.
  EXPECT_EQ(Call(shipper_, "transform", TransformArgs{{Sgtin(1)}, {Sgtin(11)}, {}}),
            CodeOf(LogisticsCode::kNotActive));
}

TEST_F(LogisticsTest, TransformationPermissionsAndArguments) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(2)});
  const auto transform = [&](const KeyPair& key, std::vector<Epc> in, std::vector<Epc> out) {
    return Call(key, "transform", TransformArgs{std::move(in), std::move(out), {}});
  };
  EXPECT_EQ(transform(outsider_, {Sgtin(1)}, {Sgtin(10)}), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(transform(port_, {Sgtin(1)}, {Sgtin(10)}), CodeOf(LogisticsCode::kNotHolder));
  EXPECT_EQ(transform(shipper_, {}, {Sgtin(10)}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(transform(shipper_, {Sgtin(1)}, {}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(transform(shipper_, {Sgtin(1)}, {Sgtin(1)}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(transform(shipper_, {Sgtin(1)}, {"bad"}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(transform(shipper_, {Sgtin(9)}, {Sgtin(10)}), CodeOf(Code::kNotFound));
  EXPECT_EQ(transform(shipper_, {Sgtin(1)}, {Sscc(1)}), CodeOf(Code::kAlreadyExists));
  EXPECT_EQ(transform(shipper_, {Sgtin(2)}, {Sgtin(10)}), CodeOf(LogisticsCode::kInContainer));
  EXPECT_EQ(transform(shipper_, {Sscc(1)}, {Sgtin(10)}), CodeOf(LogisticsCode::kContainerNotEmpty));
  EXPECT_EQ(Item(Sgtin(1)).at("state"), "active");
  EXPECT_FALSE(chain_->Query("logistics", "item", {{"epc", Sgtin(10)}}).ok());
}

// ---- transaction events ----

TEST_F(LogisticsTest, TransactionEventsLinkObjectsToABusinessTransaction) {
  Register(shipper_, {Sgtin(1), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(1)});
  TransactArgs args{{Sscc(1)}, uint8_t(EpcisAction::kAdd), {"po", kOrder}, Why("shipping")};
  ASSERT_EQ(Call(shipper_, "transact", args), 0u);
  const Json last = Provenance(Sgtin(1)).back();
  EXPECT_EQ(last.at("kind"), "transaction");
  EXPECT_EQ(last.at("via"), Sscc(1));
  EXPECT_EQ(last.at("biz_transaction"), Json({{"type", "po"}, {"id", kOrder}}));
  Result<Json> linked = chain_->Query("logistics", "transaction", {{"id", kOrder}});
  ASSERT_TRUE(linked.ok()) << linked.status().ToString();
  ASSERT_EQ(linked->at("events").size(), 1u);
  EXPECT_EQ(linked->at("events")[0].at("action"), "ADD");
}

TEST_F(LogisticsTest, TransactionEventPermissionsAndArguments) {
  Register(shipper_, {Sgtin(1)});
  const TransactArgs good{{Sgtin(1)}, uint8_t(EpcisAction::kAdd), {"po", kOrder}, {}};
  EXPECT_EQ(Call(outsider_, "transact", good), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(port_, "transact", good), CodeOf(LogisticsCode::kNotHolder));
  TransactArgs bad = good;
  bad.action = 0;
  EXPECT_EQ(Call(shipper_, "transact", bad), CodeOf(Code::kBadArguments));
  bad = good;
  bad.transaction.type = "Purchase Order";
  EXPECT_EQ(Call(shipper_, "transact", bad), CodeOf(Code::kBadArguments));
  bad = good;
  bad.transaction.id = "PO 4711";
  EXPECT_EQ(Call(shipper_, "transact", bad), CodeOf(Code::kBadArguments));
  bad = good;
  bad.epcs = {};
  EXPECT_EQ(Call(shipper_, "transact", bad), CodeOf(Code::kBadArguments));
  bad = good;
  bad.epcs = {Sgtin(7)};
  EXPECT_EQ(Call(shipper_, "transact", bad), CodeOf(Code::kNotFound));
  Result<Json> linked = chain_->Query("logistics", "transaction", {{"id", kOrder}});
  ASSERT_TRUE(linked.ok());
  EXPECT_TRUE(linked->at("events").empty());
}

// ---- custody ----

TEST_F(LogisticsTest, CustodyMovesOnlyWhenTheReceiverAccepts) {
  Register(shipper_, {Sgtin(1)});
  const ledger::TxResult offered =
      chain_->Call(shipper_, "logistics", "offer", OfferArgs{Sgtin(1), port_.public_key()});
  ASSERT_TRUE(offered.ok()) << offered.detail;
  EXPECT_EQ(offered.related_accounts, std::vector<PublicKey>{port_.public_key()});
  EXPECT_EQ(Holder(Sgtin(1)), Address(shipper_));
  EXPECT_EQ(Item(Sgtin(1)).at("pending_offer").at("to"), Address(port_));
  // The holder still records events while the offer is open.
  EXPECT_EQ(Call(shipper_, "object_event",
                 ObjectEventArgs{{Sgtin(1)}, uint8_t(EpcisAction::kObserve), Why("shipping")}),
            0u);
  ASSERT_EQ(Call(port_, "accept", CustodyArgs{Sgtin(1)}), 0u);
  EXPECT_EQ(Holder(Sgtin(1)), Address(port_));
  EXPECT_TRUE(Item(Sgtin(1)).at("pending_offer").is_null());
  const Json events = Provenance(Sgtin(1));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[1].at("kind"), "custody_offer");
  EXPECT_EQ(events[1].at("counterparty"), Address(port_));
  EXPECT_EQ(events[3].at("kind"), "custody_accept");
  EXPECT_EQ(events[3].at("actor"), Address(port_));
  EXPECT_EQ(events[3].at("counterparty"), Address(shipper_));
  // The former holder has lost it.
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), carrier_.public_key()}),
            CodeOf(LogisticsCode::kNotHolder));
}

TEST_F(LogisticsTest, OnlyTheHolderOffersAndOnlyTheNamedReceiverAccepts) {
  Register(shipper_, {Sgtin(1)});
  const OfferArgs to_port{Sgtin(1), port_.public_key()};
  EXPECT_EQ(Call(outsider_, "offer", to_port), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(carrier_, "offer", to_port), CodeOf(LogisticsCode::kNotHolder));
  EXPECT_EQ(Call(port_, "accept", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kNoOffer));
  ASSERT_EQ(Call(shipper_, "offer", to_port), 0u);
  EXPECT_EQ(Call(carrier_, "accept", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kOfferToOther));
  EXPECT_EQ(Call(shipper_, "accept", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kOfferToOther));
  EXPECT_EQ(Call(outsider_, "accept", CustodyArgs{Sgtin(1)}), CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), carrier_.public_key()}),
            CodeOf(LogisticsCode::kOfferPending));
  EXPECT_EQ(Holder(Sgtin(1)), Address(shipper_));
}

TEST_F(LogisticsTest, OfferRefusesInvalidArguments) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(2)});
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{"nope", port_.public_key()}),
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), PublicKey{}}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), shipper_.public_key()}),
            CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(9), port_.public_key()}),
            CodeOf(Code::kNotFound));
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), outsider_.public_key()}),
            CodeOf(LogisticsCode::kReceiverNotCustodian));
  // An item inside a container travels with it, never on its own.
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(2), port_.public_key()}),
            CodeOf(LogisticsCode::kInContainer));
  EXPECT_EQ(Call(port_, "accept", CustodyArgs{"nope"}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(port_, "accept", CustodyArgs{Sgtin(9)}), CodeOf(Code::kNotFound));
}

TEST_F(LogisticsTest, TheHolderCancelsAnOffer) {
  Register(shipper_, {Sgtin(1)});
  EXPECT_EQ(Call(shipper_, "cancel_offer", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kNoOffer));
  ASSERT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), port_.public_key()}), 0u);
  EXPECT_EQ(Call(outsider_, "cancel_offer", CustodyArgs{Sgtin(1)}),
            CodeOf(Code::kPermissionDenied));
  EXPECT_EQ(Call(port_, "cancel_offer", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kNotHolder));
  EXPECT_EQ(Call(shipper_, "cancel_offer", CustodyArgs{"x"}), CodeOf(Code::kBadArguments));
  EXPECT_EQ(Call(shipper_, "cancel_offer", CustodyArgs{Sgtin(2)}), CodeOf(Code::kNotFound));
  ASSERT_EQ(Call(shipper_, "cancel_offer", CustodyArgs{Sgtin(1)}), 0u);
  EXPECT_EQ(Call(port_, "accept", CustodyArgs{Sgtin(1)}), CodeOf(LogisticsCode::kNoOffer));
  EXPECT_EQ(Provenance(Sgtin(1)).back().at("kind"), "custody_cancel");
  // A new offer may follow.
  EXPECT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(1), carrier_.public_key()}), 0u);
}

TEST_F(LogisticsTest, AContainerUnderOfferIsFrozenAndCarriesItsContents) {
  Register(shipper_, {Sgtin(1), Sgtin(2), Sscc(1)});
  Pack(shipper_, Sscc(1), {Sgtin(1)});
  ASSERT_EQ(Call(shipper_, "offer", OfferArgs{Sscc(1), port_.public_key()}), 0u);
  EXPECT_EQ(Item(Sgtin(1)).at("pending_offer").at("to"), Address(port_));
  EXPECT_EQ(Call(shipper_, "aggregate",
                 AggregateArgs{Sscc(1), {Sgtin(2)}, uint8_t(EpcisAction::kAdd), {}}),
            CodeOf(LogisticsCode::kOfferPending));
  EXPECT_EQ(
      Call(shipper_, "aggregate", AggregateArgs{Sscc(1), {}, uint8_t(EpcisAction::kDelete), {}}),
      CodeOf(LogisticsCode::kOfferPending));
  EXPECT_EQ(Call(shipper_, "transform", TransformArgs{{Sscc(1)}, {Sgtin(9)}, {}}),
            CodeOf(LogisticsCode::kOfferPending));
  ASSERT_EQ(Call(port_, "accept", CustodyArgs{Sscc(1)}), 0u);
  EXPECT_EQ(Holder(Sgtin(1)), Address(port_));
  // An object under offer cannot be packed either.
  ASSERT_EQ(Call(shipper_, "offer", OfferArgs{Sgtin(2), port_.public_key()}), 0u);
  EXPECT_EQ(
      Call(port_, "aggregate", AggregateArgs{Sscc(1), {Sgtin(2)}, uint8_t(EpcisAction::kAdd), {}}),
      CodeOf(LogisticsCode::kNotHolder));
  ASSERT_EQ(Call(port_, "accept", CustodyArgs{Sgtin(2)}), 0u);
  ASSERT_EQ(Call(port_, "offer", OfferArgs{Sgtin(2), carrier_.public_key()}), 0u);
  EXPECT_EQ(
      Call(port_, "aggregate", AggregateArgs{Sscc(1), {Sgtin(2)}, uint8_t(EpcisAction::kAdd), {}}),
      CodeOf(LogisticsCode::kOfferPending));
  // Unpacking writes the holder back onto the contents.
  ASSERT_EQ(Call(port_, "aggregate", AggregateArgs{Sscc(1), {}, uint8_t(EpcisAction::kDelete), {}}),
            0u);
  EXPECT_EQ(Holder(Sgtin(1)), Address(port_));
  EXPECT_EQ(Call(port_, "offer", OfferArgs{Sgtin(1), carrier_.public_key()}), 0u);
}

// ---- queries ----

TEST_F(LogisticsTest, QueriesValidateTheirParameters) {
  Register(shipper_, {Sgtin(1)});
  EXPECT_FALSE(chain_->Query("logistics", "item", {{"epc", "nope"}}).ok());
  EXPECT_FALSE(chain_->Query("logistics", "item", Json::object()).ok());
  EXPECT_EQ(chain_->Query("logistics", "item", {{"epc", Sgtin(2)}}).status().code(),
            ErrorCode::kNotFound);
  EXPECT_EQ(chain_->Query("logistics", "provenance", {{"epc", Sgtin(2)}}).status().code(),
            ErrorCode::kNotFound);
  EXPECT_FALSE(chain_->Query("logistics", "provenance", {{"epc", Sgtin(1)}, {"limit", 0}}).ok());
  EXPECT_FALSE(
      chain_->Query("logistics", "provenance", {{"epc", Sgtin(1)}, {"cursor", "zz"}}).ok());
  EXPECT_FALSE(chain_->Query("logistics", "contents", {{"container", Sgtin(1)}}).ok());
  EXPECT_EQ(chain_->Query("logistics", "event", {{"id", 99}}).status().code(),
            ErrorCode::kNotFound);
  EXPECT_FALSE(chain_->Query("logistics", "event", {{"id", "x"}}).ok());
  EXPECT_FALSE(chain_->Query("logistics", "transaction", {{"id", "PO 1"}}).ok());
}

}  // namespace
}  // namespace city::contracts
