#include "src/runtime/docker/execd_archive.h"

#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <string>

namespace sbx {
namespace {

struct ReaderDeleter {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct WriterDeleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct EntryDeleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

char type_of(const archive_entry* e) {
  switch (archive_entry_filetype(const_cast<archive_entry*>(e))) {
    case AE_IFREG:
      return 'f';
    case AE_IFDIR:
      return 'd';
    case AE_IFLNK:
      return 'l';
    default:
      return '?';
  }
}

la_ssize_t append_to_string(archive*, void* user, const void* buf, size_t len) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(buf), len);
  return static_cast<la_ssize_t>(len);
}

// The single regular file in `tar` (what Docker's archive API returns for a file path).
Result<TarEntry> single_file(std::string_view tar, std::string_view what) {
  auto entries = read_tar(tar);
  if (!entries) return std::unexpected(entries.error());
  if (entries->size() != 1 || entries->front().type != 'f') {
    return fail(ErrorCode::kFailedPrecondition,
                std::string(what) + " in the execd image is not a single regular file");
  }
  return std::move(entries->front());
}

Result<void> write_entry(archive* out, const std::string& path, char type, unsigned mode,
                         std::string_view contents) {
  std::unique_ptr<archive_entry, EntryDeleter> e(archive_entry_new());
  archive_entry_set_pathname(e.get(), path.c_str());
  archive_entry_set_filetype(e.get(), type == 'd' ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(e.get(), mode & 07777);
  archive_entry_set_uid(e.get(), 0);
  archive_entry_set_gid(e.get(), 0);
  archive_entry_set_size(e.get(), type == 'd' ? 0 : static_cast<la_int64_t>(contents.size()));
  if (archive_write_header(out, e.get()) != ARCHIVE_OK) {
    return fail(ErrorCode::kInternal,
                std::string("tar write failed: ") + archive_error_string(out));
  }
  if (type != 'd' && !contents.empty()) {
    if (archive_write_data(out, contents.data(), contents.size()) !=
        static_cast<la_ssize_t>(contents.size())) {
      return fail(ErrorCode::kInternal,
                  std::string("tar write failed: ") + archive_error_string(out));
    }
  }
  return {};
}

}  // namespace

Result<std::vector<TarEntry>> read_tar(std::string_view tar) {
  std::unique_ptr<archive, ReaderDeleter> in(archive_read_new());
  archive_read_support_format_tar(in.get());
  if (archive_read_open_memory(in.get(), tar.data(), tar.size()) != ARCHIVE_OK) {
    return fail(ErrorCode::kDataLoss,
                std::string("not a readable tar: ") + archive_error_string(in.get()));
  }
  std::vector<TarEntry> out;
  archive_entry* e = nullptr;
  while (true) {
    int rc = archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      return fail(ErrorCode::kDataLoss,
                  std::string("corrupt tar: ") + archive_error_string(in.get()));
    }
    TarEntry t;
    t.path = archive_entry_pathname(e) ? archive_entry_pathname(e) : "";
    t.type = type_of(e);
    t.mode = archive_entry_perm(e);
    if (t.type == 'f') {
      char buf[65536];
      la_ssize_t n;
      while ((n = archive_read_data(in.get(), buf, sizeof buf)) > 0) {
        t.contents.append(buf, static_cast<std::size_t>(n));
      }
      if (n < 0) {
        return fail(ErrorCode::kDataLoss,
                    std::string("corrupt tar data: ") + archive_error_string(in.get()));
      }
    }
    out.push_back(std::move(t));
  }
  return out;
}

Result<std::string> make_execd_payload(std::string_view execd_tar, std::string_view bootstrap_tar) {
  auto execd = single_file(execd_tar, "/execd");
  if (!execd) return std::unexpected(execd.error());
  auto bootstrap = single_file(bootstrap_tar, "/bootstrap.sh");
  if (!bootstrap) return std::unexpected(bootstrap.error());

  std::string tar;
  std::unique_ptr<archive, WriterDeleter> out(archive_write_new());
  archive_write_set_format_pax_restricted(out.get());
  archive_write_set_bytes_in_last_block(out.get(), 1);
  if (archive_write_open(out.get(), &tar, nullptr, &append_to_string, nullptr) != ARCHIVE_OK) {
    return fail(ErrorCode::kInternal,
                std::string("tar open failed: ") + archive_error_string(out.get()));
  }
  const std::string dir(kExecdDir.substr(1));  // "opt/opensandbox"
  Result<void> r = write_entry(out.get(), "opt/", 'd', 0755, {});
  if (r) r = write_entry(out.get(), dir + "/", 'd', 0755, {});
  if (r) r = write_entry(out.get(), dir + "/execd", 'f', execd->mode, execd->contents);
  if (r) {
    r = write_entry(out.get(), dir + "/bootstrap.sh", 'f', bootstrap->mode, bootstrap->contents);
  }
  if (!r) return std::unexpected(r.error());
  if (archive_write_close(out.get()) != ARCHIVE_OK) {
    return fail(ErrorCode::kInternal,
                std::string("tar close failed: ") + archive_error_string(out.get()));
  }
  return tar;
}

}  // namespace sbx
