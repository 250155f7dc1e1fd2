#include "events/pool_decider.h"

#include <string>
#include <utility>

namespace sbx {
namespace {

using Events = std::vector<EventData>;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};

Result<Events> one(EventData e) {
  Events v;
  v.push_back(std::move(e));
  return v;
}

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

}  // namespace

bool is_valid_pool_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxPoolNameLength) return false;
  if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) return false;
  for (char c : name) {
    if (!is_lower_alnum(c) && c != '-') return false;
  }
  return true;
}

Result<void> validate_pool_capacity(const PoolCapacity& c, std::int64_t max_members) {
  const std::pair<std::string_view, std::int64_t> fields[] = {
      {"bufferMin", c.buffer_min},
      {"bufferMax", c.buffer_max},
      {"poolMin", c.pool_min},
      {"poolMax", c.pool_max},
  };
  for (const auto& [name, value] : fields) {
    if (value < 0 || value > max_members) {
      return fail(ErrorCode::kInvalidArgument,
                  std::string("capacitySpec.") + std::string(name) + " must be between 0 and " +
                      std::to_string(max_members) + " (got " + std::to_string(value) + ")",
                  std::string("capacitySpec.") + std::string(name));
    }
  }
  if (c.buffer_min > c.buffer_max) {
    return fail(ErrorCode::kInvalidArgument,
                "capacitySpec.bufferMin (" + std::to_string(c.buffer_min) +
                    ") must not exceed capacitySpec.bufferMax (" + std::to_string(c.buffer_max) +
                    ")",
                "capacitySpec.bufferMin");
  }
  if (c.pool_min > c.pool_max) {
    return fail(ErrorCode::kInvalidArgument,
                "capacitySpec.poolMin (" + std::to_string(c.pool_min) +
                    ") must not exceed capacitySpec.poolMax (" + std::to_string(c.pool_max) + ")",
                "capacitySpec.poolMin");
  }
  if (c.buffer_max > c.pool_max) {
    return fail(ErrorCode::kInvalidArgument,
                "capacitySpec.bufferMax (" + std::to_string(c.buffer_max) +
                    ") must not exceed capacitySpec.poolMax (" + std::to_string(c.pool_max) + ")",
                "capacitySpec.bufferMax");
  }
  return {};
}

bool opens_pool_stream(const EventData& data) { return std::holds_alternative<PoolCreated>(data); }

Result<std::vector<EventData>> decide_pool(const std::optional<Pool>& state,
                                           const PoolCommand& command, Micros /*now*/) {
  const bool exists = state && !state->deleted;
  return std::visit(
      Overloaded{
          [&](const CreatePool& c) -> Result<Events> {
            if (!is_valid_pool_name(c.name)) {
              return fail(ErrorCode::kInvalidArgument,
                          "name must be 1 to " + std::to_string(kMaxPoolNameLength) +
                              " characters of a-z, 0-9 and '-', starting and ending with a "
                              "letter or digit",
                          "name");
            }
            if (exists) {
              return fail(ErrorCode::kAlreadyExists, "pool " + c.name + " already exists",
                          "name");
            }
            if (auto ok = validate_pool_capacity(c.capacity, c.max_members); !ok) {
              return std::unexpected(ok.error());
            }
            return one(PoolCreated{c.name, c.template_spec, c.template_json, c.capacity});
          },
          [&](const UpdatePoolCapacity& c) -> Result<Events> {
            if (!exists) return fail(ErrorCode::kNotFound, "pool not found", "pool");
            if (auto ok = validate_pool_capacity(c.capacity, c.max_members); !ok) {
              return std::unexpected(ok.error());
            }
            if (c.capacity == state->capacity) return Events{};
            return one(PoolCapacityChanged{c.capacity});
          },
          [&](const DeletePool&) -> Result<Events> {
            if (!exists) return fail(ErrorCode::kNotFound, "pool not found", "pool");
            return one(PoolDeleted{});
          },
      },
      command);
}

Pool evolve_pool(const std::optional<Pool>& state, const Event& event) {
  const bool exists = state && !state->deleted;
  Pool p = state.value_or(Pool{});
  p.version = event.version;
  std::visit(Overloaded{
                 [&](const PoolCreated& e) {
                   if (exists) return;  // a second create on a live pool changes nothing
                   p = Pool{};
                   p.name = e.name;
                   p.version = event.version;
                   p.generation = event.version;
                   p.template_spec = e.template_spec;
                   p.template_json = e.template_json;
                   p.capacity = e.capacity;
                   p.created_at = event.time;
                   p.updated_at = event.time;
                 },
                 [&](const PoolCapacityChanged& e) {
                   if (!exists) return;
                   p.capacity = e.capacity;
                   p.updated_at = event.time;
                 },
                 [&](const PoolDeleted&) {
                   if (!exists) return;
                   p.deleted = true;
                   p.updated_at = event.time;
                 },
                 [&](const auto&) {},
             },
             event.data);
  return p;
}

}  // namespace sbx
