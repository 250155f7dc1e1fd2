// The Docker runtime keeps no pools of its own (issue 14): sandboxd's pool keeper makes the
// members, so a ContainerSpec naming a cluster pool (pool_ref) is refused before anything is
// made, and the Runtime pool methods answer the backstop's kUnimplemented.
#include <gtest/gtest.h>

#include "src/common/uuid.h"
#include "src/http/http_client.h"
#include "src/runtime/docker/docker_runtime.h"
#include "tests/runtime/docker_test_util.h"

namespace {

TEST(DockerPoolRef, ACreateNamingAPoolIsRefusedAndMakesNothing) {
  SBX_REQUIRE_DOCKER(host);
  auto rt = sbx::DockerRuntime::create(sbx::testing::test_docker_options(host));
  ASSERT_TRUE(rt) << rt.error().message;
  EXPECT_FALSE((*rt)->manages_pools());

  sbx::ContainerSpec s;
  s.sandbox_id = sbx::new_uuid();
  s.image_uri = sbx::testing::kTestBusyboxImage;
  s.entrypoint = {"sleep", "3600"};
  s.network_mode = "bridge";
  s.pool_ref = "py-warm";
  auto created = (*rt)->create_and_start(s);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, sbx::ErrorCode::kInvalidArgument);
  EXPECT_EQ(created.error().field, "extensions.poolRef");
  EXPECT_NE(created.error().message.find("py-warm"), std::string::npos) << created.error().message;
  // A pool name that is not one is refused by the common checks, with the same field.
  s.pool_ref = "Not_A_Pool";
  created = (*rt)->create_and_start(s);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().field, "extensions.poolRef");

  auto http = sbx::HttpClient::create({.endpoint = host});
  ASSERT_TRUE(http) << http.error().message;
  auto r = (*http)->send({.target = "/containers/sandbox-" + s.sandbox_id + "/json"});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 404) << "a refused create left a container: " << r->body;

  sbx::RuntimePoolSpec pool;
  pool.name = "py-warm";
  auto applied = (*rt)->apply_pool(pool);
  ASSERT_FALSE(applied);
  EXPECT_EQ(applied.error().code, sbx::ErrorCode::kUnimplemented);
  EXPECT_EQ(applied.error().field, "runtime.pools");
  EXPECT_FALSE((*rt)->list_pools());
  EXPECT_FALSE((*rt)->delete_pool("py-warm"));
}

}  // namespace
