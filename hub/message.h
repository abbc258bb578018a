// Requests and responses as handlers see them: no sockets, no coroutines. The session in
// server.cpp turns bytes into a Request and a Response back into bytes; handlers are plain
// functions from one to the other, testable without a network.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "hub/beast.h"
#include "hub/http_util.h"
#include "registry/registry.h"
#include "storage/blob_store.h"

namespace grove::hub {

struct Request {
  http::verb method = http::verb::get;
  std::string target;  // raw, as received
  TargetPath path;     // decoded segments and query
  http::request_header<> header;
  std::string body;  // only for routes that buffer their body
  std::optional<registry::TokenInfo> caller;  // set when a valid token was presented
  bool bad_token = false;  // a token was presented and rejected
  std::string request_id;
  std::string remote;

  std::string header_value(http::field f) const { return std::string(header[f]); }
  std::string header_value(std::string_view name) const { return std::string(header[beast::string_view(name.data(), name.size())]); }
};

struct Response {
  http::status status = http::status::ok;
  http::fields headers;
  std::string body;
  // When set, the body comes from this reader instead of `body`: `content_length` bytes.
  std::unique_ptr<storage::BlobReader> stream;
  // For HEAD and streamed answers: the Content-Length to announce.
  std::optional<std::uint64_t> content_length;
  // HEAD: send headers only, with content_length as announced.
  bool head_only = false;

  static Response json(const nlohmann::json& value, http::status status = http::status::ok);
  static Response text(std::string text, http::status status = http::status::ok,
                       std::string content_type = "text/plain; charset=utf-8");
};

// A streamed request body goes to a sink, piece by piece, then finish() answers.
class BodySink {
 public:
  virtual ~BodySink() = default;
  virtual Status write(std::span<const std::uint8_t> data) = 0;
  virtual Result<Response> finish() = 0;
};

}  // namespace grove::hub
