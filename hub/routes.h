// The route table: every URL grove answers, in one list (routes.cpp), and the matcher.
// Patterns are '/'-separated: a literal segment, "{var}" (one segment, optionally with a
// literal suffix as in "{name}.git"), or "{rest*}" (all remaining segments, possibly none).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "hub/hub.h"
#include "hub/message.h"

namespace grove::hub {

struct RouteParams {
  std::map<std::string, std::string, std::less<>> vars;
  std::vector<std::string> rest;  // the "{rest*}" segments, decoded

  const std::string& operator[](std::string_view key) const;
};

enum class BodyMode {
  kNone,      // any body is read and dropped (bounded by the buffered limit)
  kBuffered,  // read whole into Request::body, bounded by HubOptions::max_body_bytes
  kStreamed,  // handed piece by piece to the BodySink that `open_sink` returns
};

using Handler = Result<Response> (*)(Hub&, Request&, const RouteParams&);
using SinkOpener = Result<std::unique_ptr<BodySink>> (*)(Hub&, Request&, const RouteParams&);

struct Route {
  http::verb method;
  std::string_view pattern;
  BodyMode body;
  Handler handler;          // for kNone and kBuffered
  SinkOpener open_sink;     // for kStreamed
};

struct RouteMatch {
  const Route* route = nullptr;
  RouteParams params;
};

// The first route whose method and pattern fit. HEAD matches GET routes that allow it.
// nullopt when no pattern fits; `method_mismatch` tells whether a pattern fit another method.
std::optional<RouteMatch> match_route(const Request& request, bool& method_mismatch);

}  // namespace grove::hub
