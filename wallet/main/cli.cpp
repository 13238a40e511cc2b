// cityctl: keys, transactions, queries and independent audit for CityLedger, from the
// command line. main() parses the global options and one command, runs it, and prints its
// answer: lines of text, or one JSON object with --output json. Exit codes: 0 success, 1 the
// command failed, 2 the command line is wrong.
#include "cli.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "city/crypto/address.h"
#include "city/crypto/passphrase.h"

namespace city::cityctl {
namespace fs = std::filesystem;

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

fs::path DefaultHome() {
  const std::string user_home = Env("HOME");
  return fs::path(user_home.empty() ? "." : user_home) / ".cityledger" / "cityctl";
}

void Cli::OnRun(CLI::App* sub, std::function<CommandResult()> run) {
  runners_[sub] = std::move(run);
}

const std::function<CommandResult()>* Cli::Chosen(const CLI::App& app,
                                                  const CLI::App** given) const {
  const CLI::App* current = &app;
  while (true) {
    const std::vector<CLI::App*> parsed = current->get_subcommands();
    if (parsed.empty()) break;
    current = parsed.front();
  }
  *given = current;
  const auto found = runners_.find(current);
  return found == runners_.end() ? nullptr : &found->second;
}

wallet::KeyStore Cli::Keys() const { return wallet::KeyStore(globals_.home / "keys"); }

Result<std::string> Cli::Passphrase(std::string_view prompt, bool confirm) {
  return ObtainPassphrase({.file = globals_.passphrase_file,
                           .env_var = "CITYCTL_PASSPHRASE",
                           .prompt = std::string(prompt),
                           .confirm = confirm,
                           .how_to_give_one = "set CITYCTL_PASSPHRASE or use --passphrase-file"});
}

Result<KeyPair> Cli::LoadKey(std::string_view name) {
  Result<wallet::StoredKey> found = Keys().Find(name);
  if (!found.ok()) return found.status();
  Result<std::string> passphrase =
      Passphrase("Passphrase for key " + std::string(name) + ": ", /*confirm=*/false);
  if (!passphrase.ok()) return passphrase.status();
  return Keys().Load(name, *passphrase);
}

Result<PublicKey> Cli::ResolveAccount(std::string_view text) const {
  if (text.starts_with("city1")) {
    Result<PublicKey> key = DecodeAddress(text);
    if (!key.ok()) {
      return Status(ErrorCode::kInvalidArgument,
                    "bad address '" + std::string(text) + "': " + key.status().message());
    }
    return key;
  }
  Result<wallet::StoredKey> found = Keys().Find(text);
  if (!found.ok()) {
    return Status(ErrorCode::kInvalidArgument,
                  "'" + std::string(text) + "' is neither a city1... address nor a key name (" +
                      found.status().message() + ")");
  }
  return found->public_key;
}

Result<wallet::NodeClient*> Cli::Node() {
  if (!node_) {
    Result<std::unique_ptr<wallet::NodeClient>> client =
        wallet::NodeClient::Connect(globals_.node, std::chrono::milliseconds(globals_.timeout_ms),
                                    net::TlsClientTrust{globals_.ca_file});
    if (!client.ok()) return client.status();
    node_ = std::move(*client);
    if (!globals_.read_as.empty()) {
      Result<KeyPair> key = LoadKey(globals_.read_as);
      if (!key.ok()) return key.status();
      Result<std::string> chain_id = ChainId();
      if (!chain_id.ok()) return chain_id.status();
      reader_ = std::make_shared<const KeyPair>(std::move(*key));
      node_->SignAs(reader_, *chain_id);
      reads_signed_ = true;
    }
  }
  return node_.get();
}

Status Cli::SignReadsAs(std::shared_ptr<const KeyPair> key) {
  Result<wallet::NodeClient*> node = Node();
  if (!node.ok()) return node.status();
  if (reads_signed_) return Status::Ok();
  Result<std::string> chain_id = ChainId();
  if (!chain_id.ok()) return chain_id.status();
  reader_ = key;
  (*node)->SignAs(std::move(key), *chain_id);
  reads_signed_ = true;
  return Status::Ok();
}

Result<std::string> Cli::ChainId() {
  if (!node_chain_id_.empty()) return node_chain_id_;
  Result<wallet::NodeClient*> node = Node();
  if (!node.ok()) return node.status();
  Result<Json> status = (*node)->Get("/v1/status");
  if (!status.ok()) return status.status();
  const std::string served = status->value("chain_id", "");
  if (served.empty()) {
    return Status(ErrorCode::kMalformed, "the node's status names no chain id");
  }
  if (!globals_.chain_id.empty() && globals_.chain_id != served) {
    return Status(ErrorCode::kInvalidArgument, "the node at " + globals_.node + " serves chain " +
                                                   served + ", not " + globals_.chain_id +
                                                   " (--chain-id)");
  }
  node_chain_id_ = served;
  return served;
}

void Cli::SetErrorDetails(Json details) { error_details_ = std::move(details); }

}  // namespace city::cityctl

namespace {

using city::cityctl::Cli;
using city::cityctl::Dump;
using city::cityctl::Json;

bool WantsJson(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--output=json" ||
        (arg == "--output" && i + 1 < argc && std::string(argv[i + 1]) == "json")) {
      return true;
    }
  }
  return false;
}

int Fail(bool json, std::string_view code, const std::string& message, const Json& details,
         int exit_code) {
  std::cerr << "cityctl: error: " << message << "\n";
  if (json) {
    Json error = {{"code", code}, {"message", message}};
    if (details.is_object()) error.update(details);
    std::cout << Dump(Json{{"error", error}}, 2) << "\n";
  }
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  Cli cli;
  city::cityctl::Globals& globals = cli.globals();
  CLI::App app{
      "cityctl: keys, transactions, queries and independent audit for CityLedger.\n"
      "Docs: docs/cli.md. Every command prints text, or one JSON object with --output json."};
  app.name("cityctl");
  app.require_subcommand(0, 1);
  app.fallthrough();
  globals.home = city::cityctl::DefaultHome();
  globals.node = std::string(city::wallet::kDefaultNodeUrl);
  app.add_option("--node", globals.node, "The node's client API URL")
      ->envname("CITYCTL_NODE")
      ->capture_default_str();
  app.add_option("--home", globals.home, "Where keys live (DIR/keys/NAME.key)")
      ->envname("CITYCTL_HOME")
      ->capture_default_str();
  app.add_option("--output", globals.output, "text or json (one JSON object, for scripts)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--chain-id", globals.chain_id,
                 "The chain you mean: refuse a node that serves another one; needed to sign "
                 "offline (tx sign)");
  app.add_option("--passphrase-file", globals.passphrase_file,
                 "Read key passphrases from this file (else CITYCTL_PASSPHRASE, else a prompt)");
  app.add_option("--as", globals.read_as,
                 "Sign requests with this key (a name in --home/keys), to read what it may "
                 "read: a patient's own records, an auditor's everything (docs/node.md)")
      ->envname("CITYCTL_AS");
  app.add_option("--ca-file", globals.ca_file,
                 "For an https --node: the certificate authorities (PEM) to trust, e.g. the "
                 "node's own self-signed certificate (default: the system's)")
      ->envname("CITYCTL_CA_FILE");
  app.add_option("--timeout-ms", globals.timeout_ms, "Per request to the node")
      ->check(CLI::Range(100, 600000))
      ->capture_default_str();

  city::cityctl::AddKeysCommands(app, cli);
  city::cityctl::AddTxCommands(app, cli);
  city::cityctl::AddQueryCommands(app, cli);
  city::cityctl::AddAuditCommands(app, cli);
  city::cityctl::AddBenchCommand(app, cli);

  const bool json_early = WantsJson(argc, argv);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ExtrasError& error) {
    // What CLI11 could not place: a mistyped or unknown command, or a stray argument.
    std::string unknown = error.what();
    if (const size_t colon = unknown.find(": "); colon != std::string::npos) {
      unknown = unknown.substr(colon + 2);
    }
    return Fail(json_early, "usage",
                "unknown command or argument '" + unknown + "' (see: cityctl --help)", nullptr, 2);
  } catch (const CLI::ParseError& error) {
    return Fail(json_early, "usage", std::string(error.what()) + " (see: cityctl --help)", nullptr,
                2);
  }
  const CLI::App* given = nullptr;
  const auto* run = cli.Chosen(app, &given);
  if (run == nullptr) {
    // A group without its command: say which commands it has.
    std::string path;
    for (const CLI::App* at = given; at != nullptr && at != &app; at = at->get_parent()) {
      path = at->get_name() + (path.empty() ? "" : " " + path);
    }
    std::string choices;
    for (const CLI::App* sub : given->get_subcommands([](const CLI::App*) { return true; })) {
      choices += (choices.empty() ? "" : ", ") + sub->get_name();
    }
    const std::string where = "cityctl" + (path.empty() ? "" : " " + path);
    return Fail(cli.json(), "usage",
                where + " needs a command: " + choices + " (see: " + where + " --help)", nullptr,
                2);
  }
  city::cityctl::CommandResult result = city::Status(city::ErrorCode::kInternal, "not run");
  try {
    result = (*run)();
  } catch (const nlohmann::json::exception& error) {
    // A node's answer of the wrong shape (a field of another type): its fault, not a crash.
    result = city::Status(city::ErrorCode::kMalformed,
                          std::string("the node's answer is not what cityctl expects (") +
                              error.what() + "); is --node a CityLedger node of this version?");
  } catch (const std::exception& error) {
    result = city::Status(city::ErrorCode::kInternal, std::string("unexpected: ") + error.what());
  }
  if (!result.ok()) {
    return Fail(cli.json(), city::ErrorCodeName(result.status().code()), result.status().message(),
                cli.error_details(), cli.usage_error() ? 2 : 1);
  }
  if (result->printed) return 0;
  if (cli.json()) {
    std::cout << Dump(result->json, 2) << "\n";
  } else if (!result->text.empty()) {
    std::cout << result->text << (result->text.back() == '\n' ? "" : "\n");
  }
  return 0;
}
