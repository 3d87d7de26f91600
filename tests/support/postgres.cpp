#include "tests/support/postgres.h"

#include <dirent.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/spawn.h"
#include "tests/support/process.h"

namespace firedrill::support {
namespace {

constexpr const char* kBin = "/usr/lib/postgresql/15/bin/";

// Runs as the postgres user: initdb and postgres refuse root.
std::vector<std::string> as_postgres(std::vector<std::string> argv) {
  std::vector<std::string> out{"setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

bool alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno == EPERM; }

// Directories /tmp/fdpg-<pid>-* of processes that are gone: their server (the pid on
// the first line of postmaster.pid) is killed and the directory removed.
void remove_stale() {
  DIR* d = ::opendir("/tmp");
  if (!d) return;
  std::vector<std::string> stale;
  while (auto* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("fdpg-", 0) != 0) continue;
    pid_t owner = static_cast<pid_t>(std::atoi(n.c_str() + 5));
    if (owner > 0 && !alive(owner)) stale.push_back("/tmp/" + n);
  }
  ::closedir(d);
  for (const auto& dir : stale) {
    std::ifstream pidfile(dir + "/data/postmaster.pid");
    pid_t server = 0;
    if (pidfile >> server && server > 0) {
      std::ifstream cmdline("/proc/" + std::to_string(server) + "/cmdline");
      std::string cmd;
      std::getline(cmdline, cmd, '\0');
      if (cmd.find("postgres") != std::string::npos) ::kill(server, SIGKILL);
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
}

}  // namespace

int free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw std::runtime_error("postgres: no free loopback port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

Postgres::Postgres(Options options) : options_(options) {
  remove_stale();
  passwd* pw = ::getpwnam("postgres");
  if (!pw) throw std::runtime_error("postgres: no postgres user (install postgresql-15: scripts/install-deps.sh)");
  if (::access((std::string(kBin) + "initdb").c_str(), X_OK) != 0) {
    throw std::runtime_error(std::string("postgres: no ") + kBin + "initdb (install postgresql-15)");
  }
  std::string tmpl = "/tmp/fdpg-" + std::to_string(::getpid()) + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("postgres: mkdtemp failed");
  dir_ = tmpl;
  if (::chown(dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("postgres: chown " + dir_ + " failed");
  }
  std::random_device rd;
  for (int i = 0; i < 4; ++i) password_ += fmt::format("{:08x}", rd());
  {
    std::ofstream pwfile(dir_ + "/pw");
    pwfile << password_ << "\n";
  }
  if (::chown((dir_ + "/pw").c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("postgres: chown the password file failed");
  }
  auto init = exec(as_postgres({std::string(kBin) + "initdb", "-D", dir_ + "/data", "-U", "firedrill", "-E", "UTF8",
                                "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
                                "--pwfile=" + dir_ + "/pw", "--no-sync", "--no-instructions"}),
                   std::chrono::seconds(120));
  if (init.code != 0) {
    std::filesystem::remove_all(dir_);
    throw std::runtime_error("postgres: initdb failed (" + std::to_string(init.code) + "): " + init.out);
  }
  if (!options_.also_listen.empty()) {
    // initdb admits TCP clients of loopback only: those of the veth's subnet too.
    std::ofstream(dir_ + "/data/pg_hba.conf", std::ios::app) << "host all all samenet scram-sha-256\n";
  }
  // A port found free may be taken by another process before the server binds it:
  // then the server exits at start, and another port is tried.
  for (int attempt = 1;; ++attempt) {
    port_ = free_loopback_port();
    try {
      start();
      return;
    } catch (...) {
      stop();
      if (attempt < 3 && read_file(dir_ + "/server.log").find("could not bind") != std::string::npos) continue;
      std::filesystem::remove_all(dir_);
      throw;
    }
  }
}

Postgres::~Postgres() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string Postgres::url(const std::string& database, const std::string& host) const {
  return fmt::format("postgres://firedrill:{}@{}:{}/{}", password_, host, port_, database);
}

void Postgres::start() {
  if (pid_ > 0) return;
  SpawnOptions o;
  o.argv = as_postgres({std::string(kBin) + "postgres", "-D", dir_ + "/data", "-p", std::to_string(port_), "-c",
                        std::string("listen_addresses=127.0.0.1") + (options_.also_listen.empty() ? "" : "," + options_.also_listen), "-c", "unix_socket_directories=" + dir_, "-c",
                        std::string("fsync=") + (options_.fsync ? "on" : "off"), "-c",
                        std::string("synchronous_commit=") + (options_.synchronous_commit ? "on" : "off"), "-c",
                        "max_connections=50", "-c", "shared_buffers=32MB"});
  o.output_file = dir_ + "/server.log";
  auto pid = firedrill::start(o);
  if (!pid) throw std::runtime_error("postgres: cannot start: " + pid.error().describe());
  pid_ = *pid;
  wait_ready();
}

void Postgres::wait_ready() {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::string conninfo = fmt::format("host=127.0.0.1 port={} dbname=postgres user=firedrill connect_timeout=2", port_);
  while (std::chrono::steady_clock::now() < deadline) {
    if (PQping(conninfo.c_str()) == PQPING_OK) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("postgres: the server exited at start: " + read_file(dir_ + "/server.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  throw std::runtime_error("postgres: not ready after 60 s: " + read_file(dir_ + "/server.log"));
}

void Postgres::stop() {
  if (pid_ <= 0) return;
  // SIGINT: fast shutdown (clients disconnected, a clean checkpoint).
  ::kill(pid_, SIGINT);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(-pid_, SIGKILL);  // anything of its group that outlived it
  pid_ = -1;
}

Postgres::Session::Session(const std::string& url) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("postgres: session: " + why);
  }
  conn_ = c;
}

Postgres::Session::~Session() { close(); }

void Postgres::Session::close() {
  if (conn_) PQfinish(static_cast<PGconn*>(conn_));
  conn_ = nullptr;
}

void Postgres::Session::sql(const std::string& statements) {
  if (!conn_) throw std::runtime_error("postgres: session closed");
  PGresult* r = PQexec(static_cast<PGconn*>(conn_), statements.c_str());
  auto st = PQresultStatus(r);
  std::string why = PQresultErrorMessage(r);
  PQclear(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("postgres: " + statements + ": " + why);
}

void Postgres::sql(const std::string& statements, const std::string& database) const {
  PGconn* c = PQconnectdb(url(database).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    PQfinish(c);
    throw std::runtime_error("postgres: connect to " + database + ": " + why);
  }
  PGresult* r = PQexec(c, statements.c_str());
  auto st = PQresultStatus(r);
  std::string why = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) throw std::runtime_error("postgres: " + statements + ": " + why);
}

std::string Postgres::fresh_database(const std::string& prefix) {
  std::string name = prefix + "_" + std::to_string(++databases_);
  sql("CREATE DATABASE " + name);
  return name;
}

}  // namespace firedrill::support
