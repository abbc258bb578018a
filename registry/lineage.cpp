// Lineage, write side: edges, the effective links derived from them, the closure table and the
// maintained counts. Every function runs inside the caller's write transaction.
//
// Tables (migrations 4 and 6 in schema.cpp):
//   lineage_nodes        one per name in the graph; repo_id NULL while no repo has the name
//   lineage_edges        every claim: (child, parent, source) with relation, similarity, conflict
//   lineage_links        the graph: one row per (child, parent) pair, from its strongest edge
//   lineage_closure      (ancestor, descendant, paths): number of distinct paths between them
//   lineage_child_counts children per (parent, relation); public_count: those that are public
//   lineage_nodes.descendants  distinct descendants = closure rows with that ancestor;
//                        public_descendants: those that are public repos
// Private repos are counted apart so that counts never reveal them: a repo that turns private
// or public moves between the two through the trigger of migration 6 (repos.private changes
// outside this file), and the read side adds a viewer's own private repos (lineage_query.cpp).
#include <algorithm>
#include <array>
#include <cstdio>
#include <cctype>
#include <map>
#include <set>

#include "registry/lineage_impl.h"
#include "registry/registry_impl.h"

namespace grove::registry {
namespace {

constexpr const char* kSources[] = {"declared", "flag", "inferred", "detected"};

int source_rank(const std::string& source) {
  for (int i = 0; i < 4; ++i)
    if (source == kSources[i]) return i;
  return 4;
}

bool ends_with_nocase(std::string_view s, std::string_view suffix) {
  if (s.size() < suffix.size()) return false;
  for (std::size_t i = 0; i < suffix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) return false;
  return true;
}

// A name a card may use for a parent: non-empty, printable, no spaces, not a local path.
bool is_plausible_model_name(std::string_view name) {
  if (name.empty() || name.size() > 200 || name.front() == '.' || name.front() == '/') return false;
  for (unsigned char c : name)
    if (c <= ' ' || c == 0x7f) return false;
  return true;
}

std::string similarity_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", s);
  return buf;
}

struct NodeRow {
  std::int64_t id = 0;
  std::string name;
  std::optional<std::int64_t> repo_id;
};

Result<std::optional<NodeRow>> node_by_name(sql::Db& db, const std::string& name) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT id, name, repo_id FROM lineage_nodes WHERE name = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(name).step());
  if (!row) return std::optional<NodeRow>();
  NodeRow n{select.int64(0), select.text(1), std::nullopt};
  if (select.optional_text(2)) n.repo_id = select.int64(2);
  return std::optional<NodeRow>(n);
}

Result<std::string> node_name(sql::Db& db, std::int64_t node) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT name FROM lineage_nodes WHERE id = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(node).step());
  if (!row) return internal_error("lineage node " + std::to_string(node) + " vanished");
  return select.text(0);
}

// The node for `name`, created when missing: attached to the repo of that name if there is one
// (spelled as the repo is), else a name not on this hub.
Result<std::int64_t> ensure_node(sql::Db& db, const std::string& name) {
  GROVE_ASSIGN_OR_RETURN(auto existing, node_by_name(db, name));
  if (existing) return existing->id;
  std::optional<std::int64_t> repo_id;
  std::string spelled = name;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    GROVE_ASSIGN_OR_RETURN(auto repo, db.prepare("SELECT id, ns, name FROM repos WHERE ns = ? AND name = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, repo.bind_all(name.substr(0, slash), name.substr(slash + 1)).step());
    if (row) {
      repo_id = repo.int64(0);
      spelled = repo.text(1) + "/" + repo.text(2);
    }
  }
  GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT INTO lineage_nodes(name, repo_id) VALUES (?, ?) RETURNING id"));
  if (repo_id)
    insert.bind_all(spelled, *repo_id);
  else
    insert.bind_all(spelled, nullptr);
  GROVE_ASSIGN_OR_RETURN(bool row, insert.step());
  if (!row) return internal_error("INSERT ... RETURNING gave no row");
  return insert.int64(0);
}

Result<std::optional<std::int64_t>> node_of_repo(sql::Db& db, std::int64_t repo_id) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT id FROM lineage_nodes WHERE repo_id = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(repo_id).step());
  if (!row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(select.int64(0));
}

Result<std::int64_t> ensure_repo_node(sql::Db& db, const Repo& repo) {
  GROVE_ASSIGN_OR_RETURN(auto node, node_of_repo(db, repo.id));
  if (node) return *node;
  return ensure_node(db, repo.id_string());
}

// A repo of this hub that is not private: what the public sees (public_count, public_descendants).
Result<bool> is_public_node(sql::Db& db, std::int64_t node) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM lineage_nodes n JOIN repos r ON r.id = n.repo_id "
                                                 "WHERE n.id = ? AND r.private = 0"));
  return select.bind_all(node).step();
}

Result<bool> is_ancestor(sql::Db& db, std::int64_t ancestor, std::int64_t descendant) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT 1 FROM lineage_closure WHERE ancestor = ? AND descendant = ?"));
  return select.bind_all(ancestor, descendant).step();
}

// Adds (sign +1) or removes (sign -1) the paths that the link child -> parent contributes:
// every ancestor `a` of parent (and parent) reaches every descendant `d` of child (and child)
// through it paths(a, parent) * paths(child, d) more or fewer ways. A pair whose count becomes
// non-zero (zero) gains (loses) a descendant, and a public one when `d` is a public repo. Neither
// side's own paths change, because the graph stays acyclic, so both lists are read first.
Status closure_link(sql::Db& db, std::int64_t child, std::int64_t parent, int sign) {
  struct Down {
    std::int64_t node, paths;
    bool is_public;
  };
  GROVE_ASSIGN_OR_RETURN(bool child_public, is_public_node(db, child));
  std::vector<std::pair<std::int64_t, std::int64_t>> up{{parent, 1}};
  std::vector<Down> down{{child, 1, child_public}};
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT ancestor, paths FROM lineage_closure WHERE descendant = ?"));
    select.bind_all(parent);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      up.emplace_back(select.int64(0), select.int64(1));
    }
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT c.descendant, c.paths, coalesce(r.private = 0, 0) FROM lineage_closure c "
                                                   "JOIN lineage_nodes n ON n.id = c.descendant LEFT JOIN repos r ON "
                                                   "r.id = n.repo_id WHERE c.ancestor = ?"));
    select.bind_all(child);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      down.push_back({select.int64(0), select.int64(1), select.int64(2) != 0});
    }
  }
  GROVE_ASSIGN_OR_RETURN(auto add, db.prepare("INSERT INTO lineage_closure(ancestor, descendant, paths) VALUES (?, ?, ?) "
                                              "ON CONFLICT(ancestor, descendant) DO UPDATE SET paths = paths + "
                                              "excluded.paths RETURNING paths"));
  GROVE_ASSIGN_OR_RETURN(auto sub, db.prepare("UPDATE lineage_closure SET paths = paths - ? WHERE ancestor = ? AND "
                                              "descendant = ? RETURNING paths"));
  GROVE_ASSIGN_OR_RETURN(auto drop, db.prepare("DELETE FROM lineage_closure WHERE ancestor = ? AND descendant = ?"));
  GROVE_ASSIGN_OR_RETURN(auto bump, db.prepare("UPDATE lineage_nodes SET descendants = descendants + ?, "
                                               "public_descendants = public_descendants + ? WHERE id = ?"));
  for (const auto& [a, pa] : up) {
    std::int64_t changed = 0, changed_public = 0;
    for (const auto& [d, pd, d_public] : down) {
      std::int64_t amount = pa * pd;
      if (sign > 0) {
        add.reset();
        GROVE_ASSIGN_OR_RETURN(bool row, add.bind_all(a, d, amount).step());
        if (row && add.int64(0) == amount) {
          ++changed;
          if (d_public) ++changed_public;
        }
      } else {
        sub.reset();
        GROVE_ASSIGN_OR_RETURN(bool row, sub.bind_all(amount, a, d).step());
        if (!row) return corrupt("lineage closure lacks a path it should have");
        std::int64_t left = sub.int64(0);
        sub.reset();
        if (left < 0) return corrupt("lineage closure path count went negative");
        if (left == 0) {
          drop.reset();
          GROVE_RETURN_IF_ERROR(drop.bind_all(a, d).run());
          ++changed;
          if (d_public) ++changed_public;
        }
      }
    }
    if (changed != 0) {
      bump.reset();
      GROVE_RETURN_IF_ERROR(bump.bind_all(sign * changed, sign * changed_public, a).run());
    }
  }
  return Status::ok();
}

// `child` joins (delta +1) or leaves (-1) the children of `parent` with `relation`.
Status bump_child_count(sql::Db& db, std::int64_t parent, const std::string& relation, std::int64_t child,
                        std::int64_t delta) {
  GROVE_ASSIGN_OR_RETURN(bool child_public, is_public_node(db, child));
  GROVE_ASSIGN_OR_RETURN(auto upsert, db.prepare("INSERT INTO lineage_child_counts(parent, relation, count, "
                                                 "public_count) VALUES (?, ?, ?, ?) ON CONFLICT(parent, relation) "
                                                 "DO UPDATE SET count = count + excluded.count, public_count = "
                                                 "public_count + excluded.public_count"));
  GROVE_RETURN_IF_ERROR(upsert.bind_all(parent, relation, delta, child_public ? delta : 0).run());
  GROVE_ASSIGN_OR_RETURN(auto prune, db.prepare("DELETE FROM lineage_child_counts WHERE parent = ? AND relation = ? "
                                                "AND count = 0"));
  return prune.bind_all(parent, relation).run();
}

// An edge of a child: `other` is its parent, `name` the parent's name.
using EdgeRow = LinkRow;

Result<std::vector<EdgeRow>> edges_of_child(sql::Db& db, std::int64_t child) {
  GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT e.parent, e.relation, e.source, e.similarity_ppm, "
                                                 "e.conflict, n.name FROM lineage_edges e JOIN lineage_nodes n ON "
                                                 "n.id = e.parent WHERE e.child = ?"));
  select.bind_all(child);
  GROVE_ASSIGN_OR_RETURN(std::vector<EdgeRow> rows, read_link_rows(select, true));
  std::stable_sort(rows.begin(), rows.end(), [](const EdgeRow& a, const EdgeRow& b) {
    return source_rank(a.source) < source_rank(b.source);
  });
  return rows;
}

// A detection that disagrees with what the uploader claimed (card, flag, adapter config) is
// kept, and both sides say so.
Status recompute_conflicts(sql::Db& db, std::int64_t child) {
  GROVE_ASSIGN_OR_RETURN(auto edges, edges_of_child(db, child));
  std::vector<const EdgeRow*> claims;
  for (const auto& e : edges)
    if (e.source != "detected") claims.push_back(&e);
  std::map<const EdgeRow*, std::string> conflicts;
  for (const auto& e : edges) {
    if (e.source != "detected" || claims.empty()) continue;
    std::string detected = "detected as " + e.relation;
    const EdgeRow* same = nullptr;
    for (const EdgeRow* c : claims)
      if (c->other == e.other) same = c;
    std::string sim = e.similarity_ppm ? " (similarity " + similarity_text(*e.similarity_ppm / 1e6) + ")" : "";
    if (same) {
      if (same->relation == e.relation) continue;
      std::string text = same->source + " " + same->relation + " of " + same->name + ", " + detected + sim;
      conflicts[&e] = text;
      conflicts.emplace(same, text);
    } else {
      const EdgeRow* first = claims.front();
      std::string text = first->source + " " + first->relation + " of " + first->name + ", " + detected +
                         " of " + e.name + sim;
      conflicts[&e] = text;
      for (const EdgeRow* c : claims) conflicts.emplace(c, text);
    }
  }
  GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE lineage_edges SET conflict = ? WHERE child = ? AND parent = ? "
                                                 "AND source = ?"));
  for (const auto& e : edges) {
    auto it = conflicts.find(&e);
    std::optional<std::string> want = it == conflicts.end() ? std::nullopt : std::optional<std::string>(it->second);
    if (want == e.conflict) continue;
    update.reset();
    GROVE_RETURN_IF_ERROR(update.bind_all(want, child, e.other, e.source).run());
  }
  return Status::ok();
}

// Brings the link of one (child, parent) pair in line with its edges: created, re-related or
// removed, with the closure and the counts.
Status sync_pair(sql::Db& db, std::int64_t child, std::int64_t parent, const std::vector<EdgeRow>& edges) {
  const EdgeRow* best = nullptr;
  std::optional<std::int64_t> similarity;
  std::optional<std::string> conflict;
  for (const auto& e : edges) {
    if (e.other != parent) continue;
    if (!best) best = &e;  // edges are sorted strongest first
    if (e.similarity_ppm && (!similarity || *e.similarity_ppm > *similarity)) similarity = e.similarity_ppm;
    if (!conflict && e.conflict) conflict = e.conflict;
  }
  std::optional<std::string> current;
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT relation FROM lineage_links WHERE child = ? AND parent = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.bind_all(child, parent).step());
    if (row) current = select.text(0);
  }
  if (!best) {
    if (!current) return Status::ok();
    GROVE_RETURN_IF_ERROR(closure_link(db, child, parent, -1));
    GROVE_RETURN_IF_ERROR(bump_child_count(db, parent, *current, child, -1));
    GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM lineage_links WHERE child = ? AND parent = ?"));
    return remove.bind_all(child, parent).run();
  }
  if (!current) {
    GROVE_ASSIGN_OR_RETURN(bool cycle, is_ancestor(db, child, parent));
    if (cycle || child == parent) {
      GROVE_ASSIGN_OR_RETURN(std::string c, node_name(db, child));
      GROVE_ASSIGN_OR_RETURN(std::string p, node_name(db, parent));
      return invalid_argument("lineage cycle refused: " + c + " cannot derive from " + p + ", which already derives from " + c);
    }
    GROVE_RETURN_IF_ERROR(closure_link(db, child, parent, +1));
    GROVE_RETURN_IF_ERROR(bump_child_count(db, parent, best->relation, child, +1));
  } else if (*current != best->relation) {
    GROVE_RETURN_IF_ERROR(bump_child_count(db, parent, *current, child, -1));
    GROVE_RETURN_IF_ERROR(bump_child_count(db, parent, best->relation, child, +1));
  }
  GROVE_ASSIGN_OR_RETURN(auto put, db.prepare("INSERT OR REPLACE INTO lineage_links(parent, relation, child, source, "
                                              "similarity_ppm, conflict) VALUES (?, ?, ?, ?, ?, ?)"));
  if (current && *current != best->relation) {
    GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM lineage_links WHERE child = ? AND parent = ?"));
    GROVE_RETURN_IF_ERROR(remove.bind_all(child, parent).run());
  }
  put.bind_all(parent, best->relation, child, best->source);
  if (similarity)
    put.bind(5, *similarity);
  else
    put.bind(5, nullptr);
  put.bind(6, conflict);
  return put.run();
}

// The repo's base_model:X and base_model:<relation>:X tags follow its links (every source), so
// `filter=base_model:...` in list models matches the graph. Other tags keep their order.
Status sync_tags(sql::Db& db, std::int64_t child) {
  GROVE_ASSIGN_OR_RETURN(auto owner, db.prepare("SELECT n.repo_id, r.tags FROM lineage_nodes n JOIN repos r ON r.id = "
                                                "n.repo_id WHERE n.id = ?"));
  GROVE_ASSIGN_OR_RETURN(bool row, owner.bind_all(child).step());
  if (!row) return Status::ok();
  std::int64_t repo_id = owner.int64(0);
  std::vector<std::string> tags;
  try {
    for (const auto& tag : nlohmann::json::parse(owner.text(1))) {
      std::string t = tag.get<std::string>();
      if (!t.starts_with("base_model:")) tags.push_back(std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    return corrupt("repo " + std::to_string(repo_id) + " has unreadable tags: " + e.what());
  }
  std::vector<std::string> lineage_tags;
  {
    GROVE_ASSIGN_OR_RETURN(auto links, db.prepare("SELECT n.name, l.relation FROM lineage_links l JOIN lineage_nodes n "
                                                  "ON n.id = l.parent WHERE l.child = ? ORDER BY n.name"));
    links.bind_all(child);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, links.step());
      if (!more) break;
      lineage_tags.push_back("base_model:" + links.text(0));
      lineage_tags.push_back("base_model:" + links.text(1) + ":" + links.text(0));
    }
  }
  tags.insert(tags.end(), lineage_tags.begin(), lineage_tags.end());
  std::string json;
  try {
    json = nlohmann::json(tags).dump();
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(std::string("lineage tag is not valid UTF-8: ") + e.what());
  }
  GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE repos SET tags = ? WHERE id = ?"));
  GROVE_RETURN_IF_ERROR(update.bind_all(json, repo_id).run());
  GROVE_ASSIGN_OR_RETURN(auto clear, db.prepare("DELETE FROM repo_tags WHERE repo_id = ? AND tag >= 'base_model:' "
                                                "AND tag < 'base_model;'"));
  GROVE_RETURN_IF_ERROR(clear.bind_all(repo_id).run());
  GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare("INSERT OR IGNORE INTO repo_tags(tag, repo_id) VALUES (?, ?)"));
  for (const auto& tag : lineage_tags) {
    insert.reset();
    GROVE_RETURN_IF_ERROR(insert.bind_all(tag, repo_id).run());
  }
  return Status::ok();
}

// A name that no repo has and nothing names any more leaves the graph.
Status drop_if_unused(sql::Db& db, std::int64_t node) {
  GROVE_ASSIGN_OR_RETURN(auto remove, db.prepare("DELETE FROM lineage_nodes WHERE id = ? AND repo_id IS NULL AND NOT "
                                                 "EXISTS (SELECT 1 FROM lineage_edges WHERE parent = ?) AND NOT EXISTS "
                                                 "(SELECT 1 FROM lineage_edges WHERE child = ?)"));
  return remove.bind_all(node, node, node).run();
}

// After the edges of `child` changed: conflicts, every link it has or should have, its tags.
// `touched` are parents whose edges may have just gone.
Status sync_child(sql::Db& db, std::int64_t child, const std::set<std::int64_t>& touched = {}) {
  GROVE_RETURN_IF_ERROR(recompute_conflicts(db, child));
  GROVE_ASSIGN_OR_RETURN(auto edges, edges_of_child(db, child));
  std::set<std::int64_t> parents = touched;
  for (const auto& e : edges) parents.insert(e.other);
  {
    GROVE_ASSIGN_OR_RETURN(auto links, db.prepare("SELECT parent FROM lineage_links WHERE child = ?"));
    links.bind_all(child);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, links.step());
      if (!row) break;
      parents.insert(links.int64(0));
    }
  }
  for (std::int64_t parent : parents) GROVE_RETURN_IF_ERROR(sync_pair(db, child, parent, edges));
  GROVE_RETURN_IF_ERROR(sync_tags(db, child));
  for (std::int64_t parent : parents) GROVE_RETURN_IF_ERROR(drop_if_unused(db, parent));
  return Status::ok();
}

struct WantedEdge {
  std::string parent;
  std::string source;
  std::string relation;
  bool relation_inferred = false;
  std::optional<std::string> parent_revision;
};

Status put_edge_row(sql::Db& db, std::int64_t child, std::int64_t parent, const std::string& source,
                    const std::string& relation, std::optional<std::int64_t> similarity_ppm, bool relation_inferred,
                    const std::optional<std::string>& parent_revision) {
  GROVE_ASSIGN_OR_RETURN(auto put, db.prepare("INSERT INTO lineage_edges(child, parent, source, relation, "
                                              "relation_inferred, similarity_ppm, parent_revision, created_at) "
                                              "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(child, parent, source) DO "
                                              "UPDATE SET relation = excluded.relation, relation_inferred = "
                                              "excluded.relation_inferred, similarity_ppm = excluded.similarity_ppm, "
                                              "parent_revision = excluded.parent_revision"));
  put.bind_all(child, parent, source, relation, relation_inferred);
  if (similarity_ppm)
    put.bind(6, *similarity_ppm);
  else
    put.bind(6, nullptr);
  put.bind(7, parent_revision);
  put.bind(8, now_seconds());
  return put.run();
}

// Renames reach the graph through repos.cpp's hook, registered before main runs.
const bool kRenameHookRegistered = (add_repo_renamed_hook(lineage_repo_renamed_in), true);

}  // namespace

bool is_lineage_relation(std::string_view relation) {
  for (const char* r : kLineageRelations)
    if (relation == r) return true;
  return false;
}

std::string infer_relation(const RelationFacts& facts, std::size_t base_count) {
  if (facts.adapter_config || facts.peft_library) return "adapter";
  if (base_count > 1) return "merge";
  if (facts.gguf_files || facts.quantization_config) return "quantized";
  return "finetune";
}

Result<std::vector<LinkRow>> read_link_rows(sql::Stmt& select, bool with_name) {
  std::vector<LinkRow> rows;
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return rows;
    LinkRow l{select.int64(0), select.text(1), select.text(2), std::nullopt, select.optional_text(4), {}};
    if (select.optional_text(3)) l.similarity_ppm = select.int64(3);
    if (with_name) l.name = select.text(5);
    rows.push_back(std::move(l));
  }
}

Status lineage_apply_commit_in(sql::Db& db, const Repo& repo, const CommitRequest& request,
                               const std::vector<FileEntry>& listing) {
  GROVE_ASSIGN_OR_RETURN(std::int64_t self, ensure_repo_node(db, repo));
  std::string self_name = repo.id_string();

  // Facts that need bytes arrive with the commit that carries the file, and are forgotten when
  // the file goes.
  RelationFacts facts;
  bool has_config = false;
  for (const auto& f : listing) {
    if (f.path == "adapter_config.json" || f.path.ends_with("/adapter_config.json")) facts.adapter_config = true;
    if (ends_with_nocase(f.path, ".gguf")) facts.gguf_files = true;
    if (f.path == "config.json") has_config = true;
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto update, db.prepare("UPDATE lineage_nodes SET config_quantized = CASE WHEN ? THEN "
                                                   "coalesce(?, config_quantized) ELSE 0 END, adapter_base = CASE "
                                                   "WHEN ? THEN coalesce(?, adapter_base) ELSE NULL END WHERE id = ? "
                                                   "RETURNING config_quantized, adapter_base"));
    update.bind(1, has_config);
    if (request.config_quantized)
      update.bind(2, *request.config_quantized);
    else
      update.bind(2, nullptr);
    update.bind(3, facts.adapter_config);
    update.bind(4, request.adapter_base);
    update.bind(5, self);
    GROVE_ASSIGN_OR_RETURN(bool row, update.step());
    if (!row) return internal_error("lineage node of " + self_name + " vanished");
    facts.quantization_config = update.int64(0) != 0;
    std::optional<std::string> adapter_base = update.optional_text(1);
    update.reset();
    GROVE_ASSIGN_OR_RETURN(auto lib, db.prepare("SELECT library_name FROM repos WHERE id = ?"));
    GROVE_ASSIGN_OR_RETURN(bool has, lib.bind_all(repo.id).step());
    facts.peft_library = has && lib.optional_text(0) == std::optional<std::string>("peft");

    std::vector<WantedEdge> wanted;
    // Declared: the card of this commit, else the bases the card declared before.
    std::vector<std::string> bases;
    std::optional<std::string> declared_relation;
    std::vector<std::pair<std::string, std::optional<std::string>>> flags;  // parent, revision
    {
      GROVE_ASSIGN_OR_RETURN(auto existing, db.prepare("SELECT n.name, e.source, e.relation, e.relation_inferred, "
                                                       "e.parent_revision FROM lineage_edges e JOIN lineage_nodes n "
                                                       "ON n.id = e.parent WHERE e.child = ? AND e.source IN "
                                                       "('declared', 'flag') ORDER BY e.created_at, n.name"));
      existing.bind_all(self);
      for (;;) {
        GROVE_ASSIGN_OR_RETURN(bool more, existing.step());
        if (!more) break;
        if (existing.text(1) == "flag") {
          flags.emplace_back(existing.text(0), existing.optional_text(4));
        } else if (!request.card) {
          bases.push_back(existing.text(0));
          if (existing.int64(3) == 0) declared_relation = existing.text(2);
        }
      }
    }
    if (request.card) {
      std::set<std::string> seen;
      for (const auto& base : request.card->base_models) {
        std::string lower = base;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        std::string self_lower = self_name;
        std::transform(self_lower.begin(), self_lower.end(), self_lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        // A self-edge would make the graph cyclic; nonsense names are ignored like the Hub does.
        if (lower == self_lower || !is_plausible_model_name(base) || !seen.insert(lower).second) continue;
        bases.push_back(base);
      }
      const auto& r = request.card->base_model_relation;
      declared_relation = r && is_lineage_relation(*r) ? r : std::nullopt;
    }
    for (const auto& base : bases) {
      wanted.push_back({base, "declared", declared_relation.value_or(infer_relation(facts, bases.size())),
                        !declared_relation.has_value(), std::nullopt});
    }
    if (request.base_flag) {
      flags.clear();
      std::string spec = *request.base_flag;
      std::optional<std::string> revision;
      if (auto at = spec.find('@'); at != std::string::npos) {
        revision = spec.substr(at + 1);
        spec.resize(at);
      }
      if (!is_plausible_model_name(spec) || spec.find('/') == std::string::npos)
        return invalid_argument("--base must name a model as ns/name[@revision], not '" + *request.base_flag + "'");
      flags.emplace_back(spec, revision);
    }
    for (const auto& [parent, revision] : flags) wanted.push_back({parent, "flag", infer_relation(facts, 1), true, revision});
    if (adapter_base && is_plausible_model_name(*adapter_base) && adapter_base->find('/') != std::string::npos)
      wanted.push_back({*adapter_base, "inferred", "adapter", true, std::nullopt});

    // Replace the uploader's claims (declared, flag, inferred); detections stay.
    std::set<std::int64_t> touched;
    {
      GROVE_ASSIGN_OR_RETURN(auto old, db.prepare("DELETE FROM lineage_edges WHERE child = ? AND source IN "
                                                  "('declared', 'flag', 'inferred') RETURNING parent"));
      old.bind_all(self);
      for (;;) {
        GROVE_ASSIGN_OR_RETURN(bool more, old.step());
        if (!more) break;
        touched.insert(old.int64(0));
      }
    }
    for (const auto& w : wanted) {
      GROVE_ASSIGN_OR_RETURN(std::int64_t parent, ensure_node(db, w.parent));
      if (parent == self) continue;
      GROVE_RETURN_IF_ERROR(
          put_edge_row(db, self, parent, w.source, w.relation, std::nullopt, w.relation_inferred, w.parent_revision));
    }
    GROVE_RETURN_IF_ERROR(sync_child(db, self, touched));
  }
  return Status::ok();
}

Status lineage_put_edge_in(sql::Db& db, const std::string& child, const std::string& parent, const std::string& source,
                           const std::string& relation, std::optional<double> similarity, bool relation_inferred,
                           std::optional<std::string> parent_revision) {
  if (!is_lineage_relation(relation))
    return invalid_argument("unknown lineage relation '" + relation + "': use finetune, adapter, merge or quantized");
  if (source_rank(source) > 3) return invalid_argument("unknown lineage source '" + source + "'");
  if (similarity && !(*similarity >= 0.0 && *similarity <= 1.0))
    return invalid_argument("similarity must be between 0 and 1");
  if (!is_plausible_model_name(parent)) return invalid_argument("'" + parent + "' is not a model name");
  GROVE_ASSIGN_OR_RETURN(auto child_node, node_by_name(db, child));
  std::int64_t self = 0;
  if (child_node && child_node->repo_id) {
    self = child_node->id;
  } else {
    auto slash = child.find('/');
    if (slash == std::string::npos) return Status(Code::kRepoNotFound, "Repository " + child + " not found");
    GROVE_ASSIGN_OR_RETURN(auto repo, db.prepare("SELECT id FROM repos WHERE ns = ? AND name = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, repo.bind_all(child.substr(0, slash), child.substr(slash + 1)).step());
    if (!row) return Status(Code::kRepoNotFound, "Repository " + child + " not found");
    GROVE_ASSIGN_OR_RETURN(self, ensure_node(db, child));
  }
  GROVE_ASSIGN_OR_RETURN(std::int64_t parent_node, ensure_node(db, parent));
  if (parent_node == self) return invalid_argument("lineage cycle refused: " + child + " cannot derive from itself");
  std::optional<std::int64_t> ppm;
  if (similarity) ppm = static_cast<std::int64_t>(*similarity * 1e6 + 0.5);
  GROVE_RETURN_IF_ERROR(put_edge_row(db, self, parent_node, source, relation, ppm, relation_inferred, parent_revision));
  return sync_child(db, self);
}

Status lineage_repo_created_in(sql::Db& db, std::int64_t repo_id, const std::string& id_string) {
  GROVE_ASSIGN_OR_RETURN(auto attach, db.prepare("UPDATE lineage_nodes SET repo_id = ?, name = ? WHERE name = ? AND "
                                                 "repo_id IS NULL"));
  return attach.bind_all(repo_id, id_string, id_string).run();
}

Status lineage_repo_deleting_in(sql::Db& db, std::int64_t repo_id) {
  GROVE_ASSIGN_OR_RETURN(auto node, node_of_repo(db, repo_id));
  if (!node) return Status::ok();
  std::set<std::int64_t> touched;
  {
    GROVE_ASSIGN_OR_RETURN(auto old, db.prepare("DELETE FROM lineage_edges WHERE child = ? RETURNING parent"));
    old.bind_all(*node);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, old.step());
      if (!more) break;
      touched.insert(old.int64(0));
    }
  }
  GROVE_RETURN_IF_ERROR(sync_child(db, *node, touched));
  GROVE_ASSIGN_OR_RETURN(auto detach, db.prepare("UPDATE lineage_nodes SET repo_id = NULL, config_quantized = 0, "
                                                 "adapter_base = NULL WHERE id = ?"));
  GROVE_RETURN_IF_ERROR(detach.bind_all(*node).run());
  return drop_if_unused(db, *node);
}

Status lineage_repo_renamed_in(sql::Db& db, const std::string& old_id, const std::string& new_id) {
  auto slash = new_id.find('/');
  if (slash == std::string::npos) return invalid_argument("renamed repo id without a namespace: " + new_id);
  GROVE_ASSIGN_OR_RETURN(auto repo, db.prepare("SELECT id FROM repos WHERE ns = ? AND name = ?"));
  GROVE_ASSIGN_OR_RETURN(bool found, repo.bind_all(new_id.substr(0, slash), new_id.substr(slash + 1)).step());
  if (!found) return internal_error("renamed repo " + new_id + " is not in repos");
  std::int64_t repo_id = repo.int64(0);
  GROVE_ASSIGN_OR_RETURN(auto node, node_of_repo(db, repo_id));
  GROVE_ASSIGN_OR_RETURN(auto ghost, node_by_name(db, new_id));
  if (!node) {
    // Not in the graph yet; a name waiting for it becomes present.
    return lineage_repo_created_in(db, repo_id, new_id);
  }
  if (ghost && ghost->id != *node) {
    // Cards named the new name before the rename: their edges move to the renamed repo's node.
    std::vector<std::int64_t> children;
    {
      GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT DISTINCT child FROM lineage_edges WHERE parent = ?"));
      select.bind_all(ghost->id);
      for (;;) {
        GROVE_ASSIGN_OR_RETURN(bool more, select.step());
        if (!more) break;
        children.push_back(select.int64(0));
      }
    }
    for (std::int64_t child : children) {
      if (child == *node) {
        GROVE_ASSIGN_OR_RETURN(auto drop, db.prepare("DELETE FROM lineage_edges WHERE child = ? AND parent = ?"));
        GROVE_RETURN_IF_ERROR(drop.bind_all(child, ghost->id).run());
      } else {
        GROVE_ASSIGN_OR_RETURN(auto move, db.prepare("UPDATE OR REPLACE lineage_edges SET parent = ? WHERE child = ? "
                                                     "AND parent = ?"));
        GROVE_RETURN_IF_ERROR(move.bind_all(*node, child, ghost->id).run());
      }
      GROVE_RETURN_IF_ERROR(sync_child(db, child, {ghost->id}));
    }
    GROVE_RETURN_IF_ERROR(drop_if_unused(db, ghost->id));
  }
  GROVE_ASSIGN_OR_RETURN(auto rename, db.prepare("UPDATE lineage_nodes SET name = ? WHERE id = ?"));
  GROVE_RETURN_IF_ERROR(rename.bind_all(new_id, *node).run());
  // Children's base_model tags name their parents' current names.
  std::vector<std::int64_t> children;
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT child FROM lineage_links WHERE parent = ?"));
    select.bind_all(*node);
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      children.push_back(select.int64(0));
    }
  }
  for (std::int64_t child : children) GROVE_RETURN_IF_ERROR(sync_tags(db, child));
  (void)old_id;
  return Status::ok();
}

Status lineage_backfill(sql::Db& db) {
  GROVE_ASSIGN_OR_RETURN(auto txn, sql::Transaction::begin(db, sql::Transaction::Kind::kWrite));
  std::vector<std::array<std::string, 4>> rows;
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT child, parent, relation, source FROM lineage"));
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      rows.push_back({select.text(0), select.text(1), select.text(2), select.text(3)});
    }
  }
  if (rows.empty()) return txn.commit();
  for (const auto& [child, parent, relation, source] : rows) {
    Status s = lineage_put_edge_in(db, child, parent, source, is_lineage_relation(relation) ? relation : "finetune",
                                   std::nullopt);
    // A child that no longer exists or an edge that would close a cycle is dropped.
    if (!s.is_ok() && s.code() != Code::kRepoNotFound && s.code() != Code::kInvalidArgument) return s;
  }
  GROVE_RETURN_IF_ERROR(db.exec("DELETE FROM lineage"));
  return txn.commit();
}

Status lineage_check_aggregates_in(sql::Db& db) {
  // Children per (parent, relation), all and public ones.
  std::map<std::pair<std::int64_t, std::string>, std::pair<std::int64_t, std::int64_t>> counted, stored;
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT l.parent, l.relation, count(*), coalesce(sum(r.private = 0), "
                                                   "0) FROM lineage_links l JOIN lineage_nodes n ON n.id = l.child "
                                                   "LEFT JOIN repos r ON r.id = n.repo_id GROUP BY 1, 2"));
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      counted[{select.int64(0), select.text(1)}] = {select.int64(2), select.int64(3)};
    }
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT parent, relation, count, public_count FROM "
                                                   "lineage_child_counts"));
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      stored[{select.int64(0), select.text(1)}] = {select.int64(2), select.int64(3)};
    }
  }
  if (counted != stored) return corrupt("lineage children counts differ from a recount");
  // Links: exactly one per (child, parent) pair of edges, from the strongest source.
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(
        "SELECT count(*) FROM (SELECT child, parent FROM lineage_edges GROUP BY 1, 2) e FULL OUTER JOIN "
        "lineage_links l ON l.child = e.child AND l.parent = e.parent WHERE e.child IS NULL OR l.child IS NULL"));
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row || select.int64(0) != 0) return corrupt("lineage links differ from the edges");
  }
  // Descendants: a walk from every node over the links; public ones are public repos.
  std::map<std::int64_t, std::vector<std::int64_t>> children;
  std::set<std::int64_t> public_nodes;
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT n.id FROM lineage_nodes n JOIN repos r ON r.id = n.repo_id "
                                                   "WHERE r.private = 0"));
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      public_nodes.insert(select.int64(0));
    }
  }
  {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare("SELECT parent, child FROM lineage_links"));
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool more, select.step());
      if (!more) break;
      children[select.int64(0)].push_back(select.int64(1));
    }
  }
  GROVE_ASSIGN_OR_RETURN(auto nodes, db.prepare("SELECT id, name, descendants, public_descendants FROM lineage_nodes"));
  for (;;) {
    GROVE_ASSIGN_OR_RETURN(bool more, nodes.step());
    if (!more) break;
    std::set<std::int64_t> seen;
    std::vector<std::int64_t> stack{nodes.int64(0)};
    while (!stack.empty()) {
      std::int64_t n = stack.back();
      stack.pop_back();
      for (std::int64_t c : children[n])
        if (seen.insert(c).second) stack.push_back(c);
    }
    if (static_cast<std::int64_t>(seen.size()) != nodes.int64(2))
      return corrupt("lineage node " + nodes.text(1) + " counts " + std::to_string(nodes.int64(2)) +
                     " descendants, a recount finds " + std::to_string(seen.size()));
    auto public_seen = std::count_if(seen.begin(), seen.end(), [&](std::int64_t n) { return public_nodes.count(n) != 0; });
    if (public_seen != nodes.int64(3))
      return corrupt("lineage node " + nodes.text(1) + " counts " + std::to_string(nodes.int64(3)) +
                     " public descendants, a recount finds " + std::to_string(public_seen));
    GROVE_ASSIGN_OR_RETURN(auto closure, db.prepare("SELECT count(*) FROM lineage_closure WHERE ancestor = ?"));
    GROVE_ASSIGN_OR_RETURN(bool row, closure.bind_all(nodes.int64(0)).step());
    if (!row || closure.int64(0) != static_cast<std::int64_t>(seen.size()))
      return corrupt("lineage closure of " + nodes.text(1) + " differs from a recount");
  }
  return Status::ok();
}

}  // namespace grove::registry
