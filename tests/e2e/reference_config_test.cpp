// The reference server's own example configurations (`opensandbox-server init-config
// --example docker|k8s`, from the pinned PyPI package) load into sandboxd: every key is read
// under its name or set aside with a warning that gives the reason, and the reference's
// `[store] type = "sqlite", path = "~/.opensandbox/opensandbox.db"` never becomes our store.
// The real binary then starts on the Docker example (its port replaced by a free one) with
// HOME in a temp dir, and keeps its RocksDB log where its warning says.
//
// The reference server's venv: tests/e2e/reference_venv.h.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <regex>

#include "src/config/config.h"
#include "tests/e2e/e2e_fixture.h"
#include "tests/e2e/reference_venv.h"

namespace sbx::testing {
namespace {

using std::chrono::milliseconds;
namespace fs = std::filesystem;

class ReferenceConfig : public E2eTest {
 protected:
  // Writes the reference's packaged example `name` to `path`; "" or what went wrong.
  static std::string init_config(const std::string& name, const fs::path& path) {
    ChildProcess p({reference_server_bin().string(), "init-config", "--example", name,
                    path.string()},
                   {{"HOME", path.parent_path().string()}});
    auto st = p.wait(milliseconds(60'000));
    if (!st) {
      p.signal(SIGKILL);
      return "init-config did not finish in 60 s";
    }
    p.drain(milliseconds(500));
    if (!WIFEXITED(*st) || WEXITSTATUS(*st) != 0 || !fs::exists(path)) {
      return "init-config --example " + name + " failed: " + p.output();
    }
    return "";
  }

  static std::string warnings_text(const LoadedConfig& c) {
    std::string out;
    for (const auto& w : c.warnings) out += w.message + "\n";
    return out;
  }
};

TEST_F(ReferenceConfig, TheDockerExampleLoadsAndTheServerKeepsItsStoreApart) {
  ASSERT_EQ(ensure_reference_venv(), "");
  const fs::path home = dir_->path() / "home";
  fs::create_directories(home);
  const fs::path example = dir_->path() / "reference-docker.toml";
  ASSERT_EQ(init_config("docker", example), "");
  std::string text = read_text(example);
  ASSERT_NE(text.find("type = \"sqlite\""), std::string::npos) << "the example changed:\n" << text;

  const EnvMap env{{"HOME", home.string()}};
  auto loaded = parse_config(text, example.string(), env);
  ASSERT_TRUE(loaded) << loaded.error().message;
  const Config& c = loaded->config;
  const std::string warnings = warnings_text(*loaded);
  EXPECT_EQ(c.store.path, (home / ".sandboxd" / "data").string());
  EXPECT_NE(warnings.find("store.type = \"sqlite\" is the reference server's database"),
            std::string::npos)
      << warnings;
  // What the example sets under the reference's names is honoured under ours.
  EXPECT_EQ(c.docker.network_mode, "bridge");
  EXPECT_EQ(c.docker.port_range_low, 40000);
  EXPECT_EQ(c.docker.port_range_high, 60000);
  EXPECT_EQ(c.server.log_level, "INFO");
  EXPECT_EQ(c.server.max_sandbox_timeout_seconds, 86400);
  EXPECT_FALSE(c.renew_intent.enabled);
  // Nothing of it is an unexplained "unknown key": each warning says why.
  for (const auto& w : loaded->warnings) {
    EXPECT_EQ(w.message.find("unknown"), std::string::npos) << w.message;
  }

  // The real binary on it: a free port instead of 8080, the private engine.
  const int port = free_loopback_port();
  text = std::regex_replace(text, std::regex("\nport = 8080\n"),
                            "\nport = " + std::to_string(port) + "\n");
  ASSERT_NE(text.find("port = " + std::to_string(port)), std::string::npos);
  write_text(example, text);
  const fs::path log = dir_->path() / "sandboxd-reference-config.log";
  ChildProcess server({"/bin/sh", "-c", "exec \"$0\" --config \"$1\" >\"$2\" 2>&1",
                       sandboxd_binary(), example.string(), log.string()},
                      {{"HOME", home.string()},
                       {"DOCKER_HOST", docker_host_},
                       {"OPENSANDBOX_SERVER_API_KEY", ""},
                       {"SANDBOX_CONFIG_PATH", ""},
                       {"PENDING_FAILURE_TTL", ""}});
  Http api("http://127.0.0.1:" + std::to_string(port), milliseconds(5'000));
  bool healthy = false;
  for (int i = 0; i < 300 && !healthy; ++i) {
    healthy = api.get("/health").status == 200;
    if (!healthy) sleep_ms(100);
  }
  EXPECT_TRUE(healthy) << read_text(log);
  EXPECT_EQ(api.get("/v1/sandboxes").status, 200);
  server.signal(SIGTERM);
  auto st = server.wait(milliseconds(30'000));
  if (!st) server.signal(SIGKILL);
  const std::string out = read_text(log);
  EXPECT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << out;
  EXPECT_NE(out.find("is the reference server's database"), std::string::npos) << out;
  EXPECT_TRUE(fs::exists(home / ".sandboxd" / "data" / "CURRENT")) << out;
  EXPECT_FALSE(fs::exists(home / ".opensandbox")) << "sandboxd created the reference's path";
}

TEST_F(ReferenceConfig, ItsDatabaseFileIsNeverOpenedAsOurStore) {
  ASSERT_EQ(ensure_reference_venv(), "");
  const fs::path home = dir_->path() / "home";
  fs::create_directories(home / ".opensandbox");
  const fs::path db = home / ".opensandbox" / "opensandbox.db";
  const std::string contents = std::string("SQLite format 3") + '\0' + "reference rows";
  write_text(db, contents);
  // A user who kept the reference's path but dropped its type.
  const fs::path config = dir_->path() / "kept-path.toml";
  const int port = free_loopback_port();
  write_text(config, "[server]\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
                         "\n[store]\npath = \"~/.opensandbox/opensandbox.db\"\n"
                         "[runtime]\ntype = \"docker\"\n");
  const fs::path log = dir_->path() / "sandboxd-kept-path.log";
  ChildProcess server({"/bin/sh", "-c", "exec \"$0\" --config \"$1\" >\"$2\" 2>&1",
                       sandboxd_binary(), config.string(), log.string()},
                      {{"HOME", home.string()},
                       {"DOCKER_HOST", docker_host_},
                       {"OPENSANDBOX_SERVER_API_KEY", ""},
                       {"SANDBOX_CONFIG_PATH", ""}});
  auto st = server.wait(milliseconds(30'000));
  if (!st) server.signal(SIGKILL);
  const std::string out = read_text(log);
  ASSERT_TRUE(st.has_value()) << "sandboxd kept running on a file store path:\n" << out;
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) != 0) << out;
  EXPECT_NE(out.find("is an existing file, not a sandboxd store"), std::string::npos) << out;
  EXPECT_EQ(read_text(db), contents);
  EXPECT_TRUE(fs::is_regular_file(db));
}

TEST_F(ReferenceConfig, TheKubernetesExampleLoads) {
  ASSERT_EQ(ensure_reference_venv(), "");
  const fs::path example = dir_->path() / "reference-k8s.toml";
  ASSERT_EQ(init_config("k8s", example), "");
  auto loaded = parse_config(read_text(example), example.string(), EnvMap{{"HOME", "/home/u"}});
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->config.runtime.type, RuntimeType::kKubernetes);
  EXPECT_EQ(loaded->config.store.path, "/home/u/.sandboxd/data");
  std::cerr << "[reference k8s example] warnings:\n" << warnings_text(*loaded);
}

}  // namespace
}  // namespace sbx::testing
