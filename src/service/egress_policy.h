// The egress sidecar's policy API as the service sees it: one call of
// `<method> /policy` on the sidecar's published 18080 host port, with the sandbox's token in
// OPENSANDBOX-EGRESS-AUTH. The composition root implements it over HTTP
// (src/server/egress_policy_client.h); tests may give a fake. The service never calls it on
// an HTTP thread (SandboxService::network_policy_async runs on its mutation threads).
//
// Errors: kUnavailable when the sidecar cannot be reached or does not answer in time (the
// message says which); any HTTP answer, 4xx/5xx included, is a reply.
// Implementations are thread-safe.
#pragma once

#include <string>

#include "events/result.h"

namespace sbx {

struct EgressReply {
  int status = 0;
  std::string body;
};

class EgressPolicyClient {
 public:
  virtual ~EgressPolicyClient() = default;
  [[nodiscard]] virtual Result<EgressReply> call(const std::string& method, int host_port,
                                                 const std::string& token,
                                                 const std::string& body) = 0;
};

}  // namespace sbx
