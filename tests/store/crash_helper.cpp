// The child of the store crash test (crash_test.cpp): opens the store at argv[1] with
// sync=true, writes "R\n" to the file descriptor argv[3] once open, then appends from
// argv[2] threads forever (a random valid workload plus system-stream appends and the
// commands of one pool per thread: created, resized, deleted, created again) and reports
// every acknowledged append on that descriptor as one line
//   A <first_position> <last_position> <event id>...\n
// written with one write(2) (shorter than PIPE_BUF, hence atomic). It never exits by
// itself: the parent SIGKILLs it.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "events/pool_decider.h"
#include "store/event_store.h"
#include "tests/store/workload.h"

namespace {

std::mutex out_mu;
int out_fd = -1;

void report(const std::string& line) {
  std::lock_guard l(out_mu);
  if (::write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    std::_Exit(3);  // the parent is gone
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <store dir> <threads> <report fd> <seed>\n", argv[0]);
    return 2;
  }
  const int threads = std::atoi(argv[2]);
  out_fd = std::atoi(argv[3]);
  const std::uint64_t seed = std::strtoull(argv[4], nullptr, 10);
  sbx::StoreOptions o;
  o.path = argv[1];
  o.sync = true;
  auto store = sbx::EventStore::open(o);
  if (!store) {
    std::fprintf(stderr, "open failed: %s\n", store.error().message.c_str());
    return 2;
  }
  report("R\n");
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      sbx::testing::Workload w(**store, seed * 1000 + t);
      for (std::uint64_t i = 0;; ++i) {
        std::optional<sbx::Result<sbx::AppendResult>> r;
        std::vector<std::string> ids;
        if (i % 7 == 0) {
          sbx::AppendRequest req;
          req.stream = std::string(sbx::kSystemStream);
          req.expected = sbx::ExpectedVersion::any();
          req.events.push_back(sbx::testing::make_event(
              sbx::ReconcileFinding{"crash-test", std::to_string(t), std::to_string(i)}, w.now()));
          ids.push_back(req.events[0].event_id);
          r = (*store)->append(std::move(req));
        } else if (i % 11 == 3) {
          // The thread's own pool (no other thread writes its stream).
          const std::string name = "crash-" + std::to_string(t);
          auto current = (*store)->get_pool(name);
          std::optional<sbx::Pool> state;
          if (current) state = *current;
          sbx::PoolCommand command;
          if (!current) {
            sbx::CreatePool c;
            c.name = name;
            c.template_spec.image_uri = "img";
            c.template_json = "{}";
            c.capacity = {0, static_cast<std::int64_t>(i % 3), 0, 3};
            c.max_members = 8;
            command = std::move(c);
          } else if (i % 4 == 0) {
            command = sbx::DeletePool{};
          } else {
            command = sbx::UpdatePoolCapacity{{0, static_cast<std::int64_t>(i / 11 % 4), 0, 4}, 8};
          }
          auto events = sbx::decide_pool(state, command, w.now());
          if (!events || events->empty()) continue;
          sbx::AppendRequest req;
          req.stream = sbx::pool_stream_of(name);
          req.expected = sbx::ExpectedVersion::exactly((*store)->stream_version(req.stream));
          for (auto& d : *events) {
            req.events.push_back(sbx::testing::make_event(std::move(d), w.now()));
            ids.push_back(req.events.back().event_id);
          }
          r = (*store)->append(std::move(req));
        } else {
          r = w.step();
          ids = w.last_event_ids();
        }
        if (!r || !*r) continue;
        std::string line =
            "A " + std::to_string((*r)->first_position) + " " + std::to_string((*r)->last_position);
        for (const auto& id : ids) line += " " + id;
        line += "\n";
        report(line);
      }
    });
  }
  for (auto& t : ts) t.join();
  return 0;
}
