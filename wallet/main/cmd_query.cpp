// cityctl query status|block|tx|account|state|history|contract: read what a node serves
// (trusting it; `cityctl audit` is for checking it).
#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "cli.h"

namespace city::cityctl {
namespace {

// An account named by its key in the store is one's own: without --as, read as that key
// (an account's history and balance are its own to read). An address reads anonymously.
Status ReadAsNamedKey(Cli& cli, const std::string& subject) {
  if (!cli.globals().read_as.empty() || subject.starts_with("city1")) return Status::Ok();
  Result<KeyPair> own = cli.LoadKey(subject);
  if (!own.ok()) return own.status();
  return cli.SignReadsAs(std::make_shared<const KeyPair>(std::move(*own)));
}

struct QueryArgs {
  std::string subject;  // a height, id, account, key or contract
  std::string query;
  std::vector<std::string> params;
  bool hex_key = false;
  std::optional<uint64_t> height;
  uint32_t limit = 100;
  std::string cursor;
  bool newest_first = false;
  bool key_history = false;
};

// `query` with the page flags: "?limit=N&order=...&cursor=..."
std::string PageQuery(const QueryArgs& args) {
  std::string query =
      "limit=" + std::to_string(args.limit) + "&order=" + (args.newest_first ? "newest" : "oldest");
  if (!args.cursor.empty()) query += "&cursor=" + wallet::UrlEncode(args.cursor);
  return query;
}

void AddPageFlags(CLI::App* sub, QueryArgs& args) {
  sub->add_option("--limit", args.limit, "Items per page")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  sub->add_option("--cursor", args.cursor, "Continue from a page's next_cursor");
  sub->add_flag("--newest-first", args.newest_first, "Newest items first");
}

// The node's JSON answer to GET `target`, shown as it is (indented) in text mode.
CommandResult GetJson(Cli& cli, const std::string& target) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  Result<Json> answer = (*node)->Get(target);
  if (!answer.ok()) return answer.status();
  return Output{*answer, Dump(*answer, 2)};
}

// A state key: text ("ubi/issued") unless --hex.
Result<std::string> KeyHex(const QueryArgs& args) {
  if (!args.hex_key) return ToHex(AsBytes(args.subject));
  Result<Bytes> bytes = FromHex(args.subject);
  if (!bytes.ok()) return Status(ErrorCode::kInvalidArgument, "--hex: the key is not hex");
  return ToHex(*bytes);
}

// The contract queries' parameters that hold an account (docs/contracts.md).
bool IsAccountParam(std::string_view name) {
  return name == "account" || name == "patient" || name == "grantee" || name == "holder";
}

std::string StatusText(const Json& s) {
  std::string text = "chain:      " + s.value("chain_id", "") +
                     "\nheight:     " + std::to_string(s.value("height", uint64_t{0})) +
                     "\nterm/round: " + std::to_string(s.value("term", uint64_t{0})) + "/" +
                     std::to_string(s.value("round", uint64_t{0})) +
                     "\nsyncing:    " + (s.value("syncing", false) ? "yes" : "no");
  if (s.contains("validators") && s["validators"].is_array()) {
    text += "\nvalidators: " + std::to_string(s["validators"].size());
  }
  if (s.contains("peers") && s["peers"].is_array()) {
    text += "\npeers:      " + std::to_string(s["peers"].size());
  }
  return text;
}

}  // namespace

void AddQueryCommands(CLI::App& app, Cli& cli) {
  auto args = std::make_shared<QueryArgs>();
  CLI::App* query = app.add_subcommand("query", "Read the chain through a node");
  query->require_subcommand(0, 1);

  CLI::App* status = query->add_subcommand("status", "The node: chain, height, leader, peers");
  cli.OnRun(status, [&cli]() -> CommandResult {
    CommandResult out = GetJson(cli, "/v1/status");
    if (out.ok()) out->text = StatusText(out->json);
    return out;
  });

  CLI::App* block = query->add_subcommand("block", "A block with its certificate and results");
  block->add_option("height", args->subject, "A height, or latest")->required();
  cli.OnRun(block, [&cli, args]() -> CommandResult {
    return GetJson(cli, "/v1/blocks/" + wallet::UrlEncode(args->subject));
  });

  CLI::App* tx = query->add_subcommand("tx", "A transaction: pending, committed or rejected");
  tx->add_option("id", args->subject, "The transaction id (hex)")->required();
  cli.OnRun(tx, [&cli, args]() -> CommandResult {
    return GetJson(cli, "/v1/tx/" + wallet::UrlEncode(args->subject));
  });

  CLI::App* account = query->add_subcommand("account", "An account's nonces and UBI balance");
  account->add_option("account", args->subject, "An address or a key name")->required();
  cli.OnRun(account, [&cli, args]() -> CommandResult {
    Result<PublicKey> key = cli.ResolveAccount(args->subject);
    if (!key.ok()) return key.status();
    const std::string address = EncodeAddress(*key);
    if (Status s = ReadAsNamedKey(cli, args->subject); !s.ok()) return s;
    CommandResult out = GetJson(cli, "/v1/accounts/" + address);
    if (!out.ok()) return out;
    Result<Json> balance = (*cli.Node())->Post("/v1/query/ubi/balance", {{"account", address}});
    const bool refused = !balance.ok() && (balance.status().code() == ErrorCode::kUnauthenticated ||
                                           balance.status().code() == ErrorCode::kPermissionDenied);
    if (!balance.ok() && !refused) return balance.status();
    out->json["ubi_balance"] =
        refused ? Json(nullptr) : Json((*balance)["result"].value("balance", uint64_t{0}));
    out->text = "address:    " + address +
                "\nnext nonce: " + std::to_string(out->json.value("next_nonce", uint64_t{0})) +
                " (" + std::to_string(out->json.value("pending_next_nonce", uint64_t{0})) +
                " counting pending)\nubi:        " +
                (refused ? std::string("private (read it as the account or an auditor: --as KEY)")
                         : std::to_string(out->json["ubi_balance"].get<uint64_t>()));
    return out;
  });

  CLI::App* state = query->add_subcommand(
      "state", "A state key's value as the node says (for a checked answer: audit state)");
  state->add_option("key", args->subject, "The key, e.g. ubi/issued (or hex with --hex)")
      ->required();
  state->add_flag("--hex", args->hex_key, "The key is given as hex");
  cli.OnRun(state, [&cli, args]() -> CommandResult {
    Result<std::string> key = KeyHex(*args);
    if (!key.ok()) return key.status();
    return GetJson(cli, "/v1/state?key=" + *key);
  });

  CLI::App* history = query->add_subcommand(
      "history", "Transactions of an account (or, with --key, writes of a state key), paged");
  history->add_option("subject", args->subject, "An address or key name (a state key: --key)")
      ->required();
  history->add_flag("--key", args->key_history, "The subject is a state key (text)");
  AddPageFlags(history, *args);
  cli.OnRun(history, [&cli, args]() -> CommandResult {
    if (args->key_history) {
      return GetJson(
          cli, "/v1/history/key?key=" + ToHex(AsBytes(args->subject)) + "&" + PageQuery(*args));
    }
    Result<PublicKey> key = cli.ResolveAccount(args->subject);
    if (!key.ok()) return key.status();
    if (Status s = ReadAsNamedKey(cli, args->subject); !s.ok()) return s;
    return GetJson(cli, "/v1/accounts/" + EncodeAddress(*key) + "/history?" + PageQuery(*args));
  });

  CLI::App* contract = query->add_subcommand(
      "contract", "A contract's query, e.g.: query contract ubi balance --param account=city1...");
  contract->add_option("contract", args->subject, "governance, ubi, emr or logistics")->required();
  contract->add_option("query", args->query, "The query's name (docs/contracts.md)")->required();
  contract->add_option("--param", args->params, "name=value (numbers stay numbers); repeat");
  cli.OnRun(contract, [&cli, args]() -> CommandResult {
    Json params = Json::object();
    for (const std::string& param : args->params) {
      const size_t eq = param.find('=');
      if (eq == std::string::npos || eq == 0) {
        return Status(ErrorCode::kInvalidArgument, "--param " + param + ": expected name=value");
      }
      const std::string name = param.substr(0, eq);
      std::string value = param.substr(eq + 1);
      // Accounts may be named by a key of the store, as in the tx flags.
      if (IsAccountParam(name) && !value.starts_with("city1")) {
        Result<PublicKey> account = cli.ResolveAccount(value);
        if (!account.ok()) {
          return Status(ErrorCode::kInvalidArgument,
                        "--param " + name + ": " + account.status().message());
        }
        value = EncodeAddress(*account);
      }
      const Json number = Json::parse(value, nullptr, /*allow_exceptions=*/false);
      params[name] = number.is_number_unsigned() || number.is_boolean() ? number : Json(value);
    }
    Result<wallet::NodeClient*> node = cli.Node();
    if (!node.ok()) return node.status();
    Result<Json> answer = (*node)->Post(
        "/v1/query/" + wallet::UrlEncode(args->subject) + "/" + wallet::UrlEncode(args->query),
        params);
    if (!answer.ok()) return answer.status();
    return Output{*answer, Dump(answer->value("result", Json()), 2)};
  });
}

}  // namespace city::cityctl
