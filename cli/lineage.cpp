// grove lineage REPO [--depth N] [--json]: the model tree in a terminal. Ancestors above (the
// farthest first), the model, then its descendants as a tree with counts per relation; large
// groups are collapsed to a count, as the hub's drawing does.
#include <algorithm>
#include <functional>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli.h"
#include "hub/http_util.h"

namespace grove::cli {
namespace {

using nlohmann::json;

std::string with_commas(std::uint64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<std::size_t>(i), ",");
  return s;
}

std::string plural(const std::string& relation, std::uint64_t n) {
  static const std::map<std::string, std::pair<std::string, std::string>> kWords = {
      {"finetune", {"fine-tune", "fine-tunes"}},
      {"adapter", {"adapter", "adapters"}},
      {"merge", {"merge", "merges"}},
      {"quantized", {"quantization", "quantizations"}}};
  auto it = kWords.find(relation);
  if (it == kWords.end()) return with_commas(n) + " " + relation;
  return with_commas(n) + " " + (n == 1 ? it->second.first : it->second.second);
}

std::string absent_note(const json& node) {
  return node.value("present", true) ? "" : "  (not on this hub)";
}

void print_tree(const json& answer) {
  const std::string self = answer["id"];
  const json& graph = answer["graph"];
  std::map<std::string, json> nodes;
  for (const auto& n : graph["nodes"]) nodes[n["id"].get<std::string>()] = n;

  // Ancestors: farthest first, each with the edge that leads down towards the model.
  std::vector<json> ancestors(answer["ancestors"].begin(), answer["ancestors"].end());
  std::stable_sort(ancestors.begin(), ancestors.end(),
                   [](const json& a, const json& b) { return a["depth"].get<int>() > b["depth"].get<int>(); });
  if (!ancestors.empty()) {
    std::cout << "Ancestors\n";
    for (const auto& a : ancestors) {
      std::cout << "  " << std::string(static_cast<std::size_t>(a["depth"].get<int>() - 1) * 2, ' ') << "↑ "
                << a["id"].get<std::string>() << absent_note(a) << "   (" << a["relation"].get<std::string>() << " of "
                << a["child"].get<std::string>() << ")\n";
    }
    std::cout << "\n";
  }

  const json& node = answer["node"];
  std::cout << "● " << self;
  if (node.contains("params")) std::cout << "  ·  " << with_commas(node["params"].get<std::uint64_t>()) << " parameters";
  std::cout << "  ·  " << with_commas(node.value("downloads", std::uint64_t{0})) << " downloads  ·  "
            << with_commas(answer["descendants"].get<std::uint64_t>()) << " descendants\n";
  for (const auto& e : answer["edges_in"]) {
    std::cout << "  from " << e["parent"].get<std::string>() << ": " << e["relation"].get<std::string>() << " ("
              << e["source"].get<std::string>();
    if (e.contains("similarity")) std::cout << ", similarity " << e["similarity"].get<double>();
    std::cout << ")";
    if (e.contains("conflict")) std::cout << "  ! " << e["conflict"].get<std::string>();
    std::cout << "\n";
  }

  // Children: the direct counts, then the drawn tree below the model.
  if (answer["children"].empty()) {
    std::cout << "\nNo children on this hub.\n";
    return;
  }
  std::cout << "\nChildren:";
  bool first = true;
  for (const char* relation : {"finetune", "adapter", "merge", "quantized"}) {
    if (!answer["children"].contains(relation)) continue;
    std::cout << (first ? " " : ", ") << plural(relation, answer["children"][relation]["count"].get<std::uint64_t>());
    first = false;
  }
  std::cout << "\n";

  std::map<std::string, std::vector<json>> below;  // parent -> edges to drawn children
  for (const auto& e : graph["edges"]) below[e["parent"].get<std::string>()].push_back(e);
  std::map<std::string, std::vector<json>> groups;  // parent -> group nodes
  for (const auto& n : graph["nodes"])
    if (n["kind"] == "group") groups[n["parent"].get<std::string>()].push_back(n);
  std::set<std::string> printed{self};
  std::function<void(const std::string&, const std::string&)> walk = [&](const std::string& parent,
                                                                         const std::string& indent) {
    std::vector<std::pair<std::string, json>> lines;  // text, child id (null for groups)
    for (const auto& e : below[parent]) {
      std::string child = e["child"];
      auto it = nodes.find(child);
      // Only edges down the drawing: to descendants and exports, not the ancestors' edges.
      if (it == nodes.end() || (!it->second.contains("relation") && it->second["kind"] == "model")) continue;
      std::string text = e["relation"].get<std::string>() + ": " + child;
      if (it->second["kind"] == "export") text = "export " + it->second["quant"].get<std::string>() + ": " + it->second["url"].get<std::string>();
      if (e["source"] != "declared" && e["source"] != "export") text += "  [" + e["source"].get<std::string>() + "]";
      if (e.contains("conflict")) text += "  ! " + e["conflict"].get<std::string>();
      lines.emplace_back(text, child);
    }
    for (const auto& g : groups[parent])
      lines.emplace_back(g["relation"].get<std::string>() + ": " + plural(g["relation"], g["count"]) + " (collapsed)",
                         json());
    for (std::size_t i = 0; i < lines.size(); ++i) {
      bool last = i + 1 == lines.size();
      std::cout << indent << (last ? "└─ " : "├─ ") << lines[i].first << "\n";
      if (lines[i].second.is_string()) {
        std::string child = lines[i].second;
        if (printed.insert(child).second) walk(child, indent + (last ? "   " : "│  "));
      }
    }
  };
  walk(self, "  ");
  if (graph.value("truncated", false)) std::cout << "  … (more than the drawing holds; use --depth or the web page)\n";
}

}  // namespace

int run_lineage(const ClientOptions& options, const LineageOptions& lineage) {
  auto ref = parse_repo_ref(lineage.repo, false);
  if (!ref.is_ok()) return fail(ref.status());
  if (lineage.depth < 0 || lineage.depth > 6) return fail(invalid_argument("--depth must be from 0 to 6"));
  auto client = make_client(options);
  if (!client.is_ok()) return fail(client.status());
  std::string target = "/api/grove/lineage/" + hub::url_encode(ref->ns) + "/" + hub::url_encode(ref->name) +
                       "?depth=" + std::to_string(lineage.depth);
  auto answer = (*client)->json_call("GET", target);
  if (!answer.is_ok()) return fail(answer.status().with_context("lineage of " + ref->id()));
  if (lineage.json) {
    std::cout << answer->dump(2) << "\n";
    return 0;
  }
  try {
    print_tree(*answer);
  } catch (const json::exception& e) {
    return fail(internal_error(std::string("malformed lineage answer: ") + e.what()));
  }
  return 0;
}

}  // namespace grove::cli
