// The oracle for formats/ tests is real llama.cpp: the libggml-base.so that node-llama-cpp@3.21.1
// ships in @node-llama-cpp/linux-x64, installed into tests/ggml_ref by scripts/setup and found
// there by a search at test time. A missing library means a broken setup, so tests REQUIRE
// error() to be empty and fail (never skip) without it.
#pragma once

#include <cstdint>
#include <string>

#include "formats/quantize.h"

namespace grove::testing {

// Signature of quantize_row_*_ref, ggml_fp32_to_fp16_row and ggml_fp32_to_bf16_row_ref.
using GgmlRowFn = void (*)(const float*, void*, std::int64_t);

class GgmlReference {
 public:
  // Loaded once per process; never unloaded.
  static GgmlReference& instance();

  // Empty when the library is loaded and every symbol asked for so far exists.
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }

  // nullptr (and error() set) when the symbol is missing.
  void* symbol(const char* name);
  template <typename Fn>
  Fn function(const char* name) {
    return reinterpret_cast<Fn>(symbol(name));
  }
  // The reference for one type; nullptr for F32, which has none.
  GgmlRowFn row(formats::QuantType type);

 private:
  GgmlReference();
  std::string error_;
  std::string path_;
  void* handle_ = nullptr;
};

}  // namespace grove::testing
