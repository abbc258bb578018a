// grove export: a GGUF rendering of a model, either computed by the hub from a stored
// revision (streamed down, cached there) or computed here from a local folder. Both write
// FILE.part first and rename it when every byte arrived.
#include <fcntl.h>
#include <unistd.h>

#include <iostream>
#include <vector>

#include "cli/cli.h"
#include "cli/progress.h"
#include "formats/gguf_export.h"
#include "hub/http_util.h"

namespace grove::cli {
namespace {

class OutFile {
 public:
  ~OutFile() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status open(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    return fd_ < 0 ? errno_status("open", path) : Status::ok();
  }
  Status write(std::span<const std::uint8_t> data) {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status("write", "export");
      data = data.subspan(static_cast<std::size_t>(n));
    }
    return Status::ok();
  }
  Status close() {
    int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0 ? Status::ok() : errno_status("close", "export");
  }

 private:
  int fd_ = -1;
};

Status export_local(const ExportOptions& options) {
  formats::DirectorySource source(options.local_dir);
  formats::ExportOptions eo;
  eo.quant = options.quant;
  eo.threads = options.threads;
  std::string dir = options.local_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  eo.model_name = dir.substr(dir.find_last_of('/') + 1);
  GROVE_ASSIGN_OR_RETURN(auto exporter, formats::GgufExport::plan(source, eo));
  const std::string partial = options.output + ".part";
  OutFile out;
  GROVE_RETURN_IF_ERROR(out.open(partial));
  Progress progress("exporting " + options.quant, exporter->size());
  formats::ChunkBuffer piece;
  for (;;) {
    if (Status s = exporter->next(piece); !s.is_ok()) {
      ::unlink(partial.c_str());
      return s;
    }
    if (piece.empty()) break;
    GROVE_RETURN_IF_ERROR(out.write({piece.data(), piece.size()}));
    progress.update(exporter->position());
  }
  progress.finish();
  GROVE_RETURN_IF_ERROR(out.close());
  return FileSystem::local().rename(partial, options.output);
}

Status export_remote(const ClientOptions& client_options, const ExportOptions& options) {
  GROVE_ASSIGN_OR_RETURN(RepoRef ref, parse_repo_ref(options.repo, true));
  GROVE_ASSIGN_OR_RETURN(auto client, make_client(client_options));
  const std::string url = "/api/grove/export/" + hub::url_encode(ref.ns, false) + "/" + hub::url_encode(ref.name, false) +
                          "/" + hub::url_encode(ref.revision.empty() ? "main" : ref.revision, false) + "/" +
                          hub::url_encode(options.quant, false) + ".gguf";
  // The first byte first: the hub validates the model (an error arrives here, before any file
  // is created) and its Content-Range says the size.
  GROVE_ASSIGN_OR_RETURN(hub::Reply probe, client->request("GET", url, "", "", {{"Range", "bytes=0-0"}}));
  if (!probe.ok()) return hub::status_from_reply(probe, "export of " + ref.id());
  const std::string content_range = probe.header("content-range");
  const auto slash = content_range.rfind('/');
  if (probe.status != 206 || slash == std::string::npos) return io_error("the hub did not say the export's size");
  const std::uint64_t total = std::strtoull(content_range.c_str() + slash + 1, nullptr, 10);
  const std::string partial = options.output + ".part";
  OutFile out;
  GROVE_RETURN_IF_ERROR(out.open(partial));
  Progress progress("exporting " + options.quant, total);
  std::uint64_t received = 0;
  auto sink = [&](std::span<const std::uint8_t> chunk) {
    received += chunk.size();
    return out.write(chunk);
  };
  GROVE_ASSIGN_OR_RETURN(hub::Reply reply, client->download(url, 0, sink, [&](std::uint64_t n) { progress.update(n); }));
  if (!reply.ok()) {
    ::unlink(partial.c_str());
    return hub::status_from_reply(reply, "export of " + ref.id());
  }
  progress.finish();
  GROVE_RETURN_IF_ERROR(out.close());
  if (received != total) {
    ::unlink(partial.c_str());
    return io_error("export of " + ref.id() + " ended at " + std::to_string(received) + " of " + std::to_string(total) + " bytes");
  }
  return FileSystem::local().rename(partial, options.output);
}

}  // namespace

int run_export(const ClientOptions& client, const ExportOptions& options) {
  if (options.local_dir.empty() == options.repo.empty()) {
    return fail(invalid_argument("give either REPO[@REV] or --local DIR"));
  }
  if (!formats::parse_export_type(options.quant)) {
    std::string names;
    for (const auto& t : formats::export_types()) names += (names.empty() ? "" : ", ") + std::string(t.name);
    return fail(invalid_argument("unknown quantization '" + options.quant + "': use one of " + names));
  }
  Status s = options.local_dir.empty() ? export_remote(client, options) : export_local(options);
  if (!s.is_ok()) return fail(s);
  std::cout << "wrote " << options.output << "\n";
  return 0;
}

}  // namespace grove::cli
