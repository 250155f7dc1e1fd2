#include "store/write_pipeline.h"

#include <pthread.h>

#include <chrono>
#include <memory>
#include <optional>

#include "store/layout.h"

namespace sbx::store_detail {

void WritePipeline::start(std::uint64_t head) {
  next_position_ = head + 1;
  for (int i = 0; i < kWriters; ++i) {
    writers_.emplace_back([this] {
      pthread_setname_np(pthread_self(), "sbx-store-write");
      writer_loop();
    });
  }
}

void WritePipeline::stop() {
  {
    std::lock_guard l(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  for (auto& w : writers_) {
    if (w.joinable()) w.join();
  }
  std::unique_lock l(queue_mu_);
  callers_cv_.wait(l, [&] { return callers_writing_ == 0; });
}

Result<AppendResult> WritePipeline::append(AppendRequest request) {
  if (ctx_.options.read_only) {
    return fail(ErrorCode::kFailedPrecondition, "the store is open read-only");
  }
  if (auto r = health_.refuse_write(); !r) return std::unexpected(r.error());
  Completion done(1);
  Request r;
  r.req = std::move(request);
  r.done = &done;

  // Fast path: when no other thread is forming a group and the pipeline has room, the
  // caller forms and writes the group itself (taking along whatever is queued), which
  // saves the two thread hand-offs (to a writer thread and back) a lone append would pay.
  std::unique_lock stage_lock(stage_mu_, std::try_to_lock);
  if (stage_lock.owns_lock()) {
    bool has_room;
    {
      std::lock_guard l(inflight_.mu);
      has_room = room();
    }
    if (has_room) {
      Group g;
      {
        std::lock_guard l(queue_mu_);
        if (stopping_) return fail(ErrorCode::kUnavailable, "the store is closed");
        ++callers_writing_;
        g.requests.push_back(&r);
        g.events = r.req.events.size();
        take_queued(g);
      }
      start_group(g);
      stage_lock.unlock();
      stager_.encode_events(g);
      stager_.encode_projections(g);
      write_group(g);
      {
        std::lock_guard l(queue_mu_);
        --callers_writing_;
      }
      callers_cv_.notify_all();
      return std::move(r.result);
    }
    stage_lock.unlock();
  }

  {
    std::lock_guard l(queue_mu_);
    if (stopping_) return fail(ErrorCode::kUnavailable, "the store is closed");
    queue_.push_back(&r);
  }
  queue_cv_.notify_one();
  done.wait();
  return std::move(r.result);
}

std::vector<Result<AppendResult>> WritePipeline::append_all(std::vector<AppendRequest> requests) {
  std::vector<Result<AppendResult>> out;
  out.reserve(requests.size());
  if (requests.empty()) return out;
  if (ctx_.options.read_only) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      out.push_back(fail(ErrorCode::kFailedPrecondition, "the store is open read-only"));
    }
    return out;
  }
  if (auto r = health_.refuse_write(); !r) {
    for (std::size_t i = 0; i < requests.size(); ++i) out.push_back(std::unexpected(r.error()));
    return out;
  }
  Completion done(static_cast<std::uint32_t>(requests.size()));
  std::vector<Request> rs(requests.size());
  bool accepted = false;
  {
    std::lock_guard l(queue_mu_);
    if (!stopping_) {
      accepted = true;
      for (std::size_t i = 0; i < requests.size(); ++i) {
        rs[i].req = std::move(requests[i]);
        rs[i].done = &done;
        queue_.push_back(&rs[i]);
      }
    }
  }
  if (!accepted) {
    for (std::size_t i = 0; i < requests.size(); ++i) {
      out.push_back(fail(ErrorCode::kUnavailable, "the store is closed"));
    }
    return out;
  }
  queue_cv_.notify_one();
  done.wait();
  for (auto& r : rs) out.push_back(std::move(r.result));
  return out;
}

void WritePipeline::writer_loop() {
  for (;;) {
    {
      // Idle writers wait here without stage_mu_, so an appender can take the fast path.
      std::unique_lock l(queue_mu_);
      queue_cv_.wait(l, [&] { return !queue_.empty() || stopping_; });
      if (stopping_) {
        // Pending appends fail; nothing of theirs was written.
        for (Request* r : queue_) {
          r->result = fail(ErrorCode::kUnavailable, "the store is closing");
          r->done->count_down();
        }
        queue_.clear();
        return;
      }
    }
    {
      // At most one group ahead of the one being written, and only once that one is
      // sealed: until then it takes in what is queued (big groups, few fsyncs). Waited
      // for without stage_mu_, which the group ahead needs to take requests in.
      std::unique_lock l(inflight_.mu);
      inflight_.cv.wait(l, [&] { return room(); });
    }
    auto g = std::make_unique<Group>();
    {
      std::unique_lock stage_lock(stage_mu_);
      {
        std::lock_guard l(inflight_.mu);
        if (!room()) continue;  // another thread formed a group meanwhile
      }
      {
        std::lock_guard l(queue_mu_);
        take_queued(*g);
      }
      if (g->requests.empty()) continue;  // another writer, an appender or a group took them
      start_group(*g);
    }
    stager_.encode_events(*g);  // JSON encoding, outside stage_mu_: overlaps the previous write
    stager_.encode_projections(*g);
    write_group(*g);
  }
}

bool WritePipeline::room() const {
  return inflight_.groups.empty() ||
         (inflight_.groups.size() == 1 && inflight_.groups.front()->sealed);
}

void WritePipeline::take_queued(Group& g) {
  while (!queue_.empty()) {
    Request* r = queue_.front();
    if (!g.requests.empty() && g.events + r->req.events.size() > ctx_.options.max_batch_events) {
      break;
    }
    g.events += r->req.events.size();
    g.requests.push_back(r);
    queue_.pop_front();
  }
}

void WritePipeline::absorb(Group& g) {
  // stage_mu_ held, g is the newest staged group and it is its turn: nothing staged after it
  // has read its streams, and its positions continue at next_position_.
  const std::size_t from = g.requests.size();
  {
    std::lock_guard l(queue_mu_);
    take_queued(g);
  }
  if (g.requests.size() == from) return;
  stager_.stage_group(g, from);  // project() reopens the `after` of each stream it touches
  next_position_ = g.next;
}

void WritePipeline::start_group(Group& g) {
  {
    std::unique_lock l(inflight_.mu);
    if (staged_epoch_ != inflight_.epoch) {
      // A write failed: restart from the committed state once its successors drained.
      inflight_.cv.wait(l, [&] { return inflight_.groups.empty(); });
      staged_epoch_ = inflight_.epoch;
      next_position_ = feed_.head() + 1;
    }
    g.epoch = staged_epoch_;
  }
  g.seq = next_seq_++;
  g.next = next_position_;
  g.record_changes = feed_.has_listeners();
  if (g.record_changes) g.changes.reserve(g.events);
  stager_.stage_group(g, 0);
  next_position_ = g.next;
  std::lock_guard l(inflight_.mu);
  inflight_.groups.push_back(&g);
}

void WritePipeline::write_group(Group& g) {
  bool stale = false;
  {
    std::unique_lock l(inflight_.mu);
    inflight_.cv.wait(l, [&] { return inflight_.written_seq + 1 == g.seq; });
    stale = g.epoch != inflight_.epoch;
  }
  if (!stale) {
    // Take in what was queued while the predecessor was written, then seal. A group that
    // is not stale now cannot become stale (every group before it is written), so no
    // stager holds stage_mu_ waiting for it to drain (start_group waits so only after a
    // failed write, for the stale groups, which never take stage_mu_ here).
    std::unique_lock stage_lock(stage_mu_);
    if (next_seq_ == g.seq + 1 && g.requests.size() < kAbsorbBelow) absorb(g);
    std::lock_guard l(inflight_.mu);
    g.sealed = true;
  } else {
    std::lock_guard l(inflight_.mu);
    g.sealed = true;
  }
  inflight_.cv.notify_all();
  if (!stale) {
    stager_.encode_events(g);
    stager_.encode_projections(g);
  }
  std::optional<Error> failed;
  if (stale) {
    failed = Error(ErrorCode::kUnavailable, "an earlier append write failed; retry", "store");
  } else if (g.batch.Count() > 0) {
    if (resume_needed_) {
      rocksdb::Status s = ctx_.db->Resume();
      if (s.ok()) {
        resume_needed_ = false;
        health_.set_writable(true);
        ctx_.logger.info("store resumed writing after an error");
      } else {
        failed = layout::to_error(s, "the store cannot write");
      }
    }
    if (!failed) {
      auto t0 = std::chrono::steady_clock::now();
      rocksdb::Status s = ctx_.db->Write(ctx_.write_options, &g.batch);
      g.stats.write_micros = elapsed_micros(t0);
      if (!s.ok()) {
        resume_needed_ = true;
        health_.set_writable(false);
        failed = layout::to_error(s, "append write failed");
        ctx_.logger.error(failed->message);
      }
    }
    if (failed) {
      failed->code = ErrorCode::kUnavailable;
      failed->field = "store";
      std::lock_guard l(inflight_.mu);
      ++inflight_.epoch;  // every group staged on top of this one fails too
    }
  }

  if (!failed) {
    // Durable: publish to memory. The head moves inside the projection's lock, so a reader
    // that sees the new projection also sees the new head (and the events up to it), and a
    // consumer woken by the head sees the new projection.
    std::unique_lock l(projection_.mu);
    for (auto& [stream, w] : g.streams) {
      if (w.removed && (w.sandbox || w.snapshot)) {
        projection_.versions.erase(stream);  // kept in the stream index; bounded cache
      } else {
        projection_.versions.insert_or_assign(stream, w.version);
      }
      if (!w.touched) continue;
      if (w.snapshot) {
        if (w.snap_after) {
          projection_.snapshots.insert_or_assign(std::string(snapshot_id_of(stream)), w.snap_after);
        } else if (auto it = projection_.snapshots.find(snapshot_id_of(stream));
                   it != projection_.snapshots.end()) {
          projection_.snapshots.erase(it);
        }
        continue;
      }
      if (w.pool) {
        if (w.pool_after) {
          projection_.pools.insert_or_assign(std::string(pool_name_of(stream)), w.pool_after);
        } else if (auto it = projection_.pools.find(pool_name_of(stream));
                   it != projection_.pools.end()) {
          projection_.pools.erase(it);
        }
        continue;
      }
      if (w.after) {
        projection_.live.insert_or_assign(sandbox_id_of(stream), w.after);
      } else {
        projection_.live.erase(sandbox_id_of(stream));
      }
    }
    feed_.publish(g.next - 1);
    l.unlock();
  }
  {
    std::lock_guard l(inflight_.mu);
    inflight_.groups.pop_front();  // == &g
    inflight_.written_seq = g.seq;
  }
  inflight_.cv.notify_all();

  // Wake the appenders, then run the listeners (in seq order, off the write path).
  const bool have_listeners = feed_.has_listeners();
  std::shared_ptr<CommittedBatch> committed;
  if (have_listeners && !failed) {
    committed = std::make_shared<CommittedBatch>();
    committed->events.reserve(g.stats.events);
    committed->stats = g.stats;
  }
  for (Request* r : g.requests) {
    if (failed && r->in_batch) r->result = std::unexpected(*failed);
    if (committed && r->result && !r->result->deduplicated && r->in_batch) {
      for (auto& e : r->req.events) committed->events.push_back(std::move(e));
    }
    r->done->count_down();  // r is gone after this
  }
  {
    std::unique_lock l(listen_mu_);
    listen_cv_.wait(l, [&] { return listened_seq_ + 1 == g.seq; });
  }
  if (committed && !committed->events.empty()) {
    committed->first_position = committed->events.front().position;
    committed->last_position = committed->events.back().position;
    committed->changes = std::move(g.changes);
    feed_.deliver(committed);
  }
  {
    std::lock_guard l(listen_mu_);
    listened_seq_ = g.seq;
  }
  listen_cv_.notify_all();
}

}  // namespace sbx::store_detail
