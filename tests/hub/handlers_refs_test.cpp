// Branch, tag and commit-listing handlers, called directly on a Hub in a temporary folder.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include "hub/handlers.h"
#include "tests/hub/hub_test_util.h"
#include "registry/git_objects.h"

using namespace grove;
using namespace grove::hub;
using nlohmann::json;

TEST_CASE("branches and tags are created and deleted by writers only", "[hub]") {
  TempHub hub;
  std::string writer = *hub->registry().create_token("alice", registry::Scope::kWrite, "w");
  std::string reader = *hub->registry().create_token("alice", registry::Scope::kRead, "r");
  std::string other = *hub->registry().create_token("bob", registry::Scope::kWrite, "b");
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  std::string initial = *hub->registry().resolve_revision(repo.id, "main");
  registry::CommitRequest c;
  c.repo_id = repo.id;
  c.author = "alice";
  c.title = "add a";
  c.upserts = {small_file("a.txt", "a")};
  std::string second = hub->registry().commit(c)->id;

  const std::string branch = "/api/models/alice/m/branch/feature/x";
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, branch))) == Code::kUnauthenticated);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, branch, reader))) == Code::kPermissionDenied);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, branch, other))) == Code::kPermissionDenied);

  json from_initial = {{"startingPoint", initial}};
  REQUIRE(call(*hub, make_request(*hub, http::verb::post, branch, writer, from_initial.dump())).is_ok());
  CHECK(*hub->registry().resolve_revision(repo.id, "feature/x") == initial);
  // Exists: 409 unless overwrite, which moves it (default starting point: the default branch).
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, branch, writer))) == Code::kAlreadyExists);
  REQUIRE(call(*hub, make_request(*hub, http::verb::post, branch, writer, R"({"overwrite":true})")).is_ok());
  CHECK(*hub->registry().resolve_revision(repo.id, "feature/x") == second);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, "/api/models/alice/m/branch/b2", writer,
                                        R"({"startingPoint":"nope"})"))) == Code::kRevisionNotFound);
  // An encoded name is the same branch as a raw one.
  REQUIRE(call(*hub, make_request(*hub, http::verb::delete_, "/api/models/alice/m/branch/feature%2Fx", writer)).is_ok());
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::delete_, branch, writer))) == Code::kRevisionNotFound);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::delete_, "/api/models/alice/m/branch/main", writer))) ==
        Code::kInvalidArgument);

  const std::string tag = "/api/models/alice/m/tag/" + initial;
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, tag, writer, "{}"))) == Code::kInvalidArgument);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, tag, reader, R"({"tag":"v1"})"))) ==
        Code::kPermissionDenied);
  REQUIRE(call(*hub, make_request(*hub, http::verb::post, tag, writer, R"({"tag":"v1","message":"first"})")).is_ok());
  CHECK(*hub->registry().resolve_revision(repo.id, "v1") == initial);
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, "/api/models/alice/m/tag/main", writer,
                                        R"({"tag":"v1"})"))) == Code::kAlreadyExists);
  REQUIRE(call(*hub, make_request(*hub, http::verb::delete_, "/api/models/alice/m/tag/v1", writer)).is_ok());
  CHECK(code_of(call(*hub, make_request(*hub, http::verb::delete_, "/api/models/alice/m/tag/v1", writer))) ==
        Code::kRevisionNotFound);
}

TEST_CASE("commit listings carry X-Total-Count, an absolute Link and formatted copies", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  for (int i = 0; i < 3; ++i) {
    registry::CommitRequest c;
    c.repo_id = repo.id;
    c.author = "alice";
    c.title = "commit <" + std::to_string(i) + ">";
    c.upserts = {small_file("f.txt", std::to_string(i))};
    REQUIRE(hub->registry().commit(c).is_ok());
  }
  auto first = call(*hub, make_request(*hub, http::verb::get, "/api/models/alice/m/commits/main?limit=2&expand[]=formatted"));
  REQUIRE(first.is_ok());
  CHECK(first->headers["X-Total-Count"] == "4");
  std::string link(first->headers[http::field::link]);
  CHECK(link.starts_with("<http://hub.test/api/models/alice/m/commits/main?"));
  CHECK(link.ends_with(">; rel=\"next\""));
  json page = json::parse(first->body);
  REQUIRE(page.size() == 2);
  CHECK(page[0]["title"] == "commit <2>");
  CHECK(page[0]["formatted"]["title"] == "commit &lt;2&gt;");

  auto plain = call(*hub, make_request(*hub, http::verb::get, "/api/models/alice/m/commits/main?limit=1"));
  REQUIRE(plain.is_ok());
  CHECK(plain->headers["X-Total-Count"] == "4");
  CHECK_FALSE(json::parse(plain->body)[0].contains("formatted"));

  auto all = call(*hub, make_request(*hub, http::verb::get, "/api/models/alice/m/commits/main"));
  REQUIRE(all.is_ok());
  CHECK(json::parse(all->body).size() == 4);
  CHECK(all->headers[http::field::link].empty());
}

TEST_CASE("paths-info answers through the route table for both body forms", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  registry::CommitRequest c;
  c.repo_id = repo.id;
  c.author = "alice";
  c.title = "files";
  c.upserts = {small_file("config.json", "{}"), small_file("sub/x.txt", "x")};
  std::string head = hub->registry().commit(c)->id;

  Request js = make_request(*hub, http::verb::post, "/api/models/alice/m/paths-info/main", "",
                            R"({"paths":["config.json","sub","gone"],"expand":true})");
  js.header.set(http::field::content_type, "application/json");
  auto a = call(*hub, std::move(js));
  REQUIRE(a.is_ok());
  CHECK(a->headers["X-Repo-Commit"] == head);
  json entries = json::parse(a->body);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0]["path"] == "config.json");
  CHECK(entries[1]["type"] == "directory");
  CHECK(entries[0]["lastCommit"]["id"] == head);
  CHECK(entries[0]["lastCommit"]["title"] == "files");
  CHECK(entries[1]["lastCommit"]["id"] == head);  // folders have one too

  Request py = make_request(*hub, http::verb::post, "/api/models/alice/m/paths-info/" + head, "",
                            "paths=sub%2Fx.txt&expand=false");
  py.header.set(http::field::content_type, "application/x-www-form-urlencoded");
  auto b = call(*hub, std::move(py));
  REQUIRE(b.is_ok());
  REQUIRE(json::parse(b->body).size() == 1);
  CHECK_FALSE(json::parse(b->body)[0].contains("lastCommit"));
  CHECK(json::parse(b->body)[0]["path"] == "sub/x.txt");

  CHECK(code_of(call(*hub, make_request(*hub, http::verb::post, "/api/models/alice/m/paths-info/nope", "", "paths=a"))) ==
        Code::kRevisionNotFound);
}
