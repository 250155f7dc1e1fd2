// KubeCredentials: where the Kubernetes API server is and how sandboxd proves who it is,
// read either from a kubeconfig file (kubectl's format, parsed with yaml-cpp) or from the
// in-cluster service account (KUBERNETES_SERVICE_HOST/PORT + the token, ca.crt and
// namespace files that the kubelet mounts into every pod).
//
// Pure data plus two loaders; no network. Thread-safety: the loaders are reentrant.
//
// Errors (Result): kInvalidArgument for a file that cannot be read or parsed, a missing or
// malformed key, or a user auth method sandboxd does not implement (exec plugins,
// auth-provider). Every message names the file and the key at fault.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "events/result.h"
#include "src/runtime/base64.h"  // decode_base64, for the *-data keys
#include "src/http/http_client.h"

namespace sbx {

struct KubeCredentials {
  std::string server;      // "https://host:port" (IPv6 hosts bracketed)
  std::string token;       // bearer token; empty = none
  std::string token_file;  // re-read when it changes (in-cluster token rotation); empty = none
  std::string ca_file, ca_pem;      // server CA: a file path or PEM text (the PEM wins)
  std::string cert_file, cert_pem;  // client certificate
  std::string key_file, key_pem;    // its key
  bool insecure_skip_verify = false;
  std::string namespace_;  // from the kubeconfig context or the in-cluster file; may be empty

  // The TLS part as HttpClient takes it.
  HttpTlsOptions tls() const;
};

inline constexpr const char* kDefaultServiceAccountDir =
    "/var/run/secrets/kubernetes.io/serviceaccount";

// Reads `path` and resolves `context` (empty = the file's current-context) to its cluster
// and user. Relative file paths in the file resolve against the kubeconfig's directory;
// `*-data` keys are base64-decoded PEM. Supported user keys: token, tokenFile,
// client-certificate(-data), client-key(-data) (username/password too: refused, as are
// exec and auth-provider).
Result<KubeCredentials> load_kubeconfig(const std::string& path, const std::string& context = "");

// In-cluster credentials: server from KUBERNETES_SERVICE_HOST/PORT in `env` (the process
// environment at the call site), token file (re-read on rotation), ca.crt and namespace
// from `service_account_dir`. The namespace file may be absent (namespace_ stays empty).
Result<KubeCredentials> load_in_cluster(const std::map<std::string, std::string>& env,
                                        const std::string& service_account_dir =
                                            kDefaultServiceAccountDir);


}  // namespace sbx
