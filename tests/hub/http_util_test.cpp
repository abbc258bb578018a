#include "hub/http_util.h"

#include <catch2/catch.hpp>

using namespace grove;
using namespace grove::hub;

TEST_CASE("Range headers resolve against the size as RFC 9110 says", "[hub]") {
  ByteRange r;
  CHECK(parse_range("bytes=0-0", 100, r) == RangeResult::kSatisfiable);
  CHECK((r.first == 0 && r.last == 0));
  CHECK(parse_range("bytes=10-19", 100, r) == RangeResult::kSatisfiable);
  CHECK((r.first == 10 && r.length() == 10));
  CHECK(parse_range("bytes=90-", 100, r) == RangeResult::kSatisfiable);
  CHECK((r.first == 90 && r.last == 99));
  CHECK(parse_range("bytes=-5", 100, r) == RangeResult::kSatisfiable);
  CHECK((r.first == 95 && r.last == 99));
  CHECK(parse_range("bytes=50-1000", 100, r) == RangeResult::kSatisfiable);
  CHECK(r.last == 99);
  CHECK(parse_range("bytes=100-", 100, r) == RangeResult::kUnsatisfiable);
  CHECK(parse_range("bytes=0-0", 0, r) == RangeResult::kUnsatisfiable);
  CHECK(parse_range("bytes=0-1,5-6", 100, r) == RangeResult::kNone);
  CHECK(parse_range("items=0-1", 100, r) == RangeResult::kNone);
  CHECK(parse_range("bytes=5-2", 100, r) == RangeResult::kNone);
  CHECK(parse_range("bytes=x-", 100, r) == RangeResult::kNone);
}

TEST_CASE("targets split into decoded segments and queries, with expand[] folded", "[hub]") {
  auto t = parse_target("//api/models/a%2Fb/tree/refs%2Fpr%2F1?recursive=true&expand[]=x&expand=y");
  REQUIRE(t.is_ok());
  CHECK(t->segments == std::vector<std::string>{"api", "models", "a/b", "tree", "refs/pr/1"});
  CHECK(t->flag("recursive", false));
  CHECK(t->params("expand") == std::vector<std::string>{"x", "y"});
  CHECK_FALSE(parse_target("/a/%zz").is_ok());
  CHECK_FALSE(parse_target("/a/%00b").is_ok());
}

TEST_CASE("form bodies and booleans in every spelling clients send", "[hub]") {
  auto f = parse_form("paths=a+b.txt&paths=c%2Fd&expand=False");
  REQUIRE(f.is_ok());
  CHECK(f->count("paths") == 2);
  TargetPath t;
  t.query = *f;
  CHECK_FALSE(t.flag("expand", true));
  t.query = {{"x", "1"}, {"y", "True"}};
  CHECK(t.flag("x", false));
  CHECK(t.flag("y", false));
}

TEST_CASE("base64 round trips every length and refuses garbage", "[hub]") {
  std::string data;
  for (int i = 0; i < 40; ++i) {
    auto back = base64_decode(base64_encode(data));
    REQUIRE(back.is_ok());
    CHECK(*back == data);
    data.push_back(static_cast<char>(i * 37));
  }
  CHECK(base64_encode("abc") == "YWJj");
  CHECK_FALSE(base64_decode("abc").is_ok());
  CHECK_FALSE(base64_decode("a$c=").is_ok());
}

TEST_CASE("signatures depend on key and message; comparison is exact", "[hub]") {
  CHECK(hmac_sha256_hex("k", "m") != hmac_sha256_hex("k", "n"));
  CHECK(hmac_sha256_hex("k", "m") != hmac_sha256_hex("j", "m"));
  // RFC 4231 test case 2.
  CHECK(hmac_sha256_hex("Jefe", "what do ya want for nothing?") ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(secure_equal("abc", "abc"));
  CHECK_FALSE(secure_equal("abc", "abd"));
  CHECK_FALSE(secure_equal("abc", "ab"));
}

TEST_CASE("timestamps are ISO-8601 with milliseconds and Z", "[hub]") {
  CHECK(iso8601_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(iso8601_ms(1732864210123) == "2024-11-29T07:10:10.123Z");
}

TEST_CASE("retarget_repo moves the repo named in a URL and keeps the rest as sent", "[hub]") {
  CHECK(retarget_repo("/api/models/alice/old/revision/main?expand=sha", "alice", "old", "bob", "new") ==
        "/api/models/bob/new/revision/main?expand=sha");
  CHECK(retarget_repo("/alice/old/resolve/feature%2Fx/a%20b.txt", "alice", "old", "bob", "new") ==
        "/bob/new/resolve/feature%2Fx/a%20b.txt");
  CHECK(retarget_repo("//ALICE/Old.git/info/lfs/objects/batch", "alice", "old", "bob", "new") ==
        "/bob/new.git/info/lfs/objects/batch");
  CHECK(retarget_repo("/api/models/al%69ce/old", "alice", "old", "bob", "n.e-w") == "/api/models/bob/n.e-w");
  CHECK_FALSE(retarget_repo("/api/repos/delete", "alice", "old", "bob", "new"));
  CHECK_FALSE(retarget_repo("/api/models/alice/other", "alice", "old", "bob", "new"));
}
