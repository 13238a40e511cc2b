// Transaction builders for every contract method: what `cityctl tx <contract> <command>`
// offers. Each method lists its flags (name, type, help) once; the command line adds one
// option per flag and hands the raw text to `encode`, which checks every value and names the
// flag in its error ("--to: bad address checksum"). So the typed rules live here, testable
// without a command line, and the CLI stays a thin loop over this table.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "city/crypto/ed25519.h"
#include "city/status.h"

namespace city::wallet {

using Json = nlohmann::json;

enum class ArgType {
  kAccount,   // a city1... address (checksum checked)
  kU64,       // a decimal integer 0..2^64-1
  kText,      // free text, bounded by the contract's limit
  kHash,      // 64 hex digits (a content hash, a person id)
  kTextList,  // comma-separated, e.g. "lab,imaging" or EPC URIs
  kBool,      // "true"/"false" (a flag given without a value means true)
  kChoice,    // one of `choices`
};

struct ArgSpec {
  std::string flag;  // without dashes: "to" is --to
  ArgType type = ArgType::kText;
  std::string help;
  bool required = true;
  std::string default_value;         // shown in --help; used when the flag is absent
  std::vector<std::string> choices;  // kChoice
};

// What an encoder may use besides the flags.
struct TxContext {
  PublicKey sender;
  uint64_t now_ms = 0;      // the client's wall clock (e.g. a consent starting now)
  uint64_t tip_height = 0;  // the chain's height (e.g. a proposal's default expiry)
  // The key governance publishes for sealing text to the auditor role (governance query
  // sealing_key), if any: EMR text is sealed to it besides the patient.
  std::optional<PublicKey> auditor_sealing_key;
};

// The flags given, by name (without dashes), as typed.
using ArgValues = std::map<std::string, std::string, std::less<>>;

struct MethodSpec {
  std::string contract;  // "ubi"
  std::string command;   // the CLI name, e.g. "grant"
  std::string method;    // the contract's method, e.g. "grant_consent"
  std::string summary;   // one line for --help: what it does and who may call it
  std::string example;   // a full command line
  std::vector<ArgSpec> args;
  // The canonical argument bytes; kInvalidArgument naming the flag for a bad value, a
  // missing required flag or an unknown flag.
  std::function<Result<Bytes>(const ArgValues&, const TxContext&)> encode;
};

// Every method of every city contract, grouped by contract, in a stable order.
const std::vector<MethodSpec>& TxMethods();
// By contract and CLI command (or the contract's method name); nullptr when unknown.
const MethodSpec* FindMethod(std::string_view contract, std::string_view command);

// The arguments of a committed or signed transaction as JSON, field names as in the flags
// (accounts as city1... addresses, hashes as hex): for `tx sign` output, audits and exports.
// kNotFound for an unknown contract or method, kMalformed when the bytes do not decode.
Result<Json> DecodeArgsJson(std::string_view contract, std::string_view method, ByteSpan args);

}  // namespace city::wallet
