// Lineage, read side: the Registry methods the API uses. Every query follows indexes from one
// node outwards and is bounded by the query's limits, so its cost does not grow with the number
// of repos or of descendants (counts come from the maintained aggregates).
#include <algorithm>
#include <deque>
#include <map>
#include <set>

#include "registry/lineage_impl.h"
#include "registry/registry_impl.h"

namespace grove::registry {
namespace {

constexpr int kMaxDepth = 6;
constexpr std::size_t kMaxLimit = 200;

struct NodeInfo {
  std::int64_t id = 0;
  LineageNode node;
  bool exists = false;    // a repo of this hub, visible or not
  bool visible = false;   // present for this viewer
};

// Node columns joined with their repo. Private repos of other namespaces show as names only.
// descendants here are the public ones: what anyone may see (a viewer's own private ones are
// added for the page's own node only, by visible_descendants).
constexpr const char* kNodeSelect =
    "SELECT n.id, n.name, n.public_descendants, r.id, r.ns, r.name, r.private, r.downloads, r.updated_at, "
    "r.pipeline_tag, r.library_name FROM lineage_nodes n LEFT JOIN repos r ON r.id = n.repo_id WHERE n.id = ?";

Result<NodeInfo> load_node(sql::Db& db, std::int64_t id, const std::optional<std::string>& viewer) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(kNodeSelect));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(id).step());
  if (!row) return internal_error("lineage node " + std::to_string(id) + " vanished");
  NodeInfo info;
  info.id = id;
  info.node.id = select.text(1);
  info.node.descendants = static_cast<std::uint64_t>(select.int64(2));
  info.exists = select.optional_text(3).has_value();
  if (info.exists) {
    std::string ns = select.text(4);
    bool is_private = select.int64(6) != 0;
    info.visible = !is_private || (viewer && *viewer == ns);
    if (info.visible) {
      info.node.id = ns + "/" + select.text(5);
      info.node.present = true;
      info.node.downloads = static_cast<std::uint64_t>(select.int64(7));
      info.node.last_modified = select.int64(8);
      info.node.pipeline_tag = select.optional_text(9);
      info.node.library_name = select.optional_text(10);
    }
  }
  return info;
}

// The node of a repo of this hub by "ns/name"; nullopt when it has no lineage yet. The repo's
// own row is returned through `repo` for the empty answer. kRepoNotFound when no such repo.
Result<std::optional<std::int64_t>> node_of(sql::Db& db, const std::string& id_string, Repo* repo) {
  auto slash = id_string.find('/');
  if (slash == std::string::npos) return Status(Code::kRepoNotFound, "Repository " + id_string + " not found");
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT r.id, n.id FROM repos r LEFT JOIN lineage_nodes n ON n.repo_id "
                                                 "= r.id WHERE r.ns = ? AND r.name = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(id_string.substr(0, slash), id_string.substr(slash + 1)).step());
  if (!row) return Status(Code::kRepoNotFound, "Repository " + id_string + " not found");
  std::int64_t repo_id = select.int64(0);
  std::optional<std::int64_t> node;
  if (select.optional_text(1)) node = select.int64(1);
  select.reset();
  if (repo) {
    GROVE_ASSIGN_OR_RETURN(*repo, load_repo_in(db, repo_id));
  }
  return node;
}

LineageNode node_of_repo_row(const Repo& repo) {
  LineageNode n;
  n.id = repo.id_string();
  n.present = true;
  n.downloads = repo.downloads;
  n.last_modified = repo.updated_at;
  n.pipeline_tag = repo.pipeline_tag;
  n.library_name = repo.library_name;
  return n;
}

using Link = LinkRow;

// The parent links of `child`, with the parents' names.
Result<std::vector<Link>> parent_links(sql::Db& db, std::int64_t child) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT l.parent, l.relation, l.source, l.similarity_ppm, l.conflict, "
                                                 "n.name FROM lineage_links l JOIN lineage_nodes n ON n.id = l.parent "
                                                 "WHERE l.child = ? ORDER BY l.parent"));
  select.bind_all(child);
  return read_link_rows(select, true);
}

// The links (one per pair, strongest source) of the node called `name`, by name: its parents'
// (`parents`) or its children's, sorted by the other end's name.
Result<std::vector<LineageEdge>> named_links(sql::Db& db, const std::string& name, bool parents) {
  std::string fixed = parents ? "c" : "p", other = parents ? "p" : "c";
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT c.name, p.name, l.relation, l.source FROM lineage_nodes c "
                                                 "JOIN lineage_links l ON l.child = c.id JOIN lineage_nodes p ON p.id "
                                                 "= l.parent WHERE " + fixed + ".name = ? ORDER BY " + other + ".name"));
  select.bind_all(name);
  std::vector<LineageEdge> edges;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return edges;
    edges.push_back({select.text(0), select.text(1), select.text(2), select.text(3)});
  }
}

// Children of `parent` per relation that the viewer may see: the maintained public count plus
// the viewer's own private children (found from the viewer's private repos, which are few
// next to the children of a popular base).
Result<std::map<std::string, std::uint64_t>> child_counts(sql::Db& db, std::int64_t parent,
                                                          const std::optional<std::string>& viewer) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT relation, public_count FROM lineage_child_counts WHERE "
                                                 "parent = ?"));
  select.bind_all(parent);
  std::map<std::string, std::uint64_t> counts;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) break;
    if (select.int64(1) > 0) counts[select.text(0)] = static_cast<std::uint64_t>(select.int64(1));
  }
  if (!viewer) return counts;
  // CROSS JOIN keeps SQLite to this order: from the viewer's private repos (repos_private_ns)
  // to their links, never through the parent's possibly many children.
  GROVE_ASSIGN_OR_RETURN(auto own, db.prepare("SELECT l.relation, count(*) FROM repos r CROSS JOIN lineage_nodes n "
                                              "ON n.repo_id = r.id CROSS JOIN lineage_links l ON l.child = n.id AND "
                                              "l.parent = ? WHERE r.ns = ? AND r.private = 1 GROUP BY l.relation"));
  own.bind_all(parent, *viewer);
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, own.step());
    if (!row) return counts;
    counts[own.text(0)] += static_cast<std::uint64_t>(own.int64(1));
  }
}

// Distinct descendants of `node` the viewer may see: the public ones (maintained) and the
// viewer's own private ones.
Result<std::uint64_t> visible_descendants(sql::Db& db, const NodeInfo& node, const std::optional<std::string>& viewer) {
  std::uint64_t n = node.node.descendants;
  if (!viewer) return n;
  GROVE_ASSIGN_OR_RETURN(auto own, db.prepare("SELECT count(*) FROM repos r CROSS JOIN lineage_nodes n ON n.repo_id = "
                                              "r.id CROSS JOIN lineage_closure c ON c.ancestor = ? AND c.descendant = "
                                              "n.id WHERE r.ns = ? AND r.private = 1"));
  GROVE_ASSIGN_OR_RETURN(bool row, own.bind_all(node.id, *viewer).step());
  if (row) n += static_cast<std::uint64_t>(own.int64(0));
  return n;
}

LineageEdgeInfo edge_info(const std::string& parent, const std::string& child, const Link& link) {
  LineageEdgeInfo e;
  e.parent = parent;
  e.child = child;
  e.relation = link.relation;
  e.source = link.source;
  if (link.similarity_ppm) e.similarity = static_cast<double>(*link.similarity_ppm) / 1e6;
  e.conflict = link.conflict;
  return e;
}

Result<bool> table_exists(sql::Db& db, const char* name) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"));
  return select.bind_all(std::string(name)).step();
}

struct VisibleChild {
  NodeInfo info;
  Link link;
};

// Children of `parent` (any relation when `relation` is empty) after node id `after`, in node
// id order, up to `limit`, skipping private ones the viewer may not see. `last` is the last id
// looked at; `exhausted` when there are no more.
Result<std::vector<VisibleChild>> visible_children(sql::Db& db, std::int64_t parent, const std::string& relation,
                                                   std::int64_t after, std::size_t limit,
                                                   const std::optional<std::string>& viewer, std::int64_t& last,
                                                   bool& exhausted) {
  std::vector<VisibleChild> out;
  last = after;
  exhausted = false;
  while (out.size() < limit) {
    std::size_t batch = limit - out.size() + 8;
    // One relation reads the primary key (parent, relation, child); any relation the
    // (parent, child) index.
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(relation.empty()
        ? "SELECT child, relation, source, similarity_ppm, conflict FROM lineage_links WHERE parent = ?1 AND "
          "child > ?3 ORDER BY child LIMIT ?4"
        : "SELECT child, relation, source, similarity_ppm, conflict FROM lineage_links WHERE parent = ?1 AND "
          "relation = ?2 AND child > ?3 ORDER BY child LIMIT ?4"));
    select.bind_all(parent, relation, last, static_cast<std::int64_t>(batch));
    GROVE_ASSIGN_OR_RETURN(auto links, read_link_rows(select));
    for (auto& link : links) {
      if (out.size() == limit) return out;
      last = link.other;
      GROVE_ASSIGN_OR_RETURN(NodeInfo info, load_node(db, link.other, viewer));
      if (info.visible) out.push_back({std::move(info), std::move(link)});
    }
    if (links.size() < batch) {
      exhausted = true;
      return out;
    }
  }
  return out;
}

}  // namespace

Result<LineageView> SqliteRegistry::lineage(const std::string& repo_id_string, const LineageQuery& query) {
  int depth = std::clamp(query.depth, 0, kMaxDepth);
  std::size_t limit = std::min(query.limit, kMaxLimit);
  return read([&](sql::Db& db) -> Result<LineageView> {
    LineageView view;
    Repo repo;
    GROVE_ASSIGN_OR_RETURN(auto self, node_of(db, repo_id_string, &repo));
    view.node = node_of_repo_row(repo);
    LineageGraphNode focus;
    focus.model = view.node;
    view.graph.nodes.push_back(focus);

    std::map<std::int64_t, std::string> drawn;  // node id -> graph id
    std::map<std::int64_t, NodeInfo> infos;
    auto info_of = [&](std::int64_t id) -> Result<NodeInfo> {
      if (auto it = infos.find(id); it != infos.end()) return it->second;
      GROVE_ASSIGN_OR_RETURN(NodeInfo info, load_node(db, id, query.viewer));
      infos.emplace(id, info);
      return info;
    };
    auto draw = [&](const NodeInfo& info, std::optional<std::string> relation) {
      LineageGraphNode n;
      n.model = info.node;
      n.relation = std::move(relation);
      view.graph.nodes.push_back(std::move(n));
      drawn[info.id] = info.node.id;
    };

    if (self) {
      drawn[*self] = view.node.id;
      GROVE_ASSIGN_OR_RETURN(NodeInfo me, info_of(*self));
      GROVE_ASSIGN_OR_RETURN(view.descendants, visible_descendants(db, me, query.viewer));
      view.node.descendants = view.descendants;
      view.graph.nodes[0].model.descendants = view.descendants;

      // Ancestors: breadth first up the links, each once; all of them are drawn. A repo the
      // viewer may not see is a bare name, as if not on this hub: its own parents stay hidden.
      std::deque<std::pair<std::int64_t, int>> queue{{*self, 0}};
      std::set<std::int64_t> seen{*self};
      while (!queue.empty()) {
        auto [n, d] = queue.front();
        queue.pop_front();
        GROVE_ASSIGN_OR_RETURN(auto parents, parent_links(db, n));
        for (const auto& link : parents) {
          GROVE_ASSIGN_OR_RETURN(NodeInfo p, info_of(link.other));
          view.graph.edges.push_back(edge_info(p.node.id, drawn[n], link));
          if (!seen.insert(link.other).second) continue;
          view.ancestors.push_back({p.node, d + 1, link.relation, drawn[n]});
          draw(p, std::nullopt);
          if (p.visible) queue.emplace_back(link.other, d + 1);
        }
      }

      // Direct children by relation: maintained counts and the first few.
      GROVE_ASSIGN_OR_RETURN(auto counts, child_counts(db, *self, query.viewer));
      for (const char* relation : kLineageRelations) {
        auto it = counts.find(relation);
        if (it == counts.end() || it->second == 0) continue;
        LineageChildGroup group;
        group.relation = relation;
        group.count = it->second;
        std::int64_t last = 0;
        bool exhausted = false;
        GROVE_ASSIGN_OR_RETURN(auto first, visible_children(db, *self, relation, 0, query.first, query.viewer, last,
                                                            exhausted));
        for (auto& c : first) group.first.push_back(std::move(c.info.node));
        view.children.push_back(std::move(group));
      }

      // Descendants to `depth`, breadth first. Per parent at most `limit` children are drawn;
      // a relation that does not fit in what is left becomes one group node with its count.
      std::vector<std::int64_t> frontier{*self};
      std::vector<std::int64_t> descendants_drawn;
      for (int level = 1; level <= depth && !frontier.empty() && !view.graph.truncated; ++level) {
        std::vector<std::int64_t> next;
        for (std::int64_t parent : frontier) {
          GROVE_ASSIGN_OR_RETURN(auto pcounts, child_counts(db, parent, query.viewer));
          std::size_t budget = limit;
          for (const char* relation : kLineageRelations) {
            auto it = pcounts.find(relation);
            if (it == pcounts.end() || it->second == 0) continue;
            if (it->second > budget || view.graph.nodes.size() + it->second > query.max_nodes) {
              if (it->second <= budget) view.graph.truncated = true;
              LineageGraphNode g;
              g.kind = LineageGraphNode::Kind::kGroup;
              g.parent = drawn[parent];
              g.relation = relation;
              g.count = it->second;
              view.graph.nodes.push_back(std::move(g));
              continue;
            }
            budget -= it->second;
            std::int64_t last = 0;
            bool exhausted = false;
            GROVE_ASSIGN_OR_RETURN(auto children, visible_children(db, parent, relation, 0, it->second, query.viewer,
                                                                   last, exhausted));
            for (const auto& [c, link] : children) {
              infos.emplace(c.id, c);
              if (!drawn.count(c.id)) {
                draw(c, link.relation);
                next.push_back(c.id);
                descendants_drawn.push_back(c.id);
              }
              view.graph.edges.push_back(edge_info(drawn[parent], c.node.id, link));
            }
          }
        }
        frontier = std::move(next);
      }
      // Merges: a drawn descendant's other parents are drawn too (without their own trees).
      for (std::int64_t child : descendants_drawn) {
        GROVE_ASSIGN_OR_RETURN(auto parents, parent_links(db, child));
        if (parents.size() < 2) continue;
        for (const auto& link : parents) {
          bool edge_drawn = false;
          if (drawn.count(link.other)) {
            for (const auto& e : view.graph.edges)
              if (e.child == drawn[child] && e.parent == drawn[link.other]) edge_drawn = true;
          }
          if (edge_drawn) continue;
          GROVE_ASSIGN_OR_RETURN(NodeInfo p, info_of(link.other));
          if (!drawn.count(p.id)) draw(p, std::nullopt);
          view.graph.edges.push_back(edge_info(p.node.id, drawn[child], link));
        }
      }

      // Every parent edge of the node, all sources, contradictions included.
      GROVE_ASSIGN_OR_RETURN(auto edges, db.prepare("SELECT n.name, e.relation, e.source, e.relation_inferred, "
                                                    "e.similarity_ppm, e.conflict, e.parent_revision, n.id FROM "
                                                    "lineage_edges e JOIN lineage_nodes n ON n.id = e.parent WHERE "
                                                    "e.child = ? ORDER BY n.name, e.source"));
      edges.bind_all(*self);
      for (;;) {
        GROVE_ASSIGN_OR_RETURN(bool row, edges.step());
        if (!row) break;
        LineageEdgeInfo e;
        auto it = drawn.find(edges.int64(7));
        e.parent = it != drawn.end() ? it->second : edges.text(0);
        e.child = view.node.id;
        e.relation = edges.text(1);
        e.source = edges.text(2);
        e.relation_inferred = edges.int64(3) != 0;
        if (edges.optional_text(4)) e.similarity = static_cast<double>(edges.int64(4)) / 1e6;
        e.conflict = edges.optional_text(5);
        e.parent_revision = edges.optional_text(6);
        view.edges_in.push_back(std::move(e));
      }
    }

    // GGUF exports of this repo (registry/exports.cpp's table): the newest export per quant.
    GROVE_ASSIGN_OR_RETURN(bool have_exports, table_exists(db, "exports"));
    if (have_exports) {
      GROVE_ASSIGN_OR_RETURN(auto exports, db.prepare("SELECT quant, commit_id, max(created_at) FROM exports WHERE "
                                                      "repo_id = ? GROUP BY quant ORDER BY quant LIMIT 64"));
      exports.bind_all(repo.id);
      for (;;) {
        GROVE_ASSIGN_OR_RETURN(bool row, exports.step());
        if (!row) break;
        LineageGraphNode x;
        x.kind = LineageGraphNode::Kind::kExport;
        x.parent = view.node.id;
        x.quant = exports.text(0);
        x.commit = exports.text(1);
        view.graph.nodes.push_back(x);
        LineageEdgeInfo e;
        e.parent = view.node.id;
        e.child = "export:" + view.node.id + ":" + x.quant;
        e.relation = "quantized";
        e.source = "export";
        view.graph.edges.push_back(std::move(e));
      }
    }
    return view;
  });
}

Result<LineageChildrenPage> SqliteRegistry::lineage_children(const std::string& repo_id_string,
                                                             const std::optional<std::string>& relation,
                                                             std::size_t limit, const std::string& cursor,
                                                             const std::optional<std::string>& viewer) {
  if (relation && !is_lineage_relation(*relation))
    return invalid_argument("unknown relation '" + *relation + "': use finetune, adapter, merge or quantized");
  std::int64_t after = 0;
  if (!cursor.empty()) {
    try {
      std::size_t used = 0;
      after = std::stoll(cursor, &used);
      if (used != cursor.size() || after < 0) throw std::invalid_argument("cursor");
    } catch (const std::exception&) {
      return invalid_argument("malformed cursor '" + cursor + "'");
    }
  }
  limit = std::clamp<std::size_t>(limit, 1, 1000);
  return read([&](sql::Db& db) -> Result<LineageChildrenPage> {
    LineageChildrenPage page;
    GROVE_ASSIGN_OR_RETURN(auto self, node_of(db, repo_id_string, nullptr));
    if (!self) return page;
    std::int64_t last = 0;
    bool exhausted = false;
    GROVE_ASSIGN_OR_RETURN(auto children, visible_children(db, *self, relation.value_or(""), after, limit, viewer,
                                                           last, exhausted));
    for (auto& c : children) page.items.push_back({std::move(c.info.node), std::move(c.link.relation)});
    if (!exhausted && page.items.size() == limit) page.next_cursor = std::to_string(last);
    return page;
  });
}

Result<LineageCounts> SqliteRegistry::lineage_counts(const std::string& repo_id_string,
                                                     const std::optional<std::string>& viewer) {
  return read([&](sql::Db& db) -> Result<LineageCounts> {
    LineageCounts counts;
    GROVE_ASSIGN_OR_RETURN(auto self, node_of(db, repo_id_string, nullptr));
    if (!self) return counts;
    GROVE_ASSIGN_OR_RETURN(auto by_relation, child_counts(db, *self, viewer));
    for (const char* relation : kLineageRelations)
      if (auto it = by_relation.find(relation); it != by_relation.end() && it->second) counts.children.emplace_back(relation, it->second);
    GROVE_ASSIGN_OR_RETURN(NodeInfo me, load_node(db, *self, viewer));
    GROVE_ASSIGN_OR_RETURN(counts.descendants, visible_descendants(db, me, viewer));
    GROVE_ASSIGN_OR_RETURN(auto parents, parent_links(db, *self));
    for (const auto& link : parents) counts.parents.emplace_back(link.name, link.relation);
    return counts;
  });
}

Status SqliteRegistry::record_detected_edge(const std::string& child, const std::string& parent, double similarity,
                                            const std::string& relation) {
  return write([&](sql::Db& db) {
    return lineage_put_edge_in(db, child, parent, "detected", relation, similarity);
  });
}

// The edges of the graph (one per pair, strongest source), by name.
Result<std::vector<LineageEdge>> SqliteRegistry::parents_of(const std::string& repo_id_string) {
  return read([&](sql::Db& db) { return named_links(db, repo_id_string, true); });
}

Result<std::vector<LineageEdge>> SqliteRegistry::children_of(const std::string& repo_id_string) {
  return read([&](sql::Db& db) { return named_links(db, repo_id_string, false); });
}

}  // namespace grove::registry
