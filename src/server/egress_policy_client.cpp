#include "src/server/egress_policy_client.h"

#include <utility>

#include "src/common/egress_token.h"
#include "src/http/http_client.h"

namespace sbx {

HttpEgressPolicyClient::HttpEgressPolicyClient(std::string host, std::chrono::milliseconds timeout)
    : host_(std::move(host)), timeout_(timeout) {}

std::string HttpEgressPolicyClient::host_for(const std::string& ip) {
  if (ip.empty() || ip == "0.0.0.0") return "127.0.0.1";
  if (ip == "::" || ip == "[::]") return "[::1]";
  if (ip.find(':') != std::string::npos && ip.front() != '[') return "[" + ip + "]";
  return ip;
}

Result<EgressReply> HttpEgressPolicyClient::call(const std::string& method, int host_port,
                                                 const std::string& token,
                                                 const std::string& body) {
  auto client = HttpClient::create(HttpClientOptions{
      .endpoint = "http://" + host_ + ":" + std::to_string(host_port),
      .connect_timeout = timeout_,
      .request_timeout = timeout_,
  });
  if (!client) return std::unexpected(client.error());
  HttpRequest req;
  req.method = method;
  req.target = "/policy";
  req.headers.push_back({std::string(kEgressAuthHeader), token});
  if (!body.empty()) {
    req.headers.push_back({"Content-Type", "application/json"});
    req.headers.push_back({"Expect", ""});  // no 100-continue round trip
    req.body = body;
  }
  auto r = (*client)->send(req);
  if (!r) {
    Error e = r.error();
    e.code = ErrorCode::kUnavailable;
    return std::unexpected(std::move(e));
  }
  return EgressReply{r->status, std::move(r->body)};
}

}  // namespace sbx
