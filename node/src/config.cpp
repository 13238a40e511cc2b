// config.toml (config.h): one table of option descriptions drives parsing, range checks and
// the rendered file, so an option cannot be parsed without being documented or vice versa.
#include "city/node/config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <limits>
#include <set>
#include <string>
#include <type_traits>
#include <variant>

#include "city/crypto/address.h"
#include "city/ledger/limits.h"
#include "file_io_internal.h"

namespace city::node {
namespace {

// size_t and uint64_t fields share one member-pointer type below.
static_assert(std::is_same_v<size_t, uint64_t>);

constexpr uint64_t kMaxInteger = std::numeric_limits<int64_t>::max();  // TOML's integers
// A timeout longer than a day is a typo (an extra zero or two), not a choice.
constexpr uint64_t kMaxTimeoutMs = 24ull * 3600 * 1000;
constexpr std::array<std::string_view, 5> kLogLevels = {"trace", "debug", "info", "warn", "error"};

struct Option {
  std::string_view table;
  std::string_view key;
  std::string_view help;  // the comment above the option in the rendered file
  std::variant<std::string NodeConfig::*, uint16_t NodeConfig::*, uint64_t NodeConfig::*> field;
  uint64_t min = 0;  // integers only
  uint64_t max = kMaxInteger;
};

// In the order of the rendered file. [[p2p.peers]] is rendered after the [p2p] options.
const std::array<Option, 35> kOptions = {{
    {"node", "moniker", "A name for this node in logs and status output.", &NodeConfig::moniker},
    {"p2p", "listen_host", "The address the validator link listener binds to.",
     &NodeConfig::p2p_listen_host},
    {"p2p", "port", "The TCP port of the validator link listener.", &NodeConfig::p2p_port, 1,
     65535},
    {"api", "listen_host", "The address the client API (HTTP/JSON) binds to.",
     &NodeConfig::api_listen_host},
    {"api", "port", "The TCP port of the client API.", &NodeConfig::api_port, 1, 65535},
    {"api", "max_connections", "Client API connections open at once; more are refused.",
     &NodeConfig::api_max_connections, 1},
    {"api", "max_connections_per_ip",
     "The most connections one client address may hold open (0: no cap of its own).",
     &NodeConfig::api_max_connections_per_ip, 0},
    {"api", "allowed_hosts",
     "Host names the API answers for, comma-separated, besides listen_host (a defence against\n"
     "# DNS rebinding); \"*\" answers for any name.",
     &NodeConfig::api_allowed_hosts},
    {"api", "requests_per_second_per_ip",
     "Requests one client address may make per second, in bursts up to twice that; more get\n"
     "# 429 rate_limited (0: no limit).",
     &NodeConfig::api_requests_per_second_per_ip, 0, 1'000'000},
    {"api", "rate_limit_exempt",
     "Client addresses, comma-separated, that the request rate does not apply to.",
     &NodeConfig::api_rate_limit_exempt},
    {"api", "max_long_polls_per_ip",
     "Long-polls (wait_ms) one client address may hold waiting at once (0: no cap of its own).",
     &NodeConfig::api_max_long_polls_per_ip, 0, 4096},
    {"api", "max_body_bytes", "The largest request body the API accepts (a batch of transactions).",
     &NodeConfig::api_max_body_bytes, 1},
    {"consensus", "base_timeout_ms",
     "How long a validator waits in a round before timing out, in ms; it doubles with each\n"
     "# round in a row that ends in a timeout certificate.",
     &NodeConfig::base_timeout_ms, 1, kMaxTimeoutMs},
    {"consensus", "max_timeout_ms",
     "The cap on the doubled round timeout, in ms (>= base_timeout_ms).",
     &NodeConfig::max_timeout_ms, 1, kMaxTimeoutMs},
    {"consensus", "max_block_transactions",
     "The most transactions in a block this node proposes (1..10000).",
     &NodeConfig::max_block_transactions, 1, ledger::kMaxTransactionsPerBlock},
    {"consensus", "max_block_bytes", "The largest block this node proposes, in bytes.",
     &NodeConfig::max_block_bytes, 1, ledger::kMaxBlockBytes},
    {"consensus", "max_block_cost",
     "The most execution in a block this node proposes: one unit per transaction plus one per\n"
     "# KiB of arguments (every validator refuses a block above 12000).",
     &NodeConfig::max_block_cost, 1, ledger::kMaxBlockExecutionCost},
    {"consensus", "batch_delay_ms",
     "How long a leader waits for a fuller block before proposing one that is not full, in ms\n"
     "# (< base_timeout_ms / 2, so followers do not time out the wait); only when execution is\n"
     "# behind or transactions arrive fast enough to bring 16 more in that time.",
     &NodeConfig::batch_delay_ms, 0, kMaxTimeoutMs},
    {"consensus", "idle_block_interval_ms",
     "With no transactions, a leader proposes an empty block this often, in ms (> 0 and\n"
     "# < base_timeout_ms / 2: followers time out a leader that stays silent).",
     &NodeConfig::idle_block_interval_ms, 1, kMaxTimeoutMs},
    {"mempool", "max_transactions", "The most transactions the mempool holds.",
     &NodeConfig::mempool_max_transactions, 1},
    {"mempool", "max_bytes", "The most bytes of encoded transactions the mempool holds.",
     &NodeConfig::mempool_max_bytes, 1},
    {"mempool", "max_per_sender", "The most pending transactions of one sender.",
     &NodeConfig::mempool_max_per_sender, 1},
    {"mempool", "max_per_client", "The most pending transactions submitted from one client IP.",
     &NodeConfig::mempool_max_per_client, 1},
    {"mempool", "max_client_backlog",
     "Runnable pending transactions (from any validator's clients) above which new client\n"
     "# submissions are refused `overloaded` (429, retry): a few blocks of work, so that what\n"
     "# is accepted commits within seconds. 0: no limit (the pool's size still bounds it).",
     &NodeConfig::mempool_max_client_backlog, 0},
    {"mempool", "max_nonce_ahead",
     "How far above a sender's committed next nonce a transaction may be (nonce_gap beyond).",
     &NodeConfig::mempool_max_nonce_ahead, 1},
    {"mempool", "max_expiry_horizon",
     "How far above the next height a transaction's expiry may be (expiry_too_far beyond);\n"
     "# the chain's rule caps it at 20000.",
     &NodeConfig::mempool_max_expiry_horizon, 1, ledger::kMaxExpiryHorizon},
    {"mempool", "gap_eviction_heights",
     "A transaction behind a nonce gap (it cannot run) is evicted this many heights after it\n"
     "# arrived; a full pool evicts such transactions first.",
     &NodeConfig::mempool_gap_eviction_heights, 1},
    {"mempool", "verify_threads", "Signature verification threads; 0 is one per hardware thread.",
     &NodeConfig::verify_threads, 0, 1024},
    {"mempool", "verify_batch", "Signatures a verification thread takes at a time.",
     &NodeConfig::verify_batch, 1},
    {"mempool", "verify_cache_entries",
     "Verified transaction signatures remembered, so none is verified twice.",
     &NodeConfig::verify_cache_entries, 0},
    {"storage", "retain_versions",
     "State versions whose tree is kept for proofs, counting the tip; 0 keeps every version\n"
     "# (archive), else at least 128. Values stay readable at every held height either way.",
     &NodeConfig::retain_versions, 0},
    {"storage", "retain_blocks",
     "Blocks kept, counting the tip; 0 keeps every block (archive). Older blocks, their\n"
     "# results and history are deleted as the chain grows (the API answers 410 pruned),\n"
     "# but for each epoch's last header. At least 128; a validator that falls further behind\n"
     "# than every peer retains cannot catch up by block sync (docs/operators.md).",
     &NodeConfig::retain_blocks, 0},
    {"storage", "snapshot_interval",
     "A state snapshot (for nodes that join by state sync, and cityd snapshot export) is\n"
     "# written to <home>/snapshots every this many executed heights; 0: none.",
     &NodeConfig::snapshot_interval, 0},
    {"storage", "snapshot_keep", "The newest snapshots kept (1..16).", &NodeConfig::snapshot_keep,
     1, 16},
    {"log", "level", "Log level: trace, debug, info, warn or error.", &NodeConfig::log_level},
}};

std::string NodeTypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    default:
      return "a date or time";
  }
}

class Parser {
 public:
  explicit Parser(std::string_view file_name) : file_name_(file_name) {}

  Status Fail(std::string_view where, std::string_view what) const {
    return Status(ErrorCode::kInvalidArgument,
                  file_name_ + ": " + std::string(where) + ": " + std::string(what));
  }

  // Integers in [min, max]: TOML integers are signed 64-bit, so negative ones end here too.
  Status ReadInteger(const toml::node& node, std::string_view where, uint64_t min, uint64_t max,
                     uint64_t& out) const {
    const std::string expected =
        "expected an integer in " + std::to_string(min) + ".." + std::to_string(max);
    const toml::value<int64_t>* value = node.as_integer();
    if (value == nullptr) return Fail(where, expected + ", got " + NodeTypeName(node));
    const int64_t v = value->get();
    if (v < 0 || static_cast<uint64_t>(v) < min || static_cast<uint64_t>(v) > max) {
      return Fail(where, expected + ", got " + std::to_string(v));
    }
    out = static_cast<uint64_t>(v);
    return Status::Ok();
  }

  Status ReadString(const toml::node& node, std::string_view where, std::string& out) const {
    const toml::value<std::string>* value = node.as_string();
    if (value == nullptr) return Fail(where, "expected a string, got " + NodeTypeName(node));
    if (value->get().empty()) return Fail(where, "must not be empty");
    out = value->get();
    return Status::Ok();
  }

  Status ReadOption(const Option& option, const toml::node& node, NodeConfig& config) const {
    std::string where = "[";  // appended, not "[" + ...: GCC 12 -O3 warns (-Wrestrict) wrongly
    where.append(option.table).append("] ").append(option.key);
    if (auto* text = std::get_if<std::string NodeConfig::*>(&option.field)) {
      std::string value;
      if (Status s = ReadString(node, where, value); !s.ok()) return s;
      if (option.table == "log" &&
          std::find(kLogLevels.begin(), kLogLevels.end(), value) == kLogLevels.end()) {
        return Fail(where,
                    "expected one of trace, debug, info, warn, error, got \"" + value + "\"");
      }
      config.*(*text) = std::move(value);
      return Status::Ok();
    }
    uint64_t value = 0;
    if (Status s = ReadInteger(node, where, option.min, option.max, value); !s.ok()) return s;
    if (auto* port = std::get_if<uint16_t NodeConfig::*>(&option.field)) {
      config.*(*port) = static_cast<uint16_t>(value);
    } else {
      config.*std::get<uint64_t NodeConfig::*>(option.field) = value;
    }
    return Status::Ok();
  }

  Status ReadPeers(const toml::node& node, NodeConfig& config) const {
    const toml::array* entries = node.as_array();
    if (entries == nullptr) {
      return Fail("[p2p] peers",
                  "expected an array of tables ([[p2p.peers]]), got " + NodeTypeName(node));
    }
    std::set<PublicKey> seen;
    for (size_t i = 0; i < entries->size(); ++i) {
      const std::string where = "[[p2p.peers]] #" + std::to_string(i + 1);
      const toml::table* entry = (*entries)[i].as_table();
      if (entry == nullptr) {
        return Fail(where, "expected a table, got " + NodeTypeName((*entries)[i]));
      }
      PeerAddress peer;
      bool has_key = false;
      bool has_host = false;
      bool has_port = false;
      for (auto&& [key, value] : *entry) {
        const std::string_view name = key.str();
        if (name == "key") {
          std::string address;
          if (Status s = ReadString(value, where + " key", address); !s.ok()) return s;
          Result<PublicKey> decoded = DecodeAddress(address);
          if (!decoded.ok()) {
            return Fail(where + " key", "not a valid address: " + decoded.status().message());
          }
          peer.key = *decoded;
          has_key = true;
        } else if (name == "host") {
          if (Status s = ReadString(value, where + " host", peer.host); !s.ok()) return s;
          has_host = true;
        } else if (name == "port") {
          uint64_t port = 0;
          if (Status s = ReadInteger(value, where + " port", 1, 65535, port); !s.ok()) return s;
          peer.port = static_cast<uint16_t>(port);
          has_port = true;
        } else {
          return Status(ErrorCode::kInvalidArgument,
                        file_name_ + ": unknown key [[p2p.peers]] " + std::string(name));
        }
      }
      if (!has_key) return Fail(where, "missing key \"key\" (the peer's city1... address)");
      if (!has_host) return Fail(where, "missing key \"host\"");
      if (!has_port) return Fail(where, "missing key \"port\"");
      if (!seen.insert(peer.key).second) {
        return Fail(where + " key", "peer " + EncodeAddress(peer.key) + " is listed twice");
      }
      config.peers.push_back(std::move(peer));
    }
    return Status::Ok();
  }

  // [api.tls]: certificate_chain and private_key, both required.
  Status ReadTls(const toml::node& node, NodeConfig& config) const {
    const toml::table* tls = node.as_table();
    if (tls == nullptr) return Fail("[api.tls]", "expected a table, got " + NodeTypeName(node));
    for (auto&& [key, value] : *tls) {
      const std::string_view name = key.str();
      if (name == "certificate_chain") {
        if (Status s =
                ReadString(value, "[api.tls] certificate_chain", config.api_tls_certificate_chain);
            !s.ok()) {
          return s;
        }
      } else if (name == "private_key") {
        if (Status s = ReadString(value, "[api.tls] private_key", config.api_tls_private_key);
            !s.ok()) {
          return s;
        }
      } else {
        return Status(ErrorCode::kInvalidArgument,
                      file_name_ + ": unknown key [api.tls] " + std::string(name));
      }
    }
    if (config.api_tls_certificate_chain.empty() || config.api_tls_private_key.empty()) {
      return Fail("[api.tls]", "needs both certificate_chain and private_key");
    }
    return Status::Ok();
  }

  // Rules between options, checked once every option has its final value.
  Status CheckTogether(const NodeConfig& config) const {
    if (config.max_timeout_ms < config.base_timeout_ms) {
      return Fail("[consensus] max_timeout_ms",
                  "must be >= base_timeout_ms (" + std::to_string(config.base_timeout_ms) + ")");
    }
    const uint64_t half = config.base_timeout_ms / 2;
    if (config.idle_block_interval_ms >= half) {
      return Fail("[consensus] idle_block_interval_ms",
                  "must be > 0 and < base_timeout_ms / 2 (" + std::to_string(half) +
                      "): followers time out a leader that stays silent");
    }
    if (config.batch_delay_ms >= half) {
      return Fail("[consensus] batch_delay_ms",
                  "must be < base_timeout_ms / 2 (" + std::to_string(half) +
                      "): followers time out a leader that waits too long");
    }
    if (config.retain_versions != 0 && config.retain_versions < kMinRetainBlocks) {
      return Fail("[storage] retain_versions",
                  "must be 0 (keep every version) or at least " + std::to_string(kMinRetainBlocks) +
                      ": a proposal names the state of a height up to 72 blocks back, which a "
                      "restarted validator reads from its store");
    }
    if (config.retain_blocks != 0 && config.retain_blocks < kMinRetainBlocks) {
      return Fail("[storage] retain_blocks",
                  "must be 0 (keep every block) or at least " + std::to_string(kMinRetainBlocks) +
                      ": peers a little behind fetch recent blocks from this node");
    }
    return Status::Ok();
  }

  Result<NodeConfig> Parse(const toml::table& root) const {
    NodeConfig config;
    for (auto&& [table_key, table_node] : root) {
      const std::string table(table_key.str());
      const bool known = std::any_of(kOptions.begin(), kOptions.end(),
                                     [&](const Option& o) { return o.table == table; });
      if (!known) {
        if (table_node.is_table()) {
          return Status(ErrorCode::kInvalidArgument,
                        file_name_ + ": unknown table [" + table + "]");
        }
        return Status(ErrorCode::kInvalidArgument,
                      file_name_ + ": unknown key " + table + " (every option is in a table)");
      }
      const toml::table* options = table_node.as_table();
      if (options == nullptr) {
        return Fail("[" + table + "]", "expected a table, got " + NodeTypeName(table_node));
      }
      for (auto&& [key_node, value] : *options) {
        const std::string_view key = key_node.str();
        if (table == "p2p" && key == "peers") {
          if (Status s = ReadPeers(value, config); !s.ok()) return s;
          continue;
        }
        if (table == "api" && key == "tls") {
          if (Status s = ReadTls(value, config); !s.ok()) return s;
          continue;
        }
        const Option* option = nullptr;
        for (const Option& o : kOptions) {
          if (o.table == table && o.key == key) option = &o;
        }
        if (option == nullptr) {
          return Status(ErrorCode::kInvalidArgument,
                        file_name_ + ": unknown key [" + table + "] " + std::string(key));
        }
        if (Status s = ReadOption(*option, value, config); !s.ok()) return s;
      }
    }
    if (Status s = CheckTogether(config); !s.ok()) return s;
    return config;
  }

 private:
  std::string file_name_;
};

// A TOML basic string: quotes, backslashes and control characters escaped.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", u);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string ValueText(const Option& option, const NodeConfig& config) {
  if (auto* text = std::get_if<std::string NodeConfig::*>(&option.field)) {
    return Quote(config.*(*text));
  }
  if (auto* port = std::get_if<uint16_t NodeConfig::*>(&option.field)) {
    return std::to_string(config.*(*port));
  }
  return std::to_string(config.*std::get<uint64_t NodeConfig::*>(option.field));
}

void RenderTls(const NodeConfig& config, std::string& out) {
  out +=
      "\n# TLS for the client API, for a node whose API leaves loopback: the certificate chain\n"
      "# (PEM, the server's certificate first) and its private key (PEM, mode 0600). Clients\n"
      "# then use https:// (cityctl --ca-file for a private authority). Default: plain HTTP.\n";
  if (config.api_tls_certificate_chain.empty()) {
    out +=
        "# [api.tls]\n"
        "# certificate_chain = \"/etc/cityledger/api.crt\"\n"
        "# private_key = \"/etc/cityledger/api.key\"\n";
    return;
  }
  out += "[api.tls]\ncertificate_chain = " + Quote(config.api_tls_certificate_chain) +
         "\nprivate_key = " + Quote(config.api_tls_private_key) + "\n";
}

void RenderPeers(const NodeConfig& config, std::string& out) {
  out +=
      "\n# Every other validator: its address (its public key, which the link handshake checks),\n"
      "# host and P2P port, one [[p2p.peers]] table each. An entry for this node itself is\n"
      "# ignored. Default: none.\n";
  if (config.peers.empty()) {
    out +=
        "# [[p2p.peers]]\n"
        "# key = \"city1...\"\n"
        "# host = \"127.0.0.1\"\n"
        "# port = 26656\n";
  }
  for (const PeerAddress& peer : config.peers) {
    out += "[[p2p.peers]]\nkey = " + Quote(EncodeAddress(peer.key)) +
           "\nhost = " + Quote(peer.host) + "\nport = " + std::to_string(peer.port) + "\n";
  }
}

}  // namespace

Result<NodeConfig> ParseConfigToml(std::string_view text, std::string_view file_name) {
  const Parser parser(file_name);
  if (text.size() > kMaxConfigFileBytes) {
    return Status(ErrorCode::kInvalidArgument, std::string(file_name) + ": larger than " +
                                                   std::to_string(kMaxConfigFileBytes) + " bytes");
  }
  toml::table root;
  try {
    root = toml::parse(text, std::string(file_name));
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return Status(ErrorCode::kInvalidArgument,
                  std::string(file_name) + ":" + std::to_string(at.line) + ":" +
                      std::to_string(at.column) + ": " + std::string(error.description()));
  }
  return parser.Parse(root);
}

Result<NodeConfig> LoadConfigFile(const std::filesystem::path& path) {
  Result<std::string> text = internal::ReadBoundedFile(
      path, kMaxConfigFileBytes, "config file",
      "no config file at " + path.string() + " (run `cityd init --home DIR` first)");
  if (!text.ok()) return text.status();
  return ParseConfigToml(*text, path.string());
}

std::string RenderConfigToml(const NodeConfig& config) {
  static const NodeConfig kDefaults;
  std::string out =
      "# CityLedger node configuration. Every option is listed with its default; an option\n"
      "# left out keeps its default. Unknown tables and keys are errors.\n";
  std::string_view table;
  for (const Option& option : kOptions) {
    if (option.table != table) {
      // [[p2p.peers]] must follow every [p2p] key: keys after it belong to the last peer.
      if (table == "p2p") RenderPeers(config, out);
      if (table == "api") RenderTls(config, out);
      table = option.table;
      out += "\n[" + std::string(table) + "]\n";
    } else {
      out += "\n";
    }
    out += "# " + std::string(option.help) + " Default: " + ValueText(option, kDefaults) + ".\n";
    out += std::string(option.key) + " = " + ValueText(option, config) + "\n";
  }
  return out;
}

}  // namespace city::node
