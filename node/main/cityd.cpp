// cityd: the validator node. Subcommands: init, testnet, start, dev, version.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "city/crypto/address.h"
#include "city/crypto/passphrase.h"
#include "city/node/home.h"
#include "city/node/node.h"
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

void PrintKeys(const std::vector<node::ClientKey>& keys) {
  std::cout << "client keys (passphrase \"" << node::kDevKeyPassphrase
            << "\", for trying things only):\n";
  for (const node::ClientKey& k : keys) {
    std::cout << "  " << k.name << std::string(k.name.size() < 10 ? 10 - k.name.size() : 1, ' ')
              << city::EncodeAddress(k.key) << "  " << k.file.string() << "\n";
  }
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  CLI::App app{"cityd: a CityLedger validator node"};
  app.require_subcommand(1);

  node::InitOptions init;
  auto* init_cmd = app.add_subcommand("init", "Create a node home: config, validator key, genesis");
  init_cmd->add_option("--home", init.home, "Node home directory")->required();
  init_cmd->add_option("--chain-id", init.chain_id, "Chain id")->capture_default_str();
  init_cmd->add_option("--p2p-port", init.p2p_port, "Validator link port")->capture_default_str();
  init_cmd->add_option("--api-port", init.api_port, "Client API port")->capture_default_str();
  std::filesystem::path init_passphrase_file;
  init_cmd->add_option("--passphrase-file", init_passphrase_file,
                       "The operator key's passphrase, one line (else it is asked for on the "
                       "terminal, twice)");

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
  start_cmd->add_flag("--recover-safety", start_options.recover_safety,
                      "The validator lost its safety state (validator_state.bin): rebuild it "
                      "from its peers, signing nothing until they have shown their rounds");

  std::filesystem::path dev_home = DefaultDevHome();
  uint16_t dev_port = 26600;
  auto* dev_cmd = app.add_subcommand(
      "dev", "Run one validator with zero configuration (creates its home on first use)");
  dev_cmd->add_option("--home", dev_home, "Where the dev network lives")->capture_default_str();
  dev_cmd->add_option("--base-port", dev_port, "Links on P, API on P+1")->capture_default_str();

  auto* version_cmd = app.add_subcommand("version", "Print the version");

  CLI11_PARSE(app, argc, argv);

  if (*version_cmd) {
    std::cout << "cityd " << node::kNodeVersion << "\n";
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
