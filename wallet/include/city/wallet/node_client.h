// cityctl's view of a node: the client API over HTTP/JSON (docs/node.md), one connection,
// every failure a Status whose message a person can act on:
//   "cannot reach the node at http://127.0.0.1:26601: Connection refused (is cityd running?)"
//   "the node refused: nonce_used: nonce 3 of city1... is already used (HTTP 409)"
#pragma once

#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "city/crypto/ed25519.h"
#include "city/net/http_client.h"
#include "city/status.h"

namespace city::wallet {

using Json = nlohmann::json;

// The default --node: the first validator of `scripts/localnet` and of `cityd dev`.
inline constexpr std::string_view kDefaultNodeUrl = "http://127.0.0.1:26601";

// The error a node answered with ({"error":{"code","message"}}), kept for --output json.
struct NodeError {
  int http_status = 0;
  std::string code;  // the API's stable code, e.g. "nonce_used"; "" for transport errors
  std::string message;
};

class NodeClient {
 public:
  // kInvalidArgument for a URL that is not http[s]://host:port[/path]. An https node's
  // certificate is checked against `trust` (a CA file, or the system's authorities).
  static Result<std::unique_ptr<NodeClient>> Connect(std::string_view url,
                                                     std::chrono::milliseconds timeout,
                                                     net::TlsClientTrust trust = {});
  ~NodeClient();

  // From now on every request is signed by `key` for `chain_id` (city/net/signed_request.h):
  // the node then answers reads that account may make (docs/node.md, "Signed reads: who may read
  // what").
  void SignAs(std::shared_ptr<const KeyPair> key, std::string chain_id);

  // A 2xx answer's JSON body; anything else is an error Status (and last_error() says what
  // the node answered). `timeout` overrides the client's for one long-poll.
  Result<Json> Get(std::string_view target);
  Result<Json> Get(std::string_view target, std::chrono::milliseconds timeout);
  Result<Json> Post(std::string_view target, const Json& body);
  // A 2xx answer's body as text (GET /v1/genesis, /metrics).
  Result<std::string> GetText(std::string_view target);

  const std::string& url() const { return url_; }
  // The node's error of the last failed request (http_status 0 for transport errors).
  const NodeError& last_error() const { return last_error_; }

 private:
  NodeClient(std::string url, net::HttpUrl parsed, std::chrono::milliseconds timeout,
             net::TlsClientTrust trust);
  Result<std::string> Request(std::string_view method, std::string_view target,
                              std::string_view body, std::chrono::milliseconds timeout);

  std::string url_;
  net::HttpUrl parsed_url_;
  std::unique_ptr<net::HttpClient> http_;
  std::chrono::milliseconds timeout_;
  net::TlsClientTrust trust_;
  net::HttpRequestSigner signer_;
  // A client for the node with this deadline, signing as SignAs said.
  std::unique_ptr<net::HttpClient> MakeHttp(std::chrono::milliseconds timeout) const;
  NodeError last_error_;
};

// "a%2Fb": percent-encoding for query values (hex keys, EPC URIs with ':').
std::string UrlEncode(std::string_view text);

}  // namespace city::wallet
