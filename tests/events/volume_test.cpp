#include "events/volume.h"

#include <gtest/gtest.h>

namespace {

using sbx::ErrorCode;
using sbx::VolumeBackend;

TEST(ParseVolumes, EmptyMeansNone) {
  auto v = sbx::parse_volumes("");
  ASSERT_TRUE(v);
  EXPECT_TRUE(v->empty());
}

TEST(ParseVolumes, ReadsHostAndPvcWithTheUpstreamDefaults) {
  auto v = sbx::parse_volumes(R"([
    {"name":"a","mountPath":"/data","readOnly":true,"subPath":"x/y","host":{"path":"/srv/a"}},
    {"name":"b","mountPath":"/cache","pvc":{"claimName":"cache"}},
    {"name":"c","mountPath":"/tmp/c","pvc":{"claimName":"c","createIfNotExists":false,
                                           "deleteOnSandboxTermination":true}},
    {"name":"d","mountPath":"/oss","ossfs":{"bucket":"b"}}])");
  ASSERT_TRUE(v) << v.error().message;
  ASSERT_EQ(v->size(), 4u);
  EXPECT_EQ((*v)[0].backend, VolumeBackend::kHost);
  EXPECT_EQ((*v)[0].host_path, "/srv/a");
  EXPECT_EQ((*v)[0].sub_path, "x/y");
  EXPECT_TRUE((*v)[0].read_only);
  EXPECT_EQ((*v)[1].backend, VolumeBackend::kPvc);
  EXPECT_EQ((*v)[1].claim_name, "cache");
  EXPECT_TRUE((*v)[1].create_if_not_exists);
  EXPECT_FALSE((*v)[1].delete_on_sandbox_termination);
  EXPECT_FALSE((*v)[1].read_only);
  EXPECT_FALSE((*v)[2].create_if_not_exists);
  EXPECT_TRUE((*v)[2].delete_on_sandbox_termination);
  EXPECT_EQ((*v)[3].backend, VolumeBackend::kOssfs);
}

TEST(ParseVolumes, RefusesWhatItCannotReadNamingTheField) {
  struct Case {
    const char* json;
    const char* field;
  };
  for (const Case& c : {
           Case{R"({"name":"a"})", "volumes"},
           Case{R"([1])", "volumes[0]"},
           Case{R"([{"name":"a","mountPath":"rel","host":{"path":"/x"}}])", "volumes[0].mountPath"},
           Case{R"([{"name":"a","mountPath":"/m"}])", "volumes[0]"},
           Case{R"([{"name":"a","mountPath":"/m","host":{"path":"/x"},"pvc":{"claimName":"c"}}])",
                "volumes[0]"},
           Case{R"([{"name":"a","mountPath":"/m","host":{"path":"x"}}])", "volumes[0].host.path"},
           Case{R"([{"name":"a","mountPath":"/m","pvc":{"claimName":"c","createIfNotExists":"no"}}])",
                "volumes[0].pvc.createIfNotExists"},
           Case{R"([{"name":"a","mountPath":"/m","readOnly":1,"host":{"path":"/x"}}])",
                "volumes[0].readOnly"},
           Case{"not json", "volumes"},
       }) {
    auto v = sbx::parse_volumes(c.json);
    ASSERT_FALSE(v) << c.json;
    EXPECT_EQ(v.error().code, ErrorCode::kInvalidArgument) << c.json;
    EXPECT_EQ(v.error().field, c.field) << c.json;
  }
}

}  // namespace
