#include "hub/errors.h"

#include <catch2/catch.hpp>

using namespace grove;
using namespace grove::hub;

TEST_CASE("the error table gives Hugging Face clients the codes they read", "[hub]") {
  auto r = error_response(Status(Code::kEntryNotFound, "Entry not found: x"));
  CHECK(r.status == http::status::not_found);
  CHECK(r.headers["X-Error-Code"] == "EntryNotFound");
  CHECK(r.body == R"({"error":"Entry not found: x"})");
  CHECK(error_response(Status(Code::kRepoNotFound, "")).headers["X-Error-Code"] == "RepoNotFound");
  CHECK(error_response(Status(Code::kRevisionNotFound, "")).headers["X-Error-Code"] == "RevisionNotFound");
  CHECK(http_status_for(Code::kUnauthenticated) == http::status::unauthorized);
  CHECK(http_status_for(Code::kPermissionDenied) == http::status::forbidden);
  CHECK(http_status_for(Code::kTooLarge) == http::status::payload_too_large);
  CHECK(http_status_for(Code::kOutOfRange) == http::status::range_not_satisfiable);
  CHECK(http_status_for(Code::kConflict) == http::status::precondition_failed);
}

TEST_CASE("error messages cannot inject headers", "[hub]") {
  auto r = error_response(Status(Code::kInvalidArgument, "bad\r\nSet-Cookie: x"));
  CHECK(std::string(r.headers["X-Error-Message"]).find('\n') == std::string::npos);
}
