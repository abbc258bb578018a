// grove serve, grove token create: the commands that work on a data folder directly.
#include <malloc.h>
#include <sys/resource.h>

#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "common/log.h"
#include "hub/hub.h"
#include "hub/server.h"
#include "registry/registry.h"

namespace grove::cli {

namespace {

// Process-wide settings for a long-running server (not the hub library's business: tests and
// other embedders keep their own).
void tune_process() {
  // Streamed reads and GGUF exports cycle buffers of a few MiB on several threads. glibc's
  // default gives such buffers fresh mmaps and trims freed heap tops, so each one costs page
  // faults on zeroed pages: on a VM that was a fifth of an export's CPU. Keeping them in the
  // heap reuses warm pages; memory stays what is in use at once plus a bounded free top.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 64 << 20);
  // Each upload keeps the files of its packs open until they are durable (up to 17 for one
  // past 512 MiB), plus connections and cached pack handles: the soft limit of 1024 common on
  // Linux would be reached by a few dozen concurrent large pushes. Raise it to the hard limit.
  if (rlimit lim{}; ::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &lim);
  }
}

}  // namespace

int run_serve(const ServeOptions& options) {
  auto colon = options.listen.rfind(':');
  if (colon == std::string::npos) return fail(invalid_argument("--listen wants HOST:PORT, got '" + options.listen + "'"));
  hub::ServerOptions server_options;
  server_options.host = options.listen.substr(0, colon);
  try {
    int port = std::stoi(options.listen.substr(colon + 1));
    if (port < 0 || port > 65535) throw std::out_of_range("port");
    server_options.port = static_cast<std::uint16_t>(port);
  } catch (...) {
    return fail(invalid_argument("--listen wants HOST:PORT, got '" + options.listen + "'"));
  }
  server_options.threads = options.threads;
  server_options.read_timeout = std::chrono::seconds(options.read_timeout_seconds);

  hub::HubOptions hub_options;
  hub_options.data_dir = options.data_dir;
  hub_options.max_body_bytes = options.max_body_bytes;
  if (options.multipart_threshold_bytes == 0) return fail(invalid_argument("--multipart-threshold must be at least 1 byte"));
  hub_options.multipart_threshold_bytes = options.multipart_threshold_bytes;
  hub_options.export_threads = options.export_threads;
  auto hub = hub::Hub::open(hub_options);
  if (!hub.is_ok()) return fail(hub.status().with_context("cannot open data folder " + options.data_dir));
  // Uploads encode on a second thread when the server has more than one (storage/framed_store.h).
  (*hub)->store().set_ingest_threads(server_options.threads ? server_options.threads : std::thread::hardware_concurrency());
  tune_process();
  hub::Server server(**hub, server_options);
  if (Status s = server.listen(); !s.is_ok()) return fail(s);
  std::string url = "http://" + server_options.host + ":" + std::to_string(server.port());
  (*hub)->set_public_url(options.public_url.empty() ? url : options.public_url);
  std::cout << "grove listening on " << url << " (data in " << options.data_dir << ")" << std::endl;
  server.run();
  GROVE_LOG(kInfo, "stopped");
  return 0;
}

int run_token_create(const std::string& data_dir, const std::string& user, const std::string& scope,
                     const std::string& name) {
  registry::Scope s;
  if (scope == "read") s = registry::Scope::kRead;
  else if (scope == "write") s = registry::Scope::kWrite;
  else return fail(invalid_argument("--scope must be read or write, not '" + scope + "'"));
  auto reg = registry::Registry::open(data_dir + "/grove.db");
  if (!reg.is_ok()) return fail(reg.status().with_context("cannot open " + data_dir + "/grove.db"));
  auto token = (*reg)->create_token(user, s, name.empty() ? "grove-cli" : name);
  if (!token.is_ok()) return fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

}  // namespace grove::cli
