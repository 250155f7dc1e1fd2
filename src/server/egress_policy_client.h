// EgressPolicyClient over HTTP (src/http): `<method> /policy` on
// http://<host>:<host port>/ with OPENSANDBOX-EGRESS-AUTH: <token> and, for a body,
// Content-Type: application/json. `host` is where the sidecars' published ports are
// reached from this process: docker.port_bind_ip, or 127.0.0.1 when that binds every
// address. Each call is bounded by `timeout` (connect included); no answer in time, or no
// connection, is kUnavailable. Thread-safe (a client per call).
#pragma once

#include <chrono>
#include <string>

#include "src/service/egress_policy.h"

namespace sbx {

class HttpEgressPolicyClient final : public EgressPolicyClient {
 public:
  HttpEgressPolicyClient(std::string host, std::chrono::milliseconds timeout);
  Result<EgressReply> call(const std::string& method, int host_port, const std::string& token,
                           const std::string& body) override;

  // docker.port_bind_ip -> the host to dial ("0.0.0.0", "" -> "127.0.0.1"; "::" -> "[::1]";
  // an IPv6 address bracketed).
  static std::string host_for(const std::string& port_bind_ip);

 private:
  std::string host_;
  std::chrono::milliseconds timeout_;
};

}  // namespace sbx
