// The HTTP client the CLI (and later mirrors) use to talk to a hub: plain HTTP/1.1 over one
// kept-alive connection, JSON calls, and streamed downloads and uploads through a fixed buffer
// so memory stays bounded whatever the file size.
//
// Not thread-safe: one client per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace grove::hub {

struct Url {
  std::string scheme;  // "http"
  std::string host;
  std::string port;    // "80" when not given
  std::string path;    // starts with '/', may carry a query

  static Result<Url> parse(const std::string& url);
  std::string origin() const { return scheme + "://" + host + ":" + port; }
};

struct Reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;  // empty for streamed downloads

  std::string header(const std::string& lowercase_name) const;
  bool ok() const { return status >= 200 && status < 300; }
};

// The Status a failed reply stands for: X-Error-Code mapped back to a Code, with the server's
// message (X-Error-Message or JSON "error").
Status status_from_reply(const Reply& reply, const std::string& what);

class HubClient {
 public:
  using Progress = std::function<void(std::uint64_t bytes)>;  // bytes moved by this call so far
  using Sink = std::function<Status(std::span<const std::uint8_t>)>;

  // `endpoint` like "http://127.0.0.1:8080" (a path prefix is kept); `token` sent as Bearer to
  // the endpoint's own origin only.
  static Result<std::unique_ptr<HubClient>> create(const std::string& endpoint, std::optional<std::string> token);
  ~HubClient();

  // `target` is a path on the endpoint ("/api/...") or an absolute URL.
  Result<Reply> request(const std::string& method, const std::string& target, const std::string& body = "",
                        const std::string& content_type = "",
                        const std::map<std::string, std::string>& headers = {});
  // request() that expects a 2xx JSON answer; anything else becomes a Status.
  Result<nlohmann::json> json_call(const std::string& method, const std::string& target,
                                   const nlohmann::json* body = nullptr);

  // GET streaming the body into `sink`; with `offset` > 0 asks for "Range: bytes=offset-".
  // The reply's status tells whether the server honoured the range (206) or not (200).
  Result<Reply> download(const std::string& target, std::uint64_t offset, const Sink& sink,
                         const Progress& progress = {});

  // PUT of a local file's bytes to `url`, streamed; no Authorization (signed URLs carry
  // their own credential). `headers` are added to the request (e.g. X-Grove-Base).
  Result<Reply> upload_file(const std::string& url, const std::string& path, std::uint64_t size,
                            const Progress& progress = {},
                            const std::map<std::string, std::string>& headers = {});

  const Url& endpoint() const { return endpoint_; }

 private:
  HubClient() = default;
  struct Connection;
  Result<Connection*> connection_for(const Url& url);
  Result<Url> resolve_target(const std::string& target) const;
  // The token to send to `url`: only to the endpoint's own origin.
  const std::string* bearer_for(const Url& url) const;

  Url endpoint_;
  std::optional<std::string> token_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace grove::hub
