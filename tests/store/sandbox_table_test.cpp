#include "store/sandbox_table.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace sbx {
namespace {

std::shared_ptr<const Sandbox> sandbox(std::string id, std::uint64_t version = 1) {
  Sandbox sb;
  sb.id = std::move(id);
  sb.version = version;
  return std::make_shared<const Sandbox>(std::move(sb));
}

std::map<std::string, std::shared_ptr<const Sandbox>> contents(const SandboxTable& t) {
  std::map<std::string, std::shared_ptr<const Sandbox>> out;
  t.for_each([&](const std::shared_ptr<const Sandbox>& s) { out.emplace(s->id, s); });
  return out;
}

TEST(SandboxTable, FindsInsertsReplacesAndErases) {
  SandboxTable t;
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find("a"), nullptr);
  EXPECT_FALSE(t.erase("a"));

  const std::string uuid = "0b6c5a36-5b1e-4f0e-9d6a-2f1c3e4d5a6b";  // 36 bytes: kept inline
  const std::string long_id(100, 'x');                              // points into the Sandbox
  t.insert_or_assign(uuid, sandbox(uuid));
  t.insert_or_assign(long_id, sandbox(long_id));
  t.insert_or_assign("", sandbox(""));
  EXPECT_EQ(t.size(), 3u);
  for (const std::string& id : {uuid, long_id, std::string()}) {
    const auto* found = t.find(id);
    ASSERT_NE(found, nullptr) << id;
    EXPECT_EQ((*found)->id, id);
  }
  EXPECT_EQ(t.find(uuid.substr(0, 35)), nullptr);
  EXPECT_EQ(t.find(long_id + "x"), nullptr);

  // Replacing keeps one entry; the long key pointed into the old value, which is gone.
  std::weak_ptr<const Sandbox> old = *t.find(long_id);
  t.insert_or_assign(long_id, sandbox(long_id, 2));
  EXPECT_TRUE(old.expired());
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ((*t.find(long_id))->version, 2u);

  // Replacing with a key that is a view of the old value's own id.
  const auto current = *t.find(long_id);
  t.insert_or_assign(current->id, sandbox(long_id, 3));
  EXPECT_EQ((*t.find(long_id))->version, 3u);

  EXPECT_TRUE(t.erase(uuid));
  EXPECT_FALSE(t.erase(uuid));
  EXPECT_EQ(t.find(uuid), nullptr);
  EXPECT_EQ(t.size(), 2u);
}

TEST(SandboxTable, KeysThatAreNotTheSandboxIdAreCopied) {
  SandboxTable t;
  std::string short_key = "renamed";
  std::string long_key(64, 'k');
  t.insert_or_assign(short_key, sandbox("other-id"));
  t.insert_or_assign(long_key, sandbox("other-long-id"));
  short_key.assign(7, '?');  // the table must not refer to the caller's characters
  long_key.assign(64, '?');
  ASSERT_NE(t.find("renamed"), nullptr);
  EXPECT_EQ((*t.find("renamed"))->id, "other-id");
  ASSERT_NE(t.find(std::string(64, 'k')), nullptr);
  EXPECT_EQ((*t.find(std::string(64, 'k')))->id, "other-long-id");
  EXPECT_EQ(t.find(long_key), nullptr);
  t.insert_or_assign(std::string(64, 'k'), sandbox(std::string(64, 'k')));  // owned -> not
  EXPECT_EQ((*t.find(std::string(64, 'k')))->id, std::string(64, 'k'));
  EXPECT_TRUE(t.erase(std::string(64, 'k')));
  EXPECT_EQ(t.size(), 1u);
}

// Random inserts, replacements and erases (the erases exercise the backward shift across
// long probe runs) against std::map, with ids short, 36-byte and long, keys equal to the
// sandbox id or not.
TEST(SandboxTable, MatchesAMapUnderRandomOperations) {
  std::mt19937_64 rng(42);
  std::vector<std::string> ids;
  for (int i = 0; i < 3000; ++i) {
    const int kind = i % 3;
    std::string id = kind == 0 ? "sb-" + std::to_string(i)
                     : kind == 1
                         ? std::string(36 - std::to_string(i).size(), 'u') + std::to_string(i)
                         : std::string(50, 'l') + std::to_string(i);
    ids.push_back(std::move(id));
  }
  SandboxTable t;
  std::map<std::string, std::shared_ptr<const Sandbox>> ref;
  for (int step = 0; step < 60000; ++step) {
    const std::string& id = ids[rng() % (step < 20000 ? ids.size() : ids.size() / 4)];
    const auto op = rng() % 10;
    if (op < 6) {
      auto sb = rng() % 8 == 0 ? sandbox("alias-of-" + id, step) : sandbox(id, step);
      ref[id] = sb;
      t.insert_or_assign(id, sb);
    } else if (op < 9) {
      EXPECT_EQ(t.erase(id), ref.erase(id) == 1) << id;
    } else {
      const auto* found = t.find(id);
      const auto it = ref.find(id);
      ASSERT_EQ(found != nullptr, it != ref.end()) << id;
      if (found) {
        EXPECT_EQ(found->get(), it->second.get()) << id;
      }
    }
    ASSERT_EQ(t.size(), ref.size());
    if (step % 5000 == 0 || step == 59999) {
      for (const auto& id2 : ids) {
        const auto* found = t.find(id2);
        const auto it = ref.find(id2);
        ASSERT_EQ(found != nullptr, it != ref.end()) << id2 << " at step " << step;
        if (found) {
          ASSERT_EQ(found->get(), it->second.get()) << id2;
        }
      }
      std::size_t n = 0;
      t.for_each([&](const std::shared_ptr<const Sandbox>&) { ++n; });
      EXPECT_EQ(n, ref.size());
    }
  }
}

TEST(SandboxTable, ReserveAvoidsGrowingAndKeepsEntries) {
  SandboxTable t;
  t.insert_or_assign("a", sandbox("a"));
  t.reserve(10000);
  const auto* a = t.find("a");
  for (int i = 0; i < 10000; ++i) {
    const std::string id = "id-" + std::to_string(i);
    t.insert_or_assign(id, sandbox(id));
  }
  EXPECT_EQ(t.find("a"), a) << "reserve(n) then n inserts must not move the slots";
  EXPECT_EQ(t.size(), 10001u);
  EXPECT_EQ(contents(t).size(), 10001u);
}

}  // namespace
}  // namespace sbx
