#include "hub/hub.h"
#include "hub/storage_bases.h"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/fs.h"
#include "common/log.h"
#include "hub/http_util.h"

namespace grove::hub {

// config.json holds the signing secret; it is created once, with mode 0600 semantics left to
// the folder's owner (the data folder is the hub's, not the world's).
static Result<std::string> load_or_create_secret(const std::string& data_dir) {
  std::string path = data_dir + "/config.json";
  FileSystem& fs = FileSystem::local();
  if (fs.exists(path)) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    auto config = nlohmann::json::parse(ss.str(), nullptr, false);
    if (config.is_discarded() || !config.is_object() || !config.contains("secret") || !config["secret"].is_string())
      return corrupt(path + " is not valid grove config JSON (expected {\"secret\": \"...\"})");
    return config["secret"].get<std::string>();
  }
  std::string secret = random_hex(32);
  nlohmann::json config = {{"secret", secret}};
  std::string tmp = path + ".tmp";
  GROVE_ASSIGN_OR_RETURN(auto file, fs.create(tmp));
  GROVE_RETURN_IF_ERROR(file->append(as_bytes(config.dump(2) + "\n")));
  GROVE_RETURN_IF_ERROR(file->sync());
  GROVE_RETURN_IF_ERROR(file->close());
  GROVE_RETURN_IF_ERROR(fs.rename(tmp, path));
  GROVE_RETURN_IF_ERROR(fs.sync_dir(data_dir));
  return secret;
}

Result<std::unique_ptr<Hub>> Hub::open(HubOptions options) {
  while (options.public_url.size() > 1 && options.public_url.back() == '/') options.public_url.pop_back();
  FileSystem& fs = FileSystem::local();
  GROVE_RETURN_IF_ERROR(fs.create_dirs(options.data_dir));
  std::unique_ptr<Hub> hub(new Hub());
  GROVE_ASSIGN_OR_RETURN(hub->secret_, load_or_create_secret(options.data_dir));
  GROVE_ASSIGN_OR_RETURN(hub->registry_, registry::Registry::open(options.data_dir + "/grove.db"));
  GROVE_ASSIGN_OR_RETURN(hub->store_, storage::BlobStore::open_local(options.data_dir + "/storage"));
  hub->reencoder_ = std::make_shared<Reencoder>(*hub->store_);
  // Uploads a crashed or abandoned push left behind; a day is far longer than any live upload.
  constexpr std::int64_t kUploadGraceSeconds = 24 * 3600;
  if (auto swept = hub->store_->sweep_uploads(kUploadGraceSeconds); swept.is_ok() && *swept > 0)
    GROVE_LOG(kInfo, "removed " << *swept << " abandoned uploads");
  hub->downloads_ = std::make_unique<DownloadCounter>(*hub->registry_, options.download_flush_interval);
  hub->storage_figures_ = std::make_unique<StorageFigures>(options.data_dir);
  hub->options_ = std::move(options);
  return hub;
}

std::string Hub::sign(std::string_view message) const { return hmac_sha256_hex(secret_, message); }

}  // namespace grove::hub
