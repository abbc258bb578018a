#include "hub/routes.h"

#include <catch2/catch.hpp>

#include "hub/handlers.h"

using namespace grove::hub;

static std::optional<RouteMatch> route(http::verb method, const std::string& target, bool* mismatch = nullptr) {
  Request r;
  r.method = method;
  r.target = target;
  r.path = *parse_target(target);
  bool m = false;
  auto match = match_route(r, m);
  if (mismatch) *mismatch = m;
  return match;
}

TEST_CASE("the route table sends each Hub URL to its handler", "[hub]") {
  auto info = route(http::verb::get, "/api/models/alice/m1");
  REQUIRE(info);
  CHECK(info->route->handler == handle_model_info);
  CHECK(info->params["ns"] == "alice");
  CHECK(info->params["name"] == "m1");

  auto tree = route(http::verb::get, "/api/models/alice/m1/tree/main/sub/dir");
  REQUIRE(tree);
  CHECK(tree->route->handler == handle_tree);
  CHECK(tree->params.rest == std::vector<std::string>{"main", "sub", "dir"});

  auto lfs = route(http::verb::post, "/alice/m1.git/info/lfs/objects/batch");
  REQUIRE(lfs);
  CHECK(lfs->route->handler == handle_lfs_batch);
  CHECK(lfs->params["name"] == "m1");

  auto resolve = route(http::verb::head, "/alice/m1/resolve/refs%2Fpr%2F1/a/b.bin");
  REQUIRE(resolve);
  CHECK(resolve->route->handler == handle_resolve);
  CHECK(resolve->params.rest == std::vector<std::string>{"refs/pr/1", "a", "b.bin"});

  auto branch = route(http::verb::delete_, "/api/models/alice/m1/branch/feature/x");
  REQUIRE(branch);
  CHECK(branch->route->handler == handle_delete_branch);
  CHECK(branch->params.rest == std::vector<std::string>{"feature", "x"});
  CHECK(route(http::verb::post, "/api/models/alice/m1/branch/dev")->route->handler == handle_create_branch);
  CHECK(route(http::verb::post, "/api/models/alice/m1/tag/main")->route->handler == handle_create_tag);
  CHECK(route(http::verb::delete_, "/api/models/alice/m1/tag/v1")->route->handler == handle_delete_tag);
  CHECK(route(http::verb::post, "/api/models/alice/m1/paths-info/main")->route->handler == handle_paths_info);

  auto upload = route(http::verb::put, "/api/grove/lfs/upload/abc");
  REQUIRE(upload);
  CHECK(upload->route->body == BodyMode::kStreamed);
}

TEST_CASE("unknown URLs and wrong methods do not match", "[hub]") {
  bool mismatch = false;
  CHECK_FALSE(route(http::verb::get, "/api/nothing/here/at/all", &mismatch));
  CHECK_FALSE(mismatch);
  CHECK_FALSE(route(http::verb::delete_, "/api/models/alice/m1", &mismatch));
  CHECK(mismatch);
  CHECK_FALSE(route(http::verb::get, "/a/.git/info/lfs/objects/batch", &mismatch));
}
