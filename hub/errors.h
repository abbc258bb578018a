// The one table that turns a Status into an HTTP answer: status line, X-Error-Code,
// X-Error-Message and a JSON {"error": ...} body, as Hugging Face clients read them.
#pragma once

#include "common/status.h"
#include "hub/message.h"

namespace grove::hub {

http::status http_status_for(Code code);

// The error answer for a failed status. Sets X-Error-Code where clients look for one
// (RepoNotFound, RevisionNotFound, EntryNotFound, ...).
Response error_response(const Status& status);

// The exact message Python's huggingface_hub needs to tell a bad token from a missing repo.
inline constexpr const char* kInvalidCredentials = "Invalid credentials in Authorization header";

}  // namespace grove::hub
