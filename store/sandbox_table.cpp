#include "store/sandbox_table.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <utility>

namespace sbx {

namespace {
constexpr std::size_t kMinCapacity = 16;
}

SandboxTable::~SandboxTable() {
  for (std::size_t i = 0; i < capacity(); ++i) release_key(slots_[i]);
}

std::uint32_t SandboxTable::tag_of(std::string_view id) {
  return static_cast<std::uint32_t>(std::hash<std::string_view>{}(id) >> 32);
}

std::size_t SandboxTable::probe(std::string_view id, std::uint32_t tag) const {
  for (std::size_t i = tag & mask_;; i = (i + 1) & mask_) {
    const Slot& s = slots_[i];
    if (!s.value) return i;
    if (s.tag == tag && (s.size & ~kOwned) == id.size() &&
        std::memcmp(s.key, id.data(), id.size()) == 0) {
      return i;
    }
  }
}

const std::shared_ptr<const Sandbox>* SandboxTable::find(std::string_view id) const {
  if (size_ == 0) return nullptr;
  const Slot& s = slots_[probe(id, tag_of(id))];
  return s.value ? &s.value : nullptr;
}

void SandboxTable::fill(Slot& slot, std::string_view id, std::shared_ptr<const Sandbox> sandbox) {
  if (id.size() >= kOwned) throw std::length_error("sandbox id too long");
  slot.size = static_cast<std::uint32_t>(id.size());
  if (std::string_view(sandbox->id) == id) {
    slot.key = sandbox->id.data();  // lives as long as slot.value
  } else {
    char* copy = new char[id.size() + 1];  // never nullptr, also for an empty key
    std::memcpy(copy, id.data(), id.size());
    slot.key = copy;
    slot.size |= kOwned;
  }
  slot.value = std::move(sandbox);
}

void SandboxTable::release_key(Slot& slot) {
  if ((slot.size & kOwned) != 0) delete[] slot.key;
  slot.size = 0;
}

void SandboxTable::insert_or_assign(std::string_view id, std::shared_ptr<const Sandbox> sandbox) {
  if ((size_ + 1) * 2 > capacity()) rehash(std::max(kMinCapacity, capacity() * 2));
  const std::uint32_t tag = tag_of(id);
  Slot& s = slots_[probe(id, tag)];
  if (!s.value) {
    s.tag = tag;
    fill(s, id, std::move(sandbox));
    ++size_;
    return;
  }
  // Replace. Fill a new slot before releasing the old one: `id` may be the old value's id.
  Slot fresh;
  fresh.tag = tag;
  fill(fresh, id, std::move(sandbox));
  release_key(s);
  s = std::move(fresh);
}

bool SandboxTable::erase(std::string_view id) {
  if (size_ == 0) return false;
  std::size_t hole = probe(id, tag_of(id));
  if (!slots_[hole].value) return false;
  release_key(slots_[hole]);
  slots_[hole].value.reset();
  --size_;
  // Backward shift: move later members of the probe run into the hole when their home
  // slot is not after it, so that every run stays unbroken (no tombstones).
  for (std::size_t i = (hole + 1) & mask_; slots_[i].value; i = (i + 1) & mask_) {
    const std::size_t home = slots_[i].tag & mask_;
    if (((i - home) & mask_) >= ((i - hole) & mask_)) {
      slots_[hole] = std::move(slots_[i]);  // value moved out: slot i is empty
      slots_[i].size = 0;
      hole = i;
    }
  }
  return true;
}

void SandboxTable::reserve(std::size_t n) {
  const std::size_t wanted = std::bit_ceil(std::max(kMinCapacity, n * 2));
  if (wanted > capacity()) rehash(wanted);
}

void SandboxTable::rehash(std::size_t new_capacity) {
  // Tags are the hash's high 32 bits and the home slot is tag & mask: no key is hashed
  // again. (The table never reaches 2^32 slots.)
  auto old = std::move(slots_);
  const std::size_t old_capacity = old ? mask_ + 1 : 0;
  slots_ = std::make_unique<Slot[]>(new_capacity);
  mask_ = new_capacity - 1;
  for (std::size_t i = 0; i < old_capacity; ++i) {
    Slot& from = old[i];
    if (!from.value) continue;
    std::size_t j = from.tag & mask_;
    while (slots_[j].value) j = (j + 1) & mask_;
    slots_[j] = std::move(from);
  }
}

}  // namespace sbx
