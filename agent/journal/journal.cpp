#include "agent/journal/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <filesystem>

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
  if (::flock(j->dir_fd_, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err == EWOULDBLOCK) {
      return make_error("journal: state directory {} is in use by another firedrill-agent "
                        "(each agent needs its own --state-dir)", state_dir);
    }
    return sys_error(err, "journal: lock state directory {}", state_dir);
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
  size_t off = 0;
  auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  while (off + 8 <= data.size()) {
    uint32_t len = get_u32(bytes + off), crc = get_u32(bytes + off + 4);
    if (len > kMaxRecord || off + 8 + len > data.size() || crc32(bytes + off + 8, len) != crc) {
      break;
    }
    v1::JournalRecord r;
    if (!r.ParseFromArray(bytes + off + 8, static_cast<int>(len))) break;
    off += 8 + len;
    ++records_;
    seq_ = std::max(seq_, r.seq());
    Entry e = to_entry(r);
    auto it = std::find_if(owed_.begin(), owed_.end(), [&](const Entry& o) { return o.same(e); });
    if (r.op() == v1::JOURNAL_BEGIN) {
      if (it == owed_.end()) owed_.push_back(std::move(e));
    } else if (r.op() == v1::JOURNAL_END) {
      if (it != owed_.end()) owed_.erase(it);
    }
  }
  if (off < data.size()) {
    // Everything from the first bad record on is dropped: a record is only ever acted
    // on after its fsync, so a torn tail carries nothing that was done.
    dropped_ = 1;
    log()->warn("journal {}: dropped {} byte(s) of a torn or corrupt record at offset {}", path_,
                data.size() - off, off);
    if (::ftruncate(fd_, static_cast<off_t>(off)) != 0) return sys_error(errno, "truncate torn tail");
    if (::fdatasync(fd_) != 0) return sys_error(errno, "fdatasync");
  }
  return ok();
}

Result<void> Journal::append(v1::JournalRecord record) {
  record.set_seq(++seq_);
  FD_TRY(write_all(fd_, frame(record), path_), "journal");
  if (::fdatasync(fd_) != 0) return sys_error(errno, "journal: fdatasync {}", path_);
  ++records_;
  return ok();
}

Result<void> Journal::begin(Entry entry) {
  std::lock_guard lock(mu_);
  for (auto& o : owed_) {
    if (o.same(entry)) return ok();
  }
  if (entry.at == WallTime{}) entry.at = WallClock::now();
  FD_TRY(append(to_record(entry, v1::JOURNAL_BEGIN)), "journal begin {} {} for fault {}", entry.kind,
         entry.target, entry.fault_id);
  owed_.push_back(std::move(entry));
  return ok();
}

Result<void> Journal::end(const Entry& entry) {
  std::lock_guard lock(mu_);
  auto it = std::find_if(owed_.begin(), owed_.end(), [&](const Entry& o) { return o.same(entry); });
  if (it == owed_.end()) return ok();
  FD_TRY(append(to_record(*it, v1::JOURNAL_END)), "journal end {} {} for fault {}", entry.kind,
         entry.target, entry.fault_id);
  owed_.erase(it);
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
    return ok();
  }
  // Owed entries only, written aside and renamed over: a crash leaves either file whole.
  std::string tmp = path_ + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return sys_error(errno, "open {}", tmp);
  std::string bytes;
  for (auto& e : owed_) {
    auto r = to_record(e, v1::JOURNAL_BEGIN);
    r.set_seq(++seq_);
    bytes += frame(r);
  }
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
  records_ = owed_.size();
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
