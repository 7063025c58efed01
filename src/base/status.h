// Status: the error value every fallible core function returns (no exceptions across the API, no abort on bad input).
#pragma once

#include <cstddef>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace jv3 {

// Stable error codes, one per JV3_CORE_ERROR line of error_codes.def (the one list of codes, with
// the ones the JS layer and the CLI add). The Embind layer and the CLI expose the names verbatim
// (e.g. err.code === "E_MODEL_TRUNCATED").
enum class Code {
  kOk = 0,
#define JV3_CORE_ERROR(enumerator, name, meaning) enumerator,
#include "base/error_codes.def"
};

// "E_…" for a code ("OK" for kOk).
const char* CodeName(Code code);

// Every core code, in error_codes.def order.
std::vector<Code> AllErrorCodes();

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

#define JV3_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::jv3::Status _jv3_status = (expr);        \
    if (!_jv3_status.ok()) return _jv3_status; \
  } while (0)

// Runs fn (allocations, or work that allocates; it returns void or Status) and reports a failed
// allocation as E_OUT_OF_MEMORY "out of memory <what>" instead of letting std::bad_alloc escape:
// the core promises no exceptions, and the instance stays usable.
template <typename F>
Status OrOutOfMemory(F&& fn, const std::string& what) {
  try {
    if constexpr (std::is_void_v<decltype(fn())>) {
      fn();
      return Status::Ok();
    } else {
      return fn();
    }
  } catch (const std::bad_alloc&) {
    return Status(Code::kOutOfMemory, "out of memory " + what);
  }
}

}  // namespace jv3
