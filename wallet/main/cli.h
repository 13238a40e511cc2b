// What cityctl's command groups share: the global options, how a command reports its result
// (one JSON object with --output json, lines of text otherwise), passphrases, keys and the
// node connection. Each group (keys, tx, query, audit, bench) lives in its own file and adds
// its subcommands with Add*Commands.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "city/crypto/ed25519.h"
#include "city/status.h"
#include "city/wallet/keystore.h"
#include "city/wallet/node_client.h"

namespace city::cityctl {

using Json = nlohmann::json;

// A command's answer: `json` is printed with --output json (one object), `text` otherwise.
struct Output {
  Json json = Json::object();
  std::string text;
  bool printed = false;  // the command wrote its records to stdout itself (export)
};
using CommandResult = Result<Output>;

struct Globals {
  std::string node;                       // --node, else CITYCTL_NODE, else kDefaultNodeUrl
  std::filesystem::path home;             // --home, else CITYCTL_HOME, else DefaultHome()
  std::string output = "text";            // text | json
  std::string chain_id;                   // --chain-id: the chain the user expects ("" = any)
  std::filesystem::path passphrase_file;  // --passphrase-file
  int timeout_ms = 10000;                 // --timeout-ms: per request
  std::string read_as;                    // --as: the key that signs reads ("" = anonymous)
  std::filesystem::path ca_file;          // --ca-file: whom an https node's certificate trusts
};

class Cli {
 public:
  Globals& globals() { return globals_; }
  bool json() const { return globals_.output == "json"; }

  // `sub` runs `run` when it is the command chosen (the deepest one given).
  void OnRun(CLI::App* sub, std::function<CommandResult()> run);
  // The command chosen after parsing `app`: the deepest one given, which `*given` is set to.
  // nullptr when that one has no action of its own (a group such as "tx ubi").
  const std::function<CommandResult()>* Chosen(const CLI::App& app, const CLI::App** given) const;

  // A wrong command line found while running (a bad flag value): exit 2 rather than 1.
  Status UsageError(Status status) {
    usage_error_ = true;
    return status;
  }
  bool usage_error() const { return usage_error_; }

  // The key store under --home.
  wallet::KeyStore Keys() const;
  // The passphrase: --passphrase-file, else CITYCTL_PASSPHRASE, else a prompt on the
  // terminal (asked twice when `confirm`). kInvalidArgument when there is no terminal.
  Result<std::string> Passphrase(std::string_view prompt, bool confirm);
  // A key of the store, decrypted (the passphrase as above). "wrong passphrase for key NAME".
  Result<KeyPair> LoadKey(std::string_view name);
  // An account from a city1... address, or the name of a key in the store.
  Result<PublicKey> ResolveAccount(std::string_view address_or_key_name) const;

  // The node (connected on first use). With --as, its requests are signed by that key.
  Result<wallet::NodeClient*> Node();
  // Signs the node's requests with `key` from now on, unless --as named a key (a command
  // that loads a sender's key reads as that sender).
  Status SignReadsAs(std::shared_ptr<const KeyPair> key);
  // The key reads are signed with (--as, or a transaction's sender), once Node() was called;
  // null when reads are anonymous. It also opens text sealed to its holder.
  const KeyPair* reader() const { return reader_.get(); }
  // The chain id: --chain-id, checked against the node's when a node is asked; else the node's.
  Result<std::string> ChainId();

  // More about a failure, added to the JSON error object (e.g. a failed transaction's result).
  void SetErrorDetails(Json details);
  const Json& error_details() const { return error_details_; }

 private:
  Globals globals_;
  std::map<const CLI::App*, std::function<CommandResult()>> runners_;
  std::unique_ptr<wallet::NodeClient> node_;
  bool reads_signed_ = false;
  std::shared_ptr<const KeyPair> reader_;
  std::string node_chain_id_;
  Json error_details_;
  bool usage_error_ = false;
};

// JSON text that never throws: bytes that are not UTF-8 (a node's, or a transaction's text
// arguments) are shown as U+FFFD.
inline std::string Dump(const Json& json, int indent = -1) {
  return json.dump(indent, ' ', false, Json::error_handler_t::replace);
}

// ~/.cityledger/cityctl
std::filesystem::path DefaultHome();

void AddKeysCommands(CLI::App& app, Cli& cli);
void AddTxCommands(CLI::App& app, Cli& cli);
void AddQueryCommands(CLI::App& app, Cli& cli);
void AddAuditCommands(CLI::App& app, Cli& cli);
void AddBenchCommand(CLI::App& app, Cli& cli);

}  // namespace city::cityctl
