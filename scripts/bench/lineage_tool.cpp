// grove-lineage-bench: the registry side of scripts/bench/lineage (a benchmark, not a test).
//
//   grove-lineage-bench build --db PATH [--repos N] [--family M]
//     A registry of N repos (default 1,000,000) of which M (default 200,000) descend from
//     meta/base, several generations deep, with merges, adapters and quantizations; the
//     repos of one namespace (org7) are private, so counts and drawings skip them. Repos are
//     bulk-inserted (one transaction per 10,000 rows); every lineage edge goes through the same
//     registry function a push uses (lineage_put_edge_in), so the maintained aggregates are the
//     real ones. Prints the names the queries use.
//   grove-lineage-bench query --db PATH [--runs R]
//     p50/p99 of the registry calls the API makes, R runs each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "registry/lineage_impl.h"
#include "registry/registry.h"
#include "common/sqlite_util.h"

using namespace grove;
using namespace grove::registry;

namespace {

constexpr std::size_t kBatch = 10000;
constexpr const char* kBase = "meta/base";

[[noreturn]] void die(const Status& s) {
  std::cerr << "grove-lineage-bench: " << s.to_string() << "\n";
  std::exit(1);
}
void check(const Status& s) {
  if (!s.is_ok()) die(s);
}
template <typename T>
T check(Result<T> r) {
  if (!r.is_ok()) die(r.status());
  return std::move(*r);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string repo_name(std::size_t i) { return "org" + std::to_string(i % 997) + "/model-" + std::to_string(i); }

struct Edge {
  std::size_t child;
  std::size_t parent;  // SIZE_MAX: meta/base
  const char* relation;
};

int build(const std::string& path, std::size_t repos, std::size_t family) {
  if (family + 1 > repos) die(invalid_argument("--family must be smaller than --repos"));
  std::remove(path.c_str());
  check(Registry::open(path).status());  // creates the schema
  auto db = check(sql::Db::open(path, false));
  check(db->exec("PRAGMA journal_mode = WAL"));
  check(db->exec("PRAGMA synchronous = OFF"));  // a benchmark fixture: a crash means rebuild
  check(db->exec("PRAGMA cache_size = -262144"));

  auto t0 = std::chrono::steady_clock::now();
  std::mt19937_64 rng(6);
  {
    auto txn = check(sql::Transaction::begin(*db, sql::Transaction::Kind::kWrite));
    auto base = check(db->prepare("INSERT INTO repos(ns, name, private, created_at, updated_at, downloads) "
                                  "VALUES ('meta', 'base', 0, 1, 1, 1000000)"));
    check(base.run());
    check(txn.commit());
  }
  for (std::size_t start = 0; start < repos - 1; start += kBatch) {
    auto txn = check(sql::Transaction::begin(*db, sql::Transaction::Kind::kWrite));
    auto insert = check(db->prepare("INSERT INTO repos(ns, name, private, created_at, updated_at, downloads) "
                                    "VALUES (?, ?, ?, ?, ?, ?)"));
    for (std::size_t i = start; i < std::min(start + kBatch, repos - 1); ++i) {
      std::string id = repo_name(i);
      auto slash = id.find('/');
      auto t = static_cast<std::int64_t>(1700000000000 + i * 1000);
      insert.reset();
      // One namespace (org7, the signed-in viewer of the queries) keeps its repos private.
      check(insert.bind_all(id.substr(0, slash), id.substr(slash + 1), i % 997 == 7, t, t,
                            static_cast<std::int64_t>(rng() % 100000)).run());
    }
    check(txn.commit());
  }
  std::cout << "repos: " << repos << " in " << seconds_since(t0) << " s\n";

  // The family: repos 0..family-1, by generation. Shares of each generation, of `family`.
  const double kShares[] = {0.10, 0.42, 0.31, 0.12, 0.03, 0.02};
  std::vector<std::vector<std::size_t>> gens;
  std::vector<std::vector<std::size_t>> finetunes;  // per generation: members that get children
  std::vector<Edge> edges;
  std::size_t next = 0;
  for (std::size_t g = 0; g < 6; ++g) {
    std::size_t n = g == 5 ? family - next : static_cast<std::size_t>(kShares[g] * static_cast<double>(family));
    std::vector<std::size_t> members, tunes;
    for (std::size_t k = 0; k < n && next < family; ++k) {
      std::size_t child = next++;
      members.push_back(child);
      std::uint64_t r = rng() % 100;
      const char* relation = r < 55 ? "finetune" : r < 70 ? "adapter" : r < 95 ? "quantized" : "merge";
      if (g == 0) {
        if (std::strcmp(relation, "merge") == 0) relation = "finetune";
        edges.push_back({child, SIZE_MAX, relation});
      } else {
        const auto& pool = finetunes[g - 1].empty() ? gens[g - 1] : finetunes[g - 1];
        edges.push_back({child, pool[rng() % pool.size()], relation});
        if (std::strcmp(relation, "merge") == 0) {
          // A merge of a parent of this generation's pool and one from any earlier generation.
          std::size_t other_gen = rng() % g;
          const auto& other = finetunes[other_gen].empty() ? gens[other_gen] : finetunes[other_gen];
          std::size_t second = other[rng() % other.size()];
          if (second != edges.back().parent) edges.push_back({child, second, "merge"});
        }
      }
      if (std::strcmp(relation, "finetune") == 0 || std::strcmp(relation, "merge") == 0) tunes.push_back(child);
    }
    gens.push_back(std::move(members));
    finetunes.push_back(std::move(tunes));
  }
  // The deepest leaf: a member of the last generation.
  std::size_t leaf = finetunes[5].empty() ? gens[5].back() : finetunes[5].back();

  t0 = std::chrono::steady_clock::now();
  for (std::size_t start = 0; start < edges.size(); start += kBatch) {
    auto txn = check(sql::Transaction::begin(*db, sql::Transaction::Kind::kWrite));
    for (std::size_t i = start; i < std::min(start + kBatch, edges.size()); ++i) {
      const Edge& e = edges[i];
      std::string parent = e.parent == SIZE_MAX ? kBase : repo_name(e.parent);
      check(lineage_put_edge_in(*db, repo_name(e.child), parent, "declared", e.relation, std::nullopt));
    }
    check(txn.commit());
  }
  double secs = seconds_since(t0);
  std::cout << "edges: " << edges.size() << " in " << secs << " s (" << static_cast<int>(edges.size() / secs)
            << "/s)\n";
  check(db->exec("PRAGMA optimize"));
  check(db->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  std::cout << "base: " << kBase << "\nleaf: " << repo_name(leaf) << "\nmid: " << repo_name(finetunes[1].front())
            << "\n";
  return 0;
}

struct Timing {
  std::string name;
  std::vector<double> ms;
};

void report(Timing& t) {
  std::sort(t.ms.begin(), t.ms.end());
  auto at = [&](double q) { return t.ms[std::min(t.ms.size() - 1, static_cast<std::size_t>(q * static_cast<double>(t.ms.size())))]; };
  std::printf("  %-58s p50 %8.3f ms   p99 %8.3f ms   %s\n", t.name.c_str(), at(0.50), at(0.99),
              at(0.99) < 50.0 ? "ok" : "OVER 50 ms");
}

int query(const std::string& path, int runs, const std::string& leaf, const std::string& mid) {
  auto registry = check(Registry::open(path));
  auto time = [&](const std::string& name, const std::function<std::string()>& f) {
    Timing t{name, {}};
    std::string summary;
    for (int i = 0; i < runs; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      summary = f();
      t.ms.push_back(seconds_since(t0) * 1000.0);
    }
    report(t);
    std::printf("      -> %s\n", summary.c_str());
  };
  time("children counts by relation of meta/base (lineage_counts)", [&] {
    auto c = check(registry->lineage_counts(kBase, std::nullopt));
    std::string s = "descendants " + std::to_string(c.descendants);
    for (auto& [r, n] : c.children) s += ", " + r + " " + std::to_string(n);
    return s;
  });
  time("first page (50) of meta/base's children (lineage_children)", [&] {
    auto p = check(registry->lineage_children(kBase, std::nullopt, 50, "", std::nullopt));
    return std::to_string(p.items.size()) + " items, next " + p.next_cursor.value_or("-");
  });
  time("first page (50) of meta/base's quantized children", [&] {
    auto p = check(registry->lineage_children(kBase, std::string("quantized"), 50, "", std::nullopt));
    return std::to_string(p.items.size()) + " items";
  });
  LineageQuery ancestors_only;
  ancestors_only.depth = 0;
  time("ancestors of the deep leaf (lineage, depth 0)", [&] {
    auto v = check(registry->lineage(leaf, ancestors_only));
    int deepest = 0;
    for (auto& a : v.ancestors) deepest = std::max(deepest, a.depth);
    return std::to_string(v.ancestors.size()) + " ancestors, deepest at " + std::to_string(deepest);
  });
  LineageQuery drawing;  // the API's defaults: depth 2, 24 per parent
  time("drawing neighbourhood of meta/base (lineage, depth 2)", [&] {
    auto v = check(registry->lineage(kBase, drawing));
    return std::to_string(v.graph.nodes.size()) + " nodes, " + std::to_string(v.graph.edges.size()) + " edges";
  });
  LineageQuery signed_in = drawing;  // a viewer: their own private repos are looked up too
  signed_in.viewer = "org7";
  time("drawing neighbourhood of meta/base, signed in (depth 2)", [&] {
    auto v = check(registry->lineage(kBase, signed_in));
    return std::to_string(v.graph.nodes.size()) + " nodes, " + std::to_string(v.graph.edges.size()) + " edges";
  });
  time("drawing neighbourhood of the deep leaf (lineage, depth 2)", [&] {
    auto v = check(registry->lineage(leaf, drawing));
    return std::to_string(v.graph.nodes.size()) + " nodes, " + std::to_string(v.graph.edges.size()) + " edges";
  });
  LineageQuery deep = drawing;
  deep.depth = 6;
  deep.limit = 200;
  time("drawing neighbourhood of a 2nd-generation model (depth 6, limit 200)", [&] {
    auto v = check(registry->lineage(mid, deep));
    return std::to_string(v.graph.nodes.size()) + " nodes, " + std::to_string(v.graph.edges.size()) + " edges" +
           (v.graph.truncated ? " (truncated)" : "");
  });
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: grove-lineage-bench build|query --db PATH [--repos N] [--family M] [--runs R] [--leaf ID] [--mid ID]\n";
    return 2;
  }
  std::string mode = argv[1], path, leaf, mid;
  std::size_t repos = 1000000, family = 200000;
  int runs = 200;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--db") path = value;
    else if (flag == "--repos") repos = std::stoul(value);
    else if (flag == "--family") family = std::stoul(value);
    else if (flag == "--runs") runs = std::stoi(value);
    else if (flag == "--leaf") leaf = value;
    else if (flag == "--mid") mid = value;
    else {
      std::cerr << "unknown option " << flag << "\n";
      return 2;
    }
  }
  if (path.empty()) die(invalid_argument("--db is required"));
  if (mode == "build") return build(path, repos, family);
  if (mode == "query") return query(path, runs, leaf, mid);
  std::cerr << "unknown mode " << mode << "\n";
  return 2;
}
