#include "tests/formats/ggml_reference.h"

#include <dlfcn.h>

#include <filesystem>
#include <system_error>

namespace grove::testing {

GgmlReference& GgmlReference::instance() {
  static GgmlReference ref;
  return ref;
}

GgmlReference::GgmlReference() {
  const std::filesystem::path root = std::filesystem::path(GROVE_SOURCE_DIR) / "tests/ggml_ref/node_modules";
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename() == "libggml-base.so" && it->path().string().find("linux-x64") != std::string::npos) {
      path_ = it->path().string();
      break;
    }
  }
  if (path_.empty()) {
    error_ = "llama.cpp reference libggml-base.so not found under " + root.string() +
             " (it comes from npm @node-llama-cpp/linux-x64@3.21.1): run scripts/setup";
    return;
  }
  handle_ = dlopen(path_.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) error_ = std::string("dlopen failed: ") + dlerror();
}

void* GgmlReference::symbol(const char* name) {
  void* p = handle_ ? dlsym(handle_, name) : nullptr;
  if (!p && error_.empty()) error_ = std::string("symbol ") + name + " missing from " + path_;
  return p;
}

GgmlRowFn GgmlReference::row(formats::QuantType type) {
  using formats::QuantType;
  switch (type) {
    case QuantType::kF16: return function<GgmlRowFn>("ggml_fp32_to_fp16_row");
    case QuantType::kBF16: return function<GgmlRowFn>("ggml_fp32_to_bf16_row_ref");
    case QuantType::kQ4_0: return function<GgmlRowFn>("quantize_row_q4_0_ref");
    case QuantType::kQ4_1: return function<GgmlRowFn>("quantize_row_q4_1_ref");
    case QuantType::kQ5_0: return function<GgmlRowFn>("quantize_row_q5_0_ref");
    case QuantType::kQ5_1: return function<GgmlRowFn>("quantize_row_q5_1_ref");
    case QuantType::kQ8_0: return function<GgmlRowFn>("quantize_row_q8_0_ref");
    case QuantType::kQ4_K: return function<GgmlRowFn>("quantize_row_q4_K_ref");
    case QuantType::kQ5_K: return function<GgmlRowFn>("quantize_row_q5_K_ref");
    case QuantType::kQ6_K: return function<GgmlRowFn>("quantize_row_q6_K_ref");
    case QuantType::kF32: return nullptr;
  }
  return nullptr;
}

}  // namespace grove::testing
