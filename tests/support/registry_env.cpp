#include "tests/support/registry_env.h"

#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <map>

#include "tests/support/child_process.h"

namespace sbx::testing {
namespace {

// Runs `argv` to completion (bounded); the exit status and output.
bool run(const std::vector<std::string>& argv, std::chrono::seconds timeout, std::string& output) {
  try {
    ChildProcess child(argv);
    child.drain(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    auto status = child.wait(std::chrono::milliseconds(5000));
    output = child.output();
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
  } catch (const std::exception& e) {
    output = e.what();
    return false;
  }
}

}  // namespace

TestRegistry::~TestRegistry() {
  if (dir_ && !script_.empty()) {
    std::string ignored;
    run({"/bin/bash", script_, "stop", dir_->str()}, std::chrono::seconds(40), ignored);
  }
}

const std::string& TestRegistry::dir() const {
  static const std::string kNone;
  return dir_ ? dir_->path().native() : kNone;
}

bool TestRegistry::start(const std::string& source_dir, const std::string& docker_host) {
  dir_ = std::make_unique<TempDir>("sbx-registry");
  script_ = source_dir + "/scripts/registry-env.sh";
  std::string output;
  if (!run({"/bin/bash", script_, "start", dir_->str(), docker_host}, std::chrono::seconds(180),
           output)) {
    error_ = "scripts/registry-env.sh start failed:\n" + output;
    return false;
  }
  std::ifstream env(dir_->path() / "env");
  std::map<std::string, std::string> values;
  for (std::string line; std::getline(env, line);) {
    auto eq = line.find('=');
    if (eq != std::string::npos) values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  address_ = values["SBX_REGISTRY"];
  user_ = values["SBX_REGISTRY_USER"];
  password_ = values["SBX_REGISTRY_PASSWORD"];
  image_ = values["SBX_REGISTRY_IMAGE"];
  if (address_.empty() || user_.empty() || password_.empty() || image_.empty()) {
    error_ = "scripts/registry-env.sh wrote an incomplete " + (dir_->path() / "env").string() +
             "; its output:\n" + output;
    return false;
  }
  return true;
}

}  // namespace sbx::testing
