// cityctl audit: check the chain without trusting the node.
//   verify-chain: every header, its certificate and parent link, from a genesis file
//   state:        a value (or its absence) with a Merkle proof against a certified header
//   emr / provenance / ubi: a contract's records, cross-checked
//   export:       blocks, transactions and events as JSON lines or CSV
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <future>
#include <iostream>

#include "city/contracts/emr.h"
#include "city/contracts/ubi.h"
#include "city/crypto/address.h"
#include "city/crypto/bytes.h"
#include "city/crypto/private_file.h"
#include "city/ledger/codec.h"
#include "city/ledger/header_page.h"
#include "city/wallet/chain_audit.h"
#include "city/wallet/methods.h"
#include "cli.h"

namespace city::cityctl {
namespace {

using Clock = std::chrono::steady_clock;

// Pages of a contract query are read to the end, up to this many items (then it says so).
constexpr size_t kMaxAuditItems = 1'000'000;

struct AuditArgs {
  std::string genesis_file;
  std::optional<uint64_t> from;
  std::optional<uint64_t> to;
  bool blocks = false;
  std::string key;
  bool hex_key = false;
  bool prove = false;
  std::optional<uint64_t> height;
  std::string subject;  // --patient, --item, --account
  std::string format = "jsonl";
  std::string out;
};

// ---- the trusted genesis ----

struct TrustedGenesis {
  contracts::GenesisDoc doc;
  contracts::GenesisChain chain;
  std::string source;  // "file PATH" or "the node (not independent: pass --genesis)"
};

Result<TrustedGenesis> LoadGenesis(Cli& cli, const std::string& file) {
  std::string text;
  std::string source;
  if (!file.empty()) {
    Result<std::string> read = ReadSmallFile(file, contracts::kMaxGenesisFileBytes, "genesis file");
    if (!read.ok()) return read.status();
    text = std::move(*read);
    source = "file " + file;
  } else {
    Result<wallet::NodeClient*> node = cli.Node();
    if (!node.ok()) return node.status();
    Result<std::string> served = (*node)->GetText("/v1/genesis");
    if (!served.ok()) return served.status();
    text = std::move(*served);
    source = "the node (pass --genesis FILE to check against your own copy)";
  }
  Result<contracts::GenesisDoc> doc =
      contracts::ParseGenesisJson(text, file.empty() ? "the node's genesis" : file);
  if (!doc.ok()) return doc.status();
  Result<contracts::GenesisChain> chain = contracts::BuildGenesisChain(*doc);
  if (!chain.ok()) return chain.status();
  return TrustedGenesis{std::move(*doc), std::move(*chain), std::move(source)};
}

Result<Bytes> HexField(const Json& item, const char* field, uint64_t height) {
  if (!item.contains(field) || !item[field].is_string()) {
    return Status(ErrorCode::kMalformed,
                  "height " + std::to_string(height) + ": the node sent no " + field);
  }
  Result<Bytes> bytes = FromHex(item[field].get<std::string>());
  if (!bytes.ok()) {
    return Status(ErrorCode::kMalformed,
                  "height " + std::to_string(height) + ": " + field + " is not hex");
  }
  return bytes;
}

// A certified header as the node sent it ({"height","encoded_header","encoded_certificate"}).
Result<wallet::CertifiedHeaderBytes> CertifiedFromJson(const Json& item) {
  wallet::CertifiedHeaderBytes out;
  out.height = item.value("height", uint64_t{0});
  Result<Bytes> header = HexField(item, "encoded_header", out.height);
  if (!header.ok()) return header.status();
  out.header = std::move(*header);
  if (out.height != 0) {
    Result<Bytes> cert = HexField(item, "encoded_certificate", out.height);
    if (!cert.ok()) return cert.status();
    out.certificate = std::move(*cert);
  }
  return out;
}

// A member of a node's JSON answer, or null when it is absent or `json` is not an object
// (operator[] on a const json with a missing key is undefined behaviour).
const Json& Field(const Json& json, const char* key) {
  static const Json kNull;
  if (!json.is_object()) return kNull;
  const auto found = json.find(key);
  return found == json.end() ? kNull : *found;
}

double PerSecond(uint64_t count, double seconds) { return seconds > 0 ? count / seconds : 0; }

// Brings `auditor` to the epoch of the header at `height` without the headers before it: the
// node names each epoch's last height (governance's records), and the auditor checks that
// header with the set it knows before taking the set it names. A node that hides a change
// only gets the audit refused (the header's epoch does not match).
Result<Json> ContractQuery(Cli& cli, const std::string& contract, const std::string& query,
                           const Json& params);

Status FollowEpochsTo(Cli& cli, wallet::NodeClient& node, wallet::ChainAuditor& auditor,
                      uint64_t height) {
  for (uint64_t epoch = auditor.epoch() + 1;; ++epoch) {
    Result<Json> change = ContractQuery(cli, "governance", "validators", {{"epoch", epoch}});
    if (!change.ok()) {
      if (change.status().code() == ErrorCode::kNotFound) return Status::Ok();
      return change.status();
    }
    const uint64_t last = change->value("last_height_before", uint64_t{0});
    if (last >= height || last == 0) return Status::Ok();
    Result<Json> page =
        node.Get("/v1/headers?from=" + std::to_string(last) + "&to=" + std::to_string(last));
    if (!page.ok()) return page.status();
    const Json headers = page->value("headers", Json::array());
    if (headers.empty()) {
      return Status(ErrorCode::kMalformed, "the node sent no header for height " +
                                               std::to_string(last) + ", the last of epoch " +
                                               std::to_string(epoch - 1));
    }
    Result<wallet::CertifiedHeaderBytes> certified = CertifiedFromJson(headers.front());
    if (!certified.ok()) return certified.status();
    if (Status s = auditor.FollowEpochChange(*certified); !s.ok()) return s;
  }
}

// ---- verify-chain ----

// One header of a page of GET /v1/headers, with its block decoded and hashed when bodies are
// audited (and the node sent one).
struct AuditPageItem {
  Result<wallet::CertifiedHeaderBytes> certified;
  bool redacted = false;
  Result<wallet::PreparedBlock> block = Status(ErrorCode::kNotFound, "no block was asked");
};

// The page of headers from `first` to at most `to`: the costly reading of a page, done on
// the fetching thread while the previous page is checked. The page comes in its binary form
// (ledger/header_page.h): megabytes of blocks as JSON and hex cost the node and this client
// about a sixth of an audit's time.
Result<std::vector<AuditPageItem>> FetchAuditPage(wallet::NodeClient& node, uint64_t first,
                                                  uint64_t to, bool blocks) {
  Result<std::string> body =
      node.GetText("/v1/headers?format=binary&from=" + std::to_string(first) +
                   "&to=" + std::to_string(to) + (blocks ? "&bodies=true" : ""));
  if (!body.ok()) return body.status();
  Result<ledger::HeaderPage> page = ledger::Decode<ledger::HeaderPage>(
      ByteSpan(reinterpret_cast<const uint8_t*>(body->data()), body->size()));
  if (!page.ok()) {
    return Status(page.status().code(), "the node's page of headers from height " +
                                            std::to_string(first) +
                                            " does not decode: " + page.status().message());
  }
  std::vector<AuditPageItem> items;
  items.reserve(page->items.size());
  for (ledger::HeaderPageItem& item : page->items) {
    wallet::CertifiedHeaderBytes certified{item.height, std::move(item.header), std::nullopt};
    if (item.height != 0) certified.certificate = std::move(item.certificate);
    AuditPageItem& out = items.emplace_back(AuditPageItem{std::move(certified)});
    if (!blocks || item.height == 0) continue;
    out.redacted = item.body == ledger::HeaderPageItem::Body::kRedacted;
    if (item.body == ledger::HeaderPageItem::Body::kBlock) {
      out.block = wallet::PrepareBlock(item.height, item.block);
    } else if (!out.redacted) {
      out.block = Status(ErrorCode::kMalformed,
                         "the node sent no block at height " + std::to_string(item.height));
    }
  }
  return items;
}

CommandResult VerifyChain(Cli& cli, const AuditArgs& args) {
  Result<TrustedGenesis> genesis = LoadGenesis(cli, args.genesis_file);
  if (!genesis.ok()) return genesis.status();
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  Result<Json> status = (*node)->Get("/v1/status");
  if (!status.ok()) return status.status();
  const uint64_t tip = status->value("height", uint64_t{0});
  // A node that prunes ([storage] retain_blocks) holds blocks from its lowest height on, and
  // before it only each epoch's last header: the audit checks what it holds, ties it to the
  // genesis through those headers, and says which heights it could not check.
  uint64_t lowest = status->value("lowest_height", uint64_t{0});
  const uint64_t requested_from = args.from.value_or(0);
  uint64_t from = std::max(requested_from, lowest);
  if (args.to && *args.to < lowest) {
    cli.SetErrorDetails({{"lowest_height", lowest}});
    return Status(ErrorCode::kPruned, "--to " + std::to_string(*args.to) +
                                          " is below the lowest height this node holds (" +
                                          std::to_string(lowest) +
                                          "): ask a node that keeps every block");
  }
  if (args.to && *args.to > tip) {
    return Status(ErrorCode::kNotFound, "--to " + std::to_string(*args.to) +
                                            " is above the node's tip " + std::to_string(tip));
  }
  const uint64_t to = args.to.value_or(tip);
  if (from > to) {
    return Status(
        ErrorCode::kInvalidArgument,
        "--from " + std::to_string(from) + " is above the last height " + std::to_string(to));
  }
  wallet::ChainAuditor auditor(genesis->chain);
  const Clock::time_point start = Clock::now();
  // A pruning node's lowest height rises with each block it commits: a first page asked for
  // just below it is refused (410 pruned), and the audit starts at the new lowest instead.
  Result<std::vector<AuditPageItem>> first_page = Status(ErrorCode::kPruned, "not fetched");
  for (int attempt = 0;; ++attempt) {
    if (from > 0) {
      if (Status s = FollowEpochsTo(cli, **node, auditor, from); !s.ok()) return s;
    }
    first_page = FetchAuditPage(**node, from, to, args.blocks);
    if (first_page.ok() || first_page.status().code() != ErrorCode::kPruned || attempt == 3) {
      break;
    }
    Result<Json> now = (*node)->Get("/v1/status");
    if (!now.ok()) return now.status();
    lowest = std::max(lowest, now->value("lowest_height", uint64_t{0}));
    if (lowest > to) {
      cli.SetErrorDetails({{"lowest_height", lowest}});
      return Status(ErrorCode::kPruned, "the node pruned past height " + std::to_string(to) +
                                            " while the audit began: ask a node that keeps "
                                            "every block");
    }
    from = std::max(from, lowest);
  }
  // The next page is fetched, read and its blocks decoded and hashed while this one is
  // checked (the client is used by one thread at a time: the fetch, or the checks, which need
  // nothing from the node).
  auto fetch = [node = *node, to, blocks = args.blocks](uint64_t first) {
    return FetchAuditPage(*node, first, to, blocks);
  };
  uint64_t next = from;
  std::future<Result<std::vector<AuditPageItem>>> pending = std::async(
      std::launch::deferred, [page = std::move(first_page)]() mutable { return std::move(page); });
  while (next <= to) {
    Result<std::vector<AuditPageItem>> page = pending.get();
    if (!page.ok()) return page.status();
    if (page->empty()) {
      return Status(ErrorCode::kMalformed,
                    "the node sent no header for height " + std::to_string(next));
    }
    if (next + page->size() <= to) {
      pending = std::async(std::launch::async, fetch, next + page->size());
    }
    for (const AuditPageItem& item : *page) {
      if (!item.certified.ok()) return item.certified.status();
      if (item.certified->height != next) {
        return Status(ErrorCode::kMalformed, "the node sent height " +
                                                 std::to_string(item.certified->height) +
                                                 " where " + std::to_string(next) + " was due");
      }
      const Status checked = auditor.AddHeader(*item.certified);
      if (checked.ok() && args.blocks && next > 0) {
        if (item.redacted) {
          cli.SetErrorDetails(
              {{"height", next},
               {"verified_through", next == from ? Json(nullptr) : Json(next - 1)}});
          return Status(ErrorCode::kPermissionDenied,
                        "the node redacted block " + std::to_string(next) +
                            " (private transactions) for this reader: checking block bodies "
                            "needs an auditor's key (--as KEY)");
        }
        Status block_checked = item.block.status();
        if (block_checked.ok()) block_checked = auditor.CheckBlock(*item.block);
        if (!block_checked.ok()) {
          cli.SetErrorDetails({{"height", next}, {"verified_through", next - 1}});
          return Status(block_checked.code(), "chain check failed: " + block_checked.message());
        }
      }
      if (!checked.ok()) {
        cli.SetErrorDetails({{"height", next},
                             {"verified_through", next == from ? Json(nullptr) : Json(next - 1)}});
        return Status(checked.code(), "chain check failed: " + checked.message());
      }
      ++next;
      if (next > to) break;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const wallet::AuditStats& stats = auditor.stats();
  Output out;
  out.json = {{"ok", true},
              {"from", from},
              {"to", to},
              {"headers", stats.headers},
              {"blocks", stats.blocks},
              {"signatures", stats.signatures},
              {"proven_committed", stats.proven_committed},
              {"seconds", seconds},
              {"blocks_per_second", PerSecond(stats.headers, seconds)},
              {"signatures_per_second", PerSecond(stats.signatures, seconds)},
              {"genesis_hash", genesis->chain.block_hash.ToHex()},
              {"genesis_source", genesis->source}};
  char rates[160];
  std::snprintf(rates, sizeof(rates), "%.0f blocks/s, %.0f signatures/s (%.2f s)",
                PerSecond(stats.headers, seconds), PerSecond(stats.signatures, seconds), seconds);
  out.text = "chain verified: heights " + std::to_string(from) + ".." + std::to_string(to) + ", " +
             std::to_string(stats.headers) + " certified headers" +
             (args.blocks ? ", " + std::to_string(stats.blocks) + " block bodies" : "") + ", " +
             std::to_string(stats.signatures) + " signatures\n" +
             "committed (two-chain rule) through height " + std::to_string(stats.proven_committed) +
             "; a certificate alone does not prove the newest block committed\n" + rates +
             "\ngenesis " + genesis->chain.block_hash.ToHex() + " from " + genesis->source;
  out.json["tied_to_genesis"] = from == 0;
  out.json["lowest_height"] = lowest;
  if (from > requested_from) {
    out.json["requested_from"] = requested_from;
    out.text += "\nthe node prunes: it holds blocks from height " + std::to_string(lowest) +
                " on, so heights " + std::to_string(requested_from) + ".." +
                std::to_string(lowest - 1) +
                " were not checked; the validator sets were followed from the genesis through "
                "each epoch's last header";
  } else if (from > 0) {
    out.text += "\nheights below " + std::to_string(from) +
                " were not checked: from a middle height the chain is tied to the genesis only "
                "by its validators' keys";
  }
  return out;
}

// ---- state ----

CommandResult AuditState(Cli& cli, const AuditArgs& args) {
  Bytes key;
  if (args.hex_key) {
    Result<Bytes> bytes = FromHex(args.key);
    if (!bytes.ok()) return Status(ErrorCode::kInvalidArgument, "--hex: the key is not hex");
    key = std::move(*bytes);
  } else {
    key.assign(args.key.begin(), args.key.end());
  }
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  if (!args.prove) {
    return Status(ErrorCode::kInvalidArgument,
                  "audit state checks a Merkle proof: add --prove (cityctl query state reads "
                  "a value without one)");
  }
  Result<TrustedGenesis> genesis = LoadGenesis(cli, args.genesis_file);
  if (!genesis.ok()) return genesis.status();
  std::string target = "/v1/state?prove=true&key=" + ToHex(key);
  if (args.height) target += "&height=" + std::to_string(*args.height);
  Result<Json> answer = (*node)->Get(target);
  if (!answer.ok()) return answer.status();
  const Json proof_json = answer->value("proof", Json::object());
  Result<wallet::CertifiedHeaderBytes> certified =
      CertifiedFromJson(answer->value("certified", Json::object()));
  if (!certified.ok()) return certified.status();
  if (args.height && certified->height != *args.height) {
    return Status(ErrorCode::kUnauthenticated,
                  "asked for a proof against block " + std::to_string(*args.height) +
                      ", the node proved against block " + std::to_string(certified->height));
  }
  wallet::ChainAuditor auditor(genesis->chain);
  if (Status s = FollowEpochsTo(cli, **node, auditor, certified->height); !s.ok()) return s;
  if (Status s = auditor.AddHeader(*certified); !s.ok()) return s;
  std::optional<Bytes> value;
  if (proof_json.contains("value") && proof_json["value"].is_string()) {
    Result<Bytes> bytes = FromHex(proof_json["value"].get<std::string>());
    if (!bytes.ok()) return Status(ErrorCode::kMalformed, "the node's value is not hex");
    value = std::move(*bytes);
  }
  Result<Bytes> proof_bytes = HexField(proof_json, "proof", certified->height);
  if (!proof_bytes.ok()) return proof_bytes.status();
  Result<ledger::StateProof> proof =
      ledger::Decode<ledger::StateProof>(*proof_bytes, ledger::StateProof::kMaxEncodedSize);
  if (!proof.ok()) return Status(ErrorCode::kMalformed, "the proof does not decode");
  std::optional<ByteSpan> value_span;
  if (value) value_span = ByteSpan(*value);
  if (Status s = auditor.CheckState(certified->height, key, value_span, *proof); !s.ok()) {
    return Status(s.code(), "the node's answer does not verify: " + s.message());
  }
  const ledger::BlockHeader* header = auditor.HeaderAt(certified->height);
  Output out;
  out.json = {{"verified", true},
              {"key", args.key},
              {"key_hex", ToHex(key)},
              {"present", value.has_value()},
              {"value_hex", value ? Json(ToHex(*value)) : Json(nullptr)},
              {"height", certified->height},
              {"state_version", header->exec_height},
              {"state_root", header->state_root.ToHex()},
              {"signatures", auditor.stats().signatures},
              {"genesis_source", genesis->source}};
  if (value && value->size() == 8) {
    uint64_t number = 0;
    for (size_t i = 0; i < 8; ++i) number |= uint64_t((*value)[i]) << (8 * i);
    out.json["value_u64"] = number;
  }
  out.text =
      std::string(value ? "present" : "absent") + ": " + args.key +
      (value ? " = " + ToHex(*value) +
                   (out.json.contains("value_u64")
                        ? " (u64 " + std::to_string(out.json["value_u64"].get<uint64_t>()) + ")"
                        : "")
             : "") +
      "\nverified against the state root of certified block " + std::to_string(certified->height) +
      " (state after height " + std::to_string(header->exec_height) + "), " +
      std::to_string(auditor.stats().signatures) +
      " certificate signatures checked\ngenesis from " + genesis->source +
      (args.height ? "" : "\nthe block is the one the node chose; --height H asks for a given one");
  return out;
}

// ---- contract audits ----

// Every page of a contract query's list `field`.
Result<Json> AllPages(Cli& cli, const std::string& contract, const std::string& query, Json params,
                      const char* field) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  Json items = Json::array();
  Json last;
  params["limit"] = 1000;
  while (true) {
    Result<Json> answer = (*node)->Post("/v1/query/" + contract + "/" + query, params);
    if (!answer.ok()) return answer.status();
    last = (*answer)["result"];
    const Json page = last.value(field, Json::array());
    for (const Json& item : page) items.push_back(item);
    if (!last.contains("next_cursor") || last["next_cursor"].is_null()) break;
    // A page that says "more" must bring some, or a lying node would keep the audit forever.
    if (page.empty() || last["next_cursor"] == params.value("cursor", Json())) {
      return Status(ErrorCode::kMalformed,
                    std::string("the node's pages of ") + field + " do not advance");
    }
    if (items.size() >= kMaxAuditItems) {
      return Status(ErrorCode::kTooLarge, "more than " + std::to_string(kMaxAuditItems) + " " +
                                              field + ": narrow the audit");
    }
    params["cursor"] = last["next_cursor"];
  }
  last[field] = std::move(items);
  last.erase("next_cursor");
  return last;
}

Result<Json> ContractQuery(Cli& cli, const std::string& contract, const std::string& query,
                           const Json& params) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  Result<Json> answer = (*node)->Post("/v1/query/" + contract + "/" + query, params);
  if (!answer.ok()) return answer.status();
  return (*answer)["result"];
}

// Why an access under a consent was not allowed by it ("" when it was).
// Whether `consent` was in force at `time` and covers the access's record type and purpose
// ("" when it does; otherwise why not).
std::string CoverageProblem(const Json& access, const Json& consent) {
  const uint64_t time = access.value("time_ms", uint64_t{0});
  if (time < consent.value("start_ms", uint64_t{0})) return "before the consent's start";
  if (time >= consent.value("end_ms", uint64_t{0})) return "after the consent ended";
  if (consent.value("revoked", false)) {
    const Json& revoked_ms = Field(consent, "revoked_ms");
    if (!revoked_ms.is_number_unsigned()) return "the consent was revoked (when is not known)";
    if (time >= revoked_ms.get<uint64_t>()) return "after the consent was revoked";
  }
  const Json types = consent.value("record_types", Json::array());
  if (std::find(types.begin(), types.end(), access.value("record_type", "")) == types.end()) {
    return "record type " + access.value("record_type", "") + " not covered";
  }
  if (consent.value("purpose", "") != access.value("purpose", "")) return "purpose not covered";
  return "";
}

// Why an access under a consent was not allowed by it, the contract's rules replayed ("" when
// it was): the consent is the patient's permit for the accessor, in force and covering the
// access, and no deny consent of the patient to the accessor in force covered it.
std::string ConsentProblem(const Json& access, const Json& consent, const Json& all_consents) {
  if (consent.value("patient", "") != access.value("patient", ""))
    return "another patient's consent";
  if (consent.value("grantee", "") != access.value("accessor", ""))
    return "consent given to someone else";
  if (!consent.value("permit", false)) return "a deny consent";
  if (std::string problem = CoverageProblem(access, consent); !problem.empty()) return problem;
  for (const Json& deny : all_consents) {
    if (deny.value("permit", true) || deny.value("grantee", "") != access.value("accessor", "")) {
      continue;
    }
    if (CoverageProblem(access, deny).empty()) {
      return "deny consent " + std::to_string(deny.value("id", uint64_t{0})) + " refused it";
    }
  }
  return "";
}

// A break-glass justification as the reader may see it: opened when it is sealed to the
// reader's key (the patient's or the auditor's copy), else "(sealed)". The opened text is
// also put in `access` ("justification_text") for --output json.
std::string OpenedJustification(Cli& cli, Json& access) {
  Result<contracts::SealedText> sealed =
      contracts::SealedTextFromJson(Field(access, "justification"));
  if (!sealed.ok()) return "(no justification)";
  if (cli.reader() == nullptr) return "(sealed; --as the patient or the auditor opens it)";
  Result<std::string> text = contracts::OpenSealedText(*sealed, *cli.reader());
  if (!text.ok()) return "(sealed to others)";
  access["justification_text"] = *text;
  return *text;
}

CommandResult AuditEmr(Cli& cli, const AuditArgs& args) {
  Result<PublicKey> patient = cli.ResolveAccount(args.subject);
  if (!patient.ok()) return patient.status();
  const std::string address = EncodeAddress(*patient);
  Result<Json> list = AllPages(cli, "emr", "accesses", {{"patient", address}}, "accesses");
  if (!list.ok()) return list.status();
  Result<Json> all_consents = AllPages(cli, "emr", "consents", {{"patient", address}}, "consents");
  if (!all_consents.ok()) return all_consents.status();
  Json rows = Json::array();
  uint64_t consented = 0, emergency = 0, unreviewed = 0, problems = 0;
  std::map<uint64_t, Json> consents;
  std::string text;
  for (Json access : (*list)["accesses"]) {
    std::string basis;
    if (access.value("flagged", false)) {
      ++emergency;
      const Json& review = Field(access, "review");
      const bool reviewed = review.is_object();
      const bool unjustified = reviewed && !review.value("justified", false);
      if (!reviewed) ++unreviewed;
      basis = "EMERGENCY (break-glass, flag " +
              std::to_string(access.value("flag_id", uint64_t{0})) +
              (!reviewed     ? ", NOT REVIEWED)"
               : unjustified ? ", reviewed: UNJUSTIFIED)"
                             : ", reviewed: justified)") +
              ": " + OpenedJustification(cli, access);
      access["basis"] = "emergency";
      if (unjustified) {
        ++problems;
        access["problem"] = "an auditor found the emergency access unjustified";
      }
    } else if (access["consent_id"].is_number()) {
      ++consented;
      const uint64_t id = access["consent_id"].get<uint64_t>();
      if (!consents.count(id)) {
        Result<Json> consent = ContractQuery(cli, "emr", "consent", {{"id", id}});
        if (!consent.ok()) return consent.status();
        consents[id] = *consent;
      }
      const std::string problem = ConsentProblem(access, consents[id], (*all_consents)["consents"]);
      access["basis"] = "consent";
      access["consent"] = consents[id];
      access["consistent"] = problem.empty();
      if (!problem.empty()) {
        ++problems;
        access["problem"] = problem;
      }
      basis = "consent " + std::to_string(id) + (problem.empty() ? "" : " PROBLEM: " + problem);
    } else {
      ++problems;
      access["basis"] = "none";
      access["problem"] = "neither a consent nor an emergency flag";
      basis = "NO BASIS";
    }
    text += "height " + std::to_string(access.value("height", uint64_t{0})) + "  " +
            access.value("accessor", "") + "  " + access.value("record_id", "") + " (" +
            access.value("record_type", "") + ", " + access.value("purpose", "") + ")  " + basis +
            "\n";
    rows.push_back(std::move(access));
  }
  const uint64_t total = (*list).value("total", uint64_t{0});
  if (total != rows.size()) {
    ++problems;
    text += "the node counts " + std::to_string(total) + " accesses but lists " +
            std::to_string(rows.size()) + "\n";
  }
  Output out;
  out.json = {{"patient", address},     {"accesses", rows},       {"total", rows.size()},
              {"consented", consented}, {"emergency", emergency}, {"unreviewed", unreviewed},
              {"problems", problems}};
  out.text = text + std::to_string(rows.size()) + " accesses to " + address +
             "'s records: " + std::to_string(consented) + " under consent, " +
             std::to_string(emergency) + " emergency (" + std::to_string(unreviewed) +
             " not reviewed), " + std::to_string(problems) + " problems";
  if (problems > 0) {
    cli.SetErrorDetails(out.json);
    return Status(
        ErrorCode::kCorruption,
        std::to_string(problems) +
            " accesses with a problem: no valid basis, or found unjustified (see the list)");
  }
  return out;
}

CommandResult AuditProvenance(Cli& cli, const AuditArgs& args) {
  Result<Json> item = ContractQuery(cli, "logistics", "item", {{"epc", args.subject}});
  if (!item.ok()) return item.status();
  Result<Json> history =
      AllPages(cli, "logistics", "provenance", {{"epc", args.subject}}, "events");
  if (!history.ok()) return history.status();
  Json custody = Json::array();
  std::string holder;
  std::vector<std::string> problems;
  std::string text;
  uint64_t last_height = 0;
  for (const Json& event : (*history)["events"]) {
    const std::string kind = event.value("kind", "");
    const uint64_t height = event.value("height", uint64_t{0});
    if (height < last_height)
      problems.push_back("events out of order at height " + std::to_string(height));
    last_height = height;
    if (holder.empty()) {
      holder = event.value("actor", "");
      custody.push_back({{"holder", holder}, {"since_height", height}, {"how", "registered"}});
    }
    if (kind == "custody_accept") {
      const Json from = event.value("counterparty", Json(nullptr));
      if (from.is_string() && from.get<std::string>() != holder) {
        problems.push_back("height " + std::to_string(height) + ": custody accepted from " +
                           from.get<std::string>() + ", but the holder was " + holder);
      }
      holder = event.value("actor", "");
      custody.push_back({{"holder", holder}, {"since_height", height}, {"how", "accepted"}});
    }
    text += "height " + std::to_string(height) + "  " + kind +
            (Field(event, "action").is_string() ? " " + Field(event, "action").get<std::string>()
                                                : "") +
            " by " + event.value("actor", "") +
            (Field(event, "biz_step").is_string()
                 ? "  step " + Field(event, "biz_step").get<std::string>()
                 : "") +
            (Field(event, "read_point").is_string()
                 ? "  at " + Field(event, "read_point").get<std::string>()
                 : "") +
            "\n";
  }
  // The holder the chain of custody ends with is the item's holder, unless it sits in a
  // container (whose holder holds it).
  if (item->value("container", Json(nullptr)).is_null() && !holder.empty() &&
      item->value("holder", "") != holder) {
    problems.push_back("the custody chain ends with " + holder + " but the item's holder is " +
                       item->value("holder", ""));
  }
  text += "custody:";
  for (const Json& link : custody)
    text += "\n  " + link.value("holder", "") + " since height " +
            std::to_string(link.value("since_height", uint64_t{0})) + " (" + link.value("how", "") +
            ")";
  Output out;
  out.json = {{"item", *item},
              {"events", (*history)["events"]},
              {"custody", custody},
              {"problems", problems}};
  out.text = text;
  if (!problems.empty()) {
    cli.SetErrorDetails(out.json);
    return Status(ErrorCode::kCorruption,
                  "provenance of " + args.subject + " is inconsistent: " + problems.front());
  }
  return out;
}

// ---- ubi ----

// Sums of u64 amounts, signed: a replay of a lying node's events must not overflow.
using Amount = __int128;

std::string AmountText(Amount value) {
  if (value < 0) return "-" + AmountText(-value);
  std::string digits;
  do {
    digits.push_back(char('0' + int(value % 10)));
    value /= 10;
  } while (value > 0);
  return std::string(digits.rbegin(), digits.rend());
}

// A JSON number when it fits, else its decimal text.
Json AmountJson(Amount value) {
  if (value >= 0 && value <= Amount(UINT64_MAX)) return uint64_t(value);
  if (value < 0 && value >= Amount(INT64_MIN)) return int64_t(value);
  return AmountText(value);
}

struct UbiLedger {
  std::map<std::string, Amount> balances;  // recomputed from events (and genesis)
  Amount issued = 0;
  Amount burned = 0;
  uint64_t claims = 0;
  uint64_t transfers = 0;
  uint64_t through_height = 0;
  Json account_events = Json::array();  // of the audited account
};

// Applies one ubi event; `touched` is the account it concerns, if it is `account`.
Status ApplyUbiEvent(UbiLedger& ledger, const Json& event, const std::string& account) {
  const std::string name = event.value("name", "");
  Result<Bytes> data = FromHex(event.value("data", ""));
  if (!data.ok()) return Status(ErrorCode::kMalformed, "an event's data is not hex");
  std::vector<std::string> concerned;
  if (name == "claimed") {
    Result<contracts::UbiClaimRecord> claim =
        ledger::Decode<contracts::UbiClaimRecord>(*data, ledger::kMaxEventBytes);
    if (!claim.ok()) return Status(ErrorCode::kMalformed, "a claimed event does not decode");
    concerned.push_back(EncodeAddress(claim->account));
    ledger.balances[concerned.back()] += claim->amount;
    ledger.issued += claim->amount;
    ++ledger.claims;
  } else if (name == "registered" || name == "suspended" || name == "resumed") {
    // Their data begins with the citizen's account (UbiRegisterArgs, UbiCitizenArgs).
    Result<PublicKey> citizen =
        PublicKey::FromSpan(ByteSpan(*data).first(std::min(data->size(), PublicKey::kSize)));
    if (!citizen.ok()) return Status(ErrorCode::kMalformed, "a " + name + " event is too short");
    concerned.push_back(EncodeAddress(*citizen));
  } else if (name == "transferred" || name == "burned") {
    Result<contracts::UbiTransferRecord> move =
        ledger::Decode<contracts::UbiTransferRecord>(*data, ledger::kMaxEventBytes);
    if (!move.ok()) return Status(ErrorCode::kMalformed, "a " + name + " event does not decode");
    concerned.push_back(EncodeAddress(move->from));
    ledger.balances[concerned.back()] -= move->amount;
    if (name == "burned") {
      ledger.burned += move->amount;
    } else {
      concerned.push_back(EncodeAddress(move->to));
      ledger.balances[concerned.back()] += move->amount;
      ++ledger.transfers;
    }
  }
  if (!account.empty() &&
      std::find(concerned.begin(), concerned.end(), account) != concerned.end()) {
    Json row = event;
    row.erase("data");
    ledger.account_events.push_back(std::move(row));
  }
  return Status::Ok();
}

// Replays every ubi event of blocks 1..`through`, from the genesis balances on.
Result<UbiLedger> ReplayUbi(Cli& cli,
                            const std::vector<std::pair<PublicKey, uint64_t>>& genesis_balances,
                            const std::string& account, uint64_t through) {
  UbiLedger ledger;
  for (const auto& [key, amount] : genesis_balances) {
    ledger.balances[EncodeAddress(key)] += amount;
    ledger.issued += amount;
  }
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  uint64_t after = 0;
  while (after < through) {
    Result<Json> page =
        (*node)->Get("/v1/subscribe/events?contract=ubi&wait_ms=0&after=" + std::to_string(after));
    if (!page.ok()) return page.status();
    for (const Json& event : page->value("events", Json::array())) {
      const uint64_t height = event.value("height", uint64_t{0});
      if (height <= after) {
        return Status(ErrorCode::kMalformed, "the node sent an event of height " +
                                                 std::to_string(height) + " after height " +
                                                 std::to_string(after));
      }
      if (height > through) continue;
      if (Status s = ApplyUbiEvent(ledger, event, account); !s.ok()) return s;
    }
    const uint64_t next = page->value("next_after", after);
    if (next <= after) {
      return Status(ErrorCode::kMalformed, "the node's event feed stopped at height " +
                                               std::to_string(after) + ", below " +
                                               std::to_string(through));
    }
    after = next;
  }
  ledger.through_height = through;
  return ledger;
}

// A contract query's whole answer: {"height", "result"}.
Result<Json> ContractAnswer(Cli& cli, const std::string& contract, const std::string& query,
                            const Json& params) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  return (*node)->Post("/v1/query/" + contract + "/" + query, params);
}

CommandResult AuditUbi(Cli& cli, const AuditArgs& args, bool supply) {
  Result<TrustedGenesis> genesis = LoadGenesis(cli, args.genesis_file);
  if (!genesis.ok()) return genesis.status();
  std::string account;
  if (!supply) {
    Result<PublicKey> key = cli.ResolveAccount(args.subject);
    if (!key.ok()) return key.status();
    account = EncodeAddress(*key);
  }
  // The node's figures first, then the events through the height they were read at: on a live
  // chain both then describe the same state.
  Result<Json> answer = supply ? ContractAnswer(cli, "ubi", "supply", Json::object())
                               : ContractAnswer(cli, "ubi", "balance", {{"account", account}});
  if (!answer.ok()) return answer.status();
  const uint64_t height = answer->value("height", uint64_t{0});
  const Json node_says = answer->value("result", Json::object());
  // The genesis balances: from the genesis document given (--genesis), not the node.
  Result<UbiLedger> replay = ReplayUbi(cli, genesis->doc.balances, account, height);
  if (!replay.ok()) return replay.status();
  std::vector<std::string> problems;
  Output out;
  if (supply) {
    Amount sum = 0;
    size_t negative = 0;
    for (const auto& [address, balance] : replay->balances) {
      sum += balance;
      if (balance < 0) ++negative;
    }
    const Amount recomputed = replay->issued - replay->burned;
    if (sum != recomputed) problems.push_back("the balances do not add up to issued - burned");
    if (negative > 0) {
      problems.push_back(std::to_string(negative) + " accounts would hold a negative balance");
    }
    if (Amount(node_says.value("issued", uint64_t{0})) != replay->issued) {
      problems.push_back("the node's issued differs from the ledger's events");
    }
    if (Amount(node_says.value("burned", uint64_t{0})) != replay->burned) {
      problems.push_back("the node's burned differs from the ledger's events");
    }
    out.json = {{"through_height", height},
                {"recomputed",
                 {{"issued", AmountJson(replay->issued)},
                  {"burned", AmountJson(replay->burned)},
                  {"supply", AmountJson(recomputed)},
                  {"sum_of_balances", AmountJson(sum)},
                  {"accounts", replay->balances.size()},
                  {"claims", replay->claims},
                  {"transfers", replay->transfers}}},
                {"node", node_says},
                {"invariant_holds", problems.empty()},
                {"genesis_source", genesis->source},
                {"problems", problems}};
    out.text = "through height " + std::to_string(height) + ": issued " +
               AmountText(replay->issued) + ", burned " + AmountText(replay->burned) + ", supply " +
               AmountText(recomputed) + " = sum of " + std::to_string(replay->balances.size()) +
               " balances " + AmountText(sum) + " (" + std::to_string(replay->claims) +
               " claims, " + std::to_string(replay->transfers) + " transfers)\nnode says: issued " +
               std::to_string(node_says.value("issued", uint64_t{0})) + ", burned " +
               std::to_string(node_says.value("burned", uint64_t{0})) + "\n" +
               (problems.empty() ? "the supply invariant holds" : "PROBLEM: " + problems.front());
  } else {
    Result<Json> claims = AllPages(cli, "ubi", "claims", {{"account", account}}, "claims");
    if (!claims.ok()) return claims.status();
    const auto found = replay->balances.find(account);
    const Amount recomputed = found == replay->balances.end() ? 0 : found->second;
    const uint64_t node_balance = node_says.value("balance", uint64_t{0});
    if (recomputed != Amount(node_balance)) {
      problems.push_back("the node says " + std::to_string(node_balance) +
                         " but the events add up to " + AmountText(recomputed));
    }
    const Json claim_list = claims->value("claims", Json::array());
    out.json = {{"account", account},
                {"balance", node_balance},
                {"recomputed_balance", AmountJson(recomputed)},
                {"through_height", height},
                {"claims", claim_list},
                {"events", replay->account_events},
                {"consistent", problems.empty()},
                {"genesis_source", genesis->source},
                {"problems", problems}};
    out.text = account + ": balance " + std::to_string(node_balance) + ", recomputed from " +
               std::to_string(replay->account_events.size()) + " events " + AmountText(recomputed) +
               ", " + std::to_string(claim_list.size()) + " claims\n" +
               (problems.empty() ? "consistent" : "PROBLEM: " + problems.front());
  }
  out.text += "\ngenesis balances from " + genesis->source;
  if (!problems.empty()) {
    cli.SetErrorDetails(out.json);
    return Status(ErrorCode::kCorruption, problems.front());
  }
  return out;
}

// ---- export ----

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n") == std::string::npos) return text;
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// One CSV line of the export's 12 columns.
std::string CsvRow(const std::vector<std::string>& fields) {
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(',');
    line += CsvField(fields[i]);
  }
  return line + "\n";
}

// A public key's address, from its hex ("" when it is not one).
std::string AddressOfHex(const std::string& hex) {
  Result<PublicKey> key = PublicKey::FromHex(hex);
  return key.ok() ? EncodeAddress(*key) : "";
}

CommandResult Export(Cli& cli, const AuditArgs& args) {
  Result<wallet::NodeClient*> node = cli.Node();
  if (!node.ok()) return node.status();
  Result<Json> status = (*node)->Get("/v1/status");
  if (!status.ok()) return status.status();
  const uint64_t tip = status->value("height", uint64_t{0});
  const uint64_t from = std::max<uint64_t>(args.from.value_or(1), 1);
  const uint64_t to = std::min(args.to.value_or(tip), tip);
  std::ofstream file;
  if (!args.out.empty()) {
    // Created here and now, never through a link: an existing file is never overwritten.
    const int fd = ::open(args.out.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (fd < 0) {
      if (errno == EEXIST) {
        return Status(ErrorCode::kAlreadyExists, args.out + " already exists; not overwriting");
      }
      return IoErrorFromErrno("cannot create", args.out);
    }
    ::close(fd);
    file.open(args.out);
    if (!file) return Status(ErrorCode::kIoError, "cannot write " + args.out);
  }
  std::ostream& sink = args.out.empty() ? std::cout : file;
  const bool csv = args.format == "csv";
  if (csv)
    sink << "record,height,tx_index,tx_id,contract,method_or_event,sender,nonce,ok,code,detail,"
            "data\n";
  uint64_t blocks = 0, txs = 0, events = 0, redacted = 0;
  for (uint64_t h = from; h <= to; ++h) {
    Result<Json> answer = (*node)->Get("/v1/blocks/" + std::to_string(h));
    if (!answer.ok()) return answer.status();
    const Json& block = Field(*answer, "block");
    const Json& header = Field(block, "header");
    const Json& results = Field(*answer, "results");
    ++blocks;
    const std::string proposer = AddressOfHex(header.value("proposer", ""));
    if (csv) {
      sink << CsvRow({"block", std::to_string(h), "", "", "", "", proposer, "", "", "", "",
                      header.value("hash", "")});
    } else {
      sink << Dump(Json{{"record", "block"},
                        {"height", h},
                        {"hash", header.value("hash", "")},
                        {"proposer", proposer},
                        {"timestamp_ms", header.value("timestamp_ms", uint64_t{0})},
                        {"transactions", Field(block, "transactions").size()}})
           << "\n";
    }
    const Json& list = Field(block, "transactions");
    for (size_t i = 0; i < list.size(); ++i) {
      const Json& tx = list[i];
      const Json result =
          i < results.size() && results[i].is_object() ? results[i] : Json::object();
      ++txs;
      if (tx.value("redacted", false)) {
        // The node hid this transaction from this reader: its id is all there is to export.
        ++redacted;
        if (csv) {
          sink << CsvRow({"tx", std::to_string(h), std::to_string(i), tx.value("id", ""), "", "",
                          "", "", "", "", "redacted", ""});
        } else {
          sink << Dump(Json{{"record", "tx"},
                            {"height", h},
                            {"tx_index", i},
                            {"id", tx.value("id", "")},
                            {"redacted", true}})
               << "\n";
        }
        continue;
      }
      Result<Bytes> arg_bytes = FromHex(tx.value("args", ""));
      Json args_json = nullptr;
      if (arg_bytes.ok()) {
        Result<Json> decoded =
            wallet::DecodeArgsJson(tx.value("contract", ""), tx.value("method", ""), *arg_bytes);
        if (decoded.ok()) args_json = *decoded;
      }
      if (csv) {
        sink << CsvRow(
            {"tx", std::to_string(h), std::to_string(i), tx.value("id", ""),
             tx.value("contract", ""), tx.value("method", ""), tx.value("sender_address", ""),
             std::to_string(tx.value("nonce", uint64_t{0})),
             result.value("ok", false) ? "true" : "false", std::to_string(result.value("code", 0u)),
             result.value("detail", ""), Dump(args_json)});
      } else {
        sink << Dump(Json{{"record", "tx"},
                          {"height", h},
                          {"tx_index", i},
                          {"id", tx.value("id", "")},
                          {"contract", tx.value("contract", "")},
                          {"method", tx.value("method", "")},
                          {"sender", tx.value("sender_address", "")},
                          {"nonce", tx.value("nonce", uint64_t{0})},
                          {"args", args_json},
                          {"ok", result.value("ok", false)},
                          {"code", result.value("code", 0u)},
                          {"detail", result.value("detail", "")}})
             << "\n";
      }
      for (const Json& event : result.value("events", Json::array())) {
        ++events;
        if (csv) {
          sink << CsvRow({"event", std::to_string(h), std::to_string(i), tx.value("id", ""),
                          event.value("contract", ""), event.value("name", ""), "", "", "", "", "",
                          event.value("data", "")});
        } else {
          sink << Dump(Json{{"record", "event"},
                            {"height", h},
                            {"tx_index", i},
                            {"tx_id", tx.value("id", "")},
                            {"contract", event.value("contract", "")},
                            {"name", event.value("name", "")},
                            {"data", event.value("data", "")}})
               << "\n";
        }
      }
    }
  }
  sink.flush();
  Output out;
  out.json = {{"from", from},          {"to", to},
              {"blocks", blocks},      {"transactions", txs},
              {"events", events},      {"redacted_transactions", redacted},
              {"format", args.format}, {"file", args.out.empty() ? Json(nullptr) : Json(args.out)}};
  // Without --out the records are the output; a summary would corrupt them.
  out.printed = args.out.empty();
  out.text = "exported heights " + std::to_string(from) + ".." + std::to_string(to) + ": " +
             std::to_string(blocks) + " blocks, " + std::to_string(txs) + " transactions, " +
             std::to_string(events) + " events to " + args.out;
  if (redacted > 0) {
    out.text += "\n" + std::to_string(redacted) +
                " transactions were redacted by the node for this reader (their ids only); an "
                "auditor's key (--as KEY) exports them whole";
  }
  return out;
}

}  // namespace

void AddAuditCommands(CLI::App& app, Cli& cli) {
  auto args = std::make_shared<AuditArgs>();
  CLI::App* audit = app.add_subcommand("audit", "Check the chain without trusting the node");
  audit->require_subcommand(0, 1);
  auto add_genesis = [args](CLI::App* sub) {
    sub->add_option("--genesis", args->genesis_file,
                    "The genesis file you trust (default: the node's, which proves less)");
  };

  CLI::App* verify = audit->add_subcommand(
      "verify-chain", "Check every header's hash links and certificate from the genesis on");
  verify->add_option("--from", args->from, "First height [default: 0]");
  verify->add_option("--to", args->to, "Last height [default: the tip]");
  verify->add_flag("--blocks", args->blocks,
                   "Also fetch each block and check its transactions and their signatures");
  add_genesis(verify);
  cli.OnRun(verify, [&cli, args] { return VerifyChain(cli, *args); });

  CLI::App* state = audit->add_subcommand(
      "state", "A state value (or its absence), proved against a certified header");
  state->add_option("key", args->key, "The state key, e.g. ubi/issued (hex with --hex)")
      ->required();
  state->add_flag("--hex", args->hex_key, "The key is given as hex");
  state->add_flag("--prove", args->prove, "Check the Merkle proof (what this command is for)");
  state->add_option("--height", args->height, "The certified block [default: the tip]");
  add_genesis(state);
  cli.OnRun(state, [&cli, args] { return AuditState(cli, *args); });

  CLI::App* emr = audit->add_subcommand(
      "emr", "Every access to a patient's records and the consent or emergency flag behind it");
  emr->add_option("--patient", args->subject, "The patient's address or key name")->required();
  cli.OnRun(emr, [&cli, args] { return AuditEmr(cli, *args); });

  CLI::App* provenance = audit->add_subcommand(
      "provenance", "An item's events and chain of custody, checked link by link");
  provenance->add_option("--item", args->subject, "The item's EPC URI")->required();
  cli.OnRun(provenance, [&cli, args] { return AuditProvenance(cli, *args); });

  CLI::App* ubi = audit->add_subcommand(
      "ubi",
      "An account's issuance and transfers (--account), or the supply invariant (ubi supply)");
  ubi->add_option("--account", args->subject, "The account's address or key name");
  add_genesis(ubi);
  CLI::App* supply = ubi->add_subcommand(
      "supply", "Issued, burned and every balance recomputed from the ledger's events");
  cli.OnRun(ubi, [&cli, args]() -> CommandResult {
    if (args->subject.empty()) {
      return Status(ErrorCode::kInvalidArgument,
                    "give --account ADDR, or: cityctl audit ubi supply");
    }
    return AuditUbi(cli, *args, false);
  });
  cli.OnRun(supply, [&cli, args] { return AuditUbi(cli, *args, true); });

  CLI::App* exp = audit->add_subcommand(
      "export", "Blocks, transactions and events for outside analysis (JSON lines or CSV)");
  exp->add_option("--from", args->from, "First height [default: 1]");
  exp->add_option("--to", args->to, "Last height [default: the tip]");
  exp->add_option("--format", args->format, "jsonl or csv")
      ->check(CLI::IsMember({"jsonl", "csv"}))
      ->capture_default_str();
  exp->add_option("--out", args->out, "Write to this file (never overwriting) [default: stdout]");
  cli.OnRun(exp, [&cli, args] { return Export(cli, *args); });
}

}  // namespace city::cityctl
