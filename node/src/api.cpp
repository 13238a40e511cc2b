// Client API routes (api.h). Handlers read the store directly (it serves concurrent readers)
// and never touch consensus state except through the driver's status snapshot.
#include "api.h"

#include <charconv>
#include <functional>

#include "city/contracts/executor.h"
#include "city/crypto/address.h"
#include "city/ledger/header_page.h"
#include "city/node/json_views.h"
#include "city/node/node.h"
#include "city/node/snapshots.h"
#include "keyed_hash.h"

namespace city::node {
namespace {

using net::HttpRequest;
using net::HttpResponse;
using Ctx = std::shared_ptr<const ApiContext>;

HttpResponse BadRequest(std::string_view message) {
  return HttpResponse::Error(400, "invalid_argument", message);
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

// A u64 query parameter: its value, the fallback when absent, or an error response.
std::variant<uint64_t, HttpResponse> QueryU64(const HttpRequest& request, const std::string& name,
                                              uint64_t fallback, uint64_t max = UINT64_MAX) {
  auto it = request.query.find(name);
  if (it == request.query.end()) return fallback;
  std::optional<uint64_t> value = ParseU64(it->second);
  if (!value || *value > max) {
    return BadRequest("query parameter '" + name + "' must be an integer 0.." +
                      std::to_string(max));
  }
  return *value;
}

Result<Hash256> ParseHash(std::string_view hex, std::string_view what) {
  Result<Bytes> bytes = FromHex(hex);
  if (!bytes.ok() || bytes->size() != 32) {
    return Status(ErrorCode::kInvalidArgument,
                  std::string(what) + " must be 64 hexadecimal characters");
  }
  Hash256 hash;
  std::copy(bytes->begin(), bytes->end(), hash.bytes.begin());
  return hash;
}

// A failed read as an error; one that met pruned blocks or history (410 pruned) also names
// the lowest height this node holds, for the client to ask another node or start there.
HttpResponse Failure(const Ctx& ctx, const Status& status) {
  HttpResponse response = HttpResponse::FromStatus(status);
  if (status.code() != ErrorCode::kPruned) return response;
  return HttpResponse::Json({{"error",
                              {{"code", ErrorCodeName(status.code())},
                               {"message", status.message()},
                               {"lowest_height", ctx->chain->store().lowest_height()}}}},
                            response.status);
}

Result<uint64_t> ParseHeight(const Ctx& ctx, std::string_view text) {
  const uint64_t tip = ctx->chain->tip().height;
  if (text == "latest") return tip;
  std::optional<uint64_t> height = ParseU64(text);
  if (!height) {
    return Status(ErrorCode::kInvalidArgument, "height must be a number or 'latest'");
  }
  if (*height > tip) {
    return Status(ErrorCode::kNotFound, "no committed block at height " + std::to_string(*height) +
                                            " (the tip is " + std::to_string(tip) + ")");
  }
  return *height;
}

// The header at `height` and the certificate that certifies it (none for the genesis).
struct CertifiedHeader {
  ledger::BlockHeader header;
  std::optional<ledger::QuorumCert> certificate;
};

Result<CertifiedHeader> ReadCertifiedHeader(const Ctx& ctx, uint64_t height) {
  if (height == 0) return CertifiedHeader{ctx->chain->genesis().header, std::nullopt};
  const ledger::LedgerStore& store = ctx->chain->store();
  Result<ledger::BlockHeader> header = store.GetHeader(height);
  if (!header.ok()) return header.status();
  Result<ledger::QuorumCert> cert = store.GetCertificate(height);
  if (!cert.ok()) return cert.status();
  return CertifiedHeader{std::move(*header), std::move(*cert)};
}

Json CertifiedHeaderJson(const Ctx& ctx, uint64_t height, Status& error) {
  Result<CertifiedHeader> read = ReadCertifiedHeader(ctx, height);
  if (!read.ok()) {
    error = read.status();
    return nullptr;
  }
  Json item = {{"height", height},
               {"header", HeaderJson(read->header)},
               {"encoded_header", ToHex(ledger::Encode(read->header))}};
  if (!read->certificate) {
    item["certificate"] = nullptr;
    item["genesis"] = true;
    return item;
  }
  item["certificate"] = QuorumCertJson(*read->certificate);
  item["encoded_certificate"] = ToHex(ledger::Encode(*read->certificate));
  return item;
}

// A full pool drains by the block: a client refused with 429 may try again after about one
// (the Retry-After header, and retry_after_ms in the error object).
constexpr int kRetryAfterSeconds = 1;

// The one place where admission reasons become HTTP statuses.
int HttpStatusOf(Admission reason) {
  switch (reason) {
    case Admission::kTooLarge:
      return 413;
    case Admission::kWrongChain:
    case Admission::kInvalid:
    case Admission::kExpired:
    case Admission::kExpiryTooFar:
    case Admission::kBadSignature:
      return 400;
    case Admission::kUnknownSender:
      return 403;
    case Admission::kAlreadyCommitted:
    case Admission::kNonceUsed:
    case Admission::kNonceConflict:
    case Admission::kNonceGap:
      return 409;
    case Admission::kSenderFull:
    case Admission::kClientFull:
    case Admission::kMempoolFull:
    case Admission::kOverloaded:
      return 429;
  }
  return 500;
}

bool IsBackpressure(const SubmitOutcome& outcome) {
  return !outcome.accepted && node::IsBackpressure(outcome.reason);
}

Json SubmitOutcomeJson(const SubmitOutcome& outcome) {
  Json out = {{"id", outcome.id.ToHex()}, {"accepted", outcome.accepted}};
  if (outcome.accepted) {
    out["status"] = "pending";
    if (outcome.duplicate) out["note"] = "duplicate";
  } else {
    out["status"] = "rejected";
    out["error"] = {{"code", AdmissionName(outcome.reason)}, {"message", outcome.message}};
    if (IsBackpressure(outcome)) out["error"]["retry_after_ms"] = kRetryAfterSeconds * 1000;
  }
  return out;
}

// The per-client quota's key: the client's IP under the process's hash key, never 0 (which
// means "no client").
uint64_t ClientKey(const HttpRequest& request) {
  const uint64_t key =
      internal::KeyedHash(reinterpret_cast<const uint8_t*>(request.remote_address.data()),
                          request.remote_address.size());
  return key == 0 ? 1 : key;
}

// ---- who reads ----

int HttpStatusOf(ReadRefusal refusal) {
  switch (refusal) {
    case ReadRefusal::kForbidden:
      return 403;
    case ReadRefusal::kBusy:
      return 429;
    case ReadRefusal::kUnauthenticated:
    case ReadRefusal::kMalformedSignature:
    case ReadRefusal::kBadSignature:
    case ReadRefusal::kClockSkew:
    case ReadRefusal::kReplayed:
      return 401;
  }
  return 500;
}

HttpResponse Refuse(ReadRefusal refusal, std::string_view message) {
  HttpResponse response =
      HttpResponse::Error(HttpStatusOf(refusal), ReadRefusalName(refusal), message);
  if (refusal == ReadRefusal::kBusy) response.headers["Retry-After"] = "1";
  return response;
}

// A read the policy denies: 401 for the anonymous (who may sign and try again), 403 for an
// account that signed.
HttpResponse NotForReader(const Reader& reader, std::string_view what) {
  if (!reader.account) {
    return Refuse(ReadRefusal::kUnauthenticated,
                  std::string(what) +
                      " is not public: sign the request with an account that may read it "
                      "(cityctl --as KEY; docs/node.md, \"Signed reads\")");
  }
  return Refuse(ReadRefusal::kForbidden,
                EncodeAddress(*reader.account) + " may not read " + std::string(what));
}

// ---- transactions ----

void SubmitOne(const Ctx& ctx, const HttpRequest& request, net::HttpResponder respond) {
  Result<Json> body = request.JsonBody();
  if (!body.ok()) return respond(Failure(ctx, body.status()));
  if (!body->is_object() || !body->contains("tx") || !(*body)["tx"].is_string()) {
    return respond(BadRequest("expected {\"tx\": \"<hex of the signed transaction>\"}"));
  }
  Result<ledger::Transaction> tx = ParseTransactionHex((*body)["tx"].get<std::string>());
  if (!tx.ok()) return respond(Failure(ctx, tx.status()));
  std::vector<ledger::Transaction> txs;
  txs.push_back(std::move(*tx));
  ctx->intake->Submit(
      std::move(txs), /*from_client=*/true,
      [respond](std::vector<SubmitOutcome> outcomes) {
        const SubmitOutcome& o = outcomes.front();
        if (o.accepted) return respond(HttpResponse::Json(SubmitOutcomeJson(o), 202));
        HttpResponse response =
            HttpResponse::Error(HttpStatusOf(o.reason), AdmissionName(o.reason), o.message);
        Json body = Json::parse(response.body);
        body["id"] = o.id.ToHex();
        body["status"] = "rejected";
        if (IsBackpressure(o)) {
          body["error"]["retry_after_ms"] = kRetryAfterSeconds * 1000;
          response.headers["Retry-After"] = std::to_string(kRetryAfterSeconds);
        }
        response.body = body.dump();
        respond(std::move(response));
      },
      ClientKey(request));
}

void SubmitBatch(const Ctx& ctx, const HttpRequest& request, net::HttpResponder respond) {
  Result<Json> body = request.JsonBody();
  if (!body.ok()) return respond(Failure(ctx, body.status()));
  if (!body->is_object() || !body->contains("txs") || !(*body)["txs"].is_array()) {
    return respond(BadRequest("expected {\"txs\": [\"<hex>\", ...]}"));
  }
  const Json& list = (*body)["txs"];
  if (list.empty() || list.size() > kMaxBatchTransactions) {
    return respond(
        BadRequest("a batch holds 1.." + std::to_string(kMaxBatchTransactions) + " transactions"));
  }
  std::vector<ledger::Transaction> txs;
  txs.reserve(list.size());
  for (size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_string())
      return respond(BadRequest("txs[" + std::to_string(i) + "] is not a string"));
    Result<ledger::Transaction> tx = ParseTransactionHex(list[i].get<std::string>());
    if (!tx.ok()) {
      return respond(
          HttpResponse::Error(400, ErrorCodeName(tx.status().code()),
                              "txs[" + std::to_string(i) + "]: " + tx.status().message()));
    }
    txs.push_back(std::move(*tx));
  }
  ctx->intake->Submit(
      std::move(txs), /*from_client=*/true,
      [respond](std::vector<SubmitOutcome> outcomes) {
        Json results = Json::array();
        size_t accepted = 0;
        bool backpressure = false;
        for (const SubmitOutcome& o : outcomes) {
          results.push_back(SubmitOutcomeJson(o));
          accepted += o.accepted ? 1 : 0;
          backpressure |= IsBackpressure(o);
        }
        HttpResponse response = HttpResponse::Json({{"accepted", accepted},
                                                    {"rejected", outcomes.size() - accepted},
                                                    {"results", std::move(results)}},
                                                   202);
        if (backpressure) {
          response.headers["Retry-After"] = std::to_string(kRetryAfterSeconds);
        }
        respond(std::move(response));
      },
      ClientKey(request));
}

// A transaction's body, or null (and "redacted") when the reader may not see it: the status
// and result code are anyone's who knows the id, the arguments and events are not.
void AddTransaction(const Ctx& ctx, const Reader& reader, const ledger::Transaction& tx,
                    Json& out) {
  if (ctx->read_policy->MayReadTransaction(reader, tx)) {
    out["transaction"] = TransactionJson(tx);
    return;
  }
  out["transaction"] = nullptr;
  out["redacted"] = true;
  if (out.contains("result")) {
    // The error text can name amounts and accounts ("balance 12 is below 40").
    out["result"].erase("detail");
    out["result"].erase("events");
    out["result"].erase("related_accounts");
  }
}

// The status of a transaction: committed, pending, rejected or unknown; kPruned for one
// committed in a block this node no longer holds (its id stays: the once-only rule).
Result<Json> TxStatusJson(const Ctx& ctx, const Reader& reader, const Hash256& id) {
  Result<ledger::TxRecord> record = ctx->chain->store().GetTransaction(id);
  if (record.status().code() == ErrorCode::kPruned) return record.status();
  if (record.ok()) {
    Json out = {{"id", id.ToHex()},
                {"status", "committed"},
                {"height", record->location.height},
                {"index", record->location.index},
                {"result", TxResultJson(record->result)}};
    AddTransaction(ctx, reader, record->transaction, out);
    return out;
  }
  if (std::optional<ledger::Transaction> tx = ctx->mempool->Get(id)) {
    Json out = {{"id", id.ToHex()}, {"status", "pending"}};
    AddTransaction(ctx, reader, *tx, out);
    return out;
  }
  if (std::optional<Rejection> rejection = ctx->intake->FindRejection(id)) {
    return Json{
        {"id", id.ToHex()},
        {"status", "rejected"},
        {"error", {{"code", AdmissionName(rejection->reason)}, {"message", rejection->message}}}};
  }
  return Json{{"id", id.ToHex()}, {"status", "unknown"}};
}

// A long-poll from the request's client, or its refusal: 429 when too many wait in all or
// from this one address.
void WaitOrRefuse(const Ctx& ctx, const HttpRequest& request, const net::HttpResponder& respond,
                  CommitFeed::Condition condition, std::chrono::milliseconds wait,
                  CommitFeed::Done answer) {
  switch (ctx->feed->Wait(request.remote_address, std::move(condition), wait, std::move(answer))) {
    case CommitFeed::WaitOutcome::kAccepted:
      return;
    case CommitFeed::WaitOutcome::kTooManyWaiters:
      return respond(HttpResponse::Error(429, "too_many_waiters", "too many long-polls waiting"));
    case CommitFeed::WaitOutcome::kTooManyFromClient:
      return respond(HttpResponse::Error(429, "too_many_waiters",
                                         "too many long-polls waiting from " +
                                             request.remote_address + " (at most " +
                                             std::to_string(ctx->feed->max_per_client()) + ")"));
  }
}

void GetTx(const Ctx& ctx, const Reader& reader, const HttpRequest& request,
           net::HttpResponder respond) {
  Result<Hash256> id = ParseHash(request.params.at("id"), "a transaction id");
  if (!id.ok()) return respond(Failure(ctx, id.status()));
  auto wait = QueryU64(request, "wait_ms", 0, kMaxLongPollMs);
  if (auto* error = std::get_if<HttpResponse>(&wait)) return respond(std::move(*error));
  const uint64_t wait_ms = std::get<uint64_t>(wait);
  auto answer = [ctx, reader, id = *id, respond](bool) {
    Result<Json> status = TxStatusJson(ctx, reader, id);
    respond(status.ok() ? HttpResponse::Json(*status) : Failure(ctx, status.status()));
  };
  if (wait_ms == 0) return answer(true);
  const Hash256 tx_id = *id;
  WaitOrRefuse(
      ctx, request, respond,
      [ctx, tx_id] {
        return ctx->chain->IsCommitted(tx_id) || ctx->intake->FindRejection(tx_id).has_value();
      },
      std::chrono::milliseconds(wait_ms), answer);
}

// ---- blocks and headers ----

HttpResponse GetBlock(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<uint64_t> height = ParseHeight(ctx, request.params.at("height"));
  if (!height.ok()) return Failure(ctx, height.status());
  if (*height == 0) {
    Status error;
    return HttpResponse::Json({{"height", 0}, {"genesis", CertifiedHeaderJson(ctx, 0, error)}});
  }
  const ledger::LedgerStore& store = ctx->chain->store();
  Result<ledger::Block> block = store.GetBlock(*height);
  Result<ledger::QuorumCert> cert = store.GetCertificate(*height);
  Result<std::vector<ledger::TxResult>> results = store.GetResults(*height);
  if (!block.ok()) return Failure(ctx, block.status());
  if (!cert.ok()) return Failure(ctx, cert.status());
  if (!results.ok()) return Failure(ctx, results.status());
  Json out = {{"height", *height},
              {"certificate", QuorumCertJson(*cert)},
              {"encoded_certificate", ToHex(ledger::Encode(*cert))}};
  if (ctx->read_policy->MayReadBlock(reader, *block)) {
    Json result_list = Json::array();
    for (const auto& r : *results) result_list.push_back(TxResultJson(r));
    out["block"] = BlockJson(*block);
    out["results"] = std::move(result_list);
    return HttpResponse::Json(out);
  }
  // Redacted: the transactions the reader may not see are their ids and signed hashes only
  // (enough to check tx_root against the certified header), and no results or encoding.
  Json transactions = Json::array();
  Json result_list = Json::array();
  for (size_t i = 0; i < block->transactions.size(); ++i) {
    const ledger::Transaction& tx = block->transactions[i];
    const bool visible = ctx->read_policy->MayReadTransaction(reader, tx);
    transactions.push_back(visible ? TransactionJson(tx)
                                   : Json{{"id", tx.Id().ToHex()},
                                          {"signed_hash", tx.SignedHash().ToHex()},
                                          {"redacted", true}});
    result_list.push_back(visible && i < results->size() ? TxResultJson((*results)[i])
                                                         : Json(nullptr));
  }
  out["block"] = {{"header", HeaderJson(block->header)},
                  {"signature", block->signature.ToHex()},
                  {"transactions", std::move(transactions)}};
  out["results"] = std::move(result_list);
  out["redacted"] = true;
  return HttpResponse::Json(out);
}

// A page that reads blocks (headers with their bodies, or with their transaction ids) stops
// once it has read this many block bytes, one block at least: what one request may make the
// node read and decode is bounded whoever asks, redacted blocks included.
constexpr size_t kMaxPageBlockBytes = 4 << 20;

// One height of a headers page, as the store holds it; `block` is the block's encoding when
// bodies were asked for and the reader may read it (else `redacted` says why there is none).
struct PageBlock {
  const Bytes* block = nullptr;
  bool redacted = false;
};

// Walks the heights of a headers page, whatever its format: from `first` to `last`, at most
// kMaxHeaderPageItems heights and kMaxPageBlockBytes of blocks (one block at least). Returns
// how many heights `visit(height, PageBlock)` was given.
template <typename Visit>
Result<uint64_t> WalkHeadersPage(const Ctx& ctx, const Reader& reader, uint64_t first,
                                 uint64_t last, bool bodies, Visit visit) {
  size_t body_bytes = 0;
  uint64_t count = 0;
  for (uint64_t h = first;
       h <= last && count < ledger::kMaxHeaderPageItems && body_bytes < kMaxPageBlockBytes; ++h) {
    PageBlock page_block;
    Bytes encoded;
    if (bodies && h > 0) {
      Result<ledger::Block> block = ctx->chain->store().GetBlock(h);
      if (!block.ok()) return block.status();
      encoded = ledger::Encode(*block);
      body_bytes += encoded.size();
      if (ctx->read_policy->MayReadBlock(reader, *block)) {
        page_block.block = &encoded;
      } else {
        page_block.redacted = true;
      }
    }
    if (Status status = visit(h, page_block); !status.ok()) return status;
    ++count;
  }
  return count;
}

// The binary page (ledger/header_page.h): the same items, canonical bytes instead of JSON.
HttpResponse GetHeadersBinary(const Ctx& ctx, const Reader& reader, uint64_t first, uint64_t last,
                              uint64_t tip, bool bodies) {
  ledger::HeaderPage page;
  page.tip = tip;
  Result<uint64_t> count = WalkHeadersPage(
      ctx, reader, first, last, bodies, [&](uint64_t h, const PageBlock& body) -> Status {
        Result<CertifiedHeader> read = ReadCertifiedHeader(ctx, h);
        if (!read.ok()) return read.status();
        ledger::HeaderPageItem& item = page.items.emplace_back();
        item.height = h;
        item.header = ledger::Encode(read->header);
        if (read->certificate) item.certificate = ledger::Encode(*read->certificate);
        if (body.block != nullptr) {
          item.body = ledger::HeaderPageItem::Body::kBlock;
          item.block = *body.block;
        } else if (body.redacted) {
          item.body = ledger::HeaderPageItem::Body::kRedacted;
        }
        return Status::Ok();
      });
  if (!count.ok()) return Failure(ctx, count.status());
  if (first + *count <= last) page.next_from = first + *count;
  const Bytes encoded = ledger::Encode(page);
  return HttpResponse::Text(std::string(encoded.begin(), encoded.end()),
                            "application/octet-stream");
}

HttpResponse GetHeaders(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  const uint64_t tip = ctx->chain->tip().height;
  auto from = QueryU64(request, "from", 0);
  if (auto* error = std::get_if<HttpResponse>(&from)) return std::move(*error);
  auto to = QueryU64(request, "to", tip);
  if (auto* error = std::get_if<HttpResponse>(&to)) return std::move(*error);
  const uint64_t first = std::get<uint64_t>(from);
  const uint64_t last = std::min(std::get<uint64_t>(to), tip);
  if (first > last && first <= tip) return BadRequest("'from' is above 'to'");
  // An auditor checking bodies too gets each block's canonical bytes beside its header (one
  // request for a page, not one per block), or, where the reader may not read the block, the
  // word that it is redacted.
  const bool bodies = request.QueryOr("bodies", "false") == "true";
  const std::string format = request.QueryOr("format", "json");
  if (format == "binary") return GetHeadersBinary(ctx, reader, first, last, tip, bodies);
  if (format != "json") return BadRequest("'format' must be json or binary");
  // Written by hand around each item: a page of bodies is megabytes of hex, which needs no
  // escaping, and the JSON writer's escaping pass over it was a third of the node's time
  // serving an audit.
  std::string items;
  Result<uint64_t> count = WalkHeadersPage(ctx, reader, first, last, bodies,
                                           [&](uint64_t h, const PageBlock& body) -> Status {
                                             Status error;
                                             Json item = CertifiedHeaderJson(ctx, h, error);
                                             if (!error.ok()) return error;
                                             if (body.redacted) item["block_redacted"] = true;
                                             if (!items.empty()) items += ',';
                                             items += net::DumpJson(item);
                                             if (body.block != nullptr) {
                                               items.pop_back();  // the object's closing brace
                                               items += R"(,"encoded_block":")";
                                               items += ToHex(*body.block);
                                               items += R"("})";
                                             }
                                             return Status::Ok();
                                           });
  if (!count.ok()) return Failure(ctx, count.status());
  const uint64_t next = first + *count;
  const Json next_from = next <= last ? Json(next) : Json(nullptr);
  return HttpResponse::Text(R"({"tip":)" + std::to_string(tip) + R"(,"headers":[)" + items +
                                R"(],"next_from":)" + next_from.dump() + "}",
                            "application/json");
}

// How far above its tip a node lets a long-poll start.
constexpr uint64_t kMaxLongPollAhead = 10'000;

// A long-poll over heights: once the tip passes ?after= (default: the tip), or ?wait_ms=
// passes, answers with `page(after)`.
void LongPollAfter(const Ctx& ctx, const HttpRequest& request, net::HttpResponder respond,
                   std::function<HttpResponse(uint64_t after)> page) {
  const uint64_t tip = ctx->chain->tip().height;
  // A little above the tip is a client that moved from a node further ahead (the one it
  // followed went down): it waits for this one to catch up. Far above would wait for nothing
  // this node can name (and overflow the pages' ranges).
  auto after = QueryU64(request, "after", tip, tip + kMaxLongPollAhead);
  if (auto* error = std::get_if<HttpResponse>(&after)) return respond(std::move(*error));
  auto wait = QueryU64(request, "wait_ms", 25'000, kMaxLongPollMs);
  if (auto* error = std::get_if<HttpResponse>(&wait)) return respond(std::move(*error));
  const uint64_t from = std::get<uint64_t>(after);
  auto answer = [from, respond, page = std::move(page)](bool) { respond(page(from)); };
  WaitOrRefuse(
      ctx, request, respond, [ctx, from] { return ctx->chain->tip().height > from; },
      std::chrono::milliseconds(std::get<uint64_t>(wait)), answer);
}

// Long-poll: the certified headers of blocks after `after`, once there are any.
// With ?tx_ids=true each block also lists its transactions' ids (public: a redacted block
// shows them to anyone), so that a client following commits needs no request per block.
void SubscribeBlocks(const Ctx& ctx, const HttpRequest& request, net::HttpResponder respond) {
  const bool with_ids = request.QueryOr("tx_ids", "false") == "true";
  LongPollAfter(ctx, request, std::move(respond), [ctx, with_ids](uint64_t from) {
    const uint64_t tip = ctx->chain->tip().height;
    Json blocks = Json::array();
    size_t block_bytes = 0;
    for (uint64_t h = from + 1; h <= tip && blocks.size() < 100 && block_bytes < kMaxPageBlockBytes;
         ++h) {
      Status error;
      Json item = CertifiedHeaderJson(ctx, h, error);
      if (!error.ok()) return Failure(ctx, error);
      if (with_ids) {
        Result<ledger::Block> block = ctx->chain->store().GetBlock(h);
        if (!block.ok()) return Failure(ctx, block.status());
        block_bytes += ledger::Encode(*block).size();
        Json ids = Json::array();
        for (const ledger::Transaction& tx : block->transactions) ids.push_back(tx.Id().ToHex());
        item["tx_ids"] = std::move(ids);
      }
      blocks.push_back(std::move(item));
    }
    const uint64_t next = from + blocks.size();
    return HttpResponse::Json({{"tip", tip}, {"blocks", std::move(blocks)}, {"next_after", next}});
  });
}

// Long-poll: events a contract emitted in blocks after `after`.
void SubscribeEvents(const Ctx& ctx, const Reader& reader, const HttpRequest& request,
                     net::HttpResponder respond) {
  const std::string contract = request.QueryOr("contract", "");
  if (ctx->chain->registry().Find(contract) == nullptr) {
    return respond(BadRequest("query parameter 'contract' must name a contract"));
  }
  if (!ctx->read_policy->MayReadContractData(reader, contract)) {
    return respond(NotForReader(reader, "the events of contract " + contract));
  }
  LongPollAfter(ctx, request, std::move(respond), [ctx, contract](uint64_t from) {
    const uint64_t tip = ctx->chain->tip().height;
    // Never below `from`: a client waiting here for a node behind the one it followed must
    // not be sent back over events it has.
    uint64_t last = std::max(from, std::min(tip, from + 100));
    Json events = Json::array();
    size_t bytes = 0;  // of event data so far: a page ends after the block that passes the cap
    for (uint64_t h = from + 1; h <= last; ++h) {
      Result<ledger::Block> block = ctx->chain->store().GetBlock(h);
      Result<std::vector<ledger::TxResult>> results = ctx->chain->store().GetResults(h);
      if (!block.ok()) return Failure(ctx, block.status());
      if (!results.ok()) return Failure(ctx, results.status());
      for (size_t i = 0; i < results->size(); ++i) {
        for (const ledger::Event& e : (*results)[i].events) {
          if (e.contract != contract) continue;
          events.push_back({{"height", h},
                            {"tx_index", i},
                            {"tx_id", block->transactions[i].Id().ToHex()},
                            {"name", e.name},
                            {"data", ToHex(e.data)}});
          bytes += kEventOverheadBytes + 2 * e.data.size();
        }
      }
      if (bytes > kMaxPageBytes) last = h;
    }
    return HttpResponse::Json({{"tip", tip}, {"events", std::move(events)}, {"next_after", last}});
  });
}

// ---- state, queries and history ----

HttpResponse GetState(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<Bytes> key = FromHex(request.QueryOr("key", ""));
  if (!key.ok() || key->empty()) {
    return BadRequest("query parameter 'key' must be the hex of a state key");
  }
  if (!ctx->read_policy->MayReadStateKey(reader, *key)) {
    return NotForReader(reader, "this state key (a private contract's)");
  }
  const ledger::LedgerStore& store = ctx->chain->store();
  const bool prove = request.QueryOr("prove", "false") == "true";
  if (!prove) {
    // The height first: a commit in between makes the value newer than the height, never
    // older (reads see whole blocks).
    const uint64_t height = ctx->chain->tip().height;
    Result<std::optional<Bytes>> value = store.GetState(*key);
    if (!value.ok()) return Failure(ctx, value.status());
    return HttpResponse::Json({{"key", ToHex(*key)},
                               {"height", height},
                               {"value", *value ? Json(ToHex(**value)) : Json(nullptr)}});
  }
  // A proof is checked against a certified header: the one at `height` (default the tip),
  // whose state_root is the state after its exec_height.
  Result<uint64_t> height = ParseHeight(ctx, request.QueryOr("height", "latest"));
  if (!height.ok()) return Failure(ctx, height.status());
  Status error;
  Json header = CertifiedHeaderJson(ctx, *height, error);
  if (!error.ok()) return Failure(ctx, error);
  const uint64_t version = header["header"]["exec_height"].get<uint64_t>();
  Result<ledger::StateAt> state = store.ProveState(*key, version);
  if (!state.ok()) return Failure(ctx, state.status());
  return HttpResponse::Json({{"proof", StateProofJson(*key, *state)}, {"certified", header}});
}

Result<Json> QueryParams(const HttpRequest& request) {
  if (request.method == "POST") {
    if (request.body.empty()) return Json::object();
    return request.JsonBody();
  }
  const std::string text = request.QueryOr("params", "{}");
  Json parsed = Json::parse(text, nullptr, false);
  if (parsed.is_discarded()) {
    return Status(ErrorCode::kInvalidArgument, "query parameter 'params' is not JSON");
  }
  return parsed;
}

HttpResponse RunContractQuery(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<Json> params = QueryParams(request);
  if (!params.ok()) return Failure(ctx, params.status());
  const std::string& contract = request.params.at("contract");
  const std::string& query = request.params.at("query");
  const std::string what = "query " + contract + "/" + query;
  // Which queries exist is public (docs/node.md, "Client API"): an unknown one is 404 for everyone.
  const contracts::Contract* found = ctx->chain->registry().Find(contract);
  const ReadVerdict verdict = found == nullptr || !found->HasQuery(query)
                                  ? ReadVerdict::kAllow
                                  : ctx->read_policy->ForQuery(reader, contract, query, *params);
  switch (verdict) {
    case ReadVerdict::kDeny:
      return NotForReader(reader, what + " for these parameters");
    case ReadVerdict::kBadSubject:
      return BadRequest(what +
                        " names its subject: params.account or params.patient must be "
                        "a city1... address");
    case ReadVerdict::kAllow:
    case ReadVerdict::kCheckAnswer:
      break;
  }
  const uint64_t height = ctx->chain->tip().height;
  Result<Json> result =
      contracts::RunQuery(ctx->chain->registry(), ctx->chain->store(), contract, query, *params);
  if (!result.ok()) return Failure(ctx, result.status());
  if (verdict == ReadVerdict::kCheckAnswer) {
    std::optional<Json> shown =
        ctx->read_policy->AnswerFor(reader, contract, query, std::move(*result));
    if (!shown) return NotForReader(reader, what + " for these parameters");
    return HttpResponse::Json({{"height", height}, {"result", std::move(*shown)}});
  }
  return HttpResponse::Json({{"height", height}, {"result", std::move(*result)}});
}

// Pagination from ?cursor=<hex>&limit=N&order=oldest|newest.
std::variant<ledger::PageRequest, HttpResponse> PageFrom(const HttpRequest& request) {
  ledger::PageRequest page;
  auto limit = QueryU64(request, "limit", 100, ledger::kMaxPageSize);
  if (auto* error = std::get_if<HttpResponse>(&limit)) return std::move(*error);
  if (std::get<uint64_t>(limit) == 0)
    return BadRequest("query parameter 'limit' must be 1.." + std::to_string(ledger::kMaxPageSize));
  page.limit = static_cast<uint32_t>(std::get<uint64_t>(limit));
  Result<Bytes> cursor = FromHex(request.QueryOr("cursor", ""));
  if (!cursor.ok()) return BadRequest("query parameter 'cursor' is not hex");
  page.cursor = std::move(*cursor);
  const std::string order = request.QueryOr("order", "oldest");
  if (order != "oldest" && order != "newest") {
    return BadRequest("query parameter 'order' must be 'oldest' or 'newest'");
  }
  page.newest_first = order == "newest";
  return page;
}

template <typename T, typename ItemJson>
HttpResponse PageJson(const Result<ledger::Page<T>>& page, ItemJson item_json) {
  if (!page.ok()) return HttpResponse::FromStatus(page.status());
  Json items = Json::array();
  for (const T& item : page->items) items.push_back(item_json(item));
  return HttpResponse::Json(
      {{"items", std::move(items)},
       {"next_cursor", page->next_cursor ? Json(ToHex(*page->next_cursor)) : Json(nullptr)}});
}

Json LocationJson(const ledger::TxLocation& location) {
  return {{"height", location.height}, {"index", location.index}};
}

// The nonces are anyone's (a client needs them to sign); what enrolled the account is not.
HttpResponse GetAccount(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<PublicKey> account = DecodeAddress(request.params.at("address"));
  if (!account.ok()) return Failure(ctx, account.status());
  const uint64_t next = ctx->chain->NextNonce(*account);
  const bool details = ctx->read_policy->MayReadAccount(reader, *account);
  return HttpResponse::Json(
      {{"address", EncodeAddress(*account)},
       {"public_key", account->ToHex()},
       {"height", ctx->chain->tip().height},
       {"next_nonce", next},
       {"pending_next_nonce", next + ctx->mempool->PendingRun(*account, next)},
       {"enrolled", details ? Json(contracts::EnrolledViaName(ctx->chain->EnrolmentOf(*account)))
                            : Json(nullptr)}});
}

HttpResponse GetAccountHistory(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<PublicKey> account = DecodeAddress(request.params.at("address"));
  if (!account.ok()) return Failure(ctx, account.status());
  if (!ctx->read_policy->MayReadAccount(reader, *account)) {
    return NotForReader(reader, "the history of " + EncodeAddress(*account));
  }
  auto page = PageFrom(request);
  if (auto* error = std::get_if<HttpResponse>(&page)) return std::move(*error);
  return PageJson(ctx->chain->store().AccountHistory(*account, std::get<ledger::PageRequest>(page)),
                  [](const ledger::AccountTx& item) {
                    return Json{{"location", LocationJson(item.location)},
                                {"tx_id", item.tx_id.ToHex()},
                                {"sent", (item.role & ledger::kAccountSent) != 0},
                                {"received", (item.role & ledger::kAccountReceived) != 0}};
                  });
}

HttpResponse GetKeyHistory(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<Bytes> key = FromHex(request.QueryOr("key", ""));
  if (!key.ok() || key->empty()) return BadRequest("query parameter 'key' must be hex");
  if (!ctx->read_policy->MayReadStateKey(reader, *key)) {
    return NotForReader(reader, "the history of this state key (a private contract's)");
  }
  auto page = PageFrom(request);
  if (auto* error = std::get_if<HttpResponse>(&page)) return std::move(*error);
  return PageJson(ctx->chain->store().KeyHistory(*key, std::get<ledger::PageRequest>(page)),
                  [](const ledger::KeyWrite& item) {
                    return Json{{"location", LocationJson(item.location)},
                                {"value", item.value ? Json(ToHex(*item.value)) : Json(nullptr)}};
                  });
}

HttpResponse GetIndex(const Ctx& ctx, const Reader& reader, const HttpRequest& request) {
  Result<Bytes> key = FromHex(request.QueryOr("key", ""));
  if (!key.ok()) return BadRequest("query parameter 'key' must be hex");
  if (!ctx->read_policy->MayReadContractData(reader, request.params.at("contract"))) {
    return NotForReader(reader, "the indexes of contract " + request.params.at("contract"));
  }
  auto page = PageFrom(request);
  if (auto* error = std::get_if<HttpResponse>(&page)) return std::move(*error);
  return PageJson(
      ctx->chain->store().IndexScan(request.params.at("contract"), request.params.at("index"), *key,
                                    std::get<ledger::PageRequest>(page)),
      [](const ledger::IndexItem& item) {
        return Json{{"location", LocationJson(item.location)}, {"value", ToHex(item.value)}};
      });
}

// ---- node ----

HttpResponse GetStatus(const Ctx& ctx) {
  const DriverStatus status = ctx->driver->Snapshot();
  const MempoolStats pool = ctx->mempool->Stats();
  // The validators of the epoch the node is in, named where the genesis names them.
  const std::vector<PublicKey>& validators = status.validators;
  Json validator_list = Json::array();
  for (size_t i = 0; i < validators.size(); ++i) {
    auto named = std::find_if(ctx->genesis.validators.begin(), ctx->genesis.validators.end(),
                              [&](const GenesisValidator& v) { return v.key == validators[i]; });
    validator_list.push_back(
        {{"index", i},
         {"name", named != ctx->genesis.validators.end() ? Json(named->name) : Json(nullptr)},
         {"address", EncodeAddress(validators[i])}});
  }
  Json peers = Json::array();
  for (const PeerView& peer : status.peers) {
    peers.push_back({{"address", EncodeAddress(peer.key)},
                     {"height", peer.height ? Json(*peer.height) : Json(nullptr)}});
  }
  Json leader = nullptr;
  if (status.leader && *status.leader < validators.size()) {
    leader = {{"index", *status.leader}, {"address", EncodeAddress(validators[*status.leader])}};
  }
  return HttpResponse::Json({{"chain_id", ctx->genesis.chain_id},
                             {"genesis_hash", ctx->chain->genesis().block_hash.ToHex()},
                             {"node_id", EncodeAddress(ctx->node_key)},
                             {"moniker", ctx->moniker},
                             {"version", std::string(kNodeVersion)},
                             {"height", status.height},
                             {"lowest_height", ctx->chain->store().lowest_height()},
                             {"block_hash", status.block_hash.ToHex()},
                             {"state_root", status.state_root.ToHex()},
                             {"term", status.term},
                             {"round", status.round},
                             {"leader", leader},
                             {"syncing", status.syncing},
                             {"epoch", status.epoch},
                             {"validators", std::move(validator_list)},
                             {"peers", std::move(peers)},
                             {"connected_peers", ctx->connected_peers ? ctx->connected_peers() : 0},
                             {"mempool_transactions", pool.transactions},
                             {"mempool_gapped", pool.gapped},
                             {"mempool_evicted", pool.evicted},
                             {"committed_transactions", status.committed_transactions},
                             {"transactions_per_second", status.transactions_per_second}});
}

// Who asks (read_auth.h), for every route: a request whose signature fails is refused
// whatever it asks for, so a client learns at once that its signing is wrong.
using ReaderHandler = std::function<void(const Reader&, const HttpRequest&, net::HttpResponder)>;
net::AsyncHttpHandler Signed(const Ctx& ctx, ReaderHandler handler) {
  return
      [ctx, handler = std::move(handler)](const HttpRequest& request, net::HttpResponder respond) {
        const Authentication auth = ctx->authenticator->Authenticate(request);
        if (auth.refusal) return respond(Refuse(*auth.refusal, auth.message));
        handler(ctx->read_policy->Identify(auth.account), request, std::move(respond));
      };
}

using ReaderRoute = std::function<HttpResponse(const Reader&, const HttpRequest&)>;
net::AsyncHttpHandler SignedSync(const Ctx& ctx, ReaderRoute route) {
  return Signed(ctx, [route = std::move(route)](const Reader& reader, const HttpRequest& request,
                                                net::HttpResponder respond) {
    respond(route(reader, request));
  });
}

// A route that reads nothing private: the signature is still checked when there is one.
net::AsyncHttpHandler SignedPublic(const Ctx& ctx, std::function<HttpResponse()> route) {
  return SignedSync(
      ctx, [route = std::move(route)](const Reader&, const HttpRequest&) { return route(); });
}

// ---- the operator's actions ----

// A request from this host: from a loopback address, or from the address the API listens on
// (a client on this host connecting to it is seen with that address as its source). Behind a
// reverse proxy on this host every request is local: the signature is then the only guard.
bool FromThisHost(const Ctx& ctx, std::string_view address) {
  std::string_view v4 = address;
  if (v4.starts_with("::ffff:")) v4.remove_prefix(7);
  if (v4.starts_with("127.") || address == "::1") return true;
  const std::string& listen = ctx->api_listen_host;
  return !address.empty() && listen != "0.0.0.0" && listen != "::" && address == listen;
}

// Only the node's own key (its operator), and only from this host: an action, not a read.
net::AsyncHttpHandler Admin(const Ctx& ctx, ReaderRoute route) {
  return Signed(
      ctx, [ctx, route = std::move(route)](const Reader& reader, const HttpRequest& request,
                                           net::HttpResponder respond) {
        if (!reader.node_operator) return respond(NotForReader(reader, "an operator action"));
        if (!FromThisHost(ctx, request.remote_address)) {
          return respond(Refuse(ReadRefusal::kForbidden,
                                "operator actions are taken from the node's own host only"));
        }
        respond(route(reader, request));
      });
}

// POST /v1/admin/backup {"out": "/absolute/new/dir"}: starts a backup (city/node/backup.h).
HttpResponse StartBackup(const Ctx& ctx, const HttpRequest& request) {
  if (ctx->backups == nullptr) return HttpResponse::Error(404, "not_found", "no backups here");
  Result<Json> body = request.JsonBody();
  if (!body.ok()) return Failure(ctx, body.status());
  if (!body->is_object() || !body->contains("out") || !(*body)["out"].is_string()) {
    return BadRequest("expected {\"out\": \"<absolute path of a new directory>\"}");
  }
  const std::string out = (*body)["out"].get<std::string>();
  if (out.empty() || out.size() > 4096 || out.find('\0') != std::string::npos) {
    return BadRequest("'out' must be a path of at most 4096 bytes");
  }
  if (Status started = ctx->backups->Start(out, SystemNowMs()); !started.ok()) {
    return Failure(ctx, started);
  }
  return HttpResponse::Json(ctx->backups->Report(), 202);
}

}  // namespace

net::Router MakeApiRouter(std::shared_ptr<ApiContext> context) {
  if (!context->authenticator) {
    context->authenticator = std::make_shared<RequestAuthenticator>(
        context->genesis.chain_id, context->read_auth, SystemNowMs, SteadyNowMs,
        [chain = context->chain, node_key = context->node_key](const PublicKey& account) {
          return account == node_key ||
                 chain->EnrolmentOf(account) != contracts::EnrolledVia::kNone;
        });
  }
  if (!context->read_policy) {
    context->read_policy = std::make_shared<ReadPolicy>(*context->chain, context->node_key);
  }
  const Ctx ctx = context;
  net::Router router;
  // Writes: the transaction's own signature and the sender's enrolment are the gate.
  router.Add("POST", "/v1/tx", [ctx](const HttpRequest& r, net::HttpResponder w) {
    SubmitOne(ctx, r, std::move(w));
  });
  router.Add("POST", "/v1/txs", [ctx](const HttpRequest& r, net::HttpResponder w) {
    SubmitBatch(ctx, r, std::move(w));
  });
  router.Add("GET", "/v1/tx/{id}",
             Signed(ctx, [ctx](const Reader& reader, const HttpRequest& r, net::HttpResponder w) {
               GetTx(ctx, reader, r, std::move(w));
             }));
  router.Add("GET", "/v1/blocks/{height}",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetBlock(ctx, reader, r);
             }));
  router.Add("GET", "/v1/headers",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetHeaders(ctx, reader, r);
             }));
  router.Add("GET", "/v1/subscribe/blocks",
             Signed(ctx, [ctx](const Reader&, const HttpRequest& r, net::HttpResponder w) {
               SubscribeBlocks(ctx, r, std::move(w));
             }));
  router.Add("GET", "/v1/subscribe/events",
             Signed(ctx, [ctx](const Reader& reader, const HttpRequest& r, net::HttpResponder w) {
               SubscribeEvents(ctx, reader, r, std::move(w));
             }));
  router.Add("GET", "/v1/state", SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetState(ctx, reader, r);
             }));
  const net::AsyncHttpHandler query =
      SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
        return RunContractQuery(ctx, reader, r);
      });
  router.Add("GET", "/v1/query/{contract}/{query}", query);
  router.Add("POST", "/v1/query/{contract}/{query}", query);
  router.Add("GET", "/v1/accounts/{address}",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetAccount(ctx, reader, r);
             }));
  router.Add("GET", "/v1/accounts/{address}/history",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetAccountHistory(ctx, reader, r);
             }));
  router.Add("GET", "/v1/history/key",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetKeyHistory(ctx, reader, r);
             }));
  router.Add("GET", "/v1/index/{contract}/{index}",
             SignedSync(ctx, [ctx](const Reader& reader, const HttpRequest& r) {
               return GetIndex(ctx, reader, r);
             }));
  router.Add("POST", "/v1/admin/backup", Admin(ctx, [ctx](const Reader&, const HttpRequest& r) {
               return StartBackup(ctx, r);
             }));
  router.Add("GET", "/v1/admin/backup", Admin(ctx, [ctx](const Reader&, const HttpRequest&) {
               if (ctx->backups == nullptr) {
                 return HttpResponse::Error(404, "not_found", "no backups here");
               }
               return HttpResponse::Json(ctx->backups->Report());
             }));
  // POST: takes a snapshot now, at the newest height a committed header names executed
  // (cityd snapshot create); GET: how it goes (city/node/snapshots.h).
  router.Add("POST", "/v1/admin/snapshot", Admin(ctx, [ctx](const Reader&, const HttpRequest& r) {
               if (ctx->snapshots == nullptr) {
                 return HttpResponse::Error(404, "not_found", "no snapshots here");
               }
               std::optional<uint64_t> height;
               if (!r.body.empty()) {
                 Result<Json> body = r.JsonBody();
                 if (!body.ok()) return Failure(ctx, body.status());
                 if (!body->is_object() ||
                     (body->contains("height") && !(*body)["height"].is_number_unsigned())) {
                   return BadRequest("expected {} or {\"height\": <a height>}");
                 }
                 if (body->contains("height")) height = (*body)["height"].get<uint64_t>();
               }
               if (Status started = ctx->snapshots->TakeNow(height); !started.ok()) {
                 return Failure(ctx, started);
               }
               return HttpResponse::Json(ctx->snapshots->Report(), 202);
             }));
  router.Add("GET", "/v1/admin/snapshot", Admin(ctx, [ctx](const Reader&, const HttpRequest&) {
               if (ctx->snapshots == nullptr) {
                 return HttpResponse::Error(404, "not_found", "no snapshots here");
               }
               return HttpResponse::Json(ctx->snapshots->Report());
             }));
  router.Add("GET", "/v1/status", SignedPublic(ctx, [ctx] { return GetStatus(ctx); }),
             {.available_when_not_ready = true});
  router.Add("GET", "/v1/genesis", SignedPublic(ctx, [ctx] {
               return HttpResponse::Text(GenesisToJson(ctx->genesis), "application/json");
             }));
  router.Add("GET", "/metrics",
             SignedPublic(ctx,
                          [ctx] {
                            return HttpResponse::Text(ctx->metrics->RenderPrometheus(),
                                                      "text/plain; version=0.0.4");
                          }),
             {.available_when_not_ready = true});
  router.Add(
      "GET", "/healthz",
      SignedPublic(ctx,
                   [ctx] {
                     const DriverStatus status = ctx->driver->Snapshot();
                     return HttpResponse::Json(
                         {{"ok", true}, {"height", status.height}, {"syncing", status.syncing}});
                   }),
      {.available_when_not_ready = true});
  return router;
}

}  // namespace city::node
