// DOCKER_HOST=tcp:// with DOCKER_TLS_VERIFY: the HTTP client speaks TLS, verifies the
// server against the CA of DOCKER_CERT_PATH and presents the client certificate. Against
// a real TLS server on loopback (`openssl s_server` that requires a client certificate
// signed by the same CA), with certificates made by the openssl CLI for this test only.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/support/child_process.h"
#include "tests/support/docker_env.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

int sh(const std::string& dir, const std::string& cmd) {
  return std::system(("cd '" + dir + "' && { " + cmd + "; } >/dev/null 2>&1").c_str());
}

// ca.pem/cert.pem/key.pem (a client signed by the CA), the server's pair, and a second
// CA that signed nothing here.
void make_certificates(const std::string& d) {
  ASSERT_EQ(sh(d, "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
                  "-subj /CN=sandboxd-test-ca"), 0);
  ASSERT_EQ(sh(d, "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
                  "-subj /CN=127.0.0.1 && printf 'subjectAltName=IP:127.0.0.1\\n' > san && "
                  "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                  "-out server.pem -days 1 -extfile san"), 0);
  ASSERT_EQ(sh(d, "openssl req -newkey rsa:2048 -nodes -keyout key.pem -out client.csr "
                  "-subj /CN=sandboxd && openssl x509 -req -in client.csr -CA ca.pem -CAkey "
                  "ca.key -CAcreateserial -out cert.pem -days 1"), 0);
  ASSERT_EQ(sh(d, "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem "
                  "-days 1 -subj /CN=other-ca"), 0);
  std::ofstream(d + "/_ping") << "OK";
}

class HttpTls : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
      // Under CI a missing tool is a failure, as for the Docker engine: never a silent skip.
      if (running_in_ci()) GTEST_FAIL() << "openssl CLI missing; scripts/install-deps.sh test installs it";
      GTEST_SKIP() << "openssl CLI missing (scripts/install-deps.sh test installs it)";
    }
    make_certificates(dir_.str());
    // -WWW serves files of its working directory; -Verify 1 requires a client certificate.
    server_ = std::make_unique<ChildProcess>(std::vector<std::string>{
        "/bin/sh", "-c",
        "cd '" + dir_.str() +
            "' && exec openssl s_server -accept 127.0.0.1:0 -cert server.pem -key server.key "
            "-CAfile ca.pem -Verify 1 -WWW"});
    auto m = server_->wait_for_line(std::regex(R"(ACCEPT 127\.0\.0\.1:(\d+))"), 10s);
    ASSERT_TRUE(m) << server_->output();
    endpoint_ = "tcp://127.0.0.1:" + (*m)[1].str();
  }

  Result<HttpResponse> ping(std::optional<HttpTlsOptions> tls) {
    auto c = HttpClient::create(
        HttpClientOptions{.endpoint = endpoint_, .tls = std::move(tls), .request_timeout = 5s});
    if (!c) return std::unexpected(c.error());
    return (*c)->send(HttpRequest{.method = "GET", .target = "/_ping"});
  }
  std::string f(const char* name) const { return (dir_ / name).string(); }

  TempDir dir_{"sandboxd-tls"};
  std::unique_ptr<ChildProcess> server_;
  std::string endpoint_;
};

TEST_F(HttpTls, VerifiedServerAndClientCertificateGetThrough) {
  auto r = ping(HttpTlsOptions{f("ca.pem"), f("cert.pem"), f("key.pem")});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "OK");
}

TEST_F(HttpTls, AServerSignedByAnotherCaIsRefused) {
  auto r = ping(HttpTlsOptions{f("other.pem"), f("cert.pem"), f("key.pem")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << r.error().message;
  EXPECT_NE(r.error().message.find("TLS"), std::string::npos) << r.error().message;
}

TEST_F(HttpTls, WithoutTheClientCertificateTheServerRefuses) {
  auto r = ping(HttpTlsOptions{f("ca.pem"), "", ""});
  EXPECT_FALSE(r.has_value() && r->status == 200);
}

TEST_F(HttpTls, PlainHttpToATlsPortDoesNotPassForTheEngine) {
  // Before DOCKER_TLS_VERIFY was honoured the client spoke plain HTTP here.
  auto r = ping(std::nullopt);
  EXPECT_FALSE(r.has_value() && r->status == 200);
}

TEST_F(HttpTls, TheDockerRuntimeUsesTheCertificates) {
  DockerOptions o;
  o.host = endpoint_;
  o.tls = HttpTlsOptions{f("ca.pem"), f("cert.pem"), f("key.pem")};
  o.api_timeout = 5s;
  auto rt = DockerRuntime::create(o);
  ASSERT_TRUE(rt) << rt.error().message;
  // s_server is no Docker engine, but the ping reaches it over verified TLS: its 200
  // answer lacks the API-Version header, so negotiation falls back to the minimum.
  auto v = (*rt)->api_version();
  ASSERT_TRUE(v) << v.error().message;
  o.tls = HttpTlsOptions{f("other.pem"), f("cert.pem"), f("key.pem")};
  auto wrong = DockerRuntime::create(o);
  ASSERT_TRUE(wrong);
  EXPECT_FALSE((*wrong)->api_version().has_value());
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(HttpTls, HttpsEndpointWithInMemoryPemGetsThrough) {
  // The kubeconfig form: https:// and the certificates as *-data (PEM text, no files).
  HttpTlsOptions tls;
  tls.ca_pem = slurp(f("ca.pem"));
  tls.cert_pem = slurp(f("cert.pem"));
  tls.key_pem = slurp(f("key.pem"));
  ASSERT_FALSE(tls.ca_pem.empty());
  auto c = HttpClient::create(HttpClientOptions{
      .endpoint = "https" + endpoint_.substr(3), .tls = tls, .request_timeout = 5s});
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->send(HttpRequest{.method = "GET", .target = "/_ping"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "OK");
}

TEST_F(HttpTls, InMemoryCaOfAnotherAuthorityIsRefused) {
  HttpTlsOptions tls;
  tls.ca_pem = slurp(f("other.pem"));
  tls.cert_pem = slurp(f("cert.pem"));
  tls.key_pem = slurp(f("key.pem"));
  auto c = HttpClient::create(HttpClientOptions{
      .endpoint = "https" + endpoint_.substr(3), .tls = tls, .request_timeout = 5s});
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->send(HttpRequest{.method = "GET", .target = "/_ping"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << r.error().message;
}

TEST_F(HttpTls, InsecureSkipVerifyAcceptsAnUnknownServer) {
  HttpTlsOptions tls;
  tls.ca_pem = slurp(f("other.pem"));  // would refuse the server, were it checked
  tls.cert_pem = slurp(f("cert.pem"));
  tls.key_pem = slurp(f("key.pem"));
  tls.insecure_skip_verify = true;
  auto c = HttpClient::create(HttpClientOptions{
      .endpoint = "https" + endpoint_.substr(3), .tls = tls, .request_timeout = 5s});
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->send(HttpRequest{.method = "GET", .target = "/_ping"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
}

TEST_F(HttpTls, HttpsEndpointWithoutTlsOptionsStillSpeaksTls) {
  // No CA given: the system bundle does not know the test CA, so TLS is attempted and
  // the server is refused (plain HTTP would have been a different failure or a 200).
  auto c = HttpClient::create(
      HttpClientOptions{.endpoint = "https" + endpoint_.substr(3), .request_timeout = 5s});
  ASSERT_TRUE(c) << c.error().message;
  auto r = (*c)->send(HttpRequest{.method = "GET", .target = "/_ping"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition) << r.error().message;
}

TEST(HttpTlsOptions, ACertificatePemWithoutAKeyIsRefusedAtCreate) {
  HttpTlsOptions tls;
  tls.cert_pem = "-----BEGIN CERTIFICATE-----\n";
  auto c = HttpClient::create(
      HttpClientOptions{.endpoint = "https://127.0.0.1:6443", .tls = tls});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
}

TEST(HttpTlsOptions, UnreadableFilesAreRefusedAtCreate) {
  auto c = HttpClient::create(HttpClientOptions{
      .endpoint = "tcp://127.0.0.1:2376",
      .tls = HttpTlsOptions{"/nonexistent/ca.pem", "/nonexistent/cert.pem", "/nonexistent/key.pem"}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message.find("/nonexistent/ca.pem"), std::string::npos);
}

}  // namespace
}  // namespace sbx::testing
