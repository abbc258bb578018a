#include "hub/access.h"

namespace grove::hub {

Result<registry::Repo> find_readable_repo(Hub& hub, const Request& request, const std::string& ns,
                                          const std::string& name) {
  auto may_read = [&](const registry::Repo& repo) {
    return !repo.is_private || (request.caller && request.caller->user.name == repo.ns);
  };
  auto repo = hub.registry().find_repo(ns, name);
  Status hidden(Code::kRepoNotFound, "Repository " + ns + "/" + name + " not found");
  if (!repo.is_ok()) {
    if (repo.status().code() != Code::kRepoNotFound) return repo.status();
    // A renamed repo's old name, when the URL names it (not a request body), answers with a
    // relative 307 to the same URL under the new name (specs/hf-protocol.md §2.6).
    auto moved = hub.registry().find_renamed_repo(ns, name);
    if (moved.is_ok() && may_read(*moved)) {
      if (auto location = retarget_repo(request.target, ns, name, moved->ns, moved->name))
        return Status(Code::kMoved, *location);
    }
    return hidden;
  }
  if (!may_read(*repo)) return hidden;
  return repo;
}

Status require_writer(const Request& request, const std::string& ns) {
  if (!request.caller) return {Code::kUnauthenticated, "Authentication required: send a write token"};
  if (request.caller->scope != registry::Scope::kWrite)
    return {Code::kPermissionDenied, "This token is read-only: a write token is needed"};
  if (request.caller->user.name != ns)
    return {Code::kPermissionDenied, "User " + request.caller->user.name + " may not write to namespace " + ns};
  return Status::ok();
}

Result<RevisionPath> resolve_revision_path(Hub& hub, const registry::Repo& repo,
                                           const std::vector<std::string>& segments) {
  if (segments.empty()) return Status(Code::kInvalidArgument, "missing revision in URL");
  auto join = [&](std::size_t from, std::size_t to) {
    std::string out;
    for (std::size_t i = from; i < to; ++i) out += (i > from ? "/" : "") + segments[i];
    return out;
  };
  // refs/pr/N and refs/convert/X sent raw take three segments.
  std::size_t take = (segments[0] == "refs" && segments.size() >= 3) ? 3 : 1;
  auto first = hub.registry().resolve_revision(repo.id, join(0, take));
  if (first.is_ok() || first.status().code() != Code::kRevisionNotFound) {
    if (!first.is_ok()) return first.status();
    return RevisionPath{join(0, take), *first, join(take, segments.size())};
  }
  // A raw branch name with '/' in it: the longest prefix that names a revision.
  for (std::size_t n = segments.size(); n > take; --n) {
    auto r = hub.registry().resolve_revision(repo.id, join(0, n));
    if (r.is_ok()) return RevisionPath{join(0, n), *r, join(n, segments.size())};
  }
  return first.status();
}

std::string repo_url(const Hub& hub, const registry::Repo& repo) {
  return hub.options().public_url + "/" + repo.ns + "/" + repo.name;
}

}  // namespace grove::hub
