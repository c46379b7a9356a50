// result<T>: a value or an error, the engine's way of returning failure.
//
// Every layer below the actors (crypto, storage, media) returns errors as
// values instead of throwing. An error carries a short machine-readable code
// (stable, used by tests and counters) and a human sentence that names what
// was wrong. Layers add context as an error climbs ("while opening ...").
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ccrec {

struct error {
  std::string code;     // stable token, e.g. "chunk_auth_failed"
  std::string message;  // for people: what, where, why

  // Returns a copy whose message starts with `context: `.
  error with_context(const std::string& context) const {
    return error{code, context + ": " + message};
  }
};

template <class T>
class [[nodiscard]] result {
 public:
  result(T value) : v_(std::move(value)) {}
  result(ccrec::error err) : v_(std::move(err)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const ccrec::error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

 private:
  std::variant<T, ccrec::error> v_;
};

template <>
class [[nodiscard]] result<void> {
 public:
  result() = default;
  result(ccrec::error err) : err_(std::move(err)), failed_(true) {}

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const ccrec::error& error() const {
    assert(failed_);
    return err_;
  }

 private:
  ccrec::error err_;
  bool failed_ = false;
};

inline error make_error(std::string code, std::string message) {
  return error{std::move(code), std::move(message)};
}

}  // namespace ccrec
