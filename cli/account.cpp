// grove login, grove whoami, grove repo create.
#include <iostream>

#include "cli/cli.h"

namespace grove::cli {

int run_login(const ClientOptions& options, std::string token) {
  if (token.empty() && !(std::cin >> token)) return fail(invalid_argument("no token given (use --token or pipe it in)"));
  ClientOptions with_token = options;
  with_token.token = token;
  auto client = make_client(with_token);
  if (!client.is_ok()) return fail(client.status());
  auto me = (*client)->json_call("GET", "/api/whoami-v2");
  if (!me.is_ok()) return fail(me.status().with_context("token check failed"));
  if (Status s = save_token(token); !s.is_ok()) return fail(s);
  std::cout << "Logged in as " << (*me)["name"].get<std::string>() << " (token saved to " << config_dir() << "/token)\n";
  return 0;
}

int run_whoami(const ClientOptions& options) {
  auto client = make_client(options);
  if (!client.is_ok()) return fail(client.status());
  auto me = (*client)->json_call("GET", "/api/whoami-v2");
  if (!me.is_ok()) return fail(me.status());
  std::cout << (*me)["name"].get<std::string>() << " (" << (*me)["auth"]["accessToken"]["role"].get<std::string>()
            << " token)\n";
  return 0;
}

int run_repo_create(const ClientOptions& options, const std::string& repo, bool is_private) {
  auto ref = parse_repo_ref(repo, false);
  if (!ref.is_ok()) return fail(ref.status());
  auto client = make_client(options);
  if (!client.is_ok()) return fail(client.status());
  nlohmann::json body = {{"name", ref->name}, {"organization", ref->ns}, {"type", "model"}, {"private", is_private}};
  auto made = (*client)->json_call("POST", "/api/repos/create", &body);
  if (!made.is_ok()) return fail(made.status());
  std::cout << (*made)["url"].get<std::string>() << "\n";
  return 0;
}

}  // namespace grove::cli
