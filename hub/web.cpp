// The browser UI: the app shell at "/" and "/{ns}/{name}" (the app routes in the browser), and
// its bundled script and stylesheet at "/-/{file}" ("-" can never be a namespace, so no repo
// is shadowed). The app talks only to the public JSON API, like any other client.
#include "hub/handlers.h"
#include "web/assets.h"

namespace grove::hub {
namespace {

// Scripts only from this origin (no inline script, no eval): a model card that slips past the
// sanitizer still cannot run code. Images from this origin or data: URLs only, so a card
// cannot make the browser call out to other hosts.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

Response asset_response(const web::Asset& asset) {
  Response r = Response::text(std::string(asset.body), http::status::ok, std::string(asset.content_type));
  r.headers.set("X-Content-Type-Options", "nosniff");
  r.headers.set("Referrer-Policy", "same-origin");
  return r;
}

}  // namespace

Result<Response> handle_web_index(Hub&, Request& request, const RouteParams& params) {
  if (params["ns"] == "api" || params["ns"] == "-") return Status(Code::kNotFound, "no such page: " + request.target);
  Response r = asset_response(*web::find_asset("index.html"));
  r.headers.set("Content-Security-Policy", kContentSecurityPolicy);
  r.headers.set(http::field::cache_control, "no-cache");
  return r;
}

Result<Response> handle_web_asset(Hub&, Request& request, const RouteParams& params) {
  const web::Asset* asset = web::find_asset(params["file"]);
  if (!asset || params["file"] == "index.html") return Status(Code::kNotFound, "no such asset: " + request.target);
  Response r = asset_response(*asset);
  // The shell names assets by content hash (?v=...), so a cached copy is never stale.
  r.headers.set(http::field::cache_control, "public, max-age=31536000, immutable");
  return r;
}

}  // namespace grove::hub
