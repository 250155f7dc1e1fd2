// The sandbox-events binary as a separate process: a secondary of a primary that lives in
// this test process, ended by SIGTERM like a user's Ctrl-C.
#include "src/tools/cli.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "events/codec.h"
#include "tests/support/temp_dir.h"
#include "tests/tools/fixture.h"

namespace sbx {
namespace {

namespace fs = std::filesystem;
using testing::FixtureWriter;
using testing::TempDir;

const fs::path kBinary = fs::path(SANDBOXD_BINARY_DIR) / "sandbox-events";

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::size_t count_lines(const std::string& s) { return std::count(s.begin(), s.end(), '\n'); }

// Starts the binary with stdout/stderr redirected to files; returns its pid.
pid_t spawn(const std::vector<std::string>& args, const fs::path& out, const fs::path& err) {
  std::vector<std::string> all = {kBinary.string()};
  all.insert(all.end(), args.begin(), args.end());
  pid_t pid = ::fork();
  if (pid == 0) {
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    FILE* o = std::freopen(out.c_str(), "w", stdout);
    FILE* e = std::freopen(err.c_str(), "w", stderr);
    if (o == nullptr || e == nullptr) ::_exit(127);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

bool wait_until(const std::function<bool()>& done, std::chrono::seconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

class Binary : public ::testing::Test {
 protected:
  void SetUp() override {
    // tests/CMakeLists.txt makes tools_test depend on the binary: it is always built.
    ASSERT_TRUE(fs::exists(kBinary)) << kBinary << " is not built (ninja sandbox-events)";
  }
};

TEST_F(Binary, FollowSeesALiveAppendAndExitsZeroOnSigterm) {
  TempDir dir, logs;
  StoreOptions o;
  o.path = dir.str();
  o.sync = false;
  auto primary = EventStore::open(o);
  ASSERT_TRUE(primary) << primary.error().message;
  FixtureWriter w(**primary);
  testing::write_fixture(w);
  ASSERT_FALSE(HasFatalFailure());

  const fs::path out = logs / "out", err = logs / "err";
  pid_t pid = spawn({"follow", "--interval", "50", "--data", dir.str()}, out, err);
  ASSERT_GT(pid, 0);
  bool dumped = wait_until([&] { return count_lines(read_all(out)) >= testing::kFixtureEvents; },
                           std::chrono::seconds(30));
  if (!dumped) ::kill(pid, SIGKILL);
  ASSERT_TRUE(dumped) << read_all(err);

  w.run(testing::kSandboxA, PauseSandbox{}, "api:key-1");
  const std::string new_id = w.last_event_id();
  bool followed = wait_until([&] { return read_all(out).find(new_id) != std::string::npos; },
                             std::chrono::seconds(30));
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(followed) << read_all(out) << read_all(err);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << WTERMSIG(status);
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_all(err);
  std::string text = read_all(out);
  EXPECT_EQ(count_lines(text), testing::kFixtureEvents + 1);
  EXPECT_EQ(read_all(err), "");  // no store logging unless --verbose
}

TEST_F(Binary, ExitCodes) {
  TempDir dir, logs;
  const fs::path out = logs / "out", err = logs / "err";
  auto run = [&](const std::vector<std::string>& args) {
    pid_t pid = spawn(args, out, err);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(run({"dump", "--data", (dir / "missing").string()}), 2);
  EXPECT_EQ(read_all(err),
            "sandbox-events: no sandboxd data directory at " + (dir / "missing").string() + "\n");
  EXPECT_EQ(run({"--help"}), 0);
  EXPECT_EQ(run({"frobnicate"}), 2);
  {
    StoreOptions o;
    o.path = (dir / "data").string();
    o.sync = false;
    auto store = EventStore::open(o);
    ASSERT_TRUE(store);
    FixtureWriter w(**store);
    testing::write_fixture(w);
  }
  EXPECT_EQ(run({"verify", "--data", (dir / "data").string()}), 0);
  EXPECT_EQ(run({"--data", (dir / "data").string(), "stats"}), 0);
  EXPECT_NE(read_all(out).find("SandboxRequested"), std::string::npos);
}

}  // namespace
}  // namespace sbx
