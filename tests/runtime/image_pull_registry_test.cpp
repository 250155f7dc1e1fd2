// The image pull policies (docker.image_pull_policy) against a real registry: Debian's
// docker-registry with htpasswd auth on 127.0.0.1 (scripts/registry-env.sh), the private
// Docker engine, and right, wrong and missing credentials under IfNotPresent, Always and
// Never. Every test starts with the registry's image absent from the engine.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "src/common/uuid.h"
#include "src/runtime/docker/docker_runtime.h"
#include "src/runtime/docker/image_pull.h"
#include "tests/runtime/docker_test_util.h"
#include "tests/support/registry_env.h"

namespace {

using json = nlohmann::json;
using sbx::ContainerSpec;
using sbx::ErrorCode;
using sbx::PullPolicy;
using sbx::RegistryAuth;

class ImagePullRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SBX_REQUIRE_DOCKER(host);
    host_ = host;
    auto http = sbx::HttpClient::create({.endpoint = host});
    ASSERT_TRUE(http) << http.error().message;
    http_ = std::move(*http);
    ASSERT_TRUE(registry_.start(SANDBOXD_SOURCE_DIR, host_)) << registry_.error();
    remove_image(registry_.image());
    ASSERT_FALSE(image_id(registry_.image())) << "the registry's image is still on the engine";
  }

  void TearDown() override {
    if (!http_) return;
    for (const auto& id : created_) {
      auto r = http_->send(
          {.method = "DELETE", .target = "/containers/sandbox-" + id + "?force=1&v=1"});
      EXPECT_TRUE(r && (r->status == 204 || r->status == 404)) << "cleanup " << id;
    }
    if (!registry_.image().empty()) remove_image(registry_.image());
  }

  std::unique_ptr<sbx::DockerRuntime> runtime(PullPolicy policy) {
    auto o = sbx::testing::test_docker_options(host_);
    o.pull_policy = policy;
    auto rt = sbx::DockerRuntime::create(o);
    EXPECT_TRUE(rt) << rt.error().message;
    return rt ? std::move(*rt) : nullptr;
  }

  ContainerSpec spec(std::optional<RegistryAuth> auth) {
    ContainerSpec s;
    s.sandbox_id = sbx::new_uuid();
    created_.insert(s.sandbox_id);
    s.image_uri = registry_.image();
    s.auth = std::move(auth);
    s.entrypoint = {"sleep", "3600"};
    s.network_mode = "bridge";
    return s;
  }

  RegistryAuth right() const { return {registry_.user(), registry_.password()}; }
  RegistryAuth wrong() const { return {registry_.user(), "not-" + registry_.password()}; }

  // The engine's image id of `image`, nullopt when absent.
  std::optional<std::string> image_id(const std::string& image) {
    auto r = http_->send({.target = "/images/" + image + "/json"});
    if (!r || r->status != 200) return std::nullopt;
    return json::parse(r->body).value("Id", "");
  }

  void remove_image(const std::string& image) {
    auto r = http_->send({.method = "DELETE", .target = "/images/" + image + "?force=1"});
    EXPECT_TRUE(r && (r->status == 200 || r->status == 404)) << "remove image " << image;
  }

  // How many times the engine pulled `image` since `since` (its image "pull" events).
  int pulls_since(std::int64_t since, const std::string& image) {
    const std::int64_t until = now_seconds() + 1;
    const std::string filters =
        json{{"type", {"image"}}, {"event", {"pull"}}, {"image", {image}}}.dump();
    auto r = http_->send({.target = "/events?since=" + std::to_string(since) +
                                    "&until=" + std::to_string(until) +
                                    "&filters=" + sbx::url_encode(filters)});
    EXPECT_TRUE(r && r->status == 200);
    if (!r) return -1;
    int n = 0;
    for (std::size_t at = 0; (at = r->body.find("\"Action\":\"pull\"", at)) != std::string::npos;
         ++at) {
      ++n;
    }
    return n;
  }

  static std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  // The create succeeded and the container runs.
  void expect_runs(sbx::DockerRuntime& rt, const ContainerSpec& s) {
    auto r = rt.create_and_start(s);
    ASSERT_TRUE(r) << r.error().message;
    auto st = rt.inspect(s.sandbox_id);
    ASSERT_TRUE(st && st->has_value());
    EXPECT_EQ((*st)->state, sbx::ContainerState::kRunning);
  }

  // The create failed with `code` and left no container behind.
  sbx::Error expect_refused(sbx::DockerRuntime& rt, const ContainerSpec& s, std::string_view code) {
    auto r = rt.create_and_start(s);
    EXPECT_FALSE(r);
    if (r) return sbx::Error(ErrorCode::kInternal, "created");
    EXPECT_EQ(sbx::runtime_error_code(r.error()), code) << r.error().message;
    EXPECT_EQ(r.error().message.find(registry_.password()), std::string::npos)
        << "the password leaked into the message: " << r.error().message;
    auto st = rt.inspect(s.sandbox_id);
    EXPECT_TRUE(st && !st->has_value()) << "a container was left behind";
    return r.error();
  }

  std::string host_;
  std::unique_ptr<sbx::HttpClient> http_;
  sbx::testing::TestRegistry registry_;
  std::set<std::string> created_;
};

// ---- IfNotPresent (the default) -------------------------------------------------------------

TEST_F(ImagePullRegistryTest, IfNotPresentPullsAnAbsentImageWithTheRightCredentials) {
  auto rt = runtime(PullPolicy::kIfNotPresent);
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  EXPECT_TRUE(image_id(registry_.image()));
}

TEST_F(ImagePullRegistryTest, IfNotPresentRefusesWrongOrMissingCredentialsForAnAbsentImage) {
  auto rt = runtime(PullPolicy::kIfNotPresent);
  sbx::Error wrong_e = expect_refused(*rt, spec(wrong()), sbx::kImagePullUnauthorizedCode);
  EXPECT_EQ(wrong_e.code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong_e.field, "image.auth");
  EXPECT_NE(wrong_e.message.find("refused the credentials"), std::string::npos) << wrong_e.message;
  sbx::Error none_e = expect_refused(*rt, spec(std::nullopt), sbx::kImagePullUnauthorizedCode);
  EXPECT_NE(none_e.message.find("none were given"), std::string::npos) << none_e.message;
  EXPECT_NE(none_e.message.find(registry_.address()), std::string::npos) << none_e.message;
  EXPECT_FALSE(image_id(registry_.image()));
}

// The reason to choose Always: once the image is on the engine, IfNotPresent never asks the
// registry again, so anyone runs it whatever credentials they send.
TEST_F(ImagePullRegistryTest, IfNotPresentRunsAPresentImageWhateverTheCredentials) {
  auto rt = runtime(PullPolicy::kIfNotPresent);
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(wrong())));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(std::nullopt)));
}

// ---- Always ----------------------------------------------------------------------------------

TEST_F(ImagePullRegistryTest, AlwaysPullsOnceThenOnlyChecksTheDigestWithTheRegistry) {
  auto rt = runtime(PullPolicy::kAlways);
  const std::int64_t t0 = now_seconds();
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  const auto id = image_id(registry_.image());
  ASSERT_TRUE(id);
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  EXPECT_EQ(image_id(registry_.image()), id);
  // The engine records every pull as an image event: one, for the first create.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(pulls_since(t0, registry_.image()), 1);
}

// The case: the image is on the engine, a create with a wrong password (or none) is
// refused under Always, because the registry is asked every time.
TEST_F(ImagePullRegistryTest, AlwaysRefusesWrongOrMissingCredentialsEvenWhenTheImageIsPresent) {
  ASSERT_NO_FATAL_FAILURE(expect_runs(*runtime(PullPolicy::kIfNotPresent), spec(right())));
  ASSERT_TRUE(image_id(registry_.image()));
  auto rt = runtime(PullPolicy::kAlways);
  sbx::Error wrong_e = expect_refused(*rt, spec(wrong()), sbx::kImagePullUnauthorizedCode);
  EXPECT_EQ(wrong_e.code, ErrorCode::kUnauthenticated);
  EXPECT_EQ(wrong_e.field, "image.auth");
  sbx::Error none_e = expect_refused(*rt, spec(std::nullopt), sbx::kImagePullUnauthorizedCode);
  EXPECT_EQ(none_e.code, ErrorCode::kUnauthenticated);
  // The image stays; the right credentials still run it.
  ASSERT_TRUE(image_id(registry_.image()));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
}

TEST_F(ImagePullRegistryTest, AlwaysRefusesWrongOrMissingCredentialsForAnAbsentImage) {
  auto rt = runtime(PullPolicy::kAlways);
  (void)expect_refused(*rt, spec(wrong()), sbx::kImagePullUnauthorizedCode);
  (void)expect_refused(*rt, spec(std::nullopt), sbx::kImagePullUnauthorizedCode);
  EXPECT_FALSE(image_id(registry_.image()));
}

TEST_F(ImagePullRegistryTest, AlwaysPullsWhenTheLocalImageIsNotTheRegistrysDigest) {
  // The engine has an image under the registry's name that the registry never served.
  const std::string target = registry_.image();
  const std::string repo = target.substr(0, target.rfind(':'));
  auto tag = http_->send({.method = "POST",
                          .target = std::string("/images/") +
                                    sbx::testing::kTestBusyboxImage + "/tag?repo=" +
                                    sbx::url_encode(repo) + "&tag=1"});
  ASSERT_TRUE(tag && tag->status == 201);
  const auto stale = image_id(target);
  ASSERT_TRUE(stale);
  ASSERT_EQ(stale, image_id(sbx::testing::kTestBusyboxImage));
  auto rt = runtime(PullPolicy::kAlways);
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  const auto fresh = image_id(target);
  ASSERT_TRUE(fresh);
  EXPECT_NE(fresh, stale) << "the registry's image was not pulled over the stale one";
  EXPECT_TRUE(image_id(sbx::testing::kTestBusyboxImage)) << "the other tag must stay";
}

TEST_F(ImagePullRegistryTest, AlwaysFailsWhenTheRegistryDoesNotKnowTheImageOrIsUnreachable) {
  auto rt = runtime(PullPolicy::kAlways);
  auto unknown = spec(right());
  unknown.image_uri = registry_.address() + "/sandboxd-test/private:does-not-exist";
  sbx::Error e = expect_refused(*rt, unknown, sbx::kImageNotFoundCode);
  EXPECT_EQ(e.code, ErrorCode::kNotFound);
  EXPECT_EQ(e.field, "image.uri");
  // Nothing listens on port 1: checked at once, nothing leaves the machine.
  auto away = spec(right());
  away.image_uri = "127.0.0.1:1/sandboxd-test/private:1";
  e = expect_refused(*rt, away, sbx::kImagePullFailedCode);
  EXPECT_EQ(e.code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(e.message.find("Always"), std::string::npos) << e.message;
}

// ---- Never -----------------------------------------------------------------------------------

TEST_F(ImagePullRegistryTest, NeverDoesNotPullAnAbsentImageWhateverTheCredentials) {
  auto rt = runtime(PullPolicy::kNever);
  const std::int64_t t0 = now_seconds();
  using Auth = std::optional<RegistryAuth>;
  for (const Auth& auth : {Auth(right()), Auth(wrong()), Auth()}) {
    sbx::Error e = expect_refused(*rt, spec(auth), sbx::kImageNotFoundCode);
    EXPECT_EQ(e.code, ErrorCode::kNotFound);
    EXPECT_EQ(e.field, "image.uri");
    EXPECT_NE(e.message.find("docker.image_pull_policy = \"Never\" forbids pulling"),
              std::string::npos)
        << e.message;
  }
  EXPECT_FALSE(image_id(registry_.image()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(pulls_since(t0, registry_.image()), 0);
}

TEST_F(ImagePullRegistryTest, NeverRunsAPresentImageWhateverTheCredentials) {
  ASSERT_NO_FATAL_FAILURE(expect_runs(*runtime(PullPolicy::kIfNotPresent), spec(right())));
  auto rt = runtime(PullPolicy::kNever);
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(right())));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(wrong())));
  ASSERT_NO_FATAL_FAILURE(expect_runs(*rt, spec(std::nullopt)));
}

}  // namespace
