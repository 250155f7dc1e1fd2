// RuntimeFactory: runtime.type picks the registered constructor; an unregistered type is
// refused with the message start-up has always given; the built-in factory has Docker and
// Kubernetes.
#include "src/server/runtime_factory.h"

#include <gtest/gtest.h>

#include "src/runtime/docker/docker_runtime.h"
#include "src/common/clock.h"
#include "src/runtime/fake/fake_runtime.h"

namespace sbx {
namespace {

Config config_of(RuntimeType type) {
  Config c;
  c.runtime.type = type;
  c.docker.host = "unix:///nonexistent/sandboxd-test/docker.sock";
  return c;
}

TEST(RuntimeFactory, TheBuiltinFactoryHasDockerAndKubernetes) {
  const RuntimeFactory f = builtin_runtime_factory();
  EXPECT_TRUE(f.supports(RuntimeType::kDocker));
  EXPECT_TRUE(f.supports(RuntimeType::kKubernetes));
  Config k8s = config_of(RuntimeType::kKubernetes);
  k8s.kubernetes.kubeconfig_path = "/nonexistent/sandboxd-test/kubeconfig";
  EXPECT_TRUE(f.check(k8s));
  EXPECT_EQ(f.describe(k8s),
            "Kubernetes API (kubeconfig /nonexistent/sandboxd-test/kubeconfig), namespace "
            "default, provider pod");
  // Building it reads the credentials: a missing kubeconfig is an error naming the key.
  auto rt = f.create(k8s, {.instance_id = "inst-1"});
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt.error().field, "kubernetes.kubeconfig_path");
  EXPECT_NE(rt.error().message.find("/nonexistent/sandboxd-test/kubeconfig"), std::string::npos)
      << rt.error().message;
}

TEST(RuntimeFactory, AnUnregisteredTypeIsRefusedWithTheStartupMessage) {
  RuntimeFactory f;
  f.add(RuntimeType::kDocker, {});
  const Config k8s = config_of(RuntimeType::kKubernetes);
  for (const Error& e : {f.check(k8s).error(), f.create(k8s, {}).error()}) {
    EXPECT_EQ(e.code, ErrorCode::kFailedPrecondition);
    EXPECT_EQ(e.field, "runtime.type");
    EXPECT_EQ(e.message,
              "runtime.type = \"kubernetes\" is not supported by this build; set runtime.type = "
              "\"docker\"");
  }
  EXPECT_EQ(f.describe(k8s), "");
}

TEST(RuntimeFactory, DockerIsBuiltFromTheConfigWithoutContactingTheEngine) {
  const RuntimeFactory f = builtin_runtime_factory();
  const Config c = config_of(RuntimeType::kDocker);
  ASSERT_TRUE(f.check(c));
  auto rt = f.create(c, {.instance_id = "inst-1"});
  ASSERT_TRUE(rt) << rt.error().message;
  EXPECT_NE(dynamic_cast<DockerRuntime*>(rt->get()), nullptr);
  // The engine is not there: the runtime exists, and says so only when asked.
  EXPECT_EQ((*rt)->ping().error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(f.describe(c), "Docker engine at unix:///nonexistent/sandboxd-test/docker.sock");
}

TEST(RuntimeFactory, ABadDockerSettingIsTheConstructorsErrorNamingTheKey) {
  Config c = config_of(RuntimeType::kDocker);
  c.docker.seccomp_profile = "/nonexistent/sandboxd-test/profile.json";
  auto rt = builtin_runtime_factory().create(c, {});
  ASSERT_FALSE(rt);
  EXPECT_EQ(rt.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(rt.error().field, "docker.seccomp_profile");
}

TEST(RuntimeFactory, ARegistrationServesItsTypeWithTheDepsItIsGiven) {
  RuntimeFactory f = builtin_runtime_factory();
  ManualClock clock;
  std::string seen_instance;
  std::string seen_namespace;
  f.add(RuntimeType::kKubernetes,
        {.create = [&](const Config& c, const RuntimeDeps& deps)
             -> Result<std::unique_ptr<Runtime>> {
           seen_instance = deps.instance_id;
           seen_namespace = c.kubernetes.namespace_;
           return std::unique_ptr<Runtime>(std::make_unique<FakeRuntime>(clock, deps.instance_id));
         },
         .describe = [](const Config& c) {
           return "cluster namespace " + c.kubernetes.namespace_;
         }});
  Config c = config_of(RuntimeType::kKubernetes);
  c.kubernetes.namespace_ = "sandboxes";
  auto rt = f.create(c, {.instance_id = "inst-2"});
  ASSERT_TRUE(rt) << rt.error().message;
  EXPECT_NE(dynamic_cast<FakeRuntime*>(rt->get()), nullptr);
  EXPECT_EQ(seen_instance, "inst-2");
  EXPECT_EQ(seen_namespace, "sandboxes");
  EXPECT_EQ(f.describe(c), "cluster namespace sandboxes");
  // Docker is still served by its own registration.
  auto docker = f.create(config_of(RuntimeType::kDocker), {});
  ASSERT_TRUE(docker);
  EXPECT_NE(dynamic_cast<DockerRuntime*>(docker->get()), nullptr);
}

TEST(RuntimeFactory, WithNothingOrAnotherRegisteredTheRefusalSaysWhatIs) {
  RuntimeFactory empty;
  auto none = empty.check(config_of(RuntimeType::kDocker));
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().message, "runtime.type = \"docker\" is not supported by this build");

  RuntimeFactory only_k8s;
  only_k8s.add(RuntimeType::kKubernetes, {});
  auto refused = only_k8s.check(config_of(RuntimeType::kDocker));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message,
            "runtime.type = \"docker\" is not supported by this build; set runtime.type = "
            "\"kubernetes\"");
}

}  // namespace
}  // namespace sbx
