// grove gc, fsck, repack and storage stats: maintenance of a data folder's store, offline or
// next to a running `grove serve` (storage/maintenance.h says how they coordinate).
#include <CLI/CLI.hpp>

#include <cctype>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>

#include "cli/cli.h"
#include "hub/storage_stats.h"
#include "registry/registry.h"
#include "storage/maintenance.h"

namespace grove::cli {
namespace {

std::string human(std::int64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes < 0 ? -bytes : bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s%.1f %s", bytes < 0 ? "-" : "", v, units[u]);
  return buf;
}

Result<std::unique_ptr<storage::StorageMaintenance>> open_store(const std::string& data_dir) {
  return storage::StorageMaintenance::open_local(data_dir + "/storage");
}

// Which repo paths name each content address.
Result<std::map<Sha256Digest, std::vector<std::string>>> names_of(const std::string& data_dir) {
  GROVE_ASSIGN_OR_RETURN(auto refs, registry::list_storage_refs(data_dir + "/grove.db"));
  std::map<Sha256Digest, std::vector<std::string>> out;
  for (const auto& r : refs) out[r.sha256].push_back(r.repo + ": " + r.path);
  return out;
}

void print_names(const std::map<Sha256Digest, std::vector<std::string>>& names, const Sha256Digest& d) {
  auto it = names.find(d);
  if (it == names.end()) {
    std::cout << "    (named by no repo)\n";
    return;
  }
  for (const auto& n : it->second) std::cout << "    " << n << "\n";
}

int run_gc(const std::string& data_dir, bool dry_run, std::int64_t grace) {
  auto m = open_store(data_dir);
  if (!m.is_ok()) return fail(m.status());
  storage::GcOptions options;
  options.dry_run = dry_run;
  options.grace_seconds = grace;
  const std::string registry_path = data_dir + "/grove.db";
  auto report = (*m)->gc([&] { return registry::live_blobs(registry_path); }, options);
  if (!report.is_ok()) return fail(report.status());
  const storage::GcReport& r = *report;
  if (dry_run) {
    std::cout << "dry run: would unlink " << r.files_unlinked << " files and " << r.frames_unlinked
              << " frames, retire " << r.packs_retired << " packs; reclaimable " << human(r.bytes_reclaimable)
              << " (" << r.bytes_reclaimable << " bytes); " << r.live_files << " files stay\n";
    return 0;
  }
  std::cout << "gc: " << r.live_files << " files live; unlinked " << r.files_unlinked << " files and "
            << r.frames_unlinked << " frames";
  if (r.files_restored) std::cout << ", restored " << r.files_restored << " files";
  std::cout << "; rewrote " << r.packs_rewritten << " packs, deleted " << r.packs_deleted << " packs and "
            << r.orphans_deleted << " orphans; reclaimed " << human(r.reclaimed()) << " (" << r.reclaimed()
            << " bytes)";
  if (r.bytes_pending) std::cout << "; " << human(r.bytes_pending) << " wait out the grace period";
  std::cout << "\n";
  return 0;
}

int run_fsck(const std::string& data_dir, bool repair) {
  auto m = open_store(data_dir);
  if (!m.is_ok()) return fail(m.status());
  storage::FsckOptions options;
  options.repair = repair;
  auto report = (*m)->fsck(options);
  if (!report.is_ok()) return fail(report.status());
  const storage::FsckReport& r = *report;
  std::cout << "fsck: checked " << r.packs_checked << " packs, " << r.frames_checked << " frames, "
            << r.files_checked << " files";
  if (r.orphan_packs) std::cout << "; " << r.orphan_packs << " unindexed packs (gc removes them)";
  std::cout << "\n";
  if (r.clean()) {
    std::cout << "clean\n";
    return 0;
  }
  auto names = names_of(data_dir);
  std::map<Sha256Digest, std::vector<std::string>> empty;
  const auto& n = names.is_ok() ? *names : empty;
  for (const auto& p : r.problems) std::cout << "problem: " << p << "\n";
  for (const auto& p : r.damaged_packs) std::cout << "damaged pack: " << p << "\n";
  for (const auto& f : r.damaged_files) {
    std::cout << "damaged file: " << f.hex() << "\n";
    print_names(n, f);
  }
  if (!repair) {
    std::cout << "run `grove fsck --repair` to drop the damaged entries, then re-push the files above\n";
    return 1;
  }
  std::cout << "repaired: salvaged " << r.frames_salvaged << " good frames; these files are now missing and must be re-pushed:\n";
  for (const auto& f : r.removed_files) {
    std::cout << "  " << f.hex() << "\n";
    print_names(n, f);
  }
  return 0;
}

int run_repack(const std::string& data_dir, const std::string& repo, std::string base) {
  const std::string registry_path = data_dir + "/grove.db";
  if (base.empty()) {
    // The declared lineage: the first parent this hub has.
    auto reg = registry::Registry::open(registry_path);
    if (!reg.is_ok()) return fail(reg.status());
    auto parents = (*reg)->parents_of(repo);
    if (!parents.is_ok()) return fail(parents.status());
    for (const auto& e : *parents) {
      auto slash = e.parent.find('/');
      if (slash == std::string::npos) continue;
      if ((*reg)->find_repo(e.parent.substr(0, slash), e.parent.substr(slash + 1)).is_ok()) {
        base = e.parent;
        break;
      }
    }
    if (base.empty()) return fail(invalid_argument(repo + " declares no base on this hub; name one with --base"));
  }
  auto refs = registry::list_storage_refs(registry_path);
  if (!refs.is_ok()) return fail(refs.status());
  std::set<Sha256Digest> files, base_files;
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& r : *refs) {
    if (!r.path.ends_with(".safetensors")) continue;
    if (lower(r.repo) == lower(repo)) files.insert(r.sha256);
    if (lower(r.repo) == lower(base)) base_files.insert(r.sha256);
  }
  if (files.empty()) return fail(not_found("no safetensors files of " + repo + " on this hub"));
  if (base_files.empty()) return fail(not_found("no safetensors files of " + base + " on this hub"));
  auto m = open_store(data_dir);
  if (!m.is_ok()) return fail(m.status());
  const std::vector<Sha256Digest> bases(base_files.begin(), base_files.end());
  storage::ReencodeStats total;
  for (const Sha256Digest& f : files) {
    if (base_files.contains(f)) continue;
    auto s = (*m)->repack(f, bases);
    if (!s.is_ok()) return fail(s.status().with_context("repacking " + f.hex()));
    total.frames_examined += s->frames_examined;
    total.frames_reencoded += s->frames_reencoded;
    total.stored_bytes_before += s->stored_bytes_before;
    total.stored_bytes_after += s->stored_bytes_after;
  }
  std::cout << "repack " << repo << " against " << base << ": re-encoded " << total.frames_reencoded << " of "
            << total.frames_examined << " frames, " << human(static_cast<std::int64_t>(total.stored_bytes_before))
            << " -> " << human(static_cast<std::int64_t>(total.stored_bytes_after))
            << "; run `grove gc` to reclaim the old copies\n";
  return 0;
}

int run_stats(const std::string& data_dir, bool as_json) {
  auto stats = hub::storage_stats_json(data_dir, std::nullopt, true);
  if (!stats.is_ok()) return fail(stats.status());
  if (as_json) {
    std::cout << stats->dump(2) << "\n";
    return 0;
  }
  auto line = [](const std::string& name, const nlohmann::json& t) {
    std::printf("%-40s %10s %10s %6.3f  dedup %10s  codec %10s  delta %10s\n", name.c_str(),
                human(t["raw_bytes"].get<std::int64_t>()).c_str(), human(t["stored_bytes"].get<std::int64_t>()).c_str(),
                t["stored_fraction"].get<double>(), human(t["saved_by"]["dedup"].get<std::int64_t>()).c_str(),
                human(t["saved_by"]["codec"].get<std::int64_t>()).c_str(),
                human(t["saved_by"]["delta"].get<std::int64_t>()).c_str());
  };
  std::printf("%-40s %10s %10s %6s  saved by\n", "repo", "raw", "stored", "frac");
  for (const auto& r : (*stats)["repos"]) line(r["repo"].get<std::string>(), r);
  line("(store)", (*stats)["total"]);
  const auto& t = (*stats)["total"];
  std::printf("%llu frames (%llu deltas) in %llu packs, %s on disk\n",
              static_cast<unsigned long long>(t["frames"].get<std::uint64_t>()),
              static_cast<unsigned long long>(t["delta_frames"].get<std::uint64_t>()),
              static_cast<unsigned long long>(t["packs"].get<std::uint64_t>()),
              human(t["pack_bytes"].get<std::int64_t>()).c_str());
  return 0;
}

}  // namespace

std::function<std::optional<int>()> add_storage_commands(CLI::App& app) {
  struct Options {
    std::string data = "data";
    bool dry_run = false;
    std::int64_t grace = 24 * 3600;
    bool repair = false;
    std::string repo, base;
    bool json = false;
  };
  auto o = std::make_shared<Options>();
  auto* gc = app.add_subcommand("gc", "Reclaim storage no commit, upload or export needs");
  gc->add_option("--data", o->data, "Data folder")->capture_default_str();
  gc->add_flag("--dry-run", o->dry_run, "Report what would be reclaimed, change nothing");
  gc->add_option("--grace", o->grace, "Seconds: anything younger is kept (must exceed the longest push)")
      ->capture_default_str();
  auto* fsck = app.add_subcommand("fsck", "Re-verify every stored frame and file");
  fsck->add_option("--data", o->data, "Data folder")->capture_default_str();
  fsck->add_flag("--repair", o->repair, "Drop damaged entries so affected files report missing (re-push them)");
  auto* repack = app.add_subcommand("repack", "Re-encode a model's files as deltas against its base");
  repack->add_option("--data", o->data, "Data folder")->capture_default_str();
  repack->add_option("repo", o->repo, "NAMESPACE/NAME")->required();
  repack->add_option("--base", o->base, "NAMESPACE/NAME of the base (default: the declared lineage)");
  auto* storage_cmd = app.add_subcommand("storage", "Storage statistics");
  storage_cmd->require_subcommand(1);
  auto* stats = storage_cmd->add_subcommand("stats", "Raw and stored bytes per repo and per technique");
  stats->add_option("--data", o->data, "Data folder")->capture_default_str();
  stats->add_flag("--json", o->json, "Print JSON (as GET /api/grove/storage)");
  return [=]() -> std::optional<int> {
    if (*gc) return run_gc(o->data, o->dry_run, o->grace);
    if (*fsck) return run_fsck(o->data, o->repair);
    if (*repack) return run_repack(o->data, o->repo, o->base);
    if (*stats) return run_stats(o->data, o->json);
    return std::nullopt;
  };
}

}  // namespace grove::cli
