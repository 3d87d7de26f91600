// A private PostgreSQL server for a test or a bench: Debian's postgresql-15 binaries, a
// cluster made by initdb in a temporary directory of its own (/tmp/fdpg-<pid>-XXXXXX,
// owned by the postgres user, as PostgreSQL will not run as root), listening on
// 127.0.0.1 on a free port and on a Unix socket in that directory; password
// authentication over TCP for the superuser `firedrill`. Stopped and removed on
// destruction, also when the test fails; a directory left by a process that died
// (its server too) is removed by the next one. Never the host's PostgreSQL service.
#pragma once

#include <sys/types.h>

#include <string>

namespace firedrill::support {

// A loopback TCP port free now (another process may take it before it is bound).
int free_loopback_port();

class Postgres {
 public:
  struct Options {
    bool fsync = false;  // tests: off (fast); benches: on, as a real server runs
    bool synchronous_commit = true;
    // Another address to listen on besides 127.0.0.1: one of a veth of the namespace the
    // server is started in (constructed on a thread inside it: support::in_netns), for
    // clients of another namespace. Empty: loopback only.
    std::string also_listen;
  };
  // Throws std::runtime_error naming what failed (initdb, the start) with its log.
  explicit Postgres(Options options);
  Postgres() : Postgres(Options{}) {}
  ~Postgres();
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  // postgres://firedrill:PASSWORD@HOST:PORT/DATABASE (HOST: 127.0.0.1 or also_listen)
  std::string url(const std::string& database = "postgres", const std::string& host = "127.0.0.1") const;
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

  // Runs SQL as the superuser in `database`; throws naming the error.
  void sql(const std::string& statements, const std::string& database = "postgres") const;
  // A new empty database, named `<prefix>_<n>`: its name (url(name) reaches it).
  std::string fresh_database(const std::string& prefix);

  // A connection of the test's own, kept open between statements: for a transaction a
  // test holds (a row lock the controllers wait on). Closing it ends the transaction
  // (the server rolls back what is open).
  class Session {
   public:
    explicit Session(const std::string& url);  // throws naming the error
    ~Session();
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;
    void sql(const std::string& statements);   // throws naming the error
    void close();

   private:
    void* conn_ = nullptr;  // PGconn
  };

  // Fast shutdown (clients are disconnected), and a start on the same port and data.
  void stop();
  void start();

 private:
  void wait_ready();
  Options options_;
  std::string dir_, password_;
  int port_ = 0;
  pid_t pid_ = -1;
  int databases_ = 0;
};

}  // namespace firedrill::support
