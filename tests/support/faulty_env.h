// Test support: a RocksDB environment that fails writes on demand, injected through
// StoreOptions::env / MigrateOptions::env / ServerHooks::store_env.
//
//   disk_full      every write and sync of every file fails with "No space left on device"
//                  (creating files still works, as on a real full disk)
//   fail_wal_write_in / fail_wal_sync_in = N > 0
//                  the N-th WAL (*.log) write / sync from now fails, once
//
// `injected` counts the failures returned. Header-only: only binaries that link RocksDB
// (through sbx_store) include it. The env must outlive every store opened with it.
#pragma once

#include <rocksdb/env.h>

#include <atomic>
#include <memory>
#include <string>

namespace sbx::testing {

class FaultyEnv : public rocksdb::EnvWrapper {
 public:
  FaultyEnv() : rocksdb::EnvWrapper(rocksdb::Env::Default()) {}
  const char* Name() const override { return "FaultyEnv"; }

  std::atomic<bool> disk_full{false};
  std::atomic<int> fail_wal_write_in{0};
  std::atomic<int> fail_wal_sync_in{0};
  std::atomic<int> injected{0};

  rocksdb::Status NewWritableFile(const std::string& name,
                                  std::unique_ptr<rocksdb::WritableFile>* result,
                                  const rocksdb::EnvOptions& options) override {
    auto s = target()->NewWritableFile(name, result, options);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), this, name.ends_with(".log"));
    return s;
  }
  rocksdb::Status ReopenWritableFile(const std::string& name,
                                     std::unique_ptr<rocksdb::WritableFile>* result,
                                     const rocksdb::EnvOptions& options) override {
    auto s = target()->ReopenWritableFile(name, result, options);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), this, name.ends_with(".log"));
    return s;
  }
  rocksdb::Status ReuseWritableFile(const std::string& name, const std::string& old,
                                    std::unique_ptr<rocksdb::WritableFile>* result,
                                    const rocksdb::EnvOptions& options) override {
    auto s = target()->ReuseWritableFile(name, old, result, options);
    if (s.ok()) *result = std::make_unique<File>(std::move(*result), this, name.ends_with(".log"));
    return s;
  }

 private:
  // True when this call must fail: the disk is full, or `countdown` reaches zero now.
  bool trip(bool wal, std::atomic<int>& countdown) {
    if (disk_full) return true;
    if (!wal) return false;
    int n = countdown.load();
    while (n > 0 && !countdown.compare_exchange_weak(n, n - 1)) {
    }
    return n == 1;
  }
  rocksdb::Status injected_error() {
    ++injected;
    return rocksdb::Status::NoSpace("injected: no space left on device");
  }

  class File : public rocksdb::WritableFileWrapper {
   public:
    File(std::unique_ptr<rocksdb::WritableFile> f, FaultyEnv* env, bool wal)
        : rocksdb::WritableFileWrapper(f.get()), owned_(std::move(f)), env_(env), wal_(wal) {}
    rocksdb::Status Append(const rocksdb::Slice& data) override {
      if (env_->trip(wal_, env_->fail_wal_write_in)) return env_->injected_error();
      return rocksdb::WritableFileWrapper::Append(data);
    }
    rocksdb::Status Append(const rocksdb::Slice& data,
                           const rocksdb::DataVerificationInfo& info) override {
      if (env_->trip(wal_, env_->fail_wal_write_in)) return env_->injected_error();
      return rocksdb::WritableFileWrapper::Append(data, info);
    }
    rocksdb::Status PositionedAppend(const rocksdb::Slice& data, uint64_t offset) override {
      if (env_->trip(wal_, env_->fail_wal_write_in)) return env_->injected_error();
      return rocksdb::WritableFileWrapper::PositionedAppend(data, offset);
    }
    rocksdb::Status Sync() override {
      if (env_->trip(wal_, env_->fail_wal_sync_in)) return env_->injected_error();
      return rocksdb::WritableFileWrapper::Sync();
    }
    rocksdb::Status Fsync() override {
      if (env_->trip(wal_, env_->fail_wal_sync_in)) return env_->injected_error();
      return rocksdb::WritableFileWrapper::Fsync();
    }

   private:
    std::unique_ptr<rocksdb::WritableFile> owned_;
    FaultyEnv* env_;
    bool wal_;
  };
};

}  // namespace sbx::testing
