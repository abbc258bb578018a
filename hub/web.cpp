#include "hub/handlers.h"
#include "web/assets.h"

namespace grove::hub {

Result<Response> handle_web_index(Hub&, Request& request, const RouteParams& params) {
  if (params["ns"] == "api") return Status(Code::kNotFound, "no such page: " + request.target);
  Response r = Response::text(std::string(web::index_html()), http::status::ok, "text/html; charset=utf-8");
  r.headers.set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'");
  return r;
}

}  // namespace grove::hub
