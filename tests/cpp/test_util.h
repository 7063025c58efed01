// Small helpers shared by the native C++ tests: checks that count, file reading, fixture conversion.
#pragma once

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/status.h"
#include "convert/converter.h"

namespace jv3::test {

struct Counter {
  int passed = 0, failed = 0;
  void Check(bool ok, const std::string& what) {
    if (ok) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL: %s\n", what.c_str());
    }
  }
  int Finish() {
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
  }
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The larger of two errors, where NaN is the largest: std::max and std::fmax drop a NaN, so an
// all-NaN result would pass any tolerance.
inline double WorseError(double worst, double error) { return std::isnan(error) || error > worst ? error : worst; }

// max |a[i] − b[i]|: NaN if any difference is NaN, infinite if the lengths differ.
inline double MaxAbsDiff(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double m = 0;
  for (size_t i = 0; i < b.size(); ++i) m = WorseError(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

// Converts the checkpoint in `dir` into an in-memory model file.
inline Status ConvertToMemory(const std::string& dir, bool int8, std::string* file) {
  const std::string st = ReadFile(dir + "/model.safetensors");
  ConvertOptions opt;
  opt.int8 = int8;
  file->clear();
  return ConvertCheckpoint(
      ReadFile(dir + "/config.json"), ReadFile(dir + "/tokenizer.json"), ReadFile(dir + "/tokenizer_config.json"),
      [&](uint64_t off, size_t n, uint8_t* dst) {
        if (off + n > st.size()) return Status(Code::kIo, "short read");
        std::copy(st.data() + off, st.data() + off + n, dst);
        return Status::Ok();
      },
      st.size(),
      [&](uint64_t off, const uint8_t* p, size_t n) {
        if (file->size() < off + n) file->resize(off + n);
        std::copy(p, p + n, &(*file)[off]);
        return Status::Ok();
      },
      opt, nullptr);
}

}  // namespace jv3::test
