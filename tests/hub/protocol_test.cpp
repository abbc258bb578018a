#include "hub/protocol.h"

#include <catch2/catch.hpp>

#include "registry/git_objects.h"

using namespace grove;
using namespace grove::hub;

namespace {

registry::FileEntry file(const std::string& path, const std::string& content, bool lfs = false) {
  registry::FileEntry f;
  f.path = path;
  f.size = content.size();
  f.sha256 = Sha256::of(std::string_view(content));
  f.lfs = lfs;
  f.blob_oid = lfs ? registry::git_blob_oid(registry::lfs_pointer(f.sha256, f.size)) : registry::git_blob_oid(content);
  return f;
}

}  // namespace

TEST_CASE("every answer carries the CORS headers from one list", "[hub]") {
  http::fields headers;
  add_cors_headers(headers);
  CHECK(headers[http::field::access_control_allow_origin] == "*");
  std::string exposed(headers[http::field::access_control_expose_headers]);
  for (const char* h : {"X-Repo-Commit", "X-Request-Id", "X-Error-Code", "X-Error-Message", "X-Total-Count", "ETag",
                        "Link", "Accept-Ranges", "Content-Range", "X-Linked-Size", "X-Linked-Etag"})
    CHECK(exposed.find(h) != std::string::npos);

  Response preflight = cors_preflight_response();
  CHECK(preflight.status == http::status::no_content);
  std::string allowed(preflight.headers[http::field::access_control_allow_headers]);
  for (const char* h : {"Authorization", "Content-Type", "Range"}) CHECK(allowed.find(h) != std::string::npos);
  CHECK(std::string(preflight.headers[http::field::access_control_allow_methods]).find("DELETE") != std::string::npos);
}

TEST_CASE("paths-info bodies come as JSON (JS) or as a form (Python)", "[hub]") {
  auto js = parse_paths_info_body("application/json", R"({"paths":["a.txt","dir/b.bin"],"expand":true})");
  REQUIRE(js.is_ok());
  CHECK(js->paths == std::vector<std::string>{"a.txt", "dir/b.bin"});
  CHECK(js->expand);

  auto py = parse_paths_info_body("application/x-www-form-urlencoded", "paths=a.txt&paths=dir%2Fb.bin&expand=False");
  REQUIRE(py.is_ok());
  CHECK(py->paths == std::vector<std::string>{"a.txt", "dir/b.bin"});
  CHECK_FALSE(py->expand);

  CHECK(parse_paths_info_body("application/json", R"({"paths":"a"})").status().code() == Code::kInvalidArgument);
  CHECK(parse_paths_info_body("application/json", "{").status().code() == Code::kInvalidArgument);
  CHECK(parse_paths_info_body("application/json", R"({"paths":[1]})").status().code() == Code::kInvalidArgument);
}

TEST_CASE("paths-info answers existing files and folders and leaves out the rest", "[hub]") {
  std::vector<registry::FileEntry> files = {file("a.txt", "hello"), file("dir/b.bin", "weights", true),
                                            file("dir/sub/c.txt", "c")};
  auto out = paths_info_json(files, {"dir/b.bin", "missing.txt", "dir", "a.txt", "a.txt", "dir/sub/"});
  REQUIRE(out.size() == 4);
  CHECK(out[0]["path"] == "dir/b.bin");
  CHECK(out[0]["type"] == "file");
  CHECK(out[0]["lfs"]["oid"] == files[1].sha256.hex());
  CHECK(out[0]["oid"] == files[1].blob_oid.hex());
  CHECK(out[1]["path"] == "dir");
  CHECK(out[1]["type"] == "directory");
  CHECK(out[1]["oid"] == registry::git_tree_oids(files)["dir"].hex());
  CHECK(out[2]["path"] == "a.txt");
  CHECK_FALSE(out[2].contains("lfs"));
  CHECK(out[3]["path"] == "dir/sub");
  CHECK(paths_info_json(files, {"nothing", "di"}).empty());
}

TEST_CASE("html_escape escapes markup", "[hub]") {
  CHECK(html_escape("a <b> & \"c\" 'd'") == "a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#39;");
}
