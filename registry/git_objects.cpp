#include "registry/git_objects.h"

#include <algorithm>
#include <memory>

namespace grove::registry {
namespace {

std::string object_header(std::string_view type, std::uint64_t size) {
  std::string header(type);
  header += ' ';
  header += std::to_string(size);
  header += '\0';
  return header;
}

Sha1Digest object_oid(std::string_view type, std::string_view body) {
  Sha1 sha1;
  sha1.update(object_header(type, body.size()));
  sha1.update(body);
  return sha1.finish();
}

// One folder of the tree being built. std::map keeps the children unique; git's order is
// applied when the folder is serialized.
struct Folder {
  std::map<std::string, std::unique_ptr<Folder>> folders;
  std::map<std::string, Sha1Digest> files;
};

struct TreeEntry {
  std::string sort_key;  // git compares folder names as if they ended in '/'
  std::string mode;
  std::string name;
  Sha1Digest oid;
};

Sha1Digest hash_folder(const Folder& folder, const std::string& path, std::map<std::string, Sha1Digest>& out) {
  std::vector<TreeEntry> entries;
  entries.reserve(folder.folders.size() + folder.files.size());
  for (const auto& [name, child] : folder.folders) {
    Sha1Digest oid = hash_folder(*child, path.empty() ? name : path + "/" + name, out);
    entries.push_back({name + "/", "40000", name, oid});
  }
  for (const auto& [name, oid] : folder.files) entries.push_back({name, "100644", name, oid});
  // std::string compares char_traits<char>::lt, i.e. as unsigned bytes, which is git's order.
  std::sort(entries.begin(), entries.end(),
            [](const TreeEntry& a, const TreeEntry& b) { return a.sort_key < b.sort_key; });
  std::string body;
  for (const auto& entry : entries) {
    body += entry.mode;
    body += ' ';
    body += entry.name;
    body += '\0';
    body.append(reinterpret_cast<const char*>(entry.oid.bytes.data()), entry.oid.bytes.size());
  }
  Sha1Digest oid = object_oid("tree", body);
  out[path] = oid;
  return oid;
}

}  // namespace

GitBlobHasher::GitBlobHasher(std::uint64_t size) { sha1_.update(object_header("blob", size)); }

Sha1Digest git_blob_oid(std::string_view content) { return object_oid("blob", content); }

std::string lfs_pointer(const Sha256Digest& sha256, std::uint64_t size) {
  return "version https://git-lfs.github.com/spec/v1\noid sha256:" + sha256.hex() + "\nsize " + std::to_string(size) +
         "\n";
}

std::map<std::string, Sha1Digest> git_tree_oids(const std::vector<FileEntry>& files) {
  Folder root;
  for (const auto& file : files) {
    Folder* folder = &root;
    std::size_t start = 0;
    for (std::size_t slash; (slash = file.path.find('/', start)) != std::string::npos; start = slash + 1) {
      auto& child = folder->folders[file.path.substr(start, slash - start)];
      if (!child) child = std::make_unique<Folder>();
      folder = child.get();
    }
    folder->files[file.path.substr(start)] = file.blob_oid;
  }
  std::map<std::string, Sha1Digest> out;
  hash_folder(root, "", out);
  return out;
}

Sha1Digest git_commit_oid(const std::string& tree_id, const std::vector<std::string>& parents,
                          const std::string& author_name, std::int64_t time, const std::string& message) {
  std::string ident = author_name + " <" + author_name + "@users.noreply.grove> " + std::to_string(time) + " +0000\n";
  std::string body = "tree " + tree_id + "\n";
  for (const auto& parent : parents) body += "parent " + parent + "\n";
  body += "author " + ident;
  body += "committer " + ident;
  body += "\n";
  // Exactly one trailing newline, as `git commit` leaves a message.
  std::size_t end = message.find_last_not_of('\n');
  body.append(message, 0, end == std::string::npos ? 0 : end + 1);
  body += "\n";
  return object_oid("commit", body);
}

}  // namespace grove::registry
