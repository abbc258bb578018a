// Lineage: declared, flag, inferred and detected edges; relation inference; contradictions;
// names that arrive later; cycles; maintained aggregates against a recount; the read queries.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>

#include "registry/lineage_impl.h"
#include "registry/registry.h"
#include "common/sqlite_util.h"
#include "test_support.h"

using namespace grove;
using namespace grove::registry;
using namespace grove::registry::testing;

namespace {

template <typename T>
T ok(Result<T> r) {
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

void require_ok(const Status& s) {
  INFO(s.to_string());
  REQUIRE(s.is_ok());
}

std::unique_ptr<Registry> open_at(const std::string& path) { return ok(Registry::open(path)); }

// Pushes README.md (with `bases` and an optional relation) plus `files` to main.
Result<Commit> push_card(Registry& registry, const Repo& repo, std::vector<std::string> bases,
                         std::optional<std::string> relation = std::nullopt, std::vector<FileEntry> files = {},
                         std::optional<std::string> library = std::nullopt) {
  CommitRequest request;
  request.repo_id = repo.id;
  request.author = repo.ns;
  request.title = "card";
  files.push_back(small_file("README.md", "---\nbase_model: x\n---\n" + std::to_string(files.size())));
  request.upserts = files;
  CardMetadata card;
  card.base_models = std::move(bases);
  card.base_model_relation = std::move(relation);
  card.library_name = std::move(library);
  request.card = card;
  return registry.commit(request);
}

Repo make(Registry& registry, const std::string& id) {
  auto slash = id.find('/');
  return ok(registry.create_repo(id.substr(0, slash), id.substr(slash + 1), id.substr(0, slash), false));
}

// Every maintained aggregate equals a recount from the edges.
Status check_aggregates(const std::string& path) {
  GROVE_ASSIGN_OR_RETURN(auto db, sql::Db::open(path, false));
  GROVE_ASSIGN_OR_RETURN(auto txn, sql::Transaction::begin(*db, sql::Transaction::Kind::kRead));
  GROVE_RETURN_IF_ERROR(lineage_check_aggregates_in(*db));
  return txn.commit();
}

const LineageEdgeInfo* find_edge(const std::vector<LineageEdgeInfo>& edges, const std::string& parent,
                                 const std::string& source) {
  for (const auto& e : edges)
    if (e.parent == parent && e.source == source) return &e;
  return nullptr;
}

std::uint64_t count_of(const LineageView& view, const std::string& relation) {
  for (const auto& g : view.children)
    if (g.relation == relation) return g.count;
  return 0;
}

}  // namespace

TEST_CASE("relations are inferred in the documented order", "[registry][lineage]") {
  RelationFacts none;
  CHECK(infer_relation(none, 1) == "finetune");
  CHECK(infer_relation(none, 2) == "merge");
  RelationFacts gguf;
  gguf.gguf_files = true;
  CHECK(infer_relation(gguf, 1) == "quantized");
  CHECK(infer_relation(gguf, 3) == "merge");
  RelationFacts quant;
  quant.quantization_config = true;
  CHECK(infer_relation(quant, 1) == "quantized");
  RelationFacts adapter = gguf;
  adapter.adapter_config = true;
  CHECK(infer_relation(adapter, 2) == "adapter");
  RelationFacts peft;
  peft.peft_library = true;
  CHECK(infer_relation(peft, 1) == "adapter");
}

TEST_CASE("declared, inferred, flag and detected edges", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo base = make(*registry, "org/base");
  Repo tuned = make(*registry, "alice/tuned");
  Repo lora = make(*registry, "alice/lora");
  Repo peft = make(*registry, "alice/peft");
  Repo gguf = make(*registry, "alice/gguf");
  Repo awq = make(*registry, "alice/awq");
  Repo merged = make(*registry, "alice/merged");

  ok(push_card(*registry, tuned, {"org/base"}));
  ok(push_card(*registry, lora, {"org/base"}, std::nullopt, {small_file("adapter_config.json", "{}")}));
  ok(push_card(*registry, peft, {"org/base"}, std::nullopt, {}, "peft"));
  ok(push_card(*registry, gguf, {"alice/tuned"}, std::nullopt, {lfs_file("m-Q4_K_M.GGUF", "w")}));
  {
    CommitRequest request;
    request.repo_id = awq.id;
    request.author = "alice";
    request.title = "awq";
    request.upserts = {small_file("config.json", "{\"quantization_config\":{}}"), small_file("README.md", "x")};
    request.card = CardMetadata{};
    request.card->base_models = {"alice/tuned"};
    request.config_quantized = true;
    ok(registry->commit(request));
  }
  // A declared relation wins over what the files suggest.
  ok(push_card(*registry, merged, {"alice/tuned", "alice/lora"}, "finetune", {lfs_file("x.gguf", "w")}));

  auto relation_of = [&](const std::string& child, const std::string& parent) {
    for (const auto& e : ok(registry->parents_of(child)))
      if (e.parent == parent) return e.relation + "/" + e.source;
    return std::string("none");
  };
  CHECK(relation_of("alice/tuned", "org/base") == "finetune/declared");
  CHECK(relation_of("alice/lora", "org/base") == "adapter/declared");
  CHECK(relation_of("alice/peft", "org/base") == "adapter/declared");
  CHECK(relation_of("alice/gguf", "alice/tuned") == "quantized/declared");
  CHECK(relation_of("alice/awq", "alice/tuned") == "quantized/declared");
  CHECK(relation_of("alice/merged", "alice/tuned") == "finetune/declared");
  CHECK(relation_of("alice/merged", "alice/lora") == "finetune/declared");

  LineageView view = ok(registry->lineage("org/base", {}));
  CHECK(count_of(view, "finetune") == 1);
  CHECK(count_of(view, "adapter") == 2);
  CHECK(view.descendants == 6);  // tuned, lora, peft, gguf, awq, merged (reached twice, counted once)
  auto edges_in = ok(registry->lineage("alice/gguf", {})).edges_in;
  REQUIRE(edges_in.size() == 1);
  CHECK(edges_in[0].relation_inferred);

  // The relation follows the files: dropping the GGUF file makes gguf a finetune again.
  {
    CommitRequest request;
    request.repo_id = gguf.id;
    request.author = "alice";
    request.title = "no more gguf";
    request.deleted_files = {"m-Q4_K_M.GGUF"};
    ok(registry->commit(request));
  }
  CHECK(relation_of("alice/gguf", "alice/tuned") == "finetune/declared");
  CHECK(ok(registry->find_repo("alice", "gguf")).tags ==
        std::vector<std::string>{"base_model:alice/tuned", "base_model:finetune:alice/tuned"});

  // `grove push --base`: a flag edge, relation from the files, revision kept.
  Repo flagged = make(*registry, "bob/flagged");
  {
    CommitRequest request;
    request.repo_id = flagged.id;
    request.author = "bob";
    request.title = "flagged";
    request.upserts = {lfs_file("model.gguf", "q")};
    request.base_flag = "alice/tuned@main";
    ok(registry->commit(request));
    CHECK(relation_of("bob/flagged", "alice/tuned") == "quantized/flag");
    auto in = ok(registry->lineage("bob/flagged", {})).edges_in;
    REQUIRE(in.size() == 1);
    CHECK(in[0].parent_revision == "main");
    // A later commit without --base keeps the flag.
    request.base_flag.reset();
    request.upserts = {small_file("notes.txt", "n")};
    ok(registry->commit(request));
    CHECK(relation_of("bob/flagged", "alice/tuned") == "quantized/flag");
    request.base_flag = "not a name";
    CHECK(registry->commit(request).status().code() == Code::kInvalidArgument);
  }

  // adapter_config.json's base_model_name_or_path: an inferred adapter edge.
  Repo adapter = make(*registry, "bob/adapter");
  {
    CommitRequest request;
    request.repo_id = adapter.id;
    request.author = "bob";
    request.title = "adapter";
    request.upserts = {small_file("adapter_config.json", "{\"base_model_name_or_path\":\"org/base\"}")};
    request.adapter_base = "org/base";
    ok(registry->commit(request));
    CHECK(relation_of("bob/adapter", "org/base") == "adapter/inferred");
    // A card that declares the same parent is the stronger claim.
    ok(push_card(*registry, adapter, {"org/base"}, std::nullopt, {}));
    CHECK(relation_of("bob/adapter", "org/base") == "adapter/declared");
    CHECK(ok(registry->lineage("bob/adapter", {})).edges_in.size() == 2);
  }

  // Detected: similarity kept; an unknown relation or a bad similarity is refused.
  Repo quiet = make(*registry, "carol/quiet");
  require_ok(registry->record_detected_edge("carol/quiet", "alice/tuned", 0.875, "finetune"));
  CHECK(relation_of("carol/quiet", "alice/tuned") == "finetune/detected");
  auto in = ok(registry->lineage("carol/quiet", {})).edges_in;
  REQUIRE(in.size() == 1);
  CHECK(in[0].similarity.value_or(0) == Approx(0.875));
  CHECK_FALSE(in[0].conflict.has_value());
  CHECK(registry->record_detected_edge("carol/quiet", "alice/tuned", 0.5, "cousin").code() == Code::kInvalidArgument);
  CHECK(registry->record_detected_edge("carol/quiet", "alice/tuned", 1.5, "finetune").code() == Code::kInvalidArgument);
  CHECK(registry->record_detected_edge("carol/nobody", "alice/tuned", 0.5, "finetune").code() == Code::kRepoNotFound);
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("a wrong declaration and a detection are both kept and shown", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  make(*registry, "org/x");
  make(*registry, "org/y");
  Repo child = make(*registry, "alice/child");
  ok(push_card(*registry, child, {"org/x"}));
  require_ok(registry->record_detected_edge("alice/child", "org/y", 0.93, "finetune"));

  LineageView view = ok(registry->lineage("alice/child", {}));
  REQUIRE(view.edges_in.size() == 2);
  const auto* declared = find_edge(view.edges_in, "org/x", "declared");
  const auto* detected = find_edge(view.edges_in, "org/y", "detected");
  REQUIRE(declared);
  REQUIRE(detected);
  CHECK(detected->conflict == "declared finetune of org/x, detected as finetune of org/y (similarity 0.93)");
  CHECK(declared->conflict == detected->conflict);
  // Both parents are in the graph; the declared edge was not overridden.
  CHECK(view.ancestors.size() == 2);
  CHECK(ok(registry->parents_of("alice/child")).size() == 2);

  // A detection of the declared parent with another relation: one link (declared wins), the
  // contradiction is kept on both edges.
  require_ok(registry->record_detected_edge("alice/child", "org/x", 0.99, "adapter"));
  view = ok(registry->lineage("alice/child", {}));
  const auto* same = find_edge(view.edges_in, "org/x", "detected");
  REQUIRE(same);
  CHECK(same->conflict.value_or("").find("declared finetune of org/x, detected as adapter") == 0);
  CHECK(count_of(ok(registry->lineage("org/x", {})), "finetune") == 1);
  CHECK(count_of(ok(registry->lineage("org/x", {})), "adapter") == 0);

  // When the card agrees with a detection, that detection has no conflict (the other one,
  // adapter of org/x, still contradicts the card).
  ok(push_card(*registry, child, {"org/y"}));
  view = ok(registry->lineage("alice/child", {}));
  REQUIRE(find_edge(view.edges_in, "org/y", "detected"));
  CHECK_FALSE(find_edge(view.edges_in, "org/y", "detected")->conflict.has_value());
  REQUIRE(find_edge(view.edges_in, "org/x", "detected"));
  CHECK(find_edge(view.edges_in, "org/x", "detected")->conflict ==
        "declared finetune of org/y, detected as adapter of org/x (similarity 0.99)");
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("an edge to a repo that is not here resolves when it arrives", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo child = make(*registry, "alice/child");
  ok(push_card(*registry, child, {"Meta/Llama-Base"}));
  LineageView view = ok(registry->lineage("alice/child", {}));
  REQUIRE(view.ancestors.size() == 1);
  CHECK(view.ancestors[0].node.id == "Meta/Llama-Base");
  CHECK_FALSE(view.ancestors[0].node.present);
  CHECK(registry->lineage("Meta/Llama-Base", {}).status().code() == Code::kRepoNotFound);

  // It arrives (another letter case): present, with its child and counts.
  Repo base = make(*registry, "meta/llama-base");
  view = ok(registry->lineage("alice/child", {}));
  REQUIRE(view.ancestors.size() == 1);
  CHECK(view.ancestors[0].node.present);
  CHECK(view.ancestors[0].node.id == "meta/llama-base");
  LineageView parent = ok(registry->lineage("meta/llama-base", {}));
  CHECK(parent.descendants == 1);
  CHECK(count_of(parent, "finetune") == 1);
  REQUIRE(parent.children.size() == 1);
  REQUIRE(parent.children[0].first.size() == 1);
  CHECK(parent.children[0].first[0].id == "alice/child");

  // Its own card hangs the subtree under a grandparent that is not here either.
  ok(push_card(*registry, base, {"meta/llama-root"}));
  view = ok(registry->lineage("alice/child", {}));
  REQUIRE(view.ancestors.size() == 2);
  CHECK(view.ancestors[1].node.id == "meta/llama-root");
  CHECK(view.ancestors[1].depth == 2);
  CHECK(view.ancestors[1].child == "meta/llama-base");
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("cycles are refused with a clear error", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo a = make(*registry, "x/a");
  Repo b = make(*registry, "x/b");
  Repo c = make(*registry, "x/c");
  ok(push_card(*registry, b, {"x/a"}));
  ok(push_card(*registry, c, {"x/b"}));
  auto cycle = push_card(*registry, a, {"x/c"});
  REQUIRE(cycle.status().code() == Code::kInvalidArgument);
  CHECK(cycle.status().message().find("cycle") != std::string::npos);
  CHECK(ok(registry->parents_of("x/a")).empty());  // the whole commit was refused
  CHECK(registry->record_detected_edge("x/a", "x/c", 0.9, "finetune").code() == Code::kInvalidArgument);
  CHECK(registry->record_detected_edge("x/a", "x/a", 0.9, "finetune").code() == Code::kInvalidArgument);
  // A self-reference in a card is ignored, not a cycle.
  ok(push_card(*registry, a, {"x/a"}));
  CHECK(ok(registry->parents_of("x/a")).empty());
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("deleting a repo drops its edges and keeps its name for its children", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  make(*registry, "org/root");
  Repo mid = make(*registry, "org/mid");
  Repo leaf = make(*registry, "org/leaf");
  ok(push_card(*registry, mid, {"org/root"}));
  ok(push_card(*registry, leaf, {"org/mid"}));
  CHECK(ok(registry->lineage("org/root", {})).descendants == 2);
  require_ok(registry->delete_repo(mid.id));
  CHECK(ok(registry->lineage("org/root", {})).descendants == 0);
  LineageView view = ok(registry->lineage("org/leaf", {}));
  REQUIRE(view.ancestors.size() == 1);
  CHECK(view.ancestors[0].node.id == "org/mid");
  CHECK_FALSE(view.ancestors[0].node.present);
  require_ok(check_aggregates(dir / "grove.db"));
  // Back again: present, but its old card is gone with it.
  make(*registry, "org/mid");
  CHECK(ok(registry->lineage("org/leaf", {})).ancestors.at(0).node.present);
  CHECK(ok(registry->lineage("org/root", {})).descendants == 0);
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("renames carry the graph and resolve names that waited", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo base = make(*registry, "org/base");
  Repo child = make(*registry, "org/child");
  Repo other = make(*registry, "org/other");
  ok(push_card(*registry, child, {"org/base"}));
  ok(push_card(*registry, other, {"org/new-base"}));  // names the future name
  ok(registry->rename_repo(base.id, "org", "new-base"));
  LineageView view = ok(registry->lineage("org/new-base", {}));
  CHECK(view.descendants == 2);
  CHECK(count_of(view, "finetune") == 2);
  CHECK(ok(registry->find_repo("org", "child")).tags ==
        std::vector<std::string>{"base_model:org/new-base", "base_model:finetune:org/new-base"});
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("the lineage view: ancestors, children groups, bounded graph, paging", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo base = make(*registry, "org/base");
  Repo tuned = make(*registry, "org/tuned");
  ok(push_card(*registry, tuned, {"org/base"}));
  std::vector<std::string> quants;
  for (int i = 0; i < 30; ++i) {
    std::string name = "q/quant-" + std::to_string(100 + i);
    Repo q = make(*registry, name);
    ok(push_card(*registry, q, {"org/tuned"}, "quantized"));
    quants.push_back(name);
  }
  Repo merge = make(*registry, "m/merge");
  ok(push_card(*registry, merge, {"org/tuned", "other/base"}));
  Repo deep = make(*registry, "m/deep");
  ok(push_card(*registry, deep, {"m/merge"}));
  Repo hidden = ok(registry->create_repo("secret", "child", "secret", true));
  ok(push_card(*registry, hidden, {"org/tuned"}));

  LineageView view = ok(registry->lineage("m/deep", {}));
  std::vector<std::string> ancestors;
  for (const auto& a : view.ancestors) ancestors.push_back(a.node.id + "@" + std::to_string(a.depth));
  CHECK(ancestors == std::vector<std::string>{"m/merge@1", "org/tuned@2", "other/base@2", "org/base@3"});

  LineageQuery query;
  query.limit = 24;
  view = ok(registry->lineage("org/tuned", query));
  CHECK(view.descendants == 32);  // 30 quants, merge, deep; not the private child
  CHECK(count_of(view, "quantized") == 30);
  CHECK(count_of(view, "merge") == 1);
  CHECK(count_of(view, "finetune") == 0);  // the private child is neither counted nor listed
  for (const auto& g : view.children)
    if (g.relation == "quantized") CHECK(g.first.size() == 10);
  // 30 quantized children do not fit in 24: one group node; the merge is drawn with both
  // parents; deep is at depth 2.
  bool group = false, deep_drawn = false, other_parent = false;
  for (const auto& n : view.graph.nodes) {
    if (n.kind == LineageGraphNode::Kind::kGroup && n.relation == "quantized" && n.count == 30) group = true;
    if (n.kind == LineageGraphNode::Kind::kModel && n.model.id == "m/deep") deep_drawn = true;
    if (n.kind == LineageGraphNode::Kind::kModel && n.model.id == "other/base") other_parent = !n.model.present;
  }
  CHECK(group);
  CHECK(deep_drawn);
  CHECK(other_parent);
  CHECK_FALSE(view.graph.truncated);
  // With room for them, the quants are drawn one by one.
  query.limit = 40;
  view = ok(registry->lineage("org/tuned", query));
  std::size_t models = 0;
  for (const auto& n : view.graph.nodes) models += n.kind == LineageGraphNode::Kind::kModel;
  CHECK(models == 1 + 1 + 30 + 2 + 1);  // tuned, base, quants, merge + deep, other/base
  query.depth = 1;
  view = ok(registry->lineage("org/tuned", query));
  for (const auto& n : view.graph.nodes) CHECK(n.model.id != "m/deep");

  // Children pages: every visible child once, in order, with a cursor.
  std::vector<std::string> seen;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    auto p = ok(registry->lineage_children("org/tuned", std::string("quantized"), 7, cursor, std::nullopt));
    for (const auto& c : p.items) seen.push_back(c.node.id);
    if (!p.next_cursor) break;
    cursor = *p.next_cursor;
  }
  CHECK(seen == quants);
  auto all = ok(registry->lineage_children("org/tuned", std::nullopt, 100, "", std::nullopt));
  CHECK(all.items.size() == 31);
  CHECK_FALSE(all.next_cursor.has_value());
  auto owner = ok(registry->lineage_children("org/tuned", std::string("finetune"), 100, "", std::string("secret")));
  CHECK(owner.items.size() == 1);
  CHECK(registry->lineage_children("org/tuned", std::nullopt, 10, "abc", std::nullopt).status().code() ==
        Code::kInvalidArgument);
  CHECK(registry->lineage_children("org/tuned", std::string("cousin"), 10, "", std::nullopt).status().code() ==
        Code::kInvalidArgument);

  LineageCounts counts = ok(registry->lineage_counts("m/merge", std::nullopt));
  CHECK(counts.parents.size() == 2);
  CHECK(counts.descendants == 1);
  require_ok(check_aggregates(dir / "grove.db"));
}

TEST_CASE("aggregates equal a recount after random inserts, deletes and renames", "[registry][lineage]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  auto registry = open_at(path);
  std::mt19937 rng(20261129);
  std::vector<Repo> repos;
  std::vector<std::string> names;  // also names that never become repos
  int made = 0;
  auto pick = [&](std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); };
  for (int step = 0; step < 400; ++step) {
    int op = static_cast<int>(pick(10));
    if (repos.size() < 5 || op < 3) {
      std::string name = "n" + std::to_string(pick(3)) + "/m" + std::to_string(made++);
      auto repo = registry->create_repo(name.substr(0, 2), name.substr(3), name.substr(0, 2), pick(5) == 0);
      if (repo.is_ok()) repos.push_back(*repo);
      names.push_back(name);
      if (pick(4) == 0) names.push_back("ghost/g" + std::to_string(pick(20)));
    } else if (op < 7) {
      Repo& child = repos[pick(repos.size())];
      std::vector<std::string> bases;
      std::size_t k = 1 + pick(3) / 2;
      for (std::size_t i = 0; i < k; ++i) bases.push_back(names[pick(names.size())]);
      std::vector<FileEntry> files;
      if (pick(3) == 0) files.push_back(lfs_file("q.gguf", "x"));
      auto made_commit = push_card(*registry, child, bases, std::nullopt, files);
      if (!made_commit.is_ok()) REQUIRE(made_commit.status().code() == Code::kInvalidArgument);  // a cycle
    } else if (op == 7) {
      Repo& child = repos[pick(repos.size())];
      Status s = registry->record_detected_edge(child.id_string(), names[pick(names.size())], 0.5, "finetune");
      if (!s.is_ok()) REQUIRE(s.code() == Code::kInvalidArgument);
    } else if (op == 8) {
      std::size_t i = pick(repos.size());
      require_ok(registry->delete_repo(repos[i].id));
      repos.erase(repos.begin() + static_cast<std::ptrdiff_t>(i));
    } else if (pick(2) == 0) {
      Repo& repo = repos[pick(repos.size())];
      repo.is_private = !repo.is_private;
      require_ok(registry->set_private(repo.id, repo.is_private));
    } else {
      Repo& repo = repos[pick(repos.size())];
      std::string to = "r" + std::to_string(made++);
      auto renamed = registry->rename_repo(repo.id, repo.ns, to);
      if (renamed.is_ok()) {
        repo = *renamed;
        names.push_back(repo.id_string());
      }
    }
    if (step % 50 == 49) {
      INFO("after step " << step);
      require_ok(check_aggregates(path));
    }
  }
  require_ok(check_aggregates(path));
  // And the view's numbers are the maintained ones: the public children for anyone.
  for (const auto& repo : repos) {
    LineageView view = ok(registry->lineage(repo.id_string(), {}));
    std::uint64_t total = 0;
    for (const auto& g : view.children) total += g.count;
    std::uint64_t public_children = 0;
    for (const auto& e : ok(registry->children_of(repo.id_string()))) {
      auto slash = e.child.find('/');
      public_children += !ok(registry->find_repo(e.child.substr(0, slash), e.child.substr(slash + 1))).is_private;
    }
    CHECK(total == public_children);
  }
}

TEST_CASE("GGUF exports of a model are export nodes of its drawing", "[registry][lineage]") {
  TempDir dir;
  auto registry = open_at(dir / "grove.db");
  Repo base = make(*registry, "org/base");
  std::string head = ok(registry->resolve_revision(base.id, "main"));
  for (const char* quant : {"Q8_0", "Q4_K_M"}) {
    ExportRecord record;
    record.repo_id = base.id;
    record.commit_id = head;
    record.quant = quant;
    record.exporter_version = 1;
    record.sha256 = Sha256::of(std::string_view(quant));
    record.size = 10;
    require_ok(registry->record_export(record));
  }
  LineageView view = ok(registry->lineage("org/base", {}));
  std::vector<std::string> exports;
  for (const auto& n : view.graph.nodes)
    if (n.kind == LineageGraphNode::Kind::kExport) exports.push_back(n.quant + "@" + n.commit);
  CHECK(exports == std::vector<std::string>{"Q4_K_M@" + head, "Q8_0@" + head});
  std::size_t export_edges = 0;
  for (const auto& e : view.graph.edges) export_edges += e.source == "export" && e.relation == "quantized";
  CHECK(export_edges == 2);
}

// Counts, lists and drawings never reveal a private repo to anyone but its namespace; a repo
// that turns private or public moves between the maintained public and total counts.
TEST_CASE("private children and descendants are visible only to their namespace", "[registry][lineage]") {
  TempDir dir;
  std::string path = dir / "grove.db";
  auto registry = open_at(path);
  Repo base = make(*registry, "org/base");
  Repo open_ft = make(*registry, "bob/open-ft");
  ok(push_card(*registry, open_ft, {"org/base"}));
  Repo secret_ft = ok(registry->create_repo("carol", "secret-ft", "carol", true));
  ok(push_card(*registry, secret_ft, {"org/base"}));
  Repo secret_q = ok(registry->create_repo("carol", "secret-q", "carol", true));
  ok(push_card(*registry, secret_q, {"org/base"}, "quantized"));
  // A public grandchild under the private fine-tune, and a private one under the public.
  Repo grandchild = make(*registry, "dave/grandchild");
  ok(push_card(*registry, grandchild, {"carol/secret-ft"}));
  Repo secret_gc = ok(registry->create_repo("erin", "secret-gc", "erin", true));
  ok(push_card(*registry, secret_gc, {"bob/open-ft"}, "adapter"));
  require_ok(check_aggregates(path));

  auto drawn_models = [](const LineageView& view) {
    std::set<std::string> ids;
    for (const auto& n : view.graph.nodes)
      if (n.kind == LineageGraphNode::Kind::kModel && n.model.present) ids.insert(n.model.id);
    return ids;
  };
  auto counts_text = [](const LineageCounts& c) {
    std::string s = std::to_string(c.descendants);
    for (const auto& [relation, n] : c.children) s += " " + relation + ":" + std::to_string(n);
    return s;
  };

  // Anyone: one public child, two public descendants (the fine-tune and the public grandchild).
  LineageView view = ok(registry->lineage("org/base", {}));
  CHECK(count_of(view, "finetune") == 1);
  CHECK(count_of(view, "quantized") == 0);
  CHECK(view.descendants == 2);
  CHECK(drawn_models(view) == std::set<std::string>{"org/base", "bob/open-ft"});
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::nullopt))) == "2 finetune:1");
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::string("bob")))) == "2 finetune:1");
  CHECK(ok(registry->lineage_children("org/base", std::nullopt, 10, "", std::nullopt)).items.size() == 1);
  // The owner sees their own private children and descendants too, and no one else's.
  LineageQuery as_carol;
  as_carol.viewer = "carol";
  view = ok(registry->lineage("org/base", as_carol));
  CHECK(count_of(view, "finetune") == 2);
  CHECK(count_of(view, "quantized") == 1);
  CHECK(view.descendants == 4);
  CHECK(drawn_models(view) ==
        std::set<std::string>{"org/base", "bob/open-ft", "carol/secret-ft", "carol/secret-q", "dave/grandchild"});
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::string("carol")))) == "4 finetune:2 quantized:1");
  CHECK(counts_text(ok(registry->lineage_counts("bob/open-ft", std::nullopt))) == "0");
  CHECK(counts_text(ok(registry->lineage_counts("bob/open-ft", std::string("erin")))) == "1 adapter:1");
  CHECK(ok(registry->lineage_children("org/base", std::nullopt, 10, "", std::string("carol"))).items.size() == 3);

  // A private parent is a bare name to others: present = false, and its own parents hidden.
  view = ok(registry->lineage("dave/grandchild", {}));
  REQUIRE(view.ancestors.size() == 1);
  CHECK(view.ancestors[0].node.id == "carol/secret-ft");
  CHECK_FALSE(view.ancestors[0].node.present);
  view = ok(registry->lineage("dave/grandchild", as_carol));
  CHECK(view.ancestors.size() == 2);

  // Visibility changes move the maintained counts both ways.
  require_ok(registry->set_private(secret_ft.id, false));
  require_ok(check_aggregates(path));
  view = ok(registry->lineage("org/base", {}));
  CHECK(count_of(view, "finetune") == 2);
  CHECK(view.descendants == 3);
  require_ok(registry->set_private(open_ft.id, true));
  require_ok(registry->set_private(secret_gc.id, false));
  require_ok(check_aggregates(path));
  // Public now: secret-ft, its grandchild, and secret-gc below the now private open-ft.
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::nullopt))) == "3 finetune:1");
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::string("bob")))) == "4 finetune:2");
  // Deleting a private child leaves the counts exact.
  require_ok(registry->delete_repo(secret_q.id));
  require_ok(check_aggregates(path));
  CHECK(counts_text(ok(registry->lineage_counts("org/base", std::string("carol")))) == "3 finetune:1");
}
