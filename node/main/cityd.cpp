// cityd: the validator node. Subcommands: init, genesis (the ceremony), testnet, start, dev,
// backup, restore, version.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>

#include "city/crypto/address.h"
#include "city/crypto/passphrase.h"
#include "city/crypto/private_file.h"
#include "city/node/backup.h"
#include "city/node/ceremony.h"
#include "city/node/home.h"
#include "city/node/node.h"
#include "city/node/snapshots.h"
#include "run_node.h"

namespace {

using city::Status;
namespace node = city::node;

using node::Fail;
using node::RunNode;

std::filesystem::path DefaultDevHome() {
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr ? home : ".") / ".cityledger" / "dev";
}

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The lock of a home whose node must be stopped for `doing` (restoring, importing).
city::Result<int> LockStoppedHome(const node::HomePaths& home, const std::string& doing) {
  if (!std::filesystem::exists(home.genesis())) {
    return Status(city::ErrorCode::kNotFound,
                  "no node home at " + home.root.string() + " (no genesis.json)");
  }
  city::Result<int> lock = node::LockHome(home);
  if (!lock.ok()) {
    const bool held = lock.status().message().find("locked by") != std::string::npos;
    return Status(lock.status().code(),
                  lock.status().message() + (held ? ": stop the node before " + doing : ""));
  }
  return lock;
}

void PrintKeys(const std::vector<node::ClientKey>& keys) {
  std::cout << "client keys (passphrase \"" << node::kDevKeyPassphrase
            << "\", for trying things only):\n";
  for (const node::ClientKey& k : keys) {
    std::cout << "  " << k.name << std::string(k.name.size() < 10 ? 10 - k.name.size() : 1, ' ')
              << city::EncodeAddress(k.key) << "  " << k.file.string() << "\n";
  }
}

// `cityd genesis ...`: the coordinator's half of the ceremony (ceremony.h) and the
// operators' install.
struct GenesisCommands {
  std::filesystem::path draft;
  std::string chain_id;
  uint64_t genesis_time_ms = 0;
  std::filesystem::path record;
  std::vector<std::string> members;
  uint64_t threshold = 0;
  std::string role;
  std::string account;
  std::string param_name;
  uint64_t value = 0;
  std::filesystem::path out;
  node::InstallOptions install;
  std::filesystem::path genesis_file;

  CLI::App* new_cmd = nullptr;
  CLI::App* add_validator = nullptr;
  CLI::App* add_council = nullptr;
  CLI::App* add_role = nullptr;
  CLI::App* set_param = nullptr;
  CLI::App* add_balance = nullptr;
  CLI::App* finalize = nullptr;
  CLI::App* install_cmd = nullptr;
  CLI::App* hash = nullptr;

  void Register(CLI::App& app) {
    CLI::App* genesis = app.add_subcommand(
        "genesis", "Assemble a genesis from validators on separate hosts (docs/operators.md)");
    genesis->require_subcommand(1);
    auto draft_option = [&](CLI::App* cmd) {
      cmd->add_option("--draft", draft, "The draft file")->required();
    };
    new_cmd = genesis->add_subcommand("new", "Start a draft genesis");
    draft_option(new_cmd);
    new_cmd->add_option("--chain-id", chain_id, "Chain id")->required();
    new_cmd->add_option("--genesis-time-ms", genesis_time_ms, "Genesis time (default: now)");
    add_validator = genesis->add_subcommand(
        "add-validator",
        "Add a validator from its record (cityd init --join); order = leader order");
    draft_option(add_validator);
    add_validator->add_option("--record", record, "validator-record.json")->required();
    add_council = genesis->add_subcommand("add-council", "Add council members, set the threshold");
    draft_option(add_council);
    add_council->add_option("--member", members, "A member's city1... address (repeatable)");
    add_council->add_option("--threshold", threshold, "Approvals a proposal needs");
    add_role =
        genesis->add_subcommand("add-role", "Grant a role at genesis (admin, registrar, ...)");
    draft_option(add_role);
    add_role->add_option("--role", role, "Role")->required();
    add_role->add_option("--account", account, "city1... address")->required();
    set_param = genesis->add_subcommand("set-param", "Set a chain parameter (ubi_amount, ...)");
    draft_option(set_param);
    set_param->add_option("--name", param_name, "Parameter")->required();
    set_param->add_option("--value", value, "Value")->required();
    add_balance = genesis->add_subcommand("add-balance", "Give an account tokens at genesis");
    draft_option(add_balance);
    add_balance->add_option("--account", account, "city1... address")->required();
    add_balance->add_option("--amount", value, "Tokens")->required();
    finalize = genesis->add_subcommand(
        "finalize", "Check the draft; write genesis.json and peers.json; print the hash");
    draft_option(finalize);
    finalize->add_option("--out", out, "Directory for genesis.json and peers.json")->required();
    install_cmd = genesis->add_subcommand(
        "install", "Install a finalized genesis into a home made by cityd init --join");
    install_cmd->add_option("--home", install.home, "Node home directory")->required();
    install_cmd->add_option("--genesis", install.genesis_file, "genesis.json")->required();
    install_cmd->add_option("--peers", install.peers_file, "peers.json")->required();
    install_cmd->add_option("--expect-hash", install.expected_hash,
                            "The hash the coordinator announced; refuse any other");
    install_cmd->add_flag("--joining", install.joining,
                          "This validator joins the running chain later (it is not a genesis "
                          "validator); start it with cityd start --join");
    hash = genesis->add_subcommand(
        "hash", "Print a genesis file's hash (the genesis block's, as /v1/status shows it)");
    hash->add_option("--genesis", genesis_file, "genesis.json")->required();
  }

  // A change to the draft: load, apply, save.
  template <typename Change>
  int Edit(Change change) const {
    city::Result<node::GenesisDraft> loaded = node::LoadGenesisDraft(draft);
    if (!loaded.ok()) return Fail(loaded.status());
    if (Status s = change(*loaded); !s.ok()) return Fail(s);
    if (Status s = node::SaveGenesisDraft(draft, *loaded); !s.ok()) return Fail(s);
    std::cout << "cityd: " << draft.string() << ": " << loaded->genesis.validators.size()
              << " validator(s), council of " << loaded->genesis.council.size() << " (threshold "
              << loaded->genesis.council_threshold << ")\n";
    return 0;
  }

  static city::Result<city::PublicKey> Account(const std::string& text) {
    city::Result<city::PublicKey> key = city::DecodeAddress(text);
    if (!key.ok()) {
      return Status(city::ErrorCode::kInvalidArgument,
                    text + " is not a city1... address: " + key.status().message());
    }
    return key;
  }

  // The exit code when one of them ran, nullopt otherwise.
  std::optional<int> Run() {
    if (*new_cmd) {
      if (Status s = node::NewGenesisDraft(draft, chain_id, genesis_time_ms); !s.ok())
        return Fail(s);
      std::cout << "cityd: started " << draft.string() << " for chain " << chain_id << "\n";
      return 0;
    }
    if (*add_validator) {
      city::Result<std::string> text =
          city::ReadSmallFile(record, node::kMaxCeremonyFileBytes, "validator record");
      if (!text.ok()) return Fail(text.status());
      city::Result<node::ValidatorRecord> parsed =
          node::ParseValidatorRecord(*text, record.string());
      if (!parsed.ok()) return Fail(parsed.status());
      return Edit([&](node::GenesisDraft& d) { return node::AddValidator(d, *parsed); });
    }
    if (*add_council) {
      return Edit([&](node::GenesisDraft& d) {
        for (const std::string& member : members) {
          city::Result<city::PublicKey> key = Account(member);
          if (!key.ok()) return key.status();
          if (Status s = node::AddCouncilMember(d, *key); !s.ok()) return s;
        }
        return threshold != 0 ? node::SetCouncilThreshold(d, threshold) : Status::Ok();
      });
    }
    if (*add_role) {
      return Edit([&](node::GenesisDraft& d) {
        city::Result<city::PublicKey> key = Account(account);
        return key.ok() ? node::AddRole(d, role, *key) : key.status();
      });
    }
    if (*set_param) {
      return Edit([&](node::GenesisDraft& d) { return node::SetParam(d, param_name, value); });
    }
    if (*add_balance) {
      return Edit([&](node::GenesisDraft& d) {
        city::Result<city::PublicKey> key = Account(account);
        return key.ok() ? node::AddBalance(d, *key, value) : key.status();
      });
    }
    if (*finalize) {
      city::Result<node::GenesisDraft> loaded = node::LoadGenesisDraft(draft);
      if (!loaded.ok()) return Fail(loaded.status());
      city::Result<node::FinalGenesis> final = node::FinalizeGenesis(*loaded, out);
      if (!final.ok()) return Fail(final.status());
      std::cout << "cityd: wrote " << final->genesis_file.string() << " and "
                << final->peers_file.string() << "\n"
                << "genesis hash: " << final->hash.ToHex() << "\n"
                << "send both files to every operator, and the hash by another channel\n";
      return 0;
    }
    if (*install_cmd) {
      city::Result<city::Hash256> installed = node::InstallGenesis(install);
      if (!installed.ok()) return Fail(installed.status());
      std::cout << "cityd: installed the genesis into " << install.home.string() << "\n"
                << "genesis hash: " << installed->ToHex() << "\n"
                << "start it with: cityd start " << (install.joining ? "--join " : "") << "--home "
                << install.home.string() << "\n";
      return 0;
    }
    if (*hash) {
      city::Result<node::GenesisDoc> doc = node::LoadGenesisFile(genesis_file);
      if (!doc.ok()) return Fail(doc.status());
      city::Result<node::GenesisChain> chain = node::BuildGenesisChain(*doc);
      if (!chain.ok()) return Fail(chain.status());
      std::cout << chain->block_hash.ToHex() << "\n";
      return 0;
    }
    return std::nullopt;
  }
};

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  CLI::App app{"cityd: a CityLedger validator node"};
  app.require_subcommand(1);

  node::InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a node home: config, validator key, genesis");
  init_cmd->add_option("--home", init.home, "Node home directory")->required();
  auto* chain_id_option =
      init_cmd->add_option("--chain-id", init.chain_id, "Chain id")->capture_default_str();
  auto* p2p_port_option = init_cmd->add_option("--p2p-port", init.p2p_port, "Validator link port")
                              ->capture_default_str();
  init_cmd->add_option("--api-port", init.api_port, "Client API port")->capture_default_str();
  std::filesystem::path init_passphrase_file;
  auto* passphrase_option =
      init_cmd->add_option("--passphrase-file", init_passphrase_file,
                           "The operator key's passphrase, one line (else it is asked for on the "
                           "terminal, twice)");
  node::JoinOptions join;
  bool init_join = false;
  auto* join_flag = init_cmd->add_flag(
      "--join", init_join,
      "Join a chain assembled from several hosts (cityd genesis): write the key, the config and "
      "a validator record to send to the coordinator, no genesis");
  // The chain id comes with the genesis, the port with --p2p-address, and a joining home
  // has no operator key.
  join_flag->excludes(passphrase_option)->excludes(chain_id_option)->excludes(p2p_port_option);
  init_cmd->add_option("--name", join.name, "With --join: the validator's name")->needs(join_flag);
  init_cmd
      ->add_option("--p2p-address", join.p2p_address,
                   "With --join: HOST:PORT where the other validators reach this one")
      ->needs(join_flag);
  init_cmd
      ->add_option("--listen-host", join.listen_host,
                   "With --join: the address both listeners bind to")
      ->needs(join_flag)
      ->capture_default_str();

  GenesisCommands genesis_commands;
  genesis_commands.Register(app);

  node::TestnetOptions testnet;
  auto* testnet_cmd =
      app.add_subcommand("testnet", "Create N validator homes sharing one genesis, on 127.0.0.1");
  testnet_cmd->add_option("--validators", testnet.validators, "Number of validators")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  testnet_cmd->add_option("--out", testnet.out, "Output directory")->required();
  testnet_cmd
      ->add_option("--base-port", testnet.base_port,
                   "Node i uses ports P+2i (links) and P+2i+1 (API)")
      ->capture_default_str();
  testnet_cmd->add_option("--chain-id", testnet.chain_id, "Chain id")->capture_default_str();

  std::filesystem::path start_home;
  auto* start_cmd = app.add_subcommand("start", "Run a validator node until Ctrl-C");
  start_cmd->add_option("--home", start_home, "Node home directory")->required();
  node::StartOptions start_options;
  start_cmd->add_flag("--join", start_options.join,
                      "This validator joins a running chain: its key is in no validator set "
                      "yet. It syncs, and takes part once a set-validators change naming it "
                      "starts");
  start_cmd->add_flag("--recover-safety", start_options.recover_safety,
                      "The validator lost its safety state (validator_state.bin): rebuild it "
                      "from its peers, signing nothing until they have shown their rounds");

  std::filesystem::path dev_home = DefaultDevHome();
  uint16_t dev_port = 26600;
  auto* dev_cmd = app.add_subcommand(
      "dev", "Run one validator with zero configuration (creates its home on first use)");
  dev_cmd->add_option("--home", dev_home, "Where the dev network lives")->capture_default_str();
  dev_cmd->add_option("--base-port", dev_port, "Links on P, API on P+1")->capture_default_str();

  node::BackupRequest backup;
  auto* backup_cmd = app.add_subcommand(
      "backup", "Back up a running node's ledger into a new directory (with a manifest)");
  backup_cmd->add_option("--home", backup.home.root, "The running node's home")->required();
  backup_cmd->add_option("--out", backup.out, "A new directory for the backup")->required();
  backup_cmd->add_option("--api", backup.api_url,
                         "The node's API on this host (default: from config.toml)");
  backup_cmd->add_option("--ca", backup.ca_file,
                         "With an https --api: the certificate authority (PEM)");

  std::filesystem::path restore_from;
  node::HomePaths restore_home;
  bool restore_replace = false;
  auto* restore_cmd = app.add_subcommand(
      "restore", "Install a backup as the ledger of a stopped node (never its safety state)");
  restore_cmd->add_option("--home", restore_home.root, "The stopped node's home")->required();
  restore_cmd->add_option("--from", restore_from, "The backup directory")->required();
  restore_cmd->add_flag("--replace", restore_replace,
                        "The home has a ledger: move it aside (data.before-restore-<ms>)");

  auto* snapshot_cmd = app.add_subcommand(
      "snapshot", "State snapshots: list a home's, export one, or start a stopped node from one");
  snapshot_cmd->require_subcommand(1);
  node::HomePaths snapshot_home;
  uint64_t snapshot_height = 0;
  std::filesystem::path snapshot_path;
  bool snapshot_replace = false;
  auto* snapshot_list_cmd =
      snapshot_cmd->add_subcommand("list", "The snapshots a node keeps (newest first)");
  snapshot_list_cmd->add_option("--home", snapshot_home.root, "The node's home")->required();
  node::AdminAction snapshot_create;
  snapshot_create.path = "/v1/admin/snapshot";
  snapshot_create.body = nlohmann::json::object();
  snapshot_create.what = "snapshot";
  // The one started, followed by height: the node may start its next periodic one meanwhile.
  snapshot_create.pick = [](const nlohmann::json& first,
                            const nlohmann::json& report) -> std::optional<nlohmann::json> {
    const uint64_t height = first.value("height", uint64_t{0});
    if (report.value("height", uint64_t{0}) == height) return report;
    for (const nlohmann::json& past : report.value("recent", nlohmann::json::array())) {
      if (past.value("height", uint64_t{0}) == height) return past;
    }
    return std::nullopt;
  };
  auto* snapshot_create_cmd = snapshot_cmd->add_subcommand(
      "create", "Ask the running node to take a snapshot now (at its newest anchored height)");
  snapshot_create_cmd->add_option("--home", snapshot_create.home.root, "The running node's home")
      ->required();
  snapshot_create_cmd->add_option(
      "--height", snapshot_height,
      "At this height (another validator's snapshot's, to co-sign it); default: the newest");
  snapshot_create_cmd->add_option("--api", snapshot_create.api_url,
                                  "The node's API on this host (default: from config.toml)");
  snapshot_create_cmd->add_option("--ca", snapshot_create.ca_file,
                                  "With an https --api: the certificate authority (PEM)");
  auto* snapshot_cosign_cmd = snapshot_cmd->add_subcommand(
      "cosign", "Co-sign a snapshot whose manifest equals this node's own at that height");
  snapshot_cosign_cmd->add_option("--home", snapshot_home.root, "This validator's home")
      ->required();
  snapshot_cosign_cmd->add_option("--snapshot", snapshot_path, "The snapshot directory")
      ->required();
  auto* snapshot_export_cmd = snapshot_cmd->add_subcommand(
      "export", "Copy one of a node's snapshots (the newest, or --height) into a new directory");
  snapshot_export_cmd->add_option("--home", snapshot_home.root, "The node's home")->required();
  snapshot_export_cmd->add_option("--height", snapshot_height, "The snapshot's height");
  snapshot_export_cmd->add_option("--out", snapshot_path, "A new directory")->required();
  auto* snapshot_import_cmd = snapshot_cmd->add_subcommand(
      "import", "Make a stopped node's ledger from a snapshot, checked against its genesis");
  snapshot_import_cmd->add_option("--home", snapshot_home.root, "The stopped node's home")
      ->required();
  snapshot_import_cmd->add_option("--from", snapshot_path, "The snapshot directory")->required();
  snapshot_import_cmd->add_flag("--replace", snapshot_replace,
                                "The home has a ledger: move it aside (data.before-snapshot-<ms>)");

  auto* version_cmd = app.add_subcommand("version", "Print the version");

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& done) {  // --help
    return app.exit(done);
  } catch (const CLI::ParseError& error) {
    // Bad arguments exit 2 (docs/node.md), whichever rule CLI11 found broken.
    std::cerr << "cityd: " << error.what() << " (see: cityd --help)\n";
    return 2;
  }

  if (*version_cmd) {
    std::cout << "cityd " << node::kNodeVersion << "\n";
    return 0;
  }
  if (std::optional<int> code = genesis_commands.Run()) return *code;
  if (*init_cmd && init_join) {
    if (join.name.empty() || join.p2p_address.empty()) {
      return Fail(Status(city::ErrorCode::kInvalidArgument,
                         "cityd init --join needs --name and --p2p-address HOST:PORT"));
    }
    join.home = init.home;
    join.api_port = init.api_port;
    city::Result<node::ValidatorRecord> record = node::InitJoiningHome(join);
    if (!record.ok()) return Fail(record.status());
    std::cout << node::ValidatorRecordToJson(*record) << "cityd: created " << init.home.string()
              << " waiting for its genesis; send " << (init.home / "validator-record.json").string()
              << " (public) to the coordinator, then run cityd genesis install\n";
    return 0;
  }
  if (*init_cmd) {
    city::Result<std::string> passphrase = city::ObtainPassphrase(
        {.file = init_passphrase_file,
         .env_var = "",
         .prompt = "Passphrase for the operator key (the council of the new chain): ",
         .confirm = true,
         .how_to_give_one = "use --passphrase-file FILE"});
    if (!passphrase.ok()) return Fail(passphrase.status());
    init.operator_passphrase = std::move(*passphrase);
    if (Status s = node::InitHome(init); !s.ok()) return Fail(s);
    std::cout << "cityd: created node home " << init.home.string() << "\n"
              << "  config   " << (init.home / "config.toml").string() << "\n"
              << "  genesis  " << (init.home / "genesis.json").string() << "\n"
              << "  key      " << (init.home / "validator.key").string() << " (mode 0600)\n"
              << "  operator " << (init.home / "keys" / "operator.key").string()
              << " (the council, admin and registrar; encrypted with your passphrase)\n"
              << "start it with: cityd start --home " << init.home.string() << "\n";
    return 0;
  }
  if (*testnet_cmd) {
    city::Result<node::TestnetLayout> layout = node::CreateTestnet(testnet);
    if (!layout.ok()) return Fail(layout.status());
    std::cout << "cityd: created a " << testnet.validators << "-validator network in "
              << testnet.out.string() << "\n";
    for (size_t i = 0; i < layout->homes.size(); ++i) {
      std::cout << "  node" << i << "  " << layout->homes[i].string() << "  API "
                << layout->api_urls[i] << "\n";
    }
    PrintKeys(layout->client_keys);
    std::cout << "start each with: cityd start --home " << testnet.out.string() << "/nodeN\n";
    return 0;
  }
  if (*start_cmd) return RunNode(start_home, "", start_options);
  if (*backup_cmd) {
    city::Result<node::BackupManifest> made = node::RequestBackup(backup);
    if (!made.ok()) return Fail(made.status());
    std::cout << node::ManifestToJson(*made).dump(2) << "\ncityd: backed up height "
              << made->store.tip.height << " into " << backup.out.string() << "\n";
    return 0;
  }
  if (*restore_cmd) {
    city::Result<int> lock = LockStoppedHome(restore_home, "restoring");
    if (!lock.ok()) return Fail(lock.status());
    city::Result<node::BackupManifest> restored =
        node::RestoreBackup(restore_from, restore_home, restore_replace, NowMs());
    ::close(*lock);
    if (!restored.ok()) return Fail(restored.status());
    std::cout << "cityd: restored height " << restored->store.tip.height << " (block "
              << restored->store.tip.block_hash.ToHex().substr(0, 16) << ") into "
              << restore_home.data().string()
              << "; validator_state.bin is untouched. Start the node: it syncs from there\n";
    return 0;
  }
  if (*snapshot_list_cmd) {
    for (const node::SnapshotListing& listing :
         node::ListSnapshots(node::SnapshotsDir(snapshot_home))) {
      if (!listing.manifest.ok()) {
        std::cout << listing.dir.string() << "  unusable: " << listing.manifest.status().ToString()
                  << "\n";
        continue;
      }
      const city::ledger::SnapshotManifest& m = listing.manifest->manifest;
      std::cout << "height " << m.height << "  block " << m.block_hash.ToHex().substr(0, 16)
                << "  state root " << m.state_root.ToHex().substr(0, 16) << "  " << m.state_entries
                << " keys in " << m.chunks.size() << " chunks  " << m.recent_ids << " recent ids  "
                << listing.dir.string() << "\n";
    }
    return 0;
  }
  if (*snapshot_create_cmd) {
    if (snapshot_height != 0) snapshot_create.body = {{"height", snapshot_height}};
    city::Result<nlohmann::json> report = node::RunAdminAction(snapshot_create);
    if (!report.ok()) return Fail(report.status());
    std::cout << "cityd: the snapshot at height " << report->value("height", uint64_t{0})
              << " is in "
              << (node::SnapshotsDir(snapshot_create.home) /
                  std::to_string(report->value("height", uint64_t{0})))
                     .string()
              << "\n";
    return 0;
  }
  if (*snapshot_cosign_cmd) {
    city::Result<city::ledger::SignedSnapshotManifest> cosigned =
        node::CosignSnapshot(snapshot_home, snapshot_path);
    if (!cosigned.ok()) return Fail(cosigned.status());
    std::cout << "cityd: co-signed the snapshot at height " << cosigned->manifest.height
              << " (the same manifest as this node's); it is vouched for by "
              << node::SnapshotVouchers(snapshot_path, *cosigned).size() << " key(s)\n";
    return 0;
  }
  if (*snapshot_export_cmd) {
    city::Result<node::SnapshotListing> exported = node::ExportSnapshot(
        node::SnapshotsDir(snapshot_home),
        snapshot_height == 0 ? std::nullopt : std::optional<uint64_t>(snapshot_height),
        snapshot_path);
    if (!exported.ok()) return Fail(exported.status());
    std::cout << "cityd: exported the snapshot at height " << exported->manifest->manifest.height
              << " into " << snapshot_path.string() << "\n";
    return 0;
  }
  if (*snapshot_import_cmd) {
    city::Result<int> lock = LockStoppedHome(snapshot_home, "importing a snapshot");
    if (!lock.ok()) return Fail(lock.status());
    const auto started = std::chrono::steady_clock::now();
    city::Result<node::SnapshotImportReport> imported =
        node::ImportSnapshot(snapshot_path, snapshot_home, snapshot_replace, NowMs());
    ::close(*lock);
    if (!imported.ok()) return Fail(imported.status());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const city::ledger::SnapshotManifest& m = imported->manifest;
    std::cout << "cityd: " << (imported->resumed ? "resumed and finished" : "imported")
              << " the snapshot at height " << m.height << " (state root "
              << m.state_root.ToHex().substr(0, 16) << ", " << m.state_entries << " keys, "
              << m.recent_ids << " recent transaction ids) into " << snapshot_home.data().string()
              << " in " << seconds << " s; validator_state.bin is untouched. Start the node: it "
              << "syncs the blocks after height " << m.height << "\n";
    return 0;
  }
  if (*dev_cmd) {
    std::vector<node::ClientKey> keys;
    if (!std::filesystem::exists(dev_home / "node0" / "config.toml")) {
      node::TestnetOptions dev;
      dev.out = dev_home;
      dev.validators = 1;
      dev.chain_id = "city-dev";
      dev.base_port = dev_port;
      city::Result<node::TestnetLayout> layout = node::CreateTestnet(dev);
      if (!layout.ok()) return Fail(layout.status());
      keys = layout->client_keys;
      std::cout << "cityd: created a dev network in " << dev_home.string() << "\n";
    } else {
      std::cout << "cityd: reusing the dev network in " << dev_home.string() << "\n";
    }
    std::string extra;
    if (keys.empty()) {
      extra = "client keys: " + (dev_home / "keys").string() + " (see README.txt there)\n";
    } else {
      PrintKeys(keys);
    }
    return RunNode(dev_home / "node0", extra);
  }
  return 0;
}
