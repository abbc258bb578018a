// grove: one binary, one subcommand per journey. See README.md for the tour.
#include <CLI/CLI.hpp>

#include "cli/cli.h"

int main(int argc, char** argv) {
  using namespace grove::cli;
  CLI::App app{"grove: a self-hostable hub for open-weight models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "grove 0.1.0");

  ClientOptions client;
  auto add_client_options = [&client](CLI::App* cmd) {
    cmd->add_option("--endpoint", client.endpoint, "Hub URL (default $GROVE_ENDPOINT or http://127.0.0.1:8080)");
    cmd->add_option("--token", client.token, "Access token (default $GROVE_TOKEN or the one saved by `grove login`)");
  };

  ServeOptions serve;
  auto* serve_cmd = app.add_subcommand("serve", "Run the hub");
  serve_cmd->add_option("--data", serve.data_dir, "Data folder")->capture_default_str();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0 picks one)")->capture_default_str();
  serve_cmd->add_option("--public-url", serve.public_url, "URL clients reach this hub at (default http://LISTEN)");
  serve_cmd->add_option("--threads", serve.threads, "Worker threads (default: one per core)");
  serve_cmd->add_option("--export-threads", serve.export_threads, "Cores quantizing one GGUF export, two workers each (default: all)");
  serve_cmd->add_option("--read-timeout", serve.read_timeout_seconds, "Seconds a client may stay silent")->capture_default_str();
  serve_cmd->add_option("--max-body", serve.max_body_bytes, "Largest JSON/commit request body in bytes")->capture_default_str();
  serve_cmd->add_option("--multipart-threshold", serve.multipart_threshold_bytes,
                        "LFS objects larger than this many bytes are uploaded in parts")->capture_default_str();

  auto* token_cmd = app.add_subcommand("token", "Manage access tokens");
  token_cmd->require_subcommand(1);
  std::string token_data = "data", token_user, token_scope = "write", token_name;
  auto* token_create = token_cmd->add_subcommand("create", "Create a token (works offline on the data folder)");
  token_create->add_option("--data", token_data, "Data folder")->capture_default_str();
  token_create->add_option("--user", token_user, "User name (created if new)")->required();
  token_create->add_option("--scope", token_scope, "read or write")->capture_default_str();
  token_create->add_option("--name", token_name, "A label for the token");

  std::string login_token;
  auto* login_cmd = app.add_subcommand("login", "Save a token for later commands (mode 0600)");
  login_cmd->add_option("--endpoint", client.endpoint, "Hub URL");
  login_cmd->add_option("--token", login_token, "The token (read from stdin when absent)");

  auto* whoami_cmd = app.add_subcommand("whoami", "Show who the token belongs to");
  add_client_options(whoami_cmd);

  std::string repo_id;
  bool repo_private = false;
  auto* repo_cmd = app.add_subcommand("repo", "Manage repos");
  repo_cmd->require_subcommand(1);
  auto* repo_create = repo_cmd->add_subcommand("create", "Create a model repo");
  repo_create->add_option("repo", repo_id, "NAMESPACE/NAME")->required();
  repo_create->add_flag("--private", repo_private, "Only you can see it");
  add_client_options(repo_create);

  PushOptions push;
  auto* push_cmd = app.add_subcommand("push", "Publish a folder as a commit");
  push_cmd->add_option("dir", push.dir, "Folder to publish")->required();
  push_cmd->add_option("repo", push.repo, "NAMESPACE/NAME (created when missing)")->required();
  push_cmd->add_option("--branch", push.branch, "Branch to commit to")->capture_default_str();
  push_cmd->add_option("-m,--message", push.message, "Commit message");
  add_client_options(push_cmd);

  PullOptions pull;
  auto* pull_cmd = app.add_subcommand("pull", "Download a model");
  pull_cmd->add_option("repo", pull.repo, "NAMESPACE/NAME[@REVISION]")->required();
  pull_cmd->add_option("--local-dir", pull.local_dir,
                       "Folder to write the files into (default: the Hugging Face cache, $HF_HOME/hub)");
  add_client_options(pull_cmd);

  ExportOptions export_options;
  auto* export_cmd = app.add_subcommand("export", "Export a model as GGUF (Q8_0, Q4_K_M, ...), by the hub or from a local folder");
  export_cmd->add_option("repo", export_options.repo, "NAMESPACE/NAME[@REVISION] on the hub");
  export_cmd->add_option("--local", export_options.local_dir, "Export this local model folder instead");
  export_cmd->add_option("--quant", export_options.quant, "F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_S, Q4_K_M, Q5_K_S, Q5_K_M, Q6_K")->capture_default_str();
  export_cmd->add_option("-o,--output", export_options.output, "GGUF file to write")->required();
  export_cmd->add_option("--threads", export_options.threads, "Quantizing threads for --local (default: one per core)");
  add_client_options(export_cmd);

  LineageOptions lineage;
  auto* lineage_cmd = app.add_subcommand("lineage", "Show a model's tree: ancestors, children, descendants");
  lineage_cmd->add_option("repo", lineage.repo, "NAMESPACE/NAME")->required();
  lineage_cmd->add_option("--depth", lineage.depth, "Generations of descendants to draw (0-6)")->capture_default_str();
  lineage_cmd->add_flag("--json", lineage.json, "Print the API's JSON answer");
  add_client_options(lineage_cmd);
  push_cmd->add_option("--base", push.base, "The model this one derives from, NAMESPACE/NAME[@REVISION] (lineage)");

  auto run_storage = add_storage_commands(app);  // gc, fsck, repack, storage stats

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*serve_cmd) return run_serve(serve);
  if (*token_create) return run_token_create(token_data, token_user, token_scope, token_name);
  if (*login_cmd) return run_login(client, login_token);
  if (*whoami_cmd) return run_whoami(client);
  if (*repo_create) return run_repo_create(client, repo_id, repo_private);
  if (*push_cmd) return run_push(client, push);
  if (*pull_cmd) return run_pull(client, pull);
  if (*lineage_cmd) return run_lineage(client, lineage);
  if (*export_cmd) return run_export(client, export_options);
  if (auto rc = run_storage()) return *rc;
  return 1;
}
