// Who may see and change what, and how a revision is read out of a URL. Shared by handlers.
#pragma once

#include <string>
#include <vector>

#include "hub/hub.h"
#include "hub/message.h"

namespace grove::hub {

// The repo, if it exists and the caller may read it. A private repo the caller may not see is
// kRepoNotFound, exactly like a missing one: its existence is not revealed.
// The old name of a renamed repo, named in the URL, is kMoved with the URL under the new name.
Result<registry::Repo> find_readable_repo(Hub& hub, const Request& request, const std::string& ns,
                                          const std::string& name);

// Ok when the caller holds a write token for `ns` (their own namespace).
// kUnauthenticated without a token, kPermissionDenied for a read token or another namespace.
Status require_writer(const Request& request, const std::string& ns);

struct RevisionPath {
  std::string revision;  // as the client named it
  std::string commit;    // resolved 40-hex commit
  std::string path;      // the rest, '/'-joined (may be empty)
};

// Reads "{rev}/{path...}" from decoded segments. A revision may itself contain '/' (branches
// like "feature/x", "refs/pr/1"): an encoded one arrives as one segment; a raw one is matched
// as the longest prefix naming an existing revision.
Result<RevisionPath> resolve_revision_path(Hub& hub, const registry::Repo& repo,
                                           const std::vector<std::string>& segments);

// "{public_url}/{ns}/{name}"
std::string repo_url(const Hub& hub, const registry::Repo& repo);

}  // namespace grove::hub
