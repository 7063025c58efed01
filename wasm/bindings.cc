// Embind boundary: JS values in, plain result objects out. Nothing throws into JS; failures are
// returned as {error: {code, message}} and results are copied into fresh typed arrays.
#include <emscripten/bind.h>
#include <emscripten/val.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "convert/converter.h"
#include "convert/stream_converter.h"
#include "runtime/embedder.h"
#include "runtime/loader.h"

using emscripten::val;

namespace jv3 {
namespace {

val ErrorResult(const Status& st) {
  val err = val::object();
  err.set("code", std::string(CodeName(st.code())));
  err.set("message", st.message());
  val out = val::object();
  out.set("error", err);
  return out;
}

template <typename T>
val CopyOut(const char* array_type, const T* data, size_t n) {
  val out = val::global(array_type).new_(n);
  out.call<void>("set", val(emscripten::typed_memory_view(n, data)));
  return out;
}

// Copies a JS Uint8Array into `dst` through a view created now (the heap may have grown).
void CopyIn(const val& bytes, std::vector<uint8_t>* dst) {
  dst->resize(bytes["length"].as<size_t>());
  val(emscripten::typed_memory_view(dst->size(), dst->data())).call<void>("set", bytes);
}

bool Flag(const val& options, const char* key, bool fallback) {
  val v = options[key];
  return v.isUndefined() || v.isNull() ? fallback : v.as<bool>();
}

Status ReadTexts(const val& texts, std::vector<std::string>* out) {
  if (!val::global("Array").call<bool>("isArray", texts)) {
    return Status(Code::kBadInputType, "input must be an array of strings");
  }
  const size_t n = texts["length"].as<size_t>();
  for (size_t i = 0; i < n; ++i) {
    val t = texts[i];
    if (!t.isString()) return Status(Code::kBadInputType, "input[" + std::to_string(i) + "] is not a string");
    out->push_back(t.as<std::string>());
  }
  return Status::Ok();
}

// Handed to JS by value: Embind copies it, so the embedder is shared, and freed with the last copy.
class Engine {
 public:
  explicit Engine(std::unique_ptr<Embedder> e) : e_(std::move(e)) {}

  val info() const {
    const ModelConfig& c = e_->config();
    val o = val::object();
    o.set("config", val::global("JSON").call<val>("parse", e_->model().header().config_json));
    val tasks = val::array(), instr = val::object(), dims = val::array();
    for (size_t i = 0; i < c.tasks.size(); ++i) {
      tasks.call<void>("push", c.tasks[i]);
      instr.set(c.tasks[i], c.task_instructions[i]);
    }
    for (int d : c.matryoshka_dims) dims.call<void>("push", d);
    o.set("tasks", tasks);
    o.set("instructions", instr);
    o.set("dimensions", dims);
    o.set("hiddenSize", c.hidden_size);
    o.set("maxLength", e_->max_length());
    o.set("modelType", std::string(e_->model().int8() ? "int8" : "f32"));
    o.set("threads", e_->model().threads());
    o.set("memory", std::string(e_->model().streamed() ? "streamed" : e_->model().paged() ? "paged" : "resident"));
    return o;
  }

  val tokenize(val texts, val options) const {
    std::vector<std::string> list;
    Status st = ReadTexts(texts, &list);
    if (!st.ok()) return ErrorResult(st);
    val ids = val::array(), offsets = val::array();
    for (size_t i = 0; i < list.size(); ++i) {
      Encoding enc;
      st = e_->Tokenize(list[i], Flag(options, "truncate", true), &enc);
      if (!st.ok()) return ErrorResult(Status(st.code(), "input[" + std::to_string(i) + "]: " + st.message()));
      ids.call<void>("push", CopyOut("Int32Array", enc.ids.data(), enc.ids.size()));
      offsets.call<void>(
          "push", CopyOut("Int32Array", reinterpret_cast<const int32_t*>(enc.offsets.data()), enc.offsets.size() * 2));
    }
    val o = val::object();
    o.set("ids", ids);
    o.set("offsets", offsets);
    return o;
  }

  val embed(val texts, val options) {
    std::vector<std::string> list;
    Status st = ReadTexts(texts, &list);
    if (!st.ok()) return ErrorResult(st);
    EmbedOptions o;
    st = ReadOptions(options, list.size(), &o);
    if (!st.ok()) return ErrorResult(st);
    CallPlan plan;
    st = e_->Plan(list, o, &plan);
    if (!st.ok()) return ErrorResult(st);
    return Start(std::move(plan));
  }
  val embedTokenSpans(std::string text, val spans, val options) {
    std::vector<int32_t> flat = emscripten::convertJSArrayToNumberVector<int32_t>(spans);
    if (flat.size() % 2) return ErrorResult(Status(Code::kInvalidArgument, "spans must be [start, end) pairs"));
    std::vector<std::pair<int32_t, int32_t>> pairs;
    for (size_t i = 0; i < flat.size(); i += 2) pairs.push_back({flat[i], flat[i + 1]});
    EmbedOptions o;
    Status st = ReadOptions(options, 1, &o);
    if (!st.ok()) return ErrorResult(st);
    CallPlan plan;
    st = e_->PlanTokenSpans(text, pairs, o, &plan);
    if (!st.ok()) return ErrorResult(st);
    return Start(std::move(plan));
  }
  // Paged or streamed memory: the bytes of the ranges the last step asked for ({ needs }),
  // concatenated; the call goes on (rows, then, streamed, each layer in turn) and answers the next
  // { needs, next } or its result. A layer may come in parts, in order: each part before the last
  // answers { more: true }. On failure the call ends and the instance stays usable.
  val supply(val bytes) {
    if (pending_->phase == Phase::kNone) return ErrorResult(Status(Code::kState, "no embed call is waiting for bytes"));
    const size_t n = bytes["length"].as<size_t>();
    auto copy = [&](size_t offset, uint8_t* dst, size_t len) {
      val(emscripten::typed_memory_view(len, dst)).call<void>("set", bytes.call<val>("subarray", offset, offset + len));
    };
    if (pending_->phase == Phase::kLayers) {
      bool done = false;
      Status st = e_->SupplyLayer(pending_->layer_received, n, copy, &done);
      if (!st.ok()) {
        pending_->phase = Phase::kNone;
        return ErrorResult(st);
      }
      if (!done) {
        pending_->layer_received += n;
        val o = val::object();
        o.set("more", true);
        return o;
      }
      return Continue();
    }
    pending_->phase = Phase::kNone;
    CallPlan plan = std::move(pending_->plan);
    std::vector<uint8_t> buffer;
    CopyIn(bytes, &buffer);
    Status st = e_->model().paged()->Supply(buffer.data(), buffer.size());
    if (!st.ok()) return ErrorResult(st);
    return Run(std::move(plan));
  }
  // Paged memory: rows read, bytes and ranges so far, rows cached now.
  val pagedStats() const {
    const PagedRows* paged = e_->model().paged();
    if (!paged) return val::null();
    const PagedStats s = paged->stats();
    val o = val::object();
    o.set("rowsRead", static_cast<double>(s.rows_read));
    o.set("bytesRead", static_cast<double>(s.bytes_read));
    o.set("rangesRead", static_cast<double>(s.ranges_read));
    o.set("rowsCached", static_cast<double>(s.rows_cached));
    return o;
  }

 private:
  // Runs a planned call, or (paged memory, rows missing) returns { needs: [offset, length, ...] }
  // and keeps the plan for supply().
  val Start(CallPlan plan) {
    pending_->phase = Phase::kNone;
    PagedRows* paged = e_->model().paged();
    if (paged) {
      std::vector<const std::vector<int32_t>*> ids;
      for (const auto& seq : plan.ids) ids.push_back(&seq);
      std::vector<RowRange> ranges;
      Status st = paged->Need(ids, &ranges);
      if (!st.ok()) return ErrorResult(st);
      if (!ranges.empty()) {
        pending_->plan = std::move(plan);
        pending_->phase = Phase::kRows;
        return Needs(ranges, {}, false);
      }
    }
    return Run(std::move(plan));
  }
  // With its rows in: the call runs whole, or (streamed) asks for its first layer.
  val Run(CallPlan plan) {
    if (e_->model().streamed()) {
      e_->StartStreamed(std::move(plan));
      return Continue();
    }
    EmbedResult r;
    Status st = e_->Run(plan, &r);
    if (!st.ok()) return ErrorResult(st);
    return ResultVal(r);
  }
  // Streamed: { needs: the next layer's range, next: the one after (to read ahead), layer: true },
  // or the result.
  val Continue() {
    RowRange range, after;
    if (e_->NextLayer(&range, &after)) {
      pending_->phase = Phase::kLayers;
      pending_->layer_received = 0;
      return Needs({range}, after, true);
    }
    pending_->phase = Phase::kNone;
    EmbedResult r;
    Status st = e_->TakeStreamed(&r);
    if (!st.ok()) return ErrorResult(st);
    return ResultVal(r);
  }
  // `layer`: a streamed layer's range, which may be supplied in parts.
  static val Needs(const std::vector<RowRange>& ranges, RowRange next, bool layer) {
    auto flat = [](const std::vector<RowRange>& list) {
      std::vector<double> out;
      for (const RowRange& r : list) {
        out.push_back(static_cast<double>(r.offset));
        out.push_back(static_cast<double>(r.length));
      }
      return CopyOut("Float64Array", out.data(), out.size());
    };
    val o = val::object();
    o.set("needs", flat(ranges));
    if (next.length) o.set("next", flat({next}));
    if (layer) o.set("layer", true);
    return o;
  }
  enum class Phase { kNone, kRows, kLayers };
  struct Pending {
    Phase phase = Phase::kNone;
    CallPlan plan;  // kRows: the call waiting for its rows
    uint64_t layer_received = 0;  // kLayers: bytes of the layer's range supplied so far
  };
  std::shared_ptr<Pending> pending_ = std::make_shared<Pending>();

  Status Task(const val& v, int* index) const {
    if (v.isNull() || v.isUndefined()) {
      *index = -1;
      return Status::Ok();
    }
    if (!v.isString()) return Status(Code::kUnknownTask, "task must be a string or null");
    return e_->TaskIndex(v.as<std::string>(), index);
  }

  Status ReadOptions(const val& options, size_t texts, EmbedOptions* o) const {
    const bool given = !options.isUndefined() && !options.isNull();
    val none = val::object();
    const val& opt = given ? options : none;
    val tasks = opt["tasks"];
    o->tasks.clear();
    if (!tasks.isUndefined() && !tasks.isNull()) {
      const size_t n = tasks["length"].as<size_t>();
      for (size_t i = 0; i < n; ++i) {
        int t;
        JV3_RETURN_IF_ERROR(Task(tasks[i], &t));
        o->tasks.push_back(t);
      }
    } else {
      int t;
      JV3_RETURN_IF_ERROR(Task(opt["task"], &t));
      o->tasks = {t};
    }
    val dims = opt["dimensions"];
    if (!dims.isUndefined() && !dims.isNull()) {
      if (!dims.isNumber() || dims.as<double>() != static_cast<int>(dims.as<double>())) {
        return Status(Code::kBadDimensions, "dimensions must be an integer");
      }
      o->dimensions = dims.as<int>();
    }
    o->normalized = Flag(opt, "normalized", true);
    o->instruction = Flag(opt, "instruction", true);
    o->truncate = Flag(opt, "truncate", false);
    o->late_chunking = Flag(opt, "lateChunking", false);
    for (const char* key : {"maxTexts", "maxTokens"}) {
      val v = opt[key];
      if (v.isUndefined() || v.isNull()) continue;
      const double d = v.isNumber() ? v.as<double>() : -1;
      if (!(d >= 1 && d <= 9007199254740991.0 && d == static_cast<double>(static_cast<int64_t>(d)))) {
        return Status(Code::kInvalidArgument, std::string(key) + " must be a positive integer");
      }
      if (std::string(key) == "maxTexts")
        o->max_texts = static_cast<size_t>(std::min(d, 4294967295.0));
      else
        o->max_tokens = static_cast<int64_t>(d);
    }
    val conv = opt["spanConvention"];
    if (!conv.isUndefined() && !conv.isNull()) {
      const std::string c = conv.isString() ? conv.as<std::string>() : "";
      if (c != "exact" && c != "late-chunking") {
        return Status(Code::kInvalidArgument, "spanConvention must be \"exact\" or \"late-chunking\"");
      }
      o->extended_spans = c == "late-chunking";
    }
    return Status::Ok();
  }

  static val ResultVal(const EmbedResult& r) {
    val o = val::object();
    o.set("embeddings", CopyOut("Float32Array", r.embeddings.data(), r.embeddings.size()));
    o.set("dim", r.dim);
    o.set("tokenCounts", CopyOut("Int32Array", r.token_counts.data(), r.token_counts.size()));
    o.set("totalTokens", static_cast<double>(r.total_tokens));
    return o;
  }

  std::shared_ptr<Embedder> e_;
};

class JsModelLoader {
 public:
  // options: { memory: "resident" | "paged" | "streamed", rowCache: rows kept between calls }
  explicit JsModelLoader(val options) : loader_(Memory(options)) {}
  val push(val chunk) {
    // Straight from the JS array to where the loader keeps each byte (a tensor's buffer), through
    // views made at each copy (the heap may have grown since).
    Status st = loader_.Push(chunk["length"].as<size_t>(), [&](size_t offset, uint8_t* dst, size_t len) {
      val(emscripten::typed_memory_view(len, dst)).call<void>("set", chunk.call<val>("subarray", offset, offset + len));
    });
    if (!st.ok()) return ErrorResult(st);
    const LoadProgress& p = loader_.progress();
    val o = val::object();
    o.set("bytesLoaded", static_cast<double>(p.bytes_loaded));
    o.set("bytesTotal", static_cast<double>(p.bytes_total));
    o.set("tensorsReady", p.tensors_ready);
    o.set("tensorsTotal", p.tensors_total);
    o.set("phase", std::string(p.phase));
    return o;
  }

  // For StreamConverter.finish: model-file bytes straight from wasm memory, no round trip to JS.
  Status PushBytes(const uint8_t* data, size_t n) { return loader_.Push(data, n); }

  val finish(int threads) {
    std::unique_ptr<Embedder> e;
    Status st = loader_.Finish(threads, &e);
    if (!st.ok()) return ErrorResult(st);
    val o = val::object();
    o.set("engine", val(Engine(std::move(e))));
    return o;
  }

 private:
  static MemoryOptions Memory(const val& options) {
    MemoryOptions m;
    if (options.isUndefined() || options.isNull()) return m;
    const std::string memory = options["memory"].isString() ? options["memory"].as<std::string>() : "";
    m.paged = memory == "paged";
    m.streamed = memory == "streamed";
    if (options["rowCache"].isNumber()) m.row_cache = static_cast<size_t>(options["rowCache"].as<double>());
    return m;
  }
  ModelLoader loader_;
};

// The official checkpoint converted while it streams (stream_converter.h): safetensors chunks in,
// the model file out into a ModelLoader, and to `onChunk` (e.g. a cache entry) if given.
class JsStreamConverter {
 public:
  // args: { config, tokenizer, tokenizerConfig, dtype: "int8" | "f32", safetensorsSize (0: unknown) }
  val init(val args) {
    auto text = [&](const char* key) {
      val v = args[key];
      return v.isString() ? v.as<std::string>() : std::string();
    };
    const std::string dtype = text("dtype");
    if (!dtype.empty() && dtype != "int8" && dtype != "f32") {
      return ErrorResult(Status(Code::kInvalidArgument, "dtype must be \"int8\" or \"f32\", got \"" + dtype + "\""));
    }
    val size = args["safetensorsSize"];
    Status st = StreamConverter::Create(text("config"), text("tokenizer"), text("tokenizerConfig"), dtype != "f32",
                                        size.isNumber() ? static_cast<uint64_t>(size.as<double>()) : 0, &conv_);
    return st.ok() ? Progress() : ErrorResult(st);
  }

  val push(val chunk) {
    if (!conv_) return ErrorResult(Status(Code::kState, "StreamConverter.init was not called or failed"));
    CopyIn(chunk, &buffer_);
    Status st = conv_->Push(buffer_.data(), buffer_.size());
    return st.ok() ? Progress() : ErrorResult(st);
  }

  val finish(JsModelLoader& loader, val on_chunk) {
    if (!conv_) return ErrorResult(Status(Code::kState, "StreamConverter.init was not called or failed"));
    std::vector<uint8_t>().swap(buffer_);
    const bool forward = !on_chunk.isUndefined() && !on_chunk.isNull();
    ConvertResult result;
    Status st = conv_->Finish(
        [&](const uint8_t* data, size_t n) {
          JV3_RETURN_IF_ERROR(loader.PushBytes(data, n));
          if (forward) {
            val ok = on_chunk(val(emscripten::typed_memory_view(n, data)));
            if (!ok.isUndefined() && !ok.as<bool>()) return Status(Code::kIo, "writing the converted model failed");
          }
          return Status::Ok();
        },
        &result);
    conv_.reset();
    if (!st.ok()) return ErrorResult(st);
    val o = val::object();
    o.set("bytesWritten", static_cast<double>(result.bytes_written));
    o.set("tensors", result.tensors);
    return o;
  }

 private:
  val Progress() const {
    const StreamProgress& p = conv_->progress();
    val o = val::object();
    o.set("bytesLoaded", static_cast<double>(p.bytes_in));
    o.set("bytesTotal", static_cast<double>(p.bytes_total));
    o.set("tensorsReady", p.tensors_ready);
    o.set("tensorsTotal", p.tensors_total);
    o.set("phase", std::string("converting"));
    return o;
  }

  std::unique_ptr<StreamConverter> conv_;
  std::vector<uint8_t> buffer_;
};

val Convert(val args) {
  auto text = [&](const char* key) {
    val v = args[key];
    return v.isString() ? v.as<std::string>() : std::string();
  };
  const val read = args["read"], write = args["write"], progress = args["onProgress"];
  ConvertOptions opt;
  const std::string dtype = text("dtype");
  if (!dtype.empty() && dtype != "int8" && dtype != "f32") {
    return ErrorResult(Status(Code::kInvalidArgument, "dtype must be \"int8\" or \"f32\", got \"" + dtype + "\""));
  }
  opt.int8 = dtype != "f32";
  if (!progress.isUndefined() && !progress.isNull()) {
    opt.on_progress = [&](int done, int total) {
      val p = val::object();
      p.set("tensorsDone", done);
      p.set("tensorsTotal", total);
      progress(p);
    };
  }
  std::vector<uint8_t> scratch;
  ConvertResult result;
  Status st = ConvertCheckpoint(
      text("config"), text("tokenizer"), text("tokenizerConfig"),
      [&](uint64_t offset, size_t n, uint8_t* dst) {
        val bytes = read(static_cast<double>(offset), static_cast<double>(n));
        if (bytes.isUndefined() || bytes.isNull() || bytes["length"].as<size_t>() != n) {
          return Status(Code::kIo, "model.safetensors: short read at offset " + std::to_string(offset));
        }
        val(emscripten::typed_memory_view(n, dst)).call<void>("set", bytes);
        return Status::Ok();
      },
      static_cast<uint64_t>(args["safetensorsSize"].as<double>()),
      [&](uint64_t offset, const uint8_t* data, size_t n) {
        val ok = write(val(emscripten::typed_memory_view(n, data)), static_cast<double>(offset));
        return ok.isUndefined() || ok.as<bool>() ? Status::Ok() : Status(Code::kIo, "writing the model file failed");
      },
      opt, &result);
  if (!st.ok()) return ErrorResult(st);
  val o = val::object();
  o.set("bytesWritten", static_cast<double>(result.bytes_written));
  o.set("tensors", result.tensors);
  return o;
}

val ErrorCodes() {
  val list = val::array();
  for (Code code : AllErrorCodes()) list.call<void>("push", std::string(CodeName(code)));
  return list;
}

// Which SIMD this build was compiled for: a module handed in by the caller (Cloudflare Workers
// import the .wasm) says itself which build it is.
std::string SimdLevel() {
#if defined(__wasm_relaxed_simd__)
  return "relaxed";
#else
  return "simd128";
#endif
}

// A C++ exception must not unwind into JS (it would skip destructors and leave the instance in an
// unknown state): an allocation that fails outside the paths that already report E_OUT_OF_MEMORY
// becomes an error result like any other.
template <typename F>
val Guarded(F&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return ErrorResult(
        Status(Code::kOutOfMemory, "out of memory; embed fewer or shorter texts per call, or use a smaller model"));
  } catch (const std::exception& e) {
    return ErrorResult(Status(Code::kBackend, std::string("internal error: ") + e.what()));
  }
}

// Binds a method through Guarded: GuardedMethod<&Class::method>::Call(self, args...).
template <auto M>
struct GuardedMethod;
template <typename C, typename... A, val (C::*M)(A...)>
struct GuardedMethod<M> {
  static val Call(C& self, A... args) {
    return Guarded([&] { return (self.*M)(std::forward<A>(args)...); });
  }
};
template <typename C, typename... A, val (C::*M)(A...) const>
struct GuardedMethod<M> {
  static val Call(C& self, A... args) {
    return Guarded([&] { return (self.*M)(std::forward<A>(args)...); });
  }
};

val GuardedConvert(val args) {
  return Guarded([&] { return Convert(std::move(args)); });
}

}  // namespace
}  // namespace jv3

EMSCRIPTEN_BINDINGS(jina_v3_wasm) {
  using namespace jv3;
  emscripten::class_<Engine>("Engine")
      .function("info", &GuardedMethod<&Engine::info>::Call)
      .function("tokenize", &GuardedMethod<&Engine::tokenize>::Call)
      .function("embed", &GuardedMethod<&Engine::embed>::Call)
      .function("embedTokenSpans", &GuardedMethod<&Engine::embedTokenSpans>::Call)
      .function("supply", &GuardedMethod<&Engine::supply>::Call)
      .function("pagedStats", &GuardedMethod<&Engine::pagedStats>::Call);
  emscripten::class_<JsModelLoader>("ModelLoader")
      .constructor<val>()
      .function("push", &GuardedMethod<&JsModelLoader::push>::Call)
      .function("finish", &GuardedMethod<&JsModelLoader::finish>::Call);
  emscripten::class_<JsStreamConverter>("StreamConverter")
      .constructor<>()
      .function("init", &GuardedMethod<&JsStreamConverter::init>::Call)
      .function("push", &GuardedMethod<&JsStreamConverter::push>::Call)
      .function("finish", &GuardedMethod<&JsStreamConverter::finish>::Call);
  emscripten::function("convert", &GuardedConvert);
  emscripten::function("errorCodes", &ErrorCodes);
  emscripten::function("simdLevel", &SimdLevel);
}
