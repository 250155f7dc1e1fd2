// Fuzz target: the request parsers of the lifecycle API (api/request_parsing.h). Every
// input is tried as a POST /sandboxes body, a PATCH …/metadata body, a POST
// …/renew-expiration body, a POST /pools and a PUT /pools/{name} body, and a GET
// /sandboxes query string (api/http_util.h parse_query then parse_list_query). Nothing may
// crash, throw or hang, and what a parser accepts must obey the rules the parser documents:
//   create: exactly one of image / snapshotId (with poolRef: no snapshotId, image
//           optional); a valid image reference; entrypoint non-empty without NUL (required
//           with image unless poolRef); poolRef a pool name; timeout >= 60; env names
//           non-empty without '=' or NUL, values without NUL; at most kMaxMetadataEntries
//           metadata entries, each a valid label; cpu/memory parse with events/quantity.h
//           and lie in the accepted range.
//   pool:   a pool name, capacity values >= 0; the template has an image, an entrypoint,
//           no credentials, and obeys the create rules; template_json is JSON.
//   patch:  every key a valid label key (also for deletions), every value a valid value.
//   renew:  the instant survives format_rfc3339 -> parse_rfc3339.
//   query:  a parse survives percent-encoding every byte and parsing again; a list query
//           has page >= 1, pageSize 1..200, distinct states.
// A refusal is a 400, 413 or 422 with a code and a message.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "api/http_util.h"
#include "api/request_parsing.h"
#include "events/decider.h"
#include "events/pool.h"
#include "events/quantity.h"
#include "events/time.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace sbx;
using namespace sbx::api;

bool has_nul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

void check_refusal(const ApiError& e, const char* what) {
  FUZZ_CHECK(e.status == 400 || e.status == 413 || e.status == 422, "%s: status %d", what,
             e.status);
  FUZZ_CHECK(!e.code.empty() && !e.message.empty(), "%s: refusal without code or message", what);
}

// The rules every accepted spec obeys (a create's, or a pool template's).
void check_spec(const SandboxSpec& s);

void check_create(std::string_view body) {
  CreateParseOptions options;
  options.allowed_host_paths = {"/data", "/srv/shared"};
  auto r = parse_create_request(body, options);
  if (!r) return check_refusal(r.error(), "create");
  const SandboxSpec& s = r->spec;
  if (r->pool_ref.empty()) {
    FUZZ_CHECK(s.image_uri.empty() != s.snapshot_id.empty(), "image '%s' snapshot '%s'",
               s.image_uri.c_str(), s.snapshot_id.c_str());
    FUZZ_CHECK(!r->pool_warm_only, "poolWarmOnly without poolRef");
    if (!s.image_uri.empty()) FUZZ_CHECK(!s.entrypoint.empty(), "image without entrypoint");
  } else {
    FUZZ_CHECK(is_valid_pool_name(r->pool_ref), "poolRef %s", r->pool_ref.c_str());
    FUZZ_CHECK(s.snapshot_id.empty(), "snapshotId with poolRef");
  }
  check_spec(s);
  if (r->timeout_seconds) FUZZ_CHECK(*r->timeout_seconds >= 60, "timeout %lld",
                                     static_cast<long long>(*r->timeout_seconds));
  FUZZ_CHECK(r->metadata.size() <= kMaxMetadataEntries, "%zu metadata entries",
             r->metadata.size());
  for (const auto& [k, v] : r->metadata) {
    FUZZ_CHECK(metadata_key_problem(k).empty(), "metadata key %s", k.c_str());
    FUZZ_CHECK(metadata_value_problem(v).empty(), "metadata value %s", v.c_str());
  }
  if (r->image_auth) {
    FUZZ_CHECK(!has_nul(r->image_auth->username) && !has_nul(r->image_auth->password),
               "NUL in image.auth");
  }
}

void check_spec(const SandboxSpec& s) {
  if (!s.image_uri.empty()) {
    FUZZ_CHECK(image_reference_problem(s.image_uri).empty(), "image %s", s.image_uri.c_str());
  }
  FUZZ_CHECK(!has_nul(s.snapshot_id) && s.snapshot_id.size() <= 255, "snapshot id");
  for (const auto& a : s.entrypoint) FUZZ_CHECK(!has_nul(a), "NUL in entrypoint");
  for (const auto& [k, v] : s.env) {
    FUZZ_CHECK(!k.empty() && k.find('=') == std::string::npos && !has_nul(k), "env name");
    FUZZ_CHECK(!has_nul(v), "NUL in env value of %s", k.c_str());
  }
  if (auto it = s.resource_limits.find("cpu"); it != s.resource_limits.end()) {
    auto n = parse_cpu_quantity(it->second);
    FUZZ_CHECK(n && *n >= kMinCpuNanos && *n <= kMaxCpuNanos, "cpu %s", it->second.c_str());
  }
  if (auto it = s.resource_limits.find("memory"); it != s.resource_limits.end()) {
    auto n = parse_memory_quantity(it->second);
    FUZZ_CHECK(n && *n >= kMinMemoryBytes && *n <= kMaxMemoryBytes, "memory %s",
               it->second.c_str());
  }
  // image.auth is kept beside the spec (it never enters the log).
  FUZZ_CHECK(!s.image_auth_provided, "the parser sets spec.image_auth_provided");
}

void check_pool(std::string_view body) {
  auto r = parse_create_pool_request(body, CreateParseOptions{{"/data"}});
  if (r) {
    FUZZ_CHECK(is_valid_pool_name(r->name), "pool name %s", r->name.c_str());
    const PoolCapacity& c = r->capacity;
    FUZZ_CHECK(c.buffer_min >= 0 && c.buffer_max >= 0 && c.pool_min >= 0 && c.pool_max >= 0,
               "negative capacity");
    const CreateRequest& t = r->template_request;
    FUZZ_CHECK(!t.spec.image_uri.empty() && t.spec.snapshot_id.empty(), "template image");
    FUZZ_CHECK(!t.spec.entrypoint.empty(), "template without entrypoint");
    FUZZ_CHECK(!t.image_auth && t.metadata.empty() && !t.timeout_seconds && !t.secure_access &&
                   t.spec.extensions_json.empty() && t.pool_ref.empty(),
               "template keeps what a member cannot");
    FUZZ_CHECK(nlohmann::json::accept(r->template_json), "template_json is not JSON");
    check_spec(t.spec);
  } else {
    check_refusal(r.error(), "pool create");
  }
  auto u = parse_update_pool_request(body);
  if (!u) return check_refusal(u.error(), "pool update");
  FUZZ_CHECK(u->buffer_min >= 0 && u->buffer_max >= 0 && u->pool_min >= 0 && u->pool_max >= 0,
             "negative capacity");
}

void check_patch(std::string_view body) {
  auto r = parse_metadata_patch(body);
  if (!r) return check_refusal(r.error(), "patch");
  for (const auto& [k, v] : r->patch) {
    FUZZ_CHECK(metadata_key_problem(k).empty(), "patch key %s", k.c_str());
    if (v) FUZZ_CHECK(metadata_value_problem(*v).empty(), "patch value %s", v->c_str());
  }
}

void check_renew(std::string_view body) {
  auto r = parse_renew_request(body);
  if (!r) return check_refusal(r.error(), "renew");
  const std::string text = format_rfc3339(r->expires_at);
  auto back = parse_rfc3339(text);
  FUZZ_CHECK(back && *back == r->expires_at, "renew: %lld -> %s does not parse back",
             static_cast<long long>(r->expires_at), text.c_str());
}

std::string encode_all(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    out += '%';
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

void check_query(std::string_view raw) {
  auto params = parse_query(raw);
  if (!params) return;
  std::string again;
  for (const auto& [k, v] : *params) {
    if (!again.empty()) again += '&';
    again += encode_all(k) + "=" + encode_all(v);
  }
  auto reparsed = parse_query(again);
  FUZZ_CHECK(reparsed && *reparsed == *params, "query does not survive re-encoding: %s",
             again.c_str());
  auto q = parse_list_query(*params);
  if (!q) return check_refusal(q.error(), "list query");
  FUZZ_CHECK(q->page >= 1 && q->page <= 1'000'000, "page %d", q->page);
  FUZZ_CHECK(q->page_size >= 1 && q->page_size <= 200, "pageSize %d", q->page_size);
  for (std::size_t i = 0; i < q->states.size(); ++i)
    for (std::size_t j = i + 1; j < q->states.size(); ++j)
      FUZZ_CHECK(q->states[i] != q->states[j], "state listed twice");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_create(in);
  check_pool(in);
  check_patch(in);
  check_renew(in);
  check_query(in);
  return 0;
}
