#include "agent/journal/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <chrono>
#include <thread>
#include <filesystem>
#include <optional>

#include "common/log.h"

namespace firedrill::agent::journal {
namespace {

auto log() {
  static auto l = logger("agent.journal");
  return l;
}

constexpr uint32_t kMaxRecord = 64 * 1024;
// Past this many records with entries still owed, the file is rewritten with the owed
// ones only, so that a long-lived agent's journal stays small.
constexpr size_t kCompactAfter = 256;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint32_t get_u32(const unsigned char* p) {
  return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
}

std::string frame(const v1::JournalRecord& record) {
  std::string payload = record.SerializeAsString();
  std::string out;
  out.reserve(payload.size() + 8);
  put_u32(out, static_cast<uint32_t>(payload.size()));
  put_u32(out, crc32(payload.data(), payload.size()));
  out += payload;
  return out;
}

Result<void> write_all(int fd, const std::string& bytes, const std::string& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(errno, "write journal {}", path);
    }
    done += static_cast<size_t>(n);
  }
  return ok();
}

Entry to_entry(const v1::JournalRecord& r) {
  return Entry{r.fault_id(), r.kind(), r.target(), r.detail(), from_proto(r.at())};
}

v1::JournalRecord to_record(const Entry& e, v1::JournalOp op) {
  v1::JournalRecord r;
  r.set_op(op);
  r.set_fault_id(e.fault_id);
  r.set_kind(e.kind);
  r.set_target(e.target);
  r.set_detail(e.detail);
  *r.mutable_at() = to_proto(e.at == WallTime{} ? WallClock::now() : e.at);
  return r;
}

// The format this agent writes: every record carries the whole owed state after it.
constexpr uint32_t kFormat = 2;

void set_owed(v1::JournalRecord& r, const std::vector<Entry>& owed) {
  r.set_format(kFormat);
  for (auto& e : owed) *r.add_owed() = to_record(e, v1::JOURNAL_BEGIN);
}

// A whole, checksummed record at `off`, or nothing.
std::optional<v1::JournalRecord> frame_at(const unsigned char* bytes, size_t size, size_t off) {
  if (off + 8 > size) return std::nullopt;
  uint32_t len = get_u32(bytes + off), crc = get_u32(bytes + off + 4);
  if (len > kMaxRecord || off + 8 + len > size || crc32(bytes + off + 8, len) != crc) return std::nullopt;
  v1::JournalRecord r;
  if (!r.ParseFromArray(bytes + off + 8, static_cast<int>(len))) return std::nullopt;
  return r;
}

}  // namespace

uint32_t crc32(const void* data, size_t size) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) c = table[(c ^ p[i]) & 0xff] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

Result<std::unique_ptr<Journal>> Journal::open(const std::string& state_dir) {
  std::unique_ptr<Journal> j(new Journal());
  j->dir_ = state_dir;
  j->path_ = state_dir + "/journal";
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) return make_error("journal: create state directory {}: {}", state_dir, ec.message());
  j->dir_fd_ = ::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (j->dir_fd_ < 0) return sys_error(errno, "journal: open state directory {}", state_dir);
  // A restarted agent may find its predecessor still exiting (a SIGKILLed agent holds
  // the lock until the kernel has torn it down): it waits a little before it refuses.
  constexpr auto kLockWait = std::chrono::seconds(10);
  auto lock_deadline = std::chrono::steady_clock::now() + kLockWait;
  while (::flock(j->dir_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EINTR) continue;
    if (err != EWOULDBLOCK) return sys_error(err, "journal: lock state directory {}", state_dir);
    if (std::chrono::steady_clock::now() >= lock_deadline) {
      return make_error("journal: state directory {} is in use by another firedrill-agent "
                        "(each agent needs its own --state-dir; waited {}s for it to exit)",
                        state_dir, kLockWait.count());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  j->fd_ = ::open(j->path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (j->fd_ < 0) return sys_error(errno, "journal: open {}", j->path_);
  FD_TRY(j->read_all(), "journal {}", j->path_);
  if (j->owed_.empty() && j->records_ + j->dropped_ > 0) {
    FD_TRY(j->compact(), "journal {}", j->path_);
  }
  return j;
}

Result<std::shared_ptr<Journal>> Journal::shared(const std::string& state_dir) {
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<Journal>> open_journals;
  std::lock_guard lock(mu);
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(state_dir, ec).string();
  if (ec || key.empty()) key = state_dir;
  if (auto it = open_journals.find(key); it != open_journals.end()) {
    if (auto j = it->second.lock()) return j;
  }
  FD_ASSIGN(j, open(state_dir), "open journal");
  std::shared_ptr<Journal> s(std::move(j));
  open_journals[key] = s;
  return s;
}

Journal::~Journal() {
  if (fd_ >= 0) ::close(fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);  // releases the lock
}

Result<void> Journal::read_all() {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) return sys_error(errno, "stat");
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::pread(fd_, data.data() + got, data.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return sys_error(errno, "read");
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t size = data.size();
  size_t off = 0;
  // A record that cannot be read in the middle of the file is skipped by its framing:
  // the next offset where a whole, checksummed record starts. Records of format 2 carry
  // the whole owed state, so the first such record after it makes good what it said.
  // One that nothing after it makes good is a refusal, naming the offset: what it owed
  // is unknown, and starting as if nothing were owed could leave a cgroup frozen.
  struct Damage {
    size_t at, bytes;
  };
  std::vector<Damage> damaged;
  bool damage_covered = true;
  while (off < size) {
    auto r = frame_at(bytes, size, off);
    if (!r) {
      size_t next = off + 1;
      while (next < size && !frame_at(bytes, size, next)) ++next;
      if (next >= size) {
        // Nothing readable after it. A record cut short is a torn tail (below); one of
        // its full length whose checksum fails was written whole, fsync'd and maybe
        // acted on: corrupt, and what it said is unknown.
        uint32_t len = off + 8 <= size ? get_u32(bytes + off) : 0;
        if (off + 8 <= size && len > 0 && len <= kMaxRecord && off + 8 + len == size) {
          damaged.push_back({off, size - off});
          damage_covered = false;
          off = size;
        }
        break;
      }
      damaged.push_back({off, next - off});
      damage_covered = false;
      off = next;
      continue;
    }
    uint32_t len = get_u32(bytes + off);
    off += 8 + len;
    ++records_;
    seq_ = std::max(seq_, r->seq());
    if (r->format() >= kFormat) {
      owed_.clear();
      for (auto& o : r->owed()) owed_.push_back(to_entry(o));
      damage_covered = true;
      continue;
    }
    // 0.1.0: replayed by its op.
    Entry e = to_entry(*r);
    auto it = std::find_if(owed_.begin(), owed_.end(), [&](const Entry& o) { return o.same(e); });
    if (r->op() == v1::JOURNAL_BEGIN) {
      if (it == owed_.end()) owed_.push_back(std::move(e));
    } else if (r->op() == v1::JOURNAL_END) {
      if (it != owed_.end()) owed_.erase(it);
    }
  }
  for (auto& d : damaged) {
    log()->error("journal {}: skipped {} corrupt byte(s) at offset {}{}", path_, d.bytes, d.at,
                 damage_covered ? "; a later record says everything owed" : "");
  }
  dropped_ = damaged.size();
  if (!damage_covered) {
    auto& d = damaged.back();
    return make_error("record at offset {} ({} byte(s)) is corrupt, and no later record says what is owed: "
                      "refusing to start without knowing what an earlier agent left undone (a frozen cgroup, "
                      "boot hooks); inspect the file, finish by hand what it owed, then move it away",
                      d.at, d.bytes);
  }
  if (off < size) {
    // A torn tail: a record is only ever acted on after its fsync, so a partly written
    // last one carries nothing that was done.
    ++dropped_;
    log()->warn("journal {}: dropped {} byte(s) of a torn last record at offset {}", path_, size - off, off);
    if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) return sys_error(errno, "truncate torn tail");
    if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync");
  }
  size_ = off;
  if (!damaged.empty()) {
    // Rewritten whole, so that the damage is not read (and reported) again.
    FD_TRY(compact(), "rewrite after skipping corrupt records");
  }
  return ok();
}

Result<void> Journal::append(v1::JournalRecord record, const std::vector<Entry>& owed_after) {
  if (!broken_.empty()) return make_error("journal {} is not written to any more: {}", path_, broken_);
  record.set_seq(++seq_);
  set_owed(record, owed_after);
  std::string bytes = frame(record);
  if (bytes.size() > kMaxRecord + 8) {
    return make_error("journal {}: a record of {} bytes is over the limit of {} (too much owed at once)", path_,
                      bytes.size(), kMaxRecord);
  }
  auto w = write_all(fd_, bytes, path_);
  int err = errno;
  if (w && ::fdatasync(fd_) != 0) {
    err = errno;
    w = sys_error(err, "journal: fdatasync {}", path_);
  }
  if (!w) {
    // Cut back to the last whole record: a partial one would hide what follows it.
    if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0 || ::fdatasync(fd_) != 0) {
      broken_ = fmt::format("a failed append could not be cut back to offset {} ({})", size_, std::strerror(errno));
      log()->error("journal {}: {}", path_, broken_);
    }
    return w.error();
  }
  size_ += bytes.size();
  ++records_;
  return ok();
}

Result<void> Journal::begin(Entry entry) {
  std::lock_guard lock(mu_);
  for (auto& o : owed_) {
    if (o.same(entry)) return ok();
  }
  if (entry.at == WallTime{}) entry.at = WallClock::now();
  auto after = owed_;
  after.push_back(entry);
  FD_TRY(append(to_record(entry, v1::JOURNAL_BEGIN), after), "journal begin {} {} for fault {}", entry.kind,
         entry.target, entry.fault_id);
  owed_ = std::move(after);
  return ok();
}

Result<void> Journal::end(const Entry& entry) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(owed_.begin(), owed_.end(), [&](const Entry& o) { return o.same(entry); });
  if (it == owed_.end()) return ok();
  auto after = owed_;
  after.erase(after.begin() + (it - owed_.begin()));
  FD_TRY(append(to_record(*it, v1::JOURNAL_END), after), "journal end {} {} for fault {}", entry.kind,
         entry.target, entry.fault_id);
  owed_ = std::move(after);
  if (owed_.empty() || records_ > kCompactAfter) {
    FD_TRY(compact(), "journal {}", path_);
  }
  return ok();
}

Result<void> Journal::compact() {
  if (owed_.empty()) {
    // Nothing owed: an empty file says so, and costs nothing to replay.
    if (::ftruncate(fd_, 0) != 0) return sys_error(errno, "truncate");
    if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync");
    records_ = 0;
    size_ = 0;
    broken_.clear();
    return ok();
  }
  // Owed entries only, written aside and renamed over: a crash leaves either file whole.
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "open {}", tmp);
  v1::JournalRecord snapshot;
  snapshot.set_op(v1::JOURNAL_SNAPSHOT);
  snapshot.set_seq(++seq_);
  *snapshot.mutable_at() = to_proto(WallClock::now());
  set_owed(snapshot, owed_);
  std::string bytes = frame(snapshot);
  auto w = write_all(fd, bytes, tmp);
  if (!w || ::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return w ? sys_error(err, "fsync {}", tmp) : w.error();
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path_.c_str()) != 0) return sys_error(errno, "rename {} to {}", tmp, path_);
  ::fsync(dir_fd_);
  int nfd = ::open(path_.c_str(), O_RDWR | O_APPEND | O_CLOEXEC);
  if (nfd < 0) return sys_error(errno, "reopen {}", path_);
  ::close(fd_);
  fd_ = nfd;
  records_ = 1;
  size_ = bytes.size();
  broken_.clear();
  return ok();
}

std::vector<Entry> Journal::owed() const {
  std::lock_guard lock(mu_);
  return owed_;
}

bool Journal::owes(const Entry& entry) const {
  std::lock_guard lock(mu_);
  return std::any_of(owed_.begin(), owed_.end(), [&](const Entry& o) { return o.same(entry); });
}

size_t Journal::records_on_disk() const {
  std::lock_guard lock(mu_);
  return records_;
}

ReplayReport replay(Journal& journal, const std::map<std::string, ReplayHandler>& handlers) {
  ReplayReport report;
  for (auto& e : journal.owed()) {
    auto h = handlers.find(e.kind);
    if (h == handlers.end()) {
      report.failed.emplace_back(e, make_error("no replay handler for journal entry kind '{}'", e.kind));
      continue;
    }
    auto r = h->second(e);
    if (!r) {
      report.failed.emplace_back(e, r.error());
      continue;
    }
    auto done = journal.end(e);
    if (!done) {
      report.failed.emplace_back(e, done.error());
      continue;
    }
    report.finished.push_back(e);
  }
  return report;
}

}  // namespace firedrill::agent::journal
