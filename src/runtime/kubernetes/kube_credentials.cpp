#include "src/runtime/kubernetes/kube_credentials.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

namespace sbx {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return std::nullopt;
  return s.str();
}

// "clusters[c].cluster" + "server" -> "clusters[c].cluster.server"; "" + "x" -> "x".
std::string join(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

std::string trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return s.substr(i);
}

// Reads one kubeconfig; every error names the file and the key ("users[alice].user.token").
class KubeconfigReader {
 public:
  KubeconfigReader(std::string path) : path_(std::move(path)) {
    dir_ = std::filesystem::path(path_).parent_path().string();
  }

  Error error(const std::string& key, const std::string& what) const {
    return Error(ErrorCode::kInvalidArgument, "kubeconfig " + path_ + ": " + key + ": " + what,
                 key);
  }

  // A scalar string under `node[key]`, "" when absent; an error when not a scalar.
  Result<std::string> scalar(const YAML::Node& node, const char* key,
                             const std::string& where) const {
    const YAML::Node v = node[key];
    if (!v.IsDefined() || v.IsNull()) return std::string();
    if (!v.IsScalar()) return std::unexpected(error(join(where, key), "must be a string"));
    return v.Scalar();
  }

  Result<bool> boolean(const YAML::Node& node, const char* key, const std::string& where) const {
    const YAML::Node v = node[key];
    if (!v.IsDefined() || v.IsNull()) return false;
    try {
      return v.as<bool>();
    } catch (const YAML::Exception&) {
      return std::unexpected(error(join(where, key), "must be true or false"));
    }
  }

  // The `inner` map of the entry named `name` in the list `list` (clusters, users, contexts).
  Result<YAML::Node> named(const YAML::Node& root, const char* list, const char* inner,
                           const std::string& name) const {
    const YAML::Node l = root[list];
    if (!l.IsDefined() || l.IsNull()) {
      return std::unexpected(error(list, "missing (looking for '" + name + "')"));
    }
    if (!l.IsSequence()) return std::unexpected(error(list, "must be a list"));
    for (std::size_t i = 0; i < l.size(); ++i) {
      const YAML::Node e = l[i];
      if (!e.IsMap()) continue;
      const YAML::Node n = e["name"];
      if (n.IsDefined() && n.IsScalar() && n.Scalar() == name) {
        const YAML::Node v = e[inner];
        if (!v.IsDefined() || v.IsNull()) return YAML::Node(YAML::NodeType::Map);
        if (!v.IsMap()) {
          return std::unexpected(
              error(std::string(list) + "[" + name + "]." + inner, "must be a map"));
        }
        return v;
      }
    }
    return std::unexpected(error(list, "no entry named '" + name + "'"));
  }

  std::string resolve(const std::string& p) const {
    if (p.empty() || p.front() == '/' || dir_.empty()) return p;
    return (std::filesystem::path(dir_) / p).string();
  }

  // A `<base>` (file path) / `<base>-data` (base64 PEM) pair into file / pem.
  Result<void> file_or_data(const YAML::Node& node, const std::string& base,
                            const std::string& where, std::string& file, std::string& pem) const {
    auto f = scalar(node, base.c_str(), where);
    if (!f) return std::unexpected(f.error());
    auto d = scalar(node, (base + "-data").c_str(), where);
    if (!d) return std::unexpected(d.error());
    if (!d->empty()) {
      auto decoded = decode_base64(*d);
      if (!decoded) return std::unexpected(error(where + "." + base + "-data", "not base64"));
      pem = std::move(*decoded);
    } else if (!f->empty()) {
      file = resolve(*f);
      if (!std::filesystem::exists(file)) {
        return std::unexpected(error(where + "." + base, "file " + file + " does not exist"));
      }
    }
    return {};
  }

  Result<KubeCredentials> load(const std::string& wanted_context) const {
    auto text = read_file(path_);
    if (!text) return fail(ErrorCode::kInvalidArgument, "kubeconfig " + path_ + ": cannot read");
    YAML::Node root;
    try {
      root = YAML::Load(*text);
    } catch (const YAML::Exception& e) {
      return fail(ErrorCode::kInvalidArgument,
                  "kubeconfig " + path_ + ": not YAML: " + std::string(e.what()));
    }
    if (!root.IsMap()) return fail(ErrorCode::kInvalidArgument, "kubeconfig " + path_ + ": not a map");
    const YAML::Node& croot = root;

    std::string context_name = wanted_context;
    if (context_name.empty()) {
      auto cur = scalar(croot, "current-context", "");
      if (!cur) return std::unexpected(cur.error());
      if (cur->empty()) {
        return std::unexpected(error("current-context", "not set and no context was named"));
      }
      context_name = *cur;
    }
    auto ctx = named(croot, "contexts", "context", context_name);
    if (!ctx) return std::unexpected(ctx.error());
    const std::string cwhere = "contexts[" + context_name + "].context";
    auto cluster_name = scalar(*ctx, "cluster", cwhere);
    if (!cluster_name) return std::unexpected(cluster_name.error());
    if (cluster_name->empty()) return std::unexpected(error(cwhere + ".cluster", "missing"));
    auto user_name = scalar(*ctx, "user", cwhere);
    if (!user_name) return std::unexpected(user_name.error());
    auto ns = scalar(*ctx, "namespace", cwhere);
    if (!ns) return std::unexpected(ns.error());

    KubeCredentials c;
    c.namespace_ = *ns;

    auto cluster = named(croot, "clusters", "cluster", *cluster_name);
    if (!cluster) return std::unexpected(cluster.error());
    const std::string kwhere = "clusters[" + *cluster_name + "].cluster";
    auto server = scalar(*cluster, "server", kwhere);
    if (!server) return std::unexpected(server.error());
    if (server->empty()) return std::unexpected(error(kwhere + ".server", "missing"));
    if (!server->starts_with("https://") && !server->starts_with("http://")) {
      return std::unexpected(error(kwhere + ".server", "want https://host:port, got " + *server));
    }
    c.server = *server;
    while (c.server.ends_with('/')) c.server.pop_back();
    if (auto r = file_or_data(*cluster, "certificate-authority", kwhere, c.ca_file, c.ca_pem); !r) {
      return std::unexpected(r.error());
    }
    auto insecure = boolean(*cluster, "insecure-skip-tls-verify", kwhere);
    if (!insecure) return std::unexpected(insecure.error());
    c.insecure_skip_verify = *insecure;

    if (!user_name->empty()) {
      auto user = named(croot, "users", "user", *user_name);
      if (!user) return std::unexpected(user.error());
      const std::string uwhere = "users[" + *user_name + "].user";
      for (const char* unsupported : {"exec", "auth-provider", "username", "password"}) {
        const YAML::Node v = (*user)[unsupported];
        if (v.IsDefined() && !v.IsNull()) {
          return std::unexpected(error(
              uwhere + "." + unsupported,
              std::string("this user auth method is not supported by sandboxd (use a token, "
                          "tokenFile or a client certificate)")));
        }
      }
      auto token = scalar(*user, "token", uwhere);
      if (!token) return std::unexpected(token.error());
      c.token = *token;
      auto token_file = scalar(*user, "tokenFile", uwhere);
      if (!token_file) return std::unexpected(token_file.error());
      if (!token_file->empty()) {
        c.token_file = resolve(*token_file);
        auto t = read_file(c.token_file);
        if (!t) {
          return std::unexpected(
              error(uwhere + ".tokenFile", "cannot read " + c.token_file));
        }
        if (c.token.empty()) c.token = trim(*t);
      }
      if (auto r = file_or_data(*user, "client-certificate", uwhere, c.cert_file, c.cert_pem); !r) {
        return std::unexpected(r.error());
      }
      if (auto r = file_or_data(*user, "client-key", uwhere, c.key_file, c.key_pem); !r) {
        return std::unexpected(r.error());
      }
      const bool has_cert = !c.cert_file.empty() || !c.cert_pem.empty();
      const bool has_key = !c.key_file.empty() || !c.key_pem.empty();
      if (has_cert != has_key) {
        return std::unexpected(error(uwhere + (has_cert ? ".client-key" : ".client-certificate"),
                                     "missing: a client certificate needs its key and the key "
                                     "its certificate"));
      }
    }
    return c;
  }

 private:
  std::string path_;
  std::string dir_;
};

}  // namespace

HttpTlsOptions KubeCredentials::tls() const {
  HttpTlsOptions t;
  t.ca_file = ca_file;
  t.ca_pem = ca_pem;
  t.cert_file = cert_file;
  t.cert_pem = cert_pem;
  t.key_file = key_file;
  t.key_pem = key_pem;
  t.insecure_skip_verify = insecure_skip_verify;
  return t;
}


Result<KubeCredentials> load_kubeconfig(const std::string& path, const std::string& context) {
  return KubeconfigReader(path).load(context);
}

Result<KubeCredentials> load_in_cluster(const std::map<std::string, std::string>& env,
                                        const std::string& service_account_dir) {
  auto get = [&env](const char* k) -> std::string {
    auto it = env.find(k);
    return it == env.end() ? std::string() : it->second;
  };
  std::string host = get("KUBERNETES_SERVICE_HOST");
  std::string port = get("KUBERNETES_SERVICE_PORT");
  if (host.empty() || port.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
                "(is sandboxd running in a pod?)",
                host.empty() ? "KUBERNETES_SERVICE_HOST" : "KUBERNETES_SERVICE_PORT");
  }
  for (char ch : port) {
    if (!std::isdigit(static_cast<unsigned char>(ch))) {
      return fail(ErrorCode::kInvalidArgument,
                  "in-cluster: KUBERNETES_SERVICE_PORT is not a port: " + port,
                  "KUBERNETES_SERVICE_PORT");
    }
  }
  if (host.find(':') != std::string::npos && !host.starts_with('[')) host = "[" + host + "]";
  KubeCredentials c;
  c.server = "https://" + host + ":" + port;
  const std::filesystem::path dir(service_account_dir);
  c.token_file = (dir / "token").string();
  auto token = read_file(c.token_file);
  if (!token) {
    return fail(ErrorCode::kInvalidArgument, "in-cluster: cannot read the token " + c.token_file,
                "token");
  }
  c.token = trim(*token);
  c.ca_file = (dir / "ca.crt").string();
  if (!read_file(c.ca_file)) {
    return fail(ErrorCode::kInvalidArgument, "in-cluster: cannot read the CA " + c.ca_file,
                "ca.crt");
  }
  if (auto ns = read_file((dir / "namespace").string())) c.namespace_ = trim(*ns);
  return c;
}

}  // namespace sbx
