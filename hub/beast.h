// The one place grove includes Boost.Asio and Beast. Boost 1.74's awaitable.hpp forgets
// <utility>, so it must come first.
#pragma once

#include <utility>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace grove::hub {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
}  // namespace grove::hub
