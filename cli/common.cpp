// What client commands share: endpoint and token resolution, the saved login, repo refs.
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/cli.h"
#include "common/fs.h"
#include "registry/repo_path.h"

namespace grove::cli {

static std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

std::string config_dir() {
  if (auto d = env("GROVE_CONFIG_DIR"); !d.empty()) return d;
  if (auto d = env("XDG_CONFIG_HOME"); !d.empty()) return d + "/grove";
  return env("HOME") + "/.config/grove";
}

std::string hf_hub_cache() {
  if (auto d = env("HF_HUB_CACHE"); !d.empty()) return d;
  if (auto d = env("HF_HOME"); !d.empty()) return d + "/hub";
  return env("HOME") + "/.cache/huggingface/hub";
}

Status save_token(const std::string& token) {
  std::string dir = config_dir();
  GROVE_RETURN_IF_ERROR(FileSystem::local().create_dirs(dir));
  std::string path = dir + "/token", tmp = path + ".tmp";
  // Created 0600 from the start: the token is a password.
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return errno_status("open", tmp);
  ::chmod(tmp.c_str(), 0600);
  std::fputs((token + "\n").c_str(), f);
  if (std::fclose(f) != 0) return errno_status("write", tmp);
  return FileSystem::local().rename(tmp, path);
}

std::optional<std::string> saved_token() {
  std::ifstream in(config_dir() + "/token");
  std::string token;
  if (!(in >> token) || token.empty()) return std::nullopt;
  return token;
}

Result<std::unique_ptr<hub::HubClient>> make_client(const ClientOptions& options) {
  std::string endpoint = options.endpoint;
  if (endpoint.empty()) endpoint = env("GROVE_ENDPOINT");
  if (endpoint.empty()) endpoint = "http://127.0.0.1:8080";
  std::optional<std::string> token;
  if (!options.token.empty()) token = options.token;
  else if (auto t = env("GROVE_TOKEN"); !t.empty()) token = t;
  else token = saved_token();
  return hub::HubClient::create(endpoint, token);
}

Result<RepoRef> parse_repo_ref(const std::string& text, bool allow_revision) {
  RepoRef ref;
  std::string id = text;
  if (auto at = text.find('@'); at != std::string::npos) {
    if (!allow_revision) return invalid_argument("'" + text + "': a revision (@...) is not allowed here");
    id = text.substr(0, at);
    ref.revision = text.substr(at + 1);
    if (ref.revision.empty()) return invalid_argument("'" + text + "': empty revision after '@'");
  }
  auto slash = id.find('/');
  if (slash == std::string::npos) return invalid_argument("'" + text + "' is not a repo id: expected NAMESPACE/NAME");
  ref.ns = id.substr(0, slash);
  ref.name = id.substr(slash + 1);
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(ref.ns).with_context("'" + text + "'"));
  GROVE_RETURN_IF_ERROR(registry::validate_repo_name(ref.name).with_context("'" + text + "'"));
  return ref;
}

int fail(const Status& status) {
  std::fflush(stdout);
  std::cerr << "grove: " << status.message() << "\n";
  return 1;
}

}  // namespace grove::cli
