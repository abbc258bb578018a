#include "common/status.h"

#include <catch2/catch.hpp>

using namespace grove;

static Result<int> half(int x) {
  if (x % 2) return invalid_argument("odd: " + std::to_string(x));
  return x / 2;
}

static Result<int> quarter(int x) {
  GROVE_ASSIGN_OR_RETURN(int h, half(x));
  return half(h);
}

TEST_CASE("Result carries a value or a failing Status", "[common]") {
  CHECK(quarter(8).value() == 2);
  auto r = quarter(6);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  CHECK(r.status().message() == "odd: 3");
  CHECK(r.status().to_string() == "InvalidArgument: odd: 3");
}

TEST_CASE("a Result built from an ok Status is an internal error, not a value", "[common]") {
  Result<int> r{Status::ok()};
  CHECK_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::kInternal);
}
