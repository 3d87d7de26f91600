#include "controller/store/pg.h"

#include <endian.h>
#include <libpq-fe.h>

#include <cstring>
#include <random>
#include <thread>

#include "common/log.h"
#include "common/redact.h"

namespace firedrill::pg {

std::string redact(std::string_view url) { return redact_secrets(url); }

Params& Params::text(std::string_view v) {
  values_.emplace_back(std::string(v));
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(0);
  return *this;
}

Params& Params::bytes(std::string_view v) {
  values_.emplace_back(std::string(v));
  lengths_.push_back(static_cast<int>(v.size()));
  formats_.push_back(1);
  return *this;
}

Params& Params::integer(int64_t v) { return text(std::to_string(v)); }

Params& Params::integer(std::optional<int64_t> v) {
  if (v) return integer(*v);
  values_.emplace_back(std::nullopt);
  lengths_.push_back(0);
  formats_.push_back(0);
  return *this;
}

std::vector<const char*> Params::pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->data() : nullptr);
  return out;
}

Rows::~Rows() { PQclear(r_); }

Rows& Rows::operator=(Rows&& o) noexcept {
  if (this != &o) {
    PQclear(r_);
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

int Rows::size() const { return r_ ? PQntuples(r_) : 0; }
bool Rows::null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }

std::string Rows::text(int row, int col) const {
  if (null(row, col)) return {};
  return std::string(PQgetvalue(r_, row, col), static_cast<size_t>(PQgetlength(r_, row, col)));
}

int64_t Rows::integer(int row, int col) const { return maybe_integer(row, col).value_or(0); }

std::optional<int64_t> Rows::maybe_integer(int row, int col) const {
  if (null(row, col)) return std::nullopt;
  const char* p = PQgetvalue(r_, row, col);
  switch (PQgetlength(r_, row, col)) {
    case 1:
      return static_cast<int64_t>(static_cast<unsigned char>(*p));
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<int16_t>(be16toh(v));
    }
    case 4: {
      uint32_t v;
      std::memcpy(&v, p, 4);
      return static_cast<int32_t>(be32toh(v));
    }
    case 8: {
      uint64_t v;
      std::memcpy(&v, p, 8);
      return static_cast<int64_t>(be64toh(v));
    }
    default:
      return std::nullopt;
  }
}

Result<Conn> Conn::connect(const std::string& url, std::chrono::seconds timeout) {
  std::string seconds = std::to_string(std::max<int64_t>(1, timeout.count()));
  std::string user_timeout = std::to_string(std::max<int64_t>(1000, timeout.count() * 1000));
  // Earlier keywords are defaults that the URL (expanded from dbname) may override. The
  // keepalives and the TCP user timeout bound how long a call waits on a server that
  // vanished without closing the connection.
  const char* keys[] = {"connect_timeout", "application_name", "keepalives", "keepalives_idle",
                        "keepalives_interval", "keepalives_count", "tcp_user_timeout", "dbname", nullptr};
  const char* values[] = {seconds.c_str(), "firedrill", "1", "5", "2", "3", user_timeout.c_str(), url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (!c) return Error{ENOTCONN, fmt::format("{}: out of memory", redact(url))};
  if (PQstatus(c) != CONNECTION_OK) {
    std::string why = PQerrorMessage(c);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    PQfinish(c);
    return Error{ENOTCONN, fmt::format("cannot connect to {}: {}", redact(url), why)};
  }
  // Notices (e.g. "relation already exists, skipping") are not for the controller's log.
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  Conn conn(c);
  // A controller cut off from the database in the middle of a transaction leaves it
  // open on the server (its next statement never arrives, and nothing tells the server
  // that the client is gone), holding the lease row FOR SHARE (the fence): the next
  // leader's takeover would wait on it for as long as the server's TCP keepalive takes
  // (hours by default). The server ends such a session after kIdleInTransaction idle in
  // a transaction, and one whose replies go unacknowledged after the TCP user timeout,
  // so a takeover waits a lease, not hours.
  if (auto set = conn.exec(fmt::format("SET idle_in_transaction_session_timeout = {}; SET tcp_user_timeout = {}",
                                       kIdleInTransaction.count(), user_timeout));
      !set) {
    return Error{ENOTCONN, fmt::format("{}: {}", redact(url), set.error().describe())};
  }
  return conn;
}

Conn::~Conn() { PQfinish(c_); }

Conn& Conn::operator=(Conn&& o) noexcept {
  if (this != &o) {
    PQfinish(c_);
    c_ = o.c_;
    o.c_ = nullptr;
  }
  return *this;
}

bool Conn::usable() const { return c_ && PQstatus(c_) == CONNECTION_OK; }

bool Conn::in_failed_transaction() const { return c_ && PQtransactionStatus(c_) == PQTRANS_INERROR; }

Error Conn::failure(PGresult* r, std::string_view what) const {
  std::string why = r ? PQresultErrorMessage(r) : "";
  if (why.empty()) why = c_ ? PQerrorMessage(c_) : "no connection";
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  // Class 08: connection exception; 57P01-57P03: the server is shutting down or not
  // accepting connections (the connection is gone with it).
  bool lost = !c_ || PQstatus(c_) != CONNECTION_OK ||
              (state && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P0", 4) == 0));
  return Error{lost ? ENOTCONN : 0, fmt::format("{}: {}", what, why)};
}

Result<void> Conn::exec(std::string_view sql) {
  std::string text(sql);
  PGresult* r = c_ ? PQexec(c_, text.c_str()) : nullptr;
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    PQclear(r);
    return ok();
  }
  auto e = failure(r, text.substr(0, text.find_first_of(" \n")));
  PQclear(r);
  return e;
}

Result<Rows> Conn::query(const char* sql, const Params& params) {
  auto values = params.pointers();
  PGresult* r = c_ ? PQexecParams(c_, sql, params.size(), nullptr, values.data(), params.lengths().data(),
                                  params.formats().data(), 1)
                   : nullptr;
  auto st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Rows(r);
  std::string_view s(sql);
  auto e = failure(r, s.substr(0, s.find_first_of(" \n")));
  PQclear(r);
  return e;
}

Reconnecting::Reconnecting(Options options) : options_(std::move(options)), backoff_(options_.min) {}

void Reconnecting::drop() {
  if (conn_.usable() || was_connected_) {
    logger("controller.store")->warn("store {}: the connection was lost; reconnecting", redact(options_.url));
  }
  conn_ = Conn();
  was_connected_ = false;
}

Result<Conn*> Reconnecting::get(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  if (conn_.usable()) return &conn_;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  for (;;) {
    auto now = steady_clock::now();
    if (now >= next_try_) {
      auto c = Conn::connect(options_.url, options_.connect_timeout);
      if (c) {
        if (failures_ > 0) {
          logger("controller.store")->info("store {}: connected again after {} failed attempt(s)",
                                            redact(options_.url), failures_);
        }
        conn_ = std::move(*c);
        was_connected_ = true;
        failures_ = 0;
        backoff_ = options_.min;
        next_try_ = {};
        return &conn_;
      }
      last_error_ = c.error();
      ++failures_;
      std::uniform_int_distribution<int64_t> wait(backoff_.count() / 2, backoff_.count());
      next_try_ = steady_clock::now() + milliseconds(wait(rng));
      backoff_ = std::min(options_.max, backoff_ * 2);
    }
    if (next_try_ >= deadline) {
      Error e = last_error_ ? *last_error_ : Error{ENOTCONN, "not connected"};
      return Error{ENOTCONN, fmt::format("{} ({} attempt(s); the next one in {} ms)", e.message, failures_,
                                         duration_cast<milliseconds>(next_try_ - steady_clock::now()).count())};
    }
    std::this_thread::sleep_until(next_try_);
  }
}

}  // namespace firedrill::pg
