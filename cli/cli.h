// The grove command's pieces: each subcommand is a function from parsed options to an exit
// code. Failures print one line to stderr saying what went wrong, and exit non-zero.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "common/status.h"
#include "hub/client.h"

namespace CLI {
class App;
}

namespace grove::cli {

// Where a client command talks to, and as whom: --endpoint / GROVE_ENDPOINT / default, and
// --token / GROVE_TOKEN / the token `grove login` saved.
struct ClientOptions {
  std::string endpoint;
  std::string token;
};
Result<std::unique_ptr<hub::HubClient>> make_client(const ClientOptions& options);

std::string config_dir();  // $GROVE_CONFIG_DIR, else $XDG_CONFIG_HOME/grove, else ~/.config/grove
// The Hugging Face cache: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
std::string hf_hub_cache();
Status save_token(const std::string& token);
std::optional<std::string> saved_token();

// "ns/name" or "ns/name@rev" split and validated.
struct RepoRef {
  std::string ns;
  std::string name;
  std::string revision;  // empty when not given
  std::string id() const { return ns + "/" + name; }
};
Result<RepoRef> parse_repo_ref(const std::string& text, bool allow_revision);

struct ServeOptions {
  std::string data_dir = "data";
  std::string listen = "127.0.0.1:8080";
  std::string public_url;  // default: http://<listen>
  unsigned threads = 0;
  int read_timeout_seconds = 30;
  std::uint64_t max_body_bytes = 64ull << 20;
  std::uint64_t multipart_threshold_bytes = 100ull << 20;
  unsigned export_threads = 0;  // 0: one per core
};
int run_serve(const ServeOptions& options);

int run_token_create(const std::string& data_dir, const std::string& user, const std::string& scope,
                     const std::string& name);
int run_login(const ClientOptions& options, std::string token);
int run_whoami(const ClientOptions& options);
int run_repo_create(const ClientOptions& options, const std::string& repo, bool is_private);

struct PushOptions {
  std::string dir;
  std::string repo;
  std::string branch = "main";
  std::string message;
  std::string base;  // --base NAMESPACE/NAME[@REV]: a lineage edge recorded with the commit
};
int run_push(const ClientOptions& options, const PushOptions& push);

struct PullOptions {
  std::string repo;  // REPO[@REV]
  // A plain folder of files; when empty, the Hugging Face cache layout under hf_hub_cache().
  std::string local_dir;
};
int run_pull(const ClientOptions& options, const PullOptions& pull);

struct ExportOptions {
  std::string repo;       // REPO[@REV], exported by the hub
  std::string local_dir;  // or a local model folder, exported here
  std::string quant = "Q8_0";
  std::string output;
  unsigned threads = 0;   // local export workers (0: one per core)
};
int run_export(const ClientOptions& options, const ExportOptions& export_options);

struct LineageOptions {
  std::string repo;  // NAMESPACE/NAME
  int depth = 2;     // descendants drawn, 0..6
  bool json = false; // the API's answer as is
};
int run_lineage(const ClientOptions& options, const LineageOptions& lineage);

// Prints "grove: <message>" to stderr and returns 1.
int fail(const Status& status);

// cli/storage.cpp: gc, fsck, repack and storage stats on a data folder. Registers the
// subcommands; the returned function runs the one that was chosen (nullopt: none of them).
std::function<std::optional<int>()> add_storage_commands(CLI::App& app);

}  // namespace grove::cli
