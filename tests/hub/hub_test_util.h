// Test support for tests/hub: a Hub on a fresh temporary data folder, removed afterwards.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "hub/hub.h"

namespace grove::hub {

class TempHub {
 public:
  explicit TempHub(const std::string& prefix = "grove-hub-") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "XXXXXX")).string();
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    dir_ = pattern;
    HubOptions options;
    options.data_dir = dir_;
    options.public_url = "http://hub.test";
    auto opened = Hub::open(options);
    if (!opened.is_ok()) std::abort();
    hub_ = std::move(*opened);
  }
  ~TempHub() {
    hub_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  TempHub(const TempHub&) = delete;
  TempHub& operator=(const TempHub&) = delete;
  Hub& operator*() { return *hub_; }
  Hub* operator->() { return hub_.get(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  std::unique_ptr<Hub> hub_;
};

}  // namespace grove::hub
