// Lineage: the model tree. Which repo derives from which, how (relation), and who says so
// (source). The graph is a DAG over names: a parent may be a repo this hub does not have yet
// (kept by name, "present" = false, resolved when a repo of that name arrives).
//
// Sources, strongest first: declared (the model card's base_model), flag (`grove push
// --base`), inferred (adapter_config.json's base_model_name_or_path), detected (storage found
// shared frames or a good delta; carries a similarity). Every edge is kept, so a wrong
// declaration and a detection that contradicts it are both shown (with a `conflict` text).
// For each (child, parent) pair the strongest source gives the relation used for counts.
//
// Counts are maintained aggregates, changed in the same transaction as the edges: children
// per parent and relation, and distinct descendants per node (through a closure table with
// path counts, so merges that reach a node twice count it once and deletions stay exact).
// Both are kept twice, for all repos and for public ones: a viewer sees the public counts plus
// their own private repos, so a private repo is never revealed by a count, a list or a drawing.
// (A public repo below a private one still counts as a public descendant of the ones above.)
//
// Types only; the queries are Registry methods (registry.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace grove::registry {

// In the order the API lists them.
inline constexpr const char* kLineageRelations[] = {"finetune", "adapter", "merge", "quantized"};
bool is_lineage_relation(std::string_view relation);

// What the commit's files say about the relation when the card does not declare one
// (hf-protocol.md §10.1, applied in this order): adapter (adapter_config.json, library_name
// peft) > merge (several bases) > quantized (*.gguf, quantization_config) > finetune.
struct RelationFacts {
  bool adapter_config = false;     // adapter_config.json in the commit
  bool peft_library = false;       // library_name: peft
  bool gguf_files = false;         // any *.gguf file
  bool quantization_config = false;  // config.json has quantization_config
};
std::string infer_relation(const RelationFacts& facts, std::size_t base_count);

// One node as the API shows it.
struct LineageNode {
  std::string id;          // "ns/name": the repo's spelling when present, else as first named
  bool present = false;    // a repo of this hub the viewer may see
  std::uint64_t downloads = 0;
  std::int64_t last_modified = 0;  // unix ms; 0 when absent
  std::optional<std::string> pipeline_tag;
  std::optional<std::string> library_name;
  std::uint64_t descendants = 0;  // distinct descendants the viewer may see (maintained)
};

struct LineageAncestor {
  LineageNode node;
  int depth = 1;           // 1 = a direct parent
  std::string relation;    // of the edge through which it was first reached
  std::string child;       // that edge's child
};

struct LineageChildGroup {
  std::string relation;
  std::uint64_t count = 0;         // every child with this relation the viewer may see (maintained)
  std::vector<LineageNode> first;  // the first few (oldest edges first), visible ones only
};

// An edge as stored; for graph edges, the (child, parent) pair's strongest source.
struct LineageEdgeInfo {
  std::string parent;
  std::string child;
  std::string relation;
  std::string source;  // declared | flag | inferred | detected | export
  bool relation_inferred = false;  // the relation came from infer_relation, not from the card
  std::optional<double> similarity;
  std::optional<std::string> conflict;
  std::optional<std::string> parent_revision;  // `--base ns/name@rev`
};

struct LineageGraphNode {
  enum class Kind { kModel, kGroup, kExport };
  Kind kind = Kind::kModel;
  LineageNode model;                   // kModel
  std::optional<std::string> relation; // to its first drawn parent
  // kGroup: collapsed children of `parent` with `relation` (count = all of them).
  std::string parent;
  std::uint64_t count = 0;
  // kExport: a GGUF export of `parent` at `commit`.
  std::string quant;
  std::string commit;
};

struct LineageGraph {
  std::vector<LineageGraphNode> nodes;
  std::vector<LineageEdgeInfo> edges;
  bool truncated = false;  // the node cap was hit
};

struct LineageQuery {
  int depth = 2;              // descendants drawn to this depth (1..6)
  std::size_t limit = 24;     // children drawn per parent before collapsing into groups
  std::size_t first = 10;     // children listed per relation in LineageView::children
  std::size_t max_nodes = 2000;  // the whole drawing
  std::optional<std::string> viewer;  // user name: may see this namespace's private repos
};

struct LineageView {
  LineageNode node;
  std::vector<LineageAncestor> ancestors;     // nearest first, each once
  std::vector<LineageChildGroup> children;    // kLineageRelations order, non-empty only
  std::uint64_t descendants = 0;
  LineageGraph graph;
  std::vector<LineageEdgeInfo> edges_in;      // every parent edge of the node, all sources
};

struct LineageChild {
  LineageNode node;
  std::string relation;
};

struct LineageChildrenPage {
  std::vector<LineageChild> items;
  std::optional<std::string> next_cursor;  // opaque; nullopt on the last page
};

struct LineageCounts {
  std::vector<std::pair<std::string, std::uint64_t>> children;  // relation -> count, non-zero
  std::uint64_t descendants = 0;
  std::vector<std::pair<std::string, std::string>> parents;  // (parent id, relation)
};

}  // namespace grove::registry
