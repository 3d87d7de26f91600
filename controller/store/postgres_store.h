// The PostgreSQL store: the controller's Store (store.h) in a PostgreSQL database that
// several controllers share, with the leader lease (leader_lease.h) beside it.
//
// Same behaviour as the SQLite store (tests/unit/store_test.cpp runs both), and:
// - the database belongs to one fleet: its id is stored when the schema is made, and a
//   controller of another fleet is refused at open;
// - a lost connection is reopened with exponential backoff and jitter, for up to
//   `retry_for` per call; a store call whose transaction was cut before its commit was
//   sent is run again on the new connection (nothing of the cut one was written); a
//   caller's transaction() that was cut is reported, never retried behind its back; a
//   commit whose answer was lost is reported as such (outcome unknown: the database
//   has it whole or not at all);
// - every write carries the epoch of the lease this store holds (0 when none), and the
//   database refuses it when that is not the lease's epoch (once a lease was taken).
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "controller/store/leader_lease.h"
#include "controller/store/store.h"

namespace firedrill::controller {

struct PostgresOptions {
  std::string url;    // postgres://user:password@host:port/database[?sslmode=...]
  std::string fleet;  // the fleet this controller serves; the database must be this fleet's
  std::chrono::seconds connect_timeout{5};
  std::chrono::milliseconds retry_for{5000};  // how long one call waits for the database
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{2000};
};

class PostgresStore : public Store {
 public:
  // The lease in the same database, on a connection of its own (a long transaction of
  // the store never delays a renewal).
  virtual LeaderLease& lease() = 0;
};

// Whether a --store value names a PostgreSQL database (postgres:// or postgresql://).
bool is_postgres_url(std::string_view store);

// Connects, makes the schema when the database has none (migrating an older one),
// refuses a newer schema or another fleet's database. Errors name the URL without its
// password.
Result<std::unique_ptr<PostgresStore>> open_postgres_store(const PostgresOptions& options);

}  // namespace firedrill::controller
