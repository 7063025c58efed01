// Status: the error value every fallible core function returns (no exceptions across the API, no abort on bad input).
#pragma once

#include <string>
#include <utility>

namespace jv3 {

// Stable error codes. The Embind layer and the CLI expose these strings verbatim
// (e.g. err.code === "E_MODEL_TRUNCATED"); never rename one, only add.
enum class Code {
  kOk = 0,
  kInvalidArgument,     // E_INVALID_ARGUMENT: a bad option value (threads, dimensions, ...)
  kUnknownTask,         // E_UNKNOWN_TASK: task name not among the model's adapters
  kBadDimensions,       // E_BAD_DIMENSIONS: not one of the model's Matryoshka sizes
  kEmptyInput,          // E_EMPTY_INPUT: an empty list of texts
  kBadInputType,        // E_BAD_INPUT_TYPE: an item that is not a string
  kTooLong,             // E_TOO_LONG: text longer than the model window and truncate is off
  kBadCheckpoint,       // E_BAD_CHECKPOINT: config.json / safetensors / tokenizer.json unusable
  kModelFormat,         // E_MODEL_FORMAT: not a model file, or a malformed header
  kModelVersion,        // E_MODEL_VERSION: a model file of an unsupported format version
  kModelTruncated,      // E_MODEL_TRUNCATED: the stream ended before all tensors arrived
  kModelChecksum,       // E_MODEL_CHECKSUM: a tensor's bytes do not match its checksum
  kModelTensor,         // E_MODEL_TENSOR: missing, unknown or wrong-shape tensor
  kTokenizer,           // E_TOKENIZER: tokenizer data unusable or unsupported
  kOutOfMemory,         // E_OUT_OF_MEMORY: an allocation failed
  kBackend,             // E_BACKEND: XNNPACK refused an operation
  kState,               // E_STATE: call in the wrong state (e.g. embed before load finished)
  kIo,                  // E_IO: reading or writing a file failed
  kLimit,               // E_LIMIT: more texts or tokens in one call than the configured maximum
};

const char* CodeName(Code code);

class Status {
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

#define JV3_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::jv3::Status _jv3_status = (expr);    \
    if (!_jv3_status.ok()) return _jv3_status; \
  } while (0)

}  // namespace jv3
