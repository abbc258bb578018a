// Model info through the answer cache (hub/handlers_models.cpp, hub/answer_cache.h): a cached
// answer is exactly the uncached one, and every registry write that changes model info is seen
// by the next request. Handlers are called directly on a Hub in a temporary folder.
#include <catch2/catch.hpp>

#include <thread>

#include "hub/answer_cache.h"
#include "hub/handlers.h"
#include "registry/git_objects.h"
#include "tests/hub/hub_test_util.h"

using namespace grove;
using namespace grove::hub;
using nlohmann::json;

namespace {

Request make_request(Hub& hub, const std::string& target, const std::string& token = "") {
  return make_request(hub, http::verb::get, target, token);
}

// The answer's JSON; fails the test on an error.
json info(Hub& hub, const std::string& target, const std::string& token = "") {
  auto r = call(hub, make_request(hub, target, token));
  REQUIRE(r.is_ok());
  REQUIRE(r->status == http::status::ok);
  CHECK(r->headers[http::field::content_type] == "application/json; charset=utf-8");
  return json::parse(r->body);
}

// Model info computed with the cache out of the way.
json uncached(Hub& hub, const std::string& target, const std::string& token = "") {
  Request request = make_request(hub, target, token);
  bool mismatch = false;
  auto match = match_route(request, mismatch);
  REQUIRE(match);
  bool complete = true;
  auto r = build_model_info(hub, request, match->params, complete);
  REQUIRE(r.is_ok());
  CHECK(complete);
  return json::parse(r->body);
}

std::string commit(Hub& hub, const registry::Repo& repo, const std::string& path, const std::string& branch = "main") {
  registry::CommitRequest c;
  c.repo_id = repo.id;
  c.branch = branch;
  c.author = repo.ns;
  c.title = "add " + path;
  c.upserts = {small_file(path, path)};
  auto done = hub.registry().commit(c);
  REQUIRE(done.is_ok());
  return done->id;
}

bool has_sibling(const json& info, const std::string& path) {
  for (const auto& s : info["siblings"])
    if (s["rfilename"] == path) return true;
  return false;
}

}  // namespace

TEST_CASE("a cached model info answer is the uncached one, and is served from the cache", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  commit(*hub, repo, "a.txt");
  for (std::string target : {"/api/models/alice/m", "/api/models/alice/m?blobs=true", "/api/models/alice/m/revision/main",
                             "/api/models/alice/m?expand=sha&expand=siblings", "/api/models/alice/m?expand[]=downloads"}) {
    INFO(target);
    json first = info(*hub, target);
    auto before = hub->answers().stats();
    json second = info(*hub, target);
    CHECK(hub->answers().stats().hits == before.hits + 1);
    CHECK(second == first);
    CHECK(second == uncached(*hub, target));
  }
  // The query is part of the key: expand narrows the answer, blobs widens the siblings.
  CHECK_FALSE(info(*hub, "/api/models/alice/m?expand=sha").contains("siblings"));
  CHECK(info(*hub, "/api/models/alice/m?blobs=true")["siblings"][0].contains("blobId"));
  CHECK_FALSE(info(*hub, "/api/models/alice/m")["siblings"][0].contains("blobId"));
}

TEST_CASE("model info follows commits, branches and tags at once", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  std::string first = commit(*hub, repo, "a.txt");
  CHECK(info(*hub, "/api/models/alice/m")["sha"] == first);
  CHECK(info(*hub, "/api/models/alice/m/revision/main")["sha"] == first);
  CHECK(code_of(call(*hub, make_request(*hub, "/api/models/alice/m/revision/v1"))) == Code::kRevisionNotFound);

  std::string second = commit(*hub, repo, "b.txt");
  json now = info(*hub, "/api/models/alice/m");
  CHECK(now["sha"] == second);
  CHECK(has_sibling(now, "b.txt"));
  CHECK(info(*hub, "/api/models/alice/m/revision/main")["sha"] == second);
  // A full commit id names the same answer forever; it stays right after the branch moves on.
  CHECK(info(*hub, "/api/models/alice/m/revision/" + first)["sha"] == first);
  CHECK_FALSE(has_sibling(info(*hub, "/api/models/alice/m/revision/" + first), "b.txt"));

  REQUIRE(hub->registry().create_tag(repo.id, "v1", first).is_ok());
  CHECK(info(*hub, "/api/models/alice/m/revision/v1")["sha"] == first);
  REQUIRE(hub->registry().delete_tag(repo.id, "v1").is_ok());
  CHECK(code_of(call(*hub, make_request(*hub, "/api/models/alice/m/revision/v1"))) == Code::kRevisionNotFound);

  std::string on_dev = commit(*hub, repo, "c.txt", "dev");
  CHECK(info(*hub, "/api/models/alice/m/revision/dev")["sha"] == on_dev);
  CHECK(info(*hub, "/api/models/alice/m")["sha"] == second);
}

TEST_CASE("a private repo never leaks through the cache", "[hub]") {
  TempHub hub;
  std::string alice = *hub->registry().create_token("alice", registry::Scope::kRead, "a");
  std::string bob = *hub->registry().create_token("bob", registry::Scope::kRead, "b");
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  commit(*hub, repo, "a.txt");
  const std::string target = "/api/models/alice/m";
  // Everyone has a cached public answer.
  CHECK(info(*hub, target)["private"] == false);
  CHECK(info(*hub, target, bob)["private"] == false);
  CHECK(info(*hub, target, alice)["private"] == false);

  REQUIRE(hub->registry().set_private(repo.id, true).is_ok());
  CHECK(code_of(call(*hub, make_request(*hub, target))) == Code::kRepoNotFound);
  CHECK(code_of(call(*hub, make_request(*hub, target, bob))) == Code::kRepoNotFound);
  CHECK(info(*hub, target, alice)["private"] == true);
  // The owner's cached answer is not anyone else's, however often they ask.
  for (int i = 0; i < 3; ++i) {
    CHECK(code_of(call(*hub, make_request(*hub, target))) == Code::kRepoNotFound);
    CHECK(code_of(call(*hub, make_request(*hub, target, bob))) == Code::kRepoNotFound);
    CHECK(info(*hub, target, alice)["private"] == true);
  }

  REQUIRE(hub->registry().set_private(repo.id, false).is_ok());
  CHECK(info(*hub, target)["private"] == false);
}

TEST_CASE("renamed and deleted repos are not answered from the cache", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  commit(*hub, repo, "a.txt");
  CHECK(info(*hub, "/api/models/alice/m")["id"] == "alice/m");

  REQUIRE(hub->registry().rename_repo(repo.id, "alice", "renamed").is_ok());
  auto old_name = call(*hub, make_request(*hub, "/api/models/alice/m"));
  CHECK(code_of(old_name) == Code::kMoved);
  CHECK(info(*hub, "/api/models/alice/renamed")["id"] == "alice/renamed");

  REQUIRE(hub->registry().delete_repo(repo.id).is_ok());
  CHECK(code_of(call(*hub, make_request(*hub, "/api/models/alice/renamed"))) == Code::kRepoNotFound);
  CHECK(code_of(call(*hub, make_request(*hub, "/api/models/alice/m"))) == Code::kRepoNotFound);
}

TEST_CASE("counted downloads show in cached model info once flushed", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "m", "alice", false);
  commit(*hub, repo, "a.txt");
  CHECK(info(*hub, "/api/models/alice/m")["downloads"] == 0);
  hub->downloads().count(repo.id);
  hub->downloads().count(repo.id);
  REQUIRE(hub->downloads().flush().is_ok());
  CHECK(info(*hub, "/api/models/alice/m")["downloads"] == 2);
  CHECK(info(*hub, "/api/models/alice/m?expand=downloads")["downloads"] == 2);
}

TEST_CASE("AnswerCache: generation, time to live and size bounds", "[hub]") {
  auto answer = [](std::string body) {
    auto a = std::make_shared<CachedAnswer>();
    a->body = std::move(body);
    a->content_type = "application/json";
    return a;
  };
  SECTION("an answer is served only at the generation it was computed at") {
    AnswerCache cache;
    cache.put("k", 3, answer("three"));
    REQUIRE(cache.find("k", 3));
    CHECK(cache.find("k", 3)->body == "three");
    CHECK_FALSE(cache.find("k", 4));
    CHECK_FALSE(cache.find("other", 3));
    // A late answer from an older generation does not replace a newer one.
    cache.put("k", 5, answer("five"));
    cache.put("k", 4, answer("four"));
    CHECK(cache.find("k", 5)->body == "five");
  }
  SECTION("answers expire") {
    AnswerCache cache(16, 1 << 20, std::chrono::milliseconds(20));
    cache.put("k", 1, answer("x"));
    CHECK(cache.find("k", 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(40));
    CHECK_FALSE(cache.find("k", 1));
  }
  SECTION("entries and bytes stay bounded") {
    AnswerCache cache(10, 4000);
    for (int i = 0; i < 100; ++i) cache.put("key" + std::to_string(i), 1, answer(std::string(300, 'x')));
    CHECK(cache.stats().entries <= 10);
    CHECK(cache.find("key99", 1));  // the newest is kept
    cache.put("huge", 1, answer(std::string(2000, 'x')));  // over a quarter of the bytes: not kept
    CHECK_FALSE(cache.find("huge", 1));
  }
}

// The Hub's create makes a first commit holding .gitattributes; grove's makes an empty one (its
// commit endpoint keeps .gitattributes up to date on the first LFS upload). Model info of a
// repo nobody has pushed to yet is therefore a 200 naming that empty commit, with no siblings,
// not a 404: clients that read `sha` to build their first commit work unchanged.
TEST_CASE("model info of a repo without pushes names its empty initial commit", "[hub]") {
  TempHub hub;
  auto repo = *hub->registry().create_repo("alice", "fresh", "alice", false);
  std::string initial = *hub->registry().resolve_revision(repo.id, "HEAD");
  json fresh = info(*hub, "/api/models/alice/fresh");
  CHECK(fresh["sha"] == initial);
  CHECK(fresh["siblings"] == json::array());
  CHECK(fresh["usedStorage"] == 0);
  CHECK(fresh["private"] == false);
  CHECK(info(*hub, "/api/models/alice/fresh/revision/main")["sha"] == initial);
  CHECK(info(*hub, "/api/models/alice/fresh/revision/" + initial.substr(0, 7))["sha"] == initial);
}
