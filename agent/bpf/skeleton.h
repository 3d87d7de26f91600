// RAII around a bpftool-generated skeleton: open, set rodata, load; destroyed (and
// every link it owns detached) when the owner goes. Non-copyable, movable.
#pragma once

#include <memory>
#include <string>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common/result.h"

namespace firedrill::agent::bpf {

// Routes libbpf's messages into the "agent.libbpf" logger. Idempotent.
void route_libbpf_logs();

// Every generated skeleton has name__open/__load/__destroy; the traits bind them.
// Usage: BpfSkeleton<net_fault, NetFaultOps>.
template <typename Skel, typename Ops>
class BpfSkeleton {
 public:
  BpfSkeleton() = default;
  BpfSkeleton(BpfSkeleton&& o) noexcept : skel_(std::exchange(o.skel_, nullptr)) {}
  BpfSkeleton& operator=(BpfSkeleton&& o) noexcept {
    if (this != &o) {
      reset();
      skel_ = std::exchange(o.skel_, nullptr);
    }
    return *this;
  }
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;
  ~BpfSkeleton() { reset(); }

  static Result<BpfSkeleton> open(const char* what) {
    route_libbpf_logs();
    BpfSkeleton s;
    s.skel_ = Ops::open();
    if (!s.skel_) return sys_error(errno, "open BPF object {}", what);
    return s;
  }

  // Loads into the kernel; call after setting rodata and map sizes.
  Result<void> load(const char* what) {
    int err = Ops::load(skel_);
    if (err) return sys_error(-err, "load BPF object {} into the kernel", what);
    return ok();
  }

  Skel* get() const { return skel_; }
  Skel* operator->() const { return skel_; }
  explicit operator bool() const { return skel_ != nullptr; }

  void reset() {
    if (skel_) Ops::destroy(skel_);
    skel_ = nullptr;
  }

 private:
  Skel* skel_ = nullptr;
};

// An owned file descriptor (bpf_link, prog, map, pidfd): closed when dropped.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset();

 private:
  int fd_ = -1;
};

// Typed map access that returns a Result naming the map.
template <typename K, typename V>
Result<void> update_map(int map_fd, const char* map_name, const K& key, const V& value,
                        uint64_t flags = BPF_ANY) {
  if (bpf_map_update_elem(map_fd, &key, &value, flags) != 0) {
    return sys_error(errno, "update BPF map {}", map_name);
  }
  return ok();
}

template <typename K>
Result<void> delete_map(int map_fd, const char* map_name, const K& key) {
  if (bpf_map_delete_elem(map_fd, &key) != 0 && errno != ENOENT) {
    return sys_error(errno, "delete from BPF map {}", map_name);
  }
  return ok();
}

}  // namespace firedrill::agent::bpf
