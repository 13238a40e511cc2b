// The node client (node_client.h): the client API over one HTTP connection.
#include "city/wallet/node_client.h"

#include "city/net/http_client.h"
#include "city/net/signed_request.h"

namespace city::wallet {

Result<std::unique_ptr<NodeClient>> NodeClient::Connect(std::string_view url,
                                                        std::chrono::milliseconds timeout,
                                                        net::TlsClientTrust trust) {
  Result<net::HttpUrl> parsed = net::ParseHttpUrl(url);
  if (!parsed.ok()) {
    return Status(ErrorCode::kInvalidArgument,
                  "bad --node '" + std::string(url) + "': " + parsed.status().message());
  }
  return std::unique_ptr<NodeClient>(
      new NodeClient(std::string(url), std::move(*parsed), timeout, std::move(trust)));
}

NodeClient::NodeClient(std::string url, net::HttpUrl parsed, std::chrono::milliseconds timeout,
                       net::TlsClientTrust trust)
    : url_(std::move(url)),
      parsed_url_(std::move(parsed)),
      timeout_(timeout),
      trust_(std::move(trust)) {
  http_ = MakeHttp(timeout_);
}

std::unique_ptr<net::HttpClient> NodeClient::MakeHttp(std::chrono::milliseconds timeout) const {
  net::HttpClientOptions options;
  options.timeout = timeout;
  options.signer = signer_;
  options.trust = trust_;
  return std::make_unique<net::HttpClient>(parsed_url_, options);
}

NodeClient::~NodeClient() = default;

void NodeClient::SignAs(std::shared_ptr<const KeyPair> key, std::string chain_id) {
  signer_ = net::MakeRequestSigner(std::move(key), std::move(chain_id));
  http_ = MakeHttp(timeout_);
}

Result<std::string> NodeClient::Request(std::string_view method, std::string_view target,
                                        std::string_view body, std::chrono::milliseconds timeout) {
  last_error_ = {};
  Result<net::HttpReply> reply = Status(ErrorCode::kInternal, "no request made");
  if (timeout == timeout_) {
    reply = http_->Request(method, target, body, "application/json");
  } else {
    // A long-poll: its own connection with its own deadline.
    reply = MakeHttp(timeout)->Request(method, target, body, "application/json");
  }
  if (!reply.ok()) {
    last_error_ = {0, "", reply.status().message()};
    return Status(
        reply.status().code() == ErrorCode::kIoError ? ErrorCode::kIoError : reply.status().code(),
        "cannot reach the node at " + url_ + ": " + reply.status().message() +
            " (is cityd running? see --node)");
  }
  if (reply->status >= 200 && reply->status < 300) return std::move(reply->body);

  NodeError error{reply->status, "", ""};
  const Json parsed = Json::parse(reply->body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_object()) {
    error.code = parsed["error"].value("code", "");
    error.message = parsed["error"].value("message", "");
  }
  if (error.message.empty()) error.message = reply->body.substr(0, 200);
  last_error_ = error;
  const ErrorCode code = reply->status == 404   ? ErrorCode::kNotFound
                         : reply->status == 401 ? ErrorCode::kUnauthenticated
                         : reply->status == 403 ? ErrorCode::kPermissionDenied
                         : reply->status == 413 ? ErrorCode::kTooLarge
                         : reply->status == 410 ? ErrorCode::kPruned
                         : reply->status >= 500 ? ErrorCode::kIoError
                                                : ErrorCode::kInvalidArgument;
  return Status(code, "the node refused: " + (error.code.empty() ? "" : error.code + ": ") +
                          error.message + " (HTTP " + std::to_string(reply->status) + ")");
}

namespace {

Result<Json> ParseBody(const std::string& url, Result<std::string> body) {
  if (!body.ok()) return body.status();
  Json parsed = Json::parse(*body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Status(ErrorCode::kMalformed, "the node at " + url +
                                             " answered with something other "
                                             "than JSON; is --node a CityLedger node?");
  }
  return parsed;
}

}  // namespace

Result<Json> NodeClient::Get(std::string_view target) { return Get(target, timeout_); }

Result<Json> NodeClient::Get(std::string_view target, std::chrono::milliseconds timeout) {
  return ParseBody(url_, Request("GET", target, "", timeout));
}

Result<Json> NodeClient::Post(std::string_view target, const Json& body) {
  return ParseBody(url_, Request("POST", target, body.dump(), timeout_));
}

Result<std::string> NodeClient::GetText(std::string_view target) {
  return Request("GET", target, "", timeout_);
}

std::string UrlEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       c == '-' || c == '_' || c == '.' || c == '~';
    if (plain) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace city::wallet
