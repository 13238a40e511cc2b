// Untrusted request bytes through the HTTP server's own path without sockets: its parser and
// limits, target decoding, routing, handlers and response framing. Whatever the bytes, the
// answer is a well-formed response, and every error is the one JSON error object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include "http_internal.h"

namespace {

using city::net::HttpRequest;
using city::net::HttpResponder;
using city::net::HttpResponse;
using city::net::Router;

// Routes shaped like the node's: captures, literals beside captures, JSON bodies, query
// parameters, handlers that throw or never answer.
const Router& FuzzRouter() {
  static const Router router = [] {
    Router r;
    r.Get("/healthz", [](const HttpRequest&) { return HttpResponse::Text("ok"); },
          {.available_when_not_ready = true});
    r.Get("/v1/blocks/latest", [](const HttpRequest&) { return HttpResponse::Json({{"h", 1}}); });
    r.Get("/v1/blocks/{height}", [](const HttpRequest& request) {
      return HttpResponse::Json({{"height", request.params.at("height")}});
    });
    r.Get("/v1/accounts/{id}/history", [](const HttpRequest& request) {
      return HttpResponse::Json({{"id", request.params.at("id")},
                                 {"limit", request.QueryOr("limit", "10")},
                                 {"cursor", request.QueryOr("cursor", "")}});
    });
    r.Post("/v1/tx", [](const HttpRequest& request) {
      auto body = request.JsonBody();
      if (!body.ok()) return HttpResponse::FromStatus(body.status());
      return HttpResponse::Json({{"echo", *body}, {"headers", request.headers}}, 202);
    });
    r.Get("/throw", [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("x"); });
    r.Add("GET", "/silent", [](const HttpRequest&, HttpResponder) {});
    return r;
  }();
  return router;
}

[[noreturn]] void Fail() { std::abort(); }

void CheckErrorBody(const city::net::http_internal::BeastResponse& response) {
  if (response[boost::beast::http::field::content_type] != "application/json") Fail();
  const auto json = nlohmann::json::parse(response.body(), nullptr, false);
  if (!json.is_object() || json.size() != 1 || !json.contains("error")) Fail();
  const auto& error = json["error"];
  if (!error.is_object() || error.size() != 2) Fail();
  if (!error.contains("code") || !error["code"].is_string()) Fail();
  if (!error.contains("message") || !error["message"].is_string()) Fail();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Small limits so that the fuzzer reaches them; the first byte picks readiness.
  city::net::HttpServerOptions options;
  options.max_header_bytes = 2048;
  options.max_body_bytes = 4096;
  const bool ready = (data[0] & 1) != 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);

  const auto response =
      city::net::http_internal::HandleRawRequest(bytes, FuzzRouter(), options, ready);
  const unsigned status = response.result_int();
  if (status < 200 || status > 599) Fail();
  if (status >= 400) CheckErrorBody(response);
  if (response.body().size() > 1024 * 1024) Fail();

  // The response must frame: its serialisation ends with exactly its body.
  std::ostringstream wire;
  wire << response;
  const std::string text = wire.str();
  if (text.size() < response.body().size() ||
      text.compare(text.size() - response.body().size(), std::string::npos, response.body()) != 0) {
    Fail();
  }
  return 0;
}
