// A new user's walk through every contract with cityctl alone, against a real 4-validator
// network: keys, UBI, EMR consent and break-glass, logistics custody, governance, offline
// signing, a dry run and the independent audits. Every answer is read as --output json.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "city/crypto/hash.h"
#include "cityctl_runner.h"
#include "test_util.h"

namespace city::testnet {
namespace {

namespace fs = std::filesystem;

// Its ports (23556..23563, or others if those are busy) stay clear of 27600-27607, where other
// work runs a network of its own.
constexpr uint64_t kSeed = 0xC17C'7101;
constexpr std::string_view kTestnetPassphrase = "citydev";
constexpr std::string_view kAlicePassphrase = "alice's own passphrase, not citydev";
constexpr char kWaitTimeoutSeconds[] = "90";

// RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines.
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field += c;
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

// The first element of `list` whose `key` is `value`, or null.
Json FindBy(const Json& list, const std::string& key, const Json& value) {
  if (!list.is_array()) return nullptr;
  for (const Json& item : list) {
    if (item.is_object() && item.value(key, Json()) == value) return item;
  }
  return nullptr;
}

// The names of a --wait answer's result events, in order.
std::vector<std::string> EventNames(const Json& committed) {
  std::vector<std::string> names;
  for (const Json& event : committed["result"].value("events", Json::array())) {
    names.push_back(event.value("name", ""));
  }
  return names;
}

class CliWalkthroughTest : public ::testing::Test {
 protected:
  void SetUp() override {
    LocalNetOptions options;
    options.seed = kSeed;
    net_ = std::make_unique<LocalNet>(options);
    for (size_t i = 0; i < net_->size(); ++i) {
      ASSERT_FALSE(net_->api_port(i) >= 27600 && net_->api_port(i) <= 27607) << net_->Describe();
    }
    scratch_ = net_->dir() / "cityctl";
    fs::create_directories(scratch_);
    // The testnet's keys/ is the key store of this home: --from citizen works as it is.
    ctl_ = std::make_unique<Cityctl>(LocalUrl(net_->api_port(0)), net_->dir() / "net", scratch_);
    ctl_->Set("CITYCTL_PASSPHRASE", std::string(kTestnetPassphrase));
    // Alice is new: her own key store, her own passphrase, and another node.
    alice_ = std::make_unique<Cityctl>(
        ctl_->WithNode(LocalUrl(net_->api_port(1))).WithHome(scratch_ / "alice-home"));
    alice_->Set("CITYCTL_PASSPHRASE", std::string(kAlicePassphrase));
    tag_ = std::to_string(net_->rng()() % 1'000'000'000);
  }

  // A command that must succeed; its JSON answer.
  Json Ok(const std::vector<std::string>& args, const Cityctl* ctl = nullptr) {
    const CtlRun run = (ctl != nullptr ? *ctl : *ctl_).RunJson(args);
    EXPECT_TRUE(Succeeded(run));
    return run.json.is_object() ? run.json : Json::object();
  }

  // A transaction command (tx CONTRACT METHOD ... --from KEY, or tx send) run with --wait:
  // it must commit with an ok result. The answer; every node has reached its height after.
  Json Commit(std::vector<std::string> args, const Cityctl* ctl = nullptr) {
    args.insert(args.end(), {"--wait", "--wait-timeout", kWaitTimeoutSeconds});
    const Json answer = Ok(args, ctl);
    EXPECT_EQ(answer.value("status", ""), "committed") << answer.dump(2);
    EXPECT_TRUE(answer.contains("result") && answer["result"].value("ok", false)) << answer.dump(2);
    const std::string id = answer.value("id", "");
    EXPECT_EQ(id.size(), 64u) << answer.dump(2);
    committed_.insert(id);
    // The next command may read through another node: let them all have this block.
    EXPECT_TRUE(net_->WaitHeight(net_->AllNodes(), answer.value("height", uint64_t(0)), 30s))
        << net_->Describe();
    return answer;
  }

  // The `result` of `query contract CONTRACT QUERY --param name=value...`.
  // Signed by key `as` (--as): what is not public is its own or the auditor's to read.
  Json Query(const std::string& contract, const std::string& query,
             const std::vector<std::string>& params, const std::string& as = "") {
    std::vector<std::string> args = {"query", "contract", contract, query};
    if (!as.empty()) args.insert(args.begin(), {"--as", as});
    for (const std::string& param : params) args.insert(args.end(), {"--param", param});
    return Ok(args).value("result", Json::object());
  }

  const std::string& Address(const std::string& name) {
    static const std::string kNone;
    auto it = addresses_.find(name);
    EXPECT_NE(it, addresses_.end()) << "no address for " << name;
    return it == addresses_.end() ? kNone : it->second;
  }

  void Keys();
  void Ubi();
  void Emr();
  void Logistics();
  void Governance();
  void OfflineSigning();
  void DryRun();
  void HistoryAndBlocks();
  void Bench();
  void Audits();

  std::unique_ptr<LocalNet> net_;
  fs::path scratch_;
  std::unique_ptr<Cityctl> ctl_;                  // the testnet's keys, node 0
  std::unique_ptr<Cityctl> alice_;                // alice's own home, node 1
  std::string tag_;                               // makes names unique to this run
  std::map<std::string, std::string> addresses_;  // key name -> city1... address
  std::set<std::string> committed_;               // ids of what the walk committed
  uint64_t issued_ = 0;                           // ubi/issued as audit ubi supply saw it
};

// A new key in a fresh home, listed and shown; the testnet's keys; alice gets her first tokens.
void CliWalkthroughTest::Keys() {
  const Json made = Ok({"keys", "new", "alice"}, alice_.get());
  const std::string alice = made.value("address", "");
  ASSERT_TRUE(alice.starts_with("city1")) << made.dump(2);
  EXPECT_EQ(made.value("name", ""), "alice");
  const fs::path file = made.value("file", "");
  EXPECT_EQ(file, alice_->home() / "keys" / "alice.key");
  ASSERT_TRUE(fs::exists(file)) << file;
  EXPECT_EQ(fs::status(file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write)
      << "a key file only its owner may read";
  EXPECT_EQ(test::ReadFileText(file).find(kAlicePassphrase), std::string::npos);

  const Json listed = Ok({"keys", "list"}, alice_.get());
  ASSERT_EQ(listed.value("keys", Json::array()).size(), 1u) << listed.dump(2);
  EXPECT_EQ(listed["keys"][0].value("name", ""), "alice");
  EXPECT_EQ(listed["keys"][0].value("address", ""), alice);
  const Json shown = Ok({"keys", "show", "alice"}, alice_.get());
  EXPECT_EQ(shown.value("address", ""), alice);
  EXPECT_EQ(shown.value("public_key", ""), made.value("public_key", "?"));
  addresses_["alice"] = alice;

  const Json testnet_keys = Ok({"keys", "list"});
  for (const Json& key : testnet_keys.value("keys", Json::array())) {
    addresses_[key.value("name", "")] = key.value("address", "");
  }
  for (const std::string& name : LocalNet::KeyNames()) {
    EXPECT_TRUE(addresses_.contains(name)) << name << " missing from " << testnet_keys.dump(2);
  }

  // The citizen pays alice at the address she gave; she reads it back through her own node.
  const Json paid =
      Commit({"tx", "ubi", "transfer", "--to", alice, "--amount", "100", "--from", "citizen"});
  EXPECT_EQ(paid["transaction"].value("sender", ""), Address("citizen")) << paid.dump(2);
  EXPECT_EQ(paid["transaction"]["args"].value("to", ""), alice) << paid.dump(2);
  EXPECT_EQ(EventNames(paid), std::vector<std::string>{"transferred"});
  const Json account = Ok({"query", "account", "alice"}, alice_.get());
  EXPECT_EQ(account.value("address", ""), alice);
  EXPECT_EQ(account.value("ubi_balance", uint64_t(0)), 100u) << account.dump(2);
  EXPECT_EQ(account.value("next_nonce", uint64_t(99)), 0u) << account.dump(2);
}

// The registrar registers alice; alice transfers and burns; balance and supply add up.
void CliWalkthroughTest::Ubi() {
  const std::string& alice = Address("alice");
  // The registrar office's person-id key: the person id on the ledger is keyed by it.
  const std::string office_key = (scratch_ / "office.pkey").string();
  Ok({"keys", "person-key", office_key});
  const Json registered =
      Commit({"tx", "ubi", "register", "--account", alice, "--person", "passport P" + tag_,
              "--person-key", office_key, "--from", "registrar"});
  EXPECT_EQ(EventNames(registered), std::vector<std::string>{"registered"});
  const Json citizen = Query("ubi", "citizen", {"account=" + alice}, "registrar");
  EXPECT_EQ(citizen.value("registered", false), true) << citizen.dump(2);
  EXPECT_EQ(citizen.value("suspended", true), false) << citizen.dump(2);

  // Alice's home knows no "receiver": she pays to an address, as she would in life.
  Commit(
      {"tx", "ubi", "transfer", "--to", Address("receiver"), "--amount", "10", "--from", "alice"},
      alice_.get());
  const Json burned =
      Commit({"tx", "ubi", "burn", "--amount", "5", "--from", "alice"}, alice_.get());
  EXPECT_EQ(EventNames(burned), std::vector<std::string>{"burned"});

  const Json balance = Query("ubi", "balance", {"account=" + alice}, "auditor");
  EXPECT_EQ(balance.value("balance", uint64_t(0)), 85u) << balance.dump(2);

  const Json audit = Ok({"--as", "auditor", "audit", "ubi", "--account", alice});
  EXPECT_EQ(audit.value("account", ""), alice);
  EXPECT_EQ(audit.value("consistent", false), true) << audit.dump(2);
  EXPECT_EQ(audit.value("balance", uint64_t(0)), 85u) << audit.dump(2);
  EXPECT_EQ(audit.value("recomputed_balance", uint64_t(0)), 85u) << audit.dump(2);
  EXPECT_EQ(audit.value("problems", Json::array()), Json::array()) << audit.dump(2);
  std::multiset<std::string> kinds;
  for (const Json& event : audit.value("events", Json::array()))
    kinds.insert(event.value("name", ""));
  EXPECT_EQ(kinds.count("transferred"), 2u) << audit.dump(2);
  EXPECT_EQ(kinds.count("burned"), 1u) << audit.dump(2);

  const Json supply = Ok({"--as", "auditor", "audit", "ubi", "supply"});
  EXPECT_EQ(supply.value("invariant_holds", false), true) << supply.dump(2);
  EXPECT_EQ(supply.value("problems", Json::array()), Json::array()) << supply.dump(2);
  const Json& node = supply["node"];
  const Json& recomputed = supply["recomputed"];
  EXPECT_GE(recomputed.value("burned", uint64_t(0)), 5u) << supply.dump(2);
  EXPECT_EQ(node.value("burned", uint64_t(1)), recomputed.value("burned", uint64_t(2)));
  EXPECT_EQ(node.value("issued", uint64_t(1)), recomputed.value("issued", uint64_t(2)));
  EXPECT_EQ(recomputed.value("sum_of_balances", uint64_t(1)),
            recomputed.value("supply", uint64_t(2)))
      << supply.dump(2);
  EXPECT_GE(node.value("citizens", uint64_t(0)), 1u) << supply.dump(2);
  issued_ = node.value("issued", uint64_t(0));
}

// The clinician anchors a record, the patient consents, the clinician reads under the consent,
// an emergency read breaks the glass and the auditor reviews it; audit emr shows both.
void CliWalkthroughTest::Emr() {
  // The council publishes the auditor's sealing key: EMR text is sealed to it and the patient.
  const Json published = Commit({"tx", "governance", "propose", "--action", "set-sealing-key",
                                 "--role", "auditor", "--account", "auditor", "--from", "council"});
  EXPECT_EQ(EventNames(published),
            (std::vector<std::string>{"proposed", "sealing_key_set", "proposal_passed"}));
  const std::string record = "lab-" + tag_;
  const std::string content_hash = Blake2b256(AsBytes("blood panel " + tag_)).ToHex();
  const Json anchored = Commit({"tx", "emr", "anchor", "--patient", "patient", "--record", record,
                                "--type", "lab", "--content-hash", content_hash, "--location",
                                "https://records.example.org/lab/" + tag_, "--from", "clinician"});
  EXPECT_EQ(EventNames(anchored), std::vector<std::string>{"record_anchored"});

  const Json granted = Commit({"tx", "emr", "grant", "--grantee", "clinician", "--types", "lab",
                               "--purpose", "treatment", "--days", "30", "--from", "patient"});
  const std::string consent_data = EventData(granted, "consent_granted");
  ASSERT_EQ(consent_data.size(), 16u) << granted.dump(2);
  const uint64_t consent_id = U64FromLeHex(consent_data);
  const Json consents = Query("emr", "consents", {"patient=" + Address("patient")}, "patient");
  const Json consent = FindBy(consents["consents"], "id", consent_id);
  ASSERT_TRUE(consent.is_object()) << "consent " << consent_id << " in " << consents.dump(2);
  EXPECT_EQ(consent.value("grantee", ""), Address("clinician"));
  EXPECT_EQ(consent.value("purpose", ""), "TREAT");
  EXPECT_EQ(consent.value("record_types", Json()), Json::array({"lab"}));
  EXPECT_EQ(consent.value("permit", false), true);
  EXPECT_EQ(consent.value("revoked", true), false);

  const Json accessed = Commit({"tx", "emr", "access", "--patient", "patient", "--record", record,
                                "--consent", std::to_string(consent_id), "--from", "clinician"});
  EXPECT_EQ(EventNames(accessed), std::vector<std::string>{"accessed"});
  const Json broke =
      Commit({"tx", "emr", "break-glass", "--patient", "patient", "--record", record,
              "--justification", "unconscious on arrival, allergy check", "--from", "emergency"});
  EXPECT_EQ(EventNames(broke), std::vector<std::string>{"break_glass"});

  const Json flagged = Query("emr", "flagged", {"patient=" + Address("patient")}, "auditor");
  const Json flag = FindBy(flagged["flagged"], "record_id", record);
  ASSERT_TRUE(flag.is_object()) << flagged.dump(2);
  EXPECT_EQ(flag.value("accessor", ""), Address("emergency"));
  EXPECT_TRUE(flag.value("review", Json()).is_null()) << flag.dump(2);
  const uint64_t flag_id = flag.value("flag_id", uint64_t(0));
  const Json reviewed =
      Commit({"tx", "emr", "review", "--flag-id", std::to_string(flag_id), "--verdict", "justified",
              "--note", "allergy check was needed", "--from", "auditor"});
  EXPECT_EQ(EventNames(reviewed), std::vector<std::string>{"reviewed"});

  const Json audit = Ok({"--as", "auditor", "audit", "emr", "--patient", "patient"});
  EXPECT_EQ(audit.value("patient", ""), Address("patient"));
  EXPECT_EQ(audit.value("total", 0), 2) << audit.dump(2);
  EXPECT_EQ(audit.value("consented", 0), 1) << audit.dump(2);
  EXPECT_EQ(audit.value("emergency", 0), 1) << audit.dump(2);
  EXPECT_EQ(audit.value("unreviewed", -1), 0) << audit.dump(2);
  EXPECT_EQ(audit.value("problems", -1), 0) << audit.dump(2);
  const Json by_consent = FindBy(audit["accesses"], "basis", "consent");
  ASSERT_TRUE(by_consent.is_object()) << audit.dump(2);
  EXPECT_EQ(by_consent.value("accessor", ""), Address("clinician"));
  EXPECT_EQ(by_consent.value("consent_id", Json()), consent_id);
  EXPECT_EQ(by_consent.value("record_id", ""), record);
  EXPECT_EQ(by_consent.value("consistent", false), true) << by_consent.dump(2);
  const Json emergency = FindBy(audit["accesses"], "basis", "emergency");
  ASSERT_TRUE(emergency.is_object()) << audit.dump(2);
  EXPECT_EQ(emergency.value("accessor", ""), Address("emergency"));
  EXPECT_EQ(emergency.value("flagged", false), true);
  EXPECT_EQ(emergency.value("record_id", ""), record);
  EXPECT_EQ(emergency.value("justification_text", ""), "unconscious on arrival, allergy check")
      << "the auditor opens its sealed copy: " << emergency.dump(2);
  EXPECT_EQ(flagged.dump().find("allergy check"), std::string::npos) << "sealed on the ledger";
  const Json as_patient = Ok({"--as", "patient", "audit", "emr", "--patient", "patient"});
  const Json patient_view = FindBy(as_patient["accesses"], "basis", "emergency");
  EXPECT_EQ(patient_view.value("justification_text", ""), "unconscious on arrival, allergy check")
      << "and the patient opens theirs";
  const Json review = emergency.value("review", Json());
  ASSERT_TRUE(review.is_object()) << emergency.dump(2);
  EXPECT_EQ(review.value("justified", false), true);
  EXPECT_EQ(review.value("reviewer", ""), Address("auditor"));
}

// The shipper commissions an item and hands it to the receiver; provenance shows the custody.
void CliWalkthroughTest::Logistics() {
  const std::string epc = "urn:epc:id:sgtin:4012345.011122." + tag_;
  const Json registered = Commit({"tx", "logistics", "register", "--epcs", epc, "--biz-step",
                                  "commissioning", "--disposition", "active", "--from", "shipper"});
  EXPECT_EQ(EventNames(registered), std::vector<std::string>{"registered"});
  const Json offered =
      Commit({"tx", "logistics", "offer", "--epc", epc, "--to", "receiver", "--from", "shipper"});
  EXPECT_EQ(EventNames(offered), std::vector<std::string>{"custody_offered"});
  const Json accepted = Commit({"tx", "logistics", "accept", "--epc", epc, "--from", "receiver"});
  EXPECT_EQ(EventNames(accepted), std::vector<std::string>{"custody_accepted"});

  const Json provenance = Ok({"audit", "provenance", "--item", epc});
  EXPECT_EQ(provenance.value("problems", Json::array()), Json::array()) << provenance.dump(2);
  const Json custody = provenance.value("custody", Json::array());
  ASSERT_EQ(custody.size(), 2u) << provenance.dump(2);
  EXPECT_EQ(custody[0].value("holder", ""), Address("shipper"));
  EXPECT_EQ(custody[0].value("how", ""), "registered");
  EXPECT_EQ(custody[1].value("holder", ""), Address("receiver"));
  EXPECT_EQ(custody[1].value("how", ""), "accepted");
  EXPECT_EQ(custody[1].value("since_height", uint64_t(0)), accepted.value("height", uint64_t(1)));
  std::vector<std::string> kinds;
  for (const Json& event : provenance.value("events", Json::array())) {
    kinds.push_back(event.value("kind", ""));
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"object", "custody_offer", "custody_accept"}));
  EXPECT_EQ(provenance["item"].value("holder", ""), Address("receiver"));
  EXPECT_TRUE(provenance["item"].value("pending_offer", Json(0)).is_null());
}

// The council grants alice the clinician role; with the genesis threshold of one approval the
// proposal passes in the proposing transaction.
void CliWalkthroughTest::Governance() {
  const std::string& alice = Address("alice");
  const Json threshold = Query("governance", "parameter", {"name=council_threshold"});
  const Json council = Query("governance", "role_count", {"role=council"});
  ASSERT_EQ(threshold.value("value", uint64_t(0)), 1u)
      << "the testnet genesis has one council key, so its threshold must be 1: "
      << threshold.dump(2);
  EXPECT_EQ(council.value("holders", uint64_t(0)), 1u) << council.dump(2);
  const Json before = Query("governance", "has_role", {"account=" + alice, "role=clinician"});
  EXPECT_EQ(before.value("granted", true), false) << before.dump(2);

  const Json proposed = Commit({"tx", "governance", "propose", "--action", "grant-role", "--role",
                                "clinician", "--account", alice, "--from", "council"});
  EXPECT_EQ(EventNames(proposed),
            (std::vector<std::string>{"proposed", "role_granted", "proposal_passed"}));
  const Json after = Query("governance", "has_role", {"account=" + alice, "role=clinician"});
  EXPECT_EQ(after.value("granted", false), true) << after.dump(2);
}

// Signed with no node in reach (--node points where nothing listens), sent later by anyone.
void CliWalkthroughTest::OfflineSigning() {
  const Json account = Ok({"query", "account", "citizen"});
  const uint64_t nonce = account.value("pending_next_nonce", uint64_t(0));
  const uint64_t expiry = account.value("height", uint64_t(0)) + 500;
  const Cityctl offline = ctl_->WithNode("http://127.0.0.1:1");
  const std::vector<std::string> sign = {"--chain-id",  net_->chain_id(),
                                         "tx",          "sign",
                                         "ubi",         "transfer",
                                         "--to",        "receiver",
                                         "--amount",    "3",
                                         "--nonce",     std::to_string(nonce),
                                         "--tx-expiry", std::to_string(expiry),
                                         "--from",      "citizen"};
  const Json signed_tx = Ok(sign, &offline);
  const std::string hex = signed_tx.value("tx", "");
  ASSERT_FALSE(hex.empty()) << signed_tx.dump(2);
  const Json& tx = signed_tx["transaction"];
  EXPECT_EQ(tx.value("nonce", uint64_t(0)), nonce);
  EXPECT_EQ(tx.value("expiry_height", uint64_t(0)), expiry);
  EXPECT_EQ(tx.value("chain_id", ""), net_->chain_id());
  EXPECT_EQ(tx.value("sender", ""), Address("citizen"));
  // In text mode it prints the hex alone, for a pipe or a file (Ed25519: the same signature).
  const CtlRun text = offline.RunText(sign);
  ASSERT_TRUE(Succeeded(text));
  EXPECT_EQ(text.result.out, hex + "\n");

  // Carried to another node in a file.
  const fs::path file = scratch_ / "transfer.tx";
  std::ofstream(file) << text.result.out;
  const Cityctl node2 = ctl_->WithNode(LocalUrl(net_->api_port(2)));
  const Json sent = Commit({"tx", "send", file.string()}, &node2);
  EXPECT_EQ(sent.value("id", ""), tx.value("id", "?")) << sent.dump(2);
  const Json after = Ok({"query", "account", "citizen"});
  EXPECT_EQ(after.value("next_nonce", uint64_t(0)), nonce + 1) << after.dump(2);
}

// --dry-run prints the signed transaction and sends nothing: the nonce stays where it was.
void CliWalkthroughTest::DryRun() {
  const Json before = Ok({"query", "account", "citizen"});
  const Json dry = Ok({"tx", "ubi", "transfer", "--to", "receiver", "--amount", "4", "--from",
                       "citizen", "--dry-run"});
  const std::string id = dry["transaction"].value("id", "");
  ASSERT_EQ(id.size(), 64u) << dry.dump(2);
  EXPECT_FALSE(dry.value("tx", "").empty()) << dry.dump(2);
  EXPECT_EQ(dry["transaction"].value("nonce", uint64_t(99)),
            before.value("pending_next_nonce", uint64_t(0)));
  ASSERT_TRUE(net_->WaitProgress({0}, 2, 30s)) << net_->Describe();
  const Json after = Ok({"query", "account", "citizen"});
  EXPECT_EQ(after.value("next_nonce", uint64_t(0)), before.value("next_nonce", uint64_t(1)));
  EXPECT_EQ(after.value("pending_next_nonce", uint64_t(0)),
            before.value("pending_next_nonce", uint64_t(1)));
  EXPECT_EQ(after.value("ubi_balance", uint64_t(0)), before.value("ubi_balance", uint64_t(1)));
  const Json looked_up = Ok({"query", "tx", id});
  EXPECT_EQ(looked_up.value("status", ""), "unknown") << looked_up.dump(2);
}

// The citizen's history read a page at a time, one item per page, is the history read at once;
// newest-first starts from the other end; each item's block holds it.
void CliWalkthroughTest::HistoryAndBlocks() {
  const Json whole = Ok({"query", "history", "citizen", "--limit", "1000"});
  const Json items = whole.value("items", Json::array());
  ASSERT_GE(items.size(), 2u) << whole.dump(2);
  EXPECT_TRUE(whole["next_cursor"].is_null()) << whole.dump(2);

  Json paged = Json::array();
  std::string cursor;
  for (size_t page = 0; page <= items.size(); ++page) {
    std::vector<std::string> args = {"query", "history", "citizen", "--limit", "1"};
    if (!cursor.empty()) args.insert(args.end(), {"--cursor", cursor});
    const Json answer = Ok(args);
    for (const Json& item : answer.value("items", Json::array())) paged.push_back(item);
    if (!answer.value("next_cursor", Json()).is_string()) break;
    cursor = answer["next_cursor"].get<std::string>();
  }
  EXPECT_EQ(paged, items);
  const Json newest = Ok({"query", "history", "citizen", "--limit", "1", "--newest-first"});
  ASSERT_EQ(newest.value("items", Json::array()).size(), 1u) << newest.dump(2);
  EXPECT_EQ(newest["items"][0], items.back());

  const Json& first = items.front();
  const Json block = Ok({"--as", "auditor", "query", "block",
                         std::to_string(first["location"].value("height", uint64_t(0)))});
  const Json transactions = block["block"].value("transactions", Json::array());
  EXPECT_FALSE(FindBy(transactions, "id", first["tx_id"]).is_null()) << block.dump(2);
}

// A small load: every transaction offered is accepted and committed, none lost, with figures.
void CliWalkthroughTest::Bench() {
  const Json report =
      Ok({"bench", "--rate", "50", "--duration", "2", "--accounts", "2", "--from", "registrar"});
  EXPECT_EQ(report.value("submitted", uint64_t(0)), 100u) << report.dump(2);
  EXPECT_EQ(report.value("accepted", uint64_t(0)), 100u) << report.dump(2);
  EXPECT_EQ(report.value("committed", uint64_t(0)), 100u) << report.dump(2);
  EXPECT_EQ(report.value("lost", uint64_t(1)), 0u) << report.dump(2);
  EXPECT_GT(report.value("committed_tx_per_s", 0.0), 0.0) << report.dump(2);
  EXPECT_GT(report["latency_ms"].value("p50", 0.0), 0.0) << report.dump(2);
  EXPECT_GE(report["latency_ms"].value("p99", 0.0), report["latency_ms"].value("p50", 0.0));
  EXPECT_GT(report.value("raw_verify_per_s", 0.0), 0.0) << report.dump(2);
}

// An auditor with a node of its own (node 3) and the genesis file it trusts checks the chain,
// a proved state value, and exports what was committed.
void CliWalkthroughTest::Audits() {
  const Cityctl auditor = ctl_->WithNode(LocalUrl(net_->api_port(3)));
  const std::string genesis = (net_->home(0) / "genesis.json").string();
  const uint64_t tip = Ok({"query", "status"}, &auditor).value("height", uint64_t(0));
  ASSERT_GT(tip, 0u);

  const Json chain = Ok({"audit", "verify-chain", "--genesis", genesis}, &auditor);
  EXPECT_EQ(chain.value("ok", false), true) << chain.dump(2);
  EXPECT_EQ(chain.value("from", uint64_t(1)), 0u);
  const uint64_t to = chain.value("to", uint64_t(0));
  EXPECT_GE(to, tip) << chain.dump(2);
  EXPECT_EQ(chain.value("headers", uint64_t(0)), to + 1) << chain.dump(2);
  EXPECT_GE(chain.value("signatures", uint64_t(0)), to) << "a certificate per height";
  EXPECT_TRUE(chain.value("genesis_source", "").starts_with("file ")) << chain.dump(2);

  // Block bodies hold private transactions: without a key that may read them the node sends
  // them redacted, and the body check says so instead of passing on half a block.
  const CtlRun anonymous =
      auditor.RunJson({"audit", "verify-chain", "--blocks", "--genesis", genesis});
  EXPECT_TRUE(FailedCleanly(anonymous));
  EXPECT_NE(anonymous.json.dump().find("redacted"), std::string::npos) << anonymous.Describe();
  const Json blocks =
      Ok({"--as", "auditor", "audit", "verify-chain", "--blocks", "--genesis", genesis}, &auditor);
  EXPECT_EQ(blocks.value("ok", false), true) << blocks.dump(2);
  EXPECT_EQ(blocks.value("blocks", uint64_t(0)), blocks.value("to", uint64_t(1)))
      << "every block after the genesis: " << blocks.dump(2);
  EXPECT_GT(blocks.value("signatures", uint64_t(0)), chain.value("signatures", uint64_t(0)))
      << "the transactions' signatures too";

  const Json issued =
      Ok({"--as", "auditor", "audit", "state", "ubi/issued", "--prove", "--genesis", genesis},
         &auditor);
  EXPECT_EQ(issued.value("verified", false), true) << issued.dump(2);
  EXPECT_EQ(issued.value("present", false), true) << issued.dump(2);
  EXPECT_EQ(issued.value("value_u64", uint64_t(0)), issued_) << issued.dump(2);
  EXPECT_GE(issued.value("signatures", 0), 3) << "a quorum of the 4 validators";

  const fs::path jsonl = scratch_ / "export.jsonl";
  const Json exported =
      Ok({"--as", "auditor", "audit", "export", "--format", "jsonl", "--out", jsonl.string()},
         &auditor);
  EXPECT_EQ(exported.value("redacted_transactions", uint64_t(1)), 0u) << exported.dump(2);
  EXPECT_EQ(exported.value("from", uint64_t(0)), 1u);
  std::set<std::string> tx_ids;
  size_t lines = 0, blocks_seen = 0, txs_seen = 0, events_seen = 0;
  std::istringstream in(test::ReadFileText(jsonl));
  for (std::string line; std::getline(in, line); ++lines) {
    const Json record = Json::parse(line, nullptr, false);
    ASSERT_TRUE(record.is_object()) << "line " << lines + 1 << ": " << line;
    const std::string kind = record.value("record", "");
    if (kind == "block") ++blocks_seen;
    if (kind == "event") ++events_seen;
    if (kind != "tx") continue;
    ++txs_seen;
    tx_ids.insert(record.value("id", ""));
    EXPECT_EQ(record.value("ok", false), true) << line;
  }
  EXPECT_EQ(blocks_seen, exported.value("blocks", size_t(0))) << exported.dump(2);
  EXPECT_EQ(txs_seen, exported.value("transactions", size_t(0))) << exported.dump(2);
  EXPECT_EQ(events_seen, exported.value("events", size_t(0))) << exported.dump(2);
  for (const std::string& id : committed_) EXPECT_TRUE(tx_ids.contains(id)) << id;

  const fs::path csv = scratch_ / "export.csv";
  const Json exported_csv =
      Ok({"--as", "auditor", "audit", "export", "--format", "csv", "--out", csv.string(), "--to",
          std::to_string(exported.value("to", uint64_t(0)))},
         &auditor);
  const std::vector<std::vector<std::string>> rows = ParseCsv(test::ReadFileText(csv));
  ASSERT_FALSE(rows.empty());
  const std::vector<std::string>& header = rows[0];
  ASSERT_EQ(header.size(), 12u) << "the CSV header";
  EXPECT_EQ(header[0], "record");
  EXPECT_EQ(header[3], "tx_id");
  std::set<std::string> csv_ids;
  std::map<std::string, size_t> wrong_width;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != header.size()) ++wrong_width[rows[r][0]];
    if (rows[r][0] == "tx" && rows[r].size() > 3) csv_ids.insert(rows[r][3]);
  }
  EXPECT_EQ(wrong_width, (std::map<std::string, size_t>{}))
      << "rows (by record kind) whose field count is not the header's " << header.size()
      << "; e.g. line 2: " << (rows.size() > 1 ? rows[1].size() : 0) << " fields";
  EXPECT_EQ(csv_ids, tx_ids) << "the CSV and the JSON lines export list the same transactions";
  EXPECT_EQ(exported_csv.value("transactions", size_t(0)),
            exported.value("transactions", size_t(1)));

  // Anyone may export, but what is private comes out as ids only: no EMR or UBI arguments.
  const fs::path public_jsonl = scratch_ / "export-public.jsonl";
  const Json exported_public =
      Ok({"audit", "export", "--format", "jsonl", "--out", public_jsonl.string(), "--to",
          std::to_string(exported.value("to", uint64_t(0)))},
         &auditor);
  EXPECT_GT(exported_public.value("redacted_transactions", uint64_t(0)), 0u)
      << exported_public.dump(2);
  EXPECT_EQ(exported_public.value("transactions", size_t(0)),
            exported.value("transactions", size_t(1)));
  EXPECT_EQ(test::ReadFileText(public_jsonl).find("\"emr\""), std::string::npos)
      << "an anonymous export names no EMR transaction";

  // Never overwrites.
  EXPECT_TRUE(FailedCleanly(
      auditor.RunJson({"audit", "export", "--format", "csv", "--out", csv.string()})));
}

TEST_F(CliWalkthroughTest, NewUserWalksThroughEveryContractWithCityctlOnly) {
  const auto started = Clock::now();
  ASSERT_NO_FATAL_FAILURE(Keys());
  ASSERT_NO_FATAL_FAILURE(Ubi());
  ASSERT_NO_FATAL_FAILURE(Emr());
  ASSERT_NO_FATAL_FAILURE(Logistics());
  ASSERT_NO_FATAL_FAILURE(Governance());
  ASSERT_NO_FATAL_FAILURE(OfflineSigning());
  ASSERT_NO_FATAL_FAILURE(DryRun());
  ASSERT_NO_FATAL_FAILURE(HistoryAndBlocks());
  ASSERT_NO_FATAL_FAILURE(Bench());
  ASSERT_NO_FATAL_FAILURE(Audits());
  const uint64_t tip = net_->MaxHeight(net_->AllNodes()).value_or(0);
  ASSERT_TRUE(net_->WaitHeight(net_->AllNodes(), tip, 30s)) << net_->Describe();
  net_->ExpectSameChain(net_->AllNodes(), tip);
  std::fprintf(stderr, "[cli] walkthrough: %zu transactions committed in %.1f s\n",
               committed_.size(), std::chrono::duration<double>(Clock::now() - started).count());
}

}  // namespace
}  // namespace city::testnet
