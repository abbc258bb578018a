#include "formats/model_card.h"

#include <string>

#include <catch2/catch.hpp>

using namespace grove;
using namespace grove::formats;
using json = nlohmann::json;

namespace {

ModelCard parse_ok(std::string_view readme) {
  auto r = parse_model_card(readme);
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

std::string parse_error(std::string_view readme) {
  auto r = parse_model_card(readme);
  REQUIRE_FALSE(r.is_ok());
  CHECK(r.status().code() == Code::kInvalidArgument);
  return r.status().message();
}

}  // namespace

TEST_CASE("a README without front matter is all body", "[formats]") {
  for (std::string_view readme : {"", "# Model\n\nText.\n", "--\n", "---", "---\n", " ---\na: 1\n---\n",
                                  "----\na: 1\n----\n", "--- \na: 1\n---\n", "text\n---\na: 1\n---\n"}) {
    auto card = parse_ok(readme);
    CHECK(card.body == readme);
    CHECK(card.card_data == json::object());
    CHECK(card.base_models.empty());
    CHECK_FALSE(card.license);
  }
}

TEST_CASE("an opening delimiter with no closing one is a horizontal rule, not front matter", "[formats]") {
  const std::string readme = "---\nlicense: mit\nno closing line\n";
  auto card = parse_ok(readme);
  CHECK(card.body == readme);
  CHECK_FALSE(card.license);
}

TEST_CASE("front matter fills the known fields, card_data and body", "[formats]") {
  auto card = parse_ok(
      "---\n"
      "license: apache-2.0\n"
      "library_name: transformers\n"
      "pipeline_tag: text-generation\n"
      "base_model: meta-llama/Llama-3.1-8B\n"
      "base_model_relation: finetune\n"
      "tags:\n- llama\n- chat\n"
      "---\n"
      "# My model\n\nIt is --- good.\n");
  CHECK(card.license == "apache-2.0");
  CHECK(card.library_name == "transformers");
  CHECK(card.pipeline_tag == "text-generation");
  CHECK(card.base_models == std::vector<std::string>{"meta-llama/Llama-3.1-8B"});
  CHECK(card.base_model_relation == "finetune");
  CHECK(card.tags == std::vector<std::string>{"llama", "chat"});
  CHECK(card.body == "# My model\n\nIt is --- good.\n");
  CHECK(card.card_data == json::parse(R"({
    "license": "apache-2.0", "library_name": "transformers", "pipeline_tag": "text-generation",
    "base_model": "meta-llama/Llama-3.1-8B", "base_model_relation": "finetune", "tags": ["llama", "chat"]})"));
}

TEST_CASE("a UTF-8 BOM and CRLF line endings are accepted", "[formats]") {
  auto card = parse_ok("\xEF\xBB\xBF---\r\nlicense: mit\r\ntags: [a, b]\r\n---\r\nBody\r\n");
  CHECK(card.license == "mit");
  CHECK(card.tags == std::vector<std::string>{"a", "b"});
  CHECK(card.body == "Body\r\n");
}

TEST_CASE("empty front matter and a closing line at the end of the text", "[formats]") {
  auto empty = parse_ok("---\n---\nBody");
  CHECK(empty.card_data == json::object());
  CHECK(empty.body == "Body");

  auto comment_only = parse_ok("---\n# nothing yet\n---\n");
  CHECK(comment_only.card_data == json::object());
  CHECK(comment_only.body.empty());

  auto at_end = parse_ok("---\nlicense: mit\n---");
  CHECK(at_end.license == "mit");
  CHECK(at_end.body.empty());
}

TEST_CASE("base_model may be a string or a list of strings, in written order", "[formats]") {
  CHECK(parse_ok("---\nbase_model: a/b\n---\n").base_models == std::vector<std::string>{"a/b"});
  CHECK(parse_ok("---\nbase_model:\n- z/one\n- a/two\n---\n").base_models ==
        std::vector<std::string>{"z/one", "a/two"});
  CHECK(parse_ok("---\nbase_model: []\n---\n").base_models.empty());
  CHECK(parse_ok("---\nbase_model:\n---\n").base_models.empty());

  const std::string expected = "'base_model' must be a string or a list of strings";
  CHECK(parse_error("---\nbase_model: {name: a/b}\n---\n") == expected);
  CHECK(parse_error("---\nbase_model: [{name: a/b}]\n---\n") == expected);
  CHECK(parse_error("---\nbase_model: [a/b, [c/d]]\n---\n") == expected);
  CHECK(parse_error("---\nbase_model: [a/b, ~]\n---\n") == expected);
}

TEST_CASE("base_model_relation must be one of the four relations", "[formats]") {
  for (const char* relation : {"adapter", "merge", "quantized", "finetune"}) {
    CHECK(parse_ok(std::string("---\nbase_model_relation: ") + relation + "\n---\n").base_model_relation == relation);
  }
  CHECK(parse_error("---\nbase_model_relation: distilled\n---\n") ==
        "base_model_relation 'distilled' is not one of adapter, merge, quantized, finetune");
  CHECK(parse_error("---\nbase_model_relation: Finetune\n---\n") ==
        "base_model_relation 'Finetune' is not one of adapter, merge, quantized, finetune");
  CHECK(parse_error("---\nbase_model_relation: [merge]\n---\n") == "'base_model_relation' must be a string");
}

TEST_CASE("license, library_name and pipeline_tag must be strings; tags a string or list", "[formats]") {
  CHECK(parse_error("---\nlicense: [mit]\n---\n") == "'license' must be a string");
  CHECK(parse_error("---\nlibrary_name: {a: 1}\n---\n") == "'library_name' must be a string");
  CHECK(parse_error("---\npipeline_tag: [x]\n---\n") == "'pipeline_tag' must be a string");
  CHECK(parse_error("---\ntags: {a: 1}\n---\n") == "'tags' must be a string or a list of strings");
  CHECK(parse_ok("---\ntags: single\n---\n").tags == std::vector<std::string>{"single"});
  // A scalar YAML would type is still the text the author wrote.
  CHECK(parse_ok("---\nlicense: 2.0\n---\n").license == "2.0");
  CHECK_FALSE(parse_ok("---\nlicense: ~\n---\n").license);
}

TEST_CASE("card_data keeps numbers, booleans and nulls typed and the rest as strings", "[formats]") {
  auto card = parse_ok(
      "---\n"
      "int: 42\nneg: -7\nplus: +3\nbig: 18446744073709551615\ntoo_big: 18446744073709551616\n"
      "float: 0.5\nexp: 1e3\nversion: 1.10\ninf: .inf\n"
      "yes_bool: true\nno_bool: False\nnorwegian: no\non: on\n"
      "quoted_int: '42'\nquoted_bool: \"true\"\ntagged: !!str 7\n"
      "nothing: ~\nempty:\nword: hello world\n"
      "model-index:\n- name: m\n  results:\n  - metrics: [{type: acc, value: 0.91}]\n"
      "---\n");
  CHECK(card.card_data == json::parse(R"({
    "int": 42, "neg": -7, "plus": 3, "big": 18446744073709551615, "too_big": "18446744073709551616",
    "float": 0.5, "exp": 1000.0, "version": 1.1, "inf": ".inf",
    "yes_bool": true, "no_bool": false, "norwegian": "no", "on": "on",
    "quoted_int": "42", "quoted_bool": "true", "tagged": "7",
    "nothing": null, "empty": null, "word": "hello world",
    "model-index": [{"name": "m", "results": [{"metrics": [{"type": "acc", "value": 0.91}]}]}]})"));
  CHECK(card.card_data["int"].is_number_unsigned());
  CHECK(card.card_data["neg"].is_number_integer());
}

TEST_CASE("a repeated key keeps its last value in card_data and the known fields alike", "[formats]") {
  auto card = parse_ok("---\nlicense: mit\nlicense: apache-2.0\n---\n");
  CHECK(card.license == "apache-2.0");
  CHECK(card.card_data["license"] == "apache-2.0");
}

TEST_CASE("invalid YAML is refused with the README line", "[formats]") {
  auto message = parse_error("---\nlicense: mit\ntags: [a, b\n---\n");
  CHECK_THAT(message, Catch::StartsWith("model card front matter is not valid YAML at line "));
  CHECK_THAT(message, Catch::Contains("end of sequence flow not found"));
  CHECK_THAT(parse_error("---\nlicense: mit\na: b: c\n---\n"),
             Catch::StartsWith("model card front matter is not valid YAML at line 3: "));
}

TEST_CASE("front matter that is not a mapping is refused", "[formats]") {
  CHECK(parse_error("---\n- a\n- b\n---\n") == "model card front matter must be a YAML mapping");
  CHECK(parse_error("---\njust text\n---\n") == "model card front matter must be a YAML mapping");
  CHECK(parse_error("---\n? [a, b]\n: c\n---\n") == "front matter keys must be scalars, not lists or mappings");
}

TEST_CASE("hostile front matter is refused without crashing or exhausting memory", "[formats]") {
  // A self-referencing alias is a cycle once expanded.
  CHECK_THAT(parse_error("---\na: &x [*x]\n---\n"), Catch::StartsWith("front matter nests deeper than"));
  CHECK_THAT(parse_error("---\na: &x {k: *x}\n---\n"), Catch::StartsWith("front matter nests deeper than"));

  // "Billion laughs": each level repeats the one before ten times, 10^10 values once expanded.
  std::string laughs = "---\nl0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
  for (char level = '1'; level <= '9'; ++level) {
    const char previous = static_cast<char>(level - 1);
    laughs.append("l").append(1, level).append(": &l").append(1, level).append(" [");
    for (int j = 0; j < 10; ++j) laughs.append(j ? ", *l" : "*l").append(1, previous);
    laughs += "]\n";
  }
  laughs += "---\n";
  CHECK_THAT(parse_error(laughs), Catch::Contains("values once aliases are expanded"));

  CHECK_THAT(parse_error("---\na: " + std::string(5000, '[') + std::string(5000, ']') + "\n---\n"),
             Catch::StartsWith("model card front matter is not valid YAML"));
  // Within yaml-cpp's own nesting guard but past ours.
  CHECK(parse_error("---\na: " + std::string(150, '[') + std::string(150, ']') + "\n---\n") ==
        "front matter nests deeper than 100");
}

TEST_CASE("front matter that is not valid UTF-8 is refused", "[formats]") {
  CHECK(parse_error("---\nlicense: \xff\xfe\n---\n") == "model card front matter is not valid UTF-8");
  CHECK(parse_error("---\n\xc3: x\n---\n") == "model card front matter is not valid UTF-8");
  // Outside the front matter the bytes are the body's business.
  CHECK(parse_ok("---\nlicense: mit\n---\n\xff").body == "\xff");
}
