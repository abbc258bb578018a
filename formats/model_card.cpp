#include "formats/model_card.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include <yaml-cpp/yaml.h>

namespace grove::formats {
namespace {

using json = nlohmann::json;

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kDelimiter = "---";
constexpr std::array<std::string_view, 4> kRelations = {"adapter", "merge", "quantized", "finetune"};

// yaml-cpp shares aliased nodes, so a small front matter can name a huge or cyclic tree
// ("billion laughs", `&a [*a]`). Converting to JSON expands aliases, so it is bounded twice.
constexpr int kMaxDepth = 100;
constexpr std::size_t kMaxValues = 100000;

struct FrontMatter {
  std::string_view yaml;
  std::string_view body;
};

// The line starting at `pos` without its "\n" or "\r\n"; `next` is where the following line
// starts (text.size() when none does).
std::string_view line_at(std::string_view text, std::size_t pos, std::size_t& next) {
  std::size_t eol = text.find('\n', pos);
  next = eol == std::string_view::npos ? text.size() : eol + 1;
  std::string_view line = text.substr(pos, (eol == std::string_view::npos ? text.size() : eol) - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Front matter needs both delimiter lines; an opening "---" with no closing one is a Markdown
// horizontal rule, as on the Hub, so the whole text stays body.
std::optional<FrontMatter> split_front_matter(std::string_view text) {
  std::size_t pos = text.starts_with(kBom) ? kBom.size() : 0;
  std::size_t next = 0;
  if (line_at(text, pos, next) != kDelimiter || next == text.size()) return std::nullopt;
  const std::size_t yaml_begin = next;
  for (pos = yaml_begin; pos < text.size(); pos = next) {
    if (line_at(text, pos, next) == kDelimiter) {
      return FrontMatter{text.substr(yaml_begin, pos - yaml_begin), text.substr(next)};
    }
  }
  return std::nullopt;
}

// YAML 1.2 core schema float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool is_core_float(std::string_view s) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t int_digits = digits();
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    frac_digits = digits();
  }
  if (int_digits == 0 && frac_digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

// Plain scalars are typed by the YAML 1.2 core schema; quoted or explicitly tagged ones stay
// strings. YAML 1.1 booleans (yes/no/on/off) stay strings so that `language: no` means Norwegian.
// Values JSON cannot hold exactly (.inf, integers past 64 bits) stay strings too.
json scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() != "?") return text;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;

  // from_chars takes '-' for signed types but never '+'.
  const char* first = text.data() + (text.starts_with('+') ? 1 : 0);
  const char* last = text.data() + text.size();
  std::string_view unsigned_part(text);
  if (text.starts_with('+') || text.starts_with('-')) unsigned_part.remove_prefix(1);
  if (!unsigned_part.empty() && unsigned_part.find_first_not_of("0123456789") == std::string_view::npos) {
    if (text.starts_with('-')) {
      std::int64_t v = 0;
      if (std::from_chars(first, last, v).ec == std::errc()) return v;
    } else {
      std::uint64_t v = 0;
      if (std::from_chars(first, last, v).ec == std::errc()) return v;
    }
    return text;
  }
  if (is_core_float(text)) {
    double v = 0;
    auto [end, ec] = std::from_chars(first, last, v);
    if (ec == std::errc() && end == last && std::isfinite(v)) return v;
  }
  return text;
}

class CardConverter {
 public:
  Result<json> convert(const YAML::Node& node, int depth) {
    if (depth > kMaxDepth) return invalid_argument("front matter nests deeper than " + std::to_string(kMaxDepth));
    if (++values_ > kMaxValues) {
      return invalid_argument("front matter holds more than " + std::to_string(kMaxValues) +
                              " values once aliases are expanded");
    }
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        return scalar_to_json(node);
      case YAML::NodeType::Sequence: {
        json array = json::array();
        for (const auto& item : node) {
          GROVE_ASSIGN_OR_RETURN(json value, convert(item, depth + 1));
          array.push_back(std::move(value));
        }
        return array;
      }
      case YAML::NodeType::Map: {
        json object = json::object();
        for (const auto& entry : node) {
          GROVE_ASSIGN_OR_RETURN(std::string key, key_text(entry.first));
          GROVE_ASSIGN_OR_RETURN(json value, convert(entry.second, depth + 1));
          // A repeated key keeps its last value, as PyYAML (and so the Hub) does.
          object[key] = std::move(value);
        }
        return object;
      }
      default:
        return json(nullptr);
    }
  }

  static Result<std::string> key_text(const YAML::Node& key) {
    if (key.IsScalar()) return key.Scalar();
    if (key.IsNull()) return std::string("null");
    return invalid_argument("front matter keys must be scalars, not lists or mappings");
  }

 private:
  std::size_t values_ = 0;
};

// Null means absent: `license:` with nothing after it is common in templates.
Result<std::optional<std::string>> string_field(const std::string& key, const YAML::Node& node) {
  if (node.IsNull()) return std::optional<std::string>();
  if (!node.IsScalar()) return invalid_argument("'" + key + "' must be a string");
  return std::optional<std::string>(node.Scalar());
}

Result<std::vector<std::string>> string_list_field(const std::string& key, const YAML::Node& node) {
  if (node.IsNull()) return std::vector<std::string>();
  if (node.IsScalar()) return std::vector<std::string>{node.Scalar()};
  if (node.IsSequence()) {
    std::vector<std::string> out;
    for (const auto& item : node) {
      if (!item.IsScalar()) return invalid_argument("'" + key + "' must be a string or a list of strings");
      out.push_back(item.Scalar());
    }
    return out;
  }
  return invalid_argument("'" + key + "' must be a string or a list of strings");
}

Status set_known_field(ModelCard& card, const std::string& key, const YAML::Node& value) {
  if (key == "base_model") {
    GROVE_ASSIGN_OR_RETURN(card.base_models, string_list_field(key, value));
  } else if (key == "tags") {
    GROVE_ASSIGN_OR_RETURN(card.tags, string_list_field(key, value));
  } else if (key == "license") {
    GROVE_ASSIGN_OR_RETURN(card.license, string_field(key, value));
  } else if (key == "library_name") {
    GROVE_ASSIGN_OR_RETURN(card.library_name, string_field(key, value));
  } else if (key == "pipeline_tag") {
    GROVE_ASSIGN_OR_RETURN(card.pipeline_tag, string_field(key, value));
  } else if (key == "base_model_relation") {
    GROVE_ASSIGN_OR_RETURN(card.base_model_relation, string_field(key, value));
    if (card.base_model_relation &&
        std::find(kRelations.begin(), kRelations.end(), *card.base_model_relation) == kRelations.end()) {
      return invalid_argument("base_model_relation '" + *card.base_model_relation +
                              "' is not one of adapter, merge, quantized, finetune");
    }
  }
  return Status::ok();
}

Status parse_front_matter(std::string_view yaml, ModelCard& card) {
  YAML::Node root = YAML::Load(std::string(yaml));
  if (root.IsNull()) return Status::ok();
  if (!root.IsMap()) return invalid_argument("model card front matter must be a YAML mapping");
  CardConverter converter;
  for (const auto& entry : root) {
    GROVE_ASSIGN_OR_RETURN(std::string key, CardConverter::key_text(entry.first));
    GROVE_ASSIGN_OR_RETURN(card.card_data[key], converter.convert(entry.second, 1));
    GROVE_RETURN_IF_ERROR(set_known_field(card, key, entry.second));
  }
  // yaml-cpp passes invalid UTF-8 through, and nlohmann only notices when it serialises; find
  // out here rather than in whoever serves cardData later.
  (void)card.card_data.dump();
  return Status::ok();
}

}  // namespace

Result<ModelCard> parse_model_card(std::string_view readme) {
  ModelCard card;
  auto front = split_front_matter(readme);
  if (!front) {
    card.body = std::string(readme);
    return card;
  }
  card.body = std::string(front->body);
  try {
    GROVE_RETURN_IF_ERROR(parse_front_matter(front->yaml, card));
  } catch (const YAML::Exception& e) {
    std::string where;
    // Front matter starts on the README's second line; yaml-cpp counts from 0.
    if (!e.mark.is_null()) where = " at line " + std::to_string(e.mark.line + 2);
    return invalid_argument("model card front matter is not valid YAML" + where + ": " + e.msg);
  } catch (const nlohmann::json::exception&) {
    return invalid_argument("model card front matter is not valid UTF-8");
  }
  return card;
}

}  // namespace grove::formats
