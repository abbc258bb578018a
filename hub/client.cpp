#include "hub/client.h"

#include <fcntl.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <vector>

#include "hub/beast.h"

namespace grove::hub {
namespace {

constexpr std::size_t kIoBufferSize = 256 * 1024;
constexpr std::uint64_t kMaxBufferedReply = 256ull << 20;
constexpr auto kTimeout = std::chrono::seconds(120);

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

template <typename Header>
void copy_headers(const Header& header, Reply& reply) {
  reply.status = static_cast<unsigned>(header.result_int());
  for (const auto& field : header) reply.headers[lower(std::string(field.name_string()))] = std::string(field.value());
}

Code code_for_error(const std::string& error_code, unsigned status) {
  if (error_code == "RepoNotFound") return Code::kRepoNotFound;
  if (error_code == "RevisionNotFound") return Code::kRevisionNotFound;
  if (error_code == "EntryNotFound") return Code::kEntryNotFound;
  switch (status) {
    case 400: return Code::kInvalidArgument;
    case 401: return Code::kUnauthenticated;
    case 403: return Code::kPermissionDenied;
    case 404: return Code::kNotFound;
    case 409: return Code::kAlreadyExists;
    case 412: return Code::kConflict;
    case 413: return Code::kTooLarge;
    case 416: return Code::kOutOfRange;
    case 503: return Code::kUnavailable;
    default: return Code::kInternal;
  }
}

// Headers every request carries. `bearer` is null for other origins and for signed URLs,
// which carry their own credential.
void set_base_headers(http::fields& fields, const Url& url, const std::string* bearer) {
  fields.set(http::field::host, url.host + ":" + url.port);
  fields.set(http::field::user_agent, "grove-cli/0.1");
  if (bearer) fields.set(http::field::authorization, "Bearer " + *bearer);
}

// Writes `size` bytes of `fd` from its start to the socket; `sent` counts them. A file shorter
// than `size` is errc::no_message_available.
beast::error_code send_file_body(tcp::socket& socket, int fd, std::uint64_t size, std::uint64_t& sent,
                                 const HubClient::Progress& progress) {
  constexpr std::size_t kStep = 4u << 20;  // progress granularity
  off_t offset = 0;
  while (sent < size) {
    ssize_t n = ::sendfile(socket.native_handle(), fd, &offset, static_cast<std::size_t>(std::min<std::uint64_t>(kStep, size - sent)));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      beast::error_code ec;
      socket.wait(tcp::socket::wait_write, ec);
      if (ec) return ec;
      continue;
    }
    if (n < 0) return beast::error_code(errno, boost::system::system_category());
    if (n == 0) return boost::system::errc::make_error_code(boost::system::errc::no_message_available);
    sent += static_cast<std::uint64_t>(n);
    if (progress) progress(sent);
  }
  return {};
}

}  // namespace

std::string Reply::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

Status status_from_reply(const Reply& reply, const std::string& what) {
  std::string message = reply.header("x-error-message");
  if (message.empty()) {
    auto body = nlohmann::json::parse(reply.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) message = body["error"];
  }
  if (message.empty()) message = "HTTP " + std::to_string(reply.status);
  return Status(code_for_error(reply.header("x-error-code"), reply.status), what + ": " + message);
}

Result<Url> Url::parse(const std::string& url) {
  Url out;
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return invalid_argument("not an absolute URL: '" + url + "'");
  out.scheme = url.substr(0, scheme_end);
  if (out.scheme != "http") return invalid_argument("only http:// URLs are supported, got '" + url + "'");
  std::string rest = url.substr(scheme_end + 3);
  std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out.path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out.host = authority.substr(0, colon);
    out.port = authority.substr(colon + 1);
  } else {
    out.host = authority;
    out.port = "80";
  }
  if (out.host.empty()) return invalid_argument("URL has no host: '" + url + "'");
  return out;
}

struct HubClient::Connection {
  net::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::string origin;
  bool open = false;
};

HubClient::~HubClient() = default;

Result<std::unique_ptr<HubClient>> HubClient::create(const std::string& endpoint, std::optional<std::string> token) {
  std::string e = endpoint;
  while (e.size() > 1 && e.back() == '/') e.pop_back();
  GROVE_ASSIGN_OR_RETURN(Url url, Url::parse(e));
  if (url.path == "/") url.path.clear();
  std::unique_ptr<HubClient> client(new HubClient());
  client->endpoint_ = std::move(url);
  client->token_ = std::move(token);
  return client;
}

const std::string* HubClient::bearer_for(const Url& url) const {
  return token_ && url.origin() == endpoint_.origin() ? &*token_ : nullptr;
}

Result<Url> HubClient::resolve_target(const std::string& target) const {
  if (target.find("://") != std::string::npos) return Url::parse(target);
  Url url = endpoint_;
  url.path = endpoint_.path + target;
  return url;
}

Result<HubClient::Connection*> HubClient::connection_for(const Url& url) {
  if (connection_ && connection_->open && connection_->origin == url.origin()) return connection_.get();
  connection_ = std::make_unique<Connection>();
  // Beast sizes each socket read by the buffer's free capacity: reserve room for big reads.
  connection_->buffer.reserve(kIoBufferSize);
  beast::error_code ec;
  tcp::resolver resolver(connection_->ioc);
  auto endpoints = resolver.resolve(url.host, url.port, ec);
  if (ec) return Status(Code::kUnavailable, "cannot resolve " + url.host + ": " + ec.message());
  connection_->stream.expires_after(kTimeout);
  connection_->stream.connect(endpoints, ec);
  if (ec) return Status(Code::kUnavailable, "cannot connect to " + url.origin() + ": " + ec.message());
  connection_->origin = url.origin();
  connection_->open = true;
  return connection_.get();
}

Result<Reply> HubClient::request(const std::string& method, const std::string& target, const std::string& body,
                                 const std::string& content_type, const std::map<std::string, std::string>& headers) {
  GROVE_ASSIGN_OR_RETURN(Url url, resolve_target(target));
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return invalid_argument("unknown HTTP method " + method);
  // A kept-alive connection the server has since closed fails at once; one retry on a fresh
  // connection covers that without ever repeating a request the server has seen.
  for (int attempt = 0; attempt < 2; ++attempt) {
    GROVE_ASSIGN_OR_RETURN(Connection * c, connection_for(url));
    bool reused = attempt == 0 && c->buffer.size() == 0;
    http::request<http::string_body> req{verb, url.path, 11};
    set_base_headers(req, url, bearer_for(url));
    for (const auto& [k, v] : headers) req.set(k, v);
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    req.body() = body;
    req.prepare_payload();
    beast::error_code ec;
    c->stream.expires_after(kTimeout);
    http::write(c->stream, req, ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxBufferedReply);
    if (!ec) http::read(c->stream, c->buffer, parser, ec);
    if (ec) {
      c->open = false;
      bool nothing_read = ec == http::error::end_of_stream || ec == net::error::connection_reset ||
                          ec == net::error::broken_pipe;
      if (reused && nothing_read && attempt == 0) continue;
      return Status(Code::kUnavailable, method + " " + url.origin() + url.path + ": " + ec.message());
    }
    Reply reply;
    copy_headers(parser.get().base(), reply);
    reply.body = std::move(parser.get().body());
    if (!parser.get().keep_alive()) c->open = false;
    return reply;
  }
  return Status(Code::kUnavailable, "connection to " + url.origin() + " keeps closing");
}

Result<nlohmann::json> HubClient::json_call(const std::string& method, const std::string& target,
                                            const nlohmann::json* body) {
  GROVE_ASSIGN_OR_RETURN(Reply reply, request(method, target, body ? body->dump() : "", body ? "application/json" : ""));
  if (!reply.ok()) return status_from_reply(reply, method + " " + target.substr(0, target.find('?')));
  auto value = nlohmann::json::parse(reply.body, nullptr, false);
  if (value.is_discarded()) return Status(Code::kInternal, method + " " + target + ": the hub answered with invalid JSON");
  return value;
}

Result<Reply> HubClient::download(const std::string& target, std::uint64_t offset, const Sink& sink,
                                  const Progress& progress) {
  GROVE_ASSIGN_OR_RETURN(Url url, resolve_target(target));
  GROVE_ASSIGN_OR_RETURN(Connection * c, connection_for(url));
  http::request<http::empty_body> req{http::verb::get, url.path, 11};
  set_base_headers(req, url, bearer_for(url));
  if (offset > 0) req.set(http::field::range, "bytes=" + std::to_string(offset) + "-");
  beast::error_code ec;
  c->stream.expires_after(kTimeout);
  http::write(c->stream, req, ec);
  if (ec) {
    // The kept-alive connection may have been closed by the server: try once on a new one.
    c->open = false;
    GROVE_ASSIGN_OR_RETURN(c, connection_for(url));
    c->stream.expires_after(kTimeout);
    http::write(c->stream, req, ec);
    if (ec) return Status(Code::kUnavailable, "GET " + url.path + ": " + ec.message());
  }
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());  // not boost::none: Beast 1.74 treats it as 0
  c->stream.expires_after(kTimeout);
  http::read_header(c->stream, c->buffer, parser, ec);
  if (ec) {
    c->open = false;
    return Status(Code::kUnavailable, "GET " + url.path + ": " + ec.message());
  }
  Reply reply;
  copy_headers(parser.get().base(), reply);
  std::vector<std::uint8_t> buf(kIoBufferSize);
  std::uint64_t moved = 0;
  while (!parser.is_done()) {
    parser.get().body().data = buf.data();
    parser.get().body().size = buf.size();
    c->stream.expires_after(kTimeout);
    http::read(c->stream, c->buffer, parser, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) {
      c->open = false;
      return Status(Code::kUnavailable, "download of " + url.path + " broke off after " + std::to_string(moved) +
                                            " bytes: " + ec.message());
    }
    std::size_t n = buf.size() - parser.get().body().size;
    if (!reply.ok()) {
      if (reply.body.size() < (1u << 20)) reply.body.append(reinterpret_cast<const char*>(buf.data()), n);
      continue;
    }
    if (n == 0) continue;
    if (Status s = sink(std::span<const std::uint8_t>(buf.data(), n)); !s.is_ok()) {
      c->open = false;  // the rest of the body is unread
      return s;
    }
    moved += n;
    if (progress) progress(moved);
  }
  if (!parser.get().keep_alive()) c->open = false;
  return reply;
}

Result<Reply> HubClient::upload_file(const std::string& url_string, const std::string& path, std::uint64_t size,
                                     const Progress& progress, const std::map<std::string, std::string>& headers) {
  GROVE_ASSIGN_OR_RETURN(Url url, resolve_target(url_string));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status("open", path);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  GROVE_ASSIGN_OR_RETURN(Connection * c, connection_for(url));
  http::request<http::buffer_body> req{http::verb::put, url.path, 11};
  // The token goes only to the hub itself (grove's own upload route), never to a signed URL elsewhere.
  set_base_headers(req, url, bearer_for(url));
  for (const auto& [k, v] : headers) req.set(k, v);
  req.content_length(size);
  http::request_serializer<http::buffer_body> serializer{req};
  beast::error_code ec;
  c->stream.expires_after(kTimeout);
  http::write_header(c->stream, serializer, ec);
  if (ec) {
    c->open = false;
    GROVE_ASSIGN_OR_RETURN(c, connection_for(url));
    c->stream.expires_after(kTimeout);
    http::write_header(c->stream, serializer, ec);
  }
  // The body goes from the page cache to the socket with sendfile: no copy through this process.
  std::uint64_t sent = 0;
  if (!ec) ec = send_file_body(c->stream.socket(), fd, size, sent, progress);
  if (ec == boost::system::errc::no_message_available) {
    c->open = false;
    return io_error(path + " changed while uploading: it is shorter than " + std::to_string(size) + " bytes");
  }
  // Even when our write failed the server may have answered (413, 403): try to read it.
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxBufferedReply);
  beast::error_code read_ec;
  c->stream.expires_after(kTimeout);
  http::read(c->stream, c->buffer, parser, read_ec);
  if (read_ec) {
    c->open = false;
    return Status(Code::kUnavailable, "upload to " + url.path + " failed: " + (ec ? ec : read_ec).message());
  }
  Reply reply;
  copy_headers(parser.get().base(), reply);
  reply.body = std::move(parser.get().body());
  if (!parser.get().keep_alive() || ec) c->open = false;
  return reply;
}

}  // namespace grove::hub
