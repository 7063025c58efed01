// Stable string names of the error codes, shared by the Embind layer and the CLI.
#include "status.h"

namespace jv3 {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "E_INVALID_ARGUMENT";
    case Code::kUnknownTask: return "E_UNKNOWN_TASK";
    case Code::kBadDimensions: return "E_BAD_DIMENSIONS";
    case Code::kEmptyInput: return "E_EMPTY_INPUT";
    case Code::kBadInputType: return "E_BAD_INPUT_TYPE";
    case Code::kTooLong: return "E_TOO_LONG";
    case Code::kBadCheckpoint: return "E_BAD_CHECKPOINT";
    case Code::kModelFormat: return "E_MODEL_FORMAT";
    case Code::kModelVersion: return "E_MODEL_VERSION";
    case Code::kModelTruncated: return "E_MODEL_TRUNCATED";
    case Code::kModelChecksum: return "E_MODEL_CHECKSUM";
    case Code::kModelTensor: return "E_MODEL_TENSOR";
    case Code::kTokenizer: return "E_TOKENIZER";
    case Code::kOutOfMemory: return "E_OUT_OF_MEMORY";
    case Code::kBackend: return "E_BACKEND";
    case Code::kState: return "E_STATE";
    case Code::kIo: return "E_IO";
    case Code::kLimit: return "E_LIMIT";
  }
  return "E_UNKNOWN";
}

}  // namespace jv3
