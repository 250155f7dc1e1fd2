// StoreParts: the parts one open EventStore is made of, in construction order (each refers
// to those before it). EventStore (event_store.h) is a facade over them: the open/load/
// close path (store_open.h) builds and tears them down, the methods delegate. store/ only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "store/commit_feed.h"
#include "store/projection.h"
#include "store/reads.h"
#include "store/store_context.h"
#include "store/store_health.h"
#include "store/write_pipeline.h"

namespace sbx::store_detail {

struct StoreParts {
  StoreContext ctx;
  StoreHealth health{ctx};
  SandboxProjection projection;
  CommitFeed feed{ctx.logger};
  WritePipeline pipeline{ctx, health, projection, feed};
  StoreReads reads{ctx, health, projection, feed};

  // Sandboxes whose projection record and part of whose stream did not decode at open:
  // a SandboxFailed is appended to each once the writers run (store_open.h).
  struct PendingFailure {
    std::string id;
    std::uint64_t version = 0;
    std::string message;
  };
  std::vector<PendingFailure> pending_failures;
};

}  // namespace sbx::store_detail
