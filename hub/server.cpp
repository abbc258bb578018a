#include "hub/server.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/log.h"
#include "hub/beast.h"
#include "hub/errors.h"
#include "hub/protocol.h"
#include "hub/routes.h"

namespace grove::hub {
namespace {

constexpr std::size_t kIoBufferSize = 256 * 1024;
// Streamed uploads read in bigger pieces: fewer system calls and hand-offs per byte stored.
constexpr std::size_t kUploadBufferSize = 1024 * 1024;

using net::awaitable;
using net::use_awaitable;

// What stop() needs to reach a connection: its strand, and whether it is between requests.
// Touched only on that strand, except the shared_ptr itself.
struct Connection {
  beast::tcp_stream* stream = nullptr;  // null once the session is over
  bool idle = true;
};

// The outcome of reading one request: an answer to send, or a broken connection to drop.
struct Handled {
  std::optional<Response> response;  // nullopt: drop the connection without answering
  bool body_consumed = true;         // false: unread body bytes remain, so close after answering
};

// `127.0.0.1 "GET /api/models" 200 1234 3ms user=alice`: one access log line, built without
// a stream (this runs once per request).
std::string access_line(const Request& request, unsigned status, std::uint64_t sent, std::int64_t micros, bool ok) {
  std::string line;
  line.reserve(64 + request.target.size());
  line += request.remote;
  line += " \"";
  auto method = http::to_string(request.method);
  line.append(method.data(), method.size());
  line += ' ';
  line += request.target;
  line += "\" ";
  line += std::to_string(status);
  line += ' ';
  line += std::to_string(sent);
  line += ' ';
  line += std::to_string(micros / 1000);
  line += "ms";
  if (request.caller) {
    line += " user=";
    line += request.caller->user.name;
  }
  if (!ok) line += " (aborted)";
  return line;
}

// The Hub answers a missing (or hidden private) repo with 401 when the caller sent no token and
// 404 otherwise, always with X-Error-Code: RepoNotFound (specs/hf-protocol.md §2.5); clients
// read the code, not the status. One place, so every route agrees.
void answer_anonymous_repo_not_found(const Request& request, Response& response) {
  if (request.caller || response.status != http::status::not_found) return;
  auto code = response.headers.find("X-Error-Code");
  if (code != response.headers.end() && code->value() == "RepoNotFound") response.status = http::status::unauthorized;
}

}  // namespace

struct Server::Impl {
  Hub& hub;
  ServerOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  net::signal_set signals{ioc, SIGINT, SIGTERM};
  net::steady_timer grace_timer{ioc};
  std::atomic<bool> stopping{false};
  std::atomic<int> active{0};
  std::mutex connections_mutex;
  std::set<std::shared_ptr<std::pair<net::any_io_executor, Connection>>> connections;

  Impl(Hub& h, ServerOptions o) : hub(h), options(std::move(o)) {}

  awaitable<void> accept_loop();
  awaitable<void> session(tcp::socket socket);
  awaitable<Handled> handle(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                            http::request_parser<http::buffer_body>& parser, Request& request,
                            std::vector<std::uint8_t>& io_buffer);
  awaitable<bool> send(beast::tcp_stream& stream, const Request& request, Response& response, bool keep_alive,
                       std::vector<std::uint8_t>& io_buffer, std::uint64_t& bytes_sent);
  void begin_stop();
  void session_ended();
};

Server::Server(Hub& hub, ServerOptions options) : impl_(std::make_unique<Impl>(hub, std::move(options))) {}
Server::~Server() = default;

Status Server::listen() {
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.host, ec);
  if (ec) return invalid_argument("bad listen address '" + impl_->options.host + "': " + ec.message());
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return io_error("cannot listen on " + impl_->options.host + ":" + std::to_string(impl_->options.port) + ": " + ec.message());
  return Status::ok();
}

std::uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() {
  Impl& s = *impl_;
  s.signals.async_wait([&s](const beast::error_code& ec, int) {
    if (!ec) s.begin_stop();
  });
  net::co_spawn(s.ioc, s.accept_loop(), net::detached);
  unsigned threads = s.options.threads ? s.options.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&s] { s.ioc.run(); });
  s.ioc.run();
  for (auto& t : pool) t.join();
}

void Server::stop() {
  net::post(impl_->ioc, [s = impl_.get()] { s->begin_stop(); });
}

// Runs on the io_context. Stops accepting, closes idle keep-alive connections, and gives busy
// ones `shutdown_grace` to finish before the context is stopped outright.
void Server::Impl::begin_stop() {
  if (stopping.exchange(true)) return;
  GROVE_LOG(kInfo, "shutting down: finishing in-flight requests");
  beast::error_code ignored;
  acceptor.close(ignored);
  signals.cancel();
  {
    std::lock_guard lock(connections_mutex);
    for (const auto& c : connections) {
      net::post(c->first, [c] {
        if (c->second.stream && c->second.idle) c->second.stream->socket().close();
      });
    }
  }
  grace_timer.expires_after(options.shutdown_grace);
  grace_timer.async_wait([this](const beast::error_code& ec) {
    if (!ec) {
      GROVE_LOG(kWarn, "shutdown grace period over: dropping remaining connections");
      ioc.stop();
    }
  });
  if (active.load() == 0) grace_timer.cancel();
}

void Server::Impl::session_ended() {
  if (--active == 0 && stopping.load()) net::post(ioc, [this] { grace_timer.cancel(); });
}

awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    beast::error_code ec;
    tcp::socket socket = co_await acceptor.async_accept(net::make_strand(ioc), net::redirect_error(use_awaitable, ec));
    if (ec) {
      if (stopping.load() || ec == net::error::operation_aborted) co_return;
      GROVE_LOG(kWarn, "accept failed: " << ec.message());
      continue;
    }
    // Answers go out as a header write and then body writes: without TCP_NODELAY, Nagle's
    // algorithm holds the body back until the client's delayed ACK (~40 ms per small answer).
    socket.set_option(tcp::no_delay(true), ec);
    ++active;
    auto executor = socket.get_executor();
    net::co_spawn(executor, session(std::move(socket)), [this](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          GROVE_LOG(kError, "connection ended by an exception: " << ex.what());
        }
      }
      session_ended();
    });
  }
}

awaitable<void> Server::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::error_code ec;
  std::string remote = stream.socket().remote_endpoint(ec).address().to_string();
  auto conn = std::make_shared<std::pair<net::any_io_executor, Connection>>(stream.get_executor(), Connection{&stream, true});
  {
    std::lock_guard lock(connections_mutex);
    connections.insert(conn);
  }
  beast::flat_buffer buffer;
  // Beast sizes each socket read by the buffer's free capacity (at least 512 bytes): without
  // room reserved up front a large body arrives in thousands of tiny reads.
  buffer.reserve(kIoBufferSize);
  std::vector<std::uint8_t> io_buffer(kIoBufferSize);
  bool linger = false;

  while (!stopping.load()) {
    http::request_parser<http::buffer_body> parser;
    parser.header_limit(options.header_limit);
    // Beast checks Content-Length against body_limit while parsing the header, before we know
    // the route; limits are enforced per route in handle() instead. (Not boost::none: Beast
    // 1.74 compares against an empty optional as if it were 0.)
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    conn->second.idle = true;
    stream.expires_after(options.read_timeout);
    co_await http::async_read_header(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
    conn->second.idle = false;
    if (ec) {
      if (ec == http::error::header_limit) {
        Request none;
        Response r = error_response(Status(Code::kTooLarge, "request headers exceed " + std::to_string(options.header_limit) + " bytes"));
        r.status = http::status::request_header_fields_too_large;
        std::uint64_t sent = 0;
        co_await send(stream, none, r, false, io_buffer, sent);
      }
      break;  // closed, timed out or garbage: nothing more to say
    }
    auto started = std::chrono::steady_clock::now();
    Request request;
    request.method = parser.get().method();
    request.target = std::string(parser.get().target());
    // Read before the fields move out: keep_alive() looks at the Connection header.
    const bool client_keep_alive = parser.get().keep_alive();
    // Moved, not copied: the parser needs only its own state to read the body.
    request.header = std::move(parser.get().base());
    request.request_id = request_id();
    request.remote = remote;
    Handled handled = co_await handle(stream, buffer, parser, request, io_buffer);
    if (!handled.response) {
      GROVE_LOG(kInfo, remote << " " << request.method << " " << request.target << " dropped (client stalled or left)");
      break;
    }
    answer_anonymous_repo_not_found(request, *handled.response);
    bool keep_alive = client_keep_alive && handled.body_consumed && !stopping.load();
    std::uint64_t sent = 0;
    bool ok = co_await send(stream, request, *handled.response, keep_alive, io_buffer, sent);
    if (log_enabled(LogLevel::kInfo)) {
      auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started).count();
      log_line(LogLevel::kInfo, access_line(request, static_cast<unsigned>(handled.response->status), sent, us, ok));
    }
    if (!ok || !keep_alive) {
      linger = ok && !handled.body_consumed;
      break;
    }
  }
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (linger) {
    // Lingering close, as nginx does: a client still sending a body we refused (413, 403)
    // would get a reset instead of our answer if we closed at once, so drain a bounded amount
    // for a short while first.
    constexpr std::size_t kMaxDrain = 64u << 20;
    std::size_t drained = 0;
    stream.expires_after(std::chrono::seconds(2));
    while (drained < kMaxDrain) {
      std::size_t n = co_await stream.async_read_some(net::buffer(io_buffer), net::redirect_error(use_awaitable, ec));
      if (ec) break;
      drained += n;
    }
  }
  conn->second.stream = nullptr;
  std::lock_guard lock(connections_mutex);
  connections.erase(conn);
}

awaitable<Handled> Server::Impl::handle(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                        http::request_parser<http::buffer_body>& parser, Request& request,
                                        std::vector<std::uint8_t>& io_buffer) {
  auto answer = [](const Status& s, bool consumed) { return Handled{error_response(s), consumed}; };
  bool consumed = parser.is_done();

  auto target = parse_target(request.target);
  if (!target.is_ok()) co_return answer(target.status(), consumed);
  request.path = std::move(*target);
  // A CORS preflight may come for any path; browsers send it without credentials.
  if (request.method == http::verb::options) co_return Handled{cors_preflight_response(), consumed};

  std::string auth = request.header_value(http::field::authorization);
  if (!auth.empty()) {
    constexpr std::string_view kBearer = "Bearer ";
    auto token = auth.starts_with(kBearer) ? hub.registry().authenticate(auth.substr(kBearer.size()))
                                           : Result<registry::TokenInfo>(Status(Code::kUnauthenticated, kInvalidCredentials));
    if (!token.is_ok()) co_return answer(Status(Code::kUnauthenticated, kInvalidCredentials), consumed);
    request.caller = std::move(*token);
  }

  bool method_mismatch = false;
  auto match = match_route(request, method_mismatch);
  if (!match) {
    if (method_mismatch) {
      Response r = error_response(Status(Code::kInvalidArgument, "method not allowed here"));
      r.status = http::status::method_not_allowed;
      co_return Handled{std::move(r), consumed};
    }
    co_return answer(Status(Code::kNotFound, "no such page: " + request.target), consumed);
  }
  const Route& route = *match->route;

  std::unique_ptr<BodySink> sink;
  if (route.body == BodyMode::kStreamed) {
    auto opened = route.open_sink(hub, request, match->params);
    if (!opened.is_ok()) co_return answer(opened.status(), consumed);
    sink = std::move(*opened);  // the sink enforces the size it expects
  } else if (auto length = parser.content_length(); length && *length > hub.options().max_body_bytes) {
    co_return answer(Status(Code::kTooLarge, "request body of " + std::to_string(*length) + " bytes exceeds the limit of " +
                                                 std::to_string(hub.options().max_body_bytes)),
                     false);
  }

  // Read the body, bounded, through a fixed buffer; each piece goes to the sink or the request.
  std::uint64_t body_bytes = 0;
  auto take = [&](std::span<const std::uint8_t> chunk) -> Status {
    body_bytes += chunk.size();
    if (!sink && body_bytes > hub.options().max_body_bytes)  // chunked bodies have no length up front
      return Status(Code::kTooLarge, "request body exceeds the limit of " + std::to_string(hub.options().max_body_bytes) + " bytes");
    if (sink) return sink->write(chunk);
    if (route.body == BodyMode::kBuffered) request.body.append(reinterpret_cast<const char*>(chunk.data()), chunk.size());
    return Status::ok();
  };
  if (!parser.is_done() && !parser.chunked() && parser.content_length()) {
    // A body of known length skips the parser: bytes go from the socket straight into the
    // buffer the sink reads, not through Beast's buffer first (one copy of every byte less).
    std::vector<std::uint8_t> upload_buffer(sink ? kUploadBufferSize : 0);
    std::span<std::uint8_t> piece = sink ? std::span(upload_buffer) : std::span(io_buffer);
    std::uint64_t remaining = *parser.content_length();
    while (remaining > 0) {
      const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(remaining, piece.size()));
      std::size_t n = 0;
      if (buffer.size() > 0) {  // read past the header already
        n = std::min(want, buffer.size());
        std::memcpy(piece.data(), buffer.data().data(), n);
        buffer.consume(n);
      } else {
        stream.expires_after(options.read_timeout);
        beast::error_code ec;
        n = co_await stream.async_read_some(net::buffer(piece.data(), want), net::redirect_error(use_awaitable, ec));
        if (ec) co_return Handled{std::nullopt, false};
      }
      remaining -= n;
      if (Status s = take(piece.first(n)); !s.is_ok()) co_return answer(s, remaining == 0);
    }
  } else {
    while (!parser.is_done()) {
      parser.get().body().data = io_buffer.data();
      parser.get().body().size = io_buffer.size();
      stream.expires_after(options.read_timeout);
      beast::error_code ec;
      co_await http::async_read(stream, buffer, parser, net::redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return Handled{std::nullopt, false};
      std::size_t n = io_buffer.size() - parser.get().body().size;
      if (Status s = take(std::span<const std::uint8_t>(io_buffer.data(), n)); !s.is_ok()) co_return answer(s, parser.is_done());
    }
  }

  try {
    Result<Response> result = sink ? sink->finish() : route.handler(hub, request, match->params);
    if (!result.is_ok()) {
      if (result.status().code() == Code::kInternal || result.status().code() == Code::kIoError ||
          result.status().code() == Code::kCorrupt)
        GROVE_LOG(kError, request.method << " " << request.target << ": " << result.status().to_string());
      co_return answer(result.status(), true);
    }
    co_return Handled{std::move(*result), true};
  } catch (const std::exception& e) {
    GROVE_LOG(kError, "bug: handler for " << request.target << " threw: " << e.what());
    co_return answer(internal_error("internal error"), true);
  }
}

awaitable<bool> Server::Impl::send(beast::tcp_stream& stream, const Request& request, Response& response,
                                   bool keep_alive, std::vector<std::uint8_t>& io_buffer, std::uint64_t& bytes_sent) {
  beast::error_code ec;
  bool head = request.method == http::verb::head || response.head_only;
  std::uint64_t length = response.content_length.value_or(response.body.size());
  auto fill_header = [&](auto& message) {
    for (const auto& field : response.headers) message.set(field.name_string(), field.value());
    message.set(http::field::server, "grove");
    add_cors_headers(message);
    if (!request.request_id.empty()) message.set("X-Request-Id", request.request_id);
    message.keep_alive(keep_alive);
    // A 204 (the CORS preflight answer) must not carry Content-Length (RFC 9110 §8.6).
    if (response.status != http::status::no_content) message.content_length(length);
  };

  stream.expires_after(options.write_timeout);
  if (!response.stream && !head) {
    // A body in memory goes out with its header in one write (one syscall, one packet for a
    // small answer), instead of a header write and a body write.
    http::response<http::string_body> whole{response.status, 11};
    fill_header(whole);
    whole.body() = std::move(response.body);
    co_await http::async_write(stream, whole, net::redirect_error(use_awaitable, ec));
    if (!ec) bytes_sent = whole.body().size();
    co_return !ec;
  }

  http::response<http::buffer_body> message{response.status, 11};
  fill_header(message);
  http::response_serializer<http::buffer_body> serializer{message};
  co_await http::async_write_header(stream, serializer, net::redirect_error(use_awaitable, ec));
  if (ec) co_return false;
  if (head) co_return true;

  // Stream from storage, from the reader's own buffer where it has one (a decoded frame) or else
  // through the fixed buffer; a read failure mid-way (corrupt data) can only be signalled by
  // cutting the connection short of Content-Length.
  while (bytes_sent < length) {
    auto piece = response.stream->read_view(io_buffer);
    if (!piece.is_ok() || piece->empty()) {
      GROVE_LOG(kError, "aborting " << request.target << " after " << bytes_sent << " of " << length << " bytes: "
                                    << (piece.is_ok() ? std::string("stored data ended early") : piece.status().to_string()));
      co_return false;
    }
    const std::size_t n = piece->size();
    // The last chunk is held back until the reader confirms the whole content verified, so a
    // corrupt blob never reaches a client complete.
    if (bytes_sent + n >= length) {
      std::uint8_t probe[1];
      if (auto tail = response.stream->read(probe); !tail.is_ok() || *tail != 0) {
        GROVE_LOG(kError, "not sending the end of " << request.target << ": "
                                                   << (tail.is_ok() ? std::string("more data than announced") : tail.status().to_string()));
        co_return false;
      }
    }
    message.body().data = const_cast<std::uint8_t*>(piece->data());  // buffer_body's pointer is not const
    message.body().size = n;
    message.body().more = true;
    stream.expires_after(options.write_timeout);
    co_await http::async_write(stream, serializer, net::redirect_error(use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return false;
    bytes_sent += n;
  }
  message.body().data = nullptr;
  message.body().size = 0;
  message.body().more = false;
  co_await http::async_write(stream, serializer, net::redirect_error(use_awaitable, ec));
  co_return !ec;
}

}  // namespace grove::hub
