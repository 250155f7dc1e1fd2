// ChildProcess: runs a program (fork + execve) for tests, with its stderr and stdout
// captured into one pipe that the test reads line by line with a deadline.
//
// Used to run the real `sandboxd` binary (start, wait for its "listening on" line, send
// SIGTERM or SIGKILL, check the exit status) and helper programs such as the Python SDK
// scenario. The destructor SIGKILLs a child that is still running and reaps it, so a
// failing test never leaves a process behind. Not thread-safe: one owner thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace sbx::testing {

class ChildProcess {
 public:
  // argv[0] is the program path. `env` entries are added to (and override) the parent's
  // environment. Throws std::runtime_error when the process cannot be started.
  ChildProcess(std::vector<std::string> argv, std::map<std::string, std::string> env = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Reads output until a line matches `pattern`; returns the match, or nullopt when the
  // timeout passes or the output ends first. Every line read is kept in output().
  std::optional<std::smatch> wait_for_line(const std::regex& pattern,
                                           std::chrono::milliseconds timeout);
  // Reads what is left until EOF or timeout.
  void drain(std::chrono::milliseconds timeout);

  void signal(int sig);
  // Waits for exit; returns the wait status (WIFEXITED...) or nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  const std::string& output() const { return output_; }

 private:
  bool read_some(std::chrono::steady_clock::time_point deadline);

  pid_t pid_ = -1;
  int fd_ = -1;
  bool reaped_ = false;
  std::string output_;
  std::string pending_;  // read but not yet split into lines
  std::size_t scanned_ = 0;
};

}  // namespace sbx::testing
