// A 4-validator network commits transactions of every contract, submitted to different nodes,
// each with an ok result; afterwards every node has the same blocks and state roots.
#include <gtest/gtest.h>

#include "city/contracts/emr.h"
#include "city/contracts/governance.h"
#include "city/contracts/logistics.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "support/emr_fixtures.h"
#include "test_util.h"

namespace city::testnet {
namespace {

using namespace city::contracts;

uint64_t WallClockMs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

// Submits transactions round-robin over the nodes, then waits for each to commit.
class Batch {
 public:
  explicit Batch(LocalNet& net) : net_(net) {}

  void Add(const std::string& what, const ledger::Transaction& tx) {
    const size_t node = next_node_++ % net_.size();
    ApiReply reply = net_.Submit(node, tx);
    EXPECT_EQ(reply.status, 202) << what << " on node " << node << ": " << reply.Describe();
    EXPECT_EQ(reply.body.value("id", ""), tx.Id().ToHex()) << what;
    pending_.push_back({what, node, tx.Id(), net_.KeyNameOf(tx.sender)});
  }

  // Waits for every transaction; each must be committed with an ok result, and every node
  // must have executed it (the next round reads it back on other nodes, whose execution may
  // run a block or two behind the node that answered). Returns the GET /v1/tx bodies by name.
  std::map<std::string, Json> CommitAll() {
    std::map<std::string, Json> done;
    uint64_t highest = 0;
    for (const Pending& p : pending_) {
      // Read as the sender: the body and events of a private transaction are theirs to see.
      const Json tx = net_.WaitTx(p.node, p.id, 30s, p.sender);
      EXPECT_TRUE(CommittedOk(tx)) << p.what;
      highest = std::max(highest, tx.value("height", uint64_t{0}));
      done[p.what] = tx;
    }
    pending_.clear();
    EXPECT_TRUE(net_.WaitHeight(net_.AllNodes(), highest, 30s)) << net_.Describe();
    return done;
  }

 private:
  struct Pending {
    std::string what;
    size_t node;
    Hash256 id;
    std::string sender;  // the testnet key name
  };
  LocalNet& net_;
  size_t next_node_ = 0;
  std::vector<Pending> pending_;
};

TEST_F(SharedNetTest, EveryContractCommitsOnFourValidatorsWithoutFork) {
  LocalNet& net = SharedNet();
  const KeyPair& council = net.Key("council");
  const KeyPair& registrar = net.Key("registrar");
  const KeyPair& clinician = net.Key("clinician");
  const KeyPair& emergency = net.Key("emergency");
  const KeyPair& citizen = net.Key("citizen");
  const KeyPair& patient = net.Key("patient");
  const KeyPair& shipper = net.Key("shipper");
  const KeyPair& receiver = net.Key("receiver");
  const KeyPair& admin = net.Key("admin");
  // Distinct per run, so the test can run again on the same network (--gtest_repeat).
  const std::string tag = std::to_string(net.rng()() % 1'000'000'000);
  const std::string record_id = "lab-" + tag;
  const std::string epc = "urn:epc:id:sgtin:4012345.011122." + tag;
  const std::string dock = "urn:epc:id:sgln:4012345.00001.0";
  const uint64_t height_before = net.MaxHeight(net.AllNodes()).value_or(0);

  // Round 1: independent of each other.
  Batch batch(net);
  Action grant{uint8_t(ActionKind::kGrantRole), "inspector", admin.public_key(), 0, {}};
  batch.Add("governance propose",
            net.Tx(council, kGovernance, "propose", ProposeArgs{grant, net.DefaultExpiry()}));
  batch.Add("ubi register",
            net.Tx(registrar, kUbi, "register",
                   UbiRegisterArgs{citizen.public_key(), Blake2b256(AsBytes("passport " + tag))}));
  batch.Add("ubi transfer patient->shipper",
            net.Tx(patient, kUbi, "transfer", UbiTransferArgs{shipper.public_key(), 500}));
  batch.Add("ubi transfer shipper->receiver",
            net.Tx(shipper, kUbi, "transfer", UbiTransferArgs{receiver.public_key(), 250}));
  batch.Add("ubi burn", net.Tx(citizen, kUbi, "burn", UbiBurnArgs{1000}));
  batch.Add(
      "emr anchor",
      net.Tx(clinician, kEmr, "anchor",
             AnchorArgs{
                 patient.public_key(), record_id, "lab", Blake2b256(AsBytes("blood panel " + tag)),
                 test::Sealed(patient.public_key(), "https://records.example.org/lab/" + tag)}));
  batch.Add("logistics register",
            net.Tx(shipper, kLogistics, "register",
                   RegisterArgs{{epc}, {"commissioning", "active", dock, dock, std::nullopt}}));
  std::map<std::string, Json> round1 = batch.CommitAll();
  ASSERT_FALSE(HasFailure());
  EXPECT_NE(EventData(round1["governance propose"], "proposal_passed"), "")
      << "threshold 1: the proposal passes at once";
  EXPECT_NE(EventData(round1["governance propose"], "role_granted"), "");

  // Round 2: consent, break-glass on the anchored record, an EPCIS event and a custody offer.
  const uint64_t now = WallClockMs();
  batch.Add("emr grant_consent",
            net.Tx(patient, kEmr, "grant_consent",
                   GrantConsentArgs{patient.public_key(), clinician.public_key(),
                                    std::vector<RecordType>{RecordType{"lab"}}, "TREAT",
                                    now - 60'000, now + 24 * 3600'000, 1}));
  batch.Add("emr break_glass", net.Tx(emergency, kEmr, "break_glass",
                                      BreakGlassArgs{patient.public_key(), record_id,
                                                     test::Sealed(patient.public_key(),
                                                                  "unconscious patient in the "
                                                                  "emergency room")}));
  batch.Add("logistics object_event",
            net.Tx(shipper, kLogistics, "object_event",
                   ObjectEventArgs{{epc},
                                   uint8_t(EpcisAction::kObserve),
                                   {"shipping", "in_transit", dock, dock, std::nullopt}}));
  batch.Add("logistics offer",
            net.Tx(shipper, kLogistics, "offer", OfferArgs{epc, receiver.public_key()}));
  std::map<std::string, Json> round2 = batch.CommitAll();
  ASSERT_FALSE(HasFailure());
  const std::string consent_data = EventData(round2["emr grant_consent"], "consent_granted");
  ASSERT_NE(consent_data, "") << round2["emr grant_consent"].dump();
  const uint64_t consent_id = U64FromLeHex(consent_data);

  // Round 3: access under the consent; the receiver accepts custody.
  batch.Add("emr access", net.Tx(clinician, kEmr, "access",
                                 AccessArgs{patient.public_key(), record_id, consent_id, "TREAT"}));
  batch.Add("logistics accept", net.Tx(receiver, kLogistics, "accept", CustodyArgs{epc}));
  batch.CommitAll();
  ASSERT_FALSE(HasFailure());

  // The state the transactions made, read back through queries on different nodes.
  Json role = net.Query(1, kGovernance, "has_role",
                        {{"account", EncodeAddress(admin.public_key())}, {"role", "inspector"}});
  EXPECT_EQ(role.value("granted", false), true) << role.dump();
  Json registered = net.Query(
      2, kUbi, "citizen", {{"account", EncodeAddress(citizen.public_key())}}, nullptr, "registrar");
  EXPECT_EQ(registered.value("registered", false), true) << registered.dump();
  Json item = net.Query(3, kLogistics, "item", {{"epc", epc}});
  EXPECT_EQ(item.value("holder", ""), EncodeAddress(receiver.public_key())) << item.dump();
  Json accesses = net.Query(0, kEmr, "accesses", {{"patient", EncodeAddress(patient.public_key())}},
                            nullptr, "patient");
  size_t consented = 0, flagged = 0;
  for (const Json& access : accesses.value("accesses", Json::array())) {
    if (access.value("record_id", "") != record_id) continue;
    if (access.value("flagged", false)) {
      ++flagged;
    } else if (access["consent_id"] == consent_id) {
      ++consented;
    }
  }
  EXPECT_EQ(consented, 1u) << accesses.dump();
  EXPECT_EQ(flagged, 1u) << accesses.dump();

  // UBI supply: issued - burned == supply == the sum of every balance (all tokens are held by
  // the testnet's client keys), and the burn is counted.
  Json supply = net.Query(0, kUbi, "supply", Json::object());
  ASSERT_TRUE(supply.is_object()) << "GET ubi/supply failed";
  const uint64_t issued = supply.at("issued").get<uint64_t>();
  const uint64_t burned = supply.at("burned").get<uint64_t>();
  EXPECT_GE(issued, 11 * 1'000'000u);
  EXPECT_GE(burned, 1000u);
  EXPECT_EQ(supply.at("supply").get<uint64_t>(), issued - burned);
  uint64_t balances = 0;
  for (const std::string& name : LocalNet::KeyNames()) {
    Json balance = net.Query(0, kUbi, "balance", {{"account", net.Address(name)}}, nullptr, name);
    balances += balance.value("balance", uint64_t(0));
  }
  EXPECT_EQ(balances, issued - burned) << "the sum of balances is not the supply";

  // No fork: every node, every height since genesis.
  const uint64_t tip = net.MaxHeight(net.AllNodes()).value_or(0);
  ASSERT_TRUE(net.WaitHeight(net.AllNodes(), tip, 20s)) << "a node fell behind: " << net.Describe();
  EXPECT_GT(tip, height_before);
  net.ExpectSameChain(net.AllNodes(), tip);
}

}  // namespace
}  // namespace city::testnet
