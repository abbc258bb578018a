// The HTTP server: Boost.Beast over Asio, one coroutine per connection on a strand, a thread
// pool sized to the cores. Every wait is bounded (header and body limits, read and write
// timeouts), request bodies and file answers stream through a fixed buffer, and SIGINT/SIGTERM
// stop it gracefully: no new connections, idle ones closed, in-flight requests given a grace
// period to finish.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "hub/hub.h"

namespace grove::hub {

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0 picks a free port; port() tells which
  unsigned threads = 0;       // 0: one per core
  // A client that sends nothing for this long (between requests, or mid-request) is dropped.
  std::chrono::seconds read_timeout{30};
  // A client that accepts nothing for this long while we send is dropped.
  std::chrono::seconds write_timeout{60};
  std::chrono::seconds shutdown_grace{10};
  std::uint32_t header_limit = 16 * 1024;
};

class Server {
 public:
  // `hub` must outlive the server.
  Server(Hub& hub, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. After this, port() is the bound port.
  Status listen();
  std::uint16_t port() const;
  // Serves until stop() or SIGINT/SIGTERM, then drains. Blocks the calling thread, which
  // joins the pool.
  void run();
  // Thread-safe; returns at once.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace grove::hub
