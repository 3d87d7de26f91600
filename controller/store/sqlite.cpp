#include "controller/store/sqlite.h"

#include <sqlite3.h>

namespace firedrill::sqlite {

Result<sqlite3*> open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                           nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return make_error("{}", msg);
  }
  sqlite3_busy_timeout(db, 5000);
  return db;
}

Result<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string text = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return make_error("{}", text);
  }
  return ok();
}

Stmt::Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }

Stmt::~Stmt() { sqlite3_finalize(s_); }

Result<void> Stmt::prepared(std::string_view what) const {
  if (rc_ != SQLITE_OK) return make_error("{}: prepare: {}", what, sqlite3_errmsg(db_));
  return ok();
}

Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind_blob(int i, std::string_view v) {
  sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}

Stmt& Stmt::bind(int i, std::optional<int64_t> v) {
  if (v) sqlite3_bind_int64(s_, i, *v);
  else sqlite3_bind_null(s_, i);
  return *this;
}

int Stmt::step() { return sqlite3_step(s_); }

void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string Stmt::text(int col) const {
  // As a blob: the stored bytes, with no conversion and no stop at a NUL.
  auto* p = sqlite3_column_blob(s_, col);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s_, col)))
           : std::string();
}

int64_t Stmt::integer(int col) const { return sqlite3_column_int64(s_, col); }

std::optional<int64_t> Stmt::maybe_integer(int col) const {
  if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s_, col);
}

}  // namespace firedrill::sqlite
