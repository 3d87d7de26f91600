// The content of an LPM-trie index kept in userspace, so that the kernel does one
// lookup per packet: each installed prefix maps to the items (rule ids, allow entries)
// of itself AND of every shorter prefix that covers it. The kernel's longest match then
// holds everything that applies.
//
// Changes are incremental: adding or removing the items of one owner recomputes only
// the prefixes covered by the prefixes it touched (a contiguous range in the sorted
// key order), each in O(distinct prefix lengths of its scope), and returns the
// entries to write to or delete from the kernel's map.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "agent/net/cidr.h"
#include "common/result.h"

namespace firedrill::agent::net {

struct PrefixKey {
  uint32_t scope = 0;               // NF_SCOPE(direction, family)
  std::array<uint8_t, 16> addr{};   // masked to len
  uint8_t len = 0;

  // Sorted by scope, then address, then length: every prefix that P covers lies in
  // [P, P's last address] of this order.
  auto operator<=>(const PrefixKey&) const = default;
};

template <typename Item>
class PrefixIndex {
 public:
  struct Change {
    PrefixKey key;
    std::optional<std::vector<Item>> items;  // none: delete the key
  };

  explicit PrefixIndex(size_t max_items, size_t max_prefixes, const char* what)
      : max_items_(max_items), max_prefixes_(max_prefixes), what_(what) {}

  // Adds items for `owner` (an owner adds once). On error nothing changed.
  Result<std::vector<Change>> add(uint64_t owner, const std::vector<std::pair<PrefixKey, Item>>& items) {
    std::set<PrefixKey> touched;
    size_t new_prefixes = 0;
    for (auto& [k, item] : items) {
      auto& list = own_[k];
      if (list.empty()) {
        ++lengths_[k.scope][k.len];
        ++new_prefixes;
      }
      list.emplace_back(owner, item);
      touched.insert(k);
    }
    owners_[owner].insert(touched.begin(), touched.end());
    if (own_.size() > max_prefixes_) {
      auto n = own_.size();
      (void)remove(owner);
      return make_error("{}: {} prefixes (at most {})", what_, n, max_prefixes_);
    }
    auto changes = recompute(touched);
    for (auto& c : changes) {
      if (c.items && c.items->size() > max_items_) {
        PrefixKey bad = c.key;
        size_t n = c.items->size();
        (void)remove(owner);  // recompute restores installed_ to what the kernel holds
        return make_error("{}: prefix {} would hold {} overlapping entries (at most {}); "
                          "fewer overlapping cidrs or ports, or split the fault",
                          what_, describe(bad), n, max_items_);
      }
    }
    commit(changes);
    return changes;
  }

  // Removes every item of `owner`; returns what to write and delete.
  std::vector<Change> remove(uint64_t owner) {
    auto it = owners_.find(owner);
    if (it == owners_.end()) return {};
    std::set<PrefixKey> touched = std::move(it->second);
    owners_.erase(it);
    for (auto& k : touched) {
      auto o = own_.find(k);
      if (o == own_.end()) continue;
      auto& list = o->second;
      list.erase(std::remove_if(list.begin(), list.end(), [&](auto& p) { return p.first == owner; }),
                 list.end());
      if (list.empty()) {
        own_.erase(o);
        auto& lens = lengths_[k.scope];
        if (--lens[k.len] == 0) lens.erase(k.len);
        if (lens.empty()) lengths_.erase(k.scope);
      }
    }
    auto changes = recompute(touched);
    commit(changes);
    return changes;
  }

  size_t prefixes() const { return own_.size(); }
  // How many prefixes of each length a scope holds (empty when none).
  std::map<uint8_t, size_t> lengths(uint32_t scope) const {
    auto it = lengths_.find(scope);
    return it == lengths_.end() ? std::map<uint8_t, size_t>{} : it->second;
  }
  const std::map<PrefixKey, std::vector<Item>>& installed() const { return installed_; }

  static std::string describe(const PrefixKey& k) {
    Cidr c;
    c.family = static_cast<uint8_t>(k.scope & 0xff);
    c.len = k.len;
    c.addr = k.addr;
    return fmt::format("{} ({})", c.str(), (k.scope >> 8) ? "egress" : "ingress");
  }

 private:
  // The propagated lists of every existing prefix covered by a touched one, and
  // deletions for touched prefixes that no longer exist; only what differs from
  // installed_.
  std::vector<Change> recompute(const std::set<PrefixKey>& touched) const {
    std::set<PrefixKey> affected;
    for (auto& t : touched) {
      PrefixKey hi = t;
      for (unsigned i = 0; i < 16; ++i) {
        unsigned first_bit = i * 8;
        if (first_bit + 8 <= t.len) continue;
        hi.addr[i] |= first_bit >= t.len ? 0xff : static_cast<uint8_t>(0xffu >> (t.len - first_bit));
      }
      hi.len = 0xff;
      for (auto it = own_.lower_bound(t); it != own_.end() && !(hi < it->first); ++it) {
        affected.insert(it->first);
      }
      if (!own_.count(t) && installed_.count(t)) affected.insert(t);
    }
    std::vector<Change> out;
    for (auto& k : affected) {
      auto cur = installed_.find(k);
      if (!own_.count(k)) {
        if (cur != installed_.end()) out.push_back({k, std::nullopt});
        continue;
      }
      std::vector<Item> items;
      auto lens = lengths_.find(k.scope);
      for (auto [len, count] : lens->second) {
        if (len > k.len) break;
        PrefixKey cover{k.scope, k.addr, len};
        mask_bytes(cover.addr, len);
        if (auto o = own_.find(cover); o != own_.end()) {
          for (auto& [owner, item] : o->second) items.push_back(item);
        }
      }
      if (cur == installed_.end() || cur->second != items) out.push_back({k, std::move(items)});
    }
    return out;
  }

  void commit(const std::vector<Change>& changes) {
    for (auto& c : changes) {
      if (c.items) installed_[c.key] = *c.items;
      else installed_.erase(c.key);
    }
  }

  size_t max_items_;
  size_t max_prefixes_;
  const char* what_;
  std::map<PrefixKey, std::vector<std::pair<uint64_t, Item>>> own_;
  std::map<uint32_t, std::map<uint8_t, size_t>> lengths_;  // scope -> length -> prefixes
  std::map<uint64_t, std::set<PrefixKey>> owners_;
  std::map<PrefixKey, std::vector<Item>> installed_;       // what the kernel holds
};

}  // namespace firedrill::agent::net
