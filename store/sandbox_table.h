// SandboxTable: EventStore's in-memory sandboxes projection, sandbox id -> immutable Sandbox.
//
// An open-addressing hash table (linear probing, backward-shift deletion, at most half
// full) of 32-byte slots: a hash tag, the key's size, a pointer to the key's characters and
// the shared_ptr. The key's characters are the Sandbox's own `id` when the two are equal,
// which they are for every projection the store builds, so an insert allocates nothing
// (but on growth) and a lookup reads one slot, the key's characters and, for the caller's
// copy of the shared_ptr, the Sandbox's control block. A key that differs from the
// Sandbox's id is copied and owned by the table. (Keeping 36-byte keys inside 64-byte
// slots instead saved no time in BM_GetSandbox and doubled the table.)
//
// Not thread-safe: EventStore guards it with its projection lock (concurrent const calls
// are fine). Values are never null. Errors: std::bad_alloc only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "events/sandbox.h"

namespace sbx {

class SandboxTable {
 public:
  SandboxTable() = default;
  ~SandboxTable();
  SandboxTable(const SandboxTable&) = delete;
  SandboxTable& operator=(const SandboxTable&) = delete;

  std::size_t size() const { return size_; }

  // Makes room for `n` entries, so that inserting up to `n` does not grow the table.
  void reserve(std::size_t n);

  // The sandbox stored under `id`, or nullptr. Valid until the next non-const call.
  const std::shared_ptr<const Sandbox>* find(std::string_view id) const;

  // `sandbox` must not be null.
  void insert_or_assign(std::string_view id, std::shared_ptr<const Sandbox> sandbox);

  // False if there was no such id.
  bool erase(std::string_view id);

  // Calls f(const std::shared_ptr<const Sandbox>&) for every entry, in no particular order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t i = 0; i < capacity(); ++i) {
      if (slots_[i].value) f(slots_[i].value);
    }
  }

 private:
  static constexpr std::uint32_t kOwned = 0x8000'0000u;  // in Slot::size: `key` is ours
  struct Slot {
    std::uint32_t tag = 0;      // high 32 bits of the key's hash; its low bits: home slot
    std::uint32_t size = 0;     // key size, | kOwned when `key` is a copy owned by the table
    const char* key = nullptr;  // into *value (its id) or an owned copy
    std::shared_ptr<const Sandbox> value;  // nullptr: the slot is empty
  };
  static_assert(sizeof(Slot) == 32);

  std::size_t capacity() const { return slots_ ? mask_ + 1 : 0; }
  static std::uint32_t tag_of(std::string_view id);
  std::size_t probe(std::string_view id, std::uint32_t tag) const;  // matching or empty slot
  // Sets the key and value of an empty slot (or one whose key was released).
  static void fill(Slot& slot, std::string_view id, std::shared_ptr<const Sandbox> sandbox);
  static void release_key(Slot& slot);
  void rehash(std::size_t capacity);

  std::unique_ptr<Slot[]> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

}  // namespace sbx
