// The small part of libpq that the PostgreSQL store uses: a connection, statements with
// parameters (text, or bytes for BYTEA) and their rows read in binary, and errors that
// say whether the connection was lost (Error::code ENOTCONN), so that the store can
// reconnect and retry what never reached a commit.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

struct pg_conn;
struct pg_result;

namespace firedrill::pg {

// The URL as it may be logged: the password replaced by "***" (common/redact.h).
std::string redact(std::string_view url);

// Whether an error is a lost connection (retry on a new one) rather than a refusal.
inline bool connection_lost(const Error& e) { return e.code == ENOTCONN; }

// Statement parameters $1, $2, ...: text, bytes (BYTEA, sent binary), integers, NULL.
class Params {
 public:
  Params& text(std::string_view v);
  Params& bytes(std::string_view v);
  Params& integer(int64_t v);
  Params& integer(std::optional<int64_t> v);  // NULL when empty

  int size() const { return static_cast<int>(values_.size()); }
  std::vector<const char*> pointers() const;
  const std::vector<int>& lengths() const { return lengths_; }
  const std::vector<int>& formats() const { return formats_; }

 private:
  std::vector<std::optional<std::string>> values_;
  std::vector<int> lengths_, formats_;
};

// The rows of one statement, read in binary: text and BYTEA columns as their bytes,
// BIGINT/INTEGER/BOOLEAN as numbers.
class Rows {
 public:
  explicit Rows(pg_result* r) : r_(r) {}
  ~Rows();
  Rows(Rows&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Rows& operator=(Rows&& o) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;

  int size() const;
  bool null(int row, int col) const;
  std::string text(int row, int col) const;  // "" for NULL
  int64_t integer(int row, int col) const;   // int2/int4/int8/bool; 0 for NULL
  std::optional<int64_t> maybe_integer(int row, int col) const;

 private:
  pg_result* r_;
};

// How long the server keeps a session idle inside a transaction before it ends it (and
// the transaction with it): what a takeover waits at most for the locks of a leader cut
// off in the middle of one: about a leader lease; a store transaction's own
// pauses between statements are milliseconds.
inline constexpr std::chrono::milliseconds kIdleInTransaction{2000};

class Conn {
 public:
  // Connects to `url` (postgres://user:password@host:port/db?options, or a libpq
  // key=value string), giving up after `timeout`; the session is ended by the server
  // after kIdleInTransaction idle in a transaction. The error names the URL (without its
  // password) and libpq's reason, with code ENOTCONN.
  static Result<Conn> connect(const std::string& url, std::chrono::seconds timeout);
  Conn() = default;
  ~Conn();
  Conn(Conn&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  Conn& operator=(Conn&& o) noexcept;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  bool usable() const;  // connected and not known to be broken
  // Inside a transaction where a statement failed (its COMMIT would roll back).
  bool in_failed_transaction() const;
  // One or more statements without parameters (simple protocol).
  Result<void> exec(std::string_view sql);
  // One statement with parameters; rows in binary.
  Result<Rows> query(const char* sql, const Params& params = {});

 private:
  explicit Conn(pg_conn* c) : c_(c) {}
  Error failure(pg_result* r, std::string_view what) const;
  pg_conn* c_ = nullptr;
};

// A connection that is reopened when lost: exponential backoff from `min` to `max`
// with jitter (each wait drawn from [b/2, b]), so that controllers that lost one
// database do not come back in step. The backoff carries over between calls and is
// reset by a connection that works. Not thread-safe: its owner serializes calls.
class Reconnecting {
 public:
  struct Options {
    std::string url;
    std::chrono::seconds connect_timeout{5};
    std::chrono::milliseconds min{100}, max{2000};
  };
  explicit Reconnecting(Options options);

  // A usable connection, reconnecting until `deadline`; the last connect error after it.
  Result<Conn*> get(std::chrono::steady_clock::time_point deadline);
  // Forgets a connection that was found lost (the next get() reconnects).
  void drop();
  const std::string& url() const { return options_.url; }

 private:
  Options options_;
  Conn conn_;
  bool was_connected_ = false;
  std::chrono::milliseconds backoff_;
  std::chrono::steady_clock::time_point next_try_{};
  int failures_ = 0;
  std::optional<Error> last_error_;
};

}  // namespace firedrill::pg
