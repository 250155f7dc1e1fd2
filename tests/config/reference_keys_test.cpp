// The reference server's configuration keys that sandboxd reads under their own names
// ([log], docker.publish_host, docker.port_range_min/max, [renew_intent], [proxy]) or recognises
// and sets aside with a warning that says why ([store] of type sqlite/postgresql, proxy.resolve_internal,
// storage keys for PVC creation and ossfs).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "src/config/config.h"

namespace sbx {
namespace {

const EnvMap kEnv{{"HOME", "/home/u"}};

Result<LoadedConfig> parse(const std::string& text) { return parse_config(text, "t.toml", kEnv); }

// The warning about `key`, or "" when there is none.
std::string warning_for(const LoadedConfig& c, const std::string& key) {
  for (const auto& w : c.warnings) {
    if (w.key == key) return w.message;
  }
  return "";
}

TEST(ReferenceKeys, LogLevelIsServerLogLevel) {
  auto r = parse("[log]\nlevel = \"debug\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.log_level, "DEBUG");
  EXPECT_TRUE(r->warnings.empty());
}

TEST(ReferenceKeys, ServerLogLevelWinsOverLogLevelWithAWarning) {
  auto r = parse("[server]\nlog_level = \"ERROR\"\n[log]\nlevel = \"DEBUG\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.server.log_level, "ERROR");
  EXPECT_NE(warning_for(*r, "log.level").find("overridden by server.log_level"),
            std::string::npos);
  // The same level under both names: no warning.
  auto same = parse("[server]\nlog_level = \"ERROR\"\n[log]\nlevel = \"error\"\n");
  ASSERT_TRUE(same);
  EXPECT_TRUE(same->warnings.empty());
}

TEST(ReferenceKeys, BadLogLevelIsAnErrorNamingTheKey) {
  auto r = parse("[log]\nlevel = \"LOUD\"\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "log.level");
  EXPECT_NE(r.error().message.find("t.toml:2"), std::string::npos) << r.error().message;
}

TEST(ReferenceKeys, PublishHostIsPortBindIp) {
  auto r = parse("[docker]\npublish_host = \"127.0.0.1\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.docker.port_bind_ip, "127.0.0.1");
  EXPECT_TRUE(r->warnings.empty());
  auto agree = parse("[docker]\npublish_host = \"127.0.0.1\"\nport_bind_ip = \"127.0.0.1\"\n");
  ASSERT_TRUE(agree) << agree.error().message;
  auto clash = parse("[docker]\npublish_host = \"127.0.0.1\"\nport_bind_ip = \"0.0.0.0\"\n");
  ASSERT_FALSE(clash);
  EXPECT_EQ(clash.error().field, "docker.publish_host");
  auto bad = parse("[docker]\npublish_host = \"localhost\"\n");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "docker.publish_host");
}

TEST(ReferenceKeys, PortRangeMinMaxAreThePortRange) {
  auto r = parse("[docker]\nport_range_min = 41000\nport_range_max = 41999\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.docker.port_range_low, 41000);
  EXPECT_EQ(r->config.docker.port_range_high, 41999);
  // One end alone keeps the default of the other.
  auto low = parse("[docker]\nport_range_min = 50000\n");
  ASSERT_TRUE(low) << low.error().message;
  EXPECT_EQ(low->config.docker.port_range_low, 50000);
  EXPECT_EQ(low->config.docker.port_range_high, 60000);
}

TEST(ReferenceKeys, PortRangeMinMaxErrors) {
  auto inverted = parse("[docker]\nport_range_min = 45000\nport_range_max = 44000\n");
  ASSERT_FALSE(inverted);
  EXPECT_EQ(inverted.error().field, "docker.port_range_min");
  EXPECT_NE(inverted.error().message.find("above docker.port_range_max"), std::string::npos);
  auto both = parse("[docker]\nport_range = \"1000-2000\"\nport_range_max = 3000\n");
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("not both"), std::string::npos);
  auto out_of_range = parse("[docker]\nport_range_max = 70000\n");
  ASSERT_FALSE(out_of_range);
  EXPECT_EQ(out_of_range.error().field, "docker.port_range_max");
  auto string_value = parse("[docker]\nport_range_min = \"40000\"\n");
  ASSERT_FALSE(string_value);
  EXPECT_EQ(string_value.error().field, "docker.port_range_min");
}

TEST(ReferenceKeys, RenewIntentIsReadAndWarnsOnlyWithoutTheProxy) {
  auto off = parse("[renew_intent]\nenabled = false\nmin_interval_seconds = 120\n");
  ASSERT_TRUE(off) << off.error().message;
  EXPECT_FALSE(off->config.renew_intent.enabled);
  EXPECT_EQ(off->config.renew_intent.min_interval_seconds, 120);
  EXPECT_TRUE(off->warnings.empty());
  auto on = parse("[renew_intent]\nenabled = true\n");
  ASSERT_TRUE(on) << on.error().message;
  EXPECT_TRUE(on->config.renew_intent.enabled);
  EXPECT_TRUE(on->warnings.empty());
  auto no_proxy = parse("[proxy]\nenabled = false\n[renew_intent]\nenabled = true\n");
  ASSERT_TRUE(no_proxy) << no_proxy.error().message;
  EXPECT_NE(warning_for(*no_proxy, "renew_intent.enabled").find("no effect"), std::string::npos);
  auto zero = parse("[renew_intent]\nmin_interval_seconds = 0\n");
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().field, "renew_intent.min_interval_seconds");
}

TEST(ReferenceKeys, AForeignStoreTypeNeverBecomesOurStorePath) {
  auto r = parse("[store]\ntype = \"sqlite\"\npath = \"~/.opensandbox/opensandbox.db\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.store.path, "/home/u/.sandboxd/data");
  const std::string w = warning_for(*r, "store.type");
  EXPECT_NE(w.find("reference server's database"), std::string::npos) << w;
  EXPECT_NE(w.find("/home/u/.sandboxd/data"), std::string::npos) << w;
  EXPECT_NE(w.find("does not use store.path"), std::string::npos) << w;
  // Its postgresql sub-table is set aside too, with the reason.
  auto pg = parse("[store]\ntype = \"postgresql\"\n[store.postgresql]\nmin_pool_size = 1\n");
  ASSERT_TRUE(pg) << pg.error().message;
  EXPECT_NE(warning_for(*pg, "store.postgresql").find("not honoured"), std::string::npos);
}

TEST(ReferenceKeys, OurStoreTypeUsesThePath) {
  auto r = parse("[store]\ntype = \"rocksdb\"\npath = \"/var/lib/sandboxd\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->config.store.path, "/var/lib/sandboxd");
  EXPECT_TRUE(r->warnings.empty());
  auto no_type = parse("[store]\npath = \"/var/lib/sandboxd\"\n");
  ASSERT_TRUE(no_type);
  EXPECT_EQ(no_type->config.store.path, "/var/lib/sandboxd");
  auto empty_type = parse("[store]\ntype = \"\"\n");
  ASSERT_FALSE(empty_type);
  EXPECT_EQ(empty_type.error().field, "store.type");
}

TEST(ReferenceKeys, KeysOfFeaturesThisVersionLacksWarnWithTheReason) {
  auto r = parse(
      "[proxy]\nresolve_internal = true\n"
      "[storage]\nallowed_host_paths = []\nvolume_default_size = \"1Gi\"\n"
      "ossfs_mount_root = \"/mnt/ossfs\"\n");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_NE(warning_for(*r, "proxy.resolve_internal").find("published host port"),
            std::string::npos);
  EXPECT_NE(warning_for(*r, "storage.volume_default_size").find("PersistentVolumeClaims"),
            std::string::npos);
  EXPECT_NE(warning_for(*r, "storage.ossfs_mount_root").find("ossfs"), std::string::npos);
  for (const auto& w : r->warnings) {
    EXPECT_EQ(w.message.find("unknown"), std::string::npos) << w.message;
  }
}

}  // namespace
}  // namespace sbx
