// The one result type of firedrill: a value or an Error that carries an errno (0 when
// the failure is not a system error) and a message naming what failed and where.
// No exceptions cross the gRPC or BPF boundary; every fallible call returns Result<T>.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace firedrill {

struct Error {
  int code = 0;         // errno value, or 0
  std::string message;  // "what: why", outermost context first

  // Prefixes context, keeping the errno: err.context("apply fault f1")
  [[nodiscard]] Error context(std::string_view what) const {
    return Error{code, fmt::format("{}: {}", what, message)};
  }
  [[nodiscard]] std::string describe() const {
    if (code == 0) return message;
    return fmt::format("{} ({})", message, std::strerror(code));
  }
};

template <typename... Args>
[[nodiscard]] Error make_error(fmt::format_string<Args...> f, Args&&... args) {
  return Error{0, fmt::format(f, std::forward<Args>(args)...)};
}

// An error from a failed system call: errno is captured by the caller and passed in,
// so that formatting cannot clobber it.
template <typename... Args>
[[nodiscard]] Error sys_error(int code, fmt::format_string<Args...> f, Args&&... args) {
  return Error{code < 0 ? -code : code, fmt::format(f, std::forward<Args>(args)...)};
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}            // NOLINT(implicit)
  Result(Error error) : v_(std::move(error)) {}        // NOLINT(implicit)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), ok_(false) {}  // NOLINT(implicit)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }

 private:
  Error err_;
  bool ok_ = true;
};

inline Result<void> ok() { return {}; }

}  // namespace firedrill

// Propagates an error with added context: FD_TRY(engine.apply(spec), "apply {}", id);
#define FD_TRY(expr, ...)                                        \
  do {                                                           \
    auto fd_try_r_ = (expr);                                     \
    if (!fd_try_r_) return fd_try_r_.error().context(fmt::format(__VA_ARGS__)); \
  } while (0)

// Unwraps a Result<T> into `var`, or returns its error with context.
#define FD_ASSIGN(var, expr, ...)                                \
  auto fd_assign_##var = (expr);                                 \
  if (!fd_assign_##var) return fd_assign_##var.error().context(fmt::format(__VA_ARGS__)); \
  auto var = std::move(fd_assign_##var).value()
