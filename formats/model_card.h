// The model card: README.md with optional YAML front matter between "---" lines.
// Pure parsing, no I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace grove::formats {

struct ModelCard {
  // base_model may be a string or a list in YAML; always a list here, in written order.
  std::vector<std::string> base_models;
  std::optional<std::string> base_model_relation;  // adapter | merge | quantized | finetune
  std::optional<std::string> license;
  std::optional<std::string> library_name;
  std::optional<std::string> pipeline_tag;
  std::vector<std::string> tags;
  // The whole front matter as JSON (the Hub's `cardData`); an empty object when absent.
  nlohmann::json card_data = nlohmann::json::object();
  // The Markdown after the front matter.
  std::string body;
};

// A README without front matter gives an empty card with the whole text as body.
// Front matter that is not valid YAML, or not a mapping, or whose known keys have the wrong
// type (base_model not a string or list of strings, an unknown base_model_relation), is
// kInvalidArgument with a message that says what is wrong.
Result<ModelCard> parse_model_card(std::string_view readme);

}  // namespace grove::formats
