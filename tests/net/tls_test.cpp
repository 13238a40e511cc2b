// TLS for the client API: an HttpServer with a certificate and HttpClients over https, on
// loopback. The client checks the certificate against its trust and the URL's host; the
// server refuses a weak key file and survives clients that do not speak TLS.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "city/net/http_client.h"
#include "city/net/http_server.h"
#include "support/temp_dir.h"
#include "support/tls_fixtures.h"

namespace city::net {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TlsTest : public ::testing::Test {
 protected:
  TlsTest() {
    std::string error;
    files_ = test::MakeSelfSignedCertificate(dir_.path(), "node", "localhost", "127.0.0.1", &error);
    EXPECT_FALSE(files_.certificate_chain.empty()) << error;
    other_ =
        test::MakeSelfSignedCertificate(dir_.path(), "other", "other.example", "10.9.9.9", &error);
    EXPECT_FALSE(other_.certificate_chain.empty()) << error;
  }
  ~TlsTest() override {
    server_.reset();
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }

  Status StartServer(std::optional<TlsServerFiles> tls) {
    Router router;
    router.Get("/hello", [](const HttpRequest&) { return HttpResponse::Text("hi"); });
    HttpServerOptions options;
    options.tls = std::move(tls);
    options.request_timeout = 500ms;  // the handshake's deadline too
    Result<std::unique_ptr<HttpServer>> started = HttpServer::Start(io_, options, router);
    if (!started.ok()) return started.status();
    server_ = std::move(*started);
    if (!thread_.joinable()) thread_ = std::thread([this] { io_.run(); });
    return Status::Ok();
  }
  Result<HttpReply> Get(const std::string& scheme_host, const fs::path& ca_file) {
    Result<HttpUrl> url = ParseHttpUrl(scheme_host + ":" + std::to_string(server_->port()));
    if (!url.ok()) return url.status();
    HttpClientOptions options;
    options.timeout = 5s;
    options.trust.ca_file = ca_file;
    return HttpClient(*url, options).Get("/hello");
  }

  test::TempDir dir_;
  TlsServerFiles files_;
  TlsServerFiles other_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(TlsTest, AClientThatTrustsTheCertificateIsServedByNameAndByIp) {
  ASSERT_TRUE(StartServer(files_).ok());
  for (const char* host : {"https://127.0.0.1", "https://localhost"}) {
    Result<HttpReply> reply = Get(host, files_.certificate_chain);
    ASSERT_TRUE(reply.ok()) << host << ": " << reply.status().ToString();
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, "hi");
  }
  // Several requests on one kept-alive TLS connection.
  HttpClientOptions options;
  options.trust.ca_file = files_.certificate_chain;
  HttpClient client(*ParseHttpUrl("https://127.0.0.1:" + std::to_string(server_->port())), options);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(client.Get("/hello").value().status, 200) << i;
}

TEST_F(TlsTest, AnUntrustedOrMisnamedCertificateIsRefusedByTheClient) {
  ASSERT_TRUE(StartServer(files_).ok());
  // The system's authorities never signed this self-signed certificate.
  Result<HttpReply> untrusted = Get("https://127.0.0.1", "");
  ASSERT_FALSE(untrusted.ok());
  EXPECT_EQ(untrusted.status().code(), ErrorCode::kUnauthenticated)
      << untrusted.status().ToString();
  EXPECT_NE(untrusted.status().message().find("not trusted"), std::string::npos);
  // Trusting another certificate does not help.
  EXPECT_EQ(Get("https://127.0.0.1", other_.certificate_chain).status().code(),
            ErrorCode::kUnauthenticated);
  // The right certificate presented for another host: its name does not match.
  ASSERT_TRUE(StartServer(other_).ok());
  Result<HttpReply> misnamed = Get("https://127.0.0.1", other_.certificate_chain);
  ASSERT_FALSE(misnamed.ok());
  EXPECT_EQ(misnamed.status().code(), ErrorCode::kUnauthenticated) << misnamed.status().ToString();
}

TEST_F(TlsTest, PlainHttpAgainstTlsAndTheReverseFailCleanlyAndTheServerCarriesOn) {
  ASSERT_TRUE(StartServer(files_).ok());
  Result<HttpReply> plain = Get("http://127.0.0.1", "");
  EXPECT_FALSE(plain.ok() && plain->status == 200) << "no plain answer from a TLS server";
  EXPECT_EQ(Get("https://127.0.0.1", files_.certificate_chain).value().status, 200)
      << "the TLS server still serves";

  ASSERT_TRUE(StartServer(std::nullopt).ok());
  Result<HttpReply> secure = Get("https://127.0.0.1", files_.certificate_chain);
  ASSERT_FALSE(secure.ok());
  EXPECT_NE(secure.status().message().find("TLS"), std::string::npos) << secure.status().ToString();
  EXPECT_EQ(Get("http://127.0.0.1", "").value().status, 200);
}

// A client that connects and never finishes the handshake (or sends garbage instead) holds
// the connection only until the request timeout: the server closes it and serves others.
TEST_F(TlsTest, AStalledOrGarbageHandshakeIsDroppedAtTheRequestTimeout) {
  ASSERT_TRUE(StartServer(files_).ok());
  for (const std::string& sent : {std::string(), std::string("\x16\x03\x01") + "garbage"}) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    timeval wait{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(server_->port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    if (!sent.empty()) {
      ASSERT_EQ(::send(fd, sent.data(), sent.size(), 0), ssize_t(sent.size()));
    }
    const auto started = std::chrono::steady_clock::now();
    char buffer[256];
    ssize_t got = 0;
    do {
      got = ::recv(fd, buffer, sizeof buffer, 0);
    } while (got > 0);  // a TLS alert may come first; then the close
    const auto waited = std::chrono::steady_clock::now() - started;
    ::close(fd);
    EXPECT_EQ(got, 0) << "closed by the server, not by our 5 s receive timeout";
    EXPECT_LT(waited, 3s) << sent.size();
  }
  EXPECT_EQ(Get("https://127.0.0.1", files_.certificate_chain).value().status, 200);
}

TEST_F(TlsTest, TheServerRefusesAnExposedMissingOrMismatchedKey) {
  fs::permissions(files_.private_key, fs::perms::group_read, fs::perm_options::add);
  Status exposed = StartServer(files_);
  EXPECT_EQ(exposed.code(), ErrorCode::kPermissionDenied) << exposed.ToString();
  EXPECT_NE(exposed.message().find("chmod 600"), std::string::npos);
  fs::permissions(files_.private_key, fs::perms::group_read, fs::perm_options::remove);

  EXPECT_EQ(
      StartServer(TlsServerFiles{files_.certificate_chain, dir_.path() / "absent.key"}).code(),
      ErrorCode::kNotFound);
  EXPECT_EQ(StartServer(TlsServerFiles{dir_.path() / "absent.crt", files_.private_key}).code(),
            ErrorCode::kInvalidArgument);
  Status mismatched = StartServer(TlsServerFiles{files_.certificate_chain, other_.private_key});
  EXPECT_EQ(mismatched.code(), ErrorCode::kInvalidArgument) << mismatched.ToString();
  EXPECT_NE(mismatched.message().find(other_.private_key.string()), std::string::npos)
      << mismatched.ToString();
}

}  // namespace
}  // namespace city::net
