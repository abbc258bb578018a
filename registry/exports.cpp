// GGUF exports: which commit was rendered at which quantization by which exporter version,
// and where the result sits in storage. Table `exports` (migration in schema.cpp):
//   repo_id, commit_id, quant, exporter_version  -> sha256, size, created_at
// One row per repo that asked (a commit id names the same content in every repo, so a lookup
// by commit finds a render made for another repo too).
#include "registry/registry_impl.h"

namespace grove::registry {
namespace {

Result<ExportRecord> row_to_record(const sql::Stmt& s) {
  ExportRecord r;
  r.repo_id = s.int64(0);
  r.commit_id = s.text(1);
  r.quant = s.text(2);
  r.exporter_version = static_cast<int>(s.int64(3));
  auto digest = Sha256Digest::from_hex(s.text(4));
  if (!digest) return corrupt("exports row with a bad sha256: " + s.text(4));
  r.sha256 = *digest;
  r.size = static_cast<std::uint64_t>(s.int64(5));
  r.created_at = s.int64(6);
  return r;
}

constexpr const char* kColumns = "repo_id, commit_id, quant, exporter_version, sha256, size, created_at";

}  // namespace

Status SqliteRegistry::record_export(const ExportRecord& record) {
  return write([&](sql::Db& db) -> Status {
    GROVE_ASSIGN_OR_RETURN(auto insert, db.prepare(std::string("INSERT OR REPLACE INTO exports (") + kColumns +
                                                   ") VALUES (?, ?, ?, ?, ?, ?, ?)"));
    return insert
        .bind_all(record.repo_id, record.commit_id, record.quant, record.exporter_version, record.sha256.hex(),
                  record.size, record.created_at ? record.created_at : now_seconds())
        .run();
  });
}

Result<std::optional<ExportRecord>> SqliteRegistry::find_export(const std::string& commit_id, const std::string& quant,
                                                                int exporter_version) {
  return read([&](sql::Db& db) -> Result<std::optional<ExportRecord>> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(std::string("SELECT ") + kColumns +
                                                   " FROM exports WHERE commit_id = ? AND quant = ? AND exporter_version = ?"
                                                   " ORDER BY created_at LIMIT 1"));
    select.bind_all(commit_id, quant, exporter_version);
    GROVE_ASSIGN_OR_RETURN(bool row, select.step());
    if (!row) return std::optional<ExportRecord>();
    GROVE_ASSIGN_OR_RETURN(ExportRecord r, row_to_record(select));
    return std::optional<ExportRecord>(std::move(r));
  });
}

Result<std::vector<ExportRecord>> SqliteRegistry::list_exports(std::int64_t repo_id) {
  return read([&](sql::Db& db) -> Result<std::vector<ExportRecord>> {
    GROVE_ASSIGN_OR_RETURN(auto select, db.prepare(std::string("SELECT ") + kColumns +
                                                   " FROM exports WHERE repo_id = ? ORDER BY created_at DESC, quant"));
    select.bind_all(repo_id);
    std::vector<ExportRecord> out;
    for (;;) {
      GROVE_ASSIGN_OR_RETURN(bool row, select.step());
      if (!row) break;
      GROVE_ASSIGN_OR_RETURN(ExportRecord r, row_to_record(select));
      out.push_back(std::move(r));
    }
    return out;
  });
}

}  // namespace grove::registry
