// The official OpenSandbox Python SDK against sandboxd on Kubernetes (tests/kubernetes/
// sdk_kubernetes.py): its readiness wait resolves the execd endpoint, which on Kubernetes with
// direct ingress is {podIP}:44772, and pings it. The test plays the kubelet with loopback pod
// IPs (127.0.0.N) and binds a stand-in execd there that answers every request 200, so the
// SDK's ping reaches "the pod" through the endpoint sandboxd returned. API key on.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <poll.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "tests/e2e/e2e_harness.h"
#include "tests/e2e/sdk_venv.h"
#include "tests/kubernetes/kube_test_util.h"
#include "tests/support/temp_dir.h"

namespace sbx::testing {
namespace {

using namespace std::chrono_literals;

// A stand-in execd on IP:44772: answers every request "200 OK" (an empty JSON body) and
// closes. Stops on destruction.
class PingServer {
 public:
  explicit PingServer(const std::string& ip, int port = 44772) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && ::listen(fd_, 16) == 0;
    thread_ = std::jthread([this](std::stop_token stop) { serve(stop); });
  }
  ~PingServer() {
    thread_.request_stop();
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  bool ok() const { return ok_; }
  int requests() const { return requests_.load(); }

 private:
  void serve(std::stop_token stop) {
    while (ok_ && !stop.stop_requested()) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      char buf[4096];
      pollfd pc{c, POLLIN, 0};
      if (::poll(&pc, 1, 2000) > 0) (void)::recv(c, buf, sizeof buf, 0);
      static const char kAnswer[] =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
          "Connection: close\r\n\r\n{}";
      (void)::send(c, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
      ::close(c);
      ++requests_;
    }
  }
  int fd_ = -1;
  bool ok_ = false;
  std::atomic<int> requests_{0};
  std::jthread thread_;
};

TEST(KubernetesPythonSdk, LifecycleScenario) {
  SBX_REQUIRE_KUBECONFIG(kubeconfig);
  const std::string venv_error = ensure_sdk_venv();
  ASSERT_EQ(venv_error, "");
  auto cluster = KubeCluster::create(kubeconfig, "sbx-sdk");
  ASSERT_TRUE(cluster);
  std::mutex mu;
  std::vector<std::unique_ptr<PingServer>> execds;
  Kubelet kubelet(*cluster, Kubelet::Options{
                                .loopback_ips = true,
                                .on_ready =
                                    [&](const std::string&, const std::string&,
                                        const std::string& ip) {
                                      std::lock_guard lock(mu);
                                      execds.push_back(std::make_unique<PingServer>(ip));
                                      EXPECT_TRUE(execds.back()->ok()) << "bind " << ip;
                                    }});
  TempDir dir("sandboxd-k8s-sdk");
  SandboxdOptions o;
  o.api_key = "k8s-sdk-key-" + std::to_string(::getpid());
  o.runtime_toml = "[runtime]\ntype = \"kubernetes\"\nexecd_image = \"sandboxd-test/execd:1\"\n\n"
                   "[kubernetes]\nkubeconfig_path = \"" + kubeconfig + "\"\nnamespace = \"" +
                   cluster->ns() + "\"\nlease_duration_seconds = 4\n";
  Sandboxd sandboxd(dir.path(), o);
  ASSERT_TRUE(sandboxd.start());

  const auto t0 = SteadyClock::now();
  ChildProcess py({(venv_dir() / "bin" / "python").string(),
                   source_dir() + "/tests/kubernetes/sdk_kubernetes.py", "--domain",
                   sandboxd.address(), "--image", kTestBusyboxImage, "--api-key", o.api_key},
                  {{"PYTHONUNBUFFERED", "1"}, {"OPEN_SANDBOX_API_KEY", ""},
                   {"OPEN_SANDBOX_DOMAIN", ""}});
  auto st = py.wait(std::chrono::milliseconds(180'000));
  if (!st) py.signal(SIGKILL);
  py.drain(std::chrono::milliseconds(1'000));
  std::cerr << "[timing] SDK scenario on Kubernetes " << seconds_since(t0) << " s\n";
  ASSERT_TRUE(st.has_value()) << "the SDK scenario did not finish in 180 s; output:\n"
                              << py.output();
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << "the SDK scenario failed; output:\n" << py.output() << "\n" << sandboxd.all_logs();
  EXPECT_NE(py.output().find(" passed, 0 failed"), std::string::npos) << py.output();
  {
    std::lock_guard lock(mu);
    ASSERT_FALSE(execds.empty());
    EXPECT_GT(execds.front()->requests(), 0) << "the SDK never reached the pod's execd";
  }
  EXPECT_TRUE(sandboxd.stop());
}

}  // namespace
}  // namespace sbx::testing
