// Stable string names of the error codes, from error_codes.def, shared by the Embind layer and the CLI.
#include "base/status.h"

namespace jv3 {
namespace {

struct CodeEntry {
  Code code;
  const char* name;
};

constexpr CodeEntry kCodes[] = {
#define JV3_CORE_ERROR(enumerator, name, meaning) {Code::enumerator, name},
#include "base/error_codes.def"
};

}  // namespace

const char* CodeName(Code code) {
  if (code == Code::kOk) return "OK";
  for (const CodeEntry& e : kCodes) {
    if (e.code == code) return e.name;
  }
  return "E_UNKNOWN";
}

std::vector<Code> AllErrorCodes() {
  std::vector<Code> codes;
  for (const CodeEntry& e : kCodes) codes.push_back(e.code);
  return codes;
}

}  // namespace jv3
