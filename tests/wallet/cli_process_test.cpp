// cityctl as a person or a script meets it: the real binary in a child process with its own
// home and environment, no terminal and no node (the node URL is a port that refuses). Every
// failure must be one clear line on stderr, a non-zero exit (2 for a wrong command line, 1 for
// a failed command) and, with --output json, an error object on stdout.
#include <gtest/gtest.h>

#include <algorithm>
#include <initializer_list>
#include <nlohmann/json.hpp>

#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "city/ledger/codec.h"
#include "city/ledger/types.h"
#include "city/wallet/keystore.h"
#include "city/wallet/methods.h"
#include "wallet/cli_runner.h"

namespace city::test {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;

constexpr int kFailed = 1;  // the command ran and failed
constexpr int kUsage = 2;   // the command line is wrong

constexpr char kPassphrase[] = "correct horse";

// Checks that `run` failed the way cityctl reports failures: a non-zero exit, nothing on
// stdout (text output), and one line "cityctl: error: ..." on stderr holding every one of `words`.
void ExpectError(const CliRun& run, std::initializer_list<std::string> words) {
  EXPECT_NE(run.exit_code, 0) << Describe(run);
  EXPECT_FALSE(run.timed_out) << Describe(run);
  EXPECT_EQ(run.out, "") << Describe(run);
  EXPECT_TRUE(run.err.starts_with("cityctl: error: ")) << Describe(run);
  EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << Describe(run);
  for (const std::string& word : words) {
    EXPECT_NE(run.err.find(word), std::string::npos) << "the error does not say '" << word << "'\n"
                                                     << Describe(run);
  }
}

void ExpectSuccess(const CliRun& run) {
  EXPECT_EQ(run.exit_code, 0) << Describe(run);
  EXPECT_EQ(run.err, "") << Describe(run);
}

// The value after "NAME:" on a line of cityctl's text output ("address:    city1...").
std::string FieldOf(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(name + ":")) continue;
    const size_t start = line.find_first_not_of(' ', name.size() + 1);
    return start == std::string::npos ? "" : line.substr(start);
  }
  return "";
}

Json ParseJson(const CliRun& run) {
  Json parsed = Json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_FALSE(parsed.is_discarded()) << "stdout is not JSON\n" << Describe(run);
  return parsed;
}

// `address` with one data character changed: the bech32m checksum no longer matches.
std::string Mistyped(std::string address) {
  char& c = address[address.size() / 2];
  c = c == 'q' ? 'p' : 'q';
  return address;
}

// `args` with the value after `flag` replaced by `value`.
std::vector<std::string> With(std::vector<std::string> args, const std::string& flag,
                              const std::string& value) {
  const auto found = std::find(args.begin(), args.end(), flag);
  EXPECT_TRUE(found != args.end() && found + 1 != args.end()) << flag;
  if (found != args.end() && found + 1 != args.end()) *(found + 1) = value;
  return args;
}

// A sandbox whose store holds alice (TestKey 0xA1) under kPassphrase, which CITYCTL_PASSPHRASE
// gives; bob (TestKey 0xB2) is an account outside the store.
class CliProcessTest : public ::testing::Test {
 protected:
  CliProcessTest() { cli_.SetPassphrase(kPassphrase); }

  // ubi transfer of 7 tokens from alice to bob, sent to the node.
  std::vector<std::string> Submit() const {
    return {"tx", "ubi", "transfer", "--to", bob_address_, "--amount", "7", "--from", "alice"};
  }
  // The same signed by `tx sign`, with `extra` flags after.
  std::vector<std::string> Sign(std::initializer_list<std::string> extra) const {
    std::vector<std::string> args = Submit();
    args.insert(args.begin() + 1, "sign");
    args.insert(args.end(), extra);
    return args;
  }
  // Offline as tx sign must be: chain city-test, nonce 5, expiry 99.
  std::vector<std::string> SignOffline(std::initializer_list<std::string> extra) const {
    std::vector<std::string> args =
        Sign({"--chain-id", std::string(kTestChain), "--nonce", "5", "--tx-expiry", "99"});
    args.insert(args.end(), extra);
    return args;
  }

  CliSandbox cli_;
  const KeyPair alice_ = WriteTestKey(cli_.keys_dir(), "alice", 0xA1, kPassphrase);
  const std::string alice_address_ = EncodeAddress(alice_.public_key());
  const std::string bob_address_ = EncodeAddress(TestKey(0xB2).public_key());
};

using CliProcessErrors = CliProcessTest;
using CliProcessKeys = CliProcessTest;
using CliProcessSign = CliProcessTest;

// ---- a wrong command line: exit 2 ----

TEST_F(CliProcessErrors, UnknownCommandIsAUsageErrorThatNamesIt) {
  const CliRun run = cli_.Run({"frobnicate"});
  ExpectError(run, {"frobnicate", "cityctl --help"});
  EXPECT_EQ(run.exit_code, kUsage);
}

TEST_F(CliProcessErrors, UnknownSubcommandIsAUsageErrorThatNamesIt) {
  const CliRun run = cli_.Run({"tx", "ubi", "fly"});
  ExpectError(run, {"fly"});
  EXPECT_EQ(run.exit_code, kUsage);
}

TEST_F(CliProcessErrors, MissingRequiredFlagIsAUsageErrorThatNamesIt) {
  const CliRun run = cli_.Run({"tx", "ubi", "transfer", "--amount", "1", "--from", "x"});
  ExpectError(run, {"--to", "required"});
  EXPECT_EQ(run.exit_code, kUsage);
}

TEST_F(CliProcessErrors, UsageErrorsExitWithTwo) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {},
           {"keys", "list", "--bogus"},
           {"--timeout-ms", "50", "query", "status"},
           {"--output", "yaml", "keys", "list"},
           {"keys", "show"},
           {"tx", "ubi", "transfer", "--to", "bob", "--amount", "1", "--from", "a", "extra"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const CliRun run = cli_.Run(args);
    ExpectError(run, {"cityctl --help"});
    EXPECT_EQ(run.exit_code, kUsage);
  }
}

// ---- bad values: named, and found without a key or a node ----

TEST_F(CliProcessErrors, BadNumberNamesTheFlag) {
  const CliRun run = cli_.Run(With(SignOffline({}), "--amount", "ten"));
  ExpectError(run, {"--amount", "whole number"});
}

TEST_F(CliProcessErrors, MistypedAddressNamesTheFlagAndTheChecksum) {
  const CliRun show = cli_.Run({"keys", "show", "alice"});
  ExpectSuccess(show);
  const std::string address = FieldOf(show.out, "address");
  ASSERT_EQ(address, alice_address_) << Describe(show);

  const CliRun run = cli_.Run(With(SignOffline({}), "--to", Mistyped(address)));
  ExpectError(run, {"--to", "checksum"});
}

// A flag's value is wrong whatever the node says: submitting must not first need the node
// (nor the key's passphrase) to say so.
TEST_F(CliProcessErrors, BadFlagValuesAreReportedBeforeTheNodeIsAsked) {
  ExpectError(cli_.Run(With(Submit(), "--amount", "ten")), {"--amount", "whole number"});
  ExpectError(cli_.Run(With(Submit(), "--to", Mistyped(bob_address_))), {"--to", "checksum"});
}

// ---- failures: exit 1 ----

TEST_F(CliProcessErrors, WrongPassphraseNamesTheKey) {
  cli_.SetPassphrase("not the passphrase");
  const CliRun run = cli_.Run(SignOffline({}));
  ExpectError(run, {"wrong passphrase for key alice"});
  EXPECT_EQ(run.exit_code, kFailed);
}

TEST_F(CliProcessErrors, MissingKeyNamesItAndTheStore) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"tx", "sign", "ubi", "burn", "--amount", "1", "--from", "nobody", "--chain-id", "c",
            "--nonce", "0", "--tx-expiry", "9"},
           {"tx", "ubi", "burn", "--amount", "1", "--from", "nobody"},
           {"keys", "show", "nobody"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const CliRun run = cli_.Run(args);
    ExpectError(run, {"no key named nobody", cli_.keys_dir().string()});
    EXPECT_EQ(run.exit_code, kFailed);
  }
}

// The load generator's flags: a bad value is a usage error, a load it cannot run is said
// before any node is asked (nothing listens on the URL given).
TEST_F(CliProcessErrors, BenchRefusesWhatItCannotRunBeforeTheNodeIsAsked) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"bench", "--load", "everything"},
                                             {"bench", "--drain", "-1"},
                                             {"bench", "--drain", "1e300"},
                                             {"bench", "--rate", "0"},
                                             {"bench", "--accounts", "1"},
                                             {"bench", "--batch", "5000"}}) {
    SCOPED_TRACE(::testing::PrintToString(args));
    const CliRun run = cli_.Run(args);
    EXPECT_EQ(run.exit_code, kUsage) << Describe(run);
  }
  const RefusingPort nobody_listens;
  const CliRun no_council =
      cli_.Run({"--node", nobody_listens.url(), "bench", "--load", "all", "--from", "alice"});
  ExpectError(no_council, {"needs a council key (--council)"});
  EXPECT_EQ(no_council.exit_code, kFailed);
  const CliRun too_few = cli_.Run({"--node", nobody_listens.url(), "bench", "--load", "all",
                                   "--from", "alice", "--council", "alice", "--accounts", "4"});
  ExpectError(too_few, {"--accounts >= 8"});
  EXPECT_EQ(too_few.exit_code, kFailed);
}

TEST_F(CliProcessErrors, UnreachableNodeNamesItsUrl) {
  const RefusingPort nobody_listens;
  const CliRun run = cli_.Run({"--node", nobody_listens.url(), "query", "status"});
  ExpectError(run, {"cannot reach the node at " + nobody_listens.url()});
  EXPECT_EQ(run.exit_code, kFailed);
}

TEST_F(CliProcessErrors, NodeUrlMustBeHttpOrHttps) {
  const CliRun run = cli_.Run({"--node", "gopher://127.0.0.1:26601", "query", "status"});
  ExpectError(run, {"--node", "gopher"});
}

TEST_F(CliProcessErrors, JsonOutputAddsAnErrorObjectOnStdout) {
  const CliRun failed = cli_.Run({"--output", "json", "query", "status"});
  EXPECT_EQ(failed.exit_code, kFailed) << Describe(failed);
  const Json error = ParseJson(failed).value("error", Json());
  ASSERT_TRUE(error.is_object()) << Describe(failed);
  EXPECT_EQ(error.value("code", ""), "io_error");
  EXPECT_EQ("cityctl: error: " + error.value("message", "") + "\n", failed.err);
  EXPECT_NE(error.value("message", "").find(cli_.refusing().url()), std::string::npos);

  const CliRun usage = cli_.Run({"keys", "show", "--output=json"});
  EXPECT_EQ(usage.exit_code, kUsage) << Describe(usage);
  EXPECT_EQ(ParseJson(usage)["error"].value("code", ""), "usage");
}

// ---- keys ----

TEST_F(CliProcessKeys, NewPrintsADecodableAddressInAPrivateFileAndNeverOverwrites) {
  CliSandbox fresh;
  fresh.SetPassphrase("new key's passphrase");
  const CliRun run = fresh.Run({"keys", "new", "carol"});
  ExpectSuccess(run);
  const std::string address = FieldOf(run.out, "address");
  EXPECT_TRUE(address.starts_with("city1")) << Describe(run);
  const Result<PublicKey> decoded = DecodeAddress(address);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString() << "\n" << Describe(run);
  EXPECT_EQ(FieldOf(run.out, "public key"), decoded->ToHex());
  const fs::path file = fresh.keys_dir() / "carol.key";
  EXPECT_EQ(FieldOf(run.out, "file"), file.string());
  EXPECT_EQ(ModeOf(file), 0600u);
  EXPECT_EQ(ModeOf(fresh.keys_dir()), 0700u);

  const std::string before = ReadFileText(file);
  const CliRun again = fresh.Run({"keys", "new", "carol"});
  ExpectError(again, {"carol", "already exists"});
  EXPECT_EQ(again.exit_code, kFailed);
  EXPECT_EQ(ReadFileText(file), before);
}

TEST_F(CliProcessKeys, ListAndShowGiveNameAddressAndFile) {
  WriteTestKey(cli_.keys_dir(), "bob", 0xB2, kPassphrase);
  const CliRun list = cli_.Run({"keys", "list", "--output", "json"});
  ExpectSuccess(list);
  const Json listed = ParseJson(list);
  EXPECT_EQ(listed.value("dir", ""), cli_.keys_dir().string());
  const Json expected = Json::array({{{"name", "alice"},
                                      {"address", alice_address_},
                                      {"public_key", alice_.public_key().ToHex()},
                                      {"file", (cli_.keys_dir() / "alice.key").string()}},
                                     {{"name", "bob"},
                                      {"address", bob_address_},
                                      {"public_key", TestKey(0xB2).public_key().ToHex()},
                                      {"file", (cli_.keys_dir() / "bob.key").string()}}});
  EXPECT_EQ(listed["keys"], expected) << Describe(list);

  const CliRun show = cli_.Run({"--output", "json", "keys", "show", "bob"});
  ExpectSuccess(show);
  EXPECT_EQ(ParseJson(show), expected[1]);
}

TEST_F(CliProcessKeys, ExportThenImportGivesTheSameAddressAndExportNeverOverwrites) {
  const fs::path exported = cli_.scratch("alice-backup.key");
  const CliRun exp = cli_.Run({"keys", "export", "alice", exported.string()});
  ExpectSuccess(exp);
  EXPECT_EQ(ModeOf(exported), 0600u);
  EXPECT_EQ(ReadFileText(exported), ReadFileText(cli_.keys_dir() / "alice.key"));

  const CliRun imported = cli_.Run({"keys", "import", "alice2", exported.string()});
  ExpectSuccess(imported);
  EXPECT_EQ(FieldOf(imported.out, "address"), alice_address_) << Describe(imported);
  const CliRun show = cli_.Run({"keys", "show", "alice2"});
  EXPECT_EQ(FieldOf(show.out, "address"), alice_address_) << Describe(show);

  const fs::path occupied = cli_.scratch("occupied");
  { std::ofstream(occupied) << "keep me"; }
  const CliRun again = cli_.Run({"keys", "export", "alice", occupied.string()});
  ExpectError(again, {occupied.string(), "already exists"});
  EXPECT_EQ(again.exit_code, kFailed);
  EXPECT_EQ(ReadFileText(occupied), "keep me");
}

TEST_F(CliProcessKeys, DeleteNeedsYes) {
  const fs::path file = cli_.keys_dir() / "alice.key";
  const CliRun refused = cli_.Run({"keys", "delete", "alice"});
  ExpectError(refused, {"--yes", alice_address_});
  EXPECT_TRUE(fs::exists(file));

  const CliRun deleted = cli_.Run({"keys", "delete", "alice", "--yes"});
  ExpectSuccess(deleted);
  EXPECT_FALSE(fs::exists(file));
  ExpectError(cli_.Run({"keys", "show", "alice"}), {"no key named alice"});
}

TEST_F(CliProcessKeys, BadKeyNameIsRefused) {
  const CliRun run = cli_.Run({"keys", "new", "../x"});
  ExpectError(run, {"bad key name '../x'"});
  EXPECT_FALSE(fs::exists(cli_.home() / "x.key"));
  EXPECT_FALSE(fs::exists(cli_.keys_dir() / "../x.key"));
}

TEST_F(CliProcessKeys, PassphraseFileIsUsed) {
  CliSandbox fresh;
  const fs::path passphrase_file = fresh.scratch("passphrase");
  { std::ofstream(passphrase_file) << "from the file\n"; }
  const CliRun run =
      fresh.Run({"keys", "new", "dave", "--passphrase-file", passphrase_file.string()});
  ExpectSuccess(run);
  // The line end is not part of the passphrase.
  const Result<KeyPair> key = wallet::KeyStore(fresh.keys_dir()).Load("dave", "from the file");
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(EncodeAddress(key->public_key()), FieldOf(run.out, "address"));
}

TEST_F(CliProcessKeys, WithoutPassphraseOrTerminalNewNamesWhereToGiveOne) {
  CliSandbox fresh;  // no CITYCTL_PASSPHRASE, no --passphrase-file, stdin /dev/null, no tty
  const CliRun run = fresh.Run({"keys", "new", "erin"});
  ExpectError(run, {"CITYCTL_PASSPHRASE", "--passphrase-file"});
  EXPECT_EQ(run.exit_code, kFailed);
  EXPECT_FALSE(fs::exists(fresh.keys_dir() / "erin.key"));

  fresh.SetPassphrase("");  // set, but empty: refused too
  ExpectError(fresh.Run({"keys", "new", "erin"}), {"empty passphrase"});
  EXPECT_FALSE(fs::exists(fresh.keys_dir() / "erin.key"));
}

// ---- tx sign: offline ----

TEST_F(CliProcessSign, OfflineSigningNeedsChainIdNonceAndExpiry) {
  for (const std::vector<std::string>& args : {
           Sign({}),
           Sign({"--nonce", "1", "--tx-expiry", "9"}),
           Sign({"--chain-id", "c", "--tx-expiry", "9"}),
           Sign({"--chain-id", "c", "--nonce", "1"}),
       }) {
    SCOPED_TRACE(::testing::PrintToString(args));
    ExpectError(cli_.Run(args), {"--chain-id", "--nonce", "--tx-expiry"});
  }
}

TEST_F(CliProcessSign, PrintsASignedTransactionThatDecodes) {
  const CliRun run = cli_.Run(SignOffline({}));
  ExpectSuccess(run);
  ASSERT_TRUE(run.out.ends_with("\n")) << Describe(run);
  const std::string hex = run.out.substr(0, run.out.size() - 1);
  const Result<Bytes> bytes = FromHex(hex);
  ASSERT_TRUE(bytes.ok()) << Describe(run);
  const Result<ledger::Transaction> tx = ledger::Decode<ledger::Transaction>(*bytes);
  ASSERT_TRUE(tx.ok()) << tx.status().ToString();
  EXPECT_EQ(tx->chain_id, kTestChain);
  EXPECT_EQ(tx->sender, alice_.public_key());
  EXPECT_EQ(tx->nonce, 5u);
  EXPECT_EQ(tx->expiry_height, 99u);
  EXPECT_EQ(tx->contract, "ubi");
  EXPECT_EQ(tx->method, "transfer");
  EXPECT_TRUE(tx->VerifySignature());
  EXPECT_TRUE(tx->CheckStateless(kTestChain).ok());
  const Result<Json> args = wallet::DecodeArgsJson(tx->contract, tx->method, tx->args);
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(*args, (Json{{"to", bob_address_}, {"amount", 7}}));

  // --output json: the same bytes (Ed25519 signs deterministically) and a summary of them.
  const CliRun json = cli_.Run(SignOffline({"--output", "json"}));
  ExpectSuccess(json);
  const Json out = ParseJson(json);
  EXPECT_EQ(out.value("tx", ""), hex);
  EXPECT_EQ(out["transaction"].value("id", ""), tx->Id().ToHex());
  EXPECT_EQ(out["transaction"].value("sender", ""), alice_address_);
}

}  // namespace
}  // namespace city::test
