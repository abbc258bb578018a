#include "hub/errors.h"

namespace grove::hub {
namespace {

struct ErrorMapping {
  Code code;
  http::status status;
  const char* error_code;  // X-Error-Code, or nullptr when clients need none
};

// Read top to bottom: every failure grove can report, and what a client sees.
constexpr ErrorMapping kErrorTable[] = {
    {Code::kInvalidArgument, http::status::bad_request, "BadRequest"},
    {Code::kNotFound, http::status::not_found, "NotFound"},
    {Code::kRepoNotFound, http::status::not_found, "RepoNotFound"},
    {Code::kRevisionNotFound, http::status::not_found, "RevisionNotFound"},
    {Code::kEntryNotFound, http::status::not_found, "EntryNotFound"},
    {Code::kAlreadyExists, http::status::conflict, "AlreadyExists"},
    {Code::kConflict, http::status::precondition_failed, "Conflict"},
    {Code::kUnauthenticated, http::status::unauthorized, "Unauthorized"},
    {Code::kPermissionDenied, http::status::forbidden, "Forbidden"},
    {Code::kTooLarge, http::status::payload_too_large, "PayloadTooLarge"},
    {Code::kOutOfRange, http::status::range_not_satisfiable, "RangeNotSatisfiable"},
    {Code::kCorrupt, http::status::internal_server_error, "StorageCorrupt"},
    {Code::kIoError, http::status::internal_server_error, "InternalError"},
    {Code::kUnavailable, http::status::service_unavailable, "Unavailable"},
    // Last entry is also the fallback for unknown codes, so kMoved goes before it.
    {Code::kMoved, http::status::temporary_redirect, nullptr},
    {Code::kInternal, http::status::internal_server_error, "InternalError"},
};

const ErrorMapping& mapping_for(Code code) {
  for (const auto& m : kErrorTable)
    if (m.code == code) return m;
  return kErrorTable[std::size(kErrorTable) - 1];
}

// Header values must not carry line breaks; messages can quote user input.
std::string header_safe(const std::string& s) {
  std::string out;
  for (char c : s) out.push_back((c == '\r' || c == '\n' || static_cast<unsigned char>(c) < 0x20) ? ' ' : c);
  if (out.size() > 1000) out.resize(1000);
  return out;
}

}  // namespace

http::status http_status_for(Code code) { return mapping_for(code).status; }

Response error_response(const Status& status) {
  if (status.code() == Code::kMoved) {
    // A renamed repo: the message is the relative URL under the new name (specs §2.6).
    Response r = Response::json({{"error", "Repository moved to " + status.message()}},
                                http::status::temporary_redirect);
    r.headers.set(http::field::location, header_safe(status.message()));
    return r;
  }
  const ErrorMapping& m = mapping_for(status.code());
  Response r = Response::json({{"error", status.message()}}, m.status);
  if (m.error_code) r.headers.set("X-Error-Code", m.error_code);
  r.headers.set("X-Error-Message", header_safe(status.message()));
  return r;
}

Response Response::json(const nlohmann::json& value, http::status status) {
  Response r;
  r.status = status;
  r.body = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.headers.set(http::field::content_type, "application/json; charset=utf-8");
  return r;
}

Response Response::text(std::string text, http::status status, std::string content_type) {
  Response r;
  r.status = status;
  r.body = std::move(text);
  r.headers.set(http::field::content_type, content_type);
  return r;
}

}  // namespace grove::hub
