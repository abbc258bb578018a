// Internal to registry/ (and the lineage benchmark): the write side of lineage, as *_in
// helpers that run inside a caller's write transaction. See lineage.h for the model.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "common/sqlite_util.h"

namespace grove::registry {

// Called by Registry::commit on the default branch after the new listing is known (the card,
// if any, already applied to the repos row): rebuilds the repo's declared, flag and inferred
// edges from the card (request.card, else the edges it declared before), the --base flag and
// the facts of `listing`. kInvalidArgument when an edge would close a cycle.
Status lineage_apply_commit_in(sql::Db& db, const Repo& repo, const CommitRequest& request,
                               const std::vector<FileEntry>& listing);

// A repo was created: a parent named before it existed is now present.
Status lineage_repo_created_in(sql::Db& db, std::int64_t repo_id, const std::string& id_string);
// A repo is about to be deleted: its own parent edges go; edges naming it as a parent stay
// (the children still declare it), so it becomes a name that is not on this hub.
Status lineage_repo_deleting_in(sql::Db& db, std::int64_t repo_id);
// Rename hook (registry_impl.h add_repo_renamed_hook): the node follows the repo.
Status lineage_repo_renamed_in(sql::Db& db, const std::string& old_id, const std::string& new_id);

// Adds or replaces the edge (child, parent, source) and brings links, counts, conflicts and
// tags up to date. `child` must be a repo of this hub. similarity in [0, 1] or nullopt.
Status lineage_put_edge_in(sql::Db& db, const std::string& child, const std::string& parent,
                           const std::string& source, const std::string& relation,
                           std::optional<double> similarity, bool relation_inferred = false,
                           std::optional<std::string> parent_revision = std::nullopt);

// One row of lineage_links or lineage_edges as the queries read them: the statement's columns
// are (other node, relation, source, similarity_ppm, conflict) and, when `with_name`, the other
// node's name. `other` is the parent or the child, whichever the query did not fix.
struct LinkRow {
  std::int64_t other = 0;
  std::string relation;
  std::string source;
  std::optional<std::int64_t> similarity_ppm;
  std::optional<std::string> conflict;
  std::string name;  // with_name only
};
Result<std::vector<LinkRow>> read_link_rows(sql::Stmt& select, bool with_name = false);

// Moves edges of the migration-1 `lineage` table into the lineage graph once (older data
// folders). Runs its own write transaction on `db`.
Status lineage_backfill(sql::Db& db);

// Test and benchmark support: recounts every maintained aggregate from the edges and compares
// them; kCorrupt naming the first difference.
Status lineage_check_aggregates_in(sql::Db& db);

}  // namespace grove::registry
