// Stable string names of the error codes, from error_codes.def, shared by the Embind layer and the CLI.
#include "base/status.h"

namespace jv3 {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
#define JV3_CORE_ERROR(enumerator, name, meaning) \
    case Code::enumerator: return name;
#include "base/error_codes.def"
  }
  return "E_UNKNOWN";
}

const Code* AllErrorCodes(size_t* count) {
  static constexpr Code kCodes[] = {
#define JV3_CORE_ERROR(enumerator, name, meaning) Code::enumerator,
#include "base/error_codes.def"
  };
  *count = sizeof(kCodes) / sizeof(kCodes[0]);
  return kCodes;
}

}  // namespace jv3
