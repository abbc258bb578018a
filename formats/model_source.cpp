#include "formats/model_source.h"

#include <algorithm>

namespace grove::formats {

Result<std::string> read_small_file(ModelSource& source, const std::vector<SourceFile>& files,
                                    const std::string& path, std::uint64_t max_bytes) {
  auto it = std::find_if(files.begin(), files.end(), [&](const SourceFile& f) { return f.path == path; });
  if (it == files.end()) return not_found(path + " not found");
  if (it->size > max_bytes) {
    return Status(Code::kTooLarge, path + " is " + std::to_string(it->size) + " bytes, more than the " +
                                       std::to_string(max_bytes) + " allowed");
  }
  std::string text(it->size, '\0');
  GROVE_RETURN_IF_ERROR(source.read(path, 0, {reinterpret_cast<std::uint8_t*>(text.data()), text.size()}));
  return text;
}

Result<std::vector<SourceFile>> DirectorySource::list_files() {
  GROVE_ASSIGN_OR_RETURN(std::vector<std::string> names, fs_.list(dir_));
  std::vector<SourceFile> files;
  for (const std::string& name : names) {
    auto size = fs_.file_size(dir_ + "/" + name);
    if (!size.is_ok()) continue;  // a subfolder or something unreadable: not a model file
    files.push_back({name, *size});
  }
  std::sort(files.begin(), files.end(), [](const SourceFile& a, const SourceFile& b) { return a.path < b.path; });
  return files;
}

Status DirectorySource::read(const std::string& path, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (path.find("..") != std::string::npos) return invalid_argument("bad model file path " + path);
  std::unique_ptr<ReadableFile> file;
  {
    std::lock_guard lock(mu_);
    if (auto it = idle_.find(path); it != idle_.end()) {
      file = std::move(it->second);
      idle_.erase(it);
    }
  }
  if (!file) {
    GROVE_ASSIGN_OR_RETURN(file, fs_.open_read(dir_ + "/" + path));
  }
  std::size_t done = 0;
  while (done < out.size()) {
    GROVE_ASSIGN_OR_RETURN(std::size_t n, file->read_at(offset + done, out.subspan(done)));
    if (n == 0) return corrupt(path + " ends before byte " + std::to_string(offset + out.size()));
    done += n;
  }
  std::lock_guard lock(mu_);
  if (idle_.size() < 16) idle_.emplace(path, std::move(file));
  return Status::ok();
}

}  // namespace grove::formats
