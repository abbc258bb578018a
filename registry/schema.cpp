#include "registry/schema.h"

#include <array>
#include <string>

namespace grove::registry {
namespace {

// Append only: a released migration is never edited, because databases in the field have
// already run it. Names and namespaces compare case-insensitively (NOCASE) like the Hub's;
// paths and refs are case-sensitive, compared as bytes.
constexpr std::array<const char*, 6> kMigrations = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  created_at INTEGER NOT NULL                  -- unix seconds
);
CREATE TABLE tokens (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  sha256 TEXT NOT NULL UNIQUE,                 -- hex SHA-256 of the token; never the token
  scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
  display_name TEXT NOT NULL,
  created_at INTEGER NOT NULL                  -- unix seconds
);
CREATE INDEX tokens_user ON tokens(user_id);
CREATE TABLE repos (
  id INTEGER PRIMARY KEY,
  ns TEXT NOT NULL COLLATE NOCASE,
  name TEXT NOT NULL COLLATE NOCASE,
  private INTEGER NOT NULL DEFAULT 0,
  default_branch TEXT NOT NULL DEFAULT 'main',
  created_at INTEGER NOT NULL,                 -- unix milliseconds
  updated_at INTEGER NOT NULL,                 -- unix milliseconds
  card_data TEXT NOT NULL DEFAULT '{}',        -- JSON object
  tags TEXT NOT NULL DEFAULT '[]',             -- JSON array, in display order
  library_name TEXT,
  pipeline_tag TEXT,
  UNIQUE (ns, name)
);
CREATE INDEX repos_updated ON repos(updated_at DESC, id DESC);
-- repos.tags again, one row per tag, so that filter=base_model:x is an index lookup.
CREATE TABLE repo_tags (
  tag TEXT NOT NULL,
  repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  PRIMARY KEY (tag, repo_id)
) WITHOUT ROWID;
CREATE INDEX repo_tags_repo ON repo_tags(repo_id);
CREATE TABLE commits (
  repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  id TEXT NOT NULL,                            -- 40 lowercase hex, a real git commit id
  parents TEXT NOT NULL,                       -- JSON array of ids, first parent first
  tree_id TEXT NOT NULL,
  author TEXT NOT NULL,
  title TEXT NOT NULL,
  message TEXT NOT NULL,
  time INTEGER NOT NULL,                       -- unix seconds
  PRIMARY KEY (repo_id, id)
) WITHOUT ROWID;
CREATE TABLE refs (
  repo_id INTEGER NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
  name TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  PRIMARY KEY (repo_id, kind, name),
  FOREIGN KEY (repo_id, commit_id) REFERENCES commits(repo_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX refs_commit ON refs(repo_id, commit_id);
-- Every file of every commit: a commit is a full listing, so reading a revision is one range scan.
CREATE TABLE files (
  repo_id INTEGER NOT NULL,
  commit_id TEXT NOT NULL,
  path TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,                        -- hex; the content address in storage
  lfs INTEGER NOT NULL,
  blob_oid TEXT NOT NULL,                      -- hex git blob id (of the pointer when lfs)
  PRIMARY KEY (repo_id, commit_id, path),
  FOREIGN KEY (repo_id, commit_id) REFERENCES commits(repo_id, id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX files_sha256 ON files(sha256);
CREATE TABLE lineage (
  child TEXT NOT NULL COLLATE NOCASE,          -- "ns/name"
  parent TEXT NOT NULL COLLATE NOCASE,         -- "ns/name", maybe not on this hub
  relation TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('declared', 'flag', 'detected')),
  PRIMARY KEY (child, parent, source)
);
CREATE INDEX lineage_parent ON lineage(parent);
)sql",
    // 2: download counts (one per model download, see hub/download_counter.h).
    R"sql(
ALTER TABLE repos ADD COLUMN downloads INTEGER NOT NULL DEFAULT 0;
CREATE INDEX repos_downloads ON repos(downloads DESC, id DESC);
)sql",
    // 3: old names of renamed repos (POST /api/repos/move). Each old name answers with a redirect
    // to the repo's current name until the repo is deleted or a new repo takes the name.
    R"sql(
CREATE TABLE repo_redirects (
  ns TEXT NOT NULL COLLATE NOCASE,
  name TEXT NOT NULL COLLATE NOCASE,
  repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  PRIMARY KEY (ns, name)
);
CREATE INDEX repo_redirects_repo ON repo_redirects(repo_id);
)sql",
    // 4: the lineage graph (registry/lineage.cpp). Nodes are names, present or not; edges are
    // every claim; links the graph of strongest claims; closure, child counts and descendants
    // are aggregates maintained in the same transaction as the links.
    R"sql(
CREATE TABLE lineage_nodes (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,    -- "ns/name"
  repo_id INTEGER UNIQUE REFERENCES repos(id) ON DELETE SET NULL,  -- NULL: not on this hub
  descendants INTEGER NOT NULL DEFAULT 0,      -- distinct descendants through lineage_links
  config_quantized INTEGER NOT NULL DEFAULT 0, -- config.json has quantization_config
  adapter_base TEXT                            -- adapter_config.json base_model_name_or_path
);
CREATE TABLE lineage_edges (
  child INTEGER NOT NULL REFERENCES lineage_nodes(id),
  parent INTEGER NOT NULL REFERENCES lineage_nodes(id),
  source TEXT NOT NULL CHECK (source IN ('declared', 'flag', 'inferred', 'detected')),
  relation TEXT NOT NULL CHECK (relation IN ('finetune', 'adapter', 'merge', 'quantized')),
  relation_inferred INTEGER NOT NULL DEFAULT 0,
  similarity_ppm INTEGER,                      -- detected: similarity * 1e6
  parent_revision TEXT,                        -- flag: the @rev of --base
  conflict TEXT,                               -- a detection contradicting a claim, in words
  created_at INTEGER NOT NULL,                 -- unix seconds
  PRIMARY KEY (child, parent, source)
) WITHOUT ROWID;
CREATE INDEX lineage_edges_parent ON lineage_edges(parent);
CREATE TABLE lineage_links (
  parent INTEGER NOT NULL,
  relation TEXT NOT NULL,
  child INTEGER NOT NULL,
  source TEXT NOT NULL,
  similarity_ppm INTEGER,
  conflict TEXT,
  PRIMARY KEY (parent, relation, child)
) WITHOUT ROWID;
CREATE UNIQUE INDEX lineage_links_child ON lineage_links(child, parent);
CREATE INDEX lineage_links_parent_child ON lineage_links(parent, child);
CREATE TABLE lineage_closure (
  ancestor INTEGER NOT NULL,
  descendant INTEGER NOT NULL,
  paths INTEGER NOT NULL,                      -- distinct paths ancestor -> descendant, > 0
  PRIMARY KEY (ancestor, descendant)
) WITHOUT ROWID;
CREATE INDEX lineage_closure_descendant ON lineage_closure(descendant, ancestor);
CREATE TABLE lineage_child_counts (
  parent INTEGER NOT NULL,
  relation TEXT NOT NULL,
  count INTEGER NOT NULL,
  PRIMARY KEY (parent, relation)
) WITHOUT ROWID;
)sql",
    // 5: GGUF exports cached in storage (registry/exports.cpp).
    R"sql(
CREATE TABLE exports (
  repo_id INTEGER NOT NULL REFERENCES repos(id) ON DELETE CASCADE,
  commit_id TEXT NOT NULL,
  quant TEXT NOT NULL,
  exporter_version INTEGER NOT NULL,
  sha256 TEXT NOT NULL,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (repo_id, commit_id, quant, exporter_version)
);
CREATE INDEX exports_commit ON exports(commit_id, quant, exporter_version);
CREATE INDEX exports_sha256 ON exports(sha256);
)sql",
    // 6: lineage counts that never reveal private repos (registry/lineage.cpp): children and
    // descendants that are public repos, kept beside the totals; a repo turning private or
    // public moves between them through the trigger.
    R"sql(
ALTER TABLE lineage_child_counts ADD COLUMN public_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lineage_nodes ADD COLUMN public_descendants INTEGER NOT NULL DEFAULT 0;
UPDATE lineage_child_counts SET public_count = (
  SELECT count(*) FROM lineage_links l JOIN lineage_nodes n ON n.id = l.child JOIN repos r ON r.id = n.repo_id
  WHERE l.parent = lineage_child_counts.parent AND l.relation = lineage_child_counts.relation AND r.private = 0);
UPDATE lineage_nodes SET public_descendants = (
  SELECT count(*) FROM lineage_closure c JOIN lineage_nodes d ON d.id = c.descendant JOIN repos r ON r.id = d.repo_id
  WHERE c.ancestor = lineage_nodes.id AND r.private = 0) WHERE descendants > 0;
-- A viewer's own private repos, which the lineage read side adds to the public counts.
CREATE INDEX repos_private_ns ON repos(ns) WHERE private = 1;
CREATE TRIGGER lineage_repo_visibility AFTER UPDATE OF private ON repos WHEN OLD.private IS NOT NEW.private
BEGIN
  UPDATE lineage_child_counts SET public_count = public_count + (CASE WHEN NEW.private THEN -1 ELSE 1 END)
  WHERE (parent, relation) IN (SELECT l.parent, l.relation FROM lineage_nodes n
                               JOIN lineage_links l ON l.child = n.id WHERE n.repo_id = NEW.id);
  UPDATE lineage_nodes SET public_descendants = public_descendants + (CASE WHEN NEW.private THEN -1 ELSE 1 END)
  WHERE id IN (SELECT c.ancestor FROM lineage_nodes n JOIN lineage_closure c ON c.descendant = n.id
               WHERE n.repo_id = NEW.id);
END;
)sql",
};

}  // namespace

int schema_version() { return static_cast<int>(kMigrations.size()); }

Status migrate(sql::Db& db) {
  for (;;) {
    // Read the version inside the write transaction: another process may be migrating too.
    GROVE_ASSIGN_OR_RETURN(auto txn, sql::Transaction::begin(db, sql::Transaction::Kind::kWrite));
    GROVE_ASSIGN_OR_RETURN(std::int64_t version, db.pragma_int("user_version"));
    if (version > schema_version()) {
      return invalid_argument("registry database schema version " + std::to_string(version) +
                              " is newer than this grove supports (" + std::to_string(schema_version()) +
                              "); run a newer grove");
    }
    if (version < 0) return corrupt("registry database has a negative schema version");
    if (version == schema_version()) return txn.commit();
    GROVE_RETURN_IF_ERROR(db.exec(kMigrations[static_cast<std::size_t>(version)])
                              .with_context("migrating the registry to version " + std::to_string(version + 1)));
    GROVE_RETURN_IF_ERROR(db.exec("PRAGMA user_version = " + std::to_string(version + 1)));
    GROVE_RETURN_IF_ERROR(txn.commit());
  }
}

}  // namespace grove::registry
