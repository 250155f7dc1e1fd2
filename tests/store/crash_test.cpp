// kill -9 at random moments: every acknowledged append must survive, the log must stay
// gap-free and the projections must equal a replay of the log.
//
// The child is a separate executable (store_crash_helper, exec'd with posix_spawn: no fork
// of this multithreaded process) that appends from 16 threads with sync=true and reports
// each acknowledged append on a pipe. The parent SIGKILLs it after a random delay (some
// rounds while it is still opening/recovering), then reopens the store and checks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>

#include "events/pool_decider.h"
#include "store/event_store.h"
#include "tests/store/workload.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace sbx {
namespace {

using Clock = std::chrono::steady_clock;

struct Round {
  std::map<std::uint64_t, std::string> acked;  // position -> event id
  bool ready = false;
};

// Parses complete "A first last id..." lines out of `buffer` (keeps a partial tail).
void parse_lines(std::string& buffer, Round& round) {
  std::size_t start = 0;
  for (std::size_t nl; (nl = buffer.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::istringstream line(buffer.substr(start, nl - start));
    std::string tag;
    line >> tag;
    if (tag == "R") {
      round.ready = true;
      continue;
    }
    ASSERT_EQ(tag, "A");
    std::uint64_t first = 0, last = 0;
    line >> first >> last;
    std::string id;
    for (std::uint64_t p = first; p <= last; ++p) {
      ASSERT_TRUE(line >> id) << "short ack line";
      round.acked[p] = id;
    }
  }
  buffer.erase(0, start);
}

// Runs the helper until killed `kill_after` after it reported ready (or, with
// kill_before_ready, that long after the spawn). Returns what it acknowledged.
Round run_child(const std::string& path, std::chrono::milliseconds kill_after,
                bool kill_before_ready, std::uint64_t seed) {
  Round round;
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 3);  // dup2 clears FD_CLOEXEC on 3
  std::string helper = SBX_STORE_CRASH_HELPER;
  std::string threads = "16", fd = "3", seed_s = std::to_string(seed);
  char* argv[] = {helper.data(),  const_cast<char*>(path.c_str()),
                  threads.data(), fd.data(),
                  seed_s.data(),  nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, helper.c_str(), &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  EXPECT_EQ(rc, 0) << "spawn " << helper;
  if (rc != 0) {
    ::close(fds[0]);
    return round;
  }

  std::string buffer;
  char chunk[65536];
  auto deadline = kill_before_ready ? Clock::now() + kill_after : Clock::time_point::max();
  const auto give_up = Clock::now() + std::chrono::seconds(30);
  bool killed = false;
  for (;;) {
    auto now = Clock::now();
    if (!killed && now >= deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    if (!killed && now > give_up) {
      ADD_FAILURE() << "the helper never became ready";
      ::kill(pid, SIGKILL);
      killed = true;
    }
    int wait_ms = 50;
    if (!killed && deadline != Clock::time_point::max()) {
      wait_ms = static_cast<int>(std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count()));
    }
    pollfd p{fds[0], POLLIN, 0};
    int n = ::poll(&p, 1, wait_ms);
    if (n <= 0) continue;
    ssize_t got = ::read(fds[0], chunk, sizeof chunk);
    if (got <= 0) break;  // EOF: the child is dead
    buffer.append(chunk, static_cast<std::size_t>(got));
    bool was_ready = round.ready;
    parse_lines(buffer, round);
    if (!was_ready && round.ready && !kill_before_ready) deadline = Clock::now() + kill_after;
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "the helper exited by itself, status " << status;
  return round;
}

TEST(CrashRecovery, AcknowledgedAppendsSurviveSigkillAndProjectionsMatchTheLog) {
  testing::TempDir dir;
  const std::string path = dir.str();
  std::mt19937_64 rng(20261127);
  std::map<std::uint64_t, std::string> acked;
  constexpr int kRounds = 24;
  const auto started = Clock::now();
  std::uint64_t last_head = 0;
  std::uint64_t pool_events = 0;  // folded, summed over the rounds
  for (int round = 0; round < kRounds; ++round) {
    const bool early = round % 6 == 5;  // kill while opening / recovering
    auto delay = std::chrono::milliseconds(early ? rng() % 60 : 30 + rng() % 400);
    Round r = run_child(path, delay, early, rng());
    for (auto& [p, id] : r.acked) {
      auto [it, inserted] = acked.emplace(p, id);
      ASSERT_TRUE(inserted) << "position " << p << " acknowledged twice (round " << round << ")";
    }

    StoreOptions o;
    o.path = path;
    auto store = EventStore::open(o);
    ASSERT_TRUE(store) << "round " << round << ": " << store.error().message;
    auto log = (*store)->read(1, SIZE_MAX);
    ASSERT_TRUE(log) << log.error().message;
    const std::uint64_t head = (*store)->head();
    ASSERT_EQ(log->size(), head) << "round " << round;
    for (std::size_t i = 0; i < log->size(); ++i) {
      ASSERT_EQ((*log)[i].position, i + 1) << "gap in the log, round " << round;
    }
    ASSERT_GE(head, last_head) << "the log shrank";
    last_head = head;
    for (const auto& [p, id] : acked) {
      ASSERT_LE(p, head) << "acknowledged position " << p << " lost (round " << round << ")";
      ASSERT_EQ((*log)[p - 1].event_id, id) << "position " << p << " holds another event";
    }
    std::map<std::string, std::uint64_t> stream_versions;
    for (const auto& e : *log) {
      ASSERT_EQ(e.version, ++stream_versions[e.stream]) << "stream " << e.stream;
    }
    auto live = testing::replay_live(*log);
    ASSERT_EQ((*store)->live_sandbox_count(), live.size()) << "round " << round;
    std::map<SandboxState, std::size_t> counts;
    for (const auto& [id, s] : live) {
      auto got = (*store)->get_sandbox(id);
      ASSERT_NE(got, nullptr) << id;
      ASSERT_EQ(*got, s) << id;
      ++counts[s.state];
    }
    ASSERT_EQ(*(*store)->expiring(INT64_MAX, SIZE_MAX), testing::expected_expiry(live));
    ASSERT_EQ(*(*store)->count_by_state(), counts);
    for (const auto& [stream, v] : stream_versions) {
      ASSERT_EQ((*store)->stream_version(stream), v) << stream;
    }
    // The pools projection equals a fold of the pool streams.
    std::map<std::string, std::optional<Pool>> pools;
    for (const auto& e : *log) {
      const std::string_view name = pool_name_of(e.stream);
      if (name.empty()) continue;
      auto& p = pools[std::string(name)];
      if ((!p || p->deleted) && !opens_pool_stream(e.data)) continue;
      p = evolve_pool(p, e);
      ++pool_events;
    }
    std::size_t live_pools = 0;
    for (const auto& [name, p] : pools) {
      auto got = (*store)->get_pool(name);
      if (!p || p->deleted) {
        ASSERT_EQ(got, nullptr) << "pool " << name << " round " << round;
        continue;
      }
      ++live_pools;
      ASSERT_NE(got, nullptr) << "pool " << name << " round " << round;
      ASSERT_EQ(*got, *p) << "pool " << name << " round " << round;
    }
    ASSERT_EQ((*store)->list_pools().size(), live_pools) << "round " << round;
  }
  EXPECT_GT(acked.size(), 1000u) << "too few appends to mean anything";
  EXPECT_GT(pool_events, 0u) << "no pool events were folded";
  std::cout << "crash test: " << kRounds << " rounds, " << acked.size()
            << " acknowledged events, log head " << last_head << ", "
            << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
            << " ms\n";
}

}  // namespace
}  // namespace sbx
