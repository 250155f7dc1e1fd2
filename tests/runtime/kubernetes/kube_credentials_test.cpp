// Kubeconfig and in-cluster credentials, from files written into a temp dir.
#include "src/runtime/kubernetes/kube_credentials.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

void write(const std::filesystem::path& p, const std::string& text) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << text;
}

constexpr const char* kTwoContexts = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: c1
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority: pki/ca.crt
- name: c2
  cluster:
    server: https://[::1]:7443
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==
    insecure-skip-tls-verify: true
users:
- name: token-user
  user:
    token: abc.def
- name: cert-user
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: S0VZ
- name: file-user
  user:
    tokenFile: tok
    client-certificate: /abs/cert.pem
    client-key: key.pem
contexts:
- name: dev
  context: {cluster: c1, user: token-user, namespace: sandboxes}
- name: prod
  context: {cluster: c2, user: cert-user}
- name: files
  context: {cluster: c1, user: file-user}
)";

class Kubeconfig : public ::testing::Test {
 protected:
  void SetUp() override {
    write(dir_ / "kube/config", kTwoContexts);
    write(dir_ / "kube/pki/ca.crt", "CA");
  }
  std::string path() const { return (dir_ / "kube/config").string(); }
  TempDir dir_{"sandboxd-kubeconfig"};
};

TEST_F(Kubeconfig, CurrentContextGivesServerTokenCaAndNamespace) {
  auto c = load_kubeconfig(path());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->token, "abc.def");
  EXPECT_EQ(c->ca_file, (dir_ / "kube/pki/ca.crt").string());  // relative to the file
  EXPECT_TRUE(c->ca_pem.empty());
  EXPECT_EQ(c->namespace_, "sandboxes");
  EXPECT_FALSE(c->insecure_skip_verify);
}

TEST_F(Kubeconfig, NamedContextDecodesTheDataKeys) {
  auto c = load_kubeconfig(path(), "prod");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://[::1]:7443");
  EXPECT_EQ(c->ca_pem, "-----BEGIN CERTIFICATE-----\n");
  EXPECT_EQ(c->cert_pem, "CERT");
  EXPECT_EQ(c->key_pem, "KEY");
  EXPECT_TRUE(c->insecure_skip_verify);
  EXPECT_TRUE(c->token.empty());
  EXPECT_TRUE(c->namespace_.empty());
  auto tls = c->tls();
  EXPECT_EQ(tls.cert_pem, "CERT");
  EXPECT_TRUE(tls.insecure_skip_verify);
}

TEST_F(Kubeconfig, TokenFileIsReadAndKeptForRotation) {
  write(dir_ / "kube/tok", "from-file\n");
  write(dir_ / "kube/key.pem", "K");
  auto c = load_kubeconfig(path(), "files");
  // client-certificate /abs/cert.pem does not exist: the error names file and key.
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message.find(path()), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("users[file-user].user.client-certificate"), std::string::npos)
      << c.error().message;
  write(dir_ / "kube/config",
        std::string(kTwoContexts).replace(std::string(kTwoContexts).find("/abs/cert.pem"), 13,
                                          "cert.pem"));
  write(dir_ / "kube/cert.pem", "C");
  c = load_kubeconfig(path(), "files");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->token, "from-file");
  EXPECT_EQ(c->token_file, (dir_ / "kube/tok").string());
  EXPECT_EQ(c->cert_file, (dir_ / "kube/cert.pem").string());
  EXPECT_EQ(c->key_file, (dir_ / "kube/key.pem").string());
}

TEST_F(Kubeconfig, UnknownContextNamesTheKey) {
  auto c = load_kubeconfig(path(), "staging");
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("contexts"), std::string::npos);
  EXPECT_NE(c.error().message.find("staging"), std::string::npos);
  EXPECT_NE(c.error().message.find(path()), std::string::npos);
}

TEST_F(Kubeconfig, ExecPluginIsRefusedByName) {
  write(dir_ / "kube/config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {exec: {command: aws, apiVersion: client.authentication.k8s.io/v1}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto c = load_kubeconfig(path());
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(c.error().message.find("users[u].user.exec"), std::string::npos) << c.error().message;
}

TEST_F(Kubeconfig, AuthProviderIsRefusedByName) {
  write(dir_ / "kube/config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1"}}]
users: [{name: u, user: {auth-provider: {name: gcp}}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
)");
  auto c = load_kubeconfig(path());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("auth-provider"), std::string::npos) << c.error().message;
}

TEST_F(Kubeconfig, BrokenFilesAreErrorsNamingTheFile) {
  write(dir_ / "kube/config", "clusters: [unclosed\n");
  auto c = load_kubeconfig(path());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find(path()), std::string::npos);
  auto missing = load_kubeconfig((dir_ / "nope").string());
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("nope"), std::string::npos);

  write(dir_ / "kube/config", R"(current-context: x
clusters: [{name: c, cluster: {server: "h:1"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  c = load_kubeconfig(path());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("clusters[c].cluster.server"), std::string::npos)
      << c.error().message;

  write(dir_ / "kube/config", R"(current-context: x
clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: "%%%"}}]
contexts: [{name: x, context: {cluster: c}}]
)");
  c = load_kubeconfig(path());
  ASSERT_FALSE(c);
  EXPECT_NE(c.error().message.find("certificate-authority-data"), std::string::npos)
      << c.error().message;
}

TEST(InCluster, ReadsServiceAccountFilesAndBracketsIpv6) {
  TempDir dir("sandboxd-sa");
  write(dir / "token", "sa-token\n");
  write(dir / "ca.crt", "CA");
  write(dir / "namespace", "sbx\n");
  auto c = load_in_cluster({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}},
                           dir.str());
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://[fd00::1]:443");
  EXPECT_EQ(c->token, "sa-token");
  EXPECT_EQ(c->token_file, (dir / "token").string());
  EXPECT_EQ(c->ca_file, (dir / "ca.crt").string());
  EXPECT_EQ(c->namespace_, "sbx");

  auto v4 = load_in_cluster({{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "6443"}},
                            dir.str());
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->server, "https://10.0.0.1:6443");
}

TEST(InCluster, MissingEnvOrTokenIsAnError) {
  TempDir dir("sandboxd-sa");
  auto no_env = load_in_cluster({}, dir.str());
  ASSERT_FALSE(no_env);
  EXPECT_NE(no_env.error().message.find("KUBERNETES_SERVICE_HOST"), std::string::npos);
  auto no_token = load_in_cluster(
      {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}, dir.str());
  ASSERT_FALSE(no_token);
  EXPECT_NE(no_token.error().message.find("token"), std::string::npos);
}

TEST(Base64, DecodesPaddedUnpaddedAndRejectsGarbage) {
  EXPECT_EQ(decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(decode_base64("aGVsbG8"), "hello");
  EXPECT_EQ(decode_base64("aGVs\nbG8h"), "hello!");
  EXPECT_EQ(decode_base64(""), "");
  EXPECT_FALSE(decode_base64("aGV*bG8="));
  EXPECT_FALSE(decode_base64("a"));
  EXPECT_FALSE(decode_base64("aGVsbG8=x"));
}

}  // namespace
}  // namespace sbx::testing
