// Lineage over HTTP: GET /api/grove/lineage/{ns}/{name}[/children] (the contract in
// ../notes/lineage_contract.md, summarised in hub/README.md), the lineage fields of model info,
// and the lineage facts a commit carries (`grove push --base`, config files).
#include <algorithm>
#include <cmath>

#include "common/log.h"
#include "hub/access.h"
#include "hub/handlers.h"
#include "hub/protocol.h"

namespace grove::hub {

using nlohmann::json;

namespace {

constexpr int kDefaultDepth = 2;
constexpr int kMaxDepth = 6;
constexpr std::size_t kDefaultLimit = 24;
constexpr std::size_t kMaxLimit = 200;
constexpr std::size_t kDefaultPage = 50;
constexpr std::size_t kMaxPage = 1000;

std::optional<std::string> viewer_of(const Request& request) {
  if (request.caller) return request.caller->user.name;
  return std::nullopt;
}

json node_json(const registry::LineageNode& node) {
  json j = {{"id", node.id}, {"present", node.present}};
  if (!node.present) return j;
  j["downloads"] = node.downloads;
  j["likes"] = 0;
  j["lastModified"] = iso8601_ms(node.last_modified);
  j["pipeline_tag"] = node.pipeline_tag ? json(*node.pipeline_tag) : json();
  j["library_name"] = node.library_name ? json(*node.library_name) : json();
  return j;
}

json child_json(const registry::LineageNode& node) {
  return {{"id", node.id},
          {"downloads", node.downloads},
          {"likes", 0},
          {"lastModified", iso8601_ms(node.last_modified)}};
}

json edge_json(const registry::LineageEdgeInfo& e, bool with_child) {
  json j;
  j["parent"] = e.parent;
  if (with_child) j["child"] = e.child;
  j["relation"] = e.relation;
  j["source"] = e.source;
  if (e.similarity) j["similarity"] = std::round(*e.similarity * 1e4) / 1e4;
  if (e.conflict) j["conflict"] = *e.conflict;
  if (e.relation_inferred) j["relationInferred"] = true;
  if (e.parent_revision) j["parentRevision"] = *e.parent_revision;
  return j;
}

std::string export_url(const Hub& hub, const std::string& repo_id, const std::string& commit, const std::string& quant) {
  return hub.options().public_url + "/api/grove/export/" + repo_id + "/" + commit + "/" + quant + ".gguf";
}

Result<int> parse_depth(const Request& request) {
  auto v = request.path.param("depth");
  if (!v) return kDefaultDepth;
  if (v->empty() || v->size() > 3 || v->find_first_not_of("0123456789") != std::string::npos)
    return invalid_argument("depth must be an integer from 0 to " + std::to_string(kMaxDepth) + ", got '" + *v + "'");
  return std::min(std::stoi(*v), kMaxDepth);
}

}  // namespace

Result<Response> handle_lineage(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  registry::LineageQuery query;
  GROVE_ASSIGN_OR_RETURN(query.depth, parse_depth(request));
  GROVE_ASSIGN_OR_RETURN(query.limit, parse_limit(request, kDefaultLimit, kMaxLimit));
  query.viewer = viewer_of(request);
  GROVE_ASSIGN_OR_RETURN(auto view, hub.registry().lineage(repo.id_string(), query));

  json node = node_json(view.node);
  // The parameter count, when the head's safetensors headers tell it (cached per commit).
  if (auto head = hub.registry().resolve_revision(repo.id, "HEAD"); head.is_ok()) {
    if (auto files = hub.registry().list_files(repo.id, *head); files.is_ok()) {
      auto facts = hub.model_facts().get(hub.store(), *head, *files);
      if (facts.is_ok() && facts->contains("safetensors") && (*facts)["safetensors"].contains("total"))
        node["params"] = (*facts)["safetensors"]["total"];
    }
  }

  json ancestors = json::array();
  for (const auto& a : view.ancestors) {
    json j = {{"id", a.node.id}, {"present", a.node.present}, {"depth", a.depth}, {"relation", a.relation},
              {"child", a.child}};
    ancestors.push_back(std::move(j));
  }
  json children = json::object();
  for (const auto& g : view.children) {
    json first = json::array();
    for (const auto& c : g.first) first.push_back(child_json(c));
    children[g.relation] = {{"count", g.count}, {"first", std::move(first)}};
  }
  json nodes = json::array();
  for (const auto& n : view.graph.nodes) {
    using Kind = registry::LineageGraphNode::Kind;
    if (n.kind == Kind::kGroup) {
      nodes.push_back({{"id", "group:" + n.parent + ":" + n.relation.value_or("")},
                       {"kind", "group"},
                       {"present", true},
                       {"parent", n.parent},
                       {"relation", n.relation.value_or("")},
                       {"count", n.count}});
    } else if (n.kind == Kind::kExport) {
      nodes.push_back({{"id", "export:" + n.parent + ":" + n.quant},
                       {"kind", "export"},
                       {"present", true},
                       {"relation", "quantized"},
                       {"quant", n.quant},
                       {"url", export_url(hub, n.parent, n.commit, n.quant)}});
    } else {
      json j = {{"id", n.model.id}, {"kind", "model"}, {"present", n.model.present}};
      if (n.relation) j["relation"] = *n.relation;
      if (n.model.present) j["downloads"] = n.model.downloads;
      nodes.push_back(std::move(j));
    }
  }
  json edges = json::array();
  for (const auto& e : view.graph.edges) edges.push_back(edge_json(e, true));
  json edges_in = json::array();
  for (const auto& e : view.edges_in) edges_in.push_back(edge_json(e, false));

  return Response::json({{"id", view.node.id},
                         {"node", std::move(node)},
                         {"ancestors", std::move(ancestors)},
                         {"children", std::move(children)},
                         {"descendants", view.descendants},
                         {"graph", {{"nodes", std::move(nodes)}, {"edges", std::move(edges)}, {"truncated", view.graph.truncated}}},
                         {"edges_in", std::move(edges_in)}});
}

Result<Response> handle_lineage_children(Hub& hub, Request& request, const RouteParams& params) {
  GROVE_ASSIGN_OR_RETURN(auto repo, find_readable_repo(hub, request, params["ns"], params["name"]));
  std::optional<std::string> relation = request.path.param("relation");
  if (relation && relation->empty()) relation.reset();
  GROVE_ASSIGN_OR_RETURN(std::size_t limit, parse_limit(request, kDefaultPage, kMaxPage));
  GROVE_ASSIGN_OR_RETURN(std::size_t after, parse_cursor(request));
  GROVE_ASSIGN_OR_RETURN(auto page, hub.registry().lineage_children(repo.id_string(), relation, limit,
                                                                    after ? std::to_string(after) : "",
                                                                    viewer_of(request)));
  json items = json::array();
  for (const auto& c : page.items) {
    json j = child_json(c.node);
    j["relation"] = c.relation;
    items.push_back(std::move(j));
  }
  json next;
  std::string link;
  if (page.next_cursor) {
    link = next_link(hub, request, static_cast<std::size_t>(std::stoull(*page.next_cursor)));
    next = link.substr(1, link.find('>') - 1);
  }
  Response r = Response::json({{"items", std::move(items)}, {"next", next}});
  if (!link.empty()) r.headers.set(http::field::link, link);
  return r;
}

void add_lineage_info(Hub& hub, const Request& request, const registry::Repo& repo,
                      const std::vector<std::string>& expand, json& info) {
  auto wants = [&](const char* key) {
    return expand.empty() || std::find(expand.begin(), expand.end(), key) != expand.end();
  };
  if (!wants("baseModels") && !wants("childrenModelCount")) return;
  auto counts = hub.registry().lineage_counts(repo.id_string(), viewer_of(request));
  if (!counts.is_ok()) {
    GROVE_LOG(kWarn, "lineage of " << repo.id_string() << ": " << counts.status().to_string());
    return;
  }
  std::uint64_t children = 0;
  for (const auto& [relation, n] : counts->children) children += n;
  info["childrenModelCount"] = children;
  if (!counts->parents.empty()) {
    // One relation for the set, as the Hub shows it: the first parent's (a merge's are all merge).
    json models = json::array();
    for (const auto& [parent, relation] : counts->parents) models.push_back({{"id", parent}});
    info["baseModels"] = {{"relation", counts->parents.front().second}, {"models", std::move(models)}};
  }
}

void add_lineage_commit_facts(const std::string& path, std::string_view content, registry::CommitRequest& commit) {
  if (path != "config.json" && path != "adapter_config.json") return;
  json parsed = json::parse(content, nullptr, false);
  if (path == "config.json") {
    commit.config_quantized = parsed.is_object() && parsed.contains("quantization_config");
    return;
  }
  std::string base;
  if (parsed.is_object() && parsed.contains("base_model_name_or_path") && parsed["base_model_name_or_path"].is_string())
    base = parsed["base_model_name_or_path"].get<std::string>();
  commit.adapter_base = base;
}

}  // namespace grove::hub
