// cityctl tx <contract> <command> ...: build, sign and submit a transaction (one subcommand
// per contract method, from wallet/methods.h); tx sign (offline) and tx send.
#include <chrono>
#include <thread>

#include "city/contracts/codes.h"
#include "city/contracts/emr.h"
#include "city/contracts/governance.h"
#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "city/crypto/private_file.h"
#include "city/ledger/codec.h"
#include "city/ledger/types.h"
#include "city/wallet/methods.h"
#include "cli.h"

namespace city::cityctl {
namespace {

using Clock = std::chrono::steady_clock;

// Long-polls are answered within 30 s by the node (its kMaxLongPollMs); ask for less.
constexpr uint64_t kLongPollMs = 20'000;
// Unless --expiry-height: valid for this many blocks past the tip.
constexpr uint64_t kDefaultExpiryBlocks = 1000;

enum class Mode { kSubmit, kSignOnly };

struct TxFlags {
  std::string from;
  std::optional<uint64_t> nonce;
  std::optional<uint64_t> expiry_height;
  bool wait = false;
  int wait_seconds = 30;
  bool dry_run = false;
};

// What the flags of one method command hold after parsing.
struct MethodFlags {
  wallet::ArgValues values;  // every flag's storage; only those given are passed on
  std::map<std::string, bool, std::less<>> switches;
  std::map<std::string, CLI::Option*, std::less<>> options;
  TxFlags tx;
};

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string TxHex(const ledger::Transaction& tx) { return ToHex(ledger::Encode(tx)); }

Json TransactionSummary(const ledger::Transaction& tx) {
  Json out = {{"id", tx.Id().ToHex()},
              {"chain_id", tx.chain_id},
              {"sender", EncodeAddress(tx.sender)},
              {"nonce", tx.nonce},
              {"expiry_height", tx.expiry_height},
              {"contract", tx.contract},
              {"method", tx.method}};
  Result<Json> args = wallet::DecodeArgsJson(tx.contract, tx.method, tx.args);
  out["args"] = args.ok() ? *args : Json(ToHex(tx.args));
  return out;
}

std::string SummaryText(const ledger::Transaction& tx) {
  return tx.contract + " " + tx.method + " from " + EncodeAddress(tx.sender) + ", nonce " +
         std::to_string(tx.nonce) + ", valid through height " + std::to_string(tx.expiry_height) +
         "\nid: " + tx.Id().ToHex();
}

// "permission_denied (code 6): caller lacks the permission"
std::string FailureText(const Json& result) {
  const uint32_t code = result.value("code", 0u);
  return std::string(contracts::CodeName(code)) + " (code " + std::to_string(code) +
         "): " + result.value("detail", "");
}

std::string ResultText(const Json& result) {
  if (!result.value("ok", false)) return "result: failed, " + FailureText(result);
  std::string text = "result: ok";
  for (const Json& event : result.value("events", Json::array())) {
    text += "\nevent: " + event.value("contract", "") + "." + event.value("name", "");
    // Ids (a consent's, a proposal's, an event's) are events of 8 bytes: a u64, little-endian.
    Result<Bytes> data = FromHex(event.value("data", ""));
    if (data.ok() && data->size() == 8) {
      uint64_t id = 0;
      for (size_t i = 0; i < 8; ++i) id |= uint64_t((*data)[i]) << (8 * i);
      text += " " + std::to_string(id);
    }
  }
  return text;
}

// Waits for `id` to be committed or rejected; the node's last answer.
Result<Json> WaitForTx(Cli& cli, const std::string& id, int wait_seconds) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(wait_seconds);
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    const uint64_t wait_ms = std::min<uint64_t>(kLongPollMs, std::max<int64_t>(left.count(), 0));
    Result<Json> answer = (*node)->Get("/v1/tx/" + id + "?wait_ms=" + std::to_string(wait_ms),
                                       std::chrono::milliseconds(wait_ms + 10'000));
    if (!answer.ok()) return answer.status();
    const std::string status = answer->value("status", "");
    if (status == "committed" || status == "rejected") return answer;
    if (Clock::now() >= deadline) {
      return Status(ErrorCode::kIoError, "transaction " + id + " is still " + status + " after " +
                                             std::to_string(wait_seconds) +
                                             " s (see: cityctl query tx " + id + ")");
    }
  }
}

// Submits a signed transaction and, with `wait`, waits for its outcome.
CommandResult Submit(Cli& cli, const ledger::Transaction& tx, bool wait, int wait_seconds) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  const std::string id = tx.Id().ToHex();
  Result<Json> accepted = (*node)->Post("/v1/tx", Json{{"tx", TxHex(tx)}});
  // Sending a transaction again is not an error: its outcome is what the caller wants.
  const bool resent = !accepted.ok() && (*node)->last_error().code == "already_committed";
  if (!accepted.ok() && !resent) {
    const wallet::NodeError& error = (*node)->last_error();
    if (error.http_status != 0) {
      cli.SetErrorDetails({{"code", "tx_refused"}, {"node_code", error.code}, {"id", id}});
    }
    return accepted.status();
  }
  Output out;
  out.json = {{"id", id}, {"status", "pending"}, {"transaction", TransactionSummary(tx)}};
  out.text = SummaryText(tx) + "\nsubmitted to " + cli.globals().node + ": pending";
  if (!wait && !resent) return out;

  Result<Json> outcome = WaitForTx(cli, id, resent ? 0 : wait_seconds);
  if (!outcome.ok()) return outcome.status();
  out.json["status"] = (*outcome)["status"];
  if ((*outcome)["status"] == "rejected") {
    const Json error = outcome->value("error", Json::object());
    cli.SetErrorDetails(
        {{"code", "tx_rejected"}, {"id", id}, {"node_code", error.value("code", "")}});
    return Status(ErrorCode::kInvalidArgument, "transaction " + id +
                                                   " was rejected: " + error.value("code", "") +
                                                   ": " + error.value("message", ""));
  }
  const Json result = outcome->value("result", Json::object());
  const uint64_t height = outcome->value("height", uint64_t{0});
  out.json["height"] = height;
  out.json["index"] = outcome->value("index", uint64_t{0});
  out.json["result"] = result;
  if (!result.value("ok", false)) {
    cli.SetErrorDetails(
        {{"code", "tx_failed"}, {"id", id}, {"height", height}, {"result", result}});
    return Status(ErrorCode::kInvalidArgument, "transaction " + id + " committed at height " +
                                                   std::to_string(height) +
                                                   " but failed: " + FailureText(result));
  }
  out.text = SummaryText(tx) + (resent ? "\nalready committed" : "\ncommitted") + " at height " +
             std::to_string(height) + "\n" + ResultText(result);
  return out;
}

// The signed transaction of a method command.
// The key governance publishes for sealing EMR text to the auditor role (none: nullopt).
Result<std::optional<PublicKey>> AuditorSealingKey(wallet::NodeClient& node) {
  Result<Json> answer =
      node.Post("/v1/query/governance/sealing_key", Json{{"role", contracts::kAuditorRole}});
  if (!answer.ok()) return answer.status();
  const Json result = answer->value("result", Json::object());
  if (!result.is_object() || !result.contains("key") || result["key"].is_null()) {
    return std::optional<PublicKey>();
  }
  if (!result["key"].is_string()) {
    return Status(ErrorCode::kMalformed, "the node's auditor sealing key is not an address");
  }
  Result<PublicKey> key = DecodeAddress(result["key"].get<std::string>());
  if (!key.ok())
    return Status(ErrorCode::kMalformed, "the node's auditor sealing key is not an address");
  return std::optional<PublicKey>(*key);
}

Result<ledger::Transaction> BuildTx(Cli& cli, const wallet::MethodSpec& spec,
                                    const MethodFlags& flags, Mode mode) {
  wallet::ArgValues given;
  for (const wallet::ArgSpec& arg : spec.args) {
    if (flags.options.at(arg.flag)->count() == 0) continue;
    const auto sw = flags.switches.find(arg.flag);
    std::string value =
        sw != flags.switches.end() ? (sw->second ? "true" : "false") : flags.values.at(arg.flag);
    // Accounts may be named by a key of the store ("--to receiver").
    if (arg.type == wallet::ArgType::kAccount && !value.starts_with("city1") &&
        wallet::KeyStore::CheckName(value).ok()) {
      Result<PublicKey> account = cli.ResolveAccount(value);
      if (!account.ok()) {
        return cli.UsageError(Status(ErrorCode::kInvalidArgument,
                                     "--" + arg.flag + ": " + account.status().message()));
      }
      value = EncodeAddress(*account);
    }
    given[arg.flag] = std::move(value);
  }
  std::string chain_id = cli.globals().chain_id;
  uint64_t tip = 0;
  std::optional<uint64_t> nonce = flags.tx.nonce;
  std::optional<PublicKey> auditor_sealing_key;
  if (mode == Mode::kSignOnly) {
    // Offline: nothing is asked of a node, so everything it would say is a flag.
    if (chain_id.empty() || !nonce || !flags.tx.expiry_height) {
      return cli.UsageError(
          Status(ErrorCode::kInvalidArgument,
                 "tx sign works offline: give --chain-id, --nonce and --tx-expiry"));
    }
  }
  // The flags are checked first, against the key file's public key: a typo should not cost a
  // passphrase, a key derivation and the node's time. They are encoded again below, once the
  // chain's height is known.
  Result<wallet::StoredKey> sender = cli.Keys().Find(flags.tx.from);
  if (!sender.ok()) return sender.status();
  if (Result<Bytes> checked = spec.encode(given, {sender->public_key, NowMs(), tip, std::nullopt});
      !checked.ok()) {
    return cli.UsageError(checked.status());
  }
  Result<KeyPair> loaded = cli.LoadKey(flags.tx.from);
  if (!loaded.ok()) return loaded.status();
  const auto key = std::make_shared<const KeyPair>(std::move(*loaded));
  if (mode == Mode::kSubmit) {
    // The sender reads its own transaction back in full (its events: a consent's id).
    if (Status signing = cli.SignReadsAs(key); !signing.ok()) return signing;
    Result<std::string> served = cli.ChainId();
    if (!served.ok()) return served.status();
    chain_id = *served;
    Result<wallet::NodeClient*> node = cli.Node();
    if (!node.ok()) return node.status();
    Result<Json> account = (*node)->Get("/v1/accounts/" + EncodeAddress(key->public_key()));
    if (!account.ok()) return account.status();
    tip = account->value("height", uint64_t{0});
    // The pending nonce: transactions of ours still in the pool come first.
    if (!nonce) nonce = account->value("pending_next_nonce", uint64_t{0});
    if (spec.contract == contracts::kEmr) {
      Result<std::optional<PublicKey>> sealing = AuditorSealingKey(**node);
      if (!sealing.ok()) return sealing.status();
      auditor_sealing_key = *sealing;
    }
  }
  const wallet::TxContext context{key->public_key(), NowMs(), tip, auditor_sealing_key};
  Result<Bytes> args = spec.encode(given, context);
  if (!args.ok()) return args.status();

  ledger::Transaction tx;
  tx.chain_id = chain_id;
  tx.nonce = *nonce;
  // Saturating: a node reporting an absurd tip must not wrap the expiry round.
  tx.expiry_height = flags.tx.expiry_height.value_or(
      tip > UINT64_MAX - kDefaultExpiryBlocks ? UINT64_MAX : tip + kDefaultExpiryBlocks);
  tx.contract = spec.contract;
  tx.method = spec.method;
  tx.args = std::move(*args);
  if (Status s = tx.CheckStateless(chain_id); !s.ok()) return s;
  tx.Sign(*key);
  return tx;
}

std::string TypeName(wallet::ArgType type) {
  switch (type) {
    case wallet::ArgType::kAccount:
      return "ADDR|KEY";
    case wallet::ArgType::kU64:
      return "N";
    case wallet::ArgType::kHash:
      return "HEX64";
    case wallet::ArgType::kTextList:
      return "A,B,...";
    case wallet::ArgType::kChoice:
      return "WORD";
    case wallet::ArgType::kText:
    case wallet::ArgType::kBool:
      break;
  }
  return "TEXT";
}

std::string FlagHelp(const wallet::ArgSpec& arg) {
  std::string help = arg.help;
  if (!arg.choices.empty()) {
    help += " (one of:";
    for (const std::string& choice : arg.choices) help += " " + choice;
    help += ")";
  }
  if (!arg.default_value.empty()) help += " [default: " + arg.default_value + "]";
  return help;
}

void AddMethodCommand(CLI::App* parent, Cli& cli, const wallet::MethodSpec& spec, Mode mode) {
  CLI::App* sub = parent->add_subcommand(spec.command, spec.summary);
  if (!spec.example.empty()) sub->footer("Example:\n  " + spec.example);
  auto flags = std::make_shared<MethodFlags>();
  for (const wallet::ArgSpec& arg : spec.args) {
    const std::string name = "--" + arg.flag;
    CLI::Option* option = nullptr;
    if (arg.type == wallet::ArgType::kBool) {
      option = sub->add_flag(name, flags->switches[arg.flag], FlagHelp(arg));
    } else {
      option = sub->add_option(name, flags->values[arg.flag], FlagHelp(arg))
                   ->type_name(TypeName(arg.type));
      if (arg.required && arg.default_value.empty()) option->required();
    }
    flags->options[arg.flag] = option;
  }
  sub->add_option("--from", flags->tx.from, "The key that signs and sends (cityctl keys list)")
      ->required();
  sub->add_option("--nonce", flags->tx.nonce, "Default: the account's next nonce, from the node");
  sub->add_option("--tx-expiry", flags->tx.expiry_height,
                  "The last height it may commit at [default: tip + 1000]");
  if (mode == Mode::kSubmit) {
    sub->add_flag("--wait", flags->tx.wait, "Wait until it commits; print height and result");
    sub->add_option("--wait-timeout", flags->tx.wait_seconds, "Seconds --wait waits")
        ->check(CLI::Range(1, 3600))
        ->capture_default_str();
    sub->add_flag("--dry-run", flags->tx.dry_run, "Print the signed transaction; send nothing");
  }
  cli.OnRun(sub, [&cli, &spec, flags, mode]() -> CommandResult {
    Result<ledger::Transaction> tx = BuildTx(cli, spec, *flags, mode);
    if (!tx.ok()) return tx.status();
    if (mode == Mode::kSignOnly || flags->tx.dry_run) {
      Output out;
      out.json = {{"tx", TxHex(*tx)}, {"transaction", TransactionSummary(*tx)}};
      out.text =
          mode == Mode::kSignOnly
              ? TxHex(*tx)
              : SummaryText(*tx) + "\nnot sent (--dry-run); signed transaction:\n" + TxHex(*tx);
      return out;
    }
    return Submit(cli, *tx, flags->tx.wait, flags->tx.wait_seconds);
  });
}

void AddMethodTree(CLI::App* parent, Cli& cli, Mode mode) {
  std::map<std::string, CLI::App*> contracts;
  for (const wallet::MethodSpec& spec : wallet::TxMethods()) {
    CLI::App*& contract = contracts[spec.contract];
    if (contract == nullptr) {
      contract =
          parent->add_subcommand(spec.contract, "Methods of the " + spec.contract + " contract");
      contract->require_subcommand(0, 1);
    }
    AddMethodCommand(contract, cli, spec, mode);
  }
}

// A signed transaction from `text`: its hex, a file holding the hex, or a file holding the JSON
// that `tx sign --output json` prints.
Result<ledger::Transaction> ReadSignedTx(const std::string& text) {
  std::string hex = text;
  std::error_code ec;
  if (std::filesystem::is_regular_file(text, ec)) {
    Result<std::string> contents =
        ReadSmallFile(text, 2 * ledger::kMaxTransactionBytes + 4096, "transaction file");
    if (!contents.ok()) return contents.status();
    hex = *contents;
    const Json parsed = Json::parse(hex, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_object() && parsed.contains("tx") && parsed["tx"].is_string()) {
      hex = parsed["tx"].get<std::string>();
    }
  }
  while (!hex.empty() && std::isspace(static_cast<unsigned char>(hex.back()))) hex.pop_back();
  Result<Bytes> bytes = FromHex(hex);
  if (!bytes.ok()) {
    return Status(ErrorCode::kInvalidArgument,
                  "not a signed transaction (hex, or a file of it): " + bytes.status().message());
  }
  Result<ledger::Transaction> tx =
      ledger::Decode<ledger::Transaction>(*bytes, ledger::kMaxTransactionBytes);
  if (!tx.ok()) {
    return Status(ErrorCode::kMalformed, "not a signed transaction: " + tx.status().message());
  }
  if (!tx->VerifySignature()) {
    return Status(ErrorCode::kBadSignature, "the transaction's signature does not verify");
  }
  return tx;
}

}  // namespace

void AddTxCommands(CLI::App& app, Cli& cli) {
  CLI::App* tx = app.add_subcommand(
      "tx", "Build, sign and send transactions: cityctl tx <contract> <method> --from KEY ...");
  tx->require_subcommand(0, 1);
  AddMethodTree(tx, cli, Mode::kSubmit);

  CLI::App* sign = tx->add_subcommand(
      "sign",
      "Sign a transaction offline (needs --chain-id, --nonce, --tx-expiry); prints "
      "its hex for tx send");
  sign->require_subcommand(0, 1);
  AddMethodTree(sign, cli, Mode::kSignOnly);

  auto send_args = std::make_shared<std::pair<std::string, TxFlags>>();
  CLI::App* send = tx->add_subcommand("send", "Send a transaction signed elsewhere (by tx sign)");
  send->add_option("tx", send_args->first, "The signed transaction: hex, or a file holding it")
      ->required();
  send->add_flag("--wait", send_args->second.wait, "Wait until it commits");
  send->add_option("--wait-timeout", send_args->second.wait_seconds, "Seconds --wait waits")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cli.OnRun(send, [&cli, send_args]() -> CommandResult {
    Result<ledger::Transaction> tx = ReadSignedTx(send_args->first);
    if (!tx.ok()) return tx.status();
    Result<std::string> chain_id = cli.ChainId();
    if (!chain_id.ok()) return chain_id.status();
    if (tx->chain_id != *chain_id) {
      return Status(ErrorCode::kInvalidArgument, "the transaction is for chain " + tx->chain_id +
                                                     ", but the node serves " + *chain_id);
    }
    return Submit(cli, *tx, send_args->second.wait, send_args->second.wait_seconds);
  });
}

}  // namespace city::cityctl
