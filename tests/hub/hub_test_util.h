// Test support for tests/hub: a Hub on a fresh temporary data folder, removed afterwards.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "hub/handlers.h"
#include "hub/hub.h"
#include "registry/git_objects.h"

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

// A request as the server hands it to a handler, signed in when `token` is given.
inline Request make_request(Hub& hub, http::verb method, const std::string& target, const std::string& token = "",
                            std::string body = "") {
  Request r;
  r.method = method;
  r.target = target;
  r.path = *parse_target(target);
  r.body = std::move(body);
  if (!token.empty()) r.caller = *hub.registry().authenticate(token);
  return r;
}

// Routes the request as the server does and runs its handler (the route must exist).
inline Result<Response> call(Hub& hub, Request request) {
  bool mismatch = false;
  auto match = match_route(request, mismatch);
  if (!match) std::abort();
  return match->route->handler(hub, request, match->params);
}

// A file entry for committing `content` as a plain (non-LFS) file.
inline registry::FileEntry small_file(const std::string& path, const std::string& content) {
  registry::FileEntry f;
  f.path = path;
  f.size = content.size();
  f.sha256 = Sha256::of(std::string_view(content));
  f.blob_oid = registry::git_blob_oid(content);
  return f;
}

inline Code code_of(const Result<Response>& r) { return r.is_ok() ? Code::kOk : r.status().code(); }

}  // namespace grove::hub
