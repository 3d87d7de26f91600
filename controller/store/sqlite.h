// The small part of SQLite that the store (sqlite_store.cpp) and the tests that look
// into its file use: opening a database, running SQL text, and a prepared statement
// that finalizes itself.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace firedrill::sqlite {

// Opens (creating) a database that several threads may use, waiting up to 5 s for a
// lock; the error is SQLite's reason.
Result<sqlite3*> open(const std::string& path);

// Runs SQL text (one or more statements); the error is SQLite's message.
Result<void> exec(sqlite3* db, const char* sql);

// One prepared statement, finalized on scope exit; binds by 1-based index and reads
// by 0-based column.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Whether the SQL compiled; the error names what: "what: prepare: why".
  Result<void> prepared(std::string_view what) const;

  Stmt& bind(int i, std::string_view v);
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::optional<int64_t> v);  // NULL when empty

  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step();
  // Ready to step again with new bindings.
  void reset();

  // The bytes of a TEXT or BLOB column ("" for NULL).
  std::string text(int col) const;
  int64_t integer(int col) const;
  std::optional<int64_t> maybe_integer(int col) const;  // nullopt for NULL

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

}  // namespace firedrill::sqlite
