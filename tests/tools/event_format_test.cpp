#include "src/tools/event_format.h"

#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "events/codec.h"
#include "src/tools/event_filter.h"

namespace sbx {
namespace {

Event requested_with_env(std::map<std::string, std::string> env) {
  Event e;
  e.position = 7;
  e.stream = "sandbox-x";
  e.version = 1;
  e.time = *parse_rfc3339("2026-03-01T10:00:00Z");
  e.event_id = "00000000-0000-4000-8000-000000000007";
  e.actor = "api:key-1";
  SandboxRequested r;
  r.sandbox_id = "x";
  r.spec.image_uri = "registry.invalid/team/app:1";
  r.spec.image_auth_provided = true;
  r.spec.env = std::move(env);
  e.data = r;
  return e;
}

TEST(Redaction, ReplacesEveryEnvValueAndKeepsTheKeys) {
  Event e = requested_with_env({{"API_TOKEN", "hunter2"}, {"EMPTY", ""}});
  Event r = redact_secrets(e);
  const auto& spec = std::get<SandboxRequested>(r.data).spec;
  EXPECT_EQ(spec.env, (std::map<std::string, std::string>{{"API_TOKEN", "***"}, {"EMPTY", "***"}}));
  EXPECT_EQ(spec.image_uri, "registry.invalid/team/app:1");
  EXPECT_TRUE(spec.image_auth_provided);
  EXPECT_EQ(std::get<SandboxRequested>(e.data).spec.env.at("API_TOKEN"), "hunter2");  // a copy
  std::string line = event_json_line(e);
  EXPECT_EQ(line.find("hunter2"), std::string::npos);
  EXPECT_NE(line.find(R"("env":{"API_TOKEN":"***","EMPTY":"***"})"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("imageAuth":{"provided":true})"), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  // The line is still a valid envelope.
  auto decoded = decode_event(line);
  ASSERT_TRUE(decoded) << decoded.error().message;
  EXPECT_EQ(decoded->event_id, e.event_id);
  EXPECT_EQ(decoded->position, 7u);
  // --reveal: the operator sees the values.
  EXPECT_EQ(event_json_line(e, Reveal::kYes), encode_event(e));
  EXPECT_EQ(TableWriter::row_of(e, Reveal::kYes), TableWriter::row_of(e));  // no env in rows
}

TEST(Redaction, LeavesOtherEventsAlone) {
  EXPECT_EQ(redact_secrets(requested_with_env({})), requested_with_env({}));
  Event e;
  e.data = SandboxFailed{"RUNTIME::DIED", "password=***? no: a message", 1};
  EXPECT_EQ(redact_secrets(e), e);
}

TEST(Summary, DescribesThePayloadOnOneShortLine) {
  EXPECT_EQ(data_summary(requested_with_env({{"K", "v"}}).data),
            "image=registry.invalid/team/app:1 auth=yes expires=never");
  EXPECT_EQ(data_summary(SandboxTerminated{0, ""}), "exitCode=0");
  EXPECT_EQ(data_summary(SandboxFailed{"E", "line1\nline2\ttab", 137}),
            "E: line1 line2 tab exitCode=137");
  EXPECT_EQ(data_summary(MetadataPatched{{{"a", "1"}, {"b", "2"}}, {"c", "d"}}),
            "set a=1,b=2 removed c,d");
  EXPECT_EQ(data_summary(PauseRequested{}), "");
  SandboxAdopted adopted;
  adopted.runtime_id = "c0ffee";
  adopted.spec.image_uri = "busybox:1";
  adopted.metadata = {{"team", "ml"}};
  adopted.state = SandboxState::kPaused;
  adopted.source = "opensandbox-server";
  EXPECT_EQ(data_summary(adopted), "Paused image=busybox:1 expires=never metadata=team=ml");
  EXPECT_EQ(data_summary(NetworkPolicyChanged{"DELETE", R"(["a.b"])"}), R"(DELETE ["a.b"])");
  std::string long_message(200, 'x');
  std::string s = data_summary(PauseFailed{long_message});
  EXPECT_EQ(s.size(), kSummaryWidth);
  EXPECT_TRUE(s.ends_with("..."));
  // A multi-byte character is never cut in half.
  std::string accents;
  for (int i = 0; i < 60; ++i) accents += "\xc3\xa9";  // é
  std::string cut = data_summary(PauseFailed{accents});
  EXPECT_TRUE(cut.ends_with("\xc3\xa9...")) << cut;
}

TEST(Summary, DescribesThePoolEventsAndMembers) {
  PoolCreated created;
  created.name = "web";
  created.template_spec.image_uri = "busybox:1";
  created.template_spec.env = {{"API_TOKEN", "hunter2"}};
  created.template_json = R"({"env":{"API_TOKEN":"hunter2"}})";
  created.capacity = PoolCapacity{1, 4, 0, 8};
  EXPECT_EQ(data_summary(created), "web image=busybox:1 buffer=1..4 pool=0..8");
  EXPECT_EQ(data_summary(PoolCapacityChanged{PoolCapacity{0, 2, 1, 3}}), "buffer=0..2 pool=1..3");
  EXPECT_EQ(data_summary(PoolDeleted{}), "");
  EXPECT_EQ(data_summary(SandboxClaimed{{{"team", "ml"}}, *parse_rfc3339("2026-03-01T10:10:00Z")}),
            "expires=2026-03-01T10:10:00.000000Z metadata=team=ml");
  EXPECT_EQ(data_summary(SandboxClaimed{}), "expires=never");
  Event member = requested_with_env({{"K", "v"}});
  auto& r = std::get<SandboxRequested>(member.data);
  r.spec.image_auth_provided = false;
  r.spec.pool_name = "web";
  r.spec.pool_generation = 3;
  EXPECT_EQ(data_summary(member.data),
            "image=registry.invalid/team/app:1 expires=never member=web/3");
}

TEST(Redaction, PoolTemplatesShowNoEnvValueUnlessRevealed) {
  Event e;
  e.position = 9;
  e.stream = "pool-web";
  e.version = 1;
  PoolCreated created;
  created.name = "web";
  created.template_spec.image_uri = "busybox:1";
  created.template_spec.env = {{"API_TOKEN", "hunter2"}};
  created.template_json = R"({"image":{"uri":"busybox:1"},"env":{"API_TOKEN":"hunter2"}})";
  e.data = created;
  const std::string line = event_json_line(e);
  EXPECT_EQ(line.find("hunter2"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("env":{"API_TOKEN":"***"})"), std::string::npos) << line;
  EXPECT_NE(event_json_line(e, Reveal::kYes).find("hunter2"), std::string::npos);
  for (const auto& cell : TableWriter::row_of(e)) EXPECT_EQ(cell.find("hunter2"), std::string::npos);
}

TEST(Table, RowsOfABlockAreAlignedAndWidthsNeverShrink) {
  std::ostringstream out;
  TableWriter t(out);
  TableWriter::Row a = {"1", "T", "system", "1", "ServerStarted", "user", "server", "-", "x"};
  TableWriter::Row b = {"12", "T",     "sandbox-long-name", "3", "SandboxStarted", "runtime",
                        "w",  "req-1", "runtimeId=c"};
  t.write({a, b});
  t.write({a});
  EXPECT_EQ(out.str(),
            "POSITION  TIME  STREAM             VERSION  TYPE            REASON   ACTOR   "
            "REQUEST  DATA\n"
            "       1  T     system                   1  ServerStarted   user     server  -"
            "        x\n"
            "      12  T     sandbox-long-name        3  SandboxStarted  runtime  w       "
            "req-1    runtimeId=c\n"
            "       1  T     system                   1  ServerStarted   user     server  -"
            "        x\n");
}

TEST(Filter, EveryCriterionMustHold) {
  Event e = requested_with_env({});
  EventFilter f;
  EXPECT_TRUE(f.matches(e));
  f.stream = "sandbox-y";
  EXPECT_FALSE(f.matches(e));
  f.stream = "sandbox-x";
  f.from_position = 7;
  f.to_position = 7;
  EXPECT_TRUE(f.matches(e));
  f.from_position = 8;
  EXPECT_FALSE(f.matches(e));
  f.from_position = 1;
  f.since = e.time;
  f.until = e.time + 1;
  EXPECT_TRUE(f.matches(e));
  f.until = e.time;
  EXPECT_FALSE(f.matches(e));
  f.until.reset();
  f.types = {"SandboxStarted"};
  EXPECT_FALSE(f.matches(e));
  f.types.push_back("SandboxRequested");
  EXPECT_TRUE(f.matches(e));
  EXPECT_FALSE(f.past_end(7));
  EXPECT_TRUE(f.past_end(8));
}

TEST(Filter, TypeNamesAreChecked) {
  auto ok = parse_event_types({"SandboxRequested,SandboxFailed", "SandboxRequested", ""});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, (std::vector<std::string>{"SandboxRequested", "SandboxFailed"}));
  auto bad = parse_event_types({"sandboxrequested"});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(bad.error().field, "--type");
}

}  // namespace
}  // namespace sbx
