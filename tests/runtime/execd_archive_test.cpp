#include "src/runtime/docker/execd_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace {

la_ssize_t append(archive*, void* user, const void* buf, size_t len) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}

// A tar like Docker's archive API returns: one entry per (name, type, mode, contents).
std::string make_tar(const std::vector<sbx::TarEntry>& entries) {
  std::string out;
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_open(a, &out, nullptr, &append, nullptr);
  for (const auto& t : entries) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_filetype(e, t.type == 'd' ? AE_IFDIR : t.type == 'l' ? AE_IFLNK : AE_IFREG);
    if (t.type == 'l') archive_entry_set_symlink(e, t.contents.c_str());
    archive_entry_set_perm(e, t.mode);
    archive_entry_set_size(e, t.type == 'f' ? static_cast<la_int64_t>(t.contents.size()) : 0);
    archive_write_header(a, e);
    if (t.type == 'f') archive_write_data(a, t.contents.data(), t.contents.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

TEST(ExecdArchive, RewritesBothFilesUnderOptOpensandboxWithDirectories) {
  std::string execd = make_tar({{"execd", 'f', 0755,
                                 std::string("\x7f"
                                             "ELF binary\0bytes",
                                             16)}});
  std::string boot = make_tar({{"bootstrap.sh", 'f', 0700, "#!/bin/sh\nexec \"$@\"\n"}});
  auto payload = sbx::make_execd_payload(execd, boot);
  ASSERT_TRUE(payload) << payload.error().message;

  auto entries = sbx::read_tar(*payload);
  ASSERT_TRUE(entries) << entries.error().message;
  ASSERT_EQ(entries->size(), 4u);
  EXPECT_EQ((*entries)[0].path, "opt/");
  EXPECT_EQ((*entries)[0].type, 'd');
  EXPECT_EQ((*entries)[0].mode, 0755u);
  EXPECT_EQ((*entries)[1].path, "opt/opensandbox/");
  EXPECT_EQ((*entries)[1].type, 'd');
  EXPECT_EQ((*entries)[2].path, "opt/opensandbox/execd");
  EXPECT_EQ((*entries)[2].type, 'f');
  EXPECT_EQ((*entries)[2].mode, 0755u);
  EXPECT_EQ((*entries)[2].contents, std::string("\x7f"
                                                "ELF binary\0bytes",
                                                16));
  EXPECT_EQ((*entries)[3].path, "opt/opensandbox/bootstrap.sh");
  EXPECT_EQ((*entries)[3].mode, 0700u);
  EXPECT_EQ((*entries)[3].contents, "#!/bin/sh\nexec \"$@\"\n");
}

TEST(ExecdArchive, SymlinkInsteadOfFileIsRejected) {
  std::string execd = make_tar({{"execd", 'l', 0777, "/usr/bin/execd"}});
  std::string boot = make_tar({{"bootstrap.sh", 'f', 0755, "#!/bin/sh\n"}});
  auto payload = sbx::make_execd_payload(execd, boot);
  ASSERT_FALSE(payload);
  EXPECT_EQ(payload.error().code, sbx::ErrorCode::kFailedPrecondition);
  EXPECT_NE(payload.error().message.find("/execd"), std::string::npos);
}

TEST(ExecdArchive, GarbageIsDataLoss) {
  std::string boot = make_tar({{"bootstrap.sh", 'f', 0755, "#!/bin/sh\n"}});
  auto payload = sbx::make_execd_payload(std::string(1024, 'x'), boot);
  ASSERT_FALSE(payload);
  EXPECT_EQ(payload.error().code, sbx::ErrorCode::kDataLoss);
}

}  // namespace
